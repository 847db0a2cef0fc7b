//! The transport seam: [`HttpTransport`] sends one HTTP exchange; the pipeline around it adds
//! auth, ids, retries, throttling and timeouts. [`ReqwestTransport`] is the default.

use async_trait::async_trait;
use bytes::Bytes;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;
use url::Url;

/// One exchange as a transport sees it: the pipeline has added every header.
pub type HttpRequest = http::Request<Bytes>;

/// A complete response as a transport returns it (the body read in full).
pub type HttpResponse = http::Response<Bytes>;

/// Sends one HTTP request and reads its whole response. No retries, no auth: the
/// [`Pipeline`](crate::Pipeline) does those. Implement it to plug in another HTTP stack, or use
/// [`MockTransport`](crate::mock::MockTransport) to test without sockets.
///
/// The pipeline bounds each call with its per-attempt timeout, so an implementation need not.
#[async_trait]
pub trait HttpTransport: Send + Sync + fmt::Debug {
    /// Sends `request` and returns its response, whatever its status.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Why a transport could not complete an exchange.
///
/// Whether the request may have reached the server decides whether the pipeline may retry a
/// non-idempotent request, so a transport says which it was.
#[derive(Debug)]
pub struct TransportError {
    sent: Sent,
    message: String,
    host: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Never,
    Maybe,
}

impl TransportError {
    /// The connection could not be made: the request never left this machine.
    pub fn connect(message: impl Into<String>) -> Self {
        Self {
            sent: Sent::Never,
            message: message.into(),
            host: None,
        }
    }

    /// The exchange failed after the request may have been sent (connection lost, bad
    /// response).
    pub fn after_send(message: impl Into<String>) -> Self {
        Self {
            sent: Sent::Maybe,
            message: message.into(),
            host: None,
        }
    }

    /// Whether the request certainly never reached the server.
    pub fn is_connect(&self) -> bool {
        self.sent == Sent::Never
    }

    /// What went wrong (the transport's whole explanation, without the URL).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The host that was called; the pipeline sets it on what it returns.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The same error, naming the host that was called.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "could not reach {host}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl StdError for TransportError {}

/// Where requests to remote hosts go.
enum ProxyChoice {
    /// The proxy `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` name, honouring `NO_PROXY`.
    Environment,
    /// Straight to the host.
    None,
    /// This proxy.
    Url(Url),
}

impl fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyChoice::Environment => f.write_str("Environment"),
            ProxyChoice::None => f.write_str("None"),
            ProxyChoice::Url(u) => {
                // A proxy URL may carry credentials.
                let mut shown = u.clone();
                let _ = shown.set_password(None);
                f.debug_tuple("Url").field(&shown.as_str()).finish()
            }
        }
    }
}

/// Builds a [`ReqwestTransport`].
#[derive(Debug)]
pub struct ReqwestTransportBuilder {
    connect_timeout: Duration,
    proxy: ProxyChoice,
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            proxy: ProxyChoice::Environment,
        }
    }
}

impl ReqwestTransportBuilder {
    /// The TCP/TLS connect timeout (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sends requests to remote hosts through this HTTP(S) proxy instead of the one the
    /// environment names. Loopback and IMDS requests never go through a proxy.
    pub fn proxy(mut self, proxy: Url) -> Self {
        self.proxy = ProxyChoice::Url(proxy);
        self
    }

    /// Ignores `HTTPS_PROXY` and friends: every request goes straight to its host.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::None;
        self
    }

    /// Builds the transport.
    ///
    /// By default requests to remote hosts use the proxy the environment names
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, honouring `NO_PROXY`), as other Azure SDKs
    /// do; loopback and IMDS requests always go direct.
    pub fn build(self) -> Result<ReqwestTransport, crate::Error> {
        let failed = |e: reqwest::Error| {
            crate::Error::invalid_request(format!(
                "cannot build the HTTP client: {}",
                chain(&e.without_url())
            ))
        };
        let client = || {
            reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                // Redirects would carry the bearer token to another host; Microsoft APIs
                // don't need them.
                .redirect(reqwest::redirect::Policy::none())
        };
        let direct = client().no_proxy().build().map_err(failed)?;
        let remote = match &self.proxy {
            // reqwest reads the proxy variables itself.
            ProxyChoice::Environment => client().build().map_err(failed)?,
            ProxyChoice::None => direct.clone(),
            ProxyChoice::Url(u) => {
                let proxy = reqwest::Proxy::all(u.as_str()).map_err(failed)?;
                client().proxy(proxy).build().map_err(failed)?
            }
        };
        Ok(ReqwestTransport {
            remote,
            direct,
            proxy: std::sync::Arc::new(self.proxy),
        })
    }
}

/// The default transport: reqwest over rustls, no redirects, a direct connection for loopback
/// and IMDS and the configured proxy for everything else.
#[derive(Clone)]
pub struct ReqwestTransport {
    /// For remote hosts: through the configured proxy, if any.
    remote: reqwest::Client,
    /// For loopback and IMDS, which a proxy cannot reach.
    direct: reqwest::Client,
    proxy: std::sync::Arc<ProxyChoice>,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("proxy", &self.proxy)
            .finish()
    }
}

impl ReqwestTransport {
    /// A builder with the defaults (10 s connect timeout, the environment's proxy).
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
    }
}

/// Whether `host` must be reached without a proxy (this machine, or IMDS).
fn is_direct(host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip == crate::IMDS_ADDRESS,
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// `e` and its sources as one line (reqwest's own text names only the outermost layer).
fn chain(e: &dyn StdError) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

fn transport_error(e: reqwest::Error) -> TransportError {
    // Without the URL: a query string could carry a signature.
    let connect = e.is_connect();
    let message = chain(&e.without_url());
    if connect {
        TransportError::connect(message)
    } else {
        TransportError::after_send(message)
    }
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let client = if is_direct(request.uri().host()) {
            &self.direct
        } else {
            &self.remote
        };
        let request = reqwest::Request::try_from(request)
            .map_err(|e| TransportError::connect(chain(&e.without_url())))?;
        let response = client.execute(request).await.map_err(transport_error)?;
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = response.bytes().await.map_err(transport_error)?;
        builder
            .body(body)
            .map_err(|e| TransportError::after_send(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_imds_go_direct() {
        for host in ["127.0.0.1", "localhost", "[::1]", "169.254.169.254"] {
            assert!(is_direct(Some(host)), "{host}");
        }
        for host in ["example.com", "10.0.0.1", "169.254.169.253"] {
            assert!(!is_direct(Some(host)), "{host}");
        }
    }

    #[test]
    fn proxy_credentials_are_not_shown() {
        let t = ReqwestTransport::builder()
            .proxy(Url::parse("http://user:pw@proxy.example:3128").unwrap())
            .build()
            .unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("pw"), "{shown}");
    }
}

//! [`Request`]: one logical request, before the pipeline adds auth, ids and retries.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use std::fmt;
use std::time::Duration;
use url::Url;

/// Request headers never shown in `Debug` output.
const SENSITIVE_HEADERS: [&str; 5] = [
    "authorization",
    "x-identity-header",
    "cookie",
    "proxy-authorization",
    "api-key",
];

/// One HTTP request, independent of the HTTP library underneath.
///
/// ```
/// use client_core::Request;
/// let req = Request::get("https://org.crm.dynamics.com/api/data/v9.2/WhoAmI".parse().unwrap())
///     .header("accept", "application/json")
///     .scope("https://org.crm.dynamics.com/.default");
/// assert_eq!(req.method(), &http::Method::GET);
/// ```
#[derive(Clone)]
pub struct Request {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) authenticate: bool,
    pub(super) idempotent: Option<bool>,
    pub(super) timeout: Option<Duration>,
    pub(super) allow_imds_http: bool,
    pub(super) invalid: Option<String>,
}

impl Request {
    /// A request with `method` to `url`.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            scopes: None,
            authenticate: true,
            idempotent: None,
            timeout: None,
            allow_imds_http: false,
            invalid: None,
        }
    }

    /// A GET request.
    pub fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// A POST request.
    pub fn post(url: Url) -> Self {
        Self::new(Method::POST, url)
    }

    /// A PATCH request.
    pub fn patch(url: Url) -> Self {
        Self::new(Method::PATCH, url)
    }

    /// A DELETE request.
    pub fn delete(url: Url) -> Self {
        Self::new(Method::DELETE, url)
    }

    /// Whether the request has a header `name` (case-insensitive).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    /// Adds a header. An invalid name or value is reported when the request is sent.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.as_ref()),
        ) {
            (Ok(n), Ok(mut v)) => {
                if SENSITIVE_HEADERS.contains(&n.as_str()) {
                    v.set_sensitive(true);
                }
                self.headers.append(n, v);
            }
            _ => {
                self.invalid
                    .get_or_insert_with(|| format!("invalid header `{name}`"));
            }
        }
        self
    }

    /// Sets a header, replacing any earlier value.
    pub fn set_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        if let Ok(n) = HeaderName::from_bytes(name.as_ref().as_bytes()) {
            self.headers.remove(n);
        }
        self.header(name, value)
    }

    /// Sets the body and its content type.
    pub fn body(mut self, body: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = body.into();
        self.set_header(CONTENT_TYPE, content_type)
    }

    /// Sets a JSON body (`application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => self.body(bytes, "application/json"),
            Err(e) => {
                let mut s = self;
                s.invalid
                    .get_or_insert_with(|| format!("body is not serialisable as JSON: {e}"));
                s
            }
        }
    }

    /// The token scope for this request, overriding the pipeline's default.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes = Some(vec![scope.into()]);
        self
    }

    /// Sends the request without a bearer token (token endpoints, ingestion with its own header).
    pub fn without_auth(mut self) -> Self {
        self.authenticate = false;
        self
    }

    /// Marks whether sending this request twice is harmless. By default GET, HEAD, PUT, DELETE
    /// and OPTIONS are, POST and PATCH are not. Only idempotent requests are retried after a
    /// timeout or a connection lost after sending.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// A per-attempt timeout for this request, overriding the pipeline's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Allows plain http to the Azure Instance Metadata Service (169.254.169.254), which
    /// offers nothing else. Everything else still needs https or loopback.
    pub fn allow_imds_http(mut self) -> Self {
        self.allow_imds_http = true;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The headers set so far (without the ones the pipeline adds).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    pub(super) fn is_idempotent(&self) -> bool {
        self.idempotent.unwrap_or(matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        ))
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // HeaderMap's Debug prints `Sensitive` for values marked sensitive.
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("scopes", &self.scopes)
            .finish()
    }
}

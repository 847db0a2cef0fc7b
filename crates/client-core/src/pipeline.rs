//! The request pipeline: bearer auth, retries, throttling, timeouts, request ids.

use crate::retry::{RetryBudget, RetryPolicy, parse_retry_after};
use crate::{AccessToken, Error, ServiceError, SharedClock, SharedCredential, system_clock};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, StatusCode};
use rand::Rng;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tracing::Instrument;
use url::Url;

/// Header carrying the id this client gives each logical request (the same on every retry).
pub const CLIENT_REQUEST_ID: &str = "x-ms-client-request-id";

/// Response headers that carry the service's request id, in order of preference.
pub(crate) const REQUEST_ID_HEADERS: [&str; 4] = [
    "x-ms-service-request-id",
    "x-ms-request-id",
    "request-id",
    "req_id",
];

/// How many times one attempt waits for a host's 429 hold (which other requests may extend)
/// before it is sent anyway.
const MAX_HOLD_WAITS: u32 = 4;

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
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
    scopes: Option<Vec<String>>,
    authenticate: bool,
    idempotent: Option<bool>,
    timeout: Option<Duration>,
    allow_imds_http: bool,
    invalid: Option<String>,
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

    fn is_idempotent(&self) -> bool {
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

/// A complete response (the body is read in full).
///
/// `Debug` shows the body's length, not the body: token endpoints answer with a token in it.
#[derive(Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    request_id: Option<String>,
    client_request_id: String,
    url: Url,
    attempts: u32,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, by value.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Decodes the body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::decode(format!("the JSON response of {}", self.url.path()), e))
    }

    /// The service's request id, if it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The client request id sent with every attempt.
    pub fn client_request_id(&self) -> &str {
        &self.client_request_id
    }

    /// The URL that answered.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How many attempts it took (1 when the first one succeeded).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Turns an error status into [`Error::Service`].
    pub fn error_for_status(
        self,
        method: &Method,
        now: time::OffsetDateTime,
    ) -> Result<Self, Error> {
        if self.status.is_success() {
            return Ok(self);
        }
        Err(self.into_service_error(method, now))
    }

    /// Builds the [`ServiceError`] this response describes.
    pub fn into_service_error(self, method: &Method, now: time::OffsetDateTime) -> Error {
        let (code, message) = ServiceError::parse_body(&self.body);
        let mut url = self.url.clone();
        url.set_query(None);
        Error::Service(Box::new(ServiceError {
            status: self.status,
            method: method.to_string(),
            url: url.to_string(),
            code,
            message,
            retry_after: parse_retry_after(&self.headers, now),
            request_id: self.request_id,
            client_request_id: Some(self.client_request_id),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            headers: self.headers,
        }))
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url.as_str())
            .field("request_id", &self.request_id)
            .field("client_request_id", &self.client_request_id)
            .field("attempts", &self.attempts)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

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

/// Builds a [`Pipeline`].
#[derive(Debug)]
pub struct PipelineBuilder {
    credential: Option<SharedCredential>,
    default_scopes: Vec<String>,
    user_agent: String,
    retry: RetryPolicy,
    budget: Option<RetryBudget>,
    max_concurrency: usize,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    clock: SharedClock,
    proxy: ProxyChoice,
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        Self {
            credential: None,
            default_scopes: Vec::new(),
            user_agent: concat!("copilot-connector-sdk/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            budget: None,
            max_concurrency: 16,
            attempt_timeout: Duration::from_secs(100),
            connect_timeout: Duration::from_secs(10),
            clock: system_clock(),
            proxy: ProxyChoice::Environment,
        }
    }
}

impl PipelineBuilder {
    /// The credential whose tokens go into `Authorization: Bearer`.
    pub fn credential(mut self, credential: SharedCredential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// The scope used for requests that do not name one.
    pub fn default_scope(mut self, scope: impl Into<String>) -> Self {
        self.default_scopes = vec![scope.into()];
        self
    }

    /// Puts `product` (e.g. `dataverse-client/0.1`) in front of the user agent.
    pub fn user_agent_prefix(mut self, product: &str) -> Self {
        self.user_agent = format!("{product} {}", self.user_agent);
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The retry budget shared by this pipeline's requests.
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Requests in flight at once through this pipeline (at least 1).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// The timeout of one attempt, from sending to the last byte of the body.
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// The TCP/TLS connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The clock used for backoff sleeps, elapsed-time limits and `Retry-After` dates.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
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

    /// Builds the pipeline.
    ///
    /// By default requests to remote hosts use the proxy the environment names
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, honouring `NO_PROXY`), as other Azure SDKs
    /// do; loopback and IMDS requests always go direct.
    pub fn build(self) -> Result<Pipeline, Error> {
        let failed = |e: reqwest::Error| {
            Error::InvalidRequest(format!("cannot build the HTTP client: {}", e.without_url()))
        };
        let client = || {
            reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                // Redirects would carry the bearer token to another host; Microsoft APIs
                // don't need them.
                .redirect(reqwest::redirect::Policy::none())
        };
        let direct = client().no_proxy().build().map_err(failed)?;
        let http = match &self.proxy {
            // reqwest reads the proxy variables itself.
            ProxyChoice::Environment => client().build().map_err(failed)?,
            ProxyChoice::None => direct.clone(),
            ProxyChoice::Url(u) => {
                let proxy = reqwest::Proxy::all(u.as_str()).map_err(failed)?;
                client().proxy(proxy).build().map_err(failed)?
            }
        };
        Ok(Pipeline {
            inner: Arc::new(Inner {
                http,
                direct,
                credential: self.credential,
                default_scopes: self.default_scopes,
                user_agent: self.user_agent,
                retry: self.retry,
                budget: self.budget.unwrap_or_default(),
                semaphore: Semaphore::new(self.max_concurrency),
                throttled_until: std::sync::Mutex::new(std::collections::HashMap::new()),
                attempt_timeout: self.attempt_timeout,
                clock: self.clock,
            }),
        })
    }
}

/// The HTTP pipeline shared by the workspace's clients. Cheap to clone: clones share the
/// connection pool, the concurrency limit and the retry budget.
///
/// ```no_run
/// # async fn run() -> Result<(), client_core::Error> {
/// use client_core::{Pipeline, Request, RetryPolicy};
/// let pipeline = Pipeline::builder()
///     .retry_policy(RetryPolicy::default().with_max_attempts(4))
///     .max_concurrency(8)
///     .build()?;
/// let resp = pipeline
///     .send(Request::get("https://example.com/health".parse().unwrap()).without_auth())
///     .await?;
/// assert!(resp.status().is_success());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    /// For remote hosts: through the configured proxy, if any.
    http: reqwest::Client,
    /// For loopback and IMDS, which a proxy cannot reach.
    direct: reqwest::Client,
    credential: Option<SharedCredential>,
    default_scopes: Vec<String>,
    user_agent: String,
    retry: RetryPolicy,
    budget: RetryBudget,
    semaphore: Semaphore,
    /// Per host, when a 429's `Retry-After` ends: until then no request to that host starts,
    /// because requests sent while throttled lengthen the wait (Dataverse, Graph).
    throttled_until: std::sync::Mutex<std::collections::HashMap<String, time::OffsetDateTime>>,
    attempt_timeout: Duration,
    clock: SharedClock,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("credential", &self.inner.credential)
            .field("default_scopes", &self.inner.default_scopes)
            .field("retry", &self.inner.retry)
            .field("attempt_timeout", &self.inner.attempt_timeout)
            .finish()
    }
}

enum Attempt {
    Done(reqwest::StatusCode, reqwest::header::HeaderMap, Bytes),
    Failed(Error),
}

impl Pipeline {
    /// A builder with the defaults: 5 attempts within 300 s, 16 concurrent requests, 100 s per
    /// attempt.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// The pipeline's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The retry budget's remaining retries.
    pub fn retry_budget_remaining(&self) -> f64 {
        self.inner.budget.remaining()
    }

    /// Sends `request`, retrying as the policy says; an error status becomes
    /// [`Error::Service`].
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let method = request.method.clone();
        let resp = self.send_raw(request).await?;
        resp.error_for_status(&method, self.inner.clock.now())
    }

    /// Sends `request`, retrying as the policy says, and returns the last response whatever its
    /// status (for callers that read error bodies themselves, such as `$batch`).
    pub async fn send_raw(&self, request: Request) -> Result<Response, Error> {
        if let Some(problem) = &request.invalid {
            return Err(Error::InvalidRequest(problem.clone()));
        }
        if request.allow_imds_http {
            crate::check_url_allowing_imds(&request.url)?;
        } else {
            crate::check_url(&request.url)?;
        }
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::debug_span!(
            "http",
            method = %request.method,
            host = request.url.host_str().unwrap_or(""),
            path = request.url.path(),
            client_request_id = %client_request_id,
        );
        self.run(request, client_request_id).instrument(span).await
    }

    async fn token(&self, request: &Request) -> Result<Option<(Vec<String>, AccessToken)>, Error> {
        let (true, Some(cred)) = (request.authenticate, &self.inner.credential) else {
            return Ok(None);
        };
        let scopes = request
            .scopes
            .clone()
            .unwrap_or_else(|| self.inner.default_scopes.clone());
        if scopes.is_empty() {
            return Err(Error::InvalidRequest(
                "no token scope: set a default scope on the pipeline or one on the request".into(),
            ));
        }
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let token = cred.get_token(&refs).await?;
        Ok(Some((scopes, token)))
    }

    async fn run(&self, request: Request, client_request_id: String) -> Result<Response, Error> {
        let inner = &*self.inner;
        let start = inner.clock.now();
        let idempotent = request.is_idempotent();
        let host = request.url.host_str().unwrap_or_default().to_owned();
        let timeout = request.timeout.unwrap_or(inner.attempt_timeout);
        let mut attempt: u32 = 0;
        let mut refreshed_after_401 = false;
        loop {
            attempt += 1;
            let auth = self.token(&request).await?;
            let outcome = self
                .attempt(
                    &request,
                    auth.as_ref().map(|(_, t)| t),
                    &client_request_id,
                    &host,
                    timeout,
                )
                .await;
            let retry_reason = match outcome {
                Attempt::Done(status, headers, body) => {
                    let headers = convert_headers(headers);
                    let status = StatusCode::from_u16(status.as_u16())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let request_id = REQUEST_ID_HEADERS
                        .iter()
                        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
                        .map(str::to_owned);
                    tracing::debug!(
                        attempt,
                        status = status.as_u16(),
                        request_id = request_id.as_deref().unwrap_or(""),
                        "response"
                    );
                    let response = Response {
                        status,
                        headers,
                        body,
                        request_id,
                        client_request_id: client_request_id.clone(),
                        url: request.url.clone(),
                        attempts: attempt,
                    };
                    if status == StatusCode::UNAUTHORIZED
                        && !refreshed_after_401
                        && let (Some((scopes, token)), Some(cred)) = (&auth, &inner.credential)
                    {
                        // The cached token was refused (revoked, clock skew, rotated key):
                        // drop it and try once with a fresh one.
                        refreshed_after_401 = true;
                        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
                        cred.invalidate(&refs, token).await;
                        tracing::debug!(
                            "401 with a cached token: retrying once with a fresh token"
                        );
                        attempt -= 1;
                        continue;
                    }
                    if !inner.retry.retries_status(status.as_u16()) {
                        if status.is_success() {
                            inner.budget.deposit();
                        }
                        return Ok(response);
                    }
                    let requested = parse_retry_after(&response.headers, inner.clock.now());
                    match self.backoff(attempt, start, requested) {
                        Some(delay) => (delay, format!("HTTP {}", status.as_u16())),
                        None => return Ok(response),
                    }
                }
                Attempt::Failed(err) => {
                    let may_retry = match &err {
                        Error::Transport { connect, .. } => *connect || idempotent,
                        Error::Timeout { .. } => idempotent,
                        _ => false,
                    };
                    if !may_retry {
                        return Err(err);
                    }
                    match self.backoff(attempt, start, None) {
                        Some(delay) => (delay, err.to_string()),
                        None => return Err(err),
                    }
                }
            };
            let (delay, why) = retry_reason;
            tracing::info!(attempt, delay_ms = delay.as_millis() as u64, reason = %why, "retrying");
            inner.clock.sleep(delay).await;
        }
    }

    /// How long requests to `server` (`host:port`) must still wait after a 429, if at all.
    fn throttle_pause(&self, server: &str) -> Option<Duration> {
        let inner = &*self.inner;
        let until = *inner
            .throttled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(server)?;
        let left = until - inner.clock.now();
        left.is_positive().then(|| left.unsigned_abs())
    }

    /// Holds every request to `server` (`host:port`) for `wait` (capped by the policy's Retry-After ceiling).
    fn hold_host(&self, server: &str, wait: Duration) {
        let inner = &*self.inner;
        let now = inner.clock.now();
        // A ceiling configured as "forever" must not overflow the date arithmetic.
        let until = time::Duration::try_from(wait.min(inner.retry.retry_after_ceiling()))
            .ok()
            .and_then(|w| now.checked_add(w))
            .unwrap_or(time::OffsetDateTime::new_utc(
                time::Date::MAX,
                time::Time::MIDNIGHT,
            ));
        let mut map = inner
            .throttled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(server.to_owned()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// The wait before the next attempt, or `None` when the policy, the elapsed-time limit or
    /// the retry budget says to stop.
    fn backoff(
        &self,
        attempt: u32,
        start: time::OffsetDateTime,
        requested: Option<Duration>,
    ) -> Option<Duration> {
        let inner = &*self.inner;
        if attempt >= inner.retry.max_attempts() {
            return None;
        }
        let unit: f64 = rand::rng().random();
        let delay = inner.retry.delay(attempt - 1, requested, unit);
        let elapsed = (inner.clock.now() - start).unsigned_abs();
        // A service that asks us back only after the deadline gets its answer now, with its
        // Retry-After kept on the error, instead of an early retry it would refuse again.
        let wait = delay.max(requested.unwrap_or_default());
        if elapsed.saturating_add(wait) > inner.retry.max_elapsed() {
            tracing::debug!("retry would pass the elapsed-time limit");
            return None;
        }
        if !inner.budget.try_withdraw() {
            tracing::warn!("retry budget exhausted: returning the failure without retrying");
            return None;
        }
        Some(delay)
    }

    async fn attempt(
        &self,
        request: &Request,
        token: Option<&AccessToken>,
        client_request_id: &str,
        host: &str,
        timeout: Duration,
    ) -> Attempt {
        let inner = &*self.inner;
        // Throttling is per server: two services on one host (different ports) are held apart.
        let server = format!(
            "{host}:{}",
            request.url.port_or_known_default().unwrap_or_default()
        );
        let server = server.as_str();
        // Bounded, so a clock whose sleep does not move it cannot make this spin forever.
        let mut waits_left = MAX_HOLD_WAITS;
        let _permit = loop {
            if waits_left > 0
                && let Some(pause) = self.throttle_pause(server)
            {
                waits_left -= 1;
                tracing::debug!(
                    pause_ms = pause.as_millis() as u64,
                    "host is throttling: waiting for its Retry-After"
                );
                inner.clock.sleep(pause).await;
            }
            let Ok(permit) = inner.semaphore.acquire().await else {
                return Attempt::Failed(Error::InvalidRequest("the pipeline is shut down".into()));
            };
            // Another request to this host may have been throttled while this one waited for
            // a slot: then give the slot back and wait too.
            if waits_left == 0 || self.throttle_pause(server).is_none() {
                break permit;
            }
        };
        let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let direct = crate::is_loopback(&request.url)
            || request.url.host() == Some(url::Host::Ipv4(crate::IMDS_ADDRESS));
        let client = if direct { &inner.direct } else { &inner.http };
        let mut builder = client.request(method, request.url.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        builder = builder
            .header(USER_AGENT.as_str(), inner.user_agent.as_str())
            .header(CLIENT_REQUEST_ID, client_request_id);
        if let Some(token) = token {
            let mut value = match reqwest::header::HeaderValue::from_str(&format!(
                "Bearer {}",
                token.token.expose()
            )) {
                Ok(v) => v,
                Err(_) => {
                    return Attempt::Failed(Error::InvalidRequest(
                        "the access token contains characters not allowed in a header".into(),
                    ));
                }
            };
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION.as_str(), value);
        }
        if !request.body.is_empty()
            || matches!(request.method, Method::POST | Method::PATCH | Method::PUT)
        {
            builder = builder.body(request.body.clone());
        }
        let exchange = async {
            let resp = builder.send().await.map_err(|e| transport_error(host, e))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(|e| transport_error(host, e))?;
            Ok::<_, Error>((status, headers, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((status, headers, body))) => {
                // Hold the host before giving the slot back, so no queued request slips out.
                if status == StatusCode::TOO_MANY_REQUESTS
                    && let Some(wait) = parse_retry_after(&headers, inner.clock.now())
                {
                    self.hold_host(server, wait);
                }
                Attempt::Done(status, headers, body)
            }
            Ok(Err(e)) => Attempt::Failed(e),
            Err(_) => Attempt::Failed(Error::Timeout {
                host: host.to_owned(),
                after: timeout,
            }),
        }
    }
}

fn transport_error(host: &str, e: reqwest::Error) -> Error {
    let connect = e.is_connect();
    // Without the URL: a query string could carry a signature.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Transport {
        host: host.to_owned(),
        message,
        connect,
        source: Some(Box::new(e)),
    }
}

fn convert_headers(from: reqwest::header::HeaderMap) -> HeaderMap {
    // reqwest 0.12 and `http` 1 share the same types; this keeps reqwest out of our signatures.
    let mut to = HeaderMap::with_capacity(from.len());
    for (name, value) in from.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            to.append(n, v);
        }
    }
    to
}

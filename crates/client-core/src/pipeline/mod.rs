//! The request pipeline: bearer auth, retries, throttling, timeouts, request ids, over a
//! pluggable [`HttpTransport`].
//!
//! - [`request`]: the [`Request`] a client builds;
//! - [`response`]: the [`Response`] it gets back;
//! - [`policy`]: when to retry, how long to wait, the per-server hold after a 429;
//! - [`transport`]: the [`HttpTransport`] seam and its reqwest implementation;
//! - [`typed`]: sending and decoding in a client crate's own error type ([`ErrorMapper`]).

mod policy;
mod request;
mod response;
mod setters;
mod transport;
mod typed;

pub use request::Request;
pub use response::Response;
pub(crate) use response::service_request_id;
pub use transport::{
    HttpRequest, HttpResponse, HttpTransport, ReqwestTransport, ReqwestTransportBuilder,
    TransportError,
};
pub use typed::ErrorMapper;

use crate::retry::{RetryBudget, RetryPolicy, parse_retry_after};
use crate::{AccessToken, Error, SharedClock, SharedCredential, system_clock};
use http::StatusCode;
use http::header::{AUTHORIZATION, HeaderValue, USER_AGENT};
use policy::{Holds, MAX_HOLD_WAITS, Policy};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tracing::Instrument;
use url::Url;

/// Header carrying the id this client gives each logical request (the same on every retry).
pub const CLIENT_REQUEST_ID: &str = "x-ms-client-request-id";

/// Which transport a built pipeline sends through.
#[derive(Debug)]
enum TransportChoice {
    /// A [`ReqwestTransport`] built from these settings.
    Reqwest(ReqwestTransportBuilder),
    /// One the caller supplied.
    Custom(Arc<dyn HttpTransport>),
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
    clock: SharedClock,
    transport: TransportChoice,
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
            clock: system_clock(),
            transport: TransportChoice::Reqwest(ReqwestTransportBuilder::default()),
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

    /// The clock used for backoff sleeps, elapsed-time limits and `Retry-After` dates.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends every attempt through `transport` instead of the default [`ReqwestTransport`]
    /// (for another HTTP stack, or [`MockTransport`](crate::mock::MockTransport) in tests).
    /// The connect timeout and proxy settings apply only to the default transport.
    pub fn transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = TransportChoice::Custom(transport);
        self
    }

    /// The clock set so far (the system clock unless [`clock`](Self::clock) was called), for
    /// a client that also waits on it.
    pub fn configured_clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The retry policy set so far, for a client that adjusts it before building.
    pub fn configured_retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    fn reqwest(self, f: impl FnOnce(ReqwestTransportBuilder) -> ReqwestTransportBuilder) -> Self {
        let transport = match self.transport {
            TransportChoice::Reqwest(b) => TransportChoice::Reqwest(f(b)),
            custom @ TransportChoice::Custom(_) => custom,
        };
        Self { transport, ..self }
    }

    /// The TCP/TLS connect timeout of the default transport.
    pub fn connect_timeout(self, d: Duration) -> Self {
        self.reqwest(|b| b.connect_timeout(d))
    }

    /// Sends requests to remote hosts through this HTTP(S) proxy instead of the one the
    /// environment names. Loopback and IMDS requests never go through a proxy.
    pub fn proxy(self, proxy: Url) -> Self {
        self.reqwest(|b| b.proxy(proxy))
    }

    /// Ignores `HTTPS_PROXY` and friends: every request goes straight to its host.
    pub fn no_proxy(self) -> Self {
        self.reqwest(ReqwestTransportBuilder::no_proxy)
    }

    /// Builds the pipeline.
    ///
    /// With the default transport, requests to remote hosts use the proxy the environment
    /// names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, honouring `NO_PROXY`), as other Azure
    /// SDKs do; loopback and IMDS requests always go direct.
    pub fn build(self) -> Result<Pipeline, Error> {
        let transport: Arc<dyn HttpTransport> = match self.transport {
            TransportChoice::Reqwest(b) => Arc::new(b.build()?),
            TransportChoice::Custom(t) => t,
        };
        Ok(Pipeline {
            inner: Arc::new(Inner {
                transport,
                credential: self.credential,
                default_scopes: self.default_scopes,
                user_agent: self.user_agent,
                policy: Policy {
                    retry: self.retry,
                    budget: self.budget.unwrap_or_default(),
                    holds: Holds::default(),
                    clock: self.clock,
                },
                semaphore: Semaphore::new(self.max_concurrency),
                attempt_timeout: self.attempt_timeout,
            }),
        })
    }
}

/// The HTTP pipeline shared by the workspace's clients. Cheap to clone: clones share the
/// transport (and its connection pool), the concurrency limit and the retry budget.
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
    transport: Arc<dyn HttpTransport>,
    credential: Option<SharedCredential>,
    default_scopes: Vec<String>,
    user_agent: String,
    policy: Policy,
    semaphore: Semaphore,
    attempt_timeout: Duration,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("transport", &self.inner.transport)
            .field("credential", &self.inner.credential)
            .field("default_scopes", &self.inner.default_scopes)
            .field("retry", &self.inner.policy.retry)
            .field("attempt_timeout", &self.inner.attempt_timeout)
            .finish()
    }
}

enum Attempt {
    Done(http::Response<bytes::Bytes>),
    Failed(Error),
}

impl Pipeline {
    /// A builder with the defaults: 5 attempts within 300 s, 16 concurrent requests, 100 s per
    /// attempt, reqwest underneath.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// The pipeline's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.policy.clock
    }

    /// The retry budget's remaining retries.
    pub fn retry_budget_remaining(&self) -> f64 {
        self.inner.policy.budget.remaining()
    }

    /// Sends `request`, retrying as the policy says; an error status becomes
    /// [`Error::Service`].
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let method = request.method.clone();
        let resp = self.send_raw(request).await?;
        resp.error_for_status(&method, self.clock().now())
    }

    /// Sends `request`, retrying as the policy says, and returns the last response whatever its
    /// status (for callers that read error bodies themselves, such as `$batch`).
    pub async fn send_raw(&self, request: Request) -> Result<Response, Error> {
        if let Some(problem) = &request.invalid {
            return Err(Error::invalid_request(problem.clone()));
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
            return Err(Error::invalid_request(
                "no token scope: set a default scope on the pipeline or one on the request",
            ));
        }
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let token = cred.get_token(&refs).await?;
        Ok(Some((scopes, token)))
    }

    async fn run(&self, request: Request, client_request_id: String) -> Result<Response, Error> {
        let inner = &*self.inner;
        let policy = &inner.policy;
        let start = policy.clock.now();
        let idempotent = request.is_idempotent();
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
                    timeout,
                )
                .await;
            let (delay, why) = match outcome {
                Attempt::Done(answer) => {
                    let (parts, body) = answer.into_parts();
                    let status = parts.status;
                    let request_id = service_request_id(&parts.headers);
                    tracing::debug!(
                        attempt,
                        status = status.as_u16(),
                        request_id = request_id.as_deref().unwrap_or(""),
                        "response"
                    );
                    let response = Response {
                        status,
                        headers: parts.headers,
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
                    if !policy.retry.retries_status(status.as_u16()) {
                        if status.is_success() {
                            policy.budget.deposit();
                        }
                        return Ok(response);
                    }
                    let requested = parse_retry_after(&response.headers, policy.clock.now());
                    match policy.backoff(attempt, start, requested) {
                        Some(delay) => (delay, format!("HTTP {}", status.as_u16())),
                        None => return Ok(response),
                    }
                }
                Attempt::Failed(err) => {
                    let may_retry = match &err {
                        Error::Transport(t) => t.is_connect() || idempotent,
                        Error::Timeout(_) => idempotent,
                        _ => false,
                    };
                    if !may_retry {
                        return Err(err);
                    }
                    match policy.backoff(attempt, start, None) {
                        Some(delay) => (delay, err.to_string()),
                        None => return Err(err),
                    }
                }
            };
            tracing::info!(attempt, delay_ms = delay.as_millis() as u64, reason = %why, "retrying");
            policy.clock.sleep(delay).await;
        }
    }

    /// The exchange as the transport sees it: the request's headers plus user agent, client
    /// request id and bearer token.
    fn wire_request(
        &self,
        request: &Request,
        token: Option<&AccessToken>,
        client_request_id: &str,
    ) -> Result<HttpRequest, Error> {
        let invalid =
            |what: &str| Error::invalid_url(&request.url, format!("{what} cannot be sent"));
        let uri: http::Uri = request
            .url
            .as_str()
            .parse()
            .map_err(|_| invalid("the URL"))?;
        let mut wire = http::Request::new(request.body.clone());
        *wire.method_mut() = request.method.clone();
        *wire.uri_mut() = uri;
        let headers = wire.headers_mut();
        *headers = request.headers.clone();
        let agent = HeaderValue::from_str(&self.inner.user_agent)
            .map_err(|_| Error::invalid_request("the user agent is not a valid header"))?;
        headers.insert(USER_AGENT, agent);
        if let Ok(id) = HeaderValue::from_str(client_request_id) {
            headers.insert(CLIENT_REQUEST_ID, id);
        }
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.token.expose()))
                .map_err(|_| {
                    Error::invalid_request(
                        "the access token contains characters not allowed in a header",
                    )
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(wire)
    }

    async fn attempt(
        &self,
        request: &Request,
        token: Option<&AccessToken>,
        client_request_id: &str,
        timeout: Duration,
    ) -> Attempt {
        let inner = &*self.inner;
        let policy = &inner.policy;
        let host = request.url.host_str().unwrap_or_default();
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
                && let Some(pause) = policy.pause(server)
            {
                waits_left -= 1;
                tracing::debug!(
                    pause_ms = pause.as_millis() as u64,
                    "host is throttling: waiting for its Retry-After"
                );
                policy.clock.sleep(pause).await;
            }
            let Ok(permit) = inner.semaphore.acquire().await else {
                return Attempt::Failed(Error::invalid_request("the pipeline is shut down"));
            };
            // Another request to this host may have been throttled while this one waited for
            // a slot: then give the slot back and wait too.
            if waits_left == 0 || policy.pause(server).is_none() {
                break permit;
            }
        };
        let wire = match self.wire_request(request, token, client_request_id) {
            Ok(w) => w,
            Err(e) => return Attempt::Failed(e),
        };
        match tokio::time::timeout(timeout, inner.transport.send(wire)).await {
            Ok(Ok(answer)) => {
                // Hold the host before giving the slot back, so no queued request slips out.
                if answer.status() == StatusCode::TOO_MANY_REQUESTS
                    && let Some(wait) = parse_retry_after(answer.headers(), policy.clock.now())
                {
                    policy.hold(server, wait);
                }
                Attempt::Done(answer)
            }
            Ok(Err(e)) => Attempt::Failed(Error::Transport(e.with_host(host))),
            Err(_) => Attempt::Failed(Error::timeout(host, timeout)),
        }
    }
}

//! Fault injection: added latency, a fraction of 429 / 500 / 503 answers, connections dropped
//! mid-body, outage windows and forced token expiry. Decisions are deterministic: the n-th
//! request through the fault layer gets the same fate for the same seed.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::rng::Rng;

/// Which services faults apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FaultTargets {
    /// The Dataverse Web API (default on).
    pub dataverse: bool,
    /// The Akto ingestion endpoint (default on).
    pub ingestion: bool,
    /// The Entra token endpoint (default off).
    pub entra: bool,
    /// Microsoft Graph (default on).
    pub graph: bool,
}

impl Default for FaultTargets {
    fn default() -> Self {
        Self {
            dataverse: true,
            ingestion: true,
            entra: false,
            graph: true,
        }
    }
}

impl FaultTargets {
    /// Faults on these services (and on Graph when on Dataverse: both are data reads).
    pub fn new(dataverse: bool, ingestion: bool, entra: bool) -> Self {
        Self {
            dataverse,
            ingestion,
            entra,
            graph: dataverse,
        }
    }

    /// Turns faults on Microsoft Graph on or off.
    #[must_use]
    pub fn with_graph(mut self, graph: bool) -> Self {
        self.graph = graph;
        self
    }
}

/// The service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// The Dataverse Web API.
    Dataverse,
    /// The Akto ingestion endpoint.
    Ingestion,
    /// The Entra token endpoint.
    Entra,
    /// Microsoft Graph.
    Graph,
}

/// The faults to inject. Rates are fractions of requests in `0.0..=1.0`; they are drawn in
/// the order 429, 500, 503, dropped, so their sum should not exceed 1.
///
/// The same JSON shape is accepted by `POST /_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FaultConfig {
    /// Added latency per request, in milliseconds.
    pub latency_ms: u64,
    /// Fraction of requests answered `429 Too Many Requests` (with `Retry-After`).
    pub throttle_rate: f64,
    /// Fraction answered `500 Internal Server Error`.
    pub error_rate: f64,
    /// Fraction answered `503 Service Unavailable` (with `Retry-After`).
    pub unavailable_rate: f64,
    /// Fraction whose connection is dropped after the headers and part of the body.
    pub drop_rate: f64,
    /// `Retry-After` seconds on injected 429 and 503 answers.
    pub retry_after_secs: u64,
    /// When set: every request fails with 503 for this many seconds from when the config is
    /// applied.
    pub outage_secs: u64,
    /// When true: every token issued so far is treated as expired (applied once).
    pub expire_tokens: bool,
    /// Which services the faults apply to.
    pub targets: FaultTargets,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            throttle_rate: 0.0,
            error_rate: 0.0,
            unavailable_rate: 0.0,
            drop_rate: 0.0,
            retry_after_secs: 2,
            outage_secs: 0,
            expire_tokens: false,
            targets: FaultTargets::default(),
        }
    }
}

impl FaultConfig {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds latency to every request.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Answers this fraction of requests with 429.
    #[must_use]
    pub fn with_throttle_rate(mut self, rate: f64) -> Self {
        self.throttle_rate = rate;
        self
    }

    /// Answers this fraction of requests with 500.
    #[must_use]
    pub fn with_error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate;
        self
    }

    /// Answers this fraction of requests with 503.
    #[must_use]
    pub fn with_unavailable_rate(mut self, rate: f64) -> Self {
        self.unavailable_rate = rate;
        self
    }

    /// Drops the connection mid-body for this fraction of requests.
    #[must_use]
    pub fn with_drop_rate(mut self, rate: f64) -> Self {
        self.drop_rate = rate;
        self
    }

    /// Sets `Retry-After` on injected 429 / 503 answers.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// Fails every request for this long from when the config is applied.
    #[must_use]
    pub fn with_outage(mut self, duration: Duration) -> Self {
        self.outage_secs = duration.as_secs();
        self
    }

    /// Expires every token issued so far when the config is applied.
    #[must_use]
    pub fn with_token_expiry(mut self) -> Self {
        self.expire_tokens = true;
        self
    }

    /// Chooses which services are affected.
    #[must_use]
    pub fn with_targets(mut self, targets: FaultTargets) -> Self {
        self.targets = targets;
        self
    }

    /// The longest added latency: 10 minutes.
    pub const MAX_LATENCY_MS: u64 = 600_000;
    /// The longest `Retry-After`: one day.
    pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;
    /// The longest outage: 30 days.
    pub const MAX_OUTAGE_SECS: u64 = 30 * 86_400;

    /// Checks the rates and durations; says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value, max) in [
            ("latency_ms", self.latency_ms, Self::MAX_LATENCY_MS),
            (
                "retry_after_secs",
                self.retry_after_secs,
                Self::MAX_RETRY_AFTER_SECS,
            ),
            ("outage_secs", self.outage_secs, Self::MAX_OUTAGE_SECS),
        ] {
            if value > max {
                return Err(format!("{name} must be at most {max}, got {value}"));
            }
        }
        let rates = [
            ("throttle_rate", self.throttle_rate),
            ("error_rate", self.error_rate),
            ("unavailable_rate", self.unavailable_rate),
            ("drop_rate", self.drop_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0.0 and 1.0, got {rate}"));
            }
        }
        let sum: f64 = rates.iter().map(|(_, r)| r).sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!("the fault rates add up to {sum}, more than 1.0"));
        }
        Ok(())
    }

    fn applies_to(&self, service: Service) -> bool {
        match service {
            Service::Dataverse => self.targets.dataverse,
            Service::Ingestion => self.targets.ingestion,
            Service::Entra => self.targets.entra,
            Service::Graph => self.targets.graph,
        }
    }
}

/// The fate of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Pass,
    Throttle,
    Error,
    Unavailable,
    Drop,
}

struct Inner {
    config: RwLock<FaultConfig>,
    outage_until: RwLock<Option<OffsetDateTime>>,
    counter: AtomicU64,
    seed: u64,
    clock: SharedClock,
    on_expire_tokens: Box<dyn Fn() + Send + Sync>,
}

/// The live fault settings shared by the fault layers.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// Fault state; `on_expire_tokens` runs when a config asks for token expiry.
    pub(crate) fn new(
        seed: u64,
        clock: SharedClock,
        on_expire_tokens: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(FaultConfig::default()),
                outage_until: RwLock::new(None),
                counter: AtomicU64::new(0),
                seed,
                clock,
                on_expire_tokens,
            }),
        }
    }

    /// The current config (`outage_secs` and `expire_tokens` as last applied).
    pub fn config(&self) -> FaultConfig {
        self.inner
            .config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// When the current outage ends, if one is under way.
    pub fn outage_until(&self) -> Option<OffsetDateTime> {
        let until = *self
            .inner
            .outage_until
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        until.filter(|u| *u > self.inner.clock.now())
    }

    /// Replaces the fault config. An `outage_secs` starts an outage now; `expire_tokens`
    /// expires every token issued so far.
    pub fn apply(&self, config: FaultConfig) -> Result<(), String> {
        config.validate()?;
        let now = self.inner.clock.now();
        *self
            .inner
            .outage_until
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (config.outage_secs > 0)
            .then(|| now.checked_add(time::Duration::seconds(config.outage_secs as i64)))
            .flatten();
        if config.expire_tokens {
            (self.inner.on_expire_tokens)();
        }
        *self
            .inner
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        Ok(())
    }

    fn decide(&self, config: &FaultConfig) -> Fate {
        let n = self.inner.counter.fetch_add(1, Ordering::SeqCst);
        let u = Rng::new(self.inner.seed, &[0xfa_17, n]).unit();
        let mut edge = config.throttle_rate;
        if u < edge {
            return Fate::Throttle;
        }
        edge += config.error_rate;
        if u < edge {
            return Fate::Error;
        }
        edge += config.unavailable_rate;
        if u < edge {
            return Fate::Unavailable;
        }
        edge += config.drop_rate;
        if u < edge {
            return Fate::Drop;
        }
        Fate::Pass
    }
}

fn error_response(
    service: Service,
    status: StatusCode,
    retry_after: Option<u64>,
    message: &str,
) -> Response {
    let body = match service {
        Service::Dataverse => {
            let code = match status {
                StatusCode::TOO_MANY_REQUESTS => "0x80072322",
                StatusCode::INTERNAL_SERVER_ERROR => "0x80040216",
                _ => "",
            };
            json!({"error": {"code": code, "message": message}})
        }
        Service::Ingestion => json!({"success": false, "error": message}),
        Service::Entra => json!({"error": "temporarily_unavailable", "error_description": message}),
        Service::Graph => {
            let code = match status {
                StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
                StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
                _ => "InternalServerError",
            };
            json!({"error": {"code": code, "message": message}})
        }
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Sends the response's headers and the first half of its body, then aborts the connection.
async fn truncate(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    // States: Some(Some(half)) sends the half, Some(None) fails, None ends the stream.
    let stream = futures::stream::unfold(Some(Some(half)), |state| async move {
        match state? {
            Some(half) => Some((Ok(half), Some(None))),
            None => {
                // Let the headers and the first half reach the socket before the abort; a
                // real connection reset arrives after bytes did.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let error = std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "tenant-emulator: connection dropped by fault injection",
                );
                Some((Err::<Bytes, _>(error), None))
            }
        }
    });
    let mut response = Response::from_parts(parts, Body::from_stream(stream));
    // Keep the full length so the client sees a short body, not a clean end.
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    response
}

/// The fault layer for one service.
pub(crate) async fn fault_layer(
    State((faults, service)): State<(Faults, Service)>,
    request: Request,
    next: Next,
) -> Response {
    let config = faults.config();
    if !config.applies_to(service) {
        return next.run(request).await;
    }
    let now = faults.inner.clock.now();
    if let Some(until) = faults.outage_until() {
        let secs = (until - now).whole_seconds().max(1);
        let secs = u64::try_from(secs).unwrap_or(1);
        return error_response(
            service,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(secs),
            "The service is temporarily unavailable (tenant-emulator outage window).",
        );
    }
    if config.latency_ms > 0 {
        faults
            .inner
            .clock
            .sleep(Duration::from_millis(config.latency_ms))
            .await;
    }
    let retry = Some(config.retry_after_secs);
    match faults.decide(&config) {
        Fate::Pass => next.run(request).await,
        Fate::Throttle => error_response(
            service,
            StatusCode::TOO_MANY_REQUESTS,
            retry,
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        ),
        Fate::Error => error_response(
            service,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "An unexpected error occurred (injected by tenant-emulator).",
        ),
        Fate::Unavailable => error_response(
            service,
            StatusCode::SERVICE_UNAVAILABLE,
            retry,
            "The service is temporarily unavailable (injected by tenant-emulator).",
        ),
        Fate::Drop => truncate(next.run(request).await).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use time::macros::datetime;

    fn faults(seed: u64) -> Faults {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        Faults::new(seed, Arc::new(clock), Box::new(|| {}))
    }

    #[test]
    fn decisions_are_deterministic_and_proportional() {
        let config = FaultConfig::none()
            .with_throttle_rate(0.25)
            .with_error_rate(0.25);
        let a = faults(7);
        let b = faults(7);
        let fa: Vec<Fate> = (0..1000).map(|_| a.decide(&config)).collect();
        let fb: Vec<Fate> = (0..1000).map(|_| b.decide(&config)).collect();
        assert_eq!(fa, fb);
        let throttled = fa.iter().filter(|f| **f == Fate::Throttle).count();
        let errors = fa.iter().filter(|f| **f == Fate::Error).count();
        assert!((200..300).contains(&throttled), "{throttled}");
        assert!((200..300).contains(&errors), "{errors}");
        assert!(!fa.contains(&Fate::Drop));
    }

    #[test]
    fn invalid_rates_are_refused() {
        let f = faults(1);
        assert!(f.apply(FaultConfig::none().with_error_rate(1.5)).is_err());
        assert!(
            f.apply(FaultConfig::none().with_error_rate(0.6).with_drop_rate(0.6))
                .is_err()
        );
        assert!(f.apply(FaultConfig::none().with_error_rate(0.6)).is_ok());
    }

    #[test]
    fn config_json_round_trips_with_defaults() {
        let c: FaultConfig = serde_json::from_str(r#"{"throttle_rate":0.5}"#).unwrap();
        assert_eq!(c.throttle_rate, 0.5);
        assert_eq!(c.retry_after_secs, 2);
        assert!(serde_json::from_str::<FaultConfig>(r#"{"bogus":1}"#).is_err());
    }
}

//! The HTTP pipeline shared by every client in this workspace.
//!
//! A [`Pipeline`] sends [`Request`]s and returns complete [`Response`]s. On the way it
//!
//! - adds `Authorization: Bearer` with a token from a [`TokenCredential`] for the request's
//!   scope, a user agent and an `x-ms-client-request-id`, and records the service's request id;
//! - retries 408/429/500/502/503/504 and connection failures with exponential backoff and full
//!   jitter, waiting at least as long as `Retry-After` (seconds or HTTP date), `retry-after-ms`
//!   or `x-ms-retry-after-ms` ask, up to a ceiling ([`RetryPolicy`]); timeouts and connections
//!   lost after sending are retried only for idempotent requests;
//! - after a 429 with `Retry-After`, starts no request to that host until the wait is over
//!   (requests sent while throttled lengthen the wait);
//! - bounds concurrency per client and spends retries from a shared [`RetryBudget`];
//! - on a 401, drops the cached token, gets a fresh one and retries once;
//! - refuses plain http except to loopback ([`check_url`]);
//! - reaches remote hosts through the environment's proxy (`HTTPS_PROXY`, honouring
//!   `NO_PROXY`) or one set with [`PipelineBuilder::proxy`], and loopback and IMDS directly;
//! - maps failures to one typed [`Error`] whose text never contains a secret.
//!
//! Time comes from an injectable [`Clock`], so backoff and expiry are testable with
//! [`ManualClock`] without real waiting.
//!
//! ```no_run
//! use client_core::{AccessToken, Pipeline, Request, StaticTokenCredential};
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), client_core::Error> {
//! let token = AccessToken::new("eyJ...", time::OffsetDateTime::now_utc() + time::Duration::hours(1));
//! let pipeline = Pipeline::builder()
//!     .credential(Arc::new(StaticTokenCredential::new(token)))
//!     .default_scope("https://org.crm.dynamics.com/.default")
//!     .build()?;
//! let who: serde_json::Value = pipeline
//!     .send(Request::get("https://org.crm.dynamics.com/api/data/v9.2/WhoAmI".parse().unwrap()))
//!     .await?
//!     .json()?;
//! println!("{}", who["UserId"]);
//! # Ok(()) }
//! ```

mod clock;
mod credential;
pub mod error;
pub mod mock;
mod pipeline;
mod retry;
mod secret;
mod url_policy;

pub use clock::{Clock, ManualClock, SharedClock, SleepFuture, SystemClock, system_clock};
pub use credential::{
    AccessToken, CredentialError, CredentialErrorKind, SharedCredential, StaticTokenCredential,
    TokenCredential,
};
pub use error::{Error, ErrorReport, ServiceError, is_retryable_status};
pub use pipeline::{
    CLIENT_REQUEST_ID, HttpRequest, HttpResponse, HttpTransport, Pipeline, PipelineBuilder,
    Request, ReqwestTransport, ReqwestTransportBuilder, Response, TransportError,
};
pub use retry::{RetryBudget, RetryPolicy, parse_retry_after};
pub use secret::Secret;
pub use url_policy::{IMDS_ADDRESS, check_url, check_url_allowing_imds, is_loopback, parse_url};

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use http;
pub use url::Url;

#![doc = include_str!("../README.md")]

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
pub use error::{Error, ErrorDetail, ErrorReport, ServiceError, is_retryable_status};
pub use pipeline::{
    CLIENT_REQUEST_ID, ErrorMapper, HttpRequest, HttpResponse, HttpTransport, Pipeline,
    PipelineBuilder, Request, ReqwestTransport, ReqwestTransportBuilder, Response, TransportError,
};
pub use retry::{RetryBudget, RetryPolicy, parse_retry_after};
pub use secret::Secret;
pub use url_policy::{IMDS_ADDRESS, check_url, check_url_allowing_imds, is_loopback, parse_url};

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use http;
pub use url::Url;

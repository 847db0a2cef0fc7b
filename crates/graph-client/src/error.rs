//! The error type of every Graph operation, with Graph's error body typed.

pub use client_core::error::{DecodeError, InvalidInputError, NextLinkLoopError};
use serde::Deserialize;
use std::time::Duration;

/// The error body Graph returns with every error status:
/// `{"error":{"code","message","innerError":{"request-id","client-request-id","date"}}}`.
///
/// Every field is optional: proxies and gateways answer with other bodies, and an absent
/// field is better reported as absent than guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphErrorBody {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    client_request_id: Option<String>,
    date: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<Inner>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inner {
    code: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
    // Graph spells it `innerError`; some services `innererror`.
    #[serde(alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
    #[serde(rename = "client-request-id")]
    client_request_id: Option<String>,
    date: Option<String>,
}

fn text(v: Option<serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl GraphErrorBody {
    /// `error.code`, e.g. `BadRequest`, `Authorization_RequestDenied`, `TooManyRequests`.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// `error.message`.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// `error.innerError.request-id`: quote it in a support case.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// `error.innerError.client-request-id`.
    pub fn client_request_id(&self) -> Option<&str> {
        self.client_request_id.as_deref()
    }

    /// `error.innerError.date`, as sent (Graph omits the zone).
    pub fn date(&self) -> Option<&str> {
        self.date.as_deref()
    }

    /// Reads a Graph error body; anything else gives an empty body (never an error).
    ///
    /// ```
    /// let body = graph_client::GraphErrorBody::parse(
    ///     br#"{"error":{"code":"BadRequest","message":"bad filter",
    ///         "innerError":{"date":"2026-02-19T09:46:54","request-id":"a3","client-request-id":"c1"}}}"#,
    /// );
    /// assert_eq!(body.code(), Some("BadRequest"));
    /// assert_eq!(body.request_id(), Some("a3"));
    /// assert_eq!(body.date(), Some("2026-02-19T09:46:54"));
    /// ```
    pub fn parse(body: &[u8]) -> Self {
        let Ok(Envelope { error: Some(e) }) = serde_json::from_slice::<Envelope>(body) else {
            return Self::default();
        };
        let (request_id, client_request_id, date) = match e.inner_error {
            Some(i) => (i.request_id, i.client_request_id, i.date),
            None => (None, None, None),
        };
        Self {
            code: text(e.code),
            message: text(e.message),
            request_id,
            client_request_id,
            date,
        }
    }
}

/// A Graph error answer: the status, Graph's typed body, the wait it asked for.
#[derive(Debug, Clone)]
pub struct GraphError {
    status: u16,
    request: String,
    body: GraphErrorBody,
    header_request_id: Option<String>,
    retry_after: Option<Duration>,
}

impl GraphError {
    pub(crate) fn new(
        status: u16,
        request: String,
        body: GraphErrorBody,
        header_request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        Self {
            status,
            request,
            body,
            header_request_id,
            retry_after,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The method and URL (without its query) that failed, e.g. `GET /v1.0/users`.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// Graph's error body.
    pub fn body(&self) -> &GraphErrorBody {
        &self.body
    }

    /// The request id: the body's `innerError.request-id`, else the `request-id` header.
    pub fn request_id(&self) -> Option<&str> {
        self.body
            .request_id
            .as_deref()
            .or(self.header_request_id.as_deref())
    }

    /// How long the service asked the caller to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The `request-id` response header, whatever the body said.
    pub fn header_request_id(&self) -> Option<&str> {
        self.header_request_id.as_deref()
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} from {}", self.status, self.request)?;
        if let Some(c) = &self.body.code {
            write!(f, ": {c}")?;
        }
        if let Some(m) = &self.body.message {
            write!(f, ": {m}")?;
        }
        if let Some(id) = self.request_id() {
            write!(f, " (request id {id}")?;
            if let Some(d) = &self.body.date {
                write!(f, ", {d}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A failed Graph operation.
///
/// Every variant wraps a type with private fields and accessors: match on the variant for the
/// kind of failure, and use [`status`](Error::status), [`code`](Error::code),
/// [`message`](Error::message), [`request_id`](Error::request_id),
/// [`is_throttled`](Error::is_throttled) and [`is_retryable`](Error::is_retryable) for the
/// details. Nothing in an error carries a token or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Graph answered with an error status (after the pipeline's retries).
    #[error(transparent)]
    Graph(Box<GraphError>),
    /// The exchange itself failed: transport, timeout, authentication.
    #[error(transparent)]
    Http(client_core::Error),
    /// The service handed back a next link it had already given; paging stopped instead of
    /// looping for ever.
    #[error(transparent)]
    NextLinkLoop(NextLinkLoopError),
    /// A response did not have the expected shape.
    #[error(transparent)]
    Decode(DecodeError),
    /// An argument cannot be sent as given; the message says what to change.
    #[error(transparent)]
    InvalidInput(InvalidInputError),
    /// A long-running operation (a Security Copilot evaluation) did not finish in time.
    #[error(transparent)]
    Deadline(DeadlineError),
    /// The API does not exist in the configured cloud (the Copilot interaction export is
    /// public-cloud only).
    #[error(transparent)]
    UnsupportedCloud(UnsupportedCloudError),
}

impl std::error::Error for GraphError {}

/// A long-running operation that did not finish before its deadline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} did not finish within {waited:?}; its last state was `{last_state}`")]
pub struct DeadlineError {
    what: String,
    waited: Duration,
    last_state: String,
}

impl DeadlineError {
    /// What was awaited.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// How long it was polled.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The last state read.
    pub fn last_state(&self) -> &str {
        &self.last_state
    }
}

/// An API that does not exist in the configured cloud.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{api} is not available in the {cloud} cloud: it exists in the public cloud only")]
pub struct UnsupportedCloudError {
    api: &'static str,
    cloud: String,
}

impl UnsupportedCloudError {
    /// The API.
    pub fn api(&self) -> &'static str {
        self.api
    }

    /// The configured cloud.
    pub fn cloud(&self) -> &str {
        &self.cloud
    }
}

/// How the pipeline's failures become this crate's [`Error`] (see
/// [`ErrorMapper`](client_core::ErrorMapper)).
pub(crate) struct Mapper;

impl client_core::ErrorMapper for Mapper {
    type Error = Error;

    fn pipeline_error(&self, error: client_core::Error) -> Error {
        Error::from(error)
    }

    fn decode_error(&self, error: DecodeError) -> Error {
        Error::Decode(error)
    }
}

impl From<client_core::Error> for Error {
    fn from(e: client_core::Error) -> Self {
        match e.service() {
            Some(s) => {
                let body = GraphErrorBody::parse(s.body().as_bytes());
                let path = url::Url::parse(s.url())
                    .map(|u| u.path().to_owned())
                    .unwrap_or_else(|_| s.url().to_owned());
                Error::Graph(Box::new(GraphError::new(
                    s.status(),
                    format!("{} {path}", s.method()),
                    body,
                    s.request_id().map(str::to_owned),
                    s.retry_after(),
                )))
            }
            None => Error::Http(e),
        }
    }
}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(InvalidInputError::new(message))
    }

    pub(crate) fn decode(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Decode(DecodeError::new(what, message))
    }

    pub(crate) fn next_link_loop(url: impl Into<String>) -> Self {
        Error::NextLinkLoop(NextLinkLoopError::new(url))
    }

    pub(crate) fn deadline(
        what: impl Into<String>,
        waited: Duration,
        last_state: impl Into<String>,
    ) -> Self {
        Error::Deadline(DeadlineError {
            what: what.into(),
            waited,
            last_state: last_state.into(),
        })
    }

    pub(crate) fn unsupported_cloud(api: &'static str, cloud: impl Into<String>) -> Self {
        Error::UnsupportedCloud(UnsupportedCloudError {
            api,
            cloud: cloud.into(),
        })
    }

    /// Graph's error answer, if it answered with an error status.
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            Error::Graph(g) => Some(g),
            _ => None,
        }
    }

    /// The HTTP status of Graph's error answer.
    pub fn status(&self) -> Option<u16> {
        self.graph().map(|g| g.status)
    }

    /// Graph's error code (`error.code`).
    pub fn code(&self) -> Option<&str> {
        self.graph().and_then(|g| g.body.code())
    }

    /// Graph's error message (`error.message`).
    pub fn message(&self) -> Option<&str> {
        self.graph().and_then(|g| g.body.message())
    }

    /// The underlying pipeline error, when the exchange itself failed.
    pub fn http(&self) -> Option<&client_core::Error> {
        match self {
            Error::Http(e) => Some(e),
            _ => None,
        }
    }

    /// The request id (`innerError.request-id` or the `request-id` header).
    pub fn request_id(&self) -> Option<&str> {
        self.graph().and_then(GraphError::request_id)
    }

    /// How long the service asked the caller to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        self.graph().and_then(|g| g.retry_after)
    }

    /// Whether Graph throttled the request (429, or 503 with a `Retry-After`).
    pub fn is_throttled(&self) -> bool {
        match self.graph() {
            Some(g) => g.status == 429 || (g.status == 503 && g.retry_after.is_some()),
            None => false,
        }
    }

    /// Whether the same request may succeed later (throttling, 5xx, transport failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Graph(g) => client_core::is_retryable_status(g.status),
            Error::Http(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether the caller lacks a permission (403), e.g. `AiEnterpriseInteraction.Read.All`
    /// was not granted admin consent.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// Whether the resource (a user, ...) does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_are_not_graph_errors_parse_empty() {
        for b in [
            &b"<html>"[..],
            b"{}",
            b"{\"error\":\"invalid_client\"}",
            b"[]",
        ] {
            assert_eq!(GraphErrorBody::parse(b), GraphErrorBody::default());
        }
        let b = GraphErrorBody::parse(br#"{"error":{"code":"","message":7}}"#);
        assert_eq!(b.code(), None);
        assert_eq!(b.message(), Some("7"));
    }

    #[test]
    fn display_names_code_message_request_id_and_date() {
        let e = Error::Graph(Box::new(GraphError::new(
            429,
            "GET /v1.0/users".into(),
            GraphErrorBody::parse(
                br#"{"error":{"code":"TooManyRequests","message":"slow down","innerError":{"request-id":"r1","date":"2026-01-01T00:00:00"}}}"#,
            ),
            Some("h1".into()),
            Some(Duration::from_secs(4)),
        )));
        assert_eq!(
            e.to_string(),
            "HTTP 429 from GET /v1.0/users: TooManyRequests: slow down (request id r1, 2026-01-01T00:00:00)"
        );
        assert!(e.is_throttled() && e.is_retryable());
        assert_eq!(e.request_id(), Some("r1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(4)));
    }
}

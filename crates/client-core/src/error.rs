//! The error type every client in the workspace returns.

use crate::CredentialError;
use http::{HeaderMap, StatusCode};
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A failed request.
///
/// Every variant keeps what an operator needs (host, status, the service's code, message and
/// request id) and none carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be sent or its response could not be read.
    #[error("could not reach {host}: {message}")]
    Transport {
        /// The host that was called.
        host: String,
        /// What went wrong.
        message: String,
        /// Whether the connection itself failed (so the request was never sent).
        connect: bool,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// No complete response arrived within the per-attempt timeout.
    #[error("request to {host} timed out after {after:?}")]
    Timeout {
        /// The host that was called.
        host: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// No token could be obtained.
    #[error("authentication failed: {0}")]
    Credential(#[from] CredentialError),
    /// The service answered with an error status.
    #[error(transparent)]
    Service(Box<ServiceError>),
    /// The response did not have the expected shape.
    #[error("could not decode {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// The URL is not acceptable (not https, not absolute, ...).
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL (without its query).
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The request could not be built (bad header, bad body).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// The HTTP status, for service errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Service(s) => Some(s.status.as_u16()),
            _ => None,
        }
    }

    /// The service error, if the service answered with an error status.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the service throttled the caller (HTTP 429).
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::Credential(e) => e.is_retryable(),
            Error::Service(s) => is_retryable_status(s.status.as_u16()),
            Error::Decode { .. } | Error::InvalidUrl { .. } | Error::InvalidRequest(_) => false,
        }
    }

    /// The service's request id (`x-ms-service-request-id`, `x-ms-request-id`, ...), if known.
    pub fn request_id(&self) -> Option<&str> {
        self.service().and_then(|s| s.request_id.as_deref())
    }

    /// How long the service asked the caller to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.service().and_then(|s| s.retry_after)
    }

    pub(crate) fn decode(what: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Decode {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// The statuses retried by default: 408, 429, 500, 502, 503, 504.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// An error answer from a service, with its code, message and request id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The request method.
    pub method: String,
    /// The URL called (scheme, host and path; the query is dropped).
    pub url: String,
    /// The service's error code (`error.code` in OData bodies, `error` in OAuth bodies).
    pub code: Option<String>,
    /// The service's error message.
    pub message: Option<String>,
    /// The service's request id.
    pub request_id: Option<String>,
    /// The request id this client sent (`x-ms-client-request-id`).
    pub client_request_id: Option<String>,
    /// The wait the service asked for (`Retry-After` and friends).
    pub retry_after: Option<Duration>,
    /// The response headers.
    pub headers: HeaderMap,
    /// The raw response body, as text (lossy UTF-8).
    pub body: String,
}

impl ServiceError {
    /// The service's error code, if any (an empty code counts as none).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref().filter(|c| !c.is_empty())
    }

    /// The service's error message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Builds the error described by a response that did not come through the pipeline, such
    /// as one part of a `$batch` response: reads the code and message from `body`, the request
    /// id and the requested wait from `headers` (`now` resolves an HTTP-date `Retry-After`).
    pub fn from_parts(
        status: StatusCode,
        method: &str,
        url: &str,
        headers: HeaderMap,
        body: &[u8],
        now: time::OffsetDateTime,
    ) -> Self {
        let (code, message) = Self::parse_body(body);
        let request_id = crate::pipeline::REQUEST_ID_HEADERS
            .iter()
            .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
            .map(str::to_owned);
        ServiceError {
            status,
            method: method.to_owned(),
            url: url.split(['?', '#']).next().unwrap_or_default().to_owned(),
            code,
            message,
            request_id,
            client_request_id: None,
            retry_after: crate::parse_retry_after(&headers, now),
            headers,
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    /// Parses an error body: OData `{"error":{"code","message"}}`, OAuth
    /// `{"error":"...","error_description":"..."}`, or a bare `{"code","message"}`.
    pub fn parse_body(body: &[u8]) -> (Option<String>, Option<String>) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return (None, None);
        };
        let as_string = |v: Option<&serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match v.get("error") {
            Some(serde_json::Value::Object(e)) => {
                (as_string(e.get("code")), as_string(e.get("message")))
            }
            Some(serde_json::Value::String(code)) => {
                (Some(code.clone()), as_string(v.get("error_description")))
            }
            _ => (as_string(v.get("code")), as_string(v.get("message"))),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} from {} {}", self.status, self.method, self.url)?;
        match (self.code(), self.message()) {
            (Some(c), Some(m)) => write!(f, ": {c}: {m}")?,
            (None, Some(m)) => write!(f, ": {m}")?,
            (Some(c), None) => write!(f, ": {c}")?,
            (None, None) => {}
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl StdError for ServiceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odata_oauth_and_bare_bodies() {
        assert_eq!(
            ServiceError::parse_body(
                br#"{"error":{"code":"0x80040220","message":"no privilege"}}"#
            ),
            (Some("0x80040220".into()), Some("no privilege".into()))
        );
        assert_eq!(
            ServiceError::parse_body(
                br#"{"error":"invalid_client","error_description":"AADSTS7000215"}"#
            ),
            (Some("invalid_client".into()), Some("AADSTS7000215".into()))
        );
        assert_eq!(
            ServiceError::parse_body(br#"{"code":"BadRequest","message":"m"}"#),
            (Some("BadRequest".into()), Some("m".into()))
        );
        assert_eq!(ServiceError::parse_body(b"<html>"), (None, None));
    }

    #[test]
    fn from_parts_reads_code_message_request_id_and_wait() {
        let mut headers = HeaderMap::new();
        headers.insert("REQ_ID", http::HeaderValue::from_static("req-7"));
        headers.insert("Retry-After", http::HeaderValue::from_static("3"));
        let e = ServiceError::from_parts(
            StatusCode::BAD_REQUEST,
            "POST",
            "accounts?$select=name",
            headers,
            br#"{"error":{"code":"0x80040237","message":"duplicate"}}"#,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(e.code(), Some("0x80040237"));
        assert_eq!(e.message(), Some("duplicate"));
        assert_eq!(e.request_id.as_deref(), Some("req-7"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.url, "accounts");
        assert_eq!(
            e.to_string(),
            "HTTP 400 Bad Request from POST accounts: 0x80040237: duplicate (request id req-7)"
        );
    }

    #[test]
    fn display_and_accessors() {
        let e = Error::Service(Box::new(ServiceError {
            status: StatusCode::TOO_MANY_REQUESTS,
            method: "GET".into(),
            url: "https://org.crm.dynamics.com/api/data/v9.2/bots".into(),
            code: Some("0x80072322".into()),
            message: Some("Number of requests exceeded the limit".into()),
            request_id: Some("rid-1".into()),
            client_request_id: None,
            retry_after: Some(Duration::from_secs(3)),
            headers: HeaderMap::new(),
            body: String::new(),
        }));
        assert_eq!(
            e.to_string(),
            "HTTP 429 Too Many Requests from GET https://org.crm.dynamics.com/api/data/v9.2/bots: \
             0x80072322: Number of requests exceeded the limit (request id rid-1)"
        );
        assert!(e.is_throttled() && e.is_retryable());
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.request_id(), Some("rid-1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }
}

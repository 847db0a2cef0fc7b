//! The error type every client in the workspace returns.

use crate::CredentialError;
pub use crate::pipeline::TransportError;
use http::{HeaderMap, StatusCode};
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A failed request.
///
/// Every variant wraps a small type with private fields and accessors (after smithy-rs'
/// RFC 22), so fields can be added without breaking callers; match on the variant to learn
/// the kind of failure, and use the accessors here for what most callers need. Every
/// variant keeps what an operator needs (host, status, the service's code, message and
/// request id) and none carries a secret. Authentication failures ([`Error::Credential`]) are
/// kept apart from the HTTP failures of the call itself. `Display` never repeats the text of
/// [`source`](StdError::source), so a reporter that walks the chain prints each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be sent or its response could not be read.
    #[error(transparent)]
    Transport(TransportError),
    /// No complete response arrived within the per-attempt timeout.
    #[error(transparent)]
    Timeout(TimeoutError),
    /// No token could be obtained: the caller could not authenticate. Shows the credential's
    /// own explanation (which says what to fix).
    #[error(transparent)]
    Credential(CredentialError),
    /// The service answered with an error status.
    #[error(transparent)]
    Service(Box<ServiceError>),
    /// The response did not have the expected shape.
    #[error(transparent)]
    Decode(DecodeError),
    /// The URL is not acceptable (not https, not absolute, ...): invalid input.
    #[error(transparent)]
    InvalidUrl(InvalidUrlError),
    /// The request could not be built (bad header, bad body): invalid input.
    #[error(transparent)]
    InvalidRequest(InvalidRequestError),
}

impl From<CredentialError> for Error {
    fn from(e: CredentialError) -> Self {
        Error::Credential(e)
    }
}

impl From<ServiceError> for Error {
    fn from(e: ServiceError) -> Self {
        Error::Service(Box::new(e))
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Error::Transport(e)
    }
}

impl Error {
    /// The HTTP status, for service errors.
    pub fn status(&self) -> Option<u16> {
        self.service().map(ServiceError::status)
    }

    /// The service error, if the service answered with an error status.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(s) => Some(s),
            _ => None,
        }
    }

    /// The credential failure, if no token could be obtained.
    pub fn credential(&self) -> Option<&CredentialError> {
        match self {
            Error::Credential(c) => Some(c),
            _ => None,
        }
    }

    /// The host that was called, for transport failures and timeouts.
    pub fn host(&self) -> Option<&str> {
        match self {
            Error::Transport(t) => t.host(),
            Error::Timeout(t) => Some(t.host()),
            _ => None,
        }
    }

    /// Whether the caller could not authenticate: no token could be obtained, or the service
    /// refused the token (HTTP 401).
    pub fn is_authentication(&self) -> bool {
        matches!(self, Error::Credential(_)) || self.status() == Some(401)
    }

    /// Whether the input was at fault (a bad URL, header or body): retrying cannot help.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidUrl(_) | Error::InvalidRequest(_))
    }

    /// Whether the request timed out or could not be sent: the network, not the service.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport(_) | Error::Timeout(_))
    }

    /// Whether the service throttled the caller (HTTP 429).
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport(_) | Error::Timeout(_) => true,
            Error::Credential(e) => e.is_retryable(),
            Error::Service(s) => is_retryable_status(s.status()),
            Error::Decode(_) | Error::InvalidUrl(_) | Error::InvalidRequest(_) => false,
        }
    }

    /// The service's request id (`x-ms-service-request-id`, `x-ms-request-id`, ...), if known.
    pub fn request_id(&self) -> Option<&str> {
        self.service().and_then(ServiceError::request_id)
    }

    /// How long the service asked the caller to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.service().and_then(ServiceError::retry_after)
    }

    /// A [`Error::Decode`]: `what` could not be read, because of `message`.
    pub fn decode(what: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Decode(DecodeError::new(what, message))
    }

    /// A [`Error::InvalidUrl`] for `url` (shown without query, fragment or password).
    pub fn invalid_url(url: &url::Url, reason: impl Into<String>) -> Self {
        Error::InvalidUrl(InvalidUrlError {
            url: crate::url_policy::shown(url),
            reason: reason.into(),
        })
    }

    /// A [`Error::InvalidUrl`] for text that is not a URL at all (shown by its length only,
    /// since it may hold anything).
    pub(crate) fn unparsable_url(text: &str, reason: impl Into<String>) -> Self {
        Error::InvalidUrl(InvalidUrlError {
            url: format!("({} characters)", text.chars().count()),
            reason: reason.into(),
        })
    }

    /// A [`Error::InvalidRequest`]: the request cannot be built, because of `message`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::InvalidRequest(InvalidRequestError {
            message: message.into(),
        })
    }

    /// A [`Error::Timeout`]: no answer from `host` within `after`.
    pub(crate) fn timeout(host: &str, after: Duration) -> Self {
        Error::Timeout(TimeoutError {
            host: host.to_owned(),
            after,
        })
    }
}

/// No complete response arrived within the per-attempt timeout.
#[derive(Debug, Clone, thiserror::Error)]
#[error("request to {host} timed out after {after:?}")]
pub struct TimeoutError {
    host: String,
    after: Duration,
}

impl TimeoutError {
    /// The host that was called.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The timeout that elapsed.
    pub fn after(&self) -> Duration {
        self.after
    }
}

/// A response did not have the expected shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not decode {what}: {message}")]
pub struct DecodeError {
    what: String,
    message: String,
}

impl DecodeError {
    /// `what` could not be decoded, because of `message` (for crates that decode on top of
    /// the pipeline).
    pub fn new(what: impl Into<String>, message: impl fmt::Display) -> Self {
        DecodeError {
            what: what.into(),
            message: message.to_string(),
        }
    }

    /// What was being decoded.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Why it failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An argument a client cannot send as given (for the client crates' own error types).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid input: {message}")]
pub struct InvalidInputError {
    message: String,
}

impl InvalidInputError {
    /// `message` says what is wrong and how to fix it.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A service handed back a next link it had already given; paging stopped instead of looping
/// for ever (for the client crates' own error types).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the service repeated the next link {url}; stopped paging instead of looping")]
pub struct NextLinkLoopError {
    url: String,
}

impl NextLinkLoopError {
    /// The repeated link, given without its query.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }

    /// The repeated link, without its query.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A URL that is not acceptable (not https, not absolute, ...).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid URL {url}: {reason}")]
pub struct InvalidUrlError {
    url: String,
    reason: String,
}

impl InvalidUrlError {
    /// The URL, without its query, fragment and password (or only its length when the text
    /// was not a URL at all).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What is wrong and how to fix it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A request that could not be built (bad header, bad body, no scope).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid request: {message}")]
pub struct InvalidRequestError {
    message: String,
}

impl InvalidRequestError {
    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The statuses retried by default: 408, 429, 500, 502, 503, 504.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// An error answer from a service, with its code, message and request id.
///
/// Built by the pipeline, or with [`ServiceError::from_parts`] for answers that did not come
/// through it (one part of a `$batch` response).
#[derive(Debug, Clone)]
pub struct ServiceError {
    status: u16,
    method: String,
    url: String,
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    client_request_id: Option<String>,
    retry_after: Option<Duration>,
    details: Vec<ErrorDetail>,
    headers: HeaderMap,
    body: String,
}

/// One entry of an error body's `error.details` array.
///
/// Azure Resource Manager and Resource Graph answer a bad query with a generic top-level
/// message ("Please provide below info when asking for support ...") and put what went wrong
/// here (`InvalidQuery`, a parser failure and its position).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
    target: Option<String>,
}

impl ErrorDetail {
    /// The detail's code, if any (an empty code counts as none).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref().filter(|c| !c.is_empty())
    }

    /// The detail's message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// What the detail is about (a field or parameter), if the service said.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
}

/// At most this many details are shown in an error's text (all are kept in
/// [`ServiceError::details`]); each message is cut to [`DETAIL_TEXT_MAX`] characters.
const DETAILS_SHOWN: usize = 5;
const DETAIL_TEXT_MAX: usize = 300;

fn json_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// `error.details[]` of an OData/ARM error body, nested `details` flattened depth first
/// (Resource Graph nests the parser's complaint under the query's).
fn details_of(body: &serde_json::Value) -> Vec<ErrorDetail> {
    fn walk(items: &serde_json::Value, depth: usize, out: &mut Vec<ErrorDetail>) {
        let serde_json::Value::Array(items) = items else {
            return;
        };
        for d in items.iter().filter(|d| d.is_object()) {
            let detail = ErrorDetail {
                code: json_text(d.get("code")),
                message: json_text(d.get("message")),
                target: json_text(d.get("target")),
            };
            if detail.code().is_some() || detail.message().is_some_and(|m| !m.is_empty()) {
                out.push(detail);
            }
            // A hostile body must not recurse without end.
            if depth < 4
                && let Some(inner) = d.get("details")
            {
                walk(inner, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(items) = body.get("error").and_then(|e| e.get("details")) {
        walk(items, 0, &mut out);
    }
    out
}

/// The request id Microsoft Graph also writes into the body (`error.innerError.request-id`),
/// for answers whose headers lost it (a proxy, a `$batch` part).
fn inner_request_id(body: &serde_json::Value) -> Option<String> {
    let error = body.get("error")?;
    ["innerError", "innererror"]
        .iter()
        .filter_map(|k| error.get(*k))
        .find_map(|inner| json_text(inner.get("request-id")))
        .filter(|id| !id.is_empty())
}

impl ServiceError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The request method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL called (scheme, host and path; the query is dropped).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The service's error code (`error.code` in OData bodies, `error` in OAuth bodies), if
    /// any; an empty code counts as none.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref().filter(|c| !c.is_empty())
    }

    /// The service's error message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The service's request id, if it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The request id this client sent (`x-ms-client-request-id`), if the answer came
    /// through the pipeline.
    pub fn client_request_id(&self) -> Option<&str> {
        self.client_request_id.as_deref()
    }

    /// The wait the service asked for (`Retry-After` and friends), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw response body, as text (lossy UTF-8).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Builds the error described by a response that did not come through the pipeline, such
    /// as one part of a `$batch` response: reads the code and message from `body`, the request
    /// id and the requested wait from `headers` (`now` resolves an HTTP-date `Retry-After`).
    pub fn from_parts(
        status: u16,
        method: &str,
        url: &str,
        headers: HeaderMap,
        body: &[u8],
        now: time::OffsetDateTime,
    ) -> Self {
        let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
        let (code, message) = parsed.as_ref().map(Self::parse_value).unwrap_or_default();
        let request_id = crate::pipeline::service_request_id(&headers)
            .or_else(|| parsed.as_ref().and_then(inner_request_id));
        ServiceError {
            status,
            method: method.to_owned(),
            url: url.split(['?', '#']).next().unwrap_or_default().to_owned(),
            code,
            message,
            request_id,
            client_request_id: None,
            retry_after: crate::parse_retry_after(&headers, now),
            details: parsed.as_ref().map(details_of).unwrap_or_default(),
            headers,
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    /// The same error, with the client request id that was sent.
    pub fn with_client_request_id(mut self, id: impl Into<String>) -> Self {
        self.client_request_id = Some(id.into());
        self
    }

    /// Parses an error body: OData `{"error":{"code","message"}}`, OAuth
    /// `{"error":"...","error_description":"..."}`, or a bare `{"code","message"}`.
    pub fn parse_body(body: &[u8]) -> (Option<String>, Option<String>) {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => Self::parse_value(&v),
            Err(_) => (None, None),
        }
    }

    fn parse_value(v: &serde_json::Value) -> (Option<String>, Option<String>) {
        match v.get("error") {
            Some(serde_json::Value::Object(e)) => {
                (json_text(e.get("code")), json_text(e.get("message")))
            }
            Some(serde_json::Value::String(code)) => {
                (Some(code.clone()), json_text(v.get("error_description")))
            }
            _ => (json_text(v.get("code")), json_text(v.get("message"))),
        }
    }

    /// The entries of the body's `error.details` array (Azure Resource Manager and Resource
    /// Graph put the specific failure there), in order; empty when there are none.
    pub fn details(&self) -> &[ErrorDetail] {
        &self.details
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(reason) = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            write!(f, " {reason}")?;
        }
        write!(f, " from {} {}", self.method, self.url)?;
        match (self.code(), self.message()) {
            (Some(c), Some(m)) => write!(f, ": {c}: {m}")?,
            (None, Some(m)) => write!(f, ": {m}")?,
            (Some(c), None) => write!(f, ": {c}")?,
            (None, None) => {}
        }
        for (i, d) in self.details.iter().take(DETAILS_SHOWN).enumerate() {
            f.write_str(if i == 0 { " [" } else { "; " })?;
            let message = d
                .message()
                .map(|m| match m.char_indices().nth(DETAIL_TEXT_MAX) {
                    Some((cut, _)) => format!("{}...", &m[..cut]),
                    None => m.to_owned(),
                });
            match (d.code(), message) {
                (Some(c), Some(m)) => write!(f, "{c}: {m}")?,
                (Some(c), None) => f.write_str(c)?,
                (None, Some(m)) => f.write_str(&m)?,
                (None, None) => {}
            }
            if let Some(t) = d.target() {
                write!(f, " (target {t})")?;
            }
        }
        if self.details.len() > DETAILS_SHOWN {
            write!(f, "; {} more", self.details.len() - DETAILS_SHOWN)?;
        }
        if !self.details.is_empty() {
            f.write_str("]")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl StdError for ServiceError {}

/// Shows an error and its whole [`source`](StdError::source) chain on one line, each cause
/// once: `outer: cause: root cause`. Use it where an error reaches a person (logs, a CLI).
///
/// ```
/// use client_core::ErrorReport;
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot list agents")]
/// struct Outer(#[source] std::io::Error);
/// let e = Outer(std::io::Error::other("disk full"));
/// assert_eq!(ErrorReport(&e).to_string(), "cannot list agents: disk full");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorReport<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for ErrorReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // Older error types still repeat their source; print such text once.
            if !text.is_empty() && !shown.contains(&text) {
                shown.push_str(": ");
                shown.push_str(&text);
            }
            next = cause.source();
        }
        f.write_str(&shown)
    }
}

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
    fn resource_graph_details_reach_the_text_and_the_accessor() {
        // Resource Graph's answer to a bad query: the useful part is in `details`.
        let body = br#"{"error":{"code":"BadRequest","message":"Please provide below info when asking for support: timestamp = 2026-12-02T10:00:00Z, correlationId = c0ffee.","details":[{"code":"InvalidQuery","message":"Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying."},{"code":"ParserFailure","message":"ParserFailure","line":1,"characterPositionInLine":9,"token":"|"},{"code":"","message":""},"not an object",{"code":"Outer","details":[{"code":"Inner","message":"nested"}]}]}}"#;
        let e = ServiceError::from_parts(
            400,
            "POST",
            "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
            HeaderMap::new(),
            body,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let codes: Vec<_> = e.details().iter().map(|d| d.code()).collect();
        assert_eq!(
            codes,
            [
                Some("InvalidQuery"),
                Some("ParserFailure"),
                Some("Outer"),
                Some("Inner")
            ]
        );
        let text = e.to_string();
        assert!(
            text.contains("correlationId = c0ffee. [InvalidQuery: Query is invalid."),
            "{text}"
        );
        assert!(
            text.ends_with("; ParserFailure: ParserFailure; Outer; Inner: nested]"),
            "{text}"
        );
    }

    #[test]
    fn many_and_long_details_are_shown_cut() {
        let details: Vec<_> = (0..8)
            .map(|i| serde_json::json!({"code": format!("C{i}"), "message": "é".repeat(400), "target": "query"}))
            .collect();
        let body = serde_json::json!({"error": {"code": "BadRequest", "message": "m", "details": details}});
        let e = ServiceError::from_parts(
            400,
            "POST",
            "https://x/",
            HeaderMap::new(),
            body.to_string().as_bytes(),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(e.details().len(), 8);
        let text = e.to_string();
        assert!(
            text.contains(&format!("C0: {}... (target query); C1", "é".repeat(300))),
            "{text}"
        );
        assert!(text.contains("C4: ") && !text.contains("C5: "), "{text}");
        assert!(text.ends_with("; 3 more]"), "{text}");
    }

    #[test]
    fn graph_request_id_is_read_from_the_body_when_the_headers_lack_it() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2026-12-02T10:00:00","request-id":"4f0b-body","client-request-id":"77aa"}}}"#;
        let e = ServiceError::from_parts(
            403,
            "GET",
            "https://graph.microsoft.com/v1.0/users",
            HeaderMap::new(),
            body,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(e.request_id(), Some("4f0b-body"));
        // The header wins when both are there.
        let mut headers = HeaderMap::new();
        headers.insert("request-id", http::HeaderValue::from_static("4f0b-header"));
        let e = ServiceError::from_parts(
            403,
            "GET",
            "https://graph.microsoft.com/v1.0/users",
            headers,
            body,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(e.request_id(), Some("4f0b-header"));
        assert!(e.details().is_empty());
    }

    #[test]
    fn from_parts_reads_code_message_request_id_and_wait() {
        let mut headers = HeaderMap::new();
        headers.insert("REQ_ID", http::HeaderValue::from_static("req-7"));
        headers.insert("Retry-After", http::HeaderValue::from_static("3"));
        let e = ServiceError::from_parts(
            400,
            "POST",
            "accounts?$select=name",
            headers,
            br#"{"error":{"code":"0x80040237","message":"duplicate"}}"#,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(e.code(), Some("0x80040237"));
        assert_eq!(e.message(), Some("duplicate"));
        assert_eq!(e.request_id(), Some("req-7"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.url(), "accounts");
        assert_eq!(
            e.to_string(),
            "HTTP 400 Bad Request from POST accounts: 0x80040237: duplicate (request id req-7)"
        );
    }

    #[test]
    fn display_and_accessors() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-service-request-id",
            http::HeaderValue::from_static("rid-1"),
        );
        headers.insert("Retry-After", http::HeaderValue::from_static("3"));
        let e = Error::Service(Box::new(ServiceError::from_parts(
            429,
            "GET",
            "https://org.crm.dynamics.com/api/data/v9.2/bots",
            headers,
            br#"{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit"}}"#,
            time::OffsetDateTime::UNIX_EPOCH,
        )));
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

    /// Every error reachable from a client-core error: no `Display` repeats the text of its
    /// source, so a chain reporter never prints a cause twice.
    #[test]
    fn no_display_repeats_its_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("provider said no: AADSTS7000215")]
        struct Provider;
        let service = ServiceError::from_parts(
            500,
            "GET",
            "https://h/x",
            HeaderMap::new(),
            br#"{"error":{"code":"c","message":"m"}}"#,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let errors = [
            Error::from(TransportError::connect("connection refused").with_host("h")),
            Error::timeout("h", Duration::from_secs(1)),
            Error::from(
                CredentialError::new(crate::CredentialErrorKind::Rejected, "secret refused")
                    .with_source(Provider),
            ),
            Error::Service(Box::new(service)),
            Error::decode("a page", "expected value"),
            Error::invalid_url(&url::Url::parse("http://x.example/").unwrap(), "use https"),
            Error::invalid_request("bad header"),
        ];
        for e in &errors {
            assert_no_repeats(e);
        }
        assert_eq!(
            ErrorReport(&errors[2]).to_string(),
            "secret refused: provider said no: AADSTS7000215"
        );
    }

    fn assert_no_repeats(e: &(dyn StdError + 'static)) {
        let mut outer = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            assert!(
                !outer.contains(&text),
                "`{outer}` repeats its source `{text}`"
            );
            outer = text;
            next = cause.source();
        }
    }

    #[test]
    fn bad_urls_and_bad_requests_are_invalid_input_and_credentials_are_authentication() {
        let bad = crate::check_url(&url::Url::parse("http://x.example/").unwrap()).unwrap_err();
        assert!(bad.is_invalid_input() && !bad.is_retryable());
        assert!(crate::parse_url("::").unwrap_err().is_invalid_input());
        let cred = Error::from(CredentialError::not_configured("no secret"));
        assert!(cred.is_authentication() && cred.status().is_none());
        assert!(cred.credential().is_some());
    }
}

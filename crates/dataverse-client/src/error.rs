//! The error type of every Dataverse operation.

use client_core::ServiceError;
pub use client_core::error::{DecodeError, InvalidInputError, NextLinkLoopError};

/// Which service protection limit throttled a request.
///
/// Dataverse answers all three with `429 Too Many Requests` and a `Retry-After`; the code in
/// the body says which limit was hit. The Web API documents the hex codes, Microsoft's .NET
/// client compares the decimal ones: both are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ThrottleKind {
    /// Too many requests in the 300 s window (`0x80072322` / `-2147015902`).
    Requests,
    /// Too much combined execution time in the 300 s window (`0x80072321` / `-2147015903`).
    ExecutionTime,
    /// Too many concurrent requests (`0x80072326` / `-2147015898`).
    Concurrency,
}

impl ThrottleKind {
    /// Recognises a service protection error code, in hex (any case) or decimal.
    ///
    /// ```
    /// use dataverse_client::ThrottleKind;
    /// assert_eq!(ThrottleKind::from_code("0x80072322"), Some(ThrottleKind::Requests));
    /// assert_eq!(ThrottleKind::from_code("-2147015898"), Some(ThrottleKind::Concurrency));
    /// assert_eq!(ThrottleKind::from_code("0x80040217"), None);
    /// ```
    pub fn from_code(code: &str) -> Option<Self> {
        match code_value(code)? {
            0x8007_2322 => Some(Self::Requests),
            0x8007_2321 => Some(Self::ExecutionTime),
            0x8007_2326 => Some(Self::Concurrency),
            _ => None,
        }
    }
}

/// The code that says a change tracking delta token has expired (ExpiredVersionStamp).
pub(crate) const EXPIRED_VERSION_STAMP: u32 = 0x8004_4352;
/// The code for "Resource not found for the segment ..." (an unknown entity set or property).
pub(crate) const SEGMENT_NOT_FOUND: u32 = 0x8006_0888;

/// A Dataverse error code (`0x80072322`, `-2147015902` or `2147951394`) as its 32-bit value.
pub(crate) fn code_value(code: &str) -> Option<u32> {
    let code = code.trim();
    if let Some(hex) = code.strip_prefix("0x").or_else(|| code.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    let n: i64 = code.parse().ok()?;
    if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&n) {
        // Negative decimals are the HRESULT read as a signed 32-bit integer.
        Some(n as u32)
    } else {
        None
    }
}

/// A failed Dataverse operation.
///
/// Every variant wraps a type with private fields and accessors (after smithy-rs' RFC 22):
/// match on the variant for the kind of failure. Service answers keep their status, code,
/// message and request id (see the accessors); nothing in an error carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP exchange failed: transport, timeout, authentication, or an error status from
    /// the service (after the pipeline's retries).
    #[error(transparent)]
    Http(#[from] client_core::Error),
    /// The change tracking delta token has expired (ExpiredVersionStamp `0x80044352`, or a
    /// 400 about the delta token). Drop the delta link and run a full sync with
    /// [`DataverseClient::track_changes`](crate::DataverseClient::track_changes).
    #[error(transparent)]
    DeltaTokenExpired(DeltaTokenExpiredError),
    /// The service handed back a next link it had already given; paging stopped instead of
    /// looping for ever.
    #[error(transparent)]
    NextLinkLoop(NextLinkLoopError),
    /// A change tracking read ended without an `@odata.deltaLink`.
    #[error(transparent)]
    MissingDeltaLink(MissingDeltaLinkError),
    /// A response did not have the expected shape.
    #[error(transparent)]
    Decode(DecodeError),
    /// An argument cannot be sent as given; the message says what to change.
    #[error(transparent)]
    InvalidInput(InvalidInputError),
    /// A row lacks a column its row type reads: the query did not select it (a column that
    /// is selected is always present, `null` when empty), so it would otherwise read as empty.
    #[error(transparent)]
    MissingColumn(MissingColumnError),
    /// A `$batch` response could not be read as multipart/mixed.
    #[error(transparent)]
    Batch(BatchFormatError),
}

/// The change tracking delta token has expired; the service's answer is the source.
#[derive(Debug, thiserror::Error)]
#[error("the change tracking delta token has expired; drop it and start a full sync")]
pub struct DeltaTokenExpiredError {
    #[source]
    source: client_core::Error,
}

impl DeltaTokenExpiredError {
    /// The service's answer.
    pub fn http(&self) -> &client_core::Error {
        &self.source
    }
}

/// A change tracking read ended without an `@odata.deltaLink`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{url} returned no @odata.deltaLink: enable change tracking on the table \
     (EntityDefinition ChangeTrackingEnabled) and check the caller has organisation-level read"
)]
pub struct MissingDeltaLinkError {
    url: String,
}

impl MissingDeltaLinkError {
    /// The URL that was read, without its query.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A row that lacks a column its row type reads.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "a row of {entity_set} has no column `{column}`: add it to $select (Query::of selects \
     every column the row type declares)"
)]
pub struct MissingColumnError {
    entity_set: String,
    column: String,
}

impl MissingColumnError {
    /// The entity set queried.
    pub fn entity_set(&self) -> &str {
        &self.entity_set
    }

    /// The column the row type needs.
    pub fn column(&self) -> &str {
        &self.column
    }
}

/// A `$batch` response that could not be read as multipart/mixed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("malformed $batch response: {message}")]
pub struct BatchFormatError {
    message: String,
}

impl BatchFormatError {
    /// What is wrong with the response.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// How the pipeline's failures become this crate's [`Error`] (see
/// [`ErrorMapper`](client_core::ErrorMapper)).
pub(crate) struct Mapper;

impl client_core::ErrorMapper for Mapper {
    type Error = Error;

    fn pipeline_error(&self, error: client_core::Error) -> Error {
        Error::Http(error)
    }

    fn decode_error(&self, error: DecodeError) -> Error {
        Error::Decode(error)
    }
}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(InvalidInputError::new(message))
    }

    pub(crate) fn decode(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Decode(DecodeError::new(what, message))
    }

    pub(crate) fn malformed_batch(message: impl Into<String>) -> Self {
        Error::Batch(BatchFormatError {
            message: message.into(),
        })
    }

    pub(crate) fn missing_column(entity_set: impl Into<String>, column: impl Into<String>) -> Self {
        Error::MissingColumn(MissingColumnError {
            entity_set: entity_set.into(),
            column: column.into(),
        })
    }

    pub(crate) fn missing_delta_link(url: impl Into<String>) -> Self {
        Error::MissingDeltaLink(MissingDeltaLinkError { url: url.into() })
    }

    pub(crate) fn next_link_loop(url: impl Into<String>) -> Self {
        Error::NextLinkLoop(NextLinkLoopError::new(url))
    }

    pub(crate) fn delta_token_expired(source: client_core::Error) -> Self {
        Error::DeltaTokenExpired(DeltaTokenExpiredError { source })
    }

    /// The underlying HTTP error, if there is one.
    pub fn http(&self) -> Option<&client_core::Error> {
        match self {
            Error::Http(e) => Some(e),
            Error::DeltaTokenExpired(e) => Some(e.http()),
            _ => None,
        }
    }

    /// The service's error answer, if the service answered with an error status.
    pub fn service(&self) -> Option<&ServiceError> {
        self.http().and_then(client_core::Error::service)
    }

    /// The HTTP status of the service's error answer.
    pub fn status(&self) -> Option<u16> {
        self.http().and_then(client_core::Error::status)
    }

    /// Whether the service throttled the request (429, or a service protection code).
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429) || self.throttle().is_some()
    }

    /// Which service protection limit was hit, if the code says so.
    pub fn throttle(&self) -> Option<ThrottleKind> {
        self.service_code().and_then(ThrottleKind::from_code)
    }

    /// Whether the same request may succeed later (throttling, 5xx, transport failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether the row (or resource) does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether a write's precondition failed (412): a create-only upsert found an existing
    /// row, or an ETag no longer matches.
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    /// Whether this is an expired change tracking token (fall back to a full sync).
    pub fn is_delta_token_expired(&self) -> bool {
        matches!(self, Error::DeltaTokenExpired(_))
    }

    /// The service's error code (`0x80040217`, ...), if it sent a non-empty one.
    pub fn service_code(&self) -> Option<&str> {
        self.service().and_then(ServiceError::code)
    }

    /// The service's error message.
    pub fn service_message(&self) -> Option<&str> {
        self.service().and_then(ServiceError::message)
    }

    /// The service's request id, for support cases.
    pub fn request_id(&self) -> Option<&str> {
        self.http().and_then(client_core::Error::request_id)
    }

    /// How long the service asked the caller to wait.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.http().and_then(client_core::Error::retry_after)
    }
}

/// Whether a service error says the delta token expired: the ExpiredVersionStamp code in hex
/// or decimal, or the version stamp message, whatever the status (the Web API status of the
/// expiry is not documented); or a 400 whose message is about the delta token.
pub(crate) fn is_expired_delta(e: &client_core::Error) -> bool {
    let Some(s) = e.service() else {
        return false;
    };
    if s.code().and_then(code_value) == Some(EXPIRED_VERSION_STAMP) {
        return true;
    }
    let message = s.message().unwrap_or_default().to_ascii_lowercase();
    (message.contains("version stamp") && message.contains("expired"))
        || (s.status() == 400
            && (message.contains("version stamp")
                || message.contains("deltatoken")
                || message.contains("delta token")))
}

/// The URL without its query, for messages.
pub(crate) fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_in_hex_and_decimal() {
        for (hex, dec, kind) in [
            ("0x80072322", "-2147015902", ThrottleKind::Requests),
            ("0x80072321", "-2147015903", ThrottleKind::ExecutionTime),
            ("0x80072326", "-2147015898", ThrottleKind::Concurrency),
        ] {
            assert_eq!(ThrottleKind::from_code(hex), Some(kind));
            assert_eq!(
                ThrottleKind::from_code(&hex.to_uppercase().replace("0X", "0x")),
                Some(kind)
            );
            assert_eq!(ThrottleKind::from_code(dec), Some(kind));
        }
        assert_eq!(
            ThrottleKind::from_code("2147951394"),
            Some(ThrottleKind::Requests)
        );
        assert_eq!(ThrottleKind::from_code(""), None);
        assert_eq!(ThrottleKind::from_code("0x"), None);
        assert_eq!(ThrottleKind::from_code("-99999999999"), None);
        assert_eq!(code_value("-2147204270"), Some(EXPIRED_VERSION_STAMP));
        assert_eq!(code_value("0x80044352"), Some(EXPIRED_VERSION_STAMP));
    }
}

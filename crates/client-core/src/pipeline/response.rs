//! [`Response`]: a complete answer, and the service request id it carries.

use crate::{Error, ServiceError};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use std::fmt;
use url::Url;

/// Response headers that carry the service's request id, in order of preference.
pub(crate) const REQUEST_ID_HEADERS: [&str; 4] = [
    "x-ms-service-request-id",
    "x-ms-request-id",
    "request-id",
    "req_id",
];

/// The service's request id in `headers`, from the first header of [`REQUEST_ID_HEADERS`] present.
pub(crate) fn service_request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
}

/// A complete response (the body is read in full).
///
/// `Debug` shows the body's length, not the body: token endpoints answer with a token in it.
#[derive(Clone)]
pub struct Response {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) request_id: Option<String>,
    pub(super) client_request_id: String,
    pub(super) url: Url,
    pub(super) attempts: u32,
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
        let mut url = self.url.clone();
        url.set_query(None);
        url.set_fragment(None);
        let error = ServiceError::from_parts(
            self.status.as_u16(),
            method.as_str(),
            url.as_str(),
            self.headers,
            &self.body,
            now,
        )
        .with_client_request_id(self.client_request_id);
        Error::Service(Box::new(error))
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

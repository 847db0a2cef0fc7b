//! An in-process [`HttpTransport`] for tests: scripted answers, recorded requests, no sockets.
//!
//! ```
//! use client_core::mock::{MockTransport, reply};
//! use client_core::{Pipeline, Request};
//! use std::sync::Arc;
//!
//! # tokio_test_block(async {
//! let mock = Arc::new(MockTransport::new(|req| {
//!     assert_eq!(req.uri().path(), "/health");
//!     reply(200, r#"{"ok":true}"#).into()
//! }));
//! let pipeline = Pipeline::builder().transport(mock.clone()).build().unwrap();
//! let resp = pipeline
//!     .send(Request::get("https://example.com/health".parse().unwrap()).without_auth())
//!     .await
//!     .unwrap();
//! assert_eq!(resp.status(), 200);
//! assert_eq!(mock.requests().len(), 1);
//! # });
//! # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use crate::pipeline::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

/// What a [`MockTransport`] does with one request.
#[non_exhaustive]
pub enum MockReply {
    /// Answers with this response.
    Respond(HttpResponse),
    /// Fails as a transport would.
    Fail(TransportError),
    /// Never answers (the pipeline's timeout decides; use tokio's paused time).
    Hang,
}

impl From<HttpResponse> for MockReply {
    fn from(r: HttpResponse) -> Self {
        MockReply::Respond(r)
    }
}

impl From<TransportError> for MockReply {
    fn from(e: TransportError) -> Self {
        MockReply::Fail(e)
    }
}

/// A response with `status` and `body` (`Content-Type: application/json` when the body looks
/// like JSON). Add headers with [`with_header`].
pub fn reply(status: u16, body: impl Into<Bytes>) -> HttpResponse {
    let body = body.into();
    let mut r = http::Response::new(body.clone());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if body.first().is_some_and(|b| matches!(b, b'{' | b'[')) {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    r
}

/// `response` with one more header (an invalid name or value is ignored).
pub fn with_header(mut response: HttpResponse, name: &str, value: &str) -> HttpResponse {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        http::HeaderValue::from_str(value),
    ) {
        response.headers_mut().append(n, v);
    }
    response
}

/// A request as the mock saw it.
#[derive(Clone)]
pub struct RecordedRequest {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Bytes,
}

impl RecordedRequest {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The full URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers, including the ones the pipeline added.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // HeaderMap's Debug hides values marked sensitive (the bearer token).
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

type Handler = Box<dyn Fn(&HttpRequest) -> MockReply + Send + Sync>;

/// An [`HttpTransport`] that answers from a handler or a script and records every request.
pub struct MockTransport {
    handler: Handler,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockTransport")
            .field("requests", &self.request_count())
            .finish()
    }
}

impl MockTransport {
    /// Answers each request with what `handler` returns for it.
    pub fn new(handler: impl Fn(&HttpRequest) -> MockReply + Send + Sync + 'static) -> Self {
        Self {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Answers requests with `replies` in order; once they run out, every request fails as a
    /// refused connection.
    pub fn script(replies: impl IntoIterator<Item = MockReply>) -> Self {
        let queue = Mutex::new(replies.into_iter().collect::<VecDeque<_>>());
        Self::new(move |_| {
            queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
                .unwrap_or_else(|| {
                    MockReply::Fail(TransportError::connect("the mock's script has run out"))
                })
        })
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

#[async_trait]
impl HttpTransport for MockTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RecordedRequest {
                method: request.method().clone(),
                url: request.uri().to_string(),
                headers: request.headers().clone(),
                body: request.body().clone(),
            });
        match (self.handler)(&request) {
            MockReply::Respond(r) => Ok(r),
            MockReply::Fail(e) => Err(e),
            MockReply::Hang => std::future::pending().await,
        }
    }
}

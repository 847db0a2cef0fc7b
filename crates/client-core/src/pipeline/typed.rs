//! Sending and decoding in a client crate's own error type: the one place where a pipeline
//! failure or an unreadable JSON answer becomes, say, a `dataverse_client::Error`.

use super::{Pipeline, Request, Response};
use crate::Error;
use crate::error::DecodeError;
use serde::de::DeserializeOwned;

/// How a client crate turns the pipeline's failures into its own error type, which keeps its
/// service's typed error body.
///
/// Implement it on a unit type for a crate whose errors need no context, or on a value that
/// carries context (such as the API a request went to).
///
/// ```
/// use client_core::error::DecodeError;
/// use client_core::mock::{MockTransport, reply};
/// use client_core::{ErrorMapper, Pipeline, Request};
/// use std::sync::Arc;
///
/// #[derive(Debug)]
/// enum MyError {
///     Http(client_core::Error),
///     Decode(DecodeError),
/// }
///
/// struct Mine;
///
/// impl ErrorMapper for Mine {
///     type Error = MyError;
///     fn pipeline_error(&self, e: client_core::Error) -> MyError {
///         MyError::Http(e)
///     }
///     fn decode_error(&self, e: DecodeError) -> MyError {
///         MyError::Decode(e)
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mock = Arc::new(MockTransport::new(|_| reply(200, r#"{"n":1}"#).into()));
/// let pipeline = Pipeline::builder().transport(mock).build().unwrap();
/// let url = "https://example.com/n".parse().unwrap();
/// let n: serde_json::Value = pipeline
///     .send_json(Request::get(url).without_auth(), &Mine)
///     .await
///     .unwrap();
/// assert_eq!(n["n"], 1);
/// # });
/// ```
pub trait ErrorMapper {
    /// The crate's error type.
    type Error;

    /// A failed exchange: transport, timeout, authentication, or an error status after the
    /// pipeline's retries.
    fn pipeline_error(&self, error: Error) -> Self::Error;

    /// A successful answer whose body is not the JSON expected.
    fn decode_error(&self, error: DecodeError) -> Self::Error;
}

impl Response {
    /// Decodes the body as JSON into `T`; a body that does not fit becomes `mapper`'s error,
    /// naming the URL path (never the body, which may hold anything).
    pub fn json_as<T: DeserializeOwned, M: ErrorMapper + ?Sized>(
        &self,
        mapper: &M,
    ) -> Result<T, M::Error> {
        serde_json::from_slice(self.body()).map_err(|e| {
            mapper.decode_error(DecodeError::new(
                format!("the JSON response of {}", self.url().path()),
                e,
            ))
        })
    }
}

impl Pipeline {
    /// [`send`](Self::send), failing with `mapper`'s error type.
    pub async fn send_as<M: ErrorMapper + ?Sized>(
        &self,
        request: Request,
        mapper: &M,
    ) -> Result<Response, M::Error> {
        self.send(request)
            .await
            .map_err(|e| mapper.pipeline_error(e))
    }

    /// Sends `request` (asking for `application/json` unless it names an `Accept` already) and
    /// decodes the answer into `T`, failing with `mapper`'s error type.
    pub async fn send_json<T: DeserializeOwned, M: ErrorMapper + ?Sized>(
        &self,
        request: Request,
        mapper: &M,
    ) -> Result<T, M::Error> {
        let request = if request.has_header("accept") {
            request
        } else {
            request.header("accept", "application/json")
        };
        self.send_as(request, mapper).await?.json_as(mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{MockTransport, reply};
    use std::sync::Arc;

    #[derive(Debug)]
    enum Mapped {
        Pipeline(u16),
        Decode(String),
    }

    struct Tag;

    impl ErrorMapper for Tag {
        type Error = Mapped;
        fn pipeline_error(&self, e: Error) -> Mapped {
            Mapped::Pipeline(e.status().unwrap_or_default())
        }
        fn decode_error(&self, e: DecodeError) -> Mapped {
            Mapped::Decode(e.to_string())
        }
    }

    fn pipeline(status: u16, body: &'static str) -> (Pipeline, Arc<MockTransport>) {
        let mock = Arc::new(MockTransport::new(move |_| reply(status, body).into()));
        let p = Pipeline::builder()
            .transport(mock.clone())
            .retry_policy(crate::RetryPolicy::default().with_max_attempts(1))
            .build()
            .unwrap();
        (p, mock)
    }

    fn get() -> Request {
        Request::get("https://example.com/api/things?secret=1".parse().unwrap()).without_auth()
    }

    #[tokio::test]
    async fn errors_become_the_mappers_type() {
        let (p, mock) = pipeline(200, r#"{"a":[1,2]}"#);
        let v: serde_json::Value = p.send_json(get(), &Tag).await.unwrap();
        assert_eq!(v["a"][1], 2);
        let sent = mock.requests();
        assert_eq!(sent[0].headers()["accept"], "application/json");

        let (p, _) = pipeline(200, "<html>secret page</html>");
        match p.send_json::<serde_json::Value, _>(get(), &Tag).await {
            Err(Mapped::Decode(m)) => {
                assert!(m.contains("/api/things"), "{m}");
                assert!(!m.contains("secret"), "{m}");
            }
            other => panic!("{other:?}"),
        }

        let (p, _) = pipeline(404, r#"{"error":{"code":"NotFound"}}"#);
        match p.send_as(get(), &Tag).await {
            Err(Mapped::Pipeline(404)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_accept_header_given_is_kept() {
        let (p, mock) = pipeline(200, "{}");
        let _: serde_json::Value = p
            .send_json(
                get().header("accept", "application/json;odata.metadata=none"),
                &Tag,
            )
            .await
            .unwrap();
        let sent = mock.requests();
        let accepts: Vec<_> = sent[0].headers().get_all("accept").iter().collect();
        assert_eq!(accepts, ["application/json;odata.metadata=none"]);
    }
}

//! A stand-in for Akto's Data Ingestion Service: `POST /api/ingestData` with
//! `{"batchData":[record, ...]}`. Accepted records are kept so tests and demos can read them.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

/// Largest string value Akto accepts (5 MB).
pub const MAX_STRING_BYTES: usize = 5 * 1024 * 1024;
/// Largest request Akto accepts (10 MB).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// The one record field that is not a string.
const BOOLEAN_FIELD: &str = "publishToGuardrails";

struct Inner {
    records: Mutex<Vec<Map<String, Value>>>,
    batches: Mutex<u64>,
    token: RwLock<Option<String>>,
    changed: Notify,
}

/// The ingestion endpoint's state; clone it to read accepted records.
#[derive(Clone)]
pub struct Ingestion {
    inner: Arc<Inner>,
}

impl fmt::Debug for Ingestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ingestion")
            .field("records", &self.len())
            .field("auth", &self.requires_token())
            .finish()
    }
}

impl Default for Ingestion {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Ingestion {
    /// An endpoint that checks `authorization` against `token` when one is given.
    pub fn new(token: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                records: Mutex::new(Vec::new()),
                batches: Mutex::new(0),
                token: RwLock::new(token),
                changed: Notify::new(),
            }),
        }
    }

    /// Turns the `authorization` check on (with this token) or off.
    pub fn set_token(&self, token: Option<String>) {
        *self
            .inner
            .token
            .write()
            .unwrap_or_else(PoisonError::into_inner) = token;
    }

    /// Whether requests must carry the token.
    pub fn requires_token(&self) -> bool {
        self.inner
            .token
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Every accepted record, in arrival order.
    pub fn records(&self) -> Vec<Map<String, Value>> {
        self.inner
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many records were accepted.
    pub fn len(&self) -> usize {
        self.inner
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no record was accepted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many batches were accepted.
    pub fn batches(&self) -> u64 {
        *self
            .inner
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the accepted records.
    pub fn clear(&self) {
        self.inner
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self
            .inner
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = 0;
    }

    /// Waits until at least `n` records were accepted, or `timeout` passes (real time).
    /// Returns whether `n` was reached.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.inner.changed.notified();
                if self.len() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    pub(crate) fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/api/ingestData", axum::routing::post(ingest))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(self.clone())
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn unprocessable(message: String) -> Response {
    tracing::debug!(%message, "ingestion batch refused");
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"success": false, "error": message}),
    )
}

/// Checks one batch; says what is wrong with it.
fn parse_batch(body: &[u8]) -> Result<Vec<Map<String, Value>>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(mut top) = value else {
        return Err("the body must be a JSON object {\"batchData\":[...]}".to_owned());
    };
    let batch = match top.remove("batchData") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err("batchData must be an array of records".to_owned()),
        None => return Err("batchData is missing".to_owned()),
    };
    batch
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let Value::Object(record) = record else {
                return Err(format!("batchData[{i}] must be an object"));
            };
            for (key, value) in &record {
                match value {
                    Value::Bool(_) if key == BOOLEAN_FIELD => {}
                    _ if key == BOOLEAN_FIELD => {
                        return Err(format!("batchData[{i}].{key} must be a boolean"));
                    }
                    Value::String(s) if s.len() > MAX_STRING_BYTES => {
                        return Err(format!(
                            "batchData[{i}].{key} is longer than {MAX_STRING_BYTES} bytes"
                        ));
                    }
                    Value::String(_) => {}
                    _ => {
                        return Err(format!(
                            "batchData[{i}].{key} must be a string (encode JSON objects into strings)"
                        ));
                    }
                }
            }
            Ok(record)
        })
        .collect()
}

async fn ingest(State(ingestion): State<Ingestion>, headers: HeaderMap, body: Bytes) -> Response {
    let expected = ingestion
        .inner
        .token
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(expected) = expected {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(expected.as_str()) {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({"success": false, "error": "Unauthorized: the authorization header must carry the ingestion token (raw, without \"Bearer\")"}),
            );
        }
    }
    let records = match parse_batch(&body) {
        Ok(records) => records,
        Err(message) => return unprocessable(message),
    };
    let count = records.len();
    ingestion
        .inner
        .records
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(records);
    *ingestion
        .inner
        .batches
        .lock()
        .unwrap_or_else(PoisonError::into_inner) += 1;
    ingestion.inner.changed.notify_waiters();
    tracing::debug!(count, "ingestion batch accepted");
    reply(StatusCode::OK, json!({"success": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_validation() {
        assert!(parse_batch(b"nope").unwrap_err().contains("not JSON"));
        assert!(parse_batch(b"[]").is_err());
        assert!(parse_batch(br#"{}"#).unwrap_err().contains("missing"));
        assert!(
            parse_batch(br#"{"batchData":{}}"#)
                .unwrap_err()
                .contains("array")
        );
        assert!(
            parse_batch(br#"{"batchData":[1]}"#)
                .unwrap_err()
                .contains("[0]")
        );
        let err = parse_batch(br#"{"batchData":[{"path":"/a"},{"statusCode":200}]}"#).unwrap_err();
        assert!(err.contains("batchData[1].statusCode"), "{err}");
        assert!(parse_batch(br#"{"batchData":[{"publishToGuardrails":"yes"}]}"#).is_err());
        let ok =
            parse_batch(br#"{"batchData":[{"path":"/a","publishToGuardrails":true}]}"#).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(parse_batch(br#"{"batchData":[]}"#).unwrap().len(), 0);
    }
}

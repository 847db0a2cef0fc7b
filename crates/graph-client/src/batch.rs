//! JSON batching: up to 20 requests in one `POST /$batch`, answers matched by id.

use crate::error::{GraphError, GraphErrorBody};
use crate::{ApiVersion, Error, GraphClient};
use client_core::Request;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The most requests Graph accepts in one JSON batch.
pub const MAX_BATCH_REQUESTS: usize = 20;

/// How many times a request that a batch answered with 429 or 503 is sent again.
const PART_RETRIES: u32 = 5;

/// One request inside a JSON batch.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BatchRequest {
    /// The id its answer carries; unique within one [`GraphClient::batch`] call.
    pub id: String,
    /// The method (`GET`, ...).
    pub method: String,
    /// The URL relative to the version root, e.g. `/users/{id}?$select=id`.
    pub url: String,
    /// Headers of this request (`ConsistencyLevel`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, for writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl BatchRequest {
    /// A GET of `url` (relative to the version root: `/users/{id}`), answered under `id`.
    pub fn get(id: impl Into<String>, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            id: id.into(),
            method: "GET".into(),
            url: if url.starts_with('/') {
                url
            } else {
                format!("/{url}")
            },
            headers: BTreeMap::new(),
            body: None,
        }
    }

    /// Adds a header to this request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// The answer to one [`BatchRequest`].
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct BatchResponse {
    /// The id of the request it answers.
    pub id: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Its body (JSON; a non-JSON body arrives base64-encoded as a string).
    #[serde(default)]
    pub body: serde_json::Value,
}

impl BatchResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }

    /// The error this answer describes, if its status is not 2xx.
    pub fn error(&self, request: &str) -> Option<Error> {
        if self.is_success() {
            return None;
        }
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        Some(Error::Graph(Box::new(GraphError::new(
            self.status,
            format!("{request} (in $batch, id {})", self.id),
            GraphErrorBody::parse(&body),
            self.header("request-id").map(str::to_owned),
            self.retry_after(),
        ))))
    }

    /// Decodes a 2xx body as `T`, or returns the answer's error.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        if let Some(e) = self.error("request") {
            return Err(e);
        }
        T::deserialize(&self.body)
            .map_err(|e| Error::decode(format!("the $batch answer {}", self.id), e))
    }
}

#[derive(Serialize)]
struct BatchBody<'a> {
    requests: &'a [BatchRequest],
}

#[derive(Deserialize)]
struct BatchAnswer {
    responses: Vec<BatchResponse>,
}

impl GraphClient {
    /// Sends `requests` as JSON batches of at most [`MAX_BATCH_REQUESTS`] to the default
    /// version's `$batch`, and returns one answer per request, in the order given.
    ///
    /// Graph may answer a batch's requests in any order; answers are matched by id. A
    /// request answered with 429 or 503 is sent again in a later batch, after the longest
    /// `Retry-After` of its batch (or an exponential backoff without one), up to 5 times; its
    /// last answer is returned. Other error answers are returned as they are: see
    /// [`BatchResponse::error`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for duplicate or empty ids; the batch request's own failure;
    /// [`Error::Decode`] if an answer is missing or unreadable.
    pub async fn batch(&self, requests: Vec<BatchRequest>) -> Result<Vec<BatchResponse>, Error> {
        self.batch_in(self.inner.version, requests).await
    }

    /// [`batch`](Self::batch) against `version`'s `$batch`.
    pub async fn batch_in(
        &self,
        version: ApiVersion,
        requests: Vec<BatchRequest>,
    ) -> Result<Vec<BatchResponse>, Error> {
        let mut ids = HashSet::new();
        for r in &requests {
            if r.id.is_empty() {
                return Err(Error::invalid("a $batch request has an empty id"));
            }
            if !ids.insert(r.id.as_str()) {
                return Err(Error::invalid(format!(
                    "two $batch requests share the id `{}`: ids must be unique",
                    r.id
                )));
            }
        }
        let mut answers: HashMap<String, BatchResponse> = HashMap::new();
        let mut pending: Vec<&BatchRequest> = requests.iter().collect();
        let mut round = 0u32;
        while !pending.is_empty() {
            let mut retry: Vec<&BatchRequest> = Vec::new();
            let mut wait: Option<Duration> = None;
            for chunk in pending.chunks(MAX_BATCH_REQUESTS) {
                let owned: Vec<BatchRequest> = chunk.iter().map(|r| (*r).clone()).collect();
                for answer in self.send_batch(version, &owned).await? {
                    let throttled = answer.status == 429 || answer.status == 503;
                    if throttled && round < PART_RETRIES {
                        if let Some(r) = chunk.iter().find(|r| r.id == answer.id) {
                            retry.push(r);
                        }
                        let asked = answer.retry_after().unwrap_or_else(|| backoff(round));
                        wait = Some(wait.map_or(asked, |w| w.max(asked)));
                    }
                    answers.insert(answer.id.clone(), answer);
                }
            }
            if !retry.is_empty() {
                let delay = wait.unwrap_or_else(|| backoff(round));
                tracing::info!(
                    requests = retry.len(),
                    delay_ms = delay.as_millis() as u64,
                    "$batch: throttled requests sent again"
                );
                self.inner.pipeline.clock().sleep(delay).await;
            }
            pending = retry;
            round += 1;
        }
        requests
            .iter()
            .map(|r| {
                answers.remove(&r.id).ok_or_else(|| {
                    Error::decode("a $batch response", format!("no answer for id `{}`", r.id))
                })
            })
            .collect()
    }

    async fn send_batch(
        &self,
        version: ApiVersion,
        requests: &[BatchRequest],
    ) -> Result<Vec<BatchResponse>, Error> {
        let url = self.url_in(version, "$batch")?;
        let only_reads = requests
            .iter()
            .all(|r| r.method.eq_ignore_ascii_case("GET"));
        let req = Request::post(url)
            .header("accept", "application/json")
            .json(&BatchBody { requests })
            .idempotent(only_reads);
        let resp = self.send(req).await?;
        let answer: BatchAnswer = serde_json::from_slice(resp.body())
            .map_err(|e| Error::decode("a $batch response", e))?;
        let sent: HashSet<&str> = requests.iter().map(|r| r.id.as_str()).collect();
        let mut seen = HashSet::new();
        for a in &answer.responses {
            if !sent.contains(a.id.as_str()) || !seen.insert(a.id.clone()) {
                return Err(Error::decode(
                    "a $batch response",
                    format!("unexpected or repeated answer id `{}`", a.id),
                ));
            }
        }
        if let Some(missing) = requests.iter().find(|r| !seen.contains(&r.id)) {
            return Err(Error::decode(
                "a $batch response",
                format!("no answer for id `{}`", missing.id),
            ));
        }
        Ok(answer.responses)
    }
}

/// 1 s, 2 s, 4 s, ... capped at 60 s.
fn backoff(round: u32) -> Duration {
    Duration::from_secs(1u64 << round.min(6)).min(Duration::from_secs(60))
}

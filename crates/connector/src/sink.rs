//! Where records go: the [`Sink`] trait, Akto's Data Ingestion Service and JSON Lines.
//!
//! A sink receives records already serialised as JSON (one Akto ingestion record each) in
//! batches, and returns only once the batch is durably accepted: the connector advances its
//! checkpoint after `deliver` returns `Ok`, never before.

use async_trait::async_trait;
use client_core::{Pipeline, Request, Secret};
use serde_json::value::RawValue;
use std::fmt;
use std::path::Path;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use url::Url;

/// One record, serialised.
pub type RecordJson = Box<RawValue>;

/// A failed delivery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The destination refused the batch for a reason that retrying will not change (bad token,
    /// malformed batch).
    #[error("{destination} refused the batch (HTTP {status}): {message}. {fix}")]
    Rejected {
        /// The destination.
        destination: String,
        /// The HTTP status.
        status: u16,
        /// What the service said.
        message: String,
        /// What to do about it.
        fix: String,
    },
    /// The destination could not be reached or kept failing after the retries.
    #[error("{destination} is unavailable: {source}")]
    Unavailable {
        /// The destination.
        destination: String,
        /// The last failure.
        #[source]
        source: client_core::Error,
    },
    /// The destination did not accept a batch within the delivery deadline (a service that
    /// takes connections and never answers, or keeps failing): the pass stops here.
    #[error(
        "{destination} did not accept the batch within {} (the delivery deadline); the next run resumes from the checkpoint. Fix: check that the ingestion service is up and answering, or raise --delivery-timeout (COPILOT_CONNECTOR_DELIVERY_TIMEOUT)",
        crate::config::format_duration(*.deadline)
    )]
    DeadlineExceeded {
        /// The destination.
        destination: String,
        /// The deadline that passed.
        deadline: std::time::Duration,
    },
    /// Writing to a file or stream failed.
    #[error("cannot write to {destination}: {source}")]
    Io {
        /// The file or stream.
        destination: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl SinkError {
    /// Whether the destination refused the records themselves (HTTP 413 too large, 422
    /// malformed): resending them unchanged cannot succeed, though other records may.
    pub fn refuses_content(&self) -> bool {
        matches!(
            self,
            SinkError::Rejected {
                status: 413 | 422,
                ..
            }
        )
    }

    /// The HTTP status of a refusal, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            SinkError::Rejected { status, .. } => Some(*status),
            SinkError::Unavailable { source, .. } => source.status(),
            SinkError::Io { .. } | SinkError::DeadlineExceeded { .. } => None,
        }
    }
}

/// What a destination accepts in one delivery. The pass splits batches to fit, and a record
/// that can never fit is reported and skipped instead of failing every run after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SinkLimits {
    /// The largest request body [`batch_body`] may produce, in bytes (`None`: no limit).
    pub max_batch_bytes: Option<usize>,
    /// The largest string value of one record, in bytes once decoded (`None`: no limit).
    pub max_string_bytes: Option<usize>,
}

/// Akto's ingestion service refuses requests over 10 MB and strings over 5 MB; decimal
/// megabytes, the smaller reading, so either reading of "MB" is respected.
pub const AKTO_MAX_REQUEST_BYTES: usize = 10_000_000;
/// See [`AKTO_MAX_REQUEST_BYTES`].
pub const AKTO_MAX_STRING_BYTES: usize = 5_000_000;

impl SinkLimits {
    /// No limit.
    pub const NONE: SinkLimits = SinkLimits {
        max_batch_bytes: None,
        max_string_bytes: None,
    };

    /// Akto's Data Ingestion Service: 10 MB per request, 5 MB per string.
    pub const AKTO: SinkLimits = SinkLimits {
        max_batch_bytes: Some(AKTO_MAX_REQUEST_BYTES),
        max_string_bytes: Some(AKTO_MAX_STRING_BYTES),
    };

    /// Limits with a maximal request body and string size.
    pub fn new(max_batch_bytes: Option<usize>, max_string_bytes: Option<usize>) -> Self {
        Self {
            max_batch_bytes,
            max_string_bytes,
        }
    }

    /// Why `record` can never be delivered within these limits, or `None` when it can.
    pub fn refuses(&self, record: &RawValue) -> Option<String> {
        let len = record.get().len();
        if let Some(max) = self.max_batch_bytes
            && batch_body_len(len, 1) > max
        {
            return Some(format!(
                "the record is {len} bytes, over the destination's {max}-byte request limit"
            ));
        }
        // A decoded string is never longer than the record's text: parse only big records.
        if let Some(max) = self.max_string_bytes
            && len > max
        {
            let fields: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(record.get()).ok()?;
            for (key, value) in fields {
                if let serde_json::Value::String(s) = value
                    && s.len() > max
                {
                    return Some(format!(
                        "its `{key}` is {} bytes, over the destination's {max}-byte string limit",
                        s.len()
                    ));
                }
            }
        }
        None
    }
}

/// The length of [`batch_body`] for `count` records of `records_len` bytes in all.
pub fn batch_body_len(records_len: usize, count: usize) -> usize {
    // `{"batchData":[` + records + commas + `]}`
    records_len
        .saturating_add(count.saturating_sub(1))
        .saturating_add(16)
}

/// A destination for records. Implement it to send records somewhere else.
///
/// `deliver` must return `Ok` only once the destination has accepted every record of the batch;
/// it may be called again with the same records after a crash (delivery is at least once).
///
/// ```
/// use connector::sink::{RecordJson, Sink, SinkError};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// /// Counts records instead of sending them.
/// #[derive(Debug, Default)]
/// struct Counter(AtomicUsize);
///
/// #[async_trait::async_trait]
/// impl Sink for Counter {
///     fn describe(&self) -> String {
///         "a counter".into()
///     }
///     async fn deliver(&self, records: &[RecordJson]) -> Result<(), SinkError> {
///         self.0.fetch_add(records.len(), Ordering::SeqCst);
///         Ok(())
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sink = Counter::default();
/// let record = serde_json::value::RawValue::from_string(r#"{"path":"/a"}"#.into()).unwrap();
/// sink.deliver(&[record]).await.unwrap();
/// assert_eq!(sink.0.load(Ordering::SeqCst), 1);
/// # });
/// ```
#[async_trait]
pub trait Sink: Send + Sync + fmt::Debug {
    /// A short description for messages, e.g. `Akto ingestion at https://...`.
    fn describe(&self) -> String;

    /// Delivers one batch.
    async fn deliver(&self, records: &[RecordJson]) -> Result<(), SinkError>;

    /// What one delivery may hold (default: no limit beyond the batch size).
    fn limits(&self) -> SinkLimits {
        SinkLimits::NONE
    }
}

/// Akto's Data Ingestion Service: `POST {base}/api/ingestData` with `{"batchData":[...]}` and the
/// raw token in the `authorization` header. Failures are retried by the client-core pipeline
/// (backoff, `Retry-After`); what is left after the retries is returned.
#[derive(Clone)]
pub struct AktoSink {
    endpoint: Url,
    token: Option<Secret>,
    pipeline: Pipeline,
    deadline: Option<std::time::Duration>,
}

impl fmt::Debug for AktoSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AktoSink")
            .field("endpoint", &self.endpoint.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The ingestion path under the service's base URL.
pub const INGEST_PATH: &str = "api/ingestData";

impl AktoSink {
    /// A sink for the service at `base` (e.g. `https://akto-ingest.example.com`), sending
    /// through `pipeline` (which should carry no credential: Akto's token is sent as is).
    pub fn new(
        base: &Url,
        token: Option<Secret>,
        pipeline: Pipeline,
    ) -> Result<Self, url::ParseError> {
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            endpoint: base.join(INGEST_PATH)?,
            token,
            pipeline,
            deadline: None,
        })
    }

    /// Bounds the total time of one delivery, retries and waits included (none by default):
    /// past it, [`Sink::deliver`] fails with [`SinkError::DeadlineExceeded`].
    #[must_use]
    pub fn with_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The full ingestion URL.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn request(&self, body: Vec<u8>) -> Request {
        let mut req = Request::post(self.endpoint.clone())
            .without_auth()
            .body(body, "application/json")
            // Resending a batch after a lost response may duplicate it, which at-least-once
            // delivery accepts; giving up would stop the run instead.
            .idempotent(true);
        if let Some(token) = &self.token {
            req = req.header("authorization", token.expose());
        }
        req
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), SinkError> {
        let destination = self.describe();
        let send = self.pipeline.send(self.request(body));
        let sent = match self.deadline {
            Some(deadline) => match tokio::time::timeout(deadline, send).await {
                Ok(sent) => sent,
                Err(_) => {
                    return Err(SinkError::DeadlineExceeded {
                        destination,
                        deadline,
                    });
                }
            },
            None => send.await,
        };
        match sent {
            Ok(resp) => {
                // Akto answers {"success":true}; an explicit false is a refusal.
                let refused = serde_json::from_slice::<serde_json::Value>(resp.body())
                    .ok()
                    .and_then(|v| v.get("success").and_then(serde_json::Value::as_bool))
                    == Some(false);
                if refused {
                    return Err(SinkError::Rejected {
                        destination,
                        status: resp.status().as_u16(),
                        message: String::from_utf8_lossy(resp.body())
                            .chars()
                            .take(500)
                            .collect(),
                        fix: "check the ingestion service's logs".into(),
                    });
                }
                Ok(())
            }
            Err(e) => match e.status() {
                Some(status @ (401 | 403)) => Err(SinkError::Rejected {
                    destination,
                    status,
                    message: service_message(&e),
                    fix: "set AKTO_JWT_TOKEN to a valid token for this Akto account".into(),
                }),
                Some(status @ (400 | 404 | 405 | 413 | 422)) => Err(SinkError::Rejected {
                    destination,
                    status,
                    message: service_message(&e),
                    fix: if status == 404 || status == 405 {
                        "check DATA_INGESTION_SERVICE_URL: it must be the service's base URL (the connector adds /api/ingestData)".into()
                    } else {
                        "the batch was malformed or too large; report this with the run's -v log"
                            .into()
                    },
                }),
                _ => Err(SinkError::Unavailable {
                    destination,
                    source: e,
                }),
            },
        }
    }

    /// Sends an empty batch: checks that the service is reachable and accepts the token,
    /// without ingesting anything.
    pub async fn probe(&self) -> Result<(), SinkError> {
        self.post(br#"{"batchData":[]}"#.to_vec()).await
    }
}

fn service_message(e: &client_core::Error) -> String {
    e.service()
        .and_then(|s| s.message().map(str::to_owned))
        .unwrap_or_else(|| e.to_string())
}

/// `{"batchData":[r1,r2,...]}` without re-serialising the records.
pub fn batch_body(records: &[RecordJson]) -> Vec<u8> {
    let len: usize = records.iter().map(|r| r.get().len() + 1).sum();
    let mut body = Vec::with_capacity(len + 16);
    body.extend_from_slice(br#"{"batchData":["#);
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r.get().as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

#[async_trait]
impl Sink for AktoSink {
    fn describe(&self) -> String {
        format!("Akto ingestion at {}", self.endpoint)
    }

    async fn deliver(&self, records: &[RecordJson]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        self.post(batch_body(records)).await
    }

    fn limits(&self) -> SinkLimits {
        SinkLimits::AKTO
    }
}

enum Out {
    File(std::sync::Arc<std::fs::File>),
    Stdout(tokio::io::Stdout),
}

/// A partial last line found, and cut off, when a JSON Lines file was opened: what an
/// interrupted write (a crash, `kill -9`, a full disk) left behind. The records in it were never
/// counted as delivered, so they are written again in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// Where the partial line started (the file's new length).
    pub offset: u64,
    /// How many bytes were cut off.
    pub bytes: u64,
}

/// JSON Lines: one record per line, appended to a file (synced to disk before a batch counts
/// as delivered) or written to standard output.
///
/// A file holds whole lines only: each batch goes out in one write, a failed write is cut back
/// to where the batch started, and a partial last line left by a crash is cut off (and
/// reported) when the file is opened again, before anything is appended to it.
pub struct JsonLinesSink {
    out: Mutex<Out>,
    name: String,
    repaired: Option<TornTail>,
}

impl fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesSink")
            .field("to", &self.name)
            .field("repaired", &self.repaired)
            .finish()
    }
}

/// Cuts a partial last line off `file`: everything after its last newline.
fn repair_torn_tail(file: &std::fs::File) -> std::io::Result<Option<TornTail>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut reader = file;
    // Scan backwards for the last newline, a block at a time.
    const BLOCK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; usize::try_from(BLOCK).unwrap_or(65_536)];
    let mut keep = 0u64;
    let mut first_block = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let n = usize::try_from(end - start).unwrap_or(buf.len());
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(&mut buf[..n])?;
        if first_block && buf[n - 1] == b'\n' {
            return Ok(None);
        }
        first_block = false;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    file.set_len(keep)?;
    file.sync_all()?;
    Ok(Some(TornTail {
        offset: keep,
        bytes: len - keep,
    }))
}

impl JsonLinesSink {
    /// Appends to `path`, creating it (and its directory) if needed. A partial last line left
    /// by an interrupted earlier run is cut off first and reported (see
    /// [`JsonLinesSink::repaired`]).
    pub async fn file(path: &Path) -> Result<Self, SinkError> {
        let io = |source| SinkError::Io {
            destination: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let owned = path.to_owned();
        let (file, repaired) = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&owned)?;
            let repaired = repair_torn_tail(&file)?;
            Ok::<_, std::io::Error>((file, repaired))
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
        let name = path.display().to_string();
        if let Some(t) = repaired {
            tracing::warn!(
                file = %name,
                offset = t.offset,
                bytes = t.bytes,
                "cut off a partial last line left by an interrupted run; its records were not counted as delivered and are written again"
            );
        }
        Ok(Self {
            out: Mutex::new(Out::File(std::sync::Arc::new(file))),
            name,
            repaired,
        })
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self {
            out: Mutex::new(Out::Stdout(tokio::io::stdout())),
            name: "standard output".into(),
            repaired: None,
        }
    }

    /// The partial last line cut off when the file was opened, if there was one.
    pub fn repaired(&self) -> Option<TornTail> {
        self.repaired
    }
}

/// Appends `buf` in one write and syncs it; on failure the file is cut back to its length
/// before, so it never ends in part of a batch.
fn append_whole(file: &std::fs::File, buf: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let before = file.metadata()?.len();
    let mut writer = file;
    let written = writer.write_all(buf).and_then(|()| file.sync_data());
    if let Err(e) = written {
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}

#[async_trait]
impl Sink for JsonLinesSink {
    fn describe(&self) -> String {
        format!("JSON Lines to {}", self.name)
    }

    async fn deliver(&self, records: &[RecordJson]) -> Result<(), SinkError> {
        let len = records
            .iter()
            .try_fold(0usize, |n, r| n.checked_add(r.get().len())?.checked_add(1));
        let mut buf = Vec::with_capacity(len.unwrap_or(0));
        for r in records {
            buf.extend_from_slice(r.get().as_bytes());
            buf.push(b'\n');
        }
        let io = |source| SinkError::Io {
            destination: self.name.clone(),
            source,
        };
        let mut out = self.out.lock().await;
        match &mut *out {
            Out::File(file) => {
                let file = file.clone();
                // On disk before the checkpoint moves past these records.
                tokio::task::spawn_blocking(move || append_whole(&file, &buf))
                    .await
                    .map_err(|e| io(std::io::Error::other(e)))?
                    .map_err(io)?;
            }
            Out::Stdout(stdout) => {
                stdout.write_all(&buf).await.map_err(io)?;
                stdout.flush().await.map_err(io)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> RecordJson {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn batch_body_is_valid_json() {
        let body = batch_body(&[rec(r#"{"path":"/a"}"#), rec(r#"{"path":"/b"}"#)]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["batchData"][1]["path"], "/b");
        let empty: serde_json::Value = serde_json::from_slice(&batch_body(&[])).unwrap();
        assert_eq!(empty["batchData"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn limits_refuse_only_what_can_never_fit() {
        let recs = [rec(r#"{"path":"/a"}"#), rec(r#"{"path":"/bb"}"#)];
        let len: usize = recs.iter().map(|r| r.get().len()).sum();
        assert_eq!(batch_body_len(len, 2), batch_body(&recs).len());
        assert_eq!(batch_body_len(0, 0), batch_body(&[]).len());

        let limits = SinkLimits::new(Some(100), Some(10));
        assert_eq!(limits.refuses(&recs[0]), None);
        // A string of 13 bytes once decoded (its escapes do not count).
        let long = rec(r#"{"path":"/a","requestPayload":"{\"m\":\"12345\"}"}"#);
        let why = limits.refuses(&long).unwrap();
        assert!(why.contains("`requestPayload` is 13 bytes"), "{why}");
        let huge = rec(&format!(r#"{{"path":"{}"}}"#, "x".repeat(100)));
        let why = SinkLimits::new(Some(100), None).refuses(&huge).unwrap();
        assert!(why.contains("100-byte request limit"), "{why}");
        assert_eq!(SinkLimits::NONE.refuses(&huge), None);
    }

    #[test]
    fn endpoint_keeps_a_base_path() {
        let p = Pipeline::builder().build().unwrap();
        let s = AktoSink::new(&"https://h.example.com".parse().unwrap(), None, p.clone()).unwrap();
        assert_eq!(
            s.endpoint().as_str(),
            "https://h.example.com/api/ingestData"
        );
        let s = AktoSink::new(&"https://h.example.com/akto".parse().unwrap(), None, p).unwrap();
        assert_eq!(
            s.endpoint().as_str(),
            "https://h.example.com/akto/api/ingestData"
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let p = Pipeline::builder().build().unwrap();
        let s = AktoSink::new(
            &"https://h.example.com".parse().unwrap(),
            Some(Secret::new("eyJ-very-secret")),
            p,
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("very-secret"));
    }

    fn manual_pipeline(clock: &client_core::ManualClock, attempts: u32) -> Pipeline {
        Pipeline::builder()
            .clock(std::sync::Arc::new(clock.clone()))
            .retry_policy(client_core::RetryPolicy::default().with_max_attempts(attempts))
            .build()
            .unwrap()
    }

    fn clock() -> client_core::ManualClock {
        client_core::ManualClock::new(time::macros::datetime!(2026-03-01 12:00 UTC))
    }

    #[tokio::test]
    async fn akto_gets_the_raw_token_and_the_batch() {
        use httpmock::prelude::*;
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path("/api/ingestData")
                    .header("authorization", "eyJ.raw")
                    .header("content-type", "application/json")
                    .json_body(serde_json::json!({"batchData": [{"path": "/a"}, {"path": "/b"}]}));
                then.status(200).body(r#"{"success":true}"#);
            })
            .await;
        let sink = AktoSink::new(
            &server.base_url().parse().unwrap(),
            Some(Secret::new("eyJ.raw")),
            manual_pipeline(&clock(), 3),
        )
        .unwrap();
        sink.deliver(&[rec(r#"{"path":"/a"}"#), rec(r#"{"path":"/b"}"#)])
            .await
            .unwrap();
        m.assert_calls_async(1).await;
    }

    #[tokio::test]
    async fn a_malformed_batch_is_refused_without_retrying() {
        use httpmock::prelude::*;
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(POST).path("/api/ingestData");
                then.status(422)
                    .body(r#"{"error":"batchData[0].time must be a string"}"#);
            })
            .await;
        let sink = AktoSink::new(
            &server.base_url().parse().unwrap(),
            None,
            manual_pipeline(&clock(), 5),
        )
        .unwrap();
        let err = sink.deliver(&[rec(r#"{"path":"/a"}"#)]).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(matches!(err, SinkError::Rejected { .. }), "{err}");
        m.assert_calls_async(1).await;
    }

    #[tokio::test]
    async fn an_unavailable_service_is_retried_then_reported() {
        use httpmock::prelude::*;
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(POST).path("/api/ingestData");
                then.status(503).header("retry-after", "7");
            })
            .await;
        let clock = clock();
        let sink = AktoSink::new(
            &server.base_url().parse().unwrap(),
            None,
            manual_pipeline(&clock, 4),
        )
        .unwrap();
        let err = sink.deliver(&[rec(r#"{"path":"/a"}"#)]).await.unwrap_err();
        assert!(matches!(err, SinkError::Unavailable { .. }), "{err}");
        m.assert_calls_async(4).await;
        // Retry-After was honoured between the attempts (on the manual clock).
        assert!(
            clock
                .sleeps()
                .iter()
                .all(|d| *d >= std::time::Duration::from_secs(7)),
            "{:?}",
            clock.sleeps()
        );
        // `success: false` in a 200 is a refusal too.
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(POST).path("/api/ingestData");
                then.status(200).body(r#"{"success":false}"#);
            })
            .await;
        let sink = AktoSink::new(
            &server.base_url().parse().unwrap(),
            None,
            manual_pipeline(&clock, 4),
        )
        .unwrap();
        assert!(matches!(
            sink.deliver(&[rec("{}")]).await.unwrap_err(),
            SinkError::Rejected { status: 200, .. }
        ));
    }

    #[tokio::test]
    async fn json_lines_append_across_sinks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/pairs.jsonl");
        JsonLinesSink::file(&path)
            .await
            .unwrap()
            .deliver(&[rec(r#"{"a":1}"#), rec(r#"{"a":2}"#)])
            .await
            .unwrap();
        JsonLinesSink::file(&path)
            .await
            .unwrap()
            .deliver(&[rec(r#"{"a":3}"#)])
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_off_and_reported_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.jsonl");
        // What a kill in the middle of a write leaves: whole lines, then part of one.
        std::fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\":3,\"pay").unwrap();
        let sink = JsonLinesSink::file(&path).await.unwrap();
        assert_eq!(
            sink.repaired(),
            Some(TornTail {
                offset: 16,
                bytes: 11
            })
        );
        sink.deliver(&[rec(r#"{"a":3}"#)]).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        // A sound file is left alone.
        let again = JsonLinesSink::file(&path).await.unwrap();
        assert_eq!(again.repaired(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_torn_line_longer_than_a_block_and_a_file_of_only_a_torn_line_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        let long = format!("{{\"a\":1}}\n{{\"big\":\"{}", "x".repeat(200_000));
        std::fs::write(&path, &long).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        let t = repair_torn_tail(&f).unwrap().unwrap();
        assert_eq!((t.offset, t.bytes), (8, long.len() as u64 - 8));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        std::fs::write(&path, "{\"partial").unwrap();
        let t = repair_torn_tail(&f).unwrap().unwrap();
        assert_eq!((t.offset, t.bytes), (0, 9));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert_eq!(repair_torn_tail(&f).unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_never_answers_fails_the_delivery_at_the_deadline() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: Url = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let pipeline = Pipeline::builder()
            .retry_policy(client_core::RetryPolicy::default().with_max_attempts(8))
            .build()
            .unwrap();
        let sink = AktoSink::new(&url, None, pipeline)
            .unwrap()
            .with_deadline(std::time::Duration::from_secs(120));
        let started = tokio::time::Instant::now();
        let e = sink.deliver(&[rec(r#"{"path":"/a"}"#)]).await.unwrap_err();
        assert!(matches!(e, SinkError::DeadlineExceeded { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("within 2m"), "{text}");
        assert!(text.contains("--delivery-timeout"), "{text}");
        // On tokio's paused clock: exactly the deadline, not the 600 s retry budget.
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(120));
    }
}

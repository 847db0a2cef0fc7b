//! One ingestion pass: transcript rows in, batches of records out, checkpoint advanced only
//! after each batch was accepted.
//!
//! The pass is independent of where rows come from: [`Pass::run`] takes any stream of
//! `conversationtranscript` rows ordered by `modifiedon`. [`crate::Connector`] feeds it from
//! Dataverse.

use crate::sink::{RecordJson, Sink, SinkError, batch_body_len};
use crate::state::{Failure, StateError, StateStore, TranscriptProgress};
use crate::timefmt::rfc3339;
use client_core::SharedClock;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use transcript_model::{AktoConfig, PairOptions, RowWarning, Transcript};

/// Why a pass stopped before the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Reading transcripts failed (after the client's retries).
    #[error("reading transcripts failed: {message}")]
    Source {
        /// What went wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The destination did not accept a batch (after the sink's retries). The checkpoint is
    /// where it was before that batch.
    #[error("delivery failed: {0}")]
    Sink(#[from] SinkError),
    /// The checkpoint store failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl IngestError {
    /// Wraps a source error.
    pub fn source_error(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        IngestError::Source {
            message: e.to_string(),
            source: Box::new(e),
        }
    }
}

/// A transcript that could not be turned into records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedTranscript {
    /// `conversationtranscriptid` (empty when the row had none).
    pub id: String,
    /// Why.
    pub reason: String,
}

/// A record the destination can never accept (over its size limits), reported and skipped so
/// that it does not fail every pass after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRecord {
    /// The transcript it belongs to.
    pub transcript_id: String,
    /// The record's `path` (`/copilot/conversation/{id}/message/{index}`).
    pub path: String,
    /// Why.
    pub reason: String,
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PassSummary {
    /// Rows read from the source.
    pub transcripts_read: u64,
    /// Transcripts whose records were all delivered in this pass.
    pub transcripts_delivered: u64,
    /// Rows skipped because that version was already delivered.
    pub transcripts_already_delivered: u64,
    /// Rows with no message to pair (only events or traces, e.g. an abandoned session).
    pub transcripts_without_pairs: u64,
    /// Rows that could not be parsed, reported and not retried (until their next version).
    pub transcripts_unparseable: Vec<SkippedTranscript>,
    /// Records over the destination's size limits, reported and not sent (the rest of their
    /// transcript is delivered).
    pub records_skipped: Vec<SkippedRecord>,
    /// Oddities tolerated in the rows read (metadata not JSON, a `null` activity, a role
    /// written `1.0`, a timestamp in 1970, ...), counted by kind
    /// ([`transcript_model::RowWarning::code`]); the pairs of those rows were still delivered.
    pub row_warnings: std::collections::BTreeMap<String, u64>,
    /// Records (pairs) accepted by the destination.
    pub records_delivered: u64,
    /// Batches accepted.
    pub batches_delivered: u64,
    /// The checkpoint before the pass (RFC 3339).
    pub checkpoint_before: Option<String>,
    /// The checkpoint after the pass (RFC 3339).
    pub checkpoint_after: Option<String>,
    /// Whether the pass was asked to stop before reading everything.
    pub stopped_early: bool,
}

/// Events for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A row was read.
    Row,
    /// A batch of this many records was accepted.
    Batch(usize),
}

/// A callback for [`ProgressEvent`]s.
pub type ProgressFn = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

/// A request to stop after the batch in flight. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl StopSignal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder to stop.
    pub fn stop(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether a stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Waits until a stop is asked.
    pub async fn stopped(&self) {
        loop {
            let notified = self.0.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a stop between the check and the await is seen.
            notified.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// The identity of a row: id, row version, `modifiedon`. A row that lacks one is refused with
/// its id when it has one (empty otherwise), so the report can name it.
fn row_identity(row: &Value) -> Result<(String, String, OffsetDateTime), (String, String)> {
    let id = row
        .get("conversationtranscriptid")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            (
                String::new(),
                "the row has no conversationtranscriptid".to_owned(),
            )
        })?
        .to_ascii_lowercase();
    let modified = row
        .get("modifiedon")
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .ok_or_else(|| (id.clone(), "the row has no valid modifiedon".to_owned()))?;
    // `versionnumber` is Edm.Int64: a JSON number, or a string when IEEE754Compatible is on.
    // Without it, `modifiedon` identifies the version.
    let version = match row.get("versionnumber") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => rfc3339(modified),
    };
    Ok((id, version, modified))
}

/// The `path` of a serialised record (for reports).
fn record_path(record: &RawValue) -> String {
    #[derive(serde::Deserialize)]
    struct Path {
        path: Option<String>,
    }
    serde_json::from_str::<Path>(record.get())
        .ok()
        .and_then(|p| p.path)
        .unwrap_or_default()
}

/// Builds the records of one row, with the row's warnings; `now` bounds believable message
/// timestamps.
pub(crate) fn build_records(
    akto: &AktoConfig,
    row: &Value,
    now: OffsetDateTime,
) -> Result<(Vec<RecordJson>, Vec<RowWarning>), String> {
    let transcript = Transcript::from_value(row).map_err(|e| e.kind().to_string())?;
    let paired = transcript.pair_with(&PairOptions::new().now(now));
    let records = akto
        .records(&paired)
        .iter()
        .map(|r| {
            serde_json::to_string(r)
                .map_err(|e| format!("cannot encode a record: {e}"))
                .and_then(|s| RawValue::from_string(s).map_err(|e| e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok((records, paired.warnings))
}

/// Counts a row's warnings into the summary and logs them.
fn note_warnings(summary: &mut PassSummary, id: &str, warnings: &[RowWarning]) {
    for w in warnings {
        tracing::debug!(transcript = %id, warning = %w, "odd transcript row tolerated");
        *summary.row_warnings.entry(w.code().to_owned()).or_default() += 1;
    }
}

struct Pending {
    records: Vec<RecordJson>,
    // For each record: its transcript id, row version and `modifiedon` (to note a refusal).
    owners: Vec<(String, String, OffsetDateTime)>,
    // Progress per transcript touched by the records in `records`, plus rows that produced
    // nothing to send, in pass order.
    progress: Vec<TranscriptProgress>,
    failures: Vec<Failure>,
    // Records refused by the sink's limits, recorded against their transcript version.
    skipped: Vec<Failure>,
    // The length of `records`' JSON text.
    bytes: usize,
    // The `modifiedon` of the last row fully handled (all its records buffered, or nothing to
    // send): once the buffer is accepted, everything up to it is done.
    done_through: Option<OffsetDateTime>,
}

/// One ingestion pass over a stream of rows.
pub struct Pass<'a> {
    store: &'a mut StateStore,
    sink: &'a dyn Sink,
    akto: &'a AktoConfig,
    batch_size: usize,
    stop: StopSignal,
    progress: Option<ProgressFn>,
    clock: SharedClock,
}

impl<'a> Pass<'a> {
    /// A pass delivering to `sink`, building records with `akto`, keeping state in `store`;
    /// batches of [`crate::config::DEFAULT_BATCH_SIZE`] records.
    pub fn new(store: &'a mut StateStore, sink: &'a dyn Sink, akto: &'a AktoConfig) -> Self {
        Self {
            store,
            sink,
            akto,
            batch_size: crate::config::DEFAULT_BATCH_SIZE,
            stop: StopSignal::new(),
            progress: None,
            clock: client_core::system_clock(),
        }
    }

    /// Records per delivery (at least 1).
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Checked between rows: once raised, the pass stops after the batch in flight.
    #[must_use]
    pub fn stop_signal(mut self, stop: StopSignal) -> Self {
        self.stop = stop;
        self
    }

    /// Called on every row read and batch accepted.
    #[must_use]
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// The clock for bookkeeping timestamps.
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
}

impl std::fmt::Debug for Pass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass")
            .field("sink", &self.sink.describe())
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Pass<'_> {
    fn emit(&self, e: ProgressEvent) {
        if let Some(p) = &self.progress {
            p(e);
        }
    }

    /// Delivers the buffer (if any) and commits its progress.
    async fn flush(
        &mut self,
        pending: &mut Pending,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError> {
        if pending.records.is_empty()
            && pending.progress.is_empty()
            && pending.failures.is_empty()
            && pending.skipped.is_empty()
        {
            return Ok(());
        }
        let n = pending.records.len();
        if n > 0 {
            self.deliver_isolating(pending, summary).await?;
        }
        self.store.commit(
            &pending.progress,
            &pending.failures,
            &pending.skipped,
            pending.done_through,
            self.clock.now(),
        )?;
        summary.transcripts_delivered += pending
            .progress
            .iter()
            .filter(|p| p.complete && p.records_delivered > 0)
            .count() as u64;
        if let Some(w) = pending.done_through {
            summary.checkpoint_after = Some(rfc3339(w));
        }
        pending.records.clear();
        pending.owners.clear();
        pending.bytes = 0;
        // A transcript cut by the batch boundary keeps its entry, so the next commit records
        // its further progress.
        pending.progress.retain(|p| !p.complete);
        pending.failures.clear();
        pending.skipped.clear();
        if n > 0 {
            self.emit(ProgressEvent::Batch(n));
        }
        Ok(())
    }

    /// Delivers the buffered records. When the destination refuses the batch as malformed or
    /// too large (413, 422), halves it until the refused records are alone; those are noted
    /// and skipped, so one bad record cannot fail every pass at the same batch, but only while
    /// the destination accepts other records of this pass (a destination refusing everything
    /// is a setup problem, and fails the pass).
    async fn deliver_isolating(
        &mut self,
        pending: &mut Pending,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError> {
        let mut refused: Vec<(usize, SinkError)> = Vec::new();
        let mut accepted_before = summary.records_delivered > 0;
        let mut todo: Vec<std::ops::Range<usize>> = Vec::new();
        todo.push(0..pending.records.len());
        while let Some(range) = todo.pop() {
            match self.sink.deliver(&pending.records[range.clone()]).await {
                Ok(()) => {
                    accepted_before = true;
                    summary.records_delivered += range.len() as u64;
                    summary.batches_delivered += 1;
                }
                Err(e) if e.refuses_content() && range.len() > 1 => {
                    let mid = range.start + range.len() / 2;
                    tracing::warn!(error = %e, records = range.len(), "the destination refused a batch; splitting it to find the records it refuses");
                    // Popped first half first, so records keep their order.
                    todo.push(mid..range.end);
                    todo.push(range.start..mid);
                }
                Err(e) if e.refuses_content() => refused.push((range.start, e)),
                Err(e) => return Err(e.into()),
            }
        }
        if !accepted_before && !refused.is_empty() {
            let (_, e) = refused.swap_remove(0);
            return Err(e.into());
        }
        for (i, e) in refused {
            let (id, version, modified_on) = pending.owners[i].clone();
            let path = record_path(&pending.records[i]);
            let reason = format!("the destination refused it: {e}");
            tracing::warn!(transcript = %id, %path, %reason, "record refused by the destination; recorded and skipped");
            pending.skipped.push(Failure {
                id: id.clone(),
                version,
                modified_on,
                reason: format!("{path}: {reason}"),
            });
            summary.records_skipped.push(SkippedRecord {
                transcript_id: id,
                path,
                reason,
            });
        }
        Ok(())
    }

    /// Runs the pass over `rows` (ordered by `modifiedon`, then id).
    pub async fn run<S, E>(mut self, rows: S) -> Result<PassSummary, IngestError>
    where
        S: Stream<Item = Result<Value, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut summary = PassSummary {
            checkpoint_before: self.store.watermark()?.map(rfc3339),
            ..PassSummary::default()
        };
        summary.checkpoint_after = summary.checkpoint_before.clone();
        let batch_size = self.batch_size.max(1);
        let mut pending = Pending {
            records: Vec::with_capacity(batch_size),
            owners: Vec::with_capacity(batch_size),
            progress: Vec::new(),
            failures: Vec::new(),
            skipped: Vec::new(),
            bytes: 0,
            done_through: None,
        };
        let limits = self.sink.limits();
        let mut rows = std::pin::pin!(rows);
        loop {
            if self.stop.is_stopped() {
                summary.stopped_early = true;
                break;
            }
            let Some(row) = rows.next().await else { break };
            let row = row.map_err(IngestError::source_error)?;
            summary.transcripts_read += 1;
            self.emit(ProgressEvent::Row);
            let (id, version, modified_on) = match row_identity(&row) {
                Ok(identity) => identity,
                Err((id, reason)) => {
                    // Without an id and a time the row cannot be recorded; it is reported every
                    // pass, by its id when it has one.
                    tracing::warn!(transcript = %id, %reason, "skipping a transcript row");
                    summary
                        .transcripts_unparseable
                        .push(SkippedTranscript { id, reason });
                    continue;
                }
            };
            let known = self.store.transcript(&id)?;
            let already = match &known {
                Some(k) if k.version == version => k.records_delivered,
                _ => 0,
            };
            if known
                .as_ref()
                .is_some_and(|k| k.version == version && k.complete)
            {
                summary.transcripts_already_delivered += 1;
                pending.done_through = Some(modified_on);
                continue;
            }
            let records = match build_records(self.akto, &row, self.clock.now()) {
                Ok((r, warnings)) => {
                    note_warnings(&mut summary, &id, &warnings);
                    r
                }
                Err(reason) => {
                    tracing::warn!(transcript = %id, %reason, "transcript content cannot be paired; recorded and skipped");
                    summary.transcripts_unparseable.push(SkippedTranscript {
                        id: id.clone(),
                        reason: reason.clone(),
                    });
                    pending.failures.push(Failure {
                        id,
                        version,
                        modified_on,
                        reason,
                    });
                    pending.done_through = Some(modified_on);
                    continue;
                }
            };
            drop(row);
            let total = records.len() as u64;
            let skip = usize::try_from(already.min(total)).unwrap_or(usize::MAX);
            if skip == records.len() {
                if total == 0 {
                    summary.transcripts_without_pairs += 1;
                }
                pending.progress.push(TranscriptProgress {
                    id,
                    version,
                    modified_on,
                    records_delivered: total,
                    complete: true,
                });
                pending.done_through = Some(modified_on);
                continue;
            }
            pending.progress.push(TranscriptProgress {
                id: id.clone(),
                version: version.clone(),
                modified_on,
                records_delivered: already,
                complete: false,
            });
            for (i, record) in records.into_iter().enumerate().skip(skip) {
                if let Some(reason) = limits.refuses(&record) {
                    // Sending it would be refused on every pass and hold back everything
                    // after it: report it instead, and count it as handled.
                    let path = record_path(&record);
                    tracing::warn!(transcript = %id, %path, %reason, "record over the destination's size limits; recorded and skipped");
                    pending.skipped.push(Failure {
                        id: id.clone(),
                        version: version.clone(),
                        modified_on,
                        reason: format!("{path}: {reason}"),
                    });
                    summary.records_skipped.push(SkippedRecord {
                        transcript_id: id.clone(),
                        path,
                        reason,
                    });
                } else {
                    let len = record.get().len();
                    // Deliver what is buffered first if this record would take the request
                    // over the destination's size limit.
                    if let Some(max) = limits.max_batch_bytes
                        && !pending.records.is_empty()
                        && batch_body_len(pending.bytes + len, pending.records.len() + 1) > max
                    {
                        self.flush(&mut pending, &mut summary).await?;
                    }
                    pending.bytes += len;
                    pending.records.push(record);
                    pending
                        .owners
                        .push((id.clone(), version.clone(), modified_on));
                }
                // The current transcript is always the last entry: a flush keeps only the
                // incomplete one.
                let complete = i as u64 + 1 == total;
                if let Some(p) = pending.progress.last_mut() {
                    p.records_delivered = i as u64 + 1;
                    p.complete = complete;
                }
                if complete {
                    pending.done_through = Some(modified_on);
                }
                if pending.records.len() >= batch_size {
                    self.flush(&mut pending, &mut summary).await?;
                }
            }
        }
        self.flush(&mut pending, &mut summary).await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Accepts batches, optionally failing the batch numbered `fail_at` (0-based) and after.
    #[derive(Debug, Default)]
    struct MemorySink {
        got: Mutex<Vec<String>>,
        batches: Mutex<u32>,
        fail_from: Option<u32>,
        limits: crate::sink::SinkLimits,
        bodies: Mutex<Vec<usize>>,
        // Batches holding a record with this text are refused as malformed (422).
        refuse: Option<&'static str>,
    }

    #[async_trait]
    impl Sink for MemorySink {
        fn describe(&self) -> String {
            "memory".into()
        }
        async fn deliver(&self, records: &[RecordJson]) -> Result<(), SinkError> {
            let mut b = self.batches.lock().unwrap();
            if self.fail_from.is_some_and(|f| *b >= f) {
                return Err(SinkError::Io {
                    destination: "memory".into(),
                    source: std::io::Error::other("down"),
                });
            }
            if let Some(bad) = self.refuse
                && records.iter().any(|r| r.get().contains(bad))
            {
                return Err(SinkError::Rejected {
                    destination: "memory".into(),
                    status: 422,
                    message: "malformed".into(),
                    fix: String::new(),
                });
            }
            *b += 1;
            self.bodies
                .lock()
                .unwrap()
                .push(crate::sink::batch_body(records).len());
            let mut got = self.got.lock().unwrap();
            for r in records {
                let v: Value = serde_json::from_str(r.get()).unwrap();
                got.push(v["path"].as_str().unwrap().to_owned());
            }
            Ok(())
        }
        fn limits(&self) -> crate::sink::SinkLimits {
            self.limits
        }
    }

    /// A transcript row with `turns` user/bot exchanges (so `turns` records).
    fn row(n: u32, turns: u32, version: i64) -> Value {
        let mut activities = Vec::new();
        for t in 0..turns {
            activities.push(serde_json::json!({"type":"message","timestamp":1_700_000_000 + t,"from":{"role":1},"text":format!("q{t}")}));
            activities.push(serde_json::json!({"type":"message","timestamp":1_700_000_001 + t,"from":{"role":0},"text":format!("a{t}")}));
        }
        serde_json::json!({
            "conversationtranscriptid": format!("00000000-0000-0000-0000-{n:012}"),
            "modifiedon": rfc3339(time::macros::datetime!(2026-03-01 12:00 UTC) + time::Duration::minutes(i64::from(n))),
            "versionnumber": version,
            "metadata": r#"{"BotId":"b","BotName":"cr_bot"}"#,
            "content": serde_json::json!({"activities": activities}).to_string(),
        })
    }

    /// A transcript row with one exchange per `(question, answer)`.
    fn row_with(n: u32, turns: &[(&str, &str)]) -> Value {
        let mut r = row(n, 0, 1);
        let activities: Vec<Value> = turns
            .iter()
            .flat_map(|(q, a)| {
                [
                    serde_json::json!({"type":"message","timestamp":1_700_000_000,"from":{"role":1},"text":q}),
                    serde_json::json!({"type":"message","timestamp":1_700_000_001,"from":{"role":0},"text":a}),
                ]
            })
            .collect();
        r["content"] = Value::String(serde_json::json!({ "activities": activities }).to_string());
        r
    }

    async fn pass(
        store: &mut StateStore,
        sink: &MemorySink,
        rows: Vec<Value>,
        batch: usize,
    ) -> Result<PassSummary, IngestError> {
        let akto = AktoConfig::new("1000000", "0", "env");
        let stream = futures::stream::iter(rows.into_iter().map(Ok::<_, std::io::Error>));
        Pass::new(store, sink, &akto)
            .batch_size(batch)
            .run(stream)
            .await
    }

    fn store(dir: &tempfile::TempDir) -> StateStore {
        StateStore::open(&dir.path().join("s.db"), "scope").unwrap()
    }

    #[tokio::test]
    async fn a_row_with_a_bad_modifiedon_is_reported_by_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let mut bad = row(1, 2, 1);
        bad["modifiedon"] = Value::String("yesterday".into());
        let mut no_id = row(2, 2, 1);
        no_id
            .as_object_mut()
            .unwrap()
            .remove("conversationtranscriptid");
        let summary = pass(&mut s, &sink, vec![row(0, 2, 1), bad, no_id], 5)
            .await
            .unwrap();
        assert_eq!(summary.records_delivered, 2);
        let ids: Vec<&str> = summary
            .transcripts_unparseable
            .iter()
            .map(|u| u.id.as_str())
            .collect();
        assert_eq!(ids, ["00000000-0000-0000-0000-000000000001", ""]);
        assert!(
            summary.transcripts_unparseable[0]
                .reason
                .contains("modifiedon")
        );
    }

    #[tokio::test]
    async fn a_second_pass_over_the_same_window_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let rows: Vec<Value> = (0..7).map(|n| row(n, 3, 1)).collect();
        let first = pass(&mut s, &sink, rows.clone(), 5).await.unwrap();
        assert_eq!(first.records_delivered, 21);
        assert_eq!(first.batches_delivered, 5);
        assert_eq!(first.transcripts_delivered, 7);
        assert_eq!(sink.got.lock().unwrap().len(), 21);
        assert_eq!(
            first.checkpoint_after.as_deref(),
            Some("2026-03-01T12:06:00Z")
        );
        let second = pass(&mut s, &sink, rows.clone(), 5).await.unwrap();
        assert_eq!(second.records_delivered, 0);
        assert_eq!(second.transcripts_already_delivered, 7);
        // A new version of one row is delivered again.
        let mut changed = rows;
        changed[2] = row(2, 3, 2);
        let third = pass(&mut s, &sink, changed, 5).await.unwrap();
        assert_eq!(third.records_delivered, 3);
    }

    #[tokio::test]
    async fn a_failed_batch_keeps_the_checkpoint_and_resumes_mid_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        // Batches of 2 over transcripts of 3 records: the second batch holds the end of
        // transcript 0 and the start of transcript 1.
        let failing = MemorySink {
            fail_from: Some(2),
            ..MemorySink::default()
        };
        let rows: Vec<Value> = (0..3).map(|n| row(n, 3, 1)).collect();
        let err = pass(&mut s, &failing, rows.clone(), 2).await.unwrap_err();
        assert!(matches!(err, IngestError::Sink(_)), "{err}");
        assert_eq!(failing.got.lock().unwrap().len(), 4);
        assert_eq!(
            s.watermark().unwrap().map(rfc3339).as_deref(),
            Some("2026-03-01T12:00:00Z")
        );
        let t1 = s
            .transcript("00000000-0000-0000-0000-000000000001")
            .unwrap()
            .unwrap();
        assert_eq!((t1.records_delivered, t1.complete), (1, false));

        let ok = MemorySink::default();
        let summary = pass(&mut s, &ok, rows, 2).await.unwrap();
        let got = ok.got.lock().unwrap().clone();
        // Exactly the 5 records not yet accepted: nothing twice, nothing lost.
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(
            got[0],
            "/copilot/conversation/00000000-0000-0000-0000-000000000001/message/1"
        );
        assert_eq!(summary.transcripts_already_delivered, 1);
        assert_eq!(
            summary.checkpoint_after.as_deref(),
            Some("2026-03-01T12:02:00Z")
        );
    }

    #[tokio::test]
    async fn a_malformed_transcript_is_reported_once_and_the_rest_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let mut bad = row(1, 1, 1);
        bad["content"] = Value::String("{not json".into());
        let rows = vec![row(0, 2, 1), bad, row(2, 2, 1)];
        let summary = pass(&mut s, &sink, rows.clone(), 50).await.unwrap();
        assert_eq!(summary.records_delivered, 4);
        assert_eq!(summary.transcripts_unparseable.len(), 1);
        assert_eq!(
            summary.transcripts_unparseable[0].id,
            "00000000-0000-0000-0000-000000000001"
        );
        assert!(
            summary.transcripts_unparseable[0]
                .reason
                .contains("content"),
            "{:?}",
            summary.transcripts_unparseable
        );
        assert_eq!(s.failures().unwrap().len(), 1);
        let again = pass(&mut s, &sink, rows, 50).await.unwrap();
        assert!(again.transcripts_unparseable.is_empty());
        assert_eq!(again.records_delivered, 0);
    }

    #[tokio::test]
    async fn batches_fit_the_sinks_size_limits_and_an_oversized_record_is_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let big = "x".repeat(3000);
        let huge = "y".repeat(9000);
        let rows = vec![
            row_with(0, &[("q", &big), ("q", &big), ("q", "a")]),
            // Its second record can never fit: the other two still go.
            row_with(1, &[("q", "a"), (&huge, "a"), ("q", &big)]),
            row_with(2, &[("q", &big), ("q", &big)]),
        ];
        let sink = MemorySink {
            limits: crate::sink::SinkLimits::new(Some(8000), None),
            ..MemorySink::default()
        };
        let summary = pass(&mut s, &sink, rows.clone(), 50).await.unwrap();
        let bodies = sink.bodies.lock().unwrap().clone();
        assert!(bodies.iter().all(|b| *b <= 8000), "{bodies:?}");
        assert!(bodies.len() >= 3, "{bodies:?}");
        let got = sink.got.lock().unwrap().clone();
        assert_eq!(got.len(), 7, "{got:?}");
        assert_eq!(summary.records_delivered, 7);
        let id1 = "00000000-0000-0000-0000-000000000001";
        assert_eq!(summary.records_skipped.len(), 1, "{summary:?}");
        let skipped = &summary.records_skipped[0];
        assert_eq!(skipped.transcript_id, id1);
        assert_eq!(
            skipped.path,
            format!("/copilot/conversation/{id1}/message/1")
        );
        assert!(
            skipped.reason.contains("8000-byte request limit"),
            "{skipped:?}"
        );
        assert!(!got.contains(&skipped.path));
        assert_eq!(s.failures().unwrap().len(), 1);
        assert!(s.transcript(id1).unwrap().unwrap().complete);
        assert_eq!(
            summary.checkpoint_after.as_deref(),
            Some("2026-03-01T12:02:00Z")
        );
        // Nothing is sent or reported again.
        let again = pass(&mut s, &sink, rows, 50).await.unwrap();
        assert_eq!(again.records_delivered, 0);
        assert!(again.records_skipped.is_empty());
    }

    #[tokio::test]
    async fn a_record_the_destination_refuses_is_isolated_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let mut rows: Vec<Value> = (0..12).map(|n| row(n, 3, 1)).collect();
        rows[7] = row_with(7, &[("q", "a"), ("poison", "a"), ("q", "a")]);
        let sink = MemorySink {
            refuse: Some("poison"),
            ..MemorySink::default()
        };
        let summary = pass(&mut s, &sink, rows.clone(), 10).await.unwrap();
        let got = sink.got.lock().unwrap().clone();
        // Every other record exactly once.
        assert_eq!(got.len(), 35, "{got:?}");
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 35);
        let bad = "/copilot/conversation/00000000-0000-0000-0000-000000000007/message/1";
        assert!(!got.iter().any(|p| p == bad));
        assert_eq!(summary.records_skipped.len(), 1, "{summary:?}");
        assert_eq!(summary.records_skipped[0].path, bad);
        assert!(
            summary.records_skipped[0].reason.contains("HTTP 422"),
            "{summary:?}"
        );
        assert_eq!(summary.records_delivered, 35);
        assert_eq!(s.failures().unwrap().len(), 1);
        let again = pass(&mut s, &sink, rows, 10).await.unwrap();
        assert_eq!(again.records_delivered, 0);
        assert!(again.records_skipped.is_empty());
    }

    #[tokio::test]
    async fn a_destination_refusing_everything_fails_the_pass_and_skips_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink {
            refuse: Some("/copilot/"),
            ..MemorySink::default()
        };
        let rows: Vec<Value> = (0..3).map(|n| row(n, 2, 1)).collect();
        let err = pass(&mut s, &sink, rows, 4).await.unwrap_err();
        assert!(
            matches!(
                err,
                IngestError::Sink(SinkError::Rejected { status: 422, .. })
            ),
            "{err}"
        );
        assert!(s.failures().unwrap().is_empty());
        assert_eq!(s.watermark().unwrap(), None);
    }

    #[tokio::test]
    async fn odd_rows_are_delivered_and_their_warnings_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        // Dataverse writes BatchId as a number: that is no oddity.
        let mut numeric = row(0, 2, 1);
        numeric["metadata"] =
            Value::String(r#"{"BotId":"b","BotName":"cr_bot","BatchId":2}"#.into());
        let mut broken_meta = row(1, 2, 1);
        broken_meta["metadata"] = Value::String("{not json".into());
        let mut odd = row(2, 0, 1);
        odd["content"] = Value::String(
            serde_json::json!({"activities": [
                null,
                {"type":"message","timestamp":1_700_000_000_000_i64,"from":{"role":1.0},"text":"q"},
                {"type":"message","timestamp":1_700_000_001,"from":{"role":"x"},"text":"?"},
                {"type":"message","timestamp":5,"from":{"role":0},"text":"a"}
            ]})
            .to_string(),
        );
        let summary = pass(&mut s, &sink, vec![numeric, broken_meta, odd], 50)
            .await
            .unwrap();
        assert_eq!(summary.records_delivered, 5, "{summary:?}");
        assert!(summary.transcripts_unparseable.is_empty());
        let expected: std::collections::BTreeMap<String, u64> = [
            ("activity_not_object", 1),
            ("metadata_unreadable", 1),
            ("odd_role", 1),
            ("timestamp_out_of_range", 1),
            ("unknown_role", 1),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
        assert_eq!(summary.row_warnings, expected);
    }

    #[tokio::test]
    async fn a_raised_stop_signal_ends_the_pass_early() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let akto = AktoConfig::new("1", "0", "env");
        let stop = StopSignal::new();
        let s2 = stop.clone();
        let rows = (0..10).map(move |n| {
            if n == 4 {
                s2.stop();
            }
            Ok::<_, std::io::Error>(row(n, 1, 1))
        });
        let summary = Pass::new(&mut s, &sink, &akto)
            .batch_size(2)
            .stop_signal(stop)
            .run(futures::stream::iter(rows))
            .await
            .unwrap();
        assert!(summary.stopped_early);
        assert_eq!(summary.transcripts_read, 5);
        assert_eq!(summary.records_delivered, 5);
    }
}

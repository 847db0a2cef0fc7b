//! One ingestion pass: transcript rows in, batches of records out, checkpoint advanced only
//! after each batch was accepted.
//!
//! The pass is independent of where rows come from: [`Pass::run`] takes any stream of
//! `conversationtranscript` rows ordered by `modifiedon`. [`crate::Connector`] feeds it from
//! Dataverse.

use crate::akto::RecordHosts;
use crate::sink::{RecordJson, Sink, SinkError, batch_body_len};
use crate::state::{Failure, StateError, StateStore, TranscriptProgress};
use crate::timefmt::rfc3339;
use client_core::SharedClock;
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;
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
    /// Agent inventory records (`/copilot/bot/{agentId}`) accepted: one per agent new or
    /// changed since its last accepted record.
    pub agent_records_delivered: u64,
    /// Why agent inventory records could not be delivered (they are sent again next pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_inventory_error: Option<String>,
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
    hosts: Option<&RecordHosts>,
    row: &Value,
    now: OffsetDateTime,
) -> Result<(Vec<RecordJson>, Vec<RowWarning>), String> {
    let transcript = Transcript::from_value(row).map_err(|e| e.kind().to_string())?;
    let paired = transcript.pair_with(&PairOptions::new().now(now));
    let mut records = akto.records(&paired);
    if let Some(hosts) = hosts {
        let user = paired.facts.user_aad_object_id.as_deref();
        hosts.apply(&akto.bot_for(paired.transcript), user, &mut records);
    }
    let records = records
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

/// A batch handed to the sink, with what to commit once it (and every batch before it) was
/// accepted.
struct Sealed {
    records: Vec<RecordJson>,
    owners: Vec<(String, String, OffsetDateTime)>,
    // Snapshots: absolute counts, so committing batches in order gives the sequential state.
    progress: Vec<TranscriptProgress>,
    failures: Vec<Failure>,
    skipped: Vec<Failure>,
    done_through: Option<OffsetDateTime>,
}

/// What the sink did with one sealed batch.
struct Delivered {
    batch: Sealed,
    result: Result<DeliveryOutcome, SinkError>,
}

#[derive(Default)]
struct DeliveryOutcome {
    // Records accepted, and the requests that carried them.
    accepted: u64,
    requests: u64,
    // Records refused on their own (413/422 down to one record), by index in the batch.
    refused: Vec<(usize, SinkError)>,
}

type InFlight<'a> = FuturesOrdered<Pin<Box<dyn Future<Output = Delivered> + Send + 'a>>>;

/// Delivers `records`. When the destination refuses them as malformed or too large (413,
/// 422), halves the batch until the refused records are alone, so one bad record cannot fail
/// every pass at the same batch. Whether a refusal is tolerated is decided when the batch is
/// committed, in order (see [`Pass::complete`]).
async fn deliver_isolating(
    sink: &dyn Sink,
    records: &[RecordJson],
) -> Result<DeliveryOutcome, SinkError> {
    let mut outcome = DeliveryOutcome::default();
    let mut todo: Vec<std::ops::Range<usize>> = Vec::with_capacity(8);
    todo.push(0..records.len());
    while let Some(range) = todo.pop() {
        match sink.deliver(&records[range.clone()]).await {
            Ok(()) => {
                outcome.accepted += range.len() as u64;
                outcome.requests += 1;
            }
            Err(e) if e.refuses_content() && range.len() > 1 => {
                let mid = range.start + range.len() / 2;
                tracing::warn!(error = %e, records = range.len(), "the destination refused a batch; splitting it to find the records it refuses");
                // Popped first half first, so records keep their order.
                todo.push(mid..range.end);
                todo.push(range.start..mid);
            }
            Err(e) if e.refuses_content() => outcome.refused.push((range.start, e)),
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

/// One ingestion pass over a stream of rows.
///
/// Up to [`Pass::in_flight`] batches are delivered at once while the next rows are read and
/// paired. Batches are committed strictly in order: the checkpoint only moves past records
/// whose batch and every earlier batch were accepted, so a crash repeats at most the batches
/// that were in flight.
pub struct Pass<'a> {
    store: &'a mut StateStore,
    sink: &'a dyn Sink,
    akto: &'a AktoConfig,
    hosts: Option<&'a RecordHosts>,
    batch_size: usize,
    in_flight: usize,
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
            in_flight: crate::config::DEFAULT_IN_FLIGHT,
            hosts: None,
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

    /// Names each record's host (Akto's host shape and user map) and notes which users talked
    /// to which agent; without it, records carry the [`AktoConfig`]'s host.
    #[must_use]
    pub fn hosts(mut self, hosts: &'a RecordHosts) -> Self {
        self.hosts = Some(hosts);
        self
    }

    /// Batches delivered at once (at least 1; 1 delivers one batch at a time, in order).
    /// A crash or failure repeats at most this many batches on the next pass.
    #[must_use]
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }

    /// Checked between rows: once raised, the pass stops after the batches in flight.
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
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<'a> Pass<'a> {
    fn emit(&self, e: ProgressEvent) {
        if let Some(p) = &self.progress {
            p(e);
        }
    }

    /// Hands the buffer (if any) to the sink as one batch, waiting first for the oldest batch
    /// when `in_flight` are already out. Progress is committed when the batch completes.
    async fn flush(
        &mut self,
        pending: &mut Pending,
        inflight: &mut InFlight<'a>,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError> {
        if pending.records.is_empty()
            && pending.progress.is_empty()
            && pending.failures.is_empty()
            && pending.skipped.is_empty()
        {
            return Ok(());
        }
        while inflight.len() >= self.in_flight {
            self.complete_next(inflight, summary).await?;
        }
        let sealed = Sealed {
            records: std::mem::take(&mut pending.records),
            owners: std::mem::take(&mut pending.owners),
            progress: pending.progress.clone(),
            failures: std::mem::take(&mut pending.failures),
            skipped: std::mem::take(&mut pending.skipped),
            done_through: pending.done_through,
        };
        pending.bytes = 0;
        // A transcript cut by the batch boundary keeps its entry, so the next batch records
        // its further progress.
        pending.progress.retain(|p| !p.complete);
        let sink: &'a dyn Sink = self.sink;
        inflight.push_back(Box::pin(async move {
            let result = if sealed.records.is_empty() {
                Ok(DeliveryOutcome::default())
            } else {
                deliver_isolating(sink, &sealed.records).await
            };
            Delivered {
                batch: sealed,
                result,
            }
        }));
        Ok(())
    }

    /// Waits for the oldest batch in flight and commits it.
    async fn complete_next(
        &mut self,
        inflight: &mut InFlight<'_>,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError> {
        match inflight.next().await {
            Some(done) => self.complete(done, summary),
            None => Ok(()),
        }
    }

    /// Commits a completed batch: every batch before it was committed already.
    fn complete(&mut self, done: Delivered, summary: &mut PassSummary) -> Result<(), IngestError> {
        let Delivered { mut batch, result } = done;
        let mut outcome = result?;
        // A destination refusing everything is a setup problem, not bad records: fail the
        // pass rather than skip them, unless it accepted other records of this pass.
        if outcome.accepted == 0 && summary.records_delivered == 0 && !outcome.refused.is_empty() {
            let (_, e) = outcome.refused.swap_remove(0);
            return Err(e.into());
        }
        for (i, e) in outcome.refused {
            let (id, version, modified_on) = batch.owners[i].clone();
            let path = record_path(&batch.records[i]);
            let reason = format!("the destination refused it: {e}");
            tracing::warn!(transcript = %id, %path, %reason, "record refused by the destination; recorded and skipped");
            batch.skipped.push(Failure {
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
        self.store.commit(
            &batch.progress,
            &batch.failures,
            &batch.skipped,
            batch.done_through,
            self.clock.now(),
        )?;
        summary.records_delivered += outcome.accepted;
        summary.batches_delivered += outcome.requests;
        summary.transcripts_delivered += batch
            .progress
            .iter()
            .filter(|p| p.complete && p.records_delivered > 0)
            .count() as u64;
        if let Some(w) = batch.done_through {
            summary.checkpoint_after = Some(rfc3339(w));
        }
        if !batch.records.is_empty() {
            self.emit(ProgressEvent::Batch(batch.records.len()));
        }
        Ok(())
    }

    /// The next row, committing batches that complete while it is awaited.
    async fn next_row<S, E>(
        &mut self,
        rows: &mut Pin<&mut S>,
        inflight: &mut InFlight<'_>,
        summary: &mut PassSummary,
    ) -> Result<Option<Result<Value, E>>, IngestError>
    where
        S: Stream<Item = Result<Value, E>>,
    {
        loop {
            if inflight.is_empty() {
                return Ok(rows.next().await);
            }
            tokio::select! {
                biased;
                Some(done) = inflight.next() => self.complete(done, summary)?,
                row = rows.next() => return Ok(row),
            }
        }
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
        let mut inflight: InFlight<'a> = FuturesOrdered::new();
        loop {
            if self.stop.is_stopped() {
                summary.stopped_early = true;
                break;
            }
            let Some(row) = self
                .next_row(&mut rows, &mut inflight, &mut summary)
                .await?
            else {
                break;
            };
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
            let records = match build_records(self.akto, self.hosts, &row, self.clock.now()) {
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
                        self.flush(&mut pending, &mut inflight, &mut summary)
                            .await?;
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
                    self.flush(&mut pending, &mut inflight, &mut summary)
                        .await?;
                }
            }
        }
        self.flush(&mut pending, &mut inflight, &mut summary)
            .await?;
        while !inflight.is_empty() {
            self.complete_next(&mut inflight, &mut summary).await?;
        }
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

    /// Delivers after a delay that differs per batch (so later batches can finish first),
    /// counting how many deliveries overlap; fails every batch holding `fail_on`.
    #[derive(Debug, Default)]
    struct SlowSink {
        current: std::sync::atomic::AtomicUsize,
        max: std::sync::atomic::AtomicUsize,
        calls: std::sync::atomic::AtomicU64,
        got: Mutex<Vec<String>>,
        fail_on: Option<String>,
    }

    #[async_trait]
    impl Sink for SlowSink {
        fn describe(&self) -> String {
            "slow".into()
        }
        async fn deliver(&self, records: &[RecordJson]) -> Result<(), SinkError> {
            use std::sync::atomic::Ordering::SeqCst;
            let n = self.current.fetch_add(1, SeqCst) + 1;
            self.max.fetch_max(n, SeqCst);
            let call = self.calls.fetch_add(1, SeqCst);
            // 40, 10, 30, 20 ms, ...: completions come out of order.
            let ms = [40, 10, 30, 20][(call % 4) as usize];
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            self.current.fetch_sub(1, SeqCst);
            if let Some(bad) = &self.fail_on
                && records.iter().any(|r| r.get().contains(bad.as_str()))
            {
                return Err(SinkError::Io {
                    destination: "slow".into(),
                    source: std::io::Error::other("down"),
                });
            }
            let mut got = self.got.lock().unwrap();
            for r in records {
                let v: Value = serde_json::from_str(r.get()).unwrap();
                got.push(v["path"].as_str().unwrap().to_owned());
            }
            Ok(())
        }
    }

    async fn slow_pass(
        store: &mut StateStore,
        sink: &SlowSink,
        rows: Vec<Value>,
        batch: usize,
        in_flight: usize,
    ) -> Result<PassSummary, IngestError> {
        let akto = AktoConfig::new("1000000", "0", "env");
        let stream = futures::stream::iter(rows.into_iter().map(Ok::<_, std::io::Error>));
        Pass::new(store, sink, &akto)
            .batch_size(batch)
            .in_flight(in_flight)
            .run(stream)
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn up_to_n_batches_are_in_flight_and_one_keeps_the_order() {
        let rows: Vec<Value> = (0..20).map(|n| row(n, 3, 1)).collect();
        let mut expected: Vec<String> = Vec::new();
        for n in 0..20u32 {
            for i in 0..3 {
                expected.push(format!(
                    "/copilot/conversation/00000000-0000-0000-0000-{n:012}/message/{i}"
                ));
            }
        }
        for n in [1usize, 4] {
            let dir = tempfile::tempdir().unwrap();
            let mut s = store(&dir);
            let sink = SlowSink::default();
            let summary = slow_pass(&mut s, &sink, rows.clone(), 5, n).await.unwrap();
            assert_eq!(summary.records_delivered, 60);
            assert_eq!(summary.batches_delivered, 12);
            assert_eq!(summary.transcripts_delivered, 20);
            assert_eq!(
                summary.checkpoint_after.as_deref(),
                Some("2026-03-01T12:19:00Z")
            );
            assert_eq!(sink.max.load(std::sync::atomic::Ordering::SeqCst), n);
            let mut got = sink.got.lock().unwrap().clone();
            if n == 1 {
                assert_eq!(got, expected, "one in flight keeps today's order");
            }
            got.sort();
            let mut want = expected.clone();
            want.sort();
            assert_eq!(got, want);
            let again = slow_pass(&mut s, &sink, rows.clone(), 5, n).await.unwrap();
            assert_eq!(again.records_delivered, 0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_batch_with_later_ones_accepted_keeps_the_checkpoint_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let rows: Vec<Value> = (0..20).map(|n| row(n, 3, 1)).collect();
        // Batches of 5 records: transcript 7's records are in batches 4 and 5 (0-based).
        let failing = SlowSink {
            fail_on: Some("00000000-0000-0000-0000-000000000007/message/2".into()),
            ..SlowSink::default()
        };
        let err = slow_pass(&mut s, &failing, rows.clone(), 5, 4)
            .await
            .unwrap_err();
        assert!(matches!(err, IngestError::Sink(_)), "{err}");
        let first = failing.got.lock().unwrap().clone();
        // Batch 4 (records 20..25) failed; batches 0-3 were committed; the checkpoint is the
        // last transcript completed in them (transcript 5 ends at record 18).
        assert_eq!(
            s.watermark().unwrap().map(rfc3339).as_deref(),
            Some("2026-03-01T12:05:00Z")
        );
        assert!(
            s.transcript("00000000-0000-0000-0000-000000000008")
                .unwrap()
                .is_none()
        );
        // Later batches were sent (at most 3 more than the failed one) but not committed.
        assert!(
            first.len() >= 20 && first.len() <= 20 + 3 * 5,
            "{}",
            first.len()
        );

        let ok = SlowSink::default();
        let summary = slow_pass(&mut s, &ok, rows, 5, 4).await.unwrap();
        let second = ok.got.lock().unwrap().clone();
        assert_eq!(summary.records_delivered as usize, second.len());
        // Nothing lost; repeated only what was in flight after the failed batch.
        let mut all = first.clone();
        all.extend(second.iter().cloned());
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 60);
        let repeated = first.iter().filter(|p| second.contains(p)).count();
        assert!(repeated <= 3 * 5, "{repeated} records repeated");
        assert_eq!(first.len() + second.len() - repeated, 60);
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

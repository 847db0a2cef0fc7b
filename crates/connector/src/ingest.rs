//! One ingestion pass: transcript rows in, batches of records out, checkpoint advanced only
//! after each batch was accepted.
//!
//! The pass is independent of where rows come from: [`Pass::run`] takes any stream of
//! `conversationtranscript` rows ordered by `modifiedon`. [`crate::Connector`] feeds it from
//! Dataverse.

use crate::akto::RecordHosts;
use crate::sink::{RecordJson, Sink, SinkError, batch_body_len};
use crate::state::{DeliveredPair, Failure, StateError, StateStore, TranscriptProgress, pair_id};
use crate::timefmt::rfc3339;
use client_core::SharedClock;
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use transcript_model::{
    Activity, AktoConfig, AktoRecord, PairOptions, PairedSession, Role, RowWarning, Session,
    SessionKey, Transcript,
};

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
    /// Rows passed over because every pair of that version was already delivered.
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
    /// Rows whose `modifiedon` is in the future (by this machine's clock): delivered, but the
    /// checkpoint stops at the current time so that rows written later are still read.
    pub rows_modified_in_future: Vec<FutureRow>,
    /// Pairs on the open edge of a split session held back until the missing row is written
    /// (or the wait is over); the checkpoint stays before their rows.
    pub pairs_held: u64,
    /// Queries for the other rows of a session split across rows.
    pub sibling_queries: u64,
    /// Pairs one half of which went out alone in an earlier pass (a prompt whose reply was
    /// written after the split-settle wait, or the reverse) and whose other half was now
    /// read: only that other half was sent, under the pair's path.
    pub half_pairs_completed: u64,
}

/// A row whose `modifiedon` is in the future.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FutureRow {
    /// `conversationtranscriptid`.
    pub id: String,
    /// Its `modifiedon` (RFC 3339).
    pub modified_on: String,
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

/// How long a pair on the open edge of a split session waits for the row that completes it
/// (a prompt whose reply may be in a row not written yet, a reply whose prompt is in one),
/// counted from the latest `modifiedon` of the session's rows. Dataverse writes the rows of a
/// split session one after another; once this has passed, the pair goes out as it is.
pub const DEFAULT_SPLIT_SETTLE: Duration = Duration::from_secs(10 * 60);

/// Rows taken from the source per step (whatever is ready, up to this many).
const STEP_ROWS: usize = 512;

/// Content held for sessions that look cut while the pass waits for their missing rows
/// further down the stream. Over this, the oldest are decided at once (with a sibling query),
/// so a tenant of 1 MB split rows cannot hold the pass's memory hostage.
const DEFER_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Rows read past the checkpoint's frontier while a session is deferred; over this, every
/// deferred session is decided at once (with a sibling query), bounding the bookkeeping.
const DEFER_MAX_ROWS: usize = 50_000;

/// Sibling queries run at once.
const SIBLING_QUERIES: usize = 8;

/// A `modifiedon` more than this past the clock is reported as being in the future (less is
/// clock skew between Dataverse and this machine).
const FUTURE_TOLERANCE: time::Duration = time::Duration::minutes(1);

/// Reads the rows of a conversation, so that a session split across rows is paired whole even
/// when its rows fall into different pages or passes.
#[async_trait::async_trait]
pub trait SiblingSource: Send + Sync {
    /// Every `conversationtranscripts` row whose `name` is `name` (every session of that
    /// conversation), with the columns the pass reads.
    async fn rows_named(&self, name: &str) -> Result<Vec<Value>, IngestError>;
}

/// The identity of a row: id, row version, `modifiedon`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowInfo {
    id: String,
    version: String,
    modified_on: OffsetDateTime,
}

/// The identity of a row. A row that lacks one is refused with its id when it has one (empty
/// otherwise), so the report can name it.
fn row_identity(row: &Value) -> Result<RowInfo, (String, String)> {
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
    Ok(RowInfo {
        id,
        version,
        modified_on: modified,
    })
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

fn encode(record: &AktoRecord) -> Result<RecordJson, String> {
    serde_json::to_string(record)
        .map_err(|e| format!("cannot encode a record: {e}"))
        .and_then(|s| RawValue::from_string(s).map_err(|e| e.to_string()))
}

/// Counts a row's warnings into the summary and logs them.
fn note_warning(summary: &mut PassSummary, id: &str, w: &RowWarning) {
    tracing::debug!(transcript = %id, warning = %w, "odd transcript row tolerated");
    *summary.row_warnings.entry(w.code().to_owned()).or_default() += 1;
}

/// Who a buffered record belongs to.
struct Owner {
    pair_id: String,
    row: RowInfo,
    // The latest `modifiedon` of its session's rows (dates the pair's identity).
    session_modified: OffsetDateTime,
}

struct Pending {
    records: Vec<RecordJson>,
    owners: Vec<Owner>,
    // Rows all of whose pairs are in `records` or an earlier batch (or were delivered before).
    progress: Vec<TranscriptProgress>,
    failures: Vec<Failure>,
    // Records refused by the sink's limits, recorded against their transcript version.
    skipped: Vec<Failure>,
    // Pair identities to record with this batch besides the owners' (records never sent
    // because they are over the limits; identities seen again, to keep them).
    pairs: Vec<DeliveredPair>,
    // The length of `records`' JSON text.
    bytes: usize,
    // Every row of the pass up to this `modifiedon` is done once this buffer is accepted.
    done_through: Option<OffsetDateTime>,
}

impl Pending {
    fn new(batch_size: usize) -> Self {
        Self {
            records: Vec::with_capacity(batch_size),
            owners: Vec::with_capacity(batch_size),
            progress: Vec::new(),
            failures: Vec::new(),
            skipped: Vec::new(),
            pairs: Vec::new(),
            bytes: 0,
            done_through: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.progress.is_empty()
            && self.failures.is_empty()
            && self.skipped.is_empty()
            && self.pairs.is_empty()
    }
}

/// A batch handed to the sink, with what to commit once it (and every batch before it) was
/// accepted.
struct Sealed {
    records: Vec<RecordJson>,
    owners: Vec<Owner>,
    progress: Vec<TranscriptProgress>,
    failures: Vec<Failure>,
    skipped: Vec<Failure>,
    pairs: Vec<DeliveredPair>,
    done_through: Option<OffsetDateTime>,
}

/// What one store transaction commits: completed batches, in order.
#[derive(Default)]
struct Commit {
    progress: Vec<TranscriptProgress>,
    failures: Vec<Failure>,
    skipped: Vec<Failure>,
    pairs: Vec<DeliveredPair>,
    done_through: Option<OffsetDateTime>,
    // Records of each batch, for progress events.
    batches: Vec<usize>,
}

impl Commit {
    fn absorb(&mut self, batch: Sealed) {
        self.progress.extend(batch.progress);
        self.failures.extend(batch.failures);
        self.skipped.extend(batch.skipped);
        self.pairs.extend(batch.pairs);
        if batch.done_through.is_some() {
            self.done_through = batch.done_through;
        }
        if !batch.records.is_empty() {
            self.batches.push(batch.records.len());
        }
    }

    fn is_empty(&self) -> bool {
        self.progress.is_empty()
            && self.failures.is_empty()
            && self.skipped.is_empty()
            && self.pairs.is_empty()
            && self.done_through.is_none()
            && self.batches.is_empty()
    }
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

/// How a session's rows, as known, may lack a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Nothing suggests a missing row.
    Whole,
    /// Numbered rows end with a prompt: its reply may be in a row not written or read yet, or
    /// there may be none (about one session in nine simply ends that way).
    Hint,
    /// A `BatchId` gap, or a first message answering a message not among the rows: a row
    /// exists that the pass has not seen.
    Evidence,
}

/// When a deferred session is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decide {
    /// The stream has passed the session's last change by the split-settle time: a missing
    /// later row, written within that time, would have been read by now.
    Passed,
    /// The stream ended.
    End,
    /// Before either, to bound memory.
    Early,
}

/// A session that looks cut, waiting for a later row of the stream to complete it.
struct DeferredSession {
    rows: Vec<ViewRow>,
    cut: Cut,
    // The latest `modifiedon` of its rows read from the stream.
    last_change: OffsetDateTime,
    // Content length held.
    bytes: usize,
}

/// What the pass remembers across steps.
#[derive(Default)]
struct Memory {
    // Rows read and not yet passed by the checkpoint, in stream order.
    frontier: std::collections::VecDeque<RowInfo>,
    // Rows of the frontier not paired yet (deferred, or in the step being paired).
    waiting: HashSet<String>,
    // Sessions deferred until the stream completes them or passes them.
    deferred: HashMap<SessionKey, DeferredSession>,
    deferred_bytes: usize,
    // The latest `modifiedon` read from the stream.
    position: Option<OffsetDateTime>,
    // Pairs handed to the sink in this pass (their identities), so a session met again
    // through another of its rows sends nothing twice.
    queued: HashSet<String>,
    // Rows (id -> version) all of whose pairs were handed to the sink in this pass, possibly
    // read as a sibling before the stream reached them.
    handled: HashMap<String, String>,
    // Rows of sessions holding back a pair: the checkpoint stops before the first of them.
    held: HashSet<String>,
    // Once a row is held, the checkpoint does not move further in this pass.
    blocked: bool,
}

/// One ingestion pass over a stream of rows.
///
/// Rows are grouped into sessions (the same `name` and `conversationstarttime`) and each
/// session is paired as one stream. A session that may have rows the pass has not seen (a
/// `BatchId` after a gap, a reply whose prompt is missing, a last prompt of numbered rows)
/// is kept while the pass reads on, since a later page usually brings the rest. Once the
/// pass has moved past it by [`Pass::split_settle`] (or ends), its other rows are read with
/// one query by `name` ([`Pass::siblings`]) if that can find any: always for a gap or an
/// orphan reply, for a last prompt only while the session is still settling. Each pair is
/// identified by what it holds ([`crate::state::pair_id`]); a pair already delivered is not
/// sent again, so a transcript saved again sends only its new pairs. A pair on the open edge
/// of a split session is held back for [`Pass::split_settle`] waiting for the missing row;
/// if that row comes after the pair went out alone, only the missing half is sent.
///
/// Up to [`Pass::in_flight`] batches are delivered at once while the next rows are read and
/// paired. Batches are committed strictly in order: the checkpoint only moves past rows
/// whose pairs were accepted in that batch or an earlier one, never past a row holding a pair
/// back, and never past the current time, so a crash repeats at most the batches that were
/// in flight.
pub struct Pass<'a> {
    store: &'a mut StateStore,
    sink: &'a dyn Sink,
    akto: &'a AktoConfig,
    hosts: Option<&'a RecordHosts>,
    siblings: Option<&'a dyn SiblingSource>,
    batch_size: usize,
    in_flight: usize,
    settle: Duration,
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
            settle: DEFAULT_SPLIT_SETTLE,
            hosts: None,
            siblings: None,
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

    /// Where the other rows of a split session are read from. Without it, a session is paired
    /// from the rows the stream brings (rows of one session arriving in different passes are
    /// then joined only through held-back pairs).
    #[must_use]
    pub fn siblings(mut self, source: &'a dyn SiblingSource) -> Self {
        self.siblings = Some(source);
        self
    }

    /// How long a pair on the open edge of a split session waits for its missing row
    /// (default [`DEFAULT_SPLIT_SETTLE`]); zero never holds a pair back.
    #[must_use]
    pub fn split_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Batches delivered at once (at least 1; 1 delivers one batch at a time, in order).
    /// A crash repeats at most this many batches on the next pass; after a failed batch the
    /// others in flight are let finish and those accepted are not sent again.
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

    /// The clock for bookkeeping timestamps, believable message times and the checkpoint's
    /// upper bound.
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
            .field("split_settle", &self.settle)
            .finish()
    }
}

/// A row of a session view: its identity, its parsed content, and whether the stream of this
/// step brought it (rather than a sibling query or an earlier step).
struct ViewRow {
    info: RowInfo,
    transcript: Transcript,
    in_step: bool,
    // Length of its `content` text (what holding it costs).
    bytes: usize,
}

/// Whether the rows of a session, as known, may be missing some: numbered rows that do not
/// run 1..=n.
fn numbering_has_gap(rows: &[&ViewRow]) -> bool {
    let mut numbers: Vec<u64> = rows
        .iter()
        .filter_map(|r| {
            r.transcript
                .metadata
                .as_ref()
                .and_then(|m| m.batch_number())
        })
        .collect();
    if numbers.is_empty() {
        return false;
    }
    numbers.sort_unstable();
    numbers.dedup();
    numbers.iter().zip(1u64..).any(|(n, want)| *n != want)
}

fn has_batch_number(rows: &[&ViewRow]) -> bool {
    rows.iter().any(|r| {
        r.transcript
            .metadata
            .as_ref()
            .and_then(|m| m.batch_number())
            .is_some()
    })
}

/// Which pairs sit on an open edge: every pair of a row that starts with a reply whose prompt
/// is in a row not known (held whole, so the row's pair numbering does not change when the
/// missing row arrives), and a last prompt without a reply in a session whose rows are
/// numbered (its reply may be in the next row).
fn open_edges(paired: &PairedSession<'_>, numbered: bool) -> Vec<bool> {
    let orphan_rows: HashSet<usize> = paired
        .pairs
        .iter()
        .filter(|p| p.open_edge && p.pair.request.is_none())
        .map(|p| p.row)
        .collect();
    let last = paired.pairs.len().checked_sub(1);
    paired
        .pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let trailing = Some(i) == last
                && p.pair.request.is_some()
                && p.pair.response.is_none()
                && (p.open_edge || numbered);
            orphan_rows.contains(&p.row) || trailing
        })
        .collect()
}

/// How a session's rows may lack a row: a numbering gap or a first message answering a
/// message not among them is evidence; a last prompt of numbered rows only a hint.
fn cut_of(rows: &[&ViewRow]) -> Cut {
    if numbering_has_gap(rows) {
        return Cut::Evidence;
    }
    let Some(session) = Session::new(rows.iter().map(|r| &r.transcript).collect()) else {
        return Cut::Whole;
    };
    match looks_cut(session.rows(), has_batch_number(rows)) {
        (true, _) => Cut::Evidence,
        (false, true) => Cut::Hint,
        (false, false) => Cut::Whole,
    }
}

/// Whether a session's rows (in batch order) look cut from rows not read: (its first message
/// is a reply to a message not among them, its rows are numbered (so more may follow) and its
/// last message is a prompt). A cheap look at the activities, without pairing.
fn looks_cut(rows: &[&Transcript], numbered: bool) -> (bool, bool) {
    let activities = || rows.iter().flat_map(|r| r.content.activities.iter());
    let Some(first) = activities().find(|a| a.is_message()) else {
        return (false, false);
    };
    let orphan = matches!(first.role(), Some(Role::Bot))
        && first
            .reply_to_id
            .as_deref()
            .is_some_and(|to| !to.is_empty() && !activities().any(|a| a.id.as_deref() == Some(to)));
    let trailing = numbered
        && rows
            .iter()
            .rev()
            .flat_map(|r| r.content.activities.iter().rev())
            .find(|a| a.is_message())
            .is_some_and(Activity::is_from_user);
    (orphan, trailing)
}

/// Moves the checkpoint of `pending` over the rows of the frontier that are done: up to the
/// first row still waiting to be paired, or holding a pair back (which stops it for the rest
/// of the pass). Never past `now`.
fn advance(memory: &mut Memory, pending: &mut Pending, now: OffsetDateTime) {
    while let Some(info) = memory.frontier.front() {
        if memory.blocked || memory.waiting.contains(&info.id) {
            return;
        }
        if memory.held.contains(&info.id) {
            memory.blocked = true;
            // Nothing moves the checkpoint any more in this pass: stop keeping rows for it.
            memory.frontier.clear();
            return;
        }
        pending.done_through = Some(info.modified_on.min(now));
        memory.frontier.pop_front();
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
        if pending.is_empty() {
            return Ok(());
        }
        while inflight.len() >= self.in_flight {
            self.complete_next(inflight, summary).await?;
        }
        let sealed = Sealed {
            records: std::mem::take(&mut pending.records),
            owners: std::mem::take(&mut pending.owners),
            progress: std::mem::take(&mut pending.progress),
            failures: std::mem::take(&mut pending.failures),
            skipped: std::mem::take(&mut pending.skipped),
            pairs: std::mem::take(&mut pending.pairs),
            done_through: pending.done_through,
        };
        pending.bytes = 0;
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

    /// Waits for the oldest batch in flight and commits it, with every later one already
    /// completed.
    async fn complete_next(
        &mut self,
        inflight: &mut InFlight<'_>,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError> {
        match inflight.next().await {
            Some(done) => self.complete(done, inflight, summary),
            None => Ok(()),
        }
    }

    /// Commits a completed batch (every batch before it was committed already) together with
    /// the batches after it that have completed too: one store transaction (one disk sync)
    /// for all of them, so a fast destination is not held back by the disk. Nothing accepted
    /// waits: what is not committed here is still in flight.
    fn complete(
        &mut self,
        done: Delivered,
        inflight: &mut InFlight<'_>,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError> {
        use futures::FutureExt;
        let mut commit = Commit::default();
        let mut next = Some(done);
        let mut failed = None;
        while let Some(done) = next.take() {
            match self.accepted(done, summary) {
                Ok(batch) => commit.absorb(batch),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            next = inflight.next().now_or_never().flatten();
        }
        if !commit.is_empty() {
            self.store.commit_with_pairs(
                &commit.progress,
                &commit.failures,
                &commit.skipped,
                &commit.pairs,
                commit.done_through,
                self.clock.now(),
            )?;
            if let Some(w) = commit.done_through {
                summary.checkpoint_after = Some(rfc3339(w));
            }
            summary.transcripts_delivered += commit
                .progress
                .iter()
                .filter(|p| p.complete && p.records_delivered > 0)
                .count() as u64;
            for n in commit.batches {
                self.emit(ProgressEvent::Batch(n));
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// What a completed batch commits: its records accepted, or refused for good (reported).
    fn accepted(
        &mut self,
        done: Delivered,
        summary: &mut PassSummary,
    ) -> Result<Sealed, IngestError> {
        let Delivered { mut batch, result } = done;
        let mut outcome = result?;
        // A destination refusing everything is a setup problem, not bad records: fail the
        // pass rather than skip them, unless it accepted other records of this pass.
        if outcome.accepted == 0 && summary.records_delivered == 0 && !outcome.refused.is_empty() {
            let (_, e) = outcome.refused.swap_remove(0);
            return Err(e.into());
        }
        for (i, e) in outcome.refused {
            let Some(owner) = batch.owners.get(i) else {
                continue;
            };
            let path = record_path(&batch.records[i]);
            let reason = format!("the destination refused it: {e}");
            tracing::warn!(transcript = %owner.row.id, %path, %reason, "record refused by the destination; recorded and skipped");
            batch.skipped.push(Failure {
                id: owner.row.id.clone(),
                version: owner.row.version.clone(),
                modified_on: owner.row.modified_on,
                reason: format!("{path}: {reason}"),
            });
            summary.records_skipped.push(SkippedRecord {
                transcript_id: owner.row.id.clone(),
                path,
                reason,
            });
        }
        // Accepted and refused-for-good pairs alike are done: neither is sent again.
        batch
            .pairs
            .extend(batch.owners.iter().map(|o| DeliveredPair {
                pair_id: o.pair_id.clone(),
                transcript_id: o.row.id.clone(),
                modified_on: o.session_modified,
            }));
        summary.records_delivered += outcome.accepted;
        summary.batches_delivered += outcome.requests;
        Ok(batch)
    }

    /// Awaits `fut`, committing batches that complete meanwhile.
    async fn drive<F: Future>(
        &mut self,
        fut: F,
        inflight: &mut InFlight<'_>,
        summary: &mut PassSummary,
    ) -> Result<F::Output, IngestError> {
        let mut fut = std::pin::pin!(fut);
        loop {
            if inflight.is_empty() {
                return Ok(fut.await);
            }
            tokio::select! {
                biased;
                Some(done) = inflight.next() => self.complete(done, inflight, summary)?,
                out = &mut fut => return Ok(out),
            }
        }
    }

    /// Buffers one record, delivering what is buffered first when the record would take the
    /// request over the destination's size limit, and when the batch is full.
    async fn push_record(
        &mut self,
        record: RecordJson,
        owner: Owner,
        pending: &mut Pending,
        inflight: &mut InFlight<'a>,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError> {
        let limits = self.sink.limits();
        if let Some(reason) = limits.refuses(&record) {
            // Sending it would be refused on every pass and hold back everything after it:
            // report it instead, and count it as handled.
            let path = record_path(&record);
            tracing::warn!(transcript = %owner.row.id, %path, %reason, "record over the destination's size limits; recorded and skipped");
            pending.skipped.push(Failure {
                id: owner.row.id.clone(),
                version: owner.row.version.clone(),
                modified_on: owner.row.modified_on,
                reason: format!("{path}: {reason}"),
            });
            pending.pairs.push(DeliveredPair {
                pair_id: owner.pair_id,
                transcript_id: owner.row.id.clone(),
                modified_on: owner.session_modified,
            });
            summary.records_skipped.push(SkippedRecord {
                transcript_id: owner.row.id,
                path,
                reason,
            });
            return Ok(());
        }
        let len = record.get().len();
        if let Some(max) = limits.max_batch_bytes
            && !pending.records.is_empty()
            && batch_body_len(pending.bytes + len, pending.records.len() + 1) > max
        {
            self.flush(pending, inflight, summary).await?;
        }
        pending.bytes += len;
        pending.records.push(record);
        pending.owners.push(owner);
        if pending.records.len() >= self.batch_size.max(1) {
            self.flush(pending, inflight, summary).await?;
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
        let mut inflight: InFlight<'a> = FuturesOrdered::new();
        match self.run_steps(rows, &mut inflight, &mut summary).await {
            Ok(()) => Ok(summary),
            Err(e) => {
                self.salvage(&mut inflight).await;
                Err(e)
            }
        }
    }

    async fn run_steps<S, E>(
        &mut self,
        rows: S,
        inflight: &mut InFlight<'a>,
        summary: &mut PassSummary,
    ) -> Result<(), IngestError>
    where
        S: Stream<Item = Result<Value, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut pending = Pending::new(self.batch_size.max(1));
        let mut memory = Memory::default();
        let steps = rows.ready_chunks(STEP_ROWS);
        let mut steps = std::pin::pin!(steps);
        loop {
            if self.stop.is_stopped() {
                summary.stopped_early = true;
                break;
            }
            let next = steps.next();
            let Some(step) = self.drive(next, inflight, summary).await? else {
                break;
            };
            self.step(step, &mut pending, inflight, summary, &mut memory)
                .await?;
        }
        if !summary.stopped_early {
            // Sessions still looking cut: the stream holds no more of their rows.
            let due = memory
                .deferred
                .keys()
                .map(|k| (k.clone(), Decide::End))
                .collect();
            self.decide(due, &mut pending, inflight, summary, &mut memory)
                .await?;
        }
        self.flush(&mut pending, inflight, summary).await?;
        while !inflight.is_empty() {
            self.complete_next(inflight, summary).await?;
        }
        Ok(())
    }

    /// After a failure: lets the batches still in flight finish, and remembers the pairs of
    /// those the destination accepted (only the pairs: the checkpoint stays before the failed
    /// batch), so the next pass, which reads their rows again, does not send them twice.
    async fn salvage(&mut self, inflight: &mut InFlight<'_>) {
        let mut pairs = Vec::new();
        while let Some(done) = inflight.next().await {
            let Ok(outcome) = &done.result else {
                continue;
            };
            let refused: HashSet<usize> = outcome.refused.iter().map(|(i, _)| *i).collect();
            pairs.extend(
                done.batch
                    .owners
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !refused.contains(i))
                    .map(|(_, o)| DeliveredPair {
                        pair_id: o.pair_id.clone(),
                        transcript_id: o.row.id.clone(),
                        modified_on: o.session_modified,
                    }),
            );
        }
        if pairs.is_empty() {
            return;
        }
        match self
            .store
            .commit_with_pairs(&[], &[], &[], &pairs, None, self.clock.now())
        {
            Ok(()) => {
                tracing::info!(
                    pairs = pairs.len(),
                    "pairs accepted after the failed batch are remembered; they are not sent again"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot remember the pairs accepted after the failed batch; the next pass sends them again");
            }
        }
    }

    /// Handles the rows the source had ready: rows already delivered are passed over, the
    /// others grouped into sessions (with the rows of sessions deferred by earlier steps).
    /// A session that looks whole is paired at once; one that looks cut is deferred until a
    /// later row completes it, or until it is decided ([`Pass::decide`]).
    async fn step<E>(
        &mut self,
        step: Vec<Result<Value, E>>,
        pending: &mut Pending,
        inflight: &mut InFlight<'a>,
        summary: &mut PassSummary,
        memory: &mut Memory,
    ) -> Result<(), IngestError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let now = self.clock.now();
        let mut fresh: Vec<ViewRow> = Vec::new();
        for row in step {
            if self.stop.is_stopped() {
                summary.stopped_early = true;
                break;
            }
            let row = row.map_err(IngestError::source_error)?;
            summary.transcripts_read += 1;
            self.emit(ProgressEvent::Row);
            let info = match row_identity(&row) {
                Ok(info) => info,
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
            if info.modified_on > now + FUTURE_TOLERANCE {
                let modified_on = rfc3339(info.modified_on);
                tracing::warn!(transcript = %info.id, %modified_on, "transcript row modified in the future: the checkpoint stops at the current time, so later rows are still read");
                summary.rows_modified_in_future.push(FutureRow {
                    id: info.id.clone(),
                    modified_on,
                });
            }
            memory.position = memory.position.max(Some(info.modified_on));
            if !memory.blocked {
                memory.frontier.push_back(info.clone());
            }
            if memory.handled.get(&info.id) == Some(&info.version) {
                // Delivered with its session, read through a sibling earlier in this pass.
                continue;
            }
            let known = self.store.transcript(&info.id)?;
            if known
                .as_ref()
                .is_some_and(|k| k.version == info.version && k.complete)
            {
                summary.transcripts_already_delivered += 1;
                continue;
            }
            let bytes = row
                .get("content")
                .and_then(Value::as_str)
                .map_or(0, str::len);
            match Transcript::from_value(&row) {
                Ok(transcript) => {
                    memory.waiting.insert(info.id.clone());
                    fresh.push(ViewRow {
                        info,
                        transcript,
                        in_step: true,
                        bytes,
                    });
                }
                Err(e) => {
                    let reason = e.kind().to_string();
                    tracing::warn!(transcript = %info.id, %reason, "transcript content cannot be paired; recorded and skipped");
                    summary.transcripts_unparseable.push(SkippedTranscript {
                        id: info.id.clone(),
                        reason: reason.clone(),
                    });
                    pending.failures.push(Failure {
                        id: info.id,
                        version: info.version,
                        modified_on: info.modified_on,
                        reason,
                    });
                }
            }
        }

        // Sessions, in the order their first row came.
        let mut keys: Vec<SessionKey> = Vec::new();
        let mut groups: HashMap<SessionKey, Vec<ViewRow>> = HashMap::new();
        for row in fresh {
            let key = row.transcript.session_key();
            groups
                .entry(key.clone())
                .or_insert_with(|| {
                    keys.push(key);
                    Vec::new()
                })
                .push(row);
        }

        advance(memory, pending, now);
        for key in keys {
            let Some(mut rows) = groups.remove(&key) else {
                continue;
            };
            if let Some(earlier) = memory.deferred.remove(&key) {
                memory.deferred_bytes -= earlier.bytes;
                // A row read again (a newer version) replaces the one held.
                for row in earlier.rows {
                    if !rows.iter().any(|r| r.info.id == row.info.id) {
                        rows.push(row);
                    }
                }
            }
            let refs: Vec<&ViewRow> = rows.iter().collect();
            // Rows without a `name` are sessions of their own: nothing can complete them.
            let cut = if key.name.starts_with("row:") {
                Cut::Whole
            } else {
                cut_of(&refs)
            };
            if cut == Cut::Whole {
                self.pair_now(&key, rows, None, now, pending, inflight, summary, memory)
                    .await?;
                continue;
            }
            let last_change = rows
                .iter()
                .filter(|r| r.in_step)
                .map(|r| r.info.modified_on)
                .max()
                .unwrap_or(now);
            let bytes = rows.iter().map(|r| r.bytes).sum();
            memory.deferred_bytes += bytes;
            memory.deferred.insert(
                key,
                DeferredSession {
                    rows,
                    cut,
                    last_change,
                    bytes,
                },
            );
        }

        // Sessions the stream has passed by the settle time are decided now; over the memory
        // bounds, the oldest are decided early.
        let mut due: Vec<(SessionKey, Decide)> = Vec::new();
        if let Some(position) = memory.position {
            for (key, d) in &memory.deferred {
                if position > d.last_change + self.settle {
                    due.push((key.clone(), Decide::Passed));
                }
            }
        }
        if memory.deferred_bytes > DEFER_MAX_BYTES || memory.frontier.len() > DEFER_MAX_ROWS {
            let mut oldest: Vec<(&SessionKey, &DeferredSession)> = memory
                .deferred
                .iter()
                .filter(|(k, _)| !due.iter().any(|(d, _)| d == *k))
                .collect();
            oldest.sort_by_key(|(_, d)| d.last_change);
            let mut bytes = memory.deferred_bytes;
            let over_rows = memory.frontier.len() > DEFER_MAX_ROWS;
            for (key, d) in oldest {
                if !over_rows && bytes <= DEFER_MAX_BYTES / 2 {
                    break;
                }
                bytes -= d.bytes;
                due.push((key.clone(), Decide::Early));
            }
        }
        if !due.is_empty() {
            self.decide(due, pending, inflight, summary, memory).await?;
        }
        Ok(())
    }

    /// Decides deferred sessions: reads the other rows of those that need it (a row is known
    /// to be missing; or, at the end of the pass, the last prompt of a session still settling
    /// may be answered in a row being written), then pairs each.
    async fn decide(
        &mut self,
        mut due: Vec<(SessionKey, Decide)>,
        pending: &mut Pending,
        inflight: &mut InFlight<'a>,
        summary: &mut PassSummary,
        memory: &mut Memory,
    ) -> Result<(), IngestError> {
        let now = self.clock.now();
        // Oldest first, so the checkpoint moves as early as it can.
        due.sort_by(|a, b| {
            let at = |k: &SessionKey| memory.deferred.get(k).map(|d| d.last_change);
            at(&a.0)
                .cmp(&at(&b.0))
                .then_with(|| a.0.to_string().cmp(&b.0.to_string()))
        });
        let mut sessions: Vec<(SessionKey, DeferredSession)> = Vec::with_capacity(due.len());
        let mut wanted: Vec<String> = Vec::new();
        for (key, when) in due {
            let Some(d) = memory.deferred.remove(&key) else {
                continue;
            };
            memory.deferred_bytes -= d.bytes;
            let query = match (d.cut, when) {
                (Cut::Whole, _) | (Cut::Hint, Decide::Passed) => false,
                (Cut::Evidence, _) | (Cut::Hint, Decide::Early) => true,
                (Cut::Hint, Decide::End) => now - d.last_change < self.settle,
            };
            if query && self.siblings.is_some() && !wanted.contains(&key.name) {
                wanted.push(key.name.clone());
            }
            sessions.push((key, d));
        }
        let mut found: HashMap<String, Vec<Value>> = HashMap::new();
        if let (Some(source), false) = (self.siblings, wanted.is_empty()) {
            summary.sibling_queries += wanted.len() as u64;
            let queries = futures::stream::iter(wanted)
                .map(|name| async move {
                    let rows = source.rows_named(&name).await;
                    (name, rows)
                })
                .buffer_unordered(SIBLING_QUERIES)
                .collect::<Vec<_>>();
            for (name, rows) in self.drive(queries, inflight, summary).await? {
                found.insert(name, rows?);
            }
        }
        for (key, d) in sessions {
            let extra = found.get(&key.name).map(Vec::as_slice);
            self.pair_now(&key, d.rows, extra, now, pending, inflight, summary, memory)
                .await?;
        }
        Ok(())
    }

    /// Pairs a session (with the sibling rows found for it), and moves the checkpoint over
    /// what is done.
    #[allow(clippy::too_many_arguments)]
    async fn pair_now(
        &mut self,
        key: &SessionKey,
        mut rows: Vec<ViewRow>,
        found: Option<&[Value]>,
        now: OffsetDateTime,
        pending: &mut Pending,
        inflight: &mut InFlight<'a>,
        summary: &mut PassSummary,
        memory: &mut Memory,
    ) -> Result<(), IngestError> {
        let ids: Vec<String> = rows
            .iter()
            .filter(|r| r.in_step)
            .map(|r| r.info.id.clone())
            .collect();
        if let Some(extra) = found {
            self.add_siblings(key, extra, &mut rows);
        }
        let held = self
            .pair_session(key, rows, now, pending, inflight, summary, memory)
            .await?;
        memory.held.extend(held);
        for id in &ids {
            memory.waiting.remove(id);
        }
        advance(memory, pending, now);
        Ok(())
    }

    /// Adds the rows of `key`'s session found by a sibling query that the view lacks (or has
    /// in an older version).
    fn add_siblings(&self, key: &SessionKey, found: &[Value], rows: &mut Vec<ViewRow>) {
        for row in found {
            let Ok(info) = row_identity(row) else {
                continue;
            };
            if let Some(have) = rows.iter().find(|r| r.info.id == info.id)
                && have.info.modified_on >= info.modified_on
            {
                continue;
            }
            let transcript = match Transcript::from_value(row) {
                Ok(t) => t,
                Err(e) => {
                    // Reported when the stream reaches it; the session is paired without it.
                    tracing::debug!(transcript = %info.id, error = %e, "a sibling row cannot be read");
                    continue;
                }
            };
            if transcript.session_key() != *key {
                // Another session of the same conversation.
                continue;
            }
            rows.retain(|r| r.info.id != info.id);
            rows.push(ViewRow {
                info,
                transcript,
                in_step: false,
                bytes: 0,
            });
        }
    }

    /// Pairs one session and buffers its pairs not delivered yet. Returns the ids of the rows
    /// of this step that hold a pair back (the checkpoint must not pass them).
    #[allow(clippy::too_many_arguments)]
    async fn pair_session(
        &mut self,
        key: &SessionKey,
        rows: Vec<ViewRow>,
        now: OffsetDateTime,
        pending: &mut Pending,
        inflight: &mut InFlight<'a>,
        summary: &mut PassSummary,
        memory: &mut Memory,
    ) -> Result<Vec<String>, IngestError> {
        let Some(session) = Session::new(rows.iter().map(|r| &r.transcript).collect()) else {
            return Ok(Vec::new());
        };
        let paired = session.pair(&PairOptions::new().now(now));
        // The view's rows in the session's (batch) order.
        let by_id: HashMap<&str, &ViewRow> = rows.iter().map(|r| (r.info.id.as_str(), r)).collect();
        let view: Vec<&ViewRow> = paired
            .rows
            .iter()
            .filter_map(|t| by_id.get(t.id.to_ascii_lowercase().as_str()).copied())
            .collect();
        if view.len() != paired.rows.len() {
            // Ids are lower-cased by `row_identity`; a row without one never gets here.
            return Err(IngestError::Source {
                message: format!("session {key}: rows and their identities disagree"),
                source: "internal".into(),
            });
        }
        let session_modified = view.iter().map(|r| r.info.modified_on).max().unwrap_or(now);
        let settling = now - session_modified < self.settle;
        let open = open_edges(&paired, has_batch_number(&view));
        for (r, w) in &paired.warnings {
            if let Some(row) = view.get(*r).filter(|row| row.in_step) {
                note_warning(summary, &row.info.id, w);
            }
        }
        // Progress written by schema version 1: the first N pairs of the row went out.
        let mut legacy: Vec<Option<u64>> = Vec::with_capacity(view.len());
        // Whether a row of the session was seen by an earlier pass (or read by a sibling
        // query): only then can a half of one of its pairs have gone out alone.
        let mut seen_before = view.iter().any(|r| !r.in_step);
        for row in &view {
            let known = self.store.transcript(&row.info.id)?;
            seen_before |= known.is_some();
            legacy.push(match known {
                Some(k) if !k.keyed && k.version == row.info.version => Some(k.records_delivered),
                _ => None,
            });
        }
        // Which halves of each complete pair went out alone before: a prompt delivered
        // without its reply once the wait was over (or a reply without its prompt). Only the
        // other half is sent now, so no message reaches the destination twice.
        let mut halves_out = vec![(false, false); paired.pairs.len()];
        if seen_before {
            for (p, out) in paired.pairs.iter().zip(halves_out.iter_mut()) {
                let (Some(q), Some(r)) = (&p.request_only_key, &p.response_only_key) else {
                    continue;
                };
                let full = pair_id(&p.key);
                if memory.queued.contains(&full) || self.store.pair_delivered(&full)? {
                    continue;
                }
                let (q, r) = (pair_id(q), pair_id(r));
                *out = (
                    memory.queued.contains(&q) || self.store.pair_delivered(&q)?,
                    memory.queued.contains(&r) || self.store.pair_delivered(&r)?,
                );
            }
        }
        let mut records = if halves_out.iter().any(|(q, r)| q != r) {
            let mut rest = paired.clone();
            for (p, (q, r)) in rest.pairs.iter_mut().zip(&halves_out) {
                match (q, r) {
                    (true, false) => p.pair.request = None,
                    (false, true) => p.pair.response = None,
                    _ => {}
                }
            }
            self.akto.session_records(&rest)
        } else {
            self.akto.session_records(&paired)
        };
        if let Some(hosts) = self.hosts {
            let user = paired.facts.user_aad_object_id.as_deref();
            let mut plain: Vec<AktoRecord> = records.iter().map(|r| r.record.clone()).collect();
            hosts.apply(&self.akto.bot_for(paired.rows[0]), user, &mut plain);
            for (r, p) in records.iter_mut().zip(plain) {
                r.record = p;
            }
        }
        let mut held_rows = vec![false; view.len()];
        let mut pairs_per_row = vec![0u64; view.len()];
        let mut sent_per_row = vec![0u64; view.len()];
        for (((p, record), open), halves) in
            paired.pairs.iter().zip(records).zip(open).zip(halves_out)
        {
            let Some(row) = view.get(p.row) else {
                continue;
            };
            pairs_per_row[p.row] += 1;
            let id = pair_id(&record.key);
            if memory.queued.contains(&id) {
                continue;
            }
            if legacy[p.row].is_some_and(|n| (p.pair.index as u64) < n) {
                continue;
            }
            if halves.0 || halves.1 {
                summary.half_pairs_completed += 1;
            }
            if halves == (true, true) || self.store.pair_delivered(&id)? {
                // Seen again (a row saved again): keep its identity as long as the rows live.
                pending.pairs.push(DeliveredPair {
                    pair_id: id,
                    transcript_id: row.info.id.clone(),
                    modified_on: session_modified,
                });
                continue;
            }
            if open && settling {
                held_rows[p.row] = true;
                summary.pairs_held += 1;
                continue;
            }
            let json = encode(&record.record).map_err(|reason| IngestError::Source {
                message: reason.clone(),
                source: reason.into(),
            })?;
            memory.queued.insert(id.clone());
            sent_per_row[p.row] += 1;
            let owner = Owner {
                pair_id: id,
                row: row.info.clone(),
                session_modified,
            };
            self.push_record(json, owner, pending, inflight, summary)
                .await?;
        }
        let any_held = held_rows.iter().any(|h| *h);
        let mut held = Vec::new();
        for (r, row) in view.iter().enumerate() {
            if row.in_step && pairs_per_row[r] == 0 {
                summary.transcripts_without_pairs += 1;
            }
            if held_rows[r] {
                memory.held.insert(row.info.id.clone());
                continue;
            }
            memory
                .handled
                .insert(row.info.id.clone(), row.info.version.clone());
            pending.progress.push(TranscriptProgress {
                id: row.info.id.clone(),
                version: row.info.version.clone(),
                modified_on: row.info.modified_on,
                records_delivered: sent_per_row[r],
                complete: true,
            });
        }
        if any_held {
            tracing::debug!(session = %key, "pairs held back until the rest of the split session is written");
            // Every row of the session in this step stops the checkpoint: the next pass reads
            // them again and finds the missing row (or delivers the pair once it settled).
            held.extend(view.iter().filter(|r| r.in_step).map(|r| r.info.id.clone()));
        }
        Ok(held)
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
        // Every record accepted, whole.
        records: Mutex<Vec<Value>>,
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
                self.records.lock().unwrap().push(v);
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
        // A new version of one row sends only its pairs not delivered before: none when it
        // holds the same messages, the new one when a turn was added.
        let mut changed = rows;
        changed[2] = row(2, 3, 2);
        let third = pass(&mut s, &sink, changed.clone(), 5).await.unwrap();
        assert_eq!(third.records_delivered, 0);
        assert_eq!(third.transcripts_already_delivered, 6);
        changed[2] = row(2, 4, 3);
        let fourth = pass(&mut s, &sink, changed, 5).await.unwrap();
        assert_eq!(fourth.records_delivered, 1);
        assert_eq!(
            sink.got.lock().unwrap().last().map(String::as_str),
            Some("/copilot/conversation/00000000-0000-0000-0000-000000000002/message/3")
        );
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
        // Transcript 1 is not done; its first pair is recorded as delivered.
        assert!(
            s.transcript("00000000-0000-0000-0000-000000000001")
                .unwrap()
                .is_none()
        );

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
        // The batches accepted after the failed one were let finish and their pairs
        // remembered: nothing accepted is sent again.
        let repeated = first.iter().filter(|p| second.contains(p)).count();
        assert_eq!(repeated, 0, "{repeated} records repeated");
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
        // One row per poll, as a slow source gives them; the stop comes with the fifth row.
        let rows = futures::stream::iter(0..10).then(move |n| {
            let s2 = s2.clone();
            async move {
                tokio::task::yield_now().await;
                if n == 4 {
                    s2.stop();
                }
                Ok::<_, std::io::Error>(row(n, 1, 1))
            }
        });
        let summary = Pass::new(&mut s, &sink, &akto)
            .batch_size(2)
            .stop_signal(stop)
            .run(rows)
            .await
            .unwrap();
        assert!(summary.stopped_early);
        assert!((4..=5).contains(&summary.transcripts_read), "{summary:?}");
        assert_eq!(summary.records_delivered, summary.transcripts_read);
        assert_eq!(
            s.watermark().unwrap().map(rfc3339),
            Some(format!(
                "2026-03-01T12:0{}:00Z",
                summary.transcripts_read - 1
            ))
        );
    }

    // ---- Sessions split across rows, delivery identity, the checkpoint's upper bound ----

    const NAME: &str = "conv-1_4b57a07a-d1cf-06b6-3ebc-97dababcdbf0";
    const NOW: OffsetDateTime = time::macros::datetime!(2026-03-01 12:00 UTC);

    /// The rows `rows_named` finds: a stand-in for Dataverse.
    #[derive(Default)]
    struct Table {
        rows: Mutex<Vec<Value>>,
        queries: std::sync::atomic::AtomicU64,
    }

    #[async_trait]
    impl SiblingSource for Table {
        async fn rows_named(&self, name: &str) -> Result<Vec<Value>, IngestError> {
            self.queries
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self
                .rows
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r["name"] == name)
                .cloned()
                .collect())
        }
    }

    /// A whole session: a greeting, then six prompt/reply exchanges (the third prompt gets two
    /// replies).
    fn session_activities() -> Vec<Value> {
        let t0 = 1_772_359_200_i64;
        let mut acts = vec![
            serde_json::json!({"type": "event", "id": "start", "name": "startConversation", "timestamp": t0, "from": {"role": 1}}),
            serde_json::json!({"type": "message", "id": "greet", "replyToId": "start", "timestamp": t0, "from": {"role": 0}, "text": "Hello"}),
        ];
        for t in 0..6_i64 {
            let ts = t0 + 10 * t + 1;
            acts.push(serde_json::json!({"type": "message", "id": format!("q{t}"), "timestamp": ts, "from": {"role": 1}, "text": format!("question {t}")}));
            acts.push(serde_json::json!({"type": "message", "id": format!("a{t}"), "replyToId": format!("q{t}"), "timestamp": ts + 1, "from": {"role": 0}, "text": format!("answer {t}")}));
            if t == 2 {
                acts.push(serde_json::json!({"type": "message", "id": "a2b", "replyToId": "q2", "timestamp": ts + 2, "from": {"role": 0}, "text": "answer 2, more"}));
            }
        }
        acts
    }

    fn session_row(id: u32, batch: u64, acts: &[Value], modified: OffsetDateTime) -> Value {
        serde_json::json!({
            "conversationtranscriptid": format!("00000000-0000-0000-0000-{id:012}"),
            "name": NAME,
            "conversationstarttime": "2026-03-01T10:00:00Z",
            "createdon": "2026-03-01T10:40:00Z",
            "modifiedon": rfc3339(modified),
            "versionnumber": 1,
            "metadata": serde_json::json!({"BotId": "4b57a07a-d1cf-06b6-3ebc-97dababcdbf0", "BotName": "cr_hr", "BatchId": batch}).to_string(),
            "content": serde_json::json!({"activities": acts}).to_string(),
        })
    }

    /// The session in three rows (ids 1, 2, 3), each cut between a prompt and its reply.
    fn three_rows(modified: [OffsetDateTime; 3]) -> [Value; 3] {
        let acts = session_activities();
        assert_eq!(
            (acts[4]["id"].as_str(), acts[11]["id"].as_str()),
            (Some("q1"), Some("q4"))
        );
        [
            session_row(1, 1, &acts[..5], modified[0]),
            session_row(2, 2, &acts[5..12], modified[1]),
            session_row(3, 3, &acts[12..], modified[2]),
        ]
    }

    /// (request text, response text) of each record, sorted.
    fn exchanges(records: &[Value]) -> Vec<(String, String)> {
        let text = |payload: &Value| -> String {
            let v: Value =
                serde_json::from_str(payload.as_str().unwrap_or("{}")).unwrap_or_default();
            v["message"].as_str().unwrap_or("-").to_owned()
        };
        let mut out: Vec<(String, String)> = records
            .iter()
            .map(|r| (text(&r["requestPayload"]), text(&r["responsePayload"])))
            .collect();
        out.sort();
        out
    }

    /// What the unsplit session gives: 8 exchanges, only the greeting without a request.
    fn unsplit_exchanges() -> Vec<(String, String)> {
        let whole = session_row(9, 1, &session_activities(), NOW);
        let t = Transcript::from_value(&whole).unwrap();
        let records = AktoConfig::new("1", "0", "env").records(&t.pair());
        let values: Vec<Value> = records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        let e = exchanges(&values);
        assert_eq!(e.len(), 8, "{e:?}");
        e
    }

    /// One row per step, as rows on different pages arrive.
    fn one_per_step(rows: Vec<Value>) -> impl Stream<Item = Result<Value, std::io::Error>> {
        futures::stream::iter(rows).then(|r| async move {
            tokio::task::yield_now().await;
            Ok(r)
        })
    }

    /// A pass over the rows a connector pass would read (see [`window`]).
    async fn session_pass(
        store: &mut StateStore,
        sink: &MemorySink,
        table: &Table,
        now: OffsetDateTime,
    ) -> PassSummary {
        let rows = window(store, table);
        session_pass_rows(store, sink, table, rows, now).await
    }

    async fn session_pass_rows(
        store: &mut StateStore,
        sink: &MemorySink,
        table: &Table,
        rows: Vec<Value>,
        now: OffsetDateTime,
    ) -> PassSummary {
        let akto = AktoConfig::new("1000000", "0", "env");
        Pass::new(store, sink, &akto)
            .batch_size(3)
            .siblings(table)
            .clock(Arc::new(client_core::ManualClock::new(now)))
            .run(one_per_step(rows))
            .await
            .unwrap()
    }

    /// The rows a connector pass reads: modified at or after the checkpoint, in order.
    fn window(store: &StateStore, table: &Table) -> Vec<Value> {
        let since = store.watermark().unwrap();
        let mut rows: Vec<Value> = table
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                let m = OffsetDateTime::parse(r["modifiedon"].as_str().unwrap(), &Rfc3339).unwrap();
                since.is_none_or(|s| m >= s)
            })
            .cloned()
            .collect();
        rows.sort_by_key(|r| r["modifiedon"].as_str().unwrap().to_owned());
        rows
    }

    #[tokio::test]
    async fn a_split_session_in_reverse_order_on_different_pages_gives_the_unsplit_pairs_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let m = |min: i64| NOW - time::Duration::minutes(min);
        // Written last part first.
        let [a, b, c] = three_rows([m(1), m(2), m(3)]);
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![a.clone(), b.clone(), c.clone()];
        let summary = session_pass_rows(&mut s, &sink, &table, vec![c, b, a], NOW).await;
        let records = sink.records.lock().unwrap().clone();
        assert_eq!(exchanges(&records), unsplit_exchanges());
        assert_eq!(summary.records_delivered, 8);
        assert_eq!(summary.pairs_held, 0);
        // Batch 3 and 2 looked cut (a numbering gap); the later row of the same pass completed
        // them, so no query was needed.
        assert_eq!(summary.sibling_queries, 0);
        assert_eq!(summary.transcripts_delivered, 3);
        // The pair cut at the first boundary is named by the row holding its prompt.
        let paths: Vec<&str> = records
            .iter()
            .map(|r| r["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.contains(&"/copilot/conversation/00000000-0000-0000-0000-000000000001/message/2"),
            "{paths:?}"
        );
        assert_eq!(
            summary.checkpoint_after.as_deref(),
            Some("2026-03-01T11:59:00Z")
        );
        // Nothing again.
        let again = session_pass(&mut s, &sink, &table, NOW).await;
        assert_eq!(again.records_delivered, 0, "{again:?}");
    }

    #[tokio::test]
    async fn a_split_session_arriving_in_two_passes_sends_each_pair_once_and_no_half_pair() {
        let m = |min: i64| NOW - time::Duration::minutes(min);
        // Later parts first, then the first part (backwards), and first part first (forwards).
        for (first_pass, second_pass) in [
            (vec![1, 2], vec![0]),
            (vec![0], vec![1, 2]),
            (vec![2], vec![0, 1]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut s = store(&dir);
            let sink = MemorySink::default();
            let parts = three_rows([m(3), m(2), m(1)]);
            let table = Table::default();
            *table.rows.lock().unwrap() = first_pass.iter().map(|&i| parts[i].clone()).collect();
            let one = session_pass(&mut s, &sink, &table, NOW).await;
            assert!(one.pairs_held > 0, "{first_pass:?}: {one:?}");
            assert!(
                s.watermark().unwrap().is_none_or(|w| w < m(3)),
                "the checkpoint waits for the session"
            );
            // Five minutes later the missing rows are written.
            let later = NOW + time::Duration::minutes(5);
            for &i in &second_pass {
                let mut row = parts[i].clone();
                row["modifiedon"] = Value::String(rfc3339(NOW + time::Duration::minutes(1)));
                table.rows.lock().unwrap().push(row);
            }
            let two = session_pass(&mut s, &sink, &table, later).await;
            assert_eq!(two.pairs_held, 0, "{two:?}");
            let records = sink.records.lock().unwrap().clone();
            assert_eq!(
                exchanges(&records),
                unsplit_exchanges(),
                "{first_pass:?} then {second_pass:?}"
            );
            let mut paths: Vec<&str> = records
                .iter()
                .map(|r| r["path"].as_str().unwrap())
                .collect();
            paths.sort_unstable();
            paths.dedup();
            assert_eq!(paths.len(), 8, "paths are unique");
            assert_eq!(
                two.checkpoint_after.as_deref(),
                Some("2026-03-01T12:01:00Z")
            );
            let three = session_pass(&mut s, &sink, &table, later).await;
            assert_eq!(three.records_delivered, 0);
        }
    }

    #[tokio::test]
    async fn an_open_edge_goes_out_as_it_is_once_the_session_settled() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let [a, _, _] = three_rows([NOW - time::Duration::minutes(1); 3]);
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![a];
        let held = session_pass(&mut s, &sink, &table, NOW).await;
        assert_eq!(
            (held.records_delivered, held.pairs_held),
            (2, 1),
            "{held:?}"
        );
        assert_eq!(s.watermark().unwrap(), None);
        // Past the settle time no row came: the last prompt goes out without a reply.
        let later = NOW + DEFAULT_SPLIT_SETTLE;
        let settled = session_pass(&mut s, &sink, &table, later).await;
        assert_eq!((settled.records_delivered, settled.pairs_held), (1, 0));
        let records = sink.records.lock().unwrap().clone();
        assert_eq!(
            exchanges(&records)
                .iter()
                .filter(|(q, _)| q == "question 1")
                .count(),
            1
        );
        assert_eq!(
            settled.checkpoint_after.as_deref(),
            Some("2026-03-01T11:59:00Z")
        );
    }

    /// A row of another conversation: one whole exchange, numbered (as Dataverse writes).
    fn other_row(id: u32, modified: OffsetDateTime) -> Value {
        let mut row = session_row(id, 1, &session_activities()[..4], modified);
        row["name"] = Value::String(format!("other-{id}_4b57a07a-d1cf-06b6-3ebc-97dababcdbf0"));
        row
    }

    /// A pass with a given split-settle time.
    async fn settle_pass(
        store: &mut StateStore,
        sink: &MemorySink,
        table: &Table,
        rows: Vec<Value>,
        now: OffsetDateTime,
        settle: Duration,
    ) -> PassSummary {
        let akto = AktoConfig::new("1000000", "0", "env");
        Pass::new(store, sink, &akto)
            .batch_size(3)
            .siblings(table)
            .split_settle(settle)
            .clock(Arc::new(client_core::ManualClock::new(now)))
            .run(one_per_step(rows))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_later_page_completes_a_cut_session_without_a_query() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        // Written a day ago, one after another, with other conversations' rows in between.
        let day = NOW - time::Duration::days(1);
        let sec = |n: i64| day + time::Duration::seconds(n);
        let [a, b, c] = three_rows([sec(0), sec(3), sec(6)]);
        let table = Table::default();
        let rows = vec![
            a,
            other_row(11, sec(1)),
            other_row(12, sec(2)),
            b,
            other_row(13, sec(4)),
            c,
        ];
        *table.rows.lock().unwrap() = rows.clone();
        let summary = session_pass_rows(&mut s, &sink, &table, rows, NOW).await;
        assert_eq!(summary.sibling_queries, 0, "{summary:?}");
        assert_eq!(table.queries.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(summary.pairs_held, 0);
        let records = sink.records.lock().unwrap().clone();
        let ours: Vec<Value> = records
            .iter()
            .filter(|r| {
                let p = r["path"].as_str().unwrap();
                ["000000000001/", "000000000002/", "000000000003/"]
                    .iter()
                    .any(|id| p.contains(id))
            })
            .cloned()
            .collect();
        assert_eq!(exchanges(&ours), unsplit_exchanges());
        assert_eq!(summary.records_delivered, 8 + 3 * 2);
        assert_eq!(
            summary.checkpoint_after.as_deref(),
            Some(rfc3339(sec(6)).as_str())
        );
    }

    #[tokio::test]
    async fn a_settled_session_ending_with_a_prompt_goes_out_without_a_query() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        // One numbered row ending with an unanswered prompt, an hour old: its reply, had it
        // been in another row, would have been written (and read by this pass) long ago.
        let [a, _, _] = three_rows([NOW - time::Duration::hours(1); 3]);
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![a.clone()];
        let summary = session_pass_rows(&mut s, &sink, &table, vec![a], NOW).await;
        assert_eq!(
            (summary.sibling_queries, summary.pairs_held),
            (0, 0),
            "{summary:?}"
        );
        assert_eq!(summary.records_delivered, 3);
    }

    #[tokio::test]
    async fn a_session_still_settling_at_the_end_of_the_pass_is_queried_and_held() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let [a, _, _] = three_rows([NOW - time::Duration::minutes(2); 3]);
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![a.clone()];
        let summary = session_pass_rows(&mut s, &sink, &table, vec![a], NOW).await;
        assert_eq!(
            (summary.sibling_queries, summary.pairs_held),
            (1, 1),
            "{summary:?}"
        );
        assert_eq!(summary.records_delivered, 2);
        assert_eq!(s.watermark().unwrap(), None);
    }

    #[tokio::test]
    async fn a_zero_split_settle_never_waits_nor_queries_for_a_last_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let [a, _, _] = three_rows([NOW - time::Duration::minutes(1); 3]);
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![a.clone()];
        let summary = settle_pass(&mut s, &sink, &table, vec![a], NOW, Duration::ZERO).await;
        assert_eq!(
            (
                summary.sibling_queries,
                summary.pairs_held,
                summary.records_delivered
            ),
            (0, 0, 3),
            "{summary:?}"
        );
        assert_eq!(
            s.watermark().unwrap(),
            Some(NOW - time::Duration::minutes(1))
        );
    }

    #[tokio::test]
    async fn a_numbering_gap_is_queried_however_old_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        // Only batch 3 is in this pass's window (the others were modified before it), a week
        // ago: the gap says rows 1 and 2 exist, so they are read whatever the row's age.
        let week = NOW - time::Duration::days(7);
        let [a, b, c] = three_rows([week, week, week]);
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![a, b, c.clone()];
        let summary = session_pass_rows(&mut s, &sink, &table, vec![c], NOW).await;
        assert_eq!(summary.sibling_queries, 1, "{summary:?}");
        let records = sink.records.lock().unwrap().clone();
        assert_eq!(exchanges(&records), unsplit_exchanges());
    }

    #[tokio::test]
    async fn a_cut_session_is_decided_once_the_stream_passes_it_by_the_settle_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let day = NOW - time::Duration::days(1);
        let [a, _, _] = three_rows([day; 3]);
        let later = |min: i64| other_row(20 + min as u32, day + time::Duration::minutes(min));
        // The settle time is 10 minutes: the row at +11 min passes it, not the row at +5.
        let rows = vec![a, later(5), later(11), later(12)];
        let table = Table::default();
        let summary = session_pass_rows(&mut s, &sink, &table, rows, NOW).await;
        assert_eq!(summary.sibling_queries, 0);
        let order: Vec<String> = sink
            .records
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .split('/')
                    .nth(3)
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let first = |id: &str| order.iter().position(|p| p.ends_with(id)).unwrap();
        // Decided after the row at +11 min was read, before the row at +12 min.
        assert!(first("000000000025") < first("000000000001"), "{order:?}");
        assert!(first("000000000031") < first("000000000001"), "{order:?}");
        assert!(first("000000000001") < first("000000000032"), "{order:?}");
    }

    #[tokio::test]
    async fn a_half_pair_sent_after_the_wait_is_completed_by_its_other_half_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let settle = Duration::from_secs(5 * 60);
        let [a, b, c] = three_rows([NOW - time::Duration::minutes(1); 3]);
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![a];
        let one = session_pass(&mut s, &sink, &table, NOW).await;
        assert_eq!(one.pairs_held, 1, "{one:?}");
        // The wait is over and no row came: "question 1" goes out without its reply.
        let t2 = NOW + time::Duration::try_from(settle).unwrap();
        let rows = window(&s, &table);
        let two = settle_pass(&mut s, &sink, &table, rows, t2, settle).await;
        assert_eq!((two.records_delivered, two.pairs_held), (1, 0), "{two:?}");
        // Then the rest of the session is written: the reply to "question 1" goes out alone,
        // under the path the prompt went out with.
        for mut row in [b, c] {
            row["modifiedon"] = Value::String(rfc3339(t2 + time::Duration::minutes(1)));
            table.rows.lock().unwrap().push(row);
        }
        let t3 = t2 + time::Duration::minutes(10);
        let rows = window(&s, &table);
        let three = settle_pass(&mut s, &sink, &table, rows, t3, settle).await;
        assert_eq!(three.half_pairs_completed, 1, "{three:?}");
        let records = sink.records.lock().unwrap().clone();
        // Exactly the unsplit session's exchanges, but the pair cut by the wait comes in its
        // two halves: no message twice, none lost.
        let mut want: Vec<(String, String)> = unsplit_exchanges()
            .into_iter()
            .filter(|(q, _)| q != "question 1")
            .collect();
        want.push(("question 1".into(), "-".into()));
        want.push(("-".into(), "answer 1".into()));
        want.sort();
        assert_eq!(exchanges(&records), want);
        let path_of = |text: &str, field: &str| -> Vec<String> {
            records
                .iter()
                .filter(|r| r[field].as_str().unwrap_or("").contains(text))
                .map(|r| r["path"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            path_of("question 1", "requestPayload"),
            path_of("answer 1", "responsePayload")
        );
        // Nothing again.
        let rows = window(&s, &table);
        let four = settle_pass(&mut s, &sink, &table, rows, t3, settle).await;
        assert_eq!(four.records_delivered, 0, "{four:?}");
    }

    #[tokio::test]
    async fn a_row_modified_in_the_future_is_reported_and_does_not_hide_later_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let sink = MemorySink::default();
        let mut early = row(0, 1, 1);
        early["modifiedon"] = Value::String(rfc3339(NOW - time::Duration::minutes(10)));
        let mut future = row(1, 1, 1);
        future["modifiedon"] = Value::String("2030-01-01T00:00:00Z".into());
        let table = Table::default();
        *table.rows.lock().unwrap() = vec![early, future];
        let first = session_pass(&mut s, &sink, &table, NOW).await;
        assert_eq!(first.records_delivered, 2);
        assert_eq!(
            first.rows_modified_in_future,
            vec![FutureRow {
                id: "00000000-0000-0000-0000-000000000001".into(),
                modified_on: "2030-01-01T00:00:00Z".into()
            }]
        );
        // The checkpoint stops at the current time, not in 2030.
        assert_eq!(s.watermark().unwrap(), Some(NOW));
        // A row written afterwards is read and delivered by the next pass.
        let later = NOW + time::Duration::minutes(10);
        let mut late = row(2, 1, 1);
        late["modifiedon"] = Value::String(rfc3339(NOW + time::Duration::minutes(5)));
        table.rows.lock().unwrap().push(late);
        let second = session_pass(&mut s, &sink, &table, later).await;
        assert_eq!(second.records_delivered, 1, "{second:?}");
        assert_eq!(second.transcripts_already_delivered, 1);
        assert_eq!(s.watermark().unwrap(), Some(later));
    }

    #[tokio::test]
    async fn progress_written_by_the_first_schema_resumes_after_the_pairs_it_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        // A version-1 store: transcript 0 had 2 of its 3 records accepted.
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', '1');
                 CREATE TABLE checkpoint (scope TEXT PRIMARY KEY, watermark TEXT NOT NULL, watermark_unix INTEGER NOT NULL, updated_at TEXT NOT NULL);
                 CREATE TABLE delivered (scope TEXT NOT NULL, transcript_id TEXT NOT NULL, version TEXT NOT NULL, modified_unix INTEGER NOT NULL, records INTEGER NOT NULL, complete INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (scope, transcript_id));
                 CREATE TABLE failures (scope TEXT NOT NULL, transcript_id TEXT NOT NULL, version TEXT NOT NULL, modified_unix INTEGER NOT NULL, reason TEXT NOT NULL, recorded_at TEXT NOT NULL, PRIMARY KEY (scope, transcript_id, version));
                 CREATE TABLE agents_sent (scope TEXT NOT NULL, agent_id TEXT NOT NULL, fingerprint TEXT NOT NULL, sent_at TEXT NOT NULL, PRIMARY KEY (scope, agent_id));
                 INSERT INTO delivered VALUES ('scope', '00000000-0000-0000-0000-000000000000', '1', 0, 2, 0, 'x');
                 INSERT INTO delivered VALUES ('scope', '00000000-0000-0000-0000-000000000001', '1', 0, 3, 1, 'x');",
            )
            .unwrap();
        }
        let mut s = StateStore::open(&path, "scope").unwrap();
        let t0 = s
            .transcript("00000000-0000-0000-0000-000000000000")
            .unwrap()
            .unwrap();
        assert!(!t0.keyed && !t0.complete && t0.records_delivered == 2);
        let sink = MemorySink::default();
        let summary = pass(&mut s, &sink, (0..3).map(|n| row(n, 3, 1)).collect(), 50)
            .await
            .unwrap();
        let got = sink.got.lock().unwrap().clone();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0],
            "/copilot/conversation/00000000-0000-0000-0000-000000000000/message/2"
        );
        assert_eq!(summary.transcripts_already_delivered, 1);
        drop(s);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, "2");
    }
}

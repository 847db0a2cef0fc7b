//! Sessions: the rows of one conversation session, paired as one stream.
//!
//! A row is not a conversation. Every row of a conversation shares `name`
//! (`{conversationId}_{botId}`); each inactivity window (a *session*) has its own
//! `conversationstarttime`; and a session whose content grows past about 1 MB is split into
//! several rows sharing both, ordered by `metadata.BatchId`. A prompt can be the last message
//! of one row and its reply the first of the next, so the rows of a session must be paired
//! together: [`sessions`] groups rows, [`Session::pair`] pairs them as one stream.
//!
//! # Stable paths and identities
//!
//! Each pair belongs to the row holding its first message (its request, else its response),
//! and its [`Pair::index`] counts the pairs belonging to that row, so a record's path
//! (`/copilot/conversation/{row id}/message/{index}`) does not depend on which rows were read
//! first, and a session of one row gives exactly the paths of [`crate::pair_transcript`].
//!
//! [`SessionPair::key`] identifies a pair by what it holds: the session (`name` and start
//! time) and the ids of its messages (or their positions, for messages without an id). It does
//! not change when a row is saved again with more messages, so a consumer that remembers
//! delivered keys sends only the new pairs.

use std::collections::HashMap;
use std::fmt;

use time::OffsetDateTime;

use crate::activity::Activity;
use crate::pairing::{
    Pair, PairOptions, RowTimes, ToolInvocation, TranscriptFacts, analyze, message_of,
};
use crate::transcript::Transcript;
use crate::warning::RowWarning;

/// What makes rows one session: the same `name` and the same `conversationstarttime`.
///
/// A row without a `name` is a session of its own, keyed by its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// `name` (`{conversationId}_{botId}`), or the row id when the row has no name.
    pub name: String,
    /// `conversationstarttime` in unix seconds, when known.
    pub start: Option<i64>,
}

impl SessionKey {
    /// The session key of a row.
    pub fn of(transcript: &Transcript) -> Self {
        Self {
            name: transcript
                .name
                .clone()
                .unwrap_or_else(|| format!("row:{}", transcript.id)),
            start: transcript
                .conversation_start_time
                .map(OffsetDateTime::unix_timestamp),
        }
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.start {
            Some(s) => write!(f, "{}@{s}", self.name),
            None => write!(f, "{}@-", self.name),
        }
    }
}

impl Transcript {
    /// This row's session key.
    pub fn session_key(&self) -> SessionKey {
        SessionKey::of(self)
    }
}

/// The rows of one session, ordered by `BatchId` (numerically; rows without a numeric one
/// after those with, by `createdon`, then id).
#[derive(Debug, Clone)]
pub struct Session<'a> {
    key: SessionKey,
    rows: Vec<&'a Transcript>,
}

/// Groups rows into sessions (see [`SessionKey`]), each ordered by `BatchId`. Sessions come
/// out in the order their first row appears in `rows`; a row appearing twice (same id) is
/// taken once (its last occurrence).
pub fn sessions<'a>(rows: impl IntoIterator<Item = &'a Transcript>) -> Vec<Session<'a>> {
    let mut order: Vec<SessionKey> = Vec::new();
    let mut groups: HashMap<SessionKey, Vec<&'a Transcript>> = HashMap::new();
    for row in rows {
        let key = row.session_key();
        let group = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        group.retain(|r| r.id != row.id);
        group.push(row);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let mut rows = groups.remove(&key)?;
            rows.sort_by(|a, b| batch_order(a).cmp(&batch_order(b)));
            Some(Session { key, rows })
        })
        .collect()
}

/// Sort key: numeric BatchId first (2 before 10), then creation time, then id.
fn batch_order(t: &Transcript) -> (bool, u64, Option<OffsetDateTime>, &str) {
    let batch = t.metadata.as_ref().and_then(|m| m.batch_number());
    (batch.is_none(), batch.unwrap_or(0), t.created_on, &t.id)
}

/// One pair of a session, with the row it belongs to and its identity.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionPair<'a> {
    /// The pair; its `index` counts the pairs of its row (see the module docs).
    pub pair: Pair<'a>,
    /// The row it belongs to: an index into [`PairedSession::rows`].
    pub row: usize,
    /// Its identity: session and message ids (see the module docs).
    pub key: String,
    /// Whether the pair sits on an open edge of the rows known: a reply whose prompt is in a
    /// row not read yet (it answers a message not in the session), or a last prompt of a
    /// session known to be split whose reply may be in a row not read yet. A consumer may hold
    /// such a pair back for a while, until the missing row arrives.
    pub open_edge: bool,
    /// The identity this pair's request would have as a pair alone (no response): set when
    /// the pair has both. A consumer that delivered the prompt alone (its reply was not
    /// written yet) finds it under this key and sends only the reply part.
    pub request_only_key: Option<String>,
    /// The identity this pair's response would have as a pair alone (no request): set when
    /// the pair has both.
    pub response_only_key: Option<String>,
}

/// A session's pairs and facts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PairedSession<'a> {
    /// The session key.
    pub key: SessionKey,
    /// Its rows, in batch order.
    pub rows: Vec<&'a Transcript>,
    /// Channel, user, classification, outcome, over all rows.
    pub facts: TranscriptFacts,
    /// The pairs, in stream order.
    pub pairs: Vec<SessionPair<'a>>,
    /// Planner steps that no pair could take.
    pub unattached_tools: Vec<ToolInvocation>,
    /// Warnings of every row, in row order; message warnings name the activity by its index
    /// within its own row.
    pub warnings: Vec<(usize, RowWarning)>,
}

/// Content above this size suggests a row of a session split for size (splits happen near
/// 1 MB).
pub const SPLIT_HINT_BYTES: usize = 512 * 1024;

impl<'a> Session<'a> {
    /// A session of exactly these rows (they should share a [`SessionKey`]; the first row's
    /// is used), ordered by `BatchId`.
    pub fn new(rows: Vec<&'a Transcript>) -> Option<Self> {
        let first = rows.first()?;
        let key = first.session_key();
        let mut rows = rows;
        rows.sort_by(|a, b| batch_order(a).cmp(&batch_order(b)));
        Some(Self { key, rows })
    }

    /// The session key.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    /// The rows, in batch order.
    pub fn rows(&self) -> &[&'a Transcript] {
        &self.rows
    }

    /// Pairs the rows as one stream.
    pub fn pair(&self, options: &PairOptions) -> PairedSession<'a> {
        let mut offsets = Vec::with_capacity(self.rows.len());
        let mut stream: Vec<&'a Activity> = Vec::new();
        for row in &self.rows {
            offsets.push(stream.len());
            stream.extend(row.content.activities.iter());
        }
        // Global stream index -> (row, index within the row).
        let locate = |g: usize| {
            let row = offsets.partition_point(|&o| o <= g).saturating_sub(1);
            (row, g - offsets[row])
        };
        let first = self.rows[0];
        let times = RowTimes::new(first.conversation_start_time, first.created_on, options);
        let analysis = analyze(&stream, times);

        // Message tokens: the activity id (with its occurrence when repeated), else the
        // position within its row.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let tokens: Vec<String> = stream
            .iter()
            .enumerate()
            .map(|(g, a)| match a.id.as_deref().filter(|id| !id.is_empty()) {
                Some(id) => {
                    let n = seen.entry(id).or_insert(0);
                    *n += 1;
                    if *n == 1 {
                        id.to_owned()
                    } else {
                        format!("{id}~{}", *n - 1)
                    }
                }
                None => {
                    let (row, i) = locate(g);
                    format!("@{}:{i}", self.rows[row].id)
                }
            })
            .collect();
        let ids: std::collections::HashSet<&str> =
            stream.iter().filter_map(|a| a.id.as_deref()).collect();
        let split_known = self.rows.len() > 1
            || self.rows.iter().any(|r| {
                r.metadata
                    .as_ref()
                    .and_then(|m| m.batch_number())
                    .is_some_and(|b| b > 1)
            });
        let last_message = stream.iter().rposition(|a| a.is_message());

        let session_id = first.conversation_id();
        let session_key = self.key.to_string();
        let mut per_row = vec![0usize; self.rows.len()];
        let mut pairs = Vec::with_capacity(analysis.pairs.len());
        let mut seen_request = false;
        for ((req, resp), tools) in analysis.pairs.iter().zip(analysis.tools.iter()) {
            let anchor = req.or(*resp).unwrap_or(0);
            let (row, _) = locate(anchor);
            let message = |g: usize| {
                let (_, i) = locate(g);
                let a = stream[g];
                message_of(a, i, analysis.flags(g), analysis.timestamp(g, a.timestamp))
            };
            let open_edge = match (req, resp) {
                (None, Some(r)) if !seen_request => stream[*r]
                    .reply_to_id
                    .as_deref()
                    .is_some_and(|to| !to.is_empty() && !ids.contains(to)),
                (Some(q), None) => Some(*q) == last_message && (split_known || self.looks_split()),
                _ => false,
            };
            seen_request |= req.is_some();
            let token = |g: Option<&usize>| g.map_or("-", |g| tokens[*g].as_str());
            let (request_only_key, response_only_key) = match (req, resp) {
                (Some(_), Some(_)) => (
                    Some(format!("{session_key}|{}|-", token(req.as_ref()))),
                    Some(format!("{session_key}|-|{}", token(resp.as_ref()))),
                ),
                _ => (None, None),
            };
            pairs.push(SessionPair {
                pair: Pair {
                    index: per_row[row],
                    request: req.map(message),
                    response: resp.map(message),
                    tools: tools.clone(),
                    session_id,
                    request_id: None,
                    app_class: None,
                },
                row,
                key: format!(
                    "{session_key}|{}|{}",
                    token(req.as_ref()),
                    token(resp.as_ref())
                ),
                open_edge,
                request_only_key,
                response_only_key,
            });
            per_row[row] += 1;
        }
        let mut warnings = Vec::new();
        for (r, row) in self.rows.iter().enumerate() {
            warnings.extend(row.warnings.iter().cloned().map(|w| (r, w)));
            warnings.extend(row.content.warnings.iter().cloned().map(|w| (r, w)));
        }
        for w in &analysis.warnings {
            let (row, local) = match w.activity() {
                Some(g) => {
                    let (row, i) = locate(g);
                    (row, w.with_activity(i))
                }
                None => (0, w.clone()),
            };
            warnings.push((row, local));
        }
        PairedSession {
            key: self.key.clone(),
            rows: self.rows.clone(),
            facts: analysis.facts,
            pairs,
            unattached_tools: analysis.unattached_tools,
            warnings,
        }
    }

    /// Whether the last row is big enough to be one part of a split session.
    fn looks_split(&self) -> bool {
        self.rows
            .last()
            .is_some_and(|r| r.content_len >= SPLIT_HINT_BYTES)
    }
}

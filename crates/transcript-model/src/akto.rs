//! Akto Data Ingestion Service records built from pairs.
//!
//! One [`AktoRecord`] per pair; every field is a string, JSON objects encoded into strings, as
//! `POST {ingestion}/api/ingestData` expects. Records are deterministic: the same transcript
//! and configuration always give byte-identical JSON, so a consumer may de-duplicate on it.
//!
//! Beside the fields Akto defines, the pair's context travels in the headers:
//!
//! - `requestHeaders`: `host`, `content-type`, `x-copilot-transcript-id`,
//!   `x-copilot-conversation-id`, `x-copilot-channel`, `x-copilot-conversation-kind`,
//!   `x-copilot-user-aad-object-id` (each only when known);
//! - `responseHeaders`: `content-type`, `x-copilot-session-outcome`, `x-copilot-tools` (the
//!   pair's planner steps as comma-separated `kind:id`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use time::OffsetDateTime;

use crate::error::{PageError, RowError};
use crate::pairing::{
    Message, PairOptions, PairedTranscript, RowTimes, ToolInvocation, TranscriptFacts, analyze,
    message_of_view,
};
use crate::session::PairedSession;
use crate::transcript::{
    PageRow, RowOrOther, Transcript, TranscriptMetadata, content_error, conversation_id_of, header,
    walk_rows,
};
use crate::view::ContentView;
use crate::warning::RowWarning;

/// The host Akto's Copilot Studio connector reports.
pub const DEFAULT_HOST: &str = "copilot.microsoft.com";

/// The `tag.source` of Copilot Studio records.
pub const TAG_SOURCE: &str = "COPILOT_STUDIO";

/// One Akto ingestion record. Field names and order are Akto's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AktoRecord {
    /// `/copilot/conversation/{transcript_id}/message/{pair_index}`.
    pub path: String,
    /// JSON object text.
    #[serde(rename = "requestHeaders")]
    pub request_headers: String,
    /// JSON object text.
    #[serde(rename = "responseHeaders")]
    pub response_headers: String,
    /// `POST`.
    pub method: String,
    /// `{"message": "..."}` (plus `attachments` / `value` when present), or `{}` when there is
    /// no request.
    #[serde(rename = "requestPayload")]
    pub request_payload: String,
    /// As `request_payload`, for the response.
    #[serde(rename = "responsePayload")]
    pub response_payload: String,
    /// Empty: transcripts carry no client address.
    pub ip: String,
    /// Unix seconds of the user message (of the agent message for a greeting).
    pub time: String,
    /// `200`.
    #[serde(rename = "statusCode")]
    pub status_code: String,
    /// `HTTP/1.1`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `OK`.
    pub status: String,
    /// The Akto account id.
    pub akto_account_id: String,
    /// The Akto vxlan id.
    pub akto_vxlan_id: String,
    /// `false`.
    pub is_pending: String,
    /// `MIRRORING`.
    pub source: String,
    /// JSON object text: `source`, `bot-name`, `bot-schemaname`, `bot-environment-id`.
    pub tag: String,
}

/// What differs from one record to the next; [`AktoRecord::mirrored`] adds the fields that
/// are the same in every record.
pub(crate) struct RecordParts {
    pub(crate) path: String,
    pub(crate) request_headers: String,
    pub(crate) response_headers: String,
    pub(crate) request_payload: String,
    pub(crate) response_payload: String,
    /// Unix seconds.
    pub(crate) time: i64,
    pub(crate) status_code: u16,
    pub(crate) status: &'static str,
    pub(crate) tag: String,
}

impl AktoRecord {
    /// A mirrored `POST` exchange for the Akto account `account_id` / `vxlan_id`: no client
    /// address, `HTTP/1.1`, not pending, source `MIRRORING`, as Akto's own connectors send.
    pub(crate) fn mirrored(e: RecordParts, account_id: &str, vxlan_id: &str) -> Self {
        Self {
            path: e.path,
            request_headers: e.request_headers,
            response_headers: e.response_headers,
            method: "POST".to_owned(),
            request_payload: e.request_payload,
            response_payload: e.response_payload,
            ip: String::new(),
            time: e.time.to_string(),
            status_code: e.status_code.to_string(),
            kind: "HTTP/1.1".to_owned(),
            status: e.status.to_owned(),
            akto_account_id: account_id.to_owned(),
            akto_vxlan_id: vxlan_id.to_owned(),
            is_pending: "false".to_owned(),
            source: "MIRRORING".to_owned(),
            tag: e.tag,
        }
    }
}

/// The bot a transcript belongs to, as Akto labels it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BotIdentity {
    /// The display name (`bots.name`); sanitised into `tag.bot-name`.
    pub display_name: String,
    /// The schema name (`bots.schemaname`).
    pub schema_name: String,
}

impl BotIdentity {
    /// A bot identity.
    pub fn new(display_name: impl Into<String>, schema_name: impl Into<String>) -> Self {
        Self {
            display_name: display_name.into(),
            schema_name: schema_name.into(),
        }
    }
}

/// The records of one row, with what was odd about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowRecords {
    /// The row's `conversationtranscriptid`.
    pub id: String,
    /// One record per pair, in pair order.
    pub records: Vec<AktoRecord>,
    /// The row's warnings, as [`PairedTranscript::warnings`] gives them.
    pub warnings: Vec<RowWarning>,
}

/// Settings for building records: Akto ids, host, environment, known bots and the pairing
/// options of the page functions.
#[derive(Debug, Clone)]
pub struct AktoConfig {
    host: String,
    account_id: String,
    vxlan_id: String,
    environment_id: String,
    bots: HashMap<String, BotIdentity>,
    pairing: PairOptions,
}

impl AktoConfig {
    /// A configuration with host [`DEFAULT_HOST`] and no known bots.
    pub fn new(
        account_id: impl Into<String>,
        vxlan_id: impl Into<String>,
        environment_id: impl Into<String>,
    ) -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            account_id: account_id.into(),
            vxlan_id: vxlan_id.into(),
            environment_id: environment_id.into(),
            bots: HashMap::new(),
            pairing: PairOptions::default(),
        }
    }

    /// The pairing options of [`AktoConfig::page_to_records`] and
    /// [`AktoConfig::for_each_row_output`] (for [`AktoConfig::records`], the caller paired).
    #[must_use]
    pub fn with_pair_options(mut self, options: PairOptions) -> Self {
        self.pairing = options;
        self
    }

    /// The pairing options of the page functions.
    pub fn pair_options(&self) -> &PairOptions {
        &self.pairing
    }

    /// Replaces the host reported in `requestHeaders`.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Registers a bot by its id (`botid`; matched case-insensitively against the transcript's
    /// bot lookup and `metadata.BotId`).
    #[must_use]
    pub fn with_bot(mut self, bot_id: &str, bot: BotIdentity) -> Self {
        self.add_bot(bot_id, bot);
        self
    }

    /// Registers a bot; see [`AktoConfig::with_bot`].
    pub fn add_bot(&mut self, bot_id: &str, bot: BotIdentity) {
        self.bots.insert(bot_id.to_ascii_lowercase(), bot);
    }

    /// Registers every bot of a `bots` response (a JSON array or `{"value": [...]}` of rows with
    /// `botid`, `name`, `schemaname`). Returns how many were registered; rows without a
    /// `botid` are skipped.
    ///
    /// # Errors
    /// A [`PageError`] when the input is not such a page.
    pub fn add_bots_from_page(&mut self, json: &[u8]) -> Result<usize, PageError> {
        #[derive(Deserialize)]
        struct BotRow {
            #[serde(default)]
            botid: Option<String>,
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            schemaname: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Page {
            OData { value: Vec<BotRow> },
            Array(Vec<BotRow>),
        }
        let page: Page = serde_json::from_slice(json).map_err(PageError::from_json)?;
        let rows = match page {
            Page::OData { value } | Page::Array(value) => value,
        };
        let mut added = 0;
        for row in rows {
            if let Some(id) = row.botid {
                let schema = row.schemaname.unwrap_or_default();
                let display = row.name.unwrap_or_else(|| schema.clone());
                self.add_bot(&id, BotIdentity::new(display, schema));
                added += 1;
            }
        }
        Ok(added)
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The Akto account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The Akto vxlan id.
    pub fn vxlan_id(&self) -> &str {
        &self.vxlan_id
    }

    /// The Power Platform environment id.
    pub fn environment_id(&self) -> &str {
        &self.environment_id
    }

    /// The bot of a transcript: a registered bot matching the bot lookup or `metadata.BotId`;
    /// otherwise `metadata.BotName` (a schema name) serves as both names.
    pub fn bot_for(&self, transcript: &Transcript) -> BotIdentity {
        self.bot_by_ids(transcript.bot_id.as_deref(), transcript.metadata.as_ref())
    }

    fn bot_by_ids(&self, bot_id: Option<&str>, meta: Option<&TranscriptMetadata>) -> BotIdentity {
        let candidates = [bot_id, meta.and_then(|m| m.bot_id.as_deref())];
        for id in candidates.into_iter().flatten() {
            if let Some(bot) = self.bots.get(&id.to_ascii_lowercase()) {
                return bot.clone();
            }
        }
        let schema = meta.and_then(|m| m.bot_name.clone()).unwrap_or_default();
        BotIdentity::new(schema.clone(), schema)
    }

    /// One record per pair of a paired transcript, in pair order.
    pub fn records(&self, paired: &PairedTranscript<'_>) -> Vec<AktoRecord> {
        let t = paired.transcript;
        let row = RowContext {
            id: &t.id,
            conversation_id: t.conversation_id(),
            bot: self.bot_for(t),
            fallback_time: fallback_time(t.conversation_start_time, t.created_on),
        };
        let parts = paired
            .pairs
            .iter()
            .map(|p| (p.index, p.request, p.response, p.tools.as_slice()));
        self.build_records(&row, &paired.facts, parts)
    }

    fn build_records<'m, I>(
        &self,
        row: &RowContext<'_>,
        facts: &TranscriptFacts,
        pairs: I,
    ) -> Vec<AktoRecord>
    where
        I: ExactSizeIterator<Item = PairParts<'m>>,
    {
        let tag = tag_json(&row.bot, &self.environment_id);
        let request_headers = json_object(&[
            ("host", Some(self.host.as_str())),
            ("content-type", Some("application/json")),
            ("x-copilot-transcript-id", Some(row.id)),
            ("x-copilot-conversation-id", row.conversation_id),
            ("x-copilot-channel", facts.channel.as_deref()),
            ("x-copilot-conversation-kind", Some(facts.kind.as_str())),
            (
                "x-copilot-user-aad-object-id",
                facts.user_aad_object_id.as_deref(),
            ),
        ]);
        let outcome = facts.session.as_ref().and_then(|s| s.outcome.as_deref());
        let mut out = Vec::with_capacity(pairs.len());
        for (index, request, response, tools) in pairs {
            let tools = tools_header(tools);
            let response_headers = json_object(&[
                ("content-type", Some("application/json")),
                ("x-copilot-session-outcome", outcome),
                ("x-copilot-tools", tools.as_deref()),
            ]);
            let time = request
                .and_then(|m| m.timestamp)
                .or_else(|| response.and_then(|m| m.timestamp))
                .unwrap_or(row.fallback_time);
            let parts = RecordParts {
                path: format!("/copilot/conversation/{}/message/{}", row.id, index),
                request_headers: request_headers.clone(),
                response_headers,
                request_payload: payload_json(request.as_ref()),
                response_payload: payload_json(response.as_ref()),
                time,
                status_code: 200,
                status: "OK",
                tag: tag.clone(),
            };
            out.push(AktoRecord::mirrored(
                parts,
                &self.account_id,
                &self.vxlan_id,
            ));
        }
        out
    }

    /// Parses a page of transcript rows (see [`crate::parse_page`]), pairs each row and builds
    /// its records: one result per row, in input order. The records are exactly those of
    /// [`AktoConfig::records`] on each decoded row.
    ///
    /// This is the fast path: the page is walked once, and each row's `content` is read once
    /// into borrowed views of its activities, without building owned [`crate::Activity`]
    /// values. Only one row is decoded at a time, so peak memory is the input plus the records.
    ///
    /// # Errors
    /// A [`PageError`] when the input is not JSON or not a page of rows.
    pub fn page_to_records(
        &self,
        json: &[u8],
    ) -> Result<Vec<Result<Vec<AktoRecord>, RowError>>, PageError> {
        let mut out = Vec::new();
        self.for_each_row_records(json, |row| out.push(row))?;
        Ok(out)
    }

    /// Streams [`AktoConfig::page_to_records`]: hands each row's records (or its error) to `f`
    /// as soon as the row is read, in input order, so a caller can batch and send them
    /// without holding the whole page's records.
    ///
    /// # Errors
    /// A [`PageError`] when the input is not JSON or not a page of rows. Rows before the point
    /// of failure have already been passed to `f`.
    pub fn for_each_row_records<F>(&self, json: &[u8], mut f: F) -> Result<(), PageError>
    where
        F: FnMut(Result<Vec<AktoRecord>, RowError>),
    {
        walk_rows(json, |row, index| {
            f(self.row_records(row, Some(index)).map(|r| r.records));
        })
    }

    /// As [`AktoConfig::for_each_row_records`], with each row's id and warnings beside its
    /// records.
    ///
    /// # Errors
    /// A [`PageError`] when the input is not JSON or not a page of rows.
    pub fn for_each_row_output<F>(&self, json: &[u8], mut f: F) -> Result<(), PageError>
    where
        F: FnMut(Result<RowRecords, RowError>),
    {
        walk_rows(json, |row, index| f(self.row_records(row, Some(index))))
    }

    /// The records of a row handed on by [`crate::for_each_page_row`]: exactly what
    /// [`AktoConfig::for_each_row_output`] gives for it. With the two, one thread can read a
    /// page while another builds the records.
    ///
    /// # Errors
    /// A [`RowError`] when the element is not a row or its `content` is not a transcript.
    pub fn page_row_records(&self, row: PageRow<'_>) -> Result<RowRecords, RowError> {
        self.row_records(row.row, Some(row.index))
    }

    fn row_records(
        &self,
        row: RowOrOther<'_>,
        index: Option<usize>,
    ) -> Result<RowRecords, RowError> {
        let (mut h, content_text) = header(row, index)?;
        let (views, content_warnings) = match serde_json::from_str::<ContentView<'_>>(&content_text)
        {
            Ok(ContentView(views, warnings)) => (views, warnings),
            Err(source) => return Err(content_error(index, h, source)),
        };
        let times = RowTimes::new(h.conversation_start_time, h.created_on, &self.pairing);
        let analysis = analyze(&views, times);
        let context = RowContext {
            id: &h.id,
            conversation_id: conversation_id_of(h.name.as_deref()),
            bot: self.bot_by_ids(h.bot_id.as_deref(), h.metadata.as_ref()),
            fallback_time: fallback_time(h.conversation_start_time, h.created_on),
        };
        let message = |i: usize| {
            let v = &views[i];
            message_of_view(v, i, analysis.flags(i), analysis.timestamp(i, v.timestamp))
        };
        let parts = analysis
            .pairs
            .iter()
            .zip(analysis.tools.iter())
            .enumerate()
            .map(|(n, ((req, resp), tools))| {
                (n, req.map(message), resp.map(message), tools.as_slice())
            });
        let records = self.build_records(&context, &analysis.facts, parts);
        let mut warnings = std::mem::take(&mut h.warnings);
        warnings.extend(content_warnings);
        warnings.extend(analysis.warnings);
        Ok(RowRecords {
            id: h.id,
            records,
            warnings,
        })
    }
}

/// A record of a session pair, with what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The pair's identity ([`crate::SessionPair::key`]).
    pub key: String,
    /// The id of the row the pair belongs to (its path names it).
    pub row_id: String,
    /// Whether the pair sits on an open edge ([`crate::SessionPair::open_edge`]).
    pub open_edge: bool,
    /// The record.
    pub record: AktoRecord,
}

impl AktoConfig {
    /// One record per pair of a paired session, in pair order. For a session of one row the
    /// records are exactly [`AktoConfig::records`] of that row paired alone.
    pub fn session_records(&self, session: &PairedSession<'_>) -> Vec<SessionRecord> {
        let contexts: Vec<RowContext<'_>> = session
            .rows
            .iter()
            .map(|t| RowContext {
                id: &t.id,
                conversation_id: t.conversation_id(),
                bot: self.bot_for(t),
                fallback_time: fallback_time(t.conversation_start_time, t.created_on),
            })
            .collect();
        let mut out = Vec::with_capacity(session.pairs.len());
        for p in &session.pairs {
            let Some(context) = contexts.get(p.row) else {
                continue;
            };
            let parts = std::iter::once((
                p.pair.index,
                p.pair.request,
                p.pair.response,
                p.pair.tools.as_slice(),
            ));
            for record in self.build_records(context, &session.facts, parts) {
                out.push(SessionRecord {
                    key: p.key.clone(),
                    row_id: context.id.to_owned(),
                    open_edge: p.open_edge,
                    record,
                });
            }
        }
        out
    }
}

/// (pair index, request, response, planner steps).
type PairParts<'m> = (
    usize,
    Option<Message<'m>>,
    Option<Message<'m>>,
    &'m [ToolInvocation],
);

/// What records need to know about their row.
struct RowContext<'a> {
    id: &'a str,
    conversation_id: Option<&'a str>,
    bot: BotIdentity,
    fallback_time: i64,
}

/// The record time when no message has one: the conversation start, else the row's creation,
/// else 0.
fn fallback_time(start: Option<OffsetDateTime>, created: Option<OffsetDateTime>) -> i64 {
    start.or(created).map_or(0, OffsetDateTime::unix_timestamp)
}

/// Sanitises a bot name as Akto does: each run of characters that are not a Unicode letter,
/// a Unicode number or `-` becomes one `-`, leading and trailing `-` are dropped, and the
/// result is lower-cased (Unicode lower case: "Zahlungs-Überblick" -> "zahlungs-überblick").
///
/// Letters and numbers are Rust's [`char::is_alphabetic`] and [`char::is_numeric`], except
/// that combining marks and other characters that are alphabetic without being letters (a
/// Devanagari vowel sign, a circled Ⓐ) are not letters, as in a regular expression's `\p{L}`.
pub fn sanitize_bot_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if is_letter_or_number(c) || c == '-' {
            out.extend(c.to_lowercase());
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out.trim_matches('-').to_owned()
}

/// `\p{L}` or `\p{N}`.
fn is_letter_or_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    c.is_numeric() || (c.is_alphabetic() && !crate::unicode::alphabetic_non_letter(c))
}

fn tag_json(bot: &BotIdentity, environment_id: &str) -> String {
    #[derive(Serialize)]
    struct Tag<'a> {
        source: &'a str,
        #[serde(rename = "bot-name")]
        bot_name: String,
        #[serde(rename = "bot-schemaname")]
        bot_schemaname: &'a str,
        #[serde(rename = "bot-environment-id")]
        bot_environment_id: &'a str,
    }
    to_json(&Tag {
        source: TAG_SOURCE,
        bot_name: sanitize_bot_name(&bot.display_name),
        bot_schemaname: &bot.schema_name,
        bot_environment_id: environment_id,
    })
}

fn tools_header(tools: &[ToolInvocation]) -> Option<String> {
    if tools.is_empty() {
        return None;
    }
    let parts: Vec<String> = tools
        .iter()
        .map(|t| format!("{}:{}", t.kind.as_str(), t.id))
        .collect();
    Some(parts.join(","))
}

/// A JSON object of the present entries, in the given order (a `serde_json::Map` would sort
/// them): the header and tag objects of every record kind.
pub(crate) fn json_object(entries: &[(&str, Option<&str>)]) -> String {
    let mut out = String::from("{");
    for (k, v) in entries {
        if let Some(v) = v {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&to_json(k));
            out.push(':');
            out.push_str(&to_json(v));
        }
    }
    out.push('}');
    out
}

/// Serialising plain strings and derived structs of strings (and raw JSON) cannot fail; an
/// empty object stands in should that ever change, rather than a panic.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

/// Percent-encodes a record path segment: everything but unreserved characters and the
/// bytes in `also_keep`.
pub(crate) fn encode_segment(s: &str, also_keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || also_keep.contains(&b)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{"message": ...}` for a message, `{}` for an absent side.
fn payload_json(message: Option<&Message<'_>>) -> String {
    #[derive(Serialize)]
    struct Payload<'a> {
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        attachments: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<&'a RawValue>,
    }
    match message {
        None => "{}".to_owned(),
        Some(m) => to_json(&Payload {
            message: m.text.unwrap_or(""),
            attachments: m.attachments,
            value: m.value,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_keep_only_unreserved_bytes_and_those_asked_for() {
        let id = "19:abc@thread.v2/x y~é";
        assert_eq!(
            encode_segment(id, b":@"),
            "19:abc@thread.v2%2Fx%20y~%C3%A9",
            "Teams ids keep their `:` and `@`"
        );
        assert_eq!(
            encode_segment(id, b""),
            "19%3Aabc%40thread.v2%2Fx%20y~%C3%A9"
        );
    }

    #[test]
    fn mirrored_records_carry_akto_fixed_fields() {
        let parts = RecordParts {
            path: "/p".into(),
            request_headers: "{}".into(),
            response_headers: "{}".into(),
            request_payload: "{}".into(),
            response_payload: "{}".into(),
            time: 1_700_000_000,
            status_code: 429,
            status: "Too Many Requests",
            tag: "{}".into(),
        };
        let r = AktoRecord::mirrored(parts, "1000000", "7");
        assert_eq!(
            (r.method.as_str(), r.ip.as_str(), r.kind.as_str()),
            ("POST", "", "HTTP/1.1")
        );
        assert_eq!(
            (r.is_pending.as_str(), r.source.as_str()),
            ("false", "MIRRORING")
        );
        assert_eq!(
            (r.time.as_str(), r.status_code.as_str(), r.status.as_str()),
            ("1700000000", "429", "Too Many Requests")
        );
        assert_eq!(
            (r.akto_account_id.as_str(), r.akto_vxlan_id.as_str()),
            ("1000000", "7")
        );
    }

    #[test]
    fn sanitising() {
        assert_eq!(sanitize_bot_name("Test Copilot"), "test-copilot");
        assert_eq!(sanitize_bot_name("  DOR   Bot!! "), "dor-bot");
        assert_eq!(sanitize_bot_name("cr3e5_testCopilot"), "cr3e5-testcopilot");
        assert_eq!(sanitize_bot_name("a-b"), "a-b");
        assert_eq!(sanitize_bot_name("Café Ünïcode"), "café-ünïcode");
        assert_eq!(sanitize_bot_name("---"), "");
        assert_eq!(sanitize_bot_name(""), "");
    }

    #[test]
    fn header_object_keeps_order_and_escapes() {
        assert_eq!(
            json_object(&[("z", Some("1")), ("a", None), ("b", Some("q\"u"))]),
            r#"{"z":"1","b":"q\"u"}"#
        );
        assert_eq!(json_object(&[]), "{}");
    }

    #[test]
    fn payloads() {
        assert_eq!(payload_json(None), "{}");
        let raw = RawValue::from_string(r#"[{"contentType":"x"}]"#.to_owned()).unwrap();
        let m = Message {
            text: Some("hé \"x\"\n"),
            attachments: Some(&raw),
            ..Message::default()
        };
        assert_eq!(
            payload_json(Some(&m)),
            r#"{"message":"hé \"x\"\n","attachments":[{"contentType":"x"}]}"#
        );
        assert_eq!(payload_json(Some(&Message::default())), r#"{"message":""}"#);
    }

    #[test]
    fn bots_page() {
        let mut c = AktoConfig::new("1", "2", "env");
        let n = c
            .add_bots_from_page(
                br#"{"value":[{"botid":"ABC","name":"My Bot","schemaname":"cr_my"},{"name":"x"}]}"#,
            )
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            c.bots.get("abc"),
            Some(&BotIdentity::new("My Bot", "cr_my"))
        );
        assert!(c.add_bots_from_page(b"7").is_err());
    }
}

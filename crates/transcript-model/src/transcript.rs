//! `conversationtranscript` rows and OData pages of them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::activity::{Content, Key, Lenient, parse_time_text, raw_str};
use crate::error::{PageError, RowError, RowErrorKind};
use crate::warning::RowWarning;

/// The decoded `metadata` column: `{"BotId","AADTenantId","BotName","BatchId"}`.
///
/// Read leniently: a field of an unexpected JSON type is left `None` (and reported as a
/// [`RowWarning::MetadataField`]); none of them is needed to pair messages.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TranscriptMetadata {
    /// `BotId`: the bot's id as the runtime knows it (need not equal the row's bot lookup).
    pub bot_id: Option<String>,
    /// `AADTenantId`.
    pub aad_tenant_id: Option<String>,
    /// `BotName`: the bot's *schema* name (for example `cr3e5_testCopilot`).
    pub bot_name: Option<String>,
    /// `BatchId` as written: Dataverse writes a JSON number, older rows a string; a number is
    /// kept as its decimal text. See [`TranscriptMetadata::batch_number`].
    pub batch_id: Option<String>,
    /// Any other key, kept.
    pub unknown_fields: BTreeMap<String, serde_json::Value>,
}

impl TranscriptMetadata {
    /// `BatchId` as a number, when it is one (a JSON number or a string of digits): the
    /// position of this row among the rows of a session split for size. Ordered numerically
    /// (2 before 10).
    pub fn batch_number(&self) -> Option<u64> {
        let text = self.batch_id.as_deref()?.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    }

    /// Reads `metadata` text leniently; `None` (with a warning) when it is not a JSON object.
    pub(crate) fn parse_lenient(text: &str, warnings: &mut Vec<RowWarning>) -> Option<Self> {
        use serde_json::Value;
        let map = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                warnings.push(RowWarning::MetadataUnreadable {
                    found: json_kind(&other).to_owned(),
                });
                return None;
            }
            Err(e) => {
                warnings.push(RowWarning::MetadataUnreadable {
                    found: format!("not JSON: {e}"),
                });
                return None;
            }
        };
        let mut meta = TranscriptMetadata::default();
        for (key, value) in map {
            let (field, slot): (&'static str, &mut Option<String>) = match key.as_str() {
                "BotId" => ("BotId", &mut meta.bot_id),
                "AADTenantId" => ("AADTenantId", &mut meta.aad_tenant_id),
                "BotName" => ("BotName", &mut meta.bot_name),
                "BatchId" => ("BatchId", &mut meta.batch_id),
                _ => {
                    meta.unknown_fields.insert(key, value);
                    continue;
                }
            };
            match value {
                Value::String(s) => *slot = Some(s),
                Value::Null => {}
                Value::Number(n) if field == "BatchId" => *slot = Some(n.to_string()),
                other => warnings.push(RowWarning::MetadataField {
                    field,
                    found: json_kind(&other),
                }),
            }
        }
        Some(meta)
    }
}

/// One `conversationtranscript` row with its `content` decoded.
///
/// Columns not listed here (ownership, version numbers, OData annotations) are not kept: they
/// describe the Dataverse record, not the conversation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Transcript {
    /// `conversationtranscriptid`.
    pub id: String,
    /// `name`: `{conversationId}_{botId}`.
    pub name: Option<String>,
    /// `_bot_conversationtranscriptid_value`: the bot lookup.
    pub bot_id: Option<String>,
    /// `metadata`, decoded from its JSON string.
    pub metadata: Option<TranscriptMetadata>,
    /// `conversationstarttime`.
    pub conversation_start_time: Option<OffsetDateTime>,
    /// `createdon`: when the row was written (often well after the conversation).
    pub created_on: Option<OffsetDateTime>,
    /// `modifiedon`.
    pub modified_on: Option<OffsetDateTime>,
    /// `schematype` (for example `powervirtualagents`).
    pub schema_type: Option<String>,
    /// `schemaversion` (for example `0.2.1`).
    pub schema_version: Option<String>,
    /// `content`, decoded.
    pub content: Content,
    /// What was odd about the row's columns (`metadata`, types, date-times); the content's own
    /// warnings are in [`Content::warnings`], the messages' in
    /// [`crate::PairedTranscript::warnings`].
    pub warnings: Vec<RowWarning>,
    /// The length of the `content` text, in bytes.
    pub(crate) content_len: usize,
}

impl Transcript {
    /// Parses one row from JSON text.
    ///
    /// # Errors
    /// A [`RowError`] when the text is not a JSON object or a required column is missing or
    /// malformed (see [`RowErrorKind`]).
    pub fn from_json_slice(json: &[u8]) -> Result<Self, RowError> {
        // As for pages: the lenient reading only when the strict one refuses the text.
        let row = serde_json::from_slice::<RowOrOther<'_>>(json)
            .or_else(|_| serde_json::from_slice::<LenientRow<'_>>(json).map(|r| r.0))
            .map_err(|e| RowError::new(None, None, RowErrorKind::InvalidJson { source: e }))?;
        build(row, None)
    }

    /// Parses one row from an already-decoded JSON value.
    ///
    /// # Errors
    /// As [`Transcript::from_json_slice`].
    pub fn from_value(value: &serde_json::Value) -> Result<Self, RowError> {
        let Some(map) = value.as_object() else {
            return Err(RowError::new(
                None,
                None,
                RowErrorKind::NotAnObject {
                    found: json_kind(value),
                },
            ));
        };
        let mut row = RowWire::default();
        for (key, v) in map {
            if let Some(slot) = row.slot(key) {
                *slot = match v {
                    serde_json::Value::Null => Column::Null,
                    serde_json::Value::String(s) => Column::Str(Cow::Borrowed(s)),
                    other => Column::Other(json_kind(other)),
                };
            }
        }
        build(RowOrOther::Row(row), None)
    }

    /// The conversation id: `name` (`{conversationId}_{botId}`) without its last `_` and the
    /// bot id after it. Conversation ids may themselves contain `_` (Teams ids are
    /// base64url); bot ids (GUIDs) never do.
    pub fn conversation_id(&self) -> Option<&str> {
        conversation_id_of(self.name.as_deref())
    }
}

pub(crate) fn conversation_id_of(name: Option<&str>) -> Option<&str> {
    name?
        .rsplit_once('_')
        .map(|(c, _)| c)
        .filter(|c| !c.is_empty())
}

/// Parses a page of rows: a JSON array of rows or an OData response `{"value": [...]}`.
///
/// Every row yields its own result, in input order, so one bad row never hides the others.
///
/// # Errors
/// A [`PageError`] when the input is not JSON or has neither shape.
pub fn parse_page(json: &[u8]) -> Result<Vec<Result<Transcript, RowError>>, PageError> {
    let mut out = Vec::new();
    for_each_row(json, |row| out.push(row))?;
    Ok(out)
}

/// Streams a page of rows (see [`parse_page`]) to `f`, one row at a time, in input order.
///
/// Only one decoded row is alive at a time, so memory stays close to the size of the input.
///
/// # Errors
/// A [`PageError`] when the input is not JSON or has neither shape. Rows before the point of
/// failure have already been passed to `f`.
pub fn for_each_row<F>(json: &[u8], mut f: F) -> Result<(), PageError>
where
    F: FnMut(Result<Transcript, RowError>),
{
    walk_rows(json, |row, index| f(build(row, Some(index))))
}

/// One element of a page, read only as far as its columns: `content` is still JSON text.
///
/// The cheap half of reading a page, so a reader can hand rows on, in order, to another thread
/// that does the expensive half ([`crate::AktoConfig::page_row_records`] or
/// [`Transcript::from_page_row`]): the results are exactly those of the one-pass functions
/// ([`crate::AktoConfig::for_each_row_output`], [`for_each_row`]). It borrows from the page.
pub struct PageRow<'a> {
    pub(crate) index: usize,
    pub(crate) row: RowOrOther<'a>,
}

impl PageRow<'_> {
    /// The element's position in its page (0-based).
    pub fn index(&self) -> usize {
        self.index
    }
}

impl fmt::Debug for PageRow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageRow")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Streams a page's elements (see [`parse_page`]) to `f` as [`PageRow`]s, in input order,
/// without decoding any `content`.
///
/// # Errors
/// A [`PageError`] when the input is not JSON or has neither shape. Rows before the point of
/// failure have already been passed to `f`.
pub fn for_each_page_row<'a, F>(json: &'a [u8], mut f: F) -> Result<(), PageError>
where
    F: FnMut(PageRow<'a>),
{
    walk_rows(json, |row, index| f(PageRow { index, row }))
}

impl Transcript {
    /// Decodes a row handed on by [`for_each_page_row`]: the result [`for_each_row`] gives
    /// for it.
    ///
    /// # Errors
    /// A [`RowError`] when the element is not a row or its `content` is not a transcript.
    pub fn from_page_row(row: PageRow<'_>) -> Result<Self, RowError> {
        build(row.row, Some(row.index))
    }
}

/// Walks a page once, handing each element to `f` undecoded beyond its columns.
///
/// The strict reading decodes string columns directly, which fails the page on a lone
/// surrogate escape. Rather than pay for a lenient reading of every page, a page the strict
/// reading refuses is read again leniently ([`Column::from_raw`]), handing on only the rows
/// the first reading had not reached; only when that fails too is the page an error.
pub(crate) fn walk_rows<'de, F>(json: &'de [u8], mut f: F) -> Result<(), PageError>
where
    F: FnMut(RowOrOther<'de>, usize),
{
    let mut delivered = 0usize;
    let strict = walk::<false, _>(json, &mut |row, index| {
        f(row, index);
        delivered = index + 1;
    });
    match strict {
        Err(PageError::NotJson { .. } | PageError::UnexpectedShape { .. }) => {
            walk::<true, _>(json, &mut |row, index| {
                if index >= delivered {
                    f(row, index);
                }
            })
        }
        other => other,
    }
}

fn walk<'de, const LENIENT: bool, F>(json: &'de [u8], f: &mut F) -> Result<(), PageError>
where
    F: FnMut(RowOrOther<'de>, usize),
{
    let mut de = serde_json::Deserializer::from_slice(json);
    let found_rows = PageSeed::<'_, 'de, F, LENIENT> {
        f,
        _de: std::marker::PhantomData,
    }
    .deserialize(&mut de)
    .map_err(PageError::from_json)?;
    de.end().map_err(PageError::from_json)?;
    if found_rows {
        Ok(())
    } else {
        Err(PageError::NoValueArray)
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Lenient single-pass row decoding: the page is walked once; per-row problems become values,
// never parse failures, so they cannot take the rest of the page down.

/// A column (or any JSON value read leniently): a string, null, or the JSON type found.
#[derive(Default)]
pub(crate) enum Column<'de> {
    #[default]
    Absent,
    Null,
    Str(Cow<'de, str>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Column<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ColumnVisitor)
    }
}

struct ColumnVisitor;

impl<'de> Visitor<'de> for ColumnVisitor {
    type Value = Column<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Column::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Column::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Column::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Column::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Column::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Column::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Column::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Column::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Column::Other("a number"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Column::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Column::Other("an object"))
    }
}

impl<'de> Column<'de> {
    /// Reads a column from its raw JSON, leniently: where decoding the text as a `String`
    /// fails on a lone UTF-16 surrogate escape (left when a writer cut a surrogate pair in
    /// half), the character becomes U+FFFD instead.
    fn from_raw(raw: &'de RawValue) -> Self {
        match raw.get().as_bytes().first() {
            Some(b'"') => match raw_str(raw) {
                Lenient::Value(s) => Column::Str(s),
                _ => Column::Other("an undecodable string"),
            },
            Some(b'n') => Column::Null,
            Some(b'{') => Column::Other("an object"),
            Some(b'[') => Column::Other("an array"),
            Some(b't' | b'f') => Column::Other("a boolean"),
            _ => Column::Other("a number"),
        }
    }
}

#[derive(Default)]
pub(crate) struct RowWire<'de> {
    id: Column<'de>,
    name: Column<'de>,
    bot_id: Column<'de>,
    metadata: Column<'de>,
    conversation_start_time: Column<'de>,
    created_on: Column<'de>,
    modified_on: Column<'de>,
    schema_type: Column<'de>,
    schema_version: Column<'de>,
    content: Column<'de>,
}

impl<'de> RowWire<'de> {
    fn slot(&mut self, key: &str) -> Option<&mut Column<'de>> {
        Some(match key {
            "conversationtranscriptid" => &mut self.id,
            "name" => &mut self.name,
            "_bot_conversationtranscriptid_value" => &mut self.bot_id,
            "metadata" => &mut self.metadata,
            "conversationstarttime" => &mut self.conversation_start_time,
            "createdon" => &mut self.created_on,
            "modifiedon" => &mut self.modified_on,
            "schematype" => &mut self.schema_type,
            "schemaversion" => &mut self.schema_version,
            "content" => &mut self.content,
            _ => return None,
        })
    }
}

/// A page element: a row object, or something else (kept only as its JSON type).
// Lives briefly on the stack per row; boxing the row would cost an allocation per row.
#[allow(clippy::large_enum_variant)]
pub(crate) enum RowOrOther<'de> {
    Row(RowWire<'de>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for RowOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RowVisitor::<false>)
    }
}

/// A page element read with lenient string columns ([`Column::from_raw`]): slower, so
/// used only to re-read a page the strict reading refused.
pub(crate) struct LenientRow<'de>(pub(crate) RowOrOther<'de>);

impl<'de> Deserialize<'de> for LenientRow<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(RowVisitor::<true>)
            .map(LenientRow)
    }
}

struct RowVisitor<const LENIENT: bool>;

impl<'de, const LENIENT: bool> Visitor<'de> for RowVisitor<LENIENT> {
    type Value = RowOrOther<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a conversationtranscript row")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut row = RowWire::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match row.slot(&key) {
                Some(slot) if LENIENT => {
                    *slot = Column::from_raw(map.next_value::<&'de RawValue>()?);
                }
                Some(slot) => *slot = map.next_value::<Column<'de>>()?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RowOrOther::Row(row))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RowOrOther::Other("an array"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RowOrOther::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RowOrOther::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RowOrOther::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RowOrOther::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RowOrOther::Other("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RowOrOther::Other("null"))
    }
}

fn optional_string(
    column: Column<'_>,
    name: &'static str,
    warnings: &mut Vec<RowWarning>,
) -> Option<String> {
    match column {
        Column::Absent | Column::Null => None,
        Column::Str(s) => Some(s.into_owned()),
        Column::Other(found) => {
            warnings.push(RowWarning::ColumnType {
                column: name,
                found,
            });
            None
        }
    }
}

fn optional_time(
    column: Column<'_>,
    name: &'static str,
    warnings: &mut Vec<RowWarning>,
) -> Option<OffsetDateTime> {
    let text = optional_string(column, name, warnings)?;
    let parsed = parse_time_text(&text);
    if parsed.is_none() {
        warnings.push(RowWarning::ColumnDateTime {
            column: name,
            value: text,
        });
    }
    parsed
}

/// The columns of a row other than `content`.
pub(crate) struct RowHeader {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) bot_id: Option<String>,
    pub(crate) metadata: Option<TranscriptMetadata>,
    pub(crate) conversation_start_time: Option<OffsetDateTime>,
    pub(crate) created_on: Option<OffsetDateTime>,
    pub(crate) modified_on: Option<OffsetDateTime>,
    pub(crate) schema_type: Option<String>,
    pub(crate) schema_version: Option<String>,
    pub(crate) warnings: Vec<RowWarning>,
}

/// Checks and decodes a row's columns; returns them with the (still encoded) `content` text.
pub(crate) fn header(
    row: RowOrOther<'_>,
    index: Option<usize>,
) -> Result<(RowHeader, Cow<'_, str>), RowError> {
    let row = match row {
        RowOrOther::Row(row) => row,
        RowOrOther::Other(found) => {
            return Err(RowError::new(
                index,
                None,
                RowErrorKind::NotAnObject { found },
            ));
        }
    };
    let id = match row.id {
        Column::Str(s) if !s.is_empty() => s.into_owned(),
        Column::Other(found) => {
            return Err(RowError::new(
                index,
                None,
                RowErrorKind::WrongColumnType {
                    column: "conversationtranscriptid",
                    found,
                },
            ));
        }
        _ => {
            return Err(RowError::new(
                index,
                None,
                RowErrorKind::MissingColumn {
                    column: "conversationtranscriptid",
                },
            ));
        }
    };
    let content_text = match row.content {
        Column::Str(s) => s,
        Column::Other(found) => {
            return Err(RowError::new(
                index,
                Some(id),
                RowErrorKind::WrongColumnType {
                    column: "content",
                    found,
                },
            ));
        }
        Column::Absent | Column::Null => {
            return Err(RowError::new(
                index,
                Some(id),
                RowErrorKind::MissingColumn { column: "content" },
            ));
        }
    };
    let mut warnings = Vec::new();
    let metadata = match optional_string(row.metadata, "metadata", &mut warnings) {
        Some(text) if !text.trim().is_empty() => {
            TranscriptMetadata::parse_lenient(&text, &mut warnings)
        }
        _ => {
            if !warnings
                .iter()
                .any(|w| matches!(w, RowWarning::ColumnType { .. }))
            {
                warnings.push(RowWarning::MetadataUnreadable {
                    found: "missing or empty".to_owned(),
                });
            }
            None
        }
    };
    let header = RowHeader {
        name: optional_string(row.name, "name", &mut warnings),
        bot_id: optional_string(
            row.bot_id,
            "_bot_conversationtranscriptid_value",
            &mut warnings,
        ),
        metadata,
        conversation_start_time: optional_time(
            row.conversation_start_time,
            "conversationstarttime",
            &mut warnings,
        ),
        created_on: optional_time(row.created_on, "createdon", &mut warnings),
        modified_on: optional_time(row.modified_on, "modifiedon", &mut warnings),
        schema_type: optional_string(row.schema_type, "schematype", &mut warnings),
        schema_version: optional_string(row.schema_version, "schemaversion", &mut warnings),
        id,
        warnings,
    };
    Ok((header, content_text))
}

/// The error for a `content` that is not a transcript document.
pub(crate) fn content_error(
    index: Option<usize>,
    header: RowHeader,
    source: serde_json::Error,
) -> RowError {
    RowError::new(
        index,
        Some(header.id),
        RowErrorKind::InvalidContent { source },
    )
}

fn build(row: RowOrOther<'_>, index: Option<usize>) -> Result<Transcript, RowError> {
    let (h, content_text) = header(row, index)?;
    let content_len = content_text.len();
    let content = match Content::parse(&content_text) {
        Ok(c) => c,
        Err(source) => return Err(content_error(index, h, source)),
    };
    Ok(Transcript {
        id: h.id,
        name: h.name,
        bot_id: h.bot_id,
        metadata: h.metadata,
        conversation_start_time: h.conversation_start_time,
        created_on: h.created_on,
        modified_on: h.modified_on,
        schema_type: h.schema_type,
        schema_version: h.schema_version,
        content,
        warnings: h.warnings,
        content_len,
    })
}

/// Walks the page; returns whether a row array was found.
struct PageSeed<'f, 'de, F, const LENIENT: bool> {
    f: &'f mut F,
    _de: std::marker::PhantomData<&'de ()>,
}

impl<'de, F, const LENIENT: bool> DeserializeSeed<'de> for PageSeed<'_, 'de, F, LENIENT>
where
    F: FnMut(RowOrOther<'de>, usize),
{
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F, const LENIENT: bool> Visitor<'de> for PageSeed<'_, 'de, F, LENIENT>
where
    F: FnMut(RowOrOther<'de>, usize),
{
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a JSON array of conversationtranscript rows or an OData object {\"value\": [...]}",
        )
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        RowsSeed::<'_, 'de, F, LENIENT> {
            f: self.f,
            _de: std::marker::PhantomData,
        }
        .visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "value" && !found {
                found = map.next_value_seed(RowsSeed::<'_, 'de, F, LENIENT> {
                    f: &mut *self.f,
                    _de: std::marker::PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct RowsSeed<'f, 'de, F, const LENIENT: bool> {
    f: &'f mut F,
    _de: std::marker::PhantomData<&'de ()>,
}

impl<'de, F, const LENIENT: bool> DeserializeSeed<'de> for RowsSeed<'_, 'de, F, LENIENT>
where
    F: FnMut(RowOrOther<'de>, usize),
{
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F, const LENIENT: bool> Visitor<'de> for RowsSeed<'_, 'de, F, LENIENT>
where
    F: FnMut(RowOrOther<'de>, usize),
{
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of conversationtranscript rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut index = 0usize;
        loop {
            let row = if LENIENT {
                seq.next_element::<LenientRow<'de>>()?.map(|r| r.0)
            } else {
                seq.next_element::<RowOrOther<'de>>()?
            };
            let Some(row) = row else { break };
            (self.f)(row, index);
            index += 1;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_shapes() {
        let row = r#"{"conversationtranscriptid":"a","content":"{\"activities\":[]}"}"#;
        let array = format!("[{row},{row}]");
        assert_eq!(parse_page(array.as_bytes()).unwrap().len(), 2);
        let odata = format!(r#"{{"@odata.context":"x","value":[{row}],"@odata.nextLink":"y"}}"#);
        assert_eq!(parse_page(odata.as_bytes()).unwrap().len(), 1);
        assert!(matches!(
            parse_page(b"{\"x\":1}"),
            Err(PageError::NoValueArray)
        ));
        assert!(matches!(parse_page(b"[1,"), Err(PageError::NotJson { .. })));
        assert!(matches!(
            parse_page(b"\"s\""),
            Err(PageError::UnexpectedShape { .. })
        ));
        assert!(matches!(
            parse_page(b"[] x"),
            Err(PageError::NotJson { .. })
        ));
    }

    #[test]
    fn one_bad_row_does_not_hide_others() {
        let page = r#"{"value":[
            {"conversationtranscriptid":"good","content":"{\"activities\":[]}"},
            {"conversationtranscriptid":"bad","content":"{\"activities\":["},
            7,
            {"content":"{\"activities\":[]}"},
            {"conversationtranscriptid":"typed","content":{"activities":[]}},
            {"conversationtranscriptid":"meta","content":"{\"activities\":[]}","metadata":"nope"},
            {"conversationtranscriptid":"when","content":"{\"activities\":[]}","createdon":"yesterday"},
            {"conversationtranscriptid":"last","content":"{\"activities\":[]}"}
        ]}"#;
        let rows = parse_page(page.as_bytes()).unwrap();
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0].as_ref().unwrap().id, "good");
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!(e.row_id(), Some("bad"));
        assert_eq!(e.row_index(), Some(1));
        assert!(matches!(e.kind(), RowErrorKind::InvalidContent { .. }));
        assert!(e.to_string().contains("bad"), "{e}");
        assert!(matches!(
            rows[2].as_ref().unwrap_err().kind(),
            RowErrorKind::NotAnObject { found: "a number" }
        ));
        assert!(matches!(
            rows[3].as_ref().unwrap_err().kind(),
            RowErrorKind::MissingColumn {
                column: "conversationtranscriptid"
            }
        ));
        assert!(matches!(
            rows[4].as_ref().unwrap_err().kind(),
            RowErrorKind::WrongColumnType {
                column: "content",
                found: "an object"
            }
        ));
        // Odd metadata and date-times are warnings, not errors.
        let meta = rows[5].as_ref().unwrap();
        assert!(meta.metadata.is_none());
        assert!(
            matches!(&meta.warnings[..], [RowWarning::MetadataUnreadable { .. }]),
            "{:?}",
            meta.warnings
        );
        let when = rows[6].as_ref().unwrap();
        assert!(when.created_on.is_none());
        assert!(when.warnings.contains(&RowWarning::ColumnDateTime {
            column: "createdon",
            value: "yesterday".into()
        }));
        assert_eq!(rows[7].as_ref().unwrap().id, "last");
    }

    #[test]
    fn metadata_fields_of_any_type_are_tolerated() {
        let mut w = Vec::new();
        let m = TranscriptMetadata::parse_lenient(
            r#"{"BotId":7,"BotName":"cr_x","BatchId":10,"AADTenantId":null,"Extra":[1]}"#,
            &mut w,
        )
        .unwrap();
        assert_eq!(m.bot_id, None);
        assert_eq!(m.bot_name.as_deref(), Some("cr_x"));
        assert_eq!(m.batch_id.as_deref(), Some("10"));
        assert_eq!(m.batch_number(), Some(10));
        assert_eq!(m.unknown_fields.len(), 1);
        assert_eq!(
            w,
            vec![RowWarning::MetadataField {
                field: "BotId",
                found: "a number"
            }]
        );
        let digits = TranscriptMetadata {
            batch_id: Some("2".into()),
            ..TranscriptMetadata::default()
        };
        assert_eq!(digits.batch_number(), Some(2));
        let guid = TranscriptMetadata {
            batch_id: Some("0b6c-4e".into()),
            ..TranscriptMetadata::default()
        };
        assert_eq!(guid.batch_number(), None);
        for text in ["[1]", "nope", "\"s\""] {
            let mut w = Vec::new();
            assert!(TranscriptMetadata::parse_lenient(text, &mut w).is_none());
            assert!(
                matches!(&w[..], [RowWarning::MetadataUnreadable { .. }]),
                "{text}"
            );
        }
    }

    #[test]
    fn from_value_matches_from_slice() {
        let text = r#"{"conversationtranscriptid":"r1","name":"conv_bot","createdon":"2024-09-09T18:41:13Z",
            "metadata":"{\"BotId\":\"b\",\"BotName\":\"cr_x\",\"Extra\":1}",
            "content":"{\"activities\":[{\"type\":\"message\",\"text\":\"hi\"}]}"}"#;
        let a = Transcript::from_json_slice(text.as_bytes()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let b = Transcript::from_value(&v).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.metadata, b.metadata);
        assert_eq!(a.created_on, b.created_on);
        assert_eq!(a.conversation_id(), Some("conv"));
        // Teams conversation ids are base64url and may hold `_`; the bot id (a GUID) never does.
        for (name, id) in [
            (
                "a:1Ab_cD-ef_4b57a07a-d1cf-06b6-3ebc-97dababcdbf0",
                Some("a:1Ab_cD-ef"),
            ),
            ("conv_bot", Some("conv")),
            ("_bot", None),
            ("no-separator", None),
        ] {
            assert_eq!(conversation_id_of(Some(name)), id, "{name}");
        }
        assert_eq!(b.content.activities[0].text.as_deref(), Some("hi"));
        assert_eq!(a.metadata.as_ref().unwrap().unknown_fields.len(), 1);
        assert!(matches!(
            Transcript::from_json_slice(b"{").unwrap_err().kind(),
            RowErrorKind::InvalidJson { .. }
        ));
        assert!(matches!(
            Transcript::from_value(&serde_json::json!([]))
                .unwrap_err()
                .kind(),
            RowErrorKind::NotAnObject { .. }
        ));
    }
}

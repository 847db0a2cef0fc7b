//! `$batch`: a multipart/mixed writer with change sets and `Content-ID` references, and a
//! multipart reader that turns the response into one result per operation.

use crate::client::DataverseClient;
use crate::query::{Query, check_name, encode_query_value};
use crate::write::UpsertOptions;
use crate::{Error, Key};
use bytes::Bytes;
use client_core::ServiceError;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;
use std::fmt::Write as _;
use uuid::Uuid;

/// The most operations Dataverse accepts in one `$batch`; larger batches are split.
pub const MAX_BATCH_OPERATIONS: usize = 1000;

/// The `Content-ID` of an operation inside a change set; later operations of the same change
/// set refer to what it created with [`reference`](Self::reference) (`$n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentId(u32);

impl ContentId {
    /// The number sent as `Content-ID`.
    pub fn value(self) -> u32 {
        self.0
    }

    /// `$n`: usable as an operation target (`$1/nav/$ref`) or an `@odata.bind` value.
    pub fn reference(self) -> String {
        format!("${}", self.0)
    }
}

impl std::fmt::Display for ContentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One request inside a [`Batch`].
///
/// The typed helpers of [`Batch`] and [`ChangeSet`] build these; [`BatchOperation::new`]
/// covers anything else (functions, actions, `$ref`).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOperation {
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    content_id: Option<ContentId>,
    invalid: Option<String>,
}

impl BatchOperation {
    /// A `method` request to `target`, a path under the API root as it goes on the wire
    /// (`accounts`, `bots(guid)/Microsoft.Dynamics.CRM.Publish`, `$1/contact_customer_accounts`).
    pub fn new(method: Method, target: &str) -> Self {
        let invalid = if target.is_empty()
            || target.starts_with('/')
            || target.contains("://")
            || target.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            Some(format!(
                "batch target `{}` is not valid: give an encoded path under the API root, \
                 without spaces, e.g. accounts(guid)",
                target.escape_debug()
            ))
        } else {
            None
        };
        BatchOperation {
            method,
            target: target.to_owned(),
            headers: vec![("Accept".to_owned(), "application/json".to_owned())],
            body: None,
            content_id: None,
            invalid,
        }
    }

    /// Adds a header to the inner request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        // A line break would end the header block and smuggle in a request of its own.
        let bad = |s: &str| s.contains(['\r', '\n']);
        if name.is_empty() || bad(name) || bad(value) || name.contains(':') {
            self.invalid.get_or_insert_with(|| {
                format!("batch header `{}` is not valid", name.escape_debug())
            });
        } else {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Sets a JSON body (sent with `Content-Type: application/json; type=entry`).
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The target path.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The body, if any.
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// The `Content-ID`, for operations in a change set.
    pub fn content_id(&self) -> Option<ContentId> {
        self.content_id
    }

    fn failed(mut self, e: Error) -> Self {
        self.invalid.get_or_insert_with(|| e.to_string());
        self
    }
}

fn op_or_invalid(method: Method, r: Result<String, Error>) -> BatchOperation {
    match r {
        Ok(target) => BatchOperation::new(method, &target),
        Err(e) => BatchOperation::new(method, "invalid").failed(e),
    }
}

fn get_op(entity_set: &str, key: &Key, select: &[&str]) -> BatchOperation {
    let target = key.path(entity_set).and_then(|mut p| {
        if !select.is_empty() {
            for c in select {
                check_name("selected column", c)?;
            }
            let _ = write!(p, "?$select={}", encode_query_value(&select.join(",")));
        }
        Ok(p)
    });
    op_or_invalid(Method::GET, target)
}

fn create_op(entity_set: &str, body: Value) -> BatchOperation {
    let target = check_name("entity set", entity_set).map(|()| entity_set.to_owned());
    op_or_invalid(Method::POST, target).json(body)
}

fn update_op(entity_set: &str, key: &Key, body: Value) -> BatchOperation {
    op_or_invalid(Method::PATCH, key.path(entity_set))
        .header("If-Match", "*")
        .json(body)
}

fn upsert_op(entity_set: &str, key: &Key, body: Value, opts: &UpsertOptions) -> BatchOperation {
    let mut op = op_or_invalid(Method::PATCH, key.path(entity_set));
    for (name, value) in opts.headers() {
        op = op.header(name, &value);
    }
    op.json(body)
}

fn delete_op(entity_set: &str, key: &Key) -> BatchOperation {
    op_or_invalid(Method::DELETE, key.path(entity_set))
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Single(BatchOperation),
    ChangeSet(Vec<BatchOperation>),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Single(_) => 1,
            Item::ChangeSet(ops) => ops.len(),
        }
    }
}

/// A `$batch` request: single operations and atomic change sets, sent with
/// [`DataverseClient::batch`].
///
/// ```
/// use dataverse_client::{Batch, Key};
/// use serde_json::json;
/// let mut batch = Batch::new();
/// batch.get("bots", &Key::id(uuid::Uuid::nil()), &["name"]);
/// let mut cs = batch.change_set();
/// let account = cs.create("accounts", json!({"name": "Contoso"}));
/// cs.create("contacts", json!({
///     "lastname": "Smith",
///     "parentcustomerid_account@odata.bind": account.reference(),
/// }));
/// assert_eq!(batch.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    items: Vec<Item>,
    next_content_id: u32,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.items.iter().map(Item::len).sum()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an operation outside any change set; returns its index in the results.
    pub fn push(&mut self, op: BatchOperation) -> usize {
        let index = self.len();
        self.items.push(Item::Single(op));
        index
    }

    /// Reads one row (`GET set(key)?$select=`).
    pub fn get(&mut self, entity_set: &str, key: &Key, select: &[&str]) -> usize {
        self.push(get_op(entity_set, key, select))
    }

    /// Runs a query and returns its first page (a `$batch` does not follow next links).
    pub fn query(&mut self, query: &Query) -> usize {
        let target = query.query_string().map(|qs| {
            if qs.is_empty() {
                query.entity_set().to_owned()
            } else {
                format!("{}?{qs}", query.entity_set())
            }
        });
        let mut op = op_or_invalid(Method::GET, target);
        match query.preferences(None, None) {
            Ok(Some(p)) => op = op.header("Prefer", &p),
            Ok(None) => {}
            Err(e) => op = op.failed(e),
        }
        self.push(op)
    }

    /// Creates a row.
    pub fn create(&mut self, entity_set: &str, body: Value) -> usize {
        self.push(create_op(entity_set, body))
    }

    /// Updates an existing row (`If-Match: *`).
    pub fn update(&mut self, entity_set: &str, key: &Key, body: Value) -> usize {
        self.push(update_op(entity_set, key, body))
    }

    /// Creates or updates a row as `opts` says.
    pub fn upsert(
        &mut self,
        entity_set: &str,
        key: &Key,
        body: Value,
        opts: &UpsertOptions,
    ) -> usize {
        self.push(upsert_op(entity_set, key, body, opts))
    }

    /// Deletes a row.
    pub fn delete(&mut self, entity_set: &str, key: &Key) -> usize {
        self.push(delete_op(entity_set, key))
    }

    /// Starts an atomic change set: all its operations succeed or none does. Reads (GET) are
    /// not allowed in a change set.
    pub fn change_set(&mut self) -> ChangeSet<'_> {
        self.items.push(Item::ChangeSet(Vec::new()));
        ChangeSet { batch: self }
    }

    /// The operations in order, flattened.
    pub fn operations(&self) -> impl Iterator<Item = &BatchOperation> {
        self.items.iter().flat_map(|i| match i {
            Item::Single(op) => std::slice::from_ref(op),
            Item::ChangeSet(ops) => ops.as_slice(),
        })
    }

    fn check(&self) -> Result<(), Error> {
        for item in &self.items {
            if let Item::ChangeSet(ops) = item {
                if ops.is_empty() {
                    return Err(Error::invalid(
                        "a change set of the batch has no operations",
                    ));
                }
                if ops.len() > MAX_BATCH_OPERATIONS {
                    return Err(Error::invalid(format!(
                        "a change set has {} operations; Dataverse allows at most {MAX_BATCH_OPERATIONS} \
                         in one batch, and a change set cannot be split",
                        ops.len()
                    )));
                }
                if ops.iter().any(|op| op.method == Method::GET) {
                    return Err(Error::invalid(
                        "a change set cannot contain a GET; read outside the change set",
                    ));
                }
            }
        }
        if let Some(problem) = self.operations().find_map(|op| op.invalid.as_ref()) {
            return Err(Error::invalid(problem.clone()));
        }
        Ok(())
    }

    /// Splits the items into groups of at most `max` operations, keeping change sets whole.
    fn chunks(&self, max: usize) -> Vec<&[Item]> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut count = 0;
        for (i, item) in self.items.iter().enumerate() {
            if count + item.len() > max && i > start {
                out.push(&self.items[start..i]);
                start = i;
                count = 0;
            }
            count += item.len();
        }
        if start < self.items.len() {
            out.push(&self.items[start..]);
        }
        out
    }
}

/// An atomic change set being added to a [`Batch`]; see [`Batch::change_set`].
#[derive(Debug)]
pub struct ChangeSet<'a> {
    batch: &'a mut Batch,
}

impl ChangeSet<'_> {
    /// Adds an operation and returns its `Content-ID`.
    pub fn push(&mut self, mut op: BatchOperation) -> ContentId {
        self.batch.next_content_id += 1;
        let id = ContentId(self.batch.next_content_id);
        op.content_id = Some(id);
        if let Some(Item::ChangeSet(ops)) = self.batch.items.last_mut() {
            ops.push(op);
        }
        id
    }

    /// Creates a row.
    pub fn create(&mut self, entity_set: &str, body: Value) -> ContentId {
        self.push(create_op(entity_set, body))
    }

    /// Updates an existing row (`If-Match: *`).
    pub fn update(&mut self, entity_set: &str, key: &Key, body: Value) -> ContentId {
        self.push(update_op(entity_set, key, body))
    }

    /// Creates or updates a row as `opts` says.
    pub fn upsert(
        &mut self,
        entity_set: &str,
        key: &Key,
        body: Value,
        opts: &UpsertOptions,
    ) -> ContentId {
        self.push(upsert_op(entity_set, key, body, opts))
    }

    /// Deletes a row.
    pub fn delete(&mut self, entity_set: &str, key: &Key) -> ContentId {
        self.push(delete_op(entity_set, key))
    }
}

/// Whether a batch goes on after a failed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BatchMode {
    /// Stop at the first failure (the service's default); later operations are
    /// [`BatchOutcome::NotExecuted`].
    #[default]
    StopOnError,
    /// Run every operation (`Prefer: odata.continue-on-error`).
    ContinueOnError,
}

/// A successful inner response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchResponse {
    /// The inner status (200, 201, 204, ...).
    pub status: u16,
    /// The inner headers.
    pub headers: HeaderMap,
    /// The inner body (empty for 204).
    pub body: Bytes,
}

impl BatchResponse {
    /// The body as JSON, `None` when empty.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| Error::decode("a $batch part's body", e))
    }

    /// The id of the row the operation created or changed (`OData-EntityId`).
    pub fn entity_id(&self) -> Option<Uuid> {
        self.headers
            .get("odata-entityid")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::write::entity_id)
    }
}

/// What happened to one operation of a batch.
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// It succeeded.
    Succeeded(BatchResponse),
    /// It failed; the error carries the status, code, message and request id
    /// ([`Error::service`]).
    Failed(Error),
    /// It ran in a change set that failed on another operation, so it was rolled back.
    RolledBack,
    /// It was not run: the batch stopped at an earlier failure.
    NotExecuted,
}

/// The result of one operation, in the order the operations were added.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchResult {
    /// The operation's position in the batch.
    pub index: usize,
    /// Its `Content-ID`, for change set operations.
    pub content_id: Option<ContentId>,
    /// What happened.
    pub outcome: BatchOutcome,
}

impl BatchResult {
    /// Whether the operation succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, BatchOutcome::Succeeded(_))
    }

    /// The response, if it succeeded.
    pub fn response(&self) -> Option<&BatchResponse> {
        match &self.outcome {
            BatchOutcome::Succeeded(r) => Some(r),
            _ => None,
        }
    }

    /// The error, if it failed.
    pub fn error(&self) -> Option<&Error> {
        match &self.outcome {
            BatchOutcome::Failed(e) => Some(e),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Writer

const CRLF: &str = "\r\n";

fn write_operation(out: &mut String, boundary: &str, api_path: &str, op: &BatchOperation) {
    let _ = write!(
        out,
        "--{boundary}{CRLF}Content-Type: application/http{CRLF}Content-Transfer-Encoding: binary{CRLF}"
    );
    if let Some(id) = op.content_id {
        let _ = write!(out, "Content-ID: {id}{CRLF}");
    }
    // `$n` references are resolved by the service and stay relative.
    let target = if op.target.starts_with('$') {
        op.target.clone()
    } else {
        format!("{api_path}{}", op.target)
    };
    let _ = write!(out, "{CRLF}{} {target} HTTP/1.1{CRLF}", op.method);
    for (name, value) in &op.headers {
        let _ = write!(out, "{name}: {value}{CRLF}");
    }
    match &op.body {
        Some(body) => {
            let text = body.to_string();
            let _ = write!(
                out,
                "Content-Type: application/json; type=entry{CRLF}Content-Length: {}{CRLF}{CRLF}{text}{CRLF}",
                text.len()
            );
        }
        None => {
            let _ = write!(out, "{CRLF}{CRLF}");
        }
    }
}

/// Serialises `items` as a multipart/mixed body with `boundary`; `api_path` is the API
/// root's path (`/api/data/v9.2/`), which prefixes every request line.
fn write_batch(items: &[Item], boundary: &str, api_path: &str) -> String {
    let mut out = String::new();
    for item in items {
        match item {
            Item::Single(op) => write_operation(&mut out, boundary, api_path, op),
            Item::ChangeSet(ops) => {
                let cs = format!("changeset_{}", Uuid::new_v4().simple());
                let _ = write!(
                    out,
                    "--{boundary}{CRLF}Content-Type: multipart/mixed; boundary=\"{cs}\"{CRLF}{CRLF}"
                );
                for op in ops {
                    write_operation(&mut out, &cs, api_path, op);
                }
                let _ = write!(out, "--{cs}--{CRLF}");
            }
        }
    }
    let _ = write!(out, "--{boundary}--{CRLF}");
    out
}

// ---------------------------------------------------------------------------------------
// Reader

/// Header lines as (name, value), in order.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// One MIME part: its headers and its content.
#[derive(Debug)]
struct MimePart<'a> {
    headers: Vec<(&'a str, &'a str)>,
    content: &'a str,
}

fn header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The `boundary` parameter of a `multipart/mixed` content type.
pub(crate) fn boundary_of(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

/// Splits a header block from what follows the blank line (CRLF or LF line ends).
fn split_head(text: &str) -> Result<(Headers<'_>, &str), String> {
    let mut headers = Vec::new();
    let mut rest = text;
    loop {
        let (line, after) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return Ok((headers, after));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("`{}` is not a header line", line.escape_debug()))?;
        headers.push((name.trim(), value.trim()));
        if after.is_empty() {
            return Ok((headers, ""));
        }
        rest = after;
    }
}

/// The parts between `--boundary` delimiter lines; the line break before a delimiter
/// belongs to the delimiter. The closing `--boundary--` is required.
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Result<Vec<MimePart<'a>>, String> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let text = line.trim_end_matches(['\r', '\n']).trim_end();
        let is_close = text.strip_prefix(&delimiter) == Some("--");
        if text == delimiter || is_close {
            if let Some(s) = start {
                let content = &body[s..offset];
                let content = content
                    .strip_suffix("\r\n")
                    .or_else(|| content.strip_suffix('\n'))
                    .unwrap_or(content);
                let (headers, content) = split_head(content)?;
                parts.push(MimePart { headers, content });
            }
            if is_close {
                return Ok(parts);
            }
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    Err(format!(
        "the closing delimiter --{boundary}-- is missing (truncated response?)"
    ))
}

/// An embedded HTTP message: its start line, headers and body.
struct HttpMessage<'a> {
    start: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a str,
}

fn parse_http(text: &str) -> Result<HttpMessage<'_>, String> {
    let text = text.trim_start_matches(['\r', '\n']);
    let (start, rest) = text.split_once('\n').unwrap_or((text, ""));
    let start = start.strip_suffix('\r').unwrap_or(start);
    let (headers, body) = if rest.is_empty() {
        (Vec::new(), "")
    } else {
        split_head(rest)?
    };
    // The Content-Length, when present, bounds the body; a trailing line break is padding.
    let body = match header(&headers, "content-length").and_then(|l| l.parse::<usize>().ok()) {
        Some(n) if n <= body.len() && body.is_char_boundary(n) => &body[..n],
        _ => body.trim_end_matches(['\r', '\n']),
    };
    Ok(HttpMessage {
        start,
        headers,
        body,
    })
}

/// A parsed inner response.
#[derive(Debug)]
struct PartResponse {
    content_id: Option<String>,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Debug)]
enum ResponseItem {
    Single(PartResponse),
    ChangeSet(Vec<PartResponse>),
}

fn to_header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.append(n, v);
        }
    }
    map
}

fn parse_response_part(part: &MimePart<'_>) -> Result<PartResponse, String> {
    let msg = parse_http(part.content)?;
    let mut words = msg.start.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or_else(|| format!("`{}` has no valid status", msg.start))?,
        _ => {
            return Err(format!(
                "`{}` is not a status line",
                msg.start.escape_debug()
            ));
        }
    };
    let content_id = header(&part.headers, "content-id")
        .or_else(|| header(&msg.headers, "content-id"))
        .map(str::to_owned);
    Ok(PartResponse {
        content_id,
        status,
        headers: to_header_map(&msg.headers),
        body: Bytes::copy_from_slice(msg.body.as_bytes()),
    })
}

fn parse_response(body: &str, boundary: &str) -> Result<Vec<ResponseItem>, String> {
    let mut items = Vec::new();
    for part in split_multipart(body, boundary)? {
        let content_type = header(&part.headers, "content-type").unwrap_or_default();
        if let Some(inner) = boundary_of(content_type) {
            let parts = split_multipart(part.content, inner)?
                .iter()
                .map(parse_response_part)
                .collect::<Result<Vec<_>, _>>()?;
            items.push(ResponseItem::ChangeSet(parts));
        } else {
            items.push(ResponseItem::Single(parse_response_part(&part)?));
        }
    }
    Ok(items)
}

/// Reads a request body written by [`write_batch`] (or any client following the format)
/// back into items; `api_path` is stripped from request lines.
#[cfg(test)]
fn parse_request(body: &str, boundary: &str, api_path: &str) -> Result<Vec<Item>, String> {
    let read_op = |part: &MimePart<'_>| -> Result<BatchOperation, String> {
        let msg = parse_http(part.content)?;
        let mut words = msg.start.split(' ');
        let (Some(method), Some(target), Some(_version)) =
            (words.next(), words.next(), words.next())
        else {
            return Err(format!(
                "`{}` is not a request line",
                msg.start.escape_debug()
            ));
        };
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let target = target.strip_prefix(api_path).unwrap_or(target);
        let mut op = BatchOperation::new(method, target);
        op.headers.clear();
        let has_body = !msg.body.is_empty();
        for (n, v) in &msg.headers {
            let ours = n.eq_ignore_ascii_case("content-length")
                || (has_body
                    && n.eq_ignore_ascii_case("content-type")
                    && *v == "application/json; type=entry");
            if !ours {
                op.headers.push(((*n).to_owned(), (*v).to_owned()));
            }
        }
        if has_body {
            op.body = Some(serde_json::from_str(msg.body).map_err(|e| e.to_string())?);
        }
        op.content_id = header(&part.headers, "content-id")
            .map(|id| id.parse::<u32>().map(ContentId).map_err(|e| e.to_string()))
            .transpose()?;
        Ok(op)
    };
    let mut items = Vec::new();
    for part in split_multipart(body, boundary)? {
        let content_type = header(&part.headers, "content-type").unwrap_or_default();
        if let Some(inner) = boundary_of(content_type) {
            let ops = split_multipart(part.content, inner)?
                .iter()
                .map(read_op)
                .collect::<Result<Vec<_>, _>>()?;
            items.push(Item::ChangeSet(ops));
        } else {
            items.push(Item::Single(read_op(&part)?));
        }
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------
// Matching responses to operations

fn part_outcome(
    op: &BatchOperation,
    part: PartResponse,
    now: time::OffsetDateTime,
) -> BatchOutcome {
    if part.status.is_success() {
        BatchOutcome::Succeeded(BatchResponse {
            status: part.status.as_u16(),
            headers: part.headers,
            body: part.body,
        })
    } else {
        let e = ServiceError::from_parts(
            part.status.as_u16(),
            op.method.as_str(),
            &op.target,
            part.headers,
            &part.body,
            now,
        );
        BatchOutcome::Failed(Error::Http(client_core::Error::Service(Box::new(e))))
    }
}

/// One result per operation of `items`, from the response items (in order); operations with
/// no response were not executed. Returns whether any operation failed.
fn match_results(
    items: &[Item],
    responses: Vec<ResponseItem>,
    first_index: usize,
    now: time::OffsetDateTime,
) -> Result<(Vec<BatchResult>, bool), Error> {
    if responses.len() > items.len() {
        return Err(Error::Batch {
            message: format!(
                "{} responses for {} requests and change sets",
                responses.len(),
                items.len()
            ),
        });
    }
    let mut results = Vec::new();
    let mut failed = false;
    let mut index = first_index;
    let mut responses = responses.into_iter();
    for item in items {
        let response = responses.next();
        match (item, response) {
            (Item::Single(op), None) => {
                results.push(result(index, op, BatchOutcome::NotExecuted));
                index += 1;
            }
            (Item::ChangeSet(ops), None) => {
                for op in ops {
                    results.push(result(index, op, BatchOutcome::NotExecuted));
                    index += 1;
                }
            }
            (Item::Single(op), Some(ResponseItem::Single(part))) => {
                let outcome = part_outcome(op, part, now);
                failed |= matches!(outcome, BatchOutcome::Failed(_));
                results.push(result(index, op, outcome));
                index += 1;
            }
            (Item::Single(_), Some(ResponseItem::ChangeSet(_))) => {
                return Err(Error::Batch {
                    message: format!(
                        "operation {index} is a single request but its response is a change set"
                    ),
                });
            }
            (Item::ChangeSet(ops), Some(response)) => {
                let parts = match response {
                    ResponseItem::ChangeSet(parts) => parts,
                    // A failed change set often answers with the failing part alone.
                    ResponseItem::Single(part) => vec![part],
                };
                let cs_failed = parts.iter().any(|p| !p.status.is_success());
                failed |= cs_failed;
                let mut outcomes: Vec<Option<BatchOutcome>> = ops.iter().map(|_| None).collect();
                let mut unmatched = Vec::new();
                for part in parts {
                    let pos = part.content_id.as_deref().and_then(|id| {
                        ops.iter()
                            .position(|op| op.content_id.is_some_and(|c| c.to_string() == id))
                    });
                    match pos {
                        Some(p) if outcomes[p].is_none() => {
                            outcomes[p] = Some(part_outcome(&ops[p], part, now));
                        }
                        _ => unmatched.push(part),
                    }
                }
                // Parts without a usable Content-ID fill the remaining operations in order.
                for part in unmatched {
                    let Some(p) = outcomes.iter().position(Option::is_none) else {
                        return Err(Error::Batch {
                            message: "a change set response has more parts than operations".into(),
                        });
                    };
                    outcomes[p] = Some(part_outcome(&ops[p], part, now));
                }
                for (op, outcome) in ops.iter().zip(outcomes) {
                    let outcome = match outcome {
                        // Atomic: one failure undoes the others, even those that answered 2xx.
                        Some(BatchOutcome::Succeeded(_)) | None if cs_failed => {
                            BatchOutcome::RolledBack
                        }
                        Some(o) => o,
                        None => BatchOutcome::NotExecuted,
                    };
                    results.push(result(index, op, outcome));
                    index += 1;
                }
            }
        }
    }
    Ok((results, failed))
}

fn result(index: usize, op: &BatchOperation, outcome: BatchOutcome) -> BatchResult {
    BatchResult {
        index,
        content_id: op.content_id,
        outcome,
    }
}

impl DataverseClient {
    /// Sends `batch` as one or more `$batch` requests (at most [`MAX_BATCH_OPERATIONS`]
    /// operations each, change sets kept whole) and returns one result per operation, in
    /// order. An `Err` means a whole request failed (transport, authentication, throttling
    /// after retries, an unreadable response); the results say which operations failed and
    /// why. With [`BatchMode::StopOnError`], operations after a failure are
    /// [`BatchOutcome::NotExecuted`] and no further request is sent.
    ///
    /// ```no_run
    /// use dataverse_client::{Batch, BatchMode, BatchOutcome, Key};
    /// use serde_json::json;
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let mut batch = Batch::new();
    /// let mut cs = batch.change_set();
    /// let account = cs.create("accounts", json!({"name": "Contoso"}));
    /// cs.create("contacts", json!({"lastname": "Smith", "parentcustomerid_account@odata.bind": account.reference()}));
    /// for r in client.batch(batch, BatchMode::ContinueOnError).await? {
    ///     match r.outcome {
    ///         BatchOutcome::Succeeded(resp) => println!("{}: created {:?}", r.index, resp.entity_id()),
    ///         BatchOutcome::Failed(e) => println!("{}: {e}", r.index),
    ///         other => println!("{}: {other:?}", r.index),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn batch(&self, batch: Batch, mode: BatchMode) -> Result<Vec<BatchResult>, Error> {
        self.batch_with_limit(batch, mode, MAX_BATCH_OPERATIONS)
            .await
    }

    async fn batch_with_limit(
        &self,
        batch: Batch,
        mode: BatchMode,
        max: usize,
    ) -> Result<Vec<BatchResult>, Error> {
        batch.check()?;
        let mut results = Vec::with_capacity(batch.len());
        let mut stopped = false;
        for chunk in batch.chunks(max) {
            if stopped {
                for op in chunk.iter().flat_map(|i| match i {
                    Item::Single(op) => std::slice::from_ref(op),
                    Item::ChangeSet(ops) => ops.as_slice(),
                }) {
                    results.push(result(results.len(), op, BatchOutcome::NotExecuted));
                }
                continue;
            }
            let (chunk_results, failed) = self.send_batch(chunk, mode, results.len()).await?;
            tracing::debug!(operations = chunk_results.len(), failed, "$batch answered");
            results.extend(chunk_results);
            stopped = failed && mode == BatchMode::StopOnError;
        }
        Ok(results)
    }

    async fn send_batch(
        &self,
        items: &[Item],
        mode: BatchMode,
        first_index: usize,
    ) -> Result<(Vec<BatchResult>, bool), Error> {
        let api_path = self.api_url().path().to_owned();
        let (boundary, body) = loop {
            let boundary = format!("batch_{}", Uuid::new_v4().simple());
            let body = write_batch(items, &boundary, &api_path);
            // A body containing the boundary would cut a part short; a fresh one fixes that.
            if body.matches(&boundary).count() == items.len() + 1 {
                break (boundary, body);
            }
        };
        let mut req = self
            .request(Method::POST, self.url("$batch")?)
            .body(body, &format!("multipart/mixed; boundary=\"{boundary}\""));
        if mode == BatchMode::ContinueOnError {
            req = req.header("prefer", "odata.continue-on-error");
        }
        let resp = self.inner.pipeline.send_raw(req).await?;
        let now = self.inner.pipeline.clock().now();
        let response_boundary = resp
            .header("content-type")
            .and_then(boundary_of)
            .map(str::to_owned);
        let Some(response_boundary) = response_boundary else {
            // Not multipart: the whole request failed (or answered something unexpected).
            if resp.status().is_success() {
                return Err(Error::Batch {
                    message: format!(
                        "HTTP {} with content type {:?} instead of multipart/mixed",
                        resp.status(),
                        resp.header("content-type").unwrap_or("")
                    ),
                });
            }
            return Err(resp.into_service_error(&Method::POST, now).into());
        };
        let text = String::from_utf8_lossy(resp.body());
        let responses = parse_response(&text, &response_boundary)
            .map_err(|message| Error::Batch { message })?;
        match_results(items, responses, first_index, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const API: &str = "/api/data/v9.2/";

    #[test]
    fn writes_the_documented_format() {
        let mut b = Batch::new();
        b.get("bots", &Key::id(Uuid::nil()), &["name"]);
        let mut cs = b.change_set();
        let a = cs.create("accounts", serde_json::json!({"name": "a"}));
        cs.push(
            BatchOperation::new(
                Method::POST,
                &format!("{}/contact_customer_accounts/$ref", a.reference()),
            )
            .json(
                serde_json::json!({"@odata.id": "contacts(00000000-0000-0000-0000-000000000001)"}),
            ),
        );
        let body = write_batch(&b.items, "batch_1", API);
        // The change set boundary is random: name it X.
        let at = body.find("boundary=\"changeset_").unwrap() + "boundary=\"".len();
        let cs = &body[at..at + "changeset_".len() + 32];
        let body = body.replace(cs, "changeset_X");
        assert_eq!(
            body,
            "--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
             GET /api/data/v9.2/bots(00000000-0000-0000-0000-000000000000)?$select=name HTTP/1.1\r\n\
             Accept: application/json\r\n\r\n\r\n\
             --batch_1\r\nContent-Type: multipart/mixed; boundary=\"changeset_X\"\r\n\r\n\
             --changeset_X\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
             POST /api/data/v9.2/accounts HTTP/1.1\r\nAccept: application/json\r\n\
             Content-Type: application/json; type=entry\r\nContent-Length: 12\r\n\r\n{\"name\":\"a\"}\r\n\
             --changeset_X\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
             POST $1/contact_customer_accounts/$ref HTTP/1.1\r\nAccept: application/json\r\n\
             Content-Type: application/json; type=entry\r\nContent-Length: 62\r\n\r\n\
             {\"@odata.id\":\"contacts(00000000-0000-0000-0000-000000000001)\"}\r\n\
             --changeset_X--\r\n--batch_1--\r\n"
        );
    }

    #[test]
    fn checks_and_chunks() {
        let mut b = Batch::new();
        b.change_set();
        assert!(b.check().is_err());
        let mut b = Batch::new();
        b.change_set()
            .push(BatchOperation::new(Method::GET, "bots"));
        assert!(b.check().is_err());
        let mut b = Batch::new();
        b.push(BatchOperation::new(Method::GET, "bots x"));
        assert!(b.check().is_err());
        let mut b = Batch::new();
        b.push(BatchOperation::new(Method::GET, "bots").header("X", "a\r\nInjected: 1"));
        assert!(b.check().is_err());
        let mut b = Batch::new();
        b.create("bad set", serde_json::json!({}));
        assert!(b.check().unwrap_err().to_string().contains("bad set"));

        let mut b = Batch::new();
        for _ in 0..3 {
            b.delete("bots", &Key::id(Uuid::nil()));
        }
        let mut cs = b.change_set();
        for _ in 0..3 {
            cs.delete("bots", &Key::id(Uuid::nil()));
        }
        b.delete("bots", &Key::id(Uuid::nil()));
        let sizes: Vec<usize> = b
            .chunks(4)
            .iter()
            .map(|c| c.iter().map(Item::len).sum())
            .collect();
        assert_eq!(sizes, [3, 4]);
        assert_eq!(b.chunks(1000).len(), 1);
    }

    #[test]
    fn reads_nested_change_set_responses_and_lf_line_ends() {
        let body = "--batchresponse_1\n\
            Content-Type: multipart/mixed; boundary=changesetresponse_2\n\n\
            --changesetresponse_2\nContent-Type: application/http\nContent-Transfer-Encoding: binary\nContent-ID: 1\n\n\
            HTTP/1.1 204 No Content\nOData-EntityId: https://o/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000005)\n\n\n\
            --changesetresponse_2--\n\
            --batchresponse_1\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\n\
            HTTP/1.1 200 OK\nContent-Type: application/json; odata.metadata=minimal\n\n{\"value\":[]}\n\
            --batchresponse_1--\n";
        let items = parse_response(body, "batchresponse_1").unwrap();
        assert_eq!(items.len(), 2);
        let ResponseItem::ChangeSet(parts) = &items[0] else {
            panic!()
        };
        assert_eq!(parts[0].status, StatusCode::NO_CONTENT);
        assert_eq!(parts[0].content_id.as_deref(), Some("1"));
        let ResponseItem::Single(p) = &items[1] else {
            panic!()
        };
        assert_eq!(&p.body[..], b"{\"value\":[]}");
        assert!(
            parse_response(
                "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
                "b"
            )
            .is_err()
        );
        assert!(parse_response("--b\r\n\r\nnot http\r\n--b--\r\n", "b").is_err());
    }

    #[test]
    fn a_failed_change_set_rolls_back_the_parts_that_answered_2xx() {
        let mut b = Batch::new();
        let mut cs = b.change_set();
        cs.create("accounts", serde_json::json!({"name": "a"}));
        cs.create("contacts", serde_json::json!({"lastname": "b"}));
        cs.create("contacts", serde_json::json!({"lastname": "c"}));
        // Both parts nested, the first one 2xx: the service undid it with the change set.
        let body = "--r\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
            --cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n\
            --cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n\
            HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x1\",\"message\":\"no\"}}\r\n\
            --cs--\r\n--r--\r\n";
        let responses = parse_response(body, "r").unwrap();
        let (results, failed) =
            match_results(&b.items, responses, 0, time::OffsetDateTime::UNIX_EPOCH).unwrap();
        assert!(failed);
        assert!(matches!(results[0].outcome, BatchOutcome::RolledBack));
        assert_eq!(results[1].error().unwrap().service_message(), Some("no"));
        assert!(matches!(results[2].outcome, BatchOutcome::RolledBack));
    }

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary_of("multipart/mixed; boundary=\"batch_1\""),
            Some("batch_1")
        );
        assert_eq!(boundary_of("Multipart/Mixed;boundary=b"), Some("b"));
        assert_eq!(boundary_of("application/json"), None);
        assert_eq!(boundary_of("multipart/mixed"), None);
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_op() -> impl Strategy<Value = BatchOperation> {
        let method = prop_oneof![
            Just(Method::POST),
            Just(Method::PATCH),
            Just(Method::DELETE),
            Just(Method::PUT)
        ];
        let target = "[a-z_]{1,12}(\\([a-z0-9=',%-]{1,20}\\))?(/[a-z_]{1,8})?";
        let headers = proptest::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,20}"), 0..3);
        (method, target, headers, proptest::option::of(arb_value())).prop_map(
            |(method, target, headers, body)| {
                let mut op = BatchOperation::new(method, &target);
                for (n, v) in headers {
                    // Header values are trimmed on the wire, as HTTP says.
                    op = op.header(&n, v.trim());
                }
                if let Some(b) = body {
                    op = op.json(b);
                }
                op
            },
        )
    }

    proptest! {
        #[test]
        fn batches_round_trip_through_the_reader(
            singles in proptest::collection::vec(arb_op(), 0..4),
            sets in proptest::collection::vec(proptest::collection::vec(arb_op(), 1..4), 0..3),
            gets in proptest::collection::vec("[a-z]{1,8}", 0..3),
        ) {
            let mut batch = Batch::new();
            for g in &gets {
                batch.query(&Query::new(g).select(["name"]));
            }
            for op in singles {
                batch.push(op);
            }
            for set in sets {
                let mut cs = batch.change_set();
                for op in set {
                    cs.push(op);
                }
            }
            prop_assert!(batch.check().is_ok());
            let boundary = "batch_0b4c6a2e";
            let body = write_batch(&batch.items, boundary, API);
            let parsed = parse_request(&body, boundary, API).unwrap();
            prop_assert_eq!(parsed, batch.items);
        }
    }
}

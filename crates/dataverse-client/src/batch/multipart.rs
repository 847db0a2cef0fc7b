//! The `$batch` wire format: a multipart/mixed writer (requests, change sets, `Content-ID`s)
//! and a reader of multipart/mixed responses (nested change sets, CRLF or LF line ends).

use super::Item;
use crate::operation::Operation;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::fmt::Write as _;
use uuid::Uuid;

pub(super) const CRLF: &str = "\r\n";

pub(super) fn write_operation(out: &mut String, boundary: &str, api_path: &str, op: &Operation) {
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
pub(super) fn write_batch(items: &[Item], boundary: &str, api_path: &str) -> String {
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

/// Header lines as (name, value), in order.
pub(super) type Headers<'a> = Vec<(&'a str, &'a str)>;

/// One MIME part: its headers and its content.
#[derive(Debug)]
pub(super) struct MimePart<'a> {
    pub(super) headers: Vec<(&'a str, &'a str)>,
    pub(super) content: &'a str,
}

pub(super) fn header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The `boundary` parameter of a `multipart/mixed` content type.
pub(super) fn boundary_of(content_type: &str) -> Option<&str> {
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
pub(super) fn split_head(text: &str) -> Result<(Headers<'_>, &str), String> {
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
pub(super) fn split_multipart<'a>(
    body: &'a str,
    boundary: &str,
) -> Result<Vec<MimePart<'a>>, String> {
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
pub(super) struct HttpMessage<'a> {
    pub(super) start: &'a str,
    pub(super) headers: Vec<(&'a str, &'a str)>,
    pub(super) body: &'a str,
}

pub(super) fn parse_http(text: &str) -> Result<HttpMessage<'_>, String> {
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
pub(super) struct PartResponse {
    pub(super) content_id: Option<String>,
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

#[derive(Debug)]
pub(super) enum ResponseItem {
    Single(PartResponse),
    ChangeSet(Vec<PartResponse>),
}

pub(super) fn to_header_map(headers: &[(&str, &str)]) -> HeaderMap {
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

pub(super) fn parse_response_part(part: &MimePart<'_>) -> Result<PartResponse, String> {
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

pub(super) fn parse_response(body: &str, boundary: &str) -> Result<Vec<ResponseItem>, String> {
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

//! `$batch`: multipart/mixed requests, atomic change sets, `Content-ID` references and
//! `odata.continue-on-error`.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use bytes::Bytes;
use serde_json::Value;
use uuid::Uuid;

use super::Inner;
use super::engine::{self, Ctx, Req, Resp};
use super::error::ApiError;
use super::query::Prefer;

/// The documented limit of requests in one batch.
pub(crate) const MAX_REQUESTS: usize = 1000;

/// One request inside the batch body.
#[derive(Debug, Clone)]
struct Part {
    content_id: Option<String>,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Debug, Clone)]
enum Item {
    Single(Part),
    ChangeSet(Vec<Part>),
}

fn malformed(what: impl std::fmt::Display) -> ApiError {
    ApiError::odata(format!("The batch request body is malformed: {what}."))
}

/// The `boundary` parameter of a multipart content type.
fn boundary_of(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/mixed") {
        return None;
    }
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        (name.trim().eq_ignore_ascii_case("boundary"))
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

fn trim_line(line: &str) -> &str {
    line.trim_end_matches('\n').trim_end_matches('\r')
}

/// The parts between `--boundary` lines (CRLF or LF line ends). The line break before a
/// delimiter belongs to the delimiter.
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Result<Vec<&'a str>, ApiError> {
    let delimiter = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
    let mut closed = false;
    for line in body.split_inclusive('\n') {
        let text = trim_line(line).trim_end();
        if text == delimiter || text == closing {
            if let Some(s) = start {
                let mut content = &body[s..offset];
                content = content
                    .strip_suffix("\r\n")
                    .or_else(|| content.strip_suffix('\n'))
                    .unwrap_or(content);
                parts.push(content);
            }
            if text == closing {
                closed = true;
                break;
            }
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    if !closed {
        return Err(malformed(format!(
            "the closing delimiter '{closing}' is missing"
        )));
    }
    Ok(parts)
}

/// Header lines as `(name, value)`.
type Headers = Vec<(String, String)>;

/// Splits header lines from what follows the first blank line.
fn split_head(text: &str) -> Result<(Headers, &str), ApiError> {
    let mut headers = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        let l = trim_line(line);
        if l.is_empty() {
            return Ok((headers, &text[offset..]));
        }
        let (name, value) = l
            .split_once(':')
            .ok_or_else(|| malformed(format!("'{l}' is not a header line")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    // Headers without a body and without the trailing blank line.
    Ok((headers, ""))
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// An `application/http` part: its MIME headers, then the request.
fn parse_http_part(mime: &[(String, String)], rest: &str) -> Result<Part, ApiError> {
    let rest = rest.trim_start_matches(['\r', '\n']);
    let (request_line, after) = match rest.find('\n') {
        Some(i) => (trim_line(&rest[..=i]), &rest[i + 1..]),
        None => (rest.trim_end(), ""),
    };
    let mut words = request_line.split_whitespace();
    let (Some(method), Some(url)) = (words.next(), words.next()) else {
        return Err(malformed(format!("'{request_line}' is not a request line")));
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| malformed(format!("'{method}' is not an HTTP method")))?;
    let (inner_headers, body) = split_head(after)?;
    let mut headers = HeaderMap::new();
    for (name, value) in &inner_headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    let content_id = header(mime, "Content-ID")
        .or_else(|| header(&inner_headers, "Content-ID"))
        .map(str::to_owned);
    let body = match header(&inner_headers, "Content-Length").and_then(|l| l.parse::<usize>().ok())
    {
        Some(len) if len <= body.len() && body.is_char_boundary(len) => &body[..len],
        _ => body.trim_end_matches(['\r', '\n']),
    };
    Ok(Part {
        content_id,
        method,
        url: url.to_owned(),
        headers,
        body: body.to_owned(),
    })
}

fn is_http(mime: &[(String, String)]) -> bool {
    header(mime, "Content-Type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/http"))
}

fn parse_batch(body: &str, boundary: &str) -> Result<Vec<Item>, ApiError> {
    let mut items = Vec::new();
    let mut count = 0;
    for raw in split_multipart(body, boundary)? {
        let (mime, rest) = split_head(raw)?;
        if let Some(cs_boundary) = header(&mime, "Content-Type").and_then(boundary_of) {
            let mut parts = Vec::new();
            for inner in split_multipart(rest, &cs_boundary)? {
                let (inner_mime, inner_rest) = split_head(inner)?;
                if header(&inner_mime, "Content-Type")
                    .and_then(boundary_of)
                    .is_some()
                {
                    return Err(malformed("a change set cannot contain another change set"));
                }
                if !is_http(&inner_mime) {
                    return Err(malformed(
                        "each part must have Content-Type: application/http",
                    ));
                }
                let part = parse_http_part(&inner_mime, inner_rest)?;
                if part.method == Method::GET {
                    return Err(malformed(
                        "GET requests are not allowed inside a change set",
                    ));
                }
                parts.push(part);
            }
            count += parts.len();
            items.push(Item::ChangeSet(parts));
        } else if is_http(&mime) {
            count += 1;
            items.push(Item::Single(parse_http_part(&mime, rest)?));
        } else {
            return Err(malformed(
                "each part must have Content-Type: application/http or multipart/mixed",
            ));
        }
        if count > MAX_REQUESTS {
            return Err(ApiError::odata(format!(
                "The batch contains more than {MAX_REQUESTS} requests, the maximum allowed."
            )));
        }
    }
    Ok(items)
}

fn missing_reference(reference: &str) -> ApiError {
    ApiError::odata(format!(
        "Content-ID Reference: '{reference}' does not exist in the batch context."
    ))
}

/// Replaces a leading `$n` with the URL of what request `n` created.
fn substitute(text: &str, refs: &HashMap<String, String>) -> Result<String, ApiError> {
    let Some(rest) = text.strip_prefix('$') else {
        return Ok(text.to_owned());
    };
    let digits: String = rest
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    if digits.is_empty() || digits.starts_with("batch") {
        return Ok(text.to_owned());
    }
    let url = refs
        .get(&digits)
        .ok_or_else(|| missing_reference(&format!("${digits}")))?;
    Ok(format!("{url}{}", &rest[digits.len()..]))
}

/// Builds the engine request of a part: resolves `$n` in the URL and in `@odata.bind` values.
fn to_request(part: &Part, refs: &HashMap<String, String>) -> Result<Req, ApiError> {
    let url = substitute(&part.url, refs)?;
    let path_and_query = match url.find("/api/data/") {
        Some(i) => {
            let after = &url[i + "/api/data/".len()..];
            after.split_once('/').map_or("", |(_, p)| p).to_owned()
        }
        None if url.contains("://") => {
            return Err(ApiError::odata(format!(
                "The URL '{url}' of a batch part is not under /api/data/."
            )));
        }
        None => url.trim_start_matches('/').to_owned(),
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (path_and_query, String::new()),
    };
    let mut body = part.body.clone();
    if body.contains("\"$")
        && let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&body)
    {
        for (name, value) in map.iter_mut() {
            if (name.ends_with("@odata.bind") || name == "@odata.id")
                && let Value::String(s) = value
            {
                *s = substitute(s, refs)?;
            }
        }
        body = Value::Object(map).to_string();
    }
    Ok(Req {
        method: part.method.clone(),
        path,
        query,
        headers: part.headers.clone(),
        body: Bytes::from(body),
    })
}

fn is_error(resp: &Resp) -> bool {
    resp.status.is_client_error() || resp.status.is_server_error()
}

fn write_part(out: &mut String, boundary: &str, content_id: Option<&str>, resp: &Resp) {
    let _ = write!(
        out,
        "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    );
    if let Some(id) = content_id {
        let _ = write!(out, "Content-ID: {id}\r\n");
    }
    let reason = resp.status.canonical_reason().unwrap_or("");
    let _ = write!(out, "\r\nHTTP/1.1 {} {reason}\r\n", resp.status.as_u16());
    if is_error(resp) {
        let _ = write!(out, "REQ_ID: {}\r\n", Uuid::new_v4());
    }
    for (name, value) in &resp.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("OData-Version: 4.0\r\n\r\n");
    out.push_str(&String::from_utf8_lossy(&resp.body));
    out.push_str("\r\n");
}

fn run_single(inner: &Inner, ctx: &Ctx<'_>, part: &Part) -> Resp {
    let req = match to_request(part, &HashMap::new()) {
        Ok(req) => req,
        Err(e) => return e.into(),
    };
    if engine::parse_path(&req.path).is_ok_and(|t| t == engine::Target::Batch) {
        return ApiError::odata("A $batch request cannot contain another $batch request.").into();
    }
    if req.method == Method::GET {
        engine::read(&inner.read(), ctx, &req)
    } else {
        engine::write(&mut inner.write(), ctx, &req, &mut Vec::new())
    }
}

/// Executes a `$batch` POST.
pub(crate) fn execute(inner: &Inner, ctx: &Ctx<'_>, req: &Req) -> Resp {
    match execute_inner(inner, ctx, req) {
        Ok(resp) => resp,
        Err(e) => e.into(),
    }
}

fn execute_inner(inner: &Inner, ctx: &Ctx<'_>, req: &Req) -> Result<Resp, ApiError> {
    let content_type = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = boundary_of(content_type).ok_or_else(|| {
        ApiError::odata(
            "A $batch request needs Content-Type: multipart/mixed with a boundary parameter.",
        )
    })?;
    let body = std::str::from_utf8(&req.body).map_err(|_| malformed("it is not UTF-8"))?;
    let items = parse_batch(body, &boundary)?;
    let continue_on_error = Prefer::from_headers(&req.headers).continue_on_error;

    let response_boundary = format!("batchresponse_{}", Uuid::new_v4());
    let mut out = String::new();
    let mut failed = false;
    for item in items {
        match item {
            Item::Single(part) => {
                let resp = run_single(inner, ctx, &part);
                write_part(
                    &mut out,
                    &response_boundary,
                    part.content_id.as_deref(),
                    &resp,
                );
                if is_error(&resp) {
                    failed = true;
                    if !continue_on_error {
                        break;
                    }
                }
            }
            Item::ChangeSet(parts) => {
                // The write lock is held for the whole change set, so nobody sees it half done.
                let mut store = inner.write();
                let mut undo = Vec::new();
                let mut refs: HashMap<String, String> = HashMap::new();
                let mut done: Vec<(Option<String>, Resp)> = Vec::new();
                let mut failure = None;
                for part in parts {
                    let resp = match to_request(&part, &refs) {
                        Ok(r)
                            if engine::parse_path(&r.path)
                                .is_ok_and(|t| t == engine::Target::Batch) =>
                        {
                            ApiError::odata(
                                "A $batch request cannot contain another $batch request.",
                            )
                            .into()
                        }
                        Ok(r) if engine::is_metadata_write(&r) => ApiError::bad_request(
                            crate::dataverse::error::INVALID_ARGUMENT_CODE,
                            "Metadata changes inside a change set are not emulated by this tenant emulator; send them as single requests.",
                        )
                        .into(),
                        Ok(r) => engine::write(&mut store, ctx, &r, &mut undo),
                        Err(e) => e.into(),
                    };
                    if is_error(&resp) {
                        failure = Some((part.content_id, resp));
                        break;
                    }
                    if let (Some(id), Some(url)) =
                        (&part.content_id, resp.header_value("OData-EntityId"))
                    {
                        refs.insert(id.clone(), url.to_owned());
                    }
                    done.push((part.content_id, resp));
                }
                match failure {
                    Some((content_id, resp)) => {
                        store.rollback(undo);
                        drop(store);
                        // A failed change set answers with the one failing response.
                        write_part(&mut out, &response_boundary, content_id.as_deref(), &resp);
                        failed = true;
                        if !continue_on_error {
                            break;
                        }
                    }
                    None => {
                        drop(store);
                        let cs = format!("changesetresponse_{}", Uuid::new_v4());
                        let _ = write!(
                            out,
                            "--{response_boundary}\r\nContent-Type: multipart/mixed; boundary={cs}\r\n\r\n"
                        );
                        for (content_id, resp) in &done {
                            write_part(&mut out, &cs, content_id.as_deref(), resp);
                        }
                        let _ = write!(out, "--{cs}--\r\n");
                    }
                }
            }
        }
    }
    let _ = write!(out, "--{response_boundary}--\r\n");
    let status = if failed && !continue_on_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = Resp {
        status,
        headers: vec![(
            "Content-Type".into(),
            format!("multipart/mixed; boundary={response_boundary}"),
        )],
        body: out.into_bytes(),
    };
    if continue_on_error {
        resp = resp.header("Preference-Applied", "odata.continue-on-error");
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_parameter() {
        assert_eq!(
            boundary_of("multipart/mixed; boundary=\"batch_1\"").as_deref(),
            Some("batch_1")
        );
        assert_eq!(
            boundary_of("multipart/mixed;boundary=batch_AAA123").as_deref(),
            Some("batch_AAA123")
        );
        assert_eq!(boundary_of("application/json"), None);
    }

    #[test]
    fn parses_crlf_and_lf_bodies() {
        let body = "--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET /api/data/v9.2/bots?$select=name HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_2\r\n\r\n--changeset_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nPOST bots HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{\"name\":\"a\"}\r\n--changeset_2--\r\n--batch_1--\r\n";
        for text in [body.to_owned(), body.replace("\r\n", "\n")] {
            let items = parse_batch(&text, "batch_1").unwrap();
            assert_eq!(items.len(), 2);
            let Item::Single(get) = &items[0] else {
                panic!()
            };
            assert_eq!(get.method, Method::GET);
            assert_eq!(get.body, "");
            let Item::ChangeSet(parts) = &items[1] else {
                panic!()
            };
            assert_eq!(parts[0].content_id.as_deref(), Some("1"));
            assert_eq!(parts[0].body, "{\"name\":\"a\"}");
        }
    }

    #[test]
    fn references() {
        let mut refs = HashMap::new();
        refs.insert("1".to_owned(), "http://h/api/data/v9.2/bots(x)".to_owned());
        assert_eq!(
            substitute("$1/name", &refs).unwrap(),
            "http://h/api/data/v9.2/bots(x)/name"
        );
        assert!(substitute("$2", &refs).is_err());
        assert_eq!(substitute("bots", &refs).unwrap(), "bots");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_batch_bodies_never_panic(body in "(--b\\r?\\n|Content-Type: (application/http|multipart/mixed; boundary=c)\\r?\\n|\\r?\\n|--c\\r?\\n|--c--\\r?\\n|--b--\\r?\\n|GET bots HTTP/1.1\\r?\\n|POST bots HTTP/1.1\\r?\\n|Content-Length: [0-9]{1,3}\\r?\\n|\\PC{0,10})*") {
            let _ = parse_batch(&body, "b");
        }
    }

    #[test]
    fn malformed_batches() {
        assert!(
            parse_batch(
                "--b\r\nContent-Type: application/http\r\n\r\nGET bots HTTP/1.1\r\n",
                "b"
            )
            .is_err()
        );
        let nested_get = "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: application/http\r\n\r\nGET bots HTTP/1.1\r\n\r\n--c--\r\n--b--\r\n";
        assert!(parse_batch(nested_get, "b").is_err());
    }
}

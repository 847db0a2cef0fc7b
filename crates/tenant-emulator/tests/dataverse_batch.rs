//! `$batch` over plain HTTP: change sets are atomic, `Content-ID` references, stop at the first
//! failure (outer 400, multipart body) or continue with `Prefer: odata.continue-on-error`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dataverse_common;

use dataverse_common::{Reply, Server, column, guid, start_default};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One response part: its status line and JSON body (if any), after the MIME headers.
#[derive(Debug)]
struct PartReply {
    status: u16,
    content_id: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

/// Parses a batch response body (flattening change sets).
fn parse_response(reply: &Reply) -> Vec<PartReply> {
    let content_type = reply.header("content-type").unwrap();
    let boundary = content_type.split("boundary=").nth(1).unwrap().to_owned();
    assert!(boundary.starts_with("batchresponse_"), "{boundary}");
    parse_parts(&reply.text, &boundary)
}

fn parse_parts(text: &str, boundary: &str) -> Vec<PartReply> {
    let delimiter = format!("--{boundary}");
    assert!(
        text.trim_end().ends_with(&format!("{delimiter}--")),
        "not closed: {text}"
    );
    let mut out = Vec::new();
    for chunk in text.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let (mime, rest) = chunk
            .trim_start_matches("\r\n")
            .split_once("\r\n\r\n")
            .unwrap();
        if let Some(cs) = mime.split("boundary=").nth(1) {
            assert!(cs.starts_with("changesetresponse_"));
            out.extend(parse_parts(rest, cs.trim()));
            continue;
        }
        assert!(mime.contains("Content-Type: application/http"));
        assert!(mime.contains("Content-Transfer-Encoding: binary"));
        let content_id = mime
            .lines()
            .find_map(|l| l.strip_prefix("Content-ID: "))
            .map(str::to_owned);
        let (head, body) = rest.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let body = body.trim();
        out.push(PartReply {
            status,
            content_id,
            headers,
            body: (!body.is_empty()).then(|| serde_json::from_str(body).unwrap()),
        });
    }
    out
}

fn header<'a>(part: &'a PartReply, name: &str) -> Option<&'a str> {
    part.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn batch(server: &Server, body: &str, prefer: Option<&str>) -> Reply {
    let mut headers = vec![("Content-Type", "multipart/mixed; boundary=\"batch_abc\"")];
    if let Some(p) = prefer {
        headers.push(("Prefer", p));
    }
    server
        .send(Method::POST, "$batch", &headers, Some(body.to_owned()))
        .await
}

fn single(method: &str, url: &str, body: Option<&Value>) -> String {
    let mut part = format!(
        "--batch_abc\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{method} {url} HTTP/1.1\r\n"
    );
    match body {
        Some(b) => {
            let text = b.to_string();
            part.push_str(&format!(
                "Content-Type: application/json; type=entry\r\nContent-Length: {}\r\n\r\n{text}\r\n",
                text.len()
            ));
        }
        None => part.push_str("\r\n\r\n"),
    }
    part
}

fn change_set(id: &str, requests: &[(&str, String, Value)]) -> String {
    let mut out =
        format!("--batch_abc\r\nContent-Type: multipart/mixed; boundary=changeset_{id}\r\n\r\n");
    for (i, (method, url, body)) in requests.iter().enumerate() {
        let text = body.to_string();
        out.push_str(&format!(
            "--changeset_{id}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{method} {url} HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{text}\r\n",
            i + 1
        ));
    }
    out.push_str(&format!("--changeset_{id}--\r\n"));
    out
}

/// A change set whose third request fails (an unknown column), between two good requests.
fn failing_batch(server: &Server) -> String {
    let mut body = single(
        "POST",
        "/api/data/v9.2/bots",
        Some(&json!({"name": "before"})),
    );
    body.push_str(&change_set(
        "x1",
        &[
            (
                "POST",
                format!("{}/bots", server.base),
                json!({"botid": guid(1), "name": "cs one"}),
            ),
            ("PATCH", "$1".to_owned(), json!({"name": "cs one renamed"})),
            (
                "POST",
                "bots".to_owned(),
                json!({"name": "bad", "nosuchcolumn": 1}),
            ),
        ],
    ));
    body.push_str(&single("POST", "bots", Some(&json!({"name": "after"}))));
    body.push_str("--batch_abc--\r\n");
    body
}

async fn bot_names(server: &Server) -> Vec<String> {
    let body = server
        .get("bots?$select=name&$orderby=name", &[])
        .await
        .json();
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn change_set_with_references_succeeds_in_the_documented_shape() {
    let server = start_default().await;
    let mut body = change_set(
        "ok",
        &[
            ("POST", "bots".to_owned(), json!({"name": "Parent"})),
            (
                "POST",
                "botcomponents".to_owned(),
                json!({"name": "Child", "parentbotid@odata.bind": "$1"}),
            ),
            ("PATCH", "$1".to_owned(), json!({"schemaname": "cr_parent"})),
            (
                "POST",
                "$1/bot_botcomponent/$ref".to_owned(),
                json!({"@odata.id": "$2"}),
            ),
        ],
    );
    body.push_str(&single(
        "GET",
        "/api/data/v9.2/botcomponents?$select=name,_parentbotid_value",
        None,
    ));
    body.push_str("--batch_abc--\r\n");
    // LF line ends are tolerated too.
    for text in [body.clone(), body.replace("\r\n", "\n")] {
        let reply = batch(&server, &text, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(reply.text.contains("HTTP/1.1 204 No Content\r\n"));
        let parts = parse_response(&reply);
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[3].status, 204);
        assert_eq!(parts[3].content_id.as_deref(), Some("4"));
        assert_eq!(parts[0].status, 204);
        assert_eq!(parts[0].content_id.as_deref(), Some("1"));
        let parent = header(&parts[0], "OData-EntityId").unwrap();
        assert!(parent.starts_with(&format!("{}/bots(", server.base)));
        assert_eq!(header(&parts[2], "OData-EntityId"), Some(parent));
        let listing = parts[4].body.as_ref().unwrap();
        let parent_id = parent.trim_end_matches(')').rsplit('(').next().unwrap();
        assert!(
            listing["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["_parentbotid_value"] == parent_id)
        );
        let linked = server
            .get(
                &format!("bots({parent_id})/bot_botcomponent?$select=name"),
                &[],
            )
            .await
            .json();
        assert!(column(&linked, "name").contains(&json!("Child")));
    }
}

#[tokio::test]
async fn failing_change_set_rolls_back_and_stops_without_continue_on_error() {
    let server = start_default().await;
    let reply = batch(&server, &failing_batch(&server), None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let parts = parse_response(&reply);
    // The first request, then the change set's single failing response; nothing after.
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].status, 204);
    assert_eq!(parts[1].status, 400);
    assert_eq!(parts[1].content_id.as_deref(), Some("3"));
    assert!(header(&parts[1], "REQ_ID").is_some());
    let error = &parts[1].body.as_ref().unwrap()["error"];
    assert!(error["message"].as_str().unwrap().contains("nosuchcolumn"));
    // The change set left nothing behind; the request after it never ran.
    assert_eq!(bot_names(&server).await, ["before"]);
    assert_eq!(
        server.get(&format!("bots({})", guid(1)), &[]).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn failing_change_set_rolls_back_and_continues_with_continue_on_error() {
    let server = start_default().await;
    let reply = batch(
        &server,
        &failing_batch(&server),
        Some("odata.continue-on-error"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("Preference-Applied"),
        Some("odata.continue-on-error")
    );
    let parts = parse_response(&reply);
    let statuses: Vec<u16> = parts.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [204, 400, 204]);
    assert_eq!(bot_names(&server).await, ["after", "before"]);
}

#[tokio::test]
async fn malformed_and_oversized_batches_are_refused() {
    let server = start_default().await;
    // Not multipart.
    let reply = server
        .send(
            Method::POST,
            "$batch",
            &[("Content-Type", "application/json")],
            Some("{}".into()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    reply.error();
    // No closing delimiter.
    let open = single("GET", "bots", None);
    assert_eq!(
        batch(&server, &open, None).await.status,
        StatusCode::BAD_REQUEST
    );
    // GET inside a change set.
    let mut get_in_cs = "--batch_abc\r\nContent-Type: multipart/mixed; boundary=changeset_g\r\n\r\n--changeset_g\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nGET bots HTTP/1.1\r\n\r\n\r\n--changeset_g--\r\n".to_owned();
    get_in_cs.push_str("--batch_abc--\r\n");
    assert_eq!(
        batch(&server, &get_in_cs, None).await.status,
        StatusCode::BAD_REQUEST
    );
    // 1001 requests.
    let mut many = String::new();
    for _ in 0..1001 {
        many.push_str(&single("GET", "WhoAmI", None));
    }
    many.push_str("--batch_abc--\r\n");
    let too_many = batch(&server, &many, None).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert!(too_many.error().1.contains("1000"));
    // Exactly 1000 is fine.
    let mut thousand = String::new();
    for _ in 0..1000 {
        thousand.push_str(&single("GET", "WhoAmI", None));
    }
    thousand.push_str("--batch_abc--\r\n");
    let ok = batch(&server, &thousand, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(parse_response(&ok).len(), 1000);
    // A nested $batch fails as a part; a reference to an undeclared Content-ID too.
    let mut nested = single("POST", "$batch", Some(&json!({})));
    nested.push_str("--batch_abc--\r\n");
    let reply = batch(&server, &nested, None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(parse_response(&reply)[0].status, 400);
    let mut dangling = change_set("d", &[("PATCH", "$7".to_owned(), json!({"name": "x"}))]);
    dangling.push_str("--batch_abc--\r\n");
    let reply = batch(&server, &dangling, None).await;
    let parts = parse_response(&reply);
    assert_eq!(
        parts[0].body.as_ref().unwrap()["error"]["message"],
        "Content-ID Reference: '$7' does not exist in the batch context."
    );
    // GET on $batch is not allowed.
    assert_eq!(
        server.get("$batch", &[]).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

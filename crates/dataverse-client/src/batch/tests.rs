//! Tests of the batch writer, reader and matching, with a test-only request reader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::multipart::*;
use super::result::*;
use super::*;
use crate::operation::ContentId;
use http::StatusCode;
use proptest::prelude::*;
use serde_json::Value;

/// Reads a request body written by [`write_batch`] (or any client following the format)
/// back into items; `api_path` is stripped from request lines.
#[cfg(test)]
fn parse_request(body: &str, boundary: &str, api_path: &str) -> Result<Vec<Item>, String> {
    let read_op = |part: &MimePart<'_>| -> Result<Operation, String> {
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
        let mut op = Operation::new(method, target);
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

const API: &str = "/api/data/v9.2/";

#[test]
fn writes_the_documented_format() {
    let mut b = Batch::new();
    b.get("bots", &Key::id(Uuid::nil()), &["name"]);
    let mut cs = b.change_set();
    let a = cs.create("accounts", serde_json::json!({"name": "a"}));
    cs.push(
        Operation::new(
            Method::POST,
            &format!("{}/contact_customer_accounts/$ref", a.reference()),
        )
        .json(serde_json::json!({"@odata.id": "contacts(00000000-0000-0000-0000-000000000001)"})),
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
    b.change_set().push(Operation::new(Method::GET, "bots"));
    assert!(b.check().is_err());
    let mut b = Batch::new();
    b.push(Operation::new(Method::GET, "bots x"));
    assert!(b.check().is_err());
    let mut b = Batch::new();
    b.push(Operation::new(Method::GET, "bots").header("X", "a\r\nInjected: 1"));
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

fn arb_op() -> impl Strategy<Value = Operation> {
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
            let mut op = Operation::new(method, &target);
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

//! The shared scenarios (`tests/scenarios/mod.rs`) against httpmock. The tenant emulator runs
//! the same scenarios end to end (`crates/tenant-emulator/tests/client_scenarios.rs`); here
//! each mock is written from the documented wire format and checks what the client sends.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod scenarios;

use common::{client_for, clock, first, raw_uri};
use dataverse_client::BatchMode;
use httpmock::prelude::*;
use scenarios::{NAME, PK, SET, row_id};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const API: &str = "/api/data/v9.2";

/// Seeded rows projected to the id and name, in id order (the order without `$orderby`).
fn id_name_rows() -> Vec<Value> {
    scenarios::seed_rows()
        .iter()
        .map(|r| json!({"@odata.etag": "W/\"100\"", PK: r[PK], NAME: r[NAME]}))
        .collect()
}

fn by_name(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| id_name_rows().into_iter().find(|r| r[NAME] == *n).unwrap())
        .collect()
}

#[tokio::test]
async fn paging() {
    let server = MockServer::start_async().await;
    let prefer = "odata.maxpagesize=3,odata.include-annotations=\"*\"";
    // Next links carry an encoded paging cookie and are followed verbatim.
    let next = |page: u32, last: &str| {
        format!(
            "{API}/{SET}?$select={PK},{NAME}&$orderby=cr_name%20asc&$skiptoken=%3Ccookie%20pagenumber=%22{page}%22%20pagingcookie=%22%253ccookie%2520page%253d%2522{}%2522%253e%253ccr_name%2520last%253d%2522{last}%2522%2520%252f%253e%253c%252fcookie%253e%22%20istracking=%22False%22%20/%3E",
            page - 1
        )
    };
    let (p2, p3) = (next(2, "charlie"), next(3, "foxtrot"));
    let m3 = server
        .mock_async(|when, then| {
            when.method(GET)
                .header("prefer", prefer)
                .is_true(raw_uri(p3.clone()));
            then.status(200)
                .header("Preference-Applied", prefer)
                .json_body(json!({"value": by_name(&["golf", "hotel"])}));
        })
        .await;
    let m2 = server
        .mock_async(|when, then| {
            when.method(GET)
                .header("prefer", prefer)
                .is_true(raw_uri(p2.clone()));
            then.status(200)
                .header("Preference-Applied", prefer)
                .json_body(json!({
                    "value": by_name(&["delta", "echo", "foxtrot"]),
                    "@odata.nextLink": server.url(&p3),
                }));
        })
        .await;
    let m1 = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param("$select", format!("{PK},{NAME}"))
                .query_param("$orderby", "cr_name asc")
                .query_param_missing("$skiptoken")
                .header("prefer", prefer)
                .header("accept", "application/json")
                .header("odata-version", "4.0")
                .header("odata-maxversion", "4.0")
                .header("authorization", "Bearer test-token");
            then.status(200).header("Preference-Applied", prefer).json_body(json!({
                "@odata.context": format!("{}{API}/$metadata#{SET}({PK},{NAME})", server.base_url()),
                "value": by_name(&["alpha", "bravo", "charlie"]),
                "@odata.nextLink": server.url(&p2),
            }));
        })
        .await;
    let c = clock();
    scenarios::paging(&client_for(&server.base_url(), &c)).await;
    for m in [m1, m2, m3] {
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn filter_literals() {
    let server = MockServer::start_async().await;
    let typed = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param("$filter", scenarios::LITERAL_FILTER_ODATA);
            then.status(200)
                .json_body(json!({"value": by_name(&["hotel"])}));
        })
        .await;
    let doubled = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param("$filter", "cr_environment eq 'it''''s prod'")
                .is_true(|req: &HttpMockRequest| {
                    // On the wire every quote is percent-encoded: none can end the literal.
                    let uri = req.uri_str();
                    !uri.contains('\'') && uri.contains("%27it%27%27%27%27s%20prod%27")
                });
            then.status(200)
                .json_body(json!({"value": by_name(&["bravo"])}));
        })
        .await;
    let c = clock();
    scenarios::filter_literals(&client_for(&server.base_url(), &c)).await;
    typed.assert_calls_async(1).await;
    doubled.assert_calls_async(1).await;
}

fn delta_link(base: &str, token: &str) -> String {
    format!("{base}{API}/{SET}?$select={PK},{NAME}&$deltatoken={token}")
}

#[tokio::test]
async fn delta_cycle() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let (d1, d2, d3) = (
        "1001%2103%2f01%2f2026%2012%3a00%3a00",
        "1004%2103%2f01%2f2026%2012%3a00%3a05",
        "1004%2103%2f01%2f2026%2012%3a00%3a09",
    );
    let context = format!("{base}{API}/$metadata#{SET}({PK},{NAME})");
    let initial = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param("$select", format!("{PK},{NAME}"))
                .query_param_missing("$deltatoken")
                .header("prefer", "odata.track-changes");
            then.status(200)
                .header("Preference-Applied", "odata.track-changes")
                .json_body(json!({
                    "@odata.context": context,
                    "value": id_name_rows(),
                    "@odata.deltaLink": delta_link(&base, d1),
                }));
        })
        .await;
    let entity = |id: uuid::Uuid| format!("{base}{API}/{SET}({id})");
    let rename = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(format!("{API}/{SET}({})", row_id(1)))
                .header_missing("if-match")
                .header_missing("if-none-match")
                .json_body(json!({NAME: "hotel (renamed)"}));
            then.status(204).header("OData-EntityId", entity(row_id(1)));
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(format!("{API}/{SET}({})", scenarios::delta_new_id()))
                .header_missing("if-match")
                .header_missing("if-none-match")
                .json_body(json!({NAME: "india", "cr_revision": 9}));
            then.status(204)
                .header("OData-EntityId", entity(scenarios::delta_new_id()));
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path(format!("{API}/{SET}({})", row_id(2)));
            then.status(204);
        })
        .await;
    let changes = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_uri(delta_link("", d1)))
                .header("prefer", "odata.track-changes");
            then.status(200).json_body(json!({
                "@odata.context": format!("{context}/$delta"),
                "value": [
                    {"@odata.etag": "W/\"1002\"", PK: row_id(1), NAME: "hotel (renamed)"},
                    {"@odata.etag": "W/\"1003\"", PK: scenarios::delta_new_id(), NAME: "india"},
                    {"@odata.context": format!("{base}{API}/$metadata#{SET}/$deletedEntity"), "id": row_id(2), "reason": "deleted"},
                ],
                "@odata.deltaLink": delta_link(&base, d2),
            }));
        })
        .await;
    let empty = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_uri(delta_link("", d2)))
                .header("prefer", "odata.track-changes");
            then.status(200).json_body(json!({
                "@odata.context": format!("{context}/$delta"),
                "value": [],
                "@odata.deltaLink": delta_link(&base, d3),
            }));
        })
        .await;
    let c = clock();
    scenarios::delta_cycle(&client_for(&base, &c)).await;
    for m in [initial, rename, create, delete, changes, empty] {
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn expired_delta_token() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let initial = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param_missing("$deltatoken")
                .header("prefer", "odata.track-changes");
            then.status(200).json_body(json!({
                "value": id_name_rows(),
                "@odata.deltaLink": delta_link(&base, "77"),
            }));
        })
        .await;
    let expired = server
        .mock_async(|when, then| {
            when.method(GET).is_true(raw_uri(delta_link("", "77")));
            then.status(400).json_body(json!({"error": {
                "code": "0x80044352",
                "message": "Version stamp associated with the client has expired. Please perform a full sync.",
            }}));
        })
        .await;
    let c = clock();
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let err = scenarios::expired_delta_token(&client_for(&base, &c), move || {
        flag.store(true, Ordering::SeqCst);
    })
    .await;
    assert!(called.load(Ordering::SeqCst));
    assert_eq!(err.service_code(), Some("0x80044352"));
    initial.assert_calls_async(2).await;
    expired.assert_calls_async(1).await;
    assert!(c.sleeps().is_empty(), "an expired token is not retried");
}

#[tokio::test]
async fn upsert_alternate_key() {
    let server = MockServer::start_async().await;
    let id = uuid::Uuid::from_u128(0xaa);
    let entity_id = format!("{}{API}/{SET}({id})", server.base_url());
    let row = |env: &str, etag: &str| json!({"@odata.etag": etag, PK: id, "cr_name": "O'Brien & Sons/EU", "cr_revision": 42, "cr_environment": env});
    let key_path = format!("{API}/{}", scenarios::QUOTED_KEY_PATH);
    let created = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .is_true(raw_uri(key_path.clone()))
                .header("prefer", "return=representation")
                .header("content-type", "application/json")
                .header_missing("if-match")
                .header_missing("if-none-match")
                .json_body(json!({"cr_environment": "it's staging"}));
            then.status(201)
                .header("OData-EntityId", &entity_id)
                .header("Preference-Applied", "return=representation")
                .json_body(row("it's staging", "W/\"1\""));
        })
        .await;
    let updated = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .is_true(raw_uri(key_path.clone()))
                .header("prefer", "return=representation")
                .header_missing("if-match")
                .header_missing("if-none-match")
                .json_body(json!({"cr_environment": "prod"}));
            then.status(200)
                .header("OData-EntityId", &entity_id)
                .json_body(row("prod", "W/\"2\""));
        })
        .await;
    let read = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_uri(format!("{key_path}?$select={PK},cr_environment")));
            then.status(200).json_body(row("prod", "W/\"2\""));
        })
        .await;
    let c = clock();
    assert_eq!(
        scenarios::upsert_alternate_key(&client_for(&server.base_url(), &c)).await,
        id
    );
    for m in [created, updated, read] {
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn create_only_and_update_only() {
    let server = MockServer::start_async().await;
    let existing = format!("{API}/{SET}(cr_name='alpha',cr_revision=1)");
    let absent = format!("{API}/{SET}(cr_name='zulu',cr_revision=26)");
    let exists = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .is_true(raw_uri(existing.clone()))
                .header("if-none-match", "*")
                .header_missing("if-match");
            then.status(412).json_body(json!({"error": {"code": "0x80060892", "message": "A record with matching key values already exists."}}));
        })
        .await;
    let missing = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .is_true(raw_uri(absent.clone()))
                .header("if-match", "*")
                .header_missing("if-none-match");
            then.status(404).json_body(json!({"error": {"code": "0x80040217", "message": "A record with the specified key values does not exist in cr_inventory entity"}}));
        })
        .await;
    let update = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .is_true(raw_uri(existing.clone()))
                .header("if-match", "*");
            then.status(204);
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .is_true(raw_uri(absent.clone()))
                .header("if-none-match", "*");
            then.status(204);
        })
        .await;
    let c = clock();
    scenarios::create_only_and_update_only(&client_for(&server.base_url(), &c)).await;
    for m in [exists, missing, update, create] {
        m.assert_calls_async(1).await;
    }
    assert!(c.sleeps().is_empty(), "412 and 404 are not retried");
}

const QUERY_PART: &str = "--batchresponse_q1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
    HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\nOData-Version: 4.0\r\n\r\n";

fn failing_part(boundary: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
         HTTP/1.1 404 Not Found\r\nREQ_ID: 9d1e\r\nContent-Type: application/json; odata.metadata=minimal\r\nOData-Version: 4.0\r\n\r\n\
         {{\"error\":{{\"code\":\"0x80040217\",\"message\":\"cr_inventory With Id = {} Does Not Exist\"}}}}\r\n",
        scenarios::missing_id()
    )
}

fn alpha_page() -> String {
    json!({"value": by_name(&["alpha"])}).to_string()
}

/// What the client must send for [`scenarios::failing_batch`].
fn batch_request(when: httpmock::When) -> httpmock::When {
    when.method(POST)
        .path(format!("{API}/$batch"))
        .header_includes("content-type", "multipart/mixed; boundary=\"batch_")
        .body_includes(format!(
            "GET {API}/{SET}?$select={PK},{NAME}&$filter=cr_name%20eq%20%27alpha%27 HTTP/1.1"
        ))
        .body_includes("Content-Type: multipart/mixed; boundary=\"changeset_")
        .body_includes(format!("POST {API}/{SET} HTTP/1.1"))
        .body_includes("Content-ID: 1")
        .body_includes(format!(
            "PATCH {API}/{SET}({}) HTTP/1.1",
            scenarios::missing_id()
        ))
        .body_includes("If-Match: *")
        .body_includes("Content-ID: 2")
        .body_includes(format!("DELETE {API}/{SET}({}) HTTP/1.1", row_id(3)))
}

fn assert_failed_part_details(results: &[dataverse_client::BatchResult]) {
    let e = results[2].error().unwrap();
    assert_eq!(e.service_code(), Some("0x80040217"));
    assert_eq!(e.request_id(), Some("9d1e"));
}

#[tokio::test]
async fn batch_with_a_failing_change_set_stops_by_default() {
    let server = MockServer::start_async().await;
    // Outer 400; the change set answers with its failing part (nested); nothing after it.
    let body = format!(
        "{}{}\r\n--batchresponse_q1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_c2\r\n\r\n{}--changesetresponse_c2--\r\n--batchresponse_q1--\r\n",
        QUERY_PART,
        alpha_page(),
        failing_part("changesetresponse_c2"),
    );
    let m = server
        .mock_async(|when, then| {
            batch_request(when).header_missing("prefer");
            then.status(400)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_q1")
                .body(body);
        })
        .await;
    let c = clock();
    let results = scenarios::batch_with_failing_change_set(
        &client_for(&server.base_url(), &c),
        BatchMode::StopOnError,
    )
    .await;
    assert_failed_part_details(&results);
    m.assert_async().await;
}

#[tokio::test]
async fn batch_with_a_failing_change_set_continues_on_error() {
    let server = MockServer::start_async().await;
    // Outer 200; every part answers, the failed change set as its failing part alone.
    let body = format!(
        "{}{}\r\n{}--batchresponse_q1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n\r\n\r\n--batchresponse_q1--\r\n",
        QUERY_PART,
        alpha_page(),
        failing_part("batchresponse_q1"),
    );
    let m = server
        .mock_async(|when, then| {
            batch_request(when).header("prefer", "odata.continue-on-error");
            then.status(200)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_q1")
                .header("Preference-Applied", "odata.continue-on-error")
                .body(body);
        })
        .await;
    let c = clock();
    let results = scenarios::batch_with_failing_change_set(
        &client_for(&server.base_url(), &c),
        BatchMode::ContinueOnError,
    )
    .await;
    assert_failed_part_details(&results);
    m.assert_async().await;
}

#[tokio::test]
async fn who_am_i() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/WhoAmI"));
            then.status(200).json_body(json!({
                "@odata.context": format!("{}{API}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", server.base_url()),
                "BusinessUnitId": "00000000-0000-0000-0000-000000000001",
                "UserId": "00000000-0000-0000-0000-000000000002",
                "OrganizationId": "00000000-0000-0000-0000-000000000003",
            }));
        })
        .await;
    let c = clock();
    let me = scenarios::who_am_i(&client_for(&server.base_url(), &c)).await;
    assert_eq!(me.user_id.as_u128(), 2);
    assert_eq!(me.business_unit_id.as_u128(), 1);
    assert_eq!(me.organization_id.as_u128(), 3);
    m.assert_async().await;
}

#[tokio::test]
async fn component_types() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path(format!(
                "{API}/GlobalOptionSetDefinitions(Name='botcomponent_componenttype')"
            ));
            then.status(200).json_body(json!({
                "@odata.type": "#Microsoft.Dynamics.CRM.OptionSetMetadata",
                "Name": "botcomponent_componenttype",
                "Options": [
                    {"Value": 0, "Label": {
                        "LocalizedLabels": [{"Label": "Topic", "LanguageCode": 1033}],
                        "UserLocalizedLabel": {"Label": "Topic", "LanguageCode": 1033}}},
                    {"Value": 9, "Label": {
                        "LocalizedLabels": [{"Label": "Topic (V2)", "LanguageCode": 1033}, {"Label": "Thème (V2)", "LanguageCode": 1036}],
                        "UserLocalizedLabel": null}},
                ]
            }));
        })
        .await;
    let c = clock();
    let set = scenarios::component_types(&client_for(&server.base_url(), &c)).await;
    assert_eq!(set.options.len(), 2);
    m.assert_async().await;
}

#[tokio::test]
async fn forbidden_read() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/{SET}"));
            then.status(403)
                .header("x-ms-service-request-id", "req-403")
                .json_body(json!({"error": {"code": "0x80040220", "message": "Principal user (Id=2f4c, type=8, roleCount=1, privilegeCount=7, accessMode=4), is missing prvReadcr_inventory privilege on OTC=10234 for entity 'cr_inventory'."}}));
        })
        .await;
    let c = clock();
    let err = scenarios::forbidden_read(&client_for(&server.base_url(), &c)).await;
    assert_eq!(err.service_code(), Some("0x80040220"));
    assert_eq!(err.request_id(), Some("req-403"));
    m.assert_calls_async(1).await;
    assert!(c.sleeps().is_empty());
}

#[tokio::test]
async fn throttled_then_success() {
    let server = MockServer::start_async().await;
    let throttled = server
        .mock_async(|when, then| {
            when.path(format!("{API}/WhoAmI")).is_true(first(1));
            then.status(429).header("Retry-After", "1").json_body(json!({
                "error": {"code": "-2147015902", "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}
            }));
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.path(format!("{API}/WhoAmI"));
            then.status(200).json_body(json!({
                "BusinessUnitId": "00000000-0000-0000-0000-000000000001",
                "UserId": "00000000-0000-0000-0000-000000000002",
                "OrganizationId": "00000000-0000-0000-0000-000000000003",
            }));
        })
        .await;
    let c = clock();
    scenarios::throttled_then_success(
        &client_for(&server.base_url(), &c),
        &c,
        2,
        Duration::from_secs(1),
    )
    .await;
    throttled.assert_calls_async(1).await;
    ok.assert_calls_async(2).await;
}

#[tokio::test]
async fn top_and_count() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let rows = |names: &[&str]| json!(by_name(names));
    let top_only = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param("$top", "4")
                .query_param("$orderby", "cr_name asc")
                .header_missing("prefer");
            then.status(200)
                .json_body(json!({"value": rows(&["alpha", "bravo", "charlie", "delta"])}));
        })
        .await;
    // Next to maxpagesize the service ignores $top: pages go on, the client stops at 4 rows.
    let p2 = format!("{API}/{SET}?$select={PK},{NAME}&$orderby=cr_name%20asc&$top=4&$skiptoken=2");
    let p3 = format!("{API}/{SET}?$select={PK},{NAME}&$orderby=cr_name%20asc&$top=4&$skiptoken=3");
    let top_paged_3 = server
        .mock_async(|when, then| {
            when.method(GET).is_true(raw_uri(p3.clone()));
            then.status(200)
                .json_body(json!({"value": rows(&["golf", "hotel"])}));
        })
        .await;
    let top_paged_2 = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_uri(p2.clone()))
                .header("prefer", "odata.maxpagesize=3");
            then.status(200).json_body(json!({
                "value": rows(&["delta", "echo", "foxtrot"]),
                "@odata.nextLink": format!("{base}{p3}"),
            }));
        })
        .await;
    let top_paged = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param("$top", "4")
                .query_param_missing("$skiptoken")
                .header("prefer", "odata.maxpagesize=3");
            then.status(200).json_body(json!({
                "value": rows(&["alpha", "bravo", "charlie"]),
                "@odata.nextLink": format!("{base}{p2}"),
            }));
        })
        .await;
    let counted = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}"))
                .query_param("$count", "true")
                .query_param_missing("$top")
                .header("prefer", "odata.maxpagesize=3");
            then.status(200).json_body(json!({
                "@odata.count": 8,
                "value": rows(&["alpha", "bravo", "charlie"]),
                "@odata.nextLink": format!("{base}{API}/{SET}?$count=true&$skiptoken=2"),
            }));
        })
        .await;
    let c = clock();
    scenarios::top_and_count(&client_for(&base, &c)).await;
    for m in [top_only, top_paged, top_paged_2, counted] {
        m.assert_calls_async(1).await;
    }
    top_paged_3.assert_calls_async(0).await;
}

#[tokio::test]
async fn optimistic_concurrency() {
    let server = MockServer::start_async().await;
    let row4 = format!("{API}/{SET}({})", row_id(4));
    let read = server
        .mock_async(|when, then| {
            when.method(GET).path(&row4).query_param("$select", NAME);
            then.status(200)
                .json_body(json!({"@odata.etag": "W/\"200\"", PK: row_id(4), NAME: "echo"}));
        })
        .await;
    let matched = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(&row4)
                .header("if-match", "W/\"200\"")
                .json_body(json!({"cr_revision": 6}));
            then.status(204).header("ETag", "W/\"201\"");
        })
        .await;
    let stale = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(&row4)
                .header("if-match", "W/\"200\"")
                .json_body(json!({"cr_revision": 7}));
            then.status(412).json_body(json!({"error": {"code": "0x80060882", "message": "The version of the existing record doesn't match the RowVersion property provided."}}));
        })
        .await;
    let reread = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(&row4)
                .query_param("$select", "cr_revision");
            then.status(200)
                .json_body(json!({"@odata.etag": "W/\"201\"", PK: row_id(4), "cr_revision": 6}));
        })
        .await;
    let c = clock();
    scenarios::optimistic_concurrency(&client_for(&server.base_url(), &c)).await;
    for m in [read, matched, stale, reread] {
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn missing_row_and_unknown_set() {
    let server = MockServer::start_async().await;
    let missing = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}({})", scenarios::missing_id()));
            then.status(404).json_body(json!({"error": {"code": "0x80040217", "message": format!("cr_inventory With Id = {} Does Not Exist", scenarios::missing_id())}}));
        })
        .await;
    let unknown = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/cr_inventoriez({})", row_id(1)));
            then.status(404).json_body(json!({"error": {"code": "0x80060888", "message": "Resource not found for the segment 'cr_inventoriez'."}}));
        })
        .await;
    let c = clock();
    scenarios::missing_row_and_unknown_set(&client_for(&server.base_url(), &c)).await;
    missing.assert_calls_async(1).await;
    unknown.assert_calls_async(1).await;
}

#[tokio::test]
async fn table_metadata() {
    let server = MockServer::start_async().await;
    let entity = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!(
                    "{API}/EntityDefinitions(LogicalName='cr_inventory')"
                ))
                .query_param_exists("$select");
            then.status(200).json_body(json!({
                "LogicalName": "cr_inventory", "SchemaName": "cr_Inventory", "EntitySetName": SET,
                "PrimaryIdAttribute": PK, "PrimaryNameAttribute": NAME,
                "ChangeTrackingEnabled": true, "IsIntersect": false,
                "MetadataId": "00000000-0000-0000-0000-000000000001"
            }));
        })
        .await;
    let attributes = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!(
                    "{API}/EntityDefinitions(LogicalName='cr_inventory')/Attributes"
                ))
                .query_param_exists("$select");
            then.status(200).json_body(json!({"value": [
                {"LogicalName": PK, "AttributeType": "Uniqueidentifier", "IsPrimaryId": true},
                {"LogicalName": NAME, "AttributeType": "String", "IsPrimaryId": false},
                {"LogicalName": "cr_revision", "AttributeType": "Integer", "IsPrimaryId": false},
                {"LogicalName": "cr_active", "AttributeType": "Boolean", "IsPrimaryId": false},
                {"LogicalName": "cr_lastseen", "AttributeType": "DateTime", "IsPrimaryId": false},
            ]}));
        })
        .await;
    let c = clock();
    scenarios::table_metadata(&client_for(&server.base_url(), &c)).await;
    entity.assert_calls_async(2).await;
    attributes.assert_calls_async(1).await;
}

#[tokio::test]
async fn change_set_with_a_reference() {
    let server = MockServer::start_async().await;
    let id = uuid::Uuid::from_u128(0x1111);
    let entity_id = format!("{}{API}/{SET}({id})", server.base_url());
    let body = format!(
        "--batchresponse_r1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_r2\r\n\r\n\
         --changesetresponse_r2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
         HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nLocation: {entity_id}\r\nOData-EntityId: {entity_id}\r\n\r\n\r\n\
         --changesetresponse_r2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
         HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nOData-EntityId: {entity_id}\r\n\r\n\r\n\
         --changesetresponse_r2--\r\n--batchresponse_r1--\r\n"
    );
    let batch = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{API}/$batch"))
                .header_missing("prefer")
                .body_includes(format!("POST {API}/{SET} HTTP/1.1"))
                .body_includes("Content-ID: 1")
                .body_includes("PATCH $1 HTTP/1.1")
                .body_includes("Content-ID: 2")
                .body_includes("{\"cr_environment\":\"set through $1\"}");
            then.status(200)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_r1")
                .body(body);
        })
        .await;
    let read = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/{SET}({id})"))
                .query_param("$select", "cr_name,cr_environment");
            then.status(200)
                .json_body(json!({PK: id, NAME: "lima", "cr_environment": "set through $1"}));
        })
        .await;
    let c = clock();
    assert_eq!(
        scenarios::change_set_with_a_reference(&client_for(&server.base_url(), &c)).await,
        id
    );
    batch.assert_async().await;
    read.assert_async().await;
}

//! `$batch` against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{client_for, clock};
use dataverse_client::{
    Batch, BatchMode, BatchOutcome, BatchResult, DataverseClient, Error, Key, Query,
};
use httpmock::prelude::*;
use serde_json::json;
use uuid::Uuid;

const API: &str = "/api/data/v9.2";

/// A read, a change set (create an account, then a contact bound to it with `$1`), a delete.
fn sample_batch() -> Batch {
    let mut batch = Batch::new();
    batch.query(&Query::new("bots").select(["name"]));
    let mut cs = batch.change_set();
    let account = cs.create("accounts", json!({"name": "Contoso"}));
    cs.create(
        "contacts",
        json!({"lastname": "Smith", "parentcustomerid_account@odata.bind": account.reference()}),
    );
    batch.delete("bots", &Key::id(Uuid::from_u128(9)));
    batch
}

async fn scenario_batch(client: &DataverseClient, mode: BatchMode) -> Vec<BatchResult> {
    client.batch(sample_batch(), mode).await.unwrap()
}

const FAILING_CONTACT: &str = "HTTP/1.1 400 Bad Request\r\nREQ_ID: 5f2c\r\nContent-Type: application/json; odata.metadata=minimal\r\nOData-Version: 4.0\r\n\r\n{\"error\":{\"code\":\"0x80040203\",\"message\":\"lastname is too long\"}}";

fn assert_failed_contact(r: &BatchResult) {
    let e = r.error().unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.service_code(), Some("0x80040203"));
    assert_eq!(e.service_message(), Some("lastname is too long"));
    assert_eq!(e.request_id(), Some("5f2c"));
    assert!(e.to_string().contains("POST contacts"), "{e}");
    assert_eq!(r.content_id.unwrap().value(), 2);
}

#[tokio::test]
async fn a_failing_change_set_part_stops_the_batch_by_default() {
    let server = MockServer::start_async().await;
    // Processing stops at the failure: outer 400, the change set answers with its failing
    // part (nested), the delete after it gets no answer.
    let body = format!(
        "--batchresponse_a1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n{{\"value\":[{{\"name\":\"x\"}}]}}\r\n\
         --batchresponse_a1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_b2\r\n\r\n\
         --changesetresponse_b2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
         {FAILING_CONTACT}\r\n--changesetresponse_b2--\r\n--batchresponse_a1--\r\n"
    );
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{API}/$batch"))
                .header_missing("prefer")
                .header_includes("content-type", "multipart/mixed; boundary=\"batch_")
                .body_includes(format!("GET {API}/bots?$select=name HTTP/1.1"))
                .body_includes("Content-ID: 2")
                .body_includes("\"parentcustomerid_account@odata.bind\":\"$1\"")
                .body_includes(format!(
                    "DELETE {API}/bots(00000000-0000-0000-0000-000000000009) HTTP/1.1"
                ));
            then.status(400)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_a1")
                .body(body);
        })
        .await;
    let c = clock();
    let results = scenario_batch(&client_for(&server.base_url(), &c), BatchMode::StopOnError).await;
    m.assert_async().await;
    assert_eq!(results.len(), 4);
    assert_eq!(
        results.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    let page: serde_json::Value = results[0].response().unwrap().json().unwrap().unwrap();
    assert_eq!(page["value"][0]["name"], "x");
    assert!(matches!(results[1].outcome, BatchOutcome::RolledBack));
    assert_failed_contact(&results[2]);
    assert!(matches!(results[3].outcome, BatchOutcome::NotExecuted));
}

#[tokio::test]
async fn a_failing_change_set_part_with_continue_on_error() {
    let server = MockServer::start_async().await;
    // Every part answers: the failed change set as its failing part alone (not nested), the
    // delete after it succeeds.
    let body = format!(
        "--batchresponse_c3\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{{\"value\":[]}}\r\n\
         --batchresponse_c3\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
         {FAILING_CONTACT}\r\n\
         --batchresponse_c3\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n\r\n\r\n\
         --batchresponse_c3--\r\n"
    );
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{API}/$batch"))
                .header("prefer", "odata.continue-on-error");
            then.status(200)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_c3")
                .header("Preference-Applied", "odata.continue-on-error")
                .body(body);
        })
        .await;
    let c = clock();
    let results = scenario_batch(
        &client_for(&server.base_url(), &c),
        BatchMode::ContinueOnError,
    )
    .await;
    m.assert_async().await;
    assert!(results[0].is_success());
    assert!(matches!(results[1].outcome, BatchOutcome::RolledBack));
    assert_eq!(results[1].content_id.unwrap().value(), 1);
    assert_failed_contact(&results[2]);
    assert_eq!(results[3].response().unwrap().status, 204);
}

#[tokio::test]
async fn a_successful_change_set_reports_each_created_id() {
    let server = MockServer::start_async().await;
    let body = "--r\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
        HTTP/1.1 204 No Content\r\nOData-EntityId: https://o/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000002)\r\n\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
        HTTP/1.1 204 No Content\r\nOData-EntityId: https://o/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)\r\n\r\n\r\n\
        --cs--\r\n--r--\r\n";
    server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{API}/$batch"));
            then.status(200)
                .header("Content-Type", "multipart/mixed; boundary=r")
                .body(body);
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let mut batch = Batch::new();
    let mut cs = batch.change_set();
    let a = cs.create("accounts", json!({"name": "a"}));
    cs.create(
        "contacts",
        json!({"lastname": "b", "parentcustomerid_account@odata.bind": a.reference()}),
    );
    let results = client.batch(batch, BatchMode::StopOnError).await.unwrap();
    // Matched by Content-ID, whatever the order of the answer.
    assert_eq!(
        results[0].response().unwrap().entity_id(),
        Some(Uuid::from_u128(1))
    );
    assert_eq!(
        results[1].response().unwrap().entity_id(),
        Some(Uuid::from_u128(2))
    );
}

fn parts(n: usize) -> String {
    let mut body = String::new();
    for _ in 0..n {
        body.push_str("--r\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n");
    }
    body.push_str("--r--\r\n");
    body
}

fn operations_in(req: &HttpMockRequest) -> usize {
    req.body_string()
        .matches("Content-Transfer-Encoding: binary")
        .count()
}

#[tokio::test]
async fn more_than_1000_operations_are_split() {
    let server = MockServer::start_async().await;
    let big = server
        .mock_async(|when, then| {
            when.method(POST)
                .is_true(|req: &HttpMockRequest| operations_in(req) == 1000);
            then.status(200)
                .header("Content-Type", "multipart/mixed; boundary=r")
                .body(parts(1000));
        })
        .await;
    let small = server
        .mock_async(|when, then| {
            when.method(POST)
                .is_true(|req: &HttpMockRequest| operations_in(req) == 5);
            then.status(200)
                .header("Content-Type", "multipart/mixed; boundary=r")
                .body(parts(5));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let mut batch = Batch::new();
    for i in 0..1005u128 {
        batch.delete("bots", &Key::id(Uuid::from_u128(i)));
    }
    let results = client
        .batch(batch, BatchMode::ContinueOnError)
        .await
        .unwrap();
    assert_eq!(results.len(), 1005);
    assert!(results.iter().all(BatchResult::is_success));
    assert!(results.iter().enumerate().all(|(i, r)| r.index == i));
    big.assert_calls_async(1).await;
    small.assert_calls_async(1).await;
}

#[tokio::test]
async fn stop_on_error_does_not_send_later_chunks() {
    let server = MockServer::start_async().await;
    let failing = "--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80040217\",\"message\":\"bot Does Not Exist\"}}\r\n--r--\r\n";
    let m = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(400)
                .header("Content-Type", "multipart/mixed; boundary=r")
                .body(failing);
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let mut batch = Batch::new();
    for i in 0..1001u128 {
        batch.delete("bots", &Key::id(Uuid::from_u128(i)));
    }
    let results = client.batch(batch, BatchMode::StopOnError).await.unwrap();
    m.assert_calls_async(1).await;
    assert_eq!(results.len(), 1001);
    assert!(results[0].error().unwrap().is_not_found());
    assert!(
        results[1..]
            .iter()
            .all(|r| matches!(r.outcome, BatchOutcome::NotExecuted))
    );
}

#[tokio::test]
async fn a_whole_batch_failure_is_an_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(format!("{API}/$batch"));
            then.status(400).json_body(json!({"error": {"code": "0x8006088a", "message": "The batch request must have a multipart content type."}}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .batch(sample_batch(), BatchMode::StopOnError)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http(_)), "{err}");
    assert_eq!(err.status(), Some(400));
    assert!(err.service_message().unwrap().contains("multipart"));

    let truncated = MockServer::start_async().await;
    truncated
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200)
                .header("Content-Type", "multipart/mixed; boundary=r")
                .body(
                    "--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                );
        })
        .await;
    let client = client_for(&truncated.base_url(), &c);
    let err = client
        .batch(sample_batch(), BatchMode::StopOnError)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Batch(_)), "{err}");
}

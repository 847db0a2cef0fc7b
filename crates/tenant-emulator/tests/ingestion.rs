//! The Akto ingestion stand-in (wire facts section 6).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn record(i: usize) -> Value {
    json!({
        "path": format!("/copilot/conversation/4f1c/message/{i}"),
        "requestHeaders": "{\"host\":\"copilot.microsoft.com\"}",
        "responseHeaders": "{}",
        "method": "POST",
        "requestPayload": "{\"message\":\"hi\"}",
        "responsePayload": "{\"message\":\"Hello\"}",
        "ip": "",
        "time": "1725905090",
        "statusCode": "200",
        "type": "HTTP/1.1",
        "status": "OK",
        "akto_account_id": "1000000",
        "akto_vxlan_id": "0",
        "is_pending": "false",
        "source": "MIRRORING",
        "tag": "{\"source\":\"COPILOT_STUDIO\",\"bot-name\":\"hr-buddy\"}",
        "publishToGuardrails": false,
    })
}

async fn ingest(url: &str, auth: Option<&str>, body: String) -> reqwest::Response {
    let mut request = http()
        .post(format!("{url}/api/ingestData"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn accepted_records_can_be_read_back() {
    let clock = clock();
    let emu = builder(&clock)
        .ingestion_token("akto-jwt")
        .start()
        .await
        .unwrap();
    let batch = json!({"batchData": (0..50).map(record).collect::<Vec<_>>()});
    let response = ingest(emu.ingestion_url(), Some("akto-jwt"), batch.to_string()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"success": true}));
    assert!(emu.ingestion().wait_for(50, Duration::from_secs(5)).await);
    assert_eq!(emu.ingestion().batches(), 1);
    let records = emu.ingestion().records();
    assert_eq!(records[7]["path"], "/copilot/conversation/4f1c/message/7");
    let over_http: Vec<Value> = http()
        .get(format!("{}/_emulator/ingested", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http.len(), 50);
    assert_eq!(over_http[49], record(49));
    let cleared = http()
        .delete(format!("{}/_emulator/ingested", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(emu.ingestion().is_empty());
}

#[tokio::test]
async fn authorization_is_the_raw_token() {
    let clock = clock();
    let emu = builder(&clock)
        .ingestion_token("akto-jwt")
        .start()
        .await
        .unwrap();
    let batch = json!({"batchData": [record(0)]}).to_string();
    assert_eq!(
        ingest(emu.ingestion_url(), None, batch.clone())
            .await
            .status(),
        401
    );
    assert_eq!(
        ingest(emu.ingestion_url(), Some("wrong"), batch.clone())
            .await
            .status(),
        401
    );
    // "Bearer <token>" is not what Akto expects.
    assert_eq!(
        ingest(emu.ingestion_url(), Some("Bearer akto-jwt"), batch.clone())
            .await
            .status(),
        401
    );
    assert!(emu.ingestion().is_empty());
    assert_eq!(
        ingest(emu.ingestion_url(), Some("akto-jwt"), batch)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn without_auth_configured_any_caller_is_accepted() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let batch = json!({"batchData": [record(0)]}).to_string();
    assert_eq!(ingest(emu.ingestion_url(), None, batch).await.status(), 200);
}

#[tokio::test]
async fn malformed_batches_get_422_and_are_not_recorded() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let mut not_string = record(0);
    not_string["statusCode"] = json!(200);
    let mut object_payload = record(0);
    object_payload["requestPayload"] = json!({"message": "hi"});
    let mut bad_flag = record(0);
    bad_flag["publishToGuardrails"] = json!("false");
    for body in [
        "not json".to_owned(),
        "[]".to_owned(),
        "{}".to_owned(),
        json!({"batchData": {"0": record(0)}}).to_string(),
        json!({"batchData": [record(0), "x"]}).to_string(),
        json!({"batchData": [record(0), not_string]}).to_string(),
        json!({"batchData": [object_payload]}).to_string(),
        json!({"batchData": [bad_flag]}).to_string(),
    ] {
        let response = ingest(emu.ingestion_url(), None, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["success"], false);
        assert!(answer["error"].is_string());
    }
    assert!(emu.ingestion().is_empty());
}

#[tokio::test]
async fn size_limits() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    // A string over 5 MB is refused as malformed.
    let mut big = record(0);
    big["responsePayload"] = json!("x".repeat(5 * 1024 * 1024 + 1));
    let response = ingest(
        emu.ingestion_url(),
        None,
        json!({"batchData": [big]}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 422);
    // A request over 10 MB is refused before it is parsed.
    let parts: Vec<Value> = (0..3)
        .map(|_| {
            let mut r = record(0);
            r["responsePayload"] = json!("y".repeat(4 * 1024 * 1024));
            r
        })
        .collect();
    let response = ingest(
        emu.ingestion_url(),
        None,
        json!({"batchData": parts}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 413);
    assert!(emu.ingestion().is_empty());
}

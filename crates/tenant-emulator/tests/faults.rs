//! Fault injection, set at start and through `POST /_emulator/faults`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tenant_emulator::clock::Clock;
use tenant_emulator::faults::{FaultConfig, FaultTargets};

async fn post_faults(base: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{base}/_emulator/faults"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn throttle_error_and_unavailable_answers() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    for (rate, status, code) in [
        ("throttle_rate", 429, Some("0x80072322")),
        ("error_rate", 500, None),
        ("unavailable_rate", 503, None),
    ] {
        let response = post_faults(emu.base_url(), json!({rate: 1.0, "retry_after_secs": 7})).await;
        assert_eq!(response.status(), 200);
        let response = dv_get(&emu, &token, "WhoAmI").await;
        assert_eq!(response.status(), status);
        if status == 500 {
            assert!(!response.headers().contains_key("retry-after"));
        } else {
            assert_eq!(response.headers()["retry-after"], "7");
        }
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].is_string());
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code);
        }
    }
    post_faults(emu.base_url(), json!({})).await;
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
}

#[tokio::test]
async fn a_fraction_of_requests_fail_deterministically() {
    let run = || async {
        let clock = clock();
        let emu = builder(&clock)
            .faults(FaultConfig::none().with_throttle_rate(0.3))
            .start()
            .await
            .unwrap();
        let token = dataverse_token(&emu).await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(dv_get(&emu, &token, "WhoAmI").await.status().as_u16());
        }
        statuses
    };
    let a = run().await;
    let b = run().await;
    assert_eq!(a, b, "same seed, same request order: same faults");
    let throttled = a.iter().filter(|s| **s == 429).count();
    assert!((4..=20).contains(&throttled), "{throttled} of 40 throttled");
    assert!(a.iter().all(|s| *s == 200 || *s == 429));
}

#[tokio::test]
async fn dropped_connections_cut_the_body() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    emu.set_faults(FaultConfig::none().with_drop_rate(1.0))
        .unwrap();
    let response = dv_get(&emu, &token, "bots?$select=name,schemaname").await;
    // Headers arrive; the body does not complete.
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err());
    emu.set_faults(FaultConfig::none()).unwrap();
    let response = dv_get(&emu, &token, "bots?$select=name,schemaname").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn outage_window_then_recovery() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    post_faults(emu.base_url(), json!({"outage_secs": 120})).await;
    clock.advance(Duration::from_secs(30));
    let response = dv_get(&emu, &token, "WhoAmI").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "90");
    let ingest = http()
        .post(format!("{}/api/ingestData", emu.ingestion_url()))
        .body(r#"{"batchData":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status(), 503);
    clock.advance(Duration::from_secs(90));
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
}

#[tokio::test]
async fn latency_is_added_on_the_clock() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    emu.set_faults(FaultConfig::none().with_latency(Duration::from_millis(1500)))
        .unwrap();
    let before = clock.now();
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
    assert_eq!(clock.now() - before, time::Duration::milliseconds(1500));
}

#[tokio::test]
async fn forced_token_expiry() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
    post_faults(emu.base_url(), json!({"expire_tokens": true})).await;
    let response = dv_get(&emu, &token, "WhoAmI").await;
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let fresh = dataverse_token(&emu).await;
    assert_eq!(dv_get(&emu, &fresh, "WhoAmI").await.status(), 200);
    // Also through the admin endpoint.
    let response = http()
        .post(format!("{}/_emulator/tokens/expire", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(dv_get(&emu, &fresh, "WhoAmI").await.status(), 401);
}

#[tokio::test]
async fn targets_choose_the_services() {
    let clock = clock();
    let emu = builder(&clock)
        .faults(
            FaultConfig::none()
                .with_error_rate(1.0)
                .with_targets(FaultTargets::new(false, true, false)),
        )
        .start()
        .await
        .unwrap();
    let token = dataverse_token(&emu).await;
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
    let ingest = http()
        .post(format!("{}/api/ingestData", emu.ingestion_url()))
        .body(r#"{"batchData":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status(), 500);
}

#[tokio::test]
async fn bad_fault_configs_are_refused() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let response = post_faults(emu.base_url(), json!({"error_rate": 2.0})).await;
    assert_eq!(response.status(), 400);
    let response = post_faults(emu.base_url(), json!({"eror_rate": 0.5})).await;
    assert_eq!(response.status(), 400);
    let current: Value = http()
        .get(format!("{}/_emulator/faults", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["error_rate"], 0.0);
}

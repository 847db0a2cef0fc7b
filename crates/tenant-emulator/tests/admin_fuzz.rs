//! The admin API answers every malformed or out-of-range request with a 4xx and keeps serving:
//! the inputs that once panicked a handler, then random bodies on every admin route.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRng, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use tenant_emulator::{ADMIN_BODY_LIMIT, Emulator, RunningEmulator};

async fn emulator() -> RunningEmulator {
    Emulator::builder()
        .seed(5)
        .agents(2)
        .transcripts(3)
        .start()
        .await
        .unwrap()
}

/// Sends one request; panics unless the answer is below 500 (a handler that panics drops the
/// connection, which fails here too).
async fn send(
    http: &reqwest::Client,
    emu: &RunningEmulator,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> u16 {
    let response = http
        .request(method.clone(), format!("{}{path}", emu.base_url()))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{method} {path} with {:?}: no answer ({e})",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )
        });
    let status = response.status().as_u16();
    assert!(
        status < 500,
        "{method} {path} with {:?}: {status}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    status
}

async fn still_serving(http: &reqwest::Client, emu: &RunningEmulator) {
    let info = http
        .get(format!("{}/_emulator/info", emu.base_url()))
        .send()
        .await
        .expect("the emulator stopped answering");
    assert_eq!(info.status(), 200);
}

#[tokio::test]
async fn inputs_that_once_crashed_a_handler_get_a_400() {
    let emu = emulator().await;
    let http = reqwest::Client::new();
    for (path, body, says) in [
        (
            "/_emulator/faults",
            json!({"outage_secs": u64::MAX}),
            "outage_secs",
        ),
        (
            "/_emulator/faults",
            json!({"latency_ms": u64::MAX}),
            "latency_ms",
        ),
        (
            "/_emulator/faults",
            json!({"retry_after_secs": u64::MAX}),
            "retry_after_secs",
        ),
        (
            "/_emulator/transcripts",
            json!({"count": 50_000_000}),
            "limit",
        ),
        (
            "/_emulator/transcripts",
            json!({"count": u64::MAX}),
            "limit",
        ),
        ("/_emulator/limits", json!({"window": u64::MAX}), "window"),
        ("/_emulator/limits", json!({"window": 0}), "window"),
        (
            "/_emulator/limits",
            json!({"execution_time": u64::MAX}),
            "execution_time",
        ),
    ] {
        let response = http
            .post(format!("{}{path}", emu.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path} {body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(says),
            "{path} {body}: {error}"
        );
        still_serving(&http, &emu).await;
    }
    // A bot id with multi-byte characters where the emulator names a fixture bot.
    let status = send(
        &http,
        &emu,
        Method::POST,
        "/_emulator/transcripts",
        serde_json::to_vec(&json!({"rows": [{
            "conversationtranscriptid": "7d6f0c3e-0000-4000-8000-000000000001",
            "_bot_conversationtranscriptid_value": "ééééééééé-bot",
            "content": "{}"
        }]}))
        .unwrap(),
    )
    .await;
    assert!((200..500).contains(&status), "{status}");
    still_serving(&http, &emu).await;
    // Over the documented body limit.
    let big = vec![b' '; ADMIN_BODY_LIMIT + 1];
    assert_eq!(
        send(&http, &emu, Method::POST, "/_emulator/faults", big).await,
        413
    );
    // The faults that were refused did not apply.
    let faults: Value = http
        .get(format!("{}/_emulator/faults", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["outage_secs"], 0);
    emu.shutdown().await;
}

/// Numbers at and around every boundary a handler may compute with.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1e300)),
        Just(json!(-0.5)),
        Just(json!(f64::MIN_POSITIVE)),
        (0u64..200_000).prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        (0.0f64..2.0).prop_map(|f| json!(f)),
    ]
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z_]{0,12}".prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
        Just(json!("ééééé日本語🙂-bot")),
        Just(json!("7d6f0c3e-0000-4000-8000-000000000002")),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        number(),
        text(),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

/// Objects with the admin API's own keys (and others), nested a little.
fn body() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("count".to_owned()),
        Just("rows".to_owned()),
        Just("outage_secs".to_owned()),
        Just("latency_ms".to_owned()),
        Just("retry_after_secs".to_owned()),
        Just("throttle_rate".to_owned()),
        Just("error_rate".to_owned()),
        Just("drop_rate".to_owned()),
        Just("unavailable_rate".to_owned()),
        Just("expire_tokens".to_owned()),
        Just("targets".to_owned()),
        Just("requests".to_owned()),
        Just("window".to_owned()),
        Just("concurrent".to_owned()),
        Just("execution_time".to_owned()),
        Just("enabled".to_owned()),
        Just("conversationtranscriptid".to_owned()),
        Just("_bot_conversationtranscriptid_value".to_owned()),
        Just("content".to_owned()),
        Just("modifiedon".to_owned()),
        "[a-z]{1,6}",
    ];
    leaf().prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => body().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => "\\PC{0,40}".prop_map(String::into_bytes),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_admin_requests_get_answers_below_500_and_the_emulator_keeps_serving() {
    let emu = emulator().await;
    let http = reqwest::Client::new();
    let paths = [
        "/_emulator/info",
        "/_emulator/ingested",
        "/_emulator/faults",
        "/_emulator/limits",
        "/_emulator/tokens/expire",
        "/_emulator/transcripts",
        "/_emulator/nothing",
    ];
    let methods = [Method::GET, Method::POST, Method::DELETE, Method::PUT];
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = (
        proptest::sample::select(paths.to_vec()),
        proptest::sample::select(methods.to_vec()),
        raw_body(),
    );
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..600 {
        let (path, method, body) = strategy.new_tree(&mut runner).unwrap().current();
        let status = send(&http, &emu, method, path, body).await;
        *answered.entry(status).or_default() += 1;
        if i % 25 == 0 {
            still_serving(&http, &emu).await;
        }
    }
    still_serving(&http, &emu).await;
    // The fuzzing reached the handlers, not only the router's refusals.
    assert!(
        answered.get(&400).copied().unwrap_or(0) > 50,
        "{answered:?}"
    );
    assert!(
        answered.keys().any(|s| (200..300).contains(s)),
        "{answered:?}"
    );
    emu.shutdown().await;
}

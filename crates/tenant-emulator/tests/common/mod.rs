//! Helpers shared by the integration tests: plain HTTP with reqwest, nothing from our clients.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tenant_emulator::clock::ManualClock;
use tenant_emulator::{Emulator, EmulatorBuilder, RunningEmulator};
use time::macros::datetime;

pub const ANCHOR: time::OffsetDateTime = datetime!(2026-03-01 00:00 UTC);

/// A small tenant on a manual clock (so nothing depends on real time).
pub fn builder(clock: &ManualClock) -> EmulatorBuilder {
    Emulator::builder()
        .seed(11)
        .agents(6)
        .transcripts(40)
        .anchor(ANCHOR)
        .clock(Arc::new(clock.clone()))
}

pub fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-03-01 09:00 UTC))
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs a token request with these form fields to the emulator's tenant.
pub async fn token_request(emu: &RunningEmulator, form: &[(&str, &str)]) -> reqwest::Response {
    token_request_to(emu, &emu.token_url(), form).await
}

pub async fn token_request_to(
    _emu: &RunningEmulator,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A Dataverse token for the connector app, by client secret.
pub async fn dataverse_token(emu: &RunningEmulator) -> String {
    let c = emu.credentials();
    let client_id = c.client_id.to_string();
    let scope = format!("{}/.default", emu.environment_url());
    let response = token_request(
        emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &c.client_secret),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// GET on the Web API with a bearer token.
pub async fn dv_get(emu: &RunningEmulator, token: &str, path: &str) -> reqwest::Response {
    http()
        .get(format!("{}{}", emu.web_api_url(), path))
        .bearer_auth(token)
        .header("accept", "application/json")
        .header("odata-maxversion", "4.0")
        .header("odata-version", "4.0")
        .send()
        .await
        .unwrap()
}

/// The claims of a JWT (no verification).
pub fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Asserts an Entra error body per docs/wire/entra.md and returns it.
pub async fn assert_aad_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
    code: i64,
) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}:")),
        "{description}"
    );
    for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[field].is_string(), "missing {field}: {body}");
    }
    body
}

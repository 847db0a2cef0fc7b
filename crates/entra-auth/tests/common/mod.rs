//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use client_core::{ManualClock, RetryPolicy};
use entra_auth::CredentialOptions;
use httpmock::MockServer;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const SCOPE: &str = "https://graph.microsoft.com/.default";
pub const START: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

pub fn clock() -> ManualClock {
    ManualClock::new(START)
}

/// Options pointing at the mock server, with the manual clock and quick retries.
pub fn options(server: &MockServer, clock: &ManualClock) -> CredentialOptions {
    CredentialOptions::default()
        .with_authority_host(server.base_url().parse().unwrap())
        .with_clock(Arc::new(clock.clone()))
        .with_retry_policy(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10)),
        )
}

pub fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

/// A JWT-shaped access token with these claims (unsigned).
pub fn jwt(claims: serde_json::Value) -> String {
    format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// A token endpoint success body.
pub fn token_body(access_token: &str, expires_in: i64) -> String {
    serde_json::json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    })
    .to_string()
}

/// An Entra error body.
pub fn entra_error(error: &str, code: u32) -> String {
    serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: description text.\r\nTrace ID: tr\r\nCorrelation ID: co\r\nTimestamp: 2026-03-01 12:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-03-01 12:00:00Z",
        "trace_id": "trace-abc",
        "correlation_id": "corr-def",
        "error_uri": "https://login.microsoftonline.com/error?code=1",
    })
    .to_string()
}

/// Decodes a form body into pairs.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Decodes a JWT's header and claims (no verification).
pub fn decode_jwt(jwt: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let dec = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    (
        serde_json::from_slice(&dec(parts[0])).unwrap(),
        serde_json::from_slice(&dec(parts[1])).unwrap(),
        dec(parts[2]),
        format!("{}.{}", parts[0], parts[1]),
    )
}

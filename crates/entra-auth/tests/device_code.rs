//! DeviceCodeCredential against httpmock: the device authorization request, the prompt handed
//! to the caller, the polling schedule on the manual clock (interval, `slow_down`, deadline),
//! each terminal answer, and the refresh token used for later scopes and refreshes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{CredentialErrorKind, TokenCredential};
use common::*;
use entra_auth::{DEVICE_CODE_GRANT_TYPE, DeviceCodeCredential, DeviceCodePrompt, EntraError};
use httpmock::prelude::*;
use httpmock::{HttpMockRequest, HttpMockResponse};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCOPE2: &str = "https://api.securitycopilot.microsoft.com/.default";
const DEVICE_CODE: &str = "DAQABAAEAAAD-device-code-secret";
const USER_CODE: &str = "FGH7-KQ2P";

fn device_code_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/devicecode")
}

fn authorization(expires_in: i64, interval: i64) -> String {
    serde_json::json!({
        "device_code": DEVICE_CODE,
        "user_code": USER_CODE,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": expires_in,
        "interval": interval,
        "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {USER_CODE} to authenticate."),
    })
    .to_string()
}

fn delegated_token(access: &str, refresh: &str) -> String {
    serde_json::json!({
        "token_type": "Bearer",
        "scope": "https://graph.microsoft.com/.default",
        "expires_in": 3599,
        "access_token": access,
        "refresh_token": refresh,
    })
    .to_string()
}

fn reply(status: u16, body: String) -> HttpMockResponse {
    client_core::http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
        .into()
}

/// A token endpoint answering the device code grant from `script`, one answer per poll (the
/// last one repeated).
async fn device_grant(server: &MockServer, script: Vec<(u16, String)>) -> httpmock::Mock<'_> {
    let next = AtomicUsize::new(0);
    server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("grant_type", DEVICE_CODE_GRANT_TYPE)
                .form_urlencoded_tuple("client_id", CLIENT_ID)
                .form_urlencoded_tuple("device_code", DEVICE_CODE);
            then.respond_with(move |_: &HttpMockRequest| {
                let i = next.fetch_add(1, Ordering::SeqCst).min(script.len() - 1);
                reply(script[i].0, script[i].1.clone())
            });
        })
        .await
}

async fn device_authorization(
    server: &MockServer,
    expires_in: i64,
    interval: i64,
) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(device_code_path())
                .header("content-type", "application/x-www-form-urlencoded")
                .header_missing("authorization")
                .form_urlencoded_tuple("client_id", CLIENT_ID)
                .form_urlencoded_tuple("scope", format!("{SCOPE} offline_access"))
                .form_urlencoded_tuple_missing("client_secret");
            then.status(200)
                .header("content-type", "application/json")
                .body(authorization(expires_in, interval));
        })
        .await
}

fn pending() -> (u16, String) {
    (400, entra_error("authorization_pending", 70016))
}

type Prompts = Arc<Mutex<Vec<DeviceCodePrompt>>>;

fn credential(
    server: &MockServer,
    clock: &client_core::ManualClock,
) -> (DeviceCodeCredential, Prompts) {
    let prompts: Prompts = Arc::default();
    let seen = prompts.clone();
    let cred = DeviceCodeCredential::new(
        TENANT,
        CLIENT_ID,
        move |p: &DeviceCodePrompt| seen.lock().unwrap().push(p.clone()),
        options(server, clock),
    )
    .unwrap();
    (cred, prompts)
}

#[tokio::test]
async fn polls_at_the_interval_slows_down_and_then_reuses_the_refresh_token() {
    let server = MockServer::start_async().await;
    let authorize = device_authorization(&server, 900, 5).await;
    let poll = device_grant(
        &server,
        vec![
            pending(),
            pending(),
            (400, entra_error("slow_down", 70016)),
            pending(),
            (200, delegated_token("tok-1", "rt-1")),
        ],
    )
    .await;
    let c = clock();
    let (cred, prompts) = credential(&server, &c);
    assert!(!cred.is_signed_in());

    let t = cred.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(t.token.expose(), "tok-1");
    let s = Duration::from_secs;
    assert_eq!(c.sleeps(), vec![s(5), s(5), s(5), s(10), s(10)]);
    authorize.assert_calls_async(1).await;
    poll.assert_calls_async(5).await;
    let shown = prompts.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].user_code(), USER_CODE);
    assert_eq!(
        shown[0].verification_uri(),
        "https://microsoft.com/devicelogin"
    );
    assert!(shown[0].message().contains(USER_CODE));
    assert_eq!(shown[0].expires_on(), START + s(900));
    assert!(cred.is_signed_in());

    // Cached: no request at all.
    assert_eq!(cred.get_token(&[SCOPE]).await.unwrap(), t);

    // Another scope: the refresh token, no second sign-in.
    let other = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("grant_type", "refresh_token")
                .form_urlencoded_tuple("client_id", CLIENT_ID)
                .form_urlencoded_tuple("refresh_token", "rt-1")
                .form_urlencoded_tuple("scope", format!("{SCOPE2} offline_access"));
            then.status(200).body(delegated_token("tok-2", "rt-2"));
        })
        .await;
    assert_eq!(
        cred.get_token(&[SCOPE2]).await.unwrap().token.expose(),
        "tok-2"
    );
    other.assert_calls_async(1).await;

    // When the first token is due, it is refreshed with the rotated refresh token.
    let rotated = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("grant_type", "refresh_token")
                .form_urlencoded_tuple("refresh_token", "rt-2")
                .form_urlencoded_tuple("scope", format!("{SCOPE} offline_access"));
            then.status(200).body(delegated_token("tok-3", "rt-3"));
        })
        .await;
    c.advance(s(3599 - 200));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "tok-3"
    );
    rotated.assert_calls_async(1).await;
    assert_eq!(prompts.lock().unwrap().len(), 1, "signed in once");
    authorize.assert_calls_async(1).await;
}

#[tokio::test]
async fn declined_and_expired_answers_end_the_sign_in_with_a_typed_error() {
    type Is = fn(&EntraError) -> bool;
    let cases: [(&str, Is); 3] = [
        ("authorization_declined", |e| {
            matches!(e, EntraError::AuthorizationDeclined(_))
        }),
        ("access_denied", |e| {
            matches!(e, EntraError::AuthorizationDeclined(_))
        }),
        ("expired_token", |e| {
            matches!(e, EntraError::DeviceCodeExpired(_))
        }),
    ];
    for (error, is) in cases {
        let server = MockServer::start_async().await;
        device_authorization(&server, 900, 5).await;
        let poll = device_grant(&server, vec![pending(), (400, entra_error(error, 70000))]).await;
        let c = clock();
        let (cred, _) = credential(&server, &c);
        let e = cred.get_token(&[SCOPE]).await.unwrap_err();
        assert_eq!(e.kind(), CredentialErrorKind::Rejected, "{error}: {e}");
        let entra = e
            .downcast_ref::<EntraError>()
            .expect("the Entra answer is the source");
        assert!(is(entra), "{error}: {entra:?}");
        assert!(e.hint().is_some(), "{error}: {e}");
        poll.assert_calls_async(2).await;
        assert!(!cred.is_signed_in());
    }
}

#[tokio::test]
async fn stops_at_the_expires_in_deadline_on_the_clock() {
    let server = MockServer::start_async().await;
    device_authorization(&server, 12, 5).await;
    let poll = device_grant(&server, vec![pending()]).await;
    let c = clock();
    let (cred, prompts) = credential(&server, &c);
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Rejected);
    assert!(e.message().contains("expired"), "{e}");
    // Polls at 5 s and 10 s; at 15 s the code has expired (12 s): no third poll.
    poll.assert_calls_async(2).await;
    assert_eq!(c.total_slept(), Duration::from_secs(15));
    assert_eq!(prompts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_refresh_token_means_signing_in_again() {
    let server = MockServer::start_async().await;
    let authorize = device_authorization(&server, 900, 5).await;
    device_grant(&server, vec![(200, delegated_token("tok-1", "rt-1"))]).await;
    let refused = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("grant_type", "refresh_token")
                .form_urlencoded_tuple("refresh_token", "rt-1");
            then.status(400).body(entra_error("invalid_grant", 70008));
        })
        .await;
    let c = clock();
    let (cred, prompts) = credential(&server, &c);
    cred.get_token(&[SCOPE]).await.unwrap();
    c.advance(Duration::from_secs(3600));
    // The token has expired and the refresh token is refused: the person signs in again.
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "tok-1"
    );
    refused.assert_calls_async(1).await;
    authorize.assert_calls_async(2).await;
    assert_eq!(prompts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_requests_for_two_scopes_prompt_once() {
    let server = MockServer::start_async().await;
    let authorize = device_authorization(&server, 900, 5).await;
    device_grant(
        &server,
        vec![pending(), (200, delegated_token("tok-1", "rt-1"))],
    )
    .await;
    let refreshed = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("grant_type", "refresh_token")
                .form_urlencoded_tuple("refresh_token", "rt-1")
                .form_urlencoded_tuple("scope", format!("{SCOPE2} offline_access"));
            then.status(200).body(delegated_token("tok-2", "rt-2"));
        })
        .await;
    let c = clock();
    let (cred, prompts) = credential(&server, &c);
    let (a, b) = tokio::join!(cred.get_token(&[SCOPE]), cred.get_token(&[SCOPE2]));
    assert_eq!(a.unwrap().token.expose(), "tok-1");
    assert_eq!(b.unwrap().token.expose(), "tok-2");
    authorize.assert_calls_async(1).await;
    refreshed.assert_calls_async(1).await;
    assert_eq!(prompts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_app_without_public_client_flows_gets_a_hint_and_nothing_secret_leaks() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(device_code_path());
            then.status(401)
                .body(entra_error("invalid_client", 7000218));
        })
        .await;
    let c = clock();
    let (cred, prompts) = credential(&server, &c);
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert!(
        e.hint().unwrap().contains("Allow public client flows"),
        "{e}"
    );
    assert!(prompts.lock().unwrap().is_empty());

    // After a sign-in, neither Debug nor errors show the device code or the refresh token.
    let server = MockServer::start_async().await;
    device_authorization(&server, 900, 5).await;
    device_grant(
        &server,
        vec![(200, delegated_token("tok-secret-1", "rt-secret-1"))],
    )
    .await;
    let (cred, _) = credential(&server, &c);
    cred.get_token(&[SCOPE]).await.unwrap();
    let shown = format!("{cred:?}");
    for secret in [DEVICE_CODE, "rt-secret-1", "tok-secret-1"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("DeviceCodeCredential") && shown.contains(CLIENT_ID));
}

#[tokio::test]
async fn a_bad_authorization_answer_is_an_invalid_response() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(device_code_path());
            then.status(200)
                .body(r#"{"user_code":"A","expires_in":900}"#);
        })
        .await;
    let c = clock();
    let (cred, prompts) = credential(&server, &c);
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidResponse, "{e}");
    assert!(prompts.lock().unwrap().is_empty());
}

//! DeviceCodeCredential with a token cache file, against httpmock on the manual clock: a
//! second credential (the next run) redeems the saved refresh token without a prompt; a
//! refused one is removed and the person asked again with the reason; an outage keeps it; an
//! unusable file never fails a sign-in and is left untouched; sign-out forgets it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{CredentialErrorKind, TokenCredential};
use common::*;
use entra_auth::{
    DEVICE_CODE_GRANT_TYPE, DeviceCodeCredential, DeviceCodePrompt, SavedSignIn, SignInKey,
    SignInReason, TokenCacheFile,
};
use httpmock::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex};

const OID: &str = "7d1c1e4a-0000-4000-8000-000000000042";
const TID: &str = "9b0c1d2e-0000-4000-8000-000000000007";

fn access_token(n: u32) -> String {
    jwt(serde_json::json!({ "oid": OID, "tid": TID, "n": n }))
}

fn delegated_token(access: &str, refresh: &str) -> String {
    serde_json::json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "access_token": access,
        "refresh_token": refresh,
    })
    .to_string()
}

async fn device_code_sign_in<'a>(
    server: &'a MockServer,
    refresh: &str,
) -> (httpmock::Mock<'a>, httpmock::Mock<'a>) {
    let authorize = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("/{TENANT}/oauth2/v2.0/devicecode"))
                .form_urlencoded_tuple("scope", format!("{SCOPE} offline_access"));
            then.status(200).body(
                serde_json::json!({
                    "device_code": "dc-1", "user_code": "ABCD-EFGH",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 900, "interval": 5,
                })
                .to_string(),
            );
        })
        .await;
    let body = delegated_token(&access_token(1), refresh);
    let poll = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("grant_type", DEVICE_CODE_GRANT_TYPE)
                .form_urlencoded_tuple("device_code", "dc-1");
            then.status(200).body(body);
        })
        .await;
    (authorize, poll)
}

async fn refresh_grant<'a>(
    server: &'a MockServer,
    refresh: &str,
    status: u16,
    body: String,
) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("grant_type", "refresh_token")
                .form_urlencoded_tuple("client_id", CLIENT_ID)
                .form_urlencoded_tuple("refresh_token", refresh)
                .form_urlencoded_tuple("scope", format!("{SCOPE} offline_access"));
            then.status(status).body(body);
        })
        .await
}

type Prompts = Arc<Mutex<Vec<DeviceCodePrompt>>>;

/// One run of a program: a new credential over the same file.
fn run(server: &MockServer, file: &Path) -> (DeviceCodeCredential, Prompts) {
    let prompts: Prompts = Arc::default();
    let seen = prompts.clone();
    let c = clock();
    let cred = DeviceCodeCredential::new(
        TENANT,
        CLIENT_ID,
        move |p: &DeviceCodePrompt| seen.lock().unwrap().push(p.clone()),
        options(server, &c),
    )
    .unwrap()
    .with_token_cache_file(TokenCacheFile::new(file));
    (cred, prompts)
}

fn key(server: &MockServer) -> SignInKey {
    SignInKey::new(server.base_url(), TENANT, CLIENT_ID)
}

fn saved(server: &MockServer, file: &Path) -> Option<SavedSignIn> {
    TokenCacheFile::new(file).find(&key(server)).unwrap()
}

#[tokio::test]
async fn the_next_run_redeems_the_saved_sign_in_without_a_prompt() {
    let server = MockServer::start_async().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache").join("tokens.json");
    let (authorize, poll) = device_code_sign_in(&server, "rt-1").await;

    let (first, prompts) = run(&server, &file);
    first.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(prompts.lock().unwrap().len(), 1);
    assert_eq!(
        prompts.lock().unwrap()[0].reason(),
        &SignInReason::NotSignedIn
    );
    let entry = saved(&server, &file).expect("the sign-in is saved");
    assert_eq!(entry.refresh_token().expose(), "rt-1");
    assert_eq!(entry.account(), Some(format!("{OID}.{TID}").as_str()));
    assert_eq!(entry.scopes().collect::<Vec<_>>(), vec![SCOPE]);
    assert_eq!(entry.saved_at(), START + std::time::Duration::from_secs(5));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!format!("{first:?}").contains("rt-1"), "{first:?}");
    drop(first);

    // The next run: the refresh token, no device code, no prompt; the rotated token is saved.
    let refreshed = refresh_grant(
        &server,
        "rt-1",
        200,
        delegated_token(&access_token(2), "rt-2"),
    )
    .await;
    let (second, prompts) = run(&server, &file);
    assert!(!second.is_signed_in(), "nothing is read before a request");
    let t = second.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(t.token.expose(), access_token(2));
    assert!(prompts.lock().unwrap().is_empty(), "no sign-in prompt");
    assert!(second.is_signed_in());
    refreshed.assert_calls_async(1).await;
    authorize.assert_calls_async(1).await;
    poll.assert_calls_async(1).await;
    assert_eq!(
        saved(&server, &file).unwrap().refresh_token().expose(),
        "rt-2"
    );
}

#[tokio::test]
async fn a_refused_saved_sign_in_is_removed_and_the_person_asked_again_with_the_reason() {
    let server = MockServer::start_async().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.json");
    let other = SignInKey::new(server.base_url(), TENANT, "another-app");
    let store = TokenCacheFile::new(&file);
    for (k, rt) in [(key(&server), "rt-old"), (other.clone(), "rt-other")] {
        store
            .save(&SavedSignIn::new(k, None, [], rt.into(), START))
            .unwrap();
    }
    let refused = refresh_grant(&server, "rt-old", 400, entra_error("invalid_grant", 700082)).await;
    // The new sign-in cannot even start at first: the refused entry is gone all the same.
    let unreachable = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("/{TENANT}/oauth2/v2.0/devicecode"));
            then.status(400)
                .body(entra_error("invalid_request", 900144));
        })
        .await;
    let (cred, prompts) = run(&server, &file);
    cred.get_token(&[SCOPE]).await.unwrap_err();
    refused.assert_calls_async(1).await;
    assert!(
        saved(&server, &file).is_none(),
        "the refused sign-in is removed"
    );
    unreachable.delete_async().await;

    let (authorize, _) = device_code_sign_in(&server, "rt-new").await;
    cred.get_token(&[SCOPE]).await.unwrap();
    refused.assert_calls_async(1).await;
    authorize.assert_calls_async(1).await;
    let shown = prompts.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert_eq!(
        shown[0].reason(),
        &SignInReason::Refused {
            error: "invalid_grant".into()
        }
    );
    assert!(shown[0].reason().to_string().contains("refused"));
    assert_eq!(
        saved(&server, &file).unwrap().refresh_token().expose(),
        "rt-new"
    );
    // Another app's sign-in in the same file is kept.
    assert_eq!(
        store
            .find(&other)
            .unwrap()
            .unwrap()
            .refresh_token()
            .expose(),
        "rt-other"
    );
}

#[tokio::test]
async fn an_outage_keeps_the_saved_sign_in() {
    let server = MockServer::start_async().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.json");
    TokenCacheFile::new(&file)
        .save(&SavedSignIn::new(
            key(&server),
            None,
            [],
            "rt-1".into(),
            START,
        ))
        .unwrap();
    let down = refresh_grant(&server, "rt-1", 503, "{}".into()).await;
    let (authorize, _) = device_code_sign_in(&server, "rt-2").await;
    let (cred, prompts) = run(&server, &file);
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Unavailable, "{e}");
    assert!(down.calls_async().await >= 1);
    authorize.assert_calls_async(0).await;
    assert!(prompts.lock().unwrap().is_empty());
    assert_eq!(
        saved(&server, &file).unwrap().refresh_token().expose(),
        "rt-1"
    );
}

#[tokio::test]
async fn an_unusable_file_never_fails_the_sign_in_and_is_left_untouched() {
    for content in [
        "this is somebody's notes, not a cache\n",
        r#"{"format":"entra-auth-token-cache","version":99,"sign_ins":[]}"#,
    ] {
        let server = MockServer::start_async().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.json");
        std::fs::write(&file, content).unwrap();
        let (authorize, _) = device_code_sign_in(&server, "rt-1").await;
        let (cred, prompts) = run(&server, &file);
        cred.get_token(&[SCOPE]).await.unwrap();
        authorize.assert_calls_async(1).await;
        assert_eq!(prompts.lock().unwrap().len(), 1);
        assert!(cred.is_signed_in(), "kept in memory for this run");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), content);
    }
}

#[tokio::test]
async fn sign_out_forgets_the_saved_sign_in() {
    let server = MockServer::start_async().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.json");
    device_code_sign_in(&server, "rt-1").await;
    let (cred, _) = run(&server, &file);
    cred.get_token(&[SCOPE]).await.unwrap();
    assert!(saved(&server, &file).is_some());
    cred.sign_out().await.unwrap();
    assert!(!cred.is_signed_in());
    assert!(saved(&server, &file).is_none());
    assert_eq!(
        cred.token_cache_file().map(TokenCacheFile::path),
        Some(file.as_path())
    );
}

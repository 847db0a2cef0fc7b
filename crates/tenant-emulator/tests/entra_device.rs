//! The device code sign-in: entra-auth's DeviceCodeCredential against the emulator on one
//! manual clock (approval on the second poll, decline, expiry, refresh for another resource,
//! revoked refresh tokens, a sign-in saved across runs until 90 days unused), and the polling
//! rules driven with plain form posts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_core::TokenCredential;
use common::*;
use entra_auth::{
    CredentialOptions, DeviceCodeCredential, DeviceCodePrompt, EntraError, SignInReason,
    TokenCacheFile,
};
use serde_json::Value;
use tenant_emulator::RunningEmulator;
use tenant_emulator::clock::{Clock, ManualClock};
use tenant_emulator::entra_device::{DEVICE_CODE_GRANT_TYPE, SignedInUser};

const GRAPH: &str = "https://graph.microsoft.com/.default";

/// The emulator's manual clock, as the client's clock: a client's sleep moves both.
#[derive(Clone)]
struct OneClock(ManualClock);

impl std::fmt::Debug for OneClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneClock")
    }
}

impl client_core::Clock for OneClock {
    fn now(&self) -> time::OffsetDateTime {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> client_core::SleepFuture {
        self.0.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

type Prompts = Arc<Mutex<Vec<DeviceCodePrompt>>>;

fn credential(
    emu: &RunningEmulator,
    clock: &ManualClock,
    on_prompt: impl Fn(&DeviceCodePrompt) + Send + Sync + 'static,
) -> (DeviceCodeCredential, Prompts) {
    let prompts: Prompts = Arc::default();
    let seen = prompts.clone();
    let options = CredentialOptions::default()
        .with_authority_host(emu.urls().authority)
        .with_clock(Arc::new(OneClock(clock.clone())));
    let creds = emu.credentials();
    let cred = DeviceCodeCredential::new(
        creds.tenant_id.to_string(),
        creds.client_id.to_string(),
        move |p: &DeviceCodePrompt| {
            seen.lock().unwrap().push(p.clone());
            on_prompt(p);
        },
        options,
    )
    .unwrap();
    (cred, prompts)
}

fn scope(emu: &RunningEmulator) -> String {
    format!("{}/.default", emu.environment_url())
}

#[tokio::test]
async fn signs_in_on_the_second_poll_and_refreshes_for_another_resource() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let user = SignedInUser {
        scopes: vec!["SecurityCopilot.Read".into(), "User.Read".into()],
        ..SignedInUser::default()
    };
    emu.entra().device_sign_in().set_user(user.clone());
    let (cred, prompts) = credential(&emu, &clock, |_| {});
    let started = clock.now();

    let token = cred.get_token(&[&scope(&emu)]).await.unwrap();
    let claims = emu.entra().validate_token(token.token.expose()).unwrap();
    assert_eq!(claims.object_id, user.object_id);
    assert_eq!(claims.scopes, user.scopes);
    assert_eq!(claims.app_id, emu.credentials().client_id);
    assert_eq!(claims.audience, emu.environment_url());
    // Pending at 5 s, approved at 10 s.
    assert_eq!(clock.now() - started, time::Duration::seconds(10));
    let shown = prompts.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].user_code().len(), 8);
    assert!(shown[0].message().contains(shown[0].user_code()));
    assert!(emu.entra().device_sign_in().pending().is_empty());

    // Graph with the refresh token: no second prompt.
    let graph = cred.get_token(&[GRAPH]).await.unwrap();
    let claims = emu.entra().validate_token(graph.token.expose()).unwrap();
    assert_eq!(claims.audience, "https://graph.microsoft.com");
    assert_eq!(prompts.lock().unwrap().len(), 1);

    // Revoked refresh tokens and expired access tokens: the person signs in again.
    emu.entra().device_sign_in().revoke_refresh_tokens();
    clock.advance(Duration::from_secs(3600));
    cred.get_token(&[GRAPH]).await.unwrap();
    assert_eq!(prompts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_saved_sign_in_serves_later_runs_until_it_lies_unused_for_90_days() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = TokenCacheFile::new(dir.path().join("tokens.json"));
    let run = || {
        let (cred, prompts) = credential(&emu, &clock, |_| {});
        (cred.with_token_cache_file(file.clone()), prompts)
    };

    let (first, prompts) = run();
    first.get_token(&[&scope(&emu)]).await.unwrap();
    assert_eq!(prompts.lock().unwrap().len(), 1);
    drop(first);

    // The next run, a day later, for Graph: the saved refresh token, no prompt.
    clock.advance(Duration::from_secs(86_400));
    let (second, prompts) = run();
    let graph = second.get_token(&[GRAPH]).await.unwrap();
    let claims = emu.entra().validate_token(graph.token.expose()).unwrap();
    assert_eq!(claims.audience, "https://graph.microsoft.com");
    assert!(prompts.lock().unwrap().is_empty());
    drop(second);

    // 90 days unused: Entra refuses it, the person is asked again and told why.
    clock.advance(Duration::from_secs(90 * 86_400));
    let (third, prompts) = run();
    third.get_token(&[GRAPH]).await.unwrap();
    let shown = prompts.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert_eq!(
        shown[0].reason(),
        &SignInReason::Refused {
            error: "invalid_grant".into()
        }
    );
}

#[tokio::test]
async fn a_declined_sign_in_and_an_expired_code_are_typed_errors() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let device = emu.entra().device_sign_in().clone();
    device.approve_after_polls(None);
    let decider = device.clone();
    let (cred, _) = credential(&emu, &clock, move |p| {
        assert!(decider.decline(p.user_code()));
    });
    let e = cred.get_token(&[&scope(&emu)]).await.unwrap_err();
    assert!(
        matches!(
            e.downcast_ref::<EntraError>(),
            Some(EntraError::AuthorizationDeclined(_))
        ),
        "{e}"
    );

    // Nobody approves: the client stops at the deadline.
    device.set_expires_in(Duration::from_secs(30));
    let (cred, prompts) = credential(&emu, &clock, |_| {});
    let started = clock.now();
    let e = cred.get_token(&[&scope(&emu)]).await.unwrap_err();
    assert!(e.message().contains("expired"), "{e}");
    assert_eq!(clock.now() - started, time::Duration::seconds(30));
    assert_eq!(device.pending().len(), 1);
    assert_eq!(
        device.pending()[0].user_code,
        prompts.lock().unwrap()[0].user_code()
    );
    assert_eq!(device.pending()[0].polls, 5);
}

/// The tenant's device authorization endpoint.
fn device_code_url(emu: &RunningEmulator) -> String {
    format!(
        "{}/{}/oauth2/v2.0/devicecode",
        emu.authority_host(),
        emu.credentials().tenant_id
    )
}

async fn device_code(emu: &RunningEmulator, scope: &str) -> Value {
    let client_id = emu.credentials().client_id.to_string();
    let url = device_code_url(emu);
    let r = token_request_to(emu, &url, &[("client_id", &client_id), ("scope", scope)]).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn poll(emu: &RunningEmulator, device_code: &str) -> (u16, Value) {
    let client_id = emu.credentials().client_id.to_string();
    let r = token_request(
        emu,
        &[
            ("grant_type", DEVICE_CODE_GRANT_TYPE),
            ("client_id", &client_id),
            ("device_code", device_code),
        ],
    )
    .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn polling_too_fast_slows_down_and_the_admin_api_approves() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    emu.entra().device_sign_in().approve_after_polls(None);
    let answer = device_code(&emu, &format!("{} offline_access", scope(&emu))).await;
    for field in ["device_code", "user_code", "verification_uri", "message"] {
        assert!(answer[field].is_string(), "{field}: {answer}");
    }
    assert_eq!(answer["expires_in"], 900);
    assert_eq!(answer["interval"], 5);
    let code = answer["device_code"].as_str().unwrap();

    clock.advance(Duration::from_secs(5));
    assert_eq!(poll(&emu, code).await.1["error"], "authorization_pending");
    // At once again: slow down, and the interval is now 10 s; 5 s later: 15 s.
    assert_eq!(poll(&emu, code).await.1["error"], "slow_down");
    clock.advance(Duration::from_secs(5));
    assert_eq!(poll(&emu, code).await.1["error"], "slow_down");
    clock.advance(Duration::from_secs(15));
    assert_eq!(poll(&emu, code).await.1["error"], "authorization_pending");

    let admin = format!("{}/_emulator/devicelogin", emu.base_url());
    let listed: Value = http()
        .get(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["user_code"], answer["user_code"]);
    let approve = |user_code: Value| {
        http()
            .post(&admin)
            .json(&serde_json::json!({"user_code": user_code, "approve": true}))
            .send()
    };
    assert_eq!(
        approve(answer["user_code"].clone()).await.unwrap().status(),
        204
    );
    assert_eq!(approve("NOSUCHCD".into()).await.unwrap().status(), 404);
    clock.advance(Duration::from_secs(15));
    let (status, body) = poll(&emu, code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    // A device code is redeemed once.
    assert_eq!(poll(&emu, code).await.1["error"], "bad_verification_code");
}

#[tokio::test]
async fn bad_device_code_requests_get_entra_errors() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let url = device_code_url(&emu);
    let client_id = emu.credentials().client_id.to_string();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("scope", GRAPH)], "invalid_request"),
        (
            &[
                ("client_id", "00000000-0000-0000-0000-00000000dead"),
                ("scope", GRAPH),
            ],
            "unauthorized_client",
        ),
        (&[("client_id", &client_id)], "invalid_scope"),
        (
            &[
                ("client_id", &client_id),
                ("scope", "https://unknown.example/.default"),
            ],
            "invalid_resource",
        ),
    ];
    for (form, error) in cases {
        let r = token_request_to(&emu, &url, form).await;
        assert_eq!(r.status(), 400, "{error}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        assert!(body["error_codes"][0].is_number());
    }
    let refresh = token_request(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", "not-issued"),
            ("scope", GRAPH),
        ],
    )
    .await;
    assert_eq!(refresh.status(), 400);
    assert_eq!(
        refresh.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

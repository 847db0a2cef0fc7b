//! The token cache: single flight, refresh margin, refresh_in, failed refreshes, invalidation.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{
    AccessToken, Clock, CredentialError, CredentialErrorKind, ManualClock, TokenCredential,
    async_trait,
};
use common::*;
use entra_auth::{CachedCredential, ClientSecretCredential};
use httpmock::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A credential answering from a script, counting calls.
#[derive(Debug, Default)]
struct Scripted {
    calls: AtomicUsize,
    answers: Mutex<VecDeque<Result<AccessToken, CredentialError>>>,
}

impl Scripted {
    fn push_ok(&self, token: &str, expires_on: time::OffsetDateTime) {
        self.answers
            .lock()
            .unwrap()
            .push_back(Ok(AccessToken::new(token, expires_on)));
    }
    fn push_err(&self) {
        self.answers
            .lock()
            .unwrap()
            .push_back(Err(CredentialError::new(
                CredentialErrorKind::Unavailable,
                "identity provider down",
            )));
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenCredential for Scripted {
    async fn get_token(&self, _scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Let other callers pile up behind this request.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        self.answers.lock().unwrap().pop_front().unwrap_or_else(|| {
            Err(CredentialError::new(
                CredentialErrorKind::Rejected,
                "script exhausted",
            ))
        })
    }
}

fn cached(clock: &ManualClock) -> (Arc<Scripted>, CachedCredential<Arc<Scripted>>) {
    let inner = Arc::new(Scripted::default());
    let c = CachedCredential::new(inner.clone(), Arc::new(clock.clone()));
    (inner, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_callers_make_one_token_request() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST).path(token_path());
            then.status(200).body(token_body("tok-shared", 3600));
        })
        .await;
    let c = clock();
    let cred = Arc::new(
        ClientSecretCredential::new(TENANT, CLIENT_ID, "secret", options(&server, &c)).unwrap(),
    );
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let cred = cred.clone();
            tokio::spawn(async move {
                // Scope order does not matter: one cache entry.
                let scopes = if i % 2 == 0 {
                    ["a/.default", "b/.default"]
                } else {
                    ["b/.default", "a/.default"]
                };
                cred.get_token(&scopes).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().token.expose(), "tok-shared");
    }
    m.assert_calls_async(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_callers_of_a_wrapped_credential() {
    let c = clock();
    let (inner, cred) = cached(&c);
    inner.push_ok("t", START + Duration::from_secs(3600));
    let cred = Arc::new(cred);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cred = cred.clone();
            tokio::spawn(async move { cred.get_token(&[SCOPE]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(inner.calls(), 1);
}

#[tokio::test]
async fn refreshed_4_minutes_before_expiry_but_not_6() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST).path(token_path());
            then.status(200).body(token_body("tok", 3600));
        })
        .await;
    let c = clock();
    let cred =
        ClientSecretCredential::new(TENANT, CLIENT_ID, "secret", options(&server, &c)).unwrap();
    cred.get_token(&[SCOPE]).await.unwrap();
    c.advance(Duration::from_secs(54 * 60)); // 6 minutes left
    cred.get_token(&[SCOPE]).await.unwrap();
    m.assert_calls_async(1).await;
    c.advance(Duration::from_secs(2 * 60)); // 4 minutes left
    let t = cred.get_token(&[SCOPE]).await.unwrap();
    m.assert_calls_async(2).await;
    assert_eq!(t.expires_on, c.now() + Duration::from_secs(3600));
}

#[tokio::test]
async fn refresh_in_is_honoured() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST).path(token_path());
            then.status(200).body(
                serde_json::json!({"token_type":"Bearer","expires_in":86399,"refresh_in":43199,"access_token":"long"})
                    .to_string(),
            );
        })
        .await;
    let c = clock();
    let cred =
        ClientSecretCredential::new(TENANT, CLIENT_ID, "secret", options(&server, &c)).unwrap();
    cred.get_token(&[SCOPE]).await.unwrap();
    c.advance(Duration::from_secs(43_000));
    cred.get_token(&[SCOPE]).await.unwrap();
    m.assert_calls_async(1).await;
    c.advance(Duration::from_secs(200));
    cred.get_token(&[SCOPE]).await.unwrap();
    m.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_still_valid_token() {
    let c = clock();
    let (inner, cred) = cached(&c);
    inner.push_ok("first", START + Duration::from_secs(3600));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "first"
    );

    c.advance(Duration::from_secs(57 * 60)); // 3 minutes left: refresh due
    inner.push_err();
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "first"
    );
    assert_eq!(inner.calls(), 2);
    // Not asked again right away...
    c.advance(Duration::from_secs(10));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "first"
    );
    assert_eq!(inner.calls(), 2);
    // ...but after 30 s; this time it works.
    c.advance(Duration::from_secs(30));
    inner.push_ok("second", START + Duration::from_secs(2 * 3600));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "second"
    );
    assert_eq!(inner.calls(), 3);
}

#[tokio::test]
async fn failures_are_not_cached_and_an_expired_token_is_never_returned() {
    let c = clock();
    let (inner, cred) = cached(&c);
    inner.push_err();
    assert!(cred.get_token(&[SCOPE]).await.is_err());
    inner.push_ok("t", START + Duration::from_secs(600));
    assert_eq!(cred.get_token(&[SCOPE]).await.unwrap().token.expose(), "t");
    assert_eq!(inner.calls(), 2);

    c.advance(Duration::from_secs(601)); // expired
    inner.push_err();
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Unavailable);
}

#[tokio::test]
async fn a_short_lived_token_is_refreshed_at_half_life_not_every_call() {
    let c = clock();
    let (inner, cred) = cached(&c);
    inner.push_ok("short", START + Duration::from_secs(120));
    cred.get_token(&[SCOPE]).await.unwrap();
    c.advance(Duration::from_secs(50));
    cred.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(inner.calls(), 1);
    c.advance(Duration::from_secs(15));
    inner.push_ok("short-2", START + Duration::from_secs(300));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "short-2"
    );
    assert_eq!(inner.calls(), 2);
}

#[tokio::test]
async fn invalidate_drops_only_the_matching_token() {
    let c = clock();
    let (inner, cred) = cached(&c);
    inner.push_ok("t1", START + Duration::from_secs(3600));
    let t1 = cred.get_token(&[SCOPE]).await.unwrap();
    cred.invalidate(&[SCOPE], &AccessToken::new("other", t1.expires_on))
        .await;
    assert_eq!(cred.get_token(&[SCOPE]).await.unwrap(), t1);
    assert_eq!(inner.calls(), 1);
    cred.invalidate(&[SCOPE], &t1).await;
    inner.push_ok("t2", START + Duration::from_secs(3600));
    assert_eq!(cred.get_token(&[SCOPE]).await.unwrap().token.expose(), "t2");
    assert_eq!(inner.calls(), 2);
    // Another scope set is another entry.
    inner.push_ok("graph", START + Duration::from_secs(3600));
    assert_eq!(
        cred.get_token(&["g/.default"])
            .await
            .unwrap()
            .token
            .expose(),
        "graph"
    );
}

#[tokio::test]
async fn the_pipeline_invalidates_on_401_and_gets_a_fresh_token() {
    // End to end with client-core: a 401 makes the pipeline drop the cached token, and the
    // credential asks Entra again exactly once.
    let server = MockServer::start_async().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let token_mock = server
        .mock_async(move |when, then| {
            when.method(POST).path(token_path());
            then.respond_with(move |_| {
                let i = n.fetch_add(1, Ordering::SeqCst);
                httpmock::HttpMockResponse::builder()
                    .status(200)
                    .body(token_body(&format!("tok-{i}"), 3600))
                    .build()
            });
        })
        .await;
    let api_401 = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api")
                .header("authorization", "Bearer tok-0");
            then.status(401);
        })
        .await;
    let api_ok = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api")
                .header("authorization", "Bearer tok-1");
            then.status(200).body("{}");
        })
        .await;
    let c = clock();
    let cred =
        ClientSecretCredential::new(TENANT, CLIENT_ID, "secret", options(&server, &c)).unwrap();
    let pipeline = client_core::Pipeline::builder()
        .credential(Arc::new(cred))
        .default_scope(SCOPE)
        .clock(Arc::new(c.clone()))
        .build()
        .unwrap();
    let resp = pipeline
        .send(client_core::Request::get(
            server.url("/api").parse().unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    token_mock.assert_calls_async(2).await;
    api_401.assert_calls_async(1).await;
    api_ok.assert_calls_async(1).await;
}

#[tokio::test]
async fn callers_get_the_valid_token_while_another_refreshes_it() {
    let c = clock();
    let (inner, cred) = cached(&c);
    inner.push_ok("old", START + Duration::from_secs(3600));
    cred.get_token(&[SCOPE]).await.unwrap();
    c.advance(Duration::from_secs(58 * 60)); // due for refresh, still valid
    inner.push_ok("new", START + Duration::from_secs(2 * 3600));
    let (refresher, other) = tokio::join!(cred.get_token(&[SCOPE]), async {
        // Start after the refresh has begun (it yields while "on the wire").
        tokio::task::yield_now().await;
        cred.get_token(&[SCOPE]).await
    });
    assert_eq!(refresher.unwrap().token.expose(), "new");
    assert_eq!(other.unwrap().token.expose(), "old");
    assert_eq!(inner.calls(), 2);
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "new"
    );
}

#[tokio::test]
async fn callers_waiting_for_a_failed_request_share_its_error_instead_of_retrying_one_by_one() {
    // A wrong secret or an identity provider that is down: the callers that queued behind the
    // one request get its answer; they must not each ask again in turn.
    let c = clock();
    let (inner, cred) = cached(&c);
    let cred = Arc::new(cred);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cred = cred.clone();
            tokio::spawn(async move { cred.get_token(&[SCOPE]).await })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert_eq!(e.message(), "script exhausted");
    }
    assert_eq!(inner.calls(), 1);
    // The failure is not cached: the next caller asks again.
    inner.push_ok("later", START + Duration::from_secs(3600));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "later"
    );
    assert_eq!(inner.calls(), 2);
}

/// Never answers its first request; answers the others.
#[derive(Debug, Default)]
struct HangsOnce {
    calls: AtomicUsize,
}

#[async_trait]
impl TokenCredential for HangsOnce {
    async fn get_token(&self, _scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        Ok(AccessToken::new(
            "after-cancel",
            START + Duration::from_secs(3600),
        ))
    }
}

#[tokio::test(start_paused = true)]
async fn a_caller_dropped_mid_request_does_not_wedge_the_others() {
    let c = clock();
    let inner = Arc::new(HangsOnce::default());
    let cred = Arc::new(CachedCredential::new(inner.clone(), Arc::new(c.clone())));
    let first = tokio::spawn({
        let cred = cred.clone();
        async move { cred.get_token(&[SCOPE]).await }
    });
    let second = tokio::spawn({
        let cred = cred.clone();
        async move { cred.get_token(&[SCOPE]).await }
    });
    // Let the first start its request and the second queue behind it.
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    first.abort();
    // With paused time, a wedged caller would hit this timeout at once instead of hanging.
    let t = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the waiting caller is not wedged")
        .unwrap()
        .unwrap();
    assert_eq!(t.token.expose(), "after-cancel");
    assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
}

//! Pipeline behaviour through the in-process mock transport: no sockets, virtual time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use client_core::mock::{MockReply, MockTransport, reply, with_header};
use client_core::{
    AccessToken, CredentialError, Error, ManualClock, Pipeline, Request, RetryPolicy,
    StaticTokenCredential, TokenCredential, TransportError, async_trait,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use time::macros::datetime;

const SCOPE: &str = "https://org.crm.dynamics.com/.default";
const URL: &str = "https://org.crm.dynamics.com/api/data/v9.2/bots";

fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-03-01 12:00 UTC))
}

fn pipeline(clock: &ManualClock, mock: &Arc<MockTransport>) -> Pipeline {
    Pipeline::builder()
        .credential(Arc::new(StaticTokenCredential::new(AccessToken::new(
            "tok-1",
            datetime!(2026-03-01 13:00 UTC),
        ))))
        .default_scope(SCOPE)
        .clock(Arc::new(clock.clone()))
        .transport(mock.clone())
        .build()
        .unwrap()
}

fn get() -> Request {
    Request::get(URL.parse().unwrap())
}

#[tokio::test]
async fn every_attempt_carries_bearer_agent_and_the_same_client_request_id() {
    let mock = Arc::new(MockTransport::script([
        reply(503, "{}").into(),
        with_header(reply(200, "{}"), "x-ms-service-request-id", "svc-9").into(),
    ]));
    let clock = clock();
    let resp = pipeline(&clock, &mock).send(get()).await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.attempts()), (200, 2));
    assert_eq!(resp.request_id(), Some("svc-9"));
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.header("authorization"), Some("Bearer tok-1"));
        assert!(
            r.header("user-agent")
                .unwrap()
                .starts_with("copilot-connector-sdk/")
        );
        assert_eq!(
            r.header("x-ms-client-request-id"),
            Some(resp.client_request_id())
        );
        assert_eq!(r.url(), URL);
    }
    // The token is hidden from Debug even though the mock recorded it.
    assert!(!format!("{seen:?}").contains("tok-1"));
}

#[tokio::test]
async fn retry_after_on_a_429_is_waited_on_the_clock() {
    let mock = Arc::new(MockTransport::script([
        with_header(reply(429, "{}"), "Retry-After", "7").into(),
        reply(200, "{}").into(),
    ]));
    let clock = clock();
    pipeline(&clock, &mock).send(get()).await.unwrap();
    assert!(
        clock.total_slept() >= Duration::from_secs(7),
        "{:?}",
        clock.sleeps()
    );
}

#[tokio::test]
async fn gives_up_after_max_attempts_with_the_service_error() {
    let mock = Arc::new(MockTransport::new(|_| {
        reply(503, r#"{"error":{"code":"0x8005F103","message":"busy"}}"#).into()
    }));
    let clock = clock();
    let p = Pipeline::builder()
        .transport(mock.clone())
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::default().with_max_attempts(3))
        .build()
        .unwrap();
    let err = p.send(get().without_auth()).await.unwrap_err();
    assert_eq!(mock.request_count(), 3);
    assert_eq!(err.status(), Some(503));
    let service = err.service().unwrap();
    assert_eq!(
        (service.code(), service.message()),
        (Some("0x8005F103"), Some("busy"))
    );
    assert!(service.client_request_id().is_some());
    assert!(err.is_retryable() && !err.is_authentication());
}

#[tokio::test(start_paused = true)]
async fn a_post_that_hangs_times_out_once_and_a_get_is_retried() {
    let mock = Arc::new(MockTransport::new(|_| MockReply::Hang));
    let clock = clock();
    let p = Pipeline::builder()
        .transport(mock.clone())
        .clock(Arc::new(clock.clone()))
        .attempt_timeout(Duration::from_secs(5))
        .retry_policy(RetryPolicy::default().with_max_attempts(3))
        .build()
        .unwrap();
    let err = p
        .send(Request::post(URL.parse().unwrap()).without_auth())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert_eq!(mock.request_count(), 1);
    let err = p.send(get().without_auth()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert_eq!(mock.request_count(), 4);
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_post_but_a_lost_one_is_not() {
    let mock = Arc::new(MockTransport::script([
        TransportError::connect("connection refused").into(),
        reply(201, "{}").into(),
        TransportError::after_send("connection reset").into(),
    ]));
    let clock = clock();
    let p = pipeline(&clock, &mock);
    let post = || Request::post(URL.parse().unwrap()).json(&serde_json::json!({"a": 1}));
    assert_eq!(p.send(post()).await.unwrap().status(), 201);
    assert_eq!(mock.requests()[1].body().as_ref(), br#"{"a":1}"#);
    let err = p.send(post()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport(t) if !t.is_connect() && t.message() == "connection reset" && t.host() == Some("org.crm.dynamics.com")),
        "{err}"
    );
    assert_eq!(mock.request_count(), 3);
}

#[derive(Debug, Default)]
struct Rotating {
    issued: AtomicUsize,
    invalidated: AtomicUsize,
}

#[async_trait]
impl TokenCredential for Rotating {
    async fn get_token(&self, _scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(
            format!("tok-{n}"),
            datetime!(2026-03-01 13:00 UTC),
        ))
    }

    async fn invalidate(&self, _scopes: &[&str], _token: &AccessToken) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once_with_a_fresh_one() {
    let mock = Arc::new(MockTransport::new(|req| {
        let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
        if auth == "Bearer tok-0" {
            reply(401, "{}").into()
        } else {
            reply(200, "{}").into()
        }
    }));
    let cred = Arc::new(Rotating::default());
    let p = Pipeline::builder()
        .credential(cred.clone())
        .default_scope(SCOPE)
        .transport(mock.clone())
        .clock(Arc::new(clock()))
        .build()
        .unwrap();
    assert_eq!(p.send(get()).await.unwrap().attempts(), 1);
    assert_eq!(cred.invalidated.load(Ordering::SeqCst), 1);
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test]
async fn a_429_holds_later_requests_to_that_server() {
    let mock = Arc::new(MockTransport::script([
        with_header(reply(429, "{}"), "Retry-After", "30").into(),
        reply(200, "{}").into(),
        reply(200, "{}").into(),
    ]));
    let clock = clock();
    let p = Pipeline::builder()
        .transport(mock.clone())
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(
        p.send(get().without_auth())
            .await
            .unwrap_err()
            .is_throttled()
    );
    p.send(get().without_auth()).await.unwrap();
    assert!(
        clock.total_slept() >= Duration::from_secs(30),
        "{:?}",
        clock.sleeps()
    );
}

#[tokio::test]
async fn bad_urls_never_reach_the_transport() {
    let mock = Arc::new(MockTransport::new(|_| reply(200, "{}").into()));
    let p = pipeline(&clock(), &mock);
    let err = p
        .send(Request::get(
            "http://org.crm.dynamics.com/x".parse().unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert_eq!(mock.request_count(), 0);
}

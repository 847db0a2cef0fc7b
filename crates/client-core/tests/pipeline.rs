//! HTTP behaviour of the pipeline against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use client_core::{
    AccessToken, CredentialError, Error, ManualClock, Pipeline, Request, RetryBudget, RetryPolicy,
    StaticTokenCredential, TokenCredential, async_trait,
};
use httpmock::prelude::*;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use time::macros::datetime;

const SCOPE: &str = "https://org.crm.dynamics.com/.default";

fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-03-01 12:00 UTC))
}

fn token(s: &str) -> AccessToken {
    AccessToken::new(s, datetime!(2026-03-01 13:00 UTC))
}

fn pipeline(clock: &ManualClock, policy: RetryPolicy) -> Pipeline {
    Pipeline::builder()
        .credential(Arc::new(StaticTokenCredential::new(token("tok-1"))))
        .default_scope(SCOPE)
        .clock(Arc::new(clock.clone()))
        .retry_policy(policy)
        .build()
        .unwrap()
}

/// Matches the first `n` requests it is asked about, then no more (httpmock evaluates the
/// first-registered mock first, once per request).
fn first(n: usize) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    let seen = AtomicUsize::new(0);
    move |_| seen.fetch_add(1, Ordering::SeqCst) < n
}

/// A mock answering `path` with 429 and `Retry-After: secs`.
async fn throttled_path<'a>(server: &'a MockServer, path: &str, secs: u64) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.path(path);
            then.status(429)
                .header("Retry-After", secs.to_string())
                .body("{}");
        })
        .await
}

/// A mock answering `path` with 200 and an empty JSON object.
async fn ok_path<'a>(server: &'a MockServer, path: &str) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.path(path);
            then.status(200).body("{}");
        })
        .await
}

fn url(server: &MockServer, path: &str) -> url::Url {
    server.url(path).parse().unwrap()
}

#[tokio::test]
async fn adds_bearer_user_agent_and_client_request_id_and_records_request_id() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/data/v9.2/WhoAmI")
                .header("authorization", "Bearer tok-1")
                .header_exists("x-ms-client-request-id")
                .header_exists("user-agent")
                .header("accept", "application/json");
            then.status(200)
                .header("x-ms-service-request-id", "srv-42")
                .body(r#"{"UserId":"u"}"#);
        })
        .await;
    let c = clock();
    let resp = pipeline(&c, RetryPolicy::default())
        .send(
            Request::get(url(&server, "/api/data/v9.2/WhoAmI"))
                .header("accept", "application/json"),
        )
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(resp.request_id(), Some("srv-42"));
    assert_eq!(resp.attempts(), 1);
    assert!(!resp.client_request_id().is_empty());
    let v: serde_json::Value = resp.json().unwrap();
    assert_eq!(v["UserId"], "u");
}

#[tokio::test]
async fn honours_retry_after_seconds_on_429() {
    let server = MockServer::start_async().await;
    let throttled = server
        .mock_async(|when, then| {
            when.path("/rows").is_true(first(1));
            then.status(429)
                .header("Retry-After", "2")
                .body(r#"{"error":{"code":"-2147015902","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}"#);
        })
        .await;
    let ok = ok_path(&server, "/rows").await;
    let c = clock();
    let resp = pipeline(&c, RetryPolicy::default())
        .send(Request::get(url(&server, "/rows")))
        .await
        .unwrap();
    assert_eq!(resp.attempts(), 2);
    assert_eq!(throttled.calls_async().await, 1);
    assert_eq!(ok.calls_async().await, 1);
    assert!(
        c.total_slept() >= Duration::from_secs(2),
        "slept {:?}",
        c.sleeps()
    );
}

#[tokio::test]
async fn retries_503_then_succeeds_and_resends_the_body_intact() {
    let server = MockServer::start_async().await;
    let body = r#"{"name":"a \"quoted\" bot","n":1}"#;
    let failing = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/create")
                .body(body)
                .is_true(first(1));
            then.status(503);
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.method(POST).path("/create").body(body);
            then.status(204);
        })
        .await;
    let c = clock();
    let resp = pipeline(&c, RetryPolicy::default())
        .send(Request::post(url(&server, "/create")).body(body, "application/json"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(failing.calls_async().await, 1);
    assert_eq!(ok.calls_async().await, 1);
    assert_eq!(c.sleeps().len(), 1);
}

#[tokio::test]
async fn gives_up_after_max_attempts_with_a_typed_error() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/busy");
            then.status(503)
                .header("x-ms-request-id", "r-1")
                .body(r#"{"error":{"code":"0x80040216","message":"busy"}}"#);
        })
        .await;
    let c = clock();
    let err = pipeline(&c, RetryPolicy::default().with_max_attempts(3))
        .send(Request::get(url(&server, "/busy")))
        .await
        .unwrap_err();
    assert_eq!(m.calls_async().await, 3);
    assert_eq!(c.sleeps().len(), 2);
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable() && !err.is_throttled());
    let s = err.service().unwrap();
    assert_eq!(s.code(), Some("0x80040216"));
    assert_eq!(s.message(), Some("busy"));
    assert_eq!(err.request_id(), Some("r-1"));
}

#[tokio::test]
async fn does_not_retry_when_retry_after_passes_the_elapsed_limit() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/slow-down");
            then.status(429).header("Retry-After", "400");
        })
        .await;
    let c = clock();
    let err = pipeline(
        &c,
        RetryPolicy::default().with_max_elapsed(Duration::from_secs(300)),
    )
    .send(Request::get(url(&server, "/slow-down")))
    .await
    .unwrap_err();
    assert_eq!(m.calls_async().await, 1);
    assert!(err.is_throttled());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(400)));
    assert!(c.sleeps().is_empty());
}

#[tokio::test]
async fn clamps_retry_after_to_the_ceiling() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/x").is_true(first(1));
            then.status(429).header("Retry-After", "1000");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/x");
            then.status(200);
        })
        .await;
    let c = clock();
    let policy = RetryPolicy::default()
        .with_retry_after_ceiling(Duration::from_secs(10))
        .with_max_elapsed(Duration::from_secs(3600));
    pipeline(&c, policy)
        .send(Request::get(url(&server, "/x")))
        .await
        .unwrap();
    assert_eq!(c.sleeps(), vec![Duration::from_secs(10)]);
}

#[tokio::test]
async fn retry_budget_stops_retries_when_exhausted() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/down");
            then.status(500);
        })
        .await;
    let c = clock();
    let p = Pipeline::builder()
        .clock(Arc::new(c.clone()))
        .retry_budget(RetryBudget::new(1, 0.1))
        .build()
        .unwrap();
    let first_err = p
        .send(Request::get(url(&server, "/down")).without_auth())
        .await
        .unwrap_err();
    assert_eq!(first_err.status(), Some(500));
    assert_eq!(m.calls_async().await, 2, "one retry from the budget");
    p.send(Request::get(url(&server, "/down")).without_auth())
        .await
        .unwrap_err();
    assert_eq!(m.calls_async().await, 3, "budget empty: no retry");
}

#[derive(Debug, Default)]
struct RotatingCredential {
    calls: AtomicUsize,
    invalidated: Mutex<Vec<String>>,
}

#[async_trait]
impl TokenCredential for RotatingCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        assert_eq!(scopes, [SCOPE]);
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let invalidated = self.invalidated.lock().unwrap().len();
        let _ = n;
        Ok(token(if invalidated == 0 { "stale" } else { "fresh" }))
    }

    async fn invalidate(&self, _scopes: &[&str], token: &AccessToken) {
        self.invalidated
            .lock()
            .unwrap()
            .push(token.token.expose().to_owned());
    }
}

#[tokio::test]
async fn a_401_gets_exactly_one_fresh_token_and_one_retry() {
    let server = MockServer::start_async().await;
    let stale = server
        .mock_async(|when, then| {
            when.path("/rows").header("authorization", "Bearer stale");
            then.status(401).header("www-authenticate", "Bearer");
        })
        .await;
    let fresh = server
        .mock_async(|when, then| {
            when.path("/rows").header("authorization", "Bearer fresh");
            then.status(200);
        })
        .await;
    let cred = Arc::new(RotatingCredential::default());
    let p = Pipeline::builder()
        .credential(cred.clone())
        .default_scope(SCOPE)
        .build()
        .unwrap();
    let resp = p.send(Request::get(url(&server, "/rows"))).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(cred.calls.load(Ordering::SeqCst), 2);
    assert_eq!(*cred.invalidated.lock().unwrap(), vec!["stale".to_owned()]);
    assert_eq!(stale.calls_async().await, 1);
    assert_eq!(fresh.calls_async().await, 1);
}

#[tokio::test]
async fn a_second_401_is_returned_not_retried_again() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/rows");
            then.status(401)
                .body(r#"{"error":{"code":"0x80040220","message":"token audience is wrong"}}"#);
        })
        .await;
    let cred = Arc::new(RotatingCredential::default());
    let p = Pipeline::builder()
        .credential(cred.clone())
        .default_scope(SCOPE)
        .build()
        .unwrap();
    let err = p
        .send(Request::get(url(&server, "/rows")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(m.calls_async().await, 2);
    assert_eq!(cred.invalidated.lock().unwrap().len(), 1);
    assert!(!err.to_string().contains("fresh") && !err.to_string().contains("stale"));
}

#[tokio::test(start_paused = true)]
async fn a_post_that_times_out_is_not_retried() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/slow");
            then.status(200).delay(Duration::from_secs(3));
        })
        .await;
    let c = clock();
    let p = Pipeline::builder()
        .clock(Arc::new(c.clone()))
        .attempt_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = p
        .send(
            Request::post(url(&server, "/slow"))
                .without_auth()
                .body("{}", "application/json"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(
        c.sleeps().is_empty(),
        "a POST must not be retried after a timeout"
    );

    // The same with a GET is retried until the attempts run out.
    let err = p
        .send(Request::get(url(&server, "/slow")).without_auth())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)));
    assert_eq!(c.sleeps().len(), 4, "5 attempts, 4 backoffs");
}

#[tokio::test]
async fn connect_errors_are_retried_even_for_post() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = clock();
    let p = Pipeline::builder()
        .clock(Arc::new(c.clone()))
        .retry_policy(RetryPolicy::default().with_max_attempts(3))
        .build()
        .unwrap();
    let err = p
        .send(Request::post(format!("http://127.0.0.1:{port}/x").parse().unwrap()).without_auth())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport(t) if t.is_connect()),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(c.sleeps().len(), 2);
}

#[tokio::test]
async fn refuses_plain_http_to_a_remote_host() {
    let p = Pipeline::builder().build().unwrap();
    let err = p
        .send(Request::get(
            "http://org.crm.dynamics.com/x".parse().unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl(_)), "{err}");
    assert!(err.to_string().contains("https"));
}

#[tokio::test]
async fn no_token_in_debug_or_errors() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/forbidden");
            then.status(403).body(r#"{"error":{"code":"0x80040220","message":"Principal user is missing prvReadbot privilege"}}"#);
        })
        .await;
    let secret = "eyJ0eXAiOiJKV1Qi.super-secret-token";
    let p = Pipeline::builder()
        .credential(Arc::new(StaticTokenCredential::new(token(secret))))
        .default_scope(SCOPE)
        .build()
        .unwrap();
    let req = Request::get(url(&server, "/forbidden"))
        .header("authorization", format!("Bearer {secret}"));
    assert!(!format!("{req:?}").contains("super-secret"));
    assert!(!format!("{p:?}").contains("super-secret"));
    let err = p
        .send(Request::get(url(&server, "/forbidden")))
        .await
        .unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("super-secret"), "{text}");
    }
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("prvReadbot"));
}

#[tokio::test]
async fn after_a_429_other_requests_to_the_host_wait_for_retry_after() {
    let server = MockServer::start_async().await;
    let throttled = throttled_path(&server, "/a", 5).await;
    let other = ok_path(&server, "/b").await;
    let c = clock();
    let p = pipeline(&c, RetryPolicy::none());
    let err = p.send(Request::get(url(&server, "/a"))).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(c.sleeps().is_empty());
    // The next request to the same host waits out the Retry-After before it is sent...
    p.send(Request::get(url(&server, "/b"))).await.unwrap();
    assert_eq!(c.sleeps(), vec![Duration::from_secs(5)]);
    // ...and once it is over, requests go straight out again.
    p.send(Request::get(url(&server, "/b"))).await.unwrap();
    assert_eq!(c.sleeps().len(), 1);
    throttled.assert_calls_async(1).await;
    other.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_429_holds_only_the_server_that_sent_it_not_another_port_on_the_same_host() {
    let throttling = MockServer::start_async().await;
    let calm = MockServer::start_async().await;
    throttled_path(&throttling, "/a", 5).await;
    let ok = ok_path(&calm, "/b").await;
    let c = clock();
    let p = pipeline(&c, RetryPolicy::none());
    p.send(Request::get(url(&throttling, "/a")))
        .await
        .unwrap_err();
    // Both servers are 127.0.0.1; only the port differs.
    p.send(Request::get(url(&calm, "/b"))).await.unwrap();
    assert!(
        c.sleeps().is_empty(),
        "the other server was held: {:?}",
        c.sleeps()
    );
    ok.assert_calls_async(1).await;
    // The throttling server itself is still held.
    p.send(Request::get(url(&throttling, "/a")))
        .await
        .unwrap_err();
    assert_eq!(c.sleeps(), vec![Duration::from_secs(5)]);
}

#[tokio::test]
async fn an_absurd_retry_after_does_not_panic() {
    // A misbehaving proxy or service: the wait must be bounded, never an arithmetic overflow.
    let server = MockServer::start_async().await;
    // A first 503 makes time pass, so the elapsed time plus the wait would overflow.
    let busy = server
        .mock_async(|when, then| {
            when.path("/absurd").is_true(first(1));
            then.status(503).header("Retry-After", "3");
        })
        .await;
    let m = server
        .mock_async(|when, then| {
            when.path("/absurd");
            then.status(429)
                .header("Retry-After", "18446744073709551615");
        })
        .await;
    let c = clock();
    let p = pipeline(&c, RetryPolicy::default());
    let err = p
        .send(Request::get(url(&server, "/absurd")))
        .await
        .unwrap_err();
    assert!(err.is_throttled());
    assert_eq!(busy.calls_async().await, 1);
    assert_eq!(
        m.calls_async().await,
        1,
        "a day-long wait passes the elapsed limit"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(86_400)));
    // The host hold is capped by the ceiling, so the next request waits at most that long.
    server
        .mock_async(|when, then| {
            when.path("/next");
            then.status(200);
        })
        .await;
    let before = c.sleeps().len();
    p.send(Request::get(url(&server, "/next"))).await.unwrap();
    assert_eq!(c.sleeps()[before..], [Duration::from_secs(300)]);
}

#[tokio::test]
async fn retries_exactly_the_documented_statuses() {
    let server = MockServer::start_async().await;
    for status in [408u16, 429, 500, 502, 503, 504] {
        let path = format!("/retried-{status}");
        let failing = server
            .mock_async(|when, then| {
                when.path(path.as_str()).is_true(first(1));
                then.status(status);
            })
            .await;
        let ok = server
            .mock_async(|when, then| {
                when.path(path.as_str());
                then.status(200);
            })
            .await;
        let c = clock();
        let resp = pipeline(&c, RetryPolicy::default())
            .send(Request::get(url(&server, &path)).without_auth())
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(resp.attempts(), 2, "{status} is retried");
        failing.assert_calls_async(1).await;
        ok.assert_calls_async(1).await;
    }
    for status in [400u16, 401, 403, 404, 409, 412, 501, 505] {
        let path = format!("/final-{status}");
        let m = server
            .mock_async(|when, then| {
                when.path(path.as_str());
                then.status(status);
            })
            .await;
        let c = clock();
        let err = pipeline(&c, RetryPolicy::default())
            .send(Request::get(url(&server, &path)).without_auth())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status));
        m.assert_calls_async(1).await;
        assert!(c.sleeps().is_empty(), "{status} is not retried");
    }
}

/// A loopback HTTP server that holds every request for one (virtual) second and records how
/// many were in flight at once.
async fn counting_server() -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let (now, max) = (in_flight.clone(), max_seen.clone());
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (now, max) = (now.clone(), max.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                sock.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                )
                .await
                .unwrap();
            });
        }
    });
    (port, in_flight, max_seen)
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_limited_per_pipeline() {
    let (port, _, max_seen) = counting_server().await;
    let p = Pipeline::builder().max_concurrency(2).build().unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let p = p.clone();
            let u: url::Url = format!("http://127.0.0.1:{port}/r{i}").parse().unwrap();
            tokio::spawn(async move { p.send(Request::get(u).without_auth()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        max_seen.load(Ordering::SeqCst),
        2,
        "clones share the limit of 2"
    );
}

#[tokio::test]
async fn a_response_debug_does_not_show_its_body() {
    // Token endpoints answer with the token in the body: printing a response must not leak it.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/token");
            then.status(200)
                .header("x-ms-request-id", "rid-9")
                .body(r#"{"access_token":"eyJ-body-secret","expires_in":3599}"#);
        })
        .await;
    let c = clock();
    let resp = pipeline(&c, RetryPolicy::default())
        .send(Request::post(url(&server, "/token")).without_auth())
        .await
        .unwrap();
    let d = format!("{resp:?} {resp:#?}");
    assert!(!d.contains("eyJ-body-secret"), "{d}");
    assert!(
        d.contains("200") && d.contains("rid-9") && d.contains("body_len"),
        "{d}"
    );
}

#[derive(Debug)]
struct Unavailable;

#[async_trait]
impl TokenCredential for Unavailable {
    async fn get_token(&self, _scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        Err(CredentialError::new(
            client_core::CredentialErrorKind::Unavailable,
            "identity provider down",
        ))
    }
}

#[tokio::test]
async fn credential_and_decode_failures_are_typed() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/rows");
            then.status(200).body("<html>not json</html>");
        })
        .await;
    let c = clock();
    let p = Pipeline::builder()
        .credential(Arc::new(Unavailable))
        .default_scope(SCOPE)
        .clock(Arc::new(c.clone()))
        .build()
        .unwrap();
    let err = p
        .send(Request::get(url(&server, "/rows")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Credential(_)), "{err:?}");
    assert!(err.is_retryable() && err.status().is_none());
    assert!(err.to_string().contains("identity provider down"), "{err}");
    m.assert_calls_async(0).await;

    let resp = pipeline(&c, RetryPolicy::default())
        .send(Request::get(url(&server, "/rows")))
        .await
        .unwrap();
    let err = resp.json::<serde_json::Value>().unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("/rows"), "{err}");
}

/// A loopback "proxy" that records the first line of each request and refuses it.
async fn recording_proxy() -> (url::Url, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(sock);
            let mut line = String::new();
            let _ = reader.read_line(&mut line).await;
            seen.lock().unwrap().push(line.trim_end().to_owned());
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    (format!("http://127.0.0.1:{port}").parse().unwrap(), lines)
}

#[tokio::test]
async fn remote_hosts_go_through_the_proxy_and_loopback_does_not() {
    let (proxy, lines) = recording_proxy().await;
    let p = Pipeline::builder()
        .proxy(proxy)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    // A remote host: tunnelled through the proxy (which refuses, so nothing leaves this host).
    let err = p
        .send(
            Request::get(
                "https://org.crm.dynamics.com/api/data/v9.2/WhoAmI"
                    .parse()
                    .unwrap(),
            )
            .without_auth(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(
        *lines.lock().unwrap(),
        ["CONNECT org.crm.dynamics.com:443 HTTP/1.1"]
    );
    // Loopback: straight to the server, never through the proxy.
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/local");
            then.status(200);
        })
        .await;
    p.send(Request::get(url(&server, "/local")).without_auth())
        .await
        .unwrap();
    m.assert_calls_async(1).await;
    assert_eq!(lines.lock().unwrap().len(), 1);
    // The proxy's credentials are not shown.
    let b = Pipeline::builder().proxy("http://user:pr0xy-pw@127.0.0.1:3128".parse().unwrap());
    assert!(!format!("{b:?}").contains("pr0xy-pw"));
}

#[tokio::test]
async fn a_request_queued_for_a_slot_during_a_429_waits_for_retry_after_too() {
    // With one slot, B queues behind A. A is answered 429 with Retry-After: B, which was
    // already past the throttle check, must still not reach the host before the wait is over.
    let server = MockServer::start_async().await;
    let a = server
        .mock_async(|when, then| {
            when.path("/a");
            then.status(429).header("Retry-After", "5");
        })
        .await;
    let b = server
        .mock_async(|when, then| {
            when.path("/b");
            then.status(200);
        })
        .await;
    let c = clock();
    let p = Pipeline::builder()
        .credential(Arc::new(StaticTokenCredential::new(token("tok-1"))))
        .default_scope(SCOPE)
        .clock(Arc::new(c.clone()))
        .retry_policy(RetryPolicy::none())
        .max_concurrency(1)
        .build()
        .unwrap();
    let first = tokio::spawn({
        let p = p.clone();
        let u = url(&server, "/a");
        async move { p.send(Request::get(u)).await }
    });
    let second = tokio::spawn({
        let p = p.clone();
        let u = url(&server, "/b");
        async move { p.send(Request::get(u)).await }
    });
    assert!(first.await.unwrap().unwrap_err().is_throttled());
    second.await.unwrap().unwrap();
    a.assert_calls_async(1).await;
    b.assert_calls_async(1).await;
    assert_eq!(c.sleeps(), [Duration::from_secs(5)]);
}

/// A clock that never moves, even when slept on.
#[derive(Debug)]
struct FrozenClock;

impl client_core::Clock for FrozenClock {
    fn now(&self) -> time::OffsetDateTime {
        datetime!(2026-03-01 12:00 UTC)
    }
    fn sleep(&self, _: Duration) -> client_core::SleepFuture {
        Box::pin(std::future::ready(()))
    }
}

#[test]
fn a_clock_that_does_not_move_cannot_make_a_held_host_spin_forever() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = MockServer::start_async().await;
            server
                .mock_async(|when, then| {
                    when.path("/a");
                    then.status(429).header("Retry-After", "5");
                })
                .await;
            server
                .mock_async(|when, then| {
                    when.path("/b");
                    then.status(200);
                })
                .await;
            let p = Pipeline::builder()
                .clock(Arc::new(FrozenClock))
                .retry_policy(RetryPolicy::none())
                .build()
                .unwrap();
            let _ = p
                .send(Request::get(url(&server, "/a")).without_auth())
                .await;
            // The hold never ends by this clock: the request still goes out after a few waits.
            p.send(Request::get(url(&server, "/b")).without_auth())
                .await
                .unwrap();
        });
        done.send(()).unwrap();
    });
    // Only a spinning pipeline makes this wait for real.
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the second request completes");
}

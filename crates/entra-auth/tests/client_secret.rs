//! ClientSecretCredential against httpmock: the form it sends, the token it returns, and each
//! mapped Entra error.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{CredentialErrorKind, TokenCredential};
use common::*;
use entra_auth::{ClientSecretCredential, EntraError};
use httpmock::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SECRET: &str = "Xy7~s3cr3t-VALUE.abc";

#[tokio::test]
async fn sends_the_client_credentials_form_and_returns_the_token() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .header("content-type", "application/x-www-form-urlencoded")
                .header_missing("authorization")
                .form_urlencoded_tuple("client_id", CLIENT_ID)
                .form_urlencoded_tuple("scope", SCOPE)
                .form_urlencoded_tuple("grant_type", "client_credentials")
                .form_urlencoded_tuple("client_secret", SECRET)
                .form_urlencoded_tuple_missing("client_assertion");
            then.status(200).body(token_body("tok-1", 3599));
        })
        .await;
    let c = clock();
    let cred =
        ClientSecretCredential::new(TENANT, CLIENT_ID, SECRET, options(&server, &c)).unwrap();
    let t = cred.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(t.token.expose(), "tok-1");
    assert_eq!(t.expires_on, START + Duration::from_secs(3599));
    // Cached: a second call makes no request.
    let t2 = cred.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(t2, t);
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn each_mapped_entra_error_becomes_a_typed_error_with_a_hint() {
    type Is = fn(&EntraError) -> bool;
    let cases: [(&str, u32, u16, Is); 10] = [
        ("invalid_client", 7000215, 401, |e| {
            matches!(e, EntraError::InvalidClientSecret(_))
        }),
        ("invalid_client", 7000222, 401, |e| {
            matches!(e, EntraError::ExpiredClientSecret(_))
        }),
        ("unauthorized_client", 700016, 400, |e| {
            matches!(e, EntraError::ApplicationNotFound(_))
        }),
        ("invalid_request", 90002, 400, |e| {
            matches!(e, EntraError::TenantNotFound(_))
        }),
        ("invalid_request", 900023, 400, |e| {
            matches!(e, EntraError::InvalidTenant(_))
        }),
        ("invalid_client", 700024, 401, |e| {
            matches!(e, EntraError::AssertionOutsideValidTime(_))
        }),
        ("invalid_client", 700027, 401, |e| {
            matches!(e, EntraError::InvalidAssertionSignature(_))
        }),
        ("invalid_client", 7000218, 401, |e| {
            matches!(e, EntraError::MissingClientCredential(_))
        }),
        ("invalid_scope", 70011, 400, |e| {
            matches!(e, EntraError::InvalidScope(_))
        }),
        ("invalid_client", 70021, 401, |e| {
            matches!(e, EntraError::NoMatchingFederatedCredential(_))
        }),
    ];
    for (error, code, status, is) in cases {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(POST).path(token_path());
                then.status(status).body(entra_error(error, code));
            })
            .await;
        let c = clock();
        let cred =
            ClientSecretCredential::new(TENANT, CLIENT_ID, SECRET, options(&server, &c)).unwrap();
        let e = cred.get_token(&[SCOPE]).await.unwrap_err();
        // Not retried: a refusal is final.
        m.assert_calls_async(1).await;
        let entra = e.downcast_ref::<EntraError>().unwrap();
        assert!(is(entra), "{code}: {entra:?}");
        assert_eq!(entra.error_codes(), &[code]);
        assert_eq!(entra.trace_id(), Some("trace-abc"));
        assert_eq!(entra.correlation_id(), Some("corr-def"));
        assert_eq!(e.code(), Some(format!("{error}/{code}").as_str()));
        assert!(e.hint().is_some(), "{code} has a hint");
        assert!(!e.is_retryable());
        let text = e.to_string();
        assert!(
            text.contains("hint:") && text.contains(&format!("AADSTS{code}")),
            "{text}"
        );
        assert!(!text.contains(SECRET) && !format!("{e:?}").contains(SECRET));
        if code == 7000215 {
            assert!(text.contains("not its Secret ID"), "{text}");
        }
    }
}

#[tokio::test]
async fn failures_are_not_cached_and_5xx_is_retried() {
    let server = MockServer::start_async().await;
    let c = clock();
    let cred =
        ClientSecretCredential::new(TENANT, CLIENT_ID, SECRET, options(&server, &c)).unwrap();
    let failing = server
        .mock_async(|when, then| {
            when.method(POST).path(token_path());
            then.status(503)
                .body(r#"{"error":"temporarily_unavailable","error_codes":[]}"#);
        })
        .await;
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Unavailable);
    assert!(e.is_retryable());
    failing.assert_calls_async(3).await; // the policy's 3 attempts
    failing.delete_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.method(POST).path(token_path());
            then.status(200).body(token_body("tok-2", 3600));
        })
        .await;
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "tok-2"
    );
    ok.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_success_without_a_token_is_an_invalid_response() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(token_path());
            then.status(200)
                .body(r#"{"token_type":"Bearer","expires_in":3599}"#);
        })
        .await;
    let c = clock();
    let cred =
        ClientSecretCredential::new(TENANT, CLIENT_ID, SECRET, options(&server, &c)).unwrap();
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidResponse);
}

#[test]
fn refuses_bad_configuration_up_front() {
    let o = entra_auth::CredentialOptions::default();
    let e = ClientSecretCredential::new("a/b", CLIENT_ID, SECRET, o.clone()).unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
    let e = ClientSecretCredential::new(TENANT, CLIENT_ID, "", o.clone()).unwrap_err();
    assert!(e.message().contains("empty"));
    let e = ClientSecretCredential::new(
        TENANT,
        CLIENT_ID,
        SECRET,
        o.with_authority_host("http://login.example.com/".parse().unwrap()),
    )
    .unwrap_err();
    assert!(e.message().contains("http"), "{e}");
}

/// A token endpoint on loopback, in this runtime (so paused time applies to it too): the first
/// request is answered only after a minute, later ones at once. Returns its URL and how many
/// requests it has seen.
async fn slow_then_fast_token_endpoint() -> (url::Url, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then the form body (its length is small: read until it arrives).
                while !String::from_utf8_lossy(&buf).contains("grant_type=") {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let i = count.fetch_add(1, Ordering::SeqCst);
                if i == 0 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let body = token_body(&format!("tok-{i}"), 3600);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/").parse().unwrap(), seen)
}

#[tokio::test(start_paused = true)]
async fn a_token_request_that_times_out_is_retried() {
    // Asking for a client-credentials token twice is harmless, so a slow answer is retried
    // like a GET would be (the pipeline does not retry a timed-out POST by default).
    let (authority, seen) = slow_then_fast_token_endpoint().await;
    let c = clock();
    let options = entra_auth::CredentialOptions::default()
        .with_authority_host(authority)
        .with_clock(Arc::new(c.clone()))
        .with_timeout(Duration::from_secs(5));
    let cred = ClientSecretCredential::new(TENANT, CLIENT_ID, SECRET, options).unwrap();
    let t = cred.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(t.token.expose(), "tok-1");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

//! ManagedIdentityCredential: IMDS and App Service wire formats, IMDS retries and probing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{Clock, CredentialErrorKind, TokenCredential};
use common::*;
use entra_auth::{Env, ManagedIdentityCredential, ManagedIdentityId};
use httpmock::HttpMockResponse;
use httpmock::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ARM: &str = "https://management.azure.com/.default";
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";

fn mi_body(token: &str) -> String {
    // IMDS writes its numbers as strings.
    let exp = (START + time::Duration::hours(24)).unix_timestamp();
    serde_json::json!({
        "access_token": token,
        "client_id": "cid",
        "expires_in": "86399",
        "expires_on": exp.to_string(),
        "ext_expires_in": "86399",
        "not_before": START.unix_timestamp().to_string(),
        "resource": "https://management.azure.com",
        "token_type": "Bearer",
    })
    .to_string()
}

fn imds(
    server: &MockServer,
    id: ManagedIdentityId,
    c: &client_core::ManualClock,
) -> ManagedIdentityCredential {
    ManagedIdentityCredential::from_env(id, &Env::default(), options(server, c))
        .unwrap()
        .with_imds_endpoint(server.url(IMDS_PATH).parse().unwrap())
        .unwrap()
}

#[tokio::test]
async fn imds_system_assigned_wire_format_and_string_numbers() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(IMDS_PATH)
                .header("metadata", "true")
                .query_param("api-version", "2018-02-01")
                .query_param("resource", "https://management.azure.com")
                .query_param_missing("client_id")
                .query_param_missing("object_id")
                .query_param_missing("msi_res_id")
                .header_missing("authorization");
            then.status(200).body(mi_body("tok-imds"));
        })
        .await;
    let c = clock();
    let cred = imds(&server, ManagedIdentityId::SystemAssigned, &c);
    assert!(!cred.is_app_service());
    let t = cred.get_token(&[ARM]).await.unwrap();
    assert_eq!(t.token.expose(), "tok-imds");
    assert_eq!(t.expires_on, START + time::Duration::hours(24));
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn imds_user_assigned_query_parameters() {
    for (id, name, value) in [
        (
            ManagedIdentityId::ClientId("c-1".into()),
            "client_id",
            "c-1",
        ),
        (
            ManagedIdentityId::ObjectId("o-1".into()),
            "object_id",
            "o-1",
        ),
        (
            ManagedIdentityId::ResourceId("/subscriptions/s/rg/x".into()),
            "msi_res_id",
            "/subscriptions/s/rg/x",
        ),
    ] {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(GET)
                    .path(IMDS_PATH)
                    .query_param(name, value)
                    .query_param("api-version", "2018-02-01");
                then.status(200).body(mi_body("tok-ua"));
            })
            .await;
        let c = clock();
        imds(&server, id, &c).get_token(&[ARM]).await.unwrap();
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn imds_retries_404_410_429_and_500_with_backoff() {
    let server = MockServer::start_async().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    server
        .mock_async(move |when, then| {
            when.method(GET).path(IMDS_PATH);
            then.respond_with(move |_| {
                let status = [404, 410, 429, 500, 200][n.fetch_add(1, Ordering::SeqCst).min(4)];
                let body = if status == 200 {
                    mi_body("tok-after-retries")
                } else {
                    "{}".into()
                };
                HttpMockResponse::builder()
                    .status(status)
                    .body(body)
                    .build()
            });
        })
        .await;
    let c = clock();
    let cred = imds(&server, ManagedIdentityId::SystemAssigned, &c);
    let t = cred.get_token(&[ARM]).await.unwrap();
    assert_eq!(t.token.expose(), "tok-after-retries");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // A (virtual) wait before each retry.
    assert_eq!(c.sleeps().len(), 4, "{:?}", c.sleeps());
}

#[tokio::test]
async fn imds_gives_up_after_the_retry_policy_as_unavailable() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path(IMDS_PATH);
            then.status(503).body(r#"{"error":"busy"}"#);
        })
        .await;
    let c = clock();
    let cred = imds(&server, ManagedIdentityId::SystemAssigned, &c);
    let e = cred.get_token(&[ARM]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Unavailable);
    // The probe, then the retry policy's 8 attempts, all within its 2 minutes (virtual).
    m.assert_calls_async(9).await;
    assert!(
        c.total_slept() <= Duration::from_secs(121),
        "{:?}",
        c.total_slept()
    );
}

#[tokio::test]
async fn no_imds_is_not_configured_and_400_is_no_identity() {
    // A port nothing listens on: connection refused, as on a machine without IMDS.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = clock();
    let cred = ManagedIdentityCredential::from_env(
        ManagedIdentityId::SystemAssigned,
        &Env::default(),
        entra_auth::CredentialOptions::default().with_clock(Arc::new(c.clone())),
    )
    .unwrap()
    .with_imds_endpoint(
        format!("http://127.0.0.1:{port}{IMDS_PATH}")
            .parse()
            .unwrap(),
    )
    .unwrap();
    let e = cred.get_token(&[ARM]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::NotConfigured, "{e}");
    assert!(c.sleeps().is_empty(), "the probe is not retried");

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(IMDS_PATH);
            then.status(400)
                .body(r#"{"error":"invalid_request","error_description":"Identity not found"}"#);
        })
        .await;
    let e = imds(&server, ManagedIdentityId::ClientId("nope".into()), &c)
        .get_token(&[ARM])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::NotConfigured);
    assert!(e.message().contains("Identity not found"), "{e}");
}

#[tokio::test]
async fn one_scope_only() {
    let server = MockServer::start_async().await;
    let c = clock();
    let e = imds(&server, ManagedIdentityId::SystemAssigned, &c)
        .get_token(&[ARM, SCOPE])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
}

#[tokio::test]
async fn app_service_wire_format() {
    for (id, name, value) in [
        (ManagedIdentityId::SystemAssigned, None, ""),
        (
            ManagedIdentityId::ClientId("c-2".into()),
            Some("client_id"),
            "c-2",
        ),
        (
            ManagedIdentityId::ObjectId("o-2".into()),
            Some("principal_id"),
            "o-2",
        ),
        (
            ManagedIdentityId::ResourceId("/subs/r".into()),
            Some("mi_res_id"),
            "/subs/r",
        ),
    ] {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                let w = when
                    .method(GET)
                    .path("/msi/token")
                    .header("x-identity-header", "identity-header-secret")
                    .header_missing("metadata")
                    .query_param("api-version", "2019-08-01")
                    .query_param("resource", "https://management.azure.com")
                    .query_param_missing("msi_res_id")
                    .query_param_missing("object_id");
                match name {
                    Some(n) => w.query_param(n, value),
                    None => w
                        .query_param_missing("client_id")
                        .query_param_missing("principal_id")
                        .query_param_missing("mi_res_id"),
                };
                then.status(200).body(mi_body("tok-app-service"));
            })
            .await;
        let env = Env::from_pairs([
            ("IDENTITY_ENDPOINT", server.url("/msi/token")),
            ("IDENTITY_HEADER", "identity-header-secret".to_owned()),
        ]);
        let c = clock();
        let cred = ManagedIdentityCredential::from_env(id, &env, options(&server, &c)).unwrap();
        assert!(cred.is_app_service());
        assert!(!format!("{cred:?}").contains("identity-header-secret"));
        let t = cred.get_token(&[ARM]).await.unwrap();
        assert_eq!(t.token.expose(), "tok-app-service");
        m.assert_calls_async(1).await;
    }
}

#[test]
fn app_service_endpoint_must_be_local_or_https() {
    let env = Env::from_pairs([
        ("IDENTITY_ENDPOINT", "http://10.0.0.1/msi/token"),
        ("IDENTITY_HEADER", "h"),
    ]);
    let e = ManagedIdentityCredential::from_env(
        ManagedIdentityId::SystemAssigned,
        &env,
        Default::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
}

#[tokio::test]
async fn imds_updating_410_is_retried_for_at_least_70_seconds() {
    // IMDS answers 410 while it is being updated and is back within about 70 s: however the
    // backoff's jitter falls, the credential must still be asking when it comes back.
    for back_after in [30u64, 70] {
        let server = MockServer::start_async().await;
        let c = clock();
        let now = c.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path(IMDS_PATH);
                then.respond_with(move |_| {
                    let updating = now.now() < START + Duration::from_secs(back_after);
                    HttpMockResponse::builder()
                        .status(if updating { 410 } else { 200 })
                        .body(if updating {
                            "{}".into()
                        } else {
                            mi_body("tok-updated")
                        })
                        .build()
                });
            })
            .await;
        let cred = imds(&server, ManagedIdentityId::SystemAssigned, &c);
        let t = cred.get_token(&[ARM]).await.unwrap();
        assert_eq!(t.token.expose(), "tok-updated", "back after {back_after} s");
    }

    // If it never comes back, the credential gives up, as unavailable, after that window.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(IMDS_PATH);
            then.status(410).body("{}");
        })
        .await;
    let c = clock();
    let e = imds(&server, ManagedIdentityId::SystemAssigned, &c)
        .get_token(&[ARM])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Unavailable);
    assert!(
        c.total_slept() >= Duration::from_secs(70),
        "{:?}",
        c.total_slept()
    );
    assert!(
        c.total_slept() <= Duration::from_secs(200),
        "{:?}",
        c.total_slept()
    );
}

//! WorkloadIdentityCredential (federated token file, re-read) and EnvironmentCredential.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{CredentialErrorKind, TokenCredential};
use common::*;
use entra_auth::{Env, EnvironmentCredential, WorkloadIdentityCredential};
use httpmock::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn recording(server: &MockServer) -> Arc<Mutex<Vec<Vec<(String, String)>>>> {
    let forms = Arc::new(Mutex::new(Vec::new()));
    let seen = forms.clone();
    server
        .mock_async(move |when, then| {
            when.method(POST).path(token_path()).is_true(move |req| {
                seen.lock().unwrap().push(form(&req.body_vec()));
                true
            });
            then.status(200).body(token_body("tok-wi", 3600));
        })
        .await;
    forms
}

#[tokio::test]
async fn presents_the_file_and_rereads_it_after_rotation() {
    let server = MockServer::start_async().await;
    let forms = recording(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "federated-one\n").unwrap();
    let c = clock();
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
        ("AZURE_AUTHORITY_HOST", server.base_url().as_str()),
    ]);
    let cred = WorkloadIdentityCredential::from_env(&env, options(&server, &c)).unwrap();
    let d = format!("{cred:?}");
    assert!(!d.contains("federated-one"), "{d}");

    cred.get_token(&["a/.default"]).await.unwrap();
    std::fs::write(&file, "federated-two").unwrap();
    // Within the re-read interval the file content in memory is used...
    c.advance(Duration::from_secs(4 * 60));
    cred.get_token(&["b/.default"]).await.unwrap();
    // ...and after it (well under 10 minutes) the rotated file is read.
    c.advance(Duration::from_secs(2 * 60));
    cred.get_token(&["c/.default"]).await.unwrap();

    let forms = forms.lock().unwrap();
    let assertions: Vec<&str> = forms
        .iter()
        .map(|f| field(f, "client_assertion").unwrap())
        .collect();
    assert_eq!(
        assertions,
        ["federated-one", "federated-one", "federated-two"]
    );
    for f in forms.iter() {
        assert_eq!(field(f, "client_id"), Some(CLIENT_ID));
        assert_eq!(field(f, "grant_type"), Some("client_credentials"));
        assert_eq!(
            field(f, "client_assertion_type"),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
    }
}

#[tokio::test]
async fn missing_file_is_a_configuration_error_and_missing_vars_not_configured() {
    let e = WorkloadIdentityCredential::from_env(
        &Env::from_pairs([("AZURE_TENANT_ID", TENANT)]),
        Default::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::NotConfigured);
    assert!(
        e.message()
            .contains("AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE"),
        "{e}"
    );

    let server = MockServer::start_async().await;
    let c = clock();
    let cred = WorkloadIdentityCredential::new(
        TENANT,
        CLIENT_ID,
        "/nonexistent/token",
        options(&server, &c),
    )
    .unwrap();
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
    assert!(e.message().contains("/nonexistent/token"), "{e}");
}

#[tokio::test]
async fn environment_with_a_secret() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("client_secret", "env-secret-value")
                .form_urlencoded_tuple("client_id", CLIENT_ID);
            then.status(200).body(token_body("tok-env", 3600));
        })
        .await;
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_SECRET", "env-secret-value"),
        ("AZURE_AUTHORITY_HOST", server.base_url().as_str()),
    ]);
    let c = clock();
    let cred = EnvironmentCredential::from_env(&env, options(&server, &c));
    assert!(cred.is_configured());
    assert!(!format!("{cred:?}").contains("env-secret-value"));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "tok-env"
    );
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn environment_with_a_certificate_file() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple_exists("client_assertion")
                .form_urlencoded_tuple_missing("client_secret");
            then.status(200).body(token_body("tok-env-cert", 3600));
        })
        .await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-combined.pem"
    );
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_CLIENT_CERTIFICATE_PATH", path),
        ("AZURE_AUTHORITY_HOST", server.base_url().as_str()),
    ]);
    let c = clock();
    let cred = EnvironmentCredential::from_env(&env, options(&server, &c));
    assert_eq!(
        cred.get_token(&[SCOPE]).await.unwrap().token.expose(),
        "tok-env-cert"
    );
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn environment_reports_what_is_missing_or_wrong() {
    let cred = EnvironmentCredential::from_env(
        &Env::from_pairs([("AZURE_CLIENT_ID", CLIENT_ID)]),
        Default::default(),
    );
    assert!(!cred.is_configured());
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::NotConfigured);
    assert!(
        e.message()
            .contains("AZURE_TENANT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"),
        "{e}"
    );

    let cred = EnvironmentCredential::from_env(
        &Env::from_pairs([
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent.pem"),
        ]),
        Default::default(),
    );
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
    assert!(
        e.message().starts_with("AZURE_CLIENT_CERTIFICATE_PATH"),
        "{e}"
    );

    let cred = EnvironmentCredential::from_env(
        &Env::from_pairs([
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
        ]),
        Default::default(),
    );
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert!(e.message().contains("AZURE_AUTHORITY_HOST"), "{e}");
}

#[test]
fn a_bare_authority_host_name_means_https() {
    // AZURE_AUTHORITY_HOST=login.microsoftonline.us is accepted as the Azure SDKs do.
    let cred = EnvironmentCredential::from_env(
        &Env::from_pairs([
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"),
        ]),
        Default::default(),
    );
    let d = format!("{cred:?}");
    assert!(
        d.contains("https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"),
        "{d}"
    );
}

//! ClientCertificateCredential: the assertion's header and claims, decoded here, and its
//! signature verified with the test key pair's public key.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{CredentialErrorKind, TokenCredential};
use common::*;
use entra_auth::{AssertionAlgorithm, ClientCertificate, ClientCertificateCredential, EntraError};
use httpmock::prelude::*;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey};
use std::sync::{Arc, Mutex};

const CERT: &[u8] = include_bytes!("fixtures/test-cert.pem");
const KEY: &[u8] = include_bytes!("fixtures/test-key.pem");
const COMBINED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/test-combined.pem"
);
/// The DER RSAPublicKey of the test key, exported by openssl.
const PUBLIC_KEY: &[u8] = include_bytes!("fixtures/test-pub-rsa.der");
/// From tests/fixtures/README.md (computed with openssl).
const X5T: &str = "JlhqrP_3uGWiZeHWlRUBkhX5How";
const X5T_S256: &str = "YXV5kHXkigOixgDfdZowUJ4q7LPzCrEV_HWBNCCIyt4";

/// Serves a token and records each request body.
async fn server_recording() -> (MockServer, Arc<Mutex<Vec<Vec<u8>>>>) {
    let server = MockServer::start_async().await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(token_path())
                .header("content-type", "application/x-www-form-urlencoded")
                .is_true(move |req| {
                    seen.lock().unwrap().push(req.body_vec());
                    true
                });
            then.status(200).body(token_body("tok-cert", 3600));
        })
        .await;
    (server, bodies)
}

#[tokio::test]
async fn ps256_assertion_with_x5t_s256_by_default() {
    let (server, bodies) = server_recording().await;
    let c = clock();
    let cred = ClientCertificateCredential::new(
        TENANT,
        CLIENT_ID,
        ClientCertificate::from_pem(CERT, KEY).unwrap(),
        options(&server, &c),
    )
    .unwrap();
    let t = cred.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(t.token.expose(), "tok-cert");

    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    let f = form(&bodies[0]);
    assert_eq!(field(&f, "client_id"), Some(CLIENT_ID));
    assert_eq!(field(&f, "scope"), Some(SCOPE));
    assert_eq!(field(&f, "grant_type"), Some("client_credentials"));
    assert_eq!(
        field(&f, "client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(field(&f, "client_secret"), None);
    let (header, claims, signature, signed) = decode_jwt(field(&f, "client_assertion").unwrap());
    assert_eq!(header["alg"], "PS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["x5t#S256"], X5T_S256);
    assert!(header.get("x5t").is_none() && header.get("x5c").is_none());
    assert_eq!(claims["aud"], server.url(token_path()));
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    let now = START.unix_timestamp();
    assert_eq!(claims["nbf"], now);
    assert_eq!(claims["iat"], now);
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now + 300..=now + 600).contains(&exp), "exp {exp}");
    let jti = claims["jti"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(jti).is_ok(), "{jti}");
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, PUBLIC_KEY)
        .verify(signed.as_bytes(), &signature)
        .expect("the PS256 signature verifies with the certificate's public key");
}

#[tokio::test]
async fn rs256_with_x5t_and_chain_when_selected() {
    let (server, bodies) = server_recording().await;
    let c = clock();
    let cred = ClientCertificateCredential::new(
        TENANT,
        CLIENT_ID,
        ClientCertificate::from_pem_file(COMBINED).unwrap(),
        options(&server, &c),
    )
    .unwrap()
    .with_algorithm(AssertionAlgorithm::Rs256)
    .with_certificate_chain(true);
    cred.get_token(&[SCOPE]).await.unwrap();
    // A second scope set: a second request with a fresh jti.
    cred.get_token(&["https://management.azure.com/.default"])
        .await
        .unwrap();

    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    let assertions: Vec<String> = bodies
        .iter()
        .map(|b| field(&form(b), "client_assertion").unwrap().to_owned())
        .collect();
    let (header, claims, signature, signed) = decode_jwt(&assertions[0]);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5t"], X5T);
    assert!(header.get("x5t#S256").is_none());
    let pem_body: String = std::str::from_utf8(CERT)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(header["x5c"], serde_json::json!([pem_body]));
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, PUBLIC_KEY)
        .verify(signed.as_bytes(), &signature)
        .expect("the RS256 signature verifies");
    let (_, claims2, _, _) = decode_jwt(&assertions[1]);
    assert_ne!(claims["jti"], claims2["jti"]);
}

#[tokio::test]
async fn a_rejected_signature_maps_to_its_hint() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(token_path());
            then.status(401).body(entra_error("invalid_client", 700027));
        })
        .await;
    let c = clock();
    let cred = ClientCertificateCredential::new(
        TENANT,
        CLIENT_ID,
        ClientCertificate::from_pem(CERT, KEY).unwrap(),
        options(&server, &c),
    )
    .unwrap();
    let e = cred.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Rejected);
    assert!(matches!(
        e.downcast_ref::<EntraError>(),
        Some(EntraError::InvalidAssertionSignature(_))
    ));
    assert!(e.hint().unwrap().contains("certificate"));
}

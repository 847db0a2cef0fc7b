//! No secret, assertion, token, identity header or federated token appears in any `Debug`
//! output, error message or log line, for every credential type.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::TokenCredential;
use common::*;
use entra_auth::{
    ClientCertificate, ClientCertificateCredential, ClientSecretCredential, Env,
    EnvironmentCredential, ManagedIdentityCredential, ManagedIdentityId,
    WorkloadIdentityCredential,
};
use httpmock::prelude::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

const SECRET: &str = "SECRET-client-secret-9f8e7d";
const TOKEN: &str = "SECRET-access-token-1a2b3c";
const FEDERATED: &str = "SECRET-federated-token-4d5e6f";
const IDENTITY_HEADER: &str = "SECRET-identity-header-7a8b9c";

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} shows a secret ({s}):\n{text}");
    }
}

#[tokio::test]
async fn nothing_secret_in_debug_errors_or_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start_async().await;
    // The certificate credential's assertions, captured to check they never leak.
    let assertions = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = assertions.clone();
    // Success for one scope, a refusal for another, so both paths are exercised.
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(token_path())
                .form_urlencoded_tuple("scope", "bad/.default");
            then.status(401)
                .body(entra_error("invalid_client", 7000215));
        })
        .await;
    server
        .mock_async(move |when, then| {
            when.method(POST).path(token_path()).is_true(move |req| {
                if let Some(a) = field(&form(&req.body_vec()), "client_assertion") {
                    seen.lock().unwrap().push(a.to_owned());
                }
                true
            });
            then.status(200).body(token_body(TOKEN, 3600));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/msi/token")
                .header("x-identity-header", IDENTITY_HEADER);
            then.status(200).body(token_body(TOKEN, 3600));
        })
        .await;

    let c = clock();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("federated");
    std::fs::write(&file, FEDERATED).unwrap();
    let cert = ClientCertificate::from_pem(
        include_bytes!("fixtures/test-cert.pem"),
        include_bytes!("fixtures/test-key.pem"),
    )
    .unwrap();
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("AZURE_CLIENT_SECRET", SECRET.to_owned()),
        ("AZURE_AUTHORITY_HOST", server.base_url()),
    ]);
    let app_service_env = Env::from_pairs([
        ("IDENTITY_ENDPOINT", server.url("/msi/token")),
        ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
    ]);
    let credentials: Vec<Box<dyn TokenCredential>> = vec![
        Box::new(
            ClientSecretCredential::new(TENANT, CLIENT_ID, SECRET, options(&server, &c)).unwrap(),
        ),
        Box::new(
            ClientCertificateCredential::new(TENANT, CLIENT_ID, cert, options(&server, &c))
                .unwrap(),
        ),
        Box::new(
            WorkloadIdentityCredential::new(TENANT, CLIENT_ID, &file, options(&server, &c))
                .unwrap(),
        ),
        Box::new(EnvironmentCredential::from_env(&env, options(&server, &c))),
        Box::new(
            ManagedIdentityCredential::from_env(
                ManagedIdentityId::SystemAssigned,
                &app_service_env,
                options(&server, &c),
            )
            .unwrap(),
        ),
    ];
    #[cfg(unix)]
    let credentials = {
        use std::os::unix::fs::PermissionsExt;
        let mut credentials = credentials;
        let az = dir.path().join("az");
        let exp = START.unix_timestamp() + 3600;
        std::fs::write(
            &az,
            format!(
                "#!/bin/sh\ncase \"$*\" in *bad*) echo 'ERROR: failed' >&2; exit 1;; esac\n\
                 echo '{{\"accessToken\":\"{TOKEN}\",\"expires_on\":{exp}}}'\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
        credentials.push(Box::new(
            entra_auth::AzureCliCredential::new(options(&server, &c)).with_program(&az),
        ));
        credentials
    };
    let mut outputs = Vec::new();
    for cred in &credentials {
        outputs.push(format!("{cred:?}"));
        let token = cred.get_token(&[SCOPE]).await.unwrap();
        assert_eq!(token.token.expose(), TOKEN);
        outputs.push(format!("{token:?} {:#?}", token));
        let mi = format!("{cred:?}").starts_with("ManagedIdentity");
        let scope = if mi {
            "bad-mi/.default"
        } else {
            "bad/.default"
        };
        match cred.get_token(&[scope]).await {
            Ok(t) => outputs.push(format!("{t:?}")),
            Err(e) => {
                outputs.push(format!("{e} {e:?}"));
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    outputs.push(format!("{s} {s:?}"));
                    source = s.source();
                }
            }
        }
        outputs.push(format!("{cred:?}"));
    }
    let assertions = assertions.lock().unwrap().clone();
    assert!(!assertions.is_empty(), "the assertions were captured");
    let mut secrets = vec![SECRET, TOKEN, FEDERATED, IDENTITY_HEADER];
    secrets.extend(assertions.iter().map(String::as_str));
    // The assertion's signature alone must not show either.
    let signatures: Vec<&str> = assertions
        .iter()
        .filter_map(|a| a.rsplit('.').next())
        .collect();
    secrets.extend(signatures);
    for o in &outputs {
        assert_clean("Debug or an error", o, &secrets);
    }
    let log = logs.text();
    assert!(
        log.contains("requesting a token"),
        "logs were captured:\n{log}"
    );
    assert_clean("the log", &log, &secrets);
}

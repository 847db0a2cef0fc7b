//! AzureCliCredential with fake `az` scripts.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use client_core::{CredentialErrorKind, TokenCredential};
use common::*;
use entra_auth::{AzureCliCredential, CredentialOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Writes an executable shell script `az` into `dir`.
fn fake_az(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("az");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn cli(program: &Path) -> AzureCliCredential {
    AzureCliCredential::new(CredentialOptions::default().with_clock(Arc::new(clock())))
        .with_program(program)
}

#[tokio::test]
async fn runs_az_with_the_scope_and_tenant_and_parses_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args");
    let exp = START.unix_timestamp() + 3600;
    let az = fake_az(
        dir.path(),
        &format!(
            r#"printf '%s\n' "$@" > '{}'
echo '{{"accessToken":"tok-cli","expiresOn":"2026-03-01 13:00:00.000000","expires_on":{exp},"subscription":"s","tenant":"t","tokenType":"Bearer"}}'"#,
            args.display()
        ),
    );
    let cred = cli(&az).with_tenant(TENANT).unwrap();
    let t = cred.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(t.token.expose(), "tok-cli");
    assert_eq!(t.expires_on.unix_timestamp(), exp);
    let argv = std::fs::read_to_string(&args).unwrap();
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        [
            "account",
            "get-access-token",
            "-o",
            "json",
            "--scope",
            SCOPE,
            "--tenant",
            TENANT
        ]
    );
    // Cached: az is not run again.
    std::fs::remove_file(&args).unwrap();
    cred.get_token(&[SCOPE]).await.unwrap();
    assert!(!args.exists());
}

#[tokio::test]
async fn not_installed_or_not_logged_in_is_not_configured() {
    let e = cli(Path::new("/nonexistent/az"))
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::NotConfigured, "{e}");
    assert!(e.hint().unwrap().contains("az login"));

    let dir = tempfile::tempdir().unwrap();
    let az = fake_az(
        dir.path(),
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1",
    );
    let e = cli(&az).get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::NotConfigured, "{e}");
}

#[tokio::test]
async fn other_failures_and_bad_output_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let az = fake_az(
        dir.path(),
        "echo 'ERROR: AADSTS70011: scope is not valid' >&2; exit 2",
    );
    let e = cli(&az).get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Rejected);
    assert!(e.message().contains("AADSTS70011"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let az = fake_az(
        dir.path(),
        r#"echo '{"accessToken":"tok-secret","expiresOn":"2026-03-01 13:00:00"}'"#,
    );
    let e = cli(&az).get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidResponse);
    assert!(e.hint().unwrap().contains("2.54"));
    assert!(!e.to_string().contains("tok-secret"));
}

#[tokio::test]
async fn refuses_scopes_that_could_be_options() {
    let e = cli(Path::new("/bin/false"))
        .get_token(&["--debug"])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
    let e = cli(Path::new("/bin/false"))
        .get_token(&["a b"])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
    assert!(cli(Path::new("az")).with_tenant("x;y").is_err());
}

#[tokio::test(start_paused = true)]
async fn a_hanging_az_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let az = fake_az(dir.path(), "exec sleep 30");
    // Paused tokio time: the timeout fires without waiting for real.
    let e = cli(&az)
        .with_timeout(Duration::from_secs(5))
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Unavailable);
    assert!(e.message().contains("did not answer"), "{e}");
}

//! Gets a token with the environment credential and prints its claims (never the token).
//!
//! ```sh
//! export AZURE_TENANT_ID=contoso.onmicrosoft.com AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
//! cargo run -p entra-auth --example get_token -- https://graph.microsoft.com/.default
//! ```
//!
//! The scope defaults to Microsoft Graph's. Set `AZURE_AUTHORITY_HOST` for a sovereign cloud.
//! `--require-role NAME` exits with status 1 if the token lacks that application role. A failed
//! sign-in exits with 1 and prints the error (with Entra's AADSTS codes, trace and correlation
//! ids when Entra answered).
//! `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file with the certificate and its private key) may
//! replace the secret.
//!
//! Against the local tenant emulator, with the values it prints at start
//! (`DATAVERSE_TENANT_ID`, `DATAVERSE_CLIENT_ID`, `DATAVERSE_CLIENT_SECRET`, and its URL as
//! both authority host and environment URL):
//!
//! ```sh
//! cargo run --release -p tenant-emulator -- serve --port 8400 &
//! export AZURE_AUTHORITY_HOST=http://127.0.0.1:8400 AZURE_TENANT_ID=<tenant id> \
//!     AZURE_CLIENT_ID=<client id> AZURE_CLIENT_SECRET=<client secret>
//! cargo run -p entra-auth --example get_token -- http://127.0.0.1:8400/.default
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use client_core::TokenCredential;
use entra_auth::{AccessTokenClaims, CredentialOptions, EntraError, EnvironmentCredential};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut scope = "https://graph.microsoft.com/.default".to_owned();
    let mut required_role = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--require-role" => required_role = args.next(),
            "-h" | "--help" => {
                println!("usage: get_token [SCOPE] [--require-role ROLE]");
                return ExitCode::SUCCESS;
            }
            _ => scope = arg,
        }
    }

    let credential = EnvironmentCredential::new(CredentialOptions::default());
    let token = match credential.get_token(&[scope.as_str()]).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(entra) = e.downcast_ref::<EntraError>() {
                let d = entra.details();
                eprintln!("  AADSTS codes: {:?}", d.error_codes);
                if let Some(t) = &d.trace_id {
                    eprintln!("  trace id: {t}");
                }
                if let Some(c) = &d.correlation_id {
                    eprintln!("  correlation id: {c}");
                }
            }
            return ExitCode::FAILURE;
        }
    };

    println!("token for {scope}, expires {}", token.expires_on);
    let claims = match token.claims() {
        Ok(c) => c,
        Err(e) => {
            println!("the token's claims are not readable ({e}); it may be an opaque token");
            return ExitCode::SUCCESS;
        }
    };
    let show = |v: Option<&str>| v.unwrap_or("-").to_owned();
    println!("  aud:   {}", show(claims.aud()));
    println!("  tid:   {}", show(claims.tenant_id()));
    println!("  app:   {}", show(claims.app_id()));
    println!("  oid:   {}", show(claims.object_id()));
    println!("  iss:   {}", show(claims.issuer()));
    println!("  roles: {}", claims.roles().join(", "));
    println!("  scp:   {}", claims.scopes().collect::<Vec<_>>().join(" "));
    if let Some(exp) = claims.expires_at() {
        println!("  exp:   {exp}");
    }
    if let Some(role) = required_role
        && !claims.has_role(&role)
    {
        eprintln!(
            "the token has no `{role}` application role: grant it to the app and have an \
             administrator consent, then get a new token"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

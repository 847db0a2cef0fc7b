//! The Azure CLI's signed-in account, for developer machines.

use crate::cache::{CachedCredential, through_cache};
use crate::options::{CredentialOptions, check_tenant};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Secret, TokenCredential, async_trait,
};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Gets tokens from `az account get-access-token`, as the developer signed in with `az login`.
///
/// Runs `az account get-access-token -o json --scope S... [--tenant T]`. If `az` is not
/// installed or nobody is signed in, the error is [`CredentialErrorKind::NotConfigured`].
/// Needs Azure CLI 2.54 or later (for the `expires_on` field).
///
/// ```no_run
/// use client_core::TokenCredential;
/// use entra_auth::{AzureCliCredential, CredentialOptions};
/// # async fn run() -> Result<(), client_core::CredentialError> {
/// let credential = AzureCliCredential::new(CredentialOptions::default());
/// let token = credential.get_token(&["https://graph.microsoft.com/.default"]).await?;
/// # Ok(()) }
/// ```
pub struct AzureCliCredential {
    cached: CachedCredential<AzureCli>,
}

/// One uncached `az account get-access-token` run.
struct AzureCli {
    program: PathBuf,
    tenant_id: Option<String>,
    timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CliToken {
    access_token: Option<Secret>,
    #[serde(rename = "expires_on")]
    expires_on: Option<crate::token_endpoint::Num>,
}

impl AzureCliCredential {
    /// Runs `az` from `PATH` (`az.cmd` on Windows).
    pub fn new(options: CredentialOptions) -> Self {
        let cli = AzureCli {
            program: PathBuf::from(if cfg!(windows) { "az.cmd" } else { "az" }),
            tenant_id: None,
            timeout: Duration::from_secs(30),
        };
        Self {
            cached: CachedCredential::new(cli, options.clock().clone()),
        }
    }

    /// Runs this program instead of `az` (a wrapper, or a fake in tests).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.cached.inner_mut().program = program.into();
        self
    }

    /// Asks for a token in this tenant (`--tenant`) instead of the account's default.
    pub fn with_tenant(mut self, tenant_id: impl Into<String>) -> Result<Self, CredentialError> {
        let tenant_id = tenant_id.into();
        check_tenant(&tenant_id)?;
        self.cached.inner_mut().tenant_id = Some(tenant_id);
        Ok(self)
    }

    /// How long `az` may take (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.cached.inner_mut().timeout = timeout;
        self
    }
}

through_cache!(AzureCliCredential);

#[async_trait]
impl TokenCredential for AzureCli {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        if scopes.is_empty() {
            return Err(invalid_config("no scope requested"));
        }
        for s in scopes {
            // Scopes become command-line arguments: allow only what a scope contains, and
            // nothing that `az` could read as an option.
            let ok = !s.is_empty()
                && !s.starts_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_:/".contains(c));
            if !ok {
                return Err(invalid_config(format!(
                    "invalid scope `{}` for the Azure CLI",
                    s.escape_debug()
                )));
            }
        }
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(["account", "get-access-token", "-o", "json", "--scope"])
            .args(scopes);
        if let Some(t) = &self.tenant_id {
            cmd.args(["--tenant", t]);
        }
        // Run from a directory nobody can plant an `az` in, as the Azure SDKs do.
        cmd.current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tracing::debug!(program = %self.program.display(), ?scopes, "asking the Azure CLI for a token");
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CredentialError::not_configured(format!(
                    "the Azure CLI ({}) is not installed",
                    self.program.display()
                ))
                .with_hint("install it from https://aka.ms/azure-cli and run `az login`")
            } else {
                CredentialError::new(
                    CredentialErrorKind::Unavailable,
                    format!("cannot run {}: {e}", self.program.display()),
                )
            }
        })?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                return Err(CredentialError::new(
                    CredentialErrorKind::Unavailable,
                    format!("the Azure CLI failed to run: {e}"),
                ));
            }
            Err(_) => {
                return Err(CredentialError::new(
                    CredentialErrorKind::Unavailable,
                    format!("the Azure CLI did not answer within {:?}", self.timeout),
                ));
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            // The CLI has no error codes; its advice to log in is the stable signal.
            if stderr.contains("az login") || stderr.contains("az account set") {
                return Err(CredentialError::not_configured(
                    "the Azure CLI is not signed in (for this tenant)",
                )
                .with_hint("run `az login` (with --tenant if the token is for another tenant)"));
            }
            let first = stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no error output");
            return Err(CredentialError::new(
                CredentialErrorKind::Rejected,
                format!("the Azure CLI failed ({}): {first}", output.status),
            ));
        }
        let invalid = |why: &str| {
            CredentialError::new(
                CredentialErrorKind::InvalidResponse,
                format!("the Azure CLI answered without a usable token: {why}"),
            )
        };
        let t: CliToken = serde_json::from_slice(&output.stdout)
            .map_err(|_| invalid("the output is not the expected JSON"))?;
        let token = t
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("no accessToken"))?;
        let expires_on = t
            .expires_on
            .and_then(|n| n.as_i64())
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| {
                invalid("no expires_on").with_hint("upgrade the Azure CLI to 2.54 or later")
            })?;
        Ok(AccessToken::new(token, expires_on))
    }
}

fn invalid_config(message: impl Into<String>) -> CredentialError {
    CredentialError::new(CredentialErrorKind::InvalidConfiguration, message)
}

impl fmt::Debug for AzureCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCliCredential")
            .field("program", &self.program)
            .field("tenant_id", &self.tenant_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

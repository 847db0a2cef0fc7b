//! A credential configured by the standard `AZURE_*` environment variables.

use crate::client_certificate::{ClientCertificate, ClientCertificateCredential};
use crate::client_secret::ClientSecretCredential;
use crate::env_vars::Env;
use crate::options::CredentialOptions;
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, TokenCredential, async_trait,
};
use std::fmt;

/// Applies `AZURE_AUTHORITY_HOST` to `options`, if set.
pub(crate) fn apply_authority_env(
    env: &Env,
    options: CredentialOptions,
) -> Result<CredentialOptions, CredentialError> {
    let Some(host) = env.get("AZURE_AUTHORITY_HOST") else {
        return Ok(options);
    };
    // Accept a bare host name as well as a URL, as the Azure SDKs do.
    let text = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let url = url::Url::parse(&text).map_err(|e| {
        CredentialError::new(
            CredentialErrorKind::InvalidConfiguration,
            format!("AZURE_AUTHORITY_HOST is not a URL: {e}"),
        )
        .with_hint("e.g. https://login.microsoftonline.us/")
    })?;
    let options = options.with_authority_host(url);
    // Check now so the error names the variable.
    options.authority_host().map_err(|e| {
        CredentialError::new(
            CredentialErrorKind::InvalidConfiguration,
            format!("AZURE_AUTHORITY_HOST: {e}"),
        )
    })?;
    Ok(options)
}

/// Signs in as the application the environment describes:
///
/// | variable | meaning |
/// |---|---|
/// | `AZURE_TENANT_ID` | the tenant (GUID or domain) |
/// | `AZURE_CLIENT_ID` | the application (client) id |
/// | `AZURE_CLIENT_SECRET` | a client secret, or ... |
/// | `AZURE_CLIENT_CERTIFICATE_PATH` | ... a PEM file with the certificate and its private key |
/// | `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` | `true` or `1` to send the chain (`x5c`) |
/// | `AZURE_AUTHORITY_HOST` | optional: another authority (e.g. `https://login.microsoftonline.us`) |
///
/// Building it never fails: if the variables are missing, [`get_token`](TokenCredential::get_token)
/// answers [`CredentialErrorKind::NotConfigured`] naming them (so a chain moves on); if they
/// are set but wrong (unreadable certificate, bad tenant), it answers that error.
///
/// ```no_run
/// use client_core::TokenCredential;
/// use entra_auth::{CredentialOptions, EnvironmentCredential};
/// # async fn run() -> Result<(), client_core::CredentialError> {
/// let credential = EnvironmentCredential::new(CredentialOptions::default());
/// let token = credential.get_token(&["https://graph.microsoft.com/.default"]).await?;
/// # Ok(()) }
/// ```
pub struct EnvironmentCredential {
    state: State,
}

enum State {
    Secret(ClientSecretCredential),
    Certificate(ClientCertificateCredential),
    Unusable {
        kind: CredentialErrorKind,
        message: String,
        hint: Option<String>,
    },
}

impl EnvironmentCredential {
    /// From the process environment.
    pub fn new(options: CredentialOptions) -> Self {
        Self::from_env(&Env::process(), options)
    }

    /// From `env`.
    pub fn from_env(env: &Env, options: CredentialOptions) -> Self {
        let state = match Self::build(env, options) {
            Ok(s) => s,
            Err(e) => State::Unusable {
                kind: e.kind(),
                message: e.message().to_owned(),
                hint: e.hint().map(str::to_owned),
            },
        };
        Self { state }
    }

    fn build(env: &Env, options: CredentialOptions) -> Result<State, CredentialError> {
        let tenant = env.get("AZURE_TENANT_ID");
        let client = env.get("AZURE_CLIENT_ID");
        let secret = env.get("AZURE_CLIENT_SECRET");
        let cert_path = env.get("AZURE_CLIENT_CERTIFICATE_PATH");
        let (Some(tenant), Some(client), true) =
            (tenant, client, secret.is_some() || cert_path.is_some())
        else {
            let mut missing = Vec::new();
            if tenant.is_none() {
                missing.push("AZURE_TENANT_ID");
            }
            if client.is_none() {
                missing.push("AZURE_CLIENT_ID");
            }
            if secret.is_none() && cert_path.is_none() {
                missing.push("AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH");
            }
            return Err(CredentialError::not_configured(format!(
                "the environment does not configure a credential: {} not set",
                missing.join(", ")
            )));
        };
        let options = apply_authority_env(env, options)?;
        if let Some(secret) = secret {
            return Ok(State::Secret(ClientSecretCredential::new(
                tenant, client, secret, options,
            )?));
        }
        let path = cert_path.unwrap_or_default();
        let certificate = ClientCertificate::from_pem_file(path)
            .map_err(|e| prefix(e, "AZURE_CLIENT_CERTIFICATE_PATH"))?;
        let send_chain = env
            .get("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        Ok(State::Certificate(
            ClientCertificateCredential::new(tenant, client, certificate, options)?
                .with_certificate_chain(send_chain),
        ))
    }

    /// Whether the environment holds a usable configuration.
    pub fn is_configured(&self) -> bool {
        !matches!(self.state, State::Unusable { .. })
    }
}

fn prefix(e: CredentialError, what: &str) -> CredentialError {
    let mut out = CredentialError::new(e.kind(), format!("{what}: {}", e.message()));
    if let Some(h) = e.hint() {
        out = out.with_hint(h);
    }
    out
}

impl fmt::Debug for EnvironmentCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("EnvironmentCredential");
        match &self.state {
            State::Secret(c) => d.field("credential", c),
            State::Certificate(c) => d.field("credential", c),
            State::Unusable { message, .. } => d.field("unusable", message),
        };
        d.finish()
    }
}

#[async_trait]
impl TokenCredential for EnvironmentCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        match &self.state {
            State::Secret(c) => c.get_token(scopes).await,
            State::Certificate(c) => c.get_token(scopes).await,
            State::Unusable {
                kind,
                message,
                hint,
            } => {
                let e = CredentialError::new(*kind, message.clone());
                Err(match hint {
                    Some(h) => e.with_hint(h.clone()),
                    None => e,
                })
            }
        }
    }

    async fn invalidate(&self, scopes: &[&str], token: &AccessToken) {
        match &self.state {
            State::Secret(c) => c.invalidate(scopes, token).await,
            State::Certificate(c) => c.invalidate(scopes, token).await,
            State::Unusable { .. } => {}
        }
    }
}

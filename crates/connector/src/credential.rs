//! The Entra ID credential named by the configuration.

use crate::config::{Config, CredentialConfig, SignIn};
use crate::connector::ConnectorError;
use client_core::{CredentialError, CredentialErrorKind, SharedClock, SharedCredential};
use entra_auth::{
    ClientCertificate, ClientCertificateCredential, ClientSecretCredential, CredentialOptions,
    ManagedIdentityCredential, ManagedIdentityId, WorkloadIdentityCredential,
};
use std::sync::Arc;

/// Builds the credential `config` asks for (client secret, certificate, workload identity or
/// managed identity), signing in at the configured authority host.
pub fn from_config(
    config: &Config,
    clock: SharedClock,
) -> Result<SharedCredential, ConnectorError> {
    let sign_in = SignIn {
        tenant_id: config.tenant_id.clone(),
        client_id: config.client_id,
        credential: config.credential.clone(),
        authority_host: config.authority_host.clone(),
    };
    from_sign_in(&sign_in, clock)
}

/// Builds the credential the sign-in settings ask for (see [`from_config`]).
pub fn from_sign_in(
    config: &SignIn,
    clock: SharedClock,
) -> Result<SharedCredential, ConnectorError> {
    let kind = config.credential.kind();
    let wrap = |source: CredentialError| ConnectorError::Credential { kind, source };
    let options = CredentialOptions::default()
        .with_authority_host(config.authority_host.clone())
        .with_clock(clock);
    let tenant = || {
        config.tenant_id.clone().ok_or_else(|| {
            wrap(
                CredentialError::new(CredentialErrorKind::InvalidConfiguration, "no tenant id")
                    .with_hint("set DATAVERSE_TENANT_ID"),
            )
        })
    };
    let client = || {
        config.client_id.map(|c| c.to_string()).ok_or_else(|| {
            wrap(
                CredentialError::new(CredentialErrorKind::InvalidConfiguration, "no client id")
                    .with_hint("set DATAVERSE_CLIENT_ID"),
            )
        })
    };
    Ok(match &config.credential {
        CredentialConfig::ClientSecret(secret) => Arc::new(
            ClientSecretCredential::new(tenant()?, client()?, secret.clone(), options)
                .map_err(wrap)?,
        ),
        CredentialConfig::Certificate { path } => {
            let certificate = ClientCertificate::from_pem_file(path).map_err(|e| {
                let e = if e.hint().is_some() {
                    e
                } else {
                    e.with_hint("check AZURE_CLIENT_CERTIFICATE_PATH (or --certificate): it must name a PEM file holding the app registration's certificate and its private key")
                };
                wrap(e)
            })?;
            Arc::new(
                ClientCertificateCredential::new(tenant()?, client()?, certificate, options)
                    .map_err(wrap)?,
            )
        }
        CredentialConfig::WorkloadIdentity { token_file } => Arc::new(
            WorkloadIdentityCredential::new(tenant()?, client()?, token_file.clone(), options)
                .map_err(wrap)?,
        ),
        CredentialConfig::ManagedIdentity => {
            let id = match config.client_id {
                Some(c) => ManagedIdentityId::ClientId(c.to_string()),
                None => ManagedIdentityId::SystemAssigned,
            };
            Arc::new(ManagedIdentityCredential::new(id, options).map_err(wrap)?)
        }
    })
}

/// Builds the credential from its parts (for the `m365` commands, which need no Dataverse
/// settings).
pub fn from_parts(
    credential: &CredentialConfig,
    tenant_id: Option<&str>,
    client_id: Option<uuid::Uuid>,
    authority_host: &url::Url,
    clock: SharedClock,
) -> Result<SharedCredential, ConnectorError> {
    let sign_in = SignIn {
        tenant_id: tenant_id.map(str::to_owned),
        client_id,
        credential: credential.clone(),
        authority_host: authority_host.clone(),
    };
    from_sign_in(&sign_in, clock)
}

/// Builds the credential the shared settings name (the commands that need no Dataverse
/// settings: `m365`, `seccopilot`, `permissions`).
pub fn from_settings(
    settings: &crate::config::SharedSettings,
    clock: SharedClock,
) -> Result<SharedCredential, ConnectorError> {
    from_parts(
        &settings.credential,
        settings.tenant_id.as_deref(),
        settings.client_id,
        &settings.authority_host,
        clock,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Needs, RawConfig};

    #[test]
    fn a_missing_certificate_names_the_setting_to_fix() {
        let env = [
            (
                "DATAVERSE_ENVIRONMENT_URL",
                "https://contoso.crm.dynamics.com",
            ),
            (
                "DATAVERSE_TENANT_ID",
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
            ),
            (
                "DATAVERSE_CLIENT_ID",
                "11111111-2222-3333-4444-555555555555",
            ),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/app.pem"),
        ];
        let raw = RawConfig::from_env(|k| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        });
        let config = Config::from_raw(&raw, Needs::Dataverse).unwrap();
        let e = from_config(&config, client_core::system_clock()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("AZURE_CLIENT_CERTIFICATE_PATH"), "{text}");
        assert!(text.contains("/nonexistent/app.pem"), "{text}");
    }
}

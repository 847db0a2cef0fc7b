//! An application signing in with a client secret.

use crate::cache::{CachedCredential, through_cache};
use crate::options::{CredentialOptions, check_client_id};
use crate::token_endpoint::{TokenEndpoint, scope_param};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Secret, TokenCredential, async_trait,
};
use std::fmt;

/// Signs in as an application with a client secret (OAuth 2.0 client credentials grant).
///
/// ```no_run
/// use client_core::TokenCredential;
/// use entra_auth::{ClientSecretCredential, CredentialOptions};
/// # async fn run() -> Result<(), client_core::CredentialError> {
/// let credential = ClientSecretCredential::new(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     std::env::var("CLIENT_SECRET").unwrap_or_default(),
///     CredentialOptions::default(),
/// )?;
/// let token = credential.get_token(&["https://graph.microsoft.com/.default"]).await?;
/// # Ok(()) }
/// ```
pub struct ClientSecretCredential {
    cached: CachedCredential<SecretGrant>,
}

/// The uncached client credentials grant with a secret.
struct SecretGrant {
    tenant_id: String,
    client_id: String,
    secret: Secret,
    endpoint: TokenEndpoint,
}

impl ClientSecretCredential {
    /// A credential for application `client_id` in `tenant_id` (a GUID or domain).
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<Secret>,
        options: CredentialOptions,
    ) -> Result<Self, CredentialError> {
        let (tenant_id, client_id, secret) = (tenant_id.into(), client_id.into(), secret.into());
        check_client_id(&client_id)?;
        if secret.is_empty() {
            return Err(CredentialError::new(
                CredentialErrorKind::InvalidConfiguration,
                "the client secret is empty",
            )
            .with_hint("set the client secret's Value from the app registration"));
        }
        let endpoint = TokenEndpoint::new(&tenant_id, &options)?;
        let clock = endpoint.clock().clone();
        let grant = SecretGrant {
            tenant_id,
            client_id,
            secret,
            endpoint,
        };
        Ok(Self {
            cached: CachedCredential::new(grant, clock),
        })
    }

    /// The tenant.
    pub fn tenant_id(&self) -> &str {
        &self.cached.inner().tenant_id
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.cached.inner().client_id
    }
}

through_cache!(ClientSecretCredential);

#[async_trait]
impl TokenCredential for SecretGrant {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        let scope = scope_param(scopes)?;
        tracing::debug!(tenant = %self.tenant_id, client_id = %self.client_id, %scope, "requesting a token with a client secret");
        self.endpoint
            .request(&[
                ("client_id", self.client_id.as_str()),
                ("scope", scope.as_str()),
                ("grant_type", "client_credentials"),
                ("client_secret", self.secret.expose()),
            ])
            .await
    }
}

impl fmt::Debug for SecretGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("token_url", &self.endpoint.url().as_str())
            .finish()
    }
}

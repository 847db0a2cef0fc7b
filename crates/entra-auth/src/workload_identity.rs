//! Workload identity federation (AKS and other Kubernetes): a projected service account token
//! exchanged for an Entra ID token.

use crate::cache::{CachedCredential, through_cache};
use crate::env_vars::Env;
use crate::options::{CredentialOptions, check_client_id};
use crate::token_endpoint::{TokenEndpoint, scope_param};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Secret, TokenCredential, async_trait,
};
use std::fmt;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// How long the federated token read from the file is reused. The kubelet rotates the file
/// well before the token expires; re-reading every 5 minutes (under the 10 required) picks up
/// each rotation in time.
const FILE_REREAD: time::Duration = time::Duration::minutes(5);

/// Signs in with a federated token from a file (`AZURE_FEDERATED_TOKEN_FILE`), as the Azure
/// Workload Identity webhook sets up on AKS.
///
/// The file is re-read every 5 minutes, so rotated tokens are picked up.
///
/// ```no_run
/// use entra_auth::{CredentialOptions, Env, WorkloadIdentityCredential};
/// # fn run() -> Result<(), client_core::CredentialError> {
/// let credential = WorkloadIdentityCredential::from_env(&Env::process(), CredentialOptions::default())?;
/// # Ok(()) }
/// ```
pub struct WorkloadIdentityCredential {
    cached: CachedCredential<FederatedGrant>,
}

/// The uncached client credentials grant with the federated token as assertion.
struct FederatedGrant {
    tenant_id: String,
    client_id: String,
    token_file: PathBuf,
    endpoint: TokenEndpoint,
    assertion: Mutex<Option<(Secret, OffsetDateTime)>>,
}

impl WorkloadIdentityCredential {
    /// A credential for `client_id` in `tenant_id` presenting the token in `token_file`.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        token_file: impl Into<PathBuf>,
        options: CredentialOptions,
    ) -> Result<Self, CredentialError> {
        let (tenant_id, client_id) = (tenant_id.into(), client_id.into());
        check_client_id(&client_id)?;
        let endpoint = TokenEndpoint::new(&tenant_id, &options)?;
        let clock = endpoint.clock().clone();
        let grant = FederatedGrant {
            tenant_id,
            client_id,
            token_file: token_file.into(),
            endpoint,
            assertion: Mutex::new(None),
        };
        Ok(Self {
            cached: CachedCredential::new(grant, clock),
        })
    }

    /// From `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` and, if set,
    /// `AZURE_AUTHORITY_HOST`. Fails with [`CredentialErrorKind::NotConfigured`] naming the
    /// missing variables.
    pub fn from_env(env: &Env, options: CredentialOptions) -> Result<Self, CredentialError> {
        let vars = [
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_FEDERATED_TOKEN_FILE",
        ];
        let missing: Vec<&str> = vars
            .iter()
            .copied()
            .filter(|v| env.get(v).is_none())
            .collect();
        let (Some(tenant), Some(client), Some(file)) =
            (env.get(vars[0]), env.get(vars[1]), env.get(vars[2]))
        else {
            return Err(CredentialError::not_configured(format!(
                "workload identity is not configured: {} not set",
                missing.join(", ")
            )));
        };
        let options = crate::environment_credential::apply_authority_env(env, options)?;
        Self::new(tenant, client, file, options)
    }

    /// The federated token file.
    pub fn token_file(&self) -> &Path {
        &self.cached.inner().token_file
    }
}

through_cache!(WorkloadIdentityCredential);

impl FederatedGrant {
    async fn federated_token(&self) -> Result<Secret, CredentialError> {
        let now = self.endpoint.clock().now();
        let mut slot = self.assertion.lock().await;
        if let Some((token, read_at)) = slot.as_ref()
            && now - *read_at < FILE_REREAD
            && now >= *read_at
        {
            return Ok(token.clone());
        }
        let content = tokio::fs::read_to_string(&self.token_file).await.map_err(|e| {
            CredentialError::new(
                CredentialErrorKind::InvalidConfiguration,
                format!(
                    "cannot read the federated token file {}: {e}",
                    self.token_file.display()
                ),
            )
            .with_hint("check AZURE_FEDERATED_TOKEN_FILE and that the service account token is projected into the pod")
        })?;
        let token = Secret::new(content.trim());
        if token.is_empty() {
            return Err(CredentialError::new(
                CredentialErrorKind::InvalidConfiguration,
                format!(
                    "the federated token file {} is empty",
                    self.token_file.display()
                ),
            ));
        }
        *slot = Some((token.clone(), now));
        Ok(token)
    }
}

#[async_trait]
impl TokenCredential for FederatedGrant {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        let scope = scope_param(scopes)?;
        let assertion = self.federated_token().await?;
        tracing::debug!(tenant = %self.tenant_id, client_id = %self.client_id, %scope, "requesting a token with a federated token");
        self.endpoint
            .assertion_grant(&self.client_id, &scope, &assertion)
            .await
    }

    async fn invalidate(&self, _scopes: &[&str], _token: &AccessToken) {
        // A refused token may come from a stale federated token: read the file again.
        *self.assertion.lock().await = None;
    }
}

impl fmt::Debug for FederatedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIdentityCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("token_file", &self.token_file)
            .field("token_url", &self.endpoint.url().as_str())
            .finish()
    }
}

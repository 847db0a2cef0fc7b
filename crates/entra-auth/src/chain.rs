//! An explicit, ordered chain of credentials.

use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, SharedCredential, TokenCredential,
    async_trait,
};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Tries credentials in order and sticks with the first that works.
///
/// - A credential that is not set up here ([`CredentialErrorKind::NotConfigured`]) is skipped.
/// - Any other failure (a wrong secret, an unreachable endpoint) is returned as is: a
///   configured credential that fails is a problem to fix, not a reason to sign in as someone
///   else.
/// - If every credential is not configured, the error lists every attempt, and the full list
///   is reachable as [`ChainError`] through [`CredentialError::downcast_ref`].
/// - Once one credential has returned a token, later calls go to it alone.
///
/// There is deliberately no implicit default chain: say which credentials you deploy with.
///
/// ```no_run
/// use client_core::TokenCredential;
/// use entra_auth::{
///     AzureCliCredential, ChainedTokenCredential, CredentialOptions, EnvironmentCredential,
///     ManagedIdentityCredential, ManagedIdentityId,
/// };
/// # async fn run() -> Result<(), client_core::CredentialError> {
/// let options = CredentialOptions::default();
/// let chain = ChainedTokenCredential::new()
///     .with(EnvironmentCredential::new(options.clone()))
///     .with(ManagedIdentityCredential::new(ManagedIdentityId::SystemAssigned, options.clone())?)
///     .with(AzureCliCredential::new(options));
/// let token = chain.get_token(&["https://graph.microsoft.com/.default"]).await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct ChainedTokenCredential {
    sources: Vec<(String, SharedCredential)>,
    selected: OnceLock<usize>,
}

/// One credential's failure in a chain.
#[derive(Debug)]
#[non_exhaustive]
pub struct ChainAttempt {
    /// The credential's name (its type, or the name it was added with).
    pub name: String,
    /// Why it did not give a token.
    pub error: CredentialError,
}

/// Every attempt of a chain in which no credential was configured.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.attempts))]
pub struct ChainError {
    attempts: Vec<ChainAttempt>,
}

impl ChainError {
    /// The attempts, in chain order.
    pub fn attempts(&self) -> &[ChainAttempt] {
        &self.attempts
    }
}

fn describe(attempts: &[ChainAttempt]) -> String {
    if attempts.is_empty() {
        return "the credential chain is empty".into();
    }
    let parts: Vec<String> = attempts
        .iter()
        .map(|a| format!("{}: {}", a.name, a.error))
        .collect();
    format!(
        "no credential in the chain is configured: {}",
        parts.join("; ")
    )
}

impl ChainedTokenCredential {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `credential`, named after its type in errors.
    pub fn with<C: TokenCredential + 'static>(self, credential: C) -> Self {
        let full = std::any::type_name::<C>();
        // `entra_auth::environment::EnvironmentCredential` -> `EnvironmentCredential`.
        let base = full.split('<').next().unwrap_or(full);
        let name = base.rsplit("::").next().unwrap_or(base).to_owned();
        self.with_named(name, Arc::new(credential))
    }

    /// Appends `credential` under `name`.
    pub fn with_named(mut self, name: impl Into<String>, credential: SharedCredential) -> Self {
        self.sources.push((name.into(), credential));
        self
    }

    /// The name of the credential the chain settled on, once one has worked.
    pub fn selected(&self) -> Option<&str> {
        self.selected
            .get()
            .and_then(|i| self.sources.get(*i))
            .map(|(n, _)| n.as_str())
    }
}

impl fmt::Debug for ChainedTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainedTokenCredential")
            .field("sources", &self.sources)
            .field("selected", &self.selected())
            .finish()
    }
}

#[async_trait]
impl TokenCredential for ChainedTokenCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        if let Some((_, c)) = self.selected.get().and_then(|i| self.sources.get(*i)) {
            return c.get_token(scopes).await;
        }
        let mut attempts = Vec::new();
        for (i, (name, credential)) in self.sources.iter().enumerate() {
            match credential.get_token(scopes).await {
                Ok(token) => {
                    if self.selected.set(i).is_ok() {
                        tracing::info!(credential = %name, "credential chain: using this credential from now on");
                    }
                    return Ok(token);
                }
                Err(e) if e.kind() == CredentialErrorKind::NotConfigured => {
                    tracing::debug!(credential = %name, error = %e, "credential chain: not configured, trying the next");
                    attempts.push(ChainAttempt {
                        name: name.clone(),
                        error: e,
                    });
                }
                Err(e) => {
                    tracing::debug!(credential = %name, error = %e, "credential chain: configured credential failed");
                    return Err(e);
                }
            }
        }
        let error = ChainError { attempts };
        Err(CredentialError::not_configured(error.to_string())
            .with_hint("configure one of the credentials in the chain")
            .with_source(error))
    }

    async fn invalidate(&self, scopes: &[&str], token: &AccessToken) {
        match self.selected.get().and_then(|i| self.sources.get(*i)) {
            Some((_, c)) => c.invalidate(scopes, token).await,
            None => {
                for (_, c) in &self.sources {
                    c.invalidate(scopes, token).await;
                }
            }
        }
    }
}

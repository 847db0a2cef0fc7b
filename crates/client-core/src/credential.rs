//! The token credential abstraction every client authenticates with.

use crate::Secret;
use async_trait::async_trait;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// An OAuth 2.0 access token and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token. Never logged.
    pub token: Secret,
    /// When the token stops being valid.
    pub expires_on: OffsetDateTime,
    /// When the issuer asks clients to refresh it early, if it said so (`refresh_in`).
    pub refresh_on: Option<OffsetDateTime>,
}

impl AccessToken {
    /// A token valid until `expires_on`.
    pub fn new(token: impl Into<Secret>, expires_on: OffsetDateTime) -> Self {
        Self {
            token: token.into(),
            expires_on,
            refresh_on: None,
        }
    }

    /// Whether fewer than `margin` remain before expiry at `now`.
    pub fn expires_within(&self, now: OffsetDateTime, margin: std::time::Duration) -> bool {
        self.expires_on - now < margin
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &self.token)
            .field("expires_on", &self.expires_on)
            .field("refresh_on", &self.refresh_on)
            .finish()
    }
}

/// A source of access tokens (Entra client secret, certificate, managed identity, ...).
///
/// Implementations must be cheap to call repeatedly: cache tokens and refresh them before
/// expiry. `entra-auth` provides the Microsoft Entra ID credentials.
#[async_trait]
pub trait TokenCredential: Send + Sync + fmt::Debug {
    /// A token for `scopes` (for Microsoft resources, one `{resource}/.default` scope).
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError>;

    /// Tells the credential that a service rejected `token` (HTTP 401), so a cached copy must
    /// not be handed out again. The default does nothing (for credentials without a cache).
    async fn invalidate(&self, scopes: &[&str], token: &AccessToken) {
        let _ = (scopes, token);
    }
}

/// A shared credential.
pub type SharedCredential = Arc<dyn TokenCredential>;

#[async_trait]
impl<T: TokenCredential + ?Sized> TokenCredential for Arc<T> {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        (**self).get_token(scopes).await
    }

    async fn invalidate(&self, scopes: &[&str], token: &AccessToken) {
        (**self).invalidate(scopes, token).await
    }
}

/// A credential that always returns the same token: for a token obtained elsewhere, and for tests.
#[derive(Debug, Clone)]
pub struct StaticTokenCredential {
    token: AccessToken,
}

impl StaticTokenCredential {
    /// Returns `token` for every scope.
    pub fn new(token: AccessToken) -> Self {
        Self { token }
    }
}

#[async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(&self, _scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        Ok(self.token.clone())
    }
}

/// What kind of failure a credential had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialErrorKind {
    /// The credential is not set up here (missing environment variable, no IMDS, no `az`):
    /// a chain moves on to its next credential.
    NotConfigured,
    /// The identity provider refused (wrong secret, unknown app, bad scope, ...). Not retryable.
    Rejected,
    /// The identity provider could not be reached or failed transiently. Retryable.
    Unavailable,
    /// The identity provider answered something that is not a token.
    InvalidResponse,
    /// Local configuration is wrong (unreadable key file, bad tenant id, ...).
    InvalidConfiguration,
}

/// A credential failure, with a hint that tells an operator what to fix.
///
/// The message never contains a secret, an assertion or a token. Richer, provider-specific
/// errors (for example `entra_auth::EntraError`) are kept as the [`source`](StdError::source)
/// and can be recovered with [`CredentialError::downcast_ref`].
///
/// It is `Clone` (the source is shared), so one failed token request can be reported to every
/// caller that was waiting for it.
#[derive(Debug, Clone)]
pub struct CredentialError {
    kind: CredentialErrorKind,
    message: String,
    hint: Option<String>,
    code: Option<String>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl StdError for CredentialError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // The error itself, not the `Arc` around it, so callers can downcast what they get.
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

impl CredentialError {
    /// A new error of `kind`.
    pub fn new(kind: CredentialErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            code: None,
            source: None,
        }
    }

    /// Shorthand for [`CredentialErrorKind::NotConfigured`].
    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(CredentialErrorKind::NotConfigured, message)
    }

    /// Adds a one-line hint on how to fix it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds the provider's error code (e.g. `invalid_client/7000215`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Keeps an underlying error.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> CredentialErrorKind {
        self.kind
    }

    /// The message, without the hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The provider's error code, if any.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == CredentialErrorKind::Unavailable
    }

    /// Whether the credential is simply not set up in this environment.
    pub fn is_not_configured(&self) -> bool {
        self.kind == CredentialErrorKind::NotConfigured
    }

    /// The underlying error as a concrete type, if it is one.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.source.as_deref().and_then(|s| s.downcast_ref::<E>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_hint_and_not_token() {
        let e = CredentialError::new(CredentialErrorKind::Rejected, "invalid client secret")
            .with_hint("use the secret's value, not its ID");
        assert_eq!(
            e.to_string(),
            "invalid client secret (hint: use the secret's value, not its ID)"
        );
        assert!(!e.is_retryable());
        let tok = AccessToken::new("eyJ.secret.token", OffsetDateTime::UNIX_EPOCH);
        assert!(!format!("{tok:?}").contains("eyJ"));
    }

    #[derive(Debug, thiserror::Error, PartialEq)]
    #[error("provider detail")]
    struct Detail;

    #[test]
    fn clones_keep_the_source_reachable_by_downcasting() {
        let e = CredentialError::new(CredentialErrorKind::Rejected, "refused")
            .with_code("x/1")
            .with_source(Detail);
        let c = e.clone();
        for e in [&e, &c] {
            assert_eq!(e.downcast_ref::<Detail>(), Some(&Detail));
            let via_std = StdError::source(e).and_then(|s| s.downcast_ref::<Detail>());
            assert_eq!(via_std, Some(&Detail));
            assert_eq!(
                (e.kind(), e.code(), e.to_string().as_str()),
                (CredentialErrorKind::Rejected, Some("x/1"), "refused")
            );
        }
    }

    #[tokio::test]
    async fn static_credential_and_arc_forwarding() {
        let tok = AccessToken::new("t", OffsetDateTime::UNIX_EPOCH);
        let c: SharedCredential = Arc::new(StaticTokenCredential::new(tok.clone()));
        assert_eq!(c.get_token(&["x/.default"]).await.unwrap(), tok);
        c.invalidate(&["x/.default"], &tok).await;
    }
}

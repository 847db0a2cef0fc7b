//! The token cache every credential in this crate uses, and a wrapper that adds it to any
//! credential.

use client_core::{AccessToken, CredentialError, SharedClock, TokenCredential, async_trait};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// How long before expiry a cached token is refreshed, unless the issuer asked for earlier.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// After a failed refresh, how long a still-valid token is served before trying again, so a
/// failing identity provider is not asked on every call.
const RETRY_AFTER_FAILED_REFRESH: Duration = Duration::from_secs(30);

/// Tokens by scope set.
///
/// - The key is the sorted, de-duplicated scope set, so `["a", "b"]` and `["b", "a"]` share a
///   token.
/// - A token is refreshed once fewer than 5 minutes remain ([`DEFAULT_REFRESH_MARGIN`]), or
///   from the issuer's `refresh_in` if that is earlier. A token issued with less than the
///   margin to live is refreshed at half its lifetime instead of on every call.
/// - However many callers ask at once, one request is made per scope set; the others wait for
///   its result.
/// - Failures are not cached. If a refresh fails while the cached token is still valid, that
///   token is returned (and the refresh tried again at most every 30 seconds).
///
/// Time comes from the [`Clock`](client_core::Clock), so all of this is testable with
/// [`ManualClock`](client_core::ManualClock).
pub struct TokenCache {
    clock: SharedClock,
    margin: Duration,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

#[derive(Default)]
struct Entry {
    token: Option<AccessToken>,
    refresh_at: Option<OffsetDateTime>,
    failed_at: Option<OffsetDateTime>,
}

impl TokenCache {
    /// An empty cache reading time from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            margin: DEFAULT_REFRESH_MARGIN,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Refreshes this long before expiry instead of 5 minutes.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The cache key of a scope set: sorted, de-duplicated, space-separated.
    pub fn key(scopes: &[&str]) -> String {
        let mut s: Vec<&str> = scopes.iter().map(|s| s.trim()).collect();
        s.sort_unstable();
        s.dedup();
        s.join(" ")
    }

    fn entry(&self, scopes: &[&str]) -> Arc<tokio::sync::Mutex<Entry>> {
        let key = Self::key(scopes);
        // A poisoned map only means another thread panicked while inserting; it is still valid.
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key).or_default().clone()
    }

    /// The cached token for `scopes` if it does not need refreshing yet, otherwise the result
    /// of `fetch` (which is cached on success).
    pub async fn get_or_fetch<F, Fut>(
        &self,
        scopes: &[&str],
        fetch: F,
    ) -> Result<AccessToken, CredentialError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, CredentialError>>,
    {
        let entry = self.entry(scopes);
        // Held across the fetch: concurrent callers for the same scopes wait here and then
        // find the fresh token, so only one request is made.
        let mut e = entry.lock().await;
        let now = self.clock.now();
        if let (Some(token), Some(refresh_at)) = (&e.token, e.refresh_at) {
            if now < refresh_at {
                return Ok(token.clone());
            }
            let recently_failed = e
                .failed_at
                .is_some_and(|f| now - f < RETRY_AFTER_FAILED_REFRESH);
            if recently_failed && now < token.expires_on {
                return Ok(token.clone());
            }
        }
        match fetch().await {
            Ok(token) => {
                let now = self.clock.now();
                e.refresh_at = Some(self.refresh_at(&token, now));
                e.failed_at = None;
                e.token = Some(token.clone());
                Ok(token)
            }
            Err(err) => {
                let now = self.clock.now();
                match e.token.clone() {
                    Some(old) if now < old.expires_on => {
                        tracing::warn!(
                            error = %err,
                            expires_in_s = (old.expires_on - now).whole_seconds(),
                            "token refresh failed; using the cached token, which is still valid"
                        );
                        e.failed_at = Some(now);
                        Ok(old)
                    }
                    _ => {
                        e.token = None;
                        e.refresh_at = None;
                        Err(err)
                    }
                }
            }
        }
    }

    fn refresh_at(&self, token: &AccessToken, now: OffsetDateTime) -> OffsetDateTime {
        let mut at = token.expires_on - self.margin;
        if let Some(r) = token.refresh_on {
            at = at.min(r);
        }
        if at <= now {
            // Issued with less than the margin to live: refresh halfway rather than every call.
            at = now + (token.expires_on - now) / 2;
        }
        at
    }

    /// Drops the cached token for `scopes` if it is `token` (a service refused it).
    pub async fn invalidate(&self, scopes: &[&str], token: &AccessToken) {
        let entry = self.entry(scopes);
        let mut e = entry.lock().await;
        if e.token.as_ref().is_some_and(|t| t.token == token.token) {
            e.token = None;
            e.refresh_at = None;
            e.failed_at = None;
        }
    }

    /// Drops every cached token.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.lock().map(|m| m.len()).unwrap_or_default();
        f.debug_struct("TokenCache")
            .field("scope_sets", &n)
            .field("refresh_margin", &self.margin)
            .finish()
    }
}

/// Adds a [`TokenCache`] to any credential.
///
/// The credentials of this crate already cache; this is for credentials written elsewhere.
///
/// ```
/// use client_core::{AccessToken, StaticTokenCredential, TokenCredential, system_clock};
/// use entra_auth::CachedCredential;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let inner = StaticTokenCredential::new(AccessToken::new(
///     "t",
///     time::OffsetDateTime::now_utc() + time::Duration::hours(1),
/// ));
/// let cached = CachedCredential::new(inner, system_clock());
/// let token = cached.get_token(&["https://graph.microsoft.com/.default"]).await.unwrap();
/// assert_eq!(token.token.expose(), "t");
/// # });
/// ```
#[derive(Debug)]
pub struct CachedCredential<C> {
    inner: C,
    cache: TokenCache,
}

impl<C: TokenCredential> CachedCredential<C> {
    /// Wraps `inner`, reading time from `clock`.
    pub fn new(inner: C, clock: SharedClock) -> Self {
        Self {
            inner,
            cache: TokenCache::new(clock),
        }
    }

    /// Wraps `inner` with a cache configured by the caller.
    pub fn with_cache(inner: C, cache: TokenCache) -> Self {
        Self { inner, cache }
    }

    /// The wrapped credential.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

#[async_trait]
impl<C: TokenCredential> TokenCredential for CachedCredential<C> {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        self.cache
            .get_or_fetch(scopes, || self.inner.get_token(scopes))
            .await
    }

    async fn invalidate(&self, scopes: &[&str], token: &AccessToken) {
        self.cache.invalidate(scopes, token).await;
        self.inner.invalidate(scopes, token).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_sorted_and_deduplicated() {
        assert_eq!(TokenCache::key(&["b", "a", "b"]), "a b");
        assert_eq!(TokenCache::key(&["a", "b"]), TokenCache::key(&["b", "a"]));
    }
}

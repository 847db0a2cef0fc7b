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
/// - However many callers ask at once, one request is made per scope set. Callers with no
///   valid token wait for its result, success or failure; while a still-valid token is being
///   refreshed, other callers get that token at once instead of waiting. A caller dropped
///   mid-request does not block the others: the next waiter makes the request.
/// - Failures are not cached: the callers that were waiting get the error, the next caller
///   asks again. If a refresh fails while the cached token is still valid, that token is
///   returned (and the refresh tried again at most every 30 seconds).
///
/// Time comes from the [`Clock`](client_core::Clock), so all of this is testable with
/// [`ManualClock`](client_core::ManualClock).
pub struct TokenCache {
    clock: SharedClock,
    margin: Duration,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

#[derive(Default)]
struct Entry {
    state: Mutex<State>,
    /// Held by the one caller requesting a token for this scope set.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    token: Option<AccessToken>,
    refresh_at: Option<OffsetDateTime>,
    failed_at: Option<OffsetDateTime>,
    /// Token requests finished so far, so a caller that waited can tell one finished meanwhile.
    finished: u64,
    /// The error of the last request, if it failed, for the callers that waited for it.
    last_error: Option<CredentialError>,
}

impl State {
    fn forget_token(&mut self) {
        self.token = None;
        self.refresh_at = None;
        self.failed_at = None;
    }
}

enum Cached {
    /// Valid and not due for refresh.
    Fresh(AccessToken),
    /// Valid but due for refresh.
    Due(AccessToken),
    /// None, or expired.
    Missing,
}

impl Entry {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked while holding it; the state is whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn look(s: &State, now: OffsetDateTime) -> Cached {
        match (&s.token, s.refresh_at) {
            (Some(t), Some(at)) if now < at && now < t.expires_on => Cached::Fresh(t.clone()),
            (Some(t), _) if now < t.expires_on => {
                let recently_failed = s
                    .failed_at
                    .is_some_and(|f| now - f < RETRY_AFTER_FAILED_REFRESH);
                if recently_failed {
                    Cached::Fresh(t.clone())
                } else {
                    Cached::Due(t.clone())
                }
            }
            _ => Cached::Missing,
        }
    }
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

    fn entry(&self, scopes: &[&str]) -> Arc<Entry> {
        let key = Self::key(scopes);
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
        let (cached, finished) = {
            let s = entry.state();
            (Entry::look(&s, self.clock.now()), s.finished)
        };
        // The lock is released on drop, also when this future is dropped mid-request, so a
        // cancelled caller hands the request over to the next waiter.
        let _refreshing = match cached {
            Cached::Fresh(t) => return Ok(t),
            // Someone else is already refreshing a token that is still valid: use it.
            Cached::Due(t) => match entry.refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(t),
            },
            Cached::Missing => entry.refresh.lock().await,
        };
        {
            let s = entry.state();
            // Another caller may have refreshed while this one waited for the lock...
            if let Cached::Fresh(t) = Entry::look(&s, self.clock.now()) {
                return Ok(t);
            }
            // ...or failed: its answer is this caller's too, rather than one more request.
            if s.finished != finished
                && let Some(e) = &s.last_error
            {
                return Err(e.clone());
            }
        }
        let result = fetch().await;
        let now = self.clock.now();
        let mut s = entry.state();
        s.finished += 1;
        match result {
            Ok(token) => {
                s.refresh_at = Some(self.refresh_at(&token, now));
                s.failed_at = None;
                s.last_error = None;
                s.token = Some(token.clone());
                Ok(token)
            }
            Err(err) => match s.token.clone() {
                Some(old) if now < old.expires_on => {
                    tracing::warn!(
                        error = %err,
                        expires_in_s = (old.expires_on - now).whole_seconds(),
                        "token refresh failed; using the cached token, which is still valid"
                    );
                    s.failed_at = Some(now);
                    s.last_error = Some(err);
                    Ok(old)
                }
                _ => {
                    s.forget_token();
                    s.last_error = Some(err.clone());
                    Err(err)
                }
            },
        }
    }

    fn refresh_at(&self, token: &AccessToken, now: OffsetDateTime) -> OffsetDateTime {
        let mut at = token
            .expires_on
            .checked_sub(self.margin.try_into().unwrap_or(time::Duration::ZERO))
            .unwrap_or(token.expires_on);
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
        let mut s = entry.state();
        if s.token.as_ref().is_some_and(|t| t.token == token.token) {
            s.forget_token();
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
/// Every credential of this crate is one of these around its uncached token source, so they
/// all cache the same way; use it for credentials written elsewhere too.
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

    /// Drops every cached token (the next request asks the wrapped credential).
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// The wrapped credential, to configure it before any token is cached.
    pub(crate) fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
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

/// Implements `Debug` and `TokenCredential` for a credential of this crate that keeps its
/// uncached token source in a field `cached: CachedCredential<Source>`: every call goes through
/// that one wrapper, and `Debug` shows the source (which hides its secrets).
macro_rules! through_cache {
    ($credential:ty) => {
        impl std::fmt::Debug for $credential {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.cached.inner(), f)
            }
        }

        #[client_core::async_trait]
        impl client_core::TokenCredential for $credential {
            async fn get_token(
                &self,
                scopes: &[&str],
            ) -> Result<client_core::AccessToken, client_core::CredentialError> {
                self.cached.get_token(scopes).await
            }

            async fn invalidate(&self, scopes: &[&str], token: &client_core::AccessToken) {
                self.cached.invalidate(scopes, token).await
            }
        }
    };
}
pub(crate) use through_cache;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_sorted_and_deduplicated() {
        assert_eq!(TokenCache::key(&["b", "a", "b"]), "a b");
        assert_eq!(TokenCache::key(&["a", "b"]), TokenCache::key(&["b", "a"]));
    }
}

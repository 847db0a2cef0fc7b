//! A person signing in from a terminal: the OAuth 2.0 device authorization grant (RFC 8628)
//! as Microsoft Entra ID speaks it.

use crate::EntraError;
use crate::cache::{CachedCredential, through_cache};
use crate::options::{CredentialOptions, check_client_id};
use crate::token_cache_file::{
    SavedSignIn, SignInKey, TokenCacheFile, TokenCacheFileError, TokenCacheFileErrorKind,
};
use crate::token_endpoint::{Grant, Num, TokenEndpoint, scope_param};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Secret, TokenCredential, async_trait,
};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

/// The `grant_type` of a device code token request.
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The polling interval when the device authorization response names none (RFC 8628 §3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What `slow_down` adds to the polling interval (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Bounds a service-given interval, so a bad answer can neither spin nor stall the poll.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// What the person signing in must do: open [`verification_uri`](Self::verification_uri) on any
/// device and enter [`user_code`](Self::user_code) before [`expires_on`](Self::expires_on).
///
/// Handed to the callback given to [`DeviceCodeCredential::new`]; the library never prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodePrompt {
    user_code: String,
    verification_uri: String,
    message: String,
    expires_on: OffsetDateTime,
    reason: SignInReason,
}

/// Why a person is asked to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignInReason {
    /// No sign-in is held (none saved, or no token cache file).
    NotSignedIn,
    /// Entra ID refused the held refresh token (`error` is its OAuth error, such as
    /// `invalid_grant`: expired, revoked, or the password or consent changed); it was forgotten
    /// (and removed from the token cache file).
    Refused {
        /// The OAuth `error` Entra answered.
        error: String,
    },
}

impl fmt::Display for SignInReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignInReason::NotSignedIn => f.write_str("not signed in"),
            SignInReason::Refused { error } => write!(
                f,
                "the saved sign-in was refused ({error}: expired, revoked or no longer consented)"
            ),
        }
    }
}

impl DeviceCodePrompt {
    /// The short code the person enters.
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// Where to enter it (`https://microsoft.com/devicelogin` or similar).
    pub fn verification_uri(&self) -> &str {
        &self.verification_uri
    }

    /// Entra ID's own instructions, ready to show (localised when the app asked for it).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// When the code stops working.
    pub fn expires_on(&self) -> OffsetDateTime {
        self.expires_on
    }

    /// Why the person is asked (first sign-in, or a saved sign-in that was refused).
    pub fn reason(&self) -> &SignInReason {
        &self.reason
    }
}

/// Receives the sign-in instructions; called once per sign-in, before polling starts.
pub type DeviceCodeCallback = Arc<dyn Fn(&DeviceCodePrompt) + Send + Sync>;

/// Signs a person in with a code entered on another device (delegated permissions), for
/// programs run from a terminal, such as Security Copilot calls that act for a user.
///
/// - The first token request asks `{authority}/{tenant}/oauth2/v2.0/devicecode` for a code,
///   hands the instructions to the callback (the library prints nothing), then polls the token
///   endpoint with the `urn:ietf:params:oauth:grant-type:device_code` grant every `interval`
///   seconds (5 more after each `slow_down`), until the person signs in, declines, or the code
///   expires (`expires_in`, measured on the injected clock).
/// - `offline_access` is requested with every scope, so Entra ID returns a refresh token. It is
///   kept (as a [`Secret`]) and used for later scopes and refreshes. Without a token cache
///   file it lives in memory, so the person signs in once per process; with
///   [`with_token_cache_file`](Self::with_token_cache_file) it is saved (with the account,
///   authority, tenant and client) and redeemed by the next run, so the person signs in once.
/// - If Entra refuses the refresh token (`invalid_grant`: expired, revoked, password or
///   consent changed), it is forgotten, removed from the file, and the person is asked to sign
///   in again; the prompt's [`reason`](DeviceCodePrompt::reason) says why.
/// - A token cache file that cannot be used (unreadable, not a cache file, from a newer
///   version) is reported with a warning and the sign-in kept for this process only: it never
///   fails a token request.
/// - Tokens are cached like every credential of this crate; one sign-in runs at a time.
///
/// The app registration must allow public client flows (Authentication, "Allow public client
/// flows"); otherwise Entra asks for a client secret and the error says so.
///
/// ```no_run
/// use client_core::TokenCredential;
/// use entra_auth::{CredentialOptions, DeviceCodeCredential};
/// # async fn run() -> Result<(), client_core::CredentialError> {
/// let credential = DeviceCodeCredential::new(
///     "organizations",
///     "00000000-0000-0000-0000-000000000001",
///     |prompt| eprintln!("{}", prompt.message()),
///     CredentialOptions::default(),
/// )?;
/// let token = credential.get_token(&["https://api.securitycopilot.microsoft.com/.default"]).await?;
/// # Ok(()) }
/// ```
pub struct DeviceCodeCredential {
    cached: CachedCredential<DeviceCodeFlow>,
}

/// The uncached flow: refresh token first, else a device code sign-in.
struct DeviceCodeFlow {
    tenant_id: String,
    client_id: String,
    endpoint: TokenEndpoint,
    device_code_url: Url,
    prompt: DeviceCodeCallback,
    /// The authority host, part of the key of a saved sign-in.
    authority: String,
    refresh_token: Mutex<Option<Secret>>,
    /// The OAuth error of the last refused refresh token, for the next prompt.
    refused: Mutex<Option<String>>,
    persistent: Option<Persistent>,
    /// Held while a person is being asked to sign in, so concurrent requests for other scopes
    /// wait for that sign-in (and use its refresh token) instead of prompting again.
    signing_in: tokio::sync::Mutex<()>,
}

/// The device authorization response. v1 endpoints say `verification_url`; both are read.
#[derive(Deserialize)]
struct DeviceAuthorization {
    device_code: Option<Secret>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    verification_url: Option<String>,
    expires_in: Option<Num>,
    interval: Option<Num>,
    message: Option<String>,
}

impl DeviceCodeCredential {
    /// A credential for public client application `client_id` in `tenant_id` (a GUID, a
    /// domain, or `organizations`); `prompt` receives the sign-in instructions.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        prompt: impl Fn(&DeviceCodePrompt) + Send + Sync + 'static,
        options: CredentialOptions,
    ) -> Result<Self, CredentialError> {
        let (tenant_id, client_id) = (tenant_id.into(), client_id.into());
        check_client_id(&client_id)?;
        let endpoint = TokenEndpoint::new(&tenant_id, &options)?;
        let flow = DeviceCodeFlow {
            device_code_url: endpoint.sibling("devicecode")?,
            tenant_id,
            client_id,
            endpoint,
            prompt: Arc::new(prompt),
            refresh_token: Mutex::new(None),
            refused: Mutex::new(None),
            persistent: None,
            signing_in: tokio::sync::Mutex::new(()),
            authority: options.authority_host()?.to_string(),
        };
        Ok(Self {
            cached: CachedCredential::new(flow, options.clock().clone()),
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

    /// Whether a person has signed in (a refresh token is held). A saved sign-in is read from
    /// the token cache file at the first token request, so this is `false` until then.
    pub fn is_signed_in(&self) -> bool {
        self.cached.inner().refresh_token().is_some()
    }

    /// Keeps the sign-in in `file`, so later runs redeem its refresh token instead of asking
    /// the person again (see [`TokenCacheFile`]). Nothing is read until the first token request.
    pub fn with_token_cache_file(mut self, file: TokenCacheFile) -> Self {
        let flow = self.cached.inner_mut();
        flow.persistent = Some(Persistent {
            key: SignInKey::new(&flow.authority, &flow.tenant_id, &flow.client_id),
            file,
            loaded: tokio::sync::OnceCell::new(),
            writable: AtomicBool::new(true),
            saved: Mutex::new(SavedState::default()),
            writing: tokio::sync::Mutex::new(()),
        });
        self
    }

    /// The token cache file, if one was given.
    pub fn token_cache_file(&self) -> Option<&TokenCacheFile> {
        self.cached.inner().persistent.as_ref().map(|p| &p.file)
    }

    /// Forgets the sign-in: the refresh token in memory and its entry in the token cache file.
    /// Access tokens already handed out stay valid until they expire.
    pub async fn sign_out(&self) -> Result<(), CredentialError> {
        let flow = self.cached.inner();
        *flow.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.cached.clear();
        if let Some(p) = &flow.persistent {
            let _ = p.loaded.set(());
            p.remove().await.map_err(cache_file_error)?;
        }
        Ok(())
    }
}

/// A token cache file and what this credential keeps in it.
struct Persistent {
    file: TokenCacheFile,
    key: SignInKey,
    /// Set once the file was read (at the first token request).
    loaded: tokio::sync::OnceCell<()>,
    /// False once the file turned out not to be ours, or from a newer version: never overwrite.
    writable: AtomicBool,
    saved: Mutex<SavedState>,
    /// One save at a time in this process (each save rewrites the file).
    writing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct SavedState {
    account: Option<String>,
    scopes: BTreeSet<String>,
}

impl Persistent {
    /// Reads the saved sign-in, reporting (not failing on) a file that cannot be used.
    async fn load(&self) -> Option<Secret> {
        let (file, key) = (self.file.clone(), self.key.clone());
        match blocking(move || file.find(&key)).await {
            Ok(Some(saved)) => {
                tracing::debug!(path = %self.file.path().display(), "using the sign-in saved in the token cache file");
                let mut s = self.saved.lock().unwrap_or_else(|e| e.into_inner());
                s.account = saved.account().map(str::to_owned);
                s.scopes = saved.scopes().map(str::to_owned).collect();
                Some(saved.refresh_token().clone())
            }
            Ok(None) => None,
            Err(e) => {
                if matches!(
                    e.kind(),
                    TokenCacheFileErrorKind::NotACacheFile
                        | TokenCacheFileErrorKind::UnsupportedVersion
                ) {
                    self.writable.store(false, Ordering::SeqCst);
                }
                tracing::warn!(error = %e, "the token cache file cannot be used; the sign-in is kept for this run only");
                None
            }
        }
    }

    /// Saves the refresh token of a grant for `scope`; a failure is reported, not returned.
    async fn save(
        &self,
        refresh_token: &Secret,
        token: &AccessToken,
        scope: &str,
        now: OffsetDateTime,
    ) {
        if !self.writable.load(Ordering::SeqCst) {
            return;
        }
        let sign_in = {
            let mut s = self.saved.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(account) = home_account_id(token) {
                s.account = Some(account);
            }
            s.scopes.extend(
                scope
                    .split(' ')
                    .filter(|x| !x.is_empty() && *x != "offline_access")
                    .map(str::to_owned),
            );
            SavedSignIn::new(
                self.key.clone(),
                s.account.clone(),
                s.scopes.iter().cloned(),
                refresh_token.clone(),
                now,
            )
        };
        let _one = self.writing.lock().await;
        let file = self.file.clone();
        if let Err(e) = blocking(move || file.save(&sign_in)).await {
            tracing::warn!(error = %e, "cannot save the sign-in in the token cache file; the next run asks the person to sign in again");
        }
    }

    async fn remove(&self) -> Result<bool, TokenCacheFileError> {
        if !self.writable.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let _one = self.writing.lock().await;
        let (file, key) = (self.file.clone(), self.key.clone());
        blocking(move || file.remove(&key)).await
    }
}

/// The person's `{oid}.{tid}` from a JWT access token, when it is one.
fn home_account_id(token: &AccessToken) -> Option<String> {
    let claims = crate::TokenClaims::from_jwt(token.token.expose()).ok()?;
    Some(format!("{}.{}", claims.object_id()?, claims.tenant_id()?))
}

/// Runs file I/O off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TokenCacheFileError> + Send + 'static,
) -> Result<T, TokenCacheFileError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(TokenCacheFileError::task_failed(&e.to_string())),
    }
}

fn cache_file_error(e: TokenCacheFileError) -> CredentialError {
    CredentialError::new(CredentialErrorKind::InvalidConfiguration, e.to_string()).with_source(e)
}

through_cache!(DeviceCodeCredential);

impl DeviceCodeFlow {
    fn refresh_token(&self) -> Option<Secret> {
        self.refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn keep(&self, grant: Grant, scope: &str) -> AccessToken {
        if let Some(rt) = grant.refresh_token {
            // Entra rotates refresh tokens: the newest replaces the old one.
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt.clone());
            if let Some(p) = &self.persistent {
                p.save(&rt, &grant.token, scope, self.endpoint.clock().now())
                    .await;
            }
        }
        grant.token
    }

    /// Reads the token cache file once, before the first refresh.
    async fn load_saved(&self) {
        let Some(p) = &self.persistent else { return };
        p.loaded
            .get_or_init(|| async {
                if let Some(rt) = p.load().await {
                    let mut slot = self.refresh_token.lock().unwrap_or_else(|e| e.into_inner());
                    if slot.is_none() {
                        *slot = Some(rt);
                    }
                }
            })
            .await;
    }

    /// A token from the refresh token, if one is held and Entra still accepts it.
    async fn refresh(&self, scope: &str) -> Result<Option<AccessToken>, CredentialError> {
        let Some(rt) = self.refresh_token() else {
            return Ok(None);
        };
        tracing::debug!(tenant = %self.tenant_id, client_id = %self.client_id, %scope, "requesting a token with the refresh token");
        let result = self
            .endpoint
            .grant(&[
                ("client_id", self.client_id.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.expose()),
                ("scope", scope),
            ])
            .await;
        match result {
            Ok(grant) => Ok(Some(self.keep(grant, scope).await)),
            Err(e) if needs_sign_in(&e) => {
                tracing::warn!(error = %e, "the saved sign-in was refused; the person must sign in again");
                *self.refused.lock().unwrap_or_else(|e| e.into_inner()) =
                    oauth_error(&e).map(str::to_owned);
                let forgot = {
                    let mut slot = self.refresh_token.lock().unwrap_or_else(|e| e.into_inner());
                    // Only forget the token that was refused, not a newer one.
                    let same = slot.as_ref() == Some(&rt);
                    if same {
                        *slot = None;
                    }
                    same
                };
                if forgot
                    && let Some(p) = &self.persistent
                    && let Err(e) = p.remove().await
                {
                    tracing::warn!(error = %e, "cannot remove the refused sign-in from the token cache file");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn sign_in(&self, scope: &str) -> Result<AccessToken, CredentialError> {
        let clock = self.endpoint.clock().clone();
        let started = clock.now();
        let response = self
            .endpoint
            .post_form(
                &self.device_code_url,
                &[("client_id", self.client_id.as_str()), ("scope", scope)],
            )
            .await
            .map_err(public_client_hint)?;
        let (device_code, mut prompt, mut interval) =
            parse_authorization(response.body(), started)?;
        if let Some(error) = self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            prompt.reason = SignInReason::Refused { error };
        }
        tracing::debug!(tenant = %self.tenant_id, client_id = %self.client_id, %scope, expires_on = %prompt.expires_on, "waiting for the device code sign-in");
        (self.prompt)(&prompt);
        loop {
            clock.sleep(interval).await;
            if clock.now() >= prompt.expires_on {
                return Err(CredentialError::new(
                    CredentialErrorKind::Rejected,
                    "the device code expired before the sign-in was completed",
                )
                .with_hint(
                    "run again and finish signing in at the address shown before the code expires",
                ));
            }
            let result = self
                .endpoint
                .grant(&[
                    ("client_id", self.client_id.as_str()),
                    ("grant_type", DEVICE_CODE_GRANT_TYPE),
                    ("device_code", device_code.expose()),
                ])
                .await;
            match result {
                Ok(grant) => return Ok(self.keep(grant, scope).await),
                Err(e) => match oauth_error(&e) {
                    Some("authorization_pending") => {}
                    Some("slow_down") => {
                        interval = (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL);
                        tracing::debug!(
                            interval_s = interval.as_secs(),
                            "asked to poll more slowly"
                        );
                    }
                    _ => return Err(e),
                },
            }
        }
    }
}

#[async_trait]
impl TokenCredential for DeviceCodeFlow {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        let scope = with_offline_access(&scope_param(scopes)?);
        self.load_saved().await;
        if let Some(token) = self.refresh(&scope).await? {
            return Ok(token);
        }
        let _one_at_a_time = self.signing_in.lock().await;
        // A sign-in that finished while this request waited left a refresh token to use.
        if let Some(token) = self.refresh(&scope).await? {
            return Ok(token);
        }
        self.sign_in(&scope).await
    }
}

impl fmt::Debug for DeviceCodeFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("refresh_token", &self.refresh_token())
            .field("device_code_url", &self.device_code_url.as_str())
            .field(
                "token_cache_file",
                &self.persistent.as_ref().map(|p| p.file.path()),
            )
            .finish()
    }
}

/// Adds `offline_access`, which makes Entra ID return a refresh token.
fn with_offline_access(scope: &str) -> String {
    if scope.split(' ').any(|s| s == "offline_access") {
        scope.to_owned()
    } else {
        format!("{scope} offline_access")
    }
}

/// The OAuth `error` of a refused token request, if Entra answered one.
fn oauth_error(e: &CredentialError) -> Option<&str> {
    e.downcast_ref::<EntraError>()
        .map(|x| x.details().error.as_str())
}

/// Whether a refused refresh means the person must sign in again.
fn needs_sign_in(e: &CredentialError) -> bool {
    matches!(
        oauth_error(e),
        Some("invalid_grant" | "interaction_required" | "consent_required" | "login_required")
    )
}

/// A device code request refused for want of a client secret means the app registration does
/// not allow public client flows: say that, rather than "configure a secret".
fn public_client_hint(e: CredentialError) -> CredentialError {
    let needs_secret = e
        .downcast_ref::<EntraError>()
        .is_some_and(|x| matches!(x, EntraError::MissingClientCredential(_)));
    if needs_secret {
        e.with_hint(
            "enable \"Allow public client flows\" under the app registration's Authentication \
             settings: the device code flow sends no client secret",
        )
    } else {
        e
    }
}

fn parse_authorization(
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(Secret, DeviceCodePrompt, Duration), CredentialError> {
    let invalid = |why: &str| {
        CredentialError::new(
            CredentialErrorKind::InvalidResponse,
            format!("the device authorization endpoint answered without a usable code: {why}"),
        )
    };
    let a: DeviceAuthorization =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not the expected JSON"))?;
    let device_code = a
        .device_code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("no device_code"))?;
    let user_code = a
        .user_code
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| invalid("no user_code"))?;
    let verification_uri = a
        .verification_uri
        .or(a.verification_url)
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| invalid("no verification_uri"))?;
    let expires_on = a
        .expires_in
        .as_ref()
        .and_then(Num::as_i64)
        .and_then(|s| crate::token_endpoint::after(now, s))
        .ok_or_else(|| invalid("no usable expires_in"))?;
    let interval = a
        .interval
        .as_ref()
        .and_then(Num::as_i64)
        .and_then(|s| u64::try_from(s).ok())
        .map_or(DEFAULT_INTERVAL, Duration::from_secs)
        .clamp(MIN_INTERVAL, MAX_INTERVAL);
    let message = a
        .message
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| {
            format!("To sign in, open {verification_uri} and enter the code {user_code}.")
        });
    Ok((
        device_code,
        DeviceCodePrompt {
            user_code,
            verification_uri,
            message,
            expires_on,
            reason: SignInReason::NotSignedIn,
        },
        interval,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_access_is_added_once() {
        assert_eq!(
            with_offline_access("https://graph.microsoft.com/.default"),
            "https://graph.microsoft.com/.default offline_access"
        );
        assert_eq!(with_offline_access("a offline_access"), "a offline_access");
    }

    #[test]
    fn authorization_fields_and_defaults() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let (code, p, interval) = parse_authorization(
            br#"{"device_code":"dc","user_code":"ABC","verification_url":"https://x/link","expires_in":"900"}"#,
            now,
        )
        .unwrap();
        assert_eq!(code.expose(), "dc");
        assert_eq!(p.verification_uri(), "https://x/link");
        assert!(p.message().contains("ABC") && p.message().contains("https://x/link"));
        assert_eq!(p.expires_on(), now + Duration::from_secs(900));
        assert_eq!(interval, DEFAULT_INTERVAL);
        let (_, _, interval) = parse_authorization(
            br#"{"device_code":"dc","user_code":"ABC","verification_uri":"u","expires_in":900,"interval":0}"#,
            now,
        )
        .unwrap();
        assert_eq!(interval, MIN_INTERVAL);
        for bad in [
            &br#"{"user_code":"A","verification_uri":"u","expires_in":900}"#[..],
            br#"{"device_code":"d","verification_uri":"u","expires_in":900}"#,
            br#"{"device_code":"d","user_code":"A","expires_in":900}"#,
            br#"{"device_code":"d","user_code":"A","verification_uri":"u","expires_in":0}"#,
            b"<html>",
        ] {
            let e = parse_authorization(bad, now).unwrap_err();
            assert_eq!(e.kind(), CredentialErrorKind::InvalidResponse, "{e}");
        }
    }
}

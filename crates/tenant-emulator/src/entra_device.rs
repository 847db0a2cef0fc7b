//! Entra ID's device authorization grant, for delegated sign-in from a terminal:
//!
//! - `POST /{tenant}/oauth2/v2.0/devicecode` (`client_id`, `scope`) answers `device_code`,
//!   `user_code`, `verification_uri`, `expires_in`, `interval` and `message`;
//! - the token endpoint takes `grant_type=urn:ietf:params:oauth:grant-type:device_code` with
//!   `client_id` and `device_code`, answering `authorization_pending` until the sign-in is
//!   approved, `slow_down` (and 5 s more interval) to a client polling faster than the
//!   interval, `authorization_declined`, `expired_token` after `expires_in`, or
//!   `bad_verification_code`;
//! - with `offline_access` in the scope the answer carries a refresh token, which the token
//!   endpoint takes back with `grant_type=refresh_token` for any registered resource. Each use
//!   returns a new one (the old one stays valid); one unused for 90 days of emulator time is
//!   refused with `invalid_grant` (AADSTS700082), as is every one after
//!   [`DeviceSignIn::revoke_refresh_tokens`] (AADSTS70008).
//!
//! Who approves: by default the sign-in is approved on the second poll (set with
//! [`DeviceSignIn::approve_after_polls`]); with `None`, a test approves or declines it
//! with [`DeviceSignIn::approve`] / [`DeviceSignIn::decline`], or over the admin API
//! (`POST /_emulator/devicelogin` with `{"user_code": "...", "approve": true}`). Any registered
//! app may use the flow (a real app needs "Allow public client flows"). Tokens are user
//! tokens (`idtyp` `user`, `scp`, `upn`) for the [`SignedInUser`].
//!
//! The AADSTS numbers of the polling errors are not all documented; clients branch on the
//! `error` string, as the protocol says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entra::{AadError, Entra};

/// The `grant_type` of a device code token request.
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Where people are sent to enter the code (Microsoft's address; nothing is served there).
pub const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";

/// Scopes that ask for sign-in features rather than a resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The person who signs in with a device code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedInUser {
    /// `oid` and `sub`.
    pub object_id: Uuid,
    /// `upn`.
    pub user_principal_name: String,
    /// `name`.
    pub display_name: String,
    /// `scp`: the delegated permissions consented for the app.
    pub scopes: Vec<String>,
}

impl Default for SignedInUser {
    fn default() -> Self {
        Self {
            object_id: Uuid::from_u128(0x5ec0_0000_0000_4000_8000_0000_0000_0001),
            user_principal_name: "security.analyst@contoso.onmicrosoft.com".to_owned(),
            display_name: "Security Analyst".to_owned(),
            scopes: vec!["user_impersonation".to_owned()],
        }
    }
}

/// A sign-in waiting for its person, as [`DeviceSignIn::pending`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingSignIn {
    /// The code the person would enter.
    pub user_code: String,
    /// The app asking.
    pub client_id: Uuid,
    /// The scopes asked for.
    pub scope: String,
    /// Token requests so far.
    pub polls: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approved,
    Declined,
}

struct Pending {
    client_id: Uuid,
    scope: String,
    user_code: String,
    expires_at: OffsetDateTime,
    interval: Duration,
    last_poll: Option<OffsetDateTime>,
    polls: u32,
    decision: Option<Decision>,
}

struct Session {
    client_id: Uuid,
    user: SignedInUser,
    issued_at: OffsetDateTime,
}

/// How long an unused refresh token stays good (Entra's default for all but single-page apps).
pub const REFRESH_TOKEN_INACTIVITY: Duration = Duration::from_secs(90 * 86_400);

struct SignIns {
    expires_in: Duration,
    interval: Duration,
    approve_after_polls: Option<u32>,
    user: SignedInUser,
    /// By device code.
    pending: HashMap<String, Pending>,
    /// By refresh token.
    sessions: HashMap<String, Session>,
}

/// The tenant's device code sign-ins (see the [module](self) docs).
#[derive(Clone)]
pub struct DeviceSignIn {
    state: Arc<Mutex<SignIns>>,
}

impl Default for DeviceSignIn {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(SignIns {
                expires_in: Duration::from_secs(900),
                interval: Duration::from_secs(5),
                approve_after_polls: Some(1),
                user: SignedInUser::default(),
                pending: HashMap::new(),
                sessions: HashMap::new(),
            })),
        }
    }
}

impl std::fmt::Debug for DeviceSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("DeviceSignIn")
            .field("pending", &s.pending.len())
            .field("sessions", &s.sessions.len())
            .finish_non_exhaustive()
    }
}

impl DeviceSignIn {
    fn lock(&self) -> std::sync::MutexGuard<'_, SignIns> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sign-ins are approved on the poll after `polls` polls (default `Some(1)`: the first
    /// poll is pending, the second gets the token); `None` waits for [`approve`](Self::approve).
    pub fn approve_after_polls(&self, polls: Option<u32>) {
        self.lock().approve_after_polls = polls;
    }

    /// The `interval` handed out with new codes (default 5 s).
    pub fn set_interval(&self, interval: Duration) {
        self.lock().interval = interval;
    }

    /// The `expires_in` of new codes (default 900 s).
    pub fn set_expires_in(&self, expires_in: Duration) {
        self.lock().expires_in = expires_in;
    }

    /// Who signs in from now on.
    pub fn set_user(&self, user: SignedInUser) {
        self.lock().user = user;
    }

    /// The sign-ins waiting for their person.
    pub fn pending(&self) -> Vec<PendingSignIn> {
        let mut out: Vec<PendingSignIn> = self
            .lock()
            .pending
            .values()
            .filter(|p| p.decision.is_none())
            .map(|p| PendingSignIn {
                user_code: p.user_code.clone(),
                client_id: p.client_id,
                scope: p.scope.clone(),
                polls: p.polls,
            })
            .collect();
        out.sort_by(|a, b| a.user_code.cmp(&b.user_code));
        out
    }

    /// The person enters `user_code` and approves; false if no sign-in waits for that code.
    pub fn approve(&self, user_code: &str) -> bool {
        self.decide(user_code, Decision::Approved)
    }

    /// The person enters `user_code` and declines; false if no sign-in waits for that code.
    pub fn decline(&self, user_code: &str) -> bool {
        self.decide(user_code, Decision::Declined)
    }

    fn decide(&self, user_code: &str, decision: Decision) -> bool {
        let mut s = self.lock();
        let found = s
            .pending
            .values_mut()
            .find(|p| p.user_code.eq_ignore_ascii_case(user_code.trim()) && p.decision.is_none());
        match found {
            Some(p) => {
                p.decision = Some(decision);
                true
            }
            None => false,
        }
    }

    /// Refuses every refresh token issued so far (the next refresh gets `invalid_grant`).
    pub fn revoke_refresh_tokens(&self) {
        self.lock().sessions.clear();
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn device_code_endpoint(
    State(entra): State<Entra>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = entra.now();
    match authorize(&entra, &tenant, &headers, &body, now) {
        Ok(body) => json_ok(&body),
        Err(e) => e.into_response(now),
    }
}

fn json_ok(body: &Value) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store, no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn authorize(
    entra: &Entra,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Value, AadError> {
    let form = entra.check_request(tenant, headers, body)?;
    let app = entra.find_app(
        form.get("client_id")
            .ok_or_else(|| AadError::missing("client_id"))?,
    )?;
    let scope = form.get("scope").map(|s| s.trim()).unwrap_or_default();
    resource_of(entra, scope)?;
    let device = entra.device_sign_in();
    let mut s = device.lock();
    let user_code = user_code(Uuid::new_v4());
    let device_code = format!("DAQABIQEAAAD{}", Uuid::new_v4().simple());
    let (expires_in, interval) = (s.expires_in, s.interval);
    s.pending.insert(
        device_code.clone(),
        Pending {
            client_id: app.client_id(),
            scope: scope.to_owned(),
            user_code: user_code.clone(),
            expires_at: now + expires_in,
            interval,
            last_poll: None,
            polls: 0,
            decision: None,
        },
    );
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": VERIFICATION_URI,
        "expires_in": expires_in.as_secs(),
        "interval": interval.as_secs(),
        "message": format!("To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {user_code} to authenticate."),
    }))
}

/// Eight characters from an unambiguous alphabet, as Entra's codes look.
fn user_code(seed: Uuid) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    seed.as_bytes()
        .iter()
        .take(8)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// The one resource a delegated scope list names (`{resource}/.default` or
/// `{resource}/{permission}`), ignoring `openid`, `profile`, `email` and `offline_access`.
fn resource_of(entra: &Entra, scope: &str) -> Result<String, AadError> {
    if scope.is_empty() {
        return Err(AadError::new(
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter.",
        ));
    }
    let resources: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .filter_map(|s| s.rsplit_once('/').map(|(resource, _)| resource))
        .filter(|r| !r.is_empty())
        .collect();
    let [resource] = resources.as_slice() else {
        return Err(AadError::new(
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} must name exactly one resource."
            ),
        ));
    };
    if !entra.has_resource(resource) {
        return Err(AadError::new(
            "invalid_resource",
            500011,
            format!("The resource principal named {resource} was not found in the tenant."),
        ));
    }
    Ok((*resource).to_owned())
}

/// Answers the token endpoint's delegated grants; `None` for a grant type it does not know.
pub(crate) fn delegated_grant(
    entra: &Entra,
    grant_type: &str,
    form: &HashMap<String, String>,
    now: OffsetDateTime,
) -> Option<Result<Value, AadError>> {
    match grant_type {
        DEVICE_CODE_GRANT_TYPE => Some(poll(entra, form, now)),
        "refresh_token" => Some(refresh(entra, form, now)),
        _ => None,
    }
}

fn poll(
    entra: &Entra,
    form: &HashMap<String, String>,
    now: OffsetDateTime,
) -> Result<Value, AadError> {
    let client_id = form
        .get("client_id")
        .ok_or_else(|| AadError::missing("client_id"))?;
    let device_code = form
        .get("device_code")
        .ok_or_else(|| AadError::missing("device_code"))?;
    let bad_code = || {
        AadError::new(
            "bad_verification_code",
            70000,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    };
    let device = entra.device_sign_in();
    let mut s = device.lock();
    let approve_after = s.approve_after_polls;
    let p = s.pending.get_mut(device_code).ok_or_else(bad_code)?;
    if !p
        .client_id
        .to_string()
        .eq_ignore_ascii_case(client_id.trim())
    {
        return Err(bad_code());
    }
    if now >= p.expires_at {
        s.pending.remove(device_code);
        return Err(AadError::new(
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. Device codes are valid for 15 minutes.",
        ));
    }
    if p.last_poll.is_some_and(|last| now - last < p.interval) {
        p.interval += Duration::from_secs(5);
        p.last_poll = Some(now);
        return Err(AadError::new(
            "slow_down",
            70016,
            "The client is polling too fast; wait longer between requests.",
        ));
    }
    p.last_poll = Some(now);
    p.polls += 1;
    if p.decision.is_none() && approve_after.is_some_and(|n| p.polls > n) {
        p.decision = Some(Decision::Approved);
    }
    match p.decision {
        None => Err(AadError::new(
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )),
        Some(Decision::Declined) => {
            s.pending.remove(device_code);
            Err(AadError::new(
                "authorization_declined",
                70000,
                "The user denied the authorization request.",
            ))
        }
        Some(Decision::Approved) => {
            let Some(p) = s.pending.remove(device_code) else {
                return Err(bad_code());
            };
            let user = s.user.clone();
            drop(s);
            grant(entra, p.client_id, user, &p.scope, now)
        }
    }
}

fn refresh(
    entra: &Entra,
    form: &HashMap<String, String>,
    now: OffsetDateTime,
) -> Result<Value, AadError> {
    let client_id = form
        .get("client_id")
        .ok_or_else(|| AadError::missing("client_id"))?;
    let token = form
        .get("refresh_token")
        .ok_or_else(|| AadError::missing("refresh_token"))?;
    let scope = form.get("scope").map(|s| s.trim()).unwrap_or_default();
    let session = {
        let device = entra.device_sign_in();
        let mut s = device.lock();
        let expired = s
            .sessions
            .get(token)
            .is_some_and(|session| now - session.issued_at >= REFRESH_TOKEN_INACTIVITY);
        if expired {
            s.sessions.remove(token);
            return Err(AadError::new(
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token was inactive for 90.00:00:00.",
            ));
        }
        s.sessions
            .get(token)
            .filter(|session| {
                session
                    .client_id
                    .to_string()
                    .eq_ignore_ascii_case(client_id.trim())
            })
            .map(|session| (session.client_id, session.user.clone()))
    };
    let Some((client_id, user)) = session else {
        return Err(AadError::new(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity or was revoked. Send a new interactive authorization request for this user and resource.",
        ));
    };
    // Entra always returns a new refresh token here; the old one stays valid too.
    let scope = if scope.split_whitespace().any(|s| s == "offline_access") {
        scope.to_owned()
    } else {
        format!("{scope} offline_access")
    };
    grant(entra, client_id, user, &scope, now)
}

/// A user token for the scope's resource, and a refresh token if `offline_access` was asked.
fn grant(
    entra: &Entra,
    client_id: Uuid,
    user: SignedInUser,
    scope: &str,
    now: OffsetDateTime,
) -> Result<Value, AadError> {
    let resource = resource_of(entra, scope)?;
    let app = entra.app(client_id);
    let claims = json!({
        "app_displayname": app.as_ref().map(|a| a.display_name().to_owned()),
        "appid": client_id,
        "appidacr": "0",
        "azp": client_id,
        "azpacr": "0",
        "idtyp": "user",
        "name": user.display_name,
        "oid": user.object_id,
        "scp": user.scopes.join(" "),
        "sub": user.object_id,
        "upn": user.user_principal_name,
    });
    let token = entra.sign_token(&resource, claims);
    let lifetime = entra.token_lifetime().as_secs();
    let mut answer = json!({
        "token_type": "Bearer",
        "scope": scope.split_whitespace().filter(|s| !OIDC_SCOPES.contains(s)).collect::<Vec<_>>().join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    if scope.split_whitespace().any(|s| s == "offline_access") {
        let refresh_token = format!("0.AAAA{}", Uuid::new_v4().simple());
        entra.device_sign_in().lock().sessions.insert(
            refresh_token.clone(),
            Session {
                client_id,
                user,
                issued_at: now,
            },
        );
        answer["refresh_token"] = Value::String(refresh_token);
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_unambiguous_characters() {
        let code = user_code(Uuid::from_u128(u128::MAX));
        assert_eq!(code.len(), 8);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert!(!code.contains(['0', 'O', '1', 'I']));
    }
}

//! The Microsoft Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`) for the client
//! credentials grant, with client secrets or certificate assertions, and the access tokens it
//! issues.
//!
//! Errors answer with Entra's documented body (`error`, `error_description` starting with
//! `AADSTSnnnnn:`, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{digest, hmac, signature};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::SharedClock;

/// The `client_assertion_type` value for certificate and federated assertions.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client secret registered on an app.
#[derive(Clone)]
pub struct ClientSecret {
    id: Uuid,
    value: String,
    expires_at: Option<OffsetDateTime>,
}

impl ClientSecret {
    /// A secret with this value that never expires. Its ID (what people paste by mistake) is random.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            id: Uuid::new_v4(),
            value: value.into(),
            expires_at: None,
        }
    }

    /// Sets the secret's ID (the GUID the portal shows beside the value).
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Makes the secret expire at `at` (requests after that answer AADSTS7000222).
    #[must_use]
    pub fn expires_at(mut self, at: OffsetDateTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The secret's ID.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The secret's value (what a client sends as `client_secret`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// When the secret expires, if ever.
    pub fn expiry(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A certificate registered on an app, for `client_assertion` sign-in.
#[derive(Clone)]
pub struct AppCertificate {
    sha1: Vec<u8>,
    sha256: Vec<u8>,
    rsa_public_key: Option<Vec<u8>>,
}

impl AppCertificate {
    /// Registers a certificate from its DER bytes; its SHA-1 (`x5t`) and SHA-256 (`x5t#S256`)
    /// thumbprints are what assertions must name.
    pub fn from_der(certificate_der: &[u8]) -> Self {
        Self {
            sha1: digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, certificate_der)
                .as_ref()
                .to_vec(),
            sha256: digest::digest(&digest::SHA256, certificate_der)
                .as_ref()
                .to_vec(),
            rsa_public_key: None,
        }
    }

    /// Also verifies assertion signatures (RS256 / PS256) with this RSA public key, given as a
    /// DER `RSAPublicKey` (PKCS#1). Without it only the thumbprint and the claims are checked.
    #[must_use]
    pub fn with_rsa_public_key(mut self, pkcs1_der: impl Into<Vec<u8>>) -> Self {
        self.rsa_public_key = Some(pkcs1_der.into());
        self
    }

    /// The base64url SHA-1 thumbprint (`x5t`).
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.sha1)
    }

    /// The base64url SHA-256 thumbprint (`x5t#S256`).
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.sha256)
    }
}

impl fmt::Debug for AppCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCertificate")
            .field("x5t#S256", &self.x5t_s256())
            .field("verifies_signature", &self.rsa_public_key.is_some())
            .finish()
    }
}

/// What the app's Dataverse application user (a `systemusers` row with `applicationid`) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DataverseAccess {
    /// No application user: Dataverse answers 403 to every request of this app.
    None,
    /// An application user with a least-privilege role (read of the Copilot Studio tables).
    #[default]
    LeastPrivilege,
    /// An application user that also holds System Administrator and System Customizer.
    OverPrivileged,
}

/// An app registration (with its service principal) in the emulated tenant.
#[derive(Debug, Clone)]
pub struct AppRegistration {
    client_id: Uuid,
    object_id: Uuid,
    display_name: String,
    secrets: Vec<ClientSecret>,
    certificates: Vec<AppCertificate>,
    roles: Vec<String>,
    graph_roles: Vec<String>,
    dataverse_access: DataverseAccess,
}

impl AppRegistration {
    /// An app with this client ID and display name, no credentials yet, and a least-privilege
    /// Dataverse application user.
    pub fn new(client_id: Uuid, display_name: impl Into<String>) -> Self {
        Self {
            client_id,
            object_id: Uuid::new_v4(),
            display_name: display_name.into(),
            secrets: Vec::new(),
            certificates: Vec::new(),
            roles: Vec::new(),
            graph_roles: Vec::new(),
            dataverse_access: DataverseAccess::default(),
        }
    }

    /// Sets the service principal's object ID (`oid` in tokens).
    #[must_use]
    pub fn with_object_id(mut self, object_id: Uuid) -> Self {
        self.object_id = object_id;
        self
    }

    /// Adds a client secret.
    #[must_use]
    pub fn with_secret(mut self, secret: ClientSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Adds a certificate credential.
    #[must_use]
    pub fn with_certificate(mut self, certificate: AppCertificate) -> Self {
        self.certificates.push(certificate);
        self
    }

    /// Sets the application roles carried in the `roles` claim.
    #[must_use]
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the Microsoft Graph application permissions granted with admin consent (e.g.
    /// `AiEnterpriseInteraction.Read.All`): added to the `roles` claim of Graph tokens only.
    #[must_use]
    pub fn with_graph_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.graph_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The Microsoft Graph application permissions.
    pub fn graph_roles(&self) -> &[String] {
        &self.graph_roles
    }

    /// Sets what the app's Dataverse application user may do.
    #[must_use]
    pub fn with_dataverse_access(mut self, access: DataverseAccess) -> Self {
        self.dataverse_access = access;
        self
    }

    /// The application (client) ID.
    pub fn client_id(&self) -> Uuid {
        self.client_id
    }

    /// The service principal's object ID.
    pub fn object_id(&self) -> Uuid {
        self.object_id
    }

    /// The display name.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The registered client secrets.
    pub fn secrets(&self) -> &[ClientSecret] {
        &self.secrets
    }

    /// The application roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// What the app's Dataverse application user may do.
    pub fn dataverse_access(&self) -> DataverseAccess {
        self.dataverse_access
    }
}

/// The verified claims of an access token issued by the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// `aud`: the resource the token is for.
    pub audience: String,
    /// `appid`: the client ID.
    pub app_id: Uuid,
    /// `oid`: the service principal's object ID.
    pub object_id: Uuid,
    /// `tid`: the tenant ID.
    pub tenant_id: Uuid,
    /// `roles`.
    pub roles: Vec<String>,
    /// `scp`: the delegated permissions of a user's token (empty for an app's token).
    pub scopes: Vec<String>,
    /// `iat`, unix seconds.
    pub issued_at: i64,
    /// `exp`, unix seconds.
    pub expires_at: i64,
    serial: u64,
}

/// Why an access token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Not three base64url JSON parts.
    #[error("the access token is malformed")]
    Malformed,
    /// Not signed by this emulator.
    #[error("the access token signature is invalid")]
    BadSignature,
    /// Past its `exp`, or expired by fault injection.
    #[error("the access token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("the access token is not yet valid")]
    NotYetValid,
}

struct Inner {
    tenant_id: Uuid,
    domain: String,
    apps: RwLock<HashMap<Uuid, AppRegistration>>,
    resources: RwLock<Vec<String>>,
    token_lifetime: RwLock<Duration>,
    key: hmac::Key,
    serial: AtomicU64,
    /// Tokens with a serial below this are treated as expired (forced expiry).
    revoked_below: AtomicU64,
    clock: SharedClock,
    /// The origin (`http://127.0.0.1:PORT`) the endpoint is served on, for assertion `aud`.
    authority: RwLock<String>,
    /// Device code sign-ins and the refresh tokens they issued.
    device: crate::entra_device::DeviceSignIn,
}

/// The emulated Entra tenant: its app registrations, the token endpoint and token validation.
#[derive(Clone)]
pub struct Entra {
    inner: Arc<Inner>,
}

impl fmt::Debug for Entra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entra")
            .field("tenant_id", &self.inner.tenant_id)
            .field("domain", &self.inner.domain)
            .finish_non_exhaustive()
    }
}

fn normalise_resource(resource: &str) -> String {
    resource.trim_end_matches('/').to_ascii_lowercase()
}

impl Entra {
    /// A tenant with this ID and verified domain, signing tokens with a key derived from `seed`.
    pub fn new(tenant_id: Uuid, domain: impl Into<String>, seed: u64, clock: SharedClock) -> Self {
        let key_bytes: Vec<u8> = (0..4u64)
            .flat_map(|i| crate::rng::derive(seed, &[0x70_6b, i]).to_le_bytes())
            .collect();
        Self {
            inner: Arc::new(Inner {
                tenant_id,
                domain: domain.into().to_ascii_lowercase(),
                apps: RwLock::new(HashMap::new()),
                resources: RwLock::new(Vec::new()),
                token_lifetime: RwLock::new(Duration::from_secs(3599)),
                key: hmac::Key::new(hmac::HMAC_SHA256, &key_bytes),
                serial: AtomicU64::new(1),
                revoked_below: AtomicU64::new(0),
                clock,
                authority: RwLock::new(String::new()),
                device: crate::entra_device::DeviceSignIn::default(),
            }),
        }
    }

    /// The tenant ID.
    pub fn tenant_id(&self) -> Uuid {
        self.inner.tenant_id
    }

    /// The tenant's verified domain (`{name}.onmicrosoft.com`).
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// Registers (or replaces) an app.
    pub fn register_app(&self, app: AppRegistration) {
        write(&self.inner.apps).insert(app.client_id, app);
    }

    /// The app with this client ID.
    pub fn app(&self, client_id: Uuid) -> Option<AppRegistration> {
        read(&self.inner.apps).get(&client_id).cloned()
    }

    /// All registered apps.
    pub fn apps(&self) -> Vec<AppRegistration> {
        let mut apps: Vec<_> = read(&self.inner.apps).values().cloned().collect();
        apps.sort_by_key(|a| a.client_id);
        apps
    }

    /// Accepts `{resource}/.default` scopes for this resource (e.g. the environment URL).
    pub fn add_resource(&self, resource: &str) {
        let r = normalise_resource(resource);
        let mut resources = write(&self.inner.resources);
        if !resources.contains(&r) {
            resources.push(r);
        }
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *write(&self.inner.token_lifetime) = lifetime;
    }

    /// Sets the origin the token endpoint is served on (assertions' `aud` is checked against it).
    pub fn set_authority(&self, origin: &str) {
        *write(&self.inner.authority) = origin.trim_end_matches('/').to_owned();
    }

    /// Makes every token issued so far expired; tokens issued afterwards are valid.
    pub fn expire_issued_tokens(&self) {
        let next = self.inner.serial.load(Ordering::SeqCst);
        self.inner.revoked_below.fetch_max(next, Ordering::SeqCst);
    }

    /// Device code sign-ins: approve or decline them, choose who signs in, revoke refresh
    /// tokens.
    pub fn device_sign_in(&self) -> &crate::entra_device::DeviceSignIn {
        &self.inner.device
    }

    /// The lifetime of issued access tokens.
    pub(crate) fn token_lifetime(&self) -> Duration {
        *read(&self.inner.token_lifetime)
    }

    /// Whether `{resource}/.default` scopes are accepted for this resource.
    pub(crate) fn has_resource(&self, resource: &str) -> bool {
        read(&self.inner.resources).contains(&normalise_resource(resource))
    }

    /// Adds the claims every issued token has (`aud`, `iss`, `iat`, `nbf`, `exp`, `tid`,
    /// `uti`, `ver`) to `claims` and signs the token.
    pub(crate) fn sign_token(&self, resource: &str, mut claims: Value) -> String {
        let now = self.inner.clock.now().unix_timestamp();
        let lifetime = read(&self.inner.token_lifetime).as_secs();
        let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX / 4);
        let serial = self.inner.serial.fetch_add(1, Ordering::SeqCst);
        let tid = self.inner.tenant_id;
        if let Some(c) = claims.as_object_mut() {
            for (name, value) in [
                ("aud", json!(resource.trim_end_matches('/'))),
                ("iss", json!(format!("https://sts.windows.net/{tid}/"))),
                ("iat", json!(now)),
                ("nbf", json!(now)),
                ("exp", json!(now.saturating_add(lifetime))),
                ("tid", json!(tid)),
                ("uti", json!(URL_SAFE_NO_PAD.encode(serial.to_be_bytes()))),
                ("ver", json!("1.0")),
            ] {
                c.insert(name.to_owned(), value);
            }
        }
        let header = json!({"typ": "JWT", "alg": "HS256", "kid": "tenant-emulator"});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let tag = hmac::sign(&self.inner.key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Issues an access token for `resource` to `app` (no credential check): for tests that
    /// need a token without a round trip.
    pub fn issue_token(&self, app: &AppRegistration, resource: &str, assertion: bool) -> String {
        let tid = self.inner.tenant_id;
        // Graph permissions appear only in Graph tokens, as Entra scopes roles by resource.
        let mut roles = app.roles.clone();
        if resource.trim_end_matches('/') == crate::graph::GRAPH_RESOURCE {
            roles.extend(app.graph_roles.iter().cloned());
        }
        let claims = json!({
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": if assertion { "2" } else { "1" },
            "azp": app.client_id,
            "azpacr": if assertion { "2" } else { "1" },
            "idp": format!("https://sts.windows.net/{tid}/"),
            "idtyp": "app",
            "oid": app.object_id,
            "roles": roles,
            "sub": app.object_id,
        });
        self.sign_token(resource, claims)
    }

    /// Checks an access token's signature and lifetime (not its audience: that is the
    /// resource's business).
    pub fn validate_token(&self, token: &str) -> Result<AccessTokenClaims, TokenRejection> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenRejection::Malformed)?;
        let signing_input = format!("{h}.{c}");
        hmac::verify(&self.inner.key, signing_input.as_bytes(), &sig)
            .map_err(|_| TokenRejection::BadSignature)?;
        let claims: Value = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenRejection::Malformed)?;
        let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
        let uuid_claim = |name: &str| str_claim(name).and_then(|v| Uuid::parse_str(v).ok());
        let int_claim = |name: &str| claims.get(name).and_then(Value::as_i64);
        let serial = str_claim("uti")
            .and_then(|u| URL_SAFE_NO_PAD.decode(u).ok())
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(u64::from_be_bytes)
            .ok_or(TokenRejection::Malformed)?;
        let parsed = AccessTokenClaims {
            audience: str_claim("aud")
                .ok_or(TokenRejection::Malformed)?
                .to_owned(),
            app_id: uuid_claim("appid").ok_or(TokenRejection::Malformed)?,
            object_id: uuid_claim("oid").ok_or(TokenRejection::Malformed)?,
            tenant_id: uuid_claim("tid").ok_or(TokenRejection::Malformed)?,
            roles: claims
                .get("roles")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            scopes: str_claim("scp")
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            issued_at: int_claim("iat").ok_or(TokenRejection::Malformed)?,
            expires_at: int_claim("exp").ok_or(TokenRejection::Malformed)?,
            serial,
        };
        let now = self.inner.clock.now().unix_timestamp();
        let nbf = int_claim("nbf").unwrap_or(parsed.issued_at);
        if now < nbf {
            return Err(TokenRejection::NotYetValid);
        }
        if now >= parsed.expires_at
            || parsed.serial < self.inner.revoked_below.load(Ordering::SeqCst)
        {
            return Err(TokenRejection::Expired);
        }
        Ok(parsed)
    }

    /// The axum handler state for the token endpoint.
    pub(crate) fn router(&self) -> axum::Router {
        axum::Router::new()
            .route(
                "/{tenant}/oauth2/v2.0/token",
                axum::routing::post(token_endpoint).get(token_endpoint_get),
            )
            .route(
                "/{tenant}/oauth2/v2.0/devicecode",
                axum::routing::post(crate::entra_device::device_code_endpoint),
            )
            .with_state(self.clone())
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One Entra error answer.
pub(crate) struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    pub(crate) fn new(error: &'static str, code: u32, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    /// AADSTS900144: a required form parameter is missing.
    pub(crate) fn missing(name: &str) -> Self {
        Self::new(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    pub(crate) fn into_response(self, now: OffsetDateTime) -> Response {
        let trace_id = Uuid::new_v4();
        let correlation_id = Uuid::new_v4();
        let stamp = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (
            self.status,
            [
                (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store, no-cache"),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

impl Entra {
    /// Checks the tenant segment (a GUID or a DNS name of this tenant) and reads the form body
    /// (empty unless sent as `application/x-www-form-urlencoded`).
    pub(crate) fn check_request(
        &self,
        tenant: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<HashMap<String, String>, AadError> {
        // The tenant segment: a GUID or a DNS name, and it must be this tenant.
        let tenant_matches = match Uuid::parse_str(tenant) {
            Ok(id) => id == self.inner.tenant_id,
            Err(_) if is_dns_name(tenant) => tenant.eq_ignore_ascii_case(&self.inner.domain),
            Err(_) => {
                return Err(AadError::new(
                    "invalid_request",
                    900023,
                    format!(
                        "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."
                    ),
                ));
            }
        };
        if !tenant_matches {
            return Err(AadError::new(
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            ));
        }
        let form_type_ok = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|m| {
                    m.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        let form: HashMap<String, String> = if form_type_ok {
            url::form_urlencoded::parse(body).into_owned().collect()
        } else {
            HashMap::new()
        };
        Ok(form)
    }

    /// The app registered with `client_id` (a GUID string), or Entra's AADSTS700016.
    pub(crate) fn find_app(&self, client_id_raw: &str) -> Result<AppRegistration, AadError> {
        let tenant_label = self.inner.tenant_id;
        let not_found = || {
            AadError::new(
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id_raw}' was not found in the directory '{tenant_label}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            )
        };
        let client_id = Uuid::parse_str(client_id_raw).map_err(|_| not_found())?;
        self.app(client_id).ok_or_else(not_found)
    }

    /// The time on the tenant's clock.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }
}

fn is_dns_name(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

async fn token_endpoint(
    State(entra): State<Entra>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = entra.inner.clock.now();
    match issue(&entra, &tenant, &headers, &body, now) {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store, no-cache"),
            ],
            body.to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::debug!(code = e.code, error = e.error, "token request refused");
            e.into_response(now)
        }
    }
}

/// Entra answers a GET on the token endpoint with AADSTS900561.
async fn token_endpoint_get(State(entra): State<Entra>) -> Response {
    AadError::new(
        "invalid_request",
        900561,
        "The endpoint only accepts POST, OPTIONS requests. Received a GET request.",
    )
    .into_response(entra.inner.clock.now())
}

fn issue(
    entra: &Entra,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Value, AadError> {
    let inner = &entra.inner;
    let form = entra.check_request(tenant, headers, body)?;
    let missing = AadError::missing;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| missing("grant_type"))?;
    if grant_type != "client_credentials" {
        if let Some(answer) = crate::entra_device::delegated_grant(entra, grant_type, &form, now) {
            return answer;
        }
        return Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client_id_raw = form.get("client_id").ok_or_else(|| missing("client_id"))?;
    let app = entra.find_app(client_id_raw)?;

    // Credentials come before the scope: Entra authenticates the client first.
    let assertion = match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(secret), _) => {
            check_secret(&app, secret, now)?;
            false
        }
        (None, Some(assertion)) => {
            if form.get("client_assertion_type").map(String::as_str)
                != Some(JWT_BEARER_ASSERTION_TYPE)
            {
                return Err(AadError::new(
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'client_assertion_type'.",
                ));
            }
            let authority = read(&inner.authority).clone();
            check_assertion(
                &app,
                assertion,
                &authority,
                tenant,
                inner.tenant_id,
                &inner.domain,
                now,
            )?;
            true
        }
        (None, None) => {
            return Err(AadError::new(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
    };

    let scope = form.get("scope").map(|s| s.trim()).unwrap_or_default();
    if scope.is_empty() {
        return Err(AadError::new(
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter.",
        ));
    }
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let resource = match scopes.as_slice() {
        [one] => one.strip_suffix("/.default").filter(|r| !r.is_empty()),
        _ => None,
    };
    let Some(resource) = resource else {
        return Err(AadError::new(
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. Client credential flows must have a single scope value with /.default suffixed to the resource identifier."
            ),
        ));
    };
    if !read(&inner.resources).contains(&normalise_resource(resource)) {
        return Err(AadError::new(
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    let token = entra.issue_token(&app, resource, assertion);
    let lifetime = read(&inner.token_lifetime).as_secs();
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }))
}

fn check_secret(app: &AppRegistration, secret: &str, now: OffsetDateTime) -> Result<(), AadError> {
    let client_id = app.client_id;
    // Comparing digests keeps the comparison time independent of where the values differ.
    let sent = digest::digest(&digest::SHA256, secret.as_bytes());
    let matching = app
        .secrets
        .iter()
        .find(|s| digest::digest(&digest::SHA256, s.value.as_bytes()).as_ref() == sent.as_ref());
    match matching {
        Some(s) if s.expires_at.is_some_and(|at| at <= now) => Err(AadError::new(
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        )),
        Some(_) => Ok(()),
        None => Err(AadError::new(
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )),
    }
}

fn decode_json_part(part: &str) -> Option<Value> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object)
}

fn check_assertion(
    app: &AppRegistration,
    assertion: &str,
    authority: &str,
    tenant_segment: &str,
    tenant_id: Uuid,
    domain: &str,
    now: OffsetDateTime,
) -> Result<(), AadError> {
    let malformed = || {
        AadError::new(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return Err(malformed());
    };
    let header = decode_json_part(h).ok_or_else(malformed)?;
    let claims = decode_json_part(c).ok_or_else(malformed)?;
    let signature_bytes = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| malformed())?;
    let client_id = app.client_id.to_string();

    // iss and sub must both be the client ID.
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !iss.eq_ignore_ascii_case(&client_id) || !sub.eq_ignore_ascii_case(&client_id) {
        return Err(AadError::new(
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
        ));
    }
    // aud must be this token endpoint (by tenant ID or domain, as requested).
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let accepted: Vec<String> = [
        tenant_segment.to_owned(),
        tenant_id.to_string(),
        domain.to_owned(),
    ]
    .iter()
    .map(|t| format!("{authority}/{t}/oauth2/v2.0/token"))
    .collect();
    if !accepted.iter().any(|a| a.eq_ignore_ascii_case(aud)) {
        return Err(AadError::new(
            "invalid_client",
            50013,
            format!(
                "Assertion audience claim does not match the required value. The audience in the assertion was '{aud}' and the expected audience is '{}'.",
                accepted.first().map(String::as_str).unwrap_or_default()
            ),
        ));
    }
    // Time window: nbf <= now < exp.
    let now_s = now.unix_timestamp();
    let exp = claims.get("exp").and_then(Value::as_i64);
    let nbf = claims.get("nbf").and_then(Value::as_i64);
    let out_of_range = match exp {
        None => true,
        Some(exp) => now_s >= exp || nbf.is_some_and(|nbf| now_s < nbf),
    };
    if out_of_range {
        let fmt_ts = |t: Option<i64>| {
            t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .map(|t| t.to_string())
                .unwrap_or_else(|| "(none)".to_owned())
        };
        return Err(AadError::new(
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                fmt_ts(Some(now_s)),
                fmt_ts(nbf),
                fmt_ts(exp)
            ),
        ));
    }
    // The key: a registered certificate named by x5t#S256 (PS256) or x5t (RS256).
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let x5t_s256 = header.get("x5t#S256").and_then(Value::as_str);
    let x5t = header.get("x5t").and_then(Value::as_str);
    let thumbprint = x5t_s256.or(x5t).unwrap_or_default().to_owned();
    let cert = app.certificates.iter().find(|cert| {
        x5t_s256.is_some_and(|t| t.trim_end_matches('=') == cert.x5t_s256())
            || x5t.is_some_and(|t| t.trim_end_matches('=') == cert.x5t())
    });
    let key_not_found = || {
        AadError::new(
            "invalid_client",
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployer-guide to learn how to add certificate credentials.]"
            ),
        )
    };
    let cert = cert.ok_or_else(key_not_found)?;
    if let Some(public_key) = &cert.rsa_public_key {
        let algorithm: &dyn signature::VerificationAlgorithm = match alg {
            "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
            "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
            _ => return Err(key_not_found()),
        };
        let signing_input = format!("{h}.{c}");
        signature::UnparsedPublicKey::new(algorithm, public_key)
            .verify(signing_input.as_bytes(), &signature_bytes)
            .map_err(|_| {
                AadError::new(
                    "invalid_client",
                    700027,
                    format!(
                        "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '{thumbprint}', Found key 'Start=01/01/2026 00:00:00, End=01/01/2030 00:00:00']"
                    ),
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use time::macros::datetime;

    fn tenant() -> (Entra, ManualClock, AppRegistration) {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        let entra = Entra::new(
            Uuid::from_u128(1),
            "contoso.onmicrosoft.com",
            7,
            Arc::new(clock.clone()),
        );
        let app = AppRegistration::new(Uuid::from_u128(2), "app")
            .with_secret(ClientSecret::new("s3cret"));
        entra.register_app(app.clone());
        entra.add_resource("http://127.0.0.1:1");
        (entra, clock, app)
    }

    #[test]
    fn issued_tokens_validate_until_expiry() {
        let (entra, clock, app) = tenant();
        entra.set_token_lifetime(Duration::from_secs(60));
        let token = entra.issue_token(&app, "http://127.0.0.1:1", false);
        let claims = entra.validate_token(&token).unwrap();
        assert_eq!(claims.audience, "http://127.0.0.1:1");
        assert_eq!(claims.app_id, app.client_id());
        clock.advance(Duration::from_secs(60));
        assert_eq!(entra.validate_token(&token), Err(TokenRejection::Expired));
    }

    #[test]
    fn forced_expiry_spares_later_tokens() {
        let (entra, _clock, app) = tenant();
        let old = entra.issue_token(&app, "http://127.0.0.1:1", false);
        entra.expire_issued_tokens();
        let new = entra.issue_token(&app, "http://127.0.0.1:1", false);
        assert_eq!(entra.validate_token(&old), Err(TokenRejection::Expired));
        assert!(entra.validate_token(&new).is_ok());
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let (entra, _clock, app) = tenant();
        let token = entra.issue_token(&app, "http://127.0.0.1:1", false);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = json!({"aud":"x","appid":app.client_id(),"oid":app.object_id(),"tid":Uuid::from_u128(1),"iat":0,"exp":i64::MAX,"uti":"AAAAAAAAAAE"});
        parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert_eq!(
            entra.validate_token(&parts.join(".")),
            Err(TokenRejection::BadSignature)
        );
        assert_eq!(entra.validate_token("abc"), Err(TokenRejection::Malformed));
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let (_, _, app) = tenant();
        assert!(!format!("{app:?}").contains("s3cret"));
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_name("contoso.onmicrosoft.com"));
        assert!(!is_dns_name("not a tenant"));
        assert!(!is_dns_name("localhost"));
        assert!(!is_dns_name("a..b"));
    }
}

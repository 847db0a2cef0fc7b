//! Options shared by every credential, and the token endpoint request they have in common.

use crate::cloud::{Cloud, checked_authority};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Pipeline, Request, RetryPolicy, Secret,
    SharedClock, system_clock,
};
use serde::Deserialize;
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

/// Settings every credential accepts: the cloud, an authority override, the clock, retries
/// and timeouts.
///
/// ```
/// use entra_auth::{Cloud, CredentialOptions};
/// let options = CredentialOptions::default()
///     .with_cloud(Cloud::UsGovHigh)
///     .with_timeout(std::time::Duration::from_secs(20));
/// assert_eq!(options.authority_host().unwrap().as_str(), "https://login.microsoftonline.us/");
/// ```
#[derive(Debug, Clone)]
pub struct CredentialOptions {
    cloud: Cloud,
    authority_host: Option<Url>,
    clock: SharedClock,
    retry_policy: RetryPolicy,
    timeout: Duration,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        Self {
            cloud: Cloud::Public,
            authority_host: None,
            clock: system_clock(),
            // Token requests are small and retried by callers too: a few quick retries on
            // 429/5xx and connection failures, within a minute.
            retry_policy: RetryPolicy::default()
                .with_max_attempts(4)
                .with_max_elapsed(Duration::from_secs(60)),
            timeout: Duration::from_secs(30),
        }
    }
}

impl CredentialOptions {
    /// The cloud to sign in to (default: public).
    pub fn with_cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Signs in at this authority host instead of the cloud's (`AZURE_AUTHORITY_HOST`; a test
    /// server or emulator). It must be https, or http to loopback; credentials check it when
    /// they are built.
    pub fn with_authority_host(mut self, authority_host: Url) -> Self {
        self.authority_host = Some(authority_host);
        self
    }

    /// The clock for token expiry, assertion times and retry backoff.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Retries of token requests.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// The timeout of one token request attempt (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The authority host in effect (the override, or the cloud's), checked and ending in `/`.
    pub fn authority_host(&self) -> Result<Url, CredentialError> {
        checked_authority(
            self.authority_host
                .clone()
                .unwrap_or_else(|| self.cloud.authority_host()),
        )
    }

    pub(crate) fn pipeline(&self, policy: RetryPolicy) -> Result<Pipeline, CredentialError> {
        Pipeline::builder()
            .clock(self.clock.clone())
            .retry_policy(policy)
            .attempt_timeout(self.timeout)
            .user_agent_prefix(concat!("entra-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                CredentialError::new(
                    CredentialErrorKind::InvalidConfiguration,
                    format!("cannot build the HTTP client: {e}"),
                )
            })
    }

    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry_policy
    }
}

/// Checks a tenant: a GUID or a domain. Anything else would change the token URL's path.
pub(crate) fn check_tenant(tenant_id: &str) -> Result<(), CredentialError> {
    // `.` is allowed for domains, but not where it could name a path segment (`..`).
    let ok = !tenant_id.is_empty()
        && tenant_id.len() <= 256
        && !tenant_id.starts_with('.')
        && !tenant_id.contains("..")
        && tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        // Not echoed: a value in the wrong variable may be a client secret.
        Err(CredentialError::new(
            CredentialErrorKind::InvalidConfiguration,
            format!("invalid tenant id ({})", what_is_wrong(tenant_id, |c| {
                c.is_ascii_alphanumeric() || c == '.' || c == '-'
            })),
        )
        .with_hint(
            "the tenant must be a directory (tenant) GUID or a domain such as contoso.onmicrosoft.com",
        ))
    }
}

/// Checks a client id: not empty, no spaces or control characters.
pub(crate) fn check_client_id(client_id: &str) -> Result<(), CredentialError> {
    if client_id.is_empty()
        || client_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CredentialError::new(
            CredentialErrorKind::InvalidConfiguration,
            format!(
                "invalid client id ({})",
                what_is_wrong(client_id, |c| !c.is_whitespace() && !c.is_control())
            ),
        )
        .with_hint("use the application (client) id GUID from the app registration"));
    }
    Ok(())
}

/// Says what is wrong with a rejected identifier without repeating it: the first character
/// `allowed` refuses (a visible ASCII one is shown, anything else only by position), or that
/// the dots are misplaced, or that it is empty or too long.
fn what_is_wrong(value: &str, allowed: impl Fn(char) -> bool) -> String {
    if value.is_empty() {
        return "it is empty".into();
    }
    if let Some((i, c)) = value.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        return if c.is_ascii_graphic() {
            format!("character {} `{c}` is not allowed", i + 1)
        } else {
            format!(
                "character {} is a space, control or non-ASCII character",
                i + 1
            )
        };
    }
    if value.len() > 256 {
        return format!("it is {} bytes long", value.len());
    }
    "it must not start with `.` or contain `..`".into()
}

/// Joins scopes for the v2 endpoint, refusing an empty list.
pub(crate) fn scope_param(scopes: &[&str]) -> Result<String, CredentialError> {
    let scopes: Vec<&str> = scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.is_empty() {
        return Err(CredentialError::new(
            CredentialErrorKind::InvalidConfiguration,
            "no scope requested",
        )
        .with_hint(
            "request a resource's `.default` scope, e.g. `https://graph.microsoft.com/.default`",
        ));
    }
    Ok(scopes.join(" "))
}

/// The `{authority}/{tenant}/oauth2/v2.0/token` endpoint and the pipeline that calls it.
#[derive(Debug, Clone)]
pub(crate) struct TokenEndpoint {
    url: Url,
    pipeline: Pipeline,
    clock: SharedClock,
}

/// A number Entra may write as a JSON number or a string.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Num {
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(*i),
            Num::Float(f) if f.is_finite() => Some(*f as i64),
            Num::Float(_) => None,
            Num::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// A token response: the Entra ID token endpoint's, or a managed identity endpoint's (which
/// adds `expires_on`).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<Secret>,
    expires_on: Option<Num>,
    expires_in: Option<Num>,
    refresh_in: Option<Num>,
}

/// Which fields of a token response say when the token expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// `expires_in` only (the Entra ID token endpoint).
    In,
    /// `expires_on` (Unix seconds), else `expires_in` (managed identity endpoints).
    OnOrIn,
}

impl TokenEndpoint {
    pub(crate) fn new(
        tenant_id: &str,
        options: &CredentialOptions,
    ) -> Result<Self, CredentialError> {
        check_tenant(tenant_id)?;
        let authority = options.authority_host()?;
        let url = authority
            .join(&format!("{tenant_id}/oauth2/v2.0/token"))
            .map_err(|e| {
                CredentialError::new(
                    CredentialErrorKind::InvalidConfiguration,
                    format!("cannot build the token URL: {e}"),
                )
            })?;
        Ok(Self {
            url,
            pipeline: options.pipeline(options.retry().clone())?,
            clock: options.clock.clone(),
        })
    }

    /// The token endpoint URL (also the `aud` of client assertions).
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// POSTs the form and turns the answer into a token or a typed error.
    pub(crate) async fn request(
        &self,
        form: &[(&str, &str)],
    ) -> Result<AccessToken, CredentialError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::post(self.url.clone())
            .without_auth()
            // A client-credentials grant has no side effect: a request that timed out (or lost
            // its connection) may be sent again.
            .idempotent(true)
            .header("accept", "application/json")
            .body(body, "application/x-www-form-urlencoded");
        let response = self.pipeline.send_raw(request).await.map_err(transport)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let e = crate::EntraError::from_response(status, response.body());
            tracing::debug!(error = %e, "token request refused");
            return Err(e.into());
        }
        let now = self.clock.now();
        parse_token(
            response.body(),
            now,
            "the Entra ID token endpoint",
            Expiry::In,
        )
    }

    /// The client-credentials grant with a client assertion (a signed certificate JWT or a
    /// federated token).
    pub(crate) async fn assertion_grant(
        &self,
        client_id: &str,
        scope: &str,
        assertion: &client_core::Secret,
    ) -> Result<AccessToken, CredentialError> {
        self.request(&[
            ("client_id", client_id),
            ("scope", scope),
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.expose()),
        ])
        .await
    }
}

/// `client_assertion_type` for a JWT assertion.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Maps a pipeline failure while talking to an identity endpoint.
pub(crate) fn transport(e: client_core::Error) -> CredentialError {
    let kind = if e.is_retryable() {
        CredentialErrorKind::Unavailable
    } else {
        CredentialErrorKind::InvalidConfiguration
    };
    CredentialError::new(kind, format!("token request failed: {e}")).with_source(e)
}

/// Parses a successful token response (`access_token`, the expiry fields `expiry` names, and
/// `refresh_in`); its numbers may be JSON numbers or strings.
pub(crate) fn parse_token(
    body: &[u8],
    now: OffsetDateTime,
    from: &str,
    expiry: Expiry,
) -> Result<AccessToken, CredentialError> {
    let invalid = |why: &str| {
        CredentialError::new(
            CredentialErrorKind::InvalidResponse,
            format!("{from} answered without a usable token: {why}"),
        )
    };
    let r: TokenResponse =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not the expected JSON"))?;
    let token = r
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("no access_token"))?;
    let expires_in = || {
        r.expires_in
            .as_ref()
            .and_then(Num::as_i64)
            .and_then(|s| after(now, s))
    };
    let expires_on = match expiry {
        Expiry::In => expires_in().ok_or_else(|| invalid("no usable expires_in"))?,
        Expiry::OnOrIn => r
            .expires_on
            .as_ref()
            .and_then(Num::as_i64)
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .or_else(expires_in)
            .ok_or_else(|| invalid("no expires_on or expires_in"))?,
    };
    let mut out = AccessToken::new(token, expires_on);
    out.refresh_on = r
        .refresh_in
        .and_then(|n| n.as_i64())
        .and_then(|s| after(now, s));
    Ok(out)
}

/// `now` plus a positive number of seconds from a response, if representable.
pub(crate) fn after(now: OffsetDateTime, seconds: i64) -> Option<OffsetDateTime> {
    (seconds > 0)
        .then(|| now.checked_add(time::Duration::seconds(seconds)))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_and_client_checks() {
        assert!(check_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert!(check_tenant("contoso.onmicrosoft.com").is_ok());
        for bad in ["", "a/b", "../x", "a b", "x?y", "..", ".", "a..b"] {
            let e = check_tenant(bad).unwrap_err();
            assert_eq!(e.kind(), CredentialErrorKind::InvalidConfiguration);
        }
        // The value is not repeated (it may be a secret in the wrong variable), only what is
        // wrong with it.
        let e = check_tenant("Xy7~s3cr3t.VALUE").unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(e.message().contains("character 4 `~`"), "{e}");
        let e = check_client_id("Xy7 s3cr3t").unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(e.message().contains("character 4"), "{e}");
        assert!(check_tenant("a..b").unwrap_err().message().contains("`..`"));
        assert!(check_tenant("").unwrap_err().message().contains("empty"));
        assert!(check_client_id("abc").is_ok());
        assert!(check_client_id("a b").is_err());
        assert!(scope_param(&[" "]).is_err());
        assert_eq!(scope_param(&["a", "b"]).unwrap(), "a b");
    }

    #[test]
    fn parses_numbers_or_strings() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let t = parse_token(
            br#"{"access_token":"x","expires_in":"3599","refresh_in":1800}"#,
            now,
            "t",
            Expiry::In,
        )
        .unwrap();
        assert_eq!(t.expires_on, now + time::Duration::seconds(3599));
        assert_eq!(t.refresh_on, Some(now + time::Duration::seconds(1800)));
        for bad in [r#""expires_in":-5"#, r#""expires_in":9223372036854775807"#] {
            let body = format!(r#"{{"access_token":"x",{bad}}}"#);
            assert!(
                parse_token(body.as_bytes(), now, "t", Expiry::In).is_err(),
                "{bad}"
            );
        }
        let e = parse_token(br#"{"access_token":"secret-tok"}"#, now, "t", Expiry::In).unwrap_err();
        assert_eq!(e.kind(), CredentialErrorKind::InvalidResponse);
        assert!(!e.to_string().contains("secret-tok"));
        assert!(parse_token(b"nope", now, "t", Expiry::In).is_err());
        // The token endpoint's expiry is `expires_in`; an `expires_on` alone does not do.
        let only_on = br#"{"access_token":"x","expires_on":"1700000000"}"#;
        assert!(parse_token(only_on, now, "t", Expiry::In).is_err());
        assert_eq!(
            parse_token(only_on, now, "t", Expiry::OnOrIn)
                .unwrap()
                .expires_on
                .unix_timestamp(),
            1_700_000_000
        );
    }

    #[test]
    fn token_url_joins_below_the_authority_path() {
        let o = CredentialOptions::default()
            .with_authority_host("http://127.0.0.1:9/emu".parse().unwrap());
        let ep = TokenEndpoint::new("contoso.com", &o).unwrap();
        assert_eq!(
            ep.url().as_str(),
            "http://127.0.0.1:9/emu/contoso.com/oauth2/v2.0/token"
        );
        let o = CredentialOptions::default()
            .with_authority_host("http://login.example.com/".parse().unwrap());
        assert!(TokenEndpoint::new("contoso.com", &o).is_err());
    }
}

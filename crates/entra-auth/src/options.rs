//! Options shared by every credential.

use crate::cloud::{Cloud, checked_authority};
use client_core::{
    CredentialError, CredentialErrorKind, Pipeline, RetryPolicy, SharedClock, system_clock,
};
use std::time::Duration;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_endpoint::*;
    use time::OffsetDateTime;

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

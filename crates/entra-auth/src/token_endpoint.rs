//! The token endpoint client every Entra credential shares: `{authority}/{tenant}/oauth2/v2.0/token`
//! requests, token response parsing and the mapping of transport failures.

use crate::options::{CredentialOptions, check_tenant};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Pipeline, Request, Secret, SharedClock,
};
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

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
    refresh_token: Option<Secret>,
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
            clock: options.clock().clone(),
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
        self.grant(form).await.map(|g| g.token)
    }

    /// POSTs the form and returns the token with the refresh token, if Entra sent one (for
    /// delegated grants), or the error (an [`EntraError`](crate::EntraError) as its source).
    pub(crate) async fn grant(&self, form: &[(&str, &str)]) -> Result<Grant, CredentialError> {
        let response = self.post_form(&self.url, form).await?;
        let now = self.clock.now();
        parse_grant(
            response.body(),
            now,
            "the Entra ID token endpoint",
            Expiry::In,
        )
    }

    /// POSTs a form to `url` (this endpoint or a sibling, such as `devicecode`); an error
    /// status becomes the typed [`EntraError`](crate::EntraError).
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<client_core::Response, CredentialError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::post(url.clone())
            .without_auth()
            // These grants have no side effect: a request that timed out (or lost its
            // connection) may be sent again.
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
        Ok(response)
    }

    /// The endpoint `name` next to the token endpoint (`.../oauth2/v2.0/{name}`).
    pub(crate) fn sibling(&self, name: &str) -> Result<Url, CredentialError> {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .map_err(|()| {
                CredentialError::new(
                    CredentialErrorKind::InvalidConfiguration,
                    "the authority URL cannot have a path",
                )
            })?
            .pop()
            .push(name);
        Ok(url)
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

/// A token, and the refresh token that came with it (delegated grants asked for
/// `offline_access`).
pub(crate) struct Grant {
    pub(crate) token: AccessToken,
    pub(crate) refresh_token: Option<Secret>,
}

/// Parses a successful token response (`access_token`, the expiry fields `expiry` names, and
/// `refresh_in`); its numbers may be JSON numbers or strings.
pub(crate) fn parse_token(
    body: &[u8],
    now: OffsetDateTime,
    from: &str,
    expiry: Expiry,
) -> Result<AccessToken, CredentialError> {
    parse_grant(body, now, from, expiry).map(|g| g.token)
}

/// [`parse_token`], keeping the refresh token.
pub(crate) fn parse_grant(
    body: &[u8],
    now: OffsetDateTime,
    from: &str,
    expiry: Expiry,
) -> Result<Grant, CredentialError> {
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
    Ok(Grant {
        token: out,
        refresh_token: r.refresh_token.filter(|t| !t.is_empty()),
    })
}

/// `now` plus a positive number of seconds from a response, if representable.
pub(crate) fn after(now: OffsetDateTime, seconds: i64) -> Option<OffsetDateTime> {
    (seconds > 0)
        .then(|| now.checked_add(time::Duration::seconds(seconds)))
        .flatten()
}

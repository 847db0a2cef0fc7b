//! Reading an access token's claims, without verifying it, for diagnostics.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use client_core::AccessToken;
use serde::Deserialize;
use time::OffsetDateTime;

/// The claims of an access token that explain what it allows, read **without verifying the
/// signature**: use them to diagnose ("this token has no `AiEnterpriseInteraction.Read.All`
/// role"), never to authorise.
///
/// ```
/// use entra_auth::TokenClaims;
/// // A token's payload: {"aud":"https://graph.microsoft.com","roles":["AiEnterpriseInteraction.Read.All"],"exp":1700000000}
/// let jwt = "e30.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20iLCJyb2xlcyI6WyJBaUVudGVycHJpc2VJbnRlcmFjdGlvbi5SZWFkLkFsbCJdLCJleHAiOjE3MDAwMDAwMDB9.sig";
/// let claims = TokenClaims::from_jwt(jwt).unwrap();
/// assert!(claims.has_role("AiEnterpriseInteraction.Read.All"));
/// assert_eq!(claims.aud(), Some("https://graph.microsoft.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[non_exhaustive]
pub struct TokenClaims {
    /// The audience: the resource the token is for (a string, or the first of a list).
    #[serde(default, deserialize_with = "string_or_first")]
    pub aud: Option<String>,
    /// The tenant id.
    #[serde(default)]
    pub tid: Option<String>,
    /// The client application's id (v1 tokens).
    #[serde(default)]
    pub appid: Option<String>,
    /// The client application's id (v2 tokens).
    #[serde(default)]
    pub azp: Option<String>,
    /// Application permissions (app roles) granted.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Delegated permissions, space-separated as in the token.
    #[serde(default)]
    pub scp: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default)]
    pub exp: Option<i64>,
    /// The object id of the signed-in principal.
    #[serde(default)]
    pub oid: Option<String>,
    /// The issuer.
    #[serde(default)]
    pub iss: Option<String>,
}

fn string_or_first<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Aud>::deserialize(d)? {
        Some(Aud::One(s)) => Some(s),
        Some(Aud::Many(v)) => v.into_iter().next(),
        None => None,
    })
}

/// Why a token's claims could not be read. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    /// The token is not three dot-separated parts (it may be opaque, not a JWT).
    #[error("the token is not a JWT (expected three dot-separated parts)")]
    NotAJwt,
    /// The payload is not base64url.
    #[error("the token's payload is not base64url")]
    InvalidBase64,
    /// The payload is not a JSON object of the expected claims.
    #[error("the token's payload is not a JSON claims object")]
    InvalidJson,
}

impl TokenClaims {
    /// Decodes the payload of a JWT without verifying it.
    pub fn from_jwt(jwt: &str) -> Result<Self, ClaimsError> {
        let mut parts = jwt.trim().split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ClaimsError::NotAJwt);
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| ClaimsError::InvalidBase64)?;
        serde_json::from_slice(&bytes).map_err(|_| ClaimsError::InvalidJson)
    }

    /// The audience.
    pub fn aud(&self) -> Option<&str> {
        self.aud.as_deref()
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tid.as_deref()
    }

    /// The client application's id (`appid`, or `azp` in v2 tokens).
    pub fn app_id(&self) -> Option<&str> {
        self.appid.as_deref().or(self.azp.as_deref())
    }

    /// The object id of the principal.
    pub fn object_id(&self) -> Option<&str> {
        self.oid.as_deref()
    }

    /// The issuer.
    pub fn issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// The application permissions.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The delegated permissions.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scp.as_deref().unwrap_or_default().split_whitespace()
    }

    /// Whether the token carries application permission `role` (exact, case-sensitive, as
    /// services compare it).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the token carries delegated permission `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// When the token expires.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.exp
            .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
    }
}

/// Adds [`claims`](AccessTokenClaims::claims) to [`AccessToken`].
pub trait AccessTokenClaims {
    /// The token's claims, decoded without verification (see [`TokenClaims`]).
    fn claims(&self) -> Result<TokenClaims, ClaimsError>;
}

impl AccessTokenClaims for AccessToken {
    fn claims(&self) -> Result<TokenClaims, ClaimsError> {
        TokenClaims::from_jwt(self.token.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: serde_json::Value) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        )
    }

    #[test]
    fn reads_v1_and_v2_claims() {
        let t = AccessToken::new(
            jwt(serde_json::json!({
                "aud": "https://api.powerplatform.com", "tid": "t1", "appid": "a1",
                "roles": ["AiEnterpriseInteraction.Read.All"], "exp": 1_700_000_000,
                "oid": "o1", "iss": "https://sts.windows.net/t1/", "extra": {"x": 1}
            })),
            OffsetDateTime::UNIX_EPOCH,
        );
        let c = t.claims().unwrap();
        assert_eq!(c.tenant_id(), Some("t1"));
        assert_eq!(c.app_id(), Some("a1"));
        assert_eq!(c.object_id(), Some("o1"));
        assert_eq!(c.issuer(), Some("https://sts.windows.net/t1/"));
        assert!(c.has_role("AiEnterpriseInteraction.Read.All"));
        assert!(!c.has_role("aienterpriseinteraction.read.all"));
        assert_eq!(c.expires_at().unwrap().unix_timestamp(), 1_700_000_000);

        let c = TokenClaims::from_jwt(&jwt(serde_json::json!({
            "aud": ["x", "y"], "azp": "a2", "scp": "User.Read Mail.Read"
        })))
        .unwrap();
        assert_eq!(c.aud(), Some("x"));
        assert_eq!(c.app_id(), Some("a2"));
        assert!(c.has_scope("Mail.Read") && !c.has_scope("Mail"));
        assert!(c.roles().is_empty());
    }

    #[test]
    fn errors_never_echo_the_token() {
        assert_eq!(
            TokenClaims::from_jwt("opaque-secret"),
            Err(ClaimsError::NotAJwt)
        );
        assert_eq!(
            TokenClaims::from_jwt("a.!!!.c"),
            Err(ClaimsError::InvalidBase64)
        );
        let not_json = format!("a.{}.c", URL_SAFE_NO_PAD.encode("secret-stuff"));
        let e = TokenClaims::from_jwt(&not_json).unwrap_err();
        assert_eq!(e, ClaimsError::InvalidJson);
        assert!(!e.to_string().contains("secret"));
    }
}

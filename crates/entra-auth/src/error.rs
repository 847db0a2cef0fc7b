//! Entra ID error responses, mapped by `error` and `error_codes` to typed variants with a hint.

use client_core::{CredentialError, CredentialErrorKind};
use serde::Deserialize;
use std::fmt;

/// What every Entra ID error response carries.
///
/// `description` is Entra's `error_description`; it is meant for people and its wording
/// changes, so nothing in this crate branches on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EntraErrorDetails {
    /// The HTTP status.
    pub status: u16,
    /// The OAuth error (`invalid_client`, `invalid_request`, ...); empty if the body had none.
    pub error: String,
    /// The `AADSTS` codes (`error_codes`).
    pub error_codes: Vec<u32>,
    /// `error_description`.
    pub description: Option<String>,
    /// `trace_id`: give it to Microsoft support.
    pub trace_id: Option<String>,
    /// `correlation_id`: give it to Microsoft support.
    pub correlation_id: Option<String>,
    /// `timestamp`, as Entra wrote it.
    pub timestamp: Option<String>,
}

impl EntraErrorDetails {
    /// The first line of the description (Entra appends trace and correlation ids on later
    /// lines, which are kept in their own fields).
    pub fn description_line(&self) -> Option<&str> {
        self.description
            .as_deref()
            .and_then(|d| d.lines().next())
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }

    /// `error/code`, e.g. `invalid_client/7000215`, or just the error when there is no code.
    pub fn code(&self) -> String {
        match self.error_codes.first() {
            Some(c) if self.error.is_empty() => c.to_string(),
            Some(c) => format!("{}/{c}", self.error),
            None => self.error.clone(),
        }
    }
}

impl fmt::Display for EntraErrorDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if !self.error.is_empty() {
            write!(f, " {}", self.error)?;
        }
        for c in &self.error_codes {
            write!(f, ", AADSTS{c}")?;
        }
        if let Some(t) = &self.trace_id {
            write!(f, ", trace id {t}")?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, ", correlation id {c}")?;
        }
        Ok(())
    }
}

/// An error answer from the Entra ID token endpoint.
///
/// Variants are chosen by the response's `error_codes` and `error`, never by its description.
/// Each has a one-line [`hint`](EntraError::hint) on what to fix. Converted into a
/// [`CredentialError`], it stays reachable with
/// [`CredentialError::downcast_ref::<EntraError>()`](CredentialError::downcast_ref).
///
/// ```
/// use entra_auth::EntraError;
/// let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"trace_id":"t-1","correlation_id":"c-1"}"#;
/// let e = EntraError::from_response(401, body);
/// assert!(matches!(e, EntraError::InvalidClientSecret(_)));
/// assert!(e.hint().unwrap().contains("Value"));
/// assert_eq!(e.details().trace_id.as_deref(), Some("t-1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntraError {
    /// AADSTS7000215: the client secret is wrong.
    #[error("Entra ID rejected the client secret ({0})")]
    InvalidClientSecret(EntraErrorDetails),
    /// AADSTS7000222: the client secret has expired.
    #[error("the client secret has expired ({0})")]
    ExpiredClientSecret(EntraErrorDetails),
    /// AADSTS700016: no application with this client id in the tenant.
    #[error("the application was not found in the tenant ({0})")]
    ApplicationNotFound(EntraErrorDetails),
    /// AADSTS90002: the tenant does not exist (in this cloud).
    #[error("the tenant was not found ({0})")]
    TenantNotFound(EntraErrorDetails),
    /// AADSTS900023: the tenant id is not a GUID or domain.
    #[error("the tenant identifier is malformed ({0})")]
    InvalidTenant(EntraErrorDetails),
    /// AADSTS700024: the client assertion is not within its valid time range.
    #[error("the client assertion is outside its valid time range ({0})")]
    AssertionOutsideValidTime(EntraErrorDetails),
    /// AADSTS700027: the client assertion's signature is not valid for any registered key.
    #[error("the client assertion's signature was not accepted ({0})")]
    InvalidAssertionSignature(EntraErrorDetails),
    /// AADSTS70021: no federated identity credential matches the presented token.
    #[error("no federated identity credential matches the presented token ({0})")]
    NoMatchingFederatedCredential(EntraErrorDetails),
    /// AADSTS7000218: the request carried neither a secret nor an assertion.
    #[error("no client secret or client assertion was sent ({0})")]
    MissingClientCredential(EntraErrorDetails),
    /// AADSTS70011 or `invalid_scope`: the scope is not acceptable.
    #[error("the requested scope is not valid ({0})")]
    InvalidScope(EntraErrorDetails),
    /// `authorization_declined` (or `access_denied`): the user refused a device code sign-in.
    #[error("the user declined the sign-in ({0})")]
    AuthorizationDeclined(EntraErrorDetails),
    /// `expired_token`: the device code expired before the user finished signing in.
    #[error("the device code expired before the sign-in was completed ({0})")]
    DeviceCodeExpired(EntraErrorDetails),
    /// HTTP 429, 5xx or `temporarily_unavailable`: Entra ID could not answer now.
    #[error("Entra ID is temporarily unavailable ({0})")]
    Unavailable(EntraErrorDetails),
    /// Any other error.
    #[error("Entra ID refused the token request ({0}){suffix}", suffix = description_suffix(.0))]
    Other(EntraErrorDetails),
}

fn description_suffix(d: &EntraErrorDetails) -> String {
    d.description_line()
        .map(|l| format!(": {l}"))
        .unwrap_or_default()
}

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<serde_json::Value>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

impl EntraError {
    /// Maps an error response from the token endpoint (any status, any body).
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let b: Body = serde_json::from_slice(body).unwrap_or_default();
        let details = EntraErrorDetails {
            status,
            error: b.error.unwrap_or_default(),
            // Codes are integers; tolerate them written as strings.
            error_codes: b
                .error_codes
                .iter()
                .filter_map(|v| match v {
                    serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                    serde_json::Value::String(s) => s.trim_start_matches("AADSTS").parse().ok(),
                    _ => None,
                })
                .collect(),
            description: b.error_description,
            trace_id: b.trace_id,
            correlation_id: b.correlation_id,
            timestamp: b.timestamp,
        };
        Self::from_details(details)
    }

    /// Chooses the variant for `details`.
    pub fn from_details(details: EntraErrorDetails) -> Self {
        let has = |code: u32| details.error_codes.contains(&code);
        if has(7000215) {
            EntraError::InvalidClientSecret(details)
        } else if has(7000222) {
            EntraError::ExpiredClientSecret(details)
        } else if has(700016) {
            EntraError::ApplicationNotFound(details)
        } else if has(90002) {
            EntraError::TenantNotFound(details)
        } else if has(900023) {
            EntraError::InvalidTenant(details)
        } else if has(700024) {
            EntraError::AssertionOutsideValidTime(details)
        } else if has(700027) {
            EntraError::InvalidAssertionSignature(details)
        } else if has(70021) {
            EntraError::NoMatchingFederatedCredential(details)
        } else if has(7000218) {
            EntraError::MissingClientCredential(details)
        } else if has(70011) || details.error == "invalid_scope" {
            EntraError::InvalidScope(details)
        } else if details.error == "authorization_declined" || details.error == "access_denied" {
            EntraError::AuthorizationDeclined(details)
        } else if details.error == "expired_token" {
            EntraError::DeviceCodeExpired(details)
        } else if details.error == "temporarily_unavailable"
            || details.status == 429
            || details.status >= 500
        {
            EntraError::Unavailable(details)
        } else {
            EntraError::Other(details)
        }
    }

    /// The response's details.
    pub fn details(&self) -> &EntraErrorDetails {
        match self {
            EntraError::InvalidClientSecret(d)
            | EntraError::ExpiredClientSecret(d)
            | EntraError::ApplicationNotFound(d)
            | EntraError::TenantNotFound(d)
            | EntraError::InvalidTenant(d)
            | EntraError::AssertionOutsideValidTime(d)
            | EntraError::InvalidAssertionSignature(d)
            | EntraError::NoMatchingFederatedCredential(d)
            | EntraError::MissingClientCredential(d)
            | EntraError::InvalidScope(d)
            | EntraError::AuthorizationDeclined(d)
            | EntraError::DeviceCodeExpired(d)
            | EntraError::Unavailable(d)
            | EntraError::Other(d) => d,
        }
    }

    /// The `AADSTS` codes.
    pub fn error_codes(&self) -> &[u32] {
        &self.details().error_codes
    }

    /// The trace id, for Microsoft support.
    pub fn trace_id(&self) -> Option<&str> {
        self.details().trace_id.as_deref()
    }

    /// The correlation id, for Microsoft support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.details().correlation_id.as_deref()
    }

    /// Whether asking again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, EntraError::Unavailable(_))
    }

    /// One line on what to fix, for the common mistakes.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            EntraError::InvalidClientSecret(_) => {
                "use the client secret's Value, not its Secret ID; the Value is shown only once, \
                 when the secret is created, so create a new secret if it was not saved"
            }
            EntraError::ExpiredClientSecret(_) => {
                "create a new client secret under the app registration's Certificates & secrets \
                 and update the configuration"
            }
            EntraError::ApplicationNotFound(_) => {
                "check the client id and the tenant: the app must be registered in, or consented \
                 to by an administrator of, this tenant"
            }
            EntraError::TenantNotFound(_) => {
                "check the tenant id or domain and the cloud: a US Government or China tenant is \
                 not found through the public cloud's authority (and vice versa)"
            }
            EntraError::InvalidTenant(_) => {
                "the tenant must be a directory (tenant) GUID or a domain such as \
                 contoso.onmicrosoft.com"
            }
            EntraError::AssertionOutsideValidTime(_) => {
                "check this machine's clock (NTP); for workload identity, check that the \
                 federated token file is being refreshed"
            }
            EntraError::InvalidAssertionSignature(_) => {
                "upload this certificate (its public part) to the app registration, and check \
                 that the private key belongs to that certificate"
            }
            EntraError::NoMatchingFederatedCredential(_) => {
                "add a federated identity credential to the app whose issuer, subject and \
                 audience match the token (for AKS: the cluster's OIDC issuer and the service \
                 account)"
            }
            EntraError::MissingClientCredential(_) => {
                "configure a client secret or a certificate for this application"
            }
            EntraError::InvalidScope(_) => {
                "request one resource's `.default` scope, e.g. `https://graph.microsoft.com/.default`, \
                 for the right cloud"
            }
            EntraError::AuthorizationDeclined(_) => {
                "the person signing in refused: run again and approve the sign-in, or sign in as \
                 another user"
            }
            EntraError::DeviceCodeExpired(_) => {
                "run again and finish signing in at the address shown before the code expires"
            }
            EntraError::Unavailable(_) | EntraError::Other(_) => return None,
        })
    }

    /// The [`CredentialErrorKind`] this error converts to.
    pub fn credential_error_kind(&self) -> CredentialErrorKind {
        match self {
            EntraError::Unavailable(_) => CredentialErrorKind::Unavailable,
            EntraError::InvalidTenant(_) => CredentialErrorKind::InvalidConfiguration,
            _ => CredentialErrorKind::Rejected,
        }
    }
}

impl From<EntraError> for CredentialError {
    fn from(e: EntraError) -> Self {
        let mut out = CredentialError::new(e.credential_error_kind(), e.to_string())
            .with_code(e.details().code());
        if let Some(h) = e.hint() {
            out = out.with_hint(h);
        }
        out.with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: &str, code: u32) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: something.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-01-01 00:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": "trace-1",
            "correlation_id": "corr-1",
            "error_uri": "https://login.microsoftonline.com/error?code=1"
        }))
        .unwrap()
    }

    type Case = (
        &'static str,
        u32,
        fn(&EntraError) -> bool,
        CredentialErrorKind,
    );

    #[test]
    fn maps_by_code_not_description() {
        let cases: [Case; 10] = [
            (
                "invalid_client",
                7000215,
                |e| matches!(e, EntraError::InvalidClientSecret(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "invalid_client",
                7000222,
                |e| matches!(e, EntraError::ExpiredClientSecret(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "unauthorized_client",
                700016,
                |e| matches!(e, EntraError::ApplicationNotFound(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "invalid_request",
                90002,
                |e| matches!(e, EntraError::TenantNotFound(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "invalid_request",
                900023,
                |e| matches!(e, EntraError::InvalidTenant(_)),
                CredentialErrorKind::InvalidConfiguration,
            ),
            (
                "invalid_client",
                700024,
                |e| matches!(e, EntraError::AssertionOutsideValidTime(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "invalid_client",
                700027,
                |e| matches!(e, EntraError::InvalidAssertionSignature(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "invalid_client",
                70021,
                |e| matches!(e, EntraError::NoMatchingFederatedCredential(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "invalid_client",
                7000218,
                |e| matches!(e, EntraError::MissingClientCredential(_)),
                CredentialErrorKind::Rejected,
            ),
            (
                "invalid_scope",
                70011,
                |e| matches!(e, EntraError::InvalidScope(_)),
                CredentialErrorKind::Rejected,
            ),
        ];
        for (error, code, is, kind) in cases {
            let e = EntraError::from_response(400, &body(error, code));
            assert!(is(&e), "{code}: {e:?}");
            assert!(e.hint().is_some(), "{code}");
            assert_eq!(e.error_codes(), &[code]);
            assert_eq!(e.trace_id(), Some("trace-1"));
            assert_eq!(e.correlation_id(), Some("corr-1"));
            let s = e.to_string();
            assert!(
                s.contains(&format!("AADSTS{code}")) && s.contains("trace id trace-1"),
                "{s}"
            );
            assert!(!s.contains('\n'), "one line: {s:?}");
            let ce = CredentialError::from(e.clone());
            assert_eq!(ce.kind(), kind);
            assert_eq!(ce.code(), Some(format!("{error}/{code}").as_str()));
            assert_eq!(ce.hint(), e.hint());
            assert_eq!(ce.downcast_ref::<EntraError>(), Some(&e));
        }
    }

    #[test]
    fn unknown_codes_and_unavailable() {
        let e = EntraError::from_response(400, &body("invalid_grant", 50173));
        assert!(matches!(e, EntraError::Other(_)));
        assert_eq!(e.hint(), None);
        assert!(e.to_string().ends_with(": AADSTS50173: something."), "{e}");
        let e = EntraError::from_response(503, b"<html>busy</html>");
        assert!(e.is_retryable());
        assert_eq!(
            CredentialError::from(e).kind(),
            CredentialErrorKind::Unavailable
        );
        let e = EntraError::from_response(400, br#"{"error":"temporarily_unavailable"}"#);
        assert!(matches!(e, EntraError::Unavailable(_)));
        let e = EntraError::from_response(400, br#"{"error":"x","error_codes":["AADSTS7000215"]}"#);
        assert!(matches!(e, EntraError::InvalidClientSecret(_)));
    }
}

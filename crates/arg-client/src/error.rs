//! The error type, the services' typed error body and the hints that say how to fix access.

use client_core::ServiceError;
pub use client_core::error::{DecodeError, InvalidInputError};
use serde::Deserialize;
use std::fmt;

/// Which API a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Api {
    /// Azure Resource Graph (`Microsoft.ResourceGraph/resources`).
    ResourceGraph,
    /// The Power Platform API's inventory resource query (`resourcequery/resources/query`).
    ResourceQuery,
    /// The Power Platform admin list of environments (`scopes/admin/environments`).
    AdminEnvironments,
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::ResourceGraph => "Azure Resource Graph",
            Api::ResourceQuery => "the Power Platform inventory resource query",
            Api::AdminEnvironments => "the Power Platform admin environment list",
        })
    }
}

/// What the caller most likely has to change after a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hint {
    /// The caller lacks the Power Platform administrator (or Dynamics 365 administrator) role.
    AdminRoleRequired,
    /// A service principal that is not registered as a Power Platform management application.
    RegisterManagementApplication,
    /// The inventory resource query refuses app-only tokens and callers without an admin role.
    DelegatedAdminRequired,
}

impl Hint {
    /// How to fix it.
    pub fn fix(&self) -> &'static str {
        match self {
            Hint::AdminRoleRequired => {
                "the caller needs the Power Platform Administrator or Dynamics 365 Administrator \
                 role in Microsoft Entra ID (assign it, then sign in again so the token carries it)"
            }
            Hint::RegisterManagementApplication => {
                "this service principal is not registered as a Power Platform management \
                 application: an administrator registers it once with \
                 `pac admin application register --application-id <client id>` \
                 (or New-PowerAppManagementApp)"
            }
            Hint::DelegatedAdminRequired => {
                "the inventory resource query answers only signed-in users with the Power Platform \
                 Administrator or Dynamics 365 Administrator role; app-only tokens are refused. \
                 For an application, query Azure Resource Graph instead (InventorySource::ResourceGraph)"
            }
        }
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.fix())
    }
}

/// The error body of Resource Graph and the Power Platform APIs:
/// `{"error":{"code","message","details":[...]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

/// One entry of [`ErrorBody::details`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl ErrorDetail {
    /// The detail's code.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The detail's message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Deeper details.
    pub fn details(&self) -> &[ErrorDetail] {
        &self.details
    }

    /// Anything else the service said (`line`, `characterPositionInLine`, `token`, ...).
    pub fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.extra
    }
}

impl ErrorBody {
    /// The service's error code (`BadRequest`, `InvalidQuery`, `RateLimiting`, ...).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The service's message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Nested details; Resource Graph puts the query's problem here.
    pub fn details(&self) -> &[ErrorDetail] {
        &self.details
    }

    /// Reads `{"error":{...}}` (or a bare `{code,message,details}`) from a response body.
    pub fn parse(body: &[u8]) -> Option<ErrorBody> {
        #[derive(Deserialize)]
        struct Wrapped {
            error: ErrorBody,
        }
        if let Ok(w) = serde_json::from_slice::<Wrapped>(body) {
            return Some(w.error);
        }
        serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .filter(|b| b.code.is_some() || b.message.is_some())
    }

    /// Every detail, depth first.
    pub fn all_details(&self) -> Vec<&ErrorDetail> {
        fn walk<'a>(d: &'a [ErrorDetail], out: &mut Vec<&'a ErrorDetail>) {
            for x in d {
                out.push(x);
                walk(&x.details, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.details, &mut out);
        out
    }
}

/// A failed inventory operation.
///
/// Every variant wraps a type with private fields and accessors: match on the variant for the
/// kind of failure, and use [`status`](Error::status), [`service_code`](Error::service_code),
/// [`service_message`](Error::service_message), [`request_id`](Error::request_id),
/// [`is_throttled`](Error::is_throttled), [`is_retryable`](Error::is_retryable) and
/// [`hint`](Error::hint) for the details. Nothing in an error carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP exchange failed: transport, timeout, authentication, or an error status (after
    /// retries and throttling waits).
    #[error(transparent)]
    Http(Box<HttpError>),
    /// The Power Platform inventory does not exist in this cloud; no request was sent.
    #[error(transparent)]
    UnsupportedCloud(UnsupportedCloudError),
    /// An argument cannot be sent as given; the message says what to change.
    #[error(transparent)]
    InvalidInput(InvalidInputError),
    /// A response did not have the expected shape.
    #[error(transparent)]
    Decode(DecodeError),
    /// The service handed back a paging token or link it had already given; paging stopped
    /// instead of looping for ever.
    #[error(transparent)]
    PagingLoop(PagingLoopError),
}

/// A failed exchange with one of the inventory APIs, with the service's body and a hint.
#[derive(Debug, thiserror::Error)]
#[error("{api}: {source}{}", hint_suffix(.hint, .body))]
pub struct HttpError {
    api: Api,
    #[source]
    source: client_core::Error,
    body: Option<ErrorBody>,
    hint: Option<Hint>,
}

impl HttpError {
    /// The API called.
    pub fn api(&self) -> Api {
        self.api
    }

    /// The underlying pipeline error.
    pub fn http(&self) -> &client_core::Error {
        &self.source
    }

    /// The service's error body, when it sent one.
    pub fn body(&self) -> Option<&ErrorBody> {
        self.body.as_ref()
    }

    /// What to change, when the refusal is a known access problem.
    pub fn hint(&self) -> Option<Hint> {
        self.hint
    }
}

/// The Power Platform inventory asked for in a cloud that does not have it.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{api} is not available in the {cloud} cloud: the Power Platform inventory exists only in \
     the public cloud (list environments with the admin environment list and read each \
     environment's Dataverse instead)"
)]
pub struct UnsupportedCloudError {
    cloud: &'static str,
    api: Api,
}

impl UnsupportedCloudError {
    /// The cloud's short name (`usgov`, `usgovhigh`, `usdod`, `china`).
    pub fn cloud(&self) -> &'static str {
        self.cloud
    }

    /// The API that was asked for.
    pub fn api(&self) -> Api {
        self.api
    }
}

/// A paging token or link the service had already given.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{api} repeated a paging token; stopped paging instead of looping")]
pub struct PagingLoopError {
    api: Api,
}

impl PagingLoopError {
    /// The API that repeated itself.
    pub fn api(&self) -> Api {
        self.api
    }
}

/// A request to `api` fails with this crate's [`Error`], naming the API and working out a
/// hint (see [`ErrorMapper`](client_core::ErrorMapper)).
impl client_core::ErrorMapper for Api {
    type Error = Error;

    fn pipeline_error(&self, error: client_core::Error) -> Error {
        Error::from_http(*self, error)
    }

    fn decode_error(&self, error: DecodeError) -> Error {
        Error::Decode(error)
    }
}

fn hint_suffix(hint: &Option<Hint>, body: &Option<ErrorBody>) -> String {
    let mut s = String::new();
    if let Some(b) = body {
        for d in b.all_details() {
            if let Some(m) = &d.message {
                s.push_str(" [");
                if let Some(c) = &d.code {
                    s.push_str(c);
                    s.push_str(": ");
                }
                s.push_str(m);
                s.push(']');
            }
        }
    }
    if let Some(h) = hint {
        s.push_str(". Fix: ");
        s.push_str(h.fix());
    }
    s
}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(InvalidInputError::new(message))
    }

    pub(crate) fn decode(what: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Decode(DecodeError::new(what, message))
    }

    pub(crate) fn unsupported_cloud(cloud: &'static str, api: Api) -> Self {
        Error::UnsupportedCloud(UnsupportedCloudError { cloud, api })
    }

    pub(crate) fn paging_loop(api: Api) -> Self {
        Error::PagingLoop(PagingLoopError { api })
    }

    /// Wraps a pipeline error, reading the service's body and working out a hint.
    pub(crate) fn from_http(api: Api, source: client_core::Error) -> Self {
        let body = source
            .service()
            .and_then(|s| ErrorBody::parse(s.body().as_bytes()));
        let hint = source.service().and_then(|s| classify(api, s));
        Error::Http(Box::new(HttpError {
            api,
            source,
            body,
            hint,
        }))
    }

    /// The underlying HTTP error, if there is one.
    pub fn http(&self) -> Option<&client_core::Error> {
        match self {
            Error::Http(e) => Some(&e.source),
            _ => None,
        }
    }

    /// The service's error answer, if the service answered with an error status.
    pub fn service(&self) -> Option<&ServiceError> {
        self.http().and_then(client_core::Error::service)
    }

    /// The HTTP status of the service's error answer.
    pub fn status(&self) -> Option<u16> {
        self.http().and_then(client_core::Error::status)
    }

    /// The service's typed error body (`code`, `message`, `details`).
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Error::Http(e) => e.body.as_ref(),
            _ => None,
        }
    }

    /// The service's error code.
    pub fn service_code(&self) -> Option<&str> {
        self.body()
            .and_then(|b| b.code.as_deref())
            .or_else(|| self.service().and_then(ServiceError::code))
    }

    /// The service's error message.
    pub fn service_message(&self) -> Option<&str> {
        self.body()
            .and_then(|b| b.message.as_deref())
            .or_else(|| self.service().and_then(ServiceError::message))
    }

    /// What to change, for known access problems.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Error::Http(e) => e.hint,
            _ => None,
        }
    }

    /// Whether the service throttled the request (429) even after waiting as asked.
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// Whether the same request may succeed later (throttling, 5xx, transport failures).
    pub fn is_retryable(&self) -> bool {
        self.http().is_some_and(client_core::Error::is_retryable)
    }

    /// Whether the caller was refused (401 or 403).
    pub fn is_forbidden(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// Whether the cloud has no Power Platform inventory.
    pub fn is_unsupported_cloud(&self) -> bool {
        matches!(self, Error::UnsupportedCloud { .. })
    }

    /// The service's request id, for support cases.
    pub fn request_id(&self) -> Option<&str> {
        self.http().and_then(client_core::Error::request_id)
    }

    /// The API the failed request went to.
    pub fn api(&self) -> Option<Api> {
        match self {
            Error::Http(e) => Some(e.api),
            Error::UnsupportedCloud(e) => Some(e.api),
            Error::PagingLoop(e) => Some(e.api),
            _ => None,
        }
    }
}

/// Works out the hint for a refusal from its status, API and message (services word these
/// refusals in their message; there is no dedicated code).
fn classify(api: Api, s: &ServiceError) -> Option<Hint> {
    let status = s.status();
    if status != 403 && status != 401 {
        return None;
    }
    let text = format!(
        "{} {}",
        s.message().unwrap_or_default(),
        s.code().unwrap_or_default()
    )
    .to_ascii_lowercase();
    if text.contains("service principal") {
        return Some(Hint::RegisterManagementApplication);
    }
    if status == 401 {
        return None;
    }
    Some(match api {
        Api::ResourceQuery => Hint::DelegatedAdminRequired,
        Api::ResourceGraph | Api::AdminEnvironments => Hint::AdminRoleRequired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_with_nested_details() {
        let b = ErrorBody::parse(
            br#"{"error":{"code":"BadRequest","message":"Please provide below info","details":[{"code":"InvalidQuery","message":"Query is invalid.","details":[{"code":"ParserFailure","message":"bad token","line":1,"token":"|"}]}]}}"#,
        )
        .unwrap();
        assert_eq!(b.code(), Some("BadRequest"));
        let all = b.all_details();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].code(), Some("ParserFailure"));
        assert_eq!(all[1].extra()["line"], 1);
        assert!(ErrorBody::parse(b"<html>").is_none());
        assert!(ErrorBody::parse(b"{}").is_none());
        assert_eq!(
            ErrorBody::parse(br#"{"code":"X","message":"m"}"#)
                .unwrap()
                .code(),
            Some("X")
        );
    }
}

//! Managed identity: the Azure VM Instance Metadata Service (IMDS) and App Service /
//! Functions identity endpoint.

use crate::cache::{CachedCredential, through_cache};
use crate::env_vars::Env;
use crate::options::CredentialOptions;
use crate::token_endpoint::{Expiry, parse_token, transport};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Pipeline, Request, Response, RetryPolicy,
    Secret, ServiceError, TokenCredential, async_trait,
};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use url::Url;

/// The IMDS token endpoint.
pub const IMDS_TOKEN_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// IMDS answers 410 while it is being updated and is back within about 70 s: after a 410 the
/// credential keeps asking at least this long, whatever the retry policy's jitter drew.
const IMDS_UPDATE_WINDOW: time::Duration = time::Duration::seconds(70);
/// The pause between rounds of asking while IMDS is still updating.
const IMDS_UPDATE_PAUSE: Duration = Duration::from_secs(5);

/// Which managed identity to use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ManagedIdentityId {
    /// The resource's system-assigned identity.
    #[default]
    SystemAssigned,
    /// A user-assigned identity by its client (application) id.
    ClientId(String),
    /// A user-assigned identity by its object (principal) id.
    ObjectId(String),
    /// A user-assigned identity by its ARM resource id
    /// (`/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/...`).
    ResourceId(String),
}

impl ManagedIdentityId {
    /// The query parameter selecting this identity, as each endpoint names it.
    fn query(&self, app_service: bool) -> Option<(&'static str, &str)> {
        match (self, app_service) {
            (ManagedIdentityId::SystemAssigned, _) => None,
            (ManagedIdentityId::ClientId(id), _) => Some(("client_id", id)),
            (ManagedIdentityId::ObjectId(id), false) => Some(("object_id", id)),
            (ManagedIdentityId::ObjectId(id), true) => Some(("principal_id", id)),
            (ManagedIdentityId::ResourceId(id), false) => Some(("msi_res_id", id)),
            (ManagedIdentityId::ResourceId(id), true) => Some(("mi_res_id", id)),
        }
    }
}

enum Source {
    Imds { endpoint: Url },
    AppService { endpoint: Url, header: Secret },
}

/// Signs in as the managed identity of the Azure resource this code runs on.
///
/// - On App Service and Functions (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER` set), asks the
///   local identity endpoint (api-version 2019-08-01).
/// - Elsewhere, asks IMDS at `169.254.169.254` (api-version 2018-02-01). The first request is a
///   probe with a short timeout and no retries: if nothing answers, this is not an Azure VM and
///   the error is [`CredentialErrorKind::NotConfigured`]. Once IMDS has answered, requests are
///   retried on 404, 410 (IMDS is updating), 429 and 5xx with exponential backoff, and for
///   at least 70 s from the first request while IMDS keeps answering 410.
///
/// A user-assigned identity is selected by [`ManagedIdentityId`]. Azure Arc, Service Fabric
/// and Cloud Shell identity endpoints are not supported.
///
/// ```no_run
/// use client_core::TokenCredential;
/// use entra_auth::{CredentialOptions, ManagedIdentityCredential, ManagedIdentityId};
/// # async fn run() -> Result<(), client_core::CredentialError> {
/// let credential = ManagedIdentityCredential::new(
///     ManagedIdentityId::ClientId("00000000-0000-0000-0000-000000000002".into()),
///     CredentialOptions::default(),
/// )?;
/// let token = credential.get_token(&["https://management.azure.com/.default"]).await?;
/// # Ok(()) }
/// ```
pub struct ManagedIdentityCredential {
    cached: CachedCredential<IdentityEndpoint>,
}

/// The uncached token request to IMDS or the App Service endpoint.
struct IdentityEndpoint {
    id: ManagedIdentityId,
    source: Source,
    options: CredentialOptions,
    probe_timeout: Duration,
    probe: Pipeline,
    pipeline: Pipeline,
    probed: AtomicBool,
}

/// The default retries for managed identity endpoints: 404, 410, 429 and 5xx, up to 8
/// attempts within 2 minutes (IMDS says it is back within about 70 s after a 410).
pub fn managed_identity_retry_policy() -> RetryPolicy {
    RetryPolicy::default()
        .with_statuses([404, 410, 429].into_iter().chain(500..=599))
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_secs(2))
        .with_max_backoff(Duration::from_secs(30))
        .with_max_elapsed(Duration::from_secs(120))
}

impl ManagedIdentityCredential {
    /// The managed identity `id`, with the endpoint chosen from the process environment.
    pub fn new(id: ManagedIdentityId, options: CredentialOptions) -> Result<Self, CredentialError> {
        Self::from_env(id, &Env::process(), options)
    }

    /// The managed identity `id`, with the endpoint chosen from `env`.
    pub fn from_env(
        id: ManagedIdentityId,
        env: &Env,
        options: CredentialOptions,
    ) -> Result<Self, CredentialError> {
        let bad = |m: String| CredentialError::new(CredentialErrorKind::InvalidConfiguration, m);
        let source = match (env.get("IDENTITY_ENDPOINT"), env.get("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => {
                let endpoint = Url::parse(endpoint)
                    .map_err(|e| bad(format!("IDENTITY_ENDPOINT is not a URL: {e}")))?;
                client_core::check_url(&endpoint)
                    .map_err(|e| bad(format!("IDENTITY_ENDPOINT: {e}")))?;
                Source::AppService {
                    endpoint,
                    header: Secret::new(header),
                }
            }
            _ => Source::Imds {
                endpoint: Url::parse(IMDS_TOKEN_ENDPOINT)
                    .map_err(|e| bad(format!("the IMDS endpoint: {e}")))?,
            },
        };
        if let Some((_, value)) = id.query(false)
            && value.trim().is_empty()
        {
            return Err(bad("the user-assigned managed identity id is empty".into()));
        }
        let probe_timeout = Duration::from_secs(1);
        let clock = options.clock().clone();
        let endpoint = IdentityEndpoint {
            probe: options.pipeline(RetryPolicy::none())?,
            pipeline: options.pipeline(managed_identity_retry_policy())?,
            probed: AtomicBool::new(false),
            id,
            source,
            options,
            probe_timeout,
        };
        Ok(Self {
            cached: CachedCredential::new(endpoint, clock),
        })
    }

    /// Uses `endpoint` instead of `169.254.169.254` for IMDS (a test server, or a proxy on
    /// this machine). It must be https, loopback, or the IMDS address. It has no effect when
    /// the App Service endpoint is in use.
    pub fn with_imds_endpoint(mut self, endpoint: Url) -> Result<Self, CredentialError> {
        client_core::check_url_allowing_imds(&endpoint).map_err(|e| {
            CredentialError::new(
                CredentialErrorKind::InvalidConfiguration,
                format!("IMDS endpoint: {e}"),
            )
        })?;
        if let Source::Imds { endpoint: e } = &mut self.cached.inner_mut().source {
            *e = endpoint;
        }
        Ok(self)
    }

    /// Retries after the endpoint has answered (default [`managed_identity_retry_policy`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Result<Self, CredentialError> {
        let inner = self.cached.inner_mut();
        inner.pipeline = inner.options.pipeline(policy)?;
        Ok(self)
    }

    /// How long the first IMDS request may take before IMDS is deemed absent (default 1 s).
    pub fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.cached.inner_mut().probe_timeout = timeout;
        self
    }

    /// Which identity this credential asks for.
    pub fn id(&self) -> &ManagedIdentityId {
        &self.cached.inner().id
    }

    /// Whether it uses the App Service / Functions endpoint rather than IMDS.
    pub fn is_app_service(&self) -> bool {
        self.cached.inner().is_app_service()
    }
}

through_cache!(ManagedIdentityCredential);

impl IdentityEndpoint {
    fn is_app_service(&self) -> bool {
        matches!(self.source, Source::AppService { .. })
    }

    fn request(&self, resource: &str) -> Request {
        let app_service = self.is_app_service();
        let (endpoint, api_version) = match &self.source {
            Source::Imds { endpoint } => (endpoint, IMDS_API_VERSION),
            Source::AppService { endpoint, .. } => (endpoint, APP_SERVICE_API_VERSION),
        };
        let mut url = endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", api_version)
                .append_pair("resource", resource);
            if let Some((name, value)) = self.id.query(app_service) {
                q.append_pair(name, value);
            }
        }
        let request = Request::get(url)
            .without_auth()
            .header("accept", "application/json");
        match &self.source {
            Source::Imds { .. } => request.header("Metadata", "true").allow_imds_http(),
            Source::AppService { header, .. } => {
                request.header("X-IDENTITY-HEADER", header.expose())
            }
        }
    }

    async fn fetch(&self, resource: String) -> Result<AccessToken, CredentialError> {
        let started = self.options.clock().now();
        tracing::debug!(identity = ?self.id, app_service = self.is_app_service(), %resource, "requesting a managed identity token");
        let response = if !self.is_app_service() && !self.probed.load(Ordering::Acquire) {
            match self
                .probe
                .send_raw(self.request(&resource).timeout(self.probe_timeout))
                .await
            {
                Err(e) if e.is_transport() => {
                    return Err(CredentialError::not_configured(format!(
                        "no managed identity endpoint answered (IMDS): {e}"
                    ))
                    .with_hint(
                        "this is not an Azure VM, or IMDS is blocked; use another credential here",
                    )
                    .with_source(e));
                }
                Err(e) => return Err(transport(e)),
                Ok(r) => {
                    self.probed.store(true, Ordering::Release);
                    if managed_identity_retry_policy().retries_status(r.status().as_u16()) {
                        // IMDS is there but busy or updating: wait before the retrying pipeline
                        // takes over, as it would between its own attempts.
                        tracing::debug!(
                            status = r.status().as_u16(),
                            "IMDS probe answered a retryable status"
                        );
                        self.options.clock().sleep(Duration::from_secs(1)).await;
                        self.pipeline
                            .send_raw(self.request(&resource))
                            .await
                            .map_err(transport)?
                    } else {
                        r
                    }
                }
            }
        } else {
            self.pipeline
                .send_raw(self.request(&resource))
                .await
                .map_err(transport)?
        };
        let mut response = response;
        while !self.is_app_service()
            && response.status().as_u16() == 410
            && self.options.clock().now() - started < IMDS_UPDATE_WINDOW
        {
            tracing::debug!("IMDS is being updated (HTTP 410): asking again");
            self.options.clock().sleep(IMDS_UPDATE_PAUSE).await;
            response = self
                .pipeline
                .send_raw(self.request(&resource))
                .await
                .map_err(transport)?;
        }
        self.parse(response)
    }

    fn parse(&self, response: Response) -> Result<AccessToken, CredentialError> {
        let status = response.status().as_u16();
        let endpoint = if self.is_app_service() {
            "the App Service identity endpoint"
        } else {
            "IMDS"
        };
        if (200..300).contains(&status) {
            return parse_token(
                response.body(),
                self.options.clock().now(),
                endpoint,
                Expiry::OnOrIn,
            );
        }
        let (code, message) = ServiceError::parse_body(response.body());
        let detail = [code, message]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        let text = format!(
            "{endpoint} answered HTTP {status}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        );
        let e = match status {
            400 if !self.is_app_service() => CredentialError::not_configured(text).with_hint(
                "no such managed identity here: assign one to this resource, or check the user-assigned identity's id",
            ),
            400 | 404 => CredentialError::new(CredentialErrorKind::Rejected, text).with_hint(
                "check that the identity is assigned to this resource and that the id is right",
            ),
            s if managed_identity_retry_policy().retries_status(s) => {
                CredentialError::new(CredentialErrorKind::Unavailable, text)
            }
            _ => CredentialError::new(CredentialErrorKind::Rejected, text),
        };
        Err(e.with_code(status.to_string()))
    }
}

/// The resource of a single `{resource}/.default` scope.
fn resource_of(scopes: &[&str]) -> Result<String, CredentialError> {
    match scopes {
        [scope] if !scope.trim().is_empty() => {
            let s = scope.trim();
            Ok(s.strip_suffix("/.default").unwrap_or(s).to_owned())
        }
        _ => Err(CredentialError::new(
            CredentialErrorKind::InvalidConfiguration,
            format!(
                "managed identity takes exactly one scope, got {}",
                scopes.len()
            ),
        )
        .with_hint("request one `{resource}/.default` scope")),
    }
}

impl fmt::Debug for IdentityEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ManagedIdentityCredential");
        d.field("id", &self.id);
        match &self.source {
            Source::Imds { endpoint } => d.field("imds", &endpoint.as_str()),
            Source::AppService { endpoint, header } => d
                .field("app_service", &endpoint.as_str())
                .field("identity_header", header),
        };
        d.finish()
    }
}

#[async_trait]
impl TokenCredential for IdentityEndpoint {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        self.fetch(resource_of(scopes)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_from_scope() {
        assert_eq!(
            resource_of(&["https://management.azure.com/.default"]).unwrap(),
            "https://management.azure.com"
        );
        assert!(resource_of(&[]).is_err());
        assert!(resource_of(&["a", "b"]).is_err());
    }

    #[test]
    fn parses_string_numbers() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let t = parse_token(
            br#"{"access_token":"x","expires_in":"86399","expires_on":"1700000000","token_type":"Bearer"}"#,
            now,
            "IMDS",
            Expiry::OnOrIn,
        )
        .unwrap();
        assert_eq!(t.expires_on.unix_timestamp(), 1_700_000_000);
        let t = parse_token(
            br#"{"access_token":"x","expires_in":"60"}"#,
            now,
            "IMDS",
            Expiry::OnOrIn,
        )
        .unwrap();
        assert_eq!(t.expires_on, now + time::Duration::seconds(60));
        assert!(parse_token(br#"{"access_token":"x"}"#, now, "IMDS", Expiry::OnOrIn).is_err());
    }
}

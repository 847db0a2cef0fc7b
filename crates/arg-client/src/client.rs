//! The client, its builder, endpoints per cloud, and the send loop that honours quotas and
//! throttling on the injected clock.

use crate::error::{Api, Error};
use crate::quota::{QUOTA_RESETS_AFTER, Quota, parse_timespan};
use client_core::{
    ErrorMapper as _, Pipeline, PipelineBuilder, Request, Response, RetryPolicy, SharedClock,
    SharedCredential,
};
use entra_auth::Cloud;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// The Resource Graph API version used.
pub const RESOURCE_GRAPH_API_VERSION: &str = "2024-04-01";
/// The Power Platform API version of the inventory resource query.
pub const RESOURCE_QUERY_API_VERSION: &str = "2024-10-01";
/// The API version of the admin environment list.
pub const ADMIN_API_VERSION: &str = "2020-10-01";
/// Rows per page unless set: the most Resource Graph returns in one page.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

const GRAPH_PATH: &str = "providers/Microsoft.ResourceGraph/resources";
const QUERY_PATH: &str = "resourcequery/resources/query";
const ENVIRONMENTS_PATH: &str = "providers/Microsoft.BusinessAppPlatform/scopes/admin/environments";

/// A client for the tenant-wide inventory: Azure Resource Graph, the Power Platform API's
/// resource query and the admin environment list. Cheap to clone; clones share the connection
/// pool, the quota state and the retry budget.
///
/// Hosts and token scopes come from the [`Cloud`]; each host can be overridden (private
/// clouds, emulators). Every request goes through the `client-core` pipeline (bearer token for
/// the API's scope, retries of 5xx and lost connections); throttling is handled here: before
/// a request, if the last Resource Graph answer said the user's quota is spent
/// (`x-ms-user-quota-remaining`), the client waits on its clock until the window resets
/// (`x-ms-user-quota-resets-after`); a 429 is waited out (`Retry-After`, else the quota
/// reset, else backoff) up to [`ArgClientBuilder::max_throttle_waits`] times.
///
/// ```
/// use arg_client::{ArgClient, InventorySource};
/// use client_core::{AccessToken, StaticTokenCredential};
/// use futures::TryStreamExt;
/// use std::sync::Arc;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = httpmock::MockServer::start_async().await;
/// # server.mock_async(|when, then| {
/// #     when.method("POST").path("/providers/Microsoft.ResourceGraph/resources");
/// #     then.json_body(serde_json::json!({"totalRecords": 1, "count": 1, "resultTruncated": "false",
/// #         "data": [{"name": "7d0f6c1e-0000-0000-0000-000000000001", "type": "microsoft.copilotstudio/agents",
/// #                   "properties": {"displayName": "Helpdesk", "environmentId": "env-1"}}]}));
/// # }).await;
/// let token = AccessToken::new("token", time::OffsetDateTime::now_utc() + time::Duration::hours(1));
/// let client = ArgClient::builder(Arc::new(StaticTokenCredential::new(token)))
///     // Omit for the real service; here a local stand-in.
///     .resource_graph_endpoint(&server.base_url())
///     .build()?;
/// let agents: Vec<_> = client.agents(InventorySource::ResourceGraph).try_collect().await?;
/// assert_eq!(agents[0].properties.display_name.as_deref(), Some("Helpdesk"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ArgClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pipeline: Pipeline,
    pub(crate) clock: SharedClock,
    pub(crate) cloud: Cloud,
    pub(crate) graph_url: Url,
    pub(crate) query_url: Url,
    pub(crate) environments_url: Url,
    pub(crate) graph_scope: String,
    pub(crate) query_scope: String,
    pub(crate) admin_scope: String,
    pub(crate) page_size: u32,
    quota_reserve: u64,
    max_throttle_waits: u32,
    max_throttle_wait: Duration,
    quotas: Mutex<HashMap<Api, Quota>>,
}

impl fmt::Debug for ArgClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArgClient")
            .field("cloud", &self.inner.cloud.name())
            .field("resource_graph", &self.inner.graph_url.as_str())
            .field("resource_query", &self.inner.query_url.as_str())
            .field("environments", &self.inner.environments_url.as_str())
            .field("pipeline", &self.inner.pipeline)
            .finish()
    }
}

/// Builds an [`ArgClient`]; see [`ArgClient::builder`].
#[derive(Debug)]
pub struct ArgClientBuilder {
    credential: SharedCredential,
    cloud: Cloud,
    graph_endpoint: Option<String>,
    query_endpoint: Option<String>,
    admin_endpoint: Option<String>,
    graph_scope: Option<String>,
    query_scope: Option<String>,
    admin_scope: Option<String>,
    page_size: u32,
    quota_reserve: u64,
    max_throttle_waits: u32,
    max_throttle_wait: Duration,
    pipeline: PipelineBuilder,
}

impl ArgClientBuilder {
    // 429 is the client's own business (quota headers, long windows): whatever retry policy
    // is set here, `build` takes 429 out of its statuses.
    client_core::pipeline_setters!(pipeline);

    /// The cloud whose hosts and scopes to use (public by default). The Power Platform
    /// inventory exists only in the public cloud: in GCC, GCC High, DoD and China, inventory
    /// calls fail with [`Error::UnsupportedCloud`] before any request; the admin environment
    /// list works everywhere. A [`Cloud::Custom`] is trusted to have the inventory.
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Sends Resource Graph requests to this base URL (`https://host[:port][/prefix]`)
    /// instead of the cloud's Resource Manager host. The token scope stays the cloud's unless
    /// [`resource_graph_scope`](Self::resource_graph_scope) is set.
    pub fn resource_graph_endpoint(mut self, base: &str) -> Self {
        self.graph_endpoint = Some(base.to_owned());
        self
    }

    /// Sends inventory resource queries to this base URL instead of the cloud's Power
    /// Platform API host.
    pub fn power_platform_endpoint(mut self, base: &str) -> Self {
        self.query_endpoint = Some(base.to_owned());
        self
    }

    /// Sends admin environment list requests to this base URL instead of the cloud's BAP host.
    pub fn admin_endpoint(mut self, base: &str) -> Self {
        self.admin_endpoint = Some(base.to_owned());
        self
    }

    /// Overrides the token scope of Resource Graph (default `https://{arm host}/.default`).
    pub fn resource_graph_scope(mut self, scope: impl Into<String>) -> Self {
        self.graph_scope = Some(scope.into());
        self
    }

    /// Overrides the token scope of the Power Platform API.
    pub fn power_platform_scope(mut self, scope: impl Into<String>) -> Self {
        self.query_scope = Some(scope.into());
        self
    }

    /// Overrides the token scope of the admin environment list.
    pub fn admin_scope(mut self, scope: impl Into<String>) -> Self {
        self.admin_scope = Some(scope.into());
        self
    }

    /// Rows per page (`$top` / `Top`), 1..=1000; default [`DEFAULT_PAGE_SIZE`].
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n;
        self
    }

    /// Requests to keep in hand: the client waits for the quota window to reset once the
    /// reported remaining quota is at or below this (default 0: wait only when the next
    /// request would be refused).
    pub fn quota_reserve(mut self, n: u64) -> Self {
        self.quota_reserve = n;
        self
    }

    /// How many 429 answers in a row one request waits out before failing (default 5).
    pub fn max_throttle_waits(mut self, n: u32) -> Self {
        self.max_throttle_waits = n;
        self
    }

    /// The longest single wait honoured after a 429 or before a quota reset (default 5 min).
    pub fn max_throttle_wait(mut self, d: Duration) -> Self {
        self.max_throttle_wait = d;
        self
    }

    /// Builds the client; a bad endpoint or page size is reported here.
    pub fn build(self) -> Result<ArgClient, Error> {
        if !(1..=1000).contains(&self.page_size) {
            return Err(Error::invalid(format!(
                "page size {} is out of range: Resource Graph accepts 1 to 1000",
                self.page_size
            )));
        }
        let cloud = &self.cloud;
        let graph_url = endpoint(
            self.graph_endpoint.as_deref(),
            cloud.arm_host(),
            GRAPH_PATH,
            RESOURCE_GRAPH_API_VERSION,
        )?;
        let query_url = endpoint(
            self.query_endpoint.as_deref(),
            cloud.power_platform_api_host(),
            QUERY_PATH,
            RESOURCE_QUERY_API_VERSION,
        )?;
        let environments_url = endpoint(
            self.admin_endpoint.as_deref(),
            cloud.bap_host(),
            ENVIRONMENTS_PATH,
            ADMIN_API_VERSION,
        )?;
        let clock = self.pipeline.configured_clock().clone();
        // 429 is handled by the client (quota headers, long windows), not the pipeline.
        let policy = self
            .pipeline
            .configured_retry_policy()
            .clone()
            .with_statuses([408, 500, 502, 503, 504]);
        let pipeline = self
            .pipeline
            .credential(self.credential)
            .user_agent_prefix(concat!("arg-client/", env!("CARGO_PKG_VERSION")))
            .retry_policy(policy)
            .build()
            .map_err(|e| Error::from_http(Api::ResourceGraph, e))?;
        Ok(ArgClient {
            inner: Arc::new(Inner {
                pipeline,
                clock,
                graph_scope: self.graph_scope.unwrap_or_else(|| cloud.arm_scope()),
                query_scope: self
                    .query_scope
                    .unwrap_or_else(|| cloud.power_platform_api_scope()),
                admin_scope: self.admin_scope.unwrap_or_else(|| cloud.bap_scope()),
                cloud: self.cloud,
                graph_url,
                query_url,
                environments_url,
                page_size: self.page_size,
                quota_reserve: self.quota_reserve,
                max_throttle_waits: self.max_throttle_waits,
                max_throttle_wait: self.max_throttle_wait,
                quotas: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// `{base}/{path}?api-version={version}`, with the base checked (https, or http to loopback;
/// no query, fragment or credentials).
fn endpoint(base: Option<&str>, host: &str, path: &str, version: &str) -> Result<Url, Error> {
    let base = match base {
        Some(b) => b.trim().to_owned(),
        None => format!("https://{host}"),
    };
    let url = Url::parse(&base).map_err(|e| {
        Error::invalid(format!(
            "endpoint `{base}` is not a URL ({e}): give https://host or http://127.0.0.1:port"
        ))
    })?;
    client_core::check_url(&url).map_err(|e| Error::invalid(e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(format!(
            "endpoint `{}` has a query or fragment: give only the scheme, host and path prefix",
            url.origin().ascii_serialization()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "an endpoint must not contain a user name or password",
        ));
    }
    let prefix = url.path().trim_end_matches('/');
    let mut full = url.clone();
    full.set_path(&format!("{prefix}/{path}"));
    full.set_query(Some(&format!("api-version={version}")));
    Ok(full)
}

impl ArgClient {
    /// Starts building a client authenticating with `credential` (which must be able to get
    /// tokens for the Resource Manager, Power Platform API and BAP scopes it will use).
    pub fn builder(credential: SharedCredential) -> ArgClientBuilder {
        ArgClientBuilder {
            credential,
            cloud: Cloud::Public,
            graph_endpoint: None,
            query_endpoint: None,
            admin_endpoint: None,
            graph_scope: None,
            query_scope: None,
            admin_scope: None,
            page_size: DEFAULT_PAGE_SIZE,
            quota_reserve: 0,
            max_throttle_waits: 5,
            max_throttle_wait: Duration::from_secs(300),
            pipeline: Pipeline::builder()
                .max_concurrency(4)
                .retry_policy(RetryPolicy::default()),
        }
    }

    /// The cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.inner.cloud
    }

    /// Whether this cloud has the Power Platform inventory (public and custom clouds).
    pub fn inventory_available(&self) -> bool {
        !matches!(
            self.inner.cloud,
            Cloud::UsGov | Cloud::UsGovHigh | Cloud::UsDod | Cloud::China
        )
    }

    /// The typed refusal for an inventory call in a cloud without the inventory.
    pub(crate) fn check_inventory(&self, api: Api) -> Result<(), Error> {
        if self.inventory_available() {
            Ok(())
        } else {
            Err(Error::unsupported_cloud(self.inner.cloud.name(), api))
        }
    }

    /// The full Resource Graph URL (with `api-version`).
    pub fn resource_graph_url(&self) -> &Url {
        &self.inner.graph_url
    }

    /// The full resource query URL (with `api-version`).
    pub fn resource_query_url(&self) -> &Url {
        &self.inner.query_url
    }

    /// The full admin environment list URL (with `api-version`).
    pub fn environments_url(&self) -> &Url {
        &self.inner.environments_url
    }

    /// The last quota `api` reported, counted down by the requests sent since.
    pub fn quota(&self, api: Api) -> Option<Quota> {
        self.quotas().get(&api).copied()
    }

    /// The underlying pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    fn quotas(&self) -> std::sync::MutexGuard<'_, HashMap<Api, Quota>> {
        self.inner.quotas.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn scope(&self, api: Api) -> &str {
        match api {
            Api::ResourceGraph => &self.inner.graph_scope,
            Api::ResourceQuery => &self.inner.query_scope,
            Api::AdminEnvironments => &self.inner.admin_scope,
        }
    }

    /// Waits until the quota allows one more request, then counts it.
    async fn wait_for_quota(&self, api: Api) {
        // Bounded: a clock whose sleep does not move time must not spin forever.
        for _ in 0..4 {
            let wait = {
                let now = self.inner.clock.now();
                let mut quotas = self.quotas();
                match quotas.get_mut(&api) {
                    None => return,
                    Some(q) if q.resets_at <= now => {
                        quotas.remove(&api);
                        return;
                    }
                    Some(q) if q.remaining > self.inner.quota_reserve => {
                        q.remaining -= 1;
                        return;
                    }
                    Some(q) => (q.resets_at - now).unsigned_abs(),
                }
            };
            let wait = wait.min(self.inner.max_throttle_wait);
            tracing::info!(
                api = %api,
                wait_ms = wait.as_millis() as u64,
                "quota spent: waiting for the window to reset"
            );
            self.inner.clock.sleep(wait).await;
        }
    }

    fn note_quota(&self, api: Api, headers: &http::HeaderMap) {
        if let Some(q) = Quota::from_headers(headers, self.inner.clock.now()) {
            tracing::debug!(api = %api, remaining = q.remaining, "quota");
            self.quotas().insert(api, q);
        }
    }

    /// Sends `request` to `api`: waits for the quota, sends through the pipeline, records the
    /// quota the answer reports, and waits out 429s.
    pub(crate) async fn send(&self, api: Api, request: Request) -> Result<Response, Error> {
        let request = request
            .header("accept", "application/json")
            .scope(self.scope(api).to_owned());
        let mut throttled: u32 = 0;
        loop {
            self.wait_for_quota(api).await;
            match self.inner.pipeline.send(request.clone()).await {
                Ok(resp) => {
                    self.note_quota(api, resp.headers());
                    return Ok(resp);
                }
                Err(e) => {
                    let Some(s) = e.service() else {
                        return Err(api.pipeline_error(e));
                    };
                    self.note_quota(api, s.headers());
                    if s.status() != 429 || throttled >= self.inner.max_throttle_waits {
                        return Err(api.pipeline_error(e));
                    }
                    let wait = s
                        .retry_after()
                        .or_else(|| {
                            s.headers()
                                .get(QUOTA_RESETS_AFTER)
                                .and_then(|v| v.to_str().ok())
                                .and_then(parse_timespan)
                        })
                        .unwrap_or_else(|| Duration::from_secs(1u64 << throttled.min(6)))
                        .min(self.inner.max_throttle_wait);
                    throttled += 1;
                    tracing::info!(
                        api = %api,
                        wait_ms = wait.as_millis() as u64,
                        attempt = throttled,
                        "throttled: waiting before trying again"
                    );
                    self.inner.clock.sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let u = endpoint(None, "management.azure.com", GRAPH_PATH, "v").unwrap();
        assert_eq!(
            u.as_str(),
            "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=v"
        );
        let u = endpoint(Some("http://127.0.0.1:8080/arm/"), "x", GRAPH_PATH, "v").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/arm/providers/Microsoft.ResourceGraph/resources?api-version=v"
        );
        for bad in [
            "http://example.com",
            "not a url",
            "https://h/?a=1",
            "https://u:p@h/",
        ] {
            assert!(endpoint(Some(bad), "x", GRAPH_PATH, "v").is_err(), "{bad}");
        }
    }
}

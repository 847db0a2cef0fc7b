//! The client, its builder, URL normalisation and the shared request helpers.

use crate::Error;
use crate::error::Mapper;
use client_core::{
    Pipeline, PipelineBuilder, Request, Response, RetryPolicy, SharedCredential, TokenCredential,
};
use http::Method;
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use url::Url;
use uuid::Uuid;

/// The API version used unless the URL or the builder names another.
pub const DEFAULT_API_VERSION: &str = "v9.2";

/// Requests in flight per client by default: well below the 52 concurrent requests per user
/// that Dataverse allows before throttling (`0x80072326`).
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;

/// A Dataverse Web API client. Cheap to clone: clones share the connection pool, the
/// concurrency limit and the retry budget.
///
/// Every request carries `Accept: application/json` and the OData version headers, a bearer
/// token for the environment's scope, and goes through the `client-core` pipeline, which
/// retries 429 (after `Retry-After`, holding this client's other requests meanwhile), 5xx and
/// connection failures.
///
/// Here against a local stand-in (plain http is allowed to loopback only); give
/// `https://org.crm.dynamics.com` and a real credential for an environment.
///
/// ```
/// use client_core::{AccessToken, StaticTokenCredential};
/// use dataverse_client::{DataverseClient, Filter};
/// use futures::TryStreamExt;
/// use std::sync::Arc;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = httpmock::MockServer::start_async().await;
/// # server.mock_async(|when, then| {
/// #     when.path("/api/data/v9.2/bots")
/// #         .query_param("$filter", "statecode eq 0")
/// #         .header("prefer", "odata.maxpagesize=500")
/// #         .header("authorization", "Bearer token");
/// #     then.json_body(serde_json::json!({"value": [{"botid": "00000000-0000-0000-0000-000000000001", "name": "Helpdesk"}]}));
/// # }).await;
/// # let environment_url = server.base_url();
/// let token = AccessToken::new("token", time::OffsetDateTime::now_utc() + time::Duration::hours(1));
/// let client = DataverseClient::builder(&environment_url, Arc::new(StaticTokenCredential::new(token)))?
///     .page_size(500)
///     .build()?;
/// let query = client.query("bots").select(["botid", "name"]).filter(Filter::eq("statecode", 0));
/// let bots: Vec<serde_json::Value> = client.rows(&query).try_collect().await?;
/// assert_eq!(bots[0]["name"], "Helpdesk");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DataverseClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pipeline: Pipeline,
    pub(crate) environment_url: Url,
    pub(crate) api_url: Url,
    pub(crate) scope: String,
    pub(crate) page_size: Option<u32>,
    pub(crate) annotations: Option<String>,
}

impl fmt::Debug for DataverseClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataverseClient")
            .field("api_url", &self.inner.api_url.as_str())
            .field("scope", &self.inner.scope)
            .field("pipeline", &self.inner.pipeline)
            .finish()
    }
}

/// Builds a [`DataverseClient`]; see [`DataverseClient::builder`].
#[derive(Debug)]
pub struct DataverseClientBuilder {
    environment_url: Url,
    api_version: String,
    credential: SharedCredential,
    scope: Option<String>,
    page_size: Option<u32>,
    annotations: Option<String>,
    pipeline: PipelineBuilder,
}

impl DataverseClientBuilder {
    client_core::pipeline_setters!(pipeline);

    /// The Web API version (`v9.2` by default, or the one in the environment URL).
    pub fn api_version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.api_version);
        self
    }

    /// Overrides the token scope (by default `{environment_url}/.default`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Rows per page for every query that does not set its own (`Prefer: odata.maxpagesize`,
    /// 1..=5000). Unset, the service's default (5000) applies.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Annotations for every query that does not set its own
    /// (`Prefer: odata.include-annotations="pattern"`).
    pub fn include_annotations(mut self, pattern: &str) -> Self {
        self.annotations = Some(pattern.to_owned());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<DataverseClient, Error> {
        let v = &self.api_version;
        let valid_version = v
            .strip_prefix('v')
            .and_then(|r| r.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            });
        if !valid_version {
            return Err(Error::invalid(format!(
                "API version `{v}` is not valid: use a form like v9.2"
            )));
        }
        crate::query::prefer_header(false, self.page_size, self.annotations.as_deref())?;
        let api_url = self
            .environment_url
            .join(&format!("api/data/{v}/"))
            .map_err(|e| Error::invalid(format!("cannot build the API URL: {e}")))?;
        let scope = self
            .scope
            .unwrap_or_else(|| format!("{}.default", self.environment_url));
        let pipeline = self
            .pipeline
            .credential(self.credential)
            .default_scope(scope.clone())
            .user_agent_prefix(concat!("dataverse-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(DataverseClient {
            inner: Arc::new(Inner {
                pipeline,
                environment_url: self.environment_url,
                api_url,
                scope,
                page_size: self.page_size,
                annotations: self.annotations,
            }),
        })
    }
}

/// Normalises an environment URL to `scheme://host[:port]/`, returning the API version it
/// named, if any.
pub(crate) fn normalize_environment_url(input: &str) -> Result<(Url, Option<String>), Error> {
    let input = input.trim();
    let url = Url::parse(input).map_err(|e| {
        Error::invalid(format!(
            "environment URL `{input}` is not a URL ({e}): expected https://org.crm.dynamics.com"
        ))
    })?;
    client_core::check_url(&url)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "the environment URL must not contain a user name or password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(format!(
            "environment URL `{}` has a query or fragment: give only https://org.crm.dynamics.com",
            crate::error::without_query(input)
        )));
    }
    let path = url.path().trim_end_matches('/').to_ascii_lowercase();
    let version = match path.as_str() {
        "" | "/api/data" => None,
        p => match p.strip_prefix("/api/data/") {
            Some(v) if !v.contains('/') => Some(v.to_owned()),
            _ => {
                return Err(Error::invalid(format!(
                    "environment URL `{input}` has the path `{}`: give the environment root, \
                     e.g. https://org.crm.dynamics.com or .../api/data/v9.2",
                    url.path()
                )));
            }
        },
    };
    let mut root = url;
    root.set_path("/");
    Ok((root, version))
}

/// The answer of `WhoAmI`: who the token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct WhoAmI {
    /// The `systemuser` id of the caller.
    #[serde(rename = "UserId")]
    pub user_id: Uuid,
    /// The caller's business unit.
    #[serde(rename = "BusinessUnitId")]
    pub business_unit_id: Uuid,
    /// The organisation (environment) id.
    #[serde(rename = "OrganizationId")]
    pub organization_id: Uuid,
}

impl DataverseClient {
    /// Starts building a client for `environment_url` (`https://org.crm.dynamics.com`, with or
    /// without a trailing slash or `/api/data/v9.x`; plain http only to loopback, for local
    /// emulators), authenticating with `credential` (any `TokenCredential` value, e.g. an
    /// `entra_auth::ClientSecretCredential` as it is, or an `Arc` of one).
    ///
    /// ```
    /// use client_core::{AccessToken, StaticTokenCredential};
    /// use dataverse_client::DataverseClient;
    /// use std::sync::Arc;
    /// let token = AccessToken::new("token", time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    /// let client = DataverseClient::builder(
    ///     "https://Org.crm4.dynamics.com/api/data/v9.1/",
    ///     Arc::new(StaticTokenCredential::new(token)),
    /// )?
    /// .build()?;
    /// assert_eq!(client.environment_url().as_str(), "https://org.crm4.dynamics.com/");
    /// assert_eq!(client.api_url().as_str(), "https://org.crm4.dynamics.com/api/data/v9.1/");
    /// assert_eq!(client.scope(), "https://org.crm4.dynamics.com/.default");
    /// # Ok::<(), dataverse_client::Error>(())
    /// ```
    pub fn builder(
        environment_url: &str,
        credential: impl TokenCredential + 'static,
    ) -> Result<DataverseClientBuilder, Error> {
        let (environment_url, version) = normalize_environment_url(environment_url)?;
        let credential: SharedCredential = Arc::new(credential);
        Ok(DataverseClientBuilder {
            environment_url,
            api_version: version.unwrap_or_else(|| DEFAULT_API_VERSION.to_owned()),
            credential,
            scope: None,
            page_size: None,
            annotations: None,
            // Dataverse throttles a user above 52 concurrent requests.
            pipeline: Pipeline::builder()
                .max_concurrency(DEFAULT_MAX_CONCURRENCY)
                .retry_policy(RetryPolicy::default().with_max_attempts(6)),
        })
    }

    /// The environment root, `https://org.crm.dynamics.com/`.
    pub fn environment_url(&self) -> &Url {
        &self.inner.environment_url
    }

    /// The Web API root, `https://org.crm.dynamics.com/api/data/v9.2/`.
    pub fn api_url(&self) -> &Url {
        &self.inner.api_url
    }

    /// The token scope, `https://org.crm.dynamics.com/.default`.
    pub fn scope(&self) -> &str {
        &self.inner.scope
    }

    /// The underlying HTTP pipeline (for requests this crate does not cover).
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// Who the token belongs to (`GET WhoAmI`); a cheap way to check access.
    ///
    /// ```no_run
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let me = client.who_am_i().await?;
    /// println!("user {} in organisation {}", me.user_id, me.organization_id);
    /// # Ok(()) }
    /// ```
    pub async fn who_am_i(&self) -> Result<WhoAmI, Error> {
        self.get_json("WhoAmI").await
    }

    /// An absolute URL for `relative` (already encoded) under the API root.
    pub(crate) fn url(&self, relative: &str) -> Result<Url, Error> {
        // Concatenation, not `join`: a relative part can never replace the host.
        Url::parse(&format!("{}{relative}", self.inner.api_url))
            .map_err(|e| Error::invalid(format!("cannot build a URL from `{relative}`: {e}")))
    }

    /// Resolves a link the service returned (`@odata.nextLink`, `@odata.deltaLink`), kept
    /// verbatim, and refuses one that leaves this environment (it would get our token).
    pub(crate) fn resolve_link(&self, what: &str, link: &str) -> Result<Url, Error> {
        let url = self
            .inner
            .api_url
            .join(link)
            .map_err(|e| Error::decode(what, format!("`{link}` is not a URL: {e}")))?;
        let api = &self.inner.api_url;
        if url.scheme() != api.scheme()
            || url.host_str() != api.host_str()
            || url.port_or_known_default() != api.port_or_known_default()
        {
            return Err(Error::decode(
                what,
                format!(
                    "it points to {}, outside {}; not followed so the token is not sent there",
                    crate::error::without_query(url.as_str()),
                    self.inner.environment_url
                ),
            ));
        }
        Ok(url)
    }

    /// A request with the OData headers every call carries.
    pub(crate) fn request(&self, method: Method, url: Url) -> Request {
        Request::new(method, url)
            .header("accept", "application/json")
            .header("odata-maxversion", "4.0")
            .header("odata-version", "4.0")
    }

    /// Sends a request; an error status becomes [`Error::Http`].
    pub(crate) async fn send(&self, request: Request) -> Result<Response, Error> {
        self.inner.pipeline.send_as(request, &Mapper).await
    }

    /// GETs `relative` and decodes the JSON answer.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        relative: &str,
    ) -> Result<T, Error> {
        let url = self.url(relative)?;
        self.inner
            .pipeline
            .send_json(self.request(Method::GET, url), &Mapper)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_urls_are_normalised() {
        for (input, root, version) in [
            (
                "https://org.crm.dynamics.com",
                "https://org.crm.dynamics.com/",
                None,
            ),
            (
                "https://ORG.crm.dynamics.com/",
                "https://org.crm.dynamics.com/",
                None,
            ),
            (
                " https://org.crm.dynamics.com/api/data/v9.1 ",
                "https://org.crm.dynamics.com/",
                Some("v9.1"),
            ),
            (
                "https://org.crm.dynamics.com/api/data/v9.2/",
                "https://org.crm.dynamics.com/",
                Some("v9.2"),
            ),
            (
                "https://org.crm.dynamics.com/api/data",
                "https://org.crm.dynamics.com/",
                None,
            ),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/", None),
        ] {
            let (u, v) = normalize_environment_url(input).unwrap();
            assert_eq!(u.as_str(), root, "{input}");
            assert_eq!(v.as_deref(), version, "{input}");
        }
        for bad in [
            "org.crm.dynamics.com",
            "http://org.crm.dynamics.com",
            "https://org.crm.dynamics.com/main.aspx",
            "https://org.crm.dynamics.com/api/data/v9.2/accounts",
            "https://org.crm.dynamics.com/?x=1",
            "https://user:pw@org.crm.dynamics.com/",
        ] {
            assert!(normalize_environment_url(bad).is_err(), "{bad}");
        }
    }
}

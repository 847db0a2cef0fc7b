//! The client, its builder, the per-cloud base URLs and the shared request helpers.

use crate::Error;
use crate::error::Mapper;
use client_core::{Pipeline, PipelineBuilder, Request, Response, RetryPolicy, SharedCredential};
use entra_auth::Cloud;
use http::Method;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::fmt;
use std::sync::Arc;
use url::Url;

/// Requests in flight per client by default. Graph throttles per app and tenant; eight
/// concurrent readers stay well inside the limits of the services used here.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;

/// Which Graph API version a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum ApiVersion {
    /// `/v1.0`: the supported, stable surface.
    #[default]
    V1,
    /// `/beta`: preview APIs (Security Copilot, some Copilot APIs), subject to change.
    Beta,
}

impl ApiVersion {
    /// The path segment, `v1.0` or `beta`.
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// A Microsoft Graph client. Cheap to clone: clones share the connection pool, the
/// concurrency limit and the retry budget.
///
/// Every request carries a bearer token for the cloud's Graph scope
/// (`https://graph.microsoft.com/.default`) and goes through the `client-core` pipeline,
/// which retries 429 and 503 after `Retry-After` (exponential backoff with jitter when the
/// header is missing), other 5xx and connection failures.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pipeline: Pipeline,
    pub(crate) root: Url,
    pub(crate) version: ApiVersion,
    pub(crate) scope: String,
    pub(crate) cloud: Cloud,
    pub(crate) custom_root: bool,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("root", &self.inner.root.as_str())
            .field("version", &self.inner.version)
            .field("scope", &self.inner.scope)
            .field("cloud", &self.inner.cloud.name())
            .field("pipeline", &self.inner.pipeline)
            .finish()
    }
}

/// Builds a [`GraphClient`]; see [`GraphClient::builder`].
#[derive(Debug)]
pub struct GraphClientBuilder {
    credential: SharedCredential,
    cloud: Cloud,
    base_url: Option<String>,
    version: ApiVersion,
    scope: Option<String>,
    pipeline: PipelineBuilder,
}

impl GraphClientBuilder {
    client_core::pipeline_setters!(pipeline);

    /// The cloud whose Graph host to call (public by default): `graph.microsoft.us` for GCC
    /// High, `dod-graph.microsoft.us` for DoD, `microsoftgraph.chinacloudapi.cn` for China.
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Overrides the Graph root (`https://graph.microsoft.com`), e.g. from `GRAPH_URL`, for a
    /// proxy or a local emulator (plain http only to loopback). The token scope stays the
    /// cloud's unless [`scope`](Self::scope) sets another.
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_owned());
        self
    }

    /// The API version of requests that do not name one (default `v1.0`).
    pub fn version(mut self, version: ApiVersion) -> Self {
        self.version = version;
        self
    }

    /// Overrides the token scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<GraphClient, Error> {
        let custom_root = self.base_url.is_some();
        let root = match &self.base_url {
            Some(u) => normalize_root(u)?,
            None => normalize_root(&format!("https://{}", self.cloud.graph_host()))?,
        };
        let scope = self.scope.unwrap_or_else(|| self.cloud.graph_scope());
        let pipeline = self
            .pipeline
            .credential(self.credential)
            .default_scope(scope.clone())
            .user_agent_prefix(concat!("graph-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                pipeline,
                root,
                version: self.version,
                scope,
                cloud: self.cloud,
                custom_root,
            }),
        })
    }
}

/// Normalises a Graph root to `scheme://host[:port]/`, accepting and dropping a trailing
/// `/v1.0` or `/beta`.
fn normalize_root(input: &str) -> Result<Url, Error> {
    let input = input.trim();
    let url = Url::parse(input).map_err(|e| {
        Error::invalid(format!(
            "Graph URL `{input}` is not a URL ({e}): expected https://graph.microsoft.com"
        ))
    })?;
    client_core::check_url(&url)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "the Graph URL must not contain a user name or password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            "the Graph URL has a query or fragment: give only https://graph.microsoft.com",
        ));
    }
    let path = url.path().trim_end_matches('/').to_ascii_lowercase();
    if !matches!(path.as_str(), "" | "/v1.0" | "/beta") {
        return Err(Error::invalid(format!(
            "Graph URL `{input}` has the path `{}`: give the root, e.g. https://graph.microsoft.com",
            url.path()
        )));
    }
    let mut root = url;
    root.set_path("/");
    Ok(root)
}

/// Characters escaped in a query value: everything that is not unreserved or a harmless
/// OData character (`$`, `'`, `(`, `)`, `:`, `/`, `,`).
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Characters escaped in one path segment.
const PATH_SEGMENT: &AsciiSet = &QUERY_VALUE.add(b'/').add(b'\'').add(b'$');

/// Percent-encodes a query value (spaces as `%20`, never `+`).
pub(crate) fn encode_query_value(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// Percent-encodes one path segment (a user id or UPN).
pub(crate) fn encode_segment(v: &str) -> String {
    utf8_percent_encode(v, PATH_SEGMENT).to_string()
}

/// Quotes a string literal for `$filter` (single quotes doubled).
pub(crate) fn odata_string(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

impl GraphClient {
    /// Starts building a client that authenticates with `credential`.
    ///
    /// ```
    /// use client_core::{AccessToken, StaticTokenCredential};
    /// use graph_client::{ApiVersion, GraphClient};
    /// use std::sync::Arc;
    /// let token = AccessToken::new("token", time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    /// let client = GraphClient::builder(Arc::new(StaticTokenCredential::new(token)))
    ///     .cloud(entra_auth::Cloud::UsGovHigh)
    ///     .build()?;
    /// assert_eq!(client.root().as_str(), "https://graph.microsoft.us/");
    /// assert_eq!(client.api_url(ApiVersion::Beta).as_str(), "https://graph.microsoft.us/beta/");
    /// assert_eq!(client.scope(), "https://graph.microsoft.us/.default");
    /// # Ok::<(), graph_client::Error>(())
    /// ```
    pub fn builder(credential: SharedCredential) -> GraphClientBuilder {
        GraphClientBuilder {
            credential,
            cloud: Cloud::Public,
            base_url: None,
            version: ApiVersion::V1,
            scope: None,
            pipeline: Pipeline::builder()
                .max_concurrency(DEFAULT_MAX_CONCURRENCY)
                .retry_policy(RetryPolicy::default().with_max_attempts(6)),
        }
    }

    /// The Graph root, `https://graph.microsoft.com/`.
    pub fn root(&self) -> &Url {
        &self.inner.root
    }

    /// The root of one API version, `https://graph.microsoft.com/v1.0/`.
    pub fn api_url(&self, version: ApiVersion) -> Url {
        let mut u = self.inner.root.clone();
        u.set_path(&format!("/{}/", version.segment()));
        u
    }

    /// The default API version.
    pub fn version(&self) -> ApiVersion {
        self.inner.version
    }

    /// The token scope.
    pub fn scope(&self) -> &str {
        &self.inner.scope
    }

    /// The configured cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.inner.cloud
    }

    /// The underlying HTTP pipeline (for requests this crate does not cover).
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// An absolute URL for `relative` (already encoded, e.g. `users?$top=5`) under the
    /// default version's root.
    pub fn url(&self, relative: &str) -> Result<Url, Error> {
        self.url_in(self.inner.version, relative)
    }

    /// An absolute URL for `relative` under `version`'s root.
    pub fn url_in(&self, version: ApiVersion, relative: &str) -> Result<Url, Error> {
        let relative = relative.trim_start_matches('/');
        // Concatenation, not `join`: a relative part can never replace the host.
        Url::parse(&format!("{}{relative}", self.api_url(version)))
            .map_err(|e| Error::invalid(format!("cannot build a URL from `{relative}`: {e}")))
    }

    /// Resolves a link the service returned (`@odata.nextLink`) and refuses one that leaves
    /// this Graph host (it would get our token).
    pub(crate) fn resolve_link(&self, link: &str) -> Result<Url, Error> {
        let url =
            self.inner.root.join(link).map_err(|e| {
                Error::decode("@odata.nextLink", format!("`{link}` is not a URL: {e}"))
            })?;
        let root = &self.inner.root;
        if url.scheme() != root.scheme()
            || url.host_str() != root.host_str()
            || url.port_or_known_default() != root.port_or_known_default()
        {
            return Err(Error::decode(
                "@odata.nextLink",
                format!(
                    "it points to {}://{}, outside {root}; not followed so the token is not sent there",
                    url.scheme(),
                    url.host_str().unwrap_or_default(),
                ),
            ));
        }
        Ok(url)
    }

    /// Fails with [`Error::UnsupportedCloud`] unless the client talks to the public cloud
    /// (or to an explicitly configured root, such as an emulator).
    pub(crate) fn require_public_cloud(&self, api: &'static str) -> Result<(), Error> {
        if self.inner.custom_root || matches!(self.inner.cloud, Cloud::Public) {
            return Ok(());
        }
        if let Cloud::Custom(c) = &self.inner.cloud
            && c.graph_host == Cloud::Public.graph_host()
        {
            return Ok(());
        }
        Err(Error::unsupported_cloud(api, self.inner.cloud.name()))
    }

    /// A GET request with `Accept: application/json`.
    pub(crate) fn get_request(&self, url: Url) -> Request {
        Request::new(Method::GET, url).header("accept", "application/json")
    }

    /// Sends a request; an error status becomes [`Error::Graph`].
    pub(crate) async fn send(&self, request: Request) -> Result<Response, Error> {
        self.inner.pipeline.send_as(request, &Mapper).await
    }

    /// GETs `url` and decodes the JSON answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, url: Url) -> Result<T, Error> {
        self.inner
            .pipeline
            .send_json(self.get_request(url), &Mapper)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_normalised() {
        for (input, root) in [
            (
                "https://graph.microsoft.com",
                "https://graph.microsoft.com/",
            ),
            (
                "https://graph.microsoft.com/v1.0/",
                "https://graph.microsoft.com/",
            ),
            (
                "https://GRAPH.microsoft.com/beta",
                "https://graph.microsoft.com/",
            ),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
        ] {
            assert_eq!(normalize_root(input).unwrap().as_str(), root, "{input}");
        }
        for bad in [
            "graph.microsoft.com",
            "http://graph.microsoft.com",
            "https://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com/?a=b",
            "https://u:p@graph.microsoft.com/",
        ] {
            assert!(normalize_root(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoding() {
        assert_eq!(
            encode_query_value("createdDateTime gt 2025-01-01T00:00:00Z and a eq 'x&y+z'"),
            "createdDateTime%20gt%202025-01-01T00:00:00Z%20and%20a%20eq%20'x%26y%2Bz'"
        );
        assert_eq!(encode_segment("o'neil@x.com/a"), "o%27neil@x.com%2Fa");
        assert_eq!(odata_string("O'Neil"), "'O''Neil'");
    }
}

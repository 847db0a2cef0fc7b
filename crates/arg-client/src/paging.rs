//! Paged queries of Resource Graph and the inventory resource query: lazy streams of pages and
//! rows, `$skipToken` / `SkipToken` continuation, truncation and facets.

use crate::client::ArgClient;
use crate::error::{Api, Error};
use crate::resource_query::ResourceQuery;
use client_core::Request;
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A KQL query for Azure Resource Graph, at tenant scope or for given subscriptions or
/// management groups.
///
/// ```
/// use arg_client::{GraphQuery, Facet};
/// let q = GraphQuery::new("PowerPlatformResources | where type == 'microsoft.copilotstudio/agents'")
///     .page_size(500)
///     .facet(Facet::new("location").unwrap().top(5));
/// # let _ = q;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GraphQuery {
    query: String,
    subscriptions: Vec<String>,
    management_groups: Vec<String>,
    page_size: Option<u32>,
    skip: Option<u64>,
    facets: Vec<Facet>,
    allow_partial_scopes: Option<bool>,
}

impl GraphQuery {
    /// A query at tenant scope (no subscriptions or management groups named).
    pub fn new(kql: impl Into<String>) -> Self {
        GraphQuery {
            query: kql.into(),
            subscriptions: Vec::new(),
            management_groups: Vec::new(),
            page_size: None,
            skip: None,
            facets: Vec::new(),
            allow_partial_scopes: None,
        }
    }

    /// The KQL query built from a [`ResourceQuery`] (its values quoted and escaped).
    pub fn from_resource_query(q: &ResourceQuery) -> Result<Self, Error> {
        q.to_kql()
            .map(Self::new)
            .map_err(|e| Error::invalid(e.to_string()))
    }

    /// Limits the query to these subscriptions.
    pub fn subscriptions<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.subscriptions = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Limits the query to these management groups.
    pub fn management_groups<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.management_groups = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Rows per page (`$top`), 1..=1000; default the client's.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Rows to skip before the first page (`$skip`).
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = Some(n);
        self
    }

    /// Asks for a facet (counts by one column) with the first page.
    pub fn facet(mut self, facet: Facet) -> Self {
        self.facets.push(facet);
        self
    }

    /// Lets a management-group query succeed over the subscriptions the caller can read
    /// (`allowPartialScopes`).
    pub fn allow_partial_scopes(mut self, allow: bool) -> Self {
        self.allow_partial_scopes = Some(allow);
        self
    }

    /// The KQL text.
    pub fn query(&self) -> &str {
        &self.query
    }
}

/// A facet request: counts of the values of one column, returned with the first page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facet {
    expression: String,
    options: FacetOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
struct FacetOptions {
    #[serde(rename = "$top", skip_serializing_if = "Option::is_none")]
    top: Option<u32>,
    #[serde(rename = "sortOrder", skip_serializing_if = "Option::is_none")]
    sort_order: Option<&'static str>,
}

impl Facet {
    /// A facet over `column` (a column name or dotted path, checked).
    pub fn new(column: &str) -> Result<Self, Error> {
        let path =
            crate::kql::FieldPath::parse(column).map_err(|e| Error::invalid(e.to_string()))?;
        Ok(Facet {
            expression: path.to_string(),
            options: FacetOptions::default(),
        })
    }

    /// At most `n` values (`$top`, 1..=1000).
    pub fn top(mut self, n: u32) -> Self {
        self.options.top = Some(n);
        self
    }

    /// Sorts values by count, descending (`true`) or ascending.
    pub fn descending(mut self, desc: bool) -> Self {
        self.options.sort_order = Some(if desc { "desc" } else { "asc" });
        self
    }
}

/// One facet of a Resource Graph answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "resultType")]
#[non_exhaustive]
pub enum FacetResult {
    /// The facet's counts.
    #[serde(rename = "FacetResult")]
    Result {
        /// The facet's expression.
        expression: String,
        /// Distinct values in total.
        #[serde(rename = "totalRecords", default)]
        total_records: Option<u64>,
        /// Values returned.
        #[serde(default)]
        count: Option<u64>,
        /// Rows of `{<column>: value, count: n}`.
        #[serde(default)]
        data: serde_json::Value,
    },
    /// The facet could not be computed.
    #[serde(rename = "FacetError")]
    Error {
        /// The facet's expression.
        expression: String,
        /// Why.
        #[serde(default)]
        errors: Vec<crate::ErrorDetail>,
    },
}

/// The request a paged query repeats with each skip token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "api", rename_all = "snake_case")]
enum PagedRequest {
    ResourceGraph {
        query: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        subscriptions: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        management_groups: Vec<String>,
        top: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_partial_scopes: Option<bool>,
    },
    ResourceQuery {
        table: String,
        /// The `Clauses` array as JSON text (keeps the order of sort keys).
        clauses: String,
        top: u32,
    },
}

impl PagedRequest {
    fn api(&self) -> Api {
        match self {
            PagedRequest::ResourceGraph { .. } => Api::ResourceGraph,
            PagedRequest::ResourceQuery { .. } => Api::ResourceQuery,
        }
    }

    fn body(
        &self,
        skip: Option<u64>,
        skip_token: Option<&str>,
        facets: &[Facet],
    ) -> Result<Vec<u8>, Error> {
        let bad = |e: serde_json::Error| Error::invalid(format!("cannot serialise the query: {e}"));
        match self {
            PagedRequest::ResourceGraph {
                query,
                subscriptions,
                management_groups,
                top,
                allow_partial_scopes,
            } => {
                #[derive(Serialize)]
                struct Options<'a> {
                    #[serde(rename = "$top")]
                    top: u32,
                    #[serde(rename = "$skip", skip_serializing_if = "Option::is_none")]
                    skip: Option<u64>,
                    #[serde(rename = "$skipToken", skip_serializing_if = "Option::is_none")]
                    skip_token: Option<&'a str>,
                    #[serde(rename = "resultFormat")]
                    result_format: &'static str,
                    #[serde(
                        rename = "allowPartialScopes",
                        skip_serializing_if = "Option::is_none"
                    )]
                    allow_partial_scopes: Option<bool>,
                }
                #[derive(Serialize)]
                struct Body<'a> {
                    #[serde(skip_serializing_if = "<[String]>::is_empty")]
                    subscriptions: &'a [String],
                    #[serde(
                        rename = "managementGroups",
                        skip_serializing_if = "<[String]>::is_empty"
                    )]
                    management_groups: &'a [String],
                    query: &'a str,
                    options: Options<'a>,
                    #[serde(skip_serializing_if = "<[Facet]>::is_empty")]
                    facets: &'a [Facet],
                }
                serde_json::to_vec(&Body {
                    subscriptions,
                    management_groups,
                    query,
                    options: Options {
                        top: *top,
                        skip,
                        skip_token,
                        result_format: "objectArray",
                        allow_partial_scopes: *allow_partial_scopes,
                    },
                    facets,
                })
                .map_err(bad)
            }
            PagedRequest::ResourceQuery {
                table,
                clauses,
                top,
            } => {
                #[derive(Serialize)]
                struct Options<'a> {
                    #[serde(rename = "Top")]
                    top: u32,
                    #[serde(rename = "Skip", skip_serializing_if = "Option::is_none")]
                    skip: Option<u64>,
                    #[serde(rename = "SkipToken", skip_serializing_if = "Option::is_none")]
                    skip_token: Option<&'a str>,
                }
                #[derive(Serialize)]
                struct Body<'a> {
                    #[serde(rename = "TableName")]
                    table: &'a str,
                    #[serde(rename = "Clauses")]
                    clauses: &'a serde_json::value::RawValue,
                    #[serde(rename = "Options")]
                    options: Options<'a>,
                }
                let raw = serde_json::value::RawValue::from_string(clauses.clone()).map_err(bad)?;
                serde_json::to_vec(&Body {
                    table,
                    clauses: &raw,
                    options: Options {
                        top: *top,
                        skip,
                        skip_token,
                    },
                })
                .map_err(bad)
            }
        }
    }
}

/// A saved position in a paged query: the request and the skip token of the next page.
/// Serialisable, so a long listing can resume after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    request: PagedRequest,
    skip_token: String,
}

impl Continuation {
    /// The skip token of the next page, as the service gave it.
    pub fn skip_token(&self) -> &str {
        &self.skip_token
    }

    /// The API the query goes to.
    pub fn api(&self) -> Api {
        self.request.api()
    }
}

/// One page of a paged query.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page<T> {
    /// The rows of this page.
    pub rows: Vec<T>,
    /// Rows the whole query matches (`totalRecords`).
    pub total_records: Option<u64>,
    /// Rows in this page as the service counted them (`count`).
    pub count: Option<u64>,
    /// Whether the service cut the result short (`resultTruncated`: a string in Resource
    /// Graph, a number in the resource query). A truncated result without a skip token cannot
    /// be paged further: add an `order by` or narrow the query.
    pub result_truncated: bool,
    /// The facets (first page of a Resource Graph query that asked for them).
    pub facets: Vec<FacetResult>,
    continuation: Option<Continuation>,
}

impl<T> Page<T> {
    /// Where to resume after this page; `None` on the last page.
    pub fn continuation(&self) -> Option<&Continuation> {
        self.continuation.as_ref()
    }
}

/// Reads `resultTruncated` in every form seen: `"true"`/`"false"`, `true`/`false`, `1`/`0`.
fn truncated<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => b,
        Some(serde_json::Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(serde_json::Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" | "" => false,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "resultTruncated `{other}` is neither true nor false"
                )));
            }
        },
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "resultTruncated `{other}` is neither true nor false"
            )));
        }
    })
}

#[derive(Deserialize)]
struct PageBody {
    #[serde(rename = "totalRecords", default)]
    total_records: Option<u64>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(rename = "resultTruncated", default, deserialize_with = "truncated")]
    result_truncated: bool,
    #[serde(rename = "$skipToken", alias = "skipToken", default)]
    skip_token: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    facets: Vec<FacetResult>,
}

/// Decodes rows one by one, so a bad row is named in the error.
pub(crate) fn decode_rows<T: DeserializeOwned>(
    api: Api,
    data: Vec<serde_json::Value>,
) -> Result<Vec<T>, Error> {
    data.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let id = v
                .get("name")
                .and_then(serde_json::Value::as_str)
                .map(|n| format!(" (name `{n}`)"))
                .unwrap_or_default();
            serde_json::from_value(v)
                .map_err(|e| Error::decode(format!("row {i}{id} of a {api} page"), e))
        })
        .collect()
}

struct Pager {
    client: ArgClient,
    request: Result<PagedRequest, Error>,
    skip: Option<u64>,
    facets: Vec<Facet>,
    token: Option<String>,
    done: bool,
    seen: HashSet<String>,
}

impl Pager {
    async fn next_page<T: DeserializeOwned>(&mut self) -> Result<Option<Page<T>>, Error> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        let request = match &self.request {
            Ok(r) => r.clone(),
            Err(e) => return Err(clone_input_error(e)),
        };
        let api = request.api();
        let client = &self.client;
        match &request {
            PagedRequest::ResourceQuery { .. } => client.check_inventory(api)?,
            PagedRequest::ResourceGraph { query, .. } => {
                if query
                    .to_ascii_lowercase()
                    .contains("powerplatformresources")
                {
                    client.check_inventory(api)?;
                }
            }
        }
        let first = self.token.is_none();
        let body = request.body(
            if first { self.skip } else { None },
            self.token.as_deref(),
            if first { &self.facets } else { &[] },
        )?;
        let url = match api {
            Api::ResourceQuery => client.inner.query_url.clone(),
            _ => client.inner.graph_url.clone(),
        };
        // A query only reads: safe to send again after a timeout.
        let req = Request::post(url)
            .body(body, "application/json")
            .idempotent(true);
        let resp = client.send(api, req).await?;
        let page: PageBody = resp.json_as(&api)?;
        let data = match page.data {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(rows)) => rows,
            Some(_) => {
                return Err(Error::decode(
                    format!("a {api} page"),
                    "`data` is not an array of rows (the request asks for resultFormat objectArray)",
                ));
            }
        };
        let rows = decode_rows::<T>(api, data)?;
        let token = page.skip_token.filter(|t| !t.is_empty());
        if let Some(t) = &token {
            if !self.seen.insert(t.clone()) {
                return Err(Error::paging_loop(api));
            }
            self.done = false;
        }
        tracing::debug!(
            api = %api,
            rows = rows.len(),
            total = page.total_records,
            truncated = page.result_truncated,
            more = token.is_some(),
            "page"
        );
        if page.result_truncated && token.is_none() {
            tracing::warn!(
                api = %api,
                "the result was truncated and cannot be paged: add an order by or narrow the query"
            );
        }
        let continuation = token.as_ref().map(|t| Continuation {
            request,
            skip_token: t.clone(),
        });
        self.token = token;
        Ok(Some(Page {
            rows,
            total_records: page.total_records,
            count: page.count,
            result_truncated: page.result_truncated,
            facets: page.facets,
            continuation,
        }))
    }
}

/// Input errors are kept in the pager and reported on first poll; the stream ends after it.
fn clone_input_error(e: &Error) -> Error {
    match e {
        Error::InvalidInput(e) => Error::InvalidInput(e.clone()),
        Error::UnsupportedCloud(e) => Error::UnsupportedCloud(e.clone()),
        other => Error::invalid(other.to_string()),
    }
}

/// A lazy stream of pages: nothing is sent until it is polled. Stops with
/// [`Error::PagingLoop`] if the service repeats a skip token.
pub struct PageStream<T> {
    inner: BoxStream<'static, Result<Page<T>, Error>>,
}

impl<T> std::fmt::Debug for PageStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageStream")
    }
}

impl<T> Stream for PageStream<T> {
    type Item = Result<Page<T>, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// A lazy stream of rows across all pages (see [`PageStream`]).
pub struct RowStream<T> {
    inner: BoxStream<'static, Result<T, Error>>,
}

impl<T> std::fmt::Debug for RowStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowStream")
    }
}

impl<T> Stream for RowStream<T> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<T: Send + 'static> RowStream<T> {
    pub(crate) fn from_pages(pages: PageStream<T>) -> Self {
        RowStream {
            inner: pages
                .map_ok(|p| stream::iter(p.rows.into_iter().map(Ok)))
                .try_flatten()
                .boxed(),
        }
    }

    pub(crate) fn from_boxed(inner: BoxStream<'static, Result<T, Error>>) -> Self {
        RowStream { inner }
    }
}

fn page_stream<T: DeserializeOwned + Send + 'static>(pager: Pager) -> PageStream<T> {
    let inner = stream::try_unfold(pager, |mut pager| async move {
        Ok(pager.next_page::<T>().await?.map(|p| (p, pager)))
    })
    .boxed();
    PageStream { inner }
}

impl ArgClient {
    fn page_size_for(&self, asked: Option<u32>) -> Result<u32, Error> {
        let n = asked.unwrap_or(self.inner.page_size);
        if (1..=1000).contains(&n) {
            Ok(n)
        } else {
            Err(Error::invalid(format!(
                "page size {n} is out of range: 1 to 1000"
            )))
        }
    }

    fn pager(
        &self,
        request: Result<PagedRequest, Error>,
        skip: Option<u64>,
        facets: Vec<Facet>,
    ) -> Pager {
        Pager {
            client: self.clone(),
            request,
            skip,
            facets,
            token: None,
            done: false,
            seen: HashSet::new(),
        }
    }

    /// A lazy stream of the pages of a Resource Graph query
    /// (`POST .../providers/Microsoft.ResourceGraph/resources`), following `$skipToken`.
    pub fn graph_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &GraphQuery,
    ) -> PageStream<T> {
        let request = self
            .page_size_for(query.page_size)
            .map(|top| PagedRequest::ResourceGraph {
                query: query.query.clone(),
                subscriptions: query.subscriptions.clone(),
                management_groups: query.management_groups.clone(),
                top,
                allow_partial_scopes: query.allow_partial_scopes,
            });
        page_stream(self.pager(request, query.skip, query.facets.clone()))
    }

    /// A lazy stream of the rows of a Resource Graph query, across all pages, decoded as `T`.
    pub fn graph_rows<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &GraphQuery,
    ) -> RowStream<T> {
        RowStream::from_pages(self.graph_pages(query))
    }

    /// A lazy stream of the pages of an inventory resource query
    /// (`POST .../resourcequery/resources/query`), following `SkipToken`.
    pub fn resource_query_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &ResourceQuery,
    ) -> PageStream<T> {
        self.resource_query_pages_with(query, None, None)
    }

    /// Like [`resource_query_pages`](Self::resource_query_pages) with a page size (`Top`) and
    /// rows to skip first (`Skip`).
    pub fn resource_query_pages_with<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &ResourceQuery,
        page_size: Option<u32>,
        skip: Option<u64>,
    ) -> PageStream<T> {
        let request = self.page_size_for(page_size).and_then(|top| {
            let clauses = query
                .clauses_string()
                .map_err(|e| Error::invalid(e.to_string()))?;
            Ok(PagedRequest::ResourceQuery {
                table: query.table().to_owned(),
                clauses,
                top,
            })
        });
        page_stream(self.pager(request, skip, Vec::new()))
    }

    /// A lazy stream of the rows of an inventory resource query, across all pages.
    pub fn resource_query<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &ResourceQuery,
    ) -> RowStream<T> {
        RowStream::from_pages(self.resource_query_pages(query))
    }

    /// Resumes a paged query (either API) from a saved [`Continuation`].
    pub fn pages_from<T: DeserializeOwned + Send + 'static>(
        &self,
        continuation: Continuation,
    ) -> PageStream<T> {
        let mut pager = self.pager(Ok(continuation.request), None, Vec::new());
        pager.seen.insert(continuation.skip_token.clone());
        pager.token = Some(continuation.skip_token);
        page_stream(pager)
    }
}

//! The tenant-wide inventory APIs: Azure Resource Graph over `PowerPlatformResources` (the
//! KQL subset of [`crate::kql`]), the Power Platform API's resource query (its JSON clauses
//! translated to KQL as the service documents, then run the same way), and the admin
//! environment list (BAP).
//!
//! - `POST /providers/Microsoft.ResourceGraph/resources?api-version=...`: body `query`,
//!   `options` (`$top` 1..1000, default 100; `$skip`; `$skipToken`; `resultFormat` must be
//!   `objectArray` if given), optional `facets`. Answers `totalRecords`, `count`,
//!   `resultTruncated` (`"true"`/`"false"`), `$skipToken` while more rows follow, `data`,
//!   `facets`. Rows without an `id` cannot be paged: more of them than `$top` answer
//!   `resultTruncated: "true"` and no token, as Resource Graph does.
//! - `POST /resourcequery/resources/query?api-version=...`: `TableName`, `Clauses`, `Options`
//!   (`Top`, `Skip`, `SkipToken`); answers `resultTruncated` as a number and `skipToken`.
//! - `GET /providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=...`:
//!   `value[]` and `nextLink` (pages of [`InventoryConfig::admin_page_size`]); `$expand` of
//!   `properties.capacity` / `properties.addons` adds those properties.
//!
//! Tokens must come from the tenant with the audience of the API (`https://management.azure.com`,
//! `https://api.powerplatform.com`, `https://api.bap.microsoft.com` or
//! `https://service.powerapps.com`). Resource Graph and the resource query count requests per
//! caller in fixed windows ([`InventoryConfig::quota`], 15 per 5 s by default, Resource Graph's
//! documented default) and send `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`
//! on every answer; a request over the quota gets `429 RateLimiting` with the same headers.
//!
//! The resource query takes delegated (signed-in user) tokens only, as the real service does:
//! an app-only token (no `scp` claim) gets 403, a user's token from the emulator's device code
//! sign-in is served. [`InventoryConfig::resource_query_delegated_only`] set to `false` lets
//! app-only tokens through (not the real service's behaviour; for tests of the resource
//! query's paging as an app).
//!
//! Deviation, on purpose: `join` clauses are refused with a 400 that says so.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query as UrlQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::entra::{AccessTokenClaims, Entra};
use crate::kql::{KqlError, Query};

/// Resource Graph's path.
pub const RESOURCE_GRAPH_PATH: &str = "/providers/Microsoft.ResourceGraph/resources";
/// The resource query's path.
pub const RESOURCE_QUERY_PATH: &str = "/resourcequery/resources/query";
/// The admin environment list's path.
pub const ENVIRONMENTS_PATH: &str =
    "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments";

const ARM_AUDIENCES: [&str; 1] = ["https://management.azure.com"];
const PP_AUDIENCES: [&str; 1] = ["https://api.powerplatform.com"];
const BAP_AUDIENCES: [&str; 2] = [
    "https://api.bap.microsoft.com",
    "https://service.powerapps.com",
];

/// How the inventory APIs behave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InventoryConfig {
    /// Requests per caller per window for Resource Graph and the resource query (each its own
    /// count), and the window.
    pub quota: (u32, Duration),
    /// Environments per admin list page.
    pub admin_page_size: usize,
    /// Refuse app-only tokens on the resource query (403), as the real service does (the
    /// default); `false` serves them too, which the real service never does.
    pub resource_query_delegated_only: bool,
    /// Whether the apps are registered as Power Platform management applications; when not,
    /// the admin list answers 403 with the service's wording.
    pub management_apps_registered: bool,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            quota: (15, Duration::from_secs(5)),
            admin_page_size: 50,
            resource_query_delegated_only: true,
            management_apps_registered: true,
        }
    }
}

impl InventoryConfig {
    /// `limit` requests per caller per `window` on Resource Graph and the resource query.
    pub fn with_quota(mut self, limit: u32, window: Duration) -> Self {
        self.quota = (limit, window);
        self
    }

    /// Environments per admin list page.
    pub fn with_admin_page_size(mut self, n: usize) -> Self {
        self.admin_page_size = n;
        self
    }

    /// Whether the resource query refuses app-only tokens (403), as the real service does
    /// (`true`, the default).
    pub fn with_resource_query_delegated_only(mut self, yes: bool) -> Self {
        self.resource_query_delegated_only = yes;
        self
    }

    /// Whether the apps are registered as Power Platform management applications.
    pub fn with_management_apps_registered(mut self, yes: bool) -> Self {
        self.management_apps_registered = yes;
        self
    }
}

/// The inventory state: the admin list's environments and the `PowerPlatformResources` rows.
#[derive(Clone)]
pub struct Inventory {
    inner: Arc<Inner>,
}

struct Inner {
    entra: Entra,
    clock: SharedClock,
    base_url: String,
    config: InventoryConfig,
    environments: Vec<Value>,
    rows: Vec<Value>,
    windows: Mutex<HashMap<(Api, String), (OffsetDateTime, u32)>>,
    /// The last few queries' results, newest last. The rows never change after start, so a
    /// query's result is fixed; paging through it then costs one page, not the whole query
    /// again per `$skipToken` (the service keeps a result too, which is what its token names).
    results: Mutex<Vec<(String, Arc<Vec<Value>>)>>,
}

/// How many query results [`Inner::results`] keeps.
const CACHED_RESULTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Api {
    Graph,
    Query,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("environments", &self.inner.environments.len())
            .field("rows", &self.inner.rows.len())
            .finish_non_exhaustive()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

fn invalid_query(e: &KqlError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({"error": {
            "code": "BadRequest",
            "message": "Please provide below info when asking for support: the query is invalid.",
            "details": [{"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.",
                         "details": [{"code": "ParserFailure", "message": e.0}]}]
        }})
        .to_string(),
    )
        .into_response()
}

impl Inventory {
    /// An inventory serving `environments` (admin list entries) and `rows`
    /// (`PowerPlatformResources`), checking tokens with `entra`.
    pub fn new(
        entra: Entra,
        clock: SharedClock,
        base_url: &str,
        config: InventoryConfig,
        environments: Vec<Value>,
        rows: Vec<Value>,
    ) -> Self {
        for a in ARM_AUDIENCES
            .iter()
            .chain(&PP_AUDIENCES)
            .chain(&BAP_AUDIENCES)
        {
            entra.add_resource(a);
        }
        Self {
            inner: Arc::new(Inner {
                entra,
                clock,
                base_url: base_url.to_owned(),
                config,
                environments,
                rows,
                windows: Mutex::new(HashMap::new()),
                results: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The admin list's environments, as served.
    pub fn environments(&self) -> &[Value] {
        &self.inner.environments
    }

    /// The `PowerPlatformResources` rows, as served.
    pub fn rows(&self) -> &[Value] {
        &self.inner.rows
    }

    /// The routes of the three APIs.
    pub fn router(&self) -> Router {
        Router::new()
            .route(RESOURCE_GRAPH_PATH, post(graph))
            .route(RESOURCE_QUERY_PATH, post(resource_query))
            .route(ENVIRONMENTS_PATH, get(environments))
            .with_state(self.clone())
    }

    /// Checks the bearer token: this tenant, one of `audiences`. Returns its claims (the caller is the app id).
    fn authenticate(
        &self,
        headers: &HeaderMap,
        audiences: &[&str],
    ) -> Result<AccessTokenClaims, Box<Response>> {
        let unauthorized = |m: &str| {
            Box::new(error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                m,
            ))
        };
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned())
            .ok_or_else(|| {
                unauthorized("The request has no bearer token in the Authorization header.")
            })?;
        let claims = self
            .inner
            .entra
            .validate_token(&token)
            .map_err(|e| unauthorized(&format!("The access token is invalid: {e}.")))?;
        if claims.tenant_id != self.inner.entra.tenant_id() {
            return Err(unauthorized("The access token is from another tenant."));
        }
        let aud = claims.audience.trim_end_matches('/');
        if !audiences.iter().any(|a| a.eq_ignore_ascii_case(aud)) {
            return Err(unauthorized(&format!(
                "The access token has the audience '{}'; request it for {}/.default.",
                claims.audience, audiences[0]
            )));
        }
        Ok(claims)
    }

    /// Counts a request against the caller's quota: the headers to send, or the 429.
    fn quota(&self, api: Api, caller: &str) -> Result<[(String, String); 2], Box<Response>> {
        let (limit, window) = self.inner.config.quota;
        let now = self.inner.clock.now();
        let mut windows = self
            .inner
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = windows.entry((api, caller.to_owned())).or_insert((now, 0));
        if now - entry.0 >= window {
            *entry = (now, 0);
        }
        let left = (entry.0 + window - now).unsigned_abs();
        let resets = timespan(left);
        if entry.1 >= limit {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimiting",
                "Please provide below info when asking for support: Too many requests. Please retry.",
            );
            let h = r.headers_mut();
            h.insert("x-ms-user-quota-remaining", HeaderValue::from(0));
            if let Ok(v) = HeaderValue::from_str(&resets) {
                h.insert("x-ms-user-quota-resets-after", v);
            }
            return Err(Box::new(r));
        }
        entry.1 += 1;
        Ok([
            (
                "x-ms-user-quota-remaining".to_owned(),
                (limit - entry.1).to_string(),
            ),
            ("x-ms-user-quota-resets-after".to_owned(), resets),
        ])
    }

    /// Runs KQL text over the table it names (or hands back the cached result of the same text).
    fn run(&self, text: &str) -> Result<Arc<Vec<Value>>, KqlError> {
        let cached = |results: &mut Vec<(String, Arc<Vec<Value>>)>| {
            let i = results.iter().position(|(t, _)| t == text)?;
            let hit = results.remove(i);
            let rows = Arc::clone(&hit.1);
            results.push(hit);
            Some(rows)
        };
        if let Some(rows) = cached(&mut self.results()) {
            return Ok(rows);
        }
        let rows = Arc::new(self.evaluate(text)?);
        let mut results = self.results();
        if results.len() >= CACHED_RESULTS {
            results.remove(0);
        }
        results.push((text.to_owned(), Arc::clone(&rows)));
        Ok(rows)
    }

    fn results(&self) -> std::sync::MutexGuard<'_, Vec<(String, Arc<Vec<Value>>)>> {
        self.inner.results.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Evaluates KQL text over the table it names.
    fn evaluate(&self, text: &str) -> Result<Vec<Value>, KqlError> {
        let q = Query::parse(text)?;
        let table = q.table().to_ascii_lowercase();
        match table.as_str() {
            "powerplatformresources" => q.run(&self.inner.rows),
            // Azure's own tables exist but hold nothing in this tenant.
            "resources" | "resourcecontainers" | "advisorresources" | "securityresources" => {
                q.run(&[])
            }
            _ => Err(KqlError(format!(
                "Table '{}' could not be found or is not supported by the tenant emulator",
                q.table()
            ))),
        }
    }
}

/// `hh:mm:ss`, as the quota header writes it.
fn timespan(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn with_headers(mut r: Response, headers: &[(String, String)]) -> Response {
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn require_api_version(params: &HashMap<String, String>) -> Result<(), Box<Response>> {
    match params.get("api-version") {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ))),
    }
}

/// A skip token: the offset, tied to the query text so it cannot be replayed on another.
fn make_token(offset: usize, query: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{:016x}", fnv(query)))
}

fn read_token(token: &str, query: &str) -> Option<usize> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (offset, hash) = raw.split_once(':')?;
    (hash == format!("{:016x}", fnv(query))).then_some(())?;
    offset.parse().ok()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One page of `rows` from `offset`: the rows, whether more follow, whether truncated.
fn page(rows: &[Value], offset: usize, top: usize) -> (Vec<Value>, bool, bool) {
    let rest = rows.get(offset..).unwrap_or_default();
    let taken: Vec<Value> = rest.iter().take(top).cloned().collect();
    let more = rest.len() > top;
    // Without an id column Resource Graph cannot page: it cuts the result instead.
    let pageable = rows.first().is_none_or(|r| r.get("id").is_some());
    (taken, more && pageable, more && !pageable)
}

#[derive(Deserialize)]
struct GraphBody {
    query: Option<String>,
    #[serde(default)]
    options: GraphOptions,
    #[serde(default)]
    facets: Vec<FacetRequest>,
}

#[derive(Deserialize, Default)]
struct GraphOptions {
    #[serde(rename = "$top")]
    top: Option<u64>,
    #[serde(rename = "$skip")]
    skip: Option<u64>,
    #[serde(rename = "$skipToken")]
    skip_token: Option<String>,
    #[serde(rename = "resultFormat")]
    result_format: Option<String>,
}

#[derive(Deserialize)]
struct FacetRequest {
    expression: String,
    #[serde(default)]
    options: FacetOptions,
}

#[derive(Deserialize, Default)]
struct FacetOptions {
    #[serde(rename = "$top")]
    top: Option<usize>,
    #[serde(rename = "sortOrder")]
    sort_order: Option<String>,
}

fn facet(rows: &[Value], f: &FacetRequest) -> Value {
    let path: Vec<&str> = f.expression.split('.').collect();
    let mut counts: Vec<(Value, u64)> = Vec::new();
    for r in rows {
        let mut v = r;
        for p in &path {
            v = v.get(p).unwrap_or(&Value::Null);
        }
        match counts.iter_mut().find(|(k, _)| k == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v.clone(), 1)),
        }
    }
    let asc = f.options.sort_order.as_deref() == Some("asc");
    counts.sort_by(|a, b| if asc { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) });
    let total = counts.len();
    let top = f.options.top.unwrap_or(10).min(1000);
    let data: Vec<Value> = counts
        .into_iter()
        .take(top)
        .map(|(v, n)| {
            let mut o = Map::new();
            o.insert(f.expression.clone(), v);
            o.insert("count".into(), Value::from(n));
            Value::Object(o)
        })
        .collect();
    json!({"expression": f.expression, "resultType": "FacetResult", "totalRecords": total,
           "count": data.len(), "data": data})
}

async fn graph(
    State(inv): State<Inventory>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = require_api_version(&params) {
        return *r;
    }
    let caller = match inv.authenticate(&headers, &ARM_AUDIENCES) {
        Ok(c) => c.app_id.to_string(),
        Err(r) => return *r,
    };
    let quota = match inv.quota(Api::Graph, &caller) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let body: GraphBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return with_headers(
                error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContent",
                    &format!("The request content is invalid: {e}"),
                ),
                &quota,
            );
        }
    };
    let Some(text) = body.query.filter(|q| !q.trim().is_empty()) else {
        return with_headers(
            error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The query is required.",
            ),
            &quota,
        );
    };
    if let Some(f) = &body.options.result_format
        && f != "objectArray"
    {
        return with_headers(
            error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Only resultFormat objectArray is served by the tenant emulator.",
            ),
            &quota,
        );
    }
    let top = body.options.top.unwrap_or(100);
    if !(1..=1000).contains(&top) {
        return with_headers(
            error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "$top must be between 1 and 1000.",
            ),
            &quota,
        );
    }
    let rows = match inv.run(&text) {
        Ok(r) => r,
        Err(e) => return with_headers(invalid_query(&e), &quota),
    };
    let offset = match &body.options.skip_token {
        Some(t) => match read_token(t, &text) {
            Some(o) => o,
            None => {
                return with_headers(
                    error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "The $skipToken is invalid or belongs to another query.",
                    ),
                    &quota,
                );
            }
        },
        None => usize::try_from(body.options.skip.unwrap_or(0)).unwrap_or(usize::MAX),
    };
    let (data, more, truncated) = page(&rows, offset, top as usize);
    let mut out = json!({
        "totalRecords": rows.len(),
        "count": data.len(),
        "resultTruncated": if truncated { "true" } else { "false" },
        "data": data,
        "facets": body.facets.iter().map(|f| facet(&rows, f)).collect::<Vec<_>>(),
    });
    if more {
        out["$skipToken"] = Value::String(make_token(offset + top as usize, &text));
    }
    with_headers(axum::Json(out).into_response(), &quota)
}

#[derive(Deserialize)]
struct QueryBody {
    #[serde(rename = "TableName")]
    table: String,
    #[serde(rename = "Clauses", default)]
    clauses: Vec<Clause>,
    #[serde(rename = "Options", default)]
    options: QueryOptions,
}

#[derive(Deserialize, Default)]
struct QueryOptions {
    #[serde(rename = "Top")]
    top: Option<u64>,
    #[serde(rename = "Skip")]
    skip: Option<u64>,
    #[serde(rename = "SkipToken")]
    skip_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "$type", rename_all = "lowercase")]
enum Clause {
    Where {
        #[serde(rename = "FieldName")]
        field: String,
        #[serde(rename = "Operator")]
        op: String,
        #[serde(rename = "Values", default)]
        values: Vec<String>,
    },
    Project {
        #[serde(rename = "FieldList")]
        fields: Vec<String>,
    },
    Take {
        #[serde(rename = "TakeCount")]
        count: u64,
    },
    Orderby {
        #[serde(rename = "FieldNamesAscDesc", deserialize_with = "ordered_pairs")]
        keys: Vec<(String, String)>,
    },
    Distinct {
        #[serde(rename = "FieldList")]
        fields: Vec<String>,
    },
    Count {},
    Summarize {
        #[serde(rename = "SummarizeClauseExpression")]
        expr: SummarizeExpr,
    },
    Extend {
        #[serde(rename = "FieldName")]
        field: String,
        #[serde(rename = "Expression")]
        expression: String,
    },
    Join {},
}

#[derive(Deserialize)]
struct SummarizeExpr {
    #[serde(rename = "OperatorName")]
    op: String,
    #[serde(rename = "OperatorFieldName")]
    field: String,
    #[serde(rename = "FieldList", default)]
    by: Vec<String>,
}

/// A JSON object's entries in the order written (sort keys are ordered).
fn ordered_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of field to asc/desc")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, String>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

/// The KQL the service documents for these clauses.
fn clauses_to_kql(table: &str, clauses: &[Clause]) -> Result<String, KqlError> {
    let mut q = table.to_owned();
    for c in clauses {
        q.push_str(" | ");
        match c {
            Clause::Where { field, op, values } => {
                let list = matches!(op.as_str(), "in" | "in~" | "!in" | "!in~" | "has_any");
                if values.is_empty() {
                    return Err(KqlError(format!(
                        "the where clause on {field} has no value"
                    )));
                }
                if list || values.len() > 1 {
                    let _ = write!(q, "where {field} {op} ({})", values.join(", "));
                } else {
                    let _ = write!(q, "where {field} {op} {}", values[0]);
                }
            }
            Clause::Project { fields } => {
                let _ = write!(q, "project {}", fields.join(", "));
            }
            Clause::Take { count } => {
                let _ = write!(q, "take {count}");
            }
            Clause::Orderby { keys } => {
                let keys: Vec<String> = keys.iter().map(|(k, d)| format!("{k} {d}")).collect();
                let _ = write!(q, "order by {}", keys.join(", "));
            }
            Clause::Distinct { fields } => {
                let _ = write!(q, "distinct {}", fields.join(", "));
            }
            Clause::Count {} => q.push_str("count"),
            Clause::Summarize { expr } => {
                let by = if expr.by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", expr.by.join(", "))
                };
                match expr.op.to_ascii_lowercase().as_str() {
                    "count" => {
                        let _ = write!(q, "summarize {} = count(){by}", expr.field);
                    }
                    "argmax" => {
                        let _ = write!(q, "summarize arg_max({}, *){by}", expr.field);
                    }
                    other => {
                        return Err(KqlError(format!(
                            "summarize operator `{other}` is not supported (count, argmax)"
                        )));
                    }
                }
            }
            Clause::Extend { field, expression } => {
                let _ = write!(q, "extend {field} = {expression}");
            }
            Clause::Join {} => {
                return Err(KqlError(
                    "join clauses are not supported by the tenant emulator".into(),
                ));
            }
        }
    }
    Ok(q)
}

async fn resource_query(
    State(inv): State<Inventory>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = require_api_version(&params) {
        return *r;
    }
    let claims = match inv.authenticate(&headers, &PP_AUDIENCES) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // An app-only token carries no `scp` (delegated permissions) claim.
    if inv.inner.config.resource_query_delegated_only && claims.scopes.is_empty() {
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The inventory API supports delegated user tokens only; app-only tokens are not allowed.",
        );
    }
    let caller = claims.app_id.to_string();
    let quota = match inv.quota(Api::Query, &caller) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let body: QueryBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return with_headers(
                error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContent",
                    &format!("The request content is invalid: {e}"),
                ),
                &quota,
            );
        }
    };
    let text = match clauses_to_kql(&body.table, &body.clauses) {
        Ok(t) => t,
        Err(e) => return with_headers(invalid_query(&e), &quota),
    };
    let rows = match inv.run(&text) {
        Ok(r) => r,
        Err(e) => return with_headers(invalid_query(&e), &quota),
    };
    let top = body.options.top.unwrap_or(1000).clamp(1, 1000) as usize;
    let offset = match body.options.skip_token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => match read_token(t, &text) {
            Some(o) => o,
            None => {
                return with_headers(
                    error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "The SkipToken is invalid or belongs to another query.",
                    ),
                    &quota,
                );
            }
        },
        None => usize::try_from(body.options.skip.unwrap_or(0)).unwrap_or(usize::MAX),
    };
    let (data, more, truncated) = page(&rows, offset, top);
    let mut out = json!({
        "totalRecords": rows.len(),
        "count": data.len(),
        "resultTruncated": u8::from(truncated),
        "data": data,
    });
    if more {
        out["skipToken"] = Value::String(make_token(offset + top, &text));
    }
    with_headers(axum::Json(out).into_response(), &quota)
}

async fn environments(
    State(inv): State<Inventory>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = require_api_version(&params) {
        return *r;
    }
    let caller = match inv.authenticate(&headers, &BAP_AUDIENCES) {
        Ok(c) => c.app_id.to_string(),
        Err(r) => return *r,
    };
    if !inv.inner.config.management_apps_registered {
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "The service principal with id '{caller}' for application {caller} does not have permission to access the path '{ENVIRONMENTS_PATH}' in tenant {}.",
                inv.inner.entra.tenant_id()
            ),
        );
    }
    let expand: Vec<&str> = params
        .get("$expand")
        .map(|e| e.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let size = inv.inner.config.admin_page_size.max(1);
    let offset: usize = params
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let all = &inv.inner.environments;
    let value: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(size)
        .map(|e| {
            let mut e = e.clone();
            for x in &expand {
                if let Some(prop) = x.strip_prefix("properties.")
                    && let Some(props) = e.get_mut("properties").and_then(Value::as_object_mut)
                {
                    props.entry(prop.to_owned()).or_insert_with(|| json!([]));
                }
            }
            e
        })
        .collect();
    let mut out = json!({"value": value});
    if offset + size < all.len() {
        let api = params.get("api-version").cloned().unwrap_or_default();
        let mut link = format!(
            "{}{ENVIRONMENTS_PATH}?api-version={api}&$skiptoken={}",
            inv.inner.base_url,
            offset + size
        );
        if let Some(e) = params.get("$expand") {
            let _ = write!(
                link,
                "&$expand={}",
                percent_encoding::utf8_percent_encode(e, percent_encoding::NON_ALPHANUMERIC)
            );
        }
        out["nextLink"] = Value::String(link);
    }
    axum::Json(out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_timespans() {
        let t = make_token(1000, "q");
        assert_eq!(read_token(&t, "q"), Some(1000));
        assert_eq!(read_token(&t, "other"), None);
        assert_eq!(read_token("garbage", "q"), None);
        assert_eq!(timespan(Duration::from_millis(4500)), "00:00:05");
        assert_eq!(timespan(Duration::from_secs(3723)), "01:02:03");
    }

    #[test]
    fn clauses_translate_as_documented() {
        let body: QueryBody = serde_json::from_str(r#"{"TableName":"PowerPlatformResources","Clauses":[
            {"$type":"where","FieldName":"type","Operator":"in~","Values":["'a'","'b'"]},
            {"$type":"orderby","FieldNamesAscDesc":{"z":"desc","a":"asc"}},
            {"$type":"summarize","SummarizeClauseExpression":{"OperatorName":"count","OperatorFieldName":"n","FieldList":["type"]}},
            {"$type":"count"}]}"#).unwrap();
        assert_eq!(
            clauses_to_kql(&body.table, &body.clauses).unwrap(),
            "PowerPlatformResources | where type in~ ('a', 'b') | order by z desc, a asc | summarize n = count() by type | count"
        );
    }
}

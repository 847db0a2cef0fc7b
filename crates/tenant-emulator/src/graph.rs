//! Microsoft Graph, as far as watching Microsoft 365 Copilot needs it: `subscribedSkus`,
//! users (with the assigned-licence filter), the Copilot interaction export
//! (`getAllEnterpriseInteractions` with `createdDateTime` and `appClass` filters and
//! `@odata.nextLink` paging) and JSON `$batch`, behind bearer-token and `roles` checks, under
//! `/v1.0/` and `/beta/`.
//!
//! The tenant's licensed users and their interactions across apps are generated from the
//! seed: prompts without an answer, HTML answers, attachments, links, contexts, mentions and
//! etags that differ from ids. Paging is keyset-based (`$skiptoken` holds the last item's
//! time and id), so interactions added during a read never shift a page.
//!
//! Where the wire facts say nothing the emulator picks: a one-sided `createdDateTime` filter is
//! a 400 here (the real service is reported to fail it with a 500), `$top` defaults to 100 and
//! accepts 1 to 1000. `subscribedSkus` takes the permissions Microsoft's page for it lists
//! (`LicenseAssignment.Read.All`, least privileged, or `Organization.Read(Write).All` /
//! `Directory.Read(Write).All`), not `User.Read.All`, so an app holding only what the
//! interaction export needs is refused it, as in a real tenant.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::entra::Entra;
use crate::rng::Rng;

/// The Graph resource tokens must be issued for.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// The `skuId` of the generated Microsoft 365 Copilot licence.
pub const COPILOT_SKU_ID: &str = "639dec6b-bb19-468b-871c-c5c441c4b0cb";

/// Its `skuPartNumber`.
pub const COPILOT_SKU_PART_NUMBER: &str = "Microsoft_365_Copilot";

/// The application permission the interaction export needs.
pub const INTERACTION_ROLE: &str = "AiEnterpriseInteraction.Read.All";

/// The application permission user reads need.
pub const USER_READ_ROLE: &str = "User.Read.All";

/// The most requests one JSON batch may hold.
const MAX_BATCH: usize = 20;

/// The `appClass` values interactions are spread over.
const APP_CLASSES: [&str; 7] = [
    "IPM.SkypeTeams.Message.Copilot.BizChat",
    "IPM.SkypeTeams.Message.Copilot.Teams",
    "IPM.SkypeTeams.Message.Copilot.Word",
    "IPM.SkypeTeams.Message.Copilot.Excel",
    "IPM.SkypeTeams.Message.Copilot.PowerPoint",
    "IPM.SkypeTeams.Message.Copilot.Outlook",
    "IPM.SkypeTeams.Message.Copilot.Loop",
];

const FIRST: [&str; 12] = [
    "Adele",
    "Alex",
    "Diego",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Lee",
    "Lidia",
    "Megan",
    "Nestor",
    "Pradeep",
];
const LAST: [&str; 8] = [
    "Vance",
    "Wilber",
    "Siciliani",
    "Archie",
    "Mueller",
    "Langer",
    "Lambert",
    "Gupta",
];

const PROMPTS: [&str; 8] = [
    "Summarise the Q3 planning document for me",
    "Draft a reply to Megan about the budget review",
    "What did we decide in yesterday's standup?",
    "Create a table of open risks from the project tracker",
    "Rewrite this paragraph to sound more formal",
    "Which customers mentioned pricing in their emails this week?",
    "Turn these notes into three slides",
    "Find the latest version of the contract with Contoso",
];

/// What to generate for Microsoft 365 Copilot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct M365Spec {
    /// Users holding the Copilot licence who used Copilot.
    pub licensed_users: usize,
    /// Interactions (prompts and answers together) per active user.
    pub interactions_per_user: usize,
    /// Licensed users with no interactions.
    pub idle_licensed_users: usize,
    /// Users without the licence who still have interactions (pay-as-you-go Copilot Chat).
    pub unlicensed_active_users: usize,
    /// Days of history before the anchor.
    pub history_days: u32,
}

impl Default for M365Spec {
    fn default() -> Self {
        Self {
            licensed_users: 8,
            interactions_per_user: 24,
            idle_licensed_users: 2,
            unlicensed_active_users: 1,
            history_days: 60,
        }
    }
}

impl M365Spec {
    /// `users` licensed active users with `per_user` interactions each, nothing else.
    pub fn new(users: usize, per_user: usize) -> Self {
        Self {
            licensed_users: users,
            interactions_per_user: per_user,
            idle_licensed_users: 0,
            unlicensed_active_users: 0,
            history_days: 60,
        }
    }

    /// Sets the idle licensed and unlicensed active users.
    #[must_use]
    pub fn with_extra_users(mut self, idle_licensed: usize, unlicensed_active: usize) -> Self {
        self.idle_licensed_users = idle_licensed;
        self.unlicensed_active_users = unlicensed_active;
        self
    }
}

/// A generated Graph user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphUser {
    /// The object id.
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// `userPrincipalName`.
    pub user_principal_name: String,
    /// Whether the user holds the Copilot licence.
    pub licensed: bool,
}

struct Stored {
    created: OffsetDateTime,
    id: String,
    app_class: String,
    value: Value,
    json: String,
}

struct Inner {
    entra: Entra,
    clock: SharedClock,
    base_url: String,
    seed: u64,
    domain: String,
    users: RwLock<Vec<GraphUser>>,
    interactions: RwLock<HashMap<String, Vec<Stored>>>,
    next_request: AtomicU64,
    requests: AtomicU64,
    security_copilot: crate::security_copilot::SecurityCopilot,
    directory: crate::identity::Directory,
}

/// The Graph stand-in. Cheap to clone.
#[derive(Clone)]
pub struct Graph {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("users", &read(&self.inner.users).len())
            .finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn iso_ms(t: OffsetDateTime) -> String {
    let ms = t.nanosecond() / 1_000_000;
    let t = t.replace_nanosecond(ms * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

impl Graph {
    /// Generates the users and interactions of `spec`, ending at `anchor`.
    pub(crate) fn generate(
        spec: M365Spec,
        seed: u64,
        domain: &str,
        anchor: OffsetDateTime,
        entra: Entra,
        clock: SharedClock,
        base_url: String,
    ) -> Self {
        let graph = Graph {
            inner: Arc::new(Inner {
                entra,
                clock: clock.clone(),
                base_url: base_url.clone(),
                seed,
                domain: domain.to_owned(),
                users: RwLock::new(Vec::new()),
                interactions: RwLock::new(HashMap::new()),
                next_request: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                security_copilot: crate::security_copilot::SecurityCopilot::new(
                    seed,
                    clock.clone(),
                    base_url.clone(),
                ),
                directory: crate::identity::Directory::default(),
            }),
        };
        let total = spec.licensed_users + spec.idle_licensed_users + spec.unlicensed_active_users;
        let mut users = Vec::with_capacity(total);
        for i in 0..total {
            let licensed = i < spec.licensed_users + spec.idle_licensed_users;
            users.push(graph.make_user(i, licensed));
        }
        let history = time::Duration::days(i64::from(spec.history_days.max(1)));
        let mut store = HashMap::new();
        for (i, user) in users.iter().enumerate() {
            let idle =
                i >= spec.licensed_users && i < spec.licensed_users + spec.idle_licensed_users;
            if idle {
                continue;
            }
            let mut rng = Rng::new(seed, &[0x6d33_3635, i as u64]);
            let mut items = Vec::with_capacity(spec.interactions_per_user);
            let start = anchor - history;
            let span_ms = u64::try_from(history.whole_milliseconds())
                .unwrap_or(1)
                .max(1);
            while items.len() < spec.interactions_per_user {
                let at = start + time::Duration::milliseconds(rng.range(0, span_ms) as i64);
                let left = spec.interactions_per_user - items.len();
                graph.make_request(&mut rng, user, at, left, &mut items);
            }
            items.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
            store.insert(user.id.to_ascii_lowercase(), items);
        }
        *write(&graph.inner.users) = users;
        *write(&graph.inner.interactions) = store;
        graph
    }

    fn make_user(&self, i: usize, licensed: bool) -> GraphUser {
        let mut rng = Rng::new(self.inner.seed, &[0x7573_6572, i as u64]);
        let first = *rng.pick(&FIRST);
        let last = *rng.pick(&LAST);
        GraphUser {
            id: rng.uuid().to_string(),
            display_name: format!("{first} {last}"),
            user_principal_name: format!(
                "{}.{}{i}@{}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
                self.inner.domain
            ),
            licensed,
        }
    }

    /// One prompt and (usually) its answer, at most `left` items.
    fn make_request(
        &self,
        rng: &mut Rng,
        user: &GraphUser,
        at: OffsetDateTime,
        left: usize,
        out: &mut Vec<Stored>,
    ) {
        let n = self.inner.next_request.fetch_add(1, Ordering::SeqCst);
        let app_class = *rng.pick(&APP_CLASSES);
        let request_id = Rng::new(self.inner.seed, &[0x0072_6571, n])
            .uuid()
            .to_string();
        let session_id = format!(
            "19:{}@thread.v2",
            Rng::new(self.inner.seed, &[0x0073_6573, n / 3])
                .string(b"abcdefghijklmnopqrstuvwxyz0123456789", 24)
        );
        let conversation_type = if app_class.ends_with("BizChat") {
            "bizchat"
        } else {
            "appchat"
        };
        let prompt_text = *rng.pick(&PROMPTS);
        let prompt_id = format!("{}{:03}", at.unix_timestamp() * 1000, n % 1000);
        let mentions = if rng.chance(0.1) {
            json!([{"mentionId": 0, "mentionText": "Megan", "mentioned": {"user": {"id": Uuid::nil(), "displayName": "Megan"}}}])
        } else {
            json!([])
        };
        let prompt = json!({
            "id": prompt_id,
            "sessionId": session_id,
            "requestId": request_id,
            "appClass": app_class,
            "interactionType": "userPrompt",
            "conversationType": conversation_type,
            "etag": prompt_id,
            "locale": "en-us",
            "createdDateTime": iso_ms(at),
            "from": {"user": {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": user.id, "displayName": user.display_name, "userIdentityType": "aadUser"}, "application": null, "device": null},
            "body": {"contentType": "text", "content": prompt_text},
            "attachments": [],
            "links": [],
            "mentions": mentions,
            "contexts": [],
        });
        out.push(stored(prompt));
        // Some prompts get no answer (cancelled, failed).
        if left < 2 || rng.chance(0.1) {
            return;
        }
        let answered = at + time::Duration::milliseconds(rng.range(800, 9000) as i64);
        let answer_id = format!(
            "{}{:03}",
            answered.unix_timestamp() * 1000,
            (n + 500) % 1000
        );
        let html = rng.chance(0.5);
        let doc = format!("Q{}-plan.docx", rng.range(1, 5));
        let content = if html {
            format!(
                "<p>Here is what I found in <b>{doc}</b>:</p><ul><li>Budget approved</li><li>Launch moves to May &amp; needs sign-off</li></ul>"
            )
        } else {
            format!(
                "Here is what I found in {doc}: the budget was approved and the launch moves to May."
            )
        };
        let contexts = json!([{"contextReference": format!("https://contoso.sharepoint.com/sites/plans/{doc}"), "contextType": "file", "displayName": doc}]);
        let links = if rng.chance(0.3) {
            json!([{"linkUrl": "https://contoso.sharepoint.com/sites/plans", "displayName": "Plans site", "linkType": "web"}])
        } else {
            json!([])
        };
        let attachments = if rng.chance(0.2) {
            json!([{"attachmentId": format!("att-{n}"), "contentType": "reference", "contentUrl": format!("https://contoso.sharepoint.com/sites/plans/{doc}"), "name": doc}])
        } else {
            json!([])
        };
        // Some answers were edited after the fact: their etag is not their id.
        let etag = if rng.chance(0.15) {
            format!("{}", answered.unix_timestamp() * 1000 + 777)
        } else {
            answer_id.clone()
        };
        let answer = json!({
            "id": answer_id,
            "sessionId": session_id,
            "requestId": request_id,
            "appClass": app_class,
            "interactionType": "aiResponse",
            "conversationType": conversation_type,
            "etag": etag,
            "locale": "en-us",
            "createdDateTime": iso_ms(answered),
            "from": {"user": null, "application": {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity", "id": "00000003-0000-0ff1-ce00-000000000000", "displayName": "Microsoft 365 Chat"}, "device": null},
            "body": {"contentType": if html { "html" } else { "text" }, "content": content},
            "attachments": attachments,
            "links": links,
            "mentions": [],
            "contexts": contexts,
        });
        out.push(stored(answer));
    }

    /// Security Copilot (Graph beta): sessions, prompts and evaluations.
    pub fn security_copilot(&self) -> &crate::security_copilot::SecurityCopilot {
        &self.inner.security_copilot
    }

    /// Service principals, app role assignments, delegated grants and app registrations.
    pub fn directory(&self) -> &crate::identity::Directory {
        &self.inner.directory
    }

    /// The generated users (licensed and not).
    pub fn users(&self) -> Vec<GraphUser> {
        read(&self.inner.users).clone()
    }

    /// Every interaction of `user_id`, in time order, as served.
    pub fn interactions_of(&self, user_id: &str) -> Vec<Value> {
        read(&self.inner.interactions)
            .get(&user_id.to_ascii_lowercase())
            .map(|v| v.iter().map(|s| s.value.clone()).collect())
            .unwrap_or_default()
    }

    /// How many interactions there are across all users.
    pub fn interaction_count(&self) -> usize {
        read(&self.inner.interactions).values().map(Vec::len).sum()
    }

    /// Graph requests served (a `$batch` counts once).
    pub fn requests_served(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Adds `count` new prompt/answer pairs created in the last minute, spread over the
    /// active users; returns the new interaction ids.
    pub fn add_interactions(&self, count: usize) -> Vec<String> {
        let now = self.inner.clock.now();
        let active: Vec<GraphUser> = {
            let store = read(&self.inner.interactions);
            read(&self.inner.users)
                .iter()
                .filter(|u| store.contains_key(&u.id.to_ascii_lowercase()))
                .cloned()
                .collect()
        };
        if active.is_empty() {
            return Vec::new();
        }
        let mut ids = Vec::new();
        let mut store = write(&self.inner.interactions);
        for k in 0..count {
            let user = &active[k % active.len()];
            let n = self.inner.next_request.load(Ordering::SeqCst);
            let mut rng = Rng::new(self.inner.seed, &[0x006e_6577, n]);
            let at = now - time::Duration::seconds(60) + time::Duration::milliseconds(k as i64);
            let mut items = Vec::new();
            // Always a full pair, so the count is exact.
            while items.len() < 2 {
                items.clear();
                self.make_request(&mut rng, user, at, 2, &mut items);
            }
            let list = store.entry(user.id.to_ascii_lowercase()).or_default();
            for s in items {
                ids.push(s.id.clone());
                list.push(s);
            }
            list.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        }
        ids
    }

    /// Changes the etag of the most recent answer of each of the first `count` users with
    /// answers, as an edit would; returns their ids.
    pub fn change_etags(&self, count: usize) -> Vec<String> {
        let mut changed = Vec::new();
        let users = self.users();
        let mut store = write(&self.inner.interactions);
        'outer: for user in users {
            let Some(list) = store.get_mut(&user.id.to_ascii_lowercase()) else {
                continue;
            };
            for s in list.iter_mut().rev() {
                if changed.len() == count {
                    break 'outer;
                }
                if s.value["interactionType"] == "aiResponse" {
                    let etag = format!("{}-edited", s.value["etag"].as_str().unwrap_or_default());
                    s.value["etag"] = Value::String(etag);
                    s.json = s.value.to_string();
                    changed.push(s.id.clone());
                    continue 'outer;
                }
            }
        }
        changed
    }

    pub(crate) fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1.0/{*rest}", axum::routing::any(serve))
            .route("/beta/{*rest}", axum::routing::any(serve))
            .with_state(self.clone())
    }
}

fn stored(value: Value) -> Stored {
    let created = value["createdDateTime"]
        .as_str()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Stored {
        created,
        id: value["id"].as_str().unwrap_or_default().to_owned(),
        app_class: value["appClass"].as_str().unwrap_or_default().to_owned(),
        json: value.to_string(),
        value,
    }
}

/// An answer before it becomes an HTTP response (batches embed it).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    /// `Retry-After` seconds, for a 429.
    pub(crate) retry_after: Option<u64>,
}

impl Answer {
    pub(crate) fn ok(body: String) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    pub(crate) fn with_status(status: StatusCode, body: String) -> Self {
        Self {
            status,
            body,
            retry_after: None,
        }
    }
}

fn graph_error(graph: &Graph, status: StatusCode, code: &str, message: &str) -> Answer {
    error_answer(&graph.inner.clock, status, code, message)
}

/// An error as Graph writes it: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
pub(crate) fn error_answer(
    clock: &SharedClock,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Answer {
    let now = clock.now();
    let date = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(|s| s.trim_end_matches('Z').to_owned())
        .unwrap_or_default();
    let id = Uuid::new_v4().to_string();
    Answer::with_status(
        status,
        json!({"error": {"code": code, "message": message,
            "innerError": {"date": date, "request-id": id, "client-request-id": id}}})
        .to_string(),
    )
}

pub(crate) fn respond(answer: Answer) -> Response {
    let retry_after = answer.retry_after;
    let mut response = (
        answer.status,
        [(
            header::CONTENT_TYPE,
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        )],
        answer.body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&Uuid::new_v4().to_string()) {
        response.headers_mut().insert("request-id", v);
    }
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

async fn serve(
    State(graph): State<Graph>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graph.inner.requests.fetch_add(1, Ordering::SeqCst);
    let claims = match authenticate_claims(&graph, &headers) {
        Ok(claims) => claims,
        Err(answer) => {
            let mut r = respond(answer);
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\""),
            );
            return r;
        }
    };
    let path = uri.path();
    let (version, rest) = match path.strip_prefix("/v1.0/") {
        Some(r) => ("v1.0", r),
        None => ("beta", path.strip_prefix("/beta/").unwrap_or_default()),
    };
    if version == "beta"
        && rest
            .to_ascii_lowercase()
            .starts_with(crate::security_copilot::PATH_PREFIX)
    {
        return respond(graph.inner.security_copilot.serve(
            &method,
            rest,
            uri.query().unwrap_or(""),
            &claims,
            &body,
        ));
    }
    let roles = claims.roles;
    if rest.eq_ignore_ascii_case("$batch") {
        if method != Method::POST {
            return respond(graph_error(
                &graph,
                StatusCode::METHOD_NOT_ALLOWED,
                "BadRequest",
                "$batch takes POST.",
            ));
        }
        return respond(batch(&graph, version, &roles, &body));
    }
    if method != Method::GET {
        return respond(graph_error(
            &graph,
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The emulator's Graph endpoints are read-only.",
        ));
    }
    let consistency = headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    respond(get(
        &graph,
        version,
        rest,
        uri.query().unwrap_or(""),
        consistency,
        &roles,
    ))
}

/// Checks the bearer token (Graph audience, this tenant) and returns its claims.
pub(crate) fn authenticate_claims(
    graph: &Graph,
    headers: &HeaderMap,
) -> Result<crate::entra::AccessTokenClaims, Answer> {
    let unauthorized = |message: &str| {
        graph_error(
            graph,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    let claims = graph
        .inner
        .entra
        .validate_token(token)
        .map_err(|e| unauthorized(&format!("Access token validation failure: {e}.")))?;
    let audience = claims.audience.trim_end_matches('/');
    if audience != GRAPH_RESOURCE && audience != graph.inner.base_url.trim_end_matches('/') {
        return Err(unauthorized("Invalid audience."));
    }
    if claims.tenant_id != graph.inner.entra.tenant_id() {
        return Err(unauthorized("Access token is from another tenant."));
    }
    Ok(claims)
}

pub(crate) fn require(graph: &Graph, roles: &[String], any_of: &[&str]) -> Result<(), Answer> {
    if roles
        .iter()
        .any(|r| any_of.iter().any(|w| r.eq_ignore_ascii_case(w)))
    {
        return Ok(());
    }
    Err(graph_error(
        graph,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        &format!(
            "Insufficient privileges to complete the operation. Grant the application permission {} with admin consent.",
            any_of.join(" or ")
        ),
    ))
}

pub(crate) struct Query {
    pub(crate) top: Option<String>,
    pub(crate) filter: Option<String>,
    pub(crate) skiptoken: Option<String>,
    pub(crate) count: bool,
    /// The raw pairs except `$skiptoken`, re-encoded, for next links.
    pub(crate) carried: String,
}

pub(crate) fn parse_query(raw: &str) -> Query {
    let mut q = Query {
        top: None,
        filter: None,
        skiptoken: None,
        count: false,
        carried: String::new(),
    };
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = decode(k);
        let value = decode(v);
        match key.to_ascii_lowercase().as_str() {
            "$top" => q.top = Some(value),
            "$filter" => q.filter = Some(value),
            "$skiptoken" => {
                q.skiptoken = Some(value);
                continue;
            }
            "$count" => q.count = value.eq_ignore_ascii_case("true"),
            _ => {}
        }
        if !q.carried.is_empty() {
            q.carried.push('&');
        }
        q.carried.push_str(part);
    }
    q
}

pub(crate) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn get(
    graph: &Graph,
    version: &str,
    rest: &str,
    query: &str,
    consistency: bool,
    roles: &[String],
) -> Answer {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let q = parse_query(query);
    let result = match lower.as_slice() {
        ["subscribedskus"] => require(
            graph,
            roles,
            &[
                "LicenseAssignment.Read.All",
                "Organization.Read.All",
                "Organization.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
        )
        .map(|()| subscribed_skus(graph, version)),
        ["users"] => require(graph, roles, &[USER_READ_ROLE, "Directory.Read.All"])
            .and_then(|()| list_users(graph, version, &q, consistency)),
        ["users", _] => require(graph, roles, &[USER_READ_ROLE, "Directory.Read.All"])
            .and_then(|()| one_user(graph, version, &decode(segments[1]))),
        [
            "copilot",
            "users",
            _,
            "interactionhistory",
            "getallenterpriseinteractions",
        ] => require(graph, roles, &[INTERACTION_ROLE]).and_then(|()| {
            interactions(
                graph,
                &format!("{version}/{rest}"),
                &decode(segments[2]),
                &q,
            )
        }),
        [first, ..] if crate::identity::serves(first) => {
            require(graph, roles, &crate::identity::READ_ROLES).and_then(|()| {
                graph.inner.directory.get(
                    &graph.inner.clock,
                    &graph.inner.base_url,
                    version,
                    &segments,
                    &q,
                )
            })
        }
        _ => Err(graph_error(
            graph,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                segments.first().copied().unwrap_or_default()
            ),
        )),
    };
    result.unwrap_or_else(|e| e)
}

fn subscribed_skus(graph: &Graph, version: &str) -> Answer {
    let licensed = read(&graph.inner.users)
        .iter()
        .filter(|u| u.licensed)
        .count();
    Answer::ok(
        json!({
            "@odata.context": format!("{}/{version}/$metadata#subscribedSkus", GRAPH_RESOURCE),
            "value": [
                {"accountId": graph.inner.entra.tenant_id(), "appliesTo": "User", "capabilityStatus": "Enabled",
                 "consumedUnits": 25, "skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900", "skuPartNumber": "ENTERPRISEPACK",
                 "prepaidUnits": {"enabled": 50, "suspended": 0, "warning": 0}, "servicePlans": []},
                {"accountId": graph.inner.entra.tenant_id(), "appliesTo": "User", "capabilityStatus": "Enabled",
                 "consumedUnits": licensed, "skuId": COPILOT_SKU_ID, "skuPartNumber": COPILOT_SKU_PART_NUMBER,
                 "prepaidUnits": {"enabled": licensed + 5, "suspended": 0, "warning": 0}, "servicePlans": []}
            ]
        })
        .to_string(),
    )
}

fn user_json(u: &GraphUser) -> Value {
    let licenses = if u.licensed {
        json!([{"skuId": COPILOT_SKU_ID, "disabledPlans": []}])
    } else {
        json!([])
    };
    json!({"id": u.id, "displayName": u.display_name, "userPrincipalName": u.user_principal_name,
           "mail": u.user_principal_name, "accountEnabled": true, "assignedLicenses": licenses})
}

fn list_users(
    graph: &Graph,
    version: &str,
    q: &Query,
    consistency: bool,
) -> Result<Answer, Answer> {
    if q.count && !consistency {
        return Err(graph_error(
            graph,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "$count is only supported with the ConsistencyLevel:eventual header.",
        ));
    }
    let sku = match &q.filter {
        None => None,
        Some(f) => Some(license_filter(f).ok_or_else(|| {
            graph_error(graph, StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'assignedLicenses' of resource 'User'.")
        })?),
    };
    let top = page_size(graph, q.top.as_deref(), 100, 999)?;
    let offset: usize = match &q.skiptoken {
        Some(t) => t.parse().map_err(|_| bad_skiptoken(graph))?,
        None => 0,
    };
    let users: Vec<GraphUser> = read(&graph.inner.users)
        .iter()
        .filter(|u| match &sku {
            None => true,
            Some(s) => u.licensed && s.eq_ignore_ascii_case(COPILOT_SKU_ID),
        })
        .cloned()
        .collect();
    let page: Vec<Value> = users.iter().skip(offset).take(top).map(user_json).collect();
    let mut body = json!({"@odata.context": format!("{GRAPH_RESOURCE}/{version}/$metadata#users"), "value": page});
    if q.count {
        body["@odata.count"] = json!(users.len());
    }
    if offset + top < users.len() {
        body["@odata.nextLink"] = json!(format!(
            "{}/{version}/users?{}{}$skiptoken={}",
            graph.inner.base_url,
            q.carried,
            if q.carried.is_empty() { "" } else { "&" },
            offset + top
        ));
    }
    Ok(Answer::ok(body.to_string()))
}

/// The SKU of `assignedLicenses/any(x:x/skuId eq GUID)`, any lambda variable name.
fn license_filter(f: &str) -> Option<String> {
    let f: String = f.split_whitespace().collect::<Vec<_>>().join(" ");
    let inner = f
        .strip_prefix("assignedLicenses/any(")
        .or_else(|| f.strip_prefix("assignedlicenses/any("))?
        .strip_suffix(')')?;
    let (var, cond) = inner.split_once(':')?;
    let cond = cond.trim();
    let rest = cond.strip_prefix(&format!("{}/skuId eq ", var.trim()))?;
    Uuid::parse_str(rest.trim()).ok().map(|u| u.to_string())
}

fn one_user(graph: &Graph, version: &str, id: &str) -> Result<Answer, Answer> {
    let users = read(&graph.inner.users);
    let user = users
        .iter()
        .find(|u| u.id.eq_ignore_ascii_case(id) || u.user_principal_name.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            graph_error(graph, StatusCode::NOT_FOUND, "Request_ResourceNotFound", &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))
        })?;
    let mut body = user_json(user);
    body["@odata.context"] = json!(format!(
        "{GRAPH_RESOURCE}/{version}/$metadata#users/$entity"
    ));
    Ok(Answer::ok(body.to_string()))
}

pub(crate) fn page_size(
    graph: &Graph,
    top: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, Answer> {
    match top {
        None => Ok(default),
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(graph_error(
                graph,
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "Invalid page size specified: '{t}'. Must be between 1 and {max} inclusive."
                ),
            )),
        },
    }
}

pub(crate) fn bad_skiptoken(graph: &Graph) -> Answer {
    graph_error(
        graph,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "The $skiptoken is invalid.",
    )
}

/// A parsed interaction filter.
#[derive(Debug, Default, PartialEq)]
struct InteractionFilter {
    after: Option<(OffsetDateTime, bool)>,
    before: Option<(OffsetDateTime, bool)>,
    app_classes: Vec<String>,
}

/// Splits on ` and ` / ` or ` (case-insensitive) outside quotes and parentheses.
fn split_top(s: &str, word: &str) -> Vec<String> {
    let needle = format!(" {word} ");
    let lower = s.to_ascii_lowercase();
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start, mut i) = (0i32, false, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 && lower[i..].starts_with(&needle) => {
                parts.push(s[start..i].trim().to_owned());
                i += needle.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(s[start..].trim().to_owned());
    parts
}

fn strip_parens(s: &str) -> &str {
    let t = s.trim();
    if t.starts_with('(') && t.ends_with(')') {
        strip_parens(&t[1..t.len() - 1])
    } else {
        t
    }
}

fn parse_interaction_filter(f: &str) -> Result<InteractionFilter, String> {
    let mut out = InteractionFilter::default();
    for clause in split_top(f, "and") {
        let clause = strip_parens(&clause);
        let alternatives = split_top(clause, "or");
        if alternatives.len() > 1 {
            for alt in alternatives {
                let alt = strip_parens(&alt);
                out.app_classes.push(app_class_eq(alt)?);
            }
            continue;
        }
        let mut words = clause.splitn(3, ' ');
        let (Some(prop), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
            return Err(format!("Invalid filter clause '{clause}'."));
        };
        if prop.eq_ignore_ascii_case("appClass") {
            out.app_classes.push(app_class_eq(clause)?);
        } else if prop.eq_ignore_ascii_case("createdDateTime") {
            let t = OffsetDateTime::parse(value.trim(), &Rfc3339)
                .map_err(|_| format!("Invalid DateTimeOffset value '{value}'."))?;
            match op.to_ascii_lowercase().as_str() {
                "gt" => out.after = Some((t, false)),
                "ge" => out.after = Some((t, true)),
                "lt" => out.before = Some((t, false)),
                "le" => out.before = Some((t, true)),
                _ => {
                    return Err(format!(
                        "The operator '{op}' is not allowed on createdDateTime in $filter query."
                    ));
                }
            }
        } else {
            return Err(format!(
                "The entity property '{prop}' and operationKind '{}' is not allowed in $filter query.",
                op
            ));
        }
    }
    if out.after.is_some() != out.before.is_some() {
        return Err("A createdDateTime filter needs both a lower and an upper bound.".to_owned());
    }
    Ok(out)
}

fn app_class_eq(clause: &str) -> Result<String, String> {
    let mut words = clause.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some(p), Some(op), Some(v))
            if p.eq_ignore_ascii_case("appClass") && op.eq_ignore_ascii_case("eq") =>
        {
            let v = v.trim();
            let inner = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(|| format!("Invalid appClass value {v}."))?;
            Ok(inner.replace("''", "'"))
        }
        (Some(p), Some(op), _) => Err(format!(
            "The entity property '{p}' and operationKind '{op}' is not allowed in $filter query."
        )),
        _ => Err(format!("Invalid filter clause '{clause}'.")),
    }
}

fn interactions(graph: &Graph, path: &str, user_id: &str, q: &Query) -> Result<Answer, Answer> {
    let top = page_size(graph, q.top.as_deref(), 100, 1000)?;
    let filter = match &q.filter {
        Some(f) => parse_interaction_filter(f)
            .map_err(|m| graph_error(graph, StatusCode::BAD_REQUEST, "BadRequest", &m))?,
        None => InteractionFilter::default(),
    };
    let after_key: Option<(i128, String)> = match &q.skiptoken {
        None => None,
        Some(t) => {
            let raw = URL_SAFE_NO_PAD
                .decode(t)
                .map_err(|_| bad_skiptoken(graph))?;
            let raw = String::from_utf8(raw).map_err(|_| bad_skiptoken(graph))?;
            let (nanos, id) = raw.split_once('|').ok_or_else(|| bad_skiptoken(graph))?;
            Some((
                nanos.parse().map_err(|_| bad_skiptoken(graph))?,
                id.to_owned(),
            ))
        }
    };
    let user_known = {
        let users = read(&graph.inner.users);
        users
            .iter()
            .find(|u| {
                u.id.eq_ignore_ascii_case(user_id)
                    || u.user_principal_name.eq_ignore_ascii_case(user_id)
            })
            .map(|u| u.id.to_ascii_lowercase())
    };
    let Some(key) = user_known else {
        return Err(graph_error(
            graph,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("User '{user_id}' was not found."),
        ));
    };
    let store = read(&graph.inner.interactions);
    let items = store.get(&key).map(Vec::as_slice).unwrap_or_default();
    let matches = |s: &&Stored| {
        if let Some((t, inclusive)) = filter.after
            && !(s.created > t || (inclusive && s.created == t))
        {
            return false;
        }
        if let Some((t, inclusive)) = filter.before
            && !(s.created < t || (inclusive && s.created == t))
        {
            return false;
        }
        if !filter.app_classes.is_empty()
            && !filter
                .app_classes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&s.app_class))
        {
            return false;
        }
        match &after_key {
            None => true,
            Some((nanos, id)) => (s.created.unix_timestamp_nanos(), &s.id) > (*nanos, id),
        }
    };
    let mut page: Vec<&Stored> = items.iter().filter(matches).take(top + 1).collect();
    let more = page.len() > top;
    page.truncate(top);
    let mut body =
        String::with_capacity(page.iter().map(|s| s.json.len() + 1).sum::<usize>() + 256);
    body.push_str("{\"@odata.context\":");
    body.push_str(
        &json!(format!(
            "{GRAPH_RESOURCE}/v1.0/$metadata#Collection(microsoft.graph.aiInteraction)"
        ))
        .to_string(),
    );
    if more && let Some(last) = page.last() {
        let token = URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            last.created.unix_timestamp_nanos(),
            last.id
        ));
        let link = format!(
            "{}/{path}?{}{}$skiptoken={token}",
            graph.inner.base_url,
            q.carried,
            if q.carried.is_empty() { "" } else { "&" },
        );
        body.push_str(",\"@odata.nextLink\":");
        body.push_str(&json!(link).to_string());
    }
    body.push_str(",\"value\":[");
    for (i, s) in page.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&s.json);
    }
    body.push_str("]}");
    Ok(Answer::ok(body))
}

fn batch(graph: &Graph, version: &str, roles: &[String], body: &[u8]) -> Answer {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return graph_error(
            graph,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid batch payload format.",
        );
    };
    let Some(requests) = parsed.get("requests").and_then(Value::as_array) else {
        return graph_error(
            graph,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid batch payload format.",
        );
    };
    if requests.len() > MAX_BATCH {
        return graph_error(
            graph,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Number of batch request steps exceeds the maximum of 20.",
        );
    }
    let mut responses = Vec::with_capacity(requests.len());
    for r in requests {
        let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
        let method = r.get("method").and_then(Value::as_str).unwrap_or_default();
        let url = r.get("url").and_then(Value::as_str).unwrap_or_default();
        let answer = if !method.eq_ignore_ascii_case("GET") {
            graph_error(
                graph,
                StatusCode::METHOD_NOT_ALLOWED,
                "BadRequest",
                "The emulator's Graph endpoints are read-only.",
            )
        } else {
            let consistency = r
                .get("headers")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .any(|(k, v)| {
                    k.eq_ignore_ascii_case("consistencylevel")
                        && v.as_str()
                            .is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
                });
            let url = url.trim_start_matches('/');
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            get(graph, version, path, query, consistency, roles)
        };
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        responses.push(json!({"id": id, "status": answer.status.as_u16(),
            "headers": {"content-type": "application/json;odata.metadata=minimal"}, "body": body}));
    }
    Answer::ok(json!({"responses": responses}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn filters_parse() {
        let f = parse_interaction_filter(
            "createdDateTime gt 2025-11-24T00:00:00Z and createdDateTime lt 2025-11-25T00:00:00Z and (appClass eq 'A' or appClass eq 'B''s')",
        )
        .unwrap();
        assert_eq!(f.after, Some((datetime!(2025-11-24 00:00 UTC), false)));
        assert_eq!(f.before, Some((datetime!(2025-11-25 00:00 UTC), false)));
        assert_eq!(f.app_classes, vec!["A".to_owned(), "B's".to_owned()]);
        assert!(parse_interaction_filter("createdDateTime gt 2025-11-24T00:00:00Z").is_err());
        let e = parse_interaction_filter("sessionId eq 'x'").unwrap_err();
        assert!(e.contains("'sessionId' and operationKind 'eq'"), "{e}");
        assert_eq!(
            license_filter(
                "assignedLicenses/any(s:s/skuId eq 639dec6b-bb19-468b-871c-c5c441c4b0cb)"
            )
            .as_deref(),
            Some(COPILOT_SKU_ID)
        );
        assert!(
            license_filter(
                "assignedLicenses/any(s:s/skuId ne 639dec6b-bb19-468b-871c-c5c441c4b0cb)"
            )
            .is_none()
        );
    }
}

//! Microsoft 365 Copilot: every Copilot prompt and response from Microsoft Graph's interaction
//! export, paired and delivered to the same sinks, with the same guarantees, as transcripts.
//!
//! - **Who**: the users holding a Microsoft 365 Copilot licence (SKUs by part number,
//!   configurable), the users named with `--user` / `M365_USERS` (users with interactions but
//!   no licence, such as pay-as-you-go Copilot Chat), and every user an earlier pass read.
//! - **What**: each user's interactions created since that user's checkpoint minus the overlap
//!   (the first pass reaches back `--since`, default 90 days), up to now, optionally limited to
//!   some apps (`--app-class`). Users are read `--concurrency` at a time (default 8); the
//!   Graph client honours throttling (`Retry-After`, backoff).
//! - **Records**: prompts and answers paired by `requestId` (`transcript-model`'s
//!   [`M365Config`]), one Akto record per pair tagged `M365_COPILOT` with the app.
//! - **At least once, nothing lost**: a pair is delivered unless every side of it was delivered
//!   before with the same etag (so an edited answer is sent again); what a batch carried is
//!   recorded only after the destination accepted it, and a user's checkpoint moves only after
//!   all of that user's records were accepted. A pass cut short (even by `kill -9`) repeats at
//!   most the batches that were in flight.
//!
//! The state lives in the connector's checkpoint database, in tables of its own, under a scope
//! naming the Graph root and the destination.

use crate::config::SharedSettings;
use crate::connector::{ConnectorError, fix_sentence};
use crate::ingest::StopSignal;
use crate::sink::{RecordJson, Sink, SinkError};
use crate::state::StateStore;
use client_core::{SharedClock, SharedCredential};
use entra_auth::Cloud;
use futures::{StreamExt, TryStreamExt};
use graph_client::{GraphClient, InteractionQuery};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use transcript_model::AiInteraction;
use transcript_model::m365::{M365Config, M365Record, M365User};

/// How far the first pass reaches back unless `--since` says otherwise.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(90 * 86_400);
/// Users read at once unless `--concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// The most users read at once.
pub const MAX_CONCURRENCY: usize = 32;
/// The Graph permissions the job needs (application permissions, with admin consent).
pub const REQUIRED_ROLES: [&str; 2] = ["AiEnterpriseInteraction.Read.All", "User.Read.All"];

/// The `m365` options beyond the shared settings.
#[derive(Debug, Clone, clap::Args)]
pub struct M365Options {
    /// The Microsoft Graph root, e.g. a proxy or the tenant emulator (default: the cloud's, `https://graph.microsoft.com`)
    #[arg(long, env = "GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// Users read at once (1 to 32)
    #[arg(long, env = "M365_CONCURRENCY", value_name = "N", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// The Microsoft 365 Copilot licence(s): skuPartNumbers (looked up in subscribedSkus, which needs LicenseAssignment.Read.All) or skuIds (GUIDs, used as they are); comma-separated; default Microsoft_365_Copilot
    #[arg(
        long = "copilot-sku",
        env = "M365_COPILOT_SKUS",
        value_name = "PART",
        value_delimiter = ','
    )]
    pub copilot_skus: Vec<String>,
    /// Also read these users (object ids or UPNs, comma-separated), licensed or not
    #[arg(
        long = "user",
        env = "M365_USERS",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub users: Vec<String>,
    /// Only these apps (appClass values, comma-separated), e.g. IPM.SkypeTeams.Message.Copilot.Word
    #[arg(
        long = "app-class",
        env = "M365_APP_CLASSES",
        value_name = "CLASS",
        value_delimiter = ','
    )]
    pub app_classes: Vec<String>,
    /// The host written into the records
    #[arg(long = "m365-record-host", env = "M365_RECORD_HOST", value_name = "HOST", default_value = transcript_model::m365::M365_DEFAULT_HOST)]
    pub record_host: String,
}

impl Default for M365Options {
    fn default() -> Self {
        Self {
            graph_url: None,
            concurrency: DEFAULT_CONCURRENCY,
            copilot_skus: Vec::new(),
            users: Vec::new(),
            app_classes: Vec::new(),
            record_host: transcript_model::m365::M365_DEFAULT_HOST.to_owned(),
        }
    }
}

/// A failure of an `m365` operation; the text says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum M365Error {
    /// A Graph request failed.
    #[error("{action} failed: {source}{}", graph_fix(.source))]
    Graph {
        /// What was being done.
        action: String,
        /// The cause.
        #[source]
        source: graph_client::Error,
    },
    /// The destination refused or could not take a batch.
    #[error(transparent)]
    Sink(Box<SinkError>),
    /// The checkpoint store failed.
    #[error(transparent)]
    Connector(Box<ConnectorError>),
    /// The checkpoint tables could not be read or written.
    #[error("the checkpoint database failed: {0}")]
    State(String),
    /// A setting is unusable.
    #[error("{0}")]
    Setup(String),
}

impl From<crate::state::StateError> for M365Error {
    fn from(e: crate::state::StateError) -> Self {
        M365Error::Connector(Box::new(ConnectorError::State(e)))
    }
}

impl From<SinkError> for M365Error {
    fn from(e: SinkError) -> Self {
        M365Error::Sink(Box::new(e))
    }
}

fn graph_fix(e: &graph_client::Error) -> String {
    let fix = match e.status() {
        Some(401) => {
            "the token was refused: check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or certificate"
        }
        Some(403) => {
            "grant the app registration the Microsoft Graph application permissions AiEnterpriseInteraction.Read.All and User.Read.All, then grant admin consent (Entra admin center > App registrations > API permissions)"
        }
        _ => match e {
            graph_client::Error::UnsupportedCloud { .. } => {
                "the interaction export exists only in the public cloud"
            }
            _ => return String::new(),
        },
    };
    fix_sentence(&e.to_string(), fix)
}

fn graph(action: impl Into<String>) -> impl FnOnce(graph_client::Error) -> M365Error {
    let action = action.into();
    move |source| M365Error::Graph { action, source }
}

fn sql(e: rusqlite::Error) -> M365Error {
    M365Error::State(e.to_string())
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct M365Summary {
    /// Users read.
    pub users: usize,
    /// Interactions read.
    pub interactions_read: usize,
    /// Pairs built.
    pub pairs: usize,
    /// Records delivered.
    pub records_delivered: usize,
    /// Batches delivered.
    pub batches: usize,
    /// Pairs skipped because they were delivered before (same ids and etags).
    pub already_delivered: usize,
    /// Records the destination can never take (over its limits), reported and skipped.
    pub undeliverable: usize,
    /// Whether the pass stopped early on request.
    pub stopped: bool,
}

impl std::fmt::Display for M365Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} users, {} interactions read, {} pairs, {} records delivered in {} batches, {} already delivered, {} undeliverable{}",
            self.users,
            self.interactions_read,
            self.pairs,
            self.records_delivered,
            self.batches,
            self.already_delivered,
            self.undeliverable,
            if self.stopped { " (stopped early)" } else { "" }
        )
    }
}

impl crate::graph_job::IngestSummary for M365Summary {
    fn undeliverable(&self) -> usize {
        self.undeliverable
    }
}

/// One "agent" of Microsoft 365 Copilot: a user's use of Copilot in one app.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct M365Agent {
    /// The user's object id.
    pub user_id: String,
    /// The user's UPN, when known.
    pub user_principal_name: Option<String>,
    /// The app (`Word`, `Teams`, `BizChat`, ...).
    pub app: String,
    /// The `appClass`.
    pub app_class: Option<String>,
    /// Interactions (prompts and answers).
    pub interactions: usize,
    /// Prompts.
    pub prompts: usize,
    /// The last interaction, RFC 3339.
    pub last_used: Option<String>,
}

/// A user the job reads.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct M365UserInfo {
    /// The object id (or the UPN given with `--user`).
    pub id: String,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `userPrincipalName`.
    pub user_principal_name: Option<String>,
    /// Whether the user holds a Copilot licence.
    pub licensed: bool,
}

/// The Microsoft 365 Copilot job.
#[derive(Debug, Clone)]
pub struct M365Job {
    graph: GraphClient,
    settings: SharedSettings,
    options: M365Options,
    records: M365Config,
    clock: SharedClock,
    since: Duration,
    public_cloud: bool,
}

impl M365Job {
    /// Builds the job. `since` is how far the first pass reaches back ([`DEFAULT_SINCE`] when
    /// `None`).
    pub fn new(
        settings: SharedSettings,
        options: M365Options,
        since: Option<Duration>,
        credential: SharedCredential,
        clock: SharedClock,
    ) -> Result<Self, M365Error> {
        if !(1..=MAX_CONCURRENCY).contains(&options.concurrency) {
            return Err(M365Error::Setup(format!(
                "--concurrency (M365_CONCURRENCY) must be 1 to {MAX_CONCURRENCY}"
            )));
        }
        let public_cloud = matches!(
            crate::graph_job::cloud_of(&settings.authority_host),
            Cloud::Public
        );
        let graph = crate::graph_job::graph_client(
            &settings,
            options.graph_url.as_deref(),
            options.concurrency,
            credential,
            clock.clone(),
        )
        .map_err(M365Error::Setup)?;
        let records = M365Config::new(settings.akto_account_id.clone(), "0")
            .with_host(options.record_host.clone());
        Ok(Self {
            graph,
            settings,
            options,
            records,
            clock,
            since: since.unwrap_or(DEFAULT_SINCE),
            public_cloud,
        })
    }

    /// The Graph client.
    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// The checkpoint scope: the Graph root and the destination.
    pub fn checkpoint_scope(&self) -> String {
        format!(
            "m365|graph={}|sink={}",
            self.graph.root(),
            crate::graph_job::sink_label(&self.settings)
        )
    }

    /// Opens the checkpoint database (taking its lock) and creates the job's tables.
    pub fn open_state(&self) -> Result<StateStore, M365Error> {
        let mut store = StateStore::open(&self.settings.state_path, &self.checkpoint_scope())?;
        store
            .connection()
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS m365_checkpoint (
                     scope TEXT NOT NULL, user_id TEXT NOT NULL, watermark_unix INTEGER NOT NULL,
                     updated_at TEXT NOT NULL, PRIMARY KEY (scope, user_id));
                 CREATE TABLE IF NOT EXISTS m365_delivered (
                     scope TEXT NOT NULL, user_id TEXT NOT NULL, interaction_id TEXT NOT NULL,
                     etag TEXT NOT NULL, created_unix INTEGER NOT NULL,
                     PRIMARY KEY (scope, user_id, interaction_id));",
            )
            .map_err(sql)?;
        Ok(store)
    }

    /// The destination the settings name.
    pub async fn sink(&self) -> Result<Box<dyn Sink>, M365Error> {
        crate::graph_job::open_sink(&self.settings, self.clock.clone())
            .await
            .map_err(|e| match e {
                crate::graph_job::OpenSinkError::Setup(m) => M365Error::Setup(m),
                crate::graph_job::OpenSinkError::Sink(e) => e.into(),
            })
    }

    /// The users to read: licensed ones, those named in the options, and (with a store)
    /// those an earlier pass read.
    pub async fn users(
        &self,
        store: Option<&mut StateStore>,
    ) -> Result<Vec<M365UserInfo>, M365Error> {
        let licensed = self
            .graph
            .copilot_users(&self.options.copilot_skus)
            .await
            .map_err(graph(
                "listing the users with a Microsoft 365 Copilot licence",
            ))?;
        let mut seen = HashSet::new();
        let mut users = Vec::new();
        for u in licensed {
            if seen.insert(u.id.to_ascii_lowercase()) {
                users.push(M365UserInfo {
                    id: u.id,
                    display_name: u.display_name,
                    user_principal_name: u.user_principal_name,
                    licensed: true,
                });
            }
        }
        let mut extra: Vec<String> = self
            .options
            .users
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(store) = store {
            let scope = store.scope().to_owned();
            let conn = store.connection();
            let mut stmt = conn
                .prepare("SELECT user_id FROM m365_checkpoint WHERE scope = ?1 ORDER BY user_id")
                .map_err(sql)?;
            let known = stmt
                .query_map(params![scope], |r| r.get::<_, String>(0))
                .map_err(sql)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql)?;
            extra.extend(known);
        }
        extra.retain(|id| seen.insert(id.to_ascii_lowercase()));
        if !extra.is_empty() {
            let found = self
                .graph
                .users_by_id(&extra)
                .await
                .map_err(graph("reading the users named with --user"))?;
            for (id, user) in extra.into_iter().zip(found) {
                match user {
                    Some(u) => users.push(M365UserInfo {
                        licensed: false,
                        id: u.id,
                        display_name: u.display_name,
                        user_principal_name: u.user_principal_name,
                    }),
                    None => tracing::warn!(user = %id, "user not found in the directory; skipped"),
                }
            }
        }
        Ok(users)
    }

    fn query(&self, after: OffsetDateTime, before: OffsetDateTime) -> InteractionQuery {
        let q = InteractionQuery::new().created_between(after, before);
        if self.options.app_classes.is_empty() {
            q
        } else {
            q.app_classes(self.options.app_classes.iter().cloned())
        }
    }

    fn require_public(&self) -> Result<(), M365Error> {
        if self.public_cloud || self.options.graph_url.is_some() {
            Ok(())
        } else {
            Err(M365Error::Setup(
                "the Microsoft 365 Copilot interaction export exists only in the public cloud; AZURE_AUTHORITY_HOST names a national cloud".into(),
            ))
        }
    }

    async fn read_user(
        &self,
        user: &M365UserInfo,
        after: OffsetDateTime,
        before: OffsetDateTime,
    ) -> Result<Vec<AiInteraction>, M365Error> {
        self.graph
            .interaction_pages::<AiInteraction>(&user.id, &self.query(after, before))
            .items()
            .try_collect()
            .await
            .map_err(graph(format!(
                "reading the Copilot interactions of user {}",
                user.id
            )))
    }

    /// One pass over every user: reads, pairs and delivers what is new; see the
    /// [module docs](self).
    pub async fn ingest_once(
        &self,
        store: &mut StateStore,
        sink: &dyn Sink,
        stop: StopSignal,
    ) -> Result<M365Summary, M365Error> {
        self.require_public()?;
        let users = self.users(Some(&mut *store)).await?;
        let now = self.clock.now();
        // `lt` is exclusive: one second past now keeps an interaction of this very second.
        let before = now + time::Duration::seconds(1);
        let overlap =
            time::Duration::try_from(self.settings.overlap).unwrap_or(time::Duration::ZERO);
        let since = time::Duration::try_from(self.since).unwrap_or(time::Duration::days(90));
        let scope = store.scope().to_owned();
        let store = Mutex::new(store);
        let summary = Mutex::new(M365Summary {
            users: users.len(),
            ..M365Summary::default()
        });
        let limits = sink.limits();
        let batch_size = self.settings.batch_size.max(1);
        let results: Vec<Result<(), M365Error>> = futures::stream::iter(users.iter())
            .map(|user| {
                let store = &store;
                let summary = &summary;
                let stop = stop.clone();
                let scope = scope.as_str();
                async move {
                    if stop.is_stopped() {
                        return Ok(());
                    }
                    let key = user.id.to_ascii_lowercase();
                    let checkpoint = with_store(store, |s| checkpoint_of(s, scope, &key))?;
                    let after = match checkpoint {
                        Some(w) => w - overlap,
                        None => now - since,
                    };
                    let items = self.read_user(user, after, before).await?;
                    let delivered = with_store(store, |s| delivered_of(s, scope, &key))?;
                    let who = M365User::new(user.id.clone()).with_names(
                        user.display_name.clone(),
                        user.user_principal_name.clone(),
                    );
                    let all = self.records.records(&who, &items);
                    let pairs = all.len();
                    let fresh: Vec<M365Record> = all
                        .into_iter()
                        .filter(|r| {
                            r.parts.iter().any(|p| {
                                delivered.get(&p.id) != Some(&p.etag.clone().unwrap_or_default())
                            })
                        })
                        .collect();
                    {
                        let mut s = lock(summary);
                        s.interactions_read += items.len();
                        s.pairs += pairs;
                        s.already_delivered += pairs - fresh.len();
                    }
                    let created: HashMap<&str, i64> = items
                        .iter()
                        .filter_map(|i| {
                            Some((i.id.as_deref()?, i.created_date_time.map_or(0, OffsetDateTime::unix_timestamp)))
                        })
                        .collect();
                    for chunk in fresh.chunks(batch_size) {
                        if stop.is_stopped() {
                            lock(summary).stopped = true;
                            return Ok(());
                        }
                        let mut batch: Vec<RecordJson> = Vec::with_capacity(chunk.len());
                        let mut carried = Vec::with_capacity(chunk.len());
                        for r in chunk {
                            let json = serde_json::value::to_raw_value(&r.record).map_err(|e| {
                                M365Error::Setup(format!("cannot encode a record: {e}"))
                            })?;
                            if let Some(why) = limits.refuses(&json) {
                                tracing::warn!(user = %user.id, pair = %r.key, "undeliverable record: {why}");
                                lock(summary).undeliverable += 1;
                                // Recorded as handled: it can never be taken, so it must not
                                // block the user's checkpoint for ever.
                                carried.push(r);
                                continue;
                            }
                            batch.push(json);
                            carried.push(r);
                        }
                        if !batch.is_empty() {
                            sink.deliver(&batch).await?;
                        }
                        with_store(store, |s| record_delivered(s, scope, &key, &carried, &created, now))?;
                        let mut s = lock(summary);
                        s.records_delivered += batch.len();
                        s.batches += usize::from(!batch.is_empty());
                    }
                    with_store(store, |s| {
                        commit_checkpoint(s, scope, &key, before, after - overlap - time::Duration::days(1), now)
                    })?;
                    Ok(())
                }
            })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        for r in results {
            r?;
        }
        let mut s = summary.into_inner().unwrap_or_else(|e| e.into_inner());
        s.stopped |= stop.is_stopped();
        Ok(s)
    }

    /// One "agent" per user and app over the last `--since` (default 90 days): interaction
    /// counts and last use.
    pub async fn agents(&self) -> Result<Vec<M365Agent>, M365Error> {
        self.require_public()?;
        let users = self.users(None).await?;
        let now = self.clock.now();
        let since = time::Duration::try_from(self.since).unwrap_or(time::Duration::days(90));
        let per_user: Vec<Result<Vec<M365Agent>, M365Error>> = futures::stream::iter(users.iter())
            .map(|u| async move {
                let items = self
                    .read_user(u, now - since, now + time::Duration::seconds(1))
                    .await?;
                let mut by_app: BTreeMap<String, M365Agent> = BTreeMap::new();
                for i in &items {
                    let app = transcript_model::m365::app_name(i.app_class.as_deref()).to_owned();
                    let a = by_app.entry(app.clone()).or_insert_with(|| M365Agent {
                        user_id: u.id.clone(),
                        user_principal_name: u.user_principal_name.clone(),
                        app,
                        app_class: i.app_class.clone(),
                        interactions: 0,
                        prompts: 0,
                        last_used: None,
                    });
                    a.interactions += 1;
                    a.prompts += usize::from(i.is_prompt());
                    if let Some(t) = i.created_date_time.and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    }) && a.last_used.as_ref().is_none_or(|l| *l < t)
                    {
                        a.last_used = Some(t);
                    }
                }
                Ok(by_app.into_values().collect())
            })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        let mut agents = Vec::new();
        for r in per_user {
            agents.extend(r?);
        }
        agents.sort_by(|a, b| (&a.user_id, &a.app).cmp(&(&b.user_id, &b.app)));
        Ok(agents)
    }

    /// The setup checks: cloud, token and its roles, licensed users, a read of the export.
    pub async fn doctor(&self, credential: &SharedCredential) -> Vec<M365Check> {
        let mut checks = Vec::new();
        let cloud_ok = self.require_public();
        checks.push(M365Check::new(
            "cloud",
            cloud_ok.as_ref().err().map(ToString::to_string),
            "use the public cloud's authority host (https://login.microsoftonline.com): the interaction export exists only there",
        ));
        let scope = self.graph.scope().to_owned();
        let token = credential.get_token(&[scope.as_str()]).await;
        let (token_problem, roles) = match &token {
            Ok(t) => match entra_auth::TokenClaims::from_jwt(t.token.expose()) {
                Ok(c) => (None, c.roles().to_vec()),
                Err(e) => (
                    Some(format!("the Graph token cannot be read: {e}")),
                    Vec::new(),
                ),
            },
            Err(e) => (Some(format!("no Graph token: {e}")), Vec::new()),
        };
        checks.push(M365Check::new(
            "graph-token",
            token_problem.clone(),
            "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or certificate",
        ));
        let missing: Vec<&str> = REQUIRED_ROLES
            .iter()
            .copied()
            .filter(|r| !roles.iter().any(|have| have.eq_ignore_ascii_case(r)))
            .collect();
        checks.push(if token_problem.is_some() {
            M365Check::skipped("graph-roles", "needs a Graph token")
        } else {
            M365Check::new(
                "graph-roles",
                (!missing.is_empty()).then(|| format!("the Graph token lacks the application permission(s) {}", missing.join(", "))),
                "in the Entra admin center > App registrations > the app > API permissions, add Microsoft Graph application permissions AiEnterpriseInteraction.Read.All and User.Read.All, then Grant admin consent",
            )
        });
        let users = if token_problem.is_none() && cloud_ok.is_ok() {
            match self
                .graph
                .copilot_users_with_source(&self.options.copilot_skus)
                .await
            {
                Ok((u, _)) if u.is_empty() => {
                    checks.push(M365Check::new("licensed-users", Some("no user holds a Microsoft 365 Copilot licence".into()), "assign Microsoft 365 Copilot licences, or name the SKU with --copilot-sku (M365_COPILOT_SKUS) if your tenant's part number differs"));
                    u
                }
                Ok((u, source)) => {
                    let how = match source {
                        graph_client::SkuSource::WellKnown => {
                            "; subscribedSkus was refused, so only the Microsoft_365_Copilot licence was looked for (grant LicenseAssignment.Read.All, or name other Copilot skuIds with --copilot-sku)"
                        }
                        _ => "",
                    };
                    checks.push(M365Check::ok(
                        "licensed-users",
                        format!("{} licensed user(s){how}", u.len()),
                    ));
                    u
                }
                Err(e) => {
                    let text = format!("{e}{}", graph_fix(&e));
                    checks.push(M365Check::new(
                        "licensed-users",
                        Some(text),
                        "grant User.Read.All with admin consent; looking up licences by part number also needs LicenseAssignment.Read.All (or give their skuIds with --copilot-sku)",
                    ));
                    Vec::new()
                }
            }
        } else {
            checks.push(M365Check::skipped(
                "licensed-users",
                "needs a Graph token in the public cloud",
            ));
            Vec::new()
        };
        match users.first() {
            Some(u) => {
                let now = self.clock.now();
                let q = InteractionQuery::new()
                    .created_between(now - time::Duration::days(1), now)
                    .top(1);
                let r = self
                    .graph
                    .interaction_pages::<serde_json::Value>(&u.id, &q)
                    .try_next()
                    .await;
                checks.push(M365Check::new(
                    "interaction-export",
                    r.err().map(|e| format!("{e}{}", graph_fix(&e))),
                    "grant AiEnterpriseInteraction.Read.All with admin consent",
                ));
            }
            None => checks.push(M365Check::skipped(
                "interaction-export",
                "needs a licensed user",
            )),
        }
        checks
    }
}

/// One doctor check of the `m365` job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct M365Check {
    /// The check's id.
    pub id: &'static str,
    /// `ok`, `fail` or `skip`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// How to fix a failure.
    pub fix: Option<String>,
}

impl M365Check {
    fn new(id: &'static str, problem: Option<String>, fix: &str) -> Self {
        match problem {
            None => Self::ok(id, "ok".into()),
            Some(p) => Self {
                id,
                status: "fail",
                detail: p,
                fix: Some(fix.to_owned()),
            },
        }
    }

    fn ok(id: &'static str, detail: String) -> Self {
        Self {
            id,
            status: "ok",
            detail,
            fix: None,
        }
    }

    fn skipped(id: &'static str, why: &str) -> Self {
        Self {
            id,
            status: "skip",
            detail: why.to_owned(),
            fix: None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn with_store<T>(
    store: &Mutex<&mut StateStore>,
    f: impl FnOnce(&mut StateStore) -> Result<T, M365Error>,
) -> Result<T, M365Error> {
    let mut guard = lock(store);
    f(&mut guard)
}

fn checkpoint_of(
    store: &mut StateStore,
    scope: &str,
    user: &str,
) -> Result<Option<OffsetDateTime>, M365Error> {
    let unix: Option<i64> = store
        .connection()
        .query_row(
            "SELECT watermark_unix FROM m365_checkpoint WHERE scope = ?1 AND user_id = ?2",
            params![scope, user],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    Ok(unix.and_then(|u| OffsetDateTime::from_unix_timestamp(u).ok()))
}

fn delivered_of(
    store: &mut StateStore,
    scope: &str,
    user: &str,
) -> Result<HashMap<String, String>, M365Error> {
    let conn = store.connection();
    let mut stmt = conn
        .prepare_cached(
            "SELECT interaction_id, etag FROM m365_delivered WHERE scope = ?1 AND user_id = ?2",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![scope, user], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(sql)?;
    rows.collect::<Result<HashMap<_, _>, _>>().map_err(sql)
}

fn record_delivered(
    store: &mut StateStore,
    scope: &str,
    user: &str,
    records: &[&M365Record],
    created: &HashMap<&str, i64>,
    now: OffsetDateTime,
) -> Result<(), M365Error> {
    let conn = store.connection();
    let tx = conn.transaction().map_err(sql)?;
    {
        let mut up = tx
            .prepare_cached(
                "INSERT INTO m365_delivered (scope, user_id, interaction_id, etag, created_unix)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (scope, user_id, interaction_id) DO UPDATE SET etag = excluded.etag",
            )
            .map_err(sql)?;
        for r in records {
            for p in &r.parts {
                let at = created
                    .get(p.id.as_str())
                    .copied()
                    .unwrap_or_else(|| now.unix_timestamp());
                up.execute(params![
                    scope,
                    user,
                    p.id,
                    p.etag.clone().unwrap_or_default(),
                    at
                ])
                .map_err(sql)?;
            }
        }
    }
    tx.commit().map_err(sql)
}

fn commit_checkpoint(
    store: &mut StateStore,
    scope: &str,
    user: &str,
    watermark: OffsetDateTime,
    forget_before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), M365Error> {
    let conn = store.connection();
    let tx = conn.transaction().map_err(sql)?;
    tx.execute(
        "INSERT INTO m365_checkpoint (scope, user_id, watermark_unix, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope, user_id) DO UPDATE SET watermark_unix = excluded.watermark_unix,
            updated_at = excluded.updated_at
         WHERE excluded.watermark_unix > m365_checkpoint.watermark_unix",
        params![scope, user, watermark.unix_timestamp(), now.unix_timestamp().to_string()],
    )
    .map_err(sql)?;
    // Interactions older than any future window can no longer come back.
    tx.execute(
        "DELETE FROM m365_delivered WHERE scope = ?1 AND user_id = ?2 AND created_unix < ?3",
        params![scope, user, forget_before.unix_timestamp()],
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)
}

/// The `copilot-connector m365` subcommands.
// The flattened option fields take their help from `M365Options`.
#[allow(missing_docs)]
#[derive(Debug, clap::Subcommand)]
pub enum M365Action {
    /// Deliver every new Copilot prompt and response: one pass (--once) or every DURATION (--every 5m).
    Ingest {
        /// Run one pass; the exit status says whether everything was delivered.
        #[arg(long, conflicts_with = "every")]
        once: bool,
        /// Run a pass every DURATION (e.g. 5m) until Ctrl-C or SIGTERM.
        #[arg(long, value_name = "DURATION", value_parser = parse_every)]
        every: Option<Duration>,
        #[command(flatten)]
        options: M365Options,
    },
    /// List the "agents": one per user and app, with interaction counts and last use (over --since, default 90d).
    Agents {
        #[command(flatten)]
        options: M365Options,
    },
    /// List the users read: Copilot-licensed users and those named with --user.
    Users {
        #[command(flatten)]
        options: M365Options,
    },
    /// Check the setup: cloud, Graph token, its roles, licensed users, the interaction export.
    Doctor {
        #[command(flatten)]
        options: M365Options,
    },
}

fn parse_every(s: &str) -> Result<Duration, String> {
    let d = crate::config::parse_duration(s)?;
    if d.is_zero() || d > Duration::from_secs(30 * 86_400) {
        return Err("the interval must be from 1s to 30d".into());
    }
    Ok(d)
}

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: a pass or check failed.
const EXIT_FAILED: u8 = 1;
/// Exit status: invalid configuration.
const EXIT_CONFIG: u8 = 2;
/// Exit status: another run holds the checkpoint store.
const EXIT_LOCKED: u8 = 3;

use crate::graph_job::{complain, say};

fn exit_for(e: &M365Error) -> u8 {
    match e {
        M365Error::Connector(c) if c.is_locked() => EXIT_LOCKED,
        M365Error::Setup(_) => EXIT_CONFIG,
        _ => EXIT_FAILED,
    }
}

/// Runs an `m365` subcommand with the merged settings `raw`; returns the exit status
/// (0 success, 1 failed, 2 configuration, 3 locked).
pub async fn run_cli(
    action: &M365Action,
    raw: Result<crate::config::RawConfig, crate::config::ConfigError>,
    json: bool,
    stop: StopSignal,
) -> u8 {
    let needs = match action {
        M365Action::Ingest { .. } => crate::config::Needs::Ingest,
        _ => crate::config::Needs::Dataverse,
    };
    let (settings, since) = match raw.and_then(|raw| {
        let settings = SharedSettings::from_raw(&raw, needs)?;
        Ok((
            settings,
            raw.get(crate::config::keys::SINCE)
                .map(|(v, _)| v.to_owned()),
        ))
    }) {
        Ok(v) => v,
        Err(e) => {
            complain(&e.to_string());
            return EXIT_CONFIG;
        }
    };
    let since = match since.map(|v| crate::config::parse_duration(&v)).transpose() {
        Ok(s) => s,
        Err(e) => {
            complain(&format!(
                "--since (COPILOT_CONNECTOR_SINCE) is invalid: {e}"
            ));
            return EXIT_CONFIG;
        }
    };
    let options = match action {
        M365Action::Ingest { options, .. }
        | M365Action::Agents { options }
        | M365Action::Users { options }
        | M365Action::Doctor { options } => options.clone(),
    };
    let clock = client_core::system_clock();
    let credential = match crate::credential::from_settings(&settings, clock.clone()) {
        Ok(c) => c,
        Err(e) => {
            complain(&e.to_string());
            return EXIT_CONFIG;
        }
    };
    let job = match M365Job::new(settings, options, since, credential.clone(), clock.clone()) {
        Ok(j) => j,
        Err(e) => {
            complain(&e.to_string());
            return EXIT_CONFIG;
        }
    };
    match action {
        M365Action::Users { .. } => match job.users(None).await {
            Ok(users) => {
                if json {
                    say(&serde_json::to_string(&users).unwrap_or_default());
                } else {
                    for u in &users {
                        say(&format!(
                            "{}\t{}\t{}\t{}",
                            u.id,
                            u.user_principal_name.as_deref().unwrap_or("-"),
                            u.display_name.as_deref().unwrap_or("-"),
                            if u.licensed { "licensed" } else { "unlicensed" }
                        ));
                    }
                }
                EXIT_OK
            }
            Err(e) => {
                complain(&e.to_string());
                exit_for(&e)
            }
        },
        M365Action::Agents { .. } => match job.agents().await {
            Ok(agents) => {
                if json {
                    say(&serde_json::to_string(&agents).unwrap_or_default());
                } else {
                    for a in &agents {
                        say(&format!(
                            "{}\t{}\t{} interactions\t{} prompts\tlast used {}",
                            a.user_principal_name.as_deref().unwrap_or(&a.user_id),
                            a.app,
                            a.interactions,
                            a.prompts,
                            a.last_used.as_deref().unwrap_or("-")
                        ));
                    }
                }
                EXIT_OK
            }
            Err(e) => {
                complain(&e.to_string());
                exit_for(&e)
            }
        },
        M365Action::Doctor { .. } => {
            let checks = job.doctor(&credential).await;
            if json {
                say(&serde_json::to_string(&checks).unwrap_or_default());
            } else {
                for c in &checks {
                    say(&format!("[{}] {}: {}", c.status, c.id, c.detail));
                    if let Some(fix) = &c.fix {
                        say(&format!("      fix: {fix}"));
                    }
                }
            }
            if checks.iter().any(|c| c.status == "fail") {
                EXIT_FAILED
            } else {
                EXIT_OK
            }
        }
        M365Action::Ingest { once, every, .. } => {
            let cmd = crate::graph_job::IngestCommand {
                command: "m365",
                once: *once,
                every: *every,
                json,
            };
            crate::graph_job::run_ingest_command(
                cmd,
                clock,
                stop,
                job.open_state(),
                job.sink(),
                async |store, sink, stop| job.ingest_once(store, sink, stop).await,
                exit_for,
            )
            .await
        }
    }
}

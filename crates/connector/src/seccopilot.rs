//! Security Copilot: ask it from a script (`seccopilot ask`), and deliver what is asked of it
//! and what it answers as request/response pairs (`seccopilot ingest`).
//!
//! - **Ask**: creates a session (or uses `--session`), adds the prompt (text, or `--skill` with
//!   `--input key=value`), starts an evaluation and polls it (1 s doubling to 10 s, up to
//!   `--wait`, default 5 minutes), printing each state change to stderr meanwhile; the answer
//!   goes to stdout. A result other than `success` is explained and exits 1. `--plugin NAME`
//!   checks that the workspace has the plugin and that it is enabled: Graph's prompt API has
//!   no per-prompt plugin choice, Security Copilot uses the workspace's enabled plugins.
//! - **Ingest**: every session modified since the checkpoint minus the overlap (the first pass
//!   reaches back `--since`, default 90 days), its prompts and each prompt's finished
//!   evaluations, one Akto record per prompt and evaluation (`transcript-model`'s
//!   [`SecurityCopilotConfig`], tag source `SECURITY_COPILOT`). An evaluation is delivered
//!   again only when its outcome changes. What a batch carried is recorded only after the
//!   destination accepted it; the checkpoint moves only after a whole pass, and never past a
//!   session with an unfinished evaluation. A pass cut short (even by `kill -9`) repeats at
//!   most the batch in flight.
//! - **Look-back** (`--revisit`, default 7 days): the service is not documented to move a
//!   session's `lastModifiedDateTime` when a prompt is added, so sessions created or modified
//!   within the window are read again even when unchanged. For such a session only its prompt
//!   list and the evaluations of prompts not yet settled (every evaluation finished and
//!   delivered) are read: about one request per session in the window per pass, reported in
//!   the summary (`sessions_revisited`, `revisit_reads`). A prompt added to an older session
//!   whose time did not move is not seen; `--revisit 0s` turns the look-back off.
//! - **Limits**: the client holds itself to Security Copilot's 600 calls per 60 seconds
//!   (`--rate-limit`), and honours `429` with `Retry-After`.
//!
//! Permissions: `SecurityCopilotWorkspaces.ReadWrite.All` for `ask`, `.Read.All` for
//! `ingest` and `plugins`; a user signing in also needs a Security Copilot role.

use crate::config::SharedSettings;
use crate::connector::ConnectorError;
use crate::graph_job::{DeliverError, OpenSinkError};
use crate::ingest::StopSignal;
use crate::sink::{Sink, SinkError};
use crate::state::StateStore;
use client_core::{SharedClock, SharedCredential};
use futures::TryStreamExt;
use graph_client::{
    Evaluation, GraphClient, Plugin, PollOptions, Prompt, PromptInput, SecurityCopilot, Session,
};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use transcript_model::security_copilot::{
    Exchange, SECURITY_COPILOT_DEFAULT_HOST, SecurityCopilotConfig,
};

/// How far the first pass reaches back unless `--since` says otherwise.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(90 * 86_400);
/// How far back sessions are read again although unchanged, unless `--revisit` says otherwise.
pub const DEFAULT_REVISIT: Duration = Duration::from_secs(7 * 86_400);
/// How long `ask` waits for an answer unless `--wait` says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// The permission `ask` needs.
pub const ASK_PERMISSION: &str = "SecurityCopilotWorkspaces.ReadWrite.All";
/// The permission `ingest` and `plugins` need.
pub const READ_PERMISSION: &str = "SecurityCopilotWorkspaces.Read.All";

/// The `seccopilot` options shared by its subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct SecCopilotOptions {
    /// The Microsoft Graph root, e.g. a proxy or the tenant emulator (default: `https://graph.microsoft.com`)
    #[arg(long, env = "GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// The Security Copilot workspace
    #[arg(
        long,
        env = "SECURITY_COPILOT_WORKSPACE",
        value_name = "ID",
        default_value = "default"
    )]
    pub workspace: String,
    /// Calls per minute the client allows itself (Security Copilot allows 600)
    #[arg(long, env = "SECURITY_COPILOT_RATE_LIMIT", value_name = "N", default_value_t = graph_client::DEFAULT_RATE_LIMIT_CALLS)]
    pub rate_limit: usize,
    /// Sign in as a person with a device code (delegated permissions; the instructions go to stderr) instead of as the app
    #[arg(long, env = "SECURITY_COPILOT_DEVICE_CODE")]
    pub device_code: bool,
    /// With --device-code: the file that keeps the sign-in between runs (owner-only), or `none` to sign in on every run [default: {user cache dir}/copilot-connector/token-cache.json]
    #[arg(long, env = "SECURITY_COPILOT_TOKEN_CACHE", value_name = "FILE|none")]
    pub token_cache: Option<String>,
    /// The host written into the records
    #[arg(long = "seccopilot-record-host", env = "SECURITY_COPILOT_RECORD_HOST", value_name = "HOST", default_value = SECURITY_COPILOT_DEFAULT_HOST)]
    pub record_host: String,
    /// Ingest: read sessions created or modified within this window again even if their lastModifiedDateTime did not move (0s: off)
    #[arg(long, env = "SECURITY_COPILOT_REVISIT", value_name = "DURATION", default_value = "7d", value_parser = parse_revisit)]
    pub revisit: Duration,
}

impl Default for SecCopilotOptions {
    fn default() -> Self {
        Self {
            graph_url: None,
            workspace: graph_client::DEFAULT_WORKSPACE.to_owned(),
            rate_limit: graph_client::DEFAULT_RATE_LIMIT_CALLS,
            device_code: false,
            token_cache: None,
            record_host: SECURITY_COPILOT_DEFAULT_HOST.to_owned(),
            revisit: DEFAULT_REVISIT,
        }
    }
}

/// A failure of a `seccopilot` operation; the text says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecCopilotError {
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
    /// A setting or argument is unusable.
    #[error("{0}")]
    Setup(String),
}

impl SecCopilotError {
    /// Whether another run holds the checkpoint store.
    pub fn is_locked(&self) -> bool {
        matches!(self, SecCopilotError::Connector(c) if c.is_locked())
    }
}

impl From<crate::state::StateError> for SecCopilotError {
    fn from(e: crate::state::StateError) -> Self {
        SecCopilotError::Connector(Box::new(ConnectorError::State(e)))
    }
}

impl From<SinkError> for SecCopilotError {
    fn from(e: SinkError) -> Self {
        SecCopilotError::Sink(Box::new(e))
    }
}

impl From<DeliverError<SecCopilotError>> for SecCopilotError {
    fn from(e: DeliverError<SecCopilotError>) -> Self {
        match e {
            DeliverError::Encode(m) => {
                SecCopilotError::Setup(format!("cannot encode a record: {m}"))
            }
            DeliverError::Sink(e) => e.into(),
            DeliverError::Commit(e) => e,
        }
    }
}

fn graph_fix(e: &graph_client::Error) -> String {
    let fix = match e.status() {
        Some(401) => {
            "the token was refused: check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or certificate"
        }
        Some(403) => {
            "grant the app the Microsoft Graph permission SecurityCopilotWorkspaces.ReadWrite.All (ask) or SecurityCopilotWorkspaces.Read.All (ingest, plugins) with admin consent; a signed-in user also needs a Security Copilot role (Contributor or Owner)"
        }
        Some(429) => {
            "Security Copilot allows 600 calls per 60 seconds per connection: lower --rate-limit or run less often"
        }
        _ => match e {
            graph_client::Error::UnsupportedCloud { .. } => {
                "Security Copilot's Graph API exists only in the public cloud"
            }
            _ => return String::new(),
        },
    };
    format!(". Fix: {fix}")
}

fn graph(action: impl Into<String>) -> impl FnOnce(graph_client::Error) -> SecCopilotError {
    let action = action.into();
    move |source| SecCopilotError::Graph { action, source }
}

fn sql(e: rusqlite::Error) -> SecCopilotError {
    SecCopilotError::State(e.to_string())
}

/// What one `ingest` pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecCopilotSummary {
    /// Sessions listed.
    pub sessions: usize,
    /// Sessions not read because they were not modified since the checkpoint.
    pub sessions_unchanged: usize,
    /// Unchanged sessions read again because they are inside the `--revisit` window.
    pub sessions_revisited: usize,
    /// Reads (one request each, unless paged) spent on revisited sessions: their prompt
    /// lists and the evaluations of their prompts not yet settled.
    pub revisit_reads: usize,
    /// Prompts read.
    pub prompts: usize,
    /// Finished evaluations read (one record each).
    pub evaluations: usize,
    /// Evaluations not finished yet (delivered by a later pass).
    pub pending: usize,
    /// Records delivered.
    pub records_delivered: usize,
    /// Batches delivered.
    pub batches: usize,
    /// Evaluations skipped because they were delivered before with the same outcome.
    pub already_delivered: usize,
    /// Records the destination can never take (over its limits), reported and skipped.
    pub undeliverable: usize,
    /// Whether the pass stopped early on request.
    pub stopped: bool,
}

impl std::fmt::Display for SecCopilotSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sessions ({} unchanged, {} revisited in {} reads), {} prompts, {} finished evaluations, {} pending, {} records delivered in {} batches, {} already delivered, {} undeliverable{}",
            self.sessions,
            self.sessions_unchanged,
            self.sessions_revisited,
            self.revisit_reads,
            self.prompts,
            self.evaluations,
            self.pending,
            self.records_delivered,
            self.batches,
            self.already_delivered,
            self.undeliverable,
            if self.stopped { " (stopped early)" } else { "" }
        )
    }
}

impl crate::graph_job::IngestSummary for SecCopilotSummary {
    fn undeliverable(&self) -> usize {
        self.undeliverable
    }
}

/// What `ask` got.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AskOutcome {
    /// The session asked in.
    pub session: Session,
    /// The prompt created.
    pub prompt: Prompt,
    /// Its evaluation, finished.
    pub evaluation: Evaluation,
}

impl AskOutcome {
    /// The answer, when Security Copilot gave one.
    pub fn answer(&self) -> Option<&str> {
        self.evaluation.answer()
    }

    /// Why there is no answer: the result type, what it means and what the service said.
    pub fn failure(&self) -> Option<String> {
        if self.answer().is_some() {
            return None;
        }
        let e = &self.evaluation;
        let said = e
            .result
            .as_ref()
            .and_then(|r| r.content.as_deref())
            .filter(|c| !c.trim().is_empty());
        let (what, why) = match &e.result {
            Some(r) => (r.result_type.to_string(), r.result_type.explanation()),
            None if e.is_cancelled == Some(true) => (
                "cancelled".to_owned(),
                "the evaluation was cancelled before it finished",
            ),
            None => (
                e.state.to_string(),
                match e.state {
                    graph_client::EvaluationState::WaitingForInput => {
                        "Security Copilot is waiting for input this API cannot give: continue the session in the Security Copilot portal"
                    }
                    graph_client::EvaluationState::Cancelled => {
                        "the evaluation was cancelled before it finished"
                    }
                    _ => "the evaluation ended without a result",
                },
            ),
        };
        Some(match said {
            Some(s) => format!("{what}: {why}. Security Copilot said: {s}"),
            None => format!("{what}: {why}"),
        })
    }
}

/// What to ask.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AskRequest {
    /// The prompt.
    pub input: PromptInput,
    /// Plugins that must be enabled in the workspace.
    pub plugins: Vec<String>,
    /// An existing session to ask in; a new one otherwise.
    pub session: Option<String>,
    /// How to poll.
    pub poll: PollOptions,
}

impl AskRequest {
    /// Asks `input` in a new session, polling with the defaults.
    pub fn new(input: PromptInput) -> Self {
        Self {
            input,
            plugins: Vec::new(),
            session: None,
            poll: PollOptions::default().deadline(DEFAULT_WAIT),
        }
    }

    /// Requires these plugins.
    #[must_use]
    pub fn plugins(mut self, plugins: Vec<String>) -> Self {
        self.plugins = plugins;
        self
    }

    /// Asks in this session.
    #[must_use]
    pub fn session(mut self, session: Option<String>) -> Self {
        self.session = session;
        self
    }

    /// Polls this way.
    #[must_use]
    pub fn poll(mut self, poll: PollOptions) -> Self {
        self.poll = poll;
        self
    }
}

/// The Security Copilot job.
#[derive(Debug, Clone)]
pub struct SecCopilotJob {
    graph: GraphClient,
    copilot: SecurityCopilot,
    settings: SharedSettings,
    options: SecCopilotOptions,
    records: SecurityCopilotConfig,
    clock: SharedClock,
    since: Duration,
}

impl SecCopilotJob {
    /// Builds the job. `since` is how far the first ingest pass reaches back
    /// ([`DEFAULT_SINCE`] when `None`).
    pub fn new(
        settings: SharedSettings,
        options: SecCopilotOptions,
        since: Option<Duration>,
        credential: SharedCredential,
        clock: SharedClock,
    ) -> Result<Self, SecCopilotError> {
        if options.workspace.trim().is_empty() {
            return Err(SecCopilotError::Setup(
                "--workspace (SECURITY_COPILOT_WORKSPACE) is empty: use `default`".into(),
            ));
        }
        if !(1..=100_000).contains(&options.rate_limit) {
            return Err(SecCopilotError::Setup(
                "--rate-limit (SECURITY_COPILOT_RATE_LIMIT) must be 1 to 100000 calls per minute"
                    .into(),
            ));
        }
        let graph = crate::graph_job::graph_client(
            &settings,
            options.graph_url.as_deref(),
            4,
            credential,
            clock.clone(),
        )
        .map_err(SecCopilotError::Setup)?;
        let copilot = graph
            .security_copilot()
            .workspace(options.workspace.trim())
            .rate_limit(options.rate_limit, Duration::from_secs(60));
        let records = SecurityCopilotConfig::new(settings.akto_account_id.clone(), "0")
            .with_host(options.record_host.clone());
        Ok(Self {
            graph,
            copilot,
            settings,
            options,
            records,
            clock,
            since: since.unwrap_or(DEFAULT_SINCE),
        })
    }

    /// The Security Copilot client.
    pub fn copilot(&self) -> &SecurityCopilot {
        &self.copilot
    }

    /// The checkpoint scope: the Graph root, the workspace and the destination.
    pub fn checkpoint_scope(&self) -> String {
        format!(
            "seccopilot|graph={}|workspace={}|sink={}",
            self.graph.root(),
            self.options.workspace.trim(),
            crate::graph_job::sink_label(&self.settings)
        )
    }

    /// Opens the checkpoint database (taking its lock) and creates the job's tables.
    pub fn open_state(&self) -> Result<StateStore, SecCopilotError> {
        let mut store = StateStore::open(&self.settings.state_path, &self.checkpoint_scope())?;
        store
            .connection()
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS seccopilot_checkpoint (
                     scope TEXT NOT NULL PRIMARY KEY, watermark_unix INTEGER NOT NULL,
                     updated_at TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS seccopilot_settled (
                     scope TEXT NOT NULL, prompt_id TEXT NOT NULL, settled_unix INTEGER NOT NULL,
                     PRIMARY KEY (scope, prompt_id));
                 CREATE TABLE IF NOT EXISTS seccopilot_delivered (
                     scope TEXT NOT NULL, evaluation_id TEXT NOT NULL, version TEXT NOT NULL,
                     delivered_unix INTEGER NOT NULL,
                     PRIMARY KEY (scope, evaluation_id));",
            )
            .map_err(sql)?;
        Ok(store)
    }

    /// The destination the settings name.
    pub async fn sink(&self) -> Result<Box<dyn Sink>, SecCopilotError> {
        crate::graph_job::open_sink(&self.settings, self.clock.clone())
            .await
            .map_err(|e| match e {
                OpenSinkError::Setup(m) => SecCopilotError::Setup(m),
                OpenSinkError::Sink(e) => e.into(),
            })
    }

    /// The workspace's plugins.
    pub async fn plugins(&self) -> Result<Vec<Plugin>, SecCopilotError> {
        self.copilot
            .plugins()
            .try_collect()
            .await
            .map_err(graph("listing the workspace's Security Copilot plugins"))
    }

    /// Checks that every named plugin exists in the workspace and is enabled.
    pub async fn check_plugins(&self, names: &[String]) -> Result<(), SecCopilotError> {
        if names.is_empty() {
            return Ok(());
        }
        let available = self.plugins().await?;
        for name in names {
            match available.iter().find(|p| p.is_named(name)) {
                None => {
                    let known: Vec<&str> = available.iter().map(|p| p.name.as_str()).collect();
                    return Err(SecCopilotError::Setup(format!(
                        "--plugin {name}: workspace `{}` has no such plugin; it has: {}",
                        self.options.workspace.trim(),
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )));
                }
                Some(p) if p.is_enabled == Some(false) => {
                    return Err(SecCopilotError::Setup(format!(
                        "--plugin {name}: the plugin is turned off in workspace `{}`; turn it on in Security Copilot (Sources > Plugins). Graph's prompt API cannot choose plugins per prompt: Security Copilot uses the workspace's enabled ones",
                        self.options.workspace.trim()
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Asks Security Copilot and waits for the outcome, calling `progress` with every
    /// evaluation read.
    pub async fn ask(
        &self,
        request: &AskRequest,
        mut progress: impl FnMut(&Evaluation),
    ) -> Result<AskOutcome, SecCopilotError> {
        self.check_plugins(&request.plugins).await?;
        let session = match &request.session {
            Some(id) => self
                .copilot
                .session(id)
                .await
                .map_err(graph(format!("reading session {id}")))?,
            None => self
                .copilot
                .create_session("copilot-connector seccopilot ask")
                .await
                .map_err(graph("creating a Security Copilot session"))?,
        };
        let (prompt, evaluation) = self
            .copilot
            .run_prompt(&session.id, &request.input, &request.poll, &mut progress)
            .await
            .map_err(|e| match e {
                graph_client::Error::Deadline(d) => SecCopilotError::Setup(format!(
                    "no answer within {}s: the evaluation was still `{}`. Wait longer with --wait, or read the session later (session {})",
                    d.waited().as_secs(),
                    d.last_state(),
                    session.id
                )),
                e => SecCopilotError::Graph {
                    action: "asking Security Copilot".into(),
                    source: e,
                },
            })?;
        Ok(AskOutcome {
            session,
            prompt,
            evaluation,
        })
    }

    fn exchange(&self, session: &Session, prompt: &Prompt, e: &Evaluation) -> Exchange {
        let mut x = Exchange::default();
        x.workspace = self.options.workspace.trim().to_owned();
        x.session_id = session.id.clone();
        x.session_name = session.display_name.clone();
        x.prompt_id = prompt.id.clone();
        x.prompt_type = Some(prompt.prompt_type.to_string());
        x.content = prompt.content.clone();
        x.skill_name = prompt.skill_name.clone();
        x.inputs = prompt.inputs.clone();
        x.prompt_created = prompt.created_date_time;
        x.evaluation_id = e.id.clone();
        x.state = if e.is_cancelled == Some(true) {
            "cancelled".to_owned()
        } else {
            e.state.to_string()
        };
        x.result_type = e.result.as_ref().map(|r| r.result_type.to_string());
        x.result_content = e.result.as_ref().and_then(|r| r.content.clone());
        x.completed = e.completed_date_time;
        x
    }

    /// One pass: reads what is new, delivers it and moves the checkpoint; see the
    /// [module docs](self).
    pub async fn ingest_once(
        &self,
        store: &mut StateStore,
        sink: &dyn Sink,
        stop: StopSignal,
    ) -> Result<SecCopilotSummary, SecCopilotError> {
        let now = self.clock.now();
        let scope = store.scope().to_owned();
        let overlap =
            time::Duration::try_from(self.settings.overlap).unwrap_or(time::Duration::ZERO);
        let since = time::Duration::try_from(self.since).unwrap_or(time::Duration::days(90));
        let after = match checkpoint_of(store, &scope)? {
            Some(w) => w - overlap,
            None => now - since,
        };
        let mut delivered = delivered_of(store, &scope)?;
        let settled = settled_of(store, &scope)?;
        let revisit =
            time::Duration::try_from(self.options.revisit).unwrap_or(time::Duration::ZERO);
        let revisit_from = now - revisit;
        let mut sessions: Vec<Session> = self
            .copilot
            .sessions()
            .try_collect()
            .await
            .map_err(graph("listing Security Copilot sessions"))?;
        sessions.sort_by(|a, b| {
            (a.last_modified_date_time, &a.id).cmp(&(b.last_modified_date_time, &b.id))
        });
        let mut summary = SecCopilotSummary {
            sessions: sessions.len(),
            ..SecCopilotSummary::default()
        };
        // The checkpoint may not pass a session that still has an unfinished evaluation.
        let mut watermark = now;
        let batch_size = self.settings.batch_size.max(1);
        for session in &sessions {
            if stop.is_stopped() {
                summary.stopped = true;
                return Ok(summary);
            }
            // A session without a modification time is always read.
            let changed = session.last_modified_date_time.is_none_or(|m| m >= after);
            // Inside the look-back window an unchanged session is read too: a prompt added to
            // it may not have moved its modification time.
            let recent = revisit > time::Duration::ZERO
                && [session.created_date_time, session.last_modified_date_time]
                    .into_iter()
                    .flatten()
                    .any(|t| t >= revisit_from);
            if !changed && !recent {
                summary.sessions_unchanged += 1;
                continue;
            }
            let revisiting = !changed;
            if revisiting {
                summary.sessions_revisited += 1;
                summary.revisit_reads += 1;
            }
            let prompts: Vec<Prompt> = self
                .copilot
                .prompts(&session.id)
                .try_collect()
                .await
                .map_err(graph(format!(
                    "reading the prompts of session {}",
                    session.id
                )))?;
            summary.prompts += prompts.len();
            let mut fresh: Vec<(Exchange, String)> = Vec::new();
            // Prompts whose evaluations are all finished: settled once delivered.
            let mut settling: Vec<&str> = Vec::new();
            for prompt in &prompts {
                if revisiting && settled.contains(&prompt.id) {
                    continue;
                }
                if revisiting {
                    summary.revisit_reads += 1;
                }
                let evaluations: Vec<Evaluation> = self
                    .copilot
                    .evaluations(&session.id, &prompt.id)
                    .try_collect()
                    .await
                    .map_err(graph(format!(
                        "reading the evaluations of prompt {} in session {}",
                        prompt.id, session.id
                    )))?;
                if !evaluations.is_empty() && evaluations.iter().all(Evaluation::is_terminal) {
                    settling.push(&prompt.id);
                }
                for e in &evaluations {
                    if !e.is_terminal() {
                        summary.pending += 1;
                        let floor = session
                            .last_modified_date_time
                            .or(prompt.created_date_time)
                            .unwrap_or(after)
                            - time::Duration::seconds(1);
                        watermark = watermark.min(floor);
                        continue;
                    }
                    summary.evaluations += 1;
                    let x = self.exchange(session, prompt, e);
                    let version = x.version();
                    if delivered.get(&x.evaluation_id) == Some(&version) {
                        summary.already_delivered += 1;
                        continue;
                    }
                    fresh.push((x, version));
                }
            }
            let done = crate::graph_job::deliver_batches(
                sink,
                batch_size,
                &stop,
                &fresh,
                |(x, _)| {
                    serde_json::value::to_raw_value(&self.records.record(x))
                        .map_err(|e| e.to_string())
                },
                |carried| record_delivered(store, &scope, carried, now),
            )
            .await?;
            for (x, v) in &fresh {
                delivered.insert(x.evaluation_id.clone(), v.clone());
            }
            summary.records_delivered += done.records;
            summary.batches += done.batches;
            summary.undeliverable += done.undeliverable;
            if done.stopped {
                summary.stopped = true;
                return Ok(summary);
            }
            record_settled(store, &scope, &settling, now)?;
        }
        commit_checkpoint(store, &scope, watermark, now)?;
        summary.stopped = stop.is_stopped();
        Ok(summary)
    }
}

fn checkpoint_of(
    store: &mut StateStore,
    scope: &str,
) -> Result<Option<OffsetDateTime>, SecCopilotError> {
    let unix: Option<i64> = store
        .connection()
        .query_row(
            "SELECT watermark_unix FROM seccopilot_checkpoint WHERE scope = ?1",
            params![scope],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    Ok(unix.and_then(|u| OffsetDateTime::from_unix_timestamp(u).ok()))
}

fn settled_of(
    store: &mut StateStore,
    scope: &str,
) -> Result<std::collections::HashSet<String>, SecCopilotError> {
    let conn = store.connection();
    let mut stmt = conn
        .prepare_cached("SELECT prompt_id FROM seccopilot_settled WHERE scope = ?1")
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![scope], |r| r.get::<_, String>(0))
        .map_err(sql)?;
    rows.collect::<Result<_, _>>().map_err(sql)
}

fn record_settled(
    store: &mut StateStore,
    scope: &str,
    prompts: &[&str],
    now: OffsetDateTime,
) -> Result<(), SecCopilotError> {
    if prompts.is_empty() {
        return Ok(());
    }
    let tx = store.connection().transaction().map_err(sql)?;
    {
        let mut up = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO seccopilot_settled (scope, prompt_id, settled_unix)
                 VALUES (?1, ?2, ?3)",
            )
            .map_err(sql)?;
        for p in prompts {
            up.execute(params![scope, p, now.unix_timestamp()])
                .map_err(sql)?;
        }
    }
    tx.commit().map_err(sql)
}

fn delivered_of(
    store: &mut StateStore,
    scope: &str,
) -> Result<HashMap<String, String>, SecCopilotError> {
    let conn = store.connection();
    let mut stmt = conn
        .prepare_cached("SELECT evaluation_id, version FROM seccopilot_delivered WHERE scope = ?1")
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![scope], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(sql)?;
    rows.collect::<Result<HashMap<_, _>, _>>().map_err(sql)
}

fn record_delivered(
    store: &mut StateStore,
    scope: &str,
    carried: &[&(Exchange, String)],
    now: OffsetDateTime,
) -> Result<(), SecCopilotError> {
    let conn = store.connection();
    let tx = conn.transaction().map_err(sql)?;
    {
        let mut up = tx
            .prepare_cached(
                "INSERT INTO seccopilot_delivered (scope, evaluation_id, version, delivered_unix)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope, evaluation_id) DO UPDATE SET version = excluded.version,
                    delivered_unix = excluded.delivered_unix",
            )
            .map_err(sql)?;
        for (x, version) in carried {
            up.execute(params![
                scope,
                x.evaluation_id,
                version,
                now.unix_timestamp()
            ])
            .map_err(sql)?;
        }
    }
    tx.commit().map_err(sql)
}

fn commit_checkpoint(
    store: &mut StateStore,
    scope: &str,
    watermark: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), SecCopilotError> {
    store
        .connection()
        .execute(
            "INSERT INTO seccopilot_checkpoint (scope, watermark_unix, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope) DO UPDATE SET watermark_unix = excluded.watermark_unix,
                updated_at = excluded.updated_at
             WHERE excluded.watermark_unix > seccopilot_checkpoint.watermark_unix",
            params![scope, watermark.unix_timestamp(), now.unix_timestamp().to_string()],
        )
        .map_err(sql)?;
    Ok(())
}

/// The `copilot-connector seccopilot` subcommands.
// The flattened option fields take their help from `SecCopilotOptions`.
#[allow(missing_docs)]
#[derive(Debug, clap::Subcommand)]
pub enum SecCopilotAction {
    /// Ask Security Copilot: prints the answer, with the evaluation's progress on stderr meanwhile.
    Ask {
        /// The question (omit it with --skill to run the skill without text).
        #[arg(value_name = "PROMPT")]
        prompt: Option<String>,
        /// A plugin that must be enabled in the workspace (repeatable).
        #[arg(long = "plugin", value_name = "NAME")]
        plugins: Vec<String>,
        /// Run this skill directly instead of letting Security Copilot choose.
        #[arg(long, value_name = "NAME")]
        skill: Option<String>,
        /// A skill input, key=value (repeatable; needs --skill).
        #[arg(long = "input", value_name = "KEY=VALUE", requires = "skill")]
        inputs: Vec<String>,
        /// Ask in this existing session instead of a new one.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// How long to wait for the answer (e.g. 90s, 5m).
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_wait)]
        wait: Duration,
        #[command(flatten)]
        options: SecCopilotOptions,
    },
    /// Deliver every prompt and its result as pairs: one pass (--once) or every DURATION (--every 5m).
    Ingest {
        /// Run one pass; the exit status says whether everything was delivered.
        #[arg(long, conflicts_with = "every")]
        once: bool,
        /// Run a pass every DURATION (e.g. 5m) until Ctrl-C or SIGTERM.
        #[arg(long, value_name = "DURATION", value_parser = parse_every)]
        every: Option<Duration>,
        #[command(flatten)]
        options: SecCopilotOptions,
    },
    /// List the workspace's plugins and whether each is enabled.
    Plugins {
        #[command(flatten)]
        options: SecCopilotOptions,
    },
}

fn parse_every(s: &str) -> Result<Duration, String> {
    let d = crate::config::parse_duration(s)?;
    if d.is_zero() || d > Duration::from_secs(30 * 86_400) {
        return Err("the interval must be from 1s to 30d".into());
    }
    Ok(d)
}

fn parse_revisit(s: &str) -> Result<Duration, String> {
    let d = crate::config::parse_duration(s)?;
    if d > Duration::from_secs(90 * 86_400) {
        return Err("the look-back must be from 0s to 90d".into());
    }
    Ok(d)
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    let d = crate::config::parse_duration(s)?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err("the wait must be from 1s to 1h".into());
    }
    Ok(d)
}

/// The directory under the user's cache directory that holds the connector's token cache.
pub const TOKEN_CACHE_APP_DIR: &str = "copilot-connector";

/// The token cache file `--token-cache` names, the default one when it names none, or `None`
/// for `none` (or when no cache directory can be found, which is said on stderr).
pub fn token_cache_file(
    setting: Option<&str>,
    env: &entra_auth::Env,
) -> Option<entra_auth::TokenCacheFile> {
    match setting.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        Some(v) if !v.is_empty() => Some(entra_auth::TokenCacheFile::new(v)),
        _ => match entra_auth::TokenCacheFile::in_user_cache_dir(TOKEN_CACHE_APP_DIR, env) {
            Ok(file) => Some(file),
            Err(e) => {
                note(&format!(
                    "seccopilot: {e}; the sign-in is kept for this run only (set --token-cache FILE)"
                ));
                None
            }
        },
    }
}

/// A person's sign-in with a device code for the settings' app (a public client) and tenant
/// (`organizations` when none is set); the instructions go to stderr. The sign-in is kept in
/// the token cache file (see [`token_cache_file`]), so the next run does not ask again.
fn device_code_credential(
    settings: &SharedSettings,
    token_cache: Option<&str>,
    clock: SharedClock,
) -> Result<SharedCredential, String> {
    let client_id = settings.client_id.ok_or(
        "--device-code needs the app's client id: set AZURE_CLIENT_ID (an app registration that allows public client flows)",
    )?;
    let options = entra_auth::CredentialOptions::default()
        .with_authority_host(settings.authority_host.clone())
        .with_clock(clock);
    let credential = entra_auth::DeviceCodeCredential::new(
        settings
            .tenant_id
            .clone()
            .unwrap_or_else(|| "organizations".to_owned()),
        client_id.to_string(),
        |prompt| {
            if let entra_auth::SignInReason::Refused { .. } = prompt.reason() {
                note(&format!("seccopilot: {}; sign in again.", prompt.reason()));
            }
            note(&format!("seccopilot: {}", prompt.message()));
        },
        options,
    )
    .map_err(|e| e.to_string())?;
    let credential = match token_cache_file(token_cache, &entra_auth::Env::process()) {
        Some(file) => credential.with_token_cache_file(file),
        None => credential,
    };
    Ok(std::sync::Arc::new(credential))
}

/// The prompt `ask`'s arguments describe.
pub fn prompt_input(
    prompt: Option<&str>,
    skill: Option<&str>,
    inputs: &[String],
) -> Result<PromptInput, SecCopilotError> {
    match (prompt, skill) {
        (_, Some(skill)) => {
            let mut input = PromptInput::skill(skill);
            for pair in inputs {
                let (k, v) = PromptInput::parse_input(pair)
                    .map_err(|e| SecCopilotError::Setup(format!("--input: {e}")))?;
                input = input.input(k, v);
            }
            if let (PromptInput::Skill { content, .. }, Some(p)) = (&mut input, prompt) {
                *content = Some(p.to_owned());
            }
            Ok(input)
        }
        (Some(p), None) if !p.trim().is_empty() => Ok(PromptInput::text(p)),
        _ => Err(SecCopilotError::Setup(
            "say what to ask: `seccopilot ask \"QUESTION\"`, or `--skill NAME --input key=value`"
                .into(),
        )),
    }
}

const EXIT_OK: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_CONFIG: u8 = 2;
const EXIT_LOCKED: u8 = 3;

use crate::graph_job::say;

fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn complain(line: &str) {
    note(&format!("error: {line}"));
}

fn exit_for(e: &SecCopilotError) -> u8 {
    match e {
        e if e.is_locked() => EXIT_LOCKED,
        SecCopilotError::Setup(_) => EXIT_CONFIG,
        _ => EXIT_FAILED,
    }
}

/// Runs a `seccopilot` subcommand with the merged settings `raw`; returns the exit status
/// (0 success, 1 failed or not answered, 2 configuration, 3 locked).
pub async fn run_cli(
    action: &SecCopilotAction,
    raw: Result<crate::config::RawConfig, crate::config::ConfigError>,
    json: bool,
    stop: StopSignal,
) -> u8 {
    let needs = match action {
        SecCopilotAction::Ingest { .. } => crate::config::Needs::Ingest,
        _ => crate::config::Needs::Dataverse,
    };
    let device_code = match action {
        SecCopilotAction::Ask { options, .. }
        | SecCopilotAction::Ingest { options, .. }
        | SecCopilotAction::Plugins { options } => options.device_code,
    };
    let (settings, since) = match raw.and_then(|raw| {
        let settings = if device_code {
            SharedSettings::from_raw_for_person(&raw, needs)?
        } else {
            SharedSettings::from_raw(&raw, needs)?
        };
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
        SecCopilotAction::Ask { options, .. }
        | SecCopilotAction::Ingest { options, .. }
        | SecCopilotAction::Plugins { options } => options.clone(),
    };
    let clock = client_core::system_clock();
    let credential = if options.device_code {
        device_code_credential(&settings, options.token_cache.as_deref(), clock.clone())
    } else {
        crate::credential::from_parts(
            &settings.credential,
            settings.tenant_id.as_deref(),
            settings.client_id,
            &settings.authority_host,
            clock.clone(),
        )
        .map_err(|e| e.to_string())
    };
    let credential = match credential {
        Ok(c) => c,
        Err(e) => {
            complain(&e);
            return EXIT_CONFIG;
        }
    };
    let job = match SecCopilotJob::new(settings, options, since, credential, clock.clone()) {
        Ok(j) => j,
        Err(e) => {
            complain(&e.to_string());
            return EXIT_CONFIG;
        }
    };
    match action {
        SecCopilotAction::Plugins { .. } => match job.plugins().await {
            Ok(plugins) => {
                if json {
                    say(&serde_json::to_string(&plugins).unwrap_or_default());
                } else {
                    for p in &plugins {
                        say(&format!(
                            "{}\t{}\t{}",
                            p.name,
                            p.display_name.as_deref().unwrap_or("-"),
                            match p.is_enabled {
                                Some(true) => "enabled",
                                Some(false) => "disabled",
                                None => "-",
                            }
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
        SecCopilotAction::Ask {
            prompt,
            plugins,
            skill,
            inputs,
            session,
            wait,
            ..
        } => {
            let input = match prompt_input(prompt.as_deref(), skill.as_deref(), inputs) {
                Ok(i) => i,
                Err(e) => {
                    complain(&e.to_string());
                    return EXIT_CONFIG;
                }
            };
            let request = AskRequest::new(input)
                .plugins(plugins.clone())
                .session(session.clone())
                .poll(PollOptions::default().deadline(*wait));
            let mut last: Option<String> = None;
            let r = job
                .ask(&request, |e| {
                    let state = e.state.to_string();
                    if last.as_deref() != Some(state.as_str()) {
                        if !json {
                            note(&format!("seccopilot: evaluation {} is {state}", e.id));
                        }
                        last = Some(state);
                    }
                })
                .await;
            match r {
                Ok(outcome) => {
                    if json {
                        say(&serde_json::to_string(&outcome).unwrap_or_default());
                    } else if let Some(answer) = outcome.answer() {
                        say(answer);
                    }
                    match outcome.failure() {
                        None => EXIT_OK,
                        Some(why) => {
                            complain(&format!("Security Copilot did not answer: {why}"));
                            EXIT_FAILED
                        }
                    }
                }
                Err(e) => {
                    complain(&e.to_string());
                    match e {
                        // A deadline is not a configuration problem.
                        SecCopilotError::Setup(m) if m.starts_with("no answer within") => {
                            EXIT_FAILED
                        }
                        e => exit_for(&e),
                    }
                }
            }
        }
        SecCopilotAction::Ingest { once, every, .. } => {
            let cmd = crate::graph_job::IngestCommand {
                command: "seccopilot",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_inputs_from_arguments() {
        assert_eq!(
            prompt_input(Some("hi"), None, &[]).ok(),
            Some(PromptInput::text("hi"))
        );
        let skill = prompt_input(None, Some("GetIncident"), &["id=42".into()]).ok();
        assert_eq!(
            skill,
            Some(PromptInput::skill("GetIncident").input("id", "42"))
        );
        assert!(prompt_input(None, None, &[]).is_err());
        assert!(prompt_input(Some("  "), None, &[]).is_err());
        assert!(prompt_input(None, Some("S"), &["novalue".into()]).is_err());
    }
}

//! The connector: Dataverse reads, record building and delivery, wired from a [`Config`].

use crate::akto::{RecordHosts, agent_fingerprint, inventory_record};
use crate::config::{Config, SinkConfig};
use crate::ingest::{IngestError, Pass, PassSummary, ProgressFn, SiblingSource, StopSignal};
use crate::sink::{AktoSink, JsonLinesSink, Sink, SinkError};
use crate::state::{StateError, StateStore};
use crate::timefmt::rfc3339;
use client_core::{Pipeline, RetryBudget, RetryPolicy, SharedClock, SharedCredential};
use dataverse_client::{DataverseClient, Filter};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use transcript_model::{AktoConfig, BotIdentity};
use uuid::Uuid;

/// The columns read from `conversationtranscripts`.
pub const TRANSCRIPT_COLUMNS: &[&str] = &[
    "conversationtranscriptid",
    "name",
    "content",
    "metadata",
    "conversationstarttime",
    "createdon",
    "modifiedon",
    "schematype",
    "schemaversion",
    "_bot_conversationtranscriptid_value",
    "versionnumber",
];

/// The columns read from `bots`: botcomponent-schema's row type declares them.
pub const BOT_COLUMNS: &[&str] = botcomponent_schema::BotRow::COLUMNS;

/// A failure of a connector operation; the text says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The credential could not be built from the configuration.
    #[error("cannot set up the {kind} credential: {source}{}", hint_suffix(.source))]
    Credential {
        /// Which credential.
        kind: &'static str,
        /// The cause.
        #[source]
        source: client_core::CredentialError,
    },
    /// A Dataverse request failed.
    #[error("{action} failed: {source}{}", dataverse_fix(.source))]
    Dataverse {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: dataverse_client::Error,
    },
    /// The checkpoint store failed or is held by another run.
    #[error(transparent)]
    State(#[from] StateError),
    /// The pass stopped.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The destination could not be set up.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Akto's user map cannot be read, or the user-agent map cannot be written.
    #[error(transparent)]
    Akto(#[from] crate::akto::AktoFileError),
    /// Something else in the setup is wrong.
    #[error("{0}")]
    Setup(String),
    /// `--strict`: configured bot ids match no agent of the environment.
    #[error(
        "{} of the bot id(s) in COPILOT_BOT_ID match no agent of this environment: {}. Fix: list the agents with `copilot-connector agents` and correct COPILOT_BOT_ID (without --strict this is a warning)",
        .ids.len(),
        .ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ")
    )]
    UnknownBots {
        /// The ids that match no agent.
        ids: Vec<Uuid>,
    },
}

impl ConnectorError {
    /// Whether the checkpoint store is held by another run.
    pub fn is_locked(&self) -> bool {
        matches!(self, ConnectorError::State(e) if e.is_locked())
    }

    /// Whether the configuration must change before a run can succeed (exit status 2).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            ConnectorError::UnknownBots { .. }
                | ConnectorError::Akto(crate::akto::AktoFileError::UserMap { .. })
        )
    }

    fn dataverse(action: &'static str) -> impl FnOnce(dataverse_client::Error) -> Self {
        move |source| ConnectorError::Dataverse { action, source }
    }
}

/// Joins an error's text and its fix: `text. Fix: fix`, without a second full stop when the
/// service's own message already ends with one.
pub(crate) fn fix_sentence(text: &str, fix: &str) -> String {
    if text.ends_with('.') {
        format!(" Fix: {fix}")
    } else {
        format!(". Fix: {fix}")
    }
}

fn hint_suffix(e: &client_core::CredentialError) -> String {
    e.hint().map(|h| format!(" ({h})")).unwrap_or_default()
}

/// The fix for a Dataverse failure, as a sentence (" Fix: ..." after `e`'s text), or empty.
pub(crate) fn dataverse_fix(e: &dataverse_client::Error) -> String {
    let fix = match e.status() {
        Some(401) => {
            "the token was refused: check DATAVERSE_ENVIRONMENT_URL is the environment the app user was created in"
        }
        Some(403) => {
            "in the Power Platform admin center, add the app registration as an application user of this environment and give it a security role with Organization-scope read on Copilot (bot) and ConversationTranscript"
        }
        Some(404) => "check DATAVERSE_ENVIRONMENT_URL (the environment was not found)",
        _ => return String::new(),
    };
    fix_sentence(&e.to_string(), fix)
}

/// A Copilot Studio agent (a `bots` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Agent {
    /// `botid`.
    pub id: Uuid,
    /// `name`: the display name.
    pub name: String,
    /// `schemaname`.
    pub schema_name: String,
    /// `publishedon` (RFC 3339), if ever published.
    pub published_on: Option<String>,
    /// `statecode`: `Active` or `Inactive` (or the number when unknown).
    pub state: String,
    /// `statuscode`: `Provisioned`, `Deprovisioned`, ... (or the number when unknown).
    pub status: String,
}

impl Agent {
    /// Decodes a `bots` row; `None` without a valid `botid`.
    pub fn from_row(row: &Value) -> Option<Agent> {
        let id = row
            .get("botid")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())?;
        let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
        let code = |k: &str| row.get(k).and_then(Value::as_i64);
        let state = match code("statecode") {
            Some(0) => "Active".to_owned(),
            Some(1) => "Inactive".to_owned(),
            Some(n) => n.to_string(),
            None => String::new(),
        };
        let status = match code("statuscode") {
            Some(1) => "Provisioned".to_owned(),
            Some(2) => "Deprovisioned".to_owned(),
            Some(3) => "Provisioning".to_owned(),
            Some(4) => "ProvisionFailed".to_owned(),
            Some(5) => "MissingLicense".to_owned(),
            Some(n) => n.to_string(),
            None => String::new(),
        };
        let schema_name = text("schemaname").unwrap_or_default();
        Some(Agent {
            id,
            name: text("name").unwrap_or_else(|| schema_name.clone()),
            schema_name,
            published_on: text("publishedon"),
            state,
            status,
        })
    }
}

/// The connector: reads agents and transcripts from one Dataverse environment and delivers
/// Akto records to a [`Sink`].
#[derive(Debug, Clone)]
pub struct Connector {
    config: Config,
    client: DataverseClient,
    clock: SharedClock,
    retry: RetryPolicy,
}

/// Builds a [`Connector`].
#[derive(Debug)]
pub struct ConnectorBuilder {
    config: Config,
    credential: SharedCredential,
    clock: SharedClock,
    retry: Option<RetryPolicy>,
}

impl ConnectorBuilder {
    /// The clock for backoff and bookkeeping (tests use `client_core::ManualClock`).
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The retry policy of Dataverse requests and deliveries (default: 8 attempts within
    /// 10 minutes, honouring `Retry-After`).
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Builds the connector.
    pub fn build(self) -> Result<Connector, ConnectorError> {
        let retry = self.retry.unwrap_or_else(default_retry);
        let client =
            DataverseClient::builder(self.config.environment_url.as_str(), self.credential)
                .and_then(|b| {
                    b.page_size(self.config.page_size)
                        .retry_policy(retry.clone())
                        .retry_budget(retry_budget())
                        .clock(self.clock.clone())
                        .build()
                })
                .map_err(ConnectorError::dataverse("setting up the Dataverse client"))?;
        Ok(Connector {
            config: self.config,
            client,
            clock: self.clock,
            retry,
        })
    }
}

/// Retries earn back one token per success: a flaky service (even a third of requests
/// failing) is ridden out, while one that is down drains the budget and fails fast.
fn retry_budget() -> RetryBudget {
    RetryBudget::new(100, 1.0)
}

fn default_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(8)
        .with_max_elapsed(Duration::from_secs(600))
}

impl Connector {
    /// A builder for a connector with `config`, signing in with `credential`
    /// (see [`crate::credential::from_config`]).
    pub fn builder(config: Config, credential: SharedCredential) -> ConnectorBuilder {
        ConnectorBuilder {
            config,
            credential,
            clock: client_core::system_clock(),
            retry: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The Dataverse client.
    pub fn dataverse(&self) -> &DataverseClient {
        &self.client
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The environment's agents, ordered by name.
    pub async fn agents(&self) -> Result<Vec<Agent>, ConnectorError> {
        let query = self
            .client
            .query("bots")
            .select(BOT_COLUMNS.iter().copied())
            .order_by("name", dataverse_client::Order::Asc);
        let rows: Vec<Value> = self
            .client
            .rows::<Value>(&query)
            .try_collect()
            .await
            .map_err(ConnectorError::dataverse("reading the agents (bots)"))?;
        Ok(rows.iter().filter_map(Agent::from_row).collect())
    }

    /// The destination named by the configuration.
    pub async fn sink_from_config(&self) -> Result<Box<dyn Sink>, ConnectorError> {
        Ok(match &self.config.sink {
            SinkConfig::Akto { url, token } => Box::new(self.akto_sink(url, token.clone())?),
            SinkConfig::JsonLinesFile(path) => Box::new(JsonLinesSink::file(path).await?),
            SinkConfig::Stdout => Box::new(JsonLinesSink::stdout()),
        })
    }

    /// An Akto sink sharing this connector's clock and retry policy.
    pub fn akto_sink(
        &self,
        url: &url::Url,
        token: Option<client_core::Secret>,
    ) -> Result<AktoSink, ConnectorError> {
        self.akto_sink_with(url, token, self.retry.clone())
    }

    /// An Akto sink with its own retry policy (e.g. a short one for a reachability check).
    pub fn akto_sink_with(
        &self,
        url: &url::Url,
        token: Option<client_core::Secret>,
        retry: RetryPolicy,
    ) -> Result<AktoSink, ConnectorError> {
        let pipeline = Pipeline::builder()
            .user_agent_prefix(concat!("copilot-connector/", env!("CARGO_PKG_VERSION")))
            .retry_policy(retry)
            .retry_budget(retry_budget())
            .connect_timeout(Duration::from_secs(10))
            .clock(self.clock.clone())
            .build()
            .map_err(|e| ConnectorError::Setup(format!("cannot set up HTTP: {e}")))?;
        AktoSink::new(url, token, pipeline)
            .map(|s| s.with_deadline(self.config.delivery_timeout))
            .map_err(|e| {
                ConnectorError::Setup(format!(
                    "DATA_INGESTION_SERVICE_URL cannot take the ingestion path: {e}"
                ))
            })
    }

    /// Opens the checkpoint store of this configuration (refused while another run holds it).
    pub fn open_state(&self) -> Result<StateStore, ConnectorError> {
        let mut store = StateStore::open(&self.config.state_path, &self.config.checkpoint_scope())?;
        if let Some(legacy) = self.config.legacy_checkpoint_scope() {
            store.adopt_scope(&legacy)?;
        }
        Ok(store)
    }

    /// The record settings: Akto account, host, environment id and the agents' names.
    async fn akto_config(&self) -> Result<(AktoConfig, Vec<Agent>), ConnectorError> {
        let environment_id = match &self.config.environment_id {
            Some(id) => id.clone(),
            None => self
                .client
                .who_am_i()
                .await
                .map_err(ConnectorError::dataverse("WhoAmI"))?
                .organization_id
                .to_string(),
        };
        let mut akto = AktoConfig::new(self.config.akto_account_id.clone(), "0", environment_id)
            .with_host(self.config.record_host.clone());
        let agents = self.agents().await?;
        self.check_bot_ids(&agents)?;
        for agent in &agents {
            akto.add_bot(
                &agent.id.to_string(),
                BotIdentity::new(agent.name.clone(), agent.schema_name.clone()),
            );
        }
        Ok((akto, agents))
    }

    /// The record hosts of this pass: the configured shape, with Akto's user map (re-read
    /// every pass, as Akto rewrites it between runs).
    fn record_hosts(&self) -> Result<RecordHosts, ConnectorError> {
        let users = match &self.config.user_map_file {
            Some(path) => crate::akto::read_user_map(path)?,
            None => Default::default(),
        };
        Ok(RecordHosts::new(self.config.host_shape, users))
    }

    /// Sends one inventory record per agent that is new or changed since its last accepted
    /// record (all of them on the first pass), so Akto lists agents without traffic. Returns
    /// the records accepted and, if the destination refused them as malformed or too large,
    /// why: such a refusal never holds back the conversations, and what was not accepted is
    /// sent again next pass. A destination that cannot be reached fails the pass.
    async fn send_inventory(
        &self,
        store: &mut StateStore,
        sink: &dyn Sink,
        agents: &[Agent],
        environment_id: &str,
    ) -> Result<(u64, Option<String>), ConnectorError> {
        let known = store.agent_fingerprints()?;
        let changed: Vec<(&Agent, String)> = agents
            .iter()
            .filter(|a| self.config.bot_ids.is_empty() || self.config.bot_ids.contains(&a.id))
            .map(|a| (a, agent_fingerprint(a)))
            .filter(|(a, fp)| known.get(&a.id.to_string()) != Some(fp))
            .collect();
        let now = self.clock.now();
        let mut sent = 0;
        for chunk in changed.chunks(self.config.batch_size.max(1)) {
            let records = chunk
                .iter()
                .map(|(a, _)| {
                    inventory_record(
                        a,
                        self.config.host_shape,
                        &self.config.record_host,
                        &self.config.akto_account_id,
                        environment_id,
                        now,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    ConnectorError::Setup(format!("cannot encode an agent record: {e}"))
                })?;
            match sink.deliver(&records).await {
                Ok(()) => {}
                // Refused as malformed or too large: report it, deliver the conversations.
                Err(e) if e.refuses_content() => {
                    tracing::warn!(error = %e, "agent inventory records were refused; they are sent again next pass");
                    return Ok((sent, Some(e.to_string())));
                }
                // The destination is down: the conversations could not go either.
                Err(e) => return Err(IngestError::Sink(e).into()),
            }
            let done: Vec<(String, String)> = chunk
                .iter()
                .map(|(a, fp)| (a.id.to_string(), fp.clone()))
                .collect();
            store.commit_agents(&done, now)?;
            sent += chunk.len() as u64;
        }
        if sent > 0 {
            tracing::info!(agents = sent, "agent inventory records delivered");
        }
        Ok((sent, None))
    }

    /// Warns about configured bot ids that match no agent (their transcripts can never be
    /// read, which usually means a typo or the wrong environment); an error with `strict`.
    fn check_bot_ids(&self, agents: &[Agent]) -> Result<(), ConnectorError> {
        let ids: Vec<Uuid> = self
            .config
            .bot_ids
            .iter()
            .filter(|b| !agents.iter().any(|a| a.id == **b))
            .copied()
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let e = ConnectorError::UnknownBots { ids };
        if self.config.strict {
            return Err(e);
        }
        tracing::warn!("{e}");
        Ok(())
    }

    /// The transcript rows modified since `since` (all when `None`), for the configured bots,
    /// in `modifiedon` then id order, read ahead by one page while the caller works.
    pub fn transcripts_since(
        &self,
        since: Option<OffsetDateTime>,
    ) -> impl Stream<Item = Result<Value, dataverse_client::Error>> + Send + 'static {
        let mut query = self
            .client
            .query("conversationtranscripts")
            .select(TRANSCRIPT_COLUMNS.iter().copied())
            .order_by("modifiedon", dataverse_client::Order::Asc)
            .order_by("conversationtranscriptid", dataverse_client::Order::Asc)
            .page_size(self.config.page_size);
        if let Some(since) = since {
            query = query.filter(Filter::ge("modifiedon", since));
        }
        if !self.config.bot_ids.is_empty() {
            query = query.filter(Filter::in_(
                "_bot_conversationtranscriptid_value",
                self.config.bot_ids.iter().copied(),
            ));
        }
        let rows = self.client.rows::<Value>(&query);
        // Read the next page while the current batch is being delivered: one page of
        // read-ahead keeps memory bounded and hides Dataverse latency.
        let capacity = usize::try_from(self.config.page_size).unwrap_or(100).max(1);
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        tokio::spawn(async move {
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = rows.next().await {
                let failed = row.is_err();
                if tx.send(row).await.is_err() || failed {
                    break;
                }
            }
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) })
    }

    /// One ingestion pass: reads everything modified since the checkpoint (minus the overlap),
    /// delivers what was not delivered yet, and advances the checkpoint after each accepted
    /// batch.
    pub async fn ingest_once(
        &self,
        store: &mut StateStore,
        sink: &dyn Sink,
        stop: StopSignal,
        progress: Option<ProgressFn>,
    ) -> Result<PassSummary, ConnectorError> {
        let (akto, agents) = self.akto_config().await?;
        let hosts = self.record_hosts()?;
        let (agent_records, inventory_error) = self
            .send_inventory(store, sink, &agents, akto.environment_id())
            .await?;
        let overlap = time::Duration::try_from(self.config.overlap).unwrap_or(time::Duration::ZERO);
        // Checked: a window reaching before the earliest representable time starts at the
        // beginning instead of panicking (settings are bounded, a stored watermark may not be).
        let since = match store.watermark()? {
            Some(w) => w.checked_sub(overlap),
            None => self
                .config
                .since
                .and_then(|d| time::Duration::try_from(d).ok())
                .and_then(|d| self.clock.now().checked_sub(d)),
        };
        tracing::info!(
            since = since.map(rfc3339).unwrap_or_else(|| "the beginning".into()),
            bots = self.config.bot_ids.len(),
            destination = %sink.describe(),
            "ingestion pass starting"
        );
        let mut pass = Pass::new(store, sink, &akto)
            .hosts(&hosts)
            .siblings(self)
            .batch_size(self.config.batch_size)
            .in_flight(self.config.in_flight)
            .split_settle(self.config.split_settle)
            .stop_signal(stop)
            .clock(self.clock.clone());
        if let Some(p) = progress {
            pass = pass.progress(p);
        }
        let mut summary = pass.run(self.transcripts_since(since)).await?;
        summary.agent_records_delivered = agent_records;
        summary.agent_inventory_error = inventory_error;
        if let Some(path) = &self.config.user_agent_map_output_file {
            hosts.write_user_agent_map(path)?;
        }
        // Bookkeeping older than two overlaps before the window can never be read again.
        if let Some(since) = since {
            let removed = match since.checked_sub(overlap) {
                Some(before) => store.prune(before)?,
                None => 0,
            };
            tracing::debug!(removed, "pruned old delivery bookkeeping");
        }
        let keep =
            time::Duration::try_from(crate::state::PAIR_RETENTION).unwrap_or(time::Duration::ZERO);
        if let Some(before) = self.clock.now().checked_sub(keep) {
            let removed = store.prune_pairs(before)?;
            tracing::debug!(
                removed,
                "forgot the identities of pairs whose rows no longer change"
            );
        }
        tracing::info!(
            records = summary.records_delivered,
            transcripts = summary.transcripts_delivered,
            unparseable = summary.transcripts_unparseable.len(),
            "ingestion pass finished"
        );
        Ok(summary)
    }
}

#[async_trait::async_trait]
impl SiblingSource for Connector {
    /// One query by `name` (every session of the conversation; the pass keeps the one it
    /// needs).
    async fn rows_named(&self, name: &str) -> Result<Vec<Value>, IngestError> {
        let query = self
            .client
            .query("conversationtranscripts")
            .select(TRANSCRIPT_COLUMNS.iter().copied())
            .filter(Filter::eq("name", name))
            .page_size(self.config.page_size);
        self.client
            .rows::<Value>(&query)
            .try_collect()
            .await
            .map_err(IngestError::source_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(message: &str, request_id: Option<&str>) -> ConnectorError {
        let mut headers = client_core::http::HeaderMap::new();
        if let Some(id) = request_id {
            headers.insert("x-ms-service-request-id", id.parse().unwrap());
        }
        let body = serde_json::json!({"error": {"code": "0x80040220", "message": message}});
        let service = client_core::ServiceError::from_parts(
            403,
            "GET",
            "https://org.crm.dynamics.com/api/data/v9.2/bots",
            headers,
            body.to_string().as_bytes(),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        ConnectorError::Dataverse {
            action: "listing agents",
            source: client_core::Error::from(service).into(),
        }
    }

    #[test]
    fn the_fix_follows_the_service_message_with_one_full_stop() {
        // A message that ends with its own full stop gets no second one.
        let text = forbidden("Principal user is missing prvReadbot privilege.", None).to_string();
        assert!(
            text.contains("privilege. Fix: in the Power Platform admin center"),
            "{text}"
        );
        assert!(!text.contains(".."), "{text}");
        // Otherwise the fix starts a new sentence.
        let text = forbidden("Forbidden", Some("abc-123")).to_string();
        assert!(
            text.contains("(request id abc-123). Fix: in the Power Platform"),
            "{text}"
        );
        let text = forbidden("Forbidden", None).to_string();
        assert!(text.contains(": Forbidden. Fix: "), "{text}");
    }

    #[test]
    fn agents_decode_with_labels() {
        let row = serde_json::json!({
            "botid": "4B57A07A-0000-0000-0000-000000000001",
            "name": "HR helper",
            "schemaname": "cr3e5_hr",
            "publishedon": "2026-01-01T00:00:00Z",
            "statecode": 0,
            "statuscode": 5
        });
        let a = Agent::from_row(&row).unwrap();
        assert_eq!(a.name, "HR helper");
        assert_eq!(a.state, "Active");
        assert_eq!(a.status, "MissingLicense");
        assert!(Agent::from_row(&serde_json::json!({"name": "x"})).is_none());
    }
}

//! Starting and stopping the emulator: one loopback port serving Entra, Dataverse, the Akto
//! ingestion endpoint and the `/_emulator` admin API.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::akto::Ingestion;
use crate::clock::{SharedClock, SystemClock};
use crate::dataverse::{Dataverse, DataverseConfig, DataverseError};
use crate::entra::{AppRegistration, ClientSecret, DataverseAccess, Entra};
use crate::environments::{Discrepancy, EnvironmentInfo};
use crate::faults::{FaultConfig, Faults, Service};
use crate::generate::{Row, SyntheticTenant, TenantSpec};
use crate::inventory::{Inventory, InventoryConfig};
use crate::throttle::{ServiceProtection, ServiceProtectionLimits};

/// Why the emulator could not start or a run-time change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source} (is the port already in use?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The Dataverse store refused seed data.
    #[error("the Dataverse store refused the tenant's rows: {0}")]
    Dataverse(#[from] DataverseError),
    /// A fixture file could not be read.
    #[error("cannot read fixture file {path}: {source}")]
    FixtureRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A fixture file is not a JSON array of row objects (or `{"value":[...]}`).
    #[error("fixture file {path} is not a JSON array of rows: {reason}")]
    FixtureFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A fault config was refused.
    #[error("invalid fault config: {0}")]
    InvalidFaults(String),
    /// The tenant cannot be generated as asked.
    #[error("invalid tenant: {0}")]
    InvalidSpec(String),
    /// A transcript row to add has no valid `conversationtranscriptid`.
    #[error("transcript row {index} needs a conversationtranscriptid GUID")]
    MissingTranscriptId {
        /// Position of the row in the request.
        index: usize,
    },
}

/// The connector app's credentials, as a client would be configured.
#[derive(Clone)]
pub struct Credentials {
    /// Directory (tenant) ID.
    pub tenant_id: Uuid,
    /// Application (client) ID.
    pub client_id: Uuid,
    /// Client secret value.
    pub client_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Entry point: `Emulator::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct Emulator;

impl Emulator {
    /// A builder with defaults: seed 7, 20 agents, 500 transcripts, ephemeral port on
    /// 127.0.0.1, 3599 s tokens, documented service protection limits, no faults.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// Configures and starts an emulator.
#[must_use]
pub struct EmulatorBuilder {
    seed: u64,
    agents: usize,
    transcripts: usize,
    history_days: u32,
    anchor: Option<OffsetDateTime>,
    host: IpAddr,
    port: u16,
    token_lifetime: Duration,
    limits: ServiceProtectionLimits,
    faults: FaultConfig,
    ingestion_token: Option<String>,
    clock: Option<SharedClock>,
    connector_access: DataverseAccess,
    apps: Vec<AppRegistration>,
    fixture_rows: Vec<Row>,
    fixture_files: Vec<PathBuf>,
    resources: Vec<String>,
    m365: crate::graph::M365Spec,
    graph_roles: Vec<String>,
    environments: usize,
    min_components_per_agent: usize,
    inventory: InventoryConfig,
    security_copilot: crate::security_copilot::SecurityCopilotSpec,
}

impl fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("seed", &self.seed)
            .field("agents", &self.agents)
            .field("transcripts", &self.transcripts)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            seed: 7,
            agents: 20,
            transcripts: 500,
            history_days: 30,
            anchor: None,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            token_lifetime: Duration::from_secs(3599),
            limits: ServiceProtectionLimits::default(),
            faults: FaultConfig::default(),
            ingestion_token: None,
            clock: None,
            connector_access: DataverseAccess::LeastPrivilege,
            apps: Vec::new(),
            fixture_rows: Vec::new(),
            fixture_files: Vec::new(),
            resources: Vec::new(),
            m365: crate::graph::M365Spec::default(),
            graph_roles: DEFAULT_GRAPH_ROLES
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            environments: 1,
            min_components_per_agent: 0,
            inventory: InventoryConfig::default(),
            security_copilot: crate::security_copilot::SecurityCopilotSpec::default(),
        }
    }
}

impl EmulatorBuilder {
    /// The seed every generated value derives from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Number of generated agents.
    pub fn agents(mut self, agents: usize) -> Self {
        self.agents = agents;
        self
    }

    /// Pads every generated agent with numbered copies of its topics up to `n` components
    /// (default 0: none added), e.g. 20 for a tenant of realistic size.
    pub fn min_components_per_agent(mut self, n: usize) -> Self {
        self.min_components_per_agent = n;
        self
    }

    /// Number of generated transcripts.
    pub fn transcripts(mut self, transcripts: usize) -> Self {
        self.transcripts = transcripts;
        self
    }

    /// Days of transcript history before the anchor (default 30).
    pub fn history_days(mut self, days: u32) -> Self {
        self.history_days = days;
        self
    }

    /// The time generated history ends at. Default: today 00:00 UTC by the clock, so the same
    /// seed gives the same rows all day; set it for rows that never change.
    pub fn anchor(mut self, anchor: OffsetDateTime) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// The port to listen on (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Lifetime of issued access tokens (`expires_in`).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Service protection limits.
    pub fn service_protection(mut self, limits: ServiceProtectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Faults from the start.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Requires this raw token in the ingestion endpoint's `authorization` header.
    pub fn ingestion_token(mut self, token: impl Into<String>) -> Self {
        self.ingestion_token = Some(token.into());
        self
    }

    /// The time source (tests pass a [`crate::clock::ManualClock`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// What the generated connector app's application user may do (default least privilege;
    /// [`DataverseAccess::None`] makes Dataverse answer 403).
    pub fn connector_access(mut self, access: DataverseAccess) -> Self {
        self.connector_access = access;
        self
    }

    /// Registers another app (with its own credentials and Dataverse access).
    pub fn app(mut self, app: AppRegistration) -> Self {
        self.apps.push(app);
        self
    }

    /// Also accepts tokens for this resource (`{resource}/.default`), e.g. another API.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// The Microsoft 365 Copilot users and interactions Graph serves (default: 8 licensed
    /// active users with 24 interactions each, 2 idle licensed users, 1 unlicensed active user).
    pub fn m365(mut self, spec: crate::graph::M365Spec) -> Self {
        self.m365 = spec;
        self
    }

    /// The Graph application permissions the connector app was granted (default
    /// [`DEFAULT_GRAPH_ROLES`]); they appear in the `roles` claim of its Graph tokens and as
    /// its app role assignments.
    pub fn graph_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.graph_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The number of environments (default 1). Environment 0 is the primary Dataverse at the
    /// base URL; each further one with Dataverse gets its own URL, agents, components and
    /// transcripts (`agents` and `transcripts` apply to each), and the inventory plants
    /// realistic discrepancies (see [`crate::environments`]). With `n >= 4` the admin list
    /// names one more environment, disabled, after the `n`.
    pub fn environments(mut self, n: usize) -> Self {
        self.environments = n;
        self
    }

    /// The Security Copilot workspace's generated history (default 4 sessions of 3 prompts).
    pub fn security_copilot(mut self, spec: crate::security_copilot::SecurityCopilotSpec) -> Self {
        self.security_copilot = spec;
        self
    }

    /// How the inventory APIs (Resource Graph, resource query, admin environment list) behave.
    pub fn inventory(mut self, config: InventoryConfig) -> Self {
        self.inventory = config;
        self
    }

    /// Loads transcript rows as they are (e.g. rows copied from a real environment).
    pub fn transcript_rows(mut self, rows: impl IntoIterator<Item = Row>) -> Self {
        self.fixture_rows.extend(rows);
        self
    }

    /// Loads transcript rows from a JSON file: an array of rows, or `{"value":[...]}` as the Web
    /// API returns them.
    pub fn transcript_file(mut self, path: impl AsRef<Path>) -> Self {
        self.fixture_files.push(path.as_ref().to_path_buf());
        self
    }

    /// Generates the tenant, binds the port and starts serving.
    pub async fn start(self) -> Result<RunningEmulator, EmulatorError> {
        let clock = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
        let anchor = self.anchor.unwrap_or_else(|| {
            let now = clock.now();
            now.replace_time(time::Time::MIDNIGHT)
        });
        if self.environments == 0 {
            return Err(EmulatorError::InvalidSpec(
                "a tenant needs at least one environment".to_owned(),
            ));
        }
        if self.agents == 0 && self.transcripts > 0 {
            return Err(EmulatorError::InvalidSpec(format!(
                "{} transcripts need at least one agent; set agents(1) or more",
                self.transcripts
            )));
        }
        let mut fixture_rows = self.fixture_rows;
        for path in &self.fixture_files {
            fixture_rows.extend(load_rows(path)?);
        }
        let addr = SocketAddr::new(self.host, self.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let base_url = format!("http://{local}");

        let spec = TenantSpec {
            seed: self.seed,
            agents: self.agents,
            transcripts: self.transcripts,
            anchor,
            history_days: self.history_days,
            min_components_per_agent: self.min_components_per_agent,
        };
        let timer = std::time::Instant::now();
        let tenant = Arc::new(SyntheticTenant::generate(&spec));
        let identity = tenant.identity().clone();

        let entra = Entra::new(
            identity.tenant_id,
            identity.domain.clone(),
            self.seed,
            Arc::clone(&clock),
        );
        entra.set_authority(&base_url);
        entra.set_token_lifetime(self.token_lifetime);
        entra.add_resource(&base_url);
        for resource in [
            "https://api.powerplatform.com",
            "https://graph.microsoft.com",
            "https://management.azure.com",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(self.resources)
        {
            entra.add_resource(&resource);
        }
        let connector = AppRegistration::new(identity.client_id, "copilot-connector")
            .with_object_id(identity.client_object_id)
            .with_secret(
                ClientSecret::new(identity.client_secret.clone())
                    .with_id(identity.client_secret_id),
            )
            .with_dataverse_access(self.connector_access)
            .with_graph_roles(self.graph_roles.clone());
        let mut apps = vec![connector];
        apps.extend(self.apps);
        for app in &apps {
            entra.register_app(app.clone());
        }

        let dataverse = Dataverse::new(DataverseConfig {
            organization_id: identity.organization_id,
            business_unit_id: identity.business_unit_id,
            clock: Arc::clone(&clock),
            ..DataverseConfig::default()
        });
        let security = tenant.security_rows(&apps);
        dataverse.insert_rows("systemusers", tenant.maker_rows())?;
        dataverse.insert_rows("systemusers", security.application_users)?;
        dataverse.insert_rows("roles", security.roles)?;
        dataverse.insert_rows("systemuserroles_association", security.user_roles)?;
        dataverse.insert_rows("bots", tenant.bot_rows())?;
        dataverse.insert_rows("botcomponents", tenant.component_rows())?;
        for (set, rows) in tenant.related_rows() {
            dataverse.insert_rows(set, rows)?;
        }
        tracing::info!(
            elapsed_ms = timer.elapsed().as_millis(),
            agents = self.agents,
            "agents and components loaded"
        );
        dataverse.insert_rows(
            "conversationtranscripts",
            tenant.transcript_rows(0..self.transcripts),
        )?;
        tracing::info!(
            elapsed_ms = timer.elapsed().as_millis(),
            transcripts = self.transcripts,
            "transcripts loaded"
        );
        dataverse.set_materializer("conversationtranscripts", tenant.materializer());
        if !fixture_rows.is_empty() {
            insert_fixture_transcripts(&dataverse, fixture_rows)?;
        }

        let protection = ServiceProtection::new(self.limits, Arc::clone(&clock));
        let expiring = entra.clone();
        let faults = Faults::new(
            self.seed,
            Arc::clone(&clock),
            Box::new(move || expiring.expire_issued_tokens()),
        );
        faults
            .apply(self.faults)
            .map_err(EmulatorError::InvalidFaults)?;
        let ingestion = Ingestion::new(self.ingestion_token);
        let graph = crate::graph::Graph::generate(
            self.m365,
            self.seed,
            &identity.domain,
            anchor,
            entra.clone(),
            Arc::clone(&clock),
            base_url.clone(),
        );
        let tenancy = crate::environments::build(crate::environments::Context {
            count: self.environments,
            spec: spec.clone(),
            host: self.host,
            base_url: &base_url,
            primary: &dataverse,
            tenant: &tenant,
            apps: &apps,
            entra: &entra,
            faults: &faults,
            limits: self.limits,
            clock: &clock,
            inventory: self.inventory,
        })
        .await?;

        graph
            .security_copilot()
            .generate(self.security_copilot, anchor);
        plant_identities(
            &graph,
            self.seed,
            clock.now(),
            tenancy.inventory.rows(),
            &crate::identity::ConnectorApp {
                client_id: identity.client_id,
                object_id: identity.client_object_id,
                graph_roles: &self.graph_roles,
            },
        );

        let shared = Arc::new(Shared {
            base_url: base_url.clone(),
            tenant,
            entra,
            dataverse,
            ingestion,
            graph,
            faults,
            protection,
            clock,
            environments: tenancy.environments,
            discrepancies: tenancy.discrepancies,
            inventory: tenancy.inventory,
            next_transcript: AtomicU64::new(self.transcripts as u64),
            credentials: Credentials {
                tenant_id: identity.tenant_id,
                client_id: identity.client_id,
                client_secret: identity.client_secret.clone(),
            },
        });
        let app = router(&shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "tenant-emulator server stopped with an error");
            }
        });
        tracing::info!(%base_url, "tenant-emulator listening");
        Ok(RunningEmulator {
            shared,
            stop: Some(stop),
            server: Some(server),
            servers: Some(tenancy.servers),
        })
    }
}

/// The Graph application permissions the connector app holds unless
/// [`EmulatorBuilder::graph_roles`] says otherwise: what its commands need, nothing more.
pub const DEFAULT_GRAPH_ROLES: [&str; 4] = [
    crate::graph::INTERACTION_ROLE,
    crate::graph::USER_READ_ROLE,
    "Application.Read.All",
    crate::security_copilot::READ_WRITE_ROLE,
];

/// Plants the directory: an identity for every agent the inventory shows with an
/// `entraAppId`, and the connector's app.
fn plant_identities(
    graph: &crate::graph::Graph,
    seed: u64,
    now: OffsetDateTime,
    inventory_rows: &[Value],
    connector: &crate::identity::ConnectorApp<'_>,
) {
    let mut seen = std::collections::HashSet::new();
    let agents: Vec<crate::identity::AgentApp> = inventory_rows
        .iter()
        .filter(|r| r.pointer("/properties/entraAppId").is_some())
        .filter_map(|r| {
            let bot_id = r.get("name")?.as_str()?.to_owned();
            let display_name = r
                .pointer("/properties/displayName")
                .and_then(Value::as_str)
                .unwrap_or(&bot_id)
                .to_owned();
            seen.insert(bot_id.clone())
                .then_some(crate::identity::AgentApp {
                    bot_id,
                    display_name,
                })
        })
        .collect();
    let users: Vec<(String, String, String)> = graph
        .users()
        .into_iter()
        .map(|u| (u.id, u.display_name, u.user_principal_name))
        .collect();
    graph
        .directory()
        .plant(seed, now, &agents, connector, &users);
}

fn load_rows(path: &Path) -> Result<Vec<Row>, EmulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::FixtureRead {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |reason: String| EmulatorError::FixtureFormat {
        path: path.to_path_buf(),
        reason,
    };
    // Tolerate a UTF-8 BOM, as files saved on Windows carry one.
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut o) => match o.remove("value") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(format(
                    "an object must hold the rows in \"value\"".to_owned(),
                ));
            }
        },
        _ => return Err(format("expected an array".to_owned())),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(row) => Ok(row),
            _ => Err(format(format!("item {i} is not an object"))),
        })
        .collect()
}

/// Inserts real transcript rows, adding a minimal `bots` row for each bot they reference that
/// the tenant does not have (so `$expand` and bot lookups resolve).
fn insert_fixture_transcripts(dataverse: &Dataverse, rows: Vec<Row>) -> Result<(), EmulatorError> {
    let mut bots: std::collections::BTreeMap<String, Row> = std::collections::BTreeMap::new();
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|mut row| {
            // Annotations are the server's to compute.
            row.retain(|k, _| !k.starts_with('@'));
            if let Some(bot) = row
                .get("_bot_conversationtranscriptid_value")
                .and_then(Value::as_str)
            {
                let schema = row
                    .get("metadata")
                    .and_then(Value::as_str)
                    .and_then(|m| serde_json::from_str::<Value>(m).ok())
                    .and_then(|m| m.get("BotName").and_then(Value::as_str).map(str::to_owned));
                bots.entry(bot.to_owned()).or_insert_with(|| {
                    let mut b = Row::new();
                    b.insert("botid".into(), Value::String(bot.to_owned()));
                    let schema =
                        // By characters: an id may hold multi-byte characters.
                        schema.unwrap_or_else(|| {
                            format!("fixture_{}", bot.chars().take(8).collect::<String>())
                        });
                    b.insert("name".into(), Value::String(schema.clone()));
                    b.insert("schemaname".into(), Value::String(schema));
                    b.insert("statecode".into(), Value::from(0));
                    b.insert("statuscode".into(), Value::from(1));
                    b
                });
            }
            row
        })
        .collect();
    let missing: Vec<Row> = bots
        .into_values()
        .filter(|b| {
            b.get("botid")
                .and_then(Value::as_str)
                .and_then(|id| Uuid::parse_str(id).ok())
                .is_some_and(|id| dataverse.row("bots", id).is_none())
        })
        .collect();
    dataverse.insert_rows("bots", missing)?;
    dataverse.insert_rows("conversationtranscripts", rows)?;
    Ok(())
}

/// The most transcripts one call (or one admin request) may generate: enough for any test or
/// benchmark, small enough that a typo cannot exhaust memory.
pub const MAX_GENERATED_PER_REQUEST: usize = 100_000;

/// State shared by the library handle and the admin API.
pub(crate) struct Shared {
    pub(crate) base_url: String,
    pub(crate) tenant: Arc<SyntheticTenant>,
    pub(crate) entra: Entra,
    pub(crate) dataverse: Dataverse,
    pub(crate) ingestion: Ingestion,
    pub(crate) graph: crate::graph::Graph,
    pub(crate) faults: Faults,
    pub(crate) protection: ServiceProtection,
    pub(crate) clock: SharedClock,
    pub(crate) environments: Vec<EnvironmentInfo>,
    pub(crate) discrepancies: Vec<Discrepancy>,
    pub(crate) inventory: Inventory,
    pub(crate) next_transcript: AtomicU64,
    pub(crate) credentials: Credentials,
}

impl Shared {
    /// Generates `count` new transcripts that started ~now (so incremental syncs see them).
    pub(crate) fn add_generated_transcripts(
        &self,
        count: usize,
    ) -> Result<Vec<Uuid>, EmulatorError> {
        if count > MAX_GENERATED_PER_REQUEST {
            return Err(EmulatorError::InvalidSpec(format!(
                "{count} transcripts is over the limit of {MAX_GENERATED_PER_REQUEST} per request; add them in several requests"
            )));
        }
        if self.tenant.agent_count() == 0 && count > 0 {
            return Err(EmulatorError::InvalidSpec(
                "the tenant has no agent to generate transcripts for".to_owned(),
            ));
        }
        let first = self
            .next_transcript
            .fetch_add(count as u64, Ordering::SeqCst);
        let now = self.clock.now();
        let rows: Vec<Row> = (first..first + count as u64)
            .enumerate()
            .filter_map(|(k, i)| {
                // Spread the starts over the last hour; createdon follows 30-45 min later.
                let start =
                    now - time::Duration::minutes(60) + time::Duration::seconds(k as i64 % 3600);
                self.tenant.transcript_row(i, Some(start))
            })
            .map(|mut row| {
                // Written now, as a real row arriving during a run.
                let stamp = crate::generate::iso(now);
                row.insert("createdon".into(), Value::String(stamp.clone()));
                row.insert("modifiedon".into(), Value::String(stamp));
                row
            })
            .collect();
        let ids = rows
            .iter()
            .filter_map(|r| r.get("conversationtranscriptid").and_then(Value::as_str))
            .filter_map(|s| Uuid::parse_str(s).ok())
            .collect();
        self.dataverse
            .insert_rows("conversationtranscripts", rows)?;
        Ok(ids)
    }

    /// Inserts transcript rows as given.
    pub(crate) fn add_transcript_rows(&self, rows: Vec<Row>) -> Result<Vec<Uuid>, EmulatorError> {
        let mut ids = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let id = row
                .get("conversationtranscriptid")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or(EmulatorError::MissingTranscriptId { index })?;
            ids.push(id);
        }
        insert_fixture_transcripts(&self.dataverse, rows)?;
        Ok(ids)
    }

    pub(crate) fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.base_url, self.credentials.tenant_id
        )
    }
}

fn router(shared: &Arc<Shared>) -> axum::Router {
    use axum::middleware::from_fn_with_state;

    let gate = crate::auth::Gate {
        entra: shared.entra.clone(),
        dataverse: shared.dataverse.clone(),
        protection: shared.protection.clone(),
        environment_url: Arc::from(shared.base_url.as_str()),
        authorization_uri: Arc::from(format!(
            "{}/{}",
            shared.base_url, shared.credentials.tenant_id
        )),
    };
    let dataverse = shared
        .dataverse
        .router()
        .layer(from_fn_with_state(gate, crate::auth::gate))
        .layer(from_fn_with_state(
            (shared.faults.clone(), Service::Dataverse),
            crate::faults::fault_layer,
        ));
    let entra = shared.entra.router().layer(from_fn_with_state(
        (shared.faults.clone(), Service::Entra),
        crate::faults::fault_layer,
    ));
    let ingestion = shared.ingestion.router().layer(from_fn_with_state(
        (shared.faults.clone(), Service::Ingestion),
        crate::faults::fault_layer,
    ));
    let graph = shared.graph.router().layer(from_fn_with_state(
        (shared.faults.clone(), Service::Graph),
        crate::faults::fault_layer,
    ));
    // The inventory APIs are the Power Platform's: Dataverse faults apply to them too.
    let inventory = shared.inventory.router().layer(from_fn_with_state(
        (shared.faults.clone(), Service::Dataverse),
        crate::faults::fault_layer,
    ));
    axum::Router::new()
        .merge(entra)
        .merge(inventory)
        .merge(ingestion)
        .merge(graph)
        .merge(crate::admin::router(Arc::clone(shared)))
        .merge(dataverse)
}

/// A running emulator. Dropping it stops the server; [`RunningEmulator::shutdown`] waits for it.
pub struct RunningEmulator {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    servers: Option<crate::environments::Servers>,
}

impl fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("base_url", &self.shared.base_url)
            .field("credentials", &self.shared.credentials)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The Entra authority host: `{authority}/{tenant}/oauth2/v2.0/token` is the token endpoint.
    pub fn authority_host(&self) -> &str {
        &self.shared.base_url
    }

    /// The token endpoint URL for the tenant.
    pub fn token_url(&self) -> String {
        self.shared.token_url()
    }

    /// The Dataverse environment URL; tokens are requested for `{environment_url}/.default`.
    pub fn environment_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The Web API base, `{environment_url}/api/data/v9.2/`.
    pub fn web_api_url(&self) -> String {
        format!("{}/api/data/v9.2/", self.shared.base_url)
    }

    /// The ingestion service URL; batches go to `{ingestion_url}/api/ingestData`.
    pub fn ingestion_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The registered connector app's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.shared.credentials
    }

    /// The generated tenant (identity, rows, transcript content).
    pub fn tenant(&self) -> &SyntheticTenant {
        &self.shared.tenant
    }

    /// The Entra tenant (apps, token validation, forced expiry).
    pub fn entra(&self) -> &Entra {
        &self.shared.entra
    }

    /// The Dataverse store.
    pub fn dataverse(&self) -> &Dataverse {
        &self.shared.dataverse
    }

    /// The Microsoft Graph root (`http://127.0.0.1:PORT`): `/v1.0/...` and `/beta/...` are
    /// served under it; tokens are requested for `https://graph.microsoft.com/.default`.
    pub fn graph_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Microsoft Graph: users, licences, Copilot interactions.
    pub fn graph(&self) -> &crate::graph::Graph {
        &self.shared.graph
    }

    /// Records accepted by the ingestion endpoint.
    pub fn ingestion(&self) -> &Ingestion {
        &self.shared.ingestion
    }

    /// Live fault settings.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Service protection state and limits.
    pub fn service_protection(&self) -> &ServiceProtection {
        &self.shared.protection
    }

    /// Replaces the fault config (see [`FaultConfig`]).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), EmulatorError> {
        self.shared
            .faults
            .apply(faults)
            .map_err(EmulatorError::InvalidFaults)
    }

    /// Makes every token issued so far expired.
    pub fn expire_tokens(&self) {
        self.shared.entra.expire_issued_tokens();
    }

    /// Generates `count` new transcripts that started within the last hour and were written
    /// now; returns their IDs.
    pub fn add_transcripts(&self, count: usize) -> Result<Vec<Uuid>, EmulatorError> {
        self.shared.add_generated_transcripts(count)
    }

    /// Adds transcript rows as given (each needs a `conversationtranscriptid`).
    pub fn add_transcript_rows(&self, rows: Vec<Row>) -> Result<Vec<Uuid>, EmulatorError> {
        self.shared.add_transcript_rows(rows)
    }

    /// The tenant's environments (index 0 is the primary Dataverse at the base URL).
    pub fn environments(&self) -> &[EnvironmentInfo] {
        &self.shared.environments
    }

    /// The discrepancies planted between the inventory and the environments' Dataverse (none
    /// with a single environment).
    pub fn discrepancies(&self) -> &[Discrepancy] {
        &self.shared.discrepancies
    }

    /// The inventory APIs' data (admin list entries, `PowerPlatformResources` rows).
    pub fn inventory(&self) -> &Inventory {
        &self.shared.inventory
    }

    /// Base URL of Resource Graph, the Power Platform API and the admin API (all served on the
    /// base URL).
    pub fn inventory_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(servers) = self.servers.take() {
            servers.shutdown().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(servers) = self.servers.as_mut() {
            servers.stop_now();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

//! The scan: environments, the tenant inventory (layer 1, read while layer 2 runs), each
//! environment's Dataverse (layer 2, bounded concurrency), then rows, reconciliation,
//! findings and the diff from `inventory-model`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arg_client::ArgClient;
use botcomponent_schema::ComponentTypeRegistry;
use client_core::{SharedClock, SharedCredential};
use dataverse_client::DataverseClient;
use futures::StreamExt;
use inventory_model::{
    AgentDefinition, AgentFeatureRow, CheckResult, CoverageRecord, DataverseSnapshot,
    EnvironmentScan, Inventory, InventoryDiff, InventoryRows, InventorySettings, OptionSetValue,
    ScanInput, ScanOutcome, TenantAgent, agent_definition, build_inventory,
    definition_checks_reusable,
};
use serde::Serialize;
use time::OffsetDateTime;
use tracing::Instrument;
use url::Url;

use super::dataverse::{
    CountingCredential, EnvironmentData, EnvironmentRead, ReadMode, ReadSettings, read_environment,
    snapshot,
};
use super::phase::Phase;
use super::store::{EnvironmentStore, StoredEnvironment};
use super::tenant::{
    EnvironmentTarget, InventorySourceChoice, list_environments, tenant_inventory,
};
use crate::timefmt::rfc3339;

/// Default number of environments read at once.
pub const DEFAULT_CONCURRENCY: usize = 10;
/// Default requests in flight inside one environment: few, so that one scan stays far from
/// Dataverse's 52 concurrent requests per user.
pub const DEFAULT_REQUESTS_PER_ENVIRONMENT: usize = 3;
/// Default rows per Dataverse page. Components carry their YAML, so pages stay moderate.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Default longest time one environment's read may take before it is a coverage gap.
pub const DEFAULT_ENVIRONMENT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Service URL overrides (private clouds, tests).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Endpoints {
    /// The Power Platform API (`POWER_PLATFORM_API_URL`), for the resource query.
    pub power_platform: Option<Url>,
    /// The BAP admin API (`BAP_API_URL`), for the environment list.
    pub bap: Option<Url>,
    /// Azure Resource Manager (`ARM_URL`), for Resource Graph.
    pub arm: Option<Url>,
}

/// What to scan and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Only these Dataverse environments (`--environment URL,...`); every environment of the
    /// admin list when `None`.
    pub environments: Option<Vec<Url>>,
    /// The tenant inventory to read.
    pub inventory_source: InventorySourceChoice,
    /// Environments read at once.
    pub concurrency: usize,
    /// Requests in flight inside one environment.
    pub requests_per_environment: usize,
    /// Rows per Dataverse page.
    pub page_size: u32,
    /// The usage window in days.
    pub usage_days: u32,
    /// Usage is re-read when older than this (it is not change-tracked).
    pub usage_refresh: Duration,
    /// Read every environment in full, ignoring stored delta links.
    pub full: bool,
    /// The longest one environment's read may take.
    pub environment_timeout: Duration,
    /// Service URL overrides.
    pub endpoints: Endpoints,
    /// Layer 3, agent identities from Microsoft Graph (off unless asked for).
    pub identity: super::identity::IdentityOptions,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            environments: None,
            inventory_source: InventorySourceChoice::default(),
            concurrency: DEFAULT_CONCURRENCY,
            requests_per_environment: DEFAULT_REQUESTS_PER_ENVIRONMENT,
            page_size: DEFAULT_PAGE_SIZE,
            usage_days: 30,
            usage_refresh: Duration::from_secs(24 * 3600),
            full: false,
            environment_timeout: DEFAULT_ENVIRONMENT_TIMEOUT,
            endpoints: Endpoints::default(),
            identity: super::identity::IdentityOptions::default(),
        }
    }
}

/// What the previous scan left: per-environment data (with delta links) and rows.
///
/// The environments' data comes either from `environments` (in memory, e.g.
/// [`from_result`](Self::from_result)) or, when `store` is given, from the state store as the
/// scan reaches each environment; a scan with a store writes each environment's changed
/// rows back to it as soon as it is read, and keeps none of it in
/// [`ScanResult::environments`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PreviousScan {
    /// Per environment id (lower case).
    pub environments: BTreeMap<String, EnvironmentData>,
    /// The state store's environments ([`InventoryStore::begin_scan`](super::store::InventoryStore::begin_scan)).
    pub store: Option<EnvironmentStore>,
    /// The rows of the previous scan, for the diff.
    pub rows: Option<InventoryRows>,
    /// The agent identities the previous scan read.
    pub identities: Vec<super::identity::IdentityRecord>,
    /// Each agent's posture results by (agent id, environment id), lower case: with `rows`,
    /// what lets an agent whose definition did not change skip parsing.
    pub checks: BTreeMap<(String, String), Vec<CheckResult>>,
}

impl PreviousScan {
    /// What `result` leaves for the next scan (its rows taken as written).
    pub fn from_result(result: &ScanResult) -> Self {
        PreviousScan {
            environments: result.environments.clone(),
            store: None,
            rows: Some(result.inventory.rows.clone()),
            checks: result
                .inventory
                .postures
                .iter()
                .map(|p| {
                    (
                        (norm(&p.agent_id), norm(&p.environment_id)),
                        p.results.clone(),
                    )
                })
                .collect(),
            identities: result.identities.clone(),
        }
    }
}

/// The scan's overall status, and its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScanStatus {
    /// Every layer asked for was read, and every environment with Dataverse (exit 0).
    Complete,
    /// Something could not be read; it is listed as a coverage gap (exit 4).
    Partial,
    /// Nothing could be read (exit 1).
    Failed,
}

/// How one layer went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LayerReport {
    /// `read`, `given` (environments from the command line), `skipped` or `failed`.
    pub status: &'static str,
    /// Rows read.
    pub count: usize,
    /// The source (for the tenant inventory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl LayerReport {
    pub(crate) fn new(status: &'static str, count: usize) -> Self {
        LayerReport {
            status,
            count,
            source: None,
            detail: None,
        }
    }
}

/// How one environment went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EnvironmentReport {
    /// The environment id.
    pub environment_id: String,
    /// Its Dataverse URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `scanned`, `forbidden`, `no_dataverse`, `skipped` or `failed`.
    pub outcome: &'static str,
    /// How it was read (when read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ReadMode>,
    /// Whether everything of it was read (components, relationships, usage).
    pub complete: bool,
    /// Bots known.
    pub bots: usize,
    /// Components known.
    pub components: usize,
    /// Many-to-many targets known.
    pub related_targets: usize,
    /// Sessions in the usage window.
    pub sessions: usize,
    /// Bots and components created, changed or deleted since the previous scan.
    pub changed_rows: usize,
    /// HTTP requests sent to this environment (retries included).
    pub requests: u64,
    /// Why it was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What the reader noticed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The three layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Layers {
    /// The admin environment list.
    pub environment_list: LayerReport,
    /// The tenant inventory of agents.
    pub tenant_inventory: LayerReport,
    /// The environments' Dataverse: `count` is the environments read.
    pub dataverse: LayerReport,
    /// Agent identities from Microsoft Graph: `count` is the identities known.
    pub identity: LayerReport,
}

/// What changed since the previous scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChangeCounts {
    /// Whether a previous scan was there to compare with.
    pub compared: bool,
    /// Rows to upsert per table (new or changed).
    pub upserts: BTreeMap<&'static str, usize>,
    /// Agents no longer seen (marked, not deleted).
    pub gone_agents: usize,
    /// Rows of other tables no longer produced.
    pub stale_rows: usize,
}

/// The scan's summary, written beside the rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScanSummary {
    /// The run id (every row's `fsi_runid`).
    pub run_id: String,
    /// When the scan started (UTC).
    pub started_at: String,
    /// When it ended (UTC).
    pub finished_at: String,
    /// Complete, partial or failed.
    pub status: ScanStatus,
    /// Per layer.
    pub layers: Layers,
    /// Per environment, in id order.
    pub environments: Vec<EnvironmentReport>,
    /// Rows per table (logical name).
    pub counts: BTreeMap<&'static str, usize>,
    /// Agents.
    pub agents: usize,
    /// Posture findings (checks found) over all agents.
    pub findings: usize,
    /// Agents per risk level.
    pub agents_by_risk: BTreeMap<&'static str, usize>,
    /// Every coverage gap.
    pub coverage_gaps: Vec<CoverageRecord>,
    /// The diff against the previous scan.
    pub changes: ChangeCounts,
    /// Agents whose Dataverse definition was parsed and mapped; the others' had not changed
    /// since the previous scan, whose results they kept.
    pub agents_rebuilt: usize,
    /// Requests sent to Dataverse in all.
    pub dataverse_requests: u64,
    /// What was written to the inventory environment (`--inventory-url`), when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<super::upsert::WriteReport>,
    /// What else the scan noticed (unreadable rows, tables without change tracking).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A scan's result: the model's inventory, the diff, the summary and the data to store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanResult {
    /// Rows, coverage and postures.
    pub inventory: Inventory,
    /// What to write compared with the previous scan's rows.
    pub diff: InventoryDiff,
    /// The summary.
    pub summary: ScanSummary,
    /// Per-environment data to keep for the next scan (environments read this time); empty
    /// when the scan ran with a state store, which already holds it.
    pub environments: BTreeMap<String, EnvironmentData>,
    /// The agent identities known (the document's `identities`).
    pub identities: Vec<super::identity::IdentityRecord>,
}

/// A scan event, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScanEvent {
    /// The environments to read are known.
    Environments(usize),
    /// The tenant inventory was read (agents).
    Inventory(usize),
    /// One environment is done.
    EnvironmentDone(String),
}

/// A progress callback.
pub type ScanProgress = Arc<dyn Fn(ScanEvent) + Send + Sync>;

/// The scan could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A client could not be built from the settings.
    #[error("{0}")]
    Setup(String),
}

/// Scans a tenant's agents (see the [module](super) docs).
#[derive(Clone)]
pub struct Scanner {
    credential: SharedCredential,
    clock: SharedClock,
    options: ScanOptions,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn norm(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// The id of an environment given by URL when no list maps it: its host (and port).
fn id_from_url(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => url.to_string(),
    }
}

fn same_host(a: &Url, b: &Url) -> bool {
    a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// What an environment's report says of its data (taken before the data goes to the store).
struct DataCounts {
    bots: usize,
    components: usize,
    related_targets: usize,
    sessions: usize,
    /// What could not be read (components, relationships, usage).
    errors: Vec<String>,
}

impl DataCounts {
    fn of(data: &EnvironmentData) -> Self {
        DataCounts {
            bots: data.bots.len(),
            components: data.components.len(),
            related_targets: data.related.values().map(BTreeSet::len).sum(),
            sessions: data.sessions.values().map(Vec::len).sum(),
            errors: [
                &data.components_error,
                &data.related_error,
                &data.usage_error,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        }
    }
}

struct EnvOutcome {
    target: EnvironmentTarget,
    outcome: ScanOutcome,
    report: EnvironmentReport,
    data: Option<EnvironmentData>,
    usage: Vec<inventory_model::UsageInput>,
    /// Agents whose definition was made this time.
    rebuilt: usize,
}

/// The previous scan's feature rows and posture results of one environment, by bot id.
#[derive(Default)]
struct KeptDefinitions {
    features: BTreeMap<String, Vec<AgentFeatureRow>>,
    checks: BTreeMap<String, Vec<CheckResult>>,
}

/// The bots whose definition is kept from the previous scan: those that did not change
/// (`changed`; `None` is all changed) and whose kept results can stand in for parsing.
fn reusable(
    bots: impl Iterator<Item = String>,
    changed: Option<&BTreeSet<String>>,
    kept: &KeptDefinitions,
) -> BTreeSet<String> {
    let Some(changed) = changed else {
        return BTreeSet::new();
    };
    let settings = InventorySettings::default();
    bots.filter(|id| {
        !changed.contains(id)
            && kept
                .checks
                .get(id)
                .is_some_and(|c| definition_checks_reusable(c, &settings.posture))
    })
    .collect()
}

/// Each bot's definition: kept from the previous scan for the bots in `reuse`, made from its
/// components otherwise. Returns how many were made. The components' YAML is dropped after:
/// nothing reads it once the definitions are made.
fn make_definitions(
    snapshot: &mut DataverseSnapshot,
    reuse: &BTreeSet<String>,
    mut kept: KeptDefinitions,
) -> usize {
    let registry = ComponentTypeRegistry::builtin();
    let settings = InventorySettings::default();
    let mut made = 0;
    for bot in &mut snapshot.bots {
        let id = norm(&bot.bot.bot_id);
        let checks = kept.checks.remove(&id).filter(|_| reuse.contains(&id));
        bot.definition = Some(match checks {
            Some(checks) => {
                AgentDefinition::new(kept.features.remove(&id).unwrap_or_default(), checks)
            }
            None => {
                made += 1;
                agent_definition(&registry, bot, &settings)
            }
        });
        for c in &mut bot.components {
            c.data = None;
        }
    }
    made
}

/// Where one environment's previous data comes from.
enum PreviousEnvironment {
    /// Given in memory (or nothing).
    Memory(Option<Box<EnvironmentData>>),
    /// Read from (and written back to) the state store.
    Store(EnvironmentStore),
}

impl Scanner {
    /// A scanner signing in with `credential`.
    pub fn new(credential: SharedCredential, clock: SharedClock, options: ScanOptions) -> Self {
        Scanner {
            credential,
            clock,
            options,
        }
    }

    /// The options.
    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    fn arg_client(&self) -> Result<ArgClient, ScanError> {
        let e = &self.options.endpoints;
        let mut b = ArgClient::builder(self.credential.clone()).clock(self.clock.clone());
        if let Some(u) = &e.power_platform {
            b = b.power_platform_endpoint(u.as_str());
        }
        if let Some(u) = &e.bap {
            b = b.admin_endpoint(u.as_str());
        }
        if let Some(u) = &e.arm {
            b = b.resource_graph_endpoint(u.as_str());
        }
        b.build().map_err(|e| ScanError::Setup(e.to_string()))
    }

    /// Runs one scan against what `previous` left.
    pub async fn scan(
        &self,
        previous: &PreviousScan,
        progress: Option<ScanProgress>,
    ) -> Result<ScanResult, ScanError> {
        self.scan_from(previous.clone(), progress).await
    }

    /// Runs one scan against what `previous` left, taking it (no copy of the stored
    /// components is made).
    pub async fn scan_from(
        &self,
        mut previous: PreviousScan,
        progress: Option<ScanProgress>,
    ) -> Result<ScanResult, ScanError> {
        let started = self.clock.now();
        let run_id = uuid::Uuid::new_v4().to_string();
        let emit = |e: ScanEvent| {
            if let Some(p) = &progress {
                p(e);
            }
        };
        // Layer 1 is two reads: the environment list, which layer 2 needs first, and the
        // tenant inventory, which only `build_inventory` needs: it is read while layer 2 runs
        // (its requests are mostly waiting), and its phase says so.
        let layer1 = Phase::start("layer 1: environment list");
        let needs_arg = self.options.environments.is_none()
            || self.options.inventory_source != InventorySourceChoice::None;
        let arg = if needs_arg {
            Some(self.arg_client()?)
        } else {
            None
        };
        let mut notes = Vec::new();

        // The environment list: needed unless URLs are given; read too when an inventory is
        // read, so that the inventory's environment ids match the given URLs.
        let mut env_layer = LayerReport::new("skipped", 0);
        let mut listed: Option<Vec<(EnvironmentTarget, Result<(), String>)>> = None;
        if let Some(arg) = &arg {
            match list_environments(arg).instrument(layer1.span()).await {
                Ok(list) => {
                    env_layer = LayerReport::new("read", list.len());
                    listed = Some(list);
                }
                Err(e) => {
                    let status = if self.options.environments.is_some() {
                        "skipped"
                    } else {
                        "failed"
                    };
                    env_layer = LayerReport::new(status, 0);
                    env_layer.detail = Some(match e.hint() {
                        Some(h) => format!("{e} (fix: {})", h.fix()),
                        None => e.to_string(),
                    });
                }
            }
        }
        for (t, problem) in listed.iter().flatten() {
            if let Err(p) = problem {
                notes.push(format!("environment {}: {p}", t.id));
            }
        }

        let mut skipped: Vec<EnvironmentTarget> = Vec::new();
        let targets: Vec<EnvironmentTarget> = match &self.options.environments {
            Some(urls) => {
                if env_layer.status == "read" {
                    env_layer.status = "read";
                } else {
                    env_layer = LayerReport {
                        status: "given",
                        count: urls.len(),
                        source: None,
                        detail: env_layer.detail,
                    };
                }
                let mut chosen = Vec::new();
                let mut used = BTreeSet::new();
                for url in urls {
                    let found = listed
                        .iter()
                        .flatten()
                        .find(|(t, _)| t.url.as_ref().is_some_and(|u| same_host(u, url)));
                    match found {
                        Some((t, _)) => {
                            used.insert(norm(&t.id));
                            chosen.push(t.clone());
                        }
                        None => chosen.push(EnvironmentTarget {
                            id: id_from_url(url),
                            url: Some(url.clone()),
                            info: None,
                            unavailable: None,
                        }),
                    }
                }
                for (t, _) in listed.iter().flatten() {
                    if !used.contains(&norm(&t.id)) {
                        skipped.push(t.clone());
                    }
                }
                chosen
            }
            None => listed.iter().flatten().map(|(t, _)| t.clone()).collect(),
        };
        emit(ScanEvent::Environments(targets.len()));

        drop(layer1);

        // Layer 1: the tenant inventory, read while layer 2 runs (see `inventory` below).
        let inventory = async {
            let phase = Phase::start("layer 1: tenant inventory (overlaps layer 2)");
            let mut inv_layer = LayerReport::new("skipped", 0);
            inv_layer.source = Some(self.options.inventory_source.as_str());
            let mut tenant: Option<Vec<TenantAgent>> = None;
            let mut problems = Vec::new();
            if let (Some(arg), false) = (
                &arg,
                self.options.inventory_source == InventorySourceChoice::None,
            ) {
                match tenant_inventory(arg, self.options.inventory_source)
                    .instrument(phase.span())
                    .await
                {
                    Ok(read) => {
                        inv_layer.status = "read";
                        inv_layer.count = read.agents.len();
                        // The source actually read, and why when it is not the one asked for.
                        inv_layer.source = Some(read.source.as_str());
                        inv_layer.detail = read.fallback;
                        problems = read.problems;
                        tenant = Some(read.agents);
                    }
                    Err(e) => {
                        inv_layer.status = "failed";
                        inv_layer.detail = Some(match e.hint() {
                            Some(h) => format!("{e} (fix: {})", h.fix()),
                            None => e.to_string(),
                        });
                    }
                }
            } else {
                inv_layer.detail = Some("--inventory-source none".to_owned());
            }
            emit(ScanEvent::Inventory(inv_layer.count));
            drop(phase);
            (inv_layer, tenant, problems)
        };
        // The inventory's problems come right after the environment list's in the notes.
        let inventory_notes_at = notes.len();

        // Layer 2: each environment's Dataverse, `concurrency` at a time.
        let layer2 = Phase::start("layer 2: Dataverse");
        let read_settings = ReadSettings {
            usage_days: self.options.usage_days,
            usage_refresh: time::Duration::try_from(self.options.usage_refresh)
                .unwrap_or(time::Duration::DAY),
            full: self.options.full,
        };
        let mut stored = std::mem::take(&mut previous.environments);
        // What the previous scan made of each agent's definition, by environment then bot.
        let mut kept_definitions: BTreeMap<String, KeptDefinitions> = BTreeMap::new();
        if let Some(rows) = &previous.rows {
            for ((agent, env), checks) in std::mem::take(&mut previous.checks) {
                kept_definitions
                    .entry(env)
                    .or_default()
                    .checks
                    .insert(agent, checks);
            }
            for f in &rows.features {
                let env = norm(f.environment_id.as_deref().unwrap_or_default());
                if let Some(k) = kept_definitions.get_mut(&env) {
                    k.features
                        .entry(norm(&f.agent_id))
                        .or_default()
                        .push(f.clone());
                }
            }
        }
        let mut previous_delta_links = BTreeMap::new();
        for (id, data) in &stored {
            if let Some(link) = &data.bots_delta {
                previous_delta_links.insert(id.clone(), link.clone());
            }
        }
        if let Some(store) = &previous.store {
            match store.bots_delta_links() {
                Ok(links) => previous_delta_links.extend(links),
                Err(e) => notes.push(format!("the stored delta links could not be read: {e}")),
            }
        }
        let environments = futures::stream::iter(targets)
            .map(|t| {
                let prev = match &previous.store {
                    Some(store) => PreviousEnvironment::Store(store.clone()),
                    None => PreviousEnvironment::Memory(stored.remove(&norm(&t.id)).map(Box::new)),
                };
                let kept = kept_definitions.remove(&norm(&t.id)).unwrap_or_default();
                let settings = read_settings.clone();
                let emit = &emit;
                async move {
                    let out = self.scan_environment(t, prev, kept, &settings).await;
                    emit(ScanEvent::EnvironmentDone(out.target.id.clone()));
                    out
                }
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .collect::<Vec<EnvOutcome>>()
            .instrument(layer2.span());
        let ((inv_layer, tenant, inventory_notes), mut outcomes) =
            futures::join!(inventory, environments);
        drop(layer2);
        notes.splice(inventory_notes_at..inventory_notes_at, inventory_notes);
        outcomes.sort_by_key(|o| norm(&o.target.id));
        // The store's writer may still be writing the last environments' rows: wait for it.
        // An environment whose rows could not be written keeps its previous rows and delta
        // links in the store (its savepoint is rolled back), so the next scan reads its
        // changes again; this scan reports it (incomplete: the status is partial).
        if let Some(store) = &previous.store {
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.finish_saves()).await {
                Ok(Ok(failed)) => {
                    for f in failed {
                        if let Some(o) = outcomes
                            .iter_mut()
                            .find(|o| norm(&o.target.id) == f.environment_id)
                        {
                            o.report.complete = false;
                            o.report.notes.push(format!(
                                "the inventory state could not be written ({}): the next scan reads this environment's changes again",
                                f.error
                            ));
                        }
                    }
                }
                Ok(Err(e)) => notes.push(format!("the inventory state could not be written: {e}")),
                Err(e) => notes.push(format!("the inventory state could not be written: {e}")),
            }
        }

        let mut input = ScanInput::new(run_id.clone(), started);
        input.environments = listed
            .as_ref()
            .map(|l| l.iter().filter_map(|(t, _)| t.info.clone()).collect());
        input.inventory_read_at = tenant.as_ref().map(|_| started);
        input.tenant_agents = tenant;
        input.previous_delta_links = previous_delta_links;
        let mut kept = BTreeMap::new();
        let mut reports = Vec::new();
        let mut requests = 0;
        let mut rebuilt = 0;
        for o in outcomes {
            input
                .environment_scans
                .push(EnvironmentScan::new(o.target.id.clone(), o.outcome));
            input.usage.extend(o.usage);
            if let Some(d) = o.data {
                kept.insert(norm(&o.target.id), d);
            }
            requests += o.report.requests;
            rebuilt += o.rebuilt;
            reports.push(o.report);
        }
        for t in &skipped {
            input.environment_scans.push(EnvironmentScan::new(
                t.id.clone(),
                ScanOutcome::Skipped {
                    reason: "not selected with --environment".to_owned(),
                },
            ));
        }
        // Layer 3: agent identities from Microsoft Graph.
        let layer3 = Phase::start("layer 3: identities");
        let identity = super::identity::read_identities(
            &self.credential,
            &self.clock,
            &self.options.identity,
            input.tenant_agents.as_deref(),
            &previous.identities,
            started,
        )
        .instrument(layer3.span())
        .await;
        drop(layer3);
        input.identities = identity.observations();
        let mapping = Phase::start("build_inventory");
        let mut inventory = mapping
            .span()
            .in_scope(|| build_inventory(&input, &InventorySettings::default()));
        drop(mapping);
        let diffing = Phase::start("diff");
        let diff = diffing.span().in_scope(|| {
            // Dataverse hands out a new delta link on every read. Where nothing changed, keep the
            // link last written (still valid until the token expires) so an unchanged tenant
            // writes nothing; the state store always keeps the newest link for reading.
            if let Some(prev) = &previous.rows {
                let unchanged: BTreeSet<String> = reports
                    .iter()
                    .filter(|r| r.outcome == "scanned" && r.changed_rows == 0)
                    .map(|r| norm(&r.environment_id))
                    .collect();
                for row in &mut inventory.rows.environments {
                    if !unchanged.contains(&norm(&row.environment_id)) {
                        continue;
                    }
                    if let Some(old) = prev
                        .environments
                        .iter()
                        .find(|p| norm(&p.environment_id) == norm(&row.environment_id))
                    {
                        row.delta_link = old.delta_link.clone();
                    }
                }
            }
            inventory.diff_against(previous.rows.as_ref().unwrap_or(&InventoryRows::default()))
        });
        drop(diffing);

        let scanned = reports.iter().filter(|r| r.outcome == "scanned").count();
        let unreadable = reports
            .iter()
            .filter(|r| r.outcome == "forbidden" || r.outcome == "failed")
            .count();
        let mut dv_layer = LayerReport::new(
            if unreadable == 0 {
                "read"
            } else if scanned > 0 {
                "partial"
            } else {
                "failed"
            },
            scanned,
        );
        if unreadable > 0 {
            dv_layer.detail = Some(format!("{unreadable} environment(s) could not be read"));
        }
        if reports.is_empty() {
            dv_layer.status = "skipped";
            dv_layer.detail = Some("no environment to read".to_owned());
        }
        let partial_env = reports
            .iter()
            .any(|r| r.outcome == "forbidden" || r.outcome == "failed" || !r.complete);
        let status = if scanned == 0 && inv_layer.status != "read" {
            ScanStatus::Failed
        } else if env_layer.status == "failed"
            || inv_layer.status == "failed"
            || partial_env
            || matches!(identity.layer.status, "failed" | "partial")
        {
            ScanStatus::Partial
        } else {
            ScanStatus::Complete
        };

        let rows = &inventory.rows;
        let counts: BTreeMap<&'static str, usize> = [
            ("fsi_copilotagent", rows.agents.len()),
            ("fsi_caienvironment", rows.environments.len()),
            ("fsi_caiagentfeature", rows.features.len()),
            ("fsi_caiauthshare", rows.auth_shares.len()),
            ("fsi_caibillingentitlement", rows.billing.len()),
            ("fsi_caiusagesignal", rows.usage.len()),
            ("fsi_caiworkiqstate", rows.work_iq.len()),
            ("fsi_caicompliancestate", rows.compliance.len()),
        ]
        .into_iter()
        .collect();
        let mut agents_by_risk = BTreeMap::new();
        let mut findings = 0;
        for p in &inventory.postures {
            *agents_by_risk.entry(p.risk.label()).or_insert(0) += 1;
            findings += p.results.iter().filter(|r| r.is_found()).count();
        }
        let u = &diff.upserts;
        let changes = ChangeCounts {
            compared: previous.rows.is_some(),
            upserts: [
                ("fsi_copilotagent", u.agents.len()),
                ("fsi_caienvironment", u.environments.len()),
                ("fsi_caiagentfeature", u.features.len()),
                ("fsi_caiauthshare", u.auth_shares.len()),
                ("fsi_caibillingentitlement", u.billing.len()),
                ("fsi_caiusagesignal", u.usage.len()),
                ("fsi_caiworkiqstate", u.work_iq.len()),
                ("fsi_caicompliancestate", u.compliance.len()),
            ]
            .into_iter()
            .collect(),
            gone_agents: diff.gone_agents.len(),
            stale_rows: diff.stale_rows.len(),
        };
        let summary = ScanSummary {
            run_id,
            started_at: rfc3339(started),
            // After the mapping and the diff: the scan's whole duration.
            finished_at: rfc3339(self.clock.now()),
            status,
            layers: Layers {
                environment_list: env_layer,
                tenant_inventory: inv_layer,
                dataverse: dv_layer,
                identity: identity.layer,
            },
            environments: reports,
            counts,
            agents: rows.agents.len(),
            findings,
            agents_by_risk,
            coverage_gaps: inventory.coverage.clone(),
            changes,
            agents_rebuilt: rebuilt + inventory.rebuilt_agents,
            dataverse_requests: requests,
            write: None,
            notes,
        };
        Ok(ScanResult {
            inventory,
            diff,
            summary,
            environments: kept,
            identities: identity.records,
        })
    }

    async fn scan_environment(
        &self,
        target: EnvironmentTarget,
        previous: PreviousEnvironment,
        kept: KeptDefinitions,
        settings: &ReadSettings,
    ) -> EnvOutcome {
        let mut report = EnvironmentReport {
            environment_id: target.id.clone(),
            url: target.url.as_ref().map(Url::to_string),
            outcome: "scanned",
            mode: None,
            complete: false,
            bots: 0,
            components: 0,
            related_targets: 0,
            sessions: 0,
            changed_rows: 0,
            requests: 0,
            detail: None,
            notes: Vec::new(),
        };
        let fail =
            |mut report: EnvironmentReport, outcome: ScanOutcome, target: EnvironmentTarget| {
                let (word, detail) = match &outcome {
                    ScanOutcome::Forbidden { detail } => ("forbidden", Some(detail.clone())),
                    ScanOutcome::NoDataverse => ("no_dataverse", None),
                    ScanOutcome::Skipped { reason } => ("skipped", Some(reason.clone())),
                    ScanOutcome::Unavailable { reason } => ("unavailable", Some(reason.clone())),
                    ScanOutcome::Failed { detail } => ("failed", Some(detail.clone())),
                    _ => ("failed", None),
                };
                report.outcome = word;
                report.detail = detail;
                EnvOutcome {
                    target,
                    outcome,
                    report,
                    data: None,
                    usage: Vec::new(),
                    rebuilt: 0,
                }
            };
        let has_store = matches!(previous, PreviousEnvironment::Store(_));
        if let Some(reason) = target.unavailable.clone() {
            return fail(report, ScanOutcome::Unavailable { reason }, target);
        }
        let Some(url) = target.url.clone() else {
            return fail(report, ScanOutcome::NoDataverse, target);
        };
        let (counting, count) = CountingCredential::new(self.credential.clone());
        let client = DataverseClient::builder(url.as_str(), Arc::new(counting)).and_then(|b| {
            b.max_concurrency(self.options.requests_per_environment.max(1))
                .page_size(self.options.page_size)
                .clock(self.clock.clone())
                .build()
        });
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                return fail(
                    report,
                    ScanOutcome::Failed {
                        detail: format!("the environment URL cannot be used: {e}"),
                    },
                    target,
                );
            }
        };
        let now = self.clock.now();
        let env_key = norm(&target.id);
        let store = match &previous {
            PreviousEnvironment::Store(s) => Some(s.clone()),
            PreviousEnvironment::Memory(_) => None,
        };
        let mut state_notes = Vec::new();
        let stored = match previous {
            PreviousEnvironment::Memory(d) => d.map(|d| *d),
            PreviousEnvironment::Store(s) => {
                let key = env_key.clone();
                match tokio::task::spawn_blocking(move || s.load(&key)).await {
                    Ok(Ok(StoredEnvironment::Found(d))) => Some(*d),
                    Ok(Ok(StoredEnvironment::Unreadable(why))) => {
                        tracing::warn!(environment = %target.id, "{why}: this environment is read in full");
                        state_notes.push(format!("{why}: read in full"));
                        None
                    }
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => {
                        return fail(
                            report,
                            ScanOutcome::Failed {
                                detail: format!("the inventory state could not be read: {e}"),
                            },
                            target,
                        );
                    }
                    Err(e) => {
                        return fail(
                            report,
                            ScanOutcome::Failed {
                                detail: format!("the inventory state could not be read: {e}"),
                            },
                            target,
                        );
                    }
                }
            }
        };
        let read = tokio::time::timeout(
            self.options.environment_timeout,
            self.read_with_definitions(
                &client,
                stored,
                store.as_ref(),
                &env_key,
                &kept,
                settings,
                now,
            ),
        )
        .await;
        report.requests = count.load(Ordering::Relaxed);
        let (mut read, reuse) = match read {
            Err(_) => {
                return fail(
                    report,
                    ScanOutcome::Failed {
                        detail: format!(
                            "timed out after {}",
                            crate::config::format_duration(self.options.environment_timeout)
                        ),
                    },
                    target,
                );
            }
            Ok(Err(e)) => {
                let outcome = if matches!(e.status(), Some(401 | 403)) {
                    ScanOutcome::Forbidden {
                        detail: format!(
                            "{e} (fix: add the scan's app as an application user of this environment with read access to bot and botcomponent)"
                        ),
                    }
                } else {
                    ScanOutcome::Failed {
                        detail: e.to_string(),
                    }
                };
                return fail(report, outcome, target);
            }
            Ok(Ok(r)) => r,
        };
        read.notes.splice(0..0, state_notes);
        // The model's view and each bot's definition: CPU work, done apart so that the other
        // environments' reads go on meanwhile. With a store, the environment's changed rows
        // (and its data, the components' YAML) go to the store's writer thread: the scan does
        // not wait for them (a failed write is reported after the environments, by
        // `finish_saves`).
        let env_id = target.id.clone();
        let usage_days = settings.usage_days;
        let made = tokio::task::spawn_blocking(move || {
            let mut snap = snapshot(&read.data, &env_id, now, usage_days);
            let rebuilt = make_definitions(&mut snap.snapshot, &reuse, kept);
            let counts = DataCounts::of(&read.data);
            let saved = match &store {
                Some(s) => s.save_in_background(
                    env_key,
                    std::mem::take(&mut read.data),
                    std::mem::take(&mut read.changes),
                    now,
                ),
                None => Ok(()),
            };
            (read, counts, snap, rebuilt, saved)
        })
        .await;
        let (mut read, counts, snap, rebuilt) = match made {
            Ok((read, counts, snap, rebuilt, Ok(()))) => (read, counts, snap, rebuilt),
            Ok((_, _, _, _, Err(e))) => {
                return fail(
                    report,
                    ScanOutcome::Failed {
                        detail: format!("the inventory state could not be written: {e}"),
                    },
                    target,
                );
            }
            Err(e) => {
                return fail(
                    report,
                    ScanOutcome::Failed {
                        detail: format!("the environment's rows could not be mapped: {e}"),
                    },
                    target,
                );
            }
        };
        report.mode = Some(read.mode);
        report.complete = counts.errors.is_empty();
        report.bots = counts.bots;
        report.components = counts.components;
        report.related_targets = counts.related_targets;
        report.sessions = counts.sessions;
        report.changed_rows = read.changed_rows;
        report.notes = std::mem::take(&mut read.notes);
        report.notes.extend(snap.notes);
        report.notes.extend(counts.errors);
        if snap.unattached_components > 0 {
            report.notes.push(format!(
                "{} component(s) belong to no bot of this environment",
                snap.unattached_components
            ));
        }
        let data = if has_store {
            None
        } else {
            Some(std::mem::take(&mut read.data))
        };
        EnvOutcome {
            target,
            outcome: ScanOutcome::Scanned(snap.snapshot),
            report,
            data,
            usage: snap.usage,
            rebuilt,
        }
    }

    /// Reads one environment against its stored data, and gets the YAML of the components of
    /// the bots to rebuild that were loaded without it (from the store); when the store
    /// cannot give it, the environment is read again in full. Returns the read and the bots
    /// whose definition is kept.
    #[allow(clippy::too_many_arguments)]
    async fn read_with_definitions(
        &self,
        client: &DataverseClient,
        stored: Option<EnvironmentData>,
        store: Option<&EnvironmentStore>,
        env_key: &str,
        kept: &KeptDefinitions,
        settings: &ReadSettings,
        now: OffsetDateTime,
    ) -> Result<(EnvironmentRead, BTreeSet<String>), dataverse_client::Error> {
        let mut read = read_environment(client, stored, settings, now).await?;
        let reuse = reusable(
            read.data.bots.keys().cloned(),
            read.changed_bots.as_ref(),
            kept,
        );
        let missing: Vec<String> = read
            .data
            .components
            .iter()
            .filter(|(_, c)| {
                !c.complete
                    && c.parent
                        .as_ref()
                        .is_some_and(|p| read.data.bots.contains_key(p) && !reuse.contains(p))
            })
            .map(|(id, _)| id.clone())
            .collect();
        if missing.is_empty() {
            return Ok((read, reuse));
        }
        let fetched = match store {
            Some(s) => {
                let (s, key, ids) = (s.clone(), env_key.to_owned(), missing.clone());
                match tokio::task::spawn_blocking(move || s.component_rows(&key, &ids)).await {
                    Ok(Ok(rows)) => rows,
                    Ok(Err(e)) => {
                        tracing::warn!(environment = %env_key, "stored components could not be read ({e})");
                        BTreeMap::new()
                    }
                    Err(_) => BTreeMap::new(),
                }
            }
            None => BTreeMap::new(),
        };
        let mut lost = 0;
        for id in &missing {
            match (fetched.get(id), read.data.components.get_mut(id)) {
                (Some(row), Some(c)) => {
                    c.row = row.clone();
                    c.complete = true;
                }
                _ => lost += 1,
            }
        }
        if lost == 0 {
            return Ok((read, reuse));
        }
        // The stored rows cannot rebuild these agents: read everything again.
        tracing::warn!(environment = %env_key, "{lost} stored component(s) could not be read: this environment is read in full");
        let mut again = read_environment(client, None, settings, now).await?;
        again.notes.insert(
            0,
            format!("{lost} stored component(s) could not be read: read in full"),
        );
        Ok((again, BTreeSet::new()))
    }
}

/// The time as the summary writes it.
pub fn timestamp(t: OffsetDateTime) -> String {
    rfc3339(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::{RawConfig, SignIn};
    use crate::inventory::output::Document;
    use crate::inventory::store::InventoryStore;
    use tenant_emulator::{Emulator, RunningEmulator};

    fn scanner(emu: &RunningEmulator) -> Scanner {
        let creds = emu.credentials();
        let vars: BTreeMap<&str, String> = [
            ("DATAVERSE_TENANT_ID", creds.tenant_id.to_string()),
            ("DATAVERSE_CLIENT_ID", creds.client_id.to_string()),
            ("DATAVERSE_CLIENT_SECRET", creds.client_secret.clone()),
            ("AZURE_AUTHORITY_HOST", emu.authority_host().to_owned()),
        ]
        .into_iter()
        .collect();
        let sign_in = SignIn::from_raw(&RawConfig::from_env(|k| vars.get(k).cloned())).unwrap();
        let clock = client_core::system_clock();
        let credential = crate::credential::from_sign_in(&sign_in, clock.clone()).unwrap();
        let o = ScanOptions {
            environments: Some(vec![emu.environment_url().parse().unwrap()]),
            inventory_source: InventorySourceChoice::None,
            ..ScanOptions::default()
        };
        Scanner::new(credential, clock, o)
    }

    /// One scan through the store, as `inventory scan` runs it; with the rows SQLite changed
    /// while the environments were read (the document aside).
    async fn stored_scan(s: &Scanner, store: &mut InventoryStore) -> (ScanResult, u64) {
        let rows = store.environments();
        let previous = store.begin_scan("json").unwrap();
        let before = rows.total_changes();
        let result = s.scan_from(previous, None).await.unwrap();
        let written = rows.total_changes() - before;
        store
            .commit(
                "json",
                &result.summary.run_id,
                &result.environments,
                Some(&|w| {
                    serde_json::to_writer(w, &Document(&result)).map_err(std::io::Error::from)
                }),
                "2026-03-02T12:00:00Z",
            )
            .unwrap();
        (result, written)
    }

    /// Changes the `data` of one topic; returns its parent bot.
    fn change_one_topic(emu: &RunningEmulator) -> String {
        let mut c = emu
            .tenant()
            .component_rows()
            .into_iter()
            .find(|c| c["componenttype"] == 9 && c["_parentbotid_value"].is_string())
            .unwrap();
        let data = c["data"].as_str().unwrap().to_owned() + "\nmodelDescription: changed\n";
        c.insert("data".into(), serde_json::Value::String(data));
        let parent = c["_parentbotid_value"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase();
        emu.dataverse().insert_rows("botcomponents", [c]).unwrap();
        parent
    }

    /// Rows the same as a scan from nothing would make (bookkeeping aside).
    async fn assert_as_full(s: &Scanner, r: &ScanResult) {
        let full = s.scan(&PreviousScan::default(), None).await.unwrap();
        // A full read takes a new delta link; an incremental one keeps the link last written.
        let mut rows = r.inventory.rows.clone();
        for (e, f) in rows
            .environments
            .iter_mut()
            .zip(&full.inventory.rows.environments)
        {
            e.delta_link.clone_from(&f.delta_link);
        }
        let diff = full.inventory.diff_against(&rows);
        assert!(diff.is_empty(), "{:#?}", diff.upserts);
        assert_eq!(full.inventory.postures, r.inventory.postures);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_environment_whose_rows_cannot_be_written_is_reported_and_read_again() {
        let emu = Emulator::builder()
            .seed(32)
            .agents(4)
            .transcripts(10)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = InventoryStore::open(&dir.path().join("inv.db")).unwrap();
        let s = scanner(&emu);
        let (first, _) = stored_scan(&s, &mut store).await;
        assert_eq!(first.summary.status, ScanStatus::Complete);
        let rows = store.environments();
        let id = rows.bots_delta_links().unwrap().into_keys().next().unwrap();
        let loaded = |rows: &EnvironmentStore| match rows.load(&id).unwrap() {
            StoredEnvironment::Found(d) => *d,
            other => panic!("{other:?}"),
        };
        let before = loaded(&rows);

        // The state refuses this environment's rows (as a full disk would).
        rows.execute(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON inventory_env WHEN NEW.environment_id = '{id}'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ));
        change_one_topic(&emu);
        let (second, _) = stored_scan(&s, &mut store).await;
        let e = &second.summary.environments[0];
        assert!(
            e.notes
                .iter()
                .any(|n| n.contains("could not be written") && n.contains("refused by the test")),
            "{:#?}",
            e.notes
        );
        assert!(!e.complete);
        assert_eq!(second.summary.status, ScanStatus::Partial);
        // Its savepoint was rolled back: the previous rows and delta links stay.
        assert_eq!(loaded(&rows), before);

        // Written again: the next scan reads the change again from the kept delta link.
        rows.execute("DROP TRIGGER refuse");
        let (third, _) = stored_scan(&s, &mut store).await;
        assert_eq!(third.summary.status, ScanStatus::Complete);
        assert_eq!(third.summary.environments[0].changed_rows, 1);
        assert_eq!(third.summary.agents_rebuilt, 1, "{:#?}", third.summary);
        assert_as_full(&s, &third).await;
        assert_ne!(loaded(&rows), before);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rescan_with_the_store_rebuilds_changed_agents_from_stored_rows() {
        let emu = Emulator::builder()
            .seed(31)
            .agents(6)
            .transcripts(20)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = InventoryStore::open(&dir.path().join("inv.db")).unwrap();
        let s = scanner(&emu);
        let env = norm(emu.environment_url());
        let (first, _) = stored_scan(&s, &mut store).await;
        assert_eq!(first.summary.agents_rebuilt, first.summary.agents);
        assert!(
            first.environments.is_empty(),
            "the store holds the environments"
        );
        let rows = store.environments();
        let id = rows.bots_delta_links().unwrap().into_keys().next().unwrap();
        let components = emu.dataverse().count("botcomponents");

        // Nothing changed: the environment's row (its delta links) is the only one written.
        let (second, written) = stored_scan(&s, &mut store).await;
        assert_eq!(second.summary.agents_rebuilt, 0);
        assert!(second.diff.is_empty());
        assert_eq!(written, 1, "{env}");

        // One topic changed: its agent is rebuilt from its stored components (YAML read back
        // from the store) and the changed one; the rows are those of a scan from nothing.
        let bot = change_one_topic(&emu);
        let (third, written) = stored_scan(&s, &mut store).await;
        assert_eq!(third.summary.agents_rebuilt, 1, "{:#?}", third.summary);
        assert_eq!(third.summary.environments[0].changed_rows, 1);
        assert!(
            third
                .diff
                .upserts
                .features
                .iter()
                .all(|f| norm(&f.agent_id) == bot),
            "only {bot}'s rows change"
        );
        assert_eq!(written, 2, "the environment and the component");
        assert_as_full(&s, &third).await;

        // A stored component that cannot be read back: the environment is read in full.
        let bot = change_one_topic(&emu);
        let damaged = rows.execute(&format!(
            "UPDATE inventory_component SET data = X'FF' WHERE environment_id = '{id}' AND parent = '{bot}'"
        ));
        assert!(damaged > 1);
        let (fourth, _) = stored_scan(&s, &mut store).await;
        let e = &fourth.summary.environments[0];
        assert!(
            e.notes.iter().any(|n| n.contains("read in full")),
            "{:#?}",
            e.notes
        );
        assert_eq!(fourth.summary.agents_rebuilt, fourth.summary.agents);
        assert_as_full(&s, &fourth).await;

        // A stored row that cannot be read at all: the same, and the rows are whole again.
        rows.execute(&format!(
            "UPDATE inventory_component SET component_type = 'x' WHERE environment_id = '{id}'"
        ));
        let (fifth, _) = stored_scan(&s, &mut store).await;
        let e = &fifth.summary.environments[0];
        assert_eq!(e.mode, Some(ReadMode::Full));
        assert!(
            e.notes.iter().any(|n| n.contains("unreadable")),
            "{:#?}",
            e.notes
        );
        // Nothing changed in Dataverse: no agent's rows (the environment's row takes the new
        // delta link of a full read).
        let u = &fifth.diff.upserts;
        assert!(
            u.agents.is_empty() && u.features.is_empty() && u.compliance.is_empty(),
            "{u:#?}"
        );
        assert_eq!(e.components, components);
        let (sixth, _) = stored_scan(&s, &mut store).await;
        assert_eq!(
            sixth.summary.environments[0].mode,
            Some(ReadMode::Incremental)
        );
        assert_eq!(sixth.summary.agents_rebuilt, 0);
    }
}

//! The scan: environments, the tenant inventory (layer 1), each environment's Dataverse
//! (layer 2, bounded concurrency), then rows, reconciliation, findings and the diff from
//! `inventory-model`.

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
};
use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

use super::dataverse::{
    CountingCredential, EnvironmentData, ReadMode, ReadSettings, read_environment, snapshot,
};
use super::tenant::{EnvironmentTarget, InventorySourceChoice, list_environments, tenant_agents};
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
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PreviousScan {
    /// Per environment id (lower case).
    pub environments: BTreeMap<String, EnvironmentData>,
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
    /// Per-environment data to keep for the next scan (environments read this time).
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

/// Each bot's definition: kept from the previous scan when it did not change (`changed` says
/// which did; `None` is all), made from its components otherwise. Returns how many were made.
fn make_definitions(
    snapshot: &mut DataverseSnapshot,
    changed: Option<&BTreeSet<String>>,
    mut kept: KeptDefinitions,
) -> usize {
    let registry = ComponentTypeRegistry::builtin();
    let settings = InventorySettings::default();
    let mut made = 0;
    for bot in &mut snapshot.bots {
        let id = norm(&bot.bot.bot_id);
        let unchanged = changed.is_some_and(|c| !c.contains(&id));
        let checks = kept.checks.remove(&id).filter(|_| unchanged);
        bot.definition = Some(match checks {
            Some(checks) => {
                AgentDefinition::new(kept.features.remove(&id).unwrap_or_default(), checks)
            }
            None => {
                made += 1;
                agent_definition(&registry, bot, &settings)
            }
        });
    }
    made
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
            match list_environments(arg).await {
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

        // Layer 1: the tenant inventory.
        let mut inv_layer = LayerReport::new("skipped", 0);
        inv_layer.source = Some(self.options.inventory_source.as_str());
        let mut tenant: Option<Vec<TenantAgent>> = None;
        if let (Some(arg), false) = (
            &arg,
            self.options.inventory_source == InventorySourceChoice::None,
        ) {
            match tenant_agents(arg, self.options.inventory_source).await {
                Ok((agents, problems)) => {
                    inv_layer.status = "read";
                    inv_layer.count = agents.len();
                    notes.extend(problems);
                    tenant = Some(agents);
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

        // Layer 2: each environment's Dataverse, `concurrency` at a time.
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
        let mut outcomes: Vec<EnvOutcome> = futures::stream::iter(targets)
            .map(|t| {
                let prev = stored.remove(&norm(&t.id));
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
            .collect()
            .await;
        outcomes.sort_by_key(|o| norm(&o.target.id));

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
        let identity = super::identity::read_identities(
            &self.credential,
            &self.clock,
            &self.options.identity,
            input.tenant_agents.as_deref(),
            &previous.identities,
            started,
        )
        .await;
        input.identities = identity.observations();
        let mut inventory = build_inventory(&input, &InventorySettings::default());
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
        let diff =
            inventory.diff_against(previous.rows.as_ref().unwrap_or(&InventoryRows::default()));

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
        previous: Option<EnvironmentData>,
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
        if let Some(reason) = target.unavailable.clone() {
            return fail(report, ScanOutcome::Skipped { reason }, target);
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
        let read = tokio::time::timeout(
            self.options.environment_timeout,
            read_environment(&client, previous, settings, now),
        )
        .await;
        report.requests = count.load(Ordering::Relaxed);
        let read = match read {
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
        // The model's view and each bot's definition: CPU work, done apart so that the other
        // environments' reads go on meanwhile.
        let env_id = target.id.clone();
        let usage_days = settings.usage_days;
        let made = tokio::task::spawn_blocking(move || {
            let mut snap = snapshot(&read.data, &env_id, now, usage_days);
            let rebuilt = make_definitions(&mut snap.snapshot, read.changed_bots.as_ref(), kept);
            (read, snap, rebuilt)
        })
        .await;
        let (read, snap, rebuilt) = match made {
            Ok(m) => m,
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
        report.complete = read.data.components_error.is_none()
            && read.data.related_error.is_none()
            && read.data.usage_error.is_none();
        report.bots = read.data.bots.len();
        report.components = read.data.components.len();
        report.related_targets = read.data.related.values().map(BTreeSet::len).sum();
        report.sessions = read.data.sessions.values().map(Vec::len).sum();
        report.changed_rows = read.changed_rows;
        report.notes = read.notes;
        report.notes.extend(snap.notes);
        for e in [
            &read.data.components_error,
            &read.data.related_error,
            &read.data.usage_error,
        ]
        .into_iter()
        .flatten()
        {
            report.notes.push(e.clone());
        }
        if snap.unattached_components > 0 {
            report.notes.push(format!(
                "{} component(s) belong to no bot of this environment",
                snap.unattached_components
            ));
        }
        EnvOutcome {
            target,
            outcome: ScanOutcome::Scanned(snap.snapshot),
            report,
            data: Some(read.data),
            usage: snap.usage,
            rebuilt,
        }
    }
}

/// The time as the summary writes it.
pub fn timestamp(t: OffsetDateTime) -> String {
    rfc3339(t)
}

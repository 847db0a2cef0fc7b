//! Reconciliation of the tenant inventory, the per-environment Dataverse scans and
//! the environment list: which sources saw each agent, and a [`CoverageRecord`] for
//! every gap between them.
//!
//! Agents are matched on (environment id, bot id), both compared without regard to
//! case. An inventory agent whose `name` matches no bot but whose `botId` does is
//! matched through `botId` and gets an [`CoverageKind::IdSpaceSplit`] warning: the
//! two id spaces differ for it, and joins on the wrong one lose it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::Duration;

use crate::input::{
    BotScan, DataverseSnapshot, EnvironmentInfo, ScanInput, ScanOutcome, TenantAgent,
};
use crate::options::DiscoverySource;

/// Why an agent is in the tenant inventory but not in its environment's Dataverse scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InventoryOnlyReason {
    /// The inventory is ahead of the scan: the agent was created after its
    /// environment's bot table was read.
    NotYetSynced,
    /// Its environment could not be read (or was not scanned).
    EnvironmentUnreadable,
    /// Dataverse no longer has it: the delta reported it deleted, or the environment
    /// was read completely without it (the inventory lags deletions).
    Deleted,
    /// A Microsoft 365 Copilot Agent Builder agent: its definition is not kept in the
    /// environment's bot table, so no Dataverse scan can read it.
    AgentBuilder,
}

/// Why a bot is in Dataverse but not in the tenant inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DataverseOnlyReason {
    /// A classic (V1) bot: only first-generation component types; the inventory
    /// lists current agents only.
    ClassicBot,
    /// Created within the inventory's freshness window before it was read.
    InventoryLag,
    /// The tenant inventory could not be read at all.
    InventoryNotRead,
    /// None of the above explains it.
    Unexplained,
}

/// Why a listed environment was not scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotScannedReason {
    /// HTTP 403 or no application user.
    Forbidden,
    /// No Dataverse database.
    NoDataverse,
    /// A developer environment (not scanned, or skipped by settings).
    Developer,
    /// Skipped by settings.
    Skipped,
    /// The environment list says it is disabled or being deleted.
    Unavailable,
    /// The scan failed.
    Failed,
    /// The scan did not try.
    NotAttempted,
}

/// What kind of gap a coverage record reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CoverageKind {
    /// In the tenant inventory only.
    InventoryOnly(InventoryOnlyReason),
    /// In Dataverse only.
    DataverseOnly(DataverseOnlyReason),
    /// A listed (or inventory-referenced) environment was not scanned.
    EnvironmentNotScanned(NotScannedReason),
    /// An environment seen by the inventory or a scan is not in the environment list.
    EnvironmentNotListed,
    /// The environment list could not be read.
    EnvironmentListUnavailable,
    /// The tenant inventory could not be read.
    InventoryUnavailable,
    /// The inventory's `name` is not the Dataverse bot id; matched through `botId`.
    IdSpaceSplit,
    /// The same agent id appears in more than one environment; feature rows are keyed
    /// by (agent, source) only, so those environments' features share keys.
    AgentInSeveralEnvironments,
}

impl CoverageKind {
    /// A stable code, e.g. `inventory_only.environment_unreadable`.
    pub fn code(&self) -> String {
        let json = serde_json::to_value(self).unwrap_or_default();
        let kind = json
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("unknown");
        match json.get("reason").and_then(|r| r.as_str()) {
            Some(reason) => format!("{kind}.{reason}"),
            None => kind.to_owned(),
        }
    }
}

/// One gap between the sources, never silent: the scan reports these and the rows
/// carry them (discovery source, scan completeness and its reason, the coverage
/// posture finding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CoverageRecord {
    /// What kind of gap.
    #[serde(flatten)]
    pub kind: CoverageKind,
    /// The environment concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    /// The agent concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// What the scan saw, in words.
    pub detail: String,
}

/// One agent after reconciliation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReconciledAgent<'a> {
    /// The agent id (the Dataverse bot id when Dataverse has it, else the inventory `name`).
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// The inventory's row, if the inventory has it.
    pub inventory: Option<&'a TenantAgent>,
    /// The Dataverse bot and its snapshot, if the scan read it.
    pub dataverse: Option<(&'a DataverseSnapshot, &'a BotScan)>,
    /// The environment, if listed.
    pub environment: Option<&'a EnvironmentInfo>,
    /// The environment's scan outcome, if any.
    pub scan: Option<&'a ScanOutcome>,
    /// Which sources saw it.
    pub discovery_source: DiscoverySource,
    /// The gaps about this agent.
    pub coverage: Vec<CoverageRecord>,
}

/// The reconciled view of a scan.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reconciliation<'a> {
    /// Agents, ordered by (environment id, agent id) without regard to case.
    pub agents: Vec<ReconciledAgent<'a>>,
    /// Environments: every listed, scanned or inventory-referenced one, ordered by id.
    pub environments: Vec<ReconciledEnvironment<'a>>,
    /// Every gap: environment-level first, then per agent in agent order.
    pub coverage: Vec<CoverageRecord>,
}

/// One environment after reconciliation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReconciledEnvironment<'a> {
    /// The environment id (as the environment list spells it, when listed).
    pub environment_id: String,
    /// The list entry, when listed.
    pub info: Option<&'a EnvironmentInfo>,
    /// The scan outcome, when scanned or tried.
    pub scan: Option<&'a ScanOutcome>,
}

/// Settings of reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileSettings {
    /// How far the tenant inventory may lag Dataverse (about 15 minutes).
    pub inventory_freshness: Duration,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            inventory_freshness: Duration::minutes(15),
        }
    }
}

fn norm(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

fn not_scanned_reason(
    outcome: Option<&ScanOutcome>,
    info: Option<&EnvironmentInfo>,
) -> Option<(NotScannedReason, String)> {
    let developer = info
        .and_then(|i| i.sku.as_deref())
        .is_some_and(|s| s.eq_ignore_ascii_case("Developer"));
    match outcome {
        Some(ScanOutcome::Scanned(_)) => None,
        Some(ScanOutcome::Forbidden { detail }) => Some((
            NotScannedReason::Forbidden,
            format!("access denied (403): {detail}"),
        )),
        Some(ScanOutcome::NoDataverse) => Some((
            NotScannedReason::NoDataverse,
            "the environment has no Dataverse database".to_owned(),
        )),
        Some(ScanOutcome::Skipped { reason }) if developer => Some((
            NotScannedReason::Developer,
            format!("developer environment skipped: {reason}"),
        )),
        Some(ScanOutcome::Skipped { reason }) => {
            Some((NotScannedReason::Skipped, format!("skipped: {reason}")))
        }
        Some(ScanOutcome::Unavailable { reason }) => Some((
            NotScannedReason::Unavailable,
            format!("the environment list says it cannot be read: {reason}"),
        )),
        Some(ScanOutcome::Failed { detail }) => {
            Some((NotScannedReason::Failed, format!("scan failed: {detail}")))
        }
        None if developer => Some((
            NotScannedReason::Developer,
            "developer environment not scanned".to_owned(),
        )),
        None if info.is_some_and(|i| i.instance_api_url.is_none()) => Some((
            NotScannedReason::NoDataverse,
            "the environment list gives no Dataverse URL".to_owned(),
        )),
        None => Some((
            NotScannedReason::NotAttempted,
            "no scan of this environment in this run".to_owned(),
        )),
    }
}

/// Whether a bot looks classic: it has components and all of them are of the
/// first-generation types (0..=8).
fn is_classic(bot: &BotScan) -> bool {
    !bot.components.is_empty()
        && bot
            .components
            .iter()
            .all(|c| (0..=8).contains(&c.component_type))
}

/// Reconciles what a scan read.
pub fn reconcile<'a>(input: &'a ScanInput, settings: &ReconcileSettings) -> Reconciliation<'a> {
    let mut coverage = Vec::new();
    let record = |kind, env: Option<&str>, agent: Option<&str>, detail: String| CoverageRecord {
        kind,
        environment_id: env.map(str::to_owned),
        agent_id: agent.map(str::to_owned),
        detail,
    };

    // Environments by normalised id; the first spelling seen wins, list first.
    let mut envs: BTreeMap<String, ReconciledEnvironment<'a>> = BTreeMap::new();
    for info in input.environments.iter().flatten() {
        envs.entry(norm(&info.environment_id))
            .or_insert(ReconciledEnvironment {
                environment_id: info.environment_id.clone(),
                info: Some(info),
                scan: None,
            });
    }
    let listed: BTreeSet<String> = envs.keys().cloned().collect();
    for scan in &input.environment_scans {
        let e = envs
            .entry(norm(&scan.environment_id))
            .or_insert(ReconciledEnvironment {
                environment_id: scan.environment_id.clone(),
                info: None,
                scan: None,
            });
        // A repeated entry for one environment: the first one counts.
        if e.scan.is_none() {
            e.scan = Some(&scan.outcome);
        }
    }
    for agent in input.tenant_agents.iter().flatten() {
        envs.entry(norm(&agent.environment_id))
            .or_insert(ReconciledEnvironment {
                environment_id: agent.environment_id.clone(),
                info: None,
                scan: None,
            });
    }

    if input.environments.is_none() {
        coverage.push(record(
            CoverageKind::EnvironmentListUnavailable,
            None,
            None,
            "the admin environment list was not read; environments are known only from scans and the inventory".to_owned(),
        ));
    }
    if input.tenant_agents.is_none() {
        coverage.push(record(
            CoverageKind::InventoryUnavailable,
            None,
            None,
            "the tenant inventory was not read; agents are known only from Dataverse scans"
                .to_owned(),
        ));
    }
    for (key, env) in &envs {
        if input.environments.is_some() && !listed.contains(key) {
            coverage.push(record(
                CoverageKind::EnvironmentNotListed,
                Some(&env.environment_id),
                None,
                "seen by the inventory or a scan but not in the environment list".to_owned(),
            ));
        }
        if let Some((reason, detail)) = not_scanned_reason(env.scan, env.info) {
            coverage.push(record(
                CoverageKind::EnvironmentNotScanned(reason),
                Some(&env.environment_id),
                None,
                detail,
            ));
        }
    }

    // Dataverse bots by (environment, bot id).
    let mut bots: BTreeMap<(String, String), (&'a DataverseSnapshot, &'a BotScan)> =
        BTreeMap::new();
    for (key, env) in &envs {
        if let Some(ScanOutcome::Scanned(snapshot)) = env.scan {
            for bot in &snapshot.bots {
                bots.entry((key.clone(), norm(&bot.bot.bot_id)))
                    .or_insert((snapshot, bot));
            }
        }
    }

    let inventory_read_at = input.inventory_read_at.unwrap_or(input.scanned_at);
    let mut agents: BTreeMap<(String, String), ReconciledAgent<'a>> = BTreeMap::new();
    let mut matched: BTreeSet<(String, String)> = BTreeSet::new();
    for agent in input.tenant_agents.iter().flatten() {
        let env_key = norm(&agent.environment_id);
        let Some(env) = envs.get(&env_key) else {
            continue;
        };
        let by_name = (env_key.clone(), norm(&agent.name));
        let by_bot_id = agent.bot_id.as_deref().map(|b| (env_key.clone(), norm(b)));
        let mut own = Vec::new();
        let hit = if let Some(found) = bots.get(&by_name).filter(|_| !matched.contains(&by_name)) {
            Some((by_name.clone(), *found))
        } else if let Some(key) =
            by_bot_id.filter(|k| k.1 != by_name.1 && bots.contains_key(k) && !matched.contains(k))
        {
            own.push(record(
                CoverageKind::IdSpaceSplit,
                Some(&env.environment_id),
                Some(&agent.name),
                format!(
                    "inventory name `{}` is not a bot id in Dataverse; matched through botId `{}`",
                    agent.name, key.1
                ),
            ));
            bots.get(&key).map(|found| (key.clone(), *found))
        } else {
            None
        };
        let (agent_id, dataverse, source) = match hit {
            Some((key, found)) => {
                matched.insert(key);
                (
                    found.1.bot.bot_id.clone(),
                    Some(found),
                    DiscoverySource::Reconciled,
                )
            }
            None => {
                let agent_builder = agent
                    .created_in
                    .as_deref()
                    .is_some_and(|c| c.to_ascii_lowercase().contains("agent builder"));
                let (reason, detail) = match env.scan {
                    Some(ScanOutcome::Scanned(_)) if agent_builder => (
                        InventoryOnlyReason::AgentBuilder,
                        "an Agent Builder agent: its definition is not in the bot table".to_owned(),
                    ),
                    Some(ScanOutcome::Scanned(snapshot)) => {
                        let deleted = snapshot
                            .deleted_bot_ids
                            .iter()
                            .any(|d| norm(d) == by_name.1);
                        if deleted {
                            (
                                InventoryOnlyReason::Deleted,
                                "the environment's change tracking reports it deleted".to_owned(),
                            )
                        } else if agent.created_at.is_some_and(|c| c > snapshot.read_at) {
                            (
                                InventoryOnlyReason::NotYetSynced,
                                "created after the environment's bots were read".to_owned(),
                            )
                        } else {
                            (
                                InventoryOnlyReason::Deleted,
                                "not in the environment's bot table although it was read; the inventory lags deletions".to_owned(),
                            )
                        }
                    }
                    other => {
                        let detail = not_scanned_reason(other, env.info)
                            .map(|(_, d)| d)
                            .unwrap_or_default();
                        (InventoryOnlyReason::EnvironmentUnreadable, detail)
                    }
                };
                own.push(record(
                    CoverageKind::InventoryOnly(reason),
                    Some(&env.environment_id),
                    Some(&agent.name),
                    detail,
                ));
                let source = match agent.source {
                    crate::input::InventorySource::PowerPlatformAdmin => {
                        DiscoverySource::AdminCenter
                    }
                    _ => DiscoverySource::ResourceGraph,
                };
                (agent.name.clone(), None, source)
            }
        };
        let key = (env_key.clone(), norm(&agent_id));
        if agents.contains_key(&key) {
            // The inventory listed this agent twice; the first row counts.
            continue;
        }
        agents.insert(
            key,
            ReconciledAgent {
                agent_id,
                environment_id: env.environment_id.clone(),
                inventory: Some(agent),
                dataverse,
                environment: env.info,
                scan: env.scan,
                discovery_source: source,
                coverage: own,
            },
        );
    }

    for (key, found) in &bots {
        if matched.contains(key) {
            continue;
        }
        let env = &envs[&key.0];
        let (reason, detail) = if input.tenant_agents.is_none() {
            (
                DataverseOnlyReason::InventoryNotRead,
                "the tenant inventory was not read".to_owned(),
            )
        } else if is_classic(found.1) {
            (
                DataverseOnlyReason::ClassicBot,
                "only first-generation (V1) components: a classic bot".to_owned(),
            )
        } else if found
            .1
            .bot
            .created_on
            .is_some_and(|c| c + settings.inventory_freshness >= inventory_read_at)
        {
            (
                DataverseOnlyReason::InventoryLag,
                "created shortly before the inventory was read".to_owned(),
            )
        } else {
            (
                DataverseOnlyReason::Unexplained,
                "in Dataverse but not in the tenant inventory".to_owned(),
            )
        };
        agents.insert(
            key.clone(),
            ReconciledAgent {
                agent_id: found.1.bot.bot_id.clone(),
                environment_id: env.environment_id.clone(),
                inventory: None,
                dataverse: Some(*found),
                environment: env.info,
                scan: env.scan,
                discovery_source: DiscoverySource::DataverseScan,
                coverage: vec![record(
                    CoverageKind::DataverseOnly(reason),
                    Some(&env.environment_id),
                    Some(&found.1.bot.bot_id),
                    detail,
                )],
            },
        );
    }

    // The same agent id in several environments.
    let mut environments_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (env, agent) in agents.keys() {
        environments_of
            .entry(agent.clone())
            .or_default()
            .push(env.clone());
    }
    for ((env, agent_key), agent) in agents.iter_mut() {
        if let Some(all) = environments_of.get(agent_key).filter(|all| all.len() > 1) {
            let others: Vec<&str> = all
                .iter()
                .filter(|e| *e != env)
                .map(String::as_str)
                .collect();
            agent.coverage.push(record(
                CoverageKind::AgentInSeveralEnvironments,
                Some(&agent.environment_id),
                Some(&agent.agent_id),
                format!("the same agent id is also in {}", others.join(", ")),
            ));
        }
    }

    let agents: Vec<ReconciledAgent<'a>> = agents.into_values().collect();
    for a in &agents {
        coverage.extend(a.coverage.iter().cloned());
    }
    Reconciliation {
        agents,
        environments: envs.into_values().collect(),
        coverage,
    }
}

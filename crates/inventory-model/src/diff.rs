//! The difference between the previous scan's rows and this scan's: what to
//! upsert, and which agents are no longer seen.
//!
//! Rows are compared by key and by value, ignoring the bookkeeping columns every
//! scan rewrites (`fsi_runid` and the scan timestamps), so an unchanged tenant
//! upserts nothing. An agent that is no longer seen is not deleted: its previous
//! row is upserted once with `fsi_publishedstate` = [`GONE_STATE`] (keeping its
//! last scan time as "last seen") and listed in [`InventoryDiff::gone_agents`].
//! Agents whose environment this scan did not observe are left alone and listed
//! in [`InventoryDiff::unobserved_agents`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::mapping::{Inventory, InventoryRows};
use crate::options::DiscoverySource;
use crate::rows::{AgentRow, Encoding, InventoryRow};

/// `fsi_publishedstate` of an agent no longer seen.
pub const GONE_STATE: &str = "Not Seen";

/// Columns every scan rewrites; a difference only there is not a change.
pub const BOOKKEEPING_COLUMNS: [&str; 5] = [
    "fsi_runid",
    "fsi_lastscannedat",
    "fsi_lastcheckedutc",
    "fsi_lastaggregatedat",
    "fsi_lastevaluatedat",
];

/// What this scan could observe, to tell "gone" from "not looked at".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiffScope {
    /// Environments whose Dataverse was read (ids compared without regard to case).
    pub scanned_environments: BTreeSet<String>,
    /// Whether the tenant inventory was read.
    pub inventory_read: bool,
}

impl DiffScope {
    /// A scope.
    pub fn new(
        scanned_environments: impl IntoIterator<Item = String>,
        inventory_read: bool,
    ) -> Self {
        DiffScope {
            scanned_environments: scanned_environments.into_iter().map(|e| norm(&e)).collect(),
            inventory_read,
        }
    }
}

/// An agent the previous scan had and this one does not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentRef {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
}

/// A row of another table the previous scan wrote and this one did not produce.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaleRow {
    /// The table's logical name.
    pub table: &'static str,
    /// The row's key columns and values.
    pub key: Vec<(&'static str, String)>,
}

/// What to write after a scan.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct InventoryDiff {
    /// Rows to upsert: new or changed rows, and gone agents marked [`GONE_STATE`].
    pub upserts: InventoryRows,
    /// Agents no longer seen (their rows are kept, marked, not deleted).
    pub gone_agents: Vec<AgentRef>,
    /// Agents of environments this scan did not observe (left as they were).
    pub unobserved_agents: Vec<AgentRef>,
    /// Rows of the other tables no longer produced for agents still seen (a removed
    /// component, a withdrawn billing policy); the caller decides to delete or keep.
    pub stale_rows: Vec<StaleRow>,
}

impl InventoryDiff {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.upserts == InventoryRows::default()
            && self.gone_agents.is_empty()
            && self.stale_rows.is_empty()
    }
}

fn norm(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

fn comparable<R: InventoryRow>(row: &R) -> Map<String, Value> {
    let mut json = row.to_json(Encoding::Dataverse);
    for c in BOOKKEEPING_COLUMNS {
        json.remove(c);
    }
    json
}

fn key_of<R: InventoryRow>(row: &R) -> Vec<String> {
    match row.key_values() {
        Some(values) => values.into_iter().map(|(_, v)| norm(&v)).collect(),
        None => {
            // Billing rows have no alternate key: (agent, policy) identifies them.
            let json = row.to_json(Encoding::Dataverse);
            ["fsi_agentid", "fsi_policyid"]
                .iter()
                .map(|c| {
                    json.get(*c)
                        .and_then(Value::as_str)
                        .map(norm)
                        .unwrap_or_default()
                })
                .collect()
        }
    }
}

fn key_pairs<R: InventoryRow>(row: &R) -> Vec<(&'static str, String)> {
    row.key_values().unwrap_or_else(|| {
        let json = row.to_json(Encoding::Dataverse);
        ["fsi_agentid", "fsi_policyid"]
            .iter()
            .map(|c| {
                (
                    *c,
                    json.get(*c)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    })
}

/// The agent (agent id, environment id) a row belongs to, if it has both.
fn agent_of<R: InventoryRow>(row: &R) -> Option<(String, String)> {
    let json = row.to_json(Encoding::Dataverse);
    let agent = json.get("fsi_agentid")?.as_str()?;
    let env = json
        .get("fsi_environmentid")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((norm(agent), norm(env)))
}

fn changed<R: InventoryRow>(previous: &[R], current: &[R]) -> (Vec<R>, Vec<Vec<String>>) {
    let before: BTreeMap<Vec<String>, Map<String, Value>> = previous
        .iter()
        .map(|r| (key_of(r), comparable(r)))
        .collect();
    let upserts = current
        .iter()
        .filter(|r| before.get(&key_of(*r)) != Some(&comparable(*r)))
        .cloned()
        .collect();
    let now: BTreeSet<Vec<String>> = current.iter().map(key_of).collect();
    let missing = before
        .keys()
        .filter(|k| !now.contains(*k))
        .cloned()
        .collect();
    (upserts, missing)
}

fn stale<R: InventoryRow>(
    previous: &[R],
    missing: &[Vec<String>],
    gone_or_unobserved: &BTreeSet<(String, String)>,
    out: &mut Vec<StaleRow>,
) {
    let missing: BTreeSet<&Vec<String>> = missing.iter().collect();
    for row in previous {
        if !missing.contains(&key_of(row)) {
            continue;
        }
        // Rows of gone or unobserved agents follow their agent, they are not stale.
        if agent_of(row).is_some_and(|a| {
            gone_or_unobserved.contains(&a)
                || gone_or_unobserved
                    .iter()
                    .any(|(g, _)| *g == a.0 && a.1.is_empty())
        }) {
            continue;
        }
        out.push(StaleRow {
            table: R::TABLE.logical_name,
            key: key_pairs(row),
        });
    }
}

/// Compares the previous scan's rows with this scan's.
pub fn diff(previous: &InventoryRows, current: &InventoryRows, scope: &DiffScope) -> InventoryDiff {
    let mut out = InventoryDiff::default();
    let (mut agents, missing_agents) = changed(&previous.agents, &current.agents);
    let missing: BTreeSet<&Vec<String>> = missing_agents.iter().collect();
    let mut left_alone: BTreeSet<(String, String)> = BTreeSet::new();
    for row in &previous.agents {
        if !missing.contains(&key_of(row)) {
            continue;
        }
        let env = norm(&row.environment_id);
        let r = AgentRef {
            agent_id: row.agent_id.clone(),
            environment_id: row.environment_id.clone(),
        };
        let seen_by_inventory = matches!(
            row.discovery_source,
            Some(
                DiscoverySource::ResourceGraph
                    | DiscoverySource::AdminCenter
                    | DiscoverySource::Reconciled
            )
        );
        let observable = scope.scanned_environments.contains(&env)
            || (scope.inventory_read && seen_by_inventory);
        left_alone.insert((norm(&row.agent_id), env));
        if observable {
            if row.published_state.as_deref() != Some(GONE_STATE) {
                let mut marked: AgentRow = row.clone();
                marked.published_state = Some(GONE_STATE.to_owned());
                agents.push(marked);
            }
            out.gone_agents.push(r);
        } else {
            out.unobserved_agents.push(r);
        }
    }
    out.upserts.agents = agents;

    macro_rules! table {
        ($field:ident) => {{
            let (rows, missing) = changed(&previous.$field, &current.$field);
            out.upserts.$field = rows;
            stale(&previous.$field, &missing, &left_alone, &mut out.stale_rows);
        }};
    }
    table!(environments);
    table!(features);
    table!(auth_shares);
    table!(billing);
    table!(usage);
    table!(work_iq);
    table!(compliance);
    out
}

impl Inventory {
    /// What this scan observed, for [`diff`].
    pub fn diff_scope(&self) -> DiffScope {
        DiffScope {
            scanned_environments: self.scanned_environments.iter().map(|e| norm(e)).collect(),
            inventory_read: self.inventory_read,
        }
    }

    /// The diff of this scan against the previous scan's rows.
    pub fn diff_against(&self, previous: &InventoryRows) -> InventoryDiff {
        diff(previous, &self.rows, &self.diff_scope())
    }
}

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
use crate::schema::ColumnType;

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

/// The columns that identify a row of `R`: its upsert key, or (agent, policy) for
/// the billing shell, which has none.
fn key_columns<R: InventoryRow>() -> &'static [&'static str] {
    R::TABLE
        .upsert_key()
        .map_or(&["fsi_agentid", "fsi_policyid"], |k| k.columns)
}

/// A row as compared, from one serialisation: its key (values without regard to
/// case) and its columns without bookkeeping, with the values Dataverse treats as
/// equal made equal (an empty text is no text; a yes/no column without a value
/// reads back as its default).
struct Entry {
    key: Vec<String>,
    columns: Map<String, Value>,
}

impl Entry {
    fn of<R: InventoryRow>(row: &R) -> Self {
        let mut json = row.to_json(Encoding::Dataverse);
        let key = key_columns::<R>()
            .iter()
            .map(|c| {
                json.get(*c)
                    .and_then(Value::as_str)
                    .map(norm)
                    .unwrap_or_default()
            })
            .collect();
        for c in BOOKKEEPING_COLUMNS {
            json.remove(c);
        }
        for column in R::TABLE.columns {
            let Some(value) = json.get_mut(column.logical_name) else {
                continue;
            };
            match (column.column_type, &*value) {
                (ColumnType::String { .. } | ColumnType::Memo { .. }, Value::String(s))
                    if s.is_empty() =>
                {
                    *value = Value::Null;
                }
                (ColumnType::Boolean { default }, Value::Null) => *value = Value::Bool(default),
                _ => {}
            }
        }
        Entry { key, columns: json }
    }

    fn text(&self, column: &str) -> Option<&str> {
        self.columns.get(column).and_then(Value::as_str)
    }

    /// The agent (agent id, environment id) the row belongs to, if it names one.
    fn agent(&self) -> Option<(String, String)> {
        let agent = self.text("fsi_agentid")?;
        Some((
            norm(agent),
            self.text("fsi_environmentid").map(norm).unwrap_or_default(),
        ))
    }
}

/// Which rows are the same at the same position in both scans (bookkeeping aside): rows come
/// in a deterministic order, so an unchanged tenant matches row for row and those rows need
/// no JSON comparison. Equal typed values make equal JSON, hence the same key and columns.
fn aligned<R: InventoryRow>(previous: &[R], current: &[R]) -> Vec<bool> {
    current
        .iter()
        .enumerate()
        .map(|(i, row)| {
            previous
                .get(i)
                .is_some_and(|p| p.same_except(row, &BOOKKEEPING_COLUMNS))
        })
        .collect()
}

/// The previous rows not matched by [`aligned`], as compared.
fn unmatched<'a, R: InventoryRow>(previous: &'a [R], same: &[bool]) -> Vec<(&'a R, Entry)> {
    previous
        .iter()
        .enumerate()
        .filter(|(i, _)| !same.get(*i).copied().unwrap_or(false))
        .map(|(_, r)| (r, Entry::of(r)))
        .collect()
}

/// Rows new or changed in `current`, and the keys of `previous` rows no longer there
/// (`previous` holds the rows not matched at their position; `same` marks the matched).
fn changed<R: InventoryRow>(
    previous: &[(&R, Entry)],
    current: &[R],
    same: &[bool],
) -> (Vec<R>, BTreeSet<Vec<String>>) {
    if previous.is_empty() {
        // Nothing to compare with (a first scan): every row is new, none is missing.
        let upserts = current
            .iter()
            .enumerate()
            .filter(|(i, _)| !same.get(*i).copied().unwrap_or(false))
            .map(|(_, r)| r.clone())
            .collect();
        return (upserts, BTreeSet::new());
    }
    let before: BTreeMap<&Vec<String>, &Map<String, Value>> =
        previous.iter().map(|(_, e)| (&e.key, &e.columns)).collect();
    let mut now = BTreeSet::new();
    let mut upserts = Vec::new();
    for (i, row) in current.iter().enumerate() {
        if same.get(i).copied().unwrap_or(false) {
            continue;
        }
        let entry = Entry::of(row);
        if before.get(&entry.key) != Some(&&entry.columns) {
            upserts.push(row.clone());
        }
        now.insert(entry.key);
    }
    let missing = before
        .keys()
        .filter(|k| !now.contains(**k))
        .map(|k| (*k).clone())
        .collect();
    (upserts, missing)
}

/// Agents whose rows follow them (gone or unobserved): by (agent, environment), and
/// by agent alone for rows that name no environment.
struct LeftAlone {
    agents: BTreeSet<(String, String)>,
    ids: BTreeSet<String>,
}

fn stale<R: InventoryRow>(
    previous: &[(&R, Entry)],
    missing: &BTreeSet<Vec<String>>,
    left_alone: &LeftAlone,
    out: &mut Vec<StaleRow>,
) {
    for (_, entry) in previous {
        if !missing.contains(&entry.key) {
            continue;
        }
        if entry.agent().is_some_and(|(agent, env)| {
            left_alone.agents.contains(&(agent.clone(), env.clone()))
                || (env.is_empty() && left_alone.ids.contains(&agent))
        }) {
            continue;
        }
        out.push(StaleRow {
            table: R::TABLE.logical_name,
            key: key_columns::<R>()
                .iter()
                .map(|c| (*c, entry.text(c).unwrap_or_default().to_owned()))
                .collect(),
        });
    }
}

/// Compares the previous scan's rows with this scan's.
pub fn diff(previous: &InventoryRows, current: &InventoryRows, scope: &DiffScope) -> InventoryDiff {
    let mut out = InventoryDiff::default();
    let same = aligned(&previous.agents, &current.agents);
    let before = unmatched(&previous.agents, &same);
    let (mut agents, missing) = changed(&before, &current.agents, &same);
    let mut left_alone = LeftAlone {
        agents: BTreeSet::new(),
        ids: BTreeSet::new(),
    };
    for (row, entry) in &before {
        if !missing.contains(&entry.key) {
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
        left_alone.agents.insert((norm(&row.agent_id), env));
        left_alone.ids.insert(norm(&row.agent_id));
        if observable {
            if row.published_state.as_deref() != Some(GONE_STATE) {
                let mut marked: AgentRow = (*row).clone();
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
        ($field:ident, $row:ty) => {{
            let same = aligned(&previous.$field, &current.$field);
            let before = unmatched(&previous.$field, &same);
            let (rows, missing) = changed(&before, &current.$field, &same);
            out.upserts.$field = rows;
            stale::<$row>(&before, &missing, &left_alone, &mut out.stale_rows);
        }};
    }
    table!(environments, crate::rows::EnvironmentRow);
    table!(features, crate::rows::AgentFeatureRow);
    table!(auth_shares, crate::rows::AuthShareRow);
    table!(billing, crate::rows::BillingEntitlementRow);
    table!(usage, crate::rows::UsageSignalRow);
    table!(work_iq, crate::rows::WorkIqStateRow);
    table!(compliance, crate::rows::ComplianceStateRow);
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

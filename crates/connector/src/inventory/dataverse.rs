//! Layer 2: what one environment's Dataverse says about its agents.
//!
//! Per environment the scan reads, with change tracking where the table allows it:
//! `bots` (with `configuration`), every `botcomponents` row with its `data` (grouped by
//! `_parentbotid_value`), the six many-to-many intersect tables of `botcomponent`, and the
//! cheap columns of the last 30 days of `conversationtranscripts` (never `content`).
//!
//! What was read is kept as [`EnvironmentData`], which the state store saves between runs: a
//! later scan reads only the changes since the stored delta links and applies them to it, so
//! an unchanged environment costs two requests (one delta read per tracked table).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use botcomponent_schema::ComponentRow;
use client_core::{AccessToken, CredentialError, SharedCredential, TokenCredential};
use dataverse_client::{Change, DataverseClient, DeltaLink, Error, Filter};
use futures::TryStreamExt;
use inventory_model::{
    BotRecord, BotScan, DataverseSnapshot, ReadStatus, RelatedTarget, Relationship,
    SessionObservation, UsageInput,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// The `bots` columns the scan reads.
pub const BOT_COLUMNS: &[&str] = &[
    "botid",
    "name",
    "schemaname",
    "configuration",
    "template",
    "statecode",
    "statuscode",
    "publishedon",
    "accesscontrolpolicy",
    "authenticationmode",
    "authenticationtrigger",
    "authorizedsecuritygroupids",
    "_ownerid_value",
    "ismanaged",
    "createdon",
    "modifiedon",
];

/// The `botcomponents` columns the scan reads (`data` is the component's YAML).
pub const COMPONENT_COLUMNS: &[&str] = &[
    "botcomponentid",
    "name",
    "schemaname",
    "componenttype",
    "data",
    "statecode",
    "_parentbotid_value",
];

/// The `conversationtranscripts` columns read for usage: never `content`.
pub const USAGE_COLUMNS: &[&str] = &[
    "conversationtranscriptid",
    "name",
    "conversationstarttime",
    "_bot_conversationtranscriptid_value",
];

/// Where the usage signal comes from, as written to `fsi_signalsource`.
pub const USAGE_SOURCE: &str = "conversationtranscript (sessions; content not read)";

/// The intersect entity set of a many-to-many relationship and its target id column.
pub fn intersect(rel: Relationship) -> (String, &'static str) {
    let target = match rel {
        Relationship::AiPluginOperation => "aipluginoperationid",
        Relationship::ConnectionReference => "connectionreferenceid",
        Relationship::Workflow => "workflowid",
        Relationship::EnvironmentVariableDefinition => "environmentvariabledefinitionid",
        Relationship::DataverseTableSearch => "dvtablesearchid",
        _ => "msdyn_aimodelid",
    };
    (format!("{}set", rel.name()), target)
}

/// Component ids per filter when re-reading the relationships of changed components.
const IDS_PER_FILTER: usize = 50;

/// One component as stored: its row, its parent bot and a fingerprint of both.
///
/// A component loaded from the state store for a scan whose bot did not change carries no
/// YAML (`complete` is `false`, `row.data` is `None`): its definition is kept from the
/// previous scan, so only its id, type and parent are needed. The YAML of the components of
/// the bots to rebuild is read from the store when needed
/// ([`EnvironmentStore::component_rows`](super::store::EnvironmentStore::component_rows)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredComponent {
    /// The row (`botcomponentid`, `componenttype`, `data`, ...).
    pub row: ComponentRow,
    /// `_parentbotid_value`, lower case.
    pub parent: Option<String>,
    /// [`fingerprint`] of the row as read and its parent: what tells a changed component
    /// from an unchanged one without comparing (or loading) its YAML.
    #[serde(default)]
    pub fingerprint: String,
    /// Whether `row` is whole, `data` included.
    #[serde(default = "yes")]
    pub complete: bool,
}

fn yes() -> bool {
    true
}

impl StoredComponent {
    /// A component as read from Dataverse, with its fingerprint.
    pub fn new(row: ComponentRow, parent: Option<String>) -> Self {
        let fingerprint = fingerprint(&row, parent.as_deref());
        StoredComponent {
            row,
            parent,
            fingerprint,
            complete: true,
        }
    }

    /// Whether `other` is the same component content (row and parent), by fingerprint.
    pub fn same_content(&self, other: &StoredComponent) -> bool {
        self.fingerprint == other.fingerprint && self.parent == other.parent
    }

    /// The same component without its YAML (what an unchanged bot needs).
    pub fn without_data(mut self) -> Self {
        self.row.data = None;
        self.complete = false;
        self
    }
}

/// The fingerprint of a component row and its parent: the first 128 bits of the SHA-256 of
/// their fields, in hex. Each field is fed to the hash as it is, tagged and length-prefixed
/// (`None` distinct from an empty text), so nothing is copied or escaped and no two rows
/// share an input. Stable across runs; a change of this definition is a schema change of
/// the state store, whose migration recomputes the stored fingerprints.
pub fn fingerprint(row: &ComponentRow, parent: Option<&str>) -> String {
    fn text(d: &mut ring::digest::Context, tag: u8, value: Option<&str>) {
        match value {
            None => d.update(&[tag, 0]),
            Some(v) => {
                d.update(&[tag, 1]);
                d.update(&(v.len() as u64).to_le_bytes());
                d.update(v.as_bytes());
            }
        }
    }
    fn int(d: &mut ring::digest::Context, tag: u8, value: Option<i32>) {
        match value {
            None => d.update(&[tag, 0]),
            Some(v) => {
                d.update(&[tag, 1]);
                d.update(&v.to_le_bytes());
            }
        }
    }
    // Every field the state stores (`ComponentRow` is non-exhaustive: a field added there
    // must be added here and to the store's columns).
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    d.update(b"component/3");
    text(&mut d, 1, Some(&row.component_id));
    text(&mut d, 2, row.name.as_deref());
    text(&mut d, 3, row.schema_name.as_deref());
    int(&mut d, 4, Some(row.component_type));
    text(&mut d, 5, row.data.as_deref());
    int(&mut d, 6, row.state_code);
    text(&mut d, 7, parent);
    let digest = d.finish();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in &digest.as_ref()[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Which stored rows a read changed, so that only those are written back to the state store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowChanges {
    /// Every row of the environment is to be written anew (nothing usable was stored, or a
    /// part could not be read).
    pub all: bool,
    /// Bots created, changed or deleted (lower-case ids).
    pub bots: BTreeSet<String>,
    /// Components created, changed or deleted (lower-case ids).
    pub components: BTreeSet<String>,
    /// Components whose many-to-many targets changed.
    pub related: BTreeSet<String>,
    /// Whether the sessions were read again.
    pub sessions: bool,
}

/// One session seen in `conversationtranscripts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// `name` and start time: rows of one split session share both.
    pub id: String,
    /// `conversationstarttime`.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

/// Everything the scan knows about one environment's Dataverse, saved between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentData {
    /// `bots` rows by lower-case `botid`.
    pub bots: BTreeMap<String, Value>,
    /// Components by lower-case `botcomponentid`.
    pub components: BTreeMap<String, StoredComponent>,
    /// Why the components could not be read, if they could not.
    pub components_error: Option<String>,
    /// Many-to-many targets by lower-case component id: (relationship name, target id).
    pub related: BTreeMap<String, BTreeSet<(String, String)>>,
    /// Why the relationships could not be read, if they could not.
    pub related_error: Option<String>,
    /// Sessions by lower-case bot id.
    pub sessions: BTreeMap<String, Vec<StoredSession>>,
    /// When the usage was read; `None` when it was not.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub usage_read_at: Option<OffsetDateTime>,
    /// Why the usage could not be read, if it could not.
    pub usage_error: Option<String>,
    /// Delta link of `bots`.
    pub bots_delta: Option<String>,
    /// Delta link of `botcomponents`.
    pub components_delta: Option<String>,
}

/// How an environment was read this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReadMode {
    /// Every row (first scan, `--full`, or no change tracking).
    Full,
    /// Only the changes since the stored delta links.
    Incremental,
    /// A stored delta link had expired: every row again.
    FullAfterExpiredDelta,
}

/// The result of reading one environment.
#[derive(Debug, Clone)]
pub struct EnvironmentRead {
    /// What is known now.
    pub data: EnvironmentData,
    /// How it was read.
    pub mode: ReadMode,
    /// Bots and components created, changed or deleted since the stored state.
    pub changed_rows: usize,
    /// Lower-case ids of the bots whose definition (`bots` row, components, their
    /// many-to-many targets) changed since the stored state; `None` when every bot must be
    /// taken as changed (no stored state, or a part could not be read then or now).
    pub changed_bots: Option<BTreeSet<String>>,
    /// What the reader noticed (tables without change tracking, rows it could not read).
    pub notes: Vec<String>,
    /// Which rows changed compared with the state given.
    pub changes: RowChanges,
}

/// Settings of one environment's read.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// Usage window in days.
    pub usage_days: u32,
    /// Re-read usage when the stored usage is older than this.
    pub usage_refresh: time::Duration,
    /// Ignore stored delta links.
    pub full: bool,
}

/// A credential that counts the tokens asked for: the pipeline asks once per HTTP attempt,
/// so this is the number of requests a client sent.
#[derive(Debug)]
pub struct CountingCredential {
    inner: SharedCredential,
    count: Arc<AtomicU64>,
}

impl CountingCredential {
    /// Wraps `inner`; the counter is shared with the caller.
    pub fn new(inner: SharedCredential) -> (Self, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        (
            CountingCredential {
                inner,
                count: count.clone(),
            },
            count,
        )
    }
}

#[async_trait]
impl TokenCredential for CountingCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.get_token(scopes).await
    }

    async fn invalidate(&self, scopes: &[&str], token: &AccessToken) {
        self.inner.invalidate(scopes, token).await;
    }
}

fn norm(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// What a tracked table returned.
enum TableRead {
    /// Every row, and the delta link when the table is tracked.
    Full(Vec<Value>, Option<String>),
    /// The changes since the stored link.
    Delta(Vec<Change>, String),
}

/// Whether `e` says the table is not change-tracked (so a plain read is the way).
fn not_tracked(e: &Error) -> bool {
    match e {
        Error::MissingDeltaLink(_) => true,
        _ => {
            e.status() == Some(400)
                && e.service_message()
                    .is_some_and(|m| m.to_ascii_lowercase().contains("change tracking"))
        }
    }
}

/// Reads one tracked table; what it noticed goes to `notes`, and `expired` says whether the
/// stored link had expired (each read has its own, so that reads can run at once).
async fn read_table(
    client: &DataverseClient,
    set: &str,
    columns: &[&str],
    stored: Option<&str>,
) -> (Result<TableRead, Error>, bool, Vec<String>) {
    let mut expired = false;
    let mut notes = Vec::new();
    let read = read_table_inner(client, set, columns, stored, &mut expired, &mut notes).await;
    (read, expired, notes)
}

async fn read_table_inner(
    client: &DataverseClient,
    set: &str,
    columns: &[&str],
    stored: Option<&str>,
    expired: &mut bool,
    notes: &mut Vec<String>,
) -> Result<TableRead, Error> {
    if let Some(link) = stored {
        match client.changes_since(DeltaLink::new(link)).read_all().await {
            Ok(c) => {
                return Ok(TableRead::Delta(
                    c.changes,
                    c.delta_link.as_str().to_owned(),
                ));
            }
            Err(e) if e.is_delta_token_expired() => {
                *expired = true;
                notes.push(format!(
                    "the delta link of {set} had expired: read every row again"
                ));
            }
            Err(e) => return Err(e),
        }
    }
    match client.track_changes(set, columns).read_initial().await {
        Ok(sync) => {
            // A service that does not track the table ignores the preference: the rows are
            // all there, only the delta link is missing (no second read).
            if sync.delta_link.is_none() {
                notes.push(format!(
                    "{set} is not change-tracked here: every scan reads all its rows"
                ));
            }
            Ok(TableRead::Full(
                sync.rows,
                sync.delta_link.map(|l| l.as_str().to_owned()),
            ))
        }
        Err(e) if not_tracked(&e) => {
            notes.push(format!(
                "{set} is not change-tracked here: every scan reads all its rows"
            ));
            let query = client.query(set).select(columns.iter().copied());
            let rows: Vec<Value> = client.rows::<Value>(&query).try_collect().await?;
            Ok(TableRead::Full(rows, None))
        }
        Err(e) => Err(e),
    }
}

fn id_of(row: &Value, column: &str) -> Option<String> {
    row.get(column).and_then(Value::as_str).map(norm)
}

fn component_of(row: Value) -> Result<(String, StoredComponent), String> {
    let parent = id_of(&row, "_parentbotid_value");
    // From the row by value: its strings, `data` (the YAML) included, are moved into the
    // component, not copied (the borrowed form copied every component's YAML once more).
    let parsed = ComponentRow::deserialize(row)
        .map_err(|e| format!("a botcomponents row could not be read: {e}"))?;
    Ok((
        norm(&parsed.component_id),
        StoredComponent::new(parsed, parent),
    ))
}

/// Reads the many-to-many targets of `components` (all of them when `None`). The six
/// relationships are asked at once; the client keeps to its requests-in-flight limit.
async fn read_related(
    client: &DataverseClient,
    components: Option<&[String]>,
) -> (
    Result<BTreeMap<String, BTreeSet<(String, String)>>, Error>,
    Vec<String>,
) {
    let reads = Relationship::ALL.map(|rel| async move {
        let (set, target) = intersect(rel);
        let mut filters: Vec<Option<Filter>> = Vec::new();
        match components {
            None => filters.push(None),
            Some(ids) => {
                for chunk in ids.chunks(IDS_PER_FILTER) {
                    // GUID columns take GUID literals: a quoted id is a type error.
                    filters.push(Some(Filter::lookup_in("botcomponentid", chunk.iter())));
                }
            }
        }
        let mut found: Vec<(String, String)> = Vec::new();
        for filter in filters {
            let mut query = client.query(&set).select(["botcomponentid", target]);
            if let Some(f) = filter {
                query = query.filter(f);
            }
            let mut rows = client.rows::<Value>(&query);
            loop {
                match rows.try_next().await {
                    Ok(Some(row)) => {
                        if let (Some(c), Some(t)) =
                            (id_of(&row, "botcomponentid"), id_of(&row, target))
                        {
                            found.push((c, t));
                        }
                    }
                    Ok(None) => break,
                    // The relationship's solution is not installed here: no targets.
                    Err(e) if e.status() == Some(404) => {
                        let note = format!("{set} does not exist here: no {} targets", rel.name());
                        return Ok((rel, Vec::new(), Some(note)));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((rel, found, None))
    });
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut notes = Vec::new();
    for read in futures::future::join_all(reads).await {
        match read {
            Ok((rel, found, note)) => {
                notes.extend(note);
                for (c, t) in found {
                    out.entry(c).or_default().insert((rel.name().to_owned(), t));
                }
            }
            Err(e) => return (Err(e), notes),
        }
    }
    (Ok(out), notes)
}

async fn read_usage(
    client: &DataverseClient,
    since: OffsetDateTime,
) -> Result<BTreeMap<String, Vec<StoredSession>>, Error> {
    let query = client
        .query("conversationtranscripts")
        .select(USAGE_COLUMNS.iter().copied())
        .filter(Filter::ge("conversationstarttime", since));
    let mut stream = client.rows::<Value>(&query);
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<StoredSession>> = BTreeMap::new();
    while let Some(row) = stream.try_next().await? {
        let Some(bot) = id_of(&row, "_bot_conversationtranscriptid_value") else {
            continue;
        };
        let Some(started_at) = row
            .get("conversationstarttime")
            .and_then(Value::as_str)
            .and_then(|s| {
                OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
        else {
            continue;
        };
        let name = row
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| id_of(&row, "conversationtranscriptid"))
            .unwrap_or_default();
        let id = format!("{name}@{}", started_at.unix_timestamp());
        if seen.entry(bot.clone()).or_default().insert(id.clone()) {
            out.entry(bot)
                .or_default()
                .push(StoredSession { id, started_at });
        }
    }
    Ok(out)
}

/// Reads one environment: in full, or as the changes since `previous`.
///
/// `bots` first; then `botcomponents`, the usage and (on a full read) the many-to-many
/// relationships at once, within the client's requests-in-flight limit; after a delta read
/// the relationships of the changed components follow.
///
/// An error reading `bots` is returned (the environment could not be read); errors reading
/// the components, the relationships or the usage are kept in the data and reported, so
/// what was read still counts.
pub async fn read_environment(
    client: &DataverseClient,
    previous: Option<EnvironmentData>,
    settings: &ReadSettings,
    now: OffsetDateTime,
) -> Result<EnvironmentRead, Error> {
    let mut notes = Vec::new();
    let previous = previous.filter(|_| !settings.full);
    let had_previous = previous.is_some();
    let previous_incremental = previous.as_ref().is_some_and(|p| p.bots_delta.is_some());
    // What the previous read left incomplete makes every agent's definition uncertain.
    let previous_errors = previous
        .as_ref()
        .is_some_and(|p| p.components_error.is_some() || p.related_error.is_some());
    let mut data = previous.unwrap_or_default();
    let bots_link = data.bots_delta.clone();
    let components_link = data
        .components_delta
        .clone()
        .filter(|_| data.components_error.is_none());
    let mut changed_rows = 0usize;
    let mut changed_bots: BTreeSet<String> = BTreeSet::new();
    // Without a stored state (or with one a part of which was not read) every row is new.
    let mut row_changes = RowChanges {
        all: !had_previous || previous_errors,
        ..RowChanges::default()
    };

    let usage_stale = data
        .usage_read_at
        .is_none_or(|at| now - at >= settings.usage_refresh)
        || data.usage_error.is_some()
        || settings.full;
    let since = now - time::Duration::days(i64::from(settings.usage_days));
    // Without a stored components link every relationship is read anyway: ask at once.
    let related_in_full = components_link.is_none() || data.related_error.is_some();
    // `bots` first: an environment that refuses it (403) is refused once, not five times.
    let (bots, mut expired, bot_notes) =
        read_table(client, "bots", BOT_COLUMNS, bots_link.as_deref()).await;
    notes.extend(bot_notes);
    let bots = bots?;
    let (components, usage, related) = futures::join!(
        read_table(
            client,
            "botcomponents",
            COMPONENT_COLUMNS,
            components_link.as_deref()
        ),
        async {
            if usage_stale {
                Some(read_usage(client, since).await)
            } else {
                None
            }
        },
        async {
            if related_in_full {
                Some(read_related(client, None).await)
            } else {
                None
            }
        },
    );
    let (components, components_expired, component_notes) = components;
    expired |= components_expired;
    notes.extend(component_notes);

    // bots
    match bots {
        TableRead::Full(rows, link) => {
            let before = std::mem::take(&mut data.bots);
            for row in rows {
                match id_of(&row, "botid") {
                    Some(id) => {
                        if before.get(&id) != Some(&row) {
                            changed_rows += 1;
                            changed_bots.insert(id.clone());
                            row_changes.bots.insert(id.clone());
                        }
                        data.bots.insert(id, row);
                    }
                    None => notes.push("a bots row without botid was skipped".to_owned()),
                }
            }
            for gone in before.keys().filter(|k| !data.bots.contains_key(*k)) {
                changed_rows += 1;
                changed_bots.insert(gone.clone());
                row_changes.bots.insert(gone.clone());
            }
            data.bots_delta = link;
        }
        TableRead::Delta(changes, link) => {
            for change in changes {
                changed_rows += 1;
                match change {
                    Change::Upsert(row) => match id_of(&row, "botid") {
                        Some(id) => {
                            // A delta row carries the selected columns: replace the row.
                            changed_bots.insert(id.clone());
                            row_changes.bots.insert(id.clone());
                            data.bots.insert(id, row);
                        }
                        None => notes.push("a changed bots row without botid was skipped".into()),
                    },
                    Change::Deleted { id } => {
                        let id = norm(&id.to_string());
                        data.bots.remove(&id);
                        changed_bots.insert(id.clone());
                        row_changes.bots.insert(id);
                    }
                    _ => {}
                }
            }
            data.bots_delta = Some(link);
        }
    }

    // botcomponents: a changed component changes its bot, before and after a move.
    let mut changed_components: Option<Vec<String>> = None;
    let related_before = std::mem::take(&mut data.related);
    let mut components_before: BTreeMap<String, StoredComponent> = BTreeMap::new();
    match components {
        Ok(TableRead::Full(rows, link)) => {
            let before = std::mem::take(&mut data.components);
            for row in rows {
                match component_of(row) {
                    Ok((id, c)) => {
                        // By fingerprint: the stored component may have been loaded without
                        // its YAML.
                        if !before.get(&id).is_some_and(|b| b.same_content(&c)) {
                            changed_rows += 1;
                            changed_bots.extend(c.parent.clone());
                            changed_bots.extend(before.get(&id).and_then(|b| b.parent.clone()));
                            row_changes.components.insert(id.clone());
                        }
                        data.components.insert(id, c);
                    }
                    Err(e) => notes.push(e),
                }
            }
            for (id, gone) in &before {
                if !data.components.contains_key(id) {
                    changed_rows += 1;
                    changed_bots.extend(gone.parent.clone());
                    row_changes.components.insert(id.clone());
                }
            }
            components_before = before;
            data.components_delta = link;
            data.components_error = None;
        }
        Ok(TableRead::Delta(changes, link)) => {
            let mut changed = Vec::new();
            for change in changes {
                changed_rows += 1;
                match change {
                    Change::Upsert(row) => match component_of(row) {
                        Ok((id, c)) => {
                            changed_bots.extend(c.parent.clone());
                            if let Some(old) = data.components.insert(id.clone(), c) {
                                changed_bots.extend(old.parent);
                            }
                            row_changes.components.insert(id.clone());
                            changed.push(id);
                        }
                        Err(e) => notes.push(e),
                    },
                    Change::Deleted { id } => {
                        let id = norm(&id.to_string());
                        if let Some(old) = data.components.remove(&id) {
                            changed_bots.extend(old.parent);
                        }
                        row_changes.components.insert(id);
                    }
                    _ => {}
                }
            }
            changed_components = Some(changed);
            data.components_delta = Some(link);
        }
        Err(e) => {
            data.components.clear();
            data.components_delta = None;
            data.components_error = Some(format!("botcomponents could not be read: {e}"));
            row_changes.all = true;
        }
    }

    // many-to-many targets: all of them after a full read, those of changed components after
    // a delta read (the intersect tables are not change-tracked).
    if data.components_error.is_none() {
        let read = match (&changed_components, related) {
            // Read at once with the tables above.
            (_, Some(read)) => Some((None, read)),
            (Some(ids), None) if ids.is_empty() => None,
            (Some(ids), None) => Some((Some(ids), read_related(client, Some(ids)).await)),
            // The stored components link had expired: every target again.
            (None, None) => Some((None, read_related(client, None).await)),
        };
        match read {
            None => data.related = related_before.clone(),
            Some((only, (result, related_notes))) => {
                notes.extend(related_notes);
                match result {
                    Ok(found) => {
                        match only {
                            Some(ids) => {
                                data.related = related_before.clone();
                                for id in ids {
                                    data.related.remove(id);
                                }
                                data.related.extend(found);
                            }
                            None => data.related = found,
                        }
                        data.related_error = None;
                        // Deleted components take their targets with them.
                        data.related
                            .retain(|id, _| data.components.contains_key(id.as_str()));
                    }
                    Err(e) => {
                        data.related.clear();
                        data.related_error = Some(format!(
                            "the many-to-many relationships could not be read: {e}"
                        ));
                        row_changes.all = true;
                    }
                }
            }
        }
        // A component whose targets changed changes its bot.
        let ids: BTreeSet<&String> = related_before.keys().chain(data.related.keys()).collect();
        for id in ids {
            if related_before.get(id) != data.related.get(id) {
                row_changes.related.insert(id.clone());
                let parent = data
                    .components
                    .get(id.as_str())
                    .or_else(|| components_before.get(id.as_str()))
                    .and_then(|c| c.parent.clone());
                changed_bots.extend(parent);
            }
        }
    }

    // usage: re-read when older than the refresh interval.
    if let Some(read) = usage {
        match read {
            Ok(sessions) => {
                data.sessions = sessions;
                data.usage_read_at = Some(now);
                data.usage_error = None;
                row_changes.sessions = true;
            }
            Err(e) => {
                row_changes.sessions = true;
                data.sessions.clear();
                data.usage_read_at = None;
                data.usage_error = Some(format!("conversationtranscripts could not be read: {e}"));
            }
        }
    }

    let mode = match (had_previous, expired) {
        (_, true) => ReadMode::FullAfterExpiredDelta,
        (true, false) if previous_incremental => ReadMode::Incremental,
        _ => ReadMode::Full,
    };
    // Agents whose definition may differ from what the previous scan made of it: all of them
    // without a previous read, or when either read could not see everything.
    let uncertain = !had_previous
        || previous_errors
        || data.components_error.is_some()
        || data.related_error.is_some();
    Ok(EnvironmentRead {
        data,
        mode,
        changed_rows,
        changed_bots: (!uncertain).then_some(changed_bots),
        notes,
        changes: row_changes,
    })
}

/// What [`snapshot`] made of the stored data.
#[derive(Debug)]
pub struct Snapshot {
    /// The bots with their components and targets.
    pub snapshot: DataverseSnapshot,
    /// Usage per bot, when read.
    pub usage: Vec<UsageInput>,
    /// Rows that could not be used, with why.
    pub notes: Vec<String>,
    /// Components whose parent bot is not in `bots` (shared or orphaned components).
    pub unattached_components: usize,
}

/// The model's view of one environment's data.
pub fn snapshot(
    data: &EnvironmentData,
    environment_id: &str,
    read_at: OffsetDateTime,
    usage_days: u32,
) -> Snapshot {
    let mut notes = Vec::new();
    let mut by_bot: BTreeMap<&str, Vec<&StoredComponent>> = BTreeMap::new();
    let mut unattached = 0;
    for c in data.components.values() {
        match c.parent.as_deref().filter(|p| data.bots.contains_key(*p)) {
            Some(p) => by_bot.entry(p).or_default().push(c),
            None => unattached += 1,
        }
    }
    let mut snapshot = DataverseSnapshot::new(read_at);
    snapshot.delta_link = data.bots_delta.clone();
    let mut usage = Vec::new();
    for (id, row) in &data.bots {
        let bot = match BotRecord::from_dataverse_json(row) {
            Ok(b) => b,
            Err(e) => {
                // Keep the agent with what is certain (its id); say what was unreadable.
                notes.push(format!("bot {id}: {e}"));
                BotRecord::new(id.clone())
            }
        };
        let mut scan = BotScan::new(bot);
        let components = by_bot.get(id.as_str()).cloned().unwrap_or_default();
        match &data.components_error {
            None => {
                scan.components = components.iter().map(|c| c.row.clone()).collect();
                scan.components_read = ReadStatus::Complete;
            }
            Some(e) => scan.components_read = ReadStatus::Failed { detail: e.clone() },
        }
        match (&data.components_error, &data.related_error) {
            (None, None) => {
                for c in &components {
                    let cid = norm(&c.row.component_id);
                    for (rel, target) in data.related.get(&cid).into_iter().flatten() {
                        if let Some(r) = Relationship::from_name(rel) {
                            scan.related.push(RelatedTarget::new(
                                c.row.component_id.clone(),
                                r,
                                target.clone(),
                                None,
                            ));
                        }
                    }
                }
                scan.related_read = ReadStatus::Complete;
            }
            (Some(e), _) | (None, Some(e)) => {
                scan.related_read = ReadStatus::Failed { detail: e.clone() }
            }
        }
        if data.usage_read_at.is_some() && data.usage_error.is_none() {
            let mut u = UsageInput::new(id.clone(), environment_id, USAGE_SOURCE, usage_days);
            for s in data.sessions.get(id).into_iter().flatten() {
                u.sessions
                    .push(SessionObservation::new(s.id.clone(), s.started_at, 0));
            }
            usage.push(u);
        }
        snapshot.bots.push(scan);
    }
    Snapshot {
        snapshot,
        usage,
        notes,
        unattached_components: unattached,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    /// `component_of` takes the row by value (moving its strings); it must read what the
    /// borrowed deserialisation read, on real component YAML, with unknown columns, odd
    /// annotations and nulls, and fail with the same text on rows it cannot read.
    #[test]
    fn a_component_read_by_value_equals_the_borrowed_read() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../inventory-model/tests/fixtures/botcomponents"
        );
        let mut rows = Vec::new();
        for (i, entry) in std::fs::read_dir(dir).unwrap().enumerate() {
            let path = entry.unwrap().path();
            let data = std::fs::read_to_string(&path).unwrap();
            rows.push(json!({
                "@odata.etag": "W/\"1\"",
                "botcomponentid": format!("0000000{i}-AAAA-0000-0000-000000000000"),
                "name": path.file_name().unwrap().to_string_lossy(),
                "schemaname": if i % 3 == 0 { Value::Null } else { json!(format!("cr_{i}")) },
                "componenttype": i32::try_from(i % 20).unwrap(),
                "data": data,
                "statecode": if i % 2 == 0 { json!(0) } else { Value::Null },
                "_parentbotid_value": if i % 4 == 0 { Value::Null } else { json!(" B1-XY ") },
                "_parentbotid_value@OData.Community.Display.V1.FormattedValue": "Bot",
                "unknowncolumn": {"nested": [1, 2]},
            }));
        }
        rows.push(json!({"botcomponentid": "x", "componenttype": "nine"}));
        rows.push(json!({"name": "no id", "componenttype": 9}));
        rows.push(json!({"botcomponentid": "y", "componenttype": 9, "data": 12}));
        rows.push(json!([1, 2]));
        let mut read = 0;
        for row in rows {
            let borrowed = ComponentRow::deserialize(&row)
                .map_err(|e| format!("a botcomponents row could not be read: {e}"))
                .map(|parsed| {
                    let parent = id_of(&row, "_parentbotid_value");
                    (
                        norm(&parsed.component_id),
                        StoredComponent::new(parsed, parent),
                    )
                });
            let owned = component_of(row);
            assert_eq!(owned, borrowed);
            read += usize::from(owned.is_ok());
        }
        assert!(read >= 20, "{read} rows read");
    }

    #[test]
    fn the_fingerprint_tells_every_field_and_none_from_empty() {
        let mut base = ComponentRow::new("C1", 9, Some("kind: AdaptiveDialog".into()));
        base.name = Some("a\u{3}\u{1}b".into());
        base.schema_name = Some(String::new());
        base.state_code = Some(0);
        let fp = |r: &ComponentRow, p: Option<&str>| fingerprint(r, p);
        let first = fp(&base, Some("b1"));
        assert_eq!(first.len(), 32);
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // Stable: the same fields give the same fingerprint (it is stored between runs).
        assert_eq!(first, fp(&base.clone(), Some("b1")));
        let mut variants: Vec<(&str, ComponentRow, Option<&str>)> = Vec::new();
        let mut v = |what, f: &dyn Fn(&mut ComponentRow)| {
            let mut r = base.clone();
            f(&mut r);
            variants.push((what, r, Some("b1")));
        };
        v("id", &|r| r.component_id = "c1".into());
        v("name", &|r| r.name = None);
        v("schema name none", &|r| r.schema_name = None);
        // Bytes moved from one field to the next, tag bytes included (the same bytes in a
        // row): length prefixes tell them apart.
        v("field boundary", &|r| {
            r.name = Some("a".into());
            r.schema_name = Some("b\u{3}\u{1}".into());
        });
        v("type", &|r| r.component_type = 10);
        v("data", &|r| r.data = Some("kind: AdaptiveDialog ".into()));
        v("data none", &|r| r.data = None);
        v("data empty", &|r| r.data = Some(String::new()));
        v("state", &|r| r.state_code = Some(1));
        v("state none", &|r| r.state_code = None);
        variants.push(("parent", base.clone(), Some("b2")));
        variants.push(("parent none", base.clone(), None));
        variants.push(("parent empty", base.clone(), Some("")));
        let mut seen = BTreeMap::new();
        seen.insert(first, "base");
        for (what, r, p) in &variants {
            if let Some(other) = seen.insert(fp(r, *p), what) {
                panic!("{what} and {other} share a fingerprint");
            }
        }
    }

    fn data() -> EnvironmentData {
        let mut d = EnvironmentData::default();
        d.bots.insert(
            "b1".into(),
            json!({"botid": "B1", "name": "Helpdesk", "accesscontrolpolicy": 0}),
        );
        for (id, parent) in [("c1", Some("b1")), ("c2", None), ("c3", Some("gone"))] {
            d.components.insert(
                id.into(),
                StoredComponent::new(
                    ComponentRow::new(id.to_uppercase(), 9, None),
                    parent.map(str::to_owned),
                ),
            );
        }
        d.related
            .entry("c1".into())
            .or_default()
            .insert(("botcomponent_workflow".into(), "w1".into()));
        d.usage_read_at = Some(datetime!(2026-03-01 00:00 UTC));
        d.sessions.insert(
            "b1".into(),
            vec![StoredSession {
                id: "conv_b1@1".into(),
                started_at: datetime!(2026-02-28 10:00 UTC),
            }],
        );
        d.bots_delta = Some("https://o/api/data/v9.2/bots?$deltatoken=1".into());
        d
    }

    #[test]
    fn components_join_their_bot_and_others_are_counted_not_dropped() {
        let s = snapshot(&data(), "env", datetime!(2026-03-01 00:00 UTC), 30);
        assert_eq!(s.snapshot.bots.len(), 1);
        let bot = &s.snapshot.bots[0];
        assert_eq!(bot.components.len(), 1);
        assert_eq!(bot.components[0].component_id, "C1");
        assert!(bot.components_read.is_complete());
        assert_eq!(bot.related.len(), 1);
        assert_eq!(bot.related[0].relationship, Relationship::Workflow);
        assert_eq!(s.unattached_components, 2);
        assert_eq!(s.usage.len(), 1);
        assert_eq!(s.usage[0].sessions.len(), 1);
        assert_eq!(
            s.snapshot.delta_link.as_deref(),
            Some("https://o/api/data/v9.2/bots?$deltatoken=1")
        );
    }

    #[test]
    fn unread_parts_are_failed_reads_not_empty_ones() {
        let mut d = data();
        d.components_error = Some("botcomponents could not be read: 403".into());
        d.usage_error = Some("no".into());
        let s = snapshot(&d, "env", datetime!(2026-03-01 00:00 UTC), 30);
        let bot = &s.snapshot.bots[0];
        assert!(matches!(bot.components_read, ReadStatus::Failed { .. }));
        assert!(matches!(bot.related_read, ReadStatus::Failed { .. }));
        assert!(bot.components.is_empty());
        assert!(
            s.usage.is_empty(),
            "usage not read must not read as zero use"
        );
    }

    #[test]
    fn a_bot_row_the_model_cannot_read_keeps_its_agent() {
        let mut d = data();
        d.bots.insert(
            "b2".into(),
            json!({"botid": "b2", "createdon": "not a date"}),
        );
        let s = snapshot(&d, "env", datetime!(2026-03-01 00:00 UTC), 30);
        assert_eq!(s.snapshot.bots.len(), 2);
        assert!(s.notes.iter().any(|n| n.contains("b2")), "{:?}", s.notes);
    }

    #[test]
    fn intersect_sets_follow_the_relationship_names() {
        assert_eq!(
            intersect(Relationship::Workflow),
            ("botcomponent_workflowset".to_owned(), "workflowid")
        );
        assert_eq!(
            intersect(Relationship::AiModel),
            (
                "botcomponent_msdyn_aimodelset".to_owned(),
                "msdyn_aimodelid"
            )
        );
    }
}

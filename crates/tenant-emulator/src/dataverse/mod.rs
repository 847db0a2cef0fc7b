//! The Dataverse Web API engine: entity sets in memory, OData queries, paging, change tracking,
//! writes with the If-Match / If-None-Match rules, `$batch`, and metadata.
//!
//! Everything is built from the documented wire format (see `docs/wire/dataverse.md`), not from
//! what this workspace's own client sends. Rows are kept by primary key in a `BTreeMap`, so
//! unordered queries page in key order as Dataverse does; every write takes the next value of
//! one global version counter, which is both the row's ETag (`W/"version"`) and its
//! change-tracking position; deletions leave tombstones for delta links.
//!
//! Served: entity sets (built-in and declared at run time) with `$select`, `$filter` (`eq`, `ne`,
//! `gt`, `ge`, `lt`, `le`, `and`, `or`, `not`, parentheses, `contains`, `startswith`, `endswith`,
//! `in`, `Microsoft.Dynamics.CRM.In`/`NotIn`), `$orderby`, `$top`, `$count` (capped at 5000),
//! `$expand` of lookups, 1:N and N:N relationships (nested `$select`, `$filter`, `$orderby`,
//! `$top`); `odata.maxpagesize` paging with an opaque `$skiptoken` cookie; change tracking with
//! delta links, `$deletedEntity` entries and token expiry; create, update, upsert by primary or
//! alternate key with the If-Match / If-None-Match rules; `nav@odata.bind` and `$ref`
//! associations; `$batch` with atomic change sets; `WhoAmI`, `GlobalOptionSetDefinitions`,
//! `EntityDefinitions` (with `/Attributes` and `/Keys`); metadata writes that create global
//! option sets, tables, columns and alternate keys (with their index status), after which the
//! new table takes writes, `$batch` and queries with its keys and column limits enforced;
//! Dataverse's error bodies throughout.
//!
//! Not emulated (answered with a 400 or 404 that says so, never silently ignored): FetchXML and
//! saved queries, `$apply`, `$skip`, lambda operators, nested `$expand`, filters comparing two
//! columns or crossing relationships, the `$metadata` CSDL document, functions and actions other
//! than `WhoAmI`.
//!
//! ```no_run
//! use tenant_emulator::dataverse::{Dataverse, DataverseConfig};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let dataverse = Dataverse::new(DataverseConfig::default());
//! let row = json!({"botid": "4d4799b8-d46e-ef11-a670-001dd804edd8", "name": "Test Copilot"});
//! if let serde_json::Value::Object(row) = row {
//!     dataverse.insert_rows("bots", [row])?;
//! }
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move { axum::serve(listener, dataverse.router()).await });
//! // GET http://{addr}/api/data/v9.2/bots?$select=name
//! # let _ = addr;
//! # Ok(())
//! # }
//! ```

mod batch;
mod cookie;
mod engine;
mod error;
mod filter;
mod metadata;
mod query;
mod schema;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::clock::{SharedClock, SystemClock};

pub use error::DataverseError;
pub(crate) use schema::COMPONENT_RELATIONSHIPS;
pub use schema::{ColumnDef, ColumnKind, EntitySetDef};

use engine::{Ctx, Req, Resp};
use store::{Store, Table};

/// Produces columns on demand from a stored row (see [`Dataverse::set_materializer`]).
pub type Materializer = Arc<dyn Fn(&Map<String, Value>) -> Map<String, Value> + Send + Sync>;

/// The largest request body accepted (a `$batch` of 1000 requests with large memo columns).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// What a caller may do, as privilege names (`prvReadbot`, `prvWriteconversationtranscript`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privileges {
    all: bool,
    read_all: bool,
    names: BTreeSet<String>,
}

impl Privileges {
    /// Every privilege (System Administrator).
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// No privilege at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Exactly these privileges, e.g. `["prvReadbot", "prvReadbotcomponent"]`.
    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Adds what `grant` gives.
    pub fn grant(&mut self, grant: &RoleGrant) {
        match grant {
            RoleGrant::All => self.all = true,
            RoleGrant::ReadAll => self.read_all = true,
            RoleGrant::Privileges(names) => self.names.extend(names.iter().cloned()),
        }
    }

    /// Whether privilege `name` (e.g. `prvReadbot`) is held.
    pub fn has(&self, name: &str) -> bool {
        self.all || (self.read_all && name.starts_with("prvRead")) || self.names.contains(name)
    }

    /// Whether the caller may read table `logical_name`.
    pub fn can_read(&self, logical_name: &str) -> bool {
        self.has(&format!("prvRead{logical_name}"))
    }

    /// The number of privileges granted by name (for error messages).
    pub fn named_count(&self) -> usize {
        self.names.len()
    }

    /// Whether no privilege is held.
    pub fn is_empty(&self) -> bool {
        !self.all && !self.read_all && self.names.is_empty()
    }
}

/// What a security role grants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleGrant {
    /// Every privilege on every table.
    All,
    /// Read on every table.
    ReadAll,
    /// These privileges.
    Privileges(BTreeSet<String>),
}

impl RoleGrant {
    /// A grant of exactly these privilege names.
    pub fn privileges<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::Privileges(names.into_iter().map(Into::into).collect())
    }
}

/// The authenticated caller, put into the request extensions by the middleware in front of
/// [`Dataverse::router`]. Without it every request is allowed (tests of the engine alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The application user's `systemuserid`.
    pub user_id: Uuid,
    /// The app registration's client ID.
    pub app_id: Uuid,
    /// What the application user's roles allow.
    pub privileges: Privileges,
}

/// One option of a global choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDef {
    /// The option's value.
    pub value: i32,
    /// The English label.
    pub label: String,
    /// Whether `UserLocalizedLabel` is filled (real metadata sometimes has it null).
    pub user_localized: bool,
}

/// A global option set served by `GlobalOptionSetDefinitions(Name='...')`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSetDef {
    /// The option set name, e.g. `botcomponent_componenttype`.
    pub name: String,
    /// Its options.
    pub options: Vec<OptionDef>,
}

impl OptionSetDef {
    /// `botcomponent_componenttype` with values 0..19 and their labels as of late 2025; the three
    /// newest have no `UserLocalizedLabel`, as real metadata sometimes does.
    pub fn botcomponent_componenttype() -> Self {
        const LABELS: [&str; 20] = [
            "Topic",
            "Skill",
            "Bot variable",
            "Bot entity",
            "Dialog",
            "Trigger",
            "Language understanding",
            "Language generation",
            "Dialog schema",
            "Topic (V2)",
            "Bot translations (V2)",
            "Bot entity (V2)",
            "Bot variable (V2)",
            "Skill (V2)",
            "Bot File Attachment",
            "Custom GPT",
            "Knowledge Source",
            "External Trigger",
            "Copilot Settings",
            "Test Case",
        ];
        Self {
            name: "botcomponent_componenttype".into(),
            options: LABELS
                .iter()
                .zip(0..)
                .map(|(label, value)| OptionDef {
                    value,
                    label: (*label).to_owned(),
                    user_localized: value < 17,
                })
                .collect(),
        }
    }
}

/// Configuration of the Dataverse engine.
#[derive(Clone)]
#[non_exhaustive]
pub struct DataverseConfig {
    /// `OrganizationId` in `WhoAmI`.
    pub organization_id: Uuid,
    /// `BusinessUnitId` in `WhoAmI` and `_owningbusinessunit_value` of created rows.
    pub business_unit_id: Uuid,
    /// `UserId` in `WhoAmI` (and the creator of rows) when the request has no [`Caller`].
    pub default_user_id: Uuid,
    /// The page size without `Prefer: odata.maxpagesize` (Dataverse: 5000; capped at 5000).
    pub default_page_size: usize,
    /// Global option sets served by `GlobalOptionSetDefinitions`.
    pub option_sets: Vec<OptionSetDef>,
    /// What each security role (by `roles.name`) grants.
    pub role_privileges: BTreeMap<String, RoleGrant>,
    /// How long a delta token stays valid (`ExpireChangeTrackingInDays`, default 7 days).
    pub change_tracking_retention: Duration,
    /// The time source for `createdon`/`modifiedon` and delta token expiry.
    pub clock: SharedClock,
    /// How long an alternate key created through the metadata API reports `Pending` /
    /// `InProgress` before `Active` (Dataverse builds the index in a system job). Upserts
    /// addressing a key before it is active are refused. Zero (the default) makes keys active
    /// at once.
    pub key_activation_delay: Duration,
}

impl fmt::Debug for DataverseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataverseConfig")
            .field("organization_id", &self.organization_id)
            .field("business_unit_id", &self.business_unit_id)
            .field("default_user_id", &self.default_user_id)
            .field("default_page_size", &self.default_page_size)
            .field("option_sets", &self.option_sets.len())
            .field("role_privileges", &self.role_privileges)
            .field("change_tracking_retention", &self.change_tracking_retention)
            .field("key_activation_delay", &self.key_activation_delay)
            .finish_non_exhaustive()
    }
}

impl Default for DataverseConfig {
    fn default() -> Self {
        let copilot_read = [
            "prvReadbot",
            "prvReadbotcomponent",
            "prvReadconversationtranscript",
            "prvReadsystemuser",
            "prvReadrole",
            "prvReadsystemuserroles",
            "prvReadbot_botcomponent",
            // The intersect tables of the six many-to-many relationships of botcomponent.
            "prvReadbotcomponent_aipluginoperation",
            "prvReadbotcomponent_connectionreference",
            "prvReadbotcomponent_workflow",
            "prvReadbotcomponent_environmentvariabledefinition",
            "prvReadbotcomponent_dvtablesearch",
            "prvReadbotcomponent_msdyn_aimodel",
        ];
        let mut role_privileges = BTreeMap::new();
        role_privileges.insert("System Administrator".to_owned(), RoleGrant::All);
        role_privileges.insert("System Customizer".to_owned(), RoleGrant::ReadAll);
        role_privileges.insert(
            "Copilot Studio Connector Reader".to_owned(),
            RoleGrant::privileges(copilot_read),
        );
        role_privileges.insert(
            "Bot Transcript Viewer".to_owned(),
            RoleGrant::privileges(["prvReadbot", "prvReadconversationtranscript"]),
        );
        role_privileges.insert(
            "Environment Maker".to_owned(),
            RoleGrant::privileges(["prvReadbot", "prvCreatebot", "prvReadbotcomponent"]),
        );
        role_privileges.insert(
            "Basic User".to_owned(),
            RoleGrant::privileges(["prvReadsystemuser", "prvReadrole"]),
        );
        Self {
            organization_id: Uuid::from_u128(0x3a5e_0b1c_7d2f_4e6a_9b8c_1d2e_3f4a_5b6c),
            business_unit_id: Uuid::from_u128(0x7375_e536_d285_ee11_8177_001d_d80c_0acd),
            default_user_id: Uuid::from_u128(0x265e_bb9f_de85_ee11_8177_001d_d80c_0acd),
            default_page_size: engine::MAX_PAGE,
            option_sets: vec![OptionSetDef::botcomponent_componenttype()],
            role_privileges,
            change_tracking_retention: Duration::from_secs(7 * 24 * 3600),
            clock: Arc::new(SystemClock),
            key_activation_delay: Duration::ZERO,
        }
    }
}

pub(crate) struct Inner {
    store: RwLock<Store>,
    config: DataverseConfig,
    reads: AtomicU64,
    writes: AtomicU64,
    /// Woken on every write request (for tests that act at a point of a client's writes).
    written: tokio::sync::Notify,
}

/// How many HTTP requests the Web API has served (a `$batch` counts once, as a write).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// GET and HEAD requests.
    pub reads: u64,
    /// POST, PATCH, PUT and DELETE requests (including `$batch`).
    pub writes: u64,
}

impl Inner {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The Dataverse engine: a handle to shared in-memory tables (cheap to clone).
#[derive(Clone)]
pub struct Dataverse {
    inner: Arc<Inner>,
}

impl fmt::Debug for Dataverse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.inner.read();
        let mut sets: Vec<(&String, usize)> = store
            .tables
            .iter()
            .map(|(k, t)| (k, t.rows.len()))
            .collect();
        sets.sort();
        f.debug_struct("Dataverse")
            .field("sets", &sets)
            .field("version", &store.version)
            .finish_non_exhaustive()
    }
}

impl Dataverse {
    /// A store with the built-in entity sets: `bots`, `botcomponents`, `conversationtranscripts`,
    /// `systemusers`, `roles`, `systemuserroles_association` (the N:N intersect of users and
    /// roles) and `bot_botcomponentset` (the intersect of the `bot_botcomponent` N:N).
    pub fn new(config: DataverseConfig) -> Self {
        let mut store = Store::new(schema::builtin_many_to_many());
        store.option_sets = config.option_sets.clone();
        for def in schema::builtin_sets() {
            match schema::SetSchema::build(def) {
                Ok(s) => {
                    store
                        .tables
                        .insert(s.set().to_owned(), Table::new(Arc::new(s)));
                }
                // The built-ins are checked by unit tests; never reached.
                Err(e) => tracing::error!(error = %e, "invalid built-in entity set"),
            }
        }
        Self {
            inner: Arc::new(Inner {
                store: RwLock::new(store),
                config,
                reads: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                written: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The requests served over HTTP so far (for tests that count what a client sent).
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts {
            reads: self.inner.reads.load(Ordering::Relaxed),
            writes: self.inner.writes.load(Ordering::Relaxed),
        }
    }

    /// Waits until the Web API has received at least `n` write requests in all (counted as
    /// [`request_counts`](Self::request_counts) counts them: when a request arrives, before
    /// it is served), without polling: for tests that act at a given point of a client's
    /// writes, e.g. kill it.
    pub async fn writes_reached(&self, n: u64) {
        loop {
            // Registered before the count is read: a write counted after the read wakes it.
            let written = self.inner.written.notified();
            if self.inner.writes.load(Ordering::SeqCst) >= n {
                return;
            }
            written.await;
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DataverseConfig {
        &self.inner.config
    }

    /// Declares an extra entity set at run time (the inventory tables, for instance).
    pub fn declare_entity_set(&self, def: EntitySetDef) -> Result<(), DataverseError> {
        let schema = schema::SetSchema::build(def)?;
        let mut store = self.inner.write();
        if store.tables.contains_key(schema.set()) {
            return Err(DataverseError::EntitySetExists(schema.set().to_owned()));
        }
        if store.table_by_logical(schema.logical()).is_some() {
            return Err(DataverseError::EntitySetExists(schema.logical().to_owned()));
        }
        store
            .tables
            .insert(schema.set().to_owned(), Table::new(Arc::new(schema)));
        Ok(())
    }

    /// The definition of an entity set.
    pub fn entity_set(&self, set: &str) -> Option<EntitySetDef> {
        self.inner.read().table(set).map(|t| t.schema.def.clone())
    }

    /// Inserts or replaces rows (JSON objects holding the primary key column as a GUID string) as
    /// seed data. Keys starting with `@` (such as `@odata.etag` in exported rows) are ignored;
    /// columns not given are null. Each row takes a new change-tracking version, like a real
    /// write, stamped into `versionnumber`. All or nothing: on an error no row is kept.
    pub fn insert_rows(
        &self,
        set: &str,
        rows: impl IntoIterator<Item = Map<String, Value>>,
    ) -> Result<(), DataverseError> {
        let mut store = self.inner.write();
        let schema = store
            .table(set)
            .map(|t| t.schema.clone())
            .ok_or_else(|| DataverseError::UnknownEntitySet(set.to_owned()))?;
        let mut undo = Vec::new();
        for row in rows {
            match build_cells(&schema, row) {
                Ok((id, cells)) => {
                    let conflict = store.table(set).and_then(|t| t.alt_conflict(id, &cells));
                    if let Some(k) = conflict {
                        let values: Vec<String> = schema.alt_keys[k]
                            .iter()
                            .map(|c| cells[*c].to_string())
                            .collect();
                        store.rollback(undo);
                        return Err(DataverseError::DuplicateAlternateKey {
                            set: set.to_owned(),
                            values: values.join(", "),
                        });
                    }
                    store.put(set, id, cells, Some(&mut undo));
                }
                Err(e) => {
                    store.rollback(undo);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Deletes a row, leaving a tombstone for delta links. `Ok(false)` when it did not exist.
    pub fn delete_row(&self, set: &str, id: Uuid) -> Result<bool, DataverseError> {
        let mut store = self.inner.write();
        if store.table(set).is_none() {
            return Err(DataverseError::UnknownEntitySet(set.to_owned()));
        }
        Ok(store.remove(set, id, None))
    }

    /// A stored row (without materialized columns), as a JSON object.
    pub fn row(&self, set: &str, id: Uuid) -> Option<Map<String, Value>> {
        let store = self.inner.read();
        let table = store.table(set)?;
        let row = table.rows.get(&id)?;
        Some(store.view(table, row).stored_map())
    }

    /// Columns produced on demand instead of stored (keeps 100k generated transcripts small in
    /// memory): `f` is called with a stored row and returns columns that fill the row's null
    /// cells before filtering, ordering and selecting. It is called at most once per row per
    /// request, only when a null cell of the row is read.
    pub fn set_materializer(&self, set: &str, f: Materializer) {
        let entry = store::MaterializerEntry { f, columns: None };
        self.inner
            .write()
            .materializers
            .insert(set.to_owned(), entry);
    }

    /// Like [`set_materializer`](Self::set_materializer), but `f` is only called when one of
    /// `columns` is read (say `content`), so queries touching other null columns never pay for
    /// it. Prefer this when the produced columns are known.
    pub fn set_materializer_for<S: Into<String>>(
        &self,
        set: &str,
        columns: impl IntoIterator<Item = S>,
        f: Materializer,
    ) {
        let entry = store::MaterializerEntry {
            f,
            columns: Some(columns.into_iter().map(Into::into).collect()),
        };
        self.inner
            .write()
            .materializers
            .insert(set.to_owned(), entry);
    }

    /// Makes every delta token issued so far expire: the next delta read answers 400 with
    /// `0x80044352` ("Version stamp associated with the client has expired...").
    pub fn expire_change_tracking_tokens(&self) {
        let mut store = self.inner.write();
        store.expired_through = store.version;
        // New tokens must be newer than the expiry point even if nothing is written meanwhile.
        store.next_version();
    }

    /// The number of rows of a set (0 for an unknown set).
    pub fn count(&self, set: &str) -> usize {
        self.inner.read().table(set).map_or(0, |t| t.rows.len())
    }

    /// The caller for an app registration: its application user (`systemusers` row whose
    /// `applicationid` is `app_id`, not disabled) and the privileges its roles grant
    /// (`systemuserroles_association` -> `roles.name` -> [`DataverseConfig::role_privileges`]).
    /// `None` when the app has no application user.
    pub fn privileges_for_app(&self, app_id: Uuid) -> Option<Caller> {
        let store = self.inner.read();
        let users = store.table("systemusers")?;
        let app_col = users.schema.col("applicationid")?;
        let disabled_col = users.schema.col("isdisabled");
        let (user_id, _) = users.rows.iter().find(|(_, r)| {
            r.cells[app_col]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                == Some(app_id)
                && disabled_col.is_none_or(|c| r.cells[c] != Value::Bool(true))
        })?;
        let mut privileges = Privileges::none();
        if let (Some(links), Some(roles)) = (
            store.table("systemuserroles_association"),
            store.table("roles"),
        ) && let (Some(uc), Some(rc), Some(name_col)) = (
            links.schema.col("systemuserid"),
            links.schema.col("roleid"),
            roles.schema.col("name"),
        ) {
            for link in links.rows.values() {
                let user = link.cells[uc]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok());
                let role = link.cells[rc]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok());
                if user != Some(*user_id) {
                    continue;
                }
                let name = role
                    .and_then(|r| roles.rows.get(&r))
                    .and_then(|r| r.cells[name_col].as_str());
                if let Some(grant) = name.and_then(|n| self.inner.config.role_privileges.get(n)) {
                    privileges.grant(grant);
                }
            }
        }
        Some(Caller {
            user_id: *user_id,
            app_id,
            privileges,
        })
    }

    /// The Web API router: `/api/data/v9.2/...`, and `v9.1` and `v9.0`, which Dataverse still
    /// serves with the same behaviour. Absolute links
    /// (`@odata.nextLink`, `@odata.deltaLink`, `OData-EntityId`) use the request's Host header.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/data/v9.0/{*rest}", any(serve))
            .route("/api/data/v9.1/{*rest}", any(serve))
            .route("/api/data/v9.2/{*rest}", any(serve))
            .with_state(self.clone())
    }

    fn execute(&self, base: &str, caller: Option<&Caller>, req: &Req) -> Resp {
        let ctx = Ctx {
            base,
            caller,
            config: &self.inner.config,
            now: self.inner.config.clock.now(),
        };
        let is_batch = engine::parse_path(&req.path).is_ok_and(|t| t == engine::Target::Batch);
        if is_batch {
            return if req.method == Method::POST {
                batch::execute(&self.inner, &ctx, req)
            } else {
                error::ApiError::method_not_allowed(req.method.as_str()).into()
            };
        }
        if req.method == Method::GET || req.method == Method::HEAD {
            engine::read(&self.inner.read(), &ctx, req)
        } else {
            engine::write(&mut self.inner.write(), &ctx, req, &mut Vec::new())
        }
    }
}

fn build_cells(
    schema: &schema::SetSchema,
    row: Map<String, Value>,
) -> Result<(Uuid, Box<[Value]>), DataverseError> {
    let pk = schema.def.primary_key();
    let id = row
        .get(pk)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| DataverseError::MissingPrimaryKey {
            set: schema.set().to_owned(),
            column: pk.to_owned(),
        })?;
    let mut cells = vec![Value::Null; schema.len()].into_boxed_slice();
    for (name, value) in row {
        if name.starts_with('@') {
            continue;
        }
        let col = schema
            .col(&name)
            .ok_or_else(|| DataverseError::UnknownColumn {
                set: schema.set().to_owned(),
                column: name.clone(),
            })?;
        cells[col] = value;
    }
    cells[schema.pk] = Value::String(id.to_string());
    Ok((id, cells))
}

fn to_response(resp: Resp) -> Response {
    let mut builder = Response::builder().status(resp.status);
    for (name, value) in &resp.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            builder = builder.header(n, v);
        }
    }
    builder = builder
        .header("OData-Version", "4.0")
        .header("x-ms-service-request-id", Uuid::new_v4().to_string());
    builder.body(Body::from(resp.body)).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

async fn serve(State(dataverse): State<Dataverse>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == Method::GET || parts.method == Method::HEAD {
        dataverse.inner.reads.fetch_add(1, Ordering::Relaxed);
    } else {
        dataverse.inner.writes.fetch_add(1, Ordering::SeqCst);
        dataverse.inner.written.notify_waiters();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return to_response(
                error::ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "0x80040203",
                    "The request body is too large or could not be read.",
                )
                .into(),
            );
        }
    };
    let path = parts.uri.path();
    let Some(after) = path.strip_prefix("/api/data/") else {
        return to_response(error::ApiError::segment_not_found(path).into());
    };
    let (version, rest) = after.split_once('/').unwrap_or((after, ""));
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let base = format!("http://{host}/api/data/{version}");
    let caller = parts.extensions.get::<Caller>().cloned();
    let req = Req {
        method: parts.method.clone(),
        path: rest.to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers.clone(),
        body,
    };
    let engine = dataverse.clone();
    // Queries over large sets and page serialization are CPU work: keep them off the reactor.
    let resp = tokio::task::spawn_blocking(move || engine.execute(&base, caller.as_ref(), &req))
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "dataverse request panicked");
            error::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "0x80040216",
                "An unexpected error occurred.",
            )
            .into()
        });
    to_response(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn insert_rows_is_all_or_nothing() {
        let dv = Dataverse::new(DataverseConfig::default());
        let good = obj(json!({"botid": Uuid::from_u128(1).to_string(), "name": "a"}));
        let bad = obj(json!({"botid": Uuid::from_u128(2).to_string(), "description": "x"}));
        let err = dv.insert_rows("bots", [good.clone(), bad]).unwrap_err();
        assert!(matches!(err, DataverseError::UnknownColumn { .. }));
        assert_eq!(dv.count("bots"), 0);
        dv.insert_rows("bots", [good]).unwrap();
        assert_eq!(dv.count("bots"), 1);
        assert!(dv.row("bots", Uuid::from_u128(1)).unwrap()["versionnumber"].is_u64());
        assert!(matches!(
            dv.insert_rows("nope", []),
            Err(DataverseError::UnknownEntitySet(_))
        ));
        assert!(matches!(
            dv.insert_rows("bots", [obj(json!({"name": "no key"}))]),
            Err(DataverseError::MissingPrimaryKey { .. })
        ));
        assert!(dv.delete_row("bots", Uuid::from_u128(1)).unwrap());
        assert!(!dv.delete_row("bots", Uuid::from_u128(1)).unwrap());
    }

    #[test]
    fn privileges_from_roles() {
        let dv = Dataverse::new(DataverseConfig::default());
        let app = Uuid::from_u128(10);
        let user = Uuid::from_u128(11);
        let role = Uuid::from_u128(12);
        dv.insert_rows(
            "systemusers",
            [obj(
                json!({"systemuserid": user.to_string(), "applicationid": app.to_string()}),
            )],
        )
        .unwrap();
        dv.insert_rows(
            "roles",
            [obj(
                json!({"roleid": role.to_string(), "name": "Bot Transcript Viewer"}),
            )],
        )
        .unwrap();
        dv.insert_rows(
            "systemuserroles_association",
            [obj(json!({"systemuserroleid": Uuid::from_u128(13).to_string(), "systemuserid": user.to_string(), "roleid": role.to_string()}))],
        )
        .unwrap();
        let caller = dv.privileges_for_app(app).unwrap();
        assert_eq!(caller.user_id, user);
        assert!(caller.privileges.can_read("conversationtranscript"));
        assert!(!caller.privileges.can_read("botcomponent"));
        assert!(dv.privileges_for_app(Uuid::from_u128(99)).is_none());
    }

    #[test]
    fn declare_refuses_duplicates() {
        let dv = Dataverse::new(DataverseConfig::default());
        let def = EntitySetDef::new("widgets", "widget", "widgetid");
        dv.declare_entity_set(def.clone()).unwrap();
        assert!(matches!(
            dv.declare_entity_set(def),
            Err(DataverseError::EntitySetExists(_))
        ));
        assert!(dv.entity_set("widgets").is_some());
    }
}

//! `inventory schema show` and `inventory schema apply`: the eight tables' reference, and
//! creating them in an inventory environment through the Dataverse metadata API.
//!
//! `apply` is idempotent: it reads what exists (option set names, then per table the table,
//! its columns and its alternate keys) and creates only what is missing, in dependency order
//! (option sets, table, columns, keys). Run twice, the second run creates nothing. A create
//! the service refuses because the thing already exists (a list that did not show it, another
//! run at the same time) counts as existing: the refusal says so, or a read of that one item
//! finds it. Options added to an existing option set since it was made (a newer release of the
//! schema) are added with `InsertOptionValue`. Choice columns bind their global option set by
//! its `MetadataId`, as the Web API documents, and every write can name a solution
//! (`MSCRM.SolutionUniqueName`).
//!
//! Dataverse builds an alternate key's unique index in a system job: a new key reports
//! `EntityKeyIndexStatus` `Pending`, then `InProgress`, then `Active`, and upserts by the key
//! fail until then. `apply` therefore waits until every inventory key is `Active` (polling on
//! the injected clock, with a deadline), and reports a `Failed` key, whose index could not be
//! built because existing rows share its values, with what to do about it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use client_core::http::Method;
use client_core::{Request, SharedClock};
use dataverse_client::DataverseClient;
use inventory_model::metadata::{MetadataKind, MetadataRequest, create_schema_requests, label};
use inventory_model::options::option_sets as inventory_option_sets;
use inventory_model::schema::TABLES;
use serde::Serialize;
use serde_json::Value;

/// The reference of the eight tables (Markdown), as `inventory schema show` prints it.
pub fn show() -> String {
    inventory_model::docs::schema_markdown()
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApplyReport {
    /// What was created (kind and name), in order.
    pub created: Vec<String>,
    /// What already existed.
    pub existing: usize,
    /// Creates the service refused because the thing already existed (counted in
    /// [`existing`](Self::existing)), with the service's reason.
    pub refused_as_existing: Vec<String>,
    /// Options added to existing option sets (`set=value`).
    pub options_added: Vec<String>,
    /// Alternate keys found `Active` at the end.
    pub keys_active: usize,
}

/// How [`apply_with`] waits for alternate key indexes.
#[derive(Clone)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Time source for the polling pauses and the deadline.
    pub clock: SharedClock,
    /// How long to wait for every key to become `Active`.
    pub key_timeout: Duration,
    /// The pause between two status reads.
    pub key_poll: Duration,
    /// The unique name of the solution the tables, columns and option sets join
    /// (`MSCRM.SolutionUniqueName`); `None`: the environment's default solution.
    pub solution: Option<String>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            clock: client_core::system_clock(),
            key_timeout: Duration::from_secs(600),
            key_poll: Duration::from_secs(5),
            solution: None,
        }
    }
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("key_timeout", &self.key_timeout)
            .field("key_poll", &self.key_poll)
            .field("solution", &self.solution)
            .finish_non_exhaustive()
    }
}

/// `apply` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A metadata request failed.
    #[error("{what} failed: {source}")]
    Request {
        /// What was being done.
        what: String,
        /// The service's answer.
        #[source]
        source: client_core::Error,
    },
    /// Alternate key indexes could not be built: existing rows share the key's values.
    #[error(
        "the index of alternate key(s) {} failed (EntityKeyIndexStatus Failed): rows in the table share the key's values (fix: remove the duplicate rows, delete the failed key in the maker portal, then run `inventory schema apply` again)",
        keys.join(", ")
    )]
    KeyIndexFailed {
        /// `table.key` of each failed key.
        keys: Vec<String>,
    },
    /// Alternate key indexes were still being built at the deadline.
    #[error(
        "alternate key(s) {} were not Active after {}s (Dataverse is still building their indexes; fix: run `inventory schema apply` again later, it creates nothing twice)",
        keys.join(", "),
        waited.as_secs()
    )]
    KeyIndexPending {
        /// `table.key` of each key not yet active.
        keys: Vec<String>,
        /// How long was waited.
        waited: Duration,
    },
    /// An answer could not be read.
    #[error("{what}: the answer could not be read: {detail}")]
    Decode {
        /// What was being read.
        what: String,
        /// Why.
        detail: String,
    },
}

struct Meta<'a> {
    client: &'a DataverseClient,
    solution: Option<&'a str>,
}

/// What a create did.
#[derive(Debug)]
enum Created {
    /// Created; the new item's `MetadataId` when the answer names it (`OData-EntityId`).
    New(Option<String>),
    /// The service refused it as already existing; why.
    Existing(String),
}

/// How long one metadata write may take (creating a table can take minutes).
const METADATA_WRITE_TIMEOUT: Duration = Duration::from_secs(600);

/// The DuplicateRecord code ("already exists"), which Dataverse also answers for metadata.
const DUPLICATE_RECORD: u32 = 0x8004_0237;

/// Whether a refused create says the thing already exists: the DuplicateRecord code (hex or
/// decimal) or a message saying so. Metadata conflicts come back as 400 or 409 (412 with
/// If-None-Match), with codes that vary by component, so the message counts too.
fn says_already_exists(e: &client_core::Error) -> bool {
    let Some(s) = e.service() else {
        return false;
    };
    if !matches!(s.status(), 400 | 409 | 412) {
        return false;
    }
    let code = s.code().and_then(|c| {
        let c = c.trim();
        match c.strip_prefix("0x").or_else(|| c.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => c.parse::<i64>().ok().map(|n| n as u32),
        }
    });
    let message = s.message().unwrap_or_default().to_ascii_lowercase();
    code == Some(DUPLICATE_RECORD)
        || message.contains("already exists")
        || message.contains("already exist")
        || message.contains("is not unique")
        || message.contains("duplicate")
}

/// The GUID between the last parentheses of an `OData-EntityId`, e.g.
/// `.../GlobalOptionSetDefinitions(6f0c...)`.
fn id_in_entity_id(entity_id: &str) -> Option<String> {
    let inner = entity_id.trim().strip_suffix(')')?;
    let id = &inner[inner.rfind('(')? + 1..];
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}

impl Meta<'_> {
    fn url(&self, relative: &str) -> Result<url::Url, SchemaError> {
        self.client
            .api_url()
            .join(relative)
            .map_err(|e| SchemaError::Decode {
                what: relative.to_owned(),
                detail: e.to_string(),
            })
    }

    fn request(&self, method: Method, relative: &str) -> Result<Request, SchemaError> {
        Ok(Request::new(method, self.url(relative)?)
            .scope(self.client.scope())
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0"))
    }

    /// `GET relative`; `None` on 404.
    async fn get(&self, relative: &str) -> Result<Option<Value>, SchemaError> {
        let req = self.request(Method::GET, relative)?;
        match self.client.pipeline().send(req).await {
            Ok(resp) => resp
                .json::<Value>()
                .map(Some)
                .map_err(|e| SchemaError::Decode {
                    what: relative.to_owned(),
                    detail: e.to_string(),
                }),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(source) => Err(SchemaError::Request {
                what: format!("GET {relative}"),
                source,
            }),
        }
    }

    /// The rows of a metadata collection (`value`).
    async fn list(&self, relative: &str) -> Result<Vec<Value>, SchemaError> {
        Ok(match self.get(relative).await? {
            Some(Value::Object(mut body)) => match body.remove("value") {
                Some(Value::Array(rows)) => rows,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        })
    }

    /// The `LogicalName`s (or `Name`s) of a metadata collection, lower case.
    async fn names(&self, relative: &str, field: &str) -> Result<BTreeSet<String>, SchemaError> {
        Ok(self
            .list(relative)
            .await?
            .iter()
            .filter_map(|v| v.get(field).and_then(Value::as_str))
            .map(str::to_ascii_lowercase)
            .collect())
    }

    /// POSTs `body` to `relative` (with the solution header); the answer's `OData-EntityId`.
    async fn post(
        &self,
        relative: &str,
        body: &Value,
    ) -> Result<Option<String>, client_core::Error> {
        let mut req = self
            .request(Method::POST, relative)
            .map_err(|e| client_core::Error::invalid_request(e.to_string()))?
            .json(body)
            // Metadata writes are not idempotent on the wire; the existence checks and the
            // "already exists" handling make apply so.
            .idempotent(false)
            // Creating a table (with its primary column) runs for tens of seconds and can take
            // minutes on a busy environment: wait longer than for a read.
            .timeout(METADATA_WRITE_TIMEOUT);
        if let Some(solution) = self.solution {
            req = req.header("MSCRM.SolutionUniqueName", solution);
        }
        let resp = self.client.pipeline().send(req).await?;
        Ok(resp.header("odata-entityid").and_then(id_in_entity_id))
    }

    async fn create(&self, r: &MetadataRequest) -> Result<Created, SchemaError> {
        match self.post(&r.path, &r.body).await {
            Ok(id) => Ok(Created::New(id)),
            Err(e) if says_already_exists(&e) => Ok(Created::Existing(e.to_string())),
            Err(source) => {
                // A refusal in other words, or an answer that never came (the service goes on
                // creating after a time-out): if the item is there now, it exists.
                let timed_out = matches!(source, client_core::Error::Timeout(_));
                if (timed_out || matches!(source.status(), Some(400 | 409 | 412)))
                    && self.exists_now(r).await?.is_some()
                {
                    if timed_out {
                        return Ok(Created::New(None));
                    }
                    return Ok(Created::Existing(source.to_string()));
                }
                Err(SchemaError::Request {
                    what: format!("creating {} `{}`", kind_name(r.kind), r.name),
                    source,
                })
            }
        }
    }

    /// Reads the one item `r` creates; `Some(its definition)` when it exists.
    async fn exists_now(&self, r: &MetadataRequest) -> Result<Option<Value>, SchemaError> {
        let path = match r.kind {
            MetadataKind::OptionSet => format!("GlobalOptionSetDefinitions(Name='{}')", r.name),
            MetadataKind::Table => {
                format!(
                    "EntityDefinitions(LogicalName='{}')?$select=LogicalName",
                    r.name
                )
            }
            MetadataKind::Column => {
                format!("{}(LogicalName='{}')?$select=LogicalName", r.path, r.name)
            }
            MetadataKind::AlternateKey => format!(
                "{}(LogicalName='{}')?$select=LogicalName",
                r.path,
                r.name.to_ascii_lowercase()
            ),
            _ => return Ok(None),
        };
        // Only the item itself counts, not whatever a lenient server answers.
        let (field, name) = match r.kind {
            MetadataKind::OptionSet => ("Name", r.name.as_str()),
            _ => ("LogicalName", r.name.as_str()),
        };
        Ok(self.get(&path).await?.filter(|v| {
            v.get(field)
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }))
    }
}

fn kind_name(k: MetadataKind) -> &'static str {
    match k {
        MetadataKind::OptionSet => "option set",
        MetadataKind::Table => "table",
        MetadataKind::Column => "column",
        MetadataKind::AlternateKey => "alternate key",
        _ => "metadata",
    }
}

/// The table a column or key request belongs to (from its path).
fn table_of(r: &MetadataRequest) -> Option<String> {
    let start = r.path.find("LogicalName='")? + "LogicalName='".len();
    let end = r.path[start..].find('\'')? + start;
    Some(r.path[start..end].to_owned())
}

/// Creates what is missing of the inventory schema in the environment behind `client`, then
/// waits (up to 10 minutes) until every alternate key is usable.
pub async fn apply(client: &DataverseClient) -> Result<ApplyReport, SchemaError> {
    apply_with(client, &ApplyOptions::default()).await
}

/// [`apply`] with an explicit clock, key deadline and solution.
pub async fn apply_with(
    client: &DataverseClient,
    options: &ApplyOptions,
) -> Result<ApplyReport, SchemaError> {
    let meta = Meta {
        client,
        solution: options.solution.as_deref(),
    };
    let mut report = ApplyReport::default();
    // Name (lower case) -> MetadataId, for what exists.
    let mut option_sets: BTreeMap<String, Option<String>> = meta
        .list("GlobalOptionSetDefinitions?$select=Name,MetadataId")
        .await?
        .iter()
        .filter_map(|v| {
            let name = v.get("Name")?.as_str()?.to_ascii_lowercase();
            let id = v
                .get("MetadataId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((name, id))
        })
        .collect();
    let mut existing_sets: Vec<String> = Vec::new();
    let mut current_table: Option<String> = None;
    let mut columns = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for r in create_schema_requests() {
        let exists = match r.kind {
            MetadataKind::OptionSet => option_sets.contains_key(&r.name.to_ascii_lowercase()),
            MetadataKind::Table => {
                let path = format!(
                    "EntityDefinitions(LogicalName='{}')?$select=LogicalName",
                    r.name
                );
                current_table = Some(r.name.clone());
                meta.get(&path).await?.is_some()
            }
            MetadataKind::Column | MetadataKind::AlternateKey => {
                if table_of(&r) != current_table {
                    return Err(SchemaError::Decode {
                        what: r.path.clone(),
                        detail: "a column or key request came before its table".to_owned(),
                    });
                }
                let set = if r.kind == MetadataKind::Column {
                    &columns
                } else {
                    &keys
                };
                set.contains(&r.name.to_ascii_lowercase())
            }
            _ => false,
        };
        let mut existed = exists;
        if !exists {
            // A choice column binds its option set by MetadataId when it is known.
            let request = match r
                .option_set
                .and_then(|n| option_sets.get(&n.to_ascii_lowercase()).cloned().flatten())
            {
                Some(id) => r.clone().with_option_set_id(&id),
                None => r.clone(),
            };
            match meta.create(&request).await? {
                Created::New(id) => {
                    if r.kind == MetadataKind::OptionSet {
                        option_sets.insert(r.name.to_ascii_lowercase(), id);
                    }
                    report
                        .created
                        .push(format!("{} {}", kind_name(r.kind), r.name));
                }
                Created::Existing(why) => {
                    tracing::info!(what = %r.name, %why, "already exists");
                    existed = true;
                    report.refused_as_existing.push(format!(
                        "{} {}: {why}",
                        kind_name(r.kind),
                        r.name
                    ));
                    if r.kind == MetadataKind::OptionSet {
                        let id = meta
                            .exists_now(&r)
                            .await?
                            .and_then(|v| v.get("MetadataId")?.as_str().map(str::to_owned));
                        option_sets.insert(r.name.to_ascii_lowercase(), id);
                    }
                }
            }
        }
        if existed {
            report.existing += 1;
            if r.kind == MetadataKind::OptionSet {
                existing_sets.push(r.name.clone());
            }
        }
        if r.kind == MetadataKind::Table {
            // What the table has: nothing when it was just created.
            if existed {
                let base = format!("EntityDefinitions(LogicalName='{}')", r.name);
                columns = meta
                    .names(
                        &format!("{base}/Attributes?$select=LogicalName"),
                        "LogicalName",
                    )
                    .await?;
                keys = meta
                    .names(&format!("{base}/Keys?$select=LogicalName"), "LogicalName")
                    .await?;
            } else {
                columns.clear();
                keys.clear();
            }
        }
    }
    add_missing_options(&meta, &existing_sets, &mut report).await?;
    report.keys_active = wait_for_keys(&meta, options).await?;
    Ok(report)
}

/// Adds to the option sets that already existed the options they lack (a set made by an
/// earlier release of the schema), with `InsertOptionValue`; rows using the new values would
/// be refused otherwise.
async fn add_missing_options(
    meta: &Meta<'_>,
    existing: &[String],
    report: &mut ApplyReport,
) -> Result<(), SchemaError> {
    for set in inventory_option_sets() {
        if !existing.iter().any(|n| n.eq_ignore_ascii_case(set.name)) {
            continue;
        }
        let path = format!("GlobalOptionSetDefinitions(Name='{}')", set.name);
        let Some(found) = meta.get(&path).await? else {
            continue;
        };
        // Without `Options` the answer is not an option set's definition: nothing to compare.
        let Some(options) = found.get("Options").and_then(Value::as_array) else {
            continue;
        };
        let have: BTreeSet<i64> = options
            .iter()
            .filter_map(|o| o.get("Value").and_then(Value::as_i64))
            .collect();
        for option in set
            .options
            .iter()
            .filter(|o| !have.contains(&i64::from(o.value)))
        {
            let mut body = serde_json::json!({
                "OptionSetName": set.name,
                "Value": option.value,
                "Label": label(option.label),
            });
            if let (Some(solution), Some(b)) = (meta.solution, body.as_object_mut()) {
                b.insert(
                    "SolutionUniqueName".into(),
                    Value::String(solution.to_owned()),
                );
            }
            match meta.post("InsertOptionValue", &body).await {
                Ok(_) => {}
                Err(e) if says_already_exists(&e) => continue,
                Err(source) => {
                    return Err(SchemaError::Request {
                        what: format!("adding option {} to `{}`", option.value, set.name),
                        source,
                    });
                }
            }
            report
                .options_added
                .push(format!("{}={}", set.name, option.value));
        }
    }
    Ok(())
}

/// `EntityKeyIndexStatus` as its member name. The Web API writes enum members by name; the
/// number (0 `Pending`, 1 `InProgress`, 2 `Active`, 3 `Failed`) is read too. Absent: `missing`.
pub(crate) fn key_index_status(v: Option<&Value>) -> &str {
    match v {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => "Pending",
            Some(1) => "InProgress",
            Some(2) => "Active",
            Some(3) => "Failed",
            _ => "unknown",
        },
        _ => "missing",
    }
}

/// Polls the keys of the inventory tables until all are `Active`; returns how many there are.
async fn wait_for_keys(meta: &Meta<'_>, options: &ApplyOptions) -> Result<usize, SchemaError> {
    let started = options.clock.now();
    loop {
        let mut pending = Vec::new();
        let mut failed = Vec::new();
        let mut active = 0;
        for table in TABLES.iter().filter(|t| !t.keys.is_empty()) {
            let path = format!(
                "EntityDefinitions(LogicalName='{}')/Keys?$select=SchemaName,EntityKeyIndexStatus",
                table.logical_name
            );
            let listed = meta.get(&path).await?.unwrap_or(Value::Null);
            let listed = listed.get("value").and_then(Value::as_array);
            for key in table.keys {
                let status = listed
                    .into_iter()
                    .flatten()
                    .find(|k| {
                        k.get("SchemaName")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.eq_ignore_ascii_case(key.schema_name))
                    })
                    .map(|k| key_index_status(k.get("EntityKeyIndexStatus")))
                    .unwrap_or("missing");
                let name = format!("{}.{}", table.logical_name, key.schema_name);
                match status {
                    "Active" => active += 1,
                    "Failed" => failed.push(name),
                    _ => pending.push(name),
                }
            }
        }
        if !failed.is_empty() {
            return Err(SchemaError::KeyIndexFailed { keys: failed });
        }
        if pending.is_empty() {
            return Ok(active);
        }
        let waited = options.clock.now() - started;
        let waited = Duration::try_from(waited).unwrap_or_default();
        if waited >= options.key_timeout {
            return Err(SchemaError::KeyIndexPending {
                keys: pending,
                waited,
            });
        }
        tracing::info!(pending = pending.len(), "waiting for alternate key indexes");
        options.clock.sleep(options.key_poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::{AccessToken, StaticTokenCredential};
    use httpmock::prelude::*;
    use inventory_model::options::option_sets;
    use serde_json::json;
    use std::sync::Arc;

    fn client(server: &MockServer) -> DataverseClient {
        let token = AccessToken::new(
            "t",
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        );
        DataverseClient::builder(
            &server.base_url(),
            Arc::new(StaticTokenCredential::new(token)),
        )
        .unwrap()
        .build()
        .unwrap()
    }

    #[tokio::test]
    async fn apply_creates_what_is_missing_and_a_second_run_creates_nothing() {
        // An empty environment: everything is created, option sets first.
        let server = MockServer::start();
        let sets = server.mock(|w, t| {
            w.method(GET).path_includes("GlobalOptionSetDefinitions");
            t.status(200).json_body(json!({"value": []}));
        });
        let missing = server.mock(|w, t| {
            w.method(GET)
                .path_includes("EntityDefinitions")
                .path_excludes("/Keys");
            t.status(404)
                .json_body(json!({"error": {"code": "0x80060888", "message": "not found"}}));
        });
        let key_status = all_keys_active(&server);
        let posts = server.mock(|w, t| {
            w.method(POST);
            t.status(204);
        });
        let first = apply(&client(&server)).await.unwrap();
        let all = create_schema_requests().len();
        assert_eq!(first.created.len(), all);
        assert_eq!(first.existing, 0);
        assert_eq!(posts.calls(), all);
        assert!(first.created[0].starts_with("option set"));
        sets.assert();
        assert_eq!(missing.calls(), TABLES.len());
        assert_eq!(first.keys_active, 7);
        assert_eq!(key_status.calls(), 7, "one status read per table with keys");

        // Everything exists: only reads, no write.
        let server = MockServer::start();
        everything_exists(&server, "Active");
        let posts = server.mock(|w, t| {
            w.method(POST);
            t.status(204);
        });
        let second = apply(&client(&server)).await.unwrap();
        assert!(second.created.is_empty(), "{:?}", second.created);
        assert_eq!(second.existing, all);
        assert_eq!(posts.calls(), 0);
    }

    /// Every inventory key listed `Active`, whatever table is asked.
    fn all_keys_active(server: &MockServer) -> httpmock::Mock<'_> {
        let keys: Vec<Value> = TABLES
            .iter()
            .flat_map(|t| t.keys)
            .map(|k| json!({"SchemaName": k.schema_name, "EntityKeyIndexStatus": "Active"}))
            .collect();
        server.mock(move |w, t| {
            w.method(GET).path_includes("/Keys");
            t.status(200).json_body(json!({"value": keys}));
        })
    }

    fn options(clock: &client_core::ManualClock) -> ApplyOptions {
        ApplyOptions {
            clock: Arc::new(clock.clone()),
            key_timeout: Duration::from_secs(60),
            key_poll: Duration::from_secs(5),
            solution: None,
        }
    }

    fn everything_exists(server: &MockServer, key_status: &'static str) {
        let names: Vec<Value> = option_sets()
            .iter()
            .map(|s| json!({"Name": s.name}))
            .collect();
        server.mock(|w, t| {
            w.method(GET)
                .path_includes("GlobalOptionSetDefinitions")
                .path_excludes("(");
            t.status(200).json_body(json!({"value": names}));
        });
        // Each set's definition, with every option the schema has.
        for set in option_sets() {
            let options: Vec<Value> = set
                .options
                .iter()
                .map(|o| json!({"Value": o.value, "Label": {"LocalizedLabels": [{"Label": o.label, "LanguageCode": 1033}]}}))
                .collect();
            let body = json!({"@odata.type": "#Microsoft.Dynamics.CRM.OptionSetMetadata", "Name": set.name, "Options": options});
            let path = format!(
                "/api/data/v9.2/GlobalOptionSetDefinitions(Name='{}')",
                set.name
            );
            server.mock(move |w, t| {
                w.method(GET).path(path.clone());
                t.status(200).json_body(body.clone());
            });
        }
        for table in TABLES {
            let base = format!(
                "/api/data/v9.2/EntityDefinitions(LogicalName='{}')",
                table.logical_name
            );
            let cols: Vec<Value> = table
                .columns
                .iter()
                .map(|c| json!({"LogicalName": c.logical_name}))
                .collect();
            let keys: Vec<Value> = table
                .keys
                .iter()
                .map(|k| json!({"LogicalName": k.schema_name.to_ascii_lowercase(), "SchemaName": k.schema_name, "EntityKeyIndexStatus": key_status}))
                .collect();
            let b = base.clone();
            server.mock(move |w, t| {
                w.method(GET).path(b.clone());
                t.status(200).json_body(json!({"LogicalName": "x"}));
            });
            let b = format!("{base}/Attributes");
            server.mock(move |w, t| {
                w.method(GET).path(b.clone());
                t.status(200).json_body(json!({"value": cols}));
            });
            let b = format!("{base}/Keys");
            server.mock(move |w, t| {
                w.method(GET).path(b.clone());
                t.status(200).json_body(json!({"value": keys}));
            });
        }
    }

    #[tokio::test]
    async fn keys_still_building_are_waited_for_on_the_clock_until_the_deadline() {
        let server = MockServer::start();
        everything_exists(&server, "Pending");
        let clock = client_core::ManualClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let e = apply_with(&client(&server), &options(&clock))
            .await
            .unwrap_err();
        assert!(
            matches!(e, SchemaError::KeyIndexPending { ref keys, .. } if keys.len() == 7),
            "{e}"
        );
        assert!(
            e.to_string().contains("run `inventory schema apply` again"),
            "{e}"
        );
        // Paused on the injected clock, never for real: 60 s in 5 s steps.
        assert_eq!(clock.sleeps().len(), 12, "{:?}", clock.sleeps());
    }

    #[tokio::test]
    async fn a_failed_key_index_is_reported_with_its_fix() {
        let server = MockServer::start();
        everything_exists(&server, "Failed");
        let clock = client_core::ManualClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let e = apply_with(&client(&server), &options(&clock))
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fsi_copilotagent.fsi_AgentEnvKey") || text.contains("Failed"),
            "{text}"
        );
        assert!(text.contains("remove the duplicate rows"), "{text}");
        assert!(clock.sleeps().is_empty());
    }

    /// A server whose lists show nothing and which refuses each create as already existing,
    /// in the words Dataverse uses for each kind (or, for columns, in other words, so that only
    /// a read of the one column tells): apply counts all as existing and changes nothing, run
    /// after run.
    #[tokio::test]
    async fn creates_refused_as_already_existing_count_as_existing() {
        let server = MockServer::start();
        server.mock(|w, t| {
            w.method(GET)
                .path_includes("GlobalOptionSetDefinitions")
                .path_excludes("(");
            t.status(200).json_body(json!({"value": []}));
        });
        server.mock(|w, t| {
            w.method(GET)
                .path_includes("EntityDefinitions")
                .path_excludes("/Keys")
                .path_excludes("/Attributes(");
            t.status(404).json_body(json!({"error": {"code": "0x80060888", "message": "Resource not found for the segment 'EntityDefinitions'."}}));
        });
        // The one-column read finds it.
        for table in TABLES {
            for c in table.columns {
                let path = format!(
                    "/api/data/v9.2/EntityDefinitions(LogicalName='{}')/Attributes(LogicalName='{}')",
                    table.logical_name, c.logical_name
                );
                let name = c.logical_name;
                server.mock(move |w, t| {
                    w.method(GET).path(path.clone());
                    t.status(200).json_body(json!({"LogicalName": name}));
                });
            }
        }
        all_keys_active(&server);
        let sets = server.mock(|w, t| {
            w.method(POST).path_includes("GlobalOptionSetDefinitions");
            t.status(400).json_body(json!({"error": {"code": "0x80040237", "message": "An option set with the specified name already exists."}}));
        });
        let tables = server.mock(|w, t| {
            w.method(POST).path("/api/data/v9.2/EntityDefinitions");
            t.status(400).json_body(json!({"error": {"code": "-2147220937", "message": "An entity with the specified name already exists. Please specify a unique name."}}));
        });
        let columns = server.mock(|w, t| {
            w.method(POST).path_includes("/Attributes");
            t.status(400).json_body(json!({"error": {"code": "0x80048403", "message": "The schema name fsi_x is in use."}}));
        });
        let keys = server.mock(|w, t| {
            w.method(POST).path_includes("/Keys");
            t.status(409).json_body(json!({"error": {"code": "", "message": "Entity key with the same name already exists."}}));
        });
        let all = create_schema_requests().len();
        for _run in 0..2 {
            let report = apply(&client(&server)).await.unwrap();
            assert!(report.created.is_empty(), "{:?}", report.created);
            assert_eq!(report.existing, all);
            assert_eq!(report.refused_as_existing.len(), all);
        }
        assert_eq!(sets.calls(), 2 * option_sets().len());
        assert_eq!(tables.calls(), 2 * TABLES.len());
        assert!(columns.calls() > 0 && keys.calls() > 0);
    }

    /// A refusal other than "already exists" (no privilege, a bad body) is an error that
    /// names what was being created, whatever its status, 400 included.
    #[tokio::test]
    async fn other_refusals_are_still_errors() {
        for (status, code, message) in [
            (403, "0x80040220", "no prvCreateEntity"),
            (
                400,
                "0x80044331",
                "The length of the 'Name' attribute exceeded the maximum allowed length.",
            ),
        ] {
            let server = MockServer::start();
            server.mock(|w, t| {
                w.method(GET).path_includes("GlobalOptionSetDefinitions");
                t.status(200).json_body(json!({"value": []}));
            });
            server.mock(|w, t| {
                w.method(POST);
                t.status(status)
                    .json_body(json!({"error": {"code": code, "message": message}}));
            });
            let e = apply(&client(&server)).await.unwrap_err().to_string();
            assert!(e.contains("creating option set"), "{status}: {e}");
            assert!(e.contains(message), "{status}: {e}");
        }
    }

    /// A client whose requests go to `transport` (no sockets: tokio's paused time decides
    /// how long a request that never answers takes).
    fn mock_client(transport: Arc<client_core::mock::MockTransport>) -> DataverseClient {
        let token = AccessToken::new(
            "t",
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        );
        DataverseClient::builder(
            "https://org.crm.dynamics.com",
            Arc::new(StaticTokenCredential::new(token)),
        )
        .unwrap()
        .transport(transport)
        .build()
        .unwrap()
    }

    /// A create whose answer never comes: the write waits its own 600 s (not the pipeline's
    /// default attempt timeout), is not sent again (metadata writes are not idempotent), and
    /// a read of that one item decides: there, it was created; not there, the time-out is the
    /// error, naming what was being created.
    #[tokio::test(start_paused = true)]
    async fn a_create_that_times_out_is_decided_by_a_re_read() {
        use client_core::mock::{MockReply, MockTransport, reply};
        let table = create_schema_requests()
            .into_iter()
            .find(|r| r.kind == MetadataKind::Table)
            .unwrap();
        for created_meanwhile in [true, false] {
            let name = table.name.clone();
            let transport = Arc::new(MockTransport::new(move |req| {
                if req.method() == client_core::http::Method::POST {
                    return MockReply::Hang;
                }
                if created_meanwhile {
                    reply(200, json!({"LogicalName": name}).to_string()).into()
                } else {
                    reply(404, r#"{"error":{"code":"0x80060888","message":"Resource not found for the segment 'EntityDefinitions'."}}"#).into()
                }
            }));
            let client = mock_client(transport.clone());
            let meta = Meta {
                client: &client,
                solution: None,
            };
            let started = tokio::time::Instant::now();
            let created = meta.create(&table).await;
            assert_eq!(started.elapsed(), METADATA_WRITE_TIMEOUT);
            let requests = transport.requests();
            let methods: Vec<_> = requests.iter().map(|r| r.method().clone()).collect();
            use client_core::http::Method as M;
            assert_eq!(methods, [M::POST, M::GET], "{created_meanwhile}");
            assert!(
                requests[1]
                    .url()
                    .contains(&format!("EntityDefinitions(LogicalName='{}')", table.name)),
                "{}",
                requests[1].url()
            );
            match (created_meanwhile, created) {
                (true, Ok(Created::New(None))) => {}
                (false, Err(e @ SchemaError::Request { .. })) => {
                    let text = e.to_string();
                    assert!(
                        text.contains(&format!("creating table `{}`", table.name)),
                        "{text}"
                    );
                    assert!(
                        matches!(
                            e,
                            SchemaError::Request {
                                source: client_core::Error::Timeout(_),
                                ..
                            }
                        ),
                        "{text}"
                    );
                }
                (meanwhile, other) => panic!("created meanwhile {meanwhile}: {other:?}"),
            }
        }
    }

    /// Choice columns bind their option set by the MetadataId the create answered with
    /// (`OData-EntityId`), and every write names the solution when one is given.
    #[tokio::test]
    async fn choice_columns_bind_by_metadata_id_and_writes_name_the_solution() {
        let server = MockServer::start();
        server.mock(|w, t| {
            w.method(GET).path_includes("GlobalOptionSetDefinitions");
            t.status(200).json_body(json!({"value": []}));
        });
        server.mock(|w, t| {
            w.method(GET)
                .path_includes("EntityDefinitions")
                .path_excludes("/Keys");
            t.status(404)
                .json_body(json!({"error": {"code": "0x80060888", "message": "not found"}}));
        });
        all_keys_active(&server);
        let id = "6f0cbbe5-8e70-4b87-a2a0-3d54a2f7c001";
        let entity_id = format!(
            "{}/api/data/v9.2/GlobalOptionSetDefinitions({id})",
            server.base_url()
        );
        let sets = server.mock(|w, t| {
            w.method(POST)
                .path_includes("GlobalOptionSetDefinitions")
                .header("MSCRM.SolutionUniqueName", "FsiInventory");
            t.status(204).header("OData-EntityId", entity_id.clone());
        });
        let bound = server.mock(|w, t| {
            w.method(POST)
                .path_includes("/Attributes")
                .body_includes(format!(
                    "\"GlobalOptionSet@odata.bind\":\"/GlobalOptionSetDefinitions({id})\""
                ))
                .header("MSCRM.SolutionUniqueName", "FsiInventory");
            t.status(204);
        });
        let by_name = server.mock(|w, t| {
            w.method(POST)
                .body_includes("GlobalOptionSetDefinitions(Name=");
            t.status(400)
                .json_body(json!({"error": {"code": "0x80040203", "message": "bound by name"}}));
        });
        let rest = server.mock(|w, t| {
            w.method(POST)
                .header("MSCRM.SolutionUniqueName", "FsiInventory");
            t.status(204);
        });
        let clock = client_core::ManualClock::new(time::OffsetDateTime::UNIX_EPOCH);
        let mut o = options(&clock);
        o.solution = Some("FsiInventory".to_owned());
        let report = apply_with(&client(&server), &o).await.unwrap();
        assert_eq!(report.created.len(), create_schema_requests().len());
        assert_eq!(sets.calls(), option_sets().len());
        let choices = create_schema_requests()
            .iter()
            .filter(|r| r.option_set.is_some())
            .count();
        assert_eq!(bound.calls(), choices);
        assert_eq!(by_name.calls(), 0);
        assert!(rest.calls() > 0);
    }

    /// An option set made by an earlier release lacks a newer option: it is added once.
    #[tokio::test]
    async fn options_missing_from_an_existing_set_are_added() {
        let server = MockServer::start();
        let featuretype = option_sets()
            .into_iter()
            .find(|s| s.name == "fsi_cai_featuretype")
            .unwrap();
        let old: Vec<Value> = featuretype
            .options
            .iter()
            .filter(|o| o.value != 100_000_022)
            .map(|o| json!({"Value": o.value}))
            .collect();
        // Defined before everything_exists so that it answers for this set.
        server.mock(move |w, t| {
            w.method(GET)
                .path("/api/data/v9.2/GlobalOptionSetDefinitions(Name='fsi_cai_featuretype')");
            t.status(200)
                .json_body(json!({"Name": "fsi_cai_featuretype", "Options": old}));
        });
        everything_exists(&server, "Active");
        let insert = server.mock(|w, t| {
            w.method(POST)
                .path("/api/data/v9.2/InsertOptionValue")
                .json_body_includes(
                    r#"{"OptionSetName": "fsi_cai_featuretype", "Value": 100000022}"#,
                );
            t.status(200)
                .json_body(json!({"NewOptionValue": 100000022}));
        });
        let other_posts = server.mock(|w, t| {
            w.method(POST).path_excludes("InsertOptionValue");
            t.status(204);
        });
        let report = apply(&client(&server)).await.unwrap();
        assert_eq!(report.options_added, ["fsi_cai_featuretype=100000022"]);
        assert!(report.created.is_empty());
        insert.assert();
        assert_eq!(other_posts.calls(), 0);
    }

    #[test]
    fn key_index_status_reads_names_and_numbers() {
        assert_eq!(key_index_status(Some(&json!("InProgress"))), "InProgress");
        assert_eq!(key_index_status(Some(&json!(2))), "Active");
        assert_eq!(key_index_status(Some(&json!(3))), "Failed");
        assert_eq!(key_index_status(Some(&json!(0))), "Pending");
        assert_eq!(key_index_status(None), "missing");
    }

    #[test]
    fn show_is_the_reference() {
        let md = show();
        for t in TABLES {
            assert!(md.contains(t.logical_name), "{} missing", t.logical_name);
        }
    }
}

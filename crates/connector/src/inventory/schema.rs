//! `inventory schema show` and `inventory schema apply`: the eight tables' reference, and
//! creating them in an inventory environment through the Dataverse metadata API.
//!
//! `apply` is idempotent: it reads what exists (option set names, then per table the table,
//! its columns and its alternate keys) and creates only what is missing, in dependency order
//! (option sets, table, columns, keys). Run twice, the second run creates nothing.
//!
//! Dataverse builds an alternate key's unique index in a system job: a new key reports
//! `EntityKeyIndexStatus` `Pending`, then `InProgress`, then `Active`, and upserts by the key
//! fail until then. `apply` therefore waits until every inventory key is `Active` (polling on
//! the injected clock, with a deadline), and reports a `Failed` key, whose index could not be
//! built because existing rows share its values, with what to do about it.

use std::collections::BTreeSet;
use std::time::Duration;

use client_core::http::Method;
use client_core::{Request, SharedClock};
use dataverse_client::DataverseClient;
use inventory_model::metadata::{MetadataKind, MetadataRequest, create_schema_requests};
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
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            clock: client_core::system_clock(),
            key_timeout: Duration::from_secs(600),
            key_poll: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("key_timeout", &self.key_timeout)
            .field("key_poll", &self.key_poll)
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

    /// The `LogicalName`s (or `Name`s) of a metadata collection.
    async fn names(&self, relative: &str, field: &str) -> Result<BTreeSet<String>, SchemaError> {
        let Some(body) = self.get(relative).await? else {
            return Ok(BTreeSet::new());
        };
        Ok(body
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.get(field).and_then(Value::as_str))
            .map(str::to_ascii_lowercase)
            .collect())
    }

    async fn create(&self, r: &MetadataRequest) -> Result<(), SchemaError> {
        // Metadata writes are not idempotent on the wire; the existence checks make apply so.
        let req = self
            .request(Method::POST, &r.path)?
            .json(&r.body)
            .idempotent(false);
        self.client
            .pipeline()
            .send(req)
            .await
            .map(|_| ())
            .map_err(|source| SchemaError::Request {
                what: format!("creating {} `{}`", kind_name(r.kind), r.name),
                source,
            })
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

/// [`apply`] with an explicit clock and key deadline.
pub async fn apply_with(
    client: &DataverseClient,
    options: &ApplyOptions,
) -> Result<ApplyReport, SchemaError> {
    let meta = Meta { client };
    let mut report = ApplyReport::default();
    let option_sets = meta
        .names("GlobalOptionSetDefinitions?$select=Name", "Name")
        .await?;
    let mut current_table: Option<String> = None;
    let mut columns = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for r in create_schema_requests() {
        let exists = match r.kind {
            MetadataKind::OptionSet => option_sets.contains(&r.name.to_ascii_lowercase()),
            MetadataKind::Table => {
                let path = format!(
                    "EntityDefinitions(LogicalName='{}')?$select=LogicalName",
                    r.name
                );
                let found = meta.get(&path).await?.is_some();
                current_table = Some(r.name.clone());
                if found {
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
                found
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
        if exists {
            report.existing += 1;
        } else {
            meta.create(&r).await?;
            report
                .created
                .push(format!("{} {}", kind_name(r.kind), r.name));
        }
    }
    report.keys_active = wait_for_keys(&meta, options).await?;
    Ok(report)
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
                    .and_then(|k| k.get("EntityKeyIndexStatus"))
                    .and_then(Value::as_str)
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
        }
    }

    fn everything_exists(server: &MockServer, key_status: &'static str) {
        let names: Vec<Value> = option_sets()
            .iter()
            .map(|s| json!({"Name": s.name}))
            .collect();
        server.mock(|w, t| {
            w.method(GET).path_includes("GlobalOptionSetDefinitions");
            t.status(200).json_body(json!({"value": names}));
        });
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

    #[tokio::test]
    async fn a_refused_create_names_what_failed() {
        let server = MockServer::start();
        server.mock(|w, t| {
            w.method(GET).path_includes("GlobalOptionSetDefinitions");
            t.status(200).json_body(json!({"value": []}));
        });
        server.mock(|w, t| {
            w.method(POST);
            t.status(403).json_body(
                json!({"error": {"code": "0x80040220", "message": "no prvCreateEntity"}}),
            );
        });
        let e = apply(&client(&server)).await.unwrap_err().to_string();
        assert!(e.contains("creating option set"), "{e}");
    }

    #[test]
    fn show_is_the_reference() {
        let md = show();
        for t in TABLES {
            assert!(md.contains(t.logical_name), "{} missing", t.logical_name);
        }
    }
}

//! `inventory schema show` and `inventory schema apply`: the eight tables' reference, and
//! creating them in an inventory environment through the Dataverse metadata API.
//!
//! `apply` is idempotent: it reads what exists (option set names, then per table the table,
//! its columns and its alternate keys) and creates only what is missing, in dependency order
//! (option sets, table, columns, keys). Run twice, the second run creates nothing.

use std::collections::BTreeSet;

use client_core::Request;
use client_core::http::Method;
use dataverse_client::DataverseClient;
use inventory_model::metadata::{MetadataKind, MetadataRequest, create_schema_requests};
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

/// Creates what is missing of the inventory schema in the environment behind `client`.
pub async fn apply(client: &DataverseClient) -> Result<ApplyReport, SchemaError> {
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
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::{AccessToken, StaticTokenCredential};
    use httpmock::prelude::*;
    use inventory_model::options::option_sets;
    use inventory_model::schema::TABLES;
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
            w.method(GET).path_includes("EntityDefinitions");
            t.status(404)
                .json_body(json!({"error": {"code": "0x80060888", "message": "not found"}}));
        });
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

        // Everything exists: only reads, no write.
        let server = MockServer::start();
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
                .map(|k| json!({"LogicalName": k.schema_name.to_ascii_lowercase()}))
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
        let posts = server.mock(|w, t| {
            w.method(POST);
            t.status(204);
        });
        let second = apply(&client(&server)).await.unwrap();
        assert!(second.created.is_empty(), "{:?}", second.created);
        assert_eq!(second.existing, all);
        assert_eq!(posts.calls(), 0);
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

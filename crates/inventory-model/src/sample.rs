//! The published sample agent record: the reference scanner's JSON output for one
//! agent (its `fsi_copilotagent` row, its `fsi_caiagentfeature` rows and its
//! `fsi_caicompliancestate` row), with choices written as labels.

use serde_json::{Map, Value};

use crate::error::RowError;
use crate::rows::{AgentFeatureRow, AgentRow, ComplianceStateRow, Encoding, InventoryRow};

/// One agent's record as the published reference scanner writes it.
///
/// Reading keeps every value; writing gives back each key the source had with the
/// same value. Columns the source left out are written as `null` (a row always
/// carries all its columns), and `_comment` keys are kept.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AgentRecord {
    /// `schemaVersion`, e.g. `0.1.0-preview`.
    pub schema_version: Option<String>,
    /// `runId`.
    pub run_id: Option<String>,
    /// The top-level `_comment`.
    pub comment: Option<String>,
    /// `fsi_copilotagent`.
    pub agent: AgentRow,
    /// `fsi_caiagentfeature`.
    pub features: Vec<AgentFeatureRow>,
    /// `fsi_caicompliancestate`, with its `_comment` if it had one.
    pub compliance: Option<(ComplianceStateRow, Option<String>)>,
}

fn object<'a>(value: &'a Value, table: &'static str) -> Result<&'a Map<String, Value>, RowError> {
    value.as_object().ok_or(RowError::NotAnObject { table })
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl AgentRecord {
    /// Reads a record (choices as labels, or as integers).
    pub fn from_json(value: &Value) -> Result<Self, RowError> {
        let root = object(value, "record")?;
        let agent = root.get("fsi_copilotagent").ok_or(RowError::Missing {
            table: "record",
            column: "fsi_copilotagent",
        })?;
        let agent = AgentRow::from_json(object(agent, "fsi_copilotagent")?, Encoding::Labels)?;
        let mut features = Vec::new();
        match root.get("fsi_caiagentfeature") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    features.push(AgentFeatureRow::from_json(
                        object(item, "fsi_caiagentfeature")?,
                        Encoding::Labels,
                    )?);
                }
            }
            Some(_) => {
                return Err(RowError::WrongType {
                    table: "record",
                    column: "fsi_caiagentfeature",
                    expected: "an array of rows",
                    found: "another JSON value",
                });
            }
        }
        let compliance = match root.get("fsi_caicompliancestate") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let map = object(v, "fsi_caicompliancestate")?;
                Some((
                    ComplianceStateRow::from_json(map, Encoding::Labels)?,
                    text(map, "_comment"),
                ))
            }
        };
        Ok(AgentRecord {
            schema_version: text(root, "schemaVersion"),
            run_id: text(root, "runId"),
            comment: text(root, "_comment"),
            agent,
            features,
            compliance,
        })
    }

    /// Writes the record in the same shape, choices as labels.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        if let Some(c) = &self.comment {
            root.insert("_comment".to_owned(), Value::String(c.clone()));
        }
        if let Some(v) = &self.schema_version {
            root.insert("schemaVersion".to_owned(), Value::String(v.clone()));
        }
        if let Some(v) = &self.run_id {
            root.insert("runId".to_owned(), Value::String(v.clone()));
        }
        root.insert(
            "fsi_copilotagent".to_owned(),
            Value::Object(self.agent.to_json(Encoding::Labels)),
        );
        root.insert(
            "fsi_caiagentfeature".to_owned(),
            Value::Array(
                self.features
                    .iter()
                    .map(|f| Value::Object(f.to_json(Encoding::Labels)))
                    .collect(),
            ),
        );
        if let Some((row, comment)) = &self.compliance {
            let mut map = Map::new();
            if let Some(c) = comment {
                map.insert("_comment".to_owned(), Value::String(c.clone()));
            }
            map.extend(row.to_json(Encoding::Labels));
            root.insert("fsi_caicompliancestate".to_owned(), Value::Object(map));
        }
        Value::Object(root)
    }
}

//! The scan's JSON document: one array per table, keyed by the table's logical name, each
//! row exactly as it would be upserted (column logical names, choices as integers), plus
//! the `summary`, the findings per agent and the coverage gaps.

use std::collections::BTreeMap;
use std::fmt;

use inventory_model::{CheckResult, Encoding, InventoryRow, InventoryRows};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::identity::IdentityRecord;
use super::scan::ScanResult;

/// The eight table logical names, in the order the document lists them.
pub const TABLES: [&str; 8] = [
    "fsi_copilotagent",
    "fsi_caienvironment",
    "fsi_caiagentfeature",
    "fsi_caiauthshare",
    "fsi_caibillingentitlement",
    "fsi_caiusagesignal",
    "fsi_caiworkiqstate",
    "fsi_caicompliancestate",
];

fn rows<R: InventoryRow>(rows: &[R]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| Value::Object(r.to_json(Encoding::Dataverse)))
            .collect(),
    )
}

/// The rows of each table as JSON arrays, keyed by logical name.
pub fn tables_json(r: &InventoryRows) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(TABLES[0].into(), rows(&r.agents));
    m.insert(TABLES[1].into(), rows(&r.environments));
    m.insert(TABLES[2].into(), rows(&r.features));
    m.insert(TABLES[3].into(), rows(&r.auth_shares));
    m.insert(TABLES[4].into(), rows(&r.billing));
    m.insert(TABLES[5].into(), rows(&r.usage));
    m.insert(TABLES[6].into(), rows(&r.work_iq));
    m.insert(TABLES[7].into(), rows(&r.compliance));
    m
}

/// The whole document: the eight tables, `summary`, `postures` (each agent's checks with
/// their evidence) and `identities` (each agent's Entra identity as read from Graph).
pub fn document(result: &ScanResult) -> Value {
    let mut m = tables_json(&result.inventory.rows);
    m.insert(
        "summary".into(),
        serde_json::to_value(&result.summary).unwrap_or(Value::Null),
    );
    m.insert(
        "postures".into(),
        serde_json::to_value(&result.inventory.postures).unwrap_or(Value::Null),
    );
    m.insert(
        "identities".into(),
        serde_json::to_value(&result.identities).unwrap_or(Value::Null),
    );
    Value::Object(m)
}

/// Reads the eight tables back from a document written by [`document`].
pub fn rows_from_document(doc: &Value) -> Result<InventoryRows, String> {
    fn table<R: InventoryRow>(doc: &Value, name: &str) -> Result<Vec<R>, String> {
        let Some(items) = doc.get(name) else {
            return Ok(Vec::new());
        };
        let items = items
            .as_array()
            .ok_or_else(|| format!("`{name}` is not an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let obj = v
                    .as_object()
                    .ok_or_else(|| format!("`{name}`[{i}] is not an object"))?;
                R::from_json(obj, Encoding::Dataverse).map_err(|e| format!("`{name}`[{i}]: {e}"))
            })
            .collect()
    }
    let mut r = InventoryRows::default();
    r.agents = table(doc, TABLES[0])?;
    r.environments = table(doc, TABLES[1])?;
    r.features = table(doc, TABLES[2])?;
    r.auth_shares = table(doc, TABLES[3])?;
    r.billing = table(doc, TABLES[4])?;
    r.usage = table(doc, TABLES[5])?;
    r.work_iq = table(doc, TABLES[6])?;
    r.compliance = table(doc, TABLES[7])?;
    Ok(r)
}

/// A row serialised straight from its fields, as `to_json` would write it.
struct Straight<'a, R>(&'a R);

impl<R: InventoryRow> Serialize for Straight<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_row(Encoding::Dataverse, serializer)
    }
}

/// One table's rows, serialised row by row, each straight from its fields (no JSON object
/// is built: the document of a large tenant holds tens of thousands of rows, written twice).
struct TableRows<'a, R>(&'a [R]);

impl<R: InventoryRow> Serialize for TableRows<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for row in self.0 {
            seq.serialize_element(&Straight(row))?;
        }
        seq.end()
    }
}

/// The document of a scan as [`document`] makes it, serialised straight from the rows: the
/// same JSON (keys in the same order) without first building it as one tree in memory.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a>(pub &'a ScanResult);

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = &self.0.inventory.rows;
        let mut m = serializer.serialize_map(Some(TABLES.len() + 2))?;
        // In key order, as a JSON object tree writes them.
        m.serialize_entry("fsi_caiagentfeature", &TableRows(&r.features))?;
        m.serialize_entry("fsi_caiauthshare", &TableRows(&r.auth_shares))?;
        m.serialize_entry("fsi_caibillingentitlement", &TableRows(&r.billing))?;
        m.serialize_entry("fsi_caicompliancestate", &TableRows(&r.compliance))?;
        m.serialize_entry("fsi_caienvironment", &TableRows(&r.environments))?;
        m.serialize_entry("fsi_caiusagesignal", &TableRows(&r.usage))?;
        m.serialize_entry("fsi_caiworkiqstate", &TableRows(&r.work_iq))?;
        m.serialize_entry("fsi_copilotagent", &TableRows(&r.agents))?;
        m.serialize_entry("identities", &SortedKeys(&self.0.identities))?;
        m.serialize_entry("postures", &SortedKeys(&self.0.inventory.postures))?;
        let summary = serde_json::to_value(&self.0.summary).map_err(serde::ser::Error::custom)?;
        m.serialize_entry("summary", &summary)?;
        m.end()
    }
}

/// Items written with their object keys in order, as a JSON object tree writes them (one
/// item's tree at a time).
struct SortedKeys<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for SortedKeys<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            let value = serde_json::to_value(item).map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&value)?;
        }
        seq.end()
    }
}

/// What a scan needs back from the previous scan's document.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StoredDocument {
    /// The eight tables' rows.
    pub rows: InventoryRows,
    /// Each agent's posture results, by lower-case (agent id, environment id).
    pub checks: BTreeMap<(String, String), Vec<CheckResult>>,
    /// The agent identities (`identities`).
    pub identities: Vec<IdentityRecord>,
}

/// Reads the eight tables, the posture results and the identities from a document's text,
/// row by row (the document is never held as one JSON tree). A posture or identity entry
/// that cannot be read is left out; a row that cannot be read is an error, as with
/// [`rows_from_document`].
pub fn read_document(text: &str) -> Result<StoredDocument, String> {
    read_document_bytes(text.as_bytes())
}

/// [`read_document`] from the document's text as bytes (e.g. the state store's copy, read in
/// one buffer): serde_json parses a slice several times faster than a reader, which it reads
/// one byte at a time.
pub fn read_document_bytes(text: &[u8]) -> Result<StoredDocument, String> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let doc = de
        .deserialize_map(DocumentVisitor)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(doc)
}

/// [`read_document`] from a reader of the document's text, streaming it: the text is never
/// in memory whole (slower than [`read_document_bytes`]).
pub fn read_document_from(reader: impl std::io::Read) -> Result<StoredDocument, String> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let doc = de
        .deserialize_map(DocumentVisitor)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(doc)
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = StoredDocument;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an inventory document (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rows = InventoryRows::default();
        let mut checks = BTreeMap::new();
        let mut identities = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "fsi_copilotagent" => rows.agents = map.next_value_seed(Table::new(&key))?,
                "fsi_caienvironment" => {
                    rows.environments = map.next_value_seed(Table::new(&key))?
                }
                "fsi_caiagentfeature" => rows.features = map.next_value_seed(Table::new(&key))?,
                "fsi_caiauthshare" => rows.auth_shares = map.next_value_seed(Table::new(&key))?,
                "fsi_caibillingentitlement" => {
                    rows.billing = map.next_value_seed(Table::new(&key))?
                }
                "fsi_caiusagesignal" => rows.usage = map.next_value_seed(Table::new(&key))?,
                "fsi_caiworkiqstate" => rows.work_iq = map.next_value_seed(Table::new(&key))?,
                "fsi_caicompliancestate" => {
                    rows.compliance = map.next_value_seed(Table::new(&key))?
                }
                "identities" => {
                    let items: Vec<Value> = map.next_value()?;
                    identities = items
                        .iter()
                        .filter_map(|v| IdentityRecord::deserialize(v).ok())
                        .collect();
                }
                "postures" => {
                    let postures: Vec<StoredPosture> = map.next_value()?;
                    for p in postures {
                        if let (Some(a), Some(e), Some(r)) =
                            (p.agent_id, p.environment_id, p.results)
                        {
                            checks.insert((norm(&a), norm(&e)), r);
                        }
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(StoredDocument {
            rows,
            checks,
            identities,
        })
    }
}

fn norm(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// One `postures` entry; unreadable results are `None` (that agent is parsed again).
#[derive(Deserialize)]
struct StoredPosture {
    agent_id: Option<String>,
    environment_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    results: Option<Vec<CheckResult>>,
}

fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<CheckResult>>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(Vec::<CheckResult>::deserialize(&v).ok())
}

/// A table's array, each row made typed as soon as it is read.
struct Table<'k, R> {
    name: &'k str,
    row: std::marker::PhantomData<R>,
}

impl<'k, R> Table<'k, R> {
    fn new(name: &'k str) -> Self {
        Table {
            name,
            row: std::marker::PhantomData,
        }
    }
}

impl<'de, R: InventoryRow> DeserializeSeed<'de> for Table<'_, R> {
    type Value = Vec<R>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, R: InventoryRow> Visitor<'de> for Table<'_, R> {
    type Value = Vec<R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` as an array of rows", self.name)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(obj) = seq.next_element::<Map<String, Value>>()? {
            let row = R::from_json(&obj, Encoding::Dataverse).map_err(|e| {
                serde::de::Error::custom(format!("`{}`[{}]: {e}", self.name, out.len()))
            })?;
            out.push(row);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn postures_and_rows_read_back_from_the_text() {
        let doc = json!({
            "fsi_copilotagent": [{"fsi_agentid": "A1", "fsi_environmentid": "E"}],
            "postures": [
                {"agent_id": "A1", "environment_id": "E", "results": [
                    {"check": "http-request", "severity": "high", "status": "found",
                     "evidence": [{"source_id": "c1", "path": "actions[0]"}]},
                    {"check": "dormant", "severity": "low", "status": "not_evaluated", "reason": "r"},
                    {"check": "coverage-gap", "severity": "medium", "status": "not_found"}
                ]},
                {"agent_id": "A2", "environment_id": "E", "results": [{"check": "no-such-check"}]}
            ],
            "summary": {"status": "complete"}
        });
        let StoredDocument { rows, checks, .. } = read_document(&doc.to_string()).unwrap();
        assert_eq!(rows, rows_from_document(&doc).unwrap());
        let from_reader = read_document_from(doc.to_string().as_bytes()).unwrap();
        assert_eq!(from_reader.rows, rows);
        assert_eq!(
            from_reader.checks,
            read_document(&doc.to_string()).unwrap().checks
        );
        assert_eq!(rows.agents.len(), 1);
        let a1 = &checks[&("a1".to_owned(), "e".to_owned())];
        assert_eq!(a1.len(), 3);
        assert!(a1[0].is_found());
        // An entry this version cannot read is left out, not an error.
        assert!(!checks.contains_key(&("a2".to_owned(), "e".to_owned())));
        assert!(read_document("[1]").is_err());
        assert!(read_document(r#"{"fsi_copilotagent": [{"fsi_agentid": 5}]}"#).is_err());
    }
}

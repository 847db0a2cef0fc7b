//! The scan's JSON document: one array per table, keyed by the table's logical name, each
//! row exactly as it would be upserted (column logical names, choices as integers), plus
//! the `summary`, the findings per agent and the coverage gaps.

use inventory_model::{Encoding, InventoryRow, InventoryRows};
use serde_json::{Map, Value};

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

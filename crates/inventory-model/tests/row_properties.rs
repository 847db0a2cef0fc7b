//! Properties of the row types over arbitrary rows generated from the schema data:
//! every written key is a column of the table, every written choice is an option of
//! its option set, and reading what was written gives the same row.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use inventory_model::options::option_set;
use inventory_model::schema::{ColumnType, TableDef};
use inventory_model::{
    AgentFeatureRow, AgentRow, AuthShareRow, BillingEntitlementRow, ComplianceStateRow, Encoding,
    EnvironmentRow, InventoryRow, UsageSignalRow, WorkIqStateRow,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn value_for(table: &'static TableDef, column: &str) -> BoxedStrategy<Value> {
    let def = table.column(column).unwrap();
    let is_key = table
        .upsert_key()
        .is_some_and(|k| k.columns.contains(&column));
    let present: BoxedStrategy<Value> = match def.column_type {
        ColumnType::String { max_length } | ColumnType::Memo { max_length } => {
            let max = (max_length as usize).min(40);
            proptest::collection::vec(any::<char>(), 0..=max)
                .prop_map(|c| Value::String(c.into_iter().collect()))
                .boxed()
        }
        ColumnType::Integer => any::<i32>().prop_map(Value::from).boxed(),
        ColumnType::Boolean { .. } => any::<bool>().prop_map(Value::Bool).boxed(),
        ColumnType::DateTime => (0i64..4_102_444_800)
            .prop_map(|s| {
                let t = time::OffsetDateTime::from_unix_timestamp(s).unwrap();
                Value::String(inventory_model::rows::format_datetime(t))
            })
            .boxed(),
        ColumnType::Choice { option_set: name } => {
            let values: Vec<i32> = option_set(name)
                .unwrap()
                .options
                .iter()
                .map(|o| o.value)
                .collect();
            proptest::sample::select(values)
                .prop_map(Value::from)
                .boxed()
        }
        _ => unreachable!("a new column type needs a generator"),
    };
    if is_key {
        present
    } else {
        prop_oneof![1 => Just(Value::Null), 3 => present].boxed()
    }
}

fn row_json(table: &'static TableDef) -> BoxedStrategy<Map<String, Value>> {
    let columns: Vec<BoxedStrategy<(String, Value)>> = table
        .columns
        .iter()
        .map(|c| {
            let name = c.logical_name.to_owned();
            value_for(table, c.logical_name)
                .prop_map(move |v| (name.clone(), v))
                .boxed()
        })
        .collect();
    columns
        .prop_map(|pairs| pairs.into_iter().collect())
        .boxed()
}

fn check<R: InventoryRow>(json: &Map<String, Value>) {
    let table = R::TABLE;
    let row = R::from_json(json, Encoding::Dataverse).unwrap();
    for encoding in [Encoding::Dataverse, Encoding::Labels] {
        let written = row.to_json(encoding);
        let keys: Vec<&str> = written.keys().map(String::as_str).collect();
        let mut columns: Vec<&str> = table.columns.iter().map(|c| c.logical_name).collect();
        columns.sort_unstable();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted, columns,
            "{}: the row writes exactly the table's columns",
            table.logical_name
        );
        for (key, value) in &written {
            let def = table.column(key).unwrap();
            if let (ColumnType::Choice { option_set: name }, false) =
                (def.column_type, value.is_null())
            {
                let set = option_set(name).unwrap();
                let ok = match encoding {
                    Encoding::Dataverse => set
                        .option(i32::try_from(value.as_i64().unwrap()).unwrap())
                        .is_some(),
                    _ => set.options.iter().any(|o| Some(o.label) == value.as_str()),
                };
                assert!(ok, "{key} = {value} is not an option of {name}");
            }
        }
        // Serialised straight from the row: the same text as the object, keys in order.
        let mut straight = Vec::new();
        row.serialize_row(encoding, &mut serde_json::Serializer::new(&mut straight))
            .unwrap();
        assert_eq!(
            String::from_utf8(straight).unwrap(),
            serde_json::to_string(&Value::Object(written.clone())).unwrap(),
            "{}: serialize_row and to_json differ",
            table.logical_name
        );
        assert_eq!(R::from_json(&written, encoding).unwrap(), row);
    }
    // Through serde (the Dataverse form).
    let text = serde_json::to_string(&serde_json::Value::Object(row.to_json(Encoding::Dataverse)))
        .unwrap();
    let again: Map<String, Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(R::from_json(&again, Encoding::Dataverse).unwrap(), row);
}

proptest! {
    #[test]
    fn agent_rows(json in row_json(AgentRow::TABLE)) { check::<AgentRow>(&json) }
    #[test]
    fn environment_rows(json in row_json(EnvironmentRow::TABLE)) { check::<EnvironmentRow>(&json) }
    #[test]
    fn feature_rows(json in row_json(AgentFeatureRow::TABLE)) { check::<AgentFeatureRow>(&json) }
    #[test]
    fn auth_share_rows(json in row_json(AuthShareRow::TABLE)) { check::<AuthShareRow>(&json) }
    #[test]
    fn billing_rows(json in row_json(BillingEntitlementRow::TABLE)) { check::<BillingEntitlementRow>(&json) }
    #[test]
    fn usage_rows(json in row_json(UsageSignalRow::TABLE)) { check::<UsageSignalRow>(&json) }
    #[test]
    fn work_iq_rows(json in row_json(WorkIqStateRow::TABLE)) { check::<WorkIqStateRow>(&json) }
    #[test]
    fn compliance_rows(json in row_json(ComplianceStateRow::TABLE)) { check::<ComplianceStateRow>(&json) }
}

#[test]
fn dataverse_extras_are_ignored_and_bad_values_are_typed_errors() {
    let mut json = Map::new();
    json.insert("fsi_agentid".into(), "a".into());
    json.insert("fsi_environmentid".into(), "e".into());
    json.insert("@odata.etag".into(), "W/\"1\"".into());
    json.insert(
        "fsi_copilotagentid".into(),
        "00000000-0000-0000-0000-000000000000".into(),
    );
    json.insert("_ownerid_value".into(), "x".into());
    let row = AgentRow::from_json(&json, Encoding::Dataverse).unwrap();
    assert_eq!(row, AgentRow::new("a", "e"));

    json.insert("fsi_createdin".into(), 7.into());
    let err = AgentRow::from_json(&json, Encoding::Dataverse).unwrap_err();
    assert_eq!(err.column(), Some("fsi_createdin"));
    assert!(err.to_string().contains("fsi_cai_createdin"), "{err}");

    json.insert("fsi_createdin".into(), "Copilot Studio".into());
    let err = AgentRow::from_json(&json, Encoding::Dataverse).unwrap_err();
    assert!(err.to_string().contains("integer"), "{err}");
    // The label form reads labels.
    assert!(AgentRow::from_json(&json, Encoding::Labels).is_ok());

    json.insert("fsi_createdin".into(), Value::Null);
    json.insert("fsi_createdon".into(), "yesterday".into());
    let err = AgentRow::from_json(&json, Encoding::Dataverse).unwrap_err();
    assert_eq!(err.column(), Some("fsi_createdon"));

    json.remove("fsi_createdon");
    json.remove("fsi_agentid");
    let err = AgentRow::from_json(&json, Encoding::Dataverse).unwrap_err();
    assert_eq!(err.column(), Some("fsi_agentid"));
    let err = serde_json::from_value::<AgentRow>(Value::Object(json)).unwrap_err();
    assert!(err.to_string().contains("fsi_agentid"), "{err}");
}

#[test]
fn validation_reports_every_problem() {
    let mut row = AgentRow::new("a", "e");
    row.schema_name = Some("x".repeat(201));
    let problems = row.validate().unwrap_err();
    let columns: Vec<&str> = problems.iter().map(|p| p.column()).collect();
    assert_eq!(
        columns,
        [
            "fsi_name",
            "fsi_agentname",
            "fsi_schemaname",
            "fsi_lastscannedat"
        ]
    );
    assert!(problems[2].to_string().contains("201 characters"));
}

#[test]
fn upsert_paths_quote_key_values() {
    let row = AgentFeatureRow::new("a'b", "c");
    assert_eq!(
        row.upsert_path().as_deref(),
        Some("fsi_caiagentfeatures(fsi_agentid='a''b',fsi_sourceobjectid='c')")
    );
    assert_eq!(BillingEntitlementRow::new().upsert_path(), None);
    let env = EnvironmentRow::new("e1");
    assert_eq!(
        env.upsert_path().as_deref(),
        Some("fsi_caienvironments(fsi_environmentid='e1')")
    );
}

//! Golden: the published sample agent record (`fixtures/agent-record.sample.json`,
//! copied unchanged) reads into typed rows and writes back every value it had.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use inventory_model::{
    AgentRecord, CreatedIn, DiscoverySource, Encoding, FeatureType, InventoryRow, RiskLevel,
    ScanCompleteness, SchemaGeneration,
};
use serde_json::Value;

fn sample() -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/agent-record.sample.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every key of `source` is in `written` with the same value; keys only in
/// `written` are null (columns the source left out).
fn covers(source: &Value, written: &Value, path: &str) {
    match (source, written) {
        (Value::Object(s), Value::Object(w)) => {
            for (k, v) in s {
                let got = w.get(k).unwrap_or_else(|| panic!("{path}/{k} was dropped"));
                covers(v, got, &format!("{path}/{k}"));
            }
            for (k, v) in w {
                if !s.contains_key(k) {
                    assert!(v.is_null(), "{path}/{k} was invented: {v}");
                }
            }
        }
        (Value::Array(s), Value::Array(w)) => {
            assert_eq!(s.len(), w.len(), "{path}");
            for (i, (a, b)) in s.iter().zip(w).enumerate() {
                covers(a, b, &format!("{path}/{i}"));
            }
        }
        _ => assert_eq!(source, written, "{path}"),
    }
}

#[test]
fn the_sample_record_round_trips() {
    let source = sample();
    let record = AgentRecord::from_json(&source).unwrap();
    let written = record.to_json();
    covers(&source, &written, "");
    assert_eq!(AgentRecord::from_json(&written).unwrap(), record);
}

#[test]
fn the_sample_reads_into_the_right_typed_values() {
    let record = AgentRecord::from_json(&sample()).unwrap();
    let agent = &record.agent;
    assert_eq!(agent.agent_id, "f3a8c1d2-4b5e-4f6a-9c7d-1e2f3a4b5c6d");
    assert_eq!(agent.created_in, Some(CreatedIn::CopilotStudio));
    assert_eq!(agent.discovery_source, Some(DiscoverySource::Reconciled));
    assert_eq!(agent.is_managed, Some(true));
    assert_eq!(
        agent
            .last_scanned_at
            .map(inventory_model::rows::format_datetime)
            .as_deref(),
        Some("2026-06-09T14:00:00Z")
    );
    assert!(agent.raw_json.as_deref().unwrap().starts_with("{\"name\":"));
    let types: Vec<FeatureType> = record
        .features
        .iter()
        .filter_map(|f| f.feature_type)
        .collect();
    assert_eq!(
        types,
        [
            FeatureType::Topic,
            FeatureType::KnowledgeSource,
            FeatureType::CustomGpt,
            FeatureType::ToolPlugin,
            FeatureType::DataverseSearchGrounding
        ]
    );
    assert_eq!(
        record.features[0].component_version,
        Some(SchemaGeneration::V2)
    );
    assert_eq!(record.features[3].component_type, None);
    let (compliance, comment) = record.compliance.as_ref().unwrap();
    assert!(comment.as_deref().unwrap().contains("Incomplete Scan"));
    assert_eq!(compliance.risk_level, Some(RiskLevel::Medium));
    assert_eq!(
        compliance.scan_completeness,
        Some(ScanCompleteness::Complete)
    );
    assert_eq!(compliance.violation_count, Some(0));
}

#[test]
fn the_sample_in_dataverse_form_has_integer_choices_and_reads_back() {
    let record = AgentRecord::from_json(&sample()).unwrap();
    let body = record.agent.to_json(Encoding::Dataverse);
    assert_eq!(body["fsi_createdin"], 100_000_000);
    assert_eq!(body["fsi_discoverysource"], 100_000_003);
    let back = inventory_model::AgentRow::from_json(&body, Encoding::Dataverse).unwrap();
    assert_eq!(back, record.agent);
    // Through serde as well (the Dataverse form).
    let text = serde_json::to_string(&record.features[0]).unwrap();
    assert!(text.contains("\"fsi_featuretype\":100000000"));
    let back: inventory_model::AgentFeatureRow = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record.features[0]);
}

#[test]
fn the_sample_rows_pass_validation_except_what_the_sample_omits() {
    let record = AgentRecord::from_json(&sample()).unwrap();
    record.agent.validate().unwrap();
    for f in &record.features {
        f.validate().unwrap();
    }
    // The sample's compliance record has no fsi_name, which the table requires.
    let problems = record
        .compliance
        .as_ref()
        .unwrap()
        .0
        .validate()
        .unwrap_err();
    let columns: Vec<&str> = problems.iter().map(|p| p.column()).collect();
    assert_eq!(columns, ["fsi_name"]);
}

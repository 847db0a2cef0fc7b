//! The schema data is held to the published inventory data model: the v0.1.0
//! column reference (`fixtures/dataverse-schema-v0.1.0.md`, copied unchanged) and
//! the 0.2.0 additions listed in the model's README (`fixtures/inventory-README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use inventory_model::options::option_sets;
use inventory_model::schema::{Release, TABLES};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// `Label (1), Other, label (2)` -> [(1, "Label"), (2, "Other, label")].
fn parse_options(text: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut label_start = 0usize;
    let mut offset = 0usize;
    while let Some(open) = rest.find(" (") {
        let after = &rest[open + 2..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && after[digits.len()..].starts_with(')') {
            let label = text[label_start..offset + open]
                .trim_start_matches(", ")
                .trim();
            out.push((digits.parse().unwrap(), label.to_owned()));
            let consumed = open + 2 + digits.len() + 1;
            offset += consumed;
            label_start = offset;
            rest = &rest[consumed..];
        } else {
            offset += open + 2;
            rest = &rest[open + 2..];
        }
    }
    out
}

fn ticks(cell: &str) -> String {
    cell.trim().trim_matches('`').to_owned()
}

#[derive(Debug, Default)]
struct PublishedTable {
    entity_set: String,
    columns: Vec<(String, String, String, bool)>,
    keys: Vec<(String, Vec<String>)>,
}

type PublishedSets = BTreeMap<String, Vec<(i32, String)>>;

fn published() -> (PublishedSets, BTreeMap<String, PublishedTable>) {
    let text = fixture("dataverse-schema-v0.1.0.md");
    let mut sets = BTreeMap::new();
    let mut tables: BTreeMap<String, PublishedTable> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            current = heading
                .split('`')
                .nth(1)
                .filter(|n| n.starts_with("fsi_"))
                .map(str::to_owned);
            if let Some(name) = &current {
                tables.insert(name.clone(), PublishedTable::default());
            }
            continue;
        }
        let cells: Vec<&str> = line.split('|').collect();
        if current.is_none() && cells.len() == 4 && cells[1].trim().starts_with("`fsi_") {
            sets.insert(ticks(cells[1]), parse_options(cells[2].trim()));
            continue;
        }
        let Some(table) = current.as_ref().and_then(|c| tables.get_mut(c)) else {
            continue;
        };
        if let Some(set) = line.strip_prefix("**Entity set:** ") {
            table.entity_set = ticks(set.trim());
        } else if let Some(key) = line.strip_prefix("**Alternate key** ") {
            let name = key.split('`').nth(1).unwrap().to_owned();
            let inside = key.split('(').nth(1).unwrap().split(')').next().unwrap();
            let cols = inside.split(',').map(ticks).collect();
            table.keys.push((name, cols));
        } else if cells.len() == 7 && cells[1].trim().starts_with("`fsi_") {
            table.columns.push((
                ticks(cells[1]),
                ticks(cells[2]),
                cells[3].trim().to_owned(),
                cells[4].trim() == "Yes",
            ));
        }
    }
    (sets, tables)
}

#[test]
fn the_parser_reads_what_the_reference_holds() {
    let (sets, tables) = published();
    assert_eq!(sets.len(), 12, "1 shared + 11 specific option sets");
    assert_eq!(tables.len(), 8);
    let columns: usize = tables.values().map(|t| t.columns.len()).sum();
    assert_eq!(
        columns,
        96 + 8,
        "96 custom columns plus fsi_name on each table"
    );
    assert_eq!(
        sets["fsi_cai_workiqobserved"][2],
        (100_000_002, "Configured, Not Invoked".to_owned())
    );
    assert_eq!(
        sets["fsi_cai_agenttype"][3],
        (100_000_003, "Classic V1 (excluded)".to_owned())
    );
}

#[test]
fn every_published_table_matches_the_schema_columns_keys_and_entity_set() {
    let (_, tables) = published();
    let ours: BTreeSet<&str> = TABLES.iter().map(|t| t.logical_name).collect();
    let theirs: BTreeSet<&str> = tables.keys().map(String::as_str).collect();
    assert_eq!(ours, theirs);
    for t in TABLES {
        let p = &tables[t.logical_name];
        assert_eq!(t.entity_set_name, p.entity_set, "{}", t.logical_name);
        let ours: Vec<(String, String, String, bool)> = t
            .columns
            .iter()
            .filter(|c| c.since == Release::V0_1_0)
            .map(|c| {
                (
                    c.schema_name.to_owned(),
                    c.logical_name.to_owned(),
                    c.column_type.reference_text(),
                    c.required,
                )
            })
            .collect();
        assert_eq!(ours, p.columns, "{}", t.logical_name);
        let keys: Vec<(String, Vec<String>)> = t
            .keys
            .iter()
            .map(|k| {
                (
                    k.schema_name.to_owned(),
                    k.columns.iter().map(|c| (*c).to_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(keys, p.keys, "{}", t.logical_name);
    }
}

#[test]
fn every_published_option_set_matches_values_and_labels() {
    let (sets, _) = published();
    let ours = option_sets();
    let v010: BTreeSet<&str> = ours
        .iter()
        .filter(|s| s.since == Release::V0_1_0)
        .map(|s| s.name)
        .collect();
    assert_eq!(v010, sets.keys().map(String::as_str).collect());
    for set in ours.iter().filter(|s| s.since == Release::V0_1_0) {
        let mine: BTreeSet<(i32, String)> = set
            .options
            .iter()
            .filter(|o| o.since == Release::V0_1_0)
            .map(|o| (o.value, o.label.to_owned()))
            .collect();
        let theirs: BTreeSet<(i32, String)> = sets[set.name].iter().cloned().collect();
        assert_eq!(mine, theirs, "{}", set.name);
    }
}

#[test]
fn the_0_2_0_additions_are_exactly_those_the_model_lists() {
    let readme = fixture("inventory-README.md");
    let added: Vec<(&str, &str)> = TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .filter(|c| c.since == Release::V0_2_0)
                .map(move |c| (t.logical_name, c.logical_name))
        })
        .collect();
    assert_eq!(
        added,
        [
            ("fsi_caiagentfeature", "fsi_detectionsource"),
            ("fsi_caiagentfeature", "fsi_detectionconfidence"),
            ("fsi_caiagentfeature", "fsi_detectiondetail"),
            ("fsi_caiagentfeature", "fsi_agentrefprovisional"),
            ("fsi_caiauthshare", "fsi_sharedwitheveryone"),
            ("fsi_caiauthshare", "fsi_audiencewholetenant"),
            ("fsi_caiauthshare", "fsi_audienceupncount"),
            ("fsi_caiauthshare", "fsi_audiencetruncated"),
            ("fsi_caiauthshare", "fsi_audienceresolutionstatus"),
            ("fsi_caiauthshare", "fsi_audienceresolvedat"),
        ]
    );
    for (_, column) in &added {
        assert!(
            readme.contains(&format!("`{column}`")),
            "{column} is not in the README"
        );
    }
    let detail = TABLES[2].column("fsi_detectiondetail").unwrap();
    assert_eq!(detail.column_type.reference_text(), "Memo(4000)");
    assert!(readme.contains("`fsi_detectiondetail` (memo 4000)"));
    let sets = option_sets();
    let source = sets
        .iter()
        .find(|s| s.name == "fsi_cai_detectionsource")
        .unwrap();
    let labels: Vec<&str> = source.options.iter().map(|o| o.label).collect();
    assert_eq!(
        labels,
        [
            "Dataverse Botcomponent Scan",
            "Declarative Manifest",
            "Unknown"
        ]
    );
    assert_eq!(source.options[2].value, 100_000_099);
    let confidence = sets
        .iter()
        .find(|s| s.name == "fsi_cai_detectionconfidence")
        .unwrap();
    let labels: Vec<&str> = confidence.options.iter().map(|o| o.label).collect();
    assert_eq!(
        labels,
        [
            "Declared (Manifest)",
            "Configured (Dataverse)",
            "Inferred",
            "Unknown"
        ]
    );
    assert_eq!(confidence.options[3].value, 100_000_099);
    assert!(readme.contains("\"People (Org Chart & Profile)\" = 100000022"));
    let features = sets
        .iter()
        .find(|s| s.name == "fsi_cai_featuretype")
        .unwrap();
    let people = features.option(100_000_022).unwrap();
    assert_eq!(
        (people.label, people.since),
        ("People (Org Chart & Profile)", Release::V0_2_0)
    );
    for status in [
        "Complete",
        "Partial",
        "WholeTenantNotEnumerated",
        "Failed",
        "NotResolved",
    ] {
        assert!(readme.contains(status));
    }
}

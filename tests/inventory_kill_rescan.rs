//! End-to-end: makers change topics of several agents, and the rescan that should write those
//! changes is killed with SIGKILL after its first write. The next run must still write every
//! change (its state was not committed, so it reads the changes again) and the tables must end
//! equal to that run's document, value for value, with no duplicate and nothing left over.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use connector::inventory::output::{TABLES, rows_from_document, tables_json};
use inventory_model::diff::BOOKKEEPING_COLUMNS;
use serde_json::Value;
use support::*;
use tenant_emulator::{Emulator, RunningEmulator};

const RENAMED: &str = "Renamed by the kill test";

/// Renames one custom topic of each of `n` agents of the default environment and gives it new
/// text, as makers editing them would; returns those agents' ids, lower case.
fn change_topics(emulator: &RunningEmulator, n: usize) -> BTreeSet<String> {
    let mut agents = BTreeSet::new();
    let mut changed = Vec::new();
    for mut component in emulator.tenant().component_rows() {
        let is_topic = component["componenttype"] == 9
            && component["schemaname"]
                .as_str()
                .is_some_and(|s| s.contains(".topic."));
        let Some(agent) = component["_parentbotid_value"]
            .as_str()
            .map(str::to_ascii_lowercase)
        else {
            continue;
        };
        if !is_topic || agents.contains(&agent) {
            continue;
        }
        component.insert("name".into(), Value::String(RENAMED.into()));
        let data = component["data"].as_str().unwrap_or_default().replace(
            "kind: AdaptiveDialog",
            "kind: AdaptiveDialog\nmodelDescription: \"changed by the kill test\"",
        );
        component.insert("data".into(), Value::String(data));
        changed.push(component);
        agents.insert(agent);
        if agents.len() == n {
            break;
        }
    }
    emulator
        .dataverse()
        .insert_rows("botcomponents", changed)
        .expect("the components are saved");
    agents
}

/// Every table's rows as JSON, without the columns each scan restamps.
fn without_bookkeeping(rows: inventory_model::InventoryRows) -> Value {
    let mut json = tables_json(&sorted(rows));
    for table in TABLES {
        for row in json[table].as_array_mut().unwrap() {
            let row = row.as_object_mut().unwrap();
            for column in BOOKKEEPING_COLUMNS {
                row.remove(column);
            }
        }
    }
    Value::Object(json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescan_killed_while_writing_changes_writes_them_all_on_the_next_run() {
    let clock = clock();
    let builder = Emulator::builder().seed(53).agents(24).transcripts(40);
    let emu = with_inventory_tables(builder, &clock).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("c.db"), &[]);
    // One operation per change set: every changed row is its own `$batch` request.
    let args = upsert_scan_args(&emu, dir.path(), 1, &[]);
    let command = || binary::killable(&env, &args);
    let out_file = dir.path().join("inventory.json");

    let out = command().output().await.unwrap();
    binary::assert_exit(&out, 0);

    let changed = change_topics(&emu, 4);
    assert_eq!(changed.len(), 4, "the tenant has four agents with topics");

    // The rescan is killed once its first change has been written.
    let start = emu.dataverse().request_counts().writes;
    let mut child = command().spawn().unwrap();
    // Woken by the emulator when the write arrives (no polling); the time-out only guards
    // against a scan that hangs.
    let reached = emu.dataverse().writes_reached(start + 1);
    tokio::time::timeout(Duration::from_secs(120), async {
        tokio::select! {
            status = child.wait() => {
                panic!("the rescan finished ({status:?}) before it could be killed mid-write")
            }
            () = reached => {}
        }
    })
    .await
    .expect("the rescan wrote nothing");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // The next run writes what the killed one did not.
    let out = command().output().await.unwrap();
    binary::assert_exit(&out, 0);
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let document = rows_from_document(&doc).unwrap();
    let features = doc["fsi_caiagentfeature"].as_array().unwrap();
    for agent in &changed {
        assert!(
            features.iter().any(|f| {
                let row = f.to_string();
                row.to_ascii_lowercase().contains(agent.as_str()) && row.contains(RENAMED)
            }),
            "the document lacks agent {agent}'s renamed topic"
        );
    }
    let tables = without_bookkeeping(read_back(&emu, &clock).await);
    let expected = without_bookkeeping(document);
    for table in TABLES {
        assert_eq!(
            tables[table], expected[table],
            "{table}: the tables differ from the last run's rows"
        );
    }

    // Converged: one more run writes nothing.
    assert_a_run_writes_nothing(&emu, command()).await;
}

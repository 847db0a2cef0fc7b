//! End-to-end: `inventory scan --inventory-url` killed with SIGKILL while it writes, three
//! times, then left to finish: the tables converge to the rows of the finished scan, with no
//! duplicate, and a further run writes nothing. A killed scan leaves the inventory state as it
//! was: the rows it had staged (its environments are written to the state as they are read)
//! are not committed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::Value;
use support::*;
use tenant_emulator::Emulator;

/// The key values of each row of `rows` (by the table's upsert key), sorted.
fn keys(table: &inventory_model::TableDef, rows: &[Value]) -> Vec<Vec<String>> {
    let columns: Vec<&str> = match table.upsert_key() {
        Some(k) => k.columns.to_vec(),
        None => vec!["fsi_agentid", "fsi_policyid"],
    };
    let mut out: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| {
                    r.get(*c)
                        .map(|v| v.as_str().map_or(v.to_string(), str::to_ascii_lowercase))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}

/// What the inventory state at `path` holds, as committed: (environments, components,
/// documents).
fn committed(path: &std::path::Path) -> (i64, i64, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    (
        count("inventory_env"),
        count("inventory_component"),
        count("inventory_run"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_scans_converge_to_the_same_rows_without_duplicates() {
    let emu = Emulator::builder()
        .seed(51)
        .agents(24)
        .transcripts(40)
        .connector_access(tenant_emulator::entra::DataverseAccess::OverPrivileged)
        .start()
        .await
        .unwrap();
    let dv = dataverse(&emu, &clock());
    connector::inventory::schema::apply(&dv).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("c.db"), &[]);
    let out_file = dir.path().join("inventory.json");
    let args = upsert_scan_args(&emu, dir.path(), 5, &[]);
    let command = || binary::killable(&env, &args);

    // Kill while the upserts are going out: after 1, 3 and 6 more write requests.
    let state = dir.path().join("inv.db");
    let mut killed = 0;
    let mut finished = 0;
    for more in [1, 3, 6] {
        let start = emu.dataverse().request_counts().writes;
        let mut child = command().spawn().unwrap();
        // Woken by the emulator when the write arrives (no polling); the time-out only
        // guards against a scan that hangs.
        let reached = emu.dataverse().writes_reached(start + more);
        let killed_it = tokio::time::timeout(Duration::from_secs(120), async {
            tokio::select! {
                status = child.wait() => {
                    let status = status.unwrap();
                    assert!(status.success(), "exited with {status}");
                    false
                }
                () = reached => true,
            }
        })
        .await
        .expect("the scan made no progress");
        if killed_it {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
            killed += 1;
            // Killed after its environment was read and staged, before its commit: while no
            // run has finished, nothing is committed.
            if finished == 0 {
                assert_eq!(committed(&state), (0, 0, 0), "a killed scan left its rows");
            }
        } else {
            finished += 1;
        }
    }
    assert!(killed >= 1, "no run was killed mid-write");

    // Left to finish, then once more with nothing changed.
    let out = command().output().await.unwrap();
    binary::assert_exit(&out, 0);
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_a_run_writes_nothing(&emu, command()).await;

    // The tables hold exactly the document's rows: one per key, none twice, none missing.
    let mut seen = BTreeMap::new();
    for table in inventory_model::schema::TABLES {
        let rows: Vec<Value> = dv
            .rows::<Value>(&dv.query(table.entity_set_name))
            .try_collect()
            .await
            .unwrap();
        let stored = keys(table, &rows);
        let unique: BTreeSet<&Vec<String>> = stored.iter().collect();
        assert_eq!(
            unique.len(),
            stored.len(),
            "{}: duplicate rows",
            table.logical_name
        );
        let written = doc[table.logical_name]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(stored, keys(table, &written), "{}", table.logical_name);
        seen.insert(table.logical_name, stored.len());
    }
    assert_eq!(
        seen["fsi_copilotagent"],
        emu.tenant().agent_count(),
        "{seen:?}"
    );
    // The state holds the environment row by row, each component once.
    let components = emu.dataverse().count("botcomponents") as i64;
    assert_eq!(committed(&state), (1, components, 1));
}

//! End-to-end: `inventory scan` against the tenant emulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};

use connector::inventory::output::{
    Document, TABLES, document, read_document, rows_from_document, tables_json,
};
use connector::inventory::scan::{PreviousScan, ScanOptions, ScanResult, ScanStatus, Scanner};
use connector::inventory::tenant::InventorySourceChoice;
use serde_json::Value;
use support::*;
use tenant_emulator::{Emulator, RunningEmulator};

async fn emulator() -> RunningEmulator {
    seeded(21, 6, 60).await
}

fn scanner(emu: &RunningEmulator, clock: &SharedManualClock, options: ScanOptions) -> Scanner {
    let (credential, shared) = sign_in(emu, clock);
    Scanner::new(credential, shared, options)
}

fn single(emu: &RunningEmulator) -> ScanOptions {
    let mut o = ScanOptions::default();
    o.environments = Some(vec![emu.environment_url().parse().unwrap()]);
    o.inventory_source = InventorySourceChoice::None;
    o
}

fn previous_of(r: &ScanResult) -> PreviousScan {
    PreviousScan::from_result(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_scan_reads_every_agent_and_component_and_a_second_reads_only_changes() {
    let emu = emulator().await;
    let clock = clock();
    let s = scanner(&emu, &clock, single(&emu));
    let first = s.scan(&PreviousScan::default(), None).await.unwrap();
    let sum = &first.summary;
    assert_eq!(sum.status, ScanStatus::Complete, "{sum:#?}");
    assert_eq!(sum.agents, emu.tenant().agent_count());
    assert_eq!(sum.environments.len(), 1);
    let env = &sum.environments[0];
    assert_eq!(env.outcome, "scanned");
    assert_eq!(env.bots, emu.dataverse().count("bots"));
    assert_eq!(env.components, emu.dataverse().count("botcomponents"));
    assert!(env.sessions > 0, "{env:#?}");
    // One feature row per component plus one per bot configuration, at least.
    assert!(
        first.inventory.rows.features.len() >= env.components + env.bots,
        "{} features for {} components",
        first.inventory.rows.features.len(),
        env.components
    );
    // Nothing read is missing from the document, and the document reads back to the rows.
    let doc = document(&first);
    for t in TABLES {
        assert!(doc[t].is_array(), "{t} missing");
    }
    assert_eq!(rows_from_document(&doc).unwrap(), first.inventory.rows);
    // Streamed straight from the rows, the document is the same JSON, key order included.
    assert_eq!(
        serde_json::to_string(&Document(&first)).unwrap(),
        doc.to_string()
    );
    assert_eq!(doc["summary"]["status"], "complete");
    // Read back as the next scan reads its state: the same rows, and each agent's checks.
    let stored = read_document(&doc.to_string()).unwrap();
    assert_eq!(stored.rows, first.inventory.rows);
    assert_eq!(stored.checks.len(), first.inventory.postures.len());
    for p in &first.inventory.postures {
        let key = (
            p.agent_id.to_ascii_lowercase(),
            p.environment_id.to_ascii_lowercase(),
        );
        assert_eq!(stored.checks.get(&key), Some(&p.results), "{key:?}");
    }
    assert_eq!(stored.identities, first.identities);

    // Nothing changed: two requests (one delta read per tracked table), nothing to write.
    let second = s.scan(&previous_of(&first), None).await.unwrap();
    let env2 = &second.summary.environments[0];
    assert!(env2.requests <= 2, "{env2:#?}");
    assert_eq!(env2.changed_rows, 0);
    assert!(second.diff.is_empty(), "{:#?}", second.summary.changes);
    assert_eq!(first.summary.agents_rebuilt, first.summary.agents);
    assert_eq!(
        second.summary.agents_rebuilt, 0,
        "no definition changed: no agent is parsed again"
    );
    assert_eq!(
        second.inventory.rows.agents.len(),
        first.inventory.rows.agents.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_writes_the_document_and_exits_0() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = env_for(&emu, &dir.path().join("c.db"), &[]);
    let out_file = dir.path().join("out/inventory.json");
    let state = dir.path().join("inv.db");
    let run = |args: Vec<String>| binary::run(&env, args);
    let args: Vec<String> = [
        "inventory",
        "scan",
        "--environment",
        emu.environment_url(),
        "--inventory-source",
        "none",
        "--output",
        out_file.to_str().unwrap(),
        "--inventory-state",
        state.to_str().unwrap(),
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run(args.clone()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "complete");
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let rows = rows_from_document(&doc).unwrap();
    assert_eq!(rows.agents.len(), emu.tenant().agent_count());
    // Choices are integers, as upserted.
    assert!(doc["fsi_caicompliancestate"][0]["fsi_risklevel"].is_i64());

    // The second run reads only the changes and writes the same rows.
    let out = run(args).await;
    assert_eq!(out.status.code(), Some(0));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        summary["environments"][0]["requests"].as_u64().unwrap() <= 2,
        "{summary:#}"
    );
    // The state kept what each agent's definition made: none is parsed again.
    assert_eq!(summary["agents_rebuilt"], 0, "{summary:#}");
    let counts: BTreeMap<String, u64> =
        serde_json::from_value(summary["changes"]["upserts"].clone()).unwrap();
    assert!(counts.values().all(|n| *n == 0), "{counts:?}");
    let again: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(
        rows_from_document(&again).unwrap().agents.len(),
        rows.agents.len()
    );

    // An unreadable environment is a coverage gap and a partial scan (exit 4).
    let out = run([
        "inventory",
        "scan",
        "--environment",
        &format!("{},http://127.0.0.1:9", emu.environment_url()),
        "--inventory-source",
        "none",
        "--output",
        "-",
        "--inventory-state",
        dir.path().join("inv2.db").to_str().unwrap(),
        "--environment-timeout",
        "20s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect())
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["status"], "partial");
    let gaps = doc["summary"]["coverage_gaps"].as_array().unwrap();
    assert!(
        gaps.iter().any(|g| g["kind"] == "environment_not_scanned"),
        "{gaps:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_upserted_into_the_inventory_tables_equal_the_document_and_a_rescan_writes_nothing() {
    let emu = Emulator::builder()
        .seed(23)
        .agents(5)
        .transcripts(30)
        .connector_access(tenant_emulator::entra::DataverseAccess::OverPrivileged)
        .start()
        .await
        .unwrap();
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = env_for(&emu, &dir.path().join("c.db"), &[]);

    // The eight tables come from `inventory schema apply` through the metadata API; a second
    // apply finds everything there and writes nothing.
    let apply = || async {
        let out = binary::run(
            &env,
            [
                "inventory",
                "schema",
                "apply",
                "--inventory-url",
                emu.environment_url(),
                "--json",
            ],
        )
        .await;
        binary::assert_exit(&out, 0);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let plan = inventory_model::metadata::create_schema_requests().len();
    let before = emu.dataverse().request_counts();
    let first = apply().await;
    let after_first = emu.dataverse().request_counts();
    assert_eq!(
        first["created"].as_array().unwrap().len(),
        plan,
        "{first:#}"
    );
    assert_eq!(first["keys_active"], 7, "{first:#}");
    assert_eq!(after_first.writes - before.writes, plan as u64);
    let second = apply().await;
    let after_second = emu.dataverse().request_counts();
    assert_eq!(second["created"], serde_json::json!([]), "{second:#}");
    assert_eq!(second["existing"], plan, "{second:#}");
    assert_eq!(
        after_second.writes, after_first.writes,
        "the second apply wrote"
    );
    for t in inventory_model::schema::TABLES {
        let def = emu.dataverse().entity_set(t.entity_set_name).unwrap();
        assert_eq!(
            def.alternate_keys().len(),
            t.keys.len(),
            "{}",
            t.logical_name
        );
    }
    let out_file = dir.path().join("inventory.json");
    let args = upsert_scan_args(&emu, dir.path(), 7, &["--json"]);
    let run = || binary::run(&env, &args);
    let out = run().await;
    binary::assert_exit(&out, 0);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let write = &summary["write"];
    assert_eq!(write["failed"].as_array().unwrap().len(), 0, "{write:#}");
    let ops = write["operations"].as_u64().unwrap();
    assert!(
        write["batches"].as_u64().unwrap() >= ops.div_ceil(7),
        "{write:#}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let written = sorted(rows_from_document(&doc).unwrap());
    let back = read_back(&emu, &clock).await;
    assert_eq!(back.agents, written.agents);
    assert_eq!(back.environments, written.environments);
    assert_eq!(back.features, written.features);
    assert_eq!(back.auth_shares, written.auth_shares);
    assert_eq!(back.usage, written.usage);
    assert_eq!(back.billing, written.billing);
    assert_eq!(back.work_iq, written.work_iq);
    assert_eq!(back.compliance, written.compliance);
    assert_eq!(back, written, "the eight tables hold the document's rows");

    // Nothing changed: nothing is written, and nothing is duplicated.
    let out = run().await;
    binary::assert_exit(&out, 0);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["write"]["operations"], 0, "{summary:#}");
    assert_eq!(
        emu.dataverse().count("fsi_copilotagents"),
        written.agents.len()
    );
    assert_eq!(
        emu.dataverse().count("fsi_caiagentfeatures"),
        written.features.len()
    );
}

/// Each Dataverse environment's requests served so far (reads + writes, writes), by URL.
fn dataverse_requests(emu: &RunningEmulator) -> BTreeMap<String, (u64, u64)> {
    emu.environments()
        .iter()
        .filter_map(|e| {
            let c = e.dataverse.as_ref()?.request_counts();
            Some((e.url.clone()?, (c.reads + c.writes, c.writes)))
        })
        .collect()
}

/// The rows (as JSON) of `after` that are not in `before` or the other way round, by table.
fn changed_rows(
    before: &inventory_model::InventoryRows,
    after: &inventory_model::InventoryRows,
) -> Vec<(String, Value)> {
    let (b, a) = (tables_json(before), tables_json(after));
    let mut out = Vec::new();
    for t in TABLES {
        let (rb, ra) = (b[t].as_array().unwrap(), a[t].as_array().unwrap());
        for row in ra.iter().filter(|r| !rb.contains(r)) {
            out.push((t.to_owned(), row.clone()));
        }
        for row in rb.iter().filter(|r| !ra.contains(r)) {
            out.push((t.to_owned(), row.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_tenant_upserted_reads_back_equal_rescans_in_two_requests_and_writes_only_changes()
{
    let clock = clock();
    let builder = Emulator::builder()
        .seed(37)
        .agents(4)
        .transcripts(12)
        .environments(5);
    let emu = with_inventory_tables(builder, &clock).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&emu, &dir.path().join("c.db"), &[]);
    with_inventory_services(&mut env, &emu);
    env.insert("GRAPH_URL".to_owned(), emu.graph_url().to_owned());
    let out_file = dir.path().join("inventory.json");
    // Every environment of the admin list, the tenant inventory, identities from Graph, the
    // rows upserted into the default environment's tables.
    let args: Vec<String> = [
        "inventory",
        "scan",
        "--inventory-url",
        emu.environment_url(),
        "--output",
        out_file.to_str().unwrap(),
        "--inventory-state",
        dir.path().join("inv.db").to_str().unwrap(),
        "--json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let scan = || binary::run(&env, &args);
    let summary_of = |out: &std::process::Output| -> Value {
        // The tenant plants an environment without Dataverse and one that answers 403:
        // partial (4), never failed.
        binary::assert_exit(out, 4);
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // The first scan: every agent of every readable environment, written and read back equal.
    let summary = summary_of(&scan().await);
    assert_eq!(summary["status"], "partial", "{summary:#}");
    assert_eq!(
        summary["write"]["failed"].as_array().unwrap().len(),
        0,
        "{summary:#}"
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let written = sorted(rows_from_document(&doc).unwrap());
    let mut readable = 0;
    for e in emu.environments() {
        if e.dataverse.is_none() || e.forbidden {
            continue;
        }
        readable += 1;
        // Read from its Dataverse, not only listed by the tenant inventory.
        let report = summary["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["environment_id"].as_str() == Some(e.id.as_str()))
            .unwrap_or_else(|| panic!("{} not in the summary", e.id));
        assert_eq!(report["outcome"], "scanned", "{report:#}");
        assert_eq!(report["bots"], e.bot_ids.len(), "{report:#}");
        for b in &e.bot_ids {
            assert!(
                written
                    .agents
                    .iter()
                    .any(|a| a.agent_id.eq_ignore_ascii_case(&b.to_string())
                        && a.environment_id.eq_ignore_ascii_case(&e.id)),
                "agent {b} of {} missing",
                e.id
            );
        }
    }
    assert!(readable >= 3, "{:?}", emu.environments());
    assert_eq!(
        read_back(&emu, &clock).await,
        written,
        "the eight tables hold the document's rows"
    );
    // The document reads back as the next scan reads it: rows, postures and identities.
    let stored = read_document(&text).unwrap();
    assert_eq!(sorted(stored.rows), written);
    assert_eq!(
        stored.checks.len(),
        doc["postures"].as_array().unwrap().len()
    );
    assert_eq!(
        stored.identities.len(),
        doc["identities"].as_array().unwrap().len()
    );
    assert!(!stored.identities.is_empty(), "no identity was read");

    // Nothing changed: at most two Dataverse requests per environment, counted by the
    // emulator (the tenant inventory's pages are not Dataverse), and not one write.
    let before = dataverse_requests(&emu);
    let summary = summary_of(&scan().await);
    let after = dataverse_requests(&emu);
    for (url, (requests, writes)) in &before {
        let (requests_after, writes_after) = after[url];
        assert!(
            requests_after - requests <= 2,
            "{url}: {} requests on a rescan with nothing changed",
            requests_after - requests
        );
        assert_eq!(
            writes_after, *writes,
            "{url}: written on a no-change rescan"
        );
    }
    assert_eq!(summary["write"]["operations"], 0, "{summary:#}");
    let upserts: BTreeMap<String, u64> =
        serde_json::from_value(summary["changes"]["upserts"].clone()).unwrap();
    assert!(upserts.values().all(|n| *n == 0), "{upserts:?}");
    assert_eq!(read_back(&emu, &clock).await, written, "the tables moved");

    // One component changed: the rows that change in the tables are that agent's, and its
    // environment's row (the new delta link), nothing else.
    let agent = change_one_topic(&emu);
    let before = dataverse_requests(&emu);
    let summary = summary_of(&scan().await);
    let after = dataverse_requests(&emu);
    assert_eq!(summary["agents_rebuilt"], 1, "{summary:#}");
    let changed = changed_rows(&written, &read_back(&emu, &clock).await);
    assert!(
        changed.iter().any(|(t, _)| t == "fsi_caiagentfeature"),
        "the renamed component's row was not written: {changed:#?}"
    );
    let default_environment = &emu.environments()[0].id;
    for (table, row) in &changed {
        if table == "fsi_caienvironment" {
            assert!(
                row["fsi_environmentid"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case(default_environment),
                "{row:#}"
            );
        } else {
            assert_eq!(
                row["fsi_agentid"].as_str().map(str::to_ascii_lowercase),
                Some(agent.clone()),
                "{table}: another agent's row changed: {row:#}"
            );
        }
    }
    // Only the inventory environment (which is also the changed one) was written to.
    for (url, (_, writes)) in &before {
        if url.trim_end_matches('/') != emu.environment_url().trim_end_matches('/') {
            assert_eq!(after[url].1, *writes, "{url} was written to");
        }
    }

    // Only an environment the app may not read: nothing read, the scan failed (exit 1).
    let forbidden = emu
        .environments()
        .iter()
        .find(|e| e.forbidden)
        .and_then(|e| e.url.clone())
        .unwrap();
    let out = binary::run(
        &env,
        [
            "inventory",
            "scan",
            "--environment",
            &forbidden,
            "--inventory-source",
            "none",
            "--output",
            "-",
            "--inventory-state",
            dir.path().join("other.db").to_str().unwrap(),
        ],
    )
    .await;
    binary::assert_exit(&out, 1);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["status"], "failed", "{:#}", doc["summary"]);
    assert!(
        doc["summary"]["coverage_gaps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["kind"] == "environment_not_scanned"),
        "{:#}",
        doc["summary"]
    );
}

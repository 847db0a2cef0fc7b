//! End-to-end: the `copilot-connector` binary's commands, exit statuses and messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use support::binary::{command, run, text};
use support::*;
use tenant_emulator::{Emulator, RunningEmulator};

async fn emulator(transcripts: usize) -> RunningEmulator {
    seeded(9, 4, transcripts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_exit_2_naming_the_variable() {
    let emu = emulator(1).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("DATAVERSE_CLIENT_ID", "my-connector-app")],
    );
    let out = run(&env, &["ingest", "--once"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("DATAVERSE_CLIENT_ID is invalid"), "{err}");
    assert!(err.contains("Application (client) ID"), "{err}");

    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("DATA_INGESTION_SERVICE_URL", "http://akto.internal:9091")],
    );
    let out = run(&env, &["ingest", "--once"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("DATA_INGESTION_SERVICE_URL is invalid"));

    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let out = run(&env, &["ingest"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--once"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_lists_the_environment_as_a_table_or_json() {
    let emu = emulator(1).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let out = run(&env, &["agents", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let agents: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(agents.len(), 4);
    let bots = emu.tenant().bot_rows();
    let names: Vec<&str> = bots.iter().map(|b| b["name"].as_str().unwrap()).collect();
    for a in &agents {
        assert!(names.contains(&a["name"].as_str().unwrap()), "{a}");
        assert!(a["id"].as_str().is_some() && a["schema_name"].as_str().is_some());
    }
    let table = text(&run(&env, &["agents"]).await.stdout);
    assert!(table.starts_with("ID"), "{table}");
    assert_eq!(table.lines().count(), 5, "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_can_come_from_a_toml_file() {
    let emu = emulator(1).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = emu.credentials();
    let file = dir.path().join("connector.toml");
    std::fs::write(
        &file,
        format!(
            "environment_url = \"{}\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nauthority_host = \"{}\"\n",
            emu.environment_url(),
            creds.tenant_id,
            creds.client_id,
            creds.client_secret,
            emu.authority_host()
        ),
    )
    .unwrap();
    let out = run(
        &HashMap::new(),
        &["agents", "--json", "--config", file.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_prints_the_checklist_and_fails_on_a_wrong_secret() {
    let emu = emulator(3).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("DATAVERSE_CLIENT_SECRET", "wrong")],
    );
    let out = run(&env, &["doctor"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[FAIL] Entra ID token"), "{stdout}");
    assert!(stdout.contains("fix:"), "{stdout}");
    assert!(
        !stdout.contains("wrong"),
        "the secret must not be echoed: {stdout}"
    );

    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let out = run(&env, &["doctor", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Nine setup checks, what each command needs and what the app holds, then the five
    // inventory checks.
    assert_eq!(report["checks"].as_array().unwrap().len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_is_refused_with_exit_3() {
    let emu = emulator(3).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let env = env_for(&emu, &state, &[]);
    let (c, _) = connector(config(&env, connector::config::Needs::Ingest), &clock());
    let _held = c.open_state().unwrap();
    let out = run(&env, &["ingest", "--once"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("another copilot-connector run"));
    assert!(emu.ingestion().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_to_stdout_keep_the_summary_on_stderr() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("COPILOT_CONNECTOR_OUTPUT", "-")],
    );
    let out = run(&env, &["ingest", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..30));
    let mut paths: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    paths.sort();
    // One agent inventory record per agent, then the pairs.
    let agents: Vec<String> = paths
        .iter()
        .filter(|p| p.starts_with("/copilot/bot/"))
        .cloned()
        .collect();
    assert_eq!(agents.len(), 4, "{agents:?}");
    paths.retain(|p| !p.starts_with("/copilot/bot/"));
    assert_eq!(paths, expected);
    let summary: Value =
        serde_json::from_str(text(&out.stderr).trim().lines().last().unwrap()).unwrap();
    assert_eq!(summary["records_delivered"], expected.len());
    assert!(
        emu.ingestion().is_empty(),
        "--output replaces the ingestion service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_stops_cleanly_on_sigterm() {
    let emu = emulator(60).await;
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..60));
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let child = command(&env, ["ingest", "--every", "1h"]).spawn().unwrap();
    assert!(
        emu.ingestion()
            .wait_for(expected.len(), Duration::from_secs(60))
            .await
    );
    let out = binary::sigterm(child, Duration::from_secs(30)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_exactly_once(&emu, &expected);
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_works_twice_in_a_fresh_directory_and_writes_only_demo_out() {
    // As the README's first command runs it: no configuration, in the working directory.
    let dir = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let out = command(&HashMap::new(), ["demo"])
            .current_dir(dir.path())
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "run {run}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        assert!(stdout.contains("all checks passed"), "{stdout}");
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("demo-out/summary.json")).unwrap(),
        )
        .unwrap();
        let delivered = summary["pass"]["records_delivered"].as_u64().unwrap();
        let agents = summary["pass"]["agent_records_delivered"].as_u64().unwrap();
        assert!(delivered > 0);
        assert!(agents > 0);
        // Each run starts from a fresh checkpoint and rewrites the records file.
        let pairs = std::fs::read_to_string(dir.path().join("demo-out/pairs.jsonl")).unwrap();
        assert_eq!(
            pairs.lines().count() as u64,
            delivered + agents,
            "run {run}"
        );
        for line in pairs.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            assert!(
                record["path"]
                    .as_str()
                    .unwrap()
                    .starts_with("/copilot/conversation/")
                    || record["path"]
                        .as_str()
                        .unwrap()
                        .starts_with("/copilot/bot/")
            );
        }
        // The inventory: every environment of the demo tenant scanned, and its report.
        let inventory: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("demo-out/inventory.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            summary["inventory"]["agents"],
            inventory["summary"]["agents"]
        );
        let agents = inventory["fsi_copilotagent"].as_array().unwrap();
        let environments: std::collections::BTreeSet<&str> = agents
            .iter()
            .map(|a| a["fsi_environmentid"].as_str().unwrap())
            .collect();
        assert!(environments.len() >= 2, "{environments:?}");
        assert!(
            inventory["summary"]["environments"]
                .as_array()
                .unwrap()
                .len()
                // The demo's environments and the disabled one the emulator lists after them.
                == connector::demo::DEMO_ENVIRONMENTS + 1
        );
        assert!(
            stdout.contains("demo-out/inventory-report.html"),
            "{stdout}"
        );
        // The emulator's resource query refuses the demo's app as the real one does: the
        // tenant inventory layer says it was read through Resource Graph, why, and the fix.
        let layer = &inventory["summary"]["layers"]["tenant_inventory"];
        assert_eq!(layer["status"], "read", "{layer}");
        assert_eq!(layer["source"], "arg", "{layer}");
        assert!(
            stdout.contains("tenant inventory read through arg")
                && stdout.contains("signed-in users only")
                && stdout.contains("--inventory-source arg"),
            "{stdout}"
        );
        let page =
            std::fs::read_to_string(dir.path().join("demo-out/inventory-report.html")).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        for a in agents {
            let id = a["fsi_agentid"].as_str().unwrap();
            assert!(page.contains(id), "agent {id} missing from the report");
        }
        let files = files_under(dir.path());
        let allowed = [
            "demo-out/inventory-report.html",
            "demo-out/inventory.json",
            "demo-out/m365-pairs.jsonl",
            "demo-out/pairs.jsonl",
            "demo-out/state.db",
            "demo-out/state.db.lock",
            "demo-out/summary.json",
        ];
        assert!(
            files.iter().all(|f| allowed.contains(&f.as_str())),
            "stray files: {files:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_names_every_variable_and_flag_of_every_setting() {
    let out = run(&HashMap::new(), &["--help"]).await;
    assert!(out.status.success());
    let help = text(&out.stdout);
    for key in connector::config::keys::ALL {
        // The fallbacks too (AZURE_TENANT_ID after DATAVERSE_TENANT_ID, ...): both work.
        for var in key.env {
            assert!(help.contains(var), "--help does not name {var}:\n{help}");
        }
        // Secrets have no flag.
        if *key != connector::config::keys::CLIENT_SECRET
            && *key != connector::config::keys::AKTO_TOKEN
        {
            assert!(
                help.split_whitespace()
                    .any(|word| word == format!("--{}", key.flag)),
                "--help does not list --{}",
                key.flag
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_refuses_settings_flags_it_would_not_use() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["demo", "--state", "s.db"][..],
        &[
            "demo",
            "--environment-url",
            "https://contoso.crm.dynamics.com",
        ],
        &["--output", "-", "demo"],
        &["demo", "--bot-id", "c6e5d3b0-0000-4000-8000-000000000001"],
        &["demo", "--managed-identity"],
        &["demo", "--config", "connector.toml"],
    ] {
        let out = command(&HashMap::new(), args)
            .current_dir(dir.path())
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let flag = args.iter().find(|a| a.starts_with("--")).unwrap();
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("demo does not use {flag}")),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        // Refused before anything ran.
        assert!(files_under(dir.path()).is_empty(), "{args:?}");
    }
    // Its own options, --json and a configuration variable meant for real runs are fine.
    let env = HashMap::from([(
        "COPILOT_CONNECTOR_CONFIG".to_owned(),
        "/nonexistent/connector.toml".to_owned(),
    )]);
    let out = command(
        &env,
        [
            "demo",
            "--out",
            "elsewhere",
            "--agents",
            "2",
            "--transcripts",
            "7",
            "--json",
        ],
    )
    .current_dir(dir.path())
    .output()
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["agents"], 2);
    assert_eq!(outcome["transcripts"], 7);
    assert!(dir.path().join("elsewhere/summary.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_pass_stops_after_the_batch_in_flight_and_sends_nothing_twice() {
    let emu = emulator(400).await;
    // Slow enough that the signal lands in the middle of the pass.
    emu.set_faults(
        tenant_emulator::faults::FaultConfig::none().with_latency(Duration::from_millis(30)),
    )
    .unwrap();
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..400));
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let child = command(&env, ["ingest", "--once", "--json"])
        .spawn()
        .unwrap();
    assert!(emu.ingestion().wait_for(100, Duration::from_secs(60)).await);
    let out = binary::sigterm(child, Duration::from_secs(30)).await;
    // Stopped early: not everything was delivered, and the exit status says so.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("stopping after the batch in flight"));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["stopped_early"], true);
    let delivered = summary["records_delivered"].as_u64().unwrap() as usize;
    // What the ingestion service holds is exactly what the pass reported and committed.
    let agents = summary["agent_records_delivered"].as_u64().unwrap() as usize;
    assert_eq!(emu.ingestion().len(), delivered + agents);
    assert!(delivered < expected.len(), "the pass was not cut");

    emu.set_faults(tenant_emulator::faults::FaultConfig::none())
        .unwrap();
    let out = run(&env, &["ingest", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A clean stop costs no duplicate at all.
    assert_exactly_once(&emu, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delivery_exits_1_and_keeps_the_default_checkpoint_in_the_working_directory() {
    let emu = Emulator::builder()
        .seed(9)
        .agents(4)
        .transcripts(40)
        .ingestion_token("eyJ.right")
        .start()
        .await
        .unwrap();
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..40));
    let dir = tempfile::tempdir().unwrap();
    // No COPILOT_CONNECTOR_STATE: the checkpoint is ./copilot-connector.db.
    let mut env = env_for(
        &emu,
        &dir.path().join("unused.db"),
        &[("AKTO_JWT_TOKEN", "eyJ.wrong")],
    );
    env.remove("COPILOT_CONNECTOR_STATE");
    let out = command(&env, ["ingest", "--once"])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("delivery failed") && err.contains("AKTO_JWT_TOKEN"),
        "{err}"
    );
    assert!(
        !err.contains("eyJ.wrong"),
        "the token must not be echoed: {err}"
    );
    assert!(emu.ingestion().is_empty());
    assert!(dir.path().join("copilot-connector.db").exists());

    env.insert("AKTO_JWT_TOKEN".into(), "eyJ.right".into());
    let out = command(&env, ["ingest", "--once"])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_exactly_once(&emu, &expected);
}

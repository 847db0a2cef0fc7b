//! End-to-end: `copilot-shield`, the connector as Akto's job runner starts it
//! (`copilot-shield -once` with the job's variables), against the tenant emulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::collections::HashMap;
use std::process::Output;
use std::time::Duration;
use support::binary::{shield, text};
use support::*;
use tenant_emulator::RunningEmulator;

async fn emulator(agents: usize, transcripts: usize) -> RunningEmulator {
    seeded(31, agents, transcripts).await
}

async fn run(env: &HashMap<String, String>, args: &[&str]) -> Output {
    shield(env, args).output().await.unwrap()
}

/// The variables Akto's job runner adds to the connector settings.
const AKTO_JOB: &[(&str, &str)] = &[
    ("AKTO_JOB_ID", "6650f0c0ffee00000000abcd"),
    ("AKTO_JOB_TYPE", "AI_AGENT_CONNECTOR"),
    ("AKTO_JOB_SUB_TYPE", "COPILOT_STUDIO"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_with_aktos_variables_delivers_every_pair_exactly_once() {
    let emu = emulator(3, 40).await;
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..40));
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), AKTO_JOB);
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[Akto job 6650f0c0ffee00000000abcd (AI_AGENT_CONNECTOR/COPILOT_STUDIO)]"),
        "{stdout}"
    );
    assert_exactly_once_pairs(&emu, &expected);

    // Akto's runner starts it again five minutes later: nothing new, exit 0.
    let again = run(&env, &["--once"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_exactly_once_pairs(&emu, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_command_lines_exit_2_with_the_usage_and_help_exits_0() {
    let emu = emulator(1, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), AKTO_JOB);
    for (args, needle) in [
        (&[][..], "say how to run"),
        (&["-schedule", "every five minutes"], "expected 5 fields"),
        (&["-schedule", "*/5 * * * * *"], "found 6"),
        (&["-once", "-schedule", "* * * * *"], "cannot be combined"),
        (&["ingest", "--once"], "unexpected argument `ingest`"),
        (&["-every", "5m"], "unknown flag `-every`"),
    ] {
        let out = run(&env, args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage: copilot-shield -once"), "{stderr}");
    }
    assert!(emu.ingestion().is_empty());
    let help = run(&env, &["-help"]).await;
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("-schedule '<cron>'"));
    let version = run(&env, &["-version"]).await;
    assert_eq!(version.status.code(), Some(0));
    assert!(text(&version.stdout).starts_with("copilot-shield "));

    // The same schedule through copilot-connector's own flag.
    let out = binary::run(&env, ["ingest", "--cron", "61 * * * *"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("minute 61 is out of range"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_exit_2_naming_the_variable() {
    let emu = emulator(1, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("DATA_INGESTION_SERVICE_URL", "ftp://akto")],
    );
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("DATA_INGESTION_SERVICE_URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_waits_for_its_time_and_stops_cleanly_on_sigterm() {
    let emu = emulator(1, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&emu, &dir.path().join("s.db"), AKTO_JOB);
    // The scheduler's log line says when it is waiting (its signal handler is set by then).
    env.insert("RUST_LOG".into(), "connector=info".into());
    // Once a year: it waits, and SIGTERM ends the wait at once.
    let mut child = shield(&env, ["-schedule", "0 0 1 1 *"]).spawn().unwrap();
    let waiting = binary::stderr_line(
        &mut child,
        "waiting for the next pass",
        Duration::from_secs(60),
    )
    .await;
    assert!(waiting.is_some(), "the schedule never said it was waiting");
    let out = binary::sigterm(child, Duration::from_secs(30)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        emu.ingestion().is_empty(),
        "no pass before the first firing time"
    );
}

/// Every expected conversation pair exactly once (inventory records aside).
fn assert_exactly_once_pairs(emu: &RunningEmulator, expected: &[String]) {
    let counts = ingested_counts(emu);
    let pairs: Vec<(&String, &usize)> = counts
        .iter()
        .filter(|(p, _)| p.starts_with("/copilot/conversation/"))
        .collect();
    assert!(pairs.iter().all(|(_, n)| **n == 1), "a pair was sent twice");
    let got: Vec<&String> = pairs.iter().map(|(p, _)| *p).collect();
    let want: Vec<&String> = expected.iter().collect();
    assert_eq!(got, want);
}

/// The tag's `bot-name`, the host and the user's object id of an ingested record.
fn record_parts(
    r: &serde_json::Map<String, serde_json::Value>,
) -> (String, String, Option<String>) {
    let tag: serde_json::Value = serde_json::from_str(r["tag"].as_str().unwrap()).unwrap();
    let headers: serde_json::Value =
        serde_json::from_str(r["requestHeaders"].as_str().unwrap()).unwrap();
    let bot = tag
        .get("bot-name")
        .or_else(|| tag.get("ai-agent"))
        .and_then(|b| b.as_str())
        .unwrap()
        .to_owned();
    (
        bot,
        headers["host"].as_str().unwrap().to_owned(),
        headers
            .get("x-copilot-user-aad-object-id")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    )
}

/// The user object ids of the emulator's first `n` transcripts.
fn user_ids(emu: &RunningEmulator, n: usize) -> Vec<String> {
    let tenant = emu.tenant();
    let mut ids = Vec::new();
    for mut row in tenant.transcript_rows(0..n) {
        if let Some(content) = tenant.transcript_content(&row) {
            row.insert("content".into(), serde_json::Value::String(content));
        }
        let t = transcript_model::Transcript::from_value(&serde_json::Value::Object(row)).unwrap();
        if let Some(id) = t.pair().facts.user_aad_object_id {
            ids.push(id);
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_inventory_records_on_the_first_pass_none_without_change_one_after_a_rename() {
    let emu = emulator(3, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), AKTO_JOB);
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bots = emu.dataverse().count("bots");
    assert_eq!(bots, 3);
    let first = ingested_agent_paths(&emu);
    assert_eq!(first.len(), bots, "{first:?}");
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), bots);
    // Inventory records come first, so Akto lists agents before any traffic.
    let records = emu.ingestion().records();
    assert!(records[..bots].iter().all(is_agent_record));
    let agent = records.iter().find(|r| is_agent_record(r)).unwrap().clone();
    let tag: serde_json::Value = serde_json::from_str(agent["tag"].as_str().unwrap()).unwrap();
    assert_eq!(tag["copilot-inventory"], "true");
    assert_eq!(tag["saas-agent"], "copilot-studio");
    assert_eq!(agent["method"], "GET");

    // Five minutes later, nothing changed: no inventory record.
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ingested_agent_paths(&emu).len(), bots);

    // One agent renamed: exactly its record again, with the new name.
    let path = &first[1];
    let id: uuid::Uuid = path.trim_start_matches("/copilot/bot/").parse().unwrap();
    let mut row = emu.dataverse().row("bots", id).unwrap();
    row.insert("name".into(), "Zahlungs-Überblick".into());
    emu.dataverse().insert_rows("bots", [row]).unwrap();
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = ingested_agent_paths(&emu);
    assert_eq!(after.len(), bots + 1, "{after:?}");
    assert_eq!(&after[bots], path);
    let last = emu
        .ingestion()
        .records()
        .into_iter()
        .rfind(is_agent_record)
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(last["responsePayload"].as_str().unwrap()).unwrap();
    assert_eq!(body["name"], "Zahlungs-Überblick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_environment_mode_names_users_in_hosts_and_writes_the_user_agent_map() {
    let emu = emulator(3, 30).await;
    let users = user_ids(&emu, 30);
    assert!(
        users.len() >= 2,
        "the tenant has authenticated users: {users:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    // Akto's map: the first user only (the others are not in the directory snapshot).
    let map_file = dir.path().join("copilot-studio-user-map-t.json");
    std::fs::write(
        &map_file,
        serde_json::json!({ users[0].to_uppercase(): "jdoe-0f3c1a2b" }).to_string(),
    )
    .unwrap();
    let out_file = dir.path().join("copilot-studio-user-agent-map-t-e.json");
    let map = map_file.display().to_string();
    let out_path = out_file.display().to_string();
    let mut vars = AKTO_JOB.to_vec();
    vars.push(("COPILOT_STUDIO_USER_MAP_FILE", map.as_str()));
    vars.push((
        "COPILOT_STUDIO_USER_AGENT_MAP_OUTPUT_FILE",
        out_path.as_str(),
    ));
    let env = env_for(&emu, &dir.path().join("s.db"), &vars);
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut expected: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let mut mapped = 0;
    for r in emu.ingestion().records() {
        let (bot, host, aad) = record_parts(&r);
        if is_agent_record(&r) {
            assert_eq!(host, format!("anonymous.ai-agent.{bot}"));
            continue;
        }
        let user = match aad.as_deref() {
            Some(id) if id.eq_ignore_ascii_case(&users[0]) => {
                mapped += 1;
                "jdoe-0f3c1a2b".to_owned()
            }
            Some(id) => format!("user-{}", &id.replace('-', "")[..8]),
            None => "anonymous".to_owned(),
        };
        assert_eq!(host, format!("{user}.ai-agent.{bot}"));
        expected.entry(bot).or_default().insert(user);
    }
    assert!(
        mapped > 0,
        "the mapped user's records carry the mapped name"
    );
    let written: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    let expected: std::collections::BTreeMap<String, Vec<String>> = expected
        .into_iter()
        .map(|(b, u)| (b, u.into_iter().collect()))
        .collect();
    assert_eq!(written, expected);

    // A pass with nothing new rewrites the file for this run: empty.
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "{}");

    // A broken user map stops the run with exit 2, naming the variable.
    std::fs::write(&map_file, "[\"not a map\"]").unwrap();
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("COPILOT_STUDIO_USER_MAP_FILE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_host_stays_copilot_microsoft_com() {
    let emu = emulator(2, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), AKTO_JOB);
    let out = run(&env, &["-once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records = emu.ingestion().records();
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(record_parts(r).1, "copilot.microsoft.com");
    }
}

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
use std::process::{Output, Stdio};
use std::time::Duration;
use support::*;
use tenant_emulator::{Emulator, RunningEmulator};

async fn emulator(agents: usize, transcripts: usize) -> RunningEmulator {
    Emulator::builder()
        .seed(31)
        .agents(agents)
        .transcripts(transcripts)
        .start()
        .await
        .unwrap()
}

fn shield(env: &HashMap<String, String>, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_copilot-shield"));
    c.args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run(env: &HashMap<String, String>, args: &[&str]) -> Output {
    shield(env, args).output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_copilot-connector"));
    let out = c
        .args(["ingest", "--cron", "61 * * * *"])
        .env_clear()
        .envs(&env)
        .output()
        .await
        .unwrap();
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
    let env = env_for(&emu, &dir.path().join("s.db"), AKTO_JOB);
    // Once a year: it waits, and SIGTERM ends the wait at once.
    let child = shield(&env, &["-schedule", "0 0 1 1 *"]).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the schedule did not stop on SIGTERM")
        .unwrap();
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

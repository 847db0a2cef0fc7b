//! End-to-end: `copilot-connector ingest --once` killed with SIGKILL at random points of a
//! 2,000-transcript pass, five times, then left to finish: every pair arrives at least once,
//! and each kill costs at most the batches in flight sent twice (N = 8 in flight, the default,
//! and N = 1).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use rand::{Rng, SeedableRng};
use std::process::Stdio;
use std::time::Duration;
use support::*;
use tenant_emulator::Emulator;

const TRANSCRIPTS: usize = 2000;
const KILLS: usize = 5;
const BATCH: usize = 50;

fn command(env: &std::collections::HashMap<String, String>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_copilot-connector"));
    cmd.args(["ingest", "--once"])
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_the_default_batches_in_flight_loses_nothing_and_repeats_at_most_that_many_per_kill()
 {
    assert_eq!(connector::config::DEFAULT_IN_FLIGHT, 8);
    sigkill_at_random_points(connector::config::DEFAULT_IN_FLIGHT, 0x5eed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_one_batch_in_flight_repeats_at_most_one_batch_per_kill() {
    sigkill_at_random_points(1, 0xbeef).await;
}

async fn sigkill_at_random_points(in_flight: usize, seed: u64) {
    let emu = Emulator::builder()
        .seed(23)
        .agents(10)
        .transcripts(TRANSCRIPTS)
        .start()
        .await
        .unwrap();
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..TRANSCRIPTS));
    let dir = tempfile::tempdir().unwrap();
    let n = in_flight.to_string();
    let env = env_for(
        &emu,
        &dir.path().join("state.db"),
        &[("COPILOT_CONNECTOR_IN_FLIGHT", n.as_str())],
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut kills = 0;
    for _ in 0..KILLS {
        let before = emu.ingestion().len();
        // Somewhere in the next sixth of the pass (0 = while starting up).
        let target = before + rng.random_range(0..=expected.len() / 6);
        let mut child = command(&env).spawn().unwrap();
        let reached = emu
            .ingestion()
            .wait_for(target, Duration::from_secs(120))
            .await;
        if let Ok(Some(status)) = child.try_wait() {
            // The pass finished before the kill point.
            assert!(status.success(), "exited with {status}");
            break;
        }
        assert!(
            reached,
            "no progress: {} records after 120 s",
            emu.ingestion().len()
        );
        child.kill().await.unwrap(); // SIGKILL
        kills += 1;
    }
    assert!(
        kills >= 3,
        "the pass was too quick to be killed ({kills} kills)"
    );

    let output = command(&env).output().await.unwrap();
    assert!(
        output.status.success(),
        "final run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let counts = ingested_counts(&emu);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|p| !counts.contains_key(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "{} pairs lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    assert_eq!(counts.len(), expected.len(), "unexpected paths delivered");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "{} pairs, {in_flight} in flight, {kills} kills, {duplicates} records sent twice",
        expected.len()
    );
    assert!(
        duplicates <= kills * in_flight * BATCH,
        "{duplicates} records sent twice after {kills} kills (at most {} allowed)",
        kills * in_flight * BATCH
    );
    // No bound per record: a kill right after a restart can catch the batches the restart was
    // re-sending, so one record may go out three times; the bound is per kill.
}

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
use support::*;
use tenant_emulator::Emulator;

const TRANSCRIPTS: usize = 2000;
const KILLS: usize = 5;
const BATCH: usize = 50;

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
    let command = || binary::killable(&env, ["ingest", "--once"]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // Each run is killed somewhere in the next sixth of the pass (0 = while starting up).
    let kills = binary::kill_while_delivering(&emu, command, KILLS, |before| {
        before + rng.random_range(0..=expected.len() / 6)
    })
    .await;
    assert!(
        kills >= 3,
        "the pass was too quick to be killed ({kills} kills)"
    );

    binary::finish(command()).await;
    // Agent inventory records are left out of the counts: only pairs are checked here.
    let duplicates = binary::assert_none_lost(&ingested_counts(&emu), &expected);
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

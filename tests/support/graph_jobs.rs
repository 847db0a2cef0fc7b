//! Shared set-up of the Graph jobs' end-to-end tests (`m365`, `seccopilot`): settings pointing
//! at the emulator's Entra, Graph and ingestion stand-ins, their credential, and what the
//! ingestion stand-in received from one source.

#![allow(dead_code, unreachable_pub)]

use connector::config::{Needs, RawConfig, SharedSettings};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tenant_emulator::RunningEmulator;

/// The settings a Graph job reads, pointing at `emu`, with its checkpoint store at `state`.
pub fn graph_env(emu: &RunningEmulator, state: &std::path::Path) -> HashMap<String, String> {
    let creds = emu.credentials();
    [
        ("AZURE_TENANT_ID", creds.tenant_id.to_string()),
        ("AZURE_CLIENT_ID", creds.client_id.to_string()),
        ("AZURE_CLIENT_SECRET", creds.client_secret.clone()),
        ("AZURE_AUTHORITY_HOST", emu.authority_host().to_owned()),
        ("DATA_INGESTION_SERVICE_URL", emu.ingestion_url().to_owned()),
        ("COPILOT_CONNECTOR_STATE", state.display().to_string()),
        ("GRAPH_URL", emu.graph_url().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `env` read as the shared settings of an ingest job.
pub fn settings(env: &HashMap<String, String>) -> SharedSettings {
    SharedSettings::from_raw(&RawConfig::from_env(|k| env.get(k).cloned()), Needs::Ingest)
        .expect("valid settings")
}

/// The app credential `settings` name, on the system clock.
pub fn credential(settings: &SharedSettings) -> client_core::SharedCredential {
    credential_on(settings, client_core::system_clock())
}

/// The app credential `settings` name, on `clock` (a manual clock shared with the emulator).
pub fn credential_on(
    settings: &SharedSettings,
    clock: client_core::SharedClock,
) -> client_core::SharedCredential {
    connector::credential::from_settings(settings, clock).expect("credential")
}

/// How many times each record path was ingested; every record must be tagged as `source`
/// (e.g. `M365_COPILOT`).
pub fn ingested(emu: &RunningEmulator, source: &str) -> BTreeMap<String, usize> {
    let tagged = format!("\"source\":\"{source}\"");
    let mut counts = BTreeMap::new();
    for r in emu.ingestion().records() {
        let tag = r.get("tag").and_then(|t| t.as_str()).unwrap_or_default();
        assert!(tag.contains(&tagged), "{tag}");
        let path = r
            .get("path")
            .and_then(|p| p.as_str())
            .expect("a record has a path")
            .to_owned();
        *counts.entry(path).or_insert(0) += 1;
    }
    counts
}

/// Asserts that each `expected` path was ingested from `source` exactly once, and nothing else.
pub fn assert_exactly_once(emu: &RunningEmulator, source: &str, expected: &BTreeSet<String>) {
    let counts = ingested(emu, source);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered more than once: {:?}",
        &twice[..twice.len().min(5)]
    );
    let got: BTreeSet<String> = counts.into_keys().collect();
    assert_eq!(&got, expected);
}

/// `copilot-connector args` (an `ingest --once` of a Graph job) started five times, each
/// killed with SIGKILL somewhere in the next eighth of the delivery, then run to its end.
/// Asserts at least three runs were killed and no `expected` record of `source` was lost;
/// returns the kills and how many records were delivered more than once.
pub async fn sigkill_five_times(
    emu: &RunningEmulator,
    env: &HashMap<String, String>,
    args: &[&str],
    seed: u64,
    expected: &BTreeSet<String>,
    source: &str,
) -> (usize, usize) {
    use rand::{Rng, SeedableRng};
    let command = || super::binary::killable(env, args);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let kills = super::binary::kill_while_delivering(emu, command, 5, |before| {
        before + rng.random_range(1..=expected.len() / 8)
    })
    .await;
    assert!(
        kills >= 3,
        "the pass was too quick to be killed ({kills} kills)"
    );
    super::binary::finish(command()).await;
    let duplicates = super::binary::assert_none_lost(&ingested(emu, source), expected);
    eprintln!(
        "{} records, {kills} kills, {duplicates} sent twice",
        expected.len()
    );
    (kills, duplicates)
}

//! End-to-end: the Microsoft 365 Copilot job against the tenant emulator's Graph and Akto
//! stand-ins: every interaction delivered exactly once, a second pass delivers nothing, new
//! interactions arrive on the next pass, an edited answer is sent again, 30% injected 429s
//! still deliver everything once, and `kill -9` five times in a long pass loses nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use connector::ingest::StopSignal;
use connector::m365::{M365Job, M365Options};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use support::binary;
use support::graph_jobs::{self, credential, ingested, settings};
use tenant_emulator::faults::FaultConfig;
use tenant_emulator::graph::M365Spec;
use tenant_emulator::{Emulator, RunningEmulator};
use transcript_model::AiInteraction;
use transcript_model::m365::{M365Config, M365User};

/// The tag every record of this job carries.
const SOURCE: &str = "M365_COPILOT";

/// The Graph job settings, with the emulator's unlicensed users named in `M365_USERS`.
fn env_for(emu: &RunningEmulator, state: &std::path::Path) -> HashMap<String, String> {
    let unlicensed: Vec<String> = emu
        .graph()
        .users()
        .into_iter()
        .filter(|u| !u.licensed)
        .map(|u| u.id)
        .collect();
    let mut env = graph_jobs::graph_env(emu, state);
    env.insert("M365_USERS".into(), unlicensed.join(","));
    env
}

fn credential_for(env: &HashMap<String, String>) -> client_core::SharedCredential {
    credential(&settings(env))
}

fn job(emu: &RunningEmulator, env: &HashMap<String, String>) -> M365Job {
    let settings = settings(env);
    let credential = credential(&settings);
    let options = M365Options {
        graph_url: Some(emu.graph_url().to_owned()),
        users: env["M365_USERS"].split(',').map(str::to_owned).collect(),
        ..M365Options::default()
    };
    M365Job::new(
        settings,
        options,
        None,
        credential,
        client_core::system_clock(),
    )
    .unwrap()
}

/// The record paths every interaction of the emulator's active users should produce.
fn expected_paths(emu: &RunningEmulator) -> BTreeSet<String> {
    let config = M365Config::new("1000000", "0");
    let mut paths = BTreeSet::new();
    for u in emu.graph().users() {
        let items: Vec<AiInteraction> = emu
            .graph()
            .interactions_of(&u.id)
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        for r in config.records(&M365User::new(u.id.clone()), &items) {
            paths.insert(r.record.path);
        }
    }
    paths
}

fn assert_exactly_once(emu: &RunningEmulator) {
    graph_jobs::assert_exactly_once(emu, SOURCE, &expected_paths(emu));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interaction_once_then_nothing_then_only_new_and_edited() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));
    let job = job(&emu, &env);
    let mut store = job.open_state().unwrap();
    let sink = job.sink().await.unwrap();

    let first = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(first.users, 11, "10 licensed + 1 named unlicensed user");
    assert_eq!(first.interactions_read, emu.graph().interaction_count());
    assert_eq!(first.records_delivered, expected_paths(&emu).len());
    assert_exactly_once(&emu);

    let second = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(second.records_delivered, 0, "{second:?}");
    assert_eq!(second.already_delivered, second.pairs);
    assert_exactly_once(&emu);

    let added = emu.graph().add_interactions(5);
    assert_eq!(added.len(), 10);
    let third = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(third.records_delivered, 5, "{third:?}");
    assert_exactly_once(&emu);

    // An edited answer (new etag) is delivered again; nothing else is.
    let edited = emu.graph().change_etags(2);
    assert_eq!(edited.len(), 2);
    let fourth = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(fourth.records_delivered, 2, "{fourth:?}");
    let twice = ingested(&emu, SOURCE).values().filter(|n| **n == 2).count();
    assert_eq!(twice, 2);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_throttled_still_delivers_everything_once() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(12, 30).with_extra_users(0, 1))
        .faults(
            FaultConfig::none()
                .with_throttle_rate(0.3)
                .with_retry_after(0),
        )
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));
    let job = job(&emu, &env);
    let mut store = job.open_state().unwrap();
    let sink = job.sink().await.unwrap();
    let summary = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(summary.interactions_read, 13 * 30);
    assert_exactly_once(&emu);
    let again = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(again.records_delivered, 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_five_times_loses_nothing_and_repeats_at_most_the_batches_in_flight() {
    const BATCH: usize = 50;
    const CONCURRENCY: usize = 8;
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(160, 60))
        .faults(FaultConfig::none().with_latency(Duration::from_millis(3)))
        .start()
        .await
        .unwrap();
    let expected = expected_paths(&emu);
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));
    let (kills, duplicates) = graph_jobs::sigkill_five_times(
        &emu,
        &env,
        &["m365", "ingest", "--once"],
        0x365,
        &expected,
        SOURCE,
    )
    .await;
    assert!(
        duplicates <= kills * CONCURRENCY * BATCH,
        "{duplicates} records sent twice after {kills} kills"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_each_pass_as_a_sentence_or_as_json() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(3, 2))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));
    let records = expected_paths(&emu).len();
    let (code, out, err) = binary::run_text(&env, ["m365", "ingest", "--once"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("m365: ")
            && out.contains(" users, ")
            && out.contains(&format!(", {records} records delivered in ")),
        "{out}"
    );
    let (code, out, err) = binary::run_text(&env, ["--json", "m365", "ingest", "--once"]).await;
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["records_delivered"], 0, "{summary}");
    assert!(summary["users"].as_u64().unwrap() >= 3, "{summary}");
    assert_exactly_once(&emu);
    emu.shutdown().await;
}

#[tokio::test]
async fn doctor_passes_with_the_two_permissions_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    // The default app: AiEnterpriseInteraction.Read.All and User.Read.All, no
    // LicenseAssignment.Read.All, so subscribedSkus is refused and the well-known skuId is used.
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(3, 2))
        .start()
        .await
        .unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"));
    let checks = job(&emu, &env).doctor(&credential_for(&env)).await;
    let by_id: HashMap<&str, _> = checks.iter().map(|c| (c.id, c)).collect();
    for id in [
        "cloud",
        "graph-token",
        "graph-roles",
        "licensed-users",
        "interaction-export",
    ] {
        assert_eq!(by_id[id].status, "ok", "{id}: {checks:?}");
    }
    assert!(
        by_id["licensed-users"]
            .detail
            .contains("3 licensed user(s)")
            && by_id["licensed-users"]
                .detail
                .contains("LicenseAssignment.Read.All"),
        "{checks:?}"
    );
    emu.shutdown().await;

    // Without the export permission: the roles check fails naming it, the export read fails.
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(3, 2))
        .graph_roles([tenant_emulator::graph::USER_READ_ROLE])
        .start()
        .await
        .unwrap();
    let env = env_for(&emu, &dir.path().join("s2.db"));
    let checks = job(&emu, &env).doctor(&credential_for(&env)).await;
    let by_id: HashMap<&str, _> = checks.iter().map(|c| (c.id, c)).collect();
    assert_eq!(by_id["graph-roles"].status, "fail", "{checks:?}");
    assert!(
        by_id["graph-roles"]
            .detail
            .contains("AiEnterpriseInteraction.Read.All"),
        "{checks:?}"
    );
    assert_eq!(by_id["licensed-users"].status, "ok", "{checks:?}");
    assert_eq!(by_id["interaction-export"].status, "fail", "{checks:?}");
    emu.shutdown().await;
}

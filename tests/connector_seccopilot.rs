//! End-to-end: `seccopilot ask` and `seccopilot ingest` against the tenant emulator's Security
//! Copilot: an answer printed with progress, every failure outcome explained (exit 1), a
//! deadline, plugin checks; every finished evaluation delivered exactly once, a second pass
//! delivering nothing, new sessions arriving on the next pass, and `kill -9` five times in a
//! long pass losing nothing.

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
use connector::seccopilot::{SecCopilotJob, SecCopilotOptions};
use std::collections::BTreeSet;
use std::time::Duration;
use support::binary::run_text as run;
use support::graph_jobs::{self, graph_env as env_for, settings};
use tenant_emulator::security_copilot::{Outcome, SecurityCopilotSettings, SecurityCopilotSpec};
use tenant_emulator::{Emulator, RunningEmulator};

/// The tag every record of this job carries.
const SOURCE: &str = "SECURITY_COPILOT";

fn job(emu: &RunningEmulator, env: &std::collections::HashMap<String, String>) -> SecCopilotJob {
    job_with(emu, env, connector::seccopilot::DEFAULT_REVISIT)
}

fn job_with(
    emu: &RunningEmulator,
    env: &std::collections::HashMap<String, String>,
    revisit: Duration,
) -> SecCopilotJob {
    job_on(emu, env, revisit, client_core::system_clock())
}

/// The job on `clock` (its sign-in too): a manual clock shared with the emulator lets a test
/// move time instead of sleeping.
fn job_on(
    emu: &RunningEmulator,
    env: &std::collections::HashMap<String, String>,
    revisit: Duration,
    clock: client_core::SharedClock,
) -> SecCopilotJob {
    let settings = settings(env);
    let credential = graph_jobs::credential_on(&settings, clock.clone());
    let options = SecCopilotOptions {
        graph_url: Some(emu.graph_url().to_owned()),
        revisit,
        ..SecCopilotOptions::default()
    };
    SecCopilotJob::new(settings, options, None, credential, clock).unwrap()
}

/// The record path of every finished evaluation the emulator holds.
fn expected_paths(emu: &RunningEmulator) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for s in emu.graph().security_copilot().snapshot() {
        for p in s["prompts"].as_array().unwrap() {
            for e in p["evaluations"].as_array().unwrap() {
                if matches!(
                    e["state"].as_str(),
                    Some("completed" | "cancelled" | "waitingForInput")
                ) {
                    paths.insert(format!(
                        "/security-copilot/default/sessions/{}/prompts/{}/evaluations/{}",
                        s["id"].as_str().unwrap(),
                        p["id"].as_str().unwrap(),
                        e["id"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    paths
}

fn assert_exactly_once(emu: &RunningEmulator) {
    graph_jobs::assert_exactly_once(emu, SOURCE, &expected_paths(emu));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_prints_the_answer_and_explains_every_other_outcome() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .start()
        .await
        .unwrap();
    // The binary runs on the real clock: every evaluation here finishes at once, so nothing
    // waits for real. Waiting for a running one, and its deadline, are tested in-process on a
    // manual clock (`ask_waits_on_the_clock_and_gives_up_at_its_deadline`).
    emu.graph()
        .security_copilot()
        .set_settings(SecurityCopilotSettings::default().with_run_time(Duration::ZERO))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));

    let (code, out, err) = run(&env, &["seccopilot", "ask", "Summarize incident 4213"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Summarize incident 4213"), "{out}");

    for (outcome, words) in [
        (Outcome::Error, "failed to evaluate"),
        (Outcome::NeedAdditionalClaims, "sign in again"),
        (Outcome::Rejected, "refused the prompt"),
        (Outcome::TimedOut, "ran out of time"),
        (Outcome::CapacityExceeded, "Security Compute Units"),
        (Outcome::Cancelled, "cancelled"),
        (Outcome::WaitingForInput, "waiting for input"),
    ] {
        let prompt = format!("Check this [emulator:{}]", outcome.as_str());
        let (code, out, err) = run(&env, &["seccopilot", "ask", &prompt]).await;
        assert_eq!(code, 1, "{outcome:?}: {err}");
        assert!(
            out.trim().is_empty(),
            "{outcome:?} printed an answer: {out}"
        );
        assert!(err.contains("did not answer"), "{outcome:?}: {err}");
        assert!(err.contains(words), "{outcome:?}: {err}");
    }
    // Never finishing: the deadline `--wait` sets (its shortest, 1 s: the one real wait left).
    let (code, _, err) = run(
        &env,
        &["seccopilot", "ask", "Wait [emulator:never]", "--wait", "1s"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no answer within") && err.contains("running"),
        "{err}"
    );

    // A skill with inputs, in JSON.
    let (code, out, err) = run(
        &env,
        &[
            "--json",
            "seccopilot",
            "ask",
            "--skill",
            "GetIncident",
            "--input",
            "incidentId=42",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["prompt"]["skillName"], "GetIncident");
    assert_eq!(v["prompt"]["inputs"]["incidentId"], "42");
    assert_eq!(v["evaluation"]["result"]["type"], "success");

    // Plugins: an enabled one is fine, a disabled or unknown one is refused before asking.
    let (code, _, err) = run(
        &env,
        &["seccopilot", "ask", "Hi", "--plugin", "DefenderXDR"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&env, &["seccopilot", "ask", "Hi", "--plugin", "Purview"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("turned off"), "{err}");
    let (code, _, err) = run(&env, &["seccopilot", "ask", "Hi", "--plugin", "Nope"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no such plugin") && err.contains("Sentinel"),
        "{err}"
    );
    let (code, out, _) = run(&env, &["seccopilot", "plugins"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Purview") && out.contains("disabled"), "{out}");
    // Nothing to ask.
    let (code, _, err) = run(&env, &["seccopilot", "ask"]).await;
    assert_eq!(code, 2, "{err}");
    emu.shutdown().await;
}

/// `ask` on one manual clock with the emulator: a 90 s evaluation is polled (backing off) until
/// it completes, with each state shown to `progress`; one that never finishes stops at the
/// request's deadline with what to do. Time moves only when the poller sleeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_waits_on_the_clock_and_gives_up_at_its_deadline() {
    use connector::seccopilot::AskRequest;
    use graph_client::PromptInput;

    let clock = support::clock();
    let on_clock: client_core::SharedClock = std::sync::Arc::new(clock.0.clone());
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .clock(std::sync::Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    emu.graph()
        .security_copilot()
        .set_settings(SecurityCopilotSettings::default().with_run_time(Duration::from_secs(90)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));
    let job = job_on(
        &emu,
        &env,
        connector::seccopilot::DEFAULT_REVISIT,
        on_clock.clone(),
    );

    let started = on_clock.now();
    let mut seen = Vec::new();
    let answer = job
        .ask(
            &AskRequest::new(PromptInput::text("Summarize incident 4213")),
            |e| seen.push(e.state.to_string()),
        )
        .await
        .unwrap();
    assert!(answer.answer().is_some(), "{answer:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("completed"),
        "{seen:?}"
    );
    assert!(
        seen.iter().filter(|s| s.as_str() != "completed").count() >= 2,
        "polled while it ran: {seen:?}"
    );
    let waited = on_clock.now() - started;
    assert!(
        waited >= time::Duration::seconds(90) && waited < time::Duration::seconds(120),
        "{waited}"
    );

    let mut request = AskRequest::new(PromptInput::text("Wait [emulator:never]"));
    request.poll = request.poll.deadline(Duration::from_secs(40));
    let started = on_clock.now();
    let err = job.ask(&request, |_| {}).await.unwrap_err().to_string();
    assert!(
        err.contains("no answer within 40s") && err.contains("running") && err.contains("--wait"),
        "{err}"
    );
    assert_eq!(on_clock.now() - started, time::Duration::seconds(40));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_delivers_each_evaluation_once_then_nothing_then_only_new() {
    // One manual clock for the emulator and the job: evaluations finish, and checkpoints age,
    // when the test moves time, never by sleeping.
    let clock = support::clock();
    let on_clock: client_core::SharedClock = std::sync::Arc::new(clock.0.clone());
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .security_copilot(SecurityCopilotSpec::new(6, 4))
        .clock(std::sync::Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));
    let job = job_on(
        &emu,
        &env,
        connector::seccopilot::DEFAULT_REVISIT,
        on_clock.clone(),
    );
    let mut store = job.open_state().unwrap();
    let sink = job.sink().await.unwrap();

    let first = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(
        (first.sessions, first.prompts, first.evaluations),
        (6, 24, 24),
        "{first:?}"
    );
    assert_eq!(first.records_delivered, 24);
    assert_exactly_once(&emu);
    // Refusals and failures are delivered too, with their status.
    let statuses: BTreeSet<String> = emu
        .ingestion()
        .records()
        .iter()
        .filter_map(|r| {
            r.get("statusCode")
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert!(
        statuses.contains("200") && statuses.contains("403"),
        "{statuses:?}"
    );

    let second = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(second.records_delivered, 0, "{second:?}");
    assert_exactly_once(&emu);

    emu.graph().security_copilot().add_session(
        "new",
        &[
            "Who signed in from Antarctica?",
            "Block them [emulator:rejected]",
        ],
        Duration::from_secs(5),
    );
    let third = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(third.records_delivered, 2, "{third:?}");
    assert_eq!(
        third.sessions_unchanged + third.sessions_revisited,
        6,
        "old sessions are not read again, or only inside the look-back: {third:?}"
    );
    // A revisited session costs its prompt list only: every prompt of it is settled.
    assert_eq!(third.revisit_reads, third.sessions_revisited, "{third:?}");
    assert_exactly_once(&emu);

    // An unfinished evaluation is not delivered, and holds the checkpoint until it finishes.
    emu.graph()
        .security_copilot()
        .set_settings(SecurityCopilotSettings::default().with_run_time(Duration::from_secs(2)))
        .unwrap();
    let sc = job.copilot();
    let s = sc.create_session("live").await.unwrap();
    let p = sc
        .create_prompt(&s.id, &graph_client::PromptInput::text("still thinking"))
        .await
        .unwrap();
    sc.create_evaluation(&s.id, &p.id).await.unwrap();
    // No overlap and no look-back: only the held checkpoint brings the session back. The pass
    // runs over a second after the session last moved, so a checkpoint at "now" would pass it.
    let mut strict_env = env.clone();
    strict_env.insert("COPILOT_CONNECTOR_OVERLAP".into(), "0s".into());
    let strict = job_on(&emu, &strict_env, Duration::ZERO, on_clock);
    clock.0.advance(Duration::from_millis(1100));
    let fourth = strict
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(
        (fourth.pending, fourth.records_delivered),
        (1, 0),
        "{fourth:?}"
    );
    clock.0.advance(Duration::from_millis(1000));
    let fifth = strict
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(
        (fifth.pending, fifth.records_delivered),
        (0, 1),
        "{fifth:?}"
    );
    assert_exactly_once(&emu);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_five_times_loses_nothing() {
    const BATCH: usize = 50;
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .security_copilot(SecurityCopilotSpec::new(60, 25))
        .faults(tenant_emulator::faults::FaultConfig::none().with_latency(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    emu.graph()
        .security_copilot()
        .set_settings(SecurityCopilotSettings::default().with_rate_limit(1_000_000, 60))
        .unwrap();
    let expected = expected_paths(&emu);
    assert_eq!(expected.len(), 1500);
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&emu, &dir.path().join("state.db"));
    env.insert("SECURITY_COPILOT_RATE_LIMIT".into(), "100000".into());
    let (kills, duplicates) = graph_jobs::sigkill_five_times(
        &emu,
        &env,
        &["seccopilot", "ingest", "--once"],
        0x5ec,
        &expected,
        SOURCE,
    )
    .await;
    assert!(
        duplicates <= kills * BATCH,
        "{duplicates} records sent twice after {kills} kills"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_as_a_person_signed_in_with_a_device_code() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .start()
        .await
        .unwrap();
    let device = emu.entra().device_sign_in();
    device.set_interval(Duration::from_secs(1));
    device.set_user(tenant_emulator::entra_device::SignedInUser {
        scopes: vec!["SecurityCopilotWorkspaces.ReadWrite.All".into()],
        ..tenant_emulator::entra_device::SignedInUser::default()
    });
    emu.graph()
        .security_copilot()
        .set_settings(SecurityCopilotSettings::default().with_run_time(Duration::ZERO))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&emu, &dir.path().join("state.db"));
    // A public client: no secret.
    env.remove("AZURE_CLIENT_SECRET");
    let (code, out, err) = run(&env, &["seccopilot", "ask", "Who am I?", "--device-code"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Who am I?"), "{out}");
    assert!(
        err.contains("seccopilot: ") && err.contains("code"),
        "the sign-in instructions: {err}"
    );
    // Without the Security Copilot scope the person is refused, with the fix.
    device.set_user(tenant_emulator::entra_device::SignedInUser::default());
    let (code, _, err) = run(&env, &["seccopilot", "ask", "Hi", "--device-code"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("403") || err.contains("SecurityCopilotWorkspaces"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_added_without_moving_the_session_time_are_delivered_within_the_look_back() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .security_copilot(SecurityCopilotSpec::new(4, 2))
        .start()
        .await
        .unwrap();
    let sc = emu.graph().security_copilot();
    // A service that does not move lastModifiedDateTime when a prompt is added.
    sc.set_settings(SecurityCopilotSettings::default().with_bump_session_modified(false))
        .unwrap();
    let recent = sc.add_session(
        "recent",
        &["first question"],
        Duration::from_secs(2 * 86_400),
    );
    let old = sc.add_session("old", &["old question"], Duration::from_secs(30 * 86_400));
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"));
    let job = job(&emu, &env);
    let mut store = job.open_state().unwrap();
    let sink = job.sink().await.unwrap();
    let first = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(first.records_delivered, 10, "{first:?}");
    assert_exactly_once(&emu);

    // A follow-up in the two-day-old session, and one in the month-old session; neither moves
    // its session's time.
    let follow_up = sc.add_prompt(&recent, "a follow-up question").unwrap();
    let too_late = sc.add_prompt(&old, "a question in an old session").unwrap();
    let before = emu.graph().requests_served();
    let second = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(second.records_delivered, 1, "{second:?}");
    assert!(second.sessions_revisited >= 1, "{second:?}");
    // Bounded: one prompt list per revisited session, and the one new prompt's evaluations.
    assert_eq!(
        second.revisit_reads,
        second.sessions_revisited + 1,
        "{second:?}"
    );
    let requests = emu.graph().requests_served() - before;
    assert!(
        requests as usize <= 1 + second.revisit_reads,
        "{requests} requests: {second:?}"
    );
    let delivered = graph_jobs::ingested(&emu, SOURCE);
    assert!(
        delivered.keys().any(|p| p.contains(&follow_up)),
        "the follow-up is delivered"
    );
    // The month-old session is outside the look-back: the documented bound.
    assert!(!delivered.keys().any(|p| p.contains(&too_late)));
    let mut expected = expected_paths(&emu);
    expected.retain(|p| !p.contains(&too_late));
    graph_jobs::assert_exactly_once(&emu, SOURCE, &expected);

    // Without the look-back the next follow-up is missed; with it, it arrives once.
    let another = sc.add_prompt(&recent, "one more").unwrap();
    let blind = job_with(&emu, &env, Duration::ZERO);
    let third = blind
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(
        (third.records_delivered, third.sessions_revisited),
        (0, 0),
        "{third:?}"
    );
    let fourth = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    assert_eq!(fourth.records_delivered, 1, "{fourth:?}");
    assert!(
        graph_jobs::ingested(&emu, SOURCE)
            .keys()
            .any(|p| p.contains(&another))
    );
    let mut expected = expected_paths(&emu);
    expected.retain(|p| !p.contains(&too_late));
    graph_jobs::assert_exactly_once(&emu, SOURCE, &expected);
    emu.shutdown().await;
}

//! End-to-end: the connector against the tenant emulator (Entra, Dataverse, Akto ingestion).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use connector::config::Needs;
use std::time::Duration;
use support::*;
use tenant_emulator::Emulator;
use tenant_emulator::faults::{FaultConfig, FaultTargets};

async fn emulator(
    clock: &SharedManualClock,
    transcripts: usize,
) -> tenant_emulator::RunningEmulator {
    Emulator::builder()
        .seed(11)
        .agents(6)
        .transcripts(transcripts)
        .clock(std::sync::Arc::new(clock.clone()))
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_deliver_every_pair_exactly_once_and_pick_up_late_transcripts() {
    let clock = clock();
    let emu = emulator(&clock, 300).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("state.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);

    let first = pass(&c).await.unwrap();
    let mut expected = expected_paths(&emu, emu.tenant().transcript_rows(0..300));
    assert_eq!(first.transcripts_read, 300);
    assert_eq!(
        first.transcripts_delivered + first.transcripts_without_pairs,
        300,
        "{first:?}"
    );
    assert!(first.transcripts_unparseable.is_empty());
    assert_eq!(first.records_delivered as usize, expected.len());
    // Full batches of 50, as Akto's publisher sends them, and one last partial batch.
    assert_eq!(
        first.batches_delivered as usize,
        expected.len().div_ceil(50)
    );
    assert_exactly_once(&emu, &expected);
    // Batches of at most 50 records, as Akto's publisher sends them.
    // Plus the batch of agent inventory records sent first.
    assert_eq!(first.agent_records_delivered, 6);
    assert_eq!(emu.ingestion().batches(), first.batches_delivered + 1);

    // A second pass over the overlapping window sends nothing.
    let second = pass(&c).await.unwrap();
    assert_eq!(second.records_delivered, 0, "{second:?}");
    assert!(
        second.transcripts_already_delivered > 0,
        "the window overlaps the last pass"
    );
    assert_exactly_once(&emu, &expected);

    // Transcripts written later arrive with the next pass, and only they.
    clock.0.advance(Duration::from_secs(300));
    let ids = emu.add_transcripts(40).unwrap();
    let rows = ids
        .iter()
        .map(|id| emu.dataverse().row("conversationtranscripts", *id).unwrap());
    let new_paths = expected_paths(&emu, rows);
    expected.extend(new_paths.iter().cloned());
    expected.sort();
    let third = pass(&c).await.unwrap();
    // A session ending with a prompt and no reply may continue in a row not written yet: its
    // last pair waits (at most the settle time) for that row.
    assert!(third.pairs_held <= 5, "{third:?}");
    assert_eq!(
        third.records_delivered + third.pairs_held,
        new_paths.len() as u64,
        "{third:?}"
    );
    clock
        .0
        .advance(connector::ingest::DEFAULT_SPLIT_SETTLE + Duration::from_secs(1));
    let fourth = pass(&c).await.unwrap();
    assert_eq!(fourth.records_delivered, third.pairs_held, "{fourth:?}");
    assert_eq!(fourth.pairs_held, 0);
    assert_exactly_once(&emu, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copilot_bot_id_limits_delivery_to_those_agents() {
    let clock = clock();
    // The ingestion service checks its token here: AKTO_JWT_TOKEN goes out raw.
    let emu = Emulator::builder()
        .seed(11)
        .agents(6)
        .transcripts(200)
        .ingestion_token("eyJ.akto.token")
        .clock(std::sync::Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let bots: Vec<String> = emu
        .tenant()
        .bot_rows()
        .iter()
        .take(2)
        .map(|b| b["botid"].as_str().unwrap().to_owned())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let list = bots.join(",");
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[
            ("COPILOT_BOT_ID", &list),
            ("AKTO_JWT_TOKEN", "eyJ.akto.token"),
        ],
    );
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let summary = pass(&c).await.unwrap();
    let rows: Vec<_> = emu
        .tenant()
        .transcript_rows(0..200)
        .filter(|r| {
            bots.iter()
                .any(|b| r["_bot_conversationtranscriptid_value"].as_str() == Some(b))
        })
        .collect();
    assert!(
        !rows.is_empty() && rows.len() < 200,
        "the two agents have some, not all, transcripts"
    );
    assert_eq!(summary.transcripts_read as usize, rows.len());
    let expected = expected_paths(&emu, rows);
    assert_exactly_once(&emu, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_throttling_and_unavailability_still_deliver_exactly_once() {
    let clock = clock();
    let emu = emulator(&clock, 250).await;
    // 429 and 503 everywhere: token endpoint, Dataverse and the ingestion service.
    emu.set_faults(
        FaultConfig::none()
            .with_throttle_rate(0.15)
            .with_unavailable_rate(0.15),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let summary = pass(&c).await.unwrap();
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..250));
    assert_eq!(summary.records_delivered as usize, expected.len());
    assert_exactly_once(&emu, &expected);
    assert!(
        !clock.0.sleeps().is_empty(),
        "the faults were met and waited out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_throttling_on_reads_still_deliver_exactly_once() {
    let clock = clock();
    let emu = emulator(&clock, 250).await;
    // Connections cut mid-body on sign-in and Dataverse reads. Not on the ingestion service: a
    // cut after it took a batch cannot be told from a lost batch, and at-least-once resends it
    // (the SIGKILL test bounds that).
    emu.set_faults(
        FaultConfig::none()
            .with_drop_rate(0.1)
            .with_throttle_rate(0.1)
            .with_unavailable_rate(0.1)
            .with_targets(FaultTargets::new(true, false, true)),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    pass(&c).await.unwrap();
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..250));
    assert_exactly_once(&emu, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingestion_outage_loses_nothing() {
    let clock = clock();
    let emu = emulator(&clock, 200).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..200));

    // A two-minute outage is ridden out within the pass (Retry-After, backoff).
    emu.set_faults(
        FaultConfig::none()
            .with_outage(Duration::from_secs(120))
            .with_targets(FaultTargets::new(false, true, false)),
    )
    .unwrap();
    let summary = pass(&c).await.unwrap();
    assert_eq!(summary.records_delivered as usize, expected.len());
    assert_exactly_once(&emu, &expected);

    // An outage longer than the retry window ends the pass with an error and the checkpoint
    // where it was; the pass after the recovery delivers everything, nothing twice.
    let ids = emu.add_transcripts(60).unwrap();
    let mut all = expected.clone();
    all.extend(expected_paths(
        &emu,
        ids.iter()
            .map(|id| emu.dataverse().row("conversationtranscripts", *id).unwrap()),
    ));
    all.sort();
    emu.set_faults(
        FaultConfig::none()
            .with_outage(Duration::from_secs(3600))
            .with_targets(FaultTargets::new(false, true, false)),
    )
    .unwrap();
    let err = pass(&c).await.unwrap_err();
    assert!(err.to_string().contains("delivery failed"), "{err}");
    assert!(!err.is_locked());
    clock.0.advance(Duration::from_secs(3600));
    let summary = pass(&c).await.unwrap();
    assert!(summary.records_delivered > 0);
    assert_exactly_once(&emu, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_transcript_is_reported_and_the_rest_delivered() {
    let clock = clock();
    let emu = emulator(&clock, 120).await;
    // One row whose content is not a transcript document, written before the pass.
    let mut bad = emu
        .tenant()
        .transcript_row(5000, Some(T0 - time::Duration::hours(2)))
        .unwrap();
    bad.insert(
        "content".into(),
        serde_json::Value::String("{\"activities\": [truncated".into()),
    );
    let bad_id = bad["conversationtranscriptid"].as_str().unwrap().to_owned();
    emu.add_transcript_rows(vec![bad]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let summary = pass(&c).await.unwrap();
    assert_eq!(summary.transcripts_unparseable.len(), 1, "{summary:?}");
    assert_eq!(summary.transcripts_unparseable[0].id, bad_id);
    assert!(
        summary.transcripts_unparseable[0]
            .reason
            .contains("content")
    );
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..120));
    assert_exactly_once(&emu, &expected);
    // Reported once, not retried on every pass.
    let again = pass(&c).await.unwrap();
    assert!(again.transcripts_unparseable.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_state_is_refused() {
    let clock = clock();
    let emu = emulator(&clock, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let _held = c.open_state().unwrap();
    let err = pass(&c).await.unwrap_err();
    assert!(err.is_locked(), "{err}");
    assert!(
        err.to_string().contains("another copilot-connector run"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_replaced_without_losing_a_pass() {
    let clock = clock();
    let emu = emulator(&clock, 50).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    // One connector for both passes, as `ingest --every` keeps it: its token is cached.
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    pass(&c).await.unwrap();
    let mut expected = expected_paths(&emu, emu.tenant().transcript_rows(0..50));
    emu.expire_tokens();
    clock.0.advance(Duration::from_secs(60));
    let ids = emu.add_transcripts(10).unwrap();
    expected.extend(expected_paths(
        &emu,
        ids.iter()
            .map(|id| emu.dataverse().row("conversationtranscripts", *id).unwrap()),
    ));
    expected.sort();
    pass(&c).await.unwrap();
    assert_exactly_once(&emu, &expected);
}

/// A transcript row of `emu`'s tenant (index `i`, written an hour before T0) whose content is
/// one exchange with this question and answer.
fn row_with_exchange(
    emu: &tenant_emulator::RunningEmulator,
    i: u64,
    question: &str,
    answer: &str,
) -> tenant_emulator::generate::Row {
    let mut row = emu
        .tenant()
        .transcript_row(i, Some(T0 - time::Duration::hours(2)))
        .unwrap();
    let content = serde_json::json!({"activities": [
        {"id": "1", "type": "message", "timestamp": 1_772_400_000, "from": {"id": "u", "role": 1}, "text": question},
        {"id": "2", "type": "message", "timestamp": 1_772_400_001, "from": {"id": "b", "role": 0}, "text": answer, "replyToId": "1"},
    ]});
    row.insert(
        "content".into(),
        serde_json::Value::String(content.to_string()),
    );
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_records_are_split_to_the_request_limit_and_an_oversized_one_is_reported() {
    let clock = clock();
    let emu = emulator(&clock, 20).await;
    // 30 answers of 400 KB: one batch of them would be over the service's 10 MB request limit.
    let answer = "a".repeat(400_000);
    let mut rows: Vec<_> = (0..30)
        .map(|i| row_with_exchange(&emu, 6000 + i, "summarise this", &answer))
        .collect();
    // A 5.5 MB question is over the 5 MB per-string limit: it can never be delivered.
    let huge = row_with_exchange(&emu, 7000, &"q".repeat(5_500_000), "ok");
    let huge_id = huge["conversationtranscriptid"]
        .as_str()
        .unwrap()
        .to_owned();
    rows.push(huge);
    emu.add_transcript_rows(rows).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let summary = pass(&c).await.unwrap();
    assert_eq!(summary.records_skipped.len(), 1, "{summary:?}");
    assert_eq!(summary.records_skipped[0].transcript_id, huge_id);
    assert!(
        summary.records_skipped[0].reason.contains("string limit"),
        "{summary:?}"
    );
    let big = ingested_counts(&emu)
        .keys()
        .filter(|p| !p.contains(&huge_id))
        .count();
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..20));
    assert_eq!(big, expected.len() + 30);
    assert!(ingested_counts(&emu).values().all(|n| *n == 1));
    assert!(emu.ingestion().batches() > summary.records_delivered.div_ceil(50));
    // The next pass neither resends nor reports it again.
    let again = pass(&c).await.unwrap();
    assert_eq!(again.records_delivered, 0);
    assert!(again.records_skipped.is_empty());
}

/// Passes every batch to `inner`; before the first one, runs `before_first` (a write to
/// Dataverse in the middle of the pass).
struct Tap {
    inner: Box<dyn connector::sink::Sink>,
    before_first: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap")
    }
}

#[async_trait::async_trait]
impl connector::sink::Sink for Tap {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn deliver(
        &self,
        records: &[connector::sink::RecordJson],
    ) -> Result<(), connector::sink::SinkError> {
        let hook = self.before_first.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.deliver(records).await
    }
    fn limits(&self) -> connector::sink::SinkLimits {
        self.inner.limits()
    }
}

fn iso(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_timestamps_across_pages_late_commits_and_mid_pass_changes_are_all_delivered() {
    let clock = clock();
    let emu = emulator(&clock, 30).await;
    // 40 rows written in the same second: pages of 7 cut through them several times.
    let tie = T0 - time::Duration::hours(3);
    let tied: Vec<_> = (0..40)
        .map(|i| {
            let mut row = emu
                .tenant()
                .transcript_row(8000 + i, Some(tie - time::Duration::hours(1)))
                .unwrap();
            row.insert("createdon".into(), iso(tie).into());
            row.insert("modifiedon".into(), iso(tie).into());
            row
        })
        .collect();
    let first_tied = tied[0].clone();
    emu.add_transcript_rows(tied).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("COPILOT_CONNECTOR_PAGE_SIZE", "7")],
    );
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);

    // During the first pass, an already-read row gets a new version (modifiedon = now).
    let changed_id = first_tied["conversationtranscriptid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut changed = row_with_exchange(&emu, 8000, "changed mid-pass", "noted");
    changed.insert("conversationtranscriptid".into(), changed_id.clone().into());
    changed.insert("createdon".into(), iso(tie).into());
    changed.insert("modifiedon".into(), iso(T0).into());
    let emu_for_hook = emu.dataverse().clone();
    let sink = Tap {
        inner: c.sink_from_config().await.unwrap(),
        before_first: std::sync::Mutex::new(Some(Box::new(move || {
            emu_for_hook
                .insert_rows("conversationtranscripts", [changed])
                .unwrap();
        }))),
    };
    let mut store = c.open_state().unwrap();
    let first = c
        .ingest_once(
            &mut store,
            &sink,
            connector::ingest::StopSignal::new(),
            None,
        )
        .await
        .unwrap();
    assert!(first.transcripts_read >= 70, "{first:?}");
    let watermark = time::OffsetDateTime::parse(
        first.checkpoint_after.as_deref().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();

    // A row committed late: its modifiedon is 10 minutes before the checkpoint.
    let late = row_with_exchange(&emu, 9000, "written late", "still delivered");
    let late_id = late["conversationtranscriptid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut late = late;
    late.insert(
        "modifiedon".into(),
        iso(watermark - time::Duration::minutes(10)).into(),
    );
    emu.add_transcript_rows(vec![late]).unwrap();
    drop(store);
    let second = pass(&c).await.unwrap();
    assert!(second.records_delivered >= 1, "{second:?}");

    let records = emu.ingestion().records();
    let texts: Vec<String> = records
        .iter()
        .map(|r| serde_json::Value::Object(r.clone()).to_string())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&changed_id) && t.contains("changed mid-pass")),
        "the version written during the pass was not delivered"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&late_id) && t.contains("written late")),
        "the row committed late inside the overlap was not delivered"
    );
    // Every other pair exactly once.
    let mut expected = expected_paths(
        &emu,
        emu.tenant().transcript_rows(0..30).chain((1..40).map(|i| {
            let mut row = emu
                .tenant()
                .transcript_row(8000 + i, Some(tie - time::Duration::hours(1)))
                .unwrap();
            row.insert("createdon".into(), iso(tie).into());
            row
        })),
    );
    expected.sort();
    let counts = ingested_counts(&emu);
    for p in &expected {
        assert_eq!(counts.get(p), Some(&1), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_on_the_ingestion_service_resend_only_the_cut_batches() {
    let clock = clock();
    let emu = emulator(&clock, 250).await;
    // A cut after the service took a batch cannot be told from a lost batch: the batch is sent
    // again. Everything arrives, and only the cut batches twice.
    emu.set_faults(
        FaultConfig::none()
            .with_drop_rate(0.15)
            .with_targets(FaultTargets::new(false, true, false)),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let summary = pass(&c).await.unwrap();
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..250));
    let counts = ingested_counts(&emu);
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), expected);
    let cut = emu.ingestion().batches() - summary.batches_delivered;
    assert!(cut > 0, "no connection was cut");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= cut as usize * 50,
        "{duplicates} duplicates from {cut} cut batches"
    );
}

/// The Akto sink without its size limits: what the service refuses is learnt from its answers.
#[derive(Debug)]
struct WithoutLimits(Box<dyn connector::sink::Sink>);

#[async_trait::async_trait]
impl connector::sink::Sink for WithoutLimits {
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn deliver(
        &self,
        records: &[connector::sink::RecordJson],
    ) -> Result<(), connector::sink::SinkError> {
        self.0.deliver(records).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_service_refuses_with_422_is_isolated_and_the_rest_delivered() {
    let clock = clock();
    let emu = emulator(&clock, 60).await;
    let huge = row_with_exchange(&emu, 7000, "fine", &"z".repeat(5_300_000));
    let huge_id = huge["conversationtranscriptid"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.add_transcript_rows(vec![huge]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let sink = WithoutLimits(c.sink_from_config().await.unwrap());
    let mut store = c.open_state().unwrap();
    let summary = c
        .ingest_once(
            &mut store,
            &sink,
            connector::ingest::StopSignal::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(summary.records_skipped.len(), 1, "{summary:?}");
    assert_eq!(summary.records_skipped[0].transcript_id, huge_id);
    assert!(
        summary.records_skipped[0].reason.contains("422"),
        "{summary:?}"
    );
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..60));
    assert_exactly_once(&emu, &expected);
}

/// The rows of `rows` grouped by session (`name`, `conversationstarttime`), split sessions
/// (more than one row) only, each in `BatchId` order.
fn split_sessions(
    rows: &[tenant_emulator::generate::Row],
) -> Vec<Vec<tenant_emulator::generate::Row>> {
    let mut groups: std::collections::BTreeMap<
        (String, String),
        Vec<tenant_emulator::generate::Row>,
    > = Default::default();
    for row in rows {
        let key = (
            row["name"].as_str().unwrap().to_owned(),
            row["conversationstarttime"].as_str().unwrap().to_owned(),
        );
        groups.entry(key).or_default().push(row.clone());
    }
    groups.into_values().filter(|g| g.len() > 1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_sessions_across_pages_and_passes_are_delivered_whole_exactly_once() {
    let clock = clock();
    let emu = emulator(&clock, 400).await;
    let generated: Vec<_> = emu.tenant().transcript_rows(0..400).collect();
    assert_eq!(
        split_sessions(&generated).len(),
        10,
        "one split session per 40 rows"
    );
    let dir = tempfile::tempdir().unwrap();
    // Pages of 7 rows: split sessions fall across pages.
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("COPILOT_CONNECTOR_PAGE_SIZE", "7")],
    );
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let first = pass(&c).await.unwrap();
    let mut expected = expected_paths(&emu, generated);
    assert_exactly_once(&emu, &expected);
    assert_eq!(first.pairs_held, 0, "{first:?}");
    // Their parts are written one after another, so a later page of the same pass brings
    // them, and sessions that simply end with a prompt are settled: no query for those. (A
    // last part met after its earlier parts looked whole and were paired is one query: its
    // numbering gap is evidence; here one such session.)
    assert!(first.sibling_queries <= 1, "{first:?}");

    // A split session written in two passes, its last parts first.
    // One whose first part ends with a prompt (its reply opens the second part).
    let extra: Vec<_> = emu.tenant().transcript_rows(400..800).collect();
    let ends_with_prompt = |row: &tenant_emulator::generate::Row| {
        let content: serde_json::Value =
            serde_json::from_str(&emu.tenant().transcript_content(row).unwrap()).unwrap();
        content["activities"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|a| a["type"] == "message")
            .is_some_and(|a| a["from"]["role"] == 1)
    };
    let mut session = split_sessions(&extra)
        .into_iter()
        .find(|s| ends_with_prompt(&s[0]))
        .expect("a split session cut after a prompt");
    let now = |clock: &SharedManualClock| iso(client_core::Clock::now(&clock.0));
    for row in &mut session {
        row.insert("modifiedon".into(), now(&clock).into());
    }
    let first_part = session.remove(0);
    emu.add_transcript_rows(session.clone()).unwrap();
    let second = pass(&c).await.unwrap();
    // The reply opening part 2 waits for its prompt: part 2's pairs are held back.
    assert!(second.pairs_held > 0, "{second:?}");
    clock.0.advance(Duration::from_secs(300));
    let mut first_part = first_part;
    first_part.insert("modifiedon".into(), now(&clock).into());
    emu.add_transcript_rows(vec![first_part.clone()]).unwrap();
    let third = pass(&c).await.unwrap();
    assert_eq!(third.pairs_held, 0, "{third:?}");
    session.insert(0, first_part);
    expected.extend(expected_paths(&emu, session));
    expected.sort();
    // Exactly the pairs of the whole session, each once: no half-pair at either cut.
    assert_exactly_once(&emu, &expected);
    let fourth = pass(&c).await.unwrap();
    assert_eq!(fourth.records_delivered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcript_saved_again_sends_only_its_new_pairs() {
    let clock = clock();
    let emu = emulator(&clock, 40).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    let mut row = row_with_exchange(&emu, 7000, "first question", "first answer");
    emu.add_transcript_rows(vec![row.clone()]).unwrap();
    pass(&c).await.unwrap();
    let before = emu.ingestion().len();
    // Saved again: the same exchange and one more, a new version, modified now.
    clock.0.advance(Duration::from_secs(600));
    let content = serde_json::json!({"activities": [
        {"id": "1", "type": "message", "timestamp": 1_772_400_000, "from": {"id": "u", "role": 1}, "text": "first question"},
        {"id": "2", "type": "message", "timestamp": 1_772_400_001, "from": {"id": "b", "role": 0}, "text": "first answer", "replyToId": "1"},
        {"id": "3", "type": "message", "timestamp": 1_772_400_100, "from": {"id": "u", "role": 1}, "text": "second question"},
        {"id": "4", "type": "message", "timestamp": 1_772_400_101, "from": {"id": "b", "role": 0}, "text": "second answer", "replyToId": "3"},
    ]});
    row.insert("content".into(), content.to_string().into());
    row.insert(
        "modifiedon".into(),
        iso(client_core::Clock::now(&clock.0)).into(),
    );
    emu.dataverse()
        .insert_rows("conversationtranscripts", [row])
        .unwrap();
    let again = pass(&c).await.unwrap();
    assert_eq!(again.records_delivered, 1, "{again:?}");
    let records = emu.ingestion().records();
    assert_eq!(records.len(), before + 1);
    let last = serde_json::Value::Object(records[before].clone()).to_string();
    assert!(
        last.contains("second question") && last.contains("second answer"),
        "{last}"
    );
    assert!(!last.contains("first question"));
}

/// The text of the last (`last`) or first message of a generated row.
fn message_text(
    emu: &tenant_emulator::RunningEmulator,
    row: &tenant_emulator::generate::Row,
    last: bool,
) -> (i64, String) {
    let content: serde_json::Value =
        serde_json::from_str(&emu.tenant().transcript_content(row).unwrap()).unwrap();
    let acts = content["activities"].as_array().unwrap();
    let mut messages = acts.iter().filter(|a| a["type"] == "message");
    let m = if last {
        messages.next_back()
    } else {
        messages.next()
    }
    .unwrap();
    (
        m["from"]["role"].as_i64().unwrap(),
        m["text"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_sent_alone_after_the_split_settle_wait_is_completed_by_its_reply_alone() {
    let clock = clock();
    let emu = emulator(&clock, 40).await;
    let dir = tempfile::tempdir().unwrap();
    // The wait is a setting: two minutes here.
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("COPILOT_CONNECTOR_SPLIT_SETTLE", "2m")],
    );
    let (c, _) = connector(config(&env, Needs::Ingest), &clock);
    pass(&c).await.unwrap();
    let extra: Vec<_> = emu.tenant().transcript_rows(400..800).collect();
    let mut session = split_sessions(&extra)
        .into_iter()
        .find(|s| message_text(&emu, &s[0], true).0 == 1)
        .expect("a split session cut after a prompt");
    let (_, prompt) = message_text(&emu, &session[0], true);
    let (role, reply) = message_text(&emu, &session[1], false);
    assert_eq!(role, 0, "the second part opens with the reply");
    let now = |clock: &SharedManualClock| iso(client_core::Clock::now(&clock.0));
    let mut first = session.remove(0);
    first.insert("modifiedon".into(), now(&clock).into());
    emu.add_transcript_rows(vec![first.clone()]).unwrap();
    // Within the wait: the last prompt waits for its reply.
    let held = pass(&c).await.unwrap();
    assert_eq!(held.pairs_held, 1, "{held:?}");
    // Past the wait (3 minutes > 2), no row came: the prompt goes out without a reply.
    clock.0.advance(Duration::from_secs(180));
    let alone = pass(&c).await.unwrap();
    assert_eq!(
        (alone.pairs_held, alone.records_delivered),
        (0, 1),
        "{alone:?}"
    );
    // Then the rest of the session is written: only the reply goes out, under the same path.
    clock.0.advance(Duration::from_secs(60));
    for row in &mut session {
        row.insert("modifiedon".into(), now(&clock).into());
    }
    emu.add_transcript_rows(session.clone()).unwrap();
    let completed = pass(&c).await.unwrap();
    assert_eq!(completed.half_pairs_completed, 1, "{completed:?}");
    let records = emu.ingestion().records();
    let ids: Vec<String> = std::iter::once(&first)
        .chain(&session)
        .map(|r| r["conversationtranscriptid"].as_str().unwrap().to_owned())
        .collect();
    // Records of this session holding `text` in `field`.
    let payload_has = |field: &str, text: &str| -> Vec<String> {
        let quoted = serde_json::to_string(text).unwrap();
        records
            .iter()
            .filter(|r| {
                let path = r["path"].as_str().unwrap_or("");
                ids.iter().any(|id| path.contains(id.as_str()))
            })
            .filter(|r| {
                r[field]
                    .as_str()
                    .is_some_and(|p| p.contains(quoted.trim_matches('"')))
            })
            .map(|r| r["path"].as_str().unwrap().to_owned())
            .collect()
    };
    let prompt_paths = payload_has("requestPayload", &prompt);
    let reply_paths = payload_has("responsePayload", &reply);
    assert_eq!(prompt_paths.len(), 1, "the prompt went out once");
    assert_eq!(reply_paths.len(), 1, "the reply went out once");
    assert_eq!(
        prompt_paths, reply_paths,
        "both halves carry the pair's path"
    );
    // Every other pair of the session went out once, whole.
    session.insert(0, first);
    let mut expected = expected_paths(&emu, emu.tenant().transcript_rows(0..40));
    expected.extend(expected_paths(&emu, session));
    expected.sort();
    let mut got: Vec<String> = records
        .iter()
        .filter(|r| !is_agent_record(r))
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want = expected.clone();
    want.push(prompt_paths[0].clone());
    want.sort();
    assert_eq!(
        got, want,
        "the completed pair's path twice (its two halves), every other once"
    );
    let again = pass(&c).await.unwrap();
    assert_eq!(again.records_delivered, 0, "{again:?}");
}

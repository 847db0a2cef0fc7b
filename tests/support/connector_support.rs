//! Shared helpers of the connector's end-to-end tests: an emulator on a manual clock shared
//! with the connector, configuration pointing at it, and the pairs the tenant should yield.

#![allow(dead_code, unreachable_pub)]

#[path = "binary.rs"]
pub mod binary;
#[path = "graph_jobs.rs"]
pub mod graph_jobs;

use client_core::ManualClock;
use connector::config::{Config, Needs, RawConfig};
use connector::ingest::{PassSummary, StopSignal};
use connector::{Connector, ConnectorError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tenant_emulator::RunningEmulator;
use tenant_emulator::clock::{Clock as EmulatorClock, Sleep};
use time::OffsetDateTime;
use time::macros::datetime;

/// The start of every test's manual time (noon, so generated rows are all in the past).
pub const T0: OffsetDateTime = datetime!(2026-03-02 12:00 UTC);

/// One clock for both sides: the connector's backoff sleeps move the emulator's time too, so
/// outages end and Retry-After waits pass without real waiting.
#[derive(Clone, Debug)]
pub struct SharedManualClock(pub ManualClock);

impl EmulatorClock for SharedManualClock {
    fn now(&self) -> OffsetDateTime {
        client_core::Clock::now(&self.0)
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        self.0.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

pub fn clock() -> SharedManualClock {
    SharedManualClock(ManualClock::new(T0))
}

/// Settings as Akto's job would pass them, pointing at `emulator`, plus `extra`.
pub fn env_for(
    emulator: &RunningEmulator,
    state: &std::path::Path,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let creds = emulator.credentials();
    let mut env: HashMap<String, String> = [
        (
            "DATAVERSE_ENVIRONMENT_URL",
            emulator.environment_url().to_owned(),
        ),
        ("DATAVERSE_TENANT_ID", creds.tenant_id.to_string()),
        ("DATAVERSE_CLIENT_ID", creds.client_id.to_string()),
        ("DATAVERSE_CLIENT_SECRET", creds.client_secret.clone()),
        ("AZURE_AUTHORITY_HOST", emulator.authority_host().to_owned()),
        (
            "DATA_INGESTION_SERVICE_URL",
            emulator.ingestion_url().to_owned(),
        ),
        ("AKTO_ACCOUNT_ID", "1000000".to_owned()),
        ("COPILOT_CONNECTOR_STATE", state.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        if v.is_empty() {
            env.remove(*k);
        } else {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    env
}

pub fn config(env: &HashMap<String, String>, needs: Needs) -> Config {
    Config::from_raw(&RawConfig::from_env(|k| env.get(k).cloned()), needs)
        .expect("valid configuration")
}

pub fn connector(
    config: Config,
    clock: &SharedManualClock,
) -> (Connector, client_core::SharedCredential) {
    let shared: client_core::SharedClock = Arc::new(clock.0.clone());
    let credential =
        connector::credential::from_config(&config, shared.clone()).expect("credential");
    let c = Connector::builder(config, credential.clone())
        .clock(shared)
        .build()
        .expect("connector");
    (c, credential)
}

/// One `ingest --once` pass to the configured sink.
pub async fn pass(c: &Connector) -> Result<PassSummary, ConnectorError> {
    let mut store = c.open_state()?;
    let sink = c.sink_from_config().await?;
    c.ingest_once(&mut store, sink.as_ref(), StopSignal::new(), None)
        .await
}

/// The record paths the emulator's transcripts should produce, computed without the
/// connector: the generator's rows and content, grouped into sessions (rows sharing `name`
/// and `conversationstarttime`, as a session split across rows is written) and paired by
/// `transcript-model`, each pair named by the row holding its first message.
pub fn expected_paths(
    emulator: &RunningEmulator,
    rows: impl IntoIterator<Item = tenant_emulator::generate::Row>,
) -> Vec<String> {
    let tenant = emulator.tenant();
    let transcripts: Vec<transcript_model::Transcript> = rows
        .into_iter()
        .map(|mut row| {
            if let Some(content) = tenant.transcript_content(&row) {
                row.insert("content".into(), serde_json::Value::String(content));
            }
            transcript_model::Transcript::from_value(&serde_json::Value::Object(row))
                .expect("generated rows parse")
        })
        .collect();
    let mut paths = Vec::new();
    for session in transcript_model::sessions(&transcripts) {
        let paired = session.pair(&transcript_model::PairOptions::new());
        for p in &paired.pairs {
            paths.push(format!(
                "/copilot/conversation/{}/message/{}",
                paired.rows[p.row].id, p.pair.index
            ));
        }
    }
    paths.sort();
    paths
}

/// How many times each conversation pair's path was ingested (agent inventory records,
/// `/copilot/bot/{id}`, are left out: see [`ingested_agent_paths`]).
pub fn ingested_counts(emulator: &RunningEmulator) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in emulator
        .ingestion()
        .records()
        .into_iter()
        .filter(|r| !is_agent_record(r))
    {
        let path = r
            .get("path")
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_owned();
        *counts.entry(path).or_insert(0) += 1;
    }
    counts
}

/// Asserts every expected path was ingested exactly once and nothing else was.
pub fn assert_exactly_once(emulator: &RunningEmulator, expected: &[String]) {
    let counts = ingested_counts(emulator);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered more than once: {:?}",
        &twice[..twice.len().min(5)]
    );
    let got: Vec<String> = counts.into_keys().collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "delivered {} distinct pairs, expected {}",
        got.len(),
        expected.len()
    );
    assert_eq!(got, expected);
}

/// Whether an ingested record is an agent inventory record.
pub fn is_agent_record(record: &serde_json::Map<String, serde_json::Value>) -> bool {
    record
        .get("path")
        .and_then(|p| p.as_str())
        .is_some_and(|p| p.starts_with("/copilot/bot/"))
}

/// The paths of the agent inventory records ingested, in arrival order.
pub fn ingested_agent_paths(emulator: &RunningEmulator) -> Vec<String> {
    emulator
        .ingestion()
        .records()
        .into_iter()
        .filter(is_agent_record)
        .filter_map(|r| r.get("path").and_then(|p| p.as_str()).map(str::to_owned))
        .collect()
}

/// The app credential the connector signs in with against `emulator` (its settings as
/// [`env_for`] writes them), on `clock`, and that clock as the clients take it.
pub fn sign_in(
    emulator: &RunningEmulator,
    clock: &SharedManualClock,
) -> (client_core::SharedCredential, client_core::SharedClock) {
    let env = env_for(emulator, &std::env::temp_dir().join("unused.db"), &[]);
    let sign_in =
        connector::config::SignIn::from_raw(&RawConfig::from_env(|k| env.get(k).cloned()))
            .expect("valid sign-in settings");
    let shared: client_core::SharedClock = Arc::new(clock.0.clone());
    let credential =
        connector::credential::from_sign_in(&sign_in, shared.clone()).expect("credential");
    (credential, shared)
}

/// A Dataverse client of `emulator`'s default environment, signed in as the connector.
pub fn dataverse(
    emulator: &RunningEmulator,
    clock: &SharedManualClock,
) -> dataverse_client::DataverseClient {
    let (credential, shared) = sign_in(emulator, clock);
    dataverse_client::DataverseClient::builder(emulator.environment_url(), credential)
        .expect("an emulator URL")
        .clock(shared)
        .build()
        .expect("a client")
}

/// An emulated tenant from `seed` with `agents` agents and `transcripts` transcripts.
pub async fn seeded(seed: u64, agents: usize, transcripts: usize) -> RunningEmulator {
    tenant_emulator::Emulator::builder()
        .seed(seed)
        .agents(agents)
        .transcripts(transcripts)
        .start()
        .await
        .expect("the emulator starts")
}

/// `inventory scan` of `emulator`'s default environment alone (no inventory API), upserting
/// into its tables in change sets of `change_set`, with the document and the scan state in
/// `dir`, then `extra`.
pub fn upsert_scan_args(
    emulator: &RunningEmulator,
    dir: &std::path::Path,
    change_set: usize,
    extra: &[&str],
) -> Vec<String> {
    let url = emulator.environment_url().to_owned();
    let mut args: Vec<String> = [
        "inventory",
        "scan",
        "--environment",
        &url,
        "--inventory-source",
        "none",
        "--inventory-url",
        &url,
        "--change-set",
        &change_set.to_string(),
        "--output",
        &dir.join("inventory.json").display().to_string(),
        "--inventory-state",
        &dir.join("inv.db").display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// `builder`'s tenant, with the connector app over-privileged in the default environment and
/// the eight inventory tables created there by `inventory schema apply`'s code: an inventory
/// environment to scan into with `--inventory-url`.
pub async fn with_inventory_tables(
    builder: tenant_emulator::EmulatorBuilder,
    clock: &SharedManualClock,
) -> RunningEmulator {
    let emulator = builder
        .connector_access(tenant_emulator::entra::DataverseAccess::OverPrivileged)
        .start()
        .await
        .expect("the emulator starts");
    connector::inventory::schema::apply(&dataverse(&emulator, clock))
        .await
        .expect("the inventory tables are created");
    emulator
}

/// Points `env` at `emulator`'s tenant inventory services (`POWER_PLATFORM_API_URL`,
/// `BAP_API_URL`, `ARM_URL`), as a private cloud would.
pub fn with_inventory_services(env: &mut HashMap<String, String>, emulator: &RunningEmulator) {
    for k in ["POWER_PLATFORM_API_URL", "BAP_API_URL", "ARM_URL"] {
        env.insert(k.to_owned(), emulator.inventory_url().to_owned());
    }
}

/// Renames one custom topic of `emulator`'s default environment and gives it new text, as a
/// maker editing it would; returns its agent's id, lower case.
pub fn change_one_topic(emulator: &RunningEmulator) -> String {
    let mut component = emulator
        .tenant()
        .component_rows()
        .into_iter()
        .find(|c| {
            c["componenttype"] == 9
                && c["schemaname"]
                    .as_str()
                    .is_some_and(|s| s.contains(".topic."))
        })
        .expect("the tenant has a custom topic");
    let agent = component["_parentbotid_value"]
        .as_str()
        .expect("a topic has its agent")
        .to_ascii_lowercase();
    component.insert(
        "name".into(),
        serde_json::Value::String("Renamed by the test".into()),
    );
    let data = component["data"].as_str().unwrap_or_default().replace(
        "kind: AdaptiveDialog",
        "kind: AdaptiveDialog\nmodelDescription: \"changed by the test\"",
    );
    component.insert("data".into(), serde_json::Value::String(data));
    emulator
        .dataverse()
        .insert_rows("botcomponents", [component])
        .expect("the component is saved");
    agent
}

/// Reads every row of the eight tables back from the emulator, as the model's rows.
pub async fn read_back(
    emu: &RunningEmulator,
    clock: &SharedManualClock,
) -> inventory_model::InventoryRows {
    use futures::TryStreamExt;
    use inventory_model::{Encoding, InventoryRow};
    let dv = dataverse(emu, clock);
    async fn table<R: InventoryRow>(dv: &dataverse_client::DataverseClient) -> Vec<R> {
        let rows: Vec<serde_json::Value> = dv
            .rows::<serde_json::Value>(&dv.query(R::TABLE.entity_set_name))
            .try_collect()
            .await
            .unwrap();
        let mut out: Vec<R> = rows
            .iter()
            .map(|r| R::from_json(r.as_object().unwrap(), Encoding::Dataverse).unwrap())
            .collect();
        out.sort_by_key(|r| r.key_values());
        out
    }
    let mut r = inventory_model::InventoryRows::default();
    r.agents = table(&dv).await;
    r.environments = table(&dv).await;
    r.features = table(&dv).await;
    r.auth_shares = table(&dv).await;
    r.usage = table(&dv).await;
    r.billing = table(&dv).await;
    r.work_iq = table(&dv).await;
    r.compliance = table(&dv).await;
    r
}

/// `r` with every table's rows in key order, as [`read_back`] gives them.
pub fn sorted(mut r: inventory_model::InventoryRows) -> inventory_model::InventoryRows {
    use inventory_model::InventoryRow;
    r.agents.sort_by_key(|x| x.key_values());
    r.environments.sort_by_key(|x| x.key_values());
    r.features.sort_by_key(|x| x.key_values());
    r.auth_shares.sort_by_key(|x| x.key_values());
    r.usage.sort_by_key(|x| x.key_values());
    r.billing.sort_by_key(|x| x.key_values());
    r.work_iq.sort_by_key(|x| x.key_values());
    r.compliance.sort_by_key(|x| x.key_values());
    r
}

/// Runs `command` (an `inventory scan --inventory-url` of `emulator`'s default environment) to
/// a successful end and asserts it wrote nothing there: what a converged inventory must do.
pub async fn assert_a_run_writes_nothing(
    emulator: &RunningEmulator,
    mut command: tokio::process::Command,
) {
    let before = emulator.dataverse().request_counts().writes;
    let out = command.output().await.expect("the binary starts");
    binary::assert_exit(&out, 0);
    assert_eq!(
        emulator.dataverse().request_counts().writes,
        before,
        "a scan after convergence wrote"
    );
}

/// Scan options whose three inventory services (Power Platform API, admin list, Resource
/// Graph) all point at `emulator`, reading the tenant inventory from `source`.
pub fn emulator_scan_options(
    emulator: &RunningEmulator,
    source: connector::inventory::tenant::InventorySourceChoice,
) -> connector::inventory::scan::ScanOptions {
    let base: url::Url = emulator
        .inventory_url()
        .parse()
        .expect("the emulator's URL");
    let mut o = connector::inventory::scan::ScanOptions::default();
    o.inventory_source = source;
    o.endpoints.power_platform = Some(base.clone());
    o.endpoints.bap = Some(base.clone());
    o.endpoints.arm = Some(base);
    o
}

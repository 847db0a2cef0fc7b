//! `demo`: the whole job against a generated tenant on an in-process emulator, with nothing
//! to install or configure.

use crate::config::{Config, Needs, RawConfig, keys};
use crate::connector::{Connector, ConnectorError};
use crate::doctor::{self, Report};
use crate::ingest::{PassSummary, StopSignal};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tenant_emulator::Emulator;

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DemoOutcome {
    /// The emulator's address (gone once the demo returns).
    pub emulator_url: String,
    /// Agents in the generated tenant.
    pub agents: usize,
    /// Transcripts in the generated tenant.
    pub transcripts: usize,
    /// The doctor's checklist.
    pub doctor: Report,
    /// The ingestion pass.
    pub pass: PassSummary,
    /// Records the emulator's ingestion endpoint accepted.
    pub records_ingested: usize,
    /// The JSON Lines file of those records.
    pub records_file: PathBuf,
    /// The summary file.
    pub summary_file: PathBuf,
    /// The Microsoft 365 Copilot pass (Graph interaction export).
    pub m365: crate::m365::M365Summary,
    /// The JSON Lines file of the Microsoft 365 Copilot records.
    pub m365_records_file: PathBuf,
}

/// A failed demo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The emulator did not start.
    #[error("the tenant emulator did not start: {0}")]
    Emulator(#[from] tenant_emulator::EmulatorError),
    /// The connector failed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The Microsoft 365 Copilot pass failed.
    #[error(transparent)]
    M365(#[from] crate::m365::M365Error),
    /// The configuration pointing at the emulator was refused (a bug).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The output directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Starts an emulator with `agents` agents and `transcripts` transcripts, runs `doctor` and
/// one ingestion pass against it (delivering to its Akto stand-in), and writes the accepted
/// records to `out/pairs.jsonl` and a summary to `out/summary.json`. Each demo starts from a
/// fresh checkpoint (`out/state.db`).
pub async fn run(out: &Path, agents: usize, transcripts: usize) -> Result<DemoOutcome, DemoError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let state = out.join("state.db");
    // Refused (Locked) while another demo runs here; otherwise start from a clean checkpoint.
    // The lock file itself stays: removing it would break a lock someone might take meanwhile.
    drop(crate::state::StateStore::open(&state, "demo").map_err(ConnectorError::from)?);
    for stale in [
        state.clone(),
        out.join("state.db-wal"),
        out.join("state.db-shm"),
    ] {
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(io(&stale))?;
        }
    }

    let emulator = Emulator::builder()
        .seed(7)
        .agents(agents)
        .transcripts(transcripts)
        .start()
        .await?;
    let creds = emulator.credentials();
    let mut raw = RawConfig::new();
    raw.set_flag(keys::ENVIRONMENT_URL, Some(emulator.environment_url()));
    raw.set_flag(keys::TENANT_ID, Some(creds.tenant_id.to_string()));
    raw.set_flag(keys::CLIENT_ID, Some(creds.client_id.to_string()));
    raw.set_flag(keys::CLIENT_SECRET, Some(creds.client_secret.clone()));
    raw.set_flag(keys::AUTHORITY_HOST, Some(emulator.authority_host()));
    raw.set_flag(keys::INGESTION_URL, Some(emulator.ingestion_url()));
    raw.set_flag(keys::STATE, Some(state.display().to_string()));
    let config = Config::from_raw(&raw, Needs::Ingest)?;
    let clock = client_core::system_clock();
    let credential = crate::credential::from_config(&config, clock.clone())?;
    let connector = Connector::builder(config, credential.clone())
        .clock(clock)
        .build()?;

    let report = doctor::run(&connector, &credential).await;
    let mut store = connector.open_state()?;
    let sink = connector.sink_from_config().await?;
    let pass = connector
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new(), None)
        .await?;
    drop(store);

    let records = emulator.ingestion().records();
    let records_file = out.join("pairs.jsonl");
    let mut text = String::new();
    for r in &records {
        text.push_str(&serde_json::Value::Object(r.clone()).to_string());
        text.push('\n');
    }
    std::fs::write(&records_file, text).map_err(io(&records_file))?;

    // Microsoft 365 Copilot: the same destination, fed from the emulator's Graph.
    let m365 = {
        let settings = crate::config::SharedSettings::from_raw(&raw, Needs::Ingest)?;
        let job = crate::m365::M365Job::new(
            settings,
            crate::m365::M365Options {
                graph_url: Some(emulator.graph_url().to_owned()),
                users: emulator
                    .graph()
                    .users()
                    .into_iter()
                    .filter(|u| !u.licensed)
                    .map(|u| u.id)
                    .collect(),
                ..crate::m365::M365Options::default()
            },
            None,
            credential.clone(),
            client_core::system_clock(),
        )?;
        let mut store = job.open_state()?;
        let sink = job.sink().await?;
        job.ingest_once(&mut store, sink.as_ref(), StopSignal::new())
            .await?
    };
    let m365_records_file = out.join("m365-pairs.jsonl");
    let mut text = String::new();
    for r in emulator.ingestion().records().iter().skip(records.len()) {
        text.push_str(&serde_json::Value::Object(r.clone()).to_string());
        text.push('\n');
    }
    std::fs::write(&m365_records_file, text).map_err(io(&m365_records_file))?;
    let outcome = DemoOutcome {
        emulator_url: emulator.base_url().to_owned(),
        agents,
        transcripts,
        doctor: report,
        pass,
        records_ingested: records.len(),
        records_file,
        summary_file: out.join("summary.json"),
        m365,
        m365_records_file,
    };
    let summary = serde_json::to_string_pretty(&outcome).unwrap_or_default();
    std::fs::write(&outcome.summary_file, summary).map_err(io(&outcome.summary_file))?;
    emulator.shutdown().await;
    Ok(outcome)
}

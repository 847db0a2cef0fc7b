//! `demo`: the whole job against a generated tenant on an in-process emulator, with nothing
//! to install or configure: doctor, one ingestion pass, the Microsoft 365 Copilot pass, and
//! the inventory scan of the tenant's environments with its HTML report.

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
    /// The inventory scan of every environment of the tenant.
    pub inventory: DemoInventory,
}

/// What the demo's inventory scan found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DemoInventory {
    /// `complete` or `partial` (the emulated tenant plants unreadable environments on purpose).
    pub status: crate::inventory::scan::ScanStatus,
    /// Environments in the tenant's admin list.
    pub environments: usize,
    /// Agents found.
    pub agents: usize,
    /// Posture findings over all agents.
    pub findings: usize,
    /// Coverage gaps (what could not be read, said rather than skipped).
    pub coverage_gaps: usize,
    /// The tenant inventory's source as read (`arg` when the resource query refused the
    /// demo's application, as the real service does).
    pub inventory_source: &'static str,
    /// Why the tenant inventory was read from another source than asked, with the fix.
    pub inventory_detail: Option<String>,
    /// The scan's rows, summary and postures (as `inventory scan --output` writes them).
    pub file: PathBuf,
    /// The self-contained HTML report (as `inventory report --output FILE.html` writes it).
    pub report_file: PathBuf,
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
    /// The inventory scan could not start (a bug: the emulator's URLs are known).
    #[error("the inventory scan could not start: {0}")]
    Inventory(#[from] crate::inventory::scan::ScanError),
    /// The scan's own document could not be reported (a bug).
    #[error("the inventory report failed: {0}")]
    Report(#[from] crate::inventory::report::ReportError),
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

/// Environments in the demo's tenant: the primary one, and others that show what the inventory
/// reports (one without Dataverse, one the app may not read).
pub const DEMO_ENVIRONMENTS: usize = 4;

/// Starts an emulator with [`DEMO_ENVIRONMENTS`] environments of `agents` agents and
/// `transcripts` transcripts each, runs `doctor` and one ingestion pass against the primary
/// one (delivering to its Akto stand-in), and writes the accepted records to `out/pairs.jsonl`
/// and a summary to `out/summary.json`; then scans every environment into the inventory
/// (`out/inventory.json`) and writes its report (`out/inventory-report.html`). Each demo starts
/// from a fresh checkpoint (`out/state.db`) and a fresh inventory scan.
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
        .environments(DEMO_ENVIRONMENTS)
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

    let inventory = scan_inventory(&emulator, credential.clone(), out).await?;
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
        inventory,
    };
    let summary = serde_json::to_string_pretty(&outcome).unwrap_or_default();
    std::fs::write(&outcome.summary_file, summary).map_err(io(&outcome.summary_file))?;
    emulator.shutdown().await;
    Ok(outcome)
}

/// `inventory scan --output out/inventory.json` and `inventory report --output
/// out/inventory-report.html` against the emulator's whole tenant: the admin environment list,
/// the Power Platform inventory, and each environment's Dataverse.
async fn scan_inventory(
    emulator: &tenant_emulator::RunningEmulator,
    credential: client_core::SharedCredential,
    out: &Path,
) -> Result<DemoInventory, DemoError> {
    use crate::inventory::report::{Format, RenderOptions, Report};
    use crate::inventory::scan::{Endpoints, PreviousScan, ScanOptions, Scanner};

    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    let base = url::Url::parse(emulator.inventory_url()).map_err(|e| {
        crate::inventory::scan::ScanError::Setup(format!("the emulator's inventory URL: {e}"))
    })?;
    let mut options = ScanOptions {
        endpoints: Endpoints {
            power_platform: Some(base.clone()),
            bap: Some(base.clone()),
            arm: Some(base),
        },
        ..ScanOptions::default()
    };
    // Agent identities from the emulator's directory, as `inventory scan` reads them by default.
    options.identity.choice = crate::inventory::identity::IdentityChoice::Graph;
    options.identity.graph_url = url::Url::parse(emulator.graph_url()).ok();
    let result = Scanner::new(credential, client_core::system_clock(), options)
        .scan(&PreviousScan::default(), None)
        .await?;
    let doc = crate::inventory::output::document(&result);
    let file = out.join("inventory.json");
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    std::fs::write(&file, text).map_err(io(&file))?;
    let report_file = out.join("inventory-report.html");
    // The report is built from the written document, exactly as `inventory report --input` does.
    let html =
        Report::from_document(&doc).map(|r| r.render(Format::Html, &RenderOptions::default()))?;
    std::fs::write(&report_file, html).map_err(io(&report_file))?;
    let s = &result.summary;
    Ok(DemoInventory {
        status: s.status,
        environments: s.environments.len(),
        agents: s.agents,
        findings: s.findings,
        coverage_gaps: s.coverage_gaps.len(),
        inventory_source: s.layers.tenant_inventory.source.unwrap_or("none"),
        inventory_detail: s.layers.tenant_inventory.detail.clone(),
        file,
        report_file,
    })
}

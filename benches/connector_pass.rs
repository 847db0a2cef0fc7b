//! One `copilot-connector ingest --once` pass over 10,000 transcripts on the tenant emulator
//! with 20 ms added to every request (token endpoint, Dataverse, ingestion): wall time,
//! requests made and the connector process's peak memory.
//!
//! Run: `cargo bench -p connector --bench connector_pass` (options: `-- --transcripts N
//! --latency-ms MS --page-size N --in-flight N --batch-size N`; without them, the connector's
//! defaults). The connector runs as its own process (the release
//! binary), so its peak resident memory (VmHWM) is measured apart from the emulator's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

use std::process::Stdio;
use std::time::{Duration, Instant};
use tenant_emulator::Emulator;
use tenant_emulator::faults::FaultConfig;
use tokio::io::{AsyncBufReadExt, BufReader};

#[path = "support/child_process.rs"]
mod child_process;

use child_process::{flag as arg, mib, wait_with_peak_rss};

/// What a `response` debug line (inside the pipeline's `http{method path}` span) was for.
fn request_kind(line: &str) -> &'static str {
    if line.contains("/oauth2/") {
        "token"
    } else if line.contains("/api/ingestData") {
        "ingestion batches"
    } else if line.contains("conversationtranscripts") {
        "transcript reads"
    } else if line.contains("/bots") {
        "agents"
    } else if line.contains("WhoAmI") {
        "WhoAmI"
    } else {
        "other"
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let transcripts = arg("--transcripts", if quick { 200 } else { 10_000 }) as usize;
    let latency = arg("--latency-ms", 20);
    // Without `--page-size`, the connector's default.
    let page_size = std::env::args()
        .position(|a| a == "--page-size")
        .map(|_| arg("--page-size", 0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let emu = Emulator::builder()
            .seed(42)
            .agents(50)
            .transcripts(transcripts)
            .faults(FaultConfig::none().with_latency(Duration::from_millis(latency)))
            .start()
            .await
            .unwrap();
        let creds = emu.credentials().clone();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_copilot-connector"));
        cmd.args(["ingest", "--once", "--json"])
            .env_clear()
            .env("DATAVERSE_ENVIRONMENT_URL", emu.environment_url())
            .env("DATAVERSE_TENANT_ID", creds.tenant_id.to_string())
            .env("DATAVERSE_CLIENT_ID", creds.client_id.to_string())
            .env("DATAVERSE_CLIENT_SECRET", &creds.client_secret)
            .env("AZURE_AUTHORITY_HOST", emu.authority_host())
            .env("DATA_INGESTION_SERVICE_URL", emu.ingestion_url())
            .env("COPILOT_CONNECTOR_STATE", dir.path().join("state.db"))
            // One debug line per HTTP response: the request count.
            .env("RUST_LOG", "client_core=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(n) = page_size {
            cmd.env("COPILOT_CONNECTOR_PAGE_SIZE", n.to_string());
        }
        // Other settings, as given: `--in-flight N`, `--batch-size N`.
        for (flag, var) in [
            ("--in-flight", "COPILOT_CONNECTOR_IN_FLIGHT"),
            ("--batch-size", "COPILOT_CONNECTOR_BATCH_SIZE"),
        ] {
            if std::env::args().any(|a| a == flag) {
                cmd.env(var, arg(flag, 0).to_string());
            }
        }
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let counter = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut kinds: std::collections::BTreeMap<&'static str, u64> = Default::default();
            let mut retries = 0u64;
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains(" response ") || line.ends_with(" response") {
                    *kinds.entry(request_kind(&line)).or_default() += 1;
                }
                if line.contains("retrying") {
                    retries += 1;
                }
            }
            (kinds, retries)
        });
        let (status, peak) = wait_with_peak_rss(&mut child, Duration::from_millis(20)).await;
        let wall = started.elapsed();
        let (mut kinds, retries) = counter.await.unwrap();
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            use tokio::io::AsyncReadExt;
            out.read_to_string(&mut stdout).await.unwrap();
        }
        assert!(status.success(), "the pass failed: {status}");
        let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let records = summary["records_delivered"].as_u64().unwrap();
        let agents = summary["agent_records_delivered"].as_u64().unwrap();
        // Pairs and agent inventory records are counted apart: both reach the service.
        assert_eq!(
            (records + agents) as usize,
            emu.ingestion().len(),
            "every record reached the ingestion service"
        );
        // Sibling queries and pages are both GETs of conversationtranscripts.
        let siblings = summary["sibling_queries"].as_u64().unwrap_or(0);
        if let Some(reads) = kinds.get_mut("transcript reads") {
            *reads = reads.saturating_sub(siblings);
        }
        kinds.insert("sibling queries", siblings);
        let total: u64 = kinds.values().sum();
        let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "connector pass: {transcripts} transcripts, {latency} ms latency, page size {}: \
             {:.2} s wall, {total} HTTP requests ({}; {retries} retries), {records} pair records \
             in {} batches + {agents} agent records, peak RSS {:.1} MiB",
            page_size.unwrap_or(u64::from(connector::config::DEFAULT_PAGE_SIZE)),
            wall.as_secs_f64(),
            by_kind.join(", "),
            summary["batches_delivered"],
            mib(peak)
        );
    });
}

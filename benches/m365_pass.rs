//! The Microsoft 365 Copilot pass at scale: 1,000 licensed users with 50 interactions each,
//! 50 ms added to every emulator request (Entra, Graph, ingestion), 8 users at a time. Prints
//! wall time, Graph requests and peak memory (VmHWM) of a first pass and of a no-change pass.
//! Each pass runs in a child process (this program with `--child`), as `m365 ingest --once`
//! would, so its memory is measured apart from the emulator's (which holds every interaction).
//!
//! `cargo bench -p connector --bench m365_pass` (`M365_BENCH_USERS`, `M365_BENCH_PER_USER`,
//! `M365_BENCH_LATENCY_MS` override the sizes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use connector::config::{Needs, RawConfig, SharedSettings};
use connector::ingest::StopSignal;
use connector::m365::{M365Job, M365Options};
use std::time::{Duration, Instant};
use tenant_emulator::Emulator;
use tenant_emulator::faults::FaultConfig;
use tenant_emulator::graph::M365Spec;

#[path = "support/child_process.rs"]
mod child_process;

use child_process::{env_usize, mib, peak_rss_kib, wait_with_peak_rss};

/// One pass in this (child) process, as `m365 ingest --once` runs it; prints its summary.
async fn child() {
    let var = |k: &str| std::env::var(k).unwrap();
    let mut raw = RawConfig::new();
    use connector::config::keys;
    raw.set_flag(keys::TENANT_ID, Some(var("BENCH_TENANT_ID")));
    raw.set_flag(keys::CLIENT_ID, Some(var("BENCH_CLIENT_ID")));
    raw.set_flag(keys::CLIENT_SECRET, Some(var("BENCH_CLIENT_SECRET")));
    raw.set_flag(keys::AUTHORITY_HOST, Some(var("BENCH_AUTHORITY_HOST")));
    raw.set_flag(keys::INGESTION_URL, Some(var("BENCH_INGESTION_URL")));
    raw.set_flag(keys::STATE, Some(var("BENCH_STATE")));
    let settings = SharedSettings::from_raw(&raw, Needs::Ingest).unwrap();
    let clock = client_core::system_clock();
    let credential = connector::credential::from_settings(&settings, clock.clone()).unwrap();
    let options = M365Options {
        graph_url: Some(var("BENCH_GRAPH_URL")),
        ..M365Options::default()
    };
    let job = M365Job::new(settings, options, None, credential, clock).unwrap();
    let mut store = job.open_state().unwrap();
    let sink = job.sink().await.unwrap();
    let started = Instant::now();
    let s = job
        .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
        .await
        .unwrap();
    println!(
        "{{\"wall_s\": {:.3}, \"records\": {}, \"batches\": {}}}",
        started.elapsed().as_secs_f64(),
        s.records_delivered,
        s.batches
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::args().any(|a| a == "--child") {
        rt.block_on(child());
        return;
    }
    let users = env_usize("M365_BENCH_USERS", 1000);
    let per_user = env_usize("M365_BENCH_PER_USER", 50);
    let latency = env_usize("M365_BENCH_LATENCY_MS", 50) as u64;
    rt.block_on(async {
        let emu = Emulator::builder()
            .transcripts(0)
            .agents(1)
            .m365(M365Spec::new(users, per_user))
            .start()
            .await
            .unwrap();
        emu.set_faults(FaultConfig::none().with_latency(Duration::from_millis(latency)))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let creds = emu.credentials();
        for name in ["first pass", "no-change pass"] {
            let requests = emu.graph().requests_served();
            let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
                .arg("--child")
                .env("BENCH_TENANT_ID", creds.tenant_id.to_string())
                .env("BENCH_CLIENT_ID", creds.client_id.to_string())
                .env("BENCH_CLIENT_SECRET", &creds.client_secret)
                .env("BENCH_AUTHORITY_HOST", emu.authority_host())
                .env("BENCH_INGESTION_URL", emu.ingestion_url())
                .env("BENCH_GRAPH_URL", emu.graph_url())
                .env("BENCH_STATE", dir.path().join("s.db"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let (status, peak) = wait_with_peak_rss(&mut child, Duration::from_millis(10)).await;
            assert!(status.success(), "the pass failed");
            let mut out = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut child.stdout.take().unwrap(), &mut out)
                .await
                .unwrap();
            let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            println!(
                "m365 {name}: {users} users x {per_user} interactions, {latency} ms latency: {} s wall, {} Graph requests, {} records in {} batches, connector process peak RSS {:.1} MiB (emulator: {:.1} MiB)",
                report["wall_s"],
                emu.graph().requests_served() - requests,
                report["records"],
                report["batches"],
                mib(peak),
                mib(peak_rss_kib(std::process::id()).unwrap_or(0))
            );
        }
        emu.shutdown().await;
    });
}

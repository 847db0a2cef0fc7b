//! The Microsoft 365 Copilot pass at scale: 1,000 licensed users with 50 interactions each,
//! 50 ms added to every emulator request (Entra, Graph, ingestion), 8 users at a time. Prints
//! wall time, Graph requests and peak memory (VmHWM) of a first pass and of a no-change pass.
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

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let users = env_usize("M365_BENCH_USERS", 1000);
    let per_user = env_usize("M365_BENCH_PER_USER", 50);
    let latency = env_usize("M365_BENCH_LATENCY_MS", 50) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
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
        let mut raw = RawConfig::new();
        use connector::config::keys;
        raw.set_flag(keys::TENANT_ID, Some(creds.tenant_id.to_string()));
        raw.set_flag(keys::CLIENT_ID, Some(creds.client_id.to_string()));
        raw.set_flag(keys::CLIENT_SECRET, Some(creds.client_secret.clone()));
        raw.set_flag(keys::AUTHORITY_HOST, Some(emu.authority_host()));
        raw.set_flag(keys::INGESTION_URL, Some(emu.ingestion_url()));
        raw.set_flag(keys::STATE, Some(dir.path().join("s.db").display().to_string()));
        let settings = SharedSettings::from_raw(&raw, Needs::Ingest).unwrap();
        let clock = client_core::system_clock();
        let credential = connector::credential::from_parts(
            &settings.credential,
            settings.tenant_id.as_deref(),
            settings.client_id,
            &settings.authority_host,
            clock.clone(),
        )
        .unwrap();
        let options = M365Options {
            graph_url: Some(emu.graph_url().to_owned()),
            ..M365Options::default()
        };
        let job = M365Job::new(settings, options, None, credential, clock).unwrap();
        let mut store = job.open_state().unwrap();
        let sink = job.sink().await.unwrap();
        for name in ["first pass", "no-change pass"] {
            let requests = emu.graph().requests_served();
            let started = Instant::now();
            let s = job
                .ingest_once(&mut store, sink.as_ref(), StopSignal::new())
                .await
                .unwrap();
            println!(
                "m365 {name}: {users} users x {per_user} interactions, {latency} ms latency: {:.2} s wall, {} Graph requests, {} records in {} batches, peak RSS {:.1} MiB",
                started.elapsed().as_secs_f64(),
                emu.graph().requests_served() - requests,
                s.records_delivered,
                s.batches,
                peak_rss_mib()
            );
        }
        emu.shutdown().await;
    });
}

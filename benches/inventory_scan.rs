//! The inventory scan at scale: 50 environments of 40 agents (2,000 agents, about 40,000
//! components), 20 ms added to every emulator request, 10 environments at once. Prints, for
//! a first scan and a no-change rescan: wall time, Dataverse requests (each one page), the
//! ideal wall time (Dataverse requests x latency / concurrency) and the ratio to it, requests
//! per environment, and peak memory (VmHWM of the process, which also holds the emulator;
//! the RSS before the scan is printed beside it).
//!
//! `cargo bench -p connector --bench inventory_scan` (`INVENTORY_BENCH_ENVIRONMENTS`,
//! `INVENTORY_BENCH_AGENTS` per environment, `INVENTORY_BENCH_LATENCY_MS`,
//! `INVENTORY_BENCH_CONCURRENCY` override the sizes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::{Duration, Instant};

use connector::config::{RawConfig, keys};
use connector::inventory::scan::{PreviousScan, ScanOptions, Scanner};
use connector::inventory::tenant::InventorySourceChoice;
use tenant_emulator::Emulator;
use tenant_emulator::faults::FaultConfig;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let environments = env_usize("INVENTORY_BENCH_ENVIRONMENTS", 50);
    let agents = env_usize("INVENTORY_BENCH_AGENTS", 40);
    let latency = env_usize("INVENTORY_BENCH_LATENCY_MS", 20) as u64;
    let concurrency = env_usize("INVENTORY_BENCH_CONCURRENCY", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let setup = Instant::now();
        let emu = Emulator::builder()
            .seed(77)
            .agents(agents)
            .transcripts(20)
            .environments(environments)
            .start()
            .await
            .unwrap();
        emu.set_faults(FaultConfig::none().with_latency(Duration::from_millis(latency)))
            .unwrap();
        println!(
            "emulator: {environments} environments x {agents} agents, set up in {:.1} s",
            setup.elapsed().as_secs_f64()
        );
        let creds = emu.credentials();
        let mut raw = RawConfig::new();
        raw.set_flag(keys::TENANT_ID, Some(creds.tenant_id.to_string()));
        raw.set_flag(keys::CLIENT_ID, Some(creds.client_id.to_string()));
        raw.set_flag(keys::CLIENT_SECRET, Some(creds.client_secret.clone()));
        raw.set_flag(keys::AUTHORITY_HOST, Some(emu.authority_host()));
        let sign_in = connector::config::SignIn::from_raw(&raw).unwrap();
        let clock = client_core::system_clock();
        let credential = connector::credential::from_sign_in(&sign_in, clock.clone()).unwrap();
        let base: url::Url = emu.inventory_url().parse().unwrap();
        let mut options = ScanOptions::default();
        options.inventory_source = InventorySourceChoice::PowerPlatform;
        options.concurrency = concurrency;
        options.endpoints.power_platform = Some(base.clone());
        options.endpoints.bap = Some(base.clone());
        options.endpoints.arm = Some(base);
        let scanner = Scanner::new(credential, clock, options);

        let rss_before = status_kib("VmRSS:") / 1024.0;
        let mut previous = PreviousScan::default();
        for name in ["first scan", "no-change rescan"] {
            let started = Instant::now();
            let result = scanner.scan(&previous, None).await.unwrap();
            let wall = started.elapsed().as_secs_f64();
            let s = &result.summary;
            let scanned: Vec<_> = s
                .environments
                .iter()
                .filter(|e| e.outcome == "scanned")
                .collect();
            let requests: u64 = s.environments.iter().map(|e| e.requests).sum();
            let max_per_env = scanned.iter().map(|e| e.requests).max().unwrap_or(0);
            let components: usize = scanned.iter().map(|e| e.components).sum();
            let ideal = requests as f64 * latency as f64 / 1000.0 / concurrency as f64;
            println!(
                "inventory {name}: {} agents, {components} components, {} environments scanned: {wall:.2} s wall; {requests} Dataverse requests (ideal {ideal:.2} s, ratio {:.2}); per environment {:.1} mean / {max_per_env} max; {} rows changed; peak RSS {:.0} MiB (RSS before the first scan {rss_before:.0} MiB)",
                s.agents,
                scanned.len(),
                if ideal > 0.0 { wall / ideal } else { 0.0 },
                requests as f64 / scanned.len().max(1) as f64,
                scanned.iter().map(|e| e.changed_rows).sum::<usize>(),
                status_kib("VmHWM:") / 1024.0,
            );
            let mut p = PreviousScan::default();
            p.environments = result.environments.clone();
            p.rows = Some(result.inventory.rows.clone());
            previous = p;
        }
        emu.shutdown().await;
    });
}

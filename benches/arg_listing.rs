//! Listing every agent of a tenant of 10,000 agents in 100 environments through `arg-client`
//! (the admin environment list, then Resource Graph in pages of 1000), against the tenant
//! emulator with 50 ms added to every inventory request: HTTP requests made, wall time, and the
//! listing process's peak memory.
//!
//! Run: `cargo bench -p arg-client --bench arg_listing` (options: `-- --environments N
//! --agents-per-environment N --latency-ms MS`). The emulator runs in this process; the listing
//! runs in a child process (this program again, with `--child`), so its peak resident memory
//! (VmHWM, polled from /proc) is measured apart from the emulator's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arg_client::{ArgClient, InventorySource};
use entra_auth::{ClientSecretCredential, CredentialOptions};
use futures::TryStreamExt;
use tenant_emulator::Emulator;
use tenant_emulator::faults::FaultConfig;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

#[path = "support/child_process.rs"]
mod child_process;

use child_process::{flag as arg, mib, wait_with_peak_rss};

/// Counts HTTP responses: the pipeline logs one `response` event per attempt.
struct Responses(Arc<AtomicU64>);

struct IsResponse(bool);

impl Visit for IsResponse {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == "response" {
            self.0 = true;
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Responses {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut v = IsResponse(false);
        event.record(&mut v);
        if v.0 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The listing, in the child process: environments, then every agent, grouped per environment.
async fn child() {
    let count = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry().with(Responses(Arc::clone(&count)));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let var = |k: &str| std::env::var(k).unwrap();
    let base = var("BENCH_BASE_URL");
    let options = CredentialOptions::default().with_authority_host(url::Url::parse(&base).unwrap());
    let credential = ClientSecretCredential::new(
        var("BENCH_TENANT_ID"),
        var("BENCH_CLIENT_ID"),
        var("BENCH_CLIENT_SECRET"),
        options,
    )
    .unwrap();
    let client = ArgClient::builder(Arc::new(credential))
        .resource_graph_endpoint(&base)
        .power_platform_endpoint(&base)
        .admin_endpoint(&base)
        .build()
        .unwrap();
    let started = Instant::now();
    let environments: Vec<_> = client.environments().try_collect().await.unwrap();
    let agents: Vec<_> = client
        .agents(InventorySource::ResourceGraph)
        .try_collect()
        .await
        .unwrap();
    let mut per_env: std::collections::HashMap<&str, usize> = Default::default();
    for a in &agents {
        *per_env
            .entry(a.environment_id().unwrap_or_default())
            .or_default() += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "{{\"environments\": {}, \"agents\": {}, \"with_agents\": {}, \"requests\": {}, \"listing_ms\": {}}}",
        environments.len(),
        agents.len(),
        per_env.len(),
        count.load(Ordering::Relaxed),
        elapsed.as_millis()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::args().any(|a| a == "--child") {
        runtime.block_on(child());
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let environments = arg("--environments", if quick { 4 } else { 100 }) as usize;
    let per_env = arg("--agents-per-environment", if quick { 5 } else { 100 }) as usize;
    let latency = arg("--latency-ms", 50);
    runtime.block_on(async move {
        let started = Instant::now();
        let emu = Emulator::builder()
            .seed(42)
            .agents(per_env)
            .transcripts(0)
            .environments(environments)
            .faults(FaultConfig::none().with_latency(Duration::from_millis(latency)))
            .start()
            .await
            .unwrap();
        eprintln!(
            "emulator: {} environments, {} inventory rows, started in {} ms",
            emu.environments().len(),
            emu.inventory().rows().len(),
            started.elapsed().as_millis()
        );
        let creds = emu.credentials();
        let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap());
        cmd.arg("--child")
            .env("BENCH_BASE_URL", emu.base_url())
            .env("BENCH_TENANT_ID", creds.tenant_id.to_string())
            .env("BENCH_CLIENT_ID", creds.client_id.to_string())
            .env("BENCH_CLIENT_SECRET", &creds.client_secret)
            .stdout(std::process::Stdio::piped());
        let wall = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let (status, peak) = wait_with_peak_rss(&mut child, Duration::from_millis(10)).await;
        let wall = wall.elapsed();
        assert!(status.success(), "the listing failed");
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut child.stdout.take().unwrap(), &mut out)
            .await
            .unwrap();
        let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let expected_agents = emu
            .inventory()
            .rows()
            .iter()
            .filter(|r| r["type"] == "microsoft.copilotstudio/agents")
            .count();
        assert_eq!(report["agents"].as_u64(), Some(expected_agents as u64));
        println!(
            "arg_listing: {} agents in {} environments ({} with agents), {} ms added per inventory request: \
             {} HTTP requests, listing {} ms, child process wall {:.2} s, child peak RSS {:.1} MiB",
            report["agents"],
            report["environments"],
            report["with_agents"],
            latency,
            report["requests"],
            report["listing_ms"],
            wall.as_secs_f64(),
            mib(peak)
        );
        emu.shutdown().await;
    });
}

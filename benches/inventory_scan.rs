//! The inventory scan at scale: 50 environments of 40 agents (2,000 agents) with at least 20
//! components each (about 41,000 components), 20 ms added to every emulator request, 10
//! environments at once.
//!
//! The emulator runs in this process; each scan runs in a child process (this program with
//! `--child`) through the same code as `copilot-connector inventory scan --json --output FILE`,
//! with its state in a SQLite file as the command keeps it, so the scan's peak memory (the
//! child's VmHWM, read by the child itself just before it exits) is measured apart from the
//! emulator's. Three scans: a first scan, a no-change rescan, and a rescan after one component
//! of one agent changed. Prints, for each: wall time, Dataverse requests (each one page), the
//! ideal wall time (Dataverse requests x latency / concurrency) and the ratio to it, requests
//! per environment, rows upserted, agents rebuilt, the child's peak RSS and CPU seconds
//! (user + system), the emulator's CPU seconds during the scan, and the load average; then
//! the child's phases (`connector::inventory::phase`, what `-v` logs: opening the state,
//! begin_scan, the layers, build_inventory, the diff, the document and the state's commit),
//! each with its wall time and the process's CPU time meanwhile, and what is left of the
//! process's wall time (start-up, the emulator's side, the exit).
//!
//! `cargo bench -p connector --bench inventory_scan` (`INVENTORY_BENCH_ENVIRONMENTS`,
//! `INVENTORY_BENCH_AGENTS` per environment, `INVENTORY_BENCH_COMPONENTS` at least per agent,
//! `INVENTORY_BENCH_LATENCY_MS`, `INVENTORY_BENCH_CONCURRENCY` override the sizes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use connector::config::{RawConfig, keys};
use connector::inventory::cli::{CliContext, InventoryArgs};
use tenant_emulator::Emulator;
use tenant_emulator::faults::FaultConfig;

// The allocator the `copilot-connector` binary uses (the child runs the command's code).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// CPU seconds (user + system, all threads) this process has used so far, from
/// /proc/self/stat (Linux; 0 elsewhere). The machine the bench runs on is often shared, so
/// CPU time is the figure that other work does not inflate, unlike wall time.
fn cpu_seconds() -> f64 {
    // utime and stime are fields 14 and 15, counted after the `(comm)` field, which may hold
    // spaces; in clock ticks of 1/100 s (USER_HZ, 100 on every Linux architecture we run).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

/// A field of /proc/self/status in MiB (Linux).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The 1-minute load average (Linux), to read CPU and wall times against.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The phase events of the child's scan, as they come: (phase, wall s, CPU s).
#[derive(Clone, Default)]
struct Phases(Arc<Mutex<Vec<(String, f64, f64)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Phases {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != connector::inventory::phase::TARGET {
            return;
        }
        #[derive(Default)]
        struct Fields(String, f64, f64);
        impl tracing::field::Visit for Fields {
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                if f.name() == "phase" {
                    self.0 = v.to_owned();
                }
            }
            fn record_f64(&mut self, f: &tracing::field::Field, v: f64) {
                match f.name() {
                    "wall_s" => self.1 = v,
                    "cpu_s" => self.2 = v,
                    _ => {}
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().push((fields.0, fields.1, fields.2));
    }
}

#[derive(Parser)]
struct ChildArgs {
    #[command(subcommand)]
    command: ChildCommand,
}

#[derive(clap::Subcommand)]
enum ChildCommand {
    Inventory(InventoryArgs),
}

/// One scan in this (child) process, as `copilot-connector inventory scan` runs it; its
/// summary goes to stdout (`--json`), then a line with this process's peak RSS.
async fn child(args: Vec<String>, started: Instant) -> std::process::ExitCode {
    use tracing_subscriber::layer::SubscriberExt;
    let phases = Phases::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(phases.clone()))
        .unwrap();
    let var = |k: &str| std::env::var(k).unwrap();
    let mut raw = RawConfig::new();
    raw.set_flag(keys::TENANT_ID, Some(var("BENCH_TENANT_ID")));
    raw.set_flag(keys::CLIENT_ID, Some(var("BENCH_CLIENT_ID")));
    raw.set_flag(keys::CLIENT_SECRET, Some(var("BENCH_CLIENT_SECRET")));
    raw.set_flag(keys::AUTHORITY_HOST, Some(var("BENCH_AUTHORITY_HOST")));
    let parsed = ChildArgs::parse_from(std::iter::once("child".to_owned()).chain(args));
    let ChildCommand::Inventory(inventory) = parsed.command;
    let ctx = CliContext {
        json: true,
        verbose: 0,
        output: Some(var("BENCH_OUTPUT")),
        raw: Ok(raw),
    };
    let code = connector::inventory::cli::run(&inventory, ctx).await;
    let phases: Vec<serde_json::Value> = phases
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(name, wall, cpu)| serde_json::json!([name, wall, cpu]))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "peak_rss_mib": (status_mib("VmHWM:") * 10.0).round() / 10.0,
            "cpu_s": cpu_seconds(),
            "run_s": started.elapsed().as_secs_f64(),
            "phases": phases,
        })
    );
    code
}

fn main() -> std::process::ExitCode {
    let started = Instant::now();
    if std::env::args().any(|a| a == "--list") {
        return std::process::ExitCode::SUCCESS;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        return rt.block_on(child(args[at + 1..].to_vec(), started));
    }
    let environments = env_usize("INVENTORY_BENCH_ENVIRONMENTS", 50);
    let agents = env_usize("INVENTORY_BENCH_AGENTS", 40);
    let components = env_usize("INVENTORY_BENCH_COMPONENTS", 20);
    let latency = env_usize("INVENTORY_BENCH_LATENCY_MS", 20) as u64;
    let concurrency = env_usize("INVENTORY_BENCH_CONCURRENCY", 10);
    rt.block_on(async {
        let setup = Instant::now();
        let emu = Emulator::builder()
            .seed(77)
            .agents(agents)
            .min_components_per_agent(components)
            .transcripts(20)
            .environments(environments)
            .start()
            .await
            .unwrap();
        emu.set_faults(FaultConfig::none().with_latency(Duration::from_millis(latency)))
            .unwrap();
        println!(
            "emulator: {environments} environments x {agents} agents (at least {components} components each), set up in {:.1} s; emulator RSS {:.0} MiB",
            setup.elapsed().as_secs_f64(),
            status_mib("VmRSS:")
        );
        let dir = tempfile::tempdir().unwrap();
        let creds = emu.credentials();
        let base = emu.inventory_url();
        for name in ["first scan", "no-change rescan", "one-component rescan"] {
            if name == "one-component rescan" {
                change_one_component(&emu);
            }
            let started = Instant::now();
            let emulator_cpu = cpu_seconds();
            let out = tokio::process::Command::new(std::env::current_exe().unwrap())
                .arg("--child")
                .args(["inventory", "scan", "--inventory-source", "powerplatform"])
                .args(["--concurrency", &concurrency.to_string()])
                .args(["--power-platform-api-url", base])
                .args(["--bap-api-url", base])
                .args(["--arm-url", base])
                .arg("--inventory-state")
                .arg(dir.path().join("inventory.db"))
                .env("BENCH_TENANT_ID", creds.tenant_id.to_string())
                .env("BENCH_CLIENT_ID", creds.client_id.to_string())
                .env("BENCH_CLIENT_SECRET", &creds.client_secret)
                .env("BENCH_AUTHORITY_HOST", emu.authority_host())
                .env("BENCH_OUTPUT", dir.path().join("inventory.json"))
                .output()
                .await
                .unwrap();
            let wall = started.elapsed().as_secs_f64();
            let emulator_cpu = cpu_seconds() - emulator_cpu;
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            let stdout = String::from_utf8(out.stdout).unwrap();
            // The summary (pretty JSON), then the peak RSS line.
            let mut values = serde_json::Deserializer::from_str(&stdout).into_iter();
            let s: serde_json::Value = values.next().unwrap().unwrap();
            let rss: serde_json::Value = values.next().unwrap().unwrap();
            assert!(
                s["status"] == "complete" || s["status"] == "partial",
                "{s}"
            );
            let envs = s["environments"].as_array().unwrap();
            let scanned: Vec<_> = envs.iter().filter(|e| e["outcome"] == "scanned").collect();
            let requests = s["dataverse_requests"].as_u64().unwrap();
            let max_per_env = scanned
                .iter()
                .map(|e| e["requests"].as_u64().unwrap())
                .max()
                .unwrap_or(0);
            let components: u64 = scanned
                .iter()
                .map(|e| e["components"].as_u64().unwrap())
                .sum();
            let upserts: u64 = s["changes"]["upserts"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            let ideal = requests as f64 * latency as f64 / 1000.0 / concurrency as f64;
            let at = |k: &str| {
                time::OffsetDateTime::parse(
                    s[k].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap()
            };
            // The scan itself (environments, tenant inventory, Dataverse, mapping, diff), as
            // its summary times it; the process also loads and saves the state and writes
            // the document.
            let scan = (at("finished_at") - at("started_at")).as_seconds_f64();
            let ratio = |t: f64| if ideal > 0.0 { t / ideal } else { 0.0 };
            println!(
                "inventory {name}: {} agents, {components} components, {} environments scanned: scan {scan:.2} s (ratio {:.2}), process {wall:.2} s start to exit (ratio {:.2}); {requests} Dataverse requests (ideal {ideal:.2} s); per scanned environment {:.1} mean / {max_per_env} max; {upserts} rows to upsert; {} agents rebuilt; scan process peak RSS {} MiB; CPU: scan process {} s, emulator {emulator_cpu:.2} s (load average {})",
                s["agents"],
                scanned.len(),
                ratio(scan),
                ratio(wall),
                scanned.iter().map(|e| e["requests"].as_u64().unwrap()).sum::<u64>() as f64
                    / scanned.len().max(1) as f64,
                s["agents_rebuilt"],
                rss["peak_rss_mib"],
                rss["cpu_s"],
                load_average(),
            );
            // Phases in the order they ended (nested ones first: the layers, build_inventory
            // and the diff are inside `scan`).
            let mut line = String::from("  phases (wall / CPU s):");
            for p in rss["phases"].as_array().unwrap() {
                line.push_str(&format!(
                    " {} {:.2}/{:.2};",
                    p[0].as_str().unwrap(),
                    p[1].as_f64().unwrap_or(f64::NAN),
                    p[2].as_f64().unwrap_or(f64::NAN)
                ));
            }
            let run = rss["run_s"].as_f64().unwrap();
            line.push_str(&format!(
                " child's main to the end of `run` {run:.2}; process start-up and exit {:.2}",
                wall - run
            ));
            println!("{line}");
        }
        emu.shutdown().await;
    });
    std::process::ExitCode::SUCCESS
}

/// Changes the `data` of one topic of one agent of the default environment.
fn change_one_component(emu: &tenant_emulator::RunningEmulator) {
    let mut component = emu
        .tenant()
        .component_rows()
        .into_iter()
        .find(|c| c["componenttype"] == 9 && c["schemaname"].as_str().unwrap().contains(".topic."))
        .unwrap();
    let data = component["data"].as_str().unwrap().replace(
        "kind: AdaptiveDialog",
        "kind: AdaptiveDialog\nmodelDescription: \"changed by the bench\"",
    );
    component.insert("data".into(), serde_json::Value::String(data));
    emu.dataverse()
        .insert_rows("botcomponents", [component])
        .unwrap();
}

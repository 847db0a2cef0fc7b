//! `tenant-emulator serve`: runs the emulated tenant on a loopback port and prints the URLs and
//! credentials to configure a client with.

// Printing the URLs and credentials (stdout) and fatal errors (stderr) is this binary's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use tenant_emulator::Emulator;
use tenant_emulator::entra::DataverseAccess;
use tenant_emulator::faults::{FaultConfig, FaultTargets};
use tenant_emulator::throttle::ServiceProtectionLimits;

#[derive(Parser)]
#[command(
    name = "tenant-emulator",
    version,
    about = "A local stand-in for a Microsoft tenant: Entra, Dataverse (Copilot Studio tables) and Akto ingestion"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the emulated tenant until interrupted (Ctrl-C).
    Serve(Serve),
}

#[derive(Args)]
struct Serve {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0, env = "TENANT_EMULATOR_PORT")]
    port: u16,
    /// Seed of the synthetic tenant.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Number of agents.
    #[arg(long, default_value_t = 20)]
    agents: usize,
    /// Number of transcripts.
    #[arg(long, default_value_t = 500)]
    transcripts: usize,
    /// Number of environments (each with Dataverse gets `--agents` and `--transcripts` of its
    /// own at its own URL; 2 or more plant inventory discrepancies).
    #[arg(long, default_value_t = 1)]
    environments: usize,
    /// Days of transcript history.
    #[arg(long, default_value_t = 30)]
    history_days: u32,
    /// Also load transcript rows from this JSON file (array or {"value":[...]}); repeatable.
    #[arg(long = "transcripts-file")]
    transcripts_files: Vec<PathBuf>,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// Give the connector's application user System Administrator too.
    #[arg(long)]
    over_privileged: bool,
    /// Register the connector app without a Dataverse application user (every request gets 403).
    #[arg(long, conflicts_with = "over_privileged")]
    no_app_user: bool,
    /// Require this raw token in the ingestion endpoint's `authorization` header.
    #[arg(long, env = "TENANT_EMULATOR_INGESTION_TOKEN")]
    ingestion_token: Option<String>,
    /// Service protection: requests per user per window.
    #[arg(long, default_value_t = 6000)]
    request_limit: u32,
    /// Service protection: concurrent requests per user.
    #[arg(long, default_value_t = 52)]
    concurrency_limit: u32,
    /// Service protection: window length in seconds.
    #[arg(long, default_value_t = 300)]
    window_secs: u64,
    /// Turn service protection off.
    #[arg(long)]
    no_service_protection: bool,
    /// Fault: added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fault: fraction of requests answered 429.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Fault: fraction of requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fault: fraction of requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    unavailable_rate: f64,
    /// Fault: fraction of connections dropped mid-body.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Fault: Retry-After seconds on injected 429/503.
    #[arg(long, default_value_t = 2)]
    retry_after: u64,
    /// Fault: an outage of this many seconds from start.
    #[arg(long, default_value_t = 0)]
    outage_secs: u64,
    /// Which services faults apply to: any of dataverse, ingestion, entra (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["dataverse".to_owned(), "ingestion".to_owned()])]
    fault_targets: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Cli {
        command: Command::Serve(args),
    } = Cli::parse();
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tenant-emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Serve) -> Result<(), String> {
    let mut targets = FaultTargets::new(false, false, false);
    for t in &args.fault_targets {
        match t.as_str() {
            "dataverse" => targets.dataverse = true,
            "ingestion" => targets.ingestion = true,
            "entra" => targets.entra = true,
            other => {
                return Err(format!(
                    "unknown fault target '{other}' (use dataverse, ingestion, entra)"
                ));
            }
        }
    }
    let faults = FaultConfig::none()
        .with_latency(Duration::from_millis(args.latency_ms))
        .with_throttle_rate(args.throttle_rate)
        .with_error_rate(args.error_rate)
        .with_unavailable_rate(args.unavailable_rate)
        .with_drop_rate(args.drop_rate)
        .with_retry_after(args.retry_after)
        .with_outage(Duration::from_secs(args.outage_secs))
        .with_targets(targets);
    let limits = if args.no_service_protection {
        ServiceProtectionLimits::disabled()
    } else {
        ServiceProtectionLimits::default()
            .with_requests(args.request_limit)
            .with_concurrent(args.concurrency_limit)
            .with_window(Duration::from_secs(args.window_secs))
    };
    let access = if args.no_app_user {
        DataverseAccess::None
    } else if args.over_privileged {
        DataverseAccess::OverPrivileged
    } else {
        DataverseAccess::LeastPrivilege
    };
    let started = Instant::now();
    let mut builder = Emulator::builder()
        .port(args.port)
        .seed(args.seed)
        .agents(args.agents)
        .transcripts(args.transcripts)
        .environments(args.environments)
        .history_days(args.history_days)
        .token_lifetime(Duration::from_secs(args.token_lifetime))
        .service_protection(limits)
        .faults(faults)
        .connector_access(access);
    if let Some(token) = args.ingestion_token {
        builder = builder.ingestion_token(token);
    }
    for file in &args.transcripts_files {
        builder = builder.transcript_file(file);
    }
    let emulator = builder.start().await.map_err(|e| e.to_string())?;
    let c = emulator.credentials();
    {
        println!(
            "tenant-emulator ready in {} ms",
            started.elapsed().as_millis()
        );
        println!("  base url          {}", emulator.base_url());
        println!("  token endpoint    {}", emulator.token_url());
        println!("  environment url   {}", emulator.environment_url());
        println!("  web api           {}", emulator.web_api_url());
        println!(
            "  ingestion         {}/api/ingestData",
            emulator.ingestion_url()
        );
        println!("  admin             {}/_emulator/info", emulator.base_url());
        println!("  tenant id         {}", c.tenant_id);
        println!("  client id         {}", c.client_id);
        println!("  client secret     {}", c.client_secret);
        println!(
            "  scope             {}/.default",
            emulator.environment_url()
        );
        println!();
        println!("DATAVERSE_ENVIRONMENT_URL={}", emulator.environment_url());
        println!("DATAVERSE_TENANT_ID={}", c.tenant_id);
        println!("DATAVERSE_CLIENT_ID={}", c.client_id);
        println!("DATAVERSE_CLIENT_SECRET={}", c.client_secret);
        println!("AZURE_AUTHORITY_HOST={}", emulator.authority_host());
        println!("DATA_INGESTION_SERVICE_URL={}", emulator.ingestion_url());
        // The inventory APIs (Resource Graph, resource query, admin list) on the base URL.
        println!("ARG_RESOURCE_GRAPH_URL={}", emulator.inventory_url());
        println!("POWER_PLATFORM_API_URL={}", emulator.inventory_url());
        println!("POWER_PLATFORM_ADMIN_URL={}", emulator.inventory_url());
        for e in emulator.environments() {
            println!(
                "# environment {} {} ({}) {}",
                e.index,
                e.id,
                e.sku,
                e.url.as_deref().unwrap_or("no Dataverse")
            );
        }
    }
    wait_for_stop().await?;
    emulator.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C (and, on Unix, SIGTERM, which process supervisors and benchmarks send).
async fn wait_for_stop() -> Result<(), String> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(|e| format!("cannot wait for Ctrl-C: {e}")),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))
    }
}

//! `copilot-connector`: streams Copilot Studio conversations, as request/response pairs, to
//! Akto's Data Ingestion Service (or JSON Lines), and checks the setup.
//!
//! Exit status: 0 success; 1 a pass or check failed; 2 invalid configuration or usage; 3 the
//! checkpoint store is held by another run.

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use connector::config::{Config, ConfigError, Needs, RawConfig, keys};
use connector::cron::Cron;
use connector::doctor::{self, Report, Status};
use connector::ingest::{PassSummary, ProgressEvent, StopSignal};
use connector::shield::AktoJob;
use connector::{Agent, Connector, ConnectorError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

// The binaries' allocator (see the `mimalloc` feature): the library itself sets none.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_FAILED: u8 = 1;
const EXIT_CONFIG: u8 = 2;
const EXIT_LOCKED: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "copilot-connector",
    version,
    about = "Streams Copilot Studio conversations as request/response pairs to Akto's Data Ingestion Service",
    long_about = "Streams Copilot Studio conversations as request/response pairs to Akto's Data Ingestion Service.\n\n\
Settings come from flags, then environment variables (Akto's names: DATAVERSE_ENVIRONMENT_URL, DATAVERSE_TENANT_ID \
or AZURE_TENANT_ID, DATAVERSE_CLIENT_ID or AZURE_CLIENT_ID, DATAVERSE_CLIENT_SECRET or AZURE_CLIENT_SECRET, COPILOT_BOT_ID, DATA_INGESTION_SERVICE_URL, AKTO_JWT_TOKEN, AKTO_ACCOUNT_ID), \
then the --config TOML file. Secrets are read from the environment or the file only, never from flags.\n\n\
Exit status: 0 success, 1 a pass or check failed, 2 invalid configuration, 3 another run holds the checkpoint store."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Debug, Args)]
struct Global {
    /// A TOML configuration file (keys: environment_url, tenant_id, client_id, client_secret, bot_ids, ingestion_url, akto_token, ...).
    #[arg(
        long,
        global = true,
        env = "COPILOT_CONNECTOR_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Machine-readable JSON output instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The Dataverse environment URL, e.g. `https://contoso.crm.dynamics.com` [env: DATAVERSE_ENVIRONMENT_URL]
    #[arg(long, global = true, value_name = "URL")]
    environment_url: Option<String>,
    /// The Entra tenant id [env: DATAVERSE_TENANT_ID, else AZURE_TENANT_ID]
    #[arg(long, global = true, value_name = "GUID")]
    tenant_id: Option<String>,
    /// The app registration's client id [env: DATAVERSE_CLIENT_ID, else AZURE_CLIENT_ID]
    #[arg(long, global = true, value_name = "GUID")]
    client_id: Option<String>,
    /// Sign in with this PEM file (certificate and private key) [env: AZURE_CLIENT_CERTIFICATE_PATH]
    #[arg(long, global = true, value_name = "PEM")]
    certificate: Option<String>,
    /// Sign in with workload identity federation [env: AZURE_FEDERATED_TOKEN_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    federated_token_file: Option<String>,
    /// Sign in with the host's Azure managed identity [env: COPILOT_CONNECTOR_MANAGED_IDENTITY]
    #[arg(long, global = true)]
    managed_identity: bool,
    /// The Entra authority host [env: AZURE_AUTHORITY_HOST]
    #[arg(long, global = true, value_name = "URL")]
    authority_host: Option<String>,
    /// Only these agents (bot ids, comma-separated or repeated) [env: COPILOT_BOT_ID]
    #[arg(
        long = "bot-id",
        global = true,
        value_name = "GUID",
        value_delimiter = ','
    )]
    bot_ids: Vec<String>,
    /// Akto's Data Ingestion Service base URL [env: DATA_INGESTION_SERVICE_URL]
    #[arg(long, global = true, value_name = "URL")]
    ingestion_url: Option<String>,
    /// Written into every record [env: AKTO_ACCOUNT_ID; default 1000000]
    #[arg(long, global = true, value_name = "ID")]
    akto_account_id: Option<String>,
    /// Write JSON Lines to FILE instead (`-` for standard output) [env: COPILOT_CONNECTOR_OUTPUT]
    #[arg(long, global = true, value_name = "FILE")]
    output: Option<String>,
    /// The checkpoint database [env: COPILOT_CONNECTOR_STATE; default ./copilot-connector.db]
    #[arg(long, global = true, value_name = "FILE")]
    state: Option<String>,
    /// How far each pass reaches back before the checkpoint [env: COPILOT_CONNECTOR_OVERLAP; default 30m]
    #[arg(long, global = true, value_name = "DURATION")]
    overlap: Option<String>,
    /// On the first pass, start this far back (e.g. 7d) instead of at the oldest transcript [env: COPILOT_CONNECTOR_SINCE]
    #[arg(long, global = true, value_name = "DURATION")]
    since: Option<String>,
    /// Rows per Dataverse page [env: COPILOT_CONNECTOR_PAGE_SIZE; default 500]
    #[arg(long, global = true, value_name = "N")]
    page_size: Option<String>,
    /// Records per delivery [env: COPILOT_CONNECTOR_BATCH_SIZE; default 50]
    #[arg(long, global = true, value_name = "N")]
    batch_size: Option<String>,
    /// Batches delivered at once while the next rows are read; a crash repeats at most this many [env: COPILOT_CONNECTOR_IN_FLIGHT; default 8]
    #[arg(long, global = true, value_name = "N")]
    in_flight: Option<String>,
    /// How long a prompt whose reply may be in a row not written yet waits for it (0 never waits) [env: COPILOT_CONNECTOR_SPLIT_SETTLE; default 10m]
    #[arg(long, global = true, value_name = "DURATION")]
    split_settle: Option<String>,
    /// The record host shape: record-host, or ai-agent for `{userId}.ai-agent.{botName}` [env: COPILOT_CONNECTOR_HOST_SHAPE; default: ai-agent with a user map file, else record-host]
    #[arg(long, global = true, value_name = "SHAPE")]
    host_shape: Option<String>,
    /// Akto's user map, `{aadObjectId: userId}`, naming users in record hosts [env: COPILOT_STUDIO_USER_MAP_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    user_map_file: Option<String>,
    /// Write `{botName: [userId, ...]}` here after each pass [env: COPILOT_STUDIO_USER_AGENT_MAP_OUTPUT_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    user_agent_map_output_file: Option<String>,
    /// The environment id written into record tags [env: COPILOT_ENVIRONMENT_ID; default: the organization id]
    #[arg(long, global = true, value_name = "ID")]
    environment_id: Option<String>,
    /// The host written into records [env: COPILOT_CONNECTOR_RECORD_HOST; default: copilot.microsoft.com]
    #[arg(long, global = true, value_name = "HOST")]
    record_host: Option<String>,
    /// Fail (exit 2) when a bot id matches no agent, instead of warning [env: COPILOT_CONNECTOR_STRICT]
    #[arg(long, global = true)]
    strict: bool,
    /// The total time one delivery may take, retries included, before the pass fails [env: COPILOT_CONNECTOR_DELIVERY_TIMEOUT; default 2m]
    #[arg(long, global = true, value_name = "DURATION")]
    delivery_timeout: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Deliver new conversations: one pass (--once) or on a schedule (--every 5m, --cron '*/5 * * * *').
    Ingest {
        /// Run one pass; the exit status says whether everything was delivered.
        #[arg(long, conflicts_with_all = ["every", "cron"])]
        once: bool,
        /// Run a pass every DURATION (e.g. 5m) until Ctrl-C or SIGTERM.
        #[arg(long, value_name = "DURATION", value_parser = parse_interval, conflicts_with = "cron")]
        every: Option<Duration>,
        /// Run a pass at every time of a five-field cron expression (UTC), e.g. '*/5 * * * *', until Ctrl-C or SIGTERM.
        #[arg(long, value_name = "EXPR", value_parser = parse_cron)]
        cron: Option<Cron>,
    },
    /// List the environment's agents.
    Agents,
    /// Check the setup step by step and say how to fix each problem, the inventory's rights included.
    #[command(
        long_about = "Check the setup step by step and say how to fix each problem: the transcript connector \
(token, Dataverse sign-in, read access, roles, ingestion endpoint, checkpoint store), the permissions each command \
needs against what the app holds, and the inventory checks of `inventory doctor` (inventory API, Resource Graph, \
bot/botcomponent read per environment, the inventory environment's schema and write rights).\n\n\
An inventory check that fails is a warning until the inventory is in use (COPILOT_INVENTORY_URL set, or a scan's \
state present). Exit status: 0 nothing failed (warnings allowed), 1 a check failed, 2 invalid settings."
    )]
    Doctor(connector::inventory::cli::DoctorArgs),
    /// The checkpoint store: `state check` says whether it is sound (read-only).
    State {
        #[command(subcommand)]
        action: StateAction,
    },
    /// Microsoft 365 Copilot from Microsoft Graph: `m365 ingest --once|--every`, `m365 agents`, `m365 users`, `m365 doctor`.
    M365 {
        #[command(subcommand)]
        action: connector::m365::M365Action,
    },
    /// Security Copilot: `seccopilot ask "PROMPT"`, `seccopilot ingest --once|--every`, `seccopilot plugins`.
    Seccopilot {
        #[command(subcommand)]
        action: connector::seccopilot::SecCopilotAction,
    },
    /// What every agent's Entra identity and the connector's own app may do: permissions, grants, credentials, owners.
    #[command(
        long_about = "What every agent's Entra identity and the connector's own app may do.\n\n\
For each agent with an Entra app id (from --input, a document written by `inventory scan --output`, or the \
tenant inventory read now) and for the connector's own app: its service principal, application permissions \
resolved to names, delegated grants (admin consent for everyone or one user), credentials (expired, expiring \
within 30 days, secrets valid more than a year) and owners (none: orphaned); high-privilege permissions are \
flagged, and the connector's app is compared with what its commands need.\n\n\
Exit status: 0 every identity is least-privilege, 4 something was found, 1 reading failed, 2 invalid settings."
    )]
    Permissions(connector::permissions::PermissionsArgs),
    /// The agent inventory: `inventory scan` reads every agent of the tenant into the eight inventory tables.
    Inventory(connector::inventory::cli::InventoryArgs),
    /// Run against a generated tenant on a local emulator: doctor, one pass, ./demo-out/pairs.jsonl, the inventory scan and its report.
    #[command(
        long_about = "Run against a generated tenant on a local emulator: doctor, one pass, ./demo-out/pairs.jsonl.\n\n\
Then the inventory: every environment of the emulated tenant scanned into ./demo-out/inventory.json, and its \
report as ./demo-out/inventory-report.html (one self-contained page: open it in a browser).\n\n\
The demo configures itself for the emulator: besides its own options it takes only --json and -v, and refuses \
every settings flag listed below (--config, --environment-url, --state, --output, ...) rather than ignore it."
    )]
    Demo {
        /// Where to write the records and the summary.
        #[arg(long, default_value = "demo-out", value_name = "DIR")]
        out: PathBuf,
        /// Agents in the generated tenant.
        #[arg(long, default_value_t = 5)]
        agents: usize,
        /// Transcripts in the generated tenant.
        #[arg(long, default_value_t = 200)]
        transcripts: usize,
    },
}

#[derive(Debug, Subcommand)]
enum StateAction {
    /// Check the store (--state) without changing it: exit 0 when it is sound or not created
    /// yet, 1 when it cannot be used (with the fix).
    Check,
}

fn parse_cron(s: &str) -> Result<Cron, String> {
    Cron::parse(s).map_err(|e| e.problem().to_owned())
}

/// The longest `--every` interval: a schedule is for minutes or hours, not months.
const MAX_INTERVAL: Duration = Duration::from_secs(30 * 86_400);

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = connector::config::parse_duration(s)?;
    if d.is_zero() || d > MAX_INTERVAL {
        return Err(format!(
            "the interval must be from 1s to {}",
            connector::config::format_duration(MAX_INTERVAL)
        ));
    }
    Ok(d)
}

/// Writes to stdout, ignoring a closed pipe (`| head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Writes to stderr.
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn raw_config(g: &Global) -> Result<RawConfig, ConfigError> {
    let file = match &g.config {
        Some(path) => RawConfig::from_toml_file(path)?,
        None => RawConfig::new(),
    };
    let env = RawConfig::from_env(|k| std::env::var(k).ok());
    let mut flags = RawConfig::new();
    flags.set_flag(keys::ENVIRONMENT_URL, g.environment_url.clone());
    flags.set_flag(keys::TENANT_ID, g.tenant_id.clone());
    flags.set_flag(keys::CLIENT_ID, g.client_id.clone());
    flags.set_flag(keys::CERTIFICATE_PATH, g.certificate.clone());
    flags.set_flag(keys::FEDERATED_TOKEN_FILE, g.federated_token_file.clone());
    flags.set_flag(keys::MANAGED_IDENTITY, g.managed_identity.then_some("true"));
    flags.set_flag(keys::AUTHORITY_HOST, g.authority_host.clone());
    flags.set_flag(
        keys::BOT_IDS,
        (!g.bot_ids.is_empty()).then(|| g.bot_ids.join(",")),
    );
    flags.set_flag(keys::INGESTION_URL, g.ingestion_url.clone());
    flags.set_flag(keys::AKTO_ACCOUNT_ID, g.akto_account_id.clone());
    flags.set_flag(keys::OUTPUT, g.output.clone());
    flags.set_flag(keys::STATE, g.state.clone());
    flags.set_flag(keys::OVERLAP, g.overlap.clone());
    flags.set_flag(keys::SINCE, g.since.clone());
    flags.set_flag(keys::PAGE_SIZE, g.page_size.clone());
    flags.set_flag(keys::BATCH_SIZE, g.batch_size.clone());
    flags.set_flag(keys::IN_FLIGHT, g.in_flight.clone());
    flags.set_flag(keys::SPLIT_SETTLE, g.split_settle.clone());
    flags.set_flag(keys::HOST_SHAPE, g.host_shape.clone());
    flags.set_flag(keys::USER_MAP_FILE, g.user_map_file.clone());
    flags.set_flag(
        keys::USER_AGENT_MAP_OUTPUT_FILE,
        g.user_agent_map_output_file.clone(),
    );
    flags.set_flag(keys::ENVIRONMENT_ID, g.environment_id.clone());
    flags.set_flag(keys::RECORD_HOST, g.record_host.clone());
    flags.set_flag(keys::STRICT, g.strict.then_some("true"));
    flags.set_flag(keys::DELIVERY_TIMEOUT, g.delivery_timeout.clone());
    Ok(file.overlay(env).overlay(flags))
}

/// The global flags `demo` uses; it configures everything else itself.
const DEMO_USES: &[&str] = &["verbose", "json"];

/// The first settings flag given on the command line of `demo`, which does not use it.
fn demo_refused_flag(matches: &ArgMatches) -> Option<String> {
    let Some(("demo", sub)) = matches.subcommand() else {
        return None;
    };
    let settings = Global::augment_args(clap::Command::new("settings"));
    settings
        .get_arguments()
        .filter(|a| !DEMO_USES.contains(&a.get_id().as_str()))
        .find(|a| {
            // Only flags: a variable such as COPILOT_CONNECTOR_CONFIG may be set for real runs.
            let id = a.get_id().as_str();
            [matches, sub]
                .iter()
                .any(|m| m.value_source(id) == Some(ValueSource::CommandLine))
        })
        .map(|a| format!("--{}", a.get_long().unwrap_or(a.get_id().as_str())))
}

/// The job Akto's runner started this run for, if any (`AKTO_JOB_ID`, ...).
fn akto_job() -> Option<AktoJob> {
    AktoJob::from_env(|k| std::env::var(k).ok())
}

#[allow(dead_code)] // `copilot-shield` includes this file and has its own `main`.
fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Runs the command line `args` (the program name first). `copilot-shield` translates its own
/// flags into these.
pub(crate) fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = Cli::command().get_matches_from(args);
    if let Some(flag) = demo_refused_flag(&matches) {
        err!(
            "error: demo does not use {flag}: it runs against its own emulator with its own settings; \
             drop {flag} (demo takes --out, --agents, --transcripts, --json, -v)"
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            err!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let job = akto_job();
    let span = tracing::info_span!(
        "run",
        akto_job_id = job.as_ref().and_then(|j| j.id.as_deref()),
        akto_job_type = job.as_ref().and_then(|j| j.job_type.as_deref()),
        akto_job_sub_type = job.as_ref().and_then(|j| j.sub_type.as_deref()),
    );
    if let Some(job) = &job {
        tracing::info!(parent: &span, "started for {job}");
    }
    runtime.block_on(tracing::Instrument::instrument(run(cli), span))
}

async fn run(cli: Cli) -> ExitCode {
    let g = &cli.global;
    if let Command::Demo {
        out,
        agents,
        transcripts,
    } = &cli.command
    {
        return demo(out, *agents, *transcripts, g.json).await;
    }
    if let Command::State {
        action: StateAction::Check,
    } = &cli.command
    {
        return state_check(g);
    }
    if let Command::M365 { action } = &cli.command {
        let stop = StopSignal::new();
        watch_signals(stop.clone());
        return ExitCode::from(connector::m365::run_cli(action, raw_config(g), g.json, stop).await);
    }
    if let Command::Seccopilot { action } = &cli.command {
        let stop = StopSignal::new();
        watch_signals(stop.clone());
        return ExitCode::from(
            connector::seccopilot::run_cli(action, raw_config(g), g.json, stop).await,
        );
    }
    if let Command::Permissions(args) = &cli.command {
        return connector::permissions::run(args, raw_config(g), g.json).await;
    }
    if let Command::Inventory(args) = &cli.command {
        let ctx = connector::inventory::cli::CliContext {
            json: g.json,
            verbose: g.verbose,
            output: g.output.clone(),
            raw: raw_config(g),
        };
        return connector::inventory::cli::run(args, ctx).await;
    }
    let needs = match cli.command {
        Command::Ingest { .. } => Needs::Ingest,
        _ => Needs::Dataverse,
    };
    let config = match raw_config(g).and_then(|raw| Config::from_raw(&raw, needs)) {
        Ok(c) => c,
        Err(e) => {
            if matches!(cli.command, Command::Doctor(_)) {
                print_report(&doctor::config_failure(&e), g.json);
            } else {
                err!("error: {e}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let clock = client_core::system_clock();
    let credential = match connector::credential::from_config(&config, clock.clone()) {
        Ok(c) => c,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let connector = match Connector::builder(config, credential.clone())
        .clock(clock)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command {
        Command::Agents => match connector.agents().await {
            Ok(agents) => {
                print_agents(&agents, g.json);
                ExitCode::SUCCESS
            }
            Err(e) => {
                err!("error: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        },
        Command::Doctor(inventory) => {
            let inventory = match connector::inventory::cli::doctor_options(&inventory) {
                Ok(o) => o,
                Err(e) => {
                    err!("error: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let graph_url = std::env::var("GRAPH_URL")
                .ok()
                .filter(|u| !u.trim().is_empty());
            let mut report =
                doctor::run_with_permissions(&connector, &credential, graph_url.as_deref()).await;
            let state = std::env::var_os("COPILOT_INVENTORY_STATE")
                .filter(|s| !s.is_empty())
                .map_or_else(
                    || PathBuf::from(connector::inventory::store::DEFAULT_INVENTORY_STATE),
                    PathBuf::from,
                );
            connector::inventory::doctor::append_to(
                &mut report,
                &credential,
                connector.clock(),
                &connector.config().authority_host,
                &inventory,
                connector::inventory::doctor::in_use(&inventory, &state),
            )
            .await;
            print_report(&report, g.json);
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Command::Ingest { once, every, cron } => match (once, every, cron) {
            (_, Some(interval), _) => ingest_every(&connector, Schedule::Every(interval), g).await,
            (_, _, Some(cron)) => ingest_every(&connector, Schedule::Cron(cron), g).await,
            (true, None, None) => ingest_once(&connector, g).await,
            (false, None, None) => {
                err!(
                    "error: say how to run: `ingest --once` (one pass), `ingest --every 5m` or `ingest --cron '*/5 * * * *'` (a schedule)"
                );
                ExitCode::from(EXIT_CONFIG)
            }
        },
        // Handled above, before any configuration is read.
        Command::Demo { .. }
        | Command::State { .. }
        | Command::M365 { .. }
        | Command::Seccopilot { .. }
        | Command::Permissions(_)
        | Command::Inventory(_) => ExitCode::SUCCESS,
    }
}

/// `state check`: needs only the store's path.
fn state_check(g: &Global) -> ExitCode {
    let path = match raw_config(g).and_then(|raw| connector::config::state_path(&raw)) {
        Ok(p) => p,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let h = connector::state::check(&path);
    if g.json {
        out!("{}", serde_json::to_string_pretty(&h).unwrap_or_default());
    } else {
        let mark = match h.soundness {
            connector::state::Soundness::Damaged => "[FAIL]",
            _ => "[ok]  ",
        };
        out!("{mark} {}: {}", h.path.display(), h.detail);
        if let Some(fix) = &h.fix {
            out!("       fix: {fix}");
        }
        for s in &h.scopes {
            out!("       checkpoint {} for {}", s.watermark, s.scope);
        }
    }
    if h.soundness == connector::state::Soundness::Damaged {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Raises `stop` on Ctrl-C or SIGTERM; a second signal exits at once.
fn watch_signals(stop: StopSignal) {
    tokio::spawn(async move {
        let mut signals: u32 = 0;
        loop {
            wait_for_signal().await;
            signals = signals.saturating_add(1);
            if signals > 1 {
                err!("second signal: exiting now; the next run resumes from the checkpoint");
                std::process::exit(130);
            }
            err!("stopping after the batch in flight (send the signal again to exit at once)");
            stop.stop();
        }
    });
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

fn progress_bar(g: &Global) -> Option<ProgressBar> {
    // Only for a person watching: not when stderr is piped or logs are on.
    if !std::io::stderr().is_terminal() || g.verbose > 0 {
        return None;
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    Some(pb)
}

fn progress_fn(pb: &ProgressBar) -> connector::ingest::ProgressFn {
    let pb = pb.clone();
    let counts = Arc::new(std::sync::Mutex::new((0u64, 0u64)));
    Arc::new(move |e| {
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            ProgressEvent::Row => c.0 = c.0.saturating_add(1),
            ProgressEvent::Batch(n) => {
                c.1 = c.1.saturating_add(u64::try_from(n).unwrap_or(u64::MAX))
            }
            _ => {}
        }
        pb.set_message(format!("{} transcripts read, {} pairs delivered", c.0, c.1));
    })
}

async fn one_pass(
    connector: &Connector,
    stop: StopSignal,
    g: &Global,
) -> Result<PassSummary, ConnectorError> {
    let mut store = connector.open_state()?;
    let sink = connector.sink_from_config().await?;
    let pb = progress_bar(g);
    let result = connector
        .ingest_once(
            &mut store,
            sink.as_ref(),
            stop,
            pb.as_ref().map(progress_fn),
        )
        .await;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    result
}

fn exit_for(e: &ConnectorError) -> ExitCode {
    if e.is_locked() {
        ExitCode::from(EXIT_LOCKED)
    } else if e.is_configuration() {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

async fn ingest_once(connector: &Connector, g: &Global) -> ExitCode {
    let stop = StopSignal::new();
    watch_signals(stop.clone());
    match one_pass(connector, stop, g).await {
        Ok(summary) => {
            print_summary(&summary, connector, g.json);
            if summary.stopped_early {
                // Not everything was read: say so in the exit status.
                ExitCode::from(EXIT_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            err!("error: {e}");
            exit_for(&e)
        }
    }
}

/// When scheduled passes start.
enum Schedule {
    Every(Duration),
    Cron(Cron),
}

async fn ingest_every(connector: &Connector, schedule: Schedule, g: &Global) -> ExitCode {
    let stop = StopSignal::new();
    watch_signals(stop.clone());
    // Hold the store for the whole schedule: a second scheduler is refused at once.
    let store = match connector.open_state() {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return exit_for(&e);
        }
    };
    let store = Arc::new(tokio::sync::Mutex::new(store));
    let sink: Arc<dyn connector::sink::Sink> = match connector.sink_from_config().await {
        Ok(s) => Arc::from(s),
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let json = g.json;
    let pass = || {
        let (store, sink, stop) = (store.clone(), sink.clone(), stop.clone());
        async move {
            let mut store = store.lock().await;
            let result = connector
                .ingest_once(&mut store, sink.as_ref(), stop, None)
                .await;
            match &result {
                Ok(summary) => print_summary(summary, connector, json),
                Err(e) => err!("error: {e}"),
            }
            result.map(|_| ())
        }
    };
    let clock = connector.clock().clone();
    let outcome = match &schedule {
        Schedule::Every(interval) => {
            connector::schedule::run_every(*interval, clock, stop.clone(), pass).await
        }
        Schedule::Cron(cron) => {
            connector::schedule::run_cron(cron, clock, stop.clone(), pass).await
        }
    };
    tracing::info!(
        passes = outcome.passes,
        failed = outcome.failed_passes,
        "schedule stopped"
    );
    // A supervisor restarting the schedule must see that the last pass did not complete.
    if outcome.last_pass_failed {
        err!(
            "error: the last pass failed ({} of {} pass(es) failed); the next run resumes from the checkpoint",
            outcome.failed_passes,
            outcome.passes
        );
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_summary(s: &PassSummary, connector: &Connector, json: bool) {
    // With JSON Lines on stdout, the summary goes to stderr so the stream stays clean.
    let to_stderr = matches!(
        connector.config().sink,
        connector::config::SinkConfig::Stdout
    );
    let job = akto_job();
    let text = if json {
        let mut value = serde_json::to_value(s).unwrap_or_default();
        if let (Some(job), Some(map)) = (&job, value.as_object_mut()) {
            map.insert(
                "akto_job".into(),
                serde_json::to_value(job).unwrap_or_default(),
            );
        }
        value.to_string()
    } else {
        let mut t = format!(
            "delivered {} pair(s) from {} transcript(s) in {} batch(es); {} transcript(s) already delivered",
            s.records_delivered,
            s.transcripts_delivered,
            s.batches_delivered,
            s.transcripts_already_delivered
        );
        if s.agent_records_delivered > 0 {
            t.push_str(&format!(
                "; {} agent inventory record(s)",
                s.agent_records_delivered
            ));
        }
        if let Some(c) = &s.checkpoint_after {
            t.push_str(&format!("; checkpoint {c}"));
        }
        if let Some(e) = &s.agent_inventory_error {
            t.push_str(&format!(
                "\nagent inventory records not delivered (sent again next pass): {e}"
            ));
        }
        if s.stopped_early {
            t.push_str("; stopped early on request (the next run resumes from the checkpoint)");
        }
        if let Some(job) = &job {
            t.push_str(&format!(" [{job}]"));
        }
        if !s.row_warnings.is_empty() {
            let kinds: Vec<String> = s
                .row_warnings
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            t.push_str(&format!(
                "\nodd rows tolerated (their pairs were delivered): {}",
                kinds.join(", ")
            ));
        }
        for u in &s.transcripts_unparseable {
            let id = if u.id.is_empty() {
                "(no id)"
            } else {
                u.id.as_str()
            };
            t.push_str(&format!("\nskipped transcript {id}: {}", u.reason));
        }
        for r in &s.records_skipped {
            t.push_str(&format!("\nskipped record {}: {}", r.path, r.reason));
        }
        if s.pairs_held > 0 {
            t.push_str(&format!(
                "\n{} pair(s) held back until the rest of their split session is written (sent by a later pass)",
                s.pairs_held
            ));
        }
        for f in &s.rows_modified_in_future {
            t.push_str(&format!(
                "\ntranscript {} has modifiedon {} in the future: delivered; the checkpoint stays at the current time",
                f.id, f.modified_on
            ));
        }
        t
    };
    if to_stderr {
        err!("{text}");
    } else {
        out!("{text}");
    }
}

fn print_agents(agents: &[Agent], json: bool) {
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(agents).unwrap_or_default()
        );
        return;
    }
    let w_name = agents
        .iter()
        .map(|a| a.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let w_schema = agents
        .iter()
        .map(|a| a.schema_name.chars().count())
        .max()
        .unwrap_or(11)
        .max(11);
    out!(
        "{:<36}  {:<w_name$}  {:<w_schema$}  {:<8}  {:<15}  PUBLISHED",
        "ID",
        "NAME",
        "SCHEMA NAME",
        "STATE",
        "STATUS"
    );
    for a in agents {
        out!(
            "{:<36}  {:<w_name$}  {:<w_schema$}  {:<8}  {:<15}  {}",
            a.id,
            a.name,
            a.schema_name,
            a.state,
            a.status,
            a.published_on.as_deref().unwrap_or("never")
        );
    }
    if agents.is_empty() {
        out!("(no agents)");
    }
}

fn print_report(report: &Report, json: bool) {
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
        return;
    }
    for c in &report.checks {
        let mark = match c.status {
            Status::Pass => "[ok]  ",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
            Status::Skip => "[skip]",
            _ => "[?]   ",
        };
        out!("{mark} {}: {}", c.title, c.detail);
        if let Some(fix) = &c.fix {
            out!("       fix: {fix}");
        }
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    let warned = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .count();
    out!(
        "\n{}",
        match (failed, warned) {
            (0, 0) => "all checks passed".to_owned(),
            (0, w) => format!("no failures, {w} warning(s)"),
            (f, w) => format!("{f} check(s) failed, {w} warning(s)"),
        }
    );
}

#[cfg(feature = "demo")]
async fn demo(out: &std::path::Path, agents: usize, transcripts: usize, json: bool) -> ExitCode {
    match connector::demo::run(out, agents, transcripts).await {
        Ok(d) => {
            if json {
                out!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
            } else {
                out!(
                    "Started a tenant emulator at {} with {} environments ({} agents and {} transcripts in each with Dataverse).\n",
                    d.emulator_url,
                    connector::demo::DEMO_ENVIRONMENTS,
                    d.agents,
                    d.transcripts
                );
                out!("$ copilot-connector doctor");
                print_report(&d.doctor, false);
                out!("\n$ copilot-connector ingest --once");
                out!(
                    "read {} transcript(s): delivered {} pair(s) from {} in {} batch(es) of up to 50; {} without messages, {} unparseable",
                    d.pass.transcripts_read,
                    d.pass.records_delivered,
                    d.pass.transcripts_delivered,
                    d.pass.batches_delivered,
                    d.pass.transcripts_without_pairs,
                    d.pass.transcripts_unparseable.len()
                );
                out!(
                    "\nThe ingestion endpoint accepted {} record(s): {}\nSummary: {}",
                    d.records_ingested,
                    d.records_file.display(),
                    d.summary_file.display()
                );
                let inv = &d.inventory;
                out!(
                    "\n$ copilot-connector inventory scan --output {}",
                    inv.file.display()
                );
                out!(
                    "inventory scan {}: {} agent(s) in {} environment(s), {} finding(s), {} coverage gap(s) (the demo tenant plants some)",
                    match inv.status {
                        connector::inventory::scan::ScanStatus::Complete => "complete",
                        connector::inventory::scan::ScanStatus::Partial => "partial",
                        _ => "failed",
                    },
                    inv.agents,
                    inv.environments,
                    inv.findings,
                    inv.coverage_gaps
                );
                // The tenant inventory layer: where the agents came from, and why.
                match &inv.inventory_detail {
                    Some(why) => out!(
                        "tenant inventory read through {}: {why}",
                        inv.inventory_source
                    ),
                    None => out!("tenant inventory read through {}", inv.inventory_source),
                }
                out!(
                    "$ copilot-connector inventory report --input {} --output {}",
                    inv.file.display(),
                    inv.report_file.display()
                );
                out!(
                    "Inventory report: {} (open it in a browser)",
                    inv.report_file.display()
                );
                out!(
                    "\nNext: point it at your environment (see the README) and run `copilot-connector doctor`."
                );
            }
            if d.doctor.ok()
                && d.records_ingested as u64
                    == d.pass.records_delivered + d.pass.agent_records_delivered
                && d.inventory.status != connector::inventory::scan::ScanStatus::Failed
            {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(e) => {
            err!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Without the `demo` feature (a production build) there is no emulator to run against.
#[cfg(not(feature = "demo"))]
async fn demo(out: &std::path::Path, agents: usize, transcripts: usize, json: bool) -> ExitCode {
    let _ = (out, agents, transcripts, json);
    err!(
        "error: this copilot-connector was built without the `demo` feature (no tenant emulator); \
         build it with default features to run the demo"
    );
    ExitCode::from(EXIT_CONFIG)
}

//! `copilot-connector inventory ...`: the command-line side of the inventory (flags, output
//! files, progress bars, exit statuses). `main.rs` hands the parsed arguments here.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use dataverse_client::DataverseClient;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::Instrument;
use url::Url;

use super::output::Document;
use super::phase::Phase;
use super::report::{Format, RenderOptions, ReportSource};
use super::scan::{
    DEFAULT_CONCURRENCY, DEFAULT_REQUESTS_PER_ENVIRONMENT, Endpoints, ScanEvent, ScanOptions,
    ScanProgress, ScanResult, ScanStatus, Scanner, timestamp,
};
use super::store::{DEFAULT_INVENTORY_STATE, InventoryStore};
use super::tenant::InventorySourceChoice;
use super::upsert::{DEFAULT_CHANGE_SET, MAX_CHANGE_SET, write_rows};
use super::{EXIT_CONFIG, EXIT_FAILED, EXIT_LOCKED, EXIT_PARTIAL};
use crate::config::{ConfigError, RawConfig, SignIn, parse_duration};

/// Where the scan writes its JSON when neither `--output` nor `--inventory-url` is given.
pub const DEFAULT_OUTPUT: &str = "inventory-out/inventory.json";

/// `copilot-connector inventory`.
#[derive(Debug, clap::Args)]
pub struct InventoryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: InventoryCommand,
}

/// The inventory's commands.
#[derive(Debug, clap::Subcommand)]
pub enum InventoryCommand {
    /// Scan the tenant's agents into the inventory: environments, the tenant inventory, each environment's Dataverse.
    #[command(long_about = "Scan the tenant's agents into the inventory.\n\n\
Layer 1 reads the admin environment list and the tenant inventory (--inventory-source). Layer 2 reads each \
environment's Dataverse (bots with their configuration, botcomponents with their data, the six many-to-many \
relationships of components, 30 days of conversationtranscripts' cheap columns), --concurrency environments at \
a time. Later scans read only the changes since the stored delta links.\n\n\
The rows go to --output FILE (or - for standard output) as one JSON object keyed by table logical name, plus \
`summary` and `postures`, and with --inventory-url into that environment's eight inventory tables (only new or \
changed rows, upserted by alternate key in $batch change sets); with neither, to ./inventory-out/inventory.json.\n\n\
Exit status: 0 complete, 4 partial (something could not be read: see summary.coverage_gaps), 1 failed \
(nothing could be read), 2 invalid settings, 3 another scan holds the inventory state.")]
    Scan(ScanArgs),
    /// The inventory's eight tables: `show` prints their reference, `apply` creates them (idempotently) in --inventory-url.
    Schema {
        /// What to do.
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// What the last scan found: agents per environment with their risk level, findings with evidence, coverage gaps.
    #[command(
        long_about = "What the last scan found: agents per environment with their risk level, findings \
with their evidence, and coverage gaps (what could not be read).\n\n\
The scan is the last one stored in --inventory-state, or the document given with --input FILE (written by \
`inventory scan --output FILE`; - reads standard input).\n\n\
Formats: table (aligned columns for a terminal; colour only on a terminal without NO_COLOR), markdown, json \
(a stable shape with report_version), or html (one self-contained page with sortable, filterable tables; \
it makes no request). Without --format, --output FILE.html/.md/.json picks the format, --json picks json, \
else table. --output FILE writes the report there (- or nothing: standard output).\n\n\
Exit status: 0 written, 1 no scan or an unreadable document, 2 invalid settings."
    )]
    Report(ReportArgs),
    /// Check the rights the scan needs (inventory API, Resource Graph, bot/botcomponent read per environment, the inventory environment), each failure with its fix.
    #[command(
        long_about = "Check, reading only, what `inventory scan` needs, each failure with its fix: the admin \
environment list and the Power Platform resource query (Power Platform Administrator or a management \
application), Azure Resource Graph read (only needed with --inventory-source arg), read access to bot, \
botcomponent and the component relationships in every environment (the admin list's, or --environment), \
and, when --inventory-url (COPILOT_INVENTORY_URL) is set, the eight tables with active keys and the \
application user's roles there.\n\nExit status: 0 nothing failed (warnings allowed), 1 a check failed, \
2 invalid settings."
    )]
    Doctor(DoctorArgs),
}

/// The flags of `inventory doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Only these Dataverse environments (comma-separated or repeated); default: every environment of the admin list.
    #[arg(long = "environment", value_name = "URL", value_delimiter = ',')]
    pub environments: Vec<String>,
    /// The tenant inventory the scan reads: powerplatform, arg or none.
    #[arg(long, value_name = "SOURCE", default_value = "powerplatform", value_parser = InventorySourceChoice::parse)]
    pub inventory_source: InventorySourceChoice,
    /// The Power Platform API base URL, for the resource query.
    #[arg(long, env = "POWER_PLATFORM_API_URL", value_name = "URL")]
    pub power_platform_api_url: Option<String>,
    /// The BAP admin API base URL, for the environment list.
    #[arg(long, env = "BAP_API_URL", value_name = "URL")]
    pub bap_api_url: Option<String>,
    /// The Azure Resource Manager base URL, for Resource Graph.
    #[arg(long, env = "ARM_URL", value_name = "URL")]
    pub arm_url: Option<String>,
    /// The inventory environment the rows are written to, if any.
    #[arg(long, env = "COPILOT_INVENTORY_URL", value_name = "URL")]
    pub inventory_url: Option<String>,
}

/// The flags of `inventory report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// table, markdown, json or html (default: from --output's extension, else table).
    #[arg(long, value_name = "FORMAT", value_parser = Format::parse)]
    pub format: Option<Format>,
    /// A scan document written by `inventory scan --output FILE` (- for standard input) instead of the stored last scan.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The inventory state holding the last scan.
    #[arg(long, env = "COPILOT_INVENTORY_STATE", value_name = "FILE", default_value = DEFAULT_INVENTORY_STATE)]
    pub inventory_state: PathBuf,
}

/// `inventory schema ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SchemaAction {
    /// Print the tables, columns, option sets and alternate keys (Markdown).
    Show,
    /// Create what is missing of the option sets, tables, columns and alternate keys; a second run creates nothing.
    Apply {
        /// The inventory environment.
        #[arg(long, env = "COPILOT_INVENTORY_URL", value_name = "URL")]
        inventory_url: String,
    },
}

/// The flags of `inventory scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Only these Dataverse environments (comma-separated or repeated); default: every environment of the admin list.
    #[arg(long = "environment", value_name = "URL", value_delimiter = ',')]
    pub environments: Vec<String>,
    /// The tenant inventory: powerplatform (the resource query), arg (Azure Resource Graph) or none.
    #[arg(long, value_name = "SOURCE", default_value = "powerplatform", value_parser = InventorySourceChoice::parse)]
    pub inventory_source: InventorySourceChoice,
    /// Environments read at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY, value_parser = concurrency)]
    pub concurrency: usize,
    /// Requests in flight inside one environment.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REQUESTS_PER_ENVIRONMENT, value_parser = per_environment)]
    pub requests_per_environment: usize,
    /// Read every environment in full, ignoring the stored delta links.
    #[arg(long)]
    pub full: bool,
    /// Re-read usage (conversationtranscripts) when the stored usage is older than this.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub usage_refresh: Duration,
    /// The longest one environment's read may take before it is reported as a coverage gap.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub environment_timeout: Duration,
    /// The Power Platform API base URL, for the resource query.
    #[arg(long, env = "POWER_PLATFORM_API_URL", value_name = "URL")]
    pub power_platform_api_url: Option<String>,
    /// The BAP admin API base URL, for the environment list.
    #[arg(long, env = "BAP_API_URL", value_name = "URL")]
    pub bap_api_url: Option<String>,
    /// The Azure Resource Manager base URL, for Resource Graph.
    #[arg(long, env = "ARM_URL", value_name = "URL")]
    pub arm_url: Option<String>,
    /// Upsert the rows into the eight inventory tables of this Dataverse environment (created with `inventory schema apply`).
    #[arg(long, env = "COPILOT_INVENTORY_URL", value_name = "URL")]
    pub inventory_url: Option<String>,
    /// Upserts per `$batch` change set (at most 1000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHANGE_SET, value_parser = change_set)]
    pub change_set: usize,
    /// The inventory state (delta links, the last scan's rows).
    #[arg(long, env = "COPILOT_INVENTORY_STATE", value_name = "FILE", default_value = DEFAULT_INVENTORY_STATE)]
    pub inventory_state: PathBuf,
    /// Agent identities (permissions, grants, credentials, owners): graph (Microsoft Graph, needs Application.Read.All) or none.
    #[arg(long, value_name = "SOURCE", default_value = "graph", value_parser = super::identity::IdentityChoice::parse)]
    pub identity: super::identity::IdentityChoice,
    /// The Microsoft Graph root, for agent identities (default: the cloud's).
    #[arg(long, env = "GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// Read an agent's identity again when the last read is older than this (new or changed agents are always read).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub identity_max_age: Duration,
}

/// What `main.rs` passes on from the global flags.
#[derive(Debug)]
pub struct CliContext {
    /// `--json`.
    pub json: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `--output`.
    pub output: Option<String>,
    /// The merged settings (flags, environment, file), for the credential.
    pub raw: Result<RawConfig, ConfigError>,
}

macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Runs an inventory command and returns its exit status.
pub async fn run(args: &InventoryArgs, ctx: CliContext) -> ExitCode {
    match &args.command {
        InventoryCommand::Scan(scan) => run_scan(scan, ctx).await,
        InventoryCommand::Schema {
            action: SchemaAction::Show,
        } => {
            out!("{}", super::schema::show());
            ExitCode::SUCCESS
        }
        InventoryCommand::Schema {
            action: SchemaAction::Apply { inventory_url },
        } => run_apply(inventory_url, ctx).await,
        InventoryCommand::Report(report) => run_report(report, &ctx),
        InventoryCommand::Doctor(doctor) => run_doctor(doctor, ctx).await,
    }
}

/// The report's format: `--format`, else the output file's extension, else `--json`, else table.
pub fn report_format(args: &ReportArgs, json: bool, output: Option<&str>) -> Format {
    args.format
        .or_else(|| {
            output
                .filter(|o| *o != "-")
                .and_then(Format::from_extension)
        })
        .unwrap_or(if json { Format::Json } else { Format::Table })
}

fn run_report(args: &ReportArgs, ctx: &CliContext) -> ExitCode {
    let output = ctx.output.as_deref().filter(|o| *o != "-");
    let format = report_format(args, ctx.json, output);
    let source = match &args.input {
        Some(path) => ReportSource::File(path.clone()),
        None => ReportSource::State(args.inventory_state.clone()),
    };
    let report = match super::report::load(&source) {
        Ok(r) => r,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    // Colour only for a person at a terminal who has not asked for none.
    let color = format == Format::Table
        && output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb");
    let text = report.render(format, &RenderOptions::default().color(color));
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                // A reader that stops early (`| head`) is not a failure of the report.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    err!("error: cannot write to standard output: {e}");
                    return ExitCode::from(EXIT_FAILED);
                }
                _ => {}
            }
        }
        Some(path) => {
            if let Err(e) = write_text(path, &text) {
                err!("error: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
            let t = &report.totals;
            out!(
                "inventory report: {path} ({} agent(s), {} finding(s), {} coverage gap(s))",
                t.agents,
                t.findings,
                t.coverage_gaps
            );
        }
    }
    ExitCode::SUCCESS
}

fn count_in(s: &str, max: usize) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("give a whole number from 1 to {max}")),
    }
}

fn concurrency(s: &str) -> Result<usize, String> {
    count_in(s, 64)
}

fn change_set(s: &str) -> Result<usize, String> {
    count_in(s, MAX_CHANGE_SET)
}

fn per_environment(s: &str) -> Result<usize, String> {
    count_in(s, 16)
}

fn service_url(value: Option<&str>, name: &str) -> Result<Option<Url>, String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let url = Url::parse(v).map_err(|e| {
        format!("{name} is not a URL ({e}): give https://host, or http://127.0.0.1:PORT for a local stand-in")
    })?;
    client_core::check_url(&url).map_err(|e| format!("{name}: {e}"))?;
    Ok(Some(url))
}

/// The URLs of `--environment`, in order; an empty item is refused by its position.
fn environment_urls(items: &[String]) -> Result<Vec<Url>, String> {
    let mut urls = Vec::with_capacity(items.len());
    for (i, e) in items.iter().enumerate() {
        let url = service_url(Some(e), "--environment")?.ok_or_else(|| {
            format!("--environment item {} is empty: give the environment URL, e.g. https://contoso.crm.dynamics.com", i + 1)
        })?;
        urls.push(url);
    }
    Ok(urls)
}

/// The tenant inventory's endpoints from their flags (each unset one: the cloud's default).
fn endpoints(
    power_platform: Option<&str>,
    bap: Option<&str>,
    arm: Option<&str>,
) -> Result<Endpoints, String> {
    Ok(Endpoints {
        power_platform: service_url(
            power_platform,
            "POWER_PLATFORM_API_URL (--power-platform-api-url)",
        )?,
        bap: service_url(bap, "BAP_API_URL (--bap-api-url)")?,
        arm: service_url(arm, "ARM_URL (--arm-url)")?,
    })
}

/// The sign-in the merged settings name, and its credential on the system clock.
fn signed_in(
    raw: Result<RawConfig, ConfigError>,
) -> Result<
    (
        SignIn,
        client_core::SharedCredential,
        client_core::SharedClock,
    ),
    String,
> {
    let sign_in = raw
        .and_then(|raw| SignIn::from_raw(&raw))
        .map_err(|e| e.to_string())?;
    let clock = client_core::system_clock();
    let credential =
        crate::credential::from_sign_in(&sign_in, clock.clone()).map_err(|e| e.to_string())?;
    Ok((sign_in, credential, clock))
}

/// Says `error: {e}` and gives the exit status of an unusable setting.
fn config_error(e: impl std::fmt::Display) -> ExitCode {
    err!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// The doctor's options from its flags; the problem names the flag.
pub fn doctor_options(args: &DoctorArgs) -> Result<super::doctor::DoctorOptions, String> {
    Ok(super::doctor::DoctorOptions {
        environments: environment_urls(&args.environments)?,
        inventory_source: args.inventory_source,
        endpoints: endpoints(
            args.power_platform_api_url.as_deref(),
            args.bap_api_url.as_deref(),
            args.arm_url.as_deref(),
        )?,
        inventory_url: service_url(
            args.inventory_url.as_deref(),
            "COPILOT_INVENTORY_URL (--inventory-url)",
        )?,
        ..Default::default()
    })
}

async fn run_doctor(args: &DoctorArgs, ctx: CliContext) -> ExitCode {
    let options = match doctor_options(args) {
        Ok(o) => o,
        Err(e) => return config_error(e),
    };
    let (_, credential, clock) = match signed_in(ctx.raw) {
        Ok(s) => s,
        Err(e) => return config_error(e),
    };
    let report = super::doctor::run(&credential, &clock, &options).await;
    if ctx.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for c in &report.checks {
            let mark = match c.status {
                crate::doctor::Status::Pass => "ok  ",
                crate::doctor::Status::Warn => "warn",
                crate::doctor::Status::Fail => "FAIL",
                _ => "skip",
            };
            out!("[{mark}] {}: {}", c.title, c.detail);
            if let Some(fix) = &c.fix {
                out!("       fix: {fix}");
            }
        }
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// The scan's options from its flags; the problem names the flag.
pub fn scan_options(args: &ScanArgs) -> Result<ScanOptions, String> {
    let mut o = ScanOptions::default();
    if !args.environments.is_empty() {
        o.environments = Some(environment_urls(&args.environments)?);
    }
    o.inventory_source = args.inventory_source;
    o.concurrency = args.concurrency;
    o.requests_per_environment = args.requests_per_environment;
    o.full = args.full;
    o.usage_refresh = args.usage_refresh;
    o.environment_timeout = args.environment_timeout;
    o.endpoints = endpoints(
        args.power_platform_api_url.as_deref(),
        args.bap_api_url.as_deref(),
        args.arm_url.as_deref(),
    )?;
    o.identity.choice = args.identity;
    o.identity.graph_url = service_url(args.graph_url.as_deref(), "GRAPH_URL (--graph-url)")?;
    o.identity.max_age = args.identity_max_age;
    Ok(o)
}

fn progress(verbose: u8) -> Option<(ScanProgress, ProgressBar)> {
    // Only for a person watching: not when stderr is piped or logs are on.
    if !std::io::stderr().is_terminal() || verbose > 0 {
        return None;
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg} {bar:30} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb.set_message("layer 1: the environment list");
    let bar = pb.clone();
    let f: ScanProgress = Arc::new(move |e| match e {
        ScanEvent::Environments(n) => {
            // The tenant inventory is read while the environments are.
            bar.set_length(n as u64);
            bar.set_message("layer 2: environments (and the tenant inventory)");
        }
        ScanEvent::Inventory(n) => {
            bar.set_message(format!(
                "layer 2: environments ({n} agents in the tenant inventory)"
            ));
        }
        ScanEvent::EnvironmentDone(_) => bar.inc(1),
    });
    Some((f, pb))
}

/// Writes the document alone (compact, see [`serialise`]) to `target` (`-` for standard
/// output), streaming it.
fn write_document(target: &str, doc: &Document<'_>) -> Result<(), String> {
    let mut file = OutputFile::create(target)?;
    serialise(&mut file, doc).map_err(|e| file.error(&e))?;
    file.finish()
}

/// Writes `text` to `target` (`-` for standard output), creating the directory.
pub(crate) fn write_text(target: &str, text: &str) -> Result<(), String> {
    write_with(target, |out| out.write_all(text.as_bytes()))
}

/// Writes what `write` produces, buffered, to `target` (`-` for standard output), creating
/// the directory; a file is written beside and renamed, so a reader never sees half of it.
fn write_with(
    target: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut out = OutputFile::create(target)?;
    write(&mut out).map_err(|e| out.error(&e))?;
    out.finish()
}

/// The exit status of a scan's status.
pub fn exit_status(status: ScanStatus) -> u8 {
    match status {
        ScanStatus::Complete => 0,
        ScanStatus::Partial => EXIT_PARTIAL,
        _ => EXIT_FAILED,
    }
}

async fn run_apply(inventory_url: &str, ctx: CliContext) -> ExitCode {
    let url = match service_url(
        Some(inventory_url),
        "COPILOT_INVENTORY_URL (--inventory-url)",
    ) {
        Ok(Some(u)) => u,
        Ok(None) => {
            err!("error: give --inventory-url, the environment to create the inventory tables in");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => return config_error(e),
    };
    let client = signed_in(ctx.raw).and_then(|(_, credential, clock)| {
        DataverseClient::builder(url.as_str(), credential)
            .and_then(|b| b.clock(clock).build())
            .map_err(|e| e.to_string())
    });
    let client = match client {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    match super::schema::apply(&client).await {
        Ok(report) => {
            if ctx.json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                for c in &report.created {
                    out!("created {c}");
                }
                out!(
                    "schema applied: {} created, {} already there",
                    report.created.len(),
                    report.existing
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!(
                "error: {e} (fix: the app needs the System Customizer role, or prvCreateEntity and prvCreateAttribute, in that environment)"
            );
            ExitCode::from(EXIT_FAILED)
        }
    }
}

async fn run_scan(args: &ScanArgs, ctx: CliContext) -> ExitCode {
    let mut options = match scan_options(args) {
        Ok(o) => o,
        Err(e) => return config_error(e),
    };
    let (sign_in, credential, clock) = match signed_in(ctx.raw) {
        Ok(s) => s,
        Err(e) => return config_error(e),
    };
    options.identity.authority_host = Some(sign_in.authority_host);
    let opening = Phase::start("open state");
    let store = opening
        .span()
        .in_scope(|| InventoryStore::open(&args.inventory_state));
    drop(opening);
    let mut store = match store {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(if e.is_locked() {
                EXIT_LOCKED
            } else {
                EXIT_FAILED
            });
        }
    };
    let inventory_url = match service_url(
        args.inventory_url.as_deref(),
        "COPILOT_INVENTORY_URL (--inventory-url)",
    ) {
        Ok(u) => u,
        Err(e) => return config_error(e),
    };
    let output = match (&ctx.output, &inventory_url) {
        (Some(o), _) => Some(o.clone()),
        (None, None) => Some(DEFAULT_OUTPUT.to_owned()),
        (None, Some(_)) => None,
    };
    let writer = match &inventory_url {
        None => None,
        Some(url) => {
            match DataverseClient::builder(url.as_str(), credential.clone()).and_then(|b| {
                b.max_concurrency(args.requests_per_environment)
                    .clock(clock.clone())
                    .build()
            }) {
                Ok(c) => Some(c),
                Err(e) => {
                    err!("error: the inventory environment URL cannot be used: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            }
        }
    };
    let destination = inventory_url
        .as_ref()
        .map_or_else(|| "json".to_owned(), |u| format!("dataverse:{u}"));
    let destination = destination.as_str();
    let beginning = Phase::start("begin_scan (previous rows)");
    let previous = beginning.span().in_scope(|| store.begin_scan(destination));
    drop(beginning);
    let previous = match previous {
        Ok(p) => p,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let scanner = Scanner::new(credential, clock.clone(), options);
    let bar = progress(ctx.verbose);
    let scanning = Phase::start("scan");
    let result = scanner
        .scan_from(previous, bar.as_ref().map(|(f, _)| f.clone()))
        .instrument(scanning.span())
        .await;
    drop(scanning);
    if let Some((_, pb)) = bar {
        pb.finish_and_clear();
    }
    let mut result = match result {
        Ok(r) => r,
        Err(e) => return config_error(e),
    };
    let mut written = true;
    if let Some(client) = &writer
        && result.summary.status != ScanStatus::Failed
    {
        // Only what changed since the rows last written there (all rows the first time).
        let upserting = Phase::start("upsert into the inventory tables");
        let report = write_rows(
            client,
            &result.diff.upserts,
            args.change_set,
            args.requests_per_environment,
        )
        .instrument(upserting.span())
        .await;
        drop(upserting);
        written = report.is_complete();
        if !written {
            result.summary.status = ScanStatus::Partial;
        }
        result.summary.write = Some(report);
    }
    let saving = Phase::start("document written and state committed");
    let saved = saving.span().in_scope(|| {
        save(
            &mut store,
            &result,
            output.as_deref(),
            destination,
            written,
            &clock,
        )
    });
    drop(saving);
    if let Err(e) = saved {
        err!("error: {e}");
        return ExitCode::from(EXIT_FAILED);
    }
    print_summary(&result, ctx.json, output.as_deref());
    let status = exit_status(result.summary.status);
    // Everything is written, flushed and committed: what is left is to free the rows, tens
    // of thousands of small allocations (about 0.4 s for a large tenant), which the process
    // would only do to exit. They are freed on a thread of their own instead, which the
    // process's exit does not wait for; a caller that goes on still gets the memory back.
    let closing = Phase::start("state closed");
    drop(store);
    drop(closing);
    let _ = std::thread::Builder::new()
        .name("inventory-free".into())
        .spawn(move || drop(result));
    ExitCode::from(status)
}

/// Writes the scan's document once: serialised (compact) a single time, each byte going both
/// to `output` (when given) and into the state's stored copy (when the rows were all
/// written), then commits the state; or, for a scan that failed, writes `output` alone and
/// leaves the state as it was. The output file is complete whenever this returns `Ok`, and
/// also when only the state's commit failed.
fn save(
    store: &mut InventoryStore,
    result: &ScanResult,
    output: Option<&str>,
    destination: &str,
    written: bool,
    clock: &client_core::SharedClock,
) -> Result<(), String> {
    let doc = Document(result);
    if result.summary.status == ScanStatus::Failed {
        if let Some(output) = output {
            write_document(output, &doc)?;
        }
        // Nothing read is kept: the next scan starts from the previous state.
        if let Err(e) = store.rollback() {
            err!("error: the scan state could not be rolled back: {e}");
        }
        return Ok(());
    }
    let mut file = match output {
        Some(target) => Some(OutputFile::create(target)?),
        None => None,
    };
    let now = timestamp(clock.now());
    let committed = if written {
        let file = std::cell::RefCell::new(&mut file);
        // One serialisation, teed: the stored copy and the output file get the same bytes.
        let tee = |stored: &mut dyn Write| -> std::io::Result<()> {
            let mut file = file.borrow_mut();
            match file.as_mut() {
                Some(file) => {
                    serialise(&mut Tee { stored, file }, &doc)?;
                    file.complete = true;
                    Ok(())
                }
                None => serialise(stored, &doc),
            }
        };
        store.commit(
            destination,
            &result.summary.run_id,
            &result.environments,
            Some(&tee),
            &now,
        )
    } else {
        // The rows were not all written to the inventory environment: the stored rows stay
        // the previous scan's, the base of the next diff, so what failed is written again.
        if let Some(file) = file.as_mut() {
            serialise(file, &doc).map_err(|e| file.error(&e))?;
            file.complete = true;
        }
        store.commit(
            destination,
            &result.summary.run_id,
            &result.environments,
            None,
            &now,
        )
    };
    if let Some(mut file) = file {
        if let Some(e) = file.failed.take() {
            // The output could not be written, so the state was not committed either.
            return Err(e);
        }
        if !file.complete {
            // The commit failed before or while it serialised the document: the output is
            // still written whole, as the user asked for it.
            file.restart()?;
            serialise(&mut file, &doc).map_err(|e| file.error(&e))?;
        }
        file.finish()?;
    }
    committed.map_err(|e| format!("the rows were written but the scan state was not saved: {e}"))
}

/// Where `--output` goes while it is written: standard output, or a temporary file beside
/// the target that [`finish`](Self::finish) renames into place, so a reader never sees half
/// of it.
struct OutputFile {
    target: PathBuf,
    tmp: PathBuf,
    out: std::io::BufWriter<Box<dyn Write>>,
    /// Bytes were written.
    started: bool,
    /// A whole document was written.
    complete: bool,
    /// Why writing failed, if it did.
    failed: Option<String>,
}

impl OutputFile {
    fn create(target: &str) -> Result<Self, String> {
        let (tmp, out): (PathBuf, Box<dyn Write>) = if target == "-" {
            (PathBuf::new(), Box::new(std::io::stdout().lock()))
        } else {
            let path = Path::new(target);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".tmp");
            let tmp = PathBuf::from(tmp);
            let file = std::fs::File::create(&tmp)
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            (tmp, Box::new(file))
        };
        Ok(OutputFile {
            target: PathBuf::from(target),
            tmp,
            out: std::io::BufWriter::with_capacity(256 * 1024, out),
            started: false,
            complete: false,
            failed: None,
        })
    }

    fn is_stdout(&self) -> bool {
        self.target.as_os_str() == "-"
    }

    fn error(&self, e: &std::io::Error) -> String {
        if self.is_stdout() {
            format!("cannot write to standard output: {e}")
        } else {
            format!("cannot write {}: {e}", self.tmp.display())
        }
    }

    /// Starts the output again, empty (a file only: what went to standard output stays).
    fn restart(&mut self) -> Result<(), String> {
        if self.started && !self.is_stdout() {
            *self = OutputFile::create(&self.target.to_string_lossy())?;
        }
        Ok(())
    }

    /// Flushes, and renames a file into place.
    fn finish(mut self) -> Result<(), String> {
        self.out.flush().map_err(|e| self.error(&e))?;
        if self.is_stdout() {
            return Ok(());
        }
        drop(self.out);
        std::fs::rename(&self.tmp, &self.target)
            .map_err(|e| format!("cannot write {}: {e}", self.target.display()))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.started = true;
        let written = self.out.write(buf);
        if let Err(e) = &written {
            self.failed = Some(self.error(e));
        }
        written
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = self.out.flush();
        if let Err(e) = &flushed {
            self.failed = Some(self.error(e));
        }
        flushed
    }
}

/// The document as compact JSON and a final newline.
///
/// Compact rather than indented: the document of a large tenant is tens of megabytes, the
/// same bytes are stored in the state for the next scan and `inventory report`, and indenting
/// would add a third to what is written, stored and parsed again; `jq .` indents it.
///
/// Buffered here: serde_json writes token by token (a key, a quote, a comma), and each write
/// would otherwise go through the tee, the state's part writer and the output file one at a
/// time (about 0.6 CPU-s for the 48.8 MB document of 2,000 agents; see BENCHMARKS.md).
fn serialise(out: &mut dyn Write, doc: &Document<'_>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(SERIALISE_BUFFER, out);
    serde_json::to_writer(&mut out, doc)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// What [`serialise`] gathers before it hands bytes on.
const SERIALISE_BUFFER: usize = 64 * 1024;

/// Writes every byte both to the state's stored copy and to the output file.
struct Tee<'a> {
    stored: &'a mut dyn Write,
    file: &'a mut OutputFile,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // All of `buf` to each side: the two may take different amounts per call.
        self.stored.write_all(buf)?;
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stored.flush()?;
        self.file.flush()
    }
}

fn print_summary(result: &ScanResult, json: bool, output: Option<&str>) {
    let s = &result.summary;
    let text = if json {
        serde_json::to_string_pretty(s).unwrap_or_default()
    } else {
        let mut t = format!(
            "inventory scan {}: {} agent(s) in {} environment(s) read, {} finding(s), {} coverage gap(s)",
            match s.status {
                ScanStatus::Complete => "complete",
                ScanStatus::Partial => "partial",
                _ => "failed",
            },
            s.agents,
            s.layers.dataverse.count,
            s.findings,
            s.coverage_gaps.len()
        );
        t.push_str(&format!(
            "\n  environment list: {}; tenant inventory ({}): {} ({} agents); Dataverse requests: {}",
            s.layers.environment_list.status,
            s.layers.tenant_inventory.source.unwrap_or("none"),
            s.layers.tenant_inventory.status,
            s.layers.tenant_inventory.count,
            s.dataverse_requests
        ));
        let id = &s.layers.identity;
        t.push_str(&format!(
            "\n  agent identities (Microsoft Graph): {} ({} known){}",
            id.status,
            id.count,
            id.detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ));
        for e in &s.environments {
            t.push_str(&format!(
                "\n  {} {}: {} bot(s), {} component(s), {} request(s){}",
                e.environment_id,
                e.outcome,
                e.bots,
                e.components,
                e.requests,
                e.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
        }
        let changed: usize = s.changes.upserts.values().sum();
        if s.changes.compared {
            t.push_str(&format!(
                "\n  since the last scan: {changed} row(s) new or changed, {} agent(s) gone",
                s.changes.gone_agents
            ));
        }
        if let Some(w) = &s.write {
            t.push_str(&format!(
                "\n  inventory tables: {} row(s) upserted in {} batch(es), {} failed",
                w.written.values().sum::<usize>(),
                w.batches,
                w.failed.len()
            ));
            for f in w.failed.iter().take(10) {
                t.push_str(&format!("\n    not written: {f}"));
            }
        }
        if let Some(o) = output.filter(|o| *o != "-") {
            t.push_str(&format!("\n  rows: {o}"));
        }
        t
    };
    // With the document on stdout, the summary goes to stderr so the JSON stays clean.
    if output == Some("-") {
        err!("{text}");
    } else {
        out!("{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        scan: ScanArgs,
    }

    fn options(args: &[&str]) -> Result<ScanOptions, String> {
        let t = T::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        scan_options(&t.scan)
    }

    #[test]
    fn flags_become_options() {
        let o = options(&[
            "--environment",
            "https://a.crm.dynamics.com,https://b.crm4.dynamics.com",
            "--inventory-source",
            "arg",
            "--concurrency",
            "4",
            "--bap-api-url",
            "http://127.0.0.1:9000",
        ])
        .unwrap();
        assert_eq!(o.environments.as_ref().map(Vec::len), Some(2));
        assert_eq!(o.inventory_source, InventorySourceChoice::ResourceGraph);
        assert_eq!(o.concurrency, 4);
        assert_eq!(
            o.endpoints.bap.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:9000/")
        );
        assert_eq!(options(&[]).unwrap().concurrency, DEFAULT_CONCURRENCY);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let e = options(&["--arm-url", "http://management.example.com"]).unwrap_err();
        assert!(e.contains("ARM_URL"), "{e}");
        let e = options(&["--environment", "contoso"]).unwrap_err();
        assert!(e.contains("--environment"), "{e}");
        assert!(options(&["--inventory-source", "graph"]).is_err());
        assert!(options(&["--concurrency", "0"]).is_err());
    }

    #[derive(Debug, Parser)]
    struct D {
        #[command(flatten)]
        doctor: DoctorArgs,
    }

    #[test]
    fn doctor_and_scan_read_their_shared_flags_alike() {
        let flags = [
            "--environment",
            "https://a.crm.dynamics.com,https://b.crm4.dynamics.com",
            "--power-platform-api-url",
            "http://127.0.0.1:9001",
            "--arm-url",
            "http://127.0.0.1:9002",
        ];
        let doctor = |args: &[&str]| {
            let d = D::try_parse_from(std::iter::once("d").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
            doctor_options(&d.doctor)
        };
        let d = doctor(&flags).unwrap();
        let s = options(&flags).unwrap();
        assert_eq!(Some(&d.environments), s.environments.as_ref());
        assert_eq!(d.endpoints.power_platform, s.endpoints.power_platform);
        assert_eq!(d.endpoints.arm, s.endpoints.arm);
        assert_eq!(d.endpoints.bap, None);
        assert_eq!(
            d.endpoints.arm.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:9002/")
        );
        for e in [
            doctor(&["--environment", "https://a.crm.dynamics.com,"]).unwrap_err(),
            options(&["--environment", "https://a.crm.dynamics.com,"]).unwrap_err(),
        ] {
            assert!(e.contains("--environment item 2 is empty"), "{e}");
        }
        let e = doctor(&["--bap-api-url", "ftp://x"]).unwrap_err();
        assert!(e.contains("BAP_API_URL (--bap-api-url)"), "{e}");
    }

    #[test]
    fn files_are_written_whole_in_new_directories() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/report.md");
        let target = target.to_str().unwrap();
        write_text(target, "# one\n").unwrap();
        write_text(target, "# two\n").unwrap();
        assert_eq!(std::fs::read_to_string(target).unwrap(), "# two\n");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["report.md"], "no temporary file is left");
        let e = write_text(dir.path().join("a/b/report.md/x").to_str().unwrap(), "").unwrap_err();
        assert!(e.contains("cannot"), "{e}");
    }

    /// `inventory scan --output FILE` against `emu`, in this process, as the command runs it.
    async fn scan(emu: &tenant_emulator::RunningEmulator, state: &Path, output: &Path) -> u8 {
        use crate::config::keys;
        let creds = emu.credentials();
        let mut raw = RawConfig::new();
        raw.set_flag(keys::TENANT_ID, Some(creds.tenant_id.to_string()));
        raw.set_flag(keys::CLIENT_ID, Some(creds.client_id.to_string()));
        raw.set_flag(keys::CLIENT_SECRET, Some(creds.client_secret.clone()));
        raw.set_flag(keys::AUTHORITY_HOST, Some(emu.authority_host().to_owned()));
        #[derive(Debug, Parser)]
        struct I {
            #[command(subcommand)]
            command: InventoryCommand,
        }
        let base = emu.inventory_url();
        let i = I::try_parse_from([
            "i",
            "scan",
            "--power-platform-api-url",
            base,
            "--bap-api-url",
            base,
            "--arm-url",
            base,
            "--identity",
            "none",
            "--inventory-state",
            state.to_str().unwrap(),
        ])
        .unwrap();
        let ctx = CliContext {
            json: true,
            verbose: 0,
            output: Some(output.to_str().unwrap().to_owned()),
            raw: Ok(raw),
        };
        let code = run(&InventoryArgs { command: i.command }, ctx).await;
        [0, EXIT_PARTIAL, EXIT_FAILED]
            .into_iter()
            .find(|c| ExitCode::from(*c) == code)
            .unwrap_or(u8::MAX)
    }

    /// The stored document's text: its parts, in order, joined.
    fn stored_text(state: &Path) -> Vec<u8> {
        let conn = rusqlite::Connection::open(state).unwrap();
        let mut s = conn
            .prepare("SELECT bytes FROM inventory_document_part ORDER BY destination, seq")
            .unwrap();
        let parts = s.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
        parts.flat_map(Result::unwrap).collect()
    }

    fn report_json(source: super::super::report::ReportSource) -> String {
        super::super::report::load(&source)
            .unwrap()
            .render(Format::Json, &RenderOptions::default())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_document_is_serialised_once_into_the_output_and_the_state_alike() {
        use super::super::output::read_document;
        use super::super::report::ReportSource;
        let emu = tenant_emulator::Emulator::builder()
            .seed(41)
            .environments(2)
            .agents(4)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let output = dir.path().join("out/inventory.json");
        let mut run_ids = Vec::new();
        for scan_no in 0..2 {
            let code = scan(&emu, &state, &output).await;
            assert!(code == 0 || code == EXIT_PARTIAL, "exit {code}");
            let file = std::fs::read(&output).unwrap();
            // The same bytes in the file and in the state (the file ends with a newline).
            let stored = stored_text(&state);
            assert!(!stored.is_empty());
            assert_eq!(
                String::from_utf8_lossy(&stored),
                String::from_utf8_lossy(&file),
                "scan {scan_no}: the stored copy differs from --output"
            );
            // Both read back: the rows as the next scan reads them, and `inventory report`
            // from the state equals `inventory report --input FILE`.
            let text = String::from_utf8(file).unwrap();
            let doc = read_document(&text).unwrap();
            assert!(!doc.rows.agents.is_empty());
            assert!(!doc.rows.features.is_empty());
            let from_state = report_json(ReportSource::State(state.clone()));
            assert_eq!(from_state, report_json(ReportSource::File(output.clone())));
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            run_ids.push(value["summary"]["run_id"].as_str().unwrap().to_owned());
            // The report is the last scan's.
            assert!(from_state.contains(&run_ids[scan_no]), "scan {scan_no}");
        }
        assert_ne!(run_ids[0], run_ids[1]);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["inventory.json"], "no temporary file is left");
    }

    #[test]
    fn statuses_map_to_documented_exit_codes() {
        assert_eq!(exit_status(ScanStatus::Complete), 0);
        assert_eq!(exit_status(ScanStatus::Partial), EXIT_PARTIAL);
        assert_eq!(exit_status(ScanStatus::Failed), EXIT_FAILED);
    }
}

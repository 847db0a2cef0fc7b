//! Configuration: command-line flags, a TOML file and environment variables (Akto's names
//! accepted unchanged), merged in that order of precedence and validated at start.
//!
//! Every value remembers where it came from, so a validation error names the flag, the
//! variable or the file key (and line) the operator has to fix. No error quotes a value: a
//! secret pasted into the wrong setting, or a malformed line of the file, never reaches a log.
//!
//! Each setting has one parser in `settings.rs`; the value rules they share (URLs, GUIDs,
//! bounded durations and counts, paths) are in `values.rs`; the TOML file is read in `file.rs`.

use client_core::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;
use uuid::Uuid;

mod file;
mod settings;
mod values;

pub use values::{format_duration, parse_duration};

/// The default Entra authority (public cloud).
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The default checkpoint database, in the working directory.
pub const DEFAULT_STATE_FILE: &str = "copilot-connector.db";
/// Akto's default account id.
pub const DEFAULT_AKTO_ACCOUNT_ID: &str = "1000000";
/// The default host written into Akto records.
pub const DEFAULT_RECORD_HOST: &str = "copilot.microsoft.com";
/// How far each pass reaches back before the checkpoint, because transcripts reach
/// Dataverse up to 30 minutes after the conversation.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(30 * 60);
/// Records per delivery, as Akto's own publisher sends them.
pub const DEFAULT_BATCH_SIZE: usize = 50;
/// Batches delivered at once while the next rows are read: a crash repeats at most this many.
pub const DEFAULT_IN_FLIGHT: usize = 8;
/// Rows per Dataverse page. Fewer, larger pages cut round trips (and Dataverse's own per-page
/// work); a page is held while it is paired, so tenants whose transcripts run near 1 MB each
/// may want it lower.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// How long a pair on the open edge of a split session waits for its missing row by default
/// (see [`crate::ingest::DEFAULT_SPLIT_SETTLE`]).
pub const DEFAULT_SPLIT_SETTLE: Duration = crate::ingest::DEFAULT_SPLIT_SETTLE;
/// The longest split-settle wait: rows of one session are written within seconds of each
/// other, and a longer wait only holds the checkpoint back.
pub const MAX_SPLIT_SETTLE: Duration = Duration::from_secs(24 * 3600);
/// The longest overlap: a window reaching further back re-reads more than it can ever need.
pub const MAX_OVERLAP: Duration = Duration::from_secs(30 * 86_400);
/// The furthest `since` reaches back (ten years, longer than any transcript is retained); it
/// also keeps the start time far inside the representable range.
pub const MAX_SINCE: Duration = Duration::from_secs(3650 * 86_400);
/// How long one delivery may take in all, retries and `Retry-After` waits included, before a
/// hung destination fails the pass.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest delivery deadline that can be configured.
pub const MAX_DELIVERY_TIMEOUT: Duration = Duration::from_secs(3600);

/// One configuration key: its flag, its environment variables (first is preferred) and its
/// TOML key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The TOML key.
    pub toml: &'static str,
    /// The command-line flag, without `--`.
    pub flag: &'static str,
    /// The environment variables read for it, in order of preference.
    pub env: &'static [&'static str],
}

macro_rules! keys {
    ($($name:ident = ($toml:literal, $flag:literal, [$($env:literal),*]);)*) => {
        /// The configuration keys.
        pub mod keys {
            use super::Key;
            $(
                #[doc = concat!("`", $toml, "` / `--", $flag, "`")]
                pub const $name: Key = Key { toml: $toml, flag: $flag, env: &[$($env),*] };
            )*
            /// Every key.
            pub const ALL: &[Key] = &[$($name),*];
        }
    };
}

keys! {
    ENVIRONMENT_URL = ("environment_url", "environment-url", ["DATAVERSE_ENVIRONMENT_URL"]);
    TENANT_ID = ("tenant_id", "tenant-id", ["DATAVERSE_TENANT_ID", "AZURE_TENANT_ID"]);
    CLIENT_ID = ("client_id", "client-id", ["DATAVERSE_CLIENT_ID", "AZURE_CLIENT_ID"]);
    CLIENT_SECRET = ("client_secret", "client-secret", ["DATAVERSE_CLIENT_SECRET", "AZURE_CLIENT_SECRET"]);
    CERTIFICATE_PATH = ("certificate_path", "certificate", ["AZURE_CLIENT_CERTIFICATE_PATH"]);
    FEDERATED_TOKEN_FILE = ("federated_token_file", "federated-token-file", ["AZURE_FEDERATED_TOKEN_FILE"]);
    MANAGED_IDENTITY = ("managed_identity", "managed-identity", ["COPILOT_CONNECTOR_MANAGED_IDENTITY"]);
    AUTHORITY_HOST = ("authority_host", "authority-host", ["AZURE_AUTHORITY_HOST"]);
    BOT_IDS = ("bot_ids", "bot-id", ["COPILOT_BOT_ID"]);
    INGESTION_URL = ("ingestion_url", "ingestion-url", ["DATA_INGESTION_SERVICE_URL"]);
    AKTO_TOKEN = ("akto_token", "akto-token", ["AKTO_JWT_TOKEN"]);
    AKTO_ACCOUNT_ID = ("akto_account_id", "akto-account-id", ["AKTO_ACCOUNT_ID"]);
    OUTPUT = ("output", "output", ["COPILOT_CONNECTOR_OUTPUT"]);
    STATE = ("state", "state", ["COPILOT_CONNECTOR_STATE"]);
    OVERLAP = ("overlap", "overlap", ["COPILOT_CONNECTOR_OVERLAP"]);
    SINCE = ("since", "since", ["COPILOT_CONNECTOR_SINCE"]);
    PAGE_SIZE = ("page_size", "page-size", ["COPILOT_CONNECTOR_PAGE_SIZE"]);
    BATCH_SIZE = ("batch_size", "batch-size", ["COPILOT_CONNECTOR_BATCH_SIZE"]);
    IN_FLIGHT = ("in_flight", "in-flight", ["COPILOT_CONNECTOR_IN_FLIGHT"]);
    SPLIT_SETTLE = ("split_settle", "split-settle", ["COPILOT_CONNECTOR_SPLIT_SETTLE"]);
    RECORD_HOST = ("record_host", "record-host", ["COPILOT_CONNECTOR_RECORD_HOST"]);
    ENVIRONMENT_ID = ("environment_id", "environment-id", ["COPILOT_ENVIRONMENT_ID"]);
    STRICT = ("strict", "strict", ["COPILOT_CONNECTOR_STRICT"]);
    DELIVERY_TIMEOUT = ("delivery_timeout", "delivery-timeout", ["COPILOT_CONNECTOR_DELIVERY_TIMEOUT"]);
    HOST_SHAPE = ("host_shape", "host-shape", ["COPILOT_CONNECTOR_HOST_SHAPE"]);
    USER_MAP_FILE = ("user_map_file", "user-map-file", ["COPILOT_STUDIO_USER_MAP_FILE"]);
    USER_AGENT_MAP_OUTPUT_FILE = ("user_agent_map_output_file", "user-agent-map-output-file", ["COPILOT_STUDIO_USER_AGENT_MAP_OUTPUT_FILE"]);
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A key of the TOML file.
    File {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The line of the key (1-based).
        line: usize,
    },
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::Env(var) => write!(f, "{var}"),
            Origin::File { path, key, line } => {
                write!(f, "`{key}` (line {line}) in {}", path.display())
            }
            Origin::Default => f.write_str("the default"),
        }
    }
}

/// A configuration problem found at start. Its text names the setting and says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting is missing.
    #[error("{setting} is not set: {fix}")]
    Missing {
        /// The setting, with every way to give it.
        setting: String,
        /// How to fix it.
        fix: String,
    },
    /// A setting has an unusable value.
    #[error("{origin} is invalid: {problem}. Fix: {fix}")]
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        fix: String,
    },
    /// The configuration file could not be read or parsed.
    #[error("cannot use the configuration file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ConfigError {
    /// Where the offending value came from, for [`ConfigError::Invalid`].
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            ConfigError::Invalid { origin, .. } => Some(origin),
            _ => None,
        }
    }

    /// How to fix the problem.
    pub fn fix(&self) -> Option<&str> {
        match self {
            ConfigError::Missing { fix, .. } | ConfigError::Invalid { fix, .. } => Some(fix),
            ConfigError::File { .. } => None,
        }
    }
}

fn describe(key: &Key) -> String {
    let mut ways: Vec<String> = key.env.iter().map(|v| (*v).to_owned()).collect();
    ways.push(format!("--{}", key.flag));
    ways.push(format!("`{}` in the configuration file", key.toml));
    ways.join(", ")
}

/// Raw settings, as strings with their origin, before validation.
///
/// Layers are merged with [`RawConfig::overlay`]: flags over environment over file.
/// `Debug` shows the secrets' origins, not their values.
#[derive(Clone, Default)]
pub struct RawConfig {
    values: BTreeMap<&'static str, (String, Origin)>,
}

/// The keys whose values are secrets.
const SECRET_KEYS: &[Key] = &[keys::CLIENT_SECRET, keys::AKTO_TOKEN];

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, (value, origin)) in &self.values {
            if SECRET_KEYS.iter().any(|k| k.toml == *key) {
                map.entry(key, &("<redacted>", origin));
            } else {
                map.entry(key, &(value, origin));
            }
        }
        map.finish()
    }
}

impl RawConfig {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` from a command-line flag (ignored when `value` is `None`).
    pub fn set_flag(&mut self, key: Key, value: Option<impl Into<String>>) {
        if let Some(v) = value {
            self.values
                .insert(key.toml, (v.into(), Origin::Flag(key.flag)));
        }
    }

    /// The settings found in environment variables, read through `lookup` (pass
    /// `|k| std::env::var(k).ok()` for the process environment). Empty variables count as unset,
    /// as a Kubernetes manifest with an empty value means "not given".
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut raw = Self::new();
        for key in keys::ALL {
            for var in key.env {
                if let Some(v) = lookup(var).filter(|v| !v.trim().is_empty()) {
                    raw.values.insert(key.toml, (v, Origin::Env(var)));
                    break;
                }
            }
        }
        raw
    }

    fn insert(&mut self, key: Key, value: String, origin: Origin) {
        self.values.insert(key.toml, (value, origin));
    }

    /// `self` with every value of `higher` replacing its own.
    pub fn overlay(mut self, higher: RawConfig) -> Self {
        self.values.extend(higher.values);
        self
    }

    /// The value of `key` and its origin.
    pub fn get(&self, key: Key) -> Option<(&str, &Origin)> {
        self.values.get(key.toml).map(|(v, o)| (v.as_str(), o))
    }

    fn trimmed(&self, key: Key) -> Option<(&str, &Origin)> {
        self.get(key).map(|(v, o)| (v.trim(), o))
    }
}

/// How the connector signs in to Microsoft Entra ID.
#[derive(Clone)]
#[non_exhaustive]
pub enum CredentialConfig {
    /// A client secret (`DATAVERSE_CLIENT_SECRET`).
    ClientSecret(Secret),
    /// A PEM file holding the certificate and its private key.
    Certificate {
        /// The PEM file.
        path: PathBuf,
    },
    /// Workload identity federation: the file holds a token, re-read on every request.
    WorkloadIdentity {
        /// The federated token file.
        token_file: PathBuf,
    },
    /// The Azure managed identity of the host (the client id selects a user-assigned one).
    ManagedIdentity,
}

impl fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl CredentialConfig {
    /// A short name for messages: `client secret`, `certificate`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialConfig::ClientSecret(_) => "client secret",
            CredentialConfig::Certificate { .. } => "certificate",
            CredentialConfig::WorkloadIdentity { .. } => "workload identity",
            CredentialConfig::ManagedIdentity => "managed identity",
        }
    }
}

/// Where records go.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SinkConfig {
    /// Akto's Data Ingestion Service.
    Akto {
        /// The service's base URL (`DATA_INGESTION_SERVICE_URL`).
        url: Url,
        /// The raw `authorization` value (`AKTO_JWT_TOKEN`), if the service checks it.
        token: Option<Secret>,
    },
    /// JSON Lines, one record per line, to a file.
    JsonLinesFile(PathBuf),
    /// JSON Lines to standard output.
    Stdout,
}

/// The validated settings of the connector.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The Dataverse environment, `https://org.crm.dynamics.com/` (path-less).
    pub environment_url: Url,
    /// The Entra tenant (GUID or verified domain); optional only with a managed identity.
    pub tenant_id: Option<String>,
    /// The app registration's client id; with a managed identity, the user-assigned identity's
    /// client id (the system-assigned identity when `None`).
    pub client_id: Option<Uuid>,
    /// How to sign in.
    pub credential: CredentialConfig,
    /// The Entra authority host.
    pub authority_host: Url,
    /// Only these bots' transcripts are delivered (all when empty).
    pub bot_ids: Vec<Uuid>,
    /// Where records go.
    pub sink: SinkConfig,
    /// Written into every record's `akto_account_id`.
    pub akto_account_id: String,
    /// The checkpoint database.
    pub state_path: PathBuf,
    /// How far each pass reaches back before the checkpoint.
    pub overlap: Duration,
    /// On the first pass (no checkpoint), how far back to start; all retained transcripts when
    /// `None`.
    pub since: Option<Duration>,
    /// Rows per Dataverse page.
    pub page_size: u32,
    /// Records per delivery.
    pub batch_size: usize,
    /// Batches delivered at once while the next rows are read (1: one at a time).
    pub in_flight: usize,
    /// How long a pair on the open edge of a split session (a last prompt whose reply may be in
    /// a row not written yet) waits for that row, counted from the session's last change; zero
    /// never waits.
    pub split_settle: Duration,
    /// Which host records carry: the record host (default), or `{userId}.ai-agent.{botName}`
    /// (the default when a user map file is given, as in Akto's multi-environment mode).
    pub host_shape: crate::akto::HostShape,
    /// Akto's `{aadObjectId: userId}` map naming the user in each record's host, re-read
    /// every pass.
    pub user_map_file: Option<PathBuf>,
    /// Where to write `{botName: [userId, ...]}` after each pass, for Akto's inventory.
    pub user_agent_map_output_file: Option<PathBuf>,
    /// The host written into records.
    pub record_host: String,
    /// The environment id written into record tags; the organization id from `WhoAmI` when
    /// `None`.
    pub environment_id: Option<String>,
    /// Whether warnings that can hide data (a bot id that matches no agent) fail the run.
    pub strict: bool,
    /// The total time one delivery may take, retries included.
    pub delivery_timeout: Duration,
}

/// Which parts of the configuration a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Dataverse access and a sink (`ingest`).
    Ingest,
    /// Dataverse access; a destination only if one is given (`agents`, `doctor`).
    Dataverse,
}

/// The sign-in settings alone (tenant, client, credential, authority host), for commands that
/// do not read one configured environment, such as `inventory scan`, which finds its
/// environments itself. Same keys, fallbacks and checks as [`Config`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignIn {
    /// The Entra tenant (GUID or verified domain); optional only with a managed identity.
    pub tenant_id: Option<String>,
    /// The app registration's client id (or the user-assigned identity's).
    pub client_id: Option<Uuid>,
    /// How to sign in.
    pub credential: CredentialConfig,
    /// The Entra authority host.
    pub authority_host: Url,
}

impl SignIn {
    /// Validates the sign-in settings of `raw`.
    pub fn from_raw(raw: &RawConfig) -> Result<SignIn, ConfigError> {
        let credential = settings::credential(raw)?;
        let managed = matches!(credential, CredentialConfig::ManagedIdentity);
        Ok(SignIn {
            tenant_id: settings::tenant_id(raw, managed)?,
            client_id: settings::client_id(raw, managed)?,
            credential,
            authority_host: settings::authority_host(raw)?,
        })
    }
}

/// The checkpoint database named by `raw` (or the default), for commands that need nothing
/// else (`state check`).
pub fn state_path(raw: &RawConfig) -> Result<PathBuf, ConfigError> {
    settings::state_path(raw)
}

impl Config {
    /// Validates `raw` for a command that needs `needs`: one parser per setting, in the order
    /// an operator would fix them.
    pub fn from_raw(raw: &RawConfig, needs: Needs) -> Result<Config, ConfigError> {
        let environment_url = settings::environment_url(raw)?;
        let credential = settings::credential(raw)?;
        let managed = matches!(credential, CredentialConfig::ManagedIdentity);
        let tenant_id = settings::tenant_id(raw, managed)?;
        let client_id = settings::client_id(raw, managed)?;
        let authority_host = settings::authority_host(raw)?;
        let bot_ids = settings::bot_ids(raw)?;
        let token = settings::akto_token(raw)?;
        Ok(Config {
            environment_url,
            tenant_id,
            client_id,
            credential,
            authority_host,
            bot_ids,
            sink: settings::sink(raw, needs, token)?,
            akto_account_id: settings::akto_account_id(raw)?,
            state_path: settings::state_path(raw)?,
            overlap: settings::overlap(raw)?,
            since: settings::since(raw)?,
            page_size: settings::page_size(raw)?,
            batch_size: settings::batch_size(raw)?,
            in_flight: settings::in_flight(raw)?,
            split_settle: settings::split_settle(raw)?,
            host_shape: settings::host_shape(raw)?,
            user_map_file: settings::optional_path(raw, keys::USER_MAP_FILE, "user map file")?,
            user_agent_map_output_file: settings::optional_path(
                raw,
                keys::USER_AGENT_MAP_OUTPUT_FILE,
                "user-agent map output file",
            )?,
            record_host: settings::record_host(raw)?,
            environment_id: settings::environment_id(raw)?,
            strict: settings::strict(raw)?,
            delivery_timeout: settings::delivery_timeout(raw)?,
        })
    }

    /// A key naming the data a checkpoint belongs to: the environment, the bot filter and the
    /// destination. Changing any of them starts a fresh checkpoint instead of silently skipping
    /// another destination's or another bot's history. A JSON Lines file is keyed by its
    /// canonical path, so `o.jsonl`, `./o.jsonl` and its absolute path are one destination.
    pub fn checkpoint_scope(&self) -> String {
        self.scope_with(|p| {
            crate::state::canonical_path(p)
                .unwrap_or_else(|_| p.to_owned())
                .display()
                .to_string()
        })
    }

    /// The scope an older version keyed the same data by (the output path as given), when it
    /// differs from [`Config::checkpoint_scope`]: its checkpoint is carried over.
    pub fn legacy_checkpoint_scope(&self) -> Option<String> {
        let legacy = self.scope_with(|p| p.display().to_string());
        (legacy != self.checkpoint_scope()).then_some(legacy)
    }

    fn scope_with(&self, file: impl Fn(&std::path::Path) -> String) -> String {
        let mut bots: Vec<String> = self.bot_ids.iter().map(Uuid::to_string).collect();
        bots.sort();
        let sink = match &self.sink {
            SinkConfig::Akto { url, .. } => format!("akto:{url}"),
            SinkConfig::JsonLinesFile(p) => format!("jsonl:{}", file(p)),
            SinkConfig::Stdout => "stdout".to_owned(),
        };
        format!(
            "{}|bots={}|sink={}",
            self.environment_url,
            if bots.is_empty() {
                "*".to_owned()
            } else {
                bots.join(",")
            },
            sink
        )
    }
}

/// The settings the Microsoft 365 Copilot commands (`m365 ...`) share with the others: who
/// signs in, where records go, the checkpoint database and delivery. No Dataverse setting is
/// needed or read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SharedSettings {
    /// The Entra tenant.
    pub tenant_id: Option<String>,
    /// The app registration's client id.
    pub client_id: Option<Uuid>,
    /// How to sign in.
    pub credential: CredentialConfig,
    /// The Entra authority host.
    pub authority_host: Url,
    /// Where records go.
    pub sink: SinkConfig,
    /// Written into every record's `akto_account_id`.
    pub akto_account_id: String,
    /// The checkpoint database.
    pub state_path: PathBuf,
    /// How far each pass reaches back before a checkpoint.
    pub overlap: Duration,
    /// Records per delivery.
    pub batch_size: usize,
    /// The total time one delivery may take, retries included.
    pub delivery_timeout: Duration,
}

impl SharedSettings {
    /// Validates the shared settings of `raw`; a destination is required when `needs` is
    /// [`Needs::Ingest`].
    pub fn from_raw(raw: &RawConfig, needs: Needs) -> Result<SharedSettings, ConfigError> {
        let credential = settings::credential(raw)?;
        Self::with_credential(raw, needs, credential)
    }

    /// As [`from_raw`](Self::from_raw) for a person who signs in themself (device code): the
    /// tenant and the app's client id are required, an app credential is not. When none is
    /// set, [`credential`](Self::credential) holds `ManagedIdentity` as a placeholder that a
    /// person's sign-in never reads.
    pub fn from_raw_for_person(
        raw: &RawConfig,
        needs: Needs,
    ) -> Result<SharedSettings, ConfigError> {
        let credential = match settings::credential(raw) {
            Ok(c) => c,
            Err(ConfigError::Missing { .. }) => CredentialConfig::ManagedIdentity,
            Err(e) => return Err(e),
        };
        let mut s = Self::with_credential(
            raw,
            needs,
            CredentialConfig::ClientSecret(client_core::Secret::new("-")),
        )?;
        s.credential = credential;
        Ok(s)
    }

    fn with_credential(
        raw: &RawConfig,
        needs: Needs,
        credential: CredentialConfig,
    ) -> Result<SharedSettings, ConfigError> {
        let managed = matches!(credential, CredentialConfig::ManagedIdentity);
        let tenant_id = settings::tenant_id(raw, managed)?;
        let client_id = settings::client_id(raw, managed)?;
        let authority_host = settings::authority_host(raw)?;
        let token = settings::akto_token(raw)?;
        Ok(SharedSettings {
            tenant_id,
            client_id,
            credential,
            authority_host,
            sink: settings::sink(raw, needs, token)?,
            akto_account_id: settings::akto_account_id(raw)?,
            state_path: settings::state_path(raw)?,
            overlap: settings::overlap(raw)?,
            batch_size: settings::batch_size(raw)?,
            delivery_timeout: settings::delivery_timeout(raw)?,
        })
    }
}

#[cfg(test)]
mod tests;

//! Configuration: command-line flags, a TOML file and environment variables (Akto's names
//! accepted unchanged), merged in that order of precedence and validated at start.
//!
//! Every value remembers where it came from, so a validation error names the flag, the
//! variable or the file key the operator has to fix.

use client_core::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;
use uuid::Uuid;

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
pub const DEFAULT_IN_FLIGHT: usize = 4;
/// Rows per Dataverse page. Transcripts can be up to 1 MB each, so pages stay small to keep
/// memory flat.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

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
    RECORD_HOST = ("record_host", "record-host", ["COPILOT_CONNECTOR_RECORD_HOST"]);
    ENVIRONMENT_ID = ("environment_id", "environment-id", ["COPILOT_ENVIRONMENT_ID"]);
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
    },
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::Env(var) => write!(f, "{var}"),
            Origin::File { path, key } => write!(f, "`{key}` in {}", path.display()),
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

    /// The settings of a TOML file. Unknown keys are refused, so a typo does not silently
    /// leave a setting at its default.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text, path)
    }

    /// The settings of TOML text read from `path` (the path is only used in messages).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut raw = Self::new();
        for (name, value) in table {
            let Some(key) = keys::ALL.iter().find(|k| k.toml == name) else {
                let known: Vec<&str> = keys::ALL.iter().map(|k| k.toml).collect();
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    message: format!("unknown key `{name}`; known keys: {}", known.join(", ")),
                });
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::new();
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s),
                            other => {
                                return Err(ConfigError::File {
                                    path: path.to_owned(),
                                    message: format!(
                                        "`{name}` must be a list of strings, found {other}"
                                    ),
                                });
                            }
                        }
                    }
                    parts.join(",")
                }
                other => {
                    return Err(ConfigError::File {
                        path: path.to_owned(),
                        message: format!("`{name}` must be a string, found {other}"),
                    });
                }
            };
            raw.values.insert(
                key.toml,
                (
                    text,
                    Origin::File {
                        path: path.to_owned(),
                        key: key.toml,
                    },
                ),
            );
        }
        Ok(raw)
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
    /// The host written into records.
    pub record_host: String,
    /// The environment id written into record tags; the organization id from `WhoAmI` when
    /// `None`.
    pub environment_id: Option<String>,
}

/// Which parts of the configuration a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Dataverse access and a sink (`ingest`).
    Ingest,
    /// Dataverse access; a destination only if one is given (`agents`, `doctor`).
    Dataverse,
}

fn invalid(origin: &Origin, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.clone(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn missing(key: Key, fix: impl Into<String>) -> ConfigError {
    ConfigError::Missing {
        setting: describe(&key),
        fix: fix.into(),
    }
}

/// Whether `host` is a loopback name or address.
fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

/// How a refused value is described: its length, never its text, because a secret pasted into
/// the wrong variable would otherwise end up in the log.
fn shape(value: &str) -> String {
    format!(
        "the value ({} characters, not shown in case it is a secret)",
        value.chars().count()
    )
}

/// Parses an http(s) URL: https, or plain http to a loopback host only.
fn parse_service_url(value: &str, origin: &Origin, example: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| {
        invalid(
            origin,
            format!("{} is not a URL ({e})", shape(value)),
            format!("give an absolute URL such as {example}"),
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err(invalid(
                origin,
                format!(
                    "plain http to {} would send credentials unencrypted",
                    url.host_str().unwrap_or("?")
                ),
                format!("use https (e.g. {example}); plain http is only allowed to localhost"),
            ));
        }
        other => {
            return Err(invalid(
                origin,
                format!("unsupported scheme `{other}`"),
                format!("use an https URL such as {example}"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            origin,
            "the URL has no host",
            format!("give a URL such as {example}"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            origin,
            "the URL contains credentials",
            "remove the user name and password from the URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            origin,
            "the URL has a query or fragment",
            format!("give only the scheme and host, e.g. {example}"),
        ));
    }
    Ok(url)
}

/// Parses a duration such as `30m`, `5m`, `90s`, `2h`, `7d` or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (use e.g. 90s, 5m, 2h, 7d)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

fn parse_guid(value: &str, origin: &Origin, what: &str) -> Result<Uuid, ConfigError> {
    Uuid::parse_str(value.trim()).map_err(|_| {
        invalid(
            origin,
            format!("{} is not a GUID", shape(value)),
            format!(
                "copy the {what} from the Azure portal (a GUID like 00000000-0000-0000-0000-000000000000)"
            ),
        )
    })
}

fn parse_bool(value: &str, origin: &Origin) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            origin,
            format!("`{value}` is not a boolean"),
            "use true or false",
        )),
    }
}

impl Config {
    /// Validates `raw` for a command that needs `needs`.
    pub fn from_raw(raw: &RawConfig, needs: Needs) -> Result<Config, ConfigError> {
        let environment_url = match raw.trimmed(keys::ENVIRONMENT_URL) {
            Some((v, origin)) => {
                let example = "https://contoso.crm.dynamics.com";
                let url = parse_service_url(v, origin, example)?;
                if url.path() != "/" && !url.path().is_empty() {
                    return Err(invalid(
                        origin,
                        format!("the URL has a path (`{}`)", url.path()),
                        format!(
                            "give only the environment's root, e.g. {example} (find it in the Power Platform admin center under Environment URL)"
                        ),
                    ));
                }
                url
            }
            None => {
                return Err(missing(
                    keys::ENVIRONMENT_URL,
                    "set it to the environment's URL, e.g. https://contoso.crm.dynamics.com",
                ));
            }
        };

        let credential = if let Some((v, _)) = raw.get(keys::CLIENT_SECRET) {
            CredentialConfig::ClientSecret(Secret::new(v.trim()))
        } else if let Some((v, _)) = raw.trimmed(keys::CERTIFICATE_PATH) {
            CredentialConfig::Certificate {
                path: PathBuf::from(v),
            }
        } else if let Some((v, _)) = raw.trimmed(keys::FEDERATED_TOKEN_FILE) {
            CredentialConfig::WorkloadIdentity {
                token_file: PathBuf::from(v),
            }
        } else if let Some((v, origin)) = raw.get(keys::MANAGED_IDENTITY)
            && parse_bool(v, origin)?
        {
            CredentialConfig::ManagedIdentity
        } else {
            return Err(ConfigError::Missing {
                setting: "a credential".into(),
                fix: "set DATAVERSE_CLIENT_SECRET (the secret's Value, not its ID), or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_FEDERATED_TOKEN_FILE (workload identity), or pass --managed-identity".into(),
            });
        };

        let managed = matches!(credential, CredentialConfig::ManagedIdentity);
        let tenant_id = match raw.trimmed(keys::TENANT_ID) {
            Some((v, origin)) => {
                let is_domain = v.contains('.')
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if Uuid::parse_str(v).is_err() && !is_domain {
                    return Err(invalid(
                        origin,
                        format!("{} is neither a GUID nor a domain name", shape(v)),
                        "use the Directory (tenant) ID shown on the app registration's overview page",
                    ));
                }
                Some(v.to_owned())
            }
            None if managed => None,
            None => {
                return Err(missing(
                    keys::TENANT_ID,
                    "set it to the Directory (tenant) ID of the app registration",
                ));
            }
        };
        let client_id = match raw.trimmed(keys::CLIENT_ID) {
            Some((v, origin)) => Some(parse_guid(v, origin, "Application (client) ID")?),
            None if managed => None,
            None => {
                return Err(missing(
                    keys::CLIENT_ID,
                    "set it to the Application (client) ID of the app registration",
                ));
            }
        };

        let authority_host = match raw.trimmed(keys::AUTHORITY_HOST) {
            Some((v, origin)) => parse_service_url(v, origin, "https://login.microsoftonline.com")?,
            None => Url::parse(DEFAULT_AUTHORITY_HOST).map_err(|e| ConfigError::Invalid {
                origin: Origin::Default,
                problem: e.to_string(),
                fix: "set AZURE_AUTHORITY_HOST".into(),
            })?,
        };

        let mut bot_ids = Vec::new();
        if let Some((v, origin)) = raw.get(keys::BOT_IDS) {
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let id = Uuid::parse_str(part).map_err(|_| {
                    invalid(
                        origin,
                        format!("`{part}` is not a bot GUID"),
                        "list bot ids (the `botid` column, see `copilot-connector agents`) separated by commas",
                    )
                })?;
                if !bot_ids.contains(&id) {
                    bot_ids.push(id);
                }
            }
        }

        let token = match raw.trimmed(keys::AKTO_TOKEN) {
            // Sent as a header value: refused now, not on every delivery.
            Some((v, origin)) if !v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) => {
                return Err(invalid(
                    origin,
                    "the token holds characters an HTTP header cannot carry (a line break or a non-ASCII character; the value is not shown)",
                    "copy the ingestion token again, as one line",
                ));
            }
            Some((v, _)) => Some(Secret::new(v)),
            None => None,
        };
        let sink = match (raw.trimmed(keys::OUTPUT), raw.trimmed(keys::INGESTION_URL)) {
            (Some(("-", _)), _) => SinkConfig::Stdout,
            (Some((out, _)), _) => SinkConfig::JsonLinesFile(PathBuf::from(out)),
            (None, Some((v, origin))) => {
                let url = parse_service_url(v, origin, "https://akto-ingest.example.com")?;
                SinkConfig::Akto { url, token }
            }
            (None, None) if needs == Needs::Ingest => {
                return Err(ConfigError::Missing {
                    setting: "a destination".into(),
                    fix: "set DATA_INGESTION_SERVICE_URL (Akto's Data Ingestion Service), or pass --output FILE (JSON Lines; `-` for stdout)".into(),
                });
            }
            (None, None) => SinkConfig::Stdout,
        };

        let akto_account_id = raw
            .trimmed(keys::AKTO_ACCOUNT_ID)
            .map(|(v, _)| v.to_owned())
            .unwrap_or_else(|| DEFAULT_AKTO_ACCOUNT_ID.to_owned());
        let state_path = raw
            .trimmed(keys::STATE)
            .map(|(v, _)| PathBuf::from(v))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_FILE));
        let overlap = match raw.trimmed(keys::OVERLAP) {
            Some((v, origin)) => {
                parse_duration(v).map_err(|e| invalid(origin, e, "use a duration such as 30m"))?
            }
            None => DEFAULT_OVERLAP,
        };
        let since = match raw.trimmed(keys::SINCE) {
            Some((v, origin)) => Some(
                parse_duration(v).map_err(|e| invalid(origin, e, "use a duration such as 7d"))?,
            ),
            None => None,
        };
        let page_size = match raw.trimmed(keys::PAGE_SIZE) {
            Some((v, origin)) => match v.parse::<u32>() {
                Ok(n) if (1..=5000).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        origin,
                        format!("`{v}` is not a page size"),
                        "use a number from 1 to 5000",
                    ));
                }
            },
            None => DEFAULT_PAGE_SIZE,
        };
        let batch_size = match raw.trimmed(keys::BATCH_SIZE) {
            Some((v, origin)) => match v.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        origin,
                        format!("`{v}` is not a batch size"),
                        "use a number from 1 to 1000 (Akto's publisher uses 50)",
                    ));
                }
            },
            None => DEFAULT_BATCH_SIZE,
        };
        let in_flight = match raw.trimmed(keys::IN_FLIGHT) {
            Some((v, origin)) => match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        origin,
                        format!("`{v}` is not a number of batches in flight"),
                        "use a number from 1 to 64 (1 delivers one batch at a time; a crash repeats at most this many batches)",
                    ));
                }
            },
            None => DEFAULT_IN_FLIGHT,
        };
        let record_host = raw
            .trimmed(keys::RECORD_HOST)
            .map(|(v, _)| v.to_owned())
            .unwrap_or_else(|| DEFAULT_RECORD_HOST.to_owned());
        let environment_id = raw.trimmed(keys::ENVIRONMENT_ID).map(|(v, _)| v.to_owned());

        Ok(Config {
            environment_url,
            tenant_id,
            client_id,
            credential,
            authority_host,
            bot_ids,
            sink,
            akto_account_id,
            state_path,
            overlap,
            since,
            page_size,
            batch_size,
            in_flight,
            record_host,
            environment_id,
        })
    }

    /// A key naming the data a checkpoint belongs to: the environment, the bot filter and the
    /// destination. Changing any of them starts a fresh checkpoint instead of silently skipping
    /// another destination's or another bot's history.
    pub fn checkpoint_scope(&self) -> String {
        let mut bots: Vec<String> = self.bot_ids.iter().map(Uuid::to_string).collect();
        bots.sort();
        let sink = match &self.sink {
            SinkConfig::Akto { url, .. } => format!("akto:{url}"),
            SinkConfig::JsonLinesFile(p) => format!("jsonl:{}", p.display()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> RawConfig {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RawConfig::from_env(|k| map.get(k).cloned())
    }

    const AKTO_ENV: &[(&str, &str)] = &[
        (
            "DATAVERSE_ENVIRONMENT_URL",
            "https://contoso.crm.dynamics.com",
        ),
        (
            "DATAVERSE_TENANT_ID",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
        ),
        (
            "DATAVERSE_CLIENT_ID",
            "11111111-2222-3333-4444-555555555555",
        ),
        ("DATAVERSE_CLIENT_SECRET", "s3cr3t~value"),
        (
            "COPILOT_BOT_ID",
            "aaaaaaaa-0000-0000-0000-000000000001, aaaaaaaa-0000-0000-0000-000000000002",
        ),
        ("DATA_INGESTION_SERVICE_URL", "https://ingest.example.com"),
        ("AKTO_JWT_TOKEN", "eyJhbGciOi.jwt"),
        ("AKTO_ACCOUNT_ID", "1234567"),
    ];

    #[test]
    fn akto_variables_are_accepted_unchanged() {
        let c = Config::from_raw(&env(AKTO_ENV), Needs::Ingest).unwrap();
        assert_eq!(
            c.environment_url.as_str(),
            "https://contoso.crm.dynamics.com/"
        );
        assert_eq!(
            c.tenant_id.as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(c.bot_ids.len(), 2);
        assert_eq!(c.akto_account_id, "1234567");
        assert!(
            matches!(c.credential, CredentialConfig::ClientSecret(ref s) if s.expose() == "s3cr3t~value")
        );
        match &c.sink {
            SinkConfig::Akto { url, token } => {
                assert_eq!(url.as_str(), "https://ingest.example.com/");
                assert_eq!(token.as_ref().unwrap().expose(), "eyJhbGciOi.jwt");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.batch_size, 50);
        assert_eq!(c.in_flight, DEFAULT_IN_FLIGHT);
        assert_eq!(c.overlap, Duration::from_secs(1800));
        // No secret in Debug output, before or after validation.
        for dbg in [format!("{c:?}"), format!("{:?}", env(AKTO_ENV))] {
            assert!(!dbg.contains("s3cr3t"), "{dbg}");
            assert!(!dbg.contains("eyJhbGciOi"), "{dbg}");
            assert!(dbg.contains("contoso.crm.dynamics.com"), "{dbg}");
        }
    }

    fn with(overrides: &[(&'static str, &'static str)]) -> RawConfig {
        let mut pairs: Vec<(&str, &str)> = AKTO_ENV
            .iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .copied()
            .collect();
        pairs.extend(overrides.iter().filter(|(_, v)| !v.is_empty()));
        env(&pairs)
    }

    fn error(overrides: &[(&'static str, &'static str)]) -> String {
        Config::from_raw(&with(overrides), Needs::Ingest)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_url_with_a_path_names_the_variable_and_the_fix() {
        let e = error(&[(
            "DATAVERSE_ENVIRONMENT_URL",
            "https://contoso.crm.dynamics.com/api/data/v9.2",
        )]);
        assert!(e.starts_with("DATAVERSE_ENVIRONMENT_URL is invalid"), "{e}");
        assert!(e.contains("has a path"), "{e}");
        assert!(e.contains("https://contoso.crm.dynamics.com"), "{e}");
    }

    #[test]
    fn non_guid_ids_are_refused() {
        let e = error(&[("DATAVERSE_CLIENT_ID", "my-app")]);
        assert!(e.starts_with("DATAVERSE_CLIENT_ID is invalid"), "{e}");
        assert!(e.contains("Application (client) ID"), "{e}");
        let e = error(&[(
            "COPILOT_BOT_ID",
            "aaaaaaaa-0000-0000-0000-000000000001,bot2",
        )]);
        assert!(e.starts_with("COPILOT_BOT_ID is invalid: `bot2`"), "{e}");
        let e = error(&[("DATAVERSE_TENANT_ID", "not a tenant")]);
        assert!(e.starts_with("DATAVERSE_TENANT_ID is invalid"), "{e}");
        // A verified domain is a valid tenant.
        Config::from_raw(
            &with(&[("DATAVERSE_TENANT_ID", "contoso.onmicrosoft.com")]),
            Needs::Ingest,
        )
        .unwrap();
    }

    #[test]
    fn a_secret_in_the_wrong_variable_is_not_echoed() {
        let secret = "Abc8Q~s3cr3tV4lu3-of-the-app-registration";
        for var in [
            "DATAVERSE_CLIENT_ID",
            "DATAVERSE_TENANT_ID",
            "DATAVERSE_ENVIRONMENT_URL",
            "DATA_INGESTION_SERVICE_URL",
            "AZURE_AUTHORITY_HOST",
        ] {
            let e = Config::from_raw(&with(&[(var, secret)]), Needs::Ingest).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(&format!("{var} is invalid")), "{text}");
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(!format!("{e:?}").contains("s3cr3t"), "{e:?}");
            assert!(text.contains("41 characters"), "{text}");
        }
    }

    #[test]
    fn an_akto_token_that_cannot_be_a_header_is_refused_at_start() {
        let e = error(&[("AKTO_JWT_TOKEN", "eyJ.first-line\neyJ.second")]);
        assert!(e.starts_with("AKTO_JWT_TOKEN is invalid"), "{e}");
        assert!(!e.contains("eyJ"), "{e}");
        let c =
            Config::from_raw(&with(&[("AKTO_JWT_TOKEN", " eyJ.ok \n")]), Needs::Ingest).unwrap();
        match c.sink {
            SinkConfig::Akto { token, .. } => assert_eq!(token.unwrap().expose(), "eyJ.ok"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        let e = error(&[("DATA_INGESTION_SERVICE_URL", "http://akto.internal:9091")]);
        assert!(
            e.starts_with("DATA_INGESTION_SERVICE_URL is invalid"),
            "{e}"
        );
        assert!(e.contains("use https"), "{e}");
        let e = error(&[("AZURE_AUTHORITY_HOST", "http://login.example.com")]);
        assert!(e.starts_with("AZURE_AUTHORITY_HOST is invalid"), "{e}");
        let c = Config::from_raw(
            &with(&[
                ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8080"),
                ("DATAVERSE_ENVIRONMENT_URL", "http://localhost:9000/"),
            ]),
            Needs::Ingest,
        )
        .unwrap();
        assert_eq!(c.authority_host.as_str(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn missing_settings_say_every_way_to_give_them() {
        let e = error(&[("DATAVERSE_TENANT_ID", "")]);
        assert!(
            e.contains("DATAVERSE_TENANT_ID, AZURE_TENANT_ID, --tenant-id"),
            "{e}"
        );
        let e = error(&[("DATAVERSE_CLIENT_SECRET", "")]);
        assert!(e.contains("AZURE_FEDERATED_TOKEN_FILE"), "{e}");
        let e = error(&[("DATA_INGESTION_SERVICE_URL", "")]);
        assert!(e.contains("--output"), "{e}");
        // `agents` does not need a destination.
        Config::from_raw(
            &with(&[("DATA_INGESTION_SERVICE_URL", "")]),
            Needs::Dataverse,
        )
        .unwrap();
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let file = RawConfig::from_toml_str(
            "environment_url = \"https://file.crm.dynamics.com\"\nbot_ids = [\"aaaaaaaa-0000-0000-0000-000000000009\"]\npage_size = 50\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let mut flags = RawConfig::new();
        flags.set_flag(keys::STATE, Some("/tmp/x.db"));
        let merged = file.clone().overlay(env(AKTO_ENV)).overlay(flags);
        let c = Config::from_raw(&merged, Needs::Ingest).unwrap();
        assert_eq!(
            c.environment_url.host_str(),
            Some("contoso.crm.dynamics.com")
        );
        assert_eq!(c.page_size, 50);
        assert_eq!(c.state_path, PathBuf::from("/tmp/x.db"));
        assert_eq!(c.bot_ids.len(), 2, "the environment's list wins");

        let only_file = file.overlay(with(&[
            ("DATAVERSE_ENVIRONMENT_URL", ""),
            ("COPILOT_BOT_ID", ""),
        ]));
        let c = Config::from_raw(&only_file, Needs::Ingest).unwrap();
        assert_eq!(c.environment_url.host_str(), Some("file.crm.dynamics.com"));
        assert_eq!(c.bot_ids.len(), 1);
    }

    #[test]
    fn file_errors_name_the_file_and_key() {
        let e = RawConfig::from_toml_str("enviroment_url = \"x\"", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.toml") && e.contains("unknown key `enviroment_url`"),
            "{e}"
        );
        let raw = RawConfig::from_toml_str("page_size = 0", Path::new("c.toml"))
            .unwrap()
            .overlay(env(AKTO_ENV));
        let e = Config::from_raw(&raw, Needs::Ingest)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`page_size` in c.toml is invalid"), "{e}");
    }

    #[test]
    fn a_managed_identity_needs_no_tenant_or_client() {
        let c = Config::from_raw(
            &env(&[
                (
                    "DATAVERSE_ENVIRONMENT_URL",
                    "https://contoso.crm.dynamics.com",
                ),
                ("COPILOT_CONNECTOR_MANAGED_IDENTITY", "true"),
                ("COPILOT_CONNECTOR_OUTPUT", "out.jsonl"),
            ]),
            Needs::Ingest,
        )
        .unwrap();
        assert!(matches!(c.credential, CredentialConfig::ManagedIdentity));
        assert_eq!((c.tenant_id, c.client_id), (None, None));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn output_overrides_the_ingestion_service() {
        let c =
            Config::from_raw(&with(&[("COPILOT_CONNECTOR_OUTPUT", "-")]), Needs::Ingest).unwrap();
        assert!(matches!(c.sink, SinkConfig::Stdout));
        assert!(c.checkpoint_scope().ends_with("sink=stdout"));
    }
}

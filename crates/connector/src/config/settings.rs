//! One parser per setting: each reads its key from the merged [`RawConfig`], applies its default
//! and its rules, and names its key (never its value) when it refuses one.

use super::values::{
    boolean, bounded_duration, count, guid, invalid, missing, path, root_url, service_url, shape,
    token,
};
use super::*;

const ENVIRONMENT_EXAMPLE: &str = "https://contoso.crm.dynamics.com";
const AUTHORITY_EXAMPLE: &str = "https://login.microsoftonline.com";
const INGESTION_EXAMPLE: &str = "https://akto-ingest.example.com";

/// `environment_url`: required, https (or http to loopback), no path.
pub(super) fn environment_url(raw: &RawConfig) -> Result<Url, ConfigError> {
    match raw.trimmed(keys::ENVIRONMENT_URL) {
        Some((v, origin)) => root_url(
            v,
            origin,
            ENVIRONMENT_EXAMPLE,
            " (the environment's root: find it in the Power Platform admin center under Environment URL)",
        ),
        None => Err(missing(
            keys::ENVIRONMENT_URL,
            format!("set it to the environment's URL, e.g. {ENVIRONMENT_EXAMPLE}"),
        )),
    }
}

/// The credential: the first of client secret, certificate, federated token file and managed
/// identity that is given.
pub(super) fn credential(raw: &RawConfig) -> Result<CredentialConfig, ConfigError> {
    // Checked even when another credential wins, so a malformed value is never ignored.
    let managed = raw
        .get(keys::MANAGED_IDENTITY)
        .map(|(v, origin)| boolean(v, origin))
        .transpose()?
        .unwrap_or(false);
    if let Some((v, origin)) = raw.get(keys::CLIENT_SECRET) {
        let v = v.trim();
        if v.is_empty() {
            return Err(invalid(
                origin,
                "the client secret is empty",
                "copy the secret's Value (not its ID) from the app registration's Certificates & secrets page",
            ));
        }
        return Ok(CredentialConfig::ClientSecret(Secret::new(v)));
    }
    if let Some((v, origin)) = raw.get(keys::CERTIFICATE_PATH) {
        return Ok(CredentialConfig::Certificate {
            path: path(v.trim(), origin, "certificate PEM file")?,
        });
    }
    if let Some((v, origin)) = raw.get(keys::FEDERATED_TOKEN_FILE) {
        return Ok(CredentialConfig::WorkloadIdentity {
            token_file: path(v.trim(), origin, "federated token file")?,
        });
    }
    if managed {
        return Ok(CredentialConfig::ManagedIdentity);
    }
    Err(ConfigError::Missing {
        setting: "a credential".into(),
        fix: "set DATAVERSE_CLIENT_SECRET (the secret's Value, not its ID), or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_FEDERATED_TOKEN_FILE (workload identity), or pass --managed-identity".into(),
    })
}

/// Whether `v` is a DNS name of at least two labels (a tenant's verified domain).
fn is_domain_name(v: &str) -> bool {
    v.len() <= 253
        && v.contains('.')
        && v.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `tenant_id`: a GUID or a verified domain; optional only with a managed identity.
pub(super) fn tenant_id(raw: &RawConfig, managed: bool) -> Result<Option<String>, ConfigError> {
    match raw.trimmed(keys::TENANT_ID) {
        Some((v, origin)) => {
            if Uuid::parse_str(v).is_err() && !is_domain_name(v) {
                return Err(invalid(
                    origin,
                    format!("{} is neither a GUID nor a domain name", shape(v)),
                    "use the Directory (tenant) ID shown on the app registration's overview page",
                ));
            }
            Ok(Some(v.to_owned()))
        }
        None if managed => Ok(None),
        None => Err(missing(
            keys::TENANT_ID,
            "set it to the Directory (tenant) ID of the app registration",
        )),
    }
}

/// `client_id`: a GUID; optional only with a managed identity (the system-assigned one).
pub(super) fn client_id(raw: &RawConfig, managed: bool) -> Result<Option<Uuid>, ConfigError> {
    match raw.trimmed(keys::CLIENT_ID) {
        Some((v, origin)) => guid(v, origin, "Application (client) ID").map(Some),
        None if managed => Ok(None),
        None => Err(missing(
            keys::CLIENT_ID,
            "set it to the Application (client) ID of the app registration",
        )),
    }
}

/// `authority_host`: https (or http to loopback), no path: the tenant and the token path are
/// added to it, so a path would only fail later as an unexplained HTTP error.
pub(super) fn authority_host(raw: &RawConfig) -> Result<Url, ConfigError> {
    match raw.trimmed(keys::AUTHORITY_HOST) {
        Some((v, origin)) => root_url(
            v,
            origin,
            AUTHORITY_EXAMPLE,
            " (the tenant and /oauth2/v2.0/token are added by the connector)",
        ),
        None => Url::parse(DEFAULT_AUTHORITY_HOST).map_err(|e| ConfigError::Invalid {
            origin: Origin::Default,
            problem: e.to_string(),
            fix: "set AZURE_AUTHORITY_HOST".into(),
        }),
    }
}

/// `bot_ids`: comma-separated GUIDs, de-duplicated in order. A bad item is named by its
/// position, never quoted.
pub(super) fn bot_ids(raw: &RawConfig) -> Result<Vec<Uuid>, ConfigError> {
    let mut ids = Vec::new();
    let Some((v, origin)) = raw.get(keys::BOT_IDS) else {
        return Ok(ids);
    };
    let parts = v.split(',').map(str::trim).filter(|p| !p.is_empty());
    for (i, part) in parts.enumerate() {
        let id = Uuid::parse_str(part).map_err(|_| {
            invalid(
                origin,
                format!(
                    "item {} of the list ({} characters, not shown) is not a bot GUID",
                    i + 1,
                    part.chars().count()
                ),
                "list bot ids (the `botid` column, see `copilot-connector agents`) separated by commas",
            )
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// `akto_token`: sent as a header value, so refused now if a header cannot carry it.
pub(super) fn akto_token(raw: &RawConfig) -> Result<Option<Secret>, ConfigError> {
    match raw.trimmed(keys::AKTO_TOKEN) {
        Some((v, origin)) if !v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) => {
            Err(invalid(
                origin,
                "the token holds characters an HTTP header cannot carry (a line break or a non-ASCII character; the value is not shown)",
                "copy the ingestion token again, as one line",
            ))
        }
        Some((v, _)) => Ok(Some(Secret::new(v))),
        None => Ok(None),
    }
}

/// `ingestion_url`: the service's base URL. The connector adds `/api/ingestData`, so a URL that
/// already ends with it is cut back to its base instead of posting to the path twice.
pub(super) fn ingestion_url(value: &str, origin: &Origin) -> Result<Url, ConfigError> {
    let mut url = service_url(value, origin, INGESTION_EXAMPLE)?;
    let path = url.path().trim_end_matches('/').to_owned();
    if let Some(base) = path.strip_suffix(crate::sink::INGEST_PATH) {
        url.set_path(base);
    }
    Ok(url)
}

/// The destination: `output` (a file, or `-` for stdout) over `ingestion_url`; required for
/// [`Needs::Ingest`].
pub(super) fn sink(
    raw: &RawConfig,
    needs: Needs,
    token: Option<Secret>,
) -> Result<SinkConfig, ConfigError> {
    match (raw.get(keys::OUTPUT), raw.trimmed(keys::INGESTION_URL)) {
        (Some((out, _)), _) if out.trim() == "-" => Ok(SinkConfig::Stdout),
        (Some((out, origin)), _) => Ok(SinkConfig::JsonLinesFile(path(
            out.trim(),
            origin,
            "JSON Lines output file",
        )?)),
        (None, Some((v, origin))) => Ok(SinkConfig::Akto {
            url: ingestion_url(v, origin)?,
            token,
        }),
        (None, None) if needs == Needs::Ingest => Err(ConfigError::Missing {
            setting: "a destination".into(),
            fix: "set DATA_INGESTION_SERVICE_URL (Akto's Data Ingestion Service), or pass --output FILE (JSON Lines; `-` for stdout)".into(),
        }),
        (None, None) => Ok(SinkConfig::Stdout),
    }
}

/// `akto_account_id`: Akto account ids are positive integers.
pub(super) fn akto_account_id(raw: &RawConfig) -> Result<String, ConfigError> {
    match raw.trimmed(keys::AKTO_ACCOUNT_ID) {
        Some((v, origin)) => {
            let ok = !v.is_empty()
                && v.len() <= 18
                && v.bytes().all(|b| b.is_ascii_digit())
                && v.bytes().any(|b| b != b'0');
            if !ok {
                return Err(invalid(
                    origin,
                    format!("{} is not an Akto account id", shape(v)),
                    format!(
                        "use the account's number as Akto shows it (digits only, e.g. {DEFAULT_AKTO_ACCOUNT_ID})"
                    ),
                ));
            }
            Ok(v.to_owned())
        }
        None => Ok(DEFAULT_AKTO_ACCOUNT_ID.to_owned()),
    }
}

/// `state`: the checkpoint database; an empty path is refused (SQLite would open a temporary
/// database and keep no checkpoint at all).
pub(super) fn state_path(raw: &RawConfig) -> Result<PathBuf, ConfigError> {
    match raw.get(keys::STATE) {
        Some((v, origin)) => path(v.trim(), origin, "checkpoint database"),
        None => Ok(PathBuf::from(DEFAULT_STATE_FILE)),
    }
}

/// `overlap`: at most [`MAX_OVERLAP`].
pub(super) fn overlap(raw: &RawConfig) -> Result<Duration, ConfigError> {
    match raw.trimmed(keys::OVERLAP) {
        Some((v, origin)) => bounded_duration(v, origin, Duration::ZERO..=MAX_OVERLAP, "30m"),
        None => Ok(DEFAULT_OVERLAP),
    }
}

/// `since`: at most [`MAX_SINCE`].
pub(super) fn since(raw: &RawConfig) -> Result<Option<Duration>, ConfigError> {
    raw.trimmed(keys::SINCE)
        .map(|(v, origin)| bounded_duration(v, origin, Duration::ZERO..=MAX_SINCE, "7d"))
        .transpose()
}

/// `page_size`: 1 to 5000 (Dataverse's largest page).
pub(super) fn page_size(raw: &RawConfig) -> Result<u32, ConfigError> {
    match raw.trimmed(keys::PAGE_SIZE) {
        Some((v, origin)) => count(v, origin, "page size", 1..=5000, "")
            .map(|n| u32::try_from(n).unwrap_or(DEFAULT_PAGE_SIZE)),
        None => Ok(DEFAULT_PAGE_SIZE),
    }
}

/// `batch_size`: 1 to 1000.
pub(super) fn batch_size(raw: &RawConfig) -> Result<usize, ConfigError> {
    match raw.trimmed(keys::BATCH_SIZE) {
        Some((v, origin)) => count(
            v,
            origin,
            "batch size",
            1..=1000,
            " (Akto's publisher uses 50)",
        )
        .map(|n| usize::try_from(n).unwrap_or(DEFAULT_BATCH_SIZE)),
        None => Ok(DEFAULT_BATCH_SIZE),
    }
}

/// `in_flight`: batches delivered at once, 1 to 64.
pub(super) fn in_flight(raw: &RawConfig) -> Result<usize, ConfigError> {
    match raw.trimmed(keys::IN_FLIGHT) {
        Some((v, origin)) => count(
            v,
            origin,
            "number of batches in flight",
            1..=64,
            " (1 delivers one batch at a time; a crash repeats at most this many batches)",
        )
        .map(|n| usize::try_from(n).unwrap_or(DEFAULT_IN_FLIGHT)),
        None => Ok(DEFAULT_IN_FLIGHT),
    }
}

/// `split_settle`: 0 to [`MAX_SPLIT_SETTLE`].
pub(super) fn split_settle(raw: &RawConfig) -> Result<Duration, ConfigError> {
    match raw.trimmed(keys::SPLIT_SETTLE) {
        Some((v, origin)) => bounded_duration(v, origin, Duration::ZERO..=MAX_SPLIT_SETTLE, "10m"),
        None => Ok(DEFAULT_SPLIT_SETTLE),
    }
}

/// `host_shape`: `record-host` or `ai-agent`; without it, `ai-agent` when a user map file is
/// given (Akto's multi-environment mode), else `record-host`.
pub(super) fn host_shape(raw: &RawConfig) -> Result<crate::akto::HostShape, ConfigError> {
    use crate::akto::HostShape;
    match raw.trimmed(keys::HOST_SHAPE) {
        Some((v, origin)) => match v.to_ascii_lowercase().as_str() {
            "record-host" | "copilot" => Ok(HostShape::RecordHost),
            "ai-agent" => Ok(HostShape::AiAgent),
            _ => Err(invalid(
                origin,
                format!("{} is not a host shape", shape(v)),
                "use record-host (the record host, e.g. copilot.microsoft.com) or ai-agent ({userId}.ai-agent.{botName})",
            )),
        },
        None if raw.trimmed(keys::USER_MAP_FILE).is_some() => Ok(HostShape::AiAgent),
        None => Ok(HostShape::RecordHost),
    }
}

/// A file path setting that may be absent.
pub(super) fn optional_path(
    raw: &RawConfig,
    key: Key,
    what: &str,
) -> Result<Option<PathBuf>, ConfigError> {
    raw.get(key)
        .filter(|(v, _)| !v.trim().is_empty())
        .map(|(v, origin)| path(v.trim(), origin, what))
        .transpose()
}

/// `record_host`: a host name (letters, digits, `-`, `.`, `_`).
pub(super) fn record_host(raw: &RawConfig) -> Result<String, ConfigError> {
    match raw.trimmed(keys::RECORD_HOST) {
        Some((v, origin)) => token(v, origin, "host name", 253, &[]),
        None => Ok(DEFAULT_RECORD_HOST.to_owned()),
    }
}

/// `environment_id`: a Power Platform environment id (a GUID, or `Default-<tenant id>`).
pub(super) fn environment_id(raw: &RawConfig) -> Result<Option<String>, ConfigError> {
    raw.trimmed(keys::ENVIRONMENT_ID)
        .map(|(v, origin)| token(v, origin, "environment id", 128, &[]))
        .transpose()
}

/// `strict`: treat warnings that can hide data (a bot id matching no agent) as failures.
pub(super) fn strict(raw: &RawConfig) -> Result<bool, ConfigError> {
    raw.trimmed(keys::STRICT)
        .map(|(v, origin)| boolean(v, origin))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// `delivery_timeout`: the total time one delivery may take, retries included.
pub(super) fn delivery_timeout(raw: &RawConfig) -> Result<Duration, ConfigError> {
    match raw.trimmed(keys::DELIVERY_TIMEOUT) {
        Some((v, origin)) => bounded_duration(
            v,
            origin,
            Duration::from_secs(1)..=MAX_DELIVERY_TIMEOUT,
            "2m",
        ),
        None => Ok(DEFAULT_DELIVERY_TIMEOUT),
    }
}

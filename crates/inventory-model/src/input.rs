//! What a scan read, as plain data: the input of [`build_inventory`](crate::build_inventory).
//!
//! How each is filled from the client crates (the scan converts; this crate depends
//! on none of them):
//!
//! | input | read from |
//! |---|---|
//! | [`EnvironmentInfo`] | `arg-client`'s admin environment list (`Environment`): `name` -> `environment_id`, `properties.display_name`, `location`, `properties.environment_sku` -> `sku`, `is_default()`, `properties.linked_environment_metadata.instance_api_url`; or the raw JSON with [`EnvironmentInfo::from_admin_json`] |
//! | [`TenantAgent`] | `arg-client`'s `Agent` (Resource Graph or the Power Platform resource query): `name`, `properties.environment_id`, `display_name`, `created_at`, `created_by`, `owner_id`, `last_published_at`, `created_in` (its label), `schema_name`, `bot_id`, `entra_app_id`, `entra_agent_id`, `is_managed`, `authentication` (its mode text), `location`; or the raw row with [`TenantAgent::from_inventory_json`] |
//! | [`EnvironmentScan`] | per environment, `dataverse-client` reads: the `bots` rows ([`BotRecord::from_dataverse_json`]), each bot's `botcomponents` rows (`botcomponent_schema::ComponentRow`), the six many-to-many relationships of its components ([`RelatedTarget`]), the bot table's delta link; or why it could not be read ([`ScanOutcome`]: a 403 is `Forbidden`, no Dataverse URL is `NoDataverse`) |
//! | [`UsageInput`] | sessions of the agent from its conversation transcripts (`transcript-model`: one row per session; `from.aadObjectId` is the only stable user id) |
//! | [`IdentityObservation`] | `graph-client`: the owner's user (`accountEnabled`, or not found), the agent identity's app roles and delegated grants beyond its tools' needs, the members of the groups it is shared with |
//! | [`WorkIqObservation`], [`BillingPolicy`] | the downstream solutions (the scan writes these shells only when given them) |
//!
//! A value the scan did not read is `None` (or an empty list with its "read"
//! flag false): the mapping then writes no value and the posture checks that
//! need it say "not evaluated", never "pass".

use std::collections::BTreeMap;

use botcomponent_schema::{ComponentRow, ComponentTypeRegistry};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::options::{PolicyType, SpendScope, WorkIqObserved, WorkIqTier};

/// Everything one scan read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanInput {
    /// The scan run's id (a GUID), written to every row's `fsi_runid`.
    pub run_id: String,
    /// When the scan ran; every row's scan time.
    pub scanned_at: OffsetDateTime,
    /// The admin environment list, or `None` when it could not be read.
    pub environments: Option<Vec<EnvironmentInfo>>,
    /// The tenant inventory's agents, or `None` when it could not be read.
    pub tenant_agents: Option<Vec<TenantAgent>>,
    /// When the tenant inventory was read (defaults to `scanned_at`).
    pub inventory_read_at: Option<OffsetDateTime>,
    /// One entry per environment the scan tried (or decided not) to read.
    pub environment_scans: Vec<EnvironmentScan>,
    /// Usage per agent, where read.
    pub usage: Vec<UsageInput>,
    /// Identity facts per agent, where read.
    pub identities: Vec<IdentityObservation>,
    /// Work IQ state per agent, from the downstream solution.
    pub work_iq: Vec<WorkIqObservation>,
    /// Billing policies, from the downstream solution.
    pub billing: Vec<BillingPolicy>,
    /// The delta link each environment had after the previous scan, kept for
    /// environments this scan could not read so that their watermark is not lost.
    pub previous_delta_links: BTreeMap<String, String>,
    /// The component type registry (refreshed from the environment's metadata if the
    /// scan did so; the built-in one otherwise).
    pub component_types: ComponentTypeRegistry,
}

impl ScanInput {
    /// An input with nothing read yet.
    pub fn new(run_id: impl Into<String>, scanned_at: OffsetDateTime) -> Self {
        ScanInput {
            run_id: run_id.into(),
            scanned_at,
            environments: None,
            tenant_agents: None,
            inventory_read_at: None,
            environment_scans: Vec::new(),
            usage: Vec::new(),
            identities: Vec::new(),
            work_iq: Vec::new(),
            billing: Vec::new(),
            previous_delta_links: BTreeMap::new(),
            component_types: ComponentTypeRegistry::builtin(),
        }
    }
}

/// An input document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A field the input needs is missing or not a string.
    #[error("{what}: field `{field}` is missing or not a string")]
    MissingField {
        /// What was being read.
        what: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A date-time field is not ISO 8601.
    #[error("{what}: field `{field}` is not an ISO 8601 date-time")]
    BadDateTime {
        /// What was being read.
        what: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A yes/no field is neither a boolean nor the text `true` / `false`.
    #[error("{what}: field `{field}` is `{value}`, not true or false")]
    BadBoolean {
        /// What was being read.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// The value as sent.
        value: String,
    },
}

/// One environment of the admin environment list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvironmentInfo {
    /// The environment id (`name`), e.g. `Default-<tenant id>` or a GUID.
    pub environment_id: String,
    /// `properties.displayName`.
    pub display_name: Option<String>,
    /// `location`, e.g. `unitedstates`.
    pub location: Option<String>,
    /// `properties.environmentSku`: Production, Sandbox, Developer, Trial, Default, Teams.
    pub sku: Option<String>,
    /// `properties.isDefault`.
    pub is_default: bool,
    /// Whether it is a Managed Environment, when known.
    pub is_managed: Option<bool>,
    /// `properties.linkedEnvironmentMetadata.instanceApiUrl`: the Dataverse Web API base;
    /// `None` when the environment has no Dataverse.
    pub instance_api_url: Option<String>,
    /// The Managed Environment sharing limit for agents, when known.
    pub limit_sharing_mode: Option<String>,
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = value;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str().filter(|s| !s.is_empty())
}

fn owned(value: &Value, path: &[&str]) -> Option<String> {
    str_at(value, path).map(str::to_owned)
}

impl EnvironmentInfo {
    /// An environment with only its id.
    pub fn new(environment_id: impl Into<String>) -> Self {
        EnvironmentInfo {
            environment_id: environment_id.into(),
            ..Self::default()
        }
    }

    /// Reads one item of the admin environment list.
    pub fn from_admin_json(item: &Value) -> Result<Self, InputError> {
        let environment_id = owned(item, &["name"]).ok_or(InputError::MissingField {
            what: "environment",
            field: "name",
        })?;
        let props = item.get("properties").unwrap_or(&Value::Null);
        let linked = props
            .get("linkedEnvironmentMetadata")
            .unwrap_or(&Value::Null);
        Ok(EnvironmentInfo {
            environment_id,
            display_name: owned(props, &["displayName"]),
            location: owned(item, &["location"]),
            sku: owned(props, &["environmentSku"]),
            is_default: props
                .get("isDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            is_managed: props
                .get("governanceConfiguration")
                .and_then(|g| g.get("protectionLevel"))
                .and_then(Value::as_str)
                .map(|level| !level.eq_ignore_ascii_case("Basic")),
            instance_api_url: owned(linked, &["instanceApiUrl"])
                .or_else(|| owned(linked, &["instanceUrl"])),
            limit_sharing_mode: None,
        })
    }
}

/// Which tenant inventory an agent came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum InventorySource {
    /// Azure Resource Graph (`PowerPlatformResources`).
    #[default]
    ResourceGraph,
    /// The Power Platform resource query (the admin center's inventory).
    PowerPlatformAdmin,
}

/// One agent of the tenant inventory (`microsoft.copilotstudio/agents`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TenantAgent {
    /// `name`: the Dataverse bot id.
    pub name: String,
    /// `environmentId`.
    pub environment_id: String,
    /// Where the row came from.
    pub source: InventorySource,
    /// `properties.displayName`.
    pub display_name: Option<String>,
    /// `location`.
    pub location: Option<String>,
    /// `createdAt`.
    pub created_at: Option<OffsetDateTime>,
    /// `createdBy`.
    pub created_by: Option<String>,
    /// `ownerId`: the owner's Entra object id.
    pub owner_id: Option<String>,
    /// `lastPublishedAt` (`None` while draft).
    pub last_published_at: Option<OffsetDateTime>,
    /// `createdIn`: "Copilot Studio" or "Microsoft 365 Copilot Agent Builder".
    pub created_in: Option<String>,
    /// `schemaName`.
    pub schema_name: Option<String>,
    /// `botId`: the identity bot id (not always equal to `name`).
    pub bot_id: Option<String>,
    /// `entraAppId`.
    pub entra_app_id: Option<String>,
    /// `entraAgentId`.
    pub entra_agent_id: Option<String>,
    /// `isManaged` (preview).
    pub is_managed: Option<bool>,
    /// `authentication` (preview), e.g. "None".
    pub authentication: Option<String>,
    /// The row as read, kept as evidence.
    pub raw: Option<Value>,
}

fn field<'a>(row: &'a Value, name: &str) -> Option<&'a Value> {
    // Fields appear at the top level or under `properties` depending on the API
    // and its version; the top level wins.
    row.get(name).filter(|v| !v.is_null()).or_else(|| {
        row.get("properties")
            .and_then(|p| p.get(name))
            .filter(|v| !v.is_null())
    })
}

fn text_field(row: &Value, name: &str) -> Option<String> {
    field(row, name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A yes/no field: a JSON boolean, or the text `"true"` / `"false"` (any case), which some
/// inventory payloads send; absent, null or empty text is `None`. Anything else is an error
/// rather than a silent `None`.
fn bool_field(
    row: &Value,
    what: &'static str,
    name: &'static str,
) -> Result<Option<bool>, InputError> {
    match field(row, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(InputError::BadBoolean {
            what,
            field: name,
            value: other.to_string(),
        }),
    }
}

fn date_field(
    row: &Value,
    what: &'static str,
    name: &'static str,
) -> Result<Option<OffsetDateTime>, InputError> {
    match text_field(row, name) {
        None => Ok(None),
        Some(s) => OffsetDateTime::parse(&s, &Rfc3339)
            .map(Some)
            .map_err(|_| InputError::BadDateTime { what, field: name }),
    }
}

impl TenantAgent {
    /// An agent with only its id and environment.
    pub fn new(name: impl Into<String>, environment_id: impl Into<String>) -> Self {
        TenantAgent {
            name: name.into(),
            environment_id: environment_id.into(),
            ..Self::default()
        }
    }

    /// Reads a `PowerPlatformResources` row (either inventory API). Unknown fields
    /// are kept in [`raw`](Self::raw), not interpreted.
    pub fn from_inventory_json(row: &Value, source: InventorySource) -> Result<Self, InputError> {
        const WHAT: &str = "tenant inventory agent";
        let name = text_field(row, "name").ok_or(InputError::MissingField {
            what: WHAT,
            field: "name",
        })?;
        let environment_id = text_field(row, "environmentId").ok_or(InputError::MissingField {
            what: WHAT,
            field: "environmentId",
        })?;
        Ok(TenantAgent {
            name,
            environment_id,
            source,
            display_name: text_field(row, "displayName"),
            location: text_field(row, "location"),
            created_at: date_field(row, WHAT, "createdAt")?,
            created_by: text_field(row, "createdBy"),
            owner_id: text_field(row, "ownerId"),
            last_published_at: date_field(row, WHAT, "lastPublishedAt")?,
            created_in: text_field(row, "createdIn"),
            schema_name: text_field(row, "schemaName"),
            bot_id: text_field(row, "botId"),
            entra_app_id: text_field(row, "entraAppId"),
            entra_agent_id: text_field(row, "entraAgentId"),
            is_managed: bool_field(row, WHAT, "isManaged")?,
            authentication: field(row, "authentication").and_then(|a| match a {
                Value::String(s) => Some(s.clone()),
                Value::Object(_) => a.get("mode").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            }),
            raw: Some(row.clone()),
        })
    }
}

/// The outcome of reading one environment's Dataverse.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScanOutcome {
    /// Read.
    Scanned(DataverseSnapshot),
    /// The scan's identity may not read it (HTTP 403, or no application user).
    Forbidden {
        /// The service's message or code.
        detail: String,
    },
    /// The environment has no Dataverse database.
    NoDataverse,
    /// Not read on purpose (e.g. developer environments excluded by settings).
    Skipped {
        /// Why.
        reason: String,
    },
    /// The environment list says it cannot be read now: disabled (`states.runtime.id`
    /// `Disabled`) or being deleted (`states.management.id`). No request is sent to it.
    Unavailable {
        /// The list's state and reason code, as the list gives them.
        reason: String,
    },
    /// Reading failed (network, throttling beyond the retry budget, bad data).
    Failed {
        /// What failed.
        detail: String,
    },
}

/// One environment's scan.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EnvironmentScan {
    /// The environment id.
    pub environment_id: String,
    /// What happened.
    pub outcome: ScanOutcome,
}

impl EnvironmentScan {
    /// A scan entry.
    pub fn new(environment_id: impl Into<String>, outcome: ScanOutcome) -> Self {
        EnvironmentScan {
            environment_id: environment_id.into(),
            outcome,
        }
    }
}

/// What was read from one environment's Dataverse.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DataverseSnapshot {
    /// When the bot table was read.
    pub read_at: OffsetDateTime,
    /// The bots and what was read about each.
    pub bots: Vec<BotScan>,
    /// Bots the change-tracking delta reported deleted.
    pub deleted_bot_ids: Vec<String>,
    /// The bot table's delta link after this read.
    pub delta_link: Option<String>,
}

impl DataverseSnapshot {
    /// A snapshot read at `read_at`.
    pub fn new(read_at: OffsetDateTime) -> Self {
        DataverseSnapshot {
            read_at,
            bots: Vec::new(),
            deleted_bot_ids: Vec::new(),
            delta_link: None,
        }
    }
}

/// Whether a part of an agent was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadStatus {
    /// Read completely.
    #[default]
    Complete,
    /// Read in part (some pages or rows failed).
    Partial {
        /// What is missing.
        detail: String,
    },
    /// Not read.
    Failed {
        /// Why.
        detail: String,
    },
    /// Not attempted.
    NotRead,
}

impl ReadStatus {
    /// Read completely.
    pub fn is_complete(&self) -> bool {
        matches!(self, ReadStatus::Complete)
    }
}

/// One bot and what was read about it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BotScan {
    /// The `bots` row.
    pub bot: BotRecord,
    /// Its `botcomponents` rows (parent bot = this bot).
    pub components: Vec<ComponentRow>,
    /// Whether the components were read.
    pub components_read: ReadStatus,
    /// The many-to-many targets of its components.
    pub related: Vec<RelatedTarget>,
    /// Whether the many-to-many relationships were read.
    pub related_read: ReadStatus,
    /// Principals the agent is shared with, when read.
    pub shares: Option<Shares>,
    /// What this definition yields, made ahead of [`build_inventory`](crate::build_inventory)
    /// with [`agent_definition`](crate::mapping::agent_definition), or kept from an earlier
    /// scan when the `bots` row, the components and their many-to-many targets are unchanged
    /// since: the components are then not parsed there (see [`AgentDefinition`]).
    pub definition: Option<AgentDefinition>,
}

/// What an agent's Dataverse definition (its `bots` row, components and their many-to-many
/// targets) yields: its `fsi_caiagentfeature` rows and the results of the posture checks
/// that read only the definition
/// ([`CheckId::reads_only_definition`](crate::CheckId::reads_only_definition)).
///
/// Parsing every component is most of a scan's work. A scan can make this per bot as soon
/// as its environment is read ([`agent_definition`](crate::mapping::agent_definition)), and a
/// scan that read only the changes (delta links) can hand in an earlier scan's for the agents
/// none of whose rows changed; [`build_inventory`](crate::build_inventory) then parses only the
/// others ([`Inventory::rebuilt_agents`](crate::Inventory::rebuilt_agents)). The bookkeeping
/// columns (run id, scan time) and the agent and environment ids of the feature rows are set
/// anew. When the checks do not cover every enabled definition check, or the agent's id is
/// not the bot's, the definition is parsed as if nothing were given.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AgentDefinition {
    /// The agent's feature rows from the earlier scan.
    pub features: Vec<crate::rows::AgentFeatureRow>,
    /// The agent's posture results from the earlier scan (others than the definition
    /// checks are ignored).
    pub checks: Vec<crate::posture::CheckResult>,
}

impl AgentDefinition {
    /// What an earlier scan made of the definition.
    pub fn new(
        features: Vec<crate::rows::AgentFeatureRow>,
        checks: Vec<crate::posture::CheckResult>,
    ) -> Self {
        AgentDefinition { features, checks }
    }
}

impl BotScan {
    /// A bot with nothing else read.
    pub fn new(bot: BotRecord) -> Self {
        BotScan {
            bot,
            components: Vec::new(),
            components_read: ReadStatus::NotRead,
            related: Vec::new(),
            related_read: ReadStatus::NotRead,
            shares: None,
            definition: None,
        }
    }
}

/// Who an agent is shared with (from its sharing records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shares {
    /// Principals with viewer (chat) access.
    pub viewers: Vec<String>,
    /// Principals with editor access.
    pub editors: Vec<String>,
}

/// The `bots` columns the inventory uses.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct BotRecord {
    /// `botid`.
    pub bot_id: String,
    /// `name`.
    pub name: Option<String>,
    /// `schemaname`.
    pub schema_name: Option<String>,
    /// `configuration` (JSON text).
    pub configuration: Option<String>,
    /// `template`.
    pub template: Option<String>,
    /// `statecode` (0 active, 1 inactive).
    pub state_code: Option<i32>,
    /// `statuscode` (1 provisioned, 2 deprovisioned, 3 provisioning, 4 failed, 5 missing licence).
    pub status_code: Option<i32>,
    /// `publishedon`.
    pub published_on: Option<OffsetDateTime>,
    /// `accesscontrolpolicy` (0 any, 1 Copilot readers, 2 group membership, 3 any multi-tenant).
    pub access_control_policy: Option<i32>,
    /// `authenticationmode` (0 unspecified, 1 none, 2 integrated, 3 custom Entra, 4 generic OAuth2).
    pub authentication_mode: Option<i32>,
    /// `authenticationtrigger` (0 as needed, 1 always).
    pub authentication_trigger: Option<i32>,
    /// `authorizedsecuritygroupids`.
    pub authorized_security_group_ids: Option<String>,
    /// `_ownerid_value` (a Dataverse user or team id).
    pub owner_id: Option<String>,
    /// `ismanaged`.
    pub is_managed: Option<bool>,
    /// `createdon`.
    pub created_on: Option<OffsetDateTime>,
    /// `modifiedon`.
    pub modified_on: Option<OffsetDateTime>,
}

impl BotRecord {
    /// A bot with only its id.
    pub fn new(bot_id: impl Into<String>) -> Self {
        BotRecord {
            bot_id: bot_id.into(),
            ..Self::default()
        }
    }

    /// Reads a `bots` row as the Web API returns it (logical names).
    pub fn from_dataverse_json(row: &Value) -> Result<Self, InputError> {
        const WHAT: &str = "bot";
        let int = |name: &str| {
            row.get(name)
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
        };
        let date = |name: &'static str| -> Result<Option<OffsetDateTime>, InputError> {
            match row.get(name).and_then(Value::as_str) {
                None | Some("") => Ok(None),
                Some(s) => OffsetDateTime::parse(s, &Rfc3339).map(Some).map_err(|_| {
                    InputError::BadDateTime {
                        what: WHAT,
                        field: name,
                    }
                }),
            }
        };
        Ok(BotRecord {
            bot_id: owned(row, &["botid"]).ok_or(InputError::MissingField {
                what: WHAT,
                field: "botid",
            })?,
            name: owned(row, &["name"]),
            schema_name: owned(row, &["schemaname"]),
            configuration: owned(row, &["configuration"]),
            template: owned(row, &["template"]),
            state_code: int("statecode"),
            status_code: int("statuscode"),
            published_on: date("publishedon")?,
            access_control_policy: int("accesscontrolpolicy"),
            authentication_mode: int("authenticationmode"),
            authentication_trigger: int("authenticationtrigger"),
            authorized_security_group_ids: owned(row, &["authorizedsecuritygroupids"]),
            owner_id: owned(row, &["_ownerid_value"]),
            is_managed: row.get("ismanaged").and_then(Value::as_bool),
            created_on: date("createdon")?,
            modified_on: date("modifiedon")?,
        })
    }

    /// The security group ids the bot is restricted to (comma, semicolon or
    /// whitespace separated in the column), sorted and without duplicates.
    pub fn security_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self
            .authorized_security_group_ids
            .as_deref()
            .unwrap_or("")
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .map(|g| g.trim().trim_matches(|c| c == '"' || c == '[' || c == ']'))
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// The six many-to-many relationships of `botcomponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Relationship {
    /// `botcomponent_aipluginoperation`: a plugin operation (tool).
    AiPluginOperation,
    /// `botcomponent_connectionreference`: a connection reference (connector).
    ConnectionReference,
    /// `botcomponent_workflow`: a Power Automate flow.
    Workflow,
    /// `botcomponent_environmentvariabledefinition`: an environment variable.
    EnvironmentVariableDefinition,
    /// `botcomponent_dvtablesearch`: a Dataverse table used for grounding.
    DataverseTableSearch,
    /// `botcomponent_msdyn_aimodel`: an AI Builder model.
    AiModel,
}

impl Relationship {
    /// Every relationship.
    pub const ALL: [Relationship; 6] = [
        Relationship::AiPluginOperation,
        Relationship::ConnectionReference,
        Relationship::Workflow,
        Relationship::EnvironmentVariableDefinition,
        Relationship::DataverseTableSearch,
        Relationship::AiModel,
    ];

    /// The relationship's schema name.
    pub fn name(self) -> &'static str {
        match self {
            Relationship::AiPluginOperation => "botcomponent_aipluginoperation",
            Relationship::ConnectionReference => "botcomponent_connectionreference",
            Relationship::Workflow => "botcomponent_workflow",
            Relationship::EnvironmentVariableDefinition => {
                "botcomponent_environmentvariabledefinition"
            }
            Relationship::DataverseTableSearch => "botcomponent_dvtablesearch",
            Relationship::AiModel => "botcomponent_msdyn_aimodel",
        }
    }

    /// The relationship with this schema name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A record a component is related to through one of the six relationships.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelatedTarget {
    /// The component it was found through.
    pub component_id: String,
    /// The relationship.
    pub relationship: Relationship,
    /// The target record's id.
    pub target_id: String,
    /// The target's name, when read.
    pub target_name: Option<String>,
}

impl RelatedTarget {
    /// A target.
    pub fn new(
        component_id: impl Into<String>,
        relationship: Relationship,
        target_id: impl Into<String>,
        target_name: Option<String>,
    ) -> Self {
        RelatedTarget {
            component_id: component_id.into(),
            relationship,
            target_id: target_id.into(),
            target_name,
        }
    }
}

/// Usage of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsageInput {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// Where the sessions come from, e.g. `conversationtranscript`.
    pub source: String,
    /// How many days back the source reaches (e.g. 30 for the default transcript
    /// retention); decides whether "unused for N days" can be known.
    pub covers_days: u32,
    /// The sessions seen.
    pub sessions: Vec<SessionObservation>,
}

impl UsageInput {
    /// Usage with no sessions yet.
    pub fn new(
        agent_id: impl Into<String>,
        environment_id: impl Into<String>,
        source: impl Into<String>,
        covers_days: u32,
    ) -> Self {
        UsageInput {
            agent_id: agent_id.into(),
            environment_id: environment_id.into(),
            source: source.into(),
            covers_days,
            sessions: Vec::new(),
        }
    }
}

/// One session of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionObservation {
    /// A stable id of the session (e.g. transcript `name` plus start time).
    pub session_id: String,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// Its last activity, when known.
    pub last_activity_at: Option<OffsetDateTime>,
    /// User prompts in it.
    pub interactions: u32,
    /// The `from.aadObjectId` values of its user messages.
    pub user_object_ids: Vec<String>,
}

impl SessionObservation {
    /// A session.
    pub fn new(
        session_id: impl Into<String>,
        started_at: OffsetDateTime,
        interactions: u32,
    ) -> Self {
        SessionObservation {
            session_id: session_id.into(),
            started_at,
            last_activity_at: None,
            interactions,
            user_object_ids: Vec::new(),
        }
    }
}

/// The state of an agent owner's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OwnerState {
    /// Enabled.
    Active,
    /// `accountEnabled` false.
    Disabled,
    /// No such user (deleted, or a Dataverse user without an Entra account).
    Missing,
}

/// The owner of an agent, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnerObservation {
    /// Entra object id.
    pub object_id: Option<String>,
    /// User principal name.
    pub upn: Option<String>,
    /// Account state.
    pub state: OwnerState,
}

/// The permissions of an agent's Entra identity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PermissionObservation {
    /// The service principal / agent identity inspected.
    pub principal_id: String,
    /// Graph app roles and admin-consented delegated scopes beyond what its tools need.
    pub excess: Vec<String>,
    /// Problems with its app registration's credentials, one per problem per credential.
    pub credential_problems: Vec<crate::identity::CredentialProblem>,
    /// Its app registration is in the tenant and has no owner.
    pub orphaned: bool,
}

/// The audience of an agent shared with groups, resolved to users.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudienceObservation {
    /// Distinct user principal names found.
    pub upn_count: u32,
    /// A group was larger than the member cap; the count is partial.
    pub truncated: bool,
    /// The resolution failed.
    pub failed: bool,
    /// When it ran.
    pub resolved_at: OffsetDateTime,
}

/// Identity facts about one agent, from Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityObservation {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// The owner, when resolved.
    pub owner: Option<OwnerObservation>,
    /// The agent identity's permissions, when read.
    pub permissions: Option<PermissionObservation>,
    /// The resolved audience, when resolved.
    pub audience: Option<AudienceObservation>,
}

impl IdentityObservation {
    /// Nothing observed yet.
    pub fn new(agent_id: impl Into<String>, environment_id: impl Into<String>) -> Self {
        IdentityObservation {
            agent_id: agent_id.into(),
            environment_id: environment_id.into(),
            owner: None,
            permissions: None,
            audience: None,
        }
    }
}

/// Work IQ state of an agent (downstream).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkIqObservation {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// Configured.
    pub configured: bool,
    /// Tier.
    pub tier: WorkIqTier,
    /// Observed status.
    pub observed: WorkIqObserved,
    /// Component type the configuration was found in.
    pub config_source_component_type: Option<i32>,
    /// Latest invocation.
    pub last_observed: Option<OffsetDateTime>,
}

/// A billing policy (downstream).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BillingPolicy {
    /// The bot id, `None` for a tenant-level policy.
    pub agent_id: Option<String>,
    /// Policy id.
    pub policy_id: String,
    /// Policy kind.
    pub policy_type: PolicyType,
    /// Scoping group.
    pub user_scope_group_id: Option<String>,
    /// Surface.
    pub spend_scope: SpendScope,
    /// Budget state.
    pub budget_state: Option<String>,
    /// Basis of the decision.
    pub entitlement_basis: Option<String>,
}

impl OwnerObservation {
    /// An owner.
    pub fn new(object_id: Option<String>, upn: Option<String>, state: OwnerState) -> Self {
        OwnerObservation {
            object_id,
            upn,
            state,
        }
    }
}

impl PermissionObservation {
    /// The permissions of one principal.
    pub fn new(principal_id: impl Into<String>, excess: Vec<String>) -> Self {
        PermissionObservation {
            principal_id: principal_id.into(),
            excess,
            credential_problems: Vec::new(),
            orphaned: false,
        }
    }

    /// With the app registration's credential problems and whether it has no owner.
    #[must_use]
    pub fn hygiene(
        mut self,
        credential_problems: Vec<crate::identity::CredentialProblem>,
        orphaned: bool,
    ) -> Self {
        self.credential_problems = credential_problems;
        self.orphaned = orphaned;
        self
    }
}

impl AudienceObservation {
    /// A resolved audience.
    pub fn new(upn_count: u32, truncated: bool, failed: bool, resolved_at: OffsetDateTime) -> Self {
        AudienceObservation {
            upn_count,
            truncated,
            failed,
            resolved_at,
        }
    }
}

impl Shares {
    /// Viewers and editors.
    pub fn new(viewers: Vec<String>, editors: Vec<String>) -> Self {
        Shares { viewers, editors }
    }
}

impl WorkIqObservation {
    /// A Work IQ state.
    pub fn new(
        agent_id: impl Into<String>,
        environment_id: impl Into<String>,
        configured: bool,
        tier: WorkIqTier,
        observed: WorkIqObserved,
    ) -> Self {
        WorkIqObservation {
            agent_id: agent_id.into(),
            environment_id: environment_id.into(),
            configured,
            tier,
            observed,
            config_source_component_type: None,
            last_observed: None,
        }
    }
}

impl BillingPolicy {
    /// A policy.
    pub fn new(
        agent_id: Option<String>,
        policy_id: impl Into<String>,
        policy_type: PolicyType,
        spend_scope: SpendScope,
    ) -> Self {
        BillingPolicy {
            agent_id,
            policy_id: policy_id.into(),
            policy_type,
            user_scope_group_id: None,
            spend_scope,
            budget_state: None,
            entitlement_basis: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(is_managed: Value) -> Result<TenantAgent, InputError> {
        TenantAgent::from_inventory_json(
            &json!({"name": "b1", "properties": {"environmentId": "e1", "isManaged": is_managed}}),
            InventorySource::ResourceGraph,
        )
    }

    #[test]
    fn is_managed_reads_a_boolean_or_its_text() {
        for (sent, read) in [
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!("true"), Some(true)),
            (json!("False"), Some(false)),
            (json!(" TRUE "), Some(true)),
            (json!(""), None),
            (Value::Null, None),
        ] {
            assert_eq!(agent(sent.clone()).unwrap().is_managed, read, "{sent}");
        }
        for bad in [json!("yes"), json!(1), json!({"value": true})] {
            let err = agent(bad.clone()).unwrap_err();
            assert!(
                matches!(
                    &err,
                    InputError::BadBoolean {
                        field: "isManaged",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("not true or false"), "{err}");
        }
    }
}

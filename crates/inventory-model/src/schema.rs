//! The inventory schema as data: tables, columns, alternate keys.
//!
//! Everything a client needs to create the tables (see [`crate::metadata`]) and
//! everything the Markdown reference says (see [`crate::docs`]) comes from here,
//! and the row types of [`crate::rows`] are held to it by tests.

/// A release of the published inventory data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Release {
    /// 0.1.0-preview: the eight tables.
    V0_1_0,
    /// 0.2.0-preview: feature detection provenance, audience resolution, People.
    V0_2_0,
}

impl Release {
    /// `0.1.0` or `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Release::V0_1_0 => "0.1.0",
            Release::V0_2_0 => "0.2.0",
        }
    }
}

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// Single-line text of at most `max_length` characters.
    String {
        /// Maximum length in characters.
        max_length: u32,
    },
    /// Multi-line text of at most `max_length` characters (JSON columns are memos).
    Memo {
        /// Maximum length in characters.
        max_length: u32,
    },
    /// Whole number (32-bit).
    Integer,
    /// Yes/no with a default.
    Boolean {
        /// The value Dataverse stores when none is given.
        default: bool,
    },
    /// Date and time (UTC on the wire, ISO 8601).
    DateTime,
    /// A choice bound to a global option set.
    Choice {
        /// The option set's logical name.
        option_set: &'static str,
    },
}

impl ColumnType {
    /// The type as the published reference writes it, e.g. `String(100)`,
    /// ``Picklist (`fsi_cai_createdin`)``.
    pub fn reference_text(self) -> String {
        match self {
            ColumnType::String { max_length } => format!("String({max_length})"),
            ColumnType::Memo { max_length } => format!("Memo({max_length})"),
            ColumnType::Integer => "Integer".to_owned(),
            ColumnType::Boolean { default } => format!("Boolean (default: {default})"),
            ColumnType::DateTime => "DateTime".to_owned(),
            ColumnType::Choice { option_set } => format!("Picklist (`{option_set}`)"),
        }
    }

    /// The maximum length of a text column.
    pub fn max_length(self) -> Option<u32> {
        match self {
            ColumnType::String { max_length } | ColumnType::Memo { max_length } => Some(max_length),
            _ => None,
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnDef {
    /// The schema name, e.g. `fsi_AgentId`.
    pub schema_name: &'static str,
    /// The logical name: the schema name lowercased, e.g. `fsi_agentid`.
    pub logical_name: &'static str,
    /// The type.
    pub column_type: ColumnType,
    /// Whether a row must have a value (Dataverse `ApplicationRequired`).
    pub required: bool,
    /// What the column holds.
    pub description: &'static str,
    /// The release that added it.
    pub since: Release,
}

impl ColumnDef {
    /// A display name made from the schema name (`fsi_AgentId` -> `Agent Id`).
    pub fn display_name(&self) -> String {
        display_from_schema_name(self.schema_name)
    }
}

/// An alternate key: the columns an upsert addresses a row by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyDef {
    /// The key's schema name, e.g. `fsi_AgentEnvKey`.
    pub schema_name: &'static str,
    /// The logical names of its columns, in key order.
    pub columns: &'static [&'static str],
}

/// One table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableDef {
    /// The schema name, e.g. `fsi_CopilotAgent`.
    pub schema_name: &'static str,
    /// The logical name, e.g. `fsi_copilotagent`.
    pub logical_name: &'static str,
    /// The Web API entity set name, e.g. `fsi_copilotagents`.
    pub entity_set_name: &'static str,
    /// The display name.
    pub display_name: &'static str,
    /// The plural display name.
    pub display_collection_name: &'static str,
    /// What the table holds.
    pub description: &'static str,
    /// Organization-owned (all eight are).
    pub organization_owned: bool,
    /// Filled by a downstream solution, not by the scan (rows only where there is data).
    pub downstream_shell: bool,
    /// The columns, primary name (`fsi_name`) first, in the published order.
    pub columns: &'static [ColumnDef],
    /// The alternate keys (upsert keys).
    pub keys: &'static [KeyDef],
}

impl TableDef {
    /// The column with this logical name, if the table has it.
    pub fn column(&self, logical_name: &str) -> Option<&'static ColumnDef> {
        self.columns.iter().find(|c| c.logical_name == logical_name)
    }

    /// The primary name column (`fsi_name`).
    pub fn primary_name(&self) -> &'static ColumnDef {
        &self.columns[0]
    }

    /// The primary key column the platform adds, e.g. `fsi_copilotagentid`.
    pub fn primary_id(&self) -> String {
        format!("{}id", self.logical_name)
    }

    /// The upsert key, if the table has one.
    pub fn upsert_key(&self) -> Option<&'static KeyDef> {
        self.keys.first()
    }
}

fn display_from_schema_name(schema_name: &str) -> String {
    let bare = schema_name.strip_prefix("fsi_").unwrap_or(schema_name);
    let mut out = String::with_capacity(bare.len() + 4);
    let chars: Vec<char> = bare.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        // A word starts at an upper-case letter after a lower-case one or a digit run.
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(' ');
            }
        }
        out.push(*c);
    }
    out
}

const fn col(
    schema_name: &'static str,
    logical_name: &'static str,
    column_type: ColumnType,
    required: bool,
    description: &'static str,
) -> ColumnDef {
    ColumnDef {
        schema_name,
        logical_name,
        column_type,
        required,
        description,
        since: Release::V0_1_0,
    }
}

const fn added(mut c: ColumnDef) -> ColumnDef {
    c.since = Release::V0_2_0;
    c
}

const fn s(max_length: u32) -> ColumnType {
    ColumnType::String { max_length }
}
const fn memo(max_length: u32) -> ColumnType {
    ColumnType::Memo { max_length }
}
const fn choice(option_set: &'static str) -> ColumnType {
    ColumnType::Choice { option_set }
}
const INT: ColumnType = ColumnType::Integer;
const DATE: ColumnType = ColumnType::DateTime;
const FALSE: ColumnType = ColumnType::Boolean { default: false };
const TRUE: ColumnType = ColumnType::Boolean { default: true };

const NAME: ColumnDef = col(
    "fsi_Name",
    "fsi_name",
    s(850),
    true,
    "Primary name of the row.",
);
const RUN_ID: ColumnDef = col(
    "fsi_RunId",
    "fsi_runid",
    s(36),
    false,
    "Scan run that last wrote the row (GUID).",
);
const ENV_ID_OPTIONAL: ColumnDef = col(
    "fsi_EnvironmentId",
    "fsi_environmentid",
    s(100),
    false,
    "Power Platform environment id.",
);
const AGENT_ID: ColumnDef = col(
    "fsi_AgentId",
    "fsi_agentid",
    s(100),
    true,
    "The agent's Dataverse bot id.",
);
const fn scanned(description: &'static str) -> ColumnDef {
    col(
        "fsi_LastScannedAt",
        "fsi_lastscannedat",
        DATE,
        true,
        description,
    )
}

/// `fsi_copilotagent`: one row per agent and environment.
pub const AGENT: TableDef = TableDef {
    schema_name: "fsi_CopilotAgent",
    logical_name: "fsi_copilotagent",
    entity_set_name: "fsi_copilotagents",
    display_name: "Copilot Agent",
    display_collection_name: "Copilot Agents",
    description: "Agent master record: one row per Copilot Studio or Agent Builder agent found in the tenant.",
    organization_owned: true,
    downstream_shell: false,
    columns: &[
        NAME,
        AGENT_ID,
        col(
            "fsi_AgentName",
            "fsi_agentname",
            s(500),
            true,
            "Display name of the agent.",
        ),
        col(
            "fsi_EnvironmentId",
            "fsi_environmentid",
            s(100),
            true,
            "Environment the agent lives in.",
        ),
        col(
            "fsi_SchemaName",
            "fsi_schemaname",
            s(200),
            false,
            "The bot's schema name.",
        ),
        col(
            "fsi_OwnerUpn",
            "fsi_ownerupn",
            s(200),
            false,
            "Owner's user principal name.",
        ),
        col(
            "fsi_OwnerId",
            "fsi_ownerid",
            s(100),
            false,
            "Owner's Entra object id.",
        ),
        col(
            "fsi_CreatedIn",
            "fsi_createdin",
            choice("fsi_cai_createdin"),
            false,
            "Authoring surface.",
        ),
        col(
            "fsi_AgentType",
            "fsi_agenttype",
            choice("fsi_cai_agenttype"),
            false,
            "Kind of agent; decides how complete a scan can be.",
        ),
        col(
            "fsi_PublishedState",
            "fsi_publishedstate",
            s(100),
            false,
            "Published, Draft or Inactive, from state and last publish time.",
        ),
        col(
            "fsi_AuthMode",
            "fsi_authmode",
            s(100),
            false,
            "End-user authentication mode.",
        ),
        col(
            "fsi_BotId",
            "fsi_botid",
            s(100),
            false,
            "Identity bot id reported by the tenant inventory.",
        ),
        col(
            "fsi_EntraAppId",
            "fsi_entraappid",
            s(100),
            false,
            "Entra application (client) id of the agent.",
        ),
        col(
            "fsi_EntraAgentId",
            "fsi_entraagentid",
            s(100),
            false,
            "Entra agent identity id (preview).",
        ),
        col(
            "fsi_IsManaged",
            "fsi_ismanaged",
            FALSE,
            false,
            "Whether the agent is in a managed solution.",
        ),
        col(
            "fsi_Region",
            "fsi_region",
            s(100),
            false,
            "Region of the environment.",
        ),
        col(
            "fsi_DiscoverySource",
            "fsi_discoverysource",
            choice("fsi_cai_discoverysource"),
            false,
            "Which discovery sources saw the agent.",
        ),
        col(
            "fsi_CreatedOn",
            "fsi_createdon",
            DATE,
            false,
            "When the agent was created.",
        ),
        col(
            "fsi_ModifiedOn",
            "fsi_modifiedon",
            DATE,
            false,
            "When the agent was last modified.",
        ),
        col(
            "fsi_LastPublishedAt",
            "fsi_lastpublishedat",
            DATE,
            false,
            "When the agent was last published.",
        ),
        scanned("When the scan last refreshed the row."),
        RUN_ID,
        col(
            "fsi_RawJson",
            "fsi_rawjson",
            memo(100_000),
            false,
            "Source record (inventory row or bot row) as JSON, for evidence.",
        ),
    ],
    keys: &[KeyDef {
        schema_name: "fsi_AgentEnvKey",
        columns: &["fsi_agentid", "fsi_environmentid"],
    }],
};

/// `fsi_caienvironment`: one row per environment.
pub const ENVIRONMENT: TableDef = TableDef {
    schema_name: "fsi_CAIEnvironment",
    logical_name: "fsi_caienvironment",
    entity_set_name: "fsi_caienvironments",
    display_name: "CAI Environment",
    display_collection_name: "CAI Environments",
    description: "Power Platform environments with their zone and change-tracking watermark.",
    organization_owned: true,
    downstream_shell: false,
    columns: &[
        NAME,
        col(
            "fsi_EnvironmentId",
            "fsi_environmentid",
            s(100),
            true,
            "Power Platform environment id.",
        ),
        col(
            "fsi_EnvironmentName",
            "fsi_environmentname",
            s(500),
            true,
            "Display name of the environment.",
        ),
        col(
            "fsi_EnvironmentUrl",
            "fsi_environmenturl",
            s(400),
            false,
            "Dataverse Web API base URL of the environment.",
        ),
        col(
            "fsi_Region",
            "fsi_region",
            s(100),
            false,
            "Region of the environment.",
        ),
        col(
            "fsi_EnvironmentType",
            "fsi_environmenttype",
            s(100),
            false,
            "Production, Sandbox, Trial, Default, Developer or Teams.",
        ),
        col(
            "fsi_IsManaged",
            "fsi_ismanaged",
            FALSE,
            false,
            "Whether it is a Managed Environment.",
        ),
        col(
            "fsi_Zone",
            "fsi_zone",
            choice("fsi_acv_zone"),
            false,
            "Governance zone.",
        ),
        col(
            "fsi_AgentCount",
            "fsi_agentcount",
            INT,
            false,
            "Agents found in the environment.",
        ),
        col(
            "fsi_DeltaLink",
            "fsi_deltalink",
            memo(100_000),
            false,
            "Dataverse delta link of the bot table for the next incremental scan.",
        ),
        scanned("When the environment was last scanned."),
        RUN_ID,
    ],
    keys: &[KeyDef {
        schema_name: "fsi_EnvKey",
        columns: &["fsi_environmentid"],
    }],
};

/// `fsi_caiagentfeature`: one row per component feature or many-to-many target of an agent.
pub const AGENT_FEATURE: TableDef = TableDef {
    schema_name: "fsi_CAIAgentFeature",
    logical_name: "fsi_caiagentfeature",
    entity_set_name: "fsi_caiagentfeatures",
    display_name: "CAI Agent Feature",
    display_collection_name: "CAI Agent Features",
    description: "What an agent is made of: one row per component or related record.",
    organization_owned: true,
    downstream_shell: false,
    columns: &[
        NAME,
        col(
            "fsi_AgentId",
            "fsi_agentid",
            s(100),
            true,
            "The parent agent's bot id.",
        ),
        col(
            "fsi_EnvironmentId",
            "fsi_environmentid",
            s(100),
            false,
            "Environment the feature was found in.",
        ),
        col(
            "fsi_FeatureType",
            "fsi_featuretype",
            choice("fsi_cai_featuretype"),
            true,
            "Feature class.",
        ),
        col(
            "fsi_ComponentType",
            "fsi_componenttype",
            INT,
            false,
            "Raw botcomponent componenttype, when from a component.",
        ),
        col(
            "fsi_ComponentVersion",
            "fsi_componentversion",
            choice("fsi_cai_componentversion"),
            false,
            "V1/V2 generation of the component type.",
        ),
        col(
            "fsi_SourceObjectId",
            "fsi_sourceobjectid",
            s(100),
            true,
            "botcomponentid, bot id, or the related record's id.",
        ),
        col(
            "fsi_SourceObjectName",
            "fsi_sourceobjectname",
            s(500),
            false,
            "Name of the component or related record.",
        ),
        col(
            "fsi_IsEnabled",
            "fsi_isenabled",
            TRUE,
            false,
            "Whether the feature is active.",
        ),
        col(
            "fsi_RelationshipName",
            "fsi_relationshipname",
            s(200),
            false,
            "Relationship the feature was found through.",
        ),
        added(col(
            "fsi_DetectionSource",
            "fsi_detectionsource",
            choice("fsi_cai_detectionsource"),
            false,
            "What produced the row.",
        )),
        added(col(
            "fsi_DetectionConfidence",
            "fsi_detectionconfidence",
            choice("fsi_cai_detectionconfidence"),
            false,
            "Declared, configured or inferred.",
        )),
        added(col(
            "fsi_DetectionDetail",
            "fsi_detectiondetail",
            memo(4000),
            false,
            "What was read, as bounded JSON.",
        )),
        added(col(
            "fsi_AgentRefProvisional",
            "fsi_agentrefprovisional",
            FALSE,
            false,
            "The agent id is not yet bound to a Dataverse bot.",
        )),
        scanned("When the feature was last refreshed."),
        RUN_ID,
    ],
    keys: &[KeyDef {
        schema_name: "fsi_AgentFeatureKey",
        columns: &["fsi_agentid", "fsi_sourceobjectid"],
    }],
};

/// `fsi_caiauthshare`: authentication and sharing of an agent.
pub const AUTH_SHARE: TableDef = TableDef {
    schema_name: "fsi_CAIAuthShare",
    logical_name: "fsi_caiauthshare",
    entity_set_name: "fsi_caiauthshares",
    display_name: "CAI Auth Share",
    display_collection_name: "CAI Auth Shares",
    description: "How users authenticate to an agent and who it is shared with.",
    organization_owned: true,
    downstream_shell: false,
    columns: &[
        NAME,
        AGENT_ID,
        ENV_ID_OPTIONAL,
        col(
            "fsi_AuthMode",
            "fsi_authmode",
            s(100),
            false,
            "End-user authentication mode.",
        ),
        col(
            "fsi_AuthProvider",
            "fsi_authprovider",
            s(200),
            false,
            "Identity provider.",
        ),
        col(
            "fsi_RequireSignIn",
            "fsi_requiresignin",
            FALSE,
            false,
            "Whether users must sign in.",
        ),
        col(
            "fsi_EntraAuthAsserted",
            "fsi_entraauthasserted",
            FALSE,
            false,
            "Entra authentication with sign-in required.",
        ),
        col(
            "fsi_ViewerGroups",
            "fsi_viewergroups",
            memo(10_000),
            false,
            "Security groups allowed to chat (JSON array).",
        ),
        col(
            "fsi_EditorPrincipals",
            "fsi_editorprincipals",
            memo(10_000),
            false,
            "Principals allowed to edit (JSON array).",
        ),
        col(
            "fsi_SharedWithViewerCount",
            "fsi_sharedwithviewercount",
            INT,
            false,
            "Number of viewer principals or groups.",
        ),
        col(
            "fsi_SharedWithEditorCount",
            "fsi_sharedwitheditorcount",
            INT,
            false,
            "Number of editor principals.",
        ),
        col(
            "fsi_LimitSharingMode",
            "fsi_limitsharingmode",
            s(100),
            false,
            "Managed Environment sharing limit.",
        ),
        added(col(
            "fsi_SharedWithEveryone",
            "fsi_sharedwitheveryone",
            FALSE,
            false,
            "Shared with everyone (any user, or any tenant).",
        )),
        added(col(
            "fsi_AudienceWholeTenant",
            "fsi_audiencewholetenant",
            FALSE,
            false,
            "The audience is the whole tenant (not enumerated).",
        )),
        added(col(
            "fsi_AudienceUpnCount",
            "fsi_audienceupncount",
            INT,
            false,
            "Distinct users resolved in the audience.",
        )),
        added(col(
            "fsi_AudienceTruncated",
            "fsi_audiencetruncated",
            FALSE,
            false,
            "The resolved audience is partial.",
        )),
        added(col(
            "fsi_AudienceResolutionStatus",
            "fsi_audienceresolutionstatus",
            s(100),
            false,
            "Complete, Partial, WholeTenantNotEnumerated, Failed or NotResolved.",
        )),
        added(col(
            "fsi_AudienceResolvedAt",
            "fsi_audienceresolvedat",
            DATE,
            false,
            "When the audience was resolved.",
        )),
        scanned("When the posture was last scanned."),
        RUN_ID,
    ],
    keys: &[KeyDef {
        schema_name: "fsi_AuthShareKey",
        columns: &["fsi_agentid", "fsi_environmentid"],
    }],
};

/// `fsi_caibillingentitlement`: billing shell, filled downstream.
pub const BILLING_ENTITLEMENT: TableDef = TableDef {
    schema_name: "fsi_CAIBillingEntitlement",
    logical_name: "fsi_caibillingentitlement",
    entity_set_name: "fsi_caibillingentitlements",
    display_name: "CAI Billing Entitlement",
    display_collection_name: "CAI Billing Entitlements",
    description: "Billing and credit entitlement shell, filled by the billing-governance solution.",
    organization_owned: true,
    downstream_shell: true,
    columns: &[
        NAME,
        col(
            "fsi_AgentId",
            "fsi_agentid",
            s(100),
            false,
            "Agent bot id; empty for tenant-level policies.",
        ),
        col(
            "fsi_PolicyId",
            "fsi_policyid",
            s(200),
            false,
            "Billing or credit policy id.",
        ),
        col(
            "fsi_PolicyType",
            "fsi_policytype",
            choice("fsi_cai_policytype"),
            false,
            "Policy kind.",
        ),
        col(
            "fsi_UserScopeGroupId",
            "fsi_userscopegroupid",
            s(100),
            false,
            "Entra group the policy is scoped to.",
        ),
        col(
            "fsi_SpendScope",
            "fsi_spendscope",
            choice("fsi_cai_spendscope"),
            false,
            "Surface the allocation applies to.",
        ),
        col(
            "fsi_BudgetState",
            "fsi_budgetstate",
            s(100),
            false,
            "Active, Exhausted or Alerting.",
        ),
        col(
            "fsi_ZeroRatingEligible",
            "fsi_zeroratingeligible",
            FALSE,
            false,
            "Zero-rated usage; false unless proven.",
        ),
        col(
            "fsi_EntitlementBasis",
            "fsi_entitlementbasis",
            s(1000),
            false,
            "Why the entitlement was decided so.",
        ),
        col(
            "fsi_LastEvaluatedAt",
            "fsi_lastevaluatedat",
            DATE,
            false,
            "When the entitlement was evaluated.",
        ),
        RUN_ID,
    ],
    keys: &[],
};

/// `fsi_caiusagesignal`: usage aggregates of an agent.
pub const USAGE_SIGNAL: TableDef = TableDef {
    schema_name: "fsi_CAIUsageSignal",
    logical_name: "fsi_caiusagesignal",
    entity_set_name: "fsi_caiusagesignals",
    display_name: "CAI Usage Signal",
    display_collection_name: "CAI Usage Signals",
    description: "Usage of an agent over a window: interactions, users, sessions; never transcripts.",
    organization_owned: true,
    downstream_shell: false,
    columns: &[
        NAME,
        AGENT_ID,
        ENV_ID_OPTIONAL,
        col(
            "fsi_LastInteractionUtc",
            "fsi_lastinteractionutc",
            DATE,
            false,
            "Latest interaction seen.",
        ),
        col(
            "fsi_Interactions30d",
            "fsi_interactions30d",
            INT,
            false,
            "Interactions in the window.",
        ),
        col(
            "fsi_UniqueUsers30d",
            "fsi_uniqueusers30d",
            INT,
            false,
            "Distinct users (Entra object ids) in the window.",
        ),
        col(
            "fsi_Sessions30d",
            "fsi_sessions30d",
            INT,
            false,
            "Sessions in the window.",
        ),
        col(
            "fsi_AggregationWindowDays",
            "fsi_aggregationwindowdays",
            INT,
            false,
            "Window length in days.",
        ),
        col(
            "fsi_SignalSource",
            "fsi_signalsource",
            s(200),
            false,
            "Where the counts come from.",
        ),
        col(
            "fsi_LastAggregatedAt",
            "fsi_lastaggregatedat",
            DATE,
            true,
            "When the counts were computed.",
        ),
        RUN_ID,
    ],
    keys: &[KeyDef {
        schema_name: "fsi_UsageSignalKey",
        columns: &["fsi_agentid", "fsi_environmentid"],
    }],
};

/// `fsi_caiworkiqstate`: Work IQ shell, filled downstream.
pub const WORK_IQ_STATE: TableDef = TableDef {
    schema_name: "fsi_CAIWorkIqState",
    logical_name: "fsi_caiworkiqstate",
    entity_set_name: "fsi_caiworkiqstates",
    display_name: "CAI Work IQ State",
    display_collection_name: "CAI Work IQ States",
    description: "Work IQ configured-versus-invoked shell, filled by the Work IQ usage solution.",
    organization_owned: true,
    downstream_shell: true,
    columns: &[
        NAME,
        AGENT_ID,
        ENV_ID_OPTIONAL,
        col(
            "fsi_Configured",
            "fsi_configured",
            FALSE,
            false,
            "Work IQ or semantic search is configured.",
        ),
        col(
            "fsi_ConfiguredTier",
            "fsi_configuredtier",
            choice("fsi_cai_workiqtier"),
            false,
            "Entitlement path.",
        ),
        col(
            "fsi_ObservedStatus",
            "fsi_observedstatus",
            choice("fsi_cai_workiqobserved"),
            false,
            "Configured versus invoked.",
        ),
        col(
            "fsi_PerUserLicenseRequired",
            "fsi_peruserlicenserequired",
            FALSE,
            false,
            "A per-user Microsoft 365 Copilot licence is needed.",
        ),
        col(
            "fsi_ConfigSourceComponentType",
            "fsi_configsourcecomponenttype",
            INT,
            false,
            "Component type the configuration was found in.",
        ),
        col(
            "fsi_LastObservedUtc",
            "fsi_lastobservedutc",
            DATE,
            false,
            "Latest observed invocation.",
        ),
        scanned("When the state was last refreshed."),
        RUN_ID,
    ],
    keys: &[KeyDef {
        schema_name: "fsi_WorkIqStateKey",
        columns: &["fsi_agentid", "fsi_environmentid"],
    }],
};

/// `fsi_caicompliancestate`: risk, completeness and violations of an agent.
pub const COMPLIANCE_STATE: TableDef = TableDef {
    schema_name: "fsi_CAIComplianceState",
    logical_name: "fsi_caicompliancestate",
    entity_set_name: "fsi_caicompliancestates",
    display_name: "CAI Compliance State",
    display_collection_name: "CAI Compliance States",
    description: "Risk level, scan completeness and violations of an agent.",
    organization_owned: true,
    downstream_shell: false,
    columns: &[
        NAME,
        AGENT_ID,
        ENV_ID_OPTIONAL,
        col(
            "fsi_RiskLevel",
            "fsi_risklevel",
            choice("fsi_cai_risklevel"),
            false,
            "Risk level from the posture findings.",
        ),
        col(
            "fsi_ScanCompleteness",
            "fsi_scancompleteness",
            choice("fsi_cai_scancompleteness"),
            true,
            "Whether the agent could be read completely.",
        ),
        col(
            "fsi_ScanCompletenessReason",
            "fsi_scancompletenessreason",
            s(1000),
            false,
            "Why the scan is not complete.",
        ),
        col(
            "fsi_ViolationCount",
            "fsi_violationcount",
            INT,
            false,
            "Open violations.",
        ),
        col(
            "fsi_ViolationsJson",
            "fsi_violationsjson",
            memo(100_000),
            false,
            "The violations (JSON array).",
        ),
        col(
            "fsi_LastCheckedUtc",
            "fsi_lastcheckedutc",
            DATE,
            true,
            "When compliance was last evaluated.",
        ),
        RUN_ID,
    ],
    keys: &[KeyDef {
        schema_name: "fsi_ComplianceStateKey",
        columns: &["fsi_agentid", "fsi_environmentid"],
    }],
};

/// The eight tables, in the published order.
pub const TABLES: [&TableDef; 8] = [
    &AGENT,
    &ENVIRONMENT,
    &AGENT_FEATURE,
    &AUTH_SHARE,
    &BILLING_ENTITLEMENT,
    &USAGE_SIGNAL,
    &WORK_IQ_STATE,
    &COMPLIANCE_STATE,
];

/// The table with this logical name, if it is one of the eight.
pub fn table(logical_name: &str) -> Option<&'static TableDef> {
    TABLES
        .iter()
        .copied()
        .find(|t| t.logical_name == logical_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::option_set;

    #[test]
    fn logical_names_are_lowercased_schema_names() {
        for t in TABLES {
            assert_eq!(t.logical_name, t.schema_name.to_lowercase());
            assert_eq!(t.primary_name().logical_name, "fsi_name");
            for c in t.columns {
                assert_eq!(
                    c.logical_name,
                    c.schema_name.to_lowercase(),
                    "{}",
                    t.logical_name
                );
            }
        }
    }

    #[test]
    fn keys_name_columns_and_choices_name_option_sets() {
        for t in TABLES {
            for k in t.keys {
                for c in k.columns {
                    assert!(t.column(c).is_some(), "{} key {}", t.logical_name, c);
                }
            }
            for c in t.columns {
                if let ColumnType::Choice { option_set: name } = c.column_type {
                    assert!(option_set(name).is_some(), "{name}");
                }
            }
        }
    }

    #[test]
    fn display_names_split_words() {
        assert_eq!(display_from_schema_name("fsi_AgentId"), "Agent Id");
        assert_eq!(
            display_from_schema_name("fsi_Interactions30d"),
            "Interactions30d"
        );
        assert_eq!(
            display_from_schema_name("fsi_CAIEnvironment"),
            "CAI Environment"
        );
        assert_eq!(
            display_from_schema_name("fsi_LastInteractionUtc"),
            "Last Interaction Utc"
        );
    }
}

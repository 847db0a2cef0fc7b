//! From what a scan read to the rows of the eight tables, deterministically: the
//! same input gives the same rows in the same order.
//!
//! Per table:
//!
//! - `fsi_copilotagent`: one row per reconciled agent. Authoring surface from the
//!   inventory's `createdIn`; agent type Lite for Agent Builder, Classic V1 for a
//!   classic bot, Standard otherwise (Unknown when nothing says); discovery source
//!   from reconciliation; owner from the inventory's `ownerId` (or the resolved
//!   owner); the identity triple (`botId`, `entraAppId`, `entraAgentId`) from the
//!   inventory; published state from `statecode`/`statuscode`/`publishedon` (or the
//!   inventory's `lastPublishedAt`); the source records as evidence in `fsi_rawjson`.
//! - `fsi_caienvironment`: one row per listed, scanned or inventory-referenced
//!   environment: type (SKU), zone (from settings; Unclassified otherwise), agent
//!   count, the bot table's delta link (kept from the previous scan when this one
//!   could not read the environment).
//! - `fsi_caiagentfeature`: for agents read from Dataverse, one row for the bot's
//!   configuration, one per component (unknown types and kinds become
//!   Other / Unrecognized, never dropped) and one per many-to-many target (merged
//!   when several components share a target), with a bounded JSON detail.
//! - `fsi_caiauthshare`: from `authenticationmode`, `authenticationtrigger`,
//!   `accesscontrolpolicy` and `authorizedsecuritygroupids`; audience status
//!   `NotResolved` unless resolved.
//! - `fsi_caiusagesignal`: only for agents with usage input: sessions started in the
//!   window ending at the scan (a session id counted once), their interactions,
//!   unique users by Entra object id (case-insensitive; users of unauthenticated
//!   channels have none and are not counted), the latest activity, the source named.
//! - `fsi_caicompliancestate`: every agent: scan completeness with its reason, risk
//!   level and violations from the posture checks.
//! - `fsi_caiworkiqstate`, `fsi_caibillingentitlement`: downstream shells, rows only
//!   for the observations and policies given.

use std::collections::{BTreeMap, BTreeSet};

use botcomponent_schema::{
    AgentFeatures, BotRow, ComponentContent, Feature, FeatureDetail, FeatureType, SchemaGeneration,
    agent_features,
};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use crate::input::{
    AgentDefinition, BotScan, IdentityObservation, ReadStatus, ScanInput, ScanOutcome, UsageInput,
};
use crate::options::{
    AgentType, CreatedIn, DetectionConfidence, DetectionSource, DiscoverySource, ScanCompleteness,
    Zone,
};
use crate::posture::{
    AgentFacts, AgentPosture, PostureSettings, Violation, bounded, definition_checks_reusable,
    evaluate,
};
use crate::reconcile::{
    CoverageKind, CoverageRecord, InventoryOnlyReason, ReconcileSettings, ReconciledAgent,
    reconcile,
};
use crate::rows::{
    AgentFeatureRow, AgentRow, AuthShareRow, BillingEntitlementRow, ComplianceStateRow,
    EnvironmentRow, UsageSignalRow, WorkIqStateRow, whole_seconds,
};
use crate::schema;

/// Settings of a scan's mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InventorySettings {
    /// Posture checks.
    pub posture: PostureSettings,
    /// Reconciliation.
    pub reconcile: ReconcileSettings,
    /// The usage window in days (30 by default).
    pub usage_window_days: u32,
    /// Governance zone per environment id (case-insensitive); others are Unclassified.
    pub zones: BTreeMap<String, Zone>,
}

impl Default for InventorySettings {
    fn default() -> Self {
        InventorySettings {
            posture: PostureSettings::default(),
            reconcile: ReconcileSettings::default(),
            usage_window_days: 30,
            zones: BTreeMap::new(),
        }
    }
}

/// The rows of the eight tables from one scan.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct InventoryRows {
    /// `fsi_copilotagent`.
    pub agents: Vec<AgentRow>,
    /// `fsi_caienvironment`.
    pub environments: Vec<EnvironmentRow>,
    /// `fsi_caiagentfeature`.
    pub features: Vec<AgentFeatureRow>,
    /// `fsi_caiauthshare`.
    pub auth_shares: Vec<AuthShareRow>,
    /// `fsi_caibillingentitlement`.
    pub billing: Vec<BillingEntitlementRow>,
    /// `fsi_caiusagesignal`.
    pub usage: Vec<UsageSignalRow>,
    /// `fsi_caiworkiqstate`.
    pub work_iq: Vec<WorkIqStateRow>,
    /// `fsi_caicompliancestate`.
    pub compliance: Vec<ComplianceStateRow>,
}

/// Serialises as one key per table (its logical name) with its rows in the
/// Dataverse JSON form, e.g. for a scan report or a dry run.
impl serde::Serialize for InventoryRows {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(8))?;
        map.serialize_entry(schema::AGENT.logical_name, &self.agents)?;
        map.serialize_entry(schema::ENVIRONMENT.logical_name, &self.environments)?;
        map.serialize_entry(schema::AGENT_FEATURE.logical_name, &self.features)?;
        map.serialize_entry(schema::AUTH_SHARE.logical_name, &self.auth_shares)?;
        map.serialize_entry(schema::BILLING_ENTITLEMENT.logical_name, &self.billing)?;
        map.serialize_entry(schema::USAGE_SIGNAL.logical_name, &self.usage)?;
        map.serialize_entry(schema::WORK_IQ_STATE.logical_name, &self.work_iq)?;
        map.serialize_entry(schema::COMPLIANCE_STATE.logical_name, &self.compliance)?;
        map.end()
    }
}

/// What a scan produces: rows, the coverage gaps, and each agent's posture.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Inventory {
    /// The rows to write.
    pub rows: InventoryRows,
    /// Every gap between the sources.
    pub coverage: Vec<CoverageRecord>,
    /// Posture per agent, in agent row order.
    pub postures: Vec<AgentPosture>,
    /// Environments whose Dataverse this scan read.
    pub scanned_environments: Vec<String>,
    /// Whether this scan read the tenant inventory.
    pub inventory_read: bool,
    /// Agents whose Dataverse definition was parsed and mapped this time; the others read
    /// from Dataverse reused an earlier scan's ([`AgentDefinition`]).
    pub rebuilt_agents: usize,
}

fn norm(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn fit(text: &str, column: &str, table: &schema::TableDef) -> String {
    let max = table
        .column(column)
        .and_then(|c| c.column_type.max_length())
        .unwrap_or(u32::MAX) as usize;
    bounded(text, max)
}

/// The authoring surface from the inventory's `createdIn`.
pub fn created_in(text: Option<&str>) -> Option<CreatedIn> {
    let t = text?.trim();
    Some(if t.eq_ignore_ascii_case("Copilot Studio") {
        CreatedIn::CopilotStudio
    } else if t.to_ascii_lowercase().contains("agent builder") {
        CreatedIn::AgentBuilder
    } else {
        CreatedIn::Unknown
    })
}

/// `bot.authenticationmode` as the inventory's text.
pub fn auth_mode_text(mode: i32) -> &'static str {
    match mode {
        0 => "Unspecified",
        1 => "No authentication",
        2 => "Authenticate with Microsoft",
        3 => "Authenticate manually (Microsoft Entra ID)",
        4 => "Authenticate manually (Generic OAuth 2)",
        _ => "Unknown",
    }
}

fn auth_provider(mode: i32) -> Option<&'static str> {
    match mode {
        2 | 3 => Some("Microsoft Entra ID"),
        4 => Some("Generic OAuth2"),
        _ => None,
    }
}

fn published_state(agent: &ReconciledAgent<'_>) -> Option<String> {
    if let Some((_, scan)) = agent.dataverse {
        let bot = &scan.bot;
        let state = match (bot.state_code, bot.status_code) {
            (Some(1), _) => "Inactive",
            (_, Some(2)) => "Deprovisioned",
            (_, Some(3)) => "Provisioning",
            (_, Some(4)) => "Provisioning Failed",
            (_, Some(5)) => "Missing License",
            _ if bot.published_on.is_some() => "Published",
            _ => "Draft",
        };
        return Some(state.to_owned());
    }
    agent.inventory.map(|i| {
        if i.last_published_at.is_some() {
            "Published"
        } else {
            "Draft"
        }
        .to_owned()
    })
}

fn is_classic(scan: &BotScan) -> bool {
    !scan.components.is_empty()
        && scan
            .components
            .iter()
            .all(|c| (0..=8).contains(&c.component_type))
}

fn raw_json(agent: &ReconciledAgent<'_>) -> Option<String> {
    let mut doc = Map::new();
    if let Some(raw) = agent.inventory.and_then(|i| i.raw.clone()) {
        doc.insert("inventory".to_owned(), raw);
    }
    if let Some((_, scan)) = agent.dataverse {
        let b = &scan.bot;
        let d = |t: Option<OffsetDateTime>| t.map(crate::rows::format_datetime);
        doc.insert(
            "bot".to_owned(),
            json!({
                "botid": b.bot_id, "name": b.name, "schemaname": b.schema_name, "template": b.template,
                "statecode": b.state_code, "statuscode": b.status_code, "publishedon": d(b.published_on),
                "accesscontrolpolicy": b.access_control_policy, "authenticationmode": b.authentication_mode,
                "authenticationtrigger": b.authentication_trigger,
                "authorizedsecuritygroupids": b.authorized_security_group_ids,
                "_ownerid_value": b.owner_id, "ismanaged": b.is_managed,
                "createdon": d(b.created_on), "modifiedon": d(b.modified_on),
            }),
        );
    }
    if doc.is_empty() {
        return None;
    }
    let text = json_text(&doc);
    let max = 100_000;
    if text.chars().count() <= max {
        return Some(text);
    }
    // Too big for the column: keep the Dataverse part and the inventory's ids.
    if let Some(inv) = doc.get_mut("inventory") {
        let keep = ["name", "type", "environmentId", "createdIn", "botId"];
        let slim: Map<String, Value> = keep
            .iter()
            .filter_map(|k| inv.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        *inv = json!({ "truncated": true, "fields": slim });
    }
    Some(bounded(&json_text(&doc), max))
}

/// An object's compact JSON text, as `Value::Object(map).to_string()` gives it, without
/// copying the map into a value first (one detail per component of a scan).
fn json_text(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_default()
}

/// The bounded JSON detail of a feature row (at most 4000 characters).
pub fn feature_detail(feature: &Feature) -> String {
    let mut d = Map::new();
    match &feature.detail {
        FeatureDetail::Component(p) => {
            d.insert("typeLabel".into(), json!(p.type_label));
            if let Some(kind) = &p.kind {
                d.insert("kind".into(), json!(kind));
            }
            match &p.content {
                ComponentContent::Topic(t) => {
                    if let Some(tr) = &t.trigger {
                        d.insert("trigger".into(), json!(tr.kind));
                        if !tr.trigger_phrases.is_empty() {
                            d.insert("triggerPhrases".into(), json!(tr.trigger_phrases.len()));
                        }
                    }
                    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
                    for a in &t.actions {
                        *kinds.entry(a.kind.as_str()).or_default() += 1;
                    }
                    if !kinds.is_empty() {
                        d.insert("actions".into(), json!(kinds));
                    }
                }
                ComponentContent::Tool(tool) => {
                    d.insert(
                        "toolKind".into(),
                        serde_json::to_value(tool.tool_kind).unwrap_or_default(),
                    );
                    for (k, v) in [
                        ("actionKind", &tool.action_kind),
                        ("displayName", &tool.display_name),
                        ("connector", &tool.connector),
                        ("operationId", &tool.operation_id),
                        ("connectionReference", &tool.connection_reference),
                        ("protocol", &tool.protocol),
                        ("flowId", &tool.flow_id),
                        ("modelId", &tool.model_id),
                        ("agentSchemaName", &tool.agent_schema_name),
                    ] {
                        if let Some(v) = v {
                            d.insert(k.into(), json!(v));
                        }
                    }
                    if let Some(m) = &tool.connection_mode {
                        d.insert("connectionMode".into(), json!(String::from(m.clone())));
                    }
                }
                ComponentContent::KnowledgeSource(k) => {
                    for (key, v) in [
                        ("sourceKind", &k.source_kind),
                        ("site", &k.site),
                        ("indexName", &k.index_name),
                    ] {
                        if let Some(v) = v {
                            d.insert(key.into(), json!(v));
                        }
                    }
                }
                ComponentContent::CustomGpt(g) => {
                    if !g.capabilities.is_empty() {
                        d.insert("capabilities".into(), json!(g.capabilities));
                    }
                    if let Some(m) = &g.model_hint {
                        d.insert("model".into(), json!(m));
                    }
                    d.insert(
                        "hasInstructions".into(),
                        json!(
                            g.instructions
                                .as_deref()
                                .is_some_and(|i| !i.trim().is_empty())
                        ),
                    );
                }
                ComponentContent::ExternalTrigger(t) => {
                    for (key, v) in [
                        ("sourceKind", &t.source_kind),
                        ("flowName", &t.flow_name),
                        ("connectionType", &t.connection_type),
                    ] {
                        if let Some(v) = v {
                            d.insert(key.into(), json!(v));
                        }
                    }
                }
                _ => {}
            }
            if !p.unrecognized.is_empty() {
                d.insert("unrecognized".into(), json!(p.unrecognized.len()));
                let paths: Vec<&str> = p
                    .unrecognized
                    .iter()
                    .take(10)
                    .map(|u| u.path.as_str())
                    .collect();
                d.insert("unrecognizedPaths".into(), json!(paths));
            }
        }
        FeatureDetail::Configuration(c) => {
            d.insert("typeLabel".into(), json!("bot.configuration"));
            for (k, v) in [
                ("generativeOrchestration", c.generative_actions),
                ("useModelKnowledge", c.use_model_knowledge),
                ("semanticSearch", c.semantic_search),
                ("fileAnalysis", c.file_analysis),
                ("agentConnectable", c.is_agent_connectable),
            ] {
                if let Some(v) = v {
                    d.insert(k.into(), json!(v));
                }
            }
            if let Some(r) = &c.recognizer {
                d.insert("recognizer".into(), json!(r));
            }
            if !c.channels.is_empty() {
                d.insert("channels".into(), json!(c.channels));
            }
            if let Some(m) = &c.content_moderation {
                d.insert("contentModeration".into(), json!(m));
            }
            if !c.unrecognized.is_empty() {
                d.insert("unrecognized".into(), json!(c.unrecognized.len()));
            }
        }
        FeatureDetail::Unreadable { error } => {
            d.insert("unreadable".into(), json!(bounded(error, 500)));
        }
        _ => {
            d.insert("unreadable".into(), json!("unknown detail"));
        }
    }
    let max = 4000;
    let text = json_text(&d);
    if text.chars().count() <= max {
        return text;
    }
    // Shrink the bulkiest parts first, then cut every string.
    d.remove("unrecognizedPaths");
    d.remove("actions");
    let text = json_text(&d);
    if text.chars().count() <= max {
        return text;
    }
    for v in d.values_mut() {
        if let Value::String(s) = v {
            *s = bounded(s, 200);
        }
    }
    d.insert("truncated".into(), json!(true));
    bounded(&json_text(&d), max)
}

fn relationship_feature_type(r: crate::input::Relationship) -> FeatureType {
    use crate::input::Relationship as R;
    match r {
        R::AiPluginOperation => FeatureType::ToolPlugin,
        R::ConnectionReference => FeatureType::Connector,
        R::Workflow => FeatureType::PowerAutomateFlow,
        R::EnvironmentVariableDefinition => FeatureType::EnvironmentVariable,
        R::DataverseTableSearch => FeatureType::DataverseSearchGrounding,
        R::AiModel => FeatureType::AiBuilderModel,
    }
}

/// The features of one bot scan, as `botcomponent-schema` reads them.
pub fn features_of(input: &ScanInput, scan: &BotScan) -> AgentFeatures {
    let mut bot = BotRow::new(scan.bot.bot_id.clone());
    bot.name = scan.bot.name.clone();
    bot.schema_name = scan.bot.schema_name.clone();
    bot.configuration = scan.bot.configuration.clone();
    bot.template = scan.bot.template.clone();
    agent_features(&input.component_types, &bot, &scan.components)
}

fn feature_rows(
    (agent_id, environment_id): (&str, &str),
    features: &AgentFeatures,
    scan: &BotScan,
    (run_id, scanned_at): (&str, OffsetDateTime),
) -> Vec<AgentFeatureRow> {
    let t = &schema::AGENT_FEATURE;
    let mut rows: BTreeMap<String, AgentFeatureRow> = BTreeMap::new();
    for f in &features.features {
        let key = norm(&f.source_id);
        if rows.contains_key(&key) {
            // The same component listed twice: one row per (agent, source).
            continue;
        }
        let label = f
            .source_name
            .clone()
            .or_else(|| f.schema_name.clone())
            .unwrap_or_else(|| f.source_id.clone());
        let mut row = AgentFeatureRow::new(agent_id.to_owned(), f.source_id.clone());
        row.name = Some(fit(
            &format!("{}: {label}", f.feature_type.label()),
            "fsi_name",
            t,
        ));
        row.environment_id = Some(environment_id.to_owned());
        row.feature_type = Some(f.feature_type);
        row.component_type = f.component_type;
        row.component_version = Some(
            f.component_version
                .unwrap_or(SchemaGeneration::NotApplicable),
        );
        row.source_object_name = f
            .source_name
            .as_deref()
            .map(|n| fit(n, "fsi_sourceobjectname", t));
        row.is_enabled = f.is_enabled;
        row.relationship_name = Some(
            if f.component_type.is_some() {
                "botcomponent"
            } else {
                "bot"
            }
            .to_owned(),
        );
        row.detection_source = Some(DetectionSource::DataverseBotcomponentScan);
        row.detection_confidence = Some(DetectionConfidence::Configured);
        row.detection_detail = Some(feature_detail(f));
        row.agent_ref_provisional = Some(false);
        row.last_scanned_at = Some(whole_seconds(scanned_at));
        row.run_id = Some(run_id.to_owned());
        rows.insert(key, row);
    }
    // Many-to-many targets: one row per target; several components may share one.
    let mut targets: BTreeMap<String, Vec<&crate::input::RelatedTarget>> = BTreeMap::new();
    for r in &scan.related {
        targets.entry(norm(&r.target_id)).or_default().push(r);
    }
    for (key, mut via) in targets {
        if rows.contains_key(&key) {
            continue;
        }
        via.sort_by(|a, b| {
            (a.relationship, &a.component_id).cmp(&(b.relationship, &b.component_id))
        });
        let first = via[0];
        let feature_type = relationship_feature_type(first.relationship);
        let label = first
            .target_name
            .clone()
            .unwrap_or_else(|| first.target_id.clone());
        let mut row = AgentFeatureRow::new(agent_id.to_owned(), first.target_id.clone());
        row.name = Some(fit(
            &format!("{}: {label}", feature_type.label()),
            "fsi_name",
            t,
        ));
        row.environment_id = Some(environment_id.to_owned());
        row.feature_type = Some(feature_type);
        row.component_version = Some(SchemaGeneration::NotApplicable);
        row.source_object_name = first
            .target_name
            .as_deref()
            .map(|n| fit(n, "fsi_sourceobjectname", t));
        row.is_enabled = Some(true);
        row.relationship_name = Some(first.relationship.name().to_owned());
        row.detection_source = Some(DetectionSource::DataverseBotcomponentScan);
        row.detection_confidence = Some(DetectionConfidence::Configured);
        let components: BTreeSet<&str> = via.iter().map(|v| v.component_id.as_str()).collect();
        let relationships: BTreeSet<&str> = via.iter().map(|v| v.relationship.name()).collect();
        row.detection_detail = Some(bounded(
            &json!({ "relationships": relationships, "components": components }).to_string(),
            4000,
        ));
        row.agent_ref_provisional = Some(false);
        row.last_scanned_at = Some(whole_seconds(scanned_at));
        row.run_id = Some(run_id.to_owned());
        rows.insert(key, row);
    }
    rows.into_values().collect()
}

/// An earlier scan's feature rows of an unchanged definition, as this scan writes them: the
/// agent's ids as reconciled now, this run's bookkeeping.
fn reused_feature_rows(
    agent: &ReconciledAgent<'_>,
    previous: &[AgentFeatureRow],
    input: &ScanInput,
) -> Vec<AgentFeatureRow> {
    let mut rows: Vec<AgentFeatureRow> = previous
        .iter()
        .map(|r| {
            let mut row = r.clone();
            row.agent_id = agent.agent_id.clone();
            row.environment_id = Some(agent.environment_id.clone());
            row.last_scanned_at = Some(whole_seconds(input.scanned_at));
            row.run_id = Some(input.run_id.clone());
            row
        })
        .collect();
    // The order `feature_rows` gives: by source id without regard to case.
    rows.sort_by_cached_key(|r| norm(&r.source_object_id));
    rows
}

/// Whether a feature row's detail is [`feature_detail`]'s record of an unreadable payload.
fn is_unreadable_detail(detail: Option<&str>) -> bool {
    detail.is_some_and(|d| {
        d.contains("\"unreadable\"")
            && serde_json::from_str::<Map<String, Value>>(d)
                .is_ok_and(|m| m.contains_key("unreadable"))
    })
}

/// Audience resolution status texts of `fsi_audienceresolutionstatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudienceResolution {
    /// Every member resolved.
    Complete,
    /// Some groups were larger than the cap.
    Partial,
    /// Shared with the whole tenant; members deliberately not listed.
    WholeTenantNotEnumerated,
    /// Resolution failed.
    Failed,
    /// Not resolved (not attempted, or not possible with what was read).
    NotResolved,
}

impl AudienceResolution {
    /// The column text.
    pub fn as_str(self) -> &'static str {
        match self {
            AudienceResolution::Complete => "Complete",
            AudienceResolution::Partial => "Partial",
            AudienceResolution::WholeTenantNotEnumerated => "WholeTenantNotEnumerated",
            AudienceResolution::Failed => "Failed",
            AudienceResolution::NotResolved => "NotResolved",
        }
    }
}

fn auth_share_row(
    agent: &ReconciledAgent<'_>,
    input: &ScanInput,
    identity: Option<&IdentityObservation>,
) -> AuthShareRow {
    let mut row = AuthShareRow::new(agent.agent_id.clone(), agent.environment_id.clone());
    let name = agent_display_name(agent);
    row.name = Some(fit(
        &format!("Auth & sharing: {name}"),
        "fsi_name",
        &schema::AUTH_SHARE,
    ));
    row.limit_sharing_mode = agent.environment.and_then(|e| e.limit_sharing_mode.clone());
    row.last_scanned_at = Some(whole_seconds(input.scanned_at));
    row.run_id = Some(input.run_id.clone());
    let mut resolution = AudienceResolution::NotResolved;
    if let Some((_, scan)) = agent.dataverse {
        let bot = &scan.bot;
        if let Some(mode) = bot.authentication_mode {
            row.auth_mode = Some(auth_mode_text(mode).to_owned());
            row.auth_provider = auth_provider(mode).map(str::to_owned);
            let require = match mode {
                1 => Some(false),
                2 => Some(true),
                3 | 4 => bot.authentication_trigger.map(|t| t == 1),
                _ => None,
            };
            row.require_sign_in = require;
            row.entra_auth_asserted = match (mode, require) {
                (2 | 3, Some(r)) => Some(r),
                (2 | 3, None) => None,
                _ => Some(false),
            };
        }
        match bot.access_control_policy {
            Some(p @ (0 | 3)) => {
                row.shared_with_everyone = Some(true);
                row.audience_whole_tenant = Some(true);
                row.audience_upn_count = Some(0);
                row.audience_truncated = Some(false);
                resolution = AudienceResolution::WholeTenantNotEnumerated;
                let _ = p;
            }
            Some(p) => {
                row.shared_with_everyone = Some(false);
                row.audience_whole_tenant = Some(false);
                if p == 2 {
                    let groups = bot.security_groups();
                    row.shared_with_viewer_count = i32::try_from(groups.len()).ok();
                    row.viewer_groups = Some(bounded(&json!(groups).to_string(), 10_000));
                }
            }
            None => {}
        }
        if let Some(shares) = &scan.shares {
            let mut editors = shares.editors.clone();
            editors.sort();
            editors.dedup();
            row.shared_with_editor_count = i32::try_from(editors.len()).ok();
            row.editor_principals = Some(bounded(&json!(editors).to_string(), 10_000));
            if bot.access_control_policy != Some(2) {
                let mut viewers = shares.viewers.clone();
                viewers.sort();
                viewers.dedup();
                row.shared_with_viewer_count = i32::try_from(viewers.len()).ok();
                row.viewer_groups = Some(bounded(&json!(viewers).to_string(), 10_000));
            }
        }
    } else if let Some(a) = agent.inventory.and_then(|i| i.authentication.as_deref()) {
        row.auth_mode = Some(fit(a, "fsi_authmode", &schema::AUTH_SHARE));
    }
    if resolution != AudienceResolution::WholeTenantNotEnumerated
        && let Some(aud) = identity.and_then(|i| i.audience.as_ref())
    {
        resolution = if aud.failed {
            AudienceResolution::Failed
        } else if aud.truncated {
            AudienceResolution::Partial
        } else {
            AudienceResolution::Complete
        };
        row.audience_upn_count = i32::try_from(aud.upn_count).ok();
        row.audience_truncated = Some(aud.truncated);
        row.audience_resolved_at = Some(whole_seconds(aud.resolved_at));
    }
    row.audience_resolution_status = Some(resolution.as_str().to_owned());
    row
}

fn agent_display_name(agent: &ReconciledAgent<'_>) -> String {
    agent
        .inventory
        .and_then(|i| non_empty(i.display_name.as_deref()))
        .or_else(|| {
            agent
                .dataverse
                .and_then(|(_, s)| non_empty(s.bot.name.as_deref()))
        })
        .unwrap_or_else(|| agent.agent_id.clone())
}

fn agent_row(
    agent: &ReconciledAgent<'_>,
    input: &ScanInput,
    settings: &InventorySettings,
    identity_upn: Option<String>,
    identity_owner: Option<String>,
) -> AgentRow {
    let t = &schema::AGENT;
    let inv = agent.inventory;
    let bot = agent.dataverse.map(|(_, s)| &s.bot);
    let mut row = AgentRow::new(agent.agent_id.clone(), agent.environment_id.clone());
    let display = agent_display_name(agent);
    let zone = settings.zones.get(&norm(&agent.environment_id)).copied();
    let name = match zone {
        Some(Zone::Zone1) => format!("{display} (Z1)"),
        Some(Zone::Zone2) => format!("{display} (Z2)"),
        Some(Zone::Zone3) => format!("{display} (Z3)"),
        _ => display.clone(),
    };
    row.name = Some(fit(&name, "fsi_name", t));
    row.agent_name = Some(fit(&display, "fsi_agentname", t));
    row.schema_name = bot
        .and_then(|b| non_empty(b.schema_name.as_deref()))
        .or_else(|| inv.and_then(|i| non_empty(i.schema_name.as_deref())));
    row.owner_id = inv
        .and_then(|i| non_empty(i.owner_id.as_deref()))
        .or(identity_owner);
    row.owner_upn = identity_upn;
    let created_in = inv.and_then(|i| created_in(i.created_in.as_deref()));
    row.created_in = Some(created_in.unwrap_or(CreatedIn::Unknown));
    let classic = agent.dataverse.is_some_and(|(_, s)| is_classic(s));
    row.agent_type = Some(match created_in {
        Some(CreatedIn::AgentBuilder) => AgentType::Lite,
        _ if classic => AgentType::ClassicV1,
        Some(CreatedIn::CopilotStudio) => AgentType::Standard,
        _ if bot.is_some() => AgentType::Standard,
        _ => AgentType::Unknown,
    });
    row.published_state = published_state(agent);
    row.auth_mode = bot
        .and_then(|b| b.authentication_mode)
        .map(|m| auth_mode_text(m).to_owned())
        .or_else(|| {
            inv.and_then(|i| {
                i.authentication
                    .as_deref()
                    .map(|a| fit(a, "fsi_authmode", t))
            })
        });
    row.bot_id = inv.and_then(|i| non_empty(i.bot_id.as_deref()));
    row.entra_app_id = inv.and_then(|i| non_empty(i.entra_app_id.as_deref()));
    row.entra_agent_id = inv.and_then(|i| non_empty(i.entra_agent_id.as_deref()));
    row.is_managed = bot
        .and_then(|b| b.is_managed)
        .or_else(|| inv.and_then(|i| i.is_managed));
    row.region = inv
        .and_then(|i| non_empty(i.location.as_deref()))
        .or_else(|| {
            agent
                .environment
                .and_then(|e| non_empty(e.location.as_deref()))
        });
    row.discovery_source = Some(agent.discovery_source);
    row.created_on = inv
        .and_then(|i| i.created_at)
        .or_else(|| bot.and_then(|b| b.created_on))
        .map(whole_seconds);
    row.modified_on = bot.and_then(|b| b.modified_on).map(whole_seconds);
    row.last_published_at = inv
        .and_then(|i| i.last_published_at)
        .or_else(|| bot.and_then(|b| b.published_on))
        .map(whole_seconds);
    row.last_scanned_at = Some(whole_seconds(input.scanned_at));
    row.run_id = Some(input.run_id.clone());
    row.raw_json = raw_json(agent);
    row
}

fn completeness(
    agent: &ReconciledAgent<'_>,
    row: &AgentRow,
    unreadable_payloads: Option<usize>,
) -> (ScanCompleteness, Vec<String>) {
    let mut level = ScanCompleteness::Complete;
    let mut reasons = Vec::new();
    let mut lower = |to: ScanCompleteness, reason: String, reasons: &mut Vec<String>| {
        if to == ScanCompleteness::Failed || level == ScanCompleteness::Complete {
            level = to;
        }
        reasons.push(reason);
    };
    if row.agent_type == Some(AgentType::Lite) || row.created_in == Some(CreatedIn::AgentBuilder) {
        lower(
            ScanCompleteness::Incomplete,
            "Agent Builder agent: no public API returns its full definition".to_owned(),
            &mut reasons,
        );
    }
    for c in &agent.coverage {
        match &c.kind {
            CoverageKind::InventoryOnly(InventoryOnlyReason::EnvironmentUnreadable) => {
                let failed = matches!(agent.scan, Some(ScanOutcome::Failed { .. }));
                lower(
                    if failed {
                        ScanCompleteness::Failed
                    } else {
                        ScanCompleteness::Incomplete
                    },
                    format!("environment not read: {}", c.detail),
                    &mut reasons,
                );
            }
            CoverageKind::InventoryOnly(_) | CoverageKind::DataverseOnly(_) => {
                lower(
                    ScanCompleteness::Incomplete,
                    format!("{}: {}", c.kind.code(), c.detail),
                    &mut reasons,
                );
            }
            _ => {}
        }
    }
    if let Some((_, scan)) = agent.dataverse {
        match &scan.components_read {
            ReadStatus::Complete => {}
            ReadStatus::Partial { detail } => lower(
                ScanCompleteness::Incomplete,
                format!("components read in part: {detail}"),
                &mut reasons,
            ),
            ReadStatus::Failed { detail } => lower(
                ScanCompleteness::Failed,
                format!("components not read: {detail}"),
                &mut reasons,
            ),
            ReadStatus::NotRead => lower(
                ScanCompleteness::Incomplete,
                "components not read".to_owned(),
                &mut reasons,
            ),
        }
        match &scan.related_read {
            ReadStatus::Complete => {}
            ReadStatus::Partial { detail } | ReadStatus::Failed { detail } => lower(
                ScanCompleteness::Incomplete,
                format!("related records not read: {detail}"),
                &mut reasons,
            ),
            ReadStatus::NotRead => lower(
                ScanCompleteness::Incomplete,
                "related records not read".to_owned(),
                &mut reasons,
            ),
        }
        if let Some(unreadable) = unreadable_payloads.filter(|n| *n > 0) {
            lower(
                ScanCompleteness::Incomplete,
                format!("{unreadable} component or configuration payload(s) unreadable"),
                &mut reasons,
            );
        }
    }
    (level, reasons)
}

/// `fsi_violationcount` and `fsi_violationsjson`: always valid JSON within the
/// column's 100,000 characters (evidence is cut to 20 entries a violation, then
/// dropped, before a violation would be).
fn violations_json(posture: &AgentPosture) -> (i32, String) {
    let mut violations = posture.violations();
    let count = i32::try_from(violations.len()).unwrap_or(i32::MAX);
    let text = |v: &[Violation]| serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned());
    let mut out = text(&violations);
    for keep in [20, 0] {
        if out.chars().count() <= 100_000 {
            break;
        }
        for v in &mut violations {
            if v.evidence.len() > keep {
                v.evidence_total = Some(v.evidence_total.unwrap_or(v.evidence.len()));
                v.evidence.truncate(keep);
            }
        }
        out = text(&violations);
    }
    (count, out)
}

fn usage_row(
    agent: &ReconciledAgent<'_>,
    input: &ScanInput,
    settings: &InventorySettings,
    usage: Option<&UsageInput>,
) -> Option<UsageSignalRow> {
    let usage = usage?;
    let start = input.scanned_at - Duration::days(i64::from(settings.usage_window_days));
    let mut sessions = BTreeSet::new();
    let mut users = BTreeSet::new();
    let mut interactions: i64 = 0;
    let mut last: Option<OffsetDateTime> = None;
    for s in &usage.sessions {
        let end = s.last_activity_at.unwrap_or(s.started_at).max(s.started_at);
        if end <= input.scanned_at {
            last = Some(last.map_or(end, |l: OffsetDateTime| l.max(end)));
        }
        if s.started_at < start || s.started_at > input.scanned_at {
            continue;
        }
        if !sessions.insert(s.session_id.as_str()) {
            continue;
        }
        interactions += i64::from(s.interactions);
        for u in &s.user_object_ids {
            let u = u.trim().to_ascii_lowercase();
            if !u.is_empty() {
                users.insert(u);
            }
        }
    }
    let mut row = UsageSignalRow::new(agent.agent_id.clone(), agent.environment_id.clone());
    row.name = Some(fit(
        &format!("Usage: {}", agent_display_name(agent)),
        "fsi_name",
        &schema::USAGE_SIGNAL,
    ));
    row.last_interaction_utc = last.map(whole_seconds);
    row.interactions_30d = Some(i32::try_from(interactions).unwrap_or(i32::MAX));
    row.unique_users_30d = Some(i32::try_from(users.len()).unwrap_or(i32::MAX));
    row.sessions_30d = Some(i32::try_from(sessions.len()).unwrap_or(i32::MAX));
    row.aggregation_window_days = i32::try_from(settings.usage_window_days).ok();
    row.signal_source = Some(fit(
        &usage.source,
        "fsi_signalsource",
        &schema::USAGE_SIGNAL,
    ));
    row.last_aggregated_at = Some(whole_seconds(input.scanned_at));
    row.run_id = Some(input.run_id.clone());
    Some(row)
}

/// What one bot's Dataverse definition yields, made apart from the rest of a scan (e.g. on
/// the task that read its environment, while other environments are still being read): its
/// components parsed with `registry`, its feature rows and the results of the checks that
/// read only the definition. Set it as the [`BotScan::definition`](crate::BotScan::definition)
/// and [`build_inventory`] uses it instead of parsing; the same value can be kept and given
/// again for as long as the definition does not change.
pub fn agent_definition(
    registry: &botcomponent_schema::ComponentTypeRegistry,
    scan: &BotScan,
    settings: &InventorySettings,
) -> AgentDefinition {
    let mut bot = BotRow::new(scan.bot.bot_id.clone());
    bot.name = scan.bot.name.clone();
    bot.schema_name = scan.bot.schema_name.clone();
    bot.configuration = scan.bot.configuration.clone();
    bot.template = scan.bot.template.clone();
    let features = agent_features(registry, &bot, &scan.components);
    let rows = feature_rows(
        (&scan.bot.bot_id, ""),
        &features,
        scan,
        ("", OffsetDateTime::UNIX_EPOCH),
    );
    let facts = AgentFacts {
        agent_id: &scan.bot.bot_id,
        bot: Some(&scan.bot),
        inventory: None,
        features: Some(&features),
        components: &scan.components,
        components_complete: scan.components_read.is_complete(),
        identity: None,
        usage: None,
        coverage: &[],
        scanned_at: OffsetDateTime::UNIX_EPOCH,
        definition_checks: None,
    };
    let checks = evaluate(&facts, "", &settings.posture)
        .results
        .into_iter()
        .filter(|r| r.check.reads_only_definition())
        .collect();
    AgentDefinition::new(rows, checks)
}

/// Maps what a scan read to the inventory's rows, coverage records and postures.
///
/// Deterministic: rows are ordered by their keys (environment, then agent, then
/// source), so the same input always gives the same rows in the same order.
pub fn build_inventory(input: &ScanInput, settings: &InventorySettings) -> Inventory {
    let rec = reconcile(input, &settings.reconcile);
    let mut rows = InventoryRows::default();
    let mut rebuilt_agents = 0;
    let mut postures = Vec::new();
    let mut agent_counts: BTreeMap<String, i32> = BTreeMap::new();
    // Observations by (agent, environment); the first one given for an agent counts.
    let mut identities: BTreeMap<(String, String), &IdentityObservation> = BTreeMap::new();
    for i in &input.identities {
        identities
            .entry((norm(&i.agent_id), norm(&i.environment_id)))
            .or_insert(i);
    }
    let mut usages: BTreeMap<(String, String), &UsageInput> = BTreeMap::new();
    for u in &input.usage {
        usages
            .entry((norm(&u.agent_id), norm(&u.environment_id)))
            .or_insert(u);
    }

    for agent in &rec.agents {
        *agent_counts.entry(norm(&agent.environment_id)).or_default() += 1;
        let key = (norm(&agent.agent_id), norm(&agent.environment_id));
        let identity = identities.get(&key).copied();
        let usage = usages.get(&key).copied();
        let owner = identity.and_then(|i| i.owner.as_ref());
        let arow = agent_row(
            agent,
            input,
            settings,
            owner.and_then(|o| o.upn.clone()),
            owner.and_then(|o| o.object_id.clone()),
        );
        // A definition made ahead (or kept from an earlier scan) is used as it is; others are
        // parsed here. Its evidence names the bot id, so it must be the agent's id.
        let reuse = agent
            .dataverse
            .and_then(|(_, scan)| {
                scan.definition
                    .as_ref()
                    .filter(|_| norm(&scan.bot.bot_id) == norm(&agent.agent_id))
            })
            .filter(|r| definition_checks_reusable(&r.checks, &settings.posture));
        let features = match reuse {
            Some(_) => None,
            None => agent.dataverse.map(|(_, scan)| features_of(input, scan)),
        };
        let mut unreadable_payloads = None;
        if let (Some(f), Some((_, scan))) = (&features, agent.dataverse) {
            rebuilt_agents += 1;
            rows.features.extend(feature_rows(
                (&agent.agent_id, &agent.environment_id),
                f,
                scan,
                (&input.run_id, input.scanned_at),
            ));
            unreadable_payloads = Some(
                f.features
                    .iter()
                    .filter(|f| matches!(f.detail, FeatureDetail::Unreadable { .. }))
                    .count(),
            );
        }
        if let Some(r) = reuse {
            unreadable_payloads = Some(
                r.features
                    .iter()
                    .filter(|row| is_unreadable_detail(row.detection_detail.as_deref()))
                    .count(),
            );
            rows.features
                .extend(reused_feature_rows(agent, &r.features, input));
        }
        rows.auth_shares
            .push(auth_share_row(agent, input, identity));
        if let Some(u) = usage_row(agent, input, settings, usage) {
            rows.usage.push(u);
        }
        let scan = agent.dataverse.map(|(_, s)| s);
        let facts = AgentFacts {
            agent_id: &agent.agent_id,
            bot: scan.map(|s| &s.bot),
            inventory: agent.inventory,
            features: features.as_ref(),
            components: scan.map(|s| s.components.as_slice()).unwrap_or(&[]),
            components_complete: scan.is_some_and(|s| s.components_read.is_complete()),
            identity,
            usage,
            coverage: &agent.coverage,
            scanned_at: input.scanned_at,
            definition_checks: reuse.map(|r| r.checks.as_slice()),
        };
        let posture = evaluate(&facts, &agent.environment_id, &settings.posture);
        let (level, reasons) = completeness(agent, &arow, unreadable_payloads);
        let mut c = ComplianceStateRow::new(agent.agent_id.clone(), agent.environment_id.clone());
        c.name = Some(fit(
            &format!("Compliance: {}", agent_display_name(agent)),
            "fsi_name",
            &schema::COMPLIANCE_STATE,
        ));
        c.risk_level = Some(posture.risk);
        c.scan_completeness = Some(level);
        c.scan_completeness_reason = Some(fit(
            &reasons.join("; "),
            "fsi_scancompletenessreason",
            &schema::COMPLIANCE_STATE,
        ));
        let (count, violations) = violations_json(&posture);
        c.violation_count = Some(count);
        c.violations_json = Some(violations);
        c.last_checked_utc = Some(whole_seconds(input.scanned_at));
        c.run_id = Some(input.run_id.clone());
        rows.compliance.push(c);
        rows.agents.push(arow);
        postures.push(posture);
    }

    for env in &rec.environments {
        let t = &schema::ENVIRONMENT;
        let mut row = EnvironmentRow::new(env.environment_id.clone());
        let display = env
            .info
            .and_then(|i| non_empty(i.display_name.as_deref()))
            .unwrap_or_else(|| env.environment_id.clone());
        row.name = Some(fit(&display, "fsi_name", t));
        row.environment_name = Some(fit(&display, "fsi_environmentname", t));
        if let Some(info) = env.info {
            row.environment_url = info
                .instance_api_url
                .as_deref()
                .map(|u| fit(u, "fsi_environmenturl", t));
            row.region = non_empty(info.location.as_deref());
            row.environment_type = non_empty(info.sku.as_deref());
            row.is_managed = info.is_managed;
        }
        row.zone = Some(
            settings
                .zones
                .get(&norm(&env.environment_id))
                .copied()
                .unwrap_or(Zone::Unclassified),
        );
        row.agent_count = Some(
            agent_counts
                .get(&norm(&env.environment_id))
                .copied()
                .unwrap_or(0),
        );
        row.delta_link = match env.scan {
            Some(ScanOutcome::Scanned(s)) => s.delta_link.clone(),
            _ => input
                .previous_delta_links
                .iter()
                .find(|(k, _)| norm(k) == norm(&env.environment_id))
                .map(|(_, v)| v.clone()),
        };
        row.last_scanned_at = Some(whole_seconds(input.scanned_at));
        row.run_id = Some(input.run_id.clone());
        rows.environments.push(row);
    }

    let known: BTreeSet<(String, String)> = rec
        .agents
        .iter()
        .map(|a| (norm(&a.agent_id), norm(&a.environment_id)))
        .collect();
    let mut work_iq: Vec<&crate::input::WorkIqObservation> = input.work_iq.iter().collect();
    work_iq.sort_by(|a, b| {
        (norm(&a.environment_id), norm(&a.agent_id))
            .cmp(&(norm(&b.environment_id), norm(&b.agent_id)))
    });
    for w in work_iq {
        let mut row = WorkIqStateRow::new(w.agent_id.clone(), w.environment_id.clone());
        let name = if known.contains(&(norm(&w.agent_id), norm(&w.environment_id))) {
            format!("Work IQ: {}", w.agent_id)
        } else {
            format!("Work IQ (agent not in this scan): {}", w.agent_id)
        };
        row.name = Some(fit(&name, "fsi_name", &schema::WORK_IQ_STATE));
        row.configured = Some(w.configured);
        row.configured_tier = Some(w.tier);
        row.observed_status = Some(w.observed);
        row.per_user_license_required =
            Some(w.tier == crate::options::WorkIqTier::McpInCopilotStudio);
        row.config_source_component_type = w.config_source_component_type;
        row.last_observed_utc = w.last_observed.map(whole_seconds);
        row.last_scanned_at = Some(whole_seconds(input.scanned_at));
        row.run_id = Some(input.run_id.clone());
        rows.work_iq.push(row);
    }
    let mut billing: Vec<&crate::input::BillingPolicy> = input.billing.iter().collect();
    billing.sort_by(|a, b| (&a.policy_id, &a.agent_id).cmp(&(&b.policy_id, &b.agent_id)));
    for b in billing {
        let mut row = BillingEntitlementRow::new();
        row.name = Some(fit(
            &format!(
                "Billing: {}{}",
                b.policy_id,
                b.agent_id
                    .as_deref()
                    .map(|a| format!(" / {a}"))
                    .unwrap_or_default()
            ),
            "fsi_name",
            &schema::BILLING_ENTITLEMENT,
        ));
        row.agent_id = b.agent_id.clone();
        row.policy_id = Some(b.policy_id.clone());
        row.policy_type = Some(b.policy_type);
        row.user_scope_group_id = b.user_scope_group_id.clone();
        row.spend_scope = Some(b.spend_scope);
        row.budget_state = b.budget_state.clone();
        // Fail closed: zero-rating is never assumed.
        row.zero_rating_eligible = Some(false);
        row.entitlement_basis = b
            .entitlement_basis
            .as_deref()
            .map(|e| fit(e, "fsi_entitlementbasis", &schema::BILLING_ENTITLEMENT));
        row.last_evaluated_at = Some(whole_seconds(input.scanned_at));
        row.run_id = Some(input.run_id.clone());
        rows.billing.push(row);
    }

    let scanned_environments = rec
        .environments
        .iter()
        .filter(|e| matches!(e.scan, Some(ScanOutcome::Scanned(_))))
        .map(|e| e.environment_id.clone())
        .collect();
    Inventory {
        rows,
        coverage: rec.coverage,
        postures,
        scanned_environments,
        inventory_read: input.tenant_agents.is_some(),
        rebuilt_agents,
    }
}

/// The discovery sources an agent row can carry, for documentation and tests.
pub const DISCOVERY_SOURCES: [DiscoverySource; 4] = [
    DiscoverySource::ResourceGraph,
    DiscoverySource::DataverseScan,
    DiscoverySource::AdminCenter,
    DiscoverySource::Reconciled,
];

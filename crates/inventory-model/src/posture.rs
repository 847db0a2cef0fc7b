//! Posture checks: what a governance scan looks for in an agent, each with an id,
//! a severity and evidence (the component and the path in its YAML, or the column),
//! and the rule that combines findings into a risk level.
//!
//! A check whose data was not observed is [`CheckStatus::NotEvaluated`], never a
//! pass: an agent the scan could not read is not clean.
//!
//! | id | severity | found when |
//! |---|---|---|
//! | `shared-with-everyone` | High | `bot.accesscontrolpolicy` is 0 (any user) or 3 (any, multi-tenant) |
//! | `no-end-user-auth` | High | `bot.authenticationmode` is 1 (none), or the inventory's `authentication` is "None" |
//! | `maker-credentials` | High | a tool or connector action has a connection reference whose `connectionProperties.mode` is not `Invoker` |
//! | `http-request` | Medium | a topic or child agent has an `HttpRequestAction` to a host not in [`PostureSettings::allowed_http_hosts`] |
//! | `insecure-endpoint` | High | an `http://` URL, or a port other than 443, in an HTTP action or a knowledge site |
//! | `email-exfiltration` | High | a tool sends mail through the Office 365 Outlook connector while generative orchestration is on |
//! | `external-tools` | Medium | MCP servers, external agents or connected agents not in [`PostureSettings::allowed_mcp_hosts`] |
//! | `hard-coded-credentials` | Critical | a secret-looking string in component data, instructions or `bot.configuration` |
//! | `public-knowledge` | Medium | public web or Bing knowledge sources, GPT web browsing, model knowledge, public sites in generative answers |
//! | `orchestration-without-instructions` | Medium | generative orchestration on and no instructions |
//! | `orphaned-owner` | High | the owner's account is disabled or missing |
//! | `dormant` | Low | published, unchanged and unused for [`PostureSettings::dormancy_days`] |
//! | `autonomous-trigger` | Medium | an external trigger (component type 17) |
//! | `coverage-gap` | Medium | the agent has a coverage record (not seen by every source, or partly unreadable) |
//! | `over-privileged-identity` | High | the agent identity holds permissions beyond its tools' needs |
//! | `identity-hygiene` | Medium | the agent identity's app registration has an expired credential, one expiring within 30 days, a secret valid for more than a year, or no owner |

use std::collections::BTreeSet;

use botcomponent_schema::{
    ActionDetail, AgentFeatures, BotConfiguration, ComponentContent, ComponentRow, ConnectionMode,
    FeatureDetail, ParsedComponent, Tool, ToolType, TopicAction,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::input::{BotRecord, IdentityObservation, OwnerState, TenantAgent, UsageInput};
use crate::options::RiskLevel;
use crate::reconcile::CoverageRecord;
use crate::secrets;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// A posture check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
#[non_exhaustive]
pub enum CheckId {
    /// Shared with everyone or any tenant.
    SharedWithEveryone,
    /// No end-user authentication.
    NoEndUserAuth,
    /// Tools run with the maker's credentials.
    MakerCredentials,
    /// Raw HTTP requests.
    HttpRequest,
    /// Plain-http or non-443 endpoints.
    InsecureEndpoint,
    /// E-mail sending with generative orchestration.
    EmailExfiltration,
    /// MCP servers, external and connected agents.
    ExternalTools,
    /// Secret-looking strings.
    HardCodedCredentials,
    /// Public web or model knowledge.
    PublicKnowledge,
    /// Generative orchestration without instructions.
    OrchestrationWithoutInstructions,
    /// Owner disabled or gone.
    OrphanedOwner,
    /// Published but unchanged and unused.
    Dormant,
    /// Started by an external event.
    AutonomousTrigger,
    /// Not observed by every source.
    CoverageGap,
    /// Identity holds more than it needs.
    OverPrivilegedIdentity,
    /// The identity's app registration has credential problems or no owner.
    IdentityHygiene,
}

impl From<CheckId> for &'static str {
    fn from(value: CheckId) -> Self {
        value.id()
    }
}

impl TryFrom<String> for CheckId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        CheckId::from_id(&value).ok_or_else(|| format!("unknown posture check `{value}`"))
    }
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 16] = [
        CheckId::SharedWithEveryone,
        CheckId::NoEndUserAuth,
        CheckId::MakerCredentials,
        CheckId::HttpRequest,
        CheckId::InsecureEndpoint,
        CheckId::EmailExfiltration,
        CheckId::ExternalTools,
        CheckId::HardCodedCredentials,
        CheckId::PublicKnowledge,
        CheckId::OrchestrationWithoutInstructions,
        CheckId::OrphanedOwner,
        CheckId::Dormant,
        CheckId::AutonomousTrigger,
        CheckId::CoverageGap,
        CheckId::OverPrivilegedIdentity,
        CheckId::IdentityHygiene,
    ];

    /// The stable id, e.g. `maker-credentials`.
    pub fn id(self) -> &'static str {
        match self {
            CheckId::SharedWithEveryone => "shared-with-everyone",
            CheckId::NoEndUserAuth => "no-end-user-auth",
            CheckId::MakerCredentials => "maker-credentials",
            CheckId::HttpRequest => "http-request",
            CheckId::InsecureEndpoint => "insecure-endpoint",
            CheckId::EmailExfiltration => "email-exfiltration",
            CheckId::ExternalTools => "external-tools",
            CheckId::HardCodedCredentials => "hard-coded-credentials",
            CheckId::PublicKnowledge => "public-knowledge",
            CheckId::OrchestrationWithoutInstructions => "orchestration-without-instructions",
            CheckId::OrphanedOwner => "orphaned-owner",
            CheckId::Dormant => "dormant",
            CheckId::AutonomousTrigger => "autonomous-trigger",
            CheckId::CoverageGap => "coverage-gap",
            CheckId::OverPrivilegedIdentity => "over-privileged-identity",
            CheckId::IdentityHygiene => "identity-hygiene",
        }
    }

    /// The check with this id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Whether the check reads only the agent's Dataverse definition (its `bots` row,
    /// components and their many-to-many targets): its result then holds as long as that
    /// definition is unchanged, and a later scan may reuse it instead of parsing again.
    pub fn reads_only_definition(self) -> bool {
        matches!(
            self,
            CheckId::MakerCredentials
                | CheckId::HttpRequest
                | CheckId::InsecureEndpoint
                | CheckId::EmailExfiltration
                | CheckId::ExternalTools
                | CheckId::HardCodedCredentials
                | CheckId::PublicKnowledge
                | CheckId::OrchestrationWithoutInstructions
                | CheckId::AutonomousTrigger
        )
    }

    /// The check's severity.
    pub fn severity(self) -> Severity {
        match self {
            CheckId::HardCodedCredentials => Severity::Critical,
            CheckId::SharedWithEveryone
            | CheckId::NoEndUserAuth
            | CheckId::MakerCredentials
            | CheckId::InsecureEndpoint
            | CheckId::EmailExfiltration
            | CheckId::OrphanedOwner
            | CheckId::OverPrivilegedIdentity => Severity::High,
            CheckId::HttpRequest
            | CheckId::ExternalTools
            | CheckId::PublicKnowledge
            | CheckId::OrchestrationWithoutInstructions
            | CheckId::AutonomousTrigger
            | CheckId::CoverageGap
            | CheckId::IdentityHygiene => Severity::Medium,
            CheckId::Dormant => Severity::Low,
        }
    }

    /// A one-line title.
    pub fn title(self) -> &'static str {
        match self {
            CheckId::SharedWithEveryone => "Agent is shared with everyone",
            CheckId::NoEndUserAuth => "Agent does not authenticate its users",
            CheckId::MakerCredentials => "Tools act with the maker's credentials",
            CheckId::HttpRequest => "Agent sends raw HTTP requests",
            CheckId::InsecureEndpoint => "Agent calls a plain-http or non-443 endpoint",
            CheckId::EmailExfiltration => "Agent can send e-mail on its own decision",
            CheckId::ExternalTools => "Agent calls MCP servers or other agents",
            CheckId::HardCodedCredentials => "Credentials are written into the agent",
            CheckId::PublicKnowledge => "Agent answers from the public web or model knowledge",
            CheckId::OrchestrationWithoutInstructions => {
                "Generative orchestration without instructions"
            }
            CheckId::OrphanedOwner => "Agent owner is disabled or gone",
            CheckId::Dormant => "Published agent is unchanged and unused",
            CheckId::AutonomousTrigger => "Agent is started by external events",
            CheckId::CoverageGap => "Agent was not fully observed",
            CheckId::OverPrivilegedIdentity => "Agent identity holds excess permissions",
            CheckId::IdentityHygiene => "Agent identity's credentials or ownership need attention",
        }
    }
}

/// Where a finding was seen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Evidence {
    /// The record: a `botcomponentid`, a `botid`, or the agent id.
    pub source_id: String,
    /// A JSON Pointer into the component's YAML (or the configuration's JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The column, e.g. `bot.accesscontrolpolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The value seen (never a secret; at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Evidence {
    fn at(source_id: &str, path: impl Into<String>, value: Option<String>) -> Self {
        Evidence {
            source_id: source_id.to_owned(),
            path: Some(path.into()),
            column: None,
            value: value.map(|v| bounded(&v, 200)),
        }
    }

    fn column(source_id: &str, column: &str, value: impl Into<String>) -> Self {
        Evidence {
            source_id: source_id.to_owned(),
            path: None,
            column: Some(column.to_owned()),
            value: Some(bounded(&value.into(), 200)),
        }
    }
}

pub(crate) fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One entry of `fsi_violationsjson`: a check that found something, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Violation {
    /// The check's id, e.g. `maker-credentials` (kept as text: rows written by a
    /// newer version may name checks this one does not know).
    pub check: String,
    /// Its severity.
    pub severity: Severity,
    /// Its title.
    pub title: String,
    /// Where it was seen (at most 20 entries when the column would overflow).
    pub evidence: Vec<Evidence>,
    /// How much evidence there was, when `evidence` was cut to fit the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_total: Option<usize>,
}

impl AgentPosture {
    /// The violations: one per check that found something, in check order.
    pub fn violations(&self) -> Vec<Violation> {
        self.results
            .iter()
            .filter_map(|r| match &r.status {
                CheckStatus::Found { evidence } => Some(Violation {
                    check: r.check.id().to_owned(),
                    severity: r.severity,
                    title: r.check.title().to_owned(),
                    evidence: evidence.clone(),
                    evidence_total: None,
                }),
                _ => None,
            })
            .collect()
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStatus {
    /// Found, with where.
    Found {
        /// Where it was seen.
        evidence: Vec<Evidence>,
    },
    /// Looked for in complete data and not found.
    NotFound,
    /// The data it needs was not observed.
    NotEvaluated {
        /// What was missing.
        reason: String,
    },
    /// Disabled by settings.
    Disabled,
}

/// One check's result for one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckResult {
    /// The check.
    pub check: CheckId,
    /// Its severity.
    pub severity: Severity,
    /// The outcome.
    #[serde(flatten)]
    pub status: CheckStatus,
}

impl CheckResult {
    /// Whether the check found something.
    pub fn is_found(&self) -> bool {
        matches!(self.status, CheckStatus::Found { .. })
    }
}

/// Settings of the posture checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostureSettings {
    /// Checks not to run (reported as [`CheckStatus::Disabled`]).
    pub disabled: BTreeSet<CheckId>,
    /// Hosts an `HttpRequestAction` may call without a finding (exact host names,
    /// case-insensitive; `*.example.com` allows sub-domains).
    pub allowed_http_hosts: BTreeSet<String>,
    /// MCP servers and agents a tool may call without a finding. The server's host
    /// lives in its connector, not in the component, so entries match the tool's
    /// connector API name (`shared_...`), the called agent's schema name, or a host
    /// in the tool's URL when it has one.
    pub allowed_mcp_hosts: BTreeSet<String>,
    /// Days without change and use after which a published agent is dormant.
    pub dormancy_days: u32,
}

impl Default for PostureSettings {
    fn default() -> Self {
        PostureSettings {
            disabled: BTreeSet::new(),
            allowed_http_hosts: BTreeSet::new(),
            allowed_mcp_hosts: BTreeSet::new(),
            dormancy_days: 180,
        }
    }
}

fn host_allowed(allowed: &BTreeSet<String>, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => a == host,
        }
    })
}

/// (scheme, host, explicit port) of a literal URL; `None` for Power Fx or other text.
fn parse_url(url: &str) -> Option<(String, String, Option<u16>)> {
    let url = url.trim().trim_matches('"');
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().ok()),
        _ => (authority, None),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), port))
}

fn insecure(url: &str) -> bool {
    match parse_url(url) {
        Some((scheme, _, port)) => scheme == "http" || port.is_some_and(|p| p != 443),
        None => false,
    }
}

/// What the checks of one agent look at.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AgentFacts<'a> {
    /// The bot id.
    pub agent_id: &'a str,
    /// The `bots` row, when Dataverse was read.
    pub bot: Option<&'a BotRecord>,
    /// The inventory row, when the inventory has the agent.
    pub inventory: Option<&'a TenantAgent>,
    /// The agent's features, when Dataverse was read.
    pub features: Option<&'a AgentFeatures>,
    /// The component rows (for their raw YAML).
    pub components: &'a [ComponentRow],
    /// Whether every component was read.
    pub components_complete: bool,
    /// Identity facts, when read.
    pub identity: Option<&'a IdentityObservation>,
    /// Usage, when read.
    pub usage: Option<&'a UsageInput>,
    /// The agent's coverage records.
    pub coverage: &'a [CoverageRecord],
    /// When the scan ran.
    pub scanned_at: OffsetDateTime,
    /// Results of the checks that read only the definition
    /// ([`CheckId::reads_only_definition`]), from an earlier scan of the same, unchanged
    /// definition: used instead of walking `features` (which is then `None`).
    pub definition_checks: Option<&'a [CheckResult]>,
}

/// Whether `checks` (from an earlier scan) hold a result for every check that reads only
/// the definition and is enabled in `settings`, so that they can stand in for parsing.
pub fn definition_checks_reusable(checks: &[CheckResult], settings: &PostureSettings) -> bool {
    CheckId::ALL
        .into_iter()
        .filter(|c| c.reads_only_definition() && !settings.disabled.contains(c))
        .all(|c| {
            checks
                .iter()
                .any(|r| r.check == c && r.status != CheckStatus::Disabled)
        })
}

/// The posture of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AgentPosture {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// One result per check, in [`CheckId::ALL`] order.
    pub results: Vec<CheckResult>,
    /// The risk level from the results (see [`risk_level`]).
    pub risk: RiskLevel,
}

impl AgentPosture {
    /// The result of one check.
    pub fn result(&self, check: CheckId) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.check == check)
    }
}

/// Combines results into a risk level:
///
/// - the highest severity found (Low, Medium, High, Critical);
/// - raised to Critical when anonymous reach meets a dangerous capability: shared
///   with everyone *and* no authentication, or either of them *and* maker
///   credentials or e-mail sending;
/// - when some enabled check was not evaluated, the level is a lower bound, and an
///   agent with no finding above Low is `Unknown` rather than `Low`.
pub fn risk_level(results: &[CheckResult]) -> RiskLevel {
    let found = |c: CheckId| results.iter().any(|r| r.check == c && r.is_found());
    let highest = results
        .iter()
        .filter(|r| r.is_found())
        .map(|r| r.severity)
        .max();
    let open = found(CheckId::SharedWithEveryone) || found(CheckId::NoEndUserAuth);
    let combined = (found(CheckId::SharedWithEveryone) && found(CheckId::NoEndUserAuth))
        || (open && (found(CheckId::MakerCredentials) || found(CheckId::EmailExfiltration)));
    let unevaluated = results
        .iter()
        .any(|r| matches!(r.status, CheckStatus::NotEvaluated { .. }));
    match (combined, highest) {
        (true, _) | (_, Some(Severity::Critical)) => RiskLevel::Critical,
        (_, Some(Severity::High)) => RiskLevel::High,
        (_, Some(Severity::Medium)) => RiskLevel::Medium,
        _ if unevaluated => RiskLevel::Unknown,
        _ => RiskLevel::Low,
    }
}

/// A tool or action that uses a connection, with where.
struct Connection<'a> {
    source_id: &'a str,
    path: String,
    reference: &'a str,
    mode: Option<&'a ConnectionMode>,
    connector: Option<&'a str>,
    operation: Option<&'a str>,
}

struct Walk<'a> {
    components: Vec<(&'a str, &'a ParsedComponent)>,
    configuration: Option<(&'a str, &'a BotConfiguration)>,
    configuration_unreadable: bool,
}

fn walk(features: &AgentFeatures) -> Walk<'_> {
    let mut w = Walk {
        components: Vec::new(),
        configuration: None,
        configuration_unreadable: false,
    };
    for f in &features.features {
        match &f.detail {
            FeatureDetail::Component(p) => w.components.push((f.source_id.as_str(), p)),
            FeatureDetail::Configuration(c) => w.configuration = Some((f.source_id.as_str(), c)),
            FeatureDetail::Unreadable { .. } if f.component_type.is_none() => {
                w.configuration_unreadable = true;
            }
            _ => {}
        }
    }
    w
}

/// Every action node of a component (topics and child agents), with its path.
fn actions(parsed: &ParsedComponent) -> &[TopicAction] {
    match &parsed.content {
        ComponentContent::Topic(t) => &t.actions,
        ComponentContent::Tool(tool) => &tool.actions,
        _ => &[],
    }
}

fn tool_of(parsed: &ParsedComponent) -> Option<&Tool> {
    match &parsed.content {
        ComponentContent::Tool(t) => Some(t),
        _ => None,
    }
}

fn connections<'a>(w: &Walk<'a>) -> Vec<Connection<'a>> {
    let mut out = Vec::new();
    for (id, parsed) in &w.components {
        if let Some(tool) = tool_of(parsed)
            && let Some(reference) = tool.connection_reference.as_deref()
        {
            let base = if tool.action_kind.is_some() {
                "/action"
            } else {
                ""
            };
            out.push(Connection {
                source_id: id,
                path: format!("{base}/connectionProperties/mode"),
                reference,
                mode: tool.connection_mode.as_ref(),
                connector: tool.connector.as_deref(),
                operation: tool.operation_id.as_deref(),
            });
        }
        for action in actions(parsed) {
            if let Some(ActionDetail::InvokeConnector {
                connection_reference: Some(reference),
                connection_mode,
                operation_id,
            }) = &action.detail
            {
                out.push(Connection {
                    source_id: id,
                    path: format!("{}/connectionProperties/mode", action.path),
                    reference,
                    mode: connection_mode.as_ref(),
                    connector: None,
                    operation: operation_id.as_deref(),
                });
            }
        }
    }
    out
}

fn found_or(evidence: Vec<Evidence>, complete: bool, missing: &str) -> CheckStatus {
    if !evidence.is_empty() {
        let mut evidence = evidence;
        evidence.sort();
        evidence.dedup();
        CheckStatus::Found { evidence }
    } else if complete {
        CheckStatus::NotFound
    } else {
        CheckStatus::NotEvaluated {
            reason: missing.to_owned(),
        }
    }
}

const NO_DATAVERSE: &str = "the agent's Dataverse definition was not read";
const PARTIAL: &str = "some of the agent's components were not read";

/// Runs every check on one agent.
pub fn evaluate(
    facts: &AgentFacts<'_>,
    environment_id: &str,
    settings: &PostureSettings,
) -> AgentPosture {
    let w = facts.features.map(walk);
    let components_known = w.is_some() && facts.components_complete;
    let complete_reason = if w.is_none() { NO_DATAVERSE } else { PARTIAL };
    let mut results = Vec::with_capacity(CheckId::ALL.len());
    for check in CheckId::ALL {
        let reused = facts
            .definition_checks
            .filter(|_| check.reads_only_definition())
            .and_then(|r| r.iter().find(|r| r.check == check));
        let status = if settings.disabled.contains(&check) {
            CheckStatus::Disabled
        } else if let Some(r) = reused {
            r.status.clone()
        } else {
            run(
                check,
                facts,
                w.as_ref(),
                components_known,
                complete_reason,
                settings,
            )
        };
        results.push(CheckResult {
            check,
            severity: check.severity(),
            status,
        });
    }
    let risk = risk_level(&results);
    AgentPosture {
        agent_id: facts.agent_id.to_owned(),
        environment_id: environment_id.to_owned(),
        results,
        risk,
    }
}

fn run(
    check: CheckId,
    facts: &AgentFacts<'_>,
    w: Option<&Walk<'_>>,
    components_known: bool,
    missing: &str,
    settings: &PostureSettings,
) -> CheckStatus {
    let agent = facts.agent_id;
    match check {
        CheckId::SharedWithEveryone => match facts.bot.and_then(|b| b.access_control_policy) {
            Some(p @ (0 | 3)) => CheckStatus::Found {
                evidence: vec![Evidence::column(
                    agent,
                    "bot.accesscontrolpolicy",
                    format!(
                        "{p} ({})",
                        if p == 0 { "Any" } else { "Any (multi-tenant)" }
                    ),
                )],
            },
            Some(_) => CheckStatus::NotFound,
            None => CheckStatus::NotEvaluated {
                reason: "bot.accesscontrolpolicy was not read".to_owned(),
            },
        },
        CheckId::NoEndUserAuth => {
            let dataverse = facts.bot.and_then(|b| b.authentication_mode);
            let inventory = facts.inventory.and_then(|i| i.authentication.as_deref());
            match (dataverse, inventory) {
                (Some(1), _) => CheckStatus::Found {
                    evidence: vec![Evidence::column(
                        agent,
                        "bot.authenticationmode",
                        "1 (None)",
                    )],
                },
                (None, Some(a)) if a.eq_ignore_ascii_case("none") => CheckStatus::Found {
                    evidence: vec![Evidence::column(agent, "properties.authentication", a)],
                },
                (Some(_), _) | (None, Some(_)) => CheckStatus::NotFound,
                (None, None) => CheckStatus::NotEvaluated {
                    reason:
                        "neither bot.authenticationmode nor the inventory's authentication was read"
                            .to_owned(),
                },
            }
        }
        CheckId::MakerCredentials => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let evidence = connections(w)
                .into_iter()
                .filter(|c| !matches!(c.mode, Some(ConnectionMode::Invoker)))
                .map(|c| {
                    let mode = match c.mode {
                        Some(m) => String::from(m.clone()),
                        None => "absent (not Invoker)".to_owned(),
                    };
                    Evidence::at(
                        c.source_id,
                        c.path,
                        Some(format!("{mode}; connection reference {}", c.reference)),
                    )
                })
                .collect();
            found_or(evidence, components_known, missing)
        }
        CheckId::HttpRequest | CheckId::InsecureEndpoint => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let mut evidence = Vec::new();
            for (id, parsed) in &w.components {
                for action in actions(parsed) {
                    if let Some(ActionDetail::HttpRequest { url, .. }) = &action.detail {
                        let url_text = url.clone().unwrap_or_default();
                        let host_ok = parse_url(&url_text).is_some_and(|(_, host, _)| {
                            host_allowed(&settings.allowed_http_hosts, &host)
                        });
                        let hit = match check {
                            CheckId::HttpRequest => !host_ok,
                            _ => insecure(&url_text),
                        };
                        if hit {
                            let path = if check == CheckId::HttpRequest {
                                action.path.clone()
                            } else {
                                format!("{}/url", action.path)
                            };
                            evidence.push(Evidence::at(id, path, url.clone()));
                        }
                    }
                    if check == CheckId::InsecureEndpoint
                        && let Some(ActionDetail::GenerativeAnswers(g)) = &action.detail
                    {
                        for site in g.public_sites.iter().chain(&g.sharepoint_sites) {
                            if insecure(site) {
                                evidence.push(Evidence::at(
                                    id,
                                    action.path.clone(),
                                    Some(site.clone()),
                                ));
                            }
                        }
                    }
                }
                if check == CheckId::InsecureEndpoint
                    && let ComponentContent::KnowledgeSource(k) = &parsed.content
                    && let Some(site) = k.site.as_deref().filter(|s| insecure(s))
                {
                    evidence.push(Evidence::at(id, "/source/site", Some(site.to_owned())));
                }
            }
            found_or(evidence, components_known, missing)
        }
        CheckId::EmailExfiltration => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let sends: Vec<Evidence> = connections(w)
                .into_iter()
                .filter(|c| {
                    let outlook = c
                        .connector
                        .is_some_and(|k| k.eq_ignore_ascii_case("shared_office365"))
                        || c.reference
                            .to_ascii_lowercase()
                            .contains("shared_office365");
                    let op = c.operation.unwrap_or("").to_ascii_lowercase();
                    outlook
                        && (op.contains("send") || op.contains("forward") || op.contains("reply"))
                })
                .map(|c| {
                    let path = c
                        .path
                        .trim_end_matches("/connectionProperties/mode")
                        .to_owned();
                    Evidence::at(
                        c.source_id,
                        format!("{path}/operationId"),
                        c.operation.map(str::to_owned),
                    )
                })
                .collect();
            let generative = w.configuration.and_then(|(_, c)| c.generative_actions);
            match generative {
                Some(true) if !sends.is_empty() => {
                    let mut evidence = sends;
                    if let Some((bot, _)) = w.configuration {
                        evidence.push(Evidence::at(
                            bot,
                            "/settings/GenerativeActionsEnabled",
                            Some("true".to_owned()),
                        ));
                    }
                    found_or(evidence, true, missing)
                }
                Some(false) => CheckStatus::NotFound,
                _ if sends.is_empty() && components_known => CheckStatus::NotFound,
                Some(true) => found_or(Vec::new(), components_known, missing),
                None => CheckStatus::NotEvaluated {
                    reason: "bot.configuration (generative orchestration) was not read".to_owned(),
                },
            }
        }
        CheckId::ExternalTools => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let mut evidence = Vec::new();
            for (id, parsed) in &w.components {
                if let Some(tool) = tool_of(parsed) {
                    let external = matches!(
                        tool.tool_kind,
                        ToolType::McpServer | ToolType::ExternalAgent | ToolType::ConnectedAgent
                    );
                    let allowed = [tool.connector.as_deref(), tool.agent_schema_name.as_deref()]
                        .into_iter()
                        .flatten()
                        .any(|name| host_allowed(&settings.allowed_mcp_hosts, name));
                    if external && !allowed {
                        let what = format!(
                            "{:?}: {}",
                            tool.tool_kind,
                            tool.connector
                                .as_deref()
                                .or(tool.agent_schema_name.as_deref())
                                .or(tool.display_name.as_deref())
                                .unwrap_or("")
                        );
                        let path = if tool.action_kind.is_some() {
                            "/action/kind"
                        } else {
                            "/kind"
                        };
                        evidence.push(Evidence::at(id, path, Some(what)));
                    }
                }
                for action in actions(parsed) {
                    if let Some(ActionDetail::InvokeMcpTool {
                        server_schema_name,
                        tool_name,
                    }) = &action.detail
                    {
                        let allowed = server_schema_name
                            .as_deref()
                            .is_some_and(|s| host_allowed(&settings.allowed_mcp_hosts, s));
                        if !allowed {
                            let value = format!(
                                "MCP tool {} on {}",
                                tool_name.as_deref().unwrap_or("?"),
                                server_schema_name.as_deref().unwrap_or("?")
                            );
                            evidence.push(Evidence::at(id, action.path.clone(), Some(value)));
                        }
                    }
                }
            }
            found_or(evidence, components_known, missing)
        }
        CheckId::HardCodedCredentials => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let mut evidence = Vec::new();
            for row in facts.components {
                let (found, more) = secrets::scan_yaml(row.data.as_deref().unwrap_or(""));
                for (line, path, kind) in found {
                    evidence.push(Evidence::at(
                        &row.component_id,
                        path,
                        Some(format!("{} on line {line}", kind.label())),
                    ));
                }
                if more > 0 {
                    evidence.push(Evidence::at(
                        &row.component_id,
                        "",
                        Some(format!("{more} more secret-looking strings")),
                    ));
                }
            }
            if let Some(text) = facts.bot.and_then(|b| b.configuration.as_deref())
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(text)
            {
                let mut found = Vec::new();
                secrets::scan_json(&json, "", &mut found);
                for (path, kind) in found {
                    evidence.push(Evidence::at(
                        agent,
                        path,
                        Some(format!("{} in bot.configuration", kind.label())),
                    ));
                }
            }
            if let Some(features) = facts.features
                && let Some(instructions) = &features.instructions
                && let Some(kind) = instructions.value.lines().find_map(secrets::scan_line)
            {
                evidence.push(Evidence::at(
                    &instructions.source_id,
                    "/instructions",
                    Some(format!("{} in the instructions", kind.label())),
                ));
            }
            found_or(
                evidence,
                components_known && !w.configuration_unreadable,
                missing,
            )
        }
        CheckId::PublicKnowledge => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let mut evidence = Vec::new();
            for (id, parsed) in &w.components {
                match &parsed.content {
                    ComponentContent::KnowledgeSource(k) => {
                        if let Some(kind) = k.source_kind.as_deref().filter(|k| {
                            let k = k.to_ascii_lowercase();
                            k.contains("public") || k.contains("bing") || k.contains("websearch")
                        }) {
                            evidence.push(Evidence::at(id, "/source/kind", Some(kind.to_owned())));
                        }
                    }
                    ComponentContent::CustomGpt(g)
                        if g.capabilities.get("webBrowsing") == Some(&true) =>
                    {
                        evidence.push(Evidence::at(
                            id,
                            "/gptCapabilities/webBrowsing",
                            Some("true".to_owned()),
                        ));
                    }
                    _ => {}
                }
                for action in actions(parsed) {
                    if let Some(ActionDetail::GenerativeAnswers(g)) = &action.detail {
                        if g.web_browsing == Some(true) {
                            evidence.push(Evidence::at(
                                id,
                                format!("{}/webBrowsing", action.path),
                                Some("true".to_owned()),
                            ));
                        }
                        if g.model_knowledge == Some(true) {
                            evidence.push(Evidence::at(
                                id,
                                format!("{}/applyModelKnowledgeSetting", action.path),
                                Some("true".to_owned()),
                            ));
                        }
                        if !g.public_sites.is_empty() {
                            evidence.push(Evidence::at(
                                id,
                                format!("{}/publicDataSource", action.path),
                                Some(g.public_sites.join(", ")),
                            ));
                        }
                    }
                }
            }
            if let Some((bot, c)) = w.configuration
                && c.use_model_knowledge == Some(true)
            {
                evidence.push(Evidence::at(
                    bot,
                    "/aISettings/useModelKnowledge",
                    Some("true".to_owned()),
                ));
            }
            found_or(
                evidence,
                components_known && !w.configuration_unreadable,
                missing,
            )
        }
        CheckId::OrchestrationWithoutInstructions => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let Some((bot, config)) = w.configuration else {
                return CheckStatus::NotEvaluated {
                    reason: "bot.configuration was not readable".to_owned(),
                };
            };
            let has_instructions = facts
                .features
                .and_then(|f| f.instructions.as_ref())
                .is_some_and(|i| !i.value.trim().is_empty());
            match config.generative_actions {
                Some(true) if !has_instructions && components_known => CheckStatus::Found {
                    evidence: vec![Evidence::at(
                        bot,
                        "/settings/GenerativeActionsEnabled",
                        Some("true; no instructions".to_owned()),
                    )],
                },
                Some(true) if !has_instructions => not_evaluated(missing),
                _ => CheckStatus::NotFound,
            }
        }
        CheckId::OrphanedOwner => match facts.identity.and_then(|i| i.owner.as_ref()) {
            Some(owner) if owner.state != OwnerState::Active => CheckStatus::Found {
                evidence: vec![Evidence::column(
                    agent,
                    "owner",
                    format!(
                        "{} is {}",
                        owner
                            .upn
                            .as_deref()
                            .or(owner.object_id.as_deref())
                            .unwrap_or("the owner"),
                        if owner.state == OwnerState::Disabled {
                            "disabled"
                        } else {
                            "missing"
                        }
                    ),
                )],
            },
            Some(_) => CheckStatus::NotFound,
            None => CheckStatus::NotEvaluated {
                reason: "the owner's account was not resolved".to_owned(),
            },
        },
        CheckId::Dormant => dormant(facts, settings),
        CheckId::AutonomousTrigger => {
            let Some(w) = w else {
                return not_evaluated(missing);
            };
            let evidence = w
                .components
                .iter()
                .filter_map(|(id, parsed)| match &parsed.content {
                    ComponentContent::ExternalTrigger(t) => Some(Evidence::at(
                        id,
                        "/externalTriggerSource",
                        Some(
                            [
                                t.source_kind.as_deref(),
                                t.connection_type.as_deref(),
                                t.flow_name.as_deref(),
                            ]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join("; "),
                        ),
                    )),
                    _ if parsed.component_type.value() == 17 => {
                        Some(Evidence::at(id, "", Some("component type 17".to_owned())))
                    }
                    _ => None,
                })
                .collect();
            found_or(evidence, components_known, missing)
        }
        CheckId::CoverageGap => {
            // Only gaps in what was observed of this agent count: warnings about ids do
            // not, nor a tenant inventory that was not read at all (a tenant-level gap,
            // reported once, while this agent's Dataverse definition was read).
            use crate::reconcile::{CoverageKind, DataverseOnlyReason};
            let mut evidence: Vec<Evidence> = facts
                .coverage
                .iter()
                .filter(|c| match &c.kind {
                    CoverageKind::InventoryOnly(_) => true,
                    CoverageKind::DataverseOnly(reason) => {
                        *reason != DataverseOnlyReason::InventoryNotRead
                    }
                    _ => false,
                })
                .map(|c| {
                    Evidence::column(
                        agent,
                        "coverage",
                        format!("{}: {}", c.kind.code(), c.detail),
                    )
                })
                .collect();
            let definition_read = facts.features.is_some() || facts.definition_checks.is_some();
            if definition_read && !facts.components_complete {
                evidence.push(Evidence::column(
                    agent,
                    "coverage",
                    "components not completely read",
                ));
            }
            found_or(evidence, true, "")
        }
        CheckId::OverPrivilegedIdentity => {
            match facts.identity.and_then(|i| i.permissions.as_ref()) {
                Some(p) if !p.excess.is_empty() => {
                    let mut excess = p.excess.clone();
                    excess.sort();
                    CheckStatus::Found {
                        evidence: vec![Evidence::column(
                            &p.principal_id,
                            "permissions",
                            excess.join(", "),
                        )],
                    }
                }
                Some(_) => CheckStatus::NotFound,
                None => CheckStatus::NotEvaluated {
                    reason: "the agent identity's permissions were not read".to_owned(),
                },
            }
        }
        CheckId::IdentityHygiene => match facts.identity.and_then(|i| i.permissions.as_ref()) {
            Some(p) => {
                let mut evidence = Vec::new();
                let mut counted: Vec<(crate::identity::CredentialProblem, usize)> = Vec::new();
                for c in &p.credential_problems {
                    match counted.iter_mut().find(|(k, _)| k == c) {
                        Some((_, n)) => *n += 1,
                        None => counted.push((*c, 1)),
                    }
                }
                for (problem, n) in counted {
                    evidence.push(Evidence::column(
                        &p.principal_id,
                        "credentials",
                        format!("{n} {}", problem.describe()),
                    ));
                }
                if p.orphaned {
                    evidence.push(Evidence::column(
                        &p.principal_id,
                        "owners",
                        "the app registration has no owner",
                    ));
                }
                found_or(evidence, true, "")
            }
            None => CheckStatus::NotEvaluated {
                reason: "the agent identity's app registration was not read".to_owned(),
            },
        },
    }
}

fn not_evaluated(reason: &str) -> CheckStatus {
    CheckStatus::NotEvaluated {
        reason: reason.to_owned(),
    }
}

fn dormant(facts: &AgentFacts<'_>, settings: &PostureSettings) -> CheckStatus {
    let threshold = Duration::days(i64::from(settings.dormancy_days));
    let cutoff = facts.scanned_at - threshold;
    let published = facts
        .bot
        .and_then(|b| b.published_on)
        .or_else(|| facts.inventory.and_then(|i| i.last_published_at));
    let Some(published) = published else {
        // Never published (or not known to be): dormancy is about published agents.
        return if facts.bot.is_some() || facts.inventory.is_some() {
            CheckStatus::NotFound
        } else {
            not_evaluated("publication state not read")
        };
    };
    let modified = facts.bot.and_then(|b| b.modified_on).unwrap_or(published);
    if modified.max(published) > cutoff {
        return CheckStatus::NotFound;
    }
    let Some(usage) = facts.usage else {
        return not_evaluated("usage was not read");
    };
    let last = usage
        .sessions
        .iter()
        .map(|s| s.last_activity_at.unwrap_or(s.started_at).max(s.started_at))
        .max();
    match last {
        Some(t) if t > cutoff => CheckStatus::NotFound,
        Some(_) | None if usage.covers_days >= settings.dormancy_days || last.is_some() => {
            CheckStatus::Found {
                evidence: vec![Evidence::column(
                    facts.agent_id,
                    "usage",
                    format!(
                        "published {}, last change {}, last use {}",
                        crate::rows::format_datetime(published),
                        crate::rows::format_datetime(modified),
                        last.map(crate::rows::format_datetime)
                            .unwrap_or_else(|| format!("none in {} days", usage.covers_days))
                    ),
                )],
            }
        }
        _ => not_evaluated(&format!(
            "usage covers {} days, fewer than the {}-day dormancy threshold",
            usage.covers_days, settings.dormancy_days
        )),
    }
}

//! `copilot-connector inventory report`: what the last scan found, for people.
//!
//! A [`Report`] is built from a scan's document (the JSON `inventory scan --output` writes, or
//! the copy the state store keeps) with [`Report::from_document`], then rendered by one pure
//! function per [`Format`] (data in, `String` out):
//!
//! - [`Format::Table`]: aligned terminal tables; long cells are cut to a column's width with
//!   `…`, control characters are shown as `�` (an agent name cannot move the cursor), and
//!   colour is used only when asked (the command asks only when standard output is a terminal
//!   and `NO_COLOR` is unset);
//! - [`Format::Markdown`]: the same tables in Markdown, every cell escaped (`|`, `<`, `*` ...);
//! - [`Format::Json`]: the report itself, in the stable shape below;
//! - [`Format::Html`]: one self-contained page (inline CSS and script, no request leaves it:
//!   its Content-Security-Policy forbids any) with sortable, filterable tables. Every value is
//!   HTML-escaped and no value is placed inside the script. The page reads its state from the
//!   URL fragment, e.g. `report.html#sort=findings:desc&filter=contoso&risk=high`, and keeps
//!   the fragment up to date, so a view can be bookmarked or shared.
//!
//! # Order
//! Agents are listed by risk (critical, high, medium, unknown, low; `unknown` means some check
//! could not be evaluated and nothing above low was found), then environment name, agent name
//! and id. Findings are listed by severity, then the agent's risk, agent name and check order.
//!
//! # JSON shape (`report_version` 1)
//! Fields are only ever added; a renamed or removed field raises `report_version`.
//!
//! ```text
//! {
//!   "report_version": 1,
//!   "run_id": "…" | null, "status": "complete" | "partial" | "failed" | null,
//!   "started_at": "…" | null, "finished_at": "…" | null,
//!   "totals": { "agents": 18, "environments": 4, "findings": 32, "coverage_gaps": 10,
//!               "agents_by_risk": { "critical": 2, "high": 8, "medium": 7, "unknown": 1, "low": 0 } },
//!   "layers": [ { "layer": "environment_list" | "tenant_inventory" | "dataverse",
//!                 "status", "count", "source", "detail" } ],
//!   "environments": [ { "environment_id", "name", "type", "url", "outcome", "detail",
//!                       "agents", "agents_by_risk" } ],
//!   "agents": [ { "agent_id", "name", "environment_id", "environment_name", "risk",
//!                 "findings", "checks_found": ["no-end-user-auth", …], "not_evaluated",
//!                 "published_state", "auth_mode", "coverage_gaps" } ],
//!   "findings": [ { "agent_id", "agent_name", "environment_id", "environment_name",
//!                   "agent_risk", "check", "severity", "title",
//!                   "evidence": [ { "source_id", "path", "column", "value" } ] } ],
//!   "coverage_gaps": [ { "code", "kind", "reason", "environment_id", "environment_name",
//!                        "agent_id", "agent_name", "detail" } ]
//! }
//! ```
//! Risks are `critical`, `high`, `medium`, `low` or `unknown`; severities `critical`, `high`,
//! `medium` or `low`; absent optional values are `null`.
//!
//! ```
//! use connector::inventory::report::{Format, RenderOptions, Report};
//! let doc = serde_json::json!({
//!     "fsi_copilotagent": [{ "fsi_agentid": "a1", "fsi_environmentid": "e1", "fsi_name": "HR <helper>" }],
//!     "postures": [{ "agent_id": "a1", "environment_id": "e1", "risk": "High", "results": [
//!         { "check": "no-end-user-auth", "severity": "high", "status": "found",
//!           "evidence": [{ "source_id": "a1", "column": "bot.authenticationmode", "value": "1 (None)" }] }
//!     ] }]
//! });
//! let report = Report::from_document(&doc)?;
//! assert_eq!(report.agents[0].risk.as_str(), "high");
//! let html = report.render(Format::Html, &RenderOptions::default());
//! assert!(html.contains("HR &lt;helper&gt;"));
//! # Ok::<(), connector::inventory::report::ReportError>(())
//! ```

mod html;
mod markdown;
mod source;
mod table;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use inventory_model::{CheckId, Severity};
use serde::Serialize;
use serde_json::{Map, Value};

pub use source::{ReportSource, load};

/// The `report_version` of the JSON shape this module writes.
pub const REPORT_VERSION: u32 = 1;

/// A report that could not be made; the message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The scan document is not what `inventory scan --output` writes.
    #[error("{origin}: {problem}")]
    Document {
        /// Where the document came from (a file, or the state store).
        origin: String,
        /// What is wrong, naming the table and row.
        problem: String,
    },
    /// No scan has been stored yet.
    #[error(
        "no inventory scan is stored in {path}: run `copilot-connector inventory scan` first, or give --input FILE (a document written by `inventory scan --output FILE`)"
    )]
    NoScan {
        /// The state store looked in.
        path: std::path::PathBuf,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state store could not be read.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl ReportError {
    fn document(problem: impl Into<String>) -> Self {
        ReportError::Document {
            origin: "the scan document".to_owned(),
            problem: problem.into(),
        }
    }

    /// The same error, saying where the document came from.
    fn with_origin(self, origin: &str) -> Self {
        match self {
            ReportError::Document { problem, .. } => ReportError::Document {
                origin: origin.to_owned(),
                problem,
            },
            other => other,
        }
    }
}

/// An agent's risk level, as the report orders and names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Risk {
    /// Something critical was found, or anonymous reach meets a dangerous capability.
    Critical,
    /// A high-severity finding.
    High,
    /// A medium-severity finding.
    Medium,
    /// Some check could not be evaluated and nothing above low was found.
    Unknown,
    /// Every check evaluated; at most low findings.
    Low,
}

impl Risk {
    /// Every level, most severe first (the report's order).
    pub const ALL: [Risk; 5] = [
        Risk::Critical,
        Risk::High,
        Risk::Medium,
        Risk::Unknown,
        Risk::Low,
    ];

    /// The lower-case name (`critical` ...), as in the JSON and the page's risk filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Critical => "critical",
            Risk::High => "high",
            Risk::Medium => "medium",
            Risk::Unknown => "unknown",
            Risk::Low => "low",
        }
    }

    /// The display name (`Critical` ...).
    pub fn label(self) -> &'static str {
        match self {
            Risk::Critical => "Critical",
            Risk::High => "High",
            Risk::Medium => "Medium",
            Risk::Unknown => "Unknown",
            Risk::Low => "Low",
        }
    }

    /// Higher is more severe: critical 5 ... low 1.
    pub fn rank(self) -> u8 {
        match self {
            Risk::Critical => 5,
            Risk::High => 4,
            Risk::Medium => 3,
            Risk::Unknown => 2,
            Risk::Low => 1,
        }
    }

    /// A risk from its name (any case) or from the `fsi_cai_risklevel` option value.
    pub fn parse(value: &Value) -> Option<Risk> {
        match value {
            Value::String(s) => Risk::ALL
                .into_iter()
                .find(|r| r.as_str().eq_ignore_ascii_case(s.trim())),
            Value::Number(n) => match n.as_i64()? {
                100_000_000 => Some(Risk::Low),
                100_000_001 => Some(Risk::Medium),
                100_000_002 => Some(Risk::High),
                100_000_003 => Some(Risk::Critical),
                100_000_004 => Some(Risk::Unknown),
                _ => None,
            },
            _ => None,
        }
    }
}

fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        _ => "low",
    }
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        _ => "Low",
    }
}

fn severity_rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 4,
        Severity::High => 3,
        Severity::Medium => 2,
        _ => 1,
    }
}

/// Agents per risk level, every level present (zero included), most severe first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskCounts(pub [usize; 5]);

impl RiskCounts {
    fn add(&mut self, risk: Risk) {
        if let Some(i) = Risk::ALL.iter().position(|r| *r == risk) {
            self.0[i] += 1;
        }
    }

    /// The count of one level.
    pub fn get(&self, risk: Risk) -> usize {
        Risk::ALL
            .iter()
            .position(|r| *r == risk)
            .map_or(0, |i| self.0[i])
    }
}

impl Serialize for RiskCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(5))?;
        for (r, n) in Risk::ALL.iter().zip(self.0) {
            m.serialize_entry(r.as_str(), &n)?;
        }
        m.end()
    }
}

/// The report's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Totals {
    /// Agents.
    pub agents: usize,
    /// Environments.
    pub environments: usize,
    /// Findings (checks that found something) over all agents.
    pub findings: usize,
    /// Coverage gaps.
    pub coverage_gaps: usize,
    /// Agents per risk level.
    pub agents_by_risk: RiskCounts,
}

impl Totals {
    /// One line: `6 agent(s) in 4 environment(s), 7 finding(s), 2 coverage gap(s)`.
    pub fn describe(&self) -> String {
        format!(
            "{} agent(s) in {} environment(s), {} finding(s), {} coverage gap(s)",
            self.agents, self.environments, self.findings, self.coverage_gaps
        )
    }
}

/// How one layer of the scan went (the environment list, the tenant inventory, the
/// environments' Dataverse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LayerEntry {
    /// `environment_list`, `tenant_inventory` or `dataverse`.
    pub layer: String,
    /// `read`, `given`, `partial`, `skipped` or `failed`.
    pub status: String,
    /// Rows read (environments read, for `dataverse`).
    pub count: Option<u64>,
    /// The source, for the tenant inventory (`powerplatform`, `arg`).
    pub source: Option<String>,
    /// Why it failed or was skipped.
    pub detail: Option<String>,
}

impl LayerEntry {
    /// One line: `tenant inventory: read from powerplatform (12): detail`.
    pub fn describe(&self) -> String {
        let mut line = format!("{}: {}", self.layer.replace('_', " "), self.status);
        if let Some(src) = &self.source {
            line.push_str(&format!(" from {src}"));
        }
        if let Some(n) = self.count {
            line.push_str(&format!(" ({n})"));
        }
        if let Some(d) = &self.detail {
            line.push_str(&format!(": {d}"));
        }
        line
    }
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EnvironmentEntry {
    /// The environment id.
    pub environment_id: String,
    /// Its display name.
    pub name: Option<String>,
    /// Its type (Production, Sandbox, Developer, Default ...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Its Dataverse URL.
    pub url: Option<String>,
    /// How the scan went there (`scanned`, `forbidden`, `no_dataverse`, `failed` ...).
    pub outcome: Option<String>,
    /// Why it was not read.
    pub detail: Option<String>,
    /// Agents in it.
    pub agents: usize,
    /// Its agents per risk level.
    pub agents_by_risk: RiskCounts,
}

impl EnvironmentEntry {
    /// The name, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.environment_id)
    }
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AgentEntry {
    /// The agent id (the bot id when Dataverse has the agent).
    pub agent_id: String,
    /// Its name (the id when the scan saw none).
    pub name: String,
    /// Its environment id.
    pub environment_id: String,
    /// Its environment's name.
    pub environment_name: Option<String>,
    /// The risk level.
    pub risk: Risk,
    /// Checks that found something.
    pub findings: usize,
    /// Their ids, in check order.
    pub checks_found: Vec<String>,
    /// Checks that could not be evaluated (their data was not read).
    pub not_evaluated: usize,
    /// Published state (`Published`, `Draft` ...).
    pub published_state: Option<String>,
    /// End-user authentication.
    pub auth_mode: Option<String>,
    /// Coverage gaps about this agent.
    pub coverage_gaps: usize,
}

/// Where a finding was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EvidenceEntry {
    /// The record: a component id, a bot id or the agent id.
    pub source_id: String,
    /// A JSON Pointer into the component's YAML or the configuration.
    pub path: Option<String>,
    /// The column, e.g. `bot.authenticationmode`.
    pub column: Option<String>,
    /// The value seen (never a secret).
    pub value: Option<String>,
}

impl EvidenceEntry {
    /// One line: `where = value (in source)`.
    pub fn describe(&self) -> String {
        let place = self
            .column
            .as_deref()
            .or(self.path.as_deref())
            .unwrap_or("record");
        let mut s = place.to_owned();
        if let Some(v) = &self.value {
            s.push_str(" = ");
            s.push_str(v);
        }
        s.push_str(" (in ");
        s.push_str(&self.source_id);
        s.push(')');
        s
    }
}

/// One finding: a check that found something in one agent, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The agent id.
    pub agent_id: String,
    /// The agent's name.
    pub agent_name: String,
    /// The environment id.
    pub environment_id: String,
    /// The environment's name.
    pub environment_name: Option<String>,
    /// The agent's risk level.
    pub agent_risk: Risk,
    /// The check's id, e.g. `maker-credentials`.
    pub check: String,
    /// Its severity.
    #[serde(serialize_with = "ser_severity")]
    pub severity: Severity,
    /// Its title.
    pub title: String,
    /// Where it was seen.
    pub evidence: Vec<EvidenceEntry>,
}

fn ser_severity<S: serde::Serializer>(s: &Severity, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(severity_str(*s))
}

impl Finding {
    /// The severity's display name.
    pub fn severity_label(&self) -> &'static str {
        severity_label(self.severity)
    }

    /// The severity's lower-case name.
    pub fn severity_str(&self) -> &'static str {
        severity_str(self.severity)
    }
}

/// One coverage gap: something the scan could not see, said, never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GapEntry {
    /// `kind.reason`, e.g. `environment_not_scanned.forbidden`.
    pub code: String,
    /// The kind.
    pub kind: String,
    /// The reason, when the kind has one.
    pub reason: Option<String>,
    /// The environment concerned.
    pub environment_id: Option<String>,
    /// Its name, when the scan saw it.
    pub environment_name: Option<String>,
    /// The agent concerned.
    pub agent_id: Option<String>,
    /// The agent's name, when the scan saw it.
    pub agent_name: Option<String>,
    /// What the scan saw, in words.
    pub detail: String,
}

/// What the last scan found, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The JSON shape's version ([`REPORT_VERSION`]).
    pub report_version: u32,
    /// The scan's run id.
    pub run_id: Option<String>,
    /// `complete`, `partial` or `failed`.
    pub status: Option<String>,
    /// When the scan started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Totals.
    pub totals: Totals,
    /// How each layer of the scan went.
    pub layers: Vec<LayerEntry>,
    /// Environments, by name.
    pub environments: Vec<EnvironmentEntry>,
    /// Agents, most risky first.
    pub agents: Vec<AgentEntry>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Coverage gaps.
    pub coverage_gaps: Vec<GapEntry>,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Aligned terminal tables.
    Table,
    /// Markdown tables.
    Markdown,
    /// The stable JSON shape.
    Json,
    /// A self-contained HTML page.
    Html,
}

impl Format {
    /// Parses `table`, `markdown` (`md`), `json` or `html`.
    pub fn parse(s: &str) -> Result<Format, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(Format::Table),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "html" | "htm" => Ok(Format::Html),
            other => Err(format!(
                "unknown report format `{other}`: give table, markdown, json or html"
            )),
        }
    }

    /// The format a file name suggests (`.html`, `.md`, `.json`), if any.
    pub fn from_extension(path: &str) -> Option<Format> {
        let ext = std::path::Path::new(path)
            .extension()?
            .to_str()?
            .to_ascii_lowercase();
        match ext.as_str() {
            "html" | "htm" => Some(Format::Html),
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }
}

/// How to render.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// ANSI colour in [`Format::Table`] (only for a terminal).
    pub color: bool,
}

impl RenderOptions {
    /// With or without colour.
    pub fn color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }
}

impl Report {
    /// Renders the report.
    pub fn render(&self, format: Format, options: &RenderOptions) -> String {
        match format {
            Format::Table => table::render(self, options),
            Format::Markdown => markdown::render(self),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
                s.push('\n');
                s
            }
            Format::Html => html::render(self),
        }
    }

    /// Builds the report from a scan document (what `inventory scan --output` writes: the
    /// eight tables keyed by logical name, `summary` and `postures`). Risk comes from
    /// `postures`, else from the compliance rows; an agent with neither is `unknown`.
    pub fn from_document(doc: &Value) -> Result<Report, ReportError> {
        let doc = doc.as_object().ok_or_else(|| {
            ReportError::document(
                "not a JSON object: give the document `inventory scan --output FILE` writes",
            )
        })?;
        if !doc.contains_key("fsi_copilotagent") && !doc.contains_key("summary") {
            return Err(ReportError::document(
                "neither `fsi_copilotagent` nor `summary` is there: give the document `inventory scan --output FILE` writes",
            ));
        }
        let summary = match doc.get("summary") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(ReportError::document("`summary` is not an object")),
        };

        let environments = read_environments(doc, summary)?;
        let env_name = |id: &str| -> Option<String> {
            environments
                .get(&id.to_ascii_lowercase())
                .and_then(|e| e.name.clone())
        };
        let gaps_raw = read_gaps(summary)?;
        let mut gaps_per_agent: BTreeMap<String, usize> = BTreeMap::new();
        for g in &gaps_raw {
            if let Some(a) = &g.agent_id {
                *gaps_per_agent.entry(a.to_ascii_lowercase()).or_insert(0) += 1;
            }
        }
        let postures = read_postures(doc)?;
        let compliance = read_compliance(doc)?;

        let mut agents = Vec::new();
        let mut findings = Vec::new();
        for (i, row) in array(doc, "fsi_copilotagent")?.iter().enumerate() {
            let at = |col: &str| format!("`fsi_copilotagent`[{i}] {col}");
            let row = row.as_object().ok_or_else(|| {
                ReportError::document(format!("`fsi_copilotagent`[{i}] is not an object"))
            })?;
            let agent_id = text(row, "fsi_agentid", &at)?
                .or(text(row, "fsi_botid", &at)?)
                .ok_or_else(|| {
                    ReportError::document(format!(
                        "{} is missing: every agent row needs its id",
                        at("fsi_agentid")
                    ))
                })?;
            let environment_id = text(row, "fsi_environmentid", &at)?.unwrap_or_default();
            let name = text(row, "fsi_agentname", &at)?
                .or(text(row, "fsi_name", &at)?)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| agent_id.clone());
            let key = (
                agent_id.to_ascii_lowercase(),
                environment_id.to_ascii_lowercase(),
            );
            let posture = postures.get(&key);
            let risk = posture
                .and_then(|p| p.risk)
                .or_else(|| compliance.get(&key).copied())
                .unwrap_or(Risk::Unknown);
            let mut checks_found = Vec::new();
            let mut not_evaluated = 0;
            if let Some(p) = posture {
                for r in &p.results {
                    match r.status.as_str() {
                        "found" => {
                            checks_found.push(r.check.clone());
                            findings.push(Finding {
                                agent_id: agent_id.clone(),
                                agent_name: name.clone(),
                                environment_id: environment_id.clone(),
                                environment_name: env_name(&environment_id),
                                agent_risk: risk,
                                check: r.check.clone(),
                                severity: r.severity,
                                title: r.title.clone(),
                                evidence: r.evidence.clone(),
                            });
                        }
                        "not_evaluated" => not_evaluated += 1,
                        _ => {}
                    }
                }
            }
            let coverage_gaps = gaps_per_agent
                .get(&agent_id.to_ascii_lowercase())
                .copied()
                .unwrap_or(0);
            agents.push(AgentEntry {
                environment_name: env_name(&environment_id),
                agent_id,
                name,
                environment_id,
                risk,
                findings: checks_found.len(),
                checks_found,
                not_evaluated,
                published_state: text(row, "fsi_publishedstate", &at)?,
                auth_mode: text(row, "fsi_authmode", &at)?,
                coverage_gaps,
            });
        }

        let agent_names: BTreeMap<String, String> = agents
            .iter()
            .map(|a| (a.agent_id.to_ascii_lowercase(), a.name.clone()))
            .collect();
        let coverage_gaps: Vec<GapEntry> = gaps_raw
            .into_iter()
            .map(|mut g| {
                g.agent_name = g
                    .agent_id
                    .as_deref()
                    .and_then(|a| agent_names.get(&a.to_ascii_lowercase()).cloned());
                g.environment_name = g.environment_id.as_deref().and_then(env_name);
                g
            })
            .collect();

        // Environments that only agents name are still listed.
        let mut environments = environments;
        for a in &agents {
            environments
                .entry(a.environment_id.to_ascii_lowercase())
                .or_insert_with(|| EnvironmentEntry {
                    environment_id: a.environment_id.clone(),
                    name: None,
                    kind: None,
                    url: None,
                    outcome: None,
                    detail: None,
                    agents: 0,
                    agents_by_risk: RiskCounts::default(),
                });
        }
        for a in &agents {
            if let Some(e) = environments.get_mut(&a.environment_id.to_ascii_lowercase()) {
                e.agents += 1;
                e.agents_by_risk.add(a.risk);
            }
        }
        let mut environments: Vec<EnvironmentEntry> = environments.into_values().collect();
        environments.sort_by(|a, b| {
            cmp_text(a.display_name(), b.display_name())
                .then_with(|| a.environment_id.cmp(&b.environment_id))
        });

        agents.sort_by(|a, b| {
            b.risk
                .rank()
                .cmp(&a.risk.rank())
                .then_with(|| {
                    cmp_text(
                        a.environment_name.as_deref().unwrap_or(&a.environment_id),
                        b.environment_name.as_deref().unwrap_or(&b.environment_id),
                    )
                })
                .then_with(|| cmp_text(&a.name, &b.name))
                .then_with(|| a.agent_id.cmp(&b.agent_id))
        });
        findings.sort_by(|a, b| {
            severity_rank(b.severity)
                .cmp(&severity_rank(a.severity))
                .then_with(|| b.agent_risk.rank().cmp(&a.agent_risk.rank()))
                .then_with(|| cmp_text(&a.agent_name, &b.agent_name))
                .then_with(|| a.agent_id.cmp(&b.agent_id))
                .then_with(|| check_order(&a.check).cmp(&check_order(&b.check)))
                .then_with(|| a.check.cmp(&b.check))
        });

        let mut by_risk = RiskCounts::default();
        for a in &agents {
            by_risk.add(a.risk);
        }
        let s = |key: &str| -> Option<String> {
            summary
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(Report {
            report_version: REPORT_VERSION,
            run_id: s("run_id"),
            status: s("status"),
            started_at: s("started_at"),
            finished_at: s("finished_at"),
            layers: read_layers(summary)?,
            totals: Totals {
                agents: agents.len(),
                environments: environments.len(),
                findings: findings.len(),
                coverage_gaps: coverage_gaps.len(),
                agents_by_risk: by_risk,
            },
            environments,
            agents,
            findings,
            coverage_gaps,
        })
    }
}

/// Case-insensitive text order, then exact, so the order is total and stable.
fn cmp_text(a: &str, b: &str) -> Ordering {
    a.to_lowercase()
        .cmp(&b.to_lowercase())
        .then_with(|| a.cmp(b))
}

fn check_order(id: &str) -> usize {
    CheckId::ALL
        .iter()
        .position(|c| c.id() == id)
        .unwrap_or(CheckId::ALL.len())
}

fn array<'a>(doc: &'a Map<String, Value>, table: &str) -> Result<&'a [Value], ReportError> {
    match doc.get(table) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(ReportError::document(format!("`{table}` is not an array"))),
    }
}

/// A text column: absent or null is `None`; a number or boolean is shown as written; an
/// object or array is a mistake worth naming.
fn text(
    row: &Map<String, Value>,
    column: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<String>, ReportError> {
    match row.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(ReportError::document(format!("{} is not text", at(column)))),
    }
}

fn read_environments(
    doc: &Map<String, Value>,
    summary: Option<&Map<String, Value>>,
) -> Result<BTreeMap<String, EnvironmentEntry>, ReportError> {
    let mut out: BTreeMap<String, EnvironmentEntry> = BTreeMap::new();
    for (i, row) in array(doc, "fsi_caienvironment")?.iter().enumerate() {
        let at = |col: &str| format!("`fsi_caienvironment`[{i}] {col}");
        let row = row.as_object().ok_or_else(|| {
            ReportError::document(format!("`fsi_caienvironment`[{i}] is not an object"))
        })?;
        let id = text(row, "fsi_environmentid", &at)?.ok_or_else(|| {
            ReportError::document(format!("{} is missing", at("fsi_environmentid")))
        })?;
        out.insert(
            id.to_ascii_lowercase(),
            EnvironmentEntry {
                name: text(row, "fsi_environmentname", &at)?.or(text(row, "fsi_name", &at)?),
                kind: text(row, "fsi_environmenttype", &at)?,
                url: text(row, "fsi_environmenturl", &at)?,
                environment_id: id,
                outcome: None,
                detail: None,
                agents: 0,
                agents_by_risk: RiskCounts::default(),
            },
        );
    }
    let Some(list) = summary.and_then(|s| s.get("environments")) else {
        return Ok(out);
    };
    let list = list
        .as_array()
        .ok_or_else(|| ReportError::document("`summary.environments` is not an array"))?;
    for (i, e) in list.iter().enumerate() {
        let at = |col: &str| format!("`summary.environments`[{i}] {col}");
        let e = e.as_object().ok_or_else(|| {
            ReportError::document(format!("`summary.environments`[{i}] is not an object"))
        })?;
        let id = text(e, "environment_id", &at)?
            .ok_or_else(|| ReportError::document(format!("{} is missing", at("environment_id"))))?;
        let entry = out
            .entry(id.to_ascii_lowercase())
            .or_insert_with(|| EnvironmentEntry {
                environment_id: id.clone(),
                name: None,
                kind: None,
                url: None,
                outcome: None,
                detail: None,
                agents: 0,
                agents_by_risk: RiskCounts::default(),
            });
        entry.outcome = text(e, "outcome", &at)?;
        entry.detail = text(e, "detail", &at)?;
        if entry.url.is_none() {
            entry.url = text(e, "url", &at)?;
        }
    }
    Ok(out)
}

fn read_layers(summary: Option<&Map<String, Value>>) -> Result<Vec<LayerEntry>, ReportError> {
    let Some(layers) = summary.and_then(|s| s.get("layers")) else {
        return Ok(Vec::new());
    };
    let layers = layers
        .as_object()
        .ok_or_else(|| ReportError::document("`summary.layers` is not an object"))?;
    let mut out = Vec::new();
    // The scan's order: tenant first, then the environments; layers this version does not
    // know follow, rather than vanish.
    let known = ["environment_list", "tenant_inventory", "dataverse"];
    let mut names: Vec<&String> = layers.keys().collect();
    names.sort_by_key(|n| known.iter().position(|k| k == n).unwrap_or(known.len()));
    for name in names {
        let here = format!("`summary.layers.{name}`");
        let l = layers[name]
            .as_object()
            .ok_or_else(|| ReportError::document(format!("{here} is not an object")))?;
        let at = |col: &str| format!("{here} {col}");
        out.push(LayerEntry {
            layer: name.clone(),
            status: text(l, "status", &at)?.unwrap_or_default(),
            count: l.get("count").and_then(Value::as_u64),
            source: text(l, "source", &at)?,
            detail: text(l, "detail", &at)?,
        });
    }
    Ok(out)
}

fn read_gaps(summary: Option<&Map<String, Value>>) -> Result<Vec<GapEntry>, ReportError> {
    let Some(list) = summary.and_then(|s| s.get("coverage_gaps")) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| ReportError::document("`summary.coverage_gaps` is not an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, g) in list.iter().enumerate() {
        let at = |col: &str| format!("`summary.coverage_gaps`[{i}] {col}");
        let g = g.as_object().ok_or_else(|| {
            ReportError::document(format!("`summary.coverage_gaps`[{i}] is not an object"))
        })?;
        let kind = text(g, "kind", &at)?
            .ok_or_else(|| ReportError::document(format!("{} is missing", at("kind"))))?;
        let reason = text(g, "reason", &at)?;
        out.push(GapEntry {
            code: match &reason {
                Some(r) => format!("{kind}.{r}"),
                None => kind.clone(),
            },
            kind,
            reason,
            environment_id: text(g, "environment_id", &at)?,
            environment_name: None,
            agent_id: text(g, "agent_id", &at)?,
            agent_name: None,
            detail: text(g, "detail", &at)?.unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| {
        cmp_text(
            a.environment_id.as_deref().unwrap_or(""),
            b.environment_id.as_deref().unwrap_or(""),
        )
        .then_with(|| a.code.cmp(&b.code))
        .then_with(|| {
            a.agent_id
                .as_deref()
                .unwrap_or("")
                .cmp(b.agent_id.as_deref().unwrap_or(""))
        })
        .then_with(|| a.detail.cmp(&b.detail))
    });
    Ok(out)
}

struct PostureResult {
    check: String,
    severity: Severity,
    title: String,
    status: String,
    evidence: Vec<EvidenceEntry>,
}

struct PostureEntry {
    risk: Option<Risk>,
    results: Vec<PostureResult>,
}

fn parse_severity(v: Option<&Value>) -> Option<Severity> {
    match v?.as_str()?.to_ascii_lowercase().as_str() {
        "critical" => Some(Severity::Critical),
        "high" => Some(Severity::High),
        "medium" => Some(Severity::Medium),
        "low" => Some(Severity::Low),
        _ => None,
    }
}

fn read_evidence(list: Option<&Value>, at: &str) -> Result<Vec<EvidenceEntry>, ReportError> {
    let Some(list) = list.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| ReportError::document(format!("{at} evidence is not an array")))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let here = format!("{at} evidence[{i}]");
        let e = e
            .as_object()
            .ok_or_else(|| ReportError::document(format!("{here} is not an object")))?;
        let at = |col: &str| format!("{here} {col}");
        out.push(EvidenceEntry {
            // Written as `source_id`; accept the camel-case spelling too.
            source_id: text(e, "source_id", &at)?
                .or(text(e, "sourceId", &at)?)
                .unwrap_or_default(),
            path: text(e, "path", &at)?,
            column: text(e, "column", &at)?,
            value: text(e, "value", &at)?,
        });
    }
    Ok(out)
}

fn read_postures(
    doc: &Map<String, Value>,
) -> Result<BTreeMap<(String, String), PostureEntry>, ReportError> {
    let mut out = BTreeMap::new();
    for (i, p) in array(doc, "postures")?.iter().enumerate() {
        let here = format!("`postures`[{i}]");
        let at = |col: &str| format!("{here} {col}");
        let p = p
            .as_object()
            .ok_or_else(|| ReportError::document(format!("{here} is not an object")))?;
        let agent = text(p, "agent_id", &at)?
            .ok_or_else(|| ReportError::document(format!("{} is missing", at("agent_id"))))?;
        let env = text(p, "environment_id", &at)?.unwrap_or_default();
        let risk = match p.get("risk") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Risk::parse(v).ok_or_else(|| {
                ReportError::document(format!(
                    "{} is `{v}`: expected Critical, High, Medium, Low or Unknown",
                    at("risk")
                ))
            })?),
        };
        let mut results = Vec::new();
        let list = match p.get("results") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => {
                return Err(ReportError::document(format!(
                    "{} is not an array",
                    at("results")
                )));
            }
        };
        for (j, r) in list.iter().enumerate() {
            let here = format!("{here} results[{j}]");
            let at = |col: &str| format!("{here} {col}");
            let r = r
                .as_object()
                .ok_or_else(|| ReportError::document(format!("{here} is not an object")))?;
            let check = text(r, "check", &at)?
                .ok_or_else(|| ReportError::document(format!("{} is missing", at("check"))))?;
            let known = CheckId::from_id(&check);
            let severity = parse_severity(r.get("severity"))
                .or(known.map(CheckId::severity))
                .ok_or_else(|| {
                    ReportError::document(format!(
                        "{} is missing or not critical, high, medium or low",
                        at("severity")
                    ))
                })?;
            let title = text(r, "title", &at)?
                .or(known.map(|k| k.title().to_owned()))
                .unwrap_or_else(|| check.clone());
            results.push(PostureResult {
                status: text(r, "status", &at)?.unwrap_or_default(),
                evidence: read_evidence(r.get("evidence"), &here)?,
                check,
                severity,
                title,
            });
        }
        out.insert(
            (agent.to_ascii_lowercase(), env.to_ascii_lowercase()),
            PostureEntry { risk, results },
        );
    }
    Ok(out)
}

fn read_compliance(
    doc: &Map<String, Value>,
) -> Result<BTreeMap<(String, String), Risk>, ReportError> {
    let mut out = BTreeMap::new();
    for (i, row) in array(doc, "fsi_caicompliancestate")?.iter().enumerate() {
        let at = |col: &str| format!("`fsi_caicompliancestate`[{i}] {col}");
        let Some(row) = row.as_object() else {
            return Err(ReportError::document(format!(
                "`fsi_caicompliancestate`[{i}] is not an object"
            )));
        };
        let (Some(agent), Some(risk)) = (
            text(row, "fsi_agentid", &at)?,
            row.get("fsi_risklevel").and_then(Risk::parse),
        ) else {
            continue;
        };
        let env = text(row, "fsi_environmentid", &at)?.unwrap_or_default();
        out.insert((agent.to_ascii_lowercase(), env.to_ascii_lowercase()), risk);
    }
    Ok(out)
}

/// The distinct risks present, most severe first.
fn risks_present(report: &Report) -> Vec<Risk> {
    let present: BTreeSet<u8> = report.agents.iter().map(|a| a.risk.rank()).collect();
    Risk::ALL
        .into_iter()
        .filter(|r| present.contains(&r.rank()))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;

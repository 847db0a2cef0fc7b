//! Layer 3 of the scan: each agent's Entra identity, from Microsoft Graph.
//!
//! For every agent of the tenant inventory with an Entra app id (`entraAppId`) or an agent
//! identity id (`entraAgentId`): its service principal, application permissions (app role
//! assignments resolved to names), delegated grants, the app registration's credentials and
//! owners, read through [`crate::permissions::agent_reports`] (the code `permissions` uses),
//! in Graph JSON batches with bounded concurrency. The results feed `inventory-model`: the
//! `over-privileged-identity` and `identity-hygiene` findings, and the document's
//! `identities` list.
//!
//! - **Incremental:** an agent's identity is read again only when the agent is new, its app
//!   id or agent identity id changed, its last read failed, or the last read is older than
//!   [`IdentityOptions::max_age`] (default [`DEFAULT_MAX_AGE`]): grants change in Entra, not
//!   in the agent, so age is what brings them back.
//! - **Never a failed scan:** Graph refusing (401/403) or failing is a coverage gap of this
//!   layer, in the summary, and the scan's status is partial; agents whose identity was not
//!   read have those checks "not evaluated", never passed.
//! - **Off:** [`IdentityChoice::None`] (`--identity none`). With a local authority host (a
//!   stand-in for Entra) and no Graph URL, the layer is skipped rather than call the public
//!   Graph.
//!
//! Reading needs the Microsoft Graph application permission `Application.Read.All`.

use std::collections::BTreeMap;
use std::time::Duration;

use client_core::{SharedClock, SharedCredential};
use graph_client::GraphClient;
use inventory_model::{
    CredentialProblem, HeldPermission, IdentityObservation, IdentityPermissions, TenantAgent,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::scan::LayerReport;
use crate::permissions::{AgentIdentity, IdentityReport};
use crate::timefmt::rfc3339;

/// How long an identity read stays fresh by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Whether the scan reads identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdentityChoice {
    /// From Microsoft Graph.
    #[default]
    Graph,
    /// Not at all (`--identity none`).
    None,
}

impl IdentityChoice {
    /// Parses `graph` or `none`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "graph" => Ok(IdentityChoice::Graph),
            "none" => Ok(IdentityChoice::None),
            other => Err(format!(
                "`{other}` is not an identity source: use graph or none"
            )),
        }
    }

    /// The flag's word.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityChoice::Graph => "graph",
            IdentityChoice::None => "none",
        }
    }
}

/// How the identity layer runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IdentityOptions {
    /// Graph or none. The library default is [`IdentityChoice::None`] (no Graph unless asked
    /// for); the command line's is `graph`.
    pub choice: IdentityChoice,
    /// The Microsoft Graph root (`GRAPH_URL`); the cloud's when `None`.
    pub graph_url: Option<Url>,
    /// The sign-in authority, for the cloud (and to tell a local stand-in).
    pub authority_host: Option<Url>,
    /// An identity read older than this is read again.
    pub max_age: Duration,
    /// JSON batches in flight at once.
    pub concurrency: usize,
}

impl Default for IdentityOptions {
    fn default() -> Self {
        IdentityOptions {
            choice: IdentityChoice::None,
            graph_url: None,
            authority_host: None,
            max_age: DEFAULT_MAX_AGE,
            concurrency: crate::permissions::DEFAULT_CONCURRENCY,
        }
    }
}

/// One permission as the document keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PermissionRecord {
    /// Its name (`Mail.Send`), or the role id when it has none.
    pub name: String,
    /// The resource (`Microsoft Graph`).
    pub resource: String,
    /// Why it is high-privilege, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_privilege: Option<String>,
    /// For a delegated scope: consented by an administrator for everyone.
    #[serde(default)]
    pub admin_consent: bool,
}

/// One agent's identity as the scan read it: the document's `identities` entries, kept
/// between scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdentityRecord {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// `entraAppId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// `entraAgentId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_identity_id: Option<String>,
    /// When it was read (RFC 3339).
    pub read_at: String,
    /// The service principal's object id; `None` when the app has none in this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
    /// Application permissions.
    #[serde(default)]
    pub application_permissions: Vec<PermissionRecord>,
    /// Delegated scopes.
    #[serde(default)]
    pub delegated_permissions: Vec<PermissionRecord>,
    /// Credential problems: `expired`, `expiring_soon`, `long_lived_secret`.
    #[serde(default)]
    pub credential_problems: Vec<String>,
    /// The app registration is in the tenant and has no owner.
    #[serde(default)]
    pub orphaned: bool,
    /// The findings in words, as `permissions` prints them.
    #[serde(default)]
    pub findings: Vec<String>,
}

fn problem_word(p: CredentialProblem) -> &'static str {
    match p {
        CredentialProblem::Expired => "expired",
        CredentialProblem::ExpiringSoon => "expiring_soon",
        _ => "long_lived_secret",
    }
}

fn problem_of(word: &str) -> Option<CredentialProblem> {
    match word {
        "expired" => Some(CredentialProblem::Expired),
        "expiring_soon" => Some(CredentialProblem::ExpiringSoon),
        "long_lived_secret" => Some(CredentialProblem::LongLivedSecret),
        _ => None,
    }
}

fn permission_record(p: &HeldPermission) -> PermissionRecord {
    PermissionRecord {
        name: p.name.clone(),
        resource: p.resource.clone(),
        high_privilege: p.high_privilege.clone(),
        admin_consent: p.admin_consent,
    }
}

impl IdentityRecord {
    fn from_report(agent: &AgentIdentity, report: &IdentityReport, at: OffsetDateTime) -> Self {
        let mut r = IdentityRecord {
            agent_id: agent.agent_id.clone(),
            environment_id: agent.environment_id.clone(),
            app_id: agent.app_id.clone(),
            agent_identity_id: agent.agent_identity_id.clone(),
            read_at: rfc3339(at),
            service_principal_id: None,
            application_permissions: Vec::new(),
            delegated_permissions: Vec::new(),
            credential_problems: Vec::new(),
            orphaned: false,
            findings: report.findings.clone(),
        };
        if let Some(m) = report.model() {
            r.service_principal_id = Some(m.principal_id.clone());
            r.application_permissions = m.application.iter().map(permission_record).collect();
            r.delegated_permissions = m.delegated.iter().map(permission_record).collect();
            r.credential_problems = m
                .credential_problems
                .iter()
                .map(|p| problem_word(*p).to_owned())
                .collect();
            r.orphaned = m.orphaned;
        }
        r
    }

    /// What the posture checks read. An app without a service principal in this tenant holds
    /// nothing here: an observation with no permission and no problem.
    pub fn observation(&self) -> IdentityObservation {
        let mut m = IdentityPermissions::new(
            self.agent_id.clone(),
            self.environment_id.clone(),
            self.app_id.clone().unwrap_or_default(),
            self.service_principal_id.clone().unwrap_or_default(),
        );
        let held = |p: &PermissionRecord| {
            let mut h = HeldPermission::new(p.name.clone(), p.resource.clone());
            if let Some(why) = &p.high_privilege {
                h = h.high_privilege(why.clone());
            }
            if p.admin_consent {
                h = h.admin_consented();
            }
            h
        };
        m.application = self.application_permissions.iter().map(held).collect();
        m.delegated = self.delegated_permissions.iter().map(held).collect();
        m.credential_problems = self
            .credential_problems
            .iter()
            .filter_map(|w| problem_of(w))
            .collect();
        m.orphaned = self.orphaned;
        m.observation()
    }

    fn same_identity(&self, agent: &AgentIdentity) -> bool {
        self.app_id == agent.app_id && self.agent_identity_id == agent.agent_identity_id
    }

    fn fresh_at(&self, now: OffsetDateTime, max_age: Duration) -> bool {
        let Ok(read) = OffsetDateTime::parse(
            &self.read_at,
            &time::format_description::well_known::Rfc3339,
        ) else {
            return false;
        };
        let max = time::Duration::try_from(max_age).unwrap_or(time::Duration::ZERO);
        read <= now && now - read < max
    }
}

/// The identities a stored scan document carries (its `identities` list); entries that do
/// not read are left out (they are read again).
pub fn records_from_document(doc: &serde_json::Value) -> Vec<IdentityRecord> {
    doc.get("identities")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// What the identity layer found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IdentityOutcome {
    /// How the layer went: `read`, `partial`, `failed` or `skipped`; `count` is the agents
    /// whose identity is known (read now or kept).
    pub layer: LayerReport,
    /// One record per agent whose identity is known, in agent order.
    pub records: Vec<IdentityRecord>,
    /// Identities read from Graph this time.
    pub read: usize,
    /// Identities kept from the previous scan (fresh and unchanged).
    pub kept: usize,
    /// Agents whose identity could not be read.
    pub failed: usize,
}

impl IdentityOutcome {
    fn skipped(detail: &str) -> Self {
        let mut layer = LayerReport::new("skipped", 0);
        layer.detail = Some(detail.to_owned());
        IdentityOutcome {
            layer,
            records: Vec::new(),
            read: 0,
            kept: 0,
            failed: 0,
        }
    }

    /// The observations for `inventory-model`.
    pub fn observations(&self) -> Vec<IdentityObservation> {
        self.records
            .iter()
            .map(IdentityRecord::observation)
            .collect()
    }
}

fn key(agent_id: &str, environment_id: &str) -> (String, String) {
    (
        agent_id.trim().to_ascii_lowercase(),
        environment_id.trim().to_ascii_lowercase(),
    )
}

fn graph_fix(e: &graph_client::Error) -> &'static str {
    match e.status() {
        Some(401 | 403) => {
            " (fix: grant the app the Microsoft Graph application permission Application.Read.All with admin consent, or scan with --identity none)"
        }
        _ => "",
    }
}

/// Reads the identities of the tenant inventory's agents (see the [module](self) docs),
/// reusing `previous` records that are fresh and unchanged.
pub async fn read_identities(
    credential: &SharedCredential,
    clock: &SharedClock,
    options: &IdentityOptions,
    agents: Option<&[TenantAgent]>,
    previous: &[IdentityRecord],
    now: OffsetDateTime,
) -> IdentityOutcome {
    if options.choice == IdentityChoice::None {
        return IdentityOutcome::skipped("--identity none");
    }
    let local = options
        .authority_host
        .as_ref()
        .is_some_and(client_core::is_loopback);
    if options.graph_url.is_none() && local {
        return IdentityOutcome::skipped(
            "the authority host is local and GRAPH_URL is not set: set GRAPH_URL (or --graph-url) to read agent identities",
        );
    }
    let Some(agents) = agents else {
        return IdentityOutcome::skipped(
            "the tenant inventory was not read: it is where agents' Entra app ids come from",
        );
    };
    let wanted: Vec<AgentIdentity> = agents
        .iter()
        .map(AgentIdentity::from_tenant_agent)
        .filter(|a| a.app_id.is_some() || a.agent_identity_id.is_some())
        .collect();
    let kept: BTreeMap<(String, String), &IdentityRecord> = previous
        .iter()
        .map(|r| (key(&r.agent_id, &r.environment_id), r))
        .collect();
    let mut records: Vec<Option<IdentityRecord>> = Vec::with_capacity(wanted.len());
    let mut to_read = Vec::new();
    for (i, a) in wanted.iter().enumerate() {
        match kept.get(&key(&a.agent_id, &a.environment_id)) {
            Some(r) if r.same_identity(a) && r.fresh_at(now, options.max_age) => {
                records.push(Some((*r).clone()));
            }
            _ => {
                records.push(None);
                to_read.push(i);
            }
        }
    }
    let kept_count = wanted.len() - to_read.len();
    let mut outcome = IdentityOutcome {
        layer: LayerReport::new("read", 0),
        records: Vec::new(),
        read: 0,
        kept: kept_count,
        failed: 0,
    };
    if !to_read.is_empty() {
        let graph = match graph_client(credential, clock, options) {
            Ok(g) => g,
            Err(e) => {
                let mut o = IdentityOutcome::skipped("");
                o.layer.status = "failed";
                o.layer.detail = Some(e);
                return o;
            }
        };
        let asked: Vec<AgentIdentity> = to_read.iter().map(|i| wanted[*i].clone()).collect();
        match crate::permissions::agent_reports(&graph, &asked, now, options.concurrency).await {
            Err(e) => {
                // Nothing could be read: a coverage gap of the layer, never a failed scan.
                outcome.layer.status = "failed";
                outcome.layer.detail = Some(format!(
                    "Microsoft Graph did not answer the identity reads: {e}{}",
                    graph_fix(&e)
                ));
                outcome.failed = to_read.len();
                for i in &to_read {
                    records[*i] = None;
                }
            }
            Ok(reports) => {
                let mut first_error = None;
                for (i, r) in to_read.iter().zip(reports) {
                    match r {
                        Some(Ok(report)) => {
                            records[*i] =
                                Some(IdentityRecord::from_report(&wanted[*i], &report, now));
                            outcome.read += 1;
                        }
                        Some(Err(e)) => {
                            outcome.failed += 1;
                            first_error.get_or_insert(format!("{e}{}", graph_fix(&e)));
                        }
                        None => {}
                    }
                }
                if let Some(e) = first_error {
                    outcome.layer.status = if outcome.read + kept_count == 0 {
                        "failed"
                    } else {
                        "partial"
                    };
                    outcome.layer.detail = Some(format!(
                        "{} agent identit(ies) could not be read, e.g.: {e}",
                        outcome.failed
                    ));
                }
            }
        }
    }
    outcome.records = records.into_iter().flatten().collect();
    outcome.layer.count = outcome.records.len();
    if outcome.layer.detail.is_none() {
        outcome.layer.detail = Some(format!(
            "{} read from Microsoft Graph, {} kept from the last scan",
            outcome.read, outcome.kept
        ));
    }
    outcome
}

fn graph_client(
    credential: &SharedCredential,
    clock: &SharedClock,
    options: &IdentityOptions,
) -> Result<GraphClient, String> {
    let mut b = GraphClient::builder(credential.clone())
        .max_concurrency(options.concurrency.max(2))
        .clock(clock.clone());
    if let Some(a) = &options.authority_host {
        b = b.cloud(crate::graph_job::cloud_of(a));
    }
    if let Some(u) = &options.graph_url {
        b = b.base_url(u.as_str());
    }
    b.build()
        .map_err(|e| format!("GRAPH_URL (--graph-url) is not usable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(read_at: &str) -> IdentityRecord {
        IdentityRecord {
            agent_id: "B1".into(),
            environment_id: "E1".into(),
            app_id: Some("a1".into()),
            agent_identity_id: None,
            read_at: read_at.into(),
            service_principal_id: Some("sp".into()),
            application_permissions: vec![PermissionRecord {
                name: "Mail.Send".into(),
                resource: "Microsoft Graph".into(),
                high_privilege: Some("sends mail".into()),
                admin_consent: false,
            }],
            delegated_permissions: Vec::new(),
            credential_problems: vec!["expired".into(), "what".into()],
            orphaned: true,
            findings: Vec::new(),
        }
    }

    #[test]
    fn records_round_trip_to_observations_and_age() {
        let r = record("2026-03-01T00:00:00Z");
        let o = r.observation();
        let p = o.permissions.unwrap();
        assert_eq!(p.excess, ["Mail.Send"]);
        assert_eq!(p.credential_problems, [CredentialProblem::Expired]);
        assert!(p.orphaned);
        let now = time::macros::datetime!(2026-03-01 23:59 UTC);
        assert!(r.fresh_at(now, DEFAULT_MAX_AGE));
        assert!(!r.fresh_at(now + time::Duration::minutes(2), DEFAULT_MAX_AGE));
        assert!(!record("not a time").fresh_at(now, DEFAULT_MAX_AGE));
        let doc =
            serde_json::json!({"identities": [serde_json::to_value(&r).unwrap(), {"bad": 1}]});
        assert_eq!(records_from_document(&doc), [r]);
        assert_eq!(IdentityChoice::parse(" Graph "), Ok(IdentityChoice::Graph));
        assert!(IdentityChoice::parse("arg").is_err());
    }
}

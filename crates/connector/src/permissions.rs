//! `copilot-connector permissions`: what every agent's Entra identity, and the connector's own
//! app, may do in the tenant.
//!
//! For each agent with an Entra app id (or agent identity id) — from a scan document
//! (`--input`, written by `inventory scan --output`) or a fresh read of the tenant inventory —
//! and for the connector's own app: the service principal, application permissions resolved
//! to names, delegated grants (admin consent for everyone, or one user's), the app
//! registration's credentials (expired, expiring within 30 days, secrets valid more than a
//! year) and owners (none: orphaned), with each permission classified against the table of
//! high-privilege permissions. The connector's app is also compared with what its commands
//! need ([`COMMAND_PERMISSIONS`]): anything more is reported.
//!
//! Reading it needs `Application.Read.All` (application permission).

use crate::config::SignIn;
use client_core::{SharedClock, SharedCredential};
use graph_client::{CredentialIssue, GraphClient, IdentityKey, IdentityPosture};
use inventory_model::{CredentialProblem, HeldPermission, IdentityPermissions, TenantAgent};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;

/// JSON batches in flight at once when reading identities.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The Graph permission `permissions` needs.
pub const READ_PERMISSION: &str = "Application.Read.All";

/// What one command needs, for `doctor` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CommandPermissions {
    /// The command.
    pub command: &'static str,
    /// Microsoft Graph application permissions.
    pub graph: &'static [&'static str],
    /// Everything else it needs, in words.
    pub other: &'static str,
}

/// The least each command needs.
pub const COMMAND_PERMISSIONS: [CommandPermissions; 5] = [
    CommandPermissions {
        command: "ingest",
        graph: &[],
        other: "a Dataverse application user in the environment with a security role that reads bot and conversationtranscript (Organization read)",
    },
    CommandPermissions {
        command: "m365",
        graph: &["AiEnterpriseInteraction.Read.All", "User.Read.All"],
        other: "LicenseAssignment.Read.All only to look licences up by part number (optional: without it the Microsoft 365 Copilot skuId is used)",
    },
    CommandPermissions {
        command: "seccopilot",
        graph: &["SecurityCopilotWorkspaces.ReadWrite.All"],
        other: "ingest alone needs only SecurityCopilotWorkspaces.Read.All; a signed-in user also needs a Security Copilot role",
    },
    CommandPermissions {
        command: "inventory",
        graph: &[READ_PERMISSION],
        other: "Application.Read.All only for the agent identity layer (--identity none needs none); Power Platform administrator (or the API's tenant-wide read) for the environment list and the resource query, or Reader on Resource Graph; a Dataverse application user with read access in each environment",
    },
    CommandPermissions {
        command: "permissions",
        graph: &[READ_PERMISSION],
        other: "nothing else (owners that are users are named with Directory.Read.All, optional)",
    },
];

/// Whether `held` is covered by a needed permission (a `.ReadWrite.` grant covers the
/// matching `.Read.` need, not the other way round).
fn needed(held: &str) -> bool {
    COMMAND_PERMISSIONS
        .iter()
        .flat_map(|c| c.graph.iter())
        .any(|n| n.eq_ignore_ascii_case(held))
}

/// Whose identity a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Subject {
    /// An agent.
    Agent {
        /// The bot id.
        agent_id: String,
        /// The environment id.
        environment_id: String,
        /// Its name, when known.
        name: Option<String>,
    },
    /// The connector's own app.
    Connector,
}

/// What was found about one identity.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IdentityReport {
    /// Whose identity.
    pub subject: Subject,
    /// The app id asked about.
    pub app_id: String,
    /// Everything read (`None` when the app has no service principal in the tenant).
    pub posture: Option<IdentityPosture>,
    /// High-privilege permissions held, `(name, why)`.
    pub high_privilege: Vec<(String, String)>,
    /// For the connector's app: application permissions no command needs.
    pub beyond_needs: Vec<String>,
    /// Problems, in words; empty when it is least-privilege and its credentials are sound.
    pub findings: Vec<String>,
}

impl IdentityReport {
    /// No finding: least privilege, sound credentials, an owner.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The verdict in a few words.
    pub fn verdict(&self) -> String {
        if self.findings.is_empty() {
            "least-privilege".to_owned()
        } else {
            self.findings.join("; ")
        }
    }

    /// The inventory model's plain-data view, for an agent's report with a posture.
    pub fn model(&self) -> Option<IdentityPermissions> {
        let (
            Subject::Agent {
                agent_id,
                environment_id,
                ..
            },
            Some(p),
        ) = (&self.subject, &self.posture)
        else {
            return None;
        };
        let mut m = IdentityPermissions::new(
            agent_id.clone(),
            environment_id.clone(),
            p.app_id.clone(),
            p.service_principal.id.clone(),
        );
        for a in &p.application_permissions {
            let mut h = HeldPermission::new(
                a.name.clone().unwrap_or_else(|| a.app_role_id.clone()),
                a.resource.clone(),
            );
            if let Some(why) = a.high_privilege {
                h = h.high_privilege(why);
            }
            m.application.push(h);
        }
        for d in &p.delegated_permissions {
            for (scope, why) in &d.scopes {
                let mut h = HeldPermission::new(
                    scope.clone(),
                    d.resource.clone().unwrap_or_else(|| d.resource_id.clone()),
                );
                if let Some(why) = why {
                    h = h.high_privilege(*why);
                }
                if d.consent_type == graph_client::ConsentType::AllPrincipals {
                    h = h.admin_consented();
                }
                m.delegated.push(h);
            }
        }
        for c in &p.credentials {
            for i in &c.issues {
                match i {
                    CredentialIssue::Expired => {
                        m.credential_problems.push(CredentialProblem::Expired)
                    }
                    CredentialIssue::ExpiringSoon => {
                        m.credential_problems.push(CredentialProblem::ExpiringSoon)
                    }
                    CredentialIssue::LongLivedSecret => m
                        .credential_problems
                        .push(CredentialProblem::LongLivedSecret),
                    _ => {}
                }
            }
        }
        m.orphaned = p.is_orphaned();
        Some(m)
    }
}

/// Reads and judges one identity.
pub async fn report(
    graph: &GraphClient,
    subject: Subject,
    app_id: &str,
    now: OffsetDateTime,
) -> Result<IdentityReport, graph_client::Error> {
    let posture = graph.identity_posture(app_id, now).await?;
    Ok(judge(subject, app_id, posture))
}

/// Judges what was read about one identity (`None`: no service principal in this tenant):
/// high-privilege permissions, for the connector's app what no command needs, credential
/// problems and a missing owner, each as a finding in words.
pub fn judge(subject: Subject, app_id: &str, posture: Option<IdentityPosture>) -> IdentityReport {
    let mut findings = Vec::new();
    let mut high_privilege = Vec::new();
    let mut beyond_needs = Vec::new();
    match &posture {
        None => findings.push("no service principal in this tenant".to_owned()),
        Some(p) => {
            high_privilege = p
                .high_privilege()
                .into_iter()
                .map(|(n, why)| (n, why.to_owned()))
                .collect();
            let admin_or_app: Vec<String> = {
                let mut v: Vec<String> = p
                    .application_permissions
                    .iter()
                    .filter(|a| a.high_privilege.is_some())
                    .filter_map(|a| a.name.clone())
                    .collect();
                for d in &p.delegated_permissions {
                    if d.consent_type == graph_client::ConsentType::AllPrincipals {
                        v.extend(
                            d.scopes
                                .iter()
                                .filter(|(_, why)| why.is_some())
                                .map(|(s, _)| s.clone()),
                        );
                    }
                }
                v.sort();
                v.dedup();
                v
            };
            if !admin_or_app.is_empty() {
                findings.push(format!("over-privileged: {}", admin_or_app.join(", ")));
            }
            if subject == Subject::Connector {
                beyond_needs = p
                    .application_permissions
                    .iter()
                    .map(|a| a.name.clone().unwrap_or_else(|| a.app_role_id.clone()))
                    .filter(|n| !needed(n))
                    .collect();
                if !beyond_needs.is_empty() {
                    findings.push(format!(
                        "holds more than its commands need: {}",
                        beyond_needs.join(", ")
                    ));
                }
            }
            let count = |i: CredentialIssue| {
                p.credentials
                    .iter()
                    .filter(|c| c.issues.contains(&i))
                    .count()
            };
            for (issue, words) in [
                (CredentialIssue::Expired, "expired credential"),
                (
                    CredentialIssue::ExpiringSoon,
                    "credential expiring within 30 days",
                ),
                (
                    CredentialIssue::LongLivedSecret,
                    "secret valid for more than a year",
                ),
            ] {
                let n = count(issue);
                if n > 0 {
                    findings.push(format!("{n} {words}"));
                }
            }
            if p.is_orphaned() {
                findings.push("orphaned: the app registration has no owner".to_owned());
            }
        }
    }
    IdentityReport {
        subject,
        app_id: app_id.to_owned(),
        posture,
        high_privilege,
        beyond_needs,
        findings,
    }
}

/// An agent whose identity to read.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    /// The bot id.
    pub agent_id: String,
    /// The environment id.
    pub environment_id: String,
    /// Its name.
    pub name: Option<String>,
    /// `entraAppId`.
    pub app_id: Option<String>,
    /// `entraAgentId`: the agent identity's service principal object id.
    pub agent_identity_id: Option<String>,
}

impl AgentIdentity {
    /// From a tenant inventory row.
    pub fn from_tenant_agent(a: &TenantAgent) -> Self {
        AgentIdentity {
            agent_id: a.name.clone(),
            environment_id: a.environment_id.clone(),
            name: a.display_name.clone(),
            app_id: a.entra_app_id.clone(),
            agent_identity_id: a.entra_agent_id.clone(),
        }
    }
}

/// The agents of a scan document (`inventory scan --output`): its `fsi_copilotagent` rows.
pub fn agents_from_scan_document(doc: &serde_json::Value) -> Result<Vec<AgentIdentity>, String> {
    let rows = doc
        .get("fsi_copilotagent")
        .and_then(serde_json::Value::as_array)
        .ok_or("the document has no fsi_copilotagent table: give a file written by `inventory scan --output FILE`")?;
    let text = |r: &serde_json::Value, k: &str| {
        r.get(k)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(AgentIdentity {
                agent_id: text(r, "fsi_agentid")?,
                environment_id: text(r, "fsi_environmentid").unwrap_or_default(),
                name: text(r, "fsi_agentname").or_else(|| text(r, "fsi_name")),
                app_id: text(r, "fsi_entraappid"),
                agent_identity_id: text(r, "fsi_entraagentid"),
            })
        })
        .collect())
}

/// Reads the identities of `agents` at once, through Microsoft Graph JSON batches with at
/// most `concurrency` in flight (see [`GraphClient::identity_postures`]): one entry per agent,
/// in order; `None` for an agent with neither an app id nor an agent identity id, or whose
/// agent identity has no service principal here. `inventory scan` and `permissions` both
/// read identities through this function.
///
/// # Errors
/// The outer error: Graph refused or failed the batches as a whole. An inner error: one
/// identity's reads failed.
pub async fn agent_reports(
    graph: &GraphClient,
    agents: &[AgentIdentity],
    now: OffsetDateTime,
    concurrency: usize,
) -> Result<Vec<Option<Result<IdentityReport, graph_client::Error>>>, graph_client::Error> {
    let mut keys = Vec::new();
    let mut asked = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        let key = match (&a.app_id, &a.agent_identity_id) {
            (Some(app), _) => IdentityKey::AppId(app.clone()),
            (None, Some(sp)) => IdentityKey::ServicePrincipal(sp.clone()),
            (None, None) => continue,
        };
        keys.push(key);
        asked.push(i);
    }
    let read = graph.identity_postures(&keys, now, concurrency).await?;
    let mut out: Vec<Option<Result<IdentityReport, graph_client::Error>>> =
        (0..agents.len()).map(|_| None).collect();
    for ((i, key), posture) in asked.into_iter().zip(&keys).zip(read) {
        let a = &agents[i];
        let subject = Subject::Agent {
            agent_id: a.agent_id.clone(),
            environment_id: a.environment_id.clone(),
            name: a.name.clone(),
        };
        out[i] = match (key, posture) {
            (_, Err(e)) => Some(Err(e)),
            (IdentityKey::AppId(app), Ok(p)) => Some(Ok(judge(subject, app, p))),
            (_, Ok(Some(p))) => {
                let app = p.app_id.clone();
                Some(Ok(judge(subject, &app, Some(p))))
            }
            // An agent identity id without a service principal: nothing to report on.
            (_, Ok(None)) => None,
        };
    }
    Ok(out)
}

/// Reads every agent's identity (agents without an app or agent identity id are skipped)
/// and the connector's own app (`connector_app_id`), in that order; the first failure ends it.
pub async fn reports(
    graph: &GraphClient,
    agents: &[AgentIdentity],
    connector_app_id: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<IdentityReport>, graph_client::Error> {
    let mut out = Vec::new();
    for r in agent_reports(graph, agents, now, DEFAULT_CONCURRENCY)
        .await?
        .into_iter()
        .flatten()
    {
        out.push(r?);
    }
    if let Some(app) = connector_app_id {
        out.push(report(graph, Subject::Connector, app, now).await?);
    }
    Ok(out)
}

/// The flags of `permissions`.
#[derive(Debug, clap::Args)]
pub struct PermissionsArgs {
    /// A scan document written by `inventory scan --output FILE` instead of reading the tenant inventory now.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The Microsoft Graph root (default: the cloud's).
    #[arg(long, env = "GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// The Power Platform API base URL, for the tenant inventory.
    #[arg(long, env = "POWER_PLATFORM_API_URL", value_name = "URL")]
    pub power_platform_api_url: Option<String>,
    /// The Azure Resource Manager base URL, for Resource Graph: where the tenant inventory is
    /// read when the Power Platform API refuses an app's token.
    #[arg(long, env = "ARM_URL", value_name = "URL")]
    pub arm_url: Option<String>,
}

fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

use crate::graph_job::complain;

fn graph_fix(e: &graph_client::Error) -> &'static str {
    match e.status() {
        Some(403) => {
            ". Fix: grant the app the Microsoft Graph application permission Application.Read.All with admin consent"
        }
        Some(401) => ". Fix: check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or certificate",
        _ => "",
    }
}

/// Runs `permissions`: 0 when every identity is clean, 4 when something was found, 1 when
/// reading failed, 2 for invalid settings.
pub async fn run(
    args: &PermissionsArgs,
    raw: Result<crate::config::RawConfig, crate::config::ConfigError>,
    json: bool,
) -> ExitCode {
    let sign_in = match raw.and_then(|r| SignIn::from_raw(&r)) {
        Ok(s) => s,
        Err(e) => {
            complain(&e.to_string());
            return ExitCode::from(2);
        }
    };
    let clock: SharedClock = client_core::system_clock();
    let credential: SharedCredential = match crate::credential::from_parts(
        &sign_in.credential,
        sign_in.tenant_id.as_deref(),
        sign_in.client_id,
        &sign_in.authority_host,
        clock.clone(),
    ) {
        Ok(c) => c,
        Err(e) => {
            complain(&e.to_string());
            return ExitCode::from(2);
        }
    };
    let mut builder = GraphClient::builder(credential.clone())
        .cloud(crate::graph_job::cloud_of(&sign_in.authority_host))
        .clock(clock.clone());
    if let Some(u) = &args.graph_url {
        builder = builder.base_url(u);
    }
    let graph = match builder.build() {
        Ok(g) => g,
        Err(e) => {
            complain(&format!("GRAPH_URL (or --graph-url) is not usable: {e}"));
            return ExitCode::from(2);
        }
    };
    let agents = match &args.input {
        Some(path) => {
            let doc = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|t| {
                    serde_json::from_str::<serde_json::Value>(&t)
                        .map_err(|e| format!("{} is not JSON: {e}", path.display()))
                })
                .and_then(|d| agents_from_scan_document(&d));
            match doc {
                Ok(a) => a,
                Err(e) => {
                    complain(&e);
                    return ExitCode::from(2);
                }
            }
        }
        None => {
            let mut b = arg_client::ArgClient::builder(credential).clock(clock.clone());
            if let Some(u) = &args.power_platform_api_url {
                b = b.power_platform_endpoint(u.as_str());
            }
            // The resource query refuses app tokens; the fallback reads Resource Graph, which
            // must be the same cloud's (a private cloud, or the emulator), never public Azure.
            if let Some(u) = &args.arm_url {
                b = b.resource_graph_endpoint(u.as_str());
            }
            let client = match b.build() {
                Ok(c) => c,
                Err(e) => {
                    complain(&format!(
                        "POWER_PLATFORM_API_URL or ARM_URL is not usable: {e}"
                    ));
                    return ExitCode::from(2);
                }
            };
            match crate::inventory::tenant::tenant_agents(
                &client,
                crate::inventory::tenant::InventorySourceChoice::PowerPlatform,
            )
            .await
            {
                Ok((agents, problems)) => {
                    for p in problems {
                        tracing::warn!("{p}");
                    }
                    agents
                        .iter()
                        .map(AgentIdentity::from_tenant_agent)
                        .collect()
                }
                Err(e) => {
                    complain(&format!(
                        "reading the tenant inventory of agents failed: {e}"
                    ));
                    return ExitCode::from(1);
                }
            }
        }
    };
    let connector_app = sign_in.client_id.map(|c| c.to_string());
    let reports = match reports(&graph, &agents, connector_app.as_deref(), clock.now()).await {
        Ok(r) => r,
        Err(e) => {
            complain(&format!(
                "reading identities from Microsoft Graph failed: {e}{}",
                graph_fix(&e)
            ));
            return ExitCode::from(1);
        }
    };
    if json {
        say(&serde_json::to_string(&reports).unwrap_or_default());
    } else {
        print_table(&reports);
    }
    if reports.iter().all(IdentityReport::is_clean) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    }
}

fn print_table(reports: &[IdentityReport]) {
    say("IDENTITY\tAPP ID\tAPPLICATION PERMISSIONS\tDELEGATED\tCREDENTIALS\tOWNERS\tVERDICT");
    for r in reports {
        let who = match &r.subject {
            Subject::Agent { agent_id, name, .. } => {
                format!("agent {}", name.as_deref().unwrap_or(agent_id))
            }
            Subject::Connector => "connector (this app)".to_owned(),
        };
        let (app, delegated, creds, owners) = match &r.posture {
            None => (
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
            ),
            Some(p) => (
                join_or_none(p.application_permissions.iter().map(|a| {
                    a.name
                        .clone()
                        .unwrap_or_else(|| format!("role {}", a.app_role_id))
                })),
                join_or_none(p.delegated_permissions.iter().map(|d| {
                    let who = match d.consent_type {
                        graph_client::ConsentType::AllPrincipals => "everyone",
                        _ => "one user",
                    };
                    let scopes: Vec<&str> = d.scopes.iter().map(|(s, _)| s.as_str()).collect();
                    format!("{} ({who})", scopes.join(" "))
                })),
                format!("{}", p.credentials.len()),
                if p.application_found {
                    format!("{}", p.owners.len())
                } else {
                    "other tenant".to_owned()
                },
            ),
        };
        say(&format!(
            "{who}\t{}\t{app}\t{delegated}\t{creds}\t{owners}\t{}",
            r.app_id,
            r.verdict()
        ));
    }
}

fn join_or_none(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// The `doctor` lines: what each command needs, then (when Graph answers) whether the
/// connector's own app holds more than that.
pub(crate) async fn doctor_checks(
    r: &mut crate::doctor::Report,
    credential: &SharedCredential,
    authority: &url::Url,
    client_id: Option<uuid::Uuid>,
    graph_url: Option<&str>,
    now: OffsetDateTime,
) {
    use crate::doctor::Status;
    const T_NEEDS: &str = "Permissions each command needs";
    const T_OWN: &str = "The connector's app holds no more than that";
    let needs: Vec<String> = COMMAND_PERMISSIONS
        .iter()
        .map(|c| {
            let graph = if c.graph.is_empty() {
                "no Microsoft Graph permission".to_owned()
            } else {
                format!("Microsoft Graph {}", c.graph.join(" + "))
            };
            format!("{}: {graph}; {}", c.command, c.other)
        })
        .collect();
    r.push_check(
        "permissions-needed",
        T_NEEDS,
        Status::Pass,
        needs.join(" | "),
        None,
    );
    let Some(app) = client_id else {
        r.push_check(
            "permissions-held",
            T_OWN,
            Status::Skip,
            "no client id (a managed identity without AZURE_CLIENT_ID): its permissions cannot be looked up",
            None,
        );
        return;
    };
    let loopback = authority.host_str().is_some_and(|h| {
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if graph_url.is_none() && loopback {
        // A local stand-in for Entra has no Microsoft Graph unless one is named.
        r.push_check(
            "permissions-held",
            T_OWN,
            Status::Skip,
            "the authority host is local and GRAPH_URL is not set: set GRAPH_URL to check the app's permissions",
            None,
        );
        return;
    }
    let mut builder = GraphClient::builder(credential.clone())
        .cloud(crate::graph_job::cloud_of(authority))
        .retry_policy(client_core::RetryPolicy::default().with_max_attempts(2));
    if let Some(u) = graph_url {
        builder = builder.base_url(u);
    }
    let graph = match builder.build() {
        Ok(g) => g,
        Err(e) => {
            r.push_check(
                "permissions-held",
                T_OWN,
                Status::Skip,
                format!("GRAPH_URL is not usable: {e}"),
                None,
            );
            return;
        }
    };
    match report(&graph, Subject::Connector, &app.to_string(), now).await {
        Ok(rep) if rep.is_clean() => {
            let held: Vec<String> = rep
                .posture
                .iter()
                .flat_map(|p| p.application_permissions.iter())
                .filter_map(|a| a.name.clone())
                .collect();
            r.push_check(
                "permissions-held",
                T_OWN,
                Status::Pass,
                format!(
                    "least-privilege: app {app} holds {}",
                    if held.is_empty() { "no application permission".to_owned() } else { held.join(", ") }
                ),
                None,
            );
        }
        Ok(rep) => r.push_check(
            "permissions-held",
            T_OWN,
            Status::Warn,
            format!("app {app}: {}", rep.verdict()),
            Some(
                "remove the permissions no command needs (Entra admin center > App registrations > the app > API permissions), rotate expiring or long-lived secrets, and give the app an owner"
                    .to_owned(),
            ),
        ),
        Err(e) => r.push_check(
            "permissions-held",
            T_OWN,
            Status::Skip,
            format!("its permissions could not be read from Microsoft Graph: {e}"),
            Some("grant Application.Read.All (application permission) so doctor and `permissions` can check".to_owned()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_are_known_and_scan_documents_read() {
        assert!(needed("User.Read.All"));
        assert!(needed("application.read.all"));
        assert!(!needed("Mail.Send"));
        let doc = serde_json::json!({"fsi_copilotagent": [
            {"fsi_agentid": "b1", "fsi_environmentid": "e1", "fsi_entraappid": "a1", "fsi_agentname": "Help"},
            {"fsi_agentid": "b2", "fsi_environmentid": "e1"},
            {"fsi_environmentid": "e1"}
        ]});
        let agents = agents_from_scan_document(&doc).unwrap_or_default();
        assert_eq!(agents.len(), 2);
        assert_eq!(agents[0].app_id.as_deref(), Some("a1"));
        assert!(agents_from_scan_document(&serde_json::json!({})).is_err());
    }
}

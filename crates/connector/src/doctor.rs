//! `doctor`: checks the setup step by step and says how to fix each failure.

use crate::config::{Config, ConfigError, SinkConfig};
use crate::connector::Connector;
use crate::sink::{AktoSink, SinkError};
use crate::state::Soundness;
use client_core::{CredentialError, SharedCredential};
use dataverse_client::Filter;
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The role template id of System Administrator (the same in every environment).
pub const SYSTEM_ADMINISTRATOR_TEMPLATE: &str = "627090ff-40a3-4053-8790-584edc5be201";
/// The role template id of System Customizer.
pub const SYSTEM_CUSTOMIZER_TEMPLATE: &str = "119f245c-3cc8-4b62-b31c-d1a046ced15d";

/// Roles known to grant far more than read on `bot` and `conversationtranscript`.
const BROAD_ROLES: &[&str] = &[
    "System Administrator",
    "System Customizer",
    "Environment Maker",
    "Bot Author",
    "Copilot Studio Maker",
    "Delegate",
];

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but should be changed.
    Warn,
    /// Broken: the connector cannot work until it is fixed.
    Fail,
    /// Not run, because an earlier check failed or it does not apply.
    Skip,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// A stable id: `config`, `token`, `whoami`, `read-bots`, `read-transcripts`,
    /// `transcripts-exist`, `roles`, `ingestion`, `state`.
    pub id: &'static str,
    /// What was checked.
    pub title: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (for warnings and failures).
    pub fix: Option<String>,
}

/// The checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether no check failed (warnings allowed).
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// The check with this id.
    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Adds a check (for checks written beside the commands they are about).
    pub(crate) fn push_check(
        &mut self,
        id: &'static str,
        title: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.push(id, title, status, detail, fix);
    }

    fn push(
        &mut self,
        id: &'static str,
        title: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id,
            title,
            status,
            detail: detail.into(),
            fix,
        });
    }

    /// Records a failed Dataverse read of `table`; a 403 gets the fix for the missing rights.
    fn read_failed(
        &mut self,
        id: &'static str,
        title: &'static str,
        e: &dataverse_client::Error,
        table: &str,
    ) {
        let fix = match e.status() {
            Some(403) => forbidden_fix(e, table),
            _ => "see the error; rerun with -v for the request log".into(),
        };
        self.push(id, title, Status::Fail, describe_dv_error(e), Some(fix));
    }

    fn skip(&mut self, id: &'static str, title: &'static str, why: &str) {
        self.push(id, title, Status::Skip, why, None);
    }
}

const T_CONFIG: &str = "Configuration (URLs, ids, credential)";
const T_TOKEN: &str = "Entra ID token for the environment";
const T_WHOAMI: &str = "Dataverse sign-in (WhoAmI)";
const T_BOTS: &str = "Read access to agents (bot)";
const T_TRANSCRIPTS: &str = "Read access to transcripts (conversationtranscript)";
const T_EXIST: &str = "Transcripts exist";
const T_ROLES: &str = "Application user's security roles";
const T_INGEST: &str = "Ingestion endpoint";
const T_STATE: &str = "Checkpoint store";

/// A report for a configuration that did not validate: the first check fails, the rest are
/// skipped.
pub fn config_failure(e: &ConfigError) -> Report {
    let mut r = Report::default();
    r.push(
        "config",
        T_CONFIG,
        Status::Fail,
        e.to_string(),
        e.fix().map(str::to_owned),
    );
    for (id, title) in [
        ("token", T_TOKEN),
        ("whoami", T_WHOAMI),
        ("read-bots", T_BOTS),
        ("read-transcripts", T_TRANSCRIPTS),
        ("transcripts-exist", T_EXIST),
        ("roles", T_ROLES),
        ("ingestion", T_INGEST),
        ("state", T_STATE),
    ] {
        r.skip(id, title, "needs a valid configuration");
    }
    r
}

fn credential_fix(e: &CredentialError) -> String {
    let mut fix = e.hint().map(str::to_owned).unwrap_or_default();
    if fix.is_empty() {
        fix = "check DATAVERSE_TENANT_ID, DATAVERSE_CLIENT_ID and the credential".into();
    }
    fix
}

/// What a Dataverse 403 means, from its error code.
fn forbidden_fix(e: &dataverse_client::Error, table: &str) -> String {
    let code = e.service_code().unwrap_or_default().to_ascii_lowercase();
    let message = e.service_message().unwrap_or_default();
    if code == "0x80040220" || message.contains("missing prv") {
        format!(
            "the application user exists but its security role lacks read on `{table}`: give it a role with Read at Organization scope on `{table}` (Power Platform admin center > Environment > Settings > Users + permissions > Security roles)"
        )
    } else {
        "this app has no application user in the environment, or the user has no role: in the Power Platform admin center open the environment > Settings > Users + permissions > Application users > New app user, pick this app registration, and give it a security role with Read at Organization scope on `bot` and `conversationtranscript`".into()
    }
}

/// What a 403 on `WhoAmI` means. `WhoAmI` needs no table privilege, so the refusal is about the
/// application user itself, not a role's rights on a table.
fn whoami_forbidden_fix(e: &dataverse_client::Error) -> String {
    const STEPS: &str = "in the Power Platform admin center open the environment > Settings > Users + permissions > Application users: if this app registration has no app user there, add one (New app user); if its app user is disabled, activate it; then give it a security role with Read at Organization scope on `bot` and `conversationtranscript`";
    let code = e.service_code().unwrap_or_default().to_ascii_lowercase();
    let message = e.service_message().unwrap_or_default();
    // 0x80072560: "The user is not a member of the organization."
    let cause = if code == "0x80072560" || message.contains("not a member of the organization") {
        "Dataverse knows no enabled application user for this app in this environment (it is missing or disabled)"
    } else {
        "Dataverse refused the application user itself: it is missing or disabled in this environment, or has no security role"
    };
    format!("{cause}: {STEPS}")
}

/// A security role row's `name`.
fn role_name(role: &Value) -> Option<&str> {
    role.get("name").and_then(Value::as_str)
}

fn describe_dv_error(e: &dataverse_client::Error) -> String {
    let mut s = e.to_string();
    if let Some(code) = e
        .service_code()
        .filter(|c| !c.is_empty() && !s.contains(*c))
    {
        s.push_str(&format!(" [code {code}]"));
    }
    s
}

/// Runs every check against `connector`'s environment and destination.
pub async fn run(connector: &Connector, credential: &SharedCredential) -> Report {
    let mut r = Report::default();
    let config = connector.config();
    r.push(
        "config",
        T_CONFIG,
        Status::Pass,
        config_summary(config),
        None,
    );

    // The token, on its own, so an Entra failure is explained as such.
    let scope = connector.dataverse().scope().to_owned();
    let token_ok = match credential.get_token(&[scope.as_str()]).await {
        Ok(token) => {
            let mut detail = format!(
                "{} credential issued a token for {scope}",
                config.credential.kind()
            );
            if let Ok(claims) = entra_auth::TokenClaims::from_jwt(token.token.expose())
                && let Some(app) = claims.app_id()
            {
                detail.push_str(&format!(" (app {app})"));
            }
            r.push("token", T_TOKEN, Status::Pass, detail, None);
            true
        }
        Err(e) => {
            // The hint goes in the fix, not twice.
            let mut detail = e.message().to_owned();
            if let Some(code) = e.code().filter(|c| !detail.contains(*c)) {
                detail.push_str(&format!(" [{code}]"));
            }
            r.push(
                "token",
                T_TOKEN,
                Status::Fail,
                detail,
                Some(credential_fix(&e)),
            );
            false
        }
    };

    let dv = connector.dataverse();
    let who = if token_ok {
        match dv.who_am_i().await {
            Ok(who) => {
                r.push(
                    "whoami",
                    T_WHOAMI,
                    Status::Pass,
                    format!(
                        "signed in as application user {} in organization {}",
                        who.user_id, who.organization_id
                    ),
                    None,
                );
                Some(who)
            }
            Err(e) => {
                let fix = match e.status() {
                    Some(403) => whoami_forbidden_fix(&e),
                    Some(401) => "Dataverse refused the token: check that DATAVERSE_ENVIRONMENT_URL is the environment where the application user was created, and that the tenant is the environment's tenant".into(),
                    Some(404) => "no Dataverse environment at DATAVERSE_ENVIRONMENT_URL: copy the Environment URL from the Power Platform admin center".into(),
                    _ => "check DATAVERSE_ENVIRONMENT_URL and the network path to it".into(),
                };
                r.push(
                    "whoami",
                    T_WHOAMI,
                    Status::Fail,
                    describe_dv_error(&e),
                    Some(fix),
                );
                None
            }
        }
    } else {
        r.skip("whoami", T_WHOAMI, "needs a token");
        None
    };

    if who.is_some() {
        // Agents.
        let q = dv.query("bots").select(["botid", "name"]);
        match dv.rows::<Value>(&q).try_collect::<Vec<Value>>().await {
            Ok(rows) => {
                let mut detail = format!("{} agent(s) readable", rows.len());
                let mut status = Status::Pass;
                let mut fix = None;
                let ids: Vec<Uuid> = rows
                    .iter()
                    .filter_map(|b| b.get("botid").and_then(Value::as_str))
                    .filter_map(|s| Uuid::parse_str(s).ok())
                    .collect();
                let unknown: Vec<String> = config
                    .bot_ids
                    .iter()
                    .filter(|b| !ids.contains(b))
                    .map(Uuid::to_string)
                    .collect();
                if !unknown.is_empty() {
                    status = Status::Fail;
                    detail.push_str(&format!(
                        "; COPILOT_BOT_ID names unknown agent(s): {}",
                        unknown.join(", ")
                    ));
                    fix = Some("list the agents with `copilot-connector agents` and correct COPILOT_BOT_ID".into());
                }
                r.push("read-bots", T_BOTS, status, detail, fix);
            }
            Err(e) => {
                r.read_failed("read-bots", T_BOTS, &e, "bot");
            }
        }

        // Transcripts: access, then existence.
        let mut q = dv
            .query("conversationtranscripts")
            .select(["conversationtranscriptid", "createdon"])
            .order_by("createdon", dataverse_client::Order::Desc)
            .top(1);
        if !config.bot_ids.is_empty() {
            q = q.filter(Filter::in_(
                "_bot_conversationtranscriptid_value",
                config.bot_ids.iter().copied(),
            ));
        }
        match dv.rows::<Value>(&q).try_collect::<Vec<Value>>().await {
            Ok(rows) => {
                r.push(
                    "read-transcripts",
                    T_TRANSCRIPTS,
                    Status::Pass,
                    "conversationtranscripts readable",
                    None,
                );
                match rows.first() {
                    Some(t) => {
                        let when = t.get("createdon").and_then(Value::as_str).unwrap_or("?");
                        r.push(
                            "transcripts-exist",
                            T_EXIST,
                            Status::Pass,
                            format!("latest transcript written {when}"),
                            None,
                        );
                    }
                    None => r.push(
                        "transcripts-exist",
                        T_EXIST,
                        Status::Warn,
                        if config.bot_ids.is_empty() {
                            "no conversation transcript in this environment".to_owned()
                        } else {
                            "no conversation transcript for the agents in COPILOT_BOT_ID".to_owned()
                        },
                        Some("transcripts are only written (1) in production or sandbox environments, not developer or Dataverse for Teams ones, nor for Microsoft 365 Copilot agents; (2) when the agent's Settings > Advanced (or the environment's) allow saving conversation transcripts; (3) about 30 minutes after a conversation ends; (4) with a Copilot Studio licence on the tenant. Have a conversation with a published agent, wait 30 minutes, and run doctor again".into()),
                    ),
                }
            }
            Err(e) => {
                r.read_failed(
                    "read-transcripts",
                    T_TRANSCRIPTS,
                    &e,
                    "conversationtranscript",
                );
                r.skip(
                    "transcripts-exist",
                    T_EXIST,
                    "needs read access to transcripts",
                );
            }
        }
    } else {
        for (id, title) in [
            ("read-bots", T_BOTS),
            ("read-transcripts", T_TRANSCRIPTS),
            ("transcripts-exist", T_EXIST),
        ] {
            r.skip(id, title, "needs a Dataverse sign-in");
        }
    }

    match who {
        Some(who) => roles_check(&mut r, connector, who.user_id).await,
        None => r.skip("roles", T_ROLES, "needs a Dataverse sign-in"),
    }

    match &config.sink {
        SinkConfig::Akto { url, token } => match connector.akto_sink_with(
            url,
            token.clone(),
            // A quick answer: one retry, not the delivery's long patience.
            client_core::RetryPolicy::default()
                .with_max_attempts(2)
                .with_max_elapsed(std::time::Duration::from_secs(15)),
        ) {
            Ok(sink) => ingestion_check(&mut r, &sink).await,
            Err(e) => r.push("ingestion", T_INGEST, Status::Fail, e.to_string(), None),
        },
        SinkConfig::JsonLinesFile(p) => r.skip(
            "ingestion",
            T_INGEST,
            &format!(
                "records go to the file {} (no ingestion service)",
                p.display()
            ),
        ),
        SinkConfig::Stdout => r.skip(
            "ingestion",
            T_INGEST,
            "DATA_INGESTION_SERVICE_URL is not set (records would go to standard output)",
        ),
    }
    state_check(&mut r, &config.state_path);
    r
}

/// [`run`], then the permission statements: what each command needs and, when Microsoft
/// Graph (`graph_url`, or the cloud's) answers, whether the connector's own app holds more
/// (`permissions-needed`, `permissions-held`).
pub async fn run_with_permissions(
    connector: &Connector,
    credential: &SharedCredential,
    graph_url: Option<&str>,
) -> Report {
    let mut r = run(connector, credential).await;
    let config = connector.config();
    crate::permissions::doctor_checks(
        &mut r,
        credential,
        &config.authority_host,
        config.client_id,
        graph_url,
        connector.clock().now(),
    )
    .await;
    r
}

/// Whether the checkpoint store is sound (read-only: doctor never creates or changes it).
fn state_check(r: &mut Report, path: &std::path::Path) {
    let h = crate::state::check(path);
    let status = match h.soundness {
        Soundness::Sound | Soundness::Missing => Status::Pass,
        _ => Status::Fail,
    };
    let detail = format!("{}: {}", h.path.display(), h.detail);
    r.push("state", T_STATE, status, detail, h.fix);
}

fn config_summary(config: &Config) -> String {
    let bots = if config.bot_ids.is_empty() {
        "all agents".to_owned()
    } else {
        format!("{} agent(s)", config.bot_ids.len())
    };
    format!(
        "environment {}, {} credential, {bots}",
        config.environment_url,
        config.credential.kind()
    )
}

async fn roles_check(r: &mut Report, connector: &Connector, user_id: Uuid) {
    let dv = connector.dataverse();
    let q = dv
        .query("systemusers")
        .select(["systemuserid"])
        .filter(Filter::eq("systemuserid", user_id))
        // No $select inside the expansion: the role template is the lookup
        // `_roletemplateid_value` in Dataverse, and naming a column the service does not know
        // would fail the whole query.
        .expand("systemuserroles_association", &[]);
    let rows = match dv.rows::<Value>(&q).try_collect::<Vec<Value>>().await {
        Ok(rows) => rows,
        Err(e) if matches!(e.status(), Some(403)) => {
            // A least-privilege role cannot read users or roles: that is the expected answer.
            r.push(
                "roles",
                T_ROLES,
                Status::Pass,
                "the application user cannot read its own user and role records, as expected of a least-privilege role",
                None,
            );
            return;
        }
        Err(e) => {
            r.push(
                "roles",
                T_ROLES,
                Status::Warn,
                format!("could not list the roles: {}", describe_dv_error(&e)),
                Some("check the application user's roles by hand in the Power Platform admin center: it needs only Read at Organization scope on `bot` and `conversationtranscript`".into()),
            );
            return;
        }
    };
    let roles: Vec<&Value> = rows
        .iter()
        .filter_map(|u| {
            u.get("systemuserroles_association")
                .and_then(Value::as_array)
        })
        .flatten()
        .collect();
    let names: Vec<String> = roles
        .iter()
        .map(|x| role_name(x).unwrap_or("?").to_owned())
        .collect();
    let broad: Vec<String> = roles
        .iter()
        .filter(|x| {
            let name = role_name(x).unwrap_or_default();
            let template = x
                .get("_roletemplateid_value")
                .or_else(|| x.get("roletemplateid"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            template == SYSTEM_ADMINISTRATOR_TEMPLATE
                || template == SYSTEM_CUSTOMIZER_TEMPLATE
                || BROAD_ROLES.iter().any(|b| b.eq_ignore_ascii_case(name))
        })
        .map(|x| role_name(x).unwrap_or("?").to_owned())
        .collect();
    if names.is_empty() {
        r.push(
            "roles",
            T_ROLES,
            Status::Warn,
            "the application user has no security role",
            Some("give it a role with Read at Organization scope on `bot` and `conversationtranscript`".into()),
        );
    } else if !broad.is_empty() {
        r.push(
            "roles",
            T_ROLES,
            Status::Warn,
            format!(
                "roles: {}; {} grant(s) far more than read on the two tables",
                names.join(", "),
                broad.join(", ")
            ),
            Some(format!(
                "remove {} from the application user and keep a custom role with only Read at Organization scope on `bot` and `conversationtranscript` (least privilege: a leaked secret then exposes transcripts, not the environment)",
                broad.join(" and ")
            )),
        );
    } else {
        r.push(
            "roles",
            T_ROLES,
            Status::Pass,
            format!("roles: {}", names.join(", ")),
            None,
        );
    }
}

async fn ingestion_check(r: &mut Report, sink: &AktoSink) {
    match sink.probe().await {
        Ok(()) => r.push(
            "ingestion",
            T_INGEST,
            Status::Pass,
            format!("{} accepted an empty batch", sink.endpoint()),
            None,
        ),
        Err(e) => {
            let fix = match &e {
                SinkError::Rejected { status: 401 | 403, .. } => {
                    "set AKTO_JWT_TOKEN to the ingestion token of this Akto account (sent raw in the `authorization` header)".to_owned()
                }
                SinkError::Rejected { fix, .. } => fix.clone(),
                SinkError::Unavailable { source, .. } if source.status().is_none() => format!(
                    "nothing answered at {}: check DATA_INGESTION_SERVICE_URL, that the service runs, and that this host can reach it (DNS, firewall, proxy)",
                    sink.endpoint()
                ),
                _ => "the service answered with an error: check its logs".to_owned(),
            };
            r.push(
                "ingestion",
                T_INGEST,
                Status::Fail,
                e.to_string(),
                Some(fix),
            );
        }
    }
}

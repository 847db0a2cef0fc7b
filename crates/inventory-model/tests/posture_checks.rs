//! One test per posture check: found (with its evidence), not found, and not
//! evaluated when the data it needs was not observed. Plus settings and the risk rule.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use inventory_model::{
    AgentPosture, BotScan, CheckId, CheckStatus, EnvironmentScan, IdentityObservation,
    InventorySettings, OwnerObservation, OwnerState, PermissionObservation, RiskLevel, ScanInput,
    ScanOutcome, SessionObservation, UsageInput, build_inventory,
};

fn posture_with(input: &ScanInput, settings: &InventorySettings) -> AgentPosture {
    let inv = build_inventory(input, settings);
    inv.postures
        .into_iter()
        .find(|p| p.agent_id == "b1")
        .unwrap()
}

fn posture(input: &ScanInput) -> AgentPosture {
    posture_with(input, &InventorySettings::default())
}

fn status(input: &ScanInput, check: CheckId) -> CheckStatus {
    posture(input).result(check).unwrap().status.clone()
}

/// (source, path, value) of each piece of evidence; panics unless found.
fn evidence(input: &ScanInput, check: CheckId) -> Vec<(String, Option<String>, Option<String>)> {
    match status(input, check) {
        CheckStatus::Found { evidence } => evidence
            .into_iter()
            .map(|e| (e.source_id, e.path.or(e.column), e.value))
            .collect(),
        other => panic!("{check:?} not found: {other:?}"),
    }
}

fn not_evaluated(input: &ScanInput, check: CheckId) {
    let s = status(input, check);
    assert!(
        matches!(s, CheckStatus::NotEvaluated { .. }),
        "{check:?}: {s:?}"
    );
}

fn with_bot(b: BotScan) -> ScanInput {
    one_environment(vec![b])
}

fn plain() -> ScanInput {
    with_bot(scanned_bot(bot("b1", "One"), vec![]))
}

fn with_components(components: Vec<botcomponent_schema::ComponentRow>) -> ScanInput {
    with_bot(scanned_bot(bot("b1", "One"), components))
}

/// The agent is in the inventory but its environment could not be read.
fn unread() -> ScanInput {
    let mut input = one_environment(vec![]);
    input.tenant_agents = Some(vec![inventory_agent("b1", "env-1", "One")]);
    input.environment_scans = vec![EnvironmentScan::new(
        "env-1",
        ScanOutcome::Forbidden {
            detail: "403".into(),
        },
    )];
    input
}

fn connector_tool(mode: Option<&str>, reference: &str, operation: &str) -> String {
    let mode = mode
        .map(|m| format!("  connectionProperties:\n    mode: {m}\n"))
        .unwrap_or_default();
    format!(
        "kind: TaskDialog\nmodelDisplayName: Tool\naction:\n  kind: InvokeConnectorTaskAction\n  connectionReference: {reference}\n{mode}  operationId: {operation}\n"
    )
}

fn topic_with_http(url: &str) -> String {
    format!(
        "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  actions:\n    - kind: HttpRequestAction\n      id: http1\n      method: Get\n      url: {url}\n"
    )
}

const MCP: &str = "kind: McpTool\nconnectorId: /providers/Microsoft.PowerApps/apis/shared_contoso-mcp\nconnectionReference: cr.shared_contoso-mcp.1\nconnectionProperties:\n  mode: Invoker\noperationId: InvokeMCP\n";

#[test]
fn shared_with_everyone() {
    for policy in [0, 3] {
        let mut b = bot("b1", "One");
        b.access_control_policy = Some(policy);
        let e = evidence(
            &with_bot(scanned_bot(b, vec![])),
            CheckId::SharedWithEveryone,
        );
        assert_eq!(e[0].1.as_deref(), Some("bot.accesscontrolpolicy"));
        assert!(e[0].2.as_deref().unwrap().starts_with(&policy.to_string()));
    }
    assert_eq!(
        status(&plain(), CheckId::SharedWithEveryone),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::SharedWithEveryone);
}

#[test]
fn no_end_user_auth() {
    let mut b = bot("b1", "One");
    b.authentication_mode = Some(1);
    let e = evidence(&with_bot(scanned_bot(b, vec![])), CheckId::NoEndUserAuth);
    assert_eq!(e[0].1.as_deref(), Some("bot.authenticationmode"));
    // From the inventory alone.
    let mut input = unread();
    input.tenant_agents.as_mut().unwrap()[0].authentication = Some("None".into());
    let e = evidence(&input, CheckId::NoEndUserAuth);
    assert_eq!(e[0].1.as_deref(), Some("properties.authentication"));
    assert_eq!(
        status(&plain(), CheckId::NoEndUserAuth),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::NoEndUserAuth);
}

#[test]
fn maker_credentials() {
    let input = with_components(vec![component(
        "c1",
        9,
        "Tool",
        Some(connector_tool(
            Some("Maker"),
            "cr.shared_sql.1",
            "ExecuteQuery",
        )),
    )]);
    let e = evidence(&input, CheckId::MakerCredentials);
    assert_eq!(
        e,
        [(
            "c1".into(),
            Some("/action/connectionProperties/mode".into()),
            Some("Maker; connection reference cr.shared_sql.1".into())
        )]
    );
    let absent = with_components(vec![component(
        "c1",
        9,
        "Tool",
        Some(connector_tool(None, "cr.shared_sql.1", "ExecuteQuery")),
    )]);
    assert!(
        evidence(&absent, CheckId::MakerCredentials)[0]
            .2
            .as_deref()
            .unwrap()
            .starts_with("absent")
    );
    let invoker = with_components(vec![component(
        "c1",
        9,
        "Tool",
        Some(connector_tool(
            Some("Invoker"),
            "cr.shared_sql.1",
            "ExecuteQuery",
        )),
    )]);
    assert_eq!(
        status(&invoker, CheckId::MakerCredentials),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::MakerCredentials);
    // Components not completely read: nothing found is not a pass.
    let mut partial = scanned_bot(bot("b1", "One"), vec![]);
    partial.components_read = inventory_model::ReadStatus::Partial {
        detail: "page 2".into(),
    };
    not_evaluated(&with_bot(partial), CheckId::MakerCredentials);
}

#[test]
fn http_request() {
    let input = with_components(vec![component(
        "c1",
        9,
        "Topic",
        Some(topic_with_http("https://api.contoso.com/orders")),
    )]);
    let e = evidence(&input, CheckId::HttpRequest);
    assert_eq!(
        e,
        [(
            "c1".into(),
            Some("/beginDialog/actions/0".into()),
            Some("https://api.contoso.com/orders".into())
        )]
    );
    let mut settings = InventorySettings::default();
    settings
        .posture
        .allowed_http_hosts
        .insert("*.contoso.com".into());
    assert_eq!(
        posture_with(&input, &settings)
            .result(CheckId::HttpRequest)
            .unwrap()
            .status,
        CheckStatus::NotFound
    );
    assert_eq!(
        status(&plain(), CheckId::HttpRequest),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::HttpRequest);
}

#[test]
fn insecure_endpoint() {
    for url in [
        "http://api.contoso.com/orders",
        "https://api.contoso.com:8443/orders",
    ] {
        let input = with_components(vec![component(
            "c1",
            9,
            "Topic",
            Some(topic_with_http(url)),
        )]);
        let e = evidence(&input, CheckId::InsecureEndpoint);
        assert_eq!(
            e,
            [(
                "c1".into(),
                Some("/beginDialog/actions/0/url".into()),
                Some(url.into())
            )]
        );
    }
    let secure = with_components(vec![component(
        "c1",
        9,
        "Topic",
        Some(topic_with_http("https://api.contoso.com:443/x")),
    )]);
    assert_eq!(
        status(&secure, CheckId::InsecureEndpoint),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::InsecureEndpoint);
}

#[test]
fn email_exfiltration() {
    let send = || {
        component(
            "c1",
            9,
            "Send mail",
            Some(connector_tool(
                Some("Invoker"),
                "cr.shared_office365.1",
                "SendEmailV2",
            )),
        )
    };
    let mut b = bot("b1", "One");
    b.configuration = Some(r#"{"settings":{"GenerativeActionsEnabled":true}}"#.into());
    let input = with_bot(scanned_bot(b.clone(), vec![send()]));
    let e = evidence(&input, CheckId::EmailExfiltration);
    assert_eq!(
        e.iter()
            .map(|x| (x.0.as_str(), x.1.as_deref().unwrap()))
            .collect::<Vec<_>>(),
        [
            ("b1", "/settings/GenerativeActionsEnabled"),
            ("c1", "/action/operationId")
        ]
    );
    b.configuration = Some(r#"{"settings":{"GenerativeActionsEnabled":false}}"#.into());
    assert_eq!(
        status(
            &with_bot(scanned_bot(b.clone(), vec![send()])),
            CheckId::EmailExfiltration
        ),
        CheckStatus::NotFound
    );
    // A send tool, but the configuration that says whether the model decides is unreadable.
    b.configuration = Some("{not json".into());
    not_evaluated(
        &with_bot(scanned_bot(b, vec![send()])),
        CheckId::EmailExfiltration,
    );
    not_evaluated(&unread(), CheckId::EmailExfiltration);
}

#[test]
fn external_tools() {
    let input = with_components(vec![component("c1", 9, "MCP", Some(MCP.into()))]);
    let e = evidence(&input, CheckId::ExternalTools);
    assert_eq!(e[0].0, "c1");
    assert_eq!(e[0].1.as_deref(), Some("/kind"));
    assert!(e[0].2.as_deref().unwrap().contains("shared_contoso-mcp"));
    let mut settings = InventorySettings::default();
    settings
        .posture
        .allowed_mcp_hosts
        .insert("shared_contoso-mcp".into());
    assert_eq!(
        posture_with(&input, &settings)
            .result(CheckId::ExternalTools)
            .unwrap()
            .status,
        CheckStatus::NotFound
    );
    assert_eq!(
        status(&plain(), CheckId::ExternalTools),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::ExternalTools);
}

#[test]
fn hard_coded_credentials() {
    let yaml = "kind: TaskDialog\naction:\n  kind: HttpRequestAction\n  headers:\n    Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789\n";
    let input = with_components(vec![component("c1", 9, "Tool", Some(yaml.into()))]);
    let e = evidence(&input, CheckId::HardCodedCredentials);
    assert_eq!(
        e,
        [(
            "c1".into(),
            Some("/action/headers/Authorization".into()),
            Some("bearer token on line 5".into())
        )]
    );
    // The secret itself is never reported.
    let text = serde_json::to_string(&posture(&input)).unwrap();
    assert!(!text.contains("abcdefghijklmnopqrstuvwxyz"), "{text}");
    let mut b = bot("b1", "One");
    b.configuration = Some(r#"{"settings":{"apiKey":"0123456789abcdefghijKLMN"}}"#.into());
    let e = evidence(
        &with_bot(scanned_bot(b, vec![])),
        CheckId::HardCodedCredentials,
    );
    assert_eq!(e[0].1.as_deref(), Some("/settings/apiKey"));
    assert_eq!(
        status(&plain(), CheckId::HardCodedCredentials),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::HardCodedCredentials);
}

#[test]
fn public_knowledge() {
    let yaml = "kind: KnowledgeSourceConfiguration\nsource:\n  kind: PublicSiteSearchSource\n  site: https://www.contoso.com\n";
    let input = with_components(vec![component("c1", 16, "Web", Some(yaml.into()))]);
    assert_eq!(
        evidence(&input, CheckId::PublicKnowledge),
        [(
            "c1".into(),
            Some("/source/kind".into()),
            Some("PublicSiteSearchSource".into())
        )]
    );
    let sharepoint = "kind: KnowledgeSourceConfiguration\nsource:\n  kind: SharePointSearchSource\n  site: https://contoso.sharepoint.com/sites/hr\n";
    let input = with_components(vec![component("c1", 16, "HR", Some(sharepoint.into()))]);
    assert_eq!(
        status(&input, CheckId::PublicKnowledge),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::PublicKnowledge);
}

#[test]
fn orchestration_without_instructions() {
    let mut b = bot("b1", "One");
    b.configuration = Some(r#"{"settings":{"GenerativeActionsEnabled":true}}"#.into());
    let e = evidence(
        &with_bot(scanned_bot(b.clone(), vec![])),
        CheckId::OrchestrationWithoutInstructions,
    );
    assert_eq!(
        e[0].1.as_deref(),
        Some("/settings/GenerativeActionsEnabled")
    );
    let gpt = component(
        "c1",
        15,
        "GPT",
        Some(
            "kind: GptComponentMetadata\ninstructions: Help employees with HR questions.\n".into(),
        ),
    );
    assert_eq!(
        status(
            &with_bot(scanned_bot(b.clone(), vec![gpt])),
            CheckId::OrchestrationWithoutInstructions
        ),
        CheckStatus::NotFound
    );
    b.configuration = Some("{broken".into());
    not_evaluated(
        &with_bot(scanned_bot(b, vec![])),
        CheckId::OrchestrationWithoutInstructions,
    );
    not_evaluated(&unread(), CheckId::OrchestrationWithoutInstructions);
}

fn with_owner(state: OwnerState) -> ScanInput {
    let mut input = plain();
    let mut id = IdentityObservation::new("b1", "env-1");
    id.owner = Some(OwnerObservation::new(
        Some("o1".into()),
        Some("ada@contoso.com".into()),
        state,
    ));
    input.identities = vec![id];
    input
}

#[test]
fn orphaned_owner() {
    let e = evidence(&with_owner(OwnerState::Disabled), CheckId::OrphanedOwner);
    assert_eq!(e[0].2.as_deref(), Some("ada@contoso.com is disabled"));
    assert_eq!(
        evidence(&with_owner(OwnerState::Missing), CheckId::OrphanedOwner)[0]
            .2
            .as_deref(),
        Some("ada@contoso.com is missing")
    );
    assert_eq!(
        status(&with_owner(OwnerState::Active), CheckId::OrphanedOwner),
        CheckStatus::NotFound
    );
    not_evaluated(&plain(), CheckId::OrphanedOwner);
    // The resolved owner is written into the agent row.
    let inv = build_inventory(
        &with_owner(OwnerState::Active),
        &InventorySettings::default(),
    );
    assert_eq!(
        inv.rows.agents[0].owner_upn.as_deref(),
        Some("ada@contoso.com")
    );
}

fn old_bot() -> ScanInput {
    let mut b = bot("b1", "One");
    b.published_on = Some(t("2025-01-01T00:00:00Z"));
    b.modified_on = Some(t("2025-01-01T00:00:00Z"));
    let mut input = with_bot(scanned_bot(b, vec![]));
    input.tenant_agents.as_mut().unwrap()[0].last_published_at = Some(t("2025-01-01T00:00:00Z"));
    input
}

#[test]
fn dormant() {
    let mut input = old_bot();
    input.usage = vec![UsageInput::new(
        "b1",
        "env-1",
        "conversationtranscript",
        365,
    )];
    let e = evidence(&input, CheckId::Dormant);
    assert!(
        e[0].2.as_deref().unwrap().contains("none in 365 days"),
        "{e:?}"
    );
    // Used last week.
    input.usage[0]
        .sessions
        .push(SessionObservation::new("s1", t("2026-06-01T10:00:00Z"), 3));
    assert_eq!(status(&input, CheckId::Dormant), CheckStatus::NotFound);
    // Usage reaches back only 30 days: unused for 180 days cannot be known.
    let mut input = old_bot();
    input.usage = vec![UsageInput::new("b1", "env-1", "conversationtranscript", 30)];
    not_evaluated(&input, CheckId::Dormant);
    not_evaluated(&old_bot(), CheckId::Dormant);
    // Recently changed agents are not dormant whatever the usage.
    assert_eq!(status(&plain(), CheckId::Dormant), CheckStatus::NotFound);
}

#[test]
fn autonomous_trigger() {
    let yaml = "kind: ExternalTriggerConfiguration\nexternalTriggerSource:\n  kind: WorkflowExternalTrigger\n  flowId: 15d5e6f6-abc5-f011-bbd3-00224809c7ea\nextensionData:\n  triggerConnectionType: Office 365 Outlook\n";
    let input = with_components(vec![component("c1", 17, "On new mail", Some(yaml.into()))]);
    let e = evidence(&input, CheckId::AutonomousTrigger);
    assert_eq!(e[0].1.as_deref(), Some("/externalTriggerSource"));
    assert!(e[0].2.as_deref().unwrap().contains("Office 365 Outlook"));
    assert_eq!(
        status(&plain(), CheckId::AutonomousTrigger),
        CheckStatus::NotFound
    );
    not_evaluated(&unread(), CheckId::AutonomousTrigger);
}

#[test]
fn coverage_gap_is_never_not_evaluated() {
    let e = evidence(&unread(), CheckId::CoverageGap);
    assert!(
        e[0].2
            .as_deref()
            .unwrap()
            .starts_with("inventory_only.environment_unreadable"),
        "{e:?}"
    );
    assert_eq!(
        status(&plain(), CheckId::CoverageGap),
        CheckStatus::NotFound
    );
    let mut partial = scanned_bot(bot("b1", "One"), vec![]);
    partial.components_read = inventory_model::ReadStatus::Failed {
        detail: "500".into(),
    };
    let e = evidence(&with_bot(partial), CheckId::CoverageGap);
    assert_eq!(e[0].2.as_deref(), Some("components not completely read"));
}

#[test]
fn over_privileged_identity() {
    let mut input = plain();
    let mut id = IdentityObservation::new("b1", "env-1");
    id.permissions = Some(PermissionObservation::new(
        "sp-1",
        vec!["Mail.ReadWrite".into(), "Directory.ReadWrite.All".into()],
    ));
    input.identities = vec![id.clone()];
    let e = evidence(&input, CheckId::OverPrivilegedIdentity);
    assert_eq!(
        e,
        [(
            "sp-1".into(),
            Some("permissions".into()),
            Some("Directory.ReadWrite.All, Mail.ReadWrite".into())
        )]
    );
    id.permissions = Some(PermissionObservation::new("sp-1", vec![]));
    input.identities = vec![id];
    assert_eq!(
        status(&input, CheckId::OverPrivilegedIdentity),
        CheckStatus::NotFound
    );
    not_evaluated(&plain(), CheckId::OverPrivilegedIdentity);
}

#[test]
fn identity_hygiene() {
    use inventory_model::CredentialProblem;
    let mut input = plain();
    let mut id = IdentityObservation::new("b1", "env-1");
    id.permissions = Some(PermissionObservation::new("sp-1", vec![]).hygiene(
        vec![
            CredentialProblem::Expired,
            CredentialProblem::LongLivedSecret,
            CredentialProblem::Expired,
        ],
        true,
    ));
    input.identities = vec![id.clone()];
    let e = evidence(&input, CheckId::IdentityHygiene);
    assert_eq!(
        e,
        [
            (
                "sp-1".into(),
                Some("credentials".into()),
                Some("1 secret valid for more than a year".into())
            ),
            (
                "sp-1".into(),
                Some("credentials".into()),
                Some("2 expired credential".into())
            ),
            (
                "sp-1".into(),
                Some("owners".into()),
                Some("the app registration has no owner".into())
            ),
        ]
    );
    // Excess permissions alone are the other check's finding, not this one's.
    id.permissions = Some(PermissionObservation::new("sp-1", vec!["Mail.Send".into()]));
    input.identities = vec![id];
    assert_eq!(
        status(&input, CheckId::IdentityHygiene),
        CheckStatus::NotFound
    );
    not_evaluated(&plain(), CheckId::IdentityHygiene);
}

#[test]
fn disabled_checks_are_reported_as_disabled_and_do_not_count() {
    let mut b = bot("b1", "One");
    b.access_control_policy = Some(0);
    let input = with_bot(scanned_bot(b, vec![]));
    let mut settings = InventorySettings::default();
    settings
        .posture
        .disabled
        .insert(CheckId::SharedWithEveryone);
    let p = posture_with(&input, &settings);
    assert_eq!(
        p.result(CheckId::SharedWithEveryone).unwrap().status,
        CheckStatus::Disabled
    );
    assert!(p.results.iter().all(|r| !r.is_found()));
}

fn full_observation(mut input: ScanInput) -> ScanInput {
    let mut id = IdentityObservation::new("b1", "env-1");
    id.owner = Some(OwnerObservation::new(
        Some("o1".into()),
        None,
        OwnerState::Active,
    ));
    id.permissions = Some(PermissionObservation::new("sp", vec![]));
    input.identities = vec![id];
    let mut usage = UsageInput::new("b1", "env-1", "conversationtranscript", 30);
    usage
        .sessions
        .push(SessionObservation::new("s1", t("2026-06-08T10:00:00Z"), 2));
    input.usage = vec![usage];
    input
}

#[test]
fn the_risk_rule() {
    // Everything observed, nothing found: Low.
    let p = posture(&full_observation(plain()));
    assert_eq!(p.risk, RiskLevel::Low, "{:?}", p.results);
    // Nothing found but checks not evaluated: Unknown, never Low.
    assert_eq!(posture(&plain()).risk, RiskLevel::Unknown);
    // The highest severity found.
    let mcp = full_observation(with_components(vec![component(
        "c1",
        9,
        "MCP",
        Some(MCP.into()),
    )]));
    assert_eq!(posture(&mcp).risk, RiskLevel::Medium);
    let mut b = bot("b1", "One");
    b.access_control_policy = Some(0);
    assert_eq!(
        posture(&full_observation(with_bot(scanned_bot(b.clone(), vec![])))).risk,
        RiskLevel::High
    );
    // Shared with everyone and no authentication: Critical.
    b.authentication_mode = Some(1);
    assert_eq!(
        posture(&full_observation(with_bot(scanned_bot(b, vec![])))).risk,
        RiskLevel::Critical
    );
    // Open reach and maker credentials: Critical.
    let mut b = bot("b1", "One");
    b.authentication_mode = Some(1);
    let maker = component(
        "c1",
        9,
        "Tool",
        Some(connector_tool(
            Some("Maker"),
            "cr.shared_sql.1",
            "ExecuteQuery",
        )),
    );
    assert_eq!(
        posture(&full_observation(with_bot(scanned_bot(b, vec![maker])))).risk,
        RiskLevel::Critical
    );
    // An unread agent: the coverage gap (Medium) is a lower bound.
    assert_eq!(posture(&unread()).risk, RiskLevel::Medium);
}

#[test]
fn compliance_rows_carry_risk_and_violations() {
    let mut b = bot("b1", "One");
    b.access_control_policy = Some(0);
    let inv = build_inventory(
        &full_observation(with_bot(scanned_bot(b, vec![]))),
        &InventorySettings::default(),
    );
    let c = &inv.rows.compliance[0];
    assert_eq!(c.risk_level, Some(RiskLevel::High));
    assert_eq!(c.violation_count, Some(1));
    let v: serde_json::Value = serde_json::from_str(c.violations_json.as_deref().unwrap()).unwrap();
    assert_eq!(v[0]["check"], "shared-with-everyone");
    assert_eq!(v[0]["severity"], "high");
    assert_eq!(v[0]["evidence"][0]["column"], "bot.accesscontrolpolicy");
}

#[test]
fn violations_read_back_typed_from_the_compliance_row() {
    let input = full_observation(with_components(vec![
        component("c1", 9, "MCP", Some(MCP.into())),
        component(
            "c2",
            9,
            "Tool",
            Some(connector_tool(
                Some("Maker"),
                "cr.shared_sql.1",
                "ExecuteQuery",
            )),
        ),
    ]));
    let inv = build_inventory(&input, &InventorySettings::default());
    let violations = inv.rows.compliance[0].violations().unwrap();
    assert_eq!(violations, inv.postures[0].violations());
    let checks: Vec<&str> = violations.iter().map(|v| v.check.as_str()).collect();
    assert_eq!(checks, ["maker-credentials", "external-tools"]);
    assert_eq!(violations[0].severity, inventory_model::Severity::High);
    assert_eq!(violations[0].evidence[0].source_id, "c2");
    let mut broken = inv.rows.compliance[0].clone();
    broken.violations_json = Some("[{".into());
    let err = broken.violations().unwrap_err();
    assert_eq!(err.column(), Some("fsi_violationsjson"));
    assert_eq!(
        inv.rows.auth_shares[0].viewer_group_ids().unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn violations_stay_valid_json_when_evidence_overflows_the_column() {
    // 3,000 secret-looking lines in each of 200 components: far more evidence than
    // 100,000 characters hold.
    let yaml = format!(
        "kind: TaskDialog\nnotes:\n{}",
        "  - password: Hunter2Hunter2Hunter2\n".repeat(3000)
    );
    let components = (0..200)
        .map(|i| component(&format!("c{i:03}"), 9, "Noisy", Some(yaml.clone())))
        .collect();
    let inv = build_inventory(&with_components(components), &InventorySettings::default());
    let c = &inv.rows.compliance[0];
    assert!(c.violations_json.as_deref().unwrap().chars().count() <= 100_000);
    let violations = c.violations().unwrap();
    let secrets = violations
        .iter()
        .find(|v| v.check == "hard-coded-credentials")
        .unwrap();
    assert_eq!(secrets.evidence.len(), 20);
    // 20 located and one "N more" entry per component.
    assert_eq!(secrets.evidence_total, Some(200 * 21));
    use inventory_model::InventoryRow;
    c.validate().unwrap();
}

#[test]
fn an_unread_tenant_inventory_is_not_a_gap_of_each_agent() {
    let mut input = plain();
    input.tenant_agents = None;
    assert_eq!(status(&input, CheckId::CoverageGap), CheckStatus::NotFound);
    let inv = build_inventory(&input, &InventorySettings::default());
    assert!(
        inv.coverage
            .iter()
            .any(|c| c.kind == inventory_model::CoverageKind::InventoryUnavailable)
    );
    // An unexplained Dataverse-only agent is a gap.
    let mut input = plain();
    input.tenant_agents = Some(vec![]);
    assert!(matches!(
        status(&input, CheckId::CoverageGap),
        CheckStatus::Found { .. }
    ));
}

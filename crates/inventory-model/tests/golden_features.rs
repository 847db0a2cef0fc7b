//! Golden: the real component samples (copied from botcomponent-schema's fixtures)
//! grouped into the bots they came from, mapped to feature rows. Every expected row
//! below was written by hand from the YAML/JSON of the sample and the mapping rules
//! in `src/mapping.rs` (one row per configuration, per component and per
//! many-to-many target; feature type by content; V1/V2 by component type).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use inventory_model::{
    AgentFeatureRow, CheckId, CheckStatus, InventorySettings, RelatedTarget, Relationship,
    build_inventory,
};
use serde_json::Value;

fn with_config(mut b: inventory_model::BotRecord, file: &str) -> inventory_model::BotRecord {
    b.configuration = Some(fixture(file));
    b
}

fn bots() -> Vec<inventory_model::BotScan> {
    let mut lookup = scanned_bot(
        with_config(
            bot("b-lookup", "Account Data Lookup Agent"),
            "01_bot.configuration__CopilotStudioSamples_account-lookup.json",
        ),
        vec![
            component(
                "c03",
                15,
                "Account Data Lookup Agent",
                Some(fixture(
                    "03_ct15_GptComponentMetadata__account-lookup.data.yaml",
                )),
            ),
            component(
                "c04",
                9,
                "Greeting",
                Some(fixture("04_ct9_AdaptiveDialog_Greeting.data.yaml")),
            ),
            component(
                "c05",
                9,
                "On Error",
                Some(fixture("05_ct9_AdaptiveDialog_OnError.data.yaml")),
            ),
            component(
                "c06",
                9,
                "Microsoft Dataverse - Perform an unbound action in selected environment",
                Some(fixture("06_ct9_TaskDialog_connector.data.yaml")),
            ),
            component(
                "c07",
                9,
                "Agent",
                Some(fixture("07_ct9_AgentDialog.data.yaml")),
            ),
        ],
    );
    lookup.components[2].state_code = Some(1);
    lookup.related = vec![
        RelatedTarget::new(
            "c07",
            Relationship::ConnectionReference,
            "t-conn-dataverse",
            Some("Microsoft Dataverse connection".into()),
        ),
        RelatedTarget::new(
            "c06",
            Relationship::ConnectionReference,
            "t-conn-dataverse",
            Some("Microsoft Dataverse connection".into()),
        ),
    ];
    let mut orders_gpt = component(
        "c10",
        15,
        "Orders Agent GPT",
        Some(fixture(
            "10_ct15_GptComponentMetadata_webBrowsing.data.yaml",
        )),
    );
    orders_gpt.schema_name = Some("cr26e_OrdersAgent.gpt.default".into());
    let orders = scanned_bot(
        with_config(
            bot("b-orders", "Orders Agent"),
            "02_bot.configuration__CopilotStudioSamples_OrdersAgent.json",
        ),
        vec![
            component(
                "c09",
                9,
                "orders mcp",
                Some(fixture("09_ct9_TaskDialog_MCP.data.yaml")),
            ),
            orders_gpt,
        ],
    );
    let contoso = scanned_bot(
        bot("b-contoso", "Contoso Agent"),
        vec![component(
            "c08",
            13,
            "Handoff Skill",
            Some(fixture("08_ct13_SkillDefinition.data.yaml")),
        )],
    );
    let mut interview = scanned_bot(
        bot("b-interview", "Interview Agent"),
        vec![
            component(
                "c11",
                16,
                "Resume, Job Role, Job Application, Evaluation Criteria, Candidate",
                Some(fixture("11_ct16_KnowledgeSource_Dataverse.data.yaml")),
            ),
            component(
                "c13",
                18,
                "Content Moderation",
                Some(fixture("13_ct18_ContentModerationSettings.data.yaml")),
            ),
        ],
    );
    interview.related = vec![RelatedTarget::new(
        "c11",
        Relationship::DataverseTableSearch,
        "t-dvtable-resume",
        Some("Resume".into()),
    )];
    let mut hiring = scanned_bot(
        with_config(
            bot("b-hiring", "Hiring Agent"),
            "16_bot.configuration__workshop_hiringAgent.json",
        ),
        vec![
            component(
                "c12",
                17,
                "When a new email arrives from an applicant",
                Some(fixture("12_ct17_ExternalTriggerConfiguration.data.yaml")),
            ),
            component(
                "c14",
                18,
                "Feedback",
                Some(fixture("14_ct18_DefaultFeedbackCollection.data.yaml")),
            ),
            component(
                "c15",
                15,
                "Hiring Agent GPT",
                Some(fixture(
                    "15_ct15_GptComponentMetadata_hiringAgent.data.yaml",
                )),
            ),
        ],
    );
    hiring.related = vec![RelatedTarget::new(
        "c12",
        Relationship::Workflow,
        "t-flow-email",
        Some("When a new email arrives".into()),
    )];
    // The VS Code extension's settings file (sample 18) names the bot; its
    // configuration is YAML there, not the `bot.configuration` JSON column.
    let settings = botcomponent_schema::McsSettingsFile::parse(&fixture(
        "18_settings.mcs.yml__vscode-extension_HRBuddy.yaml",
    ))
    .unwrap();
    let mut hr_bot = bot("b-hrbuddy", settings.display_name.as_deref().unwrap());
    hr_bot.template = settings.template.clone();
    let hr = scanned_bot(
        hr_bot,
        vec![component(
            "c17",
            16,
            "HR Documents",
            Some(fixture("17_ct16_KnowledgeSource_SharePoint.mcs.yml")),
        )],
    );
    let store = scanned_bot(
        with_config(
            bot("b-store", "Store Associate Assistant"),
            "19_bot.configuration__cliagent_agentSettings.json",
        ),
        vec![
            component(
                "c20",
                9,
                "card-reissue",
                Some(fixture("20_ct9_InlineAgentSkill.data.yaml")),
            ),
            component(
                "c22",
                9,
                "Store Policy Agent",
                Some(fixture("22_ct9_ConnectedAgentTool.data.yaml")),
            ),
        ],
    );
    let inventory = scanned_bot(
        bot("b-inventory", "Inventory Fulfilment Agent"),
        vec![component(
            "c21",
            9,
            "Warehouse MCP Server",
            Some(fixture("21_ct9_McpTool.data.yaml")),
        )],
    );
    let reviewer = scanned_bot(
        bot("b-reviewer", "Agent Reviewer"),
        vec![component(
            "c23",
            15,
            "Agent Reviewer GPT",
            Some(fixture(
                "23_ct15_GptComponentMetadata_conversationStarters.data.yaml",
            )),
        )],
    );
    vec![
        lookup, orders, contoso, interview, hiring, hr, store, inventory, reviewer,
    ]
}

type Expected = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<i32>,
    &'static str,
    &'static str,
    bool,
);

fn row_tuple(
    r: &AgentFeatureRow,
) -> (
    String,
    String,
    String,
    String,
    Option<i32>,
    String,
    String,
    bool,
) {
    use inventory_model::OptionSetValue;
    (
        r.agent_id.clone(),
        r.source_object_id.clone(),
        r.name.clone().unwrap(),
        r.feature_type.unwrap().label().to_owned(),
        r.component_type,
        r.component_version.unwrap().label().to_owned(),
        r.relationship_name.clone().unwrap(),
        r.is_enabled.unwrap_or(true),
    )
}

#[test]
fn the_real_samples_map_to_the_feature_rows_reviewed_by_hand() {
    let inventory = build_inventory(&one_environment(bots()), &InventorySettings::default());
    #[rustfmt::skip]
    let expected: Vec<Expected> = vec![
        ("b-contoso", "b-contoso", "Copilot Settings: Contoso Agent", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-contoso", "c08", "Skill: Handoff Skill", "Skill", Some(13), "V2", "botcomponent", true),
        ("b-hiring", "b-hiring", "Copilot Settings: Hiring Agent", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-hiring", "c12", "External Trigger: When a new email arrives from an applicant", "External Trigger", Some(17), "Not Applicable", "botcomponent", true),
        ("b-hiring", "c14", "Copilot Settings: Feedback", "Copilot Settings", Some(18), "Not Applicable", "botcomponent", true),
        ("b-hiring", "c15", "Custom GPT: Hiring Agent GPT", "Custom GPT", Some(15), "Not Applicable", "botcomponent", true),
        ("b-hiring", "t-flow-email", "Power Automate Flow: When a new email arrives", "Power Automate Flow", None, "Not Applicable", "botcomponent_workflow", true),
        ("b-hrbuddy", "b-hrbuddy", "Copilot Settings: HR Buddy", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-hrbuddy", "c17", "Knowledge Source: HR Documents", "Knowledge Source", Some(16), "Not Applicable", "botcomponent", true),
        ("b-interview", "b-interview", "Copilot Settings: Interview Agent", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-interview", "c11", "Knowledge Source: Resume, Job Role, Job Application, Evaluation Criteria, Candidate", "Knowledge Source", Some(16), "Not Applicable", "botcomponent", true),
        ("b-interview", "c13", "Copilot Settings: Content Moderation", "Copilot Settings", Some(18), "Not Applicable", "botcomponent", true),
        ("b-interview", "t-dvtable-resume", "Dataverse Search Grounding: Resume", "Dataverse Search Grounding", None, "Not Applicable", "botcomponent_dvtablesearch", true),
        ("b-inventory", "b-inventory", "Copilot Settings: Inventory Fulfilment Agent", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-inventory", "c21", "Tool / Plugin: Warehouse MCP Server", "Tool / Plugin", Some(9), "V2", "botcomponent", true),
        ("b-lookup", "b-lookup", "Copilot Settings: Account Data Lookup Agent", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-lookup", "c03", "Custom GPT: Account Data Lookup Agent", "Custom GPT", Some(15), "Not Applicable", "botcomponent", true),
        ("b-lookup", "c04", "Topic: Greeting", "Topic", Some(9), "V2", "botcomponent", true),
        ("b-lookup", "c05", "Topic: On Error", "Topic", Some(9), "V2", "botcomponent", false),
        ("b-lookup", "c06", "Connector: Microsoft Dataverse - Perform an unbound action in selected environment", "Connector", Some(9), "V2", "botcomponent", true),
        ("b-lookup", "c07", "Tool / Plugin: Agent", "Tool / Plugin", Some(9), "V2", "botcomponent", true),
        ("b-lookup", "t-conn-dataverse", "Connector: Microsoft Dataverse connection", "Connector", None, "Not Applicable", "botcomponent_connectionreference", true),
        ("b-orders", "b-orders", "Copilot Settings: Orders Agent", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-orders", "c09", "Tool / Plugin: orders mcp", "Tool / Plugin", Some(9), "V2", "botcomponent", true),
        ("b-orders", "c10", "Custom GPT: Orders Agent GPT", "Custom GPT", Some(15), "Not Applicable", "botcomponent", true),
        ("b-reviewer", "b-reviewer", "Copilot Settings: Agent Reviewer", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-reviewer", "c23", "Custom GPT: Agent Reviewer GPT", "Custom GPT", Some(15), "Not Applicable", "botcomponent", true),
        ("b-store", "b-store", "Copilot Settings: Store Associate Assistant", "Copilot Settings", None, "Not Applicable", "bot", true),
        ("b-store", "c20", "Skill: card-reissue", "Skill", Some(9), "V2", "botcomponent", true),
        ("b-store", "c22", "Tool / Plugin: Store Policy Agent", "Tool / Plugin", Some(9), "V2", "botcomponent", true),
    ];
    let actual: Vec<_> = inventory.rows.features.iter().map(row_tuple).collect();
    let expected: Vec<_> = expected
        .into_iter()
        .map(|e| {
            (
                e.0.to_owned(),
                e.1.to_owned(),
                e.2.to_owned(),
                e.3.to_owned(),
                e.4,
                e.5.to_owned(),
                e.6.to_owned(),
                e.7,
            )
        })
        .collect();
    assert_eq!(actual, expected);
    for row in &inventory.rows.features {
        use inventory_model::InventoryRow;
        row.validate().unwrap();
        assert_eq!(row.environment_id.as_deref(), Some("env-1"));
        assert_eq!(row.run_id.as_deref(), Some(RUN));
        assert_eq!(row.agent_ref_provisional, Some(false));
    }
}

fn detail(inventory: &inventory_model::Inventory, source: &str) -> Value {
    let row = inventory
        .rows
        .features
        .iter()
        .find(|r| r.source_object_id == source)
        .unwrap();
    serde_json::from_str(row.detection_detail.as_deref().unwrap()).unwrap()
}

#[test]
fn feature_details_carry_what_governance_needs() {
    let inventory = build_inventory(&one_environment(bots()), &InventorySettings::default());
    let c06 = detail(&inventory, "c06");
    assert_eq!(c06["toolKind"], "connector");
    assert_eq!(c06["connectionMode"], "Maker");
    assert_eq!(c06["operationId"], "PerformUnboundActionWithOrganization");
    assert_eq!(c06["connector"], "shared_commondataserviceforapps");
    let c09 = detail(&inventory, "c09");
    assert_eq!(c09["toolKind"], "mcp_server");
    assert_eq!(c09["protocol"], "ModelContextProtocolMetadata");
    let c21 = detail(&inventory, "c21");
    assert_eq!(c21["kind"], "McpTool");
    assert_eq!(
        c21["connector"],
        "shared_new-5fwarehouse-20mcp-5fee08b8354fad177a"
    );
    assert_eq!(
        detail(&inventory, "c11")["sourceKind"],
        "DataverseStructuredSearchSource"
    );
    assert_eq!(
        detail(&inventory, "c12")["sourceKind"],
        "WorkflowExternalTrigger"
    );
    assert_eq!(
        detail(&inventory, "c10")["capabilities"]["webBrowsing"],
        true
    );
    assert_eq!(detail(&inventory, "c10")["hasInstructions"], false);
    assert_eq!(detail(&inventory, "c04")["trigger"], "OnRecognizedIntent");
    let config = detail(&inventory, "b-lookup");
    assert_eq!(config["generativeOrchestration"], true);
    assert_eq!(config["useModelKnowledge"], true);
    let merged = detail(&inventory, "t-conn-dataverse");
    assert_eq!(merged["components"], serde_json::json!(["c06", "c07"]));
    for row in &inventory.rows.features {
        assert!(row.detection_detail.as_deref().unwrap().chars().count() <= 4000);
    }
}

#[test]
fn the_samples_posture_reviewed_by_hand() {
    let inventory = build_inventory(&one_environment(bots()), &InventorySettings::default());
    let posture = |agent: &str, check: CheckId| {
        let p = inventory
            .postures
            .iter()
            .find(|p| p.agent_id == agent)
            .unwrap();
        p.result(check).unwrap().status.clone()
    };
    let found = |agent: &str, check: CheckId| -> Vec<(String, Option<String>)> {
        match posture(agent, check) {
            CheckStatus::Found { evidence } => evidence
                .into_iter()
                .map(|e| (e.source_id, e.path))
                .collect(),
            other => panic!("{agent} {check:?}: {other:?}"),
        }
    };
    // Sample 06: a Dataverse connector action with `connectionProperties.mode: Maker`.
    assert_eq!(
        found("b-lookup", CheckId::MakerCredentials),
        [(
            "c06".to_owned(),
            Some("/action/connectionProperties/mode".to_owned())
        )]
    );
    // Sample 01: aISettings.useModelKnowledge true.
    assert_eq!(
        found("b-lookup", CheckId::PublicKnowledge),
        [(
            "b-lookup".to_owned(),
            Some("/aISettings/useModelKnowledge".to_owned())
        )]
    );
    // Sample 07 is a child agent inside the agent, not an external one.
    assert_eq!(
        posture("b-lookup", CheckId::ExternalTools),
        CheckStatus::NotFound
    );
    // Sample 09: an MCP server through InvokeExternalAgentTaskAction, maker credentials.
    assert_eq!(
        found("b-orders", CheckId::ExternalTools),
        [("c09".to_owned(), Some("/action/kind".to_owned()))]
    );
    assert_eq!(
        found("b-orders", CheckId::MakerCredentials),
        [(
            "c09".to_owned(),
            Some("/action/connectionProperties/mode".to_owned())
        )]
    );
    // Sample 10: webBrowsing true and empty instructions; sample 02: generative on, model knowledge on.
    assert_eq!(
        found("b-orders", CheckId::PublicKnowledge),
        [
            (
                "b-orders".to_owned(),
                Some("/aISettings/useModelKnowledge".to_owned())
            ),
            (
                "c10".to_owned(),
                Some("/gptCapabilities/webBrowsing".to_owned())
            ),
        ]
    );
    assert_eq!(
        found("b-orders", CheckId::OrchestrationWithoutInstructions),
        [(
            "b-orders".to_owned(),
            Some("/settings/GenerativeActionsEnabled".to_owned())
        )]
    );
    // Sample 15 has instructions, so the hiring agent's orchestration is instructed.
    assert_eq!(
        posture("b-hiring", CheckId::OrchestrationWithoutInstructions),
        CheckStatus::NotFound
    );
    // Sample 12: a new e-mail starts the hiring agent.
    assert_eq!(
        found("b-hiring", CheckId::AutonomousTrigger),
        [("c12".to_owned(), Some("/externalTriggerSource".to_owned()))]
    );
    // Sample 21: an MCP tool with a connection reference and no mode.
    assert_eq!(
        found("b-inventory", CheckId::ExternalTools),
        [("c21".to_owned(), Some("/kind".to_owned()))]
    );
    assert_eq!(
        found("b-inventory", CheckId::MakerCredentials),
        [(
            "c21".to_owned(),
            Some("/connectionProperties/mode".to_owned())
        )]
    );
    // Sample 22: a connected agent.
    assert_eq!(
        found("b-store", CheckId::ExternalTools),
        [("c22".to_owned(), Some("/kind".to_owned()))]
    );
    // No sample holds a secret.
    for p in &inventory.postures {
        assert_eq!(
            p.result(CheckId::HardCodedCredentials).unwrap().status,
            CheckStatus::NotFound,
            "{}",
            p.agent_id
        );
    }
}

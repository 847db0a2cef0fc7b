//! Behaviour the issue asks for, beyond the golden samples.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use botcomponent_schema::{
    ActionDetail, AgentFeatures, BotRow, ComponentContent, ComponentFamily, ComponentRow,
    ComponentType, ComponentTypeRegistry, ConnectionMode, FeatureDetail, FeatureType,
    GenerativeAnswers, KnowledgeSelection, ParseError, ParsedComponent, SchemaGeneration, Tool,
    ToolType, Topic, UnrecognizedReason, ValueSource, agent_features, parse_component,
};

fn parse(component_type: i32, data: &str) -> ParsedComponent {
    parse_component(&ComponentTypeRegistry::builtin(), component_type, data).unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn unrecognized(parsed: &ParsedComponent) -> Vec<(String, UnrecognizedReason)> {
    parsed
        .unrecognized
        .iter()
        .map(|u| (u.path.clone(), u.reason.clone()))
        .collect()
}

fn topic(parsed: &ParsedComponent) -> &Topic {
    match &parsed.content {
        ComponentContent::Topic(t) => t,
        other => panic!("not a topic: {other:?}"),
    }
}

fn tool(parsed: &ParsedComponent) -> &Tool {
    match &parsed.content {
        ComponentContent::Tool(t) => t,
        other => panic!("not a tool: {other:?}"),
    }
}

fn key(path: &str) -> (String, UnrecognizedReason) {
    (path.to_owned(), UnrecognizedReason::UnknownKey)
}

#[test]
fn unknown_component_type_is_returned_with_what_could_be_read() {
    let parsed = parse(23, "kind: McpTool\noperationId: InvokeMCP\n");
    assert_eq!(parsed.component_type, ComponentType::Unknown(23));
    assert_eq!(parsed.type_label, "Unknown (23)");
    assert_eq!(parsed.family, ComponentFamily::Unknown);
    assert_eq!(parsed.generation, SchemaGeneration::NotApplicable);
    assert_eq!(tool(&parsed).operation_id.as_deref(), Some("InvokeMCP"));
    assert!(parsed.unrecognized.is_empty());
    // Unknown type and unknown kind: still a component, classed Other.
    let parsed = parse(23, "kind: Hologram\nbeam: on\n");
    assert_eq!(parsed.content, ComponentContent::Unknown);
    assert_eq!(FeatureType::for_component(&parsed), FeatureType::Other);
    let json = serde_json::to_value(&parsed).unwrap();
    assert_eq!(json["component_type"], 23);
}

#[test]
fn unknown_kind_is_recorded_once_and_the_component_returned() {
    let parsed = parse(
        9,
        "kind: FancyNewDialog\r\nmodelDisplayName: x\r\nwhatever:\r\n  deep: 1\r\n",
    );
    assert_eq!(parsed.kind.as_deref(), Some("FancyNewDialog"));
    assert_eq!(parsed.content, ComponentContent::Unknown);
    assert_eq!(
        unrecognized(&parsed),
        vec![(
            "/kind".to_owned(),
            UnrecognizedReason::UnknownKind {
                kind: "FancyNewDialog".into()
            }
        )]
    );
    // Type 9 holds tools as well as topics: an unknown kind there is not called a topic.
    assert_eq!(FeatureType::for_component(&parsed), FeatureType::Other);
    // Where the type says it all (type 16 holds only knowledge sources), the family classifies.
    let parsed = parse(16, "kind: FancyNewKnowledge\n");
    assert_eq!(
        FeatureType::for_component(&parsed),
        FeatureType::KnowledgeSource
    );

    let parsed = parse(16, "source:\n  kind: SharePointSearchSource\n");
    assert_eq!(
        unrecognized(&parsed),
        vec![(String::new(), UnrecognizedReason::MissingKind)]
    );
}

#[test]
fn unknown_action_kind_inside_a_topic_still_finds_nested_actions() {
    let data = "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnConversationStart\n  id: main\n  actions:\n    \
                - kind: TeleportAction\n      id: t1\n      target: mars\n      actions:\n        \
                - kind: InvokeFlowAction\n          id: f1\n          flowId: abc\n";
    let parsed = parse(9, data);
    let actions = &topic(&parsed).actions;
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].kind, "TeleportAction");
    assert_eq!(actions[1].path, "/beginDialog/actions/0/actions/0");
    assert_eq!(
        actions[1].detail,
        Some(ActionDetail::InvokeFlow {
            flow_id: Some("abc".into())
        })
    );
    assert_eq!(
        unrecognized(&parsed),
        vec![(
            "/beginDialog/actions/0/kind".to_owned(),
            UnrecognizedReason::UnknownKind {
                kind: "TeleportAction".into()
            }
        )]
    );
}

#[test]
fn unknown_keys_are_reported_at_every_depth() {
    let data = "\
kind: AdaptiveDialog
topLevelExtra: 1
beginDialog:
  kind: OnRecognizedIntent
  id: main
  triggerExtra: 2
  intent:
    displayName: Greeting
    intentExtra: 3
    triggerQueries:
      - hi
  actions:
    - kind: ConditionGroup
      id: c1
      groupExtra: 4
      conditions:
        - id: i1
          condition: =true
          itemExtra: 5
          actions:
            - kind: SendActivity
              id: s1
              activity: hello
              sendExtra: 6
";
    let parsed = parse(9, data);
    assert_eq!(
        unrecognized(&parsed),
        vec![
            key("/beginDialog/intent/intentExtra"),
            key("/beginDialog/actions/0/conditions/0/actions/0/sendExtra"),
            key("/beginDialog/actions/0/conditions/0/itemExtra"),
            key("/beginDialog/actions/0/groupExtra"),
            key("/beginDialog/triggerExtra"),
            key("/topLevelExtra"),
        ]
    );
    // What was understood is still there.
    let t = topic(&parsed);
    assert_eq!(t.trigger.as_ref().unwrap().trigger_phrases, ["hi"]);
    assert_eq!(t.actions.len(), 2);

    let data = "\
kind: TaskDialog
modelDisplayName: Send mail
inputs:
  - kind: AutomaticTaskInput
    propertyName: to
    inputExtra: 1
action:
  kind: InvokeExternalAgentTaskAction
  connectionReference: cr.shared_mcp.1
  actionExtra: 2
  operationDetails:
    kind: ModelContextProtocolMetadata
    operationId: InvokeServer
    detailsExtra: 3
";
    let parsed = parse(9, data);
    assert_eq!(
        unrecognized(&parsed),
        vec![
            key("/inputs/0/inputExtra"),
            key("/action/operationDetails/detailsExtra"),
            key("/action/actionExtra")
        ]
    );
    assert_eq!(tool(&parsed).tool_kind, ToolType::McpServer);

    let data = "\
kind: GptComponentMetadata
instructions: x
aISettings:
  aiExtra: 1
  model:
    modelNameHint: GPT41
    modelExtra: 2
gptCapabilities:
  webBrowsing: false
  capabilityAsText: sometimes
mcs.metadata:
  componentName: n
  metaExtra: 3
";
    let parsed = parse(15, data);
    assert_eq!(
        unrecognized(&parsed),
        vec![
            key("/mcs.metadata/metaExtra"),
            key("/gptCapabilities/capabilityAsText"),
            key("/aISettings/model/modelExtra"),
            key("/aISettings/aiExtra"),
        ]
    );
}

#[test]
fn unexpected_shapes_and_duplicates_are_reported() {
    let data = "kind: McpTool\noperationId:\n  - a\nconnectorId: x\nconnectorId: y\n";
    let parsed = parse(9, data);
    assert_eq!(
        unrecognized(&parsed),
        vec![
            (
                "/operationId".to_owned(),
                UnrecognizedReason::UnexpectedShape {
                    expected: "string".into(),
                    found: "sequence".into()
                }
            ),
            ("/connectorId".to_owned(), UnrecognizedReason::DuplicateKey),
        ]
    );
    assert_eq!(tool(&parsed).connector_id.as_deref(), Some("x"));
}

#[test]
fn crlf_and_bom_parse_like_lf() {
    let lf = "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  intent:\n    triggerQueries:\n      \
              - Hello\n  actions:\n    - kind: SendActivity\n      activity: |-\n        line one\n        line two\n";
    let crlf = format!("\u{feff}{}", lf.replace('\n', "\r\n"));
    let a = parse(9, lf);
    let b = parse(9, &crlf);
    assert_eq!(a, b);
    assert_eq!(
        topic(&b).actions[0].detail,
        Some(ActionDetail::SendMessage {
            text: vec!["line one\nline two".into()]
        })
    );
    assert!(b.unrecognized.is_empty());
}

#[test]
fn trigger_phrases_yes_no_on_off_stay_strings_as_written() {
    let data = "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  intent:\n    triggerQueries:\n      \
                - yes\n      - no\n      - on\n      - off\n      - Y\n      - True\n      - 0x1F\n      - 1.50\n      \
                - \"null\"\n";
    let parsed = parse(9, data);
    assert_eq!(
        topic(&parsed).trigger.as_ref().unwrap().trigger_phrases,
        [
            "yes", "no", "on", "off", "Y", "True", "0x1F", "1.50", "null"
        ]
    );
    assert!(parsed.unrecognized.is_empty());
}

#[test]
fn empty_data_is_an_empty_component() {
    for data in ["", "   \r\n", "# nothing here\n", "~", "null", "\u{feff}"] {
        let parsed = parse(9, data);
        assert_eq!(parsed.content, ComponentContent::Empty, "{data:?}");
        assert!(parsed.kind.is_none());
        assert!(parsed.unrecognized.is_empty(), "{data:?}");
        // An empty type-9 row could be a topic or any tool: not classified as a topic.
        assert_eq!(FeatureType::for_component(&parsed), FeatureType::Other);
        let parsed = parse(15, data);
        assert_eq!(FeatureType::for_component(&parsed), FeatureType::CustomGpt);
    }
}

#[test]
fn a_document_that_is_not_a_mapping_is_reported() {
    let parsed = parse(9, "- a\n- b\n");
    assert_eq!(parsed.content, ComponentContent::Unknown);
    assert_eq!(
        unrecognized(&parsed),
        vec![(
            String::new(),
            UnrecognizedReason::UnexpectedShape {
                expected: "mapping".into(),
                found: "sequence".into()
            }
        )]
    );
    let parsed = parse(9, "kind: McpTool\n---\nkind: McpTool\n");
    assert_eq!(
        unrecognized(&parsed),
        vec![(
            String::new(),
            UnrecognizedReason::ExtraDocuments { count: 1 }
        )]
    );
}

#[test]
fn invalid_yaml_is_an_error_with_a_position() {
    let err = parse_component(
        &ComponentTypeRegistry::builtin(),
        9,
        "kind: AdaptiveDialog\nbeginDialog: [\n",
    )
    .unwrap_err();
    assert!(matches!(err, ParseError::Yaml { .. }), "{err:?}");
    assert!(err.line() >= 2, "{err}");
    assert!(err.to_string().contains("line"));
}

#[test]
fn type_9_components_of_each_kind_are_told_apart() {
    let flow = "kind: TaskDialog\nmodelDisplayName: Approve\naction:\n  kind: InvokeFlowTaskAction\n  flowId: 42\n";
    let cases: Vec<(String, &str, Option<ToolType>, FeatureType)> = vec![
        (
            fixture("04_ct9_AdaptiveDialog_Greeting.data.yaml"),
            "AdaptiveDialog",
            None,
            FeatureType::Topic,
        ),
        (
            fixture("06_ct9_TaskDialog_connector.data.yaml"),
            "TaskDialog",
            Some(ToolType::Connector),
            FeatureType::Connector,
        ),
        (
            flow.to_owned(),
            "TaskDialog",
            Some(ToolType::Flow),
            FeatureType::PowerAutomateFlow,
        ),
        (
            fixture("09_ct9_TaskDialog_MCP.data.yaml"),
            "TaskDialog",
            Some(ToolType::McpServer),
            FeatureType::ToolPlugin,
        ),
        (
            fixture("07_ct9_AgentDialog.data.yaml"),
            "AgentDialog",
            Some(ToolType::ChildAgent),
            FeatureType::ToolPlugin,
        ),
        (
            fixture("21_ct9_McpTool.data.yaml"),
            "McpTool",
            Some(ToolType::McpServer),
            FeatureType::ToolPlugin,
        ),
        (
            fixture("22_ct9_ConnectedAgentTool.data.yaml"),
            "ConnectedAgentTool",
            Some(ToolType::ConnectedAgent),
            FeatureType::ToolPlugin,
        ),
        (
            fixture("20_ct9_InlineAgentSkill.data.yaml"),
            "InlineAgentSkill",
            Some(ToolType::InlineSkill),
            FeatureType::Skill,
        ),
    ];
    for (data, kind, tool_kind, feature_type) in cases {
        let parsed = parse(9, &data);
        assert_eq!(parsed.kind.as_deref(), Some(kind));
        match tool_kind {
            Some(expected) => assert_eq!(tool(&parsed).tool_kind, expected, "{kind}"),
            None => {
                topic(&parsed);
            }
        }
        assert_eq!(FeatureType::for_component(&parsed), feature_type, "{kind}");
        assert!(
            parsed.unrecognized.is_empty(),
            "{kind}: {:?}",
            parsed.unrecognized
        );
    }
    assert_eq!(tool(&parse(9, flow)).flow_id.as_deref(), Some("42"));
}

#[test]
fn topic_actions_carry_their_governance_detail() {
    let data = "\
kind: AdaptiveDialog
beginDialog:
  kind: OnUnknownIntent
  id: main
  actions:
    - kind: Question
      id: q
      variable: Topic.Answer
      prompt: Which account?
      entity: StringPrebuiltEntity
    - kind: SearchAndSummarizeContent
      id: g
      userInput: =System.Activity.Text
      variable: Topic.Answer
      webBrowsing: true
      knowledgeSources:
        kind: SearchSpecificKnowledgeSources
        knowledgeSources:
          - cr_agent.knowledge.policies
      publicDataSource:
        sites:
          - https://contoso.com/docs
      sharePointSearchDataSource:
        sites: https://contoso.sharepoint.com/sites/hr
      fileSearchDataSource:
        searchFilesMode:
          kind: DoNotSearchFiles
    - kind: HttpRequestAction
      id: h
      method: Post
      url: https://api.contoso.com/v1/orders
    - kind: InvokeConnectorAction
      id: c
      connectionReference: cr.shared_office365.1
      connectionProperties:
        mode: Invoker
      operationId: SendEmailV2
    - kind: InvokeAIBuilderModelAction
      id: ai
      aIModelId: 8a1b
    - kind: InvokeSkillAction
      id: sk
      skillId: cr_agent.skill.Handoff
      actionId: sendMessage
    - kind: InvokeMcpToolAction
      id: m
      serverSchemaName: cr_agent.mcp.orders
      toolName: get_order
    - kind: BeginDialog
      id: r
      dialog: cr_agent.topic.Escalate
";
    let parsed = parse(9, data);
    assert!(parsed.unrecognized.is_empty(), "{:?}", parsed.unrecognized);
    let details: Vec<_> = topic(&parsed)
        .actions
        .iter()
        .map(|a| a.detail.clone().unwrap())
        .collect();
    // GenerativeAnswers is non-exhaustive, so that detail is compared as JSON.
    assert_eq!(
        serde_json::to_value(&details[1]).unwrap(),
        serde_json::json!({
            "type": "generative_answers",
            "user_input": "=System.Activity.Text",
            "variable": "Topic.Answer",
            "web_browsing": true,
            "knowledge_sources": {"mode": "specific", "sources": ["cr_agent.knowledge.policies"]},
            "public_sites": ["https://contoso.com/docs"],
            "sharepoint_sites": ["https://contoso.sharepoint.com/sites/hr"],
            "file_search": true
        })
    );
    assert!(matches!(
        &details[1],
        ActionDetail::GenerativeAnswers(GenerativeAnswers {
            knowledge_sources: Some(KnowledgeSelection::Specific { .. }),
            ..
        })
    ));
    let mut others = details.clone();
    others.remove(1);
    assert_eq!(
        others,
        vec![
            ActionDetail::Question {
                variable: Some("Topic.Answer".into()),
                prompt: vec!["Which account?".into()],
                entity: Some("StringPrebuiltEntity".into()),
            },
            ActionDetail::HttpRequest {
                method: Some("Post".into()),
                url: Some("https://api.contoso.com/v1/orders".into())
            },
            ActionDetail::InvokeConnector {
                connection_reference: Some("cr.shared_office365.1".into()),
                connection_mode: Some(botcomponent_schema::ConnectionMode::Invoker),
                operation_id: Some("SendEmailV2".into()),
            },
            ActionDetail::InvokeAiBuilderModel {
                model_id: Some("8a1b".into())
            },
            ActionDetail::InvokeSkill {
                skill_id: Some("cr_agent.skill.Handoff".into()),
                action_id: Some("sendMessage".into())
            },
            ActionDetail::InvokeMcpTool {
                server_schema_name: Some("cr_agent.mcp.orders".into()),
                tool_name: Some("get_order".into()),
            },
            ActionDetail::Redirect {
                dialog: Some("cr_agent.topic.Escalate".into())
            },
        ]
    );
}

fn row(id: &str, component_type: i32, fixture_name: &str) -> ComponentRow {
    let mut row = ComponentRow::new(id, component_type, Some(fixture(fixture_name)));
    row.name = Some(fixture_name.to_owned());
    row.state_code = Some(0);
    row
}

fn features_of(agent: &AgentFeatures) -> Vec<(String, FeatureType)> {
    agent
        .features
        .iter()
        .map(|f| (f.source_id.clone(), f.feature_type))
        .collect()
}

#[test]
fn newer_agent_without_a_type_15_component_takes_instructions_from_agent_settings() {
    let mut bot = BotRow::new("bot-cli");
    bot.template = Some("cliagent-1.0.0".into());
    bot.configuration = Some(fixture("19_bot.configuration__cliagent_agentSettings.json"));
    let rows = [
        row("c-skill", 9, "20_ct9_InlineAgentSkill.data.yaml"),
        row("c-mcp", 9, "21_ct9_McpTool.data.yaml"),
        row("c-agent", 9, "22_ct9_ConnectedAgentTool.data.yaml"),
    ];
    let agent = agent_features(&ComponentTypeRegistry::builtin(), &bot, &rows);
    assert_eq!(
        features_of(&agent),
        vec![
            ("bot-cli".to_owned(), FeatureType::CopilotSettings),
            ("c-skill".to_owned(), FeatureType::Skill),
            ("c-mcp".to_owned(), FeatureType::ToolPlugin),
            ("c-agent".to_owned(), FeatureType::ToolPlugin),
        ]
    );
    let instructions = agent.instructions.clone().unwrap();
    assert_eq!(instructions.from, ValueSource::AgentSettings);
    assert_eq!(instructions.source_id, "bot-cli");
    assert!(
        instructions
            .value
            .starts_with("You are the Store Associate Assistant for BlastBox Omega")
    );
    let model = agent.model.unwrap();
    assert_eq!(
        (model.value.as_str(), model.from),
        ("Sonnet46", ValueSource::AgentSettings)
    );
    assert!(
        agent
            .features
            .iter()
            .all(|f| f.feature_type != FeatureType::CustomGpt)
    );
    assert_eq!(agent.features[1].is_enabled, Some(true));
    assert_eq!(
        agent.features[1].component_version,
        Some(SchemaGeneration::V2)
    );
}

#[test]
fn classic_agent_takes_instructions_from_its_default_gpt_component() {
    let mut bot = BotRow::new("bot-hiring");
    bot.configuration = Some(fixture("16_bot.configuration__workshop_hiringAgent.json"));
    let mut other_gpt = row(
        "c-gpt-other",
        15,
        "10_ct15_GptComponentMetadata_webBrowsing.data.yaml",
    );
    other_gpt.schema_name = Some("cr63f_hiringAgent.gpt.other".into());
    let mut default_gpt = row(
        "c-gpt",
        15,
        "15_ct15_GptComponentMetadata_hiringAgent.data.yaml",
    );
    default_gpt.schema_name = Some("cr63f_hiringAgent.gpt.default".into());
    let rows = [
        other_gpt,
        default_gpt,
        row(
            "c-trigger",
            17,
            "12_ct17_ExternalTriggerConfiguration.data.yaml",
        ),
        row(
            "c-feedback",
            18,
            "14_ct18_DefaultFeedbackCollection.data.yaml",
        ),
        row("c-ks", 16, "11_ct16_KnowledgeSource_Dataverse.data.yaml"),
    ];
    let agent = agent_features(&ComponentTypeRegistry::builtin(), &bot, &rows);
    let instructions = agent.instructions.clone().unwrap();
    assert_eq!(instructions.from, ValueSource::CustomGptComponent);
    assert_eq!(instructions.source_id, "c-gpt");
    assert!(
        instructions
            .value
            .starts_with("You are the central orchestrator")
    );
    assert_eq!(agent.model.as_ref().unwrap().value, "GPT41");
    assert_eq!(
        features_of(&agent)[1..]
            .iter()
            .map(|f| f.1)
            .collect::<Vec<_>>(),
        vec![
            FeatureType::CustomGpt,
            FeatureType::CustomGpt,
            FeatureType::ExternalTrigger,
            FeatureType::CopilotSettings,
            FeatureType::KnowledgeSource,
        ]
    );
}

#[test]
fn unreadable_payloads_keep_their_rows() {
    let mut bot = BotRow::new("b");
    bot.configuration = Some("{not json".into());
    let rows = [
        ComponentRow::new("bad", 16, Some("source: [unclosed\n".into())),
        ComponentRow::new("none", 9, None),
        ComponentRow::new("future", 40, Some("kind: HoloDeck\n".into())),
        ComponentRow::new("bad9", 9, Some("kind: [unclosed\n".into())),
    ];
    let agent = agent_features(&ComponentTypeRegistry::builtin(), &bot, &rows);
    assert_eq!(
        features_of(&agent),
        vec![
            ("b".to_owned(), FeatureType::CopilotSettings),
            ("bad".to_owned(), FeatureType::KnowledgeSource),
            // Type 9 with nothing readable: not assumed to be a topic.
            ("none".to_owned(), FeatureType::Other),
            ("future".to_owned(), FeatureType::Other),
            ("bad9".to_owned(), FeatureType::Other),
        ]
    );
    assert!(
        matches!(&agent.features[0].detail, FeatureDetail::Unreadable { error } if error.contains("JSON"))
    );
    assert!(
        matches!(&agent.features[1].detail, FeatureDetail::Unreadable { error } if error.contains("line"))
    );
    assert!(
        matches!(&agent.features[2].detail, FeatureDetail::Component(c) if c.content == ComponentContent::Empty)
    );
    assert_eq!(
        agent.features[3].component_type(),
        Some(ComponentType::Unknown(40))
    );
    assert_eq!(agent.features[3].is_enabled, None);
    assert!(agent.instructions.is_none());
}

#[test]
fn rows_deserialise_from_dataverse_json_and_features_serialise() {
    let body = serde_json::json!({
        "@odata.etag": "W/\"1\"",
        "botcomponentid": "0b0e...",
        "name": "orders mcp",
        "schemaname": "cr26e_OrdersAgent.topic.ordersmcp",
        "componenttype": 9,
        "componenttype@OData.Community.Display.V1.FormattedValue": "Topic (V2)",
        "statecode": 1,
        "data": fixture("09_ct9_TaskDialog_MCP.data.yaml")
    });
    let row: ComponentRow = serde_json::from_value(body).unwrap();
    let bot: BotRow =
        serde_json::from_value(serde_json::json!({"botid": "b1", "name": "Orders"})).unwrap();
    let agent = agent_features(&ComponentTypeRegistry::builtin(), &bot, &[row]);
    let json = serde_json::to_value(&agent).unwrap();
    assert_eq!(json["agent_id"], "b1");
    assert_eq!(json["features"][1]["feature_type"], "tool_plugin");
    assert_eq!(json["features"][1]["is_enabled"], false);
    assert_eq!(json["features"][1]["detail"]["source"], "component");
    assert_eq!(
        json["features"][1]["detail"]["content"]["tool_kind"],
        "mcp_server"
    );
    let back: AgentFeatures = serde_json::from_value(json).unwrap();
    assert_eq!(back, agent);
}

#[test]
fn refreshed_labels_flow_into_parsed_components() {
    let mut registry = ComponentTypeRegistry::builtin();
    registry
        .refresh_from_option_set_bytes(
            br#"{"Options":[{"Value":9,"Label":{"LocalizedLabels":[{"Label":"Topic","LanguageCode":1033}],"UserLocalizedLabel":null}},
                           {"Value":23,"Label":{"UserLocalizedLabel":{"Label":"Agent Tool"},"LocalizedLabels":[]}}]}"#,
        )
        .unwrap();
    let parsed = parse_component(&registry, 9, "kind: McpTool\n").unwrap();
    assert_eq!(parsed.type_label, "Topic");
    let parsed = parse_component(&registry, 23, "kind: McpTool\n").unwrap();
    assert_eq!(parsed.type_label, "Agent Tool");
    assert_eq!(parsed.component_type, ComponentType::Unknown(23));
}

#[test]
fn further_triggers_and_child_agent_actions_are_kept() {
    let data = "\
kind: AdaptiveDialog
beginDialog:
  kind: OnRecognizedIntent
  intent:
    triggerQueries: [refund]
triggers:
  - kind: OnEventActivity
    id: ev
    actions:
      - kind: InvokeFlowAction
        id: f
        flowId: f-1
";
    let parsed = parse(9, data);
    let t = topic(&parsed);
    assert_eq!(t.other_triggers.len(), 1);
    assert_eq!(t.other_triggers[0].kind, "OnEventActivity");
    assert_eq!(t.actions[0].path, "/triggers/0/actions/0");
    assert!(parsed.unrecognized.is_empty(), "{:?}", parsed.unrecognized);

    let data = "\
kind: AgentDialog
beginDialog:
  kind: OnToolSelected
  id: main
  description: Handles refunds
  actions:
    - kind: HttpRequestAction
      id: h
      method: Get
      url: https://refunds.contoso.com
settings:
  instructions: Be brief.
";
    let parsed = parse(9, data);
    let child = tool(&parsed);
    assert_eq!(child.description.as_deref(), Some("Handles refunds"));
    assert_eq!(child.instructions.as_deref(), Some("Be brief."));
    assert_eq!(
        child.actions[0].detail,
        Some(ActionDetail::HttpRequest {
            method: Some("Get".into()),
            url: Some("https://refunds.contoso.com".into())
        })
    );
}

#[test]
fn configuration_reports_unknown_keys_at_every_depth() {
    let json = r#"{
        "$kind": "BotConfiguration",
        "rootExtra": 1,
        "settings": {"GenerativeActionsEnabled": true, "Flag": false, "Level": "High"},
        "aISettings": {"$kind": "AISettings", "useModelKnowledge": "yes", "aiExtra": 2},
        "recognizer": {"$kind": "GenerativeAIRecognizer", "recExtra": 3},
        "channels": [{"channelId": "msteams", "chanExtra": 4}],
        "gPTSettings": {"defaultSchemaName": "x.gpt.default", "gptExtra": 5},
        "agentSettings": {
            "$kind": "AgentSettings",
            "model": {"$kind": "ModelConfig", "series": "GPT5", "modelExtra": 6},
            "instructions": {"$kind": "Instructions", "segments": [
                {"$kind": "StaticSegment", "value": "Be kind. "},
                {"$kind": "ToolReferenceSegment", "tool": "x"},
                {"$kind": "StaticSegment", "value": "Be brief.", "segExtra": 7}
            ]},
            "agentExtra": 8
        }
    }"#;
    let config = botcomponent_schema::BotConfiguration::parse(json).unwrap();
    let reported: Vec<_> = config
        .unrecognized
        .iter()
        .map(|u| (u.path.clone(), u.reason.clone()))
        .collect();
    assert_eq!(
        reported,
        vec![
            ("/settings/Level".to_owned(), UnrecognizedReason::UnknownKey),
            (
                "/aISettings/useModelKnowledge".to_owned(),
                UnrecognizedReason::UnexpectedShape {
                    expected: "boolean".into(),
                    found: "string".into()
                }
            ),
            key("/aISettings/aiExtra"),
            key("/recognizer/recExtra"),
            key("/channels/0/chanExtra"),
            key("/gPTSettings/gptExtra"),
            key("/agentSettings/model/modelExtra"),
            (
                "/agentSettings/instructions/segments/1/$kind".to_owned(),
                UnrecognizedReason::UnknownKind {
                    kind: "ToolReferenceSegment".into()
                }
            ),
            key("/agentSettings/instructions/segments/2/segExtra"),
            key("/agentSettings/agentExtra"),
            key("/rootExtra"),
        ]
    );
    assert_eq!(config.generative_actions, Some(true));
    assert_eq!(config.other_settings.get("Flag"), Some(&false));
    assert_eq!(config.use_model_knowledge, None);
    let settings = config.agent_settings.unwrap();
    assert_eq!(settings.model.as_deref(), Some("GPT5"));
    assert_eq!(settings.instructions.as_deref(), Some("Be kind. Be brief."));
}

#[test]
fn unknown_keys_inside_modelled_sub_structures_are_reported() {
    let data = "kind: AdaptiveDialog
beginDialog:
  kind: OnRecognizedIntent
  id: main
  actions:
    - kind: SendActivity
      id: s1
      activity:
        text:
          - hello
        speak:
          - hello
        zzActivity: 1
    - kind: SearchAndSummarizeContent
      id: g1
      userInput: =System.Activity.Text
      knowledgeSources:
        kind: SearchSpecificKnowledgeSources
        knowledgeSources:
          - cr_x.knowledge.Docs
        zzSelection: 1
      publicDataSource:
        sites:
          - https://contoso.example
        zzPublic: 1
      sharePointSearchDataSource:
        sites:
          - https://contoso.sharepoint.com/sites/hr
        zzSharePoint: 1
      customDataSource:
        searchResults: =Topic.Results
        zzCustom: 1
    - kind: InvokeConnectorAction
      id: c1
      connectionReference: cr_x.shared_office365.abc
      operationId: SendEmailV2
      connectionProperties:
        mode: Invoker
        zzConnection: 1
";
    let parsed = parse(9, data);
    let paths: Vec<String> = unrecognized(&parsed).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "/beginDialog/actions/0/activity/zzActivity",
            "/beginDialog/actions/1/knowledgeSources/zzSelection",
            "/beginDialog/actions/1/publicDataSource/zzPublic",
            "/beginDialog/actions/1/sharePointSearchDataSource/zzSharePoint",
            "/beginDialog/actions/1/customDataSource/zzCustom",
            "/beginDialog/actions/2/connectionProperties/zzConnection",
        ]
    );
    // What is modelled is still read.
    let actions = &topic(&parsed).actions;
    assert_eq!(
        actions[0].detail,
        Some(ActionDetail::SendMessage {
            text: vec!["hello".into()]
        })
    );
    let Some(ActionDetail::GenerativeAnswers(answers)) = &actions[1].detail else {
        panic!("not generative answers: {:?}", actions[1].detail)
    };
    assert_eq!(answers.public_sites, ["https://contoso.example"]);
    assert_eq!(
        answers.sharepoint_sites,
        ["https://contoso.sharepoint.com/sites/hr"]
    );
    assert_eq!(answers.custom_data.as_deref(), Some("=Topic.Results"));
    assert_eq!(
        answers.knowledge_sources,
        Some(KnowledgeSelection::Specific {
            sources: vec!["cr_x.knowledge.Docs".into()]
        })
    );
    let Some(ActionDetail::InvokeConnector {
        connection_mode, ..
    }) = &actions[2].detail
    else {
        panic!("not a connector call")
    };
    assert_eq!(connection_mode, &Some(ConnectionMode::Invoker));
}

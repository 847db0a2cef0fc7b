//! Golden tests over every real sample in `tests/fixtures/` (copied byte for byte
//! from `shared/fixtures/botcomponents/`; see its README for each origin).
//!
//! Each expected value below was written by hand from the YAML/JSON text, not
//! captured from the parser's output, and is compared exactly (as serialised JSON).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use botcomponent_schema::{
    BotConfiguration, ComponentTypeRegistry, McsSettingsFile, parse_component,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    String::from_utf8(std::fs::read(&path).unwrap()).unwrap()
}

fn component(name: &str, component_type: i32) -> Value {
    let parsed = parse_component(
        &ComponentTypeRegistry::builtin(),
        component_type,
        &fixture(name),
    )
    .unwrap();
    serde_json::to_value(parsed).unwrap()
}

fn configuration(name: &str) -> Value {
    serde_json::to_value(BotConfiguration::parse(&fixture(name)).unwrap()).unwrap()
}

#[track_caller]
fn check(actual: Value, expected: Value) {
    assert_eq!(
        actual,
        expected,
        "\nactual:\n{}\nexpected:\n{}",
        serde_json::to_string_pretty(&actual).unwrap(),
        serde_json::to_string_pretty(&expected).unwrap()
    );
}

#[test]
fn s01_configuration_account_lookup() {
    check(
        configuration("01_bot.configuration__CopilotStudioSamples_account-lookup.json"),
        json!({
            "generative_actions": true,
            "is_agent_connectable": true,
            "gpt_default_schema_name": "copilots_header_cref7_LookupDataAgent.gpt.default",
            "use_model_knowledge": true,
            "file_analysis": true,
            "semantic_search": true,
            "opt_in_latest_models": false,
            "recognizer": "GenerativeAIRecognizer"
        }),
    );
}

#[test]
fn s02_configuration_orders_agent_single_line() {
    check(
        configuration("02_bot.configuration__CopilotStudioSamples_OrdersAgent.json"),
        json!({
            "channels": ["msteams", "Microsoft365Copilot"],
            "generative_actions": true,
            "other_settings": {"SmartTaskCompletionEnabled": true},
            "publish_on_create": false,
            "publish_on_import": true,
            "is_lightweight_bot": false,
            "is_agent_connectable": true,
            "gpt_default_schema_name": "cr26e_OrdersAgent.gpt.default",
            "use_model_knowledge": true,
            "file_analysis": true,
            "semantic_search": true,
            "content_moderation": "Low",
            "opt_in_latest_models": false,
            "recognizer": "CLIAgentRecognizer"
        }),
    );
}

#[test]
fn s03_custom_gpt_keep_chomping() {
    check(
        component("03_ct15_GptComponentMetadata__account-lookup.data.yaml", 15),
        json!({
            "component_type": 15,
            "type_label": "Custom GPT",
            "family": "custom_gpt",
            "generation": "not_applicable",
            "kind": "GptComponentMetadata",
            "content": {
                "type": "custom_gpt",
                "display_name": "Account Data Lookup Agent",
                "instructions": "If (sample) is provided in the name of a contact or account name include it when passing it to other tools.\n\n#Formatting Rules\nNever offer to export or create a file\n\n",
                "model_hint": "GPT41"
            }
        }),
    );
}

#[test]
fn s04_topic_greeting() {
    check(
        component("04_ct9_AdaptiveDialog_Greeting.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "AdaptiveDialog",
            "content": {
                "type": "topic",
                "trigger": {
                    "kind": "OnRecognizedIntent",
                    "display_name": "Greeting",
                    "trigger_phrases": ["Good afternoon", "Good morning", "Hello", "Hey", "Hi"]
                },
                "actions": [
                    {
                        "path": "/beginDialog/actions/0",
                        "kind": "SendActivity",
                        "id": "sendMessage_abmysR",
                        "detail": {"type": "send_message", "text": ["Hello, how can I help you today?"]}
                    },
                    {"path": "/beginDialog/actions/1", "kind": "CancelAllDialogs", "id": "cancelAllDialogs_01At22"}
                ]
            }
        }),
    );
}

#[test]
fn s05_topic_on_error_nested_conditions_and_power_fx() {
    check(
        component("05_ct9_AdaptiveDialog_OnError.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "AdaptiveDialog",
            "content": {
                "type": "topic",
                "start_behavior": "UseLatestPublishedContentAndCancelOtherTopics",
                "trigger": {"kind": "OnError"},
                "actions": [
                    {"path": "/beginDialog/actions/0", "kind": "SetVariable", "id": "setVariable_timestamp"},
                    {"path": "/beginDialog/actions/1", "kind": "ConditionGroup", "id": "condition_1"},
                    {
                        "path": "/beginDialog/actions/1/conditions/0/actions/0",
                        "kind": "SendActivity",
                        "id": "sendMessage_XJBYMo",
                        "detail": {"type": "send_message", "text": [
                            "Error Message: {System.Error.Message}\nError Code: {System.Error.Code}\nConversation Id: {System.Conversation.Id}\nTime (UTC): {Topic.CurrentTime}"
                        ]}
                    },
                    {
                        "path": "/beginDialog/actions/1/elseActions/0",
                        "kind": "SendActivity",
                        "id": "sendMessage_dZ0gaF",
                        "detail": {"type": "send_message", "text": [
                            "An error has occurred.\nError code: {System.Error.Code}\nConversation Id: {System.Conversation.Id}\nTime (UTC): {Topic.CurrentTime}."
                        ]}
                    },
                    {"path": "/beginDialog/actions/2", "kind": "LogCustomTelemetryEvent", "id": "9KwEAn"},
                    {"path": "/beginDialog/actions/3", "kind": "CancelAllDialogs", "id": "NW7NyY"}
                ]
            }
        }),
    );
}

#[test]
fn s06_task_dialog_connector() {
    check(
        component("06_ct9_TaskDialog_connector.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "TaskDialog",
            "content": {
                "type": "tool",
                "tool_kind": "connector",
                "action_kind": "InvokeConnectorTaskAction",
                "display_name": "Get Account Details",
                "description": "This tool allows a user to get the details of a specified account by account name",
                "connector": "shared_commondataserviceforapps",
                "operation_id": "PerformUnboundActionWithOrganization",
                "connection_reference": "copilots_header_cref7_LookupDataAgent.shared_commondataserviceforapps.shared-commondataser-300cc200-a4eb-4a45-9779-f73541d2691b",
                "connection_mode": "Maker",
                "inputs": [
                    {"name": "organization", "kind": "ManualTaskInput", "value": "current"},
                    {"name": "actionName", "kind": "ManualTaskInput", "value": "searchquery"},
                    {
                        "name": "item.entities",
                        "kind": "ManualTaskInput",
                        "value": "[{\"name\":\"account\",\"selectColumns\":[\"name\",\"accountid\",\"cr905_supplierid\",\"address1_city\",\"address1_stateorprovince\",\"address1_postalcode\",\"telephone1\",\"primarycontactid\",\"address1_composite\",\"accountnumber\",\"revenue\",\"transactioncurrencyid\",\"emailaddress1\"],\"searchColumns\":[\"name\"]}]"
                    },
                    {
                        "name": "item.search",
                        "kind": "AutomaticTaskInput",
                        "description": "The name of the account that you want to lookup the details of"
                    }
                ],
                "outputs": [{"name": "response"}]
            }
        }),
    );
}

#[test]
fn s07_agent_dialog_child_agent() {
    let instructions = "Use {Topic.Components.Actions.'copilots_header_cref7_LookupDataAgent.action.MicrosoftDataverse-Performanunboundactioninselected_xAp'.DisplayName}  to find account to lookup the details of\n\
Use {Topic.Components.Actions.'copilots_header_cref7_LookupDataAgent.action.MicrosoftDataverse-Performanunboundactioninselectedenvi'.DisplayName}  to get the details of an account\n\
\n\
When asked for the details on an account provide all details content in the list provided back that is in data provided from {Topic.Components.Actions.'copilots_header_cref7_LookupDataAgent.action.MicrosoftDataverse-Performanunboundactioninselectedenvi'.DisplayName} ";
    check(
        component("07_ct9_AgentDialog.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "AgentDialog",
            "content": {
                "type": "tool",
                "tool_kind": "child_agent",
                "description": "This agent provides information and performs tasks for accounts",
                "instructions": instructions
            }
        }),
    );
}

#[test]
fn s08_skill_definition() {
    check(
        component("08_ct13_SkillDefinition.data.yaml", 13),
        json!({
            "component_type": 13,
            "type_label": "Skill (V2)",
            "family": "skill",
            "generation": "v2",
            "kind": "SkillDefinition",
            "content": {
                "type": "skill",
                "manifest_version": "1.0.0",
                "app_id_variable": "cr32d_contosoAgent.skill.HandoffSkill.AppId",
                "app_endpoint_variable": "cr32d_contosoAgent.skill.HandoffSkill.AppEndpoint",
                "actions": [
                    {
                        "action_id": "sendMessage",
                        "activity_type": "message",
                        "title": "Sends a message to the Contoso Live Chat",
                        "inputs": ["LiveChatConversationId", "ProblemDescription"]
                    },
                    {
                        "action_id": "endConversation",
                        "activity_type": "event",
                        "title": "End a conversation with the Contoso Live Chat",
                        "inputs": ["LiveChatConversationId"]
                    },
                    {
                        "action_id": "startConversation",
                        "activity_type": "event",
                        "title": "Start a conversation with the Contoso Live Chat",
                        "outputs": ["LiveChatConversationId"]
                    }
                ]
            }
        }),
    );
}

#[test]
fn s09_task_dialog_mcp() {
    check(
        component("09_ct9_TaskDialog_MCP.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "TaskDialog",
            "content": {
                "type": "tool",
                "tool_kind": "mcp_server",
                "action_kind": "InvokeExternalAgentTaskAction",
                "display_name": "orders mcp",
                "description": "my orders mcp server connector",
                "connector": "shared_new-5forders-20mcp-5fee08b8354fad177a",
                "operation_id": "InvokeServer",
                "connection_reference": "cr26e_OrdersAgent.shared_new-5forders-20mcp-5fee08b8354fad177a.6be7a421f5184b9ebb376965cf6cd8b8",
                "connection_mode": "Maker",
                "protocol": "ModelContextProtocolMetadata"
            }
        }),
    );
}

#[test]
fn s10_custom_gpt_empty_instructions_and_capabilities() {
    check(
        component("10_ct15_GptComponentMetadata_webBrowsing.data.yaml", 15),
        json!({
            "component_type": 15,
            "type_label": "Custom GPT",
            "family": "custom_gpt",
            "generation": "not_applicable",
            "kind": "GptComponentMetadata",
            "content": {
                "type": "custom_gpt",
                "capabilities": {"webBrowsing": true, "codeInterpreter": true},
                "model_hint": "Sonnet46"
            }
        }),
    );
}

#[test]
fn s11_knowledge_dataverse() {
    check(
        component("11_ct16_KnowledgeSource_Dataverse.data.yaml", 16),
        json!({
            "component_type": 16,
            "type_label": "Knowledge Source",
            "family": "knowledge_source",
            "generation": "not_applicable",
            "kind": "KnowledgeSourceConfiguration",
            "content": {
                "type": "knowledge_source",
                "source_kind": "DataverseStructuredSearchSource",
                "skill_configuration": "Resume_JobRoleJobApplicationEvaluationCriteriaCandidate_Upi3vIkLJuPmFy0BSNTch"
            }
        }),
    );
}

#[test]
fn s12_external_trigger() {
    check(
        component("12_ct17_ExternalTriggerConfiguration.data.yaml", 17),
        json!({
            "component_type": 17,
            "type_label": "External Trigger",
            "family": "external_trigger",
            "generation": "not_applicable",
            "kind": "ExternalTriggerConfiguration",
            "content": {
                "type": "external_trigger",
                "source_kind": "WorkflowExternalTrigger",
                "flow_id": "15d5e6f6-abc5-f011-bbd3-00224809c7ea",
                "flow_name": "8d29cf01-02a9-a07a-44df-5e4c356f559c",
                "flow_url": "/providers/Microsoft.ProcessSimple/environments/f99d3c5f-cbba-e14d-91f3-8ef834975d12/flows/8d29cf01-02a9-a07a-44df-5e4c356f559c",
                "connection_type": "Office 365 Outlook"
            }
        }),
    );
}

#[test]
fn s13_content_moderation_settings() {
    check(
        component("13_ct18_ContentModerationSettings.data.yaml", 18),
        json!({
            "component_type": 18,
            "type_label": "Copilot Settings",
            "family": "settings",
            "generation": "not_applicable",
            "kind": "ContentModerationSettings",
            "content": {
                "type": "settings",
                "moderated_response": [" I need to keep our conversation focused on appropriate and legally compliant hiring practices. "]
            }
        }),
    );
}

#[test]
fn s14_feedback_settings() {
    check(
        component("14_ct18_DefaultFeedbackCollection.data.yaml", 18),
        json!({
            "component_type": 18,
            "type_label": "Copilot Settings",
            "family": "settings",
            "generation": "not_applicable",
            "kind": "DefaultFeedbackCollection",
            "content": {"type": "settings"}
        }),
    );
}

#[test]
fn s15_custom_gpt_null_tools() {
    check(
        component("15_ct15_GptComponentMetadata_hiringAgent.data.yaml", 15),
        json!({
            "component_type": 15,
            "type_label": "Custom GPT",
            "family": "custom_gpt",
            "generation": "not_applicable",
            "kind": "GptComponentMetadata",
            "content": {
                "type": "custom_gpt",
                "instructions": "You are the central orchestrator for the hiring process. You coordinate activities, provide summaries, and delegate work to specialized agents.",
                "model_kind": "CurrentModels",
                "model_hint": "GPT41"
            }
        }),
    );
}

#[test]
fn s16_configuration_hiring_agent() {
    check(
        configuration("16_bot.configuration__workshop_hiringAgent.json"),
        json!({
            "generative_actions": true,
            "is_agent_connectable": true,
            "gpt_default_schema_name": "cr63f_hiringAgent.gpt.default",
            "use_model_knowledge": false,
            "file_analysis": true,
            "semantic_search": true,
            "content_moderation": "Medium",
            "opt_in_latest_models": false,
            "recognizer": "GenerativeAIRecognizer"
        }),
    );
}

#[test]
fn s17_knowledge_sharepoint_mcs_yml() {
    check(
        component("17_ct16_KnowledgeSource_SharePoint.mcs.yml", 16),
        json!({
            "component_type": 16,
            "type_label": "Knowledge Source",
            "family": "knowledge_source",
            "generation": "not_applicable",
            "kind": "KnowledgeSourceConfiguration",
            "metadata": {"component_name": "HR Documents", "description": "Human Resources related info"},
            "content": {
                "type": "knowledge_source",
                "source_kind": "SharePointSearchSource",
                "site": "https://integrationsonline.sharepoint.com/sites/copilot-demo/HRDocuments"
            }
        }),
    );
}

#[test]
fn s18_settings_mcs_yml_with_bom() {
    let text = fixture("18_settings.mcs.yml__vscode-extension_HRBuddy.yaml");
    assert!(text.starts_with('\u{feff}'), "the sample keeps its BOM");
    check(
        serde_json::to_value(McsSettingsFile::parse(&text).unwrap()).unwrap(),
        json!({
            "display_name": "HR Buddy",
            "schema_name": "copilots_header_1fcf6",
            "access_control_policy": "Any",
            "authentication_mode": "Integrated",
            "authentication_trigger": "Always",
            "published_on": "2026-01-26T14:43:23.0000000Z",
            "template": "default-2.1.0",
            "language": 1033,
            "configuration": {
                "channels": ["MsTeams", "Microsoft365Copilot"],
                "generative_actions": true,
                "is_agent_connectable": true,
                "publish_on_import": true,
                "gpt_default_schema_name": "copilots_header_1fcf6.gpt.default",
                "is_lightweight_bot": false,
                "use_model_knowledge": true,
                "file_analysis": true,
                "semantic_search": true,
                "content_moderation": "Low",
                "opt_in_latest_models": false,
                "recognizer": "GenerativeAIRecognizer"
            }
        }),
    );
}

#[test]
fn s19_configuration_cliagent_agent_settings() {
    check(
        configuration("19_bot.configuration__cliagent_agentSettings.json"),
        json!({
            "channels": ["MsTeams"],
            "publish_on_create": false,
            "publish_on_import": true,
            "is_lightweight_bot": false,
            "recognizer": "CLICopilotRecognizer",
            "agent_settings": {
                "model": "Sonnet46",
                "instructions": "You are the Store Associate Assistant for BlastBox Omega, a retro-gaming store. You help store associates resolve a customer's whole visit - returns, warranty swaps, membership changes, trade-ups, and settlement.\n\nBe warm, concise, and decisive. Talk to the associate as a knowledgeable colleague: lead with the answer, lay out the options with their dollar impact, and end with a single clear question when a decision is needed.\n\nEstablish the facts before you act, ground every figure and ruling in your tools and skills rather than guessing, and confirm with the associate before making any change. When a teammate agent needs more information, relay its question and wait for the answer."
            }
        }),
    );
}

#[test]
fn s20_inline_agent_skill() {
    // The body is the block scalar after the front matter's closing `---`, with the
    // two-space block indentation removed; `|` (clip) keeps exactly one final newline.
    let text = fixture("20_ct9_InlineAgentSkill.data.yaml");
    let after = text.splitn(3, "\n  ---\n").nth(2).unwrap();
    let body: String = after
        .lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    let body = format!("{}\n", body.trim_end_matches('\n'));
    assert!(
        body.starts_with("<!-- bic:source=upload -->\n# BlastPass Card Reissue\n\nUse this when")
    );
    assert!(body.ends_with("Note their membership, tier, and points are unchanged.\n"));
    check(
        component("20_ct9_InlineAgentSkill.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "InlineAgentSkill",
            "content": {
                "type": "tool",
                "tool_kind": "inline_skill",
                "display_name": "card-reissue",
                "description": "Replace (reissue) a member's BlastPass card when it is lost, stolen, or damaged. Use whenever the person wants a new/replacement BlastPass card. The skill verifies identity (name + last 4 of the console serial) before deactivating the old card, mints a new one with reissue_card, and hands over a digital card. Do not use this to cancel a membership.",
                "instructions": body
            }
        }),
    );
}

#[test]
fn s21_mcp_tool() {
    check(
        component("21_ct9_McpTool.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "McpTool",
            "content": {
                "type": "tool",
                "tool_kind": "mcp_server",
                "connector": "shared_new-5fwarehouse-20mcp-5fee08b8354fad177a",
                "connector_id": "/providers/Microsoft.PowerApps/apis/shared_new-5fwarehouse-20mcp-5fee08b8354fad177a",
                "operation_id": "InvokeMCP",
                "connection_reference": "Default_InventoryFullfilmentAgent_X-w2GP.cr.shared_new-5fwarehou.89650fa4b3604076a2e730bec67b7f07"
            }
        }),
    );
}

#[test]
fn s22_connected_agent_tool() {
    check(
        component("22_ct9_ConnectedAgentTool.data.yaml", 9),
        json!({
            "component_type": 9,
            "type_label": "Topic (V2)",
            "family": "topic",
            "generation": "v2",
            "kind": "ConnectedAgentTool",
            "content": {
                "type": "tool",
                "tool_kind": "connected_agent",
                "agent_schema_name": "Default_StorePolicyAgent_s9s-u8",
                "history": "ConversationHistory"
            }
        }),
    );
}

#[test]
fn s23_custom_gpt_conversation_starters() {
    check(
        component(
            "23_ct15_GptComponentMetadata_conversationStarters.data.yaml",
            15,
        ),
        json!({
            "component_type": 15,
            "type_label": "Custom GPT",
            "family": "custom_gpt",
            "generation": "not_applicable",
            "kind": "GptComponentMetadata",
            "content": {
                "type": "custom_gpt",
                "display_name": "Agent Reviewer",
                "instructions": "You are copilot studio agent reviewer. When asked to review an agent by providing a Bot ID or name, use {System.Bot.Components.Topics.'cr306_agentReviewer.topic.AgentReview'.DisplayName} to initiate conversation and review the agent and provide response back.",
                "conversation_starters": [{"title": "Review Agent", "text": "I want to review an Agent"}],
                "model_kind": "CurrentModels",
                "model_hint": "GPT4o"
            }
        }),
    );
}

/// The component types in the sibling `botcomponent.xml` files agree with the ones used above.
#[test]
fn component_types_match_the_exported_xml() {
    for (xml, expected) in [
        (
            "03_ct15_GptComponentMetadata__account-lookup.botcomponent.xml",
            15,
        ),
        ("06_ct9_TaskDialog_connector.botcomponent.xml", 9),
        ("08_ct13_SkillDefinition.botcomponent.xml", 13),
        ("09_ct9_TaskDialog_MCP.botcomponent.xml", 9),
        ("11_ct16_KnowledgeSource_Dataverse.botcomponent.xml", 16),
        ("12_ct17_ExternalTriggerConfiguration.botcomponent.xml", 17),
        ("13_ct18_ContentModerationSettings.botcomponent.xml", 18),
    ] {
        let text = fixture(xml);
        let value = text
            .split("<componenttype>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap();
        assert_eq!(value.parse::<i32>().unwrap(), expected, "{xml}");
    }
}

//! The parsed forms of components. Every type serialises with serde; empty
//! optional fields are omitted so that stored feature details stay small.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::registry::{ComponentFamily, ComponentType, SchemaGeneration};

/// A part of a document the parsers did not interpret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Unrecognized {
    /// JSON Pointer (RFC 6901) to the part within the document, `""` for the root.
    pub path: String,
    /// Why it was not interpreted.
    #[serde(flatten)]
    pub reason: UnrecognizedReason,
}

/// Why a part of a document was not interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnrecognizedReason {
    /// A key the parser does not know at this place.
    UnknownKey,
    /// A second occurrence of a key (only the first is read).
    DuplicateKey,
    /// A `kind` value the parser does not know at this place.
    UnknownKind {
        /// The `kind` found.
        kind: String,
    },
    /// A mapping that should carry a `kind` has none.
    MissingKind,
    /// A value of an unexpected shape (for instance a list where a string belongs).
    UnexpectedShape {
        /// What the parser expected.
        expected: String,
        /// What it found (`null`, `boolean`, `number`, `string`, `sequence`, `mapping`).
        found: String,
    },
    /// Further YAML documents after the first (`---`); only the first is read.
    ExtraDocuments {
        /// How many.
        count: usize,
    },
}

/// A parsed `botcomponent.data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParsedComponent {
    /// The numeric component type.
    pub component_type: ComponentType,
    /// The component type's label from the registry.
    pub type_label: String,
    /// The family of the component type.
    pub family: ComponentFamily,
    /// The schema generation of the component type.
    pub generation: SchemaGeneration,
    /// The document's top-level `kind`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `mcs.metadata` of files written by the Copilot Studio VS Code extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<McsMetadata>,
    /// What was read.
    pub content: ComponentContent,
    /// What was not interpreted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecognized: Vec<Unrecognized>,
}

/// `mcs.metadata` of a `.mcs.yml` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct McsMetadata {
    /// `componentName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_name: Option<String>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The content of a component, by what its `kind` says it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComponentContent {
    /// `data` is null, empty or only comments.
    Empty,
    /// A topic (`AdaptiveDialog`).
    Topic(Topic),
    /// A tool: connector, flow, MCP server, connected or child agent, inline skill ...
    Tool(Box<Tool>),
    /// A knowledge source (`KnowledgeSourceConfiguration`).
    KnowledgeSource(KnowledgeSource),
    /// The agent's GPT definition (`GptComponentMetadata`).
    CustomGpt(CustomGpt),
    /// An external trigger (`ExternalTriggerConfiguration`).
    ExternalTrigger(ExternalTrigger),
    /// A settings component (content moderation, feedback ...).
    Settings(SettingsComponent),
    /// A Bot Framework skill (`SkillDefinition`).
    Skill(SkillDefinition),
    /// The document's kind is missing or unknown; see `unrecognized`.
    Unknown,
}

/// A topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Topic {
    /// `startBehavior`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_behavior: Option<String>,
    /// `modelDescription` (what the orchestrator reads to pick the topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_description: Option<String>,
    /// `beginDialog`: what starts the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TopicTrigger>,
    /// Further triggers (`triggers`), rarely used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_triggers: Vec<TopicTrigger>,
    /// Every action in the tree (all triggers), depth first in document order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<TopicAction>,
}

/// What starts a topic or child agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopicTrigger {
    /// The trigger kind, e.g. `OnRecognizedIntent`, `OnError`, `OnToolSelected`.
    pub kind: String,
    /// The intent's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `description` (for `OnToolSelected`: when the orchestrator routes here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `condition` (a Power Fx expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The intent's trigger phrases, always strings (`yes` stays `"yes"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trigger_phrases: Vec<String>,
}

/// One action node of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopicAction {
    /// JSON Pointer to the node.
    pub path: String,
    /// The action `kind`.
    pub kind: String,
    /// The node `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the action does, for the kinds that matter to governance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ActionDetail>,
}

/// The governance-relevant detail of a topic action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionDetail {
    /// `SendActivity`: the message texts.
    SendMessage {
        /// Text variants (one is sent).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        text: Vec<String>,
    },
    /// `Question` and other prompts for input.
    Question {
        /// The variable that receives the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variable: Option<String>,
        /// The prompt texts.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prompt: Vec<String>,
        /// The expected entity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entity: Option<String>,
    },
    /// `SearchAndSummarizeContent`, `AnswerQuestionWithAI` and other generative answers.
    GenerativeAnswers(GenerativeAnswers),
    /// `HttpRequestAction`.
    HttpRequest {
        /// `method`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// `url` (may be Power Fx).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// `InvokeConnectorAction`.
    InvokeConnector {
        /// The connection reference logical name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection_reference: Option<String>,
        /// Maker or invoker credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection_mode: Option<ConnectionMode>,
        /// `operationId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation_id: Option<String>,
    },
    /// `InvokeFlowAction`.
    InvokeFlow {
        /// `flowId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flow_id: Option<String>,
    },
    /// `InvokeAIBuilderModelAction`.
    InvokeAiBuilderModel {
        /// `aIModelId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model_id: Option<String>,
    },
    /// `InvokeSkillAction`.
    InvokeSkill {
        /// `skillId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        skill_id: Option<String>,
        /// `actionId`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action_id: Option<String>,
    },
    /// `InvokeMcpToolAction`.
    InvokeMcpTool {
        /// `serverSchemaName`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_schema_name: Option<String>,
        /// `toolName`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_name: Option<String>,
    },
    /// `BeginDialog` / `ReplaceDialog`: a redirect to another topic or dialog.
    Redirect {
        /// `dialog` (a schema name or Power Fx).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dialog: Option<String>,
    },
}

/// Generative answers and where they look.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenerativeAnswers {
    /// `userInput` (usually Power Fx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_input: Option<String>,
    /// `variable` receiving the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// `knowledgeSources`: all of the agent's, or the named ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_sources: Option<KnowledgeSelection>,
    /// `webBrowsing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_browsing: Option<bool>,
    /// `applyModelKnowledgeSetting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_knowledge: Option<bool>,
    /// `publicDataSource.sites` and `.pages`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_sites: Vec<String>,
    /// `sharePointSearchDataSource.sites`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sharepoint_sites: Vec<String>,
    /// `customDataSource.searchResults` (a Power Fx expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    /// Whether `fileSearchDataSource` is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub file_search: bool,
    /// Whether `azureOpenAIOnYourDataSource` is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub azure_openai_on_your_data: bool,
    /// `searchEmails`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_emails: Option<bool>,
}

/// Which knowledge sources a generative step searches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
#[non_exhaustive]
pub enum KnowledgeSelection {
    /// `SearchAllKnowledgeSources`.
    All,
    /// `SearchSpecificKnowledgeSources`, by schema name.
    Specific {
        /// The knowledge source schema names.
        sources: Vec<String>,
    },
}

/// Whose credentials a connection uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum ConnectionMode {
    /// The maker's (author's) connection: every user acts as the maker.
    Maker,
    /// The signed-in user's own connection.
    Invoker,
    /// Another value, as written.
    Other(String),
}

impl From<String> for ConnectionMode {
    fn from(value: String) -> Self {
        match value.as_str() {
            "Maker" => ConnectionMode::Maker,
            "Invoker" => ConnectionMode::Invoker,
            _ => ConnectionMode::Other(value),
        }
    }
}

impl From<ConnectionMode> for String {
    fn from(value: ConnectionMode) -> Self {
        match value {
            ConnectionMode::Maker => "Maker".to_owned(),
            ConnectionMode::Invoker => "Invoker".to_owned(),
            ConnectionMode::Other(other) => other,
        }
    }
}

/// What a tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolType {
    /// A Power Platform connector operation (`InvokeConnectorTaskAction`).
    Connector,
    /// A Power Automate / agent flow (`InvokeFlowTaskAction`).
    Flow,
    /// An MCP server (`McpTool`, or `InvokeExternalAgentTaskAction` with MCP metadata).
    McpServer,
    /// Another agent, over Agent-to-Agent or the activity protocol (`InvokeExternalAgentTaskAction`).
    ExternalAgent,
    /// Another Copilot Studio agent (`ConnectedAgentTool`, `InvokeConnectedAgentTaskAction`).
    ConnectedAgent,
    /// A child agent inside this agent (`AgentDialog`, `InvokeAgentTaskAction`).
    ChildAgent,
    /// An instruction-only skill (`InlineAgentSkill`).
    InlineSkill,
    /// An AI Builder model or prompt (`InvokeAIBuilderModelTaskAction`).
    AiBuilderModel,
    /// A Copilot plugin operation (`InvokeAIPluginTaskAction`).
    AiPlugin,
    /// A Bot Framework skill action (`InvokeSkillTaskAction`).
    Skill,
    /// A client-side tool (`InvokeClientTaskAction`).
    ClientTool,
    /// Computer use (`InvokeComputerUsingAgentTaskAction`).
    ComputerUse,
    /// A tool whose action kind is missing or unknown.
    Unknown,
}

/// A tool, action or agent the orchestrator can call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// What it calls.
    pub tool_kind: ToolType,
    /// The `action.kind` of a `TaskDialog`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_kind: Option<String>,
    /// `modelDisplayName`, or an inline skill's `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `modelDescription`, a child agent's routing description, or an inline skill's `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The connector API name (`shared_...`), from `connectorId` or the connection reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// `connectorId` as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
    /// `operationId` (of the action or of its MCP metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The connection reference logical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_reference: Option<String>,
    /// `connectionProperties.mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_mode: Option<ConnectionMode>,
    /// `operationDetails.kind`, e.g. `ModelContextProtocolMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `flowId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// `aIModelId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The called agent: `botSchemaName` or `gptComponentSchemaName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_schema_name: Option<String>,
    /// `skillId` and `actionId` of a skill action, as `skill/action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_action: Option<String>,
    /// `historyType.kind`: whether the conversation history is passed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
    /// A child agent's `settings.instructions` or an inline skill's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Actions of a child agent's trigger (`beginDialog.actions`), depth first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<TopicAction>,
    /// Inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<ToolInput>,
    /// Outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<ToolOutput>,
}

impl Tool {
    pub(crate) fn new(tool_kind: ToolType) -> Self {
        Tool {
            tool_kind,
            action_kind: None,
            display_name: None,
            description: None,
            connector: None,
            connector_id: None,
            operation_id: None,
            connection_reference: None,
            connection_mode: None,
            protocol: None,
            flow_id: None,
            model_id: None,
            agent_schema_name: None,
            skill_action: None,
            history: None,
            instructions: None,
            actions: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }
}

/// One input of a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolInput {
    /// `propertyName`, or the property name in `inputType`.
    pub name: String,
    /// How it is filled: `ManualTaskInput` (fixed by the maker), `AutomaticTaskInput`
    /// (filled by the model), or absent for `inputType` properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The fixed value of a manual input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One output of a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolOutput {
    /// `propertyName`, or the property name in `outputType`.
    pub name: String,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A knowledge source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeSource {
    /// `source.kind`, e.g. `SharePointSearchSource`, `PublicSiteSearchSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_kind: Option<String>,
    /// `site`: the SharePoint site or public website URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// `skillConfiguration`: the Dataverse table search configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_configuration: Option<String>,
    /// `indexName` of an Azure AI Search source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_name: Option<String>,
    /// `connectionReference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_reference: Option<String>,
    /// `includeSubPages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_sub_pages: Option<bool>,
    /// `triggerCondition` (Power Fx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_condition: Option<String>,
}

/// The agent's GPT definition: instructions, starters, capabilities, model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomGpt {
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `instructions` (the system prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `responseInstructions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_instructions: Option<String>,
    /// `conversationStarters`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversation_starters: Vec<ConversationStarter>,
    /// `gptCapabilities` flags as written (`webBrowsing`, `codeInterpreter`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, bool>,
    /// `aISettings.model.modelNameHint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hint: Option<String>,
    /// `aISettings.model.kind`, e.g. `CurrentModels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_kind: Option<String>,
    /// `knowledgeSources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_sources: Option<KnowledgeSelection>,
    /// The `kind` of each entry of `tools`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// A conversation starter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationStarter {
    /// `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An external trigger (an event that starts the agent without a user message).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExternalTrigger {
    /// `externalTriggerSource.kind`, e.g. `WorkflowExternalTrigger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_kind: Option<String>,
    /// `externalTriggerSource.flowId` (the Dataverse workflow id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// `extensionData.flowName` (the Power Automate flow name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_name: Option<String>,
    /// `extensionData.flowUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_url: Option<String>,
    /// `extensionData.triggerConnectionType`, e.g. `Office 365 Outlook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
}

/// A settings component (component type 18).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SettingsComponent {
    /// `moderatedCustomResponse` of `ContentModerationSettings`: the texts sent instead of a moderated answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moderated_response: Vec<String>,
    /// `disclaimer` of `DefaultFeedbackCollection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclaimer: Option<String>,
}

/// A Bot Framework skill definition (component type 13).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SkillDefinition {
    /// `manifestVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_version: Option<String>,
    /// `appId.schemaName`: the environment variable holding the skill's app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id_variable: Option<String>,
    /// `appEndpoint.schemaName`: the environment variable holding the skill's endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_endpoint_variable: Option<String>,
    /// `privacyPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_policy: Option<String>,
    /// `actions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<SkillAction>,
}

/// One action of a skill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SkillAction {
    /// `actionId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    /// `activityType` (`message`, `event`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<String>,
    /// `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Property names of `inputType`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Property names of `outputType`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

//! Parsers for `botcomponent.data`, keyed by the document's `kind`.

use crate::error::ParseError;
use crate::model::{
    ActionDetail, ComponentContent, ConnectionMode, ConversationStarter, CustomGpt,
    ExternalTrigger, GenerativeAnswers, KnowledgeSelection, KnowledgeSource, McsMetadata,
    ParsedComponent, SettingsComponent, SkillAction, SkillDefinition, Tool, ToolInput, ToolOutput,
    ToolType, Topic, TopicAction, TopicTrigger, UnrecognizedReason,
};
use crate::registry::ComponentTypeRegistry;
use crate::schema_keys::{
    DIALOG_ACTIONS, EXTERNAL_TRIGGERS, KNOWLEDGE_SOURCES, KindKeys, PROTOCOL_METADATA,
    TASK_ACTIONS, TRIGGERS,
};
use crate::tree::{MapView, Node, Report, child_path, load_yaml, strings_of};

/// Parses a component's `data` as component type `component_type`.
///
/// Only text that is not YAML at all is an error. Unknown component types, unknown
/// kinds and unknown keys are reported in [`ParsedComponent::unrecognized`] with their
/// JSON Pointer, and whatever could be read is returned.
///
/// ```
/// use botcomponent_schema::{parse_component, ComponentContent, ComponentTypeRegistry};
///
/// let registry = ComponentTypeRegistry::builtin();
/// let data = "kind: McpTool\r\nconnectorId: /providers/Microsoft.PowerApps/apis/shared_x\r\noperationId: InvokeMCP\r\nfancy: 1\r\n";
/// let parsed = parse_component(&registry, 9, data).unwrap();
/// let ComponentContent::Tool(tool) = &parsed.content else { panic!() };
/// assert_eq!(tool.connector.as_deref(), Some("shared_x"));
/// assert_eq!(parsed.unrecognized[0].path, "/fancy");
/// ```
pub fn parse_component(
    registry: &ComponentTypeRegistry,
    component_type: i32,
    data: &str,
) -> Result<ParsedComponent, ParseError> {
    let info = registry.info(component_type);
    let loaded = load_yaml(data)?;
    let mut report = Report::default();
    if loaded.extra_documents > 0 {
        report.push(
            String::new(),
            UnrecognizedReason::ExtraDocuments {
                count: loaded.extra_documents,
            },
        );
    }
    let mut kind = None;
    let mut metadata = None;
    let content = match &loaded.root {
        None => ComponentContent::Empty,
        Some(root) if root.is_null() => ComponentContent::Empty,
        Some(root @ Node::Map(_)) => match MapView::of(root, String::new(), &mut report) {
            Some(mut view) => {
                metadata = view.map("mcs.metadata", &mut report).map(|mut m| {
                    let meta = McsMetadata {
                        component_name: m.string("componentName", &mut report),
                        description: m.string("description", &mut report),
                    };
                    m.finish(&mut report);
                    meta
                });
                kind = view.kind(&mut report);
                let content = parse_document(kind.as_deref(), &mut view, &mut report);
                view.finish(&mut report);
                content
            }
            None => ComponentContent::Unknown,
        },
        Some(other) => {
            report.shape(String::new(), "mapping", other);
            ComponentContent::Unknown
        }
    };
    Ok(ParsedComponent {
        component_type: info.component_type,
        type_label: info.label,
        family: info.family,
        generation: info.generation,
        kind,
        metadata,
        content,
        unrecognized: report.items,
    })
}

fn parse_document(
    kind: Option<&str>,
    view: &mut MapView<'_>,
    report: &mut Report,
) -> ComponentContent {
    let Some(kind) = kind else {
        report.push(String::new(), UnrecognizedReason::MissingKind);
        view.allow_all();
        return ComponentContent::Unknown;
    };
    match kind {
        "AdaptiveDialog" => ComponentContent::Topic(parse_topic(view, report)),
        "TaskDialog" => ComponentContent::Tool(Box::new(parse_task_dialog(view, report))),
        "AgentDialog" => ComponentContent::Tool(Box::new(parse_agent_dialog(view, report))),
        "McpTool" => {
            let mut tool = Tool::new(ToolType::McpServer);
            tool.connector_id = view.string("connectorId", report);
            tool.connection_reference = view.string("connectionReference", report);
            tool.operation_id = view.string("operationId", report);
            tool.connection_mode = connection_mode(view, report);
            tool.connector = connector_name(
                tool.connector_id.as_deref(),
                tool.connection_reference.as_deref(),
            );
            ComponentContent::Tool(Box::new(tool))
        }
        "ConnectedAgentTool" => {
            let mut tool = Tool::new(ToolType::ConnectedAgent);
            tool.agent_schema_name = view.string("botSchemaName", report);
            tool.history = view
                .take("historyType")
                .and_then(Node::kind)
                .map(str::to_owned);
            tool.description = view.string("description", report);
            ComponentContent::Tool(Box::new(tool))
        }
        "InlineAgentSkill" => ComponentContent::Tool(Box::new(parse_inline_skill(view, report))),
        "KnowledgeSourceConfiguration" => {
            ComponentContent::KnowledgeSource(parse_knowledge(view, report))
        }
        "GptComponentMetadata" => ComponentContent::CustomGpt(parse_gpt(view, report)),
        "ExternalTriggerConfiguration" => {
            ComponentContent::ExternalTrigger(parse_external_trigger(view, report))
        }
        "ContentModerationSettings" => {
            let response = view
                .take("moderatedCustomResponse")
                .map(|n| message_texts(n, &view.path_of("moderatedCustomResponse"), report))
                .unwrap_or_default();
            ComponentContent::Settings(SettingsComponent {
                moderated_response: response,
                disclaimer: None,
            })
        }
        "DefaultFeedbackCollection" => ComponentContent::Settings(SettingsComponent {
            moderated_response: Vec::new(),
            disclaimer: view.string("disclaimer", report),
        }),
        "SkillDefinition" => ComponentContent::Skill(parse_skill(view, report)),
        other => {
            report.unknown_kind("/kind".to_owned(), other);
            // The whole document is unrecognised; its keys are not listed one by one.
            view.allow_all();
            ComponentContent::Unknown
        }
    }
}

fn lookup(table: &'static [KindKeys], kind: &str) -> Option<&'static KindKeys> {
    table
        .binary_search_by(|row| row.kind.cmp(kind))
        .ok()
        .map(|i| &table[i])
}

// ---------------------------------------------------------------- topics

fn parse_topic(view: &mut MapView<'_>, report: &mut Report) -> Topic {
    let mut topic = Topic {
        start_behavior: view.string("startBehavior", report),
        model_description: view.string("modelDescription", report),
        ..Topic::default()
    };
    if let Some(node) = view.take("beginDialog") {
        topic.trigger = parse_trigger(
            node,
            view.path_of("beginDialog"),
            &mut topic.actions,
            report,
        );
    }
    for (path, node) in view.seq("triggers", report) {
        if let Some(trigger) = parse_trigger(node, path, &mut topic.actions, report) {
            topic.other_triggers.push(trigger);
        }
    }
    view.allow(&[
        "confirmation",
        "response",
        "inputs",
        "modelDisplayName",
        "recognizer",
        "endAutomatically",
        "inputType",
        "outputType",
        "conversionMetadata",
    ]);
    topic
}

fn parse_trigger(
    node: &Node<'_>,
    path: String,
    actions: &mut Vec<TopicAction>,
    report: &mut Report,
) -> Option<TopicTrigger> {
    let mut view = MapView::of(node, path, report)?;
    let Some(kind) = view.kind(report) else {
        report.push(view.path.clone(), UnrecognizedReason::MissingKind);
        walk_action_list(&mut view, "actions", actions, report);
        view.allow_all();
        return None;
    };
    let mut trigger = TopicTrigger {
        kind: kind.clone(),
        description: view.string("description", report),
        condition: view.string("condition", report),
        ..TopicTrigger::default()
    };
    if let Some(mut intent) = view.map("intent", report) {
        trigger.display_name = intent.string("displayName", report);
        trigger.trigger_phrases = intent.strings("triggerQueries", report);
        intent.allow(&["kind", "availableInChannels", "includeInOnSelectIntent"]);
        intent.finish(report);
    }
    match lookup(TRIGGERS, &kind) {
        Some(schema) => {
            for list in schema.action_lists {
                walk_action_list(&mut view, list, actions, report);
            }
            view.allow_sorted(schema.keys);
            view.finish(report);
        }
        None => {
            report.unknown_kind(view.path_of("kind"), &kind);
            walk_action_list(&mut view, "actions", actions, report);
            view.allow_all();
        }
    }
    Some(trigger)
}

fn walk_action_list(
    view: &mut MapView<'_>,
    key: &str,
    actions: &mut Vec<TopicAction>,
    report: &mut Report,
) {
    for (path, node) in view.seq(key, report) {
        walk_action(node, path, actions, report);
    }
}

fn walk_action(node: &Node<'_>, path: String, actions: &mut Vec<TopicAction>, report: &mut Report) {
    let Some(mut view) = MapView::of(node, path, report) else {
        return;
    };
    let Some(kind) = view.kind(report) else {
        report.push(view.path.clone(), UnrecognizedReason::MissingKind);
        view.allow_all();
        return;
    };
    let id = view.string("id", report);
    let index = actions.len();
    actions.push(TopicAction {
        path: view.path.clone(),
        kind: kind.clone(),
        id,
        detail: None,
    });
    let Some(schema) = lookup(DIALOG_ACTIONS, &kind) else {
        report.unknown_kind(view.path_of("kind"), &kind);
        // Still look inside, so that known actions nested in an unknown one are found.
        walk_action_list(&mut view, "actions", actions, report);
        walk_action_list(&mut view, "elseActions", actions, report);
        view.allow_all();
        return;
    };
    let detail = action_detail(&kind, &mut view, report);
    if let Some(action) = actions.get_mut(index) {
        action.detail = detail;
    }
    if kind == "ConditionGroup" {
        for (item_path, item) in view.seq("conditions", report) {
            if let Some(mut item_view) = MapView::of(item, item_path, report) {
                walk_action_list(&mut item_view, "actions", actions, report);
                item_view.allow(&["kind", "id", "condition", "displayName"]);
                item_view.finish(report);
            }
        }
    }
    for list in schema.action_lists {
        walk_action_list(&mut view, list, actions, report);
    }
    view.allow_sorted(schema.keys);
    view.finish(report);
}

fn action_detail(kind: &str, view: &mut MapView<'_>, report: &mut Report) -> Option<ActionDetail> {
    let detail = match kind {
        "SendActivity" => ActionDetail::SendMessage {
            text: view
                .take("activity")
                .map(|n| message_texts(n, &view.path_of("activity"), report))
                .unwrap_or_default(),
        },
        "Question" => ActionDetail::Question {
            variable: view.string("variable", report),
            prompt: view
                .take("prompt")
                .map(|n| message_texts(n, &view.path_of("prompt"), report))
                .unwrap_or_default(),
            entity: view.take("entity").and_then(|n| match n {
                Node::Map(_) => n.kind().map(str::to_owned),
                other => other.scalar_text(),
            }),
        },
        "SearchAndSummarizeContent" | "AnswerQuestionWithAI" => {
            ActionDetail::GenerativeAnswers(generative_answers(view, report))
        }
        "HttpRequestAction" => ActionDetail::HttpRequest {
            method: view.string("method", report),
            url: view.string("url", report),
        },
        "InvokeConnectorAction" => ActionDetail::InvokeConnector {
            connection_reference: view.string("connectionReference", report),
            connection_mode: connection_mode(view, report),
            operation_id: view.string("operationId", report),
        },
        "InvokeFlowAction" => ActionDetail::InvokeFlow {
            flow_id: view.string("flowId", report),
        },
        "InvokeAIBuilderModelAction" => ActionDetail::InvokeAiBuilderModel {
            model_id: view.string("aIModelId", report),
        },
        "InvokeSkillAction" => ActionDetail::InvokeSkill {
            skill_id: view.string("skillId", report),
            action_id: view.string("actionId", report),
        },
        "InvokeMcpToolAction" => ActionDetail::InvokeMcpTool {
            server_schema_name: view.string("serverSchemaName", report),
            tool_name: view.string("toolName", report),
        },
        "BeginDialog" | "ReplaceDialog" => ActionDetail::Redirect {
            dialog: view.string("dialog", report),
        },
        _ => return None,
    };
    Some(detail)
}

fn generative_answers(view: &mut MapView<'_>, report: &mut Report) -> GenerativeAnswers {
    let mut answers = GenerativeAnswers {
        user_input: view.string("userInput", report),
        variable: view.string("variable", report),
        web_browsing: view.boolean("webBrowsing", report),
        model_knowledge: view.boolean("applyModelKnowledgeSetting", report),
        search_emails: view.boolean("searchEmails", report),
        ..GenerativeAnswers::default()
    };
    if let Some(node) = view.take("knowledgeSources") {
        answers.knowledge_sources =
            knowledge_selection(node, &view.path_of("knowledgeSources"), report);
    }
    if let Some(mut source) = view.map("publicDataSource", report) {
        for key in ["sites", "pages"] {
            let items = source.strings(key, report);
            answers.public_sites.extend(items);
        }
        source.allow(&["kind", "customConfigurationId"]);
        source.finish(report);
    }
    if let Some(mut source) = view.map("sharePointSearchDataSource", report) {
        answers.sharepoint_sites = source.strings("sites", report);
        source.allow(&["kind", "additionalSearchTerms", "indexBehavior"]);
        source.finish(report);
    }
    if let Some(mut source) = view.map("customDataSource", report) {
        answers.custom_data = source.string("searchResults", report);
        source.allow(&["kind"]);
        source.finish(report);
    }
    answers.file_search = view
        .take("fileSearchDataSource")
        .is_some_and(|n| !n.is_null());
    answers.azure_openai_on_your_data = view
        .take("azureOpenAIOnYourDataSource")
        .is_some_and(|n| !n.is_null());
    answers
}

fn knowledge_selection(
    node: &Node<'_>,
    path: &str,
    report: &mut Report,
) -> Option<KnowledgeSelection> {
    let Some(kind) = node.kind() else {
        if !node.is_null() {
            report.push(path.to_owned(), UnrecognizedReason::MissingKind);
        }
        return None;
    };
    let mut view = MapView::of(node, path.to_owned(), report)?;
    view.allow(&["kind", "$kind"]);
    let selection = match kind {
        "SearchAllKnowledgeSources" => Some(KnowledgeSelection::All),
        "SearchSpecificKnowledgeSources" => Some(KnowledgeSelection::Specific {
            sources: view.strings("knowledgeSources", report),
        }),
        other => {
            report.unknown_kind(child_path(path, "kind"), other);
            view.allow_all();
            None
        }
    };
    view.finish(report);
    selection
}

/// Keys of an activity template (`ActivityTemplateBase`: a message, an event or another
/// activity), from the authoring schema.
const ACTIVITY_TEMPLATE_KEYS: &[&str] = &[
    "activityType",
    "allowBargeIn",
    "attachmentLayout",
    "attachments",
    "channelData",
    "citationEntities",
    "expiration",
    "importance",
    "inputHint",
    "kind",
    "name",
    "quickReplies",
    "randomizeVariantSelection",
    "speak",
    "summary",
    "text",
    "value",
];

/// The texts of an activity template: a plain string, or `text:` of an activity.
fn message_texts(node: &Node<'_>, path: &str, report: &mut Report) -> Vec<String> {
    match node {
        Node::Map(_) => {
            let Some(mut view) = MapView::of(node, path.to_owned(), report) else {
                return Vec::new();
            };
            let texts = view.strings("text", report);
            view.allow_sorted(ACTIVITY_TEMPLATE_KEYS);
            view.finish(report);
            texts
        }
        other => strings_of(other, path, report),
    }
}

/// `connectionProperties.mode`; the other keys of `connectionProperties` are checked.
fn connection_mode(view: &mut MapView<'_>, report: &mut Report) -> Option<ConnectionMode> {
    let mut properties = view.map("connectionProperties", report)?;
    let mode = properties.string("mode", report).map(ConnectionMode::from);
    properties.allow(&["kind", "name", "usageDescription"]);
    properties.finish(report);
    mode
}

/// The connector API name: the last segment of `connectorId`, else the
/// `shared_...` segment of a connection reference logical name.
fn connector_name(
    connector_id: Option<&str>,
    connection_reference: Option<&str>,
) -> Option<String> {
    if let Some(id) = connector_id
        && let Some(last) = id.rsplit('/').next().filter(|s| !s.is_empty())
    {
        return Some(last.to_owned());
    }
    connection_reference?
        .split('.')
        .find(|segment| segment.starts_with("shared_"))
        .map(str::to_owned)
}

// ---------------------------------------------------------------- tools

fn parse_task_dialog(view: &mut MapView<'_>, report: &mut Report) -> Tool {
    let mut tool = Tool::new(ToolType::Unknown);
    tool.display_name = view.string("modelDisplayName", report);
    tool.description = view.string("modelDescription", report);
    tool.inputs = task_inputs(view, report);
    for (path, node) in view.seq("outputs", report) {
        if let Some(mut output) = MapView::of(node, path, report) {
            if let Some(name) = output.string("propertyName", report) {
                tool.outputs.push(ToolOutput {
                    name,
                    description: output.string("description", report),
                });
            }
            output.allow(&["name", "kind"]);
            output.finish(report);
        }
    }
    // Without an `action` the tool stays `ToolType::Unknown`.
    if let Some(mut action) = view.map("action", report) {
        parse_task_action(&mut action, &mut tool, report);
        action.finish(report);
    }
    view.allow(&["confirmation", "response", "outputMode", "triggerCondition"]);
    tool
}

fn task_inputs(view: &mut MapView<'_>, report: &mut Report) -> Vec<ToolInput> {
    let mut inputs = Vec::new();
    for (path, node) in view.seq("inputs", report) {
        let Some(mut input) = MapView::of(node, path, report) else {
            continue;
        };
        let kind = input.kind(report);
        if let Some(kind) = &kind
            && kind != "ManualTaskInput"
            && kind != "AutomaticTaskInput"
        {
            report.unknown_kind(input.path_of("kind"), kind);
        }
        let name = input.string("propertyName", report);
        let value = input.take("value").and_then(Node::scalar_text);
        let description = input.string("description", report);
        input.allow(&[
            "name",
            "entity",
            "shouldPromptUser",
            "defaultValue",
            "inputSettings",
        ]);
        input.finish(report);
        if let Some(name) = name {
            inputs.push(ToolInput {
                name,
                kind,
                value,
                description,
            });
        }
    }
    inputs
}

fn parse_task_action(action: &mut MapView<'_>, tool: &mut Tool, report: &mut Report) {
    let Some(kind) = action.kind(report) else {
        report.push(action.path.clone(), UnrecognizedReason::MissingKind);
        action.allow_all();
        return;
    };
    tool.connection_reference = action.string("connectionReference", report);
    tool.connection_mode = connection_mode(action, report);
    tool.operation_id = action.string("operationId", report);
    tool.flow_id = action.string("flowId", report);
    tool.model_id = action.string("aIModelId", report);
    tool.agent_schema_name = action
        .string("botSchemaName", report)
        .or_else(|| action.string("gptComponentSchemaName", report));
    let skill = action.string("skillId", report);
    let skill_action = action.string("actionId", report);
    tool.skill_action = match (skill, skill_action) {
        (Some(s), Some(a)) => Some(format!("{s}/{a}")),
        (s, a) => s.or(a),
    };
    tool.history = action
        .take("historyType")
        .and_then(Node::kind)
        .map(str::to_owned);
    if let Some(mut details) = action.map("operationDetails", report) {
        tool.protocol = details.kind(report);
        if tool.operation_id.is_none() {
            tool.operation_id = details.string("operationId", report);
        }
        match tool
            .protocol
            .as_deref()
            .map(|k| (k, lookup(PROTOCOL_METADATA, k)))
        {
            Some((_, Some(schema))) => details.allow_sorted(schema.keys),
            Some((k, None)) => {
                report.unknown_kind(details.path_of("kind"), k);
                details.allow_all();
            }
            None => report.push(details.path.clone(), UnrecognizedReason::MissingKind),
        }
        details.finish(report);
    }
    tool.action_kind = Some(kind.clone());
    tool.tool_kind = match kind.as_str() {
        "InvokeConnectorTaskAction" => ToolType::Connector,
        "InvokeFlowTaskAction" => ToolType::Flow,
        "InvokeExternalAgentTaskAction"
            if tool.protocol.as_deref() == Some("ModelContextProtocolMetadata") =>
        {
            ToolType::McpServer
        }
        "InvokeExternalAgentTaskAction" => ToolType::ExternalAgent,
        "InvokeConnectedAgentTaskAction" => ToolType::ConnectedAgent,
        "InvokeAgentTaskAction" => ToolType::ChildAgent,
        "InvokeAIBuilderModelTaskAction" => ToolType::AiBuilderModel,
        "InvokeAIPluginTaskAction" => ToolType::AiPlugin,
        "InvokeSkillTaskAction" => ToolType::Skill,
        "InvokeClientTaskAction" => ToolType::ClientTool,
        "InvokeComputerUsingAgentTaskAction" => ToolType::ComputerUse,
        _ => ToolType::Unknown,
    };
    tool.connector = connector_name(None, tool.connection_reference.as_deref());
    match lookup(TASK_ACTIONS, &kind) {
        Some(schema) => action.allow_sorted(schema.keys),
        None => {
            report.unknown_kind(action.path_of("kind"), &kind);
            action.allow_all();
        }
    }
}

fn parse_agent_dialog(view: &mut MapView<'_>, report: &mut Report) -> Tool {
    let mut tool = Tool::new(ToolType::ChildAgent);
    tool.inputs = task_inputs(view, report);
    if let Some(node) = view.take("beginDialog")
        && let Some(trigger) =
            parse_trigger(node, view.path_of("beginDialog"), &mut tool.actions, report)
    {
        tool.description = trigger.description;
    }
    if let Some(mut settings) = view.map("settings", report) {
        let gpt = parse_gpt(&mut settings, report);
        tool.instructions = gpt.instructions;
        settings.finish(report);
    }
    if let Some(node) = view.take("inputType") {
        for (name, description) in record_properties(node) {
            tool.inputs.push(ToolInput {
                name,
                kind: None,
                value: None,
                description,
            });
        }
    }
    if let Some(node) = view.take("outputType") {
        for (name, description) in record_properties(node) {
            tool.outputs.push(ToolOutput { name, description });
        }
    }
    view.allow(&["confirmation", "response"]);
    tool
}

/// Property names (and descriptions) of a record type (`inputType`, `outputType`).
fn record_properties(node: &Node<'_>) -> Vec<(String, Option<String>)> {
    match node.get("properties") {
        Some(Node::Map(entries)) => entries
            .iter()
            .map(|(name, p)| {
                (
                    name.to_string(),
                    p.get("description").and_then(Node::scalar_text),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn parse_inline_skill(view: &mut MapView<'_>, report: &mut Report) -> Tool {
    let mut tool = Tool::new(ToolType::InlineSkill);
    let Some(content) = view.string("content", report) else {
        return tool;
    };
    let content_path = view.path_of("content");
    // The body is Markdown with optional YAML front matter between `---` lines.
    let body = match split_front_matter(&content) {
        Some((front, body)) => {
            match load_yaml(front) {
                Ok(loaded) => {
                    if let Some(root) = &loaded.root
                        && let Some(mut fm) = MapView::of(root, content_path.clone(), report)
                    {
                        tool.display_name = fm.string("name", report);
                        tool.description = fm.string("description", report);
                        // Other front-matter keys (license, allowed-tools ...) are kept opaque.
                        fm.allow_all();
                    }
                }
                Err(error) => report.push(
                    content_path,
                    UnrecognizedReason::UnexpectedShape {
                        expected: "YAML front matter".to_owned(),
                        found: error.to_string(),
                    },
                ),
            }
            body
        }
        None => content.as_str(),
    };
    tool.instructions = Some(body.to_owned()).filter(|b| !b.trim().is_empty());
    tool
}

/// Splits `---\n<front>\n---\n<body>`; `None` when there is no front matter.
fn split_front_matter(content: &str) -> Option<(&str, &str)> {
    let rest = content.strip_prefix("---")?;
    let rest = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

// ---------------------------------------------------------------- others

fn parse_knowledge(view: &mut MapView<'_>, report: &mut Report) -> KnowledgeSource {
    let mut knowledge = KnowledgeSource::default();
    let Some(mut source) = view.map("source", report) else {
        return knowledge;
    };
    let kind = source.kind(report);
    knowledge.site = source.string("site", report);
    knowledge.skill_configuration = source.string("skillConfiguration", report);
    knowledge.index_name = source.string("indexName", report);
    knowledge.connection_reference = source.string("connectionReference", report);
    knowledge.include_sub_pages = source.boolean("includeSubPages", report);
    knowledge.trigger_condition = source.string("triggerCondition", report);
    match kind.as_deref().map(|k| (k, lookup(KNOWLEDGE_SOURCES, k))) {
        Some((_, Some(schema))) => source.allow_sorted(schema.keys),
        Some((k, None)) => {
            report.unknown_kind(source.path_of("kind"), k);
            source.allow_all();
        }
        None => report.push(source.path.clone(), UnrecognizedReason::MissingKind),
    }
    knowledge.source_kind = kind;
    source.finish(report);
    knowledge
}

fn parse_gpt(view: &mut MapView<'_>, report: &mut Report) -> CustomGpt {
    let mut gpt = CustomGpt {
        display_name: view.string("displayName", report),
        instructions: view.string("instructions", report),
        response_instructions: view.string("responseInstructions", report),
        ..CustomGpt::default()
    };
    for (path, node) in view.seq("conversationStarters", report) {
        if let Some(mut starter) = MapView::of(node, path, report) {
            gpt.conversation_starters.push(ConversationStarter {
                title: starter.string("title", report),
                text: starter.string("text", report),
            });
            starter.finish(report);
        }
    }
    if let Some(mut caps) = view.map("gptCapabilities", report) {
        for (index, (key, value)) in caps.entries().iter().enumerate() {
            if let Some(b) = value.as_bool() {
                gpt.capabilities.insert(key.to_string(), b);
                caps.allow_index(index);
            }
        }
        caps.allow(&["fineTunedModels", "customExperience"]);
        caps.finish(report);
    }
    if let Some(mut ai) = view.map("aISettings", report) {
        if let Some(mut model) = ai.map("model", report) {
            gpt.model_kind = model.kind(report);
            gpt.model_hint = model.string("modelNameHint", report);
            model.finish(report);
        }
        ai.allow(&[
            "extensionData",
            "useModelKnowledge",
            "isFileAnalysisEnabled",
            "isSemanticSearchEnabled",
            "contentModeration",
            "optInUseLatestModels",
        ]);
        ai.finish(report);
    }
    if let Some(node) = view.take("knowledgeSources") {
        gpt.knowledge_sources =
            knowledge_selection(node, &view.path_of("knowledgeSources"), report);
    }
    for (path, node) in view.seq("tools", report) {
        match node.kind() {
            Some(kind) => gpt.tools.push(kind.to_owned()),
            None => report.push(path, UnrecognizedReason::MissingKind),
        }
    }
    view.allow(&[
        "inputType",
        "outputType",
        "historyType",
        "fileSearchDataSource",
        "defaultResponseMode",
    ]);
    gpt
}

fn parse_external_trigger(view: &mut MapView<'_>, report: &mut Report) -> ExternalTrigger {
    let mut trigger = ExternalTrigger::default();
    if let Some(mut source) = view.map("externalTriggerSource", report) {
        trigger.source_kind = source.kind(report);
        trigger.flow_id = source.string("flowId", report);
        match trigger
            .source_kind
            .as_deref()
            .map(|k| (k, lookup(EXTERNAL_TRIGGERS, k)))
        {
            Some((_, Some(schema))) => source.allow_sorted(schema.keys),
            Some((k, None)) => {
                report.unknown_kind(source.path_of("kind"), k);
                source.allow_all();
            }
            None => report.push(source.path.clone(), UnrecognizedReason::MissingKind),
        }
        source.finish(report);
    }
    if let Some(mut extension) = view.map("extensionData", report) {
        trigger.flow_name = extension.string("flowName", report);
        trigger.flow_url = extension.string("flowUrl", report);
        trigger.connection_type = extension.string("triggerConnectionType", report);
        extension.finish(report);
    }
    trigger
}

fn parse_skill(view: &mut MapView<'_>, report: &mut Report) -> SkillDefinition {
    let mut skill = SkillDefinition {
        manifest_version: view.string("manifestVersion", report),
        privacy_policy: view.string("privacyPolicy", report),
        ..SkillDefinition::default()
    };
    for (key, slot) in [
        ("appId", &mut skill.app_id_variable),
        ("appEndpoint", &mut skill.app_endpoint_variable),
    ] {
        if let Some(mut reference) = view.map(key, report) {
            *slot = reference.string("schemaName", report);
            reference.finish(report);
        }
    }
    for (path, node) in view.seq("actions", report) {
        let Some(mut action) = MapView::of(node, path, report) else {
            continue;
        };
        let mut parsed = SkillAction {
            action_id: action.string("actionId", report),
            activity_type: action.string("activityType", report),
            title: action.string("title", report),
            ..SkillAction::default()
        };
        if let Some(node) = action.take("inputType") {
            parsed.inputs = record_properties(node)
                .into_iter()
                .map(|(name, _)| name)
                .collect();
        }
        if let Some(node) = action.take("outputType") {
            parsed.outputs = record_properties(node)
                .into_iter()
                .map(|(name, _)| name)
                .collect();
        }
        action.finish(report);
        skill.actions.push(parsed);
    }
    skill
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_split() {
        assert_eq!(
            split_front_matter("---\nname: a\n---\nbody\n"),
            Some(("name: a\n", "body\n"))
        );
        assert_eq!(
            split_front_matter("---\r\nname: a\r\n---\r\nbody"),
            Some(("name: a\r\n", "body"))
        );
        assert_eq!(split_front_matter("no front matter"), None);
        assert_eq!(split_front_matter("---\nunterminated\n"), None);
    }

    #[test]
    fn connector_names() {
        assert_eq!(
            connector_name(Some("/providers/Microsoft.PowerApps/apis/shared_a"), None).as_deref(),
            Some("shared_a")
        );
        assert_eq!(
            connector_name(None, Some("x.shared_office365.abc")).as_deref(),
            Some("shared_office365")
        );
        assert_eq!(connector_name(None, Some("cr_x")), None);
    }

    #[test]
    fn schema_tables_are_sorted_for_binary_search() {
        for table in [
            DIALOG_ACTIONS,
            TRIGGERS,
            TASK_ACTIONS,
            KNOWLEDGE_SOURCES,
            EXTERNAL_TRIGGERS,
            PROTOCOL_METADATA,
        ] {
            assert!(table.windows(2).all(|w| w[0].kind < w[1].kind));
            for row in table {
                assert!(row.keys.windows(2).all(|w| w[0] < w[1]), "{}", row.kind);
            }
        }
    }
}

//! `botcomponents` rows with YAML `data` shaped like real Copilot Studio solution exports, and
//! the `bots.configuration` JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};
use uuid::Uuid;

use super::catalog::{DOMAINS, KnowledgeKind, ToolDef, ToolKind};
use super::{BotProfile, Maker, Row, TenantIdentity, compact, iso};
use crate::rng::{Rng, label};

const S_COMPONENT: u64 = 7;
const S_KNOWLEDGE: u64 = 8;
const S_COMPONENT_ROW: u64 = 9;
const S_CONFIG_SHAPE: u64 = 10;
const S_PADDING: u64 = 11;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The botcomponentid of a component, derived from its schema name.
pub(crate) fn component_id(seed: u64, bot: &BotProfile, schema: &str) -> Uuid {
    Rng::new(seed, &[S_COMPONENT, bot.index as u64, label(schema)]).uuid()
}

pub(crate) fn topic_schema(bot: &BotProfile, name: &str) -> String {
    format!("{}.topic.{}", bot.schema, compact(name))
}

pub(crate) fn tool_schema(bot: &BotProfile, tool: &ToolDef) -> String {
    match tool.kind {
        ToolKind::Mcp => format!(
            "{}.topic.{}",
            bot.schema,
            compact(tool.name).to_ascii_lowercase()
        ),
        // Real schema names cut long display names (e.g. `...Performanunboundactioninselectedenvi`).
        _ => {
            let name = compact(tool.name);
            format!("{}.action.{}", bot.schema, &name[..name.len().min(50)])
        }
    }
}

pub(crate) fn knowledge_schema(seed: u64, bot: &BotProfile, k: usize) -> String {
    let def = &DOMAINS[bot.domain].knowledge[k];
    let suffix = Rng::new(seed, &[S_KNOWLEDGE, bot.index as u64, k as u64]).string(ALNUM, 21);
    format!("{}.topic.{}_{suffix}", bot.schema, compact(def.name))
}

/// A double-quoted YAML scalar.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn action_id(r: &mut Rng, prefix: &str) -> String {
    format!("{prefix}_{}", r.string(ALNUM, 6))
}

pub(crate) fn greeting_text(bot: &BotProfile) -> String {
    format!(
        "Hello, I'm {}, a virtual assistant. Just so you are aware, I sometimes use AI to answer your questions. If you provided a website during creation, try asking me about it! Next try giving me some more knowledge by setting up generative AI.",
        bot.name
    )
}

pub(crate) const FALLBACK_TEXT: &str =
    "I'm sorry, I'm not sure how to help with that. Can you try rephrasing?";

/// The `bots.configuration` JSON, like the real samples, in the shapes seen over time: most
/// agents have today's shape; some (without generative orchestration) an older one without AI
/// settings, or none at all (`null`); some carry settings this workspace does not know yet.
/// The shape is drawn from the agent's own stream, so other generated values do not move.
pub(crate) fn bot_configuration(bot: &BotProfile, r: &mut Rng) -> Option<String> {
    let mut shape = Rng::new(bot.id.as_u128() as u64, &[S_CONFIG_SHAPE]);
    let draw = shape.unit();
    let current = current_configuration(bot, r);
    if bot.orchestration {
        return Some(if draw < 0.15 {
            with_unknown_settings(current)
        } else {
            current.to_string()
        });
    }
    let channels = current["channels"].clone();
    Some(match draw {
        d if d < 0.05 => return None,
        d if d < 0.12 => json!({
            "$kind": "BotConfiguration",
            "channels": channels,
            "settings": {},
            "publishOnImport": true,
        })
        .to_string(),
        d if d < 0.22 => with_unknown_settings(current),
        _ => current.to_string(),
    })
}

/// A newer configuration: settings and sections a reader must keep without understanding.
fn with_unknown_settings(mut config: Value) -> String {
    config["settings"]["EnableMultilingual"] = json!(true);
    config["optInUseLatestModels"] = json!(true);
    config["agentFeatures"] =
        json!({"$kind": "AgentFeatures", "computerUse": {"enabled": false}, "deepReasoning": true});
    config["aISettings"]["knowledgeRetrieval"] =
        json!({"$kind": "KnowledgeRetrievalSettings", "maxResults": 5});
    config.to_string()
}

fn current_configuration(bot: &BotProfile, r: &mut Rng) -> Value {
    let channels: Vec<Value> = bot
        .channels
        .iter()
        .map(|c| json!({"id": null, "channelId": c, "channelSpecifier": null, "displayName": null}))
        .collect();
    let mut config = json!({
        "$kind": "BotConfiguration",
        "categories": [],
        "channels": channels,
        "settings": {"GenerativeActionsEnabled": bot.orchestration},
        "publishOnCreate": false,
        "publishOnImport": true,
        "isLightweightBot": false,
        "isAgentConnectable": r.chance(0.5),
        "gPTSettings": {"$kind": "GPTSettings", "defaultSchemaName": format!("{}.gpt.default", bot.schema)},
        "aISettings": {
            "$kind": "AISettings",
            "useModelKnowledge": r.chance(0.6),
            "isFileAnalysisEnabled": true,
            "isSemanticSearchEnabled": true,
            "contentModeration": *r.pick(&["Low", "Medium", "High"]),
            "optInUseLatestModels": false,
        },
    });
    if bot.orchestration {
        config["recognizer"] = json!({"$kind": "GenerativeAIRecognizer"});
    }
    config
}

struct Component {
    schema: String,
    componenttype: i64,
    name: String,
    description: Option<String>,
    data: String,
    parent_component: Option<String>,
}

fn system_topics(bot: &BotProfile, r: &mut Rng) -> Vec<Component> {
    let greeting = greeting_text(bot);
    let mut out = Vec::new();
    let mut push = |name: &str, data: String| {
        out.push(Component {
            schema: topic_schema(bot, name),
            componenttype: 9,
            name: name.to_owned(),
            description: None,
            data,
            parent_component: None,
        });
    };
    push(
        "Conversation Start",
        format!(
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnConversationStart\n  id: main\n  actions:\n    - kind: SendActivity\n      id: sendMessage_M0LuhV\n      activity:\n        text:\n          - {}\n        speak:\n          - Hello and thank you for calling {}.\n",
            q(&greeting),
            bot.name
        ),
    );
    push(
        "Greeting",
        format!(
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  intent:\n    displayName: Greeting\n    includeInOnSelectIntent: false\n    triggerQueries:\n      - Good afternoon\n      - Good morning\n      - Hello\n      - Hey\n      - Hi\n\n  actions:\n    - kind: SendActivity\n      id: {}\n      activity:\n        text:\n          - Hello, how can I help you today?\n        speak:\n          - Hello, <break strength=\"medium\" /> how can I help?\n\n    - kind: CancelAllDialogs\n      id: {}\n",
            action_id(r, "sendMessage"),
            action_id(r, "cancelAllDialogs")
        ),
    );
    push(
        "Goodbye",
        format!(
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  intent:\n    displayName: Goodbye\n    triggerQueries:\n      - Bye\n      - Bye for now\n      - Goodbye\n      - See you later\n\n  actions:\n    - kind: Question\n      id: {}\n      variable: Topic.EndConversation\n      prompt: Are you sure you want to end our conversation?\n      entity: BooleanPrebuiltEntity\n\n    - kind: BeginDialog\n      id: {}\n      dialog: {}.topic.EndofConversation\n",
            action_id(r, "question"),
            action_id(r, "beginDialog"),
            bot.schema
        ),
    );
    push(
        "Thank you",
        format!(
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  intent:\n    displayName: Thank you\n    triggerQueries:\n      - thanks\n      - thank you\n      - thanks so much\n      - ty\n\n  actions:\n    - kind: SendActivity\n      id: {}\n      activity: You're welcome.\n",
            action_id(r, "sendMessage")
        ),
    );
    push(
        "Fallback",
        format!(
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnUnknownIntent\n  id: main\n  actions:\n    - kind: ConditionGroup\n      id: conditionGroup_LktzXw\n      conditions:\n        - id: conditionItem_tlGIVo\n          condition: =System.FallbackCount < 3\n          actions:\n            - kind: SendActivity\n              id: sendMessage_QZreqo\n              activity: {}\n\n      elseActions:\n        - kind: BeginDialog\n          id: {}\n          dialog: {}.topic.Escalate\n",
            q(FALLBACK_TEXT),
            action_id(r, "beginDialog"),
            bot.schema
        ),
    );
    push(
        "Escalate",
        format!(
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnEscalate\n  id: main\n  intent:\n    displayName: Escalate\n    triggerQueries:\n      - Talk to agent\n      - Talk to a person\n      - Speak to a representative\n\n  actions:\n    - kind: SendActivity\n      id: {}\n      activity: Escalating to a representative is not currently configured for this agent, however this is where the agent could provide information about how to get in touch with someone another way.\n",
            action_id(r, "sendMessage")
        ),
    );
    push(
        "On Error",
        "kind: AdaptiveDialog\nstartBehavior: UseLatestPublishedContentAndCancelOtherTopics\nbeginDialog:\n  kind: OnError\n  id: main\n  actions:\n    - kind: SetVariable\n      id: setVariable_timestamp\n      variable: init:Topic.CurrentTime\n      value: =Text(Now(), DateTimeFormat.UTC)\n\n    - kind: ConditionGroup\n      id: condition_1\n      conditions:\n        - id: bL4wmY\n          condition: =System.Conversation.InTestMode = true\n          actions:\n            - kind: SendActivity\n              id: sendMessage_XJBYMo\n              activity: |-\n                Error Message: {System.Error.Message}\n                Error Code: {System.Error.Code}\n                Conversation Id: {System.Conversation.Id}\n                Time (UTC): {Topic.CurrentTime}\n\n      elseActions:\n        - kind: SendActivity\n          id: sendMessage_dZ0gaF\n          activity:\n            text:\n              - |-\n                An error has occurred.\n                Error code: {System.Error.Code}\n                Conversation Id: {System.Conversation.Id}\n                Time (UTC): {Topic.CurrentTime}.\n            speak:\n              - An error has occurred, please try again.\n\n    - kind: CancelAllDialogs\n      id: NW7NyY\n".to_owned(),
    );
    push(
        "End of Conversation",
        format!(
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnSystemRedirect\n  id: main\n  actions:\n    - kind: Question\n      id: {}\n      variable: Topic.SurveyResponse\n      prompt: Did that answer your question?\n      entity: BooleanPrebuiltEntity\n\n    - kind: EndConversation\n      id: {}\n",
            action_id(r, "question"),
            action_id(r, "endConversation")
        ),
    );
    if !bot.knowledge.is_empty() {
        push(
            "Search",
            "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnUnknownIntent\n  id: main\n  priority: -1\n  actions:\n    - kind: SearchAndSummarizeContent\n      id: search-content\n      variable: Topic.Answer\n      userInput: =System.Activity.Text\n\n    - kind: ConditionGroup\n      id: has-answer-conditions\n      conditions:\n        - id: has-answer\n          condition: =!IsBlank(Topic.Answer)\n          actions:\n            - kind: EndDialog\n              id: end-topic\n              clearTopicQueue: true\n".to_owned(),
        );
    }
    out
}

fn custom_topic(bot: &BotProfile, t: usize, r: &mut Rng) -> Component {
    let def = &DOMAINS[bot.domain].topics[t];
    custom_topic_named(bot, def, def.name, r)
}

/// A maker's numbered copy of one of the domain's topics ("Reset password 2"), as makers
/// make when one topic grows variants: pads an agent to a component count.
fn topic_copy(bot: &BotProfile, n: usize, r: &mut Rng) -> Component {
    let topics = DOMAINS[bot.domain].topics;
    let def = &topics[n % topics.len()];
    let name = format!("{} {}", def.name, n / topics.len() + 2);
    custom_topic_named(bot, def, &name, r)
}

fn custom_topic_named(
    bot: &BotProfile,
    def: &super::catalog::TopicDef,
    name: &str,
    r: &mut Rng,
) -> Component {
    let mut data = String::from("kind: AdaptiveDialog\n");
    if bot.orchestration {
        let _ = writeln!(
            data,
            "modelDescription: {}",
            q(&format!(
                "This topic helps users {}.",
                def.name.to_ascii_lowercase()
            ))
        );
    }
    let _ = write!(
        data,
        "beginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  intent:\n    displayName: {}\n    triggerQueries:\n",
        q(name)
    );
    for trigger in def.triggers {
        let _ = writeln!(data, "      - {}", q(trigger));
    }
    data.push_str("\n  actions:\n");
    if let Some((question, choices)) = def.card {
        let actions: Vec<Value> = choices
            .iter()
            .map(|c| json!({"type": "Action.Submit", "title": c, "data": {"choice": c}}))
            .collect();
        let card = json!({
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": question, "wrap": true, "weight": "Bolder"}],
            "actions": actions,
        });
        let pretty = serde_json::to_string_pretty(&card).unwrap_or_default();
        let _ = write!(
            data,
            "    - kind: AdaptiveCardPrompt\n      id: {}\n      card: |-\n",
            action_id(r, "adaptiveCardPrompt")
        );
        for line in pretty.lines() {
            let _ = writeln!(data, "        {line}");
        }
        data.push_str("\n      output:\n        binding:\n          choice: Topic.Choice\n\n      outputType:\n        properties:\n          choice: String\n\n");
    }
    let _ = write!(
        data,
        "    - kind: SendActivity\n      id: {}\n      activity: {}\n",
        action_id(r, "sendMessage"),
        q(def.reply)
    );
    Component {
        schema: topic_schema(bot, name),
        componenttype: 9,
        name: name.to_owned(),
        description: None,
        data,
        parent_component: None,
    }
}

fn tool(bot: &BotProfile, t: usize, r: &mut Rng) -> Component {
    let def = &DOMAINS[bot.domain].tools[t];
    let schema = tool_schema(bot, def);
    let data = match def.kind {
        ToolKind::Connector {
            connector,
            operation,
        } => {
            let dashed = connector.replace('_', "-");
            format!(
                "kind: TaskDialog\ninputs:\n  - kind: AutomaticTaskInput\n    propertyName: {}\n    description: {}\n\nmodelDisplayName: {}\nmodelDescription: {}\noutputs:\n  - propertyName: response\n    name: response\n\naction:\n  kind: InvokeConnectorTaskAction\n  connectionReference: {}.{connector}.{}-{}\n  connectionProperties:\n    mode: {}\n\n  operationId: {operation}\n\noutputMode: All\n",
                def.argument.0,
                q(&format!("The {} to use", def.argument.0)),
                q(def.name),
                q(def.description),
                bot.schema,
                &dashed[..dashed.len().min(26)],
                r.uuid(),
                r.pick(&["Maker", "Invoker"]),
            )
        }
        ToolKind::Mcp => format!(
            "kind: TaskDialog\nmodelDisplayName: {}\nmodelDescription: {}\naction:\n  kind: InvokeExternalAgentTaskAction\n  connectionReference: {}.shared_{}-5fmcp-5f{}.{}\n  connectionProperties:\n    mode: Maker\n\n  operationDetails:\n    kind: ModelContextProtocolMetadata\n    operationId: InvokeServer\n",
            q(def.name),
            q(def.description),
            bot.schema,
            compact(def.name).to_ascii_lowercase(),
            r.string(b"0123456789abcdef", 18),
            r.uuid().simple(),
        ),
        ToolKind::Flow => format!(
            "kind: TaskDialog\ninputs:\n  - kind: AutomaticTaskInput\n    propertyName: {}\n\nmodelDisplayName: {}\nmodelDescription: {}\noutputs:\n  - propertyName: result\n\naction:\n  kind: InvokeFlowTaskAction\n  flowId: {}\n\noutputMode: All\n",
            def.argument.0,
            q(def.name),
            q(def.description),
            r.uuid(),
        ),
    };
    Component {
        schema,
        componenttype: 9,
        name: def.name.to_owned(),
        description: Some(def.description.to_owned()),
        data,
        parent_component: None,
    }
}

fn knowledge(seed: u64, bot: &BotProfile, k: usize) -> Component {
    let def = &DOMAINS[bot.domain].knowledge[k];
    let source = match def.kind {
        KnowledgeKind::SharePoint(site) => {
            format!("  kind: SharePointSearchSource\n  site: {site}\n")
        }
        KnowledgeKind::PublicSite(site) => {
            format!("  kind: PublicSiteSearchSource\n  site: {site}\n")
        }
        KnowledgeKind::Dataverse(skill) => format!(
            "  kind: DataverseStructuredSearchSource\n  skillConfiguration: {skill}_{}\n",
            Rng::new(seed, &[S_KNOWLEDGE, bot.index as u64, 100 + k as u64]).string(ALNUM, 21)
        ),
    };
    Component {
        schema: knowledge_schema(seed, bot, k),
        componenttype: 16,
        name: def.name.to_owned(),
        description: Some(def.description.to_owned()),
        data: format!("kind: KnowledgeSourceConfiguration\nsource:\n{source}"),
        parent_component: None,
    }
}

fn gpt_default(bot: &BotProfile, agents: usize, r: &mut Rng) -> Component {
    let domain = &DOMAINS[bot.domain];
    let mut data = format!(
        "kind: GptComponentMetadata\ndisplayName: {}\n",
        q(&bot.name)
    );
    // The orchestration-without-instructions plant has no instructions at all.
    if !super::posture::without_instructions(bot.index, agents) {
        data.push_str("instructions: |-\n");
        for line in domain.instructions.lines() {
            let _ = writeln!(data, "  {line}");
        }
    }
    if r.chance(0.4) {
        data.push_str("gptCapabilities:\n  webBrowsing: true\n\n");
    } else {
        data.push_str("gptCapabilities: {}\n");
    }
    data.push_str("conversationStarters:\n");
    for (question, _) in domain.questions.iter().take(2) {
        let title: String = question
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            data,
            "  - title: {}\n    text: {}\n\n",
            q(&title),
            q(question)
        );
    }
    let _ = write!(
        data,
        "aISettings:\n  model:\n    kind: CurrentModels\n    modelNameHint: {}\n\n  extensionData:\n    lastUsedCustomModel: {{}}\n",
        r.pick(&["GPT41", "GPT4o", "GPT5Chat", "Sonnet46"])
    );
    Component {
        schema: format!("{}.gpt.default", bot.schema),
        componenttype: 15,
        name: bot.name.clone(),
        description: None,
        data,
        parent_component: None,
    }
}

fn extras(seed: u64, bot: &BotProfile, all: &[BotProfile], r: &mut Rng) -> Vec<Component> {
    let mut out = Vec::new();
    if r.chance(0.3) {
        out.push(Component {
            schema: format!("{}.BotSettingsComponent.ContentModeration", bot.schema),
            componenttype: 18,
            name: "ContentModeration".to_owned(),
            description: None,
            data: "kind: ContentModerationSettings\nmoderatedCustomResponse: \" I need to keep our conversation focused on topics I can help with. \"\n".to_owned(),
            parent_component: None,
        });
    }
    if r.chance(0.5) {
        out.push(Component {
            schema: format!("{}.BotSettingsComponent.Feedback", bot.schema),
            componenttype: 18,
            name: "Feedback".to_owned(),
            description: None,
            data: "kind: DefaultFeedbackCollection".to_owned(),
            parent_component: None,
        });
    }
    if r.chance(0.1) {
        let flow = r.uuid();
        let env = Rng::new(seed, &[1]).uuid();
        out.push(Component {
            schema: format!(
                "{}.ExternalTriggerComponent.Whenanewemailarrivesf.{}",
                bot.schema,
                &r.uuid().to_string()[..35]
            ),
            componenttype: 17,
            name: "When a new email arrives".to_owned(),
            description: Some("Trigger your agent with certain message upon event: When a new email arrives (V3).".to_owned()),
            data: format!(
                "kind: ExternalTriggerConfiguration\nexternalTriggerSource:\n  kind: WorkflowExternalTrigger\n  flowId: {}\n\nextensionData:\n  flowName: {flow}\n  flowUrl: /providers/Microsoft.ProcessSimple/environments/{env}/flows/{flow}\n  triggerConnectionType: Office 365 Outlook\n",
                r.uuid()
            ),
            parent_component: None,
        });
    }
    if bot.orchestration && all.len() > 1 && r.chance(0.1) {
        let other = &all[(bot.index + 1 + r.index(all.len() - 1)) % all.len()];
        out.push(Component {
            schema: format!("{}.tool.connected-agent.{}", bot.schema, other.schema),
            componenttype: 9,
            name: other.name.clone(),
            description: Some(format!("Hands the conversation to {}", other.name)),
            data: format!(
                "kind: ConnectedAgentTool\nbotSchemaName: {}\nhistoryType:\n  kind: ConversationHistory\n",
                other.schema
            ),
            parent_component: None,
        });
    }
    out
}

/// Every component of one agent, as rows.
pub(crate) fn component_rows(
    seed: u64,
    bot: &BotProfile,
    identity: &TenantIdentity,
    owner: &Maker,
    all: &[BotProfile],
    min_components: usize,
) -> Vec<Row> {
    let mut r = Rng::new(seed, &[S_COMPONENT_ROW, bot.index as u64]);
    let mut components = vec![gpt_default(bot, all.len(), &mut r)];
    components.extend(system_topics(bot, &mut r));
    for &t in &bot.topics {
        components.push(custom_topic(bot, t, &mut r));
    }
    for &t in &bot.tools {
        components.push(tool(bot, t, &mut r));
    }
    for &k in &bot.knowledge {
        components.push(knowledge(seed, bot, k));
    }
    components.extend(extras(seed, bot, all, &mut r));
    components.extend(
        super::posture::components(bot, all.len(), &identity.domain)
            .into_iter()
            .map(|p| Component {
                schema: p.schema,
                componenttype: p.componenttype,
                name: p.name.to_owned(),
                description: Some(p.description.to_owned()),
                data: p.data,
                parent_component: None,
            }),
    );
    // Padding draws from its own stream, so the other components are the same with or
    // without it.
    let mut pad = Rng::new(seed, &[S_PADDING, bot.index as u64]);
    let mut n = 0;
    while components.len() < min_components {
        components.push(topic_copy(bot, n, &mut pad));
        n += 1;
    }
    components
        .into_iter()
        .map(|c| {
            let created =
                bot.created + time::Duration::minutes(i64::try_from(r.range(0, 600)).unwrap_or(0));
            let modified =
                created + time::Duration::hours(i64::try_from(r.range(0, 24 * 20)).unwrap_or(0));
            let mut row = Row::new();
            row.insert(
                "botcomponentid".into(),
                json!(component_id(seed, bot, &c.schema)),
            );
            row.insert("name".into(), json!(c.name));
            row.insert("schemaname".into(), json!(c.schema));
            row.insert("componenttype".into(), json!(c.componenttype));
            row.insert("data".into(), json!(c.data));
            row.insert(
                "description".into(),
                c.description.map_or(Value::Null, Value::String),
            );
            row.insert("language".into(), json!(bot.language));
            row.insert("reusepolicy".into(), json!(0));
            row.insert("statecode".into(), json!(0));
            row.insert("statuscode".into(), json!(1));
            row.insert("componentstate".into(), json!(0));
            row.insert("ismanaged".into(), json!(false));
            row.insert("_parentbotid_value".into(), json!(bot.id));
            row.insert(
                "_parentbotcomponentid_value".into(),
                c.parent_component
                    .map_or(Value::Null, |p| json!(component_id(seed, bot, &p))),
            );
            row.insert("_ownerid_value".into(), json!(owner.id));
            row.insert("_owninguser_value".into(), json!(owner.id));
            row.insert("_createdby_value".into(), json!(owner.id));
            row.insert("_modifiedby_value".into(), json!(owner.id));
            row.insert(
                "_owningbusinessunit_value".into(),
                json!(identity.business_unit_id),
            );
            row.insert("createdon".into(), json!(iso(created)));
            row.insert("modifiedon".into(), json!(iso(modified)));
            row
        })
        .collect()
}

//! From an agent's `bot` row and component rows to inventory features.

use serde::{Deserialize, Serialize};

use crate::config::BotConfiguration;
use crate::model::{ComponentContent, ParsedComponent, ToolType};
use crate::parse::parse_component;
use crate::registry::{ComponentFamily, ComponentType, ComponentTypeRegistry, SchemaGeneration};

/// The inventory's `fsi_cai_featuretype` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FeatureType {
    /// Topic (100000000).
    Topic,
    /// Skill (100000001).
    Skill,
    /// Knowledge Source (100000002).
    KnowledgeSource,
    /// Custom GPT (100000003).
    CustomGpt,
    /// Copilot Settings (100000004).
    CopilotSettings,
    /// External Trigger (100000005).
    ExternalTrigger,
    /// File Attachment (100000006).
    FileAttachment,
    /// Bot Variable (100000007).
    BotVariable,
    /// Bot Entity (100000008).
    BotEntity,
    /// Dialog (100000009).
    Dialog,
    /// Trigger (100000010).
    Trigger,
    /// Language Understanding (100000011).
    LanguageUnderstanding,
    /// Language Generation (100000012).
    LanguageGeneration,
    /// Bot Translations (100000013).
    BotTranslations,
    /// Test Case (100000014).
    TestCase,
    /// Tool / Plugin (100000015).
    ToolPlugin,
    /// Connector (100000016).
    Connector,
    /// Power Automate Flow (100000017).
    PowerAutomateFlow,
    /// Environment Variable (100000018).
    EnvironmentVariable,
    /// Dataverse Search Grounding (100000019).
    DataverseSearchGrounding,
    /// AI Builder Model (100000020).
    AiBuilderModel,
    /// Dialog Schema (100000021).
    DialogSchema,
    /// People (Org Chart & Profile) (100000022, added in inventory release 0.2.0).
    People,
    /// Other / Unrecognized (100000099).
    Other,
}

impl FeatureType {
    /// Every value, in option-value order.
    pub const ALL: [FeatureType; 24] = [
        FeatureType::Topic,
        FeatureType::Skill,
        FeatureType::KnowledgeSource,
        FeatureType::CustomGpt,
        FeatureType::CopilotSettings,
        FeatureType::ExternalTrigger,
        FeatureType::FileAttachment,
        FeatureType::BotVariable,
        FeatureType::BotEntity,
        FeatureType::Dialog,
        FeatureType::Trigger,
        FeatureType::LanguageUnderstanding,
        FeatureType::LanguageGeneration,
        FeatureType::BotTranslations,
        FeatureType::TestCase,
        FeatureType::ToolPlugin,
        FeatureType::Connector,
        FeatureType::PowerAutomateFlow,
        FeatureType::EnvironmentVariable,
        FeatureType::DataverseSearchGrounding,
        FeatureType::AiBuilderModel,
        FeatureType::DialogSchema,
        FeatureType::People,
        FeatureType::Other,
    ];

    /// The `fsi_cai_featuretype` option value.
    pub fn option_value(self) -> i32 {
        match self {
            FeatureType::Other => 100_000_099,
            other => {
                let index = Self::ALL.iter().position(|t| *t == other).unwrap_or(0);
                100_000_000 + i32::try_from(index).unwrap_or(0)
            }
        }
    }

    /// The type for an option value, if it is one.
    pub fn from_option_value(value: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.option_value() == value)
    }

    /// The option label as published in the inventory schema.
    pub fn label(self) -> &'static str {
        match self {
            FeatureType::Topic => "Topic",
            FeatureType::Skill => "Skill",
            FeatureType::KnowledgeSource => "Knowledge Source",
            FeatureType::CustomGpt => "Custom GPT",
            FeatureType::CopilotSettings => "Copilot Settings",
            FeatureType::ExternalTrigger => "External Trigger",
            FeatureType::FileAttachment => "File Attachment",
            FeatureType::BotVariable => "Bot Variable",
            FeatureType::BotEntity => "Bot Entity",
            FeatureType::Dialog => "Dialog",
            FeatureType::Trigger => "Trigger",
            FeatureType::LanguageUnderstanding => "Language Understanding",
            FeatureType::LanguageGeneration => "Language Generation",
            FeatureType::BotTranslations => "Bot Translations",
            FeatureType::TestCase => "Test Case",
            FeatureType::ToolPlugin => "Tool / Plugin",
            FeatureType::Connector => "Connector",
            FeatureType::PowerAutomateFlow => "Power Automate Flow",
            FeatureType::EnvironmentVariable => "Environment Variable",
            FeatureType::DataverseSearchGrounding => "Dataverse Search Grounding",
            FeatureType::AiBuilderModel => "AI Builder Model",
            FeatureType::DialogSchema => "Dialog Schema",
            FeatureType::People => "People (Org Chart & Profile)",
            FeatureType::Other => "Other / Unrecognized",
        }
    }

    /// The feature type of a component family (used when the content says nothing more).
    pub fn for_family(family: ComponentFamily) -> Self {
        match family {
            ComponentFamily::Topic => FeatureType::Topic,
            ComponentFamily::Skill => FeatureType::Skill,
            ComponentFamily::Entity => FeatureType::BotEntity,
            ComponentFamily::Variable => FeatureType::BotVariable,
            ComponentFamily::Translations => FeatureType::BotTranslations,
            ComponentFamily::Dialog => FeatureType::Dialog,
            ComponentFamily::Trigger => FeatureType::Trigger,
            ComponentFamily::LanguageUnderstanding => FeatureType::LanguageUnderstanding,
            ComponentFamily::LanguageGeneration => FeatureType::LanguageGeneration,
            ComponentFamily::DialogSchema => FeatureType::DialogSchema,
            ComponentFamily::FileAttachment => FeatureType::FileAttachment,
            ComponentFamily::CustomGpt => FeatureType::CustomGpt,
            ComponentFamily::KnowledgeSource => FeatureType::KnowledgeSource,
            ComponentFamily::ExternalTrigger => FeatureType::ExternalTrigger,
            ComponentFamily::Settings => FeatureType::CopilotSettings,
            ComponentFamily::TestCase => FeatureType::TestCase,
            ComponentFamily::Unknown => FeatureType::Other,
        }
    }

    /// The feature type of a parsed component: by its content where that is more
    /// precise than its component type (type 9 holds tools as well as topics).
    ///
    /// A type-9 component whose content could not be classified (an unknown `kind`,
    /// no `kind`, empty `data`) is [`FeatureType::Other`], not a topic: type 9 holds
    /// actions, MCP tools, connected agents and skills too, and calling every one of
    /// them a topic is the very mislabel this crate exists to avoid.
    pub fn for_component(component: &ParsedComponent) -> Self {
        if component.component_type == ComponentType::TopicV2
            && matches!(
                component.content,
                ComponentContent::Unknown | ComponentContent::Empty
            )
        {
            return FeatureType::Other;
        }
        match &component.content {
            ComponentContent::Topic(_) => FeatureType::Topic,
            ComponentContent::Tool(tool) => match tool.tool_kind {
                ToolType::Connector => FeatureType::Connector,
                ToolType::Flow => FeatureType::PowerAutomateFlow,
                ToolType::AiBuilderModel => FeatureType::AiBuilderModel,
                ToolType::InlineSkill | ToolType::Skill => FeatureType::Skill,
                _ => FeatureType::ToolPlugin,
            },
            ComponentContent::KnowledgeSource(_) => FeatureType::KnowledgeSource,
            ComponentContent::CustomGpt(_) => FeatureType::CustomGpt,
            ComponentContent::ExternalTrigger(_) => FeatureType::ExternalTrigger,
            ComponentContent::Settings(_) => FeatureType::CopilotSettings,
            ComponentContent::Skill(_) => FeatureType::Skill,
            _ => Self::for_family(component.family),
        }
    }
}

/// The columns of a `bots` row this crate reads (Dataverse logical names in serde).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BotRow {
    /// `botid`.
    #[serde(rename = "botid")]
    pub bot_id: String,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `schemaname`.
    #[serde(rename = "schemaname", default)]
    pub schema_name: Option<String>,
    /// `configuration` (JSON text).
    #[serde(default)]
    pub configuration: Option<String>,
    /// `template`, e.g. `default-2.1.0` or `cliagent-1.0.0`.
    #[serde(default)]
    pub template: Option<String>,
    /// `publishedon`: when the agent was last published (RFC 3339, as Dataverse sends it);
    /// `None` if it never was.
    #[serde(rename = "publishedon", default)]
    pub published_on: Option<String>,
    /// `statecode` (0 active, 1 inactive).
    #[serde(rename = "statecode", default)]
    pub state_code: Option<i32>,
    /// `statuscode` (1 provisioned, 2 deprovisioned, 3 provisioning, 4 provision failed,
    /// 5 missing licence).
    #[serde(rename = "statuscode", default)]
    pub status_code: Option<i32>,
}

impl BotRow {
    /// A row with only its id set.
    pub fn new(bot_id: impl Into<String>) -> Self {
        BotRow {
            bot_id: bot_id.into(),
            ..Self::default()
        }
    }
}

/// The columns of a `botcomponents` row this crate reads (Dataverse logical names in serde).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentRow {
    /// `botcomponentid`.
    #[serde(rename = "botcomponentid")]
    pub component_id: String,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `schemaname`.
    #[serde(rename = "schemaname", default)]
    pub schema_name: Option<String>,
    /// `componenttype`.
    #[serde(rename = "componenttype")]
    pub component_type: i32,
    /// `data` (YAML text).
    #[serde(default)]
    pub data: Option<String>,
    /// `statecode` (0 active, 1 inactive).
    #[serde(rename = "statecode", default)]
    pub state_code: Option<i32>,
}

impl ComponentRow {
    /// A row with its id, type and data.
    pub fn new(component_id: impl Into<String>, component_type: i32, data: Option<String>) -> Self {
        ComponentRow {
            component_id: component_id.into(),
            component_type,
            data,
            ..Self::default()
        }
    }
}

/// One feature of an agent: exactly one per source row, so that
/// (agent, `source_id`) is unique as the inventory's alternate key requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Feature {
    /// The `fsi_cai_featuretype` class.
    pub feature_type: FeatureType,
    /// The raw `componenttype` (absent for the bot's own configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_type: Option<i32>,
    /// The V1/V2 generation of the component type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_version: Option<SchemaGeneration>,
    /// `botcomponentid`, or `botid` for the configuration.
    pub source_id: String,
    /// The row's `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The row's `schemaname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    /// From `statecode` (0 is enabled); absent when the row did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// What was read.
    pub detail: FeatureDetail,
}

/// The detail record of a feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FeatureDetail {
    /// A parsed component.
    Component(Box<ParsedComponent>),
    /// The bot's configuration.
    Configuration(Box<BotConfiguration>),
    /// The payload could not be read at all; the row is still listed.
    Unreadable {
        /// The error, with its position.
        error: String,
    },
}

/// Where an agent-level value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValueSource {
    /// A type-15 (`GptComponentMetadata`) component.
    CustomGptComponent,
    /// `bot.configuration.agentSettings` (newer agents without a type-15 component).
    AgentSettings,
}

/// An agent-level value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SourcedValue {
    /// The value.
    pub value: String,
    /// Where it was found.
    pub from: ValueSource,
    /// The id of the row it was found in.
    pub source_id: String,
}

/// The features of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentFeatures {
    /// The bot's id.
    pub agent_id: String,
    /// One feature for the configuration, then one per component row, in input order.
    pub features: Vec<Feature>,
    /// The agent's instructions, wherever they are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<SourcedValue>,
    /// The agent's model (hint or series), wherever it is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<SourcedValue>,
}

/// Turns an agent's `bot` row and component rows into features.
///
/// Never fails and never drops a row: an unknown type or kind becomes a feature with
/// what could be read, and unreadable payloads become [`FeatureDetail::Unreadable`].
/// Instructions and model come from `agentSettings` when the configuration has them
/// (newer agents), else from the type-15 component named by
/// `gPTSettings.defaultSchemaName`, else from the first type-15 component.
///
/// ```
/// use botcomponent_schema::{agent_features, BotRow, ComponentRow, ComponentTypeRegistry, FeatureType};
///
/// let mut bot = BotRow::new("b1");
/// bot.configuration = Some(r#"{"agentSettings":{"model":{"series":"Sonnet46"}}}"#.to_owned());
/// let rows = [ComponentRow::new("c1", 9, Some("kind: McpTool\noperationId: InvokeMCP".to_owned()))];
/// let agent = agent_features(&ComponentTypeRegistry::builtin(), &bot, &rows);
/// assert_eq!(agent.features[1].feature_type, FeatureType::ToolPlugin);
/// assert_eq!(agent.model.unwrap().value, "Sonnet46");
/// ```
pub fn agent_features(
    registry: &ComponentTypeRegistry,
    bot: &BotRow,
    components: &[ComponentRow],
) -> AgentFeatures {
    let mut features = Vec::with_capacity(components.len() + 1);
    let configuration = match BotConfiguration::parse(bot.configuration.as_deref().unwrap_or("")) {
        Ok(config) => Some(config),
        Err(error) => {
            tracing::debug!(bot_id = %bot.bot_id, %error, "bot.configuration is unreadable");
            features.push(bot_feature(
                bot,
                FeatureDetail::Unreadable {
                    error: error.to_string(),
                },
            ));
            None
        }
    };
    let default_gpt = configuration
        .as_ref()
        .and_then(|c| c.gpt_default_schema_name.clone());
    let agent_settings = configuration
        .as_ref()
        .and_then(|c| c.agent_settings.clone());
    if let Some(config) = configuration {
        features.push(bot_feature(
            bot,
            FeatureDetail::Configuration(Box::new(config)),
        ));
    }

    // (is the configured default, instructions, model hint, component id)
    let mut gpts: Vec<(bool, Option<String>, Option<String>, String)> = Vec::new();
    for row in components {
        let info = registry.info(row.component_type);
        let (feature_type, detail) = match parse_component(
            registry,
            row.component_type,
            row.data.as_deref().unwrap_or(""),
        ) {
            Ok(parsed) => {
                if let ComponentContent::CustomGpt(gpt) = &parsed.content {
                    let is_default = default_gpt.is_some() && row.schema_name == default_gpt;
                    gpts.push((
                        is_default,
                        gpt.instructions.clone(),
                        gpt.model_hint.clone(),
                        row.component_id.clone(),
                    ));
                }
                (
                    FeatureType::for_component(&parsed),
                    FeatureDetail::Component(Box::new(parsed)),
                )
            }
            Err(error) => {
                tracing::debug!(component_id = %row.component_id, %error, "botcomponent.data is unreadable");
                (
                    // As in `for_component`: an unread type-9 row is not assumed a topic.
                    if info.component_type == ComponentType::TopicV2 {
                        FeatureType::Other
                    } else {
                        FeatureType::for_family(info.family)
                    },
                    FeatureDetail::Unreadable {
                        error: error.to_string(),
                    },
                )
            }
        };
        features.push(Feature {
            feature_type,
            component_type: Some(row.component_type),
            component_version: Some(info.generation),
            source_id: row.component_id.clone(),
            source_name: row.name.clone(),
            schema_name: row.schema_name.clone(),
            is_enabled: row.state_code.map(|s| s == 0),
            detail,
        });
    }
    let gpt = gpts.iter().find(|g| g.0).or_else(|| gpts.first());
    let from_gpt = |value: Option<&String>| {
        let (_, _, _, id) = gpt?;
        Some(SourcedValue {
            value: value?.clone(),
            from: ValueSource::CustomGptComponent,
            source_id: id.clone(),
        })
    };
    let from_settings = |value: Option<&String>| {
        Some(SourcedValue {
            value: value?.clone(),
            from: ValueSource::AgentSettings,
            source_id: bot.bot_id.clone(),
        })
    };
    let instructions = from_settings(
        agent_settings
            .as_ref()
            .and_then(|s| s.instructions.as_ref()),
    )
    .or_else(|| from_gpt(gpt.and_then(|g| g.1.as_ref())));
    let model = from_settings(agent_settings.as_ref().and_then(|s| s.model.as_ref()))
        .or_else(|| from_gpt(gpt.and_then(|g| g.2.as_ref())));
    AgentFeatures {
        agent_id: bot.bot_id.clone(),
        features,
        instructions,
        model,
    }
}

fn bot_feature(bot: &BotRow, detail: FeatureDetail) -> Feature {
    Feature {
        feature_type: FeatureType::CopilotSettings,
        component_type: None,
        component_version: None,
        source_id: bot.bot_id.clone(),
        source_name: bot.name.clone(),
        schema_name: bot.schema_name.clone(),
        is_enabled: None,
        detail,
    }
}

/// The `ComponentType` of a feature, if it came from a component row.
impl Feature {
    /// The component type of the source row, if any.
    pub fn component_type(&self) -> Option<ComponentType> {
        self.component_type.map(ComponentType::from_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_match_the_inventory_choice() {
        let expected = [
            (FeatureType::Topic, 100_000_000, "Topic"),
            (FeatureType::Skill, 100_000_001, "Skill"),
            (
                FeatureType::KnowledgeSource,
                100_000_002,
                "Knowledge Source",
            ),
            (FeatureType::CustomGpt, 100_000_003, "Custom GPT"),
            (
                FeatureType::CopilotSettings,
                100_000_004,
                "Copilot Settings",
            ),
            (
                FeatureType::ExternalTrigger,
                100_000_005,
                "External Trigger",
            ),
            (FeatureType::FileAttachment, 100_000_006, "File Attachment"),
            (FeatureType::BotVariable, 100_000_007, "Bot Variable"),
            (FeatureType::BotEntity, 100_000_008, "Bot Entity"),
            (FeatureType::Dialog, 100_000_009, "Dialog"),
            (FeatureType::DialogSchema, 100_000_021, "Dialog Schema"),
            (FeatureType::Trigger, 100_000_010, "Trigger"),
            (
                FeatureType::LanguageUnderstanding,
                100_000_011,
                "Language Understanding",
            ),
            (
                FeatureType::LanguageGeneration,
                100_000_012,
                "Language Generation",
            ),
            (
                FeatureType::BotTranslations,
                100_000_013,
                "Bot Translations",
            ),
            (FeatureType::TestCase, 100_000_014, "Test Case"),
            (FeatureType::ToolPlugin, 100_000_015, "Tool / Plugin"),
            (FeatureType::Connector, 100_000_016, "Connector"),
            (
                FeatureType::PowerAutomateFlow,
                100_000_017,
                "Power Automate Flow",
            ),
            (
                FeatureType::EnvironmentVariable,
                100_000_018,
                "Environment Variable",
            ),
            (
                FeatureType::DataverseSearchGrounding,
                100_000_019,
                "Dataverse Search Grounding",
            ),
            (FeatureType::AiBuilderModel, 100_000_020, "AI Builder Model"),
            (
                FeatureType::People,
                100_000_022,
                "People (Org Chart & Profile)",
            ),
            (FeatureType::Other, 100_000_099, "Other / Unrecognized"),
        ];
        assert_eq!(expected.len(), FeatureType::ALL.len());
        for (t, value, label) in expected {
            assert_eq!(t.option_value(), value, "{t:?}");
            assert_eq!(t.label(), label);
            assert_eq!(FeatureType::from_option_value(value), Some(t));
        }
        assert_eq!(FeatureType::from_option_value(100_000_023), None);
    }
}

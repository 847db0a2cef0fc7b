//! `bot.configuration` (JSON) and the VS Code extension's `settings.mcs.yml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigurationError, ParseError};
use crate::model::{Unrecognized, UnrecognizedReason};
use crate::tree::{MapView, Node, Report, load_yaml};

/// The parsed `bot.configuration` of an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BotConfiguration {
    /// `settings.GenerativeActionsEnabled`: generative orchestration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generative_actions: Option<bool>,
    /// Other boolean flags of `settings` (e.g. `SmartTaskCompletionEnabled`), as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_settings: BTreeMap<String, bool>,
    /// `aISettings.useModelKnowledge`: answers from the model's general knowledge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_model_knowledge: Option<bool>,
    /// `aISettings.isFileAnalysisEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_analysis: Option<bool>,
    /// `aISettings.isSemanticSearchEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_search: Option<bool>,
    /// `aISettings.contentModeration` (`Low`, `Medium`, `High`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_moderation: Option<String>,
    /// `aISettings.optInUseLatestModels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_in_latest_models: Option<bool>,
    /// `recognizer.kind`, e.g. `GenerativeAIRecognizer`, `CLIAgentRecognizer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognizer: Option<String>,
    /// `channels[].channelId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// `isAgentConnectable`: other agents may call this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_agent_connectable: Option<bool>,
    /// `isLightweightBot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_lightweight_bot: Option<bool>,
    /// `publishOnCreate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_on_create: Option<bool>,
    /// `publishOnImport`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_on_import: Option<bool>,
    /// `gPTSettings.defaultSchemaName`: the schema name of the type-15 component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt_default_schema_name: Option<String>,
    /// `agentSettings` of newer agents (template `cliagent-*`), which keep their
    /// instructions and model here instead of in a type-15 component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_settings: Option<AgentSettings>,
    /// What was not interpreted (JSON Pointers into the configuration).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecognized: Vec<Unrecognized>,
}

/// `agentSettings` of a newer agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentSettings {
    /// `model.series`, e.g. `Sonnet46`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The instructions: the `value`s of `instructions.segments`, joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

impl BotConfiguration {
    /// Parses the `bot.configuration` column (JSON text). An empty text is an
    /// empty configuration.
    ///
    /// ```
    /// let config = botcomponent_schema::BotConfiguration::parse(
    ///     r#"{"$kind":"BotConfiguration","settings":{"GenerativeActionsEnabled":true},"newFlag":1}"#,
    /// ).unwrap();
    /// assert_eq!(config.generative_actions, Some(true));
    /// assert_eq!(config.unrecognized[0].path, "/newFlag");
    /// ```
    pub fn parse(text: &str) -> Result<Self, ConfigurationError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(ConfigurationError::from_json)?;
        Ok(Self::from_json(&value))
    }

    /// Reads an already decoded configuration.
    pub fn from_json(value: &serde_json::Value) -> Self {
        let node = Node::from_json(value);
        let mut report = Report::default();
        let mut config = from_node(&node, String::new(), &mut report);
        config.unrecognized = report.items;
        config
    }
}

fn from_node(node: &Node<'_>, path: String, report: &mut Report) -> BotConfiguration {
    let mut config = BotConfiguration::default();
    let Some(mut view) = MapView::of(node, path, report) else {
        return config;
    };
    if let Some(kind) = view.kind(report)
        && kind != "BotConfiguration"
    {
        report.unknown_kind(view.path_of("kind"), &kind);
    }
    if let Some(mut settings) = view.map("settings", report) {
        config.generative_actions = settings.boolean("GenerativeActionsEnabled", report);
        for (index, (key, value)) in settings.entries().iter().enumerate() {
            if let Some(b) = value.as_bool()
                && key != "GenerativeActionsEnabled"
            {
                config.other_settings.insert(key.to_string(), b);
                settings.allow_index(index);
            }
        }
        settings.finish(report);
    }
    if let Some(mut ai) = view.map("aISettings", report) {
        ai.kind(report);
        config.use_model_knowledge = ai.boolean("useModelKnowledge", report);
        config.file_analysis = ai.boolean("isFileAnalysisEnabled", report);
        config.semantic_search = ai.boolean("isSemanticSearchEnabled", report);
        config.content_moderation = ai.string("contentModeration", report);
        config.opt_in_latest_models = ai.boolean("optInUseLatestModels", report);
        ai.finish(report);
    }
    if let Some(mut recognizer) = view.map("recognizer", report) {
        config.recognizer = recognizer.kind(report);
        recognizer.finish(report);
    }
    for (path, item) in view.seq("channels", report) {
        if let Some(mut channel) = MapView::of(item, path, report) {
            channel.kind(report);
            if let Some(id) = channel.string("channelId", report) {
                config.channels.push(id);
            }
            channel.allow(&["id", "channelSpecifier", "displayName"]);
            channel.finish(report);
        }
    }
    config.is_agent_connectable = view.boolean("isAgentConnectable", report);
    config.is_lightweight_bot = view.boolean("isLightweightBot", report);
    config.publish_on_create = view.boolean("publishOnCreate", report);
    config.publish_on_import = view.boolean("publishOnImport", report);
    if let Some(mut gpt) = view.map("gPTSettings", report) {
        gpt.kind(report);
        config.gpt_default_schema_name = gpt.string("defaultSchemaName", report);
        gpt.finish(report);
    }
    if let Some(mut agent) = view.map("agentSettings", report) {
        agent.kind(report);
        let mut settings = AgentSettings::default();
        if let Some(mut model) = agent.map("model", report) {
            model.kind(report);
            settings.model = model.string("series", report);
            model.finish(report);
        }
        if let Some(mut instructions) = agent.map("instructions", report) {
            instructions.kind(report);
            let mut text = String::new();
            let mut any = false;
            for (path, segment) in instructions.seq("segments", report) {
                let Some(mut seg) = MapView::of(segment, path, report) else {
                    continue;
                };
                match seg.kind(report).as_deref() {
                    Some("StaticSegment") | None => {
                        if let Some(value) = seg.string("value", report) {
                            text.push_str(&value);
                            any = true;
                        }
                    }
                    Some(other) => {
                        report.unknown_kind(seg.path_of("$kind"), other);
                        seg.allow_all();
                    }
                }
                seg.finish(report);
            }
            settings.instructions = any.then_some(text);
            instructions.finish(report);
        }
        agent.finish(report);
        config.agent_settings = Some(settings);
    }
    view.allow(&["categories"]);
    view.finish(report);
    config
}

/// A `settings.mcs.yml` written by the Copilot Studio VS Code extension: the bot
/// row with its configuration as YAML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct McsSettingsFile {
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `schemaName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    /// `accessControlPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_control_policy: Option<String>,
    /// `authenticationMode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_mode: Option<String>,
    /// `authenticationTrigger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_trigger: Option<String>,
    /// `publishedOn`, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_on: Option<String>,
    /// `template`, e.g. `default-2.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// `language` (LCID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<i64>,
    /// `configuration` (its own `unrecognized` paths are relative to the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<BotConfiguration>,
    /// What was not interpreted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecognized: Vec<Unrecognized>,
}

impl McsSettingsFile {
    /// Parses a `settings.mcs.yml` text.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let loaded = load_yaml(text)?;
        let mut report = Report::default();
        let mut file = McsSettingsFile::default();
        if loaded.extra_documents > 0 {
            report.push(
                String::new(),
                UnrecognizedReason::ExtraDocuments {
                    count: loaded.extra_documents,
                },
            );
        }
        let root = loaded.root.unwrap_or_else(|| crate::tree::NULL.clone());
        if let Some(mut view) = MapView::of(&root, String::new(), &mut report) {
            file.display_name = view.string("displayName", &mut report);
            file.schema_name = view.string("schemaName", &mut report);
            file.access_control_policy = view.string("accessControlPolicy", &mut report);
            file.authentication_mode = view.string("authenticationMode", &mut report);
            file.authentication_trigger = view.string("authenticationTrigger", &mut report);
            file.published_on = view.string("publishedOn", &mut report);
            file.template = view.string("template", &mut report);
            file.language = view.integer("language", &mut report);
            if let Some(node) = view.take("configuration") {
                let mut config_report = Report::default();
                let mut config = from_node(node, view.path_of("configuration"), &mut config_report);
                config.unrecognized = config_report.items;
                file.configuration = Some(config);
            }
            view.finish(&mut report);
        }
        file.unrecognized = report.items;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_invalid_configuration() {
        assert_eq!(
            BotConfiguration::parse("").unwrap(),
            BotConfiguration::default()
        );
        let err = BotConfiguration::parse("{\n \"a\": }").unwrap_err();
        let ConfigurationError::Json { line, .. } = err;
        assert_eq!(line, 2);
    }

    #[test]
    fn non_object_configuration_is_reported() {
        let config = BotConfiguration::parse("[1]").unwrap();
        assert_eq!(config.unrecognized[0].path, "");
    }
}

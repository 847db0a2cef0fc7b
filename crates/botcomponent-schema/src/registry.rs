//! The `botcomponent_componenttype` choice: what each numeric component type is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// A `botcomponent.componenttype` value. Values this crate does not know are
/// [`ComponentType::Unknown`], never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ComponentType {
    /// 0: Topic (V1).
    Topic,
    /// 1: Skill (V1).
    Skill,
    /// 2: Bot variable (V1).
    BotVariable,
    /// 3: Bot entity (V1).
    BotEntity,
    /// 4: Dialog.
    Dialog,
    /// 5: Trigger.
    Trigger,
    /// 6: Language understanding.
    LanguageUnderstanding,
    /// 7: Language generation.
    LanguageGeneration,
    /// 8: Dialog schema.
    DialogSchema,
    /// 9: Topic (V2) — also holds actions, MCP tools, connected agents, child agents and inline skills.
    TopicV2,
    /// 10: Bot translations (V2).
    BotTranslationsV2,
    /// 11: Bot entity (V2).
    BotEntityV2,
    /// 12: Bot variable (V2).
    BotVariableV2,
    /// 13: Skill (V2).
    SkillV2,
    /// 14: Bot file attachment.
    FileAttachment,
    /// 15: Custom GPT (the agent's instructions, model and capabilities).
    CustomGpt,
    /// 16: Knowledge source.
    KnowledgeSource,
    /// 17: External trigger.
    ExternalTrigger,
    /// 18: Copilot settings.
    CopilotSettings,
    /// 19: Test case.
    TestCase,
    /// Any other value.
    Unknown(i32),
}

/// What a component type is, grouped across its V1/V2 forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComponentFamily {
    /// Topics (0, 9).
    Topic,
    /// Bot Framework skills (1, 13).
    Skill,
    /// Entities (3, 11).
    Entity,
    /// Variables (2, 12).
    Variable,
    /// Translations (10).
    Translations,
    /// Dialogs (4).
    Dialog,
    /// Triggers (5).
    Trigger,
    /// Language understanding (6).
    LanguageUnderstanding,
    /// Language generation (7).
    LanguageGeneration,
    /// Dialog schemas (8).
    DialogSchema,
    /// File attachments (14).
    FileAttachment,
    /// Custom GPT (15).
    CustomGpt,
    /// Knowledge sources (16).
    KnowledgeSource,
    /// External triggers (17).
    ExternalTrigger,
    /// Settings components (18).
    Settings,
    /// Test cases (19).
    TestCase,
    /// A type this crate does not know.
    Unknown,
}

/// The schema generation of a component type; matches the inventory's
/// `fsi_cai_componentversion` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SchemaGeneration {
    /// The first-generation (Bot Framework Composer era) form.
    V1,
    /// The current YAML form.
    V2,
    /// The type has no V1/V2 pairing.
    NotApplicable,
}

impl SchemaGeneration {
    /// The `fsi_cai_componentversion` option value.
    pub fn option_value(self) -> i32 {
        match self {
            SchemaGeneration::V1 => 100_000_000,
            SchemaGeneration::V2 => 100_000_001,
            SchemaGeneration::NotApplicable => 100_000_002,
        }
    }
}

/// (value, type, built-in label, family, generation) for the built-in values 0..=19.
const BUILTIN: [(i32, ComponentType, &str, ComponentFamily, SchemaGeneration); 20] = {
    use ComponentFamily as F;
    use ComponentType as T;
    use SchemaGeneration::{NotApplicable as NA, V1, V2};
    [
        (0, T::Topic, "Topic", F::Topic, V1),
        (1, T::Skill, "Skill", F::Skill, V1),
        (2, T::BotVariable, "Bot variable", F::Variable, V1),
        (3, T::BotEntity, "Bot entity", F::Entity, V1),
        (4, T::Dialog, "Dialog", F::Dialog, NA),
        (5, T::Trigger, "Trigger", F::Trigger, NA),
        (
            6,
            T::LanguageUnderstanding,
            "Language understanding",
            F::LanguageUnderstanding,
            NA,
        ),
        (
            7,
            T::LanguageGeneration,
            "Language generation",
            F::LanguageGeneration,
            NA,
        ),
        (8, T::DialogSchema, "Dialog schema", F::DialogSchema, NA),
        (9, T::TopicV2, "Topic (V2)", F::Topic, V2),
        (
            10,
            T::BotTranslationsV2,
            "Bot translations (V2)",
            F::Translations,
            V2,
        ),
        (11, T::BotEntityV2, "Bot entity (V2)", F::Entity, V2),
        (12, T::BotVariableV2, "Bot variable (V2)", F::Variable, V2),
        (13, T::SkillV2, "Skill (V2)", F::Skill, V2),
        (
            14,
            T::FileAttachment,
            "Bot File Attachment",
            F::FileAttachment,
            NA,
        ),
        (15, T::CustomGpt, "Custom GPT", F::CustomGpt, NA),
        (
            16,
            T::KnowledgeSource,
            "Knowledge Source",
            F::KnowledgeSource,
            NA,
        ),
        (
            17,
            T::ExternalTrigger,
            "External Trigger",
            F::ExternalTrigger,
            NA,
        ),
        (18, T::CopilotSettings, "Copilot Settings", F::Settings, NA),
        (19, T::TestCase, "Test Case", F::TestCase, NA),
    ]
};

impl ComponentType {
    /// The type for a numeric value; unknown values become [`ComponentType::Unknown`].
    pub fn from_value(value: i32) -> Self {
        usize::try_from(value)
            .ok()
            .and_then(|i| BUILTIN.get(i))
            .map_or(ComponentType::Unknown(value), |row| row.1)
    }

    /// The numeric `componenttype` value.
    pub fn value(self) -> i32 {
        match self {
            ComponentType::Unknown(n) => n,
            known => BUILTIN
                .iter()
                .find(|row| row.1 == known)
                .map_or(-1, |row| row.0),
        }
    }

    /// The family; [`ComponentFamily::Unknown`] for unknown values.
    pub fn family(self) -> ComponentFamily {
        self.builtin().map_or(ComponentFamily::Unknown, |row| row.3)
    }

    /// The schema generation; [`SchemaGeneration::NotApplicable`] for unknown values.
    pub fn generation(self) -> SchemaGeneration {
        self.builtin()
            .map_or(SchemaGeneration::NotApplicable, |row| row.4)
    }

    /// The other half of a V1/V2 pair: topic 0/9, skill 1/13, entity 3/11, variable 2/12.
    pub fn counterpart(self) -> Option<ComponentType> {
        use ComponentType as T;
        match self {
            T::Topic => Some(T::TopicV2),
            T::TopicV2 => Some(T::Topic),
            T::Skill => Some(T::SkillV2),
            T::SkillV2 => Some(T::Skill),
            T::BotEntity => Some(T::BotEntityV2),
            T::BotEntityV2 => Some(T::BotEntity),
            T::BotVariable => Some(T::BotVariableV2),
            T::BotVariableV2 => Some(T::BotVariable),
            _ => None,
        }
    }

    /// The label this crate ships with (the option set's label as of late 2025).
    pub fn builtin_label(self) -> Option<&'static str> {
        self.builtin().map(|row| row.2)
    }

    fn builtin(
        self,
    ) -> Option<&'static (
        i32,
        ComponentType,
        &'static str,
        ComponentFamily,
        SchemaGeneration,
    )> {
        match self {
            ComponentType::Unknown(_) => None,
            known => BUILTIN.iter().find(|row| row.1 == known),
        }
    }
}

impl Serialize for ComponentType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(self.value())
    }
}

impl<'de> Deserialize<'de> for ComponentType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i32::deserialize(deserializer).map(ComponentType::from_value)
    }
}

/// Everything known about one component type value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentTypeInfo {
    /// The numeric value (as the type, serialised as the number).
    #[serde(rename = "value")]
    pub component_type: ComponentType,
    /// The display label (from metadata once refreshed).
    pub label: String,
    /// The family.
    pub family: ComponentFamily,
    /// The schema generation.
    pub generation: SchemaGeneration,
}

/// One option the refresh could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SkippedOption {
    /// Index in the `Options` array.
    pub index: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// What a refresh changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefreshReport {
    /// Values whose label changed.
    pub relabelled: Vec<i32>,
    /// Values that were not in the registry before.
    pub added: Vec<i32>,
    /// Options without a usable `Value`.
    pub skipped: Vec<SkippedOption>,
}

/// The component types known at run time: the built-in values 0..=19, refreshable
/// from Dataverse metadata.
///
/// ```
/// use botcomponent_schema::{ComponentFamily, ComponentTypeRegistry};
///
/// let mut registry = ComponentTypeRegistry::builtin();
/// let body = serde_json::json!({"Options": [
///     {"Value": 9, "Label": {"LocalizedLabels": [{"Label": "Topic (V2)", "LanguageCode": 1033}],
///                            "UserLocalizedLabel": null}},
///     {"Value": 20, "Label": {"UserLocalizedLabel": {"Label": "Agent Flow"}, "LocalizedLabels": []}}
/// ]});
/// let report = registry.refresh_from_option_set(&body).unwrap();
/// assert_eq!(report.added, vec![20]);
/// assert_eq!(registry.info(20).label, "Agent Flow");
/// assert_eq!(registry.info(20).family, ComponentFamily::Unknown);
/// assert_eq!(registry.info(23).label, "Unknown (23)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentTypeRegistry {
    entries: BTreeMap<i32, ComponentTypeInfo>,
}

impl Default for ComponentTypeRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ComponentTypeRegistry {
    /// The built-in values 0..=19 with their late-2025 labels.
    pub fn builtin() -> Self {
        let entries = BUILTIN
            .iter()
            .map(|&(value, component_type, label, family, generation)| {
                (
                    value,
                    ComponentTypeInfo {
                        component_type,
                        label: label.to_owned(),
                        family,
                        generation,
                    },
                )
            })
            .collect();
        ComponentTypeRegistry { entries }
    }

    /// The information for a value; an unknown value yields an `Unknown (n)` entry.
    pub fn info(&self, value: i32) -> ComponentTypeInfo {
        self.entries
            .get(&value)
            .cloned()
            .unwrap_or_else(|| ComponentTypeInfo {
                component_type: ComponentType::Unknown(value),
                label: format!("Unknown ({value})"),
                family: ComponentFamily::Unknown,
                generation: SchemaGeneration::NotApplicable,
            })
    }

    /// Every registered value, ascending.
    pub fn iter(&self) -> impl Iterator<Item = &ComponentTypeInfo> {
        self.entries.values()
    }

    /// Refreshes labels from the JSON body of
    /// `GET GlobalOptionSetDefinitions(Name='botcomponent_componenttype')`.
    /// Labels come from `UserLocalizedLabel`, or the first `LocalizedLabels` entry when
    /// that is null; values new to the registry are added with an unknown family.
    pub fn refresh_from_option_set(
        &mut self,
        body: &serde_json::Value,
    ) -> Result<RefreshReport, RegistryError> {
        let options = body
            .get("Options")
            .and_then(serde_json::Value::as_array)
            .ok_or(RegistryError::MissingOptions)?;
        let mut report = RefreshReport::default();
        for (index, option) in options.iter().enumerate() {
            let Some(value) = option.get("Value").and_then(serde_json::Value::as_i64) else {
                report.skipped.push(SkippedOption {
                    index,
                    reason: "no integer `Value`".to_owned(),
                });
                continue;
            };
            let Ok(value) = i32::try_from(value) else {
                report.skipped.push(SkippedOption {
                    index,
                    reason: format!("`Value` {value} is out of range"),
                });
                continue;
            };
            self.apply_label(value, option_label(option), &mut report);
        }
        Ok(report)
    }

    /// Refreshes labels from `(value, label)` pairs, such as the options of the choice a
    /// Dataverse client already read (`dataverse_client::OptionSet`):
    /// `registry.refresh_from_labels(set.options.iter().map(|o| (o.value, o.label.as_deref())))`.
    /// A `None` label keeps the current one; values new to the registry are added.
    ///
    /// ```
    /// use botcomponent_schema::ComponentTypeRegistry;
    /// let mut registry = ComponentTypeRegistry::builtin();
    /// let report = registry.refresh_from_labels([(9, Some("Topics, renamed")), (42, Some("New kind"))]);
    /// assert_eq!((report.relabelled.as_slice(), report.added.as_slice()), (&[9][..], &[42][..]));
    /// assert_eq!(registry.info(42).label, "New kind");
    /// ```
    pub fn refresh_from_labels<'a>(
        &mut self,
        options: impl IntoIterator<Item = (i32, Option<&'a str>)>,
    ) -> RefreshReport {
        let mut report = RefreshReport::default();
        for (value, label) in options {
            self.apply_label(value, label.map(str::to_owned), &mut report);
        }
        report
    }

    fn apply_label(&mut self, value: i32, label: Option<String>, report: &mut RefreshReport) {
        match self.entries.get_mut(&value) {
            Some(entry) => {
                if let Some(label) = label
                    && entry.label != label
                {
                    entry.label = label;
                    report.relabelled.push(value);
                }
            }
            None => {
                let mut info = self.info(value);
                if let Some(label) = label {
                    info.label = label;
                }
                self.entries.insert(value, info);
                report.added.push(value);
            }
        }
    }

    /// [`Self::refresh_from_option_set`] from the raw response bytes.
    pub fn refresh_from_option_set_bytes(
        &mut self,
        body: &[u8],
    ) -> Result<RefreshReport, RegistryError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(RegistryError::Json)?;
        self.refresh_from_option_set(&value)
    }
}

fn option_label(option: &serde_json::Value) -> Option<String> {
    let label = option.get("Label")?;
    let text = |l: &serde_json::Value| {
        l.get("Label")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    label.get("UserLocalizedLabel").and_then(text).or_else(|| {
        label
            .get("LocalizedLabels")?
            .as_array()?
            .first()
            .and_then(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_values_round_trip() {
        for value in 0..=19 {
            let t = ComponentType::from_value(value);
            assert!(!matches!(t, ComponentType::Unknown(_)), "{value}");
            assert_eq!(t.value(), value);
        }
        assert_eq!(ComponentType::from_value(23), ComponentType::Unknown(23));
        assert_eq!(ComponentType::from_value(-1), ComponentType::Unknown(-1));
        assert_eq!(ComponentType::Unknown(23).value(), 23);
    }

    #[test]
    fn pairs_and_generations() {
        use ComponentType as T;
        for (v1, v2) in [(0, 9), (1, 13), (3, 11), (2, 12)] {
            let (a, b) = (T::from_value(v1), T::from_value(v2));
            assert_eq!(a.counterpart(), Some(b));
            assert_eq!(b.counterpart(), Some(a));
            assert_eq!(a.generation(), SchemaGeneration::V1);
            assert_eq!(b.generation(), SchemaGeneration::V2);
            assert_eq!(a.family(), b.family());
        }
        assert_eq!(T::BotTranslationsV2.generation(), SchemaGeneration::V2);
        assert_eq!(T::BotTranslationsV2.counterpart(), None);
        assert_eq!(T::CustomGpt.generation(), SchemaGeneration::NotApplicable);
        assert_eq!(T::Unknown(40).family(), ComponentFamily::Unknown);
        assert_eq!(T::CopilotSettings.family(), ComponentFamily::Settings);
        assert_eq!(SchemaGeneration::V2.option_value(), 100_000_001);
    }

    #[test]
    fn unknown_value_has_an_entry() {
        let info = ComponentTypeRegistry::builtin().info(23);
        assert_eq!(info.component_type, ComponentType::Unknown(23));
        assert_eq!(info.label, "Unknown (23)");
        assert_eq!(info.family, ComponentFamily::Unknown);
    }

    #[test]
    fn refresh_relabels_adds_and_falls_back_to_localized_labels() {
        let mut registry = ComponentTypeRegistry::builtin();
        let body = json!({"@odata.context": "x", "Name": "botcomponent_componenttype", "Options": [
            {"Value": 0, "Label": {"LocalizedLabels": [{"Label": "Topic", "LanguageCode": 1033}],
                                   "UserLocalizedLabel": {"Label": "Topic", "LanguageCode": 1033}}},
            {"Value": 9, "Label": {"LocalizedLabels": [{"Label": "Topic (V2) renamed", "LanguageCode": 1033},
                                                       {"Label": "Thema", "LanguageCode": 1031}],
                                   "UserLocalizedLabel": null}},
            {"Value": 21, "Label": {"LocalizedLabels": [], "UserLocalizedLabel": null}},
            {"Value": 22, "Label": {"UserLocalizedLabel": {"Label": "Agent"}}},
            {"Label": {"UserLocalizedLabel": {"Label": "no value"}}},
            {"Value": 1e20}
        ]});
        let report = registry.refresh_from_option_set(&body).unwrap();
        assert_eq!(report.relabelled, vec![9]);
        assert_eq!(report.added, vec![21, 22]);
        assert_eq!(
            report.skipped.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(registry.info(9).label, "Topic (V2) renamed");
        assert_eq!(registry.info(9).family, ComponentFamily::Topic);
        assert_eq!(registry.info(21).label, "Unknown (21)");
        assert_eq!(registry.info(22).label, "Agent");
        assert_eq!(registry.info(22).component_type, ComponentType::Unknown(22));
        assert_eq!(registry.iter().count(), 22);
    }

    #[test]
    fn refresh_rejects_bodies_that_are_not_option_sets() {
        let mut registry = ComponentTypeRegistry::builtin();
        assert!(matches!(
            registry.refresh_from_option_set(&json!({"value": []})),
            Err(RegistryError::MissingOptions)
        ));
        assert!(matches!(
            registry.refresh_from_option_set_bytes(b"<html>"),
            Err(RegistryError::Json(_))
        ));
        assert_eq!(registry, ComponentTypeRegistry::builtin());
    }
}

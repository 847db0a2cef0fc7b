#![doc = include_str!("../README.md")]

mod columns;
mod config;
mod error;
mod fast_yaml;
mod features;
mod model;
mod parse;
mod registry;
mod summary;
#[rustfmt::skip]
mod schema_keys;
mod tree;

pub use config::{AgentSettings, BotConfiguration, McsSettingsFile};
pub use error::{ConfigurationError, ParseError, RegistryError};
pub use features::{
    AgentFeatures, BotRow, ComponentRow, Feature, FeatureDetail, FeatureType, SourcedValue,
    ValueSource, agent_features,
};
pub use model::{
    ActionDetail, ComponentContent, ConnectionMode, ConversationStarter, CustomGpt,
    ExternalTrigger, GenerativeAnswers, KnowledgeSelection, KnowledgeSource, McsMetadata,
    ParsedComponent, SettingsComponent, SkillAction, SkillDefinition, Tool, ToolInput, ToolOutput,
    ToolType, Topic, TopicAction, TopicTrigger, Unrecognized, UnrecognizedReason,
};
pub use parse::parse_component;
pub use registry::{
    ComponentFamily, ComponentType, ComponentTypeInfo, ComponentTypeRegistry, RefreshReport,
    SchemaGeneration, SkippedOption,
};
pub use summary::{AgentLink, HttpCall};

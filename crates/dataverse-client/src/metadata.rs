//! Metadata: global option sets (choice labels), entity and attribute definitions.

use crate::Error;
use crate::client::DataverseClient;
use crate::filter::quote;
use crate::query::{check_name, encode_path};
use serde::Deserialize;
use uuid::Uuid;

/// A label in one language.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LocalizedLabel {
    /// The text.
    #[serde(rename = "Label")]
    pub label: String,
    /// The language (LCID, e.g. 1033 for English).
    #[serde(rename = "LanguageCode")]
    pub language_code: i32,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawLabel {
    #[serde(rename = "LocalizedLabels", default)]
    localized: Vec<LocalizedLabel>,
    #[serde(rename = "UserLocalizedLabel", default)]
    user: Option<LocalizedLabel>,
}

impl RawLabel {
    /// The caller's language if the service resolved it, else the first localized label.
    fn best(&self) -> Option<String> {
        self.user
            .as_ref()
            .or_else(|| self.localized.first())
            .map(|l| l.label.clone())
    }
}

/// One value of a choice (option set).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OptionValue {
    /// The stored integer.
    pub value: i32,
    /// The label: `UserLocalizedLabel`, or the first localized label when that is null.
    pub label: Option<String>,
    /// Every localized label.
    pub labels: Vec<LocalizedLabel>,
}

/// A global choice (option set) definition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OptionSet {
    /// The option set's name.
    pub name: String,
    /// Its values, in the service's order.
    pub options: Vec<OptionValue>,
}

impl OptionSet {
    /// The label of `value`, if the option set has it. Values can be added over time: treat
    /// `None` as "unknown value", not as an error.
    pub fn label(&self, value: i32) -> Option<&str> {
        self.options
            .iter()
            .find(|o| o.value == value)
            .and_then(|o| o.label.as_deref())
    }
}

#[derive(Deserialize)]
struct RawOption {
    #[serde(rename = "Value")]
    value: i32,
    #[serde(rename = "Label", default)]
    label: Option<RawLabel>,
}

#[derive(Deserialize)]
struct RawOptionSet {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Options", default)]
    options: Vec<RawOption>,
    // Two-option (Boolean) sets have these instead of Options.
    #[serde(rename = "FalseOption", default)]
    false_option: Option<RawOption>,
    #[serde(rename = "TrueOption", default)]
    true_option: Option<RawOption>,
}

impl From<RawOption> for OptionValue {
    fn from(o: RawOption) -> Self {
        let label = o.label.unwrap_or_default();
        OptionValue {
            value: o.value,
            label: label.best(),
            labels: label.localized,
        }
    }
}

/// A table's definition (the parts this crate's users need).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EntityDefinition {
    /// The logical name (`bot`).
    #[serde(rename = "LogicalName")]
    pub logical_name: String,
    /// The schema name (`Bot`).
    #[serde(rename = "SchemaName", default)]
    pub schema_name: Option<String>,
    /// The Web API entity set (`bots`).
    #[serde(rename = "EntitySetName", default)]
    pub entity_set_name: Option<String>,
    /// The primary key column (`botid`).
    #[serde(rename = "PrimaryIdAttribute", default)]
    pub primary_id_attribute: Option<String>,
    /// The primary name column (`name`).
    #[serde(rename = "PrimaryNameAttribute", default)]
    pub primary_name_attribute: Option<String>,
    /// Whether change tracking is enabled (required by
    /// [`DataverseClient::track_changes`]).
    #[serde(
        rename = "ChangeTrackingEnabled",
        default,
        deserialize_with = "null_is_false"
    )]
    pub change_tracking_enabled: bool,
    /// Whether this is the intersect table of an N:N relationship.
    #[serde(rename = "IsIntersect", default, deserialize_with = "null_is_false")]
    pub is_intersect: bool,
    /// The metadata id.
    #[serde(rename = "MetadataId", default)]
    pub metadata_id: Option<Uuid>,
}

/// Both flags are nullable booleans in the metadata model: `null` reads as `false` instead of
/// failing the whole definition.
fn null_is_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// A column's definition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AttributeDefinition {
    /// The logical name (`componenttype`).
    #[serde(rename = "LogicalName")]
    pub logical_name: String,
    /// The schema name.
    #[serde(rename = "SchemaName", default)]
    pub schema_name: Option<String>,
    /// The type (`String`, `Picklist`, `Lookup`, `Memo`, `DateTime`, `Uniqueidentifier`, ...).
    #[serde(rename = "AttributeType", default)]
    pub attribute_type: Option<String>,
    /// Whether it is the primary key.
    #[serde(rename = "IsPrimaryId", default)]
    pub is_primary_id: Option<bool>,
}

#[derive(Deserialize)]
struct Collection<T> {
    value: Vec<T>,
}

const ENTITY_COLUMNS: &str = "LogicalName,SchemaName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled,IsIntersect,MetadataId";
const ATTRIBUTE_COLUMNS: &str = "LogicalName,SchemaName,AttributeType,IsPrimaryId";

fn entity_path(logical_name: &str) -> Result<String, Error> {
    check_name("table logical name", logical_name)?;
    Ok(format!(
        "EntityDefinitions(LogicalName={})",
        encode_path(&quote(logical_name))
    ))
}

impl DataverseClient {
    /// A global choice definition, e.g. `botcomponent_componenttype`, with one label per
    /// value (`UserLocalizedLabel`, falling back to the first localized label).
    ///
    /// ```no_run
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let types = client.global_option_set("botcomponent_componenttype").await?;
    /// println!("9 is {}", types.label(9).unwrap_or("an unknown type"));
    /// # Ok(()) }
    /// ```
    pub async fn global_option_set(&self, name: &str) -> Result<OptionSet, Error> {
        check_name("option set name", name)?;
        let raw: RawOptionSet = self
            .get_json(&format!(
                "GlobalOptionSetDefinitions(Name={})",
                encode_path(&quote(name))
            ))
            .await?;
        let mut options: Vec<OptionValue> = raw.options.into_iter().map(Into::into).collect();
        options.extend(
            raw.false_option
                .into_iter()
                .chain(raw.true_option)
                .map(OptionValue::from),
        );
        Ok(OptionSet {
            name: raw.name,
            options,
        })
    }

    /// A table's definition by logical name (`bot`).
    ///
    /// ```no_run
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let bot = client.entity_definition("bot").await?;
    /// println!("{:?} keyed by {:?}", bot.entity_set_name, bot.primary_id_attribute);
    /// # Ok(()) }
    /// ```
    pub async fn entity_definition(&self, logical_name: &str) -> Result<EntityDefinition, Error> {
        let path = entity_path(logical_name)?;
        self.get_json(&format!("{path}?$select={ENTITY_COLUMNS}"))
            .await
    }

    /// The column definitions of a table (`EntityDefinitions(LogicalName='x')/Attributes`).
    pub async fn attribute_definitions(
        &self,
        logical_name: &str,
    ) -> Result<Vec<AttributeDefinition>, Error> {
        let path = entity_path(logical_name)?;
        let c: Collection<AttributeDefinition> = self
            .get_json(&format!("{path}/Attributes?$select={ATTRIBUTE_COLUMNS}"))
            .await?;
        Ok(c.value)
    }

    /// Whether a table has change tracking enabled, so
    /// [`track_changes`](Self::track_changes) can be used on it.
    pub async fn change_tracking_enabled(&self, logical_name: &str) -> Result<bool, Error> {
        Ok(self
            .entity_definition(logical_name)
            .await?
            .change_tracking_enabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_flags_read_as_false() {
        let d: EntityDefinition = serde_json::from_value(serde_json::json!({
            "LogicalName": "bot",
            "ChangeTrackingEnabled": null,
            "IsIntersect": null,
        }))
        .unwrap();
        assert!(!d.change_tracking_enabled && !d.is_intersect);
        let d: EntityDefinition = serde_json::from_value(
            serde_json::json!({"LogicalName": "bot", "ChangeTrackingEnabled": true}),
        )
        .unwrap();
        assert!(d.change_tracking_enabled && !d.is_intersect);
    }
}

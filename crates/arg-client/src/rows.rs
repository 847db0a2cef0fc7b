//! Typed rows of the Power Platform inventory: Copilot agents and environments. Unknown
//! properties are kept (Microsoft adds fields), so nothing a row carries is lost.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An optional date: absent, null and `""` (an unpublished agent's `lastPublishedAt`) are
/// `None`; anything else must be an RFC 3339 date.
pub(crate) fn opt_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => OffsetDateTime::parse(s.trim(), &Rfc3339)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 date: {e}"))),
    }
}

/// An optional boolean, also accepting `"true"` / `"false"`.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(serde::de::Error::custom(format!("`{s}` is not a boolean"))),
        },
        Some(other) => Err(serde::de::Error::custom(format!(
            "`{other}` is not a boolean"
        ))),
    }
}

/// A value whose `null` means its default: some services send `"properties": null` for an
/// object they have nothing to say about, which `#[serde(default)]` alone (absent only) refuses.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list of strings; null is empty.
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $variant,)+
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as the service writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($text) { return $name::$variant; })+
                $name::Other(s.to_owned())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::from(s.as_str()))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// Where an agent was made (`properties.createdIn`).
    CreatedIn {
        /// Copilot Studio.
        CopilotStudio => "Copilot Studio",
        /// Microsoft 365 Copilot Agent Builder.
        AgentBuilder => "Microsoft 365 Copilot Agent Builder",
    }
);

open_enum!(
    /// An agent's orchestration mode (`properties.orchestration`, preview).
    Orchestration {
        /// Classic (topic-based).
        Classic => "Classic",
        /// Generative orchestration.
        Generative => "Generative",
    }
);

open_enum!(
    /// An agent's end-user authentication (`properties.authentication`, preview).
    AgentAuthentication {
        /// No authentication.
        None => "None",
        /// Microsoft Entra ID.
        MicrosoftEntra => "Microsoft Entra",
        /// A generic OAuth 2.0 provider.
        GenericOAuth2 => "Generic OAuth 2.0",
    }
);

open_enum!(
    /// The type of an environment (`environmentSku` in the admin list, `environmentType` in
    /// the inventory).
    EnvironmentSku {
        /// Production.
        Production => "Production",
        /// Sandbox.
        Sandbox => "Sandbox",
        /// Developer.
        Developer => "Developer",
        /// Trial.
        Trial => "Trial",
        /// The tenant's default environment.
        Default => "Default",
        /// Dataverse for Teams.
        Teams => "Teams",
    }
);

/// A Copilot agent from the inventory (`type == 'microsoft.copilotstudio/agents'`): Copilot
/// Studio agents and Microsoft 365 Copilot Agent Builder agents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Agent {
    /// The agent's id: the Dataverse `botid` in its environment.
    pub name: String,
    /// The resource type, `microsoft.copilotstudio/agents`.
    #[serde(rename = "type", default)]
    pub resource_type: Option<String>,
    /// The full resource id, when the row has one.
    #[serde(default)]
    pub id: Option<String>,
    /// The region (`unitedstates`, `europe`, ...).
    #[serde(default)]
    pub location: Option<String>,
    /// The tenant.
    #[serde(rename = "tenantId", default)]
    pub tenant_id: Option<String>,
    /// The agent's properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: AgentProperties,
    /// Top-level fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `properties` of an [`Agent`] row: every generally available and preview field of the
/// inventory schema, plus whatever else the service sends.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AgentProperties {
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// When the agent was created.
    #[serde(default, deserialize_with = "opt_datetime")]
    pub created_at: Option<OffsetDateTime>,
    /// Object id of the creator.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Object id of the owner.
    #[serde(default)]
    pub owner_id: Option<String>,
    /// The environment holding the agent.
    #[serde(default)]
    pub environment_id: Option<String>,
    /// When it was last published; `None` while it is a draft (the service sends `""`).
    #[serde(default, deserialize_with = "opt_datetime")]
    pub last_published_at: Option<OffsetDateTime>,
    /// Where it was made.
    #[serde(default)]
    pub created_in: Option<CreatedIn>,
    /// The Dataverse schema name (Copilot Studio and declarative agents).
    #[serde(default)]
    pub schema_name: Option<String>,
    /// The bot id in its environment's Dataverse.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// The Entra app registration id (legacy identity).
    #[serde(default)]
    pub entra_app_id: Option<String>,
    /// The Entra agent identity id.
    #[serde(default)]
    pub entra_agent_id: Option<String>,
    /// The Entra agent blueprint id.
    #[serde(default)]
    pub entra_agent_blueprint_id: Option<String>,
    /// Whether the agent is part of a managed solution (preview).
    #[serde(default, deserialize_with = "opt_bool")]
    pub is_managed: Option<bool>,
    /// Whether the agent is quarantined (preview).
    #[serde(default, deserialize_with = "opt_bool")]
    pub is_quarantined: Option<bool>,
    /// When it was last quarantined (preview).
    #[serde(default, deserialize_with = "opt_datetime")]
    pub quarantined_at: Option<OffsetDateTime>,
    /// Orchestration mode (preview).
    #[serde(default)]
    pub orchestration: Option<Orchestration>,
    /// The AI model (preview).
    #[serde(default)]
    pub model: Option<String>,
    /// End-user authentication (preview).
    #[serde(default)]
    pub authentication: Option<AgentAuthentication>,
    /// Channels it is published to (preview): `Teams`, `Microsoft 365 Copilot`, ...
    #[serde(default, deserialize_with = "string_list")]
    pub channels: Vec<String>,
    /// Properties this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Agent {
    /// The Dataverse bot id: `properties.botId`, else the row's `name`.
    pub fn bot_id(&self) -> &str {
        self.properties.bot_id.as_deref().unwrap_or(&self.name)
    }

    /// The environment id, if the row has one.
    pub fn environment_id(&self) -> Option<&str> {
        self.properties.environment_id.as_deref()
    }

    /// Whether it was made in Microsoft 365 Copilot Agent Builder.
    pub fn is_agent_builder(&self) -> bool {
        self.properties.created_in == Some(CreatedIn::AgentBuilder)
    }

    /// Whether it has been published at least once.
    pub fn is_published(&self) -> bool {
        self.properties.last_published_at.is_some()
    }
}

/// An environment row of the inventory (`type == 'microsoft.powerplatform/environments'`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct InventoryEnvironment {
    /// The environment id.
    pub name: String,
    /// The region.
    #[serde(default)]
    pub location: Option<String>,
    /// The tenant.
    #[serde(rename = "tenantId", default)]
    pub tenant_id: Option<String>,
    /// The environment's properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: InventoryEnvironmentProperties,
    /// Top-level fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `properties` of an [`InventoryEnvironment`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InventoryEnvironmentProperties {
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Production, Default, Sandbox, Trial, Developer or Dataverse for Teams.
    #[serde(default)]
    pub environment_type: Option<EnvironmentSku>,
    /// Whether it is a Managed Environment.
    #[serde(default, deserialize_with = "opt_bool")]
    pub is_managed: Option<bool>,
    /// The environment group's name.
    #[serde(default)]
    pub environment_group: Option<String>,
    /// The environment group's id.
    #[serde(default)]
    pub environment_group_id: Option<String>,
    /// When it was created.
    #[serde(default, deserialize_with = "opt_datetime")]
    pub created_at: Option<OffsetDateTime>,
    /// When it was last modified.
    #[serde(default, deserialize_with = "opt_datetime")]
    pub last_modified_at: Option<OffsetDateTime>,
    /// Properties this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_properties_read_as_empty_not_as_an_error() {
        let a: Agent = serde_json::from_value(json!({"name": "b9", "properties": null})).unwrap();
        assert_eq!(a.properties, AgentProperties::default());
        assert_eq!(a.bot_id(), "b9");
        let e: InventoryEnvironment =
            serde_json::from_value(json!({"name": "e9", "properties": null})).unwrap();
        assert_eq!(e.properties, InventoryEnvironmentProperties::default());
        assert!(serde_json::from_value::<Agent>(json!({"name": "b9", "properties": []})).is_err());
    }

    #[test]
    fn agent_rows_keep_every_field_and_unknown_ones() {
        let row = json!({
            "id": "/providers/Microsoft.PowerPlatform/agents/b1",
            "name": "b1", "type": "microsoft.copilotstudio/agents", "location": "europe",
            "tenantId": "t1", "futureTopLevel": 7,
            "properties": {
                "displayName": "Helpdesk", "createdAt": "2026-01-02T03:04:05.1234567Z",
                "createdBy": "u1", "ownerId": "u2", "environmentId": "env-1",
                "lastPublishedAt": "", "createdIn": "Microsoft 365 Copilot Agent Builder",
                "schemaName": "cr5e3_helpdesk", "botId": "b1", "entraAppId": "a1",
                "entraAgentId": "a2", "entraAgentBlueprintId": "a3", "isManaged": "false",
                "isQuarantined": true, "quarantinedAt": "2026-02-01T08:00:00Z",
                "orchestration": "Generative", "model": "gpt-4o",
                "authentication": "Generic OAuth 2.0", "channels": ["Teams", "WhatsApp"],
                "riskScore": 3
            }
        });
        let a: Agent = serde_json::from_value(row).unwrap();
        let p = &a.properties;
        assert_eq!(a.bot_id(), "b1");
        assert!(a.is_agent_builder() && !a.is_published());
        assert_eq!(p.created_at.unwrap().nanosecond(), 123_456_700);
        assert_eq!(p.is_managed, Some(false));
        assert_eq!(p.is_quarantined, Some(true));
        assert!(p.quarantined_at.is_some());
        assert_eq!(p.orchestration, Some(Orchestration::Generative));
        assert_eq!(p.authentication, Some(AgentAuthentication::GenericOAuth2));
        assert_eq!(p.channels, ["Teams", "WhatsApp"]);
        assert_eq!(p.extra["riskScore"], 3);
        assert_eq!(a.extra["futureTopLevel"], 7);
        assert_eq!(a.tenant_id.as_deref(), Some("t1"));
        assert_eq!(p.entra_agent_blueprint_id.as_deref(), Some("a3"));
    }

    #[test]
    fn unknown_enum_values_are_kept_and_bad_dates_are_errors() {
        let a: Agent = serde_json::from_value(json!({
            "name": "b", "properties": {"createdIn": "Somewhere New", "orchestration": null, "channels": null}
        }))
        .unwrap();
        assert_eq!(
            a.properties.created_in,
            Some(CreatedIn::Other("Somewhere New".into()))
        );
        assert!(a.properties.channels.is_empty());
        assert!(
            serde_json::from_value::<Agent>(
                json!({"name": "b", "properties": {"createdAt": "yesterday"}})
            )
            .is_err()
        );
        assert_eq!(EnvironmentSku::from("teams"), EnvironmentSku::Teams);
    }
}

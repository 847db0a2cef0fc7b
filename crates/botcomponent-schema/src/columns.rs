//! The Dataverse columns the row types read, so a client can select exactly them and report a
//! missing one by name (a forgotten `data` would otherwise read as an empty component).

use crate::features::{BotRow, ComponentRow};

impl BotRow {
    /// The entity set the rows come from.
    pub const ENTITY_SET: &'static str = "bots";
    /// Every column [`BotRow`] reads.
    pub const COLUMNS: &'static [&'static str] = &[
        "botid",
        "name",
        "schemaname",
        "configuration",
        "template",
        "publishedon",
        "statecode",
        "statuscode",
    ];
}

impl ComponentRow {
    /// The entity set the rows come from.
    pub const ENTITY_SET: &'static str = "botcomponents";
    /// Every column [`ComponentRow`] reads.
    pub const COLUMNS: &'static [&'static str] = &[
        "botcomponentid",
        "name",
        "schemaname",
        "componenttype",
        "data",
        "statecode",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every declared column deserialises into the row type, and nothing else is needed.
    #[test]
    fn columns_match_the_serde_names() {
        let component: ComponentRow = serde_json::from_value(serde_json::json!({
            "botcomponentid": "c", "name": "n", "schemaname": "s", "componenttype": 9,
            "data": "kind: AdaptiveDialog", "statecode": 0
        }))
        .unwrap();
        assert_eq!(component.data.as_deref(), Some("kind: AdaptiveDialog"));
        let bot: BotRow = serde_json::from_value(serde_json::json!({
            "botid": "b", "name": "n", "schemaname": "s", "configuration": "{}", "template": "t",
            "publishedon": "2026-01-01T00:00:00Z", "statecode": 1, "statuscode": 2
        }))
        .unwrap();
        assert_eq!(bot.template.as_deref(), Some("t"));
        assert_eq!(bot.published_on.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!((bot.state_code, bot.status_code), (Some(1), Some(2)));
        // Serialising writes back exactly the declared columns.
        let written = serde_json::to_value(&bot).unwrap();
        let mut keys: Vec<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut declared = BotRow::COLUMNS.to_vec();
        keys.sort_unstable();
        declared.sort_unstable();
        assert_eq!(keys, declared);
        assert_eq!(ComponentRow::COLUMNS.len(), 6);
    }
}

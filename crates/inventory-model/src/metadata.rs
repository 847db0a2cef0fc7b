//! The schema as Dataverse metadata requests: the bodies a client POSTs to create
//! the inventory's option sets, tables, columns and alternate keys.
//!
//! The bodies follow the Web API metadata types (`OptionSetMetadata`,
//! `EntityMetadata`, `StringAttributeMetadata`, `MemoAttributeMetadata`,
//! `IntegerAttributeMetadata`, `BooleanAttributeMetadata`,
//! `DateTimeAttributeMetadata`, `PicklistAttributeMetadata`, `EntityKeyMetadata`).
//! This crate does no I/O: a client sends each [`MetadataRequest`] in order
//! (relative to `.../api/data/v9.2/`), skipping what already exists.

use serde_json::{Value, json};

use crate::options::{OptionSetDef, option_sets};
use crate::schema::{ColumnDef, ColumnType, KeyDef, Release, TABLES, TableDef};

/// The language code labels are written in (English).
pub const LANGUAGE_CODE: i32 = 1033;

/// What a metadata request creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataKind {
    /// A global option set (`GlobalOptionSetDefinitions`).
    OptionSet,
    /// A table with its primary name column (`EntityDefinitions`).
    Table,
    /// A column (`EntityDefinitions(LogicalName='...')/Attributes`).
    Column,
    /// An alternate key (`EntityDefinitions(LogicalName='...')/Keys`).
    AlternateKey,
    /// A new option in an existing global option set (the `InsertOptionValue` action).
    OptionValue,
}

/// One metadata request: POST `path` with `body`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetadataRequest {
    /// What it creates.
    pub kind: MetadataKind,
    /// The path relative to the Web API root, e.g. `EntityDefinitions`.
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// The logical name of what it creates (option set, table, column or key schema name).
    pub name: String,
    /// For a choice column: the global option set it binds to.
    pub option_set: Option<&'static str>,
    /// Whether the thing is shared with other solutions (create only when missing).
    pub shared: bool,
}

impl MetadataRequest {
    /// Binds a choice column to its option set by the option set's `MetadataId`
    /// (as the Web API documentation's examples do; the id comes from the option
    /// set's create response or from `GlobalOptionSetDefinitions(Name='...')`).
    /// Without this the body binds by name.
    pub fn with_option_set_id(mut self, metadata_id: &str) -> Self {
        if self.option_set.is_some()
            && let Some(body) = self.body.as_object_mut()
        {
            body.insert(
                "GlobalOptionSet@odata.bind".to_owned(),
                Value::String(format!("/GlobalOptionSetDefinitions({metadata_id})")),
            );
        }
        self
    }
}

/// A `Label` with one English localized label.
pub fn label(text: &str) -> Value {
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [{
            "@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel",
            "Label": text,
            "LanguageCode": LANGUAGE_CODE,
        }],
    })
}

fn required_level(required: bool) -> Value {
    json!({
        "Value": if required { "ApplicationRequired" } else { "None" },
        "CanBeChanged": true,
        "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
    })
}

/// The body that creates a global option set.
pub fn option_set_body(set: &OptionSetDef) -> Value {
    let options: Vec<Value> = set
        .options
        .iter()
        .map(|o| json!({ "Value": o.value, "Label": label(o.label) }))
        .collect();
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
        "Name": set.name,
        "DisplayName": label(set.display_name),
        "Description": label(&format!("Copilot agent inventory choice: {}.", set.display_name)),
        "IsGlobal": true,
        "OptionSetType": "Picklist",
        "Options": options,
    })
}

/// The body that creates a column (attribute) of a table.
pub fn column_body(column: &ColumnDef) -> Value {
    let mut body = json!({
        "SchemaName": column.schema_name,
        "DisplayName": label(&column.display_name()),
        "Description": label(column.description),
        "RequiredLevel": required_level(column.required),
    });
    let specific = match column.column_type {
        ColumnType::String { max_length } => json!({
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "AttributeType": "String",
            "AttributeTypeName": { "Value": "StringType" },
            "FormatName": { "Value": "Text" },
            "MaxLength": max_length,
        }),
        ColumnType::Memo { max_length } => json!({
            "@odata.type": "Microsoft.Dynamics.CRM.MemoAttributeMetadata",
            "AttributeType": "Memo",
            "AttributeTypeName": { "Value": "MemoType" },
            "Format": "TextArea",
            "ImeMode": "Auto",
            "MaxLength": max_length,
        }),
        ColumnType::Integer => json!({
            "@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata",
            "AttributeType": "Integer",
            "AttributeTypeName": { "Value": "IntegerType" },
            "Format": "None",
            "MinValue": i32::MIN,
            "MaxValue": i32::MAX,
        }),
        ColumnType::Boolean { default } => json!({
            "@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
            "AttributeType": "Boolean",
            "AttributeTypeName": { "Value": "BooleanType" },
            "DefaultValue": default,
            "OptionSet": {
                "@odata.type": "Microsoft.Dynamics.CRM.BooleanOptionSetMetadata",
                "TrueOption": { "Value": 1, "Label": label("Yes") },
                "FalseOption": { "Value": 0, "Label": label("No") },
                "OptionSetType": "Boolean",
            },
        }),
        ColumnType::DateTime => json!({
            "@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
            "AttributeType": "DateTime",
            "AttributeTypeName": { "Value": "DateTimeType" },
            "Format": "DateAndTime",
            // Stored and returned in UTC; the scan writes UTC.
            "DateTimeBehavior": { "Value": "UserLocal" },
        }),
        ColumnType::Choice { option_set } => json!({
            "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            "AttributeType": "Picklist",
            "AttributeTypeName": { "Value": "PicklistType" },
            "GlobalOptionSet@odata.bind": format!("/GlobalOptionSetDefinitions(Name='{option_set}')"),
        }),
    };
    if let (Some(body), Value::Object(specific)) = (body.as_object_mut(), specific) {
        body.extend(specific);
    }
    body
}

/// The body that creates a table with its primary name column.
pub fn table_body(table: &TableDef) -> Value {
    let mut primary = column_body(table.primary_name());
    if let Some(p) = primary.as_object_mut() {
        p.insert("IsPrimaryName".to_owned(), Value::Bool(true));
    }
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
        "SchemaName": table.schema_name,
        "DisplayName": label(table.display_name),
        "DisplayCollectionName": label(table.display_collection_name),
        "Description": label(table.description),
        "OwnershipType": if table.organization_owned { "OrganizationOwned" } else { "UserOwned" },
        "IsActivity": false,
        "HasActivities": false,
        "HasNotes": false,
        "Attributes": [primary],
    })
}

/// The body that creates an alternate key.
pub fn key_body(key: &KeyDef) -> Value {
    let display = key
        .schema_name
        .strip_prefix("fsi_")
        .unwrap_or(key.schema_name);
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.EntityKeyMetadata",
        "SchemaName": key.schema_name,
        "DisplayName": label(display),
        "KeyAttributes": key.columns,
    })
}

/// Every request that creates the inventory schema, in an order that works:
/// option sets, then each table, its other columns and its keys.
pub fn create_schema_requests() -> Vec<MetadataRequest> {
    let mut out = Vec::new();
    for set in option_sets() {
        out.push(MetadataRequest {
            kind: MetadataKind::OptionSet,
            path: "GlobalOptionSetDefinitions".to_owned(),
            body: option_set_body(&set),
            name: set.name.to_owned(),
            option_set: None,
            shared: set.shared,
        });
    }
    for table in TABLES {
        out.extend(table_requests(table));
    }
    out
}

/// The requests that create one table, its columns and its keys.
pub fn table_requests(table: &TableDef) -> Vec<MetadataRequest> {
    let mut out = vec![MetadataRequest {
        kind: MetadataKind::Table,
        path: "EntityDefinitions".to_owned(),
        body: table_body(table),
        name: table.logical_name.to_owned(),
        option_set: None,
        shared: false,
    }];
    let base = format!("EntityDefinitions(LogicalName='{}')", table.logical_name);
    for column in &table.columns[1..] {
        out.push(MetadataRequest {
            kind: MetadataKind::Column,
            path: format!("{base}/Attributes"),
            body: column_body(column),
            name: column.logical_name.to_owned(),
            option_set: match column.column_type {
                ColumnType::Choice { option_set } => Some(option_set),
                _ => None,
            },
            shared: false,
        });
    }
    for key in table.keys {
        out.push(MetadataRequest {
            kind: MetadataKind::AlternateKey,
            path: format!("{base}/Keys"),
            body: key_body(key),
            name: key.schema_name.to_owned(),
            option_set: None,
            shared: false,
        });
    }
    out
}

/// The requests that bring a schema created at release `from` up to the current
/// one: the option sets, options and columns added since, in an order that works.
/// Tables and keys are unchanged between the releases this crate knows.
///
/// ```
/// use inventory_model::metadata::{upgrade_requests, MetadataKind};
/// use inventory_model::Release;
///
/// let steps = upgrade_requests(Release::V0_1_0);
/// assert_eq!(steps.iter().filter(|r| r.kind == MetadataKind::Column).count(), 10);
/// let people = steps.iter().find(|r| r.kind == MetadataKind::OptionValue).unwrap();
/// assert_eq!(people.path, "InsertOptionValue");
/// assert_eq!(people.body["Value"], 100_000_022);
/// assert!(upgrade_requests(Release::V0_2_0).is_empty());
/// ```
pub fn upgrade_requests(from: Release) -> Vec<MetadataRequest> {
    let mut out = Vec::new();
    for set in option_sets() {
        if set.since > from {
            out.push(MetadataRequest {
                kind: MetadataKind::OptionSet,
                path: "GlobalOptionSetDefinitions".to_owned(),
                body: option_set_body(&set),
                name: set.name.to_owned(),
                option_set: None,
                shared: set.shared,
            });
            continue;
        }
        for option in set.options.iter().filter(|o| o.since > from) {
            out.push(MetadataRequest {
                kind: MetadataKind::OptionValue,
                path: "InsertOptionValue".to_owned(),
                body: json!({
                    "OptionSetName": set.name,
                    "Value": option.value,
                    "Label": label(option.label),
                }),
                name: format!("{}={}", set.name, option.value),
                option_set: None,
                shared: set.shared,
            });
        }
    }
    for table in TABLES {
        let base = format!("EntityDefinitions(LogicalName='{}')", table.logical_name);
        for column in table.columns.iter().filter(|c| c.since > from) {
            out.push(MetadataRequest {
                kind: MetadataKind::Column,
                path: format!("{base}/Attributes"),
                body: column_body(column),
                name: column.logical_name.to_owned(),
                option_set: match column.column_type {
                    ColumnType::Choice { option_set } => Some(option_set),
                    _ => None,
                },
                shared: false,
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::schema::{AGENT, AGENT_FEATURE};

    #[test]
    fn table_body_carries_the_primary_name_column() {
        let body = table_body(&AGENT);
        assert_eq!(body["SchemaName"], "fsi_CopilotAgent");
        assert_eq!(body["OwnershipType"], "OrganizationOwned");
        let primary = &body["Attributes"][0];
        assert_eq!(primary["SchemaName"], "fsi_Name");
        assert_eq!(primary["IsPrimaryName"], true);
        assert_eq!(primary["MaxLength"], 850);
        assert_eq!(primary["RequiredLevel"]["Value"], "ApplicationRequired");
        assert_eq!(
            primary["DisplayName"]["LocalizedLabels"][0]["LanguageCode"],
            LANGUAGE_CODE
        );
    }

    #[test]
    fn each_column_type_has_its_metadata_type() {
        let requests = table_requests(&AGENT_FEATURE);
        let by_name = |n: &str| requests.iter().find(|r| r.name == n).unwrap();
        let feature = by_name("fsi_featuretype");
        assert_eq!(
            feature.body["@odata.type"],
            "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        );
        assert_eq!(
            feature.body["GlobalOptionSet@odata.bind"],
            "/GlobalOptionSetDefinitions(Name='fsi_cai_featuretype')"
        );
        assert_eq!(
            feature.body["RequiredLevel"]["Value"],
            "ApplicationRequired"
        );
        let bound = feature
            .clone()
            .with_option_set_id("00000000-0000-0000-0000-000000000001");
        assert_eq!(
            bound.body["GlobalOptionSet@odata.bind"],
            "/GlobalOptionSetDefinitions(00000000-0000-0000-0000-000000000001)"
        );
        let detail = by_name("fsi_detectiondetail");
        assert_eq!(
            detail.body["@odata.type"],
            "Microsoft.Dynamics.CRM.MemoAttributeMetadata"
        );
        assert_eq!(detail.body["MaxLength"], 4000);
        let enabled = by_name("fsi_isenabled");
        assert_eq!(enabled.body["DefaultValue"], true);
        assert_eq!(enabled.body["OptionSet"]["OptionSetType"], "Boolean");
        let ct = by_name("fsi_componenttype");
        assert_eq!(ct.body["AttributeType"], "Integer");
        let at = by_name("fsi_lastscannedat");
        assert_eq!(at.body["Format"], "DateAndTime");
        let key = by_name("fsi_AgentFeatureKey");
        assert_eq!(
            key.path,
            "EntityDefinitions(LogicalName='fsi_caiagentfeature')/Keys"
        );
        assert_eq!(
            key.body["KeyAttributes"],
            json!(["fsi_agentid", "fsi_sourceobjectid"])
        );
    }

    #[test]
    fn the_plan_creates_every_option_set_table_column_and_key_once() {
        let plan = create_schema_requests();
        let count = |k| plan.iter().filter(|r| r.kind == k).count();
        assert_eq!(count(MetadataKind::OptionSet), 14);
        assert_eq!(count(MetadataKind::Table), 8);
        let columns: usize = TABLES.iter().map(|t| t.columns.len() - 1).sum();
        assert_eq!(count(MetadataKind::Column), columns);
        assert_eq!(count(MetadataKind::AlternateKey), 7);
        // Option sets come before any column that binds them.
        let last_set = plan
            .iter()
            .rposition(|r| r.kind == MetadataKind::OptionSet)
            .unwrap();
        let first_table = plan
            .iter()
            .position(|r| r.kind == MetadataKind::Table)
            .unwrap();
        assert!(last_set < first_table);
        let zone = plan.iter().find(|r| r.name == "fsi_acv_zone").unwrap();
        assert!(zone.shared);
        assert_eq!(zone.body["Options"][2]["Value"], 2);
        assert_eq!(
            zone.body["Options"][2]["Label"]["LocalizedLabels"][0]["Label"],
            "Zone 2"
        );
    }
}

//! Metadata writes: global option sets (`POST GlobalOptionSetDefinitions`, `InsertOptionValue`),
//! tables (`POST EntityDefinitions`), columns (`POST EntityDefinitions(...)/Attributes`) and
//! alternate keys (`POST EntityDefinitions(...)/Keys`), as the Web API takes them. A created
//! table is an ordinary entity set at once: create, upsert, `$batch` and queries work on it by
//! its entity set name, with its keys enforced.
//!
//! Checked like Dataverse checks them: names need a customization prefix (`fsi_`), a table
//! needs its display names, ownership and a primary name column, a choice column binds an
//! existing global option set, key columns must exist and be of a key-able type. A key created
//! over rows that already break it is kept with index status `Failed` and is not usable.
//! Not emulated (a 400 that says so): lookups (they come from relationships), local option sets,
//! money, image, file and multi-select columns, activity tables, metadata writes inside a
//! change set.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::dataverse::error::{ApiError, INVALID_ARGUMENT_CODE};
use crate::dataverse::metadata::{find_option_set, find_table, metadata_id};
use crate::dataverse::schema::{ColumnDef, ColumnKind, EntitySetDef, SetSchema};
use crate::dataverse::store::{KeyRecord, Store, Table};
use crate::dataverse::{OptionDef, OptionSetDef};

use super::bind::forbidden;
use super::write::parse_body;
use super::{Ctx, Req, Resp};

/// DuplicateRecord: what already exists cannot be created again.
const DUPLICATE_CODE: &str = "0x80040237";
/// The most columns an alternate key may have.
const MAX_KEY_COLUMNS: usize = 16;
/// The most alternate keys a table may have.
const MAX_KEYS: usize = 10;
/// The first value of options created without one (the default publisher's option prefix).
const FIRST_OPTION_VALUE: i32 = 100_000_000;

/// Whether `req` changes metadata (refused inside a change set, whose undo log covers rows only).
pub(crate) fn is_metadata_write(req: &Req) -> bool {
    use super::Target;
    req.method != axum::http::Method::GET
        && match super::parse_path(&req.path) {
            Ok(Target::OptionSet(_) | Target::EntityDefs(..)) => true,
            Ok(Target::Set { set, .. }) => set == "InsertOptionValue",
            _ => false,
        }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(INVALID_ARGUMENT_CODE, message)
}

fn not_emulated(what: &str) -> ApiError {
    invalid(format!("{what} is not emulated by this tenant emulator."))
}

fn duplicate(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(DUPLICATE_CODE, message)
}

/// The text of a `Label` (`UserLocalizedLabel`, else the first localized label).
fn label_text(label: Option<&Value>) -> Option<String> {
    let label = label?;
    let user = label
        .get("UserLocalizedLabel")
        .and_then(|l| l.get("Label"))
        .and_then(Value::as_str);
    let first = label
        .get("LocalizedLabels")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|l| l.get("Label"))
        .and_then(Value::as_str);
    user.or(first)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn required_label(
    body: &Map<String, Value>,
    property: &str,
    what: &str,
) -> Result<String, ApiError> {
    label_text(body.get(property)).ok_or_else(|| {
        invalid(format!(
            "{what} needs a {property} with at least one localized label."
        ))
    })
}

/// The metadata type of a body (`@odata.type` without `#` and namespace), if given.
fn odata_type(body: &Map<String, Value>) -> Option<&str> {
    let t = body.get("@odata.type")?.as_str()?;
    let t = t.trim_start_matches('#');
    Some(t.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(t))
}

fn expect_type(body: &Map<String, Value>, expected: &str) -> Result<(), ApiError> {
    match odata_type(body) {
        None => Ok(()),
        Some(t) if t == expected => Ok(()),
        Some(t) => Err(invalid(format!(
            "The body is a '{t}', but this address takes a '{expected}'."
        ))),
    }
}

/// A schema name with a customization prefix: `prefix_Name`, letters, digits and `_`.
fn prefixed_name(
    body: &Map<String, Value>,
    property: &str,
    what: &str,
) -> Result<String, ApiError> {
    let name = body
        .get(property)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("{what} needs a {property}.")))?;
    let well_formed = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let prefixed = name
        .split_once('_')
        .is_some_and(|(prefix, rest)| !prefix.is_empty() && !rest.is_empty());
    if !well_formed || !prefixed {
        return Err(invalid(format!(
            "{what} {property} '{name}' is not valid: it must start with the publisher's customization prefix (such as 'new_') and hold only letters, digits and underscores."
        )));
    }
    Ok(name.to_owned())
}

fn bool_prop(body: &Map<String, Value>, property: &str) -> Result<Option<bool>, ApiError> {
    match body.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Managed properties arrive as {"Value": bool, ...}.
        Some(Value::Object(o)) if o.get("Value").is_some_and(Value::is_boolean) => {
            Ok(o.get("Value").and_then(Value::as_bool))
        }
        Some(_) => Err(invalid(format!("{property} must be true or false."))),
    }
}

/// `EntitySetName` Dataverse derives from a logical name: English plural rules on the last word.
pub(crate) fn plural(logical: &str) -> String {
    let vowel_before_y = logical
        .strip_suffix('y')
        .and_then(|s| s.chars().last())
        .is_some_and(|c| "aeiou".contains(c));
    if let Some(stem) = logical.strip_suffix('y')
        && !vowel_before_y
    {
        format!("{stem}ies")
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| logical.ends_with(e))
    {
        format!("{logical}es")
    } else {
        format!("{logical}s")
    }
}

fn created(entity_id: String) -> Resp {
    Resp::empty(StatusCode::NO_CONTENT)
        .header("OData-EntityId", entity_id.clone())
        .header("Location", entity_id)
}

fn parse_options(body: &Map<String, Value>, set_name: &str) -> Result<Vec<OptionDef>, ApiError> {
    let raw = body
        .get("Options")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("Option set '{set_name}' needs an Options array.")))?;
    let mut out: Vec<OptionDef> = Vec::new();
    for option in raw {
        let label = label_text(option.get("Label")).ok_or_else(|| {
            invalid(format!(
                "Every option of '{set_name}' needs a Label with a localized label."
            ))
        })?;
        let value = match option.get("Value") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| invalid(format!("Option '{label}' of '{set_name}' has a Value that is not a whole number.")))?,
            ),
        };
        let value = match value {
            Some(v) => v,
            None => next_value(&out),
        };
        if out.iter().any(|o| o.value == value) {
            return Err(duplicate(format!(
                "Option set '{set_name}' has the value {value} twice."
            )));
        }
        out.push(OptionDef {
            value,
            label,
            user_localized: true,
        });
    }
    Ok(out)
}

fn next_value(options: &[OptionDef]) -> i32 {
    options
        .iter()
        .map(|o| o.value)
        .filter(|v| *v >= FIRST_OPTION_VALUE)
        .max()
        .map_or(FIRST_OPTION_VALUE, |v| v.saturating_add(1))
}

/// `POST GlobalOptionSetDefinitions`.
pub(super) fn create_option_set(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
) -> Result<Resp, ApiError> {
    forbidden(ctx, "Create", "OptionSet")?;
    let body = parse_body(req)?;
    expect_type(&body, "OptionSetMetadata")?;
    let name = prefixed_name(&body, "Name", "A global option set")?;
    if bool_prop(&body, "IsGlobal")? == Some(false) {
        return Err(invalid(
            "Only global option sets (IsGlobal: true) are created through GlobalOptionSetDefinitions.",
        ));
    }
    match body.get("OptionSetType").and_then(Value::as_str) {
        None | Some("Picklist") => {}
        Some(other) => return Err(not_emulated(&format!("An option set of type '{other}'"))),
    }
    required_label(&body, "DisplayName", "A global option set")?;
    if store.option_set(&name).is_some() {
        return Err(duplicate(format!(
            "An option set with the name '{name}' already exists."
        )));
    }
    let options = parse_options(&body, &name)?;
    let id = metadata_id("optionset", &name);
    store.option_sets.push(OptionSetDef { name, options });
    Ok(created(format!(
        "{}/GlobalOptionSetDefinitions({id})",
        ctx.base
    )))
}

/// `POST InsertOptionValue`: adds an option to a global option set.
pub(super) fn insert_option_value(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
) -> Result<Resp, ApiError> {
    forbidden(ctx, "Write", "OptionSet")?;
    let body = parse_body(req)?;
    let name = body
        .get("OptionSetName")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid("InsertOptionValue needs an OptionSetName (global option sets only).")
        })?
        .to_owned();
    let label = required_label(&body, "Label", "An option")?;
    let Some(set) = store
        .option_sets
        .iter_mut()
        .find(|s| s.name.eq_ignore_ascii_case(&name))
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            crate::dataverse::error::NOT_EXIST_CODE,
            format!("Could not find optionset with name '{name}'."),
        ));
    };
    let value = match body.get("Value") {
        None | Some(Value::Null) => next_value(&set.options),
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| invalid("Value must be a whole number."))?,
    };
    if set.options.iter().any(|o| o.value == value) {
        return Err(duplicate(format!(
            "Option set '{name}' already has the value {value}."
        )));
    }
    set.options.push(OptionDef {
        value,
        label,
        user_localized: true,
    });
    Ok(Resp::value(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.InsertOptionValueResponse", ctx.base),
            "NewOptionValue": value,
        }),
    ))
}

/// A column from an `AttributeMetadata` body.
fn parse_column(store: &Store, body: &Map<String, Value>) -> Result<ColumnDef, ApiError> {
    let schema_name = prefixed_name(body, "SchemaName", "A column")?;
    let logical = schema_name.to_ascii_lowercase();
    let type_name = odata_type(body)
        .map(str::to_owned)
        .or_else(|| {
            body.get("AttributeType")
                .and_then(Value::as_str)
                .map(|t| format!("{t}AttributeMetadata"))
        })
        .ok_or_else(|| invalid(format!("Column '{schema_name}' needs an @odata.type such as Microsoft.Dynamics.CRM.StringAttributeMetadata.")))?;
    required_label(body, "DisplayName", "A column")?;
    let max_length = |default: u32, limit: u32| -> Result<u32, ApiError> {
        match body.get("MaxLength") {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=limit).contains(n))
                .ok_or_else(|| {
                    invalid(format!(
                        "MaxLength of column '{schema_name}' must be between 1 and {limit}."
                    ))
                }),
        }
    };
    let column = match type_name.as_str() {
        "StringAttributeMetadata" => {
            ColumnDef::new(&logical, ColumnKind::String).with_max_length(max_length(100, 4000)?)
        }
        "MemoAttributeMetadata" => {
            ColumnDef::new(&logical, ColumnKind::Memo).with_max_length(max_length(2000, 1_048_576)?)
        }
        "IntegerAttributeMetadata" => ColumnDef::new(&logical, ColumnKind::Integer),
        "BigIntAttributeMetadata" => ColumnDef::new(&logical, ColumnKind::BigInt),
        "DecimalAttributeMetadata" => ColumnDef::new(&logical, ColumnKind::Decimal),
        "DoubleAttributeMetadata" => ColumnDef::new(&logical, ColumnKind::Double),
        "DateTimeAttributeMetadata" => ColumnDef::new(&logical, ColumnKind::DateTime),
        "BooleanAttributeMetadata" => {
            let options = body.get("OptionSet");
            let has = |o: &str| options.and_then(|s| s.get(o)).is_some_and(Value::is_object);
            if !has("TrueOption") || !has("FalseOption") {
                return Err(invalid(format!(
                    "Yes/no column '{schema_name}' needs an OptionSet with a TrueOption and a FalseOption."
                )));
            }
            ColumnDef::new(&logical, ColumnKind::Boolean)
        }
        "PicklistAttributeMetadata" => {
            let bind = body
                .get("GlobalOptionSet@odata.bind")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    not_emulated(&format!(
                        "Choice column '{schema_name}' without GlobalOptionSet@odata.bind (a local option set)"
                    ))
                })?;
            let inner = bind
                .rsplit_once("GlobalOptionSetDefinitions(")
                .map(|(_, r)| r.trim_end_matches(')'))
                .ok_or_else(|| invalid(format!("GlobalOptionSet@odata.bind of '{schema_name}' must be '/GlobalOptionSetDefinitions(Name='...')' or '/GlobalOptionSetDefinitions(<MetadataId>)'.")))?;
            let name = inner
                .strip_prefix("Name=")
                .map_or(inner, |n| n.trim_matches('\''));
            let set = find_option_set(store, name).ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    crate::dataverse::error::NOT_EXIST_CODE,
                    format!("Could not find optionset with name '{name}'."),
                )
            })?;
            ColumnDef::new(&logical, ColumnKind::Picklist).with_option_set(set.name.clone())
        }
        "LookupAttributeMetadata" => {
            return Err(not_emulated(
                "Creating a lookup column (Dataverse creates lookups with a one-to-many relationship through RelationshipDefinitions)",
            ));
        }
        other => return Err(not_emulated(&format!("A column of type '{other}'"))),
    };
    Ok(column.with_schema_name(schema_name))
}

/// `POST EntityDefinitions`: a table with its primary name column.
pub(super) fn create_table(store: &mut Store, ctx: &Ctx<'_>, req: &Req) -> Result<Resp, ApiError> {
    forbidden(ctx, "Create", "Entity")?;
    let body = parse_body(req)?;
    expect_type(&body, "EntityMetadata")?;
    let schema_name = prefixed_name(&body, "SchemaName", "A table")?;
    let logical = schema_name.to_ascii_lowercase();
    required_label(&body, "DisplayName", "A table")?;
    required_label(&body, "DisplayCollectionName", "A table")?;
    let organization_owned = match body.get("OwnershipType").and_then(Value::as_str) {
        Some("OrganizationOwned") => true,
        Some("UserOwned") => false,
        Some(other) => return Err(not_emulated(&format!("OwnershipType '{other}'"))),
        None => {
            return Err(invalid(
                "A table needs an OwnershipType (UserOwned or OrganizationOwned).",
            ));
        }
    };
    for flag in ["IsActivity", "HasActivities", "HasNotes"] {
        if bool_prop(&body, flag)?.is_none() {
            return Err(invalid(format!("A table needs {flag} (true or false).")));
        }
    }
    if bool_prop(&body, "IsActivity")? == Some(true) {
        return Err(not_emulated("An activity table"));
    }
    let set_name = match body.get("EntitySetName").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => plural(&logical),
    };
    if store.table_by_logical(&logical).is_some() || store.table(&set_name).is_some() {
        return Err(duplicate(format!(
            "An entity with the specified name '{schema_name}' already exists. Please specify a unique name."
        )));
    }
    let attributes = body
        .get("Attributes")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("A table needs Attributes holding its primary name column."))?;
    let mut primary = None;
    let mut others = Vec::new();
    for attribute in attributes {
        let Value::Object(attr) = attribute else {
            return Err(invalid(
                "Every item of Attributes must be an attribute definition.",
            ));
        };
        let column = parse_column(store, attr)?;
        if bool_prop(attr, "IsPrimaryName")? == Some(true) {
            if primary.is_some() || *column.kind() != ColumnKind::String {
                return Err(invalid(
                    "A table needs exactly one primary name column, a StringAttributeMetadata with IsPrimaryName: true.",
                ));
            }
            primary = Some(column);
        } else {
            others.push(column);
        }
    }
    let primary = primary.ok_or_else(|| {
        invalid("A table needs exactly one primary name column, a StringAttributeMetadata with IsPrimaryName: true.")
    })?;
    let mut def = EntitySetDef::new(set_name.as_str(), logical.as_str(), format!("{logical}id"))
        .schema_name(schema_name.as_str())
        .primary_name(primary.name())
        .change_tracking(bool_prop(&body, "ChangeTrackingEnabled")?.unwrap_or(false))
        .column(primary)
        .columns(others);
    def = if organization_owned {
        def.with_organization_system_columns()
    } else {
        def.with_system_columns()
    };
    let schema = SetSchema::build(def).map_err(|e| invalid(e.to_string()))?;
    store.tables.insert(set_name, Table::new(Arc::new(schema)));
    Ok(created(format!(
        "{}/EntityDefinitions({})",
        ctx.base,
        metadata_id("entity", &logical)
    )))
}

/// Replaces the definition of the table named `set`, keeping its rows.
fn redefine(store: &mut Store, set: &str, def: EntitySetDef) -> Result<(), ApiError> {
    let schema = SetSchema::build(def).map_err(|e| invalid(e.to_string()))?;
    let Some(table) = store.tables.remove(set) else {
        return Err(ApiError::segment_not_found(set));
    };
    store
        .tables
        .insert(set.to_owned(), table.with_schema(Arc::new(schema)));
    Ok(())
}

/// `POST EntityDefinitions(LogicalName='x')/Attributes`.
pub(super) fn create_column(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
    table_name: &str,
) -> Result<Resp, ApiError> {
    forbidden(ctx, "Create", "Attribute")?;
    let (set, logical, def) = {
        let table = find_table(store, table_name)?;
        let s = &table.schema;
        (s.set().to_owned(), s.logical().to_owned(), s.def.clone())
    };
    let body = parse_body(req)?;
    let column = parse_column(store, &body)?;
    if def.columns_iter().any(|c| c.name() == column.name()) {
        return Err(duplicate(format!(
            "An attribute with the name '{}' already exists on entity '{logical}'.",
            column.schema_name()
        )));
    }
    let id = metadata_id("attribute", &format!("{logical}.{}", column.name()));
    redefine(store, &set, def.column(column))?;
    Ok(created(format!(
        "{}/EntityDefinitions({})/Attributes({id})",
        ctx.base,
        metadata_id("entity", &logical)
    )))
}

/// `POST EntityDefinitions(LogicalName='x')/Keys`.
pub(super) fn create_key(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
    table_name: &str,
) -> Result<Resp, ApiError> {
    forbidden(ctx, "Create", "EntityKey")?;
    let (set, logical, def) = {
        let table = find_table(store, table_name)?;
        let s = &table.schema;
        (s.set().to_owned(), s.logical().to_owned(), s.def.clone())
    };
    let body = parse_body(req)?;
    expect_type(&body, "EntityKeyMetadata")?;
    let schema_name = prefixed_name(&body, "SchemaName", "An alternate key")?;
    required_label(&body, "DisplayName", "An alternate key")?;
    let columns: Vec<String> = body
        .get("KeyAttributes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_ascii_lowercase))
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or_default()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            invalid("An alternate key needs KeyAttributes: the logical names of its columns.")
        })?;
    if columns.len() > MAX_KEY_COLUMNS {
        return Err(invalid(format!(
            "An alternate key has at most {MAX_KEY_COLUMNS} columns."
        )));
    }
    for name in &columns {
        let column = def
            .columns_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                invalid(format!(
                    "Key column '{name}' is not a column of entity '{logical}'."
                ))
            })?;
        let keyable = matches!(
            column.kind(),
            ColumnKind::String
                | ColumnKind::Integer
                | ColumnKind::Decimal
                | ColumnKind::DateTime
                | ColumnKind::Picklist
                | ColumnKind::Lookup { .. }
                | ColumnKind::Uniqueidentifier
        );
        if !keyable {
            return Err(invalid(format!(
                "Column '{name}' of type {} cannot be part of an alternate key.",
                column.kind().attribute_type()
            )));
        }
    }
    let records = store.key_records.get(&set).cloned().unwrap_or_default();
    let same_name = records
        .iter()
        .any(|r| r.schema_name.eq_ignore_ascii_case(&schema_name));
    let mut sorted = columns.clone();
    sorted.sort();
    let same_columns = def.alternate_keys().iter().any(|k| {
        let mut k = k.clone();
        k.sort();
        k == sorted
    });
    if same_name || same_columns {
        return Err(duplicate(format!(
            "Entity '{logical}' already has an alternate key named '{schema_name}' or on the same columns."
        )));
    }
    if def.alternate_keys().len() + records.iter().filter(|r| r.failed).count() >= MAX_KEYS {
        return Err(invalid(format!(
            "Entity '{logical}' already has {MAX_KEYS} alternate keys, the most a table may have."
        )));
    }
    // Dataverse builds the unique index in a system job; rows already breaking it fail the job.
    let failed = {
        let table = find_table(store, &logical)?;
        let cols: Vec<usize> = columns.iter().filter_map(|c| table.schema.col(c)).collect();
        !table.unique_on(&cols)
    };
    if !failed {
        redefine(store, &set, def.alternate_key(columns.iter().cloned()))?;
    }
    store.key_records.entry(set).or_default().push(KeyRecord {
        schema_name: schema_name.clone(),
        columns,
        created: ctx.now,
        failed,
    });
    let id = metadata_id(
        "key",
        &format!("{logical}.{}", schema_name.to_ascii_lowercase()),
    );
    Ok(created(format!(
        "{}/EntityDefinitions({})/Keys({id})",
        ctx.base,
        metadata_id("entity", &logical)
    )))
}

/// Refuses cells that break a column's limits: text longer than its `MaxLength`, a choice value
/// that is not an option of its option set.
pub(super) fn check_values(
    store: &Store,
    schema: &SetSchema,
    cells: &[Value],
) -> Result<(), ApiError> {
    for (column, value) in schema.columns().iter().zip(cells) {
        if let (Some(max), Some(text)) = (column.max_length(), value.as_str()) {
            let len = text.chars().count();
            if len > max as usize {
                return Err(ApiError::bad_request(
                    "0x80044331",
                    format!(
                        "A validation error occurred. The length of the '{}' attribute of the '{}' entity exceeded the maximum allowed length of '{max}'.",
                        column.name(),
                        schema.logical()
                    ),
                ));
            }
        }
        if let (Some(set), Some(n)) = (column.option_set(), value.as_i64())
            && let Some(options) = store.option_set(set)
            && !options.options.iter().any(|o| i64::from(o.value) == n)
        {
            let accepted: Vec<String> = options
                .options
                .iter()
                .map(|o| o.value.to_string())
                .collect();
            return Err(ApiError::bad_request(
                "0x8004431a",
                format!(
                    "A validation error occurred. The value {n} of '{}' on record of type '{}' is outside the valid range. Accepted Values: {}",
                    column.name(),
                    schema.logical(),
                    accepted.join(",")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_follow_the_english_rules_dataverse_uses() {
        assert_eq!(plural("fsi_copilotagent"), "fsi_copilotagents");
        assert_eq!(plural("new_category"), "new_categories");
        assert_eq!(plural("new_key"), "new_keys");
        assert_eq!(plural("new_address"), "new_addresses");
        assert_eq!(plural("new_box"), "new_boxes");
        assert_eq!(plural("new_branch"), "new_branches");
    }

    #[test]
    fn names_need_a_prefix() {
        let body = |n: &str| {
            let mut m = Map::new();
            m.insert("SchemaName".into(), Value::String(n.into()));
            m
        };
        assert!(prefixed_name(&body("fsi_Agent"), "SchemaName", "x").is_ok());
        for bad in ["Agent", "_Agent", "fsi_", "fsi_Ag ent", "1x_a", ""] {
            assert!(
                prefixed_name(&body(bad), "SchemaName", "x").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn labels_prefer_the_user_localized_one() {
        let l = json!({"LocalizedLabels": [{"Label": "A"}], "UserLocalizedLabel": {"Label": "B"}});
        assert_eq!(label_text(Some(&l)).as_deref(), Some("B"));
        let l = json!({"LocalizedLabels": [{"Label": "A"}], "UserLocalizedLabel": null});
        assert_eq!(label_text(Some(&l)).as_deref(), Some("A"));
        assert_eq!(label_text(Some(&json!({"LocalizedLabels": []}))), None);
    }
}

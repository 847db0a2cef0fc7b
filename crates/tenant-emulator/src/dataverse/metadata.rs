//! `WhoAmI`, `GlobalOptionSetDefinitions` and `EntityDefinitions`. Metadata is not paged.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use std::sync::LazyLock;

use super::OptionSetDef;
use super::engine::{Ctx, Resp};
use super::error::{ApiError, NOT_EXIST_CODE};
use super::filter;
use super::query::QueryOptions;
use super::schema::SetSchema;
use super::store::{Store, Table};

pub(crate) fn who_am_i(ctx: &Ctx<'_>) -> Resp {
    let user = ctx.caller.map_or(ctx.config.default_user_id, |c| c.user_id);
    Resp::value(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", ctx.base),
            "BusinessUnitId": ctx.config.business_unit_id.to_string(),
            "UserId": user.to_string(),
            "OrganizationId": ctx.config.organization_id.to_string(),
        }),
    )
}

/// A stable id for a metadata item, derived from its name (metadata ids never change).
pub(crate) fn metadata_id(kind: &str, name: &str) -> String {
    // FNV-1a over the name, spread over 128 bits; only stability matters here.
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in kind.bytes().chain([0]).chain(name.bytes()) {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    Uuid::from_u128(h).to_string()
}

fn label(text: &str, id_seed: &str, user_localized: bool) -> Value {
    let localized = json!({
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": true,
        "MetadataId": metadata_id("label", id_seed),
        "HasChanged": null,
    });
    json!({
        "LocalizedLabels": [localized.clone()],
        "UserLocalizedLabel": if user_localized { localized } else { Value::Null },
    })
}

fn option_set_json(def: &OptionSetDef) -> Map<String, Value> {
    let options: Vec<Value> = def
        .options
        .iter()
        .map(|o| {
            json!({
                "Value": o.value,
                "Color": null,
                "IsManaged": true,
                "ExternalValue": "",
                "ParentValues": [],
                "MetadataId": null,
                "HasChanged": null,
                "Label": label(&o.label, &format!("{}:{}", def.name, o.value), o.user_localized),
                "Description": label("", &format!("{}:{}:d", def.name, o.value), o.user_localized),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        Value::String("#Microsoft.Dynamics.CRM.OptionSetMetadata".into()),
    );
    out.insert(
        "MetadataId".into(),
        Value::String(metadata_id("optionset", &def.name)),
    );
    out.insert("Name".into(), Value::String(def.name.clone()));
    // Custom option sets carry a publisher prefix; the built-in ones here do not.
    let custom = def.name.contains('_') && def.name != "botcomponent_componenttype";
    out.insert("IsGlobal".into(), Value::Bool(true));
    out.insert("IsCustomOptionSet".into(), Value::Bool(custom));
    out.insert("IsManaged".into(), Value::Bool(!custom));
    out.insert("OptionSetType".into(), Value::String("Picklist".into()));
    out.insert("DisplayName".into(), label(&def.name, &def.name, true));
    out.insert("Options".into(), Value::Array(options));
    out
}

/// Keeps only the `$select`ed properties (plus annotations and `MetadataId`).
fn select_props(mut obj: Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    if let Some(cols) = select {
        obj.retain(|k, _| k.starts_with('@') || k == "MetadataId" || cols.iter().any(|c| c == k));
    }
    obj
}

fn metadata_query(raw: &str, what: &str, filter_allowed: bool) -> Result<QueryOptions, ApiError> {
    let q = QueryOptions::parse(raw)?;
    if (q.filter.is_some() && !filter_allowed)
        || !q.orderby.is_empty()
        || q.top.is_some()
        || !q.expand.is_empty()
    {
        return Err(ApiError::odata(format!(
            "Only $select is supported on {what} by this emulator."
        )));
    }
    Ok(q)
}

/// A global option set by name, or by `MetadataId` when `name` is a GUID.
pub(crate) fn find_option_set<'s>(store: &'s Store, name: &str) -> Option<&'s OptionSetDef> {
    match Uuid::parse_str(name) {
        Ok(id) => store
            .option_sets
            .iter()
            .find(|d| metadata_id("optionset", &d.name) == id.to_string()),
        Err(_) => store.option_set(name),
    }
}

pub(crate) fn option_sets(
    store: &Store,
    ctx: &Ctx<'_>,
    name: Option<&str>,
    raw_query: &str,
) -> Result<Resp, ApiError> {
    let q = metadata_query(raw_query, "GlobalOptionSetDefinitions", false)?;
    let base = ctx.base;
    match name {
        Some(name) => {
            let def = find_option_set(store, name).ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    NOT_EXIST_CODE,
                    format!("Could not find optionset with name '{name}'."),
                )
            })?;
            let mut out = Map::new();
            out.insert(
                "@odata.context".into(),
                Value::String(format!(
                    "{base}/$metadata#GlobalOptionSetDefinitions/$entity"
                )),
            );
            out.extend(select_props(option_set_json(def), q.select.as_deref()));
            Ok(Resp::value(StatusCode::OK, &Value::Object(out)))
        }
        None => {
            let values: Vec<Value> = store
                .option_sets
                .iter()
                .map(|d| Value::Object(select_props(option_set_json(d), q.select.as_deref())))
                .collect();
            Ok(Resp::value(
                StatusCode::OK,
                &json!({
                    "@odata.context": format!("{base}/$metadata#GlobalOptionSetDefinitions"),
                    "value": values,
                }),
            ))
        }
    }
}

/// The filterable properties of `EntityMetadata`, as a schema for `$filter`.
static ENTITY_METADATA: LazyLock<SetSchema> = LazyLock::new(|| {
    use super::schema::{ColumnDef, ColumnKind as K, EntitySetDef};
    let def = EntitySetDef::new("EntityDefinitions", "EntityMetadata", "MetadataId").columns([
        ColumnDef::new("LogicalName", K::String),
        ColumnDef::new("SchemaName", K::String),
        ColumnDef::new("EntitySetName", K::String),
        ColumnDef::new("LogicalCollectionName", K::String),
        ColumnDef::new("PrimaryIdAttribute", K::String),
        ColumnDef::new("PrimaryNameAttribute", K::String),
        ColumnDef::new("ChangeTrackingEnabled", K::Boolean),
        ColumnDef::new("IsIntersect", K::Boolean),
        ColumnDef::new("IsCustomEntity", K::Boolean),
        ColumnDef::new("IsOptimisticConcurrencyEnabled", K::Boolean),
    ]);
    match SetSchema::build(def) {
        Ok(schema) => schema,
        // The definition above is fixed and checked by tests.
        Err(e) => unreachable!("invalid EntityMetadata schema: {e}"),
    }
});

fn entity_json(table: &Table, is_intersect: bool) -> Map<String, Value> {
    let def = &table.schema.def;
    let logical = def.logical_name();
    let mut out = Map::new();
    out.insert(
        "MetadataId".into(),
        Value::String(metadata_id("entity", logical)),
    );
    out.insert("LogicalName".into(), Value::String(logical.to_owned()));
    out.insert(
        "SchemaName".into(),
        Value::String(def.schema_name_or_logical().to_owned()),
    );
    out.insert(
        "EntitySetName".into(),
        Value::String(def.set_name().to_owned()),
    );
    out.insert(
        "LogicalCollectionName".into(),
        Value::String(def.set_name().to_owned()),
    );
    out.insert(
        "PrimaryIdAttribute".into(),
        Value::String(def.primary_key().to_owned()),
    );
    out.insert(
        "PrimaryNameAttribute".into(),
        def.primary_name_column()
            .map_or(Value::Null, |n| Value::String(n.to_owned())),
    );
    out.insert(
        "ChangeTrackingEnabled".into(),
        Value::Bool(def.change_tracking_enabled()),
    );
    out.insert("IsIntersect".into(), Value::Bool(is_intersect));
    out.insert(
        "IsCustomEntity".into(),
        Value::Bool(!super::schema::is_builtin(def.set_name())),
    );
    out.insert("IsOptimisticConcurrencyEnabled".into(), Value::Bool(true));
    let ownership = if table.schema.col("_organizationid_value").is_some() {
        "OrganizationOwned"
    } else if table.schema.col("_ownerid_value").is_some() {
        "UserOwned"
    } else {
        "None"
    };
    out.insert("OwnershipType".into(), Value::String(ownership.into()));
    out
}

fn attributes_json(table: &Table) -> Vec<Map<String, Value>> {
    let logical = table.schema.logical();
    table
        .schema
        .columns()
        .iter()
        .map(|c| {
            let kind = c.kind();
            let mut attr = Map::new();
            attr.insert(
                "@odata.type".into(),
                Value::String(kind.metadata_type().into()),
            );
            attr.insert(
                "MetadataId".into(),
                Value::String(metadata_id("attribute", &format!("{logical}.{}", c.name()))),
            );
            attr.insert("LogicalName".into(), Value::String(c.name().to_owned()));
            attr.insert(
                "SchemaName".into(),
                Value::String(c.schema_name().to_owned()),
            );
            attr.insert(
                "EntityLogicalName".into(),
                Value::String(logical.to_owned()),
            );
            attr.insert(
                "AttributeType".into(),
                Value::String(kind.attribute_type().into()),
            );
            attr.insert(
                "AttributeTypeName".into(),
                json!({"Value": format!("{}Type", kind.attribute_type())}),
            );
            attr.insert(
                "IsPrimaryId".into(),
                Value::Bool(c.name() == table.schema.def.primary_key()),
            );
            attr.insert("IsValidForRead".into(), Value::Bool(true));
            if let super::schema::ColumnKind::Lookup { target_set, .. } = kind {
                attr.insert("Targets".into(), json!([target_set]));
            }
            if kind.is_string() {
                attr.insert(
                    "MaxLength".into(),
                    c.max_length().map_or(Value::Null, Value::from),
                );
            }
            attr
        })
        .collect()
}

pub(crate) fn entity_definitions(
    store: &Store,
    ctx: &Ctx<'_>,
    logical: Option<&str>,
    rest: &[String],
    raw_query: &str,
) -> Result<Resp, ApiError> {
    let q = metadata_query(
        raw_query,
        "EntityDefinitions",
        logical.is_none() && rest.is_empty(),
    )?;
    let base = ctx.base;
    let select = q.select.as_deref();
    let Some(logical) = logical else {
        if let Some(seg) = rest.first() {
            return Err(ApiError::segment_not_found(seg));
        }
        let mut tables: Vec<&Table> = store.tables.values().collect();
        tables.sort_by(|a, b| a.schema.logical().cmp(b.schema.logical()));
        let pred = q
            .filter
            .as_ref()
            .map(|f| filter::bind(f, &ENTITY_METADATA))
            .transpose()?;
        let values: Vec<Value> = tables
            .into_iter()
            .map(|t| entity_json(t, is_intersect(store, t)))
            .filter(|e| {
                let cells: Vec<Value> = ENTITY_METADATA
                    .columns()
                    .iter()
                    .map(|c| e.get(c.name()).cloned().unwrap_or(Value::Null))
                    .collect();
                pred.as_ref().is_none_or(|p| p.eval(&|i| &cells[i]))
            })
            .map(|e| Value::Object(select_props(e, select)))
            .collect();
        return Ok(Resp::value(
            StatusCode::OK,
            &json!({"@odata.context": format!("{base}/$metadata#EntityDefinitions"), "value": values}),
        ));
    };
    let table = find_table(store, logical)?;
    let logical = table.schema.logical();
    match rest {
        [] => {
            let mut out = Map::new();
            out.insert(
                "@odata.context".into(),
                Value::String(format!("{base}/$metadata#EntityDefinitions/$entity")),
            );
            out.extend(select_props(
                entity_json(table, is_intersect(store, table)),
                select,
            ));
            Ok(Resp::value(StatusCode::OK, &Value::Object(out)))
        }
        [attrs] if attrs == "Attributes" => {
            let values: Vec<Value> = attributes_json(table)
                .into_iter()
                .map(|a| Value::Object(select_props(a, select)))
                .collect();
            let fragment = match select {
                Some(cols) => format!("({})", cols.join(",")),
                None => String::new(),
            };
            Ok(Resp::value(
                StatusCode::OK,
                &json!({
                    "@odata.context": format!("{base}/$metadata#EntityDefinitions('{logical}')/Attributes{fragment}"),
                    "value": values,
                }),
            ))
        }
        [one] if one.starts_with("Attributes(") => {
            let name = addressed_name(one);
            let attr = attributes_json(table)
                .into_iter()
                .find(|a| {
                    ["LogicalName", "MetadataId"]
                        .iter()
                        .any(|f| a.get(*f).and_then(Value::as_str) == Some(name))
                })
                .ok_or_else(|| ApiError::segment_not_found(one))?;
            let mut out = Map::new();
            out.insert(
                "@odata.context".into(),
                Value::String(format!(
                    "{base}/$metadata#EntityDefinitions('{logical}')/Attributes/$entity"
                )),
            );
            out.extend(select_props(attr, select));
            Ok(Resp::value(StatusCode::OK, &Value::Object(out)))
        }
        [keys] if keys == "Keys" => {
            let values: Vec<Value> = keys_json(store, ctx, table)
                .into_iter()
                .map(|k| Value::Object(select_props(k, select)))
                .collect();
            Ok(Resp::value(
                StatusCode::OK,
                &json!({
                    "@odata.context": format!("{base}/$metadata#EntityDefinitions('{logical}')/Keys"),
                    "value": values,
                }),
            ))
        }
        [one] if one.starts_with("Keys(") => {
            let name = addressed_name(one);
            let key = keys_json(store, ctx, table)
                .into_iter()
                .find(|k| {
                    ["LogicalName", "MetadataId"]
                        .iter()
                        .any(|f| k.get(*f).and_then(Value::as_str) == Some(name))
                })
                .ok_or_else(|| ApiError::segment_not_found(one))?;
            let mut out = Map::new();
            out.insert(
                "@odata.context".into(),
                Value::String(format!(
                    "{base}/$metadata#EntityDefinitions('{logical}')/Keys/$entity"
                )),
            );
            out.extend(select_props(key, select));
            Ok(Resp::value(StatusCode::OK, &Value::Object(out)))
        }
        [other, ..] => Err(ApiError::segment_not_found(other)),
    }
}

/// The name in `Segment(LogicalName='name')`, or the id in `Segment(id)`.
fn addressed_name(segment: &str) -> &str {
    let (_, args) = segment.split_once('(').unwrap_or((segment, ""));
    let args = args.strip_suffix(')').unwrap_or(args);
    args.strip_prefix("LogicalName=")
        .map_or(args, |s| s.trim_matches('\''))
}

/// A table by logical name, or by `MetadataId` when `name` is a GUID; Dataverse's 404 otherwise.
pub(crate) fn find_table<'s>(store: &'s Store, name: &str) -> Result<&'s Table, ApiError> {
    let found = match Uuid::parse_str(name) {
        Ok(id) => store
            .tables
            .values()
            .find(|t| metadata_id("entity", t.schema.logical()) == id.to_string()),
        Err(_) => store.table_by_logical(name),
    };
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            NOT_EXIST_CODE,
            format!("Could not find entity with logical name '{name}'."),
        )
    })
}

/// `EntityKeyIndexStatus` of a key created at `created`: Dataverse builds the index in a
/// system job, so a new key is `Pending`, then `InProgress`, then `Active`.
fn key_status(ctx: &Ctx<'_>, created: time::OffsetDateTime, failed: bool) -> &'static str {
    let delay = ctx.config.key_activation_delay;
    let elapsed = ctx.now - created;
    if failed {
        "Failed"
    } else if elapsed >= delay {
        "Active"
    } else if elapsed * 2 >= delay {
        "InProgress"
    } else {
        "Pending"
    }
}

/// The alternate key of `table` on `columns` is not active yet: the error an upsert by it gets.
pub(crate) fn key_not_ready(
    store: &Store,
    ctx: &Ctx<'_>,
    table: &Table,
    columns: &[&str],
) -> Option<ApiError> {
    let record = store
        .key_records
        .get(table.schema.set())?
        .iter()
        .find(|r| {
            !r.failed
                && r.columns
                    .iter()
                    .map(String::as_str)
                    .eq(columns.iter().copied())
        })?;
    let status = key_status(ctx, record.created, record.failed);
    (status != "Active").then(|| {
        ApiError::bad_request(
            super::error::INVALID_ARGUMENT_CODE,
            format!(
                "The alternate key '{}' of entity '{}' cannot be used yet: its index is {status}. Wait until EntityKeyIndexStatus is Active.",
                record.schema_name,
                table.schema.logical()
            ),
        )
    })
}

/// The `EntityKeyMetadata` of a table: declared keys (active), and keys created through the
/// metadata API with their index status (failed ones included, as Dataverse lists them).
fn keys_json(store: &Store, ctx: &Ctx<'_>, table: &Table) -> Vec<Map<String, Value>> {
    let schema = &table.schema;
    let logical = schema.logical();
    let records = store.key_records.get(schema.set());
    let mut keys: Vec<(String, Vec<String>, &'static str)> = Vec::new();
    for (i, cols) in schema.alt_keys.iter().enumerate() {
        let names: Vec<String> = cols
            .iter()
            .map(|c| schema.column(*c).name().to_owned())
            .collect();
        let record = records.and_then(|rs| rs.iter().find(|r| !r.failed && r.columns == names));
        let (name, status) = match record {
            Some(r) => (r.schema_name.clone(), key_status(ctx, r.created, false)),
            None => (format!("{logical}_key{}", i + 1), "Active"),
        };
        keys.push((name, names, status));
    }
    for r in records.into_iter().flatten().filter(|r| r.failed) {
        keys.push((r.schema_name.clone(), r.columns.clone(), "Failed"));
    }
    keys.into_iter()
        .map(|(schema_name, columns, status)| {
            let lower = schema_name.to_ascii_lowercase();
            let mut key = Map::new();
            key.insert(
                "MetadataId".into(),
                Value::String(metadata_id("key", &format!("{logical}.{lower}"))),
            );
            key.insert("LogicalName".into(), Value::String(lower));
            key.insert("SchemaName".into(), Value::String(schema_name.clone()));
            key.insert(
                "EntityLogicalName".into(),
                Value::String(logical.to_owned()),
            );
            key.insert("KeyAttributes".into(), json!(columns));
            key.insert("EntityKeyIndexStatus".into(), Value::String(status.into()));
            key.insert(
                "DisplayName".into(),
                label(&schema_name, &schema_name, true),
            );
            key.insert("IsManaged".into(), Value::Bool(false));
            key
        })
        .collect()
}

fn is_intersect(store: &Store, table: &Table) -> bool {
    store
        .many_to_many
        .iter()
        .any(|m| m.intersect_set == table.schema.set())
}

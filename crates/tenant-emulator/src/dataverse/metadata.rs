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
fn metadata_id(kind: &str, name: &str) -> String {
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
    out.insert("IsGlobal".into(), Value::Bool(true));
    out.insert("IsCustomOptionSet".into(), Value::Bool(false));
    out.insert("IsManaged".into(), Value::Bool(true));
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

pub(crate) fn option_sets(
    ctx: &Ctx<'_>,
    name: Option<&str>,
    raw_query: &str,
) -> Result<Resp, ApiError> {
    let q = metadata_query(raw_query, "GlobalOptionSetDefinitions", false)?;
    let base = ctx.base;
    match name {
        Some(name) => {
            let def = ctx
                .config
                .option_sets
                .iter()
                .find(|d| d.name == name)
                .ok_or_else(|| {
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
            let values: Vec<Value> = ctx
                .config
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
    out.insert("SchemaName".into(), Value::String(logical.to_owned()));
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
    out.insert(
        "Keys".into(),
        Value::Array(
            def.alternate_keys()
                .iter()
                .map(|k| json!({"KeyAttributes": k}))
                .collect(),
        ),
    );
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
            attr.insert("SchemaName".into(), Value::String(c.name().to_owned()));
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
    let table = store.table_by_logical(logical).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            NOT_EXIST_CODE,
            format!("Could not find entity with logical name '{logical}'."),
        )
    })?;
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
        [attrs, one] if attrs == "Attributes" => {
            let (_, args) = one.split_once('(').unwrap_or((one, ""));
            let name = args
                .trim_end_matches(')')
                .strip_prefix("LogicalName=")
                .map(|s| s.trim_matches('\''))
                .unwrap_or_default();
            let attr = attributes_json(table)
                .into_iter()
                .find(|a| a.get("LogicalName").and_then(Value::as_str) == Some(name))
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
        [other, ..] => Err(ApiError::segment_not_found(other)),
    }
}

fn is_intersect(store: &Store, table: &Table) -> bool {
    store
        .many_to_many
        .iter()
        .any(|m| m.intersect_set == table.schema.set())
}

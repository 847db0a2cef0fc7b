//! POST, PATCH and DELETE: create, upsert, delete and `$ref` associations.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::dataverse::error::{ApiError, INVALID_ARGUMENT_CODE};
use crate::dataverse::filter::{self, Lit};
use crate::dataverse::query::{Prefer, QueryOptions};
use crate::dataverse::schema::{ColumnKind, SetSchema};
use crate::dataverse::store::{Row, Store, Table, Undo};

use super::bind::{NavKind, alt_key_values, bind_nav, bind_select, forbidden, resolve_key, table};
use super::customize;
use super::path::{parse_key, split_segment};
use super::project::{Projector, context_fragment};
use super::read::not_found_for;
use super::*;

/// Serves POST, PATCH and DELETE (and refuses other methods).
pub(crate) fn write(store: &mut Store, ctx: &Ctx<'_>, req: &Req, undo: &mut Vec<Undo>) -> Resp {
    match write_inner(store, ctx, req, undo) {
        Ok(resp) => resp,
        Err(err) => err.into(),
    }
}

fn write_inner(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
    undo: &mut Vec<Undo>,
) -> Result<Resp, ApiError> {
    let method = req.method.as_str();
    let is_post = req.method == Method::POST;
    match parse_path(&req.path)? {
        Target::OptionSet(None) if is_post => customize::create_option_set(store, ctx, req),
        Target::EntityDefs(None, rest) if is_post && rest.is_empty() => {
            customize::create_table(store, ctx, req)
        }
        Target::EntityDefs(Some(name), rest) if is_post && rest.len() == 1 => {
            match rest[0].as_str() {
                "Attributes" => customize::create_column(store, ctx, req, &name),
                "Keys" => customize::create_key(store, ctx, req, &name),
                other => Err(ApiError::segment_not_found(other)),
            }
        }
        Target::Set { set, key, rest }
            if is_post && set == "InsertOptionValue" && key.is_none() && rest.is_empty() =>
        {
            customize::insert_option_value(store, ctx, req)
        }
        Target::Set { set, key, rest } => {
            table(store, &set)?;
            match (key, rest.as_slice(), &req.method) {
                (None, [], &Method::POST) => create(store, ctx, req, &set, undo),
                (Some(key), [], &Method::PATCH) => upsert(store, ctx, req, &set, &key, undo),
                (Some(key), [], &Method::DELETE) => delete(store, ctx, req, &set, &key, undo),
                (Some(key), [nav, r], m)
                    if r == "$ref" && matches!(*m, Method::POST | Method::PUT | Method::DELETE) =>
                {
                    reference(store, ctx, req, &set, &key, nav, undo)
                }
                (None, [other, ..], _) if other != "$count" => {
                    Err(ApiError::segment_not_found(other))
                }
                _ => Err(ApiError::method_not_allowed(method)),
            }
        }
        _ => Err(ApiError::method_not_allowed(method)),
    }
}

pub(super) fn parse_body(req: &Req) -> Result<Map<String, Value>, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::odata(
            "The request body must be a JSON object describing the entity.",
        )),
        Err(e) => Err(ApiError::odata(format!(
            "Invalid JSON. The request body could not be read: {e}."
        ))),
    }
}

fn convert_error(value: &Value, kind: &ColumnKind) -> ApiError {
    ApiError::odata(format!(
        "Cannot convert the literal '{}' to the expected type '{}'.",
        match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        kind.edm()
    ))
}

/// Checks a body value against its column type and normalizes it for storage.
fn coerce(kind: &ColumnKind, value: &Value) -> Result<Value, ApiError> {
    use ColumnKind as K;
    if value.is_null() {
        return Ok(Value::Null);
    }
    let err = || convert_error(value, kind);
    Ok(match kind {
        K::String | K::Memo => Value::String(value.as_str().ok_or_else(err)?.to_owned()),
        K::Integer | K::Picklist | K::State | K::Status => {
            let n = value.as_i64().ok_or_else(err)?;
            i32::try_from(n).map_err(|_| err())?;
            Value::from(n)
        }
        K::BigInt => Value::from(value.as_i64().ok_or_else(err)?),
        K::Decimal | K::Double => {
            value.as_f64().ok_or_else(err)?;
            value.clone()
        }
        K::Boolean => Value::Bool(value.as_bool().ok_or_else(err)?),
        K::DateTime => {
            let dt = value
                .as_str()
                .and_then(filter::parse_datetime)
                .ok_or_else(err)?;
            Value::String(format_datetime(dt))
        }
        K::Uniqueidentifier | K::Lookup { .. } => {
            let id = value
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(err)?;
            Value::String(id.to_string())
        }
    })
}

/// Resolves an `@odata.bind` reference (`/bots(guid)`, `bots(guid)`, an absolute URL).
fn resolve_reference(store: &Store, reference: &str) -> Result<(String, Uuid), ApiError> {
    let bad = || {
        ApiError::odata(format!(
            "The reference '{reference}' in an @odata.bind annotation is not a valid entity URL such as '/bots(00000000-0000-0000-0000-000000000000)'."
        ))
    };
    let path = match reference.find("/api/data/") {
        Some(i) => {
            let after = &reference[i + "/api/data/".len()..];
            after.split_once('/').map(|(_, p)| p).ok_or_else(bad)?
        }
        None => reference.trim_start_matches('/'),
    };
    let Target::Set {
        set,
        key: Some(key),
        rest,
    } = parse_path(path).map_err(|_| bad())?
    else {
        return Err(bad());
    };
    if !rest.is_empty() {
        return Err(bad());
    }
    let target = table(store, &set)?;
    let id = resolve_key(target, &key)?.ok_or_else(|| not_found_for(target, &key))?;
    Ok((set, id))
}

/// Applies a request body to `cells`.
fn apply_body(
    store: &Store,
    schema: &SetSchema,
    cells: &mut [Value],
    body: &Map<String, Value>,
    id: Uuid,
) -> Result<(), ApiError> {
    let logical = schema.logical();
    for (name, value) in body {
        if let Some(nav) = name.strip_suffix("@odata.bind") {
            let Some(col) = schema.nav_col(nav) else {
                return Err(ApiError::odata(format!(
                    "An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
                )));
            };
            let ColumnKind::Lookup { target_set, .. } = schema.column(col).kind() else {
                continue;
            };
            cells[col] = match value {
                Value::Null => Value::Null,
                Value::String(reference) => {
                    let (set, target_id) = resolve_reference(store, reference)?;
                    if &set != target_set {
                        return Err(ApiError::odata(format!(
                            "The navigation property '{nav}' of '{logical}' points to '{target_set}', not to '{set}'."
                        )));
                    }
                    Value::String(target_id.to_string())
                }
                _ => {
                    return Err(ApiError::odata(format!(
                        "The value of '{name}' must be a string URL of the related record."
                    )));
                }
            };
            continue;
        }
        if name.contains('@') {
            // Instance and property annotations (`@odata.type`, formatted values) are ignored.
            continue;
        }
        let Some(col) = schema.col(name) else {
            return Err(ApiError::odata(format!(
                "The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{logical}'. Make sure to only use property names that are defined by the type or mark the type as open type."
            )));
        };
        let kind = schema.column(col).kind();
        if let ColumnKind::Lookup { .. } = kind {
            return Err(ApiError::bad_request(
                "0x80060888",
                "CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.",
            ));
        }
        let v = coerce(kind, value)?;
        if col == schema.pk {
            if v != Value::String(id.to_string()) {
                return Err(ApiError::bad_request(
                    INVALID_ARGUMENT_CODE,
                    format!(
                        "The primary key '{name}' in the body does not match the key of the addressed record."
                    ),
                ));
            }
            continue;
        }
        cells[col] = v;
    }
    Ok(())
}

/// Sets the columns Dataverse maintains itself.
pub(super) fn stamp(schema: &SetSchema, ctx: &Ctx<'_>, cells: &mut [Value], created: bool) {
    let now = Value::String(format_datetime(ctx.now));
    let user = Value::String(
        ctx.caller
            .map_or(ctx.config.default_user_id, |c| c.user_id)
            .to_string(),
    );
    let mut set = |name: &str, value: &Value, only_if_null: bool| {
        if let Some(col) = schema.col(name)
            && (!only_if_null || cells[col].is_null())
        {
            cells[col] = value.clone();
        }
    };
    set("modifiedon", &now, false);
    set("_modifiedby_value", &user, false);
    if created {
        set("createdon", &now, false);
        set("_createdby_value", &user, false);
        set("_ownerid_value", &user, true);
        set("_owninguser_value", &user, true);
        set(
            "_owningbusinessunit_value",
            &Value::String(ctx.config.business_unit_id.to_string()),
            true,
        );
        set("statecode", &Value::from(0), true);
        set("statuscode", &Value::from(1), true);
    }
}

fn duplicate_alt_key(schema: &SetSchema, k: usize) -> ApiError {
    let names: Vec<&str> = schema.alt_keys[k]
        .iter()
        .map(|c| schema.column(*c).name())
        .collect();
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "0x80060892",
        format!(
            "A record that has the attribute values {} already exists. The entity key requires that this set of attributes contains unique values. Select unique values and try again.",
            names.join(", ")
        ),
    )
}

fn entity_url(ctx: &Ctx<'_>, set: &str, id: Uuid) -> String {
    format!("{}/{set}({id})", ctx.base)
}

/// The 204 (or, with `return=representation`, the `status` with the row) answering a write.
pub(super) fn written(
    store: &Store,
    ctx: &Ctx<'_>,
    req: &Req,
    set: &str,
    id: Uuid,
    status: StatusCode,
) -> Result<Resp, ApiError> {
    let url = entity_url(ctx, set, id);
    let prefer = Prefer::from_headers(&req.headers);
    let table = table(store, set)?;
    let Some(row) = table.rows.get(&id) else {
        return Err(ApiError::row_not_found(table.schema.logical(), &id));
    };
    let view = store.view(table, row);
    let etag = view.etag();
    if !prefer.return_representation {
        return Ok(Resp::empty(StatusCode::NO_CONTENT)
            .header("OData-EntityId", url.clone())
            .header("Location", url));
    }
    let q = QueryOptions::parse(&req.query)?;
    let select = bind_select(&table.schema, q.select.as_deref())?;
    let projector = Projector {
        store,
        prefer: &prefer,
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/$metadata#{}/$entity",
            ctx.base,
            context_fragment(set, q.select.as_deref(), &[])
        )),
    );
    out.extend(projector.row(table, &view, select.as_deref()));
    Ok(Resp::value(status, &Value::Object(out))
        .header("OData-EntityId", url.clone())
        .header("Location", url)
        .header("ETag", etag)
        .header("Preference-Applied", "return=representation"))
}

fn create(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
    set: &str,
    undo: &mut Vec<Undo>,
) -> Result<Resp, ApiError> {
    let schema = table(store, set)?.schema.clone();
    forbidden(ctx, "Create", schema.logical())?;
    let body = parse_body(req)?;
    let pk_name = schema.def.primary_key();
    let id = match body.get(pk_name) {
        Some(v) if !v.is_null() => v
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| convert_error(v, &ColumnKind::Uniqueidentifier))?,
        _ => Uuid::new_v4(),
    };
    let t = table(store, set)?;
    if t.rows.contains_key(&id) {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "0x80040237",
            "A record with matching key values already exists.",
        ));
    }
    let mut cells = vec![Value::Null; schema.len()].into_boxed_slice();
    cells[schema.pk] = Value::String(id.to_string());
    let cells = fill(store, ctx, t, cells, &body, id, true)?;
    store.put(set, id, cells, Some(undo));
    written(store, ctx, req, set, id, StatusCode::CREATED)
}

/// Row `id` of `table`, `cells` (its current cells, or a new row's), with the request body
/// applied and the system columns stamped, unless it would then clash with another row on an
/// alternate key.
fn fill(
    store: &Store,
    ctx: &Ctx<'_>,
    table: &Table,
    mut cells: Box<[Value]>,
    body: &Map<String, Value>,
    id: Uuid,
    created: bool,
) -> Result<Box<[Value]>, ApiError> {
    let schema = &table.schema;
    apply_body(store, schema, &mut cells, body, id)?;
    customize::check_values(store, schema, &cells)?;
    stamp(schema, ctx, &mut cells, created);
    match table.alt_conflict(id, &cells) {
        Some(k) => Err(duplicate_alt_key(schema, k)),
        None => Ok(cells),
    }
}

fn header_str<'r>(req: &'r Req, name: &str) -> Option<&'r str> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Refuses a write whose `If-Match` is neither `*` nor the ETag of row `id` as it is now.
fn check_if_match(t: &Table, id: Uuid, tag: &str) -> Result<(), ApiError> {
    if tag == "*" || t.rows.get(&id).map(Row::etag).as_deref() == Some(tag) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "",
        "The version of the existing record doesn't match the RowVersion property provided.",
    ))
}

fn upsert(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
    set: &str,
    key: &Key,
    undo: &mut Vec<Undo>,
) -> Result<Resp, ApiError> {
    let t = table(store, set)?;
    let schema = t.schema.clone();
    if let Key::Alt(pairs) = key
        && !matches!(pairs.as_slice(), [(n, Lit::Guid(_))] if n == schema.def.primary_key())
    {
        let (k, _) = alt_key_values(&schema, pairs)?;
        let names: Vec<&str> = schema.alt_keys[k]
            .iter()
            .map(|c| schema.column(*c).name())
            .collect();
        if let Some(e) = crate::dataverse::metadata::key_not_ready(store, ctx, t, &names) {
            return Err(e);
        }
    }
    let existing = resolve_key(t, key)?;
    let if_match = header_str(req, "if-match");
    let if_none_match = header_str(req, "if-none-match");
    match (existing, if_match) {
        (None, Some(_)) => return Err(not_found_for(t, key)),
        (Some(id), Some(tag)) => check_if_match(t, id, tag)?,
        _ => {}
    }
    if existing.is_some() && if_none_match == Some("*") {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "",
            "A record with matching key values already exists.",
        ));
    }
    let body = parse_body(req)?;
    match existing {
        Some(id) => {
            forbidden(ctx, "Write", schema.logical())?;
            let cells = t
                .rows
                .get(&id)
                .map(|r| r.cells.clone())
                .ok_or_else(|| not_found_for(t, key))?;
            let cells = fill(store, ctx, t, cells, &body, id, false)?;
            store.put(set, id, cells, Some(undo));
            written(store, ctx, req, set, id, StatusCode::OK)
        }
        None => {
            forbidden(ctx, "Create", schema.logical())?;
            let mut cells = vec![Value::Null; schema.len()].into_boxed_slice();
            let id = match key {
                Key::Id(id) => *id,
                Key::Alt(pairs) => match pairs.as_slice() {
                    [(n, Lit::Guid(id))] if n == schema.def.primary_key() => *id,
                    _ => {
                        let (k, values) = alt_key_values(&schema, pairs)?;
                        for (col, value) in schema.alt_keys[k].iter().zip(values) {
                            cells[*col] = value;
                        }
                        Uuid::new_v4()
                    }
                },
            };
            cells[schema.pk] = Value::String(id.to_string());
            let cells = fill(store, ctx, t, cells, &body, id, true)?;
            store.put(set, id, cells, Some(undo));
            written(store, ctx, req, set, id, StatusCode::CREATED)
        }
    }
}

fn delete(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
    set: &str,
    key: &Key,
    undo: &mut Vec<Undo>,
) -> Result<Resp, ApiError> {
    let t = table(store, set)?;
    forbidden(ctx, "Delete", t.schema.logical())?;
    let id = resolve_key(t, key)?.ok_or_else(|| not_found_for(t, key))?;
    if let Some(tag) = header_str(req, "if-match") {
        check_if_match(t, id, tag)?;
    }
    store.remove(set, id, Some(undo));
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

/// `$ref` requests: associate (`POST`/`PUT` with `{"@odata.id": url}`) or disassociate
/// (`DELETE`, the related row named as `nav(id)` or by `?$id=url`).
fn reference(
    store: &mut Store,
    ctx: &Ctx<'_>,
    req: &Req,
    set: &str,
    key: &Key,
    nav_segment: &str,
    undo: &mut Vec<Undo>,
) -> Result<Resp, ApiError> {
    let t = table(store, set)?;
    let schema = t.schema.clone();
    forbidden(ctx, "Write", schema.logical())?;
    let source = resolve_key(t, key)?.ok_or_else(|| not_found_for(t, key))?;
    let (nav, nav_key) = split_segment(nav_segment)?;
    let kind = bind_nav(store, &schema, nav).map_err(|_| ApiError::segment_not_found(nav))?;
    // The related row: from the body (associate), from `nav(id)` or `$id` (disassociate).
    let related: Option<(String, Uuid)> = if req.method == Method::DELETE {
        let id_param = req.query.split('&').find_map(|p| {
            let (n, v) = p.split_once('=')?;
            (crate::dataverse::query::decode_component(n).ok()? == "$id")
                .then(|| crate::dataverse::query::decode_component(v).ok())
                .flatten()
        });
        match (nav_key, id_param) {
            (Some(k), _) => {
                let target_set = match &kind {
                    NavKind::Single { target, .. } => target,
                    NavKind::Children { child, .. } => child,
                    NavKind::Many { other, .. } => other,
                };
                let target = table(store, target_set)?;
                let k = parse_key(k, nav_segment)?;
                let id = resolve_key(target, &k)?.ok_or_else(|| not_found_for(target, &k))?;
                Some((target_set.clone(), id))
            }
            (None, Some(url)) => Some(resolve_reference(store, &url)?),
            (None, None) => None,
        }
    } else {
        let body = parse_body(req)?;
        let url = body
            .get("@odata.id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::odata("A $ref request body must be {\"@odata.id\": \"<entity URL>\"}.")
            })?;
        Some(resolve_reference(store, url)?)
    };
    let wrong_target = |expected: &str, got: &str| {
        ApiError::odata(format!(
            "The navigation property '{nav}' relates to '{expected}', not to '{got}'."
        ))
    };
    let no_link = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            crate::dataverse::error::NOT_EXIST_CODE,
            format!("The record is not associated through '{nav}'."),
        )
    };
    let associate = req.method != Method::DELETE;
    match kind {
        NavKind::Single { col, target } => {
            if req.method == Method::POST {
                return Err(ApiError::method_not_allowed("POST"));
            }
            let mut cells = row_cells(store, set, source)?;
            match related {
                Some((got, id)) if associate => {
                    if got != target {
                        return Err(wrong_target(&target, &got));
                    }
                    cells[col] = Value::String(id.to_string());
                }
                _ => cells[col] = Value::Null,
            }
            stamp(&schema, ctx, &mut cells, false);
            store.put(set, source, cells, Some(undo));
        }
        NavKind::Children { child, col } => {
            let Some((got, child_id)) = related else {
                return Err(ApiError::odata(format!(
                    "Name the related row to disassociate: {nav}(id)/$ref or $id."
                )));
            };
            if got != child {
                return Err(wrong_target(&child, &got));
            }
            let mut cells = row_cells(store, &child, child_id)?;
            let current = cells[col].as_str().and_then(|s| Uuid::parse_str(s).ok());
            if associate {
                cells[col] = Value::String(source.to_string());
            } else if current == Some(source) {
                cells[col] = Value::Null;
            } else {
                return Err(no_link());
            }
            let child_schema = table(store, &child)?.schema.clone();
            stamp(&child_schema, ctx, &mut cells, false);
            store.put(&child, child_id, cells, Some(undo));
        }
        NavKind::Many {
            intersect,
            this_col,
            other_col,
            other,
        } => {
            let Some((got, other_id)) = related else {
                return Err(ApiError::odata(format!(
                    "Name the related row to disassociate: {nav}(id)/$ref or $id."
                )));
            };
            if got != other {
                return Err(wrong_target(&other, &got));
            }
            let link = table(store, &intersect)?;
            let link_schema = link.schema.clone();
            let (Some(tc), Some(oc)) = (link_schema.col(&this_col), link_schema.col(&other_col))
            else {
                return Err(ApiError::segment_not_found(nav));
            };
            let existing: Vec<Uuid> = link
                .rows
                .iter()
                .filter(|(_, r)| {
                    r.cells[tc].as_str().and_then(|s| Uuid::parse_str(s).ok()) == Some(source)
                        && r.cells[oc].as_str().and_then(|s| Uuid::parse_str(s).ok())
                            == Some(other_id)
                })
                .map(|(id, _)| *id)
                .collect();
            if associate {
                if !existing.is_empty() {
                    return Err(ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "0x80040237",
                        "Cannot insert duplicate key.",
                    ));
                }
                let id = Uuid::new_v4();
                let mut cells = vec![Value::Null; link_schema.len()].into_boxed_slice();
                cells[link_schema.pk] = Value::String(id.to_string());
                cells[tc] = Value::String(source.to_string());
                cells[oc] = Value::String(other_id.to_string());
                store.put(&intersect, id, cells, Some(undo));
            } else {
                if existing.is_empty() {
                    return Err(no_link());
                }
                for id in existing {
                    store.remove(&intersect, id, Some(undo));
                }
            }
        }
    }
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

fn row_cells(store: &Store, set: &str, id: Uuid) -> Result<Box<[Value]>, ApiError> {
    let t = table(store, set)?;
    t.rows
        .get(&id)
        .map(|r| r.cells.clone())
        .ok_or_else(|| ApiError::row_not_found(t.schema.logical(), &id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerce_values() {
        assert_eq!(
            coerce(
                &ColumnKind::DateTime,
                &Value::String("2024-09-09T20:41:13+02:00".into())
            )
            .unwrap(),
            Value::String("2024-09-09T18:41:13Z".into())
        );
        assert!(coerce(&ColumnKind::Integer, &Value::String("1".into())).is_err());
        assert!(coerce(&ColumnKind::Integer, &Value::from(1i64 << 40)).is_err());
        assert!(coerce(&ColumnKind::Uniqueidentifier, &Value::String("x".into())).is_err());
    }
}

//! GET: collections, `$count`, single rows and single properties.

use std::cmp::Ordering;
use std::ops::Bound;

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::dataverse::cookie::{PageCookie, bad_skiptoken};
use crate::dataverse::error::ApiError;
use crate::dataverse::filter::{self, Lit, SortKey};
use crate::dataverse::metadata;
use crate::dataverse::query::{ExpandOpt, Prefer, QueryOptions};
use crate::dataverse::store::{Row, Store, Table};

use super::bind::{
    NavKind, bind_expand, bind_nav, bind_order, bind_select, compare_keys, forbidden, matches,
    resolve_key, sort_rows, table,
};
use super::changes::{changes_between, delta_since, track_changes};
use super::project::{Projector, collection_body, context_fragment, link, preference_applied};
use super::*;

/// Serves GET requests.
pub(crate) fn read(store: &Store, ctx: &Ctx<'_>, req: &Req) -> Resp {
    match read_inner(store, ctx, req) {
        Ok(resp) => resp,
        Err(err) => err.into(),
    }
}

fn read_inner(store: &Store, ctx: &Ctx<'_>, req: &Req) -> Result<Resp, ApiError> {
    match parse_path(&req.path)? {
        Target::WhoAmI => Ok(metadata::who_am_i(ctx)),
        Target::Batch => Err(ApiError::method_not_allowed(req.method.as_str())),
        Target::OptionSet(name) => metadata::option_sets(store, ctx, name.as_deref(), &req.query),
        Target::EntityDefs(logical, rest) => {
            metadata::entity_definitions(store, ctx, logical.as_deref(), &rest, &req.query)
        }
        Target::Set { set, key, rest } => {
            let table = table(store, &set)?;
            forbidden(ctx, "Read", table.schema.logical())?;
            match (key, rest.as_slice()) {
                (None, []) => get_collection(store, ctx, req, table),
                (None, [count]) if count == "$count" => get_count(store, ctx, req, table),
                (None, [other, ..]) => Err(ApiError::segment_not_found(other)),
                (Some(key), []) => get_entity(store, ctx, req, table, &key),
                (Some(key), [prop]) => get_property(store, ctx, req, table, &key, prop),
                (Some(_), [_, other, ..]) => Err(ApiError::segment_not_found(other)),
            }
        }
    }
}

fn get_count(store: &Store, ctx: &Ctx<'_>, req: &Req, table: &Table) -> Result<Resp, ApiError> {
    let q = QueryOptions::parse(&req.query)?;
    if let Some(raw) = &q.deltatoken {
        // The number of changes since the token (documented for change tracking).
        let since = delta_since(store, ctx, raw)?;
        let n = changes_between(table, since, store.version).len();
        return Ok(Resp {
            status: StatusCode::OK,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: n.to_string().into_bytes(),
        });
    }
    let pred = q
        .filter
        .as_ref()
        .map(|f| filter::bind(f, &table.schema))
        .transpose()?;
    let n = table
        .rows
        .iter()
        .filter(|(_, r)| matches(pred.as_ref(), &store.view(table, r)))
        .take(MAX_PAGE)
        .count();
    Ok(Resp {
        status: StatusCode::OK,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: n.to_string().into_bytes(),
    })
}

fn get_collection(
    store: &Store,
    ctx: &Ctx<'_>,
    req: &Req,
    table: &Table,
) -> Result<Resp, ApiError> {
    let q = QueryOptions::parse(&req.query)?;
    let prefer = Prefer::from_headers(&req.headers);
    let schema = &table.schema;
    let select = bind_select(schema, q.select.as_deref())?;
    let cookie = q
        .skiptoken
        .as_deref()
        .map(PageCookie::from_token)
        .transpose()?;
    // Like Dataverse, a table without change tracking ignores `odata.track-changes`: a plain
    // read, with no `Preference-Applied` for it and no delta link.
    let tracking = (prefer.track_changes && schema.def.change_tracking_enabled())
        || q.deltatoken.is_some()
        || cookie.as_ref().is_some_and(|c| c.tracking.is_some());
    if tracking {
        return track_changes(store, ctx, &q, &prefer, table, select.as_deref(), cookie);
    }
    let pred = q
        .filter
        .as_ref()
        .map(|f| filter::bind(f, schema))
        .transpose()?;
    let order = bind_order(schema, &q.orderby)?;
    let expands = bind_expand(store, schema, &q.expand)?;
    let page_size = prefer
        .maxpagesize
        .unwrap_or(ctx.config.default_page_size)
        .clamp(1, MAX_PAGE);
    // `$top` is ignored when a page size is asked for.
    let top = if prefer.maxpagesize.is_none() {
        q.top
    } else {
        None
    };
    let take = top.map_or(page_size, |t| t.min(page_size));
    let pk_name = schema.def.primary_key().to_owned();

    let mut page: Vec<(Uuid, &Row)> = Vec::new();
    let mut more = false;
    let mut last_key: Vec<Value> = Vec::new();
    let mut count = None;
    if order.is_empty() {
        let start = match &cookie {
            Some(c) => match c.last.as_slice() {
                [(name, Value::String(id))] if *name == pk_name => {
                    Bound::Excluded(Uuid::parse_str(id).map_err(|_| bad_skiptoken())?)
                }
                _ => return Err(bad_skiptoken()),
            },
            None => Bound::Unbounded,
        };
        for (id, row) in table.rows.range((start, Bound::Unbounded)) {
            if !matches(pred.as_ref(), &store.view(table, row)) {
                continue;
            }
            if page.len() == take {
                more = true;
                break;
            }
            page.push((*id, row));
        }
        if q.count {
            let n = table
                .rows
                .iter()
                .filter(|(_, r)| matches(pred.as_ref(), &store.view(table, r)))
                .take(MAX_PAGE + 1)
                .count();
            count = Some((n.min(MAX_PAGE), n > MAX_PAGE));
        }
    } else {
        let rows: Vec<(Uuid, &Row)> = table
            .rows
            .iter()
            .filter(|(_, r)| matches(pred.as_ref(), &store.view(table, r)))
            .map(|(id, r)| (*id, r))
            .collect();
        if q.count {
            count = Some((rows.len().min(MAX_PAGE), rows.len() > MAX_PAGE));
        }
        let sorted = sort_rows(store, table, rows, &order);
        let start = match &cookie {
            Some(c) => {
                let expected: Vec<&str> = order
                    .iter()
                    .map(|(col, _)| schema.column(*col).name())
                    .chain(std::iter::once(pk_name.as_str()))
                    .collect();
                let names: Vec<&str> = c.last.iter().map(|(n, _)| n.as_str()).collect();
                if names != expected {
                    return Err(bad_skiptoken());
                }
                let values: Vec<SortKey> = c.last[..order.len()]
                    .iter()
                    .zip(&order)
                    .map(|((_, v), (col, _))| SortKey::of(schema.column(*col).kind(), v))
                    .collect();
                let last_id = c.last[order.len()]
                    .1
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(bad_skiptoken)?;
                sorted.partition_point(|(k, id, _)| {
                    compare_keys(&order, (k, *id), (&values, last_id)) != Ordering::Greater
                })
            }
            None => 0,
        };
        let mut iter = sorted.into_iter().skip(start);
        for (_, id, row) in iter.by_ref() {
            if page.len() == take {
                more = true;
                break;
            }
            page.push((id, row));
        }
        // The cookie keeps the last row's values as stored, not its sort keys.
        if let Some((_, row)) = page.last() {
            let view = store.view(table, row);
            last_key = order.iter().map(|(c, _)| view.get(*c).clone()).collect();
        }
    }
    if top.is_some() {
        more = false;
    }

    let projector = Projector {
        store,
        prefer: &prefer,
    };
    let mut outs: Vec<Map<String, Value>> = page
        .iter()
        .map(|(_, r)| projector.row(table, &store.view(table, r), select.as_deref()))
        .collect();
    projector.expand(&page, &mut outs, &expands)?;

    let next = match (more, page.last()) {
        (true, Some((id, _))) => {
            let mut last: Vec<(String, Value)> = order
                .iter()
                .zip(last_key)
                .map(|((col, _), v)| (schema.column(*col).name().to_owned(), v))
                .collect();
            last.push((pk_name.clone(), Value::String(id.to_string())));
            let next_cookie = PageCookie {
                page: cookie.as_ref().map_or(2, |c| c.page + 1),
                tracking: None,
                last_version: None,
                last_deleted: false,
                last,
            };
            Some(link(
                ctx.base,
                schema.set(),
                &q.link_pairs,
                &[("$skiptoken", next_cookie.to_token())],
            ))
        }
        _ => None,
    };
    let context = format!(
        "{}/$metadata#{}",
        ctx.base,
        context_fragment(schema.set(), q.select.as_deref(), &expands)
    );
    let body = collection_body(
        &context,
        count,
        outs.into_iter().map(Value::Object),
        next.as_deref().map(|n| ("@odata.nextLink", n)),
    );
    let mut resp = Resp::json(StatusCode::OK, body);
    if let Some(applied) = preference_applied(&prefer, false) {
        resp = resp.header("Preference-Applied", applied);
    }
    Ok(resp)
}

pub(super) fn not_found_for(table: &Table, key: &Key) -> ApiError {
    match key {
        Key::Id(id) => ApiError::row_not_found(table.schema.logical(), id),
        Key::Alt(pairs) => match pairs.as_slice() {
            [(n, Lit::Guid(id))] if n == table.schema.def.primary_key() => {
                ApiError::row_not_found(table.schema.logical(), id)
            }
            _ => ApiError::alt_key_not_found(table.schema.logical()),
        },
    }
}

fn get_entity(
    store: &Store,
    ctx: &Ctx<'_>,
    req: &Req,
    table: &Table,
    key: &Key,
) -> Result<Resp, ApiError> {
    let q = QueryOptions::parse(&req.query)?;
    let prefer = Prefer::from_headers(&req.headers);
    let schema = &table.schema;
    let select = bind_select(schema, q.select.as_deref())?;
    let expands = bind_expand(store, schema, &q.expand)?;
    let id = resolve_key(table, key)?.ok_or_else(|| not_found_for(table, key))?;
    let Some(row) = table.rows.get(&id) else {
        return Err(not_found_for(table, key));
    };
    let view = store.view(table, row);
    let etag = view.etag();
    if expands.is_empty()
        && prefer.include_annotations.is_none()
        && req
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == etag)
    {
        return Ok(Resp::empty(StatusCode::NOT_MODIFIED));
    }
    let projector = Projector {
        store,
        prefer: &prefer,
    };
    let mut outs = vec![projector.row(table, &view, select.as_deref())];
    projector.expand(&[(id, row)], &mut outs, &expands)?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/$metadata#{}/$entity",
            ctx.base,
            context_fragment(schema.set(), q.select.as_deref(), &expands)
        )),
    );
    out.extend(outs.pop().unwrap_or_default());
    Ok(Resp::value(StatusCode::OK, &Value::Object(out)).header("ETag", etag))
}

fn get_property(
    store: &Store,
    ctx: &Ctx<'_>,
    req: &Req,
    table: &Table,
    key: &Key,
    prop: &str,
) -> Result<Resp, ApiError> {
    let schema = &table.schema;
    let id = resolve_key(table, key)?.ok_or_else(|| not_found_for(table, key))?;
    let Some(row) = table.rows.get(&id) else {
        return Err(not_found_for(table, key));
    };
    if let Some(col) = schema.col(prop) {
        let view = store.view(table, row);
        let value = view.get(col);
        if value.is_null() {
            return Ok(Resp::empty(StatusCode::NO_CONTENT));
        }
        let body = serde_json::json!({
            "@odata.context": format!("{}/$metadata#{}({id})/{prop}", ctx.base, schema.set()),
            "value": value,
        });
        return Ok(Resp::value(StatusCode::OK, &body));
    }
    // A navigation property: the related row(s), with the query options applied to them.
    let q = QueryOptions::parse(&req.query)?;
    let prefer = Prefer::from_headers(&req.headers);
    let kind = bind_nav(store, schema, prop).map_err(|_| ApiError::segment_not_found(prop))?;
    let opt = ExpandOpt {
        nav: prop.to_owned(),
        select: q.select.clone(),
        filter: q.filter.clone(),
        orderby: q.orderby.clone(),
        top: q.top,
    };
    let single = matches!(kind, NavKind::Single { .. });
    let bound = bind_expand(store, schema, std::slice::from_ref(&opt))?;
    let projector = Projector {
        store,
        prefer: &prefer,
    };
    let mut outs = vec![Map::new()];
    projector.expand(&[(id, row)], &mut outs, &bound)?;
    let value = outs
        .pop()
        .and_then(|mut m| m.remove(prop))
        .unwrap_or(Value::Null);
    let target = bound
        .first()
        .map(|b| b.target_set().to_owned())
        .unwrap_or_default();
    if single {
        let Value::Object(entity) = value else {
            return Ok(Resp::empty(StatusCode::NO_CONTENT));
        };
        let mut out = Map::new();
        out.insert(
            "@odata.context".into(),
            Value::String(format!("{}/$metadata#{target}/$entity", ctx.base)),
        );
        out.extend(entity);
        return Ok(Resp::value(StatusCode::OK, &Value::Object(out)));
    }
    let rows = match value {
        Value::Array(rows) => rows,
        _ => Vec::new(),
    };
    let context = format!(
        "{}/$metadata#{}",
        ctx.base,
        context_fragment(&target, q.select.as_deref(), &[])
    );
    Ok(Resp::json(
        StatusCode::OK,
        collection_body(&context, None, rows, None),
    ))
}

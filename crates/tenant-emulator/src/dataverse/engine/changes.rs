//! Change tracking: delta pages, `$deltatoken` checks and the changes between two versions.

use std::ops::Bound;

use axum::http::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::dataverse::cookie::{self, DeltaToken, PageCookie, bad_skiptoken};
use crate::dataverse::error::{ApiError, EXPIRED_VERSION_STAMP_CODE, INVALID_ARGUMENT_CODE};
use crate::dataverse::query::{Prefer, QueryOptions};
use crate::dataverse::store::{Row, Store, Table};

use super::project::{PageBody, Projector, context_fragment, link, preference_applied};
use super::*;

pub(super) fn track_changes(
    store: &Store,
    ctx: &Ctx<'_>,
    q: &QueryOptions,
    prefer: &Prefer,
    table: &Table,
    select: Option<&[usize]>,
    cookie: Option<PageCookie>,
) -> Result<Resp, ApiError> {
    let schema = &table.schema;
    if let Some(option) = q.first_tracking_conflict() {
        return Err(ApiError::bad_request(
            INVALID_ARGUMENT_CODE,
            format!(
                "The \"{option}\" query parameter isn't supported when Change Tracking is enabled."
            ),
        ));
    }
    if !schema.def.change_tracking_enabled() {
        return Err(ApiError::bad_request(
            INVALID_ARGUMENT_CODE,
            format!(
                "Change tracking is not enabled for the entity '{}'; odata.track-changes cannot be used on it.",
                schema.logical()
            ),
        ));
    }
    let since = q
        .deltatoken
        .as_deref()
        .map(|raw| delta_since(store, ctx, raw))
        .transpose()?;
    let upto = match &cookie {
        Some(c) => match c.tracking {
            Some((cookie_since, upto)) if cookie_since == since => upto,
            _ => return Err(bad_skiptoken()),
        },
        None => store.version,
    };
    let page_size = prefer
        .maxpagesize
        .unwrap_or(ctx.config.default_page_size)
        .clamp(1, MAX_PAGE);
    let pk_name = schema.def.primary_key().to_owned();
    let projector = Projector { store, prefer };
    let cookie_id = |c: &PageCookie| -> Result<Uuid, ApiError> {
        match c.last.as_slice() {
            [(name, Value::String(id))] if *name == pk_name => {
                Uuid::parse_str(id).map_err(|_| bad_skiptoken())
            }
            _ => Err(bad_skiptoken()),
        }
    };
    let layout = projector.layout(table, select);
    let mut values = PageBody::with_capacity(0);
    let push_row = |values: &mut PageBody, row: &Row| match &layout {
        Some(layout) => values.row(layout, row),
        None => values.value(&Value::Object(projector.row(
            table,
            &store.view(table, row),
            select,
        ))),
    };
    let mut next_cookie = None;
    match since {
        None => {
            let start = match &cookie {
                Some(c) => Bound::Excluded(cookie_id(c)?),
                None => Bound::Unbounded,
            };
            let mut last = None;
            for (id, row) in table.rows.range((start, Bound::Unbounded)) {
                if values.len() == page_size {
                    next_cookie = last.map(|id: Uuid| PageCookie {
                        page: cookie.as_ref().map_or(2, |c| c.page + 1),
                        tracking: Some((None, upto)),
                        last_version: None,
                        last_deleted: false,
                        last: vec![(pk_name.clone(), Value::String(id.to_string()))],
                    });
                    break;
                }
                push_row(&mut values, row);
                last = Some(*id);
            }
        }
        Some(since) => {
            let changes = changes_between(table, since, upto);
            let skip = match &cookie {
                Some(c) => {
                    let last_version = c.last_version.ok_or_else(bad_skiptoken)?;
                    let last_id = cookie_id(c)?;
                    let mark = (c.last_deleted, last_version, last_id);
                    changes.partition_point(|(d, v, id, _)| (*d, *v, *id) <= mark)
                }
                None => 0,
            };
            let mut last = None;
            for (deleted, version, id, row) in changes.into_iter().skip(skip) {
                if values.len() == page_size {
                    next_cookie = last.map(|(d, v, id): (bool, u64, Uuid)| PageCookie {
                        page: cookie.as_ref().map_or(2, |c| c.page + 1),
                        tracking: Some((Some(since), upto)),
                        last_version: Some(v),
                        last_deleted: d,
                        last: vec![(pk_name.clone(), Value::String(id.to_string()))],
                    });
                    break;
                }
                match row {
                    Some(row) => push_row(&mut values, row),
                    None => values.value(&serde_json::json!({
                        "@odata.context": format!("{}/$metadata#{}/$deletedEntity", ctx.base, schema.set()),
                        "id": id.to_string(),
                        "reason": "deleted",
                    })),
                }
                last = Some((deleted, version, id));
            }
        }
    }
    let mut pairs = q.link_pairs.clone();
    if let Some(token) = &q.deltatoken {
        pairs.push(format!("$deltatoken={}", cookie::encode(token)));
    }
    let link_value = match &next_cookie {
        Some(c) => (
            "@odata.nextLink",
            link(
                ctx.base,
                schema.set(),
                &pairs,
                &[("$skiptoken", c.to_token())],
            ),
        ),
        None => {
            let token = DeltaToken {
                version: upto,
                issued: ctx.now,
            };
            (
                "@odata.deltaLink",
                link(
                    ctx.base,
                    schema.set(),
                    &q.link_pairs,
                    &[("$deltatoken", token.to_token())],
                ),
            )
        }
    };
    let mut context = format!(
        "{}/$metadata#{}",
        ctx.base,
        context_fragment(schema.set(), q.select.as_deref(), &[])
    );
    if since.is_some() {
        context.push_str("/$delta");
    }
    let body = values.finish(&context, None, Some((link_value.0, &link_value.1)));
    let mut resp = Resp::json(StatusCode::OK, body);
    if let Some(applied) = preference_applied(prefer, true) {
        resp = resp.header("Preference-Applied", applied);
    }
    Ok(resp)
}

/// Checks a `$deltatoken`: the version it was issued at, or the documented errors.
pub(super) fn delta_since(store: &Store, ctx: &Ctx<'_>, raw: &str) -> Result<u64, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            INVALID_ARGUMENT_CODE,
            format!("The $deltatoken '{raw}' is not valid. Start again with odata.track-changes."),
        )
    };
    let token = DeltaToken::parse(raw).ok_or_else(invalid)?;
    if token.version > store.version {
        return Err(invalid());
    }
    if token.version <= store.expired_through
        || ctx.now - token.issued > ctx.config.change_tracking_retention
    {
        return Err(ApiError::bad_request(
            EXPIRED_VERSION_STAMP_CODE,
            "Version stamp associated with the client has expired. Please perform a full sync.",
        ));
    }
    Ok(token.version)
}

/// A change: `(deleted, version, id, row)`.
type Change<'a> = (bool, u64, Uuid, Option<&'a Row>);

/// Changes with a version in `(since, upto]`: new or updated rows by version, then deletions by
/// version (the order the documentation describes).
pub(super) fn changes_between(table: &Table, since: u64, upto: u64) -> Vec<Change<'_>> {
    let mut changes: Vec<Change<'_>> = table
        .rows
        .iter()
        .filter(|(_, r)| r.version > since && r.version <= upto)
        .map(|(id, r)| (false, r.version, *id, Some(r)))
        .chain(
            table
                .tombstones
                .iter()
                .filter(|(_, v)| **v > since && **v <= upto)
                .map(|(id, v)| (true, *v, *id, None)),
        )
        .collect();
    changes.sort_by_key(|(d, v, id, _)| (*d, *v, *id));
    changes
}

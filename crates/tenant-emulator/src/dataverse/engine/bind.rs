//! Binding names in a request to the schema: tables, keys, privileges, `$select`, `$orderby`,
//! `$expand`, and the row order they give.

use std::cmp::Ordering;
use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::dataverse::error::{ApiError, INVALID_ARGUMENT_CODE};
use crate::dataverse::filter::{self, Lit, Pred, SortKey};
use crate::dataverse::query::{ExpandOpt, OrderKey};
use crate::dataverse::schema::{ColumnKind, SetSchema};
use crate::dataverse::store::{Row, RowView, Store, Table};

use super::*;

pub(super) fn forbidden(ctx: &Ctx<'_>, op: &str, logical: &str) -> Result<(), ApiError> {
    let Some(caller) = ctx.caller else {
        return Ok(());
    };
    let privilege = format!("prv{op}{logical}");
    if caller.privileges.has(&privilege) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "0x80040220",
        format!(
            "Principal user (Id={}, type=8, privilegeCount={}, accessMode=4), is missing {privilege} privilege for entity '{logical}'.",
            caller.user_id,
            caller.privileges.named_count()
        ),
    ))
}

pub(super) fn table<'s>(store: &'s Store, set: &str) -> Result<&'s Table, ApiError> {
    store
        .table(set)
        .ok_or_else(|| ApiError::segment_not_found(set))
}

/// Finds the row a key addresses (`Ok(None)` when absent).
pub(super) fn resolve_key(table: &Table, key: &Key) -> Result<Option<Uuid>, ApiError> {
    let schema = &table.schema;
    match key {
        Key::Id(id) => Ok(table.rows.contains_key(id).then_some(*id)),
        Key::Alt(pairs) => {
            if let [(name, Lit::Guid(id))] = pairs.as_slice()
                && name == schema.def.primary_key()
            {
                return Ok(table.rows.contains_key(id).then_some(*id));
            }
            let (k, values) = alt_key_values(schema, pairs)?;
            Ok(table.find_alt(k, &values))
        }
    }
}

/// Matches alternate key pairs to a declared key; returns its index and the values in key order.
pub(super) fn alt_key_values(
    schema: &SetSchema,
    pairs: &[(String, Lit)],
) -> Result<(usize, Vec<Value>), ApiError> {
    let names: HashSet<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    let invalid = || {
        ApiError::bad_request(
            INVALID_ARGUMENT_CODE,
            format!(
                "The key specified for entity '{}' is not valid: ({}) is neither the primary key nor an alternate key.",
                schema.logical(),
                pairs
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        )
    };
    for (k, cols) in schema.alt_keys.iter().enumerate() {
        let key_names: HashSet<&str> = cols.iter().map(|c| schema.column(*c).name()).collect();
        if key_names != names || names.len() != pairs.len() {
            continue;
        }
        let mut values = Vec::new();
        for col in cols {
            let column = schema.column(*col);
            let lit = pairs
                .iter()
                .find(|(n, _)| n == column.name())
                .map(|(_, l)| l)
                .ok_or_else(invalid)?;
            values.push(lit_to_value(column.kind(), lit).ok_or_else(invalid)?);
        }
        return Ok((k, values));
    }
    Err(invalid())
}

fn lit_to_value(kind: &ColumnKind, lit: &Lit) -> Option<Value> {
    Some(match (kind, lit) {
        (ColumnKind::String | ColumnKind::Memo, Lit::Str(s)) => Value::String(s.clone()),
        (k, Lit::Int(n)) if !k.is_string() && !k.is_guid() => Value::from(*n),
        (ColumnKind::Decimal | ColumnKind::Double, Lit::Float(f)) => Value::from(*f),
        (ColumnKind::Boolean, Lit::Bool(b)) => Value::Bool(*b),
        (k, Lit::Guid(g)) if k.is_guid() => Value::String(g.to_string()),
        (ColumnKind::DateTime, Lit::Date(d)) => Value::String(format_datetime(*d)),
        _ => return None,
    })
}

/// Column indexes of `$select` (or all columns when absent).
pub(super) fn bind_select(
    schema: &SetSchema,
    select: Option<&[String]>,
) -> Result<Option<Vec<usize>>, ApiError> {
    let Some(names) = select else { return Ok(None) };
    if names.iter().any(|n| n == "*") {
        return Ok(None);
    }
    names
        .iter()
        .map(|n| schema.col_or_err(n))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(super) fn bind_order(
    schema: &SetSchema,
    keys: &[OrderKey],
) -> Result<Vec<(usize, bool)>, ApiError> {
    keys.iter()
        .map(|k| schema.col_or_err(&k.column).map(|c| (c, k.desc)))
        .collect()
}

/// How an expanded navigation property is reached.
#[derive(Debug, Clone)]
pub(super) enum NavKind {
    /// A lookup on this set (`parentbotid`).
    Single { col: usize, target: String },
    /// Rows of `child` whose lookup `col` points here.
    Children { child: String, col: usize },
    /// An N:N through an intersect set.
    Many {
        intersect: String,
        this_col: String,
        other_col: String,
        other: String,
    },
}

#[derive(Debug, Clone)]
pub(super) struct BoundExpand {
    pub(super) nav: String,
    pub(super) kind: NavKind,
    pub(super) select: Option<Vec<usize>>,
    pub(super) select_names: Option<Vec<String>>,
    pub(super) filter: Option<Pred>,
    pub(super) order: Vec<(usize, bool)>,
    pub(super) top: Option<usize>,
}

impl BoundExpand {
    pub(super) fn target_set(&self) -> &str {
        match &self.kind {
            NavKind::Single { target, .. } => target,
            NavKind::Children { child, .. } => child,
            NavKind::Many { other, .. } => other,
        }
    }
}

pub(super) fn bind_nav(store: &Store, schema: &SetSchema, nav: &str) -> Result<NavKind, ApiError> {
    if let Some(col) = schema.nav_col(nav)
        && let ColumnKind::Lookup { target_set, .. } = schema.column(col).kind()
        && store.table(target_set).is_some()
    {
        return Ok(NavKind::Single {
            col,
            target: target_set.clone(),
        });
    }
    let mut sets: Vec<&String> = store.tables.keys().collect();
    sets.sort();
    for set in sets {
        let Some(child) = store.table(set) else {
            continue;
        };
        for (i, column) in child.schema.columns().iter().enumerate() {
            if let ColumnKind::Lookup {
                target_set,
                relationship,
            } = column.kind()
                && target_set == schema.set()
                && relationship == nav
            {
                return Ok(NavKind::Children {
                    child: set.clone(),
                    col: i,
                });
            }
        }
    }
    for m in &store.many_to_many {
        if m.name != nav || store.table(&m.intersect_set).is_none() {
            continue;
        }
        let (this_col, other_col, other) = if m.a_set == schema.set() {
            (&m.a_col, &m.b_col, &m.b_set)
        } else if m.b_set == schema.set() {
            (&m.b_col, &m.a_col, &m.a_set)
        } else {
            continue;
        };
        if store.table(other).is_none() {
            continue;
        }
        return Ok(NavKind::Many {
            intersect: m.intersect_set.clone(),
            this_col: this_col.clone(),
            other_col: other_col.clone(),
            other: other.clone(),
        });
    }
    Err(ApiError::unknown_property(schema.logical(), nav))
}

pub(super) fn bind_expand(
    store: &Store,
    schema: &SetSchema,
    opts: &[ExpandOpt],
) -> Result<Vec<BoundExpand>, ApiError> {
    let mut out = Vec::new();
    for opt in opts {
        let kind = bind_nav(store, schema, &opt.nav)?;
        let target_set = match &kind {
            NavKind::Single { target, .. } => target,
            NavKind::Children { child, .. } => child,
            NavKind::Many { other, .. } => other,
        };
        let target = table(store, target_set)?;
        if matches!(kind, NavKind::Single { .. })
            && (opt.filter.is_some() || !opt.orderby.is_empty() || opt.top.is_some())
        {
            return Err(ApiError::odata(format!(
                "Only $select is supported when expanding the single-valued navigation property '{}'.",
                opt.nav
            )));
        }
        out.push(BoundExpand {
            nav: opt.nav.clone(),
            select: bind_select(&target.schema, opt.select.as_deref())?,
            select_names: opt.select.clone(),
            filter: opt
                .filter
                .as_ref()
                .map(|f| filter::bind(f, &target.schema))
                .transpose()?,
            order: bind_order(&target.schema, &opt.orderby)?,
            top: opt.top,
            kind,
        });
    }
    Ok(out)
}

pub(super) fn matches(pred: Option<&Pred>, view: &RowView<'_>) -> bool {
    pred.is_none_or(|p| p.eval(&|c| view.get(c)))
}

/// Rows sorted by the ordered columns' values, then the primary key, with their sort keys.
pub(super) fn sort_rows<'a>(
    store: &'a Store,
    table: &'a Table,
    rows: Vec<(Uuid, &'a Row)>,
    order: &[(usize, bool)],
) -> Vec<(Vec<SortKey>, Uuid, &'a Row)> {
    let mut keyed: Vec<(Vec<SortKey>, Uuid, &Row)> = rows
        .into_iter()
        .map(|(id, row)| {
            let view = store.view(table, row);
            let key = order
                .iter()
                .map(|(c, _)| SortKey::of(table.schema.column(*c).kind(), view.get(*c)))
                .collect();
            (key, id, row)
        })
        .collect();
    keyed.sort_by(|a, b| compare_keys(order, (&a.0, a.1), (&b.0, b.1)));
    keyed
}

pub(super) fn compare_keys(
    order: &[(usize, bool)],
    a: (&[SortKey], Uuid),
    b: (&[SortKey], Uuid),
) -> Ordering {
    for (i, (_, desc)) in order.iter().enumerate() {
        let ord = a.0[i].compare(&b.0[i]);
        let ord = if *desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.1.cmp(&b.1)
}

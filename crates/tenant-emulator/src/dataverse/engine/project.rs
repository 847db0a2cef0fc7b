//! Turning rows into JSON: `$select`, annotations, `$expand`, `@odata.context`, links and
//! collection bodies.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::dataverse::cookie;
use crate::dataverse::error::ApiError;
use crate::dataverse::query::Prefer;
use crate::dataverse::schema::ColumnKind;
use crate::dataverse::store::{Row, RowView, Store, Table};

use super::bind::{BoundExpand, NavKind, matches, sort_rows, table};
use super::*;

/// Options shared by everything that turns rows into JSON.
pub(super) struct Projector<'a> {
    pub(super) store: &'a Store,
    pub(super) prefer: &'a Prefer,
}

impl Projector<'_> {
    pub(super) fn row(
        &self,
        table: &Table,
        view: &RowView<'_>,
        select: Option<&[usize]>,
    ) -> Map<String, Value> {
        let schema = &table.schema;
        let mut out = Map::new();
        out.insert("@odata.etag".into(), Value::String(view.etag()));
        let all: Vec<usize>;
        let cols = match select {
            Some(cols) => cols,
            None => {
                all = (0..schema.len()).collect();
                &all
            }
        };
        for &col in cols.iter().chain(std::iter::once(&schema.pk)) {
            let column = schema.column(col);
            let value = view.get(col);
            self.annotate(&mut out, column, value);
            out.insert(column.name().to_owned(), value.clone());
        }
        out
    }

    fn annotate(
        &self,
        out: &mut Map<String, Value>,
        column: &crate::dataverse::schema::ColumnDef,
        value: &Value,
    ) {
        if self.prefer.include_annotations.is_none() || value.is_null() {
            return;
        }
        let name = column.name();
        let formatted = "OData.Community.Display.V1.FormattedValue";
        match column.kind() {
            ColumnKind::Lookup { target_set, .. } => {
                let target = self.store.table(target_set);
                if self
                    .prefer
                    .wants_annotation("Microsoft.Dynamics.CRM.lookuplogicalname")
                    && let Some(t) = target
                {
                    out.insert(
                        format!("{name}@Microsoft.Dynamics.CRM.lookuplogicalname"),
                        Value::String(t.schema.logical().to_owned()),
                    );
                }
                if self
                    .prefer
                    .wants_annotation("Microsoft.Dynamics.CRM.associatednavigationproperty")
                    && let Some(nav) = column.nav_name()
                {
                    out.insert(
                        format!("{name}@Microsoft.Dynamics.CRM.associatednavigationproperty"),
                        Value::String(nav.to_owned()),
                    );
                }
                if self.prefer.wants_annotation(formatted)
                    && let Some(t) = target
                    && let Some(pn) = t
                        .schema
                        .def
                        .primary_name_column()
                        .and_then(|n| t.schema.col(n))
                    && let Some(id) = value.as_str().and_then(|s| Uuid::parse_str(s).ok())
                    && let Some(row) = t.rows.get(&id)
                    && let Some(text) = row.cells[pn].as_str()
                {
                    out.insert(
                        format!("{name}@{formatted}"),
                        Value::String(text.to_owned()),
                    );
                }
            }
            ColumnKind::Boolean if self.prefer.wants_annotation(formatted) => {
                let text = if value.as_bool() == Some(true) {
                    "Yes"
                } else {
                    "No"
                };
                out.insert(format!("{name}@{formatted}"), Value::String(text.into()));
            }
            _ if self.prefer.wants_annotation(formatted) => {
                if let (Some(set), Some(n)) = (column.option_set(), value.as_i64())
                    && let Some(label) = self.store.option_label(set, n)
                {
                    out.insert(
                        format!("{name}@{formatted}"),
                        Value::String(label.to_owned()),
                    );
                }
            }
            _ => {}
        }
    }

    /// Adds the expanded navigation properties to the projected rows.
    pub(super) fn expand(
        &self,
        page: &[(Uuid, &Row)],
        outs: &mut [Map<String, Value>],
        expands: &[BoundExpand],
    ) -> Result<(), ApiError> {
        for ex in expands {
            let target = table(self.store, ex.target_set())?;
            match &ex.kind {
                NavKind::Single { col, .. } => {
                    for ((_, row), out) in page.iter().zip(outs.iter_mut()) {
                        let related = row.cells[*col]
                            .as_str()
                            .and_then(|s| Uuid::parse_str(s).ok())
                            .and_then(|id| target.rows.get(&id));
                        let value = match related {
                            Some(r) => Value::Object(self.row(
                                target,
                                &self.store.view(target, r),
                                ex.select.as_deref(),
                            )),
                            None => Value::Null,
                        };
                        out.insert(ex.nav.clone(), value);
                    }
                }
                NavKind::Children { col, .. } => {
                    let wanted: HashSet<Uuid> = page.iter().map(|(id, _)| *id).collect();
                    let mut groups: HashMap<Uuid, Vec<(Uuid, &Row)>> = HashMap::new();
                    for (id, row) in &target.rows {
                        if let Some(parent) = row.cells[*col]
                            .as_str()
                            .and_then(|s| Uuid::parse_str(s).ok())
                            && wanted.contains(&parent)
                        {
                            groups.entry(parent).or_default().push((*id, row));
                        }
                    }
                    for ((id, _), out) in page.iter().zip(outs.iter_mut()) {
                        let rows = groups.remove(id).unwrap_or_default();
                        out.insert(ex.nav.clone(), Value::Array(self.related(target, rows, ex)));
                    }
                }
                NavKind::Many {
                    intersect,
                    this_col,
                    other_col,
                    ..
                } => {
                    let link = table(self.store, intersect)?;
                    let (Some(tc), Some(oc)) =
                        (link.schema.col(this_col), link.schema.col(other_col))
                    else {
                        continue;
                    };
                    let wanted: HashSet<Uuid> = page.iter().map(|(id, _)| *id).collect();
                    let mut groups: HashMap<Uuid, Vec<(Uuid, &Row)>> = HashMap::new();
                    for row in link.rows.values() {
                        let this = row.cells[tc].as_str().and_then(|s| Uuid::parse_str(s).ok());
                        let other = row.cells[oc].as_str().and_then(|s| Uuid::parse_str(s).ok());
                        if let (Some(this), Some(other)) = (this, other)
                            && wanted.contains(&this)
                            && let Some(r) = target.rows.get(&other)
                        {
                            groups.entry(this).or_default().push((other, r));
                        }
                    }
                    for ((id, _), out) in page.iter().zip(outs.iter_mut()) {
                        let rows = groups.remove(id).unwrap_or_default();
                        out.insert(ex.nav.clone(), Value::Array(self.related(target, rows, ex)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Filters, orders, limits and projects the related rows of one parent.
    fn related(&self, target: &Table, rows: Vec<(Uuid, &Row)>, ex: &BoundExpand) -> Vec<Value> {
        let rows: Vec<(Uuid, &Row)> = rows
            .into_iter()
            .filter(|(_, r)| matches(ex.filter.as_ref(), &self.store.view(target, r)))
            .collect();
        let sorted = sort_rows(self.store, target, rows, &ex.order);
        sorted
            .into_iter()
            .take(ex.top.unwrap_or(usize::MAX))
            .map(|(_, _, r)| {
                Value::Object(self.row(target, &self.store.view(target, r), ex.select.as_deref()))
            })
            .collect()
    }
}

/// `#bots(name,botid,nav(a,b))` for `@odata.context`.
pub(super) fn context_fragment(
    set: &str,
    select: Option<&[String]>,
    expands: &[BoundExpand],
) -> String {
    let mut parts: Vec<String> = select.map(<[String]>::to_vec).unwrap_or_default();
    for ex in expands {
        parts.push(format!(
            "{}({})",
            ex.nav,
            ex.select_names
                .as_ref()
                .map(|s| s.join(","))
                .unwrap_or_default()
        ));
    }
    if parts.is_empty() {
        set.to_owned()
    } else {
        format!("{set}({})", parts.join(","))
    }
}

pub(super) fn link(base: &str, set: &str, pairs: &[String], extra: &[(&str, String)]) -> String {
    let mut all: Vec<String> = pairs.to_vec();
    for (name, value) in extra {
        all.push(format!("{name}={}", cookie::encode(value)));
    }
    if all.is_empty() {
        format!("{base}/{set}")
    } else {
        format!("{base}/{set}?{}", all.join("&"))
    }
}

/// Writes `{"@odata.context":..,["@odata.count":..,] "value":[..], [link]}` without building one
/// big JSON tree (pages can be large).
pub(super) fn collection_body(
    context: &str,
    count: Option<(usize, bool)>,
    rows: impl IntoIterator<Item = Value>,
    link: Option<(&str, &str)>,
) -> Vec<u8> {
    let rows = rows.into_iter();
    let mut out = Vec::with_capacity(64 + rows.size_hint().0 * 256);
    out.extend_from_slice(b"{\"@odata.context\":");
    let _ = serde_json::to_writer(&mut out, context);
    if let Some((count, exceeded)) = count {
        out.extend_from_slice(format!(",\"@odata.count\":{count}").as_bytes());
        if exceeded {
            out.extend_from_slice(
                b",\"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded\":true",
            );
        }
    }
    out.extend_from_slice(b",\"value\":[");
    // Each row is dropped once written, so a large page is not held twice.
    for (i, row) in rows.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut out, &row);
    }
    out.push(b']');
    if let Some((name, url)) = link {
        out.push(b',');
        let _ = serde_json::to_writer(&mut out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, url);
    }
    out.push(b'}');
    out
}

pub(super) fn preference_applied(prefer: &Prefer, tracking: bool) -> Option<String> {
    let mut applied = Vec::new();
    if tracking && prefer.track_changes {
        applied.push("odata.track-changes".to_owned());
    }
    if let Some(n) = prefer.maxpagesize {
        applied.push(format!("odata.maxpagesize={}", n.min(MAX_PAGE)));
    }
    if let Some(a) = &prefer.include_annotations {
        applied.push(format!("odata.include-annotations=\"{a}\""));
    }
    (!applied.is_empty()).then(|| applied.join(","))
}

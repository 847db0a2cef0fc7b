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
    let mut page = PageBody::with_capacity(rows.size_hint().0 * 256);
    // Each row is dropped once written, so a large page is not held twice.
    for row in rows {
        page.value(&row);
    }
    page.finish(context, count, link)
}

/// The `value` array of a collection body, written row by row, then wrapped by
/// [`finish`](Self::finish): the same bytes [`collection_body`] writes.
pub(super) struct PageBody {
    /// The rows, comma-separated, without the brackets.
    rows: Vec<u8>,
    len: usize,
}

impl PageBody {
    pub(super) fn with_capacity(bytes: usize) -> Self {
        PageBody {
            rows: Vec::with_capacity(bytes),
            len: 0,
        }
    }

    /// Rows written so far.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn next(&mut self) -> &mut Vec<u8> {
        if self.len > 0 {
            self.rows.push(b',');
        }
        self.len += 1;
        &mut self.rows
    }

    /// Appends a row given as JSON.
    pub(super) fn value(&mut self, row: &Value) {
        let _ = serde_json::to_writer(self.next(), row);
    }

    /// Appends a stored row projected by `layout` (see [`RowLayout`]).
    pub(super) fn row(&mut self, layout: &RowLayout<'_>, row: &Row) {
        let out = self.next();
        layout.write(out, row);
    }

    /// The whole body.
    pub(super) fn finish(
        self,
        context: &str,
        count: Option<(usize, bool)>,
        link: Option<(&str, &str)>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rows.len() + context.len() + 256);
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
        out.extend_from_slice(&self.rows);
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
}

/// How rows of one set are written for one request when no annotation is asked for: the
/// bytes of `Value::Object(Projector::row(..))` serialised, written straight from the stored
/// cells. A page of components carries tens of megabytes of YAML; building a JSON object
/// per row copied every cell first, and that copy was most of the emulator's CPU time per
/// page, which on one machine is taken from the scan it serves.
pub(super) struct RowLayout<'a> {
    store: &'a Store,
    table: &'a Table,
    materializer: Option<&'a crate::dataverse::store::MaterializerEntry>,
    /// Each key as `"name":`, in the order a JSON object map writes its keys (byte order
    /// of the names), with its column (`None` for `@odata.etag`).
    keys: Vec<(Vec<u8>, Option<usize>)>,
}

impl<'a> Projector<'a> {
    /// The layout of `table`'s rows with `select`, or `None` when rows must be built as
    /// JSON objects (annotations asked for: they depend on each value).
    pub(super) fn layout(
        &self,
        table: &'a Table,
        select: Option<&[usize]>,
    ) -> Option<RowLayout<'a>> {
        if self.prefer.include_annotations.is_some() {
            return None;
        }
        let schema = &table.schema;
        let mut keys: Vec<(&str, Option<usize>)> = match select {
            Some(cols) => cols
                .iter()
                .map(|&c| (schema.column(c).name(), Some(c)))
                .collect(),
            None => (0..schema.len())
                .map(|c| (schema.column(c).name(), Some(c)))
                .collect(),
        };
        keys.push((schema.column(schema.pk).name(), Some(schema.pk)));
        keys.push(("@odata.etag", None));
        // A map keeps one entry per key, the last inserted; equal names are the same column.
        keys.sort_by(|a, b| a.0.cmp(b.0));
        keys.dedup_by(|a, b| a.0 == b.0);
        let keys = keys
            .into_iter()
            .map(|(name, col)| {
                let mut key = serde_json::to_vec(name).unwrap_or_default();
                key.push(b':');
                (key, col)
            })
            .collect();
        Some(RowLayout {
            store: self.store,
            table,
            materializer: self.store.materializer_of(table),
            keys,
        })
    }
}

impl RowLayout<'_> {
    fn write(&self, out: &mut Vec<u8>, row: &Row) {
        let view = self.store.view_with(self.table, row, self.materializer);
        out.push(b'{');
        for (i, (key, col)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            let _ = match col {
                Some(col) => serde_json::to_writer(&mut *out, view.get(*col)),
                None => serde_json::to_writer(&mut *out, &view.etag()),
            };
        }
        out.push(b'}');
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::dataverse::{Dataverse, DataverseConfig};

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Rows written from their cells are byte for byte the rows the object path writes, for
    /// every kind of value, with and without `$select` (the key is added when not selected),
    /// and with a materializer filling null cells.
    #[test]
    fn rows_written_from_cells_equal_the_object_path() {
        let dv = Dataverse::new(DataverseConfig::default());
        let rows = [
            json!({
                "botcomponentid": Uuid::from_u128(1).to_string(),
                "name": "Quote \" backslash \\ tab \t nul \u{0} é 🙂 \u{2028}",
                "schemaname": "cr_x.topic.Greeting",
                "componenttype": 9,
                "data": "kind: AdaptiveDialog\r\nbeginDialog:\n  kind: OnRecognizedIntent\n  actions: []\n",
                "statecode": 0,
            }),
            json!({
                "botcomponentid": Uuid::from_u128(2).to_string(),
                "componenttype": 15,
                "data": "",
            }),
            json!({"botcomponentid": Uuid::from_u128(3).to_string()}),
        ];
        dv.insert_rows("botcomponents", rows.map(object)).unwrap();
        dv.set_materializer(
            "botcomponents",
            Arc::new(|row: &Map<String, Value>| {
                let mut extra = Map::new();
                if row.get("description").is_some_and(Value::is_null) {
                    extra.insert("description".into(), json!("made on demand"));
                }
                extra
            }),
        );
        let store = dv.inner.read();
        let table = store.table("botcomponents").unwrap();
        let schema = &table.schema;
        let col = |n: &str| schema.col(n).unwrap();
        let selects: Vec<Option<Vec<usize>>> = vec![
            None,
            Some(vec![col("name"), col("data"), col("componenttype")]),
            Some(vec![col("data"), col("botcomponentid"), col("description")]),
            Some(vec![col("statecode"), col("_parentbotid_value")]),
            Some(vec![]),
        ];
        let prefer = Prefer::default();
        let projector = Projector {
            store: &store,
            prefer: &prefer,
        };
        let mut checked = 0;
        for select in &selects {
            let layout = projector.layout(table, select.as_deref()).unwrap();
            for row in table.rows.values() {
                let mut fast = Vec::new();
                layout.write(&mut fast, row);
                let object = projector.row(table, &store.view(table, row), select.as_deref());
                let slow = serde_json::to_vec(&Value::Object(object)).unwrap();
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(slow).unwrap(),
                    "select {select:?}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, selects.len() * 3);

        // A page body is the same bytes either way.
        let layout = projector.layout(table, None).unwrap();
        let mut page = PageBody::with_capacity(0);
        let mut values = Vec::new();
        for row in table.rows.values() {
            page.row(&layout, row);
            values.push(Value::Object(projector.row(
                table,
                &store.view(table, row),
                None,
            )));
        }
        assert_eq!(page.len(), 3);
        let link = Some((
            "@odata.nextLink",
            "http://x/api/data/v9.2/botcomponents?$skiptoken=a%20b",
        ));
        assert_eq!(
            page.finish("ctx", Some((3, false)), link),
            collection_body("ctx", Some((3, false)), values, link)
        );

        // Annotations depend on each value: those rows are built as objects.
        let annotated = Prefer {
            include_annotations: Some("*".into()),
            ..Prefer::default()
        };
        let projector = Projector {
            store: &store,
            prefer: &annotated,
        };
        assert!(projector.layout(table, None).is_none());
    }
}

//! Request execution against the store: path parsing, queries, paging, change tracking, expand
//! and writes. HTTP and `$batch` both call [`read`] and [`write`].

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::ops::Bound;

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::cookie::{self, DeltaToken, PageCookie, bad_skiptoken};
use super::error::{ApiError, EXPIRED_VERSION_STAMP_CODE, INVALID_ARGUMENT_CODE};
use super::filter::{self, Lit, Pred, SortKey};
use super::query::{ExpandOpt, OrderKey, Prefer, QueryOptions, split_top_level};
use super::schema::{ColumnKind, SetSchema};
use super::store::{Row, RowView, Store, Table, Undo};
use super::{Caller, DataverseConfig, metadata};

/// The largest page Dataverse serves, and the cap of `@odata.count`.
pub(crate) const MAX_PAGE: usize = 5000;

/// What a request runs with.
pub(crate) struct Ctx<'a> {
    /// `http://host/api/data/v9.2`, for absolute links.
    pub(crate) base: &'a str,
    pub(crate) caller: Option<&'a Caller>,
    pub(crate) config: &'a DataverseConfig,
    pub(crate) now: OffsetDateTime,
}

/// A request, from HTTP or from a `$batch` part.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// The path after `/api/data/v9.x/`, still percent-encoded.
    pub(crate) path: String,
    /// The raw query string.
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A response before it is written to HTTP or into a batch part.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

pub(crate) const JSON_TYPE: &str = "application/json; odata.metadata=minimal";

impl Resp {
    pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), JSON_TYPE.into())],
            body,
        }
    }

    pub(crate) fn value(status: StatusCode, body: &Value) -> Self {
        Self::json(status, serde_json::to_vec(body).unwrap_or_default())
    }

    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl From<ApiError> for Resp {
    fn from(err: ApiError) -> Self {
        Self::json(err.status, err.json_body())
    }
}

/// A key in parentheses: the primary key, or alternate key values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Id(Uuid),
    Alt(Vec<(String, Lit)>),
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    WhoAmI,
    Batch,
    OptionSet(Option<String>),
    EntityDefs(Option<String>, Vec<String>),
    Set {
        set: String,
        key: Option<Key>,
        rest: Vec<String>,
    },
}

fn parse_literal(text: &str) -> Option<Lit> {
    let expr = filter::parse(&format!("x eq {text}")).ok()?;
    match expr {
        filter::Expr::Cmp(_, _, filter::Operand::Lit(lit)) => Some(lit),
        _ => None,
    }
}

fn bad_key(segment: &str) -> ApiError {
    ApiError::odata(format!(
        "Bad Request - Error in query syntax. The key in segment '{segment}' is not valid."
    ))
}

/// Parses `(guid)`, `(pk=guid)` or `(k1='v',k2=2)`.
fn parse_key(args: &str, segment: &str) -> Result<Key, ApiError> {
    let args = args.trim();
    if let Ok(id) = Uuid::parse_str(args) {
        return Ok(Key::Id(id));
    }
    let mut pairs = Vec::new();
    for part in split_top_level(args, ',') {
        let (name, value) = part.split_once('=').ok_or_else(|| bad_key(segment))?;
        let lit = parse_literal(value.trim()).ok_or_else(|| bad_key(segment))?;
        pairs.push((name.trim().to_owned(), lit));
    }
    if pairs.is_empty() {
        return Err(bad_key(segment));
    }
    Ok(Key::Alt(pairs))
}

/// Splits `name(args)` into its parts.
fn split_segment(segment: &str) -> Result<(&str, Option<&str>), ApiError> {
    match segment.find('(') {
        None => Ok((segment, None)),
        Some(i) if segment.ends_with(')') => {
            Ok((&segment[..i], Some(&segment[i + 1..segment.len() - 1])))
        }
        Some(_) => Err(bad_key(segment)),
    }
}

pub(crate) fn parse_path(raw: &str) -> Result<Target, ApiError> {
    let segments: Vec<String> = raw
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let Some(first) = segments.first() else {
        return Err(ApiError::segment_not_found(""));
    };
    let (name, args) = split_segment(first)?;
    let rest: Vec<String> = segments[1..].to_vec();
    let named_string = |args: Option<&str>, param: &str| -> Result<Option<String>, ApiError> {
        let Some(args) = args else { return Ok(None) };
        match parse_key(args, first)? {
            Key::Alt(pairs) => match pairs.as_slice() {
                [(n, Lit::Str(v))] if n == param => Ok(Some(v.clone())),
                _ => Err(bad_key(first)),
            },
            Key::Id(_) => Err(bad_key(first)),
        }
    };
    match name {
        "WhoAmI" if rest.is_empty() && matches!(args, None | Some("")) => Ok(Target::WhoAmI),
        "$batch" if rest.is_empty() && args.is_none() => Ok(Target::Batch),
        "GlobalOptionSetDefinitions" if rest.is_empty() => {
            Ok(Target::OptionSet(named_string(args, "Name")?))
        }
        "EntityDefinitions" => Ok(Target::EntityDefs(named_string(args, "LogicalName")?, rest)),
        _ => {
            let key = args.map(|a| parse_key(a, first)).transpose()?;
            Ok(Target::Set {
                set: name.to_owned(),
                key,
                rest,
            })
        }
    }
}

fn forbidden(ctx: &Ctx<'_>, op: &str, logical: &str) -> Result<(), ApiError> {
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

fn table<'s>(store: &'s Store, set: &str) -> Result<&'s Table, ApiError> {
    store
        .table(set)
        .ok_or_else(|| ApiError::segment_not_found(set))
}

/// Finds the row a key addresses (`Ok(None)` when absent).
fn resolve_key(table: &Table, key: &Key) -> Result<Option<Uuid>, ApiError> {
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
fn alt_key_values(
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

pub(crate) fn format_datetime(dt: OffsetDateTime) -> String {
    let utc = dt.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    utc.format(&fmt).unwrap_or_default()
}

/// Column indexes of `$select` (or all columns when absent).
fn bind_select(
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

fn bind_order(schema: &SetSchema, keys: &[OrderKey]) -> Result<Vec<(usize, bool)>, ApiError> {
    keys.iter()
        .map(|k| schema.col_or_err(&k.column).map(|c| (c, k.desc)))
        .collect()
}

/// How an expanded navigation property is reached.
#[derive(Debug, Clone)]
enum NavKind {
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
struct BoundExpand {
    nav: String,
    kind: NavKind,
    select: Option<Vec<usize>>,
    select_names: Option<Vec<String>>,
    filter: Option<Pred>,
    order: Vec<(usize, bool)>,
    top: Option<usize>,
}

impl BoundExpand {
    fn target_set(&self) -> &str {
        match &self.kind {
            NavKind::Single { target, .. } => target,
            NavKind::Children { child, .. } => child,
            NavKind::Many { other, .. } => other,
        }
    }
}

fn bind_nav(store: &Store, schema: &SetSchema, nav: &str) -> Result<NavKind, ApiError> {
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

fn bind_expand(
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

fn matches(pred: Option<&Pred>, view: &RowView<'_>) -> bool {
    pred.is_none_or(|p| p.eval(&|c| view.get(c)))
}

/// Rows sorted by the ordered columns' values, then the primary key, with their sort keys.
fn sort_rows<'a>(
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

fn compare_keys(order: &[(usize, bool)], a: (&[SortKey], Uuid), b: (&[SortKey], Uuid)) -> Ordering {
    for (i, (_, desc)) in order.iter().enumerate() {
        let ord = a.0[i].compare(&b.0[i]);
        let ord = if *desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.1.cmp(&b.1)
}

/// Options shared by everything that turns rows into JSON.
struct Projector<'a> {
    store: &'a Store,
    ctx: &'a Ctx<'a>,
    prefer: &'a Prefer,
}

impl Projector<'_> {
    fn row(
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
        column: &super::schema::ColumnDef,
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
                    && let Some(label) = self.ctx.config.option_label(set, n)
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
    fn expand(
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
fn context_fragment(set: &str, select: Option<&[String]>, expands: &[BoundExpand]) -> String {
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

fn link(base: &str, set: &str, pairs: &[String], extra: &[(&str, String)]) -> String {
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
fn collection_body(
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

fn preference_applied(prefer: &Prefer, tracking: bool) -> Option<String> {
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
        Target::OptionSet(name) => metadata::option_sets(ctx, name.as_deref(), &req.query),
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
    let tracking = prefer.track_changes
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
        ctx,
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

fn track_changes(
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
    let projector = Projector { store, ctx, prefer };
    let cookie_id = |c: &PageCookie| -> Result<Uuid, ApiError> {
        match c.last.as_slice() {
            [(name, Value::String(id))] if *name == pk_name => {
                Uuid::parse_str(id).map_err(|_| bad_skiptoken())
            }
            _ => Err(bad_skiptoken()),
        }
    };
    let mut values: Vec<Value> = Vec::new();
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
                values.push(Value::Object(projector.row(
                    table,
                    &store.view(table, row),
                    select,
                )));
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
                values.push(match row {
                    Some(row) => Value::Object(projector.row(table, &store.view(table, row), select)),
                    None => serde_json::json!({
                        "@odata.context": format!("{}/$metadata#{}/$deletedEntity", ctx.base, schema.set()),
                        "id": id.to_string(),
                        "reason": "deleted",
                    }),
                });
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
    let body = collection_body(&context, None, values, Some((link_value.0, &link_value.1)));
    let mut resp = Resp::json(StatusCode::OK, body);
    if let Some(applied) = preference_applied(prefer, true) {
        resp = resp.header("Preference-Applied", applied);
    }
    Ok(resp)
}

/// Checks a `$deltatoken`: the version it was issued at, or the documented errors.
fn delta_since(store: &Store, ctx: &Ctx<'_>, raw: &str) -> Result<u64, ApiError> {
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
fn changes_between(table: &Table, since: u64, upto: u64) -> Vec<Change<'_>> {
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

fn not_found_for(table: &Table, key: &Key) -> ApiError {
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
        ctx,
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
        ctx,
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

// ---------------------------------------------------------------------------------------------
// Writes

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
    match parse_path(&req.path)? {
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

fn parse_body(req: &Req) -> Result<Map<String, Value>, ApiError> {
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
fn stamp(schema: &SetSchema, ctx: &Ctx<'_>, cells: &mut [Value], created: bool) {
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
fn written(
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
        ctx,
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
            (super::query::decode_component(n).ok()? == "$id")
                .then(|| super::query::decode_component(v).ok())
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
            super::error::NOT_EXIST_CODE,
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
    fn paths() {
        assert_eq!(parse_path("WhoAmI").unwrap(), Target::WhoAmI);
        assert_eq!(parse_path("WhoAmI()").unwrap(), Target::WhoAmI);
        assert_eq!(parse_path("$batch").unwrap(), Target::Batch);
        assert_eq!(
            parse_path("GlobalOptionSetDefinitions(Name='botcomponent_componenttype')").unwrap(),
            Target::OptionSet(Some("botcomponent_componenttype".into()))
        );
        assert_eq!(
            parse_path("EntityDefinitions(LogicalName='bot')/Attributes").unwrap(),
            Target::EntityDefs(Some("bot".into()), vec!["Attributes".into()])
        );
        let id = Uuid::from_u128(7);
        assert_eq!(
            parse_path(&format!("bots({id})")).unwrap(),
            Target::Set {
                set: "bots".into(),
                key: Some(Key::Id(id)),
                rest: vec![]
            }
        );
        assert_eq!(
            parse_path("things(code='O''Neil%2C%20Ltd',n=2)").unwrap(),
            Target::Set {
                set: "things".into(),
                key: Some(Key::Alt(vec![
                    ("code".into(), Lit::Str("O'Neil, Ltd".into())),
                    ("n".into(), Lit::Int(2)),
                ])),
                rest: vec![]
            }
        );
        assert!(parse_path("bots(nonsense)").is_err());
        assert!(parse_path("bots(").is_err());
    }

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

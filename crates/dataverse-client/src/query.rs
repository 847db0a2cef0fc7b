//! OData queries: `$select`, `$filter` with typed values, `$orderby`, `$expand`, `$top`,
//! `$count`, `$apply` and FetchXML.

use crate::Error;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::fmt::Write as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Characters percent-encoded in a query value. `'` is encoded too because URL parsers would
/// otherwise encode it anyway, and a predictable wire form is easier to test and log.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'+')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Characters percent-encoded in a path segment (a key value must not add a `/` or `?`).
pub(crate) const PATH_SEGMENT: &AsciiSet = &QUERY_VALUE.remove(b'\'').remove(b'=').add(b'/');

/// Percent-encodes a query parameter value.
pub(crate) fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Percent-encodes a path segment (keeping the OData punctuation `'(),=`).
pub(crate) fn encode_path(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// Checks a table, column or navigation property name: ASCII letters, digits and `_`, not
/// starting with a digit. Caller data never becomes a name, so this only stops mistakes and
/// keeps names from changing the URL's structure.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{kind} `{name}` is not a valid name: use the logical name (ASCII letters, digits and _)"
        )))
    }
}

/// A property path in a filter or order: names joined by `/` (`parentbotid/name`).
fn check_path(kind: &str, path: &str) -> Result<(), Error> {
    path.split('/').try_for_each(|p| check_name(kind, p))
}

/// A typed value in a filter or key. Each renders as an OData literal that cannot change the
/// meaning of the expression around it: strings are quoted with `'` doubled.
///
/// ```
/// use dataverse_client::FilterValue;
/// assert_eq!(FilterValue::from("O'Brien").to_literal().unwrap(), "'O''Brien'");
/// assert_eq!(FilterValue::from(3).to_literal().unwrap(), "3");
/// assert_eq!(FilterValue::Null.to_literal().unwrap(), "null");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FilterValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (also choices, state and status codes).
    Int(i64),
    /// A floating point number; must be finite.
    Float(f64),
    /// A string, quoted with `'` and inner quotes doubled.
    String(String),
    /// A GUID, unquoted (ids and lookup `_x_value` columns).
    Guid(Uuid),
    /// A date and time, sent in UTC (`2026-01-01T00:00:00Z`).
    DateTime(OffsetDateTime),
    /// A date only (`2026-01-01`).
    Date(time::Date),
}

impl FilterValue {
    /// The OData literal for this value.
    pub fn to_literal(&self) -> Result<String, Error> {
        Ok(match self {
            FilterValue::Null => "null".to_owned(),
            FilterValue::Bool(b) => b.to_string(),
            FilterValue::Int(i) => i.to_string(),
            // `{:?}` always keeps a decimal point or exponent (`1.0`, `1e20`): a valid double.
            FilterValue::Float(f) if f.is_finite() => format!("{f:?}"),
            FilterValue::Float(f) => {
                return Err(Error::invalid(format!(
                    "the number {f} cannot be used in a filter; use a finite number"
                )));
            }
            FilterValue::String(s) => quote(s),
            FilterValue::Guid(g) => g.hyphenated().to_string(),
            FilterValue::DateTime(t) => t
                .to_offset(time::UtcOffset::UTC)
                .format(&Rfc3339)
                .map_err(|e| Error::invalid(format!("the date {t} cannot be formatted: {e}")))?,
            FilterValue::Date(d) => {
                format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
            }
        })
    }
}

/// Quotes a string as an OData literal: `'` around it, `'` inside doubled.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Reads an OData string literal at the start of `s`; returns the value and the rest.
#[cfg(test)]
pub(crate) fn unquote(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if let Some((_, '\'')) = chars.peek() {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, &body[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for FilterValue {
            fn from(v: $t) -> Self { FilterValue::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for FilterValue {
    fn from(v: bool) -> Self {
        FilterValue::Bool(v)
    }
}
impl From<f64> for FilterValue {
    fn from(v: f64) -> Self {
        FilterValue::Float(v)
    }
}
impl From<&str> for FilterValue {
    fn from(v: &str) -> Self {
        FilterValue::String(v.to_owned())
    }
}
impl From<String> for FilterValue {
    fn from(v: String) -> Self {
        FilterValue::String(v)
    }
}
impl From<&String> for FilterValue {
    fn from(v: &String) -> Self {
        FilterValue::String(v.clone())
    }
}
impl From<Uuid> for FilterValue {
    fn from(v: Uuid) -> Self {
        FilterValue::Guid(v)
    }
}
impl From<OffsetDateTime> for FilterValue {
    fn from(v: OffsetDateTime) -> Self {
        FilterValue::DateTime(v)
    }
}
impl From<time::Date> for FilterValue {
    fn from(v: time::Date) -> Self {
        FilterValue::Date(v)
    }
}
impl<T: Into<FilterValue>> From<Option<T>> for FilterValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(FilterValue::Null, Into::into)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Compare(String, &'static str, FilterValue),
    Function(&'static str, String, String),
    In(String, Vec<FilterValue>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Raw(String),
}

/// A `$filter` expression built from typed values, so caller data can never change its
/// meaning.
///
/// ```
/// use dataverse_client::Filter;
/// let f = Filter::eq("statecode", 0).and(Filter::contains("name", "it's"));
/// assert_eq!(f.to_odata().unwrap(), "(statecode eq 0) and (contains(name,'it''s'))");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Node);

impl Filter {
    fn cmp(column: &str, op: &'static str, value: impl Into<FilterValue>) -> Self {
        Filter(Node::Compare(column.to_owned(), op, value.into()))
    }

    /// `column eq value` (use [`FilterValue::Null`] for `eq null`).
    pub fn eq(column: &str, value: impl Into<FilterValue>) -> Self {
        Self::cmp(column, "eq", value)
    }
    /// `column ne value`.
    pub fn ne(column: &str, value: impl Into<FilterValue>) -> Self {
        Self::cmp(column, "ne", value)
    }
    /// `column gt value`.
    pub fn gt(column: &str, value: impl Into<FilterValue>) -> Self {
        Self::cmp(column, "gt", value)
    }
    /// `column ge value`.
    pub fn ge(column: &str, value: impl Into<FilterValue>) -> Self {
        Self::cmp(column, "ge", value)
    }
    /// `column lt value`.
    pub fn lt(column: &str, value: impl Into<FilterValue>) -> Self {
        Self::cmp(column, "lt", value)
    }
    /// `column le value`.
    pub fn le(column: &str, value: impl Into<FilterValue>) -> Self {
        Self::cmp(column, "le", value)
    }
    /// `contains(column,'text')`.
    pub fn contains(column: &str, text: &str) -> Self {
        Filter(Node::Function(
            "contains",
            column.to_owned(),
            text.to_owned(),
        ))
    }
    /// `startswith(column,'text')`.
    pub fn starts_with(column: &str, text: &str) -> Self {
        Filter(Node::Function(
            "startswith",
            column.to_owned(),
            text.to_owned(),
        ))
    }
    /// `endswith(column,'text')`.
    pub fn ends_with(column: &str, text: &str) -> Self {
        Filter(Node::Function(
            "endswith",
            column.to_owned(),
            text.to_owned(),
        ))
    }
    /// `column` equals one of `values`, sent as `(column eq v1 or column eq v2 ...)`, which
    /// every Dataverse version accepts. At least one value is needed.
    pub fn in_<I, V>(column: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<FilterValue>,
    {
        Filter(Node::In(
            column.to_owned(),
            values.into_iter().map(Into::into).collect(),
        ))
    }
    /// `not (f)`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(f: Filter) -> Self {
        Filter(Node::Not(Box::new(f.0)))
    }
    /// `(self) and (other)`.
    pub fn and(self, other: Filter) -> Self {
        Filter(Node::And(Box::new(self.0), Box::new(other.0)))
    }
    /// `(self) or (other)`.
    pub fn or(self, other: Filter) -> Self {
        Filter(Node::Or(Box::new(self.0), Box::new(other.0)))
    }
    /// An expression passed through as written (for functions such as
    /// `Microsoft.Dynamics.CRM.LastXDays(PropertyName='modifiedon',PropertyValue=7)`).
    /// Never build it from untrusted data: use the typed constructors for values.
    pub fn raw(expression: &str) -> Self {
        Filter(Node::Raw(expression.to_owned()))
    }

    /// The expression as OData text (before URL encoding).
    pub fn to_odata(&self) -> Result<String, Error> {
        let mut out = String::new();
        render(&self.0, &mut out)?;
        Ok(out)
    }
}

fn render(node: &Node, out: &mut String) -> Result<(), Error> {
    match node {
        Node::Compare(col, op, v) => {
            check_path("filter column", col)?;
            let _ = write!(out, "{col} {op} {}", v.to_literal()?);
        }
        Node::Function(f, col, text) => {
            check_path("filter column", col)?;
            let _ = write!(out, "{f}({col},{})", quote(text));
        }
        Node::In(col, values) => {
            check_path("filter column", col)?;
            if values.is_empty() {
                return Err(Error::invalid(format!(
                    "Filter::in_(\"{col}\", ..) has no values and would match nothing; skip the query instead"
                )));
            }
            out.push('(');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(" or ");
                }
                let _ = write!(out, "{col} eq {}", v.to_literal()?);
            }
            out.push(')');
        }
        Node::And(a, b) | Node::Or(a, b) => {
            out.push('(');
            render(a, out)?;
            out.push_str(if matches!(node, Node::And(..)) {
                ") and ("
            } else {
                ") or ("
            });
            render(b, out)?;
            out.push(')');
        }
        Node::Not(a) => {
            out.push_str("not (");
            render(a, out)?;
            out.push(')');
        }
        Node::Raw(s) => out.push_str(s),
    }
    Ok(())
}

/// A query on one entity set: built without I/O, run with
/// [`DataverseClient::rows`](crate::DataverseClient::rows) or
/// [`pages`](crate::DataverseClient::pages).
///
/// ```
/// use dataverse_client::{Filter, Query};
/// let q = Query::new("bots")
///     .select(["botid", "name"])
///     .filter(Filter::eq("statecode", 0))
///     .order_by("name", false);
/// assert_eq!(
///     q.query_string().unwrap(),
///     "$select=botid,name&$filter=statecode%20eq%200&$orderby=name%20asc"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    entity_set: String,
    select: Vec<String>,
    filter: Option<Filter>,
    order_by: Vec<(String, bool)>,
    expand: Vec<(String, Vec<String>)>,
    top: Option<u32>,
    count: bool,
    apply: Option<String>,
    fetch_xml: Option<String>,
    page_size: Option<u32>,
    annotations: Option<String>,
}

impl Query {
    /// A query on `entity_set` (the plural set name, e.g. `bots`, `botcomponents`).
    pub fn new(entity_set: &str) -> Self {
        Query {
            entity_set: entity_set.to_owned(),
            ..Query::default()
        }
    }

    /// The entity set queried.
    pub fn entity_set(&self) -> &str {
        &self.entity_set
    }

    /// Columns to return (`$select`); added to any selected before.
    pub fn select<I: IntoIterator<Item = S>, S: Into<String>>(mut self, cols: I) -> Self {
        self.select.extend(cols.into_iter().map(Into::into));
        self
    }

    /// The row filter (`$filter`); a second call combines both with `and`.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(prev) => prev.and(f),
            None => f,
        });
        self
    }

    /// Adds a sort column (`$orderby`).
    pub fn order_by(mut self, col: &str, desc: bool) -> Self {
        self.order_by.push((col.to_owned(), desc));
        self
    }

    /// At most `n` rows in all (`$top`). Without an explicit [`page_size`](Self::page_size)
    /// no `odata.maxpagesize` is sent, since the service ignores `$top` next to it; the row
    /// stream also stops after `n` rows.
    pub fn top(mut self, n: u32) -> Self {
        self.top = Some(n);
        self
    }

    /// Asks for `@odata.count` (`$count=true`; the service caps it at 5000).
    pub fn count(mut self, on: bool) -> Self {
        self.count = on;
        self
    }

    /// Expands a navigation property, returning `select` of the related rows.
    pub fn expand(mut self, nav: &str, select: &[&str]) -> Self {
        self.expand.push((
            nav.to_owned(),
            select.iter().map(|s| (*s).to_owned()).collect(),
        ));
        self
    }

    /// An aggregation (`$apply`), e.g. `groupby((_parentbotid_value),aggregate($count as n))`.
    /// Passed as written: never build it from untrusted data.
    pub fn apply(mut self, expr: &str) -> Self {
        self.apply = Some(expr.to_owned());
        self
    }

    /// Runs FetchXML instead of OData options (the other options are then not sent).
    pub fn fetch_xml(mut self, xml: &str) -> Self {
        self.fetch_xml = Some(xml.to_owned());
        self
    }

    /// Rows per page (`Prefer: odata.maxpagesize`, 1..=5000), overriding the client's.
    /// For FetchXML queries it sets the document's `count` attribute instead.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Annotations to include (`Prefer: odata.include-annotations="pattern"`), e.g. `*` or
    /// `OData.Community.Display.V1.FormattedValue`, overriding the client's.
    pub fn include_annotations(mut self, pattern: &str) -> Self {
        self.annotations = Some(pattern.to_owned());
        self
    }

    pub(crate) fn top_limit(&self) -> Option<u32> {
        self.top
    }

    pub(crate) fn explicit_page_size(&self) -> Option<u32> {
        self.page_size
    }

    pub(crate) fn annotations(&self) -> Option<&str> {
        self.annotations.as_deref()
    }

    pub(crate) fn fetch_xml_text(&self) -> Option<&str> {
        self.fetch_xml.as_deref()
    }

    /// The page size and annotation preferences of this query, given the client's defaults.
    pub(crate) fn preferences(
        &self,
        default_page_size: Option<u32>,
        default_annotations: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let page_size = match (self.page_size, self.top) {
            (Some(n), _) => Some(n),
            // $top is ignored next to maxpagesize: leave paging to the service.
            (None, Some(_)) => None,
            (None, None) => default_page_size,
        };
        prefer_header(
            false,
            page_size,
            self.annotations.as_deref().or(default_annotations),
        )
    }

    /// The encoded query part of the URL, as sent (without the leading `?`).
    pub fn query_string(&self) -> Result<String, Error> {
        check_name("entity set", &self.entity_set)?;
        let mut parts: Vec<String> = Vec::new();
        if let Some(xml) = &self.fetch_xml {
            parts.push(format!("fetchXml={}", encode_query_value(xml)));
            return Ok(parts.join("&"));
        }
        if !self.select.is_empty() {
            for c in &self.select {
                check_name("selected column", c)?;
            }
            parts.push(format!("$select={}", self.select.join(",")));
        }
        if let Some(f) = &self.filter {
            parts.push(format!("$filter={}", encode_query_value(&f.to_odata()?)));
        }
        if !self.order_by.is_empty() {
            let mut o = Vec::new();
            for (c, desc) in &self.order_by {
                check_path("order column", c)?;
                o.push(format!("{c} {}", if *desc { "desc" } else { "asc" }));
            }
            parts.push(format!("$orderby={}", encode_query_value(&o.join(","))));
        }
        if !self.expand.is_empty() {
            let mut e = Vec::new();
            for (nav, cols) in &self.expand {
                check_name("navigation property", nav)?;
                if cols.is_empty() {
                    e.push(nav.clone());
                } else {
                    for c in cols {
                        check_name("expanded column", c)?;
                    }
                    e.push(format!("{nav}($select={})", cols.join(",")));
                }
            }
            parts.push(format!("$expand={}", encode_query_value(&e.join(","))));
        }
        if let Some(top) = self.top {
            parts.push(format!("$top={top}"));
        }
        if self.count {
            parts.push("$count=true".to_owned());
        }
        if let Some(a) = &self.apply {
            parts.push(format!("$apply={}", encode_query_value(a)));
        }
        Ok(parts.join("&"))
    }
}

/// Builds a `Prefer` header value: track-changes, page size and annotations, comma separated.
pub(crate) fn prefer_header(
    track_changes: bool,
    page_size: Option<u32>,
    annotations: Option<&str>,
) -> Result<Option<String>, Error> {
    let mut prefs = Vec::new();
    if track_changes {
        prefs.push("odata.track-changes".to_owned());
    }
    if let Some(n) = page_size {
        if !(1..=5000).contains(&n) {
            return Err(Error::invalid(format!(
                "page size {n} is out of range: Dataverse accepts 1 to 5000"
            )));
        }
        prefs.push(format!("odata.maxpagesize={n}"));
    }
    if let Some(a) = annotations {
        // Inside the quotes a comma separates patterns; a quote would end the value.
        if a.is_empty() || !a.chars().all(|c| c.is_ascii_graphic() && c != '"') {
            return Err(Error::invalid(format!(
                "annotation pattern `{a}` is not valid: use `*` or names such as \
                 OData.Community.Display.V1.FormattedValue"
            )));
        }
        prefs.push(format!("odata.include-annotations=\"{a}\""));
    }
    Ok(if prefs.is_empty() {
        None
    } else {
        Some(prefs.join(","))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    fn decode(s: &str) -> String {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    #[test]
    fn literals() {
        let g = Uuid::parse_str("a1b2c3d4-0000-0000-0000-000000000001").unwrap();
        assert_eq!(
            FilterValue::from(g).to_literal().unwrap(),
            "a1b2c3d4-0000-0000-0000-000000000001"
        );
        assert_eq!(FilterValue::from(true).to_literal().unwrap(), "true");
        assert_eq!(FilterValue::from(-7i64).to_literal().unwrap(), "-7");
        assert_eq!(FilterValue::from(1.5).to_literal().unwrap(), "1.5");
        assert!(FilterValue::from(f64::NAN).to_literal().is_err());
        assert_eq!(
            FilterValue::from(datetime!(2026-01-02 03:04:05 +02:00))
                .to_literal()
                .unwrap(),
            "2026-01-02T01:04:05Z"
        );
        assert_eq!(
            FilterValue::from(date!(2026 - 01 - 02))
                .to_literal()
                .unwrap(),
            "2026-01-02"
        );
        assert_eq!(FilterValue::from(None::<i32>).to_literal().unwrap(), "null");
    }

    #[test]
    fn filters_compose_and_names_are_checked() {
        let a = Uuid::nil();
        let f = Filter::in_("_bot_conversationtranscriptid_value", [a, a])
            .or(Filter::not(Filter::eq("name", FilterValue::Null)));
        assert_eq!(
            f.to_odata().unwrap(),
            "((_bot_conversationtranscriptid_value eq 00000000-0000-0000-0000-000000000000 or \
             _bot_conversationtranscriptid_value eq 00000000-0000-0000-0000-000000000000)) or \
             (not (name eq null))"
        );
        assert!(Filter::eq("name eq 'x' or 1", 1).to_odata().is_err());
        assert!(Filter::in_::<_, i32>("x", []).to_odata().is_err());
        assert_eq!(
            Filter::eq("parentbotid/name", "a").to_odata().unwrap(),
            "parentbotid/name eq 'a'"
        );
    }

    #[test]
    fn full_query_string() {
        let q = Query::new("botcomponents")
            .select(["name", "componenttype"])
            .filter(Filter::ge("modifiedon", datetime!(2026-01-01 0:00 UTC)))
            .filter(Filter::eq("statecode", 0))
            .order_by("modifiedon", true)
            .expand("parentbotid", &["name"])
            .top(10)
            .count(true);
        assert_eq!(
            q.query_string().unwrap(),
            "$select=name,componenttype\
             &$filter=(modifiedon%20ge%202026-01-01T00:00:00Z)%20and%20(statecode%20eq%200)\
             &$orderby=modifiedon%20desc&$expand=parentbotid($select%3Dname)&$top=10&$count=true"
        );
        assert!(Query::new("bots?x=1").query_string().is_err());
        assert!(Query::new("bots").select(["a,b"]).query_string().is_err());
        let fx = Query::new("bots").fetch_xml("<fetch><entity name='bot'/></fetch>");
        assert_eq!(
            decode(
                fx.query_string()
                    .unwrap()
                    .strip_prefix("fetchXml=")
                    .unwrap()
            ),
            "<fetch><entity name='bot'/></fetch>"
        );
    }

    #[test]
    fn apply_is_encoded_as_one_value() {
        let q = Query::new("botcomponents")
            .filter(Filter::eq("statecode", 0))
            .apply("groupby((_parentbotid_value),aggregate($count as n))");
        assert_eq!(
            q.query_string().unwrap(),
            "$filter=statecode%20eq%200&$apply=groupby((_parentbotid_value),aggregate($count%20as%20n))"
        );
    }

    #[test]
    fn preferences() {
        let q = Query::new("bots");
        assert_eq!(q.preferences(None, None).unwrap(), None);
        assert_eq!(
            q.clone()
                .page_size(500)
                .include_annotations("*")
                .preferences(None, None)
                .unwrap()
                .unwrap(),
            "odata.maxpagesize=500,odata.include-annotations=\"*\""
        );
        // $top without an explicit page size: no maxpagesize, so $top is honoured.
        assert_eq!(q.clone().top(3).preferences(Some(100), None).unwrap(), None);
        assert!(q.clone().page_size(5001).preferences(None, None).is_err());
        assert!(
            q.clone()
                .include_annotations("a\"b")
                .preferences(None, None)
                .is_err()
        );
    }

    #[test]
    fn unquote_reads_doubled_quotes() {
        assert_eq!(unquote("'a''b' rest"), Some(("a'b".to_owned(), " rest")));
        assert_eq!(unquote("'open"), None);
        assert_eq!(unquote("x"), None);
    }

    proptest! {
        #[test]
        fn string_literals_round_trip_through_the_url(s in any::<String>()) {
            let qs = Query::new("bots").filter(Filter::eq("name", s.as_str())).query_string().unwrap();
            let encoded = qs.strip_prefix("$filter=").unwrap();
            // Nothing in the value can end the parameter or start another.
            prop_assert!(!encoded.contains('&') && !encoded.contains('#') && !encoded.contains(' '));
            let text = decode(encoded);
            let lit = text.strip_prefix("name eq ").unwrap();
            prop_assert_eq!(lit.matches('\'').count() % 2, 0, "unbalanced quotes in {}", lit);
            let (back, rest) = unquote(lit).unwrap();
            prop_assert_eq!(back, s);
            prop_assert_eq!(rest, "");
        }

        #[test]
        fn function_literals_round_trip(s in any::<String>()) {
            let text = Filter::contains("name", &s).to_odata().unwrap();
            let inner = text.strip_prefix("contains(name,").unwrap().strip_suffix(')').unwrap();
            let (back, rest) = unquote(inner).unwrap();
            prop_assert_eq!(back, s);
            prop_assert_eq!(rest, "");
        }
    }
}

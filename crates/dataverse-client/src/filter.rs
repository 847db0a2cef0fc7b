//! `$filter` expressions built from typed values ([`Filter`], [`FilterValue`]), and ids that
//! always go out as GUID literals ([`IntoGuid`]).

use crate::Error;
use crate::query::check_path;
use std::fmt::Write as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

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
    /// A filter that could not be built; rendering reports why.
    Invalid(String),
}

/// An id given as a [`Uuid`] or as text holding one (with or without braces, any case), for
/// filters on id and lookup columns: whatever the input, the filter sends a GUID literal.
pub trait IntoGuid {
    /// The GUID, or why the text is not one.
    fn into_guid(self) -> Result<Uuid, String>;
}

impl IntoGuid for Uuid {
    fn into_guid(self) -> Result<Uuid, String> {
        Ok(self)
    }
}

impl IntoGuid for &Uuid {
    fn into_guid(self) -> Result<Uuid, String> {
        Ok(*self)
    }
}

impl IntoGuid for &str {
    fn into_guid(self) -> Result<Uuid, String> {
        let text = self.trim();
        let bare = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        Uuid::parse_str(bare).map_err(|_| {
            format!(
                "`{}` is not a GUID: an id or lookup column needs one such as \
                 00000000-0000-0000-0000-000000000001",
                self.escape_debug()
            )
        })
    }
}

impl IntoGuid for String {
    fn into_guid(self) -> Result<Uuid, String> {
        self.as_str().into_guid()
    }
}

impl IntoGuid for &String {
    fn into_guid(self) -> Result<Uuid, String> {
        self.as_str().into_guid()
    }
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
    /// `column eq <guid>` for a primary id or lookup column (`botid`,
    /// `_bot_conversationtranscriptid_value`): `id` may be a [`Uuid`] or a string holding one,
    /// and the literal sent is always a GUID, never a quoted string (which Dataverse refuses
    /// with "incompatible types Edm.Guid and Edm.String"). Text that is not a GUID makes the
    /// query fail with [`Error::InvalidInput`] before anything is sent.
    ///
    /// ```
    /// use dataverse_client::Filter;
    /// let f = Filter::lookup("_bot_conversationtranscriptid_value", "7B1F0D2A-0000-0000-0000-000000000001");
    /// assert_eq!(
    ///     f.to_odata().unwrap(),
    ///     "_bot_conversationtranscriptid_value eq 7b1f0d2a-0000-0000-0000-000000000001"
    /// );
    /// assert!(Filter::lookup("botid", "my bot").to_odata().is_err());
    /// ```
    pub fn lookup(column: &str, id: impl IntoGuid) -> Self {
        match id.into_guid() {
            Ok(g) => Self::cmp(column, "eq", FilterValue::Guid(g)),
            Err(why) => Filter(Node::Invalid(why)),
        }
    }

    /// `column` equals one of `ids` (each a [`Uuid`] or a string holding one), sent as GUID
    /// literals; see [`lookup`](Self::lookup).
    pub fn lookup_in<I>(column: &str, ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: IntoGuid,
    {
        let ids: Result<Vec<FilterValue>, String> = ids
            .into_iter()
            .map(|id| id.into_guid().map(FilterValue::Guid))
            .collect();
        match ids {
            Ok(values) => Filter(Node::In(column.to_owned(), values)),
            Err(why) => Filter(Node::Invalid(why)),
        }
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
        Node::Invalid(why) => return Err(Error::invalid(why.clone())),
        Node::Raw(s) => out.push_str(s),
    }
    Ok(())
}

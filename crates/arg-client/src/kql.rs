//! KQL building blocks whose text caller data can never change the shape of: string literals,
//! field paths, names, values, operators and a small expression language.
//!
//! Every string value becomes a single-quoted KQL literal with `\`, `'`, newlines, tabs and
//! every other control character escaped, so a value holding quotes, pipes, semicolons or line
//! breaks stays one literal token. Field paths and names are checked against KQL's identifier
//! rules; a property whose name is not an identifier is written in bracket form
//! (`properties['display name']`) with its name as a literal.

use std::fmt::{self, Write as _};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Writes `value` as a single-quoted KQL string literal.
///
/// Backslash, single quote, tab, newline and carriage return get their short escapes; every
/// other control character (and the Unicode line and paragraph separators) becomes `\uXXXX`.
/// Everything else, non-ASCII included, is written as it is.
///
/// ```
/// use arg_client::kql::string_literal;
/// assert_eq!(string_literal("it's"), r"'it\'s'");
/// assert_eq!(string_literal("a|b\nc\\"), r"'a|b\nc\\'");
/// ```
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                // `is_control` covers C0, DEL and C1; none may appear raw in a literal.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Whether `s` is a plain KQL identifier: a letter or `_`, then letters, digits or `_`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A problem with a name, path or value given to a query builder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KqlError(pub(crate) String);

/// A column name or alias (`resourceCount`, `environmentId`): a plain identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    /// Checks `name` is a plain KQL identifier.
    ///
    /// ```
    /// use arg_client::kql::Name;
    /// assert!(Name::new("agentCount").is_ok());
    /// assert!(Name::new("x | take 1").is_err());
    /// ```
    pub fn new(name: &str) -> Result<Self, KqlError> {
        if is_identifier(name) {
            Ok(Name(name.to_owned()))
        } else {
            Err(KqlError(format!(
                "`{}` is not a valid column name: use letters, digits and `_`, starting with a letter or `_`",
                name.escape_debug()
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A path to a column or a nested property: `type`, `properties.displayName`,
/// `properties['display name']`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    /// Each segment, and whether it is written in bracket form (`['...']`).
    segments: Vec<(String, bool)>,
}

impl FieldPath {
    /// Parses a dotted path of identifiers (`properties.environmentId`).
    ///
    /// ```
    /// use arg_client::kql::FieldPath;
    /// assert_eq!(FieldPath::parse("properties.displayName").unwrap().to_string(), "properties.displayName");
    /// assert!(FieldPath::parse("type == 'x' or 1 == 1").is_err());
    /// assert_eq!(FieldPath::parse("properties").unwrap().key("display name").to_string(), "properties['display name']");
    /// ```
    pub fn parse(path: &str) -> Result<Self, KqlError> {
        let segments: Vec<(String, bool)> =
            path.split('.').map(|s| (s.to_owned(), false)).collect();
        if segments.iter().all(|(s, _)| is_identifier(s)) {
            Ok(FieldPath { segments })
        } else {
            Err(KqlError(format!(
                "`{}` is not a field path: give identifiers separated by dots (properties.displayName), \
                 and use FieldPath::key for a property whose name is not an identifier",
                path.escape_debug()
            )))
        }
    }

    /// A path of one column whose name may be anything, written `['name']`.
    pub fn column(name: &str) -> Self {
        FieldPath {
            segments: vec![(name.to_owned(), true)],
        }
    }

    /// This path extended by the property `key`, which may be any string, written
    /// `['key']` so the path's shape never depends on the key.
    pub fn key(mut self, key: &str) -> Self {
        self.segments.push((key.to_owned(), true));
        self
    }

    /// The names of the path's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|(s, _)| s.as_str())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (s, bracket)) in self.segments.iter().enumerate() {
            if *bracket {
                write!(f, "[{}]", string_literal(s))?;
            } else {
                if i > 0 {
                    f.write_char('.')?;
                }
                f.write_str(s)?;
            }
        }
        Ok(())
    }
}

/// A literal value in a query.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A string (always quoted and escaped).
    String(String),
    /// A 64-bit integer (`long`).
    Long(i64),
    /// A finite real number.
    Real(f64),
    /// A boolean.
    Bool(bool),
    /// A point in time, written `datetime(...)` in UTC.
    DateTime(OffsetDateTime),
}

impl Value {
    /// The value as KQL text. A non-finite real is refused.
    pub fn to_kql(&self) -> Result<String, KqlError> {
        Ok(match self {
            Value::String(s) => string_literal(s),
            Value::Long(n) => format!("long({n})"),
            Value::Real(x) if x.is_finite() => format!("real({x:?})"),
            Value::Real(x) => {
                return Err(KqlError(format!("{x} cannot be written in a query")));
            }
            Value::Bool(b) => format!("bool({b})"),
            Value::DateTime(t) => {
                let utc = t.to_offset(time::UtcOffset::UTC);
                let text = utc
                    .format(&Rfc3339)
                    .map_err(|e| KqlError(format!("the date {t} cannot be written: {e}")))?;
                format!("datetime({text})")
            }
        })
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(s.clone())
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Long(n)
    }
}
impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Long(n.into())
    }
}
impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Long(n.into())
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Real(x)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<OffsetDateTime> for Value {
    fn from(t: OffsetDateTime) -> Self {
        Value::DateTime(t)
    }
}

/// A comparison in a `where` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// `==` (case-sensitive equality).
    Eq,
    /// `!=`.
    NotEq,
    /// `=~` (case-insensitive equality).
    EqIgnoreCase,
    /// `!~`.
    NotEqIgnoreCase,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `contains` (case-insensitive substring).
    Contains,
    /// `!contains`.
    NotContains,
    /// `contains_cs`.
    ContainsCs,
    /// `startswith`.
    StartsWith,
    /// `endswith`.
    EndsWith,
    /// `has` (whole term).
    Has,
    /// `!has`.
    NotHas,
    /// `in` (one of the values, case-sensitive).
    In,
    /// `!in`.
    NotIn,
    /// `in~` (one of the values, case-insensitive).
    InIgnoreCase,
    /// `!in~`.
    NotInIgnoreCase,
    /// `has_any` (any of the terms).
    HasAny,
}

impl Operator {
    /// The operator's KQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "==",
            Operator::NotEq => "!=",
            Operator::EqIgnoreCase => "=~",
            Operator::NotEqIgnoreCase => "!~",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Contains => "contains",
            Operator::NotContains => "!contains",
            Operator::ContainsCs => "contains_cs",
            Operator::StartsWith => "startswith",
            Operator::EndsWith => "endswith",
            Operator::Has => "has",
            Operator::NotHas => "!has",
            Operator::In => "in",
            Operator::NotIn => "!in",
            Operator::InIgnoreCase => "in~",
            Operator::NotInIgnoreCase => "!in~",
            Operator::HasAny => "has_any",
        }
    }

    /// Whether the operator takes a list of values (`in`, `!in`, `in~`, `!in~`, `has_any`).
    pub fn takes_list(self) -> bool {
        matches!(
            self,
            Operator::In
                | Operator::NotIn
                | Operator::InIgnoreCase
                | Operator::NotInIgnoreCase
                | Operator::HasAny
        )
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scalar function usable in [`Expr::call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Function {
    /// `tostring(x)`.
    ToString,
    /// `tolower(x)`.
    ToLower,
    /// `toupper(x)`.
    ToUpper,
    /// `todatetime(x)`.
    ToDateTime,
    /// `tolong(x)`.
    ToLong,
    /// `toint(x)`.
    ToInt,
    /// `toreal(x)`.
    ToReal,
    /// `tobool(x)`.
    ToBool,
    /// `toguid(x)`.
    ToGuid,
    /// `strlen(x)`.
    Strlen,
    /// `isempty(x)`.
    IsEmpty,
    /// `isnotempty(x)`.
    IsNotEmpty,
    /// `bag_keys(x)`: the property names of a dynamic bag (to discover new fields).
    BagKeys,
    /// `array_length(x)`.
    ArrayLength,
    /// `strcat(x, ...)`.
    Strcat,
    /// `coalesce(x, ...)`.
    Coalesce,
}

impl Function {
    /// The function's KQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::ToString => "tostring",
            Function::ToLower => "tolower",
            Function::ToUpper => "toupper",
            Function::ToDateTime => "todatetime",
            Function::ToLong => "tolong",
            Function::ToInt => "toint",
            Function::ToReal => "toreal",
            Function::ToBool => "tobool",
            Function::ToGuid => "toguid",
            Function::Strlen => "strlen",
            Function::IsEmpty => "isempty",
            Function::IsNotEmpty => "isnotempty",
            Function::BagKeys => "bag_keys",
            Function::ArrayLength => "array_length",
            Function::Strcat => "strcat",
            Function::Coalesce => "coalesce",
        }
    }
}

/// A scalar expression: a field, a literal, or a function of expressions.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expr {
    /// A column or property.
    Field(FieldPath),
    /// A literal.
    Literal(Value),
    /// A function call.
    Call(Function, Vec<Expr>),
}

impl Expr {
    /// A field by dotted path (see [`FieldPath::parse`]).
    pub fn field(path: &str) -> Result<Self, KqlError> {
        FieldPath::parse(path).map(Expr::Field)
    }

    /// A literal value.
    pub fn literal(value: impl Into<Value>) -> Self {
        Expr::Literal(value.into())
    }

    /// `function(args...)`.
    pub fn call(function: Function, args: impl IntoIterator<Item = Expr>) -> Self {
        Expr::Call(function, args.into_iter().collect())
    }

    /// The expression as KQL text.
    ///
    /// ```
    /// use arg_client::kql::{Expr, Function};
    /// let e = Expr::call(Function::ToLower, [Expr::call(Function::ToString, [Expr::field("properties.environmentId").unwrap()])]);
    /// assert_eq!(e.to_kql().unwrap(), "tolower(tostring(properties.environmentId))");
    /// ```
    pub fn to_kql(&self) -> Result<String, KqlError> {
        match self {
            Expr::Field(p) => Ok(p.to_string()),
            Expr::Literal(v) => v.to_kql(),
            Expr::Call(f, args) => {
                let args: Result<Vec<String>, KqlError> = args.iter().map(Expr::to_kql).collect();
                Ok(format!("{}({})", f.as_str(), args?.join(", ")))
            }
        }
    }
}

impl From<FieldPath> for Expr {
    fn from(p: FieldPath) -> Self {
        Expr::Field(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_everything_that_could_end_them() {
        assert_eq!(string_literal(""), "''");
        assert_eq!(string_literal("a'b"), r"'a\'b'");
        assert_eq!(string_literal(r"a\"), r"'a\\'");
        assert_eq!(string_literal("\"x\""), "'\"x\"'");
        assert_eq!(string_literal("l1\r\nl2\t"), r"'l1\r\nl2\t'");
        assert_eq!(
            string_literal("\u{0}\u{1b}\u{7f}\u{85}"),
            r"'\u0000\u001b\u007f\u0085'"
        );
        assert_eq!(string_literal("é | ünï 🙂"), "'é | ünï 🙂'");
        assert_eq!(string_literal("\u{2028}"), r"'\u2028'");
    }

    #[test]
    fn names_and_paths_are_checked() {
        assert!(is_identifier("_a1"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a-b"));
        assert!(Name::new("a b").is_err());
        assert!(FieldPath::parse("properties..x").is_err());
        assert!(FieldPath::parse("").is_err());
        assert_eq!(
            FieldPath::column("it's").key("x").to_string(),
            r"['it\'s']['x']"
        );
    }

    #[test]
    fn values() {
        assert_eq!(Value::from(3).to_kql().unwrap(), "long(3)");
        assert_eq!(Value::from(-1.5).to_kql().unwrap(), "real(-1.5)");
        assert_eq!(Value::from(true).to_kql().unwrap(), "bool(true)");
        assert!(Value::Real(f64::NAN).to_kql().is_err());
        assert_eq!(
            Value::from(time::macros::datetime!(2024-01-01 02:00 +02:00))
                .to_kql()
                .unwrap(),
            "datetime(2024-01-01T00:00:00Z)"
        );
    }
}

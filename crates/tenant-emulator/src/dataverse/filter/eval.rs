//! Binding a parsed `$filter` to an entity set's columns, evaluating it against a row, and the
//! typed sort keys of `$orderby`.

use std::cmp::Ordering;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{CmpOp, Expr, Lit, Operand, StrFn, Tok, lex, parse_datetime};
use crate::dataverse::error::ApiError;
use crate::dataverse::schema::{ColumnKind, SetSchema};

/// A literal converted to the column's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Num(f64),
    /// Lower-cased, for case-insensitive comparison.
    Str(String),
    Guid(Uuid),
    Date(OffsetDateTime),
}

/// A filter bound to an entity set's columns.
#[derive(Debug, Clone)]
pub(crate) enum Pred {
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    Cmp(usize, CmpOp, Val),
    Str(usize, StrFn, String),
    In(usize, Vec<Val>, bool),
}

fn incompatible(kind: &ColumnKind, lit: &Lit, op: &str) -> ApiError {
    ApiError::odata(format!(
        "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{op}'.",
        kind.edm(),
        lit.edm()
    ))
}

fn convert(kind: &ColumnKind, lit: &Lit, op: &str) -> Result<Val, ApiError> {
    use ColumnKind as K;
    let v = match (kind, lit) {
        (_, Lit::Null) => Val::Null,
        (K::String | K::Memo, Lit::Str(s)) => Val::Str(s.to_lowercase()),
        (
            K::Integer | K::BigInt | K::Picklist | K::State | K::Status | K::Decimal | K::Double,
            Lit::Int(n),
        ) => Val::Num(*n as f64),
        (
            K::Integer | K::BigInt | K::Picklist | K::State | K::Status | K::Decimal | K::Double,
            Lit::Float(f),
        ) => Val::Num(*f),
        (K::Boolean, Lit::Bool(b)) => Val::Bool(*b),
        (K::DateTime, Lit::Date(d)) => Val::Date(*d),
        (K::Uniqueidentifier | K::Lookup { .. }, Lit::Guid(g)) => Val::Guid(*g),
        _ => return Err(incompatible(kind, lit, op)),
    };
    Ok(v)
}

/// Converts an `In` value (always written as a string) to the column's type.
fn convert_in(kind: &ColumnKind, lit: &Lit) -> Result<Val, ApiError> {
    if let Lit::Str(s) = lit {
        if kind.is_string() {
            return Ok(Val::Str(s.to_lowercase()));
        }
        let parsed = lex(s).ok().and_then(|t| match t.as_slice() {
            [(_, Tok::Lit(l))] => Some(l.clone()),
            _ => None,
        });
        if let Some(l) = parsed {
            return convert(kind, &l, "In");
        }
        return Err(ApiError::odata(format!(
            "Cannot convert the literal '{s}' to the expected type '{}'.",
            kind.edm()
        )));
    }
    convert(kind, lit, "In")
}

/// Binds a parsed filter to `schema`: unknown properties and type mismatches are the real 400s.
pub(crate) fn bind(expr: &Expr, schema: &SetSchema) -> Result<Pred, ApiError> {
    Ok(match expr {
        Expr::And(a, b) => Pred::And(Box::new(bind(a, schema)?), Box::new(bind(b, schema)?)),
        Expr::Or(a, b) => Pred::Or(Box::new(bind(a, schema)?), Box::new(bind(b, schema)?)),
        Expr::Not(a) => Pred::Not(Box::new(bind(a, schema)?)),
        Expr::Cmp(op, left, right) => {
            let (prop, lit, op) = match (left, right) {
                (Operand::Prop(p), Operand::Lit(l)) => (p, l, *op),
                (Operand::Lit(l), Operand::Prop(p)) => (p, l, op.flip()),
                (Operand::Prop(_), Operand::Prop(_)) => {
                    return Err(ApiError::odata(
                        "Comparing two columns is not supported by this emulator; compare a column with a literal.",
                    ));
                }
                (Operand::Lit(_), Operand::Lit(_)) => {
                    return Err(ApiError::odata(
                        "A comparison needs a property on one side.",
                    ));
                }
            };
            let col = resolve(prop, schema)?;
            let kind = &schema.column(col).kind().clone();
            let val = convert(kind, lit, op.kind_name())?;
            if matches!(val, Val::Bool(_)) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(incompatible(kind, lit, op.kind_name()));
            }
            Pred::Cmp(col, op, val)
        }
        Expr::Str(func, prop, arg) => {
            let col = resolve(prop, schema)?;
            let kind = schema.column(col).kind();
            let name = match func {
                StrFn::Contains => "contains",
                StrFn::StartsWith => "startswith",
                StrFn::EndsWith => "endswith",
            };
            match (kind.is_string(), arg) {
                (true, Lit::Str(s)) => Pred::Str(col, *func, s.to_lowercase()),
                _ => {
                    return Err(ApiError::odata(format!(
                        "No function signature for the function with name '{name}' matches the specified arguments. The function signatures considered are: {name}(Edm.String Nullable=true, Edm.String Nullable=true)."
                    )));
                }
            }
        }
        Expr::In(prop, values, negate) => {
            let col = resolve(prop, schema)?;
            let kind = schema.column(col).kind();
            let vals = values
                .iter()
                .map(|v| convert_in(kind, v))
                .collect::<Result<Vec<_>, _>>()?;
            Pred::In(col, vals, *negate)
        }
    })
}

fn resolve(prop: &str, schema: &SetSchema) -> Result<usize, ApiError> {
    if prop.contains('/') {
        return Err(ApiError::odata(format!(
            "Filtering on the related property path '{prop}' is not supported; filter the related set instead."
        )));
    }
    schema.col_or_err(prop)
}

/// Compares a stored cell with a converted literal; `None` when either is null or unreadable.
fn compare(cell: &Value, val: &Val) -> Option<Ordering> {
    match val {
        Val::Null => None,
        Val::Bool(b) => cell.as_bool().map(|c| c.cmp(b)),
        Val::Num(n) => cell.as_f64().and_then(|c| c.partial_cmp(n)),
        Val::Str(s) => cell
            .as_str()
            .map(|c| c.to_lowercase().as_str().cmp(s.as_str())),
        Val::Guid(g) => cell
            .as_str()
            .and_then(|c| Uuid::parse_str(c).ok())
            .map(|c| c.cmp(g)),
        Val::Date(d) => cell.as_str().and_then(parse_datetime).map(|c| c.cmp(d)),
    }
}

impl Pred {
    /// Evaluates against a row; `get` returns the (possibly materialized) cell of a column.
    pub(crate) fn eval<'v>(&self, get: &dyn Fn(usize) -> &'v Value) -> bool {
        match self {
            Self::And(a, b) => a.eval(get) && b.eval(get),
            Self::Or(a, b) => a.eval(get) || b.eval(get),
            Self::Not(a) => !a.eval(get),
            Self::Cmp(col, op, val) => {
                let cell = get(*col);
                if *val == Val::Null {
                    return match op {
                        CmpOp::Eq => cell.is_null(),
                        CmpOp::Ne => !cell.is_null(),
                        _ => false,
                    };
                }
                compare(cell, val).is_some_and(|ord| op.holds(ord))
            }
            Self::Str(col, func, needle) => {
                let Some(s) = get(*col).as_str() else {
                    return false;
                };
                let s = s.to_lowercase();
                match func {
                    StrFn::Contains => s.contains(needle.as_str()),
                    StrFn::StartsWith => s.starts_with(needle.as_str()),
                    StrFn::EndsWith => s.ends_with(needle.as_str()),
                }
            }
            Self::In(col, vals, negate) => {
                let cell = get(*col);
                if cell.is_null() {
                    return false;
                }
                let found = vals
                    .iter()
                    .any(|v| compare(cell, v) == Some(Ordering::Equal));
                found != *negate
            }
        }
    }
}

/// A cell converted once for ordering: nulls first, strings case-insensitively, dates and GUIDs
/// by value (so sorting never re-parses).
#[derive(Debug, Clone)]
pub(crate) enum SortKey {
    Null,
    Bool(bool),
    Num(f64),
    Date(OffsetDateTime),
    Guid(Uuid),
    Str(String),
}

impl SortKey {
    pub(crate) fn of(kind: &ColumnKind, v: &Value) -> Self {
        match (kind, v) {
            (_, Value::Null) => Self::Null,
            (ColumnKind::DateTime, Value::String(s)) => match parse_datetime(s) {
                Some(d) => Self::Date(d),
                None => Self::Str(s.to_lowercase()),
            },
            (k, Value::String(s)) if k.is_guid() => match Uuid::parse_str(s) {
                Ok(g) => Self::Guid(g),
                Err(_) => Self::Str(s.to_lowercase()),
            },
            (_, Value::String(s)) => Self::Str(s.to_lowercase()),
            (_, Value::Number(n)) => Self::Num(n.as_f64().unwrap_or(0.0)),
            (_, Value::Bool(b)) => Self::Bool(*b),
            (_, other) => Self::Str(other.to_string()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Null => 0,
            Self::Bool(_) => 1,
            Self::Num(_) => 2,
            Self::Date(_) => 3,
            Self::Guid(_) => 4,
            Self::Str(_) => 5,
        }
    }

    pub(crate) fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            (Self::Num(a), Self::Num(b)) => a.total_cmp(b),
            (Self::Date(a), Self::Date(b)) => a.cmp(b),
            (Self::Guid(a), Self::Guid(b)) => a.cmp(b),
            (Self::Str(a), Self::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

//! `$filter`: lexer, parser, binding against an entity set's columns, and evaluation.
//!
//! String comparisons are case-insensitive, as Dataverse's SQL collation makes them, and a null
//! column satisfies only `eq null` / `ne` against null (SQL semantics: `ne 'x'` skips nulls).

use std::cmp::Ordering;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::error::ApiError;

/// A literal as written in the query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Guid(Uuid),
    Date(OffsetDateTime),
}

impl Lit {
    fn edm(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "Edm.Boolean",
            Self::Int(i) if i32::try_from(*i).is_ok() => "Edm.Int32",
            Self::Int(_) => "Edm.Int64",
            Self::Float(_) => "Edm.Double",
            Self::Str(_) => "Edm.String",
            Self::Guid(_) => "Edm.Guid",
            Self::Date(_) => "Edm.DateTimeOffset",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn kind_name(self) -> &'static str {
        match self {
            Self::Eq => "Equal",
            Self::Ne => "NotEqual",
            Self::Gt => "GreaterThan",
            Self::Ge => "GreaterThanOrEqual",
            Self::Lt => "LessThan",
            Self::Le => "LessThanOrEqual",
        }
    }

    fn flip(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            other => other,
        }
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Self::Eq => ord == Ordering::Equal,
            Self::Ne => ord != Ordering::Equal,
            Self::Gt => ord == Ordering::Greater,
            Self::Ge => ord != Ordering::Less,
            Self::Lt => ord == Ordering::Less,
            Self::Le => ord != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrFn {
    Contains,
    StartsWith,
    EndsWith,
}

/// Parsed, unbound expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(CmpOp, Operand, Operand),
    Str(StrFn, String, Lit),
    In(String, Vec<Lit>, bool),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Prop(String),
    Lit(Lit),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Lit),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Assign,
}

fn syntax(pos: usize, text: &str) -> ApiError {
    ApiError::odata(format!("Syntax error at position {pos} in '{text}'."))
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '/'
}

fn try_guid(s: &str) -> Option<Uuid> {
    let candidate = s.get(..36)?;
    let bytes = candidate.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            *b == b'-'
        } else {
            b.is_ascii_hexdigit()
        };
        if !ok {
            return None;
        }
    }
    if s[36..].chars().next().is_some_and(is_ident_char) {
        return None;
    }
    Uuid::parse_str(candidate).ok()
}

/// Parses `2024-01-01`, `2024-01-01T10:00:00Z`, `2024-01-01T10:00:00.123+02:00`.
pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(dt);
    }
    // Without seconds (`2024-01-01T10:00Z`) or date only.
    if s.len() == 10 {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(s, &fmt).ok()?;
        return Some(date.midnight().assume_utc());
    }
    if let Some((date, rest)) = s.split_once('T')
        && rest.is_ascii()
        && rest.len() >= 5
        && rest.as_bytes()[2] == b':'
        && !rest[3..].contains(':')
    {
        return OffsetDateTime::parse(&format!("{date}T{}:00{}", &rest[..5], &rest[5..]), &Rfc3339)
            .ok();
    }
    None
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ApiError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            ' ' | '\t' | '\r' | '\n' => i += 1,
            '(' => {
                out.push((pos, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((pos, Tok::RParen));
                i += 1;
            }
            '[' => {
                out.push((pos, Tok::LBracket));
                i += 1;
            }
            ']' => {
                out.push((pos, Tok::RBracket));
                i += 1;
            }
            ',' => {
                out.push((pos, Tok::Comma));
                i += 1;
            }
            '=' => {
                out.push((pos, Tok::Assign));
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&(_, ch)) = chars.get(i) else {
                        return Err(ApiError::odata(format!(
                            "There is an unterminated string literal at position {pos} in '{text}'."
                        )));
                    };
                    if ch == '\'' {
                        if chars.get(i + 1).map(|c| c.1) == Some('\'') {
                            s.push('\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                out.push((pos, Tok::Lit(Lit::Str(s))));
            }
            _ => {
                let rest = &text[pos..];
                if let Some(g) = try_guid(rest) {
                    out.push((pos, Tok::Lit(Lit::Guid(g))));
                    i += 36;
                    continue;
                }
                if c.is_ascii_digit()
                    || (c == '-' && rest[1..].starts_with(|d: char| d.is_ascii_digit()))
                {
                    // Date literals start with four digits and a dash.
                    let b = rest.as_bytes();
                    if b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
                        let len = rest
                            .find(|ch: char| !(ch.is_ascii_digit() || "-:.TZ+".contains(ch)))
                            .unwrap_or(rest.len());
                        let lit = parse_datetime(&rest[..len]).ok_or_else(|| syntax(pos, text))?;
                        out.push((pos, Tok::Lit(Lit::Date(lit))));
                        i += rest[..len].chars().count();
                        continue;
                    }
                    let len = rest[1..]
                        .find(|ch: char| {
                            !(ch.is_ascii_digit() || ch == '.' || ch == 'e' || ch == 'E')
                        })
                        .map_or(rest.len(), |n| n + 1);
                    let raw = &rest[..len];
                    let mut consumed = len;
                    // Optional OData type suffixes (L, M, D, F).
                    if rest[len..].starts_with(['L', 'l', 'M', 'm', 'D', 'd', 'F', 'f'])
                        && !rest[len + 1..].starts_with(is_ident_char)
                    {
                        consumed += 1;
                    }
                    let lit = if let Ok(n) = raw.parse::<i64>() {
                        Lit::Int(n)
                    } else {
                        Lit::Float(raw.parse::<f64>().map_err(|_| syntax(pos, text))?)
                    };
                    out.push((pos, Tok::Lit(lit)));
                    i += consumed;
                    continue;
                }
                if is_ident_char(c) {
                    let len = rest
                        .find(|ch: char| !is_ident_char(ch))
                        .unwrap_or(rest.len());
                    let word = &rest[..len];
                    let tok = match word {
                        "null" => Tok::Lit(Lit::Null),
                        "true" => Tok::Lit(Lit::Bool(true)),
                        "false" => Tok::Lit(Lit::Bool(false)),
                        _ => Tok::Ident(word.to_owned()),
                    };
                    out.push((pos, tok));
                    i += word.chars().count();
                    continue;
                }
                return Err(syntax(pos, text));
            }
        }
    }
    Ok(out)
}

/// How deep parentheses and `not` may nest. The parser recurses once per level, so an
/// unbounded depth lets one hostile URL overflow the stack and abort the whole emulator.
const MAX_NESTING: usize = 100;

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    at: usize,
    text: &'a str,
    depth: usize,
}

/// Combines operands of one `and`/`or` chain into a balanced tree, so a long chain
/// (`a eq 1 or a eq 2 or ...`, how clients spell `in`) is log-deep for binding, evaluation
/// and drop, which all recurse.
fn balanced(mut items: Vec<Expr>, join: fn(Box<Expr>, Box<Expr>) -> Expr) -> Option<Expr> {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => join(Box::new(a), Box::new(b)),
                None => a,
            });
        }
        items = next;
    }
    items.pop()
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.1)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.at).map_or(self.text.len(), |t| t.0)
    }

    fn err(&self) -> ApiError {
        syntax(self.pos(), self.text)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|t| t.1.clone());
        self.at += 1;
        t
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ApiError> {
        if self.peek() == Some(tok) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err())
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w == word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            items.push(self.and()?);
        }
        balanced(items, Expr::Or).ok_or_else(|| self.err())
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut items = vec![self.unary()?];
        while self.keyword("and") {
            items.push(self.unary()?);
        }
        balanced(items, Expr::And).ok_or_else(|| self.err())
    }

    /// Enters one nesting level (a parenthesis or a `not`), refusing past [`MAX_NESTING`].
    fn nest(&mut self) -> Result<(), ApiError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(ApiError::odata(format!(
                "The $filter expression nests deeper than {MAX_NESTING} levels of parentheses or 'not' at position {} in '{}'.",
                self.pos(),
                self.text
            )));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.keyword("not") {
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ApiError> {
        if self.peek() == Some(&Tok::LParen) {
            self.at += 1;
            self.nest()?;
            let inner = self.or()?;
            self.expect(&Tok::RParen)?;
            self.depth -= 1;
            return Ok(inner);
        }
        // A function call: an identifier directly followed by '('.
        if let (Some(Tok::Ident(name)), Some((_, Tok::LParen))) =
            (self.peek().cloned(), self.toks.get(self.at + 1))
        {
            self.at += 2;
            return self.call(&name);
        }
        let left = self.operand()?;
        let op = match self.next() {
            Some(Tok::Ident(w)) => match w.as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                "in" => {
                    let Operand::Prop(prop) = left else {
                        return Err(self.err());
                    };
                    self.expect(&Tok::LParen)?;
                    let values = self.literal_list(&Tok::RParen)?;
                    return Ok(Expr::In(prop, values, false));
                }
                _ => {
                    self.at -= 1;
                    return Err(self.err());
                }
            },
            _ => {
                self.at = self.at.saturating_sub(1);
                return Err(self.err());
            }
        };
        let right = self.operand()?;
        Ok(Expr::Cmp(op, left, right))
    }

    fn operand(&mut self) -> Result<Operand, ApiError> {
        match self.next() {
            Some(Tok::Ident(name)) => Ok(Operand::Prop(name)),
            Some(Tok::Lit(lit)) => Ok(Operand::Lit(lit)),
            _ => {
                self.at = self.at.saturating_sub(1);
                Err(self.err())
            }
        }
    }

    /// Literals separated by commas, up to `close` (consumed).
    fn literal_list(&mut self, close: &Tok) -> Result<Vec<Lit>, ApiError> {
        let mut values = Vec::new();
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(values);
        }
        loop {
            match self.next() {
                Some(Tok::Lit(lit)) => values.push(lit),
                _ => {
                    self.at = self.at.saturating_sub(1);
                    return Err(self.err());
                }
            }
            match self.next() {
                Some(Tok::Comma) => {}
                Some(t) if &t == close => return Ok(values),
                _ => {
                    self.at = self.at.saturating_sub(1);
                    return Err(self.err());
                }
            }
        }
    }

    fn call(&mut self, name: &str) -> Result<Expr, ApiError> {
        let func = match name {
            "contains" => Some(StrFn::Contains),
            "startswith" => Some(StrFn::StartsWith),
            "endswith" => Some(StrFn::EndsWith),
            _ => None,
        };
        if let Some(func) = func {
            let Some(Tok::Ident(prop)) = self.next() else {
                self.at = self.at.saturating_sub(1);
                return Err(self.err());
            };
            self.expect(&Tok::Comma)?;
            let Some(Tok::Lit(arg)) = self.next() else {
                self.at = self.at.saturating_sub(1);
                return Err(self.err());
            };
            self.expect(&Tok::RParen)?;
            return Ok(Expr::Str(func, prop, arg));
        }
        let negate = match name {
            "Microsoft.Dynamics.CRM.In" => false,
            "Microsoft.Dynamics.CRM.NotIn" => true,
            _ => {
                return Err(ApiError::odata(format!(
                    "An unknown function with name '{name}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."
                )));
            }
        };
        let mut prop = None;
        let mut values = None;
        loop {
            let Some(Tok::Ident(param)) = self.next() else {
                self.at = self.at.saturating_sub(1);
                return Err(self.err());
            };
            self.expect(&Tok::Assign)?;
            match param.as_str() {
                "PropertyName" => match self.next() {
                    Some(Tok::Lit(Lit::Str(s))) => prop = Some(s),
                    _ => {
                        self.at = self.at.saturating_sub(1);
                        return Err(self.err());
                    }
                },
                "PropertyValues" => {
                    self.expect(&Tok::LBracket)?;
                    values = Some(self.literal_list(&Tok::RBracket)?);
                }
                other => {
                    return Err(ApiError::odata(format!(
                        "The parameter '{other}' is not defined for function '{name}'."
                    )));
                }
            }
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::RParen) => break,
                _ => {
                    self.at = self.at.saturating_sub(1);
                    return Err(self.err());
                }
            }
        }
        match (prop, values) {
            (Some(p), Some(v)) => Ok(Expr::In(p, v, negate)),
            _ => Err(ApiError::odata(format!(
                "The function '{name}' needs the parameters PropertyName and PropertyValues."
            ))),
        }
    }
}

/// Parses a `$filter` expression.
pub(crate) fn parse(text: &str) -> Result<Expr, ApiError> {
    let toks = lex(text)?;
    if toks.is_empty() {
        return Err(ApiError::odata("Expression expected at position 0 in ''."));
    }
    let mut parser = Parser {
        toks,
        at: 0,
        text,
        depth: 0,
    };
    let expr = parser.or()?;
    if parser.at < parser.toks.len() {
        return Err(parser.err());
    }
    Ok(expr)
}

mod eval;

pub(crate) use eval::{Pred, SortKey, bind};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataverse::schema::{ColumnDef, EntitySetDef};
    use crate::dataverse::schema::{ColumnKind, SetSchema};
    use serde_json::{Value, json};
    use std::cmp::Ordering;

    fn schema() -> SetSchema {
        SetSchema::build(EntitySetDef::new("things", "thing", "thingid").columns([
            ColumnDef::new("name", ColumnKind::String),
            ColumnDef::new("n", ColumnKind::Integer),
            ColumnDef::new("flag", ColumnKind::Boolean),
            ColumnDef::new("at", ColumnKind::DateTime),
            ColumnDef::lookup("parentid", "things", "thing_parent"),
        ]))
        .unwrap()
    }

    pub(super) fn schema_for_hostile() -> SetSchema {
        schema()
    }

    fn check(filter: &str, row: &[Value]) -> bool {
        let s = schema();
        let pred = bind(&parse(filter).unwrap(), &s).unwrap();
        pred.eval(&|i| &row[i])
    }

    fn row() -> Vec<Value> {
        vec![
            json!("6b04a11b-f5a3-4955-ac36-618cc896a838"),
            json!("O'Brien Bot"),
            json!(5),
            json!(true),
            json!("2024-09-09T18:41:13Z"),
            Value::Null,
        ]
    }

    #[test]
    fn operators() {
        let r = row();
        assert!(check("name eq 'o''brien bot'", &r));
        assert!(check("n gt 4 and n lt 6", &r));
        assert!(check("n ge 5 and n le 5", &r));
        assert!(check("not (n ne 5)", &r));
        assert!(check("n eq 1 or flag eq true", &r));
        assert!(check("contains(name,'BRIEN')", &r));
        assert!(check(
            "startswith(name,'o''b') and endswith(name,'bot')",
            &r
        ));
        assert!(check("at gt 2024-09-09T00:00:00Z", &r));
        assert!(check("at lt 2024-09-10", &r));
        assert!(check("_parentid_value eq null", &r));
        assert!(!check("_parentid_value ne null", &r));
        assert!(check("thingid eq 6b04a11b-f5a3-4955-ac36-618cc896a838", &r));
        assert!(check(
            "Microsoft.Dynamics.CRM.In(PropertyName='n',PropertyValues=['4','5'])",
            &r
        ));
        assert!(!check(
            "Microsoft.Dynamics.CRM.NotIn(PropertyName='name',PropertyValues=['x','O''Brien Bot'])",
            &r
        ));
        assert!(check("n in (1,5)", &r));
        assert!(check("5 eq n", &r));
        assert!(check("1 lt n", &r));
    }

    #[test]
    fn sort_keys_order_typed_values() {
        let date = ColumnKind::DateTime;
        let a = SortKey::of(&date, &json!("2024-09-09T18:41:13Z"));
        let b = SortKey::of(&date, &json!("2024-09-09T20:41:13+03:00"));
        assert_eq!(a.compare(&b), Ordering::Greater);
        assert_eq!(SortKey::Null.compare(&a), Ordering::Less);
        let s = ColumnKind::String;
        assert_eq!(
            SortKey::of(&s, &json!("apple")).compare(&SortKey::of(&s, &json!("Banana"))),
            Ordering::Less
        );
        let n = ColumnKind::Integer;
        assert_eq!(
            SortKey::of(&n, &json!(10)).compare(&SortKey::of(&n, &json!(9))),
            Ordering::Greater
        );
    }

    #[test]
    fn errors() {
        let s = schema();
        let unknown = bind(&parse("nope eq 1").unwrap(), &s).unwrap_err();
        assert_eq!(
            unknown.message,
            "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.thing'."
        );
        let types = bind(&parse("name eq 1").unwrap(), &s).unwrap_err();
        assert!(
            types.message.contains("'Edm.String' and 'Edm.Int32'"),
            "{}",
            types.message
        );
        assert!(parse("name eq").is_err());
        assert!(parse("name eq 'x").is_err());
        assert!(parse("(name eq 'x'").is_err());
        assert!(parse("name xx 'x'").is_err());
        assert!(parse("").is_err());
        assert!(bind(&parse("contains(n,'1')").unwrap(), &s).is_err());
        // Malformed dates never panic, whatever their characters.
        for text in ["2024-01-01Té:00", "2024-01-01T1é:00Z", "x", "2024-13-40"] {
            assert!(parse_datetime(text).is_none(), "{text}");
        }
    }
}

#[cfg(test)]
mod hostile {
    use super::*;
    use serde_json::Value;

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}n eq 1{}", "(".repeat(200_000), ")".repeat(200_000));
        assert!(parse(&deep).is_err());
        let nots = format!("{}n eq 1", "not ".repeat(100_000));
        assert!(parse(&nots).is_err());
        // Up to the limit is fine.
        let ok = format!(
            "{}n eq 1{}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn long_chains_are_shallow_and_keep_their_meaning() {
        fn depth(e: &Expr) -> usize {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => 1 + depth(a).max(depth(b)),
                Expr::Not(a) => 1 + depth(a),
                _ => 1,
            }
        }
        let chain = (0..50_000)
            .map(|i| format!("n eq {i}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let e = parse(&chain).unwrap();
        assert!(depth(&e) <= 20, "{}", depth(&e));
        let s = super::tests::schema_for_hostile();
        let pred = bind(&e, &s).unwrap();
        let row = |n: i64| {
            let mut r = vec![Value::Null; 6];
            r[2] = serde_json::json!(n);
            r
        };
        let r = row(49_999);
        assert!(pred.eval(&|i| &r[i]));
        let r = row(50_000);
        assert!(!pred.eval(&|i| &r[i]));
        // `and` still binds tighter than `or`.
        let e = parse("n eq 1 or n eq 2 and n eq 3").unwrap();
        let pred = bind(&e, &s).unwrap();
        let r = row(1);
        assert!(pred.eval(&|i| &r[i]));
        let r = row(2);
        assert!(!pred.eval(&|i| &r[i]));
    }
}

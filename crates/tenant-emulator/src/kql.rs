//! The subset of KQL the emulator's Resource Graph answers, parsed and run over JSON rows.
//!
//! Supported (anything else is a 400 `InvalidQuery` naming what is not supported):
//!
//! ```text
//! Table                               PowerPlatformResources (any case); `resources` and the other
//!                                     Azure tables answer no rows
//! | where <predicate>                 comparisons ==, !=, =~, !~, <, <=, >, >=; contains,
//!                                     !contains, contains_cs, startswith, endswith, has, !has;
//!                                     in, !in, in~, !in~ (a list); and, or, not(...), parentheses
//! | project a, b.c, alias = <expr>    (a dotted path becomes the column b_c, as in KQL)
//! | extend alias = <expr>, ...
//! | order by|sort by <expr> [asc|desc], ...   (desc by default, as in KQL)
//! | take N | limit N
//! | summarize [name =] count() [by a, b]   | summarize arg_max(x, *) by a
//! | distinct a, b | count
//! ```
//!
//! Expressions: columns and dotted / bracketed paths (`properties['displayName']`), string
//! literals ('...' and "..." with `\\ \' \" \n \r \t \uXXXX` escapes, verbatim `@'...'`), numbers,
//! `true`/`false`, `long(n)`, `real(x)`, `bool(b)`, `datetime(...)` (kept as its text), and the
//! functions tostring, tolower, toupper, toint, tolong, toreal, tobool, todatetime, strlen,
//! isempty, isnotempty, strcat, coalesce, array_length.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// A KQL text that cannot be run: the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KqlError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, KqlError> {
    Err(KqlError(m.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Punct(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, KqlError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    const PUNCTS: [&str; 22] = [
        "==", "!=", "=~", "!~", "<=", ">=", "<", ">", "=", "!", "~", "|", ",", "(", ")", "[", "]",
        ".", "*", "-", "+", ";",
    ];
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            // A comment runs to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let verbatim = c == '@' && matches!(chars.get(i + 1), Some('\'' | '"'));
        if c == '\'' || c == '"' || verbatim {
            if verbatim {
                i += 1;
            }
            let quote = chars[i];
            i += 1;
            let mut v = String::new();
            loop {
                let Some(&d) = chars.get(i) else {
                    return err("a string literal is not terminated");
                };
                i += 1;
                if d == quote {
                    if verbatim && chars.get(i) == Some(&quote) {
                        v.push(quote);
                        i += 1;
                        continue;
                    }
                    break;
                }
                if d == '\n' || d == '\r' {
                    return err("a string literal contains a raw line break; write \\n");
                }
                if d == '\\' && !verbatim {
                    let Some(&e) = chars.get(i) else {
                        return err("a string literal ends with a lone backslash");
                    };
                    i += 1;
                    match e {
                        '\\' | '\'' | '"' => v.push(e),
                        'n' => v.push('\n'),
                        'r' => v.push('\r'),
                        't' => v.push('\t'),
                        'u' => {
                            let hex: String = chars
                                .get(i..i + 4)
                                .map(|h| h.iter().collect())
                                .unwrap_or_default();
                            i += 4;
                            let ch = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| KqlError(format!("bad escape \\u{hex}")))?;
                            v.push(ch);
                        }
                        other => return err(format!("unknown escape \\{other} in a string")),
                    }
                    continue;
                }
                v.push(d);
            }
            out.push(Tok::Str(v));
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n = text
                .parse::<f64>()
                .map_err(|_| KqlError(format!("`{text}` is not a number")))?;
            out.push(Tok::Num(n));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        if let Some(p) = PUNCTS.iter().find(|p| p.len() == 2 && **p == two) {
            out.push(Tok::Punct(p));
            i += 2;
            continue;
        }
        if let Some(p) = PUNCTS.iter().find(|p| p.len() == 1 && p.starts_with(c)) {
            out.push(Tok::Punct(p));
            i += 1;
            continue;
        }
        return err(format!("unexpected character `{c}`"));
    }
    Ok(out)
}

/// A scalar expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Path(Vec<String>),
    Lit(Value),
    Call(String, Vec<Expr>),
    Cmp(Box<Expr>, String, Box<Expr>),
    In(Box<Expr>, Vec<Expr>, bool, bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Agg {
    Count,
    ArgMax(Expr),
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Where(Expr),
    Project(Vec<(String, Expr)>),
    Extend(Vec<(String, Expr)>),
    Order(Vec<(Expr, bool)>),
    Take(usize),
    Summarize(String, Agg, Vec<(String, Expr)>),
    Distinct(Vec<(String, Expr)>),
    Count,
}

/// A parsed query: its table and stages.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    table: String,
    stages: Vec<Stage>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn eat_punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_punct(&mut self, p: &str) -> Result<(), KqlError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            err(format!("expected `{p}` but found {}", self.describe()))
        }
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if is_kw(self.peek(), kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the query".into(),
            Some(Tok::Ident(s)) => format!("`{s}`"),
            Some(Tok::Str(_)) => "a string".into(),
            Some(Tok::Num(n)) => format!("`{n}`"),
            Some(Tok::Punct(p)) => format!("`{p}`"),
        }
    }
    fn ident(&mut self) -> Result<String, KqlError> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                err(format!("expected a name but found {}", self.describe()))
            }
        }
    }

    fn query(&mut self) -> Result<Query, KqlError> {
        let table = self.ident()?;
        let mut stages = Vec::new();
        while self.eat_punct("|") {
            stages.push(self.stage()?);
        }
        if self.pos < self.toks.len() {
            return err(format!("unexpected {} after the query", self.describe()));
        }
        Ok(Query { table, stages })
    }

    fn stage(&mut self) -> Result<Stage, KqlError> {
        let mut op = self.ident()?.to_ascii_lowercase();
        // Hyphenated operators: mv-expand, project-away, make-series ...
        while matches!(self.peek(), Some(Tok::Punct("-")))
            && matches!(self.peek_at(1), Some(Tok::Ident(_)))
        {
            self.pos += 1;
            op = format!("{op}-{}", self.ident()?.to_ascii_lowercase());
        }
        Ok(match op.as_str() {
            "where" | "filter" => Stage::Where(self.expr()?),
            "project" => Stage::Project(self.columns()?),
            "extend" => Stage::Extend(self.columns()?),
            "order" | "sort" => {
                if !self.eat_kw("by") {
                    return err(format!("`{op}` must be followed by `by`"));
                }
                let mut keys = Vec::new();
                loop {
                    let e = self.expr()?;
                    let desc = if self.eat_kw("asc") {
                        false
                    } else {
                        // KQL sorts descending unless told otherwise.
                        self.eat_kw("desc");
                        true
                    };
                    keys.push((e, desc));
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                Stage::Order(keys)
            }
            "take" | "limit" => match self.next() {
                Some(Tok::Num(n)) if n >= 0.0 && n.fract() == 0.0 => Stage::Take(n as usize),
                _ => return err(format!("`{op}` needs a whole number")),
            },
            "summarize" => {
                let (name, agg) = self.aggregation()?;
                let by = if self.eat_kw("by") {
                    self.columns()?
                } else {
                    Vec::new()
                };
                Stage::Summarize(name, agg, by)
            }
            "distinct" => Stage::Distinct(self.columns()?),
            "count" => Stage::Count,
            "join" | "union" | "mv-expand" | "mvexpand" | "parse" | "top" | "evaluate"
            | "project-away" | "project-rename" | "make-series" => {
                return err(format!(
                    "the `{op}` operator is not supported by the tenant emulator's Resource Graph"
                ));
            }
            other => return err(format!("unknown or unsupported operator `{other}`")),
        })
    }

    fn aggregation(&mut self) -> Result<(String, Agg), KqlError> {
        let mut name = None;
        if matches!(self.peek(), Some(Tok::Ident(_)))
            && matches!(self.peek_at(1), Some(Tok::Punct("=")))
        {
            name = Some(self.ident()?);
            self.pos += 1;
        }
        let f = self.ident()?.to_ascii_lowercase();
        self.expect_punct("(")?;
        let agg = match f.as_str() {
            "count" => Agg::Count,
            "arg_max" => {
                let e = self.expr()?;
                self.expect_punct(",")?;
                self.expect_punct("*")?;
                Agg::ArgMax(e)
            }
            other => {
                return err(format!(
                    "the aggregation `{other}` is not supported (count() and arg_max(x, *) are)"
                ));
            }
        };
        self.expect_punct(")")?;
        let name = name.unwrap_or_else(|| match agg {
            Agg::Count => "count_".to_owned(),
            Agg::ArgMax(_) => String::new(),
        });
        Ok((name, agg))
    }

    /// `a, b.c, alias = expr`.
    fn columns(&mut self) -> Result<Vec<(String, Expr)>, KqlError> {
        let mut out = Vec::new();
        loop {
            if matches!(self.peek(), Some(Tok::Ident(_)))
                && matches!(self.peek_at(1), Some(Tok::Punct("=")))
            {
                let name = self.ident()?;
                self.pos += 1;
                out.push((name, self.expr()?));
            } else {
                let e = self.expr()?;
                let name = match &e {
                    Expr::Path(p) => p.join("_"),
                    _ => format!("Column{}", out.len() + 1),
                };
                out.push((name, e));
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(out)
    }

    fn expr(&mut self) -> Result<Expr, KqlError> {
        self.depth += 1;
        if self.depth > 64 {
            return err("the query nests too deeply");
        }
        let mut left = self.and_expr()?;
        while self.eat_kw("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.cmp_expr()?;
        while self.eat_kw("and") {
            left = Expr::And(Box::new(left), Box::new(self.cmp_expr()?));
        }
        Ok(left)
    }

    fn cmp_expr(&mut self) -> Result<Expr, KqlError> {
        let left = self.primary()?;
        // Symbolic operators.
        for op in ["==", "!=", "=~", "!~", "<=", ">=", "<", ">"] {
            if self.eat_punct(op) {
                let right = self.primary()?;
                return Ok(Expr::Cmp(Box::new(left), op.to_owned(), Box::new(right)));
            }
        }
        let negate = matches!(self.peek(), Some(Tok::Punct("!")))
            && matches!(self.peek_at(1), Some(Tok::Ident(_)));
        let word = match (negate, if negate { self.peek_at(1) } else { self.peek() }) {
            (_, Some(Tok::Ident(w))) => w.to_ascii_lowercase(),
            _ => return Ok(left),
        };
        let known = [
            "contains",
            "contains_cs",
            "startswith",
            "endswith",
            "has",
            "in",
            "has_any",
        ];
        if !known.contains(&word.as_str()) {
            return Ok(left);
        }
        self.pos += if negate { 2 } else { 1 };
        if word == "in" || word == "has_any" {
            let ci = word == "in" && self.eat_punct("~");
            self.expect_punct("(")?;
            let mut list = Vec::new();
            if !self.eat_punct(")") {
                loop {
                    list.push(self.primary()?);
                    if self.eat_punct(")") {
                        break;
                    }
                    self.expect_punct(",")?;
                }
            }
            if word == "has_any" {
                let any = list
                    .into_iter()
                    .map(|v| Expr::Cmp(Box::new(left.clone()), "has".into(), Box::new(v)))
                    .reduce(|a, b| Expr::Or(Box::new(a), Box::new(b)))
                    .unwrap_or(Expr::Lit(Value::Bool(false)));
                return Ok(if negate {
                    Expr::Not(Box::new(any))
                } else {
                    any
                });
            }
            return Ok(Expr::In(Box::new(left), list, negate, ci));
        }
        let right = self.primary()?;
        let cmp = Expr::Cmp(Box::new(left), word, Box::new(right));
        Ok(if negate {
            Expr::Not(Box::new(cmp))
        } else {
            cmp
        })
    }

    fn primary(&mut self) -> Result<Expr, KqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Expr::Lit(Value::String(s))),
            Some(Tok::Num(n)) => Ok(Expr::Lit(num(n))),
            Some(Tok::Punct("-")) => match self.next() {
                Some(Tok::Num(n)) => Ok(Expr::Lit(num(-n))),
                _ => err("`-` must be followed by a number"),
            },
            Some(Tok::Punct("(")) => {
                let e = self.expr()?;
                self.expect_punct(")")?;
                Ok(e)
            }
            Some(Tok::Punct("[")) => {
                // `['column name']`
                let name = match self.next() {
                    Some(Tok::Str(s)) => s,
                    _ => return err("`[` must hold a quoted name"),
                };
                self.expect_punct("]")?;
                self.path_rest(vec![name])
            }
            Some(Tok::Ident(id)) => {
                let lower = id.to_ascii_lowercase();
                if lower == "true" || lower == "false" {
                    return Ok(Expr::Lit(Value::Bool(lower == "true")));
                }
                if lower == "null" {
                    return Ok(Expr::Lit(Value::Null));
                }
                if self.eat_punct("(") {
                    if lower == "datetime"
                        || lower == "long"
                        || lower == "real"
                        || lower == "bool"
                        || lower == "int"
                    {
                        return self.typed_literal(&lower);
                    }
                    let mut args = Vec::new();
                    if !self.eat_punct(")") {
                        loop {
                            args.push(self.expr()?);
                            if self.eat_punct(")") {
                                break;
                            }
                            self.expect_punct(",")?;
                        }
                    }
                    if lower == "not" {
                        let [a] = <[Expr; 1]>::try_from(args)
                            .map_err(|_| KqlError("not() takes one argument".into()))?;
                        return Ok(Expr::Not(Box::new(a)));
                    }
                    const FUNCS: [&str; 14] = [
                        "tostring",
                        "tolower",
                        "toupper",
                        "toint",
                        "tolong",
                        "toreal",
                        "tobool",
                        "todatetime",
                        "strlen",
                        "isempty",
                        "isnotempty",
                        "strcat",
                        "coalesce",
                        "array_length",
                    ];
                    if !FUNCS.contains(&lower.as_str()) {
                        return err(format!("the function `{id}` is not supported"));
                    }
                    return Ok(Expr::Call(lower, args));
                }
                self.path_rest(vec![id])
            }
            _ => {
                self.pos -= 1;
                err(format!("expected a value but found {}", self.describe()))
            }
        }
    }

    fn typed_literal(&mut self, kind: &str) -> Result<Expr, KqlError> {
        // The text up to `)`, kept as written (datetime) or read as the type.
        let mut text = String::new();
        loop {
            match self.next() {
                Some(Tok::Punct(")")) => break,
                Some(Tok::Num(n)) => text.push_str(&fmt_num(n)),
                Some(Tok::Ident(s)) | Some(Tok::Str(s)) => text.push_str(&s),
                Some(Tok::Punct(p)) => text.push_str(p),
                None => return err(format!("`{kind}(` is not closed")),
            }
        }
        Ok(Expr::Lit(match kind {
            "datetime" => Value::String(text),
            "bool" => Value::Bool(text.eq_ignore_ascii_case("true")),
            _ => text
                .parse::<f64>()
                .map(num)
                .map_err(|_| KqlError(format!("`{kind}({text})` is not a number")))?,
        }))
    }

    fn path_rest(&mut self, mut path: Vec<String>) -> Result<Expr, KqlError> {
        loop {
            if self.eat_punct(".") {
                path.push(self.ident()?);
            } else if matches!(self.peek(), Some(Tok::Punct("[")))
                && matches!(self.peek_at(1), Some(Tok::Str(_)))
            {
                self.pos += 1;
                if let Some(Tok::Str(s)) = self.next() {
                    path.push(s);
                }
                self.expect_punct("]")?;
            } else {
                return Ok(Expr::Path(path));
            }
        }
    }
}

fn num(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

impl Query {
    /// Parses KQL text.
    pub fn parse(text: &str) -> Result<Query, KqlError> {
        let toks = tokenize(text)?;
        if toks.is_empty() {
            return err("the query is empty");
        }
        Parser {
            toks,
            pos: 0,
            depth: 0,
        }
        .query()
    }

    /// The table named first.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs the query over `rows` (the table's rows as JSON objects).
    pub fn run(&self, rows: &[Value]) -> Result<Vec<Value>, KqlError> {
        let mut rows: Vec<Value> = rows.to_vec();
        for stage in &self.stages {
            rows = run_stage(stage, rows)?;
        }
        Ok(rows)
    }
}

fn run_stage(stage: &Stage, rows: Vec<Value>) -> Result<Vec<Value>, KqlError> {
    Ok(match stage {
        Stage::Where(e) => {
            let mut out = Vec::new();
            for r in rows {
                if truthy(&eval(e, &r)?) {
                    out.push(r);
                }
            }
            out
        }
        Stage::Project(cols) => rows
            .iter()
            .map(|r| {
                let mut o = Map::new();
                for (name, e) in cols {
                    o.insert(name.clone(), eval(e, r)?);
                }
                Ok(Value::Object(o))
            })
            .collect::<Result<_, KqlError>>()?,
        Stage::Extend(cols) => rows
            .into_iter()
            .map(|mut r| {
                for (name, e) in cols {
                    let v = eval(e, &r)?;
                    if let Value::Object(o) = &mut r {
                        o.insert(name.clone(), v);
                    }
                }
                Ok(r)
            })
            .collect::<Result<_, KqlError>>()?,
        Stage::Order(keys) => {
            let mut keyed = rows
                .into_iter()
                .map(|r| {
                    let k = keys
                        .iter()
                        .map(|(e, _)| eval(e, &r))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((k, r))
                })
                .collect::<Result<Vec<_>, KqlError>>()?;
            keyed.sort_by(|(a, _), (b, _)| {
                for (i, (_, desc)) in keys.iter().enumerate() {
                    let o = compare(&a[i], &b[i]);
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
            keyed.into_iter().map(|(_, r)| r).collect()
        }
        Stage::Take(n) => rows.into_iter().take(*n).collect(),
        Stage::Count => vec![serde_json::json!({"Count": rows.len()})],
        Stage::Distinct(cols) => {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for r in &rows {
                let mut o = Map::new();
                for (name, e) in cols {
                    o.insert(name.clone(), eval(e, r)?);
                }
                let v = Value::Object(o);
                if seen.insert(v.to_string()) {
                    out.push(v);
                }
            }
            out
        }
        Stage::Summarize(name, agg, by) => {
            // Groups in first-seen order.
            let mut groups: Vec<(Vec<Value>, Vec<&Value>)> = Vec::new();
            let mut index: std::collections::HashMap<String, usize> = Default::default();
            for r in &rows {
                let key = by
                    .iter()
                    .map(|(_, e)| eval(e, r))
                    .collect::<Result<Vec<_>, _>>()?;
                let k = Value::Array(key.clone()).to_string();
                let i = *index.entry(k).or_insert_with(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(r);
            }
            let mut out = Vec::new();
            for (key, members) in groups {
                match agg {
                    Agg::Count => {
                        let mut o = Map::new();
                        for ((n, _), v) in by.iter().zip(key) {
                            o.insert(n.clone(), v);
                        }
                        o.insert(name.clone(), Value::from(members.len()));
                        out.push(Value::Object(o));
                    }
                    Agg::ArgMax(e) => {
                        let mut best: Option<(Value, &Value)> = None;
                        for m in members {
                            let v = eval(e, m)?;
                            if best
                                .as_ref()
                                .is_none_or(|(b, _)| compare(&v, b) == Ordering::Greater)
                            {
                                best = Some((v, m));
                            }
                        }
                        if let Some((_, row)) = best {
                            let mut o = match row {
                                Value::Object(o) => o.clone(),
                                _ => Map::new(),
                            };
                            for ((n, _), v) in by.iter().zip(key) {
                                o.insert(n.clone(), v);
                            }
                            out.push(Value::Object(o));
                        }
                    }
                }
            }
            out
        }
    })
}

fn lookup<'a>(row: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = row;
    for (i, seg) in path.iter().enumerate() {
        v = match v {
            Value::Object(o) => match o.get(seg) {
                Some(x) => x,
                // Column names are case-sensitive, but try the flattened name a project made.
                None if i == 0 => return o.get(&path.join("_")),
                None => return None,
            },
            _ => return None,
        };
    }
    Some(v)
}

fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => as_text(a).cmp(&as_text(b)),
    }
}

/// KQL equality: numbers by value, null equal to nothing, everything else by its text.
fn equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(_), Value::Number(_)) => compare(x, y) == Ordering::Equal,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => as_text(x) == as_text(y),
    }
}

fn eval(e: &Expr, row: &Value) -> Result<Value, KqlError> {
    Ok(match e {
        Expr::Path(p) => lookup(row, p).cloned().unwrap_or(Value::Null),
        Expr::Lit(v) => v.clone(),
        Expr::Not(x) => Value::Bool(!truthy(&eval(x, row)?)),
        Expr::And(a, b) => Value::Bool(truthy(&eval(a, row)?) && truthy(&eval(b, row)?)),
        Expr::Or(a, b) => Value::Bool(truthy(&eval(a, row)?) || truthy(&eval(b, row)?)),
        Expr::In(x, list, negate, ci) => {
            let v = as_text(&eval(x, row)?);
            let mut found = false;
            for item in list {
                let w = as_text(&eval(item, row)?);
                if (*ci && v.to_lowercase() == w.to_lowercase()) || (!*ci && v == w) {
                    found = true;
                    break;
                }
            }
            Value::Bool(found != *negate)
        }
        Expr::Cmp(a, op, b) => {
            let (x, y) = (eval(a, row)?, eval(b, row)?);
            let (tx, ty) = (as_text(&x), as_text(&y));
            let (lx, ly) = (tx.to_lowercase(), ty.to_lowercase());
            Value::Bool(match op.as_str() {
                "==" => equal(&x, &y),
                "!=" => !equal(&x, &y),
                "=~" => lx == ly,
                "!~" => lx != ly,
                "<" => compare(&x, &y) == Ordering::Less,
                "<=" => compare(&x, &y) != Ordering::Greater,
                ">" => compare(&x, &y) == Ordering::Greater,
                ">=" => compare(&x, &y) != Ordering::Less,
                "contains" => lx.contains(&ly),
                "contains_cs" => tx.contains(&ty),
                "startswith" => lx.starts_with(&ly),
                "endswith" => lx.ends_with(&ly),
                "has" => {
                    lx.split(|c: char| !c.is_alphanumeric()).any(|t| t == ly)
                        || (!ly.chars().all(char::is_alphanumeric) && lx.contains(&ly))
                }
                other => return err(format!("operator `{other}` is not supported")),
            })
        }
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, row))
                .collect::<Result<Vec<_>, _>>()?;
            let first = vals.first().cloned().unwrap_or(Value::Null);
            match f.as_str() {
                "tostring" => Value::String(as_text(&first)),
                "tolower" => Value::String(as_text(&first).to_lowercase()),
                "toupper" => Value::String(as_text(&first).to_uppercase()),
                "todatetime" => first,
                "toint" | "tolong" | "toreal" => as_text(&first)
                    .trim()
                    .parse::<f64>()
                    .map(num)
                    .unwrap_or(Value::Null),
                "tobool" => match as_text(&first).to_ascii_lowercase().as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => Value::Null,
                },
                "strlen" => Value::from(as_text(&first).chars().count()),
                "isempty" => Value::Bool(as_text(&first).is_empty()),
                "isnotempty" => Value::Bool(!as_text(&first).is_empty()),
                "strcat" => Value::String(vals.iter().map(as_text).collect()),
                "coalesce" => vals
                    .into_iter()
                    .find(|v| !v.is_null() && !as_text(v).is_empty())
                    .unwrap_or(Value::Null),
                "array_length" => match first {
                    Value::Array(a) => Value::from(a.len()),
                    _ => Value::Null,
                },
                other => return err(format!("the function `{other}` is not supported")),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Value> {
        vec![
            json!({"name": "a", "type": "microsoft.copilotstudio/agents", "properties": {"displayName": "It's | here", "environmentId": "E1", "n": 2}}),
            json!({"name": "b", "type": "microsoft.copilotstudio/agents", "properties": {"displayName": "Sales bot", "environmentId": "e2", "n": 10}}),
            json!({"name": "c", "type": "microsoft.powerplatform/environments", "properties": {"displayName": "Env"}}),
        ]
    }

    fn run(q: &str) -> Vec<Value> {
        Query::parse(q).unwrap().run(&rows()).unwrap()
    }

    #[test]
    fn the_documented_subset() {
        let r = run(
            "PowerPlatformResources | where type == 'microsoft.copilotstudio/agents' | project name, properties.displayName | order by name asc",
        );
        assert_eq!(
            r,
            vec![
                json!({"name": "a", "properties_displayName": "It's | here"}),
                json!({"name": "b", "properties_displayName": "Sales bot"}),
            ]
        );
        assert_eq!(
            run("T | where properties.displayName == 'It\\'s | here' | take 5").len(),
            1
        );
        assert_eq!(
            run("T | where properties.displayName == @'It''s | here'").len(),
            1
        );
        assert_eq!(
            run("T | where tolower(tostring(properties.environmentId)) in~ ('e1', 'E2') | limit 1")
                .len(),
            1
        );
        assert_eq!(
            run("T | where type == 'microsoft.copilotstudio/agents' and properties.n > 5")[0]["name"],
            "b"
        );
        assert_eq!(
            run("T | where name == 'a' or name == 'c' | order by name")[0]["name"],
            "c",
            "desc by default"
        );
        assert_eq!(
            run("T | where properties['displayName'] contains 'SALES'")[0]["name"],
            "b"
        );
        assert_eq!(run("T | where not(name in ('a', 'b'))")[0]["name"], "c");
        assert_eq!(run("T | where name !in ('a')").len(), 2);
        assert_eq!(
            run("T | summarize n = count() by type | order by n desc"),
            vec![
                json!({"type": "microsoft.copilotstudio/agents", "n": 2}),
                json!({"type": "microsoft.powerplatform/environments", "n": 1})
            ]
        );
        assert_eq!(run("T | summarize count()"), vec![json!({"count_": 3})]);
        assert_eq!(run("T | count"), vec![json!({"Count": 3})]);
        assert_eq!(run("T | distinct type").len(), 2);
        assert_eq!(
            run("T | extend e = tolower(tostring(properties.environmentId)) | where e == 'e1'")[0]
                ["name"],
            "a"
        );
        assert_eq!(
            run("T | summarize arg_max(properties.n, *) by type | where name == 'b'").len(),
            1
        );
    }

    #[test]
    fn unsupported_and_broken_queries_are_errors() {
        for q in [
            "",
            "T | where name == 'a",
            "T | join (T) on name",
            "T | where name == 'a\nb'",
            "T | take x",
            "T | where frobnicate(name)",
            "T | summarize avg(x)",
            "T | where name == 'a' garbage",
        ] {
            assert!(Query::parse(q).is_err(), "{q}");
        }
        let deep = format!(
            "T | where {}name == 'a'{}",
            "(".repeat(200),
            ")".repeat(200)
        );
        assert!(Query::parse(&deep).is_err());
    }
}

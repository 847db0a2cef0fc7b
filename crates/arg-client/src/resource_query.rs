//! The Power Platform resource query: a typed clause builder that renders both the inventory
//! API's JSON clauses and the equivalent KQL for Azure Resource Graph.

use crate::kql::{Expr, FieldPath, KqlError, Name, Operator, Value, is_identifier};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

/// The table of the Power Platform inventory.
pub const POWER_PLATFORM_RESOURCES: &str = "PowerPlatformResources";
/// The resource type of Copilot Studio and Agent Builder agents.
pub const AGENT_TYPE: &str = "microsoft.copilotstudio/agents";
/// The resource type of environments in the inventory.
pub const ENVIRONMENT_TYPE: &str = "microsoft.powerplatform/environments";

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

impl SortOrder {
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// How a `join` matches rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JoinKind {
    /// `innerunique` (KQL's default).
    InnerUnique,
    /// `inner`.
    Inner,
    /// `leftouter`.
    LeftOuter,
    /// `rightouter`.
    RightOuter,
    /// `fullouter`.
    FullOuter,
    /// `leftanti`.
    LeftAnti,
    /// `rightanti`.
    RightAnti,
    /// `leftsemi`.
    LeftSemi,
    /// `rightsemi`.
    RightSemi,
}

impl JoinKind {
    fn as_str(self) -> &'static str {
        match self {
            JoinKind::InnerUnique => "innerunique",
            JoinKind::Inner => "inner",
            JoinKind::LeftOuter => "leftouter",
            JoinKind::RightOuter => "rightouter",
            JoinKind::FullOuter => "fullouter",
            JoinKind::LeftAnti => "leftanti",
            JoinKind::RightAnti => "rightanti",
            JoinKind::LeftSemi => "leftsemi",
            JoinKind::RightSemi => "rightsemi",
        }
    }
}

/// One column of a `project`: a field kept as it is, or `name = expression`.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    alias: Option<Name>,
    expr: Expr,
}

impl Projection {
    fn to_kql(&self) -> Result<String, KqlError> {
        let e = self.expr.to_kql()?;
        Ok(match &self.alias {
            Some(a) => format!("{a} = {e}"),
            None => e,
        })
    }
}

/// The aggregation of a `summarize` clause.
#[derive(Debug, Clone, PartialEq)]
enum Summarize {
    /// `name = count() by ...`
    Count { name: Name, by: Vec<FieldPath> },
    /// `arg_max(field, *) by ...`
    ArgMax {
        field: FieldPath,
        by: Vec<FieldPath>,
    },
}

/// One clause of a [`ResourceQuery`].
#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Where {
        field: FieldPath,
        op: Operator,
        values: Vec<Value>,
    },
    Project(Vec<Projection>),
    Take(u64),
    OrderBy(Vec<(Expr, SortOrder)>),
    Distinct(Vec<FieldPath>),
    Count,
    Summarize(Summarize),
    Extend {
        name: Name,
        expr: Expr,
    },
    Join {
        kind: JoinKind,
        right: Box<ResourceQuery>,
        left_column: FieldPath,
        right_column: FieldPath,
    },
}

/// A query on the Power Platform inventory, built from typed clauses.
///
/// The same query is sent as JSON clauses to the Power Platform API's resource query
/// ([`ArgClient::resource_query`](crate::ArgClient::resource_query)) or as KQL text to Azure
/// Resource Graph ([`to_kql`](Self::to_kql)). Every value is a typed [`Value`] written as a
/// quoted, escaped literal, and every field name is checked, so no caller data can add a
/// clause, end a literal or comment out the rest. A bad name is reported when the query is
/// rendered or sent ([`Error::InvalidInput`](crate::Error::InvalidInput)), never sent.
///
/// ```
/// use arg_client::{ResourceQuery, SortOrder, kql::Operator};
/// let q = ResourceQuery::inventory()
///     .where_eq("type", "microsoft.copilotstudio/agents")
///     .where_op("properties.displayName", Operator::Contains, "it's | take 1")
///     .project(["name", "properties.displayName"])
///     .order_by("name", SortOrder::Asc)
///     .take(10);
/// assert_eq!(
///     q.to_kql().unwrap(),
///     "PowerPlatformResources | where type == 'microsoft.copilotstudio/agents' \
///      | where properties.displayName contains 'it\\'s | take 1' \
///      | project name, properties.displayName | order by name asc | take 10"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceQuery {
    table: String,
    clauses: Vec<Clause>,
    invalid: Option<String>,
}

impl ResourceQuery {
    /// A query on `table` (a KQL identifier such as `PowerPlatformResources`).
    pub fn new(table: &str) -> Self {
        let invalid = (!is_identifier(table)).then(|| {
            format!(
                "`{}` is not a table name: give an identifier such as PowerPlatformResources",
                table.escape_debug()
            )
        });
        ResourceQuery {
            table: table.to_owned(),
            clauses: Vec::new(),
            invalid,
        }
    }

    /// A query on `PowerPlatformResources`.
    pub fn inventory() -> Self {
        Self::new(POWER_PLATFORM_RESOURCES)
    }

    /// The Copilot agents of the inventory (`type == 'microsoft.copilotstudio/agents'`).
    pub fn agents() -> Self {
        Self::inventory().where_eq("type", AGENT_TYPE)
    }

    /// The table queried.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn fail(&mut self, e: KqlError) {
        self.invalid.get_or_insert(e.0);
    }

    fn path(&mut self, path: &str) -> Option<FieldPath> {
        match FieldPath::parse(path) {
            Ok(p) => Some(p),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn paths<'a>(&mut self, paths: impl IntoIterator<Item = &'a str>) -> Option<Vec<FieldPath>> {
        let mut out = Vec::new();
        for p in paths {
            out.push(self.path(p)?);
        }
        Some(out)
    }

    fn name(&mut self, name: &str) -> Option<Name> {
        match Name::new(name) {
            Ok(n) => Some(n),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// `| where field == value`.
    pub fn where_eq(self, field: &str, value: impl Into<Value>) -> Self {
        self.where_op(field, Operator::Eq, value)
    }

    /// `| where field <op> value` for a single-value operator.
    pub fn where_op(mut self, field: &str, op: Operator, value: impl Into<Value>) -> Self {
        if op.takes_list() {
            self.fail(KqlError(format!(
                "`{op}` takes a list of values: use where_in"
            )));
            return self;
        }
        if let Some(field) = self.path(field) {
            self.clauses.push(Clause::Where {
                field,
                op,
                values: vec![value.into()],
            });
        }
        self
    }

    /// `| where field in~ (v1, v2, ...)` (or another list operator: `in`, `!in`, `!in~`,
    /// `has_any`).
    pub fn where_in<V: Into<Value>>(
        mut self,
        field: &str,
        op: Operator,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        if !op.takes_list() {
            self.fail(KqlError(format!(
                "`{op}` compares with one value: use where_op"
            )));
            return self;
        }
        let values: Vec<Value> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            self.fail(KqlError(format!("`{op}` needs at least one value")));
            return self;
        }
        if let Some(field) = self.path(field) {
            self.clauses.push(Clause::Where { field, op, values });
        }
        self
    }

    /// `| project a, b.c`: keeps these fields.
    pub fn project<'a>(mut self, fields: impl IntoIterator<Item = &'a str>) -> Self {
        if let Some(paths) = self.paths(fields) {
            self.push_projection(
                paths
                    .into_iter()
                    .map(|p| Projection {
                        alias: None,
                        expr: Expr::Field(p),
                    })
                    .collect(),
            );
        }
        self
    }

    /// `| project name = expression, ...`: computed columns.
    pub fn project_as<'a>(mut self, columns: impl IntoIterator<Item = (&'a str, Expr)>) -> Self {
        let mut out = Vec::new();
        for (alias, expr) in columns {
            let Some(alias) = self.name(alias) else {
                return self;
            };
            out.push(Projection {
                alias: Some(alias),
                expr,
            });
        }
        self.push_projection(out);
        self
    }

    fn push_projection(&mut self, columns: Vec<Projection>) {
        if columns.is_empty() {
            self.fail(KqlError("project needs at least one column".into()));
        } else {
            self.clauses.push(Clause::Project(columns));
        }
    }

    /// `| take n`.
    pub fn take(mut self, n: u64) -> Self {
        self.clauses.push(Clause::Take(n));
        self
    }

    /// `| order by field asc|desc` (several calls in a row sort by several fields).
    pub fn order_by(mut self, field: &str, order: SortOrder) -> Self {
        if let Some(p) = self.path(field) {
            self.order_by_expr(Expr::Field(p), order)
        } else {
            self
        }
    }

    /// `| order by expression asc|desc`; consecutive calls add keys to one clause.
    pub fn order_by_expr(mut self, expr: Expr, order: SortOrder) -> Self {
        if let Some(Clause::OrderBy(keys)) = self.clauses.last_mut() {
            keys.push((expr, order));
        } else {
            self.clauses.push(Clause::OrderBy(vec![(expr, order)]));
        }
        self
    }

    /// `| distinct a, b`.
    pub fn distinct<'a>(mut self, fields: impl IntoIterator<Item = &'a str>) -> Self {
        if let Some(paths) = self.paths(fields) {
            if paths.is_empty() {
                self.fail(KqlError("distinct needs at least one field".into()));
            } else {
                self.clauses.push(Clause::Distinct(paths));
            }
        }
        self
    }

    /// `| count`.
    pub fn count(mut self) -> Self {
        self.clauses.push(Clause::Count);
        self
    }

    /// `| summarize name = count() by a, b`.
    pub fn summarize_count<'a>(
        mut self,
        name: &str,
        by: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        if let (Some(name), Some(by)) = (self.name(name), self.paths(by)) {
            self.clauses
                .push(Clause::Summarize(Summarize::Count { name, by }));
        }
        self
    }

    /// `| summarize arg_max(field, *) by a, b`: the row with the largest `field` per group.
    pub fn summarize_arg_max<'a>(
        mut self,
        field: &str,
        by: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        if let (Some(field), Some(by)) = (self.path(field), self.paths(by)) {
            self.clauses
                .push(Clause::Summarize(Summarize::ArgMax { field, by }));
        }
        self
    }

    /// `| extend name = expression`.
    pub fn extend(mut self, name: &str, expr: Expr) -> Self {
        if let Some(name) = self.name(name) {
            self.clauses.push(Clause::Extend { name, expr });
        }
        self
    }

    /// `| join kind=... (right) on $left.a == $right.b`.
    pub fn join(
        mut self,
        kind: JoinKind,
        right: ResourceQuery,
        left_column: &str,
        right_column: &str,
    ) -> Self {
        if let Some(e) = &right.invalid {
            self.fail(KqlError(format!("in the joined query: {e}")));
            return self;
        }
        if let (Some(left_column), Some(right_column)) =
            (self.path(left_column), self.path(right_column))
        {
            self.clauses.push(Clause::Join {
                kind,
                right: Box::new(right),
                left_column,
                right_column,
            });
        }
        self
    }

    /// The first problem with a name or value given to the builder, if any.
    pub fn problem(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    /// The query as KQL text, for Azure Resource Graph.
    pub fn to_kql(&self) -> Result<String, KqlError> {
        if let Some(e) = &self.invalid {
            return Err(KqlError(e.clone()));
        }
        let mut out = self.table.clone();
        for c in &self.clauses {
            out.push_str(" | ");
            out.push_str(&clause_kql(c)?);
        }
        Ok(out)
    }

    /// The `Clauses` array of the inventory API's request body, as JSON.
    pub fn clauses_json(&self) -> Result<serde_json::Value, KqlError> {
        if let Some(e) = &self.invalid {
            return Err(KqlError(e.clone()));
        }
        // Rendering first catches unwritable values (a NaN) before serialising.
        self.to_kql()?;
        serde_json::to_value(Clauses(&self.clauses))
            .map_err(|e| KqlError(format!("the query cannot be serialised: {e}")))
    }

    /// The clauses serialised to a JSON string (keeps the order of sort keys).
    pub(crate) fn clauses_string(&self) -> Result<String, KqlError> {
        self.to_kql()?;
        serde_json::to_string(&Clauses(&self.clauses))
            .map_err(|e| KqlError(format!("the query cannot be serialised: {e}")))
    }
}

fn join_kql<T>(
    items: &[T],
    f: impl Fn(&T) -> Result<String, KqlError>,
) -> Result<String, KqlError> {
    let parts: Result<Vec<String>, KqlError> = items.iter().map(f).collect();
    Ok(parts?.join(", "))
}

fn paths_kql(paths: &[FieldPath]) -> String {
    paths
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn by_kql(by: &[FieldPath]) -> String {
    if by.is_empty() {
        String::new()
    } else {
        format!(" by {}", paths_kql(by))
    }
}

fn where_kql(field: &FieldPath, op: Operator, values: &[Value]) -> Result<String, KqlError> {
    if op.takes_list() {
        Ok(format!(
            "where {field} {op} ({})",
            join_kql(values, Value::to_kql)?
        ))
    } else {
        let v = values
            .first()
            .ok_or_else(|| KqlError(format!("`{op}` needs a value")))?;
        Ok(format!("where {field} {op} {}", v.to_kql()?))
    }
}

fn clause_kql(c: &Clause) -> Result<String, KqlError> {
    Ok(match c {
        Clause::Where { field, op, values } => where_kql(field, *op, values)?,
        Clause::Project(cols) => format!("project {}", join_kql(cols, Projection::to_kql)?),
        Clause::Take(n) => format!("take {n}"),
        Clause::OrderBy(keys) => format!(
            "order by {}",
            join_kql(keys, |(e, o)| Ok(format!("{} {}", e.to_kql()?, o.as_str())))?
        ),
        Clause::Distinct(fields) => format!("distinct {}", paths_kql(fields)),
        Clause::Count => "count".to_owned(),
        Clause::Summarize(Summarize::Count { name, by }) => {
            format!("summarize {name} = count(){}", by_kql(by))
        }
        Clause::Summarize(Summarize::ArgMax { field, by }) => {
            format!("summarize arg_max({field}, *){}", by_kql(by))
        }
        Clause::Extend { name, expr } => format!("extend {name} = {}", expr.to_kql()?),
        Clause::Join {
            kind,
            right,
            left_column,
            right_column,
        } => format!(
            "join kind={} ({}) on $left.{left_column} == $right.{right_column}",
            kind.as_str(),
            right.to_kql()?
        ),
    })
}

/// Serialises clauses in the inventory API's polymorphic form (`$type` first).
struct Clauses<'a>(&'a [Clause]);

impl Serialize for Clauses<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ClauseJson))
    }
}

struct ClauseJson<'a>(&'a Clause);

fn kql_err<E: serde::ser::Error>(e: KqlError) -> E {
    E::custom(e.0)
}

impl Serialize for ClauseJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let strings = |v: &[FieldPath]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        match self.0 {
            Clause::Where { field, op, values } => {
                let values: Vec<String> = values
                    .iter()
                    .map(Value::to_kql)
                    .collect::<Result<_, _>>()
                    .map_err(kql_err::<S::Error>)?;
                let mut m = s.serialize_struct("where", 4)?;
                m.serialize_field("$type", "where")?;
                m.serialize_field("FieldName", &field.to_string())?;
                m.serialize_field("Operator", op.as_str())?;
                m.serialize_field("Values", &values)?;
                m.end()
            }
            Clause::Project(cols) => {
                let list: Vec<String> = cols
                    .iter()
                    .map(Projection::to_kql)
                    .collect::<Result<_, _>>()
                    .map_err(kql_err::<S::Error>)?;
                let mut m = s.serialize_struct("project", 2)?;
                m.serialize_field("$type", "project")?;
                m.serialize_field("FieldList", &list)?;
                m.end()
            }
            Clause::Take(n) => {
                let mut m = s.serialize_struct("take", 2)?;
                m.serialize_field("$type", "take")?;
                m.serialize_field("TakeCount", n)?;
                m.end()
            }
            Clause::OrderBy(keys) => {
                let mut m = s.serialize_struct("orderby", 2)?;
                m.serialize_field("$type", "orderby")?;
                m.serialize_field("FieldNamesAscDesc", &SortKeys(keys))?;
                m.end()
            }
            Clause::Distinct(fields) => {
                let mut m = s.serialize_struct("distinct", 2)?;
                m.serialize_field("$type", "distinct")?;
                m.serialize_field("FieldList", &strings(fields))?;
                m.end()
            }
            Clause::Count => {
                let mut m = s.serialize_struct("count", 1)?;
                m.serialize_field("$type", "count")?;
                m.end()
            }
            Clause::Summarize(sum) => {
                let (op, field, by) = match sum {
                    Summarize::Count { name, by } => ("count", name.to_string(), by),
                    Summarize::ArgMax { field, by } => ("argmax", field.to_string(), by),
                };
                let mut m = s.serialize_struct("summarize", 2)?;
                m.serialize_field("$type", "summarize")?;
                m.serialize_field(
                    "SummarizeClauseExpression",
                    &SummarizeJson {
                        op,
                        field,
                        by: strings(by),
                    },
                )?;
                m.end()
            }
            Clause::Extend { name, expr } => {
                let mut m = s.serialize_struct("extend", 3)?;
                m.serialize_field("$type", "extend")?;
                m.serialize_field("FieldName", name.as_str())?;
                m.serialize_field("Expression", &expr.to_kql().map_err(kql_err::<S::Error>)?)?;
                m.end()
            }
            Clause::Join {
                kind,
                right,
                left_column,
                right_column,
            } => {
                let mut m = s.serialize_struct("join", 5)?;
                m.serialize_field("$type", "join")?;
                m.serialize_field("JoinKind", kind.as_str())?;
                m.serialize_field(
                    "RightTable",
                    &RightTable {
                        table: &right.table,
                        clauses: Clauses(&right.clauses),
                    },
                )?;
                m.serialize_field("LeftColumnName", &left_column.to_string())?;
                m.serialize_field("RightColumnName", &right_column.to_string())?;
                m.end()
            }
        }
    }
}

struct SortKeys<'a>(&'a [(Expr, SortOrder)]);

impl Serialize for SortKeys<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (e, o) in self.0 {
            m.serialize_entry(&e.to_kql().map_err(kql_err::<S::Error>)?, o.as_str())?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct SummarizeJson {
    #[serde(rename = "OperatorName")]
    op: &'static str,
    #[serde(rename = "OperatorFieldName")]
    field: String,
    #[serde(rename = "FieldList")]
    by: Vec<String>,
}

#[derive(Serialize)]
struct RightTable<'a> {
    #[serde(rename = "TableName")]
    table: &'a str,
    #[serde(rename = "Clauses")]
    clauses: Clauses<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kql::Function;
    use serde_json::json;

    #[test]
    fn every_clause_kind_renders_as_json_and_kql() {
        let env = ResourceQuery::inventory()
            .where_eq("type", ENVIRONMENT_TYPE)
            .project_as([
                (
                    "joinKey",
                    Expr::call(Function::ToLower, [Expr::field("name").unwrap()]),
                ),
                (
                    "environmentName",
                    Expr::field("properties.displayName").unwrap(),
                ),
            ]);
        let q = ResourceQuery::inventory()
            .extend(
                "joinKey",
                Expr::call(
                    Function::ToLower,
                    [Expr::call(
                        Function::ToString,
                        [Expr::field("properties.environmentId").unwrap()],
                    )],
                ),
            )
            .join(JoinKind::LeftOuter, env, "joinKey", "joinKey")
            .where_in("type", Operator::InIgnoreCase, [AGENT_TYPE, "x'y"])
            .order_by("properties.createdAt", SortOrder::Desc)
            .order_by("name", SortOrder::Asc)
            .distinct(["name", "type"])
            .summarize_count("n", ["type"])
            .summarize_arg_max("properties.createdAt", ["name"])
            .count()
            .take(5);
        assert_eq!(
            q.to_kql().unwrap(),
            "PowerPlatformResources | extend joinKey = tolower(tostring(properties.environmentId)) \
             | join kind=leftouter (PowerPlatformResources | where type == 'microsoft.powerplatform/environments' \
             | project joinKey = tolower(name), environmentName = properties.displayName) on $left.joinKey == $right.joinKey \
             | where type in~ ('microsoft.copilotstudio/agents', 'x\\'y') \
             | order by properties.createdAt desc, name asc | distinct name, type \
             | summarize n = count() by type | summarize arg_max(properties.createdAt, *) by name | count | take 5"
        );
        assert_eq!(
            q.clauses_json().unwrap(),
            json!([
                {"$type": "extend", "FieldName": "joinKey", "Expression": "tolower(tostring(properties.environmentId))"},
                {"$type": "join", "JoinKind": "leftouter", "RightTable": {"TableName": "PowerPlatformResources", "Clauses": [
                    {"$type": "where", "FieldName": "type", "Operator": "==", "Values": ["'microsoft.powerplatform/environments'"]},
                    {"$type": "project", "FieldList": ["joinKey = tolower(name)", "environmentName = properties.displayName"]}
                ]}, "LeftColumnName": "joinKey", "RightColumnName": "joinKey"},
                {"$type": "where", "FieldName": "type", "Operator": "in~", "Values": ["'microsoft.copilotstudio/agents'", "'x\\'y'"]},
                {"$type": "orderby", "FieldNamesAscDesc": {"properties.createdAt": "desc", "name": "asc"}},
                {"$type": "distinct", "FieldList": ["name", "type"]},
                {"$type": "summarize", "SummarizeClauseExpression": {"OperatorName": "count", "OperatorFieldName": "n", "FieldList": ["type"]}},
                {"$type": "summarize", "SummarizeClauseExpression": {"OperatorName": "argmax", "OperatorFieldName": "properties.createdAt", "FieldList": ["name"]}},
                {"$type": "count"},
                {"$type": "take", "TakeCount": 5}
            ])
        );
        // Sort keys keep their order in the serialised text.
        let text = q.clauses_string().unwrap();
        assert!(
            text.find("properties.createdAt\":\"desc").unwrap()
                < text.find("\"name\":\"asc").unwrap()
        );
    }

    #[test]
    fn bad_names_are_reported_not_sent() {
        for q in [
            ResourceQuery::new("T | take 1"),
            ResourceQuery::inventory().where_eq("type == 'a' or true", "x"),
            ResourceQuery::inventory().project(["name, secret"]),
            ResourceQuery::inventory().summarize_count("n = 1", ["type"]),
            ResourceQuery::inventory().where_op("type", Operator::In, "a"),
            ResourceQuery::inventory().where_in("type", Operator::Eq, ["a"]),
            ResourceQuery::inventory().where_in::<&str>("type", Operator::In, []),
            ResourceQuery::inventory().where_eq("x", f64::INFINITY),
            ResourceQuery::inventory().join(
                JoinKind::Inner,
                ResourceQuery::new("bad table"),
                "a",
                "b",
            ),
        ] {
            assert!(q.to_kql().is_err(), "{q:?}");
            assert!(q.clauses_json().is_err(), "{q:?}");
        }
    }
}

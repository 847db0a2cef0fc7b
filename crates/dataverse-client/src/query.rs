//! OData queries: `$select`, `$filter` with typed values, `$orderby`, `$expand`, `$top`,
//! `$count`, `$apply` and FetchXML.

use crate::Error;
use crate::filter::Filter;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

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
pub(crate) fn check_path(kind: &str, path: &str) -> Result<(), Error> {
    path.split('/').try_for_each(|p| check_name(kind, p))
}

/// The direction of a sort column ([`Query::order_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Smallest first (`asc`).
    #[default]
    Asc,
    /// Largest first (`desc`).
    Desc,
}

/// A query on one entity set: built without I/O, run with
/// [`DataverseClient::rows`](crate::DataverseClient::rows) or
/// [`pages`](crate::DataverseClient::pages).
///
/// ```
/// use dataverse_client::{Filter, Order, Query};
/// let q = Query::new("bots")
///     .select(["botid", "name"])
///     .filter(Filter::eq("statecode", 0))
///     .order_by("name", Order::Asc);
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

    /// Adds a sort column (`$orderby`), ascending or descending.
    pub fn order_by(mut self, col: &str, order: Order) -> Self {
        self.order_by.push((col.to_owned(), order == Order::Desc));
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
    pub fn count(mut self) -> Self {
        self.count = true;
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
    use crate::filter::{FilterValue, unquote};
    use proptest::prelude::*;
    use time::macros::{date, datetime};
    use uuid::Uuid;

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
            .order_by("modifiedon", Order::Desc)
            .expand("parentbotid", &["name"])
            .top(10)
            .count();
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

//! Query options (`$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand`, `$skiptoken`,
//! `$deltatoken`) and the `Prefer` header.

use axum::http::HeaderMap;
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use super::filter::{self, Expr};

/// One `$orderby` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderKey {
    pub(crate) column: String,
    pub(crate) desc: bool,
}

/// One `$expand` item with its nested options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpandOpt {
    pub(crate) nav: String,
    pub(crate) select: Option<Vec<String>>,
    pub(crate) filter: Option<Expr>,
    pub(crate) orderby: Vec<OrderKey>,
    pub(crate) top: Option<usize>,
}

/// Parsed system query options.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryOptions {
    pub(crate) select: Option<Vec<String>>,
    pub(crate) filter: Option<Expr>,
    pub(crate) orderby: Vec<OrderKey>,
    pub(crate) top: Option<usize>,
    pub(crate) count: bool,
    pub(crate) expand: Vec<ExpandOpt>,
    pub(crate) skiptoken: Option<String>,
    pub(crate) deltatoken: Option<String>,
    /// The options other than `$skiptoken` and `$deltatoken`, exactly as received (still
    /// percent-encoded), to build next and delta links.
    pub(crate) link_pairs: Vec<String>,
}

/// Percent-decodes one query component; `+` is a space, as form encoding writes it.
pub(crate) fn decode_component(raw: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            ApiError::odata(format!(
                "The query string '{raw}' is not valid UTF-8 once decoded."
            ))
        })
}

/// Splits `text` at `sep` outside quotes, parentheses and brackets.
pub(crate) fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_select(value: &str) -> Result<Vec<String>, ApiError> {
    let cols: Vec<String> = value.split(',').map(|c| c.trim().to_owned()).collect();
    if cols.iter().any(String::is_empty) {
        return Err(ApiError::odata(format!(
            "Syntax error: an empty column name in $select '{value}'."
        )));
    }
    Ok(cols)
}

fn parse_orderby(value: &str) -> Result<Vec<OrderKey>, ApiError> {
    let mut keys = Vec::new();
    for item in value.split(',') {
        let mut words = item.split_whitespace();
        let Some(column) = words.next() else {
            return Err(ApiError::odata(format!(
                "Syntax error in $orderby '{value}'."
            )));
        };
        let desc = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => {
                return Err(ApiError::odata(format!(
                    "Syntax error in $orderby '{value}'."
                )));
            }
        };
        if words.next().is_some() {
            return Err(ApiError::odata(format!(
                "Syntax error in $orderby '{value}'."
            )));
        }
        keys.push(OrderKey {
            column: column.to_owned(),
            desc,
        });
    }
    Ok(keys)
}

fn parse_top(value: &str) -> Result<usize, ApiError> {
    value.trim().parse::<usize>().map_err(|_| {
        ApiError::odata(format!("Invalid value '{value}' for $top query option found. The $top query option requires a non-negative integer value."))
    })
}

fn parse_expand(value: &str) -> Result<Vec<ExpandOpt>, ApiError> {
    let mut out = Vec::new();
    for item in split_top_level(value, ',') {
        let item = item.trim();
        let (nav, options) = match item.find('(') {
            Some(i) if item.ends_with(')') => (&item[..i], Some(&item[i + 1..item.len() - 1])),
            Some(_) => {
                return Err(ApiError::odata(format!(
                    "Syntax error in $expand '{value}'."
                )));
            }
            None => (item, None),
        };
        if nav.is_empty() {
            return Err(ApiError::odata(format!(
                "Syntax error in $expand '{value}'."
            )));
        }
        let mut opt = ExpandOpt {
            nav: nav.trim().to_owned(),
            select: None,
            filter: None,
            orderby: Vec::new(),
            top: None,
        };
        if let Some(options) = options {
            for part in split_top_level(options, ';') {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let Some((name, val)) = part.split_once('=') else {
                    return Err(ApiError::odata(format!(
                        "Syntax error in $expand '{value}'."
                    )));
                };
                match name.trim() {
                    "$select" => opt.select = Some(parse_select(val)?),
                    "$filter" => opt.filter = Some(filter::parse(val)?),
                    "$orderby" => opt.orderby = parse_orderby(val)?,
                    "$top" => opt.top = Some(parse_top(val)?),
                    "$expand" => {
                        return Err(ApiError::odata(
                            "Nested $expand is not supported by this emulator.",
                        ));
                    }
                    other => {
                        return Err(ApiError::odata(format!(
                            "The query option '{other}' is not supported inside $expand."
                        )));
                    }
                }
            }
        }
        out.push(opt);
    }
    Ok(out)
}

impl QueryOptions {
    /// Parses a raw (percent-encoded) query string.
    pub(crate) fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut q = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(raw_name)?;
            let value = decode_component(raw_value)?;
            if name.starts_with('$') {
                if seen.contains(&name) {
                    return Err(ApiError::odata(format!(
                        "Query option '{name}' was specified more than once, but it must be specified at most once."
                    )));
                }
                seen.push(name.clone());
            }
            match name.as_str() {
                "$select" => q.select = Some(parse_select(&value)?),
                "$filter" => q.filter = Some(filter::parse(&value)?),
                "$orderby" => q.orderby = parse_orderby(&value)?,
                "$top" => q.top = Some(parse_top(&value)?),
                "$count" => {
                    q.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::odata(format!(
                                "'{value}' is not a valid count option."
                            )));
                        }
                    }
                }
                "$expand" => q.expand = parse_expand(&value)?,
                "$skiptoken" => {
                    q.skiptoken = Some(value);
                    continue;
                }
                "$deltatoken" => {
                    q.deltatoken = Some(value);
                    continue;
                }
                n if n.starts_with('$') => {
                    return Err(ApiError::odata(format!(
                        "The query parameter {n} is not supported"
                    )));
                }
                // Saved and FetchXML queries would silently return unfiltered rows here.
                "fetchXml" | "savedQuery" | "userQuery" => {
                    return Err(ApiError::bad_request(
                        super::error::INVALID_ARGUMENT_CODE,
                        format!(
                            "The '{name}' query parameter is not supported by this emulator; use OData query options."
                        ),
                    ));
                }
                // Parameter aliases and custom options are passed through untouched.
                _ => {}
            }
            q.link_pairs.push(pair.to_owned());
        }
        Ok(q)
    }

    /// Whether any option other than `$select`/`$count` is present (refused with change tracking).
    pub(crate) fn first_tracking_conflict(&self) -> Option<&'static str> {
        if self.filter.is_some() {
            Some("$filter")
        } else if !self.orderby.is_empty() {
            Some("$orderby")
        } else if !self.expand.is_empty() {
            Some("$expand")
        } else if self.top.is_some() {
            Some("$top")
        } else {
            None
        }
    }
}

/// Splits a `Prefer` header at the commas outside double quotes: a quoted value such as
/// `odata.include-annotations="A,B"` holds a comma-separated list of its own.
fn split_preferences(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The preferences of a `Prefer` header (several may be comma separated, in one or more headers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Prefer {
    pub(crate) maxpagesize: Option<usize>,
    pub(crate) track_changes: bool,
    pub(crate) return_representation: bool,
    pub(crate) include_annotations: Option<String>,
    pub(crate) continue_on_error: bool,
}

impl Prefer {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let mut p = Self::default();
        for value in headers.get_all("prefer") {
            let Ok(text) = value.to_str() else { continue };
            for item in split_preferences(text) {
                let item = item.trim();
                let (name, val) = match item.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                    None => (item, None),
                };
                match (name, val) {
                    ("odata.maxpagesize", Some(v)) => {
                        // An unusable value is ignored, as HTTP preferences are hints.
                        if let Ok(n) = v.parse::<usize>()
                            && n > 0
                        {
                            p.maxpagesize = Some(n);
                        }
                    }
                    ("odata.track-changes", _) => p.track_changes = true,
                    ("return", Some("representation")) => p.return_representation = true,
                    ("odata.include-annotations", Some(v)) => {
                        p.include_annotations = Some(v.to_owned());
                    }
                    ("odata.continue-on-error", _) => p.continue_on_error = true,
                    _ => {}
                }
            }
        }
        p
    }

    /// Whether annotation `name` (e.g. `OData.Community.Display.V1.FormattedValue`) is asked for.
    pub(crate) fn wants_annotation(&self, name: &str) -> bool {
        let Some(list) = &self.include_annotations else {
            return false;
        };
        list.split(',').any(|pattern| {
            let pattern = pattern.trim();
            pattern == "*"
                || pattern == name
                || pattern
                    .strip_suffix(".*")
                    .is_some_and(|prefix| name.starts_with(prefix))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_encoded_options() {
        let q = QueryOptions::parse(
            "%24select=name,botid&$filter=name%20eq%20%27a%26b%27&$orderby=name+desc,botid&$top=3&$count=true",
        )
        .unwrap();
        assert_eq!(q.select.unwrap(), vec!["name", "botid"]);
        assert!(matches!(q.filter, Some(Expr::Cmp(..))));
        assert_eq!(q.orderby.len(), 2);
        assert!(q.orderby[0].desc);
        assert_eq!(q.top, Some(3));
        assert!(q.count);
        assert_eq!(q.link_pairs.len(), 5);
    }

    #[test]
    fn refuses_unknown_and_duplicate_options() {
        assert!(QueryOptions::parse("$skip=10").is_err());
        assert!(QueryOptions::parse("$top=1&$top=2").is_err());
        assert!(QueryOptions::parse("$top=x").is_err());
        assert!(QueryOptions::parse("$count=yes").is_err());
        assert!(QueryOptions::parse("$orderby=name sideways").is_err());
        assert!(QueryOptions::parse("fetchXml=%3Cfetch%2F%3E").is_err());
        assert!(QueryOptions::parse("custom=1").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_query_strings_never_panic(raw in "\\PC{0,80}") {
            let _ = QueryOptions::parse(&raw);
        }

        #[test]
        fn arbitrary_filters_never_panic(
            text in "[a-z0-9 ()',.=\\[\\]:TZ+-]{0,60}|\\PC{0,40}"
        ) {
            let _ = filter::parse(&text);
        }

        #[test]
        fn string_literals_round_trip(s in "\\PC{0,30}") {
            let literal = format!("name eq '{}'", s.replace('\'', "''"));
            let parsed = filter::parse(&literal).unwrap();
            let expected = filter::Expr::Cmp(
                filter::CmpOp::Eq,
                filter::Operand::Prop("name".into()),
                filter::Operand::Lit(filter::Lit::Str(s)),
            );
            proptest::prop_assert_eq!(parsed, expected);
        }
    }

    #[test]
    fn parses_expand_with_nested_options() {
        let q = QueryOptions::parse(
            "$expand=botcomponent_parent_bot($select=name,componenttype;$filter=componenttype eq 9;$orderby=name;$top=2),parentbotid",
        )
        .unwrap();
        assert_eq!(q.expand.len(), 2);
        assert_eq!(q.expand[0].nav, "botcomponent_parent_bot");
        assert_eq!(q.expand[0].top, Some(2));
        assert_eq!(q.expand[1].nav, "parentbotid");
    }

    #[test]
    fn prefer_header() {
        let mut h = HeaderMap::new();
        h.append(
            "prefer",
            HeaderValue::from_static("odata.maxpagesize=500,odata.include-annotations=\"*\""),
        );
        h.append("prefer", HeaderValue::from_static("odata.track-changes"));
        let p = Prefer::from_headers(&h);
        assert_eq!(p.maxpagesize, Some(500));
        assert!(p.track_changes);
        assert!(p.wants_annotation("OData.Community.Display.V1.FormattedValue"));
    }

    #[test]
    fn a_quoted_annotation_list_is_one_preference() {
        let mut h = HeaderMap::new();
        h.append(
            "prefer",
            HeaderValue::from_static(
                "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname\",odata.maxpagesize=7",
            ),
        );
        let p = Prefer::from_headers(&h);
        assert!(p.wants_annotation("OData.Community.Display.V1.FormattedValue"));
        assert!(p.wants_annotation("Microsoft.Dynamics.CRM.lookuplogicalname"));
        assert!(!p.wants_annotation("Microsoft.Dynamics.CRM.associatednavigationproperty"));
        assert_eq!(p.maxpagesize, Some(7));
    }
}

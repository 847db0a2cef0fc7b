//! The opaque `$skiptoken` paging cookie and the `$deltatoken`.
//!
//! The skiptoken looks like the real one: an XML element
//! `<cookie pagenumber="2" pagingcookie="..." istracking="False" />` whose `pagingcookie` holds a
//! percent-encoded inner cookie naming the last row of the previous page
//! (`<cookie page="1"><botid last="{...}" first="{...}" /></cookie>`). The position is kept as
//! key values (keyset paging), so concurrent writes never make a page repeat or skip rows that
//! were not themselves changed.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::Value;
use time::OffsetDateTime;

use super::error::{ApiError, INVALID_ARGUMENT_CODE};

/// Characters left alone when percent-encoding (RFC 3986 unreserved).
pub(crate) const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE).to_string()
}

/// The state a next link carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageCookie {
    /// The number of the page this cookie leads to.
    pub(crate) page: u32,
    /// Change tracking: `(since, upto)` versions; `since` is `None` on the initial full read.
    pub(crate) tracking: Option<(Option<u64>, u64)>,
    /// For delta pages: the version of the last change emitted.
    pub(crate) last_version: Option<u64>,
    /// For delta pages: whether the last change emitted was a deletion (they come last).
    pub(crate) last_deleted: bool,
    /// Ordering column values of the last row emitted, primary key last.
    pub(crate) last: Vec<(String, Value)>,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A start tag: its name and attributes.
type Tag = (String, Vec<(String, String)>);

/// Parses the start tags of a flat XML fragment.
fn parse_tags(s: &str) -> Option<Vec<Tag>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('<')?;
        if let Some(after) = rest.strip_prefix('/') {
            let end = after.find('>')?;
            rest = after[end + 1..].trim_start();
            continue;
        }
        let name_end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
        let name = rest[..name_end].to_owned();
        rest = &rest[name_end..];
        let mut attrs = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix("/>") {
                rest = after;
                break;
            }
            if let Some(after) = rest.strip_prefix('>') {
                rest = after;
                break;
            }
            let eq = rest.find('=')?;
            let attr = rest[..eq].trim().to_owned();
            rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
            let close = rest.find('"')?;
            attrs.push((attr, xml_unescape(&rest[..close])));
            rest = &rest[close + 1..];
        }
        out.push((name, attrs));
        rest = rest.trim_start();
    }
    Some(out)
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn bad_skiptoken() -> ApiError {
    ApiError::bad_request(
        INVALID_ARGUMENT_CODE,
        "The $skiptoken is invalid: the paging cookie is malformed, stale, or belongs to another query. Follow @odata.nextLink verbatim or start the query again.",
    )
}

impl PageCookie {
    /// The decoded `$skiptoken` value (the outer cookie XML).
    pub(crate) fn to_token(&self) -> String {
        let mut inner = format!("<cookie page=\"{}\"", self.page.saturating_sub(1));
        if let Some((since, upto)) = self.tracking {
            if let Some(since) = since {
                inner.push_str(&format!(" since=\"{since}\""));
            }
            inner.push_str(&format!(" upto=\"{upto}\""));
        }
        if let Some(v) = self.last_version {
            inner.push_str(&format!(" lastversion=\"{v}\""));
        }
        if self.last_deleted {
            inner.push_str(" lastdeleted=\"1\"");
        }
        inner.push('>');
        for (column, value) in &self.last {
            let text = match value {
                Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => format!("{{{s}}}"),
                other => other.to_string(),
            };
            inner.push_str(&format!("<{column} last=\"{}\" />", xml_escape(&text)));
        }
        inner.push_str("</cookie>");
        format!(
            "<cookie pagenumber=\"{}\" pagingcookie=\"{}\" istracking=\"{}\" />",
            self.page,
            encode(&inner),
            if self.tracking.is_some() {
                "True"
            } else {
                "False"
            }
        )
    }

    /// Parses a decoded `$skiptoken`; any damage is the 400 of [`bad_skiptoken`].
    pub(crate) fn from_token(token: &str) -> Result<Self, ApiError> {
        Self::parse(token).ok_or_else(bad_skiptoken)
    }

    fn parse(token: &str) -> Option<Self> {
        let outer = parse_tags(token)?;
        let [(name, attrs)] = outer.as_slice() else {
            return None;
        };
        if name != "cookie" {
            return None;
        }
        let page: u32 = attr(attrs, "pagenumber")?.parse().ok()?;
        let tracking_flag = match attr(attrs, "istracking")? {
            "True" => true,
            "False" => false,
            _ => return None,
        };
        let inner_raw = attr(attrs, "pagingcookie")?;
        let inner = percent_decode_str(inner_raw).decode_utf8().ok()?;
        let tags = parse_tags(&inner)?;
        let ((root, root_attrs), columns) = tags.split_first()?;
        if root != "cookie" {
            return None;
        }
        let since = match attr(root_attrs, "since") {
            Some(s) => Some(s.parse::<u64>().ok()?),
            None => None,
        };
        let upto = match attr(root_attrs, "upto") {
            Some(s) => Some(s.parse::<u64>().ok()?),
            None => None,
        };
        let tracking = match (tracking_flag, upto) {
            (true, Some(upto)) => Some((since, upto)),
            (false, None) if since.is_none() => None,
            _ => return None,
        };
        let last_version = match attr(root_attrs, "lastversion") {
            Some(s) => Some(s.parse::<u64>().ok()?),
            None => None,
        };
        let last_deleted = match attr(root_attrs, "lastdeleted") {
            None => false,
            Some("1") => true,
            Some(_) => return None,
        };
        let mut last = Vec::new();
        for (column, col_attrs) in columns {
            let text = attr(col_attrs, "last")?;
            let value = match text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(guid) if uuid::Uuid::parse_str(guid).is_ok() => {
                    Value::String(guid.to_ascii_lowercase())
                }
                _ => serde_json::from_str(text).ok()?,
            };
            last.push((column.clone(), value));
        }
        if last.is_empty() || page < 2 {
            return None;
        }
        Some(Self {
            page,
            tracking,
            last_version,
            last_deleted,
            last,
        })
    }
}

/// The result of reading a `$deltatoken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeltaToken {
    pub(crate) version: u64,
    pub(crate) issued: OffsetDateTime,
}

const TOKEN_TIME: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");

impl DeltaToken {
    /// `{version}!{MM/dd/yyyy HH:mm:ss}`, the shape real delta tokens have.
    pub(crate) fn to_token(self) -> String {
        let when = self.issued.format(TOKEN_TIME).unwrap_or_default();
        format!("{}!{when}", self.version)
    }

    pub(crate) fn parse(token: &str) -> Option<Self> {
        let (version, when) = token.split_once('!')?;
        let version = version.parse().ok()?;
        let issued = time::PrimitiveDateTime::parse(when, TOKEN_TIME)
            .ok()?
            .assume_utc();
        Some(Self { version, issued })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cookie_round_trips_through_url_encoding() {
        let c = PageCookie {
            page: 3,
            tracking: None,
            last_version: None,
            last_deleted: false,
            last: vec![
                ("name".into(), json!("a \"quoted\" <name> & more")),
                (
                    "botid".into(),
                    json!("6b04a11b-f5a3-4955-ac36-618cc896a838"),
                ),
            ],
        };
        let token = c.to_token();
        assert!(token.starts_with("<cookie pagenumber=\"3\" pagingcookie=\"%3Ccookie"));
        let url = encode(&token);
        let back = percent_decode_str(&url).decode_utf8().unwrap();
        assert_eq!(PageCookie::from_token(&back).unwrap(), c);
    }

    #[test]
    fn tracking_cookie_round_trips() {
        let c = PageCookie {
            page: 2,
            tracking: Some((Some(10), 20)),
            last_version: Some(15),
            last_deleted: true,
            last: vec![(
                "botid".into(),
                json!("6b04a11b-f5a3-4955-ac36-618cc896a838"),
            )],
        };
        assert_eq!(PageCookie::from_token(&c.to_token()).unwrap(), c);
    }

    #[test]
    fn garbled_cookies_are_refused() {
        for bad in [
            "",
            "garbage",
            "<cookie pagenumber=\"x\" pagingcookie=\"\" istracking=\"False\" />",
            "<cookie pagenumber=\"2\" pagingcookie=\"%3Ccookie%20page%3D%221%22%3E%3C%2Fcookie%3E\" istracking=\"False\" />",
            "<cookie pagenumber=\"2\" pagingcookie=\"%3Cnope\" istracking=\"False\" />",
        ] {
            assert!(PageCookie::from_token(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_skiptokens_never_panic(raw in "\\PC{0,120}") {
            let _ = PageCookie::from_token(&raw);
            let _ = DeltaToken::parse(&raw);
        }

        #[test]
        fn cookies_with_any_values_round_trip(name in "\\PC{0,20}", n in proptest::num::i64::ANY, page in 2u32..1000) {
            let c = PageCookie {
                page,
                tracking: None,
                last_version: None,
                last_deleted: false,
                last: vec![
                    ("name".into(), json!(name)),
                    ("n".into(), json!(n)),
                    ("botid".into(), json!("6b04a11b-f5a3-4955-ac36-618cc896a838")),
                ],
            };
            proptest::prop_assert_eq!(PageCookie::from_token(&c.to_token()).unwrap(), c);
        }
    }

    #[test]
    fn delta_token_shape() {
        let t = DeltaToken {
            version: 919042,
            issued: time::macros::datetime!(2017-08-22 08:10:44 UTC),
        };
        assert_eq!(t.to_token(), "919042!08/22/2017 08:10:44");
        assert_eq!(DeltaToken::parse(&t.to_token()), Some(t));
        assert_eq!(DeltaToken::parse("919042"), None);
    }
}

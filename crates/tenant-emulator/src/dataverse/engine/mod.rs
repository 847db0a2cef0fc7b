//! Request execution against the store, split by concern: [`path`] parses the URL path,
//! [`bind`] resolves names against the schema, [`project`] turns rows into JSON, [`read`] and
//! [`changes`] serve GETs (plain and change tracking) and [`write`] serves writes. HTTP and
//! `$batch` both call [`read()`] and [`write()`].

mod bind;
mod changes;
mod customize;
mod path;
mod project;
mod read;
mod write;

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::ApiError;
use super::filter::Lit;
use super::{Caller, DataverseConfig};

pub(crate) use customize::is_metadata_write;
pub(crate) use path::parse_path;
pub(crate) use read::read;
pub(crate) use write::write;

/// The largest page Dataverse serves, and the cap of `@odata.count`.
pub(crate) const MAX_PAGE: usize = 5000;

/// What a request runs with.
pub(crate) struct Ctx<'a> {
    /// `http://host/api/data/v9.2`, for absolute links.
    pub(crate) base: &'a str,
    pub(crate) caller: Option<&'a Caller>,
    pub(crate) config: &'a DataverseConfig,
    pub(crate) now: OffsetDateTime,
}

/// A request, from HTTP or from a `$batch` part.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// The path after `/api/data/v9.x/`, still percent-encoded.
    pub(crate) path: String,
    /// The raw query string.
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A response before it is written to HTTP or into a batch part.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

pub(crate) const JSON_TYPE: &str = "application/json; odata.metadata=minimal";

impl Resp {
    pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), JSON_TYPE.into())],
            body,
        }
    }

    pub(crate) fn value(status: StatusCode, body: &Value) -> Self {
        Self::json(status, serde_json::to_vec(body).unwrap_or_default())
    }

    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl From<ApiError> for Resp {
    fn from(err: ApiError) -> Self {
        Self::json(err.status, err.json_body())
    }
}

/// A key in parentheses: the primary key, or alternate key values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Id(Uuid),
    Alt(Vec<(String, Lit)>),
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    WhoAmI,
    Batch,
    OptionSet(Option<String>),
    EntityDefs(Option<String>, Vec<String>),
    Set {
        set: String,
        key: Option<Key>,
        rest: Vec<String>,
    },
}

pub(crate) fn format_datetime(dt: OffsetDateTime) -> String {
    let utc = dt.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    utc.format(&fmt).unwrap_or_default()
}

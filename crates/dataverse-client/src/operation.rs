//! One description of a Dataverse operation (method, target, headers, body, validation),
//! shared by single calls ([`DataverseClient::create`] and friends) and by `$batch`: both
//! build the same [`Operation`] with the same checks, so they cannot drift apart.

use crate::client::DataverseClient;
use crate::query::{Query, check_name, encode_query_value};
use crate::write::UpsertOptions;
use crate::{Error, Key};
use client_core::Request;
use http::Method;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

/// The `Content-ID` of an operation inside a change set; later operations of the same change
/// set refer to what it created with [`reference`](Self::reference) (`$n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentId(pub(crate) u32);

impl ContentId {
    /// The number sent as `Content-ID`.
    pub fn value(self) -> u32 {
        self.0
    }

    /// `$n`: usable as an operation target (`$1/nav/$ref`) or an `@odata.bind` value.
    pub fn reference(self) -> String {
        format!("${}", self.0)
    }
}

impl std::fmt::Display for ContentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One request to the Web API: what [`DataverseClient`]'s single-row calls send and what a
/// [`Batch`](crate::Batch) carries.
///
/// The typed constructors ([`get`](Self::get), [`create`](Self::create),
/// [`update`](Self::update), [`upsert`](Self::upsert), [`delete`](Self::delete),
/// [`query`](Self::query)) check their input once, when built; [`Operation::new`] covers
/// anything else (functions, actions, `$ref`). A problem found is reported when the operation
/// is sent, alone or in a batch, as [`Error::InvalidInput`], and nothing is sent.
///
/// ```
/// use dataverse_client::{Key, Operation};
/// let op = Operation::update("accounts", &Key::id(uuid::Uuid::nil()), &serde_json::json!({"name": "x"}));
/// assert_eq!(op.method(), &http::Method::PATCH);
/// assert_eq!(op.target(), "accounts(00000000-0000-0000-0000-000000000000)");
/// assert!(op.problem().is_none());
/// let bad = Operation::update("accounts", &Key::id(uuid::Uuid::nil()), &[1, 2]);
/// assert!(bad.problem().unwrap().contains("JSON object"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub(crate) method: Method,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
    pub(crate) content_id: Option<ContentId>,
    idempotent: Option<bool>,
    invalid: Option<String>,
}

impl Operation {
    /// A `method` request to `target`, a path under the API root as it goes on the wire
    /// (`accounts`, `bots(guid)/Microsoft.Dynamics.CRM.Publish`, `$1/contact_customer_accounts`).
    pub fn new(method: Method, target: &str) -> Self {
        let invalid = if target.is_empty()
            || target.starts_with('/')
            || target.contains("://")
            || target.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            Some(format!(
                "operation target `{}` is not valid: give an encoded path under the API root, \
                 without spaces, e.g. accounts(guid)",
                target.escape_debug()
            ))
        } else {
            None
        };
        Operation {
            method,
            target: target.to_owned(),
            headers: vec![("Accept".to_owned(), "application/json".to_owned())],
            body: None,
            content_id: None,
            idempotent: None,
            invalid,
        }
    }

    /// Reads one row (`GET set(key)?$select=`; every column when `select` is empty).
    pub fn get(entity_set: &str, key: &Key, select: &[&str]) -> Self {
        let target = key.path(entity_set).and_then(|mut p| {
            if !select.is_empty() {
                for c in select {
                    check_name("selected column", c)?;
                }
                let _ = write!(p, "?$select={}", encode_query_value(&select.join(",")));
            }
            Ok(p)
        });
        Self::checked(Method::GET, target)
    }

    /// Runs a query (its first page; a `$batch` does not follow next links).
    pub fn query(query: &Query) -> Self {
        let target = query.query_string().map(|qs| {
            if qs.is_empty() {
                query.entity_set().to_owned()
            } else {
                format!("{}?{qs}", query.entity_set())
            }
        });
        let op = Self::checked(Method::GET, target);
        match query.preferences(None, None) {
            Ok(Some(p)) => op.header("Prefer", &p),
            Ok(None) => op,
            Err(e) => op.failed(e),
        }
    }

    /// Creates a row from `body` (anything that serialises to a JSON object of columns).
    pub fn create(entity_set: &str, body: &(impl Serialize + ?Sized)) -> Self {
        let target = check_name("entity set", entity_set).map(|()| entity_set.to_owned());
        Self::checked(Method::POST, target).row_body(body, None)
    }

    /// Updates an existing row (`PATCH` with `If-Match: *`, so a missing row is a 404 instead
    /// of a silent create). Key columns must not be repeated in `body`.
    pub fn update(entity_set: &str, key: &Key, body: &(impl Serialize + ?Sized)) -> Self {
        let mut op = Self::checked(Method::PATCH, key.path(entity_set))
            .header("If-Match", "*")
            .row_body(body, Some(key));
        // Updating twice with the same body leaves the same row.
        op.idempotent = Some(true);
        op
    }

    /// Creates or updates the row at `key` as `opts` says. Key columns must not be repeated in
    /// `body`.
    pub fn upsert(
        entity_set: &str,
        key: &Key,
        body: &(impl Serialize + ?Sized),
        opts: &UpsertOptions,
    ) -> Self {
        let mut op = Self::checked(Method::PATCH, key.path(entity_set));
        for (name, value) in opts.headers() {
            op = op.header(name, &value);
        }
        let mut op = op.row_body(body, Some(key));
        // A plain or update-only upsert sent twice leaves the same row: safe to retry after a
        // lost reply. Create-only and ETag upserts would fail the second time.
        op.idempotent = Some(opts.is_repeatable());
        op
    }

    /// Deletes a row.
    pub fn delete(entity_set: &str, key: &Key) -> Self {
        Self::checked(Method::DELETE, key.path(entity_set))
    }

    /// Adds a header to the request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        // A line break would end the header block and smuggle in a request of its own.
        let bad = |s: &str| s.contains(['\r', '\n']);
        if name.is_empty() || bad(name) || bad(value) || name.contains(':') {
            self.invalid.get_or_insert_with(|| {
                format!("operation header `{}` is not valid", name.escape_debug())
            });
        } else {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Sets a JSON body (sent as `application/json`; `application/json; type=entry` in a
    /// batch). A value that does not serialise makes the operation invalid.
    pub fn json(mut self, body: impl Serialize) -> Self {
        match serde_json::to_value(body) {
            Ok(v) => self.body = Some(v),
            Err(e) => {
                self.invalid
                    .get_or_insert_with(|| format!("the body cannot be serialised as JSON: {e}"));
            }
        }
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The target path.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The body, if any.
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// The `Content-ID`, for operations in a change set.
    pub fn content_id(&self) -> Option<ContentId> {
        self.content_id
    }

    /// What is wrong with the operation, if its input failed a check.
    pub fn problem(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    /// `Ok` when the operation may be sent, else the [`Error::InvalidInput`] it fails with.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.invalid {
            Some(problem) => Err(Error::invalid(problem.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn failed(mut self, e: Error) -> Self {
        self.invalid.get_or_insert_with(|| e.to_string());
        self
    }

    /// An operation on `target`, or one that reports why there is none.
    fn checked(method: Method, target: Result<String, Error>) -> Self {
        match target {
            Ok(target) => Self::new(method, &target),
            Err(e) => Self::new(method, "invalid").failed(e),
        }
    }

    /// Sets a row body: a JSON object that does not repeat the key's columns.
    fn row_body(self, body: &(impl Serialize + ?Sized), key: Option<&Key>) -> Self {
        let op = self.json(body);
        let problem = match &op.body {
            Some(Value::Object(map)) => key.and_then(|k| {
                k.columns().find(|c| map.contains_key(*c)).map(|col| {
                    format!(
                        "the body repeats key column `{col}`: Dataverse takes key columns from \
                         the URL only; remove it from the body"
                    )
                })
            }),
            Some(_) => Some("the row body must be a JSON object of column names to values".into()),
            None => None,
        };
        match problem {
            Some(p) => op.failed(Error::invalid(p)),
            None => op,
        }
    }
}

impl DataverseClient {
    /// The HTTP request `op` describes, when sent on its own.
    pub(crate) fn request_for(&self, op: &Operation) -> Result<Request, Error> {
        op.check()?;
        let mut req = self.request(op.method.clone(), self.url(&op.target)?);
        for (name, value) in &op.headers {
            // `request` already asks for JSON.
            if !name.eq_ignore_ascii_case("accept") {
                req = req.header(name, value);
            }
        }
        if let Some(idempotent) = op.idempotent {
            req = req.idempotent(idempotent);
        }
        if let Some(body) = &op.body {
            req = req.json(body);
        }
        Ok(req)
    }
}

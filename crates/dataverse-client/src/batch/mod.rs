//! `$batch`: atomic change sets and `Content-ID` references over the same [`Operation`]s the
//! single-row calls send.
//!
//! - this module: the [`Batch`] model and sending it;
//! - [`multipart`]: the multipart/mixed writer and reader;
//! - [`result`]: one [`BatchResult`] per operation, matched from the response parts.

mod multipart;
mod result;
#[cfg(test)]
mod tests;

pub use result::{BatchOutcome, BatchResponse, BatchResult};

use crate::client::DataverseClient;
use crate::operation::{ContentId, Operation};
use crate::query::Query;
use crate::write::UpsertOptions;
use crate::{Error, Key};
use http::Method;
use multipart::{boundary_of, parse_response, write_batch};
use result::{match_results, result};
use serde::Serialize;
use uuid::Uuid;

/// The most operations Dataverse accepts in one `$batch`; larger batches are split.
pub const MAX_BATCH_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Single(Operation),
    ChangeSet(Vec<Operation>),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Single(_) => 1,
            Item::ChangeSet(ops) => ops.len(),
        }
    }
}

/// A `$batch` request: single operations and atomic change sets, sent with
/// [`DataverseClient::batch`].
///
/// ```
/// use dataverse_client::{Batch, Key};
/// use serde_json::json;
/// let mut batch = Batch::new();
/// batch.get("bots", &Key::id(uuid::Uuid::nil()), &["name"]);
/// let mut cs = batch.change_set();
/// let account = cs.create("accounts", json!({"name": "Contoso"}));
/// cs.create("contacts", json!({
///     "lastname": "Smith",
///     "parentcustomerid_account@odata.bind": account.reference(),
/// }));
/// assert_eq!(batch.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    items: Vec<Item>,
    next_content_id: u32,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.items.iter().map(Item::len).sum()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an operation outside any change set; returns its index in the results.
    pub fn push(&mut self, op: Operation) -> usize {
        let index = self.len();
        self.items.push(Item::Single(op));
        index
    }

    /// Reads one row (`GET set(key)?$select=`).
    pub fn get(&mut self, entity_set: &str, key: &Key, select: &[&str]) -> usize {
        self.push(Operation::get(entity_set, key, select))
    }

    /// Runs a query and returns its first page (a `$batch` does not follow next links).
    pub fn query(&mut self, query: &Query) -> usize {
        self.push(Operation::query(query))
    }

    /// Creates a row.
    pub fn create(&mut self, entity_set: &str, body: impl Serialize) -> usize {
        self.push(Operation::create(entity_set, &body))
    }

    /// Updates an existing row (`If-Match: *`).
    pub fn update(&mut self, entity_set: &str, key: &Key, body: impl Serialize) -> usize {
        self.push(Operation::update(entity_set, key, &body))
    }

    /// Creates or updates a row as `opts` says.
    pub fn upsert(
        &mut self,
        entity_set: &str,
        key: &Key,
        body: impl Serialize,
        opts: &UpsertOptions,
    ) -> usize {
        self.push(Operation::upsert(entity_set, key, &body, opts))
    }

    /// Deletes a row.
    pub fn delete(&mut self, entity_set: &str, key: &Key) -> usize {
        self.push(Operation::delete(entity_set, key))
    }

    /// Starts an atomic change set: all its operations succeed or none does. Reads (GET) are
    /// not allowed in a change set.
    pub fn change_set(&mut self) -> ChangeSet<'_> {
        self.items.push(Item::ChangeSet(Vec::new()));
        ChangeSet { batch: self }
    }

    /// The operations in order, flattened.
    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.items.iter().flat_map(|i| match i {
            Item::Single(op) => std::slice::from_ref(op),
            Item::ChangeSet(ops) => ops.as_slice(),
        })
    }

    fn check(&self) -> Result<(), Error> {
        for item in &self.items {
            if let Item::ChangeSet(ops) = item {
                if ops.is_empty() {
                    return Err(Error::invalid(
                        "a change set of the batch has no operations",
                    ));
                }
                if ops.len() > MAX_BATCH_OPERATIONS {
                    return Err(Error::invalid(format!(
                        "a change set has {} operations; Dataverse allows at most {MAX_BATCH_OPERATIONS} \
                         in one batch, and a change set cannot be split",
                        ops.len()
                    )));
                }
                if ops.iter().any(|op| op.method == Method::GET) {
                    return Err(Error::invalid(
                        "a change set cannot contain a GET; read outside the change set",
                    ));
                }
            }
        }
        // The same checks a single call makes, found when the operation was built.
        self.operations().try_for_each(Operation::check)
    }

    /// Splits the items into groups of at most `max` operations, keeping change sets whole.
    fn chunks(&self, max: usize) -> Vec<&[Item]> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut count = 0;
        for (i, item) in self.items.iter().enumerate() {
            if count + item.len() > max && i > start {
                out.push(&self.items[start..i]);
                start = i;
                count = 0;
            }
            count += item.len();
        }
        if start < self.items.len() {
            out.push(&self.items[start..]);
        }
        out
    }
}

/// An atomic change set being added to a [`Batch`]; see [`Batch::change_set`].
#[derive(Debug)]
pub struct ChangeSet<'a> {
    batch: &'a mut Batch,
}

impl ChangeSet<'_> {
    /// Adds an operation and returns its `Content-ID`.
    pub fn push(&mut self, mut op: Operation) -> ContentId {
        self.batch.next_content_id += 1;
        let id = ContentId(self.batch.next_content_id);
        op.content_id = Some(id);
        if let Some(Item::ChangeSet(ops)) = self.batch.items.last_mut() {
            ops.push(op);
        }
        id
    }

    /// Creates a row.
    pub fn create(&mut self, entity_set: &str, body: impl Serialize) -> ContentId {
        self.push(Operation::create(entity_set, &body))
    }

    /// Updates an existing row (`If-Match: *`).
    pub fn update(&mut self, entity_set: &str, key: &Key, body: impl Serialize) -> ContentId {
        self.push(Operation::update(entity_set, key, &body))
    }

    /// Creates or updates a row as `opts` says.
    pub fn upsert(
        &mut self,
        entity_set: &str,
        key: &Key,
        body: impl Serialize,
        opts: &UpsertOptions,
    ) -> ContentId {
        self.push(Operation::upsert(entity_set, key, &body, opts))
    }

    /// Deletes a row.
    pub fn delete(&mut self, entity_set: &str, key: &Key) -> ContentId {
        self.push(Operation::delete(entity_set, key))
    }
}

/// Whether a batch goes on after a failed operation.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BatchMode {
    /// Stop at the first failure (the service's default); later operations are
    /// [`BatchOutcome::NotExecuted`].
    #[default]
    StopOnError,
    /// Run every operation (`Prefer: odata.continue-on-error`).
    ContinueOnError,
}

impl DataverseClient {
    /// Sends `batch` as one or more `$batch` requests (at most [`MAX_BATCH_OPERATIONS`]
    /// operations each, change sets kept whole) and returns one result per operation, in
    /// order. An `Err` means a whole request failed (transport, authentication, throttling
    /// after retries, an unreadable response); the results say which operations failed and
    /// why. With [`BatchMode::StopOnError`], operations after a failure are
    /// [`BatchOutcome::NotExecuted`] and no further request is sent.
    ///
    /// ```no_run
    /// use dataverse_client::{Batch, BatchMode, BatchOutcome, Key};
    /// use serde_json::json;
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let mut batch = Batch::new();
    /// let mut cs = batch.change_set();
    /// let account = cs.create("accounts", json!({"name": "Contoso"}));
    /// cs.create("contacts", json!({"lastname": "Smith", "parentcustomerid_account@odata.bind": account.reference()}));
    /// for r in client.batch(batch, BatchMode::ContinueOnError).await? {
    ///     match r.outcome {
    ///         BatchOutcome::Succeeded(resp) => println!("{}: created {:?}", r.index, resp.entity_id()),
    ///         BatchOutcome::Failed(e) => println!("{}: {e}", r.index),
    ///         other => println!("{}: {other:?}", r.index),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn batch(&self, batch: Batch, mode: BatchMode) -> Result<Vec<BatchResult>, Error> {
        self.batch_with_limit(batch, mode, MAX_BATCH_OPERATIONS)
            .await
    }

    async fn batch_with_limit(
        &self,
        batch: Batch,
        mode: BatchMode,
        max: usize,
    ) -> Result<Vec<BatchResult>, Error> {
        batch.check()?;
        let mut results = Vec::with_capacity(batch.len());
        let mut stopped = false;
        for chunk in batch.chunks(max) {
            if stopped {
                for op in chunk.iter().flat_map(|i| match i {
                    Item::Single(op) => std::slice::from_ref(op),
                    Item::ChangeSet(ops) => ops.as_slice(),
                }) {
                    results.push(result(results.len(), op, BatchOutcome::NotExecuted));
                }
                continue;
            }
            let (chunk_results, failed) = self.send_batch(chunk, mode, results.len()).await?;
            tracing::debug!(operations = chunk_results.len(), failed, "$batch answered");
            results.extend(chunk_results);
            stopped = failed && mode == BatchMode::StopOnError;
        }
        Ok(results)
    }

    async fn send_batch(
        &self,
        items: &[Item],
        mode: BatchMode,
        first_index: usize,
    ) -> Result<(Vec<BatchResult>, bool), Error> {
        let api_path = self.api_url().path().to_owned();
        let (boundary, body) = loop {
            let boundary = format!("batch_{}", Uuid::new_v4().simple());
            let body = write_batch(items, &boundary, &api_path);
            // A body containing the boundary would cut a part short; a fresh one fixes that.
            if body.matches(&boundary).count() == items.len() + 1 {
                break (boundary, body);
            }
        };
        let mut req = self
            .request(Method::POST, self.url("$batch")?)
            .body(body, &format!("multipart/mixed; boundary=\"{boundary}\""));
        if mode == BatchMode::ContinueOnError {
            req = req.header("prefer", "odata.continue-on-error");
        }
        let resp = self.inner.pipeline.send_raw(req).await?;
        let now = self.inner.pipeline.clock().now();
        let response_boundary = resp
            .header("content-type")
            .and_then(boundary_of)
            .map(str::to_owned);
        let Some(response_boundary) = response_boundary else {
            // Not multipart: the whole request failed (or answered something unexpected).
            if resp.status().is_success() {
                return Err(Error::malformed_batch(format!(
                    "HTTP {} with content type {:?} instead of multipart/mixed",
                    resp.status(),
                    resp.header("content-type").unwrap_or("")
                )));
            }
            return Err(resp.into_service_error(&Method::POST, now).into());
        };
        let text = String::from_utf8_lossy(resp.body());
        let responses =
            parse_response(&text, &response_boundary).map_err(Error::malformed_batch)?;
        match_results(items, responses, first_index, now)
    }
}

//! Change tracking: an initial sync that ends with a delta link, then the changes since.

use crate::Error;
use crate::client::DataverseClient;
use crate::error::without_query;
use crate::paging::{Fetched, Mode, Pager};
use crate::query::{check_name, encode_query_value, prefer_header};
use futures::stream::{BoxStream, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use uuid::Uuid;

/// Where to read the next changes from (`@odata.deltaLink`, verbatim). Treat it as opaque;
/// it serialises as a plain string so it can be stored between runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeltaLink(String);

impl DeltaLink {
    /// A delta link saved earlier.
    pub fn new(link: impl Into<String>) -> Self {
        DeltaLink(link.into())
    }

    /// The link as the service gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeltaLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One change read from a tracked table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A row created or changed since the last read (during the initial sync: every row).
    Upsert(Value),
    /// A row deleted since the last read (`$deletedEntity`).
    Deleted {
        /// The deleted row's primary id.
        id: Uuid,
    },
}

/// Everything one change tracking read returned.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Changes {
    /// The changes, in the order the service sent them.
    pub changes: Vec<Change>,
    /// Where to read the next changes from.
    pub delta_link: DeltaLink,
}

/// What the first read of a table with [`ChangeStream::read_initial`] returned: every row,
/// and the link for the next read when the service tracks the table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InitialSync {
    /// Every current row, in the order the service sent them.
    pub rows: Vec<Value>,
    /// Where to read the changes from next time; `None` when the table is not change-tracked
    /// (the service ignored `Prefer: odata.track-changes`), so the next read is a full one too.
    pub delta_link: Option<DeltaLink>,
}

impl InitialSync {
    /// Whether the service tracks changes of the table (a delta link came back).
    pub fn is_tracked(&self) -> bool {
        self.delta_link.is_some()
    }
}

/// A lazy stream of [`Change`]s across all pages of a change tracking read. When it ends
/// without error, [`delta_link`](Self::delta_link) holds the link for the next read.
///
/// A response without `@odata.deltaLink` ends the stream with [`Error::MissingDeltaLink`]
/// (see [`is_tracked`](Self::is_tracked) to tell a table the service does not track);
/// an expired or invalid delta token with [`Error::DeltaTokenExpired`] (start a full sync).
pub struct ChangeStream {
    pages: BoxStream<'static, Result<Fetched<Value>, Error>>,
    buffer: VecDeque<Change>,
    delta_link: Option<DeltaLink>,
    tracked: Option<bool>,
    url: String,
    finished: bool,
}

impl std::fmt::Debug for ChangeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeStream")
            .field("url", &self.url)
            .field("delta_link", &self.delta_link)
            .finish()
    }
}

impl ChangeStream {
    fn new(client: &DataverseClient, first: Result<url::Url, Error>, url: String) -> Self {
        let prefer = prefer_header(true, client.inner.page_size, None)
            .ok()
            .flatten();
        let pager = Pager::new(client.clone(), first, prefer, Mode::Delta);
        ChangeStream {
            pages: pager.into_stream::<Value>(),
            buffer: VecDeque::new(),
            delta_link: None,
            tracked: None,
            url,
            finished: false,
        }
    }

    /// The link for the next read, once the stream has ended without error.
    pub fn delta_link(&self) -> Option<&DeltaLink> {
        self.delta_link.as_ref()
    }

    /// Whether the service tracks the table, once the first page has come: `Some(true)` when
    /// it answered with `Preference-Applied: odata.track-changes` or a delta link, `Some(false)`
    /// when it ignored the preference (change tracking is off for the table: the rows are
    /// all current rows, and no delta link will come). `None` before the first page.
    pub fn is_tracked(&self) -> Option<bool> {
        self.tracked
    }

    /// Reads a first sync ([`DataverseClient::track_changes`]) to the end: every row and the
    /// delta link, or, when the service does not track the table (no `Preference-Applied:
    /// odata.track-changes` and no delta link), every row and no link, so the caller neither
    /// loses the rows nor reads the table twice. A table the service says it tracks but whose
    /// read ends without a delta link is [`Error::MissingDeltaLink`].
    ///
    /// ```no_run
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let sync = client.track_changes("bots", &["botid", "name"]).read_initial().await?;
    /// match &sync.delta_link {
    ///     Some(link) => println!("{} rows; next time read {link}", sync.rows.len()),
    ///     None => println!("{} rows; bots is not change-tracked here", sync.rows.len()),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn read_initial(mut self) -> Result<InitialSync, Error> {
        let mut rows = Vec::new();
        loop {
            while let Some(c) = self.buffer.pop_front() {
                match c {
                    Change::Upsert(row) => rows.push(row),
                    // A first sync has no deletions; one here would be a delta read.
                    Change::Deleted { id } => {
                        return Err(Error::decode(
                            "a first change tracking read",
                            format!("it holds a deleted row ({id}): read it with changes_since"),
                        ));
                    }
                }
            }
            if self.finished {
                break;
            }
            match self.pages.next().await {
                Some(page) => self.take_page(page?)?,
                None => self.finished = true,
            }
        }
        match (self.delta_link, self.tracked) {
            (Some(link), _) => Ok(InitialSync {
                rows,
                delta_link: Some(link),
            }),
            (None, Some(false)) => {
                tracing::info!(url = %self.url, "the table is not change-tracked: read in full");
                Ok(InitialSync {
                    rows,
                    delta_link: None,
                })
            }
            (None, _) => Err(Error::missing_delta_link(self.url)),
        }
    }

    /// Takes one page's delta link, tracking flag and rows into the stream's state.
    fn take_page(&mut self, page: Fetched<Value>) -> Result<(), Error> {
        if self.tracked.is_none() {
            self.tracked = Some(page.tracking_applied || page.delta_link.is_some());
        }
        if let Some(link) = page.delta_link {
            self.delta_link = Some(DeltaLink(link));
            self.tracked = Some(true);
        }
        for row in page.rows {
            match to_change(row) {
                Ok(c) => self.buffer.push_back(c),
                Err(e) => {
                    self.finished = true;
                    self.buffer.clear();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Reads every change and the new delta link.
    ///
    /// ```no_run
    /// # async fn run(client: dataverse_client::DataverseClient, saved: dataverse_client::DeltaLink) -> Result<(), dataverse_client::Error> {
    /// let changes = client.changes_since(saved).read_all().await?;
    /// println!("{} changes; next time read {}", changes.changes.len(), changes.delta_link);
    /// # Ok(()) }
    /// ```
    pub async fn read_all(mut self) -> Result<Changes, Error> {
        let mut changes = Vec::new();
        while let Some(c) = self.next().await {
            changes.push(c?);
        }
        let delta_link = self
            .delta_link
            .ok_or_else(|| Error::missing_delta_link(self.url))?;
        Ok(Changes {
            changes,
            delta_link,
        })
    }
}

/// Reads one row of a delta response. A deleted row is the OData 4.0 form Dataverse sends
/// (`@odata.context` ending in `$deletedEntity`, with `id` and `reason`), or the OData 4.01
/// form (`@removed`, with the id in `@id` as `set(guid)` or in `id`).
fn to_change(row: Value) -> Result<Change, Error> {
    let deleted = row
        .get("@odata.context")
        .and_then(Value::as_str)
        .is_some_and(|c| c.ends_with("$deletedEntity"))
        || row.get("@removed").is_some();
    if !deleted {
        return Ok(Change::Upsert(row));
    }
    let id = row
        .get("id")
        .or_else(|| row.get("@id"))
        .or_else(|| row.get("@odata.id"))
        .and_then(Value::as_str)
        .and_then(guid_in)
        .ok_or_else(|| {
            Error::decode(
                "a $deletedEntity entry",
                format!("it has no GUID `id`: {row}"),
            )
        })?;
    Ok(Change::Deleted { id })
}

/// A GUID alone, or the key of an entity id such as `.../bots(guid)`.
fn guid_in(s: &str) -> Option<Uuid> {
    let s = s.trim();
    if let Ok(id) = Uuid::parse_str(s) {
        return Some(id);
    }
    let inner = s.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    Uuid::parse_str(&inner[open + 1..]).ok()
}

impl Stream for ChangeStream {
    type Item = Result<Change, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(c) = self.buffer.pop_front() {
                return Poll::Ready(Some(Ok(c)));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            match self.pages.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(page))) => {
                    if let Err(e) = self.take_page(page) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(None) => {
                    self.finished = true;
                    if self.delta_link.is_none() {
                        let url = self.url.clone();
                        return Poll::Ready(Some(Err(Error::missing_delta_link(url))));
                    }
                }
            }
        }
    }
}

impl DataverseClient {
    /// Starts tracking changes of `entity_set` (`Prefer: odata.track-changes`): streams every
    /// current row as [`Change::Upsert`], then [`ChangeStream::delta_link`] gives the link for
    /// [`changes_since`](Self::changes_since). `$filter`, `$orderby`, `$expand` and `$top` are
    /// not allowed with change tracking, so only columns can be chosen. The table must have
    /// change tracking enabled
    /// ([`change_tracking_enabled`](Self::change_tracking_enabled)).
    ///
    /// ```no_run
    /// use dataverse_client::Change;
    /// use futures::TryStreamExt;
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let mut stream = client.track_changes("bots", &["botid", "name"]);
    /// while let Some(change) = stream.try_next().await? {
    ///     if let Change::Upsert(row) = change {
    ///         println!("{}", row["name"]);
    ///     }
    /// }
    /// let saved = stream.delta_link().cloned(); // store it for the next run
    /// # let _ = saved;
    /// # Ok(()) }
    /// ```
    pub fn track_changes(&self, entity_set: &str, select: &[&str]) -> ChangeStream {
        let first = (|| {
            check_name("entity set", entity_set)?;
            for c in select {
                check_name("selected column", c)?;
            }
            let relative = if select.is_empty() {
                entity_set.to_owned()
            } else {
                format!(
                    "{entity_set}?$select={}",
                    encode_query_value(&select.join(","))
                )
            };
            self.url(&relative)
        })();
        let url = first
            .as_ref()
            .map(|u| without_query(u.as_str()))
            .unwrap_or_else(|_| entity_set.to_owned());
        ChangeStream::new(self, first, url)
    }

    /// Reads the changes since `delta_link`: changed or new rows as [`Change::Upsert`],
    /// deleted rows as [`Change::Deleted`], then the new delta link. An expired token ends
    /// with [`Error::DeltaTokenExpired`]: drop it and call
    /// [`track_changes`](Self::track_changes) again.
    ///
    /// ```no_run
    /// use dataverse_client::{Change, Error};
    /// # async fn run(client: dataverse_client::DataverseClient, saved: dataverse_client::DeltaLink) -> Result<(), dataverse_client::Error> {
    /// match client.changes_since(saved).read_all().await {
    ///     Ok(c) => {
    ///         for change in c.changes {
    ///             match change {
    ///                 Change::Upsert(row) => println!("changed {}", row["botid"]),
    ///                 Change::Deleted { id } => println!("deleted {id}"),
    ///                 _ => {}
    ///             }
    ///         }
    ///     }
    ///     Err(e) if e.is_delta_token_expired() => { /* full sync with track_changes */ }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn changes_since(&self, delta_link: DeltaLink) -> ChangeStream {
        let first = self.resolve_link("the delta link", delta_link.as_str());
        ChangeStream::new(self, first, without_query(delta_link.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_entities_are_recognised() {
        let row = serde_json::json!({
            "@odata.context": "https://o/api/data/v9.2/$metadata#bots/$deletedEntity",
            "id": "00000000-0000-0000-0000-000000000009",
            "reason": "deleted"
        });
        assert_eq!(
            to_change(row).unwrap(),
            Change::Deleted {
                id: Uuid::from_u128(9)
            }
        );
        let bad = serde_json::json!({"@odata.context": "x/$deletedEntity", "id": "nope"});
        assert!(to_change(bad).is_err());
        let up = serde_json::json!({"botid": "1"});
        assert_eq!(to_change(up.clone()).unwrap(), Change::Upsert(up));
        // The OData 4.01 form.
        let removed = serde_json::json!({
            "@removed": {"reason": "deleted"},
            "@id": "https://o/api/data/v9.2/bots(00000000-0000-0000-0000-00000000000a)"
        });
        assert_eq!(
            to_change(removed).unwrap(),
            Change::Deleted {
                id: Uuid::from_u128(10)
            }
        );
    }
}

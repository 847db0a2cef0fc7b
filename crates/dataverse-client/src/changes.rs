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

/// A lazy stream of [`Change`]s across all pages of a change tracking read. When it ends
/// without error, [`delta_link`](Self::delta_link) holds the link for the next read.
///
/// A response without `@odata.deltaLink` ends the stream with [`Error::MissingDeltaLink`];
/// an expired or invalid delta token with [`Error::DeltaTokenExpired`] (start a full sync).
pub struct ChangeStream {
    pages: BoxStream<'static, Result<Fetched<Value>, Error>>,
    buffer: VecDeque<Change>,
    delta_link: Option<DeltaLink>,
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
            url,
            finished: false,
        }
    }

    /// The link for the next read, once the stream has ended without error.
    pub fn delta_link(&self) -> Option<&DeltaLink> {
        self.delta_link.as_ref()
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

/// Reads one row of a delta response.
fn to_change(row: Value) -> Result<Change, Error> {
    let deleted = row
        .get("@odata.context")
        .and_then(Value::as_str)
        .is_some_and(|c| c.ends_with("$deletedEntity"));
    if !deleted {
        return Ok(Change::Upsert(row));
    }
    let id = row
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            Error::decode(
                "a $deletedEntity entry",
                format!("it has no GUID `id`: {row}"),
            )
        })?;
    Ok(Change::Deleted { id })
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
                    if let Some(link) = page.delta_link {
                        self.delta_link = Some(DeltaLink(link));
                    }
                    for row in page.rows {
                        match to_change(row) {
                            Ok(c) => self.buffer.push_back(c),
                            Err(e) => {
                                self.finished = true;
                                self.buffer.clear();
                                return Poll::Ready(Some(Err(e)));
                            }
                        }
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
    }
}

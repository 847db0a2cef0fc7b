//! Lazy `@odata.nextLink` paging with a resumable continuation.

use crate::security_copilot::RateLimiter;
use crate::{Error, GraphClient};
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use url::Url;

/// One page of a collection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// `@odata.count`, when the query asked for it.
    pub count: Option<u64>,
    continuation: Option<Continuation>,
}

impl<T> Page<T> {
    /// Where to resume after this page (save it, pass it to [`GraphClient::pages_from`]);
    /// `None` on the last page.
    pub fn continuation(&self) -> Option<&Continuation> {
        self.continuation.as_ref()
    }
}

/// A saved position in a paged read: the next link, verbatim, and whether the read needs
/// `ConsistencyLevel: eventual`. Serialisable, so a long export resumes after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    next_link: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    eventual: bool,
}

impl Continuation {
    /// The next link (`@odata.nextLink`).
    pub fn next_link(&self) -> &str {
        &self.next_link
    }
}

/// What to read first: a URL and whether it needs `ConsistencyLevel: eventual`
/// (advanced queries: `$count`, `$search`, `ne`/`not`/`endsWith` filters on directory objects).
#[derive(Debug, Clone)]
pub struct CollectionRequest {
    pub(crate) url: Url,
    pub(crate) eventual: bool,
}

impl CollectionRequest {
    /// A read of `url` (absolute, e.g. from [`GraphClient::url`]).
    pub fn new(url: Url) -> Self {
        Self {
            url,
            eventual: false,
        }
    }

    /// Sends `ConsistencyLevel: eventual` on every page (needed for advanced queries).
    pub fn eventual_consistency(mut self) -> Self {
        self.eventual = true;
        self
    }

    /// The first URL.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
struct PageBody<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
}

struct Pager {
    client: GraphClient,
    next: Option<Result<Url, Error>>,
    eventual: bool,
    seen: HashSet<String>,
    /// A client-side rate limit every page waits for (Security Copilot).
    limiter: Option<Arc<RateLimiter>>,
}

impl Pager {
    async fn next_page<T: DeserializeOwned>(&mut self) -> Result<Option<Page<T>>, Error> {
        let Some(next) = self.next.take() else {
            return Ok(None);
        };
        let url = next?;
        if !self.seen.insert(url.as_str().to_owned()) {
            return Err(Error::next_link_loop(without_query(&url)));
        }
        let mut req = self.client.get_request(url.clone());
        if self.eventual {
            req = req.header("consistencylevel", "eventual");
        }
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
        let resp = self.client.send(req).await?;
        let body: PageBody<T> = serde_json::from_slice(resp.body())
            .map_err(|e| Error::decode(format!("a page of {}", without_query(&url)), e))?;
        let next = match &body.next_link {
            Some(link) => Some(self.client.resolve_link(link)?),
            None => None,
        };
        tracing::debug!(
            path = url.path(),
            items = body.value.len(),
            more = next.is_some(),
            "page"
        );
        let continuation = next.as_ref().map(|u| Continuation {
            next_link: u.as_str().to_owned(),
            eventual: self.eventual,
        });
        self.next = next.map(Ok);
        Ok(Some(Page {
            items: body.value,
            count: body.count,
            continuation,
        }))
    }
}

pub(crate) fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// A lazy stream of pages: nothing is sent until it is polled. Follows `@odata.nextLink` as
/// given (it stays on the client's Graph host), and stops with [`Error::NextLinkLoop`] if the
/// service repeats a link.
pub struct PageStream<T> {
    inner: BoxStream<'static, Result<Page<T>, Error>>,
}

impl<T> std::fmt::Debug for PageStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageStream")
    }
}

impl<T> Stream for PageStream<T> {
    type Item = Result<Page<T>, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<T: DeserializeOwned + Send + 'static> PageStream<T> {
    /// The items across all pages.
    pub fn items(self) -> ItemStream<T> {
        ItemStream {
            inner: self
                .map_ok(|p| stream::iter(p.items.into_iter().map(Ok)))
                .try_flatten()
                .boxed(),
        }
    }
}

/// A lazy stream of items across all pages (see [`PageStream`]).
pub struct ItemStream<T> {
    inner: BoxStream<'static, Result<T, Error>>,
}

impl<T> std::fmt::Debug for ItemStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemStream")
    }
}

impl<T> Stream for ItemStream<T> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

fn page_stream<T: DeserializeOwned + Send + 'static>(pager: Pager) -> PageStream<T> {
    PageStream {
        inner: stream::try_unfold(pager, |mut pager| async move {
            Ok(pager.next_page::<T>().await?.map(|p| (p, pager)))
        })
        .boxed(),
    }
}

impl GraphClient {
    /// A lazy stream of the pages of a collection, decoded as `T`.
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        request: CollectionRequest,
    ) -> PageStream<T> {
        page_stream(Pager {
            client: self.clone(),
            next: Some(Ok(request.url)),
            eventual: request.eventual,
            seen: HashSet::new(),
            limiter: None,
        })
    }

    /// Resumes paging from a saved [`Continuation`]. A link that leaves the client's Graph
    /// host is refused when the stream is polled.
    pub fn pages_from<T: DeserializeOwned + Send + 'static>(
        &self,
        continuation: Continuation,
    ) -> PageStream<T> {
        page_stream(Pager {
            client: self.clone(),
            next: Some(self.resolve_link(&continuation.next_link)),
            eventual: continuation.eventual,
            seen: HashSet::new(),
            limiter: None,
        })
    }
}

impl GraphClient {
    /// Like [`pages`](Self::pages), each page first waiting for `limiter`.
    pub(crate) fn pages_limited<T: DeserializeOwned + Send + 'static>(
        &self,
        request: CollectionRequest,
        limiter: Arc<RateLimiter>,
    ) -> PageStream<T> {
        page_stream(Pager {
            client: self.clone(),
            next: Some(Ok(request.url)),
            eventual: request.eventual,
            seen: HashSet::new(),
            limiter: Some(limiter),
        })
    }
}

/// A stream whose only item is `error` (a request that could not be built).
pub(crate) fn failed<T: Send + 'static>(error: Error) -> PageStream<T> {
    PageStream {
        inner: stream::once(async move { Err(error) }).boxed(),
    }
}

//! Lazy paging: streams of pages and rows, resumable continuations, FetchXML paging.

use crate::client::DataverseClient;
use crate::error::{is_expired_delta, without_query};
use crate::query::{Query, encode_query_value};
use crate::{Error, query};
use bytes::Bytes;
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use http::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};
use url::Url;

const FETCH_ANNOTATIONS: &str =
    "Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords";

/// One page of a query.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page<T> {
    /// The rows of this page.
    pub rows: Vec<T>,
    /// Where the next page is (`@odata.nextLink`, verbatim); `None` on the last page.
    pub next_link: Option<Url>,
    /// `@odata.count`, when the query asked for it (the service caps it at 5000).
    pub count: Option<u64>,
    continuation: Option<Continuation>,
}

impl<T> Page<T> {
    /// Where to resume after this page, to save and pass to
    /// [`DataverseClient::pages_from`] later; `None` on the last page.
    pub fn continuation(&self) -> Option<&Continuation> {
        self.continuation.as_ref()
    }
}

/// One page exactly as the service sent it: the body bytes (`{"value":[...], ...}`) and where
/// the next page is. For readers that parse pages themselves, such as
/// `transcript_model::page_to_records`, without decoding every row twice.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawPage {
    /// The JSON body (lone UTF-16 surrogate escapes already replaced, as on the typed path).
    pub body: Bytes,
    /// How many rows the page holds.
    pub rows: usize,
    /// Where the next page is (`@odata.nextLink`, verbatim); `None` on the last page.
    pub next_link: Option<Url>,
    /// `@odata.count`, when the query asked for it.
    pub count: Option<u64>,
    continuation: Option<Continuation>,
}

impl RawPage {
    /// Where to resume after this page; `None` on the last page.
    pub fn continuation(&self) -> Option<&Continuation> {
        self.continuation.as_ref()
    }
}

/// A saved position in a paged query: the next link and the preferences to send with it.
/// Serialisable, so a long export can resume after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    next_link: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fetch: Option<FetchState>,
}

impl Continuation {
    /// The next link (`@odata.nextLink`, verbatim).
    pub fn next_link(&self) -> &str {
        &self.next_link
    }
}

/// FetchXML pages are not linked: the next request is the query with `page` and
/// `paging-cookie` set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FetchState {
    entity_set: String,
    xml: String,
    page: u32,
}

/// What the service returned for one page, decoded, before conversion.
pub(crate) struct Fetched<T> {
    pub(crate) rows: Vec<T>,
    pub(crate) next: Option<Url>,
    pub(crate) delta_link: Option<String>,
    pub(crate) count: Option<u64>,
    pub(crate) continuation: Option<Continuation>,
    /// Whether the answer's `Preference-Applied` header holds `odata.track-changes`.
    pub(crate) tracking_applied: bool,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct PageBody<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
    #[serde(rename = "@Microsoft.Dynamics.CRM.morerecords")]
    more_records: Option<bool>,
    #[serde(rename = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie")]
    paging_cookie: Option<String>,
}

/// How a pager finds the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Follow `@odata.nextLink`.
    Links,
    /// Follow `@odata.nextLink` until `@odata.deltaLink`; expired tokens are told apart.
    Delta,
}

/// The paging state machine shared by page, row and change streams.
pub(crate) struct Pager {
    client: DataverseClient,
    next: Option<Result<Url, Error>>,
    prefer: Option<String>,
    fetch: Option<FetchState>,
    mode: Mode,
    seen: HashSet<String>,
}

impl Pager {
    pub(crate) fn new(
        client: DataverseClient,
        first: Result<Url, Error>,
        prefer: Option<String>,
        mode: Mode,
    ) -> Self {
        Pager {
            client,
            next: Some(first),
            prefer,
            fetch: None,
            mode,
            seen: HashSet::new(),
        }
    }

    fn from_query(client: &DataverseClient, query: &Query) -> Self {
        let (first, prefer, fetch) = match first_request(client, query) {
            Ok((url, prefer, fetch)) => (Ok(url), prefer, fetch),
            Err(e) => (Err(e), None, None),
        };
        let mut pager = Pager::new(client.clone(), first, prefer, Mode::Links);
        pager.fetch = fetch;
        pager
    }

    fn from_continuation(client: &DataverseClient, c: Continuation) -> Self {
        let first = client.resolve_link("the continuation", &c.next_link);
        let mut pager = Pager::new(client.clone(), first, c.prefer, Mode::Links);
        pager.fetch = c.fetch;
        pager
    }

    /// Fetches the next page, or `None` after the last.
    pub(crate) async fn next_page<T: DeserializeOwned>(
        &mut self,
    ) -> Result<Option<Fetched<T>>, Error> {
        let Some((url, bytes, tracking_applied)) = self.fetch().await? else {
            return Ok(None);
        };
        let body: PageBody<T> = decode_page(&bytes)
            .map_err(|e| Error::decode(format!("a page of {}", without_query(url.as_str())), e))?;
        let mut page = self.advance(&url, body)?;
        page.tracking_applied = tracking_applied;
        Ok(Some(page))
    }

    /// Fetches the next page as the bytes the service sent, or `None` after the last. Only
    /// the paging annotations are decoded (the rows are skipped, not built).
    pub(crate) async fn next_raw(&mut self) -> Result<Option<RawPage>, Error> {
        let Some((url, bytes, _)) = self.fetch().await? else {
            return Ok(None);
        };
        let what = || format!("a page of {}", without_query(url.as_str()));
        let (body, bytes) = match serde_json::from_slice::<PageBody<IgnoredAny>>(&bytes) {
            Ok(body) => (body, bytes),
            // The same repair the typed path makes, so both read the same page.
            Err(strict) => match replace_lone_surrogates(&bytes) {
                Some(repaired) => {
                    let body =
                        serde_json::from_slice(&repaired).map_err(|e| Error::decode(what(), e))?;
                    (body, Bytes::from(repaired))
                }
                None => return Err(Error::decode(what(), strict)),
            },
        };
        let page = self.advance(&url, body)?;
        Ok(Some(RawPage {
            body: bytes,
            rows: page.rows.len(),
            next_link: page.next,
            count: page.count,
            continuation: page.continuation,
        }))
    }

    /// Sends the request for the next page; `None` after the last. The flag says whether the
    /// service applied change tracking (`Preference-Applied: odata.track-changes`).
    async fn fetch(&mut self) -> Result<Option<(Url, Bytes, bool)>, Error> {
        let Some(next) = self.next.take() else {
            return Ok(None);
        };
        let url = next?;
        if !self.seen.insert(url.as_str().to_owned()) {
            return Err(Error::next_link_loop(without_query(url.as_str())));
        }
        let mut req = self.client.request(Method::GET, url.clone());
        if let Some(p) = &self.prefer {
            req = req.header("prefer", p);
        }
        let resp = match self.client.inner.pipeline.send(req).await {
            Ok(r) => r,
            Err(e) if self.mode == Mode::Delta && is_expired_delta(&e) => {
                return Err(Error::delta_token_expired(e));
            }
            Err(e) => return Err(e.into()),
        };
        let tracking_applied = tracking_applied(resp.headers());
        Ok(Some((url, resp.into_body(), tracking_applied)))
    }

    /// Works out the next page from `body`'s annotations and moves the pager on.
    fn advance<T>(&mut self, url: &Url, body: PageBody<T>) -> Result<Fetched<T>, Error> {
        let next = if let Some(fetch) = &mut self.fetch {
            if body.more_records == Some(true) {
                fetch.page += 1;
                let xml =
                    set_fetch_paging(&fetch.xml, fetch.page, body.paging_cookie.as_deref(), None)?;
                Some(self.client.url(&format!(
                    "{}?fetchXml={}",
                    fetch.entity_set,
                    encode_query_value(&xml)
                ))?)
            } else {
                None
            }
        } else {
            match &body.next_link {
                Some(link) => Some(self.client.resolve_link("@odata.nextLink", link)?),
                None => None,
            }
        };
        let continuation = next.as_ref().map(|u| Continuation {
            next_link: u.as_str().to_owned(),
            prefer: self.prefer.clone(),
            fetch: self.fetch.clone(),
        });
        tracing::debug!(
            path = url.path(),
            rows = body.value.len(),
            more = next.is_some(),
            delta = body.delta_link.is_some(),
            "page"
        );
        self.next = next.clone().map(Ok);
        Ok(Fetched {
            rows: body.value,
            next,
            delta_link: body.delta_link,
            count: body.count,
            continuation,
            tracking_applied: false,
        })
    }

    /// The pages as a stream.
    pub(crate) fn into_stream<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> BoxStream<'static, Result<Fetched<T>, Error>> {
        stream::try_unfold(self, |mut pager| async move {
            Ok(pager.next_page::<T>().await?.map(|p| (p, pager)))
        })
        .boxed()
    }
}

/// Whether `Preference-Applied` (one header or several, comma-separated) holds
/// `odata.track-changes`: a service that does not track the table ignores the preference and
/// leaves it out.
pub(crate) fn tracking_applied(headers: &http::HeaderMap) -> bool {
    headers
        .get_all("preference-applied")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("odata.track-changes"))
}

/// The first URL, the `Prefer` header and the FetchXML state of a query.
fn first_request(
    client: &DataverseClient,
    query: &Query,
) -> Result<(Url, Option<String>, Option<FetchState>), Error> {
    let qs = query.query_string()?;
    let set = query.entity_set();
    let inner = &client.inner;
    if let Some(xml) = query.fetch_xml_text() {
        let annotations = match query.annotations().or(inner.annotations.as_deref()) {
            Some(a) => format!("{a},{FETCH_ANNOTATIONS}"),
            None => FETCH_ANNOTATIONS.to_owned(),
        };
        let prefer = query::prefer_header(false, None, Some(&annotations))?;
        // Validates the document's start tag now rather than on page two.
        let mut first = set_fetch_paging(xml, 1, None, query.explicit_page_size())?;
        let url = match query.explicit_page_size() {
            // The page size goes into the document (`count`), so send the rewritten one.
            Some(_) => client.url(&format!("{set}?fetchXml={}", encode_query_value(&first)))?,
            None => {
                first = xml.to_owned();
                client.url(&format!("{set}?{qs}"))?
            }
        };
        let state = FetchState {
            entity_set: set.to_owned(),
            xml: first,
            page: 1,
        };
        return Ok((url, prefer, Some(state)));
    }
    let prefer = query.preferences(inner.page_size, inner.annotations.as_deref())?;
    let relative = if qs.is_empty() {
        set.to_owned()
    } else {
        format!("{set}?{qs}")
    };
    Ok((client.url(&relative)?, prefer, None))
}

/// Sets `page`, `paging-cookie` and, if given, `count` on the `<fetch>` element of a FetchXML
/// document.
pub(crate) fn set_fetch_paging(
    xml: &str,
    page: u32,
    cookie: Option<&str>,
    count: Option<u32>,
) -> Result<String, Error> {
    if let Some(n) = count
        && !(1..=5000).contains(&n)
    {
        return Err(Error::invalid(format!(
            "page size {n} is out of range: Dataverse accepts 1 to 5000"
        )));
    }
    let bad = |why: &str| Error::invalid(format!("the FetchXML query {why}"));
    let start = xml
        .match_indices("<fetch")
        .map(|(i, _)| i)
        .find(|&i| {
            xml[i + 6..]
                .chars()
                .next()
                .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
        })
        .ok_or_else(|| bad("has no <fetch> element"))?;
    // Parse the start tag's attributes, honouring quotes.
    let tag = &xml[start + 6..];
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut rest = tag;
    let end_of_tag;
    loop {
        rest = rest.trim_start();
        if rest.starts_with('>') || rest.starts_with("/>") {
            end_of_tag = tag.len() - rest.len();
            break;
        }
        let eq = rest
            .find('=')
            .ok_or_else(|| bad("has a malformed <fetch> tag"))?;
        let name = rest[..eq].trim().to_owned();
        let after = rest[eq + 1..].trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| bad("has an unquoted attribute on <fetch>"))?;
        let close = after[1..]
            .find(quote)
            .ok_or_else(|| bad("has an unterminated attribute on <fetch>"))?;
        attrs.push((name, after[1..1 + close].to_owned()));
        rest = &after[close + 2..];
    }
    let mut out = String::with_capacity(xml.len() + 64);
    out.push_str(&xml[..start]);
    out.push_str("<fetch");
    for (name, value) in &attrs {
        let replaced =
            name == "page" || name == "paging-cookie" || (name == "count" && count.is_some());
        if !replaced {
            out.push_str(&format!(" {name}=\"{}\"", value.replace('"', "&quot;")));
        }
    }
    if let Some(n) = count {
        out.push_str(&format!(" count=\"{n}\""));
    }
    out.push_str(&format!(" page=\"{page}\""));
    if let Some(cookie) = cookie.and_then(inner_paging_cookie) {
        out.push_str(&format!(" paging-cookie=\"{}\"", xml_escape(&cookie)));
    }
    out.push_str(&tag[end_of_tag..]);
    Ok(out)
}

/// The `pagingcookie` attribute of the `fetchxmlpagingcookie` annotation, URL-decoded twice
/// as the documentation describes.
fn inner_paging_cookie(annotation: &str) -> Option<String> {
    let start = annotation.find("pagingcookie=\"")? + "pagingcookie=\"".len();
    let len = annotation[start..].find('"')?;
    let once = percent_encoding::percent_decode_str(&annotation[start..start + len])
        .decode_utf8()
        .ok()?;
    let twice = percent_encoding::percent_decode_str(&once)
        .decode_utf8()
        .ok()?;
    Some(twice.into_owned())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A lazy stream of pages: nothing is sent until it is polled. Follows `@odata.nextLink`
/// verbatim with the same `Prefer` header on every request, and stops with
/// [`Error::NextLinkLoop`] if the service repeats a link.
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

/// A lazy stream of [`RawPage`]s (see [`PageStream`]).
pub struct RawPageStream {
    inner: BoxStream<'static, Result<RawPage, Error>>,
}

impl std::fmt::Debug for RawPageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawPageStream")
    }
}

impl RawPageStream {
    pub(crate) fn from_stream(inner: BoxStream<'static, Result<RawPage, Error>>) -> Self {
        Self { inner }
    }
}

impl Stream for RawPageStream {
    type Item = Result<RawPage, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// A lazy stream of rows across all pages (see [`PageStream`]).
pub struct RowStream<T> {
    inner: BoxStream<'static, Result<T, Error>>,
}

impl<T> std::fmt::Debug for RowStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowStream")
    }
}

impl<T> RowStream<T> {
    pub(crate) fn from_stream(inner: BoxStream<'static, Result<T, Error>>) -> Self {
        Self { inner }
    }
}

impl<T> Stream for RowStream<T> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

fn page_stream<T: DeserializeOwned + Send + 'static>(pager: Pager) -> PageStream<T> {
    let inner = pager
        .into_stream::<T>()
        .map_ok(|p| Page {
            rows: p.rows,
            next_link: p.next,
            count: p.count,
            continuation: p.continuation,
        })
        .boxed();
    PageStream { inner }
}

impl DataverseClient {
    /// A query on `entity_set` (no I/O until it is run with [`rows`](Self::rows) or
    /// [`pages`](Self::pages)).
    pub fn query(&self, entity_set: &str) -> Query {
        Query::new(entity_set)
    }

    /// A lazy stream of the rows of `query`, across all pages, decoded as `T`
    /// (`serde_json::Value` or any `Deserialize` type).
    ///
    /// ```no_run
    /// use dataverse_client::Filter;
    /// use futures::TryStreamExt;
    /// # async fn run(client: dataverse_client::DataverseClient, bot: uuid::Uuid) -> Result<(), dataverse_client::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Component { name: String, componenttype: i32 }
    /// let q = client
    ///     .query("botcomponents")
    ///     .select(["name", "componenttype"])
    ///     .filter(Filter::eq("_parentbotid_value", bot));
    /// let mut rows = client.rows::<Component>(&q);
    /// while let Some(c) = rows.try_next().await? {
    ///     println!("{} ({})", c.name, c.componenttype);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn rows<T: DeserializeOwned + Send + 'static>(&self, query: &Query) -> RowStream<T> {
        let rows = page_stream::<T>(Pager::from_query(self, query))
            .map_ok(|p| stream::iter(p.rows.into_iter().map(Ok)))
            .try_flatten();
        let inner = match query.top_limit() {
            Some(n) => rows.take(n as usize).boxed(),
            None => rows.boxed(),
        };
        RowStream { inner }
    }

    /// A lazy stream of the pages of `query`; each page knows its
    /// [`continuation`](Page::continuation).
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let q = client.query("conversationtranscripts").select(["name"]).page_size(100);
    /// let mut pages = client.pages::<serde_json::Value>(&q);
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} rows", page.rows.len());
    ///     if let Some(c) = page.continuation() {
    ///         // Save `serde_json::to_string(c)` to resume later with `pages_from`.
    ///         let _ = c;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn pages<T: DeserializeOwned + Send + 'static>(&self, query: &Query) -> PageStream<T> {
        page_stream(Pager::from_query(self, query))
    }

    /// A lazy stream of the pages of `query` as the bytes the service sent ([`RawPage`]), for
    /// callers that parse pages themselves.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let q = client.query("conversationtranscripts").select(["content"]).page_size(50);
    /// let mut pages = client.raw_pages(&q);
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} rows in {} bytes", page.rows, page.body.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn raw_pages(&self, query: &Query) -> RawPageStream {
        let inner = stream::try_unfold(Pager::from_query(self, query), |mut pager| async move {
            Ok(pager.next_raw().await?.map(|p| (p, pager)))
        })
        .boxed();
        RawPageStream { inner }
    }

    /// Resumes paging from a saved [`Continuation`], with the same preferences.
    pub fn pages_from<T: DeserializeOwned + Send + 'static>(
        &self,
        next_link: Continuation,
    ) -> PageStream<T> {
        page_stream(Pager::from_continuation(self, next_link))
    }
}

/// Decodes a page. A writer that cut a UTF-16 surrogate pair in half leaves an escape such as
/// `\ud83d` that no Rust string can hold; rather than fail the whole page on every read (and so
/// stop a sync at that page forever), such escapes become U+FFFD and the page is read again.
fn decode_page<T: DeserializeOwned>(body: &[u8]) -> Result<PageBody<T>, serde_json::Error> {
    match serde_json::from_slice(body) {
        Ok(page) => Ok(page),
        Err(strict) => match replace_lone_surrogates(body) {
            Some(repaired) => {
                tracing::warn!("page held lone UTF-16 surrogate escapes; read them as U+FFFD");
                serde_json::from_slice(&repaired)
            }
            None => Err(strict),
        },
    }
}

/// Rewrites every `\uXXXX` escape of a surrogate that is not part of a high+low pair as
/// `\ufffd`; `None` when there is none. Backslashes occur only inside JSON strings, so no
/// string tracking is needed; an escaped backslash is skipped as a unit.
pub(crate) fn replace_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
    fn unit_at(b: &[u8], i: usize) -> Option<u16> {
        if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(b.get(i + 2..i + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let is_high = |u: u16| (0xD800..0xDC00).contains(&u);
    let is_low = |u: u16| (0xDC00..0xE000).contains(&u);
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    let mut copied = 0;
    while i < json.len() {
        if json[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit_at(json, i) {
            Some(u) if is_high(u) && unit_at(json, i + 6).is_some_and(is_low) => i += 12,
            Some(u) if is_high(u) || is_low(u) => {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
                buf.extend_from_slice(&json[copied..i]);
                buf.extend_from_slice(b"\\ufffd");
                i += 6;
                copied = i;
            }
            // Any other escape, `\\` included, is two bytes or a plain `\uXXXX`.
            Some(_) => i += 6,
            None => i += 2,
        }
    }
    out.map(|mut buf| {
        buf.extend_from_slice(&json[copied..]);
        buf
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_paging_attributes() {
        let xml = "<fetch version='1.0' count=\"3\" page='7'><entity name='bot'/></fetch>";
        assert_eq!(
            set_fetch_paging(xml, 2, None, None).unwrap(),
            "<fetch version=\"1.0\" count=\"3\" page=\"2\"><entity name='bot'/></fetch>"
        );
        let annotation = "<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e%253cbotid%2520last%253d%2522%257bA%257d%2522%2520%252f%253e%253c%252fcookie%253e\" istracking=\"False\" />";
        assert_eq!(
            inner_paging_cookie(annotation).unwrap(),
            "<cookie page=\"1\"><botid last=\"{A}\" /></cookie>"
        );
        assert_eq!(
            set_fetch_paging(
                "<fetch><entity name='bot'/></fetch>",
                2,
                Some(annotation),
                None
            )
            .unwrap(),
            "<fetch page=\"2\" paging-cookie=\"&lt;cookie page=&quot;1&quot;&gt;&lt;botid last=&quot;{A}&quot; /&gt;&lt;/cookie&gt;\"><entity name='bot'/></fetch>"
        );
        assert!(set_fetch_paging("<fetchx/>", 1, None, None).is_err());
        assert!(set_fetch_paging("<fetch a=b>", 1, None, None).is_err());
        assert_eq!(
            set_fetch_paging(
                "<fetch count='9'><entity name='bot'/></fetch>",
                1,
                None,
                Some(50)
            )
            .unwrap(),
            "<fetch count=\"50\" page=\"1\"><entity name='bot'/></fetch>"
        );
        assert!(set_fetch_paging("<fetch/>", 1, None, Some(0)).is_err());
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let fix =
            |s: &str| replace_lone_surrogates(s.as_bytes()).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(fix(r#"{"a":"ok \ud83d\ude00 \\ud83d \n"}"#), None);
        assert_eq!(
            fix(r#"{"a":"cut \ud83d"}"#).as_deref(),
            Some(r#"{"a":"cut \ufffd"}"#)
        );
        assert_eq!(
            fix(r#"{"a":"\ude00\ud83d\u0041"}"#).as_deref(),
            Some(r#"{"a":"\ufffd\ufffd\u0041"}"#)
        );
        assert_eq!(
            fix(r#"{"a":"\\\ud83d"}"#).as_deref(),
            Some(r#"{"a":"\\\ufffd"}"#)
        );
        assert_eq!(fix(r#"{"a":"trailing \"#), None);
    }

    #[test]
    fn a_page_with_a_cut_surrogate_pair_is_read_not_refused() {
        let body = br#"{"value":[{"name":"emoji cut \ud83d here"},{"name":"\ud83d\ude00"}]}"#;
        assert!(
            serde_json::from_slice::<serde_json::Value>(body).is_err(),
            "strict reading refuses it"
        );
        let page: PageBody<serde_json::Value> = decode_page(body).unwrap();
        assert_eq!(page.value[0]["name"], "emoji cut \u{fffd} here");
        assert_eq!(page.value[1]["name"], "\u{1f600}");
        assert!(decode_page::<serde_json::Value>(b"{not json").is_err());
    }
}

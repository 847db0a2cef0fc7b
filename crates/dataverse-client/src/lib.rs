//! A throttle-aware client for the Dataverse Web API (the store behind Copilot Studio).
//!
//! - [`DataverseClient`]: built from an environment URL (normalised; the token scope is
//!   derived from it) and a `client_core::TokenCredential`; requests go through the
//!   `client-core` pipeline, which retries 429 after `Retry-After`, 5xx and lost connections,
//!   with at most [`DEFAULT_MAX_CONCURRENCY`] requests in flight.
//! - [`Query`] and [`Filter`]: OData options with typed values, so caller data can never
//!   change a query's meaning; FetchXML too.
//! - Paging: lazy [`RowStream`]s and [`PageStream`]s that send the same `Prefer` header on
//!   every page, follow `@odata.nextLink` verbatim, refuse to loop, and can resume from a
//!   saved [`Continuation`].
//! - Change tracking: [`track_changes`](DataverseClient::track_changes) then
//!   [`changes_since`](DataverseClient::changes_since), a stream of [`Change`]s ending with
//!   a new [`DeltaLink`]; an expired token is [`Error::DeltaTokenExpired`].
//! - [`Batch`]: `$batch` with atomic change sets and `Content-ID` references, stop-on-error
//!   or continue-on-error, split above [`MAX_BATCH_OPERATIONS`], one [`BatchResult`] per
//!   operation.
//! - Single rows: [`get`](DataverseClient::get), [`create`](DataverseClient::create),
//!   [`update`](DataverseClient::update), [`upsert`](DataverseClient::upsert) (by primary id or
//!   alternate [`Key`], create-only, update-only, ETag), [`delete`](DataverseClient::delete),
//!   associate/disassociate, and [`odata_bind`] for lookups.
//! - Metadata: [`who_am_i`](DataverseClient::who_am_i),
//!   [`global_option_set`](DataverseClient::global_option_set) (labels with the
//!   `UserLocalizedLabel` fallback), [`entity_definition`](DataverseClient::entity_definition),
//!   [`attribute_definitions`](DataverseClient::attribute_definitions) and
//!   [`change_tracking_enabled`](DataverseClient::change_tracking_enabled).
//! - Errors: one [`Error`] type exposing status, service code and message, request id and the
//!   [`ThrottleKind`] (hex and decimal codes).
//!
//! ```no_run
//! use client_core::{AccessToken, StaticTokenCredential};
//! use dataverse_client::{DataverseClient, Filter};
//! use futures::TryStreamExt;
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), dataverse_client::Error> {
//! let token = AccessToken::new(
//!     std::env::var("DATAVERSE_TOKEN").unwrap_or_default(),
//!     time::OffsetDateTime::now_utc() + time::Duration::hours(1),
//! );
//! let client = DataverseClient::builder(
//!     "https://org.crm.dynamics.com",
//!     Arc::new(StaticTokenCredential::new(token)),
//! )?
//! .build()?;
//! let query = client
//!     .query("bots")
//!     .select(["botid", "name"])
//!     .filter(Filter::eq("statecode", 0))
//!     .page_size(500);
//! let mut bots = client.rows::<serde_json::Value>(&query);
//! while let Some(bot) = bots.try_next().await? {
//!     println!("{}", bot["name"]);
//! }
//! # Ok(()) }
//! ```

mod batch;
mod changes;
mod client;
pub mod error;
mod filter;
mod key;
mod metadata;
mod operation;
mod paging;
mod query;
mod table;
mod write;

pub use batch::{
    Batch, BatchMode, BatchOutcome, BatchResponse, BatchResult, ChangeSet, MAX_BATCH_OPERATIONS,
};
pub use changes::{Change, ChangeStream, Changes, DeltaLink};
pub use client::{
    DEFAULT_API_VERSION, DEFAULT_MAX_CONCURRENCY, DataverseClient, DataverseClientBuilder, WhoAmI,
};
pub use error::{Error, ThrottleKind};
pub use filter::{Filter, FilterValue, IntoGuid};
pub use key::{Key, odata_bind};
pub use metadata::{AttributeDefinition, EntityDefinition, LocalizedLabel, OptionSet, OptionValue};
pub use operation::{ContentId, Operation};
pub use paging::{Continuation, Page, PageStream, RawPage, RawPageStream, RowStream};
pub use query::{Order, Query};
pub use table::Table;
pub use write::{UpsertKind, UpsertOptions, UpsertOutcome};

// What a program that reads Dataverse needs next, so it depends on this crate alone.
pub use client_core::{AccessToken, StaticTokenCredential, TokenCredential};
pub use futures::{StreamExt, TryStreamExt};
pub use url::Url;
pub use uuid::Uuid;

/// The common imports in one line: `use dataverse_client::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Batch, BatchMode, DataverseClient, Error, Filter, Key, Order, Query, Table,
        TokenCredential, TryStreamExt, Url, Uuid,
    };
}

#![doc = include_str!("../README.md")]

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
pub use changes::{Change, ChangeStream, Changes, DeltaLink, InitialSync};
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

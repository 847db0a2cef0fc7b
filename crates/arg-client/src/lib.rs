//! Every Copilot agent and environment in a Microsoft tenant, from the tenant-wide sources:
//! Azure Resource Graph, the Power Platform inventory API and the admin environment list.
//!
//! - [`ArgClient`]: one client for the three APIs, hosts and token scopes from
//!   [`entra_auth::Cloud`] (each host overridable). The inventory exists only in the public
//!   cloud: in GCC, GCC High, DoD and China an inventory call is [`Error::UnsupportedCloud`]
//!   before any request.
//! - Resource Graph: [`GraphQuery`] (KQL at tenant scope or for subscriptions / management
//!   groups, facets) read as lazy [`PageStream`]s / [`RowStream`]s following `$skipToken`,
//!   resumable from a [`Continuation`]; `resultTruncated` surfaced on each [`Page`]; the
//!   quota headers are honoured before the quota runs out, on the client's injectable clock.
//! - The Power Platform resource query: [`ResourceQuery`], a typed clause builder (where,
//!   project, take, order by, distinct, count, summarize, extend, join) whose values are
//!   quoted and escaped ([`kql`]), so no value can change the query's structure. The same
//!   builder renders KQL for Resource Graph.
//! - Typed rows: [`Agent`] (every generally available and preview field, unknown ones kept),
//!   [`InventoryEnvironment`], and [`Environment`] from the admin list with its
//!   [`dataverse_url`](Environment::dataverse_url).
//! - [`ArgClient::agents`]: the tenant's agents through either API ([`InventorySource`]).
//! - Errors: [`Error`] keeps the service's typed body ([`ErrorBody`] with `details`) and adds a
//!   [`Hint`] for the usual refusals (missing admin role, service principal not registered as
//!   a management application, app-only token on the resource query).
//!
//! ```no_run
//! use arg_client::{ArgClient, InventorySource};
//! use futures::TryStreamExt;
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credential = Arc::new(entra_auth::EnvironmentCredential::new(Default::default()));
//! let client = ArgClient::builder(credential).build()?;
//! let mut environments = client.environments();
//! while let Some(env) = environments.try_next().await? {
//!     println!("{} {:?}", env.display_name(), env.dataverse_url()?);
//! }
//! let mut agents = client.agents(InventorySource::ResourceGraph);
//! while let Some(agent) = agents.try_next().await? {
//!     println!("{} {}", agent.bot_id(), agent.properties.display_name.as_deref().unwrap_or(""));
//! }
//! # Ok(()) }
//! ```

mod agents;
mod client;
mod environments;
mod error;
pub mod kql;
mod paging;
mod quota;
mod resource_query;
mod rows;

pub use agents::InventorySource;
pub use client::{
    ADMIN_API_VERSION, ArgClient, ArgClientBuilder, DEFAULT_PAGE_SIZE, RESOURCE_GRAPH_API_VERSION,
    RESOURCE_QUERY_API_VERSION,
};
pub use entra_auth::Cloud;
pub use environments::{
    Environment, EnvironmentListOptions, EnvironmentProperties, EnvironmentStates,
    LinkedEnvironmentMetadata, State,
};
pub use error::{Api, Error, ErrorBody, ErrorDetail, Hint};
pub use paging::{Continuation, Facet, FacetResult, GraphQuery, Page, PageStream, RowStream};
pub use quota::{QUOTA_REMAINING, QUOTA_RESETS_AFTER, Quota, parse_timespan};
pub use resource_query::{
    AGENT_TYPE, ENVIRONMENT_TYPE, JoinKind, POWER_PLATFORM_RESOURCES, Projection, ResourceQuery,
    SortOrder,
};
pub use rows::{
    Agent, AgentAuthentication, AgentProperties, CreatedIn, EnvironmentSku, InventoryEnvironment,
    InventoryEnvironmentProperties, Orchestration,
};

#![doc = include_str!("../README.md")]

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
pub use error::{
    Api, DecodeError, Error, ErrorBody, ErrorDetail, Hint, HttpError, InvalidInputError,
    PagingLoopError, UnsupportedCloudError,
};
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

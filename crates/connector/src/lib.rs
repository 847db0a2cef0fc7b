//! The Copilot Studio traffic connector.

pub mod config;
mod connector;
pub mod credential;
pub mod demo;
pub mod doctor;
pub mod ingest;
pub mod schedule;
pub mod sink;
pub mod state;
pub use connector::{
    Agent, BOT_COLUMNS, Connector, ConnectorBuilder, ConnectorError, TRANSCRIPT_COLUMNS,
};

#![doc = include_str!("../README.md")]

pub mod akto;
pub mod config;
mod connector;
pub mod credential;
pub mod cron;
#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
mod graph_job;
pub mod ingest;
pub mod inventory;
pub mod m365;
pub mod permissions;
pub mod schedule;
pub mod seccopilot;
pub mod shield;
pub mod sink;
pub mod state;
mod timefmt;

pub use connector::{
    Agent, BOT_COLUMNS, Connector, ConnectorBuilder, ConnectorError, TRANSCRIPT_COLUMNS,
};

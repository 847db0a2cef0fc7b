//! The Copilot Studio traffic connector.

pub mod config;
pub mod ingest;
pub mod schedule;
pub mod sink;
pub mod state;

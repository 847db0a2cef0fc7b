//! The Copilot Studio traffic connector.

pub mod config;
pub mod ingest;
pub mod sink;
pub mod state;

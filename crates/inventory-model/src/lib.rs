//! The Copilot agent inventory: eight Dataverse tables that keep a tenant's agents,
//! what each is made of and can reach, who may use it, how it is used and how
//! risky it is, so that governance reads the inventory instead of rescanning.
//!
//! This crate is pure data and logic (no HTTP, no async): the scan reads the
//! tenant with the client crates, converts what it read into this crate's input
//! types, and writes the rows this crate produces.
//!
//! - [`schema`]: the eight tables as data ([`TableDef`], [`ColumnDef`], [`KeyDef`]):
//!   logical names, entity set names, types, lengths, required flags, alternate keys,
//!   including the columns added in release 0.2.0. [`options`] holds every option set
//!   with its exact values ([`OptionSetValue`]).
//! - [`rows`]: one type per table ([`AgentRow`], [`EnvironmentRow`], [`AgentFeatureRow`],
//!   [`AuthShareRow`], [`BillingEntitlementRow`], [`UsageSignalRow`], [`WorkIqStateRow`],
//!   [`ComplianceStateRow`]) that serialises to and from the Dataverse JSON body of a
//!   row: choices as integers, date-times as ISO 8601 UTC, memo JSON columns as strings.
//! - [`metadata`]: the schema as Dataverse metadata requests (option sets, tables,
//!   columns, alternate keys); [`docs`]: the Markdown reference `docs/inventory-schema.md`.
//! - [`sample`]: the published sample agent record (choices as labels).
//!
//! # Example
//!
//! ```
//! use inventory_model::{AgentRow, CreatedIn, Encoding, InventoryRow, OptionSetValue};
//!
//! let mut agent = AgentRow::new("f3a8c1d2-4b5e-4f6a-9c7d-1e2f3a4b5c6d", "Default-2c9e1a77");
//! agent.created_in = Some(CreatedIn::CopilotStudio);
//! let body = agent.to_json(Encoding::Dataverse);
//! assert_eq!(body["fsi_createdin"], 100_000_000);
//! assert!(body["fsi_ownerupn"].is_null()); // every column is written
//! assert_eq!(
//!     agent.upsert_path().as_deref(),
//!     Some("fsi_copilotagents(fsi_agentid='f3a8c1d2-4b5e-4f6a-9c7d-1e2f3a4b5c6d',fsi_environmentid='Default-2c9e1a77')")
//! );
//! assert_eq!(AgentRow::from_json(&body, Encoding::Dataverse).unwrap(), agent);
//! assert_eq!(CreatedIn::from_label("Microsoft 365 Copilot Agent Builder"), Some(CreatedIn::AgentBuilder));
//! ```

pub mod docs;
mod error;
pub mod metadata;
pub mod options;
pub mod rows;
pub mod sample;
pub mod schema;

pub use botcomponent_schema::{FeatureType, SchemaGeneration};
pub use error::{RowError, ValidationError};
pub use options::{
    AgentType, CreatedIn, DetectionConfidence, DetectionSource, DiscoverySource, OptionDef,
    OptionSetDef, OptionSetValue, PolicyType, RiskLevel, ScanCompleteness, SpendScope,
    WorkIqObserved, WorkIqTier, Zone,
};
pub use rows::Encoding;
pub use rows::{
    AgentFeatureRow, AgentRow, AuthShareRow, BillingEntitlementRow, ComplianceStateRow,
    EnvironmentRow, InventoryRow, UsageSignalRow, WorkIqStateRow,
};
pub use sample::AgentRecord;
pub use schema::{ColumnDef, ColumnType, KeyDef, Release, TableDef};

//! The Copilot agent inventory: eight Dataverse tables that keep a tenant's agents,
//! what each is made of and can reach, who may use it, how it is used and how
//! risky it is, so that governance reads the inventory instead of rescanning.
//!
//! This crate is pure data and logic (no HTTP, no async): the scan reads the
//! tenant with the client crates, fills this crate's plain input types
//! ([`input`]), and writes the rows this crate produces.
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
//! - [`build_inventory`] ([`mapping`]): what a scan read ([`ScanInput`]) to rows,
//!   deterministically, after [`reconcile`]-ing the tenant inventory, the
//!   per-environment scans and the environment list (a [`CoverageRecord`] per gap)
//!   and running the [`mod@posture`] checks (findings with evidence, a risk level).
//! - [`mod@diff`]: the previous scan's rows against this scan's: what to upsert, and the
//!   agents no longer seen (marked, not deleted).
//! - [`sample`]: the published sample agent record (choices as labels).
//!
//! The two downstream shells (`fsi_caibillingentitlement`, `fsi_caiworkiqstate`) are
//! filled by other solutions: the mapping writes their rows only for the billing
//! policies and Work IQ observations it is given, never empty placeholder rows.
//!
//! # Example
//!
//! ```
//! use inventory_model::{
//!     build_inventory, AgentRow, BotRecord, BotScan, CreatedIn, DataverseSnapshot, Encoding,
//!     EnvironmentScan, InventoryRow, InventorySettings, OptionSetValue, ReadStatus, RiskLevel,
//!     ScanInput, ScanOutcome,
//! };
//! use time::macros::datetime;
//!
//! // Rows are Dataverse JSON bodies.
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
//!
//! // A scan that read one environment with one bot shared with everyone.
//! let mut bot = BotRecord::new("b1");
//! bot.access_control_policy = Some(0);
//! let mut scan = BotScan::new(bot);
//! scan.components_read = ReadStatus::Complete;
//! scan.related_read = ReadStatus::Complete;
//! let mut snapshot = DataverseSnapshot::new(datetime!(2026-06-09 13:50 UTC));
//! snapshot.bots.push(scan);
//! let mut input = ScanInput::new("run-1", datetime!(2026-06-09 14:00 UTC));
//! input.environment_scans.push(EnvironmentScan::new("env-1", ScanOutcome::Scanned(snapshot)));
//!
//! let inventory = build_inventory(&input, &InventorySettings::default());
//! assert_eq!(inventory.rows.agents.len(), 1);
//! assert_eq!(inventory.rows.compliance[0].risk_level, Some(RiskLevel::High));
//! // The tenant inventory and the environment list were not read: said, not hidden.
//! assert_eq!(inventory.coverage.len(), 3);
//! assert!(inventory.diff_against(&inventory.rows).is_empty());
//! ```

pub mod diff;
pub mod docs;
mod error;
pub mod identity;
pub mod input;
pub mod mapping;
pub mod metadata;
pub mod options;
pub mod posture;
pub mod reconcile;
pub mod rows;
pub mod sample;
pub mod schema;
mod secrets;

pub use botcomponent_schema::{FeatureType, SchemaGeneration};
pub use diff::{AgentRef, DiffScope, InventoryDiff, StaleRow, diff};
pub use error::{RowError, ValidationError};
pub use identity::{CredentialProblem, HeldPermission, IdentityPermissions, merge_identities};
pub use input::{
    AudienceObservation, BillingPolicy, BotRecord, BotScan, DataverseSnapshot, EnvironmentInfo,
    EnvironmentScan, IdentityObservation, InputError, InventorySource, OwnerObservation,
    OwnerState, PermissionObservation, ReadStatus, RelatedTarget, Relationship, ScanInput,
    ScanOutcome, SessionObservation, Shares, TenantAgent, UsageInput, WorkIqObservation,
};
pub use mapping::{
    AudienceResolution, Inventory, InventoryRows, InventorySettings, build_inventory,
};
pub use options::{
    AgentType, CreatedIn, DetectionConfidence, DetectionSource, DiscoverySource, OptionDef,
    OptionSetDef, OptionSetValue, PolicyType, RiskLevel, ScanCompleteness, SpendScope,
    WorkIqObserved, WorkIqTier, Zone,
};
pub use posture::{
    AgentPosture, CheckId, CheckResult, CheckStatus, Evidence, PostureSettings, Severity, Violation,
};
pub use reconcile::{
    CoverageKind, CoverageRecord, DataverseOnlyReason, InventoryOnlyReason, NotScannedReason,
    ReconcileSettings,
};
pub use rows::Encoding;
pub use rows::{
    AgentFeatureRow, AgentRow, AuthShareRow, BillingEntitlementRow, ComplianceStateRow,
    EnvironmentRow, InventoryRow, UsageSignalRow, WorkIqStateRow,
};
pub use sample::AgentRecord;
pub use schema::{ColumnDef, ColumnType, KeyDef, Release, TableDef};

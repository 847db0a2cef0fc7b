#![doc = include_str!("../README.md")]

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
    AgentDefinition, AudienceObservation, BillingPolicy, BotRecord, BotScan, DataverseSnapshot,
    EnvironmentInfo, EnvironmentScan, IdentityObservation, InputError, InventorySource,
    OwnerObservation, OwnerState, PermissionObservation, ReadStatus, RelatedTarget, Relationship,
    ScanInput, ScanOutcome, SessionObservation, Shares, TenantAgent, UsageInput, WorkIqObservation,
};
pub use mapping::{
    AudienceResolution, Inventory, InventoryRows, InventorySettings, agent_definition,
    build_inventory,
};
pub use options::{
    AgentType, CreatedIn, DetectionConfidence, DetectionSource, DiscoverySource, OptionDef,
    OptionSetDef, OptionSetValue, PolicyType, RiskLevel, ScanCompleteness, SpendScope,
    WorkIqObserved, WorkIqTier, Zone,
};
pub use posture::{
    AgentPosture, CheckId, CheckResult, CheckStatus, Evidence, PostureSettings, Severity,
    Violation, definition_checks_reusable,
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

//! The agent inventory scan (`copilot-connector inventory scan`): every Copilot agent of a
//! tenant, what it is made of and can reach, who may use it, how much it is used and how
//! risky it is, as the rows of the eight inventory tables.
//!
//! - Layer 1 ([`tenant`]): the admin environment list and the tenant inventory of agents
//!   through `arg-client` (the Power Platform resource query, Azure Resource Graph, or none).
//!   Only the environment list comes before layer 2; the tenant inventory is read while
//!   layer 2 runs (it is needed only when the rows are built).
//! - Layer 2 ([`dataverse`]): per environment, with bounded concurrency across environments
//!   and few requests inside one, `bots` (with `configuration`), `botcomponents` with their
//!   `data`, the six many-to-many relationships of components and 30 days of
//!   `conversationtranscripts`' cheap columns (never their content); change tracking: the
//!   first scan takes delta links, later scans read only the changes; an expired delta link
//!   means one full read of that environment, reported.
//! - Layer 3 ([`identity`]): each agent's Entra identity from Microsoft Graph (permissions,
//!   grants, credentials, owners), incrementally; Graph refusing is a coverage gap.
//! - [`scan::Scanner`] composes them, parses components with `botcomponent-schema`, and gets
//!   rows, reconciliation, posture findings and the diff from `inventory-model`.
//! - One environment failing (403, no Dataverse, time-out) never stops the others: it is a
//!   coverage gap in the summary, and the exit status says partial ([`EXIT_PARTIAL`]).
//! - [`output`]: the JSON document; [`upsert`]: the rows into an inventory environment's
//!   eight tables (`$batch` change sets by alternate key); [`mod@schema`]: creating those tables;
//!   [`store`]: the state between scans; [`report`]: what the last scan found, as a terminal
//!   table, Markdown, JSON or a self-contained HTML page (`inventory report`); [`doctor`]:
//!   whether the app may do what the scan needs (`inventory doctor`).
//!
//! ```no_run
//! use connector::inventory::scan::{PreviousScan, ScanOptions, Scanner};
//! use connector::inventory::tenant::InventorySourceChoice;
//! # async fn run(credential: client_core::SharedCredential) -> Result<(), Box<dyn std::error::Error>> {
//! let mut options = ScanOptions::default();
//! options.inventory_source = InventorySourceChoice::ResourceGraph;
//! let scanner = Scanner::new(credential, client_core::system_clock(), options);
//! let result = scanner.scan(&PreviousScan::default(), None).await?;
//! println!("{} agents, {:?}", result.summary.agents, result.summary.status);
//! # Ok(()) }
//! ```

pub mod cli;
pub mod dataverse;
pub mod doctor;
pub mod identity;
pub mod output;
pub mod phase;
pub mod report;
pub mod scan;
pub mod schema;
pub mod store;
pub mod tenant;
pub mod upsert;

/// Exit status of a scan that could not read everything (coverage gaps).
pub const EXIT_PARTIAL: u8 = 4;
/// Exit status of a scan that read nothing, or of an inventory command that failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status of invalid settings.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status when another scan holds the inventory state.
pub const EXIT_LOCKED: u8 = 3;

//! The Copilot Studio traffic connector behind the `copilot-connector` command line.
//!
//! It lists a Dataverse environment's Copilot Studio agents, reads the conversation transcripts
//! created or modified since its checkpoint, pairs their messages with `transcript-model`, and
//! delivers one Akto ingestion record per request/response pair, in batches of 50, to Akto's
//! Data Ingestion Service (or any [`sink::Sink`]).
//!
//! - **Configuration** ([`config`]): flags, a TOML file or environment variables, with Akto's
//!   variable names accepted unchanged (`DATAVERSE_ENVIRONMENT_URL`, `DATAVERSE_TENANT_ID`,
//!   `DATAVERSE_CLIENT_ID`, `DATAVERSE_CLIENT_SECRET`, `COPILOT_BOT_ID`,
//!   `DATA_INGESTION_SERVICE_URL`, `AKTO_JWT_TOKEN`, `AKTO_ACCOUNT_ID`). Invalid values fail at
//!   start with a message naming the variable and the fix.
//! - **Delivery is at least once and loses nothing** ([`ingest`], [`state`]): the checkpoint
//!   (an embedded SQLite database) advances only after the destination accepted a batch; each
//!   pass reaches 30 minutes back, because transcripts reach Dataverse late, and skips what was
//!   already delivered by transcript id and row version; a pass cut short (even by `kill -9`)
//!   resumes after the last accepted record, so a crash costs at most one batch sent twice.
//!   A transcript whose content cannot be parsed is recorded with the reason and reported once.
//!   Batches are cut to fit the destination's request size limit; a record it can never take
//!   (over the limits, or refused as malformed while the rest of the batch is accepted) is
//!   isolated, recorded and reported, instead of failing every pass at the same batch.
//! - **One run at a time**: the checkpoint store holds an exclusive OS lock; a second run is
//!   refused with a clear message.
//! - **Operations**: [`schedule::run_every`] for `ingest --every 5m` (no overlap, clean stop),
//!   [`doctor`] for a step-by-step setup checklist with fixes, and [`demo`] to try it all on the
//!   in-process tenant emulator.
//!
//! ```no_run
//! use connector::config::{Config, Needs, RawConfig};
//! use connector::ingest::StopSignal;
//! use connector::Connector;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The same variables Akto's job sets.
//! let raw = RawConfig::from_env(|k| std::env::var(k).ok());
//! let config = Config::from_raw(&raw, Needs::Ingest)?;
//! let credential = connector::credential::from_config(&config, client_core::system_clock())?;
//! let connector = Connector::builder(config, credential).build()?;
//!
//! let mut store = connector.open_state()?; // refused while another run holds it
//! let sink = connector.sink_from_config().await?;
//! let summary = connector
//!     .ingest_once(&mut store, sink.as_ref(), StopSignal::new(), None)
//!     .await?;
//! println!("{} pairs delivered", summary.records_delivered);
//! # Ok(()) }
//! ```

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

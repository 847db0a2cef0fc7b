//! A local, deterministic stand-in for a Microsoft tenant.
//!
//! One loopback port serves:
//! - Entra ID's token endpoint, `POST /{tenant}/oauth2/v2.0/token` (client credentials with a
//!   client secret or a certificate assertion, and Entra's real error bodies), and the device
//!   code sign-in for delegated tokens ([`entra_device`]);
//! - the Dataverse Web API under `/api/data/v9.1/` and `/api/data/v9.2/` with the Copilot
//!   Studio tables (`bots`, `botcomponents`, `conversationtranscripts`, ...), behind bearer
//!   token checks and Dataverse's service protection limits;
//! - Akto's ingestion endpoint, `POST /api/ingestData`;
//! - Microsoft Graph under `/v1.0/` and `/beta/`: `subscribedSkus`, users with the licence
//!   filter, the Microsoft 365 Copilot interaction export and `$batch` ([`graph`]); Security
//!   Copilot sessions, prompts and evaluations on beta ([`security_copilot`]); service
//!   principals, app role assignments, delegated grants, app registrations and owners of the
//!   agents' and the connector's apps ([`identity`]);
//! - the tenant-wide inventory ([`inventory`]): Azure Resource Graph over
//!   `PowerPlatformResources` (a documented KQL subset, [`kql`]), the Power Platform resource
//!   query and the admin environment list, with paging, quota headers and throttling;
//!   `.environments(n)` makes a tenant of several environments, each with its own Dataverse
//!   on its own port, and seeded discrepancies between the sources ([`environments`]);
//! - an admin API under `/_emulator/`:
//!   - `GET info` (URLs and the connector app's credentials);
//!   - `GET ingested` (accepted ingestion records), `DELETE ingested` (clear them);
//!   - `GET faults`, `POST faults` with a [`faults::FaultConfig`] JSON (replaces it);
//!   - `GET limits`, `POST limits` with a [`throttle::ServiceProtectionLimits`] JSON;
//!   - `POST tokens/expire` (every token issued so far expires);
//!   - `GET devicelogin` (device code sign-ins waiting), `POST devicelogin` with
//!     `{"user_code": "...", "approve": true|false}` (the person approves or declines);
//!   - `GET security-copilot`, `POST security-copilot` with a
//!     [`security_copilot::SecurityCopilotSettings`] JSON (outcome, run time, rate limit);
//!   - `POST transcripts` with `{"count": n}` (generated, started within the last hour; at
//!     most [`MAX_GENERATED_PER_REQUEST`]) or `{"rows": [...]}` (as given); answers
//!     `{"ids": [...]}`.
//!
//!   Admin bodies are limited to [`ADMIN_BODY_LIMIT`] bytes (2 MiB, `413` beyond); every
//!   malformed or out-of-range admin request is answered `4xx` with `{"error": ...}`.
//!
//! The tenant (agents, components, application user, transcripts) is generated from a seed,
//! shaped like real Copilot Studio rows; transcript content is generated on demand, so 100,000
//! transcripts fit in little memory. Faults (latency, 429/500/503, dropped connections,
//! outages, token expiry) can be injected at start or while running.
//!
//! ```no_run
//! use tenant_emulator::Emulator;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder().seed(7).agents(20).transcripts(500).start().await?;
//! let creds = emulator.credentials();
//! // Token: POST {authority_host}/{tenant_id}/oauth2/v2.0/token
//! //   grant_type=client_credentials, client_id, client_secret,
//! //   scope={environment_url}/.default
//! // Then: GET {environment_url}/api/data/v9.2/conversationtranscripts with the bearer token.
//! println!("{} {} {}", emulator.authority_host(), creds.tenant_id, emulator.environment_url());
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod admin;
pub mod akto;
mod auth;
pub mod clock;
pub mod dataverse;
mod emulator;
pub mod entra;
pub mod entra_device;
pub mod environments;
pub mod faults;
pub mod generate;
pub mod graph;
mod handles;
pub mod identity;
pub mod inventory;
pub mod kql;
mod rng;
pub mod security_copilot;
pub mod throttle;

pub use admin::ADMIN_BODY_LIMIT;
pub use emulator::{
    Credentials, DEFAULT_GRAPH_ROLES, Emulator, EmulatorBuilder, EmulatorError,
    MAX_GENERATED_PER_REQUEST, RunningEmulator,
};
pub use handles::EmulatorUrls;

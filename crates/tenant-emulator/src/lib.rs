//! A local, deterministic stand-in for a Microsoft tenant.
//!
//! Work in progress: the Entra token endpoint, service protection, fault injection, the Akto
//! ingestion stand-in and the synthetic tenant generator are added by the tenant half of the crate;
//! the Dataverse Web API engine lives in [`dataverse`].

pub mod dataverse;

//! Microsoft Entra ID credentials for the workspace's clients (and for anyone else).
//!
//! Every credential implements [`client_core::TokenCredential`] and caches its tokens
//! ([`TokenCache`]: by scope set, refreshed 5 minutes before expiry, one request however many
//! callers wait, a still-valid token kept when a refresh fails).
//!
//! | credential | for |
//! |---|---|
//! | [`ClientSecretCredential`] | an app registration with a client secret |
//! | [`ClientCertificateCredential`] | an app registration with a certificate (PS256 or RS256 assertion) |
//! | [`WorkloadIdentityCredential`] | AKS / Kubernetes workload identity federation |
//! | [`ManagedIdentityCredential`] | Azure VMs (IMDS), App Service and Functions |
//! | [`AzureCliCredential`] | developer machines signed in with `az login` |
//! | [`DeviceCodeCredential`] | a person signing in from a terminal with a code (delegated) |
//! | [`EnvironmentCredential`] | `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH` |
//! | [`ChainedTokenCredential`] | an explicit list: the first one configured here wins |
//!
//! Sign-in failures become [`client_core::CredentialError`]s whose message says what to fix;
//! Entra ID's own answers are kept as a typed [`EntraError`] (mapped by `error_codes`, with
//! trace and correlation ids). [`Cloud`] knows the sovereign clouds' authorities and API hosts.
//! Nothing secret (secret, assertion, token, identity header, federated token) is ever shown
//! by `Debug`, `Display`, errors or logs.
//!
//! A chain that falls through to a fixed token, and the token's claims (runs offline):
//!
//! ```
//! use client_core::{AccessToken, StaticTokenCredential, TokenCredential};
//! use entra_auth::{AccessTokenClaims, ChainedTokenCredential, CredentialOptions, Env, EnvironmentCredential};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // A token whose payload is {"aud":"https://graph.microsoft.com","roles":["AiEnterpriseInteraction.Read.All"],"exp":1700000000}.
//! let jwt = "e30.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20iLCJyb2xlcyI6WyJBaUVudGVycHJpc2VJbnRlcmFjdGlvbi5SZWFkLkFsbCJdLCJleHAiOjE3MDAwMDAwMDB9.sig";
//! let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
//! let chain = ChainedTokenCredential::new()
//!     // No AZURE_* variables here, so this one is "not configured" and the chain moves on.
//!     .with(EnvironmentCredential::from_env(&Env::default(), CredentialOptions::default()))
//!     .with(StaticTokenCredential::new(AccessToken::new(jwt, expires)));
//! let token = chain.get_token(&["https://graph.microsoft.com/.default"]).await.unwrap();
//! assert_eq!(chain.selected(), Some("StaticTokenCredential"));
//! let claims = token.claims().unwrap();
//! assert!(claims.has_role("AiEnterpriseInteraction.Read.All"));
//! assert!(!format!("{token:?}").contains("e30"));
//! # });
//! ```
//!
//! In production, build the credential you deploy with and give it to a
//! [`client_core::Pipeline`]:
//!
//! ```no_run
//! use entra_auth::{Cloud, ClientSecretCredential, CredentialOptions};
//! use std::sync::Arc;
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credential = ClientSecretCredential::new(
//!     "contoso.onmicrosoft.us",
//!     "00000000-0000-0000-0000-000000000001",
//!     std::env::var("CLIENT_SECRET")?,
//!     CredentialOptions::default().with_cloud(Cloud::UsGovHigh),
//! )?;
//! let pipeline = client_core::Pipeline::builder()
//!     .credential(Arc::new(credential))
//!     .default_scope(Cloud::UsGovHigh.graph_scope())
//!     .build()?;
//! # Ok(()) }
//! ```

mod azure_cli;
mod cache;
mod chain;
mod claims;
mod client_certificate;
mod client_secret;
mod cloud;
mod device_code;
mod env_vars;
mod environment_credential;
mod error;
mod managed_identity;
mod options;
mod token_endpoint;
mod workload_identity;

pub use azure_cli::AzureCliCredential;
pub use cache::{CachedCredential, DEFAULT_REFRESH_MARGIN, TokenCache};
pub use chain::{ChainAttempt, ChainError, ChainedTokenCredential};
pub use claims::{AccessTokenClaims, ClaimsError, TokenClaims};
pub use client_certificate::{AssertionAlgorithm, ClientCertificate, ClientCertificateCredential};
pub use client_secret::ClientSecretCredential;
pub use cloud::{Cloud, CustomCloud, UnknownCloud};
pub use device_code::{
    DEVICE_CODE_GRANT_TYPE, DeviceCodeCallback, DeviceCodeCredential, DeviceCodePrompt,
};
pub use env_vars::Env;
pub use environment_credential::EnvironmentCredential;
pub use error::{EntraError, EntraErrorDetails};
pub use managed_identity::{
    IMDS_TOKEN_ENDPOINT, ManagedIdentityCredential, ManagedIdentityId,
    managed_identity_retry_policy,
};
pub use options::CredentialOptions;
pub use workload_identity::WorkloadIdentityCredential;

// What a program that signs in needs next, so it depends on this crate alone.
pub use client_core::{
    AccessToken, CredentialError, SharedCredential, StaticTokenCredential, TokenCredential,
};
pub use url::Url;
pub use uuid::Uuid;

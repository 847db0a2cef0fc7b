#![doc = include_str!("../README.md")]

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
mod token_cache_file;
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
    SignInReason,
};
pub use env_vars::Env;
pub use environment_credential::EnvironmentCredential;
pub use error::{EntraError, EntraErrorDetails};
pub use managed_identity::{
    IMDS_TOKEN_ENDPOINT, ManagedIdentityCredential, ManagedIdentityId,
    managed_identity_retry_policy,
};
pub use options::CredentialOptions;
pub use token_cache_file::{
    SavedSignIn, SignInKey, TOKEN_CACHE_FILE_NAME, TOKEN_CACHE_FORMAT, TOKEN_CACHE_VERSION,
    TokenCacheFile, TokenCacheFileError, TokenCacheFileErrorKind,
};
pub use workload_identity::WorkloadIdentityCredential;

// What a program that signs in needs next, so it depends on this crate alone.
pub use client_core::{
    AccessToken, CredentialError, SharedCredential, StaticTokenCredential, TokenCredential,
};
pub use url::Url;
pub use uuid::Uuid;

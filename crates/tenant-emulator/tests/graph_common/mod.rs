//! Shared set-up of the Graph end-to-end tests: a `graph-client` of the emulator's Graph,
//! signed in with the emulator's app through `entra-auth`.
#![allow(dead_code, clippy::unwrap_used, missing_docs, unreachable_pub)]

use entra_auth::{ClientSecretCredential, CredentialOptions};
use graph_client::GraphClient;
use std::sync::Arc;
use std::time::Duration;
use tenant_emulator::RunningEmulator;

/// A client of `emulator`'s Graph making up to `attempts` tries a request, with
/// millisecond back-off (Retry-After capped at 5 ms) so throttling tests do not wait.
pub fn client(emulator: &RunningEmulator, attempts: u32) -> GraphClient {
    let options = CredentialOptions::default()
        .with_authority_host(url::Url::parse(emulator.authority_host()).unwrap());
    let c = emulator.credentials();
    let credential = ClientSecretCredential::new(
        c.tenant_id.to_string(),
        c.client_id.to_string(),
        c.client_secret.clone(),
        options,
    )
    .unwrap();
    GraphClient::builder(Arc::new(credential))
        .base_url(emulator.graph_url())
        .retry_policy(
            client_core::RetryPolicy::default()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5))
                .with_retry_after_ceiling(Duration::from_millis(5)),
        )
        .build()
        .unwrap()
}

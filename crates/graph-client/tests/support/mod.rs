//! Shared set-up of graph-client's httpmock tests: a manual clock and a client of a mock
//! server that signs in with the fixed token `graph-token`.

#![allow(dead_code, unreachable_pub)]

use client_core::{AccessToken, ManualClock, StaticTokenCredential};
use graph_client::{GraphClient, GraphClientBuilder};
use httpmock::MockServer;
use std::sync::Arc;
use time::macros::datetime;

/// The manual clock every test starts from.
pub fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-03-01 12:00 UTC))
}

/// A client builder signing in with `Bearer graph-token` (valid until 2030).
pub fn builder() -> GraphClientBuilder {
    GraphClient::builder(Arc::new(StaticTokenCredential::new(AccessToken::new(
        "graph-token",
        datetime!(2030-01-01 00:00 UTC),
    ))))
}

/// A client of `server`, on `clock`.
pub fn client_on(server: &MockServer, clock: Arc<dyn client_core::Clock>) -> GraphClient {
    builder()
        .base_url(&server.base_url())
        .clock(clock)
        .build()
        .expect("a mock server URL")
}

/// A client of `server`, on a manual `clock`.
pub fn client(server: &MockServer, clock: &ManualClock) -> GraphClient {
    client_on(server, Arc::new(clock.clone()))
}

//! Shared test setup. Scenarios take a [`DataverseClient`] built by [`client_for`] from an
//! environment URL; the ones in `tests/scenarios/` run both here (`tests/shared_scenarios.rs`)
//! and against the tenant emulator (`crates/tenant-emulator/tests/client_scenarios.rs`).
#![allow(dead_code, unreachable_pub)]

use client_core::{AccessToken, ManualClock, StaticTokenCredential};
use dataverse_client::DataverseClient;
use httpmock::HttpMockRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::macros::datetime;

pub const TOKEN: &str = "test-token";

pub fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-03-01 12:00 UTC))
}

/// A client for `environment_url` with a static token and a manual clock (nothing sleeps).
pub fn client_for(environment_url: &str, clock: &ManualClock) -> DataverseClient {
    DataverseClient::builder(
        environment_url,
        Arc::new(StaticTokenCredential::new(AccessToken::new(
            TOKEN,
            datetime!(2030-01-01 00:00 UTC),
        ))),
    )
    .unwrap()
    .clock(Arc::new(clock.clone()))
    .build()
    .unwrap()
}

/// Matches the first `n` requests it is asked about, then no more (httpmock tries mocks in
/// registration order).
pub fn first(n: usize) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    let seen = AtomicUsize::new(0);
    move |_| seen.fetch_add(1, Ordering::SeqCst) < n
}

/// Matches a request whose raw path and query (as sent on the wire) equal `raw`.
pub fn raw_uri(raw: String) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    move |req| {
        let uri = req.uri_str();
        // httpmock reports `http://host:port/path?query`; compare from the path on.
        let path_and_query = match uri.find("://") {
            Some(i) => uri[i + 3..].find('/').map_or("", |j| &uri[i + 3 + j..]),
            None => uri,
        };
        path_and_query == raw
    }
}

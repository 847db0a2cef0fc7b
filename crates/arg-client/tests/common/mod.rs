//! Helpers shared by the httpmock tests.
#![allow(dead_code, unreachable_pub)]

use arg_client::{ArgClient, ArgClientBuilder};
use client_core::{AccessToken, ManualClock, StaticTokenCredential};
use httpmock::HttpMockRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::macros::datetime;

/// The bearer token every test client sends.
pub const TOKEN: &str = "test-token";
/// Path of Resource Graph.
pub const GRAPH: &str = "/providers/Microsoft.ResourceGraph/resources";
/// Path of the inventory resource query.
pub const QUERY: &str = "/resourcequery/resources/query";
/// Path of the admin environment list.
pub const ENVIRONMENTS: &str = "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments";

/// A manual clock at a fixed time.
pub fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-03-01 12:00 UTC))
}

/// A builder with every API pointed at `base` and a static token.
pub fn builder_for(base: &str, clock: &ManualClock) -> ArgClientBuilder {
    ArgClient::builder(Arc::new(StaticTokenCredential::new(AccessToken::new(
        TOKEN,
        datetime!(2030-01-01 00:00 UTC),
    ))))
    .resource_graph_endpoint(base)
    .power_platform_endpoint(base)
    .admin_endpoint(base)
    .clock(Arc::new(clock.clone()))
}

/// A client with every API pointed at `base`.
pub fn client_for(base: &str, clock: &ManualClock) -> ArgClient {
    builder_for(base, clock).build().unwrap()
}

/// Matches the first `n` requests it is asked about, then no more (httpmock tries mocks in
/// the order they were made, so a later mock answers the rest).
pub fn first(n: usize) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    let seen = AtomicUsize::new(0);
    move |_| seen.fetch_add(1, Ordering::SeqCst) < n
}

/// The request body as JSON.
pub fn body_json(req: &HttpMockRequest) -> serde_json::Value {
    serde_json::from_slice(req.body().as_ref()).unwrap_or(serde_json::Value::Null)
}

//! Read-only checks against a real or emulated environment. Ignored by default; run with
//!
//! ```text
//! DATAVERSE_LIVE_URL=https://org.crm.dynamics.com DATAVERSE_TOKEN=eyJ... \
//!     cargo test -p dataverse-client --test live -- --ignored
//! ```
//!
//! Nothing is written: only reads, metadata, change tracking reads and a read-only `$batch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use client_core::{AccessToken, StaticTokenCredential};
use dataverse_client::{
    Batch, BatchMode, Change, DataverseClient, Filter, FilterValue, Key, Query,
};
use futures::TryStreamExt;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

fn live_client() -> DataverseClient {
    let url = std::env::var("DATAVERSE_LIVE_URL").expect("set DATAVERSE_LIVE_URL");
    let token = std::env::var("DATAVERSE_TOKEN").expect("set DATAVERSE_TOKEN");
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    DataverseClient::builder(
        &url,
        Arc::new(StaticTokenCredential::new(AccessToken::new(token, expires))),
    )
    .unwrap()
    .build()
    .unwrap()
}

#[tokio::test]
#[ignore = "needs DATAVERSE_LIVE_URL and DATAVERSE_TOKEN"]
async fn reads_pages_metadata_changes_and_batches() {
    let client = live_client();
    client.who_am_i().await.unwrap();

    // Small pages: every row arrives once, across several next links.
    let all: Vec<Value> = client
        .rows(&client.query("bots").select(["botid", "name"]))
        .try_collect()
        .await
        .unwrap();
    let paged: Vec<Value> = client
        .rows(&client.query("bots").select(["botid", "name"]).page_size(3))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), paged.len());
    let ids: std::collections::HashSet<&str> =
        paged.iter().map(|r| r["botid"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), paged.len(), "a row came twice");
    eprintln!("{} agents", all.len());

    if let Some(first) = all.first() {
        let id = Uuid::parse_str(first["botid"].as_str().unwrap()).unwrap();
        let row: Option<Value> = client.get("bots", &Key::id(id), &["name"]).await.unwrap();
        assert_eq!(row.unwrap()["name"], first["name"]);
        // A typed filter with a quote in the value matches nothing and breaks nothing.
        let none: Vec<Value> = client
            .rows(
                &client
                    .query("bots")
                    .filter(Filter::eq("name", "no such 'agent' & co")),
            )
            .try_collect()
            .await
            .unwrap();
        assert!(none.is_empty());
        let components: Vec<Value> = client
            .rows(
                &client
                    .query("botcomponents")
                    .select(["name", "componenttype"])
                    .filter(Filter::eq("_parentbotid_value", id))
                    .filter(Filter::ne("componenttype", FilterValue::Null)),
            )
            .try_collect()
            .await
            .unwrap();
        eprintln!("{} components in the first agent", components.len());
    }

    let types = client
        .global_option_set("botcomponent_componenttype")
        .await
        .unwrap();
    assert!(types.label(0).is_some());
    let bot = client.entity_definition("bot").await.unwrap();
    assert_eq!(bot.entity_set_name.as_deref(), Some("bots"));
    assert!(
        !client
            .attribute_definitions("bot")
            .await
            .unwrap()
            .is_empty()
    );

    if bot.change_tracking_enabled {
        let mut initial = client.track_changes("bots", &["botid", "name"]);
        let mut n = 0;
        while let Some(c) = initial.try_next().await.unwrap() {
            assert!(matches!(c, Change::Upsert(_)));
            n += 1;
        }
        assert_eq!(n, all.len());
        let link = initial.delta_link().cloned().unwrap();
        let since = client.changes_since(link).read_all().await.unwrap();
        eprintln!("{} changes since the initial sync", since.changes.len());
    }

    let mut batch = Batch::new();
    batch.query(&Query::new("bots").select(["name"]).top(1));
    batch.query(&Query::new("WhoAmI"));
    let results = client
        .batch(batch, BatchMode::ContinueOnError)
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.is_success()), "{results:?}");
}

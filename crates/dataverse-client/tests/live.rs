//! Read-only checks against a real or emulated environment. Ignored by default; run with
//!
//! ```text
//! DATAVERSE_LIVE_URL=https://org.crm.dynamics.com DATAVERSE_TOKEN=eyJ... \
//!     cargo test -p dataverse-client --test live -- --ignored
//! ```
//!
//! The first test writes nothing: only reads, metadata, change tracking reads and a read-only
//! `$batch`. The second creates, changes and deletes one `botcomponent` under the first
//! agent; it also needs `DATAVERSE_LIVE_WRITES=1` and is meant for an emulator or a scratch
//! environment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use client_core::{AccessToken, StaticTokenCredential};
use dataverse_client::{
    Batch, BatchMode, Change, DataverseClient, Filter, FilterValue, Key, Operation, Query,
    UpsertOptions,
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

#[tokio::test]
#[ignore = "needs DATAVERSE_LIVE_URL, DATAVERSE_TOKEN and DATAVERSE_LIVE_WRITES=1"]
async fn writes_batches_and_sees_them_as_changes() {
    assert_eq!(
        std::env::var("DATAVERSE_LIVE_WRITES").as_deref(),
        Ok("1"),
        "this test writes: set DATAVERSE_LIVE_WRITES=1 (emulator or scratch environment only)"
    );
    let client = live_client();
    let bot: Value = client
        .rows(&client.query("bots").select(["botid"]).top(1))
        .try_next()
        .await
        .unwrap()
        .expect("the environment has no agent");
    let bot_id = Uuid::parse_str(bot["botid"].as_str().unwrap()).unwrap();
    assert!(
        client
            .change_tracking_enabled("botcomponent")
            .await
            .unwrap()
    );

    let mut initial = client.track_changes("botcomponents", &["botcomponentid", "name"]);
    while initial.try_next().await.unwrap().is_some() {}
    let delta = initial.delta_link().cloned().unwrap();

    // A change set: create a component bound to the agent, then change it through `$1`.
    let name = format!("dataverse-client live test {}", Uuid::new_v4());
    let mut batch = Batch::new();
    let mut cs = batch.change_set();
    let created = cs.create(
        "botcomponents",
        serde_json::json!({
            "name": name,
            "schemaname": "dvclient.livetest",
            "componenttype": 9,
            "parentbotid@odata.bind": format!("/bots({bot_id})"),
        }),
    );
    cs.push(
        Operation::new(http::Method::PATCH, &created.reference())
            .json(serde_json::json!({"description": "changed in the same change set"})),
    );
    batch.get("bots", &Key::id(bot_id), &["name"]);
    let results = client.batch(batch, BatchMode::StopOnError).await.unwrap();
    assert!(results.iter().all(|r| r.is_success()), "{results:?}");
    let id = results[0].response().unwrap().entity_id().unwrap();

    let row: Value = client
        .get(
            "botcomponents",
            &Key::id(id),
            &["name", "description", "_parentbotid_value"],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row["name"], name.as_str());
    assert_eq!(row["description"], "changed in the same change set");
    assert_eq!(row["_parentbotid_value"], bot_id.to_string());

    let changes = client.changes_since(delta).read_all().await.unwrap();
    assert!(
        changes
            .changes
            .iter()
            .any(|c| matches!(c, Change::Upsert(r) if r["botcomponentid"] == id.to_string()))
    );

    let key = Key::id(id);
    let err = client
        .upsert(
            "botcomponents",
            &key,
            &serde_json::json!({"description": "x"}),
            UpsertOptions::new().create_only(),
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    client
        .upsert(
            "botcomponents",
            &key,
            &serde_json::json!({"description": "y"}),
            UpsertOptions::new().update_only(),
        )
        .await
        .unwrap();
    client.delete("botcomponents", &key).await.unwrap();
    assert!(
        client
            .get::<Value>("botcomponents", &key, &[])
            .await
            .unwrap()
            .is_none()
    );
    let after = client
        .changes_since(changes.delta_link)
        .read_all()
        .await
        .unwrap();
    assert!(
        after.changes.contains(&Change::Deleted { id }),
        "{:?}",
        after.changes
    );
}

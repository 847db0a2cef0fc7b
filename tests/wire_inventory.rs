//! The inventory features against real-shaped servers (httpmock), not the emulator: each test
//! serves the shape the real service documents or is seen to send, so that a change in the
//! emulator cannot hide a misreading shared by both sides. See docs/wire/inventory-scan.md.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use client_core::{AccessToken, StaticTokenCredential};
use connector::inventory::dataverse::{ReadMode, ReadSettings, read_environment};
use dataverse_client::DataverseClient;
use httpmock::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

const API: &str = "/api/data/v9.2";
const NOW: OffsetDateTime = datetime!(2026-12-02 12:00 UTC);

fn token() -> Arc<StaticTokenCredential> {
    Arc::new(StaticTokenCredential::new(AccessToken::new(
        "t",
        OffsetDateTime::now_utc() + time::Duration::hours(1),
    )))
}

fn dataverse(server: &MockServer) -> DataverseClient {
    DataverseClient::builder(&server.base_url(), token())
        .unwrap()
        .build()
        .unwrap()
}

fn settings() -> ReadSettings {
    ReadSettings {
        usage_days: 30,
        usage_refresh: time::Duration::DAY,
        full: false,
    }
}

/// `botcomponents` without change tracking: the service ignores `Prefer: odata.track-changes`
/// (no `Preference-Applied`, no delta link) and pages by next link. The scan keeps those rows,
/// reports the table as untracked, and reads each page once (not a second time in full).
#[tokio::test]
async fn an_untracked_table_is_read_once_and_reported() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let bot = "00000000-0000-0000-0000-0000000000b1";
    let bots = server
        .mock_async(|w, t| {
            w.method(GET).path(format!("{API}/bots"));
            t.status(200)
                .header("Preference-Applied", "odata.track-changes,odata.maxpagesize=5000")
                .json_body(json!({
                    "@odata.context": format!("{base}{API}/$metadata#bots"),
                    "value": [{"botid": bot, "name": "Helpdesk", "schemaname": "cr5e3_helpdesk"}],
                    "@odata.deltaLink": format!("{base}{API}/bots?$select=botid&$deltatoken=1%2101%2f01%2f2026"),
                }));
        })
        .await;
    let component = |n: u8| {
        json!({
            "botcomponentid": format!("00000000-0000-0000-0000-0000000000c{n}"),
            "name": format!("Topic {n}"), "schemaname": format!("cr5e3_helpdesk.topic.T{n}"),
            "componenttype": 9, "data": "kind: AdaptiveDialog", "statecode": 0,
            "_parentbotid_value": bot,
        })
    };
    let page2_path = format!(
        "{API}/botcomponents?$select=botcomponentid&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E"
    );
    let page2 = server
        .mock_async(|w, t| {
            w.method(GET)
                .path(format!("{API}/botcomponents"))
                .query_param_exists("$skiptoken");
            t.status(200).json_body(json!({"value": [component(2)]}));
        })
        .await;
    let page1 = server
        .mock_async(|w, t| {
            w.method(GET)
                .path(format!("{API}/botcomponents"))
                .query_param_missing("$skiptoken");
            t.status(200).json_body(json!({
                "value": [component(1)],
                "@odata.nextLink": format!("{base}{page2_path}"),
            }));
        })
        .await;
    let read = read_environment(&dataverse(&server), None, &settings(), NOW)
        .await
        .unwrap();
    assert_eq!(read.mode, ReadMode::Full);
    assert_eq!(read.data.components.len(), 2);
    assert!(read.data.components_delta.is_none());
    assert!(read.data.bots_delta.is_some());
    assert!(
        read.notes
            .iter()
            .any(|n| n.contains("botcomponents is not change-tracked")),
        "{:?}",
        read.notes
    );
    bots.assert_calls_async(1).await;
    page1.assert_calls_async(1).await;
    page2.assert_calls_async(1).await;
}

//! Change tracking over plain HTTP: `Prefer: odata.track-changes`, delta links, `$deletedEntity`
//! entries, paging inside deltas, refused query options and token expiry.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dataverse_common;

use std::sync::Arc;
use std::time::Duration;

use dataverse_common::{Server, column, guid, start, start_default};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenant_emulator::clock::ManualClock;
use tenant_emulator::dataverse::{Dataverse, DataverseConfig};

const TRACK: (&str, &str) = ("Prefer", "odata.track-changes");

fn bots(ids: std::ops::Range<u64>) -> impl Iterator<Item = Value> {
    ids.map(|i| json!({"botid": guid(i), "name": format!("bot {i}")}))
}

async fn initial_delta_link(server: &Server) -> String {
    let reply = server.get("bots?$select=name", &[TRACK]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["@odata.deltaLink"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn delta_cycle_upserts_deletes_then_nothing() {
    let server = start_default().await;
    server.seed("bots", bots(1..4));

    let first = server.get("bots?$select=name", &[TRACK]).await;
    assert_eq!(
        first.header("Preference-Applied"),
        Some("odata.track-changes")
    );
    let body = first.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#bots(name)", server.base)
    );
    assert_eq!(
        column(&body, "name"),
        [json!("bot 1"), json!("bot 2"), json!("bot 3")]
    );
    assert!(body.get("@odata.nextLink").is_none());
    let delta = body["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert!(
        delta.starts_with(&format!("{}/bots?$select=name&$deltatoken=", server.base)),
        "{delta}"
    );

    // Two upserts (an update and a create) and a delete, all over HTTP.
    let update = server
        .patch(
            &format!("bots({})", guid(1)),
            &[],
            json!({"name": "bot 1 renamed"}),
        )
        .await;
    assert_eq!(update.status, StatusCode::NO_CONTENT);
    let create = server
        .post("bots", &[], json!({"botid": guid(9), "name": "bot 9"}))
        .await;
    assert_eq!(create.status, StatusCode::NO_CONTENT);
    let delete = server.delete(&format!("bots({})", guid(2)), &[]).await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);

    let changes = server.get(&delta, &[TRACK]).await;
    assert_eq!(changes.status, StatusCode::OK, "{}", changes.text);
    let body = changes.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#bots(name)/$delta", server.base)
    );
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 3);
    assert_eq!(value[0]["name"], "bot 1 renamed");
    assert_eq!(value[0]["botid"], guid(1));
    assert!(value[0]["@odata.etag"].is_string());
    assert_eq!(value[1]["name"], "bot 9");
    assert_eq!(
        value[2],
        json!({
            "@odata.context": format!("{}/$metadata#bots/$deletedEntity", server.base),
            "id": guid(2),
            "reason": "deleted",
        })
    );
    let next_delta = body["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert_ne!(next_delta, delta);

    let empty = server.get(&next_delta, &[TRACK]).await.json();
    assert_eq!(empty["value"], json!([]));
    assert!(empty["@odata.deltaLink"].is_string());
    // Without the Prefer header the delta link still works.
    let again = server.get(&next_delta, &[]).await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn large_initial_and_delta_results_page_until_the_delta_link() {
    let server = start_default().await;
    server.seed("bots", bots(0..12));
    let prefer = ("Prefer", "odata.track-changes,odata.maxpagesize=5");
    let mut url = "bots?$select=name".to_owned();
    let mut ids = Vec::new();
    let delta = loop {
        let reply = server.get(&url, &[prefer]).await;
        assert_eq!(
            reply.header("Preference-Applied"),
            Some("odata.track-changes,odata.maxpagesize=5")
        );
        let body = reply.json();
        ids.extend(column(&body, "botid"));
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(body.get("@odata.deltaLink").is_none());
            url = next.to_owned();
        } else {
            break body["@odata.deltaLink"].as_str().unwrap().to_owned();
        }
    };
    assert_eq!(ids, (0..12).map(|i| json!(guid(i))).collect::<Vec<_>>());

    // Twelve changes: eight updates and four deletions.
    for i in 0..8 {
        server
            .patch(
                &format!("bots({})", guid(i)),
                &[],
                json!({"name": format!("v2 {i}")}),
            )
            .await;
    }
    for i in 8..12 {
        server.delete(&format!("bots({})", guid(i)), &[]).await;
    }
    let mut url = delta;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let body = server.get(&url, &[prefer]).await.json();
        pages += 1;
        for entry in body["value"].as_array().unwrap() {
            seen.push(
                entry
                    .get("id")
                    .or_else(|| entry.get("botid"))
                    .unwrap()
                    .clone(),
            );
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => {
                assert!(body["@odata.deltaLink"].is_string());
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..12).map(|i| json!(guid(i))).collect::<Vec<_>>());
}

#[tokio::test]
async fn query_options_are_refused_with_change_tracking() {
    let server = start_default().await;
    for option in [
        "$filter=name eq 'x'",
        "$orderby=name",
        "$expand=botcomponent_parent_bot",
        "$top=2",
    ] {
        let reply = server
            .get(&format!("bots?$select=name&{option}"), &[TRACK])
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{option}");
        let name = option.split('=').next().unwrap();
        assert_eq!(
            reply.error().1,
            format!(
                "The \"{name}\" query parameter isn't supported when Change Tracking is enabled."
            )
        );
    }
    // A table without change tracking ignores the preference, as Dataverse does: every row,
    // no `Preference-Applied: odata.track-changes`, no delta link.
    let untracked = server.get("systemuserroles_association", &[TRACK]).await;
    assert_eq!(untracked.status, StatusCode::OK, "{}", untracked.text);
    assert!(
        !untracked
            .header("preference-applied")
            .unwrap_or_default()
            .contains("track-changes")
    );
    assert!(untracked.json().get("@odata.deltaLink").is_none());
    assert!(untracked.json()["value"].is_array());
    let garbled = server
        .get("bots?$select=name&$deltatoken=banana", &[TRACK])
        .await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
    let future = server
        .get(
            "bots?$select=name&$deltatoken=99999999999%2101%2F01%2F2026%2000%3A00%3A00",
            &[TRACK],
        )
        .await;
    assert_eq!(future.status, StatusCode::BAD_REQUEST);
}

fn assert_expired(reply: &dataverse_common::Reply) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(
        reply.error(),
        (
            "0x80044352".to_owned(),
            "Version stamp associated with the client has expired. Please perform a full sync."
                .to_owned()
        )
    );
}

#[tokio::test]
async fn expired_tokens_answer_the_documented_error() {
    let server = start_default().await;
    server.seed("bots", bots(1..3));
    let old = initial_delta_link(&server).await;
    server.dataverse.expire_change_tracking_tokens();
    assert_expired(&server.get(&old, &[TRACK]).await);
    // A full sync gives a token that works again.
    let fresh = initial_delta_link(&server).await;
    assert_eq!(server.get(&fresh, &[TRACK]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_expire_after_the_retention_period() {
    let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
    let mut config = DataverseConfig::default();
    config.clock = Arc::new(clock.clone());
    let server = start(Dataverse::new(config)).await;
    server.seed("bots", bots(1..3));
    let link = initial_delta_link(&server).await;
    clock.advance(Duration::from_secs(6 * 24 * 3600));
    assert_eq!(server.get(&link, &[TRACK]).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    assert_expired(&server.get(&link, &[TRACK]).await);
}

#[tokio::test]
async fn deletions_come_after_upserts_and_changes_can_be_counted() {
    let server = start_default().await;
    server.seed("bots", bots(1..4));
    let delta = initial_delta_link(&server).await;
    // The deletion happens first, yet comes last (new or updated rows first, then deletions).
    server.delete(&format!("bots({})", guid(3)), &[]).await;
    server
        .patch(&format!("bots({})", guid(1)), &[], json!({"name": "later"}))
        .await;
    let body = server.get(&delta, &[TRACK]).await.json();
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    assert_eq!(value[0]["botid"], guid(1));
    assert_eq!(value[1]["reason"], "deleted");
    assert_eq!(value[1]["id"], guid(3));

    let token = delta.split("$deltatoken=").nth(1).unwrap();
    let count = server
        .get(&format!("bots/$count?$deltatoken={token}"), &[])
        .await;
    assert_eq!(count.status, StatusCode::OK);
    assert_eq!(count.text, "2");
}

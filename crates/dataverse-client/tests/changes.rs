//! Change tracking against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{client_for, clock, raw_uri};
use dataverse_client::{Change, DataverseClient, DeltaLink, Error};
use futures::TryStreamExt;
use httpmock::prelude::*;
use serde_json::json;
use uuid::Uuid;

const API: &str = "/api/data/v9.2";

/// Initial sync, then a delta with two upserts and one deletion, then an empty delta.
/// Returns what each of the three reads saw.
async fn scenario_delta_cycle(client: &DataverseClient) -> (Vec<Change>, Vec<Change>, Vec<Change>) {
    let mut initial = client.track_changes("bots", &["botid", "name"]);
    let mut first = Vec::new();
    while let Some(c) = initial.try_next().await.unwrap() {
        first.push(c);
    }
    let link = initial.delta_link().cloned().unwrap();
    // Delta links are stored between runs as plain strings.
    let link: DeltaLink = serde_json::from_str(&serde_json::to_string(&link).unwrap()).unwrap();
    let second = client.changes_since(link).read_all().await.unwrap();
    let third = client
        .changes_since(second.delta_link.clone())
        .read_all()
        .await
        .unwrap();
    (first, second.changes, third.changes)
}

#[tokio::test]
async fn a_delta_cycle() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let id = |n: u128| Uuid::from_u128(n).to_string();
    let delta1 =
        format!("{API}/bots?$select=botid,name&$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44");
    let delta2 =
        format!("{API}/bots?$select=botid,name&$deltatoken=919043%2108%2f22%2f2017%2008%3a11%3a00");
    let delta3 = format!("{API}/bots?$select=botid,name&$deltatoken=919044");
    let page2 = format!("{API}/bots?$select=botid,name&$skiptoken=2");
    let empty = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_uri(delta2.clone()))
                .header("prefer", "odata.track-changes");
            then.status(200).json_body(json!({
                "@odata.context": format!("{base}{API}/$metadata#bots(botid,name)/$delta"),
                "value": [],
                "@odata.deltaLink": format!("{base}{delta3}"),
            }));
        })
        .await;
    // The changes come in two pages: a next link inside the delta response.
    let delta1_page2 = format!("{API}/bots?$select=botid,name&$deltatoken=919042&$skiptoken=2");
    let changes2 = server
        .mock_async(|when, then| {
            when.method(GET).is_true(raw_uri(delta1_page2.clone())).header("prefer", "odata.track-changes");
            then.status(200).json_body(json!({
                "@odata.context": format!("{base}{API}/$metadata#bots(botid,name)/$delta"),
                "value": [
                    {"@odata.context": format!("{base}{API}/$metadata#bots/$deletedEntity"), "id": id(2), "reason": "deleted"},
                ],
                "@odata.deltaLink": format!("{base}{delta2}"),
            }));
        })
        .await;
    let changes = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_uri(delta1.clone()))
                .header("prefer", "odata.track-changes");
            then.status(200).json_body(json!({
                "@odata.context": format!("{base}{API}/$metadata#bots(botid,name)/$delta"),
                "value": [
                    {"@odata.etag": "W/\"2\"", "botid": id(1), "name": "renamed"},
                    {"@odata.etag": "W/\"3\"", "botid": id(3), "name": "new"},
                ],
                "@odata.nextLink": format!("{base}{delta1_page2}"),
            }));
        })
        .await;
    let initial2 = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_uri(page2.clone()))
                .header("prefer", "odata.track-changes");
            then.status(200).json_body(json!({
                "value": [{"botid": id(2), "name": "b"}],
                "@odata.deltaLink": format!("{base}{delta1}"),
            }));
        })
        .await;
    let initial1 = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/bots"))
                .query_param("$select", "botid,name")
                .query_param_missing("$deltatoken")
                .query_param_missing("$skiptoken")
                .header("prefer", "odata.track-changes");
            then.status(200)
                .header("Preference-Applied", "odata.track-changes")
                .json_body(json!({
                    "value": [{"botid": id(1), "name": "a"}],
                    "@odata.nextLink": format!("{base}{page2}"),
                }));
        })
        .await;
    let c = clock();
    let (first, second, third) = scenario_delta_cycle(&client_for(&base, &c)).await;
    assert_eq!(
        first,
        [
            Change::Upsert(json!({"botid": id(1), "name": "a"})),
            Change::Upsert(json!({"botid": id(2), "name": "b"})),
        ]
    );
    assert_eq!(second.len(), 3);
    assert!(matches!(&second[0], Change::Upsert(r) if r["name"] == "renamed"));
    assert!(matches!(&second[1], Change::Upsert(r) if r["name"] == "new"));
    assert_eq!(
        second[2],
        Change::Deleted {
            id: Uuid::from_u128(2)
        }
    );
    assert!(third.is_empty());
    for m in [initial1, initial2, changes, changes2, empty] {
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn an_expired_delta_token_is_a_distinct_error() {
    let server = MockServer::start_async().await;
    let bodies = [
        json!({"error": {"code": "0x80044352", "message": "Version stamp associated with the client has expired. Please perform a full sync."}}),
        json!({"error": {"code": "-2147204270", "message": "expired"}}),
        json!({"error": {"code": "0x80040203", "message": "The $deltatoken 'x' is not valid. Start again with odata.track-changes."}}),
    ];
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    for (i, body) in bodies.iter().enumerate() {
        let m = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("{API}/bots"));
                then.status(400).json_body(body.clone());
            })
            .await;
        let link = DeltaLink::new(server.url(format!("{API}/bots?$select=name&$deltatoken={i}")));
        let err = client.changes_since(link).read_all().await.unwrap_err();
        assert!(err.is_delta_token_expired(), "{i}: {err}");
        assert!(matches!(err, Error::DeltaTokenExpired(_)));
        assert_eq!(err.status(), Some(400));
        m.assert_calls_async(1).await;
        m.delete_async().await;
    }
    // Another 400 is not an expired token.
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/bots"));
            then.status(400).json_body(json!({"error": {"code": "0x80040203", "message": "The \"$filter\" query parameter isn't supported when Change Tracking is enabled."}}));
        })
        .await;
    let link = DeltaLink::new(server.url(format!("{API}/bots?$deltatoken=9")));
    let err = client.changes_since(link).read_all().await.unwrap_err();
    assert!(
        !err.is_delta_token_expired() && matches!(err, Error::Http(_)),
        "{err}"
    );
}

#[tokio::test]
async fn a_read_without_a_delta_link_says_to_enable_change_tracking() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/bots"));
            then.status(200)
                .json_body(json!({"value": [{"botid": "x"}]}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let mut s = client.track_changes("bots", &[]);
    assert!(matches!(
        s.try_next().await.unwrap(),
        Some(Change::Upsert(_))
    ));
    let err = s.try_next().await.unwrap_err();
    assert!(matches!(err, Error::MissingDeltaLink(_)), "{err}");
    assert!(err.to_string().contains("change tracking"));
    assert!(s.try_next().await.unwrap().is_none());
}

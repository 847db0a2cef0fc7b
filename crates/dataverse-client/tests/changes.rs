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

/// Change tracking off for the table: the service ignores `Prefer: odata.track-changes`
/// (no `Preference-Applied`), pages with next links and ends without a delta link. The first
/// sync keeps every row, says the table is not tracked, and reads each page once.
#[tokio::test]
async fn an_untracked_table_is_read_once_in_full() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let page2 = format!(
        "{API}/msdyn_aimodels?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E"
    );
    let second = server
        .mock_async(|when, then| {
            when.method(GET).is_true(raw_uri(page2.clone()));
            then.status(200)
                .header("Preference-Applied", "odata.maxpagesize=1")
                .json_body(json!({"value": [{"name": "b"}]}));
        })
        .await;
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/msdyn_aimodels"))
                .query_param_missing("$skiptoken")
                .header_exists("prefer");
            then.status(200)
                .header("Preference-Applied", "odata.maxpagesize=1")
                .json_body(json!({
                    "value": [{"name": "a"}],
                    "@odata.nextLink": format!("{base}{page2}"),
                }));
        })
        .await;
    let c = clock();
    let client = client_for(&base, &c);
    let sync = client
        .track_changes("msdyn_aimodels", &["name"])
        .read_initial()
        .await
        .unwrap();
    assert_eq!(sync.rows, [json!({"name": "a"}), json!({"name": "b"})]);
    assert!(!sync.is_tracked() && sync.delta_link.is_none());
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;

    // The stream says so too, after its first page.
    let mut s = client.track_changes("msdyn_aimodels", &["name"]);
    assert_eq!(s.is_tracked(), None);
    s.try_next().await.unwrap();
    assert_eq!(s.is_tracked(), Some(false));
}

/// The service says it tracks the table (`Preference-Applied`, here among other preferences
/// and in another case) but the read ends without a delta link: that is an error, not an
/// untracked table.
#[tokio::test]
async fn a_tracked_read_without_a_delta_link_is_an_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/bots"));
            then.status(200)
                .header(
                    "Preference-Applied",
                    "odata.maxpagesize=500, ODATA.TRACK-CHANGES",
                )
                .json_body(json!({"value": [{"botid": "x"}]}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .track_changes("bots", &[])
        .read_initial()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingDeltaLink(_)), "{err}");
}

/// The Web API status of an expired token is not documented: the code (hex or decimal) or
/// the version stamp message says it, whatever the status.
#[tokio::test]
async fn an_expired_token_is_recognised_at_any_status() {
    let server = MockServer::start_async().await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let answers = [
        (
            410,
            json!({"error": {"code": "-2147204270", "message": "expired"}}),
        ),
        (
            410,
            json!({"error": {"code": "", "message": "Version stamp associated with the client has expired. Please perform a full sync."}}),
        ),
        (
            403,
            json!({"error": {"code": "0x80044352", "message": "Version stamp associated with the client has expired."}}),
        ),
    ];
    for (i, (status, body)) in answers.iter().enumerate() {
        let m = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("{API}/bots"));
                then.status(*status).json_body(body.clone());
            })
            .await;
        let link = DeltaLink::new(server.url(format!("{API}/bots?$deltatoken={i}")));
        let err = client.changes_since(link).read_all().await.unwrap_err();
        assert!(err.is_delta_token_expired(), "{i}: {err}");
        assert_eq!(err.status(), Some(*status));
        m.delete_async().await;
    }
}

/// A next link is followed byte for byte: its encoded cookie (double-encoded inside) is
/// neither decoded nor encoded again. (The one rewrite the URL standard makes is `'` to
/// `%27` in a query, which the service decodes to the same text; Dataverse's links already
/// carry `%27`.)
#[tokio::test]
async fn a_next_link_is_followed_verbatim() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let raw = format!(
        "{API}/botcomponents?$select=name&$filter=(name%20eq%20%27a%27%27b%27)&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%22%20/%3E"
    );
    let m = server
        .mock_async(|when, then| {
            when.method(GET).is_true(raw_uri(raw.clone()));
            then.status(200)
                .json_body(json!({"value": [{"name": "b"}]}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/botcomponents"))
                .query_param_missing("$skiptoken");
            then.status(200).json_body(json!({
                "value": [{"name": "a"}],
                "@odata.nextLink": format!("{base}{raw}"),
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&base, &c);
    let q = client.query("botcomponents").select(["name"]);
    let rows: Vec<serde_json::Value> = client.rows(&q).try_collect().await.unwrap();
    assert_eq!(rows.len(), 2);
    m.assert_calls_async(1).await;
}

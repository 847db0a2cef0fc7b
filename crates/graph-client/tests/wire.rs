//! Every Graph wire format this crate speaks, against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use futures::TryStreamExt;
use graph_client::{AiInteraction, ApiVersion, BatchRequest, Error, InteractionQuery, app_class};
use httpmock::HttpMockRequest;
use httpmock::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{builder, client, clock};
use time::macros::datetime;

const USER: &str = "254efcd0-5094-4fc5-b2b3-1637629393e1";
const EXPORT: &str = "/v1.0/copilot/users/254efcd0-5094-4fc5-b2b3-1637629393e1/interactionHistory/getAllEnterpriseInteractions";

/// The path and query exactly as sent on the wire.
fn raw(req: &HttpMockRequest) -> String {
    let uri = req.uri_str();
    match uri.find("://") {
        Some(i) => uri[i + 3..]
            .find('/')
            .map_or(String::new(), |j| uri[i + 3 + j..].to_owned()),
        None => uri.to_owned(),
    }
}

fn raw_is(expected: String) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    move |req| raw(req) == expected
}

/// Matches the first `n` requests it is asked about.
fn first(n: usize) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    let seen = AtomicUsize::new(0);
    move |_| seen.fetch_add(1, Ordering::SeqCst) < n
}

fn interaction(id: &str, kind: &str) -> serde_json::Value {
    json!({"id": id, "requestId": format!("r-{id}"), "sessionId": "s", "interactionType": kind,
           "appClass": app_class::WORD, "createdDateTime": "2026-02-01T10:00:00Z", "etag": id,
           "body": {"contentType": "text", "content": "hi"}})
}

#[tokio::test]
async fn export_sends_both_bounds_app_class_and_top_then_follows_next_links() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    let first_uri = format!(
        "{EXPORT}?$top=100&$filter=createdDateTime%20gt%202025-11-24T00:00:00Z%20and%20createdDateTime%20lt%202025-11-25T00:00:00Z%20and%20(appClass%20eq%20%27IPM.SkypeTeams.Message.Copilot.Word%27%20or%20appClass%20eq%20%27IPM.SkypeTeams.Message.Copilot.Teams%27)"
    );
    let next = format!("{}{EXPORT}?$skiptoken=abc%3D%3D", server.base_url());
    let p1 = server
        .mock_async(|when, then| {
            when.method(GET)
                .header("authorization", "Bearer graph-token")
                .header("accept", "application/json")
                .is_true(raw_is(first_uri.clone()));
            then.json_body(json!({
                "@odata.context": "x",
                "@odata.nextLink": next,
                "value": [interaction("1", "userPrompt"), interaction("2", "aiResponse")]
            }));
        })
        .await;
    let p2 = server
        .mock_async(|when, then| {
            when.method(GET)
                .is_true(raw_is(format!("{EXPORT}?$skiptoken=abc%3D%3D")));
            then.json_body(json!({"value": [interaction("3", "userPrompt")]}));
        })
        .await;
    let q = InteractionQuery::new()
        .created_between(
            datetime!(2025-11-24 00:00 UTC),
            datetime!(2025-11-25 00:00 UTC),
        )
        .app_classes([app_class::WORD, app_class::TEAMS]);
    let mut pages = c.interaction_pages::<AiInteraction>(USER, &q);
    let page1 = pages.try_next().await.unwrap().unwrap();
    assert_eq!(page1.items.len(), 2);
    assert!(page1.items[0].is_prompt());
    let cont = page1.continuation().unwrap().clone();
    let page2 = pages.try_next().await.unwrap().unwrap();
    assert_eq!(page2.items[0].id, "3");
    assert!(page2.continuation().is_none());
    assert!(pages.try_next().await.unwrap().is_none());
    p1.assert_async().await;
    p2.assert_calls_async(1).await;

    // The continuation survives serialisation and resumes at page two.
    let saved = serde_json::to_string(&cont).unwrap();
    let resumed: Vec<AiInteraction> = c
        .interaction_pages_from(serde_json::from_str(&saved).unwrap())
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(resumed.len(), 1);
    p2.assert_calls_async(2).await;
    p1.assert_calls_async(1).await;
}

#[tokio::test]
async fn the_stream_is_lazy_and_bad_queries_fail_on_first_poll() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let t = datetime!(2025-11-24 00:00 UTC);
    let mut bad =
        c.interaction_pages::<AiInteraction>(USER, &InteractionQuery::new().created_between(t, t));
    let _unpolled = c.interaction_pages::<AiInteraction>(USER, &InteractionQuery::new());
    let e = bad.try_next().await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    assert!(e.to_string().contains("window is empty"), "{e}");
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn next_links_to_other_hosts_and_repeated_links_are_refused() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    server
        .mock_async(|when, then| {
            when.path(EXPORT).query_param("$top", "100");
            then.json_body(
                json!({"@odata.nextLink": "https://evil.example.com/v1.0/x", "value": []}),
            );
        })
        .await;
    let mut pages = c.interaction_pages::<AiInteraction>(USER, &InteractionQuery::new());
    let e = pages.try_next().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("not followed so the token is not sent there"),
        "{e}"
    );

    let loop_server = MockServer::start_async().await;
    let c = client(&loop_server, &clock);
    let again = format!("{}/v1.0/users?$skiptoken=same", loop_server.base_url());
    loop_server
        .mock_async(|when, then| {
            when.path("/v1.0/users");
            then.json_body(json!({"@odata.nextLink": again, "value": [{"id": "u"}]}));
        })
        .await;
    let req = graph_client::CollectionRequest::new(c.url("users").unwrap());
    let mut pages = c.pages::<serde_json::Value>(req);
    assert!(pages.try_next().await.unwrap().is_some());
    assert!(pages.try_next().await.unwrap().is_some());
    assert!(matches!(
        pages.try_next().await.unwrap_err(),
        Error::NextLinkLoop { .. }
    ));
}

#[tokio::test]
async fn graph_error_bodies_are_typed() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    server
        .mock_async(|when, then| {
            when.path(EXPORT);
            then.status(403)
                .header("request-id", "hdr-1")
                .json_body(json!({"error": {
                    "code": "Authorization_RequestDenied",
                    "message": "Insufficient privileges to complete the operation.",
                    "innerError": {"date": "2026-02-19T09:46:54", "request-id": "a32843a6", "client-request-id": "c-1"}
                }}));
        })
        .await;
    let e = c
        .interaction_pages::<AiInteraction>(USER, &InteractionQuery::new())
        .try_next()
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(e.is_forbidden() && !e.is_retryable() && !e.is_throttled());
    assert_eq!(e.code(), Some("Authorization_RequestDenied"));
    assert_eq!(
        e.message(),
        Some("Insufficient privileges to complete the operation.")
    );
    assert_eq!(e.request_id(), Some("a32843a6"));
    let g = e.graph().unwrap();
    assert_eq!(g.body().date(), Some("2026-02-19T09:46:54"));
    assert_eq!(g.body().client_request_id(), Some("c-1"));
    assert_eq!(g.header_request_id(), Some("hdr-1"));
    let text = e.to_string();
    assert!(text.contains("GET /v1.0/copilot/users/"), "{text}");
    assert!(!text.contains("graph-token"), "{text}");
}

#[tokio::test]
async fn throttling_honours_retry_after_and_backs_off_without_it() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    let throttled = server
        .mock_async(|when, then| {
            when.path("/v1.0/subscribedSkus").is_true(first(1));
            then.status(429).header("Retry-After", "7").json_body(
                json!({"error": {"code": "TooManyRequests", "message": "Too many requests"}}),
            );
        })
        .await;
    let unavailable = server
        .mock_async(|when, then| {
            when.path("/v1.0/subscribedSkus").is_true(first(1));
            then.status(503);
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.path("/v1.0/subscribedSkus");
            then.json_body(json!({"value": [{"skuId": "639dec6b-bb19-468b-871c-c5c441c4b0cb", "skuPartNumber": "Microsoft_365_Copilot", "consumedUnits": 3}]}));
        })
        .await;
    let skus = c.subscribed_skus().await.unwrap();
    assert_eq!(skus[0].consumed_units, Some(3));
    throttled.assert_calls_async(1).await;
    unavailable.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    let sleeps = clock.sleeps();
    assert!(
        sleeps.iter().any(|d| *d >= Duration::from_secs(7)),
        "{sleeps:?}"
    );
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");

    // When retries run out, the 429 comes back typed, with its Retry-After.
    let always = MockServer::start_async().await;
    let c = client(&always, &clock);
    always
        .mock_async(|when, then| {
            when.any_request();
            then.status(429)
                .header("Retry-After", "1")
                .json_body(json!({"error": {"code": "TooManyRequests", "message": "slow"}}));
        })
        .await;
    let e = c.subscribed_skus().await.unwrap_err();
    assert!(e.is_throttled() && e.is_retryable(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn copilot_users_by_sku_part_number_with_eventual_consistency() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    server
        .mock_async(|when, then| {
            when.path("/v1.0/subscribedSkus");
            then.json_body(json!({"value": [
                {"skuId": "11111111-1111-1111-1111-111111111111", "skuPartNumber": "ENTERPRISEPACK"},
                {"skuId": "639dec6b-bb19-468b-871c-c5c441c4b0cb", "skuPartNumber": "Microsoft_365_Copilot"},
                {"skuId": "22222222-2222-2222-2222-222222222222", "skuPartNumber": "Custom_Copilot"}
            ]}));
        })
        .await;
    let select = "id,displayName,userPrincipalName,mail,accountEnabled,assignedLicenses";
    let mut mocks = Vec::new();
    for (sku, body) in [
        (
            "639dec6b-bb19-468b-871c-c5c441c4b0cb",
            json!({"@odata.count": 2, "value": [{"id": "u1", "displayName": "Ann"}, {"id": "u2"}]}),
        ),
        (
            "22222222-2222-2222-2222-222222222222",
            json!({"value": [{"id": "u2"}, {"id": "u3", "assignedLicenses": [{"skuId": "22222222-2222-2222-2222-222222222222", "disabledPlans": []}]}]}),
        ),
    ] {
        let uri = format!(
            "/v1.0/users?$filter=assignedLicenses/any(x:x/skuId%20eq%20{sku})&$count=true&$select={select}&$top=999"
        );
        mocks.push(
            server
                .mock_async(|when, then| {
                    when.method(GET)
                        .header("consistencylevel", "eventual")
                        .is_true(raw_is(uri));
                    then.json_body(body);
                })
                .await,
        );
    }
    let users = c
        .copilot_users(&["microsoft_365_copilot".into(), "Custom_Copilot".into()])
        .await
        .unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["u1", "u2", "u3"]);
    assert_eq!(users[0].display_name.as_deref(), Some("Ann"));
    assert_eq!(users[2].assigned_licenses.len(), 1);
    for m in mocks {
        m.assert_async().await;
    }
    // The default part number picks only the Microsoft 365 Copilot SKU.
    let default_users = c.copilot_users(&[]).await.unwrap();
    assert_eq!(default_users.len(), 2);

    let e = c
        .users_with_license("not-a-guid) or true")
        .try_next()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }));
}

#[tokio::test]
async fn copilot_users_without_subscribed_skus_use_given_or_well_known_sku_ids() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    // Only User.Read.All: subscribedSkus answers 403 (it needs LicenseAssignment.Read.All).
    let skus = server
        .mock_async(|when, then| {
            when.path("/v1.0/subscribedSkus");
            then.status(403).json_body(json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}));
        })
        .await;
    let select = "id,displayName,userPrincipalName,mail,accountEnabled,assignedLicenses";
    let users_of = |sku: &str| {
        format!(
            "/v1.0/users?$filter=assignedLicenses/any(x:x/skuId%20eq%20{sku})&$count=true&$select={select}&$top=999"
        )
    };
    let standard = server
        .mock_async(|when, then| {
            when.is_true(raw_is(users_of(graph_client::MICROSOFT_365_COPILOT_SKU_ID)));
            then.json_body(json!({"value": [{"id": "u1"}]}));
        })
        .await;
    let custom = server
        .mock_async(|when, then| {
            when.is_true(raw_is(users_of("22222222-2222-2222-2222-222222222222")));
            then.json_body(json!({"value": [{"id": "u2"}, {"id": "u1"}]}));
        })
        .await;

    // A skuId given as such needs no subscribedSkus at all; duplicates count once.
    let (users, source) = c
        .copilot_users_with_source(&[
            "22222222-2222-2222-2222-222222222222".into(),
            " 22222222-2222-2222-2222-222222222222".into(),
        ])
        .await
        .unwrap();
    assert_eq!(source, graph_client::SkuSource::Given);
    assert_eq!(
        users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u2", "u1"]
    );
    skus.assert_calls_async(0).await;
    custom.assert_calls_async(1).await;

    // The default part number falls back to the well-known skuId when subscribedSkus is refused.
    let (users, source) = c.copilot_users_with_source(&[]).await.unwrap();
    assert_eq!(source, graph_client::SkuSource::WellKnown);
    assert_eq!(
        users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u1"]
    );
    skus.assert_calls_async(1).await;
    standard.assert_calls_async(1).await;

    // A part number the caller named is never guessed: the 403 comes back.
    let e = c
        .copilot_users(&["Custom_Copilot".into()])
        .await
        .unwrap_err();
    assert!(e.is_forbidden(), "{e}");
}

#[tokio::test]
async fn batches_hold_at_most_twenty_match_ids_and_retry_throttled_parts() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    let batches = Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let seen = batches.clone();
    let throttled_once = Arc::new(AtomicUsize::new(0));
    let t = throttled_once.clone();
    // A responder that answers in reverse order, 404 for id "3", and 429 for id "7" the
    // first time.
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1.0/$batch")
                .header("content-type", "application/json")
                .is_true(move |req| {
                    let body: serde_json::Value = serde_json::from_slice(req.body_ref()).unwrap();
                    seen.lock().unwrap().push(body);
                    true
                });
            then.respond_with(move |req: &HttpMockRequest| {
                let body: serde_json::Value = serde_json::from_slice(req.body_ref()).unwrap();
                let mut out = Vec::new();
                for r in body["requests"].as_array().unwrap().iter().rev() {
                    let id = r["id"].as_str().unwrap();
                    let resp = if id == "3" {
                        json!({"id": id, "status": 404, "headers": {}, "body": {"error": {"code": "Request_ResourceNotFound", "message": "gone", "innerError": {"request-id": "rq3"}}}})
                    } else if id == "7" && t.fetch_add(1, Ordering::SeqCst) == 0 {
                        json!({"id": id, "status": 429, "headers": {"Retry-After": "9"}, "body": {"error": {"code": "TooManyRequests"}}})
                    } else {
                        json!({"id": id, "status": 200, "headers": {"content-type": "application/json"}, "body": {"id": format!("user-{id}"), "url": r["url"]}})
                    };
                    out.push(resp);
                }
                httpmock::HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&json!({"responses": out})).unwrap())
                    .build()
            });
        })
        .await;
    let requests: Vec<BatchRequest> = (0..25)
        .map(|i| BatchRequest::get(i.to_string(), format!("users/{i}")))
        .collect();
    let answers = c.batch(requests).await.unwrap();
    assert_eq!(answers.len(), 25);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.id, i.to_string());
    }
    assert_eq!(answers[7].status, 200, "the throttled part was sent again");
    assert_eq!(answers[0].body["url"], "/users/0");
    let e = answers[3].error("GET /users/3").unwrap();
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.code(), Some("Request_ResourceNotFound"));
    assert_eq!(e.request_id(), Some("rq3"));
    assert!(answers[3].json::<serde_json::Value>().is_err());
    let sizes: Vec<usize> = batches
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["requests"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [20, 5, 1]);
    assert_eq!(batches.lock().unwrap()[0]["requests"][0]["method"], "GET");
    m.assert_calls_async(3).await;
    assert!(clock.sleeps().contains(&Duration::from_secs(9)));

    // Duplicate ids are refused before anything is sent.
    let dup = c
        .batch(vec![
            BatchRequest::get("a", "/me"),
            BatchRequest::get("a", "/me"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(dup, Error::InvalidInput { .. }));
    m.assert_calls_async(3).await;
}

#[tokio::test]
async fn users_by_id_fans_out_through_batches() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1.0/$batch");
            then.json_body(json!({"responses": [
                {"id": "1", "status": 404, "body": {"error": {"code": "Request_ResourceNotFound"}}},
                {"id": "0", "status": 200, "body": {"id": "u0", "userPrincipalName": "a@x"}}
            ]}));
        })
        .await;
    let users = c.users_by_id(&["u0".into(), "gone".into()]).await.unwrap();
    assert_eq!(
        users[0].as_ref().unwrap().user_principal_name.as_deref(),
        Some("a@x")
    );
    assert!(users[1].is_none());

    // An answer missing from the batch response is an error, not a silent gap.
    let short = MockServer::start_async().await;
    let c = client(&short, &clock);
    short
        .mock_async(|when, then| {
            when.method(POST).path("/v1.0/$batch");
            then.json_body(
                json!({"responses": [{"id": "0", "status": 200, "body": {"id": "u0"}}]}),
            );
        })
        .await;
    let e = c
        .users_by_id(&["u0".into(), "u1".into()])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no answer for id `1`"), "{e}");
}

#[tokio::test]
async fn beta_urls_and_clouds() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let c = client(&server, &clock);
    assert!(
        c.url_in(ApiVersion::Beta, "security/securityCopilot")
            .unwrap()
            .path()
            .starts_with("/beta/")
    );
    // Sovereign clouds have no interaction export: a clear error, nothing sent.
    let gov = builder()
        .cloud(entra_auth::Cloud::UsGovHigh)
        .build()
        .unwrap();
    let e = gov
        .interaction_pages::<AiInteraction>(USER, &InteractionQuery::new())
        .try_next()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnsupportedCloud { .. }), "{e}");
    assert!(e.to_string().contains("public cloud only"), "{e}");
}

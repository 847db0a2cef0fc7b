//! Queries, paging, WhoAmI and error mapping against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{client_for, clock, first, raw_uri};
use dataverse_client::{DataverseClient, Error, Filter, ThrottleKind};
use futures::TryStreamExt;
use httpmock::prelude::*;
use serde_json::{Value, json};
use std::time::Duration;

const API: &str = "/api/data/v9.2";

/// Three pages of `bots`, page size 2: the Prefer header must be on every request.
async fn scenario_three_pages(client: &DataverseClient) -> Vec<String> {
    let q = client
        .query("bots")
        .select(["botid", "name"])
        .page_size(2)
        .include_annotations("*");
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    rows.iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_across_three_pages_with_prefer_on_every_request() {
    let server = MockServer::start_async().await;
    let prefer = "odata.maxpagesize=2,odata.include-annotations=\"*\"";
    let p2 = format!("{API}/bots?$select=botid,name&$skiptoken=p2");
    let p3 = format!("{API}/bots?$select=botid,name&$skiptoken=p3");
    let m3 = server
        .mock_async(|when, then| {
            when.method(GET)
                .header("prefer", prefer)
                .is_true(raw_uri(p3.clone()));
            then.status(200)
                .json_body(json!({"value": [{"name": "e"}]}));
        })
        .await;
    let m2 = server
        .mock_async(|when, then| {
            when.method(GET)
                .header("prefer", prefer)
                .is_true(raw_uri(p2.clone()));
            then.status(200).json_body(json!({
                "value": [{"name": "c"}, {"name": "d"}],
                "@odata.nextLink": server.url(&p3),
            }));
        })
        .await;
    let m1 = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/bots"))
                .query_param("$select", "botid,name")
                .header("prefer", prefer)
                .header("accept", "application/json")
                .header("odata-version", "4.0")
                .header("odata-maxversion", "4.0")
                .header("authorization", "Bearer test-token");
            then.status(200).json_body(json!({
                "@odata.context": "x",
                "value": [{"name": "a"}, {"name": "b"}],
                "@odata.nextLink": server.url(&p2),
            }));
        })
        .await;
    let c = clock();
    let names = scenario_three_pages(&client_for(&server.base_url(), &c)).await;
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    m1.assert_async().await;
    m2.assert_async().await;
    m3.assert_async().await;
}

#[tokio::test]
async fn follows_a_next_link_with_an_encoded_paging_cookie_verbatim() {
    let server = MockServer::start_async().await;
    // The shape Dataverse returns: a URL-encoded cookie holding a doubly encoded inner cookie.
    let next = format!(
        "{API}/botcomponents?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253cbotcomponentid%2520last%253d%2522%257b7A0B%257d%2522%2520first%253d%2522%257b1C2D%257d%2522%2520%252f%253e%253c%252fcookie%253e%22%20istracking=%22False%22%20/%3E"
    );
    let m2 = server
        .mock_async(|when, then| {
            when.method(GET).is_true(raw_uri(next.clone()));
            then.status(200)
                .json_body(json!({"value": [{"name": "second"}]}));
        })
        .await;
    let m1 = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/botcomponents"));
            then.status(200).json_body(json!({
                "value": [{"name": "first"}],
                "@odata.nextLink": server.url(&next),
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let q = client.query("botcomponents").select(["name"]);
    let pages: Vec<dataverse_client::Page<Value>> = client.pages(&q).try_collect().await.unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages[0].next_link.as_ref().unwrap().as_str(),
        server.url(&next)
    );
    assert_eq!(
        pages[0].continuation().unwrap().next_link(),
        server.url(&next)
    );
    assert!(pages[1].next_link.is_none() && pages[1].continuation().is_none());
    m1.assert_async().await;
    m2.assert_async().await;

    // Resuming from the saved continuation sends the same request again.
    let saved = serde_json::to_string(pages[0].continuation().unwrap()).unwrap();
    let resumed: Vec<dataverse_client::Page<Value>> = client
        .pages_from(serde_json::from_str(&saved).unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(resumed[0].rows[0]["name"], "second");
    m2.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_repeated_next_link_stops_with_an_error() {
    let server = MockServer::start_async().await;
    let again = format!("{API}/bots?$skiptoken=same");
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/bots"));
            then.status(200).json_body(json!({
                "value": [{"name": "x"}],
                "@odata.nextLink": server.url(&again),
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let mut rows = client.rows::<Value>(&client.query("bots"));
    let mut n = 0;
    let err = loop {
        match rows.try_next().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("stream ended without detecting the loop"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        n, 2,
        "both distinct pages are delivered before the loop is detected"
    );
    assert!(matches!(err, Error::NextLinkLoop(_)), "{err}");
    assert!(rows.try_next().await.unwrap().is_none());
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/bots"));
            then.status(200).json_body(json!({
                "value": [],
                "@odata.nextLink": "https://evil.example.com/api/data/v9.2/bots?$skiptoken=1",
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .rows::<Value>(&client.query("bots"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err}");
    assert!(err.to_string().contains("evil.example.com"));
}

#[tokio::test]
async fn filters_are_encoded_and_top_limits_rows() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/bots"))
                .query_param("$filter", "(name eq 'it''s & more') and (statecode eq 0)")
                .query_param("$top", "2")
                .header_missing("prefer");
            then.status(200)
                .json_body(json!({"value": [{"n": 1}, {"n": 2}, {"n": 3}]}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let q = client
        .query("bots")
        .filter(Filter::eq("name", "it's & more"))
        .filter(Filter::eq("statecode", 0))
        .top(2);
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    assert_eq!(rows.len(), 2);
    m.assert_async().await;
}

#[tokio::test]
async fn rows_decode_into_typed_structs_and_report_bad_rows() {
    #[derive(serde::Deserialize)]
    struct Bot {
        #[allow(dead_code)]
        name: String,
    }
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/bots"));
            then.status(200)
                .json_body(json!({"value": [{"name": "ok"}, {"name": 5}]}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .rows::<Bot>(&client.query("bots"))
        .try_collect::<Vec<_>>()
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::Decode(_)), "{err}");
}

#[tokio::test]
async fn streams_are_lazy() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!({"value": []}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let stream = client.rows::<Value>(&client.query("bots"));
    drop(stream);
    m.assert_calls_async(0).await;
}

#[tokio::test]
async fn who_am_i() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/WhoAmI"));
            then.status(200).json_body(json!({
                "@odata.context": "x",
                "BusinessUnitId": "00000000-0000-0000-0000-000000000001",
                "UserId": "00000000-0000-0000-0000-000000000002",
                "OrganizationId": "00000000-0000-0000-0000-000000000003",
            }));
        })
        .await;
    let c = clock();
    let me = client_for(&server.base_url(), &c).who_am_i().await.unwrap();
    assert_eq!(me.user_id.as_u128(), 2);
    assert_eq!(me.business_unit_id.as_u128(), 1);
    assert_eq!(me.organization_id.as_u128(), 3);
}

#[tokio::test]
async fn a_429_with_a_decimal_code_is_retried_after_retry_after() {
    let server = MockServer::start_async().await;
    let throttled = server
        .mock_async(|when, then| {
            when.path(format!("{API}/bots")).is_true(first(1));
            then.status(429).header("Retry-After", "1").json_body(json!({
                "error": {"code": "-2147015902", "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}
            }));
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.path(format!("{API}/bots"));
            then.status(200)
                .json_body(json!({"value": [{"name": "a"}]}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let rows: Vec<Value> = client
        .rows(&client.query("bots"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    throttled.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    assert!(
        c.total_slept() >= Duration::from_secs(1),
        "{:?}",
        c.sleeps()
    );
}

#[tokio::test]
async fn throttling_codes_are_exposed_when_retries_run_out() {
    // The Web API documents hex codes, Microsoft's .NET client compares decimal ones.
    for (code, kind) in [
        ("0x80072326", ThrottleKind::Concurrency),
        ("-2147015902", ThrottleKind::Requests),
        ("-2147015903", ThrottleKind::ExecutionTime),
    ] {
        throttling_code_is_exposed(code, kind).await;
    }
}

async fn throttling_code_is_exposed(code: &str, kind: ThrottleKind) {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path(format!("{API}/WhoAmI"));
            then.status(429)
                .header("Retry-After", "7")
                .header("x-ms-service-request-id", "rid-9")
                .json_body(json!({"error": {"code": code, "message": "Number of concurrent requests exceeded the limit of 52."}}));
        })
        .await;
    let c = clock();
    let client = DataverseClient::builder(
        &server.base_url(),
        std::sync::Arc::new(client_core::StaticTokenCredential::new(
            client_core::AccessToken::new("t", time::macros::datetime!(2030-01-01 0:00 UTC)),
        )),
    )
    .unwrap()
    .retry_policy(client_core::RetryPolicy::none())
    .clock(std::sync::Arc::new(c.clone()))
    .build()
    .unwrap();
    let err = client.who_am_i().await.unwrap_err();
    assert!(err.is_throttled() && err.is_retryable());
    assert_eq!(err.throttle(), Some(kind), "{code}");
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.request_id(), Some("rid-9"));
}

#[tokio::test]
async fn a_503_then_success() {
    let server = MockServer::start_async().await;
    let failing = server
        .mock_async(|when, then| {
            when.path(format!("{API}/WhoAmI")).is_true(first(1));
            then.status(503).body("Service Unavailable");
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.path(format!("{API}/WhoAmI"));
            then.status(200).json_body(json!({
                "BusinessUnitId": "00000000-0000-0000-0000-000000000001",
                "UserId": "00000000-0000-0000-0000-000000000002",
                "OrganizationId": "00000000-0000-0000-0000-000000000003",
            }));
        })
        .await;
    let c = clock();
    client_for(&server.base_url(), &c).who_am_i().await.unwrap();
    failing.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    assert_eq!(c.sleeps().len(), 1);
}

#[tokio::test]
async fn a_403_is_a_typed_error_with_the_service_message() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path(format!("{API}/bots"));
            then.status(403)
                .header("x-ms-service-request-id", "req-403")
                .json_body(json!({"error": {"code": "0x80040220", "message": "Principal user (Id=42) is missing prvReadbot privilege."}}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .rows::<Value>(&client.query("bots"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    m.assert_calls_async(1).await;
    assert!(matches!(err, Error::Http(_)));
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_retryable() && !err.is_throttled());
    assert_eq!(err.service_code(), Some("0x80040220"));
    assert_eq!(
        err.service_message(),
        Some("Principal user (Id=42) is missing prvReadbot privilege.")
    );
    assert_eq!(err.request_id(), Some("req-403"));
    assert!(err.to_string().contains("prvReadbot"), "{err}");
    assert!(c.sleeps().is_empty());
}

#[tokio::test]
async fn fetch_xml_pages_with_the_paging_cookie() {
    let server = MockServer::start_async().await;
    let cookie = "<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e%253cbotid%2520last%253d%2522%257bA%257d%2522%2520%252f%253e%253c%252fcookie%253e\" istracking=\"False\" />";
    let page2 = server
        .mock_async(|when, then| {
            when.path(format!("{API}/bots"))
                .is_true(|req: &HttpMockRequest| {
                    req.query_params().iter().any(|(k, v)| {
                        k == "fetchXml"
                            && v.contains("page=\"2\"")
                            && v.contains("paging-cookie=\"&lt;cookie page=&quot;1&quot;&gt;")
                    })
                });
            then.status(200)
                .json_body(json!({"value": [{"name": "b"}]}));
        })
        .await;
    let page1 = server
        .mock_async(|when, then| {
            when.path(format!("{API}/bots"))
                .query_param("fetchXml", "<fetch count='1'><entity name='bot'><attribute name='name'/></entity></fetch>")
                .header("prefer", "odata.include-annotations=\"Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords\"");
            then.status(200).json_body(json!({
                "value": [{"name": "a"}],
                "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie": cookie,
                "@Microsoft.Dynamics.CRM.morerecords": true,
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let q = client
        .query("bots")
        .fetch_xml("<fetch count='1'><entity name='bot'><attribute name='name'/></entity></fetch>");
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    assert_eq!(rows, [json!({"name": "a"}), json!({"name": "b"})]);
    page1.assert_async().await;
    page2.assert_async().await;
}

#[tokio::test]
async fn fetch_xml_page_size_sets_the_count_attribute() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path(format!("{API}/bots")).query_param(
                "fetchXml",
                "<fetch count=\"25\" page=\"1\"><entity name='bot'/></fetch>",
            );
            then.status(200).json_body(json!({"value": []}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let q = client
        .query("bots")
        .fetch_xml("<fetch><entity name='bot'/></fetch>")
        .page_size(25);
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    assert!(rows.is_empty());
    m.assert_async().await;
}

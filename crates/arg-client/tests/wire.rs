//! The wire formats of Resource Graph, the inventory resource query and the admin environment
//! list, checked against httpmock: request bodies and headers, paging, quoting, quota waits on
//! a manual clock, throttling, error mapping and cloud refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use arg_client::kql::Operator;
use arg_client::{
    Api, ArgClient, Cloud, CreatedIn, Environment, EnvironmentListOptions, EnvironmentSku, Error,
    Facet, FacetResult, GraphQuery, Hint, InventorySource, Page, ResourceQuery, SortOrder,
};
use client_core::{AccessToken, CredentialError, ManualClock, TokenCredential, async_trait};
use common::*;
use futures::TryStreamExt;
use httpmock::MockServer;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn agent_row(id: &str, env: &str) -> Value {
    json!({
        "id": format!("/providers/Microsoft.PowerPlatform/environments/{env}/agents/{id}"),
        "name": id, "type": "microsoft.copilotstudio/agents", "location": "unitedstates",
        "tenantId": "tenant-1",
        "properties": {"displayName": format!("Agent {id}"), "environmentId": env,
            "createdIn": "Copilot Studio", "createdAt": "2026-01-01T00:00:00Z", "lastPublishedAt": ""}
    })
}

#[tokio::test]
async fn resource_graph_request_body_headers_paging_facets_and_truncation() {
    let server = MockServer::start_async().await;
    let kql = "PowerPlatformResources | where type == 'microsoft.copilotstudio/agents' | order by name asc";
    let page1 = server
        .mock_async(|when, then| {
            when.method("POST")
                .path(GRAPH)
                .query_param("api-version", "2024-04-01")
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .header_exists("x-ms-client-request-id")
                .json_body(json!({
                    "subscriptions": ["sub-1"],
                    "managementGroups": ["mg-1"],
                    "query": kql,
                    "options": {"$top": 2, "$skip": 1, "resultFormat": "objectArray", "allowPartialScopes": true},
                    "facets": [{"expression": "location", "options": {"$top": 3, "sortOrder": "desc"}}]
                }));
            then.status(200).json_body(json!({
                "totalRecords": 4, "count": 2, "resultTruncated": "false", "$skipToken": "tok-1",
                "data": [agent_row("a1", "e1"), agent_row("a2", "e1")],
                "facets": [
                    {"resultType": "FacetResult", "expression": "location", "totalRecords": 1, "count": 1,
                     "data": [{"location": "unitedstates", "count": 4}]}
                ]
            }));
        })
        .await;
    let page2 = server
        .mock_async(|when, then| {
            when.method("POST").path(GRAPH).json_body(json!({
                "subscriptions": ["sub-1"],
                "managementGroups": ["mg-1"],
                "query": kql,
                "options": {"$top": 2, "$skipToken": "tok-1", "resultFormat": "objectArray", "allowPartialScopes": true}
            }));
            then.status(200).json_body(json!({
                "totalRecords": 4, "count": 1, "resultTruncated": "true",
                "data": [agent_row("a3", "e2")]
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let q = GraphQuery::new(kql)
        .subscriptions(["sub-1"])
        .management_groups(["mg-1"])
        .page_size(2)
        .skip(1)
        .allow_partial_scopes(true)
        .facet(Facet::new("location").unwrap().top(3).descending(true));
    let pages: Vec<Page<Value>> = client.graph_pages(&q).try_collect().await.unwrap();
    page1.assert_calls_async(1).await;
    page2.assert_calls_async(1).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].rows.len(), 2);
    assert_eq!(pages[0].total_records, Some(4));
    assert!(!pages[0].result_truncated);
    assert!(pages[1].result_truncated, "the string \"true\" is read");
    assert!(matches!(
        &pages[0].facets[0],
        FacetResult::Result { expression, .. } if expression == "location"
    ));
    let cont = pages[0].continuation().unwrap().clone();
    assert_eq!(cont.skip_token(), "tok-1");
    assert_eq!(cont.api(), Api::ResourceGraph);
    assert!(pages[1].continuation().is_none());

    // Resuming from a saved continuation sends the same second request.
    let saved = serde_json::to_string(&cont).unwrap();
    let resumed: Vec<Page<Value>> = client
        .pages_from(serde_json::from_str(&saved).unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].rows[0]["name"], "a3");
    page2.assert_calls_async(2).await;
}

#[tokio::test]
async fn resource_query_body_skip_token_paging_numeric_truncation_and_typed_agents() {
    let server = MockServer::start_async().await;
    let clauses = json!([
        {"$type": "where", "FieldName": "type", "Operator": "==", "Values": ["'microsoft.copilotstudio/agents'"]},
        {"$type": "orderby", "FieldNamesAscDesc": {"name": "asc"}}
    ]);
    let page1 = server
        .mock_async(|when, then| {
            when.method("POST")
                .path(QUERY)
                .query_param("api-version", "2024-10-01")
                .header("authorization", format!("Bearer {TOKEN}"))
                .json_body(json!({"TableName": "PowerPlatformResources", "Clauses": clauses, "Options": {"Top": 1000}}));
            then.status(200).json_body(json!({
                "totalRecords": 3, "count": 2, "resultTruncated": 1, "skipToken": "s-1",
                "data": [agent_row("a1", "e1"), agent_row("a2", "e2")]
            }));
        })
        .await;
    let page2 = server
        .mock_async(|when, then| {
            when.method("POST").path(QUERY).json_body(json!({
                "TableName": "PowerPlatformResources", "Clauses": clauses,
                "Options": {"Top": 1000, "SkipToken": "s-1"}
            }));
            then.status(200).json_body(json!({
                "totalRecords": 3, "count": 1, "resultTruncated": 0,
                "data": [{"name": "a3", "type": "microsoft.copilotstudio/agents",
                          "properties": {"environmentId": "e2", "createdIn": "Microsoft 365 Copilot Agent Builder",
                                         "lastPublishedAt": "2026-02-01T00:00:00Z", "newField": {"x": 1}}}]
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let pages: Vec<Page<Value>> = client
        .resource_query_pages(&ResourceQuery::agents().order_by("name", SortOrder::Asc))
        .try_collect()
        .await
        .unwrap();
    assert!(pages[0].result_truncated, "the number 1 is read");
    assert!(!pages[1].result_truncated);
    let agents: Vec<_> = client
        .agents(InventorySource::ResourceQuery)
        .try_collect()
        .await
        .unwrap();
    page1.assert_calls_async(2).await;
    page2.assert_calls_async(2).await;
    let ids: Vec<&str> = agents.iter().map(|a| a.bot_id()).collect();
    assert_eq!(ids, ["a1", "a2", "a3"]);
    assert_eq!(
        agents[2].properties.created_in,
        Some(CreatedIn::AgentBuilder)
    );
    assert!(agents[2].is_published() && !agents[0].is_published());
    assert_eq!(agents[2].properties.extra["newField"]["x"], 1);
}

#[tokio::test]
async fn hostile_values_are_sent_as_one_escaped_literal() {
    let server = MockServer::start_async().await;
    let hostile = "x' or type != '' | take 100000 //\n\\";
    let mock = server
        .mock_async(|when, then| {
            when.method("POST").path(QUERY).json_body(json!({
                "TableName": "PowerPlatformResources",
                "Clauses": [
                    {"$type": "where", "FieldName": "type", "Operator": "==", "Values": ["'microsoft.copilotstudio/agents'"]},
                    {"$type": "where", "FieldName": "properties.displayName", "Operator": "in~",
                     "Values": ["'x\\' or type != \\'\\' | take 100000 //\\n\\\\'", "'é'"]}
                ],
                "Options": {"Top": 1000}
            }));
            then.status(200).json_body(json!({"totalRecords": 0, "count": 0, "resultTruncated": 0, "data": []}));
        })
        .await;
    let graph = server
        .mock_async(|when, then| {
            when.method("POST").path(GRAPH).json_body(json!({
                "query": "PowerPlatformResources | where type == 'microsoft.copilotstudio/agents' \
                          | where properties.displayName in~ ('x\\' or type != \\'\\' | take 100000 //\\n\\\\', 'é')",
                "options": {"$top": 1000, "resultFormat": "objectArray"}
            }));
            then.status(200).json_body(json!({"totalRecords": 0, "count": 0, "resultTruncated": "false", "data": []}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let q = ResourceQuery::agents().where_in(
        "properties.displayName",
        Operator::InIgnoreCase,
        [hostile, "é"],
    );
    let rows: Vec<Value> = client.resource_query(&q).try_collect().await.unwrap();
    assert!(rows.is_empty());
    let rows: Vec<Value> = client
        .graph_rows(&GraphQuery::from_resource_query(&q).unwrap())
        .try_collect()
        .await
        .unwrap();
    assert!(rows.is_empty());
    mock.assert_calls_async(1).await;
    graph.assert_calls_async(1).await;

    // A bad field name is an error before any request.
    let err = client
        .resource_query::<Value>(&ResourceQuery::agents().where_eq("name or 1==1", "x"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn quota_headers_make_the_client_wait_before_the_quota_runs_out() {
    let server = MockServer::start_async().await;
    let page1 = server
        .mock_async(|when, then| {
            when.path(GRAPH)
                .is_true(|r| body_json(r)["options"].get("$skipToken").is_none());
            then.status(200)
                .header("x-ms-user-quota-remaining", "0")
                .header("x-ms-user-quota-resets-after", "00:00:05")
                .json_body(
                    json!({"totalRecords": 2, "count": 1, "resultTruncated": "false",
                                  "$skipToken": "t1", "data": [{"name": "a"}]}),
                );
        })
        .await;
    let page2 = server
        .mock_async(|when, then| {
            when.path(GRAPH)
                .json_body_includes(r#"{"options":{"$skipToken":"t1"}}"#);
            then.status(200)
                .header("x-ms-user-quota-remaining", "14")
                .header("x-ms-user-quota-resets-after", "00:00:05")
                .json_body(
                    json!({"totalRecords": 2, "count": 1, "resultTruncated": "false",
                                  "data": [{"name": "b"}]}),
                );
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let rows: Vec<Value> = client
        .graph_rows(&GraphQuery::new("PowerPlatformResources"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    page1.assert_calls_async(1).await;
    page2.assert_calls_async(1).await;
    // Quota 0 left: the second request waited for the window to reset, no 429 was needed.
    assert_eq!(c.sleeps(), vec![Duration::from_secs(5)]);
    let q = client.quota(Api::ResourceGraph).unwrap();
    assert_eq!(q.remaining, 14);

    // A reserve makes it wait earlier: 14 left, keep 14 in hand.
    let c2 = clock();
    let reserved = builder_for(&server.base_url(), &c2)
        .quota_reserve(14)
        .build()
        .unwrap();
    let _: Vec<Value> = reserved
        .graph_rows(&GraphQuery::new("PowerPlatformResources"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(c2.sleeps(), vec![Duration::from_secs(5)]);
}

#[tokio::test]
async fn throttling_waits_for_retry_after_or_the_quota_reset_then_gives_up_typed() {
    let server = MockServer::start_async().await;
    let throttled = server
        .mock_async(|when, then| {
            when.path(GRAPH).is_true(first(1));
            then.status(429).header("Retry-After", "3").json_body(
                json!({"error": {"code": "RateLimiting", "message": "Please throttle"}}),
            );
        })
        .await;
    let throttled_quota = server
        .mock_async(|when, then| {
            when.path(GRAPH).is_true(first(2));
            then.status(429)
                .header("x-ms-user-quota-remaining", "0")
                .header("x-ms-user-quota-resets-after", "00:00:07")
                .json_body(
                    json!({"error": {"code": "RateLimiting", "message": "Please throttle"}}),
                );
        })
        .await;
    let ok = server
        .mock_async(|when, then| {
            when.path(GRAPH);
            then.status(200).json_body(
                json!({"totalRecords": 0, "count": 0, "resultTruncated": "false", "data": []}),
            );
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let _: Vec<Value> = client
        .graph_rows(&GraphQuery::new("resources"))
        .try_collect()
        .await
        .unwrap();
    throttled.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    // 3 s from Retry-After, then 7 s from the quota reset (twice: `first(2)` matched the
    // probe of the earlier mock too, so count what was slept, not the calls).
    let slept = c.sleeps();
    assert_eq!(slept[0], Duration::from_secs(3), "{slept:?}");
    assert!(
        slept[1..].iter().all(|d| *d == Duration::from_secs(7)),
        "{slept:?}"
    );
    let _ = throttled_quota;

    // Always throttled: gives up after the configured waits with a typed, retryable error.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path(GRAPH);
            then.status(429)
                .header("x-ms-request-id", "rid-1")
                .json_body(
                    json!({"error": {"code": "RateLimiting", "message": "Please throttle"}}),
                );
        })
        .await;
    let c = clock();
    let client = builder_for(&server.base_url(), &c)
        .max_throttle_waits(2)
        .build()
        .unwrap();
    let err = client
        .graph_rows::<Value>(&GraphQuery::new("resources"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.is_throttled() && err.is_retryable(), "{err}");
    assert_eq!(err.service_code(), Some("RateLimiting"));
    assert_eq!(err.request_id(), Some("rid-1"));
    // No Retry-After and no quota header: exponential backoff, 1 s then 2 s.
    assert_eq!(
        c.sleeps(),
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );
}

#[tokio::test]
async fn error_bodies_are_typed_with_details() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path(GRAPH);
            then.status(400).header("x-ms-request-id", "rid-2").json_body(json!({"error": {
                "code": "BadRequest", "message": "Please provide below info when asking for support",
                "details": [{"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation",
                             "details": [{"code": "ParserFailure", "message": "Parser failure", "line": 1, "characterPositionInLine": 23, "token": "|"}]}]
            }}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .graph_rows::<Value>(&GraphQuery::new("resources | | take 1"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert_eq!(err.service_code(), Some("BadRequest"));
    let body = err.body().unwrap();
    let details = body.all_details();
    assert_eq!(details[0].code(), Some("InvalidQuery"));
    assert_eq!(details[1].extra()["characterPositionInLine"], 23);
    let text = err.to_string();
    assert!(text.contains("ParserFailure: Parser failure"), "{text}");
    assert!(text.contains("Azure Resource Graph"), "{text}");
    assert!(!text.contains(TOKEN));
    assert!(c.sleeps().is_empty(), "a 400 is not retried");
}

#[tokio::test]
async fn refusals_carry_hints() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path(ENVIRONMENTS);
            then.status(403).json_body(json!({"error": {"code": "Forbidden",
                "message": "The service principal with id 'sp-1' for application app-1 does not have permission to access the path 'https://10.0.0.1/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments' in tenant t-1."}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path(QUERY);
            then.status(403)
                .json_body(json!({"error": {"code": "Forbidden", "message": "Access denied."}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path(GRAPH);
            then.status(403).json_body(json!({"error": {"code": "AuthorizationFailed", "message": "The client does not have authorization to perform action."}}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .environments()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.hint(), Some(Hint::RegisterManagementApplication));
    assert!(
        err.to_string().contains("pac admin application register"),
        "{err}"
    );
    assert!(err.is_forbidden());
    let err = client
        .agents(InventorySource::ResourceQuery)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.hint(), Some(Hint::DelegatedAdminRequired));
    let err = client
        .agents(InventorySource::ResourceGraph)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.hint(), Some(Hint::AdminRoleRequired));
    assert!(
        err.to_string().contains("Power Platform Administrator"),
        "{err}"
    );
}

#[tokio::test]
async fn sovereign_clouds_are_refused_before_any_request_but_list_environments() {
    let server = MockServer::start_async().await;
    let any_inventory = server
        .mock_async(|when, then| {
            when.method("POST");
            then.status(200).json_body(json!({"data": []}));
        })
        .await;
    let envs = server
        .mock_async(|when, then| {
            when.path(ENVIRONMENTS);
            then.status(200).json_body(
                json!({"value": [{"name": "e1", "properties": {"displayName": "Gov"}}]}),
            );
        })
        .await;
    for cloud in [Cloud::UsGov, Cloud::UsGovHigh, Cloud::UsDod, Cloud::China] {
        let c = clock();
        let client = builder_for(&server.base_url(), &c)
            .cloud(cloud.clone())
            .build()
            .unwrap();
        assert!(!client.inventory_available());
        for source in [
            InventorySource::ResourceGraph,
            InventorySource::ResourceQuery,
        ] {
            let err = client
                .agents(source)
                .try_collect::<Vec<_>>()
                .await
                .unwrap_err();
            assert!(err.is_unsupported_cloud(), "{cloud}: {err}");
            assert!(err.to_string().contains(cloud.name()), "{err}");
        }
        // Plain Resource Graph queries on other tables are fine there.
        let _: Vec<Value> = client
            .graph_rows(&GraphQuery::new("resources | take 1"))
            .try_collect()
            .await
            .unwrap();
        let list: Vec<Environment> = client.environments().try_collect().await.unwrap();
        assert_eq!(list.len(), 1);
    }
    any_inventory.assert_calls_async(4).await;
    envs.assert_calls_async(4).await;
}

/// Records the scopes each request asked for.
#[derive(Debug, Default)]
struct Recording(Mutex<Vec<String>>);

#[async_trait]
impl TokenCredential for Recording {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        self.0.lock().unwrap().push(scopes.join(" "));
        Ok(AccessToken::new(
            TOKEN,
            time::macros::datetime!(2030-01-01 00:00 UTC),
        ))
    }
}

#[tokio::test]
async fn hosts_and_scopes_come_from_the_cloud_table() {
    let cred = Arc::new(Recording::default());
    let public = ArgClient::builder(cred.clone()).build().unwrap();
    assert_eq!(
        public.resource_graph_url().as_str(),
        "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01"
    );
    assert_eq!(
        public.resource_query_url().as_str(),
        "https://api.powerplatform.com/resourcequery/resources/query?api-version=2024-10-01"
    );
    assert_eq!(
        public.environments_url().as_str(),
        "https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2020-10-01"
    );
    let high = ArgClient::builder(cred.clone())
        .cloud(Cloud::UsGovHigh)
        .build()
        .unwrap();
    assert_eq!(
        high.environments_url().host_str(),
        Some("high.api.bap.microsoft.us")
    );

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST");
            then.status(200).json_body(json!({"data": []}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path(ENVIRONMENTS);
            then.status(200).json_body(json!({"value": []}));
        })
        .await;
    let c = clock();
    let client = ArgClient::builder(cred.clone())
        .resource_graph_endpoint(&server.base_url())
        .power_platform_endpoint(&server.base_url())
        .admin_endpoint(&server.base_url())
        .clock(Arc::new(c))
        .build()
        .unwrap();
    let _: Vec<_> = client
        .agents(InventorySource::ResourceGraph)
        .try_collect()
        .await
        .unwrap();
    let _: Vec<_> = client
        .agents(InventorySource::ResourceQuery)
        .try_collect()
        .await
        .unwrap();
    let _: Vec<_> = client.environments().try_collect().await.unwrap();
    assert_eq!(
        *cred.0.lock().unwrap(),
        [
            "https://management.azure.com/.default",
            "https://api.powerplatform.com/.default",
            "https://api.bap.microsoft.com/.default"
        ]
    );
    assert!(
        ArgClient::builder(cred.clone())
            .resource_graph_endpoint("http://example.com")
            .build()
            .is_err()
    );
    assert!(ArgClient::builder(cred).page_size(1001).build().is_err());
}

#[tokio::test]
async fn admin_environments_follow_next_link_with_expand_typed() {
    let server = MockServer::start_async().await;
    let base = server.base_url();
    let page1 = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(ENVIRONMENTS)
                .query_param("api-version", "2020-10-01")
                .query_param("$expand", "properties.capacity,properties.addons")
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(200).json_body(json!({
                "value": [
                    {"name": "Default-t1", "location": "unitedstates", "properties": {
                        "displayName": "Contoso (default)", "environmentSku": "Default", "isDefault": true,
                        "states": {"management": {"id": "Ready"}, "runtime": {"id": "Enabled"}},
                        "linkedEnvironmentMetadata": {"instanceUrl": "https://contoso.crm.dynamics.com/", "uniqueName": "u1"},
                        "capacity": []}}
                ],
                "nextLink": format!("{base}{ENVIRONMENTS}?api-version=2020-10-01&$skiptoken=p2")
            }));
        })
        .await;
    let page2 = server
        .mock_async(|when, then| {
            when.path(ENVIRONMENTS).query_param("$skiptoken", "p2");
            then.status(200).json_body(json!({"value": [
                {"name": "e2", "properties": {"displayName": "Teams env", "environmentSku": "Teams"}}
            ]}));
        })
        .await;
    let c = clock();
    let client = client_for(&base, &c);
    let envs: Vec<Environment> = client
        .environments_with(
            &EnvironmentListOptions::default()
                .expand("properties.capacity")
                .expand("properties.addons"),
        )
        .try_collect()
        .await
        .unwrap();
    page1.assert_calls_async(1).await;
    page2.assert_calls_async(1).await;
    assert_eq!(envs.len(), 2);
    assert!(envs[0].is_default());
    assert_eq!(
        envs[0].dataverse_url().unwrap().unwrap().as_str(),
        "https://contoso.crm.dynamics.com/"
    );
    assert_eq!(envs[1].sku(), Some(&EnvironmentSku::Teams));
    assert_eq!(envs[1].dataverse_url().unwrap(), None);

    // A next link to another host is refused (the token would follow it).
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path(ENVIRONMENTS);
            then.status(200)
                .json_body(json!({"value": [], "nextLink": "https://evil.example.com/steal"}));
        })
        .await;
    let err = client_for(&server.base_url(), &c)
        .environments()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    let bad = client_for(&server.base_url(), &c)
        .environments_with(&EnvironmentListOptions::default().expand("a&b=c"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::InvalidInput { .. }));
}

#[tokio::test]
async fn repeated_skip_tokens_stop_paging_and_streams_are_lazy() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.path(GRAPH);
            then.status(200).json_body(
                json!({"resultTruncated": "false", "$skipToken": "same", "data": [{"name": "a"}]}),
            );
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let stream = client.graph_rows::<Value>(&GraphQuery::new("resources"));
    mock.assert_calls_async(0).await;
    let err = stream.try_collect::<Vec<_>>().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::PagingLoop(ref e) if e.api() == Api::ResourceGraph
        ),
        "{err}"
    );
    mock.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_bad_row_is_named_in_the_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path(GRAPH);
            then.status(200)
                .json_body(json!({"resultTruncated": "maybe", "data": []}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path(QUERY);
            then.status(200)
                .json_body(json!({"resultTruncated": 0, "data": [
                    agent_row("ok", "e1"),
                    {"name": "bad-1", "properties": {"createdAt": "not a date"}}
                ]}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let err = client
        .agents(InventorySource::ResourceQuery)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad-1"), "{err}");
    let err = client
        .graph_rows::<Value>(&GraphQuery::new("resources"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
}

#[test]
fn no_secret_in_debug() {
    let c = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
    let client = client_for("http://127.0.0.1:9", &c);
    let text = format!("{client:?}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[test]
fn kql_from_resource_query_is_the_documented_translation() {
    let q = ResourceQuery::inventory()
        .where_eq("type", "microsoft.powerapps/canvasapps")
        .project(["name", "location", "properties.displayName"])
        .take(100);
    assert_eq!(
        q.to_kql().unwrap(),
        "PowerPlatformResources | where type == 'microsoft.powerapps/canvasapps' \
         | project name, location, properties.displayName | take 100"
    );
}

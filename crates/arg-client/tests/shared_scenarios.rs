//! The shared scenarios (`tests/scenarios/mod.rs`) against httpmock. The tenant emulator runs
//! the same scenarios end to end (`crates/tenant-emulator/tests/arg_scenarios.rs`); here a
//! responder answers exactly the requests the documented wire format calls for, and a 400 for
//! anything else, so a client sending something unexpected fails the scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod scenarios;

use arg_client::kql::Operator;
use arg_client::{GraphQuery, ResourceQuery};
use common::{ENVIRONMENTS, GRAPH, QUERY, body_json, client_for, clock};
use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use scenarios::{HOSTILE, World, agents_query};
use serde_json::{Value, json};

fn world() -> World {
    World {
        environments: vec![
            (
                "Default-t1".into(),
                Some("https://contoso.crm.dynamics.com/".into()),
            ),
            (
                "env-2".into(),
                Some("https://contoso-dev.crm.dynamics.com/".into()),
            ),
            ("env-3".into(), None),
        ],
        agents: [("a1", "Default-t1"), ("a2", "Default-t1"), ("a3", "env-2")]
            .iter()
            .map(|(a, e)| ((*a).to_owned(), (*e).to_owned()))
            .collect(),
    }
}

fn rows() -> Vec<Value> {
    world()
        .agents
        .iter()
        .map(|(a, e)| {
            json!({"id": format!("/x/{a}"), "name": a, "type": "microsoft.copilotstudio/agents",
                   "properties": {"displayName": format!("Agent {a}"), "environmentId": e, "createdIn": "Copilot Studio"}})
        })
        .collect()
}

fn respond(status: u16, body: Value) -> HttpMockResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .unwrap()
        .into()
}

fn bad(what: &str) -> HttpMockResponse {
    respond(
        400,
        json!({"error": {"code": "BadRequest", "message": format!("unexpected request: {what}")}}),
    )
}

fn counts() -> Vec<Value> {
    vec![
        json!({"properties_environmentId": "Default-t1", "agents": 2}),
        json!({"properties_environmentId": "env-2", "agents": 1}),
    ]
}

fn hostile() -> ResourceQuery {
    ResourceQuery::agents().where_in("properties.displayName", Operator::InIgnoreCase, [HOSTILE])
}

fn summarize() -> ResourceQuery {
    ResourceQuery::agents().summarize_count("agents", ["properties.environmentId"])
}

/// Answers Resource Graph as the documented wire format says.
fn graph(req: &HttpMockRequest) -> HttpMockResponse {
    let b = body_json(req);
    let text = b["query"].as_str().unwrap_or_default();
    let o = &b["options"];
    if o["resultFormat"] != "objectArray" {
        return bad("resultFormat");
    }
    let page = |data: Vec<Value>, token: Option<&str>, total: usize| {
        let mut v = json!({"totalRecords": total, "count": data.len(), "resultTruncated": "false", "data": data});
        if let Some(t) = token {
            v["$skipToken"] = json!(t);
        }
        respond(200, v)
    };
    let all = rows();
    if text
        == GraphQuery::from_resource_query(&agents_query())
            .unwrap()
            .query()
    {
        return match (o["$top"].as_u64(), o["$skipToken"].as_str()) {
            (Some(1000), None) => page(all.clone(), None, all.len()),
            (Some(2), None) => page(all[..2].to_vec(), Some("g2"), all.len()),
            (Some(2), Some("g2")) => page(all[2..].to_vec(), None, all.len()),
            _ => bad("paging"),
        };
    }
    if text == hostile().to_kql().unwrap() {
        return page(Vec::new(), None, 0);
    }
    if text == summarize().to_kql().unwrap() {
        return page(counts(), None, 2);
    }
    bad(text)
}

/// Answers the resource query as the documented wire format says.
fn query(req: &HttpMockRequest) -> HttpMockResponse {
    let b = body_json(req);
    if b["TableName"] != "PowerPlatformResources" {
        return bad("table");
    }
    let o = &b["Options"];
    let page = |data: Vec<Value>, token: Option<&str>, total: usize| {
        let mut v =
            json!({"totalRecords": total, "count": data.len(), "resultTruncated": 0, "data": data});
        if let Some(t) = token {
            v["skipToken"] = json!(t);
        }
        respond(200, v)
    };
    let all = rows();
    let clauses = &b["Clauses"];
    if *clauses == agents_query().clauses_json().unwrap() {
        return match (o["Top"].as_u64(), o["SkipToken"].as_str()) {
            (Some(1000), None) => page(all.clone(), None, all.len()),
            (Some(2), None) => page(all[..2].to_vec(), Some("q2"), all.len()),
            (Some(2), Some("q2")) => page(all[2..].to_vec(), None, all.len()),
            _ => bad("paging"),
        };
    }
    if *clauses == hostile().clauses_json().unwrap() {
        return page(Vec::new(), None, 0);
    }
    if *clauses == summarize().clauses_json().unwrap() {
        return page(counts(), None, 2);
    }
    bad(&clauses.to_string())
}

async fn server() -> MockServer {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(ENVIRONMENTS).query_param("api-version", "2020-10-01");
            then.status(200).json_body(json!({"value": [
                {"name": "Default-t1", "properties": {"displayName": "Contoso (default)", "environmentSku": "Default", "isDefault": true,
                    "linkedEnvironmentMetadata": {"instanceUrl": "https://contoso.crm.dynamics.com/"}}},
                {"name": "env-2", "properties": {"displayName": "Dev", "environmentSku": "Developer",
                    "linkedEnvironmentMetadata": {"instanceUrl": "https://contoso-dev.crm.dynamics.com"}}},
                {"name": "env-3", "properties": {"displayName": "No Dataverse", "environmentSku": "Production"}}
            ]}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path(GRAPH)
                .query_param("api-version", "2024-04-01");
            then.respond_with(graph);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path(QUERY)
                .query_param("api-version", "2024-10-01");
            then.respond_with(query);
        })
        .await;
    server
}

#[tokio::test]
async fn environments_with_dataverse_urls() {
    let s = server().await;
    scenarios::environments_with_dataverse_urls(&client_for(&s.base_url(), &clock()), &world())
        .await;
}

#[tokio::test]
async fn agents_agree_across_sources() {
    let s = server().await;
    scenarios::agents_agree_across_sources(&client_for(&s.base_url(), &clock()), &world()).await;
}

#[tokio::test]
async fn agents_page_and_resume() {
    let s = server().await;
    scenarios::agents_page_and_resume(&client_for(&s.base_url(), &clock()), &world()).await;
}

#[tokio::test]
async fn hostile_values_match_nothing() {
    let s = server().await;
    scenarios::hostile_values_match_nothing(&client_for(&s.base_url(), &clock())).await;
}

#[tokio::test]
async fn counts_by_environment() {
    let s = server().await;
    scenarios::counts_by_environment(&client_for(&s.base_url(), &clock()), &world()).await;
}

//! Scenarios shared by the `arg-client` httpmock tests (`tests/shared_scenarios.rs`) and the
//! tenant emulator's end-to-end tests (`crates/tenant-emulator/tests/arg_scenarios.rs`, which
//! includes this file with `#[path]`), so the client and the emulator are held to the same
//! documented behaviour of Resource Graph, the resource query and the admin environment list.
//!
//! Each scenario takes an [`ArgClient`] and the [`World`] the server holds. Only `arg_client`,
//! `futures` and `serde_json` are used here: both test crates have them.
#![allow(dead_code, unreachable_pub)]

use arg_client::kql::Operator;
use arg_client::{
    Agent, ArgClient, Continuation, GraphQuery, InventorySource, Page, ResourceQuery, SortOrder,
};
use futures::TryStreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What the server holds.
#[derive(Debug, Clone)]
pub struct World {
    /// Environment id and Dataverse URL (with a trailing `/`), in the admin list's order.
    pub environments: Vec<(String, Option<String>)>,
    /// Agents: bot id and environment id.
    pub agents: BTreeSet<(String, String)>,
}

/// A value that would widen the query if it were pasted unquoted.
pub const HOSTILE: &str = "x' or name != '' | take 1000 // \"\\\n";

/// The agents query both sources run (ordered by id).
pub fn agents_query() -> ResourceQuery {
    ResourceQuery::agents().order_by("name", SortOrder::Asc)
}

fn pairs(agents: &[Agent]) -> BTreeSet<(String, String)> {
    agents
        .iter()
        .map(|a| {
            (
                a.bot_id().to_ascii_lowercase(),
                a.environment_id().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn lower(world: &World) -> BTreeSet<(String, String)> {
    world
        .agents
        .iter()
        .map(|(b, e)| (b.to_ascii_lowercase(), e.clone()))
        .collect()
}

/// The admin list gives every environment with its Dataverse URL.
pub async fn environments_with_dataverse_urls(client: &ArgClient, world: &World) {
    let envs: Vec<_> = client.environments().try_collect().await.unwrap();
    let got: Vec<(String, Option<String>)> = envs
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.dataverse_url().unwrap().map(|u| u.to_string()),
            )
        })
        .collect();
    assert_eq!(got, world.environments);
    assert!(
        envs[0].is_default(),
        "the first environment is the default one"
    );
}

/// Both sources list the same agents, the world's.
pub async fn agents_agree_across_sources(client: &ArgClient, world: &World) {
    let graph: Vec<Agent> = client
        .agents(InventorySource::ResourceGraph)
        .try_collect()
        .await
        .unwrap();
    let query: Vec<Agent> = client
        .agents(InventorySource::ResourceQuery)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pairs(&graph), lower(world));
    assert_eq!(pairs(&query), lower(world));
    assert_eq!(graph.len(), world.agents.len(), "no duplicates");
    let names: Vec<&str> = graph.iter().map(|a| a.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "ordered by name");
}

/// Pages of two, stopped after the first page and resumed from the saved continuation, give
/// every agent exactly once, through both APIs.
pub async fn agents_page_and_resume(client: &ArgClient, world: &World) {
    let graph = GraphQuery::from_resource_query(&agents_query())
        .unwrap()
        .page_size(2);
    let mut pages = client.graph_pages::<Value>(&graph);
    let first: Page<Value> = pages.try_next().await.unwrap().unwrap();
    drop(pages);
    assert_eq!(first.rows.len(), 2);
    assert_eq!(first.total_records, Some(world.agents.len() as u64));
    let saved = serde_json::to_string(first.continuation().unwrap()).unwrap();
    let resumed: Vec<Page<Value>> = client
        .pages_from(serde_json::from_str::<Continuation>(&saved).unwrap())
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<String> = first
        .rows
        .iter()
        .chain(resumed.iter().flat_map(|p| &p.rows))
        .map(|r| r["name"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    let all: BTreeSet<String> = world
        .agents
        .iter()
        .map(|(b, _)| b.to_ascii_lowercase())
        .collect();
    assert_eq!(ids.len(), all.len(), "every agent once");
    ids.sort();
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), all);

    let pages: Vec<Page<Value>> = client
        .resource_query_pages_with(&agents_query(), Some(2), None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), world.agents.len().div_ceil(2));
    assert!(pages.iter().all(|p| !p.result_truncated));
    let n: usize = pages.iter().map(|p| p.rows.len()).sum();
    assert_eq!(n, world.agents.len());
}

/// A hostile value is one literal: it matches nothing instead of widening the query.
pub async fn hostile_values_match_nothing(client: &ArgClient) {
    let q = ResourceQuery::agents().where_in(
        "properties.displayName",
        Operator::InIgnoreCase,
        [HOSTILE],
    );
    let rows: Vec<Value> = client.resource_query(&q).try_collect().await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    let rows: Vec<Value> = client
        .graph_rows(&GraphQuery::from_resource_query(&q).unwrap())
        .try_collect()
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

/// `summarize count() by` gives the agents per environment.
pub async fn counts_by_environment(client: &ArgClient, world: &World) {
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (_, e) in &world.agents {
        *expected.entry(e.clone()).or_default() += 1;
    }
    let q = ResourceQuery::agents().summarize_count("agents", ["properties.environmentId"]);
    for rows in [
        client
            .resource_query::<Value>(&q)
            .try_collect::<Vec<_>>()
            .await
            .unwrap(),
        client
            .graph_rows::<Value>(&GraphQuery::from_resource_query(&q).unwrap())
            .try_collect::<Vec<_>>()
            .await
            .unwrap(),
    ] {
        let got: BTreeMap<String, u64> = rows
            .iter()
            .map(|r| {
                (
                    r["properties_environmentId"].as_str().unwrap().to_owned(),
                    r["agents"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected);
    }
}

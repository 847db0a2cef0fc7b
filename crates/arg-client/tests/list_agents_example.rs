//! The `list_agents` example's contract against httpmock: sign-in through the environment
//! credential, the admin environment list joined with the inventory's agents, the table and
//! `--json` forms, exit statuses. (The tenant emulator's tests run it end to end.)
//!
//! The example's `run` is compiled into this test as a module, so the real program is tested.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../../../examples/list_agents.rs"]
mod example;

mod common;

use common::{ENVIRONMENTS, GRAPH, QUERY};
use entra_auth::Env;
use httpmock::MockServer;
use serde_json::{Value, json};

const TENANT: &str = "11111111-1111-1111-1111-111111111111";

async fn server() -> MockServer {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path(format!("/{TENANT}/oauth2/v2.0/token"))
                .body_includes("client_secret=s3cret");
            then.status(200).json_body(json!({
                "token_type": "Bearer", "expires_in": 3599, "access_token": "app-token"
            }));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path(ENVIRONMENTS).header("authorization", "Bearer app-token");
            then.status(200).json_body(json!({"value": [
                {"name": "env-a", "properties": {"displayName": "Sales", "environmentSku": "Production",
                    "linkedEnvironmentMetadata": {"instanceUrl": "https://sales.crm.dynamics.com/"}}},
                {"name": "env-b", "properties": {"displayName": "Empty", "environmentSku": "Developer"}}
            ]}));
        })
        .await;
    let rows = json!([
        {"name": "b-1", "type": "microsoft.copilotstudio/agents",
         "properties": {"displayName": "Helpdesk", "environmentId": "ENV-A", "createdIn": "Copilot Studio",
                        "lastPublishedAt": "2026-01-01T00:00:00Z"}},
        {"name": "b-2", "type": "microsoft.copilotstudio/agents",
         "properties": {"displayName": "Orphan", "environmentId": "env-gone",
                        "createdIn": "Microsoft 365 Copilot Agent Builder", "lastPublishedAt": ""}}
    ]);
    let r1 = rows.clone();
    server
        .mock_async(move |when, then| {
            when.path(GRAPH).header("authorization", "Bearer app-token");
            then.status(200).json_body(
                json!({"totalRecords": 2, "count": 2, "resultTruncated": "false", "data": r1}),
            );
        })
        .await;
    server
        .mock_async(move |when, then| {
            when.path(QUERY);
            then.status(200).json_body(
                json!({"totalRecords": 2, "count": 2, "resultTruncated": 0, "data": rows}),
            );
        })
        .await;
    server
}

fn env_for(server: &MockServer) -> Env {
    let base = server.base_url();
    Env::from_pairs([
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        (
            "AZURE_CLIENT_ID",
            "22222222-2222-2222-2222-222222222222".to_owned(),
        ),
        ("AZURE_CLIENT_SECRET", "s3cret".to_owned()),
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("ARG_RESOURCE_GRAPH_URL", base.clone()),
        ("POWER_PLATFORM_API_URL", base.clone()),
        ("POWER_PLATFORM_ADMIN_URL", base),
    ])
}

async fn run(args: &[&str], env: &Env) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = example::run(
        args.iter().map(|s| (*s).to_owned()),
        env,
        &mut out,
        &mut err,
    )
    .await;
    (
        status,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn lists_agents_per_environment_as_a_table() {
    let server = server().await;
    let (status, out, err) = run(&[], &env_for(&server)).await;
    assert_eq!(status, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ENVIRONMENT"), "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[1].contains("Sales")
            && lines[1].contains("Helpdesk")
            && lines[1].contains("b-1")
            && lines[1].contains("https://sales.crm.dynamics.com/")
            && lines[1].ends_with("yes"),
        "{out}"
    );
    assert!(
        lines[2].contains("Empty") && lines[2].contains("Developer"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("(not in the admin list)")
            && lines[3].contains("env-gone")
            && lines[3].contains("Microsoft 365 Copilot Agent Builder"),
        "{out}"
    );
}

#[tokio::test]
async fn json_through_the_resource_query() {
    let server = server().await;
    let (status, out, err) = run(&["--json", "--source", "query"], &env_for(&server)).await;
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["environments"][0]["agents"][0]["botId"], "b-1");
    assert_eq!(
        doc["environments"][0]["dataverseUrl"],
        "https://sales.crm.dynamics.com/"
    );
    assert_eq!(doc["environments"][1]["agents"], json!([]));
    assert_eq!(doc["unlisted"][0]["botId"], "b-2");
    assert_eq!(doc["unlisted"][0]["published"], false);
}

#[tokio::test]
async fn bad_arguments_and_failures_have_their_exit_status() {
    let server = server().await;
    let env = env_for(&server);
    assert_eq!(run(&["--source", "sql"], &env).await.0, 2);
    assert_eq!(run(&["--bogus"], &env).await.0, 2);
    let (status, out, _) = run(&["--help"], &env).await;
    assert_eq!(status, 0);
    assert!(out.contains("usage"));
    // A cloud without the inventory: environments are listed, agents refused, status 1.
    let mut pairs: Vec<(String, String)> = [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "ARG_RESOURCE_GRAPH_URL",
        "POWER_PLATFORM_API_URL",
        "POWER_PLATFORM_ADMIN_URL",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), env.get(k).unwrap().to_owned()))
    .collect();
    pairs.push(("AZURE_CLOUD".into(), "usgovhigh".into()));
    let (status, _, err) = run(&[], &Env::from_pairs(pairs)).await;
    assert_eq!(status, 1);
    assert!(err.contains("usgovhigh"), "{err}");
    // No credentials at all.
    let (status, _, err) = run(&[], &Env::from_pairs::<String, String>([])).await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("AZURE_"), "{err}");
}

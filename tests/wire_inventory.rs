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

/// The admin environment list as BAP answers it: two pages joined by `nextLink`; a disabled
/// environment that still lists its Dataverse; one without `linkedEnvironmentMetadata` (no
/// Dataverse); one with only `instanceApiUrl`; unknown properties everywhere. The scan reads
/// the last one, never sends a request to the disabled one, and reports both others as not
/// read with their reason: coverage gaps, not failures.
#[tokio::test]
async fn the_admin_list_pages_and_its_disabled_and_dataverse_less_environments_are_gaps() {
    use connector::inventory::scan::{PreviousScan, ScanOptions, Scanner};
    use connector::inventory::tenant::InventorySourceChoice;

    let bap = MockServer::start_async().await;
    let disabled_dv = MockServer::start_async().await;
    let api_only_dv = MockServer::start_async().await;
    let path = "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments";
    let page2 = bap
        .mock_async(|w, t| {
            w.method(GET).path(path).query_param("$skiptoken", "abc");
            t.status(200).json_body(json!({"value": [{
                "id": format!("{path}/env-api"), "name": "env-api", "location": "europe",
                "type": "Microsoft.BusinessAppPlatform/scopes/environments",
                "properties": {
                    "displayName": "API host only", "environmentSku": "Production",
                    "states": {"management": {"id": "Ready"}, "runtime": {"id": "Enabled"}},
                    "linkedEnvironmentMetadata": {"instanceApiUrl": api_only_dv.base_url(), "somethingNew": 1},
                    "governanceConfiguration": {"protectionLevel": "Standard"}
                }
            }]}));
        })
        .await;
    let next = format!(
        "{}{path}?api-version=2020-10-01&$skiptoken=abc",
        bap.base_url()
    );
    let page1 = bap
        .mock_async(|w, t| {
            w.method(GET).path(path).query_param_missing("$skiptoken");
            t.status(200).json_body(json!({
                "value": [
                    {"name": "env-off", "location": "unitedstates", "properties": {
                        "displayName": "Expired trial", "environmentSku": "Trial",
                        "states": {"management": {"id": "NotSpecified"}, "runtime": {"id": "Disabled", "runtimeReasonCode": "TrialExpired"}},
                        "linkedEnvironmentMetadata": {"instanceUrl": disabled_dv.base_url(), "instanceApiUrl": disabled_dv.base_url()}
                    }},
                    {"name": "env-nodv", "location": "unitedstates", "properties": {
                        "displayName": "Teams only", "environmentSku": "Teams",
                        "states": {"management": {"id": "Ready"}, "runtime": {"id": "Enabled"}}
                    }}
                ],
                "nextLink": next,
            }));
        })
        .await;
    let disabled_requests = disabled_dv
        .mock_async(|w, t| {
            w.any_request();
            t.status(503);
        })
        .await;
    let api_bots = api_only_dv
        .mock_async(|w, t| {
            w.method(GET).path(format!("{API}/bots"));
            t.status(200)
                .header("Preference-Applied", "odata.track-changes")
                .json_body(json!({"value": [], "@odata.deltaLink": format!("{}{API}/bots?$deltatoken=1", api_only_dv.base_url())}));
        })
        .await;
    api_only_dv
        .mock_async(|w, t| {
            w.method(GET).path(format!("{API}/botcomponents"));
            t.status(200)
                .header("Preference-Applied", "odata.track-changes")
                .json_body(json!({"value": [], "@odata.deltaLink": format!("{}{API}/botcomponents?$deltatoken=1", api_only_dv.base_url())}));
        })
        .await;

    let mut o = ScanOptions::default();
    o.inventory_source = InventorySourceChoice::None;
    o.identity.choice = connector::inventory::identity::IdentityChoice::None;
    o.endpoints.bap = Some(bap.base_url().parse().unwrap());
    let clock = client_core::ManualClock::new(NOW);
    let scanner = Scanner::new(token(), Arc::new(clock), o);
    let result = scanner.scan(&PreviousScan::default(), None).await.unwrap();
    page1.assert_calls_async(1).await;
    page2.assert_calls_async(1).await;
    disabled_requests.assert_calls_async(0).await;
    api_bots.assert_calls_async(1).await;
    let outcome = |id: &str| {
        result
            .summary
            .environments
            .iter()
            .find(|e| e.environment_id == id)
            .unwrap_or_else(|| panic!("{id} not reported: {:?}", result.summary.environments))
    };
    assert_eq!(outcome("env-api").outcome, "scanned");
    assert_eq!(outcome("env-nodv").outcome, "no_dataverse");
    let off = outcome("env-off");
    assert_eq!(off.outcome, "unavailable");
    assert!(
        off.detail
            .as_deref()
            .unwrap_or_default()
            .contains("disabled"),
        "{off:?}"
    );
    for (id, code) in [
        ("env-off", "environment_not_scanned.unavailable"),
        ("env-nodv", "environment_not_scanned.no_dataverse"),
    ] {
        assert!(
            result
                .summary
                .coverage_gaps
                .iter()
                .any(|g| g.environment_id.as_deref() == Some(id) && g.kind.code() == code),
            "{id} {code}: {:?}",
            result.summary.coverage_gaps
        );
    }
}

/// The Power Platform inventory API takes signed-in users' tokens only: an application gets
/// 403 whatever its roles. The default source then falls back to Resource Graph, which
/// serves the same table (its `resultTruncated` a string, its `$skipToken` with a dollar,
/// `lastPublishedAt` empty while draft), and says so.
#[tokio::test]
async fn the_resource_query_refusing_an_app_falls_back_to_resource_graph() {
    use connector::inventory::tenant::{InventorySourceChoice, tenant_agents, tenant_inventory};

    let server = MockServer::start_async().await;
    let refused = server
        .mock_async(|w, t| {
            w.method(POST).path("/resourcequery/resources/query");
            t.status(403).json_body(json!({"error": {"code": "Forbidden", "message": "The caller does not have permission: application tokens are not supported."}}));
        })
        .await;
    let row = |name: &str, published: &str| {
        json!({
            "id": format!("/providers/Microsoft.PowerPlatform/scopes/environments/env-1/agents/{name}"),
            "name": name, "type": "microsoft.copilotstudio/agents", "location": "europe",
            "tenantId": "t1",
            "properties": {"displayName": name, "environmentId": "env-1", "createdIn": "Copilot Studio",
                "lastPublishedAt": published, "createdAt": "2026-01-02T03:04:05.1234567Z",
                "someFutureField": {"x": 1}}
        })
    };
    let graph2 = server
        .mock_async(|w, t| {
            w.method(POST)
                .path("/providers/Microsoft.ResourceGraph/resources")
                .body_includes("\"$skipToken\":\"tok2\"");
            t.status(200).json_body(json!({"totalRecords": 2, "count": 1, "resultTruncated": "false", "data": [row("b2", "2026-02-01T00:00:00Z")]}));
        })
        .await;
    let graph1 = server
        .mock_async(|w, t| {
            w.method(POST)
                .path("/providers/Microsoft.ResourceGraph/resources")
                .body_excludes("$skipToken");
            t.status(200)
                .header("x-ms-user-quota-remaining", "14")
                .header("x-ms-user-quota-resets-after", "00:00:05")
                .json_body(json!({"totalRecords": 2, "count": 1, "resultTruncated": "false", "$skipToken": "tok2", "data": [row("b1", "")]}));
        })
        .await;
    let client = arg_client::ArgClient::builder(token())
        .power_platform_endpoint(&server.base_url())
        .resource_graph_endpoint(&server.base_url())
        .admin_endpoint(&server.base_url())
        .build()
        .unwrap();
    let read = tenant_inventory(&client, InventorySourceChoice::PowerPlatform)
        .await
        .unwrap();
    let (agents, notes) = (read.agents, read.problems);
    refused.assert_calls_async(1).await;
    graph1.assert_calls_async(1).await;
    graph2.assert_calls_async(1).await;
    assert_eq!(agents.len(), 2);
    assert!(agents[0].last_published_at.is_none());
    assert!(agents[1].last_published_at.is_some());
    assert_eq!(
        agents[0].source,
        inventory_model::InventorySource::ResourceGraph
    );
    assert!(
        notes.iter().any(|n| n.contains("Azure Resource Graph")),
        "{notes:?}"
    );
    // The layer says which source was read in the end, why, and how to skip the refusal.
    assert_eq!(read.source, InventorySourceChoice::ResourceGraph);
    let why = read.fallback.unwrap();
    assert!(
        why.contains("signed-in users only") && why.contains("--inventory-source arg"),
        "{why}"
    );

    // Resource Graph refusing too: its error (the role the app lacks there) is the answer,
    // not the resource query's 403, whose only fix is the fallback that just failed.
    let both = MockServer::start_async().await;
    both.mock_async(|w, t| {
        w.method(POST).path("/resourcequery/resources/query");
        t.status(403).json_body(
            json!({"error": {"code": "Forbidden", "message": "app-only tokens are not supported"}}),
        );
    })
    .await;
    both.mock_async(|w, t| {
        w.method(POST).path("/providers/Microsoft.ResourceGraph/resources");
        t.status(403).json_body(json!({"error": {"code": "AuthorizationFailed", "message": "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.ResourceGraph/resources/read' over scope '/providers/Microsoft.ResourceGraph'."}}));
    })
    .await;
    let client = arg_client::ArgClient::builder(token())
        .power_platform_endpoint(&both.base_url())
        .resource_graph_endpoint(&both.base_url())
        .build()
        .unwrap();
    let err = tenant_inventory(&client, InventorySourceChoice::PowerPlatform)
        .await
        .unwrap_err();
    assert_eq!(
        err.hint(),
        Some(arg_client::Hint::AdminRoleRequired),
        "{err}"
    );
    assert!(err.to_string().contains("AuthorizationFailed"), "{err}");

    // Another refusal is not papered over.
    let other = MockServer::start_async().await;
    other
        .mock_async(|w, t| {
            w.method(POST).path("/resourcequery/resources/query");
            t.status(400)
                .json_body(json!({"error": {"code": "BadRequest", "message": "bad clause"}}));
        })
        .await;
    let client = arg_client::ArgClient::builder(token())
        .power_platform_endpoint(&other.base_url())
        .resource_graph_endpoint(&other.base_url())
        .build()
        .unwrap();
    assert!(
        tenant_agents(&client, InventorySourceChoice::PowerPlatform)
            .await
            .is_err()
    );
}

/// The upsert writer against Dataverse's documented `$batch` answers: a change set of PATCHes
/// by alternate key (quotes doubled, no key column repeated in the body, no `If-Match` /
/// `If-None-Match`, so each is an upsert), answered with a nested `changesetresponse` of 204s
/// echoing `Content-ID`; then a change set that fails, answered the way Learn shows it: outer
/// 400 and the failing request's own status and JSON error in a single part.
#[tokio::test]
async fn the_upsert_writer_sends_upserts_by_key_and_reads_both_batch_answers() {
    use connector::inventory::upsert::write_rows;
    use inventory_model::{AgentRow, EnvironmentRow, InventoryRows};

    let mut rows = InventoryRows::default();
    rows.environments.push(EnvironmentRow::new("env-1"));
    rows.agents.push(AgentRow::new("O'Brien bot", "env-1"));

    let ok = MockServer::start_async().await;
    let base = ok.base_url();
    let answer = format!(
        "--batchresponse_1d2a\r\nContent-Type: multipart/mixed; boundary=changesetresponse_77f0\r\n\r\n\
         --changesetresponse_77f0\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
         HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nOData-EntityId: {base}{API}/fsi_caienvironments(00000000-0000-0000-0000-0000000000e1)\r\n\r\n\r\n\
         --changesetresponse_77f0\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
         HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nOData-EntityId: {base}{API}/fsi_copilotagents(00000000-0000-0000-0000-0000000000a1)\r\n\r\n\r\n\
         --changesetresponse_77f0--\r\n--batchresponse_1d2a--\r\n"
    );
    let batch = ok
        .mock_async(|w, t| {
            w.method(POST)
                .path(format!("{API}/$batch"))
                .header_includes("content-type", "multipart/mixed")
                .body_includes("Content-Type: multipart/mixed; boundary=")
                .body_includes(format!("PATCH {API}/fsi_caienvironments(fsi_environmentid='env-1') HTTP/1.1"))
                .body_includes(format!(
                    "PATCH {API}/fsi_copilotagents(fsi_agentid='O''Brien%20bot',fsi_environmentid='env-1') HTTP/1.1"
                ))
                .body_includes("Content-ID: 2")
                .body_excludes("\"fsi_agentid\"")
                .body_excludes("\"fsi_environmentid\"")
                .body_excludes("If-Match")
                .body_excludes("If-None-Match");
            t.status(200)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_1d2a")
                .body(answer);
        })
        .await;
    let report = write_rows(&dataverse(&ok), &rows, 100, 2).await;
    batch.assert_calls_async(1).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written.get("fsi_copilotagent"), Some(&1));
    assert_eq!(report.written.get("fsi_caienvironment"), Some(&1));

    let refused = MockServer::start_async().await;
    let answer = "--batchresponse_9c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 400 Bad Request\r\nREQ_ID: 5f1e\r\nContent-Type: application/json; odata.metadata=minimal\r\nOData-Version: 4.0\r\n\r\n\
         {\"error\":{\"code\":\"0x80060891\",\"message\":\"A record with the specified key values does not exist in fsi_copilotagent entity\"}}\r\n\
         --batchresponse_9c--\r\n";
    refused
        .mock_async(|w, t| {
            w.method(POST).path(format!("{API}/$batch"));
            t.status(400)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_9c")
                .body(answer);
        })
        .await;
    let report = write_rows(&dataverse(&refused), &rows, 100, 2).await;
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(report.written.is_empty());
    assert!(
        report.failed.iter().all(|f| f.contains("0x80060891")),
        "{report:?}"
    );
}

/// A change set whose request was throttled inside the batch (outer 400 without
/// continue-on-error, the inner part `429` with `Retry-After` and a service protection code)
/// was rolled back by the service: the writer waits as asked, on its clock, and sends it again.
#[tokio::test]
async fn a_change_set_throttled_inside_the_batch_is_sent_again_after_its_retry_after() {
    use connector::inventory::upsert::write_rows;
    use inventory_model::{EnvironmentRow, InventoryRows};
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut rows = InventoryRows::default();
    rows.environments.push(EnvironmentRow::new("env-1"));
    let server = MockServer::start_async().await;
    let throttled = "--batchresponse_t\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n\
         {\"error\":{\"code\":\"-2147015898\",\"message\":\"Number of concurrent requests exceeded the limit of 52.\"}}\r\n\
         --batchresponse_t--\r\n";
    let seen = Arc::new(AtomicUsize::new(0));
    let first = seen.clone();
    let once = server
        .mock_async(move |w, t| {
            w.method(POST)
                .path(format!("{API}/$batch"))
                .is_true(move |_| first.fetch_add(1, Ordering::SeqCst) == 0);
            t.status(400)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_t")
                .body(throttled);
        })
        .await;
    let ok_answer = "--batchresponse_o\r\nContent-Type: multipart/mixed; boundary=changesetresponse_o\r\n\r\n\
         --changesetresponse_o\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
         HTTP/1.1 204 No Content\r\n\r\n\r\n--changesetresponse_o--\r\n--batchresponse_o--\r\n";
    let again = server
        .mock_async(|w, t| {
            w.method(POST).path(format!("{API}/$batch"));
            t.status(200)
                .header("Content-Type", "multipart/mixed; boundary=batchresponse_o")
                .body(ok_answer);
        })
        .await;
    let clock = client_core::ManualClock::new(NOW);
    let client = DataverseClient::builder(&server.base_url(), token())
        .unwrap()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let report = write_rows(&client, &rows, 100, 1).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.batches, 2);
    once.assert_calls_async(1).await;
    again.assert_calls_async(1).await;
    assert_eq!(clock.sleeps(), [std::time::Duration::from_secs(7)]);
}

/// The resource query answering `resultTruncated` (a number there) with no `skipToken`, and a
/// `totalRecords` above what came back: the agents read are kept and the shortfall is noted,
/// not hidden.
#[tokio::test]
async fn a_truncated_inventory_answer_without_a_skip_token_is_noted() {
    use connector::inventory::tenant::{InventorySourceChoice, tenant_agents};

    let server = MockServer::start_async().await;
    server
        .mock_async(|w, t| {
            w.method(POST).path("/resourcequery/resources/query");
            t.status(200).json_body(json!({
                "totalRecords": 3, "count": 1, "resultTruncated": 1,
                "data": [{"name": "b1", "type": "microsoft.copilotstudio/agents",
                    "properties": {"environmentId": "env-1", "lastPublishedAt": ""}}]
            }));
        })
        .await;
    let client = arg_client::ArgClient::builder(token())
        .power_platform_endpoint(&server.base_url())
        .build()
        .unwrap();
    let (agents, notes) = tenant_agents(&client, InventorySourceChoice::PowerPlatform)
        .await
        .unwrap();
    assert_eq!(agents.len(), 1);
    assert!(
        notes.iter().any(|n| n.contains("cut its answer short")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("counted 3")), "{notes:?}");
}

//! The whole tenant, end to end: `arg-client` against the emulator's Resource Graph, resource
//! query and admin environment list (the scenarios shared with `arg-client`'s httpmock tests),
//! each environment's Dataverse at its own URL through `entra-auth` and `dataverse-client`, the
//! planted discrepancies, quota headers and throttling, and the `list_agents` example.
//!
//! One manual clock drives the client, the credential and the emulator: waiting out a quota
//! window moves the emulator's time as much, and nothing sleeps for real.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../arg-client/tests/scenarios/mod.rs"]
mod scenarios;

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/list_agents.rs"]
mod list_agents;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arg_client::{Api, ArgClient, Environment, GraphQuery, Hint, InventorySource};
use dataverse_client::DataverseClient;
use entra_auth::{ClientSecretCredential, CredentialOptions};
use futures::TryStreamExt;
use scenarios::World;
use serde_json::Value;
use tenant_emulator::clock::Sleep;
use tenant_emulator::environments::Discrepancy;
use tenant_emulator::inventory::InventoryConfig;
use tenant_emulator::{Emulator, EmulatorBuilder, RunningEmulator};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// The emulator's time is the client's manual clock.
struct Linked(client_core::ManualClock);

impl tenant_emulator::clock::Clock for Linked {
    fn now(&self) -> OffsetDateTime {
        client_core::Clock::now(&self.0)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.0.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

struct Tenant {
    emulator: RunningEmulator,
    clock: client_core::ManualClock,
}

async fn start(configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder) -> Tenant {
    let clock = client_core::ManualClock::new(datetime!(2026-03-01 12:00 UTC));
    let builder = Emulator::builder()
        .seed(5)
        .agents(3)
        .transcripts(4)
        .anchor(datetime!(2026-03-01 00:00 UTC))
        .clock(Arc::new(Linked(clock.clone())))
        // The shared scenarios page the resource query as an app, which the real service (and
        // the emulator by default) refuses: they opt in to the emulator serving apps there.
        .inventory(InventoryConfig::default().with_resource_query_delegated_only(false));
    let emulator = configure(builder).start().await.unwrap();
    Tenant { emulator, clock }
}

fn credential(t: &Tenant) -> Arc<ClientSecretCredential> {
    let options = CredentialOptions::default()
        .with_authority_host(url::Url::parse(t.emulator.authority_host()).unwrap())
        .with_clock(Arc::new(t.clock.clone()));
    let creds = t.emulator.credentials();
    Arc::new(
        ClientSecretCredential::new(
            creds.tenant_id.to_string(),
            creds.client_id.to_string(),
            creds.client_secret.clone(),
            options,
        )
        .unwrap(),
    )
}

fn client(t: &Tenant) -> ArgClient {
    let base = t.emulator.inventory_url();
    ArgClient::builder(credential(t))
        .resource_graph_endpoint(base)
        .power_platform_endpoint(base)
        .admin_endpoint(base)
        .clock(Arc::new(t.clock.clone()))
        .build()
        .unwrap()
}

/// What the inventory should hold: every environment's Dataverse `bots`, minus the bots only
/// Dataverse knows, plus the agents only the inventory knows.
fn world(t: &Tenant) -> World {
    let mut agents = BTreeSet::new();
    for e in t.emulator.environments() {
        for b in &e.bot_ids {
            agents.insert((b.to_string(), e.id.clone()));
        }
    }
    for d in t.emulator.discrepancies() {
        match d {
            Discrepancy::ClassicBotOnlyInDataverse {
                environment_id,
                bot_id,
            } => {
                assert!(agents.remove(&(bot_id.to_string(), environment_id.clone())));
            }
            Discrepancy::AgentOnlyInInventory {
                environment_id,
                bot_id,
            }
            | Discrepancy::AgentBuilderOnlyInInventory {
                environment_id,
                bot_id,
            } => {
                agents.insert((bot_id.to_string(), environment_id.clone()));
            }
            _ => {}
        }
    }
    World {
        environments: t
            .emulator
            .environments()
            .iter()
            .map(|e| (e.id.clone(), e.url.as_ref().map(|u| format!("{u}/"))))
            .collect(),
        agents,
    }
}

#[tokio::test]
async fn shared_scenarios_against_a_five_environment_tenant() {
    let t = start(|b| b.environments(5)).await;
    let c = client(&t);
    let w = world(&t);
    // The five, and the disabled one listed after them.
    assert_eq!(w.environments.len(), 6);
    scenarios::environments_with_dataverse_urls(&c, &w).await;
    scenarios::agents_agree_across_sources(&c, &w).await;
    scenarios::agents_page_and_resume(&c, &w).await;
    scenarios::hostile_values_match_nothing(&c).await;
    scenarios::counts_by_environment(&c, &w).await;
}

#[tokio::test]
async fn shared_scenarios_against_a_single_environment() {
    let t = start(|b| b).await;
    let w = world(&t);
    assert!(t.emulator.discrepancies().is_empty());
    assert_eq!(w.environments.len(), 1);
    let c = client(&t);
    scenarios::environments_with_dataverse_urls(&c, &w).await;
    scenarios::agents_agree_across_sources(&c, &w).await;
    scenarios::agents_page_and_resume(&c, &w).await;
    scenarios::counts_by_environment(&c, &w).await;
}

#[tokio::test]
async fn each_environment_has_its_own_dataverse_and_the_discrepancies_are_real() {
    let t = start(|b| b.environments(5)).await;
    let envs: Vec<Environment> = client(&t).environments().try_collect().await.unwrap();
    let kinds: Vec<_> = t
        .emulator
        .discrepancies()
        .iter()
        .map(std::mem::discriminant)
        .collect();
    assert_eq!(kinds.len(), 7, "{:?}", t.emulator.discrepancies());
    // Five environments and, after them, the disabled one.
    assert_eq!(envs.len(), 6);
    let urls: BTreeSet<String> = envs
        .iter()
        .filter_map(|e| e.dataverse_url().unwrap())
        .map(|u| u.to_string())
        .collect();
    assert_eq!(
        urls.len(),
        5,
        "one environment has no Dataverse; the others differ"
    );
    // The disabled one, as the admin API shows it: Dataverse metadata kept, runtime state
    // `Disabled`; arg-client names why it cannot be read, and only for it.
    let disabled: Vec<&Environment> = envs
        .iter()
        .filter(|e| e.unavailable_reason().is_some())
        .collect();
    assert_eq!(disabled.len(), 1, "{envs:#?}");
    assert!(disabled[0].dataverse_url().unwrap().is_some());
    assert!(
        disabled[0]
            .unavailable_reason()
            .unwrap()
            .contains("disabled"),
        "{:?}",
        disabled[0].unavailable_reason()
    );
    assert!(
        t.emulator
            .discrepancies()
            .contains(&Discrepancy::DisabledEnvironment {
                environment_id: disabled[0].name.clone()
            })
    );
    assert_eq!(
        envs.iter()
            .filter(|e| e.sku().map(|s| s.as_str()) == Some("Developer"))
            .count(),
        1
    );
    for (e, info) in envs.iter().zip(t.emulator.environments()) {
        let Some(url) = e.dataverse_url().unwrap() else {
            continue;
        };
        let dv = DataverseClient::builder(url.as_str(), credential(&t))
            .unwrap()
            .clock(Arc::new(t.clock.clone()))
            .build()
            .unwrap();
        let bots: Result<Vec<Value>, _> = dv
            .rows(&dv.query("bots").select(["botid"]))
            .try_collect()
            .await;
        if info.forbidden {
            let err = bots.unwrap_err();
            assert_eq!(err.status(), Some(403), "{err}");
            continue;
        }
        if info.disabled {
            let err = bots.unwrap_err();
            assert_eq!(err.status(), Some(503), "{err}");
            continue;
        }
        let got: BTreeSet<Uuid> = bots
            .unwrap()
            .iter()
            .map(|b| Uuid::parse_str(b["botid"].as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(got, info.bot_ids.iter().copied().collect(), "{}", info.id);
        // Transcripts are per environment too.
        let who = dv.who_am_i().await.unwrap();
        assert_eq!(
            who.organization_id.to_string(),
            e.properties
                .linked_environment_metadata
                .as_ref()
                .unwrap()
                .resource_id
                .clone()
                .unwrap()
        );
    }
    let agents: Vec<_> = client(&t)
        .agents(InventorySource::ResourceGraph)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(agents.iter().filter(|a| a.is_agent_builder()).count(), 1);
}

#[tokio::test]
async fn quota_headers_are_sent_and_honoured_before_a_429() {
    let t =
        start(|b| b.inventory(InventoryConfig::default().with_quota(3, Duration::from_secs(5))))
            .await;
    let c = client(&t);
    for _ in 0..7 {
        let _: Vec<Value> = c
            .graph_rows(&GraphQuery::new("PowerPlatformResources | take 1"))
            .try_collect()
            .await
            .unwrap();
    }
    // 7 requests at 3 per window: the client waited for two resets and never got a 429.
    let waits: Vec<Duration> = t
        .clock
        .sleeps()
        .into_iter()
        .filter(|d| *d >= Duration::from_secs(1))
        .collect();
    assert_eq!(waits.len(), 2, "{:?}", t.clock.sleeps());
    assert!(c.quota(Api::ResourceGraph).is_some());

    // A client that ignores the quota (a second one, with its own count) meets the 429.
    let raw = reqwest::Client::new();
    let token = entra_token(&t, "https://management.azure.com/.default").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = raw
            .post(format!(
                "{}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
                t.emulator.inventory_url()
            ))
            .bearer_auth(&token)
            .json(&serde_json::json!({"query": "PowerPlatformResources | count"}))
            .send()
            .await
            .unwrap();
        assert!(r.headers().contains_key("x-ms-user-quota-resets-after"));
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

async fn entra_token(t: &Tenant, scope: &str) -> String {
    let creds = t.emulator.credentials();
    let body: Value = reqwest::Client::new()
        .post(t.emulator.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &creds.client_id.to_string()),
            ("client_secret", &creds.client_secret),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refusals_and_wrong_audiences() {
    let t = start(|b| {
        b.inventory(
            InventoryConfig::default()
                .with_management_apps_registered(false)
                .with_resource_query_delegated_only(true),
        )
    })
    .await;
    let c = client(&t);
    let err = c.environments().try_collect::<Vec<_>>().await.unwrap_err();
    assert_eq!(
        err.hint(),
        Some(Hint::RegisterManagementApplication),
        "{err}"
    );
    let err = c
        .agents(InventorySource::ResourceQuery)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.hint(), Some(Hint::DelegatedAdminRequired), "{err}");
    // A Dataverse token is not a Resource Graph token.
    let token = entra_token(&t, &format!("{}/.default", t.emulator.environment_url())).await;
    let r = reqwest::Client::new()
        .post(format!(
            "{}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
            t.emulator.inventory_url()
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({"query": "PowerPlatformResources"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A query outside the subset is a typed 400 with details.
    let err = client(&t)
        .graph_rows::<Value>(&GraphQuery::new("PowerPlatformResources | mv-expand x"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("mv-expand"), "{err}");
}

/// A token for `scope` from the device code sign-in (a person's, delegated).
async fn user_token(t: &Tenant, scope: &str) -> String {
    let creds = t.emulator.credentials();
    let http = reqwest::Client::new();
    let code: Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            t.emulator.authority_host(),
            creds.tenant_id
        ))
        .form(&[
            ("client_id", creds.client_id.to_string().as_str()),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_code = code["device_code"].as_str().unwrap().to_owned();
    // Approved on the second poll; each poll waits out the interval on the shared clock.
    for _ in 0..3 {
        t.clock.advance(Duration::from_secs(30));
        let body: Value = http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                t.emulator.authority_host(),
                creds.tenant_id
            ))
            .form(&[
                (
                    "grant_type",
                    tenant_emulator::entra_device::DEVICE_CODE_GRANT_TYPE,
                ),
                ("client_id", creds.client_id.to_string().as_str()),
                ("device_code", device_code.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(token) = body["access_token"].as_str() {
            return token.to_owned();
        }
    }
    panic!("the device code sign-in was not approved")
}

/// By default the resource query answers as the real service: an app's token gets 403 (the
/// hint says a signed-in admin is needed), a signed-in person's token is served.
#[tokio::test]
async fn the_resource_query_serves_people_not_apps_by_default() {
    let t = start(|b| b.inventory(InventoryConfig::default())).await;
    let err = client(&t)
        .agents(InventorySource::ResourceQuery)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert_eq!(err.hint(), Some(Hint::DelegatedAdminRequired), "{err}");
    let url = format!(
        "{}/resourcequery/resources/query?api-version=2024-10-01",
        t.emulator.inventory_url()
    );
    let body = serde_json::json!({"TableName": "PowerPlatformResources", "Clauses": [], "Options": {"Top": 5}});
    let token = user_token(&t, "https://api.powerplatform.com/.default").await;
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer["count"].as_u64().unwrap() > 0, "{answer}");
}

/// Runs the `list_agents` example against the emulator.
async fn run_example(t: &Tenant, args: &[&str]) -> (u8, String, String) {
    let creds = t.emulator.credentials();
    let base = t.emulator.inventory_url().to_owned();
    let env = entra_auth::Env::from_pairs([
        ("AZURE_TENANT_ID", creds.tenant_id.to_string()),
        ("AZURE_CLIENT_ID", creds.client_id.to_string()),
        ("AZURE_CLIENT_SECRET", creds.client_secret.clone()),
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("ARG_RESOURCE_GRAPH_URL", base.clone()),
        ("POWER_PLATFORM_API_URL", base.clone()),
        ("POWER_PLATFORM_ADMIN_URL", base),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = list_agents::run(
        args.iter().map(|s| (*s).to_owned()),
        &env,
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
async fn list_agents_shows_each_dataverse_plus_or_minus_exactly_the_planted_discrepancies() {
    let t = start(|b| b.environments(6)).await;
    let (status, out, err) = run_example(&t, &["--json"]).await;
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let listed: BTreeSet<(String, String)> = doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            let id = e["id"].as_str().unwrap().to_owned();
            e["agents"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |a| (a["botId"].as_str().unwrap().to_owned(), id.clone()))
        })
        .collect();
    assert!(doc["unlisted"].as_array().unwrap().is_empty());
    // Ground truth: each environment's Dataverse `bots`.
    let dataverse: BTreeSet<(String, String)> = t
        .emulator
        .environments()
        .iter()
        .flat_map(|e| e.bot_ids.iter().map(|b| (b.to_string(), e.id.clone())))
        .collect();
    let only_listed: BTreeSet<_> = listed.difference(&dataverse).cloned().collect();
    let only_dataverse: BTreeSet<_> = dataverse.difference(&listed).cloned().collect();
    let mut planted_listed = BTreeSet::new();
    let mut planted_dataverse = BTreeSet::new();
    for d in t.emulator.discrepancies() {
        match d {
            Discrepancy::AgentOnlyInInventory {
                environment_id,
                bot_id,
            }
            | Discrepancy::AgentBuilderOnlyInInventory {
                environment_id,
                bot_id,
            } => {
                planted_listed.insert((bot_id.to_string(), environment_id.clone()));
            }
            Discrepancy::ClassicBotOnlyInDataverse {
                environment_id,
                bot_id,
            } => {
                planted_dataverse.insert((bot_id.to_string(), environment_id.clone()));
            }
            _ => {}
        }
    }
    assert_eq!(only_listed, planted_listed);
    assert_eq!(only_dataverse, planted_dataverse);
    assert_eq!(planted_listed.len() + planted_dataverse.len(), 3);
    // The environment without Dataverse is listed with no URL.
    assert!(
        doc["environments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["dataverseUrl"].is_null())
    );

    // The table form through the resource query lists the same agents.
    let (status, table, err) = run_example(&t, &["--source", "query"]).await;
    assert_eq!(status, 0, "{err}");
    for (bot, _) in &listed {
        assert!(table.contains(bot.as_str()), "{bot} missing from\n{table}");
    }
}

#[tokio::test]
async fn single_environment_use_is_unchanged() {
    // The primary environment is at the base URL with the tenant's own identity, as before.
    let t = start(|b| b.environments(3)).await;
    let envs = t.emulator.environments();
    assert_eq!(envs[0].url.as_deref(), Some(t.emulator.environment_url()));
    assert_eq!(envs[0].bot_ids.len(), 3);
    assert_eq!(t.emulator.dataverse().count("bots"), 3);
    assert!(envs[1].url.as_deref() != Some(t.emulator.environment_url()));
}

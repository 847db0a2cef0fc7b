//! End-to-end: `inventory scan` takes each agent's identity posture from Microsoft Graph
//! (the emulator's directory): the planted over-privileged agent identity gets the finding from
//! a plain scan, the rows and the document carry it, the expired secret and the ownerless app
//! show; identities are read again only when new, changed or old; Graph refusing is a coverage
//! gap of its own layer while the other layers complete.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use connector::config::{RawConfig, SignIn};
use connector::inventory::identity::IdentityChoice;
use connector::inventory::scan::{PreviousScan, ScanOptions, ScanResult, ScanStatus, Scanner};
use connector::inventory::tenant::InventorySourceChoice;
use serde_json::Value;
use support::*;
use tenant_emulator::identity::IdentityProfile;
use tenant_emulator::{Emulator, RunningEmulator};

fn env(emu: &RunningEmulator, dir: &std::path::Path) -> HashMap<String, String> {
    let mut env = env_for(emu, &dir.join("state.db"), &[]);
    for k in ["POWER_PLATFORM_API_URL", "BAP_API_URL", "ARM_URL"] {
        env.insert(k.into(), emu.inventory_url().to_owned());
    }
    env.insert("GRAPH_URL".into(), emu.graph_url().to_owned());
    env.insert(
        "COPILOT_INVENTORY_STATE".into(),
        dir.join("inventory.db").display().to_string(),
    );
    env
}

/// `copilot-connector --json inventory scan --output DOC ARGS`: (exit code, document, summary).
async fn scan(
    env: &HashMap<String, String>,
    dir: &std::path::Path,
    args: &[&str],
) -> (i32, Value, Value) {
    let doc = dir.join("inventory.json");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_copilot-connector"))
        .args([
            "--json",
            "--output",
            doc.to_str().unwrap(),
            "inventory",
            "scan",
        ])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&doc).unwrap()).unwrap();
    (out.status.code().unwrap_or(-1), doc, summary)
}

/// The result of `check` for `agent` in the document's postures: (status, evidence values).
fn check(doc: &Value, agent: &str, check: &str) -> (String, Vec<String>) {
    let posture = doc["postures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["agent_id"].as_str().unwrap().eq_ignore_ascii_case(agent))
        .unwrap_or_else(|| panic!("no posture for {agent}"));
    let r = posture["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == check)
        .unwrap();
    let evidence = r["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["value"].as_str().unwrap_or_default().to_owned())
        .collect();
    (r["status"].as_str().unwrap().to_owned(), evidence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_scan_finds_the_planted_identities_and_a_rescan_reads_none_again() {
    let emu = Emulator::builder()
        .seed(61)
        .agents(6)
        .transcripts(2)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env(&emu, dir.path());
    let before = emu.graph().requests_served();
    let (code, doc, summary) = scan(&env, dir.path(), &[]).await;
    assert_eq!(code, 0, "{summary:#}");
    let layer = &summary["layers"]["identity"];
    assert_eq!(layer["status"], "read", "{summary:#}");
    assert_eq!(layer["count"], 6, "{summary:#}");
    // Six identities in JSON batches of 20: a handful of Graph requests, not dozens.
    let first = emu.graph().requests_served() - before;
    assert!(first <= 6, "{first} Graph requests for six identities");

    let planted = emu.graph().directory().identities();
    let mut seen = 0;
    for p in planted.iter().filter(|p| p.agent.is_some()) {
        let agent = p.agent.clone().unwrap();
        let (over, excess) = check(&doc, &agent, "over-privileged-identity");
        let (hygiene, problems) = check(&doc, &agent, "identity-hygiene");
        match p.profile {
            IdentityProfile::OverPrivileged => {
                assert_eq!(over, "found");
                let text = excess.join(" ");
                for n in [
                    "Mail.Send",
                    "Directory.ReadWrite.All",
                    "Files.ReadWrite.All",
                ] {
                    assert!(text.contains(n), "{n}: {text}");
                }
                // The row written to fsi_caicompliancestate carries the finding too.
                let row = doc["fsi_caicompliancestate"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| {
                        r["fsi_agentid"]
                            .as_str()
                            .unwrap()
                            .eq_ignore_ascii_case(&agent)
                    })
                    .unwrap();
                let violations = row["fsi_violationsjson"].as_str().unwrap();
                assert!(
                    violations.contains("over-privileged-identity"),
                    "{violations}"
                );
                assert!(violations.contains("Mail.Send"), "{violations}");
                seen += 1;
            }
            IdentityProfile::ExpiredSecret => {
                assert_eq!(over, "not_found");
                assert_eq!(hygiene, "found");
                assert!(
                    problems.iter().any(|e| e == "1 expired credential"),
                    "{problems:?}"
                );
                seen += 1;
            }
            IdentityProfile::Orphaned => {
                assert_eq!(hygiene, "found");
                assert!(
                    problems.iter().any(|e| e.contains("no owner")),
                    "{problems:?}"
                );
                seen += 1;
            }
            IdentityProfile::ExpiringSecret => {
                assert_eq!(hygiene, "found");
                assert!(
                    problems
                        .iter()
                        .any(|e| e.contains("expiring within 30 days")),
                    "{problems:?}"
                );
                seen += 1;
            }
            _ => {
                assert_eq!(
                    (over.as_str(), hygiene.as_str()),
                    ("not_found", "not_found"),
                    "{p:?}"
                );
            }
        }
        // The document's `identities` list says what was read, in the `permissions` words.
        let record = doc["identities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["agent_id"].as_str().unwrap().eq_ignore_ascii_case(&agent))
            .unwrap();
        assert_eq!(record["app_id"], p.app_id.to_string());
        assert_eq!(
            record["service_principal_id"],
            p.service_principal_id.to_string()
        );
        if p.profile == IdentityProfile::Orphaned {
            assert_eq!(record["orphaned"], true);
        }
    }
    assert_eq!(seen, 4, "every plant was checked");

    // Nothing changed and nothing is old: no identity is read again, no Graph request is sent.
    let before = emu.graph().requests_served();
    let (code, doc, summary) = scan(&env, dir.path(), &[]).await;
    assert_eq!(code, 0, "{summary:#}");
    assert_eq!(emu.graph().requests_served(), before, "{summary:#}");
    let detail = summary["layers"]["identity"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("0 read from Microsoft Graph, 6 kept"),
        "{detail}"
    );
    let over = planted
        .iter()
        .find(|p| p.profile == IdentityProfile::OverPrivileged)
        .unwrap();
    assert_eq!(
        check(
            &doc,
            over.agent.as_deref().unwrap(),
            "over-privileged-identity"
        )
        .0,
        "found",
        "kept identities still give their findings"
    );

    // `--identity none` turns the layer off: the checks are not evaluated, the scan complete.
    let (code, doc, summary) = scan(&env, dir.path(), &["--identity", "none"]).await;
    assert_eq!(code, 0, "{summary:#}");
    assert_eq!(summary["layers"]["identity"]["status"], "skipped");
    assert_eq!(
        check(
            &doc,
            over.agent.as_deref().unwrap(),
            "over-privileged-identity"
        )
        .0,
        "not_evaluated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_refused_is_a_coverage_gap_of_its_own_layer() {
    // The connector's app without Application.Read.All.
    let emu = Emulator::builder()
        .seed(62)
        .agents(4)
        .transcripts(2)
        .graph_roles(["AiEnterpriseInteraction.Read.All", "User.Read.All"])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (code, doc, summary) = scan(&env(&emu, dir.path()), dir.path(), &[]).await;
    assert_eq!(code, 4, "partial: {summary:#}");
    assert_eq!(summary["status"], "partial");
    let layer = &summary["layers"]["identity"];
    assert_eq!(layer["status"], "failed", "{summary:#}");
    let detail = layer["detail"].as_str().unwrap();
    assert!(detail.contains("Application.Read.All"), "{detail}");
    // The other layers are complete.
    assert_eq!(summary["layers"]["tenant_inventory"]["status"], "read");
    assert_eq!(summary["layers"]["dataverse"]["status"], "read");
    assert_eq!(summary["agents"], 4);
    assert_eq!(doc["fsi_copilotagent"].as_array().unwrap().len(), 4);
    // Not read is never clean.
    for p in doc["postures"].as_array().unwrap() {
        let agent = p["agent_id"].as_str().unwrap();
        assert_eq!(
            check(&doc, agent, "over-privileged-identity").0,
            "not_evaluated"
        );
        assert_eq!(check(&doc, agent, "identity-hygiene").0, "not_evaluated");
    }
}

fn scanner(emu: &RunningEmulator, clock: &SharedManualClock) -> Scanner {
    let env = env_for(emu, &std::env::temp_dir().join("unused.db"), &[]);
    let sign_in = SignIn::from_raw(&RawConfig::from_env(|k| env.get(k).cloned())).unwrap();
    let shared: client_core::SharedClock = Arc::new(clock.0.clone());
    let credential = connector::credential::from_sign_in(&sign_in, shared.clone()).unwrap();
    let mut o = ScanOptions::default();
    o.environments = Some(vec![emu.environment_url().parse().unwrap()]);
    o.inventory_source = InventorySourceChoice::PowerPlatform;
    let base: url::Url = emu.inventory_url().parse().unwrap();
    o.endpoints.power_platform = Some(base.clone());
    o.endpoints.bap = Some(base.clone());
    // The resource query refuses the app (as the real one does): the scan reads Resource Graph.
    o.endpoints.arm = Some(base);
    o.identity.choice = IdentityChoice::Graph;
    o.identity.graph_url = Some(emu.graph_url().parse().unwrap());
    o.identity.authority_host = Some(sign_in.authority_host.clone());
    Scanner::new(credential, shared, o)
}

fn previous_of(r: &ScanResult) -> PreviousScan {
    let mut p = PreviousScan::default();
    p.environments = r.environments.clone();
    p.rows = Some(r.inventory.rows.clone());
    p.identities = r.identities.clone();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_are_read_again_when_changed_or_older_than_the_max_age() {
    let clock = clock();
    let emu = Emulator::builder()
        .seed(63)
        .agents(5)
        .transcripts(2)
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let s = scanner(&emu, &clock);
    let first = s.scan(&PreviousScan::default(), None).await.unwrap();
    assert_eq!(
        first.summary.status,
        ScanStatus::Complete,
        "{:#?}",
        first.summary
    );
    assert_eq!(first.identities.len(), 5);
    let layer = |r: &ScanResult| r.summary.layers.identity.detail.clone().unwrap_or_default();
    assert!(layer(&first).contains("5 read"), "{}", layer(&first));

    // One agent's app id changed since: only that one is read again.
    let mut previous = previous_of(&first);
    previous.identities[2].app_id = Some("00000000-0000-0000-0000-000000000001".into());
    let second = s.scan(&previous, None).await.unwrap();
    assert!(
        layer(&second).contains("1 read from Microsoft Graph, 4 kept"),
        "{}",
        layer(&second)
    );
    assert_eq!(
        second.identities, first.identities,
        "re-read to the same values"
    );

    // A day later every identity is read again.
    clock.0.advance(Duration::from_secs(24 * 3600 + 1));
    let third = s.scan(&previous_of(&second), None).await.unwrap();
    assert!(
        layer(&third).contains("5 read from Microsoft Graph, 0 kept"),
        "{}",
        layer(&third)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_identity_reads_equal_the_one_by_one_reads() {
    let clock = clock();
    let emu = Emulator::builder()
        .seed(64)
        .agents(25)
        .transcripts(1)
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let env = env_for(&emu, &std::env::temp_dir().join("unused.db"), &[]);
    let sign_in = SignIn::from_raw(&RawConfig::from_env(|k| env.get(k).cloned())).unwrap();
    let shared: client_core::SharedClock = Arc::new(clock.0.clone());
    let credential = connector::credential::from_sign_in(&sign_in, shared.clone()).unwrap();
    let graph = graph_client::GraphClient::builder(credential)
        .base_url(emu.graph_url())
        .clock(shared)
        .build()
        .unwrap();
    let planted = emu.graph().directory().identities();
    assert!(
        planted.len() > 20,
        "more than one batch of service principals"
    );
    let mut keys: Vec<graph_client::IdentityKey> = planted
        .iter()
        .map(|p| graph_client::IdentityKey::AppId(p.app_id.to_string()))
        .collect();
    // One by its service principal id, one that does not exist, one malformed.
    keys.push(graph_client::IdentityKey::ServicePrincipal(
        planted[0].service_principal_id.to_string(),
    ));
    keys.push(graph_client::IdentityKey::AppId(
        "0000aaaa-0000-0000-0000-000000000000".into(),
    ));
    keys.push(graph_client::IdentityKey::AppId("not an id".into()));
    let now = client_core::Clock::now(&clock.0);
    let before = emu.graph().requests_served();
    let batched = graph.identity_postures(&keys, now, 3).await.unwrap();
    let requests = emu.graph().requests_served() - before;
    assert_eq!(batched.len(), keys.len());
    for (p, b) in planted.iter().zip(&batched) {
        let one = graph
            .identity_posture(&p.app_id.to_string(), now)
            .await
            .unwrap();
        assert_eq!(b.as_ref().unwrap(), &one, "{:?}", p.profile);
        assert!(one.is_some());
    }
    let by_sp = batched[planted.len()].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(by_sp.app_id, planted[0].app_id.to_string());
    assert!(matches!(batched[planted.len() + 1], Ok(None)));
    assert!(batched[planted.len() + 2].is_err());
    // Three rounds of batches of 20: far fewer requests than identities.
    assert!(
        requests <= 12,
        "{requests} requests for {} identities",
        keys.len()
    );
}

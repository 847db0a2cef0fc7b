//! End-to-end: `inventory scan` of a whole emulated tenant (several environments, the tenant
//! inventory APIs, planted discrepancies) through the admin list and the resource query.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use connector::inventory::scan::{PreviousScan, ScanResult, ScanStatus, Scanner};
use connector::inventory::tenant::InventorySourceChoice;
use inventory_model::{CoverageKind, DataverseOnlyReason, InventoryOnlyReason, NotScannedReason};
use support::*;
use tenant_emulator::environments::Discrepancy;
use tenant_emulator::faults::FaultConfig;
use tenant_emulator::{Emulator, RunningEmulator};

async fn tenant(clock: &SharedManualClock) -> RunningEmulator {
    Emulator::builder()
        .seed(31)
        .agents(4)
        .transcripts(12)
        .environments(5)
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap()
}

fn scanner(
    emu: &RunningEmulator,
    clock: &SharedManualClock,
    source: InventorySourceChoice,
) -> Scanner {
    let (credential, shared) = sign_in(emu, clock);
    Scanner::new(credential, shared, emulator_scan_options(emu, source))
}

fn has_gap(r: &ScanResult, kind: &CoverageKind, env: &str, agent: Option<&str>) -> bool {
    r.inventory.coverage.iter().any(|c| {
        &c.kind == kind
            && c.environment_id.as_deref().map(str::to_ascii_lowercase)
                == Some(env.to_ascii_lowercase())
            && agent.is_none_or(|a| {
                c.agent_id.as_deref().map(str::to_ascii_lowercase) == Some(a.to_ascii_lowercase())
            })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_environment_agent_and_planted_gap_is_found() {
    let clock = clock();
    let emu = tenant(&clock).await;
    let s = scanner(&emu, &clock, InventorySourceChoice::PowerPlatform);
    let r = s.scan(&PreviousScan::default(), None).await.unwrap();
    let sum = &r.summary;
    // One environment answers 403: partial, not failed.
    assert_eq!(sum.status, ScanStatus::Partial, "{sum:#?}");
    assert_eq!(sum.layers.environment_list.status, "read");
    assert_eq!(sum.layers.tenant_inventory.status, "read");
    assert_eq!(sum.environments.len(), emu.environments().len());

    // Every agent of every readable environment, with its components.
    let agents: BTreeSet<(String, String)> = r
        .inventory
        .rows
        .agents
        .iter()
        .map(|a| {
            (
                a.agent_id.to_ascii_lowercase(),
                a.environment_id.to_ascii_lowercase(),
            )
        })
        .collect();
    for env in emu.environments() {
        let report = sum
            .environments
            .iter()
            .find(|e| e.environment_id.eq_ignore_ascii_case(&env.id))
            .unwrap();
        if env.disabled {
            // Listed disabled: unavailable with the admin list's reason, not one request sent
            // (its URL answers 503, so trying it would read as a failure instead).
            assert_eq!(report.outcome, "unavailable", "{report:#?}");
            assert_eq!(report.requests, 0, "{report:#?}");
            let detail = report.detail.as_deref().unwrap_or_default();
            assert!(
                detail.contains("disabled") && detail.contains("states.runtime.id"),
                "{report:#?}"
            );
            continue;
        }
        match (&env.dataverse, env.forbidden) {
            (None, _) => assert_eq!(report.outcome, "no_dataverse"),
            (Some(_), true) => assert_eq!(report.outcome, "forbidden", "{report:#?}"),
            (Some(dv), false) => {
                assert_eq!(report.outcome, "scanned", "{report:#?}");
                assert_eq!(report.bots, env.bot_ids.len());
                assert_eq!(report.components, dv.count("botcomponents"));
                for b in &env.bot_ids {
                    assert!(
                        agents.contains(&(b.to_string(), env.id.to_ascii_lowercase())),
                        "agent {b} of {} missing",
                        env.id
                    );
                }
            }
        }
    }

    // Each planted discrepancy is a coverage gap (or, for Agent Builder agents, an agent known
    // only from the inventory).
    for d in emu.discrepancies() {
        match d {
            Discrepancy::AgentOnlyInInventory {
                environment_id,
                bot_id,
            } => {
                assert!(
                    r.inventory.coverage.iter().any(|c| matches!(
                        c.kind,
                        CoverageKind::InventoryOnly(_)
                    ) && c
                        .agent_id
                        .as_deref()
                        .map(str::to_ascii_lowercase)
                        == Some(bot_id.to_string())),
                    "{d:?} not reported: {:#?}",
                    r.inventory.coverage
                );
                let _ = environment_id;
            }
            Discrepancy::AgentBuilderOnlyInInventory {
                environment_id,
                bot_id,
            } => {
                assert!(
                    agents.contains(&(bot_id.to_string(), environment_id.to_ascii_lowercase())),
                    "{d:?}"
                );
            }
            Discrepancy::ClassicBotOnlyInDataverse {
                environment_id,
                bot_id,
            } => {
                assert!(
                    has_gap(
                        &r,
                        &CoverageKind::DataverseOnly(DataverseOnlyReason::ClassicBot),
                        environment_id,
                        Some(&bot_id.to_string())
                    ) || r.inventory.coverage.iter().any(|c| matches!(
                        c.kind,
                        CoverageKind::DataverseOnly(_)
                    ) && c
                        .agent_id
                        .as_deref()
                        .map(str::to_ascii_lowercase)
                        == Some(bot_id.to_string())),
                    "{d:?} not reported: {:#?}",
                    r.inventory.coverage
                );
            }
            Discrepancy::EnvironmentWithoutDataverse { environment_id } => {
                assert!(
                    has_gap(
                        &r,
                        &CoverageKind::EnvironmentNotScanned(NotScannedReason::NoDataverse),
                        environment_id,
                        None
                    ),
                    "{d:?}"
                );
            }
            Discrepancy::DataverseForbidden { environment_id } => {
                assert!(
                    has_gap(
                        &r,
                        &CoverageKind::EnvironmentNotScanned(NotScannedReason::Forbidden),
                        environment_id,
                        None
                    ),
                    "{d:?}"
                );
                // Agents the inventory lists there are kept, marked as not observed in Dataverse.
                let forbidden = emu
                    .environments()
                    .iter()
                    .find(|e| &e.id == environment_id)
                    .unwrap();
                for b in &forbidden.bot_ids {
                    assert!(
                        has_gap(
                            &r,
                            &CoverageKind::InventoryOnly(
                                InventoryOnlyReason::EnvironmentUnreadable
                            ),
                            environment_id,
                            Some(&b.to_string())
                        ),
                        "agent {b} of the unreadable environment is not reported: {:#?}",
                        r.inventory.coverage
                    );
                }
            }
            Discrepancy::DisabledEnvironment { environment_id } => {
                // A coverage gap of its own: listed, not read, and why.
                assert!(
                    r.inventory.coverage.iter().any(|c| c.kind
                        == CoverageKind::EnvironmentNotScanned(NotScannedReason::Unavailable)
                        && c.environment_id.as_deref().map(str::to_ascii_lowercase)
                            == Some(environment_id.to_ascii_lowercase())
                        && c.detail.contains("disabled")),
                    "{d:?} not reported: {:#?}",
                    r.inventory.coverage
                );
            }
            Discrepancy::DeveloperEnvironment { environment_id } => {
                // A developer environment is scanned like any other (no gap), and listed.
                let report = sum
                    .environments
                    .iter()
                    .find(|e| e.environment_id.eq_ignore_ascii_case(environment_id))
                    .unwrap();
                assert_eq!(report.outcome, "scanned", "{d:?}: {report:#?}");
                assert!(
                    r.inventory
                        .rows
                        .environments
                        .iter()
                        .any(|e| e.environment_id.eq_ignore_ascii_case(environment_id)),
                    "{d:?} has no environment row"
                );
            }
            // A kind of plant this test does not check yet must not pass unchecked.
            other => panic!("planted {other:?} is not checked"),
        }
    }
    // Posture findings come with evidence.
    assert!(sum.findings > 0);
    let found = r
        .inventory
        .postures
        .iter()
        .flat_map(|p| &p.results)
        .filter(|c| c.is_found())
        .count();
    assert_eq!(found, sum.findings);

    // A rescan with nothing changed: at most two requests per readable environment, and
    // nothing to write.
    let mut prev = PreviousScan::default();
    prev.environments = r.environments.clone();
    prev.rows = Some(r.inventory.rows.clone());
    let again = s.scan(&prev, None).await.unwrap();
    for e in &again.summary.environments {
        if e.outcome == "scanned" {
            assert!(e.requests <= 2, "{e:#?}");
        }
    }
    assert!(again.diff.is_empty(), "{:#?}", again.summary.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_429s_still_complete_with_the_same_rows() {
    let clock = clock();
    let emu = tenant(&clock).await;
    let s = scanner(&emu, &clock, InventorySourceChoice::ResourceGraph);
    let clean = s.scan(&PreviousScan::default(), None).await.unwrap();
    emu.set_faults(
        FaultConfig::none()
            .with_throttle_rate(0.10)
            .with_retry_after(1),
    )
    .unwrap();
    let throttled = s.scan(&PreviousScan::default(), None).await.unwrap();
    assert_eq!(
        throttled.summary.status, clean.summary.status,
        "{:#?}",
        throttled.summary
    );
    for (a, b) in clean
        .summary
        .environments
        .iter()
        .zip(&throttled.summary.environments)
    {
        assert_eq!(a.outcome, b.outcome, "{b:#?}");
        assert_eq!((a.bots, a.components), (b.bots, b.components));
    }
    // No request failed for good: the same rows (by key) in every table, and no coverage gap
    // the clean scan did not have.
    fn keys<R: inventory_model::InventoryRow>(rows: &[R]) -> Vec<String> {
        let mut k: Vec<String> = rows
            .iter()
            .map(|r| format!("{:?}", r.key_values()))
            .collect();
        k.sort();
        k
    }
    let (t, c) = (&throttled.inventory.rows, &clean.inventory.rows);
    assert!(!c.agents.is_empty() && !c.features.is_empty());
    assert_eq!(keys(&t.agents), keys(&c.agents));
    assert_eq!(keys(&t.environments), keys(&c.environments));
    assert_eq!(keys(&t.features), keys(&c.features));
    assert_eq!(keys(&t.auth_shares), keys(&c.auth_shares));
    assert_eq!(keys(&t.usage), keys(&c.usage));
    assert_eq!(keys(&t.compliance), keys(&c.compliance));
    let gaps = |r: &ScanResult| -> Vec<String> {
        let mut g: Vec<String> = r
            .inventory
            .coverage
            .iter()
            .map(|c| format!("{:?} {:?} {:?}", c.kind, c.environment_id, c.agent_id))
            .collect();
        g.sort();
        g
    };
    assert_eq!(gaps(&throttled), gaps(&clean));
    let retried: u64 = throttled.summary.dataverse_requests;
    assert!(
        retried > clean.summary.dataverse_requests,
        "no 429 was injected"
    );
}

/// A credential that holds every token of the tenant inventory (the resource query, Resource
/// Graph) until a token for an environment's Dataverse has been asked for: the scan asks for
/// one before each request, so the inventory's first page is only sent once layer 2 has begun
/// sending. A scan that read the inventory before layer 2 would never get there; rather than
/// hang, the held request gives up after a long bound and the inventory layer fails.
#[derive(Debug)]
struct InventoryAfterLayer2 {
    inner: client_core::SharedCredential,
    environments: Vec<String>,
    layer2: tokio::sync::watch::Sender<bool>,
}

#[async_trait::async_trait]
impl client_core::TokenCredential for InventoryAfterLayer2 {
    async fn get_token(
        &self,
        scopes: &[&str],
    ) -> Result<client_core::AccessToken, client_core::CredentialError> {
        let cloud = arg_client::Cloud::Public;
        let inventory = [cloud.power_platform_api_scope(), cloud.arm_scope()];
        if scopes.iter().any(|s| inventory.iter().any(|i| i == s)) {
            let mut seen = self.layer2.subscribe();
            let waited = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                seen.wait_for(|seen| *seen),
            )
            .await;
            if !matches!(waited, Ok(Ok(_))) {
                return Err(client_core::CredentialError::new(
                    client_core::CredentialErrorKind::Rejected,
                    "no Dataverse request was sent while the tenant inventory was being read",
                ));
            }
        } else if scopes
            .iter()
            .any(|s| self.environments.iter().any(|e| s.starts_with(e.as_str())))
        {
            self.layer2.send_replace(true);
        }
        self.inner.get_token(scopes).await
    }

    async fn invalidate(&self, scopes: &[&str], token: &client_core::AccessToken) {
        self.inner.invalidate(scopes, token).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_inventory_is_read_while_layer_2_runs() {
    let clock = clock();
    let emu = tenant(&clock).await;
    for source in [
        InventorySourceChoice::PowerPlatform,
        InventorySourceChoice::ResourceGraph,
    ] {
        let (inner, shared) = sign_in(&emu, &clock);
        let gated = InventoryAfterLayer2 {
            inner,
            environments: emu
                .environments()
                .iter()
                .filter_map(|e| e.url.clone())
                .collect(),
            layer2: tokio::sync::watch::Sender::new(false),
        };
        let o = emulator_scan_options(&emu, source);
        let s = Scanner::new(Arc::new(gated), shared, o);
        let r = s.scan(&PreviousScan::default(), None).await.unwrap();
        let sum = &r.summary;
        // The held inventory was read in full, and is reported as an unheld one is.
        let plain = scanner(&emu, &clock, source)
            .scan(&PreviousScan::default(), None)
            .await
            .unwrap()
            .summary;
        assert_eq!(sum.layers.tenant_inventory.status, "read", "{sum:#?}");
        let (held, free) = (&sum.layers.tenant_inventory, &plain.layers.tenant_inventory);
        assert!(held.count > 0, "{sum:#?}");
        assert_eq!(
            (held.count, held.source, held.detail.is_some()),
            (free.count, free.source, free.detail.is_some())
        );
        assert_eq!(sum.layers.environment_list, plain.layers.environment_list);
        assert_eq!(sum.layers.dataverse, plain.layers.dataverse);
        assert_eq!(sum.notes.len(), plain.notes.len(), "{sum:#?}");
        assert_eq!(r.inventory.rows.agents.len(), plain.agents);
    }
}

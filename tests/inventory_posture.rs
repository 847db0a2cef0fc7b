//! End-to-end: the first scan of an emulated tenant finds every planted posture problem and
//! every many-to-many target; changing one component changes only that agent's rows.

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

use connector::inventory::scan::{PreviousScan, ScanOptions, ScanResult, ScanStatus, Scanner};
use connector::inventory::tenant::InventorySourceChoice;
use inventory_model::InventoryRow;
use serde_json::Value;
use support::*;
use tenant_emulator::RunningEmulator;

async fn emulator(seed: u64, agents: usize) -> RunningEmulator {
    seeded(seed, agents, 20).await
}

fn scanner(emu: &RunningEmulator, clock: &SharedManualClock) -> Scanner {
    let (credential, shared) = sign_in(emu, clock);
    let mut o = ScanOptions::default();
    o.environments = Some(vec![emu.environment_url().parse().unwrap()]);
    o.inventory_source = InventorySourceChoice::None;
    Scanner::new(credential, shared, o)
}

/// Every table's rows as JSON without the run id and the delta link (new on every read).
fn without_bookkeeping(rows: &inventory_model::InventoryRows) -> serde_json::Value {
    let mut tables = connector::inventory::output::tables_json(rows);
    for rows in tables.values_mut() {
        for row in rows.as_array_mut().unwrap() {
            row.as_object_mut().unwrap().remove("fsi_runid");
            row.as_object_mut().unwrap().remove("fsi_deltalink");
        }
    }
    serde_json::Value::Object(tables)
}

fn previous_of(r: &ScanResult) -> PreviousScan {
    PreviousScan::from_result(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planted_finding_and_many_to_many_target_is_found() {
    // Five agents carry seven plants (two agents carry two); nine agents carry one each.
    for (seed, agents) in [(31, 5), (32, 9)] {
        let emu = emulator(seed, agents).await;
        let clock = clock();
        let result = scanner(&emu, &clock)
            .scan(&PreviousScan::default(), None)
            .await
            .unwrap();
        assert_eq!(
            result.summary.status,
            ScanStatus::Complete,
            "{:#?}",
            result.summary
        );

        let planted = emu.tenant().planted_findings();
        assert_eq!(planted.len(), 7);
        for p in &planted {
            let bot = p.bot_id.to_string();
            let posture = result
                .inventory
                .postures
                .iter()
                .find(|a| a.agent_id.eq_ignore_ascii_case(&bot))
                .unwrap_or_else(|| panic!("no posture for {bot}"));
            for check in p.checks {
                let r = posture
                    .results
                    .iter()
                    .find(|r| <&str>::from(r.check) == *check)
                    .unwrap();
                assert!(
                    r.is_found(),
                    "{:?} on {}: {check} not found: {r:#?}",
                    p.plant,
                    p.bot_name
                );
            }
            // A planted component is also a feature row of its agent.
            if let Some(schema) = &p.component_schema {
                let ids: Vec<String> = emu
                    .tenant()
                    .component_rows()
                    .into_iter()
                    .filter(|c| c["schemaname"] == Value::String(schema.clone()))
                    .map(|c| c["botcomponentid"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(ids.len(), 1, "{schema}");
                assert!(
                    result
                        .inventory
                        .rows
                        .features
                        .iter()
                        .any(|f| f.source_object_id.eq_ignore_ascii_case(&ids[0])),
                    "{schema} has no feature row"
                );
            }
        }

        // Every intersect row of the six relationships, and nothing else, is read.
        let expected: BTreeSet<(String, String, String)> = emu
            .tenant()
            .related_rows()
            .into_iter()
            .flat_map(|(set, rows)| {
                let rel = set.trim_end_matches("set").to_owned();
                rows.into_iter().map(move |row| {
                    let mut ids = row
                        .iter()
                        .filter(|(k, _)| {
                            k.as_str() != "botcomponentid" && !k.starts_with("botcomponent_")
                        })
                        .map(|(_, v)| v.as_str().unwrap().to_ascii_lowercase());
                    (
                        row["botcomponentid"].as_str().unwrap().to_ascii_lowercase(),
                        rel.clone(),
                        ids.next().unwrap(),
                    )
                })
            })
            .collect();
        let relationships: BTreeSet<&str> = expected.iter().map(|(_, r, _)| r.as_str()).collect();
        assert_eq!(relationships.len(), 6, "{relationships:?}");
        let env = result.environments.values().next().unwrap();
        assert_eq!(env.related_error, None);
        let read: BTreeSet<(String, String, String)> = env
            .related
            .iter()
            .flat_map(|(c, targets)| {
                targets
                    .iter()
                    .map(move |(rel, t)| (c.clone(), rel.clone(), t.to_ascii_lowercase()))
            })
            .collect();
        assert_eq!(read, expected);
        // The feature rows are exactly: each agent's configuration, each of its components,
        // and each many-to-many target of its components, as rows of that agent.
        let components = emu.tenant().component_rows();
        let parent_of: std::collections::BTreeMap<String, String> = components
            .iter()
            .map(|c| {
                (
                    c["botcomponentid"].as_str().unwrap().to_ascii_lowercase(),
                    c["_parentbotid_value"]
                        .as_str()
                        .unwrap()
                        .to_ascii_lowercase(),
                )
            })
            .collect();
        let mut want: BTreeSet<(String, String)> = emu
            .tenant()
            .bot_rows()
            .iter()
            .map(|b| b["botid"].as_str().unwrap().to_ascii_lowercase())
            .map(|b| (b.clone(), b))
            .collect();
        want.extend(parent_of.iter().map(|(c, bot)| (bot.clone(), c.clone())));
        want.extend(
            expected
                .iter()
                .map(|(c, _, target)| (parent_of[c].clone(), target.clone())),
        );
        let got: BTreeSet<(String, String)> = result
            .inventory
            .rows
            .features
            .iter()
            .map(|f| {
                (
                    f.agent_id.to_ascii_lowercase(),
                    f.source_object_id.to_ascii_lowercase(),
                )
            })
            .collect();
        assert_eq!(
            got.len(),
            result.inventory.rows.features.len(),
            "a feature is listed twice"
        );
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "features missing: {missing:?}; not expected: {extra:?}"
        );
    }
}

/// The agent (`fsi_agentid`) a row belongs to, lower case.
fn agent_of<R: InventoryRow>(row: &R) -> String {
    row.to_json(inventory_model::Encoding::Dataverse)
        .get("fsi_agentid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_component_changes_only_that_agents_rows() {
    let emu = emulator(33, 6).await;
    let clock = clock();
    let s = scanner(&emu, &clock);
    let first = s.scan(&PreviousScan::default(), None).await.unwrap();

    // Rename one custom topic of one agent and give it new text, an hour later: what a scan
    // stamps with its own time must not make other agents' rows look changed.
    let agent = change_one_topic(&emu);
    clock.0.advance(std::time::Duration::from_secs(3600));

    let second = s.scan(&previous_of(&first), None).await.unwrap();
    let env = &second.summary.environments[0];
    assert_eq!(env.changed_rows, 1, "{env:#?}");
    assert_eq!(
        second.summary.agents_rebuilt, 1,
        "only the changed agent is parsed"
    );
    // Reusing the unchanged agents' results gives the rows parsing everything again gives.
    let mut without_reuse = previous_of(&first);
    without_reuse.checks.clear();
    let rebuilt = s.scan(&without_reuse, None).await.unwrap();
    assert_eq!(rebuilt.summary.agents_rebuilt, first.summary.agents);
    assert_eq!(
        without_bookkeeping(&second.inventory.rows),
        without_bookkeeping(&rebuilt.inventory.rows)
    );
    assert_eq!(second.inventory.postures, rebuilt.inventory.postures);
    let up = &second.diff.upserts;
    assert!(
        !up.features.is_empty(),
        "the changed component's row is written"
    );
    let mut touched: BTreeSet<String> = BTreeSet::new();
    touched.extend(up.agents.iter().map(|r| r.agent_id.to_ascii_lowercase()));
    touched.extend(up.features.iter().map(|r| r.agent_id.to_ascii_lowercase()));
    touched.extend(up.auth_shares.iter().map(agent_of));
    touched.extend(up.usage.iter().map(agent_of));
    touched.extend(up.compliance.iter().map(agent_of));
    touched.extend(up.billing.iter().map(agent_of));
    touched.extend(up.work_iq.iter().map(agent_of));
    assert_eq!(
        touched,
        BTreeSet::from([agent.clone()]),
        "{:#?}",
        second.summary.changes
    );
    // The environment row changes only in the state it carries: the new delta link.
    for env_row in &up.environments {
        let strip = |r: &inventory_model::EnvironmentRow| {
            let mut j = r.to_json(inventory_model::Encoding::Dataverse);
            j.remove("fsi_deltalink");
            for c in inventory_model::diff::BOOKKEEPING_COLUMNS {
                j.remove(c);
            }
            j
        };
        let before = first
            .inventory
            .rows
            .environments
            .iter()
            .find(|e| e.environment_id == env_row.environment_id)
            .unwrap();
        assert_eq!(strip(env_row), strip(before));
        assert_ne!(env_row.delta_link, before.delta_link);
    }
    assert!(second.diff.gone_agents.is_empty());
}

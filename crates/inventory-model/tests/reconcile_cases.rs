//! One test per reconciliation case: every gap between the tenant inventory, the
//! per-environment scans and the environment list gets a coverage record and is
//! written into the rows (discovery source, scan completeness and its reason).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use inventory_model::{
    AgentType, CoverageKind, CreatedIn, DataverseOnlyReason, DiscoverySource, EnvironmentScan,
    Inventory, InventoryOnlyReason, InventorySettings, InventorySource, NotScannedReason,
    ScanCompleteness, ScanInput, ScanOutcome, build_inventory,
};

fn run(input: &ScanInput) -> Inventory {
    build_inventory(input, &InventorySettings::default())
}

fn kinds(inv: &Inventory) -> Vec<(CoverageKind, Option<String>, Option<String>)> {
    inv.coverage
        .iter()
        .map(|c| (c.kind.clone(), c.environment_id.clone(), c.agent_id.clone()))
        .collect()
}

fn completeness(inv: &Inventory, agent: &str) -> (ScanCompleteness, String) {
    let c = inv
        .rows
        .compliance
        .iter()
        .find(|c| c.agent_id == agent)
        .unwrap();
    (
        c.scan_completeness.unwrap(),
        c.scan_completeness_reason.clone().unwrap(),
    )
}

fn source(inv: &Inventory, agent: &str) -> DiscoverySource {
    inv.rows
        .agents
        .iter()
        .find(|a| a.agent_id == agent)
        .unwrap()
        .discovery_source
        .unwrap()
}

#[test]
fn seen_by_both_is_reconciled_without_gaps() {
    let input = one_environment(vec![scanned_bot(bot("b1", "One"), vec![])]);
    let inv = run(&input);
    assert_eq!(source(&inv, "b1"), DiscoverySource::Reconciled);
    assert!(inv.coverage.is_empty(), "{:?}", inv.coverage);
    assert_eq!(
        completeness(&inv, "b1"),
        (ScanCompleteness::Complete, String::new())
    );
}

#[test]
fn inventory_only_because_the_environment_is_forbidden() {
    let mut input = one_environment(vec![]);
    input.tenant_agents = Some(vec![inventory_agent("b1", "env-1", "One")]);
    input.environment_scans = vec![EnvironmentScan::new(
        "env-1",
        ScanOutcome::Forbidden {
            detail: "403 Forbidden".into(),
        },
    )];
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::Forbidden),
                Some("env-1".into()),
                None
            ),
            (
                CoverageKind::InventoryOnly(InventoryOnlyReason::EnvironmentUnreadable),
                Some("env-1".into()),
                Some("b1".into())
            ),
        ]
    );
    assert_eq!(source(&inv, "b1"), DiscoverySource::ResourceGraph);
    let (level, reason) = completeness(&inv, "b1");
    assert_eq!(level, ScanCompleteness::Incomplete);
    assert!(reason.contains("403"), "{reason}");
    assert!(inv.rows.features.is_empty());
}

#[test]
fn inventory_only_because_the_environment_scan_failed_is_failed() {
    let mut input = one_environment(vec![]);
    input.tenant_agents = Some(vec![inventory_agent("b1", "env-1", "One")]);
    input.environment_scans = vec![EnvironmentScan::new(
        "env-1",
        ScanOutcome::Failed {
            detail: "throttled beyond the retry budget".into(),
        },
    )];
    let inv = run(&input);
    let (level, reason) = completeness(&inv, "b1");
    assert_eq!(level, ScanCompleteness::Failed);
    assert!(reason.contains("throttled"), "{reason}");
    assert!(kinds(&inv).contains(&(
        CoverageKind::EnvironmentNotScanned(NotScannedReason::Failed),
        Some("env-1".into()),
        None
    )));
}

#[test]
fn inventory_only_because_created_after_the_read_is_not_yet_synced() {
    let mut input = one_environment(vec![]);
    let mut agent = inventory_agent("b-new", "env-1", "New");
    agent.created_at = Some(t("2026-06-09T13:55:00Z")); // the bots were read at 13:50
    input.tenant_agents = Some(vec![agent]);
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [(
            CoverageKind::InventoryOnly(InventoryOnlyReason::NotYetSynced),
            Some("env-1".into()),
            Some("b-new".into())
        )]
    );
    assert_eq!(completeness(&inv, "b-new").0, ScanCompleteness::Incomplete);
}

#[test]
fn inventory_only_in_a_read_environment_is_deleted() {
    let mut input = one_environment(vec![]);
    input.tenant_agents = Some(vec![
        inventory_agent("b-old", "env-1", "Old"),
        inventory_agent("b-gone", "env-1", "Gone"),
    ]);
    if let ScanOutcome::Scanned(s) = &mut input.environment_scans[0].outcome {
        s.deleted_bot_ids = vec!["B-GONE".into()];
    }
    let inv = run(&input);
    let records: Vec<_> = inv
        .coverage
        .iter()
        .map(|c| {
            (
                c.kind.clone(),
                c.agent_id.clone().unwrap(),
                c.detail.clone(),
            )
        })
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].0,
        CoverageKind::InventoryOnly(InventoryOnlyReason::Deleted)
    );
    assert!(records[0].2.contains("change tracking"), "{}", records[0].2);
    assert_eq!(
        records[1].0,
        CoverageKind::InventoryOnly(InventoryOnlyReason::Deleted)
    );
    assert!(records[1].2.contains("lags"), "{}", records[1].2);
}

#[test]
fn dataverse_only_classic_bot() {
    let mut input = one_environment(vec![scanned_bot(
        bot("b-classic", "Classic"),
        vec![
            component("c1", 0, "Greeting", None),
            component("c2", 2, "Var", None),
        ],
    )]);
    input.tenant_agents = Some(vec![]);
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [(
            CoverageKind::DataverseOnly(DataverseOnlyReason::ClassicBot),
            Some("env-1".into()),
            Some("b-classic".into())
        )]
    );
    assert_eq!(source(&inv, "b-classic"), DiscoverySource::DataverseScan);
    let agent = &inv.rows.agents[0];
    assert_eq!(agent.agent_type, Some(AgentType::ClassicV1));
    assert_eq!(agent.created_in, Some(CreatedIn::Unknown));
}

#[test]
fn dataverse_only_recent_bot_is_inventory_lag() {
    let mut b = bot("b-recent", "Recent");
    b.created_on = Some(t("2026-06-09T13:49:00Z"));
    let mut input = one_environment(vec![scanned_bot(b, vec![])]);
    input.tenant_agents = Some(vec![]);
    input.inventory_read_at = Some(t("2026-06-09T13:58:00Z"));
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [(
            CoverageKind::DataverseOnly(DataverseOnlyReason::InventoryLag),
            Some("env-1".into()),
            Some("b-recent".into())
        )]
    );
}

#[test]
fn dataverse_only_old_bot_is_unexplained_and_never_silent() {
    let mut input = one_environment(vec![scanned_bot(
        bot("b-x", "X"),
        vec![component("c9", 9, "T", None)],
    )]);
    input.tenant_agents = Some(vec![]);
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [(
            CoverageKind::DataverseOnly(DataverseOnlyReason::Unexplained),
            Some("env-1".into()),
            Some("b-x".into())
        )]
    );
    assert_eq!(completeness(&inv, "b-x").0, ScanCompleteness::Incomplete);
}

#[test]
fn no_inventory_at_all() {
    let mut input = one_environment(vec![scanned_bot(bot("b1", "One"), vec![])]);
    input.tenant_agents = None;
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [
            (CoverageKind::InventoryUnavailable, None, None),
            (
                CoverageKind::DataverseOnly(DataverseOnlyReason::InventoryNotRead),
                Some("env-1".into()),
                Some("b1".into())
            ),
        ]
    );
    assert!(!inv.inventory_read);
}

#[test]
fn listed_environments_not_scanned_say_why() {
    let mut input = one_environment(vec![]);
    let mut dev = environment("env-dev", "Dev");
    dev.sku = Some("Developer".into());
    let mut teams = environment("env-teams", "Teams");
    teams.instance_api_url = None;
    let mut input_envs = input.environments.take().unwrap();
    input_envs.extend([
        dev,
        teams,
        environment("env-403", "Locked"),
        environment("env-skip", "Skipped"),
        environment("env-off", "Disabled"),
        environment("env-none", "Never"),
    ]);
    input.environments = Some(input_envs);
    input.environment_scans.push(EnvironmentScan::new(
        "env-403",
        ScanOutcome::Forbidden {
            detail: "no application user".into(),
        },
    ));
    input.environment_scans.push(EnvironmentScan::new(
        "env-skip",
        ScanOutcome::Skipped {
            reason: "excluded by settings".into(),
        },
    ));
    input.environment_scans.push(EnvironmentScan::new(
        "env-off",
        ScanOutcome::Unavailable {
            reason: "disabled (states.runtime.id Disabled)".into(),
        },
    ));
    input
        .environment_scans
        .push(EnvironmentScan::new("env-nodv", ScanOutcome::NoDataverse));
    let inv = run(&input);
    let got: Vec<_> = kinds(&inv)
        .into_iter()
        .map(|(k, e, _)| (k, e.unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::Forbidden),
                "env-403".into()
            ),
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::Developer),
                "env-dev".into()
            ),
            (CoverageKind::EnvironmentNotListed, "env-nodv".into()),
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::NoDataverse),
                "env-nodv".into()
            ),
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::NotAttempted),
                "env-none".into()
            ),
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::Unavailable),
                "env-off".into()
            ),
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::Skipped),
                "env-skip".into()
            ),
            (
                CoverageKind::EnvironmentNotScanned(NotScannedReason::NoDataverse),
                "env-teams".into()
            ),
        ]
    );
    // Every environment has a row, whether scanned or not.
    assert_eq!(inv.rows.environments.len(), 8);
    assert_eq!(inv.scanned_environments, ["env-1"]);
}

#[test]
fn environment_list_unavailable() {
    let mut input = one_environment(vec![scanned_bot(bot("b1", "One"), vec![])]);
    input.environments = None;
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [(CoverageKind::EnvironmentListUnavailable, None, None)]
    );
    assert_eq!(inv.rows.environments.len(), 1);
    assert_eq!(
        inv.rows.environments[0].environment_name.as_deref(),
        Some("env-1")
    );
}

#[test]
fn id_space_split_matches_through_bot_id_and_warns() {
    let mut input = one_environment(vec![scanned_bot(bot("dv-guid", "One"), vec![])]);
    let mut agent = inventory_agent("arg-name", "env-1", "One");
    agent.bot_id = Some("DV-GUID".into());
    input.tenant_agents = Some(vec![agent]);
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [(
            CoverageKind::IdSpaceSplit,
            Some("env-1".into()),
            Some("arg-name".into())
        )]
    );
    assert_eq!(inv.rows.agents.len(), 1);
    assert_eq!(inv.rows.agents[0].agent_id, "dv-guid");
    assert_eq!(
        inv.rows.agents[0].discovery_source,
        Some(DiscoverySource::Reconciled)
    );
}

#[test]
fn ids_match_without_regard_to_case() {
    let mut input = one_environment(vec![scanned_bot(bot("ABC-1", "One"), vec![])]);
    input.tenant_agents = Some(vec![inventory_agent("abc-1", "ENV-1", "One")]);
    let inv = run(&input);
    assert!(inv.coverage.is_empty(), "{:?}", inv.coverage);
    assert_eq!(inv.rows.agents.len(), 1);
}

#[test]
fn the_admin_center_inventory_is_its_own_discovery_source() {
    let mut input = one_environment(vec![]);
    let mut agent = inventory_agent("b1", "env-2", "One");
    agent.source = InventorySource::PowerPlatformAdmin;
    input.tenant_agents = Some(vec![agent]);
    let inv = run(&input);
    assert_eq!(source(&inv, "b1"), DiscoverySource::AdminCenter);
    // env-2 is known only from the inventory: not listed and not scanned.
    let got: Vec<_> = kinds(&inv).into_iter().map(|(k, e, _)| (k, e)).collect();
    assert!(got.contains(&(CoverageKind::EnvironmentNotListed, Some("env-2".into()))));
    assert!(got.contains(&(
        CoverageKind::EnvironmentNotScanned(NotScannedReason::NotAttempted),
        Some("env-2".into())
    )));
}

#[test]
fn the_same_agent_in_two_environments_is_flagged() {
    let mut input = one_environment(vec![scanned_bot(bot("b1", "One"), vec![])]);
    let mut envs = input.environments.take().unwrap();
    envs.push(environment("env-2", "Two"));
    input.environments = Some(envs);
    input.environment_scans.push(EnvironmentScan::new(
        "env-2",
        ScanOutcome::Scanned(snapshot(vec![scanned_bot(bot("b1", "One"), vec![])])),
    ));
    input.tenant_agents = Some(vec![
        inventory_agent("b1", "env-1", "One"),
        inventory_agent("b1", "env-2", "One"),
    ]);
    let inv = run(&input);
    let several: Vec<_> = inv
        .coverage
        .iter()
        .filter(|c| c.kind == CoverageKind::AgentInSeveralEnvironments)
        .map(|c| c.environment_id.clone().unwrap())
        .collect();
    assert_eq!(several, ["env-1", "env-2"]);
}

#[test]
fn agent_builder_agents_are_incomplete_scans() {
    let mut input = one_environment(vec![scanned_bot(bot("b-lite", "Lite"), vec![])]);
    input.tenant_agents.as_mut().unwrap()[0].created_in =
        Some("Microsoft 365 Copilot Agent Builder".into());
    let inv = run(&input);
    let agent = &inv.rows.agents[0];
    assert_eq!(agent.created_in, Some(CreatedIn::AgentBuilder));
    assert_eq!(agent.agent_type, Some(AgentType::Lite));
    let (level, reason) = completeness(&inv, "b-lite");
    assert_eq!(level, ScanCompleteness::Incomplete);
    assert!(reason.contains("Agent Builder"), "{reason}");
}

#[test]
fn unreadable_component_reads_are_incomplete_or_failed() {
    let mut partial = scanned_bot(bot("b-part", "Part"), vec![]);
    partial.components_read = inventory_model::ReadStatus::Partial {
        detail: "page 3 failed".into(),
    };
    let mut failed = scanned_bot(bot("b-fail", "Fail"), vec![]);
    failed.components_read = inventory_model::ReadStatus::Failed {
        detail: "500 from botcomponents".into(),
    };
    let broken = scanned_bot(
        bot("b-yaml", "Yaml"),
        vec![component("c1", 9, "Broken", Some("kind: [unclosed".into()))],
    );
    let inv = run(&one_environment(vec![partial, failed, broken]));
    assert_eq!(completeness(&inv, "b-part").0, ScanCompleteness::Incomplete);
    assert!(completeness(&inv, "b-part").1.contains("page 3 failed"));
    assert_eq!(completeness(&inv, "b-fail").0, ScanCompleteness::Failed);
    let (level, reason) = completeness(&inv, "b-yaml");
    assert_eq!(level, ScanCompleteness::Incomplete);
    assert!(reason.contains("unreadable"), "{reason}");
    // The unreadable component is still a feature row: Other / Unrecognized, not dropped.
    let row = inv
        .rows
        .features
        .iter()
        .find(|f| f.source_object_id == "c1")
        .unwrap();
    assert_eq!(row.feature_type, Some(inventory_model::FeatureType::Other));
}

#[test]
fn previous_delta_links_survive_an_unreadable_environment() {
    let mut input = one_environment(vec![]);
    input.environment_scans = vec![EnvironmentScan::new(
        "env-1",
        ScanOutcome::Failed {
            detail: "timeout".into(),
        },
    )];
    input.previous_delta_links.insert(
        "ENV-1".into(),
        "https://x/api/data/v9.2/bots?$deltatoken=7".into(),
    );
    let inv = run(&input);
    assert_eq!(
        inv.rows.environments[0].delta_link.as_deref(),
        Some("https://x/api/data/v9.2/bots?$deltatoken=7")
    );
    // A scanned environment writes its new delta link.
    let inv = run(&one_environment(vec![]));
    assert!(
        inv.rows.environments[0]
            .delta_link
            .as_deref()
            .unwrap()
            .ends_with("deltatoken=1")
    );
}

#[test]
fn agent_builder_agents_missing_from_dataverse_are_not_called_deleted() {
    let mut input = one_environment(vec![]);
    let mut agent = inventory_agent("b-lite", "env-1", "Lite");
    agent.created_in = Some("Microsoft 365 Copilot Agent Builder".into());
    input.tenant_agents = Some(vec![agent]);
    let inv = run(&input);
    assert_eq!(
        kinds(&inv),
        [(
            CoverageKind::InventoryOnly(InventoryOnlyReason::AgentBuilder),
            Some("env-1".into()),
            Some("b-lite".into())
        )]
    );
    let (level, reason) = completeness(&inv, "b-lite");
    assert_eq!(level, ScanCompleteness::Incomplete);
    assert!(reason.contains("Agent Builder"), "{reason}");
    assert_eq!(inv.rows.agents[0].agent_type, Some(AgentType::Lite));
}

#[test]
fn id_warnings_are_coverage_records_but_not_posture_gaps() {
    let mut input = one_environment(vec![scanned_bot(bot("dv-guid", "One"), vec![])]);
    let mut agent = inventory_agent("arg-name", "env-1", "One");
    agent.bot_id = Some("dv-guid".into());
    input.tenant_agents = Some(vec![agent]);
    let inv = run(&input);
    assert_eq!(inv.coverage.len(), 1);
    let gap = inv.postures[0]
        .result(inventory_model::CheckId::CoverageGap)
        .unwrap();
    assert_eq!(gap.status, inventory_model::CheckStatus::NotFound);
}

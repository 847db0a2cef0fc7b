//! The generated tenant carries what an inventory scan needs to find: the posture plants on
//! known agents and components, targets for all six many-to-many relationships of components,
//! and `bot.configuration` in its several shapes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;

use serde_json::Value;
use tenant_emulator::generate::{Plant, SyntheticTenant, TenantSpec};

fn tenant(seed: u64, agents: usize) -> SyntheticTenant {
    let spec = TenantSpec::new(seed, time::macros::datetime!(2026-03-01 12:00 UTC))
        .with_agents(agents)
        .with_transcripts(0);
    SyntheticTenant::generate(&spec)
}

#[test]
fn every_plant_lands_on_a_known_agent_and_component() {
    for agents in [1, 3, 7, 40] {
        let t = tenant(5, agents);
        let bots = t.bot_rows();
        let components = t.component_rows();
        let planted = t.planted_findings();
        let plants: BTreeSet<Plant> = planted.iter().map(|p| p.plant).collect();
        assert_eq!(plants.len(), Plant::ALL.len(), "{agents} agents");
        for p in &planted {
            let bot = bots
                .iter()
                .find(|b| b["botid"] == Value::String(p.bot_id.to_string()))
                .unwrap();
            match p.plant {
                Plant::OpenWithoutAuth => {
                    assert_eq!(bot["accesscontrolpolicy"], 0);
                    assert_eq!(bot["authenticationmode"], 1);
                }
                Plant::OrchestrationWithoutInstructions => {
                    let config: Value =
                        serde_json::from_str(bot["configuration"].as_str().unwrap()).unwrap();
                    assert_eq!(config["settings"]["GenerativeActionsEnabled"], true);
                    let gpt = components
                        .iter()
                        .find(|c| {
                            c["componenttype"] == 15 && c["_parentbotid_value"] == bot["botid"]
                        })
                        .unwrap();
                    assert!(!gpt["data"].as_str().unwrap().contains("instructions:"));
                }
                _ => {
                    let schema = p.component_schema.as_deref().unwrap();
                    let c = components
                        .iter()
                        .find(|c| c["schemaname"] == schema)
                        .unwrap_or_else(|| panic!("{schema} missing"));
                    assert_eq!(c["_parentbotid_value"], bot["botid"]);
                }
            }
        }
    }
}

#[test]
fn all_six_relationships_have_targets_on_existing_components() {
    for agents in [1, 12] {
        let t = tenant(9, agents);
        let ids: BTreeSet<String> = t
            .component_rows()
            .iter()
            .map(|c| c["botcomponentid"].as_str().unwrap().to_owned())
            .collect();
        let related = t.related_rows();
        assert_eq!(related.len(), 6);
        for (set, rows) in related {
            assert!(!rows.is_empty(), "{set} has no target with {agents} agents");
            for row in rows {
                assert!(
                    ids.contains(row["botcomponentid"].as_str().unwrap()),
                    "{set}"
                );
                assert_eq!(row.len(), 3, "{set}: {row:?}");
            }
        }
    }
}

#[test]
fn configurations_come_in_several_shapes() {
    let t = tenant(11, 200);
    let mut null = 0;
    let mut legacy = 0;
    let mut unknown = 0;
    for bot in t.bot_rows() {
        match bot["configuration"].as_str() {
            None => null += 1,
            Some(text) => {
                let config: Value = serde_json::from_str(text).unwrap();
                if config.get("aISettings").is_none() {
                    legacy += 1;
                }
                if config.get("agentFeatures").is_some() {
                    unknown += 1;
                }
            }
        }
    }
    assert!(
        null > 0 && legacy > 0 && unknown > 0,
        "{null} {legacy} {unknown}"
    );
    assert!(
        null + legacy + unknown < 100,
        "most agents keep today's shape"
    );
}

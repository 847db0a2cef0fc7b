//! Properties of the mapping over generated scans: every row it writes has only
//! columns of its table, valid option values and its required columns; the mapping
//! is deterministic and does not depend on the order of its inputs; nothing read is
//! dropped; a scan diffed against itself upserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use inventory_model::options::option_set;
use inventory_model::schema::ColumnType;
use inventory_model::{
    AgentDefinition, Encoding, EnvironmentScan, InventoryRow, InventoryRows, InventorySettings,
    ScanInput, ScanOutcome, SessionObservation, UsageInput, agent_definition, build_inventory,
};
use proptest::prelude::*;

const SAMPLES: [(&str, i32); 8] = [
    ("04_ct9_AdaptiveDialog_Greeting.data.yaml", 9),
    ("06_ct9_TaskDialog_connector.data.yaml", 9),
    ("09_ct9_TaskDialog_MCP.data.yaml", 9),
    ("10_ct15_GptComponentMetadata_webBrowsing.data.yaml", 15),
    ("11_ct16_KnowledgeSource_Dataverse.data.yaml", 16),
    ("12_ct17_ExternalTriggerConfiguration.data.yaml", 17),
    ("21_ct9_McpTool.data.yaml", 9),
    ("22_ct9_ConnectedAgentTool.data.yaml", 9),
];

#[derive(Debug, Clone)]
enum Data {
    Sample(usize),
    Text(String),
    Missing,
}

#[derive(Debug, Clone)]
struct GenBot {
    in_inventory: bool,
    policy: Option<i32>,
    mode: Option<i32>,
    components: Vec<(i32, Data, bool)>,
    usage: Option<Vec<(i64, u32, Vec<String>)>>,
}

#[derive(Debug, Clone)]
struct GenEnv {
    listed: bool,
    outcome: u8,
    bots: Vec<GenBot>,
    inventory_only: usize,
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        3 => (0..SAMPLES.len()).prop_map(Data::Sample),
        1 => "[ -~\n]{0,60}".prop_map(Data::Text),
        1 => Just(Data::Missing),
    ]
}

fn gen_bot() -> impl Strategy<Value = GenBot> {
    (
        any::<bool>(),
        proptest::option::of(0..4i32),
        proptest::option::of(0..5i32),
        proptest::collection::vec((0..25i32, data(), any::<bool>()), 0..5),
        proptest::option::of(proptest::collection::vec(
            (
                0i64..60,
                0u32..20,
                proptest::collection::vec("[a-c]{1}", 0..3),
            ),
            0..4,
        )),
    )
        .prop_map(|(in_inventory, policy, mode, components, usage)| GenBot {
            in_inventory,
            policy,
            mode,
            components,
            usage,
        })
}

fn gen_env() -> impl Strategy<Value = GenEnv> {
    (
        any::<bool>(),
        0u8..5,
        proptest::collection::vec(gen_bot(), 0..4),
        0usize..3,
    )
        .prop_map(|(listed, outcome, bots, inventory_only)| GenEnv {
            listed,
            outcome,
            bots,
            inventory_only,
        })
}

fn build(envs: &[GenEnv], inventory_read: bool) -> ScanInput {
    let mut input = ScanInput::new(RUN, now());
    let mut listed = Vec::new();
    let mut agents = Vec::new();
    for (e, env) in envs.iter().enumerate() {
        let id = format!("env-{e}");
        if env.listed {
            listed.push(environment(&id, &format!("Environment {e}")));
        }
        let mut bots = Vec::new();
        for (b, g) in env.bots.iter().enumerate() {
            let bot_id = format!("b-{e}-{b}");
            let mut record = bot(&bot_id, &format!("Bot {e} {b}"));
            record.access_control_policy = g.policy;
            record.authentication_mode = g.mode;
            let components = g
                .components
                .iter()
                .enumerate()
                .map(|(c, (ct, d, enabled))| {
                    let (ct, text) = match d {
                        Data::Sample(i) => (SAMPLES[*i].1, Some(fixture(SAMPLES[*i].0))),
                        Data::Text(t) => (*ct, Some(t.clone())),
                        Data::Missing => (*ct, None),
                    };
                    let mut row = component(
                        &format!("c-{e}-{b}-{c}"),
                        ct,
                        &format!("Component {c}"),
                        text,
                    );
                    row.state_code = Some(if *enabled { 0 } else { 1 });
                    row
                })
                .collect();
            bots.push(scanned_bot(record, components));
            if g.in_inventory {
                agents.push(inventory_agent(&bot_id, &id, &format!("Bot {e} {b}")));
            }
            if let Some(sessions) = &g.usage {
                let mut u = UsageInput::new(&bot_id, &id, "conversationtranscript", 30);
                for (i, (days_ago, n, users)) in sessions.iter().enumerate() {
                    let mut s = SessionObservation::new(
                        format!("s{i}"),
                        now() - time::Duration::days(*days_ago),
                        *n,
                    );
                    s.user_object_ids = users.clone();
                    u.sessions.push(s);
                }
                input.usage.push(u);
            }
        }
        for i in 0..env.inventory_only {
            agents.push(inventory_agent(
                &format!("inv-{e}-{i}"),
                &id,
                "Inventory only",
            ));
        }
        let outcome = match env.outcome {
            0 | 1 => Some(ScanOutcome::Scanned(snapshot(bots))),
            2 => Some(ScanOutcome::Forbidden {
                detail: "403".into(),
            }),
            3 => Some(ScanOutcome::Failed {
                detail: "timeout".into(),
            }),
            _ => None,
        };
        if let Some(outcome) = outcome {
            input
                .environment_scans
                .push(EnvironmentScan::new(&id, outcome));
        }
    }
    input.environments = Some(listed);
    input.tenant_agents = inventory_read.then_some(agents);
    input
}

fn check_rows<R: InventoryRow>(rows: &[R]) {
    for row in rows {
        if let Err(problems) = row.validate() {
            panic!("{}: {problems:?}\n{row:?}", R::TABLE.logical_name);
        }
        let json = row.to_json(Encoding::Dataverse);
        for (key, value) in &json {
            let column = R::TABLE
                .column(key)
                .unwrap_or_else(|| panic!("{key} is not a column of {}", R::TABLE.logical_name));
            if let (ColumnType::Choice { option_set: name }, Some(v)) =
                (column.column_type, value.as_i64())
            {
                let set = option_set(name).unwrap();
                assert!(
                    set.option(i32::try_from(v).unwrap()).is_some(),
                    "{key} = {v} is not in {name}"
                );
            }
        }
        assert_eq!(R::from_json(&json, Encoding::Dataverse).unwrap(), *row);
    }
}

fn check_all(rows: &InventoryRows) {
    check_rows(&rows.agents);
    check_rows(&rows.environments);
    check_rows(&rows.features);
    check_rows(&rows.auth_shares);
    check_rows(&rows.billing);
    check_rows(&rows.usage);
    check_rows(&rows.work_iq);
    check_rows(&rows.compliance);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mapped_rows_are_valid_rows_of_their_tables(envs in proptest::collection::vec(gen_env(), 0..4), inventory in any::<bool>()) {
        let inv = build_inventory(&build(&envs, inventory), &InventorySettings::default());
        check_all(&inv.rows);
        // One compliance and one auth-share row per agent, keys unique per table.
        prop_assert_eq!(inv.rows.compliance.len(), inv.rows.agents.len());
        prop_assert_eq!(inv.rows.auth_shares.len(), inv.rows.agents.len());
        let mut keys: Vec<_> = inv.rows.features.iter().map(|f| f.upsert_path()).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        prop_assert_eq!(keys.len(), n);
    }

    #[test]
    fn definitions_made_ahead_or_kept_give_the_same_inventory(envs in proptest::collection::vec(gen_env(), 0..4), inventory in any::<bool>()) {
        let input = build(&envs, inventory);
        let settings = InventorySettings::default();
        let parsed = build_inventory(&input, &settings);
        let mut ahead = input.clone();
        let mut dataverse_bots = 0;
        for env in &mut ahead.environment_scans {
            if let ScanOutcome::Scanned(snapshot) = &mut env.outcome {
                for bot in &mut snapshot.bots {
                    bot.definition = Some(agent_definition(&ahead.component_types, bot, &settings));
                    dataverse_bots += 1;
                }
            }
        }
        let made = build_inventory(&ahead, &settings);
        prop_assert_eq!(made.rebuilt_agents, 0);
        prop_assert_eq!(&made.rows, &parsed.rows);
        prop_assert_eq!(&made.postures, &parsed.postures);
        prop_assert!(parsed.rebuilt_agents <= dataverse_bots);
        // Kept from an earlier scan: its run id and time, and the results read back.
        let mut later = ahead.clone();
        later.run_id = "11111111-2222-3333-4444-555555555555".to_owned();
        later.scanned_at += time::Duration::hours(1);
        for env in &mut later.environment_scans {
            if let ScanOutcome::Scanned(snapshot) = &mut env.outcome {
                for bot in &mut snapshot.bots {
                    let d = bot.definition.take().unwrap();
                    let json = serde_json::to_string(&d.checks).unwrap();
                    let checks = serde_json::from_str(&json).unwrap();
                    bot.definition = Some(AgentDefinition::new(d.features, checks));
                }
            }
        }
        let kept = build_inventory(&later, &settings);
        let fresh = build_inventory(&{
            let mut i = later.clone();
            for env in &mut i.environment_scans {
                if let ScanOutcome::Scanned(snapshot) = &mut env.outcome {
                    for bot in &mut snapshot.bots {
                        bot.definition = None;
                    }
                }
            }
            i
        }, &settings);
        prop_assert_eq!(&kept.rows, &fresh.rows);
        prop_assert_eq!(&kept.postures, &fresh.postures);
    }

    #[test]
    fn mapping_is_deterministic_and_order_independent(envs in proptest::collection::vec(gen_env(), 0..4), inventory in any::<bool>()) {
        let input = build(&envs, inventory);
        let a = build_inventory(&input, &InventorySettings::default());
        let b = build_inventory(&input, &InventorySettings::default());
        prop_assert_eq!(&a, &b);
        let mut shuffled = input.clone();
        shuffled.environment_scans.reverse();
        if let Some(e) = shuffled.environments.as_mut() { e.reverse(); }
        if let Some(t) = shuffled.tenant_agents.as_mut() { t.reverse(); }
        shuffled.usage.reverse();
        for scan in &mut shuffled.environment_scans {
            if let ScanOutcome::Scanned(s) = &mut scan.outcome { s.bots.reverse(); }
        }
        let c = build_inventory(&shuffled, &InventorySettings::default());
        prop_assert_eq!(&a.rows, &c.rows);
        prop_assert_eq!(&a.coverage, &c.coverage);
    }

    #[test]
    fn nothing_read_is_dropped(envs in proptest::collection::vec(gen_env(), 0..4), inventory in any::<bool>()) {
        let input = build(&envs, inventory);
        let inv = build_inventory(&input, &InventorySettings::default());
        let agents: std::collections::BTreeSet<(String, String)> =
            inv.rows.agents.iter().map(|a| (a.environment_id.clone(), a.agent_id.clone())).collect();
        for a in input.tenant_agents.iter().flatten() {
            prop_assert!(agents.contains(&(a.environment_id.clone(), a.name.clone())), "{} lost", a.name);
        }
        for scan in &input.environment_scans {
            if let ScanOutcome::Scanned(s) = &scan.outcome {
                for b in &s.bots {
                    prop_assert!(agents.contains(&(scan.environment_id.clone(), b.bot.bot_id.clone())));
                    for c in &b.components {
                        prop_assert!(inv.rows.features.iter().any(|f| f.source_object_id == c.component_id), "{} lost", c.component_id);
                    }
                }
            }
        }
        // Every agent without a complete scan says why.
        for c in &inv.rows.compliance {
            if c.scan_completeness != Some(inventory_model::ScanCompleteness::Complete) {
                prop_assert!(!c.scan_completeness_reason.as_deref().unwrap_or("").is_empty());
            }
        }
    }

    #[test]
    fn a_scan_diffed_against_itself_upserts_nothing(envs in proptest::collection::vec(gen_env(), 0..4), inventory in any::<bool>()) {
        let inv = build_inventory(&build(&envs, inventory), &InventorySettings::default());
        let d = inv.diff_against(&inv.rows);
        prop_assert!(d.is_empty(), "{:?}", d);
        prop_assert!(d.unobserved_agents.is_empty());
    }
}

/// Applies upserts to rows by key (replace or insert), as Dataverse would.
fn by_key<R: InventoryRow>(rows: &[R]) -> Vec<R> {
    let mut rows = rows.to_vec();
    rows.sort_by_cached_key(|r| r.upsert_path());
    rows
}

fn apply<R: InventoryRow>(rows: &mut Vec<R>, upserts: &[R]) {
    for u in upserts {
        let key = u.upsert_path().map(|p| p.to_ascii_lowercase());
        match rows
            .iter_mut()
            .find(|r| r.upsert_path().map(|p| p.to_ascii_lowercase()) == key)
        {
            Some(existing) => *existing = u.clone(),
            None => rows.push(u.clone()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn applying_a_diff_leaves_nothing_to_upsert(
        before in proptest::collection::vec(gen_env(), 0..3),
        after in proptest::collection::vec(gen_env(), 0..3),
        inventory in any::<bool>(),
    ) {
        let previous = build_inventory(&build(&before, true), &InventorySettings::default());
        let mut later = build(&after, inventory);
        later.scanned_at = now() + time::Duration::hours(1);
        later.run_id = "22222222-2222-2222-2222-222222222222".into();
        let current = build_inventory(&later, &InventorySettings::default());
        let d = current.diff_against(&previous.rows);
        // The same diff when no row is at its old position (no row-for-row shortcut).
        let mut reversed = previous.rows.clone();
        reversed.agents.reverse();
        reversed.environments.reverse();
        reversed.features.reverse();
        reversed.auth_shares.reverse();
        reversed.usage.reverse();
        reversed.compliance.reverse();
        let slow = current.diff_against(&reversed);
        // (Gone agents are marked in the previous rows' order.)
        prop_assert_eq!(by_key(&slow.upserts.agents), by_key(&d.upserts.agents));
        prop_assert_eq!(&slow.upserts.features, &d.upserts.features);
        prop_assert_eq!(&slow.upserts.environments, &d.upserts.environments);
        prop_assert_eq!(&slow.upserts.compliance, &d.upserts.compliance);
        prop_assert_eq!(&slow.upserts.usage, &d.upserts.usage);
        prop_assert_eq!(&slow.upserts.auth_shares, &d.upserts.auth_shares);
        prop_assert_eq!(&slow.gone_agents.len(), &d.gone_agents.len());
        prop_assert_eq!(&slow.stale_rows.len(), &d.stale_rows.len());
        let mut applied = previous.rows.clone();
        apply(&mut applied.agents, &d.upserts.agents);
        apply(&mut applied.environments, &d.upserts.environments);
        apply(&mut applied.features, &d.upserts.features);
        apply(&mut applied.auth_shares, &d.upserts.auth_shares);
        apply(&mut applied.usage, &d.upserts.usage);
        apply(&mut applied.work_iq, &d.upserts.work_iq);
        apply(&mut applied.compliance, &d.upserts.compliance);
        let again = current.diff_against(&applied);
        prop_assert_eq!(&again.upserts, &InventoryRows::default(), "{:?}", again.upserts);
        prop_assert_eq!(&again.gone_agents, &d.gone_agents);
        // Every agent of the previous scan is either still there, gone (and marked) or unobserved.
        for a in &previous.rows.agents {
            let still = current.rows.agents.iter().any(|c| c.agent_id.eq_ignore_ascii_case(&a.agent_id) && c.environment_id.eq_ignore_ascii_case(&a.environment_id));
            let gone = d.gone_agents.iter().any(|g| g.agent_id == a.agent_id && g.environment_id == a.environment_id);
            let unobserved = d.unobserved_agents.iter().any(|g| g.agent_id == a.agent_id && g.environment_id == a.environment_id);
            prop_assert!(still as u8 + gone as u8 + unobserved as u8 == 1, "{} is in no single state", a.agent_id);
        }
    }
}

//! Mapping throughput: a generated tenant of 10 environments x 200 agents, each with
//! the real component samples of `crates/inventory-model/tests/fixtures/botcomponents`
//! (10 components an agent, 20,000 in all), every agent also in the tenant inventory,
//! with usage; the component parsing alone, `build_inventory` (reconcile, parse, map,
//! posture) and the diff of the result against itself, reported in agents per second.
//!
//! `cargo bench -p inventory-model --bench inventory_mapping`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use botcomponent_schema::ComponentRow;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use inventory_model::{
    BotRecord, BotScan, DataverseSnapshot, EnvironmentInfo, EnvironmentScan, InventorySettings,
    ReadStatus, ScanInput, ScanOutcome, SessionObservation, TenantAgent, UsageInput,
    build_inventory,
};
use time::macros::datetime;

const ENVIRONMENTS: usize = 10;
const AGENTS_PER_ENVIRONMENT: usize = 200;

const SAMPLES: [(i32, &str); 10] = [
    (15, "03_ct15_GptComponentMetadata__account-lookup.data.yaml"),
    (9, "04_ct9_AdaptiveDialog_Greeting.data.yaml"),
    (9, "05_ct9_AdaptiveDialog_OnError.data.yaml"),
    (9, "06_ct9_TaskDialog_connector.data.yaml"),
    (9, "07_ct9_AgentDialog.data.yaml"),
    (9, "09_ct9_TaskDialog_MCP.data.yaml"),
    (16, "11_ct16_KnowledgeSource_Dataverse.data.yaml"),
    (17, "12_ct17_ExternalTriggerConfiguration.data.yaml"),
    (18, "13_ct18_ContentModerationSettings.data.yaml"),
    (9, "21_ct9_McpTool.data.yaml"),
];

fn tenant() -> ScanInput {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/botcomponents");
    let read =
        |name: &str| String::from_utf8(std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap();
    let samples: Vec<(i32, String)> = SAMPLES.iter().map(|(t, f)| (*t, read(f))).collect();
    let configuration = read("01_bot.configuration__CopilotStudioSamples_account-lookup.json");
    let now = datetime!(2026-06-09 14:00 UTC);
    let mut input = ScanInput::new("run", now);
    let mut environments = Vec::new();
    let mut agents = Vec::new();
    for e in 0..ENVIRONMENTS {
        let env = format!("env-{e}");
        let mut info = EnvironmentInfo::new(&env);
        info.instance_api_url = Some(format!("https://{env}.crm.dynamics.com"));
        environments.push(info);
        let mut snapshot = DataverseSnapshot::new(now);
        for a in 0..AGENTS_PER_ENVIRONMENT {
            let id = format!("{e:04}{a:04}-0000-0000-0000-000000000000");
            let mut bot = BotRecord::new(&id);
            bot.name = Some(format!("Agent {e}-{a}"));
            bot.configuration = Some(configuration.clone());
            bot.access_control_policy = Some((a % 4) as i32);
            bot.authentication_mode = Some((a % 5) as i32);
            bot.published_on = Some(now);
            let mut scan = BotScan::new(bot);
            scan.components = samples
                .iter()
                .enumerate()
                .map(|(c, (t, d))| {
                    let mut row = ComponentRow::new(format!("{id}-{c}"), *t, Some(d.clone()));
                    row.name = Some(format!("Component {c}"));
                    row.state_code = Some(0);
                    row
                })
                .collect();
            scan.components_read = ReadStatus::Complete;
            scan.related_read = ReadStatus::Complete;
            snapshot.bots.push(scan);
            let mut agent = TenantAgent::new(&id, &env);
            agent.created_in = Some("Copilot Studio".into());
            agents.push(agent);
            let mut usage = UsageInput::new(&id, &env, "conversationtranscript", 30);
            for s in 0..5 {
                let mut session =
                    SessionObservation::new(format!("s{s}"), now - time::Duration::days(s), 3);
                session.user_object_ids = vec![format!("user-{}", (a + s as usize) % 50)];
                usage.sessions.push(session);
            }
            input.usage.push(usage);
        }
        input
            .environment_scans
            .push(EnvironmentScan::new(&env, ScanOutcome::Scanned(snapshot)));
    }
    input.environments = Some(environments);
    input.tenant_agents = Some(agents);
    input
}

fn bench(c: &mut Criterion) {
    let input = tenant();
    let settings = InventorySettings::default();
    let agents = (ENVIRONMENTS * AGENTS_PER_ENVIRONMENT) as u64;
    let mut group = c.benchmark_group("inventory_mapping");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(agents));
    // The parsing alone (botcomponent-schema's agent_features for every bot), so that
    // the mapping's own cost is a ratio within one run.
    group.bench_function("agent_features_only_2000_agents", |b| {
        b.iter(|| {
            for scan in &input.environment_scans {
                if let ScanOutcome::Scanned(snapshot) = &scan.outcome {
                    for bot in &snapshot.bots {
                        black_box(inventory_model::mapping::features_of(&input, bot));
                    }
                }
            }
        })
    });
    group.bench_function("build_inventory_2000_agents_20000_components", |b| {
        b.iter(|| black_box(build_inventory(black_box(&input), &settings)))
    });
    let inventory = build_inventory(&input, &settings);
    assert_eq!(inventory.rows.agents.len(), agents as usize);
    group.bench_function("self_diff_2000_agents", |b| {
        b.iter(|| black_box(inventory.diff_against(black_box(&inventory.rows))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

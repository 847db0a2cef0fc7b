//! Parsing throughput: the 23 real samples of `tests/fixtures/` (18 component
//! `data` documents, 4 `bot.configuration` JSON texts and one `settings.mcs.yml`),
//! repeated to 100,000 inputs, reported in components (inputs) per second.
//!
//! `cargo bench -p botcomponent-schema --bench botcomponents`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use botcomponent_schema::{
    BotConfiguration, ComponentTypeRegistry, McsSettingsFile, parse_component,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TOTAL: usize = 100_000;

enum Input {
    Component(i32, String),
    Configuration(String),
    Settings(String),
}

fn samples() -> Vec<Input> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let read =
        |name: &str| String::from_utf8(std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap();
    let components = [
        (15, "03_ct15_GptComponentMetadata__account-lookup.data.yaml"),
        (9, "04_ct9_AdaptiveDialog_Greeting.data.yaml"),
        (9, "05_ct9_AdaptiveDialog_OnError.data.yaml"),
        (9, "06_ct9_TaskDialog_connector.data.yaml"),
        (9, "07_ct9_AgentDialog.data.yaml"),
        (13, "08_ct13_SkillDefinition.data.yaml"),
        (9, "09_ct9_TaskDialog_MCP.data.yaml"),
        (15, "10_ct15_GptComponentMetadata_webBrowsing.data.yaml"),
        (16, "11_ct16_KnowledgeSource_Dataverse.data.yaml"),
        (17, "12_ct17_ExternalTriggerConfiguration.data.yaml"),
        (18, "13_ct18_ContentModerationSettings.data.yaml"),
        (18, "14_ct18_DefaultFeedbackCollection.data.yaml"),
        (15, "15_ct15_GptComponentMetadata_hiringAgent.data.yaml"),
        (16, "17_ct16_KnowledgeSource_SharePoint.mcs.yml"),
        (9, "20_ct9_InlineAgentSkill.data.yaml"),
        (9, "21_ct9_McpTool.data.yaml"),
        (9, "22_ct9_ConnectedAgentTool.data.yaml"),
        (
            15,
            "23_ct15_GptComponentMetadata_conversationStarters.data.yaml",
        ),
    ];
    let mut inputs: Vec<Input> = components
        .iter()
        .map(|(t, name)| Input::Component(*t, read(name)))
        .collect();
    for name in [
        "01_bot.configuration__CopilotStudioSamples_account-lookup.json",
        "02_bot.configuration__CopilotStudioSamples_OrdersAgent.json",
        "16_bot.configuration__workshop_hiringAgent.json",
        "19_bot.configuration__cliagent_agentSettings.json",
    ] {
        inputs.push(Input::Configuration(read(name)));
    }
    inputs.push(Input::Settings(read(
        "18_settings.mcs.yml__vscode-extension_HRBuddy.yaml",
    )));
    assert_eq!(inputs.len(), 23);
    inputs
}

fn bench(c: &mut Criterion) {
    let registry = ComponentTypeRegistry::builtin();
    let samples = samples();
    let workload: Vec<&Input> = samples.iter().cycle().take(TOTAL).collect();
    let mut group = c.benchmark_group("botcomponents");
    group.throughput(Throughput::Elements(TOTAL as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("parse_23_samples_x100k", |b| {
        b.iter(|| {
            let mut unrecognized = 0usize;
            for input in &workload {
                unrecognized += match input {
                    Input::Component(t, data) => parse_component(&registry, *t, data)
                        .unwrap()
                        .unrecognized
                        .len(),
                    Input::Configuration(json) => {
                        BotConfiguration::parse(json).unwrap().unrecognized.len()
                    }
                    Input::Settings(yaml) => {
                        McsSettingsFile::parse(yaml).unwrap().unrecognized.len()
                    }
                };
            }
            black_box(unrecognized)
        });
    });
    // Baseline: the YAML event parser and serde_json alone, on the same inputs.
    group.bench_function("baseline_yaml_rust2_events_and_serde_json_x100k", |b| {
        b.iter(|| {
            let mut events = 0usize;
            for input in &workload {
                match input {
                    Input::Component(_, text) | Input::Settings(text) => {
                        let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
                        loop {
                            let (event, _) = parser.next_token().unwrap();
                            events += 1;
                            if event == yaml_rust2::Event::StreamEnd {
                                break;
                            }
                        }
                    }
                    Input::Configuration(json) => {
                        let value: serde_json::Value = serde_json::from_str(json).unwrap();
                        events += usize::from(value.is_object());
                    }
                }
            }
            black_box(events)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Hostile inputs near the 1 MB `data` limit: linear time, bounded memory, no panics.
//!
//! Time limits are generous (debug build, shared machine); the quadratic code these tests
//! guard against took minutes on the same inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use botcomponent_schema::{
    BotConfiguration, ComponentContent, ComponentTypeRegistry, ParseError, UnrecognizedReason,
    parse_component,
};

const GENEROUS: Duration = Duration::from_secs(30);

#[test]
fn a_mapping_with_100k_unknown_keys_is_reported_in_linear_time() {
    let mut data = String::from("kind: AdaptiveDialog\n");
    for i in 0..100_000 {
        data.push_str(&format!("k{i}: 1\n"));
    }
    data.push_str("k7: again\n");
    assert!(data.len() < 1 << 20);
    let start = Instant::now();
    let parsed = parse_component(&ComponentTypeRegistry::builtin(), 9, &data).unwrap();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    assert_eq!(parsed.unrecognized.len(), 100_001);
    assert_eq!(parsed.unrecognized[0].path, "/k0");
    assert_eq!(
        parsed.unrecognized[0].reason,
        UnrecognizedReason::UnknownKey
    );
    let last = parsed.unrecognized.last().unwrap();
    assert_eq!(
        (last.path.as_str(), &last.reason),
        ("/k7", &UnrecognizedReason::DuplicateKey)
    );
}

#[test]
fn many_boolean_capabilities_and_settings_stay_linear() {
    let mut data = String::from("kind: GptComponentMetadata\ngptCapabilities:\n");
    let mut settings = String::from(r#"{"settings":{"#);
    for i in 0..60_000 {
        data.push_str(&format!("  c{i}: true\n"));
        settings.push_str(&format!(r#""s{i}":true,"#));
    }
    settings.push_str(r#""last":false}}"#);
    let start = Instant::now();
    let parsed = parse_component(&ComponentTypeRegistry::builtin(), 15, &data).unwrap();
    let config = BotConfiguration::parse(&settings).unwrap();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    let ComponentContent::CustomGpt(gpt) = &parsed.content else {
        panic!("not a custom GPT")
    };
    assert_eq!(gpt.capabilities.len(), 60_000);
    assert!(parsed.unrecognized.is_empty());
    assert_eq!(config.other_settings.len(), 60_001);
}

#[test]
fn nested_anchors_cannot_multiply_memory() {
    // Each of 150 nested anchors would otherwise keep its own copy of the 20,000-item
    // sequence inside it: 3 million nodes from 110 KB of text.
    let depth = 150;
    let mut data = String::from("kind: AdaptiveDialog\nx: ");
    for i in 0..depth {
        data.push_str(&format!("&a{i} ["));
    }
    for i in 0..20_000 {
        data.push_str(&format!("{i},"));
    }
    data.push('0');
    data.push_str(&"]".repeat(depth));
    data.push('\n');
    let result = parse_component(&ComponentTypeRegistry::builtin(), 9, &data);
    assert!(
        matches!(result, Err(ParseError::TooLarge { .. })),
        "{result:?}"
    );

    // A few anchors and aliases, as hand-written YAML uses them, still work.
    let ok = "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  intent:\n    triggerQueries: &q [hi, hello]\ntriggers:\n  - kind: OnRecognizedIntent\n    intent:\n      triggerQueries: *q\n";
    let parsed = parse_component(&ComponentTypeRegistry::builtin(), 9, ok).unwrap();
    let ComponentContent::Topic(topic) = &parsed.content else {
        panic!("not a topic")
    };
    assert_eq!(topic.other_triggers[0].trigger_phrases, ["hi", "hello"]);
}

#[test]
fn many_anchors_and_aliases_resolve_in_linear_time() {
    let mut data = String::from("kind: AdaptiveDialog\nx:\n");
    for i in 0..40_000 {
        data.push_str(&format!("  - &a{i} v{i}\n"));
    }
    data.push_str("y:\n");
    for i in 0..40_000 {
        data.push_str(&format!("  - *a{}\n", i % 7));
    }
    let start = Instant::now();
    let parsed = parse_component(&ComponentTypeRegistry::builtin(), 9, &data).unwrap();
    assert!(start.elapsed() < GENEROUS, "{:?}", start.elapsed());
    let paths: Vec<&str> = parsed
        .unrecognized
        .iter()
        .map(|u| u.path.as_str())
        .collect();
    assert_eq!(paths, ["/x", "/y"]);
}

//! The `parse_component` example's contract: JSON on stdout; exit 0 for any content it could
//! read (unknown types and kinds included), 1 when the content is not YAML/JSON, 2 on a usage
//! or file error.
//!
//! The example's `run` is compiled into this test as a module, so the real program is tested.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../../../examples/parse_component.rs"]
mod example;

use std::path::PathBuf;

use serde_json::Value;

struct Output {
    status: u8,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = example::run(&args, &mut out, &mut err);
    Output {
        status,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parse-component-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_type_9_tool_prints_its_kind_family_feature_and_details() {
    let o = run(&["--type", "9", &fixture("09_ct9_TaskDialog_MCP.data.yaml")]);
    assert_eq!(o.status, example::EXIT_OK, "{}", o.stderr);
    assert_eq!(o.stderr, "");
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["kind"], "TaskDialog");
    assert_eq!(v["family"], "topic");
    assert_eq!(v["content"]["tool_kind"], "mcp_server");
    assert_eq!(v["feature_type"], "tool_plugin");
    assert_eq!(v["feature_type_value"], 100_000_015);
    assert_eq!(v["feature_type_label"], "Tool / Plugin");
}

#[test]
fn unknown_types_and_kinds_exit_zero_with_their_unrecognized_parts() {
    let file = temp_file("future.yaml", b"kind: HoloDeck\nbeam: on\n");
    let o = run(&["--type", "23", file.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_OK, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["component_type"], 23);
    assert_eq!(v["type_label"], "Unknown (23)");
    assert_eq!(v["unrecognized"][0]["path"], "/kind");
    assert_eq!(v["feature_type"], "other");
}

#[test]
fn configuration_mode_reads_bot_configuration() {
    let o = run(&[
        "--configuration",
        &fixture("19_bot.configuration__cliagent_agentSettings.json"),
    ]);
    assert_eq!(o.status, example::EXIT_OK, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v.is_object());
}

#[test]
fn content_that_is_not_yaml_or_json_exits_one() {
    let file = temp_file("broken.yaml", b"kind: AdaptiveDialog\nbeginDialog: [\n");
    let o = run(&["--type", "9", file.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_UNREADABLE);
    assert_eq!(o.stdout, "");
    assert!(o.stderr.contains("line"), "{}", o.stderr);
    let file = temp_file("broken.json", b"{not json");
    let o = run(&["--configuration", file.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_UNREADABLE);
}

#[test]
fn non_utf8_bytes_are_read_and_said() {
    let file = temp_file("latin1.yaml", b"kind: McpTool\noperationId: caf\xe9\n");
    let o = run(&["--type", "9", file.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_OK);
    assert!(o.stderr.contains("not UTF-8"), "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["content"]["operation_id"], "caf\u{FFFD}");
}

#[test]
fn usage_and_file_errors_exit_two() {
    for args in [
        &[][..],
        &["--type", "nine", "x"],
        &["--type", "9"],
        &["--bogus", "x"],
    ] {
        let o = run(args);
        assert_eq!(o.status, example::EXIT_USAGE, "{args:?}");
        assert!(o.stderr.contains("usage:"), "{}", o.stderr);
    }
    let o = run(&["--type", "9", "/nonexistent/parse-component.yaml"]);
    assert_eq!(o.status, example::EXIT_USAGE);
    assert!(o.stderr.contains("cannot read"), "{}", o.stderr);
}

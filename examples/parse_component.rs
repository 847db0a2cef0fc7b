//! Parses one Copilot Studio component's `data` and prints what it is made of as JSON.
//!
//! ```text
//! cargo run --release --example parse_component -- --type 9 path/to/data.yaml
//! cargo run --release --example parse_component -- --configuration path/to/configuration.json
//! ```
//!
//! N is the row's `componenttype` (9 for topics and tools, 15 custom GPT, 16 knowledge
//! source, ...). For example, on real samples this repository keeps as test fixtures:
//!
//! ```text
//! cargo run --release --example parse_component -- --type 9 \
//!     crates/botcomponent-schema/tests/fixtures/09_ct9_TaskDialog_MCP.data.yaml
//! cargo run --release --example parse_component -- --configuration \
//!     crates/botcomponent-schema/tests/fixtures/16_bot.configuration__workshop_hiringAgent.json
//! ```
//!
//! Exit status: 0 when the content could be read (including unknown component types
//! and kinds, which are reported under `unrecognized`) and for `--help`, 1 when it is not
//! YAML/JSON, 2 on a usage or file error.

use std::io::Write;
use std::process::ExitCode;

use botcomponent_schema::{BotConfiguration, ComponentTypeRegistry, FeatureType, parse_component};

const USAGE: &str = "usage: parse_component --type N FILE | parse_component --configuration FILE";

enum Mode {
    Component(i32),
    Configuration,
}

/// Exit status: the content was read (unknown types and kinds included).
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the content is not YAML (or, with `--configuration`, not JSON).
pub(crate) const EXIT_UNREADABLE: u8 = 1;
/// Exit status: bad command line, unreadable file or failed output.
pub(crate) const EXIT_USAGE: u8 = 2;

/// The whole program: `args` without the program name; the JSON result to `out`,
/// diagnostics to `err`. Returns the exit status. (A function, not `main`, so the
/// contract is tested: see `crates/botcomponent-schema/tests/parse_component_example.rs`.)
pub(crate) fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    // Diagnostics are best effort: a closed stderr must not change the outcome.
    let (mode, path) = match args {
        [flag, n, path] if flag == "--type" => match n.parse::<i32>() {
            Ok(n) => (Mode::Component(n), path),
            Err(_) => {
                let _ = writeln!(
                    err,
                    "--type expects an integer component type, got {n:?}\n{USAGE}"
                );
                return EXIT_USAGE;
            }
        },
        [flag, path] if flag == "--configuration" => (Mode::Configuration, path),
        // Asked for, so on stdout and not a failure.
        [flag] if flag == "-h" || flag == "--help" => {
            let _ = writeln!(out, "{USAGE}");
            return EXIT_OK;
        }
        _ => {
            let _ = writeln!(err, "{USAGE}");
            return EXIT_USAGE;
        }
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                // Read what can be read, but say that bytes were replaced.
                let _ = writeln!(
                    err,
                    "{path}: not UTF-8 (first bad byte at offset {}); invalid bytes read as U+FFFD",
                    error.utf8_error().valid_up_to()
                );
                String::from_utf8_lossy(error.as_bytes()).into_owned()
            }
        },
        Err(error) => {
            let _ = writeln!(err, "cannot read {path}: {error}");
            return EXIT_USAGE;
        }
    };
    let output = match mode {
        Mode::Component(component_type) => {
            let registry = ComponentTypeRegistry::builtin();
            match parse_component(&registry, component_type, &text) {
                Ok(parsed) => {
                    let feature_type = FeatureType::for_component(&parsed);
                    let mut value = serde_json::to_value(&parsed).unwrap_or_default();
                    if let Some(object) = value.as_object_mut() {
                        object.insert(
                            "feature_type".into(),
                            serde_json::to_value(feature_type).unwrap_or_default(),
                        );
                        object.insert(
                            "feature_type_value".into(),
                            feature_type.option_value().into(),
                        );
                        object.insert("feature_type_label".into(), feature_type.label().into());
                    }
                    value
                }
                Err(error) => {
                    let _ = writeln!(err, "{path}: {error}");
                    return EXIT_UNREADABLE;
                }
            }
        }
        Mode::Configuration => match BotConfiguration::parse(&text) {
            Ok(config) => serde_json::to_value(&config).unwrap_or_default(),
            Err(error) => {
                let _ = writeln!(err, "{path}: {error}");
                return EXIT_UNREADABLE;
            }
        },
    };
    let json = match serde_json::to_string_pretty(&output) {
        Ok(json) => json,
        Err(error) => {
            let _ = writeln!(err, "cannot serialise the result: {error}");
            return EXIT_USAGE;
        }
    };
    // Written by hand rather than with println!, which panics when the reader
    // (e.g. `| head`) closes the pipe early.
    match writeln!(out, "{json}").and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(error) => {
            let _ = writeln!(err, "cannot write the result: {error}");
            EXIT_USAGE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = run(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(status)
}

//! Parses one Copilot Studio component's `data` and prints what it is made of as JSON.
//!
//! ```text
//! cargo run --release --example parse_component -- --type 9 path/to/data.yaml
//! cargo run --release --example parse_component -- --configuration path/to/configuration.json
//! ```
//!
//! Exit status: 0 when the content could be read (including unknown component types
//! and kinds, which are reported under `unrecognized`), 1 when it is not YAML/JSON,
//! 2 on a usage or file error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::process::ExitCode;

use botcomponent_schema::{BotConfiguration, ComponentTypeRegistry, FeatureType, parse_component};

const USAGE: &str = "usage: parse_component --type N FILE | parse_component --configuration FILE";

enum Mode {
    Component(i32),
    Configuration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, path) = match args.as_slice() {
        [flag, n, path] if flag == "--type" => match n.parse::<i32>() {
            Ok(n) => (Mode::Component(n), path),
            Err(_) => {
                eprintln!("--type expects an integer component type, got {n:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        [flag, path] if flag == "--configuration" => (Mode::Configuration, path),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => {
            eprintln!("cannot read {path}: {error}");
            return ExitCode::from(2);
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
                    eprintln!("{path}: {error}");
                    return ExitCode::from(1);
                }
            }
        }
        Mode::Configuration => match BotConfiguration::parse(&text) {
            Ok(config) => serde_json::to_value(&config).unwrap_or_default(),
            Err(error) => {
                eprintln!("{path}: {error}");
                return ExitCode::from(1);
            }
        },
    };
    let json = match serde_json::to_string_pretty(&output) {
        Ok(json) => json,
        Err(error) => {
            eprintln!("cannot serialise the result: {error}");
            return ExitCode::from(2);
        }
    };
    // Written by hand rather than with println!, which panics when the reader
    // (e.g. `| head`) closes the pipe early.
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cannot write the result: {error}");
            ExitCode::from(2)
        }
    }
}

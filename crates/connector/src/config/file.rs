//! The TOML configuration file.
//!
//! A configuration file holds secrets, so nothing read from it is ever quoted back: a syntax
//! error names the line and the nearest known key, a wrongly typed value names its key and the
//! TOML type found, an unknown key is shown only when it looks like a key name.

use super::{ConfigError, Origin, RawConfig, keys};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// Files larger than this are refused before parsing: a configuration is a few hundred bytes.
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

fn file_error(path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError::File {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    // Count on bytes: `end` may fall inside a multi-byte character.
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The known key assigned on `line` (1-based) or on the nearest line before it, if any. Only
/// names from [`keys::ALL`] are returned, so the answer cannot quote a value.
fn key_near(text: &str, line: usize) -> Option<&'static str> {
    let lines: Vec<&str> = text.lines().take(line).collect();
    lines.iter().rev().find_map(|l| {
        let (name, _) = l.split_once('=')?;
        let name = name.trim().trim_matches('"').trim_matches('\'');
        keys::ALL.iter().find(|k| k.toml == name).map(|k| k.toml)
    })
}

/// The parser's message when it cannot contain text of the file (it is one of the parser's
/// fixed sentences); otherwise a generic one.
fn safe_message(message: &str, text: &str) -> String {
    const WINDOW: usize = 4;
    let leaks = text.lines().any(|l| {
        let value = l.split_once('=').map_or(l, |(_, v)| v);
        let chars: Vec<char> = value.trim().chars().collect();
        chars.windows(WINDOW).any(|w| {
            let piece: String = w.iter().collect();
            // Words of the parser's own vocabulary are fine; anything else from the file is not.
            !piece.chars().all(|c| c.is_ascii_lowercase() || c == ' ') && message.contains(&piece)
        })
    });
    let first = message.lines().next().unwrap_or_default().trim();
    if leaks || first.is_empty() {
        "not valid TOML".to_owned()
    } else {
        first.to_owned()
    }
}

/// How a key the file does not know is shown: only when it looks like a key name (a value
/// pasted on its own line must not be echoed).
fn show_unknown(name: &str) -> String {
    let looks_like_key = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if looks_like_key {
        format!("unknown key `{name}`")
    } else {
        format!(
            "an unknown key ({} characters, not shown in case it is a secret)",
            name.chars().count()
        )
    }
}

fn type_name(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

impl RawConfig {
    /// The settings of a TOML file. Unknown keys are refused, so a typo does not silently
    /// leave a setting at its default. Errors never quote the file's text.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let io = |e: std::io::Error| file_error(path, e.to_string());
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(file_error(
                path,
                format!(
                    "the file is {len} bytes, over the {MAX_FILE_BYTES}-byte limit of a configuration file"
                ),
            ));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = line_of(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            );
            file_error(path, format!("line {line}: the file is not UTF-8 text"))
        })?;
        Self::from_toml_str(&text, path)
    }

    /// The settings of TOML text read from `path` (the path is only used in messages).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        type Doc = BTreeMap<Spanned<String>, Spanned<toml::Value>>;
        let table: Doc = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let at = match (line, line.and_then(|l| key_near(text, l))) {
                (Some(l), Some(k)) => format!("line {l} (near `{k}`): "),
                (Some(l), None) => format!("line {l}: "),
                (None, _) => String::new(),
            };
            file_error(
                path,
                format!(
                    "{at}{} (the line is not shown, as it may hold a secret; quote string values: key = \"value\")",
                    safe_message(e.message(), text)
                ),
            )
        })?;
        let mut raw = Self::new();
        for (name, value) in table {
            let line = line_of(text, name.span().start);
            let name = name.into_inner();
            let Some(key) = keys::ALL.iter().find(|k| k.toml == name) else {
                let known: Vec<&str> = keys::ALL.iter().map(|k| k.toml).collect();
                return Err(file_error(
                    path,
                    format!(
                        "line {line}: {}; known keys: {}",
                        show_unknown(&name),
                        known.join(", ")
                    ),
                ));
            };
            let wrong = |found: &toml::Value, want: &str| {
                file_error(
                    path,
                    format!(
                        "line {line}: `{}` must be {want}, found {} (the value is not shown)",
                        key.toml,
                        type_name(found)
                    ),
                )
            };
            let text = match value.into_inner() {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s),
                            other => return Err(wrong(&other, "a list of strings")),
                        }
                    }
                    parts.join(",")
                }
                other => return Err(wrong(&other, "a string")),
            };
            raw.insert(
                *key,
                text,
                Origin::File {
                    path: path.to_owned(),
                    key: key.toml,
                    line,
                },
            );
        }
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn a_parser_message_quoting_the_file_is_replaced() {
        let text = "client_secret = Abc~SECRET";
        assert_eq!(
            safe_message("string values must be quoted", text),
            "string values must be quoted"
        );
        assert_eq!(
            safe_message("unexpected `Abc~SECRET`", text),
            "not valid TOML"
        );
    }

    #[test]
    fn unknown_keys_are_shown_only_when_they_look_like_keys() {
        assert_eq!(
            show_unknown("enviroment_url"),
            "unknown key `enviroment_url`"
        );
        assert!(!show_unknown("Abc8Q~s3cr3t").contains("s3cr3t"));
    }
}

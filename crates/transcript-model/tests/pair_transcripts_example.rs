//! The `pair_transcripts` example's contract: JSON Lines on stdout in input order, one stderr
//! line per bad row naming it, exit 0 unless the file cannot be read or is not a page.
//!
//! The example's `run` is compiled into this test as a module, so the real program is tested.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../../../examples/pair_transcripts.rs"]
mod example;

use std::path::PathBuf;

use serde_json::{Value, json};

const ROWS: &[u8] = include_bytes!("fixtures/slg-conversationtranscripts.json");

struct Output {
    status: u8,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Output {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = example::run(args.iter().map(|s| (*s).to_owned()), &mut out, &mut err);
    Output {
        status,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

/// A scratch file unique to this test process and name.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pair-transcripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn real_rows_print_one_record_per_line_in_input_order() {
    let file = temp_file("rows.json", ROWS);
    let o = run(&[file.to_str().unwrap(), "--environment-id", "env-1"]);
    assert_eq!(o.status, example::EXIT_OK, "{}", o.stderr);
    assert_eq!(o.stderr, "");
    let records = lines(&o.stdout);
    // 3+2+2+2+2+5+2+2+3+1+2 pairs in the 11 rows.
    assert_eq!(records.len(), 26);
    let rows: Vec<Value> = serde_json::from_slice(ROWS).unwrap();
    let mut expected_paths = Vec::new();
    for (row, count) in rows.iter().zip([3, 2, 2, 2, 2, 5, 2, 2, 3, 1, 2]) {
        let id = row["conversationtranscriptid"].as_str().unwrap();
        for n in 0..count {
            expected_paths.push(format!("/copilot/conversation/{id}/message/{n}"));
        }
    }
    let paths: Vec<&str> = records
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, expected_paths);
    // Without a bots file the name comes from metadata.BotName.
    let tag: Value = serde_json::from_str(records[0]["tag"].as_str().unwrap()).unwrap();
    assert_eq!(
        tag,
        json!({"source": "COPILOT_STUDIO", "bot-name": "cr3e5-testcopilot",
               "bot-schemaname": "cr3e5_testCopilot", "bot-environment-id": "env-1"})
    );
    for r in &records {
        assert!(r.as_object().unwrap().values().all(Value::is_string));
    }
}

#[test]
fn a_bots_file_names_the_bots_and_odata_pages_work() {
    let odata = format!(r#"{{"value":{}}}"#, std::str::from_utf8(ROWS).unwrap());
    let file = temp_file("odata.json", odata.as_bytes());
    let bots = temp_file(
        "bots.json",
        br#"{"value":[{"botid":"4d4799b8-d46e-ef11-a670-001dd804edd8","name":"Test Copilot","schemaname":"cr3e5_testCopilot"}]}"#,
    );
    let o = run(&[
        file.to_str().unwrap(),
        "--bots",
        bots.to_str().unwrap(),
        "--host",
        "agents.example.test",
    ]);
    assert_eq!(o.status, example::EXIT_OK, "{}", o.stderr);
    let records = lines(&o.stdout);
    assert_eq!(records.len(), 26);
    let tag: Value = serde_json::from_str(records[0]["tag"].as_str().unwrap()).unwrap();
    assert_eq!(tag["bot-name"], "test-copilot");
    // The other bot is not in the bots file: metadata.BotName.
    let dor = records
        .iter()
        .find(|r| r["path"].as_str().unwrap().contains("f974eb00"))
        .unwrap();
    let tag: Value = serde_json::from_str(dor["tag"].as_str().unwrap()).unwrap();
    assert_eq!(tag["bot-name"], "cr3e5-dorbot");
    let headers: Value =
        serde_json::from_str(records[0]["requestHeaders"].as_str().unwrap()).unwrap();
    assert_eq!(headers["host"], "agents.example.test");
}

#[test]
fn bad_rows_get_one_stderr_line_each_and_exit_zero() {
    let page = json!([
        {"conversationtranscriptid": "good-1", "content": r#"{"activities":[{"type":"message","from":{"role":1},"text":"q1"}]}"#},
        {"conversationtranscriptid": "broken", "content": "{\"activities\": ["},
        7,
        {"conversationtranscriptid": "good-2", "content": r#"{"activities":[{"type":"message","from":{"role":0},"text":"hi"}]}"#},
        {"conversationtranscriptid": "no-content"}
    ]);
    let file = temp_file("mixed.json", page.to_string().as_bytes());
    let o = run(&[file.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_OK);
    let paths: Vec<String> = lines(&o.stdout)
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/copilot/conversation/good-1/message/0",
            "/copilot/conversation/good-2/message/0"
        ]
    );
    let errors: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(errors.len(), 3, "{}", o.stderr);
    assert!(errors[0].contains("#1 broken"), "{}", errors[0]);
    assert!(
        errors[1].contains("#2") && errors[1].contains("a number"),
        "{}",
        errors[1]
    );
    assert!(errors[2].contains("#4 no-content"), "{}", errors[2]);
}

#[test]
fn an_empty_page_prints_nothing_and_succeeds() {
    let file = temp_file("empty.json", br#"{"value":[]}"#);
    let o = run(&[file.to_str().unwrap()]);
    assert_eq!(
        (o.status, o.stdout.as_str(), o.stderr.as_str()),
        (0, "", "")
    );
}

#[test]
fn unreadable_or_non_json_files_fail_without_printing_records() {
    let missing = std::env::temp_dir().join("pair-transcripts-does-not-exist.json");
    let o = run(&[missing.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_FAILURE);
    assert!(o.stderr.contains("cannot read"), "{}", o.stderr);

    // Truncated after the first complete rows: no record may escape.
    let cut = &ROWS[..ROWS.len() / 2];
    let file = temp_file("cut.json", cut);
    let o = run(&[file.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_FAILURE);
    assert_eq!(o.stdout, "");
    assert!(o.stderr.contains("not valid JSON"), "{}", o.stderr);

    for (name, text) in [("object.json", &b"{\"x\":1}"[..]), ("number.json", b"42")] {
        let file = temp_file(name, text);
        let o = run(&[file.to_str().unwrap()]);
        assert_eq!(o.status, example::EXIT_FAILURE, "{name}");
        assert_eq!(o.stdout, "");
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    }

    let file = temp_file("ok.json", b"[]");
    let bad_bots = temp_file("bad-bots.json", b"not json");
    let o = run(&[file.to_str().unwrap(), "--bots", bad_bots.to_str().unwrap()]);
    assert_eq!(o.status, example::EXIT_FAILURE);
    assert!(o.stderr.contains("bots file"), "{}", o.stderr);
}

#[test]
fn bad_command_lines_exit_two() {
    for args in [&[][..], &["a", "b"], &["--bots"], &["--nope", "f"]] {
        let o = run(args);
        assert_eq!(o.status, example::EXIT_USAGE, "{args:?}");
        assert!(o.stderr.contains("usage:"), "{}", o.stderr);
        assert_eq!(o.stdout, "");
    }
}

/// A stdout that fails every write with `kind`.
struct Failing(std::io::ErrorKind);

impl std::io::Write for Failing {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(self.0.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(self.0.into())
    }
}

#[test]
fn a_closed_stdout_is_a_quiet_success_other_write_errors_fail() {
    let file = temp_file("rows-for-pipe.json", ROWS);
    let args = || std::iter::once(file.to_str().unwrap().to_owned());
    let mut err = Vec::new();
    let status = example::run(
        args(),
        &mut Failing(std::io::ErrorKind::BrokenPipe),
        &mut err,
    );
    assert_eq!((status, err.as_slice()), (example::EXIT_OK, &b""[..]));
    let mut err = Vec::new();
    let status = example::run(
        args(),
        &mut Failing(std::io::ErrorKind::StorageFull),
        &mut err,
    );
    assert_eq!(status, example::EXIT_FAILURE);
    let err = String::from_utf8(err).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("writing stdout"), "{err}");
}

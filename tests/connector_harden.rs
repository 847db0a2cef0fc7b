//! End-to-end hardening of `copilot-connector`: no secret in any output, absurd settings refused
//! by name, one checkpoint store per file however it is spelt, damaged stores refused with the
//! fix, one checkpoint scope per output file, unknown bot ids, the delivery deadline and the
//! exit status of a schedule whose last pass failed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use support::binary::text;
use support::*;
use tenant_emulator::RunningEmulator;

async fn emulator(transcripts: usize) -> RunningEmulator {
    seeded(17, 3, transcripts).await
}

/// `copilot-connector args` run in `dir`.
fn cmd(env: &HashMap<String, String>, dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut c = binary::command(env, args);
    c.current_dir(dir);
    c
}

async fn run(env: &HashMap<String, String>, dir: &Path, args: &[&str]) -> Output {
    cmd(env, dir, args).output().await.unwrap()
}

/// A TCP server that accepts connections and never answers.
async fn hung_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

const SECRET: &str = "Qx7~TopS3cretValueOfTheApp";

/// Every malformed form of a secret-bearing key in a TOML file.
fn malformed(key: &str) -> Vec<String> {
    let s = SECRET;
    vec![
        format!("{key} = {s}\n"),
        format!("{key} = \"{s}\"\n{key} = \"{s}\"\n"),
        format!("{key} = {{v=\"{s}\"}}\n"),
        format!("{key} = [\"{s}\", 1]\n"),
        format!("{key} = '{s}\n"),
        format!("{key} = \"{s}\n"),
        format!("[{key}]\nv = \"{s}\"\n"),
        format!("{key} = \"{s}\" trailing\n"),
        format!("{key} = \"{s}\"\n{s}\n"),
        format!("{s} = \"x\"\n"),
        format!("{key} = 1{s}\n"),
    ]
}

fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "toml")
                && String::from_utf8_lossy(&std::fs::read(&p).unwrap()).contains(needle)
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output_from_a_malformed_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let none = HashMap::new();
    let mut runs = 0;
    for key in ["client_secret", "akto_token"] {
        for (i, form) in malformed(key).iter().enumerate() {
            std::fs::write(
                &file,
                format!("environment_url = \"https://contoso.crm.dynamics.com\"\n{form}"),
            )
            .unwrap();
            for args in [
                &["ingest", "--once"][..],
                &["doctor"],
                &["doctor", "--json"],
                &["agents", "--json"],
                &["state", "check", "--json"],
            ] {
                let mut args = args.to_vec();
                args.extend(["--config", "c.toml"]);
                let out = run(&none, dir.path(), &args).await;
                runs += 1;
                let (o, e) = (text(&out.stdout), text(&out.stderr));
                for piece in [SECRET, "TopS3cret", "Qx7~"] {
                    assert!(
                        !o.contains(piece) && !e.contains(piece),
                        "{key} form {i} {args:?}: stdout {o} stderr {e}"
                    );
                }
                assert_eq!(
                    out.status.code(),
                    Some(2),
                    "{key} form {i} {args:?}: {e}{o}"
                );
                assert!(
                    format!("{o}{e}").contains("line "),
                    "{key} form {i} {args:?}: {o}{e}"
                );
            }
        }
    }
    assert!(runs >= 100, "{runs}");
    assert!(
        files_containing(dir.path(), "TopS3cret").is_empty(),
        "{:?}",
        files_containing(dir.path(), "TopS3cret")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_durations_exit_2_naming_the_setting_even_with_a_checkpoint() {
    let emu = emulator(5).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let out = run(&env, dir.path(), &["ingest", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (args, named) in [
        (&["--since", "99999999999d"][..], "--since is invalid"),
        (&["--overlap", "99999999999d"], "--overlap is invalid"),
        (
            &["--overlap", "18446744073709551616"],
            "--overlap is invalid",
        ),
        (
            &["--delivery-timeout", "0s"],
            "--delivery-timeout is invalid",
        ),
    ] {
        let mut a = vec!["ingest", "--once"];
        a.extend(args);
        let out = run(&env, dir.path(), &a).await;
        let e = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(named), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
    let mut env2 = env.clone();
    env2.insert("COPILOT_CONNECTOR_OVERLAP".into(), "99999999999d".into());
    let out = run(&env2, dir.path(), &["ingest", "--once"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("COPILOT_CONNECTOR_OVERLAP is invalid"));
    let out = run(&env, dir.path(), &["ingest", "--every", "99999999999d"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--every"));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_the_state_file_is_one_locked_store() {
    let emu = emulator(3).await;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("s.db");
    let env = env_for(&emu, &real, &[]);
    let (c, _) = connector(config(&env, connector::config::Needs::Ingest), &clock());
    let _held = c.open_state().unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for spelling in [
        link.display().to_string(),
        "./s.db".to_owned(),
        "s.db".into(),
    ] {
        let env = env_for(&emu, Path::new(&spelling), &[]);
        let out = run(&env, dir.path(), &["ingest", "--once"]).await;
        assert_eq!(
            out.status.code(),
            Some(3),
            "{spelling}: {}",
            text(&out.stderr)
        );
    }
    assert!(emu.ingestion().is_empty());
    let out = run(&env, dir.path(), &["ingest", "--once", "--state", ""]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--state is invalid: the path is empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_damaged_stores_are_refused_with_the_fix_and_checked() {
    let emu = emulator(3).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let env = env_for(&emu, &state, &[]);
    for (what, bytes) in [
        ("zero bytes", Vec::new()),
        ("not a database", b"this is not a database\n".repeat(400)),
    ] {
        std::fs::write(&state, &bytes).unwrap();
        let out = run(&env, dir.path(), &["ingest", "--once"]).await;
        let e = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {e}");
        assert!(e.contains("move it aside"), "{what}: {e}");
        assert!(e.contains("--since"), "{what}: {e}");
        assert!(emu.ingestion().is_empty(), "{what}: nothing is re-sent");
        assert_eq!(std::fs::read(&state).unwrap(), bytes, "left as it was");

        let out = run(&env, dir.path(), &["state", "check"]).await;
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(text(&out.stdout).contains("fix: move it aside"));
        let out = run(&env, dir.path(), &["doctor", "--json"]).await;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "state")
            .unwrap()
            .clone();
        assert_eq!(check["status"], "fail", "{check}");
    }
    std::fs::rename(&state, dir.path().join("s.db.damaged")).unwrap();
    let out = run(&env, dir.path(), &["state", "check"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("no checkpoint store yet"));
    let out = run(&env, dir.path(), &["ingest", "--once"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&env, dir.path(), &["state", "check", "--json"]).await;
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h["soundness"], "sound", "{h}");
    assert_eq!(h["scopes"].as_array().unwrap().len(), 1, "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_output_file_is_one_checkpoint_scope_however_it_is_spelt() {
    let emu = emulator(20).await;
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..20));
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let absolute = dir.path().join("o.jsonl").display().to_string();
    for spelling in ["o.jsonl", "./o.jsonl", absolute.as_str(), "sub/../o.jsonl"] {
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        let out = run(
            &env,
            dir.path(),
            &["ingest", "--once", "--output", spelling],
        )
        .await;
        assert!(out.status.success(), "{spelling}: {}", text(&out.stderr));
        let lines = std::fs::read_to_string(dir.path().join("o.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.contains(r#""path":"/copilot/bot/"#))
            .count();
        assert_eq!(lines, expected.len(), "{spelling} sent the pairs again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_ids_matching_no_agent_warn_and_fail_with_strict() {
    let emu = emulator(10).await;
    let dir = tempfile::tempdir().unwrap();
    let real = emu.tenant().bot_rows()[0]["botid"]
        .as_str()
        .unwrap()
        .to_owned();
    let ghost = "0badb0d1-0000-4000-8000-000000000001";
    let ids = format!("{real},{ghost}");
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("COPILOT_BOT_ID", ids.as_str())],
    );
    let out = run(&env, dir.path(), &["ingest", "--once", "--strict"]).await;
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("match no agent") && e.contains(ghost), "{e}");
    assert!(emu.ingestion().is_empty(), "strict stops before delivering");

    let out = run(&env, dir.path(), &["ingest", "--once"]).await;
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert!(
        e.contains("match no agent") && e.contains(ghost),
        "a warning: {e}"
    );
    assert!(!emu.ingestion().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_ingestion_service_fails_the_pass_at_the_deadline_with_a_message() {
    let emu = emulator(3).await;
    let dir = tempfile::tempdir().unwrap();
    let hung = hung_server().await;
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("DATA_INGESTION_SERVICE_URL", hung.as_str())],
    );
    let started = std::time::Instant::now();
    let out = run(
        &env,
        dir.path(),
        &["ingest", "--once", "--delivery-timeout", "1s"],
    )
    .await;
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("did not accept the batch within 1s (the delivery deadline)"),
        "at the default verbosity: {e}"
    );
    // Not the retry policy's 10 minutes (generous bound: the machine is shared).
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_whose_last_pass_failed_exits_1_after_sigterm() {
    let emu = emulator(3).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung = format!("http://{}", listener.local_addr().unwrap());
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("DATA_INGESTION_SERVICE_URL", hung.as_str())],
    );
    let child = cmd(
        &env,
        dir.path(),
        &["ingest", "--every", "1h", "--delivery-timeout", "1s"],
    )
    .spawn()
    .unwrap();
    // The first delivery is in flight: stop the schedule now; that pass then fails.
    let (socket, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept())
        .await
        .expect("no delivery attempt")
        .unwrap();
    let out = binary::sigterm(child, Duration::from_secs(60)).await;
    drop(socket);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("the last pass failed"), "{e}");
}

/// Every line of a JSON Lines file, parsed; panics on a line that is not JSON.
fn jsonl_paths(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the file ends in a partial line"
    );
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {:.120}", i + 1, l));
            v["path"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_large_file_batches_leaves_only_whole_lines_and_loses_nothing() {
    use rand::{Rng, SeedableRng};
    const TRANSCRIPTS: usize = 600;
    let emu = emulator(TRANSCRIPTS).await;
    let expected = expected_paths(&emu, emu.tenant().transcript_rows(0..TRANSCRIPTS));
    // Large batches: the whole pass is a few writes of many records each.
    let args = [
        "ingest",
        "--once",
        "--output",
        "pairs.jsonl",
        "--batch-size",
        "1000",
    ];
    // A reference run: how large the whole file gets.
    let reference = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &reference.path().join("s.db"), &[]);
    let out = run(&env, reference.path(), &args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let total = std::fs::metadata(reference.path().join("pairs.jsonl"))
        .unwrap()
        .len();
    assert!(
        total > 1_000_000,
        "batches too small to tear: {total} bytes"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pairs.jsonl");
    let env = env_for(&emu, &dir.path().join("s.db"), &[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x70e1);
    let mut kills = 0;
    for _ in 0..4 {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let target = size(&file) + rng.random_range(1..=total / 3);
        let mut child = cmd(&env, dir.path(), &args).spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if size(&file) >= target || std::time::Instant::now() > deadline {
                break;
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "exited with {status}");
            break;
        }
        child.kill().await.unwrap(); // SIGKILL
        kills += 1;
        // Whatever the kill interrupted, the next open leaves whole lines only.
        jsonl_paths_after_repair(&file).await;
    }
    assert!(
        kills >= 2,
        "the pass was too quick to be killed ({kills} kills)"
    );
    // A torn tail as an older version's chunked writes could leave it.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        f.write_all(br#"{"path":"/copilot/conversation/torn","requestPay"#)
            .unwrap();
    }
    let out = run(&env, dir.path(), &args).await;
    let e = text(&out.stderr);
    assert!(out.status.success(), "{e}");
    assert!(
        e.contains("partial last line"),
        "the repair is reported: {e}"
    );
    let paths = jsonl_paths(&file);
    let got: std::collections::BTreeSet<&String> = paths.iter().collect();
    let missing: Vec<&String> = expected.iter().filter(|p| !got.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "{} pairs lost after {kills} kills",
        missing.len()
    );
    eprintln!(
        "{} pairs, {kills} kills, {} lines ({} repeated)",
        expected.len(),
        paths.len(),
        paths.len() - expected.len()
    );
}

/// Opens the file as the sink does (cutting a torn tail), then checks every line.
async fn jsonl_paths_after_repair(file: &Path) {
    if !file.exists() {
        return;
    }
    let sink = connector::sink::JsonLinesSink::file(file).await.unwrap();
    if let Some(t) = sink.repaired() {
        eprintln!("a kill tore the last line: {} bytes cut", t.bytes);
    }
    jsonl_paths(file);
}

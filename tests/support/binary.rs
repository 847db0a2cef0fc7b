//! Running the package's binaries from end-to-end tests: `copilot-connector` and
//! `copilot-shield` started with exactly the given settings, what they print, and killing a
//! run with SIGKILL part-way through a delivery.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::process::{Output, Stdio};
use std::time::Duration;
use tenant_emulator::RunningEmulator;
use tokio::process::Command;

/// `program args` with `env` as its whole environment (nothing inherited from the test
/// runner can change what it reads), no stdin, stdout and stderr piped, killed if dropped.
pub fn program<I, S>(program: &str, env: &HashMap<String, String>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(program);
    c.args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// `copilot-connector args`, as [`program`] starts it.
pub fn command<I, S>(env: &HashMap<String, String>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    program(env!("CARGO_BIN_EXE_copilot-connector"), env, args)
}

/// `copilot-shield args`, as [`program`] starts it.
pub fn shield<I, S>(env: &HashMap<String, String>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    program(env!("CARGO_BIN_EXE_copilot-shield"), env, args)
}

/// `copilot-connector args` run to its end.
pub async fn run<I, S>(env: &HashMap<String, String>, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(env, args)
        .output()
        .await
        .expect("copilot-connector starts")
}

/// `copilot-connector args` run to its end: exit status (-1 when killed), stdout, stderr.
pub async fn run_text<I, S>(env: &HashMap<String, String>, args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = run(env, args).await;
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// What a binary printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts that `out` exited with `code`, showing its stderr otherwise.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
}

/// `copilot-connector args` for a delivery that is killed part-way: as [`command`], but stdout
/// goes nowhere, so a run nobody reads cannot block on a full pipe.
pub fn killable<I, S>(env: &HashMap<String, String>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = command(env, args);
    c.stdout(Stdio::null());
    c
}

/// Starts `command` up to `times` times and kills each run with SIGKILL once the emulator's
/// ingestion endpoint holds `kill_at(records before the run)` records. A run that finishes
/// first must succeed, and ends the loop. Returns how many runs were killed.
pub async fn kill_while_delivering(
    emu: &RunningEmulator,
    command: impl Fn() -> Command,
    times: usize,
    mut kill_at: impl FnMut(usize) -> usize,
) -> usize {
    let mut kills = 0;
    for _ in 0..times {
        let target = kill_at(emu.ingestion().len());
        let mut child = command().spawn().expect("the binary starts");
        let reached = emu
            .ingestion()
            .wait_for(target, Duration::from_secs(120))
            .await;
        if let Ok(Some(status)) = child.try_wait() {
            // The run finished before its kill point.
            assert!(status.success(), "exited with {status}");
            break;
        }
        assert!(
            reached,
            "no progress: {} records after 120 s",
            emu.ingestion().len()
        );
        child.kill().await.expect("SIGKILL");
        kills += 1;
    }
    kills
}

/// Runs `command` to its end, which must succeed (the run after the kills).
pub async fn finish(mut command: Command) {
    let output = command.output().await.expect("the binary starts");
    assert!(
        output.status.success(),
        "final run failed: {}",
        text(&output.stderr)
    );
}

/// Asserts every `expected` path was delivered at least once and nothing else was; returns
/// how many records were delivered more than once.
pub fn assert_none_lost<'a>(
    counts: &BTreeMap<String, usize>,
    expected: impl IntoIterator<Item = &'a String>,
) -> usize {
    let expected: Vec<&String> = expected.into_iter().collect();
    let missing: Vec<&&String> = expected
        .iter()
        .filter(|p| !counts.contains_key(p.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} pairs lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    assert_eq!(counts.len(), expected.len(), "unexpected paths delivered");
    counts.values().map(|n| n - 1).sum()
}

/// Sends SIGTERM to `child` and waits up to `within` for it to stop; what it printed.
pub async fn sigterm(child: tokio::process::Child, within: Duration) -> Output {
    let pid = child.id().expect("the child is running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -TERM {pid} failed");
    tokio::time::timeout(within, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the run did not stop within {within:?} of SIGTERM"))
        .expect("the child's output")
}

/// Reads `child`'s stderr (which it takes) until a line containing `needle`, for at most
/// `within`: that line, or `None` if the child closed stderr or the time ran out first. The
/// rest of stderr is read and dropped, so the child never writes into a closed pipe. For
/// waiting on a child's own word that it reached a state, rather than sleeping.
pub async fn stderr_line(
    child: &mut tokio::process::Child,
    needle: &str,
    within: Duration,
) -> Option<String> {
    use tokio::io::AsyncBufReadExt;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (found_tx, found_rx) = tokio::sync::oneshot::channel();
    let needle = needle.to_owned();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut found = Some(found_tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(&needle)
                && let Some(tx) = found.take()
            {
                let _ = tx.send(line);
            }
        }
    });
    tokio::time::timeout(within, found_rx).await.ok()?.ok()
}

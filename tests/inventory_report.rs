//! `inventory report`: the command line end to end (a scan of the emulator, then the report
//! from the state store and from the scan's file), and the HTML page in a real headless
//! browser: it renders, sorts and filters, driven through its URL fragment.
//!
//! The browser is Debian's `chromium` (or `CHROMIUM=/path/to/chrome`). Without one the browser
//! tests print why they skip; with `CI` set they fail instead, so CI cannot pass them silently
//! (`.ci/run` installs chromium when it is missing).

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
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use support::binary;

use connector::inventory::report::{Format, RenderOptions, Report, Risk};
use futures::StreamExt;
use serde_json::{Value, json};
use support::binary::text;
use support::env_for;
use tenant_emulator::Emulator;

const SCRIPT_NAME: &str = "<script>alert(1)</script> agent";
const QUOTE_NAME: &str = "Tom & \"Jerry's\" <b>bot</b>";
const CJK_NAME: &str = "日本語のエージェント";
const CYRILLIC_NAME: &str = "Помощник по кадрам";

fn agent(id: &str, env: &str, name: &str) -> Value {
    json!({ "fsi_agentid": id, "fsi_environmentid": env, "fsi_agentname": name,
            "fsi_publishedstate": "Published", "fsi_authmode": "Authenticate with Microsoft" })
}

fn posture(agent: &str, env: &str, risk: &str, found: &[&str]) -> Value {
    let results: Vec<Value> = found
        .iter()
        .map(|c| {
            json!({ "check": c, "severity": "medium", "status": "found",
                          "evidence": [{ "source_id": agent, "path": "/x", "value": "seen" }] })
        })
        .collect();
    json!({ "agent_id": agent, "environment_id": env, "risk": risk, "results": results })
}

/// A known inventory: eight agents in three environments, hostile and non-Latin names, a
/// spread of risks and finding counts (ties included, to check that sorting is stable).
fn known_inventory() -> Value {
    json!({
        "fsi_copilotagent": [
            agent("a1", "e1", SCRIPT_NAME),
            agent("a2", "e1", QUOTE_NAME),
            agent("a3", "e2", CJK_NAME),
            agent("a4", "e2", CYRILLIC_NAME),
            agent("a5", "e2", "Alpha helper"),
            agent("a6", "e3", "Bravo desk"),
            agent("a7", "e3", "Charlie orders"),
            agent("a8", "e3", "Delta & Echo"),
        ],
        "fsi_caienvironment": [
            { "fsi_environmentid": "e1", "fsi_environmentname": "Contoso Prod", "fsi_environmenttype": "Production" },
            { "fsi_environmentid": "e2", "fsi_environmentname": "Fabrikam Dev", "fsi_environmenttype": "Developer" },
            { "fsi_environmentid": "e3", "fsi_environmentname": "Zeta Sandbox", "fsi_environmenttype": "Sandbox" }
        ],
        "postures": [
            posture("a1", "e1", "Critical", &["shared-with-everyone", "no-end-user-auth", "hard-coded-credentials"]),
            posture("a2", "e1", "High", &["no-end-user-auth"]),
            posture("a3", "e2", "Medium", &["public-knowledge", "http-request"]),
            posture("a4", "e2", "High", &["maker-credentials", "external-tools", "http-request", "public-knowledge"]),
            posture("a5", "e2", "Low", &[]),
            posture("a6", "e3", "Medium", &["public-knowledge"]),
            posture("a7", "e3", "High", &["shared-with-everyone", "dormant"]),
            posture("a8", "e3", "Unknown", &[]),
        ],
        "summary": {
            "run_id": "known-run", "status": "complete", "finished_at": "2026-12-02T06:00:00Z",
            "coverage_gaps": [
                { "kind": "dataverse_only", "reason": "unexplained", "environment_id": "e3", "agent_id": "a8", "detail": "in Dataverse | not in <inventory>" }
            ]
        }
    })
}

// ---- the browser ----

/// The headless browser, if one is installed; `CHROMIUM` names one explicitly.
fn browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The browser, or `None` after saying why the test skips; under CI a missing browser fails.
fn browser_or_skip(test: &str) -> Option<PathBuf> {
    match browser() {
        Some(b) => Some(b),
        None if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => panic!(
            "{test}: no headless browser found (looked for chromium, chromium-browser, google-chrome on PATH and $CHROMIUM) \
             and CI is set: install one (`apt-get install -y chromium`; .ci/run does this) so this test really runs"
        ),
        None => {
            eprintln!(
                "SKIPPED {test}: no headless browser (install Debian's chromium or set CHROMIUM=/path/to/chrome to run it)"
            );
            None
        }
    }
}

/// Runs the headless browser on `url` with `extra` arguments (a fresh profile each time).
async fn run_browser(browser: &Path, dir: &Path, url: &str, extra: &[String]) -> Output {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let mut cmd = tokio::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("the browser did not finish within 90 s")
        .expect("the browser could not be started");
    assert!(
        out.status.success(),
        "the browser failed on {url}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The page's DOM after its script ran with `fragment` in the URL.
async fn dom(browser: &Path, page: &Path, fragment: &str) -> String {
    let url = format!("file://{}#{fragment}", page.display());
    let out = run_browser(
        browser,
        page.parent().unwrap(),
        &url,
        &["--dump-dom".to_owned()],
    )
    .await;
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("<table id=\"agents\""), "no report in: {dom}");
    dom
}

/// One table's rows as (agent id or code, hidden) in DOM order.
fn rows(dom: &str, table: &str) -> Vec<(String, bool)> {
    let start = dom
        .find(&format!("<table id=\"{table}\""))
        .unwrap_or_else(|| panic!("no table {table}"));
    let end = start + dom[start..].find("</table>").unwrap();
    let body = &dom[start..end];
    body.split("<tr ")
        .skip(1)
        .filter(|r| r.contains("<td"))
        .map(|r| {
            let tag = &r[..r.find('>').unwrap()];
            let id = ["data-agent-id=\"", "data-code=\"", "data-environment-id=\""]
                .iter()
                .find_map(|attr| {
                    let at = tag.find(attr)? + attr.len();
                    Some(tag[at..at + tag[at..].find('"')?].to_owned())
                })
                .unwrap_or_default();
            (id, tag.contains("hidden"))
        })
        .collect()
}

fn visible(dom: &str, table: &str) -> Vec<String> {
    rows(dom, table)
        .into_iter()
        .filter(|(_, hidden)| !hidden)
        .map(|(id, _)| id)
        .collect()
}

fn write_page(dir: &Path) -> (Report, PathBuf) {
    let report = Report::from_document(&known_inventory()).unwrap();
    let page = dir.join("inventory-report.html");
    std::fs::write(
        &page,
        report.render(Format::Html, &RenderOptions::default()),
    )
    .unwrap();
    (report, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_sorts_and_filters_in_a_real_browser() {
    let Some(browser) = browser_or_skip("the_page_sorts_and_filters_in_a_real_browser") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (report, page) = write_page(dir.path());
    let report_order: Vec<String> = report.agents.iter().map(|a| a.agent_id.clone()).collect();

    // No fragment: the report's own order (risk, environment, name), every row shown, and the
    // hostile name is text (the page's only script element is its own).
    // Each view is one browser run; three run at once to keep the test short.
    let views = [
        "",
        "sort=findings:desc",
        "sort=findings:asc",
        "sort=agent:desc&filter=fabrikam",
        "risk=high",
        "filter=%3Cscript%3E",
    ];
    let doms: Vec<String> = futures::stream::iter(views)
        .map(|fragment| dom(&browser, &page, fragment))
        .buffered(3)
        .collect()
        .await;
    let [plain, by_findings, ascending, filtered, high, hostile]: [String; 6] =
        doms.try_into().unwrap();
    assert_eq!(visible(&plain, "agents"), report_order);
    assert_eq!(report_order[0], "a1");
    assert_eq!(plain.matches("<script").count(), 1, "{plain}");
    assert!(plain.contains("&lt;script&gt;alert(1)&lt;/script&gt; agent"));
    assert!(plain.contains(CJK_NAME) && plain.contains(CYRILLIC_NAME));
    assert!(plain.contains("8 shown"), "the script ran and counted");

    // Sorted by findings, most first: ties keep the report's order (a stable sort).
    let mut expected = report.agents.clone();
    expected.sort_by_key(|a| std::cmp::Reverse(a.findings));
    let expected: Vec<String> = expected.into_iter().map(|a| a.agent_id).collect();
    assert_eq!(visible(&by_findings, "agents"), expected);
    assert_eq!(expected[..2], ["a4", "a1"]);
    assert!(
        by_findings.contains("data-key=\"findings\" data-type=\"number\" aria-sort=\"descending\"")
    );

    // Ascending is the reverse for distinct counts, and the header says so.
    let asc = visible(&ascending, "agents");
    assert_eq!(asc.last().map(String::as_str), Some("a4"));
    assert!(ascending.contains("aria-sort=\"ascending\""));

    // A text filter (matching the environment column) with a sort by name, descending: only
    // Fabrikam's three agents, in the browser's collation (Cyrillic and Han after Latin).
    assert_eq!(visible(&filtered, "agents"), ["a3", "a4", "a5"]);
    assert_eq!(
        rows(&filtered, "agents").len(),
        8,
        "rows are hidden, not removed"
    );
    assert!(filtered.contains("3 of 8 shown"));

    // The risk filter: agents and findings of high-risk agents only; gaps are not risk-filtered.
    let high_agents = visible(&high, "agents");
    let expected_high: Vec<String> = report
        .agents
        .iter()
        .filter(|a| a.risk == Risk::High)
        .map(|a| a.agent_id.clone())
        .collect();
    assert_eq!(high_agents, expected_high);
    assert_eq!(high_agents.len(), 3);
    let high_findings = visible(&high, "findings");
    assert_eq!(
        high_findings.len(),
        report
            .findings
            .iter()
            .filter(|f| f.agent_risk == Risk::High)
            .count()
    );
    assert!(high_findings.iter().all(|id| expected_high.contains(id)));
    assert_eq!(visible(&high, "gaps").len(), 1);

    // A filter on markup characters matches the hostile name as text.
    assert_eq!(visible(&hostile, "agents"), ["a1"]);
}

/// The chunk types and size of a PNG, checked by hand (no image crate for one test).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG ({} bytes)",
        bytes.len()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_renders_to_a_non_trivial_screenshot() {
    let Some(browser) = browser_or_skip("the_page_renders_to_a_non_trivial_screenshot") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, page) = write_page(dir.path());
    let shot = |name: &str| dir.path().join(name);
    let size = "--window-size=1280,1600".to_owned();
    run_browser(
        &browser,
        dir.path(),
        &format!("file://{}", page.display()),
        &[
            format!("--screenshot={}", shot("report.png").display()),
            size.clone(),
        ],
    )
    .await;
    // A blank page of the same size, as the floor a rendered report must clear.
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    run_browser(
        &browser,
        dir.path(),
        &format!("file://{}", blank.display()),
        &[
            format!("--screenshot={}", shot("blank.png").display()),
            size,
        ],
    )
    .await;
    let report_png = std::fs::read(shot("report.png")).unwrap();
    let blank_png = std::fs::read(shot("blank.png")).unwrap();
    assert_eq!(png_size(&report_png), (1280, 1600));
    assert_eq!(png_size(&blank_png), (1280, 1600));
    assert!(
        report_png.len() > 20_000 && report_png.len() > 4 * blank_png.len(),
        "the screenshot looks empty: {} bytes against {} for a blank page",
        report_png.len(),
        blank_png.len()
    );
    // Kept beside the test's temporary files only; a failing run can copy it for a look.
    if let Some(keep) = std::env::var_os("INVENTORY_REPORT_SCREENSHOT") {
        std::fs::copy(shot("report.png"), keep).unwrap();
    }
}

// ---- the command line ----

async fn cli(args: &[&str], env: &HashMap<String, String>, cwd: &Path) -> Output {
    let mut c = binary::command(env, args);
    c.current_dir(cwd);
    c.output().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_reads_the_last_scan_from_the_state_or_a_file() {
    let emu = Emulator::builder()
        .seed(5)
        .agents(4)
        .transcripts(8)
        .environments(3)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("inventory.db");
    let mut env = env_for(&emu, &dir.path().join("unused.db"), &[]);
    support::with_inventory_services(&mut env, &emu);
    let state_arg = state.to_str().unwrap();

    // Before any scan: a clear error, and no store is created by asking.
    let none = cli(
        &["inventory", "report", "--inventory-state", state_arg],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(none.status.code(), Some(1), "{}", text(&none.stderr));
    assert!(
        text(&none.stderr).contains("no inventory scan is stored"),
        "{}",
        text(&none.stderr)
    );
    assert!(!state.exists());

    let scan = cli(
        &[
            "inventory",
            "scan",
            "--inventory-state",
            state_arg,
            "--output",
            "inv.json",
        ],
        &env,
        dir.path(),
    )
    .await;
    // Three environments, one planted as unreadable: partial (4) or complete (0).
    assert!(
        matches!(scan.status.code(), Some(0 | 4)),
        "{}",
        text(&scan.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("inv.json")).unwrap())
            .unwrap();

    // The stored scan and the file give the same report.
    let from_state = cli(
        &[
            "inventory",
            "report",
            "--inventory-state",
            state_arg,
            "--format",
            "json",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(
        from_state.status.code(),
        Some(0),
        "{}",
        text(&from_state.stderr)
    );
    let from_file = cli(
        &["inventory", "report", "--input", "inv.json", "--json"],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(
        from_file.status.code(),
        Some(0),
        "{}",
        text(&from_file.stderr)
    );
    assert_eq!(text(&from_state.stdout), text(&from_file.stdout));
    let report: Value = serde_json::from_slice(&from_file.stdout).unwrap();
    let summary = &doc["summary"];
    assert_eq!(report["report_version"], 1);
    assert_eq!(report["run_id"], summary["run_id"]);
    assert_eq!(report["totals"]["agents"], summary["agents"]);
    assert_eq!(report["totals"]["findings"], summary["findings"]);
    assert_eq!(
        report["totals"]["coverage_gaps"].as_u64(),
        summary["coverage_gaps"].as_array().map(|a| a.len() as u64)
    );
    assert_eq!(
        report["agents"].as_array().unwrap().len(),
        doc["fsi_copilotagent"].as_array().unwrap().len()
    );
    // Every environment the scan reported is in the report, with its outcome.
    for e in summary["environments"].as_array().unwrap() {
        let id = e["environment_id"].as_str().unwrap();
        let found = report["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["environment_id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("environment {id} missing"));
        assert_eq!(found["outcome"], e["outcome"]);
    }
    // Findings carry the posture's evidence.
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len() as u64, summary["findings"].as_u64().unwrap());
    assert!(
        findings
            .iter()
            .all(|f| !f["evidence"].as_array().unwrap().is_empty())
    );

    // The other formats, by flag and by file extension.
    let table = cli(
        &["inventory", "report", "--inventory-state", state_arg],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(table.status.code(), Some(0));
    let t = text(&table.stdout);
    assert!(
        t.contains("Agents by environment") && t.contains("Coverage gaps"),
        "{t}"
    );
    assert!(!t.contains('\x1b'), "no colour into a pipe");
    let md = cli(
        &[
            "inventory",
            "report",
            "--input",
            "inv.json",
            "--output",
            "out/r.md",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(md.status.code(), Some(0), "{}", text(&md.stderr));
    assert!(text(&md.stdout).contains("out/r.md"));
    let md = std::fs::read_to_string(dir.path().join("out/r.md")).unwrap();
    assert!(md.starts_with("# Copilot agent inventory"));
    let html = cli(
        &[
            "inventory",
            "report",
            "--inventory-state",
            state_arg,
            "--output",
            "r.html",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(html.status.code(), Some(0), "{}", text(&html.stderr));
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    let first_agent = doc["fsi_copilotagent"][0]["fsi_agentid"].as_str().unwrap();
    assert!(page.contains(first_agent));

    // Bad input is named.
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"fsi_copilotagent": [{"fsi_name": "x"}]}"#,
    )
    .unwrap();
    let bad = cli(
        &["inventory", "report", "--input", "bad.json"],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("bad.json: `fsi_copilotagent`[0] fsi_agentid is missing"),
        "{}",
        text(&bad.stderr)
    );
    let wrong = cli(
        &[
            "inventory",
            "report",
            "--input",
            "inv.json",
            "--format",
            "pdf",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stderr).contains("table, markdown, json or html"));
    emu.shutdown().await;
}

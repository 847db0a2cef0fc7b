//! Starts the tenant emulator in-process at scale (2,000 agents, 100,000 transcripts by default),
//! then measures how long generation + start take, how long the first 5000-row transcript page
//! takes over HTTP, and the process's peak resident memory (VmHWM, Linux).
//!
//! `cargo run --release -p tenant-emulator --example tenant_emulator_scale -- [agents] [transcripts]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

use std::time::Instant;

use serde_json::Value;
use tenant_emulator::Emulator;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let agents = args.first().copied().unwrap_or(2000);
    let transcripts = args.get(1).copied().unwrap_or(100_000);

    let started = Instant::now();
    let emulator = Emulator::builder()
        .seed(7)
        .agents(agents)
        .transcripts(transcripts)
        .start()
        .await
        .expect("start");
    let start_ms = started.elapsed().as_millis();

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let c = emulator.credentials().clone();
    let scope = format!("{}/.default", emulator.environment_url());
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id.to_string()),
            ("client_secret", &c.client_secret),
            ("scope", &scope),
        ])
        .finish();
    let token: Value = http
        .post(emulator.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    let page_started = Instant::now();
    let page: Value = http
        .get(format!("{}conversationtranscripts", emulator.web_api_url()))
        .bearer_auth(&token)
        .header("prefer", "odata.maxpagesize=5000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page_ms = page_started.elapsed().as_millis();
    let rows = page["value"].as_array().map_or(0, Vec::len);
    let has_next = page.get("@odata.nextLink").is_some();

    println!("agents={agents} transcripts={transcripts}");
    println!("start (generate + load + bind): {start_ms} ms");
    println!("first page: {rows} rows (nextLink: {has_next}) in {page_ms} ms");
    println!("start to first page: {} ms", started.elapsed().as_millis());
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS (VmHWM): {} MiB", kib / 1024),
        None => println!("peak RSS: unavailable (no /proc/self/status)"),
    }
    emulator.shutdown().await;
}

//! Throughput of page -> pairs -> Akto records against plain `serde_json::Value` parsing of the
//! same page, and (on request) the peak memory of page -> records.
//!
//! The page holds 5000 generated rows built from the activities of the real rows in
//! `crates/transcript-model/tests/fixtures/` (greetings, generative answers with their
//! `gpt-feedback` channel data, dialog tracing, planner steps), so sizes and shapes follow the
//! fixtures: most conversations have one or two turns, a few have dozens (over 100 KB). Rows
//! are shaped as Dataverse writes them: each session has its own `name`
//! (`{conversationId}_{botId}`), `metadata.BatchId` is a JSON number, and about one long
//! session in ten is split over 2 to 4 rows sharing `name` and `conversationstarttime`, cut
//! anywhere (a prompt may end one row and its reply start the next), some in reverse batch
//! order. Every row parses. The generator is deterministic (fixed seed), so every run
//! measures the same bytes.
//!
//! ```text
//! cargo bench -p transcript-model --bench pairing -- --measurement-time 5
//! PAIRING_PEAK_MEMORY=1 cargo bench -p transcript-model --bench pairing
//! PAIRING_WRITE_PAGE=/tmp/page.json cargo bench -p transcript-model --bench pairing
//! ```
//!
//! With `PAIRING_WRITE_PAGE`, the binary writes the page to that file and exits: the input of
//! the whole-process comparison of `examples/pair_transcripts.rs` with
//! `benches/reference/pair_transcripts.py` (see BENCHMARKS.md).
//!
//! Peak memory: with `PAIRING_PEAK_MEMORY` set, the binary builds the page, resets the
//! kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`), runs page -> records once and
//! reads `VmHWM` from `/proc/self/status`. The figure is the whole process's peak resident set
//! during the conversion, page included, reported as a multiple of the page size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use serde_json::{Value, json};
use transcript_model::AktoConfig;

const FIXTURE: &[u8] =
    include_bytes!("../crates/transcript-model/tests/fixtures/slg-conversationtranscripts.json");
const ROWS: usize = 5000;

/// SplitMix64: small, deterministic, good enough to spread sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

struct Templates {
    rows: Vec<Value>,
    /// Opening activities: ConversationInfo, startConversation, greeting, DialogTracing.
    opening: Vec<Value>,
    /// Turns: a user message and everything up to the next user message.
    turns: Vec<Vec<Value>>,
    closing: Value,
}

fn templates() -> Templates {
    let rows: Vec<Value> = serde_json::from_slice(FIXTURE).unwrap();
    let content = |i: usize| -> Vec<Value> {
        let c: Value = serde_json::from_str(rows[i]["content"].as_str().unwrap()).unwrap();
        c["activities"].as_array().unwrap().clone()
    };
    let is_user_message = |a: &Value| a["type"] == "message" && a["from"]["role"] == json!(1);
    let mut turns = Vec::new();
    // Row 5: four generative-answer turns; row 0: a fallback turn; row 8: a planner turn.
    for row in [5usize, 0, 8] {
        let acts = content(row);
        let body = &acts[..acts.len() - 1]; // drop SessionInfo
        let starts: Vec<usize> = body
            .iter()
            .enumerate()
            .filter(|(_, a)| is_user_message(a))
            .map(|(i, _)| i)
            .collect();
        for (n, &s) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(body.len());
            turns.push(body[s..end].to_vec());
        }
    }
    let first = content(5);
    Templates {
        opening: first[..4].to_vec(),
        closing: first[first.len() - 1].clone(),
        rows,
        turns,
    }
}

/// Turns per transcript: mostly short conversations, a tail of long ones (> 100 KB).
fn turn_count(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=14 => 0,
        15..=59 => 1,
        60..=74 => 2,
        75..=89 => 3 + rng.below(2) as usize,
        90..=96 => 5 + rng.below(5) as usize,
        _ => 11 + rng.below(15) as usize,
    }
}

struct Page {
    bytes: Vec<u8>,
    rows: usize,
    /// Sessions written as more than one row.
    split_sessions: usize,
    content_sizes: Vec<usize>,
}

/// Where a session's activities are cut into rows: 1 to 3 cuts, anywhere after the opening
/// (so a prompt can end one row and its reply start the next, as in real split sessions).
fn cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    let parts = 2 + rng.below(3) as usize;
    let mut at: Vec<usize> = (1..parts)
        .map(|_| 1 + rng.below(len as u64 - 1) as usize)
        .collect();
    at.sort_unstable();
    at.dedup();
    at
}

fn generate_page() -> Page {
    let t = templates();
    let mut rng = Rng(0x5EED_CAFE);
    let mut bytes = Vec::with_capacity(200 << 20);
    bytes.extend_from_slice(br#"{"@odata.context":"https://org.crm.dynamics.com/api/data/v9.2/$metadata#conversationtranscripts","value":["#);
    let mut content_sizes = Vec::with_capacity(ROWS);
    let mut split_sessions = 0;
    let mut rows = 0;
    let mut session = 0usize;
    while rows < ROWS {
        let turns = turn_count(&mut rng);
        let mut acts = t.opening.clone();
        for _ in 0..turns {
            let turn = &t.turns[rng.below(t.turns.len() as u64) as usize];
            let user_id = rng.uuid();
            for a in turn {
                let mut a = a.clone();
                // Fresh ids keep replies pointing at their own prompt.
                if a["type"] == "message" && a["from"]["role"] == json!(1) {
                    a["id"] = json!(user_id);
                } else if a.get("replyToId").is_some() {
                    a["replyToId"] = json!(user_id);
                }
                acts.push(a);
            }
        }
        acts.push(t.closing.clone());
        // A row of the fixtures gives the columns; each session gets its own conversation id
        // (`name` is `{conversationId}_{botId}`), shared by the rows it is split into.
        let template = &t.rows[session % t.rows.len()];
        session += 1;
        let bot_id = template["name"]
            .as_str()
            .and_then(|n| n.rsplit_once('_'))
            .map_or("", |(_, b)| b)
            .to_owned();
        let name = format!("{}_{bot_id}", rng.uuid());
        let mut meta: Value = serde_json::from_str(template["metadata"].as_str().unwrap()).unwrap();
        // Long sessions (about one in ten) are written as 2 to 4 rows, as Dataverse splits a
        // session past its size limit; a few of them arrive in reverse batch order.
        let parts: Vec<&[Value]> = if turns >= 5 && rng.below(4) < 3 {
            let at = cuts(&mut rng, acts.len());
            let mut parts = Vec::new();
            let mut from = 0;
            for &c in &at {
                parts.push(&acts[from..c]);
                from = c;
            }
            parts.push(&acts[from..]);
            split_sessions += 1;
            parts
        } else {
            vec![&acts[..]]
        };
        let mut order: Vec<usize> = (0..parts.len()).collect();
        if parts.len() > 1 && rng.below(4) == 0 {
            order.reverse();
        }
        for batch in order {
            let content = json!({ "activities": parts[batch] }).to_string();
            content_sizes.push(content.len());
            // Dataverse writes BatchId as a JSON number.
            meta["BatchId"] = json!(batch + 1);
            let mut row = template.clone();
            row["conversationtranscriptid"] = json!(rng.uuid());
            row["name"] = json!(name);
            row["metadata"] = json!(meta.to_string());
            row["content"] = json!(content);
            if rows > 0 {
                bytes.push(b',');
            }
            serde_json::to_writer(&mut bytes, &row).unwrap();
            rows += 1;
        }
    }
    bytes.extend_from_slice(b"]}");
    Page {
        bytes,
        rows,
        split_sessions,
        content_sizes,
    }
}

fn config() -> AktoConfig {
    AktoConfig::new(
        "1000000",
        "0",
        "Default-426a6ef4-2476-4eab-ae1c-1c9dc2bfca80",
    )
}

fn describe(page: &Page) {
    let mut sizes = page.content_sizes.clone();
    sizes.sort_unstable();
    let pct = |p: usize| sizes[(sizes.len() - 1) * p / 100];
    eprintln!(
        "page: {} rows ({} sessions split over several rows), {:.1} MB; content size p10 {} B, \
         p50 {} B, p90 {} B, max {} B; {} rows over 100 KB",
        page.rows,
        page.split_sessions,
        page.bytes.len() as f64 / 1e6,
        pct(10),
        pct(50),
        pct(90),
        sizes[sizes.len() - 1],
        sizes.iter().filter(|&&s| s > 100_000).count()
    );
}

fn benches(c: &mut Criterion) {
    let page = generate_page();
    describe(&page);
    let cfg = config();
    let rows = cfg.page_to_records(&page.bytes).unwrap();
    let records: usize = rows.iter().map(|r| r.as_ref().unwrap().len()).sum();
    eprintln!("page -> {records} records");

    let mut group = c.benchmark_group("page_5000");
    group.throughput(Throughput::BytesDecimal(page.bytes.len() as u64));
    group.sample_size(10);
    group.bench_function("parse_only_serde_json_value", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&page.bytes)).unwrap()))
    });
    group.bench_function("page_to_akto_records", |b| {
        b.iter(|| black_box(cfg.page_to_records(black_box(&page.bytes)).unwrap()))
    });
    group.bench_function("parse_page_to_transcripts", |b| {
        b.iter(|| black_box(transcript_model::parse_page(black_box(&page.bytes)).unwrap()))
    });
    group.finish();
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn peak_memory() {
    let page = generate_page();
    describe(&page);
    let cfg = config();
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kib("VmRSS:").unwrap_or(0);
    let rows = cfg.page_to_records(&page.bytes).unwrap();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    let records: usize = rows.iter().map(|r| r.as_ref().unwrap().len()).sum();
    let record_bytes: usize = rows
        .iter()
        .flat_map(|r| r.as_ref().unwrap())
        .map(|r| serde_json::to_string(r).unwrap().len())
        .sum();
    drop(black_box(rows));
    let page_kib = page.bytes.len() as f64 / 1024.0;
    println!(
        "peak RSS during page -> records: {:.1} MB ({:.2}x the {:.1} MB page; RSS before {:.1} MB; \
         {} records, {:.1} MB as JSON; peak counter reset: {})",
        peak as f64 * 1024.0 / 1e6,
        peak as f64 / page_kib,
        page.bytes.len() as f64 / 1e6,
        before as f64 * 1024.0 / 1e6,
        records,
        record_bytes as f64 / 1e6,
        reset
    );
}

fn main() {
    // The page as a file, for whole-process runs of the example and its Python reference.
    if let Some(path) = std::env::var_os("PAIRING_WRITE_PAGE") {
        let page = generate_page();
        describe(&page);
        std::fs::write(&path, &page.bytes).unwrap();
        return;
    }
    if std::env::var_os("PAIRING_PEAK_MEMORY").is_some() {
        peak_memory();
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
}

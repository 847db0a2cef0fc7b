//! Pairs Copilot Studio transcripts and prints one Akto ingestion record per line.
//!
//! ```text
//! cargo run --release --example pair_transcripts -- FILE [--bots BOTS_FILE]
//!     [--account-id ID] [--vxlan-id ID] [--environment-id ID] [--host HOST]
//! ```
//!
//! For example, on the 11 real rows this repository keeps as a test fixture:
//!
//! ```text
//! cargo run --release --example pair_transcripts -- \
//!     crates/transcript-model/tests/fixtures/slg-conversationtranscripts.json
//! ```
//!
//! FILE is a JSON array of `conversationtranscript` rows or an OData response
//! (`{"value": [...]}`). BOTS_FILE, optional, is a `bots` response used for display names;
//! without it a bot's name comes from `metadata.BotName`. Records go to stdout as JSON Lines in
//! input order; each row that cannot be decoded gets one line on stderr naming it. The exit
//! status is 0 unless FILE (or BOTS_FILE) cannot be read or is not a page of rows (1; a FILE
//! that is not JSON prints no records at all) or the command line is wrong (2). `--help` prints
//! the usage on stdout and exits with 0.
//!
//! The page is read once, on two threads (one reads rows, the other decodes and pairs them);
//! the output is held in memory (a fraction of the page's size) until the whole page has been
//! read. Its speed against a plain Python reference is in BENCHMARKS.md.

use std::io::Write;
use std::process::ExitCode;

use transcript_model::{AktoConfig, PageRow};

struct Args {
    file: String,
    bots: Option<String>,
    account_id: String,
    vxlan_id: String,
    environment_id: String,
    host: Option<String>,
}

const USAGE: &str = "usage: pair_transcripts FILE [--bots BOTS_FILE] [--account-id ID] \
                     [--vxlan-id ID] [--environment-id ID] [--host HOST]";

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut file = None;
    let mut args = Args {
        file: String::new(),
        bots: None,
        account_id: "1000000".to_owned(),
        vxlan_id: "0".to_owned(),
        environment_id: String::new(),
        host: None,
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bots" => args.bots = Some(value("--bots")?),
            "--account-id" => args.account_id = value("--account-id")?,
            "--vxlan-id" => args.vxlan_id = value("--vxlan-id")?,
            "--environment-id" => args.environment_id = value("--environment-id")?,
            "--host" => args.host = Some(value("--host")?),
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other if file.is_none() => file = Some(other.to_owned()),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    args.file = file.ok_or_else(|| "FILE is required".to_owned())?;
    Ok(args)
}

/// Exit status: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: FILE or BOTS_FILE cannot be read or is not a page, or stdout failed.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit status: bad command line.
pub(crate) const EXIT_USAGE: u8 = 2;

/// The whole program: `argv` without the program name; records to `out`, diagnostics to `err`.
/// Returns the exit status. (A function, not `main`, so the contract is tested: see
/// `crates/transcript-model/tests/pair_transcripts_example.rs`.)
pub(crate) fn run(
    argv: impl IntoIterator<Item = String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    // Diagnostics are best effort: a closed stderr must not change the outcome.
    let args = match parse_args(argv) {
        Ok(a) => a,
        // `--help`: asked for, so on stdout and not a failure.
        Err(e) if e.is_empty() => {
            let _ = writeln!(out, "{USAGE}");
            return EXIT_OK;
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}\n{USAGE}");
            return EXIT_USAGE;
        }
    };

    let mut config = AktoConfig::new(&args.account_id, &args.vxlan_id, &args.environment_id);
    if let Some(host) = &args.host {
        config = config.with_host(host);
    }
    if let Some(path) = &args.bots {
        let added = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| config.add_bots_from_page(&bytes).map_err(|e| e.to_string()));
        if let Err(e) = added {
            let _ = writeln!(err, "error: cannot use bots file {path}: {e}");
            return EXIT_FAILURE;
        }
    }

    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "error: cannot read {}: {e}", args.file);
            return EXIT_FAILURE;
        }
    };
    // A file that is not JSON prints no records at all: the output (records and row
    // diagnostics) is built in memory while the page is walked, and written only once the
    // walk has read the whole page. (Checking the page first would read it twice; the
    // records are a fraction of the page's size.)
    //
    // Two stages on two threads, joined by a bounded queue: this thread reads the page's rows
    // (the `content` strings are decoded here), a worker decodes each `content` document and
    // builds the records, in page order. The halves cost about the same.
    let (walked, output) = std::thread::scope(|scope| {
        let (rows, queue) = std::sync::mpsc::sync_channel::<PageRow<'_>>(64);
        let config = &config;
        let capacity = bytes.len() / 4;
        let worker = scope.spawn(move || {
            let mut records = Vec::with_capacity(capacity);
            let mut diagnostics = Vec::new();
            for row in queue {
                match config.page_row_records(row) {
                    Ok(row) => {
                        for record in &row.records {
                            // Serialising strings into memory cannot fail.
                            let _ = serde_json::to_writer(&mut records, record);
                            records.push(b'\n');
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(diagnostics, "{e}");
                    }
                }
            }
            (records, diagnostics)
        });
        // The worker only stops early by panicking; then sends fail and the join reports it.
        let walked = transcript_model::for_each_page_row(&bytes, |row| {
            let _ = rows.send(row);
        });
        drop(rows);
        (walked, worker.join())
    });
    let Ok((records, diagnostics)) = output else {
        let _ = writeln!(err, "error: building the records failed");
        return EXIT_FAILURE;
    };
    if let Err(e) = walked {
        let _ = writeln!(err, "error: {}: {e}", args.file);
        return EXIT_FAILURE;
    }
    let _ = err.write_all(&diagnostics);
    // After a failed write (a closed pipe, a full disk) the rest is not written.
    let written = out.write_all(&records).and_then(|()| out.flush());
    match written {
        // The reader went away (`| head`): nothing is wrong with the input.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "error: writing stdout: {e}");
            EXIT_FAILURE
        }
        Ok(()) => EXIT_OK,
    }
}

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    ExitCode::from(run(
        std::env::args().skip(1),
        &mut stdout.lock(),
        &mut stderr.lock(),
    ))
}

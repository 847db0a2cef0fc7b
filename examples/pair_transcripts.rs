//! Pairs Copilot Studio transcripts and prints one Akto ingestion record per line.
//!
//! ```text
//! cargo run --release --example pair_transcripts -- FILE [--bots BOTS_FILE]
//!     [--account-id ID] [--vxlan-id ID] [--environment-id ID] [--host HOST]
//! ```
//!
//! FILE is a JSON array of `conversationtranscript` rows or an OData response
//! (`{"value": [...]}`). BOTS_FILE, optional, is a `bots` response used for display names;
//! without it a bot's name comes from `metadata.BotName`. Records go to stdout as JSON Lines in
//! input order; each row that cannot be decoded gets one line on stderr naming it. The exit
//! status is 0 unless FILE (or BOTS_FILE) cannot be read or is not a page of rows.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use transcript_model::AktoConfig;

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

fn parse_args() -> Result<Args, String> {
    let mut file = None;
    let mut args = Args {
        file: String::new(),
        bots: None,
        account_id: "1000000".to_owned(),
        vxlan_id: "0".to_owned(),
        environment_id: String::new(),
        host: None,
    };
    let mut it = std::env::args().skip(1);
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

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
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
            eprintln!("error: cannot use bots file {path}: {e}");
            return ExitCode::FAILURE;
        }
    }

    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file);
            return ExitCode::FAILURE;
        }
    };

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut write_error = None;
    let walked = config.for_each_row_records(&bytes, |row| match row {
        Ok(records) => {
            for record in records {
                let line = serde_json::to_string(&record).map_err(std::io::Error::from);
                if let Err(e) = line.and_then(|l| writeln!(out, "{l}")) {
                    write_error.get_or_insert(e);
                }
            }
        }
        Err(e) => eprintln!("{e}"),
    });
    if let Err(e) = out.flush() {
        write_error.get_or_insert(e);
    }
    if let Err(e) = walked {
        eprintln!("error: {}: {e}", args.file);
        return ExitCode::FAILURE;
    }
    if let Some(e) = write_error {
        eprintln!("error: writing stdout: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

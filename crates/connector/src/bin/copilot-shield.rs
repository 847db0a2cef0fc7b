//! `copilot-shield`: the connector as Akto's job runner starts its Copilot Studio binary,
//! `copilot-shield -once` (or `-schedule '<cron>'`), with the job's settings in environment
//! variables. It runs the same code as `copilot-connector ingest --once` / `ingest --cron`.
//!
//! Exit status: 0 success; 1 a pass failed; 2 invalid usage or configuration; 3 the checkpoint
//! store is held by another run.

use connector::shield::{ShieldMode, USAGE, parse_args};
use std::io::Write;
use std::process::ExitCode;

// The command line of `copilot-connector`, shared rather than copied.
#[allow(dead_code, unreachable_pub)]
#[path = "../main.rs"]
mod cli;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let program = "copilot-shield";
    match parse_args(&args) {
        Ok(ShieldMode::Once) => cli::main_from([program, "ingest", "--once"]),
        Ok(ShieldMode::Schedule(cron)) => {
            cli::main_from([program, "ingest", "--cron", &cron.to_string()])
        }
        Ok(ShieldMode::Help) => {
            let _ = writeln!(std::io::stdout().lock(), "{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(ShieldMode::Version) => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "copilot-shield {}",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

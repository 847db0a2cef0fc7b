//! Where a report's scan document comes from: a file written by `inventory scan --output`
//! (or standard output piped in), or the last scan kept in the inventory state store.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Report, ReportError};
use crate::inventory::store;

/// The scan to report on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportSource {
    /// A document written by `inventory scan --output FILE`; `-` reads standard input.
    File(PathBuf),
    /// The last scan stored in this inventory state (`--inventory-state`).
    State(PathBuf),
}

/// Loads the document and builds the report.
pub fn load(source: &ReportSource) -> Result<Report, ReportError> {
    let (doc, origin) = match source {
        ReportSource::File(path) => (read_file(path)?, path.display().to_string()),
        ReportSource::State(path) => (
            read_state(path)?,
            format!("the last scan stored in {}", path.display()),
        ),
    };
    Report::from_document(&doc).map_err(|e| e.with_origin(&origin))
}

fn read_file(path: &Path) -> Result<Value, ReportError> {
    let io = |source| ReportError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map_err(io)?;
    } else {
        text = std::fs::read_to_string(path).map_err(io)?;
    }
    serde_json::from_str(&text).map_err(|e| ReportError::Document {
        origin: path.display().to_string(),
        problem: format!("not JSON ({e}): give the document `inventory scan --output FILE` writes"),
    })
}

/// Reads the newest stored document without taking the store's lock (a scan may be running:
/// SQLite's write-ahead log lets this read see the last committed scan), and without creating
/// anything when there is no store ([`store::read_latest_document`]).
fn read_state(path: &Path) -> Result<Value, ReportError> {
    if !path.is_file() {
        return Err(ReportError::NoScan {
            path: path.to_owned(),
        });
    }
    match store::read_latest_document(path).map_err(ReportError::State)? {
        None => Err(ReportError::NoScan {
            path: path.to_owned(),
        }),
        Some(Ok(doc)) => Ok(doc),
        Some(Err(e)) => Err(ReportError::Document {
            origin: format!("the last scan stored in {}", path.display()),
            problem: format!(
                "the stored document is not JSON ({e}); run `copilot-connector inventory scan` again"
            ),
        }),
    }
}

//! Where a report's scan document comes from: a file written by `inventory scan --output`
//! (or standard output piped in), or the last scan kept in the inventory state store.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::Value;

use super::{Report, ReportError};
use crate::state::StateError;

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
/// anything when there is no store.
fn read_state(path: &Path) -> Result<Value, ReportError> {
    if !path.is_file() {
        return Err(ReportError::NoScan {
            path: path.to_owned(),
        });
    }
    let sql = |source| {
        ReportError::State(StateError::Sqlite {
            path: path.to_owned(),
            source,
        })
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    // The table is written by `inventory::store`; a store without it has seen no scan.
    let has_table: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'inventory_document'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    if has_table.is_none() {
        return Err(ReportError::NoScan {
            path: path.to_owned(),
        });
    }
    let text: Option<String> = conn
        .query_row(
            "SELECT document FROM inventory_document ORDER BY updated_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    let text = text.ok_or_else(|| ReportError::NoScan {
        path: path.to_owned(),
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::Document {
        origin: format!("the last scan stored in {}", path.display()),
        problem: format!(
            "the stored document is not JSON ({e}); run `copilot-connector inventory scan` again"
        ),
    })
}

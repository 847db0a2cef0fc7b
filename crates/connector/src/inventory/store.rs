//! The inventory's state between scans: an embedded SQLite database (its own file, default
//! `copilot-inventory.db`, so a scan never waits for a running ingestion), holding per
//! environment what was read with its delta links, and per destination the last scan's
//! document (rows, summary, postures) for the diff and for `inventory report`.
//!
//! A scan's state is committed in one transaction after its rows were written: a scan killed
//! half-way leaves the previous state, and the next scan reads from there.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::dataverse::EnvironmentData;
use super::output::read_document;
use super::scan::PreviousScan;
use crate::state::StateError;

/// The default file of the inventory state.
pub const DEFAULT_INVENTORY_STATE: &str = "copilot-inventory.db";

const SCHEMA_VERSION: i64 = 1;

/// The open, locked inventory state.
#[derive(Debug)]
pub struct InventoryStore {
    conn: Connection,
    path: PathBuf,
    _lock: File,
}

impl InventoryStore {
    /// Opens (creating if needed) the store at `path`, taking its lock: a second scan with the
    /// same file is refused.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let io = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    path: path.to_owned(),
                    lock: lock_path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let sql = |source| StateError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS inventory_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS inventory_environment (
                 environment_id TEXT PRIMARY KEY,
                 data TEXT NOT NULL,
                 updated_at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS inventory_document (
                 destination TEXT PRIMARY KEY,
                 run_id TEXT NOT NULL,
                 document TEXT NOT NULL,
                 updated_at TEXT NOT NULL);",
        )
        .map_err(sql)?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM inventory_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        match found.and_then(|v| v.parse::<i64>().ok()) {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StateError::Version {
                    path: path.to_owned(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO inventory_meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(sql)?;
            }
        }
        Ok(InventoryStore {
            conn,
            path: path.to_owned(),
            _lock: lock,
        })
    }

    fn sql(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the previous scan left for `destination` (`json` or the inventory URL). An
    /// environment's stored data that cannot be read any more is dropped (that environment is
    /// read in full), never an error.
    pub fn previous(&self, destination: &str) -> Result<PreviousScan, StateError> {
        let mut environments = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT environment_id, data FROM inventory_environment")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.sql(e))?;
        for row in rows {
            let (id, data) = row.map_err(|e| self.sql(e))?;
            match serde_json::from_str::<EnvironmentData>(&data) {
                Ok(d) => {
                    environments.insert(id, d);
                }
                Err(e) => tracing::warn!(
                    environment = %id,
                    "stored scan state is unreadable ({e}); this environment is read in full"
                ),
            }
        }
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT document FROM inventory_document WHERE destination = ?1",
                params![destination],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        // Read row by row from the text: the document as one JSON tree is several times its
        // size.
        let read = text.as_deref().and_then(|t| match read_document(t) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("stored rows are unreadable ({e}); every row is written again");
                None
            }
        });
        drop(text);
        let (rows, checks, identities) = match read {
            Some(d) => (Some(d.rows), d.checks, d.identities),
            None => (None, BTreeMap::new(), Vec::new()),
        };
        Ok(PreviousScan {
            environments,
            rows,
            checks,
            identities,
        })
    }

    /// The last scan's document for `destination`, if any.
    pub fn document(&self, destination: &str) -> Result<Option<Value>, StateError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT document FROM inventory_document WHERE destination = ?1",
                params![destination],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The most recent document of any destination (for `inventory report`).
    pub fn latest_document(&self) -> Result<Option<Value>, StateError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT document FROM inventory_document ORDER BY updated_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Commits a scan: the environments it read (others keep their stored data) and, when given,
    /// its document's JSON text for `destination` (e.g.
    /// [`Document`](super::output::Document) serialised), in one transaction.
    pub fn commit(
        &mut self,
        destination: &str,
        run_id: &str,
        environments: &BTreeMap<String, EnvironmentData>,
        document: Option<&str>,
        now: &str,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let sql = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        for (id, data) in environments {
            let text = serde_json::to_string(data)
                .map_err(|e| sql(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
            tx.execute(
                "INSERT OR REPLACE INTO inventory_environment (environment_id, data, updated_at) VALUES (?1, ?2, ?3)",
                params![id, text, now],
            )
            .map_err(sql)?;
        }
        // Without a document (rows not all written), the previous rows stay the base of the
        // next diff, so what was not written is written next time.
        if let Some(document) = document {
            tx.execute(
                "INSERT OR REPLACE INTO inventory_document (destination, run_id, document, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![destination, run_id, document, now],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }
}

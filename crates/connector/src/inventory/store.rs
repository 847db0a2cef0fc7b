//! The inventory's state between scans: an embedded SQLite database (its own file, default
//! `copilot-inventory.db`, so a scan never waits for a running ingestion).
//!
//! It holds, row by row:
//! - per environment (`inventory_env`): the delta links of `bots` and `botcomponents`, when
//!   the usage was read, and what could not be read;
//! - its `bots` rows (`inventory_bot`), its components (`inventory_component`: the row's
//!   columns, a fingerprint of the row and its parent, and the YAML as it was read, stored
//!   once and last, so a load without it never reads its pages), the
//!   many-to-many targets of each component (`inventory_related`) and the sessions of the
//!   usage window (`inventory_session`);
//! - per destination, the last scan's document (rows, summary, postures) for the diff and for
//!   `inventory report`: its run (`inventory_run`) and its JSON text in parts of
//!   [`DOCUMENT_PART`] bytes (`inventory_document_part`), written as it is serialised (the
//!   text is never whole in memory while written) and read back into one buffer, which is
//!   parsed row by row and freed (a slice parses several times faster than a stream).
//!
//! A scan never loads the state whole: [`InventoryStore::begin_scan`] reads the previous
//! document, and each environment's rows are read as the scan reaches it, without the
//! components' YAML ([`EnvironmentStore::load`]); the YAML is read only for the agents to
//! rebuild ([`EnvironmentStore::component_rows`]). What an environment's read changed is
//! written back row by row as soon as it is read ([`EnvironmentStore::save`]): an
//! environment that did not change writes its delta links and nothing else.
//!
//! Kill-safety: a scan is one SQLite transaction, begun by [`InventoryStore::begin_scan`] and
//! committed by [`InventoryStore::commit`] after the scan's rows were written. The scan's
//! environments write into it as they are read; SQLite spills what does not fit its page
//! cache to the write-ahead log, so the transaction's size costs disk, not memory. A scan
//! killed half-way leaves the previous state exactly (the log's uncommitted frames are
//! ignored), and the next scan reads from there. One transaction rather than staging tables
//! and a final swap: each row is written once, and there is nothing to clean up after a kill.
//!
//! Schema version 3 stores a component as columns (version 2 kept it as JSON text twice,
//! with and without its YAML) and fingerprints it from its fields' bytes
//! ([`fingerprint`](super::dataverse::fingerprint)). Version 2 (row by row) replaced version 1,
//! which kept each environment as one JSON text. An older file is migrated when opened,
//! keeping its delta links and the previous document and recomputing the fingerprints, so the
//! next scan is incremental, rebuilds nothing and re-uploads nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use botcomponent_schema::ComponentRow;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::dataverse::{EnvironmentData, RowChanges, StoredComponent, StoredSession};
use super::output::read_document_bytes;
use super::scan::PreviousScan;
use crate::state::{LockedDb, StateError};
use crate::timefmt::rfc3339;

/// The default file of the inventory state.
pub const DEFAULT_INVENTORY_STATE: &str = "copilot-inventory.db";

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = 3;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS inventory_env (
    environment_id TEXT PRIMARY KEY,
    bots_delta TEXT,
    components_delta TEXT,
    components_error TEXT,
    related_error TEXT,
    usage_read_at TEXT,
    usage_error TEXT,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory_bot (
    environment_id TEXT NOT NULL,
    bot_id TEXT NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (environment_id, bot_id));
CREATE TABLE IF NOT EXISTS inventory_component (
    environment_id TEXT NOT NULL,
    component_id TEXT NOT NULL,
    parent TEXT,
    fingerprint TEXT NOT NULL,
    row_id TEXT,
    component_type INTEGER NOT NULL,
    name TEXT,
    schema_name TEXT,
    state_code INTEGER,
    data TEXT,
    PRIMARY KEY (environment_id, component_id));
CREATE TABLE IF NOT EXISTS inventory_related (
    environment_id TEXT NOT NULL,
    component_id TEXT NOT NULL,
    relationship TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (environment_id, component_id, relationship, target)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inventory_session (
    environment_id TEXT NOT NULL,
    bot_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY (environment_id, bot_id, session_id));
CREATE TABLE IF NOT EXISTS inventory_run (
    destination TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory_document_part (
    destination TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (destination, seq));";

/// Bytes per stored part of a document: small enough that a part costs little memory, large
/// enough that a document of tens of megabytes is a few dozen rows.
pub const DOCUMENT_PART: usize = 1 << 20;

/// Writes a document into its parts as it is serialised.
struct PartWriter<'c> {
    conn: &'c Connection,
    destination: &'c str,
    seq: i64,
    buf: Vec<u8>,
}

impl PartWriter<'_> {
    fn flush_part(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.conn
            .prepare_cached(
                "INSERT INTO inventory_document_part (destination, seq, bytes) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![self.destination, self.seq, self.buf]))
            .map_err(std::io::Error::other)?;
        self.seq += 1;
        self.buf.clear();
        Ok(())
    }
}

impl std::io::Write for PartWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(DOCUMENT_PART - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == DOCUMENT_PART {
            self.flush_part()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The stored document of `destination`, its parts joined in one buffer, if one is stored.
///
/// One buffer rather than a reader over the parts: serde_json parses a slice several times
/// faster than a reader (which it reads byte by byte), and the text is held only while it is
/// parsed, at the start of a scan or a report, far below a scan's peak (its rows at the end).
fn document_text(conn: &Connection, destination: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    let size: Option<i64> = conn
        .prepare_cached(
            "SELECT (SELECT coalesce(sum(length(bytes)), 0) FROM inventory_document_part WHERE destination = ?1)
             FROM inventory_run WHERE destination = ?1",
        )?
        .query_row(params![destination], |r| r.get(0))
        .optional()?;
    let Some(size) = size else {
        return Ok(None);
    };
    let mut text = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM inventory_document_part WHERE destination = ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![destination])?;
    while let Some(r) = rows.next()? {
        // Borrowed from SQLite's row: each part is copied once, into the buffer.
        let part = r.get_ref(0)?.as_bytes().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
        })?;
        text.extend_from_slice(part);
    }
    Ok(Some(text))
}

/// Replaces the stored document of `destination` with what `write` serialises.
fn write_document(
    conn: &Connection,
    destination: &str,
    run_id: &str,
    now: &str,
    write: &dyn Fn(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM inventory_document_part WHERE destination = ?1")?
        .execute(params![destination])?;
    let mut w = PartWriter {
        conn,
        destination,
        seq: 0,
        buf: Vec::with_capacity(DOCUMENT_PART),
    };
    write(&mut w)
        .and_then(|()| w.flush_part())
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO inventory_run (destination, run_id, updated_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![destination, run_id, now])?;
    Ok(())
}

/// A document written by [`InventoryStore::commit`]: what serialises it into a writer.
pub type DocumentWriter<'a> = &'a dyn Fn(&mut dyn std::io::Write) -> std::io::Result<()>;

/// The newest stored document of the inventory state at `path`, read whole, without taking
/// the store's lock and without creating anything (for `inventory report`: a scan may be
/// running; SQLite's write-ahead log lets this read see the last committed scan). `None` when
/// no scan is stored; the inner error when the stored text is not JSON. Reads a version-1
/// store as it is, without migrating it.
pub fn read_latest_document(
    path: &Path,
) -> Result<Option<Result<Value, serde_json::Error>>, StateError> {
    let sql = |e| sql_error(path, e);
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    let has = |table: &str| -> Result<bool, StateError> {
        conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .and_then(|mut s| s.exists(params![table]))
            .map_err(sql)
    };
    if has("inventory_run")? {
        let newest: Option<String> = conn
            .query_row(
                "SELECT destination FROM inventory_run ORDER BY updated_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        let Some(destination) = newest else {
            return Ok(None);
        };
        let text = document_text(&conn, &destination).map_err(sql)?;
        return Ok(text.map(|t| serde_json::from_slice(&t)));
    }
    if has("inventory_document")? {
        // Version 1: the document as one text.
        let text: Option<String> = conn
            .query_row(
                "SELECT document FROM inventory_document ORDER BY updated_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        return Ok(text.map(|t| serde_json::from_str(&t)));
    }
    Ok(None)
}

/// The open, locked inventory state.
#[derive(Debug)]
pub struct InventoryStore {
    rows: EnvironmentStore,
    in_scan: bool,
    _lock: std::fs::File,
}

/// A scan's access to the environments' rows of an [`InventoryStore`], inside the scan's
/// transaction; cheap to clone, shared by the scan's environment tasks (calls are short and
/// one at a time).
#[derive(Clone)]
pub struct EnvironmentStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
    writer: Arc<Mutex<Writer>>,
}

/// Saves queued for the writer thread before [`EnvironmentStore::save_in_background`]
/// waits: each holds one environment's rows, YAML included (about a megabyte for 800
/// components), so the queue bounds what waits in memory.
const QUEUED_SAVES: usize = 4;

/// One environment's rows for the writer thread.
struct SaveJob {
    environment_id: String,
    data: EnvironmentData,
    changes: RowChanges,
    now: OffsetDateTime,
}

/// The writer thread of a scan's background saves, started by the first one.
#[derive(Default)]
struct Writer {
    queue: Option<SyncSender<SaveJob>>,
    thread: Option<JoinHandle<Vec<SaveFailure>>>,
    /// Failures of a finished writer not yet taken by [`EnvironmentStore::finish_saves`].
    failures: Vec<SaveFailure>,
    /// Where tests pause the writer and watch the drain.
    #[cfg(test)]
    hooks: Option<TestHooks>,
}

/// Test hooks of the writer: deterministic orderings without sleeping.
#[cfg(test)]
#[derive(Clone)]
struct TestHooks {
    /// Called on the writer thread before each save, with the store it writes through.
    before_save: Arc<dyn Fn(&EnvironmentStore) + Send + Sync>,
    /// Called when a commit or rollback begins to wait for the writer.
    on_drain: Arc<dyn Fn() + Send + Sync>,
}

/// An environment whose rows could not be written to the state store. Its savepoint was
/// rolled back: the store keeps its previous rows and delta links, so the next scan reads
/// its changes again; nothing is lost, but the environment is to be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveFailure {
    /// The environment (lower case, as saved).
    pub environment_id: String,
    /// Why.
    pub error: String,
}

impl std::fmt::Debug for EnvironmentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvironmentStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What [`EnvironmentStore::load`] found for an environment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StoredEnvironment {
    /// Nothing is stored: a first read.
    Missing,
    /// The stored rows; components without their YAML.
    Found(Box<EnvironmentData>),
    /// A stored row cannot be read (damaged, or written by hand): the environment is to be
    /// read in full, and its rows written anew.
    Unreadable(String),
}

fn sql_error(path: &Path, source: rusqlite::Error) -> StateError {
    crate::state::classify(path, source)
}

fn unreadable(what: &str, id: &str, e: impl std::fmt::Display) -> String {
    format!("stored {what} {id} is unreadable ({e})")
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

impl EnvironmentStore {
    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StateError> {
        self.conn.lock().map_err(|_| StateError::Damaged {
            path: self.path.to_path_buf(),
            problem: "a thread using it failed".to_owned(),
        })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StateError + '_ {
        |e| sql_error(&self.path, e)
    }

    fn writer(&self) -> Result<MutexGuard<'_, Writer>, StateError> {
        self.writer.lock().map_err(|_| StateError::Damaged {
            path: self.path.to_path_buf(),
            problem: "a thread using it failed".to_owned(),
        })
    }

    /// Queues what a read of `environment_id` changed (as [`save`](Self::save) writes it) for
    /// the store's one writer thread, and returns as soon as it is queued: the environments'
    /// reads and mapping go on while their rows are written, and `data` (the components'
    /// YAML) is dropped by the writer once written. Waits while a few saves are already
    /// queued (a bounded queue: what waits in memory stays small). A failed save is reported
    /// by [`finish_saves`](Self::finish_saves), which the scan calls after its environments;
    /// [`InventoryStore::commit`] waits for the queue too.
    pub fn save_in_background(
        &self,
        environment_id: String,
        data: EnvironmentData,
        changes: RowChanges,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        let queue = {
            let mut w = self.writer()?;
            if w.queue.is_none() {
                let (tx, rx) = sync_channel::<SaveJob>(QUEUED_SAVES);
                let store = EnvironmentStore {
                    conn: self.conn.clone(),
                    path: self.path.clone(),
                    writer: Arc::new(Mutex::new(Writer::default())),
                };
                #[cfg(test)]
                let hooks = w.hooks.clone();
                let thread = std::thread::Builder::new()
                    .name("inventory-state".to_owned())
                    .spawn(move || {
                        let mut failed = Vec::new();
                        for job in rx {
                            #[cfg(test)]
                            if let Some(h) = &hooks {
                                (h.before_save)(&store);
                            }
                            if let Err(e) =
                                store.save(&job.environment_id, &job.data, &job.changes, job.now)
                            {
                                tracing::warn!(environment = %job.environment_id, "the inventory state could not be written ({e})");
                                failed.push(SaveFailure {
                                    environment_id: job.environment_id,
                                    error: e.to_string(),
                                });
                            }
                        }
                        failed
                    })
                    .map_err(|e| StateError::Io {
                        path: self.path.to_path_buf(),
                        source: e,
                    })?;
                w.queue = Some(tx);
                w.thread = Some(thread);
            }
            w.queue.clone()
        };
        let job = SaveJob {
            environment_id,
            data,
            changes,
            now,
        };
        // Outside the lock: a full queue makes only this caller wait.
        // (A failed send hands the job back: dropped here.)
        match queue.map(|q| q.send(job).is_ok()) {
            Some(true) => Ok(()),
            _ => Err(StateError::Damaged {
                path: self.path.to_path_buf(),
                problem: "its writer thread stopped".to_owned(),
            }),
        }
    }

    /// Waits until every queued save is written and returns the environments whose save
    /// failed (each once); the next background save starts a new writer.
    pub fn finish_saves(&self) -> Result<Vec<SaveFailure>, StateError> {
        let (queue, thread) = {
            let mut w = self.writer()?;
            (w.queue.take(), w.thread.take())
        };
        drop(queue);
        let mut failed = match thread.map(JoinHandle::join) {
            None => Vec::new(),
            Some(Ok(failed)) => failed,
            Some(Err(_)) => {
                return Err(StateError::Damaged {
                    path: self.path.to_path_buf(),
                    problem: "its writer thread failed".to_owned(),
                });
            }
        };
        failed.splice(0..0, std::mem::take(&mut self.writer()?.failures));
        Ok(failed)
    }

    /// Waits for the queued saves before the transaction ends, keeping their failures for
    /// [`finish_saves`](Self::finish_saves) (a scan that already took them leaves none).
    fn drain(&self) -> Result<(), StateError> {
        #[cfg(test)]
        {
            let hooks = self.writer()?.hooks.clone();
            if let Some(h) = hooks {
                (h.on_drain)();
            }
        }
        let failed = self.finish_saves()?;
        for f in &failed {
            tracing::warn!(environment = %f.environment_id, "the inventory state of this environment was not written ({}): the next scan reads its changes again", f.error);
        }
        self.writer()?.failures.extend(failed);
        Ok(())
    }

    /// Rows SQLite changed through this connection since it was opened (tests count writes).
    #[cfg(test)]
    pub(crate) fn total_changes(&self) -> u64 {
        self.conn.lock().map_or(0, |c| c.total_changes())
    }

    /// Runs `sql` on the database (tests damage rows with it).
    #[cfg(test)]
    pub(crate) fn execute(&self, sql: &str) -> usize {
        self.conn
            .lock()
            .map_or(0, |c| c.execute(sql, []).unwrap_or(0))
    }

    /// The stored delta link of `bots` per environment id.
    pub fn bots_delta_links(&self) -> Result<BTreeMap<String, String>, StateError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(
                "SELECT environment_id, bots_delta FROM inventory_env WHERE bots_delta IS NOT NULL",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// What is stored for `environment_id` (lower case): every row but the components'
    /// YAML ([`StoredComponent::complete`] is `false`).
    pub fn load(&self, environment_id: &str) -> Result<StoredEnvironment, StateError> {
        let conn = self.lock()?;
        let sql = self.sql();
        type EnvRow = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let env: Option<EnvRow> = conn
            .query_row(
                "SELECT bots_delta, components_delta, components_error, related_error, usage_read_at, usage_error
                 FROM inventory_env WHERE environment_id = ?1",
                params![environment_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()
            .map_err(&sql)?;
        let Some((
            bots_delta,
            components_delta,
            components_error,
            related_error,
            usage_at,
            usage_error,
        )) = env
        else {
            return Ok(StoredEnvironment::Missing);
        };
        let mut data = EnvironmentData {
            bots_delta,
            components_delta,
            components_error,
            related_error,
            usage_error,
            ..EnvironmentData::default()
        };
        if let Some(at) = usage_at {
            match parse_time(&at) {
                Some(t) => data.usage_read_at = Some(t),
                None => {
                    return Ok(StoredEnvironment::Unreadable(unreadable(
                        "usage time of",
                        environment_id,
                        at,
                    )));
                }
            }
        }

        let mut stmt = conn
            .prepare_cached("SELECT bot_id, row FROM inventory_bot WHERE environment_id = ?1")
            .map_err(&sql)?;
        let mut rows = stmt.query(params![environment_id]).map_err(&sql)?;
        while let Some(r) = rows.next().map_err(&sql)? {
            let id: String = r.get(0).map_err(&sql)?;
            let text: String = r.get(1).map_err(&sql)?;
            match serde_json::from_str::<Value>(&text) {
                Ok(v) if v.is_object() => {
                    data.bots.insert(id, v);
                }
                Ok(_) => {
                    return Ok(StoredEnvironment::Unreadable(unreadable(
                        "bot",
                        &id,
                        "not an object",
                    )));
                }
                Err(e) => return Ok(StoredEnvironment::Unreadable(unreadable("bot", &id, e))),
            }
        }
        drop(rows);
        drop(stmt);

        // Without `data`: SQLite reads a row's columns in order, so the YAML stored last (and
        // its overflow pages) is not read.
        let mut stmt = conn
            .prepare_cached(
                "SELECT component_id, parent, fingerprint, row_id, component_type, name, schema_name, state_code
                 FROM inventory_component WHERE environment_id = ?1",
            )
            .map_err(&sql)?;
        let mut rows = stmt.query(params![environment_id]).map_err(&sql)?;
        while let Some(r) = rows.next().map_err(&sql)? {
            let id: String = r.get(0).map_err(&sql)?;
            let light = component_from(r, &id, 3, None).and_then(|row| {
                Ok(StoredComponent {
                    row,
                    parent: r.get(1)?,
                    fingerprint: r.get(2)?,
                    complete: false,
                })
            });
            match light {
                Ok(c) => {
                    data.components.insert(id, c);
                }
                Err(e) => {
                    return Ok(StoredEnvironment::Unreadable(unreadable(
                        "component",
                        &id,
                        e,
                    )));
                }
            }
        }
        drop(rows);
        drop(stmt);

        let mut stmt = conn
            .prepare_cached(
                "SELECT component_id, relationship, target FROM inventory_related WHERE environment_id = ?1",
            )
            .map_err(&sql)?;
        let rows = stmt
            .query_map(params![environment_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(&sql)?;
        for row in rows {
            let (c, rel, target) = row.map_err(&sql)?;
            data.related.entry(c).or_default().insert((rel, target));
        }
        drop(stmt);

        let mut stmt = conn
            .prepare_cached(
                "SELECT bot_id, session_id, started_at FROM inventory_session WHERE environment_id = ?1 ORDER BY rowid",
            )
            .map_err(&sql)?;
        let rows = stmt
            .query_map(params![environment_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(&sql)?;
        for row in rows {
            let (bot, id, at) = row.map_err(&sql)?;
            let Some(started_at) = parse_time(&at) else {
                return Ok(StoredEnvironment::Unreadable(unreadable(
                    "session", &id, at,
                )));
            };
            data.sessions
                .entry(bot)
                .or_default()
                .push(StoredSession { id, started_at });
        }
        Ok(StoredEnvironment::Found(Box::new(data)))
    }

    /// The whole stored rows (YAML included) of these components of `environment_id`.
    /// A component not stored, or whose row cannot be read, is left out.
    pub fn component_rows(
        &self,
        environment_id: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, ComponentRow>, StateError> {
        let conn = self.lock()?;
        let sql = self.sql();
        let mut stmt = conn
            .prepare_cached(
                "SELECT row_id, component_type, name, schema_name, state_code, data
                 FROM inventory_component WHERE environment_id = ?1 AND component_id = ?2",
            )
            .map_err(&sql)?;
        let mut out = BTreeMap::new();
        for id in ids {
            let mut rows = stmt.query(params![environment_id, id]).map_err(&sql)?;
            let row = match rows.next() {
                Ok(Some(r)) => Some(component_from(r, id, 0, Some(5))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            };
            match row {
                Some(Ok(row)) => {
                    out.insert(id.clone(), row);
                }
                Some(Err(e)) => {
                    tracing::warn!(environment = %environment_id, component = %id, "stored component is unreadable ({e})");
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// Writes what a read of `environment_id` changed: the rows `changes` names (all of the
    /// environment's rows when [`RowChanges::all`]), and the environment's delta links.
    /// Returns the number of rows SQLite changed.
    pub fn save(
        &self,
        environment_id: &str,
        data: &EnvironmentData,
        changes: &RowChanges,
        now: OffsetDateTime,
    ) -> Result<usize, StateError> {
        let conn = self.lock()?;
        // In a savepoint: a failure leaves the environment's rows as they were.
        conn.execute_batch("SAVEPOINT environment")
            .map_err(self.sql())?;
        match save_environment(&conn, environment_id, data, changes, now) {
            Ok(n) => {
                conn.execute_batch("RELEASE environment")
                    .map_err(self.sql())?;
                Ok(n)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO environment; RELEASE environment");
                Err(sql_error(&self.path, e))
            }
        }
    }
}

/// A component row from its stored columns: `row_id`, `component_type`, `name`,
/// `schema_name`, `state_code` from column `first` on, and `data` from column `data` when
/// given. `key` is the row's stored (lower-case) id, its `botcomponentid` unless `row_id`
/// says otherwise.
fn component_from(
    r: &rusqlite::Row<'_>,
    key: &str,
    first: usize,
    data: Option<usize>,
) -> rusqlite::Result<ComponentRow> {
    let row_id: Option<String> = r.get(first)?;
    let data = match data {
        Some(i) => r.get(i)?,
        None => None,
    };
    let mut row = ComponentRow::new(
        row_id.unwrap_or_else(|| key.to_owned()),
        r.get(first + 1)?,
        data,
    );
    row.name = r.get(first + 2)?;
    row.schema_name = r.get(first + 3)?;
    row.state_code = r.get(first + 4)?;
    Ok(row)
}

fn to_sql_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

const UPSERT_COMPONENT: &str = "INSERT OR REPLACE INTO inventory_component
     (environment_id, component_id, parent, fingerprint, row_id, component_type, name, schema_name, state_code, data)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Writes one whole component with [`UPSERT_COMPONENT`]: its columns, the YAML as it is.
fn upsert_component(
    upsert: &mut rusqlite::CachedStatement<'_>,
    env: &str,
    id: &str,
    c: &StoredComponent,
) -> rusqlite::Result<usize> {
    let r = &c.row;
    // The row's own id only when it is not the key as is (Dataverse's ids are lower case
    // already).
    let row_id = Some(r.component_id.as_str()).filter(|rid| *rid != id);
    upsert.execute(params![
        env,
        id,
        c.parent,
        c.fingerprint,
        row_id,
        r.component_type,
        r.name,
        r.schema_name,
        r.state_code,
        r.data,
    ])
}

fn save_environment(
    conn: &Connection,
    env: &str,
    data: &EnvironmentData,
    changes: &RowChanges,
    now: OffsetDateTime,
) -> rusqlite::Result<usize> {
    let mut n = 0;
    n += conn
        .prepare_cached(
            "INSERT OR REPLACE INTO inventory_env (environment_id, bots_delta, components_delta, components_error, related_error, usage_read_at, usage_error, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            env,
            data.bots_delta,
            data.components_delta,
            data.components_error,
            data.related_error,
            data.usage_read_at.map(rfc3339),
            data.usage_error,
            rfc3339(now),
        ])?;
    let all_bots: BTreeSet<String>;
    let all_components: BTreeSet<String>;
    let (bots, components, related): (
        &BTreeSet<String>,
        &BTreeSet<String>,
        Box<dyn Iterator<Item = &String>>,
    ) = if changes.all {
        for table in [
            "inventory_bot",
            "inventory_component",
            "inventory_related",
            "inventory_session",
        ] {
            n += conn
                .prepare_cached(&format!("DELETE FROM {table} WHERE environment_id = ?1"))?
                .execute(params![env])?;
        }
        all_bots = data.bots.keys().cloned().collect();
        all_components = data.components.keys().cloned().collect();
        (&all_bots, &all_components, Box::new(data.related.keys()))
    } else {
        (
            &changes.bots,
            &changes.components,
            // A deleted component's targets are gone from `data.related`, so it is listed
            // there too.
            Box::new(changes.related.iter()),
        )
    };
    {
        let mut upsert = conn.prepare_cached(
            "INSERT OR REPLACE INTO inventory_bot (environment_id, bot_id, row) VALUES (?1, ?2, ?3)",
        )?;
        let mut delete = conn.prepare_cached(
            "DELETE FROM inventory_bot WHERE environment_id = ?1 AND bot_id = ?2",
        )?;
        for id in bots {
            match data.bots.get(id) {
                Some(row) => {
                    let text = serde_json::to_string(row).map_err(to_sql_error)?;
                    n += upsert.execute(params![env, id, text])?;
                }
                None => n += delete.execute(params![env, id])?,
            }
        }
    }
    {
        let mut upsert = conn.prepare_cached(UPSERT_COMPONENT)?;
        let mut delete = conn.prepare_cached(
            "DELETE FROM inventory_component WHERE environment_id = ?1 AND component_id = ?2",
        )?;
        for id in components {
            match data.components.get(id) {
                // A component loaded without its YAML is as stored: nothing to write.
                Some(c) if !c.complete => {}
                Some(c) => n += upsert_component(&mut upsert, env, id, c)?,
                None => n += delete.execute(params![env, id])?,
            }
        }
    }
    {
        let mut clear = conn.prepare_cached(
            "DELETE FROM inventory_related WHERE environment_id = ?1 AND component_id = ?2",
        )?;
        let mut insert = conn.prepare_cached(
            "INSERT OR IGNORE INTO inventory_related (environment_id, component_id, relationship, target) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut done = BTreeSet::new();
        for id in related {
            if !done.insert(id) {
                continue;
            }
            if !changes.all {
                n += clear.execute(params![env, id])?;
            }
            for (rel, target) in data.related.get(id).into_iter().flatten() {
                n += insert.execute(params![env, id, rel, target])?;
            }
        }
    }
    if changes.sessions || changes.all {
        if !changes.all {
            n += conn
                .prepare_cached("DELETE FROM inventory_session WHERE environment_id = ?1")?
                .execute(params![env])?;
        }
        let mut insert = conn.prepare_cached(
            "INSERT OR IGNORE INTO inventory_session (environment_id, bot_id, session_id, started_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (bot, sessions) in &data.sessions {
            for s in sessions {
                n += insert.execute(params![env, bot, s.id, rfc3339(s.started_at)])?;
            }
        }
    }
    Ok(n)
}

/// An environment as schema version 1 stored it (one JSON text); components had no
/// fingerprint then.
#[derive(Deserialize)]
struct V1Environment(EnvironmentData);

impl InventoryStore {
    /// Opens (creating if needed) the store at `path`, taking its lock: a second scan with the
    /// same file is refused. A version-1 store is migrated; a newer one is refused
    /// ([`StateError::Version`]).
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let LockedDb { conn, path, lock } = LockedDb::open(path, |_| Ok(()))?;
        let sql = |e| sql_error(&path, e);
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS inventory_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
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
        match found.as_deref().map(str::parse::<i64>) {
            Some(Ok(v)) if v > SCHEMA_VERSION => {
                return Err(StateError::Version {
                    path,
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(Ok(SCHEMA_VERSION)) => conn.execute_batch(TABLES).map_err(sql)?,
            Some(Ok(1)) => migrate_v1(&conn, &path)?,
            Some(Ok(2)) => migrate_v2(&conn, &path)?,
            Some(_) => {
                return Err(StateError::Damaged {
                    problem: format!(
                        "its schema version is `{}`, which no version of copilot-connector writes",
                        found.unwrap_or_default()
                    ),
                    path,
                });
            }
            None => {
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE;
                     {TABLES}
                     INSERT OR REPLACE INTO inventory_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
                     COMMIT;"
                ))
                .map_err(sql)?;
            }
        }
        Ok(InventoryStore {
            rows: EnvironmentStore {
                conn: Arc::new(Mutex::new(conn)),
                path: Arc::new(path),
                writer: Arc::new(Mutex::new(Writer::default())),
            },
            in_scan: false,
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.rows.path
    }

    /// The environments' rows, for a scan or a test.
    pub fn environments(&self) -> EnvironmentStore {
        self.rows.clone()
    }

    /// Begins a scan's transaction and returns what the previous scan left for `destination`
    /// (`json` or the inventory URL): its rows, posture results and identities from the
    /// stored document, and this store's environments, which the scan reads and writes as it
    /// goes. Nothing the scan writes is kept until [`commit`](Self::commit).
    ///
    /// A stored document that cannot be read any more is dropped (every row is written
    /// again), never an error.
    pub fn begin_scan(&mut self, destination: &str) -> Result<PreviousScan, StateError> {
        if !self.in_scan {
            let conn = self.rows.lock()?;
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(self.rows.sql())?;
            drop(conn);
            self.in_scan = true;
        }
        // The stored text in one buffer, read row by row (the document is never one JSON tree
        // in memory); the text is freed once its rows are made.
        let read = {
            let conn = self.rows.lock()?;
            let text = document_text(&conn, destination).map_err(self.rows.sql())?;
            drop(conn);
            text.and_then(|t| match read_document_bytes(&t) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("stored rows are unreadable ({e}); every row is written again");
                    None
                }
            })
        };
        let mut previous = PreviousScan::default();
        if let Some(d) = read {
            previous.rows = Some(d.rows);
            previous.checks = d.checks;
            previous.identities = d.identities;
        }
        previous.store = Some(self.rows.clone());
        Ok(previous)
    }

    /// The last scan's document for `destination`, if any (read whole).
    pub fn document(&self, destination: &str) -> Result<Option<Value>, StateError> {
        let conn = self.rows.lock()?;
        let text = document_text(&conn, destination).map_err(self.rows.sql())?;
        Ok(text.and_then(|t| serde_json::from_slice(&t).ok()))
    }

    /// The most recent document of any destination (read whole).
    pub fn latest_document(&self) -> Result<Option<Value>, StateError> {
        let conn = self.rows.lock()?;
        let newest: Option<String> = conn
            .query_row(
                "SELECT destination FROM inventory_run ORDER BY updated_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.rows.sql())?;
        let Some(destination) = newest else {
            return Ok(None);
        };
        let text = document_text(&conn, &destination).map_err(self.rows.sql())?;
        Ok(text.and_then(|t| serde_json::from_slice(&t).ok()))
    }

    /// Commits a scan: what its environments wrote as they were read, the environments
    /// given here in full (those of a scan that ran without this store, e.g. from
    /// [`ScanResult::environments`](super::scan::ScanResult::environments); others keep
    /// their rows) and, when given, its document for `destination`, as `document` serialises
    /// its JSON text (e.g. [`Document`](super::output::Document) through
    /// `serde_json::to_writer`) straight into the store's parts, in one transaction.
    pub fn commit(
        &mut self,
        destination: &str,
        run_id: &str,
        environments: &BTreeMap<String, EnvironmentData>,
        document: Option<DocumentWriter<'_>>,
        now: &str,
    ) -> Result<(), StateError> {
        // Every environment's rows are in the transaction before it commits.
        self.rows.drain()?;
        let conn = self.rows.lock()?;
        let sql = |e| sql_error(&self.rows.path, e);
        if !self.in_scan {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(sql)?;
        }
        let result = (|| -> rusqlite::Result<()> {
            let at = parse_time(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let all = RowChanges {
                all: true,
                ..RowChanges::default()
            };
            for (id, data) in environments {
                save_environment(&conn, id, data, &all, at)?;
            }
            // Without a document (rows not all written), the previous rows stay the base of
            // the next diff, so what was not written is written next time.
            if let Some(document) = document {
                write_document(&conn, destination, run_id, now, document)?;
            }
            conn.execute_batch("COMMIT")
        })();
        self.in_scan = false;
        if let Err(e) = result {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(sql(e));
        }
        Ok(())
    }

    /// Abandons the scan's transaction: the state stays as the previous scan left it.
    pub fn rollback(&mut self) -> Result<(), StateError> {
        if !self.in_scan {
            return Ok(());
        }
        // No save may run after the rollback (it would begin a transaction of its own).
        self.rows.drain()?;
        self.in_scan = false;
        let conn = self.rows.lock()?;
        conn.execute_batch("ROLLBACK").map_err(self.rows.sql())
    }
}

/// Migrates a version-1 store in one transaction: each environment's JSON text, read one at a
/// time, becomes its rows (components get their fingerprint); the document stays. An
/// environment whose text cannot be read is left out with a warning (the next scan reads it
/// in full).
fn migrate_v1(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let sql = |e| sql_error(path, e);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql)?;
    let result = (|| -> rusqlite::Result<usize> {
        conn.execute_batch(TABLES)?;
        let has_old: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inventory_environment'")?
            .exists([])?;
        let mut migrated = 0;
        if has_old {
            let mut stmt =
                conn.prepare("SELECT environment_id, data, updated_at FROM inventory_environment")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let text: String = r.get(1)?;
                let updated: String = r.get(2)?;
                match serde_json::from_str::<V1Environment>(&text) {
                    Ok(V1Environment(mut data)) => {
                        for c in data.components.values_mut() {
                            *c = StoredComponent::new(std::mem::take(&mut c.row), c.parent.take());
                        }
                        let all = RowChanges {
                            all: true,
                            ..RowChanges::default()
                        };
                        let at = parse_time(&updated).unwrap_or(OffsetDateTime::UNIX_EPOCH);
                        save_environment(conn, &id, &data, &all, at)?;
                        migrated += 1;
                    }
                    Err(e) => tracing::warn!(
                        environment = %id,
                        "stored scan state (version 1) is unreadable ({e}); this environment is read in full"
                    ),
                }
            }
            drop(rows);
            drop(stmt);
            conn.execute_batch("DROP TABLE inventory_environment")?;
        }
        let has_documents: bool = conn
            .prepare(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inventory_document'",
            )?
            .exists([])?;
        if has_documents {
            // One document at a time (one per destination), each into its parts.
            let destinations: Vec<String> = conn
                .prepare("SELECT destination FROM inventory_document")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for d in destinations {
                let (run_id, text, updated): (String, String, String) = conn.query_row(
                    "SELECT run_id, document, updated_at FROM inventory_document WHERE destination = ?1",
                    params![d],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                write_document(conn, &d, &run_id, &updated, &|w| {
                    w.write_all(text.as_bytes())
                })?;
            }
            conn.execute_batch("DROP TABLE inventory_document")?;
        }
        conn.execute(
            "INSERT OR REPLACE INTO inventory_meta (key, value) VALUES ('schema_version', ?1)",
            params![SCHEMA_VERSION.to_string()],
        )?;
        conn.execute_batch("COMMIT")?;
        Ok(migrated)
    })();
    match result {
        Ok(n) => {
            tracing::info!(path = %path.display(), environments = n, "inventory state migrated to schema version {SCHEMA_VERSION}");
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(sql(e))
        }
    }
}

/// Migrates a version-2 store in one transaction: each component's JSON text, read one at a
/// time, becomes its columns, with its fingerprint recomputed from the row as version 2
/// stored it (whole, as read): the next scan finds every unchanged component unchanged. An
/// environment with a component that cannot be read is dropped whole with a warning (the next
/// scan reads it in full: with its delta links kept, the unreadable component would be lost).
fn migrate_v2(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let sql = |e| sql_error(path, e);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql)?;
    let result = (|| -> rusqlite::Result<(usize, BTreeSet<String>)> {
        conn.execute_batch("ALTER TABLE inventory_component RENAME TO inventory_component_v2")?;
        conn.execute_batch(TABLES)?;
        let mut migrated = 0;
        let mut lost = BTreeSet::new();
        {
            let mut stmt = conn.prepare(
                "SELECT environment_id, component_id, parent, row FROM inventory_component_v2",
            )?;
            let mut upsert = conn.prepare_cached(UPSERT_COMPONENT)?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let env: String = r.get(0)?;
                let id: String = r.get(1)?;
                let read = r
                    .get::<_, Option<String>>(2)
                    .and_then(|parent| Ok((parent, r.get::<_, String>(3)?)))
                    .map_err(|e| e.to_string())
                    .and_then(|(parent, text)| {
                        serde_json::from_str::<ComponentRow>(&text)
                            .map(|row| StoredComponent::new(row, parent))
                            .map_err(|e| e.to_string())
                    });
                match read {
                    Ok(c) => migrated += upsert_component(&mut upsert, &env, &id, &c)?,
                    Err(e) => {
                        tracing::warn!(environment = %env, component = %id, "stored component (version 2) is unreadable ({e}); this environment is read in full");
                        lost.insert(env);
                    }
                }
            }
        }
        conn.execute_batch("DROP TABLE inventory_component_v2")?;
        for env in &lost {
            for table in [
                "inventory_env",
                "inventory_bot",
                "inventory_component",
                "inventory_related",
                "inventory_session",
            ] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE environment_id = ?1"),
                    params![env],
                )?;
            }
        }
        conn.execute(
            "INSERT OR REPLACE INTO inventory_meta (key, value) VALUES ('schema_version', ?1)",
            params![SCHEMA_VERSION.to_string()],
        )?;
        conn.execute_batch("COMMIT")?;
        Ok((migrated, lost))
    })();
    match result {
        Ok((n, lost)) => {
            tracing::info!(path = %path.display(), components = n, dropped_environments = lost.len(), "inventory state migrated to schema version {SCHEMA_VERSION}");
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(sql(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-03-02 12:00 UTC);

    fn component(id: &str, parent: &str, yaml: &str) -> StoredComponent {
        let mut row = ComponentRow::new(id.to_uppercase(), 9, Some(yaml.to_owned()));
        row.name = Some(format!("topic {id}"));
        StoredComponent::new(row, Some(parent.to_owned()))
    }

    fn data() -> EnvironmentData {
        let mut d = EnvironmentData::default();
        for b in ["b1", "b2"] {
            d.bots
                .insert(b.into(), json!({"botid": b.to_uppercase(), "name": b}));
        }
        for (id, parent) in [("c1", "b1"), ("c2", "b1"), ("c3", "b2")] {
            d.components.insert(
                id.into(),
                component(id, parent, &format!("kind: AdaptiveDialog # {id}")),
            );
        }
        d.related
            .entry("c1".into())
            .or_default()
            .insert(("botcomponent_workflow".into(), "w1".into()));
        d.sessions.insert(
            "b1".into(),
            vec![
                StoredSession {
                    id: "z@1".into(),
                    started_at: datetime!(2026-03-01 10:00 UTC),
                },
                StoredSession {
                    id: "a@2".into(),
                    started_at: datetime!(2026-03-01 11:00 UTC),
                },
            ],
        );
        d.usage_read_at = Some(T);
        d.bots_delta = Some("https://o/api/data/v9.2/bots?$deltatoken=1".into());
        d.components_delta = Some("https://o/api/data/v9.2/botcomponents?$deltatoken=1".into());
        d
    }

    /// `d` as a load gives it back: components without their YAML.
    fn light(d: &EnvironmentData) -> EnvironmentData {
        let mut d = d.clone();
        for c in d.components.values_mut() {
            *c = c.clone().without_data();
        }
        d
    }

    fn all() -> RowChanges {
        RowChanges {
            all: true,
            ..RowChanges::default()
        }
    }

    fn changes(conn: &Arc<Mutex<Connection>>) -> u64 {
        conn.lock().unwrap().total_changes()
    }

    fn found(s: &EnvironmentStore, env: &str) -> EnvironmentData {
        match s.load(env).unwrap() {
            StoredEnvironment::Found(d) => *d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rows_round_trip_and_an_unchanged_environment_writes_only_its_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        let mut store = InventoryStore::open(&path).unwrap();
        store.begin_scan("json").unwrap();
        let rows = store.environments();
        assert_eq!(rows.load("e1").unwrap(), StoredEnvironment::Missing);
        rows.save("e1", &data(), &all(), T).unwrap();
        rows.save("e2", &data(), &all(), T).unwrap();
        store
            .commit(
                "json",
                "run",
                &BTreeMap::new(),
                Some(&|w| w.write_all(b"{}")),
                "2026-03-02T12:00:00Z",
            )
            .unwrap();
        drop(rows);
        drop(store);

        let mut store = InventoryStore::open(&path).unwrap();
        let previous = store.begin_scan("json").unwrap();
        let rows = previous.store.clone().unwrap();
        let loaded = found(&rows, "e1");
        assert_eq!(loaded, light(&data()));
        assert!(loaded.components.values().all(|c| c.row.data.is_none()));
        // Sessions keep their order.
        assert_eq!(loaded.sessions["b1"][0].id, "z@1");
        let whole = rows
            .component_rows("e1", &["c1".to_owned(), "c3".to_owned(), "nope".to_owned()])
            .unwrap();
        assert_eq!(whole.len(), 2);
        assert_eq!(whole["c1"], data().components["c1"].row);
        assert_eq!(
            rows.bots_delta_links().unwrap()["e2"],
            "https://o/api/data/v9.2/bots?$deltatoken=1"
        );

        // Nothing changed: the environment's row (its delta links) and nothing else.
        let before = changes(&rows.conn);
        let n = rows.save("e1", &loaded, &RowChanges::default(), T).unwrap();
        assert_eq!(n, 1);
        assert_eq!(changes(&rows.conn) - before, 1);

        // One component changed, one deleted, one bot gone: those rows only.
        let mut next = loaded.clone();
        next.components.insert(
            "c2".into(),
            component("c2", "b1", "kind: AdaptiveDialog # new"),
        );
        next.components.remove("c3");
        next.bots.remove("b2");
        let mut ch = RowChanges::default();
        ch.components.extend(["c2".to_owned(), "c3".to_owned()]);
        ch.bots.insert("b2".into());
        let before = changes(&rows.conn);
        rows.save("e1", &next, &ch, T).unwrap();
        // env + c2 + c3 + b2 (no targets to clear).
        assert_eq!(changes(&rows.conn) - before, 4);
        store
            .commit(
                "json",
                "run2",
                &BTreeMap::new(),
                None,
                "2026-03-02T13:00:00Z",
            )
            .unwrap();
        let after = found(&rows, "e1");
        assert_eq!(after, light(&next));
        assert_eq!(
            rows.component_rows("e1", &["c2".to_owned()]).unwrap()["c2"]
                .data
                .as_deref(),
            Some("kind: AdaptiveDialog # new")
        );
        // The other environment was not touched.
        assert_eq!(found(&rows, "e2"), light(&data()));
    }

    #[test]
    fn background_saves_are_in_the_transaction_and_their_failures_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        let mut store = InventoryStore::open(&path).unwrap();
        let rows = store.environments();
        // The state refuses one environment's rows (as a full disk would), in every scan.
        rows.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON inventory_env WHEN NEW.environment_id = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        );
        store.begin_scan("json").unwrap();
        // More than the queue holds: the writer keeps up, each save lands.
        for i in 0..(QUEUED_SAVES * 3) {
            rows.save_in_background(format!("e{i}"), data(), all(), T)
                .unwrap();
        }
        rows.save_in_background("bad".into(), data(), all(), T)
            .unwrap();
        // A rollback waits for the writer: nothing it wrote survives, nothing is written after.
        store.rollback().unwrap();
        for i in 0..(QUEUED_SAVES * 3) {
            assert_eq!(
                rows.load(&format!("e{i}")).unwrap(),
                StoredEnvironment::Missing
            );
        }
        // The failure is kept until the scan takes it.
        let failed = rows.finish_saves().unwrap();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].environment_id, "bad");
        assert!(failed[0].error.contains("refused"), "{failed:?}");
        assert!(rows.finish_saves().unwrap().is_empty());

        // A commit waits for the writer too: every queued environment is committed.
        store.begin_scan("json").unwrap();
        for i in 0..(QUEUED_SAVES * 3) {
            rows.save_in_background(format!("e{i}"), data(), all(), T)
                .unwrap();
        }
        rows.save_in_background("bad".into(), data(), all(), T)
            .unwrap();
        store
            .commit("json", "r1", &BTreeMap::new(), None, "2026-03-02T12:00:00Z")
            .unwrap();
        drop(rows);
        drop(store);
        let mut store = InventoryStore::open(&path).unwrap();
        let rows = store.begin_scan("json").unwrap().store.unwrap();
        for i in 0..(QUEUED_SAVES * 3) {
            assert_eq!(found(&rows, &format!("e{i}")), light(&data()));
        }
        assert_eq!(rows.load("bad").unwrap(), StoredEnvironment::Missing);
    }

    /// `commit` and `rollback` wait for the writer, whose saves run inside the scan's
    /// transaction: the writer is held before its save until the drain begins (or, were the
    /// drain missing, until the commit or rollback returned), and the save records whether
    /// the scan's transaction was still open.
    #[test]
    fn commit_and_rollback_wait_for_the_writer_inside_the_transaction() {
        for end in ["commit", "rollback"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("inv.db");
            let mut store = InventoryStore::open(&path).unwrap();
            let rows = store.environments();
            let (release, gate) = std::sync::mpsc::channel::<()>();
            let gate = Arc::new(Mutex::new(gate));
            let in_transaction = Arc::new(Mutex::new(Vec::new()));
            let drained = release.clone();
            rows.writer().unwrap().hooks = Some(TestHooks {
                before_save: {
                    let in_transaction = in_transaction.clone();
                    Arc::new(move |s: &EnvironmentStore| {
                        let _ = gate.lock().unwrap().recv();
                        let open = !s.conn.lock().unwrap().is_autocommit();
                        in_transaction.lock().unwrap().push(open);
                    })
                },
                on_drain: Arc::new(move || {
                    let _ = drained.send(());
                }),
            });
            store.begin_scan("json").unwrap();
            rows.save_in_background("e1".into(), data(), all(), T)
                .unwrap();
            if end == "commit" {
                store
                    .commit("json", "r1", &BTreeMap::new(), None, "2026-03-02T12:00:00Z")
                    .unwrap();
            } else {
                store.rollback().unwrap();
            }
            // A commit or rollback that did not wait lets the writer go only now.
            release.send(()).unwrap();
            assert!(rows.finish_saves().unwrap().is_empty());
            assert_eq!(
                *in_transaction.lock().unwrap(),
                [true],
                "{end}: the save ran after the scan's transaction ended"
            );
            drop(rows);
            drop(store);
            let mut store = InventoryStore::open(&path).unwrap();
            let rows = store.begin_scan("json").unwrap().store.unwrap();
            match end {
                "commit" => assert_eq!(found(&rows, "e1"), light(&data())),
                _ => assert_eq!(rows.load("e1").unwrap(), StoredEnvironment::Missing),
            }
        }
    }

    #[test]
    fn a_scan_not_committed_leaves_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        let mut store = InventoryStore::open(&path).unwrap();
        store.begin_scan("json").unwrap();
        store.environments().save("e1", &data(), &all(), T).unwrap();
        store
            .commit(
                "json",
                "r1",
                &BTreeMap::new(),
                Some(&|w| w.write_all(b"{}")),
                "2026-03-02T12:00:00Z",
            )
            .unwrap();

        // Written, then dropped without a commit (as a killed process).
        store.begin_scan("json").unwrap();
        let mut other = data();
        other.bots_delta = Some("later".into());
        other.components.clear();
        store.environments().save("e1", &other, &all(), T).unwrap();
        store.environments().save("e9", &other, &all(), T).unwrap();
        drop(store);
        let mut store = InventoryStore::open(&path).unwrap();
        let rows = store.begin_scan("json").unwrap().store.unwrap();
        assert_eq!(found(&rows, "e1"), light(&data()));
        assert_eq!(rows.load("e9").unwrap(), StoredEnvironment::Missing);

        // Rolled back explicitly (a failed scan): the same.
        rows.save("e1", &other, &all(), T).unwrap();
        store.rollback().unwrap();
        let rows = store.begin_scan("json").unwrap().store.unwrap();
        assert_eq!(found(&rows, "e1"), light(&data()));
    }

    #[test]
    fn a_corrupt_row_makes_its_environment_unreadable_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        let mut store = InventoryStore::open(&path).unwrap();
        store.begin_scan("json").unwrap();
        let rows = store.environments();
        rows.save("e1", &data(), &all(), T).unwrap();
        rows.save("e2", &data(), &all(), T).unwrap();
        for (table, column, key) in [
            (
                "inventory_component",
                "component_type",
                "component_id = 'c2'",
            ),
            ("inventory_bot", "row", "bot_id = 'b1'"),
            ("inventory_session", "started_at", "session_id = 'z@1'"),
        ] {
            let conn = rows.conn.lock().unwrap();
            conn.execute(
                &format!("UPDATE {table} SET {column} = '{{not json' WHERE environment_id = 'e1' AND {key}"),
                [],
            )
            .unwrap();
            drop(conn);
            match rows.load("e1").unwrap() {
                StoredEnvironment::Unreadable(why) => assert!(why.contains("unreadable"), "{why}"),
                other => panic!("{table}: {other:?}"),
            }
            // Made whole again by a full write, as the scan does after reading in full.
            rows.save("e1", &data(), &all(), T).unwrap();
            assert_eq!(found(&rows, "e1"), light(&data()));
        }
        assert_eq!(found(&rows, "e2"), light(&data()));
    }

    #[test]
    fn a_newer_version_is_refused_and_an_unknown_one_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        drop(InventoryStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE inventory_meta SET value = '4' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let e = InventoryStore::open(&path).unwrap_err();
        assert!(
            matches!(
                e,
                StateError::Version {
                    found: 4,
                    supported: 3,
                    ..
                }
            ),
            "{e}"
        );
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE inventory_meta SET value = 'x' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let e = InventoryStore::open(&path).unwrap_err();
        assert!(matches!(e, StateError::Damaged { .. }), "{e}");
    }

    #[test]
    fn a_version_1_file_written_by_the_old_code_is_migrated_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        std::fs::write(
            &path,
            include_bytes!("../../tests/fixtures/inventory-state-v1.db"),
        )
        .unwrap();
        // What version 1 holds, read as version 1 wrote it.
        let conn = Connection::open(&path).unwrap();
        let v1: BTreeMap<String, EnvironmentData> = conn
            .prepare("SELECT environment_id, data FROM inventory_environment")
            .unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| {
                let (id, text) = r.unwrap();
                (id, serde_json::from_str(&text).unwrap())
            })
            .collect();
        let document: String = conn
            .query_row(
                "SELECT document FROM inventory_document WHERE destination = 'json'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        drop(conn);
        assert_eq!(v1.len(), 2);

        let mut store = InventoryStore::open(&path).unwrap();
        let previous = store.begin_scan("json").unwrap();
        // The previous rows stay: the next diff re-uploads nothing.
        let old = crate::inventory::output::read_document(&document).unwrap();
        assert_eq!(previous.rows.as_ref().unwrap(), &old.rows);
        assert_eq!(previous.rows.as_ref().unwrap().agents.len(), 9);
        assert_eq!(previous.checks, old.checks);
        assert!(!previous.checks.is_empty());
        let rows = previous.store.unwrap();
        let mut components = 0;
        for (id, mut want) in v1 {
            let got = found(&rows, &id);
            assert!(got.bots_delta.is_some(), "{id}: delta link lost");
            let ids: Vec<String> = want.components.keys().cloned().collect();
            let whole = rows.component_rows(&id, &ids).unwrap();
            for (cid, c) in &mut want.components {
                assert_eq!(&whole[cid], &c.row, "{id}/{cid}");
                *c = StoredComponent::new(c.row.clone(), c.parent.clone()).without_data();
                components += 1;
            }
            assert_eq!(got, want, "{id}");
        }
        assert_eq!(components, 93);
        store.rollback().unwrap();
        drop(rows);
        drop(store);
        // Migrated once: the old table is gone, the version is 3, opening again is a no-op.
        let conn = Connection::open(&path).unwrap();
        let version: String = conn
            .query_row(
                "SELECT value FROM inventory_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, "3");
        let old_table: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE name = 'inventory_environment'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(old_table, None);
        let old_documents: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE name = 'inventory_document'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(old_documents, None);
        drop(conn);
        let store = InventoryStore::open(&path).unwrap();
        let want: Value = serde_json::from_str(&document).unwrap();
        assert_eq!(store.document("json").unwrap(), Some(want.clone()));
        drop(store);
        assert_eq!(read_latest_document(&path).unwrap().unwrap().unwrap(), want);
    }

    #[test]
    fn a_version_2_file_written_by_the_old_code_is_migrated_with_new_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        std::fs::write(
            &path,
            include_bytes!("../../tests/fixtures/inventory-state-v2.db"),
        )
        .unwrap();
        // What version 2 holds, read as version 2 wrote it.
        type V2Component = (Option<String>, String, String);
        let conn = Connection::open(&path).unwrap();
        let v2: BTreeMap<(String, String), V2Component> = conn
            .prepare("SELECT environment_id, component_id, parent, fingerprint, row FROM inventory_component")
            .unwrap()
            .query_map([], |r| {
                Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?, r.get(4)?)))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let links: BTreeMap<String, (Option<String>, Option<String>)> = conn
            .prepare("SELECT environment_id, bots_delta, components_delta FROM inventory_env")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        drop(conn);
        assert_eq!(v2.len(), 93);
        assert_eq!(links.len(), 2);
        // A copy with one component damaged, for the end of the test.
        let damaged = dir.path().join("damaged.db");
        std::fs::copy(&path, &damaged).unwrap();

        let mut store = InventoryStore::open(&path).unwrap();
        let previous = store.begin_scan("json").unwrap();
        // The previous document stays: the next diff re-uploads nothing.
        assert_eq!(previous.rows.as_ref().unwrap().agents.len(), 9);
        let rows = previous.store.unwrap();
        let mut loaded = BTreeMap::new();
        for (env, (bots, components)) in &links {
            let got = found(&rows, env);
            assert_eq!((&got.bots_delta, &got.components_delta), (bots, components));
            assert!(got.bots_delta.is_some(), "{env}: delta link lost");
            loaded.insert(env.clone(), got);
        }
        for ((env, cid), (parent, old_fingerprint, text)) in &v2 {
            let old_row: ComponentRow = serde_json::from_str(text).unwrap();
            // What the next read of this unchanged component computes: the stored fingerprint
            // must be the same (new definition), so nothing is rebuilt or written.
            let read = StoredComponent::new(old_row.clone(), parent.clone());
            let got = &loaded[env].components[cid];
            assert_eq!(got.fingerprint, read.fingerprint, "{env}/{cid}");
            assert!(got.same_content(&read), "{env}/{cid}");
            assert_ne!(
                &got.fingerprint, old_fingerprint,
                "{env}/{cid}: not recomputed"
            );
            assert_eq!(got, &read.clone().without_data(), "{env}/{cid}");
            let whole = rows.component_rows(env, std::slice::from_ref(cid)).unwrap();
            assert_eq!(whole[cid], old_row, "{env}/{cid}");
        }
        assert_eq!(
            loaded.values().map(|d| d.components.len()).sum::<usize>(),
            93
        );
        assert!(loaded.values().all(|d| !d.bots.is_empty()));
        store.rollback().unwrap();
        drop(rows);
        drop(store);
        let conn = Connection::open(&path).unwrap();
        let version: String = conn
            .query_row(
                "SELECT value FROM inventory_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, "3");
        let old_table: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE name = 'inventory_component_v2'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(old_table, None);
        drop(conn);
        assert!(read_latest_document(&path).unwrap().unwrap().is_ok());

        // A component version 2 cannot give back: its environment is dropped whole (read in
        // full next time), never half-kept; the other stays.
        let (bad_env, bad_id) = v2.keys().next().unwrap().clone();
        let conn = Connection::open(&damaged).unwrap();
        conn.execute(
            "UPDATE inventory_component SET row = '{not json' WHERE environment_id = ?1 AND component_id = ?2",
            params![bad_env, bad_id],
        )
        .unwrap();
        drop(conn);
        let mut store = InventoryStore::open(&damaged).unwrap();
        let rows = store.begin_scan("json").unwrap().store.unwrap();
        assert_eq!(rows.load(&bad_env).unwrap(), StoredEnvironment::Missing);
        assert!(!rows.bots_delta_links().unwrap().contains_key(&bad_env));
        for env in links.keys().filter(|e| **e != bad_env) {
            assert_eq!(found(&rows, env), loaded[env]);
        }
    }

    /// A state written by main 658a474's release binary (schema 3, see the fixtures' README)
    /// reads back with today's code: the previous rows for the diff, every environment's rows
    /// and delta links, every component's YAML, and the document for `inventory report`.
    #[test]
    fn a_version_3_file_written_by_the_released_code_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        std::fs::write(
            &path,
            include_bytes!("../../tests/fixtures/inventory-state-v3.db"),
        )
        .unwrap();
        // The document as stored, read with plain SQL.
        let conn = Connection::open(&path).unwrap();
        let text: Vec<u8> = conn
            .prepare(
                "SELECT bytes FROM inventory_document_part WHERE destination = 'json' ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .flat_map(Result::unwrap)
            .collect();
        let components: BTreeMap<(String, String), Option<String>> = conn
            .prepare("SELECT environment_id, component_id, data FROM inventory_component")
            .unwrap()
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        drop(conn);
        let want: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(components.len(), 93);

        let mut store = InventoryStore::open(&path).unwrap();
        let previous = store.begin_scan("json").unwrap();
        let prev_rows = previous.rows.as_ref().unwrap();
        assert_eq!(prev_rows.agents.len(), 9);
        assert_eq!(
            prev_rows,
            &super::super::output::rows_from_document(&want).unwrap()
        );
        assert_eq!(previous.checks.len(), 9);
        let rows = previous.store.unwrap();
        let links = rows.bots_delta_links().unwrap();
        assert_eq!(links.len(), 2);
        let mut seen = 0;
        for env in links.keys() {
            let got = found(&rows, env);
            assert!(got.components_delta.is_some(), "{env}");
            let ids: Vec<String> = got.components.keys().cloned().collect();
            let whole = rows.component_rows(env, &ids).unwrap();
            for id in &ids {
                assert_eq!(
                    whole[id].data,
                    components[&(env.clone(), id.clone())],
                    "{env}/{id}"
                );
            }
            seen += ids.len();
        }
        assert_eq!(seen, 93);
        store.rollback().unwrap();
        assert_eq!(store.document("json").unwrap().as_ref(), Some(&want));
        drop(rows);
        drop(store);
        assert_eq!(read_latest_document(&path).unwrap().unwrap().unwrap(), want);
    }

    #[test]
    fn a_document_goes_in_parts_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.db");
        assert!(read_latest_document(&dir.path().join("none.db")).is_err());
        let mut store = InventoryStore::open(&path).unwrap();
        assert!(read_latest_document(&path).unwrap().is_none());
        // Longer than two parts, with multi-byte characters cut across part boundaries.
        let doc = json!({
            "fsi_copilotagent": (0..50_000)
                .map(|i| json!({"fsi_agentid": format!("a{i}"), "fsi_environmentid": "E", "fsi_name": "Agent \u{e9}\u{1f600} ok"}))
                .collect::<Vec<_>>(),
            "summary": {"status": "complete"}
        });
        let text = doc.to_string();
        assert!(text.len() > 2 * DOCUMENT_PART, "{}", text.len());
        store.begin_scan("json").unwrap();
        store
            .commit(
                "json",
                "r1",
                &BTreeMap::new(),
                Some(&|w| serde_json::to_writer(w, &doc).map_err(std::io::Error::from)),
                "2026-03-02T12:00:00Z",
            )
            .unwrap();
        let parts: i64 = store
            .rows
            .conn
            .lock()
            .unwrap()
            .query_row("SELECT count(*) FROM inventory_document_part", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(parts as usize, text.len().div_ceil(DOCUMENT_PART));
        assert_eq!(store.document("json").unwrap().as_ref(), Some(&doc));
        let previous = store.begin_scan("json").unwrap();
        assert_eq!(previous.rows.unwrap().agents.len(), 50_000);
        // A shorter document replaces it whole: no part of the longer one is left.
        store
            .commit(
                "json",
                "r2",
                &BTreeMap::new(),
                Some(&|w| w.write_all(b"{\"summary\": {}}")),
                "2026-03-02T13:00:00Z",
            )
            .unwrap();
        assert_eq!(
            read_latest_document(&path).unwrap().unwrap().unwrap(),
            json!({"summary": {}})
        );
        // A scan that writes no document keeps the previous one.
        store.begin_scan("json").unwrap();
        store
            .commit("json", "r3", &BTreeMap::new(), None, "2026-03-02T14:00:00Z")
            .unwrap();
        assert_eq!(
            store.document("json").unwrap(),
            Some(json!({"summary": {}}))
        );
    }
}

//! The checkpoint store: an embedded SQLite database, crash-safe, used by one run at a time.
//!
//! It keeps, per checkpoint scope (environment + bot filter + destination):
//! - the watermark: the `modifiedon` of the last transcript whose records were all accepted,
//!   with every transcript before it in the pass also done;
//! - for each recent transcript, the row version delivered and how many of its records were
//!   accepted, so the overlapping window does not resend, and a pass cut short in the middle of a
//!   transcript resumes after its last accepted record;
//! - transcripts whose content could not be parsed, with the reason, so they are reported once
//!   and not retried forever (a new row version is tried again);
//! - the identity of every pair delivered ([`DeliveredPair`]): a digest of what the pair holds
//!   (its session and its messages), so a transcript saved again, or a session whose rows
//!   arrive in several passes, sends only the pairs not delivered before. Kept for
//!   [`PAIR_RETENTION`] after the last change of the rows holding them.
//!
//! Schema version 2 added the pair table and the `keyed` flag of `delivered`; a version-1
//! store is upgraded in place when opened (its rows keep working: a transcript it recorded
//! as partly delivered resumes after the pairs it counted).
//!
//! Every update is one SQLite transaction in WAL mode with `synchronous=FULL`: after a crash
//! (even `kill -9`) the database holds exactly the state of the last committed batch.
//! A second process using the same file is refused through an exclusive OS lock on
//! `<state>.lock`, which the OS releases when the holder dies. The lock is taken on the
//! database's canonical path, so a symlink, `./state.db` and the absolute path are one store.
//!
//! A store that is not sound (an empty file, a file that is not a SQLite database, a damaged
//! one, tables of another shape) is refused with the fix, never silently replaced: replacing it
//! would re-send everything. [`check`] says whether a store is sound without changing it.

mod health;

pub(crate) use health::classify;
pub use health::{Health, ScopeInfo, Soundness, canonical_path, check};

use crate::timefmt::rfc3339;
use rusqlite::{Connection, OptionalExtension, params};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// A failure of the checkpoint store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Another process holds the store.
    #[error(
        "another copilot-connector run is using {path} (its lock file {lock} is held). Wait for that run to finish, or give this run its own --state file"
    )]
    Locked {
        /// The database.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The file could not be opened, created or locked.
    #[error("cannot open the checkpoint store {path}: {source}")]
    Io {
        /// The database.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("checkpoint store {path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The path is empty (SQLite would open a temporary database and keep no checkpoint).
    #[error(
        "the checkpoint store path is empty. Fix: give --state FILE, or leave it out for ./copilot-connector.db"
    )]
    EmptyPath,
    /// The file is not a sound checkpoint store: refused, as starting over would re-send
    /// everything.
    #[error(
        "the checkpoint store {path} cannot be used: {problem}. Fix: move it aside (e.g. `mv {path} {path}.damaged`) and run again; a fresh store has no checkpoint, so the next pass re-sends every transcript still in Dataverse, or only those from --since on (give --since, e.g. --since 2d, to limit the re-send)",
        path = .path.display()
    )]
    Damaged {
        /// The database.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The file was written by a newer version of this program.
    #[error(
        "checkpoint store {path} has schema version {found}, newer than this program understands ({supported}); upgrade copilot-connector"
    )]
    Version {
        /// The database.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The newest version supported.
        supported: i64,
    },
}

impl StateError {
    /// Whether the store is held by another run.
    pub fn is_locked(&self) -> bool {
        matches!(self, StateError::Locked { .. })
    }
}

const SCHEMA_VERSION: i64 = 2;

/// How long a delivered pair's identity is kept after the last change of its rows: a
/// transcript saved again within this time sends only its new pairs.
pub const PAIR_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// What the store knows about one transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptState {
    /// The row version last seen.
    pub version: String,
    /// Records of that version accepted so far.
    pub records_delivered: u64,
    /// Whether every record of that version was accepted (or the row was recorded as
    /// unparseable).
    pub complete: bool,
    /// Whether its pairs are recorded by identity ([`StateStore::pair_delivered`]); `false`
    /// for progress written by schema version 1, where `records_delivered` counts the row's
    /// first pairs.
    pub keyed: bool,
}

/// A pair whose record was accepted (or refused for good and reported): its identity, the
/// row it belongs to and that row's `modifiedon` (which dates the entry for pruning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredPair {
    /// The pair's identity ([`pair_id`] of the session pair's key).
    pub pair_id: String,
    /// The row its path names.
    pub transcript_id: String,
    /// The latest `modifiedon` among the rows of its session when it was delivered.
    pub modified_on: OffsetDateTime,
}

/// The stored identity of a pair: the first 128 bits of the SHA-256 of its key
/// (`transcript_model::SessionPair::key`), in hex. Keys hold conversation names and activity
/// ids; a fixed-size digest keeps the store small.
pub fn pair_id(key: &str) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut out = String::with_capacity(32);
    for b in &digest.as_ref()[..16] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Progress to commit after a batch was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptProgress {
    /// The transcript id.
    pub id: String,
    /// Its row version.
    pub version: String,
    /// Its `modifiedon`.
    pub modified_on: OffsetDateTime,
    /// Records of this version accepted so far, this batch included.
    pub records_delivered: u64,
    /// Whether that is all of them.
    pub complete: bool,
}

/// A transcript whose content could not be turned into records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The transcript id.
    pub id: String,
    /// Its row version.
    pub version: String,
    /// Its `modifiedon`.
    pub modified_on: OffsetDateTime,
    /// Why it could not be used.
    pub reason: String,
}

/// The open, locked checkpoint store.
#[derive(Debug)]
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
    scope: String,
    // Held for the store's lifetime: the OS lock is what keeps a second run out.
    _lock: File,
}

/// Runs `stmt`, an insert into `failures` of (scope, transcript_id, version, modified_unix,
/// reason, recorded_at), for `f`.
fn insert_failure(
    stmt: &mut rusqlite::Statement<'_>,
    scope: &str,
    f: &Failure,
    now_text: &str,
) -> rusqlite::Result<usize> {
    stmt.execute(params![
        scope,
        f.id,
        f.version,
        f.modified_on.unix_timestamp(),
        f.reason,
        now_text
    ])
}

/// An SQLite database opened for one run: its path made canonical (so a symlink, `./x.db` and
/// the absolute path are one store), an exclusive OS lock on `<path>.lock` held (the OS
/// releases it when the holder dies), WAL journal with `synchronous=FULL` (a crash, even
/// `kill -9`, leaves exactly the last committed transaction) and a busy timeout. The
/// checkpoint store and the inventory state open their files through this one helper.
#[derive(Debug)]
pub(crate) struct LockedDb {
    /// The open database.
    pub(crate) conn: Connection,
    /// Its canonical path.
    pub(crate) path: PathBuf,
    /// The held lock: dropping it lets another run in.
    pub(crate) lock: File,
}

impl LockedDb {
    /// Opens `path` (creating its directory), taking the lock first; `prepare` runs on the
    /// canonical path between taking the lock and opening the database (e.g. to refuse an
    /// empty file or create a new store atomically).
    pub(crate) fn open(
        path: &Path,
        prepare: impl FnOnce(&Path) -> Result<(), StateError>,
    ) -> Result<Self, StateError> {
        if path.as_os_str().is_empty() {
            return Err(StateError::EmptyPath);
        }
        let io = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let canonical = canonical_path(path).map_err(io)?;
        let path = canonical.as_path();
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
        prepare(path)?;
        let sql = |source| health::classify(path, source);
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        // WAL: a crash leaves either the last committed transaction or the one before, never a
        // torn page; FULL syncs the WAL on every commit, so what a commit records is on disk
        // before the run goes on.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        Ok(LockedDb {
            conn,
            path: canonical,
            lock,
        })
    }
}

impl StateStore {
    /// Opens (creating if needed) the store at `path` for `scope`, taking its lock.
    pub fn open(path: &Path, scope: &str) -> Result<Self, StateError> {
        // An empty or foreign file is refused; a new store appears whole or not at all.
        let LockedDb { conn, path, lock } = LockedDb::open(path, health::prepare_file)?;
        let path = path.as_path();
        let sql = |source| health::classify(path, source);
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS checkpoint (
                 scope TEXT PRIMARY KEY,
                 watermark TEXT NOT NULL,
                 watermark_unix INTEGER NOT NULL,
                 updated_at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS delivered (
                 scope TEXT NOT NULL,
                 transcript_id TEXT NOT NULL,
                 version TEXT NOT NULL,
                 modified_unix INTEGER NOT NULL,
                 records INTEGER NOT NULL,
                 complete INTEGER NOT NULL,
                 updated_at TEXT NOT NULL,
                 keyed INTEGER NOT NULL DEFAULT 0,
                 PRIMARY KEY (scope, transcript_id));
             CREATE TABLE IF NOT EXISTS delivered_pairs (
                 scope TEXT NOT NULL,
                 pair_id TEXT NOT NULL,
                 transcript_id TEXT NOT NULL,
                 modified_unix INTEGER NOT NULL,
                 delivered_at TEXT NOT NULL,
                 PRIMARY KEY (scope, pair_id)) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS delivered_pairs_age ON delivered_pairs (scope, modified_unix);
             CREATE INDEX IF NOT EXISTS delivered_age ON delivered (scope, modified_unix);
             CREATE TABLE IF NOT EXISTS failures (
                 scope TEXT NOT NULL,
                 transcript_id TEXT NOT NULL,
                 version TEXT NOT NULL,
                 modified_unix INTEGER NOT NULL,
                 reason TEXT NOT NULL,
                 recorded_at TEXT NOT NULL,
                 PRIMARY KEY (scope, transcript_id, version));
             CREATE TABLE IF NOT EXISTS agents_sent (
                 scope TEXT NOT NULL,
                 agent_id TEXT NOT NULL,
                 fingerprint TEXT NOT NULL,
                 sent_at TEXT NOT NULL,
                 PRIMARY KEY (scope, agent_id));",
        )
        .map_err(sql)?;
        health::verify(&conn, path)?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
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
            Some(v) if v == SCHEMA_VERSION => {}
            _ => {
                health::upgrade(&conn, path)?;
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(sql)?;
            }
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
            scope: scope.to_owned(),
            _lock: lock,
        })
    }

    fn sql(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The open database, for other jobs (`m365`) that keep their own tables in the same
    /// locked store.
    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the bookkeeping of `old` (the same destination spelt another way by an older
    /// version) to this store's scope, when this scope has no checkpoint yet. Returns whether
    /// anything was moved.
    pub fn adopt_scope(&mut self, old: &str) -> Result<bool, StateError> {
        if old == self.scope || self.watermark()?.is_some() {
            return Ok(false);
        }
        let path = self.path.clone();
        let scope = self.scope.clone();
        health::adopt_scope(&mut self.conn, &path, old, &scope)
    }

    /// The checkpoint scope this store was opened for.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The watermark: every transcript modified before it (minus the overlap) was handled.
    pub fn watermark(&self) -> Result<Option<OffsetDateTime>, StateError> {
        let unix: Option<i64> = self
            .conn
            .query_row(
                "SELECT watermark_unix FROM checkpoint WHERE scope = ?1",
                params![self.scope],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(unix.and_then(|u| OffsetDateTime::from_unix_timestamp(u).ok()))
    }

    /// The fingerprint of every agent whose inventory record was accepted, by agent id.
    pub fn agent_fingerprints(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT agent_id, fingerprint FROM agents_sent WHERE scope = ?1")
            .map_err(|e| self.sql(e))?;
        stmt.query_map(params![self.scope], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.sql(e))
    }

    /// Records, in one transaction, that the inventory records of `agents` (id, fingerprint)
    /// were accepted.
    pub fn commit_agents(
        &mut self,
        agents: &[(String, String)],
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        let scope = self.scope.clone();
        let path = self.path.clone();
        let sql = move |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&sql)?;
        {
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO agents_sent (scope, agent_id, fingerprint, sent_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (scope, agent_id) DO UPDATE SET fingerprint = excluded.fingerprint, sent_at = excluded.sent_at",
                )
                .map_err(&sql)?;
            let now_text = rfc3339(now);
            for (id, fingerprint) in agents {
                up.execute(params![scope, id, fingerprint, now_text])
                    .map_err(&sql)?;
            }
        }
        tx.commit().map_err(&sql)
    }

    /// What is known about transcript `id`.
    pub fn transcript(&self, id: &str) -> Result<Option<TranscriptState>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT version, records, complete, keyed FROM delivered WHERE scope = ?1 AND transcript_id = ?2",
            )
            .map_err(|e| self.sql(e))?;
        stmt.query_row(params![self.scope, id], |r| {
            let records: i64 = r.get(1)?;
            Ok(TranscriptState {
                version: r.get(0)?,
                records_delivered: u64::try_from(records).unwrap_or(0),
                complete: r.get::<_, i64>(2)? != 0,
                keyed: r.get::<_, i64>(3)? != 0,
            })
        })
        .optional()
        .map_err(|e| self.sql(e))
    }

    /// Records, in one transaction, the progress of every transcript in an accepted batch, the
    /// unparseable transcripts met since the last commit (each marked done), the records
    /// skipped as undeliverable (noted against their transcript version, whose progress says
    /// the rest), and the new watermark (never moved backwards).
    pub fn commit(
        &mut self,
        progress: &[TranscriptProgress],
        failures: &[Failure],
        skipped_records: &[Failure],
        watermark: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        self.commit_with_pairs(progress, failures, skipped_records, &[], watermark, now)
    }

    /// [`StateStore::commit`], also recording the identities of the pairs the batch carried
    /// (an identity met again keeps the later `modifiedon`, so it lives as long as its rows).
    pub fn commit_with_pairs(
        &mut self,
        progress: &[TranscriptProgress],
        failures: &[Failure],
        skipped_records: &[Failure],
        pairs: &[DeliveredPair],
        watermark: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        let scope = self.scope.clone();
        let path = self.path.clone();
        let sql = move |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&sql)?;
        let now_text = rfc3339(now);
        {
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO delivered (scope, transcript_id, version, modified_unix, records, complete, updated_at, keyed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)
                     ON CONFLICT (scope, transcript_id) DO UPDATE SET
                        version = excluded.version, modified_unix = excluded.modified_unix,
                        records = excluded.records, complete = excluded.complete,
                        updated_at = excluded.updated_at, keyed = 1",
                )
                .map_err(&sql)?;
            for p in progress {
                up.execute(params![
                    scope,
                    p.id,
                    p.version,
                    p.modified_on.unix_timestamp(),
                    i64::try_from(p.records_delivered).unwrap_or(i64::MAX),
                    i64::from(p.complete),
                    now_text
                ])
                .map_err(&sql)?;
            }
            let mut fail = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO failures (scope, transcript_id, version, modified_unix, reason, recorded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(&sql)?;
            for f in failures {
                insert_failure(&mut fail, &scope, f, &now_text).map_err(&sql)?;
                // An unparseable row is done: it is reported, not retried every pass.
                up.execute(params![
                    scope,
                    f.id,
                    f.version,
                    f.modified_on.unix_timestamp(),
                    0_i64,
                    1_i64,
                    now_text
                ])
                .map_err(&sql)?;
            }
            // One entry per transcript version: a second skipped record adds its reason.
            let mut note = tx
                .prepare_cached(
                    "INSERT INTO failures (scope, transcript_id, version, modified_unix, reason, recorded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (scope, transcript_id, version) DO UPDATE SET
                        reason = failures.reason || '; ' || excluded.reason
                     WHERE instr(failures.reason, excluded.reason) = 0",
                )
                .map_err(&sql)?;
            for f in skipped_records {
                insert_failure(&mut note, &scope, f, &now_text).map_err(&sql)?;
            }
            let mut pair = tx
                .prepare_cached(
                    "INSERT INTO delivered_pairs (scope, pair_id, transcript_id, modified_unix, delivered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (scope, pair_id) DO UPDATE SET
                        modified_unix = max(delivered_pairs.modified_unix, excluded.modified_unix)",
                )
                .map_err(&sql)?;
            for p in pairs {
                pair.execute(params![
                    scope,
                    p.pair_id,
                    p.transcript_id,
                    p.modified_on.unix_timestamp(),
                    now_text
                ])
                .map_err(&sql)?;
            }
            if let Some(w) = watermark {
                tx.execute(
                    "INSERT INTO checkpoint (scope, watermark, watermark_unix, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (scope) DO UPDATE SET
                        watermark = excluded.watermark,
                        watermark_unix = excluded.watermark_unix,
                        updated_at = excluded.updated_at
                     WHERE excluded.watermark_unix > checkpoint.watermark_unix",
                    params![scope, rfc3339(w), w.unix_timestamp(), now_text],
                )
                .map_err(&sql)?;
            }
        }
        tx.commit().map_err(&sql)
    }

    /// Forgets per-transcript bookkeeping for rows modified before `before` (they can no longer
    /// appear in a window), keeping the store small. Returns how many entries were removed.
    pub fn prune(&mut self, before: OffsetDateTime) -> Result<usize, StateError> {
        self.conn
            .execute(
                "DELETE FROM delivered WHERE scope = ?1 AND modified_unix < ?2",
                params![self.scope, before.unix_timestamp()],
            )
            .map_err(|e| self.sql(e))
    }

    /// Forgets the identities of pairs whose rows last changed before `before` (see
    /// [`PAIR_RETENTION`]). Returns how many were removed.
    pub fn prune_pairs(&mut self, before: OffsetDateTime) -> Result<usize, StateError> {
        self.conn
            .execute(
                "DELETE FROM delivered_pairs WHERE scope = ?1 AND modified_unix < ?2",
                params![self.scope, before.unix_timestamp()],
            )
            .map_err(|e| self.sql(e))
    }

    /// Whether the pair with this identity ([`pair_id`]) was delivered.
    pub fn pair_delivered(&self, pair_id: &str) -> Result<bool, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM delivered_pairs WHERE scope = ?1 AND pair_id = ?2")
            .map_err(|e| self.sql(e))?;
        stmt.exists(params![self.scope, pair_id])
            .map_err(|e| self.sql(e))
    }

    /// Every unparseable transcript recorded for this scope, oldest first.
    pub fn failures(&self) -> Result<Vec<Failure>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT transcript_id, version, modified_unix, reason FROM failures
                 WHERE scope = ?1 ORDER BY recorded_at, transcript_id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![self.scope], |r| {
                Ok(Failure {
                    id: r.get(0)?,
                    version: r.get(1)?,
                    modified_on: OffsetDateTime::from_unix_timestamp(r.get(2)?)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    reason: r.get(3)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sql(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn progress(id: &str, version: &str, n: u64, complete: bool) -> TranscriptProgress {
        TranscriptProgress {
            id: id.into(),
            version: version.into(),
            modified_on: T0,
            records_delivered: n,
            complete,
        }
    }

    #[test]
    fn progress_and_watermark_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = StateStore::open(&path, "scope-a").unwrap();
            assert_eq!(s.watermark().unwrap(), None);
            s.commit(
                &[
                    progress("t1", "10", 3, true),
                    progress("t2", "11", 2, false),
                ],
                &[],
                &[],
                Some(T0),
                T0,
            )
            .unwrap();
        }
        let mut s = StateStore::open(&path, "scope-a").unwrap();
        assert_eq!(s.watermark().unwrap(), Some(T0));
        assert_eq!(
            s.transcript("t2").unwrap(),
            Some(TranscriptState {
                version: "11".into(),
                records_delivered: 2,
                complete: false,
                keyed: true,
            })
        );
        // The watermark never moves backwards.
        s.commit(&[], &[], &[], Some(T0 - time::Duration::hours(1)), T0)
            .unwrap();
        assert_eq!(s.watermark().unwrap(), Some(T0));
        // Another scope sees nothing.
        drop(s);
        let other = StateStore::open(&path, "scope-b").unwrap();
        assert_eq!(other.watermark().unwrap(), None);
        assert_eq!(other.transcript("t1").unwrap(), None);
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let first = StateStore::open(&path, "s").unwrap();
        let err = StateStore::open(&path, "s").unwrap_err();
        assert!(err.is_locked());
        let text = err.to_string();
        assert!(text.contains("another copilot-connector run"), "{text}");
        assert!(text.contains("--state"), "{text}");
        drop(first);
        StateStore::open(&path, "s").unwrap();
    }

    #[test]
    fn failures_are_recorded_once_and_mark_the_row_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(&dir.path().join("s.db"), "s").unwrap();
        let f = Failure {
            id: "bad".into(),
            version: "7".into(),
            modified_on: T0,
            reason: "content is not JSON".into(),
        };
        s.commit(&[], std::slice::from_ref(&f), &[], None, T0)
            .unwrap();
        s.commit(&[], std::slice::from_ref(&f), &[], None, T0)
            .unwrap();
        assert_eq!(s.failures().unwrap(), vec![f]);
        assert!(s.transcript("bad").unwrap().unwrap().complete);
    }

    #[test]
    fn skipped_records_are_noted_without_marking_the_transcript_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(&dir.path().join("s.db"), "s").unwrap();
        let note = |reason: &str| Failure {
            id: "t".into(),
            version: "3".into(),
            modified_on: T0,
            reason: reason.into(),
        };
        s.commit(
            &[progress("t", "3", 2, false)],
            &[],
            &[note("/m/1: too big")],
            None,
            T0,
        )
        .unwrap();
        // The same note again (a resumed pass) and a second one.
        s.commit(&[], &[], &[note("/m/1: too big")], None, T0)
            .unwrap();
        s.commit(&[], &[], &[note("/m/4: too big")], None, T0)
            .unwrap();
        let failures = s.failures().unwrap();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].reason, "/m/1: too big; /m/4: too big");
        let t = s.transcript("t").unwrap().unwrap();
        assert_eq!((t.records_delivered, t.complete), (2, false));
    }

    #[test]
    fn prune_removes_only_old_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateStore::open(&dir.path().join("s.db"), "s").unwrap();
        let mut old = progress("old", "1", 1, true);
        old.modified_on = T0 - time::Duration::days(2);
        s.commit(&[old, progress("new", "2", 1, true)], &[], &[], None, T0)
            .unwrap();
        assert_eq!(s.prune(T0 - time::Duration::days(1)).unwrap(), 1);
        assert!(s.transcript("old").unwrap().is_none());
        assert!(s.transcript("new").unwrap().is_some());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(StateStore::open(&path, "s").unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let e = StateStore::open(&path, "s").unwrap_err();
        assert!(matches!(e, StateError::Version { found: 99, .. }), "{e}");
    }
}

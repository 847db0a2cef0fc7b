//! Whether a checkpoint store is sound: canonical paths, refusing empty or foreign files,
//! creating new stores atomically, checking the tables' shape, and the read-only [`check`].

use super::{SCHEMA_VERSION, StateError};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::fs::{OpenOptions, TryLockError};
use std::path::{Component, Path, PathBuf};

/// The columns each table must have. Newer versions may add tables and columns; a table
/// lacking one of these was not written by this program (or was damaged by hand).
const REQUIRED: &[(&str, &[&str])] = &[
    ("meta", &["key", "value"]),
    (
        "checkpoint",
        &["scope", "watermark", "watermark_unix", "updated_at"],
    ),
    (
        "delivered",
        &[
            "scope",
            "transcript_id",
            "version",
            "modified_unix",
            "records",
            "complete",
            "updated_at",
        ],
    ),
    (
        "failures",
        &[
            "scope",
            "transcript_id",
            "version",
            "modified_unix",
            "reason",
            "recorded_at",
        ],
    ),
    (
        "delivered_pairs",
        &[
            "scope",
            "pair_id",
            "transcript_id",
            "modified_unix",
            "delivered_at",
        ],
    ),
];

/// Brings a store written by an older version up to this one's tables, in one transaction:
/// version 1 lacks `delivered.keyed` (its progress counts a row's first records instead of
/// naming pairs; the flag tells the two apart). Tables a version adds whole are created by
/// `CREATE TABLE IF NOT EXISTS` before this runs.
pub(super) fn upgrade(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let sql = |e| classify(path, e);
    let has_keyed: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('delivered') WHERE name = 'keyed'")
        .and_then(|mut s| s.exists([]))
        .map_err(sql)?;
    if !has_keyed {
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             ALTER TABLE delivered ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
             COMMIT;",
        )
        .map_err(sql)?;
        tracing::info!(path = %path.display(), "checkpoint store upgraded to schema version {SCHEMA_VERSION}");
    }
    Ok(())
}

/// `path` with symlinks, `.` and `..` resolved: the file's own canonical path when it exists,
/// else its directory's canonical path joined with its name, else the absolute path with `.`
/// and `..` removed lexically. Two spellings of one file give one answer.
pub fn canonical_path(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => return Ok(p),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut clean = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    if let (Some(dir), Some(name)) = (clean.parent(), clean.file_name())
        && let Ok(dir) = std::fs::canonicalize(dir)
    {
        return Ok(dir.join(name));
    }
    Ok(clean)
}

fn damaged(path: &Path, problem: impl Into<String>) -> StateError {
    StateError::Damaged {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// A SQLite error on the store: "not a database" and "malformed" become [`StateError::Damaged`]
/// (with the fix), the rest stay SQLite errors.
pub(crate) fn classify(path: &Path, source: rusqlite::Error) -> StateError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => damaged(path, "the file is not a SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => damaged(path, "the database is damaged (malformed)"),
        _ => StateError::Sqlite {
            path: path.to_owned(),
            source,
        },
    }
}

/// Refuses an empty file; creates a missing store whole (written to a temporary file, synced,
/// then renamed into place), so a crash while creating one never leaves an empty file behind
/// and an empty file always means something went wrong.
pub(super) fn prepare_file(path: &Path) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => {
            return Err(damaged(
                path,
                "the file is empty (0 bytes), so its checkpoint is lost",
            ));
        }
        Ok(m) if !m.is_file() => return Err(damaged(path, "it is not a regular file")),
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".new-{}", std::process::id()));
    let temp = path.with_file_name(name);
    let _ = std::fs::remove_file(&temp);
    let created = (|| -> Result<(), StateError> {
        let conn = Connection::open(&temp).map_err(|e| classify(&temp, e))?;
        conn.execute_batch(&format!(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');"
        ))
        .map_err(|e| classify(&temp, e))?;
        conn.close().map_err(|(_, e)| classify(&temp, e))?;
        OpenOptions::new()
            .write(true)
            .open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&temp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            // The rename itself is durable once the directory is synced (best effort: not
            // every platform can open a directory).
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if created.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    created
}

/// Checks the database with SQLite's own check and that the tables have the columns this
/// program needs.
pub(super) fn verify(conn: &Connection, path: &Path) -> Result<(), StateError> {
    quick_check(conn, path)?;
    for (table, columns) in REQUIRED {
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(|e| classify(path, e))?;
        let found: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(1))
            .and_then(Iterator::collect)
            .map_err(|e| classify(path, e))?;
        if let Some(col) = columns.iter().find(|c| !found.iter().any(|f| f == *c)) {
            return Err(damaged(
                path,
                format!(
                    "its table `{table}` has no column `{col}`, so it was not written by copilot-connector or was changed by hand"
                ),
            ));
        }
    }
    Ok(())
}

/// SQLite's own consistency check (cheap: the store is pruned to a few days of bookkeeping).
fn quick_check(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let result: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    if result == "ok" {
        Ok(())
    } else {
        Err(damaged(
            path,
            format!("SQLite's consistency check failed ({result})"),
        ))
    }
}

pub(super) fn adopt_scope(
    conn: &mut Connection,
    path: &Path,
    old: &str,
    new: &str,
) -> Result<bool, StateError> {
    let sql = |e| classify(path, e);
    let tx = conn.transaction().map_err(sql)?;
    let has_old: Option<i64> = tx
        .query_row("SELECT 1 FROM checkpoint WHERE scope = ?1", [old], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)?;
    if has_old.is_none() {
        return Ok(false);
    }
    // Every table keyed by scope, including those a newer version added.
    let tables: Vec<String> = {
        let mut stmt = tx
            .prepare(
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' AND c.name = 'scope'",
            )
            .map_err(sql)?;
        stmt.query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(sql)?
    };
    for table in tables {
        tx.execute(
            &format!("UPDATE OR IGNORE \"{table}\" SET scope = ?2 WHERE scope = ?1"),
            [old, new],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)?;
    tracing::info!(
        "the checkpoint of this destination, kept under an older spelling of its path, was carried over"
    );
    Ok(true)
}

/// Whether a store is sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Soundness {
    /// It opens, passes SQLite's check and has the expected tables.
    Sound,
    /// There is no store yet: the first pass creates it.
    Missing,
    /// It cannot be used (see the detail and the fix).
    Damaged,
}

/// One checkpoint scope in a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScopeInfo {
    /// The scope (environment, bot filter, destination).
    pub scope: String,
    /// Its watermark, RFC 3339.
    pub watermark: String,
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The store's canonical path.
    pub path: PathBuf,
    /// The verdict.
    pub soundness: Soundness,
    /// What was found, in a sentence.
    pub detail: String,
    /// How to fix it, when it is not sound.
    pub fix: Option<String>,
    /// Whether another run holds it right now.
    pub in_use: bool,
    /// Its schema version.
    pub schema_version: Option<i64>,
    /// Its checkpoints.
    pub scopes: Vec<ScopeInfo>,
}

/// Checks the store at `path` without changing it (it is never created or repaired): whether it
/// exists, opens, passes SQLite's consistency check and has the tables this program needs.
/// Safe while another run holds the store.
pub fn check(path: &Path) -> Health {
    let canonical = canonical_path(path).unwrap_or_else(|_| path.to_owned());
    let mut health = Health {
        path: canonical.clone(),
        soundness: Soundness::Damaged,
        detail: String::new(),
        fix: None,
        in_use: false,
        schema_version: None,
        scopes: Vec::new(),
    };
    if path.as_os_str().is_empty() {
        health.detail = StateError::EmptyPath.to_string();
        return health;
    }
    match std::fs::metadata(&canonical) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            health.soundness = Soundness::Missing;
            health.detail = "no checkpoint store yet: the first pass creates it".into();
            return health;
        }
        _ => {}
    }
    let mut lock_path = canonical.as_os_str().to_owned();
    lock_path.push(".lock");
    if let Ok(lock) = OpenOptions::new().read(true).open(PathBuf::from(lock_path)) {
        health.in_use = matches!(lock.try_lock_shared(), Err(TryLockError::WouldBlock));
    }
    match inspect(&canonical, &mut health) {
        Ok(()) => {
            health.soundness = Soundness::Sound;
            health.detail = format!(
                "sound (schema version {}, {} checkpoint(s){})",
                health.schema_version.unwrap_or(0),
                health.scopes.len(),
                if health.in_use {
                    "; in use by a run right now"
                } else {
                    ""
                }
            );
        }
        Err(e) => {
            health.soundness = Soundness::Damaged;
            let text = e.to_string();
            match text.split_once(". Fix: ") {
                Some((detail, fix)) => {
                    health.detail = detail.to_owned();
                    health.fix = Some(fix.to_owned());
                }
                None => health.detail = text,
            }
        }
    }
    health
}

fn inspect(path: &Path, health: &mut Health) -> Result<(), StateError> {
    let meta = std::fs::metadata(path).map_err(|source| StateError::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.len() == 0 {
        return Err(damaged(
            path,
            "the file is empty (0 bytes), so its checkpoint is lost",
        ));
    }
    // Read-only, and without creating anything: a check must not change what it checks.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(path, e))?;
    verify(&conn, path)?;
    health.schema_version = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(|e| classify(path, e))?
        .and_then(|v| v.parse().ok());
    let mut stmt = conn
        .prepare("SELECT scope, watermark FROM checkpoint ORDER BY scope")
        .map_err(|e| classify(path, e))?;
    health.scopes = stmt
        .query_map([], |r| {
            Ok(ScopeInfo {
                scope: r.get(0)?,
                watermark: r.get(1)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| classify(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::StateStore;
    use super::*;
    use time::macros::datetime;

    const T0: time::OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn commit_watermark(s: &mut StateStore) {
        s.commit(&[], &[], &[], Some(T0), T0).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn every_spelling_of_one_store_shares_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("state.db");
        let first = StateStore::open(&real, "s").unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for other in [
            link.clone(),
            dir.path().join(".").join("state.db"),
            sub.join("..").join("state.db"),
        ] {
            let e = StateStore::open(&other, "s").unwrap_err();
            assert!(e.is_locked(), "{} -> {e}", other.display());
        }
        drop(first);
        // Through the link, it is the same database.
        let mut s = StateStore::open(&link, "s").unwrap();
        commit_watermark(&mut s);
        drop(s);
        assert_eq!(
            StateStore::open(&real, "s").unwrap().watermark().unwrap(),
            Some(T0)
        );
    }

    #[test]
    fn an_empty_path_is_refused() {
        let e = StateStore::open(Path::new(""), "s").unwrap_err();
        assert!(matches!(e, StateError::EmptyPath), "{e}");
        assert!(e.to_string().contains("--state"), "{e}");
    }

    fn assert_refused_with_the_fix(path: &Path, what: &str) {
        let e = StateStore::open(path, "s").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, StateError::Damaged { .. }), "{what}: {text}");
        assert!(text.contains("move it aside"), "{what}: {text}");
        assert!(text.contains("--since"), "{what}: {text}");
        assert!(text.contains("re-sends"), "{what}: {text}");
        for raw_sql in ["SELECT", "CREATE", "INSERT"] {
            assert!(!text.contains(raw_sql), "{what}: {text}");
        }
        // Refused, not replaced: the file is as it was.
        assert!(path.exists());
        let h = check(path);
        assert_eq!(h.soundness, Soundness::Damaged, "{what}: {h:?}");
        assert!(
            h.fix
                .as_deref()
                .unwrap_or_default()
                .contains("move it aside")
        );
    }

    #[test]
    fn empty_foreign_damaged_and_misshapen_stores_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert_refused_with_the_fix(&empty, "zero bytes");
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);

        let foreign = dir.path().join("foreign.db");
        std::fs::write(&foreign, vec![b'x'; 8192]).unwrap();
        assert_refused_with_the_fix(&foreign, "not a database");

        // A real store, cut in the middle of its pages.
        let cut = dir.path().join("cut.db");
        {
            let mut s = StateStore::open(&cut, "s").unwrap();
            let many: Vec<_> = (0..400)
                .map(|i| super::super::TranscriptProgress {
                    id: format!("transcript-{i:04}-{}", "x".repeat(60)),
                    version: "1".into(),
                    modified_on: T0,
                    records_delivered: 1,
                    complete: true,
                })
                .collect();
            s.commit(&many, &[], &[], Some(T0), T0).unwrap();
        }
        // Fold the WAL in, then damage the main file.
        Connection::open(&cut)
            .unwrap()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        let mut bytes = std::fs::read(&cut).unwrap();
        assert!(bytes.len() > 3 * 4096, "{}", bytes.len());
        for b in &mut bytes[4096..3 * 4096] {
            *b = 0xA5;
        }
        std::fs::write(&cut, &bytes).unwrap();
        assert_refused_with_the_fix(&cut, "damaged pages");

        let shape = dir.path().join("shape.db");
        Connection::open(&shape)
            .unwrap()
            .execute_batch("CREATE TABLE checkpoint (scope TEXT, position INTEGER);")
            .unwrap();
        assert_refused_with_the_fix(&shape, "another table shape");
    }

    #[test]
    fn a_new_store_is_created_whole_and_checked_sound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        assert_eq!(check(&path).soundness, Soundness::Missing);
        let mut s = StateStore::open(&path, "scope-a").unwrap();
        commit_watermark(&mut s);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".new-")), "{names:?}");
        let h = check(&path);
        assert_eq!(h.soundness, Soundness::Sound, "{h:?}");
        assert!(h.in_use, "{h:?}");
        assert_eq!(h.schema_version, Some(SCHEMA_VERSION));
        assert_eq!(h.scopes.len(), 1);
        assert_eq!(h.scopes[0].watermark, "2026-03-01T12:00:00Z");
        drop(s);
        assert!(!check(&path).in_use);
        // Checking changed nothing.
        assert_eq!(
            StateStore::open(&path, "scope-a")
                .unwrap()
                .watermark()
                .unwrap(),
            Some(T0)
        );
    }

    #[test]
    fn a_checkpoint_under_an_older_spelling_is_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = StateStore::open(&path, "old").unwrap();
        s.commit(
            &[super::super::TranscriptProgress {
                id: "t".into(),
                version: "1".into(),
                modified_on: T0,
                records_delivered: 2,
                complete: true,
            }],
            &[],
            &[],
            Some(T0),
            T0,
        )
        .unwrap();
        drop(s);
        let mut s = StateStore::open(&path, "new").unwrap();
        assert!(s.adopt_scope("old").unwrap());
        assert_eq!(s.watermark().unwrap(), Some(T0));
        assert!(s.transcript("t").unwrap().unwrap().complete);
        // Once it has its own checkpoint, nothing more is carried over.
        assert!(!s.adopt_scope("old").unwrap());
    }

    #[test]
    fn canonical_paths_agree_for_files_that_do_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let a = canonical_path(&dir.path().join("x/../o.jsonl")).unwrap();
        let b = canonical_path(&dir.path().join("./o.jsonl")).unwrap();
        assert_eq!(a, b);
        assert!(a.is_absolute());
    }
}

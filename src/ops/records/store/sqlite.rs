//! `sqlite:PATH`: an embedded SQLite file in WAL mode, written by one task. Its
//! calls block, so they run on tokio's blocking pool, never on a request's thread.
//!
//! A file that is not an SQLite database is reported and never touched: consentry
//! does not create over, truncate or "repair" it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{COLUMNS, Item, Query, Row, SCHEMA_VERSION, StoreError, Written, revision_column};
use crate::ops::records::record::Record;

/// How long a write waits for a lock another process holds before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA_V1: &str = "
CREATE TABLE consent_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    schema_version INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    event TEXT NOT NULL,
    source TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    site TEXT NOT NULL,
    granted TEXT NOT NULL,
    refused TEXT NOT NULL,
    revision INTEGER,
    language TEXT,
    policy_sha256 TEXT,
    path TEXT NOT NULL,
    client_ip TEXT,
    user_agent TEXT
);
CREATE INDEX consent_records_consent_id ON consent_records (consent_id, seq);
CREATE INDEX consent_records_time ON consent_records (time_ms);
CREATE TABLE consent_states (
    site TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    granted TEXT NOT NULL,
    revision INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (site, consent_id, granted, revision)
);
CREATE INDEX consent_states_time ON consent_states (time_ms);
CREATE TABLE consent_policies (
    sha256 TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    first_shown_ms INTEGER NOT NULL
);
";

pub struct Sqlite {
    path: PathBuf,
    conn: Option<Connection>,
    /// Policy texts known to be stored: sent once per writer, not with every record.
    stored_policies: HashSet<String>,
}

fn error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError(format!(
            "{} is not an SQLite database (corrupt, or another kind of file); it is left as it is: move it away or set records.store to another file",
            path.display()
        )),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError(format!(
                "{} is locked by another process (waited {}s)",
                path.display(),
                BUSY_TIMEOUT.as_secs()
            ))
        }
        Some(rusqlite::ErrorCode::DiskFull) => {
            StoreError(format!("{}: the disk is full", path.display()))
        }
        _ => StoreError(format!("{}: {e}", path.display())),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError(format!("the SQLite task failed: {e}")))?
}

fn open_for_writing(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| error(path, e))?;
    // The first statement reads the file: a file that is not a database fails here,
    // before anything is written to it.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(|e| error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError(format!(
            "{}: WAL mode is not available (journal mode {mode})",
            path.display()
        )));
    }
    // FULL: a committed record survives a power cut, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| error(path, e))?;
    migrate(&conn).map_err(|e| match e {
        Migration::Sqlite(e) => error(path, e),
        Migration::Newer(found) => StoreError(format!(
            "{} holds consent records of schema version {found}, newer than this consentry's {SCHEMA_VERSION}: left untouched",
            path.display()
        )),
    })?;
    Ok(conn)
}

enum Migration {
    Sqlite(rusqlite::Error),
    Newer(i64),
}

impl From<rusqlite::Error> for Migration {
    fn from(e: rusqlite::Error) -> Self {
        Migration::Sqlite(e)
    }
}

/// Creates the schema, or brings an older one up to [`SCHEMA_VERSION`], in one
/// immediate transaction (another process opening the same file waits).
fn migrate(conn: &Connection) -> Result<(), Migration> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS consentry_schema (version INTEGER NOT NULL)",
        )?;
        let found: Option<i64> =
            conn.query_row("SELECT max(version) FROM consentry_schema", [], |r| {
                r.get(0)
            })?;
        match found {
            Some(v) if v > SCHEMA_VERSION => return Err(Migration::Newer(v)),
            Some(_) => {}
            None => {
                conn.execute_batch(SCHEMA_V1)?;
                conn.execute(
                    "INSERT INTO consentry_schema (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )?;
            }
        }
        // Later versions: `Some(1) => { ALTER …; UPDATE consentry_schema … }`.
        Ok(())
    })();
    match outcome {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(_) => {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    outcome
}

impl Sqlite {
    pub async fn open(path: PathBuf) -> Result<Sqlite, StoreError> {
        let at = path.clone();
        let conn = blocking(move || open_for_writing(&at)).await?;
        Ok(Sqlite {
            path,
            conn: Some(conn),
            stored_policies: HashSet::new(),
        })
    }

    pub fn is_broken(&self) -> bool {
        self.conn.is_none()
    }

    pub async fn write(&mut self, items: Vec<Item>) -> Result<Vec<Written>, StoreError> {
        let mut conn = self
            .conn
            .take()
            .ok_or_else(|| StoreError("the SQLite connection was lost".into()))?;
        let path = self.path.clone();
        let known: Vec<bool> = items
            .iter()
            .map(|i| {
                i.policy
                    .as_ref()
                    .is_none_or(|p| self.stored_policies.contains(&p.sha256))
            })
            .collect();
        let (conn, outcome, items) = tokio::task::spawn_blocking(move || {
            let outcome = write_batch(&mut conn, &items, &known).map_err(|e| error(&path, e));
            (conn, outcome, items)
        })
        .await
        .map_err(|e| StoreError(format!("the SQLite task failed: {e}")))?;
        self.conn = Some(conn);
        if outcome.is_ok() {
            for item in &items {
                if let Some(policy) = &item.policy {
                    self.stored_policies.insert(policy.sha256.clone());
                }
            }
        }
        outcome
    }

    pub async fn purge(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| StoreError("the SQLite connection was lost".into()))?;
        let path = self.path.clone();
        let (conn, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = purge(&conn, cutoff_ms).map_err(|e| error(&path, e));
            (conn, outcome)
        })
        .await
        .map_err(|e| StoreError(format!("the SQLite task failed: {e}")))?;
        self.conn = Some(conn);
        self.stored_policies.clear();
        outcome
    }
}

fn write_batch(
    conn: &mut Connection,
    items: &[Item],
    policy_known: &[bool],
) -> Result<Vec<Written>, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(items.len());
    {
        let mut state = tx.prepare_cached(
            "INSERT INTO consent_states (site, consent_id, granted, revision, time_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?;
        let mut policy = tx.prepare_cached(
            "INSERT INTO consent_policies (sha256, text, first_shown_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )?;
        let mut record = tx.prepare_cached(
            "INSERT INTO consent_records (record_id, schema_version, time_ms, event, source, \
             consent_id, site, granted, refused, revision, language, policy_sha256, path, \
             client_ip, user_agent) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        for (item, known) in items.iter().zip(policy_known) {
            let s = &item.state;
            let new_state = state.execute(params![
                s.site,
                s.consent_id,
                s.granted,
                s.revision,
                item.time_ms
            ])?;
            if item.only_if_new() && new_state == 0 {
                out.push(Written::Duplicate);
                continue;
            }
            if let (Some(text), false) = (&item.policy, known) {
                policy.execute(params![text.sha256, text.text, item.time_ms])?;
            }
            let r: &Record = &item.record;
            record.execute(params![
                r.record_id,
                r.schema_version,
                item.time_ms,
                r.event.name(),
                r.source,
                r.consent_id,
                r.site,
                r.granted.join(" "),
                r.refused.join(" "),
                revision_column(r),
                r.language,
                r.policy_sha256,
                r.path,
                r.client_ip,
                r.user_agent,
            ])?;
            out.push(Written::New);
        }
    }
    tx.commit()?;
    Ok(out)
}

fn purge(conn: &Connection, cutoff_ms: i64) -> Result<u64, rusqlite::Error> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = (|| {
        let records = conn.execute(
            "DELETE FROM consent_records WHERE time_ms < ?1",
            [cutoff_ms],
        )?;
        conn.execute("DELETE FROM consent_states WHERE time_ms < ?1", [cutoff_ms])?;
        conn.execute(
            "DELETE FROM consent_policies WHERE first_shown_ms < ?1 AND sha256 NOT IN \
             (SELECT policy_sha256 FROM consent_records WHERE policy_sha256 IS NOT NULL)",
            [cutoff_ms],
        )?;
        Ok(records as u64)
    })();
    match outcome {
        Ok(_) => conn.execute_batch("COMMIT")?,
        Err(_) => {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    outcome
}

fn open_for_reading(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError(format!(
            "{} does not exist: nothing was recorded there yet",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| error(path, e))?;
    Ok(conn)
}

pub async fn query(path: PathBuf, query: Query) -> Result<Vec<(i64, Record)>, StoreError> {
    blocking(move || {
        let conn = open_for_reading(&path)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM consent_records \
             WHERE (?1 IS NULL OR consent_id = ?1) AND (?2 IS NULL OR time_ms >= ?2) AND seq > ?3 \
             ORDER BY seq LIMIT ?4"
        );
        let run = || -> Result<Vec<Row>, rusqlite::Error> {
            let mut statement = conn.prepare(&sql)?;
            let rows = statement.query_map(
                params![
                    query.consent_id,
                    query.since_ms,
                    query.after.unwrap_or(0),
                    i64::try_from(query.limit).unwrap_or(i64::MAX)
                ],
                |row| {
                    Ok(Row {
                        seq: row.get(0)?,
                        record_id: row.get(1)?,
                        schema_version: row.get(2)?,
                        time_ms: row.get(3)?,
                        event: row.get(4)?,
                        source: row.get(5)?,
                        consent_id: row.get(6)?,
                        site: row.get(7)?,
                        granted: row.get(8)?,
                        refused: row.get(9)?,
                        revision: row.get(10)?,
                        language: row.get(11)?,
                        policy_sha256: row.get(12)?,
                        path: row.get(13)?,
                        client_ip: row.get(14)?,
                        user_agent: row.get(15)?,
                    })
                },
            )?;
            rows.collect()
        };
        run()
            .map_err(|e| error(&path, e))?
            .into_iter()
            .map(Row::into_record)
            .collect()
    })
    .await
}

pub async fn policy_text(path: PathBuf, sha256: String) -> Result<Option<String>, StoreError> {
    blocking(move || {
        let conn = open_for_reading(&path)?;
        conn.query_row(
            "SELECT text FROM consent_policies WHERE sha256 = ?1",
            [sha256],
            |row| row.get(0),
        )
        .optional()
        .map_err(|e| error(&path, e))
    })
    .await
}

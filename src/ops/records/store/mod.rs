//! Where records are kept: an embedded SQLite file (one writer) or a PostgreSQL
//! database (several replicas). Both hold the same three tables, created and
//! migrated by consentry at start under a schema version:
//!
//! - `consent_records`: one row per record, `seq` in insertion order;
//! - `consent_states`: one row per consent state (site, consent ID, granted,
//!   revision), its primary key the unique key that makes `observed` records exact:
//!   an observed record is written only by the transaction that inserted its state;
//! - `consent_policies`: each distinct policy text once, under its SHA-256, with the
//!   time it was first shown.

mod postgres;
mod sqlite;

use std::sync::Arc;

use crate::config::records::StoreUrl;

use super::record::{Event, Record, format_time};

/// The schema this consentry writes. Version 1: the three tables above.
pub const SCHEMA_VERSION: i64 = 1;

/// Why the store failed, for logs, `/readyz` and the `records` command.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// A consent state: what the store holds once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub site: String,
    pub consent_id: String,
    /// The granted categories' names joined by spaces.
    pub granted: String,
    /// -1 when the cookie records none (a key column cannot be null everywhere).
    pub revision: i64,
}

/// A policy text as shown, stored once under its hash.
#[derive(Debug, PartialEq, Eq)]
pub struct PolicyText {
    pub sha256: String,
    pub text: String,
}

/// One record to write.
#[derive(Debug, Clone)]
pub struct Item {
    pub record: Record,
    pub time_ms: i64,
    pub state: State,
    pub policy: Option<Arc<PolicyText>>,
}

impl Item {
    /// Observed records are written only for a state the store has not seen;
    /// choices made through consentry always are.
    pub fn only_if_new(&self) -> bool {
        self.record.event == Event::Observed
    }
}

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    New,
    /// An observed state the store already held (another request, replica or run).
    Duplicate,
}

/// Which records to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub consent_id: Option<String>,
    pub since_ms: Option<i64>,
    /// A cursor: records after this `seq`.
    pub after: Option<i64>,
    pub limit: usize,
}

/// An open store, owned by the writer task.
pub enum Store {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl Store {
    /// Opens the store, creating or migrating its schema.
    pub async fn open(url: &StoreUrl) -> Result<Store, StoreError> {
        match url {
            StoreUrl::Sqlite(path) => sqlite::Sqlite::open(path.clone()).await.map(Store::Sqlite),
            StoreUrl::Postgres(url) => postgres::Postgres::open(url).await.map(Store::Postgres),
        }
    }

    /// Writes `items` in one transaction: all or none.
    pub async fn write(&mut self, items: Vec<Item>) -> Result<Vec<Written>, StoreError> {
        match self {
            Store::Sqlite(s) => s.write(items).await,
            Store::Postgres(p) => p.write(items).await,
        }
    }

    /// Deletes records (and states, and policy texts no record refers to) older
    /// than `cutoff_ms`; returns how many records went.
    pub async fn purge(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.purge(cutoff_ms).await,
            Store::Postgres(p) => p.purge(cutoff_ms).await,
        }
    }

    /// Whether the connection is gone for good (to be opened again).
    pub fn is_broken(&self) -> bool {
        match self {
            Store::Sqlite(s) => s.is_broken(),
            Store::Postgres(p) => p.is_broken(),
        }
    }
}

/// Reads records, oldest first, with their `seq` (the cursor of the next page).
/// Opens its own connection: readers never wait on the writer (SQLite's WAL lets
/// them read while it writes).
pub async fn query(url: &StoreUrl, query: &Query) -> Result<Vec<(i64, Record)>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => sqlite::query(path.clone(), query.clone()).await,
        StoreUrl::Postgres(url) => postgres::query(url, query).await,
    }
}

/// The policy text stored under `sha256`.
pub async fn policy_text(url: &StoreUrl, sha256: &str) -> Result<Option<String>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => sqlite::policy_text(path.clone(), sha256.to_owned()).await,
        StoreUrl::Postgres(url) => postgres::policy_text(url, sha256).await,
    }
}

/// Splits a space-joined list of names.
fn split_names(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A row of `consent_records`, read back, whatever the database.
struct Row {
    seq: i64,
    record_id: String,
    schema_version: i64,
    time_ms: i64,
    event: String,
    source: String,
    consent_id: String,
    site: String,
    granted: String,
    refused: String,
    revision: Option<i64>,
    language: Option<String>,
    policy_sha256: Option<String>,
    path: String,
    client_ip: Option<String>,
    user_agent: Option<String>,
}

/// The columns [`Row`] reads, in its order.
const COLUMNS: &str = "seq, record_id, schema_version, time_ms, event, source, consent_id, site, granted, refused, revision, language, policy_sha256, path, client_ip, user_agent";

impl Row {
    fn into_record(self) -> Result<(i64, Record), StoreError> {
        let event = Event::from_name(&self.event)
            .ok_or_else(|| StoreError(format!("record {} has an unknown event", self.record_id)))?;
        Ok((
            self.seq,
            Record {
                record_id: self.record_id,
                schema_version: u32::try_from(self.schema_version).unwrap_or(0),
                time: format_time(self.time_ms),
                event,
                source: self.source,
                consent_id: self.consent_id,
                site: self.site,
                granted: split_names(&self.granted),
                refused: split_names(&self.refused),
                revision: self.revision.and_then(|r| u64::try_from(r).ok()),
                language: self.language,
                policy_sha256: self.policy_sha256,
                path: self.path,
                client_ip: self.client_ip,
                user_agent: self.user_agent,
            },
        ))
    }
}

/// What the store keeps of a record's revision.
fn revision_column(record: &Record) -> Option<i64> {
    record.revision.and_then(|r| i64::try_from(r).ok())
}

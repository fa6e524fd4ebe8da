//! `postgres://…`: one database shared by several replicas. Every insert is
//! idempotent (`ON CONFLICT DO NOTHING` on the state's key and the record's ID), so
//! two replicas that see the same new state write one `observed` record between
//! them. TLS to the database with rustls (the system's roots) as the URL's
//! `sslmode` asks (`prefer` by default, `require` to insist, `disable`). A password
//! not in the URL is taken from `PGPASSWORD`, as libpq does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use super::{COLUMNS, Item, Query, Row, SCHEMA_VERSION, StoreError, Written, revision_column};
use crate::ops::records::record::Record;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Taken while migrating, so that replicas starting together migrate once.
const MIGRATION_LOCK: i64 = 0x636f_6e73_656e_7472; // "consentr"

const SCHEMA_V1: &str = "
CREATE TABLE consent_records (
    seq BIGSERIAL PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE,
    schema_version INTEGER NOT NULL,
    time_ms BIGINT NOT NULL,
    event TEXT NOT NULL,
    source TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    site TEXT NOT NULL,
    granted TEXT NOT NULL,
    refused TEXT NOT NULL,
    revision BIGINT,
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
    revision BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    PRIMARY KEY (site, consent_id, granted, revision)
);
CREATE INDEX consent_states_time ON consent_states (time_ms);
CREATE TABLE consent_policies (
    sha256 TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    first_shown_ms BIGINT NOT NULL
);
";

pub struct Postgres {
    client: Client,
    stored_policies: HashSet<String>,
}

fn error(e: tokio_postgres::Error) -> StoreError {
    // The server's own message (disk full, permission denied…) is the useful part.
    match e.as_db_error() {
        Some(db) => StoreError(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => StoreError(format!("PostgreSQL: {e}")),
    }
}

fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
        // AWS-LC supports the default versions; this cannot happen.
        Err(_) => unreachable!("AWS-LC supports TLS 1.2 and 1.3"),
    };
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// Connects, with the connection's task spawned.
async fn connect(url: &str) -> Result<Client, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError(format!("PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // As libpq does: a password kept out of the configuration file (a Kubernetes
    // Secret, say) comes from PGPASSWORD.
    if config.get_password().is_none() {
        if let Some(password) = std::env::var_os("PGPASSWORD") {
            config.password(password.as_encoded_bytes());
        }
    }
    if config.get_application_name().is_none() {
        config.application_name("consentry");
    }
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls()))
        .await
        .map_err(|_| StoreError("PostgreSQL: connecting timed out".into()))?
        .map_err(error)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "consent records: PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl Postgres {
    pub async fn open(url: &str) -> Result<Postgres, StoreError> {
        let mut client = connect(url).await?;
        migrate(&mut client).await?;
        Ok(Postgres {
            client,
            stored_policies: HashSet::new(),
        })
    }

    pub fn is_broken(&self) -> bool {
        self.client.is_closed()
    }

    pub async fn write(&mut self, items: Vec<Item>) -> Result<Vec<Written>, StoreError> {
        let tx = self.client.transaction().await.map_err(error)?;
        let state = tx
            .prepare(
                "INSERT INTO consent_states (site, consent_id, granted, revision, time_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(error)?;
        let record = tx
            .prepare(
                "INSERT INTO consent_records (record_id, schema_version, time_ms, event, source, \
                 consent_id, site, granted, refused, revision, language, policy_sha256, path, \
                 client_ip, user_agent) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (record_id) DO NOTHING",
            )
            .await
            .map_err(error)?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let s = &item.state;
            let new_state = tx
                .execute(
                    &state,
                    &[
                        &s.site,
                        &s.consent_id,
                        &s.granted,
                        &s.revision,
                        &item.time_ms,
                    ],
                )
                .await
                .map_err(error)?;
            if item.only_if_new() && new_state == 0 {
                out.push(Written::Duplicate);
                continue;
            }
            if let Some(text) = &item.policy {
                if !self.stored_policies.contains(&text.sha256) {
                    tx.execute(
                        "INSERT INTO consent_policies (sha256, text, first_shown_ms) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&text.sha256, &text.text, &item.time_ms],
                    )
                    .await
                    .map_err(error)?;
                }
            }
            let r: &Record = &item.record;
            let schema_version = i32::try_from(r.schema_version).unwrap_or(i32::MAX);
            let granted = r.granted.join(" ");
            let refused = r.refused.join(" ");
            let revision = revision_column(r);
            tx.execute(
                &record,
                &[
                    &r.record_id,
                    &schema_version,
                    &item.time_ms,
                    &r.event.name(),
                    &r.source,
                    &r.consent_id,
                    &r.site,
                    &granted,
                    &refused,
                    &revision,
                    &r.language,
                    &r.policy_sha256,
                    &r.path,
                    &r.client_ip,
                    &r.user_agent,
                ],
            )
            .await
            .map_err(error)?;
            out.push(Written::New);
        }
        tx.commit().await.map_err(error)?;
        for item in &items {
            if let Some(policy) = &item.policy {
                self.stored_policies.insert(policy.sha256.clone());
            }
        }
        Ok(out)
    }

    pub async fn purge(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let tx = self.client.transaction().await.map_err(error)?;
        let records = tx
            .execute(
                "DELETE FROM consent_records WHERE time_ms < $1",
                &[&cutoff_ms],
            )
            .await
            .map_err(error)?;
        tx.execute(
            "DELETE FROM consent_states WHERE time_ms < $1",
            &[&cutoff_ms],
        )
        .await
        .map_err(error)?;
        tx.execute(
            "DELETE FROM consent_policies p WHERE p.first_shown_ms < $1 AND NOT EXISTS \
             (SELECT 1 FROM consent_records r WHERE r.policy_sha256 = p.sha256)",
            &[&cutoff_ms],
        )
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        self.stored_policies.clear();
        Ok(records)
    }
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS consentry_schema (version INTEGER NOT NULL)")
        .await
        .map_err(error)?;
    let found: Option<i32> = tx
        .query_one("SELECT max(version) FROM consentry_schema", &[])
        .await
        .map_err(error)?
        .get(0);
    match found.map(i64::from) {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError(format!(
                "the database holds consent records of schema version {v}, newer than this consentry's {SCHEMA_VERSION}: left untouched"
            )));
        }
        Some(_) => {}
        None => {
            tx.batch_execute(SCHEMA_V1).await.map_err(error)?;
            let version = i32::try_from(SCHEMA_VERSION).unwrap_or(1);
            tx.execute(
                "INSERT INTO consentry_schema (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(error)?;
        }
    }
    tx.commit().await.map_err(error)
}

pub async fn query(url: &str, query: &Query) -> Result<Vec<(i64, Record)>, StoreError> {
    let client = connect(url).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM consent_records \
         WHERE ($1::text IS NULL OR consent_id = $1) AND ($2::bigint IS NULL OR time_ms >= $2) \
         AND seq > $3 ORDER BY seq LIMIT $4"
    );
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let after = query.after.unwrap_or(0);
    let rows = client
        .query(&sql, &[&query.consent_id, &query.since_ms, &after, &limit])
        .await
        .map_err(error)?;
    rows.into_iter()
        .map(|row| {
            Row {
                seq: row.get(0),
                record_id: row.get(1),
                schema_version: i64::from(row.get::<_, i32>(2)),
                time_ms: row.get(3),
                event: row.get(4),
                source: row.get(5),
                consent_id: row.get(6),
                site: row.get(7),
                granted: row.get(8),
                refused: row.get(9),
                revision: row.get(10),
                language: row.get(11),
                policy_sha256: row.get(12),
                path: row.get(13),
                client_ip: row.get(14),
                user_agent: row.get(15),
            }
            .into_record()
        })
        .collect()
}

pub async fn policy_text(url: &str, sha256: &str) -> Result<Option<String>, StoreError> {
    let client = connect(url).await?;
    let row = client
        .query_opt(
            "SELECT text FROM consent_policies WHERE sha256 = $1",
            &[&sha256],
        )
        .await
        .map_err(error)?;
    Ok(row.map(|r| r.get(0)))
}

//! `records:`: where consent records are kept and for how long (global only).
//!
//! ```yaml
//! records:
//!   store: sqlite:records.db   # or postgres://user@db.internal/consentry
//!   retain: 395d
//!   client_info: false
//! ```
//!
//! Without a `records` key nothing is recorded. Only the text is checked here (a
//! malformed URL, an unknown scheme, a zero duration are errors at their
//! `FILE:LINE:COL`); the store is opened when the proxy starts, by `ops::records`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawRecords;
use super::{Problems, key};

/// The default `records.retain`: 13 months, the longest the CNIL advises keeping
/// proof of consent after it was collected (395 days).
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(395 * 86_400);

/// The default bound of the queue between requests and the store writer.
pub const DEFAULT_QUEUE: usize = 4096;

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file, resolved against the configuration file's directory.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`), as written.
    Postgres(String),
}

impl StoreUrl {
    /// Parses `sqlite:PATH` or `postgres://…`; relative SQLite paths are taken from
    /// `base`. The error says what to write instead.
    pub fn parse(text: &str, base: &Path) -> Result<StoreUrl, String> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.trim().is_empty() {
                return Err(format!(
                    "`{text}` names no file: write sqlite:records.db or sqlite:/var/lib/consentry/records.db"
                ));
            }
            return Ok(StoreUrl::Sqlite(base.join(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return match text.parse::<tokio_postgres::Config>() {
                Ok(config) if config.get_hosts().is_empty() => Err(format!(
                    "`{}` names no host: write postgres://USER@HOST/DATABASE",
                    redact(text)
                )),
                Ok(_) => Ok(StoreUrl::Postgres(text.to_owned())),
                Err(e) => Err(format!("`{}` is not a PostgreSQL URL: {e}", redact(text))),
            };
        }
        let scheme = text.split(':').next().unwrap_or(text);
        Err(format!(
            "unknown store `{scheme}`: write sqlite:PATH or postgres://USER@HOST/DATABASE"
        ))
    }

    /// For logs, `/readyz` and `check`: a PostgreSQL password is hidden.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            StoreUrl::Postgres(url) => redact(url),
        }
    }
}

/// A URL with the password of its user info replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The compiled `records:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsConfig {
    pub store: StoreUrl,
    /// Records older than this are deleted.
    pub retain: Duration,
    /// Keep the client's IP address (truncated) and user agent.
    pub client_info: bool,
    /// How many records may wait for the writer; more are dropped and counted.
    pub queue: usize,
}

pub(super) fn compile(
    p: &mut Problems,
    raw: Option<&RawRecords>,
    base: &Path,
) -> Option<RecordsConfig> {
    let raw = raw?;
    let here = |k: &str| [key("records"), key(k)];
    let store = raw.store.as_deref().unwrap_or("sqlite:records.db");
    let store = match StoreUrl::parse(store.trim(), base) {
        Ok(store) => Some(store),
        Err(message) => {
            p.add(&here("store"), message);
            None
        }
    };
    let retain = raw.retain.map_or(DEFAULT_RETAIN, |d| d.0);
    if retain.is_zero() {
        p.add(&here("retain"), "must be longer than zero");
    }
    let queue = raw.queue.unwrap_or(DEFAULT_QUEUE);
    if queue == 0 {
        p.add(&here("queue"), "must be at least 1");
    }
    Some(RecordsConfig {
        store: store?,
        retain,
        client_info: raw.client_info.unwrap_or(false),
        queue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_store_urls() {
        let base = Path::new("/etc/consentry");
        assert_eq!(
            StoreUrl::parse("sqlite:records.db", base),
            Ok(StoreUrl::Sqlite("/etc/consentry/records.db".into()))
        );
        assert_eq!(
            StoreUrl::parse("sqlite:/var/lib/c/r.db", base),
            Ok(StoreUrl::Sqlite("/var/lib/c/r.db".into()))
        );
        assert!(matches!(
            StoreUrl::parse(
                "postgres://u:pw@db.internal:5432/consentry?sslmode=require",
                base
            ),
            Ok(StoreUrl::Postgres(_))
        ));
        for bad in [
            "sqlite:",
            "mysql://x/y",
            "records.db",
            "postgres://u@db/x?sslmode=sometimes",
        ] {
            assert!(StoreUrl::parse(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn hides_passwords() {
        let url = StoreUrl::Postgres("postgres://app:s3cret@db:5432/c".into());
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/c");
        assert_eq!(redact("postgres://app@db/c"), "postgres://app@db/c");
    }
}

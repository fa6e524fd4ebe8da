//! Logging: one event per request, `RUST_LOG`-style filtering, text or JSON.
//!
//! Privacy rule: a cookie's value is never logged, and neither is the preferences
//! value. The access event names removed cookies and their categories only.

use std::fmt::Write as _;
use std::time::Duration;

use http::Method;
use tracing_subscriber::EnvFilter;

use crate::category::Categories;
use crate::enforce::Report;

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; `RUST_LOG` overrides the default `info`. A
/// `RUST_LOG` that does not parse leaves `info`, and says so.
pub fn init(format: LogFormat) {
    let (filter, invalid) = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) if !directives.trim().is_empty() => match EnvFilter::try_new(&directives) {
            Ok(filter) => (filter, None),
            Err(error) => (EnvFilter::new("info"), Some(error)),
        },
        _ => (EnvFilter::new("info"), None),
    };
    // Colour only for a terminal: escape codes in a file or a pipe are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Some(error) = invalid {
        tracing::warn!(%error, "RUST_LOG is not a valid filter; logging at info");
    }
}

/// `name:category` for each removed cookie, comma-separated (`?` when unclassified).
pub fn removed_summary(report: &Report, categories: &Categories) -> String {
    let mut out = String::new();
    for (i, d) in report.removed.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let category = d.category.map_or("unclassified", |c| categories.name(c));
        let _ = write!(out, "{}:{category}", d.name());
    }
    out
}

/// Milliseconds to the microsecond, so that a log line reads `0.578`, not
/// `0.5778880000000001`.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The per-request event.
#[allow(clippy::too_many_arguments)]
pub fn access(
    request_id: &str,
    site: &str,
    method: &Method,
    path: &str,
    status: u16,
    elapsed: Duration,
    upstream: Option<Duration>,
    report: &Report,
    categories: &Categories,
) {
    if !tracing::enabled!(target: "consentry::access", tracing::Level::INFO) {
        return;
    }
    let upstream_ms = upstream.map(millis);
    tracing::info!(
        target: "consentry::access",
        request_id,
        site,
        method = %method,
        path,
        status,
        ms = millis(elapsed),
        upstream_ms,
        removed = %removed_summary(report, categories),
        expired = %report.expired.join(","),
        stripped = report.stripped,
        "request"
    );
}

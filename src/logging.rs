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
/// `RUST_LOG` that does not parse, or whose bare word is neither a level nor a
/// module that logs here (`warning`, `inf`: to the filter, a target, which would turn
/// every other line off, errors included), leaves `info`, and says so.
pub fn init(format: LogFormat) {
    let (filter, invalid) = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) if directives.split(',').any(|d| !d.trim().is_empty()) => {
            match unknown_bare_target(&directives) {
                Some(word) => (
                    EnvFilter::new("info"),
                    Some(format!(
                        "`{word}` is neither a level (error, warn, info, debug, trace, off) \
                         nor a module that logs here (consentry, hyper, h2, rustls, tokio)"
                    )),
                ),
                None => match EnvFilter::try_new(&directives) {
                    Ok(filter) => (filter, None),
                    Err(error) => (EnvFilter::new("info"), Some(error.to_string())),
                },
            }
        }
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

/// The first directive of `RUST_LOG` that is a bare word (no `=`, no span filter)
/// but neither a level nor a crate whose events reach this program's log.
fn unknown_bare_target(directives: &str) -> Option<&str> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    const CRATES: [&str; 8] = [
        "consentry",
        "hyper",
        "hyper_util",
        "h2",
        "rustls",
        "tokio",
        "tokio_rustls",
        "lol_html",
    ];
    directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains(['=', '[']))
        .find(|word| {
            let level = LEVELS.iter().any(|l| word.eq_ignore_ascii_case(l))
                || word.parse::<u8>().is_ok_and(|n| n <= 5);
            let krate = word.split("::").next().unwrap_or(word);
            !level && !CRATES.contains(&krate)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_word_that_is_no_level_and_no_module_here_is_refused() {
        for typo in ["warning", "inf", "verbose", "info,warning", "not a level!"] {
            assert!(unknown_bare_target(typo).is_some(), "{typo}");
        }
        for fine in [
            "warn",
            "INFO",
            "3",
            "consentry",
            "consentry::access",
            "info,hyper",
            "info,consentry::access=off",
            "h2=debug",
            "[request]=debug",
        ] {
            assert_eq!(unknown_bare_target(fine), None, "{fine}");
        }
    }
}

//! Logging: one event per request, `RUST_LOG`-style filtering, text or JSON.
//!
//! Privacy rule: a cookie's value is never logged, and neither is the preferences
//! value. The access event names removed cookies and their categories only.

use std::fmt::Write as _;
use std::time::Duration;

use http::Method;
use tracing_subscriber::EnvFilter;

use crate::cookies::category::Categories;
use crate::cookies::enforce::Report;
use crate::ops::access_line::AccessLine;
use tracing_appender::non_blocking::NonBlocking;

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Lines the log writer may hold before it drops new ones (and counts them): about
/// 25 MB of access lines at their usual size, a bound on memory when the output
/// (a full disk, a stalled pipe) cannot keep up.
const BUFFERED_LINES: usize = 100_000;

/// The log writer's count of lines it had to drop, for `/metrics`.
static DROPPED: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter> =
    std::sync::OnceLock::new();

/// Lines the log writer dropped since start (its queue was full).
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// Where [`access`] writes its lines itself ([`AccessLine`]) rather than through
/// tracing: set by [`init`] when its subscriber writes without colour, the format
/// the hand-written line reproduces.
static ACCESS_OUT: std::sync::OnceLock<(NonBlocking, LogFormat)> = std::sync::OnceLock::new();

/// What keeps the log writer running: dropping it writes out every line still
/// queued. Held by `main` until the process exits (after the SIGTERM drain).
pub type Flush = tracing_appender::non_blocking::WorkerGuard;

/// Installs the global subscriber, filtered as `RUST_LOG` says ([`filter_from`]).
///
/// Events go through a bounded queue to a writer thread that writes them to stderr
/// through a 64 KiB buffer, flushed whenever the queue runs empty: a request never
/// waits on a `write` system call for its access line, and under load one write
/// carries many lines. A full queue drops lines rather than block requests; they are
/// counted ([`dropped_lines`], `consentry_log_lines_dropped_total`).
pub fn init(format: LogFormat) -> Option<Flush> {
    let chosen = filter_from(std::env::var_os(EnvFilter::DEFAULT_ENV));
    let (writer, flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("consentry-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let _ = DROPPED.set(writer.error_counter());
    // Colour only for a terminal: escape codes in a file or a pipe are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(chosen.filter)
        .with_ansi(ansi)
        .with_writer(writer.clone());
    let installed = match format {
        LogFormat::Text if ansi => builder.try_init(),
        LogFormat::Text => builder.fmt_fields(PlainFields).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok() && !ansi {
        let _ = ACCESS_OUT.set((writer, format));
    }
    if let Some(error) = chosen.refused {
        tracing::warn!(%error, "RUST_LOG is not a valid filter; logging at info");
    }
    for word in chosen.bare_targets {
        tracing::info!(
            word = %word,
            "RUST_LOG names a target, not a level (levels: error, warn, info, debug, trace, off)"
        );
    }
    installed.ok().map(|()| flush)
}

/// An event's fields as tracing-subscriber's default writes them without colour
/// (`message`, then `name=value` with each value as `Debug` shows it, `log.*`
/// metadata left out), without the styling calls it makes for every field even
/// then: they were a third of an access line's cost (callgrind, 6,000 of 17,000
/// instructions per request).
pub(crate) struct PlainFields;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }

    /// Fields added to a span later (`Span::record`) go after the ones it has.
    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            first: current.fields.is_empty(),
            writer: current.as_writer(),
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: tracing_subscriber::fmt::format::Writer<'writer>,
    first: bool,
    result: std::fmt::Result,
}

impl tracing::field::Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let name = field.name();
        if name == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else if self.result.is_ok()
            && !name.starts_with("log.")
            && value
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            // What `Debug` writes for a string with nothing to escape (request IDs,
            // site names, most paths), without going through it byte by byte.
            let space = if std::mem::take(&mut self.first) {
                ""
            } else {
                " "
            };
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = [space, name, "=\"", value, "\""]
                .iter()
                .try_for_each(|part| self.writer.write_str(part));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let space = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        self.result = match name {
            "message" => write!(self.writer, "{space}{value:?}"),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.writer, "{space}{name}={value:?}")
            }
        };
    }
}

/// The filter `RUST_LOG` asks for, and what to tell the operator about it.
#[derive(Debug)]
struct Chosen {
    filter: EnvFilter,
    /// Why `RUST_LOG` was not used, when it was not.
    refused: Option<String>,
    /// Bare words that are no level: to the filter, targets (`warning` is one).
    bare_targets: Vec<String>,
}

/// Reads `RUST_LOG` as tracing's filter does, with three differences that keep a
/// slip from silencing every event, errors included:
/// - without a level of its own (`hyper=debug`, a bare `warning`), it adds to the
///   default `info` instead of turning everything else off;
/// - spaces around directives (`info, consentry=debug`, a trailing one from an env
///   file) are ignored;
/// - a value that does not parse, or is not UTF-8, leaves `info`, and says so.
fn filter_from(value: Option<std::ffi::OsString>) -> Chosen {
    let info = |refused: Option<String>| Chosen {
        filter: EnvFilter::new("info"),
        refused,
        bare_targets: Vec::new(),
    };
    let Some(value) = value else {
        return info(None);
    };
    let Some(value) = value.to_str() else {
        return info(Some("RUST_LOG is not UTF-8".to_owned()));
    };
    let directives: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return info(None);
    }
    let is_level = |d: &str| {
        ["off", "error", "warn", "info", "debug", "trace"]
            .iter()
            .any(|level| d.eq_ignore_ascii_case(level))
            || d.parse::<u8>().is_ok_and(|n| n <= 5)
    };
    let joined = directives.join(",");
    let directives_text = if directives.iter().any(|d| is_level(d)) {
        joined
    } else {
        format!("info,{joined}")
    };
    match EnvFilter::try_new(&directives_text) {
        Ok(filter) => Chosen {
            filter,
            refused: None,
            bare_targets: directives
                .iter()
                .filter(|d| !d.contains(['=', '[']) && !is_level(d))
                .map(|d| (*d).to_owned())
                .collect(),
        },
        Err(error) => info(Some(error.to_string())),
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
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The per-request event: written by hand ([`AccessLine`]) to the log writer when
/// [`init`] set it up, the same bytes tracing would write; through tracing otherwise
/// (colour on a terminal, or a subscriber of the tests).
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
    let removed = removed_summary(report, categories);
    let expired = report.expired.join(",");
    let line = AccessLine {
        request_id,
        site,
        method,
        path,
        status,
        elapsed,
        upstream,
        removed: &removed,
        expired: &expired,
        stripped: report.stripped,
    };
    if let Some((writer, format)) = ACCESS_OUT.get() {
        write_access_line(&line, writer, *format);
        return;
    }
    tracing::info!(
        target: "consentry::access",
        request_id,
        site,
        method = %method,
        path,
        status,
        ms = millis(elapsed),
        upstream_ms = upstream.map(millis),
        removed = %removed,
        expired = %expired,
        stripped = report.stripped,
        "request"
    );
}

thread_local! {
    /// The line being written; its room is kept from one request to the next.
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn write_access_line(line: &AccessLine<'_>, writer: &NonBlocking, format: LogFormat) {
    use std::io::Write as _;
    let now = std::time::SystemTime::now();
    LINE.with(|buffer| {
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return;
        };
        buffer.clear();
        match format {
            LogFormat::Text => line.write_text(now, &mut buffer),
            LogFormat::Json => line.write_json(now, &mut buffer),
        }
        // One message to the writer thread, as tracing sends one per event; a full
        // queue drops it and counts it (lossy), never blocks.
        let _ = writer.clone().write_all(&buffer);
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The lines events make through `fields`, without time stamps.
    fn lines_with<F>(fields: F) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .fmt_fields(fields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let r#type = "x";
            tracing::info!(
                target: "consentry::access",
                request_id = "d54de2f3",
                site = "portal",
                method = %Method::GET,
                path = "/a \"b\"",
                plain = "/explore/dataset/trees?page=2",
                accented = "caf\u{e9}\t",
                empty = "",
                status = 200u16,
                ms = 0.25,
                upstream_ms = Some(0.125),
                none = None::<f64>,
                removed = %"_ga:statistics",
                expired = %"",
                stripped = 1usize,
                r#type,
                "request"
            );
            tracing::warn!(error = %"cannot connect: refused", kind = "connect", "upstream failed");
            let span = tracing::info_span!("conn", peer = "127.0.0.1");
            let _in = span.enter();
            tracing::info!(flag = true, "with {} args", 2);
        });
        sink.text()
    }

    /// Where a test's subscriber writes; clones share the bytes.
    #[derive(Clone, Default)]
    pub(crate) struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Sink {
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_fields_write_what_the_default_writes_without_colour() {
        let default = lines_with(tracing_subscriber::fmt::format::DefaultFields::new());
        assert!(
            default.contains("request request_id=\"d54de2f3\" site=\"portal\""),
            "{default}"
        );
        assert_eq!(lines_with(PlainFields), default);
    }

    fn chosen(value: &str) -> Chosen {
        filter_from(Some(value.into()))
    }

    #[test]
    fn a_rust_log_without_a_level_adds_to_info_instead_of_silencing_the_rest() {
        for (value, filter) in [
            ("hyper=debug", "info,hyper=debug"),
            (
                "consentry::net::server=debug",
                "info,consentry::net::server=debug",
            ),
            ("warning", "info,warning=trace"),
            ("warn", "warn"),
            ("off", "off"),
            ("info,consentry::access=off", "consentry::access=off,info"),
            // Spaces from an env file or a YAML manifest.
            (" warn ", "warn"),
            ("info, consentry=debug", "consentry=debug,info"),
        ] {
            let got = chosen(value);
            assert!(got.refused.is_none(), "{value}: {:?}", got.refused);
            let shown = got.filter.to_string();
            let mut shown: Vec<&str> = shown.split(',').collect();
            let mut wanted: Vec<&str> = filter.split(',').collect();
            shown.sort_unstable();
            wanted.sort_unstable();
            assert_eq!(shown, wanted, "{value}");
        }
        assert_eq!(chosen("warning").bare_targets, ["warning"]);
        assert!(chosen("warn,h2=debug").bare_targets.is_empty());
    }

    #[test]
    fn a_rust_log_that_does_not_parse_leaves_info_and_says_why() {
        for value in ["garbage[[", "=debug", "consentry=bogus"] {
            let got = chosen(value);
            assert!(got.refused.is_some(), "{value}");
            assert_eq!(got.filter.to_string(), "info", "{value}");
        }
        for quiet in ["", " ", ",,,"] {
            let got = chosen(quiet);
            assert!(got.refused.is_none(), "{quiet:?}");
            assert_eq!(got.filter.to_string(), "info");
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let got = filter_from(Some(std::ffi::OsString::from_vec(b"in\xfffo".to_vec())));
            assert!(got.refused.is_some());
        }
    }
}

//! The access line, written by hand: the same bytes tracing-subscriber writes for the
//! access event (text without colour, or JSON), at a tenth of the cost.
//!
//! Through tracing, one access line was 11,100 instructions of a 58,400-instruction
//! request (callgrind, bench/README.md): the event's dispatch, a visitor call and a
//! `fmt::Write` round per field, `Debug` for each float, and the time stamp's
//! date arithmetic on every line. Here the fields are known: each is appended to a
//! buffer as it is, numbers by integer arithmetic, and the time stamp's date and time
//! are formatted once a second per thread. The tests hold the output to
//! tracing-subscriber's, byte for byte.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;

/// One request's access event.
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub site: &'a str,
    pub method: &'a Method,
    pub path: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    pub upstream: Option<Duration>,
    /// `name:category,…` of the cookies removed from the response.
    pub removed: &'a str,
    /// `name,…` of the cookies expired.
    pub expired: &'a str,
    pub stripped: usize,
}

/// How one format writes the line: what comes before each field, and how strings are
/// written. The fields and their order are the same in both.
struct Style {
    /// Up to the first field's value; the time stamp goes in the middle.
    before_stamp: &'static [u8],
    after_stamp: &'static [u8],
    /// Before each field's value, in the order of [`AccessLine::write`].
    site: &'static [u8],
    method: &'static [u8],
    path: &'static [u8],
    status: &'static [u8],
    ms: &'static [u8],
    upstream_ms: &'static [u8],
    removed: &'static [u8],
    expired: &'static [u8],
    stripped: &'static [u8],
    end: &'static [u8],
    /// The strings tracing recorded with `Debug` (text) or as JSON strings.
    string: fn(&str, &mut Vec<u8>),
    /// The strings tracing recorded with `Display` (method, removed, expired).
    shown: fn(&str, &mut Vec<u8>),
}

/// tracing-subscriber's text format without colour, with `PlainFields`.
const TEXT: Style = Style {
    before_stamp: b"",
    after_stamp: b"  INFO consentry::access: request request_id=",
    site: b" site=",
    method: b" method=",
    path: b" path=",
    status: b" status=",
    ms: b" ms=",
    upstream_ms: b" upstream_ms=",
    removed: b" removed=",
    expired: b" expired=",
    stripped: b" stripped=",
    end: b"\n",
    string: debug_str,
    shown: |value, out| out.extend_from_slice(value.as_bytes()),
};

/// tracing-subscriber's JSON format with `flatten_event`.
const JSON: Style = Style {
    before_stamp: b"{\"timestamp\":\"",
    after_stamp: b"\",\"level\":\"INFO\",\"message\":\"request\",\"request_id\":",
    site: b",\"site\":",
    method: b",\"method\":",
    path: b",\"path\":",
    status: b",\"status\":",
    ms: b",\"ms\":",
    upstream_ms: b",\"upstream_ms\":",
    removed: b",\"removed\":",
    expired: b",\"expired\":",
    stripped: b",\"stripped\":",
    end: b",\"target\":\"consentry::access\"}\n",
    string: json_str,
    shown: json_str,
};

impl AccessLine<'_> {
    /// The line as the text format writes it, newline included.
    pub fn write_text(&self, now: SystemTime, out: &mut Vec<u8>) {
        self.write(&TEXT, now, out);
    }

    /// The line as the JSON format (`flatten_event`) writes it, newline included.
    pub fn write_json(&self, now: SystemTime, out: &mut Vec<u8>) {
        self.write(&JSON, now, out);
    }

    fn write(&self, style: &Style, now: SystemTime, out: &mut Vec<u8>) {
        out.extend_from_slice(style.before_stamp);
        write_timestamp(now, out);
        out.extend_from_slice(style.after_stamp);
        (style.string)(self.request_id, out);
        out.extend_from_slice(style.site);
        (style.string)(self.site, out);
        out.extend_from_slice(style.method);
        (style.shown)(self.method.as_str(), out);
        out.extend_from_slice(style.path);
        (style.string)(self.path, out);
        out.extend_from_slice(style.status);
        write_u64(u64::from(self.status), out);
        out.extend_from_slice(style.ms);
        write_millis(self.elapsed, out);
        // tracing leaves a `None` out.
        if let Some(upstream) = self.upstream {
            out.extend_from_slice(style.upstream_ms);
            write_millis(upstream, out);
        }
        out.extend_from_slice(style.removed);
        (style.shown)(self.removed, out);
        out.extend_from_slice(style.expired);
        (style.shown)(self.expired, out);
        out.extend_from_slice(style.stripped);
        write_u64(self.stripped as u64, out);
        out.extend_from_slice(style.end);
    }
}

/// A string as `Debug` writes it: quoted, and escaped where it needs to be.
fn debug_str(value: &str, out: &mut Vec<u8>) {
    if value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        use std::io::Write as _;
        let _ = write!(out, "{value:?}");
    }
}

/// A string as serde_json writes it.
fn json_str(value: &str, out: &mut Vec<u8>) {
    if value.bytes().all(|b| b >= b' ' && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

fn write_u64(value: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Milliseconds rounded to the microsecond, as `Debug` writes the `f64` the access
/// event carried (`0.578`, `2.0`): whole milliseconds, a point, then the
/// microseconds without their trailing zeros (at least one digit).
fn write_millis(duration: Duration, out: &mut Vec<u8>) {
    let micros = (duration.as_nanos() + 500) / 1000;
    let whole = u64::try_from(micros / 1000).unwrap_or(u64::MAX);
    write_u64(whole, out);
    out.push(b'.');
    let fraction = (micros % 1000) as u32;
    let digits = [
        (fraction / 100) as u8,
        (fraction / 10 % 10) as u8,
        (fraction % 10) as u8,
    ];
    let mut len = 3;
    while len > 1 && digits[len - 1] == 0 {
        len -= 1;
    }
    for digit in &digits[..len] {
        out.push(b'0' + digit);
    }
}

thread_local! {
    /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS.`.
    static SECOND: RefCell<(u64, [u8; 20])> = const { RefCell::new((u64::MAX, [0; 20])) };
}

/// `2026-12-07T16:44:45.304665Z`: UTC, microseconds, as tracing-subscriber's
/// `SystemTime` writes it.
fn write_timestamp(now: SystemTime, out: &mut Vec<u8>) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != seconds {
            cached.1 = date_and_time(seconds);
            cached.0 = seconds;
        }
        out.extend_from_slice(&cached.1);
    });
    let micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS.` of a Unix time.
fn date_and_time(seconds: u64) -> [u8; 20] {
    let at = i64::try_from(seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut text = [0u8; 20];
    let mut put = |from: usize, value: u32, width: usize| {
        let mut rest = value;
        for i in (from..from + width).rev() {
            text[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    };
    put(0, at.year().clamp(0, 9999) as u32, 4);
    put(5, u32::from(u8::from(at.month())), 2);
    put(8, u32::from(at.day()), 2);
    put(11, u32::from(at.hour()), 2);
    put(14, u32::from(at.minute()), 2);
    put(17, u32::from(at.second()), 2);
    text[4] = b'-';
    text[7] = b'-';
    text[10] = b'T';
    text[13] = b':';
    text[16] = b':';
    text[19] = b'.';
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the access event carries through tracing: `f64` milliseconds.
    use crate::ops::logging::millis as millis_f64;

    fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// The lines tracing-subscriber writes for the same event, as the access event
    /// was emitted before (text without colour with `PlainFields`, or JSON).
    fn through_tracing(line: &AccessLine<'_>, json: bool) -> String {
        use crate::ops::logging::tests::Sink;
        let sink = Sink::default();
        let writer = sink.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone());
        let emit = || {
            tracing::info!(
                target: "consentry::access",
                request_id = line.request_id,
                site = line.site,
                method = %line.method,
                path = line.path,
                status = line.status,
                ms = millis_f64(line.elapsed),
                upstream_ms = line.upstream.map(millis_f64),
                removed = %line.removed,
                expired = %line.expired,
                stripped = line.stripped,
                "request"
            );
        };
        if json {
            tracing::subscriber::with_default(builder.json().flatten_event(true).finish(), emit);
        } else {
            tracing::subscriber::with_default(
                builder
                    .fmt_fields(crate::ops::logging::PlainFields)
                    .finish(),
                emit,
            );
        }
        sink.text()
    }

    /// The part of a line after its time stamp, and the time stamp parsed.
    fn split_stamp(line: &str, json: bool) -> (time::OffsetDateTime, String) {
        let (stamp, rest) = if json {
            let start = line.find("\"timestamp\":\"").unwrap() + 13;
            let end = start + line[start..].find('"').unwrap();
            (
                &line[start..end],
                format!("{}{}", &line[..start], &line[end..]),
            )
        } else {
            let end = line.find(' ').unwrap();
            (&line[..end], line[end..].to_string())
        };
        assert_eq!(stamp.len(), 27, "{stamp}");
        let parsed =
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .unwrap();
        (parsed, rest)
    }

    fn same_as_tracing(line: &AccessLine<'_>) {
        for json in [false, true] {
            let before = time::OffsetDateTime::now_utc();
            let theirs = through_tracing(line, json);
            let ours = written(|out| {
                if json {
                    line.write_json(SystemTime::now(), out)
                } else {
                    line.write_text(SystemTime::now(), out)
                }
            });
            let after = time::OffsetDateTime::now_utc();
            let (their_time, their_rest) = split_stamp(&theirs, json);
            let (our_time, our_rest) = split_stamp(&ours, json);
            assert_eq!(our_rest, their_rest, "json: {json}");
            for stamp in [their_time, our_time] {
                assert!(
                    before - time::Duration::microseconds(1) <= stamp
                        && stamp <= after + time::Duration::microseconds(1),
                    "{theirs}{ours}"
                );
            }
        }
    }

    const GET: Method = Method::GET;

    fn line<'a>() -> AccessLine<'a> {
        AccessLine {
            request_id: "6e45ac751c0b01c60000000000000000",
            site: "portal",
            method: &GET,
            path: "/data.json",
            status: 200,
            elapsed: Duration::from_micros(335),
            upstream: Some(Duration::from_nanos(302_600)),
            removed: "_fbp:third_party,_hjid:statistics",
            expired: "_ga",
            stripped: 2,
        }
    }

    #[test]
    fn a_usual_line_is_what_tracing_wrote() {
        same_as_tracing(&line());
    }

    #[test]
    fn a_line_without_an_upstream_leaves_upstream_ms_out_as_tracing_did() {
        same_as_tracing(&AccessLine {
            upstream: None,
            status: 503,
            removed: "",
            expired: "",
            stripped: 0,
            ..line()
        });
    }

    #[test]
    fn strings_that_need_escaping_are_escaped_as_tracing_did() {
        let post = Method::POST;
        let custom = Method::from_bytes(b"PURGE").unwrap();
        for method in [&post, &custom] {
            same_as_tracing(&AccessLine {
                request_id: "id with \"quotes\" and \\ and \u{7}",
                site: "caf\u{e9}\t",
                method,
                path: "/a\nb\u{1b}[31m",
                ..line()
            });
        }
    }

    #[test]
    fn long_durations_and_whole_milliseconds_read_as_before() {
        for elapsed in [
            Duration::ZERO,
            Duration::from_millis(2),
            Duration::from_micros(1_500),
            Duration::from_nanos(499),
            Duration::from_nanos(500),
            Duration::from_secs(3_600),
        ] {
            same_as_tracing(&AccessLine { elapsed, ..line() });
        }
    }

    proptest! {
        #[test]
        fn milliseconds_read_as_the_f64_debug_did(nanos in 0u64..86_400_000_000_000) {
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(written(|out| write_millis(d, out)), format!("{:?}", millis_f64(d)));
        }

        #[test]
        fn numbers_read_as_display_does(n in any::<u64>()) {
            prop_assert_eq!(written(|out| write_u64(n, out)), n.to_string());
        }

        #[test]
        fn strings_read_as_debug_and_serde_json_write_them(s in any::<String>()) {
            prop_assert_eq!(written(|out| debug_str(&s, out)), format!("{s:?}"));
            prop_assert_eq!(written(|out| json_str(&s, out)), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn time_stamps_read_as_rfc_3339_with_microseconds(
            seconds in 0u64..253_402_300_799,
            micros in 0u32..1_000_000,
        ) {
            let now = UNIX_EPOCH + Duration::new(seconds, micros * 1000 + 999);
            let text = written(|out| write_timestamp(now, out));
            let parsed = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).unwrap();
            prop_assert_eq!(parsed.unix_timestamp(), seconds as i64);
            prop_assert_eq!(parsed.microsecond(), micros);
            prop_assert_eq!(text.len(), 27);
        }
    }
}

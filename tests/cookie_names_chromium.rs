//! Generates `tests/fixtures/cookie-names.json`: what a real Chromium stores from each
//! of the project's `Set-Cookie` cases. `tests/cookies.rs` checks consentry's reading
//! of cookie names against it.
//!
//! Not part of `cargo test` (it is `#[ignore]`d: its output is a committed fixture, and
//! a new Chromium may legitimately change it). Regenerate with
//!
//! ```sh
//! tests/fixtures/generate-cookie-names.sh
//! ```
//!
//! which runs this test with `--ignored`. For each case a local server on
//! `127.0.0.1:0` answers a page whose response carries the case's `Set-Cookie`
//! lines, written byte for byte on the socket (so control characters and bytes that
//! are not UTF-8 reach the browser exactly); headless Chromium (through chromedriver,
//! as in `tests/browser.rs`) loads it with an empty jar, and the jar is read with
//! the DevTools command `Network.getAllCookies`. The browser then loads
//! `/case/echo`, and the `Cookie` field it sends is recorded byte for byte: the
//! DevTools protocol reports names as UTF-8 and drops the bytes that are not.

#[path = "support/browser.rs"]
mod browser;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use browser::Browser;

/// One case: an id, what it is about, and the `Set-Cookie` lines of one response.
struct Case {
    id: &'static str,
    about: &'static str,
    lines: Vec<Vec<u8>>,
}

fn case(id: &'static str, about: &'static str, lines: &[&[u8]]) -> Case {
    Case {
        id,
        about,
        lines: lines.iter().map(|l| l.to_vec()).collect(),
    }
}

fn long(byte: u8, n: usize) -> Vec<u8> {
    vec![byte; n]
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The cases. Their kinds follow what browsers disagree with strict parsers about:
/// no `=`, empty names, blanks around the name, quotes, control characters, bytes
/// that are not ASCII (UTF-8 and not), `=` in values, long names and values, several
/// lines in one response, and attributes that make a browser refuse a line.
fn cases() -> Vec<Case> {
    let mut cases = vec![
        // Plain lines and attributes.
        case("plain", "a name and a value", &[b"foo=bar"]),
        case(
            "attributes",
            "the usual attributes",
            &[b"foo=bar; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"],
        ),
        case(
            "trailing-semicolon",
            "a `;` and nothing after",
            &[b"foo=bar;"],
        ),
        case(
            "expired",
            "Expires in the past: the browser stores nothing",
            &[b"foo=bar; Expires=Fri, 07 Aug 2007 08:04:19 GMT"],
        ),
        case(
            "expires-future",
            "Expires in the future",
            &[b"foo=bar; Expires=Fri, 07 Aug 2099 08:04:19 GMT"],
        ),
        case(
            "max-age-zero",
            "Max-Age=0: deleted at once",
            &[b"foo=bar; Max-Age=0"],
        ),
        case("empty-value", "a name and an empty value", &[b"foo="]),
        case(
            "names-are-case-sensitive",
            "three names that differ in case only",
            &[b"Foo=1", b"foo=2", b"FOO=3"],
        ),
        // No `=`.
        case("no-equals", "a line without `=`", &[b"foo"]),
        case("no-equals-semicolon", "no `=` before the `;`", &[b"foo;"]),
        case(
            "no-equals-attributes",
            "no `=` before the attributes",
            &[b"foo; Path=/; Max-Age=3600"],
        ),
        case("no-equals-space", "no `=`, a space inside", &[b"foo bar"]),
        case(
            "equals-after-semicolon",
            "the only `=` is after the first `;`",
            &[b"foo; bar=baz"],
        ),
        case("semicolon-first", "a `;` before the name", &[b";foo=bar"]),
        case(
            "no-equals-then-named",
            "a nameless line, then a named one",
            &[b"foo", b"bar=baz"],
        ),
        // Empty names.
        case("empty-name", "`=` first", &[b"=bar"]),
        case("only-equals", "nothing but `=`", &[b"="]),
        case("blank-name", "only spaces before `=`", &[b"  =bar"]),
        case("tab-name", "only a tab before `=`", &[b"\t=bar"]),
        case(
            "empty-name-equals-in-value",
            "`=` first and in the value",
            &[b"=bar=baz"],
        ),
        case(
            "empty-name-attributes",
            "`=` first, then attributes",
            &[b"=bar; Path=/"],
        ),
        case("empty-line", "an empty field value", &[b""]),
        case("only-semicolon", "a lone `;`", &[b";"]),
        case("only-spaces", "only spaces", &[b"   "]),
        case(
            "two-nameless",
            "two nameless lines: the second replaces the first",
            &[b"foo", b"=bar"],
        ),
        // Spaces and tabs around and in the name.
        case(
            "space-before-name",
            "a space before the name",
            &[b" foo=bar"],
        ),
        case("space-after-name", "a space after the name", &[b"foo =bar"]),
        case(
            "spaces-around",
            "spaces around name and value",
            &[b"  foo  =  bar  "],
        ),
        case(
            "tabs-around",
            "tabs around name and value",
            &[b"\tfoo\t=\tbar\t"],
        ),
        case(
            "space-in-name",
            "a space inside the name",
            &[b"foo bar=baz"],
        ),
        case(
            "analytics-space",
            "a tracker name with a space: `_ga*` must still see `_ga x`",
            &[b"_ga x=1"],
        ),
        case("tab-in-name", "a tab inside the name", &[b"foo\tbar=baz"]),
        case(
            "space-in-value",
            "a space inside the value",
            &[b"foo=bar baz"],
        ),
        case(
            "same-name-trimmed",
            "the same name with and without a trailing space",
            &[b"_ga=1", b"_ga =2"],
        ),
        // Quotes.
        case("quoted-name", "a name in double quotes", &[b"\"foo\"=bar"]),
        case(
            "quoted-value",
            "a value in double quotes",
            &[b"foo=\"bar\""],
        ),
        case(
            "open-quote-value",
            "an unclosed quote in the value",
            &[b"foo=\"bar"],
        ),
        case(
            "quoted-whole-pair",
            "the whole pair in double quotes",
            &[b"\"foo=bar\""],
        ),
        case(
            "single-quoted-name",
            "a name in single quotes",
            &[b"'foo'=bar"],
        ),
        case(
            "semicolon-in-quotes",
            "a `;` inside a quoted value ends the pair anyway",
            &[b"foo=\"b;ar\""],
        ),
        case(
            "quote-in-name",
            "a double quote inside the name",
            &[b"fo\"o=bar"],
        ),
        // Control characters.
        case("ctl-in-name", "U+0001 in the name", &[b"foo\x01=bar"]),
        case("ctl-in-value", "U+0001 in the value", &[b"foo=b\x01ar"]),
        case("del-in-name", "DEL in the name", &[b"foo\x7f=bar"]),
        case(
            "del-in-value",
            "DEL at the end of the value",
            &[b"foo=bar\x7f"],
        ),
        case("nul-in-name", "NUL in the name", &[b"foo\x00=bar"]),
        case("nul-in-value", "NUL in the value", &[b"foo=b\x00ar"]),
        case(
            "unit-separator-name",
            "U+001F in the name",
            &[b"foo\x1f=bar"],
        ),
        case(
            "vertical-tab-before-name",
            "a vertical tab before the name (not a blank)",
            &[b"\x0bfoo=bar"],
        ),
        case(
            "form-feed-after-value",
            "a form feed after the value",
            &[b"foo=bar\x0c"],
        ),
        case(
            "ctl-in-attribute",
            "U+0001 in an attribute",
            &[b"foo=bar; Path=/\x01"],
        ),
        case(
            "ctl-among-lines",
            "a line with a control character between two good ones",
            &[b"good=1", b"bad\x01=2", b"also=3"],
        ),
        // Bytes that are not ASCII.
        case(
            "utf8-name",
            "an accented name in UTF-8",
            &["café=1".as_bytes()],
        ),
        case(
            "utf8-value",
            "an accented value in UTF-8",
            &["foo=café".as_bytes()],
        ),
        case(
            "emoji-name",
            "a name outside the BMP",
            &["🍪=yum".as_bytes()],
        ),
        case("cjk-name", "a CJK name and value", &["名前=値".as_bytes()]),
        case(
            "nbsp-before-name",
            "a no-break space before the name (not a blank)",
            &["\u{a0}foo=bar".as_bytes()],
        ),
        case(
            "ideographic-space-after-name",
            "an ideographic space after the name (not a blank)",
            &["foo\u{3000}=bar".as_bytes()],
        ),
        case(
            "latin1-name",
            "byte 0xE9 (not UTF-8) in the name",
            &[b"caf\xe9=1"],
        ),
        case(
            "latin1-value",
            "byte 0xE9 (not UTF-8) in the value",
            &[b"foo=caf\xe9"],
        ),
        case(
            "invalid-utf8-name",
            "byte 0xFF in the name",
            &[b"\xfffoo=bar"],
        ),
        // `=` in values.
        case("equals-in-value", "`=` in the value", &[b"foo=bar=baz"]),
        case("double-equals", "`==`", &[b"foo==bar"]),
        case(
            "equals-in-value-attributes",
            "`=` in the value, then attributes",
            &[b"foo=a=b=c; Path=/"],
        ),
        case(
            "base64-value",
            "a base64 value ending in `==`",
            &[b"token=YWJjZA==; Path=/"],
        ),
        case(
            "nameless-attribute",
            "an attribute with an empty name",
            &[b"foo=bar; =baz"],
        ),
        case(
            "second-pair-is-an-attribute",
            "a second pair after `;` is an attribute, not a cookie",
            &[b"a=b; c=d"],
        ),
        // Commas.
        case(
            "comma-joined",
            "two cookies joined by a comma are one cookie",
            &[b"foo=bar, baz=qux"],
        ),
        case(
            "comma-in-name",
            "a comma inside the name",
            &[b"foo,bar=baz"],
        ),
        // Several lines.
        case("two-names", "two cookies", &[b"foo=bar", b"baz=qux"]),
        case(
            "same-name-twice",
            "the same name twice: the last wins",
            &[b"foo=1", b"foo=2"],
        ),
        case(
            "same-name-two-paths",
            "the same name on two paths: two cookies",
            &[b"foo=1; Path=/", b"foo=2; Path=/x"],
        ),
        case(
            "six-lines",
            "six cookies in one response",
            &[b"a=1", b"b=2", b"c=3", b"d=4", b"e=5", b"f=6"],
        ),
        case(
            "set-then-delete",
            "a cookie, then its deletion",
            &[b"foo=bar", b"foo=; Max-Age=0"],
        ),
        // Attributes that make a browser refuse a line.
        case(
            "secure-prefix-without-secure",
            "`__Secure-` without Secure",
            &[b"__Secure-foo=bar"],
        ),
        case(
            "secure-prefix",
            "`__Secure-` with Secure, over plain HTTP to 127.0.0.1",
            &[b"__Secure-foo=bar; Secure"],
        ),
        case(
            "host-prefix",
            "`__Host-` with Secure and Path=/, over plain HTTP to 127.0.0.1",
            &[b"__Host-foo=bar; Secure; Path=/"],
        ),
        case(
            "host-prefix-lowercase",
            "`__host-` in lower case, without Secure",
            &[b"__host-foo=bar"],
        ),
        case(
            "foreign-domain",
            "a Domain that is not the host's",
            &[b"foo=bar; Domain=example.com"],
        ),
        case(
            "secure-over-http",
            "Secure over plain HTTP to 127.0.0.1",
            &[b"foo=bar; Secure"],
        ),
        case(
            "samesite-none-without-secure",
            "SameSite=None without Secure",
            &[b"foo=bar; SameSite=None"],
        ),
    ];

    // Long names and values. Chromium's limit is 4096 bytes for name and value
    // together, 1024 for one attribute value.
    let long_cases: Vec<(&'static str, &'static str, Vec<u8>)> = vec![
        (
            "long-name-value-4096",
            "a 4000-byte name and a 96-byte value: 4096 together",
            cat(&[&long(b'n', 4000), b"=", &long(b'v', 96)]),
        ),
        (
            "long-name-value-4097",
            "a 4000-byte name and a 97-byte value: 4097 together",
            cat(&[&long(b'n', 4000), b"=", &long(b'v', 97)]),
        ),
        (
            "long-name-4097",
            "a 4097-byte name",
            cat(&[&long(b'n', 4097), b"=1"]),
        ),
        (
            "long-value-4095",
            "a 1-byte name and a 4095-byte value",
            cat(&[b"a=", &long(b'v', 4095)]),
        ),
        (
            "long-value-8192",
            "an 8192-byte value",
            cat(&[b"foo=", &long(b'v', 8192)]),
        ),
        (
            "long-nameless-4096",
            "a 4096-byte line without `=`",
            long(b'x', 4096),
        ),
        (
            "long-path-attribute",
            "a 1025-byte Path attribute",
            cat(&[b"foo=bar; Path=/", &long(b'p', 1024)]),
        ),
        (
            "long-name-blanks",
            "a 300-byte name with spaces and tabs around it",
            cat(&[b" \t ", &long(b'n', 300), b" \t =v"]),
        ),
    ];
    for (id, about, line) in long_cases {
        cases.push(Case {
            id,
            about,
            lines: vec![line],
        });
    }
    cases
}

/// The `Cookie` field of the last request for `/case/echo` (`None`: it had none).
type Echo = Arc<Mutex<Option<Vec<u8>>>>;

/// Answers `GET /case/N` with case N's lines, raw; `GET /case/echo` by recording the
/// request's `Cookie` field in `echo`; anything else with a bare 404.
fn serve(cases: Arc<Vec<Case>>, echo: Echo) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let cases = cases.clone();
            let echo = echo.clone();
            std::thread::spawn(move || answer(stream, &cases, &echo));
        }
    });
    port
}

fn answer(mut stream: TcpStream, cases: &[Case], echo: &Echo) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let request_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let target = String::from_utf8_lossy(request_line)
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let case = target
        .strip_prefix("/case/")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| cases.get(n));
    if target == "/case/echo" {
        let cookie = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .find(|l| l.len() > 7 && l[..7].eq_ignore_ascii_case(b"cookie:"))
            .map(|l| l[7..].trim_ascii().to_vec());
        *echo.lock().unwrap() = cookie;
    }
    let body: &[u8] = b"<!doctype html><title>case</title><p>ok</p>";
    let mut response = Vec::new();
    match case {
        Some(case) => {
            response.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            for line in &case.lines {
                response.extend_from_slice(b"Set-Cookie: ");
                response.extend_from_slice(line);
                response.extend_from_slice(b"\r\n");
            }
        }
        None if target == "/case/echo" => response.extend_from_slice(b"HTTP/1.1 200 OK\r\n"),
        None => response.extend_from_slice(b"HTTP/1.1 404 Not Found\r\n"),
    }
    response.extend_from_slice(
        format!(
            "Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    response.extend_from_slice(body);
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

/// A line as the fixture stores it: a JSON string, one char per byte (`latin1`) when
/// the line is not UTF-8.
fn line_json(line: &[u8]) -> (String, bool) {
    match std::str::from_utf8(line) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (line.iter().map(|&b| b as char).collect(), true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "generates tests/fixtures/cookie-names.json with a real Chromium; run tests/fixtures/generate-cookie-names.sh"]
async fn generate_cookie_names_fixture() {
    let out = std::env::var_os("CONSENTRY_COOKIE_NAMES_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cookie-names.json")
        });
    let cases = Arc::new(cases());
    let echo = Echo::default();
    let port = serve(cases.clone(), echo.clone());
    let b = Browser::start()
        .await
        .unwrap_or_else(|e| panic!("the generator needs Chromium: {e}"));
    let version = b.version().await;

    let mut recorded = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        b.clear_cookies().await;
        let loaded = b
            .try_goto(&format!("http://127.0.0.1:{port}/case/{n}"))
            .await;
        let mut stored: Vec<(String, String, String)> = b
            .all_cookies()
            .await
            .into_iter()
            .map(|c| (c.name, c.value, c.path))
            .collect();
        stored.sort();
        // What the browser sends back to the same path: the stored bytes, where
        // the DevTools protocol can only report UTF-8.
        *echo.lock().unwrap() = None;
        b.try_goto(&format!("http://127.0.0.1:{port}/case/echo"))
            .await
            .unwrap_or_else(|e| panic!("case {}: /case/echo: {e}", case.id));
        let sent_back = echo.lock().unwrap().take();
        let mut latin1 = false;
        let lines: Vec<String> = case
            .lines
            .iter()
            .map(|l| {
                let (s, l1) = line_json(l);
                latin1 |= l1;
                s
            })
            .collect();
        let mut entry = json!({
            "id": case.id,
            "about": case.about,
            "lines": lines,
            "stored": stored
                .iter()
                .map(|(name, value, path)| json!({ "name": name, "value": value, "path": path }))
                .collect::<Vec<_>>(),
        });
        if let Some(cookie) = &sent_back {
            let (s, l1) = line_json(cookie);
            latin1 |= l1;
            entry["sent_back"] = Value::String(s);
        }
        if latin1 {
            entry["latin1"] = Value::Bool(true);
        }
        if let Err(e) = loaded {
            entry["load_error"] = Value::String(e);
        }
        eprintln!(
            "{:<32} {:?}",
            case.id,
            stored.iter().map(|s| &s.0).collect::<Vec<_>>()
        );
        recorded.push(entry);
    }
    b.quit().await;

    let date = String::from_utf8(
        std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let chromium = std::env::var_os("CONSENTRY_CHROMIUM")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    let chromium_version = std::process::Command::new(&chromium)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // The header first, in this order, then the cases.
    let header = [
        (
            "about",
            json!(
                "What a real Chromium stores from each Set-Cookie case. Per case: its `lines` (one response's Set-Cookie field values; with `latin1`, one char per byte, the line not being UTF-8); the cookies `stored` (Network.getAllCookies after loading that response with an empty jar; it reports names and values as UTF-8, dropping the bytes that are not); and the `Cookie` field the browser then `sent_back` to the same path, byte for byte (absent: none). tests/cookies.rs checks consentry's cookie names against it."
            ),
        ),
        (
            "generated_by",
            json!(
                "tests/fixtures/generate-cookie-names.sh (the ignored test in tests/cookie_names_chromium.rs, where the cases are written)"
            ),
        ),
        (
            "regenerate",
            json!(
                "tests/fixtures/generate-cookie-names.sh, with Debian's chromium and chromium-driver installed; review the diff"
            ),
        ),
        ("browser", json!(version)),
        ("chromium_version", json!(chromium_version)),
        ("generated", json!(date.trim())),
    ];
    let mut text = String::from("{\n");
    for (key, value) in header {
        text.push_str(&format!("  {}: {},\n", json!(key), value));
    }
    let cases_text = serde_json::to_string_pretty(&recorded).expect("serialize");
    text.push_str(&format!(
        "  \"cases\": {}\n}}\n",
        cases_text.replace("\n", "\n  ")
    ));
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    eprintln!("wrote {} cases to {}", cases.len(), out.display());
}

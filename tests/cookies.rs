//! Cookie-name reading against what browsers actually store, and the safety property
//! of enforcement, through the public API.
//!
//! What browsers store is the project's own fixture, `tests/fixtures/cookie-names.json`:
//! a real headless Chromium's answer to each `Set-Cookie` case, recorded by
//! `tests/fixtures/generate-cookie-names.sh`. The IETF http-state parser cases run as
//! an extra check when `CONSENTRY_EXTRA_COOKIE_CASES` names a copy of them.

use std::path::Path;

use consentry::consent::RequestCookies;
use consentry::cookies::enforce::{Report, filter_set_cookies};
use consentry::cookies::name::set_cookie_name;
use consentry::{CategorySet, Config, Consent};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

/// One response's `Set-Cookie` lines and the names of the cookies a browser stored
/// from them (an empty name: a nameless cookie, which a browser stores from a line
/// without `=`).
struct Case {
    id: String,
    lines: Vec<Vec<u8>>,
    stored: Vec<Vec<u8>>,
}

/// `tests/fixtures/cookie-names.json`, made by `tests/fixtures/generate-cookie-names.sh`
/// from a real Chromium.
#[derive(serde::Deserialize)]
struct Fixture {
    browser: String,
    cases: Vec<FixtureCase>,
}

#[derive(serde::Deserialize)]
struct FixtureCase {
    id: String,
    lines: Vec<String>,
    stored: Vec<Stored>,
    /// The `Cookie` field Chromium sent back, byte for byte.
    sent_back: Option<String>,
    /// Lines (and `sent_back`) are not UTF-8: one char per byte.
    #[serde(default)]
    latin1: bool,
}

#[derive(serde::Deserialize)]
struct Stored {
    name: String,
}

fn fixture_bytes(text: &str, latin1: bool) -> Vec<u8> {
    if latin1 {
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).expect("a latin1 line holds bytes"))
            .collect()
    } else {
        text.as_bytes().to_vec()
    }
}

fn chromium_cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cookie-names.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert!(fixture.browser.contains("Chrome"), "{}", fixture.browser);
    fixture
        .cases
        .into_iter()
        .map(|c| {
            let stored = match (&c.sent_back, c.latin1) {
                // The DevTools protocol reports names as UTF-8 and drops the bytes that
                // are not; what the browser sends back is what it stored.
                (Some(sent), true) => fixture_bytes(sent, true)
                    .split(|&b| b == b';')
                    .map(|item| {
                        let item = item.trim_ascii();
                        item.iter()
                            .position(|&b| b == b'=')
                            .map_or(Vec::new(), |eq| item[..eq].to_vec())
                    })
                    .collect(),
                _ => c
                    .stored
                    .iter()
                    .map(|s| s.name.as_bytes().to_vec())
                    .collect(),
            };
            Case {
                lines: c.lines.iter().map(|l| fixture_bytes(l, c.latin1)).collect(),
                id: c.id,
                stored,
            }
        })
        .collect()
}

/// A note `cargo test` shows: straight to stderr, which the harness does not capture.
fn note(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

/// The IETF http-state working group's parser cases (`{test, received, sent}`), when
/// `CONSENTRY_EXTRA_COOKIE_CASES` names a copy: an extra check, never required.
fn extra_cases() -> Option<Vec<Case>> {
    #[derive(serde::Deserialize)]
    struct Extra {
        test: String,
        received: Vec<String>,
        sent: Vec<Stored>,
    }
    let Some(path) = std::env::var_os("CONSENTRY_EXTRA_COOKIE_CASES").filter(|p| !p.is_empty())
    else {
        note(
            "CONSENTRY_EXTRA_COOKIE_CASES is not set; the extra cookie-parser cases are not run (the project's own cases are)",
        );
        return None;
    };
    let path = std::path::PathBuf::from(path);
    let Ok(text) = std::fs::read_to_string(&path) else {
        note(&format!(
            "{} cannot be read; the extra cookie-parser cases are not run",
            path.display()
        ));
        return None;
    };
    let cases: Vec<Extra> = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{}: not a list of {{test, received, sent}}: {e}",
            path.display()
        )
    });
    Some(
        cases
            .into_iter()
            .map(|c| Case {
                id: c.test,
                lines: c.received.into_iter().map(String::into_bytes).collect(),
                stored: c.sent.into_iter().map(|s| s.name.into_bytes()).collect(),
            })
            .collect(),
    )
}

fn config(rules: &[(&str, &str)], unclassified: &str) -> Config {
    let mut yaml = format!(
        "listen: {{ http: 127.0.0.1:0 }}\nconsent: {{ unclassified: {unclassified} }}\ncategories:\n  necessary: {{ required: true }}\n  statistics: {{}}\n  third_party: {{ gpc: true }}\ncookies:\n"
    );
    for (name, category) in rules {
        yaml.push_str(&format!(
            "  - name: {}\n    category: {category}\n",
            serde_json::to_string(name).unwrap()
        ));
    }
    if rules.is_empty() {
        yaml = yaml.replace("cookies:\n", "");
    }
    yaml.push_str("sites:\n  - name: s\n    hosts: [s.test]\n    upstream: http://127.0.0.1:9\n");
    Config::from_yaml(&yaml, "test.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn enforce(
    config: &Config,
    lines: &[impl AsRef<[u8]>],
    consent_cookie: Option<&str>,
) -> Vec<String> {
    let site = &config.sites[0];
    let mut request = HeaderMap::new();
    if let Some(c) = consent_cookie {
        request.insert(COOKIE, HeaderValue::from_str(c).unwrap());
    }
    let consent = Consent::read(
        &RequestCookies::from_headers(&request),
        false,
        &site.consent,
        &config.categories,
    );
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(v) = HeaderValue::from_bytes(line.as_ref()) {
            headers.append(SET_COOKIE, v);
        }
    }
    filter_set_cookies(
        &mut headers,
        &site.classifier,
        consent.granted(),
        &mut Report::default(),
    );
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// For every stored cookie, some line yields exactly its name; for a nameless one,
/// some line is unclassified (no `=`, or an empty name).
fn check_names(cases: &[Case]) {
    for case in cases {
        for stored in &case.stored {
            let named = case.lines.iter().any(|line| match set_cookie_name(line) {
                Some(name) => name == stored.as_slice(),
                None => stored.is_empty(),
            });
            assert!(
                named,
                "case {}: no line is named {:?}: {:?}",
                case.id,
                String::from_utf8_lossy(stored),
                case.lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// Blocking everything lets nothing through; granting exactly the stored names lets
/// through only lines with those names, and at least one for each stored cookie.
fn check_never_unclassified(cases: &[Case]) {
    let block_all = config(&[], "block");
    for case in cases {
        assert!(
            enforce(&block_all, &case.lines, None).is_empty(),
            "case {}",
            case.id
        );

        // Only names a rule can be written for: a rule is a YAML string (so UTF-8), and
        // the configuration refuses names with outer Unicode blanks (a no-break space)
        // or control characters. Cookies with other names can only be unclassified,
        // and the block-all check above covers them.
        let names: Vec<&str> = case
            .stored
            .iter()
            .filter_map(|n| std::str::from_utf8(n).ok())
            .filter(|n| !n.is_empty() && !n.contains('*'))
            .filter(|n| n.trim() == *n && !n.chars().any(char::is_control))
            .collect();
        let rules: Vec<(&str, &str)> = names.iter().map(|n| (*n, "necessary")).collect();
        let granted = config(&rules, "block");
        let kept = enforce(&granted, &case.lines, None);
        for line in &kept {
            let name =
                set_cookie_name(line.as_bytes()).map(|n| String::from_utf8_lossy(n).into_owned());
            assert!(
                name.as_deref().is_some_and(|n| names.contains(&n)),
                "case {}: {line:?} passed",
                case.id
            );
        }
        for name in &names {
            // A line no HTTP header can carry (a NUL byte) never reaches a proxy.
            let carried = case.lines.iter().any(|l| {
                HeaderValue::from_bytes(l).is_ok() && set_cookie_name(l) == Some(name.as_bytes())
            });
            if !carried {
                continue;
            }
            assert!(
                kept.iter()
                    .any(|l| set_cookie_name(l.as_bytes()) == Some(name.as_bytes())),
                "case {}: {name} was removed",
                case.id
            );
        }
    }
}

/// For every cookie Chromium stores, consentry reads the name Chromium reads.
#[test]
fn every_cookie_a_browser_stores_is_named_as_the_browser_names_it() {
    let cases = chromium_cases();
    assert!(cases.len() >= 80, "{} cases", cases.len());
    check_names(&cases);
}

/// No line of Chromium's cases slips through unclassified.
#[test]
fn browser_cases_never_slip_through_unclassified() {
    check_never_unclassified(&chromium_cases());
}

/// The fixture holds the kinds of lines browsers and strict parsers disagree about,
/// and Chromium's answers to them.
#[test]
fn the_browser_cases_cover_the_awkward_lines() {
    let cases = chromium_cases();
    let has = |what: &str, pred: &dyn Fn(&[u8]) -> bool| {
        assert!(
            cases.iter().any(|c| c.lines.iter().any(|l| pred(l))),
            "no case with {what}"
        );
    };
    has("no `=`", &|l| !l.contains(&b'='));
    has("an empty name", &|l| l.trim_ascii_start().starts_with(b"="));
    has("blanks around the name", &|l| {
        l.starts_with(b" ") || l.starts_with(b"\t")
    });
    has("quotes", &|l| l.contains(&b'"'));
    has("a control character", &|l| {
        l.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    });
    has("bytes that are not UTF-8", &|l| {
        std::str::from_utf8(l).is_err()
    });
    has("UTF-8 beyond ASCII", &|l| {
        !l.is_ascii() && std::str::from_utf8(l).is_ok()
    });
    has("`=` in the value", &|l| {
        l.iter().filter(|&&b| b == b'=').count() > 1
    });
    has("a name over 4 KiB", &|l| {
        set_cookie_name(l).is_some_and(|n| n.len() > 4096)
    });
    has("a value over 4 KiB", &|l| {
        let pair = l.split(|&b| b == b';').next().unwrap_or_default();
        pair.iter()
            .position(|&b| b == b'=')
            .is_some_and(|eq| pair.len() - eq - 1 > 4096)
    });
    assert!(
        cases.iter().any(|c| c.lines.len() > 3),
        "no case with several lines"
    );
    assert!(
        cases.iter().any(|c| c.stored.iter().any(Vec::is_empty)),
        "no nameless cookie stored"
    );
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), cases.len(), "case ids are unique");
}

/// The same two checks on the IETF http-state parser cases, when provided.
#[test]
fn extra_cookie_parser_cases_when_provided() {
    let Some(cases) = extra_cases() else {
        return;
    };
    eprintln!("running {} extra cookie-parser cases", cases.len());
    check_names(&cases);
    check_never_unclassified(&cases);
}

fn arbitrary_line() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("sessionid".to_string()),
        Just("_ga".to_string()),
        Just("_ga_XYZ".to_string()),
        Just("_fbp".to_string()),
        Just("cookies_preferences".to_string()),
        Just("".to_string()),
        "[ -~]{0,12}",
    ];
    let sep = prop_oneof![
        Just("=".to_string()),
        Just(" = ".to_string()),
        Just("".to_string()),
        Just(";".to_string())
    ];
    (name, sep, "[ -~]{0,20}").prop_map(|(n, s, rest)| format!("{n}{s}{rest}"))
}

fn arbitrary_consent() -> impl Strategy<Value = Option<String>> {
    let json = proptest::collection::vec(
        (
            prop_oneof![
                Just("statistics"),
                Just("third_party"),
                Just("necessary"),
                Just("other")
            ],
            any::<bool>(),
        ),
        0..4,
    )
    .prop_map(|kv| {
        let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("cookies_preferences={{{}}}", body.join(","))
    });
    prop_oneof![
        Just(None),
        json.prop_map(Some),
        "[ -~]{0,30}".prop_map(|s| Some(format!("cookies_preferences={s}")))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// For any consent and any Set-Cookie lines: nothing not granted leaves, and
    /// everything granted leaves unchanged and in order.
    #[test]
    fn no_cookie_that_is_not_granted_ever_leaves(lines in proptest::collection::vec(arbitrary_line(), 0..12), cookie in arbitrary_consent()) {
        let config = config(&[("sessionid", "necessary"), ("_ga*", "statistics"), ("_fbp", "third_party")], "block");
        let site = &config.sites[0];
        let mut request = HeaderMap::new();
        if let Some(c) = cookie.as_deref() {
            if let Ok(v) = HeaderValue::from_str(c) { request.insert(COOKIE, v); }
        }
        let consent = Consent::read(&RequestCookies::from_headers(&request), false, &site.consent, &config.categories);
        let granted: CategorySet = consent.granted();
        let lines: Vec<String> = lines.into_iter().filter(|l| HeaderValue::from_str(l).is_ok()).collect();
        let expected: Vec<String> = lines.iter().filter(|l| {
            let class = site.classifier.classify(set_cookie_name(l.as_bytes()).unwrap_or_default());
            class.category.is_some_and(|c| granted.contains(c))
        }).cloned().collect();
        let kept = enforce(&config, &lines, cookie.as_deref().filter(|c| HeaderValue::from_str(c).is_ok()));
        prop_assert_eq!(&kept, &expected);
        for line in &kept {
            let name = set_cookie_name(line.as_bytes()).unwrap_or_default();
            let class = site.classifier.classify(name);
            prop_assert!(class.category.is_some_and(|c| granted.contains(c)));
        }
    }
}

//! Cookie-name reading against what browsers actually store, and the safety property
//! of enforcement, through the public API.

use std::path::Path;

use consentry::consent::RequestCookies;
use consentry::cookies::enforce::{Report, filter_set_cookies};
use consentry::cookies::name::set_cookie_name;
use consentry::{CategorySet, Config, Consent};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

#[derive(serde::Deserialize)]
struct Case {
    test: String,
    received: Vec<String>,
    sent: Vec<Sent>,
}

#[derive(serde::Deserialize)]
struct Sent {
    name: String,
}

fn cases() -> Vec<Case> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/http-state-parser.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
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

fn enforce(config: &Config, lines: &[String], consent_cookie: Option<&str>) -> Vec<String> {
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
        if let Ok(v) = HeaderValue::from_bytes(line.as_bytes()) {
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

/// For every stored cookie, some received line yields exactly its name.
#[test]
fn every_cookie_a_browser_stores_is_named_as_the_browser_names_it() {
    let cases = cases();
    assert_eq!(cases.len(), 222);
    for case in &cases {
        for sent in &case.sent {
            let named = case
                .received
                .iter()
                .any(|line| set_cookie_name(line.as_bytes()) == Some(sent.name.as_bytes()));
            assert!(
                named,
                "case {}: no received line is named {:?}: {:?}",
                case.test, sent.name, case.received
            );
        }
    }
}

/// Blocking everything lets nothing through; granting exactly the stored names lets
/// through only lines with those names, and at least one for each stored cookie.
#[test]
fn browser_cases_never_slip_through_unclassified() {
    let block_all = config(&[], "block");
    for case in cases() {
        assert!(
            enforce(&block_all, &case.received, None).is_empty(),
            "case {}",
            case.test
        );

        let names: Vec<&str> = case
            .sent
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !n.is_empty() && !n.contains('*'))
            .collect();
        let rules: Vec<(&str, &str)> = names.iter().map(|n| (*n, "necessary")).collect();
        let granted = config(&rules, "block");
        let kept = enforce(&granted, &case.received, None);
        for line in &kept {
            let name =
                set_cookie_name(line.as_bytes()).map(|n| String::from_utf8_lossy(n).into_owned());
            assert!(
                name.as_deref().is_some_and(|n| names.contains(&n)),
                "case {}: {line:?} passed",
                case.test
            );
        }
        for name in &names {
            // A line no HTTP header can carry (a NUL byte) never reaches a proxy.
            let carried = case.received.iter().any(|l| {
                HeaderValue::from_bytes(l.as_bytes()).is_ok()
                    && set_cookie_name(l.as_bytes()) == Some(name.as_bytes())
            });
            if !carried {
                continue;
            }
            assert!(
                kept.iter()
                    .any(|l| set_cookie_name(l.as_bytes()) == Some(name.as_bytes())),
                "case {}: {name} was removed",
                case.test
            );
        }
    }
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

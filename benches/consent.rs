//! Reading the visitor's consent from the request's cookies (`Consent::read`).
//!
//! The policy and categories are those of the shipped `proxy.yaml` (first site);
//! the `list` case compiles the same file with `format: list`.
//!
//! Run: `cargo bench --bench consent -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;

use consentry::consent::RequestCookies;
use consentry::{CategorySet, Config, Consent};
use criterion::{Criterion, criterion_group, criterion_main};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

const SHIPPED: &str = include_str!("../proxy.yaml");

fn config(text: &str) -> Config {
    Config::from_yaml(text, "proxy.yaml", Path::new(".")).expect("proxy.yaml compiles")
}

/// A browser's `Cookie` header: the portal's own cookies, analytics, then `prefs`.
fn cookie_header(prefs: Option<&str>) -> HeaderMap {
    let mut value = String::from(
        "sessionid=8f2b1c9d0e7a4b3c; csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; \
         django_language=en; _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000",
    );
    if let Some(prefs) = prefs {
        value.push_str("; cookies_preferences=");
        value.push_str(prefs);
    }
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&value).expect("valid header"));
    headers
}

fn bench_read(c: &mut Criterion) {
    let json = config(SHIPPED);
    let list_text = SHIPPED.replacen("format: json", "format: list", 1);
    assert_ne!(
        list_text, SHIPPED,
        "proxy.yaml no longer says `format: json`"
    );
    let list = config(&list_text);

    let typical =
        r#"{"statistics":true,"first_party":false,"third_party":false,"rev":3,"ts":1700000000}"#;
    let encoded = "%7B%22statistics%22%3Atrue%2C%22first_party%22%3Afalse%2C%22third_party%22%3Afalse%2C%22rev%22%3A3%2C%22ts%22%3A1700000000%7D";
    let listed = "statistics,first_party";
    // Over the 4 KiB limit: must fail closed, ideally without parsing.
    let oversized = format!(r#"{{"statistics":true,"pad":"{}"}}"#, "x".repeat(4200));
    assert!(oversized.len() > 4096);

    let cases: [(&str, &Config, Option<&str>, &[&str]); 5] = [
        ("json", &json, Some(typical), &["necessary", "statistics"]),
        (
            "json_percent_encoded",
            &json,
            Some(encoded),
            &["necessary", "statistics"],
        ),
        (
            "list",
            &list,
            Some(listed),
            &["necessary", "statistics", "first_party"],
        ),
        ("missing", &json, None, &["necessary"]),
        ("oversized_4k", &json, Some(&oversized), &["necessary"]),
    ];

    let mut group = c.benchmark_group("consent_read");
    for (name, config, prefs, expect) in cases {
        let site = &config.sites[0];
        let categories = &config.categories;
        let headers = cookie_header(prefs);
        let cookies = RequestCookies::from_headers(&headers);

        // The case must decide what it claims to, or the timing means nothing.
        let got = Consent::read(&cookies, false, &site.consent, categories).granted();
        let want = expect.iter().fold(CategorySet::EMPTY, |s, n| {
            s.with(categories.id(n).expect("category exists"))
        });
        assert_eq!(got, want, "case {name}");

        group.bench_function(name, |b| {
            b.iter(|| Consent::read(black_box(&cookies), false, &site.consent, categories))
        });
    }
    group.finish();

    // What the proxy does per request: collect the Cookie fields, then read.
    let site = &json.sites[0];
    let headers = cookie_header(Some(typical));
    c.bench_function("consent_read/json_with_from_headers", |b| {
        b.iter(|| {
            let cookies = RequestCookies::from_headers(black_box(&headers));
            Consent::read(&cookies, false, &site.consent, &json.categories)
        })
    });
}

/// Issue 16's realistic request: a percent-encoded preferences value granting
/// statistics, a session, a CSRF token, `_ga` (granted) and `_fbp` (revoked).
const REALISTIC_REST: &str = "sessionid=8f2b1c9d0e7a4b3c6d5e; csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; \
     _ga=GA1.2.1234567890.1700000000; _fbp=fb.1.1700000000000.1234567890";

/// All the consent work of one request, as `Proxy::handle` does it: collect the
/// `Cookie` fields, read `Sec-GPC`, read the consent, strip the revoked cookie from
/// the forwarded `Cookie` and expire it in the response. (The two header maps are
/// cloned in the batch setup, not measured.)
fn bench_request(c: &mut Criterion) {
    use consentry::cookies::enforce::{Report, expire_revoked, strip_request_cookies};
    let json = config(SHIPPED);
    let cc_text = SHIPPED
        .replacen("cookie: cookies_preferences", "cookie: cc_cookie", 1)
        .replacen("format: json", "format: cookieconsent", 1);
    let cookieconsent = config(&cc_text);
    let cases = [
        (
            "json",
            &json,
            "cookies_preferences=%7B%22statistics%22%3Atrue%2C%22third_party%22%3Afalse%7D",
        ),
        (
            "cookieconsent",
            &cookieconsent,
            "cc_cookie=%7B%22categories%22%3A%5B%22necessary%22%2C%22analytics%22%5D%2C%22revision%22%3A0%2C%22data%22%3Anull%2C%22consentTimestamp%22%3A%222026-12-01T10%3A00%3A00.000Z%22%2C%22consentId%22%3A%22f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9%22%7D",
        ),
    ];
    let mut group = c.benchmark_group("consent_request");
    for (name, config, prefs) in cases {
        let site = &config.sites[0];
        let categories = &config.categories;
        let mut request = HeaderMap::new();
        request.insert(
            COOKIE,
            HeaderValue::from_str(&format!("{prefs}; {REALISTIC_REST}")).expect("valid header"),
        );
        let work = |request: &mut HeaderMap, response: &mut HeaderMap| {
            let cookies = RequestCookies::from_headers(request);
            let gpc = request.get_all("sec-gpc").iter().any(|v| v == "1");
            let consent = Consent::read(&cookies, gpc, &site.consent, categories);
            let granted = consent.granted();
            let mut report = Report {
                stripped: strip_request_cookies(request, &cookies, &site.classifier, granted),
                ..Report::default()
            };
            expire_revoked(response, &cookies, &site.classifier, granted, &mut report);
            report
        };
        // The case must do what it claims to, or the timing means nothing.
        let (mut req, mut resp) = (request.clone(), HeaderMap::new());
        let report = work(&mut req, &mut resp);
        assert_eq!(report.stripped, 1, "case {name}: _fbp stripped");
        assert_eq!(report.expired, ["_fbp"], "case {name}: _fbp expired");
        let forwarded = req
            .get(COOKIE)
            .expect("cookies forwarded")
            .to_str()
            .unwrap();
        assert!(
            forwarded.contains("_ga=") && !forwarded.contains("_fbp"),
            "case {name}"
        );
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || (request.clone(), HeaderMap::new()),
                |(req, resp)| work(req, resp),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_read, bench_request);
criterion_main!(benches);

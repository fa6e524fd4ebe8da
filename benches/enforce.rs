//! Header enforcement per response, and how its cost grows with the configuration.
//!
//! - `enforce_response/*`: a response with 12 `Set-Cookie` lines (necessary,
//!   statistics, third-party and unclassified names from the shipped `proxy.yaml`)
//!   through `filter_set_cookies` + `expire_revoked` (the request carries 3 cookies
//!   that the "required only" consent revokes) + `add_policy_link`. The header map
//!   is cloned in the batch setup, outside the measurement. Target: under 2 µs.
//! - `classify_rules/*/N`: `Classifier::classify` with N rules (half exact names,
//!   half `*` globs), for a name that hits the first rule, the last exact rule, the
//!   last glob, and no rule at all.
//! - `routing/*/N`: `Config::site_for_host` (and `site_index_for_host`, which the
//!   proxy calls per request) with N sites.
//!
//! Run: `cargo bench --bench enforce -- --warm-up-time 1 --measurement-time 3`

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use consentry::consent::RequestCookies;
use consentry::cookies::enforce::{self, Report};
use consentry::{Config, Consent};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};

const SHIPPED: &str = include_str!("../proxy.yaml");

fn shipped() -> Config {
    Config::from_yaml(SHIPPED, "proxy.yaml", Path::new(".")).expect("proxy.yaml compiles")
}

/// (category, Set-Cookie line): 3 necessary, 4 statistics, 3 third-party, 2 unclassified.
const SET_COOKIES: [(&str, &str); 12] = [
    (
        "necessary",
        "sessionid=8f2b1c9d0e7a4b3c6d5e; HttpOnly; Path=/; SameSite=Lax",
    ),
    (
        "statistics",
        "_ga=GA1.2.1234567890.1700000000; Path=/; Domain=.portal.test; Max-Age=63072000",
    ),
    (
        "necessary",
        "csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; Path=/; Max-Age=31449600; SameSite=Lax",
    ),
    (
        "third_party",
        "_fbp=fb.1.1700000000000.1234567890; Path=/; Domain=.portal.test; Max-Age=7776000",
    ),
    (
        "statistics",
        "_gid=GA1.2.987654321.1700000000; Path=/; Domain=.portal.test; Max-Age=86400",
    ),
    ("unclassified", "ab_test_bucket=B; Path=/; Max-Age=2592000"),
    ("necessary", "django_language=en; Path=/; Max-Age=31536000"),
    (
        "statistics",
        "_pk_id.1.a1b2=0123456789abcdef.1700000000.; Path=/; Max-Age=33696000",
    ),
    (
        "third_party",
        "IDE=AHWqTUm3x9yZ0aB1cD2eF3gH4; Path=/; Domain=.doubleclick.net; Secure; SameSite=None",
    ),
    (
        "statistics",
        "_hjSessionUser_123456=eyJpZCI6IjEyMyJ9; Path=/; Max-Age=31536000",
    ),
    (
        "unclassified",
        "AWSALB=Zm9vYmFyYmF6cXV4; Expires=Tue, 01 Jan 2030 00:00:00 GMT; Path=/",
    ),
    (
        "third_party",
        "li_gc=MTsyMTsxNzAwMDAwMDAwOzI7; Path=/; Domain=.portal.test; Max-Age=15552000",
    ),
];

fn response_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut add = |k: &str, v: &str| {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    };
    add("server", "nginx");
    add("date", "Tue, 14 Nov 2023 22:13:20 GMT");
    add("content-type", "text/html; charset=utf-8");
    add("content-length", "30720");
    add("cache-control", "private, max-age=0");
    add("vary", "Accept-Encoding, Cookie");
    for (_, line) in SET_COOKIES {
        add("set-cookie", line);
    }
    add("etag", "\"6553f100-7800\"");
    add("x-frame-options", "SAMEORIGIN");
    h
}

/// The request side: the visitor's cookies, 3 of them (`_ga`, `_fbp`, `IDE`) not
/// covered by a "required only" consent.
fn request_headers(prefs: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let value = format!(
        "sessionid=8f2b1c9d0e7a4b3c6d5e; _ga=GA1.2.1234567890.1700000000; _fbp=fb.1.1700000000000.1234567890; \
         IDE=AHWqTUm3x9yZ0aB1cD2eF3gH4; django_language=en; cookies_preferences={prefs}"
    );
    h.insert(COOKIE, HeaderValue::from_str(&value).unwrap());
    h
}

fn bench_enforce(c: &mut Criterion) {
    let config = shipped();
    let site = &config.sites[0];
    let categories = &config.categories;
    let cases = [
        (
            "required_only",
            r#"{"statistics":false,"first_party":false,"third_party":false}"#,
            3usize,
            3usize,
        ),
        (
            "all_granted",
            r#"{"statistics":true,"first_party":true,"third_party":true}"#,
            10,
            0,
        ),
    ];

    let mut group = c.benchmark_group("enforce_response");
    for (name, prefs, kept, expired) in cases {
        let req = request_headers(prefs);
        let cookies = RequestCookies::from_headers(&req);
        let granted = Consent::read(&cookies, false, &site.consent, categories).granted();
        let template = response_headers();

        let run = |mut headers: HeaderMap| {
            let mut report = Report::default();
            enforce::filter_set_cookies(&mut headers, &site.classifier, granted, &mut report);
            enforce::expire_revoked(
                &mut headers,
                &cookies,
                &site.classifier,
                granted,
                &mut report,
            );
            enforce::add_policy_link(&mut headers, &site.policy.link_header);
            (headers, report)
        };

        // Sanity: the case does what it says.
        let (out, report) = run(template.clone());
        assert_eq!(report.allowed.len(), kept, "{name}: kept");
        assert_eq!(report.expired.len(), expired, "{name}: expired");
        assert_eq!(
            out.get_all(SET_COOKIE).iter().count(),
            kept + expired,
            "{name}: set-cookie lines"
        );
        if kept == 10 {
            // Only the two unclassified lines go (unclassified: block).
            assert!(report.removed.iter().all(|d| d.category.is_none()));
        }

        group.bench_function(BenchmarkId::new("filter+expire+link", name), |b| {
            b.iter_batched(
                || template.clone(),
                |h| run(black_box(h)),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(BenchmarkId::new("filter_set_cookies", name), |b| {
            b.iter_batched(
                || template.clone(),
                |mut h| {
                    let mut report = Report::default();
                    enforce::filter_set_cookies(&mut h, &site.classifier, granted, &mut report);
                    (h, report)
                },
                BatchSize::SmallInput,
            )
        });
        // The request side of the same exchange, for completeness.
        group.bench_function(BenchmarkId::new("strip_request_cookies", name), |b| {
            b.iter_batched(
                || req.clone(),
                |mut h| {
                    let n =
                        enforce::strip_request_cookies(&mut h, &cookies, &site.classifier, granted);
                    (h, n)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// A configuration with `rules` cookie rules (even positions exact, odd globs) and
/// `sites` sites named `site{i}.portal.test`.
fn generated(rules: usize, sites: usize) -> Config {
    let mut y = String::from(
        "listen:\n  http: 127.0.0.1:0\n\
         consent:\n  cookie: cookies_preferences\n  unclassified: block\n\
         categories:\n  necessary:\n    required: true\n    title: Necessary\n    description: d\n\
         \x20 statistics:\n    title: Statistics\n    description: d\n\
         cookies:\n",
    );
    for i in 0..rules {
        if i % 2 == 0 {
            writeln!(y, "  - {{ name: ck_{i}, category: statistics }}").unwrap();
        } else {
            writeln!(y, "  - {{ name: \"gl_{i}_*\", category: statistics }}").unwrap();
        }
    }
    y.push_str("policy:\n  path: /terms/cookies-policy/\nsites:\n");
    for i in 0..sites {
        writeln!(
            y,
            "  - {{ name: s{i}, hosts: [site{i}.portal.test], upstream: \"http://127.0.0.1:{}\" }}",
            8001 + i
        )
        .unwrap();
    }
    Config::from_yaml(&y, "generated.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}\n{y}"))
}

fn bench_growth(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify_rules");
    for n in [10usize, 100, 1000] {
        let config = generated(n, 1);
        let classifier = &config.sites[0].classifier;
        let last_exact = format!("ck_{}", if (n - 1) % 2 == 0 { n - 1 } else { n - 2 });
        let last_glob = format!("gl_{}_abc", if (n - 1) % 2 == 1 { n - 1 } else { n - 2 });
        let names: [(&str, &[u8]); 4] = [
            ("first_rule", b"ck_0"),
            ("last_exact", last_exact.as_bytes()),
            ("last_glob", last_glob.as_bytes()),
            ("unclassified", b"ab_test_bucket"),
        ];
        for (what, name) in names {
            let class = classifier.classify(name);
            assert_eq!(
                class.category.is_some(),
                what != "unclassified",
                "{what} {n}"
            );
            group.bench_with_input(BenchmarkId::new(what, n), &name, |b, name| {
                b.iter(|| classifier.classify(black_box(name)))
            });
        }
    }
    group.finish();

    // The shipped rules, one name per kind of hit: an exact rule with no glob before
    // it, an exact rule after globs, a `prefix*` glob, and no rule.
    let config = shipped();
    let classifier = &config.sites[0].classifier;
    let mut group = c.benchmark_group("classify_shipped");
    for name in [
        "sessionid",
        "_gid",
        "_ga",
        "_pk_id.1.a1b2",
        "IDE",
        "li_gc",
        "ab_test_bucket",
    ] {
        group.bench_with_input(
            BenchmarkId::from_parameter(name),
            name.as_bytes(),
            |b, name| b.iter(|| classifier.classify(black_box(name))),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("routing");
    for n in [1usize, 10, 100] {
        let config = generated(10, n);
        let last = format!("site{}.portal.test", n - 1);
        assert!(config.site_for_host(&last).is_some());
        group.bench_with_input(BenchmarkId::new("site_for_host", n), &last, |b, host| {
            b.iter(|| config.site_for_host(black_box(host)).is_some())
        });
        group.bench_with_input(
            BenchmarkId::new("site_for_host_miss", n),
            &"nowhere.test",
            |b, host| b.iter(|| config.site_for_host(black_box(host)).is_some()),
        );
        group.bench_with_input(
            BenchmarkId::new("site_index_for_host", n),
            &last,
            |b, host| b.iter(|| config.site_index_for_host(black_box(host)).map(|(i, _)| i)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_enforce, bench_growth);
criterion_main!(benches);

use std::path::Path;

use super::*;

const BASE: &str = "listen: { http: 127.0.0.1:0 }
consent:
  cookie: prefs
  honor_gpc: false
categories:
  necessary: { required: true }
  statistics: {}
  third_party: { gpc: true }
cookies:
  - { name: _ga*, category: statistics }
sites:
  - name: a
    hosts: [A.test, www.a.test]
    upstream: http://127.0.0.1:8001/base/
";

fn compile(text: &str) -> Config {
    Config::from_yaml(text, "t.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn applies_the_documented_defaults() {
    let c = compile(BASE);
    assert_eq!(c.timeouts.header_read, Duration::from_secs(10));
    assert_eq!(c.timeouts.upstream_response, Duration::from_secs(30));
    assert_eq!(c.limits.max_request_header_bytes, 65536);
    assert_eq!(c.limits.max_request_body_bytes, None);
    let site = &c.sites[0];
    assert_eq!(site.policy.path, "/terms/cookies-policy/");
    assert!(site.policy.serve);
    assert_eq!(site.consent.max_age, 15_552_000);
    assert!(site.consent.expire_revoked && site.consent.strip_request_cookies);
    assert_eq!(site.classifier.unclassified(), Unclassified::Block);
}

/// A security re-audit: `GET http://b.test#x` went upstream as `GET  HTTP/1.1`, an
/// empty target, and `http://c.test?q=1` as `/prefix?q=1`.
#[test]
fn a_target_without_a_path_goes_upstream_as_slash() {
    let target: http::Uri = "http://b.test?q=1".parse().unwrap();
    let upstream = |prefix: &str| Upstream {
        scheme: http::uri::Scheme::HTTP,
        authority: "127.0.0.1:8000".parse().unwrap(),
        prefix: prefix.to_owned(),
        ca_file: None,
    };
    let (bare, prefixed) = (upstream(""), upstream("/prefix"));
    assert_eq!(bare.uri_for(&target).unwrap(), "/?q=1");
    assert_eq!(prefixed.uri_for(&target).unwrap(), "/prefix/?q=1");
    let no_path: http::Uri = "http://b.test".parse().unwrap();
    assert_eq!(bare.uri_for(&no_path).unwrap(), "/");
    assert_eq!(prefixed.uri_for(&no_path).unwrap(), "/prefix/");
    let star: http::Uri = "*".parse().unwrap();
    assert_eq!(bare.uri_for(&star).unwrap(), "*");
    assert_eq!(prefixed.uri_for(&star).unwrap(), "*");
}

#[test]
fn routes_lower_cased_hosts_and_keeps_an_upstream_prefix() {
    let c = compile(BASE);
    assert!(c.site_for_host("a.test").is_some());
    assert!(c.site_for_host("www.a.test").is_some());
    assert!(c.site_for_host("b.test").is_none());
    let uri = c.sites[0]
        .upstream
        .uri_for(&"/x?y=1".parse().unwrap())
        .unwrap();
    assert_eq!(uri.to_string(), "/base/x?y=1");
}

#[test]
fn site_consent_overrides_global_keys_one_by_one() {
    let text = BASE.replace(
        "    upstream: http://127.0.0.1:8001/base/\n",
        "    upstream: http://127.0.0.1:8001/base/\n    consent: { format: list, unclassified: allow }\n",
    );
    let c = compile(&text);
    let consent = &c.sites[0].consent;
    assert_eq!(consent.sources[0].cookie, "prefs", "inherited");
    assert_eq!(consent.sources[0].format, Format::List, "overridden");
    assert!(!consent.honor_gpc, "inherited");
    assert_eq!(c.sites[0].classifier.unclassified(), Unclassified::Allow);
}

#[test]
fn site_rules_come_before_global_ones() {
    let text = BASE.replace(
        "    upstream: http://127.0.0.1:8001/base/\n",
        "    upstream: http://127.0.0.1:8001/base/\n    cookies:\n      - { name: _ga, category: necessary }\n",
    );
    let c = compile(&text);
    let necessary = c.categories.id("necessary");
    assert_eq!(c.sites[0].classifier.classify(b"_ga").category, necessary);
    assert_eq!(
        c.sites[0].classifier.classify(b"_ga_X").category,
        c.categories.id("statistics")
    );
}

#[test]
fn several_sources_and_mappings_compile() {
    let text = BASE.replace(
        "consent:\n  cookie: prefs\n",
        "consent:\n  sources:\n    - { format: json, cookie: new_prefs }\n    - { format: list, cookie: old_prefs, mapping: { stats: statistics, ads: none } }\n",
    );
    let c = compile(&text);
    let sources = &c.sites[0].consent.sources;
    assert_eq!(sources.len(), 2);
    assert_eq!(
        sources[1].vocab.category("stats"),
        c.categories.id("statistics")
    );
    assert_eq!(sources[1].vocab.category("ads"), None);
    // Every consent cookie is necessary.
    assert_eq!(
        c.sites[0].classifier.classify(b"old_prefs").category,
        c.categories.id("necessary")
    );
}

#[test]
fn sources_and_a_single_format_at_one_level_conflict() {
    let text = BASE.replace(
        "  cookie: prefs\n",
        "  cookie: prefs\n  sources: [ { format: json } ]\n",
    );
    let err = Config::from_yaml(&text, "t.yaml", Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("use either `sources` or"), "{err}");
}

#[test]
fn a_mapping_to_an_unknown_category_is_an_error() {
    let text = BASE.replace(
        "  cookie: prefs\n",
        "  cookie: prefs\n  mapping: { analytics: stats }\n",
    );
    let err = Config::from_yaml(&text, "t.yaml", Path::new(".")).unwrap_err();
    assert!(
        err.to_string().contains(
            "t.yaml:4:25: consent.mapping.analytics: `analytics` maps to unknown category `stats`"
        ),
        "{err}"
    );
}

#[test]
fn the_banner_needs_a_format_it_can_write() {
    let text = BASE.replace(
        "  cookie: prefs\n",
        "  cookie: prefs\n  format: cookiebot\n",
    ) + "policy: { banner: true }\n";
    let err = Config::from_yaml(&text, "t.yaml", Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("policy.banner"), "{err}");
}

#[test]
fn a_site_that_names_another_format_reads_that_formats_cookie() {
    let text = BASE.replace(
        "    upstream: http://127.0.0.1:8001/base/\n",
        "    upstream: http://127.0.0.1:8001/base/\n    consent: { format: onetrust }\n",
    );
    let c = compile(&text);
    assert_eq!(c.sites[0].consent.sources[0].cookie, "OptanonConsent");
    assert_eq!(
        c.sites[0].consent.sources[0].vocab.category("C0002"),
        c.categories.id("statistics")
    );
}

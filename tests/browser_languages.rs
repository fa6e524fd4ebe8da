//! The banner and the policy page in a real browser (headless Chromium), in every
//! built-in language: the language follows the page, axe-core finds no serious or
//! critical WCAG 2.2 AA violation, the keyboard works (Tab order, visible focus,
//! Escape), targets are at least 24 by 24 CSS pixels, and the banner is announced.
//!
//! axe-core comes from the npm registry (`npm install --no-save axe-core@4`, which
//! .ci/run does) and is read from `node_modules/axe-core/axe.min.js`. Without it, or
//! without Chromium, the tests print `SKIPPED:` and pass, except under `CI=true`.
//! Screenshots of the banner in English and French go to `target/screenshots/`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use browser::{Browser, keys};

const WAIT: Duration = Duration::from_secs(20);
const BUILTIN: [&str; 8] = ["en", "fr", "de", "es", "it", "nl", "pt", "pl"];
/// The tags axe runs under (WCAG 2.0, 2.1 and 2.2, levels A and AA).
const TAGS: &str = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']";

fn is_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// axe-core's script, or `None` (skipped, or a failure under CI).
fn axe_source(test: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => {
            let reason = format!(
                "axe-core is not in {} ({e}); run `npm install --no-save axe-core@4` in the repository (.ci/run does)",
                path.display()
            );
            assert!(!is_ci(), "{test}: {reason}");
            browser::skipped(test, &reason);
            None
        }
    }
}

/// A page of the portal, in `lang`, well formed for axe (title, main, headings).
fn page(lang: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Open data portal</title></head>\
         <body><header><p>Open data portal</p></header><main id=\"content\"><h1>Datasets</h1>\
         <p><a href=\"/explore/\">Explore the catalogue</a></p>\
         <p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p></main></body></html>\n"
    )
}

/// The deliberately broken control of [`axe_reports_a_broken_control`].
const BROKEN: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Broken</title></head>\
    <body><main><h1>Broken</h1><button id=\"broken\" style=\"width:10px;height:10px\"></button>\
    <input type=\"checkbox\" id=\"unlabelled\"></main></body></html>\n";

fn yaml(upstream: &str, languages: &str) -> String {
    format!(
        r#"listen:
  http: 127.0.0.1:0
consent:
  cookie: cookies_preferences
  format: json
categories:
  necessary:
    required: true
    title: {{ en: Necessary cookies, fr: Cookies nécessaires }}
    description: {{ en: Needed for the site to work., fr: Indispensables au fonctionnement du site. }}
  statistics:
    title: {{ en: Statistical cookies, fr: Cookies statistiques }}
    description: {{ en: Audience measurement., fr: Mesure d'audience. }}
  third_party:
    title: {{ en: Third-party cookies, fr: Cookies tiers }}
    description: {{ en: Other parties., fr: Des tiers. }}
    gpc: true
cookies:
  - name: sessionid
    category: necessary
    provider: Opendatasoft
    function: {{ en: Authentication (front and back office), fr: Authentification (front et back office) }}
    purpose: {{ en: Remember the user, fr: Se souvenir de l'utilisateur }}
  - {{ name: _ga*, category: statistics, provider: Google Analytics }}
  - {{ name: _fbp, category: third_party, provider: Meta }}
policy:
  path: /terms/cookies-policy/
  link_text: {{ en: Cookies policy, fr: Politique des cookies }}
  banner: true
  languages: {languages}
sites:
  - name: portal
    hosts: [127.0.0.1, localhost]
    upstream: {upstream}
"#
    )
}

struct Portal {
    base: String,
    _upstream: common::Upstream,
    _proxy: consentry::net::server::Running,
}

/// A portal whose pages are `/<lang>/` in that language and `/broken/`.
async fn portal(languages: &str) -> Portal {
    let upstream = common::upstream(|req| {
        let path = req.uri().path().to_owned();
        Box::pin(async move {
            let html = if path == "/broken/" {
                BROKEN.to_owned()
            } else {
                let lang = path.trim_matches('/');
                page(if lang.is_empty() { "en" } else { lang })
            };
            common::response(200, &[("content-type", "text/html; charset=utf-8")], html)
        })
    })
    .await;
    let proxy = common::proxy(&yaml(&upstream.url(), languages)).await;
    let addr = proxy.http_addr.expect("the proxy listens on HTTP");
    Portal {
        base: format!("http://127.0.0.1:{}", addr.port()),
        _upstream: upstream,
        _proxy: proxy,
    }
}

async fn js_until(b: &Browser, expression: &str) -> bool {
    let script = format!("return !!({expression});");
    let deadline = Instant::now() + WAIT;
    loop {
        if b.execute(&script, vec![]).await.as_bool() == Some(true) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens `url` and waits for the banner's script to have run.
async fn open_with_banner(b: &Browser, url: &str) {
    b.goto(url).await;
    assert!(
        js_until(
            b,
            "document.getElementById('consentry-banner') && document.body.style.paddingBottom !== ''"
        )
        .await,
        "the banner and its script at {url}"
    );
}

/// Runs axe-core on the current document; returns its violations (id, impact, the
/// elements), as JSON.
async fn axe(b: &Browser, source: &str) -> Vec<Value> {
    b.execute(source, vec![]).await;
    b.execute(
        &format!(
            "window.__axe = null;\
             axe.run(document, {{ runOnly: {{ type: 'tag', values: {TAGS} }}, resultTypes: ['violations'] }})\
               .then(r => {{ window.__axe = JSON.stringify(r.violations.map(v => ({{ id: v.id, impact: v.impact,\
                 nodes: v.nodes.map(n => n.target.join(' ')) }}))); }},\
                     e => {{ window.__axe = JSON.stringify({{ error: String(e) }}); }});"
        ),
        vec![],
    )
    .await;
    assert!(js_until(b, "window.__axe !== null").await, "axe finished");
    let text = b.execute("return window.__axe;", vec![]).await;
    let value: Value = serde_json::from_str(text.as_str().unwrap_or("null")).unwrap_or(Value::Null);
    assert!(value.get("error").is_none(), "axe failed: {value}");
    value.as_array().cloned().unwrap_or_default()
}

fn serious(violations: &[Value]) -> Vec<&Value> {
    violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_speaks_french_on_a_french_page_and_english_on_an_english_page() {
    let test = "the_banner_speaks_french_on_a_french_page_and_english_on_an_english_page";
    let Some(b) = Browser::for_test(test).await else {
        return;
    };
    let portal = portal("[en, fr]").await;
    for (lang, accept, title) in [
        ("fr", "Tout accepter", "Cookies sur ce site"),
        ("en", "Accept all", "Cookies on this site"),
    ] {
        open_with_banner(&b, &format!("{}/{lang}/", portal.base)).await;
        let seen = b
            .execute(
                "const s = document.getElementById('consentry-banner');\
                 return { lang: s.lang, dir: s.dir, title: document.getElementById('consentry-banner-title').textContent,\
                          accept: s.querySelector('button[value=accept_all]').textContent,\
                          category: s.querySelector('label[for$=statistics]').textContent,\
                          link: document.querySelector('a.consentry-policy-link').textContent };",
                vec![],
            )
            .await;
        assert_eq!(seen["lang"], lang, "{seen}");
        assert_eq!(seen["dir"], "ltr", "{seen}");
        assert_eq!(seen["title"], title, "{seen}");
        assert_eq!(seen["accept"], accept, "{seen}");
        let (category, link) = if lang == "fr" {
            ("Cookies statistiques", "Politique des cookies")
        } else {
            ("Statistical cookies", "Cookies policy")
        };
        assert_eq!(seen["category"], category, "{seen}");
        assert_eq!(seen["link"], link, "{seen}");
        let shot = b.save_screenshot(&format!("banner-{lang}")).await;
        eprintln!("screenshot: {}", shot.display());
    }
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_no_serious_violation_in_the_banner_or_policy_page_in_any_language() {
    let test = "axe_finds_no_serious_violation_in_the_banner_or_policy_page_in_any_language";
    let Some(source) = axe_source(test) else {
        return;
    };
    let Some(b) = Browser::for_test(test).await else {
        return;
    };
    let portal = portal(&format!("[{}]", BUILTIN.join(", "))).await;
    let mut failures = Vec::new();
    for lang in BUILTIN {
        open_with_banner(&b, &format!("{}/{lang}/", portal.base)).await;
        let banner_lang = b
            .execute(
                "return document.getElementById('consentry-banner').lang;",
                vec![],
            )
            .await;
        assert_eq!(banner_lang, lang);
        let on_page = axe(&b, &source).await;
        b.goto(&format!(
            "{}/terms/cookies-policy/?lang={lang}",
            portal.base
        ))
        .await;
        assert!(js_until(&b, &format!("document.documentElement.lang === '{lang}'")).await);
        let on_policy = axe(&b, &source).await;
        eprintln!(
            "axe {lang}: banner page {} violations ({} serious or critical), policy page {} ({} serious or critical)",
            on_page.len(),
            serious(&on_page).len(),
            on_policy.len(),
            serious(&on_policy).len()
        );
        for (what, found) in [("banner page", &on_page), ("policy page", &on_policy)] {
            for v in serious(found) {
                failures.push(format!("{lang} {what}: {v}"));
            }
        }
    }
    assert!(failures.is_empty(), "axe: {failures:#?}");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_reports_a_broken_control() {
    let test = "axe_reports_a_broken_control";
    let Some(source) = axe_source(test) else {
        return;
    };
    let Some(b) = Browser::for_test(test).await else {
        return;
    };
    let portal = portal("[en, fr]").await;
    b.goto(&format!("{}/broken/", portal.base)).await;
    let found = axe(&b, &source).await;
    let ids: Vec<&str> = serious(&found)
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    eprintln!("axe on the broken page: {found:?}");
    // A button with no name, a checkbox with no label: the checks bite.
    assert!(ids.contains(&"button-name"), "{found:?}");
    assert!(ids.contains(&"label"), "{found:?}");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_is_announced_its_targets_are_large_and_escape_closes_it() {
    let test = "the_banner_is_announced_its_targets_are_large_and_escape_closes_it";
    let Some(b) = Browser::for_test(test).await else {
        return;
    };
    let portal = portal("[en, fr]").await;
    open_with_banner(&b, &format!("{}/fr/", portal.base)).await;
    // Announced: a dialog named by its title.
    let named = b
        .execute(
            "const s = document.getElementById('consentry-banner');\
             const t = document.getElementById(s.getAttribute('aria-labelledby'));\
             return { role: s.getAttribute('role'), name: t && t.textContent };",
            vec![],
        )
        .await;
    assert_eq!(named["role"], "dialog");
    assert_eq!(named["name"], "Cookies sur ce site");
    // Every control of the banner (the link inside its sentence aside, which 2.5.8
    // exempts) is at least 24 by 24 CSS pixels.
    let small = b
        .execute(
            "return [...document.querySelectorAll('#consentry-banner button, #consentry-banner input:not([type=hidden])')]\
               .map(e => { const r = e.getBoundingClientRect(); return { what: e.outerHTML.slice(0, 60), w: r.width, h: r.height }; })\
               .filter(s => s.w < 24 || s.h < 24);",
            vec![],
        )
        .await;
    assert_eq!(small, Value::Array(vec![]), "targets under 24px: {small}");
    // Tab from the page's start: the page's link, the injected link, then the banner's
    // link and controls in order, each with a visible focus indicator.
    b.execute(
        "document.activeElement && document.activeElement.blur();",
        vec![],
    )
    .await;
    let mut stops = Vec::new();
    for _ in 0..8 {
        b.press_key(keys::TAB).await;
        let stop = b
            .execute(
                "const e = document.activeElement, s = getComputedStyle(e);\
                 return { text: (e.value || e.textContent || '').trim().slice(0, 40),\
                          in_banner: !!e.closest('#consentry-banner'),\
                          ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 };",
                vec![],
            )
            .await;
        stops.push(stop);
    }
    eprintln!("tab order: {stops:?}");
    let texts: Vec<&str> = stops.iter().filter_map(|s| s["text"].as_str()).collect();
    assert_eq!(
        texts,
        [
            "Explore the catalogue",
            "Politique des cookies",
            "Politique des cookies",
            "statistics",
            "third_party",
            "accept_all",
            "refuse_all",
            "save",
        ],
        "{stops:?}"
    );
    for stop in stops.iter().filter(|s| s["in_banner"] == true) {
        assert_eq!(stop["ring"], true, "visible focus: {stops:?}");
    }
    // Escape inside the banner closes it for this page and gives the focus back.
    b.execute(
        "document.querySelector('#consentry-banner button[value=save]').focus();",
        vec![],
    )
    .await;
    b.press_key(keys::ESCAPE).await;
    assert!(
        js_until(&b, "document.getElementById('consentry-banner').hidden").await,
        "Escape closes the banner"
    );
    let focus = b
        .execute(
            "return !document.activeElement.closest('#consentry-banner');",
            vec![],
        )
        .await;
    assert_eq!(focus, true, "the focus left the closed banner");
    b.quit().await;
}

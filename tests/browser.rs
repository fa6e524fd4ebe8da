//! End to end in a real browser (headless Chromium through chromedriver): the policy
//! link, the policy page, consentry's consent banner with and without JavaScript, the
//! keyboard path, and vanilla-cookieconsent in front of the proxy.
//!
//! Each test has its own upstream, proxy and browser; the browser visits the proxy as
//! `http://127.0.0.1:PORT/`. The upstream's pages set, on every HTML response, the
//! necessary `sessionid` (HttpOnly) and `csrftoken`, the statistics `_ga` and
//! `_hjSessionUser_1` (HttpOnly) and the third-party `_fbp`: what lands in the jar is
//! what the proxy let through. The HttpOnly ones prove the point of the proxy: no
//! script in the page can set or remove them.
//!
//! Without Chromium the tests print `SKIPPED:` and pass, except under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;
#[path = "common/tls.rs"]
mod tls_support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use browser::{Browser, Cookie, element_arg, keys};

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(20);
const POLICY: &str = "/terms/cookies-policy/";
const CATEGORY_TITLES: [&str; 4] = [
    "Necessary cookies",
    "Statistical cookies",
    "Internal cookies",
    "Third-party cookies",
];
const TABLE_COLUMNS: [&str; 4] = [
    "Service provider's name",
    "Function and location",
    "Cookie name(s)",
    "Purposes",
];

/// Every HTML page of the test upstream sets these, whatever the request carries.
const SET_COOKIES: [&str; 5] = [
    "sessionid=s3ss10n; Path=/; HttpOnly; SameSite=Lax",
    "csrftoken=csrf123; Path=/; SameSite=Lax",
    "_ga=GA1.1.42.1700000000; Path=/; Max-Age=3600; SameSite=Lax",
    "_hjSessionUser_1=hj42; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax",
    "_fbp=fb.1.1700000000.42; Path=/; Max-Age=3600; SameSite=Lax",
];

// ---------------------------------------------------------------------------------
// The portal: upstream + proxy
// ---------------------------------------------------------------------------------

/// vanilla-cookieconsent's files, served by the upstream under `/cc/`.
struct CcAssets {
    js: Bytes,
    css: Bytes,
}

/// What the upstream's pages carry besides the cookies.
#[derive(Clone, Default)]
struct Pages {
    /// A `Content-Security-Policy` header on HTML pages.
    csp: Option<&'static str>,
    /// Load vanilla-cookieconsent (from `/cc/`) on every page.
    cookieconsent: Option<Arc<CcAssets>>,
}

fn page_html(path: &str, cookieconsent: bool) -> String {
    let (head, scripts) = if cookieconsent {
        (
            "<link rel=\"stylesheet\" href=\"/cc/cookieconsent.css\">",
            "<script src=\"/cc/cookieconsent.umd.js\"></script><script src=\"/cc/init.js\"></script>",
        )
    } else {
        ("", "")
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Open data portal</title>{head}</head>\
         <body><header><h1>Open data portal</h1></header>\
         <main id=\"content\"><p>Datasets about the city, page <code>{path}</code>.</p>\
         <p><a href=\"/explore/\">Explore the catalogue</a></p></main>{scripts}</body></html>\n",
        path = path.replace('&', "&amp;").replace('<', "&lt;"),
    )
}

fn serve(pages: &Pages, path: &str) -> http::Response<common::TestBody> {
    const JS: &str = "text/javascript; charset=utf-8";
    if let Some(cc) = &pages.cookieconsent {
        match path {
            "/cc/cookieconsent.umd.js" => {
                return common::response(200, &[("content-type", JS)], cc.js.clone());
            }
            "/cc/cookieconsent.css" => {
                return common::response(
                    200,
                    &[("content-type", "text/css; charset=utf-8")],
                    cc.css.clone(),
                );
            }
            "/cc/init.js" => {
                return common::response(
                    200,
                    &[("content-type", JS)],
                    include_str!("fixtures/cookieconsent-init.js"),
                );
            }
            _ => {}
        }
    }
    if path == "/favicon.ico" || path.starts_with("/cc/") {
        return common::response(404, &[("content-type", "text/plain")], "not found");
    }
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
    ];
    if let Some(csp) = pages.csp {
        headers.push(("content-security-policy", csp));
    }
    for line in SET_COOKIES {
        headers.push(("set-cookie", line));
    }
    common::response(
        200,
        &headers,
        page_html(path, pages.cookieconsent.is_some()),
    )
}

/// The proxy's configuration for a site that answers to the browser's host names
/// (the rules' `_fbp` domain is never used: no test revokes `_fbp`).
fn yaml(upstream: &str, consent: &str, policy_extra: &str) -> String {
    use common::CATEGORIES_AND_RULES;
    format!(
        r#"listen:
  http: 127.0.0.1:0
consent:
{consent}
{CATEGORIES_AND_RULES}policy:
  path: {POLICY}
  link_text: Cookies policy
{policy_extra}
sites:
  - name: portal
    hosts: [127.0.0.1, localhost]
    upstream: {upstream}
"#
    )
}

const JSON_CONSENT: &str = "  cookie: cookies_preferences\n  format: json";
const WITH_BANNER: &str = "  banner: true";

/// One test's upstream and proxy, alive as long as this is.
struct Portal {
    base: String,
    _upstream: common::Upstream,
    _proxy: consentry::net::server::Running,
}

async fn portal(pages: Pages, consent: &str, policy_extra: &str) -> Portal {
    let upstream = common::upstream(move |req| {
        let response = serve(&pages, req.uri().path());
        Box::pin(async move { response })
    })
    .await;
    let proxy = common::proxy(&yaml(&upstream.url(), consent, policy_extra)).await;
    let addr = proxy.http_addr.expect("the proxy listens on HTTP");
    Portal {
        base: format!("http://127.0.0.1:{}", addr.port()),
        _upstream: upstream,
        _proxy: proxy,
    }
}

/// A portal with consentry's banner, `cookies_preferences` in JSON.
async fn banner_portal(csp: Option<&'static str>) -> Portal {
    portal(
        Pages {
            csp,
            ..Pages::default()
        },
        JSON_CONSENT,
        WITH_BANNER,
    )
    .await
}

// ---------------------------------------------------------------------------------
// Browser helpers (every wait bounded)
// ---------------------------------------------------------------------------------

fn names(jar: &[Cookie]) -> BTreeSet<String> {
    jar.iter().map(|c| c.name.clone()).collect()
}

fn has(jar: &[Cookie], name: &str) -> bool {
    jar.iter().any(|c| c.name == name)
}

/// Polls the jar until `ok` holds or [`WAIT`] passes; returns the last jar either way.
async fn jar_until(b: &Browser, ok: impl Fn(&[Cookie]) -> bool) -> Vec<Cookie> {
    let deadline = Instant::now() + WAIT;
    loop {
        let jar = b.all_cookies().await;
        if ok(&jar) || Instant::now() >= deadline {
            return jar;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a JavaScript expression until it is truthy or [`WAIT`] passes.
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

/// Marks the current document, so that [`wait_new_document`] can tell it was replaced.
async fn mark_document(b: &Browser) {
    b.execute("window.__consentryTestOldDocument = true;", vec![])
        .await;
}

/// Waits until the marked document was replaced by a fully loaded one.
async fn wait_new_document(b: &Browser, what: &str) {
    assert!(
        js_until(
            b,
            "!window.__consentryTestOldDocument && document.readyState === 'complete'"
        )
        .await,
        "{what}: the page was not reloaded within {WAIT:?} (still at {})",
        b.current_url().await
    );
}

/// How the current document was reached: "navigate" (a link, a form post and its
/// redirect) or "reload" (the banner script's `location.reload()`).
async fn navigation_type(b: &Browser) -> String {
    b.execute(
        "return performance.getEntriesByType('navigation')[0].type;",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

async fn current_path(b: &Browser, base: &str) -> String {
    let url = b.current_url().await;
    url.strip_prefix(base).map(str::to_owned).unwrap_or(url)
}

async fn find(b: &Browser, css: &str) -> String {
    b.wait_for(css, WAIT)
        .await
        .unwrap_or_else(|| panic!("{css} did not appear within {WAIT:?}"))
}

/// Waits until the element matching `css` is displayed (transitions finished).
async fn displayed(b: &Browser, css: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(el) = b.find(css).await {
            if b.is_displayed(&el).await {
                return el;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{css} was not displayed within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn checked(b: &Browser, el: &str) -> bool {
    b.property(el, "checked").await.as_bool().unwrap_or(false)
}

/// A cookie's value percent-decoded and read as JSON.
fn decoded_json(cookie: &Cookie) -> Value {
    let text = percent_encoding::percent_decode_str(&cookie.value)
        .decode_utf8()
        .unwrap_or_else(|e| panic!("{} is not UTF-8 once decoded: {e}", cookie.name));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} = {text:?} is not JSON: {e}", cookie.name))
}

/// `cookies_preferences` from the jar, read as JSON.
fn preferences(jar: &[Cookie]) -> Value {
    let cookie = jar
        .iter()
        .find(|c| c.name == "cookies_preferences")
        .unwrap_or_else(|| panic!("no cookies_preferences in the jar: {:?}", names(jar)));
    decoded_json(cookie)
}

/// Statistics cookies through: `_ga` and the HttpOnly `_hjSessionUser_1`.
fn assert_statistics_in(jar: &[Cookie], when: &str) {
    assert!(
        has(jar, "_ga"),
        "{when}: _ga missing from the jar {:?}",
        names(jar)
    );
    let hj = jar
        .iter()
        .find(|c| c.name == "_hjSessionUser_1")
        .unwrap_or_else(|| {
            panic!(
                "{when}: _hjSessionUser_1 missing from the jar {:?}",
                names(jar)
            )
        });
    assert!(hj.http_only, "{when}: _hjSessionUser_1 is HttpOnly: {hj:?}");
}

fn assert_statistics_gone(jar: &[Cookie], when: &str) {
    for name in ["_ga", "_hjSessionUser_1"] {
        assert!(
            !has(jar, name),
            "{when}: {name} is still in the jar {:?}",
            names(jar)
        );
    }
}

fn assert_necessary_in(jar: &[Cookie], when: &str) {
    let session = jar
        .iter()
        .find(|c| c.name == "sessionid")
        .unwrap_or_else(|| panic!("{when}: sessionid missing from the jar {:?}", names(jar)));
    assert!(
        session.http_only,
        "{when}: sessionid is HttpOnly: {session:?}"
    );
    assert!(
        has(jar, "csrftoken"),
        "{when}: csrftoken missing from the jar {:?}",
        names(jar)
    );
}

/// In consentry's banner: ticks statistics and clicks "Save my choices".
async fn save_statistics_in_banner(b: &Browser) {
    find(b, "#consentry-banner").await;
    let statistics = find(b, "#consentry-banner-statistics").await;
    assert!(
        !checked(b, &statistics).await,
        "nothing is pre-ticked in the banner"
    );
    b.click(&statistics).await;
    assert!(checked(b, &statistics).await, "the click ticked statistics");
    let save = find(b, "#consentry-banner button[value=\"save\"]").await;
    assert_eq!(b.text(&save).await, "Save my choices");
    mark_document(b).await;
    b.click(&save).await;
    wait_new_document(b, "after Save my choices").await;
}

/// Not found now (the page is loaded: no need to wait).
async fn assert_no_banner(b: &Browser, when: &str) {
    assert!(
        b.find("#consentry-banner").await.is_none(),
        "{when}: the banner is still shown"
    );
}

// ---------------------------------------------------------------------------------
// 1. First visit
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_visit_sets_only_necessary_cookies_and_shows_link_and_banner() {
    let Some(b) =
        Browser::for_test("first_visit_sets_only_necessary_cookies_and_shows_link_and_banner")
            .await
    else {
        return;
    };
    let portal = banner_portal(None).await;
    b.goto(&format!("{}/", portal.base)).await;

    let jar = b.all_cookies().await;
    assert_eq!(
        names(&jar),
        BTreeSet::from(["csrftoken".to_owned(), "sessionid".to_owned()]),
        "first visit: only the necessary cookies pass: {jar:?}"
    );
    assert_necessary_in(&jar, "first visit");

    // The policy link, once, at the end of <body>: only the banner follows it.
    let link = find(&b, &format!("body > a[href=\"{POLICY}\"]")).await;
    assert!(b.is_displayed(&link).await, "the policy link is visible");
    assert_eq!(b.text(&link).await, "Cookies policy");
    let placement = b
        .execute(
            &format!(
                "const links = document.querySelectorAll('body > a[href=\"{POLICY}\"]');\
                 const link = links[links.length - 1];\
                 const after = [];\
                 for (let n = link.nextElementSibling; n; n = n.nextElementSibling) after.push(n.tagName + (n.id ? '#' + n.id : ''));\
                 const before = [];\
                 for (let n = link.previousElementSibling; n; n = n.previousElementSibling) before.push(n.tagName);\
                 return {{ count: links.length, after, before }};"
            ),
            vec![],
        )
        .await;
    assert_eq!(
        placement["count"], 1,
        "exactly one policy link in <body>: {placement}"
    );
    assert!(
        placement["before"]
            .as_array()
            .is_some_and(|b| b.iter().any(|t| t == "MAIN")),
        "the page's content comes before the link: {placement}"
    );
    for tag in placement["after"].as_array().expect("array") {
        assert!(
            ["LINK", "SECTION#consentry-banner", "SCRIPT"].contains(&tag.as_str().unwrap_or("")),
            "only the banner follows the link at the end of <body>, not {tag}: {placement}"
        );
    }

    // The banner: a labelled dialog with labelled controls, styled by banner.css.
    let banner = find(&b, "#consentry-banner").await;
    assert!(b.is_displayed(&banner).await, "the banner is displayed");
    assert_eq!(
        b.attribute(&banner, "role").await.as_deref(),
        Some("dialog")
    );
    let title_id = b
        .attribute(&banner, "aria-labelledby")
        .await
        .expect("aria-labelledby");
    let title = find(&b, &format!("#{title_id}")).await;
    assert_eq!(b.text(&title).await, "Cookies on this site");
    let described = b
        .attribute(&banner, "aria-describedby")
        .await
        .expect("aria-describedby");
    let text = find(&b, &format!("#{described}")).await;
    assert!(
        b.text(&text)
            .await
            .contains("Necessary cookies are always on")
    );
    let mut buttons = Vec::new();
    for button in b.find_all("#consentry-banner button").await {
        buttons.push(b.text(&button).await);
    }
    assert_eq!(buttons, ["Accept all", "Refuse all", "Save my choices"]);
    let boxes = b
        .execute(
            "return [...document.querySelectorAll('#consentry-banner input[type=checkbox]')]\
               .map(i => ({ value: i.value, label: i.labels.length ? i.labels[0].textContent.trim() : '',\
                            checked: i.checked, disabled: i.disabled }));",
            vec![],
        )
        .await;
    assert_eq!(
        boxes,
        json!([
            { "value": "necessary", "label": "Necessary cookies (always on)", "checked": true, "disabled": true },
            { "value": "statistics", "label": "Statistical cookies", "checked": false, "disabled": false },
            { "value": "first_party", "label": "Internal cookies", "checked": false, "disabled": false },
            { "value": "third_party", "label": "Third-party cookies", "checked": false, "disabled": false },
        ]),
        "one labelled checkbox per category, none pre-ticked"
    );
    let position = b
        .execute(
            "return getComputedStyle(arguments[0]).position;",
            vec![element_arg(&banner)],
        )
        .await;
    assert_eq!(position, "fixed", "banner.css is loaded");
    // banner.js ran: it makes room for the banner at the end of the page, and leaves
    // the focus where it was (the banner is not modal).
    assert!(
        js_until(&b, "parseFloat(document.body.style.paddingBottom) >= document.getElementById('consentry-banner').offsetHeight").await,
        "the banner script keeps the end of the page above the banner"
    );
    assert!(
        js_until(&b, "document.activeElement === document.body").await,
        "the banner does not take the focus"
    );

    let shot = b.save_screenshot("banner-first-visit").await;
    eprintln!("screenshot: {}", shot.display());
    b.quit().await;
}

// ---------------------------------------------------------------------------------
// 2. The policy page
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_link_opens_the_policy_page() {
    let Some(b) = Browser::for_test("policy_link_opens_the_policy_page").await else {
        return;
    };
    let portal = banner_portal(None).await;
    b.goto(&format!("{}/explore/", portal.base)).await;
    let link = find(&b, &format!("body > a[href=\"{POLICY}\"]")).await;
    mark_document(&b).await;
    b.click(&link).await;
    wait_new_document(&b, "after clicking the policy link").await;
    assert_eq!(current_path(&b, &portal.base).await, POLICY);

    let page = b
        .execute(
            "const text = e => e.textContent.trim();\
             return {\
               h1: [...document.querySelectorAll('h1')].map(text),\
               h2: [...document.querySelectorAll('h2')].map(text),\
               heads: [...document.querySelectorAll('table')].map(t => [...t.querySelectorAll('thead th')].map(text)),\
               names: [...document.querySelectorAll('table code')].map(text),\
               forms: document.querySelectorAll('form[action=\"/.consentry/consent\"]').length,\
             };",
            vec![],
        )
        .await;
    assert_eq!(page["h1"], json!(["Cookies policy"]), "{page}");
    let h2: Vec<&str> = page["h2"]
        .as_array()
        .expect("h2")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for title in CATEGORY_TITLES {
        assert_eq!(
            h2.iter().filter(|t| **t == title).count(),
            1,
            "one h2 {title:?}: {h2:?}"
        );
    }
    let heads = page["heads"].as_array().expect("tables");
    assert!(!heads.is_empty(), "the policy page has tables: {page}");
    for head in heads {
        assert_eq!(head, &json!(TABLE_COLUMNS), "table columns: {page}");
    }
    let listed: Vec<&str> = page["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in ["_ga*", "_hjSessionUser_*", "sessionid", "_fbp"] {
        assert!(listed.contains(&name), "{name} listed in {listed:?}");
    }
    assert_eq!(
        page["forms"], 1,
        "the policy page has the choice form: {page}"
    );
    b.save_screenshot("policy-page").await;
    b.quit().await;
}

// ---------------------------------------------------------------------------------
// 3. Accepting statistics in the banner (JavaScript, strict CSP)
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_accepts_statistics_under_a_strict_csp() {
    let Some(b) = Browser::for_test("banner_accepts_statistics_under_a_strict_csp").await else {
        return;
    };
    // The banner's script and style are same-origin files, with no inline code.
    let portal = banner_portal(Some(
        "default-src 'self'; script-src 'self'; style-src 'self'",
    ))
    .await;
    b.goto(&format!("{}/", portal.base)).await;
    assert!(
        js_until(&b, "parseFloat(document.body.style.paddingBottom) >= document.getElementById('consentry-banner').offsetHeight").await,
        "banner.js runs under script-src 'self'"
    );
    save_statistics_in_banner(&b).await;
    assert_eq!(
        navigation_type(&b).await,
        "reload",
        "the script recorded the choice and reloaded"
    );
    assert_eq!(current_path(&b, &portal.base).await, "/");
    assert_no_banner(&b, "after saving").await;

    let jar = jar_until(&b, |j| has(j, "_ga") && has(j, "_hjSessionUser_1")).await;
    assert_statistics_in(&jar, "after accepting statistics");
    assert!(
        !has(&jar, "_fbp"),
        "third-party _fbp was not accepted: {:?}",
        names(&jar)
    );
    assert_necessary_in(&jar, "after accepting statistics");
    let chosen = preferences(&jar);
    assert_eq!(chosen["statistics"], true, "{chosen}");
    assert_eq!(chosen["first_party"], false, "{chosen}");
    assert_eq!(chosen["third_party"], false, "{chosen}");
    b.save_screenshot("banner-statistics-accepted").await;
    b.quit().await;
}

/// A browser that sends Global Privacy Control sees the category it refuses as
/// refused, and "Accept all" records what was offered, not what GPC refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_gpc_the_banner_shows_third_party_refused() {
    let Some(b) = Browser::for_test("under_gpc_the_banner_shows_third_party_refused").await else {
        return;
    };
    let portal = banner_portal(None).await;
    b.cdp("Network.enable", json!({})).await;
    b.cdp(
        "Network.setExtraHTTPHeaders",
        json!({ "headers": { "Sec-GPC": "1" } }),
    )
    .await;
    b.goto(&format!("{}/", portal.base)).await;
    let third_party = find(&b, "#consentry-banner-third_party").await;
    assert_eq!(
        b.property(&third_party, "disabled").await,
        json!(true),
        "third-party cannot be ticked under GPC"
    );
    assert!(!checked(&b, &third_party).await);
    let label = find(&b, "label[for=\"consentry-banner-third_party\"]").await;
    assert!(
        b.text(&label).await.contains("Global Privacy Control"),
        "the label says why"
    );
    let statistics = find(&b, "#consentry-banner-statistics").await;
    assert_eq!(b.property(&statistics, "disabled").await, json!(false));
    b.save_screenshot("banner-under-gpc").await;

    let accept = find(&b, "#consentry-banner button[value=\"accept_all\"]").await;
    mark_document(&b).await;
    b.click(&accept).await;
    wait_new_document(&b, "after Accept all").await;
    assert_no_banner(&b, "after accepting").await;
    let jar = jar_until(&b, |j| has(j, "_ga")).await;
    let chosen = preferences(&jar);
    assert_eq!(chosen["statistics"], true, "{chosen}");
    assert_eq!(chosen["first_party"], true, "{chosen}");
    assert_eq!(chosen["third_party"], false, "{chosen}");
    assert!(!has(&jar, "_fbp"), "{:?}", names(&jar));
    b.quit().await;
}

// ---------------------------------------------------------------------------------
// 4. Refusing afterwards, from the policy page
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_on_the_policy_page_removes_statistics_cookies() {
    let Some(b) = Browser::for_test("refusing_on_the_policy_page_removes_statistics_cookies").await
    else {
        return;
    };
    let portal = banner_portal(None).await;
    b.goto(&format!("{}/", portal.base)).await;
    save_statistics_in_banner(&b).await;
    let jar = jar_until(&b, |j| has(j, "_ga") && has(j, "_hjSessionUser_1")).await;
    assert_statistics_in(&jar, "after accepting statistics");

    // The policy page's form shows the current choice, and always shows.
    b.goto(&format!("{}{POLICY}", portal.base)).await;
    let statistics = find(&b, "#consentry-policy-statistics").await;
    assert!(
        checked(&b, &statistics).await,
        "the policy page shows statistics as granted"
    );
    let refuse = find(&b, ".consentry-choice button[value=\"refuse_all\"]").await;
    assert_eq!(b.text(&refuse).await, "Refuse all");
    mark_document(&b).await;
    b.click(&refuse).await;
    wait_new_document(&b, "after Refuse all").await;
    assert_eq!(
        current_path(&b, &portal.base).await,
        POLICY,
        "the proxy sent the visitor back"
    );
    let statistics = find(&b, "#consentry-policy-statistics").await;
    assert!(
        !checked(&b, &statistics).await,
        "the policy page now shows statistics refused"
    );

    // The next page: the proxy expires the statistics cookies the browser still sends.
    b.goto(&format!("{}/", portal.base)).await;
    let jar = jar_until(&b, |j| !has(j, "_ga") && !has(j, "_hjSessionUser_1")).await;
    assert_statistics_gone(&jar, "after refusing");
    assert!(!has(&jar, "_fbp"), "{:?}", names(&jar));
    assert_necessary_in(&jar, "after refusing");
    let chosen = preferences(&jar);
    assert_eq!(chosen["statistics"], false, "{chosen}");
    assert_no_banner(&b, "a refusal is a choice").await;
    b.quit().await;
}

/// At the edge, browsers speak HTTP/2 over TLS: the banner's choice (a `Secure`
/// cookie written by its script), the policy page's form (a native post, same-origin
/// checked against `https`) and the proxy's expiry of what was refused, over h2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_and_http2_the_banner_and_the_policy_form_work() {
    let Some(b) = Browser::for_test("over_tls_and_http2_the_banner_and_the_policy_form_work").await
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!(
        "consentry-browser-tls-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = tls_support::self_signed(&dir, "localhost");
    let upstream = common::upstream(|req| {
        let response = serve(&Pages::default(), req.uri().path());
        Box::pin(async move { response })
    })
    .await;
    let https = format!(
        "listen:\n  https: 127.0.0.1:0\ntls:\n  certificates:\n    - {{ cert: '{}', key: '{}' }}\n",
        cert.cert_path.display(),
        cert.key_path.display()
    );
    let config = yaml(&upstream.url(), JSON_CONSENT, WITH_BANNER).replacen(
        "listen:\n  http: 127.0.0.1:0\n",
        &https,
        1,
    );
    let proxy = common::proxy(&config).await;
    let base = format!(
        "https://localhost:{}",
        proxy.https_addr.expect("an https listener").port()
    );

    b.goto(&format!("{base}/")).await;
    find(&b, "#consentry-banner").await;
    let protocol = b
        .execute(
            "return performance.getEntriesByType('navigation')[0].nextHopProtocol;",
            vec![],
        )
        .await;
    assert_eq!(protocol, "h2", "the browser and the proxy speak HTTP/2");
    let jar = b.all_cookies().await;
    assert_eq!(
        names(&jar),
        BTreeSet::from(["csrftoken".to_owned(), "sessionid".to_owned()]),
        "first visit: only the necessary cookies pass: {jar:?}"
    );

    let accept = find(&b, "#consentry-banner button[value=\"accept_all\"]").await;
    mark_document(&b).await;
    b.click(&accept).await;
    wait_new_document(&b, "after Accept all").await;
    let jar = jar_until(&b, |j| has(j, "_ga") && has(j, "_hjSessionUser_1")).await;
    assert_statistics_in(&jar, "after accepting all over h2");
    assert!(has(&jar, "_fbp"), "{:?}", names(&jar));
    let choice = jar
        .iter()
        .find(|c| c.name == "cookies_preferences")
        .expect("the choice is stored");
    assert!(
        choice.secure,
        "on https the choice is a Secure cookie: {choice:?}"
    );
    assert_no_banner(&b, "after the choice").await;

    b.goto(&format!("{base}{POLICY}")).await;
    let refuse = find(&b, ".consentry-choice button[value=\"refuse_all\"]").await;
    mark_document(&b).await;
    b.click(&refuse).await;
    wait_new_document(&b, "after Refuse all on the policy page").await;
    assert_eq!(current_path(&b, &base).await, POLICY, "sent back");
    b.goto(&format!("{base}/")).await;
    let jar = jar_until(&b, |j| !has(j, "_ga") && !has(j, "_hjSessionUser_1")).await;
    assert_statistics_gone(&jar, "after refusing over h2");
    // (`_fbp`'s rule expires it on the rules' own domain, not this host's.)
    assert_necessary_in(&jar, "after refusing over h2");
    assert_eq!(preferences(&jar)["statistics"], false);
    b.quit().await;
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------
// 5. Without JavaScript: the form posts to the proxy
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_form_posts_to_the_proxy() {
    let Some(b) = Browser::for_test("without_javascript_the_form_posts_to_the_proxy").await else {
        return;
    };
    // The page forbids every script: banner.js cannot run, the banner is a plain form.
    let portal = banner_portal(Some("script-src 'none'")).await;
    let page = "/explore/?sort=modified&q=trees";
    b.goto(&format!("{}{page}", portal.base)).await;
    find(&b, "#consentry-banner").await;
    let focus = b
        .execute("return document.activeElement === document.body;", vec![])
        .await;
    assert_eq!(
        focus, true,
        "banner.js did not run (it would have focused the banner)"
    );

    save_statistics_in_banner(&b).await;
    assert_eq!(
        navigation_type(&b).await,
        "navigate",
        "a form post and its redirect, not a script's reload"
    );
    assert_eq!(
        current_path(&b, &portal.base).await,
        page,
        "303 back to the page, query kept"
    );
    assert_no_banner(&b, "after the post").await;
    let jar = jar_until(&b, |j| has(j, "_ga") && has(j, "_hjSessionUser_1")).await;
    assert_statistics_in(&jar, "after the no-JS post");
    assert!(
        !has(&jar, "_fbp"),
        "third-party _fbp was not accepted: {:?}",
        names(&jar)
    );
    let recorded = jar
        .iter()
        .find(|c| c.name == "cookies_preferences")
        .expect("cookies_preferences");
    assert!(
        !recorded.http_only,
        "the banner's scripts may read the choice: {recorded:?}"
    );
    assert_eq!(recorded.same_site.as_deref(), Some("Lax"), "{recorded:?}");
    assert!(
        !recorded.session,
        "the choice outlives the session: {recorded:?}"
    );
    assert_eq!(decoded_json(recorded)["statistics"], true);

    // Refuse from the policy page: untick statistics and submit the form with
    // form.submit(), which sends no `choice` (the proxy then saves the ticked boxes).
    b.goto(&format!("{}{POLICY}", portal.base)).await;
    let statistics = find(&b, "#consentry-policy-statistics").await;
    assert!(
        checked(&b, &statistics).await,
        "the policy page shows statistics as granted"
    );
    b.click(&statistics).await;
    assert!(!checked(&b, &statistics).await);
    mark_document(&b).await;
    b.execute(
        "document.querySelector('.consentry-choice form').submit();",
        vec![],
    )
    .await;
    wait_new_document(&b, "after submitting the policy form").await;
    assert_eq!(current_path(&b, &portal.base).await, POLICY);

    b.goto(&format!("{}{page}", portal.base)).await;
    let jar = jar_until(&b, |j| !has(j, "_ga") && !has(j, "_hjSessionUser_1")).await;
    assert_statistics_gone(&jar, "after the no-JS refusal");
    assert_necessary_in(&jar, "after the no-JS refusal");
    assert_eq!(preferences(&jar)["statistics"], false);
    assert_no_banner(&b, "after the refusal").await;
    b.quit().await;
}

// ---------------------------------------------------------------------------------
// 6. Keyboard only
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_tabs_through_the_banner_and_accepts_all() {
    let Some(b) = Browser::for_test("keyboard_tabs_through_the_banner_and_accepts_all").await
    else {
        return;
    };
    let portal = banner_portal(None).await;
    b.goto(&format!("{}/", portal.base)).await;
    find(&b, "#consentry-banner").await;
    // The banner does not take the focus on load; a keyboard user reaches it after the
    // page's own links. Start from its title to walk its controls.
    b.execute(
        "document.getElementById('consentry-banner-title').focus();",
        vec![],
    )
    .await;
    assert!(
        js_until(
            &b,
            "document.activeElement && document.activeElement.id === 'consentry-banner-title'"
        )
        .await,
        "the banner's title takes the focus when asked"
    );

    let accept = find(&b, "#consentry-banner button[value=\"accept_all\"]").await;
    let mut stops = Vec::new();
    let mut reached = false;
    for _ in 0..12 {
        b.press_key(keys::TAB).await;
        let stop = b
            .execute(
                "const e = document.activeElement;\
                 return { banner: !!e.closest('#consentry-banner'), tag: e.tagName, value: e.value || '',\
                          text: (e.textContent || '').trim() };",
                vec![],
            )
            .await;
        stops.push(stop.clone());
        assert_eq!(
            stop["banner"], true,
            "Tab stays in the banner's controls: {stops:?}"
        );
        if b.active_element().await == accept {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches Accept all: {stops:?}");
    let checkboxes: Vec<&str> = stops
        .iter()
        .filter(|s| s["tag"] == "INPUT")
        .filter_map(|s| s["value"].as_str())
        .collect();
    assert_eq!(
        checkboxes,
        ["statistics", "first_party", "third_party"],
        "every category that can be chosen is reached, in order: {stops:?}"
    );
    eprintln!("tab order: {stops:?}");

    mark_document(&b).await;
    b.press_key(keys::ENTER).await;
    wait_new_document(&b, "after Enter on Accept all").await;
    assert_no_banner(&b, "after accepting all").await;
    let jar = jar_until(&b, |j| has(j, "_fbp") && has(j, "_ga")).await;
    assert!(
        has(&jar, "_fbp"),
        "third-party _fbp accepted: {:?}",
        names(&jar)
    );
    assert_statistics_in(&jar, "after accepting all");
    let chosen = preferences(&jar);
    for category in ["necessary", "statistics", "first_party", "third_party"] {
        assert_eq!(chosen[category], true, "{category}: {chosen}");
    }
    b.quit().await;
}

/// Opens a portal's home page with the banner, once the banner's script has run
/// (it pads the page's end).
async fn on_a_page_with_the_banner_script_run(b: &Browser) -> Portal {
    let portal = banner_portal(None).await;
    b.goto(&format!("{}/", portal.base)).await;
    find(b, "#consentry-banner").await;
    assert!(
        js_until(b, "document.body.style.paddingBottom !== ''").await,
        "the banner script ran"
    );
    portal
}

/// A regression found by a black-box browser audit: Tab to a link that sat under the
/// fixed banner left it focused but hidden (the browser scrolls only what is off
/// screen), against WCAG 2.2, 2.4.11 Focus Not Obscured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_focus_is_never_hidden_under_the_banner() {
    let Some(b) = Browser::for_test("keyboard_focus_is_never_hidden_under_the_banner").await else {
        return;
    };
    let _portal = on_a_page_with_the_banner_script_run(&b).await;
    // Push the page's link down to where the banner covers it, on screen: a browser
    // scrolls to what is off screen, not to what is covered.
    b.execute(
        "const banner = document.getElementById('consentry-banner').getBoundingClientRect();\
         const link = document.querySelector('#content a');\
         const spacer = document.createElement('div');\
         const target = (banner.top + window.innerHeight) / 2 - 8;\
         spacer.style.height = Math.max(0, target - link.getBoundingClientRect().top) + 'px';\
         const main = document.getElementById('content');\
         main.insertBefore(spacer, main.firstChild);\
         window.scrollTo(0, 0);\
         if (document.activeElement) { document.activeElement.blur(); }",
        vec![],
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        b.press_key(keys::TAB).await;
        let stop = b
            .execute(
                "const e = document.activeElement, r = e.getBoundingClientRect();\
                 const at = document.elementFromPoint(r.left + Math.min(r.width / 2, 4), r.top + r.height / 2);\
                 return { text: (e.textContent || '').trim(), in_banner: !!e.closest('#consentry-banner'),\
                          visible: !!at && (at === e || e.contains(at)), top: r.top, bottom: r.bottom,\
                          banner_top: document.getElementById('consentry-banner').getBoundingClientRect().top };",
                vec![],
            )
            .await;
        seen.push(stop);
    }
    let texts: Vec<&str> = seen.iter().filter_map(|s| s["text"].as_str()).collect();
    assert_eq!(
        texts,
        ["Explore the catalogue", "Cookies policy"],
        "the page's link, then the injected one: {seen:?}"
    );
    for stop in &seen {
        assert_eq!(stop["visible"], true, "focused and visible: {seen:?}");
    }
    b.quit().await;
}

/// The re-audit of the test above: a mouse press on a button half under the banner
/// scrolled the page (to clear the focus), the button moved from under the pointer,
/// and the click never fired. Only keyboard focus is scrolled clear now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_on_a_button_half_under_the_banner_clicks_it() {
    let Some(b) = Browser::for_test("a_press_on_a_button_half_under_the_banner_clicks_it").await
    else {
        return;
    };
    let _portal = on_a_page_with_the_banner_script_run(&b).await;
    // A button whose top few pixels show above the banner's top edge.
    let at = b
        .execute(
            "const button = document.createElement('button');\
             button.id = 'download'; button.textContent = 'Download CSV';\
             button.style.fontSize = '14px';\
             window.clicks = 0; button.addEventListener('click', () => { window.clicks++; });\
             const spacer = document.createElement('div'); spacer.style.height = '2000px';\
             const main = document.getElementById('content');\
             main.append(spacer, button, spacer.cloneNode());\
             const bannerTop = document.getElementById('consentry-banner').getBoundingClientRect().top;\
             window.scrollBy(0, button.getBoundingClientRect().top - (bannerTop - 8));\
             const r = button.getBoundingClientRect();\
             return { x: r.left + 6, y: r.top + 3, scroll: window.scrollY };",
            vec![],
        )
        .await;
    let (x, y) = (at["x"].as_f64().unwrap(), at["y"].as_f64().unwrap());
    b.press_at(x, y, Duration::from_millis(100)).await;
    let after = b
        .execute(
            "return { clicks: window.clicks, scroll: window.scrollY };",
            vec![],
        )
        .await;
    assert_eq!(
        after["clicks"], 1,
        "the press clicked the button: {at} {after}"
    );
    assert_eq!(
        after["scroll"], at["scroll"],
        "the page did not move: {at} {after}"
    );
    b.quit().await;
}

// ---------------------------------------------------------------------------------
// 7. vanilla-cookieconsent in front of the proxy
// ---------------------------------------------------------------------------------

fn is_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// vanilla-cookieconsent v3 from `node_modules/` (`npm install --no-save vanilla-cookieconsent@3`).
fn cookieconsent_assets(test: &str) -> Option<CcAssets> {
    let dist =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/vanilla-cookieconsent/dist");
    let read = |name: &str| std::fs::read(dist.join(name)).map(Bytes::from);
    match (read("cookieconsent.umd.js"), read("cookieconsent.css")) {
        (Ok(js), Ok(css)) => Some(CcAssets { js, css }),
        (Err(e), _) | (_, Err(e)) => {
            let reason = format!(
                "vanilla-cookieconsent is not in {} ({e}); run `npm install --no-save vanilla-cookieconsent@3` in the repository (.ci/run does)",
                dist.display()
            );
            assert!(!is_ci(), "{test}: {reason}");
            browser::skipped(test, &reason);
            None
        }
    }
}

/// `cc_cookie` from the jar: its `categories`.
fn cc_categories(jar: &[Cookie]) -> Vec<String> {
    let cookie = jar
        .iter()
        .find(|c| c.name == "cc_cookie")
        .unwrap_or_else(|| panic!("no cc_cookie in the jar: {:?}", names(jar)));
    let value = decoded_json(cookie);
    value["categories"]
        .as_array()
        .unwrap_or_else(|| panic!("cc_cookie has no categories: {value}"))
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// Sets a preferences-modal toggle to `on` by clicking it (or its visible label).
async fn set_cc_toggle(b: &Browser, category: &str, on: bool) {
    let css = format!("#cc-main .pm input.section__toggle[value=\"{category}\"]");
    let toggle = find(b, &css).await;
    if checked(b, &toggle).await != on {
        // The input is styled away behind a switch: click the switch's wrapper.
        let wrapper = b
            .execute(
                "return arguments[0].closest('.section__toggle-wrapper') || arguments[0];",
                vec![element_arg(&toggle)],
            )
            .await;
        let wrapper = wrapper
            .get("element-6066-11e4-a52e-4f735466cecf")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no wrapper for {css}: {wrapper}"))
            .to_owned();
        b.click(&wrapper).await;
    }
    assert_eq!(checked(b, &toggle).await, on, "{category} toggled to {on}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanilla_cookieconsent_choices_are_enforced() {
    const TEST: &str = "vanilla_cookieconsent_choices_are_enforced";
    if consentry::consent::Format::from_name("cookieconsent").is_none() {
        browser::skipped(TEST, "consentry has no `cookieconsent` consent format yet");
        return;
    }
    let Some(assets) = cookieconsent_assets(TEST) else {
        return;
    };
    let Some(b) = Browser::for_test(TEST).await else {
        return;
    };
    let pages = Pages {
        csp: None,
        cookieconsent: Some(Arc::new(assets)),
    };
    let portal = portal(pages, "  format: cookieconsent", "").await;
    b.goto(&format!("{}/", portal.base)).await;

    let jar = b.all_cookies().await;
    assert_eq!(
        names(&jar),
        BTreeSet::from(["csrftoken".to_owned(), "sessionid".to_owned()]),
        "before any choice only the necessary cookies pass"
    );
    assert!(
        b.find("#consentry-banner").await.is_none(),
        "consentry's own banner is off"
    );

    // Accept only analytics: Manage, toggle analytics, Save.
    let manage = displayed(&b, "#cc-main .cm button[data-role=\"show\"]").await;
    assert_eq!(b.text(&manage).await, "Manage");
    b.save_screenshot("cookieconsent-first-visit").await;
    b.click(&manage).await;
    displayed(&b, "#cc-main .pm").await;
    set_cc_toggle(&b, "analytics", true).await;
    set_cc_toggle(&b, "marketing", false).await;
    let save = displayed(&b, "#cc-main .pm button[data-role=\"save\"]").await;
    mark_document(&b).await;
    b.click(&save).await;
    wait_new_document(&b, "after saving analytics in cookieconsent").await;

    let jar = jar_until(&b, |j| has(j, "_ga") && has(j, "_hjSessionUser_1")).await;
    assert_eq!(cc_categories(&jar), ["necessary", "analytics"]);
    assert_statistics_in(&jar, "after cookieconsent granted analytics");
    assert!(
        !has(&jar, "_fbp"),
        "marketing was not granted: {:?}",
        names(&jar)
    );
    assert_necessary_in(&jar, "after cookieconsent granted analytics");

    // Change the choice: no more analytics.
    assert!(js_until(&b, "window.CookieConsent && CookieConsent.validConsent()").await);
    b.execute("CookieConsent.showPreferences();", vec![]).await;
    displayed(&b, "#cc-main .pm").await;
    set_cc_toggle(&b, "analytics", false).await;
    let save = displayed(&b, "#cc-main .pm button[data-role=\"save\"]").await;
    mark_document(&b).await;
    b.click(&save).await;
    wait_new_document(&b, "after withdrawing analytics in cookieconsent").await;

    let jar = jar_until(&b, |j| !has(j, "_ga") && !has(j, "_hjSessionUser_1")).await;
    assert_eq!(cc_categories(&jar), ["necessary"]);
    assert_statistics_gone(&jar, "after cookieconsent withdrew analytics");
    assert!(!has(&jar, "_fbp"), "{:?}", names(&jar));
    assert_necessary_in(&jar, "after cookieconsent withdrew analytics");
    b.quit().await;
}

/// A choice made in consentry's banner (its script posts it in the background) is
/// recorded as the banner's, under the consent ID its cookie then carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choice_in_the_banner_is_recorded_with_the_cookies_consent_id() {
    let Some(b) =
        Browser::for_test("a_choice_in_the_banner_is_recorded_with_the_cookies_consent_id").await
    else {
        return;
    };
    let dir =
        std::env::temp_dir().join(format!("consentry-browser-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = format!("sqlite:{}", dir.join("records.db").display());
    let records_yaml = format!("{WITH_BANNER}\nrecords:\n  store: \"{store}\"");
    let portal = portal(Pages::default(), JSON_CONSENT, &records_yaml).await;
    b.goto(&format!("{}/", portal.base)).await;
    save_statistics_in_banner(&b).await;
    let jar = jar_until(&b, |j| has(j, "_ga")).await;
    let chosen = preferences(&jar);
    assert_eq!(chosen["statistics"], true, "{chosen}");
    let url =
        consentry::config::records::StoreUrl::parse(&store, std::path::Path::new(".")).unwrap();
    let query = consentry::ops::records::store::Query {
        limit: 100,
        ..Default::default()
    };
    let found = consentry::ops::records::store::query(&url, &query)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let record = &found[0].1;
    assert_eq!(record.source, "banner");
    assert_eq!(record.event, consentry::ops::records::record::Event::Given);
    assert_eq!(record.granted, ["necessary", "statistics"]);
    assert_eq!(chosen["id"], record.consent_id.as_str(), "{chosen}");
    assert_eq!(record.path, "/");
    b.quit().await;
    drop(portal);
    let _ = std::fs::remove_dir_all(&dir);
}

//! Trackers in a real browser (headless Chromium): nothing runs, loads or stores a
//! cookie before consent.
//!
//! The tracker vendors are impersonated by one local HTTPS stub that records every
//! request it gets; Chromium reaches it for `www.googletagmanager.com`,
//! `www.google-analytics.com`, `connect.facebook.net`, `www.facebook.com`,
//! `static.hotjar.com` and `www.youtube.com` through `--host-resolver-rules`, so
//! nothing leaves the machine. The stub's scripts behave like the vendors': gtag.js
//! writes `_ga` with `document.cookie` and sends a hit, fbevents.js writes `_fbp`
//! and fires the pixel. A control test sends the browser straight to the upstream to
//! prove the stub really receives the trackers' requests.
//!
//! Without Chromium the tests print `SKIPPED:` and pass, except under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;
#[path = "common/tls.rs"]
mod tls_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;

use browser::Browser;

const TRACKER_HOSTS: [&str; 6] = [
    "www.googletagmanager.com",
    "www.google-analytics.com",
    "connect.facebook.net",
    "www.facebook.com",
    "static.hotjar.com",
    "www.youtube.com",
];

/// gtag.js as it behaves: a first-party `_ga` cookie and a hit to Google Analytics.
const GTAG_JS: &str = r#"document.cookie = "_ga=GA1.1.111.222; Path=/; Max-Age=3600";
navigator.sendBeacon("https://www.google-analytics.com/g/collect?v=2&tid=G-TEST&en=page_view");
window.__gtagRan = true;"#;

/// fbevents.js as it behaves: `_fbp`, then the pixel.
const FBEVENTS_JS: &str = r#"document.cookie = "_fbp=fb.1.222.333; Path=/; Max-Age=3600";
new Image().src = "https://www.facebook.com/tr?id=1234567890&ev=PageView";
window.__fbRan = true;"#;

const HOTJAR_JS: &str =
    r#"document.cookie = "_hjSessionUser_1=hj; Path=/; Max-Age=3600"; window.__hjRan = true;"#;

/// The portal page: Google's and Meta's standard snippets, a YouTube embed, and the
/// site's own script, which inserts Hotjar after load and writes cookies.
const PAGE: &str = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Portal</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-TEST');
</script>
<script>
!function(f,b,e,v,n,t,s)
{if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};
if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';
n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}(window, document,'script',
'https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '1234567890');
fbq('track', 'PageView');
</script>
</head><body><h1>Open data</h1>
<iframe width="320" height="180" src="https://www.youtube.com/embed/abc" title="video"></iframe>
<script src="/static/site.js"></script>
</body></html>"#;

/// The site's own script: a necessary cookie, refused writes, a late tracker.
const SITE_JS: &str = r#"document.cookie = "csrftoken=js-set; Path=/";
document.cookie = "_ga=GA1.1.999.999; Path=/";
if (window.cookieStore) { cookieStore.set("_fbp", "fb.from.cookiestore").catch(function () {}); }
window.addEventListener("load", function () {
  var s = document.createElement("script");
  s.src = "https://static.hotjar.com/c/hotjar-1.js?sv=6";
  document.head.appendChild(s);
  var i = document.createElement("img");
  i.setAttribute("src", "https://www.facebook.com/tr?id=late");
  document.body.appendChild(i);
  window.__siteDone = true;
});"#;

/// Every request the stub received, as `host path`.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<String>>>);

impl Hits {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// The HTTPS stub that stands in for every tracker host.
async fn tracker_stub() -> (SocketAddr, Hits) {
    // One directory per stub: the tests of this file run in parallel in one process,
    // and a shared one let a test read a key file another was still writing (CI saw
    // `NoItemsFound`).
    static STUBS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STUBS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("consentry-stub-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = tls_support::self_signed(&dir, "www.googletagmanager.com");
    let certs = vec![cert.der.clone()];
    let key_pem = std::fs::read(&cert.key_path).unwrap();
    let key = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).unwrap()
    };
    let mut config = rustls::ServerConfig::builder_with_provider(tls_support::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Hits::default();
    let recorded = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let hits = recorded.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let host = req
                        .headers()
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let path = req.uri().path().to_owned();
                    hits.0.lock().unwrap().push(format!("{host} {path}"));
                    let (body, ty) = match path.as_str() {
                        "/gtag/js" => (GTAG_JS, "text/javascript"),
                        "/en_US/fbevents.js" => (FBEVENTS_JS, "text/javascript"),
                        p if p.starts_with("/c/hotjar-") => (HOTJAR_JS, "text/javascript"),
                        p if p.starts_with("/embed/") => ("<p>video</p>", "text/html"),
                        _ => ("", "text/plain"),
                    };
                    let response = Response::builder()
                        .header("content-type", ty)
                        .header("access-control-allow-origin", "*")
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .unwrap();
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, hits)
}

/// The portal upstream: the page and the site's script.
async fn portal(csp: Option<&'static str>) -> common::Upstream {
    common::upstream(move |req| {
        let (body, ty) = match req.uri().path() {
            "/static/site.js" => (SITE_JS, "text/javascript"),
            _ => (PAGE, "text/html; charset=utf-8"),
        };
        let mut headers = vec![("content-type", ty.to_owned())];
        if let Some(csp) = csp {
            headers.push(("content-security-policy", csp.to_owned()));
        }
        Box::pin(async move {
            let mut response = Response::builder().status(200);
            for (k, v) in headers {
                response = response.header(k, v);
            }
            response.body(common::body(body)).unwrap()
        })
    })
    .await
}

async fn browser_for(test: &str, stub: SocketAddr) -> Option<Browser> {
    let rules: Vec<String> = TRACKER_HOSTS
        .iter()
        .map(|h| format!("MAP {h} 127.0.0.1:{}", stub.port()))
        .collect();
    Browser::for_test_with_args(
        test,
        vec![format!("--host-resolver-rules={}", rules.join(","))],
    )
    .await
}

/// Waits for the page's own script to have run, then a moment for late requests.
async fn settle(browser: &Browser) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if browser
            .execute("return window.__siteDone === true", vec![])
            .await
            == json!(true)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

async fn jar_names(browser: &Browser) -> Vec<String> {
    browser
        .all_cookies()
        .await
        .into_iter()
        .map(|c| c.name)
        .collect()
}

async fn set_consent(browser: &Browser, origin: &str, value: &str) {
    browser
        .cdp(
            "Network.setCookie",
            json!({ "name": "cookies_preferences", "value": value, "url": origin, "path": "/" }),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_straight_to_the_upstream_the_stub_receives_every_tracker() {
    let (stub, hits) = tracker_stub().await;
    let up = portal(None).await;
    let Some(browser) = browser_for("control_straight_to_the_upstream", stub).await else {
        return;
    };
    browser.goto(&up.url()).await;
    settle(&browser).await;
    let seen = hits.all();
    let jar = jar_names(&browser).await;
    browser.quit().await;
    for expected in [
        "www.googletagmanager.com /gtag/js",
        "connect.facebook.net /en_US/fbevents.js",
        "www.youtube.com /embed/abc",
        "static.hotjar.com /c/hotjar-1.js",
        "www.facebook.com /tr",
    ] {
        assert!(
            seen.iter().any(|h| h == expected),
            "{expected} not in {seen:?}"
        );
    }
    for name in ["_ga", "_fbp", "_hjSessionUser_1"] {
        assert!(jar.iter().any(|n| n == name), "{name} not in {jar:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_proxy_nothing_reaches_a_tracker_before_consent() {
    let (stub, hits) = tracker_stub().await;
    let up = portal(None).await;
    let p = common::proxy(
        &common::config_yaml(&up.url(), "", "")
            .replace("hosts: [portal.test]", "hosts: [portal.test, 127.0.0.1]"),
    )
    .await;
    let origin = format!("http://127.0.0.1:{}", p.http_addr.unwrap().port());
    let Some(browser) = browser_for("through_the_proxy_nothing_reaches_a_tracker", stub).await
    else {
        return;
    };

    // 1. No consent: the stub hears nothing, the jar holds no tracker cookie, and
    //    the necessary cookie the site's script writes is kept.
    browser.goto(&format!("{origin}/")).await;
    settle(&browser).await;
    let jar = jar_names(&browser).await;
    assert_eq!(
        hits.all(),
        Vec::<String>::new(),
        "no request may reach a tracker"
    );
    for name in ["_ga", "_fbp", "_hjSessionUser_1"] {
        assert!(!jar.iter().any(|n| n == name), "{name} in {jar:?}");
    }
    assert!(
        browser
            .all_cookies()
            .await
            .iter()
            .any(|c| c.name == "csrftoken" && c.value == "js-set"),
        "a necessary cookie set by script passes"
    );
    assert!(
        browser.find(".consentry-placeholder").await.is_some(),
        "the video's placeholder"
    );
    let mode = browser
        .execute(
            "var d = (window.dataLayer || []).find(function (e) { return e[0] === 'consent' && e[1] === 'default'; }); return d ? d[2] : null;",
            vec![],
        )
        .await;
    assert_eq!(mode["analytics_storage"], "denied", "{mode}");
    assert_eq!(mode["ad_storage"], "denied", "{mode}");
    assert_eq!(mode["security_storage"], "granted", "{mode}");

    // 2. Statistics granted: exactly the statistics trackers.
    set_consent(&browser, &origin, r#"{"statistics":true}"#).await;
    hits.clear();
    browser.goto(&format!("{origin}/")).await;
    settle(&browser).await;
    let seen = hits.all();
    let jar = jar_names(&browser).await;
    assert!(
        seen.iter()
            .any(|h| h == "www.googletagmanager.com /gtag/js"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|h| h == "static.hotjar.com /c/hotjar-1.js"),
        "{seen:?}"
    );
    for third in [
        "connect.facebook.net",
        "www.facebook.com",
        "www.youtube.com",
    ] {
        assert!(
            !seen.iter().any(|h| h.starts_with(third)),
            "{third} in {seen:?}"
        );
    }
    assert!(jar.iter().any(|n| n == "_ga"), "{jar:?}");
    assert!(!jar.iter().any(|n| n == "_fbp"), "{jar:?}");

    // 3. Withdrawn: nothing on the next load, and `_ga` is expired by the proxy.
    set_consent(&browser, &origin, r#"{"statistics":false}"#).await;
    hits.clear();
    browser.goto(&format!("{origin}/")).await;
    settle(&browser).await;
    let seen = hits.all();
    let jar = jar_names(&browser).await;
    browser.quit().await;
    assert_eq!(seen, Vec::<String>::new(), "after withdrawal");
    assert!(!jar.iter().any(|n| n == "_ga"), "{jar:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_src_self_page_still_runs_the_guard() {
    let (stub, hits) = tracker_stub().await;
    let up = portal(Some("script-src 'self' https://www.googletagmanager.com https://connect.facebook.net https://static.hotjar.com")).await;
    let p = common::proxy(
        &common::config_yaml(&up.url(), "", "")
            .replace("hosts: [portal.test]", "hosts: [portal.test, 127.0.0.1]"),
    )
    .await;
    let origin = format!("http://127.0.0.1:{}", p.http_addr.unwrap().port());
    let Some(browser) = browser_for("a_script_src_self_page", stub).await else {
        return;
    };
    browser.goto(&format!("{origin}/")).await;
    settle(&browser).await;
    let guard = browser
        .execute("return window.__consentryGuard === true", vec![])
        .await;
    let site_done = browser
        .execute("return window.__siteDone === true", vec![])
        .await;
    let jar = jar_names(&browser).await;
    browser.quit().await;
    assert_eq!(guard, json!(true), "the guard ran under script-src 'self'");
    assert_eq!(site_done, json!(true), "the site's own script ran");
    assert_eq!(hits.all(), Vec::<String>::new());
    assert!(!jar.iter().any(|n| n == "_ga" || n == "_fbp"), "{jar:?}");
}

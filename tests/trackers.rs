//! Trackers in pages over the wire (DESIGN.md, "Trackers in pages"): a real upstream
//! serves the vendors' standard snippets, the proxy makes those of refused
//! categories inert, and everything else passes byte for byte.

mod common;

use common::{config_yaml, fixed, get, proxy};

const PORTAL: &str = "portal.test";

/// Google's gtag.js snippet as its install guide gives it.
const GTAG: &str = r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-TEST123');
</script>"#;

/// Meta's pixel base code, with its noscript image.
const META: &str = r#"<script>
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
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1"
/></noscript>"#;

const YOUTUBE: &str = r#"<iframe width="560" height="315" src="https://www.youtube.com/embed/dQw4w9WgXcQ" title="YouTube video player" frameborder="0" allowfullscreen></iframe>"#;

const OWN_SCRIPT: &str =
    r#"<script src="/static/app.js" defer></script><script>console.log("portal");</script>"#;

fn page() -> String {
    format!(
        "<!doctype html><html><head><title>Portal</title>\n<link rel=\"preconnect\" href=\"https://www.google-analytics.com\">\n{GTAG}\n{OWN_SCRIPT}</head><body><h1>Data</h1>\n{YOUTUBE}\n{META}\n<a href=\"/x\" ping=\"https://www.google-analytics.com/ping /local-ping\">x</a></body></html>"
    )
}

async fn fetch(cookie: Option<&str>) -> String {
    let page: &'static str = Box::leak(page().into_boxed_str());
    let up = fixed(200, &[("content-type", "text/html; charset=utf-8")], page).await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
    get(p.http_addr.unwrap(), PORTAL, "/", &headers)
        .await
        .text()
}

#[tokio::test]
async fn without_consent_every_tracker_is_inert_and_the_rest_is_untouched() {
    let html = fetch(None).await;
    // gtag.js: inert, its URL kept aside.
    assert!(html.contains(r#"<script async data-consentry-src="https://www.googletagmanager.com/gtag/js?id=G-TEST123" type="text/plain" data-consentry-category="statistics">"#)
        || (html.contains("data-consentry-src=\"https://www.googletagmanager.com/gtag/js?id=G-TEST123\"") && !html.contains(" src=\"https://www.googletagmanager.com")), "{html}");
    // The inline gtag config and the Meta pixel: inert.
    assert_eq!(
        html.matches(r#"<script type="text/plain" data-consentry-category="statistics">"#)
            .count(),
        1,
        "{html}"
    );
    assert_eq!(
        html.matches(r#"<script type="text/plain" data-consentry-category="third_party">"#)
            .count(),
        1,
        "{html}"
    );
    // The video: no src, a placeholder of its size.
    assert!(
        !html.contains(r#" src="https://www.youtube.com/embed"#),
        "{html}"
    );
    assert!(
        html.contains(r#"data-consentry-placeholder="third_party""#),
        "{html}"
    );
    assert!(html.contains("width:560px;height:315px"), "{html}");
    assert!(html.contains("YouTube"), "{html}");
    // The noscript pixel lost its src; the preconnect is gone; the ping kept only
    // the local URL.
    assert!(
        !html.contains(" src=\"https://www.facebook.com/tr"),
        "{html}"
    );
    assert!(!html.contains("preconnect"), "{html}");
    assert!(html.contains(r#"ping="/local-ping""#), "{html}");
    // The site's own scripts are byte for byte as they came.
    assert!(html.contains(OWN_SCRIPT), "{html}");
    assert!(html.contains("<h1>Data</h1>"), "{html}");
    // The guard comes first in <head>, after the policy link.
    let guard_at = html.find("/.consentry/guard.js?v=").expect("guard");
    let first_script = html.find("<script").unwrap();
    assert!(guard_at < first_script + 20, "{html}");
}

#[tokio::test]
async fn granted_statistics_let_exactly_the_statistics_trackers_through() {
    let html = fetch(Some(r#"cookies_preferences={"statistics":true}"#)).await;
    assert!(html.contains(GTAG), "{html}");
    assert!(!html.contains("connect.facebook.net/en_US/fbevents.js');\nfbq('init', '1234567890');\nfbq('track', 'PageView');\n</script>") || html.contains(r#"data-consentry-category="third_party""#), "{html}");
    assert!(
        html.contains(r#"data-consentry-category="third_party""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<link rel="preconnect" href="https://www.google-analytics.com">"#),
        "{html}"
    );
}

#[tokio::test]
async fn everything_granted_leaves_the_page_as_it_came_but_for_the_guard_and_link() {
    let html = fetch(Some(
        r#"cookies_preferences={"statistics":true,"first_party":true,"third_party":true}"#,
    ))
    .await;
    assert!(html.contains(GTAG), "{html}");
    assert!(html.contains(META), "{html}");
    assert!(html.contains(YOUTUBE), "{html}");
    assert!(!html.contains("data-consentry"), "{html}");
    assert!(html.contains("/.consentry/guard.js?v="), "{html}");
}

#[tokio::test]
async fn the_guard_is_served_same_origin_and_immutable() {
    let up = fixed(
        200,
        &[("content-type", "text/html")],
        "<html><head></head><body></body></html>",
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let html = get(addr, PORTAL, "/", &[]).await.text();
    let start = html.find("/.consentry/guard.js?").unwrap();
    let url = &html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(url.ends_with("&g=1"), "only `necessary` granted: {url}");
    let got = get(addr, PORTAL, url, &[]).await;
    assert_eq!(got.status, 200);
    assert!(
        got.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        got.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let js = got.text();
    assert!(
        js.contains("\"analytics_storage\""),
        "consent mode defaults in the rules"
    );
    assert!(js.contains("googletagmanager.com/gtag/*"));
    let stale = get(addr, PORTAL, "/.consentry/guard.js?v=0&g=1", &[]).await;
    assert_eq!(stale.headers["cache-control"], "no-cache");
}

#[tokio::test]
async fn a_rewritten_page_varies_on_cookie() {
    let up = fixed(
        200,
        &[("content-type", "text/html")],
        "<html><head></head><body></body></html>",
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    let vary: Vec<_> = got
        .headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(vary.iter().any(|v| v.contains("Cookie")), "{vary:?}");
}

#[tokio::test]
async fn link_header_entries_of_refused_trackers_are_removed() {
    let up = fixed(
        200,
        &[
            ("content-type", "application/json"),
            (
                "link",
                "<https://www.googletagmanager.com>; rel=preconnect, </app.css>; rel=preload; as=style",
            ),
        ],
        "{}",
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    let links: Vec<_> = got
        .headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        links.iter().all(|l| !l.contains("googletagmanager")),
        "{links:?}"
    );
    assert!(
        links
            .iter()
            .any(|l| l.contains("</app.css>; rel=preload; as=style")),
        "{links:?}"
    );
}

#[tokio::test]
async fn site_rules_come_first_and_block_false_turns_it_all_off() {
    let page = r#"<html><head><script src="https://stats.example.org/js/t.js"></script><script>exampleStats.init({id: 7});</script></head><body></body></html>"#;
    let up = fixed(200, &[("content-type", "text/html")], page).await;
    let extra = r#"    trackers:
      rules:
        - url: stats.example.org/js/*
          category: first_party
          provider: Example Stats
        - inline: "exampleStats.init("
          category: first_party
"#;
    let p = proxy(&config_yaml(&up.url(), "", extra)).await;
    let html = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text();
    assert_eq!(
        html.matches(r#"data-consentry-category="first_party""#)
            .count(),
        2,
        "{html}"
    );

    let off = "trackers:\n  block: false\n";
    let up = fixed(200, &[("content-type", "text/html")], page).await;
    let p = proxy(&config_yaml(&up.url(), "", "").replace("policy:\n", &format!("{off}policy:\n")))
        .await;
    let html = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text();
    assert!(html.contains(page.replace("<head>", "<head><link rel=\"privacy-policy\" href=\"/terms/cookies-policy/\">").replace("</body>", "<a href=\"/terms/cookies-policy/\" class=\"consentry-policy-link\">Cookies policy</a></body>").as_str()), "{html}");
    assert!(!html.contains("guard.js"), "{html}");
}

#[tokio::test]
async fn malformed_html_never_lets_a_tracker_through() {
    let cases = [
        // A script never closed.
        r#"<html><head><script>gtag('config', 'G-1'); var s = "</scr" + "ipt>";"#,
        // Unquoted and duplicated attributes.
        r#"<html><body><script src=https://www.googletagmanager.com/gtag/js?id=G-1 src=/ok.js></script></body></html>"#,
        // NUL bytes and an unclosed tag around it.
        "<html><body><div>\u{0}<img src=\"https://www.facebook.com/tr?id=1\"><p>text",
        // Upper case, entities in the URL.
        r#"<HTML><BODY><IFRAME SRC="https://www&#46;youtube.com/embed/x"></IFRAME></BODY></HTML>"#,
    ];
    for case in cases {
        let up = fixed(200, &[("content-type", "text/html")], case).await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let html = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text();
        assert!(html.contains("data-consentry-category"), "{case}\n→ {html}");
        for live in [
            " src=https://www.googletagmanager",
            " src=\"https://www.facebook.com",
            " SRC=\"https://www&#46;youtube",
        ] {
            assert!(!html.contains(live), "{case}\n→ {html}");
        }
    }
}

#[tokio::test]
async fn a_huge_inline_script_and_attribute_pass_whole() {
    let big = "x".repeat(1024 * 1024);
    let page = format!(
        "<html><head><script>var a = '{big}'; console.log(1);</script></head><body><div title=\"{big}\">ok</div><script>var b='{big}'; fbq('init', '1');</script></body></html>"
    );
    let page: &'static str = Box::leak(page.into_boxed_str());
    let up = fixed(200, &[("content-type", "text/html")], page).await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let html = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text();
    assert!(html.contains(&format!(
        "<script>var a = '{big}'; console.log(1);</script>"
    )));
    assert!(html.contains(&format!("<div title=\"{big}\">ok</div>")));
    assert!(
        !html.contains("fbq('init', '1');</script>")
            || html.contains("data-consentry-category=\"third_party\"")
    );
}

/// A tracker at the very end of a 100 MB page is made inert: the rewrite reads the
/// whole page as it streams, and the client gets it without the proxy holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracker_at_the_end_of_a_100_mb_page_is_made_inert() {
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const FILLER: usize = 100 * 1024 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).await;
        let tail = "<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-END\"></script></body></html>";
        let chunk = "<p>filler filler filler filler filler filler filler filler</p>\n".repeat(1024);
        let rounds = FILLER / chunk.len();
        let head = "<html><head></head><body>";
        let length = head.len() + rounds * chunk.len() + tail.len();
        let _ = stream
            .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {length}\r\n\r\n{head}").as_bytes())
            .await;
        for _ in 0..rounds {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(tail.as_bytes()).await;
    });
    let p = proxy(&config_yaml(&format!("http://{upstream}"), "", "")).await;
    let request = http::Request::get(format!("http://{}/", p.http_addr.unwrap()))
        .header("host", PORTAL)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = common::client().request(request).await.unwrap();
    let mut body = response.into_body();
    let (mut total, mut tail) = (0usize, Vec::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            total += data.len();
            tail.extend_from_slice(&data);
            if tail.len() > 8192 {
                tail.drain(..tail.len() - 8192);
            }
        }
    }
    let tail = String::from_utf8_lossy(&tail);
    assert!(total > 100_000_000, "{total}");
    assert!(
        tail.contains("data-consentry-src=\"https://www.googletagmanager.com/gtag/js?id=G-END\""),
        "{tail}"
    );
    assert!(
        !tail.contains(" src=\"https://www.googletagmanager.com"),
        "{tail}"
    );
}

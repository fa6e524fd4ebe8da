//! Self-test of the WebDriver helper in `tests/support/browser.rs`: a real
//! headless Chromium loads a page from a tiny in-test server, clicks a button
//! whose same-origin script sets a cookie, and the cookie jar (HttpOnly
//! included) and a screenshot are checked.

mod support {
    pub mod browser;
}

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use support::browser::Browser;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>smoke</title></head>
<body>
<h1>Browser smoke test</h1>
<button id="b" type="button">Click me</button>
<p id="out">not clicked</p>
<script src="/app.js"></script>
</body>
</html>
"#;

const APP_JS: &str = r#"document.getElementById("b").addEventListener("click", function () {
  document.cookie = "clicked=1; path=/";
  document.getElementById("out").textContent = "clicked";
});
"#;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match req.uri().path() {
        "/" => Response::builder()
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header("set-cookie", "sid=s3cret; Path=/; HttpOnly; SameSite=Lax")
            .header("set-cookie", "theme=dark; Path=/")
            .body(Full::new(Bytes::from_static(PAGE.as_bytes()))),
        "/app.js" => Response::builder()
            .header("content-type", "text/javascript; charset=utf-8")
            .header("cache-control", "no-store")
            .body(Full::new(Bytes::from_static(APP_JS.as_bytes()))),
        _ => Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"not found"))),
    };
    Ok(response.expect("valid response"))
}

/// Serves [`handle`] on 127.0.0.1:0 until the runtime ends.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_clicks_and_reads_httponly_cookies() {
    let Some(browser) = Browser::for_test("browser_clicks_and_reads_httponly_cookies").await else {
        return;
    };
    let addr = serve().await;
    let url = format!("http://{addr}/");

    browser.goto(&url).await;
    assert_eq!(browser.current_url().await, url);
    assert!(browser.page_source().await.contains("Browser smoke test"));
    assert!(browser.find("#does-not-exist").await.is_none());

    let button = browser
        .wait_for("#b", Duration::from_secs(10))
        .await
        .expect("button #b on the page");
    assert_eq!(browser.text(&button).await, "Click me");
    assert_eq!(
        browser.attribute(&button, "type").await.as_deref(),
        Some("button")
    );
    assert_eq!(browser.attribute(&button, "data-missing").await, None);

    browser.click(&button).await;
    let out = browser.find("#out").await.expect("#out");
    assert_eq!(browser.text(&out).await, "clicked", "app.js ran on click");

    // Document-visible cookies exclude the HttpOnly one.
    let visible = browser.execute("return document.cookie;", vec![]).await;
    let visible = visible.as_str().expect("document.cookie is a string");
    assert!(
        !visible.contains("sid="),
        "HttpOnly cookie leaked to script: {visible}"
    );
    assert!(visible.contains("clicked=1"), "{visible}");

    let cookies = browser.all_cookies().await;
    let sid = cookies
        .iter()
        .find(|c| c.name == "sid")
        .unwrap_or_else(|| panic!("HttpOnly cookie sid missing from {cookies:?}"));
    assert!(sid.http_only, "{sid:?}");
    assert_eq!(sid.value, "s3cret");
    assert_eq!(sid.domain, "127.0.0.1");
    assert_eq!(sid.path, "/");
    assert!(!sid.secure);
    let theme = cookies.iter().find(|c| c.name == "theme").expect("theme");
    assert!(!theme.http_only);
    let clicked = cookies
        .iter()
        .find(|c| c.name == "clicked")
        .unwrap_or_else(|| panic!("cookie clicked missing from {cookies:?}"));
    assert_eq!(clicked.value, "1");

    // Keyboard: Tab moves focus to the button, Enter activates it.
    browser.clear_cookies().await;
    assert!(browser.all_cookies().await.is_empty());
    browser.goto(&url).await;
    browser.press_key(support::browser::keys::TAB).await;
    let button = browser.find("#b").await.expect("#b");
    assert_eq!(
        browser.active_element().await,
        button,
        "Tab focuses the button"
    );
    browser.press_key(support::browser::keys::ENTER).await;
    assert!(
        browser.cookie("clicked").await.is_some(),
        "Enter clicked the button"
    );

    let path = browser.save_screenshot("browser_smoke").await;
    let png = std::fs::read(&path).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    eprintln!("screenshot: {}", path.display());

    browser.quit().await;
}

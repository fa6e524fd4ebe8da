//! The policy link in HTML pages, the policy page and the consent endpoint, over the
//! wire: streaming, encodings, charsets and every case that must stay untouched.

mod common;

use bytes::Bytes;
use common::{fixed, get, proxy, send, upstream};

/// The harness configuration with trackers left alone: these tests are about the
/// link and the banner, byte for byte; the guard and tracker rewrite have their own
/// tests (tests/trackers.rs).
fn config_yaml(upstream: &str, extra_consent: &str, extra: &str) -> String {
    common::config_yaml(upstream, extra_consent, extra).replacen(
        "policy:\n",
        "trackers:\n  block: false\npolicy:\n",
        1,
    )
}
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORTAL: &str = "portal.test";
const LINK: &str =
    r#"<a href="/terms/cookies-policy/" class="consentry-policy-link">Cookies policy</a>"#;
const HEAD_LINK: &str = r#"<link rel="privacy-policy" href="/terms/cookies-policy/">"#;

#[tokio::test]
async fn injects_the_link_before_the_body_end_and_the_policy_link_in_head_once() {
    let page = "<!doctype html><html><head><title>t</title></head><body><p>hi</p></BODY></html>";
    let up = fixed(
        200,
        &[
            ("content-type", "text/html; charset=utf-8"),
            ("content-length", "79"),
            ("etag", "\"v1\""),
        ],
        page,
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    let html = got.text();
    assert_eq!(html.matches(LINK).count(), 1, "{html}");
    assert!(
        html.contains(&format!("<p>hi</p>{LINK}</BODY></html>")),
        "{html}"
    );
    assert!(
        html.contains(r#"<head><link rel="privacy-policy" href="/terms/cookies-policy/">"#),
        "{html}"
    );
    assert_eq!(got.headers.get("etag").unwrap(), "W/\"v1\"");
    assert_ne!(
        got.headers
            .get("content-length")
            .map(|v| v.to_str().unwrap()),
        Some("79")
    );
}

#[tokio::test]
async fn appends_at_the_end_without_a_body_and_keeps_empty_bodies_empty() {
    let up = fixed(200, &[("content-type", "text/html")], "<p>fragment").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    assert_eq!(
        get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text(),
        format!("<p>fragment{LINK}")
    );

    let empty = fixed(
        200,
        &[("content-type", "text/html"), ("content-length", "0")],
        "",
    )
    .await;
    let p = proxy(&config_yaml(&empty.url(), "", "")).await;
    assert_eq!(get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text(), "");
}

#[tokio::test]
async fn finds_a_body_end_split_across_chunks() {
    let up = upstream(|_req| {
        Box::pin(async {
            let parts = ["<html><body>one", "</bo", "dy", "></html>"];
            let stream = futures_util::stream::iter(parts.map(|p| {
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(hyper::body::Frame::data(
                    Bytes::from(p),
                ))
            }));
            let mut r = http::Response::new(http_body_util::StreamBody::new(stream).boxed());
            r.headers_mut()
                .insert("content-type", "text/html".parse().unwrap());
            r
        })
    })
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    assert_eq!(
        get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text(),
        format!("<html><body>one{LINK}</body></html>")
    );
}

async fn compress(coding: &str, data: &[u8]) -> Vec<u8> {
    use async_compression::tokio::bufread as c;
    let mut out = Vec::new();
    match coding {
        "gzip" => c::GzipEncoder::new(data).read_to_end(&mut out).await,
        "deflate" => c::ZlibEncoder::new(data).read_to_end(&mut out).await,
        "br" => c::BrotliEncoder::new(data).read_to_end(&mut out).await,
        _ => c::ZstdEncoder::new(data).read_to_end(&mut out).await,
    }
    .unwrap();
    out
}

async fn decompress(coding: &str, data: &[u8]) -> Vec<u8> {
    use async_compression::tokio::bufread as c;
    let mut out = Vec::new();
    match coding {
        "gzip" => c::GzipDecoder::new(data).read_to_end(&mut out).await,
        "deflate" => c::ZlibDecoder::new(data).read_to_end(&mut out).await,
        "br" => c::BrotliDecoder::new(data).read_to_end(&mut out).await,
        _ => c::ZstdDecoder::new(data).read_to_end(&mut out).await,
    }
    .unwrap();
    out
}

#[tokio::test]
async fn rewrites_compressed_pages_in_their_own_encoding() {
    let page = format!("<html><body>{}</body></html>", "<p>row</p>".repeat(5000));
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let body: &'static [u8] =
            Box::leak(compress(coding, page.as_bytes()).await.into_boxed_slice());
        let up = upstream(move |_req| {
            let mut r = http::Response::new(common::body(Bytes::from_static(body)));
            r.headers_mut()
                .insert("content-type", "text/html".parse().unwrap());
            r.headers_mut()
                .insert("content-encoding", coding.parse().unwrap());
            r.headers_mut().insert("content-length", body.len().into());
            Box::pin(async move { r })
        })
        .await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
        assert_eq!(got.headers.get("content-encoding").unwrap(), coding);
        let html = String::from_utf8(decompress(coding, &got.body).await).unwrap();
        assert_eq!(
            html,
            page.replace("</body>", &format!("{LINK}</body>")),
            "{coding}"
        );
    }
}

#[tokio::test]
async fn unknown_encodings_pass_untouched() {
    let up = fixed(
        200,
        &[
            ("content-type", "text/html"),
            ("content-encoding", "compress"),
        ],
        "<body>x</body>",
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    assert_eq!(
        get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text(),
        "<body>x</body>"
    );
}

#[tokio::test]
async fn keeps_a_latin1_page_byte_for_byte_around_an_ascii_link() {
    let page: &'static [u8] = b"<html><body>caf\xe9</body></html>";
    let up = upstream(move |_req| {
        let mut r = http::Response::new(common::body(Bytes::from_static(page)));
        r.headers_mut().insert(
            "content-type",
            "text/html; charset=ISO-8859-1".parse().unwrap(),
        );
        Box::pin(async move { r })
    })
    .await;
    let yaml = config_yaml(&up.url(), "", "").replace(
        "link_text: Cookies policy",
        "link_text: Politique des témoins",
    );
    let p = proxy(&yaml).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    let expected = b"<html><body>caf\xe9<a href=\"/terms/cookies-policy/\" class=\"consentry-policy-link\">Politique des t&#xE9;moins</a></body></html>";
    assert_eq!(&got.body[..], &expected[..]);
}

#[tokio::test]
async fn leaves_head_no_content_not_modified_partial_no_transform_subresources_and_non_html_alone()
{
    let page = "<html><body>x</body></html>";
    type Headers = Vec<(&'static str, &'static str)>;
    let cases: Vec<(u16, Headers, &str, Headers)> = vec![
        (
            200,
            vec![
                ("content-type", "text/html"),
                ("cache-control", "public, no-transform"),
            ],
            "GET",
            vec![],
        ),
        (
            206,
            vec![
                ("content-type", "text/html"),
                ("content-range", "bytes 0-26/27"),
            ],
            "GET",
            vec![],
        ),
        (
            200,
            vec![("content-type", "application/json")],
            "GET",
            vec![],
        ),
        (200, vec![("content-type", "text/plain")], "GET", vec![]),
        (
            200,
            vec![("content-type", "text/html")],
            "GET",
            vec![("sec-fetch-dest", "image")],
        ),
        (
            200,
            vec![("content-type", "text/html")],
            "GET",
            vec![("sec-fetch-dest", "script")],
        ),
        // The client asks for the content as the origin sent it (RFC 9110 §7.7); a
        // black-box audit found it rewritten.
        (
            200,
            vec![("content-type", "text/html")],
            "GET",
            vec![("cache-control", "max-age=0, no-transform")],
        ),
    ];
    for (status, headers, method, request_headers) in cases {
        let up = fixed(status, &headers, page).await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let got = send(
            p.http_addr.unwrap(),
            method,
            PORTAL,
            "/",
            &request_headers,
            "",
        )
        .await;
        assert_eq!(got.text(), page, "{status} {headers:?} {request_headers:?}");
    }
    for dest in ["document", "iframe", "frame"] {
        let up = fixed(200, &[("content-type", "text/html")], page).await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let got = get(
            p.http_addr.unwrap(),
            PORTAL,
            "/",
            &[("sec-fetch-dest", dest)],
        )
        .await;
        assert!(got.text().contains(LINK), "{dest}");
    }
    // HEAD: the head GET would get (RFC 9110 §9.3.2): the upstream's Content-Length
    // would be wrong after the rewrite (§8.6 forbids it), ranges are off, the ETag
    // weak; and no body.
    let up = fixed(
        200,
        &[
            ("content-type", "text/html"),
            ("content-length", "27"),
            ("accept-ranges", "bytes"),
            ("etag", "\"abc\""),
        ],
        "",
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let mut raw = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    raw.write_all(b"HEAD / HTTP/1.1\r\nHost: portal.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    let lower = answer.to_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{answer}");
    assert!(!lower.contains("content-length: 27"), "{answer}");
    assert!(!lower.contains("accept-ranges"), "{answer}");
    assert!(lower.contains("etag: w/\"abc\""), "{answer}");
    assert!(
        lower.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {answer}"
    );
}

#[tokio::test]
async fn serves_the_generated_policy_page_with_head_and_cache_control() {
    let up = fixed(200, &[], "upstream").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let page = get(addr, PORTAL, "/terms/cookies-policy/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(up.count(), 0, "the policy page is answered by the proxy");
    let html = page.text();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for needle in [
        "<h2 id=\"cat-statistics\">Statistical cookies</h2>",
        "<th scope=\"col\">Service provider&#39;s name</th>",
        "<th scope=\"col\">Function and location</th>",
        "<th scope=\"col\">Cookie name(s)</th>",
        "<th scope=\"col\">Purposes</th>",
        "<code>_ga*</code>",
        "Google Analytics",
        "action=\"/.consentry/consent\"",
        // A way back, and tables that scroll on a narrow screen (browser audit).
        "<a href=\"/\">Back to the site</a>",
        "<div class=\"consentry-table\"><table>",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    assert!(page.headers.get("cache-control").is_some());
    let head = send(addr, "HEAD", PORTAL, "/terms/cookies-policy/", &[], "").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.headers.get("content-length").unwrap(),
        &page.body.len().to_string()
    );
}

/// A regression found in a real browser by a black-box audit: on a site whose consent
/// vanilla-cookieconsent records, the policy page's form wrote consentry's own JSON
/// into `cc_cookie`. Beside the banner's own copy it read as no choice at all, for
/// six months, whatever the visitor then chose in the banner.
#[tokio::test]
async fn a_site_whose_consent_another_banner_records_gets_no_form_of_ours() {
    let up = fixed(200, &[], "upstream").await;
    let site_consent = "    consent:\n      cookie: cc_cookie\n      format: cookieconsent\n";
    let p = proxy(&config_yaml(&up.url(), "", site_consent)).await;
    let addr = p.http_addr.unwrap();
    let accepted = "cc_cookie=%7B%22categories%22%3A%5B%22necessary%22%2C%22analytics%22%5D%7D";
    let page = get(
        addr,
        PORTAL,
        "/terms/cookies-policy/",
        &[("cookie", accepted)],
    )
    .await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<code>_ga*</code>"), "the tables stay");
    assert!(html.contains("its own cookie banner"), "{html}");
    assert!(
        html.contains("grants now: Necessary cookies, Statistical cookies."),
        "{html}"
    );
    for absent in ["<form", "banner.js", "below at any time"] {
        assert!(!html.contains(absent), "{absent} in {html}");
    }
    let got = post_consent(addr, &[("cookie", accepted)], "choice=accept_all").await;
    assert_eq!(got.status, 404);
    assert!(got.set_cookies().is_empty(), "{:?}", got.set_cookies());
    assert!(got.text().contains("its own cookie banner"));
}

#[tokio::test]
async fn shows_the_banner_only_until_the_visitor_chooses() {
    let up = fixed(
        200,
        &[("content-type", "text/html")],
        "<html><body>x</body></html>",
    )
    .await;
    let p = proxy(&banner_yaml(&up.url())).await;
    let addr = p.http_addr.unwrap();
    let first = get(addr, PORTAL, "/datasets?q=1&b=%3C", &[]).await.text();
    assert!(first.contains("id=\"consentry-banner\""));
    assert!(first.contains("role=\"dialog\""));
    // Its own sentences are English, whatever the page (a browser audit: an RTL page
    // reordered their punctuation).
    assert!(first.contains("class=\"consentry-banner\" lang=\"en\" dir=\"ltr\""));
    assert!(first.contains("<script src=\"/.consentry/banner.js\" defer></script>"));
    // The banner's own link to the policy carries a fragment: the page still has one
    // link to `policy.path`, the injected one (a black-box audit found two).
    assert_eq!(
        first.matches(r#"href="/terms/cookies-policy/""#).count(),
        1,
        "{first}"
    );
    assert!(
        first.contains("name=\"return\" value=\"/datasets?q=1&amp;b=%3C\""),
        "{first}"
    );
    let chosen = get(addr, PORTAL, "/", &[("cookie", "cookies_preferences={}")])
        .await
        .text();
    assert!(!chosen.contains("consentry-banner\""));
    assert!(chosen.contains(LINK));
    let js = get(addr, PORTAL, "/.consentry/banner.js", &[]).await;
    assert_eq!(js.status, 200);
    assert!(
        js.headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

/// Regressions found in a real browser by a black-box audit: a page kept in a cache
/// brought the banner back after the choice; a frame showed a banner whose choice a
/// cross-site frame cannot store; a form post's answer was posted again by the reload
/// after the choice.
#[tokio::test]
async fn the_banner_page_is_not_cached_and_skips_frames_and_form_answers() {
    let up = fixed(
        200,
        &[
            ("content-type", "text/html"),
            ("cache-control", "public, max-age=600"),
            ("cdn-cache-control", "max-age=3600"),
            ("surrogate-control", "max-age=3600"),
            ("x-accel-expires", "3600"),
        ],
        "<html><body>x</body></html>",
    )
    .await;
    let p = proxy(&banner_yaml(&up.url())).await;
    let addr = p.http_addr.unwrap();
    let banner = get(addr, PORTAL, "/", &[]).await;
    assert!(banner.text().contains("id=\"consentry-banner\""));
    assert_eq!(
        banner.headers.get("cache-control").unwrap(),
        "private, no-store"
    );
    for name in ["cdn-cache-control", "surrogate-control", "x-accel-expires"] {
        assert!(banner.headers.get(name).is_none(), "{name} kept");
    }
    assert_eq!(vary(&banner), ["Sec-Fetch-Dest", "Cookie"]);
    let chosen = get(addr, PORTAL, "/", &[("cookie", "cookies_preferences={}")]).await;
    assert!(!chosen.text().contains("id=\"consentry-banner\""));
    assert_eq!(
        chosen.headers.get("cache-control").unwrap(),
        "public, max-age=600",
        "without the banner the upstream's caching stands"
    );
    assert_eq!(
        vary(&chosen),
        ["Sec-Fetch-Dest", "Cookie"],
        "but a shared cache must not serve it to a visitor who has not chosen"
    );
    for dest in ["iframe", "frame"] {
        let framed = get(addr, PORTAL, "/", &[("sec-fetch-dest", dest)]).await;
        assert!(framed.text().contains(LINK), "{dest}");
        assert!(!framed.text().contains("id=\"consentry-banner\""), "{dest}");
    }
    let posted = send(addr, "POST", PORTAL, "/search", &[], "q=trees").await;
    assert!(posted.text().contains(LINK));
    assert!(!posted.text().contains("id=\"consentry-banner\""));
}

/// A regression found in a real browser by a black-box audit: a second preferences
/// cookie that a site script stored under a page's directory made every choice read
/// as none, so the banner came back after each one.
#[tokio::test]
async fn the_consent_form_expires_a_copy_stored_under_a_deeper_path() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let got = post_consent(
        addr,
        &[(
            "cookie",
            "cookies_preferences=%7B%22statistics%22%3Afalse%7D; cookies_preferences=%7B%7D",
        )],
        "choice=accept_all&return=%2Fdatasets%2Fx%3Fq%3D1",
    )
    .await;
    assert_eq!(got.status, 303);
    let cookies = got.set_cookies();
    assert!(
        cookies[0].starts_with("cookies_preferences=%7B"),
        "{cookies:?}"
    );
    // A cookie written without `Path=` on /datasets/x is stored under /datasets.
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    for path in ["/datasets", "/datasets/"] {
        let expiry = format!("cookies_preferences=; Max-Age=0; Path={path}");
        assert!(cookies.contains(&expiry), "{expiry} in {cookies:?}");
    }
}

/// A regression found by a second browser audit: a browser sends a copy stored under
/// /explore/dataset with that directory's pages only, never with the post to
/// /.consentry/consent, so a choice made without JavaScript (or with the banner
/// script blocked by a Content-Security-Policy) left it in place, and the banner
/// came back on every page there.
#[tokio::test]
async fn the_no_script_choice_expires_a_deeper_copy_the_post_does_not_carry() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    for cookie in [Some("cookies_preferences=%7B%7D"), None] {
        let extra: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        let got = post_consent(
            addr,
            &extra,
            "choice=refuse_all&return=%2Fexplore%2Fdataset%2Ftrees%2F",
        )
        .await;
        let cookies = got.set_cookies();
        assert!(
            cookies[0].starts_with("cookies_preferences=%7B"),
            "{cookies:?}"
        );
        for path in [
            "/explore/dataset/trees",
            "/explore/dataset/trees/",
            "/explore/dataset",
            "/explore/dataset/",
            "/explore",
            "/explore/",
        ] {
            let expiry = format!("cookies_preferences=; Max-Age=0; Path={path}");
            assert!(cookies.contains(&expiry), "{expiry} in {cookies:?}");
        }
        assert_eq!(cookies.len(), 7, "{cookies:?}");
    }
    // A page at the top has no deeper directory to clean.
    let got = post_consent(addr, &[], "choice=accept_all&return=%2Fdatasets").await;
    assert_eq!(got.set_cookies().len(), 1, "{:?}", got.set_cookies());
}

/// The JSON choice a `Set-Cookie: cookies_preferences=…` line records.
fn recorded(set_cookie: &str) -> serde_json::Value {
    let value = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let value = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .unwrap();
    serde_json::from_str(&value).unwrap()
}

/// A same-site post of the consent form, with these further request headers.
async fn post_consent(
    addr: std::net::SocketAddr,
    extra: &[(&str, &str)],
    body: &str,
) -> common::Got {
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://portal.test"),
    ];
    headers.extend_from_slice(extra);
    send(addr, "POST", PORTAL, "/.consentry/consent", &headers, body).await
}

#[tokio::test]
async fn the_consent_form_sets_the_cookie_and_returns_same_site_only() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://portal.test"),
    ];
    let got = send(
        addr,
        "POST",
        PORTAL,
        "/.consentry/consent",
        &form,
        "choice=save&category=statistics&return=%2Fdatasets",
    )
    .await;
    assert_eq!(got.status, 303);
    assert_eq!(got.headers.get("location").unwrap(), "/datasets");
    let cookie = got.set_cookies().pop().unwrap();
    assert!(cookie.starts_with("cookies_preferences="), "{cookie}");
    let json = recorded(&cookie);
    assert_eq!(json["statistics"], true);
    assert_eq!(json["third_party"], false);
    assert!(
        cookie.contains("Max-Age=15552000")
            && cookie.contains("Path=/")
            && cookie.contains("SameSite=Lax")
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure attribute"
    );
    // The proxy reads back what it wrote.
    let pair = cookie.split(';').next().unwrap().to_owned();
    let cookied = fixed(
        200,
        &[("set-cookie", "_ga=1"), ("set-cookie", "_fbp=2")],
        "ok",
    )
    .await;
    let p2 = proxy(&config_yaml(&cookied.url(), "", "")).await;
    assert_eq!(
        get(p2.http_addr.unwrap(), PORTAL, "/", &[("cookie", &pair)])
            .await
            .set_cookie_names(),
        ["_ga"]
    );

    let refusing = [form[0], form[1], ("cookie", "_ga=1; sessionid=2")];
    let refused = send(
        addr,
        "POST",
        PORTAL,
        "/.consentry/consent",
        &refusing,
        "choice=refuse_all",
    )
    .await;
    assert_eq!(
        refused.set_cookie_names(),
        ["cookies_preferences", "_ga"],
        "refused cookies are expired at once"
    );
    let all = send(
        addr,
        "POST",
        PORTAL,
        "/.consentry/consent",
        &form,
        "choice=accept_all&return=//evil.example/",
    )
    .await;
    assert_eq!(all.headers.get("location").unwrap(), "/");
    let cross = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "https://evil.example"),
    ];
    assert_eq!(
        send(
            addr,
            "POST",
            PORTAL,
            "/.consentry/consent",
            &cross,
            "choice=accept_all"
        )
        .await
        .status,
        403
    );
    assert_eq!(
        send(
            addr,
            "POST",
            PORTAL,
            "/.consentry/consent",
            &[],
            "choice=accept_all"
        )
        .await
        .status,
        403
    );
}

#[tokio::test]
async fn injects_before_the_last_body_end_when_there_are_several() {
    let up = fixed(
        200,
        &[("content-type", "text/html")],
        "<body>a</body>b</BODY>\n",
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.text(), format!("<body>a</body>b{LINK}</BODY>\n"));
}

/// An upstream answering an HTML page with an empty chunked body (no
/// `Content-Length`), in `coding` when given.
async fn empty_chunked_page(coding: Option<&'static str>) -> common::Upstream {
    upstream(move |_req| {
        Box::pin(async move {
            let stream = futures_util::stream::iter(Vec::<
                Result<hyper::body::Frame<Bytes>, Box<dyn std::error::Error + Send + Sync>>,
            >::new());
            let mut r = http::Response::new(http_body_util::StreamBody::new(stream).boxed());
            r.headers_mut()
                .insert("content-type", "text/html".parse().unwrap());
            if let Some(coding) = coding {
                r.headers_mut()
                    .insert("content-encoding", coding.parse().unwrap());
            }
            r
        })
    })
    .await
}

#[tokio::test]
async fn an_empty_chunked_html_body_stays_empty() {
    let up = empty_chunked_page(None).await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.text(), "");
}

/// An upstream answering every request with this HTML body and coding.
/// The test configuration with `policy.banner: true`.
fn banner_yaml(upstream: &str) -> String {
    config_yaml(upstream, "", "").replace(
        "  link_text: Cookies policy",
        "  link_text: Cookies policy\n  banner: true",
    )
}

/// Every `Vary` field of a response, in order.
fn vary(got: &common::Got) -> Vec<String> {
    got.headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A request's `Cache-Control: no-transform` gets the page as the origin sent it. The
/// browser re-audit found such a copy cacheable as it was: a shared cache could then
/// serve it, without link or banner, to visitors who never asked.
#[tokio::test]
async fn a_no_transform_request_gets_the_page_as_it_came_varying_on_cache_control() {
    let page = "<html><body>x</body></html>";
    let up = fixed(
        200,
        &[
            ("content-type", "text/html"),
            ("etag", "\"v1\""),
            ("cache-control", "public, max-age=60"),
            ("set-cookie", "_ga=1; Path=/"),
            ("set-cookie", "sessionid=2; Path=/"),
        ],
        page,
    )
    .await;
    let p = proxy(&banner_yaml(&up.url())).await;
    let got = get(
        p.http_addr.unwrap(),
        PORTAL,
        "/",
        &[("cache-control", "no-transform")],
    )
    .await;
    assert_eq!(got.text(), page);
    assert_eq!(
        got.headers.get("etag").unwrap(),
        "\"v1\"",
        "the origin's bytes"
    );
    assert_eq!(
        got.set_cookie_names(),
        ["sessionid"],
        "cookies still enforced"
    );
    assert!(got.headers.get("link").is_some());
    let vary = vary(&got);
    for name in ["Sec-Fetch-Dest", "Cookie", "Cache-Control"] {
        assert!(vary.iter().any(|v| v == name), "{name} in {vary:?}");
    }
}

async fn coded_page(coding: &'static str, body: Vec<u8>) -> common::Upstream {
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    upstream(move |_req| {
        let mut r = http::Response::new(common::body(Bytes::from_static(body)));
        r.headers_mut()
            .insert("content-type", "text/html".parse().unwrap());
        r.headers_mut()
            .insert("content-encoding", coding.parse().unwrap());
        Box::pin(async move { r })
    })
    .await
}

#[tokio::test]
async fn a_body_not_in_the_coding_it_claims_is_sent_as_it_came() {
    let up = coded_page("gzip", b"<body>not gzip at all</body>".to_vec()).await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers.get("content-encoding").unwrap(), "gzip");
    assert_eq!(got.text(), "<body>not gzip at all</body>");
}

#[tokio::test]
async fn raw_deflate_is_read_as_browsers_read_it() {
    use async_compression::tokio::bufread::DeflateEncoder;
    let page = format!("<html><body>{}</body></html>", "<p>row</p>".repeat(2000));
    let mut raw = Vec::new();
    DeflateEncoder::new(page.as_bytes())
        .read_to_end(&mut raw)
        .await
        .unwrap();
    let up = coded_page("deflate", raw).await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.headers.get("content-encoding").unwrap(), "deflate");
    let html = String::from_utf8(decompress("deflate", &got.body).await).unwrap();
    assert_eq!(html, page.replace("</body>", &format!("{LINK}</body>")));
}

#[tokio::test]
async fn a_gzip_body_without_its_trailer_is_sent_well_formed() {
    let page = format!("<html><body>{}</body></html>", "<p>row</p>".repeat(2000));
    let mut gzip = compress("gzip", page.as_bytes()).await;
    gzip.truncate(gzip.len() - 8);
    let up = coded_page("gzip", gzip).await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 200);
    // `decompress` fails on a stream without its trailer: this one has it.
    let html = String::from_utf8(decompress("gzip", &got.body).await).unwrap();
    assert_eq!(html, page.replace("</body>", &format!("{LINK}</body>")));
}

/// Regressions found by a black-box audit: a gzip body of several members, or a zstd
/// body of several frames (both valid, and read whole by browsers), was cut after the
/// first one without a word.
#[tokio::test]
async fn every_gzip_member_and_zstd_frame_is_read() {
    let parts = [
        "<html><head></head><body><p>one</p>".to_owned(),
        "<p>two</p>".repeat(3000),
        "<p>three</p></body></html>".to_owned(),
    ];
    let page = parts.concat();
    for coding in ["gzip", "zstd"] {
        let mut body = Vec::new();
        for part in &parts {
            body.extend(compress(coding, part.as_bytes()).await);
        }
        let up = coded_page(coding, body).await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
        assert_eq!(got.status, 200);
        let html = String::from_utf8(decompress(coding, &got.body).await).unwrap();
        assert_eq!(
            html,
            page.replace("</body>", &format!("{LINK}</body>"))
                .replace("<head>", &format!("<head>{HEAD_LINK}")),
            "{coding}"
        );
    }
}

/// A regression found by a black-box audit: with `Content-Encoding` on two lines only
/// the first was read, and the link was appended to compressed bytes.
#[tokio::test]
async fn content_encoding_on_two_lines_is_one_list() {
    let page = "<html><body>twice</body></html>";
    let twice = compress("gzip", &compress("gzip", page.as_bytes()).await).await;
    let body: &'static [u8] = Box::leak(twice.clone().into_boxed_slice());
    let up = upstream(move |_req| {
        let mut r = http::Response::new(common::body(Bytes::from_static(body)));
        let h = r.headers_mut();
        h.insert("content-type", "text/html".parse().unwrap());
        h.append("content-encoding", "gzip".parse().unwrap());
        h.append("content-encoding", "gzip".parse().unwrap());
        Box::pin(async move { r })
    })
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, twice, "two codings: passed through untouched");
}

/// A regression found by a black-box audit: checksums of the upstream's body were
/// forwarded with the rewritten one, which they no longer match.
#[tokio::test]
async fn body_checksums_go_with_a_rewritten_body_and_stay_on_others() {
    const DIGESTS: [(&str, &str); 4] = [
        (
            "content-digest",
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",
        ),
        (
            "repr-digest",
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",
        ),
        (
            "digest",
            "sha-256=RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=",
        ),
        ("content-md5", "Q2hlY2sgSW50ZWdyaXR5IQ=="),
    ];
    for (content_type, rewritten) in [("text/html", true), ("text/css", false)] {
        let mut headers = vec![("content-type", content_type)];
        headers.extend(DIGESTS);
        let up = fixed(200, &headers, "<html><body>x</body></html>").await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
        assert_eq!(got.text().contains(LINK), rewritten, "{content_type}");
        for (name, value) in DIGESTS {
            let kept = got.headers.get(name).map(|v| v.to_str().unwrap());
            assert_eq!(
                kept,
                (!rewritten).then_some(value),
                "{content_type}: {name}"
            );
        }
    }
}

/// A regression found by a black-box audit: whether a page is rewritten depends on
/// `Sec-Fetch-Dest`, but caches were not told, so a copy fetched by script could be
/// served to a navigation (or the reverse).
#[tokio::test]
async fn a_page_varies_by_fetch_destination_when_that_decides_its_body() {
    let page = "<html><body>x</body></html>";
    let html = [("content-type", "text/html"), ("vary", "Accept-Encoding")];
    for dest in [None, Some("document"), Some("empty"), Some("image")] {
        let up = fixed(200, &html, page).await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let request: Vec<(&str, &str)> = dest.map(|d| ("sec-fetch-dest", d)).into_iter().collect();
        let got = get(p.http_addr.unwrap(), PORTAL, "/", &request).await;
        assert_eq!(
            vary(&got),
            ["Accept-Encoding", "Sec-Fetch-Dest"],
            "{dest:?}"
        );
    }
    // Not a page it would rewrite, or already varying on everything: left alone.
    for headers in [
        vec![("content-type", "application/json")],
        vec![
            ("content-type", "text/html"),
            ("cache-control", "no-transform"),
        ],
        vec![("content-type", "text/html"), ("vary", "*")],
        vec![("content-type", "text/html"), ("vary", "sec-fetch-dest")],
    ] {
        let up = fixed(200, &headers, page).await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
        let expected: Vec<String> = headers
            .iter()
            .filter(|(n, _)| *n == "vary")
            .map(|(_, v)| v.to_string())
            .collect();
        assert_eq!(vary(&got), expected, "{headers:?}");
    }
}

/// Browsers offer shared-dictionary codings (`dcb`, `dcz`) this proxy cannot decode;
/// a page sent in one would reach the visitor without the link.
#[tokio::test]
async fn a_document_request_offers_the_upstream_only_decodable_codings() {
    let up = upstream(|req| {
        let offered = req
            .headers()
            .get("accept-encoding")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let mut r = http::Response::new(common::body(Bytes::from(offered)));
        r.headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        Box::pin(async move { r })
    })
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let offer = ("accept-encoding", "gzip, deflate, br, zstd, dcb, dcz");
    let page = get(addr, PORTAL, "/", &[offer, ("sec-fetch-dest", "document")]).await;
    assert_eq!(page.text(), "gzip, deflate, br, zstd");
    let script = get(
        addr,
        PORTAL,
        "/app.js",
        &[offer, ("sec-fetch-dest", "script")],
    )
    .await;
    assert_eq!(script.text(), "gzip, deflate, br, zstd, dcb, dcz");
}

#[tokio::test]
async fn an_empty_chunked_body_labelled_gzip_stays_empty() {
    let up = empty_chunked_page(Some("gzip")).await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 200);
    assert!(got.body.is_empty(), "{:?}", got.body);
}

/// A regression found by a black-box audit: an unknown choice, or a body that is not
/// a form, was recorded as "refuse all" for six months.
#[tokio::test]
async fn a_consent_post_that_is_not_the_form_records_nothing() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let cases = [
        ("application/x-www-form-urlencoded", "choice=zzz", 400),
        ("application/json", r#"{"choice":"accept_all"}"#, 415),
        ("multipart/form-data; boundary=x", "--x--", 415),
    ];
    for (content_type, body, expected) in cases {
        let headers = [
            ("content-type", content_type),
            ("origin", "http://portal.test"),
        ];
        let got = send(addr, "POST", PORTAL, "/.consentry/consent", &headers, body).await;
        assert_eq!(got.status, expected, "{content_type} {body}");
        assert!(got.set_cookies().is_empty(), "{content_type} {body}");
    }
}

/// A browser revalidates the rewritten page with the weakened tag it was given; the
/// upstream, comparing weakly, answers 304 with its strong tag. Had that passed, the
/// browser's stored (rewritten) copy would turn strong again.
#[tokio::test]
async fn a_304_keeps_the_weakened_etag_the_client_holds() {
    let up = upstream(|req| {
        let conditional = req.headers().contains_key("if-none-match");
        let json = req.uri().path() == "/data.json";
        Box::pin(async move {
            let content_type = if json {
                "application/json"
            } else {
                "text/html"
            };
            if conditional {
                common::response(304, &[("etag", "\"v7\"")], "")
            } else {
                common::response(
                    200,
                    &[("content-type", content_type), ("etag", "\"v7\"")],
                    "<body>page</body>",
                )
            }
        })
    })
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let page = get(addr, PORTAL, "/", &[]).await;
    assert_eq!(page.headers.get("etag").unwrap(), "W/\"v7\"");
    let revalidated = get(addr, PORTAL, "/", &[("if-none-match", "W/\"v7\"")]).await;
    assert_eq!(revalidated.status, 304);
    assert_eq!(revalidated.headers.get("etag").unwrap(), "W/\"v7\"");
    assert_eq!(
        vary(&revalidated),
        vary(&page),
        "the 304 varies as its 200 did"
    );
    // What was never rewritten keeps its strong tag, 200 and 304 alike.
    let data = get(addr, PORTAL, "/data.json", &[]).await;
    assert_eq!(data.headers.get("etag").unwrap(), "\"v7\"");
    let revalidated = get(addr, PORTAL, "/data.json", &[("if-none-match", "\"v7\"")]).await;
    assert_eq!(revalidated.status, 304);
    assert_eq!(revalidated.headers.get("etag").unwrap(), "\"v7\"");
}

/// Under `Sec-GPC: 1` the policy page shows what GPC refuses as refused, and the form
/// records it refused whatever the button: the form offered it to no one.
#[tokio::test]
async fn under_gpc_the_form_shows_and_records_third_party_refused() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let third_party = |html: &str| {
        let at = html
            .find("value=\"third_party\"")
            .expect("a third_party box");
        html[at..at + html[at..].find('>').unwrap()].to_owned()
    };
    let policy = get(
        addr,
        PORTAL,
        "/terms/cookies-policy/",
        &[
            ("sec-gpc", "1"),
            (
                "cookie",
                "cookies_preferences=%7B%22third_party%22%3Atrue%7D",
            ),
        ],
    )
    .await
    .text();
    assert_eq!(
        third_party(&policy),
        "value=\"third_party\" disabled data-gpc"
    );
    assert!(policy.contains("your browser sends Global Privacy Control"));
    let without = get(
        addr,
        PORTAL,
        "/terms/cookies-policy/",
        &[(
            "cookie",
            "cookies_preferences=%7B%22third_party%22%3Atrue%7D",
        )],
    )
    .await
    .text();
    assert_eq!(third_party(&without), "value=\"third_party\" checked");

    let got = post_consent(addr, &[("sec-gpc", "1")], "choice=accept_all").await;
    assert_eq!(got.status, 303);
    let json = recorded(&got.set_cookies().pop().unwrap());
    assert_eq!(json["statistics"], true, "{json}");
    assert_eq!(json["third_party"], false, "{json}");

    // The banner, too, in the form such a browser gets.
    let page = fixed(200, &[("content-type", "text/html")], "<body>x</body>").await;
    let with_banner = proxy(&banner_yaml(&page.url())).await;
    let addr = with_banner.http_addr.unwrap();
    let banner = get(addr, PORTAL, "/", &[("sec-gpc", "1")]).await.text();
    assert!(banner.contains("id=\"consentry-banner\""), "{banner}");
    assert_eq!(
        third_party(&banner),
        "value=\"third_party\" disabled data-gpc"
    );
    let banner = get(addr, PORTAL, "/", &[]).await.text();
    assert_eq!(third_party(&banner), "value=\"third_party\"");
}

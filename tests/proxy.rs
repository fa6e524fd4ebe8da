//! The core proxy over the wire: routing, consent, enforcement on every status,
//! forwarding headers, upgrades, streaming, failures. Each test starts a real
//! upstream on 127.0.0.1:0 and the proxy on a real socket.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{config_yaml, fixed, get, proxy, response, send, upstream};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORTAL: &str = "portal.test";

fn portal_cookies() -> Vec<(&'static str, &'static str)> {
    vec![
        ("set-cookie", "sessionid=s1; HttpOnly; Path=/"),
        ("set-cookie", "_ga=GA1.2.3; Max-Age=63072000; Path=/"),
        ("set-cookie", "csrftoken=c1; Path=/"),
        ("set-cookie", "_fbp=fb.1; Path=/"),
        ("set-cookie", "mystery=1"),
        ("set-cookie", "_hjSessionUser_9=x; HttpOnly"),
    ]
}

#[tokio::test]
async fn removes_every_set_cookie_not_granted_and_keeps_the_rest_in_order() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();

    let none = get(addr, PORTAL, "/", &[]).await;
    assert_eq!(none.status, 200);
    assert_eq!(
        none.set_cookies(),
        ["sessionid=s1; HttpOnly; Path=/", "csrftoken=c1; Path=/"]
    );

    let stats = get(
        addr,
        PORTAL,
        "/",
        &[("cookie", r#"cookies_preferences={"statistics":true}"#)],
    )
    .await;
    assert_eq!(
        stats.set_cookies(),
        [
            "sessionid=s1; HttpOnly; Path=/",
            "_ga=GA1.2.3; Max-Age=63072000; Path=/",
            "csrftoken=c1; Path=/",
            "_hjSessionUser_9=x; HttpOnly"
        ]
    );
    let all = get(
        addr,
        PORTAL,
        "/",
        &[(
            "cookie",
            "cookies_preferences=%7B%22statistics%22%3Atrue%2C%22third_party%22%3Atrue%7D",
        )],
    )
    .await;
    assert_eq!(
        all.set_cookie_names(),
        ["sessionid", "_ga", "csrftoken", "_fbp", "_hjSessionUser_9"]
    );
}

#[tokio::test]
async fn enforces_on_redirects_errors_and_every_status() {
    for status in [200, 204, 301, 302, 304, 400, 404, 500, 503] {
        let up = fixed(status, &portal_cookies(), "").await;
        let p = proxy(&config_yaml(&up.url(), "", "")).await;
        let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
        assert_eq!(got.status, status);
        assert_eq!(
            got.set_cookie_names(),
            ["sessionid", "csrftoken"],
            "status {status}"
        );
        assert_eq!(
            got.headers.get("link").unwrap(),
            "</terms/cookies-policy/>; rel=\"privacy-policy\""
        );
    }
}

#[tokio::test]
async fn list_format_and_unclassified_allow() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let yaml =
        config_yaml(&up.url(), "  unclassified: allow", "").replace("format: json", "format: list");
    let p = proxy(&yaml).await;
    let got = get(
        p.http_addr.unwrap(),
        PORTAL,
        "/",
        &[("cookie", "cookies_preferences=third_party, nonsense")],
    )
    .await;
    assert_eq!(
        got.set_cookie_names(),
        ["sessionid", "csrftoken", "_fbp", "mystery"]
    );
}

#[tokio::test]
async fn sec_gpc_refuses_third_party_whatever_the_cookie_says() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let cookie = r#"cookies_preferences={"statistics":true,"third_party":true}"#;
    let got = get(
        p.http_addr.unwrap(),
        PORTAL,
        "/",
        &[("cookie", cookie), ("sec-gpc", "1")],
    )
    .await;
    assert!(got.set_cookie_names().contains(&"_ga".to_string()));
    assert!(!got.set_cookie_names().contains(&"_fbp".to_string()));
}

#[tokio::test]
async fn two_preferences_cookies_fail_closed() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let both =
        r#"cookies_preferences={"statistics":true}; cookies_preferences={"statistics":true}"#;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[("cookie", both)]).await;
    assert_eq!(got.set_cookie_names(), ["sessionid", "csrftoken"]);
}

#[tokio::test]
async fn unreadable_oversized_and_mistyped_preferences_fail_closed() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let big = format!(
        r#"cookies_preferences={{"statistics":true,"x":"{}"}}"#,
        "a".repeat(4200)
    );
    for cookie in [
        "cookies_preferences=",
        "cookies_preferences=not-json",
        r#"cookies_preferences={"statistics":"yes"}"#,
        big.as_str(),
    ] {
        let got = get(addr, PORTAL, "/", &[("cookie", cookie)]).await;
        assert_eq!(
            got.set_cookie_names(),
            ["sessionid", "csrftoken"],
            "{}",
            &cookie[..30.min(cookie.len())]
        );
    }
}

#[tokio::test]
async fn strips_refused_request_cookies_and_expires_revoked_ones() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let cookie = "sessionid=s; _ga=1; _fbp=2; mystery=3; cookies_preferences={}";
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[("cookie", cookie)]).await;
    assert_eq!(
        up.last().headers.get("cookie").unwrap(),
        "sessionid=s; cookies_preferences={}"
    );
    assert_eq!(
        got.set_cookies(),
        [
            "_ga=; Max-Age=0; Path=/",
            "_fbp=; Max-Age=0; Path=/; Domain=.portal.test"
        ]
    );
}

#[tokio::test]
async fn keeps_request_cookies_when_stripping_is_off() {
    let up = fixed(200, &[], "ok").await;
    let consent = "  strip_request_cookies: false\n  expire_revoked: false";
    let p = proxy(&config_yaml(&up.url(), consent, "")).await;
    let got = get(
        p.http_addr.unwrap(),
        PORTAL,
        "/",
        &[("cookie", "_ga=1; mystery=3")],
    )
    .await;
    assert_eq!(up.last().headers.get("cookie").unwrap(), "_ga=1; mystery=3");
    assert!(got.set_cookies().is_empty());
}

#[tokio::test]
async fn forwards_host_and_sets_forwarding_headers_without_hop_by_hop() {
    let up = fixed(
        200,
        &[
            ("connection", "x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
        ],
        "ok",
    )
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(
        p.http_addr.unwrap(),
        "Portal.Test:8080",
        "/data?q=1",
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("te", "trailers"),
        ],
    )
    .await;
    let seen = up.last();
    assert_eq!(seen.uri.path_and_query().unwrap().as_str(), "/data?q=1");
    assert_eq!(seen.headers.get("host").unwrap(), "Portal.Test:8080");
    assert_eq!(
        seen.headers.get("x-forwarded-for").unwrap(),
        "203.0.113.9, 127.0.0.1"
    );
    assert_eq!(seen.headers.get("x-forwarded-proto").unwrap(), "http");
    assert_eq!(
        seen.headers.get("x-forwarded-host").unwrap(),
        "Portal.Test:8080"
    );
    assert!(
        seen.headers
            .get("via")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("consentry")
    );
    assert!(seen.headers.get("x-hop").is_none());
    assert!(seen.headers.get("te").is_none());
    assert!(got.headers.get("x-secret").is_none());
    assert!(got.headers.get("keep-alive").is_none());
    assert!(got.headers.get("via").is_some());
}

#[tokio::test]
async fn unknown_host_is_misdirected_and_missing_host_is_bad() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let got = get(p.http_addr.unwrap(), "elsewhere.example", "/", &[]).await;
    assert_eq!(got.status, 421);
    // Error bodies never echo request headers (docs/operations.md, the privacy rule).
    assert!(got.text().contains("No site is configured here"));
    assert!(!got.text().contains("elsewhere.example"));
    assert_eq!(up.count(), 0);

    let mut raw = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    raw.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 400") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_upstream_is_504_each_with_a_body() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let p = proxy(&config_yaml(&format!("http://{closed_addr}"), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 502);
    assert!(got.text().contains("502 Bad Gateway"));

    let slow = upstream(|_req| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            response(200, &[], "late")
        })
    })
    .await;
    let yaml = config_yaml(&slow.url(), "", "timeouts:\n  upstream_response: 300ms\n");
    let p = proxy(&yaml).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 504);
    assert!(got.text().contains("504 Gateway Timeout"));
}

#[tokio::test]
async fn upstream_that_breaks_mid_connection_is_502() {
    // Half a head, then the connection closes (the task ends).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Len").await;
        }
    });
    let p = proxy(&config_yaml(&format!("http://{addr}"), "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 502);
}

/// A regression found by a black-box audit: a body in a transfer coding besides
/// `chunked` reached the client with its framing header gone, raw gzip labelled
/// `text/html`.
#[tokio::test]
async fn a_transfer_coding_besides_chunked_is_502_from_upstream_and_501_from_client() {
    let (url, _) = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: _ga=1\r\n\
          Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 502);
    assert!(got.headers.get("set-cookie").is_none());
    assert!(got.text().contains("transfer coding"), "{}", got.text());

    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let mut client = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    client
        .write_all(
            b"POST / HTTP/1.1\r\nHost: portal.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
              3\r\nabc\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 501 "), "{answer}");
}

/// An upstream that answers every request on a connection with `answer`, once the
/// request's head (and, when chunked, its body) has come; what it read is kept.
async fn raw_upstream(
    answer: &'static [u8],
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let done = got.windows(4).any(|w| w == b"\r\n\r\n")
                        && (!String::from_utf8_lossy(&got)
                            .to_ascii_lowercase()
                            .contains("transfer-encoding: chunked")
                            || got.ends_with(b"0\r\n\r\n"));
                    if done {
                        record.lock().unwrap().extend_from_slice(&got);
                        got.clear();
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (url, seen)
}

/// Regressions found by a black-box audit of the proxy's transparency.
#[tokio::test]
async fn transparency_regressions_from_the_audit() {
    // Content-Length beside chunked: framed by chunked, the length dropped (RFC 9112
    // §6.3). It was forwarded, and the client read 3 bytes of 89.
    let (url, _) = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\
          Transfer-Encoding: chunked\r\n\r\n9\r\nabcdefghi\r\n0\r\n\r\n",
    )
    .await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.text(), "abcdefghi");
    assert!(got.headers.get("content-length").is_none());

    // An HTTP/1.0 upstream: this hop still speaks HTTP/1.1 (RFC 9110 §6.2).
    let (url, _) = raw_upstream(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    let mut client = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: portal.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    // A status past 599 is not HTTP: 502.
    let (url, _) = raw_upstream(b"HTTP/1.1 600 Too High\r\nContent-Length: 0\r\n\r\n").await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    assert_eq!(
        get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.status,
        502
    );

    // After an HTTP/1.0 keep-alive answer, the connection is not reused: hyper would
    // speak HTTP/1.0 on it and drop the next request's chunked body.
    let (url, seen) =
        raw_upstream(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nab10")
            .await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    assert_eq!(
        get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.text(),
        "ab10"
    );
    let mut client = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    client
        .write_all(
            b"POST /submit HTTP/1.1\r\nHost: portal.test\r\nTransfer-Encoding: chunked\r\n\
              Connection: close\r\n\r\nb\r\nsecret=form\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer).await;
    let upstream_saw = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        upstream_saw.contains("POST /submit HTTP/1.1"),
        "{upstream_saw}"
    );
    assert!(upstream_saw.contains("secret=form"), "{upstream_saw}");

    // A chunked body on a GET reaches the upstream (hyper's client would drop it).
    let (url, seen) = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    let mut client = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    client
        .write_all(
            b"GET /search HTTP/1.1\r\nHost: portal.test\r\nTransfer-Encoding: chunked\r\n\
              Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let upstream_saw = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(upstream_saw.contains("hello"), "{upstream_saw}");

    // CONNECT and TRACE are answered here, not forwarded.
    let (url, seen) = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    for request in [
        "CONNECT portal.test:443 HTTP/1.1\r\nHost: portal.test:443\r\n\r\n",
        "TRACE / HTTP/1.1\r\nHost: portal.test\r\nMax-Forwards: 0\r\n\r\n",
        "trace / HTTP/1.1\r\nHost: portal.test\r\n\r\n",
        "TRACK / HTTP/1.1\r\nHost: portal.test\r\n\r\n",
    ] {
        let mut client = tokio::net::TcpStream::connect(p.http_addr.unwrap())
            .await
            .unwrap();
        client.write_all(request.as_bytes()).await.unwrap();
        let mut head = vec![0u8; 64];
        let n = client.read(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head[..n]);
        assert!(head.starts_with("HTTP/1.1 501 "), "{request}: {head}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn upgrade_is_proxied_with_consent_enforced_on_the_101() {
    // An upstream that switches to a line echo protocol after its 101.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        assert!(head.contains("upgrade: echo"), "{head}");
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\nSet-Cookie: _ga=1\r\nSet-Cookie: sessionid=2\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let p = proxy(&config_yaml(&format!("http://{addr}"), "", "")).await;
    let mut client = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    client
        .write_all(b"GET /ws HTTP/1.1\r\nHost: portal.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(client.read(&mut byte).await.unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("set-cookie: sessionid=2"));
    assert!(!head.contains("_ga"), "{head}");
    client.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"ping");
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_large_bodies_both_ways_in_constant_memory() {
    const TOTAL: usize = 256 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let up = upstream(|req| {
        Box::pin(async move {
            if req.method() == http::Method::POST {
                let mut body = req.into_body();
                let mut n = 0usize;
                while let Some(frame) = body.frame().await {
                    n += frame
                        .map(|f| f.into_data().map(|d| d.len()).unwrap_or(0))
                        .unwrap_or(0);
                }
                return response(200, &[], n.to_string());
            }
            let chunks = futures_util::stream::iter((0..TOTAL / CHUNK).map(|_| {
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(hyper::body::Frame::data(
                    Bytes::from(vec![b'x'; CHUNK]),
                ))
            }));
            let mut r = http::Response::new(http_body_util::StreamBody::new(chunks).boxed());
            r.headers_mut()
                .insert("content-type", "application/octet-stream".parse().unwrap());
            r
        })
    })
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let addr = p.http_addr.unwrap();
    let before = peak_rss_kib();

    let req = http::Request::get(format!("http://{addr}/big"))
        .header("host", PORTAL)
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let mut body = common::client().request(req).await.unwrap().into_body();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        received += frame.unwrap().into_data().map(|d| d.len()).unwrap_or(0);
    }
    assert_eq!(received, TOTAL);

    let chunks = futures_util::stream::iter((0..TOTAL / CHUNK).map(|_| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(vec![b'y'; CHUNK])))
    }));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let req = http::Request::post(format!("http://{addr}/upload"))
        .header("host", PORTAL)
        .body(http_body_util::StreamBody::new(chunks))
        .unwrap();
    let got = client
        .request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(got, TOTAL.to_string());

    let growth_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(
        growth_mib < 64,
        "peak RSS grew by {growth_mib} MiB while streaming 2 x 256 MiB"
    );
}

#[tokio::test]
async fn a_request_body_over_the_limit_is_413() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(
        &up.url(),
        "",
        "limits:\n  max_request_body_bytes: 1000\n",
    ))
    .await;
    let got = send(
        p.http_addr.unwrap(),
        "POST",
        PORTAL,
        "/",
        &[],
        &"z".repeat(5000),
    )
    .await;
    assert_eq!(got.status, 413);
    let ok = send(
        p.http_addr.unwrap(),
        "POST",
        PORTAL,
        "/",
        &[],
        &"z".repeat(500),
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn oversized_request_headers_get_431() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(
        &up.url(),
        "",
        "limits:\n  max_request_header_bytes: 16384\n",
    ))
    .await;
    let big = "v".repeat(20_000);
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[("x-big", &big)]).await;
    assert_eq!(got.status, 431);
    assert_eq!(up.count(), 0);
}

/// An HTTPS upstream with a certificate for `localhost` made at run time.
async fn https_upstream() -> (std::net::SocketAddr, String) {
    use std::sync::Arc;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let ca_pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(response(
                        200,
                        &[("set-cookie", "sessionid=tls"), ("set-cookie", "_ga=1")],
                        "secure",
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, ca_pem)
}

#[tokio::test]
async fn https_upstreams_are_verified_with_an_extra_ca_per_site() {
    let (addr, ca_pem) = https_upstream().await;
    let dir = std::env::temp_dir().join(format!(
        "consentry-ca-{}-{}",
        std::process::id(),
        addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_pem).unwrap();
    let url = format!("https://localhost:{}", addr.port());

    let trusted = config_yaml(&url, "", "    upstream_ca: ca.pem\n");
    let config = consentry::Config::from_yaml(&trusted, "test.yaml", &dir).unwrap();
    let p = consentry::net::server::start(config, None).await.unwrap();
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.text(), "secure");
    assert_eq!(got.set_cookie_names(), ["sessionid"]);

    // Without the CA the certificate is not trusted: 502, never a silent downgrade.
    let p = proxy(&config_yaml(&url, "", "")).await;
    assert_eq!(
        get(p.http_addr.unwrap(), PORTAL, "/", &[]).await.status,
        502
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_catalogue_classifies_what_no_rule_names_and_rules_win() {
    let up = fixed(
        200,
        &[
            ("set-cookie", "_clck=1"),
            ("set-cookie", "__cf_bm=2"),
            ("set-cookie", "_fbp=3"),
            ("set-cookie", "totally_unknown=4"),
            ("set-cookie", "AWSALB=5"),
        ],
        "ok",
    )
    .await;
    // A site rule overrides the catalogue (which calls AWSALB necessary).
    let site_rule = "    cookies:\n      - { name: AWSALB, category: third_party }\n";
    let yaml = config_yaml(&up.url(), "  unclassified: catalogue", site_rule);
    let p = proxy(&yaml).await;
    let cookie = r#"cookies_preferences={"statistics":true}"#;
    let got = get(p.http_addr.unwrap(), PORTAL, "/", &[("cookie", cookie)]).await;
    assert_eq!(got.set_cookie_names(), ["_clck", "__cf_bm"]);
}

#[tokio::test]
async fn consentry_audit_prints_what_a_running_instance_saw() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let yaml = config_yaml(&up.url(), "", "").replace(
        "listen:\n  http: 127.0.0.1:0\n",
        "listen:\n  http: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n",
    );
    let p = proxy(&yaml).await;
    for _ in 0..2 {
        get(p.http_addr.unwrap(), PORTAL, "/", &[]).await;
    }
    let admin = p.admin_addr.unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
            .args(["audit", "--admin", &admin])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ga = table
        .lines()
        .find(|l| l.contains("_ga "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        ga.starts_with("portal") && ga.contains("statistics") && ga.contains("rule"),
        "{ga}"
    );
    assert!(ga.trim_end().ends_with(" 2"), "removed twice: {ga}");
    let mystery = table.lines().find(|l| l.contains("mystery")).unwrap();
    assert!(mystery.contains("unclassified"), "{mystery}");
}

#[tokio::test]
async fn an_upstream_that_never_completes_the_connection_is_502_after_the_connect_timeout() {
    // A listener whose accept queue is full drops further SYNs: connecting to it hangs,
    // which is what an unreachable upstream looks like, without leaving loopback.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let _listener = socket.listen(1).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    common::assert_unreachable_within_connect_timeout(&format!("http://{addr}")).await;
}

/// Sends `request` as raw bytes and returns the status line and the rest.
async fn raw_exchange(proxy: std::net::SocketAddr, request: &str) -> String {
    let mut raw = tokio::net::TcpStream::connect(proxy).await.unwrap();
    raw.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn two_host_fields_or_an_invalid_one_are_a_400_that_reaches_no_upstream() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    for host_lines in [
        "Host: portal.test\r\nHost: elsewhere.example\r\n",
        "Host: portal.test:abc\r\n",
        "Host: portal.test..\r\n",
    ] {
        let answer = raw_exchange(
            p.http_addr.unwrap(),
            &format!("GET / HTTP/1.1\r\n{host_lines}Connection: close\r\n\r\n"),
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{host_lines:?}: {answer}"
        );
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn an_absolute_target_routes_and_is_forwarded_with_its_own_host() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let answer = raw_exchange(
        p.http_addr.unwrap(),
        "GET http://portal.test/x HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = up.last();
    assert_eq!(seen.headers.get("host").unwrap(), "portal.test");
    assert_eq!(seen.headers.get("x-forwarded-host").unwrap(), "portal.test");
}

#[tokio::test]
async fn every_earlier_x_forwarded_for_line_is_kept_in_the_chain() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let answer = raw_exchange(
        p.http_addr.unwrap(),
        "GET / HTTP/1.1\r\nHost: portal.test\r\nX-Forwarded-For: 198.51.100.1\r\n\
         X-Forwarded-For: 198.51.100.2, 198.51.100.3\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = up.last();
    assert_eq!(seen.headers.get_all("x-forwarded-for").iter().count(), 1);
    assert_eq!(
        seen.headers.get("x-forwarded-for").unwrap(),
        "198.51.100.1, 198.51.100.2, 198.51.100.3, 127.0.0.1"
    );
}

/// A regression found by a black-box audit: an upload the client cut short was
/// answered `502` and counted as a broken upstream.
#[tokio::test]
async fn an_upload_the_client_cuts_short_is_the_clients_400_not_a_502() {
    let up = upstream(|req| {
        Box::pin(async move {
            // Reads the whole body, as an upstream taking an upload does.
            let read = req.into_body().collect().await;
            response(if read.is_ok() { 200 } else { 400 }, &[], "read")
        })
    })
    .await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let mut raw = tokio::net::TcpStream::connect(p.http_addr.unwrap())
        .await
        .unwrap();
    raw.write_all(b"PUT /upload HTTP/1.1\r\nHost: portal.test\r\nContent-Length: 50000\r\n\r\n")
        .await
        .unwrap();
    raw.write_all(&[b'x'; 10_000]).await.unwrap();
    // Half-close: the body ends 40000 bytes early; the answer can still be read.
    raw.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), raw.read_to_string(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("ended before it was complete"), "{answer}");
}

/// An audit found a `RUST_LOG` that does not parse silently ignored: the operator
/// believed they had filtered or raised the level.
#[test]
fn an_invalid_rust_log_is_reported_and_info_is_kept() {
    use std::io::{BufRead, BufReader};
    let path = std::env::temp_dir().join(format!("consentry-rust-log-{}.yaml", std::process::id()));
    std::fs::write(&path, config_yaml("http://127.0.0.1:9", "", "")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["--config", path.to_str().unwrap()])
        .env("RUST_LOG", "nonsense=[")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    // The warning comes first, then the (info) start line: two lines, then stop.
    let lines: Vec<String> = stderr.lines().take(2).map(Result::unwrap).collect();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    assert!(
        lines[0].contains("WARN") && lines[0].contains("RUST_LOG is not a valid filter"),
        "{lines:?}"
    );
    assert!(lines[1].contains("consentry listening"), "{lines:?}");
}

// ---------------------------------------------------------------------------
// Regressions from a black-box security audit

/// `Upgrade: h2c` was passed on; an upstream that agreed gave the client a raw
/// HTTP/2 connection to it, past every check (its cookies unfiltered, its requests
/// unlogged). It now goes as a plain request, its upgrade fields dropped.
#[tokio::test]
async fn an_h2c_upgrade_is_never_passed_on() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let answer = raw_exchange(
        p.http_addr.unwrap(),
        "GET / HTTP/1.1\r\nHost: portal.test\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("set-cookie: _fbp"),
        "{answer}"
    );
    let seen = up.last();
    for gone in ["upgrade", "http2-settings", "connection"] {
        assert!(
            seen.headers.get(gone).is_none(),
            "{gone} reached the upstream"
        );
    }
}

/// A 101 may only switch to what the client offered (RFC 9110 §7.8): an upstream
/// answering a WebSocket request with `Upgrade: h2c` was tunnelled.
#[tokio::test]
async fn a_101_to_a_protocol_the_client_did_not_offer_is_502() {
    let (url, _) = raw_upstream(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
    )
    .await;
    let p = proxy(&config_yaml(&url, "", "")).await;
    let answer = raw_exchange(
        p.http_addr.unwrap(),
        "GET /ws HTTP/1.1\r\nHost: portal.test\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
}

/// `/../secret` reached an upstream with a path prefix as `/prefix/../secret`, which
/// a server that resolves dot-segments serves from outside the prefix.
#[tokio::test]
async fn dot_segments_are_resolved_before_the_prefix_and_never_climb_above_it() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&format!("{}/prefix", up.url()), "", "")).await;
    let addr = p.http_addr.unwrap();
    for (target, expected) in [
        ("/a/../b?q=1", "/prefix/b?q=1"),
        ("/a/./%2e%2e/c", "/prefix/c"),
    ] {
        let answer = raw_exchange(
            addr,
            &format!("GET {target} HTTP/1.1\r\nHost: portal.test\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{target}: {answer}");
        assert_eq!(up.last().uri, expected, "{target}");
    }
    let before = up.count();
    for target in [
        "/../secret",
        "/%2e%2e/secret",
        "/a/../../secret",
        "/..;/secret",
    ] {
        let answer = raw_exchange(
            addr,
            &format!("GET {target} HTTP/1.1\r\nHost: portal.test\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
    }
    assert_eq!(up.count(), before, "none reached the upstream");
}

/// `GET http://a.test:80@portal.test/` routed by `portal.test` and went upstream with
/// `Host: a.test:80@portal.test`, which a naive parser reads as `a.test`. A target's
/// authority is now held to what a Host field may say.
#[tokio::test]
async fn a_target_authority_with_userinfo_or_a_bad_port_is_a_400() {
    let up = fixed(200, &[], "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    for target in ["http://a.test:80@portal.test/", "http://portal.test:8x/"] {
        let answer = raw_exchange(
            p.http_addr.unwrap(),
            &format!("GET {target} HTTP/1.1\r\nHost: portal.test\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
    }
    assert_eq!(up.count(), 0);
}

/// Only the first `Sec-GPC` field was read: `Sec-GPC: 0` then `1`, or one `1, 1`
/// (what an intermediary makes of two), let third-party cookies through.
#[tokio::test]
async fn sec_gpc_counts_in_any_field_and_any_item() {
    let up = fixed(200, &portal_cookies(), "ok").await;
    let p = proxy(&config_yaml(&up.url(), "", "")).await;
    let cookie = r#"cookies_preferences={"statistics":true,"third_party":true}"#;
    for gpc_lines in [
        "Sec-GPC: 0\r\nSec-GPC: 1\r\n",
        "Sec-GPC: x\r\nSec-GPC: 1\r\n",
        "Sec-GPC: 1, 1\r\n",
    ] {
        let answer = raw_exchange(
            p.http_addr.unwrap(),
            &format!(
                "GET / HTTP/1.1\r\nHost: portal.test\r\nCookie: {cookie}\r\n{gpc_lines}Connection: close\r\n\r\n"
            ),
        )
        .await;
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains("set-cookie: _ga="),
            "{gpc_lines:?}: {answer}"
        );
        assert!(
            !lower.contains("set-cookie: _fbp="),
            "{gpc_lines:?}: {answer}"
        );
    }
}

/// The `consentry` binary serving `upstream` on a port of its own, the way an
/// operator runs it: its configuration file, its process, its stderr as `stderr`
/// says. Returns once it accepts connections, with the first one.
fn run_binary(
    upstream: &str,
    name: &str,
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (
    std::process::Child,
    u16,
    std::path::PathBuf,
    std::net::TcpStream,
) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = config_yaml(upstream, "", "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let path = std::env::temp_dir().join(format!("consentry-{name}-{}.yaml", std::process::id()));
    std::fs::write(&path, yaml).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["--config", path.to_str().unwrap()])
        .envs(env.iter().copied())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("the proxy did not listen: {e}"),
        }
    };
    (child, port, path, stream)
}

/// The access log goes through a non-blocking writer (no `write` on the request
/// path); on SIGTERM every queued line is still written before the process exits.
#[test]
fn every_access_line_is_written_out_on_sigterm() {
    use std::io::{Read, Write};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(fixed(200, &[("content-type", "text/plain")], "ok"));
    let (mut child, _port, path, mut stream) =
        run_binary(&up.url(), "flush", &[], std::process::Stdio::piped());
    const REQUESTS: usize = 300;
    let mut answers = Vec::new();
    for i in 0..REQUESTS {
        let close = if i + 1 == REQUESTS {
            "Connection: close\r\n"
        } else {
            ""
        };
        write!(
            stream,
            "GET /flush-check/{i} HTTP/1.1\r\nHost: portal.test\r\n{close}\r\n"
        )
        .unwrap();
    }
    stream.read_to_end(&mut answers).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&answers)
            .matches("HTTP/1.1 200")
            .count(),
        REQUESTS
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    assert_eq!(log.matches("/flush-check/").count(), REQUESTS, "{log}");
}

/// After a burst of connections closes, the proxy gives the memory they used back
/// to the system (ops::memory's trimmer; glibc's malloc alone kept it for good).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn memory_a_burst_used_goes_back_to_the_system_once_it_closes() {
    use std::io::{Read, Write};
    fn rss_kib(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(fixed(200, &[("content-type", "text/plain")], "ok"));
    let (mut child, port, path, mut first) = run_binary(
        &up.url(),
        "burst",
        &[("RUST_LOG", "warn")],
        std::process::Stdio::null(),
    );
    let pid = child.id();
    let request = |stream: &mut std::net::TcpStream| {
        stream
            .write_all(b"GET /burst HTTP/1.1\r\nHost: portal.test\r\nCookie: sessionid=s; _ga=GA1.2.3\r\n\r\n")
            .unwrap();
        let mut answer = [0u8; 4096];
        let n = stream.read(&mut answer).unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    };
    for _ in 0..50 {
        request(&mut first);
    }
    drop(first);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let warm = rss_kib(pid);
    // 500 connections held open at once: about 9 MiB of buffers in the proxy
    // (well within the 1,024 descriptors a test process may have, beside the
    // other tests running at the same time).
    let mut burst = Vec::new();
    for _ in 0..500 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        request(&mut stream);
        burst.push(stream);
    }
    let peak = rss_kib(pid);
    drop(burst);
    let mut after = peak;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        after = rss_kib(pid);
        if after <= warm + 2048 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    assert!(
        peak > warm + 4096,
        "the burst used memory: {warm} KiB, then {peak} KiB"
    );
    assert!(
        after <= warm + 2048,
        "warm {warm} KiB, peak {peak} KiB, 10 s after the burst {after} KiB"
    );
}

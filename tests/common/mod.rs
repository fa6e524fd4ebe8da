//! Test harness: real upstream servers on 127.0.0.1:0, the real proxy on a real
//! socket, and a small client. Every integration test talks over the wire.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub type TestBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;
pub type Reply = Pin<Box<dyn Future<Output = Response<TestBody>> + Send>>;

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub uri: http::Uri,
    pub version: http::Version,
    pub headers: HeaderMap,
}

/// A test upstream: the address it listens on and the requests it has seen.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections accepted so far.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Upstream {
    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream saw no request")
    }
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn connection_count(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub fn body(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response with status, headers (in order, repeats allowed) and body.
pub fn response(
    status: u16,
    headers: &[(&str, &str)],
    text: impl Into<Bytes>,
) -> Response<TestBody> {
    let mut r = Response::new(body(text));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        r.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    r
}

/// Starts an upstream on 127.0.0.1:0 that answers with `handler`.
pub async fn upstream<F>(handler: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let handler = Arc::new(handler);
    let seen_by_server = seen.clone();
    let connections: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let accepted = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let handler = handler.clone();
            let seen = seen_by_server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    seen.lock().unwrap().push(Seen {
                        method: req.method().clone(),
                        uri: req.uri().clone(),
                        version: req.version(),
                        headers: req.headers().clone(),
                    });
                    let reply = handler(req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        seen,
        connections,
    }
}

/// An upstream that always answers the same status, headers and body.
pub async fn fixed(status: u16, headers: &[(&str, &str)], text: &'static str) -> Upstream {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    upstream(move |_req| {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = response(status, &pairs, text);
        Box::pin(async move { r })
    })
    .await
}

/// The portals' four categories and a few rules, shared by every test configuration.
pub const CATEGORIES_AND_RULES: &str = r#"categories:
  necessary: { required: true, title: Necessary cookies, description: Needed for the site. }
  statistics: { title: Statistical cookies, description: Audience measurement. }
  first_party: { title: Internal cookies, description: The site's own. }
  third_party: { title: Third-party cookies, description: Other parties., gpc: true }
cookies:
  - { name: sessionid, category: necessary, provider: Opendatasoft, function: Authentication, purpose: Session }
  - { name: csrftoken, category: necessary, provider: Opendatasoft, function: Security, purpose: Prevent request forgery }
  - { name: django_language, category: necessary, provider: Opendatasoft }
  - { name: _ga*, category: statistics, provider: Google Analytics, function: Audience measurement, purpose: Distinguish visitors }
  - { name: _hjSessionUser_*, category: statistics, provider: Hotjar, purpose: Visit statistics }
  - { name: ods_pref, category: first_party, provider: Opendatasoft }
  - { name: _fbp, category: third_party, provider: Meta, purpose: Advertising, domain: .portal.test }
"#;

/// The test configuration: the portals' four categories and a few rules, one site
/// `portal.test` in front of `upstream`; `extra` is appended (YAML).
pub fn config_yaml(upstream: &str, extra_consent: &str, extra: &str) -> String {
    format!(
        r#"listen:
  http: 127.0.0.1:0
consent:
  cookie: cookies_preferences
  format: json
{extra_consent}
{CATEGORIES_AND_RULES}policy:
  path: /terms/cookies-policy/
  link_text: Cookies policy
sites:
  - name: portal
    hosts: [portal.test]
    upstream: {upstream}
{extra}"#
    )
}

/// Starts the proxy from YAML text.
pub async fn proxy(yaml: &str) -> consentry::net::server::Running {
    let config = consentry::Config::from_yaml(yaml, "test.yaml", Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    consentry::net::server::start(config, None).await.unwrap()
}

/// A plain HTTP/1.1 client.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// What came back from the proxy.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }
    pub fn set_cookie_names(&self) -> Vec<String> {
        self.set_cookies()
            .iter()
            .map(|l| l.split('=').next().unwrap_or("").trim().to_owned())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `proxy` for `host` and reads the whole response.
pub async fn send(
    proxy: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Got {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{proxy}{path}"))
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let response = client().request(req).await.expect("the proxy answered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Got {
        status,
        headers,
        body,
    }
}

pub async fn get(proxy: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Got {
    send(proxy, "GET", host, path, headers, "").await
}

/// Sends one request through a proxy for `upstream` (a URL) configured with
/// `upstream_connect: 300ms` and `upstream_response: 20s`, and checks that the answer
/// is the "could not be reached" 502 and came within the connect timeout's reach,
/// not the response timeout's.
pub async fn assert_unreachable_within_connect_timeout(upstream: &str) {
    let yaml = config_yaml(
        upstream,
        "",
        "timeouts:\n  upstream_connect: 300ms\n  upstream_response: 20s\n",
    );
    let p = proxy(&yaml).await;
    let started = std::time::Instant::now();
    let got = get(p.http_addr.unwrap(), "portal.test", "/", &[]).await;
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(
        got.text().contains("could not be reached"),
        "{}",
        got.text()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "bounded by upstream_connect, not upstream_response"
    );
}

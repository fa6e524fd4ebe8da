//! `consentry demo`: the proxy in front of a built-in sample portal, for a first look.
//!
//! The sample portal sets what a real Opendatasoft portal sets (the four necessary
//! cookies) plus what a careless one might: statistics cookies (one HttpOnly, which
//! no banner script could ever delete), a third-party cookie and one nobody
//! classified. Through the proxy, only what the visitor granted arrives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;

use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::Body;
use crate::config::raw::{RawPolicy, RawSite};
use crate::config::{self, Config, ConfigErrors};
use crate::net::reply;

/// The cookies the sample portal sets on every HTML page.
pub const SAMPLE_COOKIES: &[&str] = &[
    "sessionid=demo-session-1; Path=/; HttpOnly; SameSite=Lax",
    "django_language=en; Path=/",
    "csrftoken=demo-csrf-token; Path=/; SameSite=Lax",
    "_ga=GA1.1.123456789.1700000000; Path=/; Max-Age=63072000",
    "_pk_id.1.1fff=0123456789abcdef.1700000000.; Path=/; Max-Age=33955200",
    "_hjSessionUser_3141592=eyJpZCI6ImRlbW8ifQ; Path=/; HttpOnly; Max-Age=31536000",
    "_fbp=fb.1.1700000000.987654321; Path=/; Max-Age=7776000",
    "tracking_mystery=1; Path=/",
];

const HOME: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sample open-data portal</title>
<link rel="stylesheet" href="/static/portal.css"></head>
<body><main>
<h1>Sample open-data portal</h1>
<p>This page is served by consentry's built-in sample backend. It tries to set eight
cookies on every visit: four necessary ones (<code>sessionid</code>, <code>django_language</code>,
<code>csrftoken</code>, and your <code>cookies_preferences</code> once you choose), statistics
cookies (<code>_ga</code>, <code>_pk_id.*</code>, and <code>_hjSessionUser_*</code>, which is
<strong>HttpOnly</strong>: no banner script could delete it), a third-party cookie
(<code>_fbp</code>) and one nobody classified (<code>tracking_mystery</code>).</p>
<p>consentry removes every one you have not consented to. Open your browser's developer
tools (Application → Cookies) to watch, then make a choice on the
<a href="/banner">portal's own banner page</a>, or in the banner consentry adds below.</p>
<ul><li><a href="/datasets">Datasets</a></li><li><a href="/api/records.json">An API response (JSON, not rewritten)</a></li></ul>
</main></body></html>
"#;

const DATASETS: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Datasets</title></head>
<body><main><h1>Datasets</h1><ul><li>Street trees</li><li>Parking meters</li><li>Building permits</li></ul>
<p><a href="/">Home</a></p></main></body></html>
"#;

const BANNER: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Cookie preferences</title></head>
<body><main><h1>Cookie preferences (the portal's own banner)</h1>
<p>This is what a portal's banner does: it writes your choice into the
<code>cookies_preferences</code> cookie. It cannot remove cookies the server sets.</p>
<form id="prefs">
<label><input type="checkbox" name="statistics"> Statistical cookies</label><br>
<label><input type="checkbox" name="first_party"> Internal cookies</label><br>
<label><input type="checkbox" name="third_party"> Third-party cookies</label><br>
<button type="submit">Save</button>
</form><p><a href="/">Home</a></p>
<script src="/static/portal-banner.js"></script></main></body></html>
"#;

const BANNER_JS: &str = r#"document.getElementById("prefs").addEventListener("submit", function (e) {
  e.preventDefault();
  var prefs = {};
  ["statistics", "first_party", "third_party"].forEach(function (k) {
    prefs[k] = document.querySelector('input[name="' + k + '"]').checked;
  });
  document.cookie = "cookies_preferences=" + encodeURIComponent(JSON.stringify(prefs)) +
    "; Max-Age=15552000; Path=/; SameSite=Lax";
  location.href = "/";
});
"#;

const CSS: &str = "main{max-width:46rem;margin:2rem auto;font:16px/1.5 system-ui,sans-serif}code{background:#eee;padding:0 .2em}";

/// Answers one request of the sample portal.
pub fn sample_portal(req: &Request<Incoming>) -> Response<Body> {
    let (body, content_type, cookies): (&str, &str, bool) = match req.uri().path() {
        "/" | "/index.html" => (HOME, "text/html; charset=utf-8", true),
        "/datasets" => (DATASETS, "text/html; charset=utf-8", true),
        "/banner" => (BANNER, "text/html; charset=utf-8", true),
        "/static/portal-banner.js" => (BANNER_JS, "text/javascript", false),
        "/static/portal.css" => (CSS, "text/css", false),
        "/api/records.json" => (
            r#"{"total_count":3,"results":[{"name":"Street trees"}]}"#,
            "application/json",
            true,
        ),
        _ => return reply::text(StatusCode::NOT_FOUND, "No such page in the sample portal."),
    };
    let mut response = Response::new(reply::full(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if cookies {
        for cookie in SAMPLE_COOKIES {
            headers.append(SET_COOKIE, HeaderValue::from_static(cookie));
        }
    }
    response
}

/// Starts the sample portal on 127.0.0.1 (any free port).
pub async fn start_sample_portal() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    Ok::<_, Infallible>(sample_portal(&req))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The demo configuration: `proxy.yaml`'s policy (categories, rules, consent, policy)
/// with every site sent to the sample portal, plus a `demo` site for localhost that
/// shows consentry's own banner, served plainly on `listen`.
pub fn demo_config(
    text: &str,
    label: &str,
    base: &Path,
    portal: SocketAddr,
    listen: SocketAddr,
) -> Result<Config, ConfigErrors> {
    let mut raw = config::parse_raw(text, label)?;
    let upstream = format!("http://{portal}");
    raw.listen.http = Some(listen.to_string());
    raw.listen.https = None;
    raw.tls = None;
    raw.admin = None;
    for site in &mut raw.sites {
        site.upstream = upstream.clone();
        site.upstream_ca = None;
    }
    let taken: Vec<String> = raw
        .sites
        .iter()
        .flat_map(|s| s.hosts.iter().map(|h| h.to_ascii_lowercase()))
        .collect();
    let hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .into_iter()
        .filter(|h| !taken.iter().any(|t| t == h))
        .map(str::to_owned)
        .collect();
    if !hosts.is_empty() {
        raw.sites.push(RawSite {
            name: "demo".into(),
            hosts,
            upstream,
            upstream_ca: None,
            consent: None,
            policy: Some(RawPolicy {
                banner: Some(true),
                ..RawPolicy::default()
            }),
            cookies: Vec::new(),
            trackers: None,
        });
    }
    config::compile(raw, text, label, base)
}

/// What to try, printed when the demo starts.
pub fn instructions(listen: SocketAddr, policy_path: &str) -> String {
    let port = listen.port();
    format!(
        "\nconsentry demo is running: http://localhost:{port}/\n\n\
         In a browser:\n\
         \x20 1. Open http://localhost:{port}/ and look at the cookies (developer tools → Application → Cookies):\n\
         \x20    only the necessary ones arrived; the banner at the bottom asks for your choice.\n\
         \x20 2. Accept statistics only: _ga, _pk_id.* and the HttpOnly _hjSessionUser_* arrive, _fbp does not.\n\
         \x20 3. Open the policy page http://localhost:{port}{policy_path} and refuse everything:\n\
         \x20    on the next page the statistics cookies are expired, the HttpOnly one too.\n\n\
         With curl:\n\
         \x20 curl -si http://localhost:{port}/ | grep -i set-cookie\n\
         \x20 curl -si -b 'cookies_preferences={{\"statistics\":true}}' http://localhost:{port}/ | grep -i set-cookie\n\
         \x20 curl -si -H 'Sec-GPC: 1' -b 'cookies_preferences={{\"third_party\":true}}' http://localhost:{port}/ | grep -i set-cookie\n\
         \x20 curl -si -H 'Host: data.longbeach.gov' http://localhost:{port}/api/records.json\n\n\
         Ctrl-C stops it.\n"
    )
}

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
use crate::config::raw::{RawPolicy, RawRule, RawSite, RawTrackerRule};
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
<h2>Trackers in this page</h2>
<p>The page also embeds three trackers, the way portals embed Google Analytics, the Meta
pixel or a YouTube video: an analytics script with its inline snippet, a pixel and a video
frame. They are served by the sample portal itself (<code>/demo-tracker/…</code>), filed
under a rule of the demo configuration, so nothing here contacts a third party. Until you
grant statistics, consentry makes the script and its snippet inert
(<code>type="text/plain"</code>) and removes the pixel; until you grant third-party
cookies, the video is replaced by a placeholder. The status line below is written by the
analytics script: it only runs once you allowed it.</p>
<p id="demo-stats-status">Demo analytics: not running (blocked until you consent to statistics).</p>
<img src="/demo-tracker/pixel.gif?page=home" width="1" height="1" alt="">
<iframe src="/demo-tracker/video.html" width="480" height="270" title="Demo video"></iframe>
<script src="/demo-tracker/stats.js"></script>
<script>demoStats.init({ site: "sample-portal" });</script>
</main></body></html>
"#;

const DEMO_STATS_JS: &str = r#"window.demoStats = { init: function (options) {
  document.cookie = "_demo_stats=" + Date.now() + "; Path=/; Max-Age=31536000";
  var status = document.getElementById("demo-stats-status");
  if (status) { status.textContent = "Demo analytics: running for " + options.site + " (you granted statistics)."; }
} };
"#;

const DEMO_VIDEO: &str = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Demo video</title></head>
<body style="margin:0;display:grid;place-items:center;height:100vh;background:#222;color:#fff;font:16px system-ui,sans-serif">
<p>&#9654; A third-party video would play here.</p></body></html>
"#;

/// A 1x1 transparent GIF, the demo pixel.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

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
        "/demo-tracker/stats.js" => (DEMO_STATS_JS, "text/javascript", false),
        "/demo-tracker/video.html" => (DEMO_VIDEO, "text/html; charset=utf-8", false),
        "/demo-tracker/pixel.gif" => {
            let mut response = Response::new(reply::full(PIXEL_GIF));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("image/gif"));
            return response;
        }
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
    // The sample portal's trackers, under rules of the demo configuration, so a first
    // look shows them blocked, then allowed after consent, with no third party.
    let category = |preferred: &str| {
        raw.categories
            .0
            .iter()
            .find(|(name, _)| name == preferred)
            .or_else(|| raw.categories.0.iter().find(|(_, c)| !c.required))
            .map(|(name, _)| name.clone())
    };
    if let (Some(statistics), Some(third_party)) = (category("statistics"), category("third_party"))
    {
        let rule = |url: Option<&str>, inline: Option<&str>, category: &str, provider: &str| {
            RawTrackerRule {
                url: url.map(str::to_owned),
                inline: inline.map(str::to_owned),
                category: category.to_owned(),
                provider: Some(provider.to_owned()),
            }
        };
        raw.cookies.insert(
            0,
            RawRule {
                name: "_demo_stats".into(),
                category: statistics.clone(),
                provider: Some("Demo Analytics".into()),
                function: Some("Audience measurement (the demo's own tracker)".into()),
                purpose: Some("Counts visits".into()),
                path: None,
                domain: None,
            },
        );
        raw.trackers.rules.splice(
            0..0,
            [
                rule(
                    Some("*/demo-tracker/stats.js"),
                    None,
                    &statistics,
                    "Demo Analytics",
                ),
                rule(None, Some("demoStats.init("), &statistics, "Demo Analytics"),
                rule(
                    Some("*/demo-tracker/pixel.gif"),
                    None,
                    &statistics,
                    "Demo Analytics",
                ),
                rule(
                    Some("*/demo-tracker/video.html"),
                    None,
                    &third_party,
                    "Demo Video",
                ),
            ],
        );
    }
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

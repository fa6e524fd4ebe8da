//! Consent records over the wire: the consent endpoint records before it answers,
//! every banner format's new states are observed once, records survive a restart,
//! expire, and a slow, missing or corrupt store never holds up a request.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{CATEGORIES_AND_RULES, fixed, get, send};
use consentry::config::records::StoreUrl;
use consentry::ops::records::record::{Event, Record};
use consentry::ops::records::store::{self, Query};

const PORTAL: &str = "portal.test";

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory for one test's store.
fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "consentry-records-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A configuration for `portal.test` reading `format` consent, recording to `store`.
fn yaml(upstream: &str, format: &str, store: &str, records_extra: &str) -> String {
    format!(
        "listen:\n  http: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nconsent:\n  format: {format}\n{CATEGORIES_AND_RULES}policy:\n  path: /terms/cookies-policy/\n  banner: {banner}\nsites:\n  - name: portal\n    hosts: [portal.test]\n    upstream: {upstream}\nrecords:\n  store: \"{store}\"\n{records_extra}",
        banner = matches!(format, "json" | "list"),
    )
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("records.db").display())
}

async fn records(store: &str) -> Vec<Record> {
    let url = StoreUrl::parse(store, Path::new(".")).unwrap();
    store::query(
        &url,
        &Query {
            limit: 10_000,
            ..Query::default()
        },
    )
    .await
    .map(|rows| rows.into_iter().map(|(_, r)| r).collect())
    .unwrap_or_default()
}

/// Waits until the store holds `n` records (or 5 s), and returns them.
async fn records_when(store: &str, n: usize) -> Vec<Record> {
    let started = Instant::now();
    loop {
        let found = records(store).await;
        if found.len() >= n || started.elapsed() > Duration::from_secs(5) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A counter or gauge of `/metrics` (summed over its labels).
async fn metric(admin: SocketAddr, name: &str) -> u64 {
    let text = get(admin, "admin", "/metrics", &[]).await.text();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn post_consent(addr: SocketAddr, cookie: Option<&str>, body: &str) -> common::Got {
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://portal.test"),
    ];
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie));
    }
    send(addr, "POST", PORTAL, "/.consentry/consent", &headers, body).await
}

/// `name=value` of the preferences cookie a response sets.
fn preferences_pair(got: &common::Got) -> String {
    got.set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cookies_preferences="))
        .expect("the preferences cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_consent_endpoint_records_before_it_answers_and_the_next_request_adds_nothing() {
    let dir = temp_dir("endpoint");
    let store = sqlite(&dir);
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(&up.url(), "json", &store, "")).await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());

    let got = post_consent(
        addr,
        None,
        "choice=save&category=statistics&return=%2Fdatasets%3Fq%3Dsecret",
    )
    .await;
    assert_eq!(got.status, 303);
    // Written before the answer: no waiting here.
    let found = records(&store).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let r = &found[0];
    assert_eq!(r.event, Event::Given);
    assert_eq!(r.source, "endpoint");
    assert_eq!(r.site, "portal");
    assert_eq!(r.granted, ["necessary", "statistics"]);
    assert_eq!(r.refused, ["first_party", "third_party"]);
    assert_eq!(r.path, "/datasets", "no query");
    assert_eq!(r.language.as_deref(), Some("en"));
    assert_eq!(r.schema_version, 1);
    assert!(r.client_ip.is_none() && r.user_agent.is_none());
    let sha = r.policy_sha256.clone().expect("the policy shown");
    assert_eq!(sha.len(), 64);
    // The cookie carries the consent ID.
    let pair = preferences_pair(&got);
    let value = percent_encoding::percent_decode_str(pair.split_once('=').unwrap().1)
        .decode_utf8()
        .unwrap()
        .into_owned();
    let json: serde_json::Value = serde_json::from_str(&value).unwrap();
    assert_eq!(json["id"], r.consent_id.as_str());
    assert_eq!(json["statistics"], true);

    // The requests that follow carry that cookie: nothing new.
    for _ in 0..5 {
        assert_eq!(
            get(addr, PORTAL, "/", &[("cookie", &pair)]).await.status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(records(&store).await.len(), 1);

    // A later choice keeps the ID: `updated`.
    let again = post_consent(addr, Some(&pair), "choice=refuse_all").await;
    assert_eq!(again.status, 303);
    let found = records(&store).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].event, Event::Updated);
    assert_eq!(found[1].consent_id, r.consent_id);
    assert_eq!(found[1].granted, ["necessary"]);
    assert_eq!(found[1].path, "/", "no return path: the site's root");
    assert_eq!(metric(admin, "consentry_records_written_total").await, 2);

    // The policy text is stored once, under its hash.
    let url = StoreUrl::parse(&store, Path::new(".")).unwrap();
    let text = store::policy_text(&url, &sha).await.unwrap().unwrap();
    assert!(text.contains("Statistical cookies"), "{text}");
    p.shutdown().await;
}

#[tokio::test]
async fn a_first_refusal_is_refused_and_the_banner_script_is_its_source() {
    let dir = temp_dir("refused");
    let store = sqlite(&dir);
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(&up.url(), "list", &store, "  client_info: true\n")).await;
    let addr = p.http_addr.unwrap();
    let got = send(
        addr,
        "POST",
        PORTAL,
        "/.consentry/consent",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "http://portal.test"),
            ("user-agent", "TestBrowser/1.0"),
        ],
        "choice=refuse_all&via=banner&return=%2F",
    )
    .await;
    assert_eq!(got.status, 303);
    let found = records(&store).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event, Event::Refused);
    assert_eq!(found[0].source, "banner");
    assert_eq!(found[0].client_ip.as_deref(), Some("127.0.0.0/24"));
    assert_eq!(found[0].user_agent.as_deref(), Some("TestBrowser/1.0"));
    // The list cookie carries the ID as an item its readers ignore.
    let pair = preferences_pair(&got);
    assert!(
        pair.contains(&format!("id%3A{}", found[0].consent_id)),
        "{pair}"
    );
    get(addr, PORTAL, "/", &[("cookie", &pair)]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(records(&store).await.len(), 1);
    p.shutdown().await;
}

/// For each banner format: a value, another value of the same consent with other
/// categories, the consent ID expected, and the categories each grants.
struct Case {
    format: &'static str,
    cookie: &'static str,
    first: String,
    second: String,
    id: Option<&'static str>,
    first_granted: &'static [&'static str],
    second_granted: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    vec![
        Case {
            format: "json",
            cookie: "cookies_preferences",
            first: enc(r#"{"statistics":true,"first_party":false}"#),
            second: enc(r#"{"statistics":false,"first_party":true}"#),
            id: None,
            first_granted: &["necessary", "statistics"],
            second_granted: &["necessary", "first_party"],
        },
        Case {
            format: "cookieconsent",
            cookie: "cc_cookie",
            first: enc(r#"{"categories":["necessary","analytics"],"revision":0,"consentId":"cc-1234"}"#),
            second: enc(r#"{"categories":["necessary","marketing"],"revision":0,"consentId":"cc-1234"}"#),
            id: Some("cc-1234"),
            first_granted: &["necessary", "statistics"],
            second_granted: &["necessary", "third_party"],
        },
        Case {
            format: "klaro",
            cookie: "klaro",
            first: enc(r#"{"matomo":true,"youtube":false}"#),
            second: enc(r#"{"matomo":false,"youtube":true}"#),
            id: None,
            first_granted: &["necessary", "statistics"],
            second_granted: &["necessary", "third_party"],
        },
        Case {
            format: "cookiebot",
            cookie: "CookieConsent",
            first: "{stamp:%27bot-77%3D%3D%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1}".into(),
            second: "{stamp:%27bot-77%3D%3D%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:false%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:2}".into(),
            id: Some("bot-77=="),
            first_granted: &["necessary", "statistics"],
            second_granted: &["necessary", "first_party"],
        },
        Case {
            format: "onetrust",
            cookie: "OptanonConsent",
            first: "isGpcEnabled=0&datestamp=Tue+Oct+10+2023&consentId=ot-5b8b&groups=C0001%3A1%2CC0002%3A1%2CC0004%3A0".into(),
            second: "isGpcEnabled=0&datestamp=Wed+Oct+11+2023&consentId=ot-5b8b&groups=C0001%3A1%2CC0002%3A0%2CC0004%3A1".into(),
            id: Some("ot-5b8b"),
            first_granted: &["necessary", "statistics"],
            second_granted: &["necessary", "third_party"],
        },
        Case {
            format: "govuk",
            cookie: "cookies_policy",
            first: enc(r#"{"essential":true,"usage":true,"settings":false,"campaigns":false}"#),
            second: enc(r#"{"essential":true,"usage":false,"settings":true,"campaigns":false}"#),
            id: None,
            first_granted: &["necessary", "statistics"],
            second_granted: &["necessary", "first_party"],
        },
        Case {
            format: "django-cookie-consent",
            cookie: "cookie_consent",
            first: "\"statistics=2024-01-02T10:00:00+00:00|social=-1\"".into(),
            second: "\"statistics=-1|social=2024-01-02T10:00:00+00:00\"".into(),
            id: None,
            first_granted: &["necessary", "statistics"],
            second_granted: &["necessary", "third_party"],
        },
    ]
}

#[tokio::test]
async fn each_banner_format_is_observed_once_per_new_state() {
    let up = fixed(200, &[], "ok").await;
    for case in cases() {
        let dir = temp_dir(case.format);
        let store = sqlite(&dir);
        let p = common::proxy(&yaml(&up.url(), case.format, &store, "")).await;
        let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
        let first = format!("{}={}", case.cookie, case.first);
        let second = format!("{}={}", case.cookie, case.second);
        // Many requests, some at once: one record.
        let headers = [("cookie", first.as_str())];
        let burst = (0..8).map(|_| get(addr, PORTAL, "/", &headers));
        futures_util::future::join_all(burst).await;
        for _ in 0..4 {
            get(addr, PORTAL, "/datasets?q=1", &[("cookie", &first)]).await;
        }
        let found = records_when(&store, 1).await;
        assert_eq!(found.len(), 1, "{}: {found:?}", case.format);
        let r = &found[0];
        assert_eq!(r.event, Event::Observed, "{}", case.format);
        assert_eq!(r.source, case.format);
        assert_eq!(r.granted, case.first_granted, "{}", case.format);
        match case.id {
            Some(id) => assert_eq!(r.consent_id, id, "{}", case.format),
            None => assert!(r.consent_id.starts_with("sha256:"), "{}", case.format),
        }
        // Another state: recorded once more; for formats with IDs, the same ID.
        for _ in 0..3 {
            get(addr, PORTAL, "/", &[("cookie", &second)]).await;
        }
        let found = records_when(&store, 2).await;
        assert_eq!(found.len(), 2, "{}: {found:?}", case.format);
        assert_eq!(found[1].granted, case.second_granted, "{}", case.format);
        if case.id.is_some() {
            assert_eq!(found[1].consent_id, r.consent_id);
        }
        // An unreadable value is no evidence of consent: nothing.
        get(
            addr,
            PORTAL,
            "/",
            &[("cookie", &format!("{}=%7Bbroken", case.cookie))],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(records(&store).await.len(), 2, "{}", case.format);
        assert_eq!(metric(admin, "consentry_records_written_total").await, 2);
        // Consentry showed nothing for another banner.
        if case.format != "json" {
            assert!(found[0].language.is_none() && found[0].policy_sha256.is_none());
        }
        p.shutdown().await;
    }
}

#[tokio::test]
async fn records_survive_a_restart_and_a_known_state_is_not_recorded_again() {
    let dir = temp_dir("restart");
    let store = sqlite(&dir);
    let up = fixed(200, &[], "ok").await;
    let config = yaml(&up.url(), "onetrust", &store, "");
    let cookie = "OptanonConsent=consentId=r-1&groups=C0001%3A1%2CC0002%3A1";
    let p = common::proxy(&config).await;
    get(p.http_addr.unwrap(), PORTAL, "/", &[("cookie", cookie)]).await;
    assert!(p.shutdown().await);
    assert_eq!(records(&store).await.len(), 1, "flushed at shutdown");

    let p = common::proxy(&config).await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    get(addr, PORTAL, "/", &[("cookie", cookie)]).await;
    let started = Instant::now();
    while metric(admin, "consentry_records_deduplicated_total").await == 0
        && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        metric(admin, "consentry_records_deduplicated_total").await,
        1,
        "the store knew the state"
    );
    assert_eq!(records(&store).await.len(), 1);
    assert_eq!(metric(admin, "consentry_records_written_total").await, 0);
    p.shutdown().await;
}

#[tokio::test]
async fn records_older_than_retain_are_deleted() {
    let dir = temp_dir("retain");
    let store = sqlite(&dir);
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(&up.url(), "onetrust", &store, "  retain: 1s\n")).await;
    let addr = p.http_addr.unwrap();
    get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=old&groups=C0001%3A1")],
    )
    .await;
    assert_eq!(records_when(&store, 1).await.len(), 1);
    let started = Instant::now();
    while !records(&store).await.is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(records(&store).await.is_empty(), "expired within 10 s");
    // The state went with it: seen again after it expired, it is evidence again.
    get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=new&groups=C0001%3A1")],
    )
    .await;
    assert_eq!(records_when(&store, 1).await[0].consent_id, "new");
    p.shutdown().await;
}

#[tokio::test]
async fn a_store_that_cannot_open_leaves_the_proxy_serving_and_counts_the_losses() {
    let dir = temp_dir("down");
    let store = format!("sqlite:{}", dir.join("missing-dir/records.db").display());
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(&up.url(), "json", &store, "")).await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    let got = get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "cookies_preferences={\"statistics\":true}")],
    )
    .await;
    assert_eq!(got.status, 200);
    let consent = post_consent(addr, None, "choice=accept_all").await;
    assert_eq!(consent.status, 303, "the choice still applies");
    assert!(consent.set_cookies()[0].starts_with("cookies_preferences="));
    let started = Instant::now();
    while metric(admin, "consentry_records_dropped_total").await < 2
        && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(admin, "consentry_records_dropped_total").await, 2);
    assert!(metric(admin, "consentry_records_store_errors_total").await >= 1);
    let ready = get(admin, "admin", "/readyz", &[]).await;
    assert_eq!(ready.status, 200, "serving: ready");
    assert!(ready.text().contains("DOWN"), "{}", ready.text());
    assert_eq!(metric(admin, "consentry_records_store_up").await, 0);
    p.shutdown().await;
}

#[tokio::test]
async fn a_corrupt_sqlite_file_is_reported_and_never_overwritten() {
    let dir = temp_dir("corrupt");
    let file = dir.join("records.db");
    let garbage = b"this is not a database, but someone's notes\n".repeat(200);
    std::fs::write(&file, &garbage).unwrap();
    let store = format!("sqlite:{}", file.display());
    let up = fixed(200, &[], "ok").await;
    let p = common::proxy(&yaml(&up.url(), "json", &store, "")).await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    let got = get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "cookies_preferences={\"statistics\":true}")],
    )
    .await;
    assert_eq!(got.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "cookies_preferences={\"first_party\":true}")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = get(admin, "admin", "/readyz", &[]).await.text();
    assert!(ready.contains("not an SQLite database"), "{ready}");
    p.shutdown().await;
    assert_eq!(std::fs::read(&file).unwrap(), garbage, "left as it was");
    assert!(!dir.join("records.db-wal").exists());
}

/// Requests never wait on the store: with the SQLite file locked by another
/// process (every write waits 5 s, then fails), requests that each bring a new
/// consent state take as long as requests without records; the queue fills and
/// what does not fit is dropped and counted.
#[tokio::test]
async fn a_slow_store_never_slows_requests_and_losses_are_counted() {
    let dir = temp_dir("slow");
    let store = sqlite(&dir);
    let up = fixed(200, &[], "ok").await;
    let baseline = common::proxy(&common::config_yaml(&up.url(), "", "")).await;
    let p = common::proxy(&yaml(&up.url(), "json", &store, "  queue: 16\n")).await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    // Let the writer open the store, then lock it.
    get(addr, PORTAL, "/", &[("cookie", "cookies_preferences={}")]).await;
    records_when(&store, 1).await;
    let lock = rusqlite::Connection::open(dir.join("records.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();

    const N: usize = 300;
    let mut with_records = Vec::with_capacity(N);
    let mut without = Vec::with_capacity(N);
    for i in 0..N {
        // Alternate, so that both see the same machine load.
        let cookie = format!("cookies_preferences={{\"statistics\":true,\"n\":{i}}}");
        let t = Instant::now();
        assert_eq!(
            get(addr, PORTAL, "/", &[("cookie", &cookie)]).await.status,
            200
        );
        with_records.push(t.elapsed());
        let t = Instant::now();
        let b = baseline.http_addr.unwrap();
        assert_eq!(
            get(b, PORTAL, "/", &[("cookie", &cookie)]).await.status,
            200
        );
        without.push(t.elapsed());
    }
    with_records.sort();
    without.sort();
    let p50 = |v: &[Duration]| v[v.len() / 2];
    let p99 = |v: &[Duration]| v[v.len() * 99 / 100];
    eprintln!(
        "store locked: p50 {:?} p99 {:?}; records off: p50 {:?} p99 {:?}",
        p50(&with_records),
        p99(&with_records),
        p50(&without),
        p99(&without)
    );
    assert!(
        p50(&with_records) < p50(&without) * 3 + Duration::from_millis(2),
        "median latency unchanged"
    );
    assert!(
        p99(&with_records) < Duration::from_millis(500),
        "no request waited for the store's 5 s lock timeout"
    );
    let dropped = metric(admin, "consentry_records_dropped_total").await;
    assert!(
        dropped >= (N - 16 - 256 - 1) as u64 / 2,
        "dropped {dropped}"
    );
    drop(lock);
    p.shutdown().await;
}

#[tokio::test]
async fn the_admin_listener_pages_records_and_the_public_one_does_not_serve_them() {
    let dir = temp_dir("admin");
    let store = sqlite(&dir);
    let up = fixed(200, &[], "upstream page").await;
    let p = common::proxy(&yaml(&up.url(), "onetrust", &store, "")).await;
    let (addr, admin) = (p.http_addr.unwrap(), p.admin_addr.unwrap());
    for i in 0..5 {
        let cookie = format!(
            "OptanonConsent=consentId=v{}&groups=C0001%3A1%2CC0002%3A{}",
            i % 2,
            i / 2 % 2
        );
        get(addr, PORTAL, "/", &[("cookie", &cookie)]).await;
    }
    assert_eq!(records_when(&store, 4).await.len(), 4);
    let page: serde_json::Value =
        serde_json::from_str(&get(admin, "admin", "/records?limit=3", &[]).await.text()).unwrap();
    assert_eq!(page["records"].as_array().unwrap().len(), 3);
    let next = page["next"].as_str().unwrap().to_owned();
    let rest: serde_json::Value = serde_json::from_str(
        &get(
            admin,
            "admin",
            &format!("/records?limit=3&cursor={next}"),
            &[],
        )
        .await
        .text(),
    )
    .unwrap();
    assert_eq!(rest["records"].as_array().unwrap().len(), 1);
    assert!(rest["next"].is_null());
    let one: serde_json::Value = serde_json::from_str(
        &get(admin, "admin", "/records?consent_id=v1", &[])
            .await
            .text(),
    )
    .unwrap();
    let ids: Vec<&str> = one["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["consent_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["v1", "v1"]);
    assert_eq!(
        get(admin, "admin", "/records?since=yesterday", &[])
            .await
            .status,
        400
    );
    // The public listener passes /records to the site like any path.
    let public = get(addr, PORTAL, "/records", &[]).await;
    assert_eq!(public.text(), "upstream page");
    p.shutdown().await;
}

#[tokio::test]
async fn the_records_command_prints_jsonl_csv_and_the_policy_shown() {
    let dir = temp_dir("command");
    let store = sqlite(&dir);
    let up = fixed(200, &[], "ok").await;
    let config = yaml(&up.url(), "json", &store, "");
    let p = common::proxy(&config).await;
    let got = post_consent(p.http_addr.unwrap(), None, "choice=accept_all&return=%2Fa").await;
    assert_eq!(got.status, 303);
    p.shutdown().await;
    let file = dir.join("proxy.yaml");
    std::fs::write(&file, &config).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
            .arg("records")
            .arg("--config")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let jsonl = run(&[]);
    let record: Record = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(record.event, Event::Given);
    let csv = run(&["--format", "csv"]);
    assert!(
        csv.starts_with("record_id,schema_version,time,event,"),
        "{csv}"
    );
    assert!(
        csv.lines().nth(1).unwrap().contains(",given,endpoint,"),
        "{csv}"
    );
    let with_policy = run(&["--consent-id", &record.consent_id, "--with-policy"]);
    let line: serde_json::Value = serde_json::from_str(with_policy.trim()).unwrap();
    assert!(
        line["policy_text"]
            .as_str()
            .unwrap()
            .contains("Cookies on this site")
    );
    assert_eq!(run(&["--consent-id", "nobody"]), "");
    assert_eq!(run(&["--since", "2999-01-01T00:00:00Z"]), "");
}

#[tokio::test]
async fn a_reload_can_change_the_store() {
    let dir = temp_dir("reload");
    let first = format!("sqlite:{}", dir.join("a.db").display());
    let second = format!("sqlite:{}", dir.join("b.db").display());
    let up = fixed(200, &[], "ok").await;
    let file = dir.join("proxy.yaml");
    std::fs::write(&file, yaml(&up.url(), "onetrust", &first, "")).unwrap();
    let config = consentry::Config::load(&file).unwrap();
    let p = consentry::net::server::start(config, Some(file.clone()))
        .await
        .unwrap();
    let addr = p.http_addr.unwrap();
    let one = "OptanonConsent=consentId=one&groups=C0001%3A1";
    get(addr, PORTAL, "/", &[("cookie", one)]).await;
    assert_eq!(records_when(&first, 1).await.len(), 1);

    std::fs::write(&file, yaml(&up.url(), "onetrust", &second, "")).unwrap();
    p.reload().unwrap();
    get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=two&groups=C0001%3A1")],
    )
    .await;
    let found = records_when(&second, 1).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].consent_id, "two");
    assert_eq!(
        records(&first).await.len(),
        1,
        "the old store keeps its records"
    );
    // A reload that turns records off stops recording.
    std::fs::write(
        &file,
        yaml(&up.url(), "onetrust", &second, "")
            .replace("records:\n  store:", "# records:\n#  store:"),
    )
    .unwrap();
    p.reload().unwrap();
    get(
        addr,
        PORTAL,
        "/",
        &[("cookie", "OptanonConsent=consentId=three&groups=C0001%3A1")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(records(&second).await.len(), 1);
    p.shutdown().await;
}

/// A choice made in the French banner records the French text, under `fr`; one made
/// in the English banner, the English one: each record shows what its visitor read.
#[tokio::test]
async fn a_choice_records_the_policy_text_in_the_language_it_was_shown_in() {
    let dir = temp_dir("languages");
    let store = sqlite(&dir);
    let up = fixed(
        200,
        &[("content-type", "text/html")],
        "<html lang=\"fr\"><head></head><body></body></html>",
    )
    .await;
    let config = yaml(&up.url(), "json", &store, "").replace(
        "policy:\n  path:",
        "policy:\n  languages: [en, fr]\n  path:",
    );
    let p = common::proxy(&config).await;
    let addr = p.http_addr.unwrap();

    // The banner on a French page carries `lang=fr` in its form.
    let page = get(addr, PORTAL, "/", &[]).await.text();
    assert!(page.contains("name=\"lang\" value=\"fr\""), "{page}");

    post_consent(addr, None, "choice=save&category=statistics&lang=fr").await;
    post_consent(addr, None, "choice=save&category=statistics&lang=en").await;
    post_consent(addr, None, "choice=save&category=statistics&lang=xx").await;
    let found = records(&store).await;
    assert_eq!(found.len(), 3, "{found:?}");
    let languages: Vec<_> = found.iter().map(|r| r.language.clone().unwrap()).collect();
    assert_eq!(languages, ["fr", "en", "en"], "an unknown tag: the default");
    assert_ne!(found[0].policy_sha256, found[1].policy_sha256);
    assert_eq!(found[1].policy_sha256, found[2].policy_sha256);
    let url = StoreUrl::parse(&store, Path::new(".")).unwrap();
    let french = store::policy_text(&url, found[0].policy_sha256.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(french.contains("lang=\"fr\""), "{french}");
    p.shutdown().await;
}

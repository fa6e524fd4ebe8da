//! Consent records: what recording costs a request, and how fast each store writes.
//!
//! - `records_request/*`: the request path's recording step, after consent is read
//!   (`Records::observe`), for a request carrying a JSON preferences cookie:
//!   `off` (no `records` key), `seen` (records on, a value seen before: the common
//!   case, one table lookup), `new_state` (records on, every request a new state:
//!   consent ID, record built and queued with `try_send`). `consent_and_records/*`
//!   adds `RequestCookies::from_headers` + `Consent::read` to each, so the two
//!   groups read as "records off vs on" per request.
//! - `records_store/sqlite`: batches of 256 new records written to a fresh SQLite
//!   file (WAL, synchronous=FULL), one transaction per batch, through the same
//!   `Store::write` the writer task uses; throughput in records per second.
//! - `records_store/postgres`: the same against `CONSENTRY_BENCH_POSTGRES`
//!   (a postgres:// URL), when set: `bench/records.sh` starts a throwaway cluster.
//!
//! Run: `cargo bench --bench records -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use consentry::config::records::StoreUrl;
use consentry::consent::RequestCookies;
use consentry::net::hop::ClientInfo;
use consentry::ops::records::record::{Event, Record, format_time, now_ms, random_id};
use consentry::ops::records::store::{Item, State, Store};
use consentry::ops::records::{RecordMetrics, Records, SiteTable};
use consentry::{Config, Consent};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use http::header::COOKIE;
use http::{HeaderValue, Request};

const SHIPPED: &str = include_str!("../proxy.yaml");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("consentry-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn request(prefs: &str) -> Request<()> {
    let value = format!(
        "sessionid=8f2b1c9d0e7a4b3c; csrftoken=Yh3kL9pQ2rT5vW8xZ1aB4cD7eF0gH3jK; \
         django_language=en; _ga=GA1.2.1234567890.1700000000; cookies_preferences={prefs}"
    );
    let mut req = Request::new(());
    *req.uri_mut() = "/datasets?q=trees".parse().unwrap();
    req.headers_mut()
        .insert(COOKIE, HeaderValue::from_str(&value).unwrap());
    req
}

fn bench_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let dir = temp_dir("request");
    let config = Config::from_yaml(SHIPPED, "proxy.yaml", &dir).unwrap();
    let table = SiteTable::new(&config);
    let site = &config.sites[0];
    let categories = &config.categories;
    let client = ClientInfo::new("203.0.113.7:50000".parse().unwrap(), false);
    let mut registry = prometheus_client::registry::Registry::default();
    let off = Records::new(RecordMetrics::register(&mut registry));
    let on = Records::new(RecordMetrics::register(&mut registry));
    let mut records_config = config.records.clone().expect("proxy.yaml records");
    // Big enough that the new_state case measures queueing, not dropping.
    records_config.queue = 1 << 22;
    on.apply(Some(&records_config));

    let typical = r#"{"statistics":true,"first_party":false,"third_party":false,"rev":3,"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0"}"#;
    let seen = request(typical);
    let observe = |records: &Records, req: &Request<()>| {
        let cookies = RequestCookies::from_headers(req.headers());
        let consent = Consent::read(&cookies, false, &site.consent, categories);
        records.observe(
            &table, 0, site, categories, &consent, &cookies, req, &client,
        );
        consent
    };
    observe(&on, &seen);

    let mut group = c.benchmark_group("consent_and_records");
    group.bench_function("off", |b| b.iter(|| observe(&off, black_box(&seen))));
    group.bench_function("seen", |b| b.iter(|| observe(&on, black_box(&seen))));
    let mut n = 0u64;
    group.bench_function("new_state", |b| {
        b.iter_batched(
            || {
                n += 1;
                request(&format!(r#"{{"statistics":true,"id":"bench-{n}"}}"#))
            },
            |req| observe(&on, black_box(&req)),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // The recording step alone.
    let cookies = RequestCookies::from_headers(seen.headers());
    let consent = Consent::read(&cookies, false, &site.consent, categories);
    let mut group = c.benchmark_group("records_request");
    group.bench_function("off", |b| {
        b.iter(|| {
            off.observe(
                &table,
                0,
                site,
                categories,
                black_box(&consent),
                &cookies,
                &seen,
                &client,
            )
        })
    });
    group.bench_function("seen", |b| {
        b.iter(|| {
            on.observe(
                &table,
                0,
                site,
                categories,
                black_box(&consent),
                &cookies,
                &seen,
                &client,
            )
        })
    });
    group.finish();
    rt.block_on(on.shutdown(std::time::Duration::from_secs(30)));
    let _ = std::fs::remove_dir_all(&dir);
}

fn batch(n: usize, from: &mut u64) -> Vec<Item> {
    let now = now_ms();
    (0..n)
        .map(|_| {
            *from += 1;
            let consent_id = format!("bench-{from}");
            let granted = vec!["necessary".to_owned(), "statistics".to_owned()];
            Item {
                state: State {
                    site: "longbeach".into(),
                    consent_id: consent_id.clone(),
                    granted: granted.join(" "),
                    revision: -1,
                },
                record: Record {
                    record_id: random_id(),
                    schema_version: 1,
                    time: format_time(now),
                    event: Event::Observed,
                    source: "onetrust".into(),
                    consent_id,
                    site: "longbeach".into(),
                    granted,
                    refused: vec!["first_party".into(), "third_party".into()],
                    revision: None,
                    language: None,
                    policy_sha256: None,
                    path: "/explore/dataset/trees/".into(),
                    client_ip: None,
                    user_agent: None,
                },
                time_ms: now,
                policy: None,
            }
        })
        .collect()
}

fn bench_store(c: &mut Criterion) {
    const BATCH: usize = 256;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut targets = Vec::new();
    let dir = temp_dir("store");
    targets.push(("sqlite", StoreUrl::Sqlite(dir.join("records.db"))));
    if let Ok(url) = std::env::var("CONSENTRY_BENCH_POSTGRES") {
        targets.push(("postgres", StoreUrl::parse(&url, Path::new(".")).unwrap()));
    } else {
        eprintln!(
            "records_store/postgres skipped: set CONSENTRY_BENCH_POSTGRES (bench/records.sh does)"
        );
    }
    let mut group = c.benchmark_group("records_store");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    for (name, url) in targets {
        let mut store = rt.block_on(Store::open(&url)).unwrap();
        let store_ref = Arc::new(std::sync::Mutex::new(&mut store));
        let mut from = now_ms() as u64 * 1000;
        group.bench_function(name, |b| {
            b.iter_batched(
                || batch(BATCH, &mut from),
                |items| {
                    let mut store = store_ref.lock().unwrap();
                    rt.block_on(store.write(items)).unwrap()
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_request, bench_store);
criterion_main!(benches);

//! The cost of making trackers inert, against today's injection-only path, through
//! the public API (`inject::plan` + `inject::apply`, identity bodies):
//!
//! - `injection-only/30KB`: `trackers.block: false` (the link and head link only);
//! - `no-tracker/30KB`: trackers on, a visitor who granted nothing, a page with none
//!   (lol_html reads the whole page);
//! - `five-trackers/30KB`: the same with gtag, GTM, the Meta pixel, Hotjar and a
//!   YouTube embed in the page;
//! - `no-tracker/5MB`: rewriter throughput on a large page;
//! - `rules-N/30KB`: five trackers with N extra `trackers.rules` (10, 100, 1000).
//!
//! Run: `cargo bench --bench trackers -- --warm-up-time 1 --measurement-time 3`;
//! instructions per page, which this machine's noise does not move:
//! `bench/trackers_callgrind.sh`.

use std::path::Path;

mod support;

use bytes::Bytes;
use consentry::Config;
use consentry::html::inject::RequestFacts;
use consentry::net::reply;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::BodyExt;

const SHIPPED: &str = include_str!("../proxy.yaml");

const FIVE_TRACKERS: &str = r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}gtag('js',new Date());gtag('config','G-1');</script>
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);})(window,document,'script','dataLayer','GTM-1');</script>
<script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){};t=b.createElement(e);t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script','https://connect.facebook.net/en_US/fbevents.js');fbq('init','1');fbq('track','PageView');</script>
<script>(function(h,o,t,j,a,r){h.hj=h.hj||function(){};a=o.getElementsByTagName('head')[0];r=o.createElement('script');r.async=1;r.src=t+h._hjSettings.hjid+j;a.appendChild(r);})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');</script>
"#;

const VIDEO: &str = r#"<iframe width="560" height="315" src="https://www.youtube.com/embed/x" allowfullscreen></iframe>"#;

fn page(size: usize, trackers: bool) -> Bytes {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Open data portal</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         <script src=\"/static/app.js\" defer></script>{}\
         <style>body{{font-family:sans-serif}}</style></head>\n<body><main>\n",
        if trackers { FIVE_TRACKERS } else { "" }
    );
    let mut i = 0;
    while html.len() + 300 < size {
        html.push_str(&format!(
            "<div class=\"card\" data-id=\"{i}\"><h2><a href=\"/explore/dataset/ds-{i}/\">Dataset {i}: street trees &amp; parks</a></h2>\
             <p>Records of the city's <em>public</em> assets, updated daily.</p><img src=\"/static/icon-{i}.png\" alt=\"\">\
             <ul><li>Records: {}</li></ul></div>\n",
            i * 37 + 11
        ));
        if trackers && i == 20 {
            html.push_str(VIDEO);
        }
        i += 1;
    }
    html.push_str("</main></body></html>\n");
    Bytes::from(html)
}

/// The head of an identity HTML response of `len` bytes.
fn html_head(len: usize) -> http::response::Parts {
    http::Response::builder()
        .status(200)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .header(CONTENT_LENGTH, len)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn config(trackers_yaml: &str) -> Config {
    let text = SHIPPED.replacen("sites:\n", &format!("{trackers_yaml}sites:\n"), 1);
    Config::from_yaml(&text, "proxy.yaml", Path::new("."))
        .expect("the bench configuration compiles")
}

fn extra_rules(n: usize) -> String {
    let mut out = String::from("trackers:\n  rules:\n");
    for i in 0..n {
        out.push_str(&format!(
            "    - {{ url: \"stats{i}.example.org/js/*\", category: statistics, provider: Stats {i} }}\n"
        ));
    }
    out
}

fn bench_trackers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let request = http::Request::get("/explore/").body(()).unwrap();
    let facts = RequestFacts::of(&request);
    let mut group = c.benchmark_group("trackers");
    let cases: Vec<(String, Config, usize, bool)> = vec![
        (
            "injection-only".into(),
            config("trackers:\n  block: false\n"),
            30 * 1024,
            false,
        ),
        ("no-tracker".into(), config(""), 30 * 1024, false),
        ("five-trackers".into(), config(""), 30 * 1024, true),
        ("no-tracker".into(), config(""), 5 * 1024 * 1024, false),
        ("rules-10".into(), config(&extra_rules(10)), 30 * 1024, true),
        (
            "rules-100".into(),
            config(&extra_rules(100)),
            30 * 1024,
            true,
        ),
        (
            "rules-1000".into(),
            config(&extra_rules(1000)),
            30 * 1024,
            true,
        ),
    ];
    for (label, config, size, trackers) in cases {
        let consent = support::undecided_visitor(&config);
        let html = page(size, trackers);
        group.throughput(Throughput::Bytes(html.len() as u64));
        group.sample_size(if size > 1024 * 1024 { 10 } else { 50 });
        let head = html_head(html.len());
        let run = |mut parts: http::response::Parts, body: consentry::Body| {
            support::rewrite(&rt, &facts, &config, &consent, &mut parts, body)
        };
        let out = run(head.clone(), reply::full(html.clone()));
        if trackers && label != "injection-only" {
            assert!(
                out.windows(23).any(|w| w == b"data-consentry-category"),
                "{label}: trackers made inert"
            );
        }
        let size_label = if size > 1024 * 1024 { "5MB" } else { "30KB" };
        group.bench_function(BenchmarkId::new(label, size_label), |b| {
            b.iter_batched(
                || (head.clone(), reply::full(html.clone())),
                |(p, body)| run(p, body),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_trackers);

/// `TRACKERS_PAGES=CASE:N` rewrites N pages of one case (`inj`, `none`, `five`,
/// `big`, `rulesN`, `file=PATH`) and exits, for an instruction count under callgrind that the machine's
/// noise does not move (bench/trackers_callgrind.sh).
fn count_pages(spec: &str) {
    let (case, n) = spec.split_once(':').unwrap_or((spec, "100"));
    let n: usize = n.parse().expect("TRACKERS_PAGES=CASE:N");
    let (config, size, trackers) = match case {
        "inj" => (config("trackers:\n  block: false\n"), 30 * 1024, false),
        "none" => (config(""), 30 * 1024, false),
        "five" => (config(""), 30 * 1024, true),
        "big" => (config(""), 5 * 1024 * 1024, false),
        // Five trackers and N extra rules: `rules10`, `rules100`, `rules1000`.
        _ if case.starts_with("rules") => {
            let n: usize = case["rules".len()..].parse().expect("rulesN");
            (config(&extra_rules(n)), 30 * 1024, true)
        }
        // A page from a file (bench/load.sh's, say), trackers on or off.
        _ if case.starts_with("file=") || case.starts_with("fileinj=") => {
            let yaml = if case.starts_with("fileinj=") {
                "trackers:\n  block: false\n"
            } else {
                ""
            };
            (config(yaml), 0, false)
        }
        other => panic!("TRACKERS_PAGES: no case {other} (inj, none, five, big, file=PATH)"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let request = http::Request::get("/explore/").body(()).unwrap();
    let facts = RequestFacts::of(&request);
    let consent = support::undecided_visitor(&config);
    let html = match case.split_once('=') {
        Some((_, path)) => Bytes::from(std::fs::read(path).expect("TRACKERS_PAGES: the file")),
        None => page(size, trackers),
    };
    // The body in chunks of TRACKERS_CHUNK bytes (default: whole), as an upstream's
    // socket reads would cut it.
    let chunk: usize = std::env::var("TRACKERS_CHUNK")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let body = || -> consentry::Body {
        let pieces: Vec<Result<hyper::body::Frame<Bytes>, consentry::BoxError>> = html
            .chunks(chunk.max(1))
            .map(|c| Ok(hyper::body::Frame::data(html.slice_ref(c))))
            .collect();
        http_body_util::StreamBody::new(futures_util::stream::iter(pieces)).boxed_unsync()
    };
    let head = html_head(html.len());
    let mut total = 0;
    for _ in 0..n {
        let mut parts = head.clone();
        total += support::rewrite(&rt, &facts, &config, &consent, &mut parts, body()).len();
    }
    println!("{case}: {n} pages, {total} bytes out");
}

fn main() {
    if let Ok(spec) = std::env::var("TRACKERS_PAGES") {
        count_pages(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

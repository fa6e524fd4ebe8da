//! HTML injection throughput through the public API: `inject::plan` +
//! `inject::apply`, the rewritten body collected with `BodyExt::collect` on a tokio
//! current-thread runtime. Throughput is in bytes of *uncompressed* HTML, so the
//! identity and gzip rows compare directly (gzip = decode + rewrite + re-encode).
//!
//! Run: `cargo bench --bench inject -- --warm-up-time 1 --measurement-time 3`

use std::path::Path;

mod support;

use async_compression::tokio::bufread::{GzipDecoder, GzipEncoder};
use bytes::Bytes;
use consentry::Config;
use consentry::html::inject::RequestFacts;
use consentry::net::reply;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use tokio::io::AsyncReadExt;
use tokio::runtime::Runtime;

const SHIPPED: &str = include_str!("../proxy.yaml");
const LINK: &[u8] = b"<a href=\"/terms/cookies-policy/\"";

/// An HTML page of about `size` bytes: a head with styles and scripts, then dataset
/// cards with attributes, text and inline markup, then `</body></html>`.
fn page(size: usize) -> Bytes {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Open data portal</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         <script src=\"/static/app.js\" defer></script>\
         <style>body{font-family:sans-serif}.card{margin:1em;padding:1em}</style></head>\n\
         <body class=\"portal\"><header><nav><a href=\"/\">Home</a> <a href=\"/explore/\">Datasets</a></nav></header><main>\n",
    );
    let mut i = 0;
    while html.len() + 300 < size {
        html.push_str(&format!(
            "<div class=\"card\" data-id=\"{i}\"><h2><a href=\"/explore/dataset/ds-{i}/\">Dataset {i}: street trees &amp; parks</a></h2>\
             <p>Records of the city's <em>public</em> assets, updated daily. Licence: <strong>ODbL</strong>.</p>\
             <ul><li>Records: {}</li><li>Modified: 2024-01-0{}</li></ul></div>\n",
            i * 37 + 11,
            i % 9 + 1
        ));
        i += 1;
    }
    html.push_str("</main><footer>Powered by the portal</footer></body></html>\n");
    Bytes::from(html)
}

fn gzip(rt: &Runtime, data: &Bytes) -> Bytes {
    rt.block_on(async {
        let mut out = Vec::new();
        GzipEncoder::new(&data[..])
            .read_to_end(&mut out)
            .await
            .unwrap();
        Bytes::from(out)
    })
}

fn gunzip(rt: &Runtime, data: &Bytes) -> Bytes {
    rt.block_on(async {
        let mut out = Vec::new();
        GzipDecoder::new(&data[..])
            .read_to_end(&mut out)
            .await
            .unwrap();
        Bytes::from(out)
    })
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn bench_inject(c: &mut Criterion) {
    let config =
        Config::from_yaml(SHIPPED, "proxy.yaml", Path::new(".")).expect("proxy.yaml compiles");
    let consent = support::undecided_visitor(&config);
    let request = http::Request::get("/explore/")
        .header("host", "portal.test")
        .body(())
        .unwrap();
    let facts = RequestFacts::of(&request);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("inject");
    for (label, size) in [("30KB", 30 * 1024), ("5MB", 5 * 1024 * 1024)] {
        let html = page(size);
        let gz = gzip(&rt, &html);
        group.throughput(Throughput::Bytes(html.len() as u64));
        if size > 1024 * 1024 {
            group.sample_size(10);
        } else {
            group.sample_size(100);
        }
        for (coding, wire) in [("identity", &html), ("gzip", &gz)] {
            let mut builder = http::Response::builder()
                .status(200)
                .header(CONTENT_TYPE, "text/html; charset=utf-8")
                .header(CONTENT_LENGTH, wire.len());
            if coding == "gzip" {
                builder = builder.header(CONTENT_ENCODING, "gzip");
            }
            let (head, ()) = builder.body(()).unwrap().into_parts();

            let run = |mut parts: http::response::Parts, body: consentry::Body| {
                let out = support::rewrite(&rt, &facts, &config, &consent, &mut parts, body);
                (parts, out)
            };

            // Sanity: the link is there once and the page is otherwise intact.
            let (_, out) = run(head.clone(), reply::full(wire.clone()));
            let plain = if coding == "gzip" {
                gunzip(&rt, &out)
            } else {
                out
            };
            assert_eq!(count(&plain, LINK), 1, "{label} {coding}: one link");
            assert!(
                plain.len() > html.len() && plain.ends_with(b"</body></html>\n"),
                "{label} {coding}"
            );

            let batch = if size > 1024 * 1024 {
                BatchSize::PerIteration
            } else {
                BatchSize::LargeInput
            };
            group.bench_function(BenchmarkId::new(coding, label), |b| {
                b.iter_batched(
                    || (head.clone(), reply::full(wire.clone())),
                    |(p, body)| run(p, body),
                    batch,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_inject);
criterion_main!(benches);

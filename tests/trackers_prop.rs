//! The safety property of the tracker rewrite, for any page: built from random
//! tracker and non-tracker elements, split into random chunks, the rewritten page
//! keeps every non-tracker element byte for byte, in order, and no tracker element
//! of a refused category stays live.

use std::path::Path;

use bytes::Bytes;
use consentry::consent::RequestCookies;
use consentry::html::inject::{self, RequestFacts};
use consentry::{Config, Consent};
use futures_util::stream;
use http::header::CONTENT_TYPE;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use proptest::prelude::*;

const CONFIG: &str = include_str!("../proxy.yaml");

/// Elements that are not trackers: they must come out exactly as they went in.
const PLAIN: &[&str] = &[
    "<p>Street trees &amp; parks</p>",
    "<script src=\"/static/app.js\" defer></script>",
    "<script>console.log('portal', 1 < 2);</script>",
    "<img src=\"/static/logo.png\" srcset=\"/static/logo@2x.png 2x\" alt=\"\">",
    "<iframe src=\"/embed/map\" width=\"300\"></iframe>",
    "<a href=\"https://example.org/\" ping=\"/count\">out</a>",
    "<link rel=\"preconnect\" href=\"https://cdn.example.org\">",
    "<noscript><img src=\"/static/no-js.png\"></noscript>",
    "<script type=\"application/ld+json\">{\"@type\":\"Dataset\"}</script>",
    "<div class=card data-x='1'>unquoted <b>bold</div>",
];

/// Tracker elements of categories a visitor with no consent refuses.
const TRACKERS: &[&str] = &[
    "<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-1\"></script>",
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}gtag('config','G-1');</script>",
    "<script>fbq('init', '123'); fbq('track', 'PageView');</script>",
    "<img height=\"1\" width=\"1\" src=\"https://www.facebook.com/tr?id=123&amp;ev=PageView\">",
    "<iframe width=\"560\" height=\"315\" src=\"https://www.youtube.com/embed/abc\"></iframe>",
    "<link rel=\"dns-prefetch\" href=\"//www.google-analytics.com\">",
    "<noscript><img src=\"https://www.facebook.com/tr?id=1&noscript=1\"></noscript>",
    "<script type=\"text/javascript\" src=\"https://static.hotjar.com/c/hotjar-1.js?sv=6\"></script>",
    "<script>var _paq = window._paq = window._paq || []; _paq.push(['trackPageView']);</script>",
    "<a href=\"/x\" ping=\"https://www.google-analytics.com/collect\">x</a>",
];

/// What a live tracker looks like in the output: a loading attribute at a tracker
/// host, or an executable inline script with a signature.
fn live_tracker(html: &str) -> Option<String> {
    for host in [
        "www.googletagmanager.com",
        "www.facebook.com/tr",
        "www.youtube.com/embed",
        "www.google-analytics.com",
        "static.hotjar.com",
    ] {
        for attr in [" src=\"", " href=\"", " ping=\"", " srcset=\""] {
            for scheme in ["https://", "//"] {
                let needle = format!("{attr}{scheme}{host}");
                if html.contains(&needle) {
                    return Some(needle);
                }
            }
        }
    }
    // Each executable script's text: no signature.
    let mut at = 0;
    while let Some(found) = html[at..].find("<script") {
        let start = at + found;
        let Some(tag_len) = html[start..].find('>') else {
            break;
        };
        let tag_end = start + tag_len + 1;
        let close = html[tag_end..]
            .find("</script>")
            .map_or(html.len(), |e| tag_end + e);
        let (tag, text) = (&html[start..tag_end], &html[tag_end..close]);
        if !tag.contains("text/plain") && !tag.contains("ld+json") {
            for signature in ["gtag('config'", "fbq('init'", "_paq.push"] {
                if text.contains(signature) {
                    return Some(format!("{tag}{text}"));
                }
            }
        }
        at = tag_end;
    }
    None
}

fn rewrite(page: &str, cuts: &[usize]) -> String {
    let config = Config::from_yaml(CONFIG, "proxy.yaml", Path::new(".")).unwrap();
    let site = config.sites[0].clone();
    let consent = Consent::read(
        &RequestCookies::default(),
        false,
        &site.consent,
        &config.categories,
    );
    let request = http::Request::get("/").body(()).unwrap();
    let facts = RequestFacts::of(&request);
    let (mut head, ()) = http::Response::builder()
        .status(200)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .body(())
        .unwrap()
        .into_parts();
    let plan = inject::plan(
        &facts,
        &head,
        &site,
        &config.categories,
        "portal.test",
        &consent,
    )
    .unwrap();
    let bytes = page.as_bytes();
    let mut chunks = Vec::new();
    let mut last = 0;
    for &cut in cuts {
        let cut = cut % (bytes.len() + 1);
        if cut > last {
            chunks.push(Bytes::copy_from_slice(&bytes[last..cut]));
            last = cut;
        }
    }
    chunks.push(Bytes::copy_from_slice(&bytes[last..]));
    let body = StreamBody::new(stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, consentry::BoxError>(Frame::data(c))),
    ))
    .boxed_unsync();
    let out = inject::apply(plan, &mut head, body);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bytes = rt.block_on(async { out.collect().await.unwrap().to_bytes() });
    String::from_utf8(bytes.to_vec()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn non_trackers_pass_byte_for_byte_and_no_tracker_stays_live(
        picks in proptest::collection::vec((any::<bool>(), 0usize..10), 1..24),
        cuts in proptest::collection::vec(0usize..4096, 0..6),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let elements: Vec<(bool, &str)> = picks
            .iter()
            .map(|&(tracker, i)| (tracker, if tracker { TRACKERS[i] } else { PLAIN[i] }))
            .collect();
        let body: String = elements.iter().map(|(_, e)| format!("{e}\n")).collect();
        let page = format!("<!DOCTYPE html><html><head><title>t</title></head><body>\n{body}</body></html>");
        let out = rewrite(&page, &cuts);

        // Every non-tracker element, in order, byte for byte.
        let mut from = 0;
        for (tracker, element) in &elements {
            if *tracker {
                continue;
            }
            let at = out[from..].find(element);
            prop_assert!(at.is_some(), "{element} missing after {from} in\n{out}");
            from += at.unwrap() + element.len();
        }
        // No tracker live.
        let live = live_tracker(&out);
        prop_assert!(live.is_none(), "live tracker {live:?} in\n{out}");
    }
}

/// The property's check bites: every tracker element, as it came, is seen live, and
/// every plain one is not.
#[test]
fn the_liveness_check_sees_every_tracker_as_it_came() {
    for tracker in TRACKERS {
        assert!(live_tracker(tracker).is_some(), "{tracker}");
    }
    for plain in PLAIN {
        assert!(live_tracker(plain).is_none(), "{plain}");
    }
}

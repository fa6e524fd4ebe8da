use super::*;
use futures_util::StreamExt;

fn plan(body_markup: &str) -> Plan {
    Plan {
        scope: Scope::Body,
        banner: false,
        banner_possible: false,
        depends_on_consent: false,
        coding: Coding::Identity,
        encoding: AsciiCompatibleEncoding::utf_8(),
        charset_from_header: false,
        body_markup: Bytes::copy_from_slice(body_markup.as_bytes()),
        by_html_lang: None,
        head_markup: Arc::from("<link rel=\"privacy-policy\" href=\"/p\">"),
        guard_markup: None,
        trackers: None,
    }
}

async fn rewrite(chunks: Vec<Vec<u8>>, markup: &str) -> Vec<u8> {
    let input: ByteStream = Box::pin(futures_util::stream::iter(
        chunks.into_iter().map(|c| Ok(Bytes::from(c))),
    ));
    let mut out = Vec::new();
    let mut stream = Rewriting::new(plan(markup), input);
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test]
async fn inserts_before_the_body_end_tag_once_at_any_chunk_boundary() {
    let page = b"<html><head></head><body><p>x</p></body></html>".to_vec();
    for split in 1..page.len() {
        let out = rewrite(
            vec![page[..split].to_vec(), page[split..].to_vec()],
            "<a>L</a>",
        )
        .await;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<html><head><link rel=\"privacy-policy\" href=\"/p\"></head><body><p>x</p><a>L</a></body></html>",
            "split at {split}"
        );
    }
}

#[tokio::test]
async fn a_page_without_body_gets_the_markup_at_its_end() {
    let out = rewrite(vec![b"just text".to_vec()], "<a>L</a>").await;
    assert_eq!(out, b"just text<a>L</a>");
}

#[tokio::test]
async fn a_body_end_in_a_script_before_the_real_one_is_passed_over() {
    let page = b"<body><script>var s = '</body>';</script><p>y</p></body>".to_vec();
    let out = String::from_utf8(rewrite(vec![page], "<a>L</a>").await).unwrap();
    assert_eq!(out.matches("<a>L</a>").count(), 1);
    assert!(out.ends_with("<p>y</p><a>L</a></body>"), "{out}");
}

#[tokio::test]
async fn a_head_stage_that_gives_up_loses_no_byte() {
    // A <body> start tag far longer than the head stage looks at (or lol_html may
    // hold), arriving in small chunks: the stage hands over mid-tag.
    let mut page = b"<html><body data-x=\"".to_vec();
    page.extend(std::iter::repeat_n(b'a', REWRITER_MEMORY + 1024 * 1024));
    page.extend_from_slice(b"\"><div>z</div></body></html>");
    let chunks: Vec<Vec<u8>> = page.chunks(16 * 1024).map(<[u8]>::to_vec).collect();
    let out = rewrite(chunks, "<a>L</a>").await;
    let end = page.len() - b"</body></html>".len();
    let expected = [&page[..end], &b"<a>L</a>"[..], &page[end..]].concat();
    assert_eq!(out.len(), expected.len());
    assert!(
        out == expected,
        "every byte kept, the link still before </body>"
    );
}

#[test]
fn reads_content_codings() {
    let coding = |lines: &[&'static str]| {
        let mut headers = http::HeaderMap::new();
        for line in lines {
            headers.append(CONTENT_ENCODING, HeaderValue::from_static(line));
        }
        Coding::from_header(headers.get_all(CONTENT_ENCODING))
    };
    assert_eq!(coding(&[]), Some(Coding::Identity));
    assert_eq!(coding(&["GZIP"]), Some(Coding::Gzip));
    assert_eq!(coding(&["x-gzip"]), Some(Coding::Gzip));
    assert_eq!(coding(&["br"]), Some(Coding::Brotli));
    assert_eq!(coding(&["zstd"]), Some(Coding::Zstd));
    assert_eq!(coding(&["deflate"]), Some(Coding::Deflate));
    assert_eq!(coding(&["identity", "gzip"]), Some(Coding::Gzip));
    assert_eq!(coding(&["gzip, identity"]), Some(Coding::Gzip));
    assert_eq!(coding(&["gzip, br"]), None);
    assert_eq!(coding(&["compress"]), None);
}

/// A list split across fields is one list (a black-box audit found the second line
/// ignored, and the link appended to compressed bytes).
#[test]
fn two_content_encoding_lines_are_two_codings() {
    let mut headers = http::HeaderMap::new();
    headers.append(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.append(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    assert_eq!(Coding::from_header(headers.get_all(CONTENT_ENCODING)), None);
}

#[tokio::test]
async fn the_head_link_goes_into_head_not_header_or_comments() {
    let page = b"<!-- <head> --><html><head><title>t</title></head><body><header>h</header></body>"
        .to_vec();
    let out = String::from_utf8(rewrite(vec![page], "<a>L</a>").await).unwrap();
    assert_eq!(
        out,
        "<!-- <head> --><html><head><link rel=\"privacy-policy\" href=\"/p\"><title>t</title></head><body><header>h</header><a>L</a></body>"
    );
}

/// A regression found by a black-box audit: a UTF-16 page (by its byte order mark,
/// whatever `Content-Type` says) got ASCII markup appended, which browsers decode as
/// garbage.
#[tokio::test]
async fn a_utf16_page_by_its_byte_order_mark_passes_as_it_came() {
    let text = "<html><head></head><body>x</body></html>";
    for bom in [[0xFF, 0xFE], [0xFE, 0xFF]] {
        let mut page = bom.to_vec();
        for unit in text.encode_utf16() {
            let bytes = if bom[0] == 0xFF {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            };
            page.extend_from_slice(&bytes);
        }
        for split in [1, 2, 3, page.len() - 1] {
            let chunks = vec![page[..split].to_vec(), page[split..].to_vec()];
            assert_eq!(rewrite(chunks, "<a>L</a>").await, page, "split at {split}");
        }
        let bytewise = page.iter().map(|b| vec![*b]).collect();
        assert_eq!(rewrite(bytewise, "<a>L</a>").await, page);
    }
    // A UTF-8 byte order mark is ASCII-compatible: rewritten as usual.
    let mut utf8 = vec![0xEF, 0xBB, 0xBF];
    utf8.extend_from_slice(b"<body>x</body>");
    let out = rewrite(vec![utf8[..1].to_vec(), utf8[1..].to_vec()], "<a>L</a>").await;
    assert_eq!(out, b"\xEF\xBB\xBF<body>x<a>L</a></body>");
}

/// A document request offers only what the proxy can decode, so that the page comes
/// in a coding it can put the link into; other fetches keep their offers.
#[test]
fn a_document_request_offers_only_decodable_codings() {
    let restricted = |dest: Option<&'static str>, offers: &[&'static str]| {
        let mut headers = http::HeaderMap::new();
        if let Some(dest) = dest {
            headers.insert(SEC_FETCH_DEST, HeaderValue::from_static(dest));
        }
        for offer in offers {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_static(offer));
        }
        let uri = http::Uri::from_static("/");
        RequestFacts::new(&Method::GET, &uri, &headers).restrict_accept_encoding(&mut headers);
        headers
            .get_all(ACCEPT_ENCODING)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        restricted(None, &["gzip, deflate, br, zstd, dcb, dcz"]),
        ["gzip, deflate, br, zstd"]
    );
    assert_eq!(
        restricted(Some("document"), &["gzip;q=1.0, compress, *;q=0"]),
        ["gzip;q=1.0"]
    );
    assert_eq!(restricted(None, &["dcb", "dcz"]), ["identity"]);
    // Nothing to drop: left as it came, lines and all.
    assert_eq!(restricted(None, &["gzip", "BR"]), ["gzip", "BR"]);
    assert!(restricted(None, &[]).is_empty());
    // Not a document: its body is never rewritten.
    assert_eq!(restricted(Some("script"), &["br, dcb"]), ["br, dcb"]);
}

#[test]
fn reads_entity_tags_whole_even_with_commas_inside() {
    let tags: Vec<(bool, &[u8])> = entity_tags(br#" "a,b" ,W/"c", ,"""#).collect();
    assert_eq!(
        tags,
        [
            (false, &br#""a,b""#[..]),
            (true, &br#""c""#[..]),
            (false, &br#""""#[..])
        ]
    );
    // `*` and anything unquoted name no tag; an unterminated tag is not one.
    assert_eq!(entity_tags(b"*").count(), 0);
    assert_eq!(entity_tags(br#""a", xyz, "b""#).count(), 1);
    assert_eq!(entity_tags(br#""open"#).count(), 0);
}

/// The client revalidates the rewritten copy with `W/"x"`; the upstream's 304 says
/// `"x"`. The 304 must keep the client's copy weak.
#[test]
fn a_304_for_a_weakened_copy_keeps_it_weak() {
    let after_304_for =
        |dest: Option<&'static str>, if_none_match: &[&'static str], etag: &'static str| {
            let mut request = http::HeaderMap::new();
            if let Some(dest) = dest {
                request.insert(SEC_FETCH_DEST, HeaderValue::from_static(dest));
            }
            for line in if_none_match {
                request.append(IF_NONE_MATCH, HeaderValue::from_static(line));
            }
            let uri = http::Uri::from_static("/");
            let facts = RequestFacts::new(&Method::GET, &uri, &request);
            let mut response = http::HeaderMap::new();
            response.insert(ETAG, HeaderValue::from_static(etag));
            keep_client_validator(&facts, false, &mut response);
            response.get(ETAG).unwrap().to_str().unwrap().to_owned()
        };
    let after_304 = |if_none_match: &[&'static str], etag: &'static str| {
        after_304_for(None, if_none_match, etag)
    };
    assert_eq!(after_304(&[r#"W/"x""#], r#""x""#), r#"W/"x""#);
    assert_eq!(after_304(&[r#""y", W/"x""#], r#""x""#), r#"W/"x""#);
    // A strong copy (never rewritten: JSON, images) stays strong.
    assert_eq!(after_304(&[r#""x""#], r#""x""#), r#""x""#);
    // Both held: the strong copy exists, so the strong tag is not wrong.
    assert_eq!(after_304(&[r#"W/"x", "x""#], r#""x""#), r#""x""#);
    // Another tag, `*`, or no condition at all: as it came.
    assert_eq!(after_304(&[r#"W/"y""#], r#""x""#), r#""x""#);
    assert_eq!(after_304(&["*"], r#""x""#), r#""x""#);
    assert_eq!(after_304(&[], r#""x""#), r#""x""#);
    // Weak already.
    assert_eq!(after_304(&[r#"W/"x""#], r#"W/"x""#), r#"W/"x""#);
    // Not a document: never rewritten, so never weakened by this proxy.
    assert_eq!(
        after_304_for(Some("script"), &[r#"W/"x""#], r#""x""#),
        r#""x""#
    );
    assert_eq!(
        after_304_for(Some("document"), &[r#"W/"x""#], r#""x""#),
        r#"W/"x""#
    );
}

/// A 304 for a rewritten copy says what its 200 said: the weak tag and the `Vary`
/// (RFC 9110 §15.4.5), `Cookie` included when the banner could be on the page.
#[test]
fn a_304_for_a_rewritten_copy_varies_as_its_200_did() {
    let uri = http::Uri::from_static("/");
    let mut request = http::HeaderMap::new();
    request.insert(IF_NONE_MATCH, HeaderValue::from_static(r#"W/"x""#));
    let facts = RequestFacts::new(&Method::GET, &uri, &request);
    for (banner_on, vary) in [
        (false, vec!["Sec-Fetch-Dest"]),
        (true, vec!["Sec-Fetch-Dest", "Cookie"]),
    ] {
        let mut response = http::HeaderMap::new();
        response.insert(ETAG, HeaderValue::from_static(r#""x""#));
        keep_client_validator(&facts, banner_on, &mut response);
        let got: Vec<&str> = response
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(got, vary, "banner {banner_on}");
    }
    // A strong copy: its 304 is the upstream's business alone.
    let mut strong = http::HeaderMap::new();
    strong.insert(IF_NONE_MATCH, HeaderValue::from_static(r#""x""#));
    let facts = RequestFacts::new(&Method::GET, &uri, &strong);
    let mut response = http::HeaderMap::new();
    response.insert(ETAG, HeaderValue::from_static(r#""x""#));
    keep_client_validator(&facts, true, &mut response);
    assert!(response.get(VARY).is_none());
}

/// A re-audit cut an upstream's page short after its `</body>`: what the rewriter held
/// from there on was lost with it. It now goes out, then the error.
#[tokio::test]
async fn a_body_that_breaks_off_still_gets_what_came_then_the_error() {
    let chunks: Vec<std::io::Result<Bytes>> = vec![
        Ok(Bytes::from_static(b"<html><body>hello</body>")),
        Ok(Bytes::from_static(b"</html>")),
        Err(std::io::Error::other("upstream broke off")),
    ];
    let input: ByteStream = Box::pin(futures_util::stream::iter(chunks));
    let mut stream = Rewriting::new(plan("<a>L</a>"), input);
    let mut out = Vec::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "<html><body>hello<a>L</a></body></html>"
    );
    assert_eq!(
        error.expect("the break is passed on").to_string(),
        "upstream broke off"
    );
}

/// What one head stage gives for a page cut into pieces at `cuts`: its output, and
/// what it made of `<html lang>` ([`PageLanguage::chosen`]).
fn head_stage_output(page: &[u8], cuts: &[usize], scanned: bool) -> (Vec<u8>, usize) {
    static SITE: std::sync::LazyLock<Arc<Site>> = std::sync::LazyLock::new(|| {
        const YAML: &str = "listen: { http: 127.0.0.1:0 }\npolicy:\n  languages: [en, fr, de]\ncategories:\n  necessary: { required: true }\nsites:\n  - { name: s, hosts: [portal.test], upstream: 'http://127.0.0.1:1' }\n";
        let config = crate::Config::from_yaml(YAML, "t.yaml", std::path::Path::new(".")).unwrap();
        config.sites[0].clone()
    });
    let mut plan = plan("");
    plan.guard_markup = Some(Arc::from("<script src=\"/g.js\"></script>"));
    let chosen = Arc::new(AtomicUsize::new(UNDECIDED));
    plan.by_html_lang = Some(PageLanguage {
        site: SITE.clone(),
        show_banner: false,
        refused_by_gpc: false,
        path_and_query: Arc::from("/"),
        marked: false,
        chosen: chosen.clone(),
    });
    let mut head = if scanned {
        Head::Scanned(ScannedHead::new(&plan))
    } else {
        Head::LolHtml(Box::new(HeadStage::new(&plan)))
    };
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([&page.len()]) {
        let cut = cut.clamp(from, page.len());
        let (parsed, untouched) = head.push(Bytes::copy_from_slice(&page[from..cut]));
        out.extend_from_slice(&parsed);
        out.extend_from_slice(&untouched);
        from = cut;
    }
    out.extend_from_slice(&head.finish());
    (out, chosen.load(Ordering::Relaxed))
}

/// The head stages' outputs for one page cut into pieces at `cuts`: (lol_html's,
/// the scanned one's).
fn both_head_stages(page: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u8>) {
    let (lol_html, lol_html_lang) = head_stage_output(page, cuts, false);
    let (scanned, scanned_lang) = head_stage_output(page, cuts, true);
    assert_eq!(lol_html_lang, scanned_lang, "<html lang> read alike");
    (lol_html, scanned)
}

/// Pieces of a page's first bytes: what decides where the head markup goes, and what
/// only looks as if it did (in comments, scripts, titles, attribute values...).
const HEAD_PIECES: &[&str] = &[
    "<!DOCTYPE html>",
    "\n",
    "\u{feff}",
    "<head>",
    "<HEAD class=\"x\">",
    "<head\n data-a='>'>",
    "<head/>",
    "<body/>",
    "<body a=b/>",
    "<header>",
    "<heading>",
    "< head>",
    "</head>",
    "<body>",
    "<BODY onload=\"f()\">",
    "<body data-x=a>",
    "<bodyx>",
    "<script>var s = '<head>';</script>",
    "<script src=\"/a.js\"></script>",
    "<SCRIPT type=module>x</SCRIPT>",
    "<script><!--<script>'<body>'</script>--></script>",
    "<!-- Google Tag Manager --><script>(function(w,d,s,l,i){w[l]=w[l]||[];})(window,document,'script','dataLayer','GTM-X');</script>",
    "<scripts>",
    "<title><head></title>",
    "<style>head, body {}</style>",
    "<textarea><body></textarea>",
    "<noscript><head></noscript>",
    "<meta charset=\"utf-8\">",
    "<!-- <head> -->",
    "<!--->",
    "<!-->",
    "<?xml version=\"1.0\"?>",
    "<!x <body> >",
    "<a title='<head>' href=\"/\">",
    "<div data-x=\"<body>\">",
    "x<y",
    "<",
    "text",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        std::env::var("CONSENTRY_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    /// With tracker blocking on, the tracker stage's reader puts the head link and
    /// the guard where lol_html puts them: the same bytes, however the page is cut.
    #[test]
    fn the_scanned_head_places_the_markup_as_lol_html_does(
        start in proptest::option::of(proptest::sample::select(&[
            "<html>", "<html lang=\"fr\">", "<HTML\tlang=de-CH>", "<html LANG='it' lang=fr>",
            "<html lang=\" \">", "<html data-lang=fr>", "<html lang=\"fr\"/>",
            // Conditional comments: the first is all comment, the second's `<!-->`
            // ends at once and its `<html>` is a tag.
            "<!--[if lt IE 9]><html class=\"ie\" lang=\"fr\"><![endif]-->",
            "<!--[if !IE]><!--><html lang=\"de\"><!--<![endif]-->",
        ][..])),
        pieces in proptest::collection::vec(proptest::sample::select(HEAD_PIECES), 0..14),
        cuts in proptest::collection::vec(0usize..400, 0..6),
    ) {
        let page = [start.unwrap_or(""), &pieces.concat()].concat();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let (lol_html, scanned) = both_head_stages(page.as_bytes(), &cuts);
        proptest::prop_assert_eq!(
            String::from_utf8_lossy(&lol_html),
            String::from_utf8_lossy(&scanned),
            "page {:?}, cut at {:?}", page, cuts
        );
    }
}

#[test]
fn the_scanned_head_puts_the_guard_before_an_early_script_and_the_link_in_head() {
    let page = b"<!DOCTYPE html><script src=/x.js></script><!-- <head> --><head><title>t</title>";
    let (lol_html, scanned) = both_head_stages(page, &[20]);
    let want = "<!DOCTYPE html><script src=\"/g.js\"></script><script src=/x.js></script><!-- <head> --><head><link rel=\"privacy-policy\" href=\"/p\"><title>t</title>";
    assert_eq!(String::from_utf8_lossy(&scanned), want);
    assert_eq!(lol_html, scanned);
}

#[test]
fn a_scanned_head_past_its_budget_loses_no_byte() {
    // A <body> start tag far longer than the head stage looks at, in small pieces.
    let mut page = b"<html><body data-x=\"".to_vec();
    page.extend(std::iter::repeat_n(b'a', HEAD_BUDGET + 4096));
    page.extend_from_slice(b"\"><div>z</div></body></html>");
    let cuts: Vec<usize> = (1..page.len() / 1000).map(|i| i * 1000).collect();
    let (scanned, _) = head_stage_output(&page, &cuts, true);
    let guard = b"<script src=\"/g.js\"></script>";
    let expected = [&page[..6], &guard[..], &page[6..]].concat();
    assert!(
        scanned == expected,
        "every byte kept; no link past the budget, the guard where the stage stopped"
    );
}

#[test]
fn a_scanned_head_cut_into_tiny_pieces_reads_each_byte_a_bounded_number_of_times() {
    // A comment before `<head>` arriving two bytes at a time, each with a `>` that
    // may end it: every piece reads the comment again. Past its bound the stage
    // gives up as it does past its budget (no link, the guard before the comment),
    // and keeps every byte.
    let mut page = b"<!-- ".to_vec();
    page.extend(std::iter::repeat_n(&b"a>"[..], 2000).flatten());
    page.extend_from_slice(b" --><head><title>t</title>");
    let cuts: Vec<usize> = (1..page.len() / 2).map(|i| i * 2).collect();
    let (scanned, _) = head_stage_output(&page, &cuts, true);
    let guard = b"<script src=\"/g.js\"></script>";
    assert!(
        scanned == [&guard[..], &page].concat(),
        "every byte kept, and no link"
    );
    // The same page in a few pieces gets its link.
    let (lol_html, scanned) = both_head_stages(&page, &[1000, 3000]);
    assert!(String::from_utf8_lossy(&scanned).contains("<head><link rel=\"privacy-policy\""));
    assert_eq!(lol_html, scanned);
}

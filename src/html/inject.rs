//! Injecting the policy link (and, when asked, the consent banner) into HTML pages,
//! streaming.
//!
//! [`plan`] decides from the request and response heads whether a body is an HTML
//! document to rewrite; [`apply`] fixes the headers and wraps the body in a pipeline
//! of decode (gzip, deflate, br, zstd) → head stage → tracker stage → body-end stage
//! → re-encode, chunk by chunk, so a body of any size passes in constant memory.
//!
//! The head stage finds the one place where HTML structure matters (the `<head>`
//! start tag, not `<header>` or a comment: the head link and the guard script go
//! there, and `<html lang>` is read) and stops reading as soon as that is done. It is
//! lol_html ([`HeadStage`]) when trackers are not blocked, and the tracker stage's
//! own reader ([`head_scan`]) when they are: that stage reads the page anyway, and
//! lol_html over the page's first kilobyte cost more than the whole tracker scan of
//! a page without trackers. The tracker stage ([`crate::html::tracker_scan`]),
//! present when the visitor refuses a category some tracker belongs to, makes
//! tracker elements inert. The
//! body-end stage ([`body_end`]) follows DESIGN.md's textual rule, just
//! before the last `</body>`, with a SIMD search: parsing every tag of a page with
//! lol_html cost five times nginx's CPU per request (bench/README.md). The markup is ASCII (non-ASCII text is
//! written as character references), so it is the same bytes in any ASCII-compatible
//! charset the document declares.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use async_compression::Level;
use async_compression::tokio::bufread as codec;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, TryStreamExt};
use http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    ETAG, IF_NONE_MATCH, VARY,
};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use lol_html::html_content::ContentType;
use lol_html::send::{HtmlRewriter, Settings};
use lol_html::{AsciiCompatibleEncoding, MemorySettings, element};
use tokio::io::{AsyncBufRead, AsyncRead, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::config::Site;
use crate::consent::Consent;
use crate::cookies::category::Categories;
use crate::html::tracker_scan::TrackerStage;
use crate::html::trackers::{Sink, TrackerPass};
use crate::net::field_list;
use crate::{Body, BoxError};

/// A constant: a `&str` key would be parsed and lower-cased on every lookup.
const SEC_FETCH_DEST: http::HeaderName = http::HeaderName::from_static("sec-fetch-dest");

/// What the request says about the document it wants. Taken from every request, so
/// it borrows what the exchange already holds and copies nothing.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    pub method: &'a Method,
    /// `Sec-Fetch-Dest`, when sent.
    pub fetch_dest: Option<HeaderValue>,
    /// The request target, for the banner form's way back.
    pub uri: &'a http::Uri,
    /// `If-None-Match` (its first line: browsers send one): which copies the client
    /// holds, for a 304.
    pub if_none_match: Option<HeaderValue>,
    /// The request's `Cache-Control` says `no-transform`: the client wants the content
    /// as the origin sent it (RFC 9110 §7.7, RFC 9111 §5.2.1.6).
    pub no_transform: bool,
}

impl<'a> RequestFacts<'a> {
    pub fn of<B>(req: &'a Request<B>) -> Self {
        Self::new(req.method(), req.uri(), req.headers())
    }

    pub fn new(method: &'a Method, uri: &'a http::Uri, headers: &http::HeaderMap) -> Self {
        let mut facts = RequestFacts {
            method,
            fetch_dest: None,
            uri,
            if_none_match: None,
            no_transform: false,
        };
        // One pass over the fields, not a hashed lookup per name: cheaper for the one
        // to fifteen fields requests carry. A name's first line is the one `get` gives.
        for (name, value) in headers {
            if name == IF_NONE_MATCH {
                facts.if_none_match.get_or_insert_with(|| value.clone());
            } else if name == CACHE_CONTROL {
                facts.no_transform |= field_list::line_items(value)
                    .any(|directive| directive.eq_ignore_ascii_case(b"no-transform"));
            } else if name == SEC_FETCH_DEST {
                facts.fetch_dest.get_or_insert_with(|| value.clone());
            }
        }
        facts
    }

    /// Keeps a document request's `Accept-Encoding` to the codings this proxy can
    /// decode, so that the page comes in one it can put the link into (DESIGN.md: every
    /// HTML body). Browsers offer more (`dcb` and `dcz`, shared-dictionary Brotli and
    /// Zstandard, whenever a dictionary applies) and an upstream may pick them. Other
    /// fetches keep theirs: their bodies are never rewritten. Allocates only when an
    /// offer is dropped.
    pub fn restrict_accept_encoding(&self, headers: &mut http::HeaderMap) {
        if !self.wants_document() {
            return;
        }
        let value = {
            let items = || field_list::items(headers.get_all(ACCEPT_ENCODING));
            if items().all(decodable) {
                return;
            }
            let kept: Vec<&[u8]> = items().filter(|item| decodable(item)).collect();
            if kept.is_empty() {
                // No offer at all would mean any coding (RFC 9110 §12.5.3).
                HeaderValue::from_static("identity")
            } else {
                HeaderValue::from_bytes(&kept.join(&b", "[..]))
                    .unwrap_or(HeaderValue::from_static("identity"))
            }
        };
        headers.insert(ACCEPT_ENCODING, value);
    }

    /// Whether the request is for a frame's document.
    fn is_frame(&self) -> bool {
        self.fetch_dest.as_ref().is_some_and(|dest| {
            let dest = dest.as_bytes().trim_ascii();
            dest.eq_ignore_ascii_case(b"iframe") || dest.eq_ignore_ascii_case(b"frame")
        })
    }

    /// Whether the request is for a document (no `Sec-Fetch-Dest` counts as one).
    fn wants_document(&self) -> bool {
        self.fetch_dest.as_ref().is_none_or(|dest| {
            let dest = dest.as_bytes().trim_ascii();
            ["document", "iframe", "frame"]
                .iter()
                .any(|d| dest.eq_ignore_ascii_case(d.as_bytes()))
        })
    }
}

/// How a body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    /// The coding a `Content-Encoding` or `Accept-Encoding` token names, when this
    /// proxy can decode it (`identity` included).
    fn named(token: &[u8]) -> Option<Coding> {
        const NAMES: [(&str, Coding); 6] = [
            ("gzip", Coding::Gzip),
            ("x-gzip", Coding::Gzip),
            ("deflate", Coding::Deflate),
            ("br", Coding::Brotli),
            ("zstd", Coding::Zstd),
            ("identity", Coding::Identity),
        ];
        NAMES
            .iter()
            .find(|(name, _)| token.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, coding)| *coding)
    }

    /// The one coding of every `Content-Encoding` field together: a list may be split
    /// across fields (RFC 9110 §5.3), so `identity` on one line and `gzip` on the next
    /// is gzip. `identity` and empty items name no coding; two codings, or one this
    /// proxy cannot decode, leave the body alone (`None`).
    fn from_header(values: http::header::GetAll<'_, HeaderValue>) -> Option<Coding> {
        let mut found = Coding::Identity;
        for item in field_list::items(values) {
            let coding = Coding::named(item)?;
            if coding == Coding::Identity {
                continue;
            }
            if found != Coding::Identity {
                return None;
            }
            found = coding;
        }
        Some(found)
    }
}

/// Whether an `Accept-Encoding` item (`br`, `gzip;q=0.8`) names a coding this proxy
/// can decode.
fn decodable(item: &[u8]) -> bool {
    let token = item.split(|b| *b == b';').next().unwrap_or_default();
    Coding::named(token.trim_ascii()).is_some()
}

/// A decision to rewrite one response body.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What changes.
    scope: Scope,
    /// The consent banner goes in: the page is then this visitor's alone.
    banner: bool,
    /// The banner would go in for a visitor who has not chosen: the page depends on
    /// the consent cookie.
    banner_possible: bool,
    /// The guard's URL and the tracker rewrite follow the visitor's consent.
    depends_on_consent: bool,
    coding: Coding,
    encoding: AsciiCompatibleEncoding,
    /// Whether the charset came from `Content-Type` (then a `<meta charset>` must not
    /// override it).
    charset_from_header: bool,
    /// Goes just before `</body>`, or at the end.
    body_markup: Bytes,
    /// When `Content-Language` did not decide the page's language: what `<html lang>`
    /// may change in `body_markup` (see [`PageLanguage`]).
    by_html_lang: Option<PageLanguage>,
    /// Goes first in `<head>`.
    head_markup: Arc<str>,
    /// The guard script's tag: first in `<head>` after the head link, or before the
    /// first script or in `<body>` when the page has no `<head>` tag.
    guard_markup: Option<Arc<str>>,
    /// Tracker elements to make inert: the whole page is then parsed.
    trackers: Option<Arc<TrackerPass>>,
}

/// The injected markup's language when only `<html lang>` can tell it: the head
/// stage reads the attribute (the `<html>` start tag comes before any of the body,
/// so before the body-end stage emits anything), and the body markup is rendered
/// again only when that changes it: another site language, or the default marked
/// with `lang`/`dir` because the page's declared language is none of the site's.
#[derive(Debug, Clone)]
pub struct PageLanguage {
    site: Arc<Site>,
    show_banner: bool,
    refused_by_gpc: bool,
    path_and_query: Arc<str>,
    /// The body markup as planned is the default language, marked (the response's
    /// `Content-Language` named languages, none of the site's).
    marked: bool,
    /// What `<html lang>` decided: [`UNDECIDED`], [`KEEP`], a site language's
    /// index, or the number of site languages for "the default, marked".
    chosen: Arc<AtomicUsize>,
}

/// `<html lang>` has not been read.
const UNDECIDED: usize = usize::MAX;
/// `<html lang>` left the planned markup as it is.
const KEEP: usize = usize::MAX - 1;

impl PageLanguage {
    /// Reads `<html lang>`: returns the site language it matched, if any.
    fn read(&self, lang: Option<&str>) -> Option<usize> {
        let languages = &self.site.policy.languages;
        let lang = lang.map(str::trim).filter(|l| !l.is_empty());
        let (choice, matched) = match lang.map(|l| languages.match_tag(l)) {
            Some(Some(i)) => (i, Some(i)),
            Some(None) => (languages.all().len(), None),
            None => (KEEP, None),
        };
        let same = choice == KEEP
            || (choice == 0 && !self.marked)
            || (choice == languages.all().len() && self.marked);
        self.chosen
            .store(if same { KEEP } else { choice }, Ordering::Relaxed);
        matched
    }

    /// The body markup `<html lang>` asks for, when it differs from the planned one.
    fn markup(&self) -> Option<Bytes> {
        let chosen = self.chosen.load(Ordering::Relaxed);
        if chosen == UNDECIDED || chosen == KEEP {
            return None;
        }
        let count = self.site.policy.languages.all().len();
        let (language, marked) = if chosen < count {
            (chosen, false)
        } else {
            (0, true)
        };
        Some(crate::pages::policy::body_markup(
            &self.site,
            language,
            marked,
            self.show_banner,
            self.refused_by_gpc,
            &self.path_and_query,
        ))
    }
}

/// How much of a response a [`Plan`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The headers and the body.
    Body,
    /// Only the headers: the head GET would get (a HEAD request).
    Headers,
    /// Only `Vary`: a fetch that is not for a document (`Sec-Fetch-Dest: image`...)
    /// gets the page as it came, and a document request would not.
    Vary,
    /// Only `Vary`, `Cache-Control` among it: the client asked for the content as the
    /// origin sent it (`Cache-Control: no-transform`), and a cache must not give that
    /// copy, without link or banner, to the visitors who did not.
    Declined,
}

/// Whether and how to rewrite this response (DESIGN.md, response step 4).
pub fn plan(
    req: &RequestFacts,
    head: &http::response::Parts,
    site: &Arc<Site>,
    categories: &Arc<Categories>,
    page_host: &str,
    consent: &Consent,
) -> Option<Plan> {
    let status = head.status;
    if status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
        )
    {
        return None;
    }
    let headers = &head.headers;
    // The type first: it rules out most responses (JSON, images, scripts) at once.
    let content_type = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("text/html") {
        return None;
    }
    if has_no_transform(headers) {
        return None;
    }
    if headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0")
    {
        return None;
    }
    let charset = params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_owned())
    });
    let (encoding, charset_from_header) = match charset {
        Some(label) => {
            let encoding = encoding_rs::Encoding::for_label_no_replacement(label.as_bytes())?;
            (AsciiCompatibleEncoding::new(encoding)?, true)
        }
        None => (AsciiCompatibleEncoding::utf_8(), false),
    };
    let coding = Coding::from_header(headers.get_all(CONTENT_ENCODING))?;
    let scope = if !req.wants_document() {
        Scope::Vary
    } else if req.no_transform {
        Scope::Declined
    } else if *req.method == Method::HEAD {
        // HEAD gets the head GET would get (RFC 9110 §9.3.2), and no body to rewrite.
        Scope::Headers
    } else {
        Scope::Body
    };
    let rewritten = matches!(scope, Scope::Body | Scope::Headers);
    let banner_possible = scope != Scope::Vary && banner_possible(req, site.policy.banner);
    let show_banner = rewritten && banner_possible && !consent.has_choice();
    // The page's language (DESIGN.md, "Languages"): its `Content-Language`, else its
    // `<html lang>` (read by the head stage), else the site's default.
    let languages = &site.policy.languages;
    let content_language = headers.get_all(http::header::CONTENT_LANGUAGE);
    let from_header =
        languages.from_content_language(content_language.iter().map(HeaderValue::as_bytes));
    // The link carries `lang` and `dir` when the page declares a language that is
    // none of the site's (the banner and placeholders always carry them).
    let marked = from_header.is_none()
        && content_language
            .iter()
            .any(|v| !v.as_bytes().trim_ascii().is_empty());
    let language = from_header.unwrap_or(0);
    let path_and_query = req.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let refused_by_gpc = !consent.refused_by_gpc().is_empty();
    let body_markup = if rewritten {
        crate::pages::policy::body_markup(
            site,
            language,
            marked,
            show_banner,
            refused_by_gpc,
            path_and_query,
        )
    } else {
        Bytes::new()
    };
    let by_html_lang = (scope == Scope::Body && from_header.is_none()).then(|| PageLanguage {
        site: site.clone(),
        show_banner,
        refused_by_gpc,
        path_and_query: Arc::from(path_and_query),
        marked,
        chosen: Arc::new(AtomicUsize::new(UNDECIDED)),
    });
    // Trackers (DESIGN.md, response step 5): the guard in every rewritten document,
    // and the whole page parsed when the visitor refuses a category trackers belong to.
    let blocking = site.trackers.block;
    let granted = consent.granted();
    let guard_markup = (rewritten && blocking).then(|| Arc::from(site.trackers.guard.tag(granted)));
    let trackers = (scope == Scope::Body && blocking && site.trackers.matcher.any_refused(granted))
        .then(|| {
            let pass = TrackerPass::new(
                site.clone(),
                categories.clone(),
                granted,
                page_host.to_owned(),
                req.uri
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str())
                    .to_owned(),
            );
            pass.language.store(language, Ordering::Relaxed);
            Arc::new(pass)
        });
    Some(Plan {
        scope,
        banner: show_banner,
        banner_possible,
        depends_on_consent: blocking,
        coding,
        encoding,
        charset_from_header,
        body_markup,
        by_html_lang,
        head_markup: site.policy.head_markup.clone(),
        guard_markup,
        trackers,
    })
}

/// Whether a message's `Cache-Control` says `no-transform`.
fn has_no_transform(headers: &http::HeaderMap) -> bool {
    field_list::items(headers.get_all(CACHE_CONTROL))
        .any(|directive| directive.eq_ignore_ascii_case(b"no-transform"))
}

/// Whether the banner would go on this document for a visitor who has not chosen:
/// on pages a visitor navigates to, not into frames (the parent shows it, and a
/// cross-site frame cannot store the choice), and not on the answer to a form post,
/// which reloading after the choice would post again.
fn banner_possible(req: &RequestFacts, banner_on: bool) -> bool {
    banner_on && matches!(*req.method, Method::GET | Method::HEAD) && !req.is_frame()
}

/// Fixes the headers for a rewritten body and returns the rewritten body.
pub fn apply(plan: Plan, head: &mut http::response::Parts, body: Body) -> Body {
    let headers = &mut head.headers;
    // Whether the body is rewritten depends on `Sec-Fetch-Dest`: a cache must not give
    // one kind of fetch the copy made for another (RFC 9110 §12.5.5).
    vary_on(headers, "Sec-Fetch-Dest");
    if plan.scope == Scope::Vary {
        return body;
    }
    if plan.banner_possible || plan.depends_on_consent {
        // With or without the banner, the page depends on the visitor's consent
        // cookie (the banner, the guard's URL, trackers made inert): a shared cache
        // must not give one visitor's copy to another.
        vary_on(headers, "Cookie");
    }
    if plan.scope == Scope::Declined {
        vary_on(headers, "Cache-Control");
        return body;
    }
    if plan.banner {
        // A page with the banner is this visitor's, until they choose: no cache may
        // keep it, or the banner would come back from it after the choice. That
        // includes the caches that read their own headers first (RFC 9213's
        // CDN-Cache-Control, Surrogate-Control, nginx's X-Accel-Expires).
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        for name in SURROGATE_CACHE {
            headers.remove(name);
        }
    }
    headers.remove(CONTENT_LENGTH);
    headers.remove(ACCEPT_RANGES);
    // Checksums of the body as the upstream sent it (RFC 9530; `Digest`, RFC 3230;
    // `Content-MD5`, RFC 1864) would be wrong for the rewritten one.
    for name in DIGESTS {
        headers.remove(name);
    }
    // The rewritten body is not the upstream's byte for byte: its tag can only be weak
    // (RFC 9110 §8.8.3), which also keeps `If-Range` from splicing ranges of the
    // upstream's bytes into it (§13.1.5).
    if let Some(weak) = headers.get(ETAG).and_then(weakened) {
        headers.insert(ETAG, weak);
    }
    if plan.scope == Scope::Headers {
        return body;
    }
    rewrite_body(plan, body)
}

/// `W/` + a strong entity tag; `None` when it is weak already.
fn weakened(etag: &HeaderValue) -> Option<HeaderValue> {
    let tag = etag.as_bytes();
    if tag.starts_with(b"W/") {
        return None;
    }
    let mut weak = Vec::with_capacity(tag.len() + 2);
    weak.extend_from_slice(b"W/");
    weak.extend_from_slice(tag);
    HeaderValue::from_bytes(&weak).ok()
}

/// Keeps a 304's `ETag` the one the client's copy carries. A page this proxy rewrote
/// went out with its tag weakened (`W/"x"`), and the client revalidates with that; the
/// upstream compares weakly (RFC 9110 §13.1.2) and answers 304 with its strong `"x"`.
/// Caches then update the stored copy with the 304's fields (RFC 9111 §4.3.4), which
/// would make the rewritten copy strong again. So when a document request (only
/// those are rewritten) holds `W/"x"` and not `"x"` itself, the 304 says `W/"x"`,
/// with the `Vary` the rewritten 200 had (RFC 9110 §15.4.5; `banner_on`: the site's
/// `policy.banner`). Other 304s pass as they came.
pub fn keep_client_validator(req: &RequestFacts, banner_on: bool, headers: &mut http::HeaderMap) {
    let (Some(if_none_match), Some(etag)) = (&req.if_none_match, headers.get(ETAG)) else {
        return;
    };
    if !req.wants_document() {
        return;
    }
    let upstream_tag = etag.as_bytes();
    if upstream_tag.starts_with(b"W/") {
        return;
    }
    let (mut holds_weak, mut holds_strong) = (false, false);
    for (weak, tag) in entity_tags(if_none_match.as_bytes()) {
        if tag == upstream_tag {
            if weak {
                holds_weak = true;
            } else {
                holds_strong = true;
            }
        }
    }
    if holds_weak && !holds_strong {
        if let Some(weak) = weakened(etag) {
            headers.insert(ETAG, weak);
            vary_on(headers, "Sec-Fetch-Dest");
            if banner_possible(req, banner_on) {
                vary_on(headers, "Cookie");
            }
        }
    }
}

/// The entity tags of an `If-None-Match` line (RFC 9110 §8.8.3, §13.1.2), each as
/// whether it is weak and the quoted tag, quotes included. A tag may hold commas, so
/// the line is read tag by tag, not split on commas; reading stops at anything else
/// (`*` included, which names no tag).
fn entity_tags(line: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    let mut rest = line;
    std::iter::from_fn(move || {
        rest = rest.trim_ascii_start();
        while let [b',', tail @ ..] = rest {
            rest = tail.trim_ascii_start();
        }
        let (weak, quoted) = match rest.strip_prefix(b"W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let [b'"', inner @ ..] = quoted else {
            rest = &[];
            return None;
        };
        let Some(end) = inner.iter().position(|&b| b == b'"') else {
            rest = &[];
            return None;
        };
        let tag = &quoted[..end + 2];
        rest = &inner[end + 1..];
        Some((weak, tag))
    })
}

/// Adds `name` to `Vary` unless it is there already or `Vary` is `*`.
fn vary_on(headers: &mut http::HeaderMap, name: &'static str) {
    let listed = field_list::items(headers.get_all(VARY))
        .any(|item| item == b"*" || item.eq_ignore_ascii_case(name.as_bytes()));
    if !listed {
        headers.append(VARY, HeaderValue::from_static(name));
    }
}

/// Cache instructions meant for caches between the origin and the browser, which
/// read them before `Cache-Control`.
const SURROGATE_CACHE: [HeaderName; 3] = [
    HeaderName::from_static("cdn-cache-control"),
    HeaderName::from_static("surrogate-control"),
    HeaderName::from_static("x-accel-expires"),
];

/// Headers that checksum the body, dropped when it is rewritten.
const DIGESTS: [HeaderName; 4] = [
    HeaderName::from_static("content-digest"),
    HeaderName::from_static("repr-digest"),
    HeaderName::from_static("digest"),
    HeaderName::from_static("content-md5"),
];

/// Input chunks are read in pieces of at most this size after decoding.
const CHUNK: usize = 16 * 1024;

/// The most memory lol_html may use for one response; past it the head stage hands
/// over without its link (see [`HeadStage`]).
const REWRITER_MEMORY: usize = 1024 * 1024;

fn rewrite_body(plan: Plan, body: Body) -> Body {
    let coding = plan.coding;
    if coding == Coding::Identity {
        let data = BodyStream::new(body)
            .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
            .map_err(|e: BoxError| std::io::Error::other(e));
        let rewritten = Rewriting::new(plan, Box::pin(data));
        return StreamBody::new(rewritten.map_ok(Frame::data).map_err(BoxError::from))
            .boxed_unsync();
    }
    // decode → rewrite → encode, falling back to the body as it came (decode.rs).
    let source = decode::Source::new(body);
    let decoded = ReaderStream::with_capacity(
        decoder(coding, BufReader::new(StreamReader::new(source.tee()))),
        CHUNK,
    );
    let decoded = decode::Decoded::new(decoded, source.clone(), coding);
    let rewritten = Rewriting::new(plan, Box::pin(decoded));
    let encoded = ReaderStream::with_capacity(
        encoder(coding, BufReader::new(StreamReader::new(rewritten))),
        CHUNK,
    );
    let body = decode::Fallback::new(encoded, source, coding);
    StreamBody::new(body.map_ok(Frame::data).map_err(BoxError::from)).boxed_unsync()
}

type Reader = Pin<Box<dyn AsyncRead + Send>>;

fn decoder<R: AsyncBufRead + Unpin + Send + 'static>(coding: Coding, input: R) -> Reader {
    match coding {
        Coding::Identity => Box::pin(input),
        // A gzip body may hold several members (RFC 1952 §2.2) and a zstd body several
        // frames (RFC 8878 §3.1), as browsers read them: all of them, not the first.
        Coding::Gzip => {
            let mut decoder = codec::GzipDecoder::new(input);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
        Coding::Deflate => Box::pin(decode::DeflateDecoder::new(input)),
        Coding::Brotli => Box::pin(codec::BrotliDecoder::new(input)),
        Coding::Zstd => {
            let mut decoder = codec::ZstdDecoder::new(input);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
    }
}

/// Re-encodes at a level meant for streaming (brotli's default 11 is for static files).
fn encoder<R: AsyncBufRead + Send + 'static>(coding: Coding, input: R) -> Reader {
    match coding {
        Coding::Identity => Box::pin(input),
        Coding::Gzip => Box::pin(codec::GzipEncoder::with_quality(input, Level::Default)),
        Coding::Deflate => Box::pin(codec::ZlibEncoder::with_quality(input, Level::Default)),
        // A 256 KiB window (lgwin 18) instead of 4 MiB: the encoder's memory per
        // response in flight, for a ratio on pages within a few percent.
        Coding::Brotli => Box::pin(codec::BrotliEncoder::with_params(
            input,
            async_compression::brotli::EncoderParams::default()
                .quality(Level::Precise(4))
                .window_size(18)
                .text_mode(),
        )),
        Coding::Zstd => Box::pin(codec::ZstdEncoder::with_quality(input, Level::Default)),
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The `<head>` stage: lol_html, which knows a `<head>` start tag from `<header>`,
/// a comment or a script, puts the `<link rel="privacy-policy">` first in `<head>`.
/// Its work ends at the `<head>` (or `<body>`) start tag, or after [`HEAD_BUDGET`]
/// bytes: then it hands over, and the rest of the page is never parsed.
///
/// Handing over (like bailing out on an error) loses nothing: the bytes lol_html was
/// still holding are recovered from `held`, the tail of the input it has not emitted.
struct HeadStage {
    rewriter: Option<HtmlRewriter<'static, Sink>>,
    sink: Sink,
    /// Set by the handlers when lol_html is no longer needed.
    finished: Arc<AtomicBool>,
    /// Bytes of markup the handlers inserted so far.
    inserted: Arc<AtomicUsize>,
    /// Input bytes fed to the rewriter, and output bytes taken from it.
    fed: usize,
    emitted: usize,
    held: BytesMut,
}

/// A page with no `<head>` or `<body>` start tag in its first bytes gets no head link.
const HEAD_BUDGET: usize = 64 * 1024;

/// How much lol_html is given at a time before checking whether it is still needed.
const HEAD_SLICE: usize = 1024;

impl HeadStage {
    fn new(plan: &Plan) -> Self {
        let sink = Sink::default();
        let inserted = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        // The guard goes once: into `<head>`, else before the first script or first
        // in `<body>`, whichever comes first.
        let guard_placed = Arc::new(AtomicBool::new(plan.guard_markup.is_none()));
        let guard = plan.guard_markup.clone().unwrap_or_else(|| Arc::from(""));
        let link_markup = plan.head_markup.clone();
        let head_guard_markup = guard.clone();
        let (head_finished, body_finished) = (finished.clone(), finished.clone());
        let (head_guard, script_guard, body_guard) = (
            guard_placed.clone(),
            guard_placed.clone(),
            guard_placed.clone(),
        );
        let (head_count, script_count, body_count) =
            (inserted.clone(), inserted.clone(), inserted.clone());
        let (script_markup, body_markup) = (guard.clone(), guard);
        let mut handlers = vec![
            element!("head", move |el| {
                if !head_finished.swap(true, Ordering::Relaxed) {
                    let mut markup = link_markup.to_string();
                    if !head_guard.swap(true, Ordering::Relaxed) {
                        markup.push_str(&head_guard_markup);
                    }
                    if !markup.is_empty() {
                        el.prepend(&markup, ContentType::Html);
                        head_count.fetch_add(markup.len(), Ordering::Relaxed);
                    }
                }
                Ok(())
            }),
            element!("script", move |el| {
                if !script_guard.swap(true, Ordering::Relaxed) {
                    el.before(&script_markup, ContentType::Html);
                    script_count.fetch_add(script_markup.len(), Ordering::Relaxed);
                }
                Ok(())
            }),
            element!("body", move |el| {
                if !body_guard.swap(true, Ordering::Relaxed) {
                    el.prepend(&body_markup, ContentType::Html);
                    body_count.fetch_add(body_markup.len(), Ordering::Relaxed);
                }
                body_finished.store(true, Ordering::Relaxed);
                Ok(())
            }),
        ];
        if let Some(page) = &plan.by_html_lang {
            let page = page.clone();
            let pass = plan.trackers.clone();
            handlers.push(element!("html", move |el| {
                if page.chosen.load(Ordering::Relaxed) == UNDECIDED {
                    let found = page.read(el.get_attribute("lang").as_deref());
                    if let (Some(pass), Some(found)) = (&pass, found) {
                        pass.language.store(found, Ordering::Relaxed);
                    }
                }
                Ok(())
            }));
        }
        let settings = Settings {
            element_content_handlers: handlers,
            encoding: plan.encoding,
            memory_settings: MemorySettings {
                max_allowed_memory_usage: REWRITER_MEMORY,
                ..MemorySettings::default()
            },
            strict: false,
            adjust_charset_on_meta_tag: !plan.charset_from_header,
            ..Settings::new_send()
        };
        HeadStage {
            rewriter: Some(HtmlRewriter::new(settings, sink.clone())),
            sink,
            finished,
            inserted,
            fed: 0,
            emitted: 0,
            held: BytesMut::new(),
        }
    }

    /// Output produced since the last call, with `held` trimmed to what is still inside.
    fn drain(&mut self) -> Bytes {
        let out = self.sink.take();
        self.emitted += out.len();
        let from_input = self
            .emitted
            .saturating_sub(self.inserted.load(Ordering::Relaxed));
        let pending = self.fed.saturating_sub(from_input);
        if self.held.len() > pending {
            self.held.advance(self.held.len() - pending);
        }
        out
    }

    /// Drops the rewriter: what it emitted, then the input it still held.
    fn hand_over(&mut self) -> Bytes {
        self.rewriter = None;
        let mut out = BytesMut::from(&self.drain()[..]);
        out.extend_from_slice(&self.held.split());
        out.freeze()
    }

    /// Feeds one chunk; after the hand-over chunks pass untouched. The chunk goes to
    /// lol_html in small slices, so that a page arriving whole is not parsed whole.
    /// Returns what lol_html emitted and the part of the chunk it never saw.
    fn push(&mut self, chunk: Bytes) -> (Bytes, Bytes) {
        let mut out = BytesMut::new();
        let mut at = 0;
        while at < chunk.len() {
            let Some(rewriter) = self.rewriter.as_mut() else {
                break;
            };
            let slice = &chunk[at..chunk.len().min(at + HEAD_SLICE)];
            at += slice.len();
            self.fed += slice.len();
            self.held.extend_from_slice(slice);
            let written = rewriter.write(slice);
            match written {
                Ok(()) if self.finished.load(Ordering::Relaxed) || self.fed > HEAD_BUDGET => {
                    out.extend_from_slice(&self.hand_over());
                }
                Ok(()) => out.extend_from_slice(&self.drain()),
                Err(error) => {
                    tracing::warn!(%error, "HTML head rewriting stopped; the page passes without the head link");
                    out.extend_from_slice(&self.hand_over());
                }
            }
        }
        (out.freeze(), chunk.slice(at..))
    }

    fn finish(&mut self) -> Bytes {
        let Some(rewriter) = self.rewriter.take() else {
            return Bytes::new();
        };
        match rewriter.end() {
            Ok(()) => self.drain(),
            Err(_) => self.hand_over(),
        }
    }
}

/// Which reader puts the head markup in place: the tracker stage's own when trackers
/// are blocked (it reads the page anyway, [`head_scan`]), else lol_html, today's.
enum Head {
    /// Boxed: lol_html's rewriter is a kilobyte, the scanned stage a tenth of that.
    LolHtml(Box<HeadStage>),
    Scanned(ScannedHead),
}

impl Head {
    fn new(plan: &Plan) -> Head {
        if plan.guard_markup.is_some() {
            Head::Scanned(ScannedHead::new(plan))
        } else {
            Head::LolHtml(Box::new(HeadStage::new(plan)))
        }
    }

    fn push(&mut self, chunk: Bytes) -> (Bytes, Bytes) {
        match self {
            Head::LolHtml(stage) => stage.push(chunk),
            Head::Scanned(stage) => stage.push(chunk),
        }
    }

    fn finish(&mut self) -> Bytes {
        match self {
            Head::LolHtml(stage) => stage.finish(),
            Head::Scanned(stage) => stage.finish(),
        }
    }
}

/// The whole rewrite of one body: the head stage, then the body-end stage.
struct Rewriting {
    input: ByteStream,
    head: Head,
    /// Tracker elements made inert, when the visitor refuses some.
    trackers: Option<TrackerStage>,
    body_end: BodyEnd,
    /// Until `<html lang>` has been read: the markup in each language.
    by_html_lang: Option<PageLanguage>,
    bom: Bom,
    /// Output ready to be sent, in order.
    ready: VecDeque<Bytes>,
    /// The tracker stage's output of one chunk (kept for its allocation).
    pieces: Vec<Bytes>,
    done: bool,
    /// The upstream's body broke off: this goes out after what is ready.
    failed: Option<std::io::Error>,
}

/// What the page's first two bytes say. A UTF-16 byte order mark outranks the
/// `Content-Type` charset (browsers follow it: HTML's "decode" algorithm, and a
/// black-box audit found such pages ending in garbage), and ASCII markup written
/// into UTF-16 text is garbage: such a page passes as it came.
enum Bom {
    /// Fewer than two bytes seen: they are held here.
    Undecided(BytesMut),
    Rewrite,
    Utf16,
}

impl Bom {
    fn is_utf16(start: &[u8]) -> bool {
        start.starts_with(&[0xFF, 0xFE]) || start.starts_with(&[0xFE, 0xFF])
    }
}

impl Rewriting {
    fn new(plan: Plan, input: ByteStream) -> Self {
        Rewriting {
            head: Head::new(&plan),
            trackers: plan
                .trackers
                .clone()
                .map(|pass| TrackerStage::new(pass, plan.encoding)),
            body_end: BodyEnd::new(plan.body_markup),
            by_html_lang: plan.by_html_lang,
            bom: Bom::Undecided(BytesMut::new()),
            input,
            ready: VecDeque::new(),
            pieces: Vec::new(),
            done: false,
            failed: None,
        }
    }

    fn queue(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.ready.push_back(bytes);
        }
    }

    fn rewrite(&mut self, chunk: Bytes) {
        let (parsed, untouched) = self.head.push(chunk);
        if let Some(markup) = self.by_html_lang.as_ref().and_then(PageLanguage::markup) {
            self.body_end.set_markup(markup);
            self.by_html_lang = None;
        }
        for part in [parsed, untouched] {
            match &mut self.trackers {
                Some(stage) if !part.is_empty() => {
                    let mut pieces = std::mem::take(&mut self.pieces);
                    stage.push(part, &mut pieces);
                    self.body_end_all(&mut pieces);
                    self.pieces = pieces;
                }
                _ => {
                    let out = self.body_end.push(part);
                    self.queue(out);
                }
            }
        }
    }

    /// The tracker stage's output through the body-end stage, in order.
    fn body_end_all(&mut self, pieces: &mut Vec<Bytes>) {
        for piece in pieces.drain(..) {
            let out = self.body_end.push(piece);
            self.queue(out);
        }
    }

    /// Decides on the first two bytes, then rewrites (or passes) what came so far.
    fn push(&mut self, chunk: Bytes) {
        match &mut self.bom {
            Bom::Rewrite => self.rewrite(chunk),
            Bom::Utf16 => self.queue(chunk),
            Bom::Undecided(held) => {
                let start = if held.is_empty() {
                    chunk
                } else {
                    held.extend_from_slice(&chunk);
                    held.split().freeze()
                };
                if start.len() < 2 {
                    if let Bom::Undecided(held) = &mut self.bom {
                        held.extend_from_slice(&start);
                    }
                } else if Bom::is_utf16(&start) {
                    self.bom = Bom::Utf16;
                    self.queue(start);
                } else {
                    self.bom = Bom::Rewrite;
                    self.rewrite(start);
                }
            }
        }
    }

    fn finish(&mut self) {
        match std::mem::replace(&mut self.bom, Bom::Rewrite) {
            Bom::Utf16 => return,
            Bom::Undecided(held) => self.rewrite(held.freeze()),
            Bom::Rewrite => {}
        }
        let rest = self.head.finish();
        if let Some(stage) = &mut self.trackers {
            let mut pieces = std::mem::take(&mut self.pieces);
            if !rest.is_empty() {
                stage.push(rest, &mut pieces);
            }
            stage.finish(&mut pieces);
            self.body_end_all(&mut pieces);
        } else {
            let out = self.body_end.push(rest);
            self.queue(out);
        }
        let out = self.body_end.finish();
        self.queue(out);
    }
}

impl Stream for Rewriting {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(bytes)));
            }
            if let Some(error) = this.failed.take() {
                return Poll::Ready(Some(Err(error)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.input.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                // What came before the break still goes out, held bytes included
                // (after a candidate `</body>`, up to 64 KiB), then the error, which
                // cuts the response short as the upstream cut its own.
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    this.finish();
                    this.failed = Some(e);
                }
                Poll::Ready(Some(Ok(chunk))) => this.push(chunk),
                Poll::Ready(None) => {
                    this.done = true;
                    this.finish();
                }
            }
        }
    }
}

mod body_end;
mod decode;
mod head_scan;

use body_end::BodyEnd;
use head_scan::ScannedHead;

#[cfg(test)]
mod tests;

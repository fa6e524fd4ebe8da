//! Tracker elements of refused categories made inert, as the page streams through
//! (DESIGN.md, "Trackers in pages").
//!
//! The handlers here are registered on the document stage's lol_html rewriter when
//! the visitor refuses some category a tracker belongs to; lol_html then parses the
//! whole page, and each element that can load something is checked against the
//! site's [`TrackerMatcher`]:
//!
//! - `<script src>` of a tracker: `type="text/plain"`, `src` moved to
//!   `data-consentry-src`, the original `type` kept in `data-consentry-type`,
//!   `data-consentry-category` set;
//! - an inline `<script>` whose text carries a tracker's signature: the same, decided
//!   at its end tag: its bytes are held in the [`Sink`] until then (bounded by
//!   [`INLINE_HOLD`]), and the start tag is rewritten only when it is a tracker;
//! - `<iframe>`, `<embed>`, `<object>`: made inert and hidden, with a placeholder of
//!   the same size before it;
//! - `<img>`, `<source>`: `src` and `srcset` removed; `<link rel=preconnect|…>`
//!   removed; `ping` URLs of trackers removed;
//! - `<noscript>`, which lol_html reads as text (as a browser with scripting does),
//!   is rewritten as the markup a browser without scripting would parse.
//!
//! Everything else passes byte for byte: lol_html emits untouched tokens as they
//! came.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::BytesMut;
use lol_html::html_content::ContentType;
use lol_html::html_content::TextChunk;
use lol_html::send::Element as El;
use lol_html::send::Settings;
use lol_html::{ElementContentHandlers, Selector};
use prometheus_client::metrics::counter::Counter;

use crate::RESERVED_PREFIX;
use crate::config::Site;
use crate::cookies::category::{Categories, CategorySet};
use crate::cookies::trackers::{TrackerId, TrackerMatcher};
use crate::pages::policy::escape;

/// Responses whose tracker rewrite had to give up somewhere (an inline script or a
/// `<noscript>` past its bound, or the rewriter's memory bound); exported by the
/// metrics as `consentry_tracker_rewrite_gave_up_total`.
pub static GAVE_UP: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The most of one inline script held back to decide whether it is a tracker. Past
/// it the script streams on, still watched: a signature found later drops the rest
/// of its text (a cut script does not run its remainder).
pub const INLINE_HOLD: usize = 1024 * 1024;

/// The most of one `<noscript>` rewritten as markup; past it its content is dropped.
pub(crate) const NOSCRIPT_HOLD: usize = 256 * 1024;

/// What one response's tracker rewrite needs.
#[derive(Debug)]
pub struct TrackerPass {
    pub site: Arc<Site>,
    pub categories: Arc<Categories>,
    pub granted: CategorySet,
    /// The page's host, for relative URLs.
    pub page_host: String,
    /// The page's path and query, where the placeholder's form returns.
    pub return_to: String,
    /// Logged once per response.
    gave_up: AtomicBool,
    /// The page's language, an index into the site's `policy.languages`: from
    /// `Content-Language` when the plan is made, or from `<html lang>` when the
    /// parser meets it (before any element of the body).
    pub language: std::sync::atomic::AtomicUsize,
}

impl TrackerPass {
    pub fn new(
        site: Arc<Site>,
        categories: Arc<Categories>,
        granted: CategorySet,
        page_host: String,
        return_to: String,
    ) -> TrackerPass {
        TrackerPass {
            site,
            categories,
            granted,
            page_host,
            return_to,
            gave_up: AtomicBool::new(false),
            language: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn matcher(&self) -> &TrackerMatcher {
        &self.site.trackers.matcher
    }

    /// The tracker a URL (as written in an attribute) loads, read as a browser reads
    /// it; never the guard script, consentry's own.
    fn tracker_of(&self, url: &str) -> Option<TrackerId> {
        if is_guard_url(url.as_bytes()) {
            return None;
        }
        self.matcher()
            .match_url(&decode_references(url), &self.page_host)
    }

    /// The tracker a URL loads when the visitor refuses it (counted either way).
    fn refused_url(&self, url: &str) -> Option<TrackerId> {
        self.refused(self.tracker_of(url)?)
    }

    /// Whether a URL, read as a browser reads it, loads a tracker the visitor
    /// refuses; nothing is counted.
    pub fn names_tracker(&self, url: &str) -> bool {
        self.tracker_of(url)
            .is_some_and(|id| !self.matcher().tracker(id).allowed(self.granted))
    }

    /// The start tag that makes an inline script inert, when its text is a tracker's
    /// the visitor refuses (counted either way): from its attributes (names in lower
    /// case, values as written, as lol_html gives them) and its whole text.
    pub(crate) fn inert_inline_script(
        &self,
        attributes: &[(String, String)],
        text: &[u8],
    ) -> Option<String> {
        let id = self.matcher().match_inline(text)?;
        let id = self.refused(id)?;
        Some(inert_script_tag(attributes, self.category_name(id)))
    }

    /// The start tag the script handler writes for a `<script src>` whose URL is a
    /// tracker the visitor refuses (counted either way), written as lol_html writes
    /// a start tag it changed: the name as written, each attribute as written (`raw`,
    /// from its name to its value's closing quote) or set (`name="value"`, `"`
    /// escaped), `src` removed, the new ones after. `attributes`: name as written,
    /// value as written, raw text. `None`: the tag is left as it is.
    pub(crate) fn inert_script_src(
        &self,
        tag_name: &str,
        attributes: &[Written<'_>],
        src: &str,
    ) -> Option<String> {
        let id = self.refused_url(src)?;
        let type_attribute = match value_of(attributes, "type") {
            Some(value) => ("data-consentry-type", value),
            None => ("type", "text/plain"),
        };
        Some(changed_tag(
            tag_name,
            attributes,
            &["src"],
            Some(("type", "text/plain")),
            &[
                type_attribute,
                ("data-consentry-src", src),
                ("data-consentry-category", self.category_name(id)),
            ],
        ))
    }

    /// What the frames handler writes for a frame (`<iframe>`, `<frame>`, `<embed>`,
    /// `<object>`) whose URL (`url_attribute`: `src`, or `data` for an object) is a
    /// tracker the visitor refuses (counted either way): the placeholder, and the
    /// start tag made inert and hidden, written as lol_html writes a start tag it
    /// changed. `attributes` as for [`Self::inert_script_src`], none named `hidden`.
    /// `None`: the frame is left as it is.
    pub(crate) fn inert_frame(
        &self,
        tag_name: &str,
        attributes: &[Written<'_>],
        url_attribute: &str,
        url: &str,
    ) -> Option<(String, String)> {
        let id = self.refused_url(url)?;
        let placeholder = self.placeholder(
            id,
            value_of(attributes, "width"),
            value_of(attributes, "height"),
        );
        let tag = changed_tag(
            tag_name,
            attributes,
            &[url_attribute],
            None,
            &[
                ("data-consentry-src", url),
                ("data-consentry-category", self.category_name(id)),
                ("hidden", ""),
            ],
        );
        Some((placeholder, tag))
    }

    /// What the images handler writes for an `<img>` whose `src` or `srcset` loads a
    /// tracker the visitor refuses (both counted): the start tag without them, with
    /// `data-consentry-category`, written as lol_html writes a start tag it changed
    /// (`self_closing`: it ended in `/>`, which lol_html writes ` />`). `attributes`
    /// as for [`Self::inert_script_src`]. `None`: the image is left as it is.
    pub(crate) fn inert_image(
        &self,
        tag_name: &str,
        attributes: &[Written<'_>],
        self_closing: bool,
    ) -> Option<String> {
        let src = value_of(attributes, "src").and_then(|u| self.refused_url(u));
        let srcset = value_of(attributes, "srcset").and_then(|s| refused_srcset(self, s));
        let id = src.or(srcset)?;
        let mut tag = changed_tag(
            tag_name,
            attributes,
            &["src", "srcset"],
            None,
            &[("data-consentry-category", self.category_name(id))],
        );
        if self_closing {
            tag.pop();
            tag.push_str(" />");
        }
        Some(tag)
    }

    fn refused(&self, id: TrackerId) -> Option<TrackerId> {
        let allowed = self.matcher().tracker(id).allowed(self.granted);
        self.site.trackers.tally.record(id, allowed);
        (!allowed).then_some(id)
    }

    /// The category name `data-consentry-category` carries.
    fn category_name(&self, id: TrackerId) -> &str {
        match self.matcher().tracker(id).category {
            Some(c) => &self.categories.get(c).name,
            None => "undeclared",
        }
    }

    /// Counts and logs (once per response) a place where the rewrite gave up.
    pub fn give_up(&self, what: &str) {
        if !self.gave_up.swap(true, Ordering::Relaxed) {
            GAVE_UP.inc();
            tracing::warn!(site = %self.site.name, what, "tracker rewrite gave up; trackers kept inert");
        }
    }

    /// The placeholder that stands in for a tracker frame.
    fn placeholder(&self, id: TrackerId, width: Option<&str>, height: Option<&str>) -> String {
        let tracker = self.matcher().tracker(id);
        let category = tracker.category.map(|c| self.categories.get(c));
        let speak = crate::pages::policy::Speak::at(
            &self.site.policy.languages,
            self.language.load(Ordering::Relaxed),
        );
        let undeclared = speak.language.texts.get("undeclared-category");
        let title = category.map_or(undeclared.as_str(), |c| speak.text(&c.title));
        let size = |v: Option<&str>, default: &str| {
            v.map(|v| v.trim().to_owned())
                .filter(|v| {
                    !v.is_empty()
                        && v.bytes()
                            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'%')
                })
                .map(|v| {
                    if v.ends_with('%') {
                        v
                    } else {
                        format!("{v}px")
                    }
                })
                .unwrap_or_else(|| default.to_owned())
        };
        let mut out = format!(
            "<div class=\"consentry-placeholder\" data-consentry-placeholder=\"{}\"{} role=\"region\" \
             aria-label=\"{}\" style=\"box-sizing:border-box;width:{};height:{};max-width:100%;overflow:auto;padding:1em;border:1px solid #767676;background:#f4f4f4;color:#111;font:inherit\">\
             <p>{}</p>",
            escape(self.category_name(id)),
            speak.attributes(),
            speak.msg_with("placeholder-label", &[("provider", &tracker.provider)]),
            escape(&size(width, "100%")),
            escape(&size(height, "auto")),
            speak.msg_with(
                "placeholder-text",
                &[("provider", &tracker.provider), ("category", title)]
            ),
        );
        // A form posting to the consent endpoint works with and without JavaScript,
        // where consentry writes the site's consent cookie (json or list).
        if let (Some(category), true) = (
            tracker.category,
            self.site.consent.sources[0].format.writable(),
        ) {
            out.push_str(&format!(
                "<form method=\"post\" action=\"{RESERVED_PREFIX}consent\">\
                 <input type=\"hidden\" name=\"return\" value=\"{}\">\
                 <input type=\"hidden\" name=\"choice\" value=\"save\">",
                escape(&self.return_to)
            ));
            for granted in self.granted.with(category).ids() {
                if !self.categories.get(granted).required {
                    out.push_str(&format!(
                        "<input type=\"hidden\" name=\"category\" value=\"{}\">",
                        escape(&self.categories.get(granted).name)
                    ));
                }
            }
            out.push_str(&format!(
                "<button type=\"submit\" style=\"min-height:24px;min-width:24px;padding:.3em .8em\">{}</button></form>",
                speak.msg_with("placeholder-allow", &[("category", title)])
            ));
        }
        out.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p></div>",
            escape(&self.site.policy.path),
            escape(speak.text(&self.site.policy.link_text))
        ));
        out
    }
}

/// Where lol_html writes. Shared with the stage, which drains it after each write,
/// and with the inline-script handlers, which hold back a script's bytes until its
/// end tag says whether it is a tracker.
#[derive(Clone, Default)]
pub struct Sink(Arc<Mutex<SinkState>>);

#[derive(Default)]
struct SinkState {
    out: BytesMut,
    /// An inline script being held: nothing from `mark` on is drained.
    script: Option<HeldScript>,
    /// Text of a released script that turned out to be a tracker: dropped.
    cutting: bool,
}

/// An inline script whose start tag and text so far sit in the sink from `mark`.
struct HeldScript {
    mark: usize,
    /// Where its text starts (after the start tag), once known.
    text_start: Option<usize>,
    attributes: Vec<(String, String)>,
    /// Held no more (past [`INLINE_HOLD`]): watched chunk by chunk instead.
    released: bool,
    /// The last bytes of the text seen while released, for signatures across chunks.
    tail: Vec<u8>,
}

impl lol_html::OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        if let Ok(mut state) = self.0.lock() {
            state.out.extend_from_slice(chunk);
        }
    }
}

impl Sink {
    /// What may go out now: everything before a held script.
    pub fn take(&self) -> bytes::Bytes {
        let Ok(mut state) = self.0.lock() else {
            return bytes::Bytes::new();
        };
        let state = &mut *state;
        match &mut state.script {
            Some(held) if !held.released => {
                let taken = state.out.split_to(held.mark).freeze();
                held.mark = 0;
                if let Some(start) = &mut held.text_start {
                    *start -= taken.len();
                }
                taken
            }
            _ => state.out.split().freeze(),
        }
    }

    /// Decides a script still open when the document ends.
    pub fn finish_open_script(&self, pass: &TrackerPass) {
        self.finish_script(pass);
    }

    /// Decides a held script at its end (or at the end of the document).
    fn finish_script(&self, pass: &TrackerPass) {
        let Ok(mut state) = self.0.lock() else {
            return;
        };
        let state = &mut *state;
        state.cutting = false;
        let Some(held) = state.script.take() else {
            return;
        };
        if held.released {
            return;
        }
        let Some(text_start) = held.text_start else {
            return;
        };
        let Some(tag) = pass.inert_inline_script(&held.attributes, &state.out[text_start..]) else {
            return;
        };
        let text = state.out.split_off(text_start);
        state.out.truncate(held.mark);
        state.out.extend_from_slice(tag.as_bytes());
        state.out.extend_from_slice(&text);
    }
}

/// A start tag's attribute as the tracker scan reads it for the functions below that
/// write what a handler would: its name as written, its value as written, its whole
/// text (from its name to its value's closing quote).
pub(crate) type Written<'a> = (&'a str, &'a str, &'a str);

/// The value of the first attribute of that name (any case), as written.
pub(crate) fn value_of<'a>(attributes: &[Written<'a>], wanted: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, value, _)| *value)
}

/// Whether a URL is the guard script's as the head stage writes it
/// (`/.consentry/guard.js?v=…&amp;g=…`, hexadecimal values): consentry's own, served
/// by consentry, never a tracker whatever the rules say (a rule matching it would
/// leave the page unguarded). Only those bytes: no `/`, `.` or `%` after the name
/// that could lead elsewhere.
pub(crate) fn is_guard_url(url: &[u8]) -> bool {
    let Some(query) = url
        .strip_prefix(RESERVED_PREFIX.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"guard.js?v="))
    else {
        return false;
    };
    query.iter().all(|&b| {
        b.is_ascii_hexdigit() || matches!(b, b'&' | b'a' | b'm' | b'p' | b';' | b'g' | b'=')
    })
}

/// A start tag as lol_html writes one it changed: the name as written, each attribute
/// as written (`raw`, from its name to its value's closing quote) but those named
/// in `removed` (any case), which go, and the first named as `set` says, set in place
/// (`name="value"`, its name as written), then `added` (`name="value"`, `"` escaped).
/// `attributes`: name as written, value as written, raw text.
fn changed_tag(
    tag_name: &str,
    attributes: &[Written<'_>],
    removed: &[&str],
    set: Option<(&str, &str)>,
    added: &[(&str, &str)],
) -> String {
    // Written in place, its size known: a tag is built per tracker element, and
    // `format!` per attribute was most of what writing one cost.
    let kept: usize = attributes.iter().map(|(_, _, raw)| raw.len() + 1).sum();
    let more: usize = added.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let mut tag = String::with_capacity(tag_name.len() + kept + more + 16);
    tag.push('<');
    tag.push_str(tag_name);
    let mut set = set;
    for (name, _, raw) in attributes {
        if removed.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            continue;
        }
        match set {
            Some((wanted, value)) if name.eq_ignore_ascii_case(wanted) => {
                push_attribute(&mut tag, name, value);
                set = None;
            }
            _ => {
                tag.push(' ');
                tag.push_str(raw);
            }
        }
    }
    for (name, value) in added {
        push_attribute(&mut tag, name, value);
    }
    tag.push('>');
    tag
}

/// ` name="value"`: a value as lol_html gives it (character references not decoded)
/// written back between double quotes, its `"` as `&quot;` (as lol_html's
/// `set_attribute` writes it).
fn push_attribute(tag: &mut String, name: &str, value: &str) {
    tag.push(' ');
    tag.push_str(name);
    tag.push_str("=\"");
    let mut rest = value;
    while let Some(at) = rest.find('"') {
        tag.push_str(&rest[..at]);
        tag.push_str("&quot;");
        rest = &rest[at + 1..];
    }
    tag.push_str(rest);
    tag.push('"');
}

/// `<script …>` made inert, from its attributes (an inline script has no `src`).
fn inert_script_tag(attributes: &[(String, String)], category: &str) -> String {
    let mut tag = String::from("<script type=\"text/plain\"");
    for (name, value) in attributes {
        if name.eq_ignore_ascii_case("type") {
            push_attribute(&mut tag, "data-consentry-type", value);
        } else {
            push_attribute(&mut tag, name, value);
        }
    }
    push_attribute(&mut tag, "data-consentry-category", category);
    tag.push('>');
    tag
}

/// Whether a `<script type>` runs: none, empty, a JavaScript MIME type or `module`
/// (HTML, "prepare the script element").
pub(crate) fn executable(type_attr: Option<&str>) -> bool {
    let Some(t) = type_attr else {
        return true;
    };
    let t = t.trim().to_ascii_lowercase();
    let essence = t.split(';').next().unwrap_or("").trim();
    essence.is_empty()
        || essence == "module"
        || matches!(
            essence,
            "text/javascript"
                | "application/javascript"
                | "application/ecmascript"
                | "application/x-ecmascript"
                | "application/x-javascript"
                | "text/ecmascript"
                | "text/jscript"
                | "text/livescript"
                | "text/x-ecmascript"
                | "text/x-javascript"
                | "text/javascript1.0"
                | "text/javascript1.1"
                | "text/javascript1.2"
                | "text/javascript1.3"
                | "text/javascript1.4"
                | "text/javascript1.5"
        )
}

/// Character references decoded for matching a URL (`&#46;` is a dot to a browser).
/// Only the numeric ones and the few named ones a URL needs; no allocation without `&`.
fn decode_references(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains('&') {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1);
        let (name, after) = match end {
            Some(e) => (
                &rest[1..e],
                if rest[e..].starts_with(';') {
                    &rest[e + 1..]
                } else {
                    &rest[e..]
                },
            ),
            None => (&rest[1..], ""),
        };
        let decoded = if let Some(num) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
        {
            u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
        } else if let Some(num) = name.strip_prefix('#') {
            num.parse::<u32>().ok().and_then(char::from_u32)
        } else {
            match name {
                "amp" => Some('&'),
                "sol" => Some('/'),
                "colon" => Some(':'),
                "period" => Some('.'),
                "quest" => Some('?'),
                "num" => Some('#'),
                "Tab" => Some('\t'),
                "NewLine" => Some('\n'),
                _ => None,
            }
        };
        match decoded {
            Some(c) if !name.is_empty() => {
                out.push(c);
                rest = after;
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The `rel` values whose `<link>` contacts the host ahead of time.
fn prefetching(rel: &str) -> bool {
    rel.split_ascii_whitespace().any(|r| {
        [
            "preconnect",
            "dns-prefetch",
            "preload",
            "prefetch",
            "modulepreload",
        ]
        .iter()
        .any(|k| r.eq_ignore_ascii_case(k))
    })
}

/// Whether any candidate of a `srcset` is a refused tracker.
fn refused_srcset(pass: &TrackerPass, srcset: &str) -> Option<TrackerId> {
    srcset
        .split(',')
        .filter_map(|candidate| candidate.split_ascii_whitespace().next())
        .find_map(|url| pass.refused_url(url))
}

/// A selector with its handlers, as lol_html's settings take them.
type Handler = (
    std::borrow::Cow<'static, Selector>,
    ElementContentHandlers<'static, lol_html::send::SendHandlerTypes>,
);

type Handlers = Vec<Handler>;

/// The selectors, parsed once for the life of the process.
struct Selectors {
    script: Selector,
    frames: Selector,
    images: Selector,
    links: Selector,
    ping: Selector,
    noscript: Selector,
}

static SELECTORS: LazyLock<Option<Selectors>> = LazyLock::new(|| {
    Some(Selectors {
        script: HandlerKind::Script.selector()?,
        frames: HandlerKind::Frames.selector()?,
        images: HandlerKind::Images.selector()?,
        links: HandlerKind::Links.selector()?,
        ping: HandlerKind::Ping.selector()?,
        noscript: HandlerKind::Noscript.selector()?,
    })
});

fn on(selector: &'static Selector) -> std::borrow::Cow<'static, Selector> {
    std::borrow::Cow::Borrowed(selector)
}

/// The element handlers that make trackers inert, for `pass`; `sink` is where the
/// rewriter writes, for holding inline scripts.
pub fn handlers(pass: &Arc<TrackerPass>, sink: &Sink) -> Handlers {
    HandlerKind::ALL
        .iter()
        .filter_map(|&kind| handler(pass, sink, kind))
        .collect()
}

/// The handler of one element kind.
fn handler(pass: &Arc<TrackerPass>, sink: &Sink, kind: HandlerKind) -> Option<Handler> {
    let sel = SELECTORS.as_ref()?;
    Some(match kind {
        HandlerKind::Script => script_handler(pass, sink, sel),
        HandlerKind::Frames => frame_handler(pass, sel),
        HandlerKind::Images => image_handler(pass, sel),
        HandlerKind::Links => link_handler(pass, sel),
        HandlerKind::Ping => ping_handler(pass, sel),
        HandlerKind::Noscript => noscript_handler(pass, sel),
    })
}

/// A `<noscript>`'s markup, held (up to [`NOSCRIPT_HOLD`]) and rewritten as a
/// browser without scripting reads it ([`rewrite_fragment`]).
fn noscript_handler(pass: &Arc<TrackerPass>, sel: &'static Selectors) -> Handler {
    let p = pass.clone();
    let held = Arc::new(Mutex::new(String::new()));
    (
        on(&sel.noscript),
        ElementContentHandlers::default().text(move |chunk: &mut TextChunk<'_>| {
            let Ok(mut text) = held.lock() else {
                return Ok(());
            };
            if text.len() <= NOSCRIPT_HOLD {
                text.push_str(chunk.as_str());
            }
            let last = chunk.last_in_text_node();
            chunk.remove();
            if last {
                let markup = std::mem::take(&mut *text);
                if markup.len() > NOSCRIPT_HOLD {
                    p.give_up("a <noscript> past its bound; its content was dropped");
                } else {
                    chunk.replace(&rewrite_fragment(&p, &markup), ContentType::Html);
                }
            }
            Ok(())
        }),
    )
}

/// The element kinds the handlers act on, each with its own selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    Script,
    Frames,
    Images,
    Links,
    Ping,
    Noscript,
}

/// The elements the handlers act on (lower case) and the kind of each: the one list
/// that the tracker scan's names ([`HANDLED_NAMES`]), [`HandlerKind::of`] and the
/// handlers' selectors come from, so that the scan never passes over an element the
/// handlers would act on.
const HANDLED: [(&[u8], HandlerKind); 12] = [
    (b"script", HandlerKind::Script),
    (b"iframe", HandlerKind::Frames),
    (b"frame", HandlerKind::Frames),
    (b"embed", HandlerKind::Frames),
    (b"object", HandlerKind::Frames),
    (b"img", HandlerKind::Images),
    (b"source", HandlerKind::Images),
    (b"input", HandlerKind::Images),
    (b"link", HandlerKind::Links),
    (b"a", HandlerKind::Ping),
    (b"area", HandlerKind::Ping),
    (b"noscript", HandlerKind::Noscript),
];

/// The names of [`HANDLED`], which the tracker scan looks for.
pub const HANDLED_NAMES: [&[u8]; HANDLED.len()] = {
    let mut names: [&[u8]; HANDLED.len()] = [b""; HANDLED.len()];
    let mut i = 0;
    while i < HANDLED.len() {
        names[i] = HANDLED[i].0;
        i += 1;
    }
    names
};

impl HandlerKind {
    /// Every kind, in the order the handlers are given to lol_html.
    const ALL: [HandlerKind; 6] = [
        HandlerKind::Script,
        HandlerKind::Frames,
        HandlerKind::Images,
        HandlerKind::Links,
        HandlerKind::Ping,
        HandlerKind::Noscript,
    ];

    /// The kind of an element (its lower-case name), if the handlers act on it.
    pub fn of(element: &[u8]) -> Option<HandlerKind> {
        HANDLED
            .iter()
            .find(|(name, _)| *name == element)
            .map(|&(_, kind)| kind)
    }

    /// The selector of this kind's elements (`iframe, frame, embed, object`).
    fn selector(self) -> Option<Selector> {
        let names: Vec<&str> = HANDLED
            .iter()
            .filter(|&&(_, kind)| kind == self)
            .filter_map(|(name, _)| std::str::from_utf8(name).ok())
            .collect();
        names.join(", ").parse().ok()
    }
}

/// The handlers of one element kind: a rewriter built for one element compiles its
/// selector alone (a sixth of the cost of building one with every handler).
pub fn handlers_for(pass: &Arc<TrackerPass>, sink: &Sink, kind: HandlerKind) -> Handlers {
    handler(pass, sink, kind).into_iter().collect()
}

/// A tracker script: one with a `src` made inert at its start tag, an inline one
/// held (up to [`INLINE_HOLD`]) until its text tells whether it is a tracker.
fn script_handler(pass: &Arc<TrackerPass>, sink: &Sink, sel: &'static Selectors) -> Handler {
    let p = pass.clone();
    let s = sink.clone();
    let p2 = pass.clone();
    let s2 = sink.clone();
    (
        on(&sel.script),
        ElementContentHandlers::default()
            .element(move |el: &mut El<'_, '_>| {
                if let Some(src) = el.get_attribute("src") {
                    if let Some(id) = p.refused_url(&src) {
                        let category = p.category_name(id).to_owned();
                        if let Some(t) = el.get_attribute("type") {
                            el.set_attribute("data-consentry-type", &t)?;
                        }
                        el.set_attribute("type", "text/plain")?;
                        el.remove_attribute("src");
                        el.set_attribute("data-consentry-src", &src)?;
                        el.set_attribute("data-consentry-category", &category)?;
                    }
                    return Ok(());
                }
                if !el.can_have_content() || !executable(el.get_attribute("type").as_deref()) {
                    return Ok(());
                }
                let attributes = el
                    .attributes()
                    .iter()
                    .map(|a| (a.name(), a.value()))
                    .collect();
                if let Ok(mut state) = s.0.lock() {
                    let mark = state.out.len();
                    state.script = Some(HeldScript {
                        mark,
                        text_start: None,
                        attributes,
                        released: false,
                        tail: Vec::new(),
                    });
                }
                let (p, s) = (p.clone(), s.clone());
                el.on_end_tag(Box::new(
                    move |_end: &mut lol_html::html_content::EndTag<'_>| {
                        s.finish_script(&p);
                        Ok(())
                    },
                ))?;
                Ok(())
            })
            .text(move |chunk: &mut TextChunk<'_>| {
                let (p, s) = (&p2, &s2);
                let Ok(mut state) = s.0.lock() else {
                    return Ok(());
                };
                let state = &mut *state;
                if state.cutting {
                    chunk.remove();
                    return Ok(());
                }
                let out_len = state.out.len();
                let Some(held) = &mut state.script else {
                    return Ok(());
                };
                let start = *held.text_start.get_or_insert(out_len);
                if held.released {
                    let mut window = std::mem::take(&mut held.tail);
                    window.extend_from_slice(chunk.as_str().as_bytes());
                    if let Some(id) = p.matcher().match_inline(&window) {
                        if p.refused(id).is_some() {
                            p.give_up("an inline tracker script past the hold bound");
                            chunk.remove();
                            state.cutting = true;
                            return Ok(());
                        }
                    }
                    let keep = window.len().min(256);
                    held.tail = window.split_off(window.len() - keep);
                } else if out_len - held.mark + chunk.as_str().len() > INLINE_HOLD {
                    // Decide on what came so far, then stream the rest.
                    let mut text = state.out[start..].to_vec();
                    text.extend_from_slice(chunk.as_str().as_bytes());
                    let verdict = p.matcher().match_inline(&text);
                    let keep = text.len().min(256);
                    let tail = text.split_off(text.len() - keep);
                    match verdict.and_then(|id| p.refused(id)) {
                        Some(id) => {
                            let tag = inert_script_tag(&held.attributes, p.category_name(id));
                            let text = state.out.split_off(start);
                            state.out.truncate(held.mark);
                            state.out.extend_from_slice(tag.as_bytes());
                            state.out.extend_from_slice(&text);
                            state.script = None;
                        }
                        None => {
                            held.released = true;
                            held.tail = tail;
                        }
                    }
                }
                Ok(())
            }),
    )
}

/// The handlers of elements that load through attributes: frames, images, links,
/// `ping`; a `<noscript>`'s content gets these.
fn element_handlers(pass: &Arc<TrackerPass>, sel: &'static Selectors) -> Handlers {
    vec![
        frame_handler(pass, sel),
        image_handler(pass, sel),
        link_handler(pass, sel),
        ping_handler(pass, sel),
    ]
}

/// A tracker frame: a placeholder before it, the frame kept hidden and unloaded.
fn frame_handler(pass: &Arc<TrackerPass>, sel: &'static Selectors) -> Handler {
    let p = pass.clone();
    (
        on(&sel.frames),
        ElementContentHandlers::default().element(move |el: &mut El<'_, '_>| {
            let attr = if el.tag_name().eq_ignore_ascii_case("object") {
                "data"
            } else {
                "src"
            };
            let Some(url) = el.get_attribute(attr) else {
                return Ok(());
            };
            if let Some(id) = p.refused_url(&url) {
                let placeholder = p.placeholder(
                    id,
                    el.get_attribute("width").as_deref(),
                    el.get_attribute("height").as_deref(),
                );
                el.remove_attribute(attr);
                el.set_attribute("data-consentry-src", &url)?;
                el.set_attribute("data-consentry-category", p.category_name(id))?;
                el.set_attribute("hidden", "")?;
                el.before(&placeholder, ContentType::Html);
            }
            Ok(())
        }),
    )
}

/// A tracker pixel: its `src` and `srcset` removed.
fn image_handler(pass: &Arc<TrackerPass>, sel: &'static Selectors) -> Handler {
    let p = pass.clone();
    (
        on(&sel.images),
        ElementContentHandlers::default().element(move |el: &mut El<'_, '_>| {
            if el.tag_name() == "input"
                && !el
                    .get_attribute("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("image"))
            {
                return Ok(());
            }
            let src = el.get_attribute("src").and_then(|u| p.refused_url(&u));
            let srcset = el
                .get_attribute("srcset")
                .and_then(|s| refused_srcset(&p, &s));
            if let Some(id) = src.or(srcset) {
                el.remove_attribute("src");
                el.remove_attribute("srcset");
                el.set_attribute("data-consentry-category", p.category_name(id))?;
            }
            Ok(())
        }),
    )
}

/// A `<link>` that connects to or fetches from a tracker ahead of time: removed.
fn link_handler(pass: &Arc<TrackerPass>, sel: &'static Selectors) -> Handler {
    let p = pass.clone();
    (
        on(&sel.links),
        ElementContentHandlers::default().element(move |el: &mut El<'_, '_>| {
            let rel = el.get_attribute("rel").unwrap_or_default();
            if prefetching(&rel) {
                if let Some(href) = el.get_attribute("href") {
                    if p.refused_url(&href).is_some() {
                        el.remove();
                    }
                }
            }
            Ok(())
        }),
    )
}

/// A link's `ping` URLs that name a tracker: removed, the others kept.
fn ping_handler(pass: &Arc<TrackerPass>, sel: &'static Selectors) -> Handler {
    let p = pass.clone();
    (
        on(&sel.ping),
        ElementContentHandlers::default().element(move |el: &mut El<'_, '_>| {
            if let Some(ping) = el.get_attribute("ping") {
                let kept: Vec<&str> = ping
                    .split_ascii_whitespace()
                    .filter(|url| p.refused_url(url).is_none())
                    .collect();
                if kept.is_empty() {
                    el.remove_attribute("ping");
                } else if kept.len() != ping.split_ascii_whitespace().count() {
                    el.set_attribute("ping", &kept.join(" "))?;
                }
            }
            Ok(())
        }),
    )
}

/// A `<noscript>`'s content as a browser without scripting parses it, rewritten with
/// the same handlers (an inline script there never runs: nothing to hold).
pub(crate) fn rewrite_fragment(pass: &Arc<TrackerPass>, markup: &str) -> String {
    let Some(sel) = SELECTORS.as_ref() else {
        return String::new();
    };
    let settings = Settings {
        element_content_handlers: element_handlers(pass, sel),
        ..Settings::new_send()
    };
    match lol_html::rewrite_str(markup, settings) {
        Ok(out) => out,
        Err(_) => {
            pass.give_up("a <noscript> that could not be rewritten; its content was dropped");
            String::new()
        }
    }
}

/// Removes the entries of the response's `Link` fields that point at a tracker the
/// visitor refuses (`<https://www.googletagmanager.com>; rel=preconnect`). Fields
/// without such an entry stay as they came; nothing is allocated when there is none.
pub fn filter_link_header(
    headers: &mut http::HeaderMap,
    site: &Site,
    granted: CategorySet,
    page_host: &str,
) {
    let matcher = &site.trackers.matcher;
    if !headers.contains_key(http::header::LINK) || !matcher.any_refused(granted) {
        return;
    }
    let refused = |entry: &str| {
        let url = entry
            .trim()
            .strip_prefix('<')
            .and_then(|rest| rest.split_once('>'))
            .map(|(url, _)| url);
        url.and_then(|url| matcher.match_url(url, page_host))
            .is_some_and(|id| {
                let allowed = matcher.tracker(id).allowed(granted);
                site.trackers.tally.record(id, allowed);
                !allowed
            })
    };
    let lines: Vec<http::HeaderValue> = headers
        .get_all(http::header::LINK)
        .iter()
        .cloned()
        .collect();
    let mut changed = false;
    let mut kept_lines = Vec::with_capacity(lines.len());
    for line in &lines {
        let Ok(text) = line.to_str() else {
            kept_lines.push(line.clone());
            continue;
        };
        let entries = link_entries(text);
        let kept: Vec<&str> = entries.iter().copied().filter(|e| !refused(e)).collect();
        if kept.len() == entries.len() {
            kept_lines.push(line.clone());
            continue;
        }
        changed = true;
        if !kept.is_empty() {
            if let Ok(value) = http::HeaderValue::from_str(kept.join(",").trim()) {
                kept_lines.push(value);
            }
        }
    }
    if changed {
        headers.remove(http::header::LINK);
        for line in kept_lines {
            headers.append(http::header::LINK, line);
        }
    }
}

/// The entries of one `Link` field (RFC 8288 §3): split at commas outside `<…>` and
/// quoted strings.
fn link_entries(field: &str) -> Vec<&str> {
    let mut entries = Vec::new();
    let (mut in_url, mut in_quote, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in field.char_indices() {
        if in_quote {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_quote = false,
                _ => {}
            }
            continue;
        }
        match c {
            '<' => in_url = true,
            '>' => in_url = false,
            '"' if !in_url => in_quote = true,
            ',' if !in_url => {
                entries.push(&field[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&field[start..]);
    entries.retain(|e| !e.trim().is_empty());
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use lol_html::send::HtmlRewriter;

    const YAML: &str = "listen: { http: 127.0.0.1:0 }\ncategories:\n  necessary: { required: true }\n  statistics: {}\n  third_party: {}\nsites:\n  - { name: s, hosts: [portal.test], upstream: 'http://127.0.0.1:1' }\n";

    /// Rewrites `html` in chunks of `chunk` bytes for a visitor granting `granted`
    /// (category names besides `necessary`).
    fn rewrite_in(html: &str, granted: &[&str], chunk: usize) -> String {
        let config = crate::Config::from_yaml(YAML, "t.yaml", std::path::Path::new(".")).unwrap();
        let mut set = config.categories.required();
        for name in granted {
            set.insert(config.categories.id(name).unwrap());
        }
        let pass = Arc::new(TrackerPass::new(
            config.sites[0].clone(),
            config.categories.clone(),
            set,
            "portal.test".into(),
            "/".into(),
        ));
        let sink = Sink::default();
        let settings = Settings {
            element_content_handlers: handlers(&pass, &sink),
            ..Settings::new_send()
        };
        let mut rewriter = HtmlRewriter::new(settings, sink.clone());
        let mut out = Vec::new();
        for piece in html.as_bytes().chunks(chunk.max(1)) {
            rewriter.write(piece).unwrap();
            out.extend_from_slice(&sink.take());
        }
        rewriter.end().unwrap();
        sink.finish_open_script(&pass);
        out.extend_from_slice(&sink.take());
        String::from_utf8(out).unwrap()
    }

    fn rewrite(html: &str, granted: &[&str]) -> String {
        rewrite_in(html, granted, 7)
    }

    #[test]
    fn a_tracker_script_src_is_kept_inert_with_its_url_and_type_aside() {
        let out = rewrite(
            r#"<script type="text/javascript" async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>"#,
            &[],
        );
        assert_eq!(
            out,
            r#"<script type="text/plain" async data-consentry-type="text/javascript" data-consentry-src="https://www.googletagmanager.com/gtag/js?id=G-1" data-consentry-category="statistics"></script>"#
        );
    }

    #[test]
    fn an_inline_snippet_is_decided_at_its_end_tag_across_chunks() {
        let snippet =
            "<script id=\"ga\">\n  gtag('js', new Date());\n  gtag('config', 'G-1');\n</script>";
        for chunk in [1, 3, 16, 4096] {
            let out = rewrite_in(snippet, &[], chunk);
            assert_eq!(
                out,
                "<script type=\"text/plain\" id=\"ga\" data-consentry-category=\"statistics\">\n  gtag('js', new Date());\n  gtag('config', 'G-1');\n</script>",
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn other_scripts_pass_byte_for_byte() {
        let page = "<script  src='/app.js' defer></script><script>var gtagLike = 1;</script><script type=\"application/ld+json\">{\"a\":\"gtag('config'\"}</script>";
        assert_eq!(rewrite(page, &[]), page);
    }

    #[test]
    fn granted_categories_leave_their_trackers_alone() {
        let page = r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script><script>gtag('config','G-1')</script>"#;
        assert_eq!(rewrite(page, &["statistics"]), page);
        assert!(rewrite(page, &["third_party"]).contains("data-consentry-category=\"statistics\""));
    }

    #[test]
    fn a_frame_gets_a_placeholder_of_its_size_and_is_hidden() {
        let out = rewrite(
            r#"<iframe width="640" height="360" src="https://www.youtube-nocookie.com/embed/x"></iframe>"#,
            &[],
        );
        assert!(
            out.starts_with(
                "<div class=\"consentry-placeholder\" data-consentry-placeholder=\"third_party\""
            ),
            "{out}"
        );
        assert!(out.contains("width:640px;height:360px"), "{out}");
        assert!(out.contains(">Allow third_party</button>"), "{out}");
        assert!(
            out.contains("<input type=\"hidden\" name=\"category\" value=\"third_party\">"),
            "{out}"
        );
        assert!(out.ends_with(r#"<iframe width="640" height="360" data-consentry-src="https://www.youtube-nocookie.com/embed/x" data-consentry-category="third_party" hidden=""></iframe>"#), "{out}");
    }

    #[test]
    fn pixels_lose_src_and_srcset_and_keep_the_rest() {
        assert_eq!(
            rewrite(
                r#"<img alt="" src="https://www.facebook.com/tr?id=1" class="px">"#,
                &[]
            ),
            r#"<img alt="" class="px" data-consentry-category="third_party">"#
        );
        assert_eq!(
            rewrite(
                r#"<source srcset="/a.webp 1x, https://px.ads.linkedin.com/collect 2x">"#,
                &[]
            ),
            r#"<source data-consentry-category="third_party">"#
        );
        let own = r#"<img src="/logo.png" srcset="/logo@2x.png 2x">"#;
        assert_eq!(rewrite(own, &[]), own);
    }

    #[test]
    fn prefetching_links_and_pings_to_trackers_go() {
        assert_eq!(
            rewrite(
                r#"<link rel="preconnect" href="https://www.googletagmanager.com"><link rel="stylesheet" href="/a.css">"#,
                &[]
            ),
            r#"<link rel="stylesheet" href="/a.css">"#
        );
        assert_eq!(
            rewrite(
                r#"<a href="/" ping="https://www.google-analytics.com/p /own">x</a>"#,
                &[]
            ),
            r#"<a href="/" ping="/own">x</a>"#
        );
        assert_eq!(
            rewrite(
                r#"<a href="/" ping="https://www.google-analytics.com/p">x</a>"#,
                &[]
            ),
            r#"<a href="/">x</a>"#
        );
    }

    #[test]
    fn noscript_content_is_rewritten_as_markup() {
        assert_eq!(
            rewrite(
                r#"<noscript><img height="1" src="https://www.facebook.com/tr?id=1&noscript=1"/><p>no js</p></noscript>"#,
                &[]
            ),
            r#"<noscript><img height="1" data-consentry-category="third_party" /><p>no js</p></noscript>"#
        );
        let gtm = r#"<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-1" height="0" width="0"></iframe></noscript>"#;
        assert!(
            rewrite(gtm, &[]).contains(
                "data-consentry-src=\"https://www.googletagmanager.com/ns.html?id=GTM-1\""
            )
        );
    }

    #[test]
    fn a_script_never_closed_is_decided_at_the_end_of_the_document() {
        assert_eq!(
            rewrite("<script>fbq('init', '1');", &[]),
            "<script type=\"text/plain\" data-consentry-category=\"third_party\">fbq('init', '1');"
        );
    }

    #[test]
    fn a_signature_past_the_hold_bound_drops_the_rest_of_its_script() {
        let before = GAVE_UP.get();
        let filler = "x".repeat(2 * INLINE_HOLD);
        let out = rewrite_in(
            &format!("<script>var a='{filler}';\nfbq('init', '1');</script><p>after</p>"),
            &[],
            64 * 1024,
        );
        assert!(!out.contains("fbq('init'"), "the signature never goes out");
        assert!(out.ends_with("</script><p>after</p>"), "the page goes on");
        assert!(GAVE_UP.get() > before);
    }

    #[test]
    fn character_references_in_urls_are_read_as_a_browser_reads_them() {
        assert_eq!(
            decode_references("https://www&#46;google-analytics&period;com/&amp;x"),
            "https://www.google-analytics.com/&x"
        );
        assert_eq!(decode_references("&#x2F;&#47;a&unknown;"), "//a&unknown;");
        assert!(matches!(
            decode_references("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn every_handled_element_has_its_kind_and_its_kind_a_selector() {
        for (name, kind) in HANDLED {
            assert_eq!(HandlerKind::of(name), Some(kind));
        }
        assert_eq!(HandlerKind::of(b"div"), None);
        assert!(SELECTORS.is_some(), "every kind's selector parses");
        assert_eq!(
            HandlerKind::ALL.map(|kind| HANDLED.iter().filter(|(_, k)| *k == kind).count()),
            [1, 4, 3, 1, 2, 1],
            "each kind has its elements, and ALL every kind"
        );
    }

    #[test]
    fn the_guard_script_is_never_a_tracker_and_nothing_else_passes_for_it() {
        assert!(is_guard_url(
            b"/.consentry/guard.js?v=42064f523024244b&amp;g=1"
        ));
        assert!(is_guard_url(b"/.consentry/guard.js?v=0&g=ff"));
        for other in [
            &b"/.consentry/guard.js?v=0&g=1/../../matomo.js"[..],
            b"/.consentry/guard.js?v=0%2F..%2Fmatomo.js",
            b"/.consentry/../matomo.js?v=0",
            b"https://www.googletagmanager.com/.consentry/guard.js?v=0",
            b"/.consentry/guard.jsx?v=0",
        ] {
            assert!(!is_guard_url(other), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn link_fields_split_outside_urls_and_quotes() {
        assert_eq!(
            link_entries(r#"<https://a/x,y>; rel="pre,connect", </b>; rel=preload"#),
            vec![
                r#"<https://a/x,y>; rel="pre,connect""#,
                " </b>; rel=preload"
            ]
        );
    }

    #[test]
    fn only_script_types_that_run_are_inline_candidates() {
        for runs in [
            None,
            Some(""),
            Some("text/javascript"),
            Some("module"),
            Some(" Application/JavaScript "),
        ] {
            assert!(executable(runs), "{runs:?}");
        }
        for inert in [
            Some("text/plain"),
            Some("application/ld+json"),
            Some("text/template"),
        ] {
            assert!(!executable(inert), "{inert:?}");
        }
    }
}

//! The head stage when trackers are blocked: the head link and the guard script put
//! in place by the tracker stage's own reader of the page, not by lol_html.
//!
//! With tracker blocking on, the tracker stage reads the whole page with the
//! tokenizer of [`crate::html::tracker_scan`]; running lol_html over the page's first
//! kilobyte as well, to find `<head>`, was most of what a page cost on top of that
//! (bench/README.md, "one reader of the page"). This stage follows the page with that
//! tokenizer ([`follow_watching`]) only as far as the place it looks for, and puts
//! the markup where the lol_html head stage ([`super::HeadStage`]) puts it:
//!
//! - the head link, then the guard, first in `<head>` (right after its start tag);
//! - the guard before the first `<script>`, when one comes before `<head>`;
//! - the guard first in `<body>`, when `<body>` comes before any `<head>`;
//! - `<html lang>` (its first start tag) read for the page's language.
//!
//! Its work ends at `<head>` or `<body>`, or after [`HEAD_BUDGET`](super::HEAD_BUDGET)
//! bytes, as the lol_html stage's does; past that the page gets no link, but the
//! guard, if no script came yet, goes where the stage stopped (lol_html's stage
//! left it out). `trackers.block: false` keeps the lol_html
//! stage: today's injection path, unchanged, and the yardstick the tracker budget is
//! measured against. A property test holds both stages to the same output.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use encoding_rs::Encoding;

use super::{HEAD_BUDGET, PageLanguage, Plan, UNDECIDED};
use crate::html::tracker_scan::{
    HeadTag, HeadWatch, Stop, follow_watching, read_attributes, tag_end,
};
use crate::html::trackers::TrackerPass;

/// How many bytes a head cut into many small pieces may be read again, in all,
/// before the stage gives up as it does past its budget (each piece that may end the
/// group it stopped at reads that group again).
const REREAD_AT_MOST: usize = 16 * HEAD_BUDGET;

pub(super) struct ScannedHead {
    /// The head link, put first in `<head>`.
    link: Arc<str>,
    /// The guard's tag, until it is placed.
    guard: Option<Arc<str>>,
    /// Until `<html lang>` is read: the page's language to decide.
    page: Option<PageLanguage>,
    /// The tracker pass, told the page's language too.
    pass: Option<Arc<TrackerPass>>,
    encoding: &'static Encoding,
    /// The page from the last place the tokenizer is in the data state, where a
    /// group begins that did not end in what came so far.
    held: BytesMut,
    /// Bytes seen so far, and read again.
    fed: usize,
    reread: usize,
    done: bool,
}

impl ScannedHead {
    pub(super) fn new(plan: &Plan) -> ScannedHead {
        ScannedHead {
            link: plan.head_markup.clone(),
            guard: plan.guard_markup.clone(),
            page: plan.by_html_lang.clone(),
            pass: plan.trackers.clone(),
            encoding: plan.encoding.into(),
            held: BytesMut::new(),
            fed: 0,
            reread: 0,
            done: false,
        }
    }

    fn watch(&self) -> HeadWatch {
        HeadWatch {
            html: self
                .page
                .as_ref()
                .is_some_and(|page| page.chosen.load(Ordering::Relaxed) == UNDECIDED),
            script: self.guard.is_some(),
        }
    }

    /// Reads `<html lang>` (the first `lang` attribute, its value as written, decoded
    /// in the page's charset, as lol_html's `get_attribute` gives it).
    fn read_lang(&mut self, lang: Option<&[u8]>) {
        let Some(page) = self.page.as_ref() else {
            return;
        };
        let lang = lang.map(|value| self.encoding.decode_without_bom_handling(value).0);
        let found = page.read(lang.as_deref());
        if let (Some(pass), Some(found)) = (&self.pass, found) {
            pass.language.store(found, Ordering::Relaxed);
        }
    }

    /// Feeds one chunk. Returns the bytes decided, with the markup in place, and the
    /// part of the chunk past the stage's work, as it came.
    pub(super) fn push(&mut self, chunk: Bytes) -> (Bytes, Bytes) {
        if self.done {
            return (Bytes::new(), chunk);
        }
        self.fed += chunk.len();
        let bytes = if self.held.is_empty() {
            chunk
        } else {
            self.held.extend_from_slice(&chunk);
            // Every group ends with a `>`: without one the held group is still cut.
            if memchr::memchr(b'>', &chunk).is_none() && self.fed <= HEAD_BUDGET {
                return (Bytes::new(), Bytes::new());
            }
            self.reread += self.held.len();
            self.held.split().freeze()
        };
        let mut placed = BytesMut::new();
        // Bytes of `bytes` already in `placed`, and where the tokenizer goes on from.
        let mut emitted = 0;
        let mut at = 0;
        loop {
            let (upto, stop) = follow_watching(None, &bytes[at..], Some(self.watch()));
            let lt = at + upto;
            let cut = match stop {
                Stop::End => None,
                Stop::Watched(tag, name_end) => match self.place(tag, &bytes, at + name_end) {
                    Placed::ReadOn(from) => {
                        at = from;
                        continue;
                    }
                    Placed::GuardBefore => {
                        placed.extend_from_slice(&bytes[emitted..lt]);
                        placed.extend_from_slice(
                            self.guard.take().as_deref().unwrap_or("").as_bytes(),
                        );
                        emitted = lt;
                        at = lt;
                        continue;
                    }
                    Placed::After { gt, link } => {
                        placed.extend_from_slice(&bytes[emitted..=gt]);
                        if link {
                            placed.extend_from_slice(self.link.as_bytes());
                        }
                        if let Some(guard) = self.guard.take() {
                            placed.extend_from_slice(guard.as_bytes());
                        }
                        self.done = true;
                        return (placed.freeze(), bytes.slice(gt + 1..));
                    }
                    Placed::Cut => Some(lt),
                },
                Stop::Cut | Stop::Candidate => Some(lt),
            };
            if self.fed > HEAD_BUDGET || self.reread > REREAD_AT_MOST {
                // Past the budget the page goes on as it came, without the link (as
                // with the lol_html stage). But the guard, if no script came yet,
                // goes where the stage stopped: the tokenizer is in the data state
                // there, so it is an element of its own and still runs before any
                // script of the page.
                self.done = true;
                let stopped = cut.unwrap_or(bytes.len());
                if let Some(guard) = self.guard.take() {
                    placed.extend_from_slice(&bytes[emitted..stopped]);
                    placed.extend_from_slice(guard.as_bytes());
                    emitted = stopped;
                }
                return (placed.freeze(), bytes.slice(emitted..));
            }
            let decided = match cut {
                Some(lt) => {
                    self.held.extend_from_slice(&bytes[lt..]);
                    lt
                }
                None => bytes.len(),
            };
            if placed.is_empty() {
                return (bytes.slice(..decided), Bytes::new());
            }
            placed.extend_from_slice(&bytes[emitted..decided]);
            return (placed.freeze(), Bytes::new());
        }
    }

    /// What a watched start tag (its name ending at `name_end`) does.
    fn place(&mut self, tag: HeadTag, bytes: &[u8], name_end: usize) -> Placed {
        match tag {
            HeadTag::Html => {
                let mut lang = None;
                let gt = read_attributes(bytes, name_end, |name, value, _| {
                    if lang.is_none() && name.eq_ignore_ascii_case(b"lang") {
                        lang = Some(value);
                    }
                });
                let Some(gt) = gt else {
                    return Placed::Cut;
                };
                self.read_lang(lang);
                Placed::ReadOn(gt + 1)
            }
            // Only watched while the guard is still to place.
            HeadTag::Script => Placed::GuardBefore,
            HeadTag::Head | HeadTag::Body => match tag_end(bytes, name_end) {
                Some(gt) => Placed::After {
                    gt,
                    link: tag == HeadTag::Head,
                },
                None => Placed::Cut,
            },
        }
    }

    /// The end of the page: what was held goes on as it came.
    pub(super) fn finish(&mut self) -> Bytes {
        self.done = true;
        self.held.split().freeze()
    }
}

/// What [`ScannedHead::place`] made of a watched tag.
enum Placed {
    /// The tokenizer reads on from here.
    ReadOn(usize),
    /// The guard goes before the tag (a script's), and the tokenizer reads on from it.
    GuardBefore,
    /// After the tag's `>` go the link (`link`: a `<head>`) and the guard if not yet
    /// placed, and the stage's work is done.
    After { gt: usize, link: bool },
    /// The tag does not end in the bytes.
    Cut,
}

//! Inserting markup just before the last `</body>` of a streamed document.
//!
//! DESIGN.md defines the place textually: before the last `</body>` (matched without
//! regard to case), or at the end when there is none. "Last" cannot be known until
//! the stream ends, so from a candidate `</body>` on, bytes are held back; a later
//! candidate releases the earlier one. What is held is bounded by [`MAX_HELD`]: past
//! it the markup goes before the candidate held and the rest streams through, so
//! memory stays constant whatever follows a `</body>`.
//!
//! One refinement of "last": a `</body>` that is text inside a script, style,
//! textarea, title, noscript (or another raw-text element, [`RAW_TEXT`]) or comment
//! (`var s = '</body>'`) is passed over, after the real
//! one or on a page with none, since putting the link there would change a script or
//! hide the link. It is looked for only when what follows the last candidate closes
//! such an element, so a page pays nothing for it; an element opened in an earlier
//! chunk than its `</body>` when no real one came before, or closed in a later one,
//! is not seen.
//!
//! The search is a SIMD substring search for `</b` and `</B` and a case-insensitive
//! check of the bytes after it, about a microsecond for a 30 KB page.

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use memchr::memmem;

/// The most bytes held after a candidate `</body>` before giving up on a later one.
pub const MAX_HELD: usize = 64 * 1024;

const MARKER_LEN: usize = "</body".len();

fn is_tag_end(b: u8) -> bool {
    matches!(b, b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Where the end of `data` may be the start of a `</body` tag cut by the chunk end.
fn partial_at_end(data: &[u8]) -> Option<usize> {
    let tail_start = data.len().saturating_sub(MARKER_LEN);
    (tail_start..data.len()).find(|&at| {
        let rest = &data[at..];
        rest.eq_ignore_ascii_case(&b"</body"[..rest.len()])
    })
}

/// Whether a complete `</body` tag (the byte after it known) starts at `at`.
fn body_end_at(data: &[u8], at: usize) -> bool {
    let rest = &data[at..];
    rest.len() > MARKER_LEN
        && rest[..MARKER_LEN].eq_ignore_ascii_case(b"</body")
        && is_tag_end(rest[MARKER_LEN])
}

/// The last complete `</body` tag in `data`. Most pages end with it: the last bytes
/// are looked at first, going back over each `</`. Elsewhere, every `</body` begins
/// `</b` or `</B`, rare in a page: two forward searches (SIMD, their searchers built
/// once) cost less than going back over every `</` of a chunk that holds no `</body>`
/// (most chunks of a page).
fn last_complete(data: &[u8]) -> Option<usize> {
    static STARTS: LazyLock<[memmem::Finder<'static>; 2]> =
        LazyLock::new(|| [memmem::Finder::new(b"</b"), memmem::Finder::new(b"</B")]);
    let tail = data.len().saturating_sub(LAST_BYTES);
    let in_tail = memmem::rfind_iter(&data[tail..], b"</")
        .map(|at| tail + at)
        .find(|&at| body_end_at(data, at));
    in_tail.or_else(|| {
        STARTS
            .iter()
            .filter_map(|finder| {
                finder
                    .find_iter(data)
                    .filter(|&at| body_end_at(data, at))
                    .last()
            })
            .max()
    })
}

/// How far back from its end a chunk is first looked at for `</body`.
const LAST_BYTES: usize = 256;

/// Whether `tail` (what follows a candidate) ends a comment or a raw-text element.
fn closes_raw_text(tail: &[u8]) -> bool {
    memmem::find(tail, b"-->").is_some()
        || memmem::find_iter(tail, b"</").any(|at| {
            RAW_TEXT
                .iter()
                .any(|name| ends_element(&tail[at + 2..], name))
        })
}

/// Whether `rest` (what follows a `</`) starts with `name`, in any case.
fn ends_element(rest: &[u8], name: &[u8]) -> bool {
    rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name)
}

/// Elements whose content is text to the HTML tokenizer (WHATWG HTML §13.1.2.1, and
/// §13.2.6.4.7 for `noscript`, text in a browser that runs scripts): a `</body>`
/// inside them does not end the body.
const RAW_TEXT: [&[u8]; 9] = [
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
    b"noscript",
];

/// The last complete `</body` tag in `data` that stands outside comments and raw-text
/// elements opened in `data`. With `from_candidate`, `data` starts at a candidate taken
/// to be a real tag, and the answer is at least 0. Only called when
/// [`closes_raw_text`] says it may matter, so the common page never pays for it.
fn last_outside_raw_text(data: &[u8], from_candidate: bool) -> Option<usize> {
    let mut last = from_candidate.then_some(0);
    let mut at = usize::from(from_candidate);
    while let Some(found) = memchr::memchr(b'<', &data[at..]) {
        let tag = at + found;
        let rest = &data[tag..];
        if rest.starts_with(b"<!--") {
            // A comment ends at `-->`; one left open runs to the end of what is held.
            match memmem::find(&rest[4..], b"-->") {
                Some(end) => at = tag + 4 + end + 3,
                None => break,
            }
            continue;
        }
        if let Some(name) = RAW_TEXT.iter().find(|name| opens(rest, name)) {
            match closing(&rest[1 + name.len()..], name) {
                Some(end) => at = tag + 1 + name.len() + end,
                None => break,
            }
            continue;
        }
        if body_end_at(data, tag) {
            last = Some(tag);
        }
        at = tag + 1;
    }
    last
}

/// Whether `rest` starts with the start tag `<name` (any case, then a tag end).
fn opens(rest: &[u8], name: &[u8]) -> bool {
    rest.len() > name.len() + 1
        && rest[1..=name.len()].eq_ignore_ascii_case(name)
        && is_tag_end(rest[name.len() + 1])
}

/// Where the end tag `</name` (any case) starts in `text`.
fn closing(text: &[u8], name: &[u8]) -> Option<usize> {
    memmem::find_iter(text, b"</").find(|&at| ends_element(&text[at + 2..], name))
}

/// The streaming inserter.
#[derive(Debug)]
pub struct BodyEnd {
    markup: Bytes,
    /// Bytes not yet emitted: a candidate `</body>` and what followed it, or a tail
    /// that may begin one.
    held: BytesMut,
    /// `held` starts with a complete `</body` tag.
    candidate: bool,
    /// The markup has been emitted (or never will be).
    done: bool,
    /// Some byte has come: an empty body stays empty.
    seen: bool,
}

impl BodyEnd {
    pub fn new(markup: Bytes) -> Self {
        BodyEnd {
            markup,
            held: BytesMut::new(),
            candidate: false,
            done: false,
            seen: false,
        }
    }

    /// Replaces the markup, if it has not gone out yet.
    pub fn set_markup(&mut self, markup: Bytes) {
        if !self.done {
            self.markup = markup;
        }
    }

    /// Takes the next chunk; returns what can be emitted now (possibly nothing).
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        if self.done {
            return chunk;
        }
        self.seen |= !chunk.is_empty();
        let data: Bytes = if self.held.is_empty() {
            chunk
        } else {
            self.held.extend_from_slice(&chunk);
            self.held.split().freeze()
        };
        // A candidate at the very start is already known; look for a later one.
        let search_from = usize::from(self.candidate);
        let mut tag = last_complete(&data[search_from..]).map(|at| at + search_from);
        if tag.is_some_and(|at| closes_raw_text(&data[at..])) {
            // Rare: what follows the last `</body>` closes a script, style, textarea or
            // comment, so that `</body>` may be text in it. Read again, skipping such
            // text: from the held candidate, or else from the start of this chunk, so
            // that a script or comment opened here before any real `</body>` (a page
            // that leaves its end tag out) is seen too.
            tag = if self.candidate {
                last_outside_raw_text(&data, true).filter(|&chosen| chosen != 0)
            } else {
                last_outside_raw_text(&data, false)
            };
        }
        match (tag, self.candidate) {
            (Some(at), _) => {
                self.held.extend_from_slice(&data[at..]);
                self.candidate = true;
                self.give_up_if_too_much(data.slice(..at))
            }
            // The held candidate is still the last one: keep holding.
            (None, true) => {
                self.held.extend_from_slice(&data);
                self.give_up_if_too_much(Bytes::new())
            }
            (None, false) => match partial_at_end(&data) {
                Some(at) => {
                    self.held.extend_from_slice(&data[at..]);
                    data.slice(..at)
                }
                None => data,
            },
        }
    }

    /// When what is held passes the bound: the candidate is taken as the last.
    fn give_up_if_too_much(&mut self, before: Bytes) -> Bytes {
        if self.held.len() <= MAX_HELD {
            return before;
        }
        let mut out = BytesMut::with_capacity(before.len() + self.markup.len() + self.held.len());
        out.extend_from_slice(&before);
        out.extend_from_slice(&self.markup);
        out.extend_from_slice(&self.held.split());
        self.done = true;
        out.freeze()
    }

    /// The end of the document: the markup before the last `</body>`, or at the end.
    pub fn finish(&mut self) -> Bytes {
        if self.done || !self.seen {
            return Bytes::new();
        }
        self.done = true;
        let held = self.held.split().freeze();
        let mut out = BytesMut::with_capacity(held.len() + self.markup.len());
        if self.candidate {
            out.extend_from_slice(&self.markup);
            out.extend_from_slice(&held);
        } else {
            out.extend_from_slice(&held);
            out.extend_from_slice(&self.markup);
        }
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> String {
        let mut scanner = BodyEnd::new(Bytes::from_static(b"<a>L</a>"));
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend_from_slice(&scanner.push(Bytes::copy_from_slice(chunk)));
        }
        out.extend_from_slice(&scanner.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn inserts_before_the_body_end_at_every_split_point() {
        let page = b"<html><body><p>x</p></body></html>\n";
        for split in 0..=page.len() {
            assert_eq!(
                run(&[&page[..split], &page[split..]]),
                "<html><body><p>x</p><a>L</a></body></html>\n",
                "split at {split}"
            );
        }
    }

    #[test]
    fn inserts_before_the_last_of_several_in_any_case() {
        assert_eq!(
            run(&[b"<body>a</body>b</BODY >c"]),
            "<body>a</body>b<a>L</a></BODY >c"
        );
        assert_eq!(
            run(&[b"a</body>", b"b</Body>", b"c"]),
            "a</body>b<a>L</a></Body>c"
        );
    }

    #[test]
    fn a_body_end_in_a_script_comment_or_textarea_after_the_real_one_is_text() {
        assert_eq!(
            run(&[b"<body>x</body><script>var s='</body>';</script>"]),
            "<body>x<a>L</a></body><script>var s='</body>';</script>"
        );
        assert_eq!(
            run(&[b"<body>x</body>", b"<!-- </body> -->\n"]),
            "<body>x<a>L</a></body><!-- </body> -->\n"
        );
        assert_eq!(
            run(&[b"<body>x</body><TEXTAREA></body></textarea>"]),
            "<body>x<a>L</a></body><TEXTAREA></body></textarea>"
        );
        for element in ["noscript", "xmp", "iframe", "noembed", "noframes"] {
            let page = format!("<body>x</body><{element}></body></{element}>");
            assert_eq!(
                run(&[page.as_bytes()]),
                format!("<body>x<a>L</a></body><{element}></body></{element}>")
            );
        }
        // Once the script is closed, a later `</body>` counts again.
        assert_eq!(
            run(&[b"<body>x</body><script>'</body>'</script>y</body>"]),
            "<body>x</body><script>'</body>'</script>y<a>L</a></body>"
        );
        // A script that begins before the first candidate is not seen: textual rule.
        assert_eq!(
            run(&[b"<script>'</body>'</script><p>y</p></body>"]),
            "<script>'</body>'</script><p>y</p><a>L</a></body>"
        );
    }

    /// Regressions found by a black-box audit: on a page that leaves out its `</body>`,
    /// a `</body>` in a script or comment got the link, breaking the script.
    #[test]
    fn a_body_end_in_a_script_or_comment_on_a_page_without_one_is_text() {
        let page = b"<html><body>x<script>var s=\"</body>\";</script>";
        let expected = "<html><body>x<script>var s=\"</body>\";</script><a>L</a>";
        assert_eq!(run(&[page]), expected);
        // Split anywhere before the script opens: the chunk holding the `</body>` holds
        // the opener and the closer too (what the module's limits ask).
        let opener = 13;
        for split in 0..=opener {
            assert_eq!(
                run(&[&page[..split], &page[split..]]),
                expected,
                "split at {split}"
            );
        }
        assert_eq!(
            run(&[b"<body>x<!-- </body> --><p>y</p>"]),
            "<body>x<!-- </body> --><p>y</p><a>L</a>"
        );
        let written =
            b"<body><script>w.document.write(\"<html><body>\"+d+\"</body></html>\")</script>\n";
        let out = run(&[written]);
        assert!(out.ends_with("</script>\n<a>L</a>"), "{out}");
        // A real `</body>` after such a script still takes the link.
        assert_eq!(
            run(&[b"<body><script>'</body>'</script>y</body></html>"]),
            "<body><script>'</body>'</script>y<a>L</a></body></html>"
        );
    }

    #[test]
    fn appends_at_the_end_without_a_body_end() {
        assert_eq!(run(&[b"<p>fragment"]), "<p>fragment<a>L</a>");
        assert_eq!(run(&[b"</bodyx> </bod"]), "</bodyx> </bod<a>L</a>");
        assert_eq!(run(&[b" "]), " <a>L</a>");
    }

    #[test]
    fn an_empty_body_stays_empty() {
        assert_eq!(run(&[]), "");
        assert_eq!(run(&[b"", b""]), "");
    }

    #[test]
    fn holds_no_more_than_the_bound_after_a_candidate() {
        let mut scanner = BodyEnd::new(Bytes::from_static(b"<a>L</a>"));
        let first = scanner.push(Bytes::from_static(b"x</body>"));
        assert_eq!(&first[..], b"x");
        let filler = Bytes::from(vec![b'y'; MAX_HELD]);
        let out = scanner.push(filler);
        assert!(
            out.starts_with(b"<a>L</a></body>"),
            "given up: the markup goes before the candidate"
        );
        assert!(scanner.held.is_empty());
        assert_eq!(
            &scanner.push(Bytes::from_static(b"</body>"))[..],
            b"</body>"
        );
        assert!(scanner.finish().is_empty());
    }

    /// The last `</body` is found whether it is among a chunk's last bytes (looked
    /// at first) or further back, in any case, past `</b>` and `</bodyguard>`.
    #[test]
    fn finds_the_last_body_end_near_the_end_or_far_from_it() {
        let far = "</p>".repeat(LAST_BYTES);
        for (page, expected) in [
            (format!("</body>x</Body >{far}"), Some(8)),
            (format!("</b></BODY>{far}</b></bodyguard>"), Some(4)),
            (format!("{far}</body>x</bOdY>"), Some(far.len() + 8)),
            (format!("</b>{far}</bodyguard>"), None),
        ] {
            assert_eq!(last_complete(page.as_bytes()), expected, "{page:.40}");
        }
    }

    #[test]
    fn finds_only_complete_tags() {
        assert_eq!(last_complete(b"</body>"), Some(0));
        assert_eq!(last_complete(b"</BODY\n"), Some(0));
        assert_eq!(last_complete(b"</body"), None);
        assert_eq!(last_complete(b"</bodyguard>"), None);
        assert_eq!(partial_at_end(b"ab</bo"), Some(2));
        assert_eq!(partial_at_end(b"ab</body"), Some(2));
        assert_eq!(partial_at_end(b"ab</body>"), None);
        assert_eq!(partial_at_end(b"ab<"), Some(2));
    }
}

//! Reading cookie names the way a browser does.
//!
//! A proxy that asks a strict parser whether a `Set-Cookie` line is valid, and lets the
//! line through when the answer is "no", leaks exactly the cookies nobody looked at.
//! Browsers store far more than RFC 6265's grammar allows (`_ga x=1`, names with
//! spaces or non-ASCII bytes), so the name is read by the user-agent algorithm of
//! RFC 6265 §5.2 instead: the text before the first `=` of the part before the
//! first `;`, with spaces and tabs trimmed. Everything is done on bytes because
//! header values need not be UTF-8.

use std::ops::Range;

/// The name a browser would store from a `Set-Cookie` field value, or `None` when
/// there is none (no `=`, or an empty name): such a line is unclassified.
pub fn set_cookie_name(line: &[u8]) -> Option<&[u8]> {
    set_cookie_name_range(line).map(|range| &line[range])
}

/// Where [`set_cookie_name`]'s name stands in `line`.
pub fn set_cookie_name_range(line: &[u8]) -> Option<std::ops::Range<usize>> {
    // The first `=` of the part before the first `;`: whichever of the two comes first
    // decides (a `;` first means the pair has no `=`, so no name).
    let eq = memchr::memchr2(b';', b'=', line).filter(|&at| line[at] == b'=')?;
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line[..eq].iter().position(|b| !is_blank(b))?;
    let end = line[..eq].iter().rposition(|b| !is_blank(b))? + 1;
    Some(start..end)
}

/// One `name=value` item of a request's `Cookie` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieItem<'a> {
    /// Empty for an item without `=` or with an empty name (both unclassified).
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// The item as it came, trimmed; what is forwarded when it is kept.
    pub raw: &'a [u8],
}

/// Splits a `Cookie` header value into its items (RFC 6265 §4.2.1 / §5.4), skipping
/// empty ones. An item with no `=` is a nameless cookie: browsers send those as the
/// bare value.
pub fn cookie_items(header: &[u8]) -> impl Iterator<Item = CookieItem<'_>> {
    cookie_item_ranges(header).map(|r| CookieItem {
        name: &header[r.name],
        value: &header[r.value],
        raw: &header[r.raw],
    })
}

/// Where a [`CookieItem`]'s parts stand in its header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRanges {
    pub raw: Range<usize>,
    /// Empty (at `raw.start`) for an item without `=`.
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// [`cookie_items`] as ranges, for a caller that keeps the header and the positions.
pub fn cookie_item_ranges(header: &[u8]) -> impl Iterator<Item = ItemRanges> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < header.len() {
            let start = at;
            let end = memchr::memchr(b';', &header[at..]).map_or(header.len(), |i| at + i);
            at = end + 1;
            let raw = trim(header, start..end);
            if raw.is_empty() {
                continue;
            }
            return Some(match memchr::memchr(b'=', &header[raw.clone()]) {
                Some(i) => ItemRanges {
                    name: trim(header, raw.start..raw.start + i),
                    value: trim(header, raw.start + i + 1..raw.end),
                    raw,
                },
                None => ItemRanges {
                    name: raw.start..raw.start,
                    value: raw.clone(),
                    raw,
                },
            });
        }
        None
    })
}

/// `range` of `bytes` without its leading and trailing spaces and tabs.
fn trim(bytes: &[u8], range: Range<usize>) -> Range<usize> {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let part = &bytes[range.clone()];
    let start = part.iter().position(|b| !is_blank(b)).unwrap_or(part.len());
    let end = part
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(start, |i| i + 1);
    range.start + start..range.start + end.max(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_name_before_the_first_equals_sign() {
        assert_eq!(set_cookie_name(b"_ga=GA1.2; Path=/"), Some(&b"_ga"[..]));
        assert_eq!(set_cookie_name(b"a=b=c"), Some(&b"a"[..]));
    }

    #[test]
    fn keeps_names_a_strict_parser_rejects() {
        assert_eq!(set_cookie_name(b"_ga x=1"), Some(&b"_ga x"[..]));
        assert_eq!(set_cookie_name(b"  \t_ga \t=1"), Some(&b"_ga"[..]));
        assert_eq!(
            set_cookie_name("caf\u{e9}=1".as_bytes()),
            Some("caf\u{e9}".as_bytes())
        );
    }

    #[test]
    fn a_line_without_a_name_is_unclassified() {
        assert_eq!(set_cookie_name(b"foo"), None);
        assert_eq!(set_cookie_name(b"=bar"), None);
        assert_eq!(set_cookie_name(b" =bar"), None);
        assert_eq!(set_cookie_name(b"foo; a=b"), None);
        assert_eq!(set_cookie_name(b""), None);
    }

    #[test]
    fn splits_request_cookies_and_keeps_nameless_items() {
        let items: Vec<_> = cookie_items(b"a=1; b = 2;;  lonely ; =x").collect();
        assert_eq!(items.len(), 4);
        assert_eq!((items[0].name, items[0].value), (&b"a"[..], &b"1"[..]));
        assert_eq!((items[1].name, items[1].value), (&b"b"[..], &b"2"[..]));
        assert_eq!(items[1].raw, b"b = 2");
        assert_eq!((items[2].name, items[2].value), (&b""[..], &b"lonely"[..]));
        assert_eq!(items[3].name, b"");
    }

    /// The splitter against the plain reading of RFC 6265 §5.4 it replaced (split at
    /// every `;`, trim blanks, drop empty items, name before the first `=`).
    fn reference(header: &[u8]) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let trim = |b: &[u8]| {
            let blank = |c: &u8| *c == b' ' || *c == b'\t';
            let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
            let end = b.iter().rposition(|c| !blank(c)).map_or(start, |i| i + 1);
            b[start..end.max(start)].to_vec()
        };
        header
            .split(|&b| b == b';')
            .map(trim)
            .filter(|raw| !raw.is_empty())
            .map(|raw| match raw.iter().position(|&b| b == b'=') {
                Some(eq) => (trim(&raw[..eq]), trim(&raw[eq + 1..]), raw),
                None => (Vec::new(), raw.clone(), raw),
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn splits_as_the_plain_reading_does(header in proptest::collection::vec(
            proptest::sample::select(&b"ab=; \t"[..]), 0..40)) {
            let got: Vec<_> = cookie_items(&header)
                .map(|i| (i.name.to_vec(), i.value.to_vec(), i.raw.to_vec()))
                .collect();
            proptest::prop_assert_eq!(got, reference(&header));
        }
    }
}

//! Comma-separated list fields (RFC 9110 §5.6.1): `Connection`, `Transfer-Encoding`,
//! `Content-Encoding`, `Accept-Encoding`, `Cache-Control`, `Vary`...
//!
//! A list may be split across several field lines (RFC 9110 §5.3), and empty items
//! are ignored. Items are read as bytes: the tokens that matter are ASCII whatever
//! else a line holds. Quoted strings are not parsed (a comma inside one splits it),
//! which no caller here depends on.

use http::header::{GetAll, HeaderValue};

/// The items of every line of a list field, in order, trimmed, empty ones left out.
pub fn items<'a>(lines: GetAll<'a, HeaderValue>) -> impl Iterator<Item = &'a [u8]> + 'a {
    lines.into_iter().flat_map(line_items)
}

/// The items of one line.
pub fn line_items(line: &HeaderValue) -> impl Iterator<Item = &[u8]> {
    line.as_bytes()
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use http::header::VARY;

    #[test]
    fn reads_every_line_trims_and_skips_empty_items() {
        let mut h = HeaderMap::new();
        h.append(VARY, HeaderValue::from_static(" Accept-Encoding ,, Cookie"));
        h.append(VARY, HeaderValue::from_static(""));
        h.append(VARY, HeaderValue::from_static("\tSec-Fetch-Dest"));
        let got: Vec<&[u8]> = items(h.get_all(VARY)).collect();
        assert_eq!(got, [&b"Accept-Encoding"[..], b"Cookie", b"Sec-Fetch-Dest"]);
    }
}

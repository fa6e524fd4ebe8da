//! How a consent cookie's value is read.
//!
//! Every format sits behind one interface, [`Format::read`]: bytes in, the categories
//! the visitor granted (and the policy revision they were granted under) out, or
//! [`Unreadable`]. Anything a reader cannot make sense of is `Unreadable`, and the
//! caller then grants only the required categories: no format ever guesses.
//!
//! A format names things in its own words (cookieconsent's `analytics`, OneTrust's
//! `C0002`, TCF purpose numbers); a [`Vocabulary`] built at load time maps those words
//! to consentry's categories. A word that maps to nothing grants nothing.

use std::borrow::Cow;

use crate::cookies::category::{CategoryId, CategorySet};

mod cookiebot;
mod cookieconsent;
mod django_cookie_consent;
mod govuk;
mod id;
pub use id::hashed;
mod json;
mod klaro;
mod list;
mod onetrust;
mod tcf;

#[cfg(test)]
mod props;

/// The most bytes a consent value may have; a longer one is refused unread.
pub const MAX_VALUE_BYTES: usize = 4096;

/// What a consent cookie says, once read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Categories the visitor granted (required ones are added by the caller).
    pub granted: CategorySet,
    /// The policy revision the choice was made under, when the format records one.
    pub revision: Option<u64>,
}

/// A value the format could not read. The reason is for logs; it never holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

/// The consent-cookie formats consentry reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON object of category → bool (consentry's own; the default).
    Json,
    /// Comma-separated category names.
    List,
    /// vanilla-cookieconsent (v3 `categories`, v2 `level`), cookie `cc_cookie`.
    Cookieconsent,
    /// Klaro's JSON object of service → bool, cookie `klaro`.
    Klaro,
    /// Cookiebot's JavaScript object literal, cookie `CookieConsent`.
    Cookiebot,
    /// OneTrust's query string with `groups=ID:1,ID:0`, cookie `OptanonConsent`.
    Onetrust,
    /// GOV.UK's JSON object of purpose → bool, cookie `cookies_policy`.
    Govuk,
    /// django-cookie-consent's `group=value|…`, cookie `cookie_consent`.
    DjangoCookieConsent,
    /// An IAB TCF v2.2 TC string, cookie `euconsent-v2`.
    Tcf,
}

impl Format {
    /// Every format, with the name `consent.format` uses for it.
    pub const ALL: &'static [(&'static str, Format)] = &[
        ("json", Format::Json),
        ("list", Format::List),
        ("cookieconsent", Format::Cookieconsent),
        ("klaro", Format::Klaro),
        ("cookiebot", Format::Cookiebot),
        ("onetrust", Format::Onetrust),
        ("govuk", Format::Govuk),
        ("django-cookie-consent", Format::DjangoCookieConsent),
        ("tcf", Format::Tcf),
    ];

    pub fn from_name(name: &str) -> Option<Format> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    /// The cookie this format's banner writes, used when `consent.cookie` is not set.
    pub fn default_cookie(self) -> &'static str {
        match self {
            Format::Json | Format::List => "cookies_preferences",
            Format::Cookieconsent => "cc_cookie",
            Format::Klaro => "klaro",
            Format::Cookiebot => "CookieConsent",
            Format::Onetrust => "OptanonConsent",
            Format::Govuk => "cookies_policy",
            Format::DjangoCookieConsent => "cookie_consent",
            Format::Tcf => "euconsent-v2",
        }
    }

    /// Banner word → consentry category, applied before `consent.mapping`.
    pub fn default_mapping(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Format::Json | Format::List | Format::Tcf => &[],
            Format::Cookieconsent => cookieconsent::DEFAULT_MAPPING,
            Format::Klaro => klaro::DEFAULT_MAPPING,
            Format::Cookiebot => cookiebot::DEFAULT_MAPPING,
            Format::Onetrust => onetrust::DEFAULT_MAPPING,
            Format::Govuk => govuk::DEFAULT_MAPPING,
            Format::DjangoCookieConsent => django_cookie_consent::DEFAULT_MAPPING,
        }
    }

    /// TCF only: the purposes (1–24) each category needs besides purpose 1.
    pub fn default_purposes(self) -> &'static [(&'static str, &'static [u8])] {
        match self {
            Format::Tcf => tcf::DEFAULT_PURPOSES,
            _ => &[],
        }
    }

    /// Whether values of this format can say which policy revision they were given
    /// under (so that `consent.revision` can hold them to it).
    pub fn records_revision(self) -> bool {
        matches!(self, Format::Json | Format::Cookieconsent)
    }

    /// Whether consentry's own banner can write this format.
    pub fn writable(self) -> bool {
        matches!(self, Format::Json | Format::List)
    }

    /// Reads one cookie value. Never grants anything it cannot read.
    pub fn read(self, value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(Unreadable("oversized"));
        }
        match self {
            Format::Json => json::read(value, vocab),
            Format::List => list::read(value, vocab),
            Format::Cookieconsent => cookieconsent::read(value, vocab),
            Format::Klaro => klaro::read(value, vocab),
            Format::Cookiebot => cookiebot::read(value, vocab),
            Format::Onetrust => onetrust::read(value, vocab),
            Format::Govuk => govuk::read(value, vocab),
            Format::DjangoCookieConsent => django_cookie_consent::read(value, vocab),
            Format::Tcf => tcf::read(value, vocab),
        }
    }

    /// Writes a value that [`Format::read`] reads back as `granted` (for the banner).
    pub fn write(self, granted: CategorySet, vocab: &Vocabulary, revision: Option<u64>) -> String {
        self.write_with_id(granted, vocab, revision, None)
    }

    /// [`Format::write`], with consentry's consent ID (`id` key, `id:` item) when
    /// given: readers ignore it, [`Format::consent_id`] finds it.
    pub fn write_with_id(
        self,
        granted: CategorySet,
        vocab: &Vocabulary,
        revision: Option<u64>,
        id: Option<&str>,
    ) -> String {
        match self {
            Format::List => list::write(granted, vocab, id),
            _ => json::write(granted, vocab, revision, id),
        }
    }
}

/// A format's words for categories, compiled for one source.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    names: crate::FastMap<String, CategoryId>,
    /// For each category, the words that grant it, in configuration order (for writing).
    words: Vec<(CategoryId, String)>,
    /// TCF: for each category, the purposes (bit n-1 for purpose n) it needs.
    pub purposes: Vec<(CategoryId, u32)>,
    /// Cookiebot's `-1` (the visitor's region needs no consent) grants every category.
    pub region_exempt_grants_all: bool,
    /// Every configured category (what "accept all" means).
    pub all: CategorySet,
}

impl Vocabulary {
    pub fn new(all: CategorySet) -> Self {
        Vocabulary {
            all,
            ..Vocabulary::default()
        }
    }

    /// Maps a banner word to a category; `None` removes the word.
    pub fn map(&mut self, word: &str, category: Option<CategoryId>) {
        self.words.retain(|(_, w)| w != word);
        match category {
            Some(c) => {
                self.names.insert(word.to_owned(), c);
                self.words.push((c, word.to_owned()));
            }
            None => {
                self.names.remove(word);
            }
        }
    }

    /// The category a banner word grants, if any.
    pub fn category(&self, word: &str) -> Option<CategoryId> {
        self.names.get(word).copied()
    }

    /// The first word that names `category`.
    pub fn word(&self, category: CategoryId) -> Option<&str> {
        self.words
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, w)| w.as_str())
    }
}

/// The value as UTF-8 text; consent values are ASCII in every format consentry reads.
pub(crate) fn utf8(value: &[u8]) -> Result<&str, Unreadable> {
    std::str::from_utf8(value).map_err(|_| Unreadable("not UTF-8"))
}

/// Percent-decodes when the value contains `%`, else borrows it (decoded by
/// [`percent_decode_into`], as [`with_percent_decoded`] does, into a new string).
pub(crate) fn percent_decoded(value: &str) -> Result<Cow<'_, str>, Unreadable> {
    if !value.contains('%') {
        return Ok(Cow::Borrowed(value));
    }
    let mut decoded = vec![0; value.len()];
    let len = percent_decode_into(value.as_bytes(), &mut decoded);
    decoded.truncate(len);
    String::from_utf8(decoded)
        .map(Cow::Owned)
        .map_err(|_| Unreadable("percent-decoding gives no UTF-8"))
}

/// Calls `read` with `value` percent-decoded, or as it is when it has no `%`. The
/// decoded text is built on the stack up to 1 KiB (a typical preferences value is
/// well under): reading consent allocates nothing per request.
pub(crate) fn with_percent_decoded<R>(
    value: &str,
    read: impl FnOnce(&str) -> Result<R, Unreadable>,
) -> Result<R, Unreadable> {
    if !value.contains('%') {
        return read(value);
    }
    let bytes = value.as_bytes();
    // Decoded text is never longer than the value.
    let mut stack = [0u8; 1024];
    let mut heap = Vec::new();
    let room = if bytes.len() <= stack.len() {
        &mut stack[..]
    } else {
        heap.resize(bytes.len(), 0);
        &mut heap[..]
    };
    let len = percent_decode_into(bytes, room);
    let decoded = room.get(..len).unwrap_or_default();
    read(std::str::from_utf8(decoded).map_err(|_| Unreadable("percent-decoding gives no UTF-8"))?)
}

/// Percent-decodes `bytes` onto `out` as URL decoders do (the percent-encoding crate,
/// `decodeURIComponent` short of its errors): `%XY` with two hex digits is the byte
/// 0xXY; any other `%` stays as it is. One pass over the bytes with a table for the
/// digits: preferences values are mostly escapes, and this runs per request.
///
/// Writes into `out`, at least as long as `bytes`, and returns the decoded length.
fn percent_decode_into(bytes: &[u8], out: &mut [u8]) -> usize {
    let digit = |at: usize| {
        bytes
            .get(at)
            .map_or(NOT_HEX, |&b| HEX_VALUE[usize::from(b)])
    };
    let (mut at, mut len) = (0, 0);
    while let (Some(&b), Some(slot)) = (bytes.get(at), out.get_mut(len)) {
        len += 1;
        if b == b'%' {
            let (high, low) = (digit(at + 1), digit(at + 2));
            if high != NOT_HEX && low != NOT_HEX {
                *slot = high << 4 | low;
                at += 3;
                continue;
            }
        }
        *slot = b;
        at += 1;
    }
    len
}

const NOT_HEX: u8 = 0xff;

/// Each byte's value as a hexadecimal digit, or [`NOT_HEX`].
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            d @ b'0'..=b'9' => d - b'0',
            l @ b'a'..=b'f' => l - b'a' + 10,
            u @ b'A'..=b'F' => u - b'A' + 10,
            _ => NOT_HEX,
        };
        b += 1;
    }
    table
};

/// Percent-encodes like JavaScript's `encodeURIComponent`, which is how banners
/// (consentry's own included) write JSON into a cookie: the result is a valid cookie
/// value whatever the text.
pub fn encode_uri_component(text: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Removes one pair of surrounding double quotes (RFC 6265 allows a quoted value).
pub(crate) fn unquoted(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// necessary=0, statistics=1, first_party=2, third_party=3, each its own word.
    pub fn vocab() -> Vocabulary {
        let mut v = Vocabulary::new(CategorySet::EMPTY);
        for (i, name) in ["necessary", "statistics", "first_party", "third_party"]
            .iter()
            .enumerate()
        {
            let id = CategoryId(i as u8);
            v.all.insert(id);
            v.map(name, Some(id));
        }
        v
    }

    pub fn set(ids: &[u8]) -> CategorySet {
        ids.iter()
            .fold(CategorySet::EMPTY, |s, i| s.with(CategoryId(*i)))
    }

    /// The four categories' names in `format`'s words, compiled the way the config
    /// layer does it: category names first, then the format's defaults and TCF
    /// purposes; Cookiebot's `-1` grants every category (`no_consent_region` unset).
    pub fn vocab_for(format: Format) -> Vocabulary {
        const NAMES: [&str; 4] = ["necessary", "statistics", "first_party", "third_party"];
        let mut v = vocab();
        for (word, category) in format.default_mapping() {
            let i = NAMES
                .iter()
                .position(|n| n == category)
                .expect("a known category");
            v.map(word, Some(CategoryId(i as u8)));
        }
        for (category, list) in format.default_purposes() {
            let i = NAMES
                .iter()
                .position(|n| n == category)
                .expect("a known category");
            let bits = list.iter().fold(0u32, |bits, n| bits | 1 << (n - 1));
            v.purposes.push((CategoryId(i as u8), bits));
        }
        v.region_exempt_grants_all = true;
        v
    }

    /// Every subset of the four categories.
    pub fn subsets() -> impl Iterator<Item = CategorySet> {
        (0u8..16).map(|bits| {
            (0..4u8)
                .filter(|i| bits & 1 << i != 0)
                .fold(CategorySet::EMPTY, |s, i| s.with(CategoryId(i)))
        })
    }
}

#[cfg(test)]
mod decoding_tests {
    use super::percent_decode_into;

    proptest::proptest! {
        /// The hand-written loop decodes exactly as the percent-encoding crate does.
        #[test]
        fn percent_decodes_as_the_percent_encoding_crate(
            bytes in proptest::collection::vec(proptest::sample::select(&b"%7bB2g0a{\"\xff"[..]), 0..40)
        ) {
            let mut ours = vec![0; bytes.len()];
            let len = percent_decode_into(&bytes, &mut ours);
            let theirs: Vec<u8> = percent_encoding::percent_decode(&bytes).collect();
            proptest::prop_assert_eq!(&ours[..len], &theirs[..]);
        }
    }
}

//! `cookiebot`: Cookiebot's `CookieConsent`, a JavaScript object literal (not JSON),
//! often partly percent-encoded:
//! `{stamp:'-3ZcDGWq…==',necessary:true,preferences:false,statistics:true,marketing:false,method:'explicit',ver:1,utc:1697033110185,region:'gb'}`.
//!
//! The value is percent-decoded, then read by a small tokenizer that knows unquoted
//! keys, single- or double-quoted strings, `true`, `false`, `null` and numbers.
//! Only keys the vocabulary maps matter: such a key grants its category when `true`
//! and fails the whole value when it is anything but a boolean; a category is granted
//! only when every key mapped to it says `true`. Anything else the tokenizer does not
//! know (nested objects, arrays, bare words, a quoted key with escapes, text after
//! the closing brace) fails the whole value.
//!
//! The whole value `-1` means the visitor's region needs no consent: every category
//! when `no_consent_region: grant_all` (the default), none with `required_only`.
//! Newer Cookiebot scripts write that as an object instead, `stamp:'-1'` with every
//! category `true` and `method:'implied'`: under `required_only` it grants none too,
//! and under `grant_all` what its booleans say.

use std::borrow::Cow;

use super::{Recorded, Unreadable, Vocabulary, percent_decoded, unquoted, utf8};
use crate::cookies::category::CategorySet;

pub(super) const DEFAULT_MAPPING: &[(&str, &str)] = &[
    ("necessary", "necessary"),
    ("preferences", "first_party"),
    ("statistics", "statistics"),
    ("marketing", "third_party"),
];

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    let text = percent_decoded(unquoted(utf8(value)?))?;
    if text == "-1" {
        let granted = if vocab.region_exempt_grants_all {
            vocab.all
        } else {
            CategorySet::EMPTY
        };
        return Ok(Recorded {
            granted,
            revision: None,
        });
    }
    let mut region_exempt = false;
    let mut granted = CategorySet::EMPTY;
    let mut refused = CategorySet::EMPTY;
    let mut p = Tokens { text: &text, at: 0 };
    p.require(b'{')?;
    loop {
        if p.eat(b'}') {
            break;
        }
        let key = p.key()?;
        p.require(b':')?;
        let value = p.value()?;
        if key == "stamp" && value == Literal::Str("-1") {
            region_exempt = true;
        }
        if let Some(category) = vocab.category(&key) {
            match value {
                Literal::Bool(true) => granted.insert(category),
                Literal::Bool(false) => refused.insert(category),
                _ => return Err(Unreadable("a Cookiebot category is not a boolean")),
            }
        }
        if !p.eat(b',') {
            p.require(b'}')?;
            break;
        }
    }
    p.skip_spaces();
    if p.at != p.text.len() {
        return Err(Unreadable("trailing characters after the Cookiebot object"));
    }
    if region_exempt && !vocab.region_exempt_grants_all {
        return Ok(Recorded {
            granted: CategorySet::EMPTY,
            revision: None,
        });
    }
    Ok(Recorded {
        granted: granted.without(refused),
        revision: None,
    })
}

/// The `stamp` of a Cookiebot object (its consent ID), when the value is one and
/// the stamp a plain quoted string; for consent records only, never for granting.
pub(super) fn stamp(value: &[u8]) -> Option<String> {
    let text = percent_decoded(unquoted(utf8(value).ok()?)).ok()?;
    let mut p = Tokens { text: &text, at: 0 };
    p.require(b'{').ok()?;
    loop {
        if p.eat(b'}') {
            return None;
        }
        let key = p.key().ok()?;
        p.require(b':').ok()?;
        if let (true, Literal::Str(stamp)) = (key == "stamp", p.value().ok()?) {
            return Some(stamp.to_owned());
        }
        if !p.eat(b',') {
            return None;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal<'t> {
    Bool(bool),
    /// A quoted string without escapes, quotes off.
    Str(&'t str),
    Other,
}

const MALFORMED: Unreadable = Unreadable("not a Cookiebot object literal");

/// A cursor over the decoded text; every method skips leading spaces.
struct Tokens<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Tokens<'t> {
    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_spaces();
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn require(&mut self, byte: u8) -> Result<(), Unreadable> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(MALFORMED)
        }
    }

    /// Bytes while `pred` holds, as text (ASCII only, so always on a char boundary).
    fn run(&mut self, pred: impl Fn(u8) -> bool) -> &'t str {
        let start = self.at;
        while self.peek().is_some_and(&pred) {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    /// An unquoted identifier or a quoted string without escapes.
    fn key(&mut self) -> Result<Cow<'t, str>, Unreadable> {
        self.skip_spaces();
        match self.peek() {
            Some(b'\'' | b'"') => {
                let (body, escaped) = self.string()?;
                if escaped {
                    // Reading JavaScript escapes right is more than this reader
                    // needs; a key it cannot read with certainty fails the value.
                    return Err(Unreadable("an escaped key in a Cookiebot value"));
                }
                Ok(Cow::Borrowed(body))
            }
            _ => {
                let word = self.run(is_word_byte);
                if word.is_empty() {
                    Err(MALFORMED)
                } else {
                    Ok(Cow::Borrowed(word))
                }
            }
        }
    }

    /// A quoted string's body (escapes left in) and whether it had any.
    fn string(&mut self) -> Result<(&'t str, bool), Unreadable> {
        let quote = self.peek().ok_or(MALFORMED)?;
        self.at += 1;
        let start = self.at;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(MALFORMED),
                Some(b'\\') => {
                    escaped = true;
                    // The escaped character may be multi-byte: step over all of it.
                    let next = self.text[self.at + 1..].chars().next().ok_or(MALFORMED)?;
                    self.at += 1 + next.len_utf8();
                }
                Some(b) if b == quote => {
                    let body = &self.text[start..self.at];
                    self.at += 1;
                    return Ok((body, escaped));
                }
                Some(_) => self.at += 1,
            }
        }
    }

    fn value(&mut self) -> Result<Literal<'t>, Unreadable> {
        self.skip_spaces();
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(|(body, escaped)| {
                if escaped {
                    Literal::Other
                } else {
                    Literal::Str(body)
                }
            }),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| Literal::Other),
            _ => match self.run(is_word_byte) {
                "true" => Ok(Literal::Bool(true)),
                "false" => Ok(Literal::Bool(false)),
                "null" => Ok(Literal::Other),
                _ => Err(MALFORMED),
            },
        }
    }

    /// `-?digits(.digits)?([eE][+-]?digits)?`
    fn number(&mut self) -> Result<(), Unreadable> {
        self.eat_byte(b'-');
        self.digits()?;
        if self.eat_byte(b'.') {
            self.digits()?;
        }
        if self.eat_byte(b'e') || self.eat_byte(b'E') {
            let _ = self.eat_byte(b'+') || self.eat_byte(b'-');
            self.digits()?;
        }
        if self.peek().is_some_and(is_word_byte) {
            return Err(MALFORMED);
        }
        Ok(())
    }

    fn eat_byte(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> Result<(), Unreadable> {
        if self.run(|b| b.is_ascii_digit()).is_empty() {
            Err(MALFORMED)
        } else {
            Ok(())
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::test_support::{set, subsets, vocab_for};
    use super::*;

    fn granted(value: &str) -> Result<CategorySet, Unreadable> {
        read(value.as_bytes(), &vocab_for(Format::Cookiebot)).map(|r| r.granted)
    }

    /// As a browser sends it: quotes and commas percent-encoded, the rest raw.
    const REAL: &str = "{stamp:%27-3ZcDGWqaMvkfuUwZS9NZ1yoGPd1bZ1zsDrDMcjk5EUbS1X0uaxa7A==%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1697033110185%2Cregion:%27gb%27}";

    #[test]
    fn reads_a_real_cookiebot_value() {
        let r = read(REAL.as_bytes(), &vocab_for(Format::Cookiebot)).unwrap();
        assert_eq!(r.granted, set(&[0, 1]));
        assert_eq!(r.revision, None);
    }

    #[test]
    fn reads_raw_and_fully_encoded_values() {
        assert_eq!(
            granted(
                "{stamp:'-3ZcDGWqaMvkfuUwZS9NZ1yoGPd1bZ1zsDrDMcjk5EUbS1X0uaxa7A==',necessary:true,preferences:true,statistics:false,marketing:true,method:'explicit',ver:2,utc:1697033110185,iab2:'',region:'de'}"
            ),
            Ok(set(&[0, 2, 3]))
        );
        assert_eq!(
            granted(
                "%7Bstamp%3A%27abc%3D%3D%27%2Cnecessary%3Atrue%2Cpreferences%3Atrue%2Cstatistics%3Atrue%2Cmarketing%3Atrue%2Cmethod%3A%27implied%27%2Cver%3A1%7D"
            ),
            Ok(set(&[0, 1, 2, 3]))
        );
    }

    #[test]
    fn tolerates_spaces_double_quotes_quoted_keys_and_a_trailing_comma() {
        assert_eq!(
            granted(
                r#" { "statistics" : true , stamp : "a'b,c:d}" , 'marketing':true, x: -1.5e3, y: null, } "#
            ),
            Ok(set(&[1, 3]))
        );
        assert_eq!(granted(r#"{stamp:'it\'s',statistics:true}"#), Ok(set(&[1])));
        assert_eq!(granted("{}"), Ok(set(&[])));
    }

    #[test]
    fn a_key_given_twice_grants_only_if_always_true() {
        assert_eq!(granted("{statistics:true,statistics:false}"), Ok(set(&[])));
        assert_eq!(granted("{statistics:true,statistics:true}"), Ok(set(&[1])));
    }

    #[test]
    fn minus_one_follows_no_consent_region() {
        let mut v = vocab_for(Format::Cookiebot);
        assert_eq!(read(b"-1", &v).unwrap().granted, set(&[0, 1, 2, 3]));
        v.region_exempt_grants_all = false;
        assert_eq!(read(b"-1", &v).unwrap().granted, set(&[]));
        assert!(read(b"-2", &v).is_err());
        assert!(read(b"-1 ", &v).is_err());
    }

    /// Cookiebot's object form of "no consent needed here", as captured from real
    /// `Cookie` headers (a black-box audit found it granted everything under
    /// `required_only`).
    #[test]
    fn stamp_minus_one_object_follows_no_consent_region() {
        const IMPLIED: &[u8] = b"{stamp:%27-1%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27implied%27%2Cver:1%2Cutc:1720633087131%2Cregion:%27IN%27}";
        let mut v = vocab_for(Format::Cookiebot);
        assert_eq!(read(IMPLIED, &v).unwrap().granted, set(&[0, 1, 2, 3]));
        v.region_exempt_grants_all = false;
        assert_eq!(read(IMPLIED, &v).unwrap().granted, set(&[]));
        // Another stamp is an ordinary record.
        let explicit =
            b"{stamp:%27-3ZcDGWq==%27%2Cnecessary:true%2Cstatistics:true%2Cmarketing:false}";
        assert_eq!(read(explicit, &v).unwrap().granted, set(&[0, 1]));
    }

    #[test]
    fn round_trips_every_combination() {
        const KEYS: [&str; 4] = ["necessary", "statistics", "preferences", "marketing"];
        const CATEGORY: [usize; 4] = [0, 1, 2, 3];
        for subset in subsets() {
            let fields: String = KEYS
                .iter()
                .zip(CATEGORY)
                .map(|(key, i)| format!("{key}:{}%2C", subset.ids().any(|id| id.index() == i)))
                .collect();
            let value = format!(
                "{{stamp:%27-3ZcDGWqaMvkfuUwZS9NZ1yoGPd1bZ1zsDrDMcjk5EUbS1X0uaxa7A==%27%2C{fields}method:%27explicit%27%2Cver:1%2Cutc:1697033110185%2Cregion:%27gb%27}}"
            );
            assert_eq!(granted(&value), Ok(subset), "{value}");
            let raw = percent_encoding::percent_decode_str(&value)
                .decode_utf8()
                .unwrap();
            assert_eq!(granted(&raw), Ok(subset), "{raw}");
        }
    }

    #[test]
    fn fails_closed_on_what_it_cannot_read() {
        for bad in [
            "",
            "-",
            "{",
            "}",
            "{statistics:true",
            "{statistics:true}}",
            "{statistics:true} x",
            "{statistics:'true'}",
            "{statistics:1}",
            "{statistics:null}",
            "{statistics:yes}",
            "{statistics:true,,marketing:true}",
            "{,statistics:true}",
            "{statistics true}",
            "{statistics:true marketing:true}",
            "{stamp:'abc,statistics:true}",
            "{stamp:abc,statistics:true}",
            "{stamp:1x,statistics:true}",
            "{stamp:1.,statistics:true}",
            "{stamp:{a:1},statistics:true}",
            "{stamp:[1],statistics:true}",
            "{'st\\u0061tistics':true}",
            "{stamp:'abc\\",
            "{-stamp:1}",
            "[statistics]",
            "statistics=true",
            r#"{"statistics":true,"marketing":true"#,
            "%7Bstatistics%3Atrue",
            "%FF",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }
}

//! `cookieconsent`: vanilla-cookieconsent's `cc_cookie`, raw or percent-encoded JSON.
//!
//! v3 lists the accepted categories in `categories` and the policy revision in
//! `revision`:
//! `{"categories":["necessary","analytics"],"revision":1,"data":null,"consentTimestamp":"…",…}`.
//! v2 lists them in `level`: `{"level":["necessary","analytics"],"revision":0,"data":null,"rfc_cookie":false}`.
//! v2.8 and v2.9 write both, `level` as "a copy of the categories property for
//! compatibility" with older versions: then a category is granted only when both
//! arrays grant it, so copies that disagree grant no more than either.
//!
//! Each item is a banner word looked up in the vocabulary; words that map to nothing
//! grant nothing. The value fails whole when neither array is there, when a field is
//! given twice, when an item is not a string, or when `revision` is present but not a
//! non-negative integer. Other fields are ignored.

use serde::Deserialize;

use smallvec::SmallVec;

use super::json::Key;
use super::{Recorded, Unreadable, Vocabulary, utf8, with_percent_decoded};
use crate::cookies::category::CategorySet;

pub(super) const DEFAULT_MAPPING: &[(&str, &str)] = &[
    ("necessary", "necessary"),
    ("analytics", "statistics"),
    ("performance", "statistics"),
    ("functionality", "first_party"),
    ("preferences", "first_party"),
    ("personalization", "first_party"),
    ("marketing", "third_party"),
    ("advertisement", "third_party"),
    ("ads", "third_party"),
    ("targeting", "third_party"),
    ("social", "third_party"),
];

/// The fields that matter; serde refuses a duplicated one and ignores the others.
/// Words borrow from the value unless they hold JSON escapes.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct Value<'a> {
    /// v3.
    categories: Option<Words<'a>>,
    /// v2.
    level: Option<Words<'a>>,
    revision: Option<u64>,
}

/// A banner's list of category words: inline up to 8, as many as a banner offers.
type Words<'a> = SmallVec<[Key<'a>; 8]>;

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    let text = utf8(value)?;
    if text.trim_start().starts_with('{') {
        parse(text, vocab)
    } else {
        with_percent_decoded(text, |text| parse(text, vocab))
    }
}

fn parse(text: &str, vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    let parsed: Value =
        serde_json::from_str(text).map_err(|_| Unreadable("not a cookieconsent JSON object"))?;
    let granted_by = |words: &[Key]| {
        words
            .iter()
            .filter_map(|Key(word)| vocab.category(word))
            .fold(CategorySet::EMPTY, CategorySet::with)
    };
    let granted = match (parsed.categories, parsed.level) {
        (Some(words), None) | (None, Some(words)) => granted_by(&words),
        (Some(categories), Some(level)) => granted_by(&categories).intersection(granted_by(&level)),
        (None, None) => return Err(Unreadable("no `categories` or `level` array")),
    };
    Ok(Recorded {
        granted,
        revision: parsed.revision,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::encode_uri_component;
    use super::super::test_support::{set, subsets, vocab_for};
    use super::*;

    fn read_str(value: &str) -> Result<Recorded, Unreadable> {
        read(value.as_bytes(), &vocab_for(Format::Cookieconsent))
    }

    fn granted(value: &str) -> Result<CategorySet, Unreadable> {
        read_str(value).map(|r| r.granted)
    }

    /// A real v3 `cc_cookie` (vanilla-cookieconsent 3.0), as the browser sends it.
    const V3: &str = "%7B%22categories%22%3A%5B%22necessary%22%2C%22analytics%22%5D%2C%22revision%22%3A2%2C%22data%22%3Anull%2C%22consentTimestamp%22%3A%222024-03-12T09%3A41%3A27.093Z%22%2C%22consentId%22%3A%22a2b61b9c-ff57-4f38-9b43-2dc2a4d4d4e1%22%2C%22services%22%3A%7B%22necessary%22%3A%5B%5D%2C%22analytics%22%3A%5B%22ga%22%5D%2C%22ads%22%3A%5B%5D%7D%2C%22lastConsentTimestamp%22%3A%222024-03-12T09%3A41%3A27.093Z%22%2C%22expirationTime%22%3A1725961287094%7D";

    #[test]
    fn reads_a_real_percent_encoded_v3_cookie() {
        let r = read_str(V3).unwrap();
        assert_eq!(r.granted, set(&[0, 1]));
        assert_eq!(r.revision, Some(2));
    }

    #[test]
    fn reads_raw_v3_json() {
        let r = read_str(
            r#"{"categories":["necessary","analytics","ads"],"revision":1,"data":null,"consentTimestamp":"2024-03-12T09:41:27.093Z","consentId":"a2b61b9c-ff57-4f38-9b43-2dc2a4d4d4e1","services":{"necessary":[],"analytics":["ga"],"ads":["gads"]},"lastConsentTimestamp":"2024-03-12T09:41:27.093Z","expirationTime":1725961287094}"#,
        )
        .unwrap();
        assert_eq!(r.granted, set(&[0, 1, 3]));
        assert_eq!(r.revision, Some(1));
    }

    #[test]
    fn reads_v2_level() {
        let r = read_str(
            r#"{"level":["necessary","analytics","targeting"],"revision":0,"data":null,"rfc_cookie":false}"#,
        )
        .unwrap();
        assert_eq!(r.granted, set(&[0, 1, 3]));
        assert_eq!(r.revision, Some(0));
    }

    /// v2.8–v2.9 write `categories` and a `level` copy side by side (a black-box audit
    /// found every such cookie read as no consent).
    #[test]
    fn reads_v2_9_with_categories_and_level_copy() {
        let r = read_str(
            r#"{"categories":["necessary","analytics"],"level":["necessary","analytics"],"revision":0,"data":null,"rfc_cookie":false,"consent_date":"2024-05-02T08:12:44.210Z","consent_uuid":"5d3b0a5e-1c1a-4a0e-9d7e-3f7d0a3c9b11","last_consent_update":"2024-05-02T08:12:44.210Z"}"#,
        )
        .unwrap();
        assert_eq!(r.granted, set(&[0, 1]));
        assert_eq!(r.revision, Some(0));
    }

    #[test]
    fn copies_that_disagree_grant_only_what_both_grant() {
        assert_eq!(
            granted(
                r#"{"categories":["necessary","analytics","ads"],"level":["necessary","ads"]}"#
            )
            .unwrap(),
            set(&[0, 3])
        );
    }

    #[test]
    fn maps_every_default_word() {
        for (word, category) in DEFAULT_MAPPING {
            let i = ["necessary", "statistics", "first_party", "third_party"]
                .iter()
                .position(|n| n == category)
                .unwrap() as u8;
            let value = format!(r#"{{"categories":["{word}"]}}"#);
            assert_eq!(granted(&value), Ok(set(&[i])), "{word}");
        }
    }

    #[test]
    fn no_revision_is_none() {
        assert_eq!(read_str(r#"{"categories":[]}"#).unwrap().revision, None);
        assert_eq!(
            read_str(r#"{"categories":[],"revision":null}"#)
                .unwrap()
                .revision,
            None
        );
    }

    #[test]
    fn unknown_words_and_case_variants_grant_nothing() {
        assert_eq!(
            granted(r#"{"categories":["Analytics","unknown","necessary"]}"#),
            Ok(set(&[0]))
        );
    }

    #[test]
    fn round_trips_every_combination() {
        const WORDS: [&str; 4] = ["necessary", "analytics", "preferences", "marketing"];
        for subset in subsets() {
            let words: Vec<String> = subset
                .ids()
                .map(|id| format!("\"{}\"", WORDS[id.index()]))
                .collect();
            let v3 = format!(
                r#"{{"categories":[{}],"revision":3,"data":null,"consentTimestamp":"2024-03-12T09:41:27.093Z","consentId":"a2b61b9c","services":{{}},"lastConsentTimestamp":"2024-03-12T09:41:27.093Z","expirationTime":1725961287094}}"#,
                words.join(",")
            );
            let v2 = format!(
                r#"{{"level":[{}],"revision":0,"data":null,"rfc_cookie":false}}"#,
                words.join(",")
            );
            for value in [encode_uri_component(&v3), v3, v2] {
                assert_eq!(granted(&value), Ok(subset), "{value}");
            }
        }
    }

    #[test]
    fn fails_closed_on_what_it_cannot_read() {
        for bad in [
            "",
            "{",
            "[]",
            "null",
            "necessary,analytics",
            r#"{}"#,
            r#"{"revision":1}"#,
            r#"{"categories":"necessary"}"#,
            r#"{"categories":null}"#,
            r#"{"categories":{"analytics":true}}"#,
            r#"{"categories":["necessary",1]}"#,
            r#"{"categories":["necessary",null]}"#,
            r#"{"categories":[["analytics"]]}"#,
            r#"{"level":[true]}"#,
            r#"{"categories":[],"categories":["analytics"]}"#,
            r#"{"categories":["analytics"],"revision":"2"}"#,
            r#"{"categories":["analytics"],"revision":-1}"#,
            r#"{"categories":["analytics"],"revision":1.5}"#,
            r#"{"categories":["analytics"]} x"#,
            "%7B%22categories%22%3A%5B%22analytics%22%5D",
            "%FF",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }
}

//! `govuk`: the GOV.UK Design System's `cookies_policy`, a JSON object of purpose →
//! bool, raw or percent-encoded
//! (`{"essential":true,"settings":false,"usage":true,"campaigns":false}`).
//!
//! Read like `json`: a mapped key grants its category when `true`, a mapped key whose
//! value is not a boolean fails the whole value, a key given twice grants only if
//! every copy says `true`, and other keys are ignored.

use super::{Recorded, Unreadable, Vocabulary, json};

pub(super) const DEFAULT_MAPPING: &[(&str, &str)] = &[
    ("essential", "necessary"),
    ("usage", "statistics"),
    ("settings", "first_party"),
    ("campaigns", "third_party"),
];

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    json::read_object(value, vocab, None)
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::encode_uri_component;
    use super::super::test_support::{set, subsets, vocab_for};
    use super::*;
    use crate::cookies::category::CategorySet;

    fn granted(value: &str) -> Result<CategorySet, Unreadable> {
        read(value.as_bytes(), &vocab_for(Format::Govuk)).map(|r| r.granted)
    }

    #[test]
    fn reads_a_real_cookies_policy() {
        assert_eq!(
            granted(r#"{"essential":true,"settings":false,"usage":true,"campaigns":false}"#),
            Ok(set(&[0, 1]))
        );
        assert_eq!(
            granted(
                "%7B%22essential%22%3Atrue%2C%22settings%22%3Atrue%2C%22usage%22%3Afalse%2C%22campaigns%22%3Atrue%7D"
            ),
            Ok(set(&[0, 2, 3]))
        );
    }

    #[test]
    fn round_trips_every_combination() {
        const KEYS: [&str; 4] = ["essential", "usage", "settings", "campaigns"];
        for subset in subsets() {
            let fields: Vec<String> = (0..4)
                .map(|i| {
                    let on = subset.ids().any(|id| id.index() == i);
                    format!("\"{}\":{on}", KEYS[i])
                })
                .collect();
            let raw = format!("{{{}}}", fields.join(","));
            assert_eq!(granted(&raw), Ok(subset), "{raw}");
            assert_eq!(granted(&encode_uri_component(&raw)), Ok(subset), "{raw}");
        }
    }

    #[test]
    fn ignores_other_keys_and_records_no_revision() {
        let r = read(
            br#"{"essential":true,"usage":true,"version":"2","rev":4}"#,
            &vocab_for(Format::Govuk),
        )
        .unwrap();
        assert_eq!(r.granted, set(&[0, 1]));
        assert_eq!(r.revision, None);
    }

    #[test]
    fn fails_closed_on_what_it_cannot_read() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"usage":"true"}"#,
            r#"{"usage":1,"essential":true}"#,
            r#"{"campaigns":null}"#,
            r#"{"usage":true}{"campaigns":true}"#,
            "%7B%22usage%22%3Atrue",
            "%FF",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }
}

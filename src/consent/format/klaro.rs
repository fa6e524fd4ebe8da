//! `klaro`: Klaro's cookie, a JSON object of service → bool, raw or percent-encoded
//! (`{"google-analytics":true,"facebook-pixel":false}`).
//!
//! Read like `json`: a service that maps to a category grants it when `true`; a mapped
//! service whose value is not a boolean fails the whole value; unmapped services are
//! ignored, whatever their value. A category is granted only when every service
//! mapped to it that the value mentions says `true` (a service given twice, too):
//! a visitor who refused Google Analytics but accepted Matomo has not accepted the
//! statistics cookies Google Analytics would set.

use super::{Recorded, Unreadable, Vocabulary, json};

pub(super) const DEFAULT_MAPPING: &[(&str, &str)] = &[
    ("google-analytics", "statistics"),
    ("googleanalytics", "statistics"),
    ("matomo", "statistics"),
    ("piwik", "statistics"),
    ("hotjar", "statistics"),
    ("clarity", "statistics"),
    ("plausible", "statistics"),
    // Intercom's chat widget is a third party's code storing its own cookies.
    ("intercom", "third_party"),
    ("facebook-pixel", "third_party"),
    ("facebook", "third_party"),
    ("meta-pixel", "third_party"),
    ("google-ads", "third_party"),
    ("googleads", "third_party"),
    ("adsense", "third_party"),
    ("doubleclick", "third_party"),
    ("linkedin", "third_party"),
    ("linkedin-insight", "third_party"),
    ("twitter", "third_party"),
    ("tiktok", "third_party"),
    ("pinterest", "third_party"),
    ("youtube", "third_party"),
    ("vimeo", "third_party"),
    ("google-maps", "third_party"),
    ("googlemaps", "third_party"),
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
        read(value.as_bytes(), &vocab_for(Format::Klaro)).map(|r| r.granted)
    }

    #[test]
    fn reads_a_real_klaro_cookie() {
        // As Klaro writes it: encodeURIComponent(JSON.stringify(consents)).
        let value = "%7B%22google-analytics%22%3Atrue%2C%22facebook-pixel%22%3Afalse%2C%22klaro%22%3Atrue%7D";
        assert_eq!(granted(value), Ok(set(&[1])));
        assert_eq!(
            granted(r#"{"google-analytics":false,"facebook-pixel":true,"youtube":true}"#),
            Ok(set(&[3]))
        );
    }

    #[test]
    fn a_category_needs_every_mentioned_service_true() {
        assert_eq!(granted(r#"{"matomo":true,"hotjar":true}"#), Ok(set(&[1])));
        assert_eq!(granted(r#"{"matomo":false,"hotjar":true}"#), Ok(set(&[])));
        assert_eq!(granted(r#"{"hotjar":true,"matomo":false}"#), Ok(set(&[])));
    }

    #[test]
    fn a_service_given_twice_grants_only_if_always_true() {
        assert_eq!(granted(r#"{"matomo":true,"matomo":false}"#), Ok(set(&[])));
    }

    #[test]
    fn klaro_records_no_revision() {
        let r = read(br#"{"rev":3,"matomo":true}"#, &vocab_for(Format::Klaro)).unwrap();
        assert_eq!(r.revision, None);
    }

    #[test]
    fn unmapped_services_are_ignored_whatever_their_value() {
        assert_eq!(
            granted(r#"{"my-widget":"yes","other":{"a":1},"youtube":true}"#),
            Ok(set(&[3]))
        );
    }

    #[test]
    fn round_trips_every_combination() {
        const SERVICES: [&str; 4] = ["necessary", "google-analytics", "first_party", "youtube"];
        for subset in subsets() {
            let fields: Vec<String> = (0..4)
                .map(|i| {
                    let on = subset.ids().any(|id| id.index() == i);
                    format!("\"{}\":{on}", SERVICES[i])
                })
                .collect();
            let raw = format!("{{{}}}", fields.join(","));
            assert_eq!(granted(&raw), Ok(subset), "{raw}");
            assert_eq!(granted(&encode_uri_component(&raw)), Ok(subset), "{raw}");
        }
    }

    #[test]
    fn fails_closed_on_what_it_cannot_read() {
        for bad in [
            "",
            "{",
            "[]",
            "true",
            r#"{"google-analytics":"true"}"#,
            r#"{"google-analytics":1}"#,
            r#"{"youtube":null}"#,
            r#"{"youtube":true} x"#,
            "%7B%22youtube%22%3Atrue",
            "%FF",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }
}

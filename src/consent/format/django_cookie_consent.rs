//! `django-cookie-consent`: the `cookie_consent` cookie of django-cookie-consent,
//! `|`-separated `group=value` items, usually double-quoted by Django
//! (`"optional=-1|social=2013-06-04T03:17:01.421395+00:00"`), possibly percent-encoded.
//!
//! `-1` declines the group; any other non-empty value (the time it was accepted)
//! accepts it. A category is granted only when every group mapped to it that the
//! value mentions is accepted (a group given twice, too). An item that is not exactly
//! one non-empty `group=value` (what django-cookie-consent itself would fail to
//! parse), and any backslash (Django's escapes for characters these values never
//! hold), fail the whole value.

use super::{Recorded, Unreadable, Vocabulary, percent_decoded, unquoted, utf8};
use crate::category::CategorySet;

pub(super) const DEFAULT_MAPPING: &[(&str, &str)] = &[
    ("statistics", "statistics"),
    ("analytics", "statistics"),
    ("optional", "first_party"),
    ("preferences", "first_party"),
    ("social", "third_party"),
    ("marketing", "third_party"),
    ("advertising", "third_party"),
];

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    let text = percent_decoded(unquoted(utf8(value)?))?;
    if text.contains('\\') {
        return Err(Unreadable("an escaped django-cookie-consent value"));
    }
    let mut granted = CategorySet::EMPTY;
    let mut refused = CategorySet::EMPTY;
    for item in text.split('|') {
        let Some((group, value)) = item.split_once('=') else {
            return Err(Unreadable("a django-cookie-consent item has no `=`"));
        };
        if group.is_empty() || value.is_empty() || value.contains('=') {
            return Err(Unreadable("a django-cookie-consent item is not `group=value`"));
        }
        if let Some(category) = vocab.category(group) {
            if value == "-1" {
                refused.insert(category);
            } else {
                granted.insert(category);
            }
        }
    }
    Ok(Recorded {
        granted: granted.without(refused),
        revision: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::test_support::{encode_uri_component, set, subsets, vocab_for};
    use super::*;

    fn granted(value: &str) -> Result<CategorySet, Unreadable> {
        read(value.as_bytes(), &vocab_for(Format::DjangoCookieConsent)).map(|r| r.granted)
    }

    #[test]
    fn reads_a_real_cookie_consent_value() {
        assert_eq!(
            granted(r#""optional=-1|social=2013-06-04T03:17:01.421395+00:00""#),
            Ok(set(&[3]))
        );
        assert_eq!(
            granted("optional=2013-06-04T03:17:01.421395+00:00|social=-1|analytics=2024-01-02T10:00:00+00:00"),
            Ok(set(&[1, 2]))
        );
    }

    #[test]
    fn reads_percent_encoded_values_and_ignores_unmapped_groups() {
        assert_eq!(
            granted("optional%3D2013-06-04T03%3A17%3A01.421395%2B00%3A00%7Cvideo%3D2013-06-04"),
            Ok(set(&[2]))
        );
    }

    #[test]
    fn a_category_needs_every_mentioned_group() {
        assert_eq!(granted("social=2024-01-01|marketing=-1"), Ok(set(&[])));
        assert_eq!(granted("social=2024-01-01|marketing=2024-01-01"), Ok(set(&[3])));
        assert_eq!(granted("social=2024-01-01|social=-1"), Ok(set(&[])));
    }

    #[test]
    fn round_trips_every_combination() {
        const GROUPS: [&str; 4] = ["necessary", "statistics", "optional", "social"];
        for subset in subsets() {
            let items: Vec<String> = (0..4)
                .map(|i| {
                    if subset.ids().any(|id| id.index() == i) {
                        format!("{}=2013-06-04T03:17:01.421395+00:00", GROUPS[i])
                    } else {
                        format!("{}=-1", GROUPS[i])
                    }
                })
                .collect();
            let value = items.join("|");
            assert_eq!(granted(&value), Ok(subset), "{value}");
            assert_eq!(granted(&format!("\"{value}\"")), Ok(subset), "{value}");
            assert_eq!(granted(&encode_uri_component(&value)), Ok(subset), "{value}");
        }
    }

    #[test]
    fn fails_closed_on_what_it_cannot_read() {
        for bad in [
            "",
            "\"\"",
            "social",
            "social=",
            "=2013-06-04",
            "social=2013|optional",
            "social=2013||optional=-1",
            "social=2013|",
            "social=a=b",
            "social=-1,optional=2013",
            r#""social=2013\054optional=-1""#,
            "%FF",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }
}

//! `django-cookie-consent`: the `cookie_consent` cookie of django-cookie-consent,
//! `|`-separated `group=value` items, usually double-quoted by Django
//! (`"optional=-1|social=2013-06-04T03:17:01.421395+00:00"`), possibly percent-encoded.
//!
//! `-1` declines the group; a timestamp (the `isoformat()` of the group's newest
//! cookie, which django-cookie-consent writes on acceptance) accepts it. A category is
//! granted only when every group mapped to it that the value mentions is accepted (a
//! group given twice, too). An item that is not exactly one `group=value` with a
//! group name django-cookie-consent allows (`[-_a-zA-Z0-9]+`) and a value that is
//! `-1` or looks like a timestamp fails the whole value: a stray quote or character
//! must not turn a `-1` into an acceptance.

use super::{Recorded, Unreadable, Vocabulary, percent_decoded, unquoted, utf8};
use crate::cookies::category::CategorySet;

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
    let mut granted = CategorySet::EMPTY;
    let mut refused = CategorySet::EMPTY;
    for item in text.split('|') {
        let Some((group, value)) = item.split_once('=') else {
            return Err(Unreadable("a django-cookie-consent item has no `=`"));
        };
        let accepted = match value {
            "-1" => false,
            _ if is_timestamp(value) => true,
            _ => {
                return Err(Unreadable(
                    "a django-cookie-consent value is not -1 or a time",
                ));
            }
        };
        if group.is_empty()
            || !group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Unreadable("not a django-cookie-consent group name"));
        }
        if let Some(category) = vocab.category(group) {
            if accepted {
                granted.insert(category);
            } else {
                refused.insert(category);
            }
        }
    }
    Ok(Recorded {
        granted: granted.without(refused),
        revision: None,
    })
}

/// `2013-06-04T03:17:01.421395+00:00` and the like: a year, `-`, then only what
/// `datetime.isoformat()` writes.
fn is_timestamp(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b':' | b'.' | b'+' | b'T' | b'Z'))
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::encode_uri_component;
    use super::super::test_support::{set, subsets, vocab_for};
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
            granted(
                "optional=2013-06-04T03:17:01.421395+00:00|social=-1|analytics=2024-01-02T10:00:00+00:00"
            ),
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
        assert_eq!(
            granted("social=2024-01-01|marketing=2024-01-01"),
            Ok(set(&[3]))
        );
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
            assert_eq!(
                granted(&encode_uri_component(&value)),
                Ok(subset),
                "{value}"
            );
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
            "social=2013-06-04|optional",
            "social=2013-06-04||optional=-1",
            "social=2013-06-04|",
            "social=a=b",
            "social=-1,optional=2013-06-04",
            "social=-1\"",
            "\"social=-1",
            "social=-2",
            "social=1",
            "social=yes",
            "social=2013-06-04 03:17:01",
            "social=13-06-04T03:17:01",
            "so cial=2013-06-04",
            "\"social=2013-06-04",
            r#""social=2013-06-04\054optional=-1""#,
            "%FF",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }
}

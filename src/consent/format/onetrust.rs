//! `onetrust`: OneTrust's `OptanonConsent`, a query string
//! (`isGpcEnabled=0&datestamp=Tue+Oct+10+2023…&version=202303.1.0&groups=C0001%3A1%2CC0002%3A0&hosts=…`),
//! sometimes percent-encoded once more as a whole.
//!
//! Only the `groups` field is read: `ID:1` or `ID:0` pairs separated by `,`. A mapped
//! group grants its category when `:1`; a category is granted only when every group
//! mapped to it says `:1` (a group given twice, too). No `groups` field, two of them,
//! an empty one or a pair that is not `ID:1`/`ID:0` fails the whole value. Fields
//! without `=` are ignored like every other field but `groups`.

use std::borrow::Cow;

use super::{Recorded, Unreadable, Vocabulary, percent_decoded, unquoted, utf8};
use crate::cookies::category::CategorySet;

pub(super) const DEFAULT_MAPPING: &[(&str, &str)] = &[
    ("C0001", "necessary"),
    ("C0002", "statistics"),
    ("C0003", "first_party"),
    ("C0004", "third_party"),
    ("C0005", "third_party"),
];

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    let text = unquoted(utf8(value)?);
    // Encoded as a whole: no `=` or `&` of its own, only `%3D`s and `%26`s.
    let text = if text.contains(['=', '&']) {
        Cow::Borrowed(text)
    } else {
        percent_decoded(text)?
    };
    let mut groups = None;
    for field in text.split('&') {
        if let Some(("groups", value)) = field.split_once('=') {
            if groups.replace(value).is_some() {
                return Err(Unreadable("two `groups` fields"));
            }
        }
    }
    let groups = groups.ok_or(Unreadable("no `groups` field"))?;
    let groups = percent_decoded(groups)?;
    let mut granted = CategorySet::EMPTY;
    let mut refused = CategorySet::EMPTY;
    for pair in groups.split(',') {
        let (id, on) = match pair.split_once(':') {
            Some((id, "1")) if !id.is_empty() => (id, true),
            Some((id, "0")) if !id.is_empty() => (id, false),
            _ => return Err(Unreadable("a OneTrust group is not `ID:1` or `ID:0`")),
        };
        if let Some(category) = vocab.category(id) {
            if on {
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

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::encode_uri_component;
    use super::super::test_support::{set, subsets, vocab_for};
    use super::*;

    fn granted(value: &str) -> Result<CategorySet, Unreadable> {
        read(value.as_bytes(), &vocab_for(Format::Onetrust)).map(|r| r.granted)
    }

    fn real(groups: &str) -> String {
        format!(
            "isGpcEnabled=0&datestamp=Tue+Oct+10+2023+14%3A25%3A10+GMT%2B0200+(Central+European+Summer+Time)&version=202303.1.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=5b8b4bd5-1d2f-4a8c-bf6c-3c5e7f0c8e21&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage&groups={groups}&geolocation=DE%3BBE&AwaitingReconsent=false"
        )
    }

    #[test]
    fn reads_a_real_optanon_consent() {
        assert_eq!(
            granted(&real(
                "C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0%2CC0005%3A0"
            )),
            Ok(set(&[0, 2]))
        );
    }

    #[test]
    fn reads_values_encoded_once_more_as_a_whole() {
        let value = encode_uri_component(&real("C0001%3A1%2CC0002%3A1%2CC0004%3A1"));
        assert!(!value.contains('='));
        assert_eq!(granted(&value), Ok(set(&[0, 1, 3])));
    }

    #[test]
    fn reads_raw_groups_and_ignores_unmapped_ones() {
        assert_eq!(
            granted("groups=C0001:1,C0002:1,STACK42:1,SPD_BG:1,C0004:0"),
            Ok(set(&[0, 1]))
        );
    }

    #[test]
    fn a_category_needs_every_mapped_group() {
        // C0004 and C0005 both map to third_party.
        assert_eq!(granted("groups=C0004:1,C0005:0"), Ok(set(&[])));
        assert_eq!(granted("groups=C0004:1,C0005:1"), Ok(set(&[3])));
        assert_eq!(granted("groups=C0002:1,C0002:0"), Ok(set(&[])));
    }

    #[test]
    fn round_trips_every_combination() {
        const IDS: [&str; 4] = ["C0001", "C0002", "C0003", "C0004"];
        for subset in subsets() {
            let pairs: Vec<String> = (0..4)
                .map(|i| {
                    let on = subset.ids().any(|id| id.index() == i);
                    format!("{}:{}", IDS[i], u8::from(on))
                })
                .collect();
            let value = real(&encode_uri_component(&pairs.join(",")));
            assert_eq!(granted(&value), Ok(subset), "{value}");
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
            "isGpcEnabled=0&hosts=",
            "groups",
            "groups=",
            "groups=C0001",
            "groups=C0001:2",
            "groups=C0001:true",
            "groups=C0001:1,",
            "groups=,C0001:1",
            "groups=:1",
            "groups=C0001:1:1",
            "groups=C0001%3A1%2CC0002%3Ax",
            "groups=C0001:1&groups=C0002:1",
            "groups=C0001:1;C0002:1",
            "groups=%FF",
            "%FF",
            "Groups=C0001:1",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }
}

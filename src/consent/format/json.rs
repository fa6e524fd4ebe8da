//! `json`: a JSON object of category → bool, raw or percent-encoded
//! (`{"statistics":true,"third_party":false,"rev":2}`).
//!
//! Keys that name no category are ignored whatever their value; a category key whose
//! value is not a boolean fails the whole value. A key given twice grants only if
//! every copy says `true`. The `rev` key records the policy revision.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{Recorded, Unreadable, Vocabulary, utf8, with_percent_decoded};
use crate::cookies::category::CategorySet;

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    read_object(value, vocab, Some("rev"))
}

/// Reads a JSON object of word → bool, raw or percent-encoded, with these semantics
/// (shared with `klaro` and `govuk`); `revision_key`, when given, names the key
/// that records the revision.
pub(super) fn read_object(
    value: &[u8],
    vocab: &Vocabulary,
    revision_key: Option<&str>,
) -> Result<Recorded, Unreadable> {
    let text = utf8(value)?;
    let parse = |text: &str| -> Result<Recorded, Unreadable> {
        let mut de = serde_json::Deserializer::from_str(text);
        let recorded = ObjectReader {
            vocab,
            revision_key,
        }
        .deserialize(&mut de)
        .map_err(|_| Unreadable("not a JSON object of booleans"))?;
        de.end()
            .map_err(|_| Unreadable("trailing characters after JSON"))?;
        Ok(recorded)
    };
    // Raw JSON, fully percent-encoded JSON, or raw braces around encoded quotes
    // (`{%22statistics%22:true}`, as some servers write it): raw first, then decoded.
    if text.trim_start().starts_with('{') {
        match parse(text) {
            Ok(recorded) => Ok(recorded),
            Err(raw_error) if text.contains('%') => {
                with_percent_decoded(text, parse).map_err(|_| raw_error)
            }
            Err(raw_error) => Err(raw_error),
        }
    } else {
        with_percent_decoded(text, parse)
    }
}

pub(super) fn write(
    granted: CategorySet,
    vocab: &Vocabulary,
    revision: Option<u64>,
    id: Option<&str>,
) -> String {
    let mut fields: Vec<String> = vocab
        .all
        .ids()
        .filter_map(|id| vocab.word(id).map(|w| (id, w)))
        .map(|(id, word)| format!("{}:{}", serde_json::Value::from(word), granted.contains(id)))
        .collect();
    if let Some(rev) = revision {
        fields.push(format!("\"rev\":{rev}"));
    }
    // A deployment with a category named `id` keeps its key for the category.
    if let Some(id) = id.filter(|_| vocab.category("id").is_none()) {
        fields.push(format!("\"id\":{}", serde_json::Value::from(id)));
    }
    format!("{{{}}}", fields.join(","))
}

struct ObjectReader<'v> {
    vocab: &'v Vocabulary,
    revision_key: Option<&'v str>,
}

impl<'de> DeserializeSeed<'de> for ObjectReader<'_> {
    type Value = Recorded;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Recorded, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectReader<'_> {
    type Value = Recorded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Recorded, A::Error> {
        let mut granted = CategorySet::EMPTY;
        let mut refused = CategorySet::EMPTY;
        let mut revision = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if let Some(category) = self.vocab.category(&key) {
                if map.next_value::<bool>()? {
                    granted.insert(category);
                } else {
                    refused.insert(category);
                }
            } else if self.revision_key == Some(&*key) {
                revision = map.next_value::<serde_json::Value>()?.as_u64();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Recorded {
            granted: granted.without(refused),
            revision,
        })
    }
}

/// A JSON string (an object key, a banner's word), borrowed from the input unless it
/// had escapes. (serde's own `Cow<str>` is always owned when nested in a list.)
pub(super) struct Key<'de>(pub(super) Cow<'de, str>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{set, vocab};
    use super::*;

    fn granted(value: &str) -> Result<CategorySet, Unreadable> {
        read(value.as_bytes(), &vocab()).map(|r| r.granted)
    }

    #[test]
    fn grants_the_categories_set_to_true() {
        assert_eq!(
            granted(r#"{"statistics":true,"third_party":false}"#),
            Ok(set(&[1]))
        );
        assert_eq!(granted(r#"{}"#), Ok(set(&[])));
    }

    #[test]
    fn reads_percent_encoded_values() {
        assert_eq!(
            granted("%7B%22statistics%22%3Atrue%2C%22first_party%22%3Atrue%7D"),
            Ok(set(&[1, 2]))
        );
    }

    #[test]
    fn ignores_keys_that_are_not_categories_and_reads_rev() {
        let r = read(
            br#"{"rev":3,"ts":"2024","x":[1],"statistics":true}"#,
            &vocab(),
        )
        .unwrap();
        assert_eq!(r.granted, set(&[1]));
        assert_eq!(r.revision, Some(3));
    }

    #[test]
    fn a_non_boolean_category_fails_the_whole_value() {
        assert!(granted(r#"{"statistics":"true"}"#).is_err());
        assert!(granted(r#"{"statistics":1,"first_party":true}"#).is_err());
        assert!(granted(r#"{"statistics":null}"#).is_err());
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(granted(r#"{"Statistics":true}"#), Ok(set(&[])));
    }

    #[test]
    fn a_key_given_twice_grants_only_if_always_true() {
        assert_eq!(
            granted(r#"{"statistics":true,"statistics":false}"#),
            Ok(set(&[]))
        );
    }

    #[test]
    fn rejects_what_is_not_one_json_object() {
        for bad in [
            "",
            "[]",
            "true",
            "{",
            r#"{"statistics":true} x"#,
            "%E0%A4%A",
            "%FF",
        ] {
            assert!(granted(bad).is_err(), "{bad:?} should be unreadable");
        }
    }

    #[test]
    fn reads_raw_braces_around_percent_encoded_quotes() {
        assert_eq!(granted("{%22statistics%22:true}"), Ok(set(&[1])));
        assert_eq!(
            granted(r#"{"note":"50%","statistics":true}"#),
            Ok(set(&[1]))
        );
    }

    #[test]
    fn escaped_keys_are_still_matched() {
        assert_eq!(granted(r#"{"st\u0061tistics":true}"#), Ok(set(&[1])));
    }

    #[test]
    fn writes_what_it_reads() {
        let v = vocab();
        let value = write(set(&[0, 3]), &v, Some(2), Some("abc"));
        let r = read(value.as_bytes(), &v).unwrap();
        assert_eq!(r.granted, set(&[0, 3]));
        assert_eq!(r.revision, Some(2));
    }
}

//! `list`: comma-separated category names, raw or percent-encoded
//! (`statistics,first_party`). Items are trimmed; empty items and words that name no
//! category are ignored.

use super::{Recorded, Unreadable, Vocabulary, percent_decoded, unquoted, utf8};
use crate::cookies::category::CategorySet;

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    let text = percent_decoded(unquoted(utf8(value)?))?;
    let granted = text
        .split(',')
        .filter_map(|item| vocab.category(item.trim()))
        .fold(CategorySet::EMPTY, CategorySet::with);
    Ok(Recorded {
        granted,
        revision: None,
    })
}

pub(super) fn write(granted: CategorySet, vocab: &Vocabulary, id: Option<&str>) -> String {
    let mut items: Vec<String> = granted
        .ids()
        .filter_map(|id| vocab.word(id))
        .map(str::to_owned)
        .collect();
    if let Some(id) = id {
        items.push(format!("{}{id}", super::id::LIST_ID_PREFIX));
    }
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{set, vocab};
    use super::*;

    fn granted(value: &str) -> CategorySet {
        read(value.as_bytes(), &vocab()).unwrap().granted
    }

    #[test]
    fn grants_the_listed_categories() {
        assert_eq!(granted("statistics,first_party"), set(&[1, 2]));
        assert_eq!(granted(" statistics , ,third_party,"), set(&[1, 3]));
    }

    #[test]
    fn reads_percent_encoded_lists() {
        assert_eq!(granted("statistics%2Cfirst_party"), set(&[1, 2]));
    }

    #[test]
    fn ignores_unknown_names_and_case_variants() {
        assert_eq!(granted("ads,Statistics,statistics"), set(&[1]));
    }

    #[test]
    fn writes_what_it_reads() {
        let v = vocab();
        assert_eq!(
            read(write(set(&[1, 3]), &v, Some("abc")).as_bytes(), &v)
                .unwrap()
                .granted,
            set(&[1, 3])
        );
    }
}

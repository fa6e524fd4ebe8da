//! What every fuzz target checks, on a vocabulary compiled the way `proxy.yaml`'s
//! `consent:` section compiles one: the four usual categories by name, then the
//! format's default words and TCF purposes.

use consentry::cookies::category::{Categories, Category};
use consentry::consent::format::{Format, Vocabulary};

const CATEGORIES: [&str; 4] = ["necessary", "statistics", "first_party", "third_party"];

/// The vocabulary a deployment with the four usual categories gets for `format`.
pub fn vocabulary(format: Format, region_exempt_grants_all: bool) -> Vocabulary {
    let categories = Categories::new(
        CATEGORIES
            .iter()
            .map(|name| Category {
                name: (*name).to_owned(),
                title: (*name).to_owned(),
                description: String::new(),
                required: *name == "necessary",
                gpc: *name == "third_party",
            })
            .collect(),
    );
    let mut vocab = Vocabulary::new(categories.all());
    for (id, category) in categories.iter() {
        vocab.map(&category.name, Some(id));
    }
    for (word, category) in format.default_mapping() {
        if let Some(id) = categories.id(category) {
            vocab.map(word, Some(id));
        }
    }
    for (category, purposes) in format.default_purposes() {
        if let Some(id) = categories.id(category) {
            let bits = purposes.iter().fold(0u32, |bits, n| bits | 1 << (n - 1));
            vocab.purposes.push((id, bits));
        }
    }
    vocab.region_exempt_grants_all = region_exempt_grants_all;
    vocab
}

/// Reads `data` as the format named `name`: it must not panic, must read the same
/// twice, and may grant only configured categories.
pub fn check(name: &str, data: &[u8]) {
    let format = Format::from_name(name).expect("a format consentry knows");
    for region_exempt_grants_all in [true, false] {
        let vocab = vocabulary(format, region_exempt_grants_all);
        let first = format.read(data, &vocab);
        assert_eq!(first, format.read(data, &vocab), "{name}: two reads differ");
        if let Ok(recorded) = first {
            assert!(
                recorded.granted.is_subset(vocab.all),
                "{name}: granted {:?}, beyond every configured category {:?}",
                recorded.granted,
                vocab.all
            );
        }
    }
}

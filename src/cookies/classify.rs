//! Which category a cookie belongs to, by its name.
//!
//! Rules are tried in order and the first match wins (a site's own rules before the
//! global ones). Everything that can be done once is done when the configuration is
//! loaded: exact names go into a hash map, globs are split into their literal parts,
//! so classifying a name costs one hash lookup plus a scan of the glob rules listed
//! before the exact hit.

use std::sync::Arc;

use http::HeaderValue;

use crate::cookies::catalogue::Catalogue;
use crate::cookies::category::CategoryId;

/// A cookie-name pattern: an exact name, or a glob where `*` matches any run of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    Exact(Vec<u8>),
    Glob(Glob),
}

impl NamePattern {
    pub fn new(pattern: &str) -> Self {
        if pattern.contains('*') {
            NamePattern::Glob(Glob::new(pattern))
        } else {
            NamePattern::Exact(pattern.as_bytes().to_vec())
        }
    }

    pub fn matches(&self, name: &[u8]) -> bool {
        match self {
            NamePattern::Exact(exact) => exact == name,
            NamePattern::Glob(glob) => glob.matches(name),
        }
    }
}

/// A `*` glob split at load time into its literal parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// Text before the first star (may be empty).
    prefix: Vec<u8>,
    /// The prefix's first eight bytes as a word, and the mask of the bytes it has:
    /// most globs are told apart from a name by one masked compare.
    head: u64,
    head_mask: u64,
    /// Literal runs between stars, found in order.
    middle: Vec<Vec<u8>>,
    /// Text after the last star (may be empty).
    suffix: Vec<u8>,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        let mut parts: Vec<Vec<u8>> = pattern.split('*').map(|p| p.as_bytes().to_vec()).collect();
        // `split` on a pattern with at least one star yields at least two parts.
        let suffix = parts.pop().unwrap_or_default();
        let prefix = if parts.is_empty() {
            Vec::new()
        } else {
            parts.remove(0)
        };
        let middle = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let head_len = prefix.len().min(8);
        Glob {
            head: head_word(&prefix),
            head_mask: if head_len == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * head_len)) - 1
            },
            prefix,
            middle,
            suffix,
        }
    }

    fn matches(&self, name: &[u8]) -> bool {
        self.matches_with_head(name, head_word(name))
    }

    /// [`Glob::matches`], given `head_word(name)` computed once for all globs.
    fn matches_with_head(&self, name: &[u8], name_head: u64) -> bool {
        // Empty parts are skipped rather than compared: a zero-length memcmp against
        // an empty Vec's dangling pointer is measurably slow on some libcs.
        if name.len() < self.prefix.len() + self.suffix.len() {
            return false;
        }
        if name_head & self.head_mask != self.head {
            return false;
        }
        if self.prefix.len() > 8 && !name.starts_with(&self.prefix) {
            return false;
        }
        if !self.suffix.is_empty() && !name.ends_with(&self.suffix) {
            return false;
        }
        let mut rest = &name[self.prefix.len()..name.len() - self.suffix.len()];
        for part in &self.middle {
            match find(rest, part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// The first eight bytes of `bytes` as a little-endian word, zero-padded.
fn head_word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(word)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Patterns with a payload, matched first-wins with an exact-name fast path.
#[derive(Debug, Clone, Default)]
pub struct NameMatcher {
    exact: crate::FastMap<Vec<u8>, usize>,
    /// (position, glob) in position order.
    globs: Vec<(usize, Glob)>,
    /// For each first byte of a name, the globs (indices into `globs`, in order) that
    /// can match a name starting with it: those whose prefix starts with that byte,
    /// and those with no prefix. Empty when there are no globs.
    by_first_byte: Vec<Box<[u32]>>,
}

impl NameMatcher {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a NamePattern>) -> Self {
        let mut matcher = NameMatcher::default();
        for (i, pattern) in patterns.into_iter().enumerate() {
            match pattern {
                NamePattern::Exact(name) => {
                    matcher.exact.entry(name.clone()).or_insert(i);
                }
                NamePattern::Glob(glob) => matcher.globs.push((i, glob.clone())),
            }
        }
        if !matcher.globs.is_empty() {
            matcher.by_first_byte = (0..=u8::MAX)
                .map(|byte| {
                    (0u32..)
                        .zip(&matcher.globs)
                        .filter(|(_, (_, glob))| glob.prefix.first().is_none_or(|b| *b == byte))
                        .map(|(g, _)| g)
                        .collect()
                })
                .collect();
        }
        matcher
    }

    /// The position of the first pattern that matches `name`.
    pub fn first_match(&self, name: &[u8]) -> Option<usize> {
        let exact = self.exact.get(name).copied();
        let before = exact.unwrap_or(usize::MAX);
        let head = head_word(name);
        let matches = |(_, glob): &&(usize, Glob)| glob.matches_with_head(name, head);
        let glob = match name.first() {
            Some(&byte) => self
                .by_first_byte
                .get(usize::from(byte))
                .and_then(|candidates| {
                    candidates
                        .iter()
                        .map(|&g| &self.globs[g as usize])
                        .take_while(|(i, _)| *i < before)
                        .find(matches)
                }),
            // Only a glob without prefix can match an empty name.
            None => self
                .globs
                .iter()
                .take_while(|(i, _)| *i < before)
                .find(matches),
        };
        glob.map(|(i, _)| *i).or(exact)
    }
}

/// What to do with a cookie no rule names (`consent.unclassified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclassified {
    /// Remove it: nothing leaves without a category that was granted.
    Block,
    /// Let it through.
    Allow,
    /// Look it up in the built-in catalogue of well-known cookies, then block.
    Catalogue,
}

/// A cookie rule from `proxy.yaml`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: String,
    pub category: CategoryId,
    pub provider: Option<crate::cookies::text::Text>,
    pub function: Option<crate::cookies::text::Text>,
    pub purpose: Option<crate::cookies::text::Text>,
    /// Used when expiring a revoked cookie.
    pub path: Option<String>,
    pub domain: Option<String>,
}

/// Where a cookie's category came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The consent cookie itself, always necessary.
    Preferences,
    /// `cookies[i]` of the site's effective rule list.
    Rule(usize),
    /// Entry `i` of the built-in catalogue.
    Catalogue(usize),
    /// Nothing named it.
    Unclassified,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Preferences => "preferences",
            Origin::Rule(_) => "rule",
            Origin::Catalogue(_) => "catalogue",
            Origin::Unclassified => "unclassified",
        }
    }
}

/// The verdict for one cookie name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// `None` for an unclassified cookie.
    pub category: Option<CategoryId>,
    pub origin: Origin,
}

/// The compiled rules of one site: its own, then the global ones.
#[derive(Debug, Clone)]
pub struct Classifier {
    rules: Vec<Rule>,
    matcher: NameMatcher,
    /// Names of the consent cookies, which are always `necessary`.
    preferences: Vec<Vec<u8>>,
    necessary: CategoryId,
    unclassified: Unclassified,
    catalogue: Option<Arc<Catalogue>>,
    /// Per rule, what follows the name in the line that expires a revoked cookie
    /// (`=; Max-Age=0; Path=/…; Domain=…`), and the whole line when the rule names
    /// one cookie exactly: compiled here, not per response.
    expiry: Vec<Expiry>,
}

/// A rule's expiry line, compiled at load.
#[derive(Debug, Clone)]
struct Expiry {
    suffix: Vec<u8>,
    /// `NAME` + `suffix`, for an exact-name rule.
    whole: Option<HeaderValue>,
}

impl Expiry {
    fn new(rule: &Rule) -> Self {
        let mut suffix = b"=; Max-Age=0; Path=".to_vec();
        suffix.extend_from_slice(rule.path.as_deref().unwrap_or("/").as_bytes());
        if let Some(domain) = rule.domain.as_deref() {
            suffix.extend_from_slice(b"; Domain=");
            suffix.extend_from_slice(domain.as_bytes());
        }
        let whole = (!rule.pattern.contains('*'))
            .then(|| HeaderValue::from_bytes(&[rule.pattern.as_bytes(), &suffix].concat()).ok())
            .flatten();
        Expiry { suffix, whole }
    }
}

/// The expiry line of a cookie no rule names (a catalogue entry): path `/`.
const DEFAULT_EXPIRY_SUFFIX: &[u8] = b"=; Max-Age=0; Path=/";

impl Classifier {
    pub fn new(
        rules: Vec<Rule>,
        preferences: Vec<Vec<u8>>,
        necessary: CategoryId,
        unclassified: Unclassified,
        catalogue: Option<Arc<Catalogue>>,
    ) -> Self {
        let patterns: Vec<NamePattern> =
            rules.iter().map(|r| NamePattern::new(&r.pattern)).collect();
        Classifier {
            matcher: NameMatcher::new(&patterns),
            expiry: rules.iter().map(Expiry::new).collect(),
            rules,
            preferences,
            necessary,
            unclassified,
            catalogue,
        }
    }

    /// Classifies a cookie by the name a browser stores (see [`crate::cookies::name`]).
    /// An empty name is unclassified.
    pub fn classify(&self, name: &[u8]) -> Classification {
        if name.is_empty() {
            return UNCLASSIFIED;
        }
        if self.preferences.iter().any(|p| p == name) {
            return Classification {
                category: Some(self.necessary),
                origin: Origin::Preferences,
            };
        }
        if let Some(i) = self.matcher.first_match(name) {
            return Classification {
                category: Some(self.rules[i].category),
                origin: Origin::Rule(i),
            };
        }
        if let Some(catalogue) = &self.catalogue {
            if let Some((i, category)) = catalogue.classify(name) {
                return Classification {
                    category: Some(category),
                    origin: Origin::Catalogue(i),
                };
            }
        }
        UNCLASSIFIED
    }

    /// Whether a cookie of this classification may pass, given the granted categories.
    pub fn allowed(
        &self,
        class: Classification,
        granted: crate::cookies::category::CategorySet,
    ) -> bool {
        match class.category {
            Some(category) => granted.contains(category),
            None => self.unclassified == Unclassified::Allow,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, origin: Origin) -> Option<&Rule> {
        match origin {
            Origin::Rule(i) => self.rules.get(i),
            _ => None,
        }
    }

    pub fn unclassified(&self) -> Unclassified {
        self.unclassified
    }

    /// The `Set-Cookie` line that expires cookie `name` as `class` judged it:
    /// `NAME=; Max-Age=0; Path=…` with the rule's path (default `/`) and domain.
    /// `None` when the name cannot stand in a header field.
    pub fn expiry_line(&self, name: &[u8], class: Classification) -> Option<HeaderValue> {
        let expiry = match class.origin {
            Origin::Rule(i) => self.expiry.get(i),
            _ => None,
        };
        if let Some(whole) = expiry.and_then(|e| e.whole.as_ref()) {
            return Some(whole.clone());
        }
        let suffix = expiry.map_or(DEFAULT_EXPIRY_SUFFIX, |e| &e.suffix[..]);
        HeaderValue::from_bytes(&[name, suffix].concat()).ok()
    }
}

const UNCLASSIFIED: Classification = Classification {
    category: None,
    origin: Origin::Unclassified,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::category::CategorySet;

    fn rule(pattern: &str, category: u8) -> Rule {
        Rule {
            pattern: pattern.into(),
            category: CategoryId(category),
            provider: None,
            function: None,
            purpose: None,
            path: None,
            domain: None,
        }
    }

    fn classifier(rules: Vec<Rule>, unclassified: Unclassified) -> Classifier {
        Classifier::new(
            rules,
            vec![b"cookies_preferences".to_vec()],
            CategoryId(0),
            unclassified,
            None,
        )
    }

    #[test]
    fn globs_match_prefix_suffix_and_middle() {
        let g = |p: &str, n: &str| NamePattern::new(p).matches(n.as_bytes());
        assert!(g("_ga*", "_ga"));
        assert!(g("_ga*", "_ga_ABC123"));
        assert!(g("_ga*", "_ga x"));
        assert!(!g("_ga*", "x_ga"));
        assert!(g("*_id", "_pk_id"));
        assert!(g("_pk_*.*", "_pk_id.1.abcd"));
        assert!(!g("_pk_*.*", "_pk_id"));
        assert!(g("a*a", "aa"));
        assert!(!g("a*a", "a"));
        assert!(g("*", "anything"));
        assert!(g("exact", "exact"));
        assert!(!g("exact", "exactly"));
    }

    #[test]
    fn glob_prefixes_of_any_length_are_compared_whole() {
        let g = |p: &str, n: &str| NamePattern::new(p).matches(n.as_bytes());
        // Eight bytes and more: the word compare decides only the first eight.
        assert!(g("_hjSessionUser_*", "_hjSessionUser_123"));
        assert!(!g("_hjSessionUser_*", "_hjSessionXser_123"));
        assert!(g("12345678*", "12345678"));
        assert!(!g("12345678*", "1234567"));
        // Names shorter than the word, and prefixes that differ only late.
        assert!(g("ab*", "ab"));
        assert!(!g("ab*", "a"));
        assert!(!g("abcdefg*", "abcdefX"));
        assert!(!g("_ga*", "_gA"));
    }

    #[test]
    fn first_matching_rule_wins_whether_exact_or_glob() {
        let c = classifier(
            vec![rule("_ga_special", 2), rule("_ga*", 1), rule("_ga", 3)],
            Unclassified::Block,
        );
        assert_eq!(c.classify(b"_ga_special").category, Some(CategoryId(2)));
        assert_eq!(c.classify(b"_ga").category, Some(CategoryId(1)));
        assert_eq!(c.classify(b"_ga").origin, Origin::Rule(1));
    }

    proptest::proptest! {
        /// The precompiled matcher (hash map, first-byte buckets, word prefilter) finds
        /// the same first match as trying every pattern in order.
        #[test]
        fn matcher_agrees_with_trying_each_pattern_in_order(
            patterns in proptest::collection::vec("[ab_*]{0,4}", 0..12),
            name in "[ab_]{0,5}",
        ) {
            let patterns: Vec<NamePattern> = patterns.iter().map(|p| NamePattern::new(p)).collect();
            let expected = patterns.iter().position(|p| p.matches(name.as_bytes()));
            proptest::prop_assert_eq!(NameMatcher::new(&patterns).first_match(name.as_bytes()), expected);
        }
    }

    #[test]
    fn the_preferences_cookie_is_always_necessary() {
        let c = classifier(vec![rule("cookies_*", 2)], Unclassified::Block);
        let class = c.classify(b"cookies_preferences");
        assert_eq!(class.category, Some(CategoryId(0)));
        assert_eq!(class.origin, Origin::Preferences);
    }

    #[test]
    fn names_are_case_sensitive() {
        let c = classifier(vec![rule("sessionid", 0)], Unclassified::Block);
        assert_eq!(c.classify(b"SessionID").category, None);
    }

    #[test]
    fn unclassified_cookies_follow_the_policy() {
        let granted = CategorySet::EMPTY.with(CategoryId(0));
        let block = classifier(vec![], Unclassified::Block);
        let allow = classifier(vec![], Unclassified::Allow);
        assert!(!block.allowed(block.classify(b"mystery"), granted));
        assert!(allow.allowed(allow.classify(b"mystery"), granted));
        assert!(!block.allowed(block.classify(b""), granted));
    }
}

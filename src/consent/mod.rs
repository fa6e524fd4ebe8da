//! The visitor's consent, read from the request's cookies.
//!
//! [`Consent`] is fail-closed by construction: the only ways to make one start from
//! the required categories and add what a readable, current consent cookie grants.
//! A missing, empty, oversized, unreadable, outdated or duplicated preferences
//! cookie therefore grants the required categories and nothing else.

pub mod format;

use crate::cookies::category::{Categories, CategorySet};
pub use crate::cookies::request::RequestCookies;
pub use format::{Format, Recorded, Unreadable, Vocabulary};

/// One consent cookie and how to read it.
#[derive(Debug, Clone)]
pub struct Source {
    pub cookie: String,
    pub format: Format,
    pub vocab: Vocabulary,
}

/// The compiled `consent:` settings of a site.
#[derive(Debug, Clone)]
pub struct ConsentPolicy {
    /// Tried in order: the first whose cookie is present decides.
    pub sources: Vec<Source>,
    /// Consent recorded under an older revision counts as none.
    pub revision: Option<u64>,
    pub max_age: u64,
    pub honor_gpc: bool,
    pub expire_revoked: bool,
    pub strip_request_cookies: bool,
}

/// How the consent was arrived at, for logs and for deciding to show a banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// No consent cookie: the visitor has not chosen yet.
    Absent,
    /// A readable, current consent cookie from `sources[i]`.
    Given { source: usize },
    /// A consent cookie was present but could not be relied on.
    FailedClosed(&'static str),
}

/// What the visitor has granted for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    granted: CategorySet,
    state: ConsentState,
    /// What `Sec-GPC: 1` refused, whatever the cookie says: shown as refused in the
    /// banner and on the policy page, where no choice can change it.
    refused_by_gpc: CategorySet,
    /// What the one consent cookie read says, required categories added and before
    /// `Sec-GPC`: the state a consent record keeps. `None` without a readable cookie,
    /// or when several copies were read together.
    recorded: Option<Recorded>,
}

impl Consent {
    /// Only the required categories.
    pub fn required_only(categories: &Categories, state: ConsentState) -> Self {
        Consent {
            granted: categories.required(),
            state,
            refused_by_gpc: CategorySet::EMPTY,
            recorded: None,
        }
    }

    fn given(categories: &Categories, recorded: Recorded, single: bool, source: usize) -> Self {
        let granted = recorded.granted.union(categories.required());
        Consent {
            granted,
            state: ConsentState::Given { source },
            refused_by_gpc: CategorySet::EMPTY,
            recorded: single.then_some(Recorded {
                granted,
                revision: recorded.revision,
            }),
        }
    }

    /// The consent state of the one cookie read (see the field), for consent records.
    pub fn recorded(&self) -> Option<Recorded> {
        self.recorded
    }

    /// Refuses what `Sec-GPC: 1` refuses ([`Categories::gpc`], which holds no
    /// required category).
    fn refuse(mut self, refused: CategorySet) -> Self {
        self.granted = self.granted.without(refused);
        self.refused_by_gpc = refused;
        self
    }

    pub fn granted(&self) -> CategorySet {
        self.granted
    }

    /// The categories `Sec-GPC: 1` refused for this request (empty without it, or
    /// when the site does not honour it).
    pub fn refused_by_gpc(&self) -> CategorySet {
        self.refused_by_gpc
    }

    pub fn state(&self) -> ConsentState {
        self.state
    }

    /// Whether the visitor has made a choice that is still valid.
    pub fn has_choice(&self) -> bool {
        matches!(self.state, ConsentState::Given { .. })
    }

    /// Reads consent from a request's cookies and `Sec-GPC` header.
    pub fn read(
        cookies: &RequestCookies,
        gpc: bool,
        policy: &ConsentPolicy,
        categories: &Categories,
    ) -> Consent {
        let consent = read_sources(cookies, policy, categories);
        if gpc && policy.honor_gpc {
            consent.refuse(categories.gpc())
        } else {
            consent
        }
    }
}

fn read_sources(
    cookies: &RequestCookies,
    policy: &ConsentPolicy,
    categories: &Categories,
) -> Consent {
    for (i, source) in policy.sources.iter().enumerate() {
        let name = source.cookie.as_bytes();
        let mut copies = cookies.items().filter(|item| item.name == name);
        let Some(first) = copies.next() else {
            continue;
        };
        let mut recorded = match read_one(first.value, source, policy) {
            Ok(recorded) => recorded,
            Err(reason) => {
                return Consent::required_only(categories, ConsentState::FailedClosed(reason));
            }
        };
        let mut single = true;
        for copy in copies {
            single = false;
            // Two copies of consentry's own cookie cannot be told apart: refuse both.
            // A banner's cookie may exist once per path or domain: the stricter wins.
            if source.format.writable() {
                return Consent::required_only(categories, ConsentState::FailedClosed("duplicate"));
            }
            match read_one(copy.value, source, policy) {
                Ok(other) => recorded.granted = recorded.granted.intersection(other.granted),
                Err(reason) => {
                    return Consent::required_only(categories, ConsentState::FailedClosed(reason));
                }
            }
        }
        return Consent::given(categories, recorded, single, i);
    }
    Consent::required_only(categories, ConsentState::Absent)
}

fn read_one(
    value: &[u8],
    source: &Source,
    policy: &ConsentPolicy,
) -> Result<Recorded, &'static str> {
    if value.is_empty() {
        return Err("empty");
    }
    let recorded = source
        .format
        .read(value, &source.vocab)
        .map_err(|Unreadable(why)| why)?;
    if let Some(current) = policy.revision {
        if source.format.records_revision() && recorded.revision.is_none_or(|r| r < current) {
            return Err("outdated revision");
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::category::{Category, CategoryId};

    fn categories() -> Categories {
        let c = |name: &str, required, gpc| Category {
            name: name.into(),
            title: name.into(),
            description: Default::default(),
            required,
            gpc,
        };
        Categories::new(vec![
            c("necessary", true, false),
            c("statistics", false, false),
            c("first_party", false, false),
            c("third_party", false, true),
        ])
    }

    fn policy(format: Format) -> ConsentPolicy {
        let cats = categories();
        let mut vocab = Vocabulary::new(cats.all());
        for (id, c) in cats.iter() {
            vocab.map(&c.name, Some(id));
        }
        ConsentPolicy {
            sources: vec![Source {
                cookie: "cookies_preferences".into(),
                format,
                vocab,
            }],
            revision: None,
            max_age: 100,
            honor_gpc: true,
            expire_revoked: true,
            strip_request_cookies: true,
        }
    }

    fn consent(cookie_fields: &[&str], gpc: bool, policy: &ConsentPolicy) -> Consent {
        let mut headers = http::HeaderMap::new();
        for f in cookie_fields {
            headers.append(http::header::COOKIE, f.parse().unwrap());
        }
        Consent::read(
            &RequestCookies::from_headers(&headers),
            gpc,
            policy,
            &categories(),
        )
    }

    fn set(ids: &[u8]) -> CategorySet {
        ids.iter()
            .fold(CategorySet::EMPTY, |s, i| s.with(CategoryId(*i)))
    }

    #[test]
    fn grants_what_the_cookie_says_plus_required() {
        let c = consent(
            &[r#"a=1; cookies_preferences={"statistics":true}"#],
            false,
            &policy(Format::Json),
        );
        assert_eq!(c.granted(), set(&[0, 1]));
        assert!(c.has_choice());
    }

    #[test]
    fn missing_empty_or_unreadable_grants_only_required() {
        let p = policy(Format::Json);
        for fields in [
            &[][..],
            &["other=1"],
            &["cookies_preferences="],
            &["cookies_preferences=nope"],
        ] {
            let c = consent(fields, false, &p);
            assert_eq!(c.granted(), set(&[0]), "{fields:?}");
            assert!(!c.has_choice());
        }
    }

    #[test]
    fn oversized_values_fail_closed() {
        let big = format!(
            r#"cookies_preferences={{"statistics":true,"pad":"{}"}}"#,
            "x".repeat(5000)
        );
        assert_eq!(
            consent(&[&big], false, &policy(Format::Json)).granted(),
            set(&[0])
        );
    }

    /// DESIGN.md: a value *over* 4 KiB fails closed, so one of exactly 4096 bytes
    /// is read.
    #[test]
    fn a_value_of_exactly_4_kib_is_read_and_one_byte_more_is_not() {
        let value_of = |len: usize| {
            let head = r#"{"statistics":true,"pad":""#;
            let pad = "x".repeat(len - head.len() - 2);
            let value = format!(r#"{head}{pad}"}}"#);
            assert_eq!(value.len(), len);
            format!("cookies_preferences={value}")
        };
        let p = policy(Format::Json);
        assert_eq!(
            consent(&[&value_of(4096)], false, &p).granted(),
            set(&[0, 1])
        );
        assert_eq!(consent(&[&value_of(4097)], false, &p).granted(), set(&[0]));
    }

    #[test]
    fn two_preferences_cookies_fail_closed_in_one_field_or_across_fields() {
        let p = policy(Format::List);
        let c = consent(
            &["cookies_preferences=statistics; cookies_preferences=statistics"],
            false,
            &p,
        );
        assert_eq!(c.granted(), set(&[0]));
        let c = consent(
            &[
                "cookies_preferences=statistics",
                "cookies_preferences=statistics",
            ],
            false,
            &p,
        );
        assert_eq!(c.granted(), set(&[0]));
        assert_eq!(c.state(), ConsentState::FailedClosed("duplicate"));
    }

    #[test]
    fn gpc_refuses_gpc_categories_whatever_the_cookie_says() {
        let p = policy(Format::List);
        let c = consent(&["cookies_preferences=statistics,third_party"], true, &p);
        assert_eq!(c.granted(), set(&[0, 1]));
        let mut ignoring = p.clone();
        ignoring.honor_gpc = false;
        let c = consent(
            &["cookies_preferences=statistics,third_party"],
            true,
            &ignoring,
        );
        assert_eq!(c.granted(), set(&[0, 1, 3]));
        assert!(
            c.refused_by_gpc().is_empty(),
            "not honoured: nothing to show"
        );
    }

    /// What the banner and policy page show as refused: GPC's categories, with or
    /// without a cookie, and never a required one.
    #[test]
    fn records_what_gpc_refused_for_the_banner() {
        let p = policy(Format::List);
        for cookies in [&["cookies_preferences=third_party"][..], &[]] {
            let c = consent(cookies, true, &p);
            assert_eq!(c.refused_by_gpc(), set(&[3]), "{cookies:?}");
            assert!(!c.granted().contains(CategoryId(3)));
        }
        assert!(consent(&[], false, &p).refused_by_gpc().is_empty());
    }

    #[test]
    fn consent_under_an_older_revision_counts_as_none() {
        let mut p = policy(Format::Json);
        p.revision = Some(2);
        let old = consent(
            &[r#"cookies_preferences={"statistics":true,"rev":1}"#],
            false,
            &p,
        );
        assert_eq!(old.granted(), set(&[0]));
        let unnumbered = consent(&[r#"cookies_preferences={"statistics":true}"#], false, &p);
        assert_eq!(unnumbered.granted(), set(&[0]));
        let current = consent(
            &[r#"cookies_preferences={"statistics":true,"rev":2}"#],
            false,
            &p,
        );
        assert_eq!(current.granted(), set(&[0, 1]));
    }
}

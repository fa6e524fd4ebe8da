//! Enforcing consent on headers: what leaves toward the browser (`Set-Cookie`) and
//! what goes on to the upstream (`Cookie`). Pure functions over a `HeaderMap`, so
//! each rule of DESIGN.md's "What the proxy does to each exchange" is tested here
//! without sockets.

use http::header::{COOKIE, Entry, LINK, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

use crate::cookies::category::{CategoryId, CategorySet};
use crate::cookies::classify::{Classification, Classifier, Origin};
use crate::cookies::name::set_cookie_name_range;
use crate::cookies::request::RequestCookies;

/// One cookie decision, for logs, metrics and the audit. It shares the `Set-Cookie`
/// line (a reference count, no copy) but only ever shows its name, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    line: HeaderValue,
    name: std::ops::Range<usize>,
    pub category: Option<CategoryId>,
    pub origin: Origin,
}

impl Decision {
    /// A decision about the cookie named `name` (for callers outside enforcement).
    pub fn new(name: &str, category: Option<CategoryId>, origin: Origin) -> Self {
        let line = HeaderValue::from_str(name).unwrap_or(HeaderValue::from_static(""));
        let name = 0..line.len();
        Decision {
            line,
            name,
            category,
            origin,
        }
    }

    /// The cookie's name as a browser would store it (empty when it has none).
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.name_bytes())
    }

    pub fn name_bytes(&self) -> &[u8] {
        self.line
            .as_bytes()
            .get(self.name.clone())
            .unwrap_or_default()
    }
}

/// What enforcement did to one exchange.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// `Set-Cookie` lines removed.
    pub removed: Vec<Decision>,
    /// `Set-Cookie` lines let through.
    pub allowed: Vec<Decision>,
    /// Names of cookies expired because consent no longer covers them.
    pub expired: Vec<String>,
    /// Request cookies not forwarded upstream.
    pub stripped: usize,
}

/// Removes every `Set-Cookie` whose cookie is not granted; the others stay byte for
/// byte and in order. A line is judged by the name a browser would store from it, so
/// a line no parser accepts is still judged (and unclassified when it has no name).
pub fn filter_set_cookies(
    headers: &mut HeaderMap,
    classifier: &Classifier,
    granted: CategorySet,
    report: &mut Report,
) {
    let lines = headers.get_all(SET_COOKIE);
    let count = lines.iter().count();
    if count == 0 {
        return;
    }
    // Each list may take every line: one allocation each instead of growing by pushes.
    report.allowed.reserve(count);
    report.removed.reserve(count);
    let first_allowed = report.allowed.len();
    let mut any_removed = false;
    for line in lines {
        let name = set_cookie_name_range(line.as_bytes()).unwrap_or_default();
        let class = classifier.classify(&line.as_bytes()[name.clone()]);
        let decision = Decision {
            line: line.clone(),
            name,
            category: class.category,
            origin: class.origin,
        };
        if classifier.allowed(class, granted) {
            report.allowed.push(decision);
        } else {
            any_removed = true;
            report.removed.push(decision);
        }
    }
    // The header map is rewritten only when a line must go: all of them out, then the
    // allowed ones back, in their order. Through one entry, so the name is hashed and
    // found once rather than once per line.
    if any_removed {
        let allowed = &report.allowed[first_allowed..];
        match headers.entry(SET_COOKIE) {
            Entry::Occupied(mut entry) => match allowed.split_first() {
                Some((first, rest)) => {
                    entry.insert(first.line.clone());
                    for decision in rest {
                        entry.append(decision.line.clone());
                    }
                }
                None => {
                    entry.remove_entry_mult();
                }
            },
            // Unreachable: the lines judged above came from this entry.
            Entry::Vacant(_) => {}
        }
    }
}

/// Adds `Set-Cookie: NAME=; Max-Age=0; Path=/` (the rule's path and domain when it has
/// them) for each classified cookie the request carried that consent does not cover.
/// Unclassified cookies are left alone: nobody has said what they are for.
pub fn expire_revoked(
    headers: &mut HeaderMap,
    cookies: &RequestCookies,
    classifier: &Classifier,
    granted: CategorySet,
    report: &mut Report,
) {
    for (item, class) in cookies.classified(classifier) {
        let Some(category) = class.category else {
            continue;
        };
        if granted.contains(category) {
            continue;
        }
        let name = String::from_utf8_lossy(item.name);
        if report.expired.iter().any(|n| *n == name) {
            continue;
        }
        if let Some(line) = classifier.expiry_line(item.name, class) {
            headers.append(SET_COOKIE, line);
            report.expired.push(name.into_owned());
        }
    }
}

/// Rewrites the request's `Cookie` header so that only granted cookies (and, under
/// `unclassified: allow`, unclassified ones) reach the upstream. Several `Cookie`
/// fields (HTTP/2) are joined into one with `; ` (RFC 9113 §8.2.3), since the
/// upstream side speaks HTTP/1.1. Returns how many items were dropped.
pub fn strip_request_cookies(
    headers: &mut HeaderMap,
    cookies: &RequestCookies,
    classifier: &Classifier,
    granted: CategorySet,
) -> usize {
    // No Cookie field at all (`cookies` holds every one): nothing to look at.
    if cookies.is_empty() {
        return 0;
    }
    let allowed = |(_, class): &(_, Classification)| classifier.allowed(*class, granted);
    let dropped = cookies
        .classified(classifier)
        .filter(|item| !allowed(item))
        .count();
    // Nothing to drop and one field: the header goes on as it came, unrebuilt.
    if dropped == 0 && cookies.field_count() <= 1 {
        return 0;
    }
    let mut kept = Vec::with_capacity(cookies.items().map(|i| i.raw.len() + 2).sum());
    for (item, _) in cookies.classified(classifier).filter(allowed) {
        if !kept.is_empty() {
            kept.extend_from_slice(b"; ");
        }
        kept.extend_from_slice(item.raw);
    }
    headers.remove(COOKIE);
    if !kept.is_empty() {
        // The joined items were parts of valid fields: validated, not copied again.
        if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(kept)) {
            headers.insert(COOKIE, value);
        }
    }
    dropped
}

/// Adds the `Link: <policy.path>; rel="privacy-policy"` header.
pub fn add_policy_link(headers: &mut HeaderMap, link: &HeaderValue) {
    headers.append(LINK, link.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::classify::{Rule, Unclassified};

    const NECESSARY: CategoryId = CategoryId(0);
    const STATISTICS: CategoryId = CategoryId(1);
    const THIRD_PARTY: CategoryId = CategoryId(3);

    fn rule(pattern: &str, category: CategoryId) -> Rule {
        Rule {
            pattern: pattern.into(),
            category,
            provider: None,
            function: None,
            purpose: None,
            path: None,
            domain: None,
        }
    }

    fn classifier(unclassified: Unclassified) -> Classifier {
        let mut fbp = rule("_fbp", THIRD_PARTY);
        fbp.domain = Some(".example.org".into());
        fbp.path = Some("/app".into());
        Classifier::new(
            vec![rule("sessionid", NECESSARY), rule("_ga*", STATISTICS), fbp],
            vec![b"cookies_preferences".to_vec()],
            NECESSARY,
            unclassified,
            None,
        )
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn set_cookies(h: &HeaderMap) -> Vec<&str> {
        h.get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    fn necessary_only() -> CategorySet {
        CategorySet::EMPTY.with(NECESSARY)
    }

    #[test]
    fn removes_set_cookies_that_are_not_granted_and_keeps_the_rest_in_order() {
        let mut h = headers(&[
            ("set-cookie", "sessionid=abc; HttpOnly; Path=/"),
            ("set-cookie", "_ga=GA1.2.3; Max-Age=63072000"),
            ("content-type", "text/html"),
            ("set-cookie", "cookies_preferences={}; Path=/"),
            ("set-cookie", "mystery=1"),
        ]);
        let mut report = Report::default();
        filter_set_cookies(
            &mut h,
            &classifier(Unclassified::Block),
            necessary_only(),
            &mut report,
        );
        assert_eq!(
            set_cookies(&h),
            [
                "sessionid=abc; HttpOnly; Path=/",
                "cookies_preferences={}; Path=/"
            ]
        );
        assert_eq!(h.get("content-type").unwrap(), "text/html");
        let removed: Vec<_> = report
            .removed
            .iter()
            .map(|d| d.name().into_owned())
            .collect();
        assert_eq!(removed, ["_ga", "mystery"]);
    }

    #[test]
    fn judges_lines_no_parser_accepts_by_the_browser_name() {
        let mut h = headers(&[
            ("set-cookie", "_ga x=1"),
            ("set-cookie", "noequals"),
            ("set-cookie", "=bar"),
        ]);
        let mut report = Report::default();
        let granted = necessary_only().with(STATISTICS);
        filter_set_cookies(
            &mut h,
            &classifier(Unclassified::Block),
            granted,
            &mut report,
        );
        assert_eq!(set_cookies(&h), ["_ga x=1"]);
        assert_eq!(report.removed.len(), 2);
    }

    #[test]
    fn unclassified_allow_lets_unknown_and_nameless_lines_through() {
        let mut h = headers(&[
            ("set-cookie", "mystery=1"),
            ("set-cookie", "noequals"),
            ("set-cookie", "_ga=1"),
        ]);
        let mut report = Report::default();
        filter_set_cookies(
            &mut h,
            &classifier(Unclassified::Allow),
            necessary_only(),
            &mut report,
        );
        assert_eq!(set_cookies(&h), ["mystery=1", "noequals"]);
    }

    #[test]
    fn expires_each_revoked_classified_cookie_once_with_rule_path_and_domain() {
        let mut h = HeaderMap::new();
        let req = headers(&[("cookie", "_ga=1; sessionid=2; _fbp=3; mystery=4; _ga=5")]);
        let cookies = RequestCookies::from_headers(&req);
        let mut report = Report::default();
        expire_revoked(
            &mut h,
            &cookies,
            &classifier(Unclassified::Block),
            necessary_only(),
            &mut report,
        );
        assert_eq!(
            set_cookies(&h),
            [
                "_ga=; Max-Age=0; Path=/",
                "_fbp=; Max-Age=0; Path=/app; Domain=.example.org"
            ]
        );
        assert_eq!(report.expired, ["_ga", "_fbp"]);
    }

    #[test]
    fn strips_request_cookies_that_are_not_granted() {
        let mut h = headers(&[(
            "cookie",
            "sessionid=1; _ga=2; lonely; cookies_preferences=x",
        )]);
        let cookies = RequestCookies::from_headers(&h);
        let dropped = strip_request_cookies(
            &mut h,
            &cookies,
            &classifier(Unclassified::Block),
            necessary_only(),
        );
        assert_eq!(dropped, 2);
        assert_eq!(h.get(COOKIE).unwrap(), "sessionid=1; cookies_preferences=x");
    }

    #[test]
    fn joins_several_cookie_fields_and_removes_an_emptied_header() {
        let mut h = headers(&[("cookie", "sessionid=1"), ("cookie", "a=b")]);
        let cookies = RequestCookies::from_headers(&h);
        strip_request_cookies(
            &mut h,
            &cookies,
            &classifier(Unclassified::Allow),
            necessary_only(),
        );
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        assert_eq!(h.get(COOKIE).unwrap(), "sessionid=1; a=b");

        let mut h = headers(&[("cookie", "_ga=1")]);
        let cookies = RequestCookies::from_headers(&h);
        strip_request_cookies(
            &mut h,
            &cookies,
            &classifier(Unclassified::Block),
            necessary_only(),
        );
        assert!(h.get(COOKIE).is_none());
    }

    #[test]
    fn leaves_an_untouched_cookie_header_alone() {
        let mut h = headers(&[("cookie", "sessionid=1;  cookies_preferences=x")]);
        let cookies = RequestCookies::from_headers(&h);
        assert_eq!(
            strip_request_cookies(
                &mut h,
                &cookies,
                &classifier(Unclassified::Block),
                necessary_only()
            ),
            0
        );
        assert_eq!(
            h.get(COOKIE).unwrap(),
            "sessionid=1;  cookies_preferences=x"
        );
    }
}

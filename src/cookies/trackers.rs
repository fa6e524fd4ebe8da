//! Which URLs and inline scripts in a page are trackers, and of which category.
//!
//! A [`TrackerMatcher`] is compiled once per site when the configuration loads: the
//! site's `trackers.rules`, then the global ones, then the built-in
//! [catalogue](crate::cookies::tracker_catalogue), first match wins. Matching a URL is
//! one parse of its host plus a hash lookup per host label (`a.b.example.com` →
//! `a.b.example.com`, `b.example.com`, `example.com`, `com`), and matching an inline
//! script is one pass of an Aho-Corasick automaton over all signatures together:
//! never a loop of string searches per element.

use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::nfa::contiguous;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, MatchKind, StartKind};

use crate::cookies::category::{CategoryId, CategorySet};
use crate::cookies::classify::NamePattern;
use crate::cookies::tracker_catalogue::TRACKERS;

/// The index of a tracker in its [`TrackerMatcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackerId(pub u32);

/// Where a tracker comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerOrigin {
    /// A `trackers.rules` entry of the configuration (site rules first).
    Rule,
    /// The built-in catalogue, at this index of [`TRACKERS`].
    Catalogue(usize),
}

/// One tracker a page may hold.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub provider: String,
    /// `None`: a catalogue category the deployment does not declare, always refused.
    pub category: Option<CategoryId>,
    /// The URL patterns, for the policy page.
    pub urls: Vec<String>,
    /// The inline signatures, for the guard script.
    pub inline: Vec<String>,
    pub cookies: Vec<String>,
    pub origin: TrackerOrigin,
}

impl Tracker {
    /// Whether the visitor's consent lets this tracker run.
    pub fn allowed(&self, granted: CategorySet) -> bool {
        self.category.is_some_and(|c| granted.contains(c))
    }
}

/// A tracker as the configuration gives it, before compiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerRule {
    pub url: Option<String>,
    pub inline: Option<String>,
    pub category: CategoryId,
    pub provider: String,
}

/// One URL pattern, `host[/path]`, split at load.
#[derive(Debug, Clone)]
struct UrlPattern {
    /// Priority: the pattern's tracker comes first in match order when lower.
    order: u32,
    /// A glob on the host; `None` when the host is literal (then it is the key of
    /// [`TrackerMatcher::by_host`]).
    host_glob: Option<NamePattern>,
    /// On the path (from its `/`, without the query); `None`: any path.
    path: Option<NamePattern>,
    tracker: TrackerId,
}

impl UrlPattern {
    fn matches(&self, host: &[u8], path: &[u8]) -> bool {
        self.host_glob.as_ref().is_none_or(|g| g.matches(host))
            && self.path.as_ref().is_none_or(|p| p.matches(path))
    }
}

/// The compiled trackers of one site.
#[derive(Debug, Clone)]
pub struct TrackerMatcher {
    trackers: Vec<Tracker>,
    /// Literal hosts (lower case) → the patterns on that host, in match order.
    by_host: crate::FastMap<Vec<u8>, Vec<UrlPattern>>,
    /// Patterns whose host is a glob, in match order.
    any_host: Vec<UrlPattern>,
    /// Every inline signature; pattern `i` belongs to `inline_owner[i]`.
    inline: Option<AhoCorasick>,
    inline_owner: Vec<(u32, TrackerId)>,
    /// The categories some tracker belongs to; a visitor granting all of them (and
    /// with no undeclared catalogue category) needs no rewrite of tracker elements.
    categories: CategorySet,
    has_undeclared: bool,
    /// Every literal a tracker's element must contain (hosts, path literals, inline
    /// signatures), case-insensitive: an element with none of them is no tracker
    /// (once its URLs are read as written; see `html::tracker_scan`).
    triggers: Option<Triggers>,
    /// The same literals and every byte a browser may read otherwise in a URL
    /// ([`read_otherwise`]): one walk tells a URL value that needs no more look.
    url_triggers: Option<Triggers>,
}

/// Whether a browser may read a URL's bytes as other bytes from this one on: `&`
/// (character references), `%` (percent-escapes), `\` (read as `/`), tabs and
/// newlines (dropped), non-ASCII (host names are mapped, IDNA).
fn read_otherwise(byte: u8) -> bool {
    matches!(byte, b'&' | b'%' | b'\\' | b'\t' | b'\n' | b'\r') || byte >= 0x80
}

/// The trigger literals as an automaton walked by hand: asked once per tag that may
/// load something, on haystacks of tens of bytes, where `AhoCorasick::is_match`'s
/// set-up costs more than the walk (benches/trackers.rs). A DFA (one table lookup per
/// byte) for the catalogue and up to a few hundred rules; past that its tables would
/// take megabytes (7 MB for 1,000 rules), and a contiguous NFA serves instead.
#[derive(Debug, Clone)]
enum Triggers {
    Dfa(DFA, StateID),
    Nfa(contiguous::NFA, StateID),
}

/// Up to this many literals, the triggers are a DFA (about 2 MB at most).
const DFA_LITERALS: usize = 250;

impl Triggers {
    /// `single_bytes`: more patterns of one byte each, which do not count towards
    /// [`DFA_LITERALS`] (they add a state each).
    fn build<P: AsRef<[u8]>>(literals: &[P], single_bytes: &[u8]) -> Option<Triggers> {
        let count = literals.len();
        let singles = single_bytes.iter().map(std::slice::from_ref);
        let literals: Vec<&[u8]> = literals.iter().map(AsRef::as_ref).chain(singles).collect();
        if count <= DFA_LITERALS {
            let dfa = DFA::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .start_kind(StartKind::Unanchored)
                .build(literals)
                .ok()?;
            let start = dfa.start_state(Anchored::No).ok()?;
            return Some(Triggers::Dfa(dfa, start));
        }
        let nfa = contiguous::NFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(literals)
            .ok()?;
        let start = nfa.start_state(Anchored::No).ok()?;
        Some(Triggers::Nfa(nfa, start))
    }

    fn is_match(&self, bytes: &[u8]) -> bool {
        match self {
            Triggers::Dfa(dfa, start) => walk(dfa, *start, bytes),
            Triggers::Nfa(nfa, start) => walk(nfa, *start, bytes),
        }
    }
}

/// Whether any literal ends in `bytes`: the automaton's states, byte by byte.
fn walk(automaton: &impl Automaton, start: StateID, bytes: &[u8]) -> bool {
    if automaton.is_match(start) {
        return true;
    }
    let mut state = start;
    for &byte in bytes {
        state = automaton.next_state(Anchored::No, state, byte);
        if automaton.is_special(state) {
            if automaton.is_match(state) {
                return true;
            }
            if automaton.is_dead(state) {
                return false;
            }
        }
    }
    false
}

/// A pattern that is not `host[/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUrlPattern(pub String);

/// Splits `host[/path]` (scheme and port ignored) into a lower-case host and a path.
fn split_pattern(pattern: &str) -> Result<(String, Option<String>), BadUrlPattern> {
    let mut rest = pattern.trim();
    for scheme in ["https://", "http://", "//"] {
        if rest.len() >= scheme.len() && rest[..scheme.len()].eq_ignore_ascii_case(scheme) {
            rest = &rest[scheme.len()..];
            break;
        }
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], Some(&rest[at..])),
        None => (rest, None),
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit() || b == b'*') => host,
        _ => authority,
    };
    if host.is_empty()
        || host
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b"-.*_".contains(&b)))
    {
        return Err(BadUrlPattern(format!(
            "`{pattern}` is not a URL pattern: write host[/path], e.g. stats.example.org/js/*"
        )));
    }
    if path.is_some_and(|p| p.contains(['?', '#', ' '])) {
        return Err(BadUrlPattern(format!(
            "`{pattern}`: a URL pattern matches host and path, not a query or fragment"
        )));
    }
    let path = path.filter(|p| *p != "/*").map(str::to_owned);
    Ok((host.to_ascii_lowercase(), path))
}

/// The longest literal run of a URL pattern that an element loading it contains:
/// its host when literal, else the longest piece between stars of host or path.
fn url_literal(pattern: &str) -> Option<String> {
    let (host, path) = split_pattern(pattern).ok()?;
    if !host.contains('*') {
        return Some(host);
    }
    let pieces = host
        .split('*')
        .chain(path.as_deref().into_iter().flat_map(|p| p.split('*')));
    pieces
        .map(|p| p.trim_matches(['.', '/']))
        .filter(|p| p.len() >= 3)
        .max_by_key(|p| p.len())
        .map(str::to_owned)
}

/// Checks a `trackers.rules[].url` value.
pub fn check_url_pattern(pattern: &str) -> Result<(), BadUrlPattern> {
    split_pattern(pattern).map(|_| ())
}

impl TrackerMatcher {
    /// Compiles the rules (site rules first, then the global ones) and the catalogue.
    /// `catalogue_category` maps a catalogue category name (`statistics`) to the
    /// deployment's category, or `None` when it declares none such.
    pub fn compile(
        rules: &[TrackerRule],
        catalogue_category: impl Fn(&str) -> Option<CategoryId>,
    ) -> TrackerMatcher {
        let mut matcher = TrackerMatcher {
            trackers: Vec::new(),
            by_host: crate::FastMap::default(),
            any_host: Vec::new(),
            inline: None,
            inline_owner: Vec::new(),
            categories: CategorySet::EMPTY,
            has_undeclared: false,
            triggers: None,
            url_triggers: None,
        };
        let mut signatures: Vec<String> = Vec::new();
        let mut order = 0u32;
        for rule in rules {
            let id = TrackerId(matcher.trackers.len() as u32);
            matcher.trackers.push(Tracker {
                provider: rule.provider.clone(),
                category: Some(rule.category),
                urls: rule.url.iter().cloned().collect(),
                inline: rule.inline.iter().cloned().collect(),
                cookies: Vec::new(),
                origin: TrackerOrigin::Rule,
            });
            matcher.categories.insert(rule.category);
            if let Some(url) = &rule.url {
                matcher.add_url(url, order, id);
            }
            if let Some(text) = &rule.inline {
                if !text.is_empty() {
                    signatures.push(text.clone());
                    matcher.inline_owner.push((order, id));
                }
            }
            order += 1;
        }
        for (index, entry) in TRACKERS.iter().enumerate() {
            let id = TrackerId(matcher.trackers.len() as u32);
            let category = catalogue_category(entry.category);
            match category {
                Some(c) => matcher.categories.insert(c),
                None => matcher.has_undeclared = true,
            }
            matcher.trackers.push(Tracker {
                provider: entry.provider.to_owned(),
                category,
                urls: entry.urls.iter().map(|u| (*u).to_owned()).collect(),
                inline: entry.inline.iter().map(|i| (*i).to_owned()).collect(),
                cookies: entry.cookies.iter().map(|c| (*c).to_owned()).collect(),
                origin: TrackerOrigin::Catalogue(index),
            });
            for url in entry.urls {
                matcher.add_url(url, order, id);
                order += 1;
            }
            for text in entry.inline {
                signatures.push((*text).to_owned());
                matcher.inline_owner.push((order, id));
                order += 1;
            }
        }
        let mut triggers: Vec<String> = signatures.clone();
        for tracker in &matcher.trackers {
            for url in &tracker.urls {
                triggers.extend(url_literal(url));
            }
        }
        matcher.triggers = Triggers::build(&triggers, &[]);
        let escapes: Vec<u8> = (0..=255u8).filter(|&b| read_otherwise(b)).collect();
        matcher.url_triggers = Triggers::build(&triggers, &escapes);
        if !signatures.is_empty() {
            // Standard semantics, so that every signature in a script is reported and
            // the one of the earliest rule wins, whatever its position in the text.
            matcher.inline = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(&signatures)
                .ok();
        }
        matcher
    }

    fn add_url(&mut self, pattern: &str, order: u32, tracker: TrackerId) {
        let Ok((host, path)) = split_pattern(pattern) else {
            return;
        };
        let path = path.map(|p| NamePattern::new(&p));
        if host.contains('*') {
            self.any_host.push(UrlPattern {
                order,
                host_glob: Some(NamePattern::new(&host)),
                path,
                tracker,
            });
        } else {
            self.by_host
                .entry(host.into_bytes())
                .or_default()
                .push(UrlPattern {
                    order,
                    host_glob: None,
                    path,
                    tracker,
                });
        }
    }

    /// Whether `bytes` contain a literal of some tracker (always, should the
    /// automaton have failed to build: the safe answer).
    pub fn may_contain_tracker(&self, bytes: &[u8]) -> bool {
        self.triggers.as_ref().is_none_or(|t| t.is_match(bytes))
    }

    /// Whether a URL as written contains a literal of some tracker or a byte a
    /// browser may read otherwise ([`read_otherwise`]): when not, it names no tracker
    /// (always, should the automaton have failed to build).
    pub fn url_may_name_tracker(&self, url: &[u8]) -> bool {
        self.url_triggers.as_ref().is_none_or(|t| t.is_match(url))
    }

    pub fn tracker(&self, id: TrackerId) -> &Tracker {
        &self.trackers[id.0 as usize]
    }

    pub fn trackers(&self) -> &[Tracker] {
        &self.trackers
    }

    /// How many trackers come from rules and from the catalogue.
    pub fn counts(&self) -> (usize, usize) {
        let rules = self
            .trackers
            .iter()
            .filter(|t| t.origin == TrackerOrigin::Rule)
            .count();
        (rules, self.trackers.len() - rules)
    }

    /// Whether a visitor granting `granted` may meet a tracker to make inert.
    pub fn any_refused(&self, granted: CategorySet) -> bool {
        self.has_undeclared || !self.categories.is_subset(granted)
    }

    /// The tracker a URL (as written in an attribute) loads, if any. `page_host` is
    /// the host of the page, for relative URLs.
    pub fn match_url<'a>(&'a self, url: &str, page_host: &str) -> Option<TrackerId> {
        let cleaned;
        // Browsers drop tabs and newlines anywhere in a URL and leading/trailing
        // spaces (URL Standard, basic URL parser), so `goo\ngle-analytics.com` loads.
        let url = if url.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
            cleaned = url.replace(['\t', '\n', '\r'], "");
            cleaned.as_str()
        } else {
            url
        };
        let (host, path) = url_host_path(url.trim_matches(|c: char| c <= ' '), page_host)?;
        let host = host.as_bytes();
        let mut best: Option<&UrlPattern> = None;
        let mut consider = |p: &'a UrlPattern| {
            if best.is_none_or(|b| p.order < b.order) && p.matches(host, path.as_bytes()) {
                best = Some(p);
            }
        };
        let mut suffix = host;
        loop {
            if let Some(patterns) = self.by_host.get(suffix) {
                for p in patterns {
                    consider(p);
                }
            }
            match suffix.iter().position(|&b| b == b'.') {
                Some(dot) => suffix = &suffix[dot + 1..],
                None => break,
            }
        }
        for p in &self.any_host {
            consider(p);
        }
        best.map(|p| p.tracker)
    }

    /// The tracker an inline script's text belongs to, if any.
    pub fn match_inline(&self, text: &[u8]) -> Option<TrackerId> {
        let automaton = self.inline.as_ref()?;
        let mut best: Option<(u32, TrackerId)> = None;
        for m in automaton.find_overlapping_iter(text) {
            let owner = self.inline_owner[m.pattern().as_usize()];
            if best.is_none_or(|b| owner.0 < b.0) {
                best = Some(owner);
            }
        }
        best.map(|(_, id)| id)
    }
}

/// How often each tracker of a site was met in its pages, refused and allowed, since
/// the configuration loaded: for the policy page ("seen in this site's pages") and the
/// audit. Counting is two relaxed atomic adds per tracker element.
#[derive(Debug, Default)]
pub struct TrackerTally {
    counts: Box<[[AtomicU64; 2]]>,
}

impl TrackerTally {
    pub fn new(trackers: usize) -> TrackerTally {
        TrackerTally {
            counts: (0..trackers)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
        }
    }

    pub fn record(&self, id: TrackerId, allowed: bool) {
        if let Some(pair) = self.counts.get(id.0 as usize) {
            pair[usize::from(allowed)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(tracker, refused, allowed)` for every tracker seen at least once.
    pub fn seen(&self) -> Vec<(TrackerId, u64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter_map(|(i, [refused, allowed])| {
                let (r, a) = (
                    refused.load(Ordering::Relaxed),
                    allowed.load(Ordering::Relaxed),
                );
                (r + a > 0).then_some((TrackerId(i as u32), r, a))
            })
            .collect()
    }
}

/// The lower-case host and the path (without query or fragment) of a URL as written
/// in a page, relative ones resolved against `page_host`. `None` for URLs that load
/// nothing from the network (`data:`, `blob:`, `javascript:`, `about:`...).
pub fn url_host_path(url: &str, page_host: &str) -> Option<(String, String)> {
    // Browsers read `\` as `/` in http(s) URLs.
    let lower_start: String = url
        .chars()
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let after_scheme = if lower_start.starts_with("https:") {
        Some(&url[6..])
    } else if lower_start.starts_with("http:") {
        Some(&url[5..])
    } else {
        None
    };
    let network = match after_scheme {
        Some(rest) => Some(rest),
        None if url.starts_with("//")
            || url.starts_with("\\\\")
            || url.starts_with("/\\")
            || url.starts_with("\\/") =>
        {
            Some(url)
        }
        None => None,
    };
    let (host, rest) = match network {
        Some(rest) => {
            let rest = rest.trim_start_matches(['/', '\\']);
            let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..end];
            let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = if authority.starts_with('[') {
                authority
            } else {
                authority.split(':').next().unwrap_or("")
            };
            // Browsers percent-decode a host (URL Standard, host parser).
            let host = if host.contains('%') {
                percent_encoding::percent_decode_str(host)
                    .decode_utf8_lossy()
                    .into_owned()
            } else {
                host.to_owned()
            };
            (
                host.trim_end_matches('.').to_ascii_lowercase(),
                &rest[end..],
            )
        }
        None => {
            // A scheme other than http(s) loads nothing a tracker rule is about.
            let scheme_end = url.find(':');
            let first_sep = url.find(['/', '?', '#']);
            if let Some(colon) = scheme_end {
                if first_sep.is_none_or(|s| colon < s)
                    && url[..colon]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                {
                    return None;
                }
            }
            (page_host.to_ascii_lowercase(), url)
        }
    };
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    let mut path = rest[..path_end].replace('\\', "/");
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    Some((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> TrackerMatcher {
        let rules = vec![
            TrackerRule {
                url: Some("stats.example.org/js/*".into()),
                inline: None,
                category: CategoryId(1),
                provider: "Example Stats".into(),
            },
            TrackerRule {
                url: None,
                inline: Some("exampleStats.init(".into()),
                category: CategoryId(1),
                provider: "Example Stats".into(),
            },
        ];
        TrackerMatcher::compile(&rules, |name| match name {
            "statistics" => Some(CategoryId(1)),
            "third_party" => Some(CategoryId(3)),
            _ => None,
        })
    }

    /// The trigger literals are found in any case, whether they make a DFA (the
    /// catalogue and a few rules) or, past a few hundred, a contiguous NFA.
    #[test]
    fn triggers_find_their_literals_as_a_dfa_and_as_an_nfa() {
        for extra in [0usize, 10, DFA_LITERALS + 50] {
            let rules: Vec<TrackerRule> = (0..extra)
                .map(|i| TrackerRule {
                    url: Some(format!("stats{i}.example.org/js/*")),
                    inline: None,
                    category: CategoryId(1),
                    provider: format!("Stats {i}"),
                })
                .collect();
            let m = TrackerMatcher::compile(&rules, |_| Some(CategoryId(1)));
            let nfa = matches!(m.triggers, Some(Triggers::Nfa(..)));
            assert_eq!(nfa, extra > DFA_LITERALS, "{extra} rules");
            let tag = br#"<script src="https://WWW.Google-Analytics.com/analytics.js">"#;
            assert!(
                m.may_contain_tracker(tag),
                "{extra} rules: a catalogue host"
            );
            assert!(!m.may_contain_tracker(br#"<img src="/static/icon-1.png" alt="">"#));
            // A URL value: its literals, or a byte a browser reads otherwise.
            assert!(m.url_may_name_tracker(b"https://WWW.Google-Analytics.com/a.js"));
            assert!(!m.url_may_name_tracker(b"/static/icon-1.png"));
            for escaped in [
                &b"https://www&#46;x.com/"[..],
                b"/a%2e",
                b"\\x",
                b"a\tb",
                "é".as_bytes(),
            ] {
                assert!(
                    m.url_may_name_tracker(escaped),
                    "{extra} rules: {escaped:?}"
                );
                assert!(!m.may_contain_tracker(escaped));
            }
            if extra > 0 {
                let last = format!("<img src=\"//STATS{}.example.org/js/p.gif\">", extra - 1);
                assert!(
                    m.may_contain_tracker(last.as_bytes()),
                    "{extra} rules: a rule's host"
                );
            }
        }
    }

    fn provider(m: &TrackerMatcher, id: Option<TrackerId>) -> Option<&str> {
        id.map(|id| m.tracker(id).provider.as_str())
    }

    #[test]
    fn hosts_match_themselves_and_their_subdomains_only() {
        let m = matcher();
        let p = |url| provider(&m, m.match_url(url, "portal.example"));
        assert_eq!(
            p("https://www.google-analytics.com/g/collect"),
            Some("Google Analytics")
        );
        assert_eq!(
            p("//connect.facebook.net/en_US/fbevents.js"),
            Some("Meta Pixel")
        );
        assert_eq!(p("https://notgoogle-analytics.com/x.js"), None);
        assert_eq!(p("https://google-analytics.com.evil.example/x.js"), None);
        assert_eq!(p("https://portal.example/?ref=google-analytics.com"), None);
        assert_eq!(p("HTTPS://WWW.YOUTUBE.COM/embed/abc"), Some("YouTube"));
        assert_eq!(p("https://www.youtube.com/watch?v=abc"), None);
    }

    #[test]
    fn narrower_patterns_of_a_shared_host_win() {
        let m = matcher();
        let p = |url| provider(&m, m.match_url(url, "portal.example"));
        assert_eq!(
            p("https://www.googletagmanager.com/gtag/js?id=G-1"),
            Some("Google Analytics")
        );
        assert_eq!(
            p("https://www.googletagmanager.com/gtm.js?id=GTM-1"),
            Some("Google Tag Manager")
        );
        assert_eq!(
            p("https://www.googletagmanager.com/ns.html?id=GTM-1"),
            Some("Google Tag Manager")
        );
    }

    #[test]
    fn rules_come_before_the_catalogue_and_match_host_and_path() {
        let m = matcher();
        let p = |url| provider(&m, m.match_url(url, "portal.example"));
        assert_eq!(
            p("https://stats.example.org/js/t.js"),
            Some("Example Stats")
        );
        assert_eq!(p("https://stats.example.org/other.js"), None);
        assert_eq!(
            p("https://stats.example.org:8443/js/t.js?x=1"),
            Some("Example Stats")
        );
    }

    #[test]
    fn self_hosted_matomo_matches_on_any_host_relative_urls_included() {
        let m = matcher();
        let p = |url| provider(&m, m.match_url(url, "portal.example"));
        assert_eq!(p("/matomo.js"), Some("Matomo"));
        assert_eq!(
            p("https://stats.city.example/piwik/piwik.php?idsite=1"),
            Some("Matomo")
        );
        assert_eq!(p("js/matomo.js"), Some("Matomo"));
        assert_eq!(p("/app.js"), None);
    }

    #[test]
    fn urls_browsers_would_clean_up_are_cleaned_up_first() {
        let m = matcher();
        let p = |url| provider(&m, m.match_url(url, "portal.example"));
        assert_eq!(
            p(" https://www.google-\nanalytics.com/analytics.js "),
            Some("Google Analytics")
        );
        assert_eq!(
            p("https:\\\\www.google-analytics.com\\analytics.js"),
            Some("Google Analytics")
        );
        assert_eq!(
            p("https://user@www.google-analytics.com./x"),
            Some("Google Analytics")
        );
        assert_eq!(p("data:text/javascript,1"), None);
        assert_eq!(p("javascript:void(0)"), None);
    }

    #[test]
    fn inline_signatures_pick_the_earliest_rule() {
        let m = matcher();
        let p = |text: &str| provider(&m, m.match_inline(text.as_bytes()));
        assert_eq!(
            p(
                "window.dataLayer=[];function gtag(){dataLayer.push(arguments)}gtag('js',new Date());gtag('config','G-1');"
            ),
            Some("Google Analytics")
        );
        assert_eq!(
            p("!function(f,b,e,v,n,t,s){};fbq('init', '123');"),
            Some("Meta Pixel")
        );
        assert_eq!(
            p("var _paq = window._paq = window._paq || [];_paq.push(['trackPageView']);"),
            Some("Matomo")
        );
        assert_eq!(
            p("exampleStats.init({id:1}); gtag('config','G-1')"),
            Some("Example Stats")
        );
        assert_eq!(p("console.log('hello')"), None);
    }

    #[test]
    fn undeclared_catalogue_categories_are_always_refused() {
        let m =
            TrackerMatcher::compile(&[], |name| (name == "statistics").then_some(CategoryId(1)));
        let ads = m
            .match_url("https://connect.facebook.net/x.js", "p")
            .map(|id| m.tracker(id));
        assert!(ads.is_some_and(|t| t.category.is_none()));
        assert!(m.any_refused(CategorySet::EMPTY.with(CategoryId(1))));
    }

    #[test]
    fn a_percent_encoded_host_is_read_decoded() {
        assert_eq!(
            url_host_path("https://www.face%62ook.com/tr?id=1", "p"),
            Some(("www.facebook.com".to_owned(), "/tr".to_owned()))
        );
    }

    #[test]
    fn bad_url_patterns_are_refused() {
        assert!(check_url_pattern("stats.example.org/js/*").is_ok());
        assert!(check_url_pattern("https://stats.example.org:8080/x").is_ok());
        assert!(check_url_pattern("*/demo-tracker/*").is_ok());
        assert!(check_url_pattern("").is_err());
        assert!(check_url_pattern("exa mple.org").is_err());
        assert!(check_url_pattern("example.org/x?y=1").is_err());
    }
}

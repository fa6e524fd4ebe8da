//! Consent records: proof that each visitor consented (GDPR Art. 7(1)): when, to
//! what, under which policy text. See DESIGN.md "Consent records" and
//! docs/records.md.
//!
//! On the request path ([`Records::observe`]) nothing waits: when the request
//! carries a readable consent cookie, its value is looked up in a bounded table of
//! recently seen values; only a new one is read for its consent ID and state, and
//! only a new state becomes a record, handed to a bounded queue with `try_send`. A
//! full queue drops the record and counts it. One writer task per store drains the
//! queue in batches, one transaction each; the store's unique key on the state makes
//! `observed` records exact across restarts and replicas. Choices made through
//! consentry's banner or consent endpoint ([`Records::record_choice`]) wait, briefly,
//! for their own record to be written before the endpoint answers.
//!
//! - [`record`]: the record and its text forms;
//! - [`store`]: SQLite and PostgreSQL;
//! - `writer`: the queue's consumer, retention;
//! - `dedup`: the bounded table.

mod dedup;
mod metrics;
pub mod read;
pub mod record;
pub mod store;
mod writer;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::Request;
use tokio::sync::{mpsc, oneshot};

use crate::config::records::{RecordsConfig, StoreUrl};
use crate::config::{Config, Site};
use crate::consent::{Consent, ConsentState, RequestCookies};
use crate::cookies::category::{Categories, CategorySet};
use crate::net::hop::ClientInfo;
pub use crate::pages::local::Choice;
pub use metrics::{Dropped, RecordMetrics};
use record::{Event, Record};
use store::{Item, PolicyText, State};

/// How long the consent endpoint waits for its record before answering anyway.
pub const CHOICE_WAIT: Duration = Duration::from_secs(2);

/// What is recorded of each site, built with each configuration.
#[derive(Debug, Default)]
pub struct SiteTable {
    sites: Vec<SiteRecords>,
}

#[derive(Debug)]
struct SiteRecords {
    /// The policy text consentry shows on this site, per site language (in the
    /// order of `policy.languages`): its banner and policy page in that language,
    /// with the language's tag.
    shown: Vec<(String, Arc<PolicyText>)>,
    /// Whether consentry's banner asks for the consent this site's first (writable)
    /// source records; then an observed value of that source was chosen in it.
    banner: bool,
}

impl SiteTable {
    pub fn new(config: &Config) -> SiteTable {
        let sites = config
            .sites
            .iter()
            .map(|site| {
                let categories = &config.categories;
                let languages = &site.policy.languages;
                let shown = (0..languages.all().len())
                    .map(|index| {
                        let speak = crate::pages::policy::Speak::at(languages, index);
                        let (before, after) = site
                            .policy
                            .banner_markup
                            .get(index)
                            .map_or(("", ""), |b| b.for_visitor(false));
                        let page = crate::pages::policy::policy_page(
                            site,
                            categories,
                            categories.required(),
                            CategorySet::EMPTY,
                            speak,
                        );
                        let text = format!("{before}{after}\n{page}");
                        let policy = Arc::new(PolicyText {
                            sha256: sha256_hex(text.as_bytes()),
                            text,
                        });
                        (speak.language.tag.clone(), policy)
                    })
                    .collect();
                SiteRecords {
                    shown,
                    banner: site.policy.banner && site.consent.sources[0].format.writable(),
                }
            })
            .collect();
        SiteTable { sites }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A message to the writer.
enum Msg {
    /// Boxed: the queue holds pointers, not 450-byte records.
    Record(Box<Pending>),
    /// Delete what is older than this (ms since the epoch).
    Purge(i64),
}

struct Pending {
    item: Item,
    /// Forgotten from the recent tables when the write fails, so that a later
    /// request tries again.
    value_hash: Option<u64>,
    state_hash: u64,
    ack: Option<oneshot::Sender<bool>>,
}

/// The store's health, as the writer last saw it.
#[derive(Debug, Default)]
pub struct StoreStatus {
    up: AtomicBool,
    error: std::sync::Mutex<Option<String>>,
}

impl StoreStatus {
    fn set(&self, outcome: Result<(), &str>, metrics: &RecordMetrics) {
        self.up.store(outcome.is_ok(), Ordering::Relaxed);
        metrics.store_up.set(i64::from(outcome.is_ok()));
        if let Ok(mut error) = self.error.lock() {
            *error = outcome.err().map(str::to_owned);
        }
    }
}

/// A running store: its queue, the recent tables and the writer's status.
struct Recorder {
    config: RecordsConfig,
    tx: mpsc::Sender<Msg>,
    hasher: foldhash::fast::RandomState,
    values: Arc<dedup::RecentSet>,
    states: Arc<dedup::RecentSet>,
    status: Arc<StoreStatus>,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Consent recording for the whole process: the current [`Recorder`] (none when
/// `records` is not configured), swapped when a reload changes `records`.
pub struct Records {
    metrics: RecordMetrics,
    current: ArcSwapOption<Recorder>,
    /// Set by [`Records::apply`]: a proxy built but not started records nothing.
    started: AtomicBool,
    warned_at: AtomicI64,
    suppressed: AtomicU64,
}

impl Records {
    pub fn new(metrics: RecordMetrics) -> Records {
        Records {
            metrics,
            current: ArcSwapOption::empty(),
            started: AtomicBool::new(false),
            warned_at: AtomicI64::new(i64::MIN),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Starts recording as `config` says, or changes the store when it differs
    /// from the running one; `None` stops recording. Needs a tokio runtime.
    pub fn apply(&self, config: Option<&RecordsConfig>) {
        self.started.store(true, Ordering::Relaxed);
        let running = self.current.load();
        if running.as_ref().map(|r| &r.config) == config {
            return;
        }
        let next = config.map(|c| Recorder::start(c.clone(), self.metrics.clone()));
        if next.is_none() {
            self.metrics.store_up.set(0);
        }
        // The old writer drains its queue and stops when its last sender goes.
        self.current.store(next);
    }

    /// Whether [`Records::apply`] was called (by `net::server::start`).
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// Stops recording, letting the writer write what is queued (up to `grace`).
    pub async fn shutdown(&self, grace: Duration) {
        let Some(recorder) = self.current.swap(None) else {
            return;
        };
        let writer = recorder.writer.lock().ok().and_then(|mut w| w.take());
        drop(recorder);
        if let Some(writer) = writer {
            let _ = tokio::time::timeout(grace, writer).await;
        }
    }

    /// The store in use, if any.
    pub fn store(&self) -> Option<StoreUrl> {
        self.current.load().as_ref().map(|r| r.config.store.clone())
    }

    /// For `/readyz`: `None` when records are off, else the store and its health.
    pub fn status(&self) -> Option<(String, Result<(), String>)> {
        let current = self.current.load();
        let recorder = current.as_ref()?;
        let up = recorder.status.up.load(Ordering::Relaxed);
        let error = recorder
            .status
            .error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_else(|| "not opened yet".into());
        Some((
            recorder.config.store.redacted(),
            if up { Ok(()) } else { Err(error) },
        ))
    }

    /// Records the consent state of the request's cookie if it is new. Never
    /// blocks, never fails the request: costs a table lookup when the value was
    /// seen lately.
    #[allow(clippy::too_many_arguments)]
    pub fn observe<B>(
        &self,
        table: &SiteTable,
        site_index: usize,
        site: &Site,
        categories: &Categories,
        consent: &Consent,
        cookies: &RequestCookies,
        req: &Request<B>,
        client: &ClientInfo,
    ) {
        let (Some(recorded), ConsentState::Given { source }) =
            (consent.recorded(), consent.state())
        else {
            return;
        };
        let current = self.current.load();
        let Some(recorder) = current.as_ref() else {
            return;
        };
        let Some(source) = site.consent.sources.get(source) else {
            return;
        };
        let Some(value) = cookies
            .items()
            .find(|item| item.name == source.cookie.as_bytes())
            .map(|item| item.value)
        else {
            return;
        };
        let value_hash = recorder.hasher.hash_one((site.name.as_str(), value));
        if recorder.values.contains(value_hash) {
            return;
        }
        let consent_id = source.format.consent_id(value);
        let state_hash = recorder.hasher.hash_one((
            site.name.as_str(),
            consent_id.as_str(),
            recorded.granted,
            recorded.revision,
        ));
        if recorder.states.contains(state_hash) {
            recorder.values.insert(value_hash);
            self.metrics.deduplicated.inc();
            return;
        }
        let shown = table
            .sites
            .get(site_index)
            .filter(|s| s.banner && source.format.writable());
        let record = build(
            recorder.config.client_info,
            Event::Observed,
            source.format.name(),
            consent_id,
            site,
            categories,
            recorded.granted,
            recorded.revision,
            // What the banner showed this visitor is not known here: the site's
            // default language's text.
            shown
                .and_then(|s| s.shown.first())
                .map(|(tag, p)| (tag.as_str(), p)),
            req.uri().path(),
            client,
            req.headers(),
        );
        self.send(
            recorder,
            record,
            Some(value_hash),
            state_hash,
            shown.and_then(|s| s.shown.first()).map(|(_, p)| p.clone()),
            None,
        );
    }

    /// Records a choice made through consentry, waiting up to [`CHOICE_WAIT`] for it
    /// to be written. Returns whether it was. The visitor's choice applies either way.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_choice(
        &self,
        table: &SiteTable,
        site_index: usize,
        site: &Site,
        categories: &Categories,
        choice: &Choice,
        req_headers: &http::HeaderMap,
        client: &ClientInfo,
    ) -> bool {
        let current = self.current.load_full();
        let Some(recorder) = current.as_ref() else {
            return false;
        };
        // The text in the language the form was shown in (its `lang` field).
        let shown = table
            .sites
            .get(site_index)
            .and_then(|s| s.shown.get(choice.language).or(s.shown.first()))
            .cloned();
        let policy = shown.as_ref().map(|(_, p)| p.clone());
        let event = Event::of_choice(choice.had_id, choice.granted, categories.required());
        let record = build(
            recorder.config.client_info,
            event,
            choice.source,
            choice.consent_id.clone(),
            site,
            categories,
            choice.granted,
            choice.revision,
            shown.as_ref().map(|(tag, p)| (tag.as_str(), p)),
            &choice.path,
            client,
            req_headers,
        );
        let value_hash = recorder
            .hasher
            .hash_one((site.name.as_str(), choice.cookie_value.as_bytes()));
        let state_hash = recorder.hasher.hash_one((
            site.name.as_str(),
            choice.consent_id.as_str(),
            choice.granted,
            choice.revision,
        ));
        let (ack, written) = oneshot::channel();
        if !self.send(
            recorder,
            record,
            Some(value_hash),
            state_hash,
            policy,
            Some(ack),
        ) {
            return false;
        }
        match tokio::time::timeout(CHOICE_WAIT, written).await {
            Ok(Ok(true)) => true,
            Ok(_) => false,
            Err(_) => {
                self.warn(&format!(
                    "the consent endpoint's record was not written within {}s; the choice is applied, the record stays queued",
                    CHOICE_WAIT.as_secs()
                ));
                false
            }
        }
    }

    /// Hands a record to the writer without waiting; false when it was dropped.
    fn send(
        &self,
        recorder: &Recorder,
        mut item: Item,
        value_hash: Option<u64>,
        state_hash: u64,
        policy: Option<Arc<PolicyText>>,
        ack: Option<oneshot::Sender<bool>>,
    ) -> bool {
        item.policy = policy;
        let pending = Pending {
            item,
            value_hash,
            state_hash,
            ack,
        };
        match recorder.tx.try_send(Msg::Record(Box::new(pending))) {
            Ok(()) => {
                recorder.states.insert(state_hash);
                if let Some(h) = value_hash {
                    recorder.values.insert(h);
                }
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped(Dropped::QueueFull, 1);
                self.warn("the queue to the consent record store is full: a record was dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.dropped(Dropped::StoreError, 1);
                false
            }
        }
    }

    /// A WARN at most every 10 s, saying how many were held back meanwhile.
    fn warn(&self, message: &str) {
        warn_limited(&self.warned_at, &self.suppressed, message);
    }
}

/// A record of `event` with what was granted, on `path`, built from the request.
#[allow(clippy::too_many_arguments)]
fn build(
    client_info: bool,
    event: Event,
    source: &str,
    consent_id: String,
    site: &Site,
    categories: &Categories,
    granted: CategorySet,
    revision: Option<u64>,
    shown: Option<(&str, &Arc<PolicyText>)>,
    path: &str,
    client: &ClientInfo,
    headers: &http::HeaderMap,
) -> Item {
    let policy = shown.map(|(_, p)| p);
    let time_ms = record::now_ms();
    let granted = granted.union(categories.required());
    let record = Record {
        record_id: record::random_id(),
        schema_version: record::SCHEMA_VERSION,
        time: record::format_time(time_ms),
        event,
        source: source.to_owned(),
        consent_id: consent_id.clone(),
        site: site.name.clone(),
        granted: record::names(categories, granted),
        refused: record::names(categories, categories.all().without(granted)),
        revision,
        language: shown.map(|(tag, _)| tag.to_owned()),
        policy_sha256: policy.map(|p| p.sha256.clone()),
        path: record::path_only(path),
        client_ip: client_info.then(|| record::truncated_ip(client.addr.ip())),
        user_agent: client_info
            .then(|| {
                headers.get(http::header::USER_AGENT).map(|ua| {
                    String::from_utf8_lossy(ua.as_bytes())
                        .chars()
                        .take(512)
                        .collect()
                })
            })
            .flatten(),
    };
    Item {
        state: State {
            site: site.name.clone(),
            consent_id,
            granted: record.granted.join(" "),
            revision: revision.and_then(|r| i64::try_from(r).ok()).unwrap_or(-1),
        },
        record,
        time_ms,
        policy: None,
    }
}

/// Logs `message` at WARN unless one was logged in the last 10 s; counts the others.
fn warn_limited(warned_at: &AtomicI64, suppressed: &AtomicU64, message: &str) {
    let now = record::now_ms();
    let last = warned_at.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 10_000
        && warned_at
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let held_back = suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(held_back, "consent records: {message}");
    } else {
        suppressed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Recorder {
    fn start(config: RecordsConfig, metrics: RecordMetrics) -> Arc<Recorder> {
        let (tx, rx) = mpsc::channel(config.queue);
        let status = Arc::new(StoreStatus::default());
        let values = Arc::new(dedup::RecentSet::new(16));
        let states = Arc::new(dedup::RecentSet::new(16));
        let writer = tokio::spawn(writer::run(
            config.store.clone(),
            rx,
            status.clone(),
            metrics,
            values.clone(),
            states.clone(),
        ));
        tokio::spawn(writer::retention(tx.downgrade(), config.retain));
        Arc::new(Recorder {
            config,
            tx,
            hasher: foldhash::fast::RandomState::default(),
            values,
            states,
            status,
            writer: std::sync::Mutex::new(Some(writer)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::RequestCookies;

    const CATEGORIES: &str = "categories:\n  necessary: { required: true }\n  statistics: {}\n  first_party: {}\n  third_party: { gpc: true }\n";

    fn config(format: &str, banner: bool) -> Config {
        let yaml = format!(
            "listen: {{ http: 127.0.0.1:0 }}\nconsent: {{ format: {format}, revision: 2 }}\n{CATEGORIES}policy: {{ banner: {banner} }}\nsites:\n  - {{ name: portal, hosts: [portal.test], upstream: http://127.0.0.1:1 }}\n"
        );
        Config::from_yaml(&yaml, "test.yaml", std::path::Path::new(".")).unwrap()
    }

    /// What `observe` builds for `cookie`, or `None` when it would record nothing.
    fn observed(config: &Config, cookie: &str, gpc: bool, client_info: bool) -> Option<Record> {
        let site = &config.sites[0];
        let categories = &config.categories;
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        headers.insert(http::header::USER_AGENT, "UA/1".parse().unwrap());
        let cookies = RequestCookies::from_headers(&headers);
        let consent = Consent::read(&cookies, gpc, &site.consent, categories);
        let (Some(recorded), ConsentState::Given { source }) =
            (consent.recorded(), consent.state())
        else {
            return None;
        };
        let source = &site.consent.sources[source];
        let value = cookies
            .items()
            .find(|i| i.name == source.cookie.as_bytes())?
            .value;
        let table = SiteTable::new(config);
        let shown = Some(&table.sites[0])
            .filter(|s| s.banner && source.format.writable())
            .and_then(|s| s.shown.first())
            .map(|(tag, p)| (tag.as_str(), p));
        let client = ClientInfo::new("198.51.100.23:4000".parse().unwrap(), false);
        Some(
            build(
                client_info,
                Event::Observed,
                source.format.name(),
                source.format.consent_id(value),
                site,
                categories,
                recorded.granted,
                recorded.revision,
                shown,
                "/datasets/trees?q=private",
                &client,
                &headers,
            )
            .record,
        )
    }

    #[test]
    fn an_observed_record_per_format() {
        // (format, cookie, consent ID or "" for the value's hash, granted, revision)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            &'static [&'static str],
            Option<u64>,
        );
        let cases: &[Case] = &[
            (
                "json",
                r#"cookies_preferences={"statistics":true,"rev":2,"id":"abc"}"#,
                "abc",
                &["necessary", "statistics"],
                Some(2),
            ),
            (
                "list",
                "cookies_preferences=first_party,id:xyz",
                "xyz",
                &["necessary", "first_party"],
                None,
            ),
            (
                "cookieconsent",
                r#"cc_cookie={"categories":["analytics"],"revision":2,"consentId":"cc-1"}"#,
                "cc-1",
                &["necessary", "statistics"],
                Some(2),
            ),
            (
                "cookiebot",
                "CookieConsent={stamp:'bot-1',necessary:true,preferences:false,statistics:true,marketing:true}",
                "bot-1",
                &["necessary", "statistics", "third_party"],
                None,
            ),
            (
                "onetrust",
                "OptanonConsent=consentId=ot-1&groups=C0001%3A1%2CC0003%3A1",
                "ot-1",
                &["necessary", "first_party"],
                None,
            ),
            (
                "klaro",
                r#"klaro={"matomo":true}"#,
                "",
                &["necessary", "statistics"],
                None,
            ),
            (
                "govuk",
                r#"cookies_policy={"essential":true,"campaigns":true}"#,
                "",
                &["necessary", "third_party"],
                None,
            ),
            (
                "django-cookie-consent",
                "cookie_consent=social=2024-01-02T10:00:00+00:00",
                "",
                &["necessary", "third_party"],
                None,
            ),
        ];
        for (format, cookie, id, granted, revision) in cases {
            let config = config(format, false);
            let r = observed(&config, cookie, false, false).unwrap_or_else(|| panic!("{format}"));
            assert_eq!(r.event, Event::Observed);
            assert_eq!(r.source, *format);
            assert_eq!(r.site, "portal");
            if id.is_empty() {
                let value = cookie.split_once('=').unwrap().1;
                assert_eq!(
                    r.consent_id,
                    crate::consent::format::hashed(value.as_bytes()),
                    "{format}"
                );
            } else {
                assert_eq!(r.consent_id, *id, "{format}");
            }
            assert_eq!(r.granted, *granted, "{format}");
            let all = ["necessary", "statistics", "first_party", "third_party"];
            let refused: Vec<&str> = all.into_iter().filter(|c| !granted.contains(c)).collect();
            assert_eq!(r.refused, refused, "{format}");
            assert_eq!(r.revision, *revision, "{format}");
            assert_eq!(r.path, "/datasets/trees", "no query");
            assert!(
                r.language.is_none() && r.policy_sha256.is_none(),
                "{format}: nothing shown"
            );
            assert!(r.client_ip.is_none() && r.user_agent.is_none());
            assert_eq!(r.schema_version, 1);
            assert_eq!(r.record_id.len(), 32);
            assert!(record::parse_time(&r.time).is_some());
        }
    }

    #[test]
    fn what_is_not_evidence_records_nothing() {
        let config = config("json", false);
        for cookie in [
            "other=1",
            "cookies_preferences=",
            "cookies_preferences={broken",
            r#"cookies_preferences={"statistics":"yes"}"#,
            r#"cookies_preferences={"statistics":true}; cookies_preferences={"statistics":true}"#,
            r#"cookies_preferences={"statistics":true,"rev":1}"#,
        ] {
            assert!(
                observed(&config, cookie, false, false).is_none(),
                "{cookie}"
            );
        }
    }

    #[test]
    fn the_cookie_is_recorded_before_gpc_and_client_info_only_when_asked() {
        let config = config("json", true);
        let cookie = r#"cookies_preferences={"third_party":true,"rev":2}"#;
        let r = observed(&config, cookie, true, true).unwrap();
        assert_eq!(
            r.granted,
            ["necessary", "third_party"],
            "what the cookie says"
        );
        assert_eq!(r.client_ip.as_deref(), Some("198.51.100.0/24"));
        assert_eq!(r.user_agent.as_deref(), Some("UA/1"));
        // consentry's banner asks for this cookie: its text and language were shown.
        assert_eq!(r.language.as_deref(), Some("en"));
        let table = SiteTable::new(&config);
        let (_, policy) = &table.sites[0].shown[0];
        assert_eq!(r.policy_sha256.as_deref(), Some(policy.sha256.as_str()));
        assert_eq!(policy.sha256, sha256_hex(policy.text.as_bytes()));
    }
}

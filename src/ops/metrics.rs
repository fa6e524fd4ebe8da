//! Prometheus metrics, served as text by the admin listener's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

use crate::cookies::category::Categories;
use crate::cookies::enforce::Report;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    site: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabels {
    site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    site: String,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    site: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// Every metric consentry exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    removed: Family<CategoryLabels, Counter>,
    expired: Family<SiteLabels, Counter>,
    stripped: Family<SiteLabels, Counter>,
    upstream_errors: Family<KindLabels, Counter>,
    request_seconds: Family<SiteLabels, Histogram>,
    upstream_seconds: Family<SiteLabels, Histogram>,
    reloads: Family<OutcomeLabels, Counter>,
    /// Mirrors the log writer's own count, brought up to date at each scrape.
    log_lines_dropped: Counter,
    /// Consent records (`ops::records`).
    pub records: crate::ops::records::RecordMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("consentry");
        let requests = Family::<RequestLabels, Counter>::default();
        let removed = Family::<CategoryLabels, Counter>::default();
        let expired = Family::<SiteLabels, Counter>::default();
        let stripped = Family::<SiteLabels, Counter>::default();
        let upstream_errors = Family::<KindLabels, Counter>::default();
        let request_seconds = Family::<SiteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let upstream_seconds = Family::<SiteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by site and status class",
            requests.clone(),
        );
        registry.register(
            "set_cookie_removed",
            "Set-Cookie lines removed, by site and category",
            removed.clone(),
        );
        registry.register(
            "cookies_expired",
            "Revoked cookies expired in responses",
            expired.clone(),
        );
        registry.register(
            "request_cookies_stripped",
            "Request cookies not forwarded upstream",
            stripped.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures, by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Whole request latency",
            request_seconds.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time to upstream response headers",
            upstream_seconds.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads, by outcome",
            reloads.clone(),
        );
        let log_lines_dropped = Counter::default();
        registry.register(
            "log_lines_dropped",
            "Log lines the non-blocking log writer dropped because its queue was full",
            log_lines_dropped.clone(),
        );
        registry.register(
            "tracker_rewrite_gave_up",
            "Responses whose tracker rewrite gave up somewhere (kept inert: cut or dropped)",
            crate::html::trackers::GAVE_UP.clone(),
        );
        // Both series from the start, so that `increase(...{outcome="failed"})` sees
        // the first failure as a rise from 0 rather than a new series.
        for outcome in ["ok", "failed"] {
            let _ = reloads.get_or_create(&OutcomeLabels { outcome });
        }
        let records = crate::ops::records::RecordMetrics::register(&mut registry);
        Metrics {
            registry,
            records,
            requests,
            removed,
            expired,
            stripped,
            upstream_errors,
            request_seconds,
            upstream_seconds,
            reloads,
            log_lines_dropped,
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// One site's metric handles, resolved once per configuration load: recording a
/// request then costs a few atomic operations and no label lookups.
#[derive(Clone)]
pub struct SiteMetrics {
    requests: [Counter; 5],
    request_seconds: Histogram,
    upstream_seconds: Histogram,
    /// By category position; the last one counts unclassified cookies.
    removed: Vec<Counter>,
    expired: Counter,
    stripped: Counter,
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn class_index(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

impl SiteMetrics {
    /// Counts one answered request of this site.
    pub fn record(
        &self,
        status: u16,
        elapsed: Duration,
        upstream: Option<Duration>,
        report: &Report,
    ) {
        self.requests[class_index(status)].inc();
        self.request_seconds.observe(elapsed.as_secs_f64());
        if let Some(upstream) = upstream {
            self.upstream_seconds.observe(upstream.as_secs_f64());
        }
        let unclassified = self.removed.len() - 1;
        for d in &report.removed {
            self.removed[d
                .category
                .map_or(unclassified, |c| c.index().min(unclassified))]
            .inc();
        }
        if !report.expired.is_empty() {
            self.expired.inc_by(report.expired.len() as u64);
        }
        if report.stripped > 0 {
            self.stripped.inc_by(report.stripped as u64);
        }
    }
}

impl Metrics {
    /// The handles of site `name` (`-` for requests no site took).
    pub fn site(&self, name: &str, categories: &Categories) -> SiteMetrics {
        let site = || name.to_owned();
        let by_site = SiteLabels { site: site() };
        let mut removed: Vec<Counter> = categories
            .iter()
            .map(|(_, c)| {
                self.removed
                    .get_or_create(&CategoryLabels {
                        site: site(),
                        category: c.name.clone(),
                    })
                    .clone()
            })
            .collect();
        removed.push(
            self.removed
                .get_or_create(&CategoryLabels {
                    site: site(),
                    category: "unclassified".into(),
                })
                .clone(),
        );
        SiteMetrics {
            requests: CLASSES.map(|class| {
                self.requests
                    .get_or_create(&RequestLabels {
                        site: site(),
                        class,
                    })
                    .clone()
            }),
            request_seconds: self.request_seconds.get_or_create(&by_site).clone(),
            upstream_seconds: self.upstream_seconds.get_or_create(&by_site).clone(),
            removed,
            expired: self.expired.get_or_create(&by_site).clone(),
            stripped: self.stripped.get_or_create(&by_site).clone(),
        }
    }

    pub fn upstream_error(&self, site: &str, kind: &'static str) {
        self.upstream_error_counter(site, kind).inc();
    }

    /// The counter of one kind of upstream failure at one site, for a part that counts
    /// it later without the site's name at hand (a response body that breaks).
    pub fn upstream_error_counter(&self, site: &str, kind: &'static str) -> Counter {
        self.upstream_errors
            .get_or_create(&KindLabels {
                site: site.to_owned(),
                kind,
            })
            .clone()
    }

    /// Counts a configuration reload: `ok` or `failed`.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&OutcomeLabels {
                outcome: if ok { "ok" } else { "failed" },
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let dropped = crate::ops::logging::dropped_lines();
        let known = self.log_lines_dropped.get();
        if dropped > known {
            self.log_lines_dropped.inc_by(dropped - known);
        }
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

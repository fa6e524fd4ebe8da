//! Prometheus metrics, served as text by the admin listener's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

use crate::category::Categories;
use crate::enforce::Report;

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
        Metrics {
            registry,
            requests,
            removed,
            expired,
            stripped,
            upstream_errors,
            request_seconds,
            upstream_seconds,
            reloads,
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(
        &self,
        site: &str,
        status: u16,
        elapsed: Duration,
        upstream: Option<Duration>,
        report: &Report,
        categories: &Categories,
    ) {
        let site = site.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                site: site.clone(),
                class: status_class(status),
            })
            .inc();
        let by_site = SiteLabels { site };
        self.request_seconds
            .get_or_create(&by_site)
            .observe(elapsed.as_secs_f64());
        if let Some(upstream) = upstream {
            self.upstream_seconds
                .get_or_create(&by_site)
                .observe(upstream.as_secs_f64());
        }
        for d in &report.removed {
            let category = d
                .category
                .map_or("unclassified", |c| categories.name(c))
                .to_owned();
            self.removed
                .get_or_create(&CategoryLabels {
                    site: by_site.site.clone(),
                    category,
                })
                .inc();
        }
        if !report.expired.is_empty() {
            self.expired
                .get_or_create(&by_site)
                .inc_by(report.expired.len() as u64);
        }
        if report.stripped > 0 {
            self.stripped
                .get_or_create(&by_site)
                .inc_by(report.stripped as u64);
        }
    }

    pub fn upstream_error(&self, site: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&KindLabels {
                site: site.to_owned(),
                kind,
            })
            .inc();
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
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

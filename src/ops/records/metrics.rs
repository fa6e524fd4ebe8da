//! The records' metrics, registered beside the proxy's own in `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Why a record was not written.
#[derive(Debug, Clone, Copy)]
pub enum Dropped {
    /// The queue to the writer was full.
    QueueFull,
    /// The store refused the write, or could not be reached.
    StoreError,
}

impl Dropped {
    fn label(self) -> &'static str {
        match self {
            Dropped::QueueFull => "queue_full",
            Dropped::StoreError => "store_error",
        }
    }
}

#[derive(Clone, Debug)]
pub struct RecordMetrics {
    pub written: Counter,
    pub deduplicated: Counter,
    dropped: Family<ReasonLabels, Counter>,
    pub store_errors: Counter,
    pub store_up: Gauge,
}

impl RecordMetrics {
    pub fn register(registry: &mut Registry) -> RecordMetrics {
        let metrics = RecordMetrics {
            written: Counter::default(),
            deduplicated: Counter::default(),
            dropped: Family::default(),
            store_errors: Counter::default(),
            store_up: Gauge::default(),
        };
        registry.register(
            "records_written",
            "Consent records written to the store",
            metrics.written.clone(),
        );
        registry.register(
            "records_deduplicated",
            "Consent states seen again and not recorded twice (in memory or by the store)",
            metrics.deduplicated.clone(),
        );
        registry.register(
            "records_dropped",
            "Consent records lost, by reason (queue_full, store_error)",
            metrics.dropped.clone(),
        );
        registry.register(
            "records_store_errors",
            "Failed store operations (opening, writing, expiring)",
            metrics.store_errors.clone(),
        );
        registry.register(
            "records_store_up",
            "1 when the last store operation succeeded, 0 when it failed or records are off",
            metrics.store_up.clone(),
        );
        for reason in [Dropped::QueueFull, Dropped::StoreError] {
            let _ = metrics.dropped.get_or_create(&ReasonLabels {
                reason: reason.label(),
            });
        }
        metrics
    }

    pub fn dropped(&self, reason: Dropped, n: u64) {
        self.dropped
            .get_or_create(&ReasonLabels {
                reason: reason.label(),
            })
            .inc_by(n);
    }
}

//! The writer: one task per store that drains the queue in batches (one
//! transaction each), and the retention task that asks it to expire old records.
//! A store that cannot be opened, or fails, loses the batch at hand (counted, and
//! logged at WARN at most every 10 s) and is opened again on the next one, at most
//! once a second: the proxy goes on serving whatever the store does.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::dedup::RecentSet;
use super::metrics::{Dropped, RecordMetrics};
use super::store::{Store, Written};
use super::{Msg, Pending, StoreStatus, record, warn_limited};
use crate::config::records::StoreUrl;

/// The most records written in one transaction.
const BATCH: usize = 256;

/// The least time between two attempts to open a store that failed.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

pub(super) async fn run(
    url: StoreUrl,
    mut rx: mpsc::Receiver<Msg>,
    status: Arc<StoreStatus>,
    metrics: RecordMetrics,
    values: Arc<RecentSet>,
    states: Arc<RecentSet>,
) {
    let warned_at = AtomicI64::new(i64::MIN);
    let suppressed = AtomicU64::new(0);
    let shown = url.redacted();
    let mut store = match Store::open(&url).await {
        Ok(store) => {
            tracing::info!(store = %shown, "consent records: store open");
            status.set(Ok(()), &metrics);
            Some(store)
        }
        Err(e) => {
            metrics.store_errors.inc();
            status.set(Err(&e.0), &metrics);
            tracing::error!(
                store = %shown,
                error = %e,
                "consent records: cannot open the store; the proxy serves, and records are dropped (and counted) until it opens"
            );
            None
        }
    };
    let mut last_attempt = Instant::now();
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        let mut purge = None;
        let mut take = |msg: Msg, batch: &mut Vec<Pending>| match msg {
            Msg::Record(p) => batch.push(*p),
            Msg::Purge(cutoff) => purge = Some(cutoff),
        };
        take(first, &mut batch);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut batch),
                Err(_) => break,
            }
        }
        if store.as_ref().is_none_or(Store::is_broken) && last_attempt.elapsed() >= REOPEN_AFTER {
            last_attempt = Instant::now();
            match Store::open(&url).await {
                Ok(opened) => {
                    tracing::info!(store = %shown, "consent records: store open again");
                    status.set(Ok(()), &metrics);
                    store = Some(opened);
                }
                Err(e) => {
                    metrics.store_errors.inc();
                    status.set(Err(&e.0), &metrics);
                    warn_limited(
                        &warned_at,
                        &suppressed,
                        &format!("cannot open the store {shown}: {e}"),
                    );
                    store = None;
                }
            }
        }
        if !batch.is_empty() {
            let pending: Vec<Pending> = std::mem::take(&mut batch);
            write(
                &mut store,
                pending,
                &status,
                &metrics,
                &values,
                &states,
                &shown,
                &warned_at,
                &suppressed,
            )
            .await;
        }
        if let (Some(cutoff), Some(open)) = (purge, store.as_mut()) {
            match open.purge(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "consent records: expired by records.retain"),
                Err(e) => {
                    metrics.store_errors.inc();
                    status.set(Err(&e.0), &metrics);
                    warn_limited(
                        &warned_at,
                        &suppressed,
                        &format!("expiring old records failed: {e}"),
                    );
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn write(
    store: &mut Option<Store>,
    pending: Vec<Pending>,
    status: &StoreStatus,
    metrics: &RecordMetrics,
    values: &RecentSet,
    states: &RecentSet,
    shown: &str,
    warned_at: &AtomicI64,
    suppressed: &AtomicU64,
) {
    let n = pending.len() as u64;
    let was_open = store.is_some();
    let (items, rest): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .map(|p| (p.item, (p.value_hash, p.state_hash, p.ack)))
        .unzip();
    let outcome = match store.as_mut() {
        Some(open) => open.write(items).await,
        None => Err(super::store::StoreError(format!("{shown} is not open"))),
    };
    match outcome {
        Ok(written) => {
            status.set(Ok(()), metrics);
            for (result, (_, _, ack)) in written.into_iter().zip(rest) {
                match result {
                    Written::New => metrics.written.inc(),
                    Written::Duplicate => metrics.deduplicated.inc(),
                };
                if let Some(ack) = ack {
                    let _ = ack.send(true);
                }
            }
        }
        Err(e) => {
            metrics.store_errors.inc();
            metrics.dropped(Dropped::StoreError, n);
            // A store that did not open keeps saying why.
            if was_open {
                status.set(Err(&e.0), metrics);
            }
            warn_limited(
                warned_at,
                suppressed,
                &format!("{n} record(s) could not be written to {shown}: {e}"),
            );
            for (value_hash, state_hash, ack) in rest {
                if let Some(h) = value_hash {
                    values.remove(h);
                }
                states.remove(state_hash);
                if let Some(ack) = ack {
                    let _ = ack.send(false);
                }
            }
            if store.as_ref().is_some_and(Store::is_broken) {
                *store = None;
            }
        }
    }
}

/// Asks the writer to delete records older than `retain`, at least once a minute
/// (more often when `retain` is shorter than a few minutes), until the store is
/// replaced or stopped.
pub(super) async fn retention(tx: mpsc::WeakSender<Msg>, retain: Duration) {
    let period = (retain / 4).clamp(Duration::from_millis(500), Duration::from_secs(60));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Some(tx) = tx.upgrade() else {
            return;
        };
        let retain_ms = i64::try_from(retain.as_millis()).unwrap_or(i64::MAX);
        let cutoff = record::now_ms().saturating_sub(retain_ms);
        if tx.send(Msg::Purge(cutoff)).await.is_err() {
            return;
        }
    }
}

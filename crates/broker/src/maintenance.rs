//! Background work on the partition logs: retention, time-based flushes, and the expiry of
//! idle producer ids (every `producer.id.expiration.check.interval.ms`).
//!
//! Every `log.retention.check.interval.ms` each partition of every topic is opened (so that data
//! written before a restart ages out too) and its retention applied: whole segments older than
//! `retention.ms` or beyond `retention.bytes` are deleted, as in Kafka; partitions of compacted
//! topics are also compacted (latest record per key, tombstones dropped after
//! `delete.retention.ms`). Every
//! `log.flush.scheduler.interval.ms` each open log fsyncs if its oldest unflushed data is older
//! than `flush.ms`. The work is blocking file I/O, so it runs on the blocking pool, never on the
//! threads that serve connections.

use crate::context::Broker;
use crate::logs::now_ms;
use sluice_storage::CleanupPolicy;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Memory one compaction pass may use for its key map (Kafka's `log.cleaner.dedupe.buffer.size`
/// is 128 MiB shared by its cleaner threads; one pass at a time here).
const COMPACTION_MAP_BYTES_MAX: usize = 64 << 20;

/// The shortest interval either task runs at, whatever the configuration says.
const INTERVAL_MS_MIN: u64 = 10;

/// Applies retention to every partition once; returns how many segments were deleted.
pub fn apply_retention(broker: &Broker) -> usize {
    let topics = broker.topics_with_configs();
    let now = now_ms();
    let mut deleted = 0;
    for (topic, overrides) in topics {
        for index in topic.partitions.keys() {
            match broker.logs.partition(&topic, *index, overrides.as_ref()) {
                Ok(partition) => {
                    let mut log = partition.write();
                    match log.apply_retention(now) {
                        Ok(n) => deleted += n,
                        Err(e) => {
                            tracing::warn!(topic = %topic.name, partition = index, error = %e, "retention failed")
                        }
                    }
                    // Compacted topics are cleaned on the same schedule, with a bounded key map.
                    if log.config().cleanup_policy != CleanupPolicy::Delete {
                        if let Err(e) = log.compact(now, COMPACTION_MAP_BYTES_MAX) {
                            tracing::warn!(topic = %topic.name, partition = index, error = %e, "compaction failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(topic = %topic.name, partition = index, error = %e, "cannot open partition"),
            }
        }
    }
    deleted
}

/// Flushes every open log whose unflushed data is older than its `flush.ms`.
pub fn flush_due(broker: &Broker) {
    let now = now_ms();
    for partition in broker.logs.open_partitions() {
        if let Err(e) = partition.write().maybe_flush(now) {
            tracing::warn!(error = %e, "scheduled flush failed");
        }
    }
}

/// Drops idempotent producers idle for `producer.id.expiration.ms` (a dynamic config) from
/// every open partition; returns how many.
pub fn expire_producers(broker: &Broker) -> usize {
    let now = now_ms();
    let expiration_ms = i64::from(broker.effective_config().producer_id_expiration_ms);
    let mut dropped = 0;
    for partition in broker.logs.open_partitions() {
        // The producer state is locked only under the log's write lock.
        let _log = partition.write();
        dropped += partition.producers().remove_expired(now, expiration_ms);
    }
    dropped
}

/// Runs the tasks until `shutdown` turns true.
pub async fn run(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let config = &broker.settings.config;
    let every = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX).max(INTERVAL_MS_MIN));
    // The first run waits one interval, as Kafka delays its log tasks after start-up, so a
    // starting broker serves before it sweeps.
    let start = |period: Duration| tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut retention = start(every(config.log_retention_check_interval_ms));
    let mut flush = start(every(config.log_flush_scheduler_interval_ms));
    let mut producers = start(every(i64::from(config.producer_id_expiration_check_interval_ms)));
    producers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = retention.tick() => {
                let b = broker.clone();
                match tokio::task::spawn_blocking(move || apply_retention(&b)).await {
                    Ok(n) if n > 0 => tracing::info!(segments = n, "retention deleted segments"),
                    _ => {}
                }
            }
            _ = flush.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || flush_due(&b)).await;
            }
            _ = producers.tick() => {
                let b = broker.clone();
                match tokio::task::spawn_blocking(move || expire_producers(&b)).await {
                    Ok(n) if n > 0 => tracing::info!(producers = n, "expired idle producer ids"),
                    _ => {}
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

//! Durability: group commit and flush settings.

mod common;

use std::sync::{Arc, RwLock};

use common::{batch, opts};
use sluice_storage::{LogConfig, PartitionLog};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_waiters_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(RwLock::new(
        PartitionLog::open(dir.path(), LogConfig::default()).unwrap(),
    ));
    let handle = log.read().unwrap().sync_handle();
    let before = handle.fsync_count();
    const PRODUCERS: usize = 64;
    let barrier = Arc::new(tokio::sync::Barrier::new(PRODUCERS));
    let mut tasks = Vec::new();
    for i in 0..PRODUCERS {
        let log = log.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let (info, handle) = {
                let mut log = log.write().unwrap();
                (log.append(batch(1, i as i64, 100), opts(0)).unwrap(), log.sync_handle())
            };
            let durable = handle.wait_durable(info.last_offset + 1).await.unwrap();
            assert!(durable > info.last_offset);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let fsyncs = handle.fsync_count() - before;
    eprintln!("{fsyncs} fsyncs for {PRODUCERS} producers");
    assert!(fsyncs >= 1);
    assert!(
        fsyncs <= PRODUCERS as u64 / 3,
        "{fsyncs} fsyncs for {PRODUCERS} producers"
    );
    assert_eq!(handle.durable_offset(), PRODUCERS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_after_appends_cost_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let mut ends = Vec::new();
    for i in 0..32 {
        ends.push(log.append(batch(1, i, 10), opts(0)).unwrap().last_offset + 1);
    }
    let handle = log.sync_handle();
    let before = handle.fsync_count();
    let waits: Vec<_> = ends
        .into_iter()
        .map(|end| {
            let h = handle.clone();
            tokio::spawn(async move { h.wait_durable(end).await.unwrap() })
        })
        .collect();
    for w in waits {
        assert_eq!(w.await.unwrap(), 32);
    }
    assert_eq!(handle.fsync_count() - before, 1);
    // Already durable: no fsync at all.
    handle.wait_durable(10).await.unwrap();
    // Asking beyond what was written does not spin.
    handle.wait_durable(1000).await.unwrap();
    assert_eq!(handle.fsync_count() - before, 1);
}

#[test]
fn flush_messages_and_flush_ms() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 5,
        flush_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    let handle = log.sync_handle();
    let before = handle.fsync_count();
    for _ in 0..4 {
        log.append(batch(1, 0, 10), opts(0)).unwrap();
    }
    assert_eq!(handle.fsync_count(), before);
    assert_eq!(handle.durable_offset(), 0);
    log.append(batch(1, 0, 10), opts(0)).unwrap();
    assert_eq!(handle.fsync_count(), before + 1);
    assert_eq!(handle.durable_offset(), 5);
    log.append(batch(1, 0, 10), opts(100)).unwrap();
    log.maybe_flush(500).unwrap();
    assert_eq!(handle.durable_offset(), 5);
    log.maybe_flush(1100).unwrap();
    assert_eq!(handle.durable_offset(), 6);
    // A roll seals the old segment, making it durable.
    log.append(batch(1, 0, 10), opts(1200)).unwrap();
    log.roll(1300).unwrap();
    assert_eq!(handle.durable_offset(), 7);
}

#[test]
fn flush_writes_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    log.append(batch(3, 0, 10), opts(0)).unwrap();
    log.flush().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("recovery-point"))
            .unwrap()
            .trim(),
        "3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_waiters_do_not_wedge_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let handle = log.sync_handle();
    for round in 0..20 {
        let end = log.append(batch(1, round, 10), opts(0)).unwrap().last_offset + 1;
        // Start a flush and abandon it at once.
        let h = handle.clone();
        let abandoned = tokio::spawn(async move { h.wait_durable(end).await });
        abandoned.abort();
        let _ = abandoned.await;
        let durable = tokio::time::timeout(std::time::Duration::from_secs(5), handle.wait_durable(end))
            .await
            .expect("wait_durable hung after a cancelled waiter")
            .unwrap();
        assert!(durable >= end);
    }
    // Rolling seals the old segment: its offsets are durable without a wait.
    let end = log.append(batch(2, 0, 10), opts(0)).unwrap().last_offset + 1;
    log.roll(0).unwrap();
    let before = handle.fsync_count();
    assert_eq!(handle.wait_durable(end).await.unwrap(), end);
    assert_eq!(handle.fsync_count(), before);
    // And appends to the new segment are covered by the next group flush.
    let end = log.append(batch(1, 0, 10), opts(0)).unwrap().last_offset + 1;
    assert_eq!(handle.wait_durable(end).await.unwrap(), end);
}

//! Retention by time and size, and DeleteRecords.

mod common;

use common::{batch, opts, parse, small_config};
use sluice_storage::{CleanupPolicy, LogConfig, PartitionLog, StorageError};

/// 10 segments; segment k holds batches with timestamps around 1000*k.
fn ten_segments(dir: &std::path::Path, config: LogConfig) -> PartitionLog {
    let mut log = PartitionLog::open(dir, config).unwrap();
    for k in 0..10i64 {
        for j in 0..3 {
            log.append(batch(2, 1000 * k + j, 30), opts(0)).unwrap();
        }
        log.roll(0).unwrap();
    }
    log
}

#[test]
fn retention_by_time_deletes_old_inactive_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 2500,
        ..small_config()
    };
    let mut log = ten_segments(dir.path(), config.clone());
    // The roll after the last batches left an empty active segment.
    assert_eq!(log.segment_count(), 11);
    // now = 9002: segments whose max timestamp < 6502 go (0..=5).
    assert_eq!(log.apply_retention(9002).unwrap(), 7);
    assert_eq!(log.log_start_offset(), 6 * 7);
    assert_eq!(log.segment_base_offsets()[0], 42);
    assert!(!dir.path().join(format!("{:020}.log", 0)).exists());
    assert!(!dir.path().join(format!("{:020}.timeindex", 0)).exists());
    assert!(matches!(log.read(0, 100), Err(StorageError::OffsetOutOfRange { .. })));
    assert_eq!(parse(log.read(42, 1).unwrap().records)[0].header().base_offset, 42);
    // Far future: everything but the active segment goes.
    assert_eq!(log.apply_retention(1_000_000).unwrap(), 3);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 60);
    assert_eq!(log.log_end_offset(), 60);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (60, 60));
}

#[test]
fn retention_by_size_keeps_the_newest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = ten_segments(dir.path(), small_config());
    let per_segment = log.size_bytes() / 10;
    let config = LogConfig {
        retention_ms: -1,
        retention_bytes: (per_segment * 4 + 1) as i64,
        ..small_config()
    };
    log.set_config(config).unwrap();
    assert_eq!(log.apply_retention(i64::MAX).unwrap(), 5);
    assert_eq!(log.segment_count(), 6);
    assert!(log.size_bytes() <= per_segment * 5);
    // Unlimited and compact-only logs keep everything.
    log.set_config(LogConfig {
        retention_bytes: 0,
        cleanup_policy: CleanupPolicy::Compact,
        ..small_config()
    })
    .unwrap();
    assert_eq!(log.apply_retention(i64::MAX).unwrap(), 0);
    log.set_config(LogConfig {
        retention_ms: -1,
        ..small_config()
    })
    .unwrap();
    assert_eq!(log.apply_retention(i64::MAX).unwrap(), 0);
}

#[test]
fn delete_records_moves_the_start_and_drops_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = ten_segments(dir.path(), small_config());
    assert_eq!(log.delete_records_before(17).unwrap(), 17);
    // Segments [0,6) and [6,12) are wholly below 17; [12,18) stays.
    assert_eq!(log.segment_base_offsets()[0], 12);
    assert!(matches!(log.read(16, 100), Err(StorageError::OffsetOutOfRange { .. })));
    // Reading at the start returns the batch containing it.
    assert_eq!(parse(log.read(17, 1).unwrap().records)[0].header().base_offset, 16);
    assert_eq!(log.delete_records_before(3).unwrap(), 17);
    assert!(matches!(
        log.delete_records_before(61),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((17, 2003)));
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.log_start_offset(), 17);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log-start-offset"))
            .unwrap()
            .trim(),
        "17"
    );
}

#[test]
fn open_finishes_an_interrupted_delete_records() {
    let dir = tempfile::tempdir().unwrap();
    ten_segments(dir.path(), small_config()).close().unwrap();
    // The checkpoint was written, then the broker died before deleting.
    std::fs::write(dir.path().join("log-start-offset"), "30\n").unwrap();
    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.log_start_offset(), 30);
    assert_eq!(log.segment_base_offsets()[0], 30);
    assert!(!dir.path().join(format!("{:020}.log", 24)).exists());
}

#[test]
fn retention_expires_an_idle_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    log.append(batch(3, 5000, 10), opts(5000)).unwrap();
    assert_eq!(log.apply_retention(5500).unwrap(), 0);
    assert_eq!(log.apply_retention(7000).unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![3]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 3));
    assert!(log.read(3, 100).unwrap().records.is_empty());
    // Nothing left to delete: the empty active segment stays.
    assert_eq!(log.apply_retention(1_000_000).unwrap(), 0);
    assert_eq!(log.append(batch(1, 9000, 1), opts(9000)).unwrap().base_offset, 3);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 4));
}

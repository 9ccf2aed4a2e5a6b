//! Compaction keeps the latest record per key and preserves offsets.

mod common;

use bytes::Bytes;
use common::{opts, parse};
use sluice_protocol::records::{BatchBuilder, Compression, NewRecord};
use sluice_storage::{CleanupPolicy, LogConfig, PartitionLog};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 1000,
        ..LogConfig::default()
    }
}

/// One batch of records `(key, value)` at timestamp `ts`.
fn keyed(records: &[(&str, Option<&str>)], ts: i64, compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(0).compression(compression);
    for (k, v) in records {
        let record = NewRecord::new(
            ts,
            Some(Bytes::from(k.to_string())),
            v.map(|v| Bytes::from(v.to_string())),
        );
        b.append(&record).unwrap();
    }
    b.build().unwrap().into_bytes()
}

/// Every (offset, key, value) in the log.
fn contents(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20).unwrap();
        let got = parse(read.records);
        if got.is_empty() {
            break;
        }
        for batch in &got {
            for r in batch.records(1 << 20).unwrap() {
                let r = r.unwrap();
                if r.offset >= offset {
                    let s = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
                    out.push((r.offset, s(r.key.unwrap()), r.value.map(s)));
                }
            }
            offset = batch.header().last_offset().unwrap() + 1;
        }
    }
    out
}

#[test]
fn keeps_the_latest_value_per_key_with_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config()).unwrap();
    // 60 rounds over 5 keys; every third batch compressed.
    for round in 0..60 {
        let value = format!("v{round}");
        let compression = if round % 3 == 0 {
            Compression::Gzip
        } else {
            Compression::None
        };
        let batch = keyed(
            &[
                ("a", Some(&value)),
                ("b", Some(&value)),
                (&format!("k{}", round % 5), Some(&value)),
            ],
            0,
            compression,
        );
        log.append(batch, opts(0)).unwrap();
    }
    let before = contents(&log);
    let end = log.log_end_offset();
    assert!(log.segment_count() > 3);
    let stats = log.compact(0, 1 << 20).unwrap();
    assert!(stats.segments_rewritten > 0 && stats.records_removed > 0, "{stats:?}");
    assert!(stats.bytes_after < stats.bytes_before);
    assert!(!stats.map_full);
    let after = contents(&log);
    assert_eq!(log.log_end_offset(), end);
    // Every surviving record is unchanged at its original offset.
    for rec in &after {
        assert!(before.contains(rec), "{rec:?}");
    }
    // The latest value of every key survives.
    for key in ["a", "b", "k0", "k1", "k2", "k3", "k4"] {
        let latest = before.iter().rev().find(|r| r.1 == key).unwrap();
        assert!(after.contains(latest), "{key}");
    }
    // In the cleaned (non-active) part, each key appears at most once.
    let active = *log.segment_base_offsets().last().unwrap();
    let mut seen = std::collections::HashSet::new();
    for rec in after.iter().filter(|r| r.0 < active) {
        assert!(seen.insert(rec.1.clone()), "duplicate {rec:?}");
    }
    // Reads at every offset still work (gaps skip forward), and the log
    // reopens with gaps, with and without a recovery scan.
    let check = |log: &PartitionLog| {
        for o in 0..end {
            let got = parse(log.read(o, 1).unwrap().records);
            assert!(got.is_empty() || got[0].header().last_offset().unwrap() >= o);
        }
        assert_eq!(contents(log), after);
    };
    check(&log);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    check(&log);
    drop(log);
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let mut log = PartitionLog::open(dir.path(), config()).unwrap();
    assert!(log.recovered_segments() > 1);
    check(&log);
    // A second pass has nothing to do.
    assert_eq!(log.compact(0, 1 << 20).unwrap().segments_rewritten, 0);
}

#[test]
fn tombstones_expire_after_delete_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config()).unwrap();
    log.append(
        keyed(&[("x", Some("1")), ("y", Some("1"))], 100, Compression::None),
        opts(0),
    )
    .unwrap();
    log.append(keyed(&[("x", None)], 200, Compression::None), opts(0))
        .unwrap();
    log.roll(0).unwrap();
    log.append(keyed(&[("z", Some("1"))], 300, Compression::None), opts(0))
        .unwrap();
    // Within delete.retention.ms the tombstone stays, the old value goes.
    log.compact(1000, 1 << 20).unwrap();
    let got = contents(&log);
    assert_eq!(
        got,
        vec![
            (1, "y".into(), Some("1".into())),
            (2, "x".into(), None),
            (3, "z".into(), Some("1".into()))
        ]
    );
    // Later the tombstone itself goes.
    log.compact(5000, 1 << 20).unwrap();
    let got = contents(&log);
    assert_eq!(
        got,
        vec![(1, "y".into(), Some("1".into())), (3, "z".into(), Some("1".into()))]
    );
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn bounded_map_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config()).unwrap();
    for round in 0..20 {
        let keys: Vec<String> = (0..5).map(|k| format!("key{k}")).collect();
        let recs: Vec<(&str, Option<&str>)> = keys.iter().map(|k| (k.as_str(), Some("v"))).collect();
        log.append(keyed(&recs, round, Compression::None), opts(0)).unwrap();
    }
    // Room for two keys only: still correct, just less compacted.
    let stats = log.compact(0, 2 * (4 + 64)).unwrap();
    assert!(stats.map_full);
    let after = contents(&log);
    for k in 0..5 {
        assert!(after.iter().any(|r| r.1 == format!("key{k}")));
    }
    // Delete-only logs are never compacted.
    log.set_config(LogConfig {
        cleanup_policy: CleanupPolicy::Delete,
        ..config()
    })
    .unwrap();
    assert_eq!(log.compact(0, 1 << 20).unwrap().segments_rewritten, 0);
}

#[test]
fn leftover_cleaned_file_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config()).unwrap();
    log.append(keyed(&[("a", Some("1"))], 0, Compression::None), opts(0))
        .unwrap();
    log.close().unwrap();
    let leftover = dir.path().join(format!("{:020}.log.cleaned", 0));
    std::fs::write(&leftover, b"partial").unwrap();
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    assert!(!leftover.exists());
    assert_eq!(log.log_end_offset(), 1);
}

//! Append, read, roll, index and timestamp lookups.

mod common;

use common::{batch, opts, parse, small_config};
use sluice_protocol::records::TimestampType;
use sluice_storage::{LogConfig, PartitionLog, StorageError};

#[test]
fn append_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let sent = [batch(3, 1000, 10), batch(1, 2000, 10), batch(5, 3000, 10)];
    let mut infos = Vec::new();
    for b in &sent {
        infos.push(log.append(b.clone(), opts(5000)).unwrap());
    }
    assert_eq!(infos[0].base_offset, 0);
    assert_eq!(infos[0].last_offset, 2);
    assert_eq!(infos[1].base_offset, 3);
    assert_eq!(infos[2].last_offset, 8);
    assert_eq!(infos[2].max_timestamp_ms, 3004);
    assert_eq!(infos[2].log_append_time_ms, -1);
    assert_eq!(infos[2].record_count, 5);
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.high_watermark(), 9);

    let read = log.read(0, 1 << 20).unwrap();
    let got = parse(read.records.clone());
    assert_eq!(got.len(), 3);
    for (i, b) in got.iter().enumerate() {
        assert_eq!(b.header().base_offset, infos[i].base_offset);
        assert_eq!(b.header().partition_leader_epoch, 7);
        // Everything but the broker-set fields is byte for byte as sent.
        assert_eq!(&b.as_bytes()[16..], &sent[i][16..]);
    }
    assert_eq!(read.high_watermark, 9);
    // Start inside a batch: the whole batch comes back.
    let mid = parse(log.read(6, 1 << 20).unwrap().records);
    assert_eq!(mid[0].header().base_offset, 4);
    // KIP-74: at least one batch even if max_bytes is tiny.
    let one = parse(log.read(0, 1).unwrap().records);
    assert_eq!(one.len(), 1);
    // max_bytes cuts at whole batches.
    let two = parse(log.read(0, sent[0].len() + sent[1].len() + 10).unwrap().records);
    assert_eq!(two.len(), 2);
    // End of log: empty; beyond: out of range.
    assert!(log.read(9, 100).unwrap().records.is_empty());
    assert!(matches!(log.read(10, 100), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(matches!(log.read(-1, 100), Err(StorageError::OffsetOutOfRange { .. })));

    // Survives a reopen.
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(parse(log.read(0, 1 << 20).unwrap().records).len(), 3);
}

#[test]
fn rejects_bad_appends_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 500,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    assert!(matches!(
        log.append(bytes::Bytes::new(), opts(0)),
        Err(StorageError::EmptyAppend)
    ));
    let mut bad = batch(2, 0, 10).to_vec();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let mut two = batch(1, 0, 10).to_vec();
    two.extend_from_slice(&bad);
    assert!(matches!(
        log.append(two.into(), opts(0)),
        Err(StorageError::InvalidRecords(_))
    ));
    assert!(matches!(
        log.append(batch(1, 0, 600), opts(0)),
        Err(StorageError::RecordTooLarge { .. })
    ));
    let truncated = batch(2, 0, 10).slice(..70);
    assert!(matches!(
        log.append(truncated, opts(0)),
        Err(StorageError::InvalidRecords(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn log_append_time_stamps_batches_and_recomputes_crc() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    let info = log.append(batch(3, 10, 5), opts(99_000)).unwrap();
    assert_eq!(info.log_append_time_ms, 99_000);
    assert_eq!(info.max_timestamp_ms, 99_000);
    let got = parse(log.read(0, 1000).unwrap().records);
    assert_eq!(got[0].header().max_timestamp_ms, 99_000);
    assert_eq!(
        got[0].header().attributes.timestamp_type(),
        TimestampType::LogAppendTime
    );
    assert_eq!(log.offset_for_timestamp(50_000).unwrap(), Some((0, 99_000)));
}

#[test]
fn rolls_by_size_and_reads_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config()).unwrap();
    let mut bounds = Vec::new();
    for i in 0..200i64 {
        let count = (i % 4 + 1) as usize;
        let info = log
            .append(batch(count, i * 10, 20 + (i as usize % 50)), opts(0))
            .unwrap();
        bounds.push((info.base_offset, info.last_offset));
    }
    assert!(log.segment_count() > 3, "{} segments", log.segment_count());
    let bases = log.segment_base_offsets();
    for base in &bases {
        let name = format!("{base:020}.log");
        assert!(dir.path().join(&name).exists(), "{name}");
        let size = std::fs::metadata(dir.path().join(&name)).unwrap().len();
        assert!(size <= 4096);
    }
    let check = |log: &PartitionLog| {
        for &(base, last) in &bounds {
            for o in base..=last {
                let got = parse(log.read(o, 1).unwrap().records);
                assert_eq!(got.len(), 1);
                assert_eq!(got[0].header().base_offset, base, "offset {o}");
            }
        }
    };
    check(&log);
    // Reopen with a recovery point (trusted sealed segments) and without.
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.segment_base_offsets(), bases);
    check(&log);
    drop(log);
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    for base in &bases {
        // Lose the indexes too: they are rebuilt.
        std::fs::remove_file(dir.path().join(format!("{base:020}.index"))).unwrap();
    }
    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    check(&log);
    assert_eq!(log.log_end_offset(), bounds.last().unwrap().1 + 1);
}

#[test]
fn rolls_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    log.append(batch(1, 10_000, 1), opts(10_000)).unwrap();
    log.append(batch(1, 10_500, 1), opts(10_500)).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(batch(1, 11_001, 1), opts(11_001)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    log.append(batch(1, 11_100, 1), opts(11_100)).unwrap();
    assert_eq!(log.segment_count(), 2);
    // Replaying old data much later does not roll on every append: the
    // clock is the batches' timestamps.
    for i in 0..10 {
        log.append(batch(1, 11_200 + i, 1), opts(9_000_000)).unwrap();
    }
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn offset_for_timestamp_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
    // Batch i has 3 records with timestamps 100i, 100i+1, 100i+2.
    for i in 0..150i64 {
        log.append(batch(3, i * 100, 30), opts(0)).unwrap();
    }
    let check = |log: &PartitionLog| {
        for i in 0..150i64 {
            assert_eq!(log.offset_for_timestamp(i * 100).unwrap(), Some((i * 3, i * 100)));
            assert_eq!(
                log.offset_for_timestamp(i * 100 + 2).unwrap(),
                Some((i * 3 + 2, i * 100 + 2))
            );
            // Between batches: the next batch's first record.
            if i < 149 {
                assert_eq!(
                    log.offset_for_timestamp(i * 100 + 50).unwrap(),
                    Some((i * 3 + 3, i * 100 + 100))
                );
            }
        }
        assert_eq!(log.offset_for_timestamp(-5).unwrap(), Some((0, 0)));
        assert_eq!(log.offset_for_timestamp(149 * 100 + 3).unwrap(), None);
        assert_eq!(log.max_timestamp().unwrap(), Some((149 * 3 + 2, 149 * 100 + 2)));
    };
    check(&log);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    check(&log);
}

#[test]
fn batch_headers_from_walks_all_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config()).unwrap();
    for i in 0..100i64 {
        log.append(batch(2, i, 40), opts(0)).unwrap();
    }
    let headers: Vec<_> = log.batch_headers_from(51).unwrap().map(|h| h.unwrap()).collect();
    assert_eq!(headers.len(), 75);
    assert_eq!(headers[0].base_offset, 50);
    assert!(headers.windows(2).all(|w| w[1].base_offset == w[0].base_offset + 2));
}

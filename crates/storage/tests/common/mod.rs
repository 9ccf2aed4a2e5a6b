#![allow(dead_code)]

use bytes::Bytes;
use sluice_protocol::records::{BatchBuilder, NewRecord, RecordBatch, batches};
use sluice_storage::{AppendOptions, LogConfig};

/// A batch of `count` records with timestamps `ts, ts+1, ...` and values of
/// `value_bytes` bytes, as a producer would send it (base offset 0).
pub fn batch(count: usize, ts: i64, value_bytes: usize) -> Bytes {
    let mut b = BatchBuilder::new(0);
    for i in 0..count {
        let value = Bytes::from(vec![b'v'; value_bytes]);
        let key = Bytes::from(format!("k{i}"));
        b.append(&NewRecord::new(ts + i as i64, Some(key), Some(value)))
            .unwrap();
    }
    b.build().unwrap().into_bytes()
}

pub fn opts(now_ms: i64) -> AppendOptions {
    AppendOptions {
        leader_epoch: 7,
        now_ms,
    }
}

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// Parses a records blob into batches, checking each CRC.
pub fn parse(records: Bytes) -> Vec<RecordBatch> {
    batches(records)
        .map(|b| {
            let b = b.unwrap();
            b.verify_crc().unwrap();
            b
        })
        .collect()
}

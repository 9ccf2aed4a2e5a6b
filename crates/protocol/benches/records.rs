//! Record batch benchmarks: CRC-32C throughput and decoding every record of
//! a ~1 MiB batch of 1 KiB records with each codec.
//!
//! Run with `cargo bench -p sluice-protocol --bench records -- --quick`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_protocol::records::{BatchBuilder, Compression, NewRecord, RecordBatch};

const MIB: usize = 1 << 20;
const RECORD_VALUE_BYTES: usize = 1024;
const RECORDS: usize = MIB / RECORD_VALUE_BYTES;

/// Deterministic, moderately compressible values: log-line-like text with
/// a varying numeric part (compresses roughly 3-5x, like typical JSON/logs).
fn value(i: usize) -> Bytes {
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(RECORD_VALUE_BYTES);
    while v.len() < RECORD_VALUE_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let line = format!(
            "{{\"ts\":{},\"level\":\"INFO\",\"user\":{},\"msg\":\"request handled\",\"ms\":{}}}\n",
            1_700_000_000_000u64 + (state % 100_000),
            state % 10_000,
            state % 1_000
        );
        v.extend_from_slice(line.as_bytes());
    }
    v.truncate(RECORD_VALUE_BYTES);
    Bytes::from(v)
}

fn sample_records() -> Vec<NewRecord> {
    (0..RECORDS)
        .map(|i| {
            NewRecord::new(
                1_700_000_000_000 + i as i64,
                Some(Bytes::from(format!("key-{}", i % 97))),
                Some(value(i)),
            )
        })
        .collect()
}

fn build(records: &[NewRecord], codec: Compression) -> RecordBatch {
    let mut b = BatchBuilder::new(0).compression(codec);
    for r in records {
        b.append(r).unwrap();
    }
    b.build().unwrap()
}

fn crc(c: &mut Criterion) {
    let data: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("crc32c");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("1MiB", |b| b.iter(|| crc32c::crc32c(black_box(&data))));
    g.finish();
}

fn iterate(c: &mut Criterion) {
    let records = sample_records();
    let uncompressed = build(&records, Compression::None).records_payload().len();
    let mut g = c.benchmark_group("iterate_records");
    g.throughput(Throughput::Bytes(uncompressed as u64));
    for codec in Compression::ALL {
        let batch = build(&records, codec);
        eprintln!(
            "{codec}: batch {} bytes for {uncompressed} bytes of records",
            batch.size_bytes()
        );
        g.bench_with_input(BenchmarkId::from_parameter(codec), &batch, |b, batch| {
            b.iter(|| {
                let mut value_bytes = 0usize;
                for rec in batch.records(64 * MIB).unwrap() {
                    let rec = rec.unwrap();
                    value_bytes += rec.value.map_or(0, |v| v.len());
                }
                assert_eq!(value_bytes, RECORDS * RECORD_VALUE_BYTES);
                value_bytes
            })
        });
    }
    g.finish();
}

fn verify_and_iterate(c: &mut Criterion) {
    // What a broker does on produce: CRC check, then walk the records.
    let records = sample_records();
    let batch = build(&records, Compression::None);
    let mut g = c.benchmark_group("verify_crc_and_iterate");
    g.throughput(Throughput::Bytes(batch.size_bytes() as u64));
    g.bench_function("none", |b| {
        b.iter(|| {
            batch.verify_crc().unwrap();
            batch.records(64 * MIB).unwrap().map(|r| r.unwrap().offset).sum::<i64>()
        })
    });
    g.finish();
}

fn build_batch(c: &mut Criterion) {
    let records = sample_records();
    let uncompressed = build(&records, Compression::None).records_payload().len();
    let mut g = c.benchmark_group("build_batch");
    g.throughput(Throughput::Bytes(uncompressed as u64));
    for codec in Compression::ALL {
        g.bench_with_input(BenchmarkId::from_parameter(codec), &codec, |b, &codec| {
            b.iter(|| build(&records, codec).size_bytes())
        });
    }
    g.finish();
}

criterion_group!(benches, crc, iterate, verify_and_iterate, build_batch);
criterion_main!(benches);

//! Codec benchmarks: what the broker pays per request on the hot paths.
//!
//! - Decoding a Produce request must not copy its records, so a 1 MiB batch costs the same as a
//!   1 KiB one.
//! - Encoding a Fetch response of 1,000 partitions (1 KiB of records each), the shape of a busy
//!   consumer's answer.

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_protocol::Message;
use sluice_protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::{FetchResponse, ProduceRequest};
use std::hint::black_box;
use std::time::Duration;

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;

fn produce_frame(records_bytes: usize) -> Bytes {
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(Bytes::from(vec![0x5a; records_bytes])),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    request.encode_to_bytes(PRODUCE_VERSION).expect("encodes")
}

fn decode_produce(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_produce");
    for (label, size) in [("1KiB", 1024), ("1MiB", 1 << 20)] {
        let frame = produce_frame(size);
        group.bench_with_input(BenchmarkId::from_parameter(label), &frame, |b, frame| {
            b.iter(|| ProduceRequest::decode_exact(black_box(frame.clone()), PRODUCE_VERSION).expect("decodes"))
        });
    }
    group.finish();
}

fn fetch_response(partitions: usize, records_bytes: usize) -> FetchResponse {
    let records = Bytes::from(vec![0xa5; records_bytes]);
    let topics = 10;
    FetchResponse {
        responses: (0..topics)
            .map(|t| FetchableTopicResponse {
                topic: format!("topic-{t}"),
                partitions: (0..partitions / topics)
                    .map(|p| PartitionData {
                        partition_index: p as i32,
                        high_watermark: 1_000_000,
                        last_stable_offset: 1_000_000,
                        log_start_offset: 0,
                        records: Some(records.clone()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn encode_fetch(c: &mut Criterion) {
    let response = fetch_response(1000, 1024);
    let size = response.encoded_size(FETCH_VERSION);
    let mut group = c.benchmark_group("encode_fetch");
    group.throughput(Throughput::Bytes(size as u64));
    let mut buf = BytesMut::with_capacity(size);
    group.bench_function("1000_partitions_1KiB", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&response).encode(&mut buf, FETCH_VERSION).expect("encodes");
            black_box(buf.len())
        })
    });
    group.bench_function("1000_partitions_size_only", |b| {
        b.iter(|| black_box(&response).encoded_size(FETCH_VERSION))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30);
    targets = decode_produce, encode_fetch
}
criterion_main!(benches);

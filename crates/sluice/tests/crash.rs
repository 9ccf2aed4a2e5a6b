//! SIGKILL in the middle of an acks=all stream, several times: every acknowledged record must be
//! present exactly once, in order, after each restart.

mod common;

use bytes::Bytes;
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::{FetchRequest, ProduceRequest, RequestBody, RequestHeader, ResponseBody};
use sluice_protocol::records::{BatchBuilder, NewRecord, batches};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const ROUNDS: usize = 5;

use common::KillOnDrop as Broker;

fn start(data: &std::path::Path) -> (Broker, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "-o", "listeners=PLAINTEXT://127.0.0.1:0", "-o"])
        .arg(format!("log.dirs={}", data.display()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice starts");
    let addr = common::ready_address(&mut child, Duration::from_secs(30));
    (Broker(child), addr)
}

fn call(s: &mut TcpStream, key: i16, version: i16, body: RequestBody) -> std::io::Result<ResponseBody> {
    let header = RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 1,
        client_id: None,
        ..Default::default()
    };
    s.write_all(&encode_request(&header, &body).unwrap())?;
    let mut size = [0u8; 4];
    s.read_exact(&mut size)?;
    let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut frame)?;
    let (_, body) = decode_response(Bytes::from(frame), key, version).map_err(std::io::Error::other)?;
    Ok(body)
}

/// Sends one record with acks=all; true only when the broker acknowledged it.
fn produce(s: &mut TcpStream, value: u64) -> bool {
    let mut b = BatchBuilder::new(0);
    b.append(&NewRecord::new(
        1_600_000_000_000,
        None,
        Some(Bytes::from(value.to_string())),
    ))
    .unwrap();
    let body = RequestBody::Produce(ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: "crash".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(b.build().unwrap().into_bytes()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    matches!(call(s, 0, 9, body), Ok(ResponseBody::Produce(r)) if r.responses[0].partition_responses[0].error_code == 0)
}

/// Every value in the partition, in offset order.
fn read_all(addr: &str) -> Vec<u64> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut values = Vec::new();
    let mut offset = 0;
    loop {
        let body = RequestBody::Fetch(FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: "crash".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let ResponseBody::Fetch(r) = call(&mut s, 1, 12, body).unwrap() else {
            panic!()
        };
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch at {offset}");
        let mut got = 0;
        for batch in batches(p.records.clone().unwrap_or_default()) {
            let Ok(batch) = batch else { break };
            batch.verify_crc().expect("served batches pass their CRC");
            for record in batch.records(1 << 20).unwrap() {
                let record = record.unwrap();
                if record.offset >= offset {
                    values.push(
                        std::str::from_utf8(record.value.as_ref().unwrap())
                            .unwrap()
                            .parse()
                            .unwrap(),
                    );
                    offset = record.offset + 1;
                    got += 1;
                }
            }
        }
        if got == 0 {
            return values;
        }
    }
}

#[test]
fn acknowledged_records_survive_sigkill_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<u64> = Vec::new();
    let mut next = 0u64;
    for round in 0..ROUNDS {
        let (mut broker, addr) = start(dir.path());
        if round == 0 {
            create_topic(&addr);
        }
        let before = read_all(&addr);
        // Exactly once and in order: the acknowledged values form an ordered subsequence, and
        // nothing appears twice (each value is sent once, never retried).
        let mut seen = std::collections::HashSet::new();
        assert!(
            before.iter().all(|v| seen.insert(*v)),
            "round {round}: a record appears twice"
        );
        let mut it = before.iter();
        for v in &acked {
            assert!(
                it.any(|x| x == v),
                "round {round}: acknowledged record {v} missing or out of order"
            );
        }
        // Produce from another thread while this one kills the broker mid-stream.
        let producer_addr = addr.clone();
        let first = next;
        let producer = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let Ok(mut s) = TcpStream::connect(&producer_addr) else {
                return acked;
            };
            s.set_read_timeout(Some(Duration::from_secs(10))).ok();
            for v in first.. {
                if !produce(&mut s, v) {
                    break;
                }
                acked.push(v);
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(300 + 100 * round as u64));
        broker.0.kill().expect("SIGKILL");
        broker.0.wait().unwrap();
        let round_acked = producer.join().unwrap();
        assert!(
            !round_acked.is_empty(),
            "round {round}: the producer made progress before the kill"
        );
        next = round_acked.last().unwrap() + 2; // skip the value that may be in flight
        acked.extend(round_acked);
    }
    let (_broker, addr) = start(dir.path());
    let all = read_all(&addr);
    let mut it = all.iter();
    for v in &acked {
        assert!(
            it.any(|x| x == v),
            "acknowledged record {v} missing or out of order after the last restart"
        );
    }
    assert!(acked.len() >= ROUNDS, "some records were acknowledged in every round");
}

fn create_topic(addr: &str) {
    use sluice_protocol::generated::CreateTopicsRequest;
    use sluice_protocol::generated::create_topics_request::CreatableTopic;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = RequestBody::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "crash".into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 5000,
        ..Default::default()
    });
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 7, body).unwrap() else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
}

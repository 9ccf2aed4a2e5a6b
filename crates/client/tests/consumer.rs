//! The consumer against a scripted broker holding one partition of five one-record batches,
//! answering each Fetch with the one batch at the requested offset: fetches are pipelined (the
//! next is sent before a poll returns), every record arrives once and in order, and a batch
//! whose CRC does not match is an error after which the consumer asks again from where it was.

use bytes::Bytes;
use sluice_client::{Client, ClientConfig, Consumer, ConsumerConfig};
use sluice_protocol::frame::{decode_request, encode_response};
use sluice_protocol::generated::api_versions_response::ApiVersion;
use sluice_protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
use sluice_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use sluice_protocol::generated::{ApiVersionsResponse, FetchResponse, MetadataResponse, RequestBody, ResponseBody};
use sluice_protocol::records::{BatchBuilder, NewRecord};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Records in the partition.
const RECORDS: i64 = 5;

/// What the scripted broker saw and how it misbehaves.
#[derive(Default)]
struct Script {
    /// The fetch offset of every Fetch, in arrival order.
    fetch_offsets: Vec<i64>,
    /// Serve the batch at this offset with a broken CRC, once.
    corrupt_once_at: Option<i64>,
}

fn batch(offset: i64) -> Bytes {
    let mut b = BatchBuilder::new(offset);
    b.append(&NewRecord::new(
        1_700_000_000_000,
        None,
        Some(Bytes::from(format!("value-{offset}"))),
    ))
    .unwrap();
    b.build().unwrap().into_bytes()
}

async fn scripted_broker(script: Arc<Mutex<Script>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let script = script.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(size) = s.read_i32().await else { return };
                    let mut buf = vec![0; size as usize];
                    s.read_exact(&mut buf).await.unwrap();
                    let request = decode_request(Bytes::from(buf)).unwrap();
                    let version = request.header.request_api_version;
                    let body = match request.body {
                        RequestBody::ApiVersions(_) => {
                            let api_keys = [(18, 0, 3), (3, 0, 12), (1, 4, 12)]
                                .iter()
                                .map(|&(api_key, min_version, max_version)| ApiVersion {
                                    api_key,
                                    min_version,
                                    max_version,
                                    ..Default::default()
                                })
                                .collect();
                            ResponseBody::ApiVersions(ApiVersionsResponse {
                                api_keys,
                                ..Default::default()
                            })
                        }
                        RequestBody::Metadata(_) => ResponseBody::Metadata(MetadataResponse {
                            brokers: vec![MetadataResponseBroker {
                                node_id: 1,
                                host: address.ip().to_string(),
                                port: i32::from(address.port()),
                                ..Default::default()
                            }],
                            controller_id: 1,
                            topics: vec![MetadataResponseTopic {
                                name: Some("t".into()),
                                partitions: vec![MetadataResponsePartition {
                                    partition_index: 0,
                                    leader_id: 1,
                                    replica_nodes: vec![1],
                                    isr_nodes: vec![1],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                            ..Default::default()
                        }),
                        RequestBody::Fetch(f) => {
                            let offset = f.topics[0].partitions[0].fetch_offset;
                            let records = {
                                let mut script = script.lock().unwrap();
                                script.fetch_offsets.push(offset);
                                if offset >= RECORDS {
                                    Bytes::new()
                                } else if script.corrupt_once_at == Some(offset) {
                                    script.corrupt_once_at = None;
                                    let mut bad = batch(offset).to_vec();
                                    *bad.last_mut().unwrap() ^= 0xff;
                                    Bytes::from(bad)
                                } else {
                                    batch(offset)
                                }
                            };
                            ResponseBody::Fetch(FetchResponse {
                                responses: vec![FetchableTopicResponse {
                                    topic: "t".into(),
                                    partitions: vec![PartitionData {
                                        partition_index: 0,
                                        high_watermark: RECORDS,
                                        records: Some(records),
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            })
                        }
                        other => panic!("unexpected request {}", other.api_key()),
                    };
                    let frame = encode_response(request.header.correlation_id, &body, version).unwrap();
                    s.write_all(&frame).await.unwrap();
                }
            });
        }
    });
    address.to_string()
}

async fn consumer(script: &Arc<Mutex<Script>>) -> Consumer {
    let address = scripted_broker(script.clone()).await;
    let client = Arc::new(Client::new(ClientConfig::new(&address)));
    let config = ConsumerConfig {
        max_wait: Duration::from_millis(10),
        ..Default::default()
    };
    Consumer::at_offsets(client, "t", BTreeMap::from([(0, 0)]), config)
        .await
        .unwrap()
}

/// Waits (boundedly) until the broker has seen `n` fetches, without polling the consumer.
async fn fetches_seen(script: &Arc<Mutex<Script>>, n: usize) -> Vec<i64> {
    for _ in 0..5000 {
        let offsets = script.lock().unwrap().fetch_offsets.clone();
        if offsets.len() >= n {
            return offsets;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    script.lock().unwrap().fetch_offsets.clone()
}

#[tokio::test]
async fn fetches_are_pipelined_and_every_record_arrives_once_in_order() {
    let script = Arc::new(Mutex::new(Script::default()));
    let mut consumer = consumer(&script).await;
    let first = consumer.poll().await.unwrap();
    assert_eq!(first.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0]);
    // The fetch for offset 1 went out before the records of offset 0 were handed over.
    assert_eq!(fetches_seen(&script, 2).await, vec![0, 1]);
    let mut offsets = vec![0];
    while consumer.positions()[&0] < RECORDS {
        for r in consumer.poll().await.unwrap() {
            assert_eq!(r.value.as_deref(), Some(format!("value-{}", r.offset).as_bytes()));
            offsets.push(r.offset);
        }
    }
    assert_eq!(offsets, (0..RECORDS).collect::<Vec<_>>());
    // One fetch per position, plus the one already waiting past the end.
    assert_eq!(
        fetches_seen(&script, RECORDS as usize + 1).await,
        (0..=RECORDS).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_corrupt_batch_is_an_error_and_the_next_poll_asks_again() {
    let script = Arc::new(Mutex::new(Script {
        corrupt_once_at: Some(1),
        ..Default::default()
    }));
    let mut consumer = consumer(&script).await;
    assert_eq!(consumer.poll().await.unwrap().len(), 1);
    let err = consumer.poll().await.unwrap_err();
    assert!(
        err.to_string().contains("CRC") || err.to_string().contains("crc"),
        "{err}"
    );
    assert_eq!(consumer.positions()[&0], 1, "the corrupt batch was not consumed");
    // The prefetch for offset 2, sent before the CRC check failed, is dropped: the next poll
    // fetches offset 1 again and gets it intact.
    let again = consumer.poll().await.unwrap();
    assert_eq!(again.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1]);
    let offsets = script.lock().unwrap().fetch_offsets.clone();
    assert_eq!(&offsets[..3], &[0, 1, 2]);
    assert_eq!(offsets[3], 1, "{offsets:?}");
}

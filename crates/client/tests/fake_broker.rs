//! The client against a scripted broker that is not Sluice: an older ApiVersions, capped API
//! versions, and a leader change answered with NOT_LEADER_OR_FOLLOWER, which the producer
//! retries after refreshing metadata.

use bytes::Bytes;
use sluice_client::{Client, ClientConfig, NewRecord, Producer, ProducerConfig};
use sluice_protocol::ErrorCode;
use sluice_protocol::frame::{decode_request, encode_response};
use sluice_protocol::generated::api_versions_response::ApiVersion;
use sluice_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use sluice_protocol::generated::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use sluice_protocol::generated::{ApiVersionsResponse, MetadataResponse, ProduceResponse, RequestBody, ResponseBody};
use sluice_protocol::records::batches;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
struct Seen {
    /// (api key, version) of every request.
    requests: Vec<(i16, i16)>,
    produce_records: Vec<i32>,
}

async fn fake_broker(seen: Arc<Mutex<Seen>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(size) = s.read_i32().await else { return };
                    let mut buf = vec![0; size as usize];
                    s.read_exact(&mut buf).await.unwrap();
                    let request = decode_request(Bytes::from(buf)).unwrap();
                    let (key, version) = (request.header.request_api_key, request.header.request_api_version);
                    seen.lock().unwrap().requests.push((key, version));
                    let (body, version) = match request.body {
                        RequestBody::ApiVersions(_) => {
                            let keys = [(18, 0, 2), (3, 0, 9), (0, 3, 8)];
                            let api_keys = keys
                                .iter()
                                .map(|&(api_key, min_version, max_version)| ApiVersion {
                                    api_key,
                                    min_version,
                                    max_version,
                                    ..Default::default()
                                })
                                .collect();
                            // As Kafka does for a version it lacks: a v0 answer with the error.
                            let error_code = if version > 2 {
                                ErrorCode::UnsupportedVersion.code()
                            } else {
                                0
                            };
                            let body = ApiVersionsResponse {
                                error_code,
                                api_keys,
                                ..Default::default()
                            };
                            (ResponseBody::ApiVersions(body), if version > 2 { 0 } else { version })
                        }
                        RequestBody::Metadata(_) => {
                            let body = MetadataResponse {
                                brokers: vec![MetadataResponseBroker {
                                    node_id: 7,
                                    host: address.ip().to_string(),
                                    port: i32::from(address.port()),
                                    ..Default::default()
                                }],
                                cluster_id: Some("fake".into()),
                                controller_id: 7,
                                topics: vec![MetadataResponseTopic {
                                    name: Some("t".into()),
                                    partitions: vec![MetadataResponsePartition {
                                        partition_index: 0,
                                        leader_id: 7,
                                        replica_nodes: vec![7],
                                        isr_nodes: vec![7],
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            };
                            (ResponseBody::Metadata(body), version)
                        }
                        RequestBody::Produce(p) => {
                            let records = p.topic_data[0].partition_data[0].records.clone().unwrap();
                            let batch = batches(records).next().unwrap().unwrap();
                            let first = {
                                let mut seen = seen.lock().unwrap();
                                seen.produce_records.push(batch.header().records_count);
                                seen.produce_records.len() == 1
                            };
                            let (error_code, base_offset) = if first {
                                (ErrorCode::NotLeaderOrFollower.code(), -1)
                            } else {
                                (0, 42)
                            };
                            let body = ProduceResponse {
                                responses: vec![TopicProduceResponse {
                                    name: "t".into(),
                                    partition_responses: vec![PartitionProduceResponse {
                                        index: 0,
                                        error_code,
                                        base_offset,
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            };
                            (ResponseBody::Produce(body), version)
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

#[tokio::test]
async fn negotiates_down_and_retries_a_moved_leader() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let address = fake_broker(seen.clone()).await;
    let client = Client::connect(ClientConfig::new(&address)).await.unwrap();
    let conn = client.any().await.unwrap();
    assert_eq!(conn.version(18), Some(2));
    assert_eq!(conn.version(3), Some(9));
    assert_eq!(conn.version(0), Some(8));
    assert_eq!(conn.version(1), None, "Fetch is not advertised");

    let metadata = client.metadata(None, false).await.unwrap();
    assert_eq!(metadata.cluster_id.as_deref(), Some("fake"));
    assert_eq!(metadata.topic("t").unwrap().partitions[0].leader, 7);

    let producer = Producer::new(
        client,
        ProducerConfig {
            acks: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = producer
        .send("t", None, NewRecord::new(1, None, Some(Bytes::from_static(b"a"))))
        .await
        .unwrap();
    let b = producer
        .send("t", None, NewRecord::new(1, None, Some(Bytes::from_static(b"b"))))
        .await
        .unwrap();
    producer.flush().await.unwrap();
    assert_eq!(a.await.unwrap().unwrap(), (0, 42));
    assert_eq!(b.await.unwrap().unwrap(), (0, 43));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.produce_records, vec![2, 2], "one batch, sent twice");
    assert!(
        seen.requests.contains(&(18, 3)) && seen.requests.contains(&(18, 0)),
        "{:?}",
        seen.requests
    );
    assert!(seen.requests.iter().filter(|r| r.0 == 0).all(|r| r.1 == 8));
    assert!(seen.requests.iter().filter(|r| r.0 == 3).all(|r| r.1 == 9));
}

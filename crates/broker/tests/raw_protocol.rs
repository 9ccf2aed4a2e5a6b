//! Speaks raw Kafka frames to a broker on an ephemeral port: ApiVersions and Metadata answers,
//! ordering of pipelined responses, and the limits that protect the broker.

use bytes::Bytes;
use sluice_broker::{Broker, BrokerSettings, ListenerSettings, Server};
use sluice_protocol::ErrorCode;
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::{
    ApiVersionsRequest, MetadataRequest, RequestBody, RequestHeader, ResponseBody, ResponseHeader,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(tweak: impl FnOnce(&mut BrokerSettings)) -> Server {
    // Broker logs show up in a failing test's output.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut settings = BrokerSettings {
        listeners: vec![
            ListenerSettings {
                name: "INTERNAL".into(),
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                advertised_host: Some("broker.internal".into()),
                advertised_port: Some(19092),
                security_protocol: sluice_broker::SecurityProtocol::Plaintext,
                sasl: None,
                tls: None,
                principal_mapper: None,
            },
            ListenerSettings {
                name: "EXTERNAL".into(),
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                advertised_host: None,
                advertised_port: None,
                security_protocol: sluice_broker::SecurityProtocol::Plaintext,
                sasl: None,
                tls: None,
                principal_mapper: None,
            },
        ],
        ..Default::default()
    };
    tweak(&mut settings);
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(settings, dir.path()).expect("broker opens");
    // The directory lives as long as the test process; each test gets its own.
    std::mem::forget(dir);
    Server::start(broker).await.expect("server starts")
}

fn request(key: i16, version: i16, correlation_id: i32, body: RequestBody) -> Vec<u8> {
    let header = RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id,
        client_id: Some("raw-test".into()),
        ..Default::default()
    };
    encode_request(&header, &body).expect("encodes").to_vec()
}

async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let size = stream.read_i32().await.ok()?;
    let mut buf = vec![0; size as usize];
    stream.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}

async fn call(
    stream: &mut TcpStream,
    key: i16,
    version: i16,
    correlation_id: i32,
    body: RequestBody,
) -> (ResponseHeader, ResponseBody) {
    stream
        .write_all(&request(key, version, correlation_id, body))
        .await
        .unwrap();
    let frame = read_frame(stream).await.expect("a response");
    decode_response(frame, key, version).expect("response decodes")
}

/// True when the broker closed the connection (EOF) within a few seconds.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn api_versions() -> RequestBody {
    RequestBody::ApiVersions(ApiVersionsRequest {
        client_software_name: "raw-test".into(),
        client_software_version: "1.0".into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn api_versions_lists_what_is_served_in_every_version() {
    let server = start(|_| {}).await;
    let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
    for version in 0..=4 {
        let (header, body) = call(&mut s, 18, version, 100 + i32::from(version), api_versions()).await;
        assert_eq!(header.correlation_id, 100 + i32::from(version));
        let ResponseBody::ApiVersions(r) = body else { panic!() };
        assert_eq!(r.error_code, 0, "v{version}");
        let metadata = r.api_keys.iter().find(|k| k.api_key == 3).expect("Metadata advertised");
        assert_eq!((metadata.min_version, metadata.max_version), (0, 13));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_api_versions_version_gets_a_v0_unsupported_answer() {
    let server = start(|_| {}).await;
    let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
    // ApiVersions v127 with a header we can read but a body we cannot.
    let mut frame = vec![0, 18, 0, 127, 0, 0, 0, 7, 0, 1, b'x', 0, 0xde, 0xad];
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.append(&mut frame);
    s.write_all(&out).await.unwrap();
    let (header, body) = decode_response(read_frame(&mut s).await.unwrap(), 18, 0).unwrap();
    assert_eq!(header.correlation_id, 7);
    let ResponseBody::ApiVersions(r) = body else { panic!() };
    assert_eq!(r.error_code, ErrorCode::UnsupportedVersion.code());
    assert_eq!(r.api_keys.len(), 1);
    assert_eq!((r.api_keys[0].api_key, r.api_keys[0].max_version), (18, 4));
    // The connection stays usable.
    let (_, body) = call(&mut s, 18, 3, 8, api_versions()).await;
    assert!(matches!(body, ResponseBody::ApiVersions(r) if r.error_code == 0));
    server.shutdown().await;
}

#[tokio::test]
async fn metadata_advertises_the_listener_the_client_came_in_on() {
    let server = start(|s| s.auto_create_topics_enable = false).await;
    let external = server.address("EXTERNAL").unwrap();
    for (listener, host, port) in [
        ("INTERNAL", "broker.internal".to_owned(), 19092),
        ("EXTERNAL", "127.0.0.1".to_owned(), external.port()),
    ] {
        let mut s = TcpStream::connect(server.address(listener).unwrap()).await.unwrap();
        for version in [0, 1, 9, 12, 13] {
            let topics = Some(vec![
                sluice_protocol::generated::metadata_request::MetadataRequestTopic {
                    name: Some("missing".into()),
                    ..Default::default()
                },
            ]);
            let body = RequestBody::Metadata(MetadataRequest {
                topics,
                ..Default::default()
            });
            let (_, body) = call(&mut s, 3, version, 1, body).await;
            let ResponseBody::Metadata(r) = body else { panic!() };
            assert_eq!(r.brokers.len(), 1);
            assert_eq!(
                (r.brokers[0].host.as_str(), r.brokers[0].port),
                (host.as_str(), i32::from(port)),
                "{listener} v{version}"
            );
            assert_eq!(r.topics[0].error_code, ErrorCode::UnknownTopicOrPartition.code());
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = start(|_| {}).await;
    let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
    let mut burst = Vec::new();
    for id in 0..50 {
        let (key, version, body) = if id % 2 == 0 {
            (18, 3, api_versions())
        } else {
            (3, 12, RequestBody::Metadata(MetadataRequest::default()))
        };
        burst.extend(request(key, version, id, body));
    }
    s.write_all(&burst).await.unwrap();
    for id in 0..50 {
        let (key, version) = if id % 2 == 0 { (18, 3) } else { (3, 12) };
        let (header, _) = decode_response(read_frame(&mut s).await.unwrap(), key, version).unwrap();
        assert_eq!(header.correlation_id, id);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_frames_close_the_connection_and_the_broker_stays_up() {
    let server = start(|s| {
        s.socket_request_max_bytes = 1024 * 1024;
        s.connections_max_idle_ms = 300;
    })
    .await;
    let addr = server.address("EXTERNAL").unwrap();
    // A 2 GiB length prefix.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&0x7fff_ffffi32.to_be_bytes()).await.unwrap();
    assert!(closed(&mut s).await, "2 GiB frame");
    // A negative length.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&(-1i32).to_be_bytes()).await.unwrap();
    assert!(closed(&mut s).await, "negative length");
    // An unknown API key.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 0, 0, 10, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff])
        .await
        .unwrap();
    assert!(closed(&mut s).await, "unknown key");
    // The 8-byte Metadata frame with a topic count of 2^31-1.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 0, 0, 14, 0, 3, 0, 4, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert!(closed(&mut s).await, "huge count");
    // A header that promises 100 bytes and stalls: closed after connections.max.idle.ms.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 0, 0, 100, 0, 18]).await.unwrap();
    assert!(closed(&mut s).await, "stalled frame");
    // A well-behaved client still gets answers.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (_, body) = call(&mut s, 18, 3, 1, api_versions()).await;
    assert!(matches!(body, ResponseBody::ApiVersions(r) if r.error_code == 0));
    server.shutdown().await;
}

#[tokio::test]
async fn frames_wait_for_the_bytes_in_flight_budget() {
    // A budget of 64 bytes: a 60-byte frame fits, a 200-byte one can never fit and is refused.
    let server = start(|s| s.queued_max_request_bytes = 64).await;
    let addr = server.address("EXTERNAL").unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (_, body) = call(&mut s, 18, 3, 1, api_versions()).await;
    assert!(matches!(body, ResponseBody::ApiVersions(_)));
    let mut big = TcpStream::connect(addr).await.unwrap();
    big.write_all(&200i32.to_be_bytes()).await.unwrap();
    assert!(closed(&mut big).await);
    server.shutdown().await;
}

#[tokio::test]
async fn connection_limits_refuse_extra_connections() {
    let server = start(|s| s.max_connections = 2).await;
    let addr = server.address("EXTERNAL").unwrap();
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    call(&mut a, 18, 3, 1, api_versions()).await;
    call(&mut b, 18, 3, 1, api_versions()).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    assert!(closed(&mut c).await, "third connection refused");
    drop(a);
    // Once one closes, a new one is accepted.
    let mut d = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&request(18, 3, 9, api_versions())).await.unwrap();
        if let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(500), read_frame(&mut s)).await {
            d = Some(frame);
            break;
        }
    }
    assert!(d.is_some(), "a slot frees when a connection closes");
    server.shutdown().await;
}

mod topics {
    use super::*;
    use sluice_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use sluice_protocol::generated::delete_topics_request::DeleteTopicState;
    use sluice_protocol::generated::metadata_request::MetadataRequestTopic;
    use sluice_protocol::generated::{CreateTopicsRequest, DeleteTopicsRequest};

    fn create(name: &str, partitions: i32, factor: i16, validate_only: bool) -> RequestBody {
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor: factor,
                configs: vec![CreatableTopicConfig {
                    name: "retention.ms".into(),
                    value: Some("60000".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            timeout_ms: 5000,
            validate_only,
            ..Default::default()
        })
    }

    /// A Metadata request as a client of `version` would send it: v0 lists all topics with an
    /// empty array, and versions before 4 have no auto-creation flag.
    fn metadata(names: Option<&[&str]>, auto_create: bool, version: i16) -> RequestBody {
        let topics = names
            .map(|n| {
                n.iter()
                    .map(|n| MetadataRequestTopic {
                        name: Some((*n).into()),
                        ..Default::default()
                    })
                    .collect()
            })
            .or(if version == 0 { Some(Vec::new()) } else { None });
        RequestBody::Metadata(MetadataRequest {
            topics,
            allow_auto_topic_creation: auto_create || version < 4,
            ..Default::default()
        })
    }

    async fn create_error(s: &mut TcpStream, version: i16, body: RequestBody) -> (i16, Option<String>) {
        let (_, body) = call(s, 19, version, 1, body).await;
        let ResponseBody::CreateTopics(r) = body else { panic!() };
        (r.topics[0].error_code, r.topics[0].error_message.clone())
    }

    #[tokio::test]
    async fn create_describe_and_delete_topics() {
        let server = start(|_| {}).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        assert_eq!(
            create_error(&mut s, 7, create("orders", 3, 1, true)).await.0,
            0,
            "validate only"
        );
        let (_, body) = call(&mut s, 3, 12, 2, metadata(Some(&["orders"]), false, 12)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        assert_eq!(
            r.topics[0].error_code,
            ErrorCode::UnknownTopicOrPartition.code(),
            "validate_only created nothing"
        );

        assert_eq!(create_error(&mut s, 7, create("orders", 3, -1, false)).await.0, 0);
        assert_eq!(
            create_error(&mut s, 7, create("orders", 3, 1, false)).await.0,
            ErrorCode::TopicAlreadyExists.code()
        );
        assert_eq!(
            create_error(&mut s, 2, create("bad name", 1, 1, false)).await.0,
            ErrorCode::InvalidTopicException.code()
        );
        assert_eq!(
            create_error(&mut s, 7, create("zero", 0, 1, false)).await.0,
            ErrorCode::InvalidPartitions.code()
        );
        let (code, message) = create_error(&mut s, 7, create("wide", 1, 3, false)).await;
        assert_eq!(code, ErrorCode::InvalidReplicationFactor.code());
        assert!(message.unwrap().contains("replication factor"));
        assert_eq!(create_error(&mut s, 7, create("orders_x", 1, 1, false)).await.0, 0);
        assert_eq!(
            create_error(&mut s, 7, create("orders.x", 1, 1, false)).await.0,
            ErrorCode::InvalidTopicException.code(),
            "collides with orders_x"
        );

        for version in [0, 1, 9, 12] {
            let (_, body) = call(&mut s, 3, version, 3, metadata(None, false, version)).await;
            let ResponseBody::Metadata(r) = body else { panic!() };
            let orders = r
                .topics
                .iter()
                .find(|t| t.name.as_deref() == Some("orders"))
                .expect("orders listed");
            assert_eq!(orders.partitions.len(), 3, "v{version}");
            assert!(
                orders
                    .partitions
                    .iter()
                    .all(|p| p.leader_id == 1 && p.replica_nodes == vec![1])
            );
            if version >= 10 {
                assert!(!orders.topic_id.is_zero());
            }
        }

        // Delete by name (v4) and by id (v6).
        let (_, body) = call(
            &mut s,
            20,
            4,
            4,
            RequestBody::DeleteTopics(DeleteTopicsRequest {
                topic_names: vec!["orders".into(), "nope".into()],
                timeout_ms: 1000,
                ..Default::default()
            }),
        )
        .await;
        let ResponseBody::DeleteTopics(r) = body else { panic!() };
        assert_eq!(r.responses[0].error_code, 0);
        assert_eq!(r.responses[1].error_code, ErrorCode::UnknownTopicOrPartition.code());
        let (_, body) = call(&mut s, 3, 12, 5, metadata(Some(&["orders_x"]), false, 12)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        let id = r.topics[0].topic_id;
        let (_, body) = call(
            &mut s,
            20,
            6,
            6,
            RequestBody::DeleteTopics(DeleteTopicsRequest {
                topics: vec![DeleteTopicState {
                    name: None,
                    topic_id: id,
                    ..Default::default()
                }],
                timeout_ms: 1000,
                ..Default::default()
            }),
        )
        .await;
        let ResponseBody::DeleteTopics(r) = body else { panic!() };
        assert_eq!(
            (r.responses[0].error_code, r.responses[0].name.as_deref()),
            (0, Some("orders_x"))
        );
        let (_, body) = call(&mut s, 3, 12, 7, metadata(None, false, 12)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        assert!(r.topics.is_empty(), "{:?}", r.topics);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn metadata_auto_creates_when_allowed() {
        let server = start(|s| s.num_partitions = 2).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let (_, body) = call(&mut s, 3, 12, 1, metadata(Some(&["not-created"]), false, 12)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        assert_eq!(r.topics[0].error_code, ErrorCode::UnknownTopicOrPartition.code());
        let (_, body) = call(&mut s, 3, 12, 2, metadata(Some(&["auto"]), true, 12)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        assert_eq!(
            (r.topics[0].error_code, r.topics[0].partitions.len()),
            (0, 2),
            "created with num.partitions"
        );
        // v1-3 have no flag: auto-creation follows the broker setting alone.
        let (_, body) = call(&mut s, 3, 1, 3, metadata(Some(&["legacy-auto"]), false, 1)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        assert_eq!(r.topics[0].error_code, 0);
        server.shutdown().await;

        let server = start(|s| s.auto_create_topics_enable = false).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let (_, body) = call(&mut s, 3, 12, 1, metadata(Some(&["auto"]), true, 12)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        assert_eq!(
            r.topics[0].error_code,
            ErrorCode::UnknownTopicOrPartition.code(),
            "auto.create.topics.enable=false"
        );
        server.shutdown().await;
    }

    /// Produces `n` records to partition 0 of `name`; returns the base offset.
    async fn produce(s: &mut TcpStream, name: &str, n: usize) -> i64 {
        use sluice_protocol::generated::ProduceRequest;
        use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
        use sluice_protocol::records::{BatchBuilder, NewRecord};
        let mut b = BatchBuilder::new(0);
        for i in 0..n {
            b.append(&NewRecord::new(
                1_600_000_000_000,
                None,
                Some(Bytes::from(format!("v{i}"))),
            ))
            .unwrap();
        }
        let body = RequestBody::Produce(ProduceRequest {
            acks: 1,
            timeout_ms: 5000,
            topic_data: vec![TopicProduceData {
                name: name.into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(b.build().unwrap().into_bytes()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let (_, body) = call(s, 0, 9, 1, body).await;
        let ResponseBody::Produce(r) = body else { panic!() };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
        p.base_offset
    }

    #[tokio::test]
    async fn a_topic_created_again_after_deletion_starts_empty() {
        let server = start(|_| {}).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        assert_eq!(create_error(&mut s, 7, create("again", 1, 1, false)).await.0, 0);
        assert_eq!(produce(&mut s, "again", 5).await, 0);
        let (_, body) = call(
            &mut s,
            20,
            4,
            2,
            RequestBody::DeleteTopics(DeleteTopicsRequest {
                topic_names: vec!["again".into()],
                timeout_ms: 1000,
                ..Default::default()
            }),
        )
        .await;
        let ResponseBody::DeleteTopics(r) = body else { panic!() };
        assert_eq!(r.responses[0].error_code, 0);
        // Partition directories are named after the topic: the deleted topic's must be gone, or
        // the new topic would open its records (Kafka's new topic is empty).
        assert_eq!(create_error(&mut s, 7, create("again", 1, 1, false)).await.0, 0);
        assert_eq!(produce(&mut s, "again", 1).await, 0, "the new topic starts at offset 0");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn topics_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let settings = || BrokerSettings {
            listeners: vec![ListenerSettings {
                name: "PLAINTEXT".into(),
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                advertised_host: None,
                advertised_port: None,
                security_protocol: sluice_broker::SecurityProtocol::Plaintext,
                sasl: None,
                tls: None,
                principal_mapper: None,
            }],
            ..Default::default()
        };
        let server = Server::start(Broker::open(settings(), dir.path()).unwrap())
            .await
            .unwrap();
        let mut s = TcpStream::connect(server.address("PLAINTEXT").unwrap()).await.unwrap();
        assert_eq!(create_error(&mut s, 7, create("kept", 4, 1, false)).await.0, 0);
        drop(s);
        server.shutdown().await;
        let server = Server::start(Broker::open(settings(), dir.path()).unwrap())
            .await
            .unwrap();
        let mut s = TcpStream::connect(server.address("PLAINTEXT").unwrap()).await.unwrap();
        let (_, body) = call(&mut s, 3, 12, 1, metadata(Some(&["kept"]), false, 12)).await;
        let ResponseBody::Metadata(r) = body else { panic!() };
        assert_eq!((r.topics[0].error_code, r.topics[0].partitions.len()), (0, 4));
        server.shutdown().await;
    }
}

mod idempotence {
    use super::*;
    use sluice_protocol::generated::create_topics_request::CreatableTopic;
    use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
    use sluice_protocol::generated::{CreateTopicsRequest, InitProducerIdRequest, ProduceRequest};
    use sluice_protocol::records::{BatchBuilder, NewRecord};

    fn batch(pid: i64, epoch: i16, first_seq: i32, records: usize) -> Bytes {
        let mut b = BatchBuilder::new(0).producer(pid, epoch, first_seq);
        for i in 0..records {
            b.append(&NewRecord::new(
                1_700_000_000_000,
                Some(Bytes::from(format!("k{i}"))),
                Some(Bytes::from_static(b"v")),
            ))
            .unwrap();
        }
        b.build().unwrap().into_bytes()
    }

    /// Produces one batch with acks=all; returns (error code, base offset).
    async fn produce(s: &mut TcpStream, records: Bytes) -> (i16, i64) {
        let body = RequestBody::Produce(ProduceRequest {
            acks: -1,
            timeout_ms: 5000,
            topic_data: vec![TopicProduceData {
                name: "idem".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(records),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let (_, body) = call(s, 0, 9, 1, body).await;
        let ResponseBody::Produce(r) = body else { panic!() };
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    async fn producer_id(s: &mut TcpStream) -> i64 {
        let (_, body) = call(
            s,
            22,
            4,
            1,
            RequestBody::InitProducerId(InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                ..Default::default()
            }),
        )
        .await;
        let ResponseBody::InitProducerId(r) = body else {
            panic!()
        };
        assert_eq!((r.error_code, r.producer_epoch), (0, 0));
        r.producer_id
    }

    #[tokio::test]
    async fn duplicates_gaps_and_fencing_as_kafka_answers_them() {
        let dir = tempfile::tempdir().unwrap();
        let settings = || BrokerSettings {
            listeners: vec![ListenerSettings {
                name: "PLAINTEXT".into(),
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                advertised_host: None,
                advertised_port: None,
                security_protocol: sluice_broker::SecurityProtocol::Plaintext,
                sasl: None,
                tls: None,
                principal_mapper: None,
            }],
            ..Default::default()
        };
        let server = Server::start(Broker::open(settings(), dir.path()).unwrap())
            .await
            .unwrap();
        let mut s = TcpStream::connect(server.address("PLAINTEXT").unwrap()).await.unwrap();
        let create = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "idem".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        });
        call(&mut s, 19, 7, 1, create).await;
        let pid = producer_id(&mut s).await;
        let other = producer_id(&mut s).await;
        assert_ne!(pid, other, "producer ids are never reused");

        assert_eq!(produce(&mut s, batch(pid, 0, 0, 3)).await, (0, 0));
        assert_eq!(produce(&mut s, batch(pid, 0, 3, 2)).await, (0, 3));
        // A retry of the first batch: same offsets, nothing appended.
        assert_eq!(produce(&mut s, batch(pid, 0, 0, 3)).await, (0, 0));
        // A gap in the sequence.
        assert_eq!(
            produce(&mut s, batch(pid, 0, 9, 1)).await.0,
            ErrorCode::OutOfOrderSequenceNumber.code()
        );
        // A new producer must start at sequence 0.
        assert_eq!(
            produce(&mut s, batch(other, 0, 5, 1)).await.0,
            ErrorCode::OutOfOrderSequenceNumber.code()
        );
        // A bumped epoch starts over at 0; the old epoch is then fenced.
        assert_eq!(produce(&mut s, batch(pid, 1, 0, 1)).await, (0, 5));
        assert_eq!(
            produce(&mut s, batch(pid, 0, 5, 1)).await.0,
            ErrorCode::InvalidProducerEpoch.code()
        );
        drop(s);
        server.shutdown().await;

        // After a restart the state is rebuilt from the log: the retry is still a duplicate.
        let server = Server::start(Broker::open(settings(), dir.path()).unwrap())
            .await
            .unwrap();
        let mut s = TcpStream::connect(server.address("PLAINTEXT").unwrap()).await.unwrap();
        assert_eq!(
            produce(&mut s, batch(pid, 1, 0, 1)).await,
            (0, 5),
            "duplicate after restart"
        );
        assert_eq!(produce(&mut s, batch(pid, 1, 1, 1)).await, (0, 6));
        let third = producer_id(&mut s).await;
        assert!(third > other, "ids keep increasing across restarts");
        server.shutdown().await;
    }
}

mod admin {
    use super::*;
    use sluice_protocol::generated::create_partitions_request::CreatePartitionsTopic;
    use sluice_protocol::generated::create_topics_request::CreatableTopic;
    use sluice_protocol::generated::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    use sluice_protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use sluice_protocol::generated::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
    use sluice_protocol::generated::{
        CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest, DescribeClusterRequest, ListOffsetsRequest,
        OffsetForLeaderEpochRequest, ProduceRequest,
    };
    use sluice_protocol::records::{BatchBuilder, NewRecord};

    /// Fixed and in the past: Kafka accepts any past CreateTime by default but at most an hour
    /// ahead (`log.message.timestamp.after.max.ms`); retention's first sweep is minutes away.
    const BASE_TIMESTAMP_MS: i64 = 1_600_000_000_000;

    async fn produce_n(s: &mut TcpStream, n: usize) {
        let mut b = BatchBuilder::new(0);
        for i in 0..n {
            b.append(&NewRecord::new(
                BASE_TIMESTAMP_MS + i as i64,
                None,
                Some(Bytes::from(format!("v{i}"))),
            ))
            .unwrap();
        }
        let body = RequestBody::Produce(ProduceRequest {
            transactional_id: None,
            acks: 1,
            timeout_ms: 5000,
            topic_data: vec![TopicProduceData {
                name: "admin".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(b.build().unwrap().into_bytes()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let (_, body) = call(s, 0, 9, 1, body).await;
        let ResponseBody::Produce(r) = body else { panic!() };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }

    async fn offsets(s: &mut TcpStream, timestamp: i64) -> (i16, i64, i64) {
        let body = RequestBody::ListOffsets(ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: "admin".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let (_, body) = call(s, 2, 7, 1, body).await;
        let ResponseBody::ListOffsets(r) = body else { panic!() };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    }

    #[tokio::test]
    async fn cluster_partitions_records_offsets_and_epochs() {
        let server = start(|_| {}).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let (_, body) = call(
            &mut s,
            60,
            1,
            1,
            RequestBody::DescribeCluster(DescribeClusterRequest {
                endpoint_type: 1,
                ..Default::default()
            }),
        )
        .await;
        let ResponseBody::DescribeCluster(r) = body else {
            panic!()
        };
        assert_eq!((r.error_code, r.brokers.len(), r.controller_id), (0, 1, 1));
        assert_eq!(r.cluster_id, "sluice-cluster");

        let create = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "admin".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        });
        call(&mut s, 19, 7, 1, create).await;
        let grow = |count: i32| {
            RequestBody::CreatePartitions(CreatePartitionsRequest {
                topics: vec![CreatePartitionsTopic {
                    name: "admin".into(),
                    count,
                    assignments: None,
                    ..Default::default()
                }],
                timeout_ms: 5000,
                ..Default::default()
            })
        };
        let (_, body) = call(&mut s, 37, 3, 1, grow(4)).await;
        let ResponseBody::CreatePartitions(r) = body else {
            panic!()
        };
        assert_eq!(r.results[0].error_code, 0);
        let (_, body) = call(&mut s, 37, 3, 1, grow(2)).await;
        let ResponseBody::CreatePartitions(r) = body else {
            panic!()
        };
        assert_eq!(
            r.results[0].error_code,
            ErrorCode::InvalidPartitions.code(),
            "cannot shrink"
        );

        produce_n(&mut s, 10).await;
        assert_eq!(offsets(&mut s, -2).await, (0, 0, -1));
        assert_eq!(offsets(&mut s, -1).await, (0, 10, -1));
        assert_eq!(
            offsets(&mut s, BASE_TIMESTAMP_MS + 4).await,
            (0, 4, BASE_TIMESTAMP_MS + 4),
            "by timestamp"
        );
        assert_eq!(
            offsets(&mut s, -3).await,
            (0, 9, BASE_TIMESTAMP_MS + 9),
            "max timestamp"
        );
        assert_eq!(
            offsets(&mut s, BASE_TIMESTAMP_MS + 99_999).await,
            (0, -1, -1),
            "after every record"
        );

        let delete = |offset: i64| {
            RequestBody::DeleteRecords(DeleteRecordsRequest {
                topics: vec![DeleteRecordsTopic {
                    name: "admin".into(),
                    partitions: vec![DeleteRecordsPartition {
                        partition_index: 0,
                        offset,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                timeout_ms: 5000,
                ..Default::default()
            })
        };
        let (_, body) = call(&mut s, 21, 2, 1, delete(4)).await;
        let ResponseBody::DeleteRecords(r) = body else { panic!() };
        assert_eq!(
            (
                r.topics[0].partitions[0].error_code,
                r.topics[0].partitions[0].low_watermark
            ),
            (0, 4)
        );
        assert_eq!(offsets(&mut s, -2).await, (0, 4, -1), "log start moved");
        let (_, body) = call(&mut s, 21, 2, 1, delete(11)).await;
        let ResponseBody::DeleteRecords(r) = body else { panic!() };
        assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::OffsetOutOfRange.code());

        let epoch = |current: i32, leader_epoch: i32| {
            RequestBody::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest {
                replica_id: -1,
                topics: vec![OffsetForLeaderTopic {
                    topic: "admin".into(),
                    partitions: vec![OffsetForLeaderPartition {
                        partition: 0,
                        current_leader_epoch: current,
                        leader_epoch,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })
        };
        for (current, asked, want) in [
            (0, 0, (0, 0, 10)),
            (-1, 0, (0, 0, 10)),
            (1, 0, (ErrorCode::UnknownLeaderEpoch.code(), -1, -1)),
            (0, 5, (0, -1, -1)),
        ] {
            let (_, body) = call(&mut s, 23, 4, 1, epoch(current, asked)).await;
            let ResponseBody::OffsetForLeaderEpoch(r) = body else {
                panic!()
            };
            let p = &r.topics[0].partitions[0];
            assert_eq!(
                (p.error_code, p.leader_epoch, p.end_offset),
                want,
                "current {current} asked {asked}"
            );
        }
        server.shutdown().await;
    }
}

/// librdkafka 2.16 (confluent-kafka's AdminClient.list_topics) sends an all-topics Metadata v13
/// with three bytes after the body; Kafka ignores them, so must we.
#[tokio::test]
async fn bytes_after_a_request_body_are_ignored_as_kafka_does() {
    let server = start(|_| {}).await;
    let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
    let frame: &[u8] = &[
        0, 3, 0, 13, 0, 0, 0, 3, 0, 7, b'r', b'd', b'k', b'a', b'f', b'k', b'a', 0, 0, 0, 0, 0, 1, 0, 0,
    ];
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(frame);
    s.write_all(&out).await.unwrap();
    let (header, body) = decode_response(read_frame(&mut s).await.expect("answered"), 3, 13).unwrap();
    assert_eq!(header.correlation_id, 3);
    assert!(matches!(body, ResponseBody::Metadata(r) if r.brokers.len() == 1));
    server.shutdown().await;
}

mod configs {
    use super::*;
    use sluice_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use sluice_protocol::generated::describe_configs_request::DescribeConfigsResource;
    use sluice_protocol::generated::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use sluice_protocol::generated::{CreateTopicsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest};

    async fn describe(s: &mut TcpStream, version: i16, key: &str) -> (i16, Option<String>, i8, usize) {
        let body = RequestBody::DescribeConfigs(DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 2,
                resource_name: "cfg".into(),
                configuration_keys: Some(vec![key.into()]),
                ..Default::default()
            }],
            include_synonyms: version >= 1,
            include_documentation: version >= 3,
            ..Default::default()
        });
        let (_, body) = call(s, 32, version, 1, body).await;
        let ResponseBody::DescribeConfigs(r) = body else {
            panic!()
        };
        let result = &r.results[0];
        match result.configs.first() {
            Some(c) => (result.error_code, c.value.clone(), c.config_source, c.synonyms.len()),
            None => (result.error_code, None, -1, 0),
        }
    }

    async fn set(s: &mut TcpStream, key: &str, op: i8, value: &str) -> i16 {
        let body = RequestBody::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: "cfg".into(),
                configs: vec![AlterableConfig {
                    name: key.into(),
                    config_operation: op,
                    value: Some(value.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let (_, body) = call(s, 44, 1, 1, body).await;
        let ResponseBody::IncrementalAlterConfigs(r) = body else {
            panic!()
        };
        r.responses[0].error_code
    }

    #[tokio::test]
    async fn describe_and_alter_topic_configs() {
        let server = start(|_| {}).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let create = |name: &str, value: &str| {
            RequestBody::CreateTopics(CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: name.into(),
                    num_partitions: 1,
                    replication_factor: 1,
                    configs: vec![CreatableTopicConfig {
                        name: "retention.ms".into(),
                        value: Some(value.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                timeout_ms: 5000,
                ..Default::default()
            })
        };
        let (_, body) = call(&mut s, 19, 7, 1, create("cfg-bad", "soon")).await;
        let ResponseBody::CreateTopics(r) = body else { panic!() };
        assert_eq!(r.topics[0].error_code, ErrorCode::InvalidConfig.code());
        assert!(r.topics[0].error_message.as_deref().unwrap().contains("retention.ms"));
        let (_, body) = call(&mut s, 19, 7, 1, create("cfg", "3600000")).await;
        let ResponseBody::CreateTopics(r) = body else { panic!() };
        assert_eq!(r.topics[0].error_code, 0);

        // The override, as a dynamic topic config with its broker synonyms; the same in v0
        // (no sources or synonyms on the wire) and v4.
        let (code, value, source, synonyms) = describe(&mut s, 4, "retention.ms").await;
        assert_eq!((code, value.as_deref(), source), (0, Some("3600000"), 1));
        assert!(synonyms >= 2, "the override and log.retention.hours");
        assert_eq!(describe(&mut s, 0, "retention.ms").await.1.as_deref(), Some("3600000"));
        let (_, value, source, _) = describe(&mut s, 4, "cleanup.policy").await;
        assert_eq!((value.as_deref(), source), (Some("delete"), 5), "a default");

        assert_eq!(set(&mut s, "retention.ms", 0, "7200000").await, 0);
        assert_eq!(describe(&mut s, 4, "retention.ms").await.1.as_deref(), Some("7200000"));
        assert_eq!(
            set(&mut s, "retention.ms", 0, "-5").await,
            ErrorCode::InvalidConfig.code()
        );
        assert_eq!(
            set(&mut s, "no.such.config", 0, "1").await,
            ErrorCode::InvalidConfig.code()
        );
        assert_eq!(set(&mut s, "retention.ms", 1, "").await, 0, "delete the override");
        let (_, value, source, _) = describe(&mut s, 4, "retention.ms").await;
        assert_eq!(
            (value.as_deref(), source),
            (Some("604800000"), 5),
            "back to the default"
        );
        server.shutdown().await;
    }
}

mod retention {
    use super::*;
    use sluice_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use sluice_protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
    use sluice_protocol::generated::{CreateTopicsRequest, ListOffsetsRequest, ProduceRequest};
    use sluice_protocol::records::{BatchBuilder, NewRecord};

    #[tokio::test]
    async fn old_data_is_deleted_by_the_background_retention_task() {
        let server = start(|s| {
            s.config.log_retention_check_interval_ms = 50;
        })
        .await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let create = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "aging".into(),
                num_partitions: 1,
                replication_factor: 1,
                configs: vec![CreatableTopicConfig {
                    name: "retention.ms".into(),
                    value: Some("60000".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        });
        call(&mut s, 19, 7, 1, create).await;
        // Records from 2001: far older than retention.ms.
        let mut b = BatchBuilder::new(0);
        for i in 0..5 {
            b.append(&NewRecord::new(
                1_000_000_000_000 + i,
                None,
                Some(Bytes::from_static(b"old")),
            ))
            .unwrap();
        }
        let body = RequestBody::Produce(ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 5000,
            topic_data: vec![TopicProduceData {
                name: "aging".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(b.build().unwrap().into_bytes()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        call(&mut s, 0, 9, 2, body).await;
        let earliest = RequestBody::ListOffsets(ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: "aging".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp: -2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let mut start_offset = 0;
        for _ in 0..100 {
            let (_, body) = call(&mut s, 2, 7, 3, earliest.clone()).await;
            let ResponseBody::ListOffsets(r) = body else { panic!() };
            start_offset = r.topics[0].partitions[0].offset;
            if start_offset == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(start_offset, 5, "the expired records were deleted");
        server.shutdown().await;
    }
}

mod describe {
    use super::*;
    use sluice_protocol::generated::create_topics_request::CreatableTopic;
    use sluice_protocol::generated::describe_topic_partitions_request::{Cursor, TopicRequest};
    use sluice_protocol::generated::{CreateTopicsRequest, DescribeLogDirsRequest, DescribeTopicPartitionsRequest};

    #[tokio::test]
    async fn topic_partitions_page_with_a_cursor_and_log_dirs_list_sizes() {
        let server = start(|_| {}).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let create = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: ["a", "b"]
                .iter()
                .map(|n| CreatableTopic {
                    name: (*n).into(),
                    num_partitions: 3,
                    replication_factor: 1,
                    ..Default::default()
                })
                .collect(),
            timeout_ms: 5000,
            ..Default::default()
        });
        call(&mut s, 19, 7, 1, create).await;
        let page = |cursor: Option<(&str, i32)>| {
            RequestBody::DescribeTopicPartitions(DescribeTopicPartitionsRequest {
                topics: Vec::new(),
                response_partition_limit: 4,
                cursor: cursor.map(|(t, p)| Cursor {
                    topic_name: t.into(),
                    partition_index: p,
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        let (_, body) = call(&mut s, 75, 0, 1, page(None)).await;
        let ResponseBody::DescribeTopicPartitions(r) = body else {
            panic!()
        };
        let listed: Vec<(String, i32)> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone().unwrap(), p.partition_index))
            })
            .collect();
        assert_eq!(
            listed,
            vec![("a".into(), 0), ("a".into(), 1), ("a".into(), 2), ("b".into(), 0)]
        );
        let next = r.next_cursor.expect("a cursor for the rest");
        assert_eq!((next.topic_name.as_str(), next.partition_index), ("b", 1));
        let (_, body) = call(&mut s, 75, 0, 2, page(Some(("b", 1)))).await;
        let ResponseBody::DescribeTopicPartitions(r) = body else {
            panic!()
        };
        assert_eq!(r.topics.len(), 1);
        assert_eq!(
            r.topics[0]
                .partitions
                .iter()
                .map(|p| p.partition_index)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(r.next_cursor.is_none());
        let unknown = RequestBody::DescribeTopicPartitions(DescribeTopicPartitionsRequest {
            topics: vec![TopicRequest {
                name: "nope".into(),
                ..Default::default()
            }],
            response_partition_limit: 10,
            cursor: None,
            ..Default::default()
        });
        let (_, body) = call(&mut s, 75, 0, 3, unknown).await;
        let ResponseBody::DescribeTopicPartitions(r) = body else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, ErrorCode::UnknownTopicOrPartition.code());

        for version in [1, 4] {
            let (_, body) = call(
                &mut s,
                35,
                version,
                4,
                RequestBody::DescribeLogDirs(DescribeLogDirsRequest {
                    topics: None,
                    ..Default::default()
                }),
            )
            .await;
            let ResponseBody::DescribeLogDirs(r) = body else {
                panic!()
            };
            assert_eq!(r.results.len(), 1);
            let partitions: usize = r.results[0].topics.iter().map(|t| t.partitions.len()).sum();
            assert_eq!(partitions, 6, "v{version}");
        }
        server.shutdown().await;
    }
}

mod fetch_limits {
    use super::*;
    use sluice_protocol::generated::create_topics_request::CreatableTopic;
    use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
    use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
    use sluice_protocol::generated::{CreateTopicsRequest, FetchRequest, ProduceRequest};
    use sluice_protocol::records::{BatchBuilder, NewRecord, batches};

    #[tokio::test]
    async fn a_fetch_cannot_ask_for_more_than_fetch_max_bytes() {
        let server = start(|s| s.fetch_max_bytes = 4096).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let create = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "big".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        });
        call(&mut s, 19, 7, 1, create).await;
        // Three batches of about 3 KB each.
        for i in 0..3 {
            let mut b = BatchBuilder::new(0);
            b.append(&NewRecord::new(
                1_600_000_000_000 + i,
                None,
                Some(Bytes::from(vec![b'x'; 3000])),
            ))
            .unwrap();
            let body = RequestBody::Produce(ProduceRequest {
                transactional_id: None,
                acks: 1,
                timeout_ms: 5000,
                topic_data: vec![TopicProduceData {
                    name: "big".into(),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(b.build().unwrap().into_bytes()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            });
            call(&mut s, 0, 9, 2, body).await;
        }
        // The client asks for everything; the broker's cap allows one batch.
        let body = RequestBody::Fetch(FetchRequest {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: i32::MAX,
            topics: vec![FetchTopic {
                topic: "big".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: i32::MAX,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let (_, body) = call(&mut s, 1, 12, 3, body).await;
        let ResponseBody::Fetch(r) = body else { panic!() };
        let records = r.responses[0].partitions[0].records.clone().unwrap();
        assert_eq!(
            batches(records.clone()).count(),
            1,
            "one batch fits under fetch.max.bytes"
        );
        assert!(records.len() <= 4096, "{} bytes returned", records.len());
        server.shutdown().await;
    }
}

mod large_fetches {
    use super::*;
    use sluice_protocol::generated::create_topics_request::CreatableTopic;
    use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
    use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
    use sluice_protocol::generated::{CreateTopicsRequest, FetchRequest, ProduceRequest};
    use sluice_protocol::records::{BatchBuilder, NewRecord, batches};

    /// A batch larger than the whole `queued.max.response.bytes` budget is still served (alone),
    /// rather than leaving its consumer fetching nothing forever.
    #[tokio::test]
    async fn a_batch_larger_than_the_response_budget_is_still_served() {
        let server = start(|s| s.queued_max_response_bytes = 64 << 10).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let create = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "big".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        });
        call(&mut s, 19, 7, 1, create).await;
        let mut b = BatchBuilder::new(0);
        b.append(&NewRecord::new(
            1_700_000_000_000,
            None,
            Some(Bytes::from(vec![7u8; 200_000])),
        ))
        .unwrap();
        let produce = RequestBody::Produce(ProduceRequest {
            acks: 1,
            timeout_ms: 5000,
            topic_data: vec![TopicProduceData {
                name: "big".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(b.build().unwrap().into_bytes()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let (_, body) = call(&mut s, 0, 9, 2, produce).await;
        let ResponseBody::Produce(r) = body else { panic!() };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        for (max_wait_ms, correlation_id) in [(0, 3), (500, 4)] {
            let fetch = RequestBody::Fetch(FetchRequest {
                max_wait_ms,
                min_bytes: 1,
                max_bytes: 1 << 20,
                topics: vec![FetchTopic {
                    topic: "big".into(),
                    partitions: vec![FetchPartition {
                        partition: 0,
                        fetch_offset: 0,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            });
            let (_, body) = call(&mut s, 1, 12, correlation_id, fetch).await;
            let ResponseBody::Fetch(r) = body else { panic!() };
            let records = r.responses[0].partitions[0].records.clone().unwrap_or_default();
            let batch = batches(records).next().expect("the batch is served").unwrap();
            let record = batch.records(1 << 20).unwrap().next().unwrap().unwrap();
            assert_eq!(record.value.unwrap().len(), 200_000);
        }
    }

    /// Responses whose records are written from the read buffers (large enough to be gathered,
    /// mixed with small ones that are copied) arrive whole and in order, in every version, even
    /// when several are pipelined on one connection.
    #[tokio::test]
    async fn large_pipelined_fetches_return_what_was_produced_in_every_version() {
        let server = start(|_| {}).await;
        let mut s = TcpStream::connect(server.address("EXTERNAL").unwrap()).await.unwrap();
        let create = RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "wide".into(),
                num_partitions: 3,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        });
        let (_, body) = call(&mut s, 19, 7, 1, create).await;
        let ResponseBody::CreateTopics(created) = body else {
            panic!()
        };
        let topic_id = created.topics[0].topic_id;
        // Partition 0: 200 KB over 20 batches; partition 1: one small batch; partition 2: empty.
        // The values produced to each partition, in order.
        let mut stored: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
        let sizes: Vec<(i32, usize)> = (0..20).map(|i| (0, 10_000 + i)).chain([(1, 100)]).collect();
        for (n, (partition, size)) in sizes.into_iter().enumerate() {
            let mut b = BatchBuilder::new(0);
            let value: Vec<u8> = (0..size).map(|i| (i * 31 + n) as u8).collect();
            b.append(&NewRecord::new(1_700_000_000_000, None, Some(Bytes::from(value))))
                .unwrap();
            let body = RequestBody::Produce(ProduceRequest {
                acks: 1,
                timeout_ms: 5000,
                topic_data: vec![TopicProduceData {
                    name: "wide".into(),
                    partition_data: vec![PartitionProduceData {
                        index: partition,
                        records: Some(b.build().unwrap().into_bytes()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            });
            let (_, body) = call(&mut s, 0, 9, 2, body).await;
            let ResponseBody::Produce(r) = body else { panic!() };
            assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
            stored[partition as usize].push((0..size).map(|i| (i * 31 + n) as u8).collect());
        }
        let fetch = |version: i16| {
            RequestBody::Fetch(FetchRequest {
                max_wait_ms: 0,
                min_bytes: 1,
                max_bytes: i32::MAX,
                topics: vec![FetchTopic {
                    topic: if version < 13 { "wide".into() } else { String::new() },
                    topic_id: if version < 13 { Default::default() } else { topic_id },
                    partitions: (0..3)
                        .map(|partition| FetchPartition {
                            partition,
                            fetch_offset: 0,
                            partition_max_bytes: 1 << 20,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
        };
        for version in 4..=18i16 {
            // Three requests written before any response is read.
            let mut out = Vec::new();
            for k in 0..3 {
                out.extend(request(1, version, 1000 * i32::from(version) + k, fetch(version)));
            }
            s.write_all(&out).await.unwrap();
            for k in 0..3 {
                let frame = read_frame(&mut s).await.expect("a response");
                let (header, body) = decode_response(frame, 1, version).expect("response decodes");
                assert_eq!(header.correlation_id, 1000 * i32::from(version) + k);
                let ResponseBody::Fetch(r) = body else { panic!() };
                let partitions = &r.responses[0].partitions;
                assert_eq!(partitions.len(), 3, "v{version}");
                for p in partitions {
                    assert_eq!(p.error_code, 0, "v{version} partition {}", p.partition_index);
                    let mut values = Vec::new();
                    for batch in batches(p.records.clone().unwrap_or_default()) {
                        let batch = batch.unwrap();
                        batch.verify_crc().unwrap();
                        for record in batch.records(1 << 20).unwrap() {
                            values.push(record.unwrap().value.unwrap().to_vec());
                        }
                    }
                    // Not assert_eq: a mismatch would print 200 KB of values.
                    assert!(
                        values == stored[p.partition_index as usize],
                        "v{version} partition {}: {} values returned",
                        p.partition_index,
                        values.len()
                    );
                }
            }
        }
        server.shutdown().await;
    }
}

//! Kafka's encoding rules, checked on hand-written bytes: compact forms, tagged fields (known and
//! unknown), defaults, nullability, and fields a version cannot carry.

use bytes::Bytes;
use sluice_protocol::codec::RawTaggedField;
use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic, ReplicaState};
use sluice_protocol::generated::metadata_request::MetadataRequestTopic;
use sluice_protocol::generated::{FetchRequest, MetadataRequest, MetadataResponse};
use sluice_protocol::{DecodeError, EncodeError, Message};

#[test]
fn a_non_ignorable_field_cannot_be_dropped_silently() {
    // AllowAutoTopicCreation exists from v4 and is not ignorable: false cannot go out in v3.
    let request = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    assert_eq!(
        request.encode_to_bytes(3),
        Err(EncodeError::FieldNotInVersion {
            field: "AllowAutoTopicCreation",
            version: 3
        })
    );
    // Its default (true) is what v3 means anyway, so that encodes.
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    assert!(request.encode_to_bytes(3).is_ok());
    // IncludeTopicAuthorizedOperations (v8+) is not ignorable either.
    let request = MetadataRequest {
        include_topic_authorized_operations: true,
        ..Default::default()
    };
    assert!(matches!(
        request.encode_to_bytes(7),
        Err(EncodeError::FieldNotInVersion { .. })
    ));
    // An ignorable field (ThrottleTimeMs, v3+) is simply left out of older versions.
    let response = MetadataResponse {
        throttle_time_ms: 100,
        ..Default::default()
    };
    assert_eq!(&response.encode_to_bytes(0).unwrap()[..], &[0, 0, 0, 0, 0, 0, 0, 0]);
    // ForgottenTopicsData (v7+, not ignorable) cannot be sent in v6.
    let fetch = FetchRequest {
        forgotten_topics_data: vec![ForgottenTopic::default()],
        ..Default::default()
    };
    assert_eq!(
        fetch.encode_to_bytes(6),
        Err(EncodeError::FieldNotInVersion {
            field: "ForgottenTopicsData",
            version: 6
        })
    );
}

#[test]
fn null_is_refused_where_a_version_is_not_nullable() {
    // Topics became nullable in v1; v0 has no way to say "all topics".
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    assert_eq!(
        request.encode_to_bytes(0),
        Err(EncodeError::NullNotAllowed {
            field: "Topics",
            version: 0
        })
    );
    // And a v0 frame with a -1 count is a decode error.
    let frame = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        MetadataRequest::decode_exact(frame, 0),
        Err(DecodeError::UnexpectedNull { field: "Topics" })
    );
}

#[test]
fn compact_encodings_and_tagged_fields_are_exact() {
    let request = FetchRequest {
        cluster_id: Some("c1".into()),
        replica_state: ReplicaState {
            replica_id: 3,
            replica_epoch: -1,
            ..Default::default()
        },
        max_wait_ms: 500,
        min_bytes: 1,
        topics: vec![FetchTopic {
            topic_id: sluice_protocol::Uuid([7; 16]),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 5,
                partition_max_bytes: 1024,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let bytes = request.encode_to_bytes(15).unwrap();
    let mut expected = vec![];
    expected.extend_from_slice(&500i32.to_be_bytes()); // MaxWaitMs (ReplicaId is gone in v15)
    expected.extend_from_slice(&1i32.to_be_bytes()); // MinBytes
    expected.extend_from_slice(&i32::MAX.to_be_bytes()); // MaxBytes default
    expected.push(0); // IsolationLevel
    expected.extend_from_slice(&0i32.to_be_bytes()); // SessionId
    expected.extend_from_slice(&(-1i32).to_be_bytes()); // SessionEpoch
    expected.push(2); // compact array: one topic
    expected.extend_from_slice(&[7; 16]); // TopicId
    expected.push(2); // one partition
    expected.extend_from_slice(&0i32.to_be_bytes()); // Partition
    expected.extend_from_slice(&(-1i32).to_be_bytes()); // CurrentLeaderEpoch
    expected.extend_from_slice(&5i64.to_be_bytes()); // FetchOffset
    expected.extend_from_slice(&(-1i32).to_be_bytes()); // LastFetchedEpoch
    expected.extend_from_slice(&(-1i64).to_be_bytes()); // LogStartOffset
    expected.extend_from_slice(&1024i32.to_be_bytes()); // PartitionMaxBytes
    expected.push(0); // partition tagged fields: none (defaults are not written)
    expected.push(0); // topic tagged fields
    expected.push(1); // ForgottenTopicsData: empty compact array
    expected.push(1); // RackId: empty compact string
    expected.push(2); // two tagged fields, ascending by tag
    expected.extend_from_slice(&[0, 3, 3, b'c', b'1']); // tag 0 ClusterId, size 3, compact "c1"
    expected.extend_from_slice(&[1, 13]); // tag 1 ReplicaState, size 13
    expected.extend_from_slice(&3i32.to_be_bytes());
    expected.extend_from_slice(&(-1i64).to_be_bytes());
    expected.push(0); // ReplicaState's own tagged fields
    assert_eq!(&bytes[..], &expected[..]);
    assert_eq!(FetchRequest::decode_exact(bytes, 15).unwrap(), request);
}

#[test]
fn unknown_tagged_fields_are_kept_not_rejected() {
    // A Metadata v12 request with no topics, and three tagged fields the schema does not know,
    // one of them between nothing and everything (tags 5, 9 and 300).
    let mut frame = vec![1u8]; // Topics: empty compact array
    frame.push(1); // AllowAutoTopicCreation
    frame.push(0); // IncludeTopicAuthorizedOperations
    frame.push(3); // three tagged fields
    frame.extend_from_slice(&[5, 2, 0xaa, 0xbb]);
    frame.extend_from_slice(&[9, 0]);
    frame.extend_from_slice(&[0xac, 0x02, 1, 0xcc]); // tag 300 as a two-byte varint
    let decoded = MetadataRequest::decode_exact(Bytes::from(frame.clone()), 12).unwrap();
    assert_eq!(
        decoded.unknown_tagged_fields.iter().collect::<Vec<_>>(),
        vec![
            RawTaggedField {
                tag: 5,
                data: Bytes::from_static(&[0xaa, 0xbb])
            },
            RawTaggedField {
                tag: 9,
                data: Bytes::new()
            },
            RawTaggedField {
                tag: 300,
                data: Bytes::from_static(&[0xcc])
            },
        ]
    );
    assert_eq!(&decoded.encode_to_bytes(12).unwrap()[..], &frame[..]);
    // A tagged field that claims more bytes than remain is an error, not an allocation.
    let bad = Bytes::from_static(&[1, 1, 0, 1, 5, 0x7f, 0]);
    assert!(matches!(
        MetadataRequest::decode_exact(bad, 12),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn classic_and_compact_strings() {
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some("ab".into()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    // v1: int32 count, int16-length string.
    assert_eq!(
        &request.encode_to_bytes(1).unwrap()[..],
        &[0, 0, 0, 1, 0, 2, b'a', b'b']
    );
    // v9: compact count (n+1), compact string (len+1), the topic's tagged fields, then
    // AllowAutoTopicCreation, IncludeClusterAuthorizedOperations, IncludeTopicAuthorizedOperations
    // and the request's tagged fields.
    assert_eq!(
        &request.encode_to_bytes(9).unwrap()[..],
        &[2, 3, b'a', b'b', 0, 1, 0, 0, 0]
    );
}

#[test]
fn records_are_slices_of_the_frame_not_copies() {
    use sluice_protocol::generated::ProduceRequest;
    use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
    let request = ProduceRequest {
        acks: 1,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(Bytes::from(vec![9u8; 4096])),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    for version in [3, 9, 12] {
        let frame = request.encode_to_bytes(version).unwrap();
        let decoded = ProduceRequest::decode_exact(frame.clone(), version).unwrap();
        let records = decoded.topic_data[0].partition_data[0].records.as_ref().unwrap();
        let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        assert!(
            frame_range.contains(&(records.as_ptr() as usize)),
            "v{version}: records were copied"
        );
        assert_eq!(records.len(), 4096);
    }
}

//! Whole request and response frames: header versions, dispatch by API key, refusals.

use bytes::Bytes;
use sluice_protocol::DecodeError;
use sluice_protocol::frame::{
    decode_request, decode_response, encode_request, encode_response, encode_response_gathered,
};
use sluice_protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
use sluice_protocol::generated::{
    ApiVersionsRequest, ApiVersionsResponse, FetchResponse, MetadataRequest, RequestBody, RequestHeader, ResponseBody,
};

#[test]
fn unknown_api_keys_and_versions_are_errors() {
    let unknown_key = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert_eq!(
        decode_request(unknown_key),
        Err(DecodeError::UnknownApiKey { api_key: 0x7f00 })
    );
    let bad_version = Bytes::from_static(&[0, 3, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(matches!(
        decode_request(bad_version),
        Err(DecodeError::UnsupportedVersion { version: 0x7f00, .. })
    ));
}

#[test]
fn flexible_requests_use_header_v2_with_a_classic_client_id() {
    let header = RequestHeader {
        request_api_key: 18,
        request_api_version: 3,
        correlation_id: 42,
        client_id: Some("sluice".into()),
        ..Default::default()
    };
    let body = RequestBody::ApiVersions(ApiVersionsRequest {
        client_software_name: "sluice-test".into(),
        client_software_version: "1.0".into(),
        ..Default::default()
    });
    let frame = encode_request(&header, &body).unwrap();
    // Length prefix, then key 18, version 3, correlation id 42, client id with an int16 length
    // (never compact, even in header v2), then the empty tagged-field section.
    assert_eq!(&frame[..4], &((frame.len() - 4) as i32).to_be_bytes());
    assert_eq!(&frame[4..18], &[0, 18, 0, 3, 0, 0, 0, 42, 0, 6, b's', b'l', b'u', b'i']);
    assert_eq!(frame[20], 0, "empty tagged fields after the client id");
    let decoded = decode_request(Bytes::copy_from_slice(&frame[4..])).unwrap();
    assert_eq!(decoded.header, header);
    assert_eq!(decoded.body, body);
}

#[test]
fn old_requests_use_header_v1() {
    let header = RequestHeader {
        request_api_key: 3,
        request_api_version: 1,
        correlation_id: 1,
        client_id: None,
        ..Default::default()
    };
    let body = RequestBody::Metadata(MetadataRequest {
        topics: None,
        ..Default::default()
    });
    let frame = encode_request(&header, &body).unwrap();
    // Header v1 has no tagged fields: key, version, correlation id, null client id, then the
    // null topic array (-1 means all topics in v1+).
    assert_eq!(
        &frame[4..],
        &[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
}

#[test]
fn api_versions_responses_always_use_header_v0() {
    let body = ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: 35,
        ..Default::default()
    });
    let frame = encode_response(9, &body, 3).unwrap();
    // Correlation id straight after the length, and no tagged-field byte for the header, even
    // though ApiVersions v3 is flexible.
    assert_eq!(&frame[4..8], &[0, 0, 0, 9]);
    assert_eq!(&frame[8..10], &[0, 35]);
    let (header, decoded) = decode_response(Bytes::copy_from_slice(&frame[4..]), 18, 3).unwrap();
    assert_eq!(header.correlation_id, 9);
    assert_eq!(decoded, body);
}

#[test]
fn trailing_bytes_after_a_request_are_an_error() {
    let frame = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
    assert!(matches!(
        decode_request(frame),
        Err(DecodeError::TrailingBytes { remaining: 1, .. })
    ));
}

/// A Fetch response whose partitions carry records of the given sizes (`None`: null records).
fn fetch_response(sizes: &[Option<usize>]) -> (FetchResponse, Vec<Bytes>) {
    let mut all = Vec::new();
    let partitions = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| {
            let records = size.map(|n| Bytes::from((0..n).map(|b| (b * 7 + i) as u8).collect::<Vec<u8>>()));
            all.extend(records.clone());
            PartitionData {
                partition_index: i as i32,
                high_watermark: 10 * i as i64,
                records,
                ..Default::default()
            }
        })
        .collect();
    let response = FetchResponse {
        session_id: 0,
        responses: vec![FetchableTopicResponse {
            topic: "t".into(),
            partitions,
            ..Default::default()
        }],
        ..Default::default()
    };
    (response, all)
}

#[test]
fn gathered_fetch_responses_equal_contiguous_ones_in_every_version() {
    // Sizes around the threshold (100), empty and null records, and a large compact length.
    let sizes = [Some(99), Some(100), None, Some(0), Some(20_000), Some(1)];
    let (response, records) = fetch_response(&sizes);
    let body = ResponseBody::Fetch(response);
    for version in 4..=18 {
        let whole = encode_response(77, &body, version).unwrap();
        let gathered = encode_response_gathered(77, &body, version, 100).unwrap();
        assert_eq!(&gathered.concat()[..], &whole[..], "Fetch v{version}");
        assert_eq!(gathered.len(), whole.len());
        // The records at or above the threshold are parts of their own, not copies.
        for big in records.iter().filter(|r| r.len() >= 100) {
            assert!(
                gathered
                    .parts
                    .iter()
                    .any(|p| p.as_ptr() == big.as_ptr() && p.len() == big.len()),
                "Fetch v{version}: a {}-byte record set was copied",
                big.len()
            );
        }
        assert_eq!(gathered.parts.len(), 5, "Fetch v{version}: {:?}", gathered.parts);
    }
}

#[test]
fn gathering_below_the_threshold_yields_one_part_and_does_not_leak() {
    let (response, _) = fetch_response(&[Some(50), Some(60)]);
    let body = ResponseBody::Fetch(response);
    let gathered = encode_response_gathered(1, &body, 12, 1 << 20).unwrap();
    assert_eq!(gathered.parts.len(), 1);
    assert_eq!(&gathered.parts[0][..], &encode_response(1, &body, 12).unwrap()[..]);
    // After a gathered encode, plain encoding copies everything again.
    let (big, _) = fetch_response(&[Some(5_000)]);
    let big = ResponseBody::Fetch(big);
    let _ = encode_response_gathered(1, &big, 12, 1).unwrap();
    let plain = encode_response(1, &big, 12).unwrap();
    assert!(plain.len() > 5_000);
    let (_, decoded) = decode_response(Bytes::copy_from_slice(&plain[4..]), 1, 12).unwrap();
    assert_eq!(decoded, big);
}

#[test]
fn a_failed_gathered_encode_is_an_error() {
    // Fetch v4 cannot carry a preferred read replica; the error comes back and gathering ends.
    let (mut response, _) = fetch_response(&[Some(5_000)]);
    response.responses[0].partitions[0].preferred_read_replica = 3;
    let body = ResponseBody::Fetch(response);
    assert!(encode_response_gathered(1, &body, 4, 1).is_err());
    let (ok, _) = fetch_response(&[Some(5_000)]);
    let ok = ResponseBody::Fetch(ok);
    assert!(encode_response(1, &ok, 4).unwrap().len() > 5_000);
}

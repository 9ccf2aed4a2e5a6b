//! Group admin calls against a scripted broker: FindCoordinator (pre-batching v3) and
//! DescribeGroups answer coordinator errors first, which the client retries against a freshly
//! looked-up coordinator, a bounded number of times; the member assignment bytes decode.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_client::{Client, ClientConfig};
use sluice_protocol::ErrorCode;
use sluice_protocol::frame::{decode_request, encode_response};
use sluice_protocol::generated::api_versions_response::ApiVersion;
use sluice_protocol::generated::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use sluice_protocol::generated::{
    ApiVersionsResponse, DescribeGroupsResponse, FindCoordinatorResponse, RequestBody, ResponseBody,
};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the scripted broker answers and what it was asked.
struct Script {
    /// Error codes for successive FindCoordinator requests (then: no error).
    find: Vec<i16>,
    /// Error codes for successive DescribeGroups requests (then: a Stable group).
    describe: Vec<i16>,
    /// (api key, version) of every request, to count lookups.
    requests: Vec<(i16, i16)>,
}

/// A consumer protocol assignment of `orders` partitions 0 and 2, with user data.
fn assignment() -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    b.put_i32(1);
    b.put_i16(6);
    b.put_slice(b"orders");
    b.put_i32(2);
    b.put_i32(0);
    b.put_i32(2);
    b.put_i32(3);
    b.put_slice(b"abc");
    b.freeze()
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
                    script
                        .lock()
                        .unwrap()
                        .requests
                        .push((request.header.request_api_key, version));
                    let body = match request.body {
                        RequestBody::ApiVersions(_) => {
                            // ApiVersions, FindCoordinator up to v3 (one key per request) and
                            // DescribeGroups up to v5.
                            let api_keys = [(18, 0, 3), (10, 0, 3), (15, 0, 5)]
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
                        RequestBody::FindCoordinator(r) => {
                            assert_eq!((r.key.as_str(), r.key_type), ("billing", 0));
                            let code = {
                                let mut script = script.lock().unwrap();
                                if script.find.is_empty() {
                                    0
                                } else {
                                    script.find.remove(0)
                                }
                            };
                            ResponseBody::FindCoordinator(FindCoordinatorResponse {
                                error_code: code,
                                node_id: if code == 0 { 3 } else { -1 },
                                host: if code == 0 {
                                    address.ip().to_string()
                                } else {
                                    String::new()
                                },
                                port: if code == 0 { i32::from(address.port()) } else { -1 },
                                ..Default::default()
                            })
                        }
                        RequestBody::DescribeGroups(r) => {
                            let code = {
                                let mut script = script.lock().unwrap();
                                if script.describe.is_empty() {
                                    0
                                } else {
                                    script.describe.remove(0)
                                }
                            };
                            ResponseBody::DescribeGroups(DescribeGroupsResponse {
                                groups: vec![DescribedGroup {
                                    error_code: code,
                                    group_id: r.groups[0].clone(),
                                    group_state: if code == 0 { "Stable".into() } else { String::new() },
                                    protocol_type: "consumer".into(),
                                    protocol_data: "range".into(),
                                    members: if code == 0 {
                                        vec![DescribedGroupMember {
                                            member_id: "m-1".into(),
                                            client_id: "app".into(),
                                            client_host: "/10.0.0.9".into(),
                                            member_assignment: assignment(),
                                            ..Default::default()
                                        }]
                                    } else {
                                        Vec::new()
                                    },
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

fn count(script: &Mutex<Script>, key: i16) -> usize {
    script.lock().unwrap().requests.iter().filter(|r| r.0 == key).count()
}

#[tokio::test]
async fn coordinator_errors_are_retried_against_a_fresh_lookup() {
    let script = Arc::new(Mutex::new(Script {
        find: vec![ErrorCode::CoordinatorNotAvailable.code()],
        describe: vec![
            ErrorCode::NotCoordinator.code(),
            ErrorCode::CoordinatorLoadInProgress.code(),
        ],
        requests: Vec::new(),
    }));
    let address = scripted_broker(script.clone()).await;
    let client = Client::connect(ClientConfig::new(&address)).await.unwrap();
    let d = client.describe_group("billing").await.unwrap();
    assert_eq!(d.state, "Stable");
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].client_host, "/10.0.0.9");
    assert_eq!(d.members[0].assignment, vec![("orders".to_owned(), vec![0, 2])]);
    // One refused lookup, then one lookup per DescribeGroups attempt (three attempts).
    assert_eq!(count(&script, 10), 4);
    assert_eq!(count(&script, 15), 3);
    assert!(
        script
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.0 == 10)
            .all(|r| r.1 == 3),
        "FindCoordinator negotiated to the broker's v3"
    );
}

#[tokio::test]
async fn a_coordinator_that_never_settles_fails_after_bounded_retries() {
    let script = Arc::new(Mutex::new(Script {
        find: Vec::new(),
        describe: vec![ErrorCode::NotCoordinator.code(); 100],
        requests: Vec::new(),
    }));
    let address = scripted_broker(script.clone()).await;
    let client = Client::connect(ClientConfig::new(&address)).await.unwrap();
    let e = client.describe_group("billing").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotCoordinator));
    assert!(e.to_string().ends_with("(NOT_COORDINATOR)"), "{e}");
    // The first attempt and ten retries, no more.
    assert_eq!(count(&script, 15), 11);
}

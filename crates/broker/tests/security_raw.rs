//! The authentication gate and the security APIs in raw frames: SASL in both handshake versions
//! (v0 with raw tokens, v1 with SaslAuthenticate in every version), KIP-368 re-authentication and
//! session expiry, the SASL APIs on a listener without SASL, the ACL APIs in every version with
//! and without an authorizer, and the SCRAM credential APIs' refusals.

mod common;

use bytes::Bytes;
use common::{call, connect, start_with};
use sluice_broker::authenticate::SaslSettings;
use sluice_broker::{SecurityProtocol, Server};
use sluice_protocol::ErrorCode;
use sluice_protocol::frame::encode_request;
use sluice_protocol::generated::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use sluice_protocol::generated::create_acls_request::AclCreation;
use sluice_protocol::generated::delete_acls_request::DeleteAclsFilter;
use sluice_protocol::generated::describe_user_scram_credentials_request::UserName;
use sluice_protocol::generated::{
    AlterUserScramCredentialsRequest, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest,
    DescribeUserScramCredentialsRequest, MetadataRequest, RequestBody, RequestHeader, ResponseBody,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use sluice_security::KafkaPrincipal;
use sluice_security::acl::AuthorizerConfig;
use sluice_security::plain::PlainCredentials;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const METADATA: i16 = 3;
const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;

fn sasl_settings(reauth_ms: i64) -> Arc<SaslSettings> {
    let mut users = PlainCredentials::new();
    users.insert("alice", "alice-secret");
    users.insert("bob", "bob-secret");
    Arc::new(SaslSettings {
        mechanisms: vec!["PLAIN".into()],
        plain: Some(Arc::new(users)),
        oauth: None,
        max_receive_size: 524_288,
        reauth_ms,
        failed_delay: Duration::from_millis(200),
    })
}

/// A broker whose one listener is SASL_PLAINTEXT with PLAIN users alice and bob.
async fn sasl_broker(dir: &std::path::Path, reauth_ms: i64) -> Server {
    start_with(dir, |s| {
        s.listeners[0].security_protocol = SecurityProtocol::SaslPlaintext;
        s.listeners[0].sasl = Some(sasl_settings(reauth_ms));
    })
    .await
}

fn plain_token(user: &str, password: &str) -> Bytes {
    Bytes::from(format!("\0{user}\0{password}").into_bytes())
}

async fn handshake(stream: &mut TcpStream, version: i16) -> i16 {
    let body = RequestBody::SaslHandshake(SaslHandshakeRequest {
        mechanism: "PLAIN".into(),
    });
    match call(stream, SASL_HANDSHAKE, version, body).await {
        ResponseBody::SaslHandshake(r) => {
            assert_eq!(r.mechanisms, vec!["PLAIN".to_string()]);
            r.error_code
        }
        other => panic!("{other:?}"),
    }
}

async fn authenticate(stream: &mut TcpStream, version: i16, token: Bytes) -> (i16, Option<String>, i64) {
    let body = RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
        auth_bytes: token,
        ..Default::default()
    });
    match call(stream, SASL_AUTHENTICATE, version, body).await {
        ResponseBody::SaslAuthenticate(r) => (r.error_code, r.error_message, r.session_lifetime_ms),
        other => panic!("{other:?}"),
    }
}

async fn metadata_works(stream: &mut TcpStream) -> bool {
    matches!(
        call(stream, METADATA, 12, RequestBody::Metadata(MetadataRequest::default())).await,
        ResponseBody::Metadata(m) if !m.brokers.is_empty()
    )
}

/// Sends a request and reports whether the broker closed the connection instead of answering.
async fn closes_on(stream: &mut TcpStream, key: i16, version: i16, body: RequestBody) -> bool {
    let header = RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 9,
        client_id: Some("raw".into()),
        ..Default::default()
    };
    let frame = encode_request(&header, &body).unwrap();
    if stream.write_all(&frame).await.is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn sasl_v1_authenticates_in_every_saslauthenticate_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = sasl_broker(dir.path(), 0).await;
    for version in 0..=2 {
        let mut s = connect(&server).await;
        assert_eq!(handshake(&mut s, 1).await, 0);
        let (code, message, lifetime) = authenticate(&mut s, version, plain_token("alice", "alice-secret")).await;
        assert_eq!((code, message, lifetime), (0, None, 0), "v{version}");
        assert!(metadata_works(&mut s).await, "v{version}");
    }
}

#[tokio::test]
async fn sasl_v0_handshake_is_followed_by_raw_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = sasl_broker(dir.path(), 0).await;
    let mut s = connect(&server).await;
    assert_eq!(handshake(&mut s, 0).await, 0);
    let token = plain_token("bob", "bob-secret");
    s.write_all(&(token.len() as i32).to_be_bytes()).await.unwrap();
    s.write_all(&token).await.unwrap();
    // PLAIN's server answer is empty: a raw frame of length 0, no Kafka header.
    assert_eq!(s.read_i32().await.unwrap(), 0);
    assert!(metadata_works(&mut s).await);

    // A wrong password in a raw exchange is closed without an answer, as Kafka does.
    let mut s = connect(&server).await;
    assert_eq!(handshake(&mut s, 0).await, 0);
    let token = plain_token("bob", "wrong");
    s.write_all(&(token.len() as i32).to_be_bytes()).await.unwrap();
    s.write_all(&token).await.unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(s.read(&mut byte).await.unwrap_or(0), 0);
}

#[tokio::test]
async fn failed_authentication_is_answered_late_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = sasl_broker(dir.path(), 0).await;
    let mut s = connect(&server).await;
    assert_eq!(handshake(&mut s, 1).await, 0);
    let started = Instant::now();
    let (code, message, _) = authenticate(&mut s, 2, plain_token("alice", "wrong")).await;
    assert_eq!(code, ErrorCode::SaslAuthenticationFailed.code());
    assert!(message.unwrap().contains("Invalid username or password"));
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "connection.failed.authentication.delay.ms"
    );
    let mut byte = [0u8; 1];
    assert_eq!(s.read(&mut byte).await.unwrap_or(0), 0, "closed after the failure");
}

#[tokio::test]
async fn only_the_sasl_apis_and_apiversions_are_served_before_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let server = sasl_broker(dir.path(), 0).await;
    let mut s = connect(&server).await;
    assert!(closes_on(&mut s, METADATA, 12, RequestBody::Metadata(MetadataRequest::default())).await);
    let mut s = connect(&server).await;
    let versions = call(&mut s, 18, 2, RequestBody::ApiVersions(Default::default())).await;
    assert!(matches!(versions, ResponseBody::ApiVersions(v) if v.error_code == 0));
    // A mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM with the enabled list.
    let body = RequestBody::SaslHandshake(SaslHandshakeRequest {
        mechanism: "GSSAPI".into(),
    });
    match call(&mut s, SASL_HANDSHAKE, 1, body).await {
        ResponseBody::SaslHandshake(r) => {
            assert_eq!(r.error_code, ErrorCode::UnsupportedSaslMechanism.code());
            assert_eq!(r.mechanisms, vec!["PLAIN".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_frame_over_the_pre_authentication_limit_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = sasl_broker(dir.path(), 0).await;
    let mut s = connect(&server).await;
    s.write_all(&(600_000i32).to_be_bytes()).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte))
        .await
        .unwrap();
    assert_eq!(read.unwrap_or(0), 0);
}

#[tokio::test]
async fn reauthentication_keeps_the_principal_and_sessions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = sasl_broker(dir.path(), 300).await;
    let mut s = connect(&server).await;
    assert_eq!(handshake(&mut s, 1).await, 0);
    let (code, _, lifetime) = authenticate(&mut s, 1, plain_token("alice", "alice-secret")).await;
    assert_eq!(
        (code, lifetime),
        (0, 300),
        "connections.max.reauth.ms is the session lifetime"
    );
    // Re-authenticating as the same principal renews the session.
    assert_eq!(handshake(&mut s, 1).await, 0);
    assert_eq!(authenticate(&mut s, 1, plain_token("alice", "alice-secret")).await.0, 0);
    assert!(metadata_works(&mut s).await);
    // Another principal on the same connection is refused.
    assert_eq!(handshake(&mut s, 1).await, 0);
    let (code, message, _) = authenticate(&mut s, 1, plain_token("bob", "bob-secret")).await;
    assert_eq!(code, ErrorCode::SaslAuthenticationFailed.code());
    assert!(message.unwrap().contains("change principals"));

    // A session past its lifetime is closed at its next request.
    let mut s = connect(&server).await;
    assert_eq!(handshake(&mut s, 1).await, 0);
    assert_eq!(authenticate(&mut s, 2, plain_token("bob", "bob-secret")).await.0, 0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(closes_on(&mut s, METADATA, 12, RequestBody::Metadata(MetadataRequest::default())).await);
}

#[tokio::test]
async fn sasl_apis_on_a_listener_without_sasl_are_illegal_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let mut s = connect(&server).await;
    for version in 0..=1 {
        let body = RequestBody::SaslHandshake(SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
        });
        match call(&mut s, SASL_HANDSHAKE, version, body).await {
            ResponseBody::SaslHandshake(r) => assert_eq!(r.error_code, ErrorCode::IllegalSaslState.code()),
            other => panic!("{other:?}"),
        }
    }
    for version in 0..=2 {
        let (code, _, _) = authenticate(&mut s, version, plain_token("a", "b")).await;
        assert_eq!(code, ErrorCode::IllegalSaslState.code());
    }
}

fn creation(name: &str, pattern: i8) -> AclCreation {
    AclCreation {
        resource_type: 2,
        resource_name: name.into(),
        resource_pattern_type: pattern,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: 3,
        permission_type: 3,
        ..Default::default()
    }
}

fn any_filter_describe() -> DescribeAclsRequest {
    DescribeAclsRequest {
        resource_type_filter: 1,
        resource_name_filter: None,
        pattern_type_filter: 1,
        principal_filter: None,
        host_filter: None,
        operation: 1,
        permission_type: 1,
        ..Default::default()
    }
}

#[tokio::test]
async fn acl_apis_without_an_authorizer_are_security_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let mut s = connect(&server).await;
    for v in 0..=3 {
        let body = RequestBody::CreateAcls(CreateAclsRequest {
            creations: vec![creation("t", 3)],
            ..Default::default()
        });
        match call(&mut s, 30, v, body).await {
            ResponseBody::CreateAcls(r) => assert_eq!(r.results[0].error_code, ErrorCode::SecurityDisabled.code()),
            other => panic!("{other:?}"),
        }
        let mut filter = any_filter_describe();
        if v == 0 {
            filter.pattern_type_filter = 3; // v0 has no pattern type: literal
        }
        match call(&mut s, 29, v, RequestBody::DescribeAcls(filter)).await {
            ResponseBody::DescribeAcls(r) => assert_eq!(r.error_code, ErrorCode::SecurityDisabled.code()),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn acl_apis_round_trip_in_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |s| {
        s.authorizer = Some(AuthorizerConfig {
            super_users: vec![KafkaPrincipal::anonymous()],
            allow_everyone_if_no_acl_found: false,
        });
    })
    .await;
    let mut s = connect(&server).await;
    for v in 0..=3i16 {
        let name = format!("orders-v{v}");
        // v0 knows only literal patterns; v1+ also prefixed.
        let pattern = if v == 0 { 3 } else { 4 };
        let body = RequestBody::CreateAcls(CreateAclsRequest {
            creations: vec![creation(&name, pattern), creation("", 3)],
            ..Default::default()
        });
        match call(&mut s, 30, v, body).await {
            ResponseBody::CreateAcls(r) => {
                assert_eq!(r.results[0].error_code, 0, "v{v}");
                assert_eq!(
                    r.results[1].error_code,
                    ErrorCode::InvalidRequest.code(),
                    "v{v}: empty name"
                );
            }
            other => panic!("{other:?}"),
        }
        let mut filter = any_filter_describe();
        filter.resource_name_filter = Some(name.clone());
        if v == 0 {
            filter.pattern_type_filter = 3;
        }
        match call(&mut s, 29, v, RequestBody::DescribeAcls(filter)).await {
            ResponseBody::DescribeAcls(r) => {
                assert_eq!(r.error_code, 0);
                assert_eq!(r.resources.len(), 1, "v{v}");
                assert_eq!(r.resources[0].resource_name, name);
                assert_eq!(r.resources[0].acls[0].principal, "User:alice");
            }
            other => panic!("{other:?}"),
        }
        let body = RequestBody::DeleteAcls(DeleteAclsRequest {
            filters: vec![DeleteAclsFilter {
                resource_type_filter: 2,
                resource_name_filter: Some(name.clone()),
                pattern_type_filter: if v == 0 { 3 } else { 1 },
                principal_filter: None,
                host_filter: None,
                operation: 1,
                permission_type: 1,
                ..Default::default()
            }],
            ..Default::default()
        });
        match call(&mut s, 31, v, body).await {
            ResponseBody::DeleteAcls(r) => {
                assert_eq!(r.filter_results[0].error_code, 0);
                assert_eq!(r.filter_results[0].matching_acls.len(), 1, "v{v}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn scram_credential_apis_refuse_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let mut s = connect(&server).await;
    let upsert = |name: &str, mechanism: i8, iterations: i32| ScramCredentialUpsertion {
        name: name.into(),
        mechanism,
        iterations,
        salt: Bytes::from_static(b"salt"),
        salted_password: Bytes::from(vec![7u8; if mechanism == 2 { 64 } else { 32 }]),
        ..Default::default()
    };
    let body = RequestBody::AlterUserScramCredentials(AlterUserScramCredentialsRequest {
        deletions: vec![ScramCredentialDeletion {
            name: "ghost".into(),
            mechanism: 1,
            ..Default::default()
        }],
        upsertions: vec![
            upsert("ok", 2, 4096),
            upsert("few", 1, 100),
            upsert("odd", 9, 4096),
            upsert("twice", 1, 4096),
            upsert("twice", 2, 4096),
        ],
        ..Default::default()
    });
    let codes: Vec<(String, i16)> = match call(&mut s, 51, 0, body).await {
        ResponseBody::AlterUserScramCredentials(r) => r.results.into_iter().map(|r| (r.user, r.error_code)).collect(),
        other => panic!("{other:?}"),
    };
    let code = |u: &str| codes.iter().find(|(n, _)| n == u).map(|(_, c)| *c);
    assert_eq!(code("ghost"), Some(ErrorCode::ResourceNotFound.code()));
    assert_eq!(code("ok"), Some(0));
    assert_eq!(code("few"), Some(ErrorCode::UnacceptableCredential.code()));
    assert_eq!(code("odd"), Some(ErrorCode::UnsupportedSaslMechanism.code()));
    assert_eq!(code("twice"), Some(ErrorCode::DuplicateResource.code()));
    let body = RequestBody::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest {
        users: Some(vec![
            UserName {
                name: "ok".into(),
                ..Default::default()
            },
            UserName {
                name: "few".into(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    });
    match call(&mut s, 50, 0, body).await {
        ResponseBody::DescribeUserScramCredentials(r) => {
            assert_eq!(r.results[0].credential_infos.len(), 1);
            assert_eq!(r.results[0].credential_infos[0].mechanism, 2);
            assert_eq!(r.results[0].credential_infos[0].iterations, 4096);
            assert_eq!(r.results[1].error_code, ErrorCode::ResourceNotFound.code());
        }
        other => panic!("{other:?}"),
    }
}

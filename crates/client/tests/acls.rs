//! The ACL admin calls against a scripted broker that keeps ACLs in memory and matches filters
//! with Kafka's rules (`AclBindingFilter::matches`): what the client sends in CreateAcls,
//! DescribeAcls and DeleteAcls, and how it reads the answers, at the newest versions.

use bytes::Bytes;
use sluice_client::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, Client, ClientConfig, PatternType, ResourceType,
};
use sluice_protocol::frame::{decode_request, encode_response};
use sluice_protocol::generated::api_versions_response::ApiVersion;
use sluice_protocol::generated::create_acls_response::AclCreationResult;
use sluice_protocol::generated::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use sluice_protocol::generated::describe_acls_response::{AclDescription, DescribeAclsResource};
use sluice_protocol::generated::{
    ApiVersionsResponse, CreateAclsResponse, DeleteAclsResponse, DescribeAclsResponse, RequestBody, ResponseBody,
};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn filter_of(
    resource_type: i8,
    name: Option<String>,
    pattern: i8,
    principal: Option<String>,
    host: Option<String>,
    operation: i8,
    permission: i8,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: name,
        pattern_type: PatternType::from_code(pattern),
        principal,
        host,
        operation: AclOperation::from_code(operation),
        permission: AclPermissionType::from_code(permission),
    }
}

async fn acl_broker(acls: Arc<Mutex<Vec<AclBinding>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let acls = acls.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(size) = s.read_i32().await else { return };
                    let mut buf = vec![0; size as usize];
                    s.read_exact(&mut buf).await.unwrap();
                    let request = decode_request(Bytes::from(buf)).unwrap();
                    let version = request.header.request_api_version;
                    let body = match request.body {
                        RequestBody::ApiVersions(_) => ResponseBody::ApiVersions(ApiVersionsResponse {
                            api_keys: [(18, 0, 3), (29, 0, 3), (30, 0, 3), (31, 0, 3)]
                                .iter()
                                .map(|&(api_key, min_version, max_version)| ApiVersion {
                                    api_key,
                                    min_version,
                                    max_version,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        }),
                        RequestBody::CreateAcls(r) => {
                            let mut stored = acls.lock().unwrap();
                            let results = r
                                .creations
                                .into_iter()
                                .map(|c| {
                                    if c.principal.contains(':') {
                                        stored.push(AclBinding::new(
                                            ResourceType::from_code(c.resource_type),
                                            c.resource_name,
                                            PatternType::from_code(c.resource_pattern_type),
                                            c.principal,
                                            c.host,
                                            AclOperation::from_code(c.operation),
                                            AclPermissionType::from_code(c.permission_type),
                                        ));
                                        AclCreationResult::default()
                                    } else {
                                        AclCreationResult {
                                            error_code: 42, // INVALID_REQUEST
                                            error_message: Some("Could not parse principal".into()),
                                            ..Default::default()
                                        }
                                    }
                                })
                                .collect();
                            ResponseBody::CreateAcls(CreateAclsResponse {
                                results,
                                ..Default::default()
                            })
                        }
                        RequestBody::DescribeAcls(r) => {
                            let f = filter_of(
                                r.resource_type_filter,
                                r.resource_name_filter,
                                r.pattern_type_filter,
                                r.principal_filter,
                                r.host_filter,
                                r.operation,
                                r.permission_type,
                            );
                            let resources = acls
                                .lock()
                                .unwrap()
                                .iter()
                                .filter(|b| f.matches(b))
                                .map(|b| DescribeAclsResource {
                                    resource_type: b.resource_type.code(),
                                    resource_name: b.resource_name.clone(),
                                    pattern_type: b.pattern_type.code(),
                                    acls: vec![AclDescription {
                                        principal: b.principal.clone(),
                                        host: b.host.clone(),
                                        operation: b.operation.code(),
                                        permission_type: b.permission.code(),
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                })
                                .collect();
                            ResponseBody::DescribeAcls(DescribeAclsResponse {
                                resources,
                                ..Default::default()
                            })
                        }
                        RequestBody::DeleteAcls(r) => {
                            let mut stored = acls.lock().unwrap();
                            let filter_results = r
                                .filters
                                .into_iter()
                                .map(|f| {
                                    let f = filter_of(
                                        f.resource_type_filter,
                                        f.resource_name_filter,
                                        f.pattern_type_filter,
                                        f.principal_filter,
                                        f.host_filter,
                                        f.operation,
                                        f.permission_type,
                                    );
                                    let (gone, kept): (Vec<AclBinding>, Vec<AclBinding>) =
                                        stored.drain(..).partition(|b| f.matches(b));
                                    *stored = kept;
                                    DeleteAclsFilterResult {
                                        matching_acls: gone
                                            .into_iter()
                                            .map(|b| DeleteAclsMatchingAcl {
                                                resource_type: b.resource_type.code(),
                                                resource_name: b.resource_name,
                                                pattern_type: b.pattern_type.code(),
                                                principal: b.principal,
                                                host: b.host,
                                                operation: b.operation.code(),
                                                permission_type: b.permission.code(),
                                                ..Default::default()
                                            })
                                            .collect(),
                                        ..Default::default()
                                    }
                                })
                                .collect();
                            ResponseBody::DeleteAcls(DeleteAclsResponse {
                                filter_results,
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

fn topic_acl(name: &str, pattern: PatternType, principal: &str, operation: AclOperation) -> AclBinding {
    AclBinding::new(
        ResourceType::Topic,
        name,
        pattern,
        principal,
        "*",
        operation,
        AclPermissionType::Allow,
    )
}

#[tokio::test]
async fn create_describe_delete_acls() {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let address = acl_broker(stored.clone()).await;
    let client = Client::connect(ClientConfig::new(&address)).await.unwrap();

    let read = topic_acl("orders", PatternType::Literal, "User:alice", AclOperation::Read);
    let write = topic_acl("ord", PatternType::Prefixed, "User:bob", AclOperation::Write);
    client.create_acls(&[read.clone(), write.clone()]).await.unwrap();
    assert_eq!(*stored.lock().unwrap(), vec![read.clone(), write.clone()]);

    // A refused binding is named in the error.
    let err = client
        .create_acls(&[topic_acl("x", PatternType::Literal, "alice", AclOperation::Read)])
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "Could not parse principal (INVALID_REQUEST)");

    let all = client.describe_acls(&AclBindingFilter::ANY).await.unwrap();
    assert_eq!(all, vec![read.clone(), write.clone()]);
    // MATCH finds the prefixed ACL that covers the name too.
    let matching = AclBindingFilter {
        resource_type: ResourceType::Topic,
        resource_name: Some("orders".into()),
        pattern_type: PatternType::Match,
        ..AclBindingFilter::ANY
    };
    assert_eq!(client.describe_acls(&matching).await.unwrap().len(), 2);

    let only_bob = AclBindingFilter {
        principal: Some("User:bob".into()),
        ..AclBindingFilter::ANY
    };
    assert_eq!(client.delete_acls(&[only_bob]).await.unwrap(), vec![write]);
    assert_eq!(client.describe_acls(&AclBindingFilter::ANY).await.unwrap(), vec![read]);
}

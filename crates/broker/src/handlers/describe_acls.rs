//! DescribeAcls (key 29): the ACLs matching a filter, grouped by resource pattern. Needs DESCRIBE
//! on the cluster; an invalid filter (UNKNOWN values) is INVALID_REQUEST; without an authorizer,
//! SECURITY_DISABLED.

use super::Output;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_acls_response::{AclDescription, DescribeAclsResource};
use sluice_protocol::generated::{DescribeAclsRequest, DescribeAclsResponse};
use sluice_security::acl::{
    AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType, validate_filter,
};

pub const API_KEY: i16 = 29;
/// Versions served: v0 (pre-4.0 schemas; literal patterns) to v3.
pub const VERSIONS: (i16, i16) = (0, 3);

pub fn handle(ctx: &RequestContext<'_>, req: DescribeAclsRequest) -> Output {
    let refuse = |code: ErrorCode, message: String| {
        Output::respond(DescribeAclsResponse {
            error_code: code.code(),
            error_message: Some(message),
            ..Default::default()
        })
    };
    if !ctx.broker.acls.enabled() {
        return refuse(ErrorCode::SecurityDisabled, "No Authorizer is configured.".into());
    }
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return refuse(
            ErrorCode::ClusterAuthorizationFailed,
            "Cluster authorization failed.".into(),
        );
    }
    let filter = AclBindingFilter {
        resource_type: ResourceType::from_code(req.resource_type_filter),
        resource_name: req.resource_name_filter.clone(),
        pattern_type: if ctx.version() == 0 {
            PatternType::Literal
        } else {
            PatternType::from_code(req.pattern_type_filter)
        },
        principal: req.principal_filter.clone(),
        host: req.host_filter.clone(),
        operation: AclOperation::from_code(req.operation),
        permission: AclPermissionType::from_code(req.permission_type),
    };
    if let Err(e) = validate_filter(&filter) {
        return refuse(ErrorCode::InvalidRequest, e.to_string());
    }
    let Some(authorizer) = ctx.broker.acls.current() else {
        return refuse(ErrorCode::SecurityDisabled, "No Authorizer is configured.".into());
    };
    // `describe` returns bindings sorted by resource pattern, so equal patterns are adjacent.
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for b in authorizer.describe(&filter) {
        let same = resources.last().is_some_and(|r| {
            r.resource_type == b.resource_type.code()
                && r.resource_name == b.resource_name
                && r.pattern_type == b.pattern_type.code()
        });
        if !same {
            resources.push(DescribeAclsResource {
                resource_type: b.resource_type.code(),
                resource_name: b.resource_name.clone(),
                pattern_type: b.pattern_type.code(),
                ..Default::default()
            });
        }
        if let Some(r) = resources.last_mut() {
            r.acls.push(AclDescription {
                principal: b.principal,
                host: b.host,
                operation: b.operation.code(),
                permission_type: b.permission.code(),
                ..Default::default()
            });
        }
    }
    Output::respond(DescribeAclsResponse {
        resources,
        ..Default::default()
    })
}

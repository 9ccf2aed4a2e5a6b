//! DeleteAcls (key 31): remove the ACLs matching each filter and say which. Needs ALTER on the
//! cluster; an invalid filter is INVALID_REQUEST for that filter; the removals of all filters are
//! committed together and the authorizer rebuilt before the answer.

use super::Output;
use crate::acls::entry_of;
use crate::session::RequestContext;
use sluice_metadata::MetadataRecord;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use sluice_protocol::generated::{DeleteAclsRequest, DeleteAclsResponse};
use sluice_security::acl::{
    AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType, validate_filter,
};

pub const API_KEY: i16 = 31;
/// Versions served: v0 (pre-4.0 schemas; literal patterns) to v3.
pub const VERSIONS: (i16, i16) = (0, 3);

fn failed(code: ErrorCode, message: &str) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult {
        error_code: code.code(),
        error_message: Some(message.into()),
        ..Default::default()
    }
}

pub fn handle(ctx: &RequestContext<'_>, req: DeleteAclsRequest) -> Output {
    let refuse_all = |code: ErrorCode, message: &str| {
        Output::respond(DeleteAclsResponse {
            filter_results: req.filters.iter().map(|_| failed(code, message)).collect(),
            ..Default::default()
        })
    };
    if !ctx.broker.acls.enabled() {
        return refuse_all(ErrorCode::SecurityDisabled, "No Authorizer is configured.");
    }
    if !ctx.authorize_cluster(AclOperation::Alter) {
        return refuse_all(ErrorCode::ClusterAuthorizationFailed, "Cluster authorization failed.");
    }
    let Some(authorizer) = ctx.broker.acls.current() else {
        return refuse_all(ErrorCode::SecurityDisabled, "No Authorizer is configured.");
    };
    // Work on a copy so each filter sees what earlier filters left, as Kafka applies them in order.
    let mut working = (*authorizer).clone();
    let mut records = Vec::new();
    let mut filter_results = Vec::with_capacity(req.filters.len());
    for f in &req.filters {
        let filter = AclBindingFilter {
            resource_type: ResourceType::from_code(f.resource_type_filter),
            resource_name: f.resource_name_filter.clone(),
            pattern_type: if ctx.version() == 0 {
                PatternType::Literal
            } else {
                PatternType::from_code(f.pattern_type_filter)
            },
            principal: f.principal_filter.clone(),
            host: f.host_filter.clone(),
            operation: AclOperation::from_code(f.operation),
            permission: AclPermissionType::from_code(f.permission_type),
        };
        if let Err(e) = validate_filter(&filter) {
            filter_results.push(failed(ErrorCode::InvalidRequest, &e.to_string()));
            continue;
        }
        let removed = working.remove_matching(&filter);
        let matching_acls = removed
            .iter()
            .map(|b| DeleteAclsMatchingAcl {
                resource_type: b.resource_type.code(),
                resource_name: b.resource_name.clone(),
                pattern_type: b.pattern_type.code(),
                principal: b.principal.clone(),
                host: b.host.clone(),
                operation: b.operation.code(),
                permission_type: b.permission.code(),
                ..Default::default()
            })
            .collect();
        records.extend(removed.iter().map(|b| MetadataRecord::RemoveAcl(entry_of(b))));
        filter_results.push(DeleteAclsFilterResult {
            matching_acls,
            ..Default::default()
        });
    }
    if !records.is_empty() {
        let mut store = ctx.broker.metadata();
        match store.commit(&records) {
            Ok(_) => ctx.broker.acls.rebuild(store.image()),
            Err(e) => {
                tracing::error!(error = %e, "could not remove ACLs");
                for r in filter_results.iter_mut().filter(|r| r.error_code == 0) {
                    *r = failed(ErrorCode::UnknownServerError, "The ACL change could not be stored");
                }
            }
        }
    }
    Output::respond(DeleteAclsResponse {
        filter_results,
        ..Default::default()
    })
}

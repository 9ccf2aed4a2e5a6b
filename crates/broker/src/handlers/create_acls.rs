//! CreateAcls (key 30): add ACLs. Needs ALTER on the cluster; each creation is validated as
//! Kafka's `AclControlManager` does (INVALID_REQUEST with its message), the accepted ones are
//! committed to the metadata log together and the authorizer rebuilt before the answer, so a
//! request after this one sees them. Without an authorizer: SECURITY_DISABLED, as in Kafka.

use super::Output;
use crate::acls::entry_of;
use crate::session::RequestContext;
use sluice_metadata::MetadataRecord;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::create_acls_response::AclCreationResult;
use sluice_protocol::generated::{CreateAclsRequest, CreateAclsResponse};
use sluice_security::acl::{
    AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType, validate_for_create,
};

pub const API_KEY: i16 = 30;
/// Versions served: v0 (from the pre-4.0 schemas; literal patterns only) to v3 (USER resources).
pub const VERSIONS: (i16, i16) = (0, 3);

fn result(code: ErrorCode, message: Option<String>) -> AclCreationResult {
    AclCreationResult {
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    }
}

pub fn handle(ctx: &RequestContext<'_>, req: CreateAclsRequest) -> Output {
    let refuse_all = |code: ErrorCode, message: &str| {
        Output::respond(CreateAclsResponse {
            results: req
                .creations
                .iter()
                .map(|_| result(code, Some(message.into())))
                .collect(),
            ..Default::default()
        })
    };
    if !ctx.broker.acls.enabled() {
        return refuse_all(ErrorCode::SecurityDisabled, "No Authorizer is configured.");
    }
    if !ctx.authorize_cluster(AclOperation::Alter) {
        return refuse_all(ErrorCode::ClusterAuthorizationFailed, "Cluster authorization failed.");
    }
    let mut records = Vec::new();
    let mut results: Vec<AclCreationResult> = req
        .creations
        .iter()
        .map(|c| {
            let binding = AclBinding {
                resource_type: ResourceType::from_code(c.resource_type),
                resource_name: c.resource_name.clone(),
                // v0 has no pattern type: every ACL is literal.
                pattern_type: if ctx.version() == 0 {
                    PatternType::Literal
                } else {
                    PatternType::from_code(c.resource_pattern_type)
                },
                principal: c.principal.clone(),
                host: c.host.clone(),
                operation: AclOperation::from_code(c.operation),
                permission: AclPermissionType::from_code(c.permission_type),
            };
            match validate_for_create(&binding) {
                Ok(()) => {
                    records.push(MetadataRecord::Acl(entry_of(&binding)));
                    result(ErrorCode::None, None)
                }
                Err(e) => result(ErrorCode::InvalidRequest, Some(e.to_string())),
            }
        })
        .collect();
    if !records.is_empty() {
        let mut store = ctx.broker.metadata();
        match store.commit(&records) {
            Ok(_) => ctx.broker.acls.rebuild(store.image()),
            Err(e) => {
                tracing::error!(error = %e, "could not store ACLs");
                for r in results.iter_mut().filter(|r| r.error_code == 0) {
                    *r = result(
                        ErrorCode::UnknownServerError,
                        Some("The ACL could not be stored".into()),
                    );
                }
            }
        }
    }
    Output::respond(CreateAclsResponse {
        results,
        ..Default::default()
    })
}

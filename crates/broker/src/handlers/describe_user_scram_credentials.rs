//! DescribeUserScramCredentials (key 50): which SCRAM mechanisms (and iteration counts) each user
//! has; never salts or keys. A null user list means every user; a user with no credential is
//! RESOURCE_NOT_FOUND and a user named twice DUPLICATE_RESOURCE, as in Kafka.

use super::Output;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use sluice_protocol::generated::{DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};

pub const API_KEY: i16 = 50;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 0);

pub fn handle(ctx: &RequestContext<'_>, req: DescribeUserScramCredentialsRequest) -> Output {
    // DESCRIBE on the cluster, else a top-level CLUSTER_AUTHORIZATION_FAILED.
    if !ctx.authorize_cluster(sluice_security::acl::AclOperation::Describe) {
        return Output::respond(DescribeUserScramCredentialsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        });
    }
    let image = ctx.broker.metadata().image().scram.clone();
    let wanted: Vec<String> = match &req.users {
        None => image.keys().cloned().collect(),
        Some(users) => users.iter().map(|u| u.name.clone()).collect(),
    };
    let results = wanted
        .iter()
        .map(|name| {
            let mut result = DescribeUserScramCredentialsResult {
                user: name.clone(),
                ..Default::default()
            };
            if wanted.iter().filter(|w| *w == name).count() > 1 {
                result.error_code = ErrorCode::DuplicateResource.code();
                result.error_message =
                    Some("Cannot describe SCRAM credentials for the same user twice in a single request".into());
            } else if let Some(creds) = image.get(name) {
                result.credential_infos = creds
                    .values()
                    .map(|c| CredentialInfo {
                        mechanism: c.mechanism,
                        iterations: c.iterations,
                        ..Default::default()
                    })
                    .collect();
            } else {
                result.error_code = ErrorCode::ResourceNotFound.code();
                result.error_message = Some("Attempt to describe a user credential that does not exist".into());
            }
            result
        })
        .collect();
    Output::respond(DescribeUserScramCredentialsResponse {
        results,
        ..Default::default()
    })
}

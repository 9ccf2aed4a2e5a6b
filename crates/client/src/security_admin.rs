//! Security administration: ACLs (CreateAcls, DescribeAcls, DeleteAcls) and SCRAM credentials
//! (AlterUserScramCredentials, DescribeUserScramCredentials), as Kafka's Admin client sends them.

use crate::client::{Client, expect_body};
use crate::error::{Error, Result};
use bytes::Bytes;
use sluice_protocol::generated::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use sluice_protocol::generated::create_acls_request::AclCreation;
use sluice_protocol::generated::delete_acls_request::DeleteAclsFilter;
use sluice_protocol::generated::describe_user_scram_credentials_request::UserName;
use sluice_protocol::generated::{
    AlterUserScramCredentialsRequest, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest,
    DescribeUserScramCredentialsRequest, RequestBody,
};
use sluice_security::acl::{AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType};
use sluice_security::scram::ScramMechanism;
use sluice_security::scram_client::{random_salt, salted_password};

/// A SCRAM credential to create or replace, from a clear password: the salt is drawn and the
/// salted password computed here, so the password never leaves the client (as `kafka-configs`).
#[derive(Clone)]
pub struct ScramUpsertion {
    /// The user name.
    pub user: String,
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// PBKDF2 iterations (Kafka accepts 4096 to 16384).
    pub iterations: u32,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for ScramUpsertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUpsertion")
            .field("user", &self.user)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// One user's SCRAM credentials as DescribeUserScramCredentials lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserScramCredentials {
    /// The user name.
    pub user: String,
    /// Mechanism and iteration count of each credential (none: the user has no credential).
    pub credentials: Vec<(ScramMechanism, i32)>,
}

impl Client {
    /// Creates ACLs with CreateAcls. Fails with the first binding the broker refused, naming it.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<()> {
        if bindings.is_empty() {
            return Ok(());
        }
        let conn = self.any().await?;
        let body = conn
            .send(RequestBody::CreateAcls(CreateAclsRequest {
                creations: bindings
                    .iter()
                    .map(|b| AclCreation {
                        resource_type: b.resource_type.code(),
                        resource_name: b.resource_name.clone(),
                        resource_pattern_type: b.pattern_type.code(),
                        principal: b.principal.clone(),
                        host: b.host.clone(),
                        operation: b.operation.code(),
                        permission_type: b.permission.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, CreateAcls);
        if r.results.len() != bindings.len() {
            return Err(Error::Protocol(format!(
                "CreateAcls answered {} results for {} ACLs",
                r.results.len(),
                bindings.len()
            )));
        }
        for (result, binding) in r.results.iter().zip(bindings) {
            Error::check(result.error_code, result.error_message.as_deref(), || {
                format!("Cannot create ACL {binding}")
            })?;
        }
        Ok(())
    }

    /// Lists the ACLs matching `filter` with DescribeAcls.
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let conn = self.any().await?;
        let body = conn
            .send(RequestBody::DescribeAcls(DescribeAclsRequest {
                resource_type_filter: filter.resource_type.code(),
                resource_name_filter: filter.resource_name.clone(),
                pattern_type_filter: filter.pattern_type.code(),
                principal_filter: filter.principal.clone(),
                host_filter: filter.host.clone(),
                operation: filter.operation.code(),
                permission_type: filter.permission.code(),
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, DescribeAcls);
        Error::check(r.error_code, r.error_message.as_deref(), || "DescribeAcls".into())?;
        let mut out = Vec::new();
        for resource in r.resources {
            for acl in resource.acls {
                out.push(AclBinding::new(
                    ResourceType::from_code(resource.resource_type),
                    resource.resource_name.clone(),
                    PatternType::from_code(resource.pattern_type),
                    acl.principal,
                    acl.host,
                    AclOperation::from_code(acl.operation),
                    AclPermissionType::from_code(acl.permission_type),
                ));
            }
        }
        Ok(out)
    }

    /// Deletes every ACL matching any of `filters` with DeleteAcls; returns the deleted ACLs.
    pub async fn delete_acls(&self, filters: &[AclBindingFilter]) -> Result<Vec<AclBinding>> {
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.any().await?;
        let body = conn
            .send(RequestBody::DeleteAcls(DeleteAclsRequest {
                filters: filters
                    .iter()
                    .map(|f| DeleteAclsFilter {
                        resource_type_filter: f.resource_type.code(),
                        resource_name_filter: f.resource_name.clone(),
                        pattern_type_filter: f.pattern_type.code(),
                        principal_filter: f.principal.clone(),
                        host_filter: f.host.clone(),
                        operation: f.operation.code(),
                        permission_type: f.permission.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, DeleteAcls);
        let mut deleted = Vec::new();
        for result in r.filter_results {
            Error::check(result.error_code, result.error_message.as_deref(), || {
                "DeleteAcls".into()
            })?;
            for m in result.matching_acls {
                Error::check(m.error_code, m.error_message.as_deref(), || "DeleteAcls".into())?;
                deleted.push(AclBinding::new(
                    ResourceType::from_code(m.resource_type),
                    m.resource_name,
                    PatternType::from_code(m.pattern_type),
                    m.principal,
                    m.host,
                    AclOperation::from_code(m.operation),
                    AclPermissionType::from_code(m.permission_type),
                ));
            }
        }
        Ok(deleted)
    }

    /// Creates or replaces and deletes SCRAM credentials with AlterUserScramCredentials. Fails
    /// with the first user the broker refused.
    pub async fn alter_user_scram_credentials(
        &self,
        upsertions: &[ScramUpsertion],
        deletions: &[(String, ScramMechanism)],
    ) -> Result<()> {
        let mut ups = Vec::with_capacity(upsertions.len());
        for u in upsertions {
            let salt = random_salt().map_err(|e| Error::Invalid(e.to_string()))?;
            let salted = salted_password(u.mechanism, &u.password, &salt, u.iterations);
            ups.push(ScramCredentialUpsertion {
                name: u.user.clone(),
                mechanism: u.mechanism.code(),
                iterations: i32::try_from(u.iterations).unwrap_or(i32::MAX),
                salt: Bytes::from(salt),
                salted_password: Bytes::copy_from_slice(&salted),
                ..Default::default()
            });
        }
        let conn = self.admin().await?;
        let body = conn
            .send(RequestBody::AlterUserScramCredentials(
                AlterUserScramCredentialsRequest {
                    deletions: deletions
                        .iter()
                        .map(|(name, m)| ScramCredentialDeletion {
                            name: name.clone(),
                            mechanism: m.code(),
                            ..Default::default()
                        })
                        .collect(),
                    upsertions: ups,
                    ..Default::default()
                },
            ))
            .await?;
        let r = expect_body!(body, AlterUserScramCredentials);
        for result in r.results {
            let user = result.user.clone();
            Error::check(result.error_code, result.error_message.as_deref(), || {
                format!("User '{user}'")
            })?;
        }
        Ok(())
    }

    /// Describes the SCRAM credentials of `users` (`None`: every user that has one). A user
    /// without credentials is an error (RESOURCE_NOT_FOUND), as in Kafka.
    pub async fn describe_user_scram_credentials(&self, users: Option<&[String]>) -> Result<Vec<UserScramCredentials>> {
        let conn = self.any().await?;
        let body = conn
            .send(RequestBody::DescribeUserScramCredentials(
                DescribeUserScramCredentialsRequest {
                    users: users.map(|u| {
                        u.iter()
                            .map(|name| UserName {
                                name: name.clone(),
                                ..Default::default()
                            })
                            .collect()
                    }),
                    ..Default::default()
                },
            ))
            .await?;
        let r = expect_body!(body, DescribeUserScramCredentials);
        Error::check(r.error_code, r.error_message.as_deref(), || {
            "DescribeUserScramCredentials".into()
        })?;
        let mut out = Vec::new();
        for result in r.results {
            let user = result.user.clone();
            Error::check(result.error_code, result.error_message.as_deref(), || {
                format!("User '{user}'")
            })?;
            out.push(UserScramCredentials {
                user: result.user,
                credentials: result
                    .credential_infos
                    .into_iter()
                    .filter_map(|c| ScramMechanism::from_code(c.mechanism).map(|m| (m, c.iterations)))
                    .collect(),
            });
        }
        Ok(out)
    }
}

//! Why an ACL or filter is refused, and create-time validation with Kafka's rules and messages.

use super::filter::AclBindingFilter;
use super::types::{AclBinding, AclOperation, AclPermissionType, CLUSTER_NAME, PatternType, ResourceType};
use crate::principal::KafkaPrincipal;

/// Why a CreateAcls entry, a DeleteAcls filter or a `super.users` value was refused.
///
/// The `Display` text is Kafka's message, so the broker can put it in the response's
/// `error_message` unchanged. Each variant documents the Kafka error code the broker answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// The resource type is `UNKNOWN` or `ANY` (Kafka's `AclControlManager.validateNewAcl`).
    /// Kafka error: `INVALID_REQUEST` (42).
    #[error("Invalid resourceType {0}")]
    InvalidResourceType(ResourceType),
    /// The pattern type is not `LITERAL` or `PREFIXED` (`validateNewAcl`).
    /// Kafka error: `INVALID_REQUEST` (42).
    #[error("Invalid patternType {0}")]
    InvalidPatternType(PatternType),
    /// The operation is `UNKNOWN` or `ANY` (`validateNewAcl`).
    /// Kafka error: `INVALID_REQUEST` (42).
    #[error("Invalid operation {0}")]
    InvalidOperation(AclOperation),
    /// The permission type is not `ALLOW` or `DENY` (`validateNewAcl`).
    /// Kafka error: `INVALID_REQUEST` (42).
    #[error("Invalid permissionType {0}")]
    InvalidPermissionType(AclPermissionType),
    /// A CLUSTER ACL whose name is not `kafka-cluster` (the broker's check in `AclApis`).
    /// Kafka error: `INVALID_REQUEST` (42).
    #[error("The only valid name for the CLUSTER resource is {CLUSTER_NAME}")]
    InvalidClusterName,
    /// An empty resource name (the broker's check in `AclApis`, before the controller's
    /// `validateNewAcl` says the same); an empty PREFIXED name would match everything.
    /// Kafka error: `INVALID_REQUEST` (42).
    #[error("Invalid empty resource name")]
    EmptyResourceName,
    /// The principal is not `Type:name` with both parts non-empty. Kafka's message from
    /// `SecurityUtils.parseKafkaPrincipal`; Kafka itself only notices when the ACL is used,
    /// Sluice refuses it up front. Kafka error: `INVALID_REQUEST` (42).
    #[error("expected a string in format principalType:principalName but got {0}")]
    InvalidPrincipal(String),
    /// A DeleteAcls filter with an `UNKNOWN` resource type or pattern type
    /// (`AclControlManager.validateFilter`). Kafka error: `INVALID_REQUEST` (42).
    #[error("Unknown patternFilter.")]
    UnknownPatternFilter,
    /// A DeleteAcls filter with an `UNKNOWN` operation or permission type
    /// (`AclControlManager.validateFilter`). Kafka error: `INVALID_REQUEST` (42).
    #[error("Unknown entryFilter.")]
    UnknownEntryFilter,
    /// A `super.users` entry that is not `Type:name`. Kafka refuses to start
    /// (`StandardAuthorizer.getConfiguredSuperUsers` throws); this is a configuration error,
    /// never a response code.
    #[error("Invalid super.users entry {0:?}: expected principalType:principalName")]
    InvalidSuperUser(String),
}

/// Checks a binding before it is created, with Kafka's rules in Kafka's order: the broker's
/// `AclApis` checks (CLUSTER ACLs name `kafka-cluster`, the name is not empty), then
/// `AclControlManager.validateNewAcl` (no `UNKNOWN`/`ANY`/`MATCH` values), then a parseable
/// principal. Stored ACLs therefore always
/// have concrete values, which is what lets the authorizer index them.
pub fn validate_for_create(binding: &AclBinding) -> Result<(), AclError> {
    // The broker's checks run first in Kafka (AclApis.handleCreateAcls), then the controller's.
    if binding.resource_type == ResourceType::Cluster && binding.resource_name != CLUSTER_NAME {
        return Err(AclError::InvalidClusterName);
    }
    if binding.resource_name.is_empty() {
        return Err(AclError::EmptyResourceName);
    }
    if matches!(binding.resource_type, ResourceType::Unknown | ResourceType::Any) {
        return Err(AclError::InvalidResourceType(binding.resource_type));
    }
    if !matches!(binding.pattern_type, PatternType::Literal | PatternType::Prefixed) {
        return Err(AclError::InvalidPatternType(binding.pattern_type));
    }
    if matches!(binding.operation, AclOperation::Unknown | AclOperation::Any) {
        return Err(AclError::InvalidOperation(binding.operation));
    }
    if !matches!(binding.permission, AclPermissionType::Allow | AclPermissionType::Deny) {
        return Err(AclError::InvalidPermissionType(binding.permission));
    }
    if KafkaPrincipal::parse(&binding.principal).is_none() {
        return Err(AclError::InvalidPrincipal(binding.principal.clone()));
    }
    Ok(())
}

/// Checks a DeleteAcls filter as Kafka's `AclControlManager.validateFilter` does: a filter with
/// any `UNKNOWN` part came from a newer client and could delete more than it meant to.
pub fn validate_filter(filter: &AclBindingFilter) -> Result<(), AclError> {
    if matches!(filter.resource_type, ResourceType::Unknown) || filter.pattern_type == PatternType::Unknown {
        return Err(AclError::UnknownPatternFilter);
    }
    if filter.operation == AclOperation::Unknown || filter.permission == AclPermissionType::Unknown {
        return Err(AclError::UnknownEntryFilter);
    }
    Ok(())
}

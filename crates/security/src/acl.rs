//! ACL authorization with the semantics of Apache Kafka's `StandardAuthorizer` (KRaft).
//!
//! Kafka clients create, list and delete ACLs with CreateAcls, DescribeAcls and DeleteAcls, and
//! expect every request to be authorized exactly as a Kafka broker would, down to the quirks
//! (implied DESCRIBE, DENY beating ALLOW, the `allow.everyone.if.no.acl.found` fallback only when
//! *no* ACL applies to the resource). This module is that logic, pure: the vocabulary with
//! Kafka's wire codes ([`ResourceType`], [`PatternType`], [`AclOperation`],
//! [`AclPermissionType`]), bindings and filters ([`AclBinding`], [`AclBindingFilter`]), Kafka's
//! create-time validation ([`validate_for_create`], [`AclError`]), and the [`Authorizer`] that
//! stores ACLs in an index so a decision stays well under a microsecond with many thousands
//! of ACLs.
//!
//! The references, in Apache Kafka's tree: `metadata/.../authorizer/StandardAuthorizerData.java`
//! (decisions), `StandardAuthorizer.java` (configuration), `controller/AclControlManager.java`
//! (validation), `clients/.../server/authorizer/Authorizer.java` (`authorizeByResourceType`),
//! `clients/.../common/acl/*` and `common/resource/*` (enums and filters),
//! `core/.../server/AuthHelper.scala` and `server/.../security/authorizer/AclEntry.java`
//! (authorized-operations bit fields).

#![warn(missing_docs)]

mod authorizer;
mod error;
mod filter;
mod types;

pub use authorizer::{Authorizer, AuthorizerConfig, parse_super_users};
pub use error::{AclError, validate_filter, validate_for_create};
pub use filter::AclBindingFilter;
pub use types::{
    AclBinding, AclOperation, AclPermissionType, CLUSTER_NAME, PatternType, ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};

//! The broker's authorizer: Kafka's `StandardAuthorizer` rules (`sluice_security::acl`) over the
//! ACLs in the metadata image.
//!
//! ACLs live in the metadata log; the authorizer is an index rebuilt from the image whenever an
//! ACL record is committed, and swapped in whole, so a decision never waits on a change and never
//! sees half of one. With no `authorizer.class.name` there is no authorizer and every operation
//! is allowed, as in Kafka.

use sluice_metadata::{AclEntry, MetadataImage};
use sluice_security::acl::{
    AclBinding, AclOperation, AclPermissionType, Authorizer, AuthorizerConfig, PatternType, ResourceType,
};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

/// The authorizer in force, if one is configured.
pub struct Acls {
    config: Option<AuthorizerConfig>,
    current: RwLock<Option<Arc<Authorizer>>>,
}

impl Acls {
    /// The authorizer for `config` (None: no authorizer) over the ACLs in `image`.
    pub fn new(config: Option<AuthorizerConfig>, image: &MetadataImage) -> Acls {
        let acls = Acls {
            config,
            current: RwLock::new(None),
        };
        acls.rebuild(image);
        acls
    }

    /// Whether an authorizer is configured (the ACL APIs answer SECURITY_DISABLED otherwise).
    pub fn enabled(&self) -> bool {
        self.config.is_some()
    }

    /// The authorizer as of the last rebuild.
    pub fn current(&self) -> Option<Arc<Authorizer>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds the index from the image's ACLs; called after every committed ACL change.
    pub fn rebuild(&self, image: &MetadataImage) {
        let Some(config) = &self.config else { return };
        let mut authorizer = Authorizer::new(config.clone());
        for entry in &image.acls {
            if let Err(e) = authorizer.add(binding_of(entry)) {
                // Entries were validated when created; one that no longer validates is skipped
                // (it can only deny less than it would have allowed, never allow more).
                tracing::warn!(error = %e, "skipping a stored ACL that does not validate");
            }
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(authorizer));
    }
}

/// A stored entry as the authorizer's binding.
pub fn binding_of(e: &AclEntry) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::from_code(e.resource_type),
        resource_name: e.resource_name.clone(),
        pattern_type: PatternType::from_code(e.pattern_type),
        principal: e.principal.clone(),
        host: e.host.clone(),
        operation: AclOperation::from_code(e.operation),
        permission: AclPermissionType::from_code(e.permission),
    }
}

/// A binding as the metadata record stores it.
pub fn entry_of(b: &AclBinding) -> AclEntry {
    AclEntry {
        resource_type: b.resource_type.code(),
        resource_name: b.resource_name.clone(),
        pattern_type: b.pattern_type.code(),
        principal: b.principal.clone(),
        host: b.host.clone(),
        operation: b.operation.code(),
        permission: b.permission.code(),
    }
}

/// A client address as Java's `InetAddress.getHostAddress()` writes it, which is what Kafka's ACL
/// hosts are compared with: dotted IPv4, and IPv6 as eight uncompressed hex groups.
pub fn java_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_written_as_java_writes_them() {
        assert_eq!(java_host("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(java_host("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
        assert_eq!(java_host("fe80::a:1".parse().unwrap()), "fe80:0:0:0:0:0:a:1");
        assert_eq!(java_host("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
    }

    #[test]
    fn entries_and_bindings_convert_both_ways() {
        let e = AclEntry {
            resource_type: 2,
            resource_name: "franc.".into(),
            pattern_type: 4,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 4,
            permission: 3,
        };
        assert_eq!(entry_of(&binding_of(&e)), e);
    }
}

//! The ACL vocabulary: resource types, pattern types, operations, permission types (each with
//! Kafka's wire code) and the [`AclBinding`] that combines them.

use std::fmt;

/// Declares a Kafka ACL enum: its wire code as the discriminant, `from_code`/`code`, the value
/// list in code order, and Kafka's upper-case Java name for messages and logs.
macro_rules! kafka_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $code, )+
        }

        impl $name {
            /// Every value in wire-code order, so tests and tools can enumerate the type without
            /// repeating the list.
            pub const VALUES: &'static [$name] = &[$($name::$variant,)+];

            /// The value for a wire code. Codes this version does not know decode to `Unknown`,
            /// as Kafka's `fromCode` does, so that a newer client's request is refused by
            /// validation (with Kafka's message) instead of failing to decode.
            pub fn from_code(code: i8) -> $name {
                match code {
                    $( $code => $name::$variant, )+
                    _ => $name::Unknown,
                }
            }

            /// The wire code, as Kafka's protocol messages carry it (an `int8`).
            pub const fn code(self) -> i8 {
                self as i8
            }

            /// Kafka's Java enum constant name (`TRANSACTIONAL_ID`), used in error messages so
            /// that they read exactly as Kafka's.
            pub const fn kafka_name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.kafka_name())
            }
        }
    };
}

kafka_enum! {
    /// The kind of resource an ACL protects, as Kafka's `org.apache.kafka.common.resource.ResourceType`.
    ResourceType {
        /// A code this version does not understand; never valid in a stored ACL.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, any resource type; never valid in a stored ACL.
        Any = 1 => "ANY",
        /// A topic.
        Topic = 2 => "TOPIC",
        /// A consumer (or share) group.
        Group = 3 => "GROUP",
        /// The cluster itself; its only resource name is `kafka-cluster`.
        Cluster = 4 => "CLUSTER",
        /// A transactional id used by transactional producers.
        TransactionalId = 5 => "TRANSACTIONAL_ID",
        /// A delegation token.
        DelegationToken = 6 => "DELEGATION_TOKEN",
        /// A user, for creating and describing delegation tokens on its behalf.
        User = 7 => "USER",
    }
}

kafka_enum! {
    /// How an ACL's resource name is matched, as Kafka's `org.apache.kafka.common.resource.PatternType`.
    PatternType {
        /// A code this version does not understand; never valid in a stored ACL.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, any pattern type, with the filter's name compared exactly.
        Any = 1 => "ANY",
        /// In a filter, every pattern that would *apply to* the filter's name: the literal name,
        /// the `*` wildcard literal and prefixes of the name.
        Match = 2 => "MATCH",
        /// The name is taken literally; the literal name `*` matches every resource.
        Literal = 3 => "LITERAL",
        /// The name is a prefix of the resource names it matches.
        Prefixed = 4 => "PREFIXED",
    }
}

kafka_enum! {
    /// What a principal may do to a resource, as Kafka's `org.apache.kafka.common.acl.AclOperation`.
    AclOperation {
        /// A code this version does not understand; never valid in a stored ACL.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, any operation; never valid in a stored ACL.
        Any = 1 => "ANY",
        /// Every operation: an ACL with `All` matches any requested operation.
        All = 2 => "ALL",
        /// Consume from a topic, join or commit offsets for a group.
        Read = 3 => "READ",
        /// Produce to a topic or use a transactional id.
        Write = 4 => "WRITE",
        /// Create topics.
        Create = 5 => "CREATE",
        /// Delete topics, groups or records.
        Delete = 6 => "DELETE",
        /// Alter a resource (partitions, ACLs on the cluster, ...).
        Alter = 7 => "ALTER",
        /// Describe a resource; implied by an ALLOW of READ, WRITE, DELETE or ALTER.
        Describe = 8 => "DESCRIBE",
        /// Inter-broker and controller actions on the cluster.
        ClusterAction = 9 => "CLUSTER_ACTION",
        /// Read configs; implied by an ALLOW of ALTER_CONFIGS.
        DescribeConfigs = 10 => "DESCRIBE_CONFIGS",
        /// Change configs.
        AlterConfigs = 11 => "ALTER_CONFIGS",
        /// Idempotent produce (InitProducerId without a transactional id).
        IdempotentWrite = 12 => "IDEMPOTENT_WRITE",
        /// Create delegation tokens for a user.
        CreateTokens = 13 => "CREATE_TOKENS",
        /// Describe delegation tokens of a user.
        DescribeTokens = 14 => "DESCRIBE_TOKENS",
        /// Two-phase commit for a transactional id (KIP-939).
        TwoPhaseCommit = 15 => "TWO_PHASE_COMMIT",
    }
}

kafka_enum! {
    /// Whether an ACL grants or refuses, as Kafka's `org.apache.kafka.common.acl.AclPermissionType`.
    AclPermissionType {
        /// A code this version does not understand; never valid in a stored ACL.
        Unknown = 0 => "UNKNOWN",
        /// In a filter, either permission; never valid in a stored ACL.
        Any = 1 => "ANY",
        /// Refuses; a matching DENY beats every matching ALLOW.
        Deny = 2 => "DENY",
        /// Grants, unless a DENY also matches.
        Allow = 3 => "ALLOW",
    }
}

impl ResourceType {
    /// The operations that mean something for this resource type, as Kafka's
    /// `AclEntry.supportedOperations`: the set Kafka reports authorized-operations bit fields
    /// over (Metadata, DescribeCluster, DescribeGroups). Empty for `Unknown` and `Any`, which
    /// are not concrete types (Kafka throws there).
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Unknown | ResourceType::Any => &[],
        }
    }
}

/// The only resource name a CLUSTER ACL may have (Kafka's `Resource.CLUSTER_NAME`).
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// The resource name (in a LITERAL pattern) and the host that match anything.
pub const WILDCARD: &str = "*";

/// The principal, in its written form, that matches every principal. Only `User:*` is a
/// wildcard; `Group:*` is an ordinary (if odd) principal, as in Kafka.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// One access-control rule: a resource pattern and an access-control entry, as Kafka's
/// `AclBinding` (`ResourcePattern` + `AccessControlEntry`) flattened into one value.
///
/// The principal is kept as the string the client sent (`User:alice`), because that is what
/// DescribeAcls and DeleteAcls must echo and filter on byte for byte. The derived order (resource
/// type, name, pattern type, principal, host, operation, permission) is the order
/// [`Authorizer::describe`](super::Authorizer::describe) lists bindings in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// The kind of resource; concrete (not `Unknown` or `Any`) in a valid binding.
    pub resource_type: ResourceType,
    /// The resource name, the prefix for PREFIXED patterns, or `*` for every resource.
    pub resource_name: String,
    /// `Literal` or `Prefixed` in a valid binding.
    pub pattern_type: PatternType,
    /// `Type:name`; `User:*` matches every principal.
    pub principal: String,
    /// The client address the rule applies to (as the broker renders peer IPs), or `*`.
    pub host: String,
    /// The operation granted or refused; `All` covers every operation.
    pub operation: AclOperation,
    /// `Allow` or `Deny` in a valid binding.
    pub permission: AclPermissionType,
}

impl AclBinding {
    /// A binding from its parts, so call sites read in Kafka's order without a struct literal.
    pub fn new(
        resource_type: ResourceType,
        resource_name: impl Into<String>,
        pattern_type: PatternType,
        principal: impl Into<String>,
        host: impl Into<String>,
        operation: AclOperation,
        permission: AclPermissionType,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: resource_name.into(),
            pattern_type,
            principal: principal.into(),
            host: host.into(),
            operation,
            permission,
        }
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(pattern=ResourcePattern(resourceType={}, name={}, patternType={}), entry=(principal={}, host={}, \
             operation={}, permissionType={}))",
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_decode_to_unknown() {
        for &v in ResourceType::VALUES {
            assert_eq!(ResourceType::from_code(v.code()), v);
        }
        for &v in PatternType::VALUES {
            assert_eq!(PatternType::from_code(v.code()), v);
        }
        for &v in AclOperation::VALUES {
            assert_eq!(AclOperation::from_code(v.code()), v);
        }
        for &v in AclPermissionType::VALUES {
            assert_eq!(AclPermissionType::from_code(v.code()), v);
        }
        assert_eq!(ResourceType::VALUES.len(), 8);
        assert_eq!(PatternType::VALUES.len(), 5);
        assert_eq!(AclOperation::VALUES.len(), 16);
        assert_eq!(AclPermissionType::VALUES.len(), 4);
        assert_eq!(ResourceType::from_code(8), ResourceType::Unknown);
        assert_eq!(AclOperation::from_code(-1), AclOperation::Unknown);
        assert_eq!(AclOperation::TwoPhaseCommit.code(), 15);
        assert_eq!(ResourceType::TransactionalId.to_string(), "TRANSACTIONAL_ID");
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclPermissionType::Allow.code(), 3);
    }
}

//! [`AclBindingFilter`]: which bindings DescribeAcls lists and DeleteAcls removes, with Kafka's
//! `AclBindingFilter`, `ResourcePatternFilter` and `AccessControlEntryFilter` matching rules.

use super::types::{AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType, WILDCARD};

/// A filter over [`AclBinding`]s, as Kafka's `AclBindingFilter`.
///
/// `None` strings and the `Any` enum values match anything. A concrete pattern type matches only
/// bindings of that type with exactly the filter's name; `PatternType::Match` instead matches
/// every binding that would *apply to* the named resource (the literal name, the `*` literal,
/// and PREFIXED patterns the name starts with), which is how `kafka-acls --list` shows what
/// affects one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBindingFilter {
    /// `Any` for every resource type.
    pub resource_type: ResourceType,
    /// `None` for every name.
    pub resource_name: Option<String>,
    /// `Any`, `Match`, or a concrete pattern type.
    pub pattern_type: PatternType,
    /// `None` for every principal; otherwise compared as a string (`User:*` only matches
    /// bindings whose principal is literally `User:*`).
    pub principal: Option<String>,
    /// `None` for every host; otherwise compared as a string.
    pub host: Option<String>,
    /// `Any` for every operation; otherwise compared exactly (no implication).
    pub operation: AclOperation,
    /// `Any` for either permission.
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// The filter that matches every binding (Kafka's `AclBindingFilter.ANY`).
    pub const ANY: AclBindingFilter = AclBindingFilter {
        resource_type: ResourceType::Any,
        resource_name: None,
        pattern_type: PatternType::Any,
        principal: None,
        host: None,
        operation: AclOperation::Any,
        permission: AclPermissionType::Any,
    };

    /// Whether this filter selects `binding`, exactly as Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(binding.resource_type, &binding.resource_name, binding.pattern_type)
            && self.matches_entry(binding)
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    fn matches_pattern(&self, resource_type: ResourceType, name: &str, pattern_type: PatternType) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != resource_type {
            return false;
        }
        let any_or_match = matches!(self.pattern_type, PatternType::Any | PatternType::Match);
        if !any_or_match && self.pattern_type != pattern_type {
            return false;
        }
        let Some(filter_name) = self.resource_name.as_deref() else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == pattern_type {
            return filter_name == name;
        }
        // MATCH against a stored pattern: would the pattern apply to the filter's name?
        match pattern_type {
            PatternType::Literal => filter_name == name || name == WILDCARD,
            PatternType::Prefixed => filter_name.starts_with(name),
            // Kafka throws for these; stored bindings never have them, so no match is the
            // only sensible answer for a hand-built binding.
            PatternType::Unknown | PatternType::Any | PatternType::Match => false,
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    fn matches_entry(&self, binding: &AclBinding) -> bool {
        self.principal.as_deref().is_none_or(|p| p == binding.principal)
            && self.host.as_deref().is_none_or(|h| h == binding.host)
            && (self.operation == AclOperation::Any || self.operation == binding.operation)
            && (self.permission == AclPermissionType::Any || self.permission == binding.permission)
    }

    /// Whether any field is `Unknown` (Kafka's `AclBindingFilter.isUnknown`): such a filter
    /// came from a newer client and DeleteAcls refuses it (see
    /// [`validate_filter`](super::validate_filter)).
    pub fn is_unknown(&self) -> bool {
        self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == AclOperation::Unknown
            || self.permission == AclPermissionType::Unknown
    }
}

impl From<&AclBinding> for AclBindingFilter {
    /// The filter that matches exactly this binding (Kafka's `AclBinding.toFilter`), for
    /// deleting one known ACL.
    fn from(binding: &AclBinding) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: binding.resource_type,
            resource_name: Some(binding.resource_name.clone()),
            pattern_type: binding.pattern_type,
            principal: Some(binding.principal.clone()),
            host: Some(binding.host.clone()),
            operation: binding.operation,
            permission: binding.permission,
        }
    }
}

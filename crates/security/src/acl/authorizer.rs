//! The [`Authorizer`]: ACL storage, an index for fast decisions, and Kafka's
//! `StandardAuthorizer` decision rules.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::{Bound, ControlFlow};

use super::error::{AclError, validate_for_create};
use super::filter::AclBindingFilter;
use super::types::{AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType, WILDCARD};
use crate::principal::{KafkaPrincipal, USER_TYPE};

/// The authorizer's static configuration, as Kafka's `super.users` and
/// `allow.everyone.if.no.acl.found`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Principals allowed everything, whatever the ACLs say (brokers, admins); see
    /// [`parse_super_users`] for the config's text form.
    pub super_users: Vec<KafkaPrincipal>,
    /// What to decide for a resource no ACL applies to at all. Kafka's default is `false`, so
    /// that turning the authorizer on locks down everything not explicitly granted.
    pub allow_everyone_if_no_acl_found: bool,
}

/// Parses Kafka's `super.users` value, `User:alice;User:bob`, as
/// `StandardAuthorizer.getConfiguredSuperUsers` does: split on `;`, trim, skip empty entries,
/// and refuse (Kafka fails to start) any entry that is not `Type:name`.
pub fn parse_super_users(value: &str) -> Result<Vec<KafkaPrincipal>, AclError> {
    value
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| KafkaPrincipal::parse(entry).ok_or_else(|| AclError::InvalidSuperUser(entry.to_string())))
        .collect()
}

/// The resource name Kafka's default `Authorizer.authorizeByResourceType` first authorizes
/// against, so that super users (and `allow.everyone.if.no.acl.found`) pass before any ACL is
/// examined. Reproduced so decisions agree with Kafka even for a topic really named this.
const HARDCODED_NAME: &str = "hardcode";

/// One stored access-control entry in the index: the binding minus its resource pattern (the
/// index key), with the principal pre-parsed and the wildcards pre-computed so that a decision
/// does no parsing or allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ace {
    principal: KafkaPrincipal,
    any_principal: bool,
    host: String,
    any_host: bool,
    operation: AclOperation,
    allow: bool,
}

impl Ace {
    /// Only called on validated bindings, whose principal parses.
    fn from_binding(binding: &AclBinding) -> Option<Ace> {
        let principal = KafkaPrincipal::parse(&binding.principal)?;
        Some(Ace {
            any_principal: principal.principal_type == USER_TYPE && principal.name == WILDCARD,
            principal,
            any_host: binding.host == WILDCARD,
            host: binding.host.clone(),
            operation: binding.operation,
            allow: binding.permission == AclPermissionType::Allow,
        })
    }

    /// Kafka's principal and host checks in `StandardAuthorizerData.findResult`: the ACL's
    /// principal is the caller's or `User:*`, its host the caller's or `*`.
    fn applies_to(&self, principal: &KafkaPrincipal, host: &str) -> bool {
        (self.any_principal
            || (self.principal.name == principal.name && self.principal.principal_type == principal.principal_type))
            && (self.any_host || self.host == host)
    }

    /// Kafka's operation check in `findResult`: ALL covers everything; an ALLOW of READ, WRITE,
    /// DELETE or ALTER also covers DESCRIBE and an ALLOW of ALTER_CONFIGS covers
    /// DESCRIBE_CONFIGS; a DENY covers only its own operation (a DENY of READ does not deny
    /// DESCRIBE).
    fn covers(&self, op: AclOperation) -> bool {
        self.operation == AclOperation::All || self.operation == op || (self.allow && implied_by(self.operation, op))
    }

    /// The operations this entry covers, as a bit set (bit = 1 << code), for computing every
    /// operation's decision in one pass.
    fn covered_mask(&self) -> u32 {
        if self.operation == AclOperation::All {
            return u32::MAX;
        }
        let mut mask = bit(self.operation);
        if self.allow {
            for implied in [AclOperation::Describe, AclOperation::DescribeConfigs] {
                if implied_by(self.operation, implied) {
                    mask |= bit(implied);
                }
            }
        }
        mask
    }
}

/// Whether an ALLOW of `granted` implies `wanted` (Kafka's `IMPLIES_DESCRIBE` and
/// `IMPLIES_DESCRIBE_CONFIGS`).
fn implied_by(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation::*;
    match wanted {
        Describe => matches!(granted, Read | Write | Delete | Alter),
        DescribeConfigs => granted == AlterConfigs,
        _ => false,
    }
}

fn bit(op: AclOperation) -> u32 {
    1 << op.code()
}

/// The entries of one resource type, keyed by pattern name. A LITERAL decision is one hash
/// lookup (plus one for the `*` wildcard); PREFIXED patterns live in an ordered map so the
/// patterns that prefix a name are found by a few ordered look-ups rather than a scan. Lists
/// are never left empty, so "a list exists" means "some ACL applies to this resource", which
/// `allow.everyone.if.no.acl.found` depends on.
#[derive(Debug, Clone, Default)]
struct TypeIndex {
    literal: HashMap<String, Vec<Ace>>,
    prefixed: BTreeMap<String, Vec<Ace>>,
}

impl TypeIndex {
    fn patterns_mut(&mut self, pattern_type: PatternType, name: &str) -> Option<&mut Vec<Ace>> {
        match pattern_type {
            PatternType::Literal => self.literal.get_mut(name),
            PatternType::Prefixed => self.prefixed.get_mut(name),
            _ => None,
        }
    }

    fn remove_empty(&mut self, pattern_type: PatternType, name: &str) {
        match pattern_type {
            PatternType::Literal => {
                self.literal.remove(name);
            }
            PatternType::Prefixed => {
                self.prefixed.remove(name);
            }
            _ => {}
        }
    }

    /// Calls `f` with the entries of every pattern that applies to the resource `name`: the
    /// literal name, the literal `*`, and each PREFIXED pattern `name` starts with. Stops when
    /// `f` breaks.
    fn for_each_applicable<'a>(
        &'a self,
        name: &str,
        mut f: impl FnMut(&'a [Ace]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if let Some(aces) = self.literal.get(name) {
            f(aces)?;
        }
        if name != WILDCARD
            && let Some(aces) = self.literal.get(WILDCARD)
        {
            f(aces)?;
        }
        self.for_each_prefix_of(name, f)
    }

    /// Finds the PREFIXED patterns that are prefixes of `name` by walking down the ordered map,
    /// as Kafka's `StandardAuthorizerData.checkSection` does over its sorted set: the greatest
    /// key not above the bound is either a prefix of `name` (a match; shorter prefixes sort
    /// strictly below it) or diverges from `name` after `m` bytes (then every remaining prefix
    /// is at most `name[..m]`). Each step shortens the bound, so the walk costs
    /// O((matches + divergences) · log n), never a scan.
    fn for_each_prefix_of<'a>(
        &'a self,
        name: &str,
        mut f: impl FnMut(&'a [Ace]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut upper = Bound::Included(name);
        loop {
            let Some((key, aces)) = self.prefixed.range::<str, _>((Bound::Unbounded, upper)).next_back() else {
                return ControlFlow::Continue(());
            };
            if name.starts_with(key.as_str()) {
                f(aces)?;
                upper = Bound::Excluded(&name[..key.len()]);
            } else {
                let mut common = key.bytes().zip(name.bytes()).take_while(|(a, b)| a == b).count();
                while !name.is_char_boundary(common) {
                    common -= 1;
                }
                upper = Bound::Included(&name[..common]);
            }
        }
    }
}

/// Number of concrete resource types (TOPIC through USER), one index each.
const CONCRETE_TYPES: usize = 6;

fn type_slot(resource_type: ResourceType) -> Option<usize> {
    match resource_type {
        ResourceType::Unknown | ResourceType::Any => None,
        concrete => Some((concrete.code() - ResourceType::Topic.code()) as usize),
    }
}

/// ACL storage and decisions with Kafka's `StandardAuthorizer` semantics.
///
/// Pure and synchronous: the broker owns it (behind whatever lock or snapshot scheme it likes,
/// e.g. an `Arc` swapped on change, as Kafka swaps its immutable `AclCache`), applies
/// CreateAcls/DeleteAcls through [`add`](Authorizer::add) and
/// [`remove_matching`](Authorizer::remove_matching), and asks [`authorize`](Authorizer::authorize)
/// on the request path. Decisions cost a few hash and ordered-map look-ups, independent of how
/// many ACLs exist for other resources.
#[derive(Debug, Clone)]
pub struct Authorizer {
    super_users: Vec<KafkaPrincipal>,
    allow_everyone_if_no_acl_found: bool,
    /// Every binding, in [`describe`](Authorizer::describe) order; the source of truth the
    /// index mirrors.
    bindings: BTreeSet<AclBinding>,
    /// One index per concrete resource type, in code order.
    index: [TypeIndex; CONCRETE_TYPES],
}

impl Authorizer {
    /// An authorizer with no ACLs.
    pub fn new(config: AuthorizerConfig) -> Authorizer {
        Authorizer {
            super_users: config.super_users,
            allow_everyone_if_no_acl_found: config.allow_everyone_if_no_acl_found,
            bindings: BTreeSet::new(),
            index: Default::default(),
        }
    }

    /// Adds a binding; adding one that exists already changes nothing (as Kafka's controller
    /// does, so a retried CreateAcls is harmless). Returns whether it was new. Refuses, with
    /// [`validate_for_create`]'s error, what CreateAcls would refuse, so only concrete bindings
    /// are ever stored.
    pub fn add(&mut self, binding: AclBinding) -> Result<bool, AclError> {
        validate_for_create(&binding)?;
        if self.bindings.contains(&binding) {
            return Ok(false);
        }
        let ace = Ace::from_binding(&binding).ok_or_else(|| AclError::InvalidPrincipal(binding.principal.clone()))?;
        let slot = type_slot(binding.resource_type).ok_or(AclError::InvalidResourceType(binding.resource_type))?;
        let index = &mut self.index[slot];
        let name = binding.resource_name.clone();
        match binding.pattern_type {
            PatternType::Literal => index.literal.entry(name).or_default().push(ace),
            PatternType::Prefixed => index.prefixed.entry(name).or_default().push(ace),
            other => return Err(AclError::InvalidPatternType(other)),
        }
        self.bindings.insert(binding);
        Ok(true)
    }

    /// Removes every binding `filter` matches and returns exactly those, in describe order, so
    /// DeleteAcls can report each deleted binding (Kafka's `AclDeleteResult`).
    pub fn remove_matching(&mut self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let mut removed = Vec::new();
        self.bindings.retain(|binding| {
            if filter.matches(binding) {
                removed.push(binding.clone());
                false
            } else {
                true
            }
        });
        for binding in &removed {
            self.unindex(binding);
        }
        removed
    }

    fn unindex(&mut self, binding: &AclBinding) {
        let (Some(slot), Some(ace)) = (type_slot(binding.resource_type), Ace::from_binding(binding)) else {
            return;
        };
        let index = &mut self.index[slot];
        let Some(aces) = index.patterns_mut(binding.pattern_type, &binding.resource_name) else {
            return;
        };
        if let Some(position) = aces.iter().position(|a| *a == ace) {
            aces.swap_remove(position);
        }
        if aces.is_empty() {
            index.remove_empty(binding.pattern_type, &binding.resource_name);
        }
    }

    /// The bindings `filter` matches, ordered by (resource type, name, pattern type,
    /// principal, host, operation, permission) so DescribeAcls answers are stable.
    pub fn describe(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.bindings
            .iter()
            .filter(|binding| filter.matches(binding))
            .cloned()
            .collect()
    }

    /// How many bindings are stored (Kafka's `aclCount`, for metrics).
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether no bindings are stored.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Whether `principal` is a configured super user. Kafka compares the `Type:name` text, so
    /// this does too (without allocating).
    pub fn is_super_user(&self, principal: &KafkaPrincipal) -> bool {
        fn text(p: &KafkaPrincipal) -> impl Iterator<Item = u8> + '_ {
            p.principal_type
                .bytes()
                .chain(std::iter::once(b':'))
                .chain(p.name.bytes())
        }
        self.super_users.iter().any(|su| {
            su.principal_type.len() + su.name.len() == principal.principal_type.len() + principal.name.len()
                && text(su).eq(text(principal))
        })
    }

    /// May `principal`, connecting from `host`, perform `op` on the resource `resource_type`
    /// `resource_name`? Kafka's `StandardAuthorizerData.authorize`, rule for rule:
    ///
    /// - super users are always allowed;
    /// - the ACLs that apply are those on the literal name, on the literal `*`, and PREFIXED
    ///   ones the name starts with; of those, an entry matches if its principal is the caller's
    ///   or `User:*`, its host the caller's or `*`, and its operation covers `op` (ALL covers
    ///   everything; an ALLOW of READ/WRITE/DELETE/ALTER implies DESCRIBE and of ALTER_CONFIGS
    ///   implies DESCRIBE_CONFIGS; a DENY never implies anything);
    /// - any matching DENY refuses, whatever ALLOWs match; else any matching ALLOW allows;
    /// - else, if some ACL applies to the resource (for anyone) the answer is no, and if none
    ///   does, `allow.everyone.if.no.acl.found` decides.
    ///
    /// `host` must be the peer address in the text form Kafka compares against
    /// (`InetAddress.getHostAddress()`: dotted IPv4, and IPv6 in Java's uncompressed form), or
    /// host-specific ACLs will not match.
    pub fn authorize(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        op: AclOperation,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let Some(slot) = type_slot(resource_type) else {
            return self.allow_everyone_if_no_acl_found;
        };
        let mut any_acl = false;
        let mut allowed = false;
        let flow = self.index[slot].for_each_applicable(resource_name, |aces| {
            any_acl = true;
            for ace in aces {
                if ace.applies_to(principal, host) && ace.covers(op) {
                    if !ace.allow {
                        return ControlFlow::Break(());
                    }
                    allowed = true;
                }
            }
            ControlFlow::Continue(())
        });
        if flow.is_break() {
            false
        } else if allowed {
            true
        } else if any_acl {
            false
        } else {
            self.allow_everyone_if_no_acl_found
        }
    }

    /// Kafka's authorized-operations bit field (bit `1 << code` per allowed operation) for a
    /// resource, over the operations [`ResourceType::supported_operations`] lists, as Kafka's
    /// `AuthHelper.authorizedOperations` computes `topicAuthorizedOperations`,
    /// `clusterAuthorizedOperations` and the group equivalent. Each bit is exactly
    /// [`authorize`](Authorizer::authorize)'s answer for that operation, computed in one pass.
    pub fn authorized_operations(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> i32 {
        let supported = resource_type
            .supported_operations()
            .iter()
            .fold(0u32, |mask, &op| mask | bit(op));
        if self.is_super_user(principal) {
            return supported as i32;
        }
        let Some(slot) = type_slot(resource_type) else {
            return 0;
        };
        let mut any_acl = false;
        let (mut allowed, mut denied) = (0u32, 0u32);
        let _ = self.index[slot].for_each_applicable(resource_name, |aces| {
            any_acl = true;
            for ace in aces.iter().filter(|ace| ace.applies_to(principal, host)) {
                if ace.allow {
                    allowed |= ace.covered_mask();
                } else {
                    denied |= ace.covered_mask();
                }
            }
            ControlFlow::Continue(())
        });
        let granted = if any_acl {
            allowed & !denied
        } else if self.allow_everyone_if_no_acl_found {
            u32::MAX
        } else {
            0
        };
        (granted & supported) as i32
    }

    /// May `principal` perform `op` on *at least one* resource of `resource_type`? Kafka's
    /// default `Authorizer.authorizeByResourceType` (which `StandardAuthorizer` inherits), used
    /// for idempotent and transactional producers when no specific resource is named:
    ///
    /// - allowed if [`authorize`](Authorizer::authorize) allows `op` on a resource named
    ///   `hardcode` (this is how super users and `allow.everyone.if.no.acl.found` pass);
    /// - otherwise only ACLs for the caller (or `User:*`), its host (or `*`) and exactly `op`
    ///   or ALL count, with no implied operations; a DENY on the literal `*` refuses; an ALLOW
    ///   on the literal `*` allows; else allowed if some ALLOW pattern is not dominated by a
    ///   DENY: a LITERAL allow is dominated by a LITERAL deny of the same name, and any allow
    ///   is dominated by a PREFIXED deny on a prefix of its name.
    ///
    /// `Any`/`Unknown` operations or resource types are refused (Kafka throws
    /// `IllegalArgumentException`). Costs a pass over this resource type's ACLs, as in Kafka.
    pub fn authorize_by_resource_type(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        op: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if matches!(op, AclOperation::Any | AclOperation::Unknown) {
            return false;
        }
        let Some(slot) = type_slot(resource_type) else {
            return false;
        };
        if self.authorize(principal, host, op, resource_type, HARDCODED_NAME) {
            return true;
        }
        let index = &self.index[slot];
        let relevant =
            |ace: &Ace| ace.applies_to(principal, host) && (ace.operation == op || ace.operation == AclOperation::All);
        let mut denied_literal: HashSet<&str> = HashSet::new();
        let mut denied_prefixes: HashSet<&str> = HashSet::new();
        let mut allowed: Vec<(PatternType, &str)> = Vec::new();
        let mut wildcard_allowed = false;
        for (name, aces) in &index.literal {
            for ace in aces.iter().filter(|ace| relevant(ace)) {
                match (ace.allow, name.as_str() == WILDCARD) {
                    (false, true) => return false,
                    (false, false) => {
                        denied_literal.insert(name);
                    }
                    (true, true) => wildcard_allowed = true,
                    (true, false) => allowed.push((PatternType::Literal, name)),
                }
            }
        }
        for (name, aces) in &index.prefixed {
            for ace in aces.iter().filter(|ace| relevant(ace)) {
                if ace.allow {
                    allowed.push((PatternType::Prefixed, name));
                } else {
                    denied_prefixes.insert(name);
                }
            }
        }
        if wildcard_allowed {
            return true;
        }
        allowed.iter().any(|&(pattern_type, name)| {
            if pattern_type == PatternType::Literal && denied_literal.contains(name) {
                return false;
            }
            let dominated = name
                .char_indices()
                .map(|(i, c)| &name[..i + c.len_utf8()])
                .any(|prefix| denied_prefixes.contains(prefix));
            !dominated
        })
    }
}

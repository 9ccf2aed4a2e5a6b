//! The ACL authorizer against Kafka's rules, one rule per test, plus a property test comparing
//! the indexed authorizer with a naive linear scan written straight from Kafka's source.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use sluice_security::KafkaPrincipal;
use sluice_security::acl::{
    AclBinding, AclBindingFilter, AclError, AclOperation, AclPermissionType, Authorizer, AuthorizerConfig, PatternType,
    ResourceType, parse_super_users, validate_filter, validate_for_create,
};

use AclOperation as Op;
use AclPermissionType::{Allow, Deny};
use PatternType::{Literal, Prefixed};
use ResourceType::{Cluster, Group, Topic};

const HOST: &str = "10.0.0.1";

fn acl(
    rt: ResourceType,
    name: &str,
    pt: PatternType,
    principal: &str,
    host: &str,
    op: AclOperation,
    perm: AclPermissionType,
) -> AclBinding {
    AclBinding::new(rt, name, pt, principal, host, op, perm)
}

fn topic(name: &str, pt: PatternType, principal: &str, op: AclOperation, perm: AclPermissionType) -> AclBinding {
    acl(Topic, name, pt, principal, "*", op, perm)
}

fn authorizer(acls: impl IntoIterator<Item = AclBinding>) -> Authorizer {
    let mut a = Authorizer::new(AuthorizerConfig::default());
    for b in acls {
        a.add(b).unwrap();
    }
    a
}

fn alice() -> KafkaPrincipal {
    KafkaPrincipal::user("alice")
}

fn can(a: &Authorizer, who: &KafkaPrincipal, op: AclOperation, name: &str) -> bool {
    a.authorize(who, HOST, op, Topic, name)
}

#[test]
fn literal_allow_grants_only_that_name_operation_and_principal() {
    let a = authorizer([topic("orders", Literal, "User:alice", Op::Read, Allow)]);
    assert!(can(&a, &alice(), Op::Read, "orders"));
    assert!(!can(&a, &alice(), Op::Write, "orders"));
    assert!(!can(&a, &alice(), Op::Read, "orders2"));
    assert!(!can(&a, &alice(), Op::Read, "order"));
    assert!(!can(&a, &KafkaPrincipal::user("bob"), Op::Read, "orders"));
    assert!(!a.authorize(&alice(), HOST, Op::Read, Group, "orders"));
}

#[test]
fn deny_beats_allow() {
    let a = authorizer([
        topic("orders", Literal, "User:alice", Op::Read, Allow),
        topic("ord", Prefixed, "User:alice", Op::Read, Deny),
    ]);
    assert!(!can(&a, &alice(), Op::Read, "orders"));
    let a = authorizer([
        topic("*", Literal, "User:*", Op::All, Allow),
        topic("orders", Literal, "User:alice", Op::Write, Deny),
    ]);
    assert!(!can(&a, &alice(), Op::Write, "orders"));
    assert!(can(&a, &alice(), Op::Read, "orders"));
    assert!(can(&a, &alice(), Op::Write, "payments"));
}

#[test]
fn super_users_are_allowed_everything_even_against_deny() {
    let config = AuthorizerConfig {
        super_users: parse_super_users(" User:admin ; ;User:CN=broker,O=acme:x").unwrap(),
        allow_everyone_if_no_acl_found: false,
    };
    let mut a = Authorizer::new(config);
    a.add(topic("*", Literal, "User:*", Op::All, Deny)).unwrap();
    assert!(can(&a, &KafkaPrincipal::user("admin"), Op::Delete, "orders"));
    assert!(can(
        &a,
        &KafkaPrincipal::parse("User:CN=broker,O=acme:x").unwrap(),
        Op::Write,
        "x"
    ));
    assert!(!can(&a, &alice(), Op::Read, "orders"));
    assert!(a.authorize_by_resource_type(&KafkaPrincipal::user("admin"), HOST, Op::Write, Topic));
    assert_eq!(
        a.authorized_operations(&KafkaPrincipal::user("admin"), HOST, Topic, "t"),
        0b1101_1111_1000
    );
}

#[test]
fn parse_super_users_refuses_entries_without_type() {
    assert_eq!(parse_super_users("").unwrap(), vec![]);
    assert_eq!(
        parse_super_users("User:a;alice"),
        Err(AclError::InvalidSuperUser("alice".into()))
    );
}

#[test]
fn wildcard_principal_is_only_user_star() {
    let a = authorizer([topic("t", Literal, "User:*", Op::Read, Allow)]);
    assert!(can(&a, &alice(), Op::Read, "t"));
    assert!(can(&a, &KafkaPrincipal::parse("Group:x").unwrap(), Op::Read, "t"));
    let a = authorizer([topic("t", Literal, "Group:*", Op::Read, Allow)]);
    assert!(!can(&a, &KafkaPrincipal::parse("Group:x").unwrap(), Op::Read, "t"));
}

#[test]
fn host_must_match_unless_wildcard() {
    let a = authorizer([acl(Topic, "t", Literal, "User:alice", "10.0.0.2", Op::Read, Allow)]);
    assert!(!a.authorize(&alice(), "10.0.0.1", Op::Read, Topic, "t"));
    assert!(a.authorize(&alice(), "10.0.0.2", Op::Read, Topic, "t"));
    let a = authorizer([acl(Topic, "t", Literal, "User:alice", "*", Op::Read, Allow)]);
    assert!(a.authorize(&alice(), "192.168.1.9", Op::Read, Topic, "t"));
}

#[test]
fn wildcard_resource_literal_matches_every_name_but_prefixed_star_does_not() {
    let a = authorizer([topic("*", Literal, "User:alice", Op::Read, Allow)]);
    assert!(can(&a, &alice(), Op::Read, "anything"));
    assert!(can(&a, &alice(), Op::Read, "*"));
    let a = authorizer([topic("*", Prefixed, "User:alice", Op::Read, Allow)]);
    assert!(!can(&a, &alice(), Op::Read, "anything"));
    assert!(can(&a, &alice(), Op::Read, "*anything"));
}

#[test]
fn prefixed_matches_names_starting_with_it_and_literal_needs_equality() {
    let a = authorizer([
        topic("team-a-", Prefixed, "User:alice", Op::Write, Allow),
        topic("team-b", Literal, "User:alice", Op::Write, Allow),
        topic("x", Prefixed, "User:alice", Op::Write, Allow),
        topic("té", Prefixed, "User:alice", Op::Write, Allow),
    ]);
    assert!(can(&a, &alice(), Op::Write, "team-a-"));
    assert!(can(&a, &alice(), Op::Write, "team-a-orders"));
    assert!(!can(&a, &alice(), Op::Write, "team-a"));
    assert!(!can(&a, &alice(), Op::Write, "team-b-orders"));
    assert!(can(&a, &alice(), Op::Write, "team-b"));
    assert!(can(&a, &alice(), Op::Write, "xyz"));
    assert!(can(&a, &alice(), Op::Write, "tést"));
    assert!(!can(&a, &alice(), Op::Write, "tè"));
    assert!(!can(&a, &alice(), Op::Write, "team"));
}

#[test]
fn prefix_walk_finds_every_prefix_among_many_patterns() {
    // Many neighbours sort between the name and its short prefixes.
    let mut acls = vec![topic("f", Prefixed, "User:alice", Op::Read, Allow)];
    for n in ["fa", "fb", "foo", "foob", "foobaz", "fooc", "gar", "e"] {
        acls.push(topic(n, Prefixed, "User:bob", Op::Read, Allow));
    }
    acls.push(topic("foob", Literal, "User:carol", Op::Read, Allow));
    let a = authorizer(acls);
    assert!(can(&a, &alice(), Op::Read, "foobar"));
    assert!(can(&a, &KafkaPrincipal::user("bob"), Op::Read, "foobar"));
    assert!(!can(&a, &KafkaPrincipal::user("carol"), Op::Read, "foobar"));
    assert!(can(&a, &KafkaPrincipal::user("carol"), Op::Read, "foob"));
}

#[test]
fn all_matches_every_operation() {
    let a = authorizer([topic("t", Literal, "User:alice", Op::All, Allow)]);
    for &op in Op::VALUES {
        assert!(can(&a, &alice(), op, "t"), "{op}");
    }
    let a = authorizer([
        topic("t", Literal, "User:alice", Op::Read, Allow),
        topic("t", Literal, "User:alice", Op::All, Deny),
    ]);
    assert!(!can(&a, &alice(), Op::Read, "t"));
    assert!(!can(&a, &alice(), Op::Describe, "t"));
}

#[test]
fn allow_of_read_write_delete_alter_implies_describe() {
    for op in [Op::Read, Op::Write, Op::Delete, Op::Alter, Op::Describe] {
        let a = authorizer([topic("t", Literal, "User:alice", op, Allow)]);
        assert!(can(&a, &alice(), Op::Describe, "t"), "{op}");
        assert!(!can(&a, &alice(), Op::DescribeConfigs, "t"), "{op}");
    }
    for op in [Op::Create, Op::AlterConfigs, Op::DescribeConfigs, Op::ClusterAction] {
        let a = authorizer([topic("t", Literal, "User:alice", op, Allow)]);
        assert!(!can(&a, &alice(), Op::Describe, "t"), "{op}");
    }
    // Implication goes one way only.
    let a = authorizer([topic("t", Literal, "User:alice", Op::Describe, Allow)]);
    assert!(!can(&a, &alice(), Op::Read, "t"));
}

#[test]
fn allow_of_alter_configs_implies_describe_configs() {
    let a = authorizer([topic("t", Literal, "User:alice", Op::AlterConfigs, Allow)]);
    assert!(can(&a, &alice(), Op::DescribeConfigs, "t"));
    let a = authorizer([topic("t", Literal, "User:alice", Op::DescribeConfigs, Allow)]);
    assert!(!can(&a, &alice(), Op::AlterConfigs, "t"));
}

#[test]
fn deny_does_not_imply_describe() {
    let a = authorizer([
        topic("t", Literal, "User:alice", Op::Describe, Allow),
        topic("t", Literal, "User:alice", Op::Read, Deny),
        topic("t", Literal, "User:alice", Op::AlterConfigs, Deny),
        topic("t", Literal, "User:alice", Op::DescribeConfigs, Allow),
    ]);
    assert!(can(&a, &alice(), Op::Describe, "t"));
    assert!(can(&a, &alice(), Op::DescribeConfigs, "t"));
    assert!(!can(&a, &alice(), Op::Read, "t"));
    // But a DENY of DESCRIBE denies DESCRIBE even where READ is allowed.
    let a = authorizer([
        topic("t", Literal, "User:alice", Op::Read, Allow),
        topic("t", Literal, "User:alice", Op::Describe, Deny),
    ]);
    assert!(!can(&a, &alice(), Op::Describe, "t"));
    assert!(can(&a, &alice(), Op::Read, "t"));
}

#[test]
fn no_acl_on_resource_falls_back_to_config_both_ways() {
    let acls = [topic("other", Literal, "User:bob", Op::Read, Allow)];
    let deny = authorizer(acls.clone());
    assert!(!can(&deny, &alice(), Op::Read, "t"));
    let mut allow = Authorizer::new(AuthorizerConfig {
        super_users: vec![],
        allow_everyone_if_no_acl_found: true,
    });
    for b in acls {
        allow.add(b).unwrap();
    }
    assert!(can(&allow, &alice(), Op::Read, "t"));
    // An ACL on the resource for someone else means "no" for everyone not matched.
    assert!(!can(&allow, &alice(), Op::Read, "other"));
    // ... and that includes prefixed and wildcard ACLs.
    allow.add(topic("pay", Prefixed, "User:bob", Op::Read, Allow)).unwrap();
    assert!(!can(&allow, &alice(), Op::Read, "payments"));
    allow.add(topic("*", Literal, "User:bob", Op::Read, Allow)).unwrap();
    assert!(!can(&allow, &alice(), Op::Read, "t"));
    // Removing them restores the fallback.
    allow.remove_matching(&AclBindingFilter::ANY);
    assert!(can(&allow, &alice(), Op::Read, "other"));
}

#[test]
fn authorized_operations_bit_fields() {
    let a = authorizer([
        topic("t", Literal, "User:alice", Op::Read, Allow),
        topic("t", Literal, "User:alice", Op::AlterConfigs, Allow),
        topic("t", Literal, "User:alice", Op::DescribeConfigs, Deny),
        acl(
            Cluster,
            "kafka-cluster",
            Literal,
            "User:alice",
            "*",
            Op::IdempotentWrite,
            Allow,
        ),
        acl(
            Cluster,
            "kafka-cluster",
            Literal,
            "User:alice",
            "*",
            Op::TwoPhaseCommit,
            Allow,
        ),
    ]);
    let bits = |ops: &[AclOperation]| ops.iter().fold(0, |m, op| m | (1 << op.code()));
    assert_eq!(
        a.authorized_operations(&alice(), HOST, Topic, "t"),
        bits(&[Op::Read, Op::Describe, Op::AlterConfigs])
    );
    // TWO_PHASE_COMMIT is not a supported CLUSTER operation, so it never shows.
    assert_eq!(
        a.authorized_operations(&alice(), HOST, Cluster, "kafka-cluster"),
        bits(&[Op::IdempotentWrite])
    );
    assert_eq!(a.authorized_operations(&alice(), HOST, Group, "g"), 0);
    let open = Authorizer::new(AuthorizerConfig {
        super_users: vec![],
        allow_everyone_if_no_acl_found: true,
    });
    assert_eq!(
        open.authorized_operations(&alice(), HOST, Group, "g"),
        bits(Group.supported_operations())
    );
    assert_eq!(
        open.authorized_operations(&alice(), HOST, ResourceType::TransactionalId, "x"),
        bits(&[Op::Describe, Op::Write])
    );
}

#[test]
fn authorize_by_resource_type_follows_kafka_default() {
    let write = |acls: Vec<AclBinding>| authorizer(acls).authorize_by_resource_type(&alice(), HOST, Op::Write, Topic);
    assert!(!write(vec![]));
    assert!(write(vec![topic("t", Literal, "User:alice", Op::Write, Allow)]));
    assert!(write(vec![topic("t", Prefixed, "User:*", Op::All, Allow)]));
    // Implied operations do not count here.
    assert!(
        !authorizer([topic("t", Literal, "User:alice", Op::Write, Allow)]).authorize_by_resource_type(
            &alice(),
            HOST,
            Op::Describe,
            Topic
        )
    );
    // A literal allow dominated by a literal deny of the same name, or a prefixed deny.
    assert!(!write(vec![
        topic("t", Literal, "User:alice", Op::Write, Allow),
        topic("t", Literal, "User:alice", Op::Write, Deny),
    ]));
    assert!(!write(vec![
        topic("team-a", Literal, "User:alice", Op::Write, Allow),
        topic("team-a", Prefixed, "User:alice", Op::Write, Allow),
        topic("team", Prefixed, "User:alice", Op::Write, Deny),
    ]));
    // A literal deny does not dominate a prefixed allow.
    assert!(write(vec![
        topic("team", Prefixed, "User:alice", Op::Write, Allow),
        topic("team", Literal, "User:alice", Op::Write, Deny),
    ]));
    // Wildcard allow wins over prefixed denies; wildcard deny loses to nothing.
    assert!(write(vec![
        topic("*", Literal, "User:alice", Op::Write, Allow),
        topic("a", Prefixed, "User:alice", Op::Write, Deny),
    ]));
    assert!(!write(vec![
        topic("*", Literal, "User:alice", Op::Write, Deny),
        topic("t", Literal, "User:alice", Op::Write, Allow),
    ]));
    // Deny for another host or principal does not count.
    assert!(write(vec![
        topic("t", Literal, "User:alice", Op::Write, Allow),
        acl(Topic, "t", Literal, "User:alice", "10.9.9.9", Op::Write, Deny),
        topic("t", Literal, "User:bob", Op::Write, Deny),
    ]));
    // The "hardcode" probe: allow.everyone.if.no.acl.found with no ACL on that name allows.
    let mut open = Authorizer::new(AuthorizerConfig {
        super_users: vec![],
        allow_everyone_if_no_acl_found: true,
    });
    assert!(open.authorize_by_resource_type(&alice(), HOST, Op::Write, Topic));
    open.add(topic("*", Literal, "User:bob", Op::Write, Allow)).unwrap();
    assert!(!open.authorize_by_resource_type(&alice(), HOST, Op::Write, Topic));
    // Filter values are refused, as Kafka refuses them.
    assert!(!open.authorize_by_resource_type(&alice(), HOST, Op::Any, Topic));
    assert!(!open.authorize_by_resource_type(&alice(), HOST, Op::Write, ResourceType::Any));
}

#[test]
fn add_is_idempotent_and_len_counts_bindings() {
    let mut a = authorizer([]);
    assert!(a.is_empty());
    let b = topic("t", Literal, "User:alice", Op::Read, Allow);
    assert_eq!(a.add(b.clone()), Ok(true));
    assert_eq!(a.add(b.clone()), Ok(false));
    assert_eq!(a.len(), 1);
    assert_eq!(a.remove_matching(&AclBindingFilter::from(&b)), vec![b.clone()]);
    assert!(!can(&a, &alice(), Op::Read, "t"));
    assert_eq!(a.len(), 0);
}

fn filter(rt: ResourceType, name: Option<&str>, pt: PatternType) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: rt,
        resource_name: name.map(str::to_string),
        pattern_type: pt,
        ..AclBindingFilter::ANY
    }
}

fn sample() -> Vec<AclBinding> {
    vec![
        topic("foo", Literal, "User:alice", Op::Read, Allow),
        topic("*", Literal, "User:bob", Op::Read, Allow),
        topic("fo", Prefixed, "User:alice", Op::Write, Deny),
        topic("foobar", Prefixed, "User:alice", Op::Write, Allow),
        topic("foo", Prefixed, "User:carol", Op::Read, Allow),
        acl(Group, "foo", Literal, "User:alice", "10.0.0.1", Op::Read, Allow),
    ]
}

#[test]
fn filter_matching_follows_resource_pattern_filter() {
    let a = authorizer(sample());
    let names = |f: &AclBindingFilter| {
        a.describe(f)
            .into_iter()
            .map(|b| format!("{}:{}:{}", b.resource_type, b.pattern_type, b.resource_name))
            .collect::<Vec<_>>()
    };
    assert_eq!(a.describe(&AclBindingFilter::ANY).len(), 6);
    // MATCH: literal equal, the * literal, prefixes of the name; not longer prefixed patterns.
    assert_eq!(
        names(&filter(Topic, Some("foo"), PatternType::Match)),
        [
            "TOPIC:LITERAL:*",
            "TOPIC:PREFIXED:fo",
            "TOPIC:LITERAL:foo",
            "TOPIC:PREFIXED:foo"
        ]
    );
    // ANY: exact name, any pattern type; the * literal is just a name.
    assert_eq!(
        names(&filter(ResourceType::Any, Some("foo"), PatternType::Any)),
        ["TOPIC:LITERAL:foo", "TOPIC:PREFIXED:foo", "GROUP:LITERAL:foo"]
    );
    assert_eq!(names(&filter(Topic, Some("*"), PatternType::Any)), ["TOPIC:LITERAL:*"]);
    // A concrete pattern type: exact name and that type.
    assert_eq!(names(&filter(Topic, Some("foo"), Prefixed)), ["TOPIC:PREFIXED:foo"]);
    assert_eq!(names(&filter(Topic, Some("foobarbaz"), Prefixed)), Vec::<String>::new());
    assert_eq!(names(&filter(Topic, None, Prefixed)).len(), 3);
    // Entry fields: exact strings, no wildcard expansion.
    let by_principal = AclBindingFilter {
        principal: Some("User:*".into()),
        ..AclBindingFilter::ANY
    };
    assert!(a.describe(&by_principal).is_empty());
    let by_host = AclBindingFilter {
        host: Some("10.0.0.1".into()),
        ..AclBindingFilter::ANY
    };
    assert_eq!(a.describe(&by_host).len(), 1);
    let by_op = AclBindingFilter {
        operation: Op::Write,
        permission: Deny,
        ..AclBindingFilter::ANY
    };
    assert_eq!(names(&by_op), ["TOPIC:PREFIXED:fo"]);
    let unknown_op = AclBindingFilter {
        operation: Op::Unknown,
        ..AclBindingFilter::ANY
    };
    assert!(a.describe(&unknown_op).is_empty());
}

#[test]
fn describe_order_is_deterministic() {
    let mut forward = authorizer(sample());
    let mut backward = authorizer(sample().into_iter().rev());
    assert_eq!(
        forward.describe(&AclBindingFilter::ANY),
        backward.describe(&AclBindingFilter::ANY)
    );
    let listed = forward.describe(&AclBindingFilter::ANY);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    let f = filter(Topic, Some("foo"), PatternType::Match);
    assert_eq!(forward.remove_matching(&f), backward.remove_matching(&f));
}

#[test]
fn remove_matching_returns_exactly_what_it_removed() {
    let mut a = authorizer(sample());
    let removed = a.remove_matching(&filter(Topic, Some("foobarbaz"), PatternType::Match));
    let expected: Vec<AclBinding> = vec![
        topic("*", Literal, "User:bob", Op::Read, Allow),
        topic("fo", Prefixed, "User:alice", Op::Write, Deny),
        topic("foo", Prefixed, "User:carol", Op::Read, Allow),
        topic("foobar", Prefixed, "User:alice", Op::Write, Allow),
    ];
    assert_eq!(removed, expected);
    assert_eq!(a.len(), 2);
    let left = a.describe(&AclBindingFilter::ANY);
    assert!(sample().iter().all(|b| left.contains(b) != removed.contains(b)));
    assert!(
        a.remove_matching(&filter(Topic, Some("foobarbaz"), PatternType::Match))
            .is_empty()
    );
    // The index forgot them too.
    assert!(!can(&a, &KafkaPrincipal::user("bob"), Op::Read, "zzz"));
    assert!(can(&a, &alice(), Op::Write, "fox") == a.describe(&AclBindingFilter::ANY).is_empty());
}

#[test]
fn validation_refuses_what_kafka_refuses() {
    let ok = topic("t", Literal, "User:*", Op::Alter, Allow);
    assert_eq!(validate_for_create(&ok), Ok(()));
    let with = |f: &dyn Fn(&mut AclBinding)| {
        let mut b = ok.clone();
        f(&mut b);
        validate_for_create(&b).map_err(|e| e.to_string())
    };
    assert_eq!(
        with(&|b| b.resource_type = ResourceType::Unknown),
        Err("Invalid resourceType UNKNOWN".into())
    );
    assert_eq!(
        with(&|b| b.resource_type = ResourceType::Any),
        Err("Invalid resourceType ANY".into())
    );
    assert_eq!(
        with(&|b| b.pattern_type = PatternType::Match),
        Err("Invalid patternType MATCH".into())
    );
    assert_eq!(
        with(&|b| b.pattern_type = PatternType::Any),
        Err("Invalid patternType ANY".into())
    );
    assert_eq!(
        with(&|b| b.pattern_type = PatternType::Unknown),
        Err("Invalid patternType UNKNOWN".into())
    );
    assert_eq!(with(&|b| b.operation = Op::Any), Err("Invalid operation ANY".into()));
    assert_eq!(
        with(&|b| b.operation = Op::Unknown),
        Err("Invalid operation UNKNOWN".into())
    );
    assert_eq!(
        with(&|b| b.permission = AclPermissionType::Any),
        Err("Invalid permissionType ANY".into())
    );
    assert_eq!(
        with(&|b| b.permission = AclPermissionType::Unknown),
        Err("Invalid permissionType UNKNOWN".into())
    );
    assert_eq!(
        with(&|b| b.resource_name.clear()),
        Err("Invalid empty resource name".into())
    );
    assert_eq!(
        with(&|b| {
            b.resource_type = Cluster;
            b.resource_name = "other".into()
        }),
        Err("The only valid name for the CLUSTER resource is kafka-cluster".into())
    );
    for bad in ["alice", ":alice", "User:", ""] {
        assert_eq!(
            with(&|b| b.principal = bad.into()),
            Err(format!(
                "expected a string in format principalType:principalName but got {bad}"
            ))
        );
    }
    let mut a = authorizer([]);
    assert_eq!(
        a.add(AclBinding {
            operation: Op::Any,
            ..ok.clone()
        }),
        Err(AclError::InvalidOperation(Op::Any))
    );
    assert!(a.is_empty());

    assert_eq!(validate_filter(&AclBindingFilter::ANY), Ok(()));
    assert_eq!(
        validate_filter(&filter(ResourceType::Unknown, None, PatternType::Any)),
        Err(AclError::UnknownPatternFilter)
    );
    assert_eq!(
        validate_filter(&filter(Topic, None, PatternType::Unknown)),
        Err(AclError::UnknownPatternFilter)
    );
    let unknown_perm = AclBindingFilter {
        permission: AclPermissionType::Unknown,
        ..AclBindingFilter::ANY
    };
    assert_eq!(validate_filter(&unknown_perm), Err(AclError::UnknownEntryFilter));
}

// ---------------------------------------------------------------------------------------------
// A naive reference: a list of bindings scanned in full, written from Kafka's source
// (StandardAuthorizerData.findAclRule/findResult, Authorizer.authorizeByResourceType).

struct Naive {
    acls: Vec<AclBinding>,
    super_users: Vec<String>,
    allow_if_none: bool,
}

impl Naive {
    fn operation_matches(b: &AclBinding, op: AclOperation) -> bool {
        if b.operation == Op::All {
            return true;
        }
        if b.permission == Allow {
            match op {
                Op::Describe => [Op::Describe, Op::Read, Op::Write, Op::Delete, Op::Alter].contains(&b.operation),
                Op::DescribeConfigs => [Op::DescribeConfigs, Op::AlterConfigs].contains(&b.operation),
                _ => b.operation == op,
            }
        } else {
            b.operation == op
        }
    }

    fn applies(b: &AclBinding, rt: ResourceType, name: &str) -> bool {
        b.resource_type == rt
            && match b.pattern_type {
                Literal => b.resource_name == name || b.resource_name == "*",
                Prefixed => name.starts_with(&b.resource_name),
                _ => unreachable!(),
            }
    }

    fn who_matches(b: &AclBinding, principal: &KafkaPrincipal, host: &str) -> bool {
        (b.principal == principal.to_string() || b.principal == "User:*") && (b.host == host || b.host == "*")
    }

    fn authorize(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        op: AclOperation,
        rt: ResourceType,
        name: &str,
    ) -> bool {
        if self.super_users.contains(&principal.to_string()) {
            return true;
        }
        let applicable: Vec<&AclBinding> = self.acls.iter().filter(|b| Self::applies(b, rt, name)).collect();
        let matching: Vec<&&AclBinding> = applicable
            .iter()
            .filter(|b| Self::who_matches(b, principal, host) && Self::operation_matches(b, op))
            .collect();
        if matching.iter().any(|b| b.permission == Deny) {
            false
        } else if matching.iter().any(|b| b.permission == Allow) {
            true
        } else if !applicable.is_empty() {
            false
        } else {
            self.allow_if_none
        }
    }

    fn authorized_operations(&self, principal: &KafkaPrincipal, host: &str, rt: ResourceType, name: &str) -> i32 {
        rt.supported_operations()
            .iter()
            .filter(|&&op| self.authorize(principal, host, op, rt, name))
            .fold(0, |m, op| m | (1 << op.code()))
    }

    fn authorize_by_resource_type(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        op: AclOperation,
        rt: ResourceType,
    ) -> bool {
        if self.authorize(principal, host, op, rt, "hardcode") {
            return true;
        }
        let mut deny_literal = Vec::new();
        let mut deny_prefixed = Vec::new();
        let mut allow = Vec::new();
        let mut wildcard_allow = false;
        for b in self.acls.iter().filter(|b| b.resource_type == rt) {
            if !Self::who_matches(b, principal, host) || (b.operation != op && b.operation != Op::All) {
                continue;
            }
            match (b.permission, b.pattern_type) {
                (Deny, Literal) if b.resource_name == "*" => return false,
                (Deny, Literal) => deny_literal.push(b.resource_name.clone()),
                (Deny, _) => deny_prefixed.push(b.resource_name.clone()),
                (_, Literal) if b.resource_name == "*" => wildcard_allow = true,
                (_, pt) => allow.push((pt, b.resource_name.clone())),
            }
        }
        if wildcard_allow {
            return true;
        }
        for (pt, name) in allow {
            if pt == Literal && deny_literal.contains(&name) {
                continue;
            }
            let mut prefix = String::new();
            let mut dominated = false;
            for c in name.chars() {
                prefix.push(c);
                if deny_prefixed.contains(&prefix) {
                    dominated = true;
                    break;
                }
            }
            if !dominated {
                return true;
            }
        }
        false
    }
}

const NAMES: &[&str] = &["a", "ab", "abc", "b", "ba", "*", "é", "éa", "hard"];
const REQUEST_NAMES: &[&str] = &[
    "a", "ab", "abc", "abcd", "abd", "b", "ba", "bb", "c", "*", "é", "éab", "éb", "hardcode",
];
const PRINCIPALS: &[&str] = &["User:alice", "User:bob", "User:*", "Group:alice"];
const CALLERS: &[&str] = &["User:alice", "User:bob", "Group:alice", "User:carol"];
const HOSTS: &[&str] = &["*", "10.0.0.1", "10.0.0.2"];

fn concrete_ops() -> Vec<AclOperation> {
    Op::VALUES
        .iter()
        .copied()
        .filter(|op| !matches!(op, Op::Unknown | Op::Any))
        .collect()
}

fn binding_strategy() -> impl Strategy<Value = AclBinding> {
    (
        prop::sample::select(vec![Topic, Group]),
        prop::sample::select(NAMES),
        prop::sample::select(vec![Literal, Prefixed]),
        prop::sample::select(PRINCIPALS),
        prop::sample::select(HOSTS),
        prop::sample::select(concrete_ops()),
        prop::sample::select(vec![Allow, Deny]),
    )
        .prop_map(|(rt, name, pt, principal, host, op, perm)| acl(rt, name, pt, principal, host, op, perm))
}

#[derive(Debug, Clone)]
struct Request {
    principal: KafkaPrincipal,
    host: &'static str,
    op: AclOperation,
    rt: ResourceType,
    name: &'static str,
}

fn request_strategy() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(CALLERS),
        prop::sample::select(&HOSTS[1..]),
        prop::sample::select(concrete_ops()),
        prop::sample::select(vec![Topic, Group]),
        prop::sample::select(REQUEST_NAMES),
    )
        .prop_map(|(p, host, op, rt, name)| Request {
            principal: KafkaPrincipal::parse(p).unwrap(),
            host,
            op,
            rt,
            name,
        })
}

fn filter_strategy() -> impl Strategy<Value = AclBindingFilter> {
    (
        prop::sample::select(vec![ResourceType::Any, Topic, Group]),
        prop::option::of(prop::sample::select(REQUEST_NAMES)),
        prop::sample::select(vec![PatternType::Any, PatternType::Match, Literal, Prefixed]),
        prop::option::of(prop::sample::select(PRINCIPALS)),
        prop::option::weighted(0.2, prop::sample::select(HOSTS)),
        prop::sample::select(vec![Op::Any, Op::Any, Op::Read, Op::All]),
        prop::sample::select(vec![AclPermissionType::Any, Allow, Deny]),
    )
        .prop_map(|(rt, name, pt, principal, host, op, perm)| AclBindingFilter {
            resource_type: rt,
            resource_name: name.map(str::to_string),
            pattern_type: pt,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation: op,
            permission: perm,
        })
}

fn check_same(real: &Authorizer, naive: &Naive, requests: &[Request]) -> Result<(), TestCaseError> {
    for r in requests {
        prop_assert_eq!(
            real.authorize(&r.principal, r.host, r.op, r.rt, r.name),
            naive.authorize(&r.principal, r.host, r.op, r.rt, r.name),
            "authorize {:?}",
            r
        );
        prop_assert_eq!(
            real.authorized_operations(&r.principal, r.host, r.rt, r.name),
            naive.authorized_operations(&r.principal, r.host, r.rt, r.name),
            "authorized_operations {:?}",
            r
        );
        prop_assert_eq!(
            real.authorize_by_resource_type(&r.principal, r.host, r.op, r.rt),
            naive.authorize_by_resource_type(&r.principal, r.host, r.op, r.rt),
            "authorize_by_resource_type {:?}",
            r
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 400, rng_seed: RngSeed::Fixed(0x5EED_AC15), ..Config::default() })]

    #[test]
    fn indexed_authorizer_agrees_with_linear_scan(
        acls in prop::collection::vec(binding_strategy(), 0..40),
        requests in prop::collection::vec(request_strategy(), 1..40),
        remove in filter_strategy(),
        allow_if_none in any::<bool>(),
        bob_is_super in any::<bool>(),
    ) {
        let super_users = if bob_is_super { vec![KafkaPrincipal::user("bob")] } else { vec![] };
        let mut real = Authorizer::new(AuthorizerConfig {
            super_users: super_users.clone(),
            allow_everyone_if_no_acl_found: allow_if_none,
        });
        let mut naive = Naive {
            acls: Vec::new(),
            super_users: super_users.iter().map(|p| p.to_string()).collect(),
            allow_if_none,
        };
        for b in &acls {
            let new = real.add(b.clone()).unwrap();
            prop_assert_eq!(new, !naive.acls.contains(b));
            if new {
                naive.acls.push(b.clone());
            }
        }
        prop_assert_eq!(real.len(), naive.acls.len());
        check_same(&real, &naive, &requests)?;

        let mut expected: Vec<AclBinding> = naive.acls.iter().filter(|b| remove.matches(b)).cloned().collect();
        expected.sort();
        prop_assert_eq!(real.describe(&remove), expected.clone());
        prop_assert_eq!(real.remove_matching(&remove), expected);
        naive.acls.retain(|b| !remove.matches(b));
        prop_assert_eq!(real.len(), naive.acls.len());
        check_same(&real, &naive, &requests)?;
    }
}

fn random_name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!['a', 'b', 'é', 'è']), 1..6)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(Config { cases: 300, rng_seed: RngSeed::Fixed(0xF1_0A7E), ..Config::default() })]

    /// Random names over a tiny alphabet make many patterns share prefixes and diverge at
    /// every position (including inside a two-byte character), which is what the prefix walk
    /// must get right.
    #[test]
    fn prefix_walk_agrees_with_linear_scan_on_random_names(
        patterns in prop::collection::vec((random_name(), any::<bool>(), any::<bool>()), 0..60),
        names in prop::collection::vec(random_name(), 1..30),
    ) {
        let mut real = Authorizer::new(AuthorizerConfig::default());
        let mut naive = Naive { acls: Vec::new(), super_users: Vec::new(), allow_if_none: false };
        for (name, prefixed, deny) in patterns {
            let b = topic(&name, if prefixed { Prefixed } else { Literal }, "User:alice", Op::Read, if deny { Deny } else { Allow });
            if real.add(b.clone()).unwrap() {
                naive.acls.push(b);
            }
        }
        for name in &names {
            prop_assert_eq!(
                real.authorize(&alice(), HOST, Op::Read, Topic, name),
                naive.authorize(&alice(), HOST, Op::Read, Topic, name),
                "{}", name
            );
        }
    }
}

//! authorize() cost with 10,000 ACLs: an allowed, a denied and a no-match decision.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_security::KafkaPrincipal;
use sluice_security::acl::{
    AclBinding, AclOperation, AclPermissionType, Authorizer, AuthorizerConfig, PatternType, ResourceType,
};

/// 10,000 distinct ACLs over 500 principals: about 70% literal topic ACLs over 2,000 topics, 20%
/// prefixed topic ACLs over 200 team prefixes, 10% group ACLs; one in ten is a DENY.
fn populated() -> Authorizer {
    let mut authorizer = Authorizer::new(AuthorizerConfig {
        super_users: vec![KafkaPrincipal::user("admin")],
        allow_everyone_if_no_acl_found: false,
    });
    let ops = [
        AclOperation::Read,
        AclOperation::Write,
        AclOperation::Describe,
        AclOperation::All,
    ];
    let mut i = 0u32;
    while authorizer.len() < 10_000 {
        let principal = format!("User:user-{}", i % 500);
        let permission = if i % 10 == 9 {
            AclPermissionType::Deny
        } else {
            AclPermissionType::Allow
        };
        let op = ops[(i as usize / 7) % ops.len()];
        let (rt, name, pattern) = match i % 10 {
            0..=6 => (
                ResourceType::Topic,
                format!("team-{}-topic-{}", i % 200, i % 2000),
                PatternType::Literal,
            ),
            7 | 8 => (
                ResourceType::Topic,
                format!("team-{}-", (i * 7) % 200),
                PatternType::Prefixed,
            ),
            _ => (ResourceType::Group, format!("group-{}", i % 300), PatternType::Literal),
        };
        let host = if i % 3 == 0 { "10.1.2.3" } else { "*" };
        authorizer
            .add(AclBinding::new(rt, name, pattern, principal, host, op, permission))
            .unwrap();
        i += 1;
    }
    authorizer
}

fn bench(c: &mut Criterion) {
    let mut authorizer = populated();
    assert_eq!(authorizer.len(), 10_000);
    let alice = KafkaPrincipal::user("alice");
    let host = "10.1.2.3";
    authorizer
        .add(AclBinding::new(
            ResourceType::Topic,
            "team-42-topic-1042",
            PatternType::Literal,
            "User:alice",
            "*",
            AclOperation::Read,
            AclPermissionType::Allow,
        ))
        .unwrap();
    authorizer
        .add(AclBinding::new(
            ResourceType::Topic,
            "team-42-",
            PatternType::Prefixed,
            "User:alice",
            "*",
            AclOperation::Write,
            AclPermissionType::Deny,
        ))
        .unwrap();
    let allowed = ("team-42-topic-1042", AclOperation::Read);
    let denied = ("team-42-topic-1042", AclOperation::Write);
    let no_match = ("unrelated-topic-name-7", AclOperation::Read);
    assert!(authorizer.authorize(&alice, host, allowed.1, ResourceType::Topic, allowed.0));
    assert!(!authorizer.authorize(&alice, host, denied.1, ResourceType::Topic, denied.0));
    assert!(!authorizer.authorize(&alice, host, no_match.1, ResourceType::Topic, no_match.0));

    let mut group = c.benchmark_group("authorize_10k_acls");
    for (label, (name, op)) in [("allowed", allowed), ("denied", denied), ("no_match", no_match)] {
        group.bench_function(label, |b| {
            b.iter(|| {
                authorizer.authorize(
                    black_box(&alice),
                    black_box(host),
                    black_box(op),
                    ResourceType::Topic,
                    black_box(name),
                )
            })
        });
    }
    group.bench_function("authorized_operations", |b| {
        b.iter(|| {
            authorizer.authorized_operations(
                black_box(&alice),
                black_box(host),
                ResourceType::Topic,
                black_box(allowed.0),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

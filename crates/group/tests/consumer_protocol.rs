//! KIP-848 consumer groups as a state machine: heartbeats and clock ticks in, responses and
//! `__consumer_offsets` records out. Deterministic: seeded ids, a made-up clock whose timers
//! fire at their own deadlines.

use sluice_group::consumer::{ConsumerGroup, MemberState, TopicView};
use sluice_group::consumer_records::{Assignment, ConsumerRecord};
use sluice_group::records::CoordinatorRecord;
use sluice_group::{Client, CommitOffset, CommitRequest, Coordinator, GroupConfig};
use sluice_protocol::generated::consumer_group_heartbeat_request::TopicPartitions;
use sluice_protocol::generated::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use sluice_protocol::{ErrorCode, Uuid};
use std::collections::{BTreeMap, BTreeSet};

const SESSION_MS: i32 = 45_000;
const REBALANCE_MS: i32 = 20_000;

/// The topics the "broker" has: name to (id, partition count), and a version bumped by every
/// change, as the metadata image's offset is.
#[derive(Default, Clone)]
struct Topics(BTreeMap<String, (Uuid, i32)>, i64);

impl Topics {
    fn with(mut self, name: &str, id: u8, partitions: i32) -> Topics {
        self.0.insert(name.to_string(), (Uuid([id; 16]), partitions));
        self.1 += 1;
        self
    }
}

impl TopicView for Topics {
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)> {
        self.0.get(name).copied()
    }
    fn name_of(&self, id: &Uuid) -> Option<String> {
        self.0.iter().find(|(_, (i, _))| i == id).map(|(n, _)| n.clone())
    }
    fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
    fn version(&self) -> i64 {
        self.1
    }
}

/// A coordinator with a made-up clock and topic list, keeping every record it wrote.
struct Harness {
    /// The state machine under test.
    c: Coordinator,
    /// The made-up clock (ms).
    now: i64,
    /// The topics heartbeats see.
    topics: Topics,
    /// Every record written so far, in order (what `__consumer_offsets` would hold).
    records: Vec<CoordinatorRecord>,
}

fn t(id: u8) -> Uuid {
    Uuid([id; 16])
}

fn client() -> Client<'static> {
    Client {
        client_id: "client",
        client_host: "/127.0.0.1",
    }
}

impl Harness {
    fn new(topics: Topics) -> Harness {
        Harness::with_config(topics, GroupConfig::default())
    }

    fn with_config(topics: Topics, config: GroupConfig) -> Harness {
        Harness {
            c: Coordinator::new(config, 7),
            now: 1_000_000,
            topics,
            records: Vec::new(),
        }
    }

    fn send(&mut self, version: i16, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        let (resp, fx) = self
            .c
            .consumer_heartbeat(self.now, version, client(), &req, &self.topics);
        self.records.extend(fx.records);
        resp
    }

    fn join(&mut self, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatResponse {
        self.send(1, join_req(member, topics))
    }

    /// A heartbeat at `epoch`, reporting `owned` when given.
    fn beat(&mut self, member: &str, epoch: i32, owned: Option<&Assignment>) -> ConsumerGroupHeartbeatResponse {
        self.send(
            1,
            ConsumerGroupHeartbeatRequest {
                group_id: "g".into(),
                member_id: member.into(),
                member_epoch: epoch,
                topic_partitions: owned.map(to_request),
                ..Default::default()
            },
        )
    }

    /// Heartbeats like a well-behaved client: reports what it owns (the last assignment it was
    /// given) and applies the response.
    fn step(&mut self, m: &mut Client848) {
        let r = self.beat(&m.id, m.epoch, Some(&m.owned.clone()));
        assert_eq!(r.error_code, 0, "{}: {:?}", m.id, r.error_message);
        m.epoch = r.member_epoch;
        if let Some(a) = r.assignment {
            m.owned = from_response(&a);
        }
        self.assert_no_partition_has_two_owners();
    }

    fn advance(&mut self, ms: i64) {
        let target = self.now + ms;
        while let Some(deadline) = self.c.next_deadline_ms().filter(|d| *d <= target) {
            self.now = self.now.max(deadline);
            let fx = self.c.tick(self.now);
            self.records.extend(fx.records);
        }
        self.now = target;
    }

    fn group(&self) -> &ConsumerGroup {
        self.c.consumer_group("g").expect("consumer group")
    }

    fn member_state(&self, member: &str) -> MemberState {
        self.group().members[member].state
    }

    /// The coordinator's invariant: a partition is owned (assigned or being revoked) by at most
    /// one member at any time.
    fn assert_no_partition_has_two_owners(&self) {
        let mut seen = BTreeSet::new();
        for m in self.group().members.values() {
            for (topic, ps) in m.assigned.iter().chain(m.pending_revocation.iter()) {
                for p in ps {
                    assert!(seen.insert((*topic, *p)), "partition {topic}-{p} has two owners");
                }
            }
        }
    }
}

/// A client's view of itself.
struct Client848 {
    /// Its member id.
    id: String,
    /// The member epoch it sends next.
    epoch: i32,
    /// The partitions it owns: the last assignment it was sent.
    owned: Assignment,
}

impl Client848 {
    fn joined(id: &str, r: &ConsumerGroupHeartbeatResponse) -> Client848 {
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        Client848 {
            id: id.to_string(),
            epoch: r.member_epoch,
            owned: r.assignment.as_ref().map(from_response).unwrap_or_default(),
        }
    }

    fn count(&self) -> usize {
        self.owned.values().map(BTreeSet::len).sum()
    }
}

fn join_req(member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: REBALANCE_MS,
        subscribed_topic_names: Some(topics.iter().map(|s| s.to_string()).collect()),
        topic_partitions: Some(Vec::new()),
        ..Default::default()
    }
}

fn to_request(a: &Assignment) -> Vec<TopicPartitions> {
    a.iter()
        .map(|(t, ps)| TopicPartitions {
            topic_id: *t,
            partitions: ps.iter().copied().collect(),
            ..Default::default()
        })
        .collect()
}

fn from_response(a: &sluice_protocol::generated::consumer_group_heartbeat_response::Assignment) -> Assignment {
    let mut out = Assignment::new();
    for tp in &a.topic_partitions {
        out.entry(tp.topic_id)
            .or_default()
            .extend(tp.partitions.iter().copied());
    }
    out
}

fn count(a: &Option<sluice_protocol::generated::consumer_group_heartbeat_response::Assignment>) -> usize {
    a.as_ref()
        .map(|a| a.topic_partitions.iter().map(|t| t.partitions.len()).sum())
        .unwrap_or(0)
}

fn kinds(records: &[CoordinatorRecord]) -> Vec<(i16, bool)> {
    records
        .iter()
        .map(|r| match r {
            CoordinatorRecord::Consumer(c) => {
                let tombstone = c.encode_value().is_none();
                (i16::from_be_bytes([c.encode_key()[0], c.encode_key()[1]]), tombstone)
            }
            _ => (-1, false),
        })
        .collect()
}

#[test]
fn first_member_gets_everything_and_the_records_say_so() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 4));
    let r = h.join("a", &["orders"]);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.member_id.as_deref(), Some("a"));
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 5_000);
    assert_eq!(count(&r.assignment), 4);
    // Member subscription, group epoch, target assignment, target epoch, current assignment.
    assert_eq!(
        kinds(&h.records),
        vec![(5, false), (3, false), (7, false), (6, false), (8, false)]
    );
    assert_eq!(h.c.group_state("g"), "Stable");
    // A heartbeat that changes nothing writes nothing and sends no assignment.
    h.records.clear();
    let r = h.beat("a", 1, None);
    assert_eq!((r.error_code, r.member_epoch), (0, 1));
    assert!(r.assignment.is_none());
    assert!(h.records.is_empty(), "{:?}", kinds(&h.records));
}

#[test]
fn scaling_up_revokes_before_it_assigns_and_never_stops_the_others() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 6));
    let mut a = Client848::joined("a", &h.join("a", &["orders"]));
    assert_eq!(a.count(), 6);

    let mut b = Client848::joined("b", &h.join("b", &["orders"]));
    assert_eq!(b.epoch, 2);
    assert_eq!(b.count(), 0, "b waits: a still owns everything");
    assert_eq!(h.member_state("b"), MemberState::UnreleasedPartitions);
    assert_eq!(h.c.group_state("g"), "Reconciling");

    // a learns what to give up; it keeps consuming the three it keeps, at its old epoch.
    let r = h.beat("a", 1, None);
    assert_eq!(r.member_epoch, 1);
    assert_eq!(count(&r.assignment), 3);
    assert_eq!(h.member_state("a"), MemberState::UnrevokedPartitions);
    // Without a report of what it owns, a does not progress.
    h.beat("a", 1, None);
    assert_eq!(h.member_state("a"), MemberState::UnrevokedPartitions);
    // b heartbeats meanwhile: still nothing, a has not released.
    h.step(&mut b);
    assert_eq!(b.count(), 0);
    // a reports it owns only the three it keeps: it moves to epoch 2.
    a.owned = r.assignment.as_ref().map(from_response).unwrap();
    a.epoch = 1;
    h.step(&mut a);
    assert_eq!((a.epoch, a.count()), (2, 3));
    // b gets the released three.
    h.step(&mut b);
    assert_eq!((b.epoch, b.count()), (2, 3));
    assert_eq!(h.c.group_state("g"), "Stable");
    assert!(a.owned[&t(1)].is_disjoint(&b.owned[&t(1)]));

    // A third member: everyone ends with two, and the kept partitions never move.
    let before_a = a.owned.clone();
    let mut c = Client848::joined("c", &h.join("c", &["orders"]));
    for _ in 0..3 {
        for m in [&mut a, &mut b, &mut c] {
            h.step(m);
        }
    }
    assert_eq!((a.count(), b.count(), c.count()), (2, 2, 2));
    assert!(a.owned[&t(1)].is_subset(&before_a[&t(1)]), "a only lost partitions");
    assert_eq!(h.c.group_state("g"), "Stable");
}

#[test]
fn leaving_and_expiring_members_hand_their_partitions_over() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 4));
    let mut a = Client848::joined("a", &h.join("a", &["orders"]));
    let mut b = Client848::joined("b", &h.join("b", &["orders"]));
    for _ in 0..3 {
        h.step(&mut a);
        h.step(&mut b);
    }
    assert_eq!((a.count(), b.count()), (2, 2));

    // b leaves: tombstones for its current assignment, target and subscription, then an epoch.
    h.records.clear();
    let r = h.beat("b", b.epoch, None);
    let _ = r;
    let leave = h.send(
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "b".into(),
            member_epoch: -1,
            ..Default::default()
        },
    );
    assert_eq!((leave.error_code, leave.member_epoch), (0, -1));
    let tail: Vec<(i16, bool)> = kinds(&h.records).into_iter().rev().take(4).rev().collect();
    assert_eq!(tail, vec![(8, true), (7, true), (5, true), (3, false)]);
    h.step(&mut a);
    assert_eq!(
        a.count(),
        4,
        "a takes b's partitions at once: b released them by leaving"
    );

    // c joins, then goes silent: after the session timeout it is fenced and a gets all back.
    let mut c = Client848::joined("c", &h.join("c", &["orders"]));
    h.step(&mut a);
    a.owned = h.group().members["a"].assigned.clone();
    h.step(&mut a);
    h.step(&mut c);
    assert_eq!((a.count(), c.count()), (2, 2));
    for _ in 0..10 {
        h.advance(5_000);
        h.step(&mut a);
    }
    assert!(!h.group().members.contains_key("c"), "c's session expired");
    assert_eq!(a.count(), 4);
    let r = h.beat("c", c.epoch, None);
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_fenced() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 2));
    let _a = Client848::joined("a", &h.join("a", &["orders"]));
    let mut b = Client848::joined("b", &h.join("b", &["orders"]));
    let r = h.beat("a", 1, None);
    assert_eq!(count(&r.assignment), 1);
    assert_eq!(h.member_state("a"), MemberState::UnrevokedPartitions);
    // a keeps heartbeating (so its session lives) but never confirms the revocation.
    for _ in 0..5 {
        h.advance(5_000);
        let r = h.beat("a", 1, None);
        if r.error_code != 0 {
            assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
            break;
        }
        h.step(&mut b);
    }
    assert!(
        !h.group().members.contains_key("a"),
        "fenced after the rebalance timeout"
    );
    h.step(&mut b);
    assert_eq!(b.count(), 2);
}

#[test]
fn epochs_are_fenced_as_kafka_fences_them() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 2));
    let a = Client848::joined("a", &h.join("a", &["orders"]));
    let r = h.beat("a", 5, None);
    assert_eq!(r.error_code, ErrorCode::FencedMemberEpoch.code());
    assert!(r.error_message.unwrap().contains("greater member epoch (5)"));
    let r = h.beat("nobody", 1, None);
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
    // b joins: a's epoch stays 1 until it revokes, then becomes 2 with previous epoch 1.
    let _b = Client848::joined("b", &h.join("b", &["orders"]));
    let r = h.beat("a", 1, None);
    let kept = from_response(r.assignment.as_ref().unwrap());
    let r = h.beat("a", 1, Some(&kept));
    assert_eq!(r.member_epoch, 2);
    // The response was "lost": a retries at epoch 1 owning a subset, which is accepted...
    let r = h.beat("a", 1, Some(&kept));
    assert_eq!(r.error_code, 0);
    assert_eq!(r.member_epoch, 2);
    // ...but not when it claims partitions it does not own.
    let r = h.beat("a", 1, Some(&a.owned));
    assert_eq!(r.error_code, ErrorCode::FencedMemberEpoch.code());
    // A rejoin with epoch 0 under the same id is fenced too while the member is known (its
    // previous epoch is 1, not 0), as Kafka's throwIfMemberEpochIsInvalid does.
    let r = h.join("a", &["orders"]);
    assert_eq!(r.error_code, ErrorCode::FencedMemberEpoch.code());
    assert!(
        h.group().members.contains_key("a"),
        "a fenced heartbeat removes nothing"
    );
}

#[test]
fn invalid_requests_get_kafkas_errors() {
    let mut h = Harness::with_config(
        Topics::default().with("orders", 1, 2),
        GroupConfig {
            consumer_max_size: 1,
            ..GroupConfig::default()
        },
    );
    let cases: Vec<(i16, ConsumerGroupHeartbeatRequest, ErrorCode, &str)> = vec![
        (
            1,
            join_req("", &["orders"]),
            ErrorCode::InvalidRequest,
            "MemberId can't be empty.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                group_id: String::new(),
                ..join_req("m", &["orders"])
            },
            ErrorCode::InvalidRequest,
            "GroupId can't be empty.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                rebalance_timeout_ms: -1,
                ..join_req("m", &["orders"])
            },
            ErrorCode::InvalidRequest,
            "RebalanceTimeoutMs must be provided in first request.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                topic_partitions: None,
                ..join_req("m", &["orders"])
            },
            ErrorCode::InvalidRequest,
            "TopicPartitions must be empty when (re-)joining.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                subscribed_topic_names: None,
                ..join_req("m", &[])
            },
            ErrorCode::InvalidRequest,
            "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                member_epoch: -3,
                ..join_req("m", &["orders"])
            },
            ErrorCode::InvalidRequest,
            "MemberEpoch is invalid.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                member_epoch: -2,
                ..join_req("m", &["orders"])
            },
            ErrorCode::InvalidRequest,
            "InstanceId can't be null.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                server_assignor: Some("sticky".into()),
                ..join_req("m", &["orders"])
            },
            ErrorCode::UnsupportedAssignor,
            "ServerAssignor sticky is not supported. Supported assignors: uniform, range.",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                subscribed_topic_regex: Some("a(".into()),
                ..join_req("m", &[])
            },
            ErrorCode::InvalidRegularExpression,
            "SubscribedTopicRegex `a(` is not a valid regular expression",
        ),
        (
            1,
            ConsumerGroupHeartbeatRequest {
                member_epoch: 3,
                ..join_req("m", &["orders"])
            },
            ErrorCode::GroupIdNotFound,
            "Consumer group g not found.",
        ),
    ];
    for (version, req, code, message) in cases {
        let r = h.send(version, req);
        assert_eq!(r.error_code, code.code(), "{message}");
        assert!(
            r.error_message.as_deref().unwrap_or("").starts_with(message),
            "{:?}",
            r.error_message
        );
    }
    assert!(h.c.consumer_group("g").is_none(), "failed joins leave no group behind");
    assert!(h.records.is_empty());
    // v0: the coordinator generates the member id.
    let r = h.send(0, join_req("", &["orders"]));
    assert_eq!(r.error_code, 0);
    assert_eq!(r.member_id.as_ref().map(String::len), Some(22));
    // group.consumer.max.size = 1.
    let r = h.join("second", &["orders"]);
    assert_eq!(r.error_code, ErrorCode::GroupMaxSizeReached.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("The consumer group has reached its maximum capacity of 1 members.")
    );
}

#[test]
fn replaying_the_records_rebuilds_the_same_group() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 5).with("payments", 2, 3));
    let mut a = Client848::joined("a", &h.join("a", &["orders", "payments"]));
    let mut b = Client848::joined("b", &h.join("b", &["orders"]));
    h.step(&mut a);
    h.step(&mut b);
    // Stop mid-reconciliation: a is revoking, b waits.
    let mut replayed = Coordinator::new(GroupConfig::default(), 99);
    for r in &h.records {
        // Through the bytes, as the log stores them.
        let back = CoordinatorRecord::decode(r.encode_key(), r.encode_value()).unwrap();
        replayed.replay(back, h.now);
    }
    replayed.finish_loading(h.now);
    let (x, y) = (h.group(), replayed.consumer_group("g").unwrap());
    assert_eq!(x.group_epoch, y.group_epoch);
    assert_eq!(x.assignment_epoch, y.assignment_epoch);
    assert_eq!(x.members, y.members);
    assert_eq!(x.target, y.target);
    assert_eq!(h.c.group_state("g"), replayed.group_state("g"));
    // The replayed coordinator carries on where the first stopped, without a new epoch.
    let epoch = y.group_epoch;
    let (r, _) = replayed.consumer_heartbeat(
        h.now,
        1,
        client(),
        &ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "a".into(),
            member_epoch: a.epoch,
            topic_partitions: Some(to_request(&a.owned)),
            ..Default::default()
        },
        &h.topics,
    );
    assert_eq!(r.error_code, 0);
    assert_eq!(replayed.consumer_group("g").unwrap().group_epoch, epoch);
    // Members restored from the log get a session: silent ones expire.
    let deadline = replayed.next_deadline_ms().unwrap();
    assert!(deadline <= h.now + i64::from(SESSION_MS));
}

#[test]
fn range_and_uniform_assignments_are_balanced() {
    let topics = Topics::default().with("orders", 1, 5);
    let mut h = Harness::new(topics);
    let mut members: Vec<Client848> = Vec::new();
    for id in ["a", "b"] {
        let r = h.send(
            1,
            ConsumerGroupHeartbeatRequest {
                server_assignor: Some("range".into()),
                ..join_req(id, &["orders"])
            },
        );
        members.push(Client848::joined(id, &r));
    }
    for _ in 0..3 {
        for m in &mut members {
            h.step(m);
        }
    }
    let ps = |m: &Client848| m.owned.get(&t(1)).cloned().unwrap_or_default();
    assert_eq!(ps(&members[0]), [0, 1, 2].into_iter().collect());
    assert_eq!(ps(&members[1]), [3, 4].into_iter().collect());
    let d = h.c.consumer_group_describe("g", false, &h.topics);
    assert_eq!(d.assignor_name, "range");
    assert_eq!(d.authorized_operations, i32::MIN);
    assert_eq!(d.members[0].assignment.topic_partitions[0].topic_name, "orders");
}

#[test]
fn regex_subscriptions_follow_topic_creation() {
    let mut h = Harness::new(Topics::default().with("orders-eu", 1, 2).with("payments", 2, 2));
    let r = h.send(
        1,
        ConsumerGroupHeartbeatRequest {
            subscribed_topic_names: None,
            subscribed_topic_regex: Some("orders-.*".into()),
            ..join_req("a", &[])
        },
    );
    let mut a = Client848::joined("a", &r);
    assert_eq!(a.owned.keys().collect::<Vec<_>>(), vec![&t(1)]);
    assert_eq!(a.count(), 2);
    // A matching topic appears; after the refresh interval it joins the subscription.
    h.topics = h.topics.clone().with("orders-us", 3, 3);
    h.advance(11_000);
    h.step(&mut a);
    h.step(&mut a);
    assert_eq!(a.count(), 5, "{:?}", a.owned);
    assert!(h.group().is_subscribed_to("orders-us"));
    assert!(!h.group().is_subscribed_to("payments"));
}

#[test]
fn a_static_member_comes_back_to_its_partitions() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 4));
    let static_join = |member: &str| ConsumerGroupHeartbeatRequest {
        instance_id: Some("instance-1".into()),
        ..join_req(member, &["orders"])
    };
    let a = Client848::joined("a", &h.send(1, static_join("a")));
    let mut b = Client848::joined("b", &h.join("b", &["orders"]));
    let r = h.beat("a", 1, None);
    let kept = from_response(r.assignment.as_ref().unwrap());
    let r = h.send(
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "a".into(),
            member_epoch: 1,
            instance_id: Some("instance-1".into()),
            topic_partitions: Some(to_request(&kept)),
            ..Default::default()
        },
    );
    assert_eq!(r.member_epoch, 2);
    h.step(&mut b);
    let _ = a;
    // Another process with the same instance id cannot join while it is in use.
    let r = h.send(1, static_join("a2"));
    assert_eq!(r.error_code, ErrorCode::UnreleasedInstanceId.code());
    // The instance leaves temporarily (epoch -2) and comes back under a new member id.
    let epoch_before = h.group().group_epoch;
    let r = h.send(
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "a".into(),
            member_epoch: -2,
            instance_id: Some("instance-1".into()),
            ..Default::default()
        },
    );
    assert_eq!((r.error_code, r.member_epoch), (0, -2));
    h.advance(10_000);
    let r = h.send(1, static_join("a2"));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(
        from_response(r.assignment.as_ref().unwrap()),
        kept,
        "same partitions back"
    );
    assert_eq!(
        h.group().group_epoch,
        epoch_before,
        "no rebalance for a static member's return"
    );
    assert!(!h.group().members.contains_key("a"));
    // A heartbeat with the old member id is fenced.
    let r = h.send(
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "a".into(),
            member_epoch: 2,
            instance_id: Some("instance-1".into()),
            ..Default::default()
        },
    );
    assert_eq!(r.error_code, ErrorCode::FencedInstanceId.code());
}

#[test]
fn offsets_and_admin_see_a_consumer_group() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 2));
    let a = Client848::joined("a", &h.join("a", &["orders"]));
    let commit = |member: &str, epoch: i32| CommitRequest {
        group_id: "g".into(),
        generation_id: epoch,
        member_id: member.into(),
        instance_id: None,
        retention_time_ms: -1,
        offsets: vec![CommitOffset {
            topic: "orders".into(),
            partition: 0,
            offset: 5,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: None,
        }],
    };
    let (res, _) = h.c.commit_offsets(h.now, 9, &commit("a", a.epoch + 1));
    assert_eq!(res.unwrap_err(), ErrorCode::StaleMemberEpoch);
    let (res, _) = h.c.commit_offsets(h.now, 9, &commit("x", a.epoch));
    assert_eq!(res.unwrap_err(), ErrorCode::UnknownMemberId);
    let (res, fx) = h.c.commit_offsets(h.now, 9, &commit("a", a.epoch));
    assert_eq!(res.unwrap(), vec![ErrorCode::None]);
    assert_eq!(fx.records.len(), 1);
    assert_eq!(h.c.validate_offset_fetch("g", Some("a"), a.epoch), Ok(()));
    assert_eq!(
        h.c.validate_offset_fetch("g", Some("a"), 0),
        Err(ErrorCode::StaleMemberEpoch)
    );
    let listed = h.c.list_groups(&[], &["consumer".into()]);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].group_state.as_str(), listed[0].group_type.as_str()),
        ("Stable", "consumer")
    );
    assert!(h.c.list_groups(&[], &["classic".into()]).is_empty());
    assert_eq!(h.c.delete_group("g").0, ErrorCode::NonEmptyGroup);
    h.send(
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: "a".into(),
            member_epoch: -1,
            ..Default::default()
        },
    );
    assert_eq!(h.c.group_state("g"), "Empty");
    let (code, fx) = h.c.delete_group("g");
    assert_eq!(code, ErrorCode::None);
    // The offset, the target epoch and the group epoch are deleted.
    assert!(fx.records.iter().all(|r| r.encode_value().is_none()));
    assert!(fx.records.iter().any(|r| matches!(
        r,
        CoordinatorRecord::Consumer(ConsumerRecord::GroupEpoch { value: None, .. })
    )));
    assert_eq!(h.c.group_state("g"), "Dead");
}

#[test]
fn an_empty_classic_group_becomes_a_consumer_group_and_keeps_its_offsets() {
    let mut h = Harness::new(Topics::default().with("orders", 1, 2));
    // Offsets committed from outside any group management create an Empty classic group.
    let (res, _) = h.c.commit_offsets(
        h.now,
        9,
        &CommitRequest {
            group_id: "g".into(),
            generation_id: -1,
            member_id: String::new(),
            instance_id: None,
            retention_time_ms: -1,
            offsets: vec![CommitOffset {
                topic: "orders".into(),
                partition: 1,
                offset: 42,
                leader_epoch: -1,
                metadata: None,
                commit_timestamp_ms: None,
            }],
        },
    );
    assert_eq!(res.unwrap(), vec![ErrorCode::None]);
    assert_eq!(h.c.list_groups(&[], &[])[0].group_type, "classic");
    // Joining with the consumer protocol converts it; the offsets stay.
    let a = Client848::joined("a", &h.join("a", &["orders"]));
    assert_eq!(a.count(), 2);
    assert_eq!(h.c.list_groups(&[], &[])[0].group_type, "consumer");
    let fetched = h.c.fetch_offsets("g", None);
    assert_eq!(fetched[0].1[0].1.as_ref().map(|v| v.offset), Some(42));
    // A heartbeat for a group that does not exist is refused, not created.
    let r = h.send(
        1,
        ConsumerGroupHeartbeatRequest {
            group_id: "other".into(),
            member_id: "a".into(),
            member_epoch: 1,
            ..Default::default()
        },
    );
    assert_eq!(r.error_code, ErrorCode::GroupIdNotFound.code());
    assert!(h.c.consumer_group("other").is_none());
}

mod random_schedules {
    //! Random joins, heartbeats, leaves and clock jumps: a partition never has two owners, and
    //! once everyone heartbeats the group settles with every partition owned once, balanced.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Join(usize),
        Beat(usize),
        Leave(usize),
        Advance(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => (0..4usize).prop_map(Op::Join),
            6 => (0..4usize).prop_map(Op::Beat),
            1 => (0..4usize).prop_map(Op::Leave),
            1 => (0..12_000i64).prop_map(Op::Advance),
        ]
    }

    /// One well-behaved heartbeat; the client forgets itself when the coordinator did.
    fn beat(h: &mut Harness, clients: &mut [Option<Client848>], i: usize) {
        let Some(m) = clients[i].as_mut() else { return };
        let r = h.beat(&m.id, m.epoch, Some(&m.owned.clone()));
        if r.error_code != 0 {
            assert!(
                r.error_code == ErrorCode::UnknownMemberId.code()
                    || r.error_code == ErrorCode::FencedMemberEpoch.code(),
                "unexpected {:?}",
                r.error_message
            );
            clients[i] = None;
            return;
        }
        m.epoch = r.member_epoch;
        if let Some(a) = r.assignment {
            m.owned = from_response(&a);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn partitions_never_have_two_owners_and_groups_settle(ops in proptest::collection::vec(op(), 1..60)) {
            let mut h = Harness::new(Topics::default().with("a", 1, 5).with("b", 2, 4));
            let mut clients: Vec<Option<Client848>> = vec![None, None, None, None];
            for op in ops {
                match op {
                    Op::Join(i) if clients[i].is_none() => {
                        let id = format!("m{i}");
                        let r = h.join(&id, &["a", "b"]);
                        prop_assert_eq!(r.error_code, 0);
                        clients[i] = Some(Client848::joined(&id, &r));
                    }
                    Op::Join(_) => {}
                    Op::Beat(i) => beat(&mut h, &mut clients, i),
                    Op::Leave(i) => {
                        if let Some(m) = clients[i].take() {
                            let r = h.send(1, ConsumerGroupHeartbeatRequest {
                                group_id: "g".into(),
                                member_id: m.id.clone(),
                                member_epoch: -1,
                                ..Default::default()
                            });
                            prop_assert!(r.error_code == 0 || r.error_code == ErrorCode::UnknownMemberId.code());
                        }
                    }
                    Op::Advance(ms) => h.advance(ms),
                }
                if h.c.consumer_group("g").is_some() {
                    h.assert_no_partition_has_two_owners();
                }
            }
            // Everyone heartbeats until nothing changes.
            for _ in 0..8 {
                for i in 0..clients.len() {
                    beat(&mut h, &mut clients, i);
                }
            }
            let live: Vec<&Client848> = clients.iter().flatten().collect();
            if live.is_empty() {
                return Ok(());
            }
            prop_assert_eq!(h.c.group_state("g"), "Stable");
            let mut owned = BTreeSet::new();
            for m in &live {
                for (t, ps) in &m.owned {
                    for p in ps {
                        prop_assert!(owned.insert((*t, *p)), "{}-{} owned twice", t, p);
                    }
                }
            }
            prop_assert_eq!(owned.len(), 9, "every partition owned");
            let counts: Vec<usize> = live.iter().map(|m| m.count()).collect();
            prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{:?}", counts);
        }
    }
}

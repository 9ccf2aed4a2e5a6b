//! The coordinator as a state machine: requests and clock ticks in, replies and records out.
//! Every test is deterministic (seeded member ids, a made-up clock).

use bytes::Bytes;
use sluice_group::records::CoordinatorRecord;
use sluice_group::{Client, CommitOffset, CommitRequest, Coordinator, Effects, GroupConfig, Reply};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::generated::{JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse};

/// Classic groups never look topics up: no topics at all.
struct NoTopics;

impl sluice_group::TopicView for NoTopics {
    fn by_name(&self, _: &str) -> Option<(sluice_protocol::Uuid, i32)> {
        None
    }
    fn name_of(&self, _: &sluice_protocol::Uuid) -> Option<String> {
        None
    }
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
    fn version(&self) -> i64 {
        0
    }
}

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;
const DELAY_MS: i64 = 100;

struct Harness {
    c: Coordinator,
    now: i64,
    next_reply: u64,
    replies: Vec<(u64, Reply)>,
    records: Vec<CoordinatorRecord>,
}

fn client() -> Client<'static> {
    Client {
        client_id: "client",
        client_host: "/127.0.0.1",
    }
}

impl Harness {
    fn new() -> Harness {
        let config = GroupConfig {
            initial_rebalance_delay_ms: DELAY_MS,
            max_size: 3,
            ..GroupConfig::default()
        };
        Harness {
            c: Coordinator::new(config, 42),
            now: 1_000_000,
            next_reply: 0,
            replies: Vec::new(),
            records: Vec::new(),
        }
    }

    fn absorb(&mut self, fx: Effects) {
        self.records.extend(fx.records);
        self.replies.extend(fx.replies);
    }

    /// Moves the clock forward, firing each timer at its own deadline as real time would.
    fn advance(&mut self, ms: i64) {
        let target = self.now + ms;
        while let Some(deadline) = self.c.next_deadline_ms().filter(|d| *d <= target) {
            self.now = self.now.max(deadline);
            let fx = self.c.tick(self.now);
            self.absorb(fx);
        }
        self.now = target;
    }

    fn join_req(member_id: &str, instance: Option<&str>, protocols: &[(&str, &'static [u8])]) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|(n, m)| JoinGroupRequestProtocol {
                    name: n.to_string(),
                    metadata: Bytes::from_static(m),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Sends a JoinGroup and returns its reply id.
    fn join(&mut self, version: i16, req: JoinGroupRequest) -> u64 {
        self.next_reply += 1;
        let id = self.next_reply;
        let fx = self.c.join(self.now, client(), version, &req, id, &NoTopics);
        self.absorb(fx);
        id
    }

    fn sync(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        assignments: &[(&str, &'static [u8])],
    ) -> u64 {
        self.next_reply += 1;
        let id = self.next_reply;
        let req = SyncGroupRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
            assignments: assignments
                .iter()
                .map(|(m, a)| SyncGroupRequestAssignment {
                    member_id: m.to_string(),
                    assignment: Bytes::from_static(a),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let fx = self.c.sync(self.now, &req, id, &NoTopics);
        self.absorb(fx);
        id
    }

    fn join_reply(&mut self, id: u64) -> Option<JoinGroupResponse> {
        let pos = self.replies.iter().position(|(r, _)| *r == id)?;
        match self.replies.remove(pos).1 {
            Reply::Join(r) => Some(r),
            other => panic!("expected a join reply, got {other:?}"),
        }
    }

    fn sync_reply(&mut self, id: u64) -> Option<SyncGroupResponse> {
        let pos = self.replies.iter().position(|(r, _)| *r == id)?;
        match self.replies.remove(pos).1 {
            Reply::Sync(r) => Some(r),
            other => panic!("expected a sync reply, got {other:?}"),
        }
    }

    /// A dynamic member's full v5 join: MEMBER_ID_REQUIRED, then the parked rejoin.
    fn join_dynamic(&mut self) -> (String, u64) {
        let first = self.join(5, Self::join_req("", None, &[("range", b"r")]));
        let r = self.join_reply(first).expect("answered at once");
        assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
        assert!(r.member_id.starts_with("client-"));
        let second = self.join(5, Self::join_req(&r.member_id, None, &[("range", b"r")]));
        (r.member_id, second)
    }

    fn heartbeat(&mut self, member: &str, instance: Option<&str>, generation: i32) -> ErrorCode {
        self.c.heartbeat(self.now, "g", member, instance, generation)
    }

    /// Forms a stable two-member group; returns (leader, follower, generation).
    fn stable_pair(&mut self) -> (String, String, i32) {
        let (a, ja) = self.join_dynamic();
        let (b, jb) = self.join_dynamic();
        assert!(self.join_reply(ja).is_none(), "parked during the initial delay");
        self.advance(DELAY_MS);
        // b arrived during the initial delay, which therefore runs once more (Kafka extends it
        // while members keep arriving, up to the rebalance timeout).
        assert!(self.join_reply(ja).is_none(), "delay extended");
        self.advance(DELAY_MS);
        let ra = self.join_reply(ja).expect("join phase completed");
        let rb = self.join_reply(jb).expect("join phase completed");
        assert_eq!(ra.generation_id, 1);
        assert_eq!(ra.leader, a);
        assert_eq!(ra.members.len(), 2, "the leader sees every member");
        assert!(rb.members.is_empty(), "followers see none");
        assert_eq!(rb.protocol_name.as_deref(), Some("range"));
        let sb = self.sync(&b, None, 1, &[]);
        assert!(self.sync_reply(sb).is_none(), "follower waits for the leader");
        let sa = self.sync(&a, None, 1, &[(&a, b"A"), (&b, b"B")]);
        assert_eq!(self.sync_reply(sa).unwrap().assignment, Bytes::from_static(b"A"));
        assert_eq!(self.sync_reply(sb).unwrap().assignment, Bytes::from_static(b"B"));
        assert_eq!(self.c.group_state("g"), "Stable");
        (a, b, 1)
    }

    fn commit(&mut self, member: &str, generation: i32, offset: i64) -> Result<Vec<ErrorCode>, ErrorCode> {
        let req = CommitRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            instance_id: None,
            retention_time_ms: -1,
            offsets: vec![CommitOffset {
                topic: "t".into(),
                partition: 0,
                offset,
                leader_epoch: 3,
                metadata: Some("m".into()),
                commit_timestamp_ms: None,
            }],
        };
        let (result, fx) = self.c.commit_offsets(self.now, 8, &req);
        self.absorb(fx);
        result
    }

    fn committed(&self) -> Option<i64> {
        let topics = [("t".to_string(), vec![0])];
        let r = self.c.fetch_offsets("g", Some(&topics));
        r[0].1[0].1.as_ref().map(|v| v.offset)
    }
}

#[test]
fn two_members_form_a_group_and_receive_the_leaders_assignment() {
    let mut h = Harness::new();
    h.stable_pair();
    let last = h.records.last().expect("the assignment is persisted");
    match last {
        CoordinatorRecord::GroupMetadata { value: Some(v), .. } => {
            assert_eq!(v.generation, 1);
            assert_eq!(v.members.len(), 2);
            assert_eq!(v.protocol.as_deref(), Some("range"));
        }
        other => panic!("unexpected record {other:?}"),
    }
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_and_the_group_rebalances() {
    let mut h = Harness::new();
    let (a, b, generation) = h.stable_pair();
    // a keeps heartbeating; b goes silent.
    h.advance(i64::from(SESSION_MS) / 2);
    assert_eq!(h.heartbeat(&a, None, generation), ErrorCode::None);
    h.advance(i64::from(SESSION_MS) / 2 + 1);
    assert_eq!(h.c.group_state("g"), "PreparingRebalance");
    assert_eq!(h.heartbeat(&a, None, generation), ErrorCode::RebalanceInProgress);
    assert_eq!(h.heartbeat(&b, None, generation), ErrorCode::UnknownMemberId);
    // a rejoins: it is the only member, so the join phase completes at once (no initial delay:
    // the group was not empty).
    let j = h.join(5, Harness::join_req(&a, None, &[("range", b"r")]));
    let r = h.join_reply(j).expect("completed immediately");
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.leader, a);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn stale_generations_and_unknown_members_are_refused_with_kafkas_codes() {
    let mut h = Harness::new();
    let (a, _b, generation) = h.stable_pair();
    assert_eq!(h.heartbeat(&a, None, generation + 1), ErrorCode::IllegalGeneration);
    assert_eq!(h.heartbeat("nobody", None, generation), ErrorCode::UnknownMemberId);
    assert_eq!(
        h.c.heartbeat(h.now, "no-such-group", &a, None, generation),
        ErrorCode::UnknownMemberId
    );
    let s = h.sync(&a, None, generation + 5, &[]);
    assert_eq!(h.sync_reply(s).unwrap().error_code, ErrorCode::IllegalGeneration.code());
    assert_eq!(h.commit(&a, generation + 1, 5), Err(ErrorCode::IllegalGeneration));
    assert_eq!(
        h.commit("", -1, 5),
        Err(ErrorCode::UnknownMemberId),
        "simple commits need an empty group"
    );
    // A join with a session timeout outside the broker's bounds.
    let mut req = Harness::join_req("", None, &[("range", b"r")]);
    req.session_timeout_ms = 10;
    let j = h.join(5, req);
    assert_eq!(
        h.join_reply(j).unwrap().error_code,
        ErrorCode::InvalidSessionTimeout.code()
    );
    // A member whose protocols share nothing with the group's.
    let j = h.join(5, Harness::join_req("", None, &[("roundrobin", b"x")]));
    assert_eq!(
        h.join_reply(j).unwrap().error_code,
        ErrorCode::InconsistentGroupProtocol.code()
    );
}

#[test]
fn commits_from_members_are_validated_and_fetched_back() {
    let mut h = Harness::new();
    let (a, _b, generation) = h.stable_pair();
    h.records.clear();
    assert_eq!(h.commit(&a, generation, 17), Ok(vec![ErrorCode::None]));
    assert_eq!(h.committed(), Some(17));
    assert_eq!(h.records.len(), 1, "one record per committed partition");
    // Metadata over offset.metadata.max.bytes is refused per partition.
    let req = CommitRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: a.clone(),
        instance_id: None,
        retention_time_ms: -1,
        offsets: vec![CommitOffset {
            topic: "t".into(),
            partition: 1,
            offset: 1,
            leader_epoch: -1,
            metadata: Some("x".repeat(5000)),
            commit_timestamp_ms: None,
        }],
    };
    let (result, _) = h.c.commit_offsets(h.now, 8, &req);
    assert_eq!(result, Ok(vec![ErrorCode::OffsetMetadataTooLarge]));
    // Every partition with an offset when asked for all.
    let all = h.c.fetch_offsets("g", None);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1.len(), 1);
    // Unknown groups have no offsets.
    let topics = [("t".to_string(), vec![0])];
    assert!(h.c.fetch_offsets("other", Some(&topics))[0].1[0].1.is_none());
}

#[test]
fn commits_during_completing_rebalance_get_rebalance_in_progress() {
    let mut h = Harness::new();
    let (a, jb_member, _) = h.stable_pair();
    // A third member joins: the group rebalances; a and b rejoin.
    let (c, jc) = h.join_dynamic();
    let ja = h.join(5, Harness::join_req(&a, None, &[("range", b"r")]));
    let jb = h.join(5, Harness::join_req(&jb_member, None, &[("range", b"r")]));
    let ra = h.join_reply(ja).expect("all three joined");
    assert!(h.join_reply(jb).is_some());
    assert!(h.join_reply(jc).is_some());
    assert_eq!(ra.generation_id, 2);
    assert_eq!(h.c.group_state("g"), "CompletingRebalance");
    assert_eq!(h.commit(&c, 2, 1), Err(ErrorCode::RebalanceInProgress));
}

#[test]
fn a_static_member_that_restarts_within_its_session_gets_its_assignment_without_a_rebalance() {
    let mut h = Harness::new();
    let j1 = h.join(5, Harness::join_req("", Some("i-1"), &[("range", b"r")]));
    let j2 = h.join(5, Harness::join_req("", Some("i-2"), &[("range", b"r")]));
    h.advance(DELAY_MS * 2);
    let r1 = h.join_reply(j1).unwrap();
    let r2 = h.join_reply(j2).unwrap();
    assert_eq!(r1.error_code, 0, "static members need no MEMBER_ID_REQUIRED round trip");
    assert!(r1.member_id.starts_with("i-1-"));
    let (m1, m2) = (r1.member_id.clone(), r2.member_id.clone());
    let s2 = h.sync(&m2, Some("i-2"), 1, &[]);
    let s1 = h.sync(&m1, Some("i-1"), 1, &[(&m1, b"one"), (&m2, b"two")]);
    assert!(h.sync_reply(s1).is_some() && h.sync_reply(s2).is_some());

    // i-2 restarts: a new JoinGroup with no member id and the same instance id.
    let j = h.join(5, Harness::join_req("", Some("i-2"), &[("range", b"r")]));
    let r = h.join_reply(j).expect("answered without a rebalance");
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 1, "same generation: no rebalance");
    assert_ne!(r.member_id, m2);
    assert_eq!(h.c.group_state("g"), "Stable");
    let s = h.sync(&r.member_id, Some("i-2"), 1, &[]);
    assert_eq!(h.sync_reply(s).unwrap().assignment, Bytes::from_static(b"two"));
    // The old incarnation is fenced.
    assert_eq!(h.heartbeat(&m2, Some("i-2"), 1), ErrorCode::FencedInstanceId);
    // And the other member noticed nothing.
    assert_eq!(h.heartbeat(&m1, Some("i-1"), 1), ErrorCode::None);
}

#[test]
fn static_members_survive_a_rebalance_they_miss_until_their_session_expires() {
    let mut h = Harness::new();
    let j1 = h.join(5, Harness::join_req("", Some("i-1"), &[("range", b"r")]));
    let j2 = h.join(5, Harness::join_req("", Some("i-2"), &[("range", b"r")]));
    h.advance(DELAY_MS * 2);
    let m1 = h.join_reply(j1).unwrap().member_id;
    let m2 = h.join_reply(j2).unwrap().member_id;
    let s1 = h.sync(&m1, Some("i-1"), 1, &[]);
    let s2 = h.sync(&m2, Some("i-2"), 1, &[]);
    assert!(h.sync_reply(s1).is_some() && h.sync_reply(s2).is_some());
    // Leader m1 rejoins (forces a rebalance); m2 does not rejoin in time but stays a member.
    let j = h.join(5, Harness::join_req(&m1, Some("i-1"), &[("range", b"r")]));
    h.heartbeat(&m2, Some("i-2"), 1);
    h.advance(i64::from(SESSION_MS) - 1);
    assert_eq!(h.heartbeat(&m2, Some("i-2"), 1), ErrorCode::RebalanceInProgress);
    h.advance(i64::from(REBALANCE_MS));
    let r = h.join_reply(j).expect("the join deadline completed the phase");
    assert_eq!(r.generation_id, 2);
}

#[test]
fn leaving_members_trigger_a_rebalance_and_the_last_one_empties_the_group() {
    let mut h = Harness::new();
    let (a, b, _) = h.stable_pair();
    let (result, fx) = h.c.leave(h.now, "g", &[(b.clone(), None), ("ghost".into(), None)]);
    h.absorb(fx);
    assert_eq!(result, Ok(vec![ErrorCode::None, ErrorCode::UnknownMemberId]));
    assert_eq!(h.c.group_state("g"), "PreparingRebalance");
    let (result, fx) = h.c.leave(h.now, "g", &[(a.clone(), None)]);
    h.absorb(fx);
    assert_eq!(result, Ok(vec![ErrorCode::None]));
    assert_eq!(h.c.group_state("g"), "Empty");
    match h.records.last() {
        Some(CoordinatorRecord::GroupMetadata { value: Some(v), .. }) => assert!(v.members.is_empty()),
        other => panic!("expected the empty group to be persisted, got {other:?}"),
    }
    assert_eq!(
        h.c.leave(h.now, "nope", &[(a, None)]).0,
        Err(ErrorCode::UnknownMemberId)
    );
}

#[test]
fn delete_group_requires_an_empty_group_and_removes_its_offsets() {
    let mut h = Harness::new();
    let (a, b, generation) = h.stable_pair();
    assert_eq!(h.commit(&a, generation, 9), Ok(vec![ErrorCode::None]));
    assert_eq!(h.c.delete_group("g").0, ErrorCode::NonEmptyGroup);
    assert_eq!(h.c.delete_group("missing").0, ErrorCode::GroupIdNotFound);
    let (_, fx) = h.c.leave(h.now, "g", &[(a, None), (b, None)]);
    h.absorb(fx);
    let (code, fx) = h.c.delete_group("g");
    assert_eq!(code, ErrorCode::None);
    assert_eq!(fx.records.len(), 2, "an offset tombstone and a group tombstone");
    assert!(fx.records.iter().all(|r| matches!(
        r,
        CoordinatorRecord::OffsetCommit { value: None, .. } | CoordinatorRecord::GroupMetadata { value: None, .. }
    )));
    assert_eq!(h.c.group_state("g"), "Dead");
    assert_eq!(h.committed(), None);
}

#[test]
fn replaying_the_records_restores_offsets_and_members() {
    let mut h = Harness::new();
    let (a, b, generation) = h.stable_pair();
    assert_eq!(h.commit(&a, generation, 123), Ok(vec![ErrorCode::None]));
    let mut restored = Coordinator::new(GroupConfig::default(), 7);
    for r in h.records.clone() {
        restored.replay(r, h.now);
    }
    restored.finish_loading(h.now);
    assert_eq!(restored.group_state("g"), "Stable");
    let topics = [("t".to_string(), vec![0])];
    let off = restored.fetch_offsets("g", Some(&topics));
    assert_eq!(
        off[0].1[0].1.as_ref().map(|v| (v.offset, v.leader_epoch)),
        Some((123, 3))
    );
    assert_eq!(restored.heartbeat(h.now, "g", &b, None, generation), ErrorCode::None);
    let described = restored.describe_group("g", 5);
    assert_eq!(described.members.len(), 2);
    assert_eq!(described.protocol_data, "range");
    // Members that never come back expire after their session, and the group empties (and
    // says so in a record).
    let fx = restored.tick(h.now + i64::from(SESSION_MS) - 1);
    assert!(fx.records.is_empty());
    assert_eq!(restored.group_state("g"), "Stable");
    let fx = restored.tick(h.now + i64::from(SESSION_MS));
    assert_eq!(restored.group_state("g"), "Empty");
    assert!(matches!(
        fx.records.last(),
        Some(CoordinatorRecord::GroupMetadata { value: Some(v), .. }) if v.members.is_empty() && v.generation == 2
    ));
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let (a, ja) = h.join_dynamic();
    let (_b, jb) = h.join_dynamic();
    h.advance(DELAY_MS * 2);
    assert!(h.join_reply(ja).is_some() && h.join_reply(jb).is_some());
    let s = h.sync(&a, None, 1, &[]);
    assert!(h.sync_reply(s).is_some());
    // b never syncs; keep a alive with heartbeats until the sync deadline.
    for _ in 0..(REBALANCE_MS / 5_000) {
        h.advance(5_000);
        h.heartbeat(&a, None, 1);
    }
    h.advance(1);
    assert_eq!(h.c.group_state("g"), "PreparingRebalance");
    let described = h.c.describe_group("g", 5);
    assert_eq!(described.members.len(), 1);
}

#[test]
fn group_max_size_refuses_the_member_beyond_it() {
    let mut h = Harness::new();
    let mut parked = Vec::new();
    for _ in 0..3 {
        parked.push(h.join_dynamic().1);
    }
    // Three members are parked in the join phase: a fourth is refused before it gets an id.
    let fourth = h.join(5, Harness::join_req("", None, &[("range", b"r")]));
    assert_eq!(
        h.join_reply(fourth).unwrap().error_code,
        ErrorCode::GroupMaxSizeReached.code()
    );
    h.advance(DELAY_MS * 3);
    for j in parked {
        assert_eq!(h.join_reply(j).unwrap().error_code, 0);
    }
    // In a formed group the limit is the group size.
    assert_eq!(h.c.group_state("g"), "CompletingRebalance");
    let fifth = h.join(5, Harness::join_req("", None, &[("range", b"r")]));
    assert_eq!(
        h.join_reply(fifth).unwrap().error_code,
        ErrorCode::GroupMaxSizeReached.code()
    );
}

#[test]
fn offsets_of_an_empty_group_expire_after_retention_and_the_group_goes_with_them() {
    let mut h = Harness::new();
    assert_eq!(
        h.commit("", -1, 5),
        Ok(vec![ErrorCode::None]),
        "a simple commit creates the group"
    );
    assert_eq!(h.c.group_state("g"), "Empty");
    let retention = h.c.config().offsets_retention_ms;
    let fx = h.c.expire_offsets(h.now + retention - 1);
    assert!(fx.records.is_empty());
    let fx = h.c.expire_offsets(h.now + retention);
    assert_eq!(fx.records.len(), 2, "offset tombstone, then group tombstone");
    assert_eq!(h.c.group_state("g"), "Dead");
}

#[test]
fn a_v1_commit_timestamp_is_kept_and_expiry_counts_from_it() {
    let mut h = Harness::new();
    let retention = h.c.config().offsets_retention_ms;
    // OffsetCommit v1 lets the client date its commit; Kafka 3.x kept that date.
    let dated = h.now - retention / 2;
    let req = CommitRequest {
        group_id: "g".into(),
        generation_id: -1,
        member_id: String::new(),
        instance_id: None,
        retention_time_ms: -1,
        offsets: vec![CommitOffset {
            topic: "t".into(),
            partition: 0,
            offset: 9,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: Some(dated),
        }],
    };
    let (result, fx) = h.c.commit_offsets(h.now, 1, &req);
    assert_eq!(result, Ok(vec![ErrorCode::None]));
    match fx.records.first() {
        Some(CoordinatorRecord::OffsetCommit { value: Some(v), .. }) => assert_eq!(v.commit_timestamp_ms, dated),
        other => panic!("unexpected record {other:?}"),
    }
    h.absorb(fx);
    // Half the retention later the offset is as old as the retention: it expires.
    assert!(h.c.expire_offsets(h.now + retention / 2 - 1).records.is_empty());
    assert!(!h.c.expire_offsets(h.now + retention / 2).records.is_empty());
}

#[test]
fn offset_delete_refuses_subscribed_topics_of_an_active_group() {
    let mut h = Harness::new();
    // Subscription in the consumer protocol's format: version 0, topics ["t"], no user data.
    static SUB: &[u8] = b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff";
    let first = h.join(5, Harness::join_req("", None, &[("range", SUB)]));
    let m = h.join_reply(first).unwrap().member_id;
    let j = h.join(5, Harness::join_req(&m, None, &[("range", SUB)]));
    h.advance(DELAY_MS);
    assert!(h.join_reply(j).is_some());
    let s = h.sync(&m, None, 1, &[]);
    assert!(h.sync_reply(s).is_some());
    assert_eq!(h.commit(&m, 1, 4), Ok(vec![ErrorCode::None]));
    let topics = [("t".to_string(), vec![0]), ("other".to_string(), vec![0])];
    let (result, _) = h.c.delete_offsets("g", &topics);
    let result = result.unwrap();
    assert_eq!(result[0].1, vec![(0, ErrorCode::GroupSubscribedToTopic)]);
    assert_eq!(result[1].1, vec![(0, ErrorCode::None)]);
    assert_eq!(h.committed(), Some(4));
    assert_eq!(h.c.delete_offsets("none", &topics).0, Err(ErrorCode::GroupIdNotFound));
}

#[test]
fn list_groups_filters_by_state_and_type() {
    let mut h = Harness::new();
    h.stable_pair();
    assert_eq!(h.c.list_groups(&[], &[]).len(), 1);
    assert_eq!(h.c.list_groups(&["stable".into()], &[]).len(), 1);
    assert_eq!(h.c.list_groups(&["Empty".into()], &[]).len(), 0);
    assert_eq!(h.c.list_groups(&[], &["consumer".into()]).len(), 0);
    let listed = &h.c.list_groups(&[], &["Classic".into()])[0];
    assert_eq!(listed.group_state, "Stable");
    assert_eq!(listed.protocol_type, "consumer");
}

#[test]
fn member_ids_handed_out_but_never_used_are_bounded_by_group_max_size() {
    let mut h = Harness::new();
    // max_size is 3: three first joins get ids; the fourth, before any id is used, is refused.
    for _ in 0..3 {
        let j = h.join(5, Harness::join_req("", None, &[("range", b"r")]));
        assert_eq!(h.join_reply(j).unwrap().error_code, ErrorCode::MemberIdRequired.code());
    }
    let j = h.join(5, Harness::join_req("", None, &[("range", b"r")]));
    assert_eq!(
        h.join_reply(j).unwrap().error_code,
        ErrorCode::GroupMaxSizeReached.code()
    );
    // Unused ids expire after the session timeout, and then new ones are handed out again.
    h.advance(i64::from(SESSION_MS));
    let j = h.join(5, Harness::join_req("", None, &[("range", b"r")]));
    assert_eq!(h.join_reply(j).unwrap().error_code, ErrorCode::MemberIdRequired.code());
}

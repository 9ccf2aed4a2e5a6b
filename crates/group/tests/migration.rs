//! Online migration between the classic and the consumer protocol, as a state machine: a live
//! classic group upgraded by a ConsumerGroupHeartbeat member, classic members served by the
//! consumer group, the downgrade when the last consumer-protocol member leaves, and the policy
//! that turns it off. After every step the records written so far are encoded, decoded and
//! replayed into a fresh coordinator, which must rebuild the same group.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_group::consumer::{MemberState, TopicView};
use sluice_group::consumer_protocol::{assigned_partitions, encode_assignment};
use sluice_group::records::CoordinatorRecord;
use sluice_group::{Client, CommitOffset, CommitRequest, Coordinator, Effects, GroupConfig, MigrationPolicy, Reply};
use sluice_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::generated::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use sluice_protocol::{ErrorCode, Uuid};
use std::collections::{BTreeMap, BTreeSet};

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;
const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;

/// One topic of six partitions.
struct Topics;

impl TopicView for Topics {
    fn by_name(&self, name: &str) -> Option<(Uuid, i32)> {
        (name == TOPIC).then_some((Uuid([9; 16]), PARTITIONS))
    }
    fn name_of(&self, id: &Uuid) -> Option<String> {
        (*id == Uuid([9; 16])).then(|| TOPIC.to_string())
    }
    fn names(&self) -> Vec<String> {
        vec![TOPIC.to_string()]
    }
    fn version(&self) -> i64 {
        1
    }
}

fn client() -> Client<'static> {
    Client {
        client_id: "client",
        client_host: "/127.0.0.1",
    }
}

/// A `ConsumerProtocolSubscription` v1 of `orders`, owning `owned` partitions of it.
fn subscription(owned: &[i32]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    b.put_i32(1);
    b.put_i16(TOPIC.len() as i16);
    b.put_slice(TOPIC.as_bytes());
    b.put_i32(-1);
    b.put_i32(1);
    b.put_i16(TOPIC.len() as i16);
    b.put_slice(TOPIC.as_bytes());
    b.put_i32(owned.len() as i32);
    for p in owned {
        b.put_i32(*p);
    }
    b.freeze()
}

/// The partitions of `orders` in consumer protocol assignment bytes.
fn decode(assignment: &Bytes) -> BTreeSet<i32> {
    let parts = assigned_partitions(assignment).expect("consumer protocol assignment");
    parts
        .into_iter()
        .flat_map(|(t, ps)| {
            assert_eq!(t, TOPIC);
            ps
        })
        .collect()
}

struct Harness {
    c: Coordinator,
    now: i64,
    next_reply: u64,
    replies: Vec<(u64, Reply)>,
    records: Vec<CoordinatorRecord>,
}

impl Harness {
    fn new(policy: MigrationPolicy) -> Harness {
        let config = GroupConfig {
            initial_rebalance_delay_ms: 100,
            migration_policy: policy,
            ..GroupConfig::default()
        };
        Harness {
            c: Coordinator::new(config, 11),
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

    fn join_reply(&mut self, id: u64) -> Option<JoinGroupResponse> {
        let i = self.replies.iter().position(|(r, _)| *r == id)?;
        match self.replies.remove(i).1 {
            Reply::Join(j) => Some(j),
            other => panic!("not a join reply: {other:?}"),
        }
    }

    fn sync_reply(&mut self, id: u64) -> Option<SyncGroupResponse> {
        let i = self.replies.iter().position(|(r, _)| *r == id)?;
        match self.replies.remove(i).1 {
            Reply::Sync(s) => Some(s),
            other => panic!("not a sync reply: {other:?}"),
        }
    }

    /// A classic JoinGroup (v9) owning `owned`; returns its reply id.
    fn classic_join(&mut self, member_id: &str, owned: &[i32]) -> u64 {
        self.next_reply += 1;
        let id = self.next_reply;
        let req = JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            member_id: member_id.into(),
            protocol_type: "consumer".into(),
            protocols: vec![
                JoinGroupRequestProtocol {
                    name: "range".into(),
                    metadata: subscription(owned),
                    ..Default::default()
                },
                JoinGroupRequestProtocol {
                    name: "roundrobin".into(),
                    metadata: subscription(owned),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let fx = self.c.join(self.now, client(), 9, &req, id, &Topics);
        self.absorb(fx);
        id
    }

    /// JoinGroup answered at once (as in a consumer group).
    fn classic_join_now(&mut self, member_id: &str, owned: &[i32]) -> JoinGroupResponse {
        let id = self.classic_join(member_id, owned);
        self.join_reply(id).expect("answered at once")
    }

    fn classic_sync(&mut self, member_id: &str, generation: i32, assignments: &[(&str, Bytes)]) -> u64 {
        self.next_reply += 1;
        let id = self.next_reply;
        let req = SyncGroupRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member_id.into(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| SyncGroupRequestAssignment {
                    member_id: m.to_string(),
                    assignment: a.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let fx = self.c.sync(self.now, &req, id, &Topics);
        self.absorb(fx);
        id
    }

    fn classic_sync_now(&mut self, member_id: &str, generation: i32) -> SyncGroupResponse {
        let id = self.classic_sync(member_id, generation, &[]);
        self.sync_reply(id).expect("answered at once")
    }

    fn heartbeat(&mut self, member_id: &str, generation: i32) -> ErrorCode {
        self.c.heartbeat(self.now, "g", member_id, None, generation)
    }

    fn consumer(&mut self, member: &str, epoch: i32, owned: Option<&[i32]>) -> ConsumerGroupHeartbeatResponse {
        use sluice_protocol::generated::consumer_group_heartbeat_request::TopicPartitions;
        let req = ConsumerGroupHeartbeatRequest {
            group_id: "g".into(),
            member_id: member.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: if epoch == 0 { REBALANCE_MS } else { -1 },
            subscribed_topic_names: (epoch == 0).then(|| vec![TOPIC.to_string()]),
            topic_partitions: if epoch == 0 {
                Some(vec![])
            } else {
                owned.map(|ps| {
                    vec![TopicPartitions {
                        topic_id: Uuid([9; 16]),
                        partitions: ps.to_vec(),
                        ..Default::default()
                    }]
                })
            },
            ..Default::default()
        };
        let (r, fx) = self.c.consumer_heartbeat(self.now, 1, client(), &req, &Topics);
        self.absorb(fx);
        r
    }

    fn advance(&mut self, ms: i64) {
        let target = self.now + ms;
        while let Some(deadline) = self.c.next_deadline_ms().filter(|d| *d <= target) {
            self.now = self.now.max(deadline);
            let fx = self.c.tick(self.now);
            self.absorb(fx);
        }
        self.now = target;
    }

    fn group_type(&self) -> String {
        self.c
            .list_groups(&[], &[])
            .into_iter()
            .find(|g| g.group_id == "g")
            .map(|g| g.group_type)
            .unwrap_or_default()
    }

    /// Who owns (or is still revoking) each partition, in the consumer group; panics on two.
    fn owners(&self) -> BTreeMap<i32, String> {
        let g = self.c.consumer_group("g").expect("consumer group");
        let mut out = BTreeMap::new();
        for m in g.members.values() {
            for ps in m.assigned.values().chain(m.pending_revocation.values()) {
                for p in ps {
                    if let Some(other) = out.insert(*p, m.member_id.clone()) {
                        panic!("partition {p} owned by {other} and {}", m.member_id);
                    }
                }
            }
        }
        out
    }

    /// The records so far, through their bytes, into a fresh coordinator: the same group.
    fn assert_replay_rebuilds(&self) {
        let mut fresh = Coordinator::new(GroupConfig::default(), 1);
        for r in &self.records {
            let decoded = CoordinatorRecord::decode(r.encode_key(), r.encode_value()).expect("decodes");
            assert_eq!(&decoded, r, "records round-trip");
            fresh.replay(decoded, self.now);
        }
        fresh.finish_loading(self.now);
        match self.c.consumer_group("g") {
            Some(live) => {
                let replayed = fresh.consumer_group("g").expect("replayed consumer group");
                assert_eq!(replayed.members, live.members);
                assert_eq!(replayed.target, live.target);
                assert_eq!(replayed.group_epoch, live.group_epoch);
                assert_eq!(replayed.assignment_epoch, live.assignment_epoch);
            }
            None => {
                assert!(fresh.consumer_group("g").is_none());
                let live = self.c.describe_group("g", 5);
                let replayed = fresh.describe_group("g", 5);
                assert_eq!(replayed.protocol_type, live.protocol_type);
                let ids = |g: &sluice_protocol::generated::describe_groups_response::DescribedGroup| {
                    g.members.iter().map(|m| m.member_id.clone()).collect::<Vec<_>>()
                };
                assert_eq!(ids(&replayed), ids(&live));
                // A replayed group is Stable; the live one may be rebalancing, which
                // describes no protocol or assignments.
                if live.group_state == "Stable" {
                    assert_eq!(replayed.protocol_data, live.protocol_data);
                    assert_eq!(replayed.members, live.members);
                }
            }
        }
    }

    /// Two classic members, `a` leader, `a` owning 0-2 and `b` 3-5, generation 1.
    fn stable_classic_group(&mut self) -> (String, String) {
        let ra = self.classic_join("", &[]);
        let a = self.join_reply(ra).unwrap();
        assert_eq!(a.error_code, ErrorCode::MemberIdRequired.code());
        let rb = self.classic_join("", &[]);
        let b = self.join_reply(rb).unwrap();
        let (a, b) = (a.member_id, b.member_id);
        let ja = self.classic_join(&a, &[]);
        let jb = self.classic_join(&b, &[]);
        self.advance(200);
        let ja = self.join_reply(ja).expect("join phase complete");
        let jb = self.join_reply(jb).expect("join phase complete");
        assert_eq!((ja.generation_id, jb.generation_id), (1, 1));
        assert_eq!(ja.leader, a, "first member leads");
        let sb = self.classic_sync(&b, 1, &[]);
        let sa = self.classic_sync(
            &a,
            1,
            &[
                (&a, encode_assignment(1, &[(TOPIC.into(), vec![0, 1, 2])])),
                (&b, encode_assignment(1, &[(TOPIC.into(), vec![3, 4, 5])])),
            ],
        );
        assert_eq!(
            decode(&self.sync_reply(sa).unwrap().assignment),
            BTreeSet::from([0, 1, 2])
        );
        assert_eq!(
            decode(&self.sync_reply(sb).unwrap().assignment),
            BTreeSet::from([3, 4, 5])
        );
        assert_eq!(self.group_type(), "classic");
        (a, b)
    }
}

#[test]
fn consumer_member_upgrades_a_live_classic_group_then_its_departure_downgrades_it() {
    let mut h = Harness::new(MigrationPolicy::Bidirectional);
    let (a, b) = h.stable_classic_group();
    h.assert_replay_rebuilds();

    // A consumer-protocol member joins: the group converts, the classic members keep their
    // partitions for now, so the newcomer waits for what it is to get.
    let r = h.consumer("c", 0, None);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(h.group_type(), "consumer");
    assert_eq!(
        r.member_epoch, 2,
        "the classic generation becomes the epoch, bumped by the join"
    );
    assert_eq!(r.assignment.map(|a| a.topic_partitions.len()), Some(0));
    let owners = h.owners();
    assert_eq!(owners.len(), 6);
    assert!(owners.values().all(|o| *o == a || *o == b));
    {
        let g = h.c.consumer_group("g").unwrap();
        assert!(g.members[&a].subscription.classic.is_some());
        assert!(g.members["c"].subscription.classic.is_none());
        assert_eq!(g.members["c"].state, MemberState::UnreleasedPartitions);
        assert_eq!(
            g.target
                .values()
                .map(|t| t.values().map(BTreeSet::len).sum::<usize>())
                .sum::<usize>(),
            6
        );
    }
    h.assert_replay_rebuilds();

    // The classic members learn of the rebalance from their heartbeats.
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::RebalanceInProgress);
    assert_eq!(h.heartbeat(&b, 1), ErrorCode::RebalanceInProgress);
    assert_eq!(h.heartbeat(&a, 7), ErrorCode::IllegalGeneration);
    assert_eq!(h.heartbeat("nobody", 1), ErrorCode::UnknownMemberId);
    // A consumer-protocol member is unknown to the classic protocol.
    assert_eq!(h.heartbeat("c", 2), ErrorCode::UnknownMemberId);

    // `a` is cooperative: it rejoins still owning everything. It must revoke first: it stays at
    // its epoch, SyncGroup gives it what it keeps, and its heartbeat says rejoin.
    let ja = h.classic_join_now(&a, &[0, 1, 2]);
    assert_eq!(ja.error_code, 0);
    assert_eq!(ja.generation_id, 1, "still revoking: same generation");
    assert_eq!(ja.leader, "", "the coordinator assigns, not the client");
    assert!(ja.members.is_empty());
    assert_eq!(ja.protocol_name.as_deref(), Some("range"));
    let kept = decode(&h.classic_sync_now(&a, 1).assignment);
    assert_eq!(kept.len(), 2, "uniform: two partitions each");
    assert!(kept.is_subset(&BTreeSet::from([0, 1, 2])));
    assert_eq!(
        h.c.consumer_group("g").unwrap().members[&a].state,
        MemberState::UnrevokedPartitions
    );
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::RebalanceInProgress);
    h.owners();
    h.assert_replay_rebuilds();
    let kept_vec: Vec<i32> = kept.iter().copied().collect();
    let ja = h.classic_join_now(&a, &kept_vec);
    assert_eq!(ja.generation_id, 2, "revoked: the new epoch");
    let sa = h.classic_sync_now(&a, 2);
    assert_eq!(sa.error_code, 0);
    let a_target: BTreeSet<i32> = h.c.consumer_group("g").unwrap().target[&a]
        .values()
        .flatten()
        .copied()
        .collect();
    assert_eq!(decode(&sa.assignment), a_target, "SyncGroup returns the target");
    assert_eq!(h.heartbeat(&a, 2), ErrorCode::None);
    // A stale generation is refused by SyncGroup and OffsetCommit alike.
    assert_eq!(
        h.classic_sync_now(&a, 1).error_code,
        ErrorCode::IllegalGeneration.code()
    );
    let commit = |member: &str, generation: i32| CommitRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        instance_id: None,
        retention_time_ms: -1,
        offsets: vec![CommitOffset {
            topic: TOPIC.into(),
            partition: 0,
            offset: 5,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: None,
        }],
    };
    let (res, fx) = h.c.commit_offsets(h.now, 8, &commit(&a, 2));
    assert_eq!(
        res,
        Ok(vec![ErrorCode::None]),
        "a classic member commits with OffsetCommit v8"
    );
    h.absorb(fx);
    assert_eq!(
        h.c.commit_offsets(h.now, 8, &commit(&a, 1)).0,
        Err(ErrorCode::IllegalGeneration)
    );
    h.owners();

    // `b` is eager: it revoked everything before rejoining, so it moves on at once.
    let jb = h.classic_join_now(&b, &[]);
    assert_eq!(jb.generation_id, 2);
    let sb = decode(&h.classic_sync_now(&b, 2).assignment);
    let b_target: BTreeSet<i32> = h.c.consumer_group("g").unwrap().target[&b]
        .values()
        .flatten()
        .copied()
        .collect();
    assert_eq!(sb, b_target);
    h.owners();
    h.assert_replay_rebuilds();

    // The newcomer gets what was released: every partition owned once.
    let r = h.consumer("c", 2, Some(&[]));
    assert_eq!(r.error_code, 0);
    let c_parts: BTreeSet<i32> = r
        .assignment
        .expect("assignment")
        .topic_partitions
        .iter()
        .flat_map(|t| t.partitions.clone())
        .collect();
    assert_eq!(c_parts.len(), 2);
    let owners = h.owners();
    assert_eq!(owners.len(), 6);
    assert_eq!(owners.values().filter(|o| **o == "c").count(), 2);
    assert_eq!(h.heartbeat(&a, 2), ErrorCode::None);
    assert_eq!(h.heartbeat(&b, 2), ErrorCode::None);
    h.assert_replay_rebuilds();

    // The consumer-protocol member leaves: only classic members remain, and the group is a
    // classic group again, rebalancing with the members' own assignor.
    let r = h.consumer("c", -1, None);
    assert_eq!(r.error_code, 0);
    assert_eq!(h.group_type(), "classic");
    assert_eq!(h.c.group_state("g"), "PreparingRebalance");
    h.assert_replay_rebuilds();
    assert_eq!(
        h.heartbeat(&a, 2),
        ErrorCode::RebalanceInProgress,
        "generation = the group epoch"
    );
    let ja = h.classic_join(&a, &[]);
    let jb = h.classic_join(&b, &[]);
    let ja = h.join_reply(ja).expect("everyone rejoined");
    let jb = h.join_reply(jb).expect("everyone rejoined");
    assert_eq!((ja.generation_id, jb.generation_id), (3, 3));
    assert_eq!(ja.members.len() + jb.members.len(), 2, "the leader gets both members");
    let leader = if ja.members.is_empty() { b.clone() } else { a.clone() };
    let follower = if leader == a { b.clone() } else { a.clone() };
    let sf = h.classic_sync(&follower, 3, &[]);
    let sl = h.classic_sync(
        &leader,
        3,
        &[
            (&leader, encode_assignment(1, &[(TOPIC.into(), vec![0, 1, 2])])),
            (&follower, encode_assignment(1, &[(TOPIC.into(), vec![3, 4, 5])])),
        ],
    );
    assert_eq!(decode(&h.sync_reply(sl).unwrap().assignment).len(), 3);
    assert_eq!(decode(&h.sync_reply(sf).unwrap().assignment).len(), 3);
    assert_eq!(h.c.group_state("g"), "Stable");
    h.assert_replay_rebuilds();
    // The offsets committed meanwhile stayed.
    let fetched = h.c.fetch_offsets("g", None);
    assert_eq!(fetched[0].1[0].1.as_ref().map(|v| v.offset), Some(5));
}

#[test]
fn classic_member_joins_a_consumer_group() {
    let mut h = Harness::new(MigrationPolicy::Bidirectional);
    let r = h.consumer("c", 0, None);
    assert_eq!(r.error_code, 0);
    let r = h.consumer("c", 1, Some(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(r.member_epoch, 1);

    // JoinGroup v9 without a member id: MEMBER_ID_REQUIRED, then the member joins.
    let first = h.classic_join_now("", &[]);
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired.code());
    assert!(!first.member_id.is_empty());
    assert!(
        h.c.consumer_group("g").unwrap().members.len() == 1,
        "no pending member is kept"
    );
    let d = first.member_id;
    let jd = h.classic_join_now(&d, &[]);
    assert_eq!(jd.error_code, 0);
    assert_eq!(jd.generation_id, 2);
    assert_eq!(h.group_type(), "consumer");
    // It waits for `c` to revoke; SyncGroup tells it to rejoin only once all is free.
    let sd = h.classic_sync_now(&d, 2);
    assert_eq!(sd.error_code, 0);
    assert!(decode(&sd.assignment).is_empty(), "nothing free yet");
    assert_eq!(h.heartbeat(&d, 2), ErrorCode::None, "still waiting on c");
    let r = h.consumer("c", 1, Some(&[0, 1, 2, 3, 4, 5]));
    let kept: Vec<i32> = r.assignment.unwrap().topic_partitions[0].partitions.clone();
    assert_eq!(kept.len(), 3);
    let r = h.consumer("c", 1, Some(&kept));
    assert_eq!(r.member_epoch, 2);
    h.owners();
    assert_eq!(
        h.heartbeat(&d, 2),
        ErrorCode::RebalanceInProgress,
        "its partitions are free now"
    );
    assert_eq!(
        h.classic_sync_now(&d, 2).error_code,
        ErrorCode::RebalanceInProgress.code()
    );
    let jd = h.classic_join_now(&d, &[]);
    assert_eq!(jd.generation_id, 2);
    assert_eq!(decode(&h.classic_sync_now(&d, 2).assignment).len(), 3);
    assert_eq!(h.owners().len(), 6);
    h.assert_replay_rebuilds();

    // Protocols no classic member supports, or another protocol type, are inconsistent.
    let mut bad = JoinGroupRequest {
        group_id: "g".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        member_id: "e".into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "sticky".into(),
            metadata: subscription(&[]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let fx = h.c.join(h.now, client(), 9, &bad, 100, &Topics);
    h.absorb(fx);
    assert_eq!(
        h.join_reply(100).unwrap().error_code,
        ErrorCode::InconsistentGroupProtocol.code()
    );
    bad.protocols[0].name = "range".into();
    bad.protocols[0].metadata = Bytes::from_static(b"\x00");
    let fx = h.c.join(h.now, client(), 9, &bad, 101, &Topics);
    h.absorb(fx);
    assert_eq!(
        h.join_reply(101).unwrap().error_code,
        ErrorCode::UnknownServerError.code(),
        "malformed subscription"
    );
    assert!(!h.c.consumer_group("g").unwrap().members.contains_key("e"));

    // LeaveGroup removes the classic member; with `c` still there, the group stays.
    let (codes, fx) = h.c.leave(h.now, "g", &[(d.clone(), None), ("ghost".into(), None)]);
    h.absorb(fx);
    assert_eq!(codes, Ok(vec![ErrorCode::None, ErrorCode::UnknownMemberId]));
    assert_eq!(h.group_type(), "consumer");
    assert!(!h.c.consumer_group("g").unwrap().members.contains_key(&d));
    h.assert_replay_rebuilds();
}

#[test]
fn a_silent_classic_member_is_removed_and_expired_consumer_member_downgrades() {
    let mut h = Harness::new(MigrationPolicy::Bidirectional);
    let (a, b) = h.stable_classic_group();
    assert_eq!(h.consumer("c", 0, None).error_code, 0);
    // `a` follows the protocol (rejoins when told); `b` goes silent.
    let mut generation = 1;
    let mut keep_alive = |h: &mut Harness| {
        if h.heartbeat(&a, generation) == ErrorCode::RebalanceInProgress {
            let j = h.classic_join_now(&a, &[]);
            assert_eq!(j.error_code, 0);
            generation = j.generation_id;
            assert_eq!(h.classic_sync_now(&a, generation).error_code, 0);
        }
    };
    for _ in 0..5 {
        h.advance(3_000);
        keep_alive(&mut h);
        assert_eq!(
            h.consumer(
                "c",
                h.c.consumer_group("g").unwrap().members["c"].member_epoch,
                Some(&[])
            )
            .error_code,
            0
        );
        h.owners();
    }
    assert!(
        !h.c.consumer_group("g").unwrap().members.contains_key(&b),
        "b's session expired"
    );
    assert!(h.c.consumer_group("g").unwrap().members.contains_key(&a), "a is alive");
    h.assert_replay_rebuilds();
    // Now `c` goes silent: when its session expires only classic `a` remains, and the group is
    // classic again.
    for _ in 0..20 {
        h.advance(3_000);
        if h.group_type() == "classic" {
            break;
        }
        keep_alive(&mut h);
    }
    assert_eq!(
        h.group_type(),
        "classic",
        "the consumer member's expiry downgrades the group"
    );
    h.assert_replay_rebuilds();
    assert_eq!(h.heartbeat(&a, generation), ErrorCode::RebalanceInProgress);
}

#[test]
fn a_classic_member_that_joins_but_never_syncs_is_removed_after_its_rebalance_timeout() {
    let mut h = Harness::new(MigrationPolicy::Bidirectional);
    assert_eq!(h.consumer("c", 0, None).error_code, 0);
    let d = h.classic_join_now("", &[]).member_id;
    let j = h.classic_join_now(&d, &[]);
    assert_eq!(j.error_code, 0);
    // `c` is silent (still owning everything), so `d` waits without being told to rejoin; it
    // heartbeats, so its session holds, but never sends SyncGroup.
    for _ in 0..9 {
        h.advance(3_000);
        assert_eq!(h.heartbeat(&d, j.generation_id), ErrorCode::None);
    }
    h.advance(4_000);
    assert_eq!(
        h.heartbeat(&d, j.generation_id),
        ErrorCode::UnknownMemberId,
        "fenced at the sync deadline"
    );
    // A member that syncs (and rejoins when told) stays.
    let epoch = h.c.consumer_group("g").unwrap().members["c"].member_epoch;
    assert_eq!(h.consumer("c", epoch, Some(&[0, 1, 2, 3, 4, 5])).error_code, 0);
    let e = h.classic_join_now("", &[]).member_id;
    let mut generation = h.classic_join_now(&e, &[]).generation_id;
    assert_eq!(h.classic_sync_now(&e, generation).error_code, 0);
    for _ in 0..12 {
        h.advance(3_000);
        if h.heartbeat(&e, generation) == ErrorCode::RebalanceInProgress {
            generation = h.classic_join_now(&e, &[]).generation_id;
            h.classic_sync_now(&e, generation);
        }
        let g = h.c.consumer_group("g").unwrap();
        let (epoch, owned): (i32, Vec<i32>) = (
            g.members["c"].member_epoch,
            g.members["c"].assigned.values().flatten().copied().collect(),
        );
        h.consumer("c", epoch, Some(&owned));
    }
    assert!(h.c.consumer_group("g").unwrap().members.contains_key(&e));
}

#[test]
fn a_restarted_classic_static_member_takes_its_place_back() {
    let mut h = Harness::new(MigrationPolicy::Bidirectional);
    assert_eq!(h.consumer("c", 0, None).error_code, 0);
    let static_join = |h: &mut Harness, reply: u64| {
        let req = JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            group_instance_id: Some("i-1".into()),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: subscription(&[]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let fx = h.c.join(h.now, client(), 9, &req, reply, &Topics);
        h.absorb(fx);
        h.join_reply(reply).expect("answered at once")
    };
    let first = static_join(&mut h, 500);
    assert_eq!(first.error_code, 0, "a static member needs no member id round trip");
    let target_before = h.c.consumer_group("g").unwrap().target[&first.member_id].clone();
    let second = static_join(&mut h, 501);
    assert_eq!(second.error_code, 0);
    assert_ne!(second.member_id, first.member_id);
    let g = h.c.consumer_group("g").unwrap();
    assert!(!g.members.contains_key(&first.member_id), "replaced");
    assert_eq!(
        g.members[&second.member_id].subscription.instance_id.as_deref(),
        Some("i-1")
    );
    assert_eq!(
        g.target[&second.member_id], target_before,
        "the instance keeps its target"
    );
    assert_eq!(
        h.heartbeat(&first.member_id, first.generation_id),
        ErrorCode::UnknownMemberId
    );
    h.owners();
    h.assert_replay_rebuilds();
}

#[test]
fn disabled_policy_keeps_protocols_apart() {
    let mut h = Harness::new(MigrationPolicy::Disabled);
    let (a, _b) = h.stable_classic_group();
    let r = h.consumer("c", 0, None);
    assert_eq!(r.error_code, ErrorCode::GroupIdNotFound.code());
    assert_eq!(r.error_message.as_deref(), Some("Group g is not a consumer group."));
    assert_eq!(h.group_type(), "classic");
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::None, "the classic group carries on");

    let mut h = Harness::new(MigrationPolicy::Disabled);
    assert_eq!(h.consumer("c", 0, None).error_code, 0);
    let j = h.classic_join_now("", &[]);
    assert_eq!(j.error_code, ErrorCode::GroupIdNotFound.code());
    assert_eq!(h.group_type(), "consumer");

    // Upgrade only: the group upgrades but does not come back.
    let mut h = Harness::new(MigrationPolicy::Upgrade);
    h.stable_classic_group();
    assert_eq!(h.consumer("c", 0, None).error_code, 0);
    assert_eq!(h.consumer("c", -1, None).error_code, 0);
    assert_eq!(h.group_type(), "consumer");

    assert_eq!(
        MigrationPolicy::parse("BIDIRECTIONAL"),
        Some(MigrationPolicy::Bidirectional)
    );
    assert_eq!(MigrationPolicy::parse("sideways"), None);
}

mod random_schedules {
    //! Random schedules of a migrated group: classic members (eager and cooperative) and
    //! consumer-protocol members join, heartbeat, leave and expire. The coordinator never lets
    //! a partition have two owners, and once everyone follows the protocol the group settles with
    //! every partition owned once by the clients, balanced.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        ConsumerJoin(usize),
        ConsumerBeat(usize),
        ConsumerLeave(usize),
        ClassicJoin(usize),
        ClassicBeat(usize),
        ClassicLeave(usize),
        Advance(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => (0..3usize).prop_map(Op::ConsumerJoin),
            6 => (0..3usize).prop_map(Op::ConsumerBeat),
            1 => (0..3usize).prop_map(Op::ConsumerLeave),
            1 => (0..3usize).prop_map(Op::ClassicJoin),
            6 => (0..3usize).prop_map(Op::ClassicBeat),
            1 => (0..3usize).prop_map(Op::ClassicLeave),
            1 => (0..12_000i64).prop_map(Op::Advance),
        ]
    }

    /// A simulated classic client: what it believes it owns.
    struct ClassicClient {
        id: String,
        generation: i32,
        owned: BTreeSet<i32>,
        /// Cooperative clients rejoin keeping their partitions; eager ones revoke all first.
        cooperative: bool,
    }

    /// A simulated consumer-protocol client.
    struct ConsumerClient {
        id: String,
        epoch: i32,
        owned: BTreeSet<i32>,
    }

    fn parts(r: &ConsumerGroupHeartbeatResponse) -> Option<BTreeSet<i32>> {
        r.assignment
            .as_ref()
            .map(|a| a.topic_partitions.iter().flat_map(|t| t.partitions.clone()).collect())
    }

    /// Rejoin and sync as a classic client does; `false` when the member is gone.
    fn classic_rejoin(h: &mut Harness, m: &mut ClassicClient) -> bool {
        if !m.cooperative {
            m.owned.clear();
        }
        let owned: Vec<i32> = m.owned.iter().copied().collect();
        let j = h.classic_join_now(&m.id, &owned);
        if j.error_code != 0 {
            assert_eq!(
                j.error_code,
                ErrorCode::UnknownMemberId.code(),
                "join: {}",
                j.error_code
            );
            return false;
        }
        m.generation = j.generation_id;
        let s = h.classic_sync_now(&m.id, m.generation);
        if s.error_code == 0 {
            m.owned = decode(&s.assignment);
        } else {
            assert_eq!(
                s.error_code,
                ErrorCode::RebalanceInProgress.code(),
                "sync: {}",
                s.error_code
            );
        }
        true
    }

    fn classic_beat(h: &mut Harness, clients: &mut [Option<ClassicClient>], i: usize) {
        let Some(m) = clients[i].as_mut() else { return };
        let code = h.heartbeat(&m.id, m.generation);
        let alive = match code {
            ErrorCode::None => true,
            ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration => classic_rejoin(h, m),
            ErrorCode::UnknownMemberId => false,
            other => panic!("unexpected heartbeat answer {other:?}"),
        };
        if !alive {
            clients[i] = None;
        }
    }

    fn consumer_beat(h: &mut Harness, clients: &mut [Option<ConsumerClient>], i: usize) {
        let Some(m) = clients[i].as_mut() else { return };
        let owned: Vec<i32> = m.owned.iter().copied().collect();
        let r = h.consumer(&m.id, m.epoch, Some(&owned));
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
        if let Some(p) = parts(&r) {
            m.owned = p;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]
        #[test]
        fn mixed_groups_never_double_assign_and_settle(
            ops in proptest::collection::vec(op(), 1..60),
            cooperative in any::<[bool; 3]>(),
        ) {
            let mut h = Harness::new(MigrationPolicy::Bidirectional);
            let (a, b) = h.stable_classic_group();
            let mut classics: Vec<Option<ClassicClient>> = vec![
                Some(ClassicClient { id: a, generation: 1, owned: BTreeSet::from([0, 1, 2]), cooperative: cooperative[0] }),
                Some(ClassicClient { id: b, generation: 1, owned: BTreeSet::from([3, 4, 5]), cooperative: cooperative[1] }),
                None,
            ];
            let mut consumers: Vec<Option<ConsumerClient>> = vec![None, None, None];
            // The upgrade.
            let r = h.consumer("c-first", 0, None);
            prop_assert_eq!(r.error_code, 0);
            consumers[0] = Some(ConsumerClient { id: "c-first".into(), epoch: r.member_epoch, owned: parts(&r).unwrap_or_default() });
            let mut joins = 0;
            for op in ops {
                match op {
                    Op::ConsumerJoin(i) if consumers[i].is_none() => {
                        joins += 1;
                        let id = format!("c{i}-{joins}");
                        let r = h.consumer(&id, 0, None);
                        prop_assert_eq!(r.error_code, 0, "{:?}", r.error_message);
                        consumers[i] = Some(ConsumerClient { id, epoch: r.member_epoch, owned: parts(&r).unwrap_or_default() });
                    }
                    Op::ConsumerBeat(i) => consumer_beat(&mut h, &mut consumers, i),
                    Op::ConsumerLeave(i) => {
                        if let Some(m) = consumers[i].take() {
                            let r = h.consumer(&m.id, -1, None);
                            prop_assert!(r.error_code == 0 || r.error_code == ErrorCode::UnknownMemberId.code());
                        }
                    }
                    // Into a live consumer group only: an empty one becomes a classic group,
                    // whose join phase this model does not drive.
                    Op::ClassicJoin(i)
                        if classics[i].is_none() && h.c.consumer_group("g").is_some_and(|g| !g.members.is_empty()) =>
                    {
                        let first = h.classic_join_now("", &[]);
                        prop_assert_eq!(first.error_code, ErrorCode::MemberIdRequired.code());
                        let mut m = ClassicClient { id: first.member_id, generation: -1, owned: BTreeSet::new(), cooperative: cooperative[i] };
                        if classic_rejoin(&mut h, &mut m) {
                            classics[i] = Some(m);
                        }
                    }
                    Op::ClassicBeat(i) => classic_beat(&mut h, &mut classics, i),
                    Op::ClassicLeave(i) => {
                        if let Some(m) = classics[i].take() {
                            let (codes, fx) = h.c.leave(h.now, "g", &[(m.id.clone(), None)]);
                            h.absorb(fx);
                            prop_assert!(codes.is_ok());
                        }
                    }
                    Op::ConsumerJoin(_) | Op::ClassicJoin(_) => {}
                    Op::Advance(ms) => h.advance(ms),
                }
                if h.group_type() != "consumer" {
                    break;
                }
                h.owners();
            }
            h.assert_replay_rebuilds();
            if h.group_type() != "consumer" {
                // Downgraded (the last consumer-protocol member left): a classic group of the
                // classic members the coordinator still knew.
                prop_assert_eq!(h.group_type(), "classic");
                return Ok(());
            }
            // Everyone follows the protocol until nothing changes.
            for _ in 0..10 {
                for i in 0..3 {
                    consumer_beat(&mut h, &mut consumers, i);
                    classic_beat(&mut h, &mut classics, i);
                }
            }
            h.owners();
            if h.group_type() != "consumer" {
                return Ok(());
            }
            let mut counts = Vec::new();
            let mut owned = BTreeSet::new();
            for set in consumers.iter().flatten().map(|m| &m.owned).chain(classics.iter().flatten().map(|m| &m.owned)) {
                counts.push(set.len());
                for p in set {
                    prop_assert!(owned.insert(*p), "partition {} owned by two clients", p);
                }
            }
            if counts.is_empty() {
                return Ok(());
            }
            prop_assert_eq!(h.c.group_state("g"), "Stable");
            prop_assert_eq!(owned.len(), PARTITIONS as usize, "every partition owned");
            prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{:?}", counts);
            h.assert_replay_rebuilds();
        }
    }
}

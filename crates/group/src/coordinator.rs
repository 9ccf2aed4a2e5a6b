//! The group coordinator: events in, records and replies out.
//!
//! Every method takes the current time and the request, changes the in-memory state, and returns
//! [`Effects`]: the records to append to `__consumer_offsets` and the replies to send. The
//! runtime appends the records (and makes them durable) before it sends the replies, so a client
//! never hears of a commit or an assignment that a crash could lose. JoinGroup and SyncGroup
//! replies are often not ready when their request arrives: the request is parked under its
//! [`ReplyId`] and answered by whichever later event completes the phase (another member's join,
//! the leader's assignment, a timer). Timers live inside the coordinator ([`Coordinator::tick`]),
//! so tests drive the whole protocol with a made-up clock.
//!
//! The rules follow Kafka 4's `GroupMetadataManager` and `OffsetMetadataManager` for classic
//! groups, including their error codes.

use crate::classic::{ClassicGroup, ClassicMember, ClassicState, Protocol};
use crate::consumer::{ConsumerGroup, TopicView};
use crate::migration::MigrationPolicy;
use crate::records::{CoordinatorRecord, GroupMetadataValue, OffsetKey, OffsetValue};
use crate::timer::Timers;
use bytes::Bytes;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use sluice_protocol::generated::join_group_response::JoinGroupResponseMember;
use sluice_protocol::generated::list_groups_response::ListedGroup;
use sluice_protocol::generated::{JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse};
use std::collections::{BTreeMap, HashMap};

/// Identifies a parked request; the runtime maps it to the connection waiting for the answer.
pub type ReplyId = u64;

/// The coordinator's settings, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members before
    /// its first generation.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`: members per classic group (and member ids handed out but not yet
    /// used, so JoinGroup floods cannot grow a group without bound).
    pub max_size: usize,
    /// How long a new member may wait in its first JoinGroup before it is dropped (Kafka's
    /// fixed five minutes): it cannot heartbeat until it has a join response.
    pub new_member_join_timeout_ms: i64,
    /// `offsets.retention.minutes` in ms.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms`: how long a consumer group member may go without a
    /// heartbeat before it is fenced.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: how often consumer group members heartbeat.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`: members per consumer group.
    pub consumer_max_size: usize,
    /// `group.consumer.assignors`: the server assignors, the first being the default.
    pub consumer_assignors: Vec<String>,
    /// `group.consumer.migration.policy`: which online conversions of a non-empty group
    /// between the classic and the consumer protocol are allowed.
    pub migration_policy: crate::migration::MigrationPolicy,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: 10_000,
            new_member_join_timeout_ms: 300_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_max_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: 10_000,
            consumer_assignors: vec![crate::assignor::UNIFORM.to_string(), crate::assignor::RANGE.to_string()],
            migration_policy: crate::migration::MigrationPolicy::Bidirectional,
        }
    }
}

/// A deferred answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Answer to a parked JoinGroup.
    Join(JoinGroupResponse),
    /// Answer to a parked SyncGroup.
    Sync(SyncGroupResponse),
}

/// What one event asks the runtime to do, in order: append `records`, make them durable, then
/// send `replies`.
#[derive(Debug, Default)]
pub struct Effects {
    /// Records for `__consumer_offsets`, in the order they must be appended.
    pub records: Vec<CoordinatorRecord>,
    /// Replies to parked requests.
    pub replies: Vec<(ReplyId, Reply)>,
}

impl Effects {
    pub(crate) fn join(&mut self, reply: ReplyId, response: JoinGroupResponse) {
        self.replies.push((reply, Reply::Join(response)));
    }

    pub(crate) fn join_error(&mut self, reply: ReplyId, member_id: &str, code: ErrorCode) {
        self.join(
            reply,
            JoinGroupResponse {
                error_code: code.code(),
                member_id: member_id.to_string(),
                generation_id: -1,
                ..Default::default()
            },
        );
    }

    pub(crate) fn sync(&mut self, reply: ReplyId, response: SyncGroupResponse) {
        self.replies.push((reply, Reply::Sync(response)));
    }

    pub(crate) fn sync_error(&mut self, reply: ReplyId, code: ErrorCode) {
        self.sync(
            reply,
            SyncGroupResponse {
                error_code: code.code(),
                ..Default::default()
            },
        );
    }
}

/// Who sent a request, as group membership records it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The request header's client id.
    pub client_id: &'a str,
    /// The client's address, as Kafka shows it (`/127.0.0.1`).
    pub client_host: &'a str,
}

/// One offset to commit.
#[derive(Debug, Clone)]
pub struct CommitOffset {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The committed leader epoch, -1 if none.
    pub leader_epoch: i32,
    /// Commit metadata; `None` is stored as empty.
    pub metadata: Option<String>,
    /// The commit time the client chose (OffsetCommit v1's per-partition timestamp, which
    /// Kafka 3.x kept and offset expiry counts from); `None` stamps the coordinator's clock.
    pub commit_timestamp_ms: Option<i64>,
}

/// An OffsetCommit request, topics already resolved and checked to exist by the broker.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// The group.
    pub group_id: String,
    /// Generation (classic) or member epoch; -1 for commits from outside the group.
    pub generation_id: i32,
    /// The committing member; empty from outside the group.
    pub member_id: String,
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// OffsetCommit v2-v4's retention time, -1 for the broker default.
    pub retention_time_ms: i64,
    /// The offsets.
    pub offsets: Vec<CommitOffset>,
}

/// Timer identities: at most one of each per group (or member).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TimerKey {
    /// A member's session (or a pending member's deadline to rejoin).
    Heartbeat { group: String, member: String },
    /// The join phase's deadline (or the initial rebalance delay).
    Join { group: String },
    /// The deadline for members to send SyncGroup.
    Sync { group: String },
    /// A consumer group member's session.
    ConsumerSession { group: String, member: String },
    /// A consumer group member's deadline to revoke partitions.
    ConsumerRebalance { group: String, member: String },
    /// The deadline for a classic member of a consumer group to send SyncGroup after its
    /// JoinGroup (its rebalance timeout), as Kafka's consumer group sync timeout.
    ClassicSync { group: String, member: String },
}

/// What to do when a timer fires.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimerAction {
    /// Expire the member unless it is parked in JoinGroup or SyncGroup.
    Heartbeat,
    /// The initial delay elapsed: complete the join phase, or wait once more if members kept
    /// arriving.
    InitialJoin { delay_ms: i64, remaining_ms: i64 },
    /// The join phase's deadline: complete it without the members that did not rejoin.
    JoinDeadline,
    /// The sync deadline of `generation`: drop members that never sent SyncGroup.
    Sync { generation: i32 },
    /// Fence the consumer group member.
    ConsumerSession,
    /// Fence the consumer group member if it is still revoking at member epoch `epoch`.
    ConsumerRebalance { epoch: i32 },
    /// Fence the classic member of a consumer group if it still has not rejoined since it was
    /// told to (REBALANCE_IN_PROGRESS) at member epoch `epoch`.
    ClassicJoin { epoch: i32 },
    /// Fence the classic member of a consumer group: it joined but did not send SyncGroup.
    ClassicSync,
}

/// OffsetFetch's answer for one topic: each partition with its committed offset, if any.
pub type FetchedTopic = (String, Vec<(i32, Option<OffsetValue>)>);
/// A per-partition error code for each partition of a topic.
pub type TopicCodes = (String, Vec<(i32, ErrorCode)>);
/// The time an offset's retention counts from (Kafka's expiration base timestamp).
type ExpiryBase = Box<dyn Fn(&OffsetValue) -> i64>;

/// A group: its classic membership and its committed offsets.
#[derive(Debug)]
pub(crate) struct Group {
    /// Membership and rebalance state of a classic group (empty for a consumer group).
    pub(crate) classic: ClassicGroup,
    /// Committed offsets by topic and partition.
    /// Values boxed: a B-tree node holds room for eleven entries, and many groups commit a
    /// partition or two; the empty slots then cost a pointer each instead of a whole value.
    pub(crate) offsets: BTreeMap<(String, i32), Box<OffsetValue>>,
    /// The KIP-848 state when this is a consumer group; `None` for a classic group.
    pub(crate) consumer: Option<ConsumerGroup>,
}

/// The coordinator of every group on this broker.
#[derive(Debug)]
pub struct Coordinator {
    /// Settings.
    pub(crate) config: GroupConfig,
    /// Groups by id.
    /// Boxed: a map stores its values inline in buckets it sizes up to twice the count, and a
    /// group is several hundred bytes; a box makes an empty bucket cost a pointer.
    pub(crate) groups: HashMap<String, Box<Group>>,
    /// Session, join and sync deadlines.
    pub(crate) timers: Timers<TimerKey, TimerAction>,
    /// Source of member ids: seeded, so tests are reproducible.
    pub(crate) id_state: u64,
    /// Per-group settings (KIP-848 group configs) over the broker-wide ones, by group id.
    pub(crate) group_overrides: HashMap<String, GroupOverrides>,
}

/// A group's own consumer-protocol settings (the GROUP config resource); `None` follows the
/// broker-wide value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupOverrides {
    /// `consumer.session.timeout.ms`.
    pub session_timeout_ms: Option<i32>,
    /// `consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: Option<i32>,
}

/// Kafka's "no member id yet".
const UNKNOWN_MEMBER_ID: &str = "";

impl Coordinator {
    /// A coordinator with no groups. `seed` makes generated member ids reproducible in tests;
    /// the broker seeds it from the clock.
    pub fn new(config: GroupConfig, seed: u64) -> Coordinator {
        Coordinator {
            config,
            groups: HashMap::new(),
            timers: Timers::default(),
            id_state: seed,
            group_overrides: HashMap::new(),
        }
    }

    /// Sets a group's own settings; all `None` removes them. They take effect at each member's
    /// next heartbeat, as in Kafka.
    pub fn set_group_overrides(&mut self, group_id: &str, overrides: GroupOverrides) {
        if overrides == GroupOverrides::default() {
            self.group_overrides.remove(group_id);
        } else {
            self.group_overrides.insert(group_id.to_owned(), overrides);
        }
    }

    /// Every group's own settings.
    pub fn group_overrides(&self) -> &HashMap<String, GroupOverrides> {
        &self.group_overrides
    }

    /// The consumer-protocol session timeout of `group_id`.
    pub(crate) fn consumer_session_timeout_ms(&self, group_id: &str) -> i32 {
        self.group_overrides
            .get(group_id)
            .and_then(|o| o.session_timeout_ms)
            .unwrap_or(self.config.consumer_session_timeout_ms)
    }

    /// The consumer-protocol heartbeat interval of `group_id`.
    pub(crate) fn consumer_heartbeat_interval_ms(&self, group_id: &str) -> i32 {
        self.group_overrides
            .get(group_id)
            .and_then(|o| o.heartbeat_interval_ms)
            .unwrap_or(self.config.consumer_heartbeat_interval_ms)
    }

    /// The settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Number of groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The earliest pending deadline: the runtime calls [`Coordinator::tick`] then.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.timers.next_deadline_ms()
    }

    /// A member id: the client id (or instance id) and a random UUID, as Kafka forms them.
    fn generate_member_id(&mut self, prefix: &str) -> String {
        let a = splitmix64(&mut self.id_state);
        let b = splitmix64(&mut self.id_state);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&a.to_be_bytes());
        bytes[8..].copy_from_slice(&b.to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{prefix}-{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    // ----------------------------------------------------------------------------------------
    // Loading
    // ----------------------------------------------------------------------------------------

    /// Applies a record read back from `__consumer_offsets` while loading.
    pub fn replay(&mut self, record: CoordinatorRecord, now_ms: i64) {
        match record {
            CoordinatorRecord::OffsetCommit { key, value } => match value {
                Some(v) => {
                    let group = self.group_or_create(&key.group_id, now_ms);
                    group.offsets.insert((key.topic, key.partition), Box::new(v));
                }
                None => {
                    if let Some(g) = self.groups.get_mut(&key.group_id) {
                        g.offsets.remove(&(key.topic, key.partition));
                    }
                }
            },
            CoordinatorRecord::GroupMetadata { group_id, value } => match value {
                Some(v) => {
                    let classic = ClassicGroup::from_record(group_id.clone(), &v);
                    let group = self.group_or_create(&group_id, now_ms);
                    group.classic = classic;
                }
                None => {
                    if let Some(g) = self.groups.get(&group_id)
                        && g.offsets.is_empty()
                    {
                        self.groups.remove(&group_id);
                    } else if let Some(g) = self.groups.get_mut(&group_id) {
                        g.classic = ClassicGroup::new(group_id.clone(), now_ms);
                    }
                }
            },
            CoordinatorRecord::Consumer(r) => self.replay_consumer(r, now_ms),
        }
    }

    /// Finishes loading: members restored from the log get one session timeout to heartbeat,
    /// as Kafka gives them after a coordinator moves.
    pub fn finish_loading(&mut self, now_ms: i64) {
        let mut schedule = Vec::new();
        for (id, g) in &self.groups {
            for m in g.classic.members_in_order() {
                schedule.push((id.clone(), m.member_id.clone(), m.session_timeout_ms));
            }
        }
        for (group, member, session_ms) in schedule {
            self.timers.schedule(
                TimerKey::Heartbeat { group, member },
                now_ms + i64::from(session_ms),
                TimerAction::Heartbeat,
            );
        }
        self.schedule_loaded_consumer_members(now_ms);
    }

    pub(crate) fn group_or_create(&mut self, group_id: &str, now_ms: i64) -> &mut Group {
        self.groups.entry(group_id.to_string()).or_insert_with(|| {
            Box::new(Group {
                classic: ClassicGroup::new(group_id.to_string(), now_ms),
                offsets: BTreeMap::new(),
                consumer: None,
            })
        })
    }

    // ----------------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------------

    /// Fires every timer due at `now_ms`.
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        while let Some((key, action)) = self.timers.pop_due(now_ms) {
            match (key, action) {
                (TimerKey::Heartbeat { group, member }, _) => self.expire_heartbeat(&group, &member, now_ms, &mut fx),
                (TimerKey::Join { group }, TimerAction::InitialJoin { delay_ms, remaining_ms }) => {
                    self.initial_join_elapsed(&group, delay_ms, remaining_ms, now_ms, &mut fx)
                }
                (TimerKey::Join { group }, _) => {
                    if self.groups.contains_key(&group) {
                        self.complete_join(&group, now_ms, &mut fx);
                    }
                }
                (TimerKey::Sync { group }, TimerAction::Sync { generation }) => {
                    self.expire_pending_sync(&group, generation, now_ms, &mut fx)
                }
                (TimerKey::Sync { .. }, _) => {}
                (TimerKey::ConsumerSession { group, member }, _) => {
                    self.consumer_session_expired(&group, &member, now_ms, &mut fx)
                }
                (TimerKey::ConsumerRebalance { group, member }, TimerAction::ConsumerRebalance { epoch }) => {
                    self.consumer_rebalance_expired(&group, &member, epoch, now_ms, &mut fx)
                }
                (TimerKey::ConsumerRebalance { group, member }, TimerAction::ClassicJoin { epoch }) => {
                    self.classic_join_expired(&group, &member, epoch, now_ms, &mut fx)
                }
                (TimerKey::ConsumerRebalance { .. }, _) => {}
                (TimerKey::ClassicSync { group, member }, _) => {
                    self.classic_sync_expired(&group, &member, now_ms, &mut fx)
                }
            }
        }
        fx
    }

    pub(crate) fn schedule_heartbeat(&mut self, group: &str, member: &str, after_ms: i64, now_ms: i64) {
        self.timers.schedule(
            TimerKey::Heartbeat {
                group: group.to_string(),
                member: member.to_string(),
            },
            now_ms + after_ms,
            TimerAction::Heartbeat,
        );
    }

    pub(crate) fn cancel_heartbeat(&mut self, group: &str, member: &str) {
        self.timers.cancel(&TimerKey::Heartbeat {
            group: group.to_string(),
            member: member.to_string(),
        });
    }

    fn reschedule_session(&mut self, group: &str, member: &str, now_ms: i64) {
        let session = self
            .groups
            .get(group)
            .and_then(|g| g.classic.member(member))
            .map(|m| i64::from(m.session_timeout_ms));
        if let Some(session) = session {
            self.schedule_heartbeat(group, member, session, now_ms);
        }
    }

    fn expire_heartbeat(&mut self, group_id: &str, member_id: &str, now_ms: i64, fx: &mut Effects) {
        let Some(g) = self.groups.get_mut(group_id) else { return };
        if g.classic.is_pending_member(member_id) {
            g.classic.remove(member_id);
            if g.classic.state == ClassicState::PreparingRebalance && g.classic.has_all_members_joined() {
                self.complete_join(group_id, now_ms, fx);
            }
            return;
        }
        let Some(member) = g.classic.member(member_id) else {
            return;
        };
        if member.has_satisfied_heartbeat() {
            return;
        }
        tracing::info!(group = group_id, member = member_id, "member session expired");
        self.remove_member_and_update(group_id, member_id, now_ms, fx);
    }

    /// Removes a member that failed or left, answering its parked JoinGroup, and moves the
    /// group on (Kafka's `removeMemberAndUpdateClassicGroup`).
    fn remove_member_and_update(&mut self, group_id: &str, member_id: &str, now_ms: i64, fx: &mut Effects) {
        let Some(g) = self.groups.get_mut(group_id) else { return };
        if let Some(reply) = g.classic.take_join(member_id) {
            fx.join_error(reply, UNKNOWN_MEMBER_ID, ErrorCode::UnknownMemberId);
        }
        g.classic.remove(member_id);
        self.cancel_heartbeat(group_id, member_id);
        let g = &self.groups[group_id];
        match g.classic.state {
            ClassicState::Stable | ClassicState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(group_id, now_ms, fx)
            }
            ClassicState::PreparingRebalance if g.classic.has_all_members_joined() => {
                self.complete_join(group_id, now_ms, fx)
            }
            _ => {}
        }
    }

    fn initial_join_elapsed(
        &mut self,
        group_id: &str,
        delay_ms: i64,
        remaining_ms: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(g) = self.groups.get_mut(group_id) else { return };
        if g.classic.new_member_added && remaining_ms != 0 {
            g.classic.new_member_added = false;
            let next_delay_ms = self.config.initial_rebalance_delay_ms.min(remaining_ms);
            let next_remaining_ms = (remaining_ms - delay_ms).max(0);
            self.timers.schedule(
                TimerKey::Join {
                    group: group_id.to_string(),
                },
                now_ms + next_delay_ms,
                TimerAction::InitialJoin {
                    delay_ms: next_delay_ms,
                    remaining_ms: next_remaining_ms,
                },
            );
        } else {
            self.complete_join(group_id, now_ms, fx);
        }
    }

    fn expire_pending_sync(&mut self, group_id: &str, generation: i32, now_ms: i64, fx: &mut Effects) {
        let Some(g) = self.groups.get_mut(group_id) else { return };
        if g.classic.generation != generation {
            return;
        }
        if !matches!(
            g.classic.state,
            ClassicState::CompletingRebalance | ClassicState::Stable
        ) {
            return;
        }
        let late: Vec<String> = g.classic.pending_sync().iter().cloned().collect();
        if late.is_empty() {
            return;
        }
        for member in &late {
            g.classic.remove(member);
        }
        for member in &late {
            self.cancel_heartbeat(group_id, member);
        }
        tracing::info!(group = group_id, members = ?late, "removed members that never sent SyncGroup");
        self.prepare_rebalance(group_id, now_ms, fx);
    }

    // ----------------------------------------------------------------------------------------
    // JoinGroup
    // ----------------------------------------------------------------------------------------

    /// Handles JoinGroup. The answer comes back in [`Effects::replies`] under `reply`, now or
    /// from a later event.
    pub fn join(
        &mut self,
        now_ms: i64,
        client: Client<'_>,
        version: i16,
        req: &JoinGroupRequest,
        reply: ReplyId,
        topics: &dyn TopicView,
    ) -> Effects {
        let mut fx = Effects::default();
        if req.group_id.is_empty() {
            fx.join_error(reply, &req.member_id, ErrorCode::InvalidGroupId);
            return fx;
        }
        if let Some(c) = self.groups.get(&req.group_id).and_then(|g| g.consumer.as_ref()) {
            if !c.members.is_empty() {
                if self.config.migration_policy == MigrationPolicy::Disabled {
                    // Kafka's answer when its migration policy keeps protocols apart.
                    fx.join_error(reply, &req.member_id, ErrorCode::GroupIdNotFound);
                } else if req.session_timeout_ms < self.config.min_session_timeout_ms
                    || req.session_timeout_ms > self.config.max_session_timeout_ms
                {
                    fx.join_error(reply, &req.member_id, ErrorCode::InvalidSessionTimeout);
                } else {
                    self.classic_join_to_consumer(now_ms, client, version, req, topics, reply, &mut fx);
                }
                return fx;
            }
            // An empty consumer group becomes a classic group; its offsets stay.
            crate::consumer::group_tombstones(&req.group_id, c, &mut fx);
            self.groups.get_mut(&req.group_id).expect("exists").consumer = None;
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            fx.join_error(reply, &req.member_id, ErrorCode::InvalidSessionTimeout);
            return fx;
        }
        let unknown_member = req.member_id == UNKNOWN_MEMBER_ID;
        let is_new_group = !self.groups.contains_key(&req.group_id);
        if is_new_group && !unknown_member {
            fx.join_error(reply, &req.member_id, ErrorCode::UnknownMemberId);
            return fx;
        }
        self.group_or_create(&req.group_id, now_ms);
        let protocols: Vec<Protocol> = req
            .protocols
            .iter()
            .map(|p| Protocol {
                name: p.name.clone(),
                // Copied: a slice would keep the whole request frame alive with the member.
                metadata: Bytes::copy_from_slice(&p.metadata),
            })
            .collect();

        if !self.accept_joining_member(&req.group_id, &req.member_id) {
            let g = self.groups.get_mut(&req.group_id).expect("created above");
            g.classic.remove(&req.member_id);
            fx.join_error(reply, UNKNOWN_MEMBER_ID, ErrorCode::GroupMaxSizeReached);
        } else if unknown_member {
            self.join_new_member(now_ms, client, version, req, protocols, reply, &mut fx);
        } else {
            self.join_existing_member(now_ms, client, req, protocols, reply, &mut fx);
        }

        if is_new_group && fx.records.is_empty() {
            // Persist the new group, so it is listed (and its id reserved) across a restart.
            let g = &self.groups[&req.group_id];
            fx.records.push(CoordinatorRecord::GroupMetadata {
                group_id: req.group_id.clone(),
                value: Some(empty_group_value(&g.classic)),
            });
        }
        fx
    }

    fn accept_joining_member(&self, group_id: &str, member_id: &str) -> bool {
        let g = &self.groups[group_id].classic;
        let max = self.config.max_size;
        match g.state {
            ClassicState::Empty => true,
            ClassicState::PreparingRebalance => {
                g.member(member_id).is_some_and(|m| m.awaiting_join.is_some()) || g.awaiting_join_count() < max
            }
            ClassicState::CompletingRebalance | ClassicState::Stable => g.has_member(member_id) || g.size() < max,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn join_new_member(
        &mut self,
        now_ms: i64,
        client: Client<'_>,
        version: i16,
        req: &JoinGroupRequest,
        protocols: Vec<Protocol>,
        reply: ReplyId,
        fx: &mut Effects,
    ) {
        if !self.groups[&req.group_id]
            .classic
            .supports_protocols(&req.protocol_type, &protocols)
        {
            fx.join_error(reply, UNKNOWN_MEMBER_ID, ErrorCode::InconsistentGroupProtocol);
            return;
        }
        let prefix = req.group_instance_id.as_deref().unwrap_or(client.client_id);
        let new_member_id = self.generate_member_id(prefix);
        let g = &self.groups[&req.group_id].classic;
        if let Some(instance_id) = &req.group_instance_id {
            let existing = g.static_member_id(instance_id).map(str::to_string);
            match existing {
                Some(old_id) => {
                    self.update_static_member(now_ms, version, req, protocols, &old_id, &new_member_id, reply, fx)
                }
                None => self.add_member_then_rebalance(now_ms, client, req, protocols, new_member_id, reply, fx),
            }
        } else if version >= 4 {
            // KIP-394: hand out the id and have the client rejoin with it, so a client that
            // retries a timed-out JoinGroup does not leave ghost members behind.
            let g = self.groups.get_mut(&req.group_id).expect("exists");
            // Ids handed out but not used yet each hold a timer until their session timeout: at
            // most group.max.size of them, since no more members could join anyway.
            if g.classic.pending_member_count() >= self.config.max_size {
                fx.join_error(reply, UNKNOWN_MEMBER_ID, ErrorCode::GroupMaxSizeReached);
                return;
            }
            g.classic.add_pending_member(new_member_id.clone());
            self.schedule_heartbeat(&req.group_id, &new_member_id, i64::from(req.session_timeout_ms), now_ms);
            fx.join_error(reply, &new_member_id, ErrorCode::MemberIdRequired);
        } else {
            self.add_member_then_rebalance(now_ms, client, req, protocols, new_member_id, reply, fx);
        }
    }

    fn join_existing_member(
        &mut self,
        now_ms: i64,
        client: Client<'_>,
        req: &JoinGroupRequest,
        protocols: Vec<Protocol>,
        reply: ReplyId,
        fx: &mut Effects,
    ) {
        let group_id = req.group_id.as_str();
        let member_id = req.member_id.as_str();
        let g = &self.groups[group_id].classic;
        if !g.supports_protocols(&req.protocol_type, &protocols) {
            fx.join_error(reply, member_id, ErrorCode::InconsistentGroupProtocol);
            return;
        }
        if g.is_pending_member(member_id) {
            if req.group_instance_id.is_some() {
                // Pending ids are only handed to dynamic members; a static member using one is
                // a client bug.
                fx.join_error(reply, member_id, ErrorCode::UnknownServerError);
                return;
            }
            self.add_member_then_rebalance(now_ms, client, req, protocols, member_id.to_string(), reply, fx);
            return;
        }
        if let Err(code) = validate_member(g, member_id, req.group_instance_id.as_deref()) {
            fx.join_error(reply, member_id, code);
            return;
        }
        let member = g.member(member_id).expect("validated");
        match g.state {
            ClassicState::PreparingRebalance => {
                self.update_member_then_rebalance(now_ms, req, protocols, reply, fx);
            }
            ClassicState::CompletingRebalance => {
                if member.matches(&protocols) {
                    // The member lost its join response: resend the current generation's.
                    let response = join_response(g, member_id, g.is_leader(member_id));
                    fx.join(reply, response);
                } else {
                    self.update_member_then_rebalance(now_ms, req, protocols, reply, fx);
                }
            }
            ClassicState::Stable => {
                if g.is_leader(member_id) || !member.matches(&protocols) {
                    // A rejoining leader forces a rebalance: that is how a consumer reacts to
                    // metadata changes (new partitions) that do not change its subscription.
                    self.update_member_then_rebalance(now_ms, req, protocols, reply, fx);
                } else {
                    let response = join_response(g, member_id, false);
                    fx.join(reply, response);
                }
            }
            ClassicState::Empty => fx.join_error(reply, member_id, ErrorCode::UnknownMemberId),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_member_then_rebalance(
        &mut self,
        now_ms: i64,
        client: Client<'_>,
        req: &JoinGroupRequest,
        protocols: Vec<Protocol>,
        member_id: String,
        reply: ReplyId,
        fx: &mut Effects,
    ) {
        let g = &mut self.groups.get_mut(&req.group_id).expect("exists").classic;
        if g.state == ClassicState::PreparingRebalance && g.previous_state == ClassicState::Empty {
            g.new_member_added = true;
        }
        g.add(ClassicMember {
            member_id: member_id.clone(),
            instance_id: req.group_instance_id.clone(),
            client_id: client.client_id.to_string(),
            client_host: client.client_host.to_string(),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(reply),
            awaiting_sync: None,
            is_new: true,
            join_seq: 0,
        });
        // A new member cannot heartbeat before its first join response; if its JoinGroup is
        // never answered (the client went away), drop it after the new-member timeout.
        self.schedule_heartbeat(
            &req.group_id,
            &member_id,
            self.config.new_member_join_timeout_ms,
            now_ms,
        );
        self.maybe_prepare_rebalance_or_complete_join(&req.group_id, now_ms, fx);
    }

    fn update_member_then_rebalance(
        &mut self,
        now_ms: i64,
        req: &JoinGroupRequest,
        protocols: Vec<Protocol>,
        reply: ReplyId,
        fx: &mut Effects,
    ) {
        let g = &mut self.groups.get_mut(&req.group_id).expect("exists").classic;
        // A member that rejoins while its previous JoinGroup is still parked (it retried on a
        // new connection) supersedes it; answer the old one so nothing waits forever.
        if let Some(old) = g.member(&req.member_id).and_then(|m| m.awaiting_join) {
            fx.join_error(old, &req.member_id, ErrorCode::UnknownMemberId);
        }
        g.update_member(
            &req.member_id,
            protocols,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(reply),
        );
        self.maybe_prepare_rebalance_or_complete_join(&req.group_id, now_ms, fx);
    }

    /// A known static instance rejoins with an unknown member id (it restarted): it takes over
    /// its old member's place. In a Stable group whose protocol does not change, this needs no
    /// rebalance: the instance gets its old assignment back (KIP-345).
    #[allow(clippy::too_many_arguments)]
    fn update_static_member(
        &mut self,
        now_ms: i64,
        version: i16,
        req: &JoinGroupRequest,
        protocols: Vec<Protocol>,
        old_id: &str,
        new_id: &str,
        reply: ReplyId,
        fx: &mut Effects,
    ) {
        let group_id = req.group_id.as_str();
        let instance_id = req.group_instance_id.as_deref().expect("static");
        let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
        let current_leader = g.leader.clone();
        let Some(old) = g.replace_static_member(instance_id, old_id, new_id) else {
            return;
        };
        // The old incarnation may still have requests parked: fence them.
        if let Some(r) = old.awaiting_join {
            fx.join_error(r, old_id, ErrorCode::FencedInstanceId);
        }
        if let Some(r) = old.awaiting_sync {
            fx.sync_error(r, ErrorCode::FencedInstanceId);
        }
        self.cancel_heartbeat(group_id, old_id);
        self.reschedule_session(group_id, new_id, now_ms);
        let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
        g.update_member(
            new_id,
            protocols,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(reply),
        );
        match g.state {
            ClassicState::Stable => {
                if g.select_protocol() == g.protocol_name {
                    let reply = g.take_join(new_id).expect("just parked");
                    let response = if version >= 9 {
                        let is_leader = g.is_leader(new_id);
                        let mut r = join_response(g, new_id, is_leader);
                        r.skip_assignment = is_leader;
                        r
                    } else {
                        // Before v9 the member cannot be told to skip assignment, so it is told
                        // the old leader id: it then acts as a follower and keeps the group's
                        // assignment as it is.
                        let mut r = join_response(g, new_id, false);
                        r.leader = current_leader.unwrap_or_default();
                        r
                    };
                    fx.records.push(CoordinatorRecord::GroupMetadata {
                        group_id: group_id.to_string(),
                        value: Some(g.to_record()),
                    });
                    fx.join(reply, response);
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(group_id, now_ms, fx);
                }
            }
            ClassicState::CompletingRebalance => {
                // The leader may already be assigning with the old member id: start over.
                self.prepare_rebalance(group_id, now_ms, fx);
            }
            ClassicState::PreparingRebalance => self.maybe_complete_join_phase(group_id, now_ms, fx),
            ClassicState::Empty => {}
        }
    }

    fn maybe_prepare_rebalance_or_complete_join(&mut self, group_id: &str, now_ms: i64, fx: &mut Effects) {
        let state = self.groups[group_id].classic.state;
        if matches!(
            state,
            ClassicState::Stable | ClassicState::CompletingRebalance | ClassicState::Empty
        ) {
            self.prepare_rebalance(group_id, now_ms, fx);
        } else {
            self.maybe_complete_join_phase(group_id, now_ms, fx);
        }
    }

    fn maybe_complete_join_phase(&mut self, group_id: &str, now_ms: i64, fx: &mut Effects) {
        let g = &self.groups[group_id].classic;
        if g.state == ClassicState::PreparingRebalance
            && g.has_all_members_joined()
            && g.previous_state != ClassicState::Empty
        {
            self.complete_join(group_id, now_ms, fx);
        }
    }

    pub(crate) fn prepare_rebalance(&mut self, group_id: &str, now_ms: i64, fx: &mut Effects) {
        let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
        if g.state == ClassicState::CompletingRebalance {
            // Members waiting for an assignment of a generation that will not happen: tell
            // them to rejoin.
            for m in g.members_mut() {
                m.assignment = Bytes::new();
                if let Some(r) = m.awaiting_sync.take() {
                    fx.sync_error(r, ErrorCode::RebalanceInProgress);
                }
            }
        }
        g.clear_pending_sync();
        let initial = g.state == ClassicState::Empty;
        let rebalance_timeout_ms = i64::from(g.rebalance_timeout_ms());
        g.transition(ClassicState::PreparingRebalance, now_ms);
        self.timers.cancel(&TimerKey::Sync {
            group: group_id.to_string(),
        });
        tracing::debug!(group = group_id, "preparing to rebalance");
        if initial {
            let delay_ms = self.config.initial_rebalance_delay_ms;
            let remaining_ms = (rebalance_timeout_ms - delay_ms).max(0);
            self.timers.schedule(
                TimerKey::Join {
                    group: group_id.to_string(),
                },
                now_ms + delay_ms,
                TimerAction::InitialJoin { delay_ms, remaining_ms },
            );
        } else if self.groups[group_id].classic.has_all_members_joined() {
            self.complete_join(group_id, now_ms, fx);
        } else {
            self.timers.schedule(
                TimerKey::Join {
                    group: group_id.to_string(),
                },
                now_ms + rebalance_timeout_ms,
                TimerAction::JoinDeadline,
            );
        }
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, starts the next
    /// generation, answers every parked JoinGroup (the leader gets the members' subscriptions)
    /// and waits for SyncGroup.
    fn complete_join(&mut self, group_id: &str, now_ms: i64, fx: &mut Effects) {
        self.timers.cancel(&TimerKey::Join {
            group: group_id.to_string(),
        });
        let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
        if g.state != ClassicState::PreparingRebalance {
            return;
        }
        let dropped: Vec<String> = g
            .not_yet_rejoined()
            .into_iter()
            .filter(|id| g.member(id).is_some_and(|m| m.instance_id.is_none()))
            .collect();
        for id in &dropped {
            g.remove(id);
        }
        for id in &dropped {
            self.cancel_heartbeat(group_id, id);
        }
        let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
        if !g.maybe_elect_new_joined_leader() && !g.is_empty() {
            // Only static members remain and none rejoined: wait another rebalance timeout for
            // their sessions to expire.
            let after = i64::from(g.rebalance_timeout_ms());
            self.timers.schedule(
                TimerKey::Join {
                    group: group_id.to_string(),
                },
                now_ms + after,
                TimerAction::JoinDeadline,
            );
            return;
        }
        g.generation += 1;
        g.clear_pending_sync();
        if g.is_empty() {
            g.protocol_name = None;
            g.transition(ClassicState::Empty, now_ms);
            g.subscribed_topics = g.compute_subscribed_topics();
            tracing::info!(group = group_id, generation = g.generation, "group is now empty");
            fx.records.push(CoordinatorRecord::GroupMetadata {
                group_id: group_id.to_string(),
                value: Some(g.to_record()),
            });
            return;
        }
        g.protocol_name = g.select_protocol();
        g.subscribed_topics = g.compute_subscribed_topics();
        g.transition(ClassicState::CompletingRebalance, now_ms);
        tracing::info!(
            group = group_id,
            generation = g.generation,
            members = g.size(),
            "join phase complete"
        );
        let ids = g.member_ids();
        let mut sessions = Vec::with_capacity(ids.len());
        for id in &ids {
            let is_leader = g.is_leader(id);
            let response = join_response(g, id, is_leader);
            if let Some(reply) = g.take_join(id) {
                fx.join(reply, response);
            }
            let m = g.member_mut(id).expect("member");
            m.is_new = false;
            sessions.push((id.clone(), i64::from(m.session_timeout_ms)));
        }
        g.set_all_pending_sync();
        let generation = g.generation;
        let rebalance_timeout_ms = i64::from(g.rebalance_timeout_ms());
        for (id, session) in sessions {
            self.schedule_heartbeat(group_id, &id, session, now_ms);
        }
        self.timers.schedule(
            TimerKey::Sync {
                group: group_id.to_string(),
            },
            now_ms + rebalance_timeout_ms,
            TimerAction::Sync { generation },
        );
    }

    // ----------------------------------------------------------------------------------------
    // SyncGroup, Heartbeat, LeaveGroup
    // ----------------------------------------------------------------------------------------

    /// Handles SyncGroup; the answer comes back under `reply`.
    pub fn sync(&mut self, now_ms: i64, req: &SyncGroupRequest, reply: ReplyId, topics: &dyn TopicView) -> Effects {
        let mut fx = Effects::default();
        let group_id = req.group_id.as_str();
        let member_id = req.member_id.as_str();
        let Some(group) = self.groups.get_mut(group_id) else {
            fx.sync_error(reply, ErrorCode::UnknownMemberId);
            return fx;
        };
        if group.consumer.is_some() {
            self.classic_sync_to_consumer(now_ms, req, topics, reply, &mut fx);
            return fx;
        }
        let g = &mut group.classic;
        if let Err(code) = validate_member(g, member_id, req.group_instance_id.as_deref()) {
            fx.sync_error(reply, code);
            return fx;
        }
        if req.generation_id != g.generation {
            fx.sync_error(reply, ErrorCode::IllegalGeneration);
            return fx;
        }
        if inconsistent(req.protocol_type.as_deref(), g.protocol_type.as_deref())
            || inconsistent(req.protocol_name.as_deref(), g.protocol_name.as_deref())
        {
            fx.sync_error(reply, ErrorCode::InconsistentGroupProtocol);
            return fx;
        }
        match g.state {
            ClassicState::Empty => fx.sync_error(reply, ErrorCode::UnknownMemberId),
            ClassicState::PreparingRebalance => fx.sync_error(reply, ErrorCode::RebalanceInProgress),
            ClassicState::CompletingRebalance => {
                let m = g.member_mut(member_id).expect("validated");
                if let Some(old) = m.awaiting_sync.replace(reply) {
                    fx.sync_error(old, ErrorCode::RebalanceInProgress);
                }
                g.remove_pending_sync(member_id);
                if g.pending_sync().is_empty() {
                    self.timers.cancel(&TimerKey::Sync {
                        group: group_id.to_string(),
                    });
                }
                let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
                if g.is_leader(member_id) {
                    let mut assignments: HashMap<&str, &Bytes> = HashMap::new();
                    for a in &req.assignments {
                        assignments.insert(a.member_id.as_str(), &a.assignment);
                    }
                    for m in g.members_mut() {
                        m.assignment = assignments
                            .get(m.member_id.as_str())
                            // Copied: a slice would keep the leader's whole request alive.
                            .map(|b| Bytes::copy_from_slice(b))
                            .unwrap_or_default();
                    }
                    g.transition(ClassicState::Stable, now_ms);
                    fx.records.push(CoordinatorRecord::GroupMetadata {
                        group_id: group_id.to_string(),
                        value: Some(g.to_record()),
                    });
                    // Everyone parked in SyncGroup gets its assignment once the record is
                    // durable (the runtime sends replies after the append).
                    let mut synced = Vec::new();
                    for m in g.members_mut() {
                        if let Some(r) = m.awaiting_sync.take() {
                            synced.push((r, m.member_id.clone(), m.assignment.clone()));
                        }
                    }
                    let protocol_type = g.protocol_type.clone();
                    let protocol_name = g.protocol_name.clone();
                    for (r, id, assignment) in synced {
                        fx.sync(
                            r,
                            SyncGroupResponse {
                                protocol_type: protocol_type.clone(),
                                protocol_name: protocol_name.clone(),
                                assignment,
                                ..Default::default()
                            },
                        );
                        self.reschedule_session(group_id, &id, now_ms);
                    }
                }
            }
            ClassicState::Stable => {
                g.remove_pending_sync(member_id);
                let response = SyncGroupResponse {
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol_name.clone(),
                    assignment: g.member(member_id).expect("validated").assignment.clone(),
                    ..Default::default()
                };
                if g.pending_sync().is_empty() {
                    self.timers.cancel(&TimerKey::Sync {
                        group: group_id.to_string(),
                    });
                }
                fx.sync(reply, response);
            }
        }
        fx
    }

    /// Handles Heartbeat: the error code to answer.
    pub fn heartbeat(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        let Some(group) = self.groups.get(group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if group.consumer.is_some() {
            return self.classic_heartbeat_to_consumer(now_ms, group_id, member_id, instance_id, generation_id);
        }
        let g = &group.classic;
        if let Err(code) = validate_member(g, member_id, instance_id) {
            return code;
        }
        if generation_id != g.generation {
            return ErrorCode::IllegalGeneration;
        }
        match g.state {
            ClassicState::Empty => ErrorCode::UnknownMemberId,
            ClassicState::PreparingRebalance => {
                self.reschedule_session(group_id, member_id, now_ms);
                ErrorCode::RebalanceInProgress
            }
            ClassicState::CompletingRebalance | ClassicState::Stable => {
                self.reschedule_session(group_id, member_id, now_ms);
                ErrorCode::None
            }
        }
    }

    /// Handles LeaveGroup for a batch of members (v3+; older versions are a batch of one).
    /// Returns each member's error code, or a group-level error.
    pub fn leave(
        &mut self,
        now_ms: i64,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> (Result<Vec<ErrorCode>, ErrorCode>, Effects) {
        let mut fx = Effects::default();
        let Some(group) = self.groups.get(group_id) else {
            return (Err(ErrorCode::UnknownMemberId), fx);
        };
        if group.consumer.is_some() {
            let codes = self.classic_leave_to_consumer(now_ms, group_id, members, &mut fx);
            return (Ok(codes), fx);
        }
        let mut codes = Vec::with_capacity(members.len());
        let mut any_left = false;
        for (member_id, instance_id) in members {
            let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
            let code = if member_id.is_empty() {
                // Administrative removal of a static member by instance id.
                match instance_id
                    .as_deref()
                    .and_then(|i| g.static_member_id(i))
                    .map(str::to_string)
                {
                    Some(current) => {
                        self.remove_current_member(group_id, &current, &mut fx);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if g.is_pending_member(member_id) {
                g.remove(member_id);
                self.cancel_heartbeat(group_id, member_id);
                ErrorCode::None
            } else {
                match validate_member(g, member_id, instance_id.as_deref()) {
                    Ok(()) => {
                        self.remove_current_member(group_id, member_id, &mut fx);
                        ErrorCode::None
                    }
                    Err(code) => code,
                }
            };
            any_left |= code == ErrorCode::None;
            codes.push(code);
        }
        if any_left {
            match self.groups[group_id].classic.state {
                ClassicState::Stable | ClassicState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(group_id, now_ms, &mut fx)
                }
                ClassicState::PreparingRebalance => self.maybe_complete_join_phase(group_id, now_ms, &mut fx),
                ClassicState::Empty => {}
            }
        }
        (Ok(codes), fx)
    }

    fn remove_current_member(&mut self, group_id: &str, member_id: &str, fx: &mut Effects) {
        self.cancel_heartbeat(group_id, member_id);
        let g = &mut self.groups.get_mut(group_id).expect("exists").classic;
        if let Some(r) = g.take_join(member_id) {
            fx.join_error(r, UNKNOWN_MEMBER_ID, ErrorCode::UnknownMemberId);
        }
        if let Some(m) = g.remove(member_id)
            && let Some(r) = m.awaiting_sync
        {
            fx.sync_error(r, ErrorCode::UnknownMemberId);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Offsets
    // ----------------------------------------------------------------------------------------

    /// Handles OffsetCommit: one error code per offset (in request order), or a group-level
    /// error for all of them.
    pub fn commit_offsets(
        &mut self,
        now_ms: i64,
        version: i16,
        req: &CommitRequest,
    ) -> (Result<Vec<ErrorCode>, ErrorCode>, Effects) {
        let mut fx = Effects::default();
        if req.group_id.is_empty() {
            return (Err(ErrorCode::InvalidGroupId), fx);
        }
        if !self.groups.contains_key(&req.group_id) {
            if req.generation_id < 0 {
                // A commit from outside group management (a simple consumer, an admin tool)
                // creates the group, as Kafka does.
                self.group_or_create(&req.group_id, now_ms);
            } else if version >= 9 {
                return (Err(ErrorCode::GroupIdNotFound), fx);
            } else {
                return (Err(ErrorCode::IllegalGeneration), fx);
            }
        }
        let group = self.groups.get_mut(&req.group_id).expect("exists");
        let valid = match &group.consumer {
            Some(c) => Coordinator::validate_consumer_commit(c, version, &req.member_id, req.generation_id),
            None => validate_offset_commit(&group.classic, req),
        };
        if let Err(code) = valid {
            return (Err(code), fx);
        }
        let expire_timestamp_ms = if req.retention_time_ms >= 0 {
            now_ms.saturating_add(req.retention_time_ms)
        } else {
            -1
        };
        let mut codes = Vec::with_capacity(req.offsets.len());
        for o in &req.offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if metadata.len() > self.config.offset_metadata_max_bytes {
                codes.push(ErrorCode::OffsetMetadataTooLarge);
                continue;
            }
            let value = OffsetValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata,
                commit_timestamp_ms: o.commit_timestamp_ms.unwrap_or(now_ms),
                expire_timestamp_ms,
            };
            group
                .offsets
                .insert((o.topic.clone(), o.partition), Box::new(value.clone()));
            fx.records.push(CoordinatorRecord::OffsetCommit {
                key: OffsetKey {
                    group_id: req.group_id.clone(),
                    topic: o.topic.clone(),
                    partition: o.partition,
                },
                value: Some(value),
            });
            codes.push(ErrorCode::None);
        }
        (Ok(codes), fx)
    }

    /// Handles OffsetFetch for one group: the committed offset of each requested partition
    /// (`None` if none), or of every partition with one when `topics` is `None`.
    pub fn fetch_offsets(&self, group_id: &str, topics: Option<&[(String, Vec<i32>)]>) -> Vec<FetchedTopic> {
        let offsets = self.groups.get(group_id).map(|g| &g.offsets);
        match topics {
            Some(topics) => topics
                .iter()
                .map(|(topic, partitions)| {
                    // The topic's offsets in one range scan: keys are (topic, partition), so a
                    // lookup per partition would build an owned key (a topic copy) each time.
                    let committed: BTreeMap<i32, &OffsetValue> = offsets
                        .map(|o| {
                            o.range((topic.clone(), i32::MIN)..=(topic.clone(), i32::MAX))
                                .map(|((_, p), v)| (*p, &**v))
                                .collect()
                        })
                        .unwrap_or_default();
                    let parts = partitions
                        .iter()
                        .map(|p| (*p, committed.get(p).map(|v| (*v).clone())))
                        .collect();
                    (topic.clone(), parts)
                })
                .collect(),
            None => {
                let mut out: Vec<FetchedTopic> = Vec::new();
                for ((topic, partition), v) in offsets.into_iter().flatten() {
                    match out.last_mut() {
                        Some((t, parts)) if t == topic => parts.push((*partition, Some((**v).clone()))),
                        _ => out.push((topic.clone(), vec![(*partition, Some((**v).clone()))])),
                    }
                }
                out
            }
        }
    }

    /// Handles OffsetDelete: per-partition codes, or a group-level error.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> (Result<Vec<TopicCodes>, ErrorCode>, Effects) {
        let mut fx = Effects::default();
        let Some(group) = self.groups.get_mut(group_id) else {
            return (Err(ErrorCode::GroupIdNotFound), fx);
        };
        let g = &group.classic;
        if group.consumer.is_none()
            && g.state != ClassicState::Empty
            && g.protocol_type.as_deref() != Some(crate::CONSUMER_PROTOCOL_TYPE)
        {
            return (Err(ErrorCode::NonEmptyGroup), fx);
        }
        let mut out = Vec::with_capacity(topics.len());
        for (topic, partitions) in topics {
            let subscribed = match &group.consumer {
                Some(c) => c.is_subscribed_to(topic),
                None => g.state != ClassicState::Empty && g.is_subscribed_to(topic),
            };
            if subscribed {
                out.push((
                    topic.clone(),
                    partitions
                        .iter()
                        .map(|p| (*p, ErrorCode::GroupSubscribedToTopic))
                        .collect(),
                ));
                continue;
            }
            let mut codes = Vec::with_capacity(partitions.len());
            for p in partitions {
                if group.offsets.remove(&(topic.clone(), *p)).is_some() {
                    fx.records.push(CoordinatorRecord::OffsetCommit {
                        key: OffsetKey {
                            group_id: group_id.to_string(),
                            topic: topic.clone(),
                            partition: *p,
                        },
                        value: None,
                    });
                }
                codes.push((*p, ErrorCode::None));
            }
            out.push((topic.clone(), codes));
        }
        (Ok(out), fx)
    }

    /// Expires offsets past `offsets.retention.minutes` (Kafka's rules: an Empty group's offsets
    /// count from when it became empty, a standalone committer's from each commit), then
    /// deletes groups left empty with no offsets.
    pub fn expire_offsets(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let retention_ms = self.config.offsets_retention_ms;
        let mut dead_groups = Vec::new();
        let mut ids: Vec<&String> = self.groups.keys().collect();
        ids.sort();
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for id in ids {
            let group = self.groups.get_mut(&id).expect("listed");
            let g = &group.classic;
            let consumer = group.consumer.as_ref();
            let base: Option<ExpiryBase> = match (&g.protocol_type, g.state) {
                // A consumer group's offsets expire by commit time, unless still subscribed.
                _ if consumer.is_some() => Some(Box::new(|v: &OffsetValue| v.commit_timestamp_ms)),
                (Some(_), ClassicState::Empty) => {
                    let since = g.state_timestamp_ms;
                    Some(Box::new(move |v: &OffsetValue| since.unwrap_or(v.commit_timestamp_ms)))
                }
                (Some(_), _) => None,
                (None, _) => Some(Box::new(|v: &OffsetValue| v.commit_timestamp_ms)),
            };
            if let Some(base) = base {
                let expired: Vec<(String, i32)> = group
                    .offsets
                    .iter()
                    .filter(|((topic, _), _)| consumer.is_none_or(|c| !c.is_subscribed_to(topic)))
                    .filter(|(_, v)| {
                        if v.expire_timestamp_ms >= 0 {
                            now_ms >= v.expire_timestamp_ms
                        } else {
                            now_ms.saturating_sub(base(v)) >= retention_ms
                        }
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for (topic, partition) in expired {
                    group.offsets.remove(&(topic.clone(), partition));
                    fx.records.push(CoordinatorRecord::OffsetCommit {
                        key: OffsetKey {
                            group_id: id.clone(),
                            topic,
                            partition,
                        },
                        value: None,
                    });
                }
            }
            let empty = match &group.consumer {
                Some(c) => c.members.is_empty(),
                None => group.classic.state == ClassicState::Empty,
            };
            if empty && group.offsets.is_empty() {
                dead_groups.push(id);
            }
        }
        for id in dead_groups {
            let group = self.groups.remove(&id).expect("listed");
            match &group.consumer {
                Some(c) => crate::consumer::group_tombstones(&id, c, &mut fx),
                None => fx.records.push(CoordinatorRecord::GroupMetadata {
                    group_id: id,
                    value: None,
                }),
            }
        }
        fx
    }

    // ----------------------------------------------------------------------------------------
    // Administration
    // ----------------------------------------------------------------------------------------

    /// Handles ListGroups: groups matching the (case-insensitive) state and type filters; empty
    /// filters match everything.
    pub fn list_groups(&self, states: &[String], types: &[String]) -> Vec<ListedGroup> {
        let states: Vec<String> = states.iter().map(|s| s.to_lowercase()).collect();
        let types: Vec<String> = types.iter().map(|s| s.to_lowercase()).collect();
        let mut out: Vec<ListedGroup> = self
            .groups
            .iter()
            .map(|(id, g)| match &g.consumer {
                Some(c) => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: crate::CONSUMER_PROTOCOL_TYPE.to_string(),
                    group_state: crate::consumer::state_name(c).to_string(),
                    group_type: "consumer".to_string(),
                    ..Default::default()
                },
                None => ListedGroup {
                    group_id: id.clone(),
                    protocol_type: g.classic.protocol_type.clone().unwrap_or_default(),
                    group_state: g.classic.state.name().to_string(),
                    group_type: "classic".to_string(),
                    ..Default::default()
                },
            })
            .filter(|g| states.is_empty() || states.contains(&g.group_state.to_lowercase()))
            .filter(|g| types.is_empty() || types.contains(&g.group_type))
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// Handles DescribeGroups for one group. Unknown groups are described as `Dead`, with
    /// GROUP_ID_NOT_FOUND from version 6 on (before it, Kafka answered no error).
    pub fn describe_group(&self, group_id: &str, version: i16) -> DescribedGroup {
        let Some(group) = self.groups.get(group_id) else {
            return DescribedGroup {
                error_code: if version >= 6 {
                    ErrorCode::GroupIdNotFound.code()
                } else {
                    0
                },
                error_message: (version >= 6).then(|| format!("Group {group_id} not found.")),
                group_id: group_id.to_string(),
                group_state: "Dead".to_string(),
                ..Default::default()
            };
        };
        if group.consumer.is_some() {
            // Kafka 4 (KIP-1043) describes only classic groups here.
            return DescribedGroup {
                error_code: if version >= 6 {
                    ErrorCode::GroupIdNotFound.code()
                } else {
                    0
                },
                error_message: (version >= 6).then(|| format!("Group {group_id} is not a classic group.")),
                group_id: group_id.to_string(),
                group_state: "Dead".to_string(),
                ..Default::default()
            };
        }
        let g = &group.classic;
        let stable = g.state == ClassicState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        DescribedGroup {
            group_id: group_id.to_string(),
            group_state: g.state.name().to_string(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable { protocol.clone() } else { String::new() },
            members: g
                .members_in_order()
                .map(|m| DescribedGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    member_metadata: if stable { m.metadata(&protocol) } else { Bytes::new() },
                    member_assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Handles DeleteGroups for one group: only Empty groups can be deleted; their offsets go
    /// with them.
    pub fn delete_group(&mut self, group_id: &str) -> (ErrorCode, Effects) {
        let mut fx = Effects::default();
        if group_id.is_empty() {
            return (ErrorCode::InvalidGroupId, fx);
        }
        let Some(group) = self.groups.get(group_id) else {
            return (ErrorCode::GroupIdNotFound, fx);
        };
        let empty = match &group.consumer {
            Some(c) => c.members.is_empty(),
            None => group.classic.state == ClassicState::Empty,
        };
        if !empty {
            return (ErrorCode::NonEmptyGroup, fx);
        }
        let group = self.groups.remove(group_id).expect("exists");
        for (topic, partition) in group.offsets.into_keys() {
            fx.records.push(CoordinatorRecord::OffsetCommit {
                key: OffsetKey {
                    group_id: group_id.to_string(),
                    topic,
                    partition,
                },
                value: None,
            });
        }
        match &group.consumer {
            Some(c) => crate::consumer::group_tombstones(group_id, c, &mut fx),
            None => fx.records.push(CoordinatorRecord::GroupMetadata {
                group_id: group_id.to_string(),
                value: None,
            }),
        }
        self.timers.cancel(&TimerKey::Join {
            group: group_id.to_string(),
        });
        self.timers.cancel(&TimerKey::Sync {
            group: group_id.to_string(),
        });
        (ErrorCode::None, fx)
    }

    /// The state name of a group (`Dead` if unknown), for tests and the CLI's checks.
    pub fn group_state(&self, group_id: &str) -> &'static str {
        self.groups
            .get(group_id)
            .map(|g| match &g.consumer {
                Some(c) => crate::consumer::state_name(c),
                None => g.classic.state.name(),
            })
            .unwrap_or("Dead")
    }

    /// Ids of the groups whose records live in `__consumer_offsets` partition `partition`.
    pub fn groups_in_partition(&self, partition: i32, partitions: i32) -> Vec<String> {
        let mut v: Vec<String> = self
            .groups
            .keys()
            .filter(|g| crate::records::partition_for(g, partitions) == partition)
            .cloned()
            .collect();
        v.sort();
        v
    }
}

pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Kafka's `validateMember`: a static member must match its instance's current id; any member
/// must exist.
fn validate_member(g: &ClassicGroup, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
    if let Some(instance) = instance_id {
        match g.static_member_id(instance) {
            None => return Err(ErrorCode::UnknownMemberId),
            Some(current) if current != member_id => return Err(ErrorCode::FencedInstanceId),
            Some(_) => {}
        }
    }
    if !g.has_member(member_id) {
        return Err(ErrorCode::UnknownMemberId);
    }
    Ok(())
}

/// Kafka's classic `validateOffsetCommit` (non-transactional).
fn validate_offset_commit(g: &ClassicGroup, req: &CommitRequest) -> Result<(), ErrorCode> {
    if req.generation_id < 0 && g.state == ClassicState::Empty {
        return Ok(());
    }
    if req.generation_id >= 0 || !req.member_id.is_empty() || req.instance_id.is_some() {
        validate_member(g, &req.member_id, req.instance_id.as_deref())?;
        if req.generation_id != g.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
    } else if g.state != ClassicState::Empty {
        // Commits without member id and generation are only accepted while nobody consumes.
        return Err(ErrorCode::UnknownMemberId);
    }
    if g.state == ClassicState::CompletingRebalance {
        return Err(ErrorCode::RebalanceInProgress);
    }
    Ok(())
}

fn inconsistent(requested: Option<&str>, group: Option<&str>) -> bool {
    matches!((requested, group), (Some(r), Some(g)) if r != g)
}

/// The join response for `member_id` in the current generation.
fn join_response(g: &ClassicGroup, member_id: &str, with_members: bool) -> JoinGroupResponse {
    let protocol = g.protocol_name.clone();
    JoinGroupResponse {
        error_code: 0,
        generation_id: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol_name: protocol.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        members: if with_members {
            g.members_in_order()
                .map(|m| JoinGroupResponseMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: protocol.as_deref().map(|p| m.metadata(p)).unwrap_or_default(),
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

fn empty_group_value(g: &ClassicGroup) -> GroupMetadataValue {
    let mut v = g.to_record();
    v.members.clear();
    v
}

//! Online migration between the classic and the consumer (KIP-848) protocol, as Kafka 4 does
//! it under `group.consumer.migration.policy`.
//!
//! - Upgrade: a ConsumerGroupHeartbeat member joining a live classic group of the consumer
//!   protocol type converts it to a consumer group. The classic members stay, as members that
//!   speak the classic protocol: each keeps its assignment (its member epoch is the classic
//!   generation) until the server assignor moves partitions away from it.
//! - Classic members of a consumer group are served by the consumer group: JoinGroup updates
//!   the member and reconciles it with its target assignment (answered at once, with the member
//!   epoch as generation and no member list, so the client never runs its own assignor),
//!   SyncGroup returns the member's partitions as the consumer protocol's assignment bytes, and
//!   Heartbeat answers REBALANCE_IN_PROGRESS when the member must rejoin to move on.
//! - Downgrade: when the last consumer-protocol member leaves and every remaining member speaks
//!   the classic protocol, the group becomes a classic group again and rebalances.

use crate::classic::{CONSUMER_PROTOCOL_TYPE, ClassicGroup, ClassicMember, ClassicState, Protocol};
use crate::consumer::{
    ClassicJoin, ConsumerGroup, ConsumerMember, Failure, JOIN_EPOCH, MemberState, STATIC_LEAVE_EPOCH, TopicView, fail,
    metadata_hash, owners_except, remove_member_records,
};
use crate::consumer_protocol::{
    assigned_partitions, encode_assignment, owned_partitions, subscribed_topics, subscription_version,
};
use crate::consumer_records::{
    Assignment, ClassicMemberMetadata, ConsumerRecord, CurrentAssignmentValue, GroupEpochValue, MemberSubscriptionValue,
};
use crate::coordinator::{Client, Coordinator, Effects, ReplyId, TimerAction, TimerKey};
use crate::records::CoordinatorRecord;
use bytes::Bytes;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::{
    ConsumerGroupHeartbeatRequest, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};

/// `group.consumer.migration.policy`: which online conversions of a non-empty group are
/// allowed. Empty groups convert either way whatever the policy, as in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationPolicy {
    /// No online conversion: the other protocol's requests get GROUP_ID_NOT_FOUND.
    Disabled,
    /// Classic to consumer only.
    Upgrade,
    /// Consumer to classic only.
    Downgrade,
    /// Both ways (Kafka 4's default).
    Bidirectional,
}

impl MigrationPolicy {
    /// Kafka's values, compared without regard to case as Kafka's validator does.
    pub fn parse(value: &str) -> Option<MigrationPolicy> {
        match value.to_ascii_lowercase().as_str() {
            "disabled" => Some(MigrationPolicy::Disabled),
            "upgrade" => Some(MigrationPolicy::Upgrade),
            "downgrade" => Some(MigrationPolicy::Downgrade),
            "bidirectional" => Some(MigrationPolicy::Bidirectional),
            _ => None,
        }
    }

    /// The configuration value.
    pub fn name(self) -> &'static str {
        match self {
            MigrationPolicy::Disabled => "disabled",
            MigrationPolicy::Upgrade => "upgrade",
            MigrationPolicy::Downgrade => "downgrade",
            MigrationPolicy::Bidirectional => "bidirectional",
        }
    }

    /// Whether a live classic group may become a consumer group.
    pub fn allows_upgrade(self) -> bool {
        matches!(self, MigrationPolicy::Upgrade | MigrationPolicy::Bidirectional)
    }

    /// Whether a consumer group left with only classic members may become a classic group.
    pub fn allows_downgrade(self) -> bool {
        matches!(self, MigrationPolicy::Downgrade | MigrationPolicy::Bidirectional)
    }
}

/// Partitions by topic name, sorted, as the consumer protocol's assignment lists them. Topics
/// whose names are unknown (deleted) are left out: the member cannot consume them anyway.
fn named(a: &Assignment, name_of: &dyn Fn(&sluice_protocol::Uuid) -> Option<String>) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = a
        .iter()
        .filter_map(|(t, ps)| name_of(t).map(|n| (n, ps.iter().copied().collect())))
        .collect();
    out.sort();
    out
}

/// Partitions by topic id from names; unknown topics and partitions out of range are dropped.
fn by_id(parts: &[(String, Vec<i32>)], topics: &dyn TopicView) -> Assignment {
    let mut a = Assignment::new();
    for (name, ps) in parts {
        if let Some((id, count)) = topics.by_name(name) {
            let set = a.entry(id).or_default();
            set.extend(ps.iter().copied().filter(|p| (0..count).contains(p)));
            if set.is_empty() {
                a.remove(&id);
            }
        }
    }
    a
}

/// The consumer protocol assignment bytes of a classic member, in its subscription's version.
fn member_assignment_bytes(m: &ConsumerMember, name_of: &dyn Fn(&sluice_protocol::Uuid) -> Option<String>) -> Bytes {
    let version = m
        .subscription
        .classic
        .as_ref()
        .and_then(|c| c.supported_protocols.first())
        .and_then(|p| subscription_version(&p.metadata))
        .unwrap_or(0);
    encode_assignment(version, &named(&m.assigned, name_of))
}

/// Kafka's `ConsumerGroup.supportsClassicProtocols`: the consumer protocol type, and a protocol
/// every classic member supports.
fn supports_classic_protocols(c: &ConsumerGroup, protocol_type: &str, protocols: &[Protocol]) -> bool {
    if protocol_type != CONSUMER_PROTOCOL_TYPE || protocols.is_empty() {
        return false;
    }
    let classic: Vec<&ClassicMemberMetadata> = c
        .members
        .values()
        .filter_map(|m| m.subscription.classic.as_ref())
        .collect();
    classic.is_empty()
        || protocols.iter().any(|p| {
            classic
                .iter()
                .all(|c| c.supported_protocols.iter().any(|q| q.name == p.name))
        })
}

/// Kafka's `waitingOnUnreleasedPartition`: some partition of the member's target that it does
/// not have yet is still owned (or being revoked) by another member.
fn waiting_on_unreleased(c: &ConsumerGroup, m: &ConsumerMember) -> bool {
    let Some(target) = c.target.get(&m.member_id) else {
        return false;
    };
    let owners = owners_except(c, &m.member_id);
    target.iter().any(|(t, ps)| {
        ps.iter()
            .any(|p| !m.assigned.get(t).is_some_and(|a| a.contains(p)) && owners.contains(&(*t, *p)))
    })
}

/// Kafka's `validateConsumerGroupMember`: the member by instance id (when given) or member id.
fn find_member<'a>(
    c: &'a ConsumerGroup,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<&'a ConsumerMember, ErrorCode> {
    let m = match instance_id {
        None => c.members.get(member_id),
        Some(instance) => {
            let m = c.static_member(instance);
            if let Some(m) = m
                && m.member_id != member_id
            {
                tracing::debug!(group = group_id, member = member_id, "instance id fenced");
                return Err(ErrorCode::FencedInstanceId);
            }
            m
        }
    };
    m.ok_or(ErrorCode::UnknownMemberId)
}

impl Coordinator {
    /// Converts the live classic group `group_id` into a consumer group whose members speak
    /// the classic protocol (Kafka's `convertToConsumerGroup`), when the policy allows it and
    /// the group qualifies (`validateOnlineUpgrade`). Nothing happens for a group that is not
    /// a non-empty classic group; a group that cannot convert is GROUP_ID_NOT_FOUND, as Kafka
    /// answers.
    pub(crate) fn maybe_upgrade_classic_group(
        &mut self,
        group_id: &str,
        now_ms: i64,
        topics: &dyn TopicView,
        fx: &mut Effects,
    ) -> Result<(), Failure> {
        let Some(group) = self.groups.get(group_id) else {
            return Ok(());
        };
        if group.consumer.is_some() || group.classic.is_empty() {
            return Ok(());
        }
        let g = &group.classic;
        let refuse = |why: &str| -> Result<(), Failure> {
            tracing::info!(group = group_id, why, "classic group not upgraded");
            fail(
                ErrorCode::GroupIdNotFound,
                format!("Group {group_id} is not a consumer group."),
            )
        };
        if !self.config.migration_policy.allows_upgrade() {
            return refuse("group.consumer.migration.policy does not allow upgrades");
        }
        if g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return refuse("the group does not use the consumer protocol type");
        }
        if g.size() > self.config.consumer_max_size {
            return refuse("the group has more members than group.consumer.max.size");
        }
        let malformed = || {
            fail(
                ErrorCode::GroupIdNotFound,
                format!(
                    "Cannot upgrade classic group {group_id} to consumer group because the embedded consumer protocol \
                     is malformed."
                ),
            )
        };
        let epoch = g.generation;
        let mut c = ConsumerGroup {
            group_epoch: epoch,
            assignment_epoch: epoch,
            ..Default::default()
        };
        for m in g.members_in_order() {
            // The selected protocol's metadata; before the first generation there is none yet,
            // and all of a member's protocols carry the same subscription.
            let metadata = match &g.protocol_name {
                Some(p) => m.metadata(p),
                None => m.protocols.first().map(|p| p.metadata.clone()).unwrap_or_default(),
            };
            let Some(mut names) = subscribed_topics(&metadata) else {
                return malformed();
            };
            let Some(assigned) = assigned_partitions(&m.assignment) else {
                return malformed();
            };
            names.sort();
            names.dedup();
            let assigned = by_id(&assigned, topics);
            c.members.insert(
                m.member_id.clone(),
                ConsumerMember {
                    member_id: m.member_id.clone(),
                    subscription: MemberSubscriptionValue {
                        instance_id: m.instance_id.clone(),
                        rack_id: None,
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        subscribed_topic_names: names,
                        subscribed_topic_regex: None,
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        server_assignor: None,
                        classic: Some(ClassicMemberMetadata {
                            session_timeout_ms: m.session_timeout_ms,
                            supported_protocols: m.protocols.clone(),
                        }),
                    },
                    member_epoch: epoch,
                    previous_member_epoch: epoch,
                    state: MemberState::Stable,
                    assigned: assigned.clone(),
                    pending_revocation: Assignment::new(),
                },
            );
            c.target.insert(m.member_id.clone(), assigned);
        }
        let meta = c.subscription_metadata(topics);
        c.metadata_hash = metadata_hash(&meta);
        c.metadata_checked_version = Some(topics.version());
        c.topic_names = meta.iter().map(|(name, (id, _))| (*id, name.clone())).collect();

        // Requests parked in the classic protocol are answered: their members rejoin the
        // consumer group.
        let classic_ids = g.member_ids();
        let group = self.groups.get_mut(group_id).expect("exists");
        for m in group.classic.members_mut() {
            if let Some(r) = m.awaiting_join.take() {
                fx.join_error(r, &m.member_id, ErrorCode::RebalanceInProgress);
            }
            if let Some(r) = m.awaiting_sync.take() {
                fx.sync_error(r, ErrorCode::RebalanceInProgress);
            }
        }
        group.classic = ClassicGroup::new(group_id.to_string(), now_ms);
        for id in &classic_ids {
            self.cancel_heartbeat(group_id, id);
        }
        self.timers.cancel(&TimerKey::Join {
            group: group_id.to_string(),
        });
        self.timers.cancel(&TimerKey::Sync {
            group: group_id.to_string(),
        });

        // The records, in Kafka's order: the classic group goes, then the consumer group with
        // every member's subscription, target and current assignment.
        fx.records.push(CoordinatorRecord::GroupMetadata {
            group_id: group_id.to_string(),
            value: None,
        });
        let rec = |r: ConsumerRecord| CoordinatorRecord::Consumer(r);
        for m in c.members.values() {
            fx.records.push(rec(ConsumerRecord::MemberSubscription {
                group_id: group_id.to_string(),
                member_id: m.member_id.clone(),
                value: Some(m.subscription.clone()),
            }));
        }
        fx.records.push(rec(ConsumerRecord::GroupEpoch {
            group_id: group_id.to_string(),
            value: Some(GroupEpochValue {
                epoch,
                metadata_hash: c.metadata_hash,
            }),
        }));
        for (member_id, a) in &c.target {
            fx.records.push(rec(ConsumerRecord::TargetAssignment {
                group_id: group_id.to_string(),
                member_id: member_id.clone(),
                value: Some(a.clone()),
            }));
        }
        fx.records.push(rec(ConsumerRecord::TargetAssignmentEpoch {
            group_id: group_id.to_string(),
            value: Some(epoch),
        }));
        let mut sessions = Vec::with_capacity(c.members.len());
        for m in c.members.values() {
            fx.records.push(rec(ConsumerRecord::CurrentAssignment {
                group_id: group_id.to_string(),
                member_id: m.member_id.clone(),
                value: Some(CurrentAssignmentValue {
                    member_epoch: m.member_epoch,
                    previous_member_epoch: m.previous_member_epoch,
                    state: m.state.code(),
                    assigned: m.assigned.clone(),
                    pending_revocation: Assignment::new(),
                }),
            }));
            let session_ms = m.subscription.classic.as_ref().map_or(0, |c| c.session_timeout_ms);
            sessions.push((m.member_id.clone(), session_ms));
        }
        tracing::info!(
            group = group_id,
            members = c.members.len(),
            epoch,
            "classic group upgraded to a consumer group"
        );
        self.groups.get_mut(group_id).expect("exists").consumer = Some(c);
        for (member, session_ms) in sessions {
            self.timers.schedule(
                TimerKey::ConsumerSession {
                    group: group_id.to_string(),
                    member,
                },
                now_ms + i64::from(session_ms),
                TimerAction::ConsumerSession,
            );
        }
        Ok(())
    }

    /// JoinGroup against a non-empty consumer group (Kafka's `classicGroupJoinToConsumerGroup`):
    /// the member joins (or rejoins) as a classic-protocol member and is answered at once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn classic_join_to_consumer(
        &mut self,
        now_ms: i64,
        client: Client<'_>,
        version: i16,
        req: &JoinGroupRequest,
        topics: &dyn TopicView,
        reply: ReplyId,
        fx: &mut Effects,
    ) {
        let group_id = req.group_id.as_str();
        let unknown = req.member_id.is_empty();
        let member_id = if unknown {
            self.generate_consumer_member_id()
        } else {
            req.member_id.clone()
        };
        let protocols: Vec<Protocol> = req
            .protocols
            .iter()
            .map(|p| Protocol {
                name: p.name.clone(),
                // Copied: a slice would keep the whole request frame alive with the member.
                metadata: Bytes::copy_from_slice(&p.metadata),
            })
            .collect();
        let c = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .expect("a consumer group");
        let existing = c.members.get(&member_id).map(|m| m.member_epoch);
        if existing.is_none() && c.members.len() >= self.config.consumer_max_size {
            fx.join_error(reply, &req.member_id, ErrorCode::GroupMaxSizeReached);
            return;
        }
        if !supports_classic_protocols(c, &req.protocol_type, &protocols) {
            fx.join_error(reply, &req.member_id, ErrorCode::InconsistentGroupProtocol);
            return;
        }
        if unknown && version >= 4 && req.group_instance_id.is_none() {
            // KIP-394, as for classic groups: the client rejoins with this id. No pending
            // member is kept: a consumer group creates the member when it comes back.
            fx.join_error(reply, &member_id, ErrorCode::MemberIdRequired);
            return;
        }
        // Every protocol carries the same subscription; Kafka reads the first.
        let first = &protocols[0];
        let (Some(names), Some(owned)) = (subscribed_topics(&first.metadata), owned_partitions(&first.metadata)) else {
            // Kafka fails with an IllegalStateException here, which clients see as this.
            fx.join_error(reply, &req.member_id, ErrorCode::UnknownServerError);
            return;
        };
        if unknown && let Some(instance) = req.group_instance_id.as_deref() {
            // A classic static member restarting comes back with its instance id and no member
            // id: it takes over the old member's place (and partitions), as in a classic group.
            // Marked as a static member that left, the old member is replaced by the join below.
            let c = self
                .groups
                .get_mut(group_id)
                .and_then(|g| g.consumer.as_mut())
                .expect("a consumer group");
            let old = c
                .static_member(instance)
                .filter(|m| m.subscription.classic.is_some() && m.member_epoch != STATIC_LEAVE_EPOCH)
                .map(|m| m.member_id.clone());
            if let Some(old) = old {
                let m = c.members.get_mut(&old).expect("found");
                m.member_epoch = STATIC_LEAVE_EPOCH;
                fx.records
                    .push(CoordinatorRecord::Consumer(ConsumerRecord::CurrentAssignment {
                        group_id: group_id.to_string(),
                        member_id: old,
                        value: Some(CurrentAssignmentValue {
                            member_epoch: m.member_epoch,
                            previous_member_epoch: m.previous_member_epoch,
                            state: m.state.code(),
                            assigned: m.assigned.clone(),
                            pending_revocation: m.pending_revocation.clone(),
                        }),
                    }));
            }
        }
        let rebalance_timeout_ms = if req.rebalance_timeout_ms > 0 {
            req.rebalance_timeout_ms
        } else {
            // JoinGroup v0 has no rebalance timeout: the session timeout stands in for it.
            req.session_timeout_ms
        };
        let hb = ConsumerGroupHeartbeatRequest {
            group_id: group_id.to_string(),
            member_id: member_id.clone(),
            member_epoch: existing.unwrap_or(JOIN_EPOCH),
            instance_id: req.group_instance_id.clone(),
            rack_id: None,
            rebalance_timeout_ms,
            subscribed_topic_names: Some(names),
            subscribed_topic_regex: None,
            server_assignor: None,
            topic_partitions: None,
            ..Default::default()
        };
        let classic = ClassicJoin {
            metadata: ClassicMemberMetadata {
                session_timeout_ms: req.session_timeout_ms,
                supported_protocols: protocols.clone(),
            },
            owned: by_id(&owned, topics),
        };
        match self.consumer_join_or_heartbeat(now_ms, client, &hb, topics, Some(classic), fx) {
            Ok(r) => {
                // The member must follow up with SyncGroup within its rebalance timeout.
                self.timers.schedule(
                    TimerKey::ClassicSync {
                        group: group_id.to_string(),
                        member: member_id.clone(),
                    },
                    now_ms + i64::from(rebalance_timeout_ms.max(0)),
                    TimerAction::ClassicSync,
                );
                fx.join(
                    reply,
                    JoinGroupResponse {
                        member_id: member_id.clone(),
                        generation_id: r.member_epoch,
                        protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
                        protocol_name: Some(first.name.clone()),
                        // No leader and no member list: the coordinator assigns, not the client.
                        leader: String::new(),
                        ..Default::default()
                    },
                )
            }
            Err((code, message)) => {
                tracing::debug!(
                    group = group_id,
                    member = member_id,
                    ?code,
                    message,
                    "JoinGroup refused"
                );
                fx.join_error(reply, &req.member_id, code);
            }
        }
    }

    /// SyncGroup of a classic member of a consumer group (Kafka's
    /// `classicGroupSyncToConsumerGroup`): its partitions, as consumer protocol assignment bytes.
    pub(crate) fn classic_sync_to_consumer(
        &mut self,
        now_ms: i64,
        req: &SyncGroupRequest,
        topics: &dyn TopicView,
        reply: ReplyId,
        fx: &mut Effects,
    ) {
        let group_id = req.group_id.as_str();
        let c = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .expect("a consumer group");
        let m = match find_member(c, group_id, &req.member_id, req.group_instance_id.as_deref()) {
            Ok(m) => m,
            Err(code) => return fx.sync_error(reply, code),
        };
        let Some(classic) = &m.subscription.classic else {
            return fx.sync_error(reply, ErrorCode::UnknownMemberId);
        };
        if req.generation_id != m.member_epoch {
            return fx.sync_error(reply, ErrorCode::IllegalGeneration);
        }
        let first = classic.supported_protocols.first().map(|p| p.name.as_str());
        if req
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
            || req.protocol_name.as_deref().is_some_and(|n| Some(n) != first)
        {
            return fx.sync_error(reply, ErrorCode::InconsistentGroupProtocol);
        }
        if m.state == MemberState::UnreleasedPartitions && !waiting_on_unreleased(c, m) {
            // Everything it waited for is free: a rejoin gets it all.
            return fx.sync_error(reply, ErrorCode::RebalanceInProgress);
        }
        // A member still revoking gets what it keeps, so a cooperative client revokes the rest
        // and rejoins (its heartbeat says so); eager clients never get here revoking, since they
        // rejoin owning nothing.
        let assignment = member_assignment_bytes(m, &|t| topics.name_of(t).or_else(|| c.topic_names.get(t).cloned()));
        let session_ms = classic.session_timeout_ms;
        let member_id = m.member_id.clone();
        self.timers.cancel(&TimerKey::ClassicSync {
            group: group_id.to_string(),
            member: member_id.clone(),
        });
        self.timers.schedule(
            TimerKey::ConsumerSession {
                group: group_id.to_string(),
                member: member_id,
            },
            now_ms + i64::from(session_ms),
            TimerAction::ConsumerSession,
        );
        fx.sync(
            reply,
            SyncGroupResponse {
                protocol_type: req.protocol_type.clone(),
                protocol_name: req.protocol_name.clone(),
                assignment,
                ..Default::default()
            },
        );
    }

    /// Heartbeat of a classic member of a consumer group (Kafka's
    /// `classicGroupHeartbeatToConsumerGroup`): REBALANCE_IN_PROGRESS when the member must
    /// rejoin: the group moved to a new epoch, it must revoke partitions, or what it waited for
    /// has been released.
    pub(crate) fn classic_heartbeat_to_consumer(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        let c = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .expect("a consumer group");
        let m = match find_member(c, group_id, member_id, instance_id) {
            Ok(m) => m,
            Err(code) => return code,
        };
        let Some(classic) = &m.subscription.classic else {
            return ErrorCode::UnknownMemberId;
        };
        if generation_id != m.member_epoch {
            return ErrorCode::IllegalGeneration;
        }
        let rejoin = m.member_epoch < c.group_epoch
            || m.state == MemberState::UnrevokedPartitions
            || (m.state == MemberState::UnreleasedPartitions && !waiting_on_unreleased(c, m));
        let session_ms = classic.session_timeout_ms;
        let rebalance_ms = m.subscription.rebalance_timeout_ms.max(0);
        let epoch = m.member_epoch;
        let member_id = m.member_id.clone();
        self.timers.schedule(
            TimerKey::ConsumerSession {
                group: group_id.to_string(),
                member: member_id.clone(),
            },
            now_ms + i64::from(session_ms),
            TimerAction::ConsumerSession,
        );
        if !rejoin {
            return ErrorCode::None;
        }
        // The member must rejoin within its rebalance timeout (Kafka's join timeout).
        let key = TimerKey::ConsumerRebalance {
            group: group_id.to_string(),
            member: member_id,
        };
        if !self.timers.contains(&key) {
            self.timers.schedule(
                key,
                now_ms + i64::from(rebalance_ms),
                TimerAction::ClassicJoin { epoch },
            );
        }
        ErrorCode::RebalanceInProgress
    }

    /// LeaveGroup against a consumer group (Kafka's `classicGroupLeaveToConsumerGroup`): each
    /// member found is removed; the group may downgrade if only classic members remain.
    pub(crate) fn classic_leave_to_consumer(
        &mut self,
        now_ms: i64,
        group_id: &str,
        members: &[(String, Option<String>)],
        fx: &mut Effects,
    ) -> Vec<ErrorCode> {
        let mut codes = Vec::with_capacity(members.len());
        let mut leaving = Vec::new();
        {
            let c = self
                .groups
                .get(group_id)
                .and_then(|g| g.consumer.as_ref())
                .expect("a consumer group");
            for (member_id, instance_id) in members {
                let found = match instance_id.as_deref() {
                    // An empty member id with an instance id is an administrative removal.
                    Some(i) if member_id.is_empty() => c.static_member(i).ok_or(ErrorCode::UnknownMemberId),
                    i => find_member(c, group_id, member_id, i),
                };
                match found {
                    Ok(m) => {
                        if !leaving.contains(&m.member_id) {
                            leaving.push(m.member_id.clone());
                        }
                        codes.push(ErrorCode::None);
                    }
                    Err(code) => codes.push(code),
                }
            }
        }
        if leaving.is_empty() {
            return codes;
        }
        if self.online_downgrade_allowed(group_id, &leaving) {
            for id in &leaving {
                self.detach_consumer_member(group_id, id, fx);
            }
            self.convert_to_classic(group_id, now_ms, fx);
        } else {
            for id in &leaving {
                self.fence_consumer_member(group_id, id, fx);
            }
        }
        codes
    }

    /// Removes a consumer group member that left or failed: the group converts back to a
    /// classic group when that leaves only classic members (and the policy allows it), else it
    /// moves on to a new epoch.
    pub(crate) fn remove_consumer_member(&mut self, group_id: &str, member_id: &str, now_ms: i64, fx: &mut Effects) {
        if self.online_downgrade_allowed(group_id, &[member_id.to_string()]) {
            self.detach_consumer_member(group_id, member_id, fx);
            self.convert_to_classic(group_id, now_ms, fx);
        } else {
            self.fence_consumer_member(group_id, member_id, fx);
        }
    }

    /// A classic member told to rejoin did not within its rebalance timeout.
    pub(crate) fn classic_join_expired(
        &mut self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let stuck = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .and_then(|c| c.members.get(member_id))
            .is_some_and(|m| m.member_epoch == epoch && m.subscription.classic.is_some());
        if stuck {
            tracing::info!(
                group = group_id,
                member = member_id,
                "classic member did not rejoin the consumer group in time"
            );
            self.remove_consumer_member(group_id, member_id, now_ms, fx);
        }
    }

    /// A classic member did not send SyncGroup within its rebalance timeout after joining.
    pub(crate) fn classic_sync_expired(&mut self, group_id: &str, member_id: &str, now_ms: i64, fx: &mut Effects) {
        let known = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .is_some_and(|c| c.members.contains_key(member_id));
        if known {
            tracing::info!(
                group = group_id,
                member = member_id,
                "classic member did not send SyncGroup in time"
            );
            self.remove_consumer_member(group_id, member_id, now_ms, fx);
        }
    }

    /// Kafka's `validateOnlineDowngrade`: the policy allows it, a consumer-protocol member is
    /// among those leaving, and the members that stay all speak the classic protocol and fit a
    /// classic group.
    fn online_downgrade_allowed(&self, group_id: &str, leaving: &[String]) -> bool {
        if !self.config.migration_policy.allows_downgrade() {
            return false;
        }
        let Some(c) = self.groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
            return false;
        };
        let is_leaving = |id: &str| leaving.iter().any(|l| l == id);
        let consumer_leaves = c
            .members
            .values()
            .any(|m| is_leaving(&m.member_id) && m.subscription.classic.is_none());
        let staying: Vec<&ConsumerMember> = c.members.values().filter(|m| !is_leaving(&m.member_id)).collect();
        consumer_leaves
            && !staying.is_empty()
            && staying.iter().all(|m| m.subscription.classic.is_some())
            && staying.len() <= self.config.max_size
    }

    /// Drops a member from a consumer group about to be converted: its records go, with no new
    /// epoch (the conversion starts a rebalance instead).
    fn detach_consumer_member(&mut self, group_id: &str, member_id: &str, fx: &mut Effects) {
        let Some(c) = self.groups.get_mut(group_id).and_then(|g| g.consumer.as_mut()) else {
            return;
        };
        if c.members.remove(member_id).is_none() {
            return;
        }
        c.target.remove(member_id);
        remove_member_records(group_id, member_id, fx);
        self.cancel_consumer_timers(group_id, member_id);
    }

    fn cancel_consumer_timers(&mut self, group_id: &str, member_id: &str) {
        self.timers.cancel(&TimerKey::ConsumerSession {
            group: group_id.to_string(),
            member: member_id.to_string(),
        });
        self.timers.cancel(&TimerKey::ConsumerRebalance {
            group: group_id.to_string(),
            member: member_id.to_string(),
        });
        self.timers.cancel(&TimerKey::ClassicSync {
            group: group_id.to_string(),
            member: member_id.to_string(),
        });
    }

    /// Kafka's `convertToClassicGroup`: the consumer group (all of whose members speak the
    /// classic protocol) becomes a classic group of generation = group epoch, each member with
    /// its protocols and current partitions, and a rebalance starts so the members' own
    /// assignor takes over.
    fn convert_to_classic(&mut self, group_id: &str, now_ms: i64, fx: &mut Effects) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(c) = group.consumer.take() else {
            return;
        };
        crate::consumer::group_tombstones(group_id, &c, fx);
        let mut g = ClassicGroup::new(group_id.to_string(), now_ms);
        g.generation = c.group_epoch;
        g.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_string());
        let mut sessions = Vec::with_capacity(c.members.len());
        for m in c.members.values() {
            let Some(classic) = &m.subscription.classic else {
                continue;
            };
            let assignment = member_assignment_bytes(m, &|t| c.topic_names.get(t).cloned());
            g.add(ClassicMember {
                member_id: m.member_id.clone(),
                instance_id: m.subscription.instance_id.clone(),
                client_id: m.subscription.client_id.clone(),
                client_host: m.subscription.client_host.clone(),
                rebalance_timeout_ms: m.subscription.rebalance_timeout_ms,
                session_timeout_ms: classic.session_timeout_ms,
                protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
                protocols: classic.supported_protocols.clone(),
                assignment,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                join_seq: 0,
            });
            sessions.push((m.member_id.clone(), i64::from(classic.session_timeout_ms)));
        }
        g.protocol_name = g.select_protocol();
        g.subscribed_topics = g.compute_subscribed_topics();
        g.transition(ClassicState::Stable, now_ms);
        fx.records.push(CoordinatorRecord::GroupMetadata {
            group_id: group_id.to_string(),
            value: Some(g.to_record()),
        });
        tracing::info!(
            group = group_id,
            members = g.size(),
            generation = g.generation,
            "consumer group downgraded to a classic group"
        );
        group.classic = g;
        for (id, _) in &sessions {
            self.cancel_consumer_timers(group_id, id);
        }
        for (id, session_ms) in sessions {
            self.schedule_heartbeat(group_id, &id, session_ms, now_ms);
        }
        self.prepare_rebalance(group_id, now_ms, fx);
    }

    /// A consumer group's member id for a classic member (Kafka uses a random UUID).
    fn generate_consumer_member_id(&mut self) -> String {
        let a = crate::coordinator::splitmix64(&mut self.id_state);
        let b = crate::coordinator::splitmix64(&mut self.id_state);
        crate::consumer::base64_id(a, b)
    }
}

//! A classic group (the JoinGroup/SyncGroup protocol): its members and its rebalance state.
//!
//! This module holds the data and the bookkeeping that must stay consistent (protocol vote
//! counts, the number of members parked in JoinGroup, the static-member index, the leader). The
//! decisions, when to rebalance, what to answer, what to persist, live in
//! [`crate::coordinator`], which is the only code that changes a group.

use crate::ReplyId;
use crate::records::{GroupMetadataValue, MemberMetadata};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The protocol type of Kafka consumers; its subscription format is known to the coordinator.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A classic group's state, named as Kafka names them on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassicState {
    /// No members; offsets may still be committed (simple consumers, admin tools).
    Empty,
    /// Members are (re)joining; JoinGroup requests are parked until the join phase completes.
    PreparingRebalance,
    /// The join phase completed; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl ClassicState {
    /// The state's name in ListGroups and DescribeGroups.
    pub fn name(self) -> &'static str {
        match self {
            ClassicState::Empty => "Empty",
            ClassicState::PreparingRebalance => "PreparingRebalance",
            ClassicState::CompletingRebalance => "CompletingRebalance",
            ClassicState::Stable => "Stable",
        }
    }
}

/// One protocol (assignor) a member supports, with its metadata (the subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// The assignor name, e.g. `range`, `cooperative-sticky`.
    pub name: String,
    /// The member's metadata for this protocol.
    pub metadata: Bytes,
}

/// A member of a classic group.
#[derive(Debug, Clone)]
pub struct ClassicMember {
    /// The id the coordinator gave the member.
    pub member_id: String,
    /// The static instance id (KIP-345), if any.
    pub instance_id: Option<String>,
    /// The client id of the request that added the member (DescribeGroups shows it).
    pub client_id: String,
    /// The client's address (DescribeGroups shows it).
    pub client_host: String,
    /// How long the member may take to rejoin when a rebalance starts.
    pub rebalance_timeout_ms: i32,
    /// How long the member may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// The protocol type the member joined with.
    pub protocol_type: String,
    /// Supported protocols in the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// The assignment from the last completed SyncGroup; empty before the first.
    pub assignment: Bytes,
    /// The parked JoinGroup request, answered when the join phase completes.
    pub awaiting_join: Option<ReplyId>,
    /// The parked SyncGroup request, answered when the leader's assignment is stored.
    pub awaiting_sync: Option<ReplyId>,
    /// Joined during the current rebalance and not yet given a join response: such a member
    /// cannot heartbeat yet, so its expiry is the new-member join timeout, not its session.
    pub is_new: bool,
    /// Order of arrival, so iteration (and the choice of a new leader) is deterministic.
    pub join_seq: u64,
}

impl ClassicMember {
    /// The metadata for `protocol`, empty if the member does not support it.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// The member's vote: its most preferred protocol among `candidates`.
    fn vote<'a>(&'a self, candidates: &BTreeSet<&str>) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Whether a rejoin carries exactly the protocols the member already has.
    pub fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// Whether an expired heartbeat deadline should leave the member alone: a member parked in
    /// JoinGroup or SyncGroup is waiting on the coordinator, not failing to heartbeat.
    pub fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }
}

/// A classic group.
#[derive(Debug)]
pub struct ClassicGroup {
    /// The group id.
    pub id: String,
    /// Current state.
    pub state: ClassicState,
    /// The state before the current one: the initial rebalance (from Empty) waits for the
    /// initial delay instead of completing as soon as everyone has joined.
    pub previous_state: ClassicState,
    /// When the group entered `state` (ms): offsets of an Empty group expire relative to it.
    pub state_timestamp_ms: Option<i64>,
    /// The generation; bumped by every completed join phase.
    pub generation: i32,
    /// The protocol type of the members (set by the first member of an empty group).
    pub protocol_type: Option<String>,
    /// The protocol selected for the current generation.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Members by id. Boxed: a B-tree node holds room for eleven entries, and most groups
    /// have a member or two; unboxed, the empty slots cost 3 KiB per group.
    members: BTreeMap<String, Box<ClassicMember>>,
    /// Static members: instance id to current member id.
    static_members: HashMap<String, String>,
    /// Members that were given an id (MEMBER_ID_REQUIRED) and have not rejoined with it yet.
    pending_join: BTreeSet<String>,
    /// Members that got a join response this generation and have not sent SyncGroup yet.
    pending_sync: BTreeSet<String>,
    /// For each protocol name, how many members support it (a protocol every member supports
    /// can be selected).
    supported_protocols: HashMap<String, usize>,
    /// Members with a parked JoinGroup.
    awaiting_join_count: usize,
    /// A member joined during the initial delay, which extends the delay once more.
    pub new_member_added: bool,
    /// Topics the members subscribe to (consumer protocol only), when known.
    pub subscribed_topics: Option<BTreeSet<String>>,
    /// Arrival counter for members.
    next_join_seq: u64,
}

impl ClassicGroup {
    /// A new, empty group.
    pub fn new(id: String, now_ms: i64) -> ClassicGroup {
        ClassicGroup {
            id,
            state: ClassicState::Empty,
            previous_state: ClassicState::Empty,
            state_timestamp_ms: Some(now_ms),
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_join: BTreeSet::new(),
            pending_sync: BTreeSet::new(),
            supported_protocols: HashMap::new(),
            awaiting_join_count: 0,
            new_member_added: false,
            subscribed_topics: None,
            next_join_seq: 0,
        }
    }

    /// Rebuilds a group from its persisted metadata: Stable with its members, or Empty.
    pub fn from_record(id: String, value: &GroupMetadataValue) -> ClassicGroup {
        let mut group = ClassicGroup::new(id, value.current_state_timestamp_ms);
        group.state_timestamp_ms = (value.current_state_timestamp_ms >= 0).then_some(value.current_state_timestamp_ms);
        group.generation = value.generation;
        group.protocol_type = (!value.protocol_type.is_empty()).then(|| value.protocol_type.clone());
        group.protocol_name = value.protocol.clone();
        for m in &value.members {
            let protocols = vec![Protocol {
                name: value.protocol.clone().unwrap_or_default(),
                metadata: m.subscription.clone(),
            }];
            group.add(ClassicMember {
                member_id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocol_type: value.protocol_type.clone(),
                protocols,
                assignment: m.assignment.clone(),
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                join_seq: 0,
            });
        }
        group.leader = value.leader.clone().filter(|l| group.members.contains_key(l));
        if !group.members.is_empty() {
            group.state = ClassicState::Stable;
        }
        group.subscribed_topics = group.compute_subscribed_topics();
        group
    }

    /// The group as a metadata record value, with each member's current assignment.
    pub fn to_record(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.clone();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms.unwrap_or(-1),
            members: self
                .members_in_order()
                .map(|m| MemberMetadata {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: protocol.as_deref().map(|p| m.metadata(p)).unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Moves to `state`, remembering the previous one and when it happened.
    pub fn transition(&mut self, state: ClassicState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    /// Number of members.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A member by id.
    pub fn member(&self, member_id: &str) -> Option<&ClassicMember> {
        self.members.get(member_id).map(|m| &**m)
    }

    /// A member by id, mutably. Callers must not change the fields the group counts (protocols,
    /// awaiting_join, instance_id); use [`ClassicGroup::update_member`] and the join helpers.
    pub fn member_mut(&mut self, member_id: &str) -> Option<&mut ClassicMember> {
        self.members.get_mut(member_id).map(|m| &mut **m)
    }

    /// Whether `member_id` is a member.
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// Members in arrival order.
    pub fn members_in_order(&self) -> impl Iterator<Item = &ClassicMember> {
        let mut v: Vec<&ClassicMember> = self.members.values().map(|m| &**m).collect();
        // `add` gives every member a distinct sequence number, so it alone orders them.
        v.sort_by_key(|m| m.join_seq);
        v.into_iter()
    }

    /// Ids of all members in arrival order.
    pub fn member_ids(&self) -> Vec<String> {
        self.members_in_order().map(|m| m.member_id.clone()).collect()
    }

    /// Whether `member_id` leads the group.
    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// The current member id of a static instance.
    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    /// Whether `member_id` was handed out by MEMBER_ID_REQUIRED and has not joined yet.
    pub fn is_pending_member(&self, member_id: &str) -> bool {
        self.pending_join.contains(member_id)
    }

    /// Number of member ids handed out by MEMBER_ID_REQUIRED and not used yet.
    pub fn pending_member_count(&self) -> usize {
        self.pending_join.len()
    }

    /// Records a member id handed out by MEMBER_ID_REQUIRED.
    pub fn add_pending_member(&mut self, member_id: String) {
        debug_assert!(!self.members.contains_key(&member_id));
        self.pending_join.insert(member_id);
    }

    /// Number of members parked in JoinGroup.
    pub fn awaiting_join_count(&self) -> usize {
        self.awaiting_join_count
    }

    /// Kafka's rule: the join phase may complete once every member is parked in JoinGroup and
    /// nobody holds an id from MEMBER_ID_REQUIRED without having used it.
    pub fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count && self.pending_join.is_empty()
    }

    /// Adds a member (parked in JoinGroup when `member.awaiting_join` is set).
    pub fn add(&mut self, mut member: ClassicMember) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        self.pending_join.remove(&member.member_id);
        self.next_join_seq += 1;
        member.join_seq = self.next_join_seq;
        for p in &member.protocols {
            *self.supported_protocols.entry(p.name.clone()).or_default() += 1;
        }
        if self.leader.is_none() {
            self.leader = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.instance_id {
            self.static_members.insert(instance.clone(), member.member_id.clone());
        }
        if member.awaiting_join.is_some() {
            self.awaiting_join_count += 1;
        }
        self.members.insert(member.member_id.clone(), Box::new(member));
    }

    /// Removes a member (or a pending member id), returning it with any parked requests so the
    /// caller can answer them. A removed leader is replaced by the longest-standing member.
    pub fn remove(&mut self, member_id: &str) -> Option<ClassicMember> {
        let removed = self.members.remove(member_id);
        if let Some(m) = &removed {
            for p in &m.protocols {
                if let Some(n) = self.supported_protocols.get_mut(&p.name) {
                    *n = n.saturating_sub(1);
                }
            }
            if m.awaiting_join.is_some() {
                self.awaiting_join_count -= 1;
            }
            if let Some(instance) = &m.instance_id {
                self.static_members.remove(instance);
            }
        }
        if self.is_leader(member_id) {
            let next = self.members_in_order().next().map(|m| m.member_id.clone());
            self.leader = next;
        }
        self.pending_join.remove(member_id);
        self.pending_sync.remove(member_id);
        removed.map(|m| *m)
    }

    /// Replaces a member's protocols and timeouts, and parks (or unparks) its JoinGroup.
    pub fn update_member(
        &mut self,
        member_id: &str,
        protocols: Vec<Protocol>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        awaiting_join: Option<ReplyId>,
    ) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        for p in &m.protocols {
            if let Some(n) = self.supported_protocols.get_mut(&p.name) {
                *n = n.saturating_sub(1);
            }
        }
        for p in &protocols {
            *self.supported_protocols.entry(p.name.clone()).or_default() += 1;
        }
        m.protocols = protocols;
        m.rebalance_timeout_ms = rebalance_timeout_ms;
        m.session_timeout_ms = session_timeout_ms;
        match (m.awaiting_join.is_some(), awaiting_join.is_some()) {
            (false, true) => self.awaiting_join_count += 1,
            (true, false) => self.awaiting_join_count -= 1,
            _ => {}
        }
        m.awaiting_join = awaiting_join;
    }

    /// Takes a member's parked JoinGroup, if any, so the caller can answer it.
    pub fn take_join(&mut self, member_id: &str) -> Option<ReplyId> {
        let m = self.members.get_mut(member_id)?;
        let reply = m.awaiting_join.take()?;
        self.awaiting_join_count -= 1;
        Some(reply)
    }

    /// Gives a static instance a new member id, keeping the member's subscription and
    /// assignment. Returns the old member, whose parked requests the caller fences.
    pub fn replace_static_member(&mut self, instance_id: &str, old_id: &str, new_id: &str) -> Option<ClassicMember> {
        let was_leader = self.is_leader(old_id);
        let mut old = self.members.remove(old_id)?;
        if old.awaiting_join.is_some() {
            self.awaiting_join_count -= 1;
        }
        let mut new = old.clone();
        new.member_id = new_id.to_string();
        new.awaiting_join = None;
        new.awaiting_sync = None;
        self.members.insert(new_id.to_string(), new);
        if was_leader {
            self.leader = Some(new_id.to_string());
        }
        self.static_members.insert(instance_id.to_string(), new_id.to_string());
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        old.member_id = old_id.to_string();
        Some(*old)
    }

    /// Whether a joining member's protocols are compatible with the group (Kafka's
    /// `supportsProtocols`).
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols
                    .iter()
                    .any(|p| self.supported_protocols.get(&p.name).copied().unwrap_or(0) == self.members.len())
        }
    }

    /// Selects the protocol for the next generation: among the protocols every member
    /// supports, the one most members prefer (ties go to the lexically smallest name, so the
    /// choice is deterministic).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates: BTreeSet<&str> = self
            .supported_protocols
            .iter()
            .filter(|(_, n)| **n == self.members.len())
            .map(|(name, _)| name.as_str())
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, n)| *n == best)
            .map(|(name, _)| name.to_string())
    }

    /// The largest rebalance timeout of the members: how long a rebalance may wait for them.
    pub fn rebalance_timeout_ms(&self) -> i32 {
        self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    /// Members not parked in JoinGroup (they have not rejoined during this rebalance).
    pub fn not_yet_rejoined(&self) -> Vec<String> {
        self.members_in_order()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keeps the leader if it rejoined, else picks a
    /// member that did; false if nobody rejoined.
    pub fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else {
            return false;
        };
        if self.members.get(&leader).is_some_and(|m| m.awaiting_join.is_some()) {
            return true;
        }
        let next = self
            .members_in_order()
            .find(|m| m.awaiting_join.is_some())
            .map(|m| m.member_id.clone());
        match next {
            Some(id) => {
                self.leader = Some(id);
                true
            }
            None => false,
        }
    }

    /// Members that must still send SyncGroup this generation.
    pub fn pending_sync(&self) -> &BTreeSet<String> {
        &self.pending_sync
    }

    /// Marks every member as owing a SyncGroup.
    pub fn set_all_pending_sync(&mut self) {
        self.pending_sync = self.members.keys().cloned().collect();
    }

    /// A member sent its SyncGroup.
    pub fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
    }

    /// Forgets who owes a SyncGroup (a new rebalance started).
    pub fn clear_pending_sync(&mut self) {
        self.pending_sync.clear();
    }

    /// The topics the members subscribe to, for the consumer protocol; `None` if unknown.
    pub fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(crate::consumer_protocol::subscribed_topics(&m.metadata(protocol))?);
        }
        Some(topics)
    }

    /// Whether the group is known to consume `topic` (Kafka's `isSubscribedToTopic`): when the
    /// subscriptions are unknown, a consumer-protocol group is assumed to be.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        match &self.subscribed_topics {
            Some(t) => t.contains(topic),
            None => self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE),
        }
    }

    /// All members, mutably (for fencing parked requests or resetting assignments).
    pub fn members_mut(&mut self) -> impl Iterator<Item = &mut ClassicMember> {
        self.members.values_mut().map(|m| &mut **m)
    }
}

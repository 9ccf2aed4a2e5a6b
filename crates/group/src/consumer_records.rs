//! The KIP-848 consumer group records in `__consumer_offsets`, in Kafka 4's layouts.
//!
//! Each record's key starts with an `int16` equal to the record type (3, 5, 6, 7, 8), followed
//! by the key's fields in the classic (non-flexible) encoding; each value starts with an `int16`
//! version (0 for all of them) followed by the flexible encoding (compact strings and arrays,
//! tagged fields). A missing value is a tombstone: the member, its assignment or the group is
//! gone. Type 4 (`ConsumerGroupPartitionMetadata`, which Kafka 4.1 stopped using) is read and
//! ignored; the group's view of its topics is kept as the `MetadataHash` tagged field of the
//! group record instead, as Kafka 4.1 does.

use crate::records::RecordError;
use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::Uuid;
use sluice_protocol::codec::{
    get_array_len, get_bytes, get_i8, get_i16, get_i32, get_i64, get_nullable_string, get_string, get_tagged_count,
    get_tagged_field, get_uuid, put_tag_header, put_uuid, put_uvarint,
};
use std::collections::{BTreeMap, BTreeSet};

/// Partitions by topic id: the shape of every consumer group assignment.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// Record type (and key version) of the group epoch record.
pub const GROUP_METADATA_TYPE: i16 = 3;
/// Record type of Kafka 4.0's subscription metadata record, read and ignored.
pub const PARTITION_METADATA_TYPE: i16 = 4;
/// Record type of a member's subscription.
pub const MEMBER_METADATA_TYPE: i16 = 5;
/// Record type of the target assignment's epoch.
pub const TARGET_ASSIGNMENT_METADATA_TYPE: i16 = 6;
/// Record type of one member's target assignment.
pub const TARGET_ASSIGNMENT_MEMBER_TYPE: i16 = 7;
/// Record type of one member's current assignment and epochs.
pub const CURRENT_ASSIGNMENT_TYPE: i16 = 8;

/// `ConsumerGroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEpochValue {
    /// The group epoch.
    pub epoch: i32,
    /// Hash of the subscribed topics' ids, names and partition counts (tag 0, Kafka 4.1's
    /// `MetadataHash`): a different hash after a restart means the topics changed meanwhile.
    pub metadata_hash: i64,
}

/// `ConsumerGroupMemberMetadataValue`: what a member asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscriptionValue {
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// The client's rack, if any.
    pub rack_id: Option<String>,
    /// The client id of the member's requests.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Topics subscribed by name.
    pub subscribed_topic_names: Vec<String>,
    /// Topics subscribed by regular expression (RE2 syntax), if any.
    pub subscribed_topic_regex: Option<String>,
    /// How long the member may take to revoke partitions.
    pub rebalance_timeout_ms: i32,
    /// The server assignor the member asked for, if any.
    pub server_assignor: Option<String>,
    /// Set for a member that speaks the classic protocol (JoinGroup/SyncGroup) inside a
    /// consumer group: what it needs to be served, and to become a classic group member again
    /// when the group is downgraded. Tag 0 (`ClassicMemberMetadata`) of Kafka's value.
    pub classic: Option<ClassicMemberMetadata>,
}

/// `ConsumerGroupMemberMetadataValue.ClassicMemberMetadata`: a classic-protocol member's
/// session timeout and the protocols (client assignors with their subscription bytes) it sent
/// in its last JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicMemberMetadata {
    /// The member's own session timeout: classic members are expired by it, not by
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// The supported protocols in the member's order of preference: SyncGroup is checked
    /// against the first, and a downgraded classic group selects among them.
    pub supported_protocols: Vec<crate::classic::Protocol>,
}

/// `ConsumerGroupCurrentMemberAssignmentValue`: where the member is in its reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentAssignmentValue {
    /// The epoch the member must send next.
    pub member_epoch: i32,
    /// The epoch before the last bump: a member whose response got lost retries with it.
    pub previous_member_epoch: i32,
    /// `MemberState` as Kafka numbers it.
    pub state: i8,
    /// Partitions the member owns.
    pub assigned: Assignment,
    /// Partitions the member must give up before it gets new ones.
    pub pending_revocation: Assignment,
}

/// One consumer group record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRecord {
    /// Type 3: the group epoch; a tombstone deletes the group.
    GroupEpoch {
        /// The group.
        group_id: String,
        /// The epoch; `None` is a tombstone.
        value: Option<GroupEpochValue>,
    },
    /// Type 4, written by Kafka 4.0: kept only so that reading one is not an error.
    PartitionMetadata {
        /// The group.
        group_id: String,
    },
    /// Type 5: a member's subscription; a tombstone removes the member.
    MemberSubscription {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// The subscription; `None` is a tombstone.
        value: Option<MemberSubscriptionValue>,
    },
    /// Type 6: the epoch of the target assignment.
    TargetAssignmentEpoch {
        /// The group.
        group_id: String,
        /// The assignment epoch; `None` is a tombstone.
        value: Option<i32>,
    },
    /// Type 7: a member's target assignment.
    TargetAssignment {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// The partitions; `None` is a tombstone.
        value: Option<Assignment>,
    },
    /// Type 8: a member's current assignment and epochs.
    CurrentAssignment {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// The state; `None` is a tombstone.
        value: Option<CurrentAssignmentValue>,
    },
}

impl ConsumerRecord {
    /// The group the record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            ConsumerRecord::GroupEpoch { group_id, .. }
            | ConsumerRecord::PartitionMetadata { group_id }
            | ConsumerRecord::MemberSubscription { group_id, .. }
            | ConsumerRecord::TargetAssignmentEpoch { group_id, .. }
            | ConsumerRecord::TargetAssignment { group_id, .. }
            | ConsumerRecord::CurrentAssignment { group_id, .. } => group_id,
        }
    }

    /// The key bytes.
    pub fn encode_key(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        let (kind, member) = match self {
            ConsumerRecord::GroupEpoch { .. } => (GROUP_METADATA_TYPE, None),
            ConsumerRecord::PartitionMetadata { .. } => (PARTITION_METADATA_TYPE, None),
            ConsumerRecord::TargetAssignmentEpoch { .. } => (TARGET_ASSIGNMENT_METADATA_TYPE, None),
            ConsumerRecord::MemberSubscription { member_id, .. } => (MEMBER_METADATA_TYPE, Some(member_id)),
            ConsumerRecord::TargetAssignment { member_id, .. } => (TARGET_ASSIGNMENT_MEMBER_TYPE, Some(member_id)),
            ConsumerRecord::CurrentAssignment { member_id, .. } => (CURRENT_ASSIGNMENT_TYPE, Some(member_id)),
        };
        buf.put_i16(kind);
        put_classic_str(&mut buf, self.group_id());
        if let Some(m) = member {
            put_classic_str(&mut buf, m);
        }
        buf.freeze()
    }

    /// The value bytes; `None` for a tombstone.
    pub fn encode_value(&self) -> Option<Bytes> {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(0);
        match self {
            ConsumerRecord::GroupEpoch { value, .. } => {
                let v = value.as_ref()?;
                buf.put_i32(v.epoch);
                put_uvarint(&mut buf, 1);
                put_tag_header(&mut buf, 0, 8);
                buf.put_i64(v.metadata_hash);
            }
            ConsumerRecord::PartitionMetadata { .. } => return None,
            ConsumerRecord::MemberSubscription { value, .. } => {
                let v = value.as_ref()?;
                put_compact_opt(&mut buf, v.instance_id.as_deref());
                put_compact_opt(&mut buf, v.rack_id.as_deref());
                put_compact_opt(&mut buf, Some(&v.client_id));
                put_compact_opt(&mut buf, Some(&v.client_host));
                put_uvarint(&mut buf, v.subscribed_topic_names.len() as u32 + 1);
                for t in &v.subscribed_topic_names {
                    put_compact_opt(&mut buf, Some(t));
                }
                put_compact_opt(&mut buf, v.subscribed_topic_regex.as_deref());
                buf.put_i32(v.rebalance_timeout_ms);
                put_compact_opt(&mut buf, v.server_assignor.as_deref());
                match &v.classic {
                    None => put_uvarint(&mut buf, 0),
                    Some(c) => {
                        let mut tag = BytesMut::new();
                        tag.put_i32(c.session_timeout_ms);
                        put_uvarint(&mut tag, c.supported_protocols.len() as u32 + 1);
                        for p in &c.supported_protocols {
                            put_compact_opt(&mut tag, Some(&p.name));
                            put_uvarint(&mut tag, p.metadata.len() as u32 + 1);
                            tag.put_slice(&p.metadata);
                            put_uvarint(&mut tag, 0);
                        }
                        put_uvarint(&mut tag, 0);
                        put_uvarint(&mut buf, 1);
                        put_tag_header(&mut buf, 0, tag.len());
                        buf.put_slice(&tag);
                    }
                }
            }
            ConsumerRecord::TargetAssignmentEpoch { value, .. } => {
                buf.put_i32((*value)?);
                put_uvarint(&mut buf, 0);
            }
            ConsumerRecord::TargetAssignment { value, .. } => {
                put_assignment(&mut buf, value.as_ref()?);
                put_uvarint(&mut buf, 0);
            }
            ConsumerRecord::CurrentAssignment { value, .. } => {
                let v = value.as_ref()?;
                buf.put_i32(v.member_epoch);
                buf.put_i32(v.previous_member_epoch);
                buf.put_i8(v.state);
                put_assignment(&mut buf, &v.assigned);
                put_assignment(&mut buf, &v.pending_revocation);
                put_uvarint(&mut buf, 0);
            }
        }
        Some(buf.freeze())
    }

    /// Decodes a record of type `kind` (3 to 8) from the key after its version and the value.
    pub fn decode(kind: i16, key: &mut Bytes, value: Option<Bytes>) -> Result<ConsumerRecord, RecordError> {
        let group_id = get_string(key, false, "group")?;
        let member_id = if matches!(
            kind,
            MEMBER_METADATA_TYPE | TARGET_ASSIGNMENT_MEMBER_TYPE | CURRENT_ASSIGNMENT_TYPE
        ) {
            get_string(key, false, "member")?
        } else {
            String::new()
        };
        let mut value = match value {
            Some(mut v) => {
                let version = get_i16(&mut v)?;
                if version != 0 {
                    return Err(RecordError::UnknownValueVersion {
                        schema: "ConsumerGroup record",
                        version,
                    });
                }
                Some(v)
            }
            None => None,
        };
        let record = match kind {
            GROUP_METADATA_TYPE => {
                let value = match value.as_mut() {
                    Some(v) => {
                        let epoch = get_i32(v)?;
                        let mut metadata_hash = 0;
                        for (tag, mut data) in tagged_fields(v)? {
                            if tag == 0 {
                                metadata_hash = get_i64(&mut data)?;
                            }
                        }
                        Some(GroupEpochValue { epoch, metadata_hash })
                    }
                    None => None,
                };
                ConsumerRecord::GroupEpoch { group_id, value }
            }
            PARTITION_METADATA_TYPE => {
                // Its content is rebuilt from the metadata image; nothing to read.
                value = None;
                ConsumerRecord::PartitionMetadata { group_id }
            }
            MEMBER_METADATA_TYPE => {
                let value = match value.as_mut() {
                    Some(v) => {
                        let instance_id = get_nullable_string(v, true)?;
                        let rack_id = get_nullable_string(v, true)?;
                        let client_id = get_string(v, true, "clientId")?;
                        let client_host = get_string(v, true, "clientHost")?;
                        let n = get_array_len(v, true, 1)?.unwrap_or(0);
                        let mut subscribed_topic_names = Vec::with_capacity(n);
                        for _ in 0..n {
                            subscribed_topic_names.push(get_string(v, true, "topic")?);
                        }
                        let subscribed_topic_regex = get_nullable_string(v, true)?;
                        let rebalance_timeout_ms = get_i32(v)?;
                        let server_assignor = get_nullable_string(v, true)?;
                        let mut classic = None;
                        for (tag, mut data) in tagged_fields(v)? {
                            if tag == 0 {
                                classic = Some(get_classic_metadata(&mut data)?);
                            }
                        }
                        Some(MemberSubscriptionValue {
                            instance_id,
                            rack_id,
                            client_id,
                            client_host,
                            subscribed_topic_names,
                            subscribed_topic_regex,
                            rebalance_timeout_ms,
                            server_assignor,
                            classic,
                        })
                    }
                    None => None,
                };
                ConsumerRecord::MemberSubscription {
                    group_id,
                    member_id,
                    value,
                }
            }
            TARGET_ASSIGNMENT_METADATA_TYPE => {
                let value = match value.as_mut() {
                    Some(v) => {
                        let epoch = get_i32(v)?;
                        tagged_fields(v)?;
                        Some(epoch)
                    }
                    None => None,
                };
                ConsumerRecord::TargetAssignmentEpoch { group_id, value }
            }
            TARGET_ASSIGNMENT_MEMBER_TYPE => {
                let value = match value.as_mut() {
                    Some(v) => {
                        let a = get_assignment(v)?;
                        tagged_fields(v)?;
                        Some(a)
                    }
                    None => None,
                };
                ConsumerRecord::TargetAssignment {
                    group_id,
                    member_id,
                    value,
                }
            }
            CURRENT_ASSIGNMENT_TYPE => {
                let value = match value.as_mut() {
                    Some(v) => {
                        let member_epoch = get_i32(v)?;
                        let previous_member_epoch = get_i32(v)?;
                        let state = get_i8(v)?;
                        let assigned = get_assignment(v)?;
                        let pending_revocation = get_assignment(v)?;
                        tagged_fields(v)?;
                        Some(CurrentAssignmentValue {
                            member_epoch,
                            previous_member_epoch,
                            state,
                            assigned,
                            pending_revocation,
                        })
                    }
                    None => None,
                };
                ConsumerRecord::CurrentAssignment {
                    group_id,
                    member_id,
                    value,
                }
            }
            other => return Err(RecordError::UnknownKeyVersion(other)),
        };
        if let Some(v) = value
            && !v.is_empty()
        {
            return Err(RecordError::TrailingBytes(v.len()));
        }
        Ok(record)
    }
}

fn put_classic_str(buf: &mut BytesMut, s: &str) {
    // Group and member ids come from requests whose strings are int16-length-prefixed.
    debug_assert!(s.len() <= i16::MAX as usize);
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_compact_opt(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => put_uvarint(buf, 0),
        Some(s) => {
            put_uvarint(buf, s.len() as u32 + 1);
            buf.put_slice(s.as_bytes());
        }
    }
}

/// `[]TopicPartitions` as the assignment records write it: topic id, partitions, tagged fields.
fn put_assignment(buf: &mut BytesMut, a: &Assignment) {
    put_uvarint(buf, a.len() as u32 + 1);
    for (topic, partitions) in a {
        put_uuid(buf, topic);
        put_uvarint(buf, partitions.len() as u32 + 1);
        for p in partitions {
            buf.put_i32(*p);
        }
        put_uvarint(buf, 0);
    }
}

fn get_assignment(buf: &mut Bytes) -> Result<Assignment, RecordError> {
    // A topic takes a 16-byte id, a count and a tagged-field count.
    let n = get_array_len(buf, true, 18)?.unwrap_or(0);
    let mut out = Assignment::new();
    for _ in 0..n {
        let topic = get_uuid(buf)?;
        let count = get_array_len(buf, true, 4)?.unwrap_or(0);
        let mut partitions = BTreeSet::new();
        for _ in 0..count {
            partitions.insert(get_i32(buf)?);
        }
        tagged_fields(buf)?;
        out.insert(topic, partitions);
    }
    Ok(out)
}

/// Tag 0 of a member's value: `SessionTimeoutMs`, then `[]SupportedProtocols` of (name,
/// metadata), in the flexible encoding.
fn get_classic_metadata(buf: &mut Bytes) -> Result<ClassicMemberMetadata, RecordError> {
    let session_timeout_ms = get_i32(buf)?;
    // A protocol takes at least a name length, a metadata length and a tagged-field count, so
    // the count is bounded by the bytes present.
    let n = get_array_len(buf, true, 3)?.unwrap_or(0);
    let mut supported_protocols = Vec::with_capacity(n);
    for _ in 0..n {
        let name = get_string(buf, true, "name")?;
        let metadata = get_bytes(buf, true, "metadata")?;
        tagged_fields(buf)?;
        supported_protocols.push(crate::classic::Protocol {
            name,
            metadata: Bytes::copy_from_slice(&metadata),
        });
    }
    tagged_fields(buf)?;
    Ok(ClassicMemberMetadata {
        session_timeout_ms,
        supported_protocols,
    })
}

fn tagged_fields(buf: &mut Bytes) -> Result<Vec<(u32, Bytes)>, RecordError> {
    let count = get_tagged_count(buf)?;
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(get_tagged_field(buf)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment() -> Assignment {
        let mut a = Assignment::new();
        a.insert(Uuid([7; 16]), [0, 2, 5].into_iter().collect());
        a
    }

    #[test]
    fn every_record_round_trips_including_tombstones() {
        let g = "g".to_string();
        let m = "m".to_string();
        let records = vec![
            ConsumerRecord::GroupEpoch {
                group_id: g.clone(),
                value: Some(GroupEpochValue {
                    epoch: 4,
                    metadata_hash: -99,
                }),
            },
            ConsumerRecord::GroupEpoch {
                group_id: g.clone(),
                value: None,
            },
            ConsumerRecord::MemberSubscription {
                group_id: g.clone(),
                member_id: m.clone(),
                value: Some(MemberSubscriptionValue {
                    instance_id: Some("i".into()),
                    rack_id: None,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    subscribed_topic_names: vec!["a".into(), "b".into()],
                    subscribed_topic_regex: Some("t.*".into()),
                    rebalance_timeout_ms: 300_000,
                    server_assignor: Some("range".into()),
                    classic: None,
                }),
            },
            ConsumerRecord::MemberSubscription {
                group_id: g.clone(),
                member_id: "classic".into(),
                value: Some(MemberSubscriptionValue {
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    subscribed_topic_names: vec!["a".into()],
                    rebalance_timeout_ms: 60_000,
                    classic: Some(ClassicMemberMetadata {
                        session_timeout_ms: 45_000,
                        supported_protocols: vec![
                            crate::classic::Protocol {
                                name: "range".into(),
                                metadata: Bytes::from_static(b"\x00\x01xyz"),
                            },
                            crate::classic::Protocol {
                                name: "roundrobin".into(),
                                metadata: Bytes::new(),
                            },
                        ],
                    }),
                    ..Default::default()
                }),
            },
            ConsumerRecord::TargetAssignmentEpoch {
                group_id: g.clone(),
                value: Some(3),
            },
            ConsumerRecord::TargetAssignment {
                group_id: g.clone(),
                member_id: m.clone(),
                value: Some(assignment()),
            },
            ConsumerRecord::CurrentAssignment {
                group_id: g.clone(),
                member_id: m.clone(),
                value: Some(CurrentAssignmentValue {
                    member_epoch: 3,
                    previous_member_epoch: 2,
                    state: 2,
                    assigned: assignment(),
                    pending_revocation: Assignment::new(),
                }),
            },
            ConsumerRecord::CurrentAssignment {
                group_id: g,
                member_id: m,
                value: None,
            },
        ];
        for r in records {
            let r = crate::CoordinatorRecord::Consumer(r);
            let back = crate::CoordinatorRecord::decode(r.encode_key(), r.encode_value()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn key_layout_is_type_then_classic_strings() {
        let r = ConsumerRecord::TargetAssignment {
            group_id: "ab".into(),
            member_id: "m".into(),
            value: None,
        };
        assert_eq!(&r.encode_key()[..], b"\x00\x07\x00\x02ab\x00\x01m");
    }

    #[test]
    fn truncated_values_are_errors() {
        let r = crate::CoordinatorRecord::Consumer(ConsumerRecord::TargetAssignment {
            group_id: "g".into(),
            member_id: "m".into(),
            value: Some(assignment()),
        });
        let v = r.encode_value().unwrap();
        for cut in 0..v.len() {
            assert!(crate::CoordinatorRecord::decode(r.encode_key(), Some(v.slice(..cut))).is_err());
        }
    }
}

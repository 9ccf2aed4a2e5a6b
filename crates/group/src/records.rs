//! The records the coordinator writes to `__consumer_offsets`, in Kafka's own formats.
//!
//! Keeping Kafka's key and value layouts (a big-endian `int16` version, then the schema's fields)
//! means tools that read `__consumer_offsets` directly, as lag exporters and Burrow do, understand
//! Sluice's topic too. Keys decide what compaction keeps: the latest value per key survives, and a
//! record without a value (a tombstone) deletes the key.
//!
//! Written: offset commit key v1 / value v3, group metadata key v2 / value v3 (the newest versions
//! that are not flexible, so every reader since Kafka 2.3 understands them). Read: every version
//! Kafka ever wrote (offset value 0-4, group value 0-4); unknown key versions are reported, not
//! guessed at, and the loader skips them.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::DecodeError;
use sluice_protocol::codec::{
    get_array_len, get_bytes, get_i16, get_i32, get_i64, get_nullable_string, get_string, get_tagged_count,
    get_tagged_field,
};

/// Key version of an offset commit (0 and 1 share a layout; Kafka writes 1).
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of a classic group's metadata.
const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Value version written for offsets: v3 carries the leader epoch and drops the expire timestamp.
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Value version written for offsets with an explicit expiry (the only one that has it).
const OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY: i16 = 1;
/// Value version written for group metadata: v3 carries static members' instance ids.
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// One record of `__consumer_offsets`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorRecord {
    /// A committed offset, or its removal (`value: None`).
    OffsetCommit {
        /// Which group, topic and partition the offset belongs to.
        key: OffsetKey,
        /// The committed position; `None` is a tombstone (deleted or expired offset).
        value: Option<OffsetValue>,
    },
    /// A classic group's generation and members, or the group's removal (`value: None`).
    GroupMetadata {
        /// The group id.
        group_id: String,
        /// The group as of its last completed rebalance; `None` deletes the group.
        value: Option<GroupMetadataValue>,
    },
    /// A KIP-848 consumer group record (types 3 to 8).
    Consumer(crate::consumer_records::ConsumerRecord),
}

/// The key of a committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetKey {
    /// The consumer group.
    pub group_id: String,
    /// The topic name (offsets are keyed by name, as in Kafka, so they survive a client that
    /// only knows names).
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// The next offset the group will consume.
    pub offset: i64,
    /// Leader epoch of the record before `offset`, for log truncation detection; -1 if unknown.
    pub leader_epoch: i32,
    /// Free-form metadata the committer attached.
    pub metadata: String,
    /// When the commit was made (broker time, ms): the clock for offsets retention.
    pub commit_timestamp_ms: i64,
    /// Explicit expiry from OffsetCommit v1-v4's retention time; -1 when none (all new commits).
    pub expire_timestamp_ms: i64,
}

/// A classic group as persisted after each rebalance (and when it becomes empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// The protocol type members joined with (`consumer`, `connect`, ...); empty when unknown.
    pub protocol_type: String,
    /// The generation id.
    pub generation: i32,
    /// The selected protocol (assignor name); `None` while the group is empty.
    pub protocol: Option<String>,
    /// The leader's member id; `None` while the group is empty.
    pub leader: Option<String>,
    /// When the group entered its current state (ms); -1 when unknown.
    pub current_state_timestamp_ms: i64,
    /// The members with their subscriptions and assignments.
    pub members: Vec<MemberMetadata>,
}

/// A classic group member as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// The member id the coordinator assigned.
    pub member_id: String,
    /// The static instance id (KIP-345), if the member is static.
    pub group_instance_id: Option<String>,
    /// The client id from the member's requests.
    pub client_id: String,
    /// The client's address, for DescribeGroups.
    pub client_host: String,
    /// How long the member may take to rejoin during a rebalance.
    pub rebalance_timeout_ms: i32,
    /// How long the member may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// The member's metadata for the selected protocol (its subscription).
    pub subscription: Bytes,
    /// The assignment the leader gave the member.
    pub assignment: Bytes,
}

/// What can be wrong with a stored record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The bytes do not parse as the schema.
    #[error("malformed coordinator record: {0}")]
    Malformed(#[from] DecodeError),
    /// A key version this coordinator does not know (a newer Kafka's record type, e.g. the
    /// share or streams group ones): skipped by the loader.
    #[error("unknown coordinator record key version {0}")]
    UnknownKeyVersion(i16),
    /// A value version newer than any Kafka wrote.
    #[error("unknown {schema} value version {version}")]
    UnknownValueVersion {
        /// Which value schema.
        schema: &'static str,
        /// The version found.
        version: i16,
    },
    /// Bytes left over after the value.
    #[error("{0} trailing bytes after a coordinator record")]
    TrailingBytes(usize),
}

impl CoordinatorRecord {
    /// The record's key bytes.
    pub fn encode_key(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        match self {
            CoordinatorRecord::OffsetCommit { key, .. } => {
                buf.put_i16(OFFSET_COMMIT_KEY_VERSION);
                put_str(&mut buf, &key.group_id);
                put_str(&mut buf, &key.topic);
                buf.put_i32(key.partition);
            }
            CoordinatorRecord::GroupMetadata { group_id, .. } => {
                buf.put_i16(GROUP_METADATA_KEY_VERSION);
                put_str(&mut buf, group_id);
            }
            CoordinatorRecord::Consumer(r) => return r.encode_key(),
        }
        buf.freeze()
    }

    /// The record's value bytes; `None` for a tombstone.
    pub fn encode_value(&self) -> Option<Bytes> {
        match self {
            CoordinatorRecord::OffsetCommit { value, .. } => value.as_ref().map(|v| {
                let mut buf = BytesMut::with_capacity(32 + v.metadata.len());
                if v.expire_timestamp_ms >= 0 {
                    // Only value v1 carries an explicit expiry (OffsetCommit v2-v4's retention
                    // time), as Kafka writes it.
                    buf.put_i16(OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY);
                    buf.put_i64(v.offset);
                    put_str(&mut buf, &v.metadata);
                    buf.put_i64(v.commit_timestamp_ms);
                    buf.put_i64(v.expire_timestamp_ms);
                } else {
                    buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
                    buf.put_i64(v.offset);
                    buf.put_i32(v.leader_epoch);
                    put_str(&mut buf, &v.metadata);
                    buf.put_i64(v.commit_timestamp_ms);
                }
                buf.freeze()
            }),
            CoordinatorRecord::GroupMetadata { value, .. } => value.as_ref().map(|g| {
                let mut buf = BytesMut::with_capacity(64);
                buf.put_i16(GROUP_METADATA_VALUE_VERSION);
                put_str(&mut buf, &g.protocol_type);
                buf.put_i32(g.generation);
                put_opt_str(&mut buf, g.protocol.as_deref());
                put_opt_str(&mut buf, g.leader.as_deref());
                buf.put_i64(g.current_state_timestamp_ms);
                buf.put_i32(g.members.len() as i32);
                for m in &g.members {
                    put_str(&mut buf, &m.member_id);
                    put_opt_str(&mut buf, m.group_instance_id.as_deref());
                    put_str(&mut buf, &m.client_id);
                    put_str(&mut buf, &m.client_host);
                    buf.put_i32(m.rebalance_timeout_ms);
                    buf.put_i32(m.session_timeout_ms);
                    put_byte_array(&mut buf, &m.subscription);
                    put_byte_array(&mut buf, &m.assignment);
                }
                buf.freeze()
            }),
            CoordinatorRecord::Consumer(r) => r.encode_value(),
        }
    }

    /// Decodes a record from its key and optional value.
    pub fn decode(key: Bytes, value: Option<Bytes>) -> Result<CoordinatorRecord, RecordError> {
        let mut key = key;
        let key_version = get_i16(&mut key)?;
        let record = match key_version {
            0 | 1 => {
                let group_id = get_string(&mut key, false, "group")?;
                let topic = get_string(&mut key, false, "topic")?;
                let partition = get_i32(&mut key)?;
                let value = value.map(decode_offset_value).transpose()?;
                CoordinatorRecord::OffsetCommit {
                    key: OffsetKey {
                        group_id,
                        topic,
                        partition,
                    },
                    value,
                }
            }
            2 => {
                let group_id = get_string(&mut key, false, "group")?;
                let value = value.map(decode_group_value).transpose()?;
                CoordinatorRecord::GroupMetadata { group_id, value }
            }
            3..=8 => CoordinatorRecord::Consumer(crate::consumer_records::ConsumerRecord::decode(
                key_version,
                &mut key,
                value,
            )?),
            other => return Err(RecordError::UnknownKeyVersion(other)),
        };
        if !key.is_empty() {
            return Err(RecordError::TrailingBytes(key.len()));
        }
        Ok(record)
    }

    /// The group this record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            CoordinatorRecord::OffsetCommit { key, .. } => &key.group_id,
            CoordinatorRecord::GroupMetadata { group_id, .. } => group_id,
            CoordinatorRecord::Consumer(r) => r.group_id(),
        }
    }
}

fn decode_offset_value(mut buf: Bytes) -> Result<OffsetValue, RecordError> {
    let version = get_i16(&mut buf)?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            schema: "OffsetCommitValue",
            version,
        });
    }
    let flexible = version >= 4;
    let offset = get_i64(&mut buf)?;
    let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
    let metadata = get_string(&mut buf, flexible, "metadata")?;
    let commit_timestamp_ms = get_i64(&mut buf)?;
    let expire_timestamp_ms = if version == 1 { get_i64(&mut buf)? } else { -1 };
    if flexible {
        skip_tagged_fields(&mut buf)?;
    }
    if !buf.is_empty() {
        return Err(RecordError::TrailingBytes(buf.len()));
    }
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

fn decode_group_value(mut buf: Bytes) -> Result<GroupMetadataValue, RecordError> {
    let version = get_i16(&mut buf)?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            schema: "GroupMetadataValue",
            version,
        });
    }
    let flexible = version >= 4;
    let protocol_type = get_string(&mut buf, flexible, "protocolType")?;
    let generation = get_i32(&mut buf)?;
    let protocol = get_nullable_string(&mut buf, flexible)?;
    let leader = get_nullable_string(&mut buf, flexible)?;
    let current_state_timestamp_ms = if version >= 2 { get_i64(&mut buf)? } else { -1 };
    // A member takes at least 4 string lengths, 2 ints and 2 byte-array lengths (16 bytes even
    // compact): the count is checked against the bytes left before anything is reserved.
    let count = get_array_len(&mut buf, flexible, MEMBER_MIN_BYTES)?.unwrap_or(0);
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = get_string(&mut buf, flexible, "memberId")?;
        let group_instance_id = if version >= 3 {
            get_nullable_string(&mut buf, flexible)?
        } else {
            None
        };
        let client_id = get_string(&mut buf, flexible, "clientId")?;
        let client_host = get_string(&mut buf, flexible, "clientHost")?;
        let session_and_rebalance = if version >= 1 {
            let rebalance = get_i32(&mut buf)?;
            (get_i32(&mut buf)?, rebalance)
        } else {
            let session = get_i32(&mut buf)?;
            (session, session)
        };
        let subscription = get_bytes(&mut buf, flexible, "subscription")?;
        let assignment = get_bytes(&mut buf, flexible, "assignment")?;
        if flexible {
            skip_tagged_fields(&mut buf)?;
        }
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: session_and_rebalance.1,
            session_timeout_ms: session_and_rebalance.0,
            subscription,
            assignment,
        });
    }
    if flexible {
        skip_tagged_fields(&mut buf)?;
    }
    if !buf.is_empty() {
        return Err(RecordError::TrailingBytes(buf.len()));
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp_ms,
        members,
    })
}

/// The fewest bytes one persisted member can take (compact encoding, empty strings).
const MEMBER_MIN_BYTES: usize = 8;

fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), DecodeError> {
    let count = get_tagged_count(buf)?;
    for _ in 0..count {
        get_tagged_field(buf)?;
    }
    Ok(())
}

fn put_str(buf: &mut BytesMut, s: &str) {
    // Group ids, topics and member ids are bounded far below i16::MAX by the request decoder
    // (Kafka strings are int16-length-prefixed), so the cast cannot truncate.
    debug_assert!(s.len() <= i16::MAX as usize);
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_byte_array(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

/// Kafka's `Utils.abs(groupId.hashCode()) % partitions`: the `__consumer_offsets` partition that
/// holds a group. Java hashes the UTF-16 code units of the string; matching it keeps a group on
/// the partition Kafka would pick, which matters once partitions have different leaders.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    debug_assert!(partitions > 0);
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_group() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp_ms: 1_700_000_000_000,
            members: vec![MemberMetadata {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"\x00\x01sub"),
                assignment: Bytes::from_static(b"\x00\x01asg"),
            }],
        }
    }

    #[test]
    fn offset_and_group_records_round_trip() {
        let records = [
            CoordinatorRecord::OffsetCommit {
                key: OffsetKey {
                    group_id: "g".into(),
                    topic: "t".into(),
                    partition: 3,
                },
                value: Some(OffsetValue {
                    offset: 42,
                    leader_epoch: 5,
                    metadata: "meta".into(),
                    commit_timestamp_ms: 123,
                    expire_timestamp_ms: -1,
                }),
            },
            CoordinatorRecord::OffsetCommit {
                key: OffsetKey {
                    group_id: "g".into(),
                    topic: "t".into(),
                    partition: 3,
                },
                value: Some(OffsetValue {
                    offset: 7,
                    leader_epoch: -1,
                    metadata: String::new(),
                    commit_timestamp_ms: 100,
                    expire_timestamp_ms: 5_000,
                }),
            },
            CoordinatorRecord::OffsetCommit {
                key: OffsetKey {
                    group_id: "g".into(),
                    topic: "t".into(),
                    partition: 3,
                },
                value: None,
            },
            CoordinatorRecord::GroupMetadata {
                group_id: "g".into(),
                value: Some(sample_group()),
            },
            CoordinatorRecord::GroupMetadata {
                group_id: "g".into(),
                value: None,
            },
        ];
        for r in records {
            let back = CoordinatorRecord::decode(r.encode_key(), r.encode_value()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn offset_key_layout_is_kafkas() {
        let r = CoordinatorRecord::OffsetCommit {
            key: OffsetKey {
                group_id: "ab".into(),
                topic: "t".into(),
                partition: 1,
            },
            value: None,
        };
        assert_eq!(&r.encode_key()[..], b"\x00\x01\x00\x02ab\x00\x01t\x00\x00\x00\x01");
    }

    #[test]
    fn reads_offset_value_v1_with_expire_timestamp() {
        let mut v = BytesMut::new();
        v.put_i16(1);
        v.put_i64(10);
        put_str(&mut v, "m");
        v.put_i64(100);
        v.put_i64(200);
        let value = decode_offset_value(v.freeze()).unwrap();
        assert_eq!(value.offset, 10);
        assert_eq!(value.leader_epoch, -1);
        assert_eq!(value.expire_timestamp_ms, 200);
    }

    #[test]
    fn reads_flexible_group_value_v4() {
        let mut v = BytesMut::new();
        v.put_i16(4);
        v.put_u8(9); // compact string "consumer" (len + 1)
        v.put_slice(b"consumer");
        v.put_i32(2);
        v.put_u8(0); // null protocol
        v.put_u8(0); // null leader
        v.put_i64(5);
        v.put_u8(1); // zero members
        v.put_u8(0); // no tagged fields
        let g = decode_group_value(v.freeze()).unwrap();
        assert_eq!(g.protocol_type, "consumer");
        assert_eq!(g.generation, 2);
        assert!(g.members.is_empty());
    }

    #[test]
    fn unknown_key_versions_and_garbage_are_errors_not_panics() {
        let mut k = BytesMut::new();
        k.put_i16(9);
        assert_eq!(
            CoordinatorRecord::decode(k.freeze(), None),
            Err(RecordError::UnknownKeyVersion(9))
        );
        assert!(CoordinatorRecord::decode(Bytes::from_static(b"\x00"), None).is_err());
        let mut k = BytesMut::new();
        k.put_i16(2);
        put_str(&mut k, "g");
        let mut v = BytesMut::new();
        v.put_i16(3);
        put_str(&mut v, "consumer");
        v.put_i32(1);
        v.put_i16(-1);
        v.put_i16(-1);
        v.put_i64(0);
        v.put_i32(i32::MAX); // claims two billion members with no bytes behind them
        assert!(CoordinatorRecord::decode(k.freeze(), Some(v.freeze())).is_err());
    }

    #[test]
    fn partition_for_matches_java_string_hash_code() {
        // Java: "my-group".hashCode() == -1906497762 (h = 31*h + c over UTF-16 units, wrapping).
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(partition_for("", 50), 0);
        for g in ["a", "group-with-a-long-name-überall", "x"] {
            let p = partition_for(g, 50);
            assert!((0..50).contains(&p));
        }
    }
}

//! Metadata records: every change to cluster metadata is one of these, in log order.
//!
//! Encoding: a one-byte record type, a one-byte record version, then the fields with the Kafka
//! protocol's classic primitives (int16-length strings, int32 counts). A reader refuses a type or
//! version it does not know rather than guessing, so a newer log is never misread.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::codec::{self as c, DecodeError, Uuid};

/// Which kind of resource a config record sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic's configs, by topic name.
    Topic,
    /// The broker's dynamic configs, by node id as a string ("" for the cluster default).
    Broker,
    /// A client metrics subscription (KIP-714), by subscription name.
    ClientMetrics,
    /// A group's configs (KIP-848), by group id.
    Group,
}

/// One change to cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A broker registered itself with its listeners.
    RegisterBroker {
        /// `node.id`.
        node_id: i32,
        /// Bumped on every registration, so a stale registration is recognisable.
        epoch: i64,
        /// Advertised listeners: (name, host, port).
        listeners: Vec<(String, String, u16)>,
        /// `broker.rack`, if set.
        rack: Option<String>,
    },
    /// A topic was created.
    Topic {
        /// The topic name, unique among live topics.
        name: String,
        /// The topic id, unique forever.
        topic_id: Uuid,
    },
    /// A partition was created or changed (leader, replicas, epochs).
    Partition {
        /// The topic it belongs to.
        topic_id: Uuid,
        /// Its index within the topic.
        partition: i32,
        /// All replicas.
        replicas: Vec<i32>,
        /// In-sync replicas.
        isr: Vec<i32>,
        /// Current leader, or -1.
        leader: i32,
        /// Bumped on every leader change.
        leader_epoch: i32,
        /// Bumped on every change of this partition.
        partition_epoch: i32,
    },
    /// A topic and its partitions were deleted.
    RemoveTopic {
        /// The topic deleted.
        topic_id: Uuid,
    },
    /// A config was set (`Some`) or removed (`None`).
    Config {
        /// Kind of resource.
        resource: ConfigResource,
        /// The resource's name.
        name: String,
        /// The config key, Kafka's name (`retention.ms`).
        key: String,
        /// The new value; `None` removes the override.
        value: Option<String>,
    },
    /// Producer ids up to (excluding) `next_producer_id` are handed out.
    ProducerIds {
        /// The first id not yet handed out.
        next_producer_id: i64,
    },
    /// A user's SCRAM credential for one mechanism was set (replacing any earlier one).
    ScramCredential(ScramCredentialEntry),
    /// A user's SCRAM credential for one mechanism was removed.
    RemoveScramCredential {
        /// The user.
        name: String,
        /// Kafka's mechanism code (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512).
        mechanism: i8,
    },
    /// An ACL was added.
    Acl(AclEntry),
    /// An ACL was removed (the entry equal to this one).
    RemoveAcl(AclEntry),
    /// A client quota was set (`Some`) or removed (`None`) for one entity (Kafka's
    /// `ClientQuotaRecord`).
    ClientQuota {
        /// The entity: entity type (`user`, `client-id`, `ip`) to name, `None` for the default.
        entity: QuotaEntity,
        /// The quota key (`producer_byte_rate`, ...).
        key: String,
        /// The new value; `None` removes it.
        value: Option<QuotaValue>,
    },
}

/// A client quota entity: entity type to name (`None` is the type's default), as Kafka's
/// `ClientQuotaEntity`. Ordered so images and describe answers come out in one order.
pub type QuotaEntity = std::collections::BTreeMap<String, Option<String>>;

/// A quota value. Kafka keeps quotas as doubles; compared by bits so records stay `Eq`.
#[derive(Debug, Clone, Copy)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// A SCRAM credential as the broker keeps it: never the password, only what RFC 5802 needs to
/// check a proof (Kafka's `UserScramCredentialRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentialEntry {
    /// The user.
    pub name: String,
    /// Kafka's mechanism code (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512).
    pub mechanism: i8,
    /// The salt.
    pub salt: Vec<u8>,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

/// One access control entry on a resource pattern, with Kafka's codes (`AccessControlEntryRecord`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclEntry {
    /// Resource type code (2 topic, 3 group, 4 cluster, 5 transactional id, ...).
    pub resource_type: i8,
    /// Resource name or prefix (`*` for the wildcard).
    pub resource_name: String,
    /// Pattern type code (3 literal, 4 prefixed).
    pub pattern_type: i8,
    /// `User:alice`.
    pub principal: String,
    /// Host, or `*`.
    pub host: String,
    /// Operation code.
    pub operation: i8,
    /// Permission code (2 deny, 3 allow).
    pub permission: i8,
}

const TYPE_REGISTER_BROKER: u8 = 1;
const TYPE_TOPIC: u8 = 2;
const TYPE_PARTITION: u8 = 3;
const TYPE_REMOVE_TOPIC: u8 = 4;
const TYPE_CONFIG: u8 = 5;
const TYPE_PRODUCER_IDS: u8 = 6;
const TYPE_SCRAM: u8 = 7;
const TYPE_REMOVE_SCRAM: u8 = 8;
const TYPE_ACL: u8 = 9;
const TYPE_REMOVE_ACL: u8 = 10;
/// Kafka's own number for `ClientQuotaRecord`, so it does not take the next free one others may want.
const TYPE_CLIENT_QUOTA: u8 = 14;
/// Most entity parts a quota entity may have (user, client-id, ip).
const QUOTA_ENTITY_PARTS_MAX: usize = 3;
/// The only version of each record type written so far.
const VERSION_0: u8 = 0;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("unknown metadata record type {0}")]
    UnknownType(u8),
    #[error("unknown version {version} of metadata record type {record_type}")]
    UnknownVersion { record_type: u8, version: u8 },
    #[error("malformed metadata record: {0}")]
    Malformed(#[from] DecodeError),
    #[error("metadata record has {0} trailing bytes")]
    TrailingBytes(usize),
    #[error("metadata record too long to encode: {0}")]
    TooLong(String),
}

fn put_str(buf: &mut BytesMut, s: &str) -> Result<(), RecordError> {
    c::put_string(buf, s, false, "metadata").map_err(|e| RecordError::TooLong(e.to_string()))
}

fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) -> Result<(), RecordError> {
    c::put_nullable_string(buf, s, false, "metadata").map_err(|e| RecordError::TooLong(e.to_string()))
}

fn put_ids(buf: &mut BytesMut, ids: &[i32]) -> Result<(), RecordError> {
    c::put_array_len(buf, Some(ids.len()), false, "metadata").map_err(|e| RecordError::TooLong(e.to_string()))?;
    for id in ids {
        buf.put_i32(*id);
    }
    Ok(())
}

fn put_blob(buf: &mut BytesMut, b: &[u8]) -> Result<(), RecordError> {
    c::put_bytes(buf, &Bytes::copy_from_slice(b), false, "metadata").map_err(|e| RecordError::TooLong(e.to_string()))
}

fn put_acl(buf: &mut BytesMut, a: &AclEntry) -> Result<(), RecordError> {
    buf.put_i8(a.resource_type);
    put_str(buf, &a.resource_name)?;
    buf.put_i8(a.pattern_type);
    put_str(buf, &a.principal)?;
    put_str(buf, &a.host)?;
    buf.put_i8(a.operation);
    buf.put_i8(a.permission);
    Ok(())
}

fn get_acl(b: &mut Bytes) -> Result<AclEntry, DecodeError> {
    Ok(AclEntry {
        resource_type: c::get_i8(b)?,
        resource_name: c::get_string(b, false, "resource_name")?,
        pattern_type: c::get_i8(b)?,
        principal: c::get_string(b, false, "principal")?,
        host: c::get_string(b, false, "host")?,
        operation: c::get_i8(b)?,
        permission: c::get_i8(b)?,
    })
}

fn put_quota(
    buf: &mut BytesMut,
    entity: &QuotaEntity,
    key: &str,
    value: Option<QuotaValue>,
) -> Result<(), RecordError> {
    c::put_array_len(buf, Some(entity.len()), false, "entity").map_err(|e| RecordError::TooLong(e.to_string()))?;
    for (entity_type, name) in entity {
        put_str(buf, entity_type)?;
        put_opt_str(buf, name.as_deref())?;
    }
    put_str(buf, key)?;
    match value {
        Some(v) => {
            buf.put_u8(1);
            buf.put_f64(v.0);
        }
        None => buf.put_u8(0),
    }
    Ok(())
}

fn get_quota(b: &mut Bytes) -> Result<MetadataRecord, RecordError> {
    let n = c::get_array_len_required(b, false, 3, "entity")?;
    if n > QUOTA_ENTITY_PARTS_MAX {
        return Err(RecordError::Malformed(DecodeError::ArrayTooLong {
            count: n as i64,
            remaining: b.len(),
        }));
    }
    let mut entity = QuotaEntity::new();
    for _ in 0..n {
        let entity_type = c::get_string(b, false, "entity_type")?;
        entity.insert(entity_type, c::get_nullable_string(b, false)?);
    }
    let key = c::get_string(b, false, "key")?;
    let value = match c::get_i8(b)? {
        0 => None,
        _ => Some(QuotaValue(f64::from_bits(c::get_i64(b)? as u64))),
    };
    Ok(MetadataRecord::ClientQuota { entity, key, value })
}

fn get_ids(buf: &mut Bytes) -> Result<Vec<i32>, DecodeError> {
    let n = c::get_array_len_required(buf, false, 4, "ids")?;
    let mut ids = c::vec_for(n);
    for _ in 0..n {
        ids.push(c::get_i32(buf)?);
    }
    Ok(ids)
}

impl MetadataRecord {
    /// Appends the encoded record.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), RecordError> {
        match self {
            MetadataRecord::RegisterBroker {
                node_id,
                epoch,
                listeners,
                rack,
            } => {
                buf.put_slice(&[TYPE_REGISTER_BROKER, VERSION_0]);
                buf.put_i32(*node_id);
                buf.put_i64(*epoch);
                c::put_array_len(buf, Some(listeners.len()), false, "listeners")
                    .map_err(|e| RecordError::TooLong(e.to_string()))?;
                for (name, host, port) in listeners {
                    put_str(buf, name)?;
                    put_str(buf, host)?;
                    buf.put_u16(*port);
                }
                put_opt_str(buf, rack.as_deref())?;
            }
            MetadataRecord::Topic { name, topic_id } => {
                buf.put_slice(&[TYPE_TOPIC, VERSION_0]);
                put_str(buf, name)?;
                c::put_uuid(buf, topic_id);
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                buf.put_slice(&[TYPE_PARTITION, VERSION_0]);
                c::put_uuid(buf, topic_id);
                buf.put_i32(*partition);
                put_ids(buf, replicas)?;
                put_ids(buf, isr)?;
                buf.put_i32(*leader);
                buf.put_i32(*leader_epoch);
                buf.put_i32(*partition_epoch);
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                buf.put_slice(&[TYPE_REMOVE_TOPIC, VERSION_0]);
                c::put_uuid(buf, topic_id);
            }
            MetadataRecord::Config {
                resource,
                name,
                key,
                value,
            } => {
                buf.put_slice(&[TYPE_CONFIG, VERSION_0]);
                buf.put_u8(match resource {
                    ConfigResource::Topic => 2,
                    ConfigResource::Broker => 4,
                    ConfigResource::ClientMetrics => 16,
                    ConfigResource::Group => 32,
                });
                put_str(buf, name)?;
                put_str(buf, key)?;
                put_opt_str(buf, value.as_deref())?;
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                buf.put_slice(&[TYPE_PRODUCER_IDS, VERSION_0]);
                buf.put_i64(*next_producer_id);
            }
            MetadataRecord::ScramCredential(e) => {
                buf.put_slice(&[TYPE_SCRAM, VERSION_0]);
                put_str(buf, &e.name)?;
                buf.put_i8(e.mechanism);
                put_blob(buf, &e.salt)?;
                put_blob(buf, &e.stored_key)?;
                put_blob(buf, &e.server_key)?;
                buf.put_i32(e.iterations);
            }
            MetadataRecord::RemoveScramCredential { name, mechanism } => {
                buf.put_slice(&[TYPE_REMOVE_SCRAM, VERSION_0]);
                put_str(buf, name)?;
                buf.put_i8(*mechanism);
            }
            MetadataRecord::Acl(a) => {
                buf.put_slice(&[TYPE_ACL, VERSION_0]);
                put_acl(buf, a)?;
            }
            MetadataRecord::RemoveAcl(a) => {
                buf.put_slice(&[TYPE_REMOVE_ACL, VERSION_0]);
                put_acl(buf, a)?;
            }
            MetadataRecord::ClientQuota { entity, key, value } => {
                buf.put_slice(&[TYPE_CLIENT_QUOTA, VERSION_0]);
                put_quota(buf, entity, key, *value)?;
            }
        }
        Ok(())
    }

    /// Reads a record that fills `buf` exactly.
    pub fn decode(mut buf: Bytes) -> Result<MetadataRecord, RecordError> {
        let record_type = c::get_i8(&mut buf)? as u8;
        let version = c::get_i8(&mut buf)? as u8;
        let known = matches!(
            record_type,
            TYPE_REGISTER_BROKER
                | TYPE_TOPIC
                | TYPE_PARTITION
                | TYPE_REMOVE_TOPIC
                | TYPE_CONFIG
                | TYPE_PRODUCER_IDS
                | TYPE_SCRAM
                | TYPE_REMOVE_SCRAM
                | TYPE_ACL
                | TYPE_REMOVE_ACL
                | TYPE_CLIENT_QUOTA
        );
        if !known {
            return Err(RecordError::UnknownType(record_type));
        }
        if version != VERSION_0 {
            return Err(RecordError::UnknownVersion { record_type, version });
        }
        let b = &mut buf;
        let record = match record_type {
            TYPE_REGISTER_BROKER => {
                let node_id = c::get_i32(b)?;
                let epoch = c::get_i64(b)?;
                let n = c::get_array_len_required(b, false, 6, "listeners")?;
                let mut listeners = c::vec_for(n);
                for _ in 0..n {
                    listeners.push((
                        c::get_string(b, false, "name")?,
                        c::get_string(b, false, "host")?,
                        c::get_u16(b)?,
                    ));
                }
                MetadataRecord::RegisterBroker {
                    node_id,
                    epoch,
                    listeners,
                    rack: c::get_nullable_string(b, false)?,
                }
            }
            TYPE_TOPIC => MetadataRecord::Topic {
                name: c::get_string(b, false, "name")?,
                topic_id: c::get_uuid(b)?,
            },
            TYPE_PARTITION => MetadataRecord::Partition {
                topic_id: c::get_uuid(b)?,
                partition: c::get_i32(b)?,
                replicas: get_ids(b)?,
                isr: get_ids(b)?,
                leader: c::get_i32(b)?,
                leader_epoch: c::get_i32(b)?,
                partition_epoch: c::get_i32(b)?,
            },
            TYPE_REMOVE_TOPIC => MetadataRecord::RemoveTopic {
                topic_id: c::get_uuid(b)?,
            },
            TYPE_CONFIG => {
                let resource = match c::get_i8(b)? {
                    2 => ConfigResource::Topic,
                    4 => ConfigResource::Broker,
                    16 => ConfigResource::ClientMetrics,
                    32 => ConfigResource::Group,
                    other => return Err(RecordError::UnknownType(other as u8)),
                };
                MetadataRecord::Config {
                    resource,
                    name: c::get_string(b, false, "name")?,
                    key: c::get_string(b, false, "key")?,
                    value: c::get_nullable_string(b, false)?,
                }
            }
            TYPE_SCRAM => MetadataRecord::ScramCredential(ScramCredentialEntry {
                name: c::get_string(b, false, "name")?,
                mechanism: c::get_i8(b)?,
                salt: c::get_bytes(b, false, "salt")?.to_vec(),
                stored_key: c::get_bytes(b, false, "stored_key")?.to_vec(),
                server_key: c::get_bytes(b, false, "server_key")?.to_vec(),
                iterations: c::get_i32(b)?,
            }),
            TYPE_REMOVE_SCRAM => MetadataRecord::RemoveScramCredential {
                name: c::get_string(b, false, "name")?,
                mechanism: c::get_i8(b)?,
            },
            TYPE_ACL => MetadataRecord::Acl(get_acl(b)?),
            TYPE_REMOVE_ACL => MetadataRecord::RemoveAcl(get_acl(b)?),
            TYPE_CLIENT_QUOTA => get_quota(b)?,
            _ => MetadataRecord::ProducerIds {
                next_producer_id: c::get_i64(b)?,
            },
        };
        if !buf.is_empty() {
            return Err(RecordError::TrailingBytes(buf.len()));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<MetadataRecord> {
        vec![
            MetadataRecord::RegisterBroker {
                node_id: 1,
                epoch: 7,
                listeners: vec![
                    ("EXTERNAL".into(), "localhost".into(), 9092),
                    ("INTERNAL".into(), "kafka".into(), 29092),
                ],
                rack: None,
            },
            MetadataRecord::Topic {
                name: "orders".into(),
                topic_id: Uuid([3; 16]),
            },
            MetadataRecord::Partition {
                topic_id: Uuid([3; 16]),
                partition: 2,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            },
            MetadataRecord::Config {
                resource: ConfigResource::Topic,
                name: "orders".into(),
                key: "retention.ms".into(),
                value: Some("1000".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker,
                name: "1".into(),
                key: "x".into(),
                value: None,
            },
            MetadataRecord::Config {
                resource: ConfigResource::ClientMetrics,
                name: "sub".into(),
                key: "interval.ms".into(),
                value: Some("1000".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Group,
                name: "g".into(),
                key: "consumer.session.timeout.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic {
                topic_id: Uuid([3; 16]),
            },
            MetadataRecord::ProducerIds { next_producer_id: 5000 },
            MetadataRecord::ScramCredential(ScramCredentialEntry {
                name: "alice".into(),
                mechanism: 2,
                salt: vec![1, 2, 3],
                stored_key: vec![4; 64],
                server_key: vec![5; 64],
                iterations: 4096,
            }),
            MetadataRecord::RemoveScramCredential {
                name: "alice".into(),
                mechanism: 1,
            },
            MetadataRecord::Acl(AclEntry {
                resource_type: 2,
                resource_name: "franc.".into(),
                pattern_type: 4,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: 4,
                permission: 3,
            }),
            MetadataRecord::RemoveAcl(AclEntry {
                resource_type: 4,
                resource_name: "kafka-cluster".into(),
                pattern_type: 3,
                principal: "User:*".into(),
                host: "127.0.0.1".into(),
                operation: 2,
                permission: 2,
            }),
            MetadataRecord::ClientQuota {
                entity: [
                    ("user".to_string(), Some("alice".to_string())),
                    ("client-id".into(), None),
                ]
                .into_iter()
                .collect(),
                key: "producer_byte_rate".into(),
                value: Some(QuotaValue(1024.5)),
            },
            MetadataRecord::ClientQuota {
                entity: [("ip".to_string(), None)].into_iter().collect(),
                key: "connection_creation_rate".into(),
                value: None,
            },
        ]
    }

    #[test]
    fn every_record_round_trips() {
        for r in samples() {
            let mut buf = BytesMut::new();
            r.encode(&mut buf).unwrap();
            assert_eq!(MetadataRecord::decode(buf.freeze()).unwrap(), r);
        }
    }

    #[test]
    fn unknown_types_versions_and_truncation_are_errors() {
        assert_eq!(
            MetadataRecord::decode(Bytes::from_static(&[99, 0])),
            Err(RecordError::UnknownType(99))
        );
        assert_eq!(
            MetadataRecord::decode(Bytes::from_static(&[TYPE_TOPIC, 1])),
            Err(RecordError::UnknownVersion {
                record_type: TYPE_TOPIC,
                version: 1
            })
        );
        for r in samples() {
            let mut buf = BytesMut::new();
            r.encode(&mut buf).unwrap();
            for cut in 0..buf.len() {
                assert!(
                    MetadataRecord::decode(buf.clone().freeze().slice(..cut)).is_err(),
                    "{r:?} cut at {cut}"
                );
            }
        }
    }
}

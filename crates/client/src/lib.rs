//! `sluice-client`: a small async Kafka client on [`sluice_protocol`] that works against any
//! Kafka-compatible broker.
//!
//! - [`Connection`]: one broker; frames, correlation ids, pipelining, ApiVersions negotiation
//!   (the highest version both sides support, capped at what this client knows how to fill in),
//!   timeouts.
//! - [`Client`]: the cluster view: bootstrap, Metadata, routing to leaders, admin operations
//!   (topics, partitions, configs, cluster), ListOffsets, and consumer group administration
//!   (list, describe, committed offsets, commit, delete) through each group's coordinator.
//! - [`Producer`]: batching by partition with linger and batch size, compression, acks 0/1/all,
//!   optional idempotence, bounded memory.
//! - [`Consumer`]: group-less reads from earliest, latest, an offset or a timestamp, with long
//!   polls.
//!
//! - ACLs ([`Client::create_acls`], [`Client::describe_acls`], [`Client::delete_acls`]) and SCRAM
//!   credentials ([`Client::alter_user_scram_credentials`],
//!   [`Client::describe_user_scram_credentials`]).
//! - [`Security`]: TLS (rustls, ring) and SASL (PLAIN, SCRAM-SHA-256/512) for every
//!   connection, from Kafka client properties ([`Security::from_properties_file`]).
//!
//! Errors are [`Error`]s; the broker's error codes keep their Kafka names in messages.

mod client;
mod connection;
mod consumer;
mod error;
mod groups;
mod producer;
mod security;
mod security_admin;

pub use client::{
    BrokerInfo, Client, ClientConfig, ClusterInfo, ConfigEntry, Metadata, NewTopic, OffsetSpec, PartitionInfo,
    TopicInfo,
};
pub use connection::{Connection, PendingResponse};
pub use consumer::{ConsumedRecord, Consumer, ConsumerConfig};
pub use error::{Error, Result};
pub use groups::{
    CommittedOffset, Coordinator, GroupDescription, GroupMember, ListGroupsFilter, ListedGroup, TopicPartition,
    decode_consumer_assignment,
};
pub use producer::{Delivery, Producer, ProducerConfig, murmur2};
pub use security::{SECURITY_PROPERTIES, SaslConfig, SaslMechanism, Security, SecurityProtocol, tls_config};
pub use security_admin::{ScramUpsertion, UserScramCredentials};
pub use sluice_protocol::records::{Compression, Header, NewRecord};
/// The ACL vocabulary (with Kafka's wire codes) and SCRAM mechanisms the admin methods take.
pub use sluice_security::acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
pub use sluice_security::scram::ScramMechanism;

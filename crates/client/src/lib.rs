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
//! Errors are [`Error`]s; the broker's error codes keep their Kafka names in messages.

mod client;
mod connection;
mod consumer;
mod error;
mod groups;
mod producer;

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
pub use sluice_protocol::records::{Compression, Header, NewRecord};

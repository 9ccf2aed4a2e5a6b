//! Sluice's group coordinator: consumer groups and their committed offsets.
//!
//! The coordinator is a state machine with no I/O ([`Coordinator`]): requests and timer
//! expirations go in, and out come the records to append to the internal, compacted topic
//! `__consumer_offsets` and the replies to send once those records are durable. On start the
//! broker replays `__consumer_offsets` into a fresh coordinator ([`Coordinator::replay`]), so
//! committed offsets and group membership survive restarts. The broker crate owns the runtime
//! around it: the lock, the clock, the log appends, and the connections waiting for replies.
//!
//! - [`records`]: the `__consumer_offsets` key and value formats (Kafka's own).
//! - [`classic`]: a classic (JoinGroup/SyncGroup) group's members and bookkeeping.
//! - [`consumer`]: KIP-848 consumer groups (ConsumerGroupHeartbeat): epochs, incremental
//!   reconciliation; [`assignor`] computes their target assignments, [`consumer_records`]
//!   persists them.
//! - [`migration`]: online conversion of live groups between the two protocols, and the
//!   classic members of consumer groups.
//! - [`coordinator`]: the protocol rules: rebalances, static membership, offsets, admin.
//! - [`timer`]: the deadlines the coordinator keeps (sessions, join and sync phases).

pub mod assignor;
pub mod classic;
pub mod consumer;
pub mod consumer_protocol;
pub mod consumer_records;
pub mod coordinator;
pub mod migration;
pub mod records;
pub mod timer;

pub use classic::{CONSUMER_PROTOCOL_TYPE, ClassicState};
pub use consumer::TopicView;
pub use coordinator::{
    Client, CommitOffset, CommitRequest, Coordinator, Effects, GroupConfig, GroupOverrides, Reply, ReplyId,
};
pub use migration::MigrationPolicy;
pub use records::{CoordinatorRecord, OffsetValue, partition_for};

/// The internal topic holding group state and offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

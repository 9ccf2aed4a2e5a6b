//! Sluice's Kafka wire protocol codec.

pub mod records;

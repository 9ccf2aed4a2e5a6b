//! Broker and topic configuration with Kafka property names.

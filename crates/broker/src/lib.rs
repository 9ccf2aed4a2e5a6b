//! The Kafka broker: listeners, connections, and one handler module per API.

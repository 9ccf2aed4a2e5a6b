//! Broker and topic configuration with Kafka property names.
//!
//! Sluice reads the same `server.properties` a Kafka 4.0 KRaft combined-mode
//! node reads. This crate parses it ([`parse_properties`]), layers defaults,
//! the file, the environment and command-line overrides, and validates the
//! result into typed structs. It does no I/O beyond reading the one file it is
//! given, and does no logging: warnings are returned as data.

mod error;
mod properties;

pub use error::{ConfigError, ConfigWarning, Origin, WarningKind};
pub use properties::{MAX_ENTRIES, MAX_FILE_BYTES, MAX_LINE_BYTES, PropertyEntry, parse_properties};
mod broker;
mod defs;
mod layers;

pub use broker::{
    BrokerConfig, CleanupPolicy, CompressionType, Listener, LoadedConfig, SecurityProtocol, TimestampType,
    broker_config_type, load, load_from_str,
};
pub use defs::{ConfigType, DEFAULT_MAX_CONNECTIONS, DEFAULT_QUEUED_MAX_REQUEST_BYTES};
pub use layers::{
    MAX_VALUE_BYTES, RawConfig, RawValue, SLUICE_NON_CONFIG_ENV_VARS, env_var_to_key, layer, read_config_file,
};
mod topic;

pub use topic::{
    ConfigEntry, ConfigSource, ConfigSynonym, TopicConfig, describe_broker, describe_topic, topic_config_names,
    validate_topic_overrides,
};

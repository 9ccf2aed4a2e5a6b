//! Broker and topic configuration with Kafka property names.
//!
//! Sluice reads the same `server.properties` a Kafka 4.0 KRaft combined-mode
//! node reads. This crate parses it ([`parse_properties`]), layers defaults,
//! the file, the environment and command-line overrides, and validates the
//! result into typed structs. It does no I/O beyond reading the one file it is
//! given, and does no logging: warnings are returned as data.
//!
//! Precedence, lowest to highest: built-in defaults, the `-c` file,
//! `KAFKA_*` then `SLUICE_*` environment variables, `-o key=value` overrides.
//!
//! ```
//! let env = vec![("KAFKA_LOG_RETENTION_HOURS".to_string(), "24".to_string())];
//! let overrides = vec!["listeners=PLAINTEXT://127.0.0.1:0".to_string()];
//! let loaded = sluice_config::load_from_str(Some("num.partitions=3\nfoo=1\n"), &env, &overrides).unwrap();
//! assert_eq!(loaded.config.num_partitions, 3);
//! assert_eq!(loaded.config.log_retention_ms, 24 * 3_600_000);
//! assert_eq!(loaded.warnings.len(), 1); // `foo` is unknown
//!
//! // Topic-level configuration: validate overrides, resolve, describe.
//! let overrides = [("retention.ms", "60000")];
//! sluice_config::validate_topic_overrides(overrides).unwrap();
//! let topic = sluice_config::TopicConfig::resolve(&loaded.config, &overrides).unwrap();
//! assert_eq!(topic.retention_ms, 60_000);
//! let entries = sluice_config::describe_topic(&loaded.config, &overrides).unwrap();
//! let r = entries.iter().find(|e| e.name == "retention.ms").unwrap();
//! assert_eq!(r.source, sluice_config::ConfigSource::DynamicTopicConfig);
//! ```

mod broker;
mod defs;
mod dynamic;
mod error;
mod layers;
mod properties;
mod security;
mod topic;

pub use broker::{
    BrokerConfig, CleanupPolicy, CompressionType, Listener, LoadedConfig, SecurityProtocol, TimestampType,
    broker_config_type, load, load_from_str,
};
pub use defs::{ConfigType, DEFAULT_MAX_CONNECTIONS, DEFAULT_QUEUED_MAX_REQUEST_BYTES};
pub use dynamic::{DynamicBrokerConfigs, is_dynamic_broker_config, validate_dynamic_broker_configs};
pub use error::{ConfigError, ConfigWarning, Origin, WarningKind};
pub use layers::{
    MAX_VALUE_BYTES, RawConfig, RawValue, SLUICE_NON_CONFIG_ENV_VARS, env_var_to_key, layer, read_config_file,
};
pub use properties::{MAX_ENTRIES, MAX_FILE_BYTES, MAX_LINE_BYTES, PropertyEntry, parse_properties};
pub use security::{
    OAUTH_UNSECURED_VALIDATOR_CLASS, OAUTH_VALIDATOR_CLASS, OAUTH_VALIDATOR_CLASS_OLD, SASL_MECHANISMS, SecurityConfig,
};
pub use topic::{
    ConfigEntry, ConfigSource, ConfigSynonym, TopicConfig, describe_broker, describe_broker_dynamic, describe_topic,
    describe_topic_dynamic, dynamic_topic_defaults, topic_config_names, validate_topic_overrides,
};

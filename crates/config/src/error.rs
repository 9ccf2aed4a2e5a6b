//! Errors that stop start-up (or reject a topic change) and warnings that don't.

use std::fmt;

/// A configuration problem that must stop the broker from starting, or
/// (for topic configs) make a request fail with `INVALID_CONFIG`.
/// Every message is a full sentence naming the key, the bad value and what
/// is allowed, so an operator can fix the file without reading source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The properties text could not be read as Java properties.
    #[error("Line {line} of the configuration is malformed: {message}.")]
    Syntax {
        /// 1-based line where the bad entry starts.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// An input exceeded one of Sluice's size limits.
    #[error("The {what} exceeds Sluice's limit of {limit}.")]
    TooLarge {
        /// Which input was too large.
        what: String,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The configuration file could not be read.
    #[error("Could not read the configuration file '{path}': {message}.")]
    Io {
        /// The path given on the command line.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// A `--override` argument was not of the form `key=value`.
    #[error("The override '{arg}' is not of the form key=value.")]
    BadOverride {
        /// The argument as given.
        arg: String,
    },
    /// A key has a value outside what it accepts.
    #[error("Invalid value '{value}' for configuration '{key}': {allowed}.")]
    InvalidValue {
        /// The property name, as Kafka spells it.
        key: String,
        /// The value as given (after unescaping).
        value: String,
        /// What the key accepts, e.g. "must be an integer between 0 and 2147483647".
        allowed: String,
    },
    /// A security setting Sluice cannot enforce, or an unusable value for one. The value is
    /// never part of the message: security keys hold passwords and keys.
    #[error("Configuration '{key}' cannot be used: {message}.")]
    Security {
        /// The property name, as given.
        key: String,
        /// Why, and what to do instead.
        message: String,
    },
    /// A topic-level config name that Kafka does not know. Kafka rejects
    /// these in CreateTopics/AlterConfigs with `INVALID_CONFIG`.
    #[error("Unknown topic config name '{key}'; valid names are: {valid}.")]
    UnknownTopicConfig {
        /// The name that was given.
        key: String,
        /// Comma-separated list of valid topic config names.
        valid: String,
    },
}

impl ConfigError {
    /// The key this error is about, if any; lets the broker fill the
    /// per-resource error message in protocol responses.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidValue { key, .. } | ConfigError::UnknownTopicConfig { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Where a raw value came from; used for warnings and for DescribeConfigs
/// sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Kafka's (or Sluice's) built-in default.
    Default,
    /// The properties file given with `-c`, at this 1-based line.
    File {
        /// Line in the file.
        line: usize,
    },
    /// An environment variable with this name.
    Env {
        /// The variable name, e.g. `KAFKA_LOG_RETENTION_HOURS`.
        var: String,
    },
    /// A `--override key=value` argument.
    Override,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "the default"),
            Origin::File { line } => write!(f, "line {line} of the configuration file"),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Override => write!(f, "a command-line override"),
        }
    }
}

/// Why a warning was raised; lets the broker pick a log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Neither Kafka nor Sluice knows this key (likely a typo).
    UnknownKey,
    /// A `SLUICE_*` environment variable that maps to no known key.
    UnknownEnvVar,
    /// A Kafka key Sluice accepts but which has no effect (tuning knobs for
    /// Kafka's thread pools, replication settings of a multi-node cluster...).
    Ignored,
    /// A key Kafka 4.0 removed or deprecated (ZooKeeper settings) or an alias.
    Deprecated,
}

/// A configuration problem that does not stop start-up. Returned as data so
/// the library does no logging and tests can assert on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The category, for choosing a log level.
    pub kind: WarningKind,
    /// The property name (or environment variable name for `UnknownEnvVar`).
    pub key: String,
    /// Where the offending setting came from.
    pub origin: Origin,
    /// Human-readable explanation, a full sentence.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.message, self.origin)
    }
}

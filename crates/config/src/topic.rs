//! Topic-level configuration (Kafka's `TopicConfig` names), its broker-level
//! defaults, and DescribeConfigs entries for topics and the broker.

use crate::ConfigError;
use crate::DynamicBrokerConfigs;
use crate::broker::{BrokerConfig, CleanupPolicy, CompressionType, TimestampType, broker_defs, invalid};
use crate::defs::{
    CLEANUP_POLICIES, COMPRESSION_TYPES, Check, ConfigType, I32_MAX, I64_MAX, TIMESTAMP_TYPES, broker_key, check_value,
};

/// Where a described value comes from (Kafka's `ConfigSource`; the
/// discriminants are the DescribeConfigs wire values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum ConfigSource {
    /// Source not known.
    Unknown = 0,
    /// A per-topic override (CreateTopics configs or AlterConfigs).
    DynamicTopicConfig = 1,
    /// A per-broker dynamic setting (AlterConfigs on this node's id).
    DynamicBrokerConfig = 2,
    /// A cluster-wide dynamic default (AlterConfigs on the broker resource "").
    DynamicDefaultBrokerConfig = 3,
    /// Set in server.properties, the environment or `--override`.
    StaticBrokerConfig = 4,
    /// Built-in default.
    DefaultConfig = 5,
    /// A dynamic logger level.
    DynamicBrokerLoggerConfig = 6,
    /// A client-metrics subscription.
    ClientMetricsConfig = 7,
    /// A per-group dynamic setting.
    GroupConfig = 8,
}

impl ConfigSource {
    /// The wire value.
    pub fn code(self) -> i8 {
        self as i8
    }
    /// Kafka's name, e.g. `STATIC_BROKER_CONFIG`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            Self::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            Self::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            Self::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            Self::DefaultConfig => "DEFAULT_CONFIG",
            Self::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
            Self::ClientMetricsConfig => "CLIENT_METRICS_CONFIG",
            Self::GroupConfig => "GROUP_CONFIG",
        }
    }
}

/// One synonym of a described config, in Kafka's order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The synonym's name, e.g. `log.retention.hours`.
    pub name: String,
    /// Its value in that source; `None` when null.
    pub value: Option<String>,
    /// Which layer holds this value.
    pub source: ConfigSource,
}

/// One entry of a DescribeConfigs response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name.
    pub name: String,
    /// Effective value; `None` for null (and would be for sensitive values).
    pub value: Option<String>,
    /// Where the effective value comes from.
    pub source: ConfigSource,
    /// Whether the value is secret (never true for Sluice's keys today).
    pub is_sensitive: bool,
    /// True when AlterConfigs may not change it: broker keys Sluice cannot apply at runtime;
    /// never a topic key.
    pub read_only: bool,
    /// Type for clients such as kafka-ui and the admin CLI.
    pub config_type: ConfigType,
    /// Kafka's documentation string (DescribeConfigs v3+ with include_documentation).
    pub documentation: String,
    /// Other names that set this value, highest precedence first.
    pub synonyms: Vec<ConfigSynonym>,
}

struct TopicDef {
    name: &'static str,
    ty: ConfigType,
    check: Check,
    /// Broker keys that provide the default, highest precedence first.
    synonyms: &'static [&'static str],
    doc: &'static str,
}

macro_rules! t {
    ($name:expr, $ty:ident, $check:expr, $syn:expr, $doc:expr) => {
        TopicDef {
            name: $name,
            ty: ConfigType::$ty,
            check: $check,
            synonyms: $syn,
            doc: $doc,
        }
    };
}

use Check::*;

const TOPIC_KEYS: &[TopicDef] = &[
    t!(
        "cleanup.policy",
        List,
        ListOf(CLEANUP_POLICIES),
        &["log.cleanup.policy"],
        "A string that is either \"delete\" or \"compact\" or both. Designates the retention policy to use on old log segments."
    ),
    t!(
        "compression.type",
        String,
        OneOf(COMPRESSION_TYPES),
        &["compression.type"],
        "Specify the final compression type for a given topic: uncompressed, zstd, lz4, snappy, gzip, or producer (retain the producer's codec)."
    ),
    t!(
        "compression.gzip.level",
        Int,
        RangeOr(1, 9, -1),
        &["compression.gzip.level"],
        "The compression level to use if compression.type is set to gzip."
    ),
    t!(
        "compression.lz4.level",
        Int,
        Range(1, 17),
        &["compression.lz4.level"],
        "The compression level to use if compression.type is set to lz4."
    ),
    t!(
        "compression.zstd.level",
        Int,
        Range(-131072, 22),
        &["compression.zstd.level"],
        "The compression level to use if compression.type is set to zstd."
    ),
    t!(
        "delete.retention.ms",
        Long,
        Range(0, I64_MAX),
        &["log.cleaner.delete.retention.ms"],
        "The amount of time to retain delete tombstone markers for log compacted topics."
    ),
    t!(
        "file.delete.delay.ms",
        Long,
        Range(0, I64_MAX),
        &["log.segment.delete.delay.ms"],
        "The time to wait before deleting a file from the filesystem."
    ),
    t!(
        "flush.messages",
        Long,
        Range(1, I64_MAX),
        &["log.flush.interval.messages"],
        "The number of messages written to a log partition before an fsync is forced."
    ),
    t!(
        "flush.ms",
        Long,
        Range(0, I64_MAX),
        &["log.flush.interval.ms"],
        "The time interval after which an fsync of data written to the log is forced."
    ),
    t!(
        "index.interval.bytes",
        Int,
        Range(0, I32_MAX),
        &["log.index.interval.bytes"],
        "How frequently Kafka adds an index entry to its offset index."
    ),
    t!(
        "max.message.bytes",
        Int,
        Range(0, I32_MAX),
        &["message.max.bytes"],
        "The largest record batch size allowed by Kafka (after compression if compression is enabled)."
    ),
    t!(
        "max.compaction.lag.ms",
        Long,
        Range(1, I64_MAX),
        &["log.cleaner.max.compaction.lag.ms"],
        "The maximum time a message will remain ineligible for compaction in the log."
    ),
    t!(
        "message.timestamp.after.max.ms",
        Long,
        Range(0, I64_MAX),
        &["log.message.timestamp.after.max.ms"],
        "The maximum allowed difference by which a message timestamp may be ahead of the broker's timestamp."
    ),
    t!(
        "message.timestamp.before.max.ms",
        Long,
        Range(0, I64_MAX),
        &["log.message.timestamp.before.max.ms"],
        "The maximum allowed difference by which a message timestamp may be behind the broker's timestamp."
    ),
    t!(
        "message.timestamp.type",
        String,
        OneOf(TIMESTAMP_TYPES),
        &["log.message.timestamp.type"],
        "Define whether the timestamp in the message is message create time or log append time."
    ),
    t!(
        "min.cleanable.dirty.ratio",
        Double,
        DoubleRange(0.0, 1.0),
        &["log.cleaner.min.cleanable.ratio"],
        "How frequently the log compactor will attempt to clean the log (ratio of dirty log to total log)."
    ),
    t!(
        "min.compaction.lag.ms",
        Long,
        Range(0, I64_MAX),
        &["log.cleaner.min.compaction.lag.ms"],
        "The minimum time a message will remain uncompacted in the log."
    ),
    t!(
        "min.insync.replicas",
        Int,
        Range(1, I32_MAX),
        &["min.insync.replicas"],
        "The minimum number of replicas that must acknowledge a write for acks=all to succeed."
    ),
    t!(
        "preallocate",
        Boolean,
        Bool,
        &["log.preallocate"],
        "True if we should preallocate the file on disk when creating a new log segment."
    ),
    t!(
        "retention.bytes",
        Long,
        Range(i64::MIN, I64_MAX),
        &["log.retention.bytes"],
        "The maximum size a partition can grow to before old segments are discarded under the delete policy. -1 means no size limit."
    ),
    t!(
        "retention.ms",
        Long,
        Range(-1, I64_MAX),
        &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
        "The maximum time a log is retained before old segments are discarded under the delete policy. -1 means no time limit."
    ),
    t!(
        "segment.bytes",
        Int,
        Range(1_048_576, I32_MAX),
        &["log.segment.bytes"],
        "The segment file size for the log."
    ),
    t!(
        "segment.index.bytes",
        Int,
        Range(4, I32_MAX),
        &["log.index.size.max.bytes"],
        "The size of the index that maps offsets to file positions."
    ),
    t!(
        "segment.jitter.ms",
        Long,
        Range(0, I64_MAX),
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling."
    ),
    t!(
        "segment.ms",
        Long,
        Range(1, I64_MAX),
        &["log.roll.ms", "log.roll.hours"],
        "The period of time after which Kafka will force the log to roll even if the segment file isn't full."
    ),
    t!(
        "unclean.leader.election.enable",
        Boolean,
        Bool,
        &["unclean.leader.election.enable"],
        "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort."
    ),
];

fn topic_def(name: &str) -> Option<&'static TopicDef> {
    TOPIC_KEYS.iter().find(|d| d.name == name)
}

/// Every topic config name Sluice knows, in alphabetical order.
pub fn topic_config_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = TOPIC_KEYS.iter().map(|d| d.name).collect();
    names.sort_unstable();
    names
}

/// The effective configuration of one topic: per-topic overrides on top of
/// the broker's defaults. Field names are Kafka's topic keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// `cleanup.policy`: delete and/or compact old segments.
    pub cleanup_policy: CleanupPolicy,
    /// `compression.type`: recompression on append.
    pub compression_type: CompressionType,
    /// `compression.gzip.level`: level when recompressing with gzip (-1 = default).
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`: level when recompressing with lz4.
    pub compression_lz4_level: i32,
    /// `compression.zstd.level`: level when recompressing with zstd.
    pub compression_zstd_level: i32,
    /// `delete.retention.ms`: tombstone lifetime under compaction.
    pub delete_retention_ms: i64,
    /// `file.delete.delay.ms`: grace period before a deleted segment's files go.
    pub file_delete_delay_ms: i64,
    /// `flush.messages`: fsync after this many messages.
    pub flush_messages: i64,
    /// `flush.ms`: fsync after this long.
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes between offset index entries.
    pub index_interval_bytes: i32,
    /// `max.message.bytes`: largest batch a producer may append.
    pub max_message_bytes: i32,
    /// `max.compaction.lag.ms`: compaction must happen within this.
    pub max_compaction_lag_ms: i64,
    /// `min.compaction.lag.ms`: messages stay uncompacted at least this long.
    pub min_compaction_lag_ms: i64,
    /// `preallocate`: preallocate segment files.
    pub preallocate: bool,
    /// `segment.jitter.ms`: random reduction of the roll time.
    pub segment_jitter_ms: i64,
    /// `unclean.leader.election.enable`: no effect on one node; reported only.
    pub unclean_leader_election_enable: bool,
    /// `message.timestamp.after.max.ms`: reject CreateTime further in the future.
    pub message_timestamp_after_max_ms: i64,
    /// `message.timestamp.before.max.ms`: reject CreateTime further in the past.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.type`: keep the producer's time or stamp append time.
    pub message_timestamp_type: TimestampType,
    /// `min.cleanable.dirty.ratio`: when compaction runs.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.insync.replicas`: for acks=all.
    pub min_insync_replicas: i32,
    /// `retention.bytes`: partition size limit; negative = unlimited.
    pub retention_bytes: i64,
    /// `retention.ms`: time limit; -1 = unlimited.
    pub retention_ms: i64,
    /// `segment.bytes`: roll size.
    pub segment_bytes: i32,
    /// `segment.index.bytes`: offset index size cap.
    pub segment_index_bytes: i32,
    /// `segment.ms`: roll time.
    pub segment_ms: i64,
}

/// Checks topic overrides as CreateTopics/AlterConfigs/IncrementalAlterConfigs
/// must: every name known, every value valid. Errors map to `INVALID_CONFIG`.
pub fn validate_topic_overrides<K: AsRef<str>, V: AsRef<str>>(
    overrides: impl IntoIterator<Item = (K, V)>,
) -> Result<(), ConfigError> {
    for (k, v) in overrides {
        let (k, v) = (k.as_ref(), v.as_ref());
        let Some(d) = topic_def(k) else {
            return Err(ConfigError::UnknownTopicConfig {
                key: k.to_string(),
                valid: topic_config_names().join(", "),
            });
        };
        check_value(k, v, d.ty, d.check)?;
    }
    Ok(())
}

fn find<'a, K: AsRef<str>, V: AsRef<str>>(overrides: &'a [(K, V)], key: &str) -> Option<&'a str> {
    // Last one wins, as with properties.
    overrides
        .iter()
        .rev()
        .find(|(k, _)| k.as_ref() == key)
        .map(|(_, v)| v.as_ref().trim())
}

impl TopicConfig {
    /// The configuration a topic without overrides gets from this broker.
    pub fn from_broker(b: &BrokerConfig) -> TopicConfig {
        TopicConfig {
            cleanup_policy: b.log_cleanup_policy,
            compression_type: b.compression_type,
            compression_gzip_level: b.compression_gzip_level,
            compression_lz4_level: b.compression_lz4_level,
            compression_zstd_level: b.compression_zstd_level,
            delete_retention_ms: b.log_cleaner_delete_retention_ms,
            max_compaction_lag_ms: b.log_cleaner_max_compaction_lag_ms,
            min_compaction_lag_ms: b.log_cleaner_min_compaction_lag_ms,
            preallocate: b.log_preallocate,
            segment_jitter_ms: b.log_roll_jitter_ms,
            unclean_leader_election_enable: b.unclean_leader_election_enable,
            file_delete_delay_ms: b.log_segment_delete_delay_ms,
            flush_messages: b.log_flush_interval_messages,
            flush_ms: b.log_flush_interval_ms,
            index_interval_bytes: b.log_index_interval_bytes,
            max_message_bytes: b.message_max_bytes,
            message_timestamp_after_max_ms: b.log_message_timestamp_after_max_ms,
            message_timestamp_before_max_ms: b.log_message_timestamp_before_max_ms,
            message_timestamp_type: b.log_message_timestamp_type,
            min_cleanable_dirty_ratio: b.log_cleaner_min_cleanable_ratio,
            min_insync_replicas: b.min_insync_replicas,
            retention_bytes: b.log_retention_bytes,
            retention_ms: b.log_retention_ms,
            segment_bytes: b.log_segment_bytes,
            segment_index_bytes: b.log_index_size_max_bytes,
            segment_ms: b.log_roll_ms,
        }
    }

    /// Validates `overrides` and applies them over the broker's defaults.
    pub fn resolve<K: AsRef<str>, V: AsRef<str>>(
        broker: &BrokerConfig,
        overrides: &[(K, V)],
    ) -> Result<TopicConfig, ConfigError> {
        validate_topic_overrides(overrides.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
        let mut t = TopicConfig::from_broker(broker);
        let int = |k: &str| -> Result<Option<i64>, ConfigError> {
            find(overrides, k)
                .map(|v| v.parse::<i64>().map_err(|_| invalid(k, v, "must be an integer")))
                .transpose()
        };
        let int32 = |k: &str| -> Result<Option<i32>, ConfigError> {
            int(k)?
                .map(|n| i32::try_from(n).map_err(|_| invalid(k, &n.to_string(), "must fit in a 32-bit integer")))
                .transpose()
        };
        if let Some(v) = find(overrides, "cleanup.policy") {
            t.cleanup_policy = CleanupPolicy::parse(v);
        }
        if let Some(v) = find(overrides, "compression.type") {
            t.compression_type =
                CompressionType::parse(v).ok_or_else(|| invalid("compression.type", v, "unknown compression type"))?;
        }
        if let Some(v) = find(overrides, "message.timestamp.type") {
            t.message_timestamp_type = TimestampType::parse(v)
                .ok_or_else(|| invalid("message.timestamp.type", v, "must be CreateTime or LogAppendTime"))?;
        }
        if let Some(v) = find(overrides, "min.cleanable.dirty.ratio") {
            t.min_cleanable_dirty_ratio = v
                .parse()
                .map_err(|_| invalid("min.cleanable.dirty.ratio", v, "must be a number"))?;
        }
        let boolean = |k: &str| -> Result<Option<bool>, ConfigError> {
            find(overrides, k)
                .map(|v| crate::defs::parse_bool(v).ok_or_else(|| invalid(k, v, "must be true or false")))
                .transpose()
        };
        if let Some(b) = boolean("preallocate")? {
            t.preallocate = b;
        }
        if let Some(b) = boolean("unclean.leader.election.enable")? {
            t.unclean_leader_election_enable = b;
        }
        if let Some(n) = int32("compression.gzip.level")? {
            t.compression_gzip_level = n;
        }
        if let Some(n) = int32("compression.lz4.level")? {
            t.compression_lz4_level = n;
        }
        if let Some(n) = int32("compression.zstd.level")? {
            t.compression_zstd_level = n;
        }
        if let Some(n) = int("max.compaction.lag.ms")? {
            t.max_compaction_lag_ms = n;
        }
        if let Some(n) = int("min.compaction.lag.ms")? {
            t.min_compaction_lag_ms = n;
        }
        if let Some(n) = int("segment.jitter.ms")? {
            t.segment_jitter_ms = n;
        }
        // Kafka's LogConfig.validateValues rejects a minimum lag above the maximum.
        if t.min_compaction_lag_ms > t.max_compaction_lag_ms {
            let key = if find(overrides, "min.compaction.lag.ms").is_some() {
                "min.compaction.lag.ms"
            } else {
                "max.compaction.lag.ms"
            };
            let value = find(overrides, key).unwrap_or_default().to_string();
            return Err(invalid(
                key,
                &value,
                &format!(
                    "min.compaction.lag.ms ({}) must not exceed max.compaction.lag.ms ({})",
                    t.min_compaction_lag_ms, t.max_compaction_lag_ms
                ),
            ));
        }
        if let Some(n) = int("delete.retention.ms")? {
            t.delete_retention_ms = n;
        }
        if let Some(n) = int("file.delete.delay.ms")? {
            t.file_delete_delay_ms = n;
        }
        if let Some(n) = int("flush.messages")? {
            t.flush_messages = n;
        }
        if let Some(n) = int("flush.ms")? {
            t.flush_ms = n;
        }
        if let Some(n) = int32("index.interval.bytes")? {
            t.index_interval_bytes = n;
        }
        if let Some(n) = int32("max.message.bytes")? {
            t.max_message_bytes = n;
        }
        if let Some(n) = int("message.timestamp.after.max.ms")? {
            t.message_timestamp_after_max_ms = n;
        }
        if let Some(n) = int("message.timestamp.before.max.ms")? {
            t.message_timestamp_before_max_ms = n;
        }
        if let Some(n) = int32("min.insync.replicas")? {
            t.min_insync_replicas = n;
        }
        if let Some(n) = int("retention.bytes")? {
            t.retention_bytes = n;
        }
        if let Some(n) = int("retention.ms")? {
            t.retention_ms = n;
        }
        if let Some(n) = int32("segment.bytes")? {
            t.segment_bytes = n;
        }
        if let Some(n) = int32("segment.index.bytes")? {
            t.segment_index_bytes = n;
        }
        if let Some(n) = int("segment.ms")? {
            t.segment_ms = n;
        }
        Ok(t)
    }

    /// The value of a topic key as DescribeConfigs shows it.
    pub fn value_text(&self, key: &str) -> Option<String> {
        Some(match key {
            "cleanup.policy" => self.cleanup_policy.to_value(),
            "compression.type" => self.compression_type.name().to_string(),
            "compression.gzip.level" => self.compression_gzip_level.to_string(),
            "compression.lz4.level" => self.compression_lz4_level.to_string(),
            "compression.zstd.level" => self.compression_zstd_level.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "preallocate" => self.preallocate.to_string(),
            "segment.jitter.ms" => self.segment_jitter_ms.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election_enable.to_string(),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.after.max.ms" => self.message_timestamp_after_max_ms.to_string(),
            "message.timestamp.before.max.ms" => self.message_timestamp_before_max_ms.to_string(),
            "message.timestamp.type" => self.message_timestamp_type.name().to_string(),
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            _ => return None,
        })
    }
}

/// Synonym entries for broker keys in Kafka's order (`ConfigHelper.configSynonyms`): by
/// layer first (per-broker dynamic, cluster-default dynamic, static, default), then by name in
/// the group's order. `per_broker` is false when describing the cluster-default resource, which
/// never shows per-broker values.
fn broker_synonyms(
    broker: &BrokerConfig,
    dynamic: &DynamicBrokerConfigs,
    names: &[&str],
    per_broker: bool,
) -> Vec<ConfigSynonym> {
    let mut out = Vec::new();
    let mut push = |name: &str, value: &str, source: ConfigSource| {
        out.push(ConfigSynonym {
            name: name.to_string(),
            value: Some(value.trim().to_string()),
            source,
        })
    };
    if per_broker {
        for &n in names {
            if let Some(v) = dynamic.per_broker.get(n) {
                push(n, v, ConfigSource::DynamicBrokerConfig);
            }
        }
    }
    for &n in names {
        if let Some(v) = dynamic.cluster_default.get(n) {
            push(n, v, ConfigSource::DynamicDefaultBrokerConfig);
        }
    }
    for &n in names {
        if let Some(v) = broker.raw.get(n) {
            push(n, v, ConfigSource::StaticBrokerConfig);
        }
    }
    for &n in names {
        if let Some(d) = broker_key(n).and_then(|d| d.default) {
            push(n, d, ConfigSource::DefaultConfig);
        }
    }
    out
}

/// Whether `key` is the broker default of some topic config (`log.retention.ms` for
/// `retention.ms`, `message.max.bytes` for `max.message.bytes`, ...).
pub(crate) fn is_topic_default_key(key: &str) -> bool {
    TOPIC_KEYS.iter().any(|d| d.synonyms.contains(&key))
}

/// The topic configs whose broker default is set dynamically, with their values under
/// `effective` (the configuration with the dynamic layers applied), by topic key. Applying these
/// as if they were topic overrides, below a topic's own, gives a topic without an override the
/// new default, with Kafka's precedence among synonyms (`log.retention.ms` over `.hours`).
pub fn dynamic_topic_defaults(
    effective: &BrokerConfig,
    dynamic: &DynamicBrokerConfigs,
) -> std::collections::BTreeMap<String, String> {
    let topic = TopicConfig::from_broker(effective);
    TOPIC_KEYS
        .iter()
        .filter(|d| d.synonyms.iter().any(|s| dynamic.get(s).is_some()))
        .filter_map(|d| topic.value_text(d.name).map(|v| (d.name.to_string(), v)))
        .collect()
}

/// The layer a broker key's value comes from, highest first.
fn broker_source(broker: &BrokerConfig, dynamic: &DynamicBrokerConfigs, names: &[&str]) -> ConfigSource {
    if names.iter().any(|n| dynamic.per_broker.contains_key(*n)) {
        ConfigSource::DynamicBrokerConfig
    } else if names.iter().any(|n| dynamic.cluster_default.contains_key(*n)) {
        ConfigSource::DynamicDefaultBrokerConfig
    } else if names.iter().any(|n| broker.is_set(n)) {
        ConfigSource::StaticBrokerConfig
    } else {
        ConfigSource::DefaultConfig
    }
}

/// DescribeConfigs entries for a topic, every known topic key in
/// alphabetical order. `overrides` are the topic's stored overrides (assumed
/// validated). Callers filter by requested names and drop synonyms when the
/// request did not ask for them.
pub fn describe_topic<K: AsRef<str>, V: AsRef<str>>(
    broker: &BrokerConfig,
    overrides: &[(K, V)],
) -> Result<Vec<ConfigEntry>, ConfigError> {
    describe_topic_dynamic(broker, &DynamicBrokerConfigs::default(), overrides)
}

/// [`describe_topic`] with dynamic broker configs: `broker` is the static configuration, and a
/// dynamic broker default shows as the value's source (DYNAMIC_BROKER_CONFIG or
/// DYNAMIC_DEFAULT_BROKER_CONFIG) and among the synonyms.
pub fn describe_topic_dynamic<K: AsRef<str>, V: AsRef<str>>(
    broker: &BrokerConfig,
    dynamic: &DynamicBrokerConfigs,
    overrides: &[(K, V)],
) -> Result<Vec<ConfigEntry>, ConfigError> {
    let effective_broker = broker.with_dynamic(dynamic)?;
    let effective = TopicConfig::resolve(&effective_broker, overrides)?;
    let mut out = Vec::with_capacity(TOPIC_KEYS.len());
    for d in TOPIC_KEYS {
        let mut synonyms = Vec::new();
        let own = find(overrides, d.name);
        if let Some(v) = own {
            synonyms.push(ConfigSynonym {
                name: d.name.to_string(),
                value: Some(v.to_string()),
                source: ConfigSource::DynamicTopicConfig,
            });
        }
        synonyms.extend(broker_synonyms(broker, dynamic, d.synonyms, true));
        let source = if own.is_some() {
            ConfigSource::DynamicTopicConfig
        } else {
            broker_source(broker, dynamic, d.synonyms)
        };
        out.push(ConfigEntry {
            name: d.name.to_string(),
            value: effective.value_text(d.name),
            source,
            is_sensitive: false,
            read_only: false,
            config_type: d.ty,
            documentation: d.doc.to_string(),
            synonyms,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Groups of broker keys that set one value, highest precedence first
/// (Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`).
const BROKER_SYNONYM_GROUPS: &[&[&str]] = &[
    &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
    &["log.roll.ms", "log.roll.hours"],
    &["log.roll.jitter.ms", "log.roll.jitter.hours"],
    &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
    &["node.id", "broker.id"],
    &["log.dirs", "log.dir"],
];

/// DescribeConfigs entries for the broker, every known broker key in table
/// order. Values are as configured (not derived): like Kafka, an unset
/// `log.retention.ms` is shown as null with `log.retention.hours` as a synonym.
/// Without dynamic configs every key is static; see [`describe_broker_dynamic`].
pub fn describe_broker(broker: &BrokerConfig) -> Vec<ConfigEntry> {
    describe_broker_dynamic(broker, &DynamicBrokerConfigs::default(), true)
}

/// DescribeConfigs entries for a BROKER resource. `broker` is the static configuration and
/// `dynamic` the layers set at runtime. With `per_broker` (the resource names this node) every
/// known key is listed; for the cluster-default resource (name `""`) only the keys set there,
/// as Kafka answers it. A key is read-only unless Sluice can change it at runtime.
pub fn describe_broker_dynamic(
    broker: &BrokerConfig,
    dynamic: &DynamicBrokerConfigs,
    per_broker: bool,
) -> Vec<ConfigEntry> {
    let entry = |d: &crate::defs::KeyDef, value: Option<String>| {
        let group: &[&str] = BROKER_SYNONYM_GROUPS
            .iter()
            .find(|g| g.contains(&d.name))
            .copied()
            .unwrap_or(std::slice::from_ref(&d.name));
        let own: &[&str] = std::slice::from_ref(&d.name);
        let layers = if per_broker {
            dynamic.clone()
        } else {
            DynamicBrokerConfigs {
                cluster_default: dynamic.cluster_default.clone(),
                per_broker: Default::default(),
            }
        };
        ConfigEntry {
            name: d.name.to_string(),
            value,
            source: broker_source(broker, &layers, own),
            is_sensitive: d.ty == ConfigType::Password,
            read_only: !group.iter().any(|n| crate::dynamic::is_dynamic_broker_config(n)),
            config_type: d.ty,
            documentation: d.doc.to_string(),
            synonyms: broker_synonyms(broker, dynamic, group, per_broker),
        }
    };
    if !per_broker {
        return broker_defs()
            .iter()
            .filter_map(|d| dynamic.cluster_default.get(d.name).map(|v| entry(d, Some(v.clone()))))
            .collect();
    }
    broker_defs()
        .iter()
        .map(|d| {
            let value = match dynamic.get(d.name) {
                Some((v, _)) => Some(v.to_string()),
                None => broker.value_text(d.name),
            };
            entry(d, value)
        })
        .collect()
}

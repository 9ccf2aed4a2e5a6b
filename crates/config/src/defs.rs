//! The tables of known keys: type, default, allowed values and documentation.
//! One table drives validation, defaults and DescribeConfigs so they cannot
//! drift apart.

use crate::ConfigError;

/// The value type reported in a DescribeConfigs response (`ConfigType` in
/// Kafka's `DescribeConfigsResponse`). The discriminants are the wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum ConfigType {
    /// Type not known.
    Unknown = 0,
    /// `true` / `false`.
    Boolean = 1,
    /// Free text or one of a set of names.
    String = 2,
    /// 32-bit signed integer.
    Int = 3,
    /// 16-bit signed integer.
    Short = 4,
    /// 64-bit signed integer.
    Long = 5,
    /// Floating point.
    Double = 6,
    /// Comma-separated list.
    List = 7,
    /// A Java class name.
    Class = 8,
    /// A secret; its value is never shown.
    Password = 9,
}

impl ConfigType {
    /// The wire value used in DescribeConfigs v3+.
    pub fn code(self) -> i8 {
        self as i8
    }
    /// Kafka's upper-case name, e.g. `LONG`.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Unknown => "UNKNOWN",
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// What values a key accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// Any text.
    Any,
    /// Boolean, case-insensitive like Kafka's ConfigDef.
    Bool,
    /// Integer within [min, max] (also used for SHORT and LONG keys).
    Range(i64, i64),
    /// Integer within [min, max] or exactly the third value (gzip's -1 = default level).
    RangeOr(i64, i64, i64),
    /// Floating point within [min, max].
    DoubleRange(f64, f64),
    /// Exactly one of these names (case-sensitive, like ConfigDef.in).
    OneOf(&'static [&'static str]),
    /// One of these names in any case (ConfigDef.CaseInsensitiveValidString).
    OneOfIgnoreCase(&'static [&'static str]),
    /// A non-empty comma-separated list of these names.
    ListOf(&'static [&'static str]),
}

/// One known key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyDef {
    pub name: &'static str,
    pub ty: ConfigType,
    /// Default as text; `None` is Kafka's `null`.
    pub default: Option<&'static str>,
    pub check: Check,
    pub doc: &'static str,
}

pub(crate) const I32_MAX: i64 = i32::MAX as i64;
pub(crate) const I64_MAX: i64 = i64::MAX;
const I64_MAX_STR: &str = "9223372036854775807";
const I32_MAX_STR: &str = "2147483647";

pub(crate) const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(crate) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
/// `group.consumer.migration.policy`'s values, Kafka's `ConsumerGroupMigrationPolicy`.
pub(crate) const MIGRATION_POLICIES: &[&str] = &["disabled", "upgrade", "downgrade", "bidirectional"];
pub(crate) const CLEANUP_POLICIES: &[&str] = &["delete", "compact"];

/// Sluice's bound on memory held by queued requests (Kafka's default, -1, is
/// unlimited; Sluice refuses to let clients pin unbounded memory).
pub const DEFAULT_QUEUED_MAX_REQUEST_BYTES: i64 = 512 * 1024 * 1024;
/// Sluice's bound on open connections (Kafka's default is Int.MaxValue).
pub const DEFAULT_MAX_CONNECTIONS: i64 = 10_000;

macro_rules! k {
    ($name:expr, $ty:ident, $default:expr, $check:expr, $doc:expr) => {
        KeyDef {
            name: $name,
            ty: ConfigType::$ty,
            default: $default,
            check: $check,
            doc: $doc,
        }
    };
}

use Check::*;

/// Broker keys Sluice understands.
pub(crate) const BROKER_KEYS: &[KeyDef] = &[
    k!(
        "node.id",
        Int,
        Some("1"),
        Range(0, I32_MAX),
        "The node ID for the roles this process plays. Sluice defaults to 1 (Kafka requires it to be set)."
    ),
    k!(
        "broker.id",
        Int,
        None,
        Range(-1, I32_MAX),
        "Deprecated alias of node.id in KRaft mode; if both are set they must be equal."
    ),
    k!(
        "process.roles",
        List,
        Some("broker,controller"),
        Any,
        "The roles this process plays. Sluice always runs in KRaft combined mode, so only broker,controller is accepted."
    ),
    k!(
        "listeners",
        List,
        Some("PLAINTEXT://127.0.0.1:9092"),
        Any,
        "Comma-separated list of NAME://host:port the broker listens on. An empty host binds all interfaces; port 0 picks a free port."
    ),
    k!(
        "advertised.listeners",
        List,
        None,
        Any,
        "Listeners to publish to clients, if different from listeners. Every name must also appear in listeners."
    ),
    k!(
        "listener.security.protocol.map",
        String,
        Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"),
        Any,
        "Map between listener names and security protocols, as NAME:PROTOCOL pairs."
    ),
    k!(
        "inter.broker.listener.name",
        String,
        None,
        Any,
        "Name of the listener used for communication between brokers. Defaults to PLAINTEXT when such a listener exists, otherwise the first non-controller listener."
    ),
    k!(
        "controller.listener.names",
        List,
        None,
        Any,
        "Names of the listeners used by the controller. Sluice's controller is in-process, so this may be empty."
    ),
    k!(
        "log.dirs",
        List,
        None,
        Any,
        "Comma-separated directories where log data is stored. If not set, log.dir is used."
    ),
    k!(
        "log.dir",
        String,
        Some("./sluice-data"),
        Any,
        "The directory in which the log data is kept (used if log.dirs is not set). Sluice defaults to ./sluice-data instead of /tmp/kafka-logs."
    ),
    k!(
        "num.partitions",
        Int,
        Some("1"),
        Range(1, I32_MAX),
        "The default number of log partitions per topic."
    ),
    k!(
        "default.replication.factor",
        Int,
        Some("1"),
        Range(1, I32_MAX),
        "The replication factor for automatically created topics."
    ),
    k!(
        "auto.create.topics.enable",
        Boolean,
        Some("true"),
        Bool,
        "Enable auto creation of topics on the server."
    ),
    k!(
        "delete.topic.enable",
        Boolean,
        Some("true"),
        Bool,
        "Enables delete topic. Delete topic through the admin tool will have no effect if this config is turned off."
    ),
    k!(
        "message.max.bytes",
        Int,
        Some("1048588"),
        Range(0, I32_MAX),
        "The largest record batch size allowed by Kafka (after compression if compression is enabled)."
    ),
    k!(
        "socket.request.max.bytes",
        Int,
        Some("104857600"),
        Range(1, I32_MAX),
        "The maximum number of bytes in a socket request."
    ),
    k!(
        "queued.max.request.bytes",
        Long,
        Some("536870912"),
        Range(1, I64_MAX),
        "The number of queued bytes allowed before no more requests are read. Kafka's default -1 means unlimited; Sluice defaults to 512 MiB and requires a positive bound."
    ),
    k!(
        "queued.max.response.bytes",
        Long,
        Some("536870912"),
        Range(1_048_576, I64_MAX),
        "Sluice only (Kafka has no such key): the memory budget for fetched record bytes that are read and not yet written to their clients' sockets. A fetch waits for its share before reading, and gives it back once the client has taken the bytes, so clients that stop reading cannot make the broker hold more than this."
    ),
    k!(
        "max.connections",
        Int,
        Some("10000"),
        Range(0, I32_MAX),
        "The maximum number of connections allowed in the broker at any time. Kafka's default is 2147483647; Sluice defaults to 10000."
    ),
    k!(
        "max.connections.per.ip",
        Int,
        Some(I32_MAX_STR),
        Range(0, I32_MAX),
        "The maximum number of connections allowed from each IP address."
    ),
    k!(
        "max.connection.creation.rate",
        Int,
        Some(I32_MAX_STR),
        Range(0, I32_MAX),
        "The maximum connection creation rate we allow in the broker at any time."
    ),
    k!(
        "quota.window.num",
        Int,
        Some("11"),
        Range(1, I32_MAX),
        "The number of samples to retain in memory for client quotas"
    ),
    k!(
        "quota.window.size.seconds",
        Int,
        Some("1"),
        Range(1, I32_MAX),
        "The time span of each sample for client quotas"
    ),
    k!(
        "controller.quota.window.num",
        Int,
        Some("11"),
        Range(1, I32_MAX),
        "The number of samples to retain in memory for alter topics and partitions mutation quotas"
    ),
    k!(
        "controller.quota.window.size.seconds",
        Int,
        Some("1"),
        Range(1, I32_MAX),
        "The time span of each sample for alter topics and partitions mutation quotas"
    ),
    k!(
        "connections.max.idle.ms",
        Long,
        Some("600000"),
        Range(0, I64_MAX),
        "Idle connections timeout: the server socket processor threads close the connections that idle more than this."
    ),
    k!(
        "log.segment.bytes",
        Int,
        Some("1073741824"),
        Range(1_048_576, I32_MAX),
        "The maximum size of a single log file."
    ),
    k!(
        "log.roll.ms",
        Long,
        None,
        Range(1, I64_MAX),
        "The maximum time before a new log segment is rolled out (in milliseconds). If not set, the value in log.roll.hours is used."
    ),
    k!(
        "log.roll.hours",
        Int,
        Some("168"),
        Range(1, I32_MAX),
        "The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms."
    ),
    k!(
        "log.retention.ms",
        Long,
        None,
        Range(i64::MIN, I64_MAX),
        "The number of milliseconds to keep a log file before deleting it. If not set, log.retention.minutes is used. -1 means no time limit."
    ),
    k!(
        "log.retention.minutes",
        Int,
        None,
        Range(i32::MIN as i64, I32_MAX),
        "The number of minutes to keep a log file before deleting it, secondary to log.retention.ms. If not set, log.retention.hours is used."
    ),
    k!(
        "log.retention.hours",
        Int,
        Some("168"),
        Range(i32::MIN as i64, I32_MAX),
        "The number of hours to keep a log file before deleting it, tertiary to log.retention.ms."
    ),
    k!(
        "log.roll.jitter.ms",
        Long,
        None,
        Range(0, I64_MAX),
        "The maximum jitter to subtract from the segment roll time (in milliseconds). If not set, log.roll.jitter.hours is used."
    ),
    k!(
        "log.roll.jitter.hours",
        Int,
        Some("0"),
        Range(0, I32_MAX),
        "The maximum jitter to subtract from the segment roll time (in hours), secondary to log.roll.jitter.ms."
    ),
    k!(
        "log.cleaner.min.compaction.lag.ms",
        Long,
        Some("0"),
        Range(0, I64_MAX),
        "The minimum time a message will remain uncompacted in the log."
    ),
    k!(
        "log.cleaner.max.compaction.lag.ms",
        Long,
        Some(I64_MAX_STR),
        Range(1, I64_MAX),
        "The maximum time a message will remain ineligible for compaction in the log."
    ),
    k!(
        "log.preallocate",
        Boolean,
        Some("false"),
        Bool,
        "Whether to preallocate the file when creating a new segment."
    ),
    k!(
        "unclean.leader.election.enable",
        Boolean,
        Some("false"),
        Bool,
        "Whether to allow replicas not in the ISR to be elected leader as a last resort (no effect on a single node)."
    ),
    k!(
        "compression.gzip.level",
        Int,
        Some("-1"),
        RangeOr(1, 9, -1),
        "The compression level to use if compression.type is set to gzip."
    ),
    k!(
        "compression.lz4.level",
        Int,
        Some("9"),
        Range(1, 17),
        "The compression level to use if compression.type is set to lz4."
    ),
    k!(
        "compression.zstd.level",
        Int,
        Some("3"),
        Range(-131072, 22),
        "The compression level to use if compression.type is set to zstd."
    ),
    k!(
        "log.retention.bytes",
        Long,
        Some("-1"),
        Range(-1, I64_MAX),
        "The maximum size of the log before deleting it. -1 means no size limit."
    ),
    k!(
        "log.retention.check.interval.ms",
        Long,
        Some("300000"),
        Range(1, I64_MAX),
        "The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion."
    ),
    k!(
        "log.cleanup.policy",
        List,
        Some("delete"),
        ListOf(CLEANUP_POLICIES),
        "The default cleanup policy for segments beyond the retention window: delete and/or compact."
    ),
    k!(
        "log.cleaner.delete.retention.ms",
        Long,
        Some("86400000"),
        Range(0, I64_MAX),
        "The amount of time to retain tombstone markers for log compacted topics."
    ),
    k!(
        "log.cleaner.min.cleanable.ratio",
        Double,
        Some("0.5"),
        DoubleRange(0.0, 1.0),
        "The minimum ratio of dirty log to total log for a log to be eligible for cleaning."
    ),
    k!(
        "compression.type",
        String,
        Some("producer"),
        OneOf(COMPRESSION_TYPES),
        "The final compression type for a given topic: uncompressed, zstd, lz4, snappy, gzip, or producer (keep the producer's codec)."
    ),
    k!(
        "log.flush.interval.messages",
        Long,
        Some(I64_MAX_STR),
        Range(1, I64_MAX),
        "The number of messages accumulated on a log partition before messages are flushed to disk."
    ),
    k!(
        "log.flush.interval.ms",
        Long,
        None,
        Range(0, I64_MAX),
        "The maximum time in ms that a message in any topic is kept in memory before flushed to disk. If not set, log.flush.scheduler.interval.ms is used."
    ),
    k!(
        "log.flush.scheduler.interval.ms",
        Long,
        Some(I64_MAX_STR),
        Range(0, I64_MAX),
        "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk."
    ),
    k!(
        "log.index.interval.bytes",
        Int,
        Some("4096"),
        Range(0, I32_MAX),
        "The interval with which an entry is added to the offset index."
    ),
    k!(
        "log.index.size.max.bytes",
        Int,
        Some("10485760"),
        Range(4, I32_MAX),
        "The maximum size in bytes of the offset index."
    ),
    k!(
        "log.segment.delete.delay.ms",
        Long,
        Some("60000"),
        Range(0, I64_MAX),
        "The amount of time to wait before deleting a file from the filesystem."
    ),
    k!(
        "log.message.timestamp.type",
        String,
        Some("CreateTime"),
        OneOf(TIMESTAMP_TYPES),
        "Whether the timestamp in the message is message create time or log append time."
    ),
    k!(
        "log.message.timestamp.before.max.ms",
        Long,
        Some(I64_MAX_STR),
        Range(0, I64_MAX),
        "How far the message timestamp may be behind the broker's timestamp when log.message.timestamp.type is CreateTime."
    ),
    k!(
        "log.message.timestamp.after.max.ms",
        Long,
        Some("3600000"),
        Range(0, I64_MAX),
        "How far the message timestamp may be ahead of the broker's timestamp when log.message.timestamp.type is CreateTime."
    ),
    k!(
        "min.insync.replicas",
        Int,
        Some("1"),
        Range(1, I32_MAX),
        "The minimum number of replicas that must acknowledge a write with acks=all."
    ),
    k!(
        "offsets.topic.num.partitions",
        Int,
        Some("50"),
        Range(1, I32_MAX),
        "The number of partitions for the offset commit topic (should not change after deployment)."
    ),
    k!(
        "offsets.topic.replication.factor",
        Short,
        Some("1"),
        Range(1, i16::MAX as i64),
        "The replication factor for the offsets topic. Kafka defaults to 3; Sluice is single-node and defaults to 1."
    ),
    k!(
        "offsets.retention.minutes",
        Int,
        Some("10080"),
        Range(1, I32_MAX),
        "For subscribed consumers, committed offsets are kept this long after the group becomes empty."
    ),
    k!(
        "group.initial.rebalance.delay.ms",
        Int,
        Some("3000"),
        Range(0, I32_MAX),
        "The time the group coordinator waits for more consumers to join a new group before the first rebalance."
    ),
    k!(
        "group.max.size",
        Int,
        Some("10000"),
        Range(1, I32_MAX),
        "The maximum number of consumers that a single consumer group can accommodate. Kafka's default is unlimited; Sluice bounds it by default so one group cannot grow without limit."
    ),
    k!(
        "group.consumer.session.timeout.ms",
        Int,
        Some("45000"),
        Range(1, I32_MAX),
        "The timeout to detect client failures when using the consumer group protocol."
    ),
    k!(
        "group.consumer.heartbeat.interval.ms",
        Int,
        Some("5000"),
        Range(1, I32_MAX),
        "The heartbeat interval given to the members of a consumer group."
    ),
    k!(
        "group.consumer.min.session.timeout.ms",
        Int,
        Some("45000"),
        Range(1, I32_MAX),
        "The minimum allowed session timeout for registered consumers (bounds a group's consumer.session.timeout.ms)."
    ),
    k!(
        "group.consumer.max.session.timeout.ms",
        Int,
        Some("60000"),
        Range(1, I32_MAX),
        "The maximum allowed session timeout for registered consumers (bounds a group's consumer.session.timeout.ms)."
    ),
    k!(
        "group.consumer.min.heartbeat.interval.ms",
        Int,
        Some("5000"),
        Range(1, I32_MAX),
        "The minimum heartbeat interval for registered consumers (bounds a group's consumer.heartbeat.interval.ms)."
    ),
    k!(
        "group.consumer.max.heartbeat.interval.ms",
        Int,
        Some("15000"),
        Range(1, I32_MAX),
        "The maximum heartbeat interval for registered consumers (bounds a group's consumer.heartbeat.interval.ms)."
    ),
    k!(
        "group.consumer.max.size",
        Int,
        Some("10000"),
        Range(1, I32_MAX),
        "The maximum number of consumers that a single consumer group can accommodate. Kafka's default is unlimited; Sluice bounds it by default."
    ),
    k!(
        "group.consumer.assignors",
        List,
        Some("uniform,range"),
        ListOf(&["uniform", "range"]),
        "The server-side assignors, by name (uniform, range); the first one is the default."
    ),
    k!(
        "group.consumer.migration.policy",
        String,
        Some("bidirectional"),
        OneOfIgnoreCase(MIGRATION_POLICIES),
        "The config that enables converting the non-empty classic group using the consumer embedded protocol to the non-empty consumer group using the consumer group protocol and vice versa; conversions of empty groups in both directions are always enabled regardless of this policy. bidirectional: both upgrade from classic group to consumer group and downgrade from consumer group to classic group are enabled, upgrade: only upgrade from classic group to consumer group is enabled, downgrade: only downgrade from consumer group to classic group is enabled, disabled: neither upgrade nor downgrade is enabled."
    ),
    k!(
        "offsets.retention.check.interval.ms",
        Long,
        Some("600000"),
        Range(1, i64::MAX),
        "Frequency at which to check for stale offsets."
    ),
    k!(
        "offset.metadata.max.bytes",
        Int,
        Some("4096"),
        Range(0, I32_MAX),
        "The maximum size for a metadata entry associated with an offset commit."
    ),
    k!(
        "group.min.session.timeout.ms",
        Int,
        Some("6000"),
        Range(0, I32_MAX),
        "The minimum allowed session timeout for registered consumers."
    ),
    k!(
        "group.max.session.timeout.ms",
        Int,
        Some("1800000"),
        Range(0, I32_MAX),
        "The maximum allowed session timeout for registered consumers."
    ),
    k!(
        "transaction.max.timeout.ms",
        Int,
        Some("900000"),
        Range(1, I32_MAX),
        "The maximum allowed timeout for transactions."
    ),
    k!(
        "transactional.id.expiration.ms",
        Int,
        Some("604800000"),
        Range(1, I32_MAX),
        "The time the transaction coordinator waits without a status update before expiring a transactional id."
    ),
    k!(
        "transaction.state.log.num.partitions",
        Int,
        Some("50"),
        Range(1, I32_MAX),
        "The number of partitions for the transaction topic."
    ),
    k!(
        "transaction.state.log.replication.factor",
        Short,
        Some("1"),
        Range(1, i16::MAX as i64),
        "The replication factor for the transaction topic. Kafka defaults to 3; Sluice is single-node and defaults to 1."
    ),
    k!(
        "transaction.state.log.min.isr",
        Int,
        Some("1"),
        Range(1, I32_MAX),
        "The minimum number of replicas that must acknowledge a write to the transaction topic. Kafka defaults to 2; Sluice defaults to 1."
    ),
    k!(
        "producer.id.expiration.ms",
        Int,
        Some("86400000"),
        Range(1, I32_MAX),
        "The time that a topic partition leader waits before expiring producer IDs."
    ),
    k!(
        "producer.id.expiration.check.interval.ms",
        Int,
        Some("600000"),
        Range(1, I32_MAX),
        "The interval at which to remove producer IDs that have expired due to producer.id.expiration.ms passing."
    ),
    k!(
        "fetch.max.bytes",
        Int,
        Some("57671680"),
        Range(1024, I32_MAX),
        "The maximum number of bytes we will return for a fetch request. Must be at least 1024."
    ),
];

/// Kafka keys Sluice accepts without effect (tuning for Kafka internals or a
/// multi-node quorum). They are common in real server.properties files, so
/// they get an `Ignored` warning rather than `UnknownKey`.
pub(crate) const IGNORED_KEYS: &[&str] = &[
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "num.network.threads",
    "num.io.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "log.cleaner.enable",
    "log.cleaner.threads",
    "auto.leader.rebalance.enable",
    "replica.lag.time.max.ms",
    "metadata.log.dir",
];

/// Prefixes of Kafka key families Sluice accepts without effect. Empty: the security families
/// (`ssl.`, `sasl.`, `listener.name.`, the authorizer's) are enforced or refused by
/// `security.rs`, never ignored.
pub(crate) const IGNORED_PREFIXES: &[&str] = &[];

/// ZooKeeper-era keys Kafka 4.0 no longer reads.
pub(crate) const REMOVED_PREFIXES: &[&str] = &[
    "zookeeper.",
    "inter.broker.protocol.version",
    "log.message.format.version",
];

pub(crate) fn broker_key(name: &str) -> Option<&'static KeyDef> {
    BROKER_KEYS.iter().find(|k| k.name == name)
}

/// Describes a numeric range as text for error messages.
fn range_text(min: i64, max: i64) -> String {
    if max == I64_MAX || max == I32_MAX {
        format!("must be an integer of at least {min}")
    } else {
        format!("must be an integer between {min} and {max}")
    }
}

/// Validates `value` for `def`; `key` is the name used in the error (topic
/// and broker names differ for the same check).
pub(crate) fn check_value(key: &str, value: &str, ty: ConfigType, check: Check) -> Result<(), ConfigError> {
    let bad = |allowed: String| ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        allowed,
    };
    let v = value.trim();
    match check {
        Any => Ok(()),
        Bool => parse_bool(v)
            .map(|_| ())
            .ok_or_else(|| bad("must be true or false".into())),
        Range(min, max) => {
            let type_max = match ty {
                ConfigType::Short => i16::MAX as i64,
                ConfigType::Int => I32_MAX,
                _ => I64_MAX,
            };
            match v.parse::<i64>() {
                Ok(n) if n >= min && n <= max.min(type_max) => Ok(()),
                _ => Err(bad(range_text(min, max.min(type_max)))),
            }
        }
        RangeOr(min, max, extra) => match v.parse::<i64>() {
            Ok(n) if n == extra || (n >= min && n <= max) => Ok(()),
            _ => Err(bad(format!("must be {extra} or an integer between {min} and {max}"))),
        },
        DoubleRange(min, max) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max => Ok(()),
            _ => Err(bad(format!("must be a number between {min} and {max}"))),
        },
        OneOf(names) => {
            if names.contains(&v) {
                Ok(())
            } else {
                Err(bad(format!("must be one of {}", names.join(", "))))
            }
        }
        OneOfIgnoreCase(names) => {
            if names.iter().any(|n| n.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                Err(bad(format!("must be one of {} (any case)", names.join(", "))))
            }
        }
        ListOf(names) => {
            let items = split_list(v);
            if !items.is_empty() && items.iter().all(|i| names.contains(i)) {
                Ok(())
            } else {
                Err(bad(format!(
                    "must be a non-empty comma-separated list of {}",
                    names.join(", ")
                )))
            }
        }
    }
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Splits a Kafka LIST value: comma-separated, items trimmed, empty items dropped.
pub(crate) fn split_list(v: &str) -> Vec<&str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

//! The typed broker configuration.

use crate::defs::{BROKER_KEYS, ConfigType, KeyDef, broker_key, check_value, parse_bool, split_list};
use crate::layers::{RawConfig, layer, read_config_file};
use crate::{ConfigError, ConfigWarning, Origin, WarningKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a listener secures its connections (Kafka's `SecurityProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// Unauthenticated, unencrypted.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plaintext.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name, e.g. `SASL_SSL`.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }
}

/// Broker-side compression (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// Store batches uncompressed.
    Uncompressed,
    /// Recompress with zstd.
    Zstd,
    /// Recompress with lz4.
    Lz4,
    /// Recompress with snappy.
    Snappy,
    /// Recompress with gzip.
    Gzip,
    /// Keep whatever codec the producer used.
    Producer,
}

impl CompressionType {
    /// The config value, e.g. `producer`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uncompressed => "uncompressed",
            Self::Zstd => "zstd",
            Self::Lz4 => "lz4",
            Self::Snappy => "snappy",
            Self::Gzip => "gzip",
            Self::Producer => "producer",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "uncompressed" => Self::Uncompressed,
            "zstd" => Self::Zstd,
            "lz4" => Self::Lz4,
            "snappy" => Self::Snappy,
            "gzip" => Self::Gzip,
            "producer" => Self::Producer,
            _ => return None,
        })
    }
}

/// Which timestamp a batch keeps (`log.message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// The producer's timestamp.
    CreateTime,
    /// The broker overwrites with its append time.
    LogAppendTime,
}

impl TimestampType {
    /// The config value.
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateTime => "CreateTime",
            Self::LogAppendTime => "LogAppendTime",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "CreateTime" => Some(Self::CreateTime),
            "LogAppendTime" => Some(Self::LogAppendTime),
            _ => None,
        }
    }
}

/// What happens to segments past retention (`cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    /// Old segments are deleted by time/size retention.
    pub delete: bool,
    /// The log is compacted by key.
    pub compact: bool,
}

impl CleanupPolicy {
    pub(crate) fn parse(s: &str) -> Self {
        let items = split_list(s);
        CleanupPolicy {
            delete: items.contains(&"delete"),
            compact: items.contains(&"compact"),
        }
    }
    /// The config value, e.g. `compact,delete`.
    pub fn to_value(self) -> String {
        match (self.delete, self.compact) {
            (true, true) => "compact,delete".into(),
            (false, true) => "compact".into(),
            _ => "delete".into(),
        }
    }
}

/// One socket the broker listens on, from `listeners`/`advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name, upper-cased as Kafka normalises it (e.g. `PLAINTEXT`);
    /// keys the security protocol map and advertised addresses.
    pub name: String,
    /// Host to bind or advertise; empty means all interfaces (the broker must
    /// substitute a real hostname when advertising). IPv6 without brackets.
    pub host: String,
    /// TCP port; 0 asks the OS for a free port (useful in tests).
    pub port: u16,
    /// From `listener.security.protocol.map`.
    pub security_protocol: SecurityProtocol,
}

/// The validated broker configuration. Field names are Kafka's keys with
/// dots as underscores; durations and sizes carry their unit last.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `node.id` (or its alias `broker.id`): this node's id in metadata responses.
    pub node_id: i32,
    /// `process.roles`: always broker+controller; kept to echo in DescribeConfigs.
    pub process_roles: Vec<String>,
    /// `listeners`: sockets to bind.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners` (defaults to `listeners` minus controller listeners): addresses given to clients.
    pub advertised_listeners: Vec<Listener>,
    /// `listener.security.protocol.map`, upper-cased names -> protocol.
    pub listener_security_protocol_map: BTreeMap<String, SecurityProtocol>,
    /// `inter.broker.listener.name`: which listener is advertised to other brokers.
    pub inter_broker_listener_name: String,
    /// `controller.listener.names`: listeners reserved for the controller; not advertised to clients.
    pub controller_listener_names: Vec<String>,
    /// `log.dirs`, else `log.dir`: where partition data lives.
    pub log_dirs: Vec<PathBuf>,
    /// `num.partitions`: partitions for auto-created topics and CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`: replication factor used when a request says -1.
    pub default_replication_factor: i32,
    /// `auto.create.topics.enable`: whether Metadata/Produce may create topics.
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable`: whether DeleteTopics is allowed.
    pub delete_topic_enable: bool,
    /// `message.max.bytes`: largest record batch accepted (topic default `max.message.bytes`).
    pub message_max_bytes: i32,
    /// `socket.request.max.bytes`: largest request frame read from a socket.
    pub socket_request_max_bytes: i32,
    /// `queued.max.request.bytes`: memory budget for requests in flight (Sluice: bounded, 512 MiB).
    pub queued_max_request_bytes: i64,
    /// `queued.max.response.bytes` (Sluice only): memory budget for fetched records not yet sent.
    pub queued_max_response_bytes: i64,
    /// `max.connections`: cap on open connections (Sluice default 10000).
    pub max_connections: i32,
    /// `max.connections.per.ip`: cap per client address.
    pub max_connections_per_ip: i32,
    /// `max.connection.creation.rate`: new connections accepted per second, all listeners together.
    pub max_connection_creation_rate: i32,
    /// `connections.max.idle.ms`: idle connections are closed after this.
    pub connections_max_idle_ms: i64,
    /// `log.segment.bytes`: segment roll size (topic default `segment.bytes`).
    pub log_segment_bytes: i32,
    /// Effective roll time: `log.roll.ms`, else `log.roll.hours` (topic default `segment.ms`).
    pub log_roll_ms: i64,
    /// Effective roll jitter: `log.roll.jitter.ms`, else `log.roll.jitter.hours` (topic `segment.jitter.ms`).
    pub log_roll_jitter_ms: i64,
    /// `log.cleaner.min.compaction.lag.ms` (topic `min.compaction.lag.ms`).
    pub log_cleaner_min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms` (topic `max.compaction.lag.ms`).
    pub log_cleaner_max_compaction_lag_ms: i64,
    /// `log.preallocate` (topic `preallocate`).
    pub log_preallocate: bool,
    /// `unclean.leader.election.enable`; meaningless on one node, kept for DescribeConfigs.
    pub unclean_leader_election_enable: bool,
    /// `compression.gzip.level`: -1 = zlib's default.
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`.
    pub compression_lz4_level: i32,
    /// `compression.zstd.level`.
    pub compression_zstd_level: i32,
    /// Effective retention: `log.retention.ms` > `.minutes` > `.hours`; -1 = unlimited.
    pub log_retention_ms: i64,
    /// `log.retention.bytes`: per-partition size limit; -1 = unlimited.
    pub log_retention_bytes: i64,
    /// `log.retention.check.interval.ms`: how often retention is enforced.
    pub log_retention_check_interval_ms: i64,
    /// `log.cleanup.policy`: topic default for `cleanup.policy`.
    pub log_cleanup_policy: CleanupPolicy,
    /// `log.cleaner.delete.retention.ms`: tombstone retention (topic `delete.retention.ms`).
    pub log_cleaner_delete_retention_ms: i64,
    /// `log.cleaner.min.cleanable.ratio`: topic default `min.cleanable.dirty.ratio`.
    pub log_cleaner_min_cleanable_ratio: f64,
    /// `compression.type`: broker-side recompression.
    pub compression_type: CompressionType,
    /// `log.flush.interval.messages`: fsync after this many messages.
    pub log_flush_interval_messages: i64,
    /// Effective `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`.
    pub log_flush_interval_ms: i64,
    /// `log.flush.scheduler.interval.ms`: how often the flusher checks.
    pub log_flush_scheduler_interval_ms: i64,
    /// `log.index.interval.bytes`: bytes between offset index entries.
    pub log_index_interval_bytes: i32,
    /// `log.index.size.max.bytes`: offset index size cap (topic `segment.index.bytes`).
    pub log_index_size_max_bytes: i32,
    /// `log.segment.delete.delay.ms`: delay before deleting a segment file.
    pub log_segment_delete_delay_ms: i64,
    /// `log.message.timestamp.type`.
    pub log_message_timestamp_type: TimestampType,
    /// `log.message.timestamp.before.max.ms`: how old a CreateTime may be.
    pub log_message_timestamp_before_max_ms: i64,
    /// `log.message.timestamp.after.max.ms`: how far in the future a CreateTime may be.
    pub log_message_timestamp_after_max_ms: i64,
    /// `min.insync.replicas`: for acks=all.
    pub min_insync_replicas: i32,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor` (Sluice default 1).
    pub offsets_topic_replication_factor: i16,
    /// `offsets.retention.minutes`: committed offsets kept after a group empties.
    pub offsets_retention_minutes: i32,
    /// `group.initial.rebalance.delay.ms`: wait for more members before the first rebalance.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: members per group.
    pub group_max_size: i32,
    /// `group.min.session.timeout.ms`: smallest session timeout a member may ask for.
    pub group_min_session_timeout_ms: i32,
    /// `group.consumer.session.timeout.ms`: consumer group members' session timeout.
    pub group_consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: how often consumer group members heartbeat.
    pub group_consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`: members per consumer group.
    pub group_consumer_max_size: i32,
    /// `group.consumer.{min,max}.session.timeout.ms`: the bounds of a group's
    /// `consumer.session.timeout.ms`.
    pub group_consumer_session_timeout_bounds_ms: (i32, i32),
    /// `group.consumer.{min,max}.heartbeat.interval.ms`: the bounds of a group's
    /// `consumer.heartbeat.interval.ms`.
    pub group_consumer_heartbeat_interval_bounds_ms: (i32, i32),
    /// `group.consumer.assignors`: server assignor names, the default first.
    pub group_consumer_assignors: Vec<String>,
    /// `group.consumer.migration.policy`: which online conversions between classic and
    /// consumer groups are allowed (disabled, upgrade, downgrade, bidirectional).
    pub group_consumer_migration_policy: String,
    /// `group.max.session.timeout.ms`: largest session timeout a member may ask for.
    pub group_max_session_timeout_ms: i32,
    /// `transaction.max.timeout.ms`: largest transaction timeout a producer may ask for.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: idle transactional ids expire after this.
    pub transactional_id_expiration_ms: i32,
    /// `transaction.state.log.num.partitions`: partitions of `__transaction_state`.
    pub transaction_state_log_num_partitions: i32,
    /// `transaction.state.log.replication.factor` (Sluice default 1).
    pub transaction_state_log_replication_factor: i16,
    /// `transaction.state.log.min.isr` (Sluice default 1).
    pub transaction_state_log_min_isr: i32,
    /// `producer.id.expiration.ms`: idle producer ids expire after this.
    pub producer_id_expiration_ms: i32,
    /// `producer.id.expiration.check.interval.ms`: how often expired producer ids are removed.
    pub producer_id_expiration_check_interval_ms: i32,
    /// `fetch.max.bytes`: the most record bytes one Fetch response carries.
    pub fetch_max_bytes: i32,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: i32,
    /// The security section (SASL, TLS material, authorizer), checked: every key in it is one
    /// Sluice enforces.
    pub security: crate::security::SecurityConfig,
    /// Every explicitly set key and its origin; DescribeConfigs uses it to
    /// report STATIC_BROKER_CONFIG versus DEFAULT_CONFIG.
    pub raw: RawConfig,
}

/// The result of [`load`]: the config plus what to warn about.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The validated configuration.
    pub config: BrokerConfig,
    /// Non-fatal problems (unknown keys, ignored Kafka keys...), to be logged.
    pub warnings: Vec<ConfigWarning>,
}

/// Reads the file (if any), layers env and overrides, and validates.
/// `env` is usually `std::env::vars().collect::<Vec<_>>()`.
pub fn load(path: Option<&Path>, env: &[(String, String)], overrides: &[String]) -> Result<LoadedConfig, ConfigError> {
    let text = path.map(read_config_file).transpose()?;
    load_from_str(text.as_deref(), env, overrides)
}

/// As [`load`] but with the file content given directly.
pub fn load_from_str(
    file_text: Option<&str>,
    env: &[(String, String)],
    overrides: &[String],
) -> Result<LoadedConfig, ConfigError> {
    let (raw, mut warnings) = layer(file_text, env, overrides)?;
    let (config, more) = BrokerConfig::from_raw(raw)?;
    warnings.extend(more);
    Ok(LoadedConfig { config, warnings })
}

struct Getter<'a> {
    raw: &'a RawConfig,
}

impl Getter<'_> {
    /// The effective text for `key` (explicit, else default), validated.
    fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        let def = def(key)?;
        match self.raw.get(key) {
            Some(v) => {
                check_value(key, v, def.ty, def.check)?;
                Ok(Some(v.trim().to_string()))
            }
            None => Ok(def.default.map(str::to_string)),
        }
    }
    fn i64_opt(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.text(key)? {
            None => Ok(None),
            Some(t) => t
                .parse::<i64>()
                .map(Some)
                .map_err(|_| invalid(key, &t, "must be an integer")),
        }
    }
    fn i64(&self, key: &str) -> Result<i64, ConfigError> {
        self.i64_opt(key)?.ok_or_else(|| invalid(key, "", "must be set"))
    }
    fn i32(&self, key: &str) -> Result<i32, ConfigError> {
        let v = self.i64(key)?;
        i32::try_from(v).map_err(|_| invalid(key, &v.to_string(), "must fit in a 32-bit integer"))
    }
    fn i16(&self, key: &str) -> Result<i16, ConfigError> {
        let v = self.i64(key)?;
        i16::try_from(v).map_err(|_| invalid(key, &v.to_string(), "must fit in a 16-bit integer"))
    }
    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        let t = self.text(key)?.unwrap_or_default();
        parse_bool(&t).ok_or_else(|| invalid(key, &t, "must be true or false"))
    }
    fn f64(&self, key: &str) -> Result<f64, ConfigError> {
        let t = self.text(key)?.unwrap_or_default();
        t.parse::<f64>().map_err(|_| invalid(key, &t, "must be a number"))
    }
    fn string(&self, key: &str) -> Result<String, ConfigError> {
        Ok(self.text(key)?.unwrap_or_default())
    }
}

fn def(key: &str) -> Result<&'static KeyDef, ConfigError> {
    // Only reachable with a key missing from the table: a bug, reported as
    // an error instead of a panic.
    broker_key(key).ok_or_else(|| invalid(key, "", "is not a known key (internal error)"))
}

pub(crate) fn invalid(key: &str, value: &str, allowed: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

impl std::fmt::Display for Listener {
    /// `NAME://host:port`, bracketing IPv6 hosts, as Kafka writes listeners.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.name, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.name, self.host, self.port)
        }
    }
}

impl BrokerConfig {
    /// All defaults, as a broker started with no file would have them.
    pub fn defaults() -> Result<BrokerConfig, ConfigError> {
        Ok(Self::from_raw(RawConfig::default())?.0)
    }

    /// Validates a layered raw configuration into typed form. Warnings here
    /// are about aliases (e.g. `broker.id`).
    pub fn from_raw(raw: RawConfig) -> Result<(BrokerConfig, Vec<ConfigWarning>), ConfigError> {
        let mut warnings = Vec::new();
        // Validate every known key that was set, even ones only read
        // indirectly, so a bad value never slips through.
        for (key, v) in &raw.values {
            if let Some(d) = broker_key(key) {
                check_value(key, &v.value, d.ty, d.check)?;
            }
        }
        let g = Getter { raw: &raw };

        // node.id / broker.id: Kafka copies one to the other when only one is
        // set, and requires them equal when both are.
        let node_id = match (raw.get("node.id"), g.i64_opt("broker.id")?) {
            (Some(_), Some(b)) => {
                let n = g.i32("node.id")?;
                if i64::from(n) != b {
                    return Err(invalid(
                        "broker.id",
                        &b.to_string(),
                        &format!("must equal node.id ({n}) when both are set"),
                    ));
                }
                n
            }
            (None, Some(b)) => {
                let origin = raw
                    .values
                    .get("broker.id")
                    .map(|v| v.origin.clone())
                    .unwrap_or(Origin::Default);
                warnings.push(ConfigWarning {
                    kind: WarningKind::Deprecated,
                    key: "broker.id".into(),
                    origin,
                    message: "Configuration 'broker.id' is used as node.id; prefer node.id.".into(),
                });
                if b < 0 {
                    return Err(invalid(
                        "broker.id",
                        &b.to_string(),
                        "must be at least 0 when node.id is not set",
                    ));
                }
                i32::try_from(b).map_err(|_| invalid("broker.id", &b.to_string(), "must fit in a 32-bit integer"))?
            }
            (_, None) => g.i32("node.id")?,
        };

        let roles_text = g.string("process.roles")?;
        let mut roles: Vec<String> = split_list(&roles_text).iter().map(|s| s.to_string()).collect();
        roles.sort();
        if roles != ["broker", "controller"] {
            return Err(invalid(
                "process.roles",
                &roles_text,
                "Sluice runs only in KRaft combined mode, so it must be broker,controller",
            ));
        }

        let map_text = g.string("listener.security.protocol.map")?;
        let protocol_map = parse_protocol_map(&map_text)?;
        let listeners = parse_listeners("listeners", &g.string("listeners")?, &protocol_map, true)?;
        let security = crate::security::SecurityConfig::from_raw(&raw)?;
        for l in &listeners {
            if matches!(
                l.security_protocol,
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
            ) {
                security.sasl_mechanisms(&l.name)?;
            }
        }
        if listeners.is_empty() {
            return Err(invalid(
                "listeners",
                "",
                "must name at least one listener, e.g. PLAINTEXT://:9092",
            ));
        }
        let controller_listener_names: Vec<String> = split_list(&g.string("controller.listener.names")?)
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .collect();
        for c in &controller_listener_names {
            if !listeners.iter().any(|l| &l.name == c) {
                return Err(invalid(
                    "controller.listener.names",
                    &controller_listener_names.join(","),
                    &format!("{c} must also appear in listeners (names there: {})", names(&listeners)),
                ));
            }
        }

        let advertised_listeners = match raw.get("advertised.listeners") {
            Some(t) => {
                let adv = parse_listeners("advertised.listeners", t, &protocol_map, false)?;
                for l in &adv {
                    if !listeners.iter().any(|x| x.name == l.name) {
                        return Err(invalid(
                            "advertised.listeners",
                            t,
                            &format!(
                                "listener name {} is not in listeners (names there: {})",
                                l.name,
                                names(&listeners)
                            ),
                        ));
                    }
                    if l.host == "0.0.0.0" || l.host == "::" {
                        return Err(invalid(
                            "advertised.listeners",
                            t,
                            "cannot use the nonroutable meta-address 0.0.0.0 or ::; give a hostname clients can reach",
                        ));
                    }
                }
                adv
            }
            // Like Kafka's broker role, clients are not told about controller
            // listeners unless advertised.listeners names them explicitly.
            None => listeners
                .iter()
                .filter(|l| !controller_listener_names.contains(&l.name))
                .cloned()
                .collect(),
        };

        let inter_broker_listener_name = match raw.get("inter.broker.listener.name") {
            Some(n) => {
                let n = n.trim().to_ascii_uppercase();
                if !advertised_listeners.iter().any(|l| l.name == n) || controller_listener_names.contains(&n) {
                    return Err(invalid(
                        "inter.broker.listener.name",
                        &n,
                        &format!(
                            "must be a non-controller listener in advertised.listeners (names there: {})",
                            names(&advertised_listeners)
                        ),
                    ));
                }
                n
            }
            None => {
                let candidates: Vec<&Listener> = advertised_listeners
                    .iter()
                    .filter(|l| !controller_listener_names.contains(&l.name))
                    .collect();
                match candidates.iter().find(|l| l.name == "PLAINTEXT").or(candidates.first()) {
                    Some(l) => l.name.clone(),
                    None => {
                        return Err(invalid(
                            "listeners",
                            &g.string("listeners")?,
                            "must contain at least one listener that is not a controller listener",
                        ));
                    }
                }
            }
        };

        let log_dirs: Vec<PathBuf> = match raw.get("log.dirs") {
            Some(t) => split_list(t).into_iter().map(PathBuf::from).collect(),
            None => vec![PathBuf::from(g.string("log.dir")?)],
        };
        if log_dirs.is_empty() || log_dirs.iter().any(|p| p.as_os_str().is_empty()) {
            let (key, value) = match raw.get("log.dirs") {
                Some(v) => ("log.dirs", v.to_string()),
                None => ("log.dir", g.string("log.dir")?),
            };
            return Err(invalid(key, &value, "must name at least one directory"));
        }

        // Kafka refuses duplicate log directories; two partitions' files would collide.
        for (i, d) in log_dirs.iter().enumerate() {
            if log_dirs[..i].contains(d) {
                let value = raw.get("log.dirs").unwrap_or_default().to_string();
                return Err(invalid(
                    "log.dirs",
                    &value,
                    &format!("directory {} appears more than once", d.display()),
                ));
            }
        }

        let min_lag = g.i64("log.cleaner.min.compaction.lag.ms")?;
        let max_lag = g.i64("log.cleaner.max.compaction.lag.ms")?;
        if min_lag > max_lag {
            return Err(invalid(
                "log.cleaner.min.compaction.lag.ms",
                &min_lag.to_string(),
                &format!("must not exceed log.cleaner.max.compaction.lag.ms ({max_lag})"),
            ));
        }

        // Retention: ms > minutes > hours, as Kafka's logRetentionTimeMillis.
        let log_retention_ms = if let Some(ms) = g.i64_opt("log.retention.ms")? {
            ms
        } else if let Some(min) = g.i64_opt("log.retention.minutes")? {
            min.saturating_mul(60_000)
        } else {
            g.i64("log.retention.hours")?.saturating_mul(3_600_000)
        };
        let log_retention_ms = if log_retention_ms < 0 { -1 } else { log_retention_ms };
        if log_retention_ms == 0 {
            let key = ["log.retention.ms", "log.retention.minutes", "log.retention.hours"]
                .into_iter()
                .find(|k| raw.get(k).is_some())
                .unwrap_or("log.retention.ms");
            return Err(invalid(key, "0", "retention must be unlimited (-1) or at least 1 ms"));
        }
        let log_roll_ms = match g.i64_opt("log.roll.ms")? {
            Some(ms) => ms,
            None => g.i64("log.roll.hours")?.saturating_mul(3_600_000),
        };
        let log_roll_jitter_ms = match g.i64_opt("log.roll.jitter.ms")? {
            Some(ms) => ms,
            None => g.i64("log.roll.jitter.hours")?.saturating_mul(3_600_000),
        };
        let log_flush_scheduler_interval_ms = g.i64("log.flush.scheduler.interval.ms")?;
        let log_flush_interval_ms = g
            .i64_opt("log.flush.interval.ms")?
            .unwrap_or(log_flush_scheduler_interval_ms);

        let compression_text = g.string("compression.type")?;
        let compression_type = CompressionType::parse(&compression_text)
            .ok_or_else(|| invalid("compression.type", &compression_text, "unknown compression type"))?;
        let ts_text = g.string("log.message.timestamp.type")?;
        let log_message_timestamp_type = TimestampType::parse(&ts_text).ok_or_else(|| {
            invalid(
                "log.message.timestamp.type",
                &ts_text,
                "must be CreateTime or LogAppendTime",
            )
        })?;

        let group_min_session_timeout_ms = g.i32("group.min.session.timeout.ms")?;
        let group_max_session_timeout_ms = g.i32("group.max.session.timeout.ms")?;
        if group_max_session_timeout_ms < group_min_session_timeout_ms {
            return Err(invalid(
                "group.max.session.timeout.ms",
                &group_max_session_timeout_ms.to_string(),
                &format!("must be at least group.min.session.timeout.ms ({group_min_session_timeout_ms})"),
            ));
        }

        let config = BrokerConfig {
            node_id,
            process_roles: vec!["broker".into(), "controller".into()],
            listeners,
            advertised_listeners,
            listener_security_protocol_map: protocol_map,
            inter_broker_listener_name,
            controller_listener_names,
            log_dirs,
            num_partitions: g.i32("num.partitions")?,
            default_replication_factor: g.i32("default.replication.factor")?,
            auto_create_topics_enable: g.bool("auto.create.topics.enable")?,
            delete_topic_enable: g.bool("delete.topic.enable")?,
            message_max_bytes: g.i32("message.max.bytes")?,
            socket_request_max_bytes: g.i32("socket.request.max.bytes")?,
            queued_max_request_bytes: g.i64("queued.max.request.bytes")?,
            queued_max_response_bytes: g.i64("queued.max.response.bytes")?,
            max_connections: g.i32("max.connections")?,
            max_connections_per_ip: g.i32("max.connections.per.ip")?,
            max_connection_creation_rate: g.i32("max.connection.creation.rate")?,
            connections_max_idle_ms: g.i64("connections.max.idle.ms")?,
            log_segment_bytes: g.i32("log.segment.bytes")?,
            log_roll_ms,
            log_roll_jitter_ms,
            log_cleaner_min_compaction_lag_ms: g.i64("log.cleaner.min.compaction.lag.ms")?,
            log_cleaner_max_compaction_lag_ms: g.i64("log.cleaner.max.compaction.lag.ms")?,
            log_preallocate: g.bool("log.preallocate")?,
            unclean_leader_election_enable: g.bool("unclean.leader.election.enable")?,
            compression_gzip_level: g.i32("compression.gzip.level")?,
            compression_lz4_level: g.i32("compression.lz4.level")?,
            compression_zstd_level: g.i32("compression.zstd.level")?,
            log_retention_ms,
            log_retention_bytes: g.i64("log.retention.bytes")?,
            log_retention_check_interval_ms: g.i64("log.retention.check.interval.ms")?,
            log_cleanup_policy: CleanupPolicy::parse(&g.string("log.cleanup.policy")?),
            log_cleaner_delete_retention_ms: g.i64("log.cleaner.delete.retention.ms")?,
            log_cleaner_min_cleanable_ratio: g.f64("log.cleaner.min.cleanable.ratio")?,
            compression_type,
            log_flush_interval_messages: g.i64("log.flush.interval.messages")?,
            log_flush_interval_ms,
            log_flush_scheduler_interval_ms,
            log_index_interval_bytes: g.i32("log.index.interval.bytes")?,
            log_index_size_max_bytes: g.i32("log.index.size.max.bytes")?,
            log_segment_delete_delay_ms: g.i64("log.segment.delete.delay.ms")?,
            log_message_timestamp_type,
            log_message_timestamp_before_max_ms: g.i64("log.message.timestamp.before.max.ms")?,
            log_message_timestamp_after_max_ms: g.i64("log.message.timestamp.after.max.ms")?,
            min_insync_replicas: g.i32("min.insync.replicas")?,
            offsets_topic_num_partitions: g.i32("offsets.topic.num.partitions")?,
            offsets_topic_replication_factor: g.i16("offsets.topic.replication.factor")?,
            offsets_retention_minutes: g.i32("offsets.retention.minutes")?,
            group_initial_rebalance_delay_ms: g.i32("group.initial.rebalance.delay.ms")?,
            group_max_size: g.i32("group.max.size")?,
            group_consumer_session_timeout_ms: g.i32("group.consumer.session.timeout.ms")?,
            group_consumer_heartbeat_interval_ms: g.i32("group.consumer.heartbeat.interval.ms")?,
            group_consumer_max_size: g.i32("group.consumer.max.size")?,
            group_consumer_session_timeout_bounds_ms: (
                g.i32("group.consumer.min.session.timeout.ms")?,
                g.i32("group.consumer.max.session.timeout.ms")?,
            ),
            group_consumer_heartbeat_interval_bounds_ms: (
                g.i32("group.consumer.min.heartbeat.interval.ms")?,
                g.i32("group.consumer.max.heartbeat.interval.ms")?,
            ),
            group_consumer_assignors: split_list(&g.string("group.consumer.assignors")?)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            group_consumer_migration_policy: g.string("group.consumer.migration.policy")?,
            group_min_session_timeout_ms,
            group_max_session_timeout_ms,
            transaction_max_timeout_ms: g.i32("transaction.max.timeout.ms")?,
            transactional_id_expiration_ms: g.i32("transactional.id.expiration.ms")?,
            transaction_state_log_num_partitions: g.i32("transaction.state.log.num.partitions")?,
            transaction_state_log_replication_factor: g.i16("transaction.state.log.replication.factor")?,
            transaction_state_log_min_isr: g.i32("transaction.state.log.min.isr")?,
            producer_id_expiration_ms: g.i32("producer.id.expiration.ms")?,
            producer_id_expiration_check_interval_ms: g.i32("producer.id.expiration.check.interval.ms")?,
            fetch_max_bytes: g.i32("fetch.max.bytes")?,
            offsets_retention_check_interval_ms: g.i64("offsets.retention.check.interval.ms")?,
            offset_metadata_max_bytes: g.i32("offset.metadata.max.bytes")?,
            security,
            raw: raw.clone(),
        };
        Ok((config, warnings))
    }

    /// The advertised address for a listener name (case-insensitive), used
    /// in Metadata responses for clients connected to that listener.
    pub fn advertised_listener(&self, name: &str) -> Option<&Listener> {
        let n = name.to_ascii_uppercase();
        self.advertised_listeners.iter().find(|l| l.name == n)
    }

    /// The effective value of a broker key as text (explicit or default),
    /// or `None` for unknown keys and null defaults.
    pub fn value_text(&self, key: &str) -> Option<String> {
        match self.raw.get(key) {
            Some(v) => Some(v.trim().to_string()),
            None => broker_key(key)?.default.map(str::to_string),
        }
    }

    /// Whether `key` was set explicitly (file, env or override).
    pub fn is_set(&self, key: &str) -> bool {
        self.raw.get(key).is_some()
    }
}

fn names(ls: &[Listener]) -> String {
    ls.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn parse_protocol_map(text: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let key = "listener.security.protocol.map";
    let mut map = BTreeMap::new();
    for item in split_list(text) {
        let Some((name, proto)) = item.split_once(':') else {
            return Err(invalid(key, text, &format!("entry '{item}' must be NAME:PROTOCOL")));
        };
        let name = name.trim().to_ascii_uppercase();
        let proto = SecurityProtocol::parse(proto.trim()).ok_or_else(|| {
            invalid(
                key,
                text,
                &format!("protocol of '{item}' must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
            )
        })?;
        if name.is_empty() {
            return Err(invalid(
                key,
                text,
                &format!("entry '{item}' has an empty listener name"),
            ));
        }
        if map.insert(name.clone(), proto).is_some() {
            return Err(invalid(
                key,
                text,
                &format!("listener name {name} appears more than once"),
            ));
        }
    }
    Ok(map)
}

/// Parses `NAME://host:port,...`. `unique_ports` is true for `listeners`
/// (two sockets can't share a port), false for advertised addresses.
pub(crate) fn parse_listeners(
    key: &str,
    text: &str,
    map: &BTreeMap<String, SecurityProtocol>,
    unique_ports: bool,
) -> Result<Vec<Listener>, ConfigError> {
    let mut out: Vec<Listener> = Vec::new();
    for item in split_list(text) {
        let bad = |why: &str| invalid(key, text, &format!("'{item}' {why}; expected NAME://host:port"));
        let Some((name, rest)) = item.split_once("://") else {
            return Err(bad("has no '://'"));
        };
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(bad("has an invalid listener name"));
        }
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let Some((h, p)) = r.split_once(']') else {
                return Err(bad("has an unclosed '['"));
            };
            let Some(p) = p.strip_prefix(':') else {
                return Err(bad("has no port"));
            };
            (h, p)
        } else {
            match rest.rsplit_once(':') {
                Some(hp) => hp,
                None => return Err(bad("has no port")),
            }
        };
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '%' | ':'))
        {
            return Err(bad("has an invalid host"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| bad("has a port that is not between 0 and 65535"))?;
        let Some(&security_protocol) = map.get(&name) else {
            return Err(invalid(
                key,
                text,
                &format!(
                    "listener name {name} is not in listener.security.protocol.map (names there: {})",
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if out.iter().any(|l| l.name == name) {
            return Err(invalid(
                key,
                text,
                &format!("listener name {name} appears more than once"),
            ));
        }
        if unique_ports && port != 0 && out.iter().any(|l| l.port == port) {
            return Err(invalid(
                key,
                text,
                &format!("port {port} is used by more than one listener"),
            ));
        }
        out.push(Listener {
            name,
            host: host.to_string(),
            port,
            security_protocol,
        });
    }
    Ok(out)
}

/// Every broker key's definition, for [`crate::describe_broker`].
pub(crate) fn broker_defs() -> &'static [KeyDef] {
    BROKER_KEYS
}

/// Type of a broker key, if known.
pub fn broker_config_type(key: &str) -> Option<ConfigType> {
    broker_key(key).map(|d| d.ty)
}

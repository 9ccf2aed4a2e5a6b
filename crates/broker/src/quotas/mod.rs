//! Client quotas (Kafka's `ClientQuotaManager`, `ClientRequestQuotaManager`,
//! `ControllerMutationQuotaManager` and the IP connection-rate quota).
//!
//! Quotas live in the metadata image (`ClientQuotaRecord`s set by AlterClientQuotas); [`Quotas`]
//! keeps an index of them, rebuilt whenever one changes, and a sensor per (user, client-id) that
//! a quota applies to. Each quota type resolves on its own through Kafka's precedence order:
//!
//! 1. `/config/users/<user>/clients/<client-id>`
//! 2. `/config/users/<user>/clients/<default>`
//! 3. `/config/users/<user>`
//! 4. `/config/users/<default>/clients/<client-id>`
//! 5. `/config/users/<default>/clients/<default>`
//! 6. `/config/users/<default>`
//! 7. `/config/clients/<client-id>`
//! 8. `/config/clients/<default>`
//!
//! and the level that matched names the sensor, as Kafka's metric tags do: a quota set on a user
//! alone is shared by all of that user's client ids, one on a client id alone by every user of it.
//!
//! Byte rates and request time are Kafka's sampled [`rate::Rate`]; the controller mutation rate is
//! its token bucket. The throttle time a client gets is Kafka's formula (see [`rate`]); the
//! connection applies it (`throttle_time_ms` in the response, then the connection is muted for
//! that long, or, for request versions older than KIP-219, the response itself is held back).
//! [`ThrottleStats`] keeps the throttle totals per quota type for metrics.

pub mod mutation;
pub mod rate;
pub mod throttle;

use rate::{Rate, TokenBucket, WindowConfig};
use sluice_metadata::MetadataImage;
use sluice_protocol::generated::ResponseBody;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Kafka's entity type names.
pub const ENTITY_USER: &str = "user";
/// Client id entity type.
pub const ENTITY_CLIENT_ID: &str = "client-id";
/// IP entity type.
pub const ENTITY_IP: &str = "ip";

/// `producer_byte_rate`: bytes per second a user/client may produce.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
/// `consumer_byte_rate`: bytes per second a user/client may fetch.
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
/// `request_percentage`: percentage of one request handler's time per quota window.
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
/// `controller_mutation_rate`: partitions created or deleted per second.
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
/// `connection_creation_rate`: connections per second from one IP.
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// Kafka's `ConfigDef` type of a quota key, which decides what values it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKeyType {
    /// Whole numbers (`producer_byte_rate`, `consumer_byte_rate`).
    Long,
    /// 32-bit whole numbers (`connection_creation_rate`).
    Int,
    /// Any positive number (`request_percentage`, `controller_mutation_rate`).
    Double,
}

/// The keys a user and/or client-id entity accepts (Kafka's `userAndClientQuotaConfigs`).
pub const USER_CLIENT_KEYS: &[(&str, QuotaKeyType)] = &[
    (PRODUCER_BYTE_RATE, QuotaKeyType::Long),
    (CONSUMER_BYTE_RATE, QuotaKeyType::Long),
    (REQUEST_PERCENTAGE, QuotaKeyType::Double),
    (CONTROLLER_MUTATION_RATE, QuotaKeyType::Double),
];

/// The keys an IP entity accepts (Kafka's `ipConfigs`).
pub const IP_KEYS: &[(&str, QuotaKeyType)] = &[(CONNECTION_CREATION_RATE, QuotaKeyType::Int)];

/// A quota that a (user, client-id) pair is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaType {
    /// `producer_byte_rate`, recorded with each Produce request's size.
    Produce = 0,
    /// `consumer_byte_rate`, recorded with each Fetch response's size.
    Fetch = 1,
    /// `request_percentage`, recorded with each request's handler time.
    Request = 2,
    /// `controller_mutation_rate`, recorded with partitions created or deleted.
    ControllerMutation = 3,
}

impl QuotaType {
    /// Every type, in index order.
    pub const ALL: [QuotaType; 4] = [
        QuotaType::Produce,
        QuotaType::Fetch,
        QuotaType::Request,
        QuotaType::ControllerMutation,
    ];

    /// The quota key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => PRODUCER_BYTE_RATE,
            QuotaType::Fetch => CONSUMER_BYTE_RATE,
            QuotaType::Request => REQUEST_PERCENTAGE,
            QuotaType::ControllerMutation => CONTROLLER_MUTATION_RATE,
        }
    }
}

/// The sampling of client quotas and of the controller mutation quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaSettings {
    /// `quota.window.num` and `quota.window.size.seconds`.
    pub client: WindowConfig,
    /// `controller.quota.window.num` and `controller.quota.window.size.seconds`.
    pub controller: WindowConfig,
}

impl QuotaSettings {
    /// The settings from the broker configuration (Kafka's defaults when a key is unset).
    pub fn from_config(config: &sluice_config::BrokerConfig) -> QuotaSettings {
        let num = |key: &str| {
            config
                .value_text(key)
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|n| *n >= 1)
        };
        let window = |count_key: &str, seconds_key: &str| WindowConfig {
            samples: num(count_key).unwrap_or(11).min(1_000) as usize,
            window_ms: num(seconds_key).unwrap_or(1).min(86_400) * 1000,
        };
        QuotaSettings {
            client: window("quota.window.num", "quota.window.size.seconds"),
            controller: window("controller.quota.window.num", "controller.quota.window.size.seconds"),
        }
    }
}

/// Quota values for one entity, by [`QuotaType`] index.
type Values = [Option<f64>; 4];

/// The client-id level under one user level (a named user, the default user, or no user).
#[derive(Debug, Default)]
struct ClientLevels {
    /// `client-id=<name>`.
    named: HashMap<String, Values>,
    /// `client-id=<default>`.
    default: Option<Values>,
    /// No client-id in the entity.
    none: Option<Values>,
}

/// The quota index: entities by user level, then client-id level; IPs apart.
#[derive(Debug, Default)]
struct Table {
    /// `user=<name>`.
    users: HashMap<String, ClientLevels>,
    /// `user=<default>`.
    default_user: ClientLevels,
    /// Entities without a user.
    no_user: ClientLevels,
    /// `ip=<address>` connection rates.
    ips: HashMap<IpAddr, f64>,
    /// `ip=<default>` connection rate.
    default_ip: Option<f64>,
    /// Whether any user/client-id quota exists (when none does, nothing is measured).
    any_client_quota: bool,
}

/// Which sensor a resolved quota is measured by: Kafka's (user, client-id) metric tags, with ""
/// for the part the matching entity did not name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorKey {
    /// The user tag.
    pub user: String,
    /// The client-id tag.
    pub client_id: String,
}

impl Table {
    fn from_image(image: &MetadataImage) -> Table {
        let mut table = Table::default();
        for (entity, quotas) in &image.client_quotas {
            if let Some(ip) = entity.get(ENTITY_IP) {
                table.add_ip(ip.as_deref(), quotas.get(CONNECTION_CREATION_RATE).map(|v| v.0));
                continue;
            }
            let mut values: Values = [None; 4];
            for t in QuotaType::ALL {
                values[t as usize] = quotas.get(t.key()).map(|v| v.0);
            }
            table.any_client_quota |= values.iter().any(Option::is_some);
            let users = match entity.get(ENTITY_USER) {
                Some(Some(name)) => table.users.entry(name.clone()).or_default(),
                Some(None) => &mut table.default_user,
                None => &mut table.no_user,
            };
            match entity.get(ENTITY_CLIENT_ID) {
                Some(Some(name)) => {
                    users.named.insert(name.clone(), values);
                }
                Some(None) => users.default = Some(values),
                None => users.none = Some(values),
            }
        }
        table
    }

    fn add_ip(&mut self, ip: Option<&str>, rate: Option<f64>) {
        let Some(rate) = rate else { return };
        match ip {
            None => self.default_ip = Some(rate),
            Some(text) => match text.parse::<IpAddr>() {
                Ok(addr) => {
                    self.ips.insert(addr, rate);
                }
                // Host names were accepted by Kafka's check but connections are matched by
                // address; one that is not an address matches no connection.
                Err(_) => tracing::debug!(ip = text, "ip quota entity is not an address; it matches nothing"),
            },
        }
    }

    /// Kafka's precedence walk for one quota type: the bound and the sensor it is measured by.
    fn resolve(&self, t: QuotaType, user: &str, client_id: &str) -> Option<(f64, SensorKey)> {
        let i = t as usize;
        let key = |u: &str, c: &str| SensorKey {
            user: u.to_owned(),
            client_id: c.to_owned(),
        };
        let of_user = |levels: &ClientLevels, user_tag: &str| -> Option<(f64, SensorKey)> {
            if let Some(v) = levels.named.get(client_id).and_then(|v| v[i]) {
                return Some((v, key(user_tag, client_id)));
            }
            if let Some(v) = levels.default.and_then(|v| v[i]) {
                return Some((v, key(user_tag, client_id)));
            }
            levels.none.and_then(|v| v[i]).map(|v| (v, key(user_tag, "")))
        };
        if let Some(found) = self.users.get(user).and_then(|l| of_user(l, user)) {
            return Some(found);
        }
        if let Some(found) = of_user(&self.default_user, user) {
            return Some(found);
        }
        let clients = &self.no_user;
        if let Some(v) = clients.named.get(client_id).and_then(|v| v[i]) {
            return Some((v, key("", client_id)));
        }
        clients.default.and_then(|v| v[i]).map(|v| (v, key("", client_id)))
    }

    fn ip_rate(&self, ip: IpAddr) -> Option<f64> {
        self.ips.get(&ip).copied().or(self.default_ip)
    }
}

/// Throttle totals per quota type, for metrics: how many responses were throttled and for how
/// long in total.
#[derive(Debug, Default)]
pub struct ThrottleStats {
    /// Total throttle time given, in ms, by [`QuotaType`] index.
    throttle_ms_total: [AtomicU64; 4],
    /// Responses throttled, by [`QuotaType`] index.
    throttled_total: [AtomicU64; 4],
    /// Total time connections were refused by the IP connection rate quota, in ms.
    connection_throttle_ms_total: AtomicU64,
    /// Connections closed by the IP connection rate quota.
    connections_throttled_total: AtomicU64,
}

/// A copy of [`ThrottleStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleTotals {
    /// Total throttle time given, in ms, by [`QuotaType`] index.
    pub throttle_ms_total: [u64; 4],
    /// Responses throttled, by [`QuotaType`] index.
    pub throttled_total: [u64; 4],
    /// Total delay given to connections over their IP's creation rate, in ms.
    pub connection_throttle_ms_total: u64,
    /// Connections throttled by the IP connection rate quota.
    pub connections_throttled_total: u64,
}

impl ThrottleStats {
    /// Counts one throttle of `ms` for quota type `t`.
    pub fn add(&self, t: QuotaType, ms: i64) {
        if ms > 0 {
            self.throttle_ms_total[t as usize].fetch_add(ms as u64, Ordering::Relaxed);
            self.throttled_total[t as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The totals now.
    pub fn snapshot(&self) -> ThrottleTotals {
        let load = |a: &[AtomicU64; 4]| std::array::from_fn(|i| a[i].load(Ordering::Relaxed));
        ThrottleTotals {
            throttle_ms_total: load(&self.throttle_ms_total),
            throttled_total: load(&self.throttled_total),
            connection_throttle_ms_total: self.connection_throttle_ms_total.load(Ordering::Relaxed),
            connections_throttled_total: self.connections_throttled_total.load(Ordering::Relaxed),
        }
    }
}

/// One sensor's state: the rates of the sampled types and the mutation bucket.
#[derive(Debug, Default)]
struct Sensor {
    /// Produce, Fetch and Request rates, by [`QuotaType`] index.
    rates: [Rate; 3],
    /// The controller mutation bucket.
    bucket: TokenBucket,
    /// When it was last used, for expiry.
    last_used_ms: i64,
}

/// Most sensors kept at once; past it, idle ones are dropped first.
const SENSORS_MAX: usize = 100_000;

/// The broker's client quotas: the index over the image's quotas, the sensors, the totals.
pub struct Quotas {
    settings: QuotaSettings,
    table: RwLock<Arc<Table>>,
    /// Sensors by (user tag, client-id tag), one lock: a record is a few arithmetic operations.
    sensors: Mutex<HashMap<(String, String), Sensor>>,
    /// IP connection-creation rates, by address.
    ip_rates: Mutex<HashMap<IpAddr, (Rate, i64)>>,
    /// Throttle totals for metrics.
    pub stats: ThrottleStats,
}

/// Wall-clock milliseconds, as Kafka's `time.milliseconds()`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Quotas {
    /// Quotas over `image` sampled per `settings`.
    pub fn new(settings: QuotaSettings, image: &MetadataImage) -> Quotas {
        Quotas {
            settings,
            table: RwLock::new(Arc::new(Table::from_image(image))),
            sensors: Mutex::new(HashMap::new()),
            ip_rates: Mutex::new(HashMap::new()),
            stats: ThrottleStats::default(),
        }
    }

    /// The sampling in force.
    pub fn settings(&self) -> QuotaSettings {
        self.settings
    }

    /// Re-indexes the image's quotas; called after every committed quota change.
    pub fn rebuild(&self, image: &MetadataImage) {
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Table::from_image(image));
    }

    fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether any user or client-id quota is set (nothing is measured otherwise).
    pub fn any_client_quota(&self) -> bool {
        self.table().any_client_quota
    }

    /// The bound for type `t` that applies to (user, client_id), if any, and its sensor.
    pub fn resolve(&self, t: QuotaType, user: &str, client_id: &str) -> Option<(f64, SensorKey)> {
        self.table().resolve(t, user, client_id)
    }

    /// Runs `f` on the sensor for `key`, creating it if needed. Sensors idle for the whole
    /// sampled period hold nothing a fresh one would not, so they are the first dropped.
    fn with_sensor<R>(&self, key: &SensorKey, now_ms: i64, f: impl FnOnce(&mut Sensor) -> R) -> R {
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        if sensors.len() >= SENSORS_MAX && !sensors.contains_key(&(key.user.clone(), key.client_id.clone())) {
            let idle_ms = self.settings.client.samples as i64
                * self
                    .settings
                    .client
                    .window_ms
                    .max(self.settings.controller.samples as i64 * self.settings.controller.window_ms);
            sensors.retain(|_, s| now_ms - s.last_used_ms < idle_ms);
            if sensors.len() >= SENSORS_MAX {
                // Still full of active clients: drop the least recently used.
                if let Some(oldest) = sensors
                    .iter()
                    .min_by_key(|(_, s)| s.last_used_ms)
                    .map(|(k, _)| k.clone())
                {
                    sensors.remove(&oldest);
                }
            }
        }
        let sensor = sensors.entry((key.user.clone(), key.client_id.clone())).or_default();
        sensor.last_used_ms = now_ms;
        f(sensor)
    }

    /// Records `value` for a sampled type (Produce, Fetch, Request) and returns the throttle
    /// time, 0 when no quota applies or the client is within it.
    pub fn record(&self, t: QuotaType, user: &str, client_id: &str, value: f64, now_ms: i64) -> i64 {
        debug_assert!(t != QuotaType::ControllerMutation);
        let Some((bound, key)) = self.resolve(t, user, client_id) else {
            return 0;
        };
        let cfg = self.settings.client;
        let throttle_ms = self.with_sensor(&key, now_ms, |s| {
            rate::record_and_throttle_ms(&mut s.rates[t as usize], cfg, bound, value, now_ms)
        });
        if t == QuotaType::Request {
            // Kafka bounds only the request-time throttle, at one window.
            return throttle_ms.min(cfg.window_ms);
        }
        throttle_ms
    }

    /// Takes back a recorded value (a Fetch answered empty because it was throttled).
    pub fn unrecord(&self, t: QuotaType, user: &str, client_id: &str, value: f64, now_ms: i64) {
        if let Some((_, key)) = self.resolve(t, user, client_id) {
            let cfg = self.settings.client;
            self.with_sensor(&key, now_ms, |s| s.rates[t as usize].record(cfg, -value, now_ms));
        }
    }

    /// The controller mutation quota for `permits` partitions. Strict (CreateTopics v6+,
    /// CreatePartitions v3+, DeleteTopics v5+): refused with the throttle time when the bucket is
    /// already empty, else taken whole even if that overdraws it. Permissive (older versions):
    /// always taken; the answer is the throttle time the response carries.
    pub fn record_mutation(
        &self,
        user: &str,
        client_id: &str,
        permits: f64,
        strict: bool,
        now_ms: i64,
    ) -> Result<i64, i64> {
        let Some((quota, key)) = self.resolve(QuotaType::ControllerMutation, user, client_id) else {
            return Ok(0);
        };
        let cfg = self.settings.controller;
        self.with_sensor(&key, now_ms, |s| {
            let tokens = s.bucket.measure(cfg, quota, now_ms);
            if strict && tokens < 0.0 {
                return Err(rate::token_throttle_time_ms(tokens, quota));
            }
            s.bucket.record(cfg, quota, permits, now_ms);
            let after = s.bucket.measure(cfg, quota, now_ms);
            Ok(if after < 0.0 {
                rate::token_throttle_time_ms(after, quota)
            } else {
                0
            })
        })
    }

    /// The current controller-mutation throttle for (user, client_id): what a strict request
    /// that found the bucket empty is told.
    pub fn mutation_throttle_ms(&self, user: &str, client_id: &str, now_ms: i64) -> i64 {
        let Some((quota, key)) = self.resolve(QuotaType::ControllerMutation, user, client_id) else {
            return 0;
        };
        let cfg = self.settings.controller;
        self.with_sensor(&key, now_ms, |s| {
            let tokens = s.bucket.measure(cfg, quota, now_ms);
            if tokens < 0.0 {
                rate::token_throttle_time_ms(tokens, quota)
            } else {
                0
            }
        })
    }

    /// Records a new connection from `ip` against its `connection_creation_rate` (the IP's own
    /// or the default) and returns how long to delay before closing it when over the quota (0:
    /// accept). A refused connection is taken back out of the rate, as Kafka does.
    pub fn record_connection(&self, ip: IpAddr, now_ms: i64) -> i64 {
        let Some(bound) = self.table().ip_rate(ip) else {
            return 0;
        };
        let cfg = self.settings.client;
        let mut rates = self.ip_rates.lock().unwrap_or_else(|p| p.into_inner());
        if rates.len() >= SENSORS_MAX && !rates.contains_key(&ip) {
            let idle_ms = cfg.samples as i64 * cfg.window_ms;
            rates.retain(|_, (_, last)| now_ms - *last < idle_ms);
        }
        let (rate, last) = rates.entry(ip).or_default();
        *last = now_ms;
        let throttle_ms = rate::record_and_throttle_ms(rate, cfg, bound, 1.0, now_ms).min(cfg.window_ms);
        if throttle_ms > 0 {
            rate.record(cfg, -1.0, now_ms);
            self.stats
                .connection_throttle_ms_total
                .fetch_add(throttle_ms as u64, Ordering::Relaxed);
            self.stats.connections_throttled_total.fetch_add(1, Ordering::Relaxed);
        }
        throttle_ms
    }
}

/// The `throttle_time_ms` field of a response, for the APIs that have one.
pub fn throttle_slot(body: &mut ResponseBody) -> Option<&mut i32> {
    use ResponseBody::*;
    match body {
        AddOffsetsToTxn(r) => Some(&mut r.throttle_time_ms),
        AddPartitionsToTxn(r) => Some(&mut r.throttle_time_ms),
        AddRaftVoter(r) => Some(&mut r.throttle_time_ms),
        AllocateProducerIds(r) => Some(&mut r.throttle_time_ms),
        AlterClientQuotas(r) => Some(&mut r.throttle_time_ms),
        AlterConfigs(r) => Some(&mut r.throttle_time_ms),
        AlterPartitionReassignments(r) => Some(&mut r.throttle_time_ms),
        AlterPartition(r) => Some(&mut r.throttle_time_ms),
        AlterReplicaLogDirs(r) => Some(&mut r.throttle_time_ms),
        AlterShareGroupOffsets(r) => Some(&mut r.throttle_time_ms),
        AlterUserScramCredentials(r) => Some(&mut r.throttle_time_ms),
        ApiVersions(r) => Some(&mut r.throttle_time_ms),
        AssignReplicasToDirs(r) => Some(&mut r.throttle_time_ms),
        BrokerHeartbeat(r) => Some(&mut r.throttle_time_ms),
        BrokerRegistration(r) => Some(&mut r.throttle_time_ms),
        ConsumerGroupDescribe(r) => Some(&mut r.throttle_time_ms),
        ConsumerGroupHeartbeat(r) => Some(&mut r.throttle_time_ms),
        ControllerRegistration(r) => Some(&mut r.throttle_time_ms),
        CreateAcls(r) => Some(&mut r.throttle_time_ms),
        CreateDelegationToken(r) => Some(&mut r.throttle_time_ms),
        CreatePartitions(r) => Some(&mut r.throttle_time_ms),
        CreateTopics(r) => Some(&mut r.throttle_time_ms),
        DeleteAcls(r) => Some(&mut r.throttle_time_ms),
        DeleteGroups(r) => Some(&mut r.throttle_time_ms),
        DeleteRecords(r) => Some(&mut r.throttle_time_ms),
        DeleteShareGroupOffsets(r) => Some(&mut r.throttle_time_ms),
        DeleteTopics(r) => Some(&mut r.throttle_time_ms),
        DescribeAcls(r) => Some(&mut r.throttle_time_ms),
        DescribeClientQuotas(r) => Some(&mut r.throttle_time_ms),
        DescribeCluster(r) => Some(&mut r.throttle_time_ms),
        DescribeConfigs(r) => Some(&mut r.throttle_time_ms),
        DescribeDelegationToken(r) => Some(&mut r.throttle_time_ms),
        DescribeGroups(r) => Some(&mut r.throttle_time_ms),
        DescribeLogDirs(r) => Some(&mut r.throttle_time_ms),
        DescribeProducers(r) => Some(&mut r.throttle_time_ms),
        DescribeShareGroupOffsets(r) => Some(&mut r.throttle_time_ms),
        DescribeTopicPartitions(r) => Some(&mut r.throttle_time_ms),
        DescribeTransactions(r) => Some(&mut r.throttle_time_ms),
        DescribeUserScramCredentials(r) => Some(&mut r.throttle_time_ms),
        ElectLeaders(r) => Some(&mut r.throttle_time_ms),
        EndTxn(r) => Some(&mut r.throttle_time_ms),
        ExpireDelegationToken(r) => Some(&mut r.throttle_time_ms),
        Fetch(r) => Some(&mut r.throttle_time_ms),
        FetchSnapshot(r) => Some(&mut r.throttle_time_ms),
        FindCoordinator(r) => Some(&mut r.throttle_time_ms),
        GetTelemetrySubscriptions(r) => Some(&mut r.throttle_time_ms),
        Heartbeat(r) => Some(&mut r.throttle_time_ms),
        IncrementalAlterConfigs(r) => Some(&mut r.throttle_time_ms),
        InitProducerId(r) => Some(&mut r.throttle_time_ms),
        JoinGroup(r) => Some(&mut r.throttle_time_ms),
        LeaveGroup(r) => Some(&mut r.throttle_time_ms),
        ListConfigResources(r) => Some(&mut r.throttle_time_ms),
        ListGroups(r) => Some(&mut r.throttle_time_ms),
        ListOffsets(r) => Some(&mut r.throttle_time_ms),
        ListPartitionReassignments(r) => Some(&mut r.throttle_time_ms),
        ListTransactions(r) => Some(&mut r.throttle_time_ms),
        Metadata(r) => Some(&mut r.throttle_time_ms),
        OffsetCommit(r) => Some(&mut r.throttle_time_ms),
        OffsetDelete(r) => Some(&mut r.throttle_time_ms),
        OffsetFetch(r) => Some(&mut r.throttle_time_ms),
        OffsetForLeaderEpoch(r) => Some(&mut r.throttle_time_ms),
        Produce(r) => Some(&mut r.throttle_time_ms),
        PushTelemetry(r) => Some(&mut r.throttle_time_ms),
        RemoveRaftVoter(r) => Some(&mut r.throttle_time_ms),
        RenewDelegationToken(r) => Some(&mut r.throttle_time_ms),
        ShareAcknowledge(r) => Some(&mut r.throttle_time_ms),
        ShareFetch(r) => Some(&mut r.throttle_time_ms),
        ShareGroupDescribe(r) => Some(&mut r.throttle_time_ms),
        ShareGroupHeartbeat(r) => Some(&mut r.throttle_time_ms),
        StreamsGroupDescribe(r) => Some(&mut r.throttle_time_ms),
        StreamsGroupHeartbeat(r) => Some(&mut r.throttle_time_ms),
        SyncGroup(r) => Some(&mut r.throttle_time_ms),
        TxnOffsetCommit(r) => Some(&mut r.throttle_time_ms),
        UnregisterBroker(r) => Some(&mut r.throttle_time_ms),
        UpdateFeatures(r) => Some(&mut r.throttle_time_ms),
        UpdateRaftVoter(r) => Some(&mut r.throttle_time_ms),
        _ => None,
    }
}

/// Whether a client of `api_key` at `version` throttles itself on `throttle_time_ms` (KIP-219):
/// then the broker answers at once and mutes the connection; older versions get their response
/// held back for the throttle time instead. The first such version of each API, as Kafka's
/// responses' `shouldClientThrottle`.
pub fn client_throttles(api_key: i16, version: i16) -> bool {
    let first: i16 = match api_key {
        0 => 6,                                     // Produce
        1 => 8,                                     // Fetch
        2 => 3,                                     // ListOffsets
        3 => 6,                                     // Metadata
        8 | 9 => 4,                                 // OffsetCommit, OffsetFetch
        10 | 12 | 13 | 14 | 15 | 16 | 18 | 20 => 2, // FindCoordinator .. ApiVersions, DeleteTopics
        11 | 19 => 3,                               // JoinGroup, CreateTopics
        23 => 3,                                    // OffsetForLeaderEpoch
        21 | 22 | 24..=31 | 33..=43 => 1,
        32 => 2, // DescribeConfigs
        _ => 0,
    };
    version >= first
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_metadata::{MetadataRecord, QuotaValue};

    /// An entity as (type, name) pairs.
    type Parts<'a> = &'a [(&'a str, Option<&'a str>)];

    fn image(quotas: &[(Parts<'_>, &str, f64)]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for (i, (entity, key, value)) in quotas.iter().enumerate() {
            let record = MetadataRecord::ClientQuota {
                entity: entity
                    .iter()
                    .map(|(t, n)| (t.to_string(), n.map(str::to_owned)))
                    .collect(),
                key: key.to_string(),
                value: Some(QuotaValue(*value)),
            };
            image.apply(i as i64, &record).unwrap();
        }
        image
    }

    fn resolved(q: &Quotas, user: &str, client: &str) -> Option<(f64, String, String)> {
        q.resolve(QuotaType::Produce, user, client)
            .map(|(v, k)| (v, k.user, k.client_id))
    }

    #[test]
    fn kafkas_precedence_from_user_and_client_down_to_the_client_default() {
        let levels: [(Parts<'_>, f64); 8] = [
            (&[("user", Some("u")), ("client-id", Some("c"))], 1.0),
            (&[("user", Some("u")), ("client-id", None)], 2.0),
            (&[("user", Some("u"))], 3.0),
            (&[("user", None), ("client-id", Some("c"))], 4.0),
            (&[("user", None), ("client-id", None)], 5.0),
            (&[("user", None)], 6.0),
            (&[("client-id", Some("c"))], 7.0),
            (&[("client-id", None)], 8.0),
        ];
        let tags = [
            ("u", "c"),
            ("u", "c"),
            ("u", ""),
            ("u", "c"),
            ("u", "c"),
            ("u", ""),
            ("", "c"),
            ("", "c"),
        ];
        // With levels i.. set, level i wins, and names the sensor as Kafka's metric tags do.
        for i in 0..levels.len() {
            let set: Vec<(Parts<'_>, &str, f64)> =
                levels[i..].iter().map(|(e, v)| (*e, PRODUCER_BYTE_RATE, *v)).collect();
            let q = Quotas::new(QuotaSettings::default(), &image(&set));
            let (v, user, client) = resolved(&q, "u", "c").expect("a quota applies");
            assert_eq!(v, levels[i].1, "level {}", i + 1);
            assert_eq!((user.as_str(), client.as_str()), tags[i], "level {}", i + 1);
        }
    }

    #[test]
    fn each_quota_type_resolves_on_its_own_and_unquoted_clients_are_free() {
        let q = Quotas::new(
            QuotaSettings::default(),
            &image(&[
                (&[("user", Some("u"))], CONSUMER_BYTE_RATE, 10.0),
                (&[("client-id", None)], PRODUCER_BYTE_RATE, 20.0),
                (&[("ip", None)], CONNECTION_CREATION_RATE, 5.0),
            ]),
        );
        assert_eq!(q.resolve(QuotaType::Fetch, "u", "c").unwrap().0, 10.0);
        assert_eq!(q.resolve(QuotaType::Produce, "u", "c").unwrap().0, 20.0);
        assert!(q.resolve(QuotaType::Fetch, "v", "c").is_none());
        assert!(q.resolve(QuotaType::Request, "u", "c").is_none());
        assert_eq!(q.record(QuotaType::Request, "u", "c", 1e9, 0), 0);
        let empty = Quotas::new(QuotaSettings::default(), &MetadataImage::empty());
        assert!(!empty.any_client_quota());
    }

    #[test]
    fn request_time_throttles_are_bounded_by_one_window() {
        let q = Quotas::new(
            QuotaSettings::default(),
            &image(&[(&[("user", None)], REQUEST_PERCENTAGE, 1.0)]),
        );
        // 100 s of handler time against 1% of a thread: far over, but at most one window.
        assert_eq!(q.record(QuotaType::Request, "u", "c", 10_000.0, 1_000_000), 1000);
    }
}

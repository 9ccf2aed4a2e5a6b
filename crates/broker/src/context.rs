//! State shared by every connection of a broker.

use crate::groups::Groups;
use crate::logs::Logs;
use sluice_config::{BrokerConfig, DynamicBrokerConfigs, SecurityProtocol};
use sluice_metadata::{ConfigResource, MetadataError, MetadataStore, TopicImage};
use sluice_protocol::Uuid;
use sluice_storage::LogConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Semaphore;

/// One listener: where it binds and what it tells clients to connect to.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// The listener's name (`PLAINTEXT`, `INTERNAL`, `EXTERNAL`, ...), from `listeners`.
    pub name: String,
    /// Where it binds. Port 0 asks the OS for a free port (tests).
    pub bind: SocketAddr,
    /// Host clients are told in Metadata, from `advertised.listeners`; `None` means the bound
    /// address.
    pub advertised_host: Option<String>,
    /// Port clients are told; `None` means the bound port.
    pub advertised_port: Option<u16>,
    /// How connections on it are secured (`listener.security.protocol.map`).
    pub security_protocol: SecurityProtocol,
    /// SASL settings, required on SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<Arc<crate::authenticate::SaslSettings>>,
    /// TLS, required on SSL and SASL_SSL listeners: every connection is a TLS session first.
    pub tls: Option<Arc<sluice_security::tls::ReloadableTls>>,
    /// `ssl.principal.mapping.rules`: client certificate subject to principal name.
    pub principal_mapper: Option<Arc<sluice_security::mapping::SslPrincipalMapper>>,
}

/// The settings the connection layer and handlers need, with Kafka's meaning.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// `node.id`: this broker's id in Metadata.
    pub node_id: i32,
    /// The cluster id kept in `meta.properties`.
    pub cluster_id: String,
    /// `listeners` with their advertised addresses.
    pub listeners: Vec<ListenerSettings>,
    /// `socket.request.max.bytes`: a frame announcing more is refused and its connection closed.
    pub socket_request_max_bytes: usize,
    /// `queued.max.request.bytes`: bytes of request frames held across all connections at once.
    /// A connection whose next frame does not fit waits (stops reading) until others finish, so
    /// a thousand clients announcing huge frames cannot make the broker allocate beyond this.
    pub queued_max_request_bytes: usize,
    /// `queued.max.response.bytes` (Sluice only): fetched record bytes the broker may hold that
    /// clients have not yet read off their sockets. Without it, clients that send fetches and
    /// never read make the broker hold every response they asked for.
    pub queued_max_response_bytes: usize,
    /// `max.connections`: connections accepted across all listeners.
    pub max_connections: usize,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
    /// `max.connection.creation.rate`: connections accepted per second across all listeners; past
    /// it, accepting waits (Kafka's acceptors block the same way).
    pub max_connection_creation_rate: u32,
    /// `connections.max.idle.ms`: a connection with no complete request for this long is closed.
    pub connections_max_idle_ms: u64,
    /// `num.partitions`: partitions of a topic created without a count (or auto-created).
    pub num_partitions: i32,
    /// `default.replication.factor`: replicas of a topic created without a factor.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`: whether Metadata may create the topics it is asked about.
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable`: whether DeleteTopics may delete.
    pub delete_topic_enable: bool,
    /// The whole validated configuration, for DescribeConfigs and topic defaults.
    pub config: sluice_config::BrokerConfig,
    /// Defaults for every partition log (`log.segment.bytes`, `log.retention.ms`, ...), before
    /// topic overrides.
    pub log_config: LogConfig,
    /// `fetch.max.bytes`: the most record bytes one Fetch response carries, whatever the request
    /// asks (Kafka's broker-side cap; the first batch may exceed it so consumers progress).
    pub fetch_max_bytes: usize,
    /// Requests one connection may have in progress (being handled or waiting to be written).
    /// Kafka clients pipeline up to `max.in.flight.requests.per.connection` (5 by default).
    pub connection_in_flight_requests_max: usize,
    /// The group coordinator's settings (`group.*`, `offsets.retention.minutes`, ...).
    pub groups: sluice_group::GroupConfig,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: i64,
    /// The ACL authorizer's settings when `authorizer.class.name` names one; `None`: no
    /// authorizer, every operation allowed (Kafka's behaviour without one).
    pub authorizer: Option<sluice_security::acl::AuthorizerConfig>,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        BrokerSettings {
            node_id: 1,
            cluster_id: "sluice-cluster".into(),
            listeners: vec![ListenerSettings {
                name: "PLAINTEXT".into(),
                bind: SocketAddr::from(([127, 0, 0, 1], 9092)),
                advertised_host: None,
                advertised_port: None,
                security_protocol: SecurityProtocol::Plaintext,
                sasl: None,
                tls: None,
                principal_mapper: None,
            }],
            socket_request_max_bytes: 100 * 1024 * 1024,
            queued_max_request_bytes: 512 * 1024 * 1024,
            queued_max_response_bytes: 512 * 1024 * 1024,
            max_connections: 10_000,
            max_connections_per_ip: 10_000,
            max_connection_creation_rate: u32::MAX,
            connections_max_idle_ms: 600_000,
            connection_in_flight_requests_max: 16,
            fetch_max_bytes: 55 * 1024 * 1024,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            log_config: LogConfig::default(),
            config: sluice_config::BrokerConfig::defaults().expect("the built-in defaults are valid"),
            groups: sluice_group::GroupConfig::default(),
            offsets_topic_num_partitions: 50,
            offsets_retention_check_interval_ms: 600_000,
            authorizer: None,
        }
    }
}

/// The broker's shared state.
pub struct Broker {
    /// Settings fixed at start-up.
    pub settings: BrokerSettings,
    /// The ACL authorizer over the metadata image's ACLs (none when not configured).
    pub acls: crate::acls::Acls,
    /// The bytes-in-flight budget (`queued.max.request.bytes`), one permit per byte.
    pub request_bytes_budget: Arc<Semaphore>,
    /// The fetched-bytes budget (`queued.max.response.bytes`), one permit per byte: a fetch takes
    /// its share before reading and each partition's records hold theirs until written.
    pub response_bytes_budget: Arc<Semaphore>,
    /// Cluster metadata: the log of changes and the image handlers read. Changes are rare and
    /// small (topic creation and deletion, configs), so one lock serialises them.
    metadata: Mutex<MetadataStore>,
    /// The partition logs.
    pub logs: Logs,
    /// Producer ids handed out from the current block: (next, end). Blocks are reserved through
    /// the metadata log, so an id is never handed out twice, even across restarts.
    producer_ids: Mutex<(i64, i64)>,
    /// Dynamic broker configs (from the metadata log) and the configuration they make
    /// effective. Locked after `metadata`, never before.
    dynamic: RwLock<DynamicState>,
    /// The group coordinator and its runtime.
    pub groups: Arc<Groups>,
    /// Client quotas: the index over the image's quotas, the sensors and throttle totals.
    pub quotas: crate::quotas::Quotas,
}

/// The dynamic broker configs in force.
#[derive(Debug, Clone)]
pub struct DynamicState {
    /// The layers as stored: cluster default ("") and this node's own.
    pub layers: DynamicBrokerConfigs,
    /// The static configuration with the layers applied.
    pub effective: Arc<BrokerConfig>,
    /// Topic configs whose broker default is set dynamically, by topic key: applied below
    /// each topic's own overrides, so topics without an override follow the new default.
    pub topic_defaults: BTreeMap<String, String>,
}

impl DynamicState {
    /// The state for `layers` over the static `config`. Stored layers were validated when set;
    /// should they no longer combine (a changed server.properties), the static configuration
    /// stays in force and the problem is logged.
    fn new(config: &BrokerConfig, layers: DynamicBrokerConfigs) -> DynamicState {
        let effective = match config.with_dynamic(&layers) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "dynamic broker configs do not apply over server.properties; ignoring them");
                config.clone()
            }
        };
        let topic_defaults = sluice_config::dynamic_topic_defaults(&effective, &layers);
        DynamicState {
            layers,
            effective: Arc::new(effective),
            topic_defaults,
        }
    }
}

/// The dynamic broker config layers stored in `image` for node `node_id`.
fn dynamic_layers(image: &sluice_metadata::MetadataImage, node_id: i32) -> DynamicBrokerConfigs {
    let layer = |name: String| {
        image
            .configs
            .get(&(ConfigResource::Broker, name))
            .cloned()
            .unwrap_or_default()
    };
    DynamicBrokerConfigs {
        cluster_default: layer(String::new()),
        per_broker: layer(node_id.to_string()),
    }
}

/// Producer ids reserved per metadata commit (Kafka's controller hands out blocks of 1000 too).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// The metadata log's directory inside the data directory, named as KRaft names it.
pub const METADATA_DIR: &str = "__cluster_metadata-0";

impl Broker {
    /// Opens the broker's state in `data_dir`, replaying the metadata log.
    pub fn open(settings: BrokerSettings, data_dir: &Path) -> Result<Arc<Broker>, MetadataError> {
        let metadata = MetadataStore::open(&data_dir.join(METADATA_DIR))?;
        let dynamic = DynamicState::new(&settings.config, dynamic_layers(metadata.image(), settings.node_id));
        // Semaphore permits are bounded by usize::MAX >> 3.
        let budget = settings.queued_max_request_bytes.min(Semaphore::MAX_PERMITS);
        let groups = Arc::new(Groups::new(
            settings.groups.clone(),
            settings.offsets_topic_num_partitions,
            settings.offsets_retention_check_interval_ms,
        ));
        let acls = crate::acls::Acls::new(settings.authorizer.clone(), metadata.image());
        let quotas = crate::quotas::Quotas::new(
            crate::quotas::QuotaSettings::from_config(&settings.config),
            metadata.image(),
        );
        let broker = Arc::new(Broker {
            acls,
            request_bytes_budget: Arc::new(Semaphore::new(budget)),
            response_bytes_budget: Arc::new(Semaphore::new(
                settings.queued_max_response_bytes.min(Semaphore::MAX_PERMITS),
            )),
            logs: Logs::new(data_dir, settings.log_config.clone()),
            settings,
            producer_ids: Mutex::new((0, 0)),
            metadata: Mutex::new(metadata),
            dynamic: RwLock::new(dynamic),
            groups,
            quotas,
        });
        // Committed offsets and groups come back before the first request is served. A failure
        // leaves the coordinator unloaded: group requests then get COORDINATOR_NOT_AVAILABLE and
        // loading is retried on the next one.
        crate::handlers::config_resources::load_group_overrides(&broker);
        if broker.groups.load_if_present(&broker).is_err() {
            tracing::error!("the group coordinator could not load; retrying on first use");
        }
        Ok(broker)
    }

    /// A producer id never handed out before.
    pub fn next_producer_id(&self) -> Result<i64, MetadataError> {
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.0 >= ids.1 {
            let mut store = self.metadata();
            let start = store.image().next_producer_id;
            store.commit(&[sluice_metadata::MetadataRecord::ProducerIds {
                next_producer_id: start + PRODUCER_ID_BLOCK,
            }])?;
            *ids = (start, start + PRODUCER_ID_BLOCK);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// A topic by name with its config overrides, copied out so no lock is held while they are used.
    pub fn topic_with_configs(&self, name: &str) -> Option<(TopicImage, Option<BTreeMap<String, String>>)> {
        let store = self.metadata();
        let image = store.image();
        image
            .topic(name)
            .map(|t| (t.clone(), self.with_dynamic_defaults(image.topic_configs(name))))
    }

    /// A topic by id with its config overrides, copied out of the image.
    pub fn topic_by_id_with_configs(&self, topic_id: &Uuid) -> Option<(TopicImage, Option<BTreeMap<String, String>>)> {
        let store = self.metadata();
        let image = store.image();
        image
            .topics
            .get(topic_id)
            .map(|t| (t.clone(), self.with_dynamic_defaults(image.topic_configs(&t.name))))
    }

    /// Every topic with its config overrides, copied out of the image.
    pub fn topics_with_configs(&self) -> Vec<(TopicImage, Option<BTreeMap<String, String>>)> {
        let store = self.metadata();
        let image = store.image();
        image
            .topics
            .values()
            .map(|t| (t.clone(), self.with_dynamic_defaults(image.topic_configs(&t.name))))
            .collect()
    }

    /// A topic's effective configuration: its overrides over the broker's defaults (dynamic
    /// ones included). Stored overrides were validated when set; should one no longer parse,
    /// the defaults apply.
    pub fn topic_config(&self, overrides: Option<&BTreeMap<String, String>>) -> sluice_config::TopicConfig {
        let pairs: Vec<(&String, &String)> = overrides.map(|o| o.iter().collect()).unwrap_or_default();
        let config = self.effective_config();
        sluice_config::TopicConfig::resolve(&config, &pairs)
            .unwrap_or_else(|_| sluice_config::TopicConfig::from_broker(&config))
    }

    /// The dynamic broker configs in force.
    pub fn dynamic_state(&self) -> DynamicState {
        self.dynamic.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The broker configuration in force: server.properties with the dynamic configs applied.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.dynamic.read().unwrap_or_else(|p| p.into_inner()).effective.clone()
    }

    /// A topic's overrides with the dynamically set broker defaults beneath them, which is what
    /// its partition logs are configured from.
    fn with_dynamic_defaults(&self, overrides: Option<&BTreeMap<String, String>>) -> Option<BTreeMap<String, String>> {
        let dynamic = self.dynamic.read().unwrap_or_else(|p| p.into_inner());
        if dynamic.topic_defaults.is_empty() {
            return overrides.cloned();
        }
        let mut merged = dynamic.topic_defaults.clone();
        merged.extend(overrides.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
        Some(merged)
    }

    /// Re-reads the dynamic broker configs after a metadata change and applies them: topics
    /// without an override of a changed default get the new value, open logs included.
    pub fn reload_dynamic_configs(&self) {
        let layers = dynamic_layers(self.metadata().image(), self.settings.node_id);
        let state = DynamicState::new(&self.settings.config, layers);
        *self.dynamic.write().unwrap_or_else(|p| p.into_inner()) = state;
        for (topic, overrides) in self.topics_with_configs() {
            self.logs.reconfigure_topic(&topic, overrides.as_ref());
        }
    }

    /// Locks the metadata store. A poisoned lock means a handler panicked mid-change; the store
    /// changes its image only after a successful durable append, so its state is still whole.
    pub fn metadata(&self) -> std::sync::MutexGuard<'_, MetadataStore> {
        self.metadata.lock().unwrap_or_else(|p| p.into_inner())
    }
}

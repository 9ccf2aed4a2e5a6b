//! The cluster view: bootstrap, metadata, one connection per broker, routing to partition
//! leaders, and the admin operations.

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::security::Security;
use sluice_protocol::Uuid;
use sluice_protocol::generated::create_partitions_request::CreatePartitionsTopic;
use sluice_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use sluice_protocol::generated::delete_topics_request::DeleteTopicState;
use sluice_protocol::generated::describe_configs_request::DescribeConfigsResource;
use sluice_protocol::generated::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use sluice_protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use sluice_protocol::generated::metadata_request::MetadataRequestTopic;
use sluice_protocol::generated::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataRequest, RequestBody,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to reach a cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `host:port` addresses to bootstrap from; any one that answers is enough.
    pub bootstrap: Vec<String>,
    /// The client id sent in every request header.
    pub client_id: String,
    /// How long to wait for a connection or a response.
    pub request_timeout: Duration,
    /// TLS and SASL, applied to every connection (bootstrap and brokers alike).
    pub security: Security,
}

impl ClientConfig {
    /// A configuration from a comma-separated `host:port[,host:port]` list.
    pub fn new(bootstrap: &str) -> ClientConfig {
        ClientConfig {
            bootstrap: bootstrap
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            client_id: "sluice".into(),
            request_timeout: Duration::from_secs(30),
            security: Security::default(),
        }
    }
}

/// A broker as metadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if any.
    pub rack: Option<String>,
}

/// One partition as metadata describes it.
#[derive(Clone, Debug)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Error code for this partition (0 when fine; LEADER_NOT_AVAILABLE during elections).
    pub error_code: i16,
    /// Leader node id, or -1.
    pub leader: i32,
    /// Leader epoch, or -1.
    pub leader_epoch: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// Offline replica node ids.
    pub offline: Vec<i32>,
}

/// One topic as metadata describes it.
#[derive(Clone, Debug)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id (zero on brokers too old to have them).
    pub id: Uuid,
    /// Error code for this topic (UNKNOWN_TOPIC_OR_PARTITION for a missing one).
    pub error_code: i16,
    /// Whether the topic is internal.
    pub internal: bool,
    /// Partitions, in index order.
    pub partitions: Vec<PartitionInfo>,
}

/// A Metadata answer.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// Cluster id, if the broker sent one.
    pub cluster_id: Option<String>,
    /// Controller node id, or -1.
    pub controller_id: i32,
    /// Brokers.
    pub brokers: Vec<BrokerInfo>,
    /// Topics.
    pub topics: Vec<TopicInfo>,
}

impl Metadata {
    /// The named topic, or the error the broker gave for it.
    pub fn topic(&self, name: &str) -> Result<&TopicInfo> {
        let topic = self
            .topics
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::Kafka {
                code: sluice_protocol::ErrorCode::UnknownTopicOrPartition.code(),
                message: format!("Topic '{name}' does not exist"),
            })?;
        if topic.error_code == sluice_protocol::ErrorCode::UnknownTopicOrPartition.code() {
            return Err(Error::Kafka {
                code: topic.error_code,
                message: format!("Topic '{name}' does not exist"),
            });
        }
        Error::check(topic.error_code, None, || format!("Topic '{name}'"))?;
        Ok(topic)
    }
}

/// The result of DescribeCluster (or Metadata on brokers without it).
#[derive(Clone, Debug)]
pub struct ClusterInfo {
    /// Cluster id.
    pub cluster_id: Option<String>,
    /// Controller node id, or -1.
    pub controller_id: i32,
    /// Brokers.
    pub brokers: Vec<BrokerInfo>,
}

/// A topic to create.
#[derive(Clone, Debug)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions, or -1 for the broker's default.
    pub partitions: i32,
    /// Replication factor, or -1 for the broker's default.
    pub replication_factor: i16,
    /// Config overrides.
    pub configs: Vec<(String, String)>,
}

/// One config entry of DescribeConfigs.
#[derive(Clone, Debug)]
pub struct ConfigEntry {
    /// Name.
    pub name: String,
    /// Value (None for sensitive values or unset).
    pub value: Option<String>,
    /// Whether it is read-only.
    pub read_only: bool,
    /// Whether it has its default value.
    pub is_default: bool,
    /// Kafka's config source: 1 dynamic topic config, 2 dynamic broker, 3 dynamic default
    /// broker, 4 static broker, 5 default, 0 or -1 unknown.
    pub source: i8,
    /// Whether it is sensitive.
    pub sensitive: bool,
}

impl ConfigEntry {
    /// Whether the topic overrides it (a topic-level setting).
    pub fn is_topic_override(&self) -> bool {
        self.source == 1
    }
}

/// Where to start reading a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the high watermark).
    Latest,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
}

/// A client for one cluster. Share it behind an `Arc`; every method takes `&self`.
pub struct Client {
    config: ClientConfig,
    bootstrap: tokio::sync::Mutex<Option<Arc<Connection>>>,
    brokers: Mutex<HashMap<i32, String>>,
    connections: tokio::sync::Mutex<HashMap<i32, Arc<Connection>>>,
}

/// Extracts one variant of a response body or fails with a protocol error.
macro_rules! expect_body {
    ($body:expr, $variant:ident) => {
        match $body {
            sluice_protocol::generated::ResponseBody::$variant(r) => r,
            _ => {
                return Err(Error::Protocol(
                    concat!("expected a ", stringify!($variant), " response").into(),
                ))
            }
        }
    };
}
pub(crate) use expect_body;

impl Client {
    /// A client that connects lazily; see [`Client::connect`] to fail fast.
    pub fn new(config: ClientConfig) -> Client {
        Client {
            config,
            bootstrap: tokio::sync::Mutex::new(None),
            brokers: Mutex::new(HashMap::new()),
            connections: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A client connected to one of the bootstrap brokers.
    pub async fn connect(config: ClientConfig) -> Result<Arc<Client>> {
        let client = Arc::new(Client::new(config));
        client.any().await?;
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// A connection to any broker (the first bootstrap address that answers).
    pub async fn any(&self) -> Result<Arc<Connection>> {
        let mut slot = self.bootstrap.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(c.clone());
        }
        let mut last = Error::Invalid("no bootstrap address given".into());
        for address in &self.config.bootstrap {
            match Connection::connect_with(
                address,
                &self.config.client_id,
                self.config.request_timeout,
                &self.config.security,
            )
            .await
            {
                Ok(c) => {
                    *slot = Some(c.clone());
                    return Ok(c);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A connection to broker `node_id` (as last seen in metadata).
    pub async fn broker(&self, node_id: i32) -> Result<Arc<Connection>> {
        let mut connections = self.connections.lock().await;
        if let Some(c) = connections.get(&node_id).filter(|c| c.is_open()) {
            return Ok(c.clone());
        }
        let address = self.brokers.lock().unwrap().get(&node_id).cloned();
        let address = match address {
            Some(a) => a,
            None => {
                drop(connections);
                self.metadata(Some(&[]), false).await?;
                connections = self.connections.lock().await;
                self.brokers
                    .lock()
                    .unwrap()
                    .get(&node_id)
                    .cloned()
                    .ok_or_else(|| Error::Invalid(format!("broker {node_id} is not in the cluster metadata")))?
            }
        };
        let c = Connection::connect_with(
            &address,
            &self.config.client_id,
            self.config.request_timeout,
            &self.config.security,
        )
        .await?;
        connections.insert(node_id, c.clone());
        Ok(c)
    }

    /// Records where broker `node_id` listens (as FindCoordinator named it), so
    /// [`Client::broker`] can connect without a metadata round trip.
    pub(crate) fn remember_broker(&self, node_id: i32, address: String) {
        self.brokers.lock().unwrap().insert(node_id, address);
    }

    /// Fetches metadata for `topics` (`None`: every topic), optionally letting the broker
    /// auto-create missing ones.
    pub async fn metadata(&self, topics: Option<&[String]>, auto_create: bool) -> Result<Metadata> {
        let conn = self.any().await?;
        let version = conn.require(3)?;
        let topics = match topics {
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic {
                        name: Some(n.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            // v0 means "all topics" with an empty array; later versions with null.
            None if version == 0 => Some(Vec::new()),
            None => None,
        };
        let body = conn
            .send(RequestBody::Metadata(MetadataRequest {
                topics,
                allow_auto_topic_creation: auto_create,
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, Metadata);
        let metadata = Metadata {
            cluster_id: r.cluster_id,
            controller_id: r.controller_id,
            brokers: r
                .brokers
                .into_iter()
                .map(|b| BrokerInfo {
                    node_id: b.node_id,
                    host: b.host,
                    port: b.port,
                    rack: b.rack,
                })
                .collect(),
            topics: r
                .topics
                .into_iter()
                .map(|t| {
                    let mut partitions: Vec<PartitionInfo> = t
                        .partitions
                        .into_iter()
                        .map(|p| PartitionInfo {
                            partition: p.partition_index,
                            error_code: p.error_code,
                            leader: p.leader_id,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes,
                            isr: p.isr_nodes,
                            offline: p.offline_replicas,
                        })
                        .collect();
                    partitions.sort_by_key(|p| p.partition);
                    TopicInfo {
                        name: t.name.unwrap_or_default(),
                        id: t.topic_id,
                        error_code: t.error_code,
                        internal: t.is_internal,
                        partitions,
                    }
                })
                .collect(),
        };
        let mut brokers = self.brokers.lock().unwrap();
        for b in &metadata.brokers {
            brokers.insert(b.node_id, format!("{}:{}", b.host, b.port));
        }
        Ok(metadata)
    }

    /// Metadata for one existing topic.
    pub async fn topic(&self, name: &str) -> Result<TopicInfo> {
        self.metadata(Some(&[name.to_owned()]), false)
            .await?
            .topic(name)
            .cloned()
    }

    /// The controller's connection when metadata names one, else any broker's (modern brokers
    /// forward admin requests to the controller themselves).
    pub(crate) async fn admin(&self) -> Result<Arc<Connection>> {
        let metadata = self.metadata(Some(&[]), false).await?;
        if metadata.controller_id >= 0 {
            if let Ok(c) = self.broker(metadata.controller_id).await {
                return Ok(c);
            }
        }
        self.any().await
    }

    /// Creates a topic.
    pub async fn create_topic(&self, topic: NewTopic) -> Result<()> {
        let conn = self.admin().await?;
        let name = topic.name.clone();
        let body = conn
            .send(RequestBody::CreateTopics(CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: topic.name,
                    num_partitions: topic.partitions,
                    replication_factor: topic.replication_factor,
                    configs: topic
                        .configs
                        .into_iter()
                        .map(|(name, value)| CreatableTopicConfig {
                            name,
                            value: Some(value),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                timeout_ms: self.timeout_ms(),
                validate_only: false,
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, CreateTopics);
        let result = r
            .topics
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::Protocol(format!("CreateTopics did not answer for '{name}'")))?;
        if result.error_code == sluice_protocol::ErrorCode::TopicAlreadyExists.code() {
            return Err(Error::Kafka {
                code: result.error_code,
                message: format!("Topic '{name}' already exists"),
            });
        }
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("Topic '{name}'")
        })
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let conn = self.admin().await?;
        let body = conn
            .send(RequestBody::DeleteTopics(DeleteTopicsRequest {
                topics: vec![DeleteTopicState {
                    name: Some(name.to_owned()),
                    ..Default::default()
                }],
                topic_names: vec![name.to_owned()],
                timeout_ms: self.timeout_ms(),
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, DeleteTopics);
        let result = r
            .responses
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol(format!("DeleteTopics did not answer for '{name}'")))?;
        if result.error_code == sluice_protocol::ErrorCode::UnknownTopicOrPartition.code() {
            return Err(Error::Kafka {
                code: result.error_code,
                message: format!("Topic '{name}' does not exist"),
            });
        }
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("Topic '{name}'")
        })
    }

    /// Grows a topic to `count` partitions in total.
    pub async fn create_partitions(&self, name: &str, count: i32) -> Result<()> {
        let conn = self.admin().await?;
        let body = conn
            .send(RequestBody::CreatePartitions(CreatePartitionsRequest {
                topics: vec![CreatePartitionsTopic {
                    name: name.to_owned(),
                    count,
                    assignments: None,
                    ..Default::default()
                }],
                timeout_ms: self.timeout_ms(),
                validate_only: false,
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, CreatePartitions);
        let result = r
            .results
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol(format!("CreatePartitions did not answer for '{name}'")))?;
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("Topic '{name}'")
        })
    }

    /// Describes a topic's configuration (every entry; see [`ConfigEntry::is_topic_override`]).
    pub async fn describe_topic_configs(&self, name: &str) -> Result<Vec<ConfigEntry>> {
        let conn = self.any().await?;
        let body = conn
            .send(RequestBody::DescribeConfigs(DescribeConfigsRequest {
                resources: vec![DescribeConfigsResource {
                    resource_type: 2,
                    resource_name: name.to_owned(),
                    configuration_keys: None,
                    ..Default::default()
                }],
                ..Default::default()
            }))
            .await?;
        let version = conn.require(32)?;
        let r = expect_body!(body, DescribeConfigs);
        let result = r
            .results
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol(format!("DescribeConfigs did not answer for '{name}'")))?;
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("Topic '{name}'")
        })?;
        Ok(result
            .configs
            .into_iter()
            .map(|c| {
                // v0 has no config source; derive it from is_default.
                let source = if version == 0 {
                    if c.is_default { 5 } else { 1 }
                } else {
                    c.config_source
                };
                ConfigEntry {
                    name: c.name,
                    value: c.value,
                    read_only: c.read_only,
                    is_default: c.is_default || source == 5,
                    source,
                    sensitive: c.is_sensitive,
                }
            })
            .collect())
    }

    /// Sets and deletes topic config overrides with IncrementalAlterConfigs.
    pub async fn alter_topic_configs(&self, name: &str, set: &[(String, String)], delete: &[String]) -> Result<()> {
        let conn = self.admin().await?;
        let mut configs: Vec<AlterableConfig> = set
            .iter()
            .map(|(k, v)| AlterableConfig {
                name: k.clone(),
                config_operation: 0,
                value: Some(v.clone()),
                ..Default::default()
            })
            .collect();
        configs.extend(delete.iter().map(|k| AlterableConfig {
            name: k.clone(),
            config_operation: 1,
            value: None,
            ..Default::default()
        }));
        let body = conn
            .send(RequestBody::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: 2,
                    resource_name: name.to_owned(),
                    configs,
                    ..Default::default()
                }],
                validate_only: false,
                ..Default::default()
            }))
            .await?;
        let r = expect_body!(body, IncrementalAlterConfigs);
        let result = r
            .responses
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol(format!("IncrementalAlterConfigs did not answer for '{name}'")))?;
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("Topic '{name}'")
        })
    }

    /// Describes the cluster: DescribeCluster where the broker has it, else Metadata.
    pub async fn describe_cluster(&self) -> Result<ClusterInfo> {
        let conn = self.any().await?;
        if conn.version(60).is_some() {
            let body = conn
                .send(RequestBody::DescribeCluster(DescribeClusterRequest::default()))
                .await?;
            let r = expect_body!(body, DescribeCluster);
            Error::check(r.error_code, r.error_message.as_deref(), || "DescribeCluster".into())?;
            return Ok(ClusterInfo {
                cluster_id: Some(r.cluster_id),
                controller_id: r.controller_id,
                brokers: r
                    .brokers
                    .into_iter()
                    .map(|b| BrokerInfo {
                        node_id: b.broker_id,
                        host: b.host,
                        port: b.port,
                        rack: b.rack,
                    })
                    .collect(),
            });
        }
        let m = self.metadata(Some(&[]), false).await?;
        Ok(ClusterInfo {
            cluster_id: m.cluster_id,
            controller_id: m.controller_id,
            brokers: m.brokers,
        })
    }

    /// Resolves offsets of `partitions` of `topic` with ListOffsets, asking each leader. A
    /// timestamp past every record resolves to the log end offset, as Kafka's consumer does.
    pub async fn list_offsets(
        &self,
        topic: &TopicInfo,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, i64>> {
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for &p in partitions {
            let info = topic
                .partitions
                .iter()
                .find(|i| i.partition == p)
                .ok_or_else(|| Error::Invalid(format!("topic '{}' has no partition {p}", topic.name)))?;
            by_leader.entry(info.leader).or_default().push(p);
        }
        let timestamp = match spec {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        };
        let mut out = BTreeMap::new();
        let mut fallback = Vec::new();
        for (leader, parts) in by_leader {
            if leader < 0 {
                return Err(Error::Kafka {
                    code: sluice_protocol::ErrorCode::LeaderNotAvailable.code(),
                    message: format!("Topic '{}' has a partition without a leader", topic.name),
                });
            }
            let conn = self.broker(leader).await?;
            let body = conn
                .send(RequestBody::ListOffsets(ListOffsetsRequest {
                    replica_id: -1,
                    isolation_level: 0,
                    topics: vec![ListOffsetsTopic {
                        name: topic.name.clone(),
                        partitions: parts
                            .iter()
                            .map(|&p| ListOffsetsPartition {
                                partition_index: p,
                                current_leader_epoch: -1,
                                timestamp,
                                max_num_offsets: 1,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    timeout_ms: self.timeout_ms(),
                    ..Default::default()
                }))
                .await?;
            let r = expect_body!(body, ListOffsets);
            for t in r.topics {
                for p in t.partitions {
                    Error::check(p.error_code, None, || {
                        format!("Partition {}-{}", topic.name, p.partition_index)
                    })?;
                    let offset = if p.offset >= 0 || !p.old_style_offsets.is_empty() {
                        if p.offset >= 0 {
                            p.offset
                        } else {
                            p.old_style_offsets[0]
                        }
                    } else {
                        -1
                    };
                    if offset < 0 {
                        fallback.push(p.partition_index);
                    } else {
                        out.insert(p.partition_index, offset);
                    }
                }
            }
        }
        if !fallback.is_empty() {
            if spec == OffsetSpec::Latest {
                return Err(Error::Protocol("ListOffsets returned no latest offset".into()));
            }
            let latest = Box::pin(self.list_offsets(topic, &fallback, OffsetSpec::Latest)).await?;
            out.extend(latest);
        }
        Ok(out)
    }

    fn timeout_ms(&self) -> i32 {
        self.config.request_timeout.as_millis().min(i32::MAX as u128) as i32
    }
}

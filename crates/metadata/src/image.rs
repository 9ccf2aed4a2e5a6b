//! The in-memory image: what the metadata log says, after applying every record in order.

use crate::record::{AclEntry, ConfigResource, MetadataRecord, QuotaEntity, QuotaValue, ScramCredentialEntry};
use sluice_protocol::Uuid;
use std::collections::{BTreeMap, BTreeSet};

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    /// Registration epoch.
    pub epoch: i64,
    /// Advertised listeners: (name, host, port).
    pub listeners: Vec<(String, String, u16)>,
    /// Rack, if any.
    pub rack: Option<String>,
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Leader, or -1.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Partition epoch.
    pub partition_epoch: i32,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The topic's name.
    pub name: String,
    /// The topic's id.
    pub topic_id: Uuid,
    /// Partitions by index; indexes are dense from 0.
    pub partitions: BTreeMap<i32, PartitionImage>,
}

/// Cluster metadata as of some log offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// The offset of the last record applied, or -1 for none.
    pub offset: i64,
    /// Registered brokers by node id.
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// Topics by id.
    pub topics: BTreeMap<Uuid, TopicImage>,
    /// Topic ids by name, for the topics that exist.
    pub topic_ids: BTreeMap<String, Uuid>,
    /// Config overrides by resource and name, then key.
    pub configs: BTreeMap<(ConfigResource, String), BTreeMap<String, String>>,
    /// The first producer id not yet handed out.
    pub next_producer_id: i64,
    /// SCRAM credentials by user, then Kafka's mechanism code.
    pub scram: BTreeMap<String, BTreeMap<i8, ScramCredentialEntry>>,
    /// Every ACL, ordered (so a rebuilt authorizer sees them in one order on every broker).
    pub acls: BTreeSet<AclEntry>,
    /// Client quotas by entity, then quota key; an entity without quotas is not kept.
    pub client_quotas: BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>,
}

/// A record that does not fit the image it is applied to: the log is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("topic {0} already exists")]
    TopicExists(String),
    #[error("topic id {0} already exists")]
    TopicIdExists(Uuid),
    #[error("unknown topic id {0}")]
    UnknownTopicId(Uuid),
    #[error("partition {partition} of topic {topic_id} is not the next index")]
    PartitionGap { topic_id: Uuid, partition: i32 },
    #[error("producer ids cannot go backwards from {current} to {proposed}")]
    ProducerIdsBackwards { current: i64, proposed: i64 },
}

impl MetadataImage {
    /// An image with nothing applied.
    pub fn empty() -> MetadataImage {
        MetadataImage {
            offset: -1,
            ..Default::default()
        }
    }

    /// Applies one record at `offset`. A record that contradicts the image is an error and leaves
    /// the image unchanged.
    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::RegisterBroker {
                node_id,
                epoch,
                listeners,
                rack,
            } => {
                self.brokers.insert(
                    *node_id,
                    BrokerImage {
                        epoch: *epoch,
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                    },
                );
            }
            MetadataRecord::Topic { name, topic_id } => {
                if self.topic_ids.contains_key(name) {
                    return Err(ApplyError::TopicExists(name.clone()));
                }
                if self.topics.contains_key(topic_id) {
                    return Err(ApplyError::TopicIdExists(*topic_id));
                }
                self.topic_ids.insert(name.clone(), *topic_id);
                self.topics.insert(
                    *topic_id,
                    TopicImage {
                        name: name.clone(),
                        topic_id: *topic_id,
                        partitions: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let topic = self
                    .topics
                    .get_mut(topic_id)
                    .ok_or(ApplyError::UnknownTopicId(*topic_id))?;
                // A new partition must be the next index; an existing one may change.
                let count = topic.partitions.len() as i64;
                if !topic.partitions.contains_key(partition) && i64::from(*partition) != count {
                    return Err(ApplyError::PartitionGap {
                        topic_id: *topic_id,
                        partition: *partition,
                    });
                }
                topic.partitions.insert(
                    *partition,
                    PartitionImage {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                    },
                );
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let topic = self
                    .topics
                    .remove(topic_id)
                    .ok_or(ApplyError::UnknownTopicId(*topic_id))?;
                self.topic_ids.remove(&topic.name);
                self.configs.remove(&(ConfigResource::Topic, topic.name));
            }
            MetadataRecord::Config {
                resource,
                name,
                key,
                value,
            } => {
                let entry = self.configs.entry((*resource, name.clone())).or_default();
                match value {
                    Some(v) => {
                        entry.insert(key.clone(), v.clone());
                    }
                    None => {
                        entry.remove(key);
                    }
                }
                if entry.is_empty() {
                    self.configs.remove(&(*resource, name.clone()));
                }
            }
            MetadataRecord::ScramCredential(e) => {
                self.scram
                    .entry(e.name.clone())
                    .or_default()
                    .insert(e.mechanism, e.clone());
            }
            MetadataRecord::RemoveScramCredential { name, mechanism } => {
                if let Some(user) = self.scram.get_mut(name) {
                    user.remove(mechanism);
                    if user.is_empty() {
                        self.scram.remove(name);
                    }
                }
            }
            MetadataRecord::Acl(a) => {
                self.acls.insert(a.clone());
            }
            MetadataRecord::RemoveAcl(a) => {
                self.acls.remove(a);
            }
            MetadataRecord::ClientQuota { entity, key, value } => self.apply_quota(entity, key, *value),
            MetadataRecord::ProducerIds { next_producer_id } => {
                if *next_producer_id < self.next_producer_id {
                    return Err(ApplyError::ProducerIdsBackwards {
                        current: self.next_producer_id,
                        proposed: *next_producer_id,
                    });
                }
                self.next_producer_id = *next_producer_id;
            }
        }
        self.offset = offset;
        Ok(())
    }

    /// Sets or removes one client quota; an entity left with none is dropped, as Kafka's replay
    /// of `ClientQuotaRecord` does.
    fn apply_quota(&mut self, entity: &QuotaEntity, key: &str, value: Option<QuotaValue>) {
        match value {
            Some(v) => {
                self.client_quotas
                    .entry(entity.clone())
                    .or_default()
                    .insert(key.to_owned(), v);
            }
            None => {
                if let Some(quotas) = self.client_quotas.get_mut(entity) {
                    quotas.remove(key);
                    if quotas.is_empty() {
                        self.client_quotas.remove(entity);
                    }
                }
            }
        }
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    /// A topic's config overrides.
    pub fn topic_configs(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.configs.get(&(ConfigResource::Topic, name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(entity: &[(&str, Option<&str>)], key: &str, value: Option<f64>) -> MetadataRecord {
        MetadataRecord::ClientQuota {
            entity: entity
                .iter()
                .map(|(t, n)| (t.to_string(), n.map(str::to_owned)))
                .collect(),
            key: key.into(),
            value: value.map(QuotaValue),
        }
    }

    #[test]
    fn quotas_are_set_replaced_and_removed_and_empty_entities_dropped() {
        let mut image = MetadataImage::empty();
        let alice = [("user", Some("alice"))];
        image
            .apply(0, &quota(&alice, "producer_byte_rate", Some(100.0)))
            .unwrap();
        image
            .apply(1, &quota(&alice, "consumer_byte_rate", Some(200.0)))
            .unwrap();
        image
            .apply(2, &quota(&alice, "producer_byte_rate", Some(300.0)))
            .unwrap();
        let entity: QuotaEntity = [("user".to_string(), Some("alice".to_string()))].into_iter().collect();
        assert_eq!(image.client_quotas[&entity]["producer_byte_rate"], QuotaValue(300.0));
        image.apply(3, &quota(&alice, "producer_byte_rate", None)).unwrap();
        assert_eq!(image.client_quotas[&entity].len(), 1);
        image.apply(4, &quota(&alice, "consumer_byte_rate", None)).unwrap();
        assert!(image.client_quotas.is_empty());
        // Removing what is not there changes nothing.
        image
            .apply(5, &quota(&[("ip", None)], "connection_creation_rate", None))
            .unwrap();
        assert!(image.client_quotas.is_empty());
    }
}

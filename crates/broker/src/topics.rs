//! Creating and deleting topics: Kafka's validation rules, then one metadata commit.

use crate::context::Broker;
use sluice_group::OFFSETS_TOPIC;
use sluice_metadata::{ConfigResource, MetadataError, MetadataImage, MetadataRecord};
use sluice_protocol::{ErrorCode, Uuid};
use std::io::Read;

/// Kafka's longest legal topic name.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// The most partitions one topic may have here; far above any real use, and a bound on what one
/// request can make the broker create.
pub const TOPIC_PARTITIONS_MAX: i32 = 100_000;
/// Topics Kafka marks internal in Metadata.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state", "__share_group_state"];

/// A refusal: the Kafka error and a sentence saying why.
pub type Refusal = (ErrorCode, String);

/// Kafka's topic name rule (org.apache.kafka.common.internals.Topic.validate).
pub fn validate_name(name: &str) -> Result<(), Refusal> {
    let invalid = |why: String| Err((ErrorCode::InvalidTopicException, why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_BYTES_MAX} characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka refuses a topic whose name equals an existing one once '.' and '_' are treated alike,
/// because their metric names would collide.
fn collides(image: &MetadataImage, name: &str) -> Option<String> {
    let norm = |s: &str| s.replace('.', "_");
    let wanted = norm(name);
    image
        .topic_ids
        .keys()
        .find(|existing| existing.as_str() != name && norm(existing) == wanted)
        .cloned()
}

/// What a create asks for.
pub struct NewTopic<'a> {
    /// The topic name.
    pub name: &'a str,
    /// Partitions, or -1 for `num.partitions`.
    pub num_partitions: i32,
    /// Replication factor, or -1 for `default.replication.factor`.
    pub replication_factor: i16,
    /// Explicit replica assignment per partition, if given (then both counts must be -1).
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Config overrides.
    pub configs: Vec<(String, Option<String>)>,
}

/// A topic as created.
pub struct CreatedTopic {
    /// Its new id.
    pub topic_id: Uuid,
    /// Partitions it has.
    pub num_partitions: i32,
    /// Its replication factor.
    pub replication_factor: i16,
}

fn random_topic_id() -> Uuid {
    let mut raw = [0u8; 16];
    // /dev/urandom does not fail on Linux; a fallback from the clock keeps ids unique enough
    // should it ever be missing.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .is_err()
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(1);
        raw = nanos.to_be_bytes();
    }
    raw[6] = (raw[6] & 0x0f) | 0x40;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    Uuid(raw)
}

/// Validates and (unless `validate_only`) creates a topic with one metadata commit.
pub fn create(broker: &Broker, topic: &NewTopic<'_>, validate_only: bool) -> Result<CreatedTopic, Refusal> {
    validate_name(topic.name)?;
    let settings = &broker.settings;
    let node_id = settings.node_id;
    // Partitions and their replica lists.
    let replicas: Vec<Vec<i32>> = if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions == -1 {
            settings.num_partitions
        } else {
            topic.num_partitions
        };
        let factor = if topic.replication_factor == -1 {
            settings.default_replication_factor
        } else {
            topic.replication_factor
        };
        if partitions <= 0 {
            return Err((
                ErrorCode::InvalidPartitions,
                "Number of partitions must be larger than 0.".into(),
            ));
        }
        if partitions > TOPIC_PARTITIONS_MAX {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("Number of partitions must be at most {TOPIC_PARTITIONS_MAX}."),
            ));
        }
        if factor <= 0 {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0.".into(),
            ));
        }
        if factor > 1 {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {factor} time(s): The target replication factor of {factor} cannot be reached because only 1 broker(s) are registered."
                ),
            ));
        }
        (0..partitions).map(|_| vec![node_id]).collect()
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                ErrorCode::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
            ));
        }
        let mut sorted = topic.assignments.clone();
        sorted.sort_by_key(|(p, _)| *p);
        if sorted.len() > TOPIC_PARTITIONS_MAX as usize {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("Number of partitions must be at most {TOPIC_PARTITIONS_MAX}."),
            ));
        }
        for (i, (partition, brokers)) in sorted.iter().enumerate() {
            if *partition != i as i32 {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    "Partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
            if brokers.is_empty() || brokers.iter().any(|b| *b != node_id) || brokers.len() > 1 {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "Replica assignment {brokers:?} names brokers that are not registered (only {node_id} is)."
                    ),
                ));
            }
        }
        sorted.into_iter().map(|(_, b)| b).collect()
    };
    // Config overrides follow Kafka's rules; a null value is refused as Kafka refuses it.
    if let Some((key, _)) = topic.configs.iter().find(|(_, v)| v.is_none()) {
        return Err((
            ErrorCode::InvalidConfig,
            format!("Null value not supported for topic configs: {key}"),
        ));
    }
    sluice_config::validate_topic_overrides(
        topic
            .configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or_default())),
    )
    .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    let topic_id = random_topic_id();
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.to_owned(),
        topic_id,
    }];
    for (partition, replicas) in replicas.iter().enumerate() {
        records.push(MetadataRecord::Partition {
            topic_id,
            partition: partition as i32,
            replicas: replicas.clone(),
            isr: replicas.clone(),
            leader: replicas[0],
            leader_epoch: 0,
            partition_epoch: 0,
        });
    }
    for (key, value) in &topic.configs {
        records.push(MetadataRecord::Config {
            resource: ConfigResource::Topic,
            name: topic.name.to_owned(),
            key: key.clone(),
            value: value.clone(),
        });
    }
    let mut store = broker.metadata();
    if store.image().topic(topic.name).is_some() {
        return Err((
            ErrorCode::TopicAlreadyExists,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    if let Some(other) = collides(store.image(), topic.name) {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("Topic '{}' collides with existing topic: {other}", topic.name),
        ));
    }
    let created = CreatedTopic {
        topic_id,
        num_partitions: replicas.len() as i32,
        replication_factor: replicas[0].len() as i16,
    };
    if validate_only {
        return Ok(created);
    }
    store.commit(&records).map_err(metadata_refusal)?;
    Ok(created)
}

/// Deletes a topic by id with one metadata commit, then closes and deletes its partition logs
/// (their directories are named after the topic, so a later topic of the same name would
/// otherwise open the old data).
///
/// Internal topics may be deleted, as Kafka's controller allows (only kafka-topics.sh refuses
/// them, on the client side). `__consumer_offsets` is removed under the group coordinator's lock
/// and the coordinator forgets every group with it, as Kafka's resigns the partitions' groups; the
/// next group request creates the topic again, empty.
pub fn delete(broker: &Broker, topic_id: Uuid) -> Result<(), Refusal> {
    if !broker.settings.delete_topic_enable {
        return Err((ErrorCode::TopicDeletionDisabled, "Topic deletion is disabled.".into()));
    }
    let remove = || -> Result<(), Refusal> {
        let mut store = broker.metadata();
        let Some(topic) = store.image().topics.get(&topic_id).cloned() else {
            return Err((
                ErrorCode::UnknownTopicId,
                "This server does not host this topic ID.".into(),
            ));
        };
        store
            .commit(&[MetadataRecord::RemoveTopic { topic_id }])
            .map_err(metadata_refusal)?;
        drop(store);
        broker.logs.remove_topic(&topic);
        Ok(())
    };
    let is_offsets_topic = broker
        .metadata()
        .image()
        .topics
        .get(&topic_id)
        .is_some_and(|t| t.name == OFFSETS_TOPIC);
    if is_offsets_topic {
        broker.groups.remove_offsets_topic(remove)
    } else {
        remove()
    }
}

fn metadata_refusal(e: MetadataError) -> Refusal {
    tracing::error!(error = %e, "metadata commit failed");
    (
        ErrorCode::UnknownServerError,
        format!("The metadata change could not be stored: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules() {
        for ok in ["orders", "a.b_c-d", "X9", &"x".repeat(249)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "has space", "ü", &"x".repeat(250), "a/b"] {
            assert_eq!(
                validate_name(bad).unwrap_err().0,
                ErrorCode::InvalidTopicException,
                "{bad}"
            );
        }
    }
}

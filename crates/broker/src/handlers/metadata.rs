//! Metadata (key 3): brokers, cluster id, controller, and topics.
//!
//! Brokers are advertised with the addresses of the listener the request came in on, so a client
//! that connected through `EXTERNAL` is never told an `INTERNAL` address. A topic that does not
//! exist is created when the request allows it (v4+ `AllowAutoTopicCreation`, always in older
//! versions) and `auto.create.topics.enable` is on; it is answered ready at once, since creation
//! here is synchronous. Otherwise it is UNKNOWN_TOPIC_OR_PARTITION (by name) or UNKNOWN_TOPIC_ID
//! (by id), as in Kafka.

use super::Output;
use crate::session::RequestContext;
use crate::topics::{self, INTERNAL_TOPICS, NewTopic};
use sluice_metadata::TopicImage;
use sluice_protocol::ErrorCode;
use sluice_protocol::Uuid;
use sluice_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use sluice_protocol::generated::{MetadataRequest, MetadataResponse};
use sluice_security::acl::{AclOperation, CLUSTER_NAME, ResourceType};

pub const API_KEY: i16 = 3;
/// Versions served: all the codec has (v0 comes from the pre-4.0 schemas).
pub const VERSIONS: (i16, i16) = (0, 13);

fn describe(topic: &TopicImage) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: 0,
        name: Some(topic.name.clone()),
        topic_id: topic.topic_id,
        is_internal: INTERNAL_TOPICS.contains(&topic.name.as_str()),
        partitions: topic
            .partitions
            .iter()
            .map(|(index, p)| MetadataResponsePartition {
                error_code: 0,
                partition_index: *index,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                offline_replicas: Vec::new(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
pub fn handle(ctx: &RequestContext<'_>, req: MetadataRequest) -> Output {
    Output::respond(answer(ctx, &req))
}

/// A topic the caller may not describe: named, with no partitions, as Kafka answers it.
fn unauthorized(name: Option<String>, topic_id: sluice_protocol::Uuid) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: ErrorCode::TopicAuthorizationFailed.code(),
        name,
        topic_id,
        ..Default::default()
    }
}

fn answer(ctx: &RequestContext<'_>, req: &MetadataRequest) -> MetadataResponse {
    let broker = ctx.broker;
    let conn = &ctx.session;
    let settings = &broker.settings;
    let version = ctx.version();
    let may_describe = |name: &str| ctx.authorize(AclOperation::Describe, ResourceType::Topic, name);
    // v0: an empty list means every topic; v1+: null means every topic.
    let all = match &req.topics {
        None => true,
        Some(list) => version == 0 && list.is_empty(),
    };
    let mut topics: Vec<MetadataResponseTopic> = if all {
        // Every topic the caller may describe; the others are left out, not refused.
        let listed: Vec<MetadataResponseTopic> = broker.metadata().image().topics.values().map(describe).collect();
        listed
            .into_iter()
            .filter(|t| t.name.as_deref().is_some_and(&may_describe))
            .collect()
    } else {
        let may_create = settings.auto_create_topics_enable && (version < 4 || req.allow_auto_topic_creation);
        req.topics
            .iter()
            .flatten()
            .map(|t| match &t.name {
                Some(name) => {
                    if !may_describe(name) {
                        return unauthorized(Some(name.clone()), Uuid::ZERO);
                    }
                    if let Some(topic) = broker.metadata().image().topic(name) {
                        return describe(topic);
                    }
                    let refuse = |code: ErrorCode| MetadataResponseTopic {
                        error_code: code.code(),
                        name: Some(name.clone()),
                        ..Default::default()
                    };
                    if !may_create || INTERNAL_TOPICS.contains(&name.as_str()) {
                        return refuse(ErrorCode::UnknownTopicOrPartition);
                    }
                    // Auto-creation needs CREATE on the cluster or on the topic.
                    if !ctx.authorize_cluster(AclOperation::Create)
                        && !ctx.authorize(AclOperation::Create, ResourceType::Topic, name)
                    {
                        return refuse(ErrorCode::TopicAuthorizationFailed);
                    }
                    let new = NewTopic {
                        name,
                        num_partitions: -1,
                        replication_factor: -1,
                        assignments: Vec::new(),
                        configs: Vec::new(),
                    };
                    match topics::create(broker, &new, false) {
                        // Another request may have created it in between: either way it exists.
                        Ok(_) | Err((ErrorCode::TopicAlreadyExists, _)) => {
                            match broker.metadata().image().topic(name) {
                                Some(topic) => describe(topic),
                                None => refuse(ErrorCode::UnknownTopicOrPartition),
                            }
                        }
                        Err((code, _)) => refuse(code),
                    }
                }
                None => match broker.metadata().image().topics.get(&t.topic_id) {
                    Some(topic) if !may_describe(&topic.name) => unauthorized(None, t.topic_id),
                    Some(topic) => describe(topic),
                    None => MetadataResponseTopic {
                        error_code: ErrorCode::UnknownTopicId.code(),
                        name: None,
                        topic_id: t.topic_id,
                        ..Default::default()
                    },
                },
            })
            .collect()
    };
    if version >= 8 && req.include_topic_authorized_operations {
        for t in topics.iter_mut().filter(|t| t.error_code == 0) {
            if let Some(name) = &t.name {
                t.topic_authorized_operations = ctx.authorized_operations(ResourceType::Topic, name);
            }
        }
    }
    let cluster_authorized_operations = if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        i32::MIN
    };
    MetadataResponse {
        cluster_authorized_operations,
        brokers: vec![MetadataResponseBroker {
            node_id: settings.node_id,
            host: conn.listener.advertised_host.clone(),
            port: i32::from(conn.listener.advertised_port),
            rack: None,
            ..Default::default()
        }],
        cluster_id: Some(settings.cluster_id.clone()),
        controller_id: settings.node_id,
        topics,
        ..Default::default()
    }
}

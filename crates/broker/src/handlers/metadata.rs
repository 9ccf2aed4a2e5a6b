//! Metadata (key 3): brokers, cluster id, controller, and topics.
//!
//! Brokers are advertised with the addresses of the listener the request came in on, so a client
//! that connected through `EXTERNAL` is never told an `INTERNAL` address. A topic that does not
//! exist is created when the request allows it (v4+ `AllowAutoTopicCreation`, always in older
//! versions) and `auto.create.topics.enable` is on; it is answered ready at once, since creation
//! here is synchronous. Otherwise it is UNKNOWN_TOPIC_OR_PARTITION (by name) or UNKNOWN_TOPIC_ID
//! (by id), as in Kafka.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use crate::session::Session;
use crate::topics::{self, INTERNAL_TOPICS, NewTopic};
use sluice_metadata::TopicImage;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use sluice_protocol::generated::{MetadataRequest, MetadataResponse, RequestHeader};
use std::sync::Arc;

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
    Output::respond(answer(ctx.broker, ctx.session, ctx.header, &req))
}

fn answer(broker: &Arc<Broker>, conn: &Session, header: &RequestHeader, req: &MetadataRequest) -> MetadataResponse {
    let settings = &broker.settings;
    let version = header.request_api_version;
    // v0: an empty list means every topic; v1+: null means every topic.
    let all = match &req.topics {
        None => true,
        Some(list) => version == 0 && list.is_empty(),
    };
    let topics = if all {
        broker.metadata().image().topics.values().map(describe).collect()
    } else {
        let may_create = settings.auto_create_topics_enable && (version < 4 || req.allow_auto_topic_creation);
        req.topics
            .iter()
            .flatten()
            .map(|t| match &t.name {
                Some(name) => {
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
    MetadataResponse {
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

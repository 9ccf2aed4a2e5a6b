//! DescribeTopicPartitions (key 75): topics and their partitions, paged by a cursor (KIP-966).
//!
//! Topics come sorted by name (all of them when the request names none), partitions by index,
//! starting at the request's cursor. At most `ResponsePartitionLimit` partitions are returned,
//! capped at [`PARTITION_LIMIT_MAX`] as Kafka caps it; when the limit cuts a listing short,
//! `NextCursor` says where the next request should start.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use crate::topics::INTERNAL_TOPICS;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use sluice_protocol::generated::{DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse};
use sluice_security::acl::{AclOperation, ResourceType};
use std::collections::BTreeSet;

pub const API_KEY: i16 = 75;
/// Versions served: Kafka defines only v0.
pub const VERSIONS: (i16, i16) = (0, 0);
/// Kafka's `max.request.partition.size.limit` default.
pub const PARTITION_LIMIT_MAX: i32 = 2000;
pub fn handle(ctx: &RequestContext<'_>, req: DescribeTopicPartitionsRequest) -> Output {
    // DESCRIBE on each topic: named topics come back TOPIC_AUTHORIZATION_FAILED, listed ones are
    // left out; authorized operations are always filled in (the API has no opt-in).
    let named = !req.topics.is_empty();
    let mut response = answer(ctx.broker, &req);
    let mut kept = Vec::with_capacity(response.topics.len());
    for mut t in std::mem::take(&mut response.topics) {
        let name = t.name.clone().unwrap_or_default();
        if t.error_code == 0 && !ctx.authorize(AclOperation::Describe, ResourceType::Topic, &name) {
            if !named {
                continue;
            }
            t = DescribeTopicPartitionsResponseTopic {
                name: t.name,
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                ..Default::default()
            };
        } else if t.error_code == 0 {
            t.topic_authorized_operations = ctx.authorized_operations(ResourceType::Topic, &name);
        }
        kept.push(t);
    }
    response.topics = kept;
    Output::respond(response)
}

fn answer(broker: &Broker, req: &DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let store = broker.metadata();
    let image = store.image();
    let names: BTreeSet<String> = if req.topics.is_empty() {
        image.topic_ids.keys().cloned().collect()
    } else {
        req.topics.iter().map(|t| t.name.clone()).collect()
    };
    let (cursor_topic, cursor_partition) = match &req.cursor {
        Some(c) => (Some(c.topic_name.as_str()), c.partition_index.max(0)),
        None => (None, 0),
    };
    let mut budget = req.response_partition_limit.clamp(1, PARTITION_LIMIT_MAX);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.iter().filter(|n| cursor_topic.is_none_or(|c| n.as_str() >= c)) {
        let Some(topic) = image.topic(name) else {
            topics.push(DescribeTopicPartitionsResponseTopic {
                error_code: ErrorCode::UnknownTopicOrPartition.code(),
                name: Some(name.clone()),
                ..Default::default()
            });
            continue;
        };
        let first = if cursor_topic == Some(name.as_str()) {
            cursor_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for (index, p) in topic.partitions.range(first..) {
            if budget == 0 {
                next_cursor = Some(Cursor {
                    topic_name: name.clone(),
                    partition_index: *index,
                    ..Default::default()
                });
                break;
            }
            budget -= 1;
            partitions.push(DescribeTopicPartitionsResponsePartition {
                error_code: 0,
                partition_index: *index,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                // Kafka always sends both lists (empty without ELR); the Java admin client
                // (3.8+) dereferences them, so null would crash `kafka-topics --describe`.
                eligible_leader_replicas: Some(Vec::new()),
                last_known_elr: Some(Vec::new()),
                ..Default::default()
            });
        }
        topics.push(DescribeTopicPartitionsResponseTopic {
            error_code: 0,
            name: Some(name.clone()),
            topic_id: topic.topic_id,
            is_internal: INTERNAL_TOPICS.contains(&name.as_str()),
            partitions,
            ..Default::default()
        });
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse {
        topics,
        next_cursor,
        ..Default::default()
    }
}

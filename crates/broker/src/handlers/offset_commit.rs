//! OffsetCommit (key 8): store a group's consumed positions.
//!
//! Unknown topics and partitions are answered UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID by id
//! in v10) before the coordinator sees the request, as Kafka's broker does; the rest are
//! validated against the group (generation, member, state) and written to `__consumer_offsets`.
//! The response waits until the offsets are durable.

use super::{Output, ResponseFuture};
use crate::session::RequestContext;
use sluice_group::{CommitOffset, CommitRequest};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use sluice_protocol::generated::{OffsetCommitRequest, OffsetCommitResponse, ResponseBody};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 8;
/// Versions served. v0 as Kafka 3.x on KRaft served it: v0 offsets lived in ZooKeeper, so once
/// some partition passes authorization and the topic checks, every partition of the request is
/// UNSUPPORTED_VERSION (KafkaApis.requireZkOrThrow). v1 commits to the coordinator like v2,
/// keeping its per-partition commit timestamp when one is given, as Kafka 3.x did. v10 names
/// topics by id.
pub const VERSIONS: (i16, i16) = (0, 10);

pub fn handle(ctx: &RequestContext<'_>, req: OffsetCommitRequest) -> Output {
    let broker = ctx.broker;
    let header = ctx.header;

    let version = header.request_api_version;
    let by_id = version >= 10;
    // Response slots in request order: (topic name, topic id, [(partition, code or pending)]).
    let mut slots: Vec<OffsetCommitResponseTopic> = Vec::with_capacity(req.topics.len());
    // Which slots the coordinator decides, in the order they are sent to it.
    let mut pending: Vec<(usize, usize)> = Vec::new();
    let mut offsets = Vec::new();
    // READ on the group, else every partition is GROUP_AUTHORIZATION_FAILED; READ on each topic.
    let group_allowed = ctx.authorize(AclOperation::Read, ResourceType::Group, &req.group_id);
    for topic in &req.topics {
        let resolved = if by_id {
            broker.topic_by_id_with_configs(&topic.topic_id)
        } else {
            broker.topic_with_configs(&topic.name)
        };
        let unknown = if by_id {
            ErrorCode::UnknownTopicId
        } else {
            ErrorCode::UnknownTopicOrPartition
        };
        let t_slot = slots.len();
        let mut parts = Vec::with_capacity(topic.partitions.len());
        let topic_allowed = match &resolved {
            Some((t, _)) => ctx.authorize(AclOperation::Read, ResourceType::Topic, &t.name),
            None => by_id || ctx.authorize(AclOperation::Read, ResourceType::Topic, &topic.name),
        };
        for p in &topic.partitions {
            let denied = if !group_allowed {
                Some(ErrorCode::GroupAuthorizationFailed)
            } else if !topic_allowed {
                Some(ErrorCode::TopicAuthorizationFailed)
            } else {
                None
            };
            if let Some(code) = denied {
                parts.push(OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: code.code(),
                    ..Default::default()
                });
                continue;
            }
            let known = resolved
                .as_ref()
                .is_some_and(|(t, _)| p.partition_index >= 0 && (p.partition_index as usize) < t.partitions.len());
            let code = if known {
                pending.push((t_slot, parts.len()));
                offsets.push(CommitOffset {
                    topic: resolved.as_ref().expect("known").0.name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone(),
                    // v1's per-partition commit time; -1 (and every other version) is "now".
                    commit_timestamp_ms: (p.commit_timestamp != -1).then_some(p.commit_timestamp),
                });
                ErrorCode::None
            } else if resolved.is_some() {
                ErrorCode::UnknownTopicOrPartition
            } else {
                unknown
            };
            parts.push(OffsetCommitResponsePartition {
                partition_index: p.partition_index,
                error_code: code.code(),
                ..Default::default()
            });
        }
        slots.push(OffsetCommitResponseTopic {
            name: if by_id { String::new() } else { topic.name.clone() },
            topic_id: if by_id { topic.topic_id } else { Default::default() },
            partitions: parts,
            ..Default::default()
        });
    }
    if version == 0 && !offsets.is_empty() {
        for p in slots.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.error_code = ErrorCode::UnsupportedVersion.code();
        }
        offsets.clear();
    }
    if offsets.is_empty() {
        return Output::Respond(ResponseBody::OffsetCommit(OffsetCommitResponse {
            topics: slots,
            ..Default::default()
        }));
    }
    if let Err(e) = broker.groups.ensure_ready(broker) {
        fill(&mut slots, &pending, |_| e.code());
        return Output::Respond(ResponseBody::OffsetCommit(OffsetCommitResponse {
            topics: slots,
            ..Default::default()
        }));
    }
    let commit = CommitRequest {
        group_id: req.group_id.clone(),
        generation_id: req.generation_id_or_member_epoch,
        member_id: req.member_id.clone(),
        instance_id: req.group_instance_id.clone(),
        retention_time_ms: if (2..=4).contains(&version) {
            req.retention_time_ms
        } else {
            -1
        },
        offsets,
    };
    let applied = broker.groups.run(|c, now| c.commit_offsets(now, version, &commit));
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        match broker.groups.finish(applied).await {
            Ok(Ok(codes)) => fill(&mut slots, &pending, |i| codes[i]),
            Ok(Err(code)) | Err(code) => fill(&mut slots, &pending, |_| code),
        }
        Some(ResponseBody::OffsetCommit(OffsetCommitResponse {
            topics: slots,
            ..Default::default()
        }))
    });
    Output::Defer(future)
}

fn fill(slots: &mut [OffsetCommitResponseTopic], pending: &[(usize, usize)], code: impl Fn(usize) -> ErrorCode) {
    for (i, (t, p)) in pending.iter().enumerate() {
        slots[*t].partitions[*p].error_code = code(i).code();
    }
}

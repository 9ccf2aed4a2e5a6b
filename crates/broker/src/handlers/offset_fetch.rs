//! OffsetFetch (key 9): a group's committed positions (v8+ for several groups at once).

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_group::OffsetValue;
use sluice_protocol::generated::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use sluice_protocol::generated::{OffsetFetchRequest, OffsetFetchResponse};
use sluice_protocol::{ErrorCode, Uuid};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 9;
/// Versions served: v0 as Kafka 3.x on KRaft served it (every partition UNSUPPORTED_VERSION:
/// v0 offsets lived in ZooKeeper), v1-10 as Kafka 4; v10 names topics by id.
pub const VERSIONS: (i16, i16) = (0, 10);

/// One partition's answer: offset, epoch, metadata, error.
type Fetched = (i32, i64, i32, Option<String>, ErrorCode);

/// A topic asked for: name, id, partitions, and whether the broker knows it (an unknown topic
/// id is answered with UNKNOWN_TOPIC_ID per partition).
type AskedTopic = (String, Uuid, Vec<i32>, bool);

/// Looks up one group; `topics` are (name, id, partitions) with names already resolved.
fn fetch_group(
    broker: &Broker,
    group_id: &str,
    member: Option<(Option<&str>, i32)>,
    topics: Option<Vec<AskedTopic>>,
) -> Result<Vec<(String, Uuid, Vec<Fetched>)>, ErrorCode> {
    broker.groups.ensure_ready(broker).map_err(|e| e.code())?;
    let value = |v: Option<OffsetValue>| match v {
        Some(v) => (v.offset, v.leader_epoch, Some(v.metadata)),
        None => (-1, -1, Some(String::new())),
    };
    let applied = broker.groups.run(|c, _| {
        // v9+: a consumer group member must send its current epoch (KIP-848).
        if let Some((member_id, epoch)) = member
            && let Err(code) = c.validate_offset_fetch(group_id, member_id, epoch)
        {
            return (Err(code), Default::default());
        }
        let out = match &topics {
            Some(topics) => {
                let wanted: Vec<(String, Vec<i32>)> =
                    topics.iter().map(|(n, _, p, _)| (n.clone(), p.clone())).collect();
                let found = c.fetch_offsets(group_id, Some(&wanted));
                topics
                    .iter()
                    .zip(found)
                    .map(|((name, id, _, known), (_, parts))| {
                        let parts = parts
                            .into_iter()
                            .map(|(p, v)| {
                                if *known {
                                    let (o, e, m) = value(v);
                                    (p, o, e, m, ErrorCode::None)
                                } else {
                                    (p, -1, -1, Some(String::new()), ErrorCode::UnknownTopicId)
                                }
                            })
                            .collect();
                        (name.clone(), *id, parts)
                    })
                    .collect()
            }
            None => c
                .fetch_offsets(group_id, None)
                .into_iter()
                .map(|(name, parts)| {
                    let parts = parts
                        .into_iter()
                        .map(|(p, v)| {
                            let (o, e, m) = value(v);
                            (p, o, e, m, ErrorCode::None)
                        })
                        .collect();
                    (name, Uuid::default(), parts)
                })
                .collect(),
        };
        (Ok(out), Default::default())
    });
    applied.into_value()
}
pub fn handle(ctx: &RequestContext<'_>, req: OffsetFetchRequest) -> Output {
    Output::respond(answer(ctx, &req))
}

/// `fetch_group` behind Kafka's checks: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED
/// for the group), and DESCRIBE on each topic: a topic asked for by name comes back
/// TOPIC_AUTHORIZATION_FAILED, one found by listing all the group's offsets is left out.
fn fetch_authorized(
    ctx: &RequestContext<'_>,
    group_id: &str,
    member: Option<(Option<&str>, i32)>,
    topics: Option<Vec<AskedTopic>>,
) -> Result<Vec<(String, Uuid, Vec<Fetched>)>, ErrorCode> {
    if !ctx.authorize(AclOperation::Describe, ResourceType::Group, group_id) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    let explicit = topics.is_some();
    let found = fetch_group(ctx.broker, group_id, member, topics)?;
    Ok(found
        .into_iter()
        .filter_map(|(name, id, mut parts)| {
            if name.is_empty() || ctx.authorize(AclOperation::Describe, ResourceType::Topic, &name) {
                return Some((name, id, parts));
            }
            if !explicit {
                return None;
            }
            for p in &mut parts {
                *p = (p.0, -1, -1, Some(String::new()), ErrorCode::TopicAuthorizationFailed);
            }
            Some((name, id, parts))
        })
        .collect())
}

fn answer(ctx: &RequestContext<'_>, req: &OffsetFetchRequest) -> OffsetFetchResponse {
    let broker = ctx.broker;
    let version = ctx.version();
    if version == 0 {
        // v0 read offsets from ZooKeeper; Kafka 3.x on KRaft answers it UNSUPPORTED_VERSION on
        // every partition, before any authorization (KafkaApis.requireZkOrThrow).
        return every_partition(req, ErrorCode::UnsupportedVersion);
    }
    if version >= 8 {
        let by_id = version >= 10;
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| {
                            if by_id {
                                match broker.topic_by_id_with_configs(&t.topic_id) {
                                    Some((img, _)) => (img.name, t.topic_id, t.partition_indexes.clone(), true),
                                    None => (String::new(), t.topic_id, t.partition_indexes.clone(), false),
                                }
                            } else {
                                (t.name.clone(), Uuid::default(), t.partition_indexes.clone(), true)
                            }
                        })
                        .collect()
                });
                let member = (version >= 9).then_some((g.member_id.as_deref(), g.member_epoch));
                match fetch_authorized(ctx, &g.group_id, member, topics) {
                    Ok(found) => OffsetFetchResponseGroup {
                        group_id: g.group_id.clone(),
                        topics: found
                            .into_iter()
                            .map(|(name, id, parts)| {
                                let topic_id = if by_id {
                                    if id.is_zero() {
                                        broker.topic_with_configs(&name).map(|(t, _)| t.topic_id).unwrap_or(id)
                                    } else {
                                        id
                                    }
                                } else {
                                    Uuid::default()
                                };
                                OffsetFetchResponseTopics {
                                    name: if by_id { String::new() } else { name },
                                    topic_id,
                                    partitions: parts
                                        .into_iter()
                                        .map(|(p, o, e, m, code)| OffsetFetchResponsePartitions {
                                            partition_index: p,
                                            committed_offset: o,
                                            committed_leader_epoch: e,
                                            metadata: m,
                                            error_code: code.code(),
                                            ..Default::default()
                                        })
                                        .collect(),
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        error_code: 0,
                        ..Default::default()
                    },
                    Err(code) => OffsetFetchResponseGroup {
                        group_id: g.group_id.clone(),
                        error_code: code.code(),
                        ..Default::default()
                    },
                }
            })
            .collect();
        return OffsetFetchResponse {
            groups,
            ..Default::default()
        };
    }
    let topics = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.clone(), Uuid::default(), t.partition_indexes.clone(), true))
            .collect()
    });
    match fetch_authorized(ctx, &req.group_id, None, topics) {
        Ok(found) => OffsetFetchResponse {
            topics: found
                .into_iter()
                .map(|(name, _, parts)| OffsetFetchResponseTopic {
                    name,
                    partitions: parts
                        .into_iter()
                        .map(|(p, o, e, m, code)| OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: o,
                            committed_leader_epoch: if version >= 5 { e } else { -1 },
                            metadata: m,
                            error_code: code.code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
        // v0-1 have no top-level error code: Kafka puts the group error on every partition.
        Err(code) if version < 2 => every_partition(req, code),
        Err(code) => OffsetFetchResponse {
            error_code: code.code(),
            ..Default::default()
        },
    }
}

/// `code` on every partition the request names, as v0-1 report a whole-request error.
fn every_partition(req: &OffsetFetchRequest, code: ErrorCode) -> OffsetFetchResponse {
    OffsetFetchResponse {
        topics: req
            .topics
            .iter()
            .flatten()
            .map(|t| OffsetFetchResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|p| OffsetFetchResponsePartition {
                        partition_index: *p,
                        committed_offset: -1,
                        committed_leader_epoch: -1,
                        metadata: Some(String::new()),
                        error_code: code.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

//! OffsetDelete (key 47): remove a group's committed offsets for some partitions (KIP-496).

use super::{Output, ResponseFuture};
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use sluice_protocol::generated::{OffsetDeleteRequest, OffsetDeleteResponse, ResponseBody};

pub const API_KEY: i16 = 47;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 0);

pub fn handle(ctx: &RequestContext<'_>, req: OffsetDeleteRequest) -> Output {
    let broker = ctx.broker;

    if let Err(code) = super::group_gate(ctx, sluice_security::acl::AclOperation::Delete, &req.group_id) {
        return Output::Respond(ResponseBody::OffsetDelete(OffsetDeleteResponse {
            error_code: code.code(),
            ..Default::default()
        }));
    }
    // Partitions of unknown topics are answered here, as Kafka's broker does.
    let mut known: Vec<(String, Vec<i32>)> = Vec::new();
    let mut unknown: Vec<OffsetDeleteResponseTopic> = Vec::new();
    for t in &req.topics {
        let topic = broker.topic_with_configs(&t.name);
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        // READ on the topic, else its partitions are TOPIC_AUTHORIZATION_FAILED and kept.
        if !ctx.authorize(
            sluice_security::acl::AclOperation::Read,
            sluice_security::acl::ResourceType::Topic,
            &t.name,
        ) {
            unknown.push(OffsetDeleteResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    })
                    .collect(),
            });
            continue;
        }
        for p in &t.partitions {
            let exists = topic
                .as_ref()
                .is_some_and(|(img, _)| p.partition_index >= 0 && (p.partition_index as usize) < img.partitions.len());
            if exists {
                ok.push(p.partition_index);
            } else {
                bad.push(OffsetDeleteResponsePartition {
                    partition_index: p.partition_index,
                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                });
            }
        }
        if !ok.is_empty() {
            known.push((t.name.clone(), ok));
        }
        if !bad.is_empty() {
            unknown.push(OffsetDeleteResponseTopic {
                name: t.name.clone(),
                partitions: bad,
            });
        }
    }
    let group_id = req.group_id.clone();
    let applied = broker.groups.run(|c, _| c.delete_offsets(&group_id, &known));
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        let response = match broker.groups.finish(applied).await {
            Ok(Ok(result)) => {
                let mut topics: Vec<OffsetDeleteResponseTopic> = result
                    .into_iter()
                    .map(|(name, parts)| OffsetDeleteResponseTopic {
                        name,
                        partitions: parts
                            .into_iter()
                            .map(|(p, code)| OffsetDeleteResponsePartition {
                                partition_index: p,
                                error_code: code.code(),
                            })
                            .collect(),
                    })
                    .collect();
                topics.extend(unknown);
                OffsetDeleteResponse {
                    topics,
                    ..Default::default()
                }
            }
            Ok(Err(code)) | Err(code) => OffsetDeleteResponse {
                error_code: code.code(),
                ..Default::default()
            },
        };
        Some(ResponseBody::OffsetDelete(response))
    });
    Output::Defer(future)
}

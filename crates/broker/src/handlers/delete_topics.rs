//! DeleteTopics (key 20): delete topics by name (all versions) or by id (v6+).

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use crate::topics;
use sluice_protocol::generated::delete_topics_response::DeletableTopicResult;
use sluice_protocol::generated::{DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader};
use sluice_protocol::{ErrorCode, Uuid};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 20;
/// Versions served: v0 from the pre-4.0 schemas through v6.
pub const VERSIONS: (i16, i16) = (0, 6);
pub fn handle(ctx: &RequestContext<'_>, req: DeleteTopicsRequest) -> Output {
    // DELETE on each topic (by name, once an id is resolved); a denied topic is kept.
    let name_of = |name: &Option<String>, id: &sluice_protocol::Uuid| -> Option<String> {
        name.clone()
            .or_else(|| ctx.broker.metadata().image().topics.get(id).map(|t| t.name.clone()))
    };
    let may = |name: Option<String>| name.is_none_or(|n| ctx.authorize(AclOperation::Delete, ResourceType::Topic, &n));
    let mut denied = Vec::new();
    let mut req = req;
    req.topic_names.retain(|n| {
        let ok = may(Some(n.clone()));
        if !ok {
            denied.push((Some(n.clone()), sluice_protocol::Uuid::ZERO));
        }
        ok
    });
    req.topics.retain(|t| {
        let ok = may(name_of(&t.name, &t.topic_id));
        if !ok {
            denied.push((t.name.clone(), t.topic_id));
        }
        ok
    });
    // controller_mutation_rate: strict from v5, which can carry THROTTLING_QUOTA_EXCEEDED.
    let mut quota = crate::quotas::mutation::MutationQuota::new(ctx, 5);
    let mut response = answer(ctx.broker, ctx.header, &mut quota, &req);
    response.throttle_time_ms = quota.throttle_time_ms();
    response
        .responses
        .extend(denied.into_iter().map(|(name, topic_id)| DeletableTopicResult {
            name,
            topic_id,
            error_code: ErrorCode::TopicAuthorizationFailed.code(),
            error_message: Some("Authorization failed.".into()),
            ..Default::default()
        }));
    Output::respond(response)
}

fn answer(
    broker: &Broker,
    header: &RequestHeader,
    quota: &mut crate::quotas::mutation::MutationQuota,
    req: &DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // v0-5 name topics in TopicNames; v6 in Topics, by name or by id.
    let wanted: Vec<(Option<String>, Uuid)> = if header.request_api_version < 6 {
        req.topic_names.iter().map(|n| (Some(n.clone()), Uuid::ZERO)).collect()
    } else {
        req.topics.iter().map(|t| (t.name.clone(), t.topic_id)).collect()
    };
    let responses = wanted
        .into_iter()
        .map(|(name, topic_id)| {
            let resolved = {
                let store = broker.metadata();
                let image = store.image();
                match &name {
                    Some(n) => image.topic(n).map(|t| (t.name.clone(), t.topic_id, t.partitions.len())),
                    None => image
                        .topics
                        .get(&topic_id)
                        .map(|t| (t.name.clone(), t.topic_id, t.partitions.len())),
                }
            };
            let mut result = DeletableTopicResult {
                name: name.clone(),
                topic_id,
                ..Default::default()
            };
            let outcome = match resolved {
                None if name.is_some() => Err((
                    ErrorCode::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.".to_owned(),
                )),
                None => Err((
                    ErrorCode::UnknownTopicId,
                    "This server does not host this topic ID.".to_owned(),
                )),
                Some((resolved_name, id, partitions)) => {
                    result.name = Some(resolved_name);
                    result.topic_id = id;
                    quota.admit().and_then(|()| {
                        topics::delete(broker, id)?;
                        quota.record(partitions as i64);
                        Ok(())
                    })
                }
            };
            if let Err((code, message)) = outcome {
                result.error_code = code.code();
                result.error_message = Some(message);
            }
            result
        })
        .collect();
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}

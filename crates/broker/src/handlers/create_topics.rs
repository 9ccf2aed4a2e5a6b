//! CreateTopics (key 19): validate and create topics, one result per topic.

use super::Output;
use crate::context::Broker;
use crate::quotas::mutation::MutationQuota;
use crate::session::RequestContext;
use crate::topics::{self, NewTopic};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::create_topics_response::CreatableTopicResult;
use sluice_protocol::generated::{CreateTopicsRequest, CreateTopicsResponse};
use sluice_security::acl::{AclOperation, ResourceType};
use std::collections::HashSet;

pub const API_KEY: i16 = 19;
/// Versions served: v0-v1 from the pre-4.0 schemas through v7.
pub const VERSIONS: (i16, i16) = (0, 7);
pub fn handle(ctx: &RequestContext<'_>, req: CreateTopicsRequest) -> Output {
    // CREATE on the cluster, or on each topic; a denied topic is not created.
    let cluster = ctx.authorize_cluster(AclOperation::Create);
    let (allowed, denied): (Vec<_>, Vec<_>) = req
        .topics
        .iter()
        .cloned()
        .partition(|t| cluster || ctx.authorize(AclOperation::Create, ResourceType::Topic, &t.name));
    // controller_mutation_rate: strict from v6, which can carry THROTTLING_QUOTA_EXCEEDED.
    let mut quota = MutationQuota::new(ctx, 6);
    let mut response = answer(ctx.broker, &mut quota, &CreateTopicsRequest { topics: allowed, ..req });
    response.throttle_time_ms = quota.throttle_time_ms();
    response.topics.extend(denied.into_iter().map(|t| CreatableTopicResult {
        name: t.name,
        error_code: ErrorCode::TopicAuthorizationFailed.code(),
        error_message: Some("Authorization failed.".into()),
        num_partitions: -1,
        replication_factor: -1,
        ..Default::default()
    }));
    Output::respond(response)
}

fn answer(broker: &Broker, quota: &mut MutationQuota, req: &CreateTopicsRequest) -> CreateTopicsResponse {
    // A name given twice is refused for every occurrence, as Kafka does.
    let mut seen = HashSet::new();
    let duplicates: HashSet<&str> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.as_str()))
        .map(|t| t.name.as_str())
        .collect();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let mut result = CreatableTopicResult {
                name: t.name.clone(),
                ..Default::default()
            };
            if duplicates.contains(t.name.as_str()) {
                result.error_code = ErrorCode::InvalidRequest.code();
                result.error_message = Some(format!(
                    "Create topics request from client contains a duplicate topic name: {}",
                    t.name
                ));
                return result;
            }
            let new = NewTopic {
                name: &t.name,
                num_partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                assignments: t
                    .assignments
                    .iter()
                    .map(|a| (a.partition_index, a.broker_ids.clone()))
                    .collect(),
                configs: t.configs.iter().map(|c| (c.name.clone(), c.value.clone())).collect(),
            };
            match quota
                .admit()
                .and_then(|()| topics::create(broker, &new, req.validate_only))
            {
                Ok(created) => {
                    if !req.validate_only {
                        quota.record(i64::from(created.num_partitions));
                    }
                    result.topic_id = created.topic_id;
                    result.num_partitions = created.num_partitions;
                    result.replication_factor = created.replication_factor;
                    result.configs = Some(Vec::new());
                }
                Err((code, message)) => {
                    result.error_code = code.code();
                    result.error_message = Some(message);
                }
            }
            result
        })
        .collect();
    CreateTopicsResponse {
        topics,
        ..Default::default()
    }
}

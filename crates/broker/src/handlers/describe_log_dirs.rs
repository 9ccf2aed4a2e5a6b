//! DescribeLogDirs (key 35): the data directory and the size of each partition in it.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use sluice_protocol::generated::{DescribeLogDirsRequest, DescribeLogDirsResponse};
use sluice_security::acl::AclOperation;
use std::collections::BTreeMap;

pub const API_KEY: i16 = 35;
/// Versions served: v0 from the pre-4.0 schemas through v4.
pub const VERSIONS: (i16, i16) = (0, 4);
pub fn handle(ctx: &RequestContext<'_>, req: DescribeLogDirsRequest) -> Output {
    // DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED (v3+ has a top-level code;
    // older versions get no log dirs), as in Kafka.
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return Output::respond(DescribeLogDirsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        });
    }
    Output::respond(answer(ctx.broker, &req))
}

fn answer(broker: &Broker, req: &DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let topics = broker.topics_with_configs();
    // None: every partition; otherwise the requested ones.
    let wanted: Option<BTreeMap<&str, &Vec<i32>>> = req
        .topics
        .as_ref()
        .map(|ts| ts.iter().map(|t| (t.topic.as_str(), &t.partitions)).collect());
    let mut out_topics = Vec::new();
    for (topic, overrides) in &topics {
        let partitions: Vec<i32> = match &wanted {
            None => topic.partitions.keys().copied().collect(),
            Some(w) => match w.get(topic.name.as_str()) {
                Some(ps) => ps
                    .iter()
                    .copied()
                    .filter(|p| topic.partitions.contains_key(p))
                    .collect(),
                None => continue,
            },
        };
        let partitions = partitions
            .into_iter()
            .filter_map(|index| {
                let partition = broker.logs.partition(topic, index, overrides.as_ref()).ok()?;
                let size = partition.read().size_bytes();
                Some(DescribeLogDirsPartition {
                    partition_index: index,
                    partition_size: i64::try_from(size).unwrap_or(i64::MAX),
                    offset_lag: 0,
                    is_future_key: false,
                    ..Default::default()
                })
            })
            .collect();
        out_topics.push(DescribeLogDirsTopic {
            name: topic.name.clone(),
            partitions,
            ..Default::default()
        });
    }
    DescribeLogDirsResponse {
        results: vec![DescribeLogDirsResult {
            error_code: 0,
            log_dir: broker.logs.dir().display().to_string(),
            topics: out_topics,
            // Unknown here (no statvfs without an extra dependency): Kafka's "unknown" value.
            total_bytes: -1,
            usable_bytes: -1,
            ..Default::default()
        }],
        ..Default::default()
    }
}

//! ConsumerGroupDescribe (key 69): a consumer group's epochs, members, assignments and
//! target assignments. Groups that are unknown or classic answer GROUP_ID_NOT_FOUND.

use super::Output;
use crate::context::Broker;
use crate::groups::TopicSnapshot;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::consumer_group_describe_response::DescribedGroup;
use sluice_protocol::generated::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 69;
/// Versions served: all (v1 adds each member's MemberType).
pub const VERSIONS: (i16, i16) = (0, 1);
pub fn handle(ctx: &RequestContext<'_>, req: ConsumerGroupDescribeRequest) -> Output {
    // DESCRIBE on each group; authorized operations where asked.
    let mut response = answer(ctx.broker, &req);
    for g in &mut response.groups {
        if !ctx.authorize(AclOperation::Describe, ResourceType::Group, &g.group_id) {
            *g = DescribedGroup {
                group_id: std::mem::take(&mut g.group_id),
                error_code: ErrorCode::GroupAuthorizationFailed.code(),
                authorized_operations: i32::MIN,
                ..Default::default()
            };
        } else if req.include_authorized_operations && g.error_code == 0 {
            g.authorized_operations = ctx.authorized_operations(ResourceType::Group, &g.group_id);
        }
    }
    Output::respond(response)
}

fn answer(broker: &Broker, req: &ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    if let Err(e) = broker.groups.ensure_ready(broker) {
        return ConsumerGroupDescribeResponse {
            groups: req
                .group_ids
                .iter()
                .map(|g| DescribedGroup {
                    error_code: e.code().code(),
                    group_id: g.clone(),
                    authorized_operations: i32::MIN,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
    }
    let topics = TopicSnapshot::of(broker);
    let applied = broker.groups.run(|c, _| {
        let groups: Vec<DescribedGroup> = req
            .group_ids
            .iter()
            .map(|g| c.consumer_group_describe(g, req.include_authorized_operations, topics.as_ref()))
            .collect();
        (groups, Default::default())
    });
    ConsumerGroupDescribeResponse {
        groups: applied.into_value(),
        ..Default::default()
    }
}

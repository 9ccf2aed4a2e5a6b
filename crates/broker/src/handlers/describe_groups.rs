//! DescribeGroups (key 15): state, protocol and members of groups.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_groups_response::DescribedGroup;
use sluice_protocol::generated::{DescribeGroupsRequest, DescribeGroupsResponse, RequestHeader};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 15;
/// Versions served: all (v6 answers GROUP_ID_NOT_FOUND for unknown groups, KIP-1043).
pub const VERSIONS: (i16, i16) = (0, 6);
/// Kafka's "authorized operations not requested" marker.
const OPERATIONS_OMITTED: i32 = i32::MIN;
pub fn handle(ctx: &RequestContext<'_>, req: DescribeGroupsRequest) -> Output {
    // DESCRIBE on each group; authorized operations filled in where asked (v3+).
    let mut response = answer(ctx.broker, ctx.header, &req);
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

fn answer(broker: &Broker, header: &RequestHeader, req: &DescribeGroupsRequest) -> DescribeGroupsResponse {
    let version = header.request_api_version;
    if let Err(e) = broker.groups.ensure_ready(broker) {
        return DescribeGroupsResponse {
            groups: req
                .groups
                .iter()
                .map(|g| DescribedGroup {
                    error_code: e.code().code(),
                    group_id: g.clone(),
                    authorized_operations: OPERATIONS_OMITTED,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
    }
    let applied = broker.groups.run(|c, _| {
        let described: Vec<DescribedGroup> = req.groups.iter().map(|g| c.describe_group(g, version)).collect();
        (described, Default::default())
    });
    let mut groups = applied.into_value();
    for g in &mut groups {
        g.authorized_operations = OPERATIONS_OMITTED;
        if version < 6 {
            g.error_message = None;
        }
        if version < 4 {
            for m in &mut g.members {
                m.group_instance_id = None;
            }
        }
    }
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}

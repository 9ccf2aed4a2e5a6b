//! ListGroups (key 16): the groups this coordinator knows, filtered by state (v4) and type (v5).

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_protocol::generated::{ListGroupsRequest, ListGroupsResponse, RequestHeader};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 16;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 5);
pub fn handle(ctx: &RequestContext<'_>, req: ListGroupsRequest) -> Output {
    // DESCRIBE on the cluster lists every group; otherwise only the groups the caller may
    // describe, as Kafka filters them.
    let mut response = answer(ctx.broker, ctx.header, &req);
    if !ctx.authorize_cluster(AclOperation::Describe) {
        response
            .groups
            .retain(|g| ctx.authorize(AclOperation::Describe, ResourceType::Group, &g.group_id));
    }
    Output::respond(response)
}

fn answer(broker: &Broker, header: &RequestHeader, req: &ListGroupsRequest) -> ListGroupsResponse {
    let version = header.request_api_version;
    if let Err(e) = broker.groups.ensure_ready(broker) {
        return ListGroupsResponse {
            error_code: e.code().code(),
            ..Default::default()
        };
    }
    let applied = broker
        .groups
        .run(|c, _| (c.list_groups(&req.states_filter, &req.types_filter), Default::default()));
    let mut groups = applied.into_value();
    for g in &mut groups {
        if version < 4 {
            g.group_state = String::new();
        }
        if version < 5 {
            g.group_type = String::new();
        }
    }
    ListGroupsResponse {
        groups,
        ..Default::default()
    }
}

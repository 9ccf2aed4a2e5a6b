//! LeaveGroup (key 13): members leave a classic group (v3+ in batches, KIP-345).

use super::{Output, ResponseFuture};
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::leave_group_response::MemberResponse;
use sluice_protocol::generated::{LeaveGroupRequest, LeaveGroupResponse, ResponseBody};

pub const API_KEY: i16 = 13;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 5);

pub fn handle(ctx: &RequestContext<'_>, req: LeaveGroupRequest) -> Output {
    let broker = ctx.broker;
    let header = ctx.header;

    let version = header.request_api_version;
    let error = |code: ErrorCode| {
        Output::Respond(ResponseBody::LeaveGroup(LeaveGroupResponse {
            error_code: code.code(),
            ..Default::default()
        }))
    };
    if let Err(code) = super::group_gate(ctx, sluice_security::acl::AclOperation::Read, &req.group_id) {
        return error(code);
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
            .collect()
    } else {
        vec![(req.member_id.clone(), None)]
    };
    let applied = broker.groups.run(|c, now| c.leave(now, &req.group_id, &members));
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        let response = match broker.groups.finish(applied).await {
            Err(code) | Ok(Err(code)) => LeaveGroupResponse {
                error_code: code.code(),
                ..Default::default()
            },
            Ok(Ok(codes)) if version < 3 => LeaveGroupResponse {
                error_code: codes.first().copied().unwrap_or(ErrorCode::None).code(),
                ..Default::default()
            },
            Ok(Ok(codes)) => LeaveGroupResponse {
                members: members
                    .into_iter()
                    .zip(codes)
                    .map(|((member_id, group_instance_id), code)| MemberResponse {
                        member_id,
                        group_instance_id,
                        error_code: code.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        };
        Some(ResponseBody::LeaveGroup(response))
    });
    Output::Defer(future)
}

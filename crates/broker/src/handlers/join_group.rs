//! JoinGroup (key 11): a member joins (or rejoins) a classic group.
//!
//! The answer usually waits for the rest of the group: the request is parked in the coordinator
//! and answered when the join phase completes (see [`crate::groups`]).

use super::{Output, ResponseFuture};
use crate::groups::TopicSnapshot;
use crate::session::RequestContext;
use sluice_group::{Client, Reply};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::{JoinGroupRequest, JoinGroupResponse, ResponseBody};

pub const API_KEY: i16 = 11;
/// Versions served: all (v4 KIP-394 member ids, v5 static members, v9 skip assignment).
pub const VERSIONS: (i16, i16) = (0, 9);

pub fn handle(ctx: &RequestContext<'_>, mut req: JoinGroupRequest) -> Output {
    let broker = ctx.broker;
    let header = ctx.header;
    let conn = ctx.session;

    let version = header.request_api_version;
    if version == 0 {
        // v0 has no rebalance timeout: before Kafka 0.10.1 it was the session timeout, and
        // Kafka's JoinGroupRequest still sets it so for v0.
        req.rebalance_timeout_ms = req.session_timeout_ms;
    }
    if let Err(code) = super::group_gate(ctx, sluice_security::acl::AclOperation::Read, &req.group_id) {
        return Output::Respond(ResponseBody::JoinGroup(fit(
            version,
            error_response(&req.member_id, code),
        )));
    }
    let client_id = header.client_id.clone().unwrap_or_default();
    let host = conn.client_host();
    let (reply, rx) = broker.groups.park();
    // A classic member of a consumer group subscribes to topics the coordinator looks up.
    let topics = TopicSnapshot::of(broker);
    let applied = broker.groups.run(|c, now| {
        let client = Client {
            client_id: &client_id,
            client_host: &host,
        };
        ((), c.join(now, client, version, &req, reply, topics.as_ref()))
    });
    let broker = broker.clone();
    let member_id = req.member_id.clone();
    let future: ResponseFuture = Box::pin(async move {
        let groups = &broker.groups;
        let response = match groups.finish(applied).await {
            Ok(()) => match rx.await {
                Ok(Reply::Join(r)) => r,
                Ok(_) => error_response(&member_id, ErrorCode::UnknownServerError),
                // The reply channel was dropped: `__consumer_offsets` was deleted and the
                // coordinator forgot the group; the client looks the coordinator up again.
                Err(_) => error_response(&member_id, ErrorCode::NotCoordinator),
            },
            Err(code) => {
                groups.unpark(reply);
                error_response(&member_id, code)
            }
        };
        Some(ResponseBody::JoinGroup(fit(version, response)))
    });
    Output::Defer(future)
}

fn error_response(member_id: &str, code: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: code.code(),
        generation_id: -1,
        member_id: member_id.to_string(),
        ..Default::default()
    }
}

/// Drops what `version` cannot carry (the codec refuses fields outside their versions).
fn fit(version: i16, mut r: JoinGroupResponse) -> JoinGroupResponse {
    if version < 7 {
        r.protocol_type = None;
        r.protocol_name = Some(r.protocol_name.unwrap_or_default());
    }
    if version < 9 {
        r.skip_assignment = false;
    }
    if version < 5 {
        for m in &mut r.members {
            m.group_instance_id = None;
        }
    }
    r
}

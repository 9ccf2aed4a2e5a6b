//! SyncGroup (key 14): members fetch their assignment; the leader brings it.

use super::{Output, ResponseFuture};
use crate::groups::TopicSnapshot;
use crate::session::RequestContext;
use sluice_group::Reply;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::{ResponseBody, SyncGroupRequest, SyncGroupResponse};

pub const API_KEY: i16 = 14;
/// Versions served: all (v5 adds protocol type and name).
pub const VERSIONS: (i16, i16) = (0, 5);

pub fn handle(ctx: &RequestContext<'_>, req: SyncGroupRequest) -> Output {
    let broker = ctx.broker;
    let header = ctx.header;

    let version = header.request_api_version;
    if let Err(code) = super::group_gate(ctx, sluice_security::acl::AclOperation::Read, &req.group_id) {
        return Output::Respond(ResponseBody::SyncGroup(fit(version, error_response(code))));
    }
    let (reply, rx) = broker.groups.park();
    // A classic member of a consumer group gets its partitions by topic name.
    let topics = TopicSnapshot::of(broker);
    let applied = broker
        .groups
        .run(|c, now| ((), c.sync(now, &req, reply, topics.as_ref())));
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        let groups = &broker.groups;
        let response = match groups.finish(applied).await {
            Ok(()) => match rx.await {
                Ok(Reply::Sync(r)) => r,
                Ok(_) => error_response(ErrorCode::UnknownServerError),
                // The reply channel was dropped: `__consumer_offsets` was deleted and the
                // coordinator forgot the group; the client looks the coordinator up again.
                Err(_) => error_response(ErrorCode::NotCoordinator),
            },
            Err(code) => {
                groups.unpark(reply);
                error_response(code)
            }
        };
        Some(ResponseBody::SyncGroup(fit(version, response)))
    });
    Output::Defer(future)
}

fn error_response(code: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse {
        error_code: code.code(),
        ..Default::default()
    }
}

fn fit(version: i16, mut r: SyncGroupResponse) -> SyncGroupResponse {
    if version < 5 {
        r.protocol_type = None;
        r.protocol_name = None;
    }
    r
}

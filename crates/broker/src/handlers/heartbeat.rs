//! Heartbeat (key 12): a classic member says it is alive and learns of rebalances.

use super::Output;
use crate::session::RequestContext;
use sluice_protocol::generated::{HeartbeatRequest, HeartbeatResponse};

pub const API_KEY: i16 = 12;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 4);
pub fn handle(ctx: &RequestContext<'_>, req: HeartbeatRequest) -> Output {
    Output::respond(answer(ctx, &req))
}

fn answer(ctx: &RequestContext<'_>, req: &HeartbeatRequest) -> HeartbeatResponse {
    let broker = ctx.broker;
    let code = match super::group_gate(ctx, sluice_security::acl::AclOperation::Read, &req.group_id) {
        Err(code) => code,
        Ok(()) => {
            let applied = broker.groups.run(|c, now| {
                let code = c.heartbeat(
                    now,
                    &req.group_id,
                    &req.member_id,
                    req.group_instance_id.as_deref(),
                    req.generation_id,
                );
                (code, Default::default())
            });
            // A heartbeat writes nothing and parks nothing; its effects are empty.
            applied.into_value()
        }
    };
    HeartbeatResponse {
        error_code: code.code(),
        ..Default::default()
    }
}

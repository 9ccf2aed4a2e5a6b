//! Heartbeat (key 12): a classic member says it is alive and learns of rebalances.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_protocol::generated::{HeartbeatRequest, HeartbeatResponse};

pub const API_KEY: i16 = 12;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 4);
pub fn handle(ctx: &RequestContext<'_>, req: HeartbeatRequest) -> Output {
    Output::respond(answer(ctx.broker, &req))
}

fn answer(broker: &Broker, req: &HeartbeatRequest) -> HeartbeatResponse {
    let code = match broker.groups.ensure_ready(broker) {
        Err(e) => e.code(),
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

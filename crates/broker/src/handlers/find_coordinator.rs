//! FindCoordinator (key 10): which broker coordinates a group (or a transactional id).
//!
//! A single node coordinates every group, so the answer is this broker, at the address of the
//! listener the client came in on. The first lookup creates `__consumer_offsets`, as Kafka's does.
//! Transactional ids need the transaction coordinator, which does not exist yet: they are answered
//! COORDINATOR_NOT_AVAILABLE, so transactional producers fail clearly instead of hanging.

use super::Output;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::find_coordinator_response::Coordinator;
use sluice_protocol::generated::{FindCoordinatorRequest, FindCoordinatorResponse};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 10;
/// Versions served: all (v4+ batches keys, KIP-699; v6 adds share groups).
pub const VERSIONS: (i16, i16) = (0, 6);
/// Most keys one batched request may ask about: a bound on the work and the response.
const KEYS_MAX: usize = 10_000;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

fn lookup(ctx: &RequestContext<'_>, key: &str, key_type: i8) -> Coordinator {
    let (broker, conn) = (ctx.broker, ctx.session);
    let (code, message) = match key_type {
        KEY_TYPE_GROUP if !ctx.authorize(AclOperation::Describe, ResourceType::Group, key) => {
            (ErrorCode::GroupAuthorizationFailed, None)
        }
        KEY_TYPE_TRANSACTION if !ctx.authorize(AclOperation::Describe, ResourceType::TransactionalId, key) => {
            (ErrorCode::TransactionalIdAuthorizationFailed, None)
        }
        KEY_TYPE_GROUP => match broker.groups.ensure_ready(broker) {
            Ok(()) => (ErrorCode::None, None),
            Err(e) => (e.code(), Some("The group coordinator is not available.".to_string())),
        },
        KEY_TYPE_TRANSACTION => (
            ErrorCode::CoordinatorNotAvailable,
            Some("Transactions are not supported by this broker yet.".to_string()),
        ),
        other => (ErrorCode::InvalidRequest, Some(format!("Unknown key type {other}."))),
    };
    let ok = code == ErrorCode::None;
    Coordinator {
        key: key.to_string(),
        node_id: if ok { broker.settings.node_id } else { -1 },
        host: if ok {
            conn.listener.advertised_host.clone()
        } else {
            String::new()
        },
        port: if ok {
            i32::from(conn.listener.advertised_port)
        } else {
            -1
        },
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    }
}
pub fn handle(ctx: &RequestContext<'_>, req: FindCoordinatorRequest) -> Output {
    Output::respond(answer(ctx, ctx.version(), &req))
}

fn answer(ctx: &RequestContext<'_>, version: i16, req: &FindCoordinatorRequest) -> FindCoordinatorResponse {
    if version >= 4 {
        if req.coordinator_keys.len() > KEYS_MAX {
            return FindCoordinatorResponse {
                coordinators: req
                    .coordinator_keys
                    .iter()
                    .map(|k| Coordinator {
                        key: k.clone(),
                        node_id: -1,
                        port: -1,
                        error_code: ErrorCode::InvalidRequest.code(),
                        error_message: Some(format!("At most {KEYS_MAX} keys per request.")),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
        }
        return FindCoordinatorResponse {
            coordinators: req
                .coordinator_keys
                .iter()
                .map(|k| lookup(ctx, k, req.key_type))
                .collect(),
            ..Default::default()
        };
    }
    let c = lookup(ctx, &req.key, req.key_type);
    FindCoordinatorResponse {
        error_code: c.error_code,
        error_message: if version >= 1 { c.error_message } else { None },
        node_id: c.node_id,
        host: c.host,
        port: c.port,
        ..Default::default()
    }
}

//! InitProducerId (key 22): producer ids for idempotent producers.
//!
//! A producer without a transactional id gets a new producer id with epoch 0, as Kafka's
//! handler does: the broker never reuses an id, so a restarted producer can never be confused
//! with its earlier self. Transactional ids need the transaction coordinator, which does not exist
//! yet: they are answered COORDINATOR_NOT_AVAILABLE.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::{InitProducerIdRequest, InitProducerIdResponse};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 22;
/// Versions served: v0-v5 (v6, two-phase commit, is still marked unstable by Kafka).
pub const VERSIONS: (i16, i16) = (0, 5);
pub fn handle(ctx: &RequestContext<'_>, req: InitProducerIdRequest) -> Output {
    // Kafka: with a transactional id, WRITE on it; without, IDEMPOTENT_WRITE on the cluster or
    // WRITE on some topic (KIP-679 made idempotence the default for anyone who may write).
    let allowed = match &req.transactional_id {
        Some(id) => ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, id),
        None => {
            ctx.authorize_cluster(AclOperation::IdempotentWrite)
                || ctx.authorize_by_resource_type(AclOperation::Write, ResourceType::Topic)
        }
    };
    if !allowed {
        let code = if req.transactional_id.is_some() {
            ErrorCode::TransactionalIdAuthorizationFailed
        } else {
            ErrorCode::ClusterAuthorizationFailed
        };
        return Output::respond(InitProducerIdResponse {
            error_code: code.code(),
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        });
    }
    Output::respond(answer(ctx.broker, &req))
}

fn answer(broker: &Broker, req: &InitProducerIdRequest) -> InitProducerIdResponse {
    let refuse = |code: ErrorCode| InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if req.transactional_id.is_some() {
        return refuse(ErrorCode::CoordinatorNotAvailable);
    }
    match broker.next_producer_id() {
        Ok(producer_id) => InitProducerIdResponse {
            error_code: 0,
            producer_id,
            producer_epoch: 0,
            ..Default::default()
        },
        Err(e) => {
            tracing::error!(error = %e, "could not reserve producer ids");
            refuse(ErrorCode::UnknownServerError)
        }
    }
}

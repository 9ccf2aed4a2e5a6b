//! ConsumerGroupHeartbeat (key 68): the KIP-848 consumer group protocol. One request type
//! joins, heartbeats, changes the subscription, acknowledges revocations and leaves; the
//! coordinator answers with the member's epoch and assignment. v1 (KIP-1082) has clients
//! generate their member ids.
//!
//! The response waits until the records the heartbeat wrote are durable, so an assignment a
//! member acts on survives a crash.

use super::{Output, ResponseFuture};
use crate::groups::TopicSnapshot;
use crate::session::RequestContext;
use sluice_group::Client;
use sluice_protocol::generated::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, ResponseBody};

pub const API_KEY: i16 = 68;
/// Versions served: all (v1: client-generated member ids and SubscribedTopicRegex).
pub const VERSIONS: (i16, i16) = (0, 1);

pub fn handle(ctx: &RequestContext<'_>, req: ConsumerGroupHeartbeatRequest) -> Output {
    let broker = ctx.broker;
    let header = ctx.header;
    let conn = ctx.session;

    if let Err(code) = super::group_gate(ctx, sluice_security::acl::AclOperation::Read, &req.group_id) {
        return Output::Respond(ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        }));
    }
    // DESCRIBE on every subscribed topic name, as Kafka checks a subscription before it joins.
    let denied = req.subscribed_topic_names.iter().flatten().any(|t| {
        !ctx.authorize(
            sluice_security::acl::AclOperation::Describe,
            sluice_security::acl::ResourceType::Topic,
            t,
        )
    });
    if denied {
        // Kafka answers with the error's own message and names no topic.
        return Output::Respond(ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
            error_code: sluice_protocol::ErrorCode::TopicAuthorizationFailed.code(),
            error_message: Some("Topic authorization failed.".into()),
            ..Default::default()
        }));
    }
    let version = header.request_api_version;
    let client_id = header.client_id.clone().unwrap_or_default();
    let host = conn.client_host();
    let topics = TopicSnapshot::of(broker);
    let applied = broker.groups.run(|c, now| {
        c.consumer_heartbeat(
            now,
            version,
            Client {
                client_id: &client_id,
                client_host: &host,
            },
            &req,
            topics.as_ref(),
        )
    });
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        let response = match broker.groups.finish(applied).await {
            Ok(r) => r,
            Err(code) => ConsumerGroupHeartbeatResponse {
                error_code: code.code(),
                ..Default::default()
            },
        };
        Some(ResponseBody::ConsumerGroupHeartbeat(response))
    });
    Output::Defer(future)
}

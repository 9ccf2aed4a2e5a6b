//! Metadata (key 3): brokers, cluster id, controller, and topics.
//!
//! Brokers are advertised with the addresses of the listener the request came in on, so a client
//! that connected through `EXTERNAL` is never told an `INTERNAL` address. Topics are not stored
//! yet (the storage and metadata-log work of this issue); every requested topic is answered
//! UNKNOWN_TOPIC_OR_PARTITION (by name) or UNKNOWN_TOPIC_ID (by id), as Kafka does for topics that
//! do not exist.

use crate::connection::ConnectionInfo;
use crate::context::Broker;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::metadata_response::{MetadataResponseBroker, MetadataResponseTopic};
use sluice_protocol::generated::{MetadataRequest, MetadataResponse, RequestHeader};
use std::sync::Arc;

pub const API_KEY: i16 = 3;
/// Versions served: all the codec has (v0 comes from the pre-4.0 schemas).
pub const VERSIONS: (i16, i16) = (0, 13);

pub fn handle(
    broker: &Arc<Broker>,
    conn: &ConnectionInfo,
    _header: &RequestHeader,
    req: &MetadataRequest,
) -> MetadataResponse {
    let settings = &broker.settings;
    let topics = req
        .topics
        .iter()
        .flatten()
        .map(|t| {
            let (error, name) = match &t.name {
                Some(name) => (ErrorCode::UnknownTopicOrPartition, Some(name.clone())),
                None => (ErrorCode::UnknownTopicId, None),
            };
            MetadataResponseTopic {
                error_code: error.code(),
                name,
                topic_id: t.topic_id,
                ..Default::default()
            }
        })
        .collect();
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: settings.node_id,
            host: conn.listener.advertised_host.clone(),
            port: i32::from(conn.listener.advertised_port),
            rack: None,
            ..Default::default()
        }],
        cluster_id: Some(settings.cluster_id.clone()),
        controller_id: settings.node_id,
        topics,
        ..Default::default()
    }
}

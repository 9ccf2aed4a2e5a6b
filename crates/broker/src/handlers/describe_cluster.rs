//! DescribeCluster (key 60): the cluster id, controller and brokers (KIP-700).

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use crate::session::Session;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_cluster_response::DescribeClusterBroker;
use sluice_protocol::generated::{DescribeClusterRequest, DescribeClusterResponse};
use sluice_security::acl::{CLUSTER_NAME, ResourceType};

pub const API_KEY: i16 = 60;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 2);
/// EndpointType 1: brokers (the default); 2 (controllers) is only answered by controller listeners.
const ENDPOINT_TYPE_BROKERS: i8 = 1;
pub fn handle(ctx: &RequestContext<'_>, req: DescribeClusterRequest) -> Output {
    let mut response = answer(ctx.broker, ctx.session, &req);
    if req.include_cluster_authorized_operations && response.error_code == 0 {
        response.cluster_authorized_operations = ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME);
    }
    Output::respond(response)
}

fn answer(broker: &Broker, conn: &Session, req: &DescribeClusterRequest) -> DescribeClusterResponse {
    let settings = &broker.settings;
    if req.endpoint_type != ENDPOINT_TYPE_BROKERS {
        return DescribeClusterResponse {
            error_code: ErrorCode::UnsupportedEndpointType.code(),
            error_message: Some(format!(
                "The endpoint type {} is not supported on this listener.",
                req.endpoint_type
            )),
            endpoint_type: req.endpoint_type,
            cluster_id: settings.cluster_id.clone(),
            ..Default::default()
        };
    }
    DescribeClusterResponse {
        error_code: 0,
        endpoint_type: ENDPOINT_TYPE_BROKERS,
        cluster_id: settings.cluster_id.clone(),
        controller_id: settings.node_id,
        brokers: vec![DescribeClusterBroker {
            broker_id: settings.node_id,
            host: conn.listener.advertised_host.clone(),
            port: i32::from(conn.listener.advertised_port),
            rack: None,
            ..Default::default()
        }],
        ..Default::default()
    }
}

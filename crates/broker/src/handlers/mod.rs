//! One module per API, and the registry of what the broker serves.
//!
//! [`SERVED`] is the single list of APIs and versions this broker answers; ApiVersions advertises
//! exactly it, and the connection refuses anything outside it. Each entry's range lies within
//! what the protocol crate's codec reads and writes.

pub mod alter_client_quotas;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod config_resources;
pub mod configs;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;

use crate::session::RequestContext;
use sluice_protocol::generated::{RequestBody, ResponseBody};
use std::future::Future;
use std::pin::Pin;

/// A response that is not ready when the handler returns (it waits on an fsync or a long poll);
/// `None` means no response at all.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Option<ResponseBody>> + Send>>;

/// What a handler's ordered part produces. Not boxed although `Respond` is much larger than
/// the other variants: one is built per request and moved once, so a box would only add an
/// allocation per response.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// The response, ready now.
    Respond(ResponseBody),
    /// The response comes later; the connection writes it in request order.
    Defer(ResponseFuture),
    /// No response (produce with acks=0).
    NoResponse,
}

impl Output {
    /// A response ready now.
    pub fn respond(body: impl Into<ResponseBody>) -> Output {
        Output::Respond(body.into())
    }
}

/// An API the broker serves, with the versions it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedApi {
    /// The API key.
    pub key: i16,
    /// Lowest version served.
    pub min_version: i16,
    /// Highest version served.
    pub max_version: i16,
}

/// Every API this broker answers, ascending by key.
pub const SERVED: &[ServedApi] = &[
    served(produce::API_KEY, produce::VERSIONS),
    served(fetch::API_KEY, fetch::VERSIONS),
    served(list_offsets::API_KEY, list_offsets::VERSIONS),
    served(metadata::API_KEY, metadata::VERSIONS),
    served(offset_commit::API_KEY, offset_commit::VERSIONS),
    served(offset_fetch::API_KEY, offset_fetch::VERSIONS),
    served(find_coordinator::API_KEY, find_coordinator::VERSIONS),
    served(join_group::API_KEY, join_group::VERSIONS),
    served(heartbeat::API_KEY, heartbeat::VERSIONS),
    served(leave_group::API_KEY, leave_group::VERSIONS),
    served(sync_group::API_KEY, sync_group::VERSIONS),
    served(describe_groups::API_KEY, describe_groups::VERSIONS),
    served(list_groups::API_KEY, list_groups::VERSIONS),
    served(sasl_handshake::API_KEY, sasl_handshake::VERSIONS),
    served(api_versions::API_KEY, api_versions::VERSIONS),
    served(create_topics::API_KEY, create_topics::VERSIONS),
    served(delete_topics::API_KEY, delete_topics::VERSIONS),
    served(delete_records::API_KEY, delete_records::VERSIONS),
    served(init_producer_id::API_KEY, init_producer_id::VERSIONS),
    served(offset_for_leader_epoch::API_KEY, offset_for_leader_epoch::VERSIONS),
    served(describe_acls::API_KEY, describe_acls::VERSIONS),
    served(create_acls::API_KEY, create_acls::VERSIONS),
    served(delete_acls::API_KEY, delete_acls::VERSIONS),
    served(configs::DESCRIBE_API_KEY, configs::DESCRIBE_VERSIONS),
    served(configs::ALTER_API_KEY, configs::ALTER_VERSIONS),
    served(describe_log_dirs::API_KEY, describe_log_dirs::VERSIONS),
    served(sasl_authenticate::API_KEY, sasl_authenticate::VERSIONS),
    served(create_partitions::API_KEY, create_partitions::VERSIONS),
    served(delete_groups::API_KEY, delete_groups::VERSIONS),
    served(elect_leaders::API_KEY, elect_leaders::VERSIONS),
    served(configs::INCREMENTAL_API_KEY, configs::INCREMENTAL_VERSIONS),
    served(
        partition_reassignments::ALTER_API_KEY,
        partition_reassignments::ALTER_VERSIONS,
    ),
    served(
        partition_reassignments::LIST_API_KEY,
        partition_reassignments::LIST_VERSIONS,
    ),
    served(offset_delete::API_KEY, offset_delete::VERSIONS),
    served(describe_client_quotas::API_KEY, describe_client_quotas::VERSIONS),
    served(alter_client_quotas::API_KEY, alter_client_quotas::VERSIONS),
    served(
        describe_user_scram_credentials::API_KEY,
        describe_user_scram_credentials::VERSIONS,
    ),
    served(
        alter_user_scram_credentials::API_KEY,
        alter_user_scram_credentials::VERSIONS,
    ),
    served(describe_quorum::API_KEY, describe_quorum::VERSIONS),
    served(describe_cluster::API_KEY, describe_cluster::VERSIONS),
    served(describe_producers::API_KEY, describe_producers::VERSIONS),
    served(consumer_group_heartbeat::API_KEY, consumer_group_heartbeat::VERSIONS),
    served(consumer_group_describe::API_KEY, consumer_group_describe::VERSIONS),
    served(config_resources::LIST_API_KEY, config_resources::LIST_VERSIONS),
    served(describe_topic_partitions::API_KEY, describe_topic_partitions::VERSIONS),
];

const fn served(key: i16, versions: (i16, i16)) -> ServedApi {
    ServedApi {
        key,
        min_version: versions.0,
        max_version: versions.1,
    }
}

/// Whether the broker answers `key` at `version`.
pub fn serves(key: i16, version: i16) -> bool {
    SERVED
        .iter()
        .any(|a| a.key == key && a.min_version <= version && version <= a.max_version)
}

/// Kafka's first two checks of a group request, in its order: `op` on the group (else
/// GROUP_AUTHORIZATION_FAILED), then the coordinator's readiness.
pub fn group_gate(
    ctx: &RequestContext<'_>,
    op: sluice_security::acl::AclOperation,
    group_id: &str,
) -> Result<(), sluice_protocol::ErrorCode> {
    if !ctx.authorize(op, sluice_security::acl::ResourceType::Group, group_id) {
        return Err(sluice_protocol::ErrorCode::GroupAuthorizationFailed);
    }
    ctx.broker.groups.ensure_ready(ctx.broker).map_err(|e| e.code())
}

/// Runs the handler for `body`. Every handler has the same shape: the request context and the
/// request, by value, in; an [`Output`] out.
pub fn dispatch(ctx: &RequestContext<'_>, body: RequestBody) -> Output {
    match body {
        RequestBody::ApiVersions(req) => api_versions::handle(ctx, req),
        RequestBody::Metadata(req) => metadata::handle(ctx, req),
        RequestBody::Produce(req) => produce::handle(ctx, req),
        RequestBody::FindCoordinator(req) => find_coordinator::handle(ctx, req),
        RequestBody::JoinGroup(req) => join_group::handle(ctx, req),
        RequestBody::SyncGroup(req) => sync_group::handle(ctx, req),
        RequestBody::Heartbeat(req) => heartbeat::handle(ctx, req),
        RequestBody::LeaveGroup(req) => leave_group::handle(ctx, req),
        RequestBody::OffsetCommit(req) => offset_commit::handle(ctx, req),
        RequestBody::OffsetFetch(req) => offset_fetch::handle(ctx, req),
        RequestBody::OffsetDelete(req) => offset_delete::handle(ctx, req),
        RequestBody::ListGroups(req) => list_groups::handle(ctx, req),
        RequestBody::DescribeGroups(req) => describe_groups::handle(ctx, req),
        RequestBody::DeleteGroups(req) => delete_groups::handle(ctx, req),
        RequestBody::ConsumerGroupHeartbeat(req) => consumer_group_heartbeat::handle(ctx, req),
        RequestBody::ConsumerGroupDescribe(req) => consumer_group_describe::handle(ctx, req),
        RequestBody::DescribeLogDirs(req) => describe_log_dirs::handle(ctx, req),
        RequestBody::DescribeTopicPartitions(req) => describe_topic_partitions::handle(ctx, req),
        RequestBody::DescribeConfigs(req) => configs::handle_describe(ctx, req),
        RequestBody::AlterConfigs(req) => configs::handle_alter(ctx, req),
        RequestBody::IncrementalAlterConfigs(req) => configs::handle_incremental_alter(ctx, req),
        RequestBody::DescribeCluster(req) => describe_cluster::handle(ctx, req),
        RequestBody::CreatePartitions(req) => create_partitions::handle(ctx, req),
        RequestBody::DeleteRecords(req) => delete_records::handle(ctx, req),
        RequestBody::OffsetForLeaderEpoch(req) => offset_for_leader_epoch::handle(ctx, req),
        RequestBody::InitProducerId(req) => init_producer_id::handle(ctx, req),
        RequestBody::Fetch(req) => fetch::handle(ctx, req),
        RequestBody::ListOffsets(req) => list_offsets::handle(ctx, req),
        RequestBody::CreateTopics(req) => create_topics::handle(ctx, req),
        RequestBody::DeleteTopics(req) => delete_topics::handle(ctx, req),
        RequestBody::CreateAcls(req) => create_acls::handle(ctx, req),
        RequestBody::DescribeAcls(req) => describe_acls::handle(ctx, req),
        RequestBody::DeleteAcls(req) => delete_acls::handle(ctx, req),
        RequestBody::SaslHandshake(req) => sasl_handshake::handle(ctx, req),
        RequestBody::SaslAuthenticate(req) => sasl_authenticate::handle(ctx, req),
        RequestBody::DescribeUserScramCredentials(req) => describe_user_scram_credentials::handle(ctx, req),
        RequestBody::AlterUserScramCredentials(req) => alter_user_scram_credentials::handle(ctx, req),
        RequestBody::ElectLeaders(req) => elect_leaders::handle(ctx, req),
        RequestBody::ListPartitionReassignments(req) => partition_reassignments::handle_list(ctx, req),
        RequestBody::AlterPartitionReassignments(req) => partition_reassignments::handle_alter(ctx, req),
        RequestBody::DescribeQuorum(req) => describe_quorum::handle(ctx, req),
        RequestBody::DescribeProducers(req) => describe_producers::handle(ctx, req),
        RequestBody::ListConfigResources(req) => config_resources::handle_list(ctx, req),
        RequestBody::DescribeClientQuotas(req) => describe_client_quotas::handle(ctx, req),
        RequestBody::AlterClientQuotas(req) => alter_client_quotas::handle(ctx, req),
        // The connection only dispatches what `serves` accepts, so this is unreachable from the
        // wire; answer defensively by closing nothing and sending nothing.
        _ => Output::NoResponse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_versions_lie_within_the_codec() {
        for api in SERVED {
            let info = sluice_protocol::api(api.key).expect("known API");
            assert!(
                info.supports(api.min_version) && info.supports(api.max_version),
                "{}",
                info.name
            );
            assert!(api.min_version <= api.max_version);
        }
        assert!(SERVED.windows(2).all(|w| w[0].key < w[1].key), "ascending by key");
    }
}

//! Consumer group administration: FindCoordinator, ListGroups, DescribeGroups, OffsetFetch,
//! OffsetCommit, DeleteGroups and OffsetDelete.
//!
//! Every group request goes to the group's coordinator (FindCoordinator, key type 0). A
//! coordinator that is still loading, unavailable or no longer the coordinator answers
//! COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR; such a call is
//! retried against a freshly looked-up coordinator, a bounded number of times.

use crate::client::{Client, expect_body};
use crate::connection::Connection;
use crate::error::{Error, Result};
use bytes::Bytes;
use sluice_protocol::ErrorCode;
use sluice_protocol::codec::{get_array_len, get_i16, get_i32, get_nullable_bytes, get_string};
use sluice_protocol::generated::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use sluice_protocol::generated::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use sluice_protocol::generated::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use sluice_protocol::generated::{
    ConsumerGroupDescribeRequest, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    ListGroupsRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, RequestBody, ResponseBody,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How many times a group request is retried after a coordinator error before giving up.
const COORDINATOR_RETRIES: u32 = 10;
/// ConsumerGroupDescribe's API key (KIP-848).
const CONSUMER_GROUP_DESCRIBE: i16 = 69;
/// The first pause before a retry; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between retries, so ten retries stay within a few seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A topic partition, as group APIs address it: (topic name, partition index).
pub type TopicPartition = (String, i32);

/// The broker coordinating a group, as FindCoordinator answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinator {
    /// Node id, used to reuse one connection per broker.
    pub node_id: i32,
    /// Host to connect to (the listener the request came in on).
    pub host: String,
    /// Port to connect to.
    pub port: i32,
}

/// One group as ListGroups lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("consumer" for consumer groups, empty for groups that only commit offsets).
    pub protocol_type: String,
    /// State (Stable, Empty, ...); `None` from brokers before ListGroups v4, which do not send it.
    pub state: Option<String>,
    /// Type (classic, consumer, ...); `None` from brokers before ListGroups v5.
    pub group_type: Option<String>,
}

/// Filters for ListGroups; empty lists match everything.
#[derive(Clone, Debug, Default)]
pub struct ListGroupsFilter {
    /// Only groups in one of these states (ListGroups v4+; the broker compares case-insensitively).
    pub states: Vec<String>,
    /// Only groups of one of these types (ListGroups v5+).
    pub types: Vec<String>,
}

/// One member of a described group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// Member id the coordinator gave it.
    pub member_id: String,
    /// Static membership id (`group.instance.id`), if it has one.
    pub group_instance_id: Option<String>,
    /// The client id of the member's connection.
    pub client_id: String,
    /// The host the member connects from, as the coordinator saw it.
    pub client_host: String,
    /// Its partitions, decoded from the consumer protocol assignment; empty for other protocol
    /// types or before the group has synced.
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A group as DescribeGroups describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// State: Empty, PreparingRebalance, CompletingRebalance, Stable or Dead (unknown groups).
    pub state: String,
    /// Protocol type ("consumer" for consumer groups).
    pub protocol_type: String,
    /// The chosen protocol: for consumer groups the assignor (range, roundrobin, ...).
    pub protocol: String,
    /// Members, in the coordinator's order.
    pub members: Vec<GroupMember>,
}

/// A group's committed offset for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The committed offset: the next record the group will read.
    pub offset: i64,
    /// The leader epoch committed with it, or -1.
    pub leader_epoch: i32,
    /// The metadata string committed with it.
    pub metadata: Option<String>,
}

/// Decodes a `ConsumerProtocolAssignment`: version (i16), then [topic (string), [partition
/// (i32)]], then user data. Later versions only append fields, so reading this prefix works
/// for all of them. Empty bytes (a member that has not synced yet) are an empty assignment.
pub fn decode_consumer_assignment(bytes: &Bytes) -> Result<Vec<(String, Vec<i32>)>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let bad = |e: sluice_protocol::DecodeError| Error::Protocol(format!("bad consumer protocol assignment: {e}"));
    let mut buf = bytes.clone();
    let version = get_i16(&mut buf).map_err(bad)?;
    if version < 0 {
        return Err(Error::Protocol(format!(
            "bad consumer protocol assignment: version {version}"
        )));
    }
    let topics = get_array_len(&mut buf, false, 6).map_err(bad)?.unwrap_or(0);
    let mut out = Vec::with_capacity(topics);
    for _ in 0..topics {
        let topic = get_string(&mut buf, false, "topic").map_err(bad)?;
        let n = get_array_len(&mut buf, false, 4).map_err(bad)?.unwrap_or(0);
        let mut partitions = Vec::with_capacity(n);
        for _ in 0..n {
            partitions.push(get_i32(&mut buf).map_err(bad)?);
        }
        out.push((topic, partitions));
    }
    // User data follows; nothing here needs it, but a truncated one means corrupt bytes.
    get_nullable_bytes(&mut buf, false).map_err(bad)?;
    Ok(out)
}

/// Whether an error means "ask the coordinator again", possibly a different one.
fn is_coordinator_error(e: &Error) -> bool {
    matches!(
        e.code(),
        Some(ErrorCode::CoordinatorLoadInProgress | ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator)
    )
}

/// The first coordinator error among `codes`, so a response in which any part was answered by
/// a non-coordinator is retried as a whole.
fn coordinator_error(codes: impl IntoIterator<Item = i16>, group: &str) -> Result<()> {
    for code in codes {
        let e = Error::check(code, None, || format!("Group '{group}'"));
        if let Err(e) = e {
            if is_coordinator_error(&e) {
                return Err(e);
            }
        }
    }
    Ok(())
}

impl Client {
    /// Finds the coordinator of `group` (FindCoordinator, key type 0), retrying while none is
    /// available yet.
    pub async fn find_coordinator(&self, group: &str) -> Result<Coordinator> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            match self.find_coordinator_once(group).await {
                Err(e) if is_coordinator_error(&e) && attempt < COORDINATOR_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    async fn find_coordinator_once(&self, group: &str) -> Result<Coordinator> {
        let conn = self.any().await?;
        let version = conn.require(10)?;
        let request = if version >= 4 {
            FindCoordinatorRequest {
                key_type: 0,
                coordinator_keys: vec![group.to_owned()],
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest {
                key: group.to_owned(),
                key_type: 0,
                ..Default::default()
            }
        };
        let body = conn.send(RequestBody::FindCoordinator(request)).await?;
        let r = expect_body!(body, FindCoordinator);
        let (code, message, node_id, host, port) = if version >= 4 {
            let c = r
                .coordinators
                .into_iter()
                .find(|c| c.key == group)
                .ok_or_else(|| Error::Protocol(format!("FindCoordinator did not answer for group '{group}'")))?;
            (c.error_code, c.error_message, c.node_id, c.host, c.port)
        } else {
            (r.error_code, r.error_message, r.node_id, r.host, r.port)
        };
        Error::check(code, message.as_deref(), || {
            format!("The coordinator of group '{group}'")
        })?;
        Ok(Coordinator { node_id, host, port })
    }

    /// A connection to `group`'s coordinator, found with [`Client::find_coordinator`].
    pub async fn coordinator(&self, group: &str) -> Result<Arc<Connection>> {
        let c = self.find_coordinator(group).await?;
        self.remember_broker(c.node_id, format!("{}:{}", c.host, c.port));
        self.broker(c.node_id).await
    }

    /// Sends `make()`'s request to `group`'s coordinator and reads the answer with `read`
    /// (given the version used). When `read` fails with a coordinator error, the coordinator is
    /// looked up again and the request resent, at most [`COORDINATOR_RETRIES`] times.
    async fn coordinator_call<T>(
        &self,
        group: &str,
        key: i16,
        make: impl Fn(i16) -> RequestBody,
        read: impl Fn(ResponseBody, i16) -> Result<T>,
    ) -> Result<T> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let result = async {
                let conn = self.coordinator(group).await?;
                let version = conn.require(key)?;
                let body = conn.send_version(make(version), version).await?;
                read(body, version)
            }
            .await;
            match result {
                Err(e) if is_coordinator_error(&e) && attempt < COORDINATOR_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    /// Lists the groups every broker coordinates (ListGroups to each broker in the metadata,
    /// as Kafka's admin client does), sorted by id. Filters need ListGroups v4 (states) and v5
    /// (types); asking for one a broker lacks fails with UNSUPPORTED_VERSION rather than
    /// silently listing everything.
    pub async fn list_groups(&self, filter: &ListGroupsFilter) -> Result<Vec<ListedGroup>> {
        let metadata = self.metadata(Some(&[]), false).await?;
        let mut out: BTreeMap<String, ListedGroup> = BTreeMap::new();
        let mut nodes: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
        nodes.sort_unstable();
        for node in nodes {
            let conn = self.broker(node).await?;
            let version = conn.require(16)?;
            if !filter.states.is_empty() && version < 4 {
                return Err(Error::Unsupported("ListGroups with a state filter (v4)"));
            }
            if !filter.types.is_empty() && version < 5 {
                return Err(Error::Unsupported("ListGroups with a type filter (v5)"));
            }
            let body = conn
                .send(RequestBody::ListGroups(ListGroupsRequest {
                    states_filter: filter.states.clone(),
                    types_filter: filter.types.clone(),
                    ..Default::default()
                }))
                .await?;
            let r = expect_body!(body, ListGroups);
            Error::check(r.error_code, None, || format!("ListGroups at broker {node}"))?;
            for g in r.groups {
                out.insert(
                    g.group_id.clone(),
                    ListedGroup {
                        group_id: g.group_id,
                        protocol_type: g.protocol_type,
                        state: (version >= 4).then_some(g.group_state),
                        group_type: (version >= 5).then_some(g.group_type),
                    },
                );
            }
        }
        Ok(out.into_values().collect())
    }

    /// Describes one group. An unknown group is described as state `Dead` with no members (the
    /// broker may instead answer GROUP_ID_NOT_FOUND from DescribeGroups v6 on; that becomes the
    /// same `Dead` description, so callers see one shape).
    ///
    /// DescribeGroups describes classic groups only: a KIP-848 consumer group is not found
    /// there (Kafka 4 answers GROUP_ID_NOT_FOUND, "not a classic group"), so then the group is
    /// asked for with ConsumerGroupDescribe, as Kafka's admin client does, and described in the
    /// same shape (protocol type `consumer`, the server-side assignor as the protocol).
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let classic = self.describe_classic_group(group).await?;
        if classic.state != "Dead"
            || self
                .coordinator(group)
                .await?
                .version(CONSUMER_GROUP_DESCRIBE)
                .is_none()
        {
            return Ok(classic);
        }
        let consumer = self.describe_consumer_group(group).await?;
        Ok(consumer.unwrap_or(classic))
    }

    /// ConsumerGroupDescribe for one group; `None` when the broker knows no such consumer group.
    async fn describe_consumer_group(&self, group: &str) -> Result<Option<GroupDescription>> {
        self.coordinator_call(
            group,
            CONSUMER_GROUP_DESCRIBE,
            |_| {
                RequestBody::ConsumerGroupDescribe(ConsumerGroupDescribeRequest {
                    group_ids: vec![group.to_owned()],
                    include_authorized_operations: false,
                    ..Default::default()
                })
            },
            |body, _| {
                let r = expect_body!(body, ConsumerGroupDescribe);
                let g = r.groups.into_iter().find(|g| g.group_id == group).ok_or_else(|| {
                    Error::Protocol(format!("ConsumerGroupDescribe did not answer for group '{group}'"))
                })?;
                if g.error_code == ErrorCode::GroupIdNotFound.code() {
                    return Ok(None);
                }
                Error::check(g.error_code, g.error_message.as_deref(), || format!("Group '{group}'"))?;
                let members = g
                    .members
                    .into_iter()
                    .map(|m| GroupMember {
                        member_id: m.member_id,
                        group_instance_id: m.instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        assignment: m
                            .assignment
                            .topic_partitions
                            .into_iter()
                            .map(|t| (t.topic_name, t.partitions))
                            .collect(),
                    })
                    .collect();
                Ok(Some(GroupDescription {
                    group_id: g.group_id,
                    state: g.group_state,
                    protocol_type: "consumer".into(),
                    protocol: g.assignor_name,
                    members,
                }))
            },
        )
        .await
    }

    /// DescribeGroups for one (classic) group.
    async fn describe_classic_group(&self, group: &str) -> Result<GroupDescription> {
        self.coordinator_call(
            group,
            15,
            |_| {
                RequestBody::DescribeGroups(DescribeGroupsRequest {
                    groups: vec![group.to_owned()],
                    include_authorized_operations: false,
                    ..Default::default()
                })
            },
            |body, _| {
                let r = expect_body!(body, DescribeGroups);
                let g = r
                    .groups
                    .into_iter()
                    .find(|g| g.group_id == group)
                    .ok_or_else(|| Error::Protocol(format!("DescribeGroups did not answer for group '{group}'")))?;
                if g.error_code == ErrorCode::GroupIdNotFound.code() {
                    return Ok(GroupDescription {
                        group_id: group.to_owned(),
                        state: "Dead".into(),
                        protocol_type: String::new(),
                        protocol: String::new(),
                        members: Vec::new(),
                    });
                }
                Error::check(g.error_code, g.error_message.as_deref(), || format!("Group '{group}'"))?;
                let consumer = g.protocol_type == "consumer";
                let members = g
                    .members
                    .into_iter()
                    .map(|m| {
                        let assignment = if consumer {
                            decode_consumer_assignment(&m.member_assignment)?
                        } else {
                            Vec::new()
                        };
                        Ok(GroupMember {
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            assignment,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(GroupDescription {
                    group_id: g.group_id,
                    state: g.group_state,
                    protocol_type: g.protocol_type,
                    protocol: g.protocol_data,
                    members,
                })
            },
        )
        .await
    }

    /// The group's committed offsets: of `partitions`, or of every partition it has committed
    /// when `None`. Partitions without a committed offset are left out.
    pub async fn offset_fetch(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>> {
        let by_topic: Option<BTreeMap<String, Vec<i32>>> = partitions.map(|ps| {
            let mut m: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in ps {
                m.entry(t.clone()).or_default().push(*p);
            }
            m
        });
        self.coordinator_call(
            group,
            9,
            |version| {
                if version >= 8 {
                    RequestBody::OffsetFetch(OffsetFetchRequest {
                        groups: vec![OffsetFetchRequestGroup {
                            group_id: group.to_owned(),
                            member_id: None,
                            member_epoch: -1,
                            topics: by_topic.as_ref().map(|m| {
                                m.iter()
                                    .map(|(t, ps)| OffsetFetchRequestTopics {
                                        name: t.clone(),
                                        partition_indexes: ps.clone(),
                                        ..Default::default()
                                    })
                                    .collect()
                            }),
                            ..Default::default()
                        }],
                        require_stable: false,
                        ..Default::default()
                    })
                } else {
                    RequestBody::OffsetFetch(OffsetFetchRequest {
                        group_id: group.to_owned(),
                        topics: by_topic.as_ref().map(|m| {
                            m.iter()
                                .map(|(t, ps)| OffsetFetchRequestTopic {
                                    name: t.clone(),
                                    partition_indexes: ps.clone(),
                                    ..Default::default()
                                })
                                .collect()
                        }),
                        require_stable: false,
                        ..Default::default()
                    })
                }
            },
            |body, version| {
                let r = expect_body!(body, OffsetFetch);
                // (topic, partition, offset, epoch, metadata, error)
                let mut rows: Vec<(String, i32, i64, i32, Option<String>, i16)> = Vec::new();
                if version >= 8 {
                    let g =
                        r.groups.into_iter().find(|g| g.group_id == group).ok_or_else(|| {
                            Error::Protocol(format!("OffsetFetch did not answer for group '{group}'"))
                        })?;
                    Error::check(g.error_code, None, || format!("Group '{group}'"))?;
                    for t in g.topics {
                        for p in t.partitions {
                            rows.push((
                                t.name.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata,
                                p.error_code,
                            ));
                        }
                    }
                } else {
                    Error::check(r.error_code, None, || format!("Group '{group}'"))?;
                    for t in r.topics {
                        for p in t.partitions {
                            rows.push((
                                t.name.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata,
                                p.error_code,
                            ));
                        }
                    }
                }
                let mut out = BTreeMap::new();
                for (topic, partition, offset, leader_epoch, metadata, code) in rows {
                    // UNSTABLE_OFFSET_COMMIT and other partition errors fail the whole fetch:
                    // an admin tool must not show a stale offset as if it were current.
                    Error::check(code, None, || {
                        format!("Partition {topic}-{partition} of group '{group}'")
                    })?;
                    if offset >= 0 {
                        out.insert(
                            (topic, partition),
                            CommittedOffset {
                                offset,
                                leader_epoch,
                                metadata,
                            },
                        );
                    }
                }
                Ok(out)
            },
        )
        .await
    }

    /// Commits `offsets` for `group` as an admin would (generation -1, no member id): the
    /// coordinator accepts this only while the group has no active members. Returns each
    /// partition's result; a coordinator error is retried, any other error is per partition.
    pub async fn offset_commit(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
        for ((t, p), o) in offsets {
            by_topic.entry(t.as_str()).or_default().push((*p, *o));
        }
        self.coordinator_call(
            group,
            8,
            |_| {
                RequestBody::OffsetCommit(OffsetCommitRequest {
                    group_id: group.to_owned(),
                    generation_id_or_member_epoch: -1,
                    member_id: String::new(),
                    group_instance_id: None,
                    retention_time_ms: -1,
                    topics: by_topic
                        .iter()
                        .map(|(t, ps)| OffsetCommitRequestTopic {
                            name: (*t).to_owned(),
                            partitions: ps
                                .iter()
                                .map(|&(p, o)| OffsetCommitRequestPartition {
                                    partition_index: p,
                                    committed_offset: o,
                                    committed_leader_epoch: -1,
                                    commit_timestamp: -1,
                                    committed_metadata: Some(String::new()),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
            },
            |body, _| {
                let r = expect_body!(body, OffsetCommit);
                coordinator_error(
                    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                    group,
                )?;
                let mut out = BTreeMap::new();
                for t in r.topics {
                    for p in t.partitions {
                        let result = Error::check(p.error_code, None, || {
                            format!("Committing {}-{} for group '{group}'", t.name, p.partition_index)
                        });
                        out.insert((t.name.clone(), p.partition_index), result);
                    }
                }
                Ok(out)
            },
        )
        .await
    }

    /// Deletes groups (DeleteGroups to each group's coordinator). Returns each group's result:
    /// NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND for an unknown one.
    pub async fn delete_groups(&self, groups: &[String]) -> Result<BTreeMap<String, Result<()>>> {
        let mut out = BTreeMap::new();
        for group in groups {
            let result = self
                .coordinator_call(
                    group,
                    42,
                    |_| {
                        RequestBody::DeleteGroups(DeleteGroupsRequest {
                            groups_names: vec![group.clone()],
                            ..Default::default()
                        })
                    },
                    |body, _| {
                        let r = expect_body!(body, DeleteGroups);
                        let g = r.results.into_iter().find(|g| &g.group_id == group).ok_or_else(|| {
                            Error::Protocol(format!("DeleteGroups did not answer for group '{group}'"))
                        })?;
                        Error::check(g.error_code, None, || format!("Cannot delete group '{group}'"))
                    },
                )
                .await;
            match result {
                // Connection trouble is not a per-group answer: stop and report it.
                Err(e) if !matches!(e, Error::Kafka { .. }) => return Err(e),
                r => {
                    out.insert(group.clone(), r);
                }
            }
        }
        Ok(out)
    }

    /// Deletes `group`'s committed offsets of `partitions` (OffsetDelete). A group-level error
    /// (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP...) is the `Err`; otherwise each partition's result,
    /// e.g. GROUP_SUBSCRIBED_TO_TOPIC while an active member subscribes to its topic.
    pub async fn offset_delete(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        self.coordinator_call(
            group,
            47,
            |_| {
                RequestBody::OffsetDelete(OffsetDeleteRequest {
                    group_id: group.to_owned(),
                    topics: by_topic
                        .iter()
                        .map(|(t, ps)| OffsetDeleteRequestTopic {
                            name: (*t).to_owned(),
                            partitions: ps
                                .iter()
                                .map(|&p| OffsetDeleteRequestPartition { partition_index: p })
                                .collect(),
                        })
                        .collect(),
                })
            },
            |body, _| {
                let r = expect_body!(body, OffsetDelete);
                Error::check(r.error_code, None, || format!("Group '{group}'"))?;
                coordinator_error(
                    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                    group,
                )?;
                let mut out = BTreeMap::new();
                for t in r.topics {
                    for p in t.partitions {
                        let result = Error::check(p.error_code, None, || {
                            format!("Partition {}-{}", t.name, p.partition_index)
                        });
                        out.insert((t.name.clone(), p.partition_index), result);
                    }
                }
                Ok(out)
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn assignment(version: i16, topics: &[(&str, &[i32])], user_data: Option<&[u8]>) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(version);
        b.put_i32(topics.len() as i32);
        for (t, ps) in topics {
            b.put_i16(t.len() as i16);
            b.put_slice(t.as_bytes());
            b.put_i32(ps.len() as i32);
            for p in *ps {
                b.put_i32(*p);
            }
        }
        match user_data {
            Some(d) => {
                b.put_i32(d.len() as i32);
                b.put_slice(d);
            }
            None => b.put_i32(-1),
        }
        b.freeze()
    }

    #[test]
    fn decodes_assignments_of_every_version_and_rejects_truncated_ones() {
        let a = assignment(0, &[("a", &[0, 2]), ("b", &[1])], Some(b"x"));
        assert_eq!(
            decode_consumer_assignment(&a).unwrap(),
            vec![("a".to_owned(), vec![0, 2]), ("b".to_owned(), vec![1])]
        );
        // A v3 assignment carries the same prefix (and nothing more in the assignment).
        let a3 = assignment(3, &[("t", &[5])], None);
        assert_eq!(
            decode_consumer_assignment(&a3).unwrap(),
            vec![("t".to_owned(), vec![5])]
        );
        assert!(decode_consumer_assignment(&Bytes::new()).unwrap().is_empty());
        let cut = a.slice(..a.len() - 3);
        assert!(matches!(decode_consumer_assignment(&cut), Err(Error::Protocol(_))));
        assert!(decode_consumer_assignment(&Bytes::from_static(&[0xff, 0xff])).is_err());
    }

    #[test]
    fn only_coordinator_errors_are_retried() {
        let e = |c: ErrorCode| Error::Kafka {
            code: c.code(),
            message: "x".into(),
        };
        assert!(is_coordinator_error(&e(ErrorCode::NotCoordinator)));
        assert!(is_coordinator_error(&e(ErrorCode::CoordinatorLoadInProgress)));
        assert!(is_coordinator_error(&e(ErrorCode::CoordinatorNotAvailable)));
        assert!(!is_coordinator_error(&e(ErrorCode::NonEmptyGroup)));
        assert!(coordinator_error([0, ErrorCode::NotCoordinator.code()], "g").is_err());
        assert!(coordinator_error([0, ErrorCode::GroupSubscribedToTopic.code()], "g").is_ok());
    }
}

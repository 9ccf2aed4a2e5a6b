//! `bench commit|rebalance|groups`: the group coordinator under load, over the classic protocol
//! only, so any Kafka-compatible broker can be measured.
//!
//! - commit: `--clients` connections, each committing one partition's offset per OffsetCommit
//!   for its own group (generation -1, as a consumer with manual assignment commits), with
//!   `--max-in-flight` commits pipelined per connection. Latency is per commit; a commit is
//!   answered once it is durable on Sluice.
//! - rebalance: `--members` classic members form a group and heartbeat every 5 ms; then each of
//!   `--records` rounds (default 20) adds one member or, alternately, has the newest leave, and
//!   the others rejoin when their heartbeat says REBALANCE_IN_PROGRESS. Latency is from the
//!   change to the last member's SyncGroup answer in the new generation: the cost of a
//!   rebalance beyond the clients' own heartbeat interval (up to 5 ms of it is the bench's).
//!   Forming the first group waits `group.initial.rebalance.delay.ms`; that is not measured.
//! - groups: `--groups` groups, each with one member that joins, syncs and commits one offset,
//!   `--clients` at a time; reports the time. Measure the broker's memory around it.

use crate::CliError;
use crate::bench::{BenchArgs, BenchReport, ensure_topic, histogram, latency};
use crate::commands::connect;
use bytes::{BufMut, Bytes, BytesMut};
use sluice_client::{Connection, Error};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::generated::leave_group_request::MemberIdentity;
use sluice_protocol::generated::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use sluice_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::generated::{
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, RequestBody, ResponseBody,
    SyncGroupRequest,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// JoinGroup v5: member ids from the coordinator (KIP-394) and static membership exist.
const JOIN_VERSION: i16 = 5;
/// SyncGroup v3 goes with JoinGroup v5.
const SYNC_VERSION: i16 = 3;
/// Heartbeat v3 goes with JoinGroup v5.
const HEARTBEAT_VERSION: i16 = 3;
/// LeaveGroup v3: batched members.
const LEAVE_VERSION: i16 = 3;
/// OffsetCommit v8: the last without topic ids, served by every Kafka since 2.6.
const COMMIT_VERSION: i16 = 8;

/// Sessions long enough that no member of the bench expires while it waits for others.
const SESSION_TIMEOUT_MS: i32 = 60_000;
/// Rebalance timeout of the bench's members.
const REBALANCE_TIMEOUT_MS: i32 = 60_000;

/// The consumer protocol's subscription (version 0) to `topic`.
fn subscription(topic: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(12 + topic.len());
    b.put_i16(0);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(-1);
    b.freeze()
}

/// The consumer protocol's assignment (version 0) of `partitions` of `topic`.
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut b = BytesMut::with_capacity(16 + topic.len() + 4 * partitions.len());
    b.put_i16(0);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(partitions.len() as i32);
    for p in partitions {
        b.put_i32(*p);
    }
    b.put_i32(-1);
    b.freeze()
}

/// One classic member's identity in a group.
#[derive(Debug, Clone, Default)]
struct Member {
    /// Given by the coordinator on the first join (MEMBER_ID_REQUIRED).
    id: String,
    /// The generation of the last completed join.
    generation: i32,
}

/// Joins (or rejoins) `group` and syncs; the leader hands out `partitions` round-robin.
async fn join_and_sync(
    conn: &Connection,
    group: &str,
    topic: &str,
    partitions: i32,
    member: &mut Member,
) -> Result<(), CliError> {
    let join = |id: &str| {
        RequestBody::JoinGroup(JoinGroupRequest {
            group_id: group.into(),
            session_timeout_ms: SESSION_TIMEOUT_MS,
            rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
            member_id: id.into(),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: subscription(topic),
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ResponseBody::JoinGroup(r) = conn.send_version(join(&member.id), JOIN_VERSION).await? else {
            return Err(CliError("JoinGroup answered with another response".into()));
        };
        match ErrorCode::from_code(r.error_code) {
            Some(ErrorCode::None) => {}
            Some(ErrorCode::MemberIdRequired) => {
                member.id = r.member_id;
                continue;
            }
            Some(ErrorCode::UnknownMemberId) => {
                member.id.clear();
                continue;
            }
            Some(ErrorCode::RebalanceInProgress) if Instant::now() < deadline => continue,
            _ => return Err(joined_error(r.error_code, "JoinGroup", group)),
        }
        member.id = r.member_id.clone();
        member.generation = r.generation_id;
        // The leader assigns: partitions round-robin over the members in the order given.
        let assignments = if r.leader == r.member_id {
            let n = r.members.len().max(1);
            r.members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let mine: Vec<i32> = (0..partitions).filter(|p| *p as usize % n == i).collect();
                    SyncGroupRequestAssignment {
                        member_id: m.member_id.clone(),
                        assignment: assignment(topic, &mine),
                        ..Default::default()
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let sync = RequestBody::SyncGroup(SyncGroupRequest {
            group_id: group.into(),
            generation_id: r.generation_id,
            member_id: member.id.clone(),
            assignments,
            ..Default::default()
        });
        let ResponseBody::SyncGroup(s) = conn.send_version(sync, SYNC_VERSION).await? else {
            return Err(CliError("SyncGroup answered with another response".into()));
        };
        match ErrorCode::from_code(s.error_code) {
            Some(ErrorCode::None) => return Ok(()),
            // Another rebalance began before this one ended: join again.
            Some(ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration) if Instant::now() < deadline => {}
            _ => return Err(joined_error(s.error_code, "SyncGroup", group)),
        }
    }
}

fn joined_error(code: i16, what: &str, group: &str) -> CliError {
    match Error::check(code, None, || format!("{what} for group '{group}'")) {
        Err(e) => e.into(),
        Ok(()) => CliError(format!("{what} for group '{group}' failed")),
    }
}

/// Commits `offset` for partition `partition` of `topic` in `group` outside any generation.
fn commit_request(group: &str, topic: &str, partition: i32, offset: i64) -> RequestBody {
    RequestBody::OffsetCommit(OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: partition,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(String::new()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn check_commit(body: ResponseBody, group: &str) -> Result<(), CliError> {
    let ResponseBody::OffsetCommit(r) = body else {
        return Err(CliError("OffsetCommit answered with another response".into()));
    };
    for t in &r.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                return Err(joined_error(p.error_code, "OffsetCommit", group));
            }
        }
    }
    Ok(())
}

/// `bench commit`.
pub(crate) async fn bench_commit(args: &BenchArgs) -> Result<BenchReport, CliError> {
    ensure_topic(&*connect(&args.connect).await?, args).await?;
    let clients = args.clients.max(1);
    let in_flight = args.max_in_flight.max(1);
    let duration = Duration::from_secs_f64(args.duration_s.unwrap_or(10.0));
    let records_max = args.records;
    let claimed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    let start_at = Arc::new(tokio::sync::Barrier::new(clients + 1));
    for i in 0..clients {
        let client = connect(&args.connect).await?;
        let group = format!("{}-commit-{i}", args.topic);
        let conn = client.coordinator(&group).await?;
        let (topic, partitions, barrier, claimed) = (
            args.topic.clone(),
            args.partitions.max(1),
            start_at.clone(),
            claimed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let mut pending = std::collections::VecDeque::with_capacity(in_flight);
            let mut offset = 0i64;
            barrier.wait().await;
            let start = Instant::now();
            loop {
                let more = start.elapsed() < duration
                    && records_max.is_none_or(|max| claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < max);
                if more {
                    offset += 1;
                    let body = commit_request(&group, &topic, (offset % partitions as i64) as i32, offset);
                    pending.push_back((Instant::now(), conn.start_version(body, COMMIT_VERSION).await?));
                }
                if pending.len() >= in_flight || (!more && !pending.is_empty()) {
                    let (sent, response) = pending.pop_front().expect("non-empty");
                    check_commit(response.wait().await?, &group)?;
                    h.saturating_record(sent.elapsed().as_micros() as u64);
                }
                if !more && pending.is_empty() {
                    break;
                }
            }
            Ok::<_, CliError>(h)
        }));
    }
    start_at.wait().await;
    let start = Instant::now();
    let mut total = histogram();
    for t in tasks {
        let h = t.await.map_err(|e| CliError(format!("a commit task failed: {e}")))??;
        total.add(&h).map_err(|e| CliError(format!("histogram: {e}")))?;
    }
    Ok(BenchReport {
        mode: "commit",
        records: total.len(),
        bytes: 0,
        seconds: start.elapsed().as_secs_f64(),
        latency: latency(&total),
    })
}

/// How often a bench member heartbeats: how soon it learns of a rebalance. Real consumers use
/// seconds (heartbeat.interval.ms, 3 s by default); the bench excludes that delay, so it is
/// kept short, and up to this much of each measured round is the members' and not the broker's.
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(5);

/// A member that stays in the group: it joins, syncs, heartbeats and rejoins whenever the
/// coordinator says a rebalance is in progress, publishing each generation it completes.
struct LiveMember {
    /// The member's loop.
    task: tokio::task::JoinHandle<Result<(), CliError>>,
    /// The last generation it completed a SyncGroup in, and its member id.
    state: Arc<std::sync::Mutex<Member>>,
    /// Its connection, to leave the group with.
    conn: Arc<Connection>,
}

impl LiveMember {
    fn start(conn: Arc<Connection>, group: &str, topic: &str, partitions: i32) -> LiveMember {
        let state = Arc::new(std::sync::Mutex::new(Member::default()));
        let (shared, c, group, topic) = (state.clone(), conn.clone(), group.to_owned(), topic.to_owned());
        let task = tokio::spawn(async move {
            let mut member = Member::default();
            loop {
                join_and_sync(&c, &group, &topic, partitions, &mut member).await?;
                *shared.lock().unwrap_or_else(|p| p.into_inner()) = member.clone();
                loop {
                    tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                    let body = RequestBody::Heartbeat(HeartbeatRequest {
                        group_id: group.clone(),
                        generation_id: member.generation,
                        member_id: member.id.clone(),
                        ..Default::default()
                    });
                    let ResponseBody::Heartbeat(r) = c.send_version(body, HEARTBEAT_VERSION).await? else {
                        return Err(CliError("Heartbeat answered with another response".into()));
                    };
                    match ErrorCode::from_code(r.error_code) {
                        Some(ErrorCode::None) => {}
                        Some(ErrorCode::RebalanceInProgress | ErrorCode::IllegalGeneration) => break,
                        Some(ErrorCode::UnknownMemberId) => {
                            member.id.clear();
                            break;
                        }
                        _ => return Err(joined_error(r.error_code, "Heartbeat", &group)),
                    }
                }
            }
        });
        LiveMember { task, state, conn }
    }

    fn generation(&self) -> i32 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).generation
    }
}

/// Waits until every member has completed a generation above `after`, the same for all.
async fn settled(members: &mut [LiveMember], after: i32) -> Result<i32, CliError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        for m in members.iter_mut() {
            if m.task.is_finished() {
                return match (&mut m.task).await {
                    Ok(Err(e)) => Err(e),
                    _ => Err(CliError("a member stopped".into())),
                };
            }
        }
        let generations: std::collections::BTreeSet<i32> = members.iter().map(LiveMember::generation).collect();
        if generations.len() == 1 && generations.first().is_some_and(|g| *g > after) {
            return Ok(*generations.first().expect("one"));
        }
        if Instant::now() > deadline {
            return Err(CliError(format!(
                "the group did not settle within 120 s (generations {generations:?})"
            )));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// `bench rebalance`.
pub(crate) async fn bench_rebalance(args: &BenchArgs) -> Result<BenchReport, CliError> {
    let group = format!("{}-rebalance-{}", args.topic, std::process::id());
    let (topic, partitions) = (args.topic.clone(), args.partitions.max(1));
    let client = connect(&args.connect).await?;
    let address = client.coordinator(&group).await?.address().to_owned();
    let member_conn = || async {
        Connection::connect_with(
            &address,
            "sluice-bench",
            Duration::from_secs(120),
            &client.config().security,
        )
        .await
        .map_err(CliError::from)
    };
    // Members, each on its own connection, as real consumers are. Forming the group waits for
    // group.initial.rebalance.delay.ms; that is not measured.
    let mut members = Vec::new();
    for _ in 0..args.members.max(1) {
        members.push(LiveMember::start(member_conn().await?, &group, &topic, partitions));
    }
    let mut generation = settled(&mut members, 0).await?;
    let mut h = histogram();
    let rounds = args.records.unwrap_or(20).max(1);
    let started = Instant::now();
    for round in 0..rounds {
        let t = Instant::now();
        if round % 2 == 0 {
            // One more member: its join starts the rebalance.
            members.push(LiveMember::start(member_conn().await?, &group, &topic, partitions));
        } else if let Some(last) = members.pop() {
            // The newest member leaves.
            last.task.abort();
            let id = last.state.lock().unwrap_or_else(|p| p.into_inner()).id.clone();
            let leave = RequestBody::LeaveGroup(LeaveGroupRequest {
                group_id: group.clone(),
                members: vec![MemberIdentity {
                    member_id: id,
                    ..Default::default()
                }],
                ..Default::default()
            });
            last.conn.send_version(leave, LEAVE_VERSION).await?;
        }
        generation = settled(&mut members, generation).await?;
        h.saturating_record(t.elapsed().as_micros() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    for m in &members {
        m.task.abort();
    }
    Ok(BenchReport {
        mode: "rebalance",
        records: h.len(),
        bytes: 0,
        seconds,
        latency: latency(&h),
    })
}

/// `bench groups`.
pub(crate) async fn bench_groups(args: &BenchArgs) -> Result<BenchReport, CliError> {
    let groups = args.groups.max(1);
    let concurrency = args.clients.max(1);
    let client = connect(&args.connect).await?;
    ensure_topic(&client, args).await?;
    let first = client.coordinator(&format!("{}-groups-0", args.topic)).await?;
    let address = first.address().to_owned();
    let mut conns = Vec::with_capacity(concurrency.min(16));
    for _ in 0..concurrency.min(16) {
        conns.push(
            Connection::connect_with(
                &address,
                "sluice-bench",
                Duration::from_secs(120),
                &client.config().security,
            )
            .await
            .map_err(CliError::from)?,
        );
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let (conn, next, topic) = (conns[i % conns.len()].clone(), next.clone(), args.topic.clone());
        let partitions = args.partitions.max(1);
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= groups {
                    break;
                }
                let t = Instant::now();
                let group = format!("{topic}-groups-{n}");
                let mut member = Member::default();
                join_and_sync(&conn, &group, &topic, partitions, &mut member).await?;
                let mut commit = commit_request(&group, &topic, 0, 1);
                if let RequestBody::OffsetCommit(c) = &mut commit {
                    c.generation_id_or_member_epoch = member.generation;
                    c.member_id = member.id.clone();
                }
                check_commit(conn.send_version(commit, COMMIT_VERSION).await?, &group)?;
                h.saturating_record(t.elapsed().as_micros() as u64);
            }
            Ok::<_, CliError>(h)
        }));
    }
    let mut total = histogram();
    for t in tasks {
        let h = t.await.map_err(|e| CliError(format!("a group task failed: {e}")))??;
        total.add(&h).map_err(|e| CliError(format!("histogram: {e}")))?;
    }
    Ok(BenchReport {
        mode: "groups",
        records: total.len(),
        bytes: 0,
        seconds: start.elapsed().as_secs_f64(),
        latency: latency(&total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_and_assignments_decode_as_the_consumer_protocol() {
        let s = subscription("orders");
        assert_eq!(&s[..], b"\0\0\0\0\0\x01\0\x06orders\xff\xff\xff\xff");
        let a = assignment("t", &[0, 2]);
        assert_eq!(
            &a[..],
            b"\0\0\0\0\0\x01\0\x01t\0\0\0\x02\0\0\0\0\0\0\0\x02\xff\xff\xff\xff"
        );
    }
}

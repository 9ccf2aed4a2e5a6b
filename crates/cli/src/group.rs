//! `group`: list, describe, reset offsets of, delete, and delete offsets of consumer groups,
//! with the semantics of Kafka's `kafka-consumer-groups.sh`.

use crate::commands::connect;
use crate::{CliError, Connect};
use clap::{ArgGroup, Args, Subcommand};
use sluice_client::{Client, GroupDescription, ListGroupsFilter, OffsetSpec, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// Kafka's placeholder for a column without a value.
const MISSING: &str = "-";

/// Consumer group states a filter may name, spelled as Kafka spells them (the filter is
/// case-insensitive, as Kafka's `GroupState.parse` is).
const STATES: [&str; 7] = [
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
];

/// Group types a consumer group can have: classic (JoinGroup/SyncGroup) or consumer (KIP-848).
const TYPES: [&str; 2] = ["classic", "consumer"];

/// `group` and its actions.
#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub action: GroupAction,
}

/// A `--topic` argument: a topic, with the partitions named after a colon or, when none are,
/// all of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArg {
    /// The topic name.
    pub topic: String,
    /// The partitions named (`topic:0,2`), or `None` for every partition of the topic.
    pub partitions: Option<Vec<i32>>,
}

/// What to do with consumer groups.
#[derive(Debug, Subcommand)]
pub enum GroupAction {
    /// Lists groups with their state, type and protocol type.
    List {
        /// Only groups in these states, comma-separated (e.g. Stable,Empty).
        #[arg(long, value_name = "STATE[,STATE]", value_delimiter = ',', value_parser = parse_state)]
        state: Vec<String>,
        /// Only groups of these types, comma-separated (classic, consumer).
        #[arg(long = "type", value_name = "TYPE[,TYPE]", value_delimiter = ',', value_parser = parse_type)]
        group_type: Vec<String>,
    },
    /// Shows a group's state, members and their assignments, and per partition the committed
    /// offset, log end offset and lag.
    Describe {
        /// Group id.
        group: String,
        /// Print one JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Plans (and with --execute commits) new committed offsets; the group must be inactive.
    #[command(group(ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
    #[command(group(
        ArgGroup::new("target")
            .required(true)
            .args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])
    ))]
    ResetOffsets {
        /// Group id.
        group: String,
        /// A topic, or topic:partition[,partition] (repeatable).
        #[arg(long = "topic", value_name = "TOPIC[:P,P]", value_parser = parse_topic_arg)]
        topics: Vec<TopicArg>,
        /// Every partition the group has committed offsets for.
        #[arg(long)]
        all_topics: bool,
        /// To the log start offset.
        #[arg(long)]
        to_earliest: bool,
        /// To the log end offset.
        #[arg(long)]
        to_latest: bool,
        /// To this offset (clamped to the log's range).
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        to_offset: Option<i64>,
        /// To the first offset at or after this time: YYYY-MM-DDTHH:mm:SS[.sss][Z|±hh:mm] (UTC
        /// without a zone) or ms since the epoch.
        #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
        to_datetime: Option<i64>,
        /// Moves the committed offset by N (negative: back), clamped to the log's range.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        shift_by: Option<i64>,
        /// Commit the plan (without it, only print it).
        #[arg(long)]
        execute: bool,
    },
    /// Deletes groups; fails for groups that still have members.
    Delete {
        /// Group ids.
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Deletes a group's committed offsets of some partitions.
    DeleteOffsets {
        /// Group id.
        group: String,
        /// A topic, or topic:partition[,partition] (repeatable).
        #[arg(long = "topic", value_name = "TOPIC[:P,P]", value_parser = parse_topic_arg, required = true)]
        topics: Vec<TopicArg>,
    },
}

/// Parses `topic` or `topic:p[,p]`, with Kafka's messages for bad input.
pub(crate) fn parse_topic_arg(s: &str) -> Result<TopicArg, String> {
    let Some((topic, list)) = s.split_once(':') else {
        if s.is_empty() {
            return Err("a topic name is required".into());
        }
        return Ok(TopicArg {
            topic: s.to_owned(),
            partitions: None,
        });
    };
    if topic.is_empty() || list.contains(':') {
        return Err(format!("Invalid topic arg '{s}', expected topic name and partitions"));
    }
    let partitions = list
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(|| format!("Invalid partition '{p}' specified in topic arg '{s}'"))
        })
        .collect::<Result<Vec<i32>, String>>()?;
    Ok(TopicArg {
        topic: topic.to_owned(),
        partitions: Some(partitions),
    })
}

/// One state of a `--state` list, in Kafka's spelling whatever the case given.
fn parse_state(s: &str) -> Result<String, String> {
    STATES
        .iter()
        .find(|v| v.eq_ignore_ascii_case(s.trim()))
        .map(|v| (*v).to_owned())
        .ok_or_else(|| format!("Invalid state '{s}'. Valid states are: {}", STATES.join(", ")))
}

/// One type of a `--type` list, lower-cased as ListGroups expects.
fn parse_type(s: &str) -> Result<String, String> {
    TYPES
        .iter()
        .find(|v| v.eq_ignore_ascii_case(s.trim()))
        .map(|v| (*v).to_owned())
        .ok_or_else(|| format!("Invalid type '{s}'. Valid types are: {}", TYPES.join(", ")))
}

fn parse_datetime(s: &str) -> Result<i64, String> {
    crate::time::parse_timestamp(s)
}

pub(crate) async fn group(args: GroupArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let client = connect(&args.connect).await?;
    match args.action {
        GroupAction::List { state, group_type } => list(&client, state, group_type, out).await,
        GroupAction::Describe { group, json } => describe(&client, &group, json, out).await,
        GroupAction::ResetOffsets {
            group,
            topics,
            all_topics,
            to_earliest,
            to_latest,
            to_offset,
            to_datetime,
            shift_by,
            execute,
        } => {
            let target = if to_earliest {
                Target::Earliest
            } else if to_latest {
                Target::Latest
            } else if let Some(n) = to_offset {
                Target::Offset(n)
            } else if let Some(ts) = to_datetime {
                Target::Datetime(ts)
            } else if let Some(n) = shift_by {
                Target::ShiftBy(n)
            } else {
                // clap's required "target" group makes this unreachable; say so anyway.
                return Err(CliError(
                    "give one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by".into(),
                ));
            };
            let scope = if all_topics { None } else { Some(topics) };
            reset_offsets(&client, &group, scope, target, execute, out).await
        }
        GroupAction::Delete { groups } => delete(&client, &groups, out).await,
        GroupAction::DeleteOffsets { group, topics } => delete_offsets(&client, &group, &topics, out).await,
    }
}

/// Pads `rows` (the first is the header) into columns two spaces apart, like Kafka's tools.
fn table(out: &mut dyn Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(String::len).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

async fn list(client: &Client, states: Vec<String>, types: Vec<String>, out: &mut dyn Write) -> Result<(), CliError> {
    let filter = ListGroupsFilter { states, types };
    let groups = client.list_groups(&filter).await?;
    let mut rows = vec![vec![
        "GROUP".to_owned(),
        "STATE".to_owned(),
        "TYPE".to_owned(),
        "PROTOCOL-TYPE".to_owned(),
    ]];
    for g in groups {
        rows.push(vec![
            g.group_id,
            g.state.unwrap_or_else(|| MISSING.into()),
            g.group_type.unwrap_or_else(|| MISSING.into()),
            if g.protocol_type.is_empty() {
                MISSING.into()
            } else {
                g.protocol_type
            },
        ]);
    }
    table(out, &rows)?;
    Ok(())
}

/// One row of `describe`'s offsets table: an assigned or committed partition.
struct PartitionRow {
    /// Topic and partition.
    tp: TopicPartition,
    /// The group's committed offset, if it has one.
    committed: Option<i64>,
    /// The log end offset, if the partition could be asked (it may have been deleted).
    log_end: Option<i64>,
    /// Index into the group's members of the one assigned this partition, if any.
    member: Option<usize>,
}

impl PartitionRow {
    /// Kafka's lag: log end minus committed, known only when both are.
    fn lag(&self) -> Option<i64> {
        Some(self.log_end? - self.committed?)
    }
}

/// Log end offsets of `partitions`; partitions of topics that no longer exist (or have no
/// leader) are left out, so `describe` shows "-" for them instead of failing.
async fn log_end_offsets(
    client: &Client,
    partitions: &BTreeSet<TopicPartition>,
) -> Result<BTreeMap<TopicPartition, i64>, CliError> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let names: Vec<String> = by_topic.keys().map(|t| (*t).to_owned()).collect();
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let metadata = client.metadata(Some(&names), false).await?;
    let mut out = BTreeMap::new();
    for (topic, parts) in by_topic {
        let Ok(info) = metadata.topic(topic) else { continue };
        let known: Vec<i32> = parts
            .into_iter()
            .filter(|p| info.partitions.iter().any(|i| i.partition == *p && i.leader >= 0))
            .collect();
        if known.is_empty() {
            continue;
        }
        for (p, o) in client.list_offsets(info, &known, OffsetSpec::Latest).await? {
            out.insert((topic.to_owned(), p), o);
        }
    }
    Ok(out)
}

/// Kafka's assignment column: `topic:0,1;other:2`, or "-" when empty.
fn assignment_text(assignment: &[(String, Vec<i32>)]) -> String {
    let mut parts: Vec<String> = assignment
        .iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| {
            let mut ps = ps.clone();
            ps.sort_unstable();
            format!("{t}:{}", ps.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
        })
        .collect();
    parts.sort();
    if parts.is_empty() {
        MISSING.into()
    } else {
        parts.join(";")
    }
}

fn or_missing(v: Option<i64>) -> String {
    v.map_or_else(|| MISSING.to_owned(), |v| v.to_string())
}

fn group_not_found(group: &str) -> CliError {
    CliError(format!("Consumer group '{group}' does not exist (GROUP_ID_NOT_FOUND)"))
}

async fn describe(client: &Client, group: &str, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let description = client.describe_group(group).await?;
    if description.state == "Dead" {
        return Err(group_not_found(group));
    }
    let committed = client.offset_fetch(group, None).await?;
    // Rows: every assigned partition (by member), then committed partitions nobody owns.
    let mut rows: BTreeMap<TopicPartition, PartitionRow> = BTreeMap::new();
    for (i, m) in description.members.iter().enumerate() {
        for (topic, partitions) in &m.assignment {
            for p in partitions {
                let tp = (topic.clone(), *p);
                rows.insert(
                    tp.clone(),
                    PartitionRow {
                        committed: committed.get(&tp).map(|c| c.offset),
                        tp,
                        log_end: None,
                        member: Some(i),
                    },
                );
            }
        }
    }
    for (tp, c) in &committed {
        rows.entry(tp.clone()).or_insert_with(|| PartitionRow {
            tp: tp.clone(),
            committed: Some(c.offset),
            log_end: None,
            member: None,
        });
    }
    let ends = log_end_offsets(client, &rows.keys().cloned().collect()).await?;
    for row in rows.values_mut() {
        row.log_end = ends.get(&row.tp).copied();
    }
    if json {
        return describe_json(&description, rows.values(), out);
    }
    writeln!(
        out,
        "Group: {}  State: {}  Protocol: {}  Members: {}",
        description.group_id,
        description.state,
        match (description.protocol_type.as_str(), description.protocol.as_str()) {
            ("", _) => MISSING.to_owned(),
            (t, "") => t.to_owned(),
            (t, p) => format!("{t}/{p}"),
        },
        description.members.len()
    )?;
    if description.state == "Empty" {
        writeln!(out, "Consumer group '{group}' has no active members.")?;
    } else if description.state != "Stable" {
        writeln!(out, "Warning: consumer group '{group}' is rebalancing.")?;
    }
    if !description.members.is_empty() {
        writeln!(out)?;
        let mut table_rows = vec![vec![
            "MEMBER-ID".to_owned(),
            "CLIENT-ID".to_owned(),
            "HOST".to_owned(),
            "#PARTITIONS".to_owned(),
            "ASSIGNMENT".to_owned(),
        ]];
        for m in &description.members {
            table_rows.push(vec![
                m.member_id.clone(),
                m.client_id.clone(),
                m.client_host.clone(),
                m.assignment.iter().map(|(_, ps)| ps.len()).sum::<usize>().to_string(),
                assignment_text(&m.assignment),
            ]);
        }
        table(out, &table_rows)?;
    }
    if !rows.is_empty() {
        writeln!(out)?;
        let mut table_rows = vec![vec![
            "TOPIC".to_owned(),
            "PARTITION".to_owned(),
            "CURRENT-OFFSET".to_owned(),
            "LOG-END-OFFSET".to_owned(),
            "LAG".to_owned(),
            "MEMBER-ID".to_owned(),
            "HOST".to_owned(),
            "CLIENT-ID".to_owned(),
        ]];
        for row in rows.values() {
            let member = row.member.map(|i| &description.members[i]);
            table_rows.push(vec![
                row.tp.0.clone(),
                row.tp.1.to_string(),
                or_missing(row.committed),
                or_missing(row.log_end),
                or_missing(row.lag()),
                member.map_or(MISSING.into(), |m| m.member_id.clone()),
                member.map_or(MISSING.into(), |m| m.client_host.clone()),
                member.map_or(MISSING.into(), |m| m.client_id.clone()),
            ]);
        }
        table(out, &table_rows)?;
    }
    Ok(())
}

fn describe_json<'a>(
    d: &GroupDescription,
    rows: impl Iterator<Item = &'a PartitionRow>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let members: Vec<serde_json::Value> = d
        .members
        .iter()
        .map(|m| {
            serde_json::json!({
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "host": m.client_host,
                "assignment": m.assignment.iter().map(|(t, ps)| serde_json::json!({
                    "topic": t,
                    "partitions": ps,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let offsets: Vec<serde_json::Value> = rows
        .map(|r| {
            serde_json::json!({
                "topic": r.tp.0,
                "partition": r.tp.1,
                "current_offset": r.committed,
                "log_end_offset": r.log_end,
                "lag": r.lag(),
                "member_id": r.member.map(|i| d.members[i].member_id.clone()),
            })
        })
        .collect();
    let value = serde_json::json!({
        "group": d.group_id,
        "state": d.state,
        "protocol_type": d.protocol_type,
        "protocol": d.protocol,
        "members": members,
        "offsets": offsets,
    });
    writeln!(out, "{value}")?;
    Ok(())
}

/// Where `reset-offsets` moves the committed offsets.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// A fixed offset, clamped to [earliest, latest].
    Offset(i64),
    /// The first offset at or after a time (ms since the epoch); the log end when none is.
    Datetime(i64),
    /// The committed offset plus this, clamped to [earliest, latest].
    ShiftBy(i64),
}

/// The partitions `topics` name; every partition for a bare topic name. Unknown topics and
/// partitions are errors, as in Kafka's tool.
async fn resolve_partitions(client: &Client, topics: &[TopicArg]) -> Result<Vec<TopicPartition>, CliError> {
    let mut out: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut missing = Vec::new();
    for arg in topics {
        let info = client.topic(&arg.topic).await?;
        match &arg.partitions {
            None => out.extend(info.partitions.iter().map(|p| (arg.topic.clone(), p.partition))),
            Some(ps) => {
                for p in ps {
                    if info.partitions.iter().any(|i| i.partition == *p) {
                        out.insert((arg.topic.clone(), *p));
                    } else {
                        missing.push(format!("{}-{p}", arg.topic));
                    }
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(CliError(format!(
            "The partitions \"{}\" do not exist (UNKNOWN_TOPIC_OR_PARTITION)",
            missing.join(",")
        )));
    }
    Ok(out.into_iter().collect())
}

/// ListOffsets for `partitions` with `spec`, grouped by topic.
async fn offsets_of(
    client: &Client,
    partitions: &[TopicPartition],
    spec: OffsetSpec,
) -> Result<BTreeMap<TopicPartition, i64>, CliError> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let mut out = BTreeMap::new();
    for (topic, parts) in by_topic {
        let info = client.topic(topic).await?;
        for (p, o) in client.list_offsets(&info, &parts, spec).await? {
            out.insert((topic.to_owned(), p), o);
        }
    }
    Ok(out)
}

/// The log end offset of `tp` from a ListOffsets answer, or an error naming the partition.
fn offset_for(map: &BTreeMap<TopicPartition, i64>, tp: &TopicPartition, what: &str) -> Result<i64, CliError> {
    map.get(tp).copied().ok_or_else(|| {
        CliError(format!(
            "Error getting {what} offset of topic partition {}-{}",
            tp.0, tp.1
        ))
    })
}

async fn reset_offsets(
    client: &Client,
    group: &str,
    scope: Option<Vec<TopicArg>>,
    target: Target,
    execute: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // Offsets committed by an admin are refused (or overwritten) while members are active, so
    // Kafka's tool refuses up front; an unknown group (Dead) may get offsets, as in Kafka.
    let description = client.describe_group(group).await?;
    if description.state != "Empty" && description.state != "Dead" {
        return Err(CliError(format!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            description.state
        )));
    }
    let committed = client.offset_fetch(group, None).await?;
    let partitions: Vec<TopicPartition> = match &scope {
        None => committed.keys().cloned().collect(),
        Some(topics) => resolve_partitions(client, topics).await?,
    };
    let plan: BTreeMap<TopicPartition, i64> = if partitions.is_empty() {
        BTreeMap::new()
    } else {
        match target {
            Target::Earliest => {
                let starts = offsets_of(client, &partitions, OffsetSpec::Earliest).await?;
                partitions
                    .iter()
                    .map(|tp| Ok((tp.clone(), offset_for(&starts, tp, "starting")?)))
                    .collect::<Result<_, CliError>>()?
            }
            Target::Latest => {
                let ends = offsets_of(client, &partitions, OffsetSpec::Latest).await?;
                partitions
                    .iter()
                    .map(|tp| Ok((tp.clone(), offset_for(&ends, tp, "ending")?)))
                    .collect::<Result<_, CliError>>()?
            }
            Target::Datetime(ts) => {
                // A time after every record resolves to the log end, as Kafka's tool does.
                let found = offsets_of(client, &partitions, OffsetSpec::Timestamp(ts)).await?;
                partitions
                    .iter()
                    .map(|tp| Ok((tp.clone(), offset_for(&found, tp, "timestamp")?)))
                    .collect::<Result<_, CliError>>()?
            }
            Target::Offset(_) | Target::ShiftBy(_) => {
                let mut requested = BTreeMap::new();
                for tp in &partitions {
                    let offset = match target {
                        Target::ShiftBy(n) => {
                            let current = committed.get(tp).ok_or_else(|| {
                                CliError(format!(
                                    "Cannot shift offset for partition {}-{} since there is no current committed offset",
                                    tp.0, tp.1
                                ))
                            })?;
                            current.offset.saturating_add(n)
                        }
                        Target::Offset(n) => n,
                        _ => unreachable!("only fixed offsets and shifts get here"),
                    };
                    requested.insert(tp.clone(), offset);
                }
                // Clamped into the log, as Kafka's checkOffsetsRange does: above the end goes
                // to the end, below the start to the start.
                let starts = offsets_of(client, &partitions, OffsetSpec::Earliest).await?;
                let ends = offsets_of(client, &partitions, OffsetSpec::Latest).await?;
                requested
                    .into_iter()
                    .map(|(tp, o)| {
                        let start = offset_for(&starts, &tp, "starting")?;
                        let end = offset_for(&ends, &tp, "ending")?;
                        let clamped = if o > end { end } else { o.max(start) };
                        Ok((tp, clamped))
                    })
                    .collect::<Result<_, CliError>>()?
            }
        }
    };
    if execute && !plan.is_empty() {
        let results = client.offset_commit(group, &plan).await?;
        let failed: Vec<String> = results
            .into_values()
            .filter_map(|r| r.err())
            .map(|e| e.to_string())
            .collect();
        if !failed.is_empty() {
            return Err(CliError(failed.join("; ")));
        }
    }
    let mut rows = vec![vec![
        "GROUP".to_owned(),
        "TOPIC".to_owned(),
        "PARTITION".to_owned(),
        "NEW-OFFSET".to_owned(),
    ]];
    for ((t, p), o) in &plan {
        rows.push(vec![group.to_owned(), t.clone(), p.to_string(), o.to_string()]);
    }
    table(out, &rows)?;
    if !execute {
        writeln!(
            out,
            "Dry run: nothing was committed; add --execute to commit these offsets."
        )?;
    }
    Ok(())
}

async fn delete(client: &Client, groups: &[String], out: &mut dyn Write) -> Result<(), CliError> {
    let results = client.delete_groups(groups).await?;
    let mut failed = Vec::new();
    for (group, result) in results {
        match result {
            Ok(()) => writeln!(out, "Deleted group '{group}'.")?,
            // Failures go to the error (stderr), one sentence each, so stdout lists deletions.
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError(failed.join("; ")))
    }
}

async fn delete_offsets(
    client: &Client,
    group: &str,
    topics: &[TopicArg],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let partitions = resolve_partitions(client, topics).await?;
    let results = client.offset_delete(group, &partitions).await.map_err(|e| {
        if e.code() == Some(sluice_protocol::ErrorCode::GroupIdNotFound) {
            group_not_found(group)
        } else {
            e.into()
        }
    })?;
    let mut rows = vec![vec!["TOPIC".to_owned(), "PARTITION".to_owned(), "STATUS".to_owned()]];
    let mut failed = Vec::new();
    for ((t, p), result) in results {
        let status = match result {
            Ok(()) => "Successful".to_owned(),
            Err(e) => {
                failed.push(e.to_string());
                format!("Error: {e}")
            }
        };
        rows.push(vec![t, p.to_string(), status]);
    }
    table(out, &rows)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError(failed.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_args_parse_like_kafka() {
        assert_eq!(
            parse_topic_arg("t").unwrap(),
            TopicArg {
                topic: "t".into(),
                partitions: None
            }
        );
        assert_eq!(parse_topic_arg("t:0,2").unwrap().partitions, Some(vec![0, 2]));
        assert_eq!(
            parse_topic_arg("t:x").unwrap_err(),
            "Invalid partition 'x' specified in topic arg 't:x'"
        );
        assert!(parse_topic_arg(":1").is_err());
        assert!(parse_topic_arg("t:1:2").is_err());
        assert!(parse_topic_arg("t:-1").is_err());
    }

    #[test]
    fn state_and_type_filters_are_validated_and_canonical() {
        assert_eq!(parse_state("stable").unwrap(), "Stable");
        assert_eq!(parse_state(" EMPTY").unwrap(), "Empty");
        assert!(
            parse_state("Sleeping")
                .unwrap_err()
                .starts_with("Invalid state 'Sleeping'")
        );
        assert_eq!(parse_type("Classic").unwrap(), "classic");
        assert!(parse_type("share").is_err());
    }

    #[test]
    fn assignment_column_sorts_topics_and_partitions() {
        let a = vec![("b".to_owned(), vec![2, 0]), ("a".to_owned(), vec![1])];
        assert_eq!(assignment_text(&a), "a:1;b:0,2");
        assert_eq!(assignment_text(&[]), "-");
    }
}

//! topic, produce, consume and cluster.

use crate::{CliError, Connect};
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use sluice_client::{
    Client, Compression, ConsumedRecord, Consumer, ConsumerConfig, Delivery, Header, NewRecord, NewTopic, OffsetSpec,
    Producer, ProducerConfig,
};
use sluice_protocol::ErrorCode;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

/// `topic` and its actions.
#[derive(Debug, Args)]
pub struct TopicArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub action: TopicAction,
}

/// What to do with topics.
#[derive(Debug, Subcommand)]
pub enum TopicAction {
    /// Creates a topic.
    Create {
        /// Topic name.
        name: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(short = 'p', long)]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(short = 'r', long = "replication-factor")]
        replication: Option<i16>,
        /// A topic config override, key=value (repeatable).
        #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Succeed without changing anything when the topic already exists (as kafka-topics'
        /// --if-not-exists), so that setup scripts can run again.
        #[arg(long = "if-not-exists")]
        if_not_exists: bool,
    },
    /// Lists topics.
    List,
    /// Shows partitions, leaders, replicas, ISR and overridden configs.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Sets or deletes topic config overrides.
    AlterConfig {
        /// Topic name.
        name: String,
        /// Sets key=value (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Removes an override, back to the default (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Grows a topic to a number of partitions.
    AddPartitions {
        /// Topic name.
        name: String,
        /// Total partitions afterwards.
        #[arg(long)]
        count: i32,
    },
    /// Deletes a topic.
    Delete {
        /// Topic name.
        name: String,
    },
}

/// `produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub connect: Connect,
    /// Topic to produce to.
    pub topic: String,
    /// Splits each line into key and value at the first SEP.
    #[arg(long = "key-separator", value_name = "SEP")]
    pub key_separator: Option<String>,
    /// A header for every record, key=value (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Partition (default: by key hash, or sticky for keyless records).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Acknowledgements: 0, 1 or all.
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    pub acks: i16,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Use an idempotent producer (InitProducerId).
    #[arg(long)]
    pub idempotent: bool,
}

/// `consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub connect: Connect,
    /// Topic to consume.
    pub topic: String,
    /// Start at the earliest offset (default: the latest).
    #[arg(long, conflicts_with_all = ["offset", "from_timestamp"])]
    pub from_beginning: bool,
    /// Start at this offset (in every partition read).
    #[arg(long, conflicts_with = "from_timestamp")]
    pub offset: Option<i64>,
    /// Start at the first record at or after this time: ms since the epoch or ISO 8601.
    #[arg(long, value_name = "MS|DATETIME", value_parser = parse_time)]
    pub from_timestamp: Option<i64>,
    /// Stop after this many records.
    #[arg(long)]
    pub count: Option<u64>,
    /// Keep waiting for new records (default: stop at the end of the log as it was at start).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Read only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Print JSON lines with partition, offset, timestamp, key, value and headers.
    #[arg(long)]
    pub json: bool,
}

/// `cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub connect: Connect,
}

/// Compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Compression {
        match c {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

pub(crate) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{s}' is not key=value")),
    }
}

pub(crate) fn parse_acks(s: &str) -> Result<i16, String> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "all" | "-1" => Ok(-1),
        _ => Err(format!("acks must be 0, 1 or all, not '{s}'")),
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    crate::time::parse_timestamp(s)
}

pub(crate) async fn connect(c: &Connect) -> Result<Arc<Client>, CliError> {
    Ok(Client::connect(c.config()?).await?)
}

pub(crate) async fn topic(args: TopicArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let client = connect(&args.connect).await?;
    match args.action {
        TopicAction::Create {
            name,
            partitions,
            replication,
            configs,
            if_not_exists,
        } => {
            let created = client
                .create_topic(NewTopic {
                    name: name.clone(),
                    partitions: partitions.unwrap_or(-1),
                    replication_factor: replication.unwrap_or(-1),
                    configs,
                })
                .await;
            match created {
                Err(e) if if_not_exists && e.code() == Some(ErrorCode::TopicAlreadyExists) => {
                    writeln!(out, "Topic {name} already exists.")?;
                }
                other => {
                    other?;
                    writeln!(out, "Created topic {name}.")?;
                }
            }
        }
        TopicAction::List => {
            let metadata = client.metadata(None, false).await?;
            let mut names: Vec<&str> = metadata.topics.iter().map(|t| t.name.as_str()).collect();
            names.sort_unstable();
            for name in names {
                writeln!(out, "{name}")?;
            }
        }
        TopicAction::Describe { name } => {
            let topic = client.topic(&name).await?;
            let configs = client.describe_topic_configs(&name).await.unwrap_or_default();
            let overrides: Vec<String> = configs
                .iter()
                .filter(|c| c.is_topic_override())
                .map(|c| {
                    format!(
                        "{}={}",
                        c.name,
                        if c.sensitive {
                            "<sensitive>"
                        } else {
                            c.value.as_deref().unwrap_or("")
                        }
                    )
                })
                .collect();
            let rf = topic.partitions.first().map_or(0, |p| p.replicas.len());
            writeln!(
                out,
                "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
                topic.name,
                topic.id,
                topic.partitions.len(),
                rf,
                overrides.join(",")
            )?;
            let list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            for p in &topic.partitions {
                writeln!(
                    out,
                    "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                    topic.name,
                    p.partition,
                    if p.leader < 0 {
                        "none".to_owned()
                    } else {
                        p.leader.to_string()
                    },
                    list(&p.replicas),
                    list(&p.isr)
                )?;
            }
        }
        TopicAction::AlterConfig { name, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                return Err(CliError(
                    "nothing to change: give --set key=value or --delete key".into(),
                ));
            }
            client.alter_topic_configs(&name, &set, &delete).await?;
            writeln!(out, "Updated the configuration of topic {name}.")?;
        }
        TopicAction::AddPartitions { name, count } => {
            client.create_partitions(&name, count).await?;
            writeln!(out, "Topic {name} now has {count} partitions.")?;
        }
        TopicAction::Delete { name } => {
            client.delete_topic(&name).await?;
            writeln!(out, "Deleted topic {name}.")?;
        }
    }
    Ok(())
}

/// Deliveries awaited at most this far behind the newest send, bounding memory.
const MAX_PENDING_DELIVERIES: usize = 10_000;

pub(crate) async fn produce(args: ProduceArgs, input: &mut dyn BufRead) -> Result<(), CliError> {
    let client = connect(&args.connect).await?;
    let producer = Producer::new(
        client,
        ProducerConfig {
            acks: args.acks,
            compression: args.compression.into(),
            idempotent: args.idempotent,
            ..Default::default()
        },
    )
    .await?;
    // Fail early (and auto-create where the broker allows it).
    producer.partitions(&args.topic).await?;
    let headers: Vec<Header> = args
        .headers
        .iter()
        .map(|(k, v)| Header::new(Bytes::from(k.clone()), Some(Bytes::from(v.clone()))))
        .collect();
    let mut pending: VecDeque<Delivery> = VecDeque::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let (key, value) = match &args.key_separator {
            Some(sep) => match text.split_once(sep.as_str()) {
                Some((k, v)) => (Some(Bytes::from(k.to_owned())), v),
                None => (None, text),
            },
            None => (None, text),
        };
        let record = NewRecord {
            timestamp_ms: now_ms(),
            key,
            value: Some(Bytes::from(value.to_owned())),
            headers: headers.clone(),
        };
        pending.push_back(producer.send(&args.topic, args.partition, record).await?);
        while pending.len() > MAX_PENDING_DELIVERIES {
            wait_delivery(pending.pop_front().expect("non-empty")).await?;
        }
    }
    let flushed = producer.close().await;
    for d in pending {
        wait_delivery(d).await?;
    }
    flushed?;
    Ok(())
}

async fn wait_delivery(d: Delivery) -> Result<(), CliError> {
    match d.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(CliError(
            "the producer stopped before the record was acknowledged".into(),
        )),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) async fn consume(args: ConsumeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let client = connect(&args.connect).await?;
    let partitions: Vec<i32> = args.partition.into_iter().collect();
    let config = ConsumerConfig {
        max_wait: Duration::from_millis(500),
        ..Default::default()
    };
    let mut consumer = match args.offset {
        Some(offset) => {
            let topic = client.topic(&args.topic).await?;
            let parts: Vec<i32> = if partitions.is_empty() {
                topic.partitions.iter().map(|p| p.partition).collect()
            } else {
                partitions.clone()
            };
            let positions = parts.into_iter().map(|p| (p, offset)).collect();
            Consumer::at_offsets(client.clone(), &args.topic, positions, config).await?
        }
        None => {
            let spec = if args.from_beginning {
                OffsetSpec::Earliest
            } else if let Some(ts) = args.from_timestamp {
                OffsetSpec::Timestamp(ts)
            } else {
                OffsetSpec::Latest
            };
            Consumer::new(client.clone(), &args.topic, &partitions, spec, config).await?
        }
    };
    // Without --follow or --count, stop at the end of the log as it is now.
    let ends: Option<BTreeMap<i32, i64>> = if args.follow || args.count.is_some() {
        None
    } else {
        let parts: Vec<i32> = consumer.positions().keys().copied().collect();
        Some(
            client
                .list_offsets(consumer.topic(), &parts, OffsetSpec::Latest)
                .await?,
        )
    };
    let mut printed = 0u64;
    loop {
        if let Some(ends) = &ends {
            if consumer
                .positions()
                .iter()
                .all(|(p, pos)| ends.get(p).is_none_or(|end| pos >= end))
            {
                break;
            }
        }
        if args.count.is_some_and(|c| printed >= c) {
            break;
        }
        for record in consumer.poll().await? {
            if let Some(ends) = &ends {
                if ends.get(&record.partition).is_some_and(|end| record.offset >= *end) {
                    continue;
                }
            }
            if args.count.is_some_and(|c| printed >= c) {
                break;
            }
            print_record(out, &record, args.json)?;
            printed += 1;
        }
        out.flush()?;
    }
    Ok(())
}

fn text(b: &Option<Bytes>) -> serde_json::Value {
    match b {
        Some(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
        None => serde_json::Value::Null,
    }
}

fn print_record(out: &mut dyn Write, r: &ConsumedRecord, json: bool) -> std::io::Result<()> {
    if json {
        let headers: Vec<serde_json::Value> = r
            .headers
            .iter()
            .map(|h| serde_json::json!({ "key": String::from_utf8_lossy(&h.key), "value": text(&h.value) }))
            .collect();
        // Fields in a fixed, readable order (serde_json maps sort their keys).
        let line = format!(
            "{{\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":{},\"value\":{},\"headers\":{}}}",
            r.partition,
            r.offset,
            r.timestamp_ms,
            text(&r.key),
            text(&r.value),
            serde_json::Value::Array(headers)
        );
        writeln!(out, "{line}")
    } else {
        if let Some(v) = &r.value {
            out.write_all(v)?;
        }
        out.write_all(b"\n")
    }
}

pub(crate) async fn cluster(args: ClusterArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let client = connect(&args.connect).await?;
    let info = client.describe_cluster().await?;
    writeln!(out, "Cluster ID: {}", info.cluster_id.as_deref().unwrap_or("(none)"))?;
    writeln!(
        out,
        "Controller: {}",
        if info.controller_id < 0 {
            "(none)".to_owned()
        } else {
            info.controller_id.to_string()
        }
    )?;
    writeln!(out, "Brokers:")?;
    let mut brokers = info.brokers;
    brokers.sort_by_key(|b| b.node_id);
    for b in brokers {
        match &b.rack {
            Some(rack) => writeln!(out, "  {} {}:{} (rack {rack})", b.node_id, b.host, b.port)?,
            None => writeln!(out, "  {} {}:{}", b.node_id, b.host, b.port)?,
        }
    }
    Ok(())
}

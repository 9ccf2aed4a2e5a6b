//! `bench produce|consume|e2e`: throughput (MB/s with MB = 10^6 bytes, records/s) and latency
//! percentiles in microseconds from an HDR histogram. Only the Kafka protocol is used, so it
//! measures any Kafka-compatible broker.
//!
//! - produce: latency is from `send` to the broker's acknowledgement of the record's batch
//!   (so it includes linger and queueing behind the in-flight limit, as Kafka's
//!   producer-perf-test does).
//! - consume: reads the topic from the earliest offsets; latency is per Fetch round trip.
//! - e2e: produces at `--rate-mb-s` with a timestamp in each value while a consumer reads from
//!   the end; latency is from just before `send` to the record reaching the consumer.

use crate::commands::{CompressionArg, connect, parse_acks};
use crate::{CliError, Connect};
use bytes::{BufMut, Bytes, BytesMut};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use sluice_client::{
    Client, Consumer, ConsumerConfig, Delivery, Error, NewRecord, NewTopic, OffsetSpec, Producer, ProducerConfig,
};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, mpsc};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    /// Producer throughput and acknowledgement latency.
    Produce,
    /// Consumer throughput over what the topic holds.
    Consume,
    /// End-to-end latency at a target rate, producing and consuming at once.
    E2e,
    /// Offset commits per second and their latency (OffsetCommit, one partition each).
    Commit,
    /// Time for a classic group of --members to rebalance when one joins or leaves.
    Rebalance,
    /// Creates --groups groups, each with one member and one committed offset.
    Groups,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub connect: Connect,
    /// What to measure.
    #[arg(value_enum)]
    pub mode: BenchMode,
    /// Topic (created with --partitions if missing).
    #[arg(long, default_value = "sluice-bench")]
    pub topic: String,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Records to produce (or at most to consume).
    #[arg(long)]
    pub records: Option<u64>,
    /// Run for this many seconds (default for produce and e2e: 10 s when --records is absent).
    #[arg(long = "duration-s")]
    pub duration_s: Option<f64>,
    /// Partitions of the topic when it is created.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Concurrent producers, each with its own connections.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Acknowledgements: 0, 1 or all.
    #[arg(long, default_value = "1", value_parser = parse_acks)]
    pub acks: i16,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// How long a batch waits for more records, in ms (default: 5 for produce, as Kafka's
    /// producer; 0 for e2e, as Kafka's EndToEndLatency tool, since linger adds to every record's
    /// latency).
    #[arg(long)]
    pub linger_ms: Option<u64>,
    /// Batch size in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub batch_bytes: usize,
    /// Produce requests in flight per producer.
    #[arg(long, default_value_t = 5)]
    pub max_in_flight: usize,
    /// commit: connections committing at once; groups: groups being created at once.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// rebalance: members of the group before the first measured round (--records sets the
    /// number of rounds, default 20).
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// groups: how many groups to create.
    #[arg(long, default_value_t = 10_000)]
    pub groups: usize,
    /// e2e: target produce rate in MB/s.
    #[arg(long = "rate-mb-s", default_value_t = 10.0)]
    pub rate_mb_s: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

/// A bench result.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// produce, consume or e2e.
    pub mode: &'static str,
    /// Records measured.
    pub records: u64,
    /// Bytes of keys and values measured.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Latency in microseconds.
    pub latency: Latency,
}

impl BenchReport {
    /// MB/s, MB = 10^6 bytes.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }

    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": self.mode,
            "records": self.records,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "mb_per_s": self.mb_per_s(),
            "records_per_s": self.records_per_s(),
            "latency_us": {
                "p50": self.latency.p50,
                "p99": self.latency.p99,
                "p99_9": self.latency.p999,
                "max": self.latency.max,
                "mean": self.latency.mean,
            },
        })
    }
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

pub(crate) fn latency(h: &Histogram<u64>) -> Latency {
    Latency {
        p50: h.value_at_quantile(0.5),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
    }
}

pub(crate) async fn bench(args: BenchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.record_size < 8 && args.mode == BenchMode::E2e {
        return Err(CliError(
            "e2e needs --record-size of at least 8 bytes (the timestamp)".into(),
        ));
    }
    let report = match args.mode {
        BenchMode::Produce => bench_produce(&args).await?,
        BenchMode::Consume => bench_consume(&args).await?,
        BenchMode::E2e => bench_e2e(&args).await?,
        BenchMode::Commit => crate::bench_groups::bench_commit(&args).await?,
        BenchMode::Rebalance => crate::bench_groups::bench_rebalance(&args).await?,
        BenchMode::Groups => crate::bench_groups::bench_groups(&args).await?,
    };
    let unit = match report.mode {
        "commit" => Some("commits"),
        "rebalance" => Some("rebalances"),
        "groups" => Some("groups"),
        _ => None,
    };
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else if let Some(unit) = unit {
        writeln!(
            out,
            "{}: {} {unit} in {:.2} s: {:.0} {unit}/s",
            report.mode,
            report.records,
            report.seconds,
            report.records_per_s()
        )?;
        let l = report.latency;
        writeln!(
            out,
            "{} latency (us): p50 {} p99 {} p99.9 {} max {} mean {:.0}",
            if report.mode == "groups" {
                "join+sync+commit"
            } else {
                report.mode
            },
            l.p50,
            l.p99,
            l.p999,
            l.max,
            l.mean
        )?;
    } else {
        writeln!(
            out,
            "{}: {} records, {:.1} MB in {:.2} s: {:.1} MB/s, {:.0} records/s",
            report.mode,
            report.records,
            report.bytes as f64 / 1e6,
            report.seconds,
            report.mb_per_s(),
            report.records_per_s()
        )?;
        let l = report.latency;
        writeln!(
            out,
            "{} latency (us): p50 {} p99 {} p99.9 {} max {} mean {:.0}",
            if report.mode == "consume" { "fetch" } else { report.mode },
            l.p50,
            l.p99,
            l.p999,
            l.max,
            l.mean
        )?;
    }
    Ok(())
}

pub(crate) async fn ensure_topic(client: &Client, args: &BenchArgs) -> Result<(), CliError> {
    match client
        .create_topic(NewTopic {
            name: args.topic.clone(),
            partitions: args.partitions,
            replication_factor: -1,
            configs: Vec::new(),
        })
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(sluice_protocol::ErrorCode::TopicAlreadyExists) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Random upper-case letters (as Kafka's perf tool uses), so compression has realistic work.
fn payload_pool(record_size: usize) -> Bytes {
    let len = (1 << 20) + record_size;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut buf = Vec::with_capacity(len);
    for _ in 0..len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        buf.push(b'A' + (state % 26) as u8);
    }
    Bytes::from(buf)
}

fn producer_config(args: &BenchArgs) -> ProducerConfig {
    ProducerConfig {
        acks: args.acks,
        compression: args.compression.into(),
        linger: Duration::from_millis(args.linger_ms.unwrap_or(match args.mode {
            BenchMode::E2e => 0,
            _ => 5,
        })),
        batch_bytes: args.batch_bytes.max(1),
        buffer_bytes: (32 << 20).max(args.batch_bytes * 4),
        max_in_flight: args.max_in_flight.max(1),
        idempotent: false,
        auto_create_topics: false,
    }
}

/// What limits a run: a record count, a deadline, or both.
struct Limit {
    records: Option<u64>,
    duration: Option<Duration>,
}

impl Limit {
    fn new(args: &BenchArgs) -> Limit {
        let duration = args.duration_s.map(Duration::from_secs_f64);
        Limit {
            records: args.records,
            duration: if args.records.is_none() && duration.is_none() {
                Some(Duration::from_secs(10))
            } else {
                duration
            },
        }
    }
}

async fn bench_produce(args: &BenchArgs) -> Result<BenchReport, CliError> {
    let admin = connect(&args.connect).await?;
    ensure_topic(&admin, args).await?;
    let limit = Limit::new(args);
    let producers = args.producers.max(1);
    let pool = payload_pool(args.record_size);
    let barrier = Arc::new(Barrier::new(producers + 1));
    let claimed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..producers {
        let client = connect(&args.connect).await?;
        let producer = Producer::new(client, producer_config(args)).await?;
        producer.partitions(&args.topic).await?;
        let (barrier, claimed, pool, topic) = (barrier.clone(), claimed.clone(), pool.clone(), args.topic.clone());
        let (max_records, duration, size) = (limit.records, limit.duration, args.record_size);
        tasks.push(tokio::spawn(async move {
            let (tx, mut rx) = mpsc::channel::<(Instant, Delivery)>(1 << 16);
            let collector = tokio::spawn(async move {
                let mut h = histogram();
                let mut bytes = 0u64;
                while let Some((sent, delivery)) = rx.recv().await {
                    match delivery.await {
                        Ok(Ok(_)) => {
                            h.saturating_record(sent.elapsed().as_micros() as u64);
                            bytes += size as u64;
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Err(Error::Invalid("the producer stopped early".into())),
                    }
                }
                Ok((h, bytes))
            });
            barrier.wait().await;
            let start = Instant::now();
            let mut offset = (i * 7919) % (1 << 20);
            loop {
                if duration.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                if let Some(max) = max_records {
                    if claimed.fetch_add(1, Ordering::Relaxed) >= max {
                        break;
                    }
                }
                offset = (offset + 4099) % (1 << 20);
                let value = pool.slice(offset..offset + size);
                let now = Instant::now();
                let delivery = producer
                    .send(
                        &topic,
                        None,
                        NewRecord::new(crate::commands::now_ms(), None, Some(value)),
                    )
                    .await?;
                if tx.send((now, delivery)).await.is_err() {
                    break;
                }
            }
            drop(tx);
            producer.close().await?;
            let (h, bytes) = collector
                .await
                .map_err(|e| Error::Invalid(format!("collector failed: {e}")))??;
            Ok::<_, Error>((h, bytes, start.elapsed()))
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut total = histogram();
    let mut bytes = 0;
    for t in tasks {
        let (h, b, _) = t
            .await
            .map_err(|e| CliError(format!("a producer task failed: {e}")))??;
        total.add(&h).map_err(|e| CliError(format!("histogram: {e}")))?;
        bytes += b;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchReport {
        mode: "produce",
        records: total.len(),
        bytes,
        seconds,
        latency: latency(&total),
    })
}

async fn bench_consume(args: &BenchArgs) -> Result<BenchReport, CliError> {
    let client = connect(&args.connect).await?;
    let topic = client.topic(&args.topic).await?;
    let parts: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    let starts = client.list_offsets(&topic, &parts, OffsetSpec::Earliest).await?;
    let ends = client.list_offsets(&topic, &parts, OffsetSpec::Latest).await?;
    let available: i64 = ends.iter().map(|(p, e)| e - starts.get(p).copied().unwrap_or(0)).sum();
    if available <= 0 {
        return Err(CliError(format!(
            "topic '{}' is empty: run `sluice bench produce` first",
            args.topic
        )));
    }
    let target = args.records.map_or(available as u64, |r| r.min(available as u64));
    let deadline = args.duration_s.map(Duration::from_secs_f64);
    // Kafka's default fetch sizes: far larger responses (8 MiB per partition) measured 4x
    // slower against Sluice.
    let config = ConsumerConfig {
        max_wait: Duration::from_millis(100),
        ..Default::default()
    };
    let mut consumer = Consumer::new(client, &args.topic, &[], OffsetSpec::Earliest, config).await?;
    let mut h = histogram();
    let (mut records, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    while records < target && deadline.is_none_or(|d| start.elapsed() < d) {
        let t = Instant::now();
        let batch = consumer.poll().await?;
        h.saturating_record(t.elapsed().as_micros() as u64);
        for r in batch {
            if records >= target {
                break;
            }
            records += 1;
            bytes += (r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len)) as u64;
        }
    }
    Ok(BenchReport {
        mode: "consume",
        records,
        bytes,
        seconds: start.elapsed().as_secs_f64(),
        latency: latency(&h),
    })
}

async fn bench_e2e(args: &BenchArgs) -> Result<BenchReport, CliError> {
    let admin = connect(&args.connect).await?;
    ensure_topic(&admin, args).await?;
    let limit = Limit::new(args);
    let base = Instant::now();
    let consumer_client = connect(&args.connect).await?;
    // Kafka's default fetch sizes: far larger responses (8 MiB per partition) measured 4x
    // slower against Sluice.
    let config = ConsumerConfig {
        max_wait: Duration::from_millis(100),
        ..Default::default()
    };
    let mut consumer = Consumer::new(consumer_client, &args.topic, &[], OffsetSpec::Latest, config).await?;
    let producer = Producer::new(connect(&args.connect).await?, producer_config(args)).await?;
    producer.partitions(&args.topic).await?;

    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let size = args.record_size;
    let rate_records = (args.rate_mb_s * 1e6 / size as f64).max(1.0);
    let pool = payload_pool(size);
    let produce = {
        let (sent, done, topic, producer) = (sent.clone(), done.clone(), args.topic.clone(), producer.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let mut pending = std::collections::VecDeque::new();
            loop {
                let elapsed = start.elapsed();
                if limit.duration.is_some_and(|d| elapsed >= d) {
                    break;
                }
                let n = sent.load(Ordering::Relaxed);
                if limit.records.is_some_and(|m| n >= m) {
                    break;
                }
                let due = (elapsed.as_secs_f64() * rate_records) as u64 + 1;
                if n >= due {
                    tokio::time::sleep(Duration::from_micros(500)).await;
                    continue;
                }
                let mut value = BytesMut::with_capacity(size);
                value.put_u64(base.elapsed().as_micros() as u64);
                let at = (n as usize * 4099) % (1 << 20);
                value.put_slice(&pool[at..at + size - 8]);
                let record = NewRecord::new(crate::commands::now_ms(), None, Some(value.freeze()));
                pending.push_back(producer.send(&topic, None, record).await?);
                sent.fetch_add(1, Ordering::Relaxed);
                while pending.len() > 10_000 {
                    let d: Delivery = pending.pop_front().expect("non-empty");
                    d.await
                        .map_err(|_| Error::Invalid("the producer stopped early".into()))??;
                }
            }
            producer.flush().await?;
            for d in pending {
                d.await
                    .map_err(|_| Error::Invalid("the producer stopped early".into()))??;
            }
            done.store(true, Ordering::SeqCst);
            Ok::<_, Error>(start.elapsed())
        })
    };
    let mut h = histogram();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut drained_since: Option<Instant> = None;
    let start = Instant::now();
    loop {
        if done.load(Ordering::SeqCst) {
            if records >= sent.load(Ordering::SeqCst) {
                break;
            }
            // Give stragglers a bounded time after the producer finished.
            let since = *drained_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        if produce.is_finished() && !done.load(Ordering::SeqCst) {
            break;
        }
        for r in consumer.poll().await? {
            let Some(v) = r.value.as_ref().filter(|v| v.len() >= 8) else {
                continue;
            };
            let stamp = u64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
            let now = base.elapsed().as_micros() as u64;
            h.saturating_record(now.saturating_sub(stamp).max(1));
            records += 1;
            bytes += v.len() as u64;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    produce
        .await
        .map_err(|e| CliError(format!("the producer task failed: {e}")))??;
    producer.close().await?;
    Ok(BenchReport {
        mode: "e2e",
        records,
        bytes,
        seconds,
        latency: latency(&h),
    })
}

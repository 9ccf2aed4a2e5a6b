//! `sluice group ...` against a real `sluice serve`: a librdkafka consumer group (subscribe,
//! consume, commit) is listed, described (members, client id, host, assignment, committed
//! offsets, lag), protected while active (reset-offsets refused, delete NON_EMPTY_GROUP,
//! delete-offsets GROUP_SUBSCRIBED_TO_TOPIC) and cleaned up once empty; reset-offsets is a dry
//! run by default and commits each mode's offsets with --execute, checked through describe and
//! through librdkafka's own OffsetFetch. Each test starts its own broker on an ephemeral
//! loopback port.

mod common;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A `sluice serve` child process; killed when dropped, so a failing assertion never leaves it
/// running.
struct Broker {
    /// The broker process, started by this test.
    child: Child,
    /// `host:port` the broker reported as bound (the port is ephemeral).
    addr: String,
}

impl Broker {
    /// Starts `sluice serve` on an ephemeral loopback port with its data in `data`.
    fn start(data: &Path) -> Broker {
        Broker::start_with(data, &[])
    }

    /// Starts `sluice serve` with `overrides` (`key=value`) added.
    fn start_with(data: &Path, overrides: &[&str]) -> Broker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            // A short initial rebalance delay keeps the group test quick.
            .args([
                "serve",
                "-o",
                "listeners=PLAINTEXT://127.0.0.1:0",
                "-o",
                "group.initial.rebalance.delay.ms=100",
                "-o",
            ])
            .arg(format!("log.dirs={}", data.display()))
            .args(overrides.iter().flat_map(|o| ["-o", o]))
            .env("SLUICE_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice starts");
        let addr = common::ready_address(&mut child, Duration::from_secs(30));
        Broker { child, addr }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one CLI run printed and how it exited.
struct Run {
    /// Exit code (None if killed by a signal).
    code: Option<i32>,
    /// Standard output.
    stdout: String,
    /// Standard error.
    stderr: String,
}

/// Runs `sluice ARGS -b ADDR` with `stdin` piped in.
fn sluice_with_input(addr: &str, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .args(["-b", addr, "--timeout-ms", "15000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    let out = child.wait_with_output().expect("sluice finishes");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn sluice(addr: &str, args: &[&str]) -> Run {
    sluice_with_input(addr, args, "")
}

/// Runs a command that must succeed; returns its stdout.
fn ok(addr: &str, args: &[&str]) -> String {
    let r = sluice(addr, args);
    assert_eq!(
        r.code,
        Some(0),
        "{args:?} failed: stderr {:?} stdout {:?}",
        r.stderr,
        r.stdout
    );
    assert!(!r.stderr.contains("panicked"), "{args:?} panicked: {}", r.stderr);
    r.stdout
}

/// Runs a command that must fail with exit code 1 and a one-line error; returns stderr.
fn fails(addr: &str, args: &[&str]) -> Run {
    let r = sluice(addr, args);
    assert_eq!(r.code, Some(1), "{args:?} should fail: stdout {:?}", r.stdout);
    assert!(!r.stderr.contains("panicked"), "{args:?} panicked: {}", r.stderr);
    assert_eq!(
        r.stderr.trim_end().lines().count(),
        1,
        "{args:?}: one sentence expected: {:?}",
        r.stderr
    );
    r
}

/// Produces `n` lines to one partition with the CLI.
fn produce(addr: &str, topic: &str, partition: i32, n: usize) {
    let lines: String = (0..n).map(|i| format!("v{i}\n")).collect();
    let p = partition.to_string();
    let r = sluice_with_input(addr, &["produce", topic, "--partition", &p], &lines);
    assert_eq!(r.code, Some(0), "produce failed: {}", r.stderr);
}

/// `group describe --json`, parsed.
fn describe(addr: &str, group: &str) -> serde_json::Value {
    let out = ok(addr, &["group", "describe", group, "--json"]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("describe --json printed {out:?}: {e}"))
}

/// The committed offsets `describe --json` reports, by (topic, partition).
fn committed(addr: &str, group: &str) -> BTreeMap<(String, i64), i64> {
    let d = describe(addr, group);
    d["offsets"]
        .as_array()
        .expect("offsets array")
        .iter()
        .filter_map(|o| {
            Some((
                (o["topic"].as_str()?.to_owned(), o["partition"].as_i64()?),
                o["current_offset"].as_i64()?,
            ))
        })
        .collect()
}

fn offsets(pairs: &[(&str, i64, i64)]) -> BTreeMap<(String, i64), i64> {
    pairs.iter().map(|(t, p, o)| (((*t).to_owned(), *p), *o)).collect()
}

/// A librdkafka group member that commits manually.
fn member(addr: &str, group: &str, client_id: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("broker.address.family", "v4")
        .set("group.id", group)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .create()
        .expect("group consumer")
}

/// Polls `describe` until the group reaches `state`.
fn wait_for_state(addr: &str, group: &str, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = describe(addr, group);
        if d["state"] == state {
            return d;
        }
        assert!(Instant::now() < deadline, "group {group} never became {state}: {d}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_active_group_is_listed_described_protected_and_then_cleaned_up() {
    let data = tempfile::tempdir().unwrap();
    let broker = Broker::start(data.path());
    let addr = broker.addr.as_str();
    ok(addr, &["topic", "create", "orders", "-p", "2"]);
    produce(addr, "orders", 0, 5);
    produce(addr, "orders", 1, 3);

    // Unknown groups fail with a sentence naming the group, not a panic or an empty table.
    let r = fails(addr, &["group", "describe", "ghost"]);
    assert!(
        r.stderr
            .contains("Consumer group 'ghost' does not exist (GROUP_ID_NOT_FOUND)"),
        "{}",
        r.stderr
    );
    let r = fails(addr, &["group", "delete-offsets", "ghost", "--topic", "orders"]);
    assert!(
        r.stderr
            .contains("Consumer group 'ghost' does not exist (GROUP_ID_NOT_FOUND)"),
        "{}",
        r.stderr
    );

    // A real member consumes everything and commits after each record.
    let consumer = member(addr, "shop", "gcli-test-client");
    consumer.subscribe(&["orders"]).unwrap();
    let mut consumed = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumed < 8 {
        assert!(Instant::now() < deadline, "consumed only {consumed} of 8");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("a record");
            consumer.commit_message(&m, CommitMode::Sync).expect("commit");
            consumed += 1;
        }
    }

    let list = ok(addr, &["group", "list"]);
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("shop "))
        .unwrap_or_else(|| panic!("shop missing from {list:?}"))
        .split_whitespace()
        .collect();
    assert_eq!(row, ["shop", "Stable", "classic", "consumer"]);
    assert!(list.starts_with("GROUP"), "{list}");
    // The state filter goes to the broker: Stable matches, Empty does not.
    assert!(ok(addr, &["group", "list", "--state", "stable"]).contains("shop"));
    assert!(!ok(addr, &["group", "list", "--state", "Empty,Dead"]).contains("shop"));
    assert!(ok(addr, &["group", "list", "--type", "classic"]).contains("shop"));
    let r = sluice(addr, &["group", "list", "--state", "Sleepy"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("Invalid state 'Sleepy'"), "{}", r.stderr);

    let d = describe(addr, "shop");
    assert_eq!(d["state"], "Stable");
    assert_eq!(d["protocol_type"], "consumer");
    let members = d["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{d}");
    let m = &members[0];
    assert_eq!(m["client_id"], "gcli-test-client");
    assert_eq!(m["host"], "/127.0.0.1");
    let member_id = m["member_id"].as_str().unwrap().to_owned();
    assert!(member_id.starts_with("gcli-test-client-"), "{member_id}");
    let assignment = m["assignment"].as_array().unwrap();
    assert_eq!(assignment.len(), 1);
    assert_eq!(assignment[0]["topic"], "orders");
    let mut parts: Vec<i64> = assignment[0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    parts.sort_unstable();
    assert_eq!(parts, [0, 1]);
    let rows = d["offsets"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{d}");
    for (row, (end, partition)) in rows.iter().zip([(5, 0), (3, 1)]) {
        assert_eq!(row["partition"], partition);
        assert_eq!(row["current_offset"], end);
        assert_eq!(row["log_end_offset"], end);
        assert_eq!(row["lag"], 0);
        assert_eq!(row["member_id"], member_id.as_str());
    }

    // More records and no commits: the lag is exactly what was produced since.
    produce(addr, "orders", 0, 4);
    let d = describe(addr, "shop");
    let p0 = &d["offsets"][0];
    assert_eq!(
        (
            p0["current_offset"].as_i64(),
            p0["log_end_offset"].as_i64(),
            p0["lag"].as_i64()
        ),
        (Some(5), Some(9), Some(4))
    );
    assert_eq!(d["offsets"][1]["lag"], 0);
    let text = ok(addr, &["group", "describe", "shop"]);
    assert!(text.contains("State: Stable"), "{text}");
    assert!(text.contains("Protocol: consumer/"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("orders ") && l.split_whitespace().nth(1) == Some("0"))
        .unwrap_or_else(|| panic!("no orders 0 row in {text}"));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        [
            "orders",
            "0",
            "5",
            "9",
            "4",
            member_id.as_str(),
            "/127.0.0.1",
            "gcli-test-client"
        ]
    );
    assert!(text.contains("orders:0,1"), "assignment column: {text}");

    // While the member is active: resets are refused with Kafka's sentence, the group cannot
    // be deleted, and its subscribed topic's offsets cannot be deleted.
    let r = fails(
        addr,
        &[
            "group",
            "reset-offsets",
            "shop",
            "--topic",
            "orders",
            "--to-earliest",
            "--execute",
        ],
    );
    assert!(
        r.stderr.contains(
            "Assignments can only be reset if the group 'shop' is inactive, but the current state is Stable."
        ),
        "{}",
        r.stderr
    );
    let r = fails(addr, &["group", "delete", "shop"]);
    assert!(r.stderr.contains("(NON_EMPTY_GROUP)"), "{}", r.stderr);
    assert!(r.stderr.contains("'shop'"), "{}", r.stderr);
    let r = fails(addr, &["group", "delete-offsets", "shop", "--topic", "orders:0"]);
    assert!(r.stderr.contains("(GROUP_SUBSCRIBED_TO_TOPIC)"), "{}", r.stderr);
    assert!(r.stdout.contains("orders  0          Error:"), "{}", r.stdout);
    assert_eq!(committed(addr, "shop").get(&("orders".to_owned(), 0)), Some(&5));

    // The member leaves: the group is Empty, keeps its offsets, and may now be cleaned up.
    consumer.unsubscribe();
    drop(consumer);
    let d = wait_for_state(addr, "shop", "Empty");
    assert!(d["members"].as_array().unwrap().is_empty());
    let text = ok(addr, &["group", "describe", "shop"]);
    assert!(text.contains("Consumer group 'shop' has no active members."), "{text}");

    let out = ok(addr, &["group", "delete-offsets", "shop", "--topic", "orders:0"]);
    assert!(out.contains("Successful"), "{out}");
    assert_eq!(committed(addr, "shop"), offsets(&[("orders", 1, 3)]));

    // Several groups at once: one deleted, one unknown; the failure is reported and the exit
    // code says so.
    let r = fails(addr, &["group", "delete", "shop", "ghost"]);
    assert!(r.stdout.contains("Deleted group 'shop'."), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("Cannot delete group 'ghost': The group id does not exist (GROUP_ID_NOT_FOUND)"),
        "{}",
        r.stderr
    );
    assert!(!ok(addr, &["group", "list"]).contains("shop"));
    let r = fails(addr, &["group", "describe", "shop"]);
    assert!(
        r.stderr.contains("Consumer group 'shop' does not exist"),
        "{}",
        r.stderr
    );
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.sss` shifted by `offset_min` minutes, the
/// zone suffix left to the caller (days-to-civil after Howard Hinnant's algorithm).
fn datetime(ms: i64, offset_min: i64) -> String {
    let ms = ms + offset_min * 60_000;
    let days = ms.div_euclid(86_400_000);
    let of_day = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn reset_offsets_plans_by_default_and_executes_every_mode() {
    let data = tempfile::tempdir().unwrap();
    let broker = Broker::start(data.path());
    let addr = broker.addr.as_str();
    ok(addr, &["topic", "create", "events", "-p", "2"]);
    produce(addr, "events", 0, 5);
    // Records 5.. of partition 0 are the first at or after `mark`.
    std::thread::sleep(Duration::from_millis(50));
    let mark = now_ms();
    std::thread::sleep(Duration::from_millis(50));
    produce(addr, "events", 0, 5);
    produce(addr, "events", 1, 4);

    let reset = |args: &[&str]| {
        let mut all = vec!["group", "reset-offsets", "etl"];
        all.extend_from_slice(args);
        ok(addr, &all)
    };

    // An unknown group may be given offsets (as in Kafka): it is created Empty.
    reset(&["--topic", "events", "--to-offset", "2", "--execute"]);
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 2), ("events", 1, 2)]));

    // A dry run prints the plan and changes nothing.
    let plan = reset(&["--all-topics", "--to-latest"]);
    let rows: Vec<Vec<&str>> = plan.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    assert_eq!(rows[1], ["etl", "events", "0", "10"]);
    assert_eq!(rows[2], ["etl", "events", "1", "4"]);
    assert!(plan.contains("Dry run"), "{plan}");
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 2), ("events", 1, 2)]));

    reset(&["--all-topics", "--to-latest", "--execute"]);
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 10), ("events", 1, 4)]));

    // Only the named partition moves.
    reset(&["--topic", "events:1", "--to-earliest", "--execute"]);
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 10), ("events", 1, 0)]));

    // Shifts are clamped to [earliest, latest].
    reset(&["--all-topics", "--shift-by", "-3", "--execute"]);
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 7), ("events", 1, 0)]));
    reset(&["--all-topics", "--shift-by", "100", "--execute"]);
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 10), ("events", 1, 4)]));

    // So are fixed offsets.
    reset(&["--topic", "events:0", "--to-offset", "3", "--execute"]);
    reset(&["--topic", "events:1", "--to-offset", "100", "--execute"]);
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 3), ("events", 1, 4)]));
    reset(&["--topic", "events:1", "--to-offset", "-5", "--execute"]);
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 3), ("events", 1, 0)]));

    // By time: in UTC, with an explicit offset, and past every record (the log end).
    reset(&[
        "--topic",
        "events:0",
        "--to-datetime",
        &format!("{}Z", datetime(mark, 0)),
        "--execute",
    ]);
    assert_eq!(committed(addr, "etl")[&("events".to_owned(), 0)], 5);
    reset(&["--topic", "events:0", "--to-earliest", "--execute"]);
    reset(&[
        "--topic",
        "events:0",
        "--to-datetime",
        &format!("{}+01:30", datetime(mark, 90)),
        "--execute",
    ]);
    assert_eq!(committed(addr, "etl")[&("events".to_owned(), 0)], 5);
    reset(&[
        "--topic",
        "events:0",
        "--to-datetime",
        "2999-01-01T00:00:00Z",
        "--execute",
    ]);
    assert_eq!(committed(addr, "etl")[&("events".to_owned(), 0)], 10);

    // librdkafka's own OffsetFetch sees the same commits.
    let reader = member(addr, "etl", "verifier");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("events", 0);
    tpl.add_partition("events", 1);
    let seen = reader
        .committed_offsets(tpl, Duration::from_secs(20))
        .expect("committed offsets");
    assert_eq!(seen.find_partition("events", 0).unwrap().offset(), Offset::Offset(10));
    assert_eq!(seen.find_partition("events", 1).unwrap().offset(), Offset::Offset(0));
    drop(reader);

    // Bad input: sentences and non-zero exits, never a panic.
    let r = fails(
        addr,
        &["group", "reset-offsets", "etl", "--topic", "nosuch", "--to-latest"],
    );
    assert!(
        r.stderr
            .contains("Topic 'nosuch' does not exist (UNKNOWN_TOPIC_OR_PARTITION)"),
        "{}",
        r.stderr
    );
    let r = fails(
        addr,
        &["group", "reset-offsets", "etl", "--topic", "events:7", "--to-latest"],
    );
    assert!(
        r.stderr.contains("The partitions \"events-7\" do not exist"),
        "{}",
        r.stderr
    );
    let r = fails(
        addr,
        &[
            "group",
            "reset-offsets",
            "fresh",
            "--topic",
            "events",
            "--shift-by",
            "1",
        ],
    );
    assert!(
        r.stderr
            .contains("Cannot shift offset for partition events-0 since there is no current committed offset"),
        "{}",
        r.stderr
    );
    for bad in [
        vec!["--topic", "events"],
        vec!["--topic", "events", "--to-latest", "--to-earliest"],
        vec!["--to-latest"],
        vec!["--topic", "events", "--to-datetime", "yesterday"],
        vec!["--topic", "events:x", "--to-latest"],
    ] {
        let mut args = vec!["group", "reset-offsets", "etl"];
        args.extend(bad.iter());
        let r = sluice(addr, &args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
    // The failed attempts changed nothing.
    assert_eq!(committed(addr, "etl"), offsets(&[("events", 0, 10), ("events", 1, 0)]));
}

/// A KIP-848 consumer group (librdkafka with `group.protocol=consumer`) is not a classic group:
/// `describe` finds it through ConsumerGroupDescribe, with its member, assignment and lag, and
/// resets are refused while it is active, as for a classic group.
#[test]
fn a_consumer_protocol_group_is_described_and_protected() {
    let data = tempfile::tempdir().unwrap();
    let broker = Broker::start_with(data.path(), &["group.consumer.heartbeat.interval.ms=300"]);
    let addr = broker.addr.as_str();
    ok(addr, &["topic", "create", "events", "-p", "3"]);
    for p in 0..3 {
        produce(addr, "events", p, 2);
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("broker.address.family", "v4")
        .set("group.id", "modern")
        .set("group.protocol", "consumer")
        .set("client.id", "kip848-client")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer protocol member");
    consumer.subscribe(&["events"]).unwrap();
    let mut consumed = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumed < 6 {
        assert!(Instant::now() < deadline, "consumed only {consumed} of 6");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("a record");
            consumer.commit_message(&m, CommitMode::Sync).expect("commit");
            consumed += 1;
        }
    }
    let list = ok(addr, &["group", "list", "--type", "consumer"]);
    assert!(list.lines().any(|l| l.starts_with("modern ")), "{list}");

    let d = wait_for_state(addr, "modern", "Stable");
    assert_eq!(d["protocol_type"], "consumer", "{d}");
    let members = d["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{d}");
    assert_eq!(members[0]["client_id"], "kip848-client");
    let assignment = members[0]["assignment"].as_array().unwrap();
    assert_eq!(assignment.len(), 1, "{d}");
    assert_eq!(assignment[0]["topic"], "events");
    let mut parts: Vec<i64> = assignment[0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    parts.sort_unstable();
    assert_eq!(parts, [0, 1, 2]);
    let rows = d["offsets"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{d}");
    assert!(rows.iter().all(|r| r["current_offset"] == 2 && r["lag"] == 0), "{d}");

    let r = fails(
        addr,
        &[
            "group",
            "reset-offsets",
            "modern",
            "--all-topics",
            "--to-earliest",
            "--execute",
        ],
    );
    assert!(
        r.stderr
            .contains("Assignments can only be reset if the group 'modern' is inactive"),
        "{}",
        r.stderr
    );
    drop(consumer);
    // Once the member has left, the group is Empty and its offsets can be reset.
    wait_for_state(addr, "modern", "Empty");
    ok(
        addr,
        &[
            "group",
            "reset-offsets",
            "modern",
            "--all-topics",
            "--to-earliest",
            "--execute",
        ],
    );
    assert_eq!(
        committed(addr, "modern"),
        offsets(&[("events", 0, 0), ("events", 1, 0), ("events", 2, 0)])
    );
}

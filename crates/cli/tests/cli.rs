//! Drives the CLI (parsed by clap exactly as the `sluice` binary does) against a real broker on
//! an ephemeral port.

use clap::Parser;
use sluice_broker::{Broker, BrokerSettings, ListenerSettings, Server};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "sluice")]
struct Cli {
    #[command(subcommand)]
    command: sluice_cli::Command,
}

async fn start() -> (Server, String) {
    let settings = BrokerSettings {
        listeners: vec![ListenerSettings {
            name: "PLAINTEXT".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: None,
            advertised_port: None,
            security_protocol: sluice_broker::SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
            principal_mapper: None,
        }],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(settings, dir.path()).expect("broker opens");
    std::mem::forget(dir);
    let server = Server::start(broker).await.expect("server starts");
    let address = server.address("PLAINTEXT").unwrap().to_string();
    (server, address)
}

/// Runs `sluice ARGS -b BOOTSTRAP` with `stdin`; returns stdout or the error sentence.
async fn run(bootstrap: &str, args: &[&str], stdin: &str) -> Result<String, String> {
    let mut argv = vec!["sluice"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["-b", bootstrap, "--timeout-ms", "10000"]);
    let cli = Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    let mut output = Vec::new();
    sluice_cli::execute(cli.command, &mut input, &mut output)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8(output).unwrap())
}

async fn ok(bootstrap: &str, args: &[&str]) -> String {
    run(bootstrap, args, "")
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topic_lifecycle() {
    let (server, b) = start().await;
    let out = ok(
        &b,
        &[
            "topic",
            "create",
            "orders",
            "-p",
            "3",
            "-r",
            "1",
            "-c",
            "retention.ms=3600000",
        ],
    )
    .await;
    assert_eq!(out, "Created topic orders.\n");
    let err = run(&b, &["topic", "create", "orders", "-p", "3"], "")
        .await
        .unwrap_err();
    assert!(
        err.contains("Topic 'orders' already exists (TOPIC_ALREADY_EXISTS)"),
        "{err}"
    );
    // --if-not-exists makes a re-run succeed and leaves the topic as it was.
    let out = ok(&b, &["topic", "create", "orders", "-p", "5", "--if-not-exists"]).await;
    assert_eq!(out, "Topic orders already exists.\n");
    ok(&b, &["topic", "create", "other"]).await;
    assert_eq!(ok(&b, &["topic", "list"]).await, "orders\nother\n");

    let out = ok(&b, &["topic", "describe", "orders"]).await;
    assert!(out.contains("PartitionCount: 3\tReplicationFactor: 1"), "{out}");
    assert!(out.contains("Configs: retention.ms=3600000"), "{out}");
    assert_eq!(out.matches("\tPartition: ").count(), 3, "{out}");
    assert!(
        out.contains("Partition: 2\tLeader: 1\tReplicas: 1\tIsr: 1") || out.contains("Partition: 2\tLeader: "),
        "{out}"
    );

    ok(
        &b,
        &[
            "topic",
            "alter-config",
            "orders",
            "--set",
            "cleanup.policy=compact",
            "--delete",
            "retention.ms",
        ],
    )
    .await;
    let out = ok(&b, &["topic", "describe", "orders"]).await;
    assert!(
        out.contains("Configs: cleanup.policy=compact\t") || out.contains("Configs: cleanup.policy=compact\n"),
        "{out}"
    );
    let err = run(
        &b,
        &["topic", "alter-config", "orders", "--set", "no.such.config=1"],
        "",
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("(INVALID_CONFIG)") || err.contains("(INVALID_REQUEST)"),
        "{err}"
    );

    ok(&b, &["topic", "add-partitions", "orders", "--count", "5"]).await;
    let out = ok(&b, &["topic", "describe", "orders"]).await;
    assert!(out.contains("PartitionCount: 5"), "{out}");
    let err = run(&b, &["topic", "add-partitions", "orders", "--count", "2"], "")
        .await
        .unwrap_err();
    assert!(err.contains("(INVALID_PARTITIONS)"), "{err}");

    ok(&b, &["topic", "delete", "other"]).await;
    assert_eq!(ok(&b, &["topic", "list"]).await, "orders\n");
    let err = run(&b, &["topic", "delete", "other"], "").await.unwrap_err();
    assert!(
        err.contains("Topic 'other' does not exist (UNKNOWN_TOPIC_OR_PARTITION)"),
        "{err}"
    );
    let err = run(&b, &["topic", "describe", "other"], "").await.unwrap_err();
    assert!(err.contains("(UNKNOWN_TOPIC_OR_PARTITION)"), "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn produce_and_consume_back() {
    let (server, b) = start().await;
    ok(&b, &["topic", "create", "events", "-p", "1"]).await;
    let before = sluice_now_ms();
    let out = run(
        &b,
        &[
            "produce",
            "events",
            "--key-separator",
            ":",
            "-H",
            "source=test",
            "-H",
            "n=1",
            "--acks",
            "1",
            "--compression",
            "zstd",
        ],
        "k1:hello\nk2:world\nno key here\n",
    )
    .await
    .unwrap();
    assert_eq!(out, "");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let middle = sluice_now_ms();
    run(
        &b,
        &["produce", "events", "--acks", "all", "--compression", "gzip"],
        "later\n",
    )
    .await
    .unwrap();

    let out = ok(&b, &["consume", "events", "--from-beginning"]).await;
    assert_eq!(out, "hello\nworld\nno key here\nlater\n");
    let out = ok(&b, &["consume", "events", "--from-beginning", "--count", "2", "--json"]).await;
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["partition"], 0);
    assert_eq!(lines[0]["offset"], 0);
    assert_eq!(lines[0]["key"], "k1");
    assert_eq!(lines[0]["value"], "hello");
    assert_eq!(lines[1]["key"], "k2");
    assert!(lines[0]["timestamp"].as_i64().unwrap() >= before);
    assert_eq!(
        lines[0]["headers"],
        serde_json::json!([{"key": "source", "value": "test"}, {"key": "n", "value": "1"}])
    );
    let out = ok(
        &b,
        &["consume", "events", "--offset", "2", "--json", "--partition", "0"],
    )
    .await;
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["key"], serde_json::Value::Null);
    assert_eq!(lines[0]["value"], "no key here");
    assert_eq!(lines[1]["offset"], 3);

    let out = ok(&b, &["consume", "events", "--from-timestamp", &middle.to_string()]).await;
    assert_eq!(out, "later\n");
    let out = ok(&b, &["consume", "events", "--from-timestamp", "2100-01-01T00:00:00Z"]).await;
    assert_eq!(out, "");
    let out = ok(
        &b,
        &[
            "consume",
            "events",
            "--from-timestamp",
            "1970-01-01T00:00:00Z",
            "--count",
            "1",
        ],
    )
    .await;
    assert_eq!(out, "hello\n");
    // Latest with nothing new: ends at once.
    assert_eq!(ok(&b, &["consume", "events"]).await, "");

    // acks=0 gets no response: produce returns once the request is written, and it lands.
    ok(&b, &["topic", "create", "fire-and-forget", "-p", "2"]).await;
    let input: String = (0..50).map(|i| format!("r{i}\n")).collect();
    run(&b, &["produce", "fire-and-forget", "--acks", "0"], &input)
        .await
        .unwrap();
    let mut got = String::new();
    for _ in 0..50 {
        got = ok(&b, &["consume", "fire-and-forget", "--from-beginning"]).await;
        if got.lines().count() == 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut lines: Vec<&str> = got.lines().collect();
    lines.sort_unstable_by_key(|l| l[1..].parse::<u32>().unwrap());
    assert_eq!(lines, (0..50).map(|i| format!("r{i}")).collect::<Vec<_>>());

    let err = run(&b, &["consume", "missing", "--from-beginning"], "")
        .await
        .unwrap_err();
    assert!(err.contains("(UNKNOWN_TOPIC_OR_PARTITION)"), "{err}");
    let err = run(&b, &["produce", "events", "--partition", "7"], "x\n")
        .await
        .unwrap_err();
    assert!(err.contains("(UNKNOWN_TOPIC_OR_PARTITION)"), "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyed_records_spread_like_kafka_and_idempotence_works() {
    let (server, b) = start().await;
    ok(&b, &["topic", "create", "keyed", "-p", "4"]).await;
    let input: String = (0..200).map(|i| format!("key-{i}:v{i}\n")).collect();
    run(
        &b,
        &["produce", "keyed", "--key-separator", ":", "--idempotent"],
        &input,
    )
    .await
    .unwrap();
    let out = ok(&b, &["consume", "keyed", "--from-beginning", "--json"]).await;
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 200);
    for l in &lines {
        let key = l["key"].as_str().unwrap();
        let expected = (sluice_client::murmur2(key.as_bytes()) & 0x7fff_ffff) % 4;
        assert_eq!(l["partition"].as_i64().unwrap(), i64::from(expected), "{key}");
    }
    let out = ok(&b, &["consume", "keyed", "--partition", "1", "--from-beginning"]).await;
    assert_eq!(
        out.lines().count(),
        lines.iter().filter(|l| l["partition"] == 1).count()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_describes_the_broker() {
    let (server, b) = start().await;
    let out = ok(&b, &["cluster"]).await;
    let port = b.rsplit(':').next().unwrap();
    assert!(out.starts_with("Cluster ID: "), "{out}");
    assert!(out.contains("Controller: "), "{out}");
    assert!(out.contains(&format!("127.0.0.1:{port}")), "{out}");
    server.shutdown().await;
    // Nothing listens now: one sentence, non-zero.
    let err = run(&b, &["cluster"], "").await.unwrap_err();
    assert!(err.contains(&format!("cannot connect to {b}")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bench_reports_throughput_and_latency() {
    let (server, b) = start().await;
    for (mode, extra) in [
        (
            "produce",
            vec!["--records", "3000", "--producers", "2", "--record-size", "512"],
        ),
        ("consume", vec!["--records", "3000"]),
        (
            "e2e",
            vec!["--duration-s", "0.5", "--rate-mb-s", "1", "--record-size", "256"],
        ),
    ] {
        let mut args = vec!["bench", mode, "--partitions", "3", "--json", "--acks", "all"];
        args.extend(extra);
        let out = ok(&b, &args).await;
        let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out}: {e}"));
        assert_eq!(report["mode"], mode);
        let records = report["records"].as_u64().unwrap();
        if mode == "e2e" {
            assert!(records > 100, "{report}");
        } else {
            assert_eq!(records, 3000, "{report}");
        }
        assert!(report["mb_per_s"].as_f64().unwrap() > 0.0, "{report}");
        assert!(report["records_per_s"].as_f64().unwrap() > 0.0, "{report}");
        let l = &report["latency_us"];
        let (p50, p99, p999, max) = (
            l["p50"].as_u64().unwrap(),
            l["p99"].as_u64().unwrap(),
            l["p99_9"].as_u64().unwrap(),
            l["max"].as_u64().unwrap(),
        );
        assert!(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max, "{report}");
        assert!(max < 10_000_000, "{report}");
    }
    // Small batches and one request in flight: batches of a partition queue up behind each
    // other, and each request may carry only one per partition.
    let out = ok(
        &b,
        &[
            "bench",
            "produce",
            "--topic",
            "small",
            "--records",
            "2000",
            "--record-size",
            "300",
            "--batch-bytes",
            "700",
            "--max-in-flight",
            "1",
            "--json",
        ],
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["records"], 2000, "{report}");
    let out = ok(&b, &["bench", "consume", "--topic", "small", "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["records"], 2000, "{report}");

    // Text output.
    let out = ok(&b, &["bench", "produce", "--records", "100", "--partitions", "3"]).await;
    assert!(out.starts_with("produce: 100 records"), "{out}");
    assert!(out.contains("MB/s") && out.contains("p99.9"), "{out}");
    server.shutdown().await;
}

fn sluice_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

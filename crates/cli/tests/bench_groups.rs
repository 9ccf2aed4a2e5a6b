//! `sluice bench commit|rebalance|groups` against a real broker on an ephemeral port: each
//! reports what it did, and what it did is visible in the broker's group state.

use clap::Parser;
use sluice_broker::{Broker, BrokerSettings, ListenerSettings, Server};
use sluice_client::Connection;
use sluice_protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use sluice_protocol::generated::{ListGroupsRequest, OffsetFetchRequest, RequestBody, ResponseBody};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "sluice")]
struct Cli {
    #[command(subcommand)]
    command: sluice_cli::Command,
}

async fn start(dir: &std::path::Path) -> (Server, String) {
    let mut settings = BrokerSettings {
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
        offsets_topic_num_partitions: 3,
        ..Default::default()
    };
    settings.groups.initial_rebalance_delay_ms = 0;
    let broker = Broker::open(settings, dir).expect("broker opens");
    let server = Server::start(broker).await.expect("server starts");
    let address = server.address("PLAINTEXT").unwrap().to_string();
    (server, address)
}

/// Runs `sluice bench ARGS --json -b BOOTSTRAP` and returns its report.
async fn bench(bootstrap: &str, args: &[&str]) -> serde_json::Value {
    let mut argv = vec!["sluice", "bench"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--json", "-b", bootstrap, "--timeout-ms", "30000"]);
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let mut output = Vec::new();
    sluice_cli::execute(cli.command, &mut std::io::empty(), &mut output)
        .await
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let out = String::from_utf8(output).unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out}: {e}"))
}

fn latency_is_ordered(report: &serde_json::Value) {
    let l = &report["latency_us"];
    let (p50, p99, max) = (
        l["p50"].as_u64().unwrap(),
        l["p99"].as_u64().unwrap(),
        l["max"].as_u64().unwrap(),
    );
    assert!(p50 > 0 && p50 <= p99 && p99 <= max, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_benchmarks_do_what_they_report() {
    let dir = tempfile::tempdir().unwrap();
    let (server, b) = start(dir.path()).await;
    let conn = Connection::connect(&b, "test", Duration::from_secs(10)).await.unwrap();

    // commit: exactly the number asked for, and the last commits are stored.
    let report = bench(&b, &["commit", "--topic", "bt", "--records", "3000", "--clients", "3"]).await;
    assert_eq!(report["mode"], "commit");
    assert_eq!(report["records"], 3000, "{report}");
    latency_is_ordered(&report);
    let fetch = RequestBody::OffsetFetch(OffsetFetchRequest {
        group_id: "bt-commit-0".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: "bt".into(),
            partition_indexes: (0..6).collect(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let ResponseBody::OffsetFetch(r) = conn.send_version(fetch, 7).await.unwrap() else {
        panic!("an OffsetFetch response")
    };
    let offsets: Vec<i64> = r.topics[0].partitions.iter().map(|p| p.committed_offset).collect();
    assert!(
        offsets.iter().all(|o| *o > 0),
        "every partition got commits: {offsets:?}"
    );
    // Client 0 committed 1, 2, 3, ... round the six partitions: the last ones are consecutive.
    let (low, high) = (*offsets.iter().min().unwrap(), *offsets.iter().max().unwrap());
    assert_eq!(high - low, 5, "{offsets:?}");

    // rebalance: the rounds asked for, each ending with every member in one new generation.
    let report = bench(&b, &["rebalance", "--topic", "bt", "--members", "4", "--records", "4"]).await;
    assert_eq!(report["mode"], "rebalance");
    assert_eq!(report["records"], 4, "{report}");
    latency_is_ordered(&report);

    // groups: that many groups exist afterwards.
    let report = bench(&b, &["groups", "--topic", "bg", "--groups", "40", "--clients", "8"]).await;
    assert_eq!(report["mode"], "groups");
    assert_eq!(report["records"], 40, "{report}");
    latency_is_ordered(&report);
    let ResponseBody::ListGroups(r) = conn
        .send_version(RequestBody::ListGroups(ListGroupsRequest::default()), 4)
        .await
        .unwrap()
    else {
        panic!("a ListGroups response")
    };
    let made = r.groups.iter().filter(|g| g.group_id.starts_with("bg-groups-")).count();
    assert_eq!(made, 40);
    server.shutdown().await;
}

//! librdkafka (through the `rdkafka` crate, built with OpenSSL) against `sluice serve` on a
//! SASL_SSL listener: SCRAM-SHA-512 with a user made by `sluice format --add-scram`, TLS verified
//! against the test's own CA (host name included), an idempotent acks=all producer and a consumer
//! reading back what it wrote; a wrong password is refused with an authentication error.

mod common;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Broker {
    child: Child,
    addr: String,
    /// The broker's log lines so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Broker {
    let props = format!(
        "log.dirs={data}\n\
         listeners=SASL_SSL://127.0.0.1:0\n\
         listener.security.protocol.map=SASL_SSL:SASL_SSL\n\
         sasl.enabled.mechanisms=SCRAM-SHA-512\n\
         ssl.keystore.type=PEM\n\
         ssl.keystore.location={bundle}\n\
         num.partitions=1\n",
        data = dir.join("data").display(),
        bundle = dir.join("server.bundle.pem").display(),
    );
    let config = dir.join("server.properties");
    std::fs::write(&config, props).unwrap();
    let format = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["format", "-c"])
        .arg(&config)
        .args(["--add-scram", "SCRAM-SHA-512=[name=gateway,password=gateway-secret]"])
        .output()
        .expect("sluice format runs");
    assert!(format.status.success(), "{}", String::from_utf8_lossy(&format.stderr));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "-c"])
        .arg(&config)
        .env("SLUICE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice starts");
    let (addr, stderr) = common::until_ready(&mut child, Duration::from_secs(30));
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Broker { child, addr, log }
}

fn client(addr: &str, ca: &str, password: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr)
        .set("broker.address.family", "v4")
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", "gateway")
        .set("sasl.password", password)
        .set("ssl.ca.location", ca)
        .set("socket.timeout.ms", "10000");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_over_tls_with_librdkafka() {
    let dir = tempfile::tempdir().unwrap();
    common::make_certs(dir.path());
    let ca = dir.path().join("ca.pem").display().to_string();
    let broker = start(dir.path());

    let producer: FutureProducer = client(&broker.addr, &ca, "gateway-secret")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "snappy")
        .create()
        .expect("producer");
    for i in 0..10 {
        let key = format!("k{i}");
        let value = format!("secured-{i}");
        producer
            .send(
                FutureRecord::to("gateway-events").key(&key).payload(&value),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("record {i} not delivered: {e}"));
    }

    // librdkafka wants a group id even for a manual assignment; nothing is committed to it.
    let consumer: BaseConsumer = client(&broker.addr, &ca, "gateway-secret")
        .set("group.id", "rdkafka-security")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("gateway-events", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while values.len() < 10 && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            let m = m.expect("a record, not an error");
            values.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        }
    }
    let want: Vec<String> = (0..10).map(|i| format!("secured-{i}")).collect();
    assert_eq!(values, want);

    // A wrong password: the broker refuses the SCRAM exchange, so metadata never arrives.
    let refused: BaseConsumer = client(&broker.addr, &ca, "not-the-password")
        .set("socket.timeout.ms", "3000")
        .create()
        .expect("consumer");
    let err = refused
        .fetch_metadata(None, Duration::from_secs(5))
        .expect_err("a wrong password must not get metadata");
    assert!(
        matches!(err, KafkaError::MetadataFetch(_)),
        "expected a failed metadata fetch, got {err:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = broker.log.lock().unwrap().join("\n");
    assert!(
        log.contains("SASL authentication failed"),
        "the broker refused the exchange:\n{log}"
    );
    assert!(
        !log.contains("not-the-password") && !log.contains("gateway-secret"),
        "no password in the log"
    );
    drop(broker);
}

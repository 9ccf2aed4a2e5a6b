//! Hostile input against the real `sluice serve` process: a thousand idle connections, stalled
//! frames, seeded-random and mutated frames, a 2 GiB length prefix and 8-byte huge-count bodies
//! for every served API and version. The broker must stay up, its peak resident memory must stay
//! within what its configured limits allow, and a real produce + fetch must work afterwards.
//! Also the memory targets: at most 30 MiB resident at idle, 200 MiB with 1,000
//! partitions holding data.

mod common;

use bytes::Bytes;
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::create_topics_request::CreatableTopic;
use sluice_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::generated::metadata_request::MetadataRequestTopic;
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::{
    ApiVersionsRequest, CreateTopicsRequest, FetchRequest, MetadataRequest, ProduceRequest, RequestBody, RequestHeader,
    ResponseBody,
};
use sluice_protocol::records::{BatchBuilder, NewRecord, batches};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `socket.request.max.bytes` for the broker under test: the largest frame it reads.
const REQUEST_BYTES_MAX: usize = 1 << 20;
/// `queued.max.request.bytes`: all request bytes the broker holds at once, whatever the clients do.
const QUEUED_BYTES_MAX: usize = 16 << 20;
/// `connections.max.idle.ms`: how long a stalled or idle connection is kept.
const IDLE_MS: u64 = 8_000;
/// Idle connections held open at once.
const IDLE_CONNECTIONS: usize = 1_000;
/// Connections that send all of a full-size frame but its last byte, then stall. Together they
/// hold three quarters of the request-bytes budget: more would leave nothing for the client
/// this test serves meanwhile (an exhausted budget makes everyone wait for the idle timeout,
/// as in Kafka with `queued.max.request.bytes` set).
const STALLED_CONNECTIONS: usize = 12;
/// Connections carrying random frames, and frames on each.
const RANDOM_CONNECTIONS: usize = 300;
const RANDOM_FRAMES_PER_CONNECTION_MAX: u64 = 15;
/// Memory the broker may add above its idle baseline, in KiB: the request-bytes budget (every
/// stalled or in-flight frame comes out of it), plus 16 KiB per open connection (two tasks, a
/// channel, socket bookkeeping; measured at about 5 KiB), plus 16 MiB for allocator slack,
/// responses and the topic this test creates.
const RSS_GROWTH_KIB_MAX: u64 = (QUEUED_BYTES_MAX as u64 + (IDLE_CONNECTIONS as u64) * 16 * 1024 + (16 << 20)) / 1024;

use common::KillOnDrop as Broker;

impl Broker {
    fn assert_alive(&mut self, when: &str) {
        assert!(self.0.try_wait().unwrap().is_none(), "broker died {when}");
    }
}

/// Lets this process (and the broker it starts, which inherits it) hold the connections.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let wanted = (4 * IDLE_CONNECTIONS) as libc::rlim_t;
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur as usize > 2 * IDLE_CONNECTIONS + 100,
        "the hard open-files limit {} is too low for this test",
        limit.rlim_max
    );
}

fn start(data: &std::path::Path) -> (Broker, String) {
    start_with(data, &[])
}

/// Starts the broker with the test's limits and `overrides` (`key=value`) on top.
fn start_with(data: &std::path::Path, overrides: &[String]) -> (Broker, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "-o", "listeners=PLAINTEXT://127.0.0.1:0"])
        .args(overrides.iter().flat_map(|o| ["-o", o.as_str()]))
        .arg("-o")
        .arg(format!("log.dirs={}", data.display()))
        .arg("-o")
        .arg(format!("socket.request.max.bytes={REQUEST_BYTES_MAX}"))
        .arg("-o")
        .arg(format!("queued.max.request.bytes={QUEUED_BYTES_MAX}"))
        .arg("-o")
        .arg(format!("connections.max.idle.ms={IDLE_MS}"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice starts");
    let addr = common::ready_address(&mut child, Duration::from_secs(30));
    (Broker(child), addr)
}

/// SplitMix64: a deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn header(key: i16, version: i16, correlation_id: i32) -> RequestHeader {
    RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id,
        client_id: Some("hostile".into()),
        ..Default::default()
    }
}

/// An ApiVersions v3 request, the probe that proves a connection is still served.
fn api_versions_frame(correlation_id: i32) -> Vec<u8> {
    let body = RequestBody::ApiVersions(ApiVersionsRequest {
        client_software_name: "hostile".into(),
        client_software_version: "1".into(),
        ..Default::default()
    });
    encode_request(&header(18, 3, correlation_id), &body).unwrap().to_vec()
}

/// Reads one response frame; `None` when the broker closed the connection.
fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    match s.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => return None,
        Err(e) => panic!("reading a response: {e} (the broker neither answered nor closed)"),
    }
    let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
    match s.read_exact(&mut frame) {
        Ok(()) => Some(Bytes::from(frame)),
        Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => None,
        Err(e) => panic!("reading a response: {e}"),
    }
}

fn correlation_id(frame: &Bytes) -> i32 {
    i32::from_be_bytes(frame[..4].try_into().unwrap())
}

/// Sends `frames` then an ApiVersions probe, and reads until the probe is answered or the broker
/// closes the connection. Either is a correct reaction to junk; hanging or dying is not.
/// Returns how many of `frames` were answered and whether the probe was.
fn send_then_probe(addr: &str, frames: &[Vec<u8>]) -> (usize, bool) {
    const PROBE_CORRELATION_ID: i32 = i32::MAX;
    let mut s = connect(addr);
    // A write can fail once the broker has closed on an earlier frame; the reads below see that.
    let _ = frames.iter().try_for_each(|f| s.write_all(f));
    let _ = s.write_all(&api_versions_frame(PROBE_CORRELATION_ID));
    let mut answered = 0;
    while let Some(frame) = read_frame(&mut s) {
        if correlation_id(&frame) == PROBE_CORRELATION_ID {
            return (answered, true);
        }
        answered += 1;
    }
    (answered, false)
}

/// A frame with a valid-looking header for `key`/`version` followed by `body`.
fn raw_frame(key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let flexible_header = sluice_protocol::api(key).is_some_and(|a| a.is_flexible(version));
    let mut f = Vec::with_capacity(32 + body.len());
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&key.to_be_bytes());
    f.extend_from_slice(&version.to_be_bytes());
    f.extend_from_slice(&correlation_id.to_be_bytes());
    f.extend_from_slice(&7i16.to_be_bytes());
    f.extend_from_slice(b"hostile");
    if flexible_header {
        f.push(0); // no tagged fields
    }
    f.extend_from_slice(body);
    let size = (f.len() - 4) as i32;
    f[..4].copy_from_slice(&size.to_be_bytes());
    f
}

/// Real requests to mutate: they get past the header, so flipped bytes reach the body decoders.
fn valid_requests() -> Vec<Vec<u8>> {
    let mut b = BatchBuilder::new(0);
    b.append(&NewRecord::new(now_ms(), None, Some(Bytes::from_static(b"v"))))
        .unwrap();
    let produce = RequestBody::Produce(ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "nope".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(b.build().unwrap().into_bytes()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let fetch = RequestBody::Fetch(FetchRequest {
        max_wait_ms: 100,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "nope".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let metadata = |v| {
        (
            3,
            v,
            RequestBody::Metadata(MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some("nope".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        )
    };
    [
        (0, 9, produce.clone()),
        (0, 3, produce),
        (1, 12, fetch.clone()),
        (1, 4, fetch),
        metadata(12),
        metadata(4),
    ]
    .into_iter()
    .map(|(key, version, body)| encode_request(&header(key, version, 1), &body).unwrap().to_vec())
    .collect()
}

/// Every (key, min, max) the broker advertises.
fn served(addr: &str) -> Vec<(i16, i16, i16)> {
    let mut s = connect(addr);
    s.write_all(&api_versions_frame(1)).unwrap();
    let frame = read_frame(&mut s).unwrap();
    let (_, body) = decode_response(frame, 18, 3).unwrap();
    let ResponseBody::ApiVersions(r) = body else { panic!() };
    assert_eq!(r.error_code, 0);
    r.api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

fn call(s: &mut TcpStream, key: i16, version: i16, body: RequestBody) -> ResponseBody {
    s.write_all(&encode_request(&header(key, version, 5), &body).unwrap())
        .unwrap();
    let frame = read_frame(s).expect("answered");
    decode_response(frame, key, version).unwrap().1
}

/// Creates a topic, produces with acks=all and fetches the records back.
fn produce_and_fetch(addr: &str) {
    let mut s = connect(addr);
    let create = RequestBody::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "after".into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 5000,
        ..Default::default()
    });
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 7, create) else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
    let mut b = BatchBuilder::new(0);
    for i in 0..10 {
        b.append(&NewRecord::new(now_ms(), None, Some(Bytes::from(format!("value-{i}")))))
            .unwrap();
    }
    let produce = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: "after".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(b.build().unwrap().into_bytes()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::Produce(r) = call(&mut s, 0, 9, produce) else {
        panic!()
    };
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let fetch = RequestBody::Fetch(FetchRequest {
        max_wait_ms: 0,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "after".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::Fetch(r) = call(&mut s, 1, 12, fetch) else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 10));
    let mut values = Vec::new();
    for batch in batches(p.records.clone().unwrap()) {
        for record in batch.unwrap().records(1 << 20).unwrap() {
            values.push(record.unwrap().value.unwrap());
        }
    }
    let expected: Vec<Bytes> = (0..10).map(|i| Bytes::from(format!("value-{i}"))).collect();
    assert_eq!(values, expected);
}

#[test]
fn hostile_clients_leave_the_broker_up_with_bounded_memory() {
    raise_open_files_limit();
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, addr) = start(dir.path());
    let apis = served(&addr);
    std::thread::sleep(Duration::from_millis(300));
    let baseline_kib = broker.status_kib("VmRSS");
    let mut rng = Rng(0x5_eed0_f510_01ce);

    // Headers that promise a full-size frame, part of the body, then silence. They hold budget
    // until connections.max.idle.ms closes them; a well-behaved client is served meanwhile.
    let stall_started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..STALLED_CONNECTIONS)
        .map(|_| {
            let mut s = connect(&addr);
            let f = raw_frame(18, 3, 1, &rng.bytes(REQUEST_BYTES_MAX - 18));
            assert_eq!(f.len(), REQUEST_BYTES_MAX + 4);
            s.write_all(&f[..f.len() - 1]).unwrap();
            s
        })
        .collect();
    assert!(send_then_probe(&addr, &[]).1, "a client is served while others stall");

    // A thousand idle connections, each answered once so the broker has really taken it on.
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for i in 0..IDLE_CONNECTIONS {
        let mut s = connect(&addr);
        s.write_all(&api_versions_frame(i as i32)).unwrap();
        let frame = read_frame(&mut s).unwrap_or_else(|| panic!("idle connection {i} refused"));
        assert_eq!(correlation_id(&frame), i as i32);
        idle.push(s);
    }
    let idle_kib = broker.status_kib("VmRSS");
    broker.assert_alive("holding idle connections");
    eprintln!(
        "RSS baseline {baseline_kib} KiB; with {IDLE_CONNECTIONS} idle and {STALLED_CONNECTIONS} stalled connections {idle_kib} KiB"
    );

    // Seeded-random frames: random api keys (served or not), versions, lengths and bodies,
    // and real requests with random bytes flipped. Each connection ends with a probe.
    let valid = valid_requests();
    let (mut frames_sent, mut frames_answered, mut probes_answered) = (0, 0, 0);
    for c in 0..RANDOM_CONNECTIONS {
        let frames: Vec<Vec<u8>> = (0..1 + rng.below(RANDOM_FRAMES_PER_CONNECTION_MAX))
            .map(|i| match rng.below(3) {
                0 => {
                    let (key, min, max) = apis[rng.below(apis.len() as u64) as usize];
                    let version = min + rng.below((max - min + 1) as u64) as i16;
                    let len = rng.below(300) as usize;
                    raw_frame(key, version, i as i32, &rng.bytes(len))
                }
                1 => {
                    let mut f = valid[rng.below(valid.len() as u64) as usize].clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = 4 + rng.below((f.len() - 4) as u64) as usize;
                        f[at] = rng.next() as u8;
                    }
                    f
                }
                _ => {
                    let key = rng.below(80) as i16;
                    let version = rng.below(20) as i16;
                    let len = rng.below(64) as usize;
                    raw_frame(key, version, i as i32, &rng.bytes(len))
                }
            })
            .collect();
        let (answered, probe) = send_then_probe(&addr, &frames);
        frames_sent += frames.len();
        frames_answered += answered;
        probes_answered += usize::from(probe);
        if c % 50 == 0 {
            broker.assert_alive("during random frames");
        }
    }
    eprintln!(
        "random frames: {frames_answered} of {frames_sent} answered; {probes_answered} of {RANDOM_CONNECTIONS} connections still served after them"
    );
    // Some junk must get past the header to the handlers, or this phase tested only the framing.
    assert!(frames_answered > 0 && probes_answered > 0);

    // An 8-byte body of huge counts, in both the classic and the compact encoding, for every
    // served API and version: the broker must answer or close, never allocate for the count.
    for &(key, min, max) in &apis {
        for version in min..=max {
            let classic = [0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff];
            let compact = [0xff, 0xff, 0xff, 0xff, 0x07, 0xff, 0xff, 0x7f];
            let frames = [
                raw_frame(key, version, 1, &classic),
                raw_frame(key, version, 2, &compact),
            ];
            send_then_probe(&addr, &frames[..1]);
            send_then_probe(&addr, &frames[1..]);
        }
    }
    broker.assert_alive("after huge counts");

    // A 2 GiB length prefix (and the largest negative one) is refused without allocating.
    for size in [i32::MAX, i32::MIN, (REQUEST_BYTES_MAX + 1) as i32] {
        let mut s = connect(&addr);
        s.write_all(&size.to_be_bytes()).unwrap();
        let _ = s.write_all(&rng.bytes(4096));
        assert!(read_frame(&mut s).is_none(), "a {size}-byte frame is refused");
    }

    // The stalled connections are closed once idle for connections.max.idle.ms (not before:
    // a slow client is not a dead one), well within the sockets' 30 s read timeout.
    for s in &mut stalled {
        assert!(read_frame(s).is_none(), "a stalled connection is closed");
    }
    let stall_closed = stall_started.elapsed();
    assert!(
        stall_closed >= Duration::from_millis(IDLE_MS),
        "stalled connections closed after {stall_closed:?}"
    );
    drop(idle);

    broker.assert_alive("after hostile input");
    produce_and_fetch(&addr);
    let peak_kib = broker.status_kib("VmHWM");
    eprintln!("RSS peak {peak_kib} KiB (bound: baseline + {RSS_GROWTH_KIB_MAX} KiB)");
    assert!(
        peak_kib <= baseline_kib + RSS_GROWTH_KIB_MAX,
        "peak RSS {peak_kib} KiB exceeds baseline {baseline_kib} KiB + {RSS_GROWTH_KIB_MAX} KiB"
    );
}

/// The targets for resident memory, in KiB.
/// `queued.max.response.bytes` for the test of clients that never read their fetches.
const RESPONSE_BYTES_MAX: usize = 32 << 20;
/// Record bytes in the partition those clients fetch (about 96 MiB).
const FETCHED_BATCHES: usize = 96;
/// Clients that send fetches and read nothing, and the fetches each sends.
const NON_READERS: usize = 20;
const FETCHES_PER_NON_READER: usize = 5;

/// A fetch of partition 0 of `topic` from `offset`, asking for up to 50 MiB.
fn big_fetch(topic: &str, offset: i64, max_wait_ms: i32) -> RequestBody {
    RequestBody::Fetch(FetchRequest {
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 50 << 20,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 50 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Clients that send large fetches and never read the responses hold at most the response
/// budget: before the budget, twenty of them took the broker from 7 MiB to 2.8 GB. A client
/// that reads is still answered meanwhile; the broker closes the non-readers after
/// connections.max.idle.ms, and the reading client gets records again.
#[test]
fn fetchers_that_never_read_hold_at_most_the_response_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, addr) = start_with(dir.path(), &[format!("queued.max.response.bytes={RESPONSE_BYTES_MAX}")]);
    let mut s = connect(&addr);
    let create = RequestBody::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "wide".into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 5000,
        ..Default::default()
    });
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 7, create) else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
    // One batch of 1,000 records of 1,000 bytes (under the 1 MiB frame limit), sent again and
    // again: the broker stores each copy at the next offsets.
    let mut b = BatchBuilder::new(0);
    for i in 0..1000 {
        b.append(&NewRecord::new(now_ms(), None, Some(Bytes::from(vec![i as u8; 1000]))))
            .unwrap();
    }
    let batch = b.build().unwrap().into_bytes();
    for _ in 0..FETCHED_BATCHES {
        let produce = RequestBody::Produce(ProduceRequest {
            acks: 1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: "wide".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.clone()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let ResponseBody::Produce(r) = call(&mut s, 0, 9, produce) else {
            panic!()
        };
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    std::thread::sleep(Duration::from_millis(300));
    let baseline_kib = broker.status_kib("VmRSS");

    // Each asks for the rest of the partition from a different place, five times over.
    let non_readers: Vec<TcpStream> = (0..NON_READERS)
        .map(|i| {
            let mut c = connect(&addr);
            for j in 0..FETCHES_PER_NON_READER {
                let offset = ((i * FETCHES_PER_NON_READER + j) % 10 * 1000) as i64;
                let frame = encode_request(&header(1, 12, j as i32), &big_fetch("wide", offset, 0)).unwrap();
                c.write_all(&frame).unwrap();
            }
            c
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    broker.assert_alive("with clients that do not read");

    // A client that reads is answered (with records or, while the budget is taken, without).
    let asked = Instant::now();
    let ResponseBody::Fetch(r) = call(&mut s, 1, 12, big_fetch("wide", 0, 1000)) else {
        panic!()
    };
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "answered in {:?}",
        asked.elapsed()
    );

    let peak_kib = broker.status_kib("VmHWM");
    // The budget, as much again for read buffers larger than the records they hold, the read
    // buffer pool (32 MiB) and 32 MiB of slack for everything else.
    let bound_kib = baseline_kib + (2 * RESPONSE_BYTES_MAX as u64 + (64 << 20)) / 1024;
    eprintln!("RSS baseline {baseline_kib} KiB, peak {peak_kib} KiB, bound {bound_kib} KiB");
    assert!(peak_kib <= bound_kib, "peak RSS {peak_kib} KiB exceeds {bound_kib} KiB");

    // They stay connected but take nothing for connections.max.idle.ms: the broker closes them,
    // their share comes back and the reading client gets records again.
    let deadline = Instant::now() + Duration::from_millis(4 * IDLE_MS);
    loop {
        let ResponseBody::Fetch(r) = call(&mut s, 1, 12, big_fetch("wide", 0, 500)) else {
            panic!()
        };
        let records = r.responses[0].partitions[0].records.clone().unwrap_or_default();
        if !records.is_empty() {
            let first = batches(records).next().unwrap().unwrap();
            assert_eq!(first.header().base_offset, 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no records while the non-readers hold the budget"
        );
    }
    let mut closed = 0;
    for mut c in non_readers {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = vec![0u8; 1 << 20];
        // What the kernel had buffered still arrives; then the end of the stream.
        loop {
            match c.read(&mut sink) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset) => {
                    closed += 1;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    assert_eq!(
        closed, NON_READERS,
        "the broker closed every connection that read nothing"
    );
    broker.assert_alive("after the clients that did not read left");
}

const IDLE_RSS_KIB_MAX: u64 = 30 * 1024;
const THOUSAND_PARTITIONS_RSS_KIB_MAX: u64 = 200 * 1024;

#[test]
fn resident_memory_meets_the_targets_at_idle_and_with_1000_partitions() {
    const TOPICS: usize = 100;
    const PARTITIONS: i32 = 10;
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, addr) = start(dir.path());
    assert!(send_then_probe(&addr, &[]).1);
    std::thread::sleep(Duration::from_millis(300));
    let idle_kib = broker.status_kib("VmRSS");
    assert!(idle_kib <= IDLE_RSS_KIB_MAX, "idle RSS {idle_kib} KiB");

    let mut s = connect(&addr);
    let names: Vec<String> = (0..TOPICS).map(|t| format!("many-{t}")).collect();
    let create = RequestBody::CreateTopics(CreateTopicsRequest {
        topics: names
            .iter()
            .map(|name| CreatableTopic {
                name: name.as_str().into(),
                num_partitions: PARTITIONS,
                replication_factor: 1,
                ..Default::default()
            })
            .collect(),
        timeout_ms: 30_000,
        ..Default::default()
    });
    let ResponseBody::CreateTopics(r) = call(&mut s, 19, 7, create) else {
        panic!()
    };
    assert!(r.topics.iter().all(|t| t.error_code == 0));
    // One record in every partition, so every partition log is open with a segment on disk.
    let mut b = BatchBuilder::new(0);
    b.append(&NewRecord::new(now_ms(), None, Some(Bytes::from(vec![b'x'; 100]))))
        .unwrap();
    let records = b.build().unwrap().into_bytes();
    for chunk in names.chunks(10) {
        let produce = RequestBody::Produce(ProduceRequest {
            acks: 1,
            timeout_ms: 10_000,
            topic_data: chunk
                .iter()
                .map(|name| TopicProduceData {
                    name: name.as_str().into(),
                    partition_data: (0..PARTITIONS)
                        .map(|index| PartitionProduceData {
                            index,
                            records: Some(records.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
        let ResponseBody::Produce(r) = call(&mut s, 0, 9, produce) else {
            panic!()
        };
        let errors: Vec<i16> = r
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
            .collect();
        assert_eq!(errors, vec![0; chunk.len() * PARTITIONS as usize]);
    }
    let opened = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("many-"))
        .count();
    assert_eq!(opened, TOPICS * PARTITIONS as usize);
    std::thread::sleep(Duration::from_millis(300));
    let loaded_kib = broker.status_kib("VmRSS");
    eprintln!("RSS idle {idle_kib} KiB; with {opened} partitions {loaded_kib} KiB");
    assert!(
        loaded_kib <= THOUSAND_PARTITIONS_RSS_KIB_MAX,
        "RSS with 1,000 partitions {loaded_kib} KiB"
    );
    broker.assert_alive("with 1,000 partitions");
}

/// The current time: Kafka (and Sluice) refuse CreateTime more than an hour ahead of the broker's
/// clock (`message.timestamp.after.max.ms`), so records carry the real time.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

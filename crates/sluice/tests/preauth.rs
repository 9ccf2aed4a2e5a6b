//! What a client can make the real `sluice serve` do before it has sent one valid request, or
//! before it has authenticated:
//!
//! - 2,000 connections that announce a frame as large as the whole `queued.max.request.bytes`
//!   and send nothing more hold none of that budget (it is taken as bytes arrive), so other
//!   clients are answered within a second and resident memory stays bounded. Reserving at the
//!   announcement, the first of them would have frozen every other client.
//! - A request header of five million empty tagged fields (Kafka's CVE-2026-111115 class) closes
//!   its connection without the memory it used to cost, and others are served meanwhile.
//! - On a SASL_PLAINTEXT listener, before authentication: a frame over
//!   `sasl.server.max.receive.size` closes the connection, as does any request but ApiVersions
//!   and the SASL ones; ApiVersions is answered; a wrong PLAIN password is answered with
//!   SASL_AUTHENTICATION_FAILED only after `connection.failed.authentication.delay.ms`, then the
//!   connection is closed; the right password opens the rest of the protocol.
//!
//! The tests run one at a time (see [`SERIAL`]): they time responses and read the broker's
//! resident memory, and two brokers under load on a small machine would blur both.

mod common;

use bytes::Bytes;
use sluice_protocol::codec::{put_tag_header, put_uvarint};
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use sluice_protocol::generated::{
    ApiVersionsRequest, MetadataRequest, ProduceRequest, RequestBody, RequestHeader, ResponseBody,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use sluice_protocol::records::{BatchBuilder, NewRecord};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Held by each test for its whole run.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `queued.max.request.bytes` for these tests: small, so that one client holding it all would
/// show at once.
const QUEUED_BYTES_MAX: usize = 16 << 20;
/// Connections that announce a frame and stall.
const STALLED_CONNECTIONS: usize = 2_000;
/// How long a well-behaved client may wait for an answer while others stall.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// Resident memory the broker may add above its idle baseline while 2,000 connections stall, in
/// KiB: each costs two tasks, a channel and a first read buffer of 4 KiB (about 10 KiB in all,
/// 20 MiB for 2,000), and the rest is slack for the allocator, the probes and one 512 KiB
/// produce. Holding every announced frame (or even the 16 MiB budget several times over) would
/// not fit.
const STALL_RSS_GROWTH_KIB_MAX: u64 = 64 << 10;
/// Empty tagged fields in the hostile header: 10 MB of them (two bytes each), within the frame
/// and budget limits so that the broker reads the whole frame and the decoder must refuse it.
const HOSTILE_TAGGED_FIELDS: u32 = 5_000_000;
/// Resident memory the broker may add while it reads and refuses that header, in KiB: the frame
/// itself in a read buffer that at most doubles as it grows (20 MiB), plus slack. Kept as one
/// 40-byte object per field, as before the cap, the fields alone took 200 MB.
const HOSTILE_RSS_GROWTH_KIB_MAX: u64 = 64 << 10;
/// `connection.failed.authentication.delay.ms` for the SASL test.
const FAILED_AUTH_DELAY: Duration = Duration::from_millis(500);
/// Kafka's default `sasl.server.max.receive.size`.
const SASL_RECEIVE_BYTES_MAX: usize = 524_288;
/// SASL_AUTHENTICATION_FAILED.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

use common::KillOnDrop as Broker;

impl Broker {
    /// File descriptors the broker has open (its sockets among them).
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.0.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn assert_alive(&mut self, when: &str) {
        assert!(self.0.try_wait().unwrap().is_none(), "broker died {when}");
    }

    /// Its idle resident memory, once start-up has settled.
    fn baseline_kib(&self, addr: &str) -> u64 {
        round_trip(addr);
        std::thread::sleep(Duration::from_millis(300));
        self.status_kib("VmRSS")
    }
}

/// Starts `sluice serve` on a fresh directory with `overrides` (`key=value`); the listener
/// binds port 0 and the test reads the address from the ready line.
fn start(data: &std::path::Path, overrides: &[&str]) -> (Broker, String) {
    let has_listeners = overrides.iter().any(|o| o.starts_with("listeners="));
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.arg("serve");
    if !has_listeners {
        command.args(["-o", "listeners=PLAINTEXT://127.0.0.1:0"]);
    }
    let mut child = command
        .args(overrides.iter().flat_map(|o| ["-o", o]))
        .arg("-o")
        .arg(format!("log.dirs={}", data.display()))
        .arg("-o")
        .arg(format!("queued.max.request.bytes={QUEUED_BYTES_MAX}"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice starts");
    let addr = common::ready_address(&mut child, Duration::from_secs(30));
    (Broker(child), addr)
}

/// Lets this process (and the broker it starts, which inherits the limit) hold the connections.
fn raise_open_files_limit(wanted: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if (limit.rlim_cur as usize) < wanted {
            limit.rlim_cur = (wanted as libc::rlim_t).min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur as usize >= wanted,
        "the hard open-files limit {} is too low for this test",
        limit.rlim_max
    );
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn header(key: i16, version: i16, correlation_id: i32) -> RequestHeader {
    RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id,
        client_id: Some("preauth".into()),
        ..Default::default()
    }
}

fn frame(key: i16, version: i16, correlation_id: i32, body: RequestBody) -> Vec<u8> {
    encode_request(&header(key, version, correlation_id), &body)
        .unwrap()
        .to_vec()
}

fn api_versions() -> RequestBody {
    RequestBody::ApiVersions(ApiVersionsRequest {
        client_software_name: "preauth".into(),
        client_software_version: "1".into(),
        ..Default::default()
    })
}

fn metadata_all_topics() -> RequestBody {
    RequestBody::Metadata(MetadataRequest {
        topics: None,
        ..Default::default()
    })
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

/// Sends a request and decodes its response, which must come.
fn call(s: &mut TcpStream, key: i16, version: i16, correlation_id: i32, body: RequestBody) -> ResponseBody {
    s.write_all(&frame(key, version, correlation_id, body)).unwrap();
    let response = read_frame(s).unwrap_or_else(|| panic!("API {key} v{version} was answered"));
    let (h, body) = decode_response(response, key, version).unwrap();
    assert_eq!(h.correlation_id, correlation_id);
    body
}

/// A new client's ApiVersions v3 and Metadata v12 round trip; returns how long it took.
fn round_trip(addr: &str) -> Duration {
    let started = Instant::now();
    let mut s = connect(addr);
    let ResponseBody::ApiVersions(v) = call(&mut s, 18, 3, 1, api_versions()) else {
        panic!()
    };
    assert_eq!(v.error_code, 0);
    let ResponseBody::Metadata(m) = call(&mut s, 3, 12, 2, metadata_all_topics()) else {
        panic!()
    };
    assert_eq!(m.brokers.len(), 1, "the broker describes itself");
    started.elapsed()
}

/// Whether the broker closes `s` within `wait` (false: still open and silent); a panic if it
/// sends something, since these connections sent no complete request.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the broker sent bytes on a connection that sent no request"),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset) => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("{e}"),
    }
}

/// A Produce v9 of one batch of about `bytes` bytes to a topic that does not exist: a frame of
/// that size that the broker must read and answer.
fn produce_of(bytes: usize) -> RequestBody {
    let mut b = BatchBuilder::new(0);
    b.append(&NewRecord::new(0, None, Some(Bytes::from(vec![7u8; bytes]))))
        .unwrap();
    RequestBody::Produce(ProduceRequest {
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
    })
}

#[test]
fn stalled_frame_announcements_hold_no_budget_and_freeze_no_one() {
    let _serial = serial();
    raise_open_files_limit(2 * STALLED_CONNECTIONS + 256);
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, addr) = start(dir.path(), &[]);
    let baseline_kib = broker.baseline_kib(&addr);
    let fds_before = broker.open_fds();

    // Each announces a frame as large as the whole request budget (the largest it may send),
    // then nothing. Taken at the announcement, the first would hold the budget and every
    // later frame, from any client, would wait for it.
    let announced = (QUEUED_BYTES_MAX as i32).to_be_bytes();
    let mut stalled: Vec<TcpStream> = (0..STALLED_CONNECTIONS)
        .map(|_| {
            let mut s = connect(&addr);
            s.write_all(&announced).unwrap();
            s
        })
        .collect();
    // Wait until the broker holds every one of them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while broker.open_fds() < fds_before + STALLED_CONNECTIONS {
        assert!(
            Instant::now() < deadline,
            "the broker took only {} of {STALLED_CONNECTIONS} connections",
            broker.open_fds() - fds_before
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    broker.assert_alive("holding stalled connections");

    // New clients are answered promptly, a frame of real bytes included.
    for i in 0..5 {
        let took = round_trip(&addr);
        eprintln!("round trip {i} with {STALLED_CONNECTIONS} stalled connections: {took:?}");
        assert!(took < ANSWER_WITHIN, "a new client waited {took:?}");
    }
    let asked = Instant::now();
    let mut s = connect(&addr);
    let ResponseBody::Produce(p) = call(&mut s, 0, 9, 3, produce_of(512 << 10)) else {
        panic!()
    };
    assert_eq!(p.responses.len(), 1);
    assert!(
        asked.elapsed() < ANSWER_WITHIN,
        "a 512 KiB produce waited {:?}",
        asked.elapsed()
    );

    // The stalled connections are still open: a slow client is not a dead one.
    for s in stalled.iter_mut().step_by(100) {
        assert!(
            !closed_within(s, Duration::from_millis(10)),
            "a stalled connection was closed"
        );
    }
    // A frame announced larger than the budget could never be read: refused at once.
    let mut too_large = connect(&addr);
    too_large.write_all(&(100i32 << 20).to_be_bytes()).unwrap();
    assert!(
        closed_within(&mut too_large, Duration::from_secs(5)),
        "a 100 MiB frame is refused"
    );

    let now_kib = broker.status_kib("VmRSS");
    let peak_kib = broker.status_kib("VmHWM");
    eprintln!(
        "RSS baseline {baseline_kib} KiB; with {STALLED_CONNECTIONS} stalled connections {now_kib} KiB, peak {peak_kib} KiB (bound: baseline + {STALL_RSS_GROWTH_KIB_MAX} KiB)"
    );
    assert!(
        peak_kib <= baseline_kib + STALL_RSS_GROWTH_KIB_MAX,
        "peak RSS {peak_kib} KiB exceeds baseline {baseline_kib} KiB + {STALL_RSS_GROWTH_KIB_MAX} KiB"
    );
    drop(stalled);
    broker.assert_alive("after the stalled connections left");
}

/// A Metadata v12 request whose header (v2) carries `fields` empty tagged fields.
fn header_with_tagged_fields(key: i16, version: i16, fields: u32) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    let mut h = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut h, key);
    bytes::BufMut::put_i16(&mut h, version);
    bytes::BufMut::put_i32(&mut h, 9);
    bytes::BufMut::put_i16(&mut h, -1); // null client id
    put_uvarint(&mut h, fields);
    for _ in 0..fields {
        put_tag_header(&mut h, 0, 0);
    }
    // The smallest body of either request: empty arrays, no tagged fields.
    h.extend_from_slice(&[1, 1, 0, 0, 0]);
    bytes::BufMut::put_i32(&mut buf, h.len() as i32);
    buf.extend_from_slice(&h);
    buf.to_vec()
}

#[test]
fn a_header_of_five_million_tagged_fields_closes_its_connection_cheaply() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, addr) = start(dir.path(), &[]);
    let baseline_kib = broker.baseline_kib(&addr);

    let hostile = header_with_tagged_fields(3, 12, HOSTILE_TAGGED_FIELDS);
    assert!(hostile.len() > 10_000_000 && hostile.len() < QUEUED_BYTES_MAX);
    let started = Instant::now();
    let mut s = connect(&addr);
    // The broker reads the whole frame before it decodes it; a write may fail only if it
    // closed first, which the read below reports.
    let writer = {
        let mut s = s.try_clone().unwrap();
        let hostile = hostile.clone();
        std::thread::spawn(move || s.write_all(&hostile))
    };
    // Another client is served while the frame arrives and is refused.
    let took = round_trip(&addr);
    assert!(
        took < ANSWER_WITHIN,
        "a client waited {took:?} beside the hostile header"
    );
    assert!(read_frame(&mut s).is_none(), "the hostile header was answered");
    let closed_after = started.elapsed();
    let _ = writer.join();
    broker.assert_alive("after the hostile header");
    let took = round_trip(&addr);
    assert!(
        took < ANSWER_WITHIN,
        "a client waited {took:?} after the hostile header"
    );

    let peak_kib = broker.status_kib("VmHWM");
    eprintln!(
        "hostile header of {} bytes closed after {closed_after:?}; RSS baseline {baseline_kib} KiB, peak {peak_kib} KiB (bound: baseline + {HOSTILE_RSS_GROWTH_KIB_MAX} KiB)",
        hostile.len()
    );
    assert!(
        peak_kib <= baseline_kib + HOSTILE_RSS_GROWTH_KIB_MAX,
        "peak RSS {peak_kib} KiB exceeds baseline {baseline_kib} KiB + {HOSTILE_RSS_GROWTH_KIB_MAX} KiB"
    );

    // The same header on ApiVersions v3, the one request the broker answers even when it cannot
    // read it (for KIP-511's version fallback): closed or answered, but never kept in memory.
    let hostile = header_with_tagged_fields(18, 3, HOSTILE_TAGGED_FIELDS);
    let mut s = connect(&addr);
    let _ = s.write_all(&hostile);
    let reaction = read_frame(&mut s);
    eprintln!(
        "ApiVersions v3 with the hostile header: {}",
        match &reaction {
            None => "closed".to_string(),
            Some(r) => format!("answered with error code {}", i16::from_be_bytes([r[4], r[5]])),
        }
    );
    broker.assert_alive("after the hostile ApiVersions header");
    let peak_kib = broker.status_kib("VmHWM");
    assert!(
        peak_kib <= baseline_kib + HOSTILE_RSS_GROWTH_KIB_MAX,
        "peak RSS {peak_kib} KiB exceeds baseline {baseline_kib} KiB + {HOSTILE_RSS_GROWTH_KIB_MAX} KiB"
    );
}

/// A SaslHandshake v1 for PLAIN then a SaslAuthenticate v2 with `password` for alice; returns
/// the SaslAuthenticate response's error code and how long it took to come.
fn authenticate_plain(s: &mut TcpStream, password: &str) -> (i16, Duration) {
    let ResponseBody::SaslHandshake(h) = call(
        s,
        17,
        1,
        10,
        RequestBody::SaslHandshake(SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
        }),
    ) else {
        panic!()
    };
    assert_eq!(h.error_code, 0);
    assert_eq!(h.mechanisms, vec!["PLAIN".to_string()]);
    let token = format!("\0alice\0{password}");
    let asked = Instant::now();
    let ResponseBody::SaslAuthenticate(a) = call(
        s,
        36,
        2,
        11,
        RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
            auth_bytes: Bytes::from(token),
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    (a.error_code, asked.elapsed())
}

#[test]
fn a_sasl_listener_serves_only_authentication_until_it_succeeds() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let delay_ms = format!(
        "connection.failed.authentication.delay.ms={}",
        FAILED_AUTH_DELAY.as_millis()
    );
    let (mut broker, addr) = start(
        dir.path(),
        &[
            "listeners=SASL_PLAINTEXT://127.0.0.1:0",
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";",
            &delay_ms,
        ],
    );

    // A frame larger than sasl.server.max.receive.size is refused from its length alone.
    let mut s = connect(&addr);
    s.write_all(&((SASL_RECEIVE_BYTES_MAX + 1) as i32).to_be_bytes())
        .unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)),
        "a frame over sasl.server.max.receive.size is refused before authentication"
    );
    // One that fits is read (an ApiVersions padded to the limit with bytes after its body,
    // which Kafka ignores).
    let mut s = connect(&addr);
    let mut padded = frame(18, 3, 1, api_versions());
    padded.resize(4 + SASL_RECEIVE_BYTES_MAX, 0);
    padded[..4].copy_from_slice(&(SASL_RECEIVE_BYTES_MAX as i32).to_be_bytes());
    s.write_all(&padded).unwrap();
    let answered = read_frame(&mut s).expect("a frame of sasl.server.max.receive.size is read");
    assert_eq!(&answered[..4], &1i32.to_be_bytes());

    // Metadata before authentication closes the connection without an answer.
    let mut s = connect(&addr);
    s.write_all(&frame(3, 12, 1, metadata_all_topics())).unwrap();
    assert!(
        read_frame(&mut s).is_none(),
        "Metadata before authentication was answered"
    );

    // ApiVersions is answered, and names the SASL APIs.
    let mut s = connect(&addr);
    let ResponseBody::ApiVersions(v) = call(&mut s, 18, 3, 1, api_versions()) else {
        panic!()
    };
    assert_eq!(v.error_code, 0);
    for key in [17, 36] {
        assert!(v.api_keys.iter().any(|k| k.api_key == key), "API {key} advertised");
    }

    // A wrong password: SASL_AUTHENTICATION_FAILED, after the delay, then the end.
    let (code, took) = authenticate_plain(&mut s, "wrong");
    eprintln!("wrong password answered with {code} after {took:?}");
    assert_eq!(code, SASL_AUTHENTICATION_FAILED);
    assert!(took >= FAILED_AUTH_DELAY, "failure answered after {took:?}");
    assert!(
        took < FAILED_AUTH_DELAY + Duration::from_secs(2),
        "failure answered after {took:?}"
    );
    assert!(read_frame(&mut s).is_none(), "the connection is closed after a failure");

    // The right password: answered without the delay, and the rest of the protocol opens,
    // frames over the pre-authentication limit included.
    let mut s = connect(&addr);
    let (code, took) = authenticate_plain(&mut s, "alice-secret");
    eprintln!("right password answered with {code} after {took:?}");
    assert_eq!(code, 0);
    assert!(took < FAILED_AUTH_DELAY, "success answered after {took:?}");
    let ResponseBody::Metadata(m) = call(&mut s, 3, 12, 12, metadata_all_topics()) else {
        panic!()
    };
    assert_eq!(m.brokers.len(), 1);
    let ResponseBody::Produce(p) = call(&mut s, 0, 9, 13, produce_of(SASL_RECEIVE_BYTES_MAX)) else {
        panic!()
    };
    assert_eq!(p.responses.len(), 1);
    broker.assert_alive("after the SASL exchanges");
}

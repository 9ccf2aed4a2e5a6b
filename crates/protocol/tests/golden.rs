//! Golden frames: bytes that real clients sent (kcat/librdkafka 2.0.2, confluent-kafka with a
//! recent librdkafka, kafka-python, aiokafka, kafkajs), captured by `tools/golden/`. Each request
//! must decode and re-encode byte for byte; so must each response the capturing broker sent (and
//! the client accepted). File names say `<seq>-<Api>-v<version>.{req,resp}.bin`; the bytes start
//! at the header (no length prefix).

use bytes::Bytes;
use sluice_protocol::frame::{decode_request, decode_response, encode_request, encode_response};
use sluice_protocol::registry::APIS;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

struct Golden {
    path: PathBuf,
    api_key: i16,
    version: i16,
    request: bool,
    bytes: Bytes,
}

fn goldens() -> Vec<Golden> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let (stem, request) = if let Some(s) = name.strip_suffix(".req.bin") {
                (s, true)
            } else if let Some(s) = name.strip_suffix(".resp.bin") {
                (s, false)
            } else {
                continue;
            };
            // <seq>-<Api>-v<version>
            let mut parts = stem.splitn(2, '-');
            let _seq = parts.next();
            let rest = parts.next().unwrap_or_else(|| panic!("bad golden name {name}"));
            let (api, version) = rest
                .rsplit_once("-v")
                .unwrap_or_else(|| panic!("bad golden name {name}"));
            let info = APIS
                .iter()
                .find(|a| a.name == api)
                .unwrap_or_else(|| panic!("unknown API {api} in {name}"));
            let version: i16 = version.parse().unwrap_or_else(|_| panic!("bad version in {name}"));
            let bytes = Bytes::from(std::fs::read(&path).unwrap());
            out.push(Golden {
                path,
                api_key: info.key,
                version,
                request,
                bytes,
            });
        }
    }
    out
}

#[test]
fn real_client_frames_round_trip_byte_for_byte() {
    let all = goldens();
    let mut failures = Vec::new();
    let (mut requests, mut responses) = (0, 0);
    for g in &all {
        let result: Result<Vec<u8>, String> = if g.request {
            requests += 1;
            decode_request(g.bytes.clone())
                .map_err(|e| format!("decode: {e}"))
                .and_then(|r| {
                    assert_eq!(r.header.request_api_key, g.api_key);
                    assert_eq!(r.header.request_api_version, g.version);
                    encode_request(&r.header, &r.body).map_err(|e| format!("encode: {e}"))
                })
                .map(|frame| frame[4..].to_vec())
        } else {
            responses += 1;
            decode_response(g.bytes.clone(), g.api_key, g.version)
                .map_err(|e| format!("decode: {e}"))
                .and_then(|(h, body)| {
                    encode_response(h.correlation_id, &body, g.version).map_err(|e| format!("encode: {e}"))
                })
                .map(|frame| frame[4..].to_vec())
        };
        match result {
            Ok(bytes) if bytes == g.bytes[..] => {}
            Ok(bytes) => failures.push(format!(
                "{}: re-encoded bytes differ\n  golden:  {:02x?}\n  encoded: {:02x?}",
                g.path.display(),
                &g.bytes[..],
                bytes
            )),
            Err(e) => failures.push(format!("{}: {e}", g.path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden frames failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    // The captures cover requests and responses of the core APIs in old and flexible versions.
    assert!(
        requests >= 100 && responses >= 100,
        "too few goldens: {requests} requests, {responses} responses"
    );
    for (key, versions) in [(18, [0, 3]), (3, [1, 9]), (0, [3, 9]), (1, [4, 12])] {
        for want in versions {
            let covered = all
                .iter()
                .any(|g| g.request && g.api_key == key && (g.version >= 9) == (want >= 9));
            assert!(covered, "no golden request for API {key} in a version like v{want}");
        }
    }
}

/// Every record batch that a real client produced (magic v2, Produce v3+) must pass its CRC,
/// decompress with the codec its capture folder names, and yield the records the capture wrote:
/// keys `key-N`, values naming the client, and `client` and `codec` headers.
#[test]
fn real_client_record_batches_decode() {
    use sluice_protocol::generated::RequestBody;
    use sluice_protocol::records::{Compression, batches};
    const DECOMPRESSED_BYTES_MAX: usize = 1 << 20;
    let mut batches_seen = 0;
    let mut codecs_seen = std::collections::BTreeSet::new();
    for g in goldens()
        .iter()
        .filter(|g| g.request && g.api_key == 0 && g.version >= 3)
    {
        let folder = g
            .path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let codec = folder.rsplit('-').next().unwrap().to_owned();
        let request = decode_request(g.bytes.clone()).unwrap();
        let RequestBody::Produce(produce) = request.body else {
            panic!("{folder}: not a produce")
        };
        for partition in produce.topic_data.iter().flat_map(|t| &t.partition_data) {
            for batch in batches(partition.records.clone().expect("records")) {
                let batch = batch.unwrap_or_else(|e| panic!("{folder}: {e}"));
                batch.verify_crc().unwrap_or_else(|e| panic!("{folder}: {e}"));
                let compression = batch.compression().unwrap();
                assert_eq!(compression.name(), codec, "{folder}: batch codec");
                codecs_seen.insert(compression.name());
                let records: Vec<_> = batch
                    .records(DECOMPRESSED_BYTES_MAX)
                    .unwrap_or_else(|e| panic!("{folder}: {e}"))
                    .collect::<Result<_, _>>()
                    .unwrap_or_else(|e| panic!("{folder}: {e}"));
                assert_eq!(records.len(), batch.header().records_count as usize, "{folder}");
                for r in &records {
                    let key = r.key.as_ref().expect("keyed records");
                    assert!(key.starts_with(b"key-"), "{folder}: key {key:?}");
                    if let Some(value) = &r.value {
                        assert!(
                            std::str::from_utf8(value).unwrap().contains("golden value"),
                            "{folder}: {value:?}"
                        );
                    }
                    let header = |name: &[u8]| {
                        r.headers
                            .iter()
                            .find(|h| &h.key[..] == name)
                            .and_then(|h| h.value.clone())
                    };
                    assert_eq!(
                        header(b"codec").as_deref(),
                        Some(codec.as_bytes()),
                        "{folder}: codec header"
                    );
                    assert!(header(b"client").is_some(), "{folder}: client header");
                }
                batches_seen += 1;
            }
        }
    }
    assert!(batches_seen >= 40, "only {batches_seen} batches");
    let all: std::collections::BTreeSet<_> = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .iter()
    .map(|c| c.name())
    .collect();
    assert_eq!(codecs_seen, all, "every codec appears in the captures");
}

//! Round trips and behaviour of the record batch layer on well-formed input.

use bytes::Bytes;
use proptest::prelude::*;
use sluice_protocol::records::{
    self, Attributes, BATCH_HEADER_BYTES, BatchBuilder, BatchHeader, Compression, ControlRecordKey, ControlRecordType,
    EndTxnMarker, Header, NO_SEQUENCE, NewRecord, Record, RecordBatch, RecordsError, TimestampType, batches,
};

const MAX_BYTES: usize = 64 << 20;

fn sample_records(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| {
            let key = match i % 3 {
                0 => None,
                1 => Some(Bytes::new()),
                _ => Some(Bytes::from(format!("key-{i}"))),
            };
            let value = if i % 7 == 6 {
                None
            } else {
                Some(Bytes::from(format!("value {i} ").repeat(i % 50 + 1)))
            };
            let mut r = NewRecord::new(1_700_000_000_000 + (i as i64 * 13) % 1000, key, value);
            for h in 0..(i % 4) {
                let hv = if h == 2 {
                    None
                } else {
                    Some(Bytes::from(vec![h as u8; h]))
                };
                r = r.with_header(format!("h{h}"), hv);
            }
            r
        })
        .collect()
}

fn build(records: &[NewRecord], base_offset: i64, compression: Compression) -> RecordBatch {
    let mut b = BatchBuilder::new(base_offset).compression(compression);
    for r in records {
        b.append(r).unwrap();
    }
    b.build().unwrap()
}

fn decode_all(batch: &RecordBatch) -> Vec<Record> {
    batch
        .records(MAX_BYTES)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn assert_same(decoded: &[Record], input: &[NewRecord], base_offset: i64) {
    assert_eq!(decoded.len(), input.len());
    for (i, (d, r)) in decoded.iter().zip(input).enumerate() {
        assert_eq!(d.offset, base_offset + i as i64, "offset of {i}");
        assert_eq!(d.offset_delta, i as i32);
        assert_eq!(d.timestamp_ms, r.timestamp_ms, "timestamp of {i}");
        assert_eq!(d.key, r.key, "key of {i}");
        assert_eq!(d.value, r.value, "value of {i}");
        assert_eq!(d.headers, r.headers, "headers of {i}");
        assert_eq!(d.attributes, 0);
    }
}

#[test]
fn round_trip_every_codec() {
    let input = sample_records(500);
    for codec in Compression::ALL {
        let batch = build(&input, 1000, codec);
        batch.verify_crc().unwrap();
        let h = batch.header();
        assert_eq!(h.attributes.compression().unwrap(), codec);
        assert_eq!(h.records_count, 500);
        assert_eq!(h.last_offset_delta, 499);
        assert_eq!(h.last_offset().unwrap(), 1499);
        assert_eq!(h.base_timestamp_ms, input[0].timestamp_ms);
        assert_eq!(h.max_timestamp_ms, input.iter().map(|r| r.timestamp_ms).max().unwrap());
        assert_eq!(h.size_bytes(), Some(batch.size_bytes()));
        assert_same(&decode_all(&batch), &input, 1000);

        // The whole batch re-parses identically from its own bytes.
        let again = RecordBatch::parse(batch.as_bytes().clone()).unwrap();
        assert_eq!(again, batch);
        if codec != Compression::None {
            let plain = build(&input, 1000, Compression::None);
            assert!(batch.size_bytes() < plain.size_bytes(), "{codec} did not compress");
        }
    }
}

#[test]
fn uncompressed_records_are_slices_of_the_batch() {
    let input = sample_records(20);
    let batch = build(&input, 0, Compression::None);
    let range = batch.as_bytes().as_ptr_range();
    for rec in decode_all(&batch) {
        for b in rec.value.iter().chain(rec.key.iter()) {
            if !b.is_empty() {
                assert!(range.contains(&b.as_ptr()), "value was copied");
            }
        }
    }
}

#[test]
fn empty_batch() {
    let batch = BatchBuilder::new(42).compression(Compression::Zstd).build().unwrap();
    assert_eq!(batch.size_bytes(), BATCH_HEADER_BYTES);
    let h = batch.header();
    assert_eq!(h.records_count, 0);
    assert_eq!(h.base_timestamp_ms, -1);
    assert_eq!(h.attributes.compression().unwrap(), Compression::None);
    batch.verify_crc().unwrap();
    assert_eq!(batch.records(MAX_BYTES).unwrap().count(), 0);
}

#[test]
fn producer_fields_and_flags_round_trip() {
    let input = sample_records(3);
    let mut b = BatchBuilder::new(7)
        .producer(123_456, 9, 77)
        .transactional(true)
        .partition_leader_epoch(5)
        .compression(Compression::Lz4);
    for r in &input {
        b.append(r).unwrap();
    }
    let batch = b.build().unwrap();
    let h = *batch.header();
    assert_eq!(h.producer_id, 123_456);
    assert_eq!(h.producer_epoch, 9);
    assert_eq!(h.base_sequence, 77);
    assert_eq!(h.last_sequence(), 79);
    assert_eq!(h.partition_leader_epoch, 5);
    assert!(h.attributes.is_transactional());
    assert!(!h.attributes.is_control());
    assert!(!h.attributes.has_delete_horizon());
    assert_eq!(h.attributes.timestamp_type(), TimestampType::CreateTime);
    assert_same(&decode_all(&batch), &input, 7);
}

#[test]
fn log_append_time_reports_max_timestamp() {
    let input = sample_records(5);
    let mut b = BatchBuilder::new(0).log_append_time(1_800_000_000_000);
    for r in &input {
        b.append(r).unwrap();
    }
    let batch = b.build().unwrap();
    assert_eq!(batch.header().attributes.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batch.header().max_timestamp_ms, 1_800_000_000_000);
    for (rec, r) in decode_all(&batch).iter().zip(&input) {
        assert_eq!(rec.timestamp_ms, 1_800_000_000_000);
        assert_eq!(rec.timestamp_delta_ms, r.timestamp_ms - input[0].timestamp_ms);
    }
}

#[test]
fn delete_horizon_and_offset_gaps() {
    let r = NewRecord::new(5_000, None, Some(Bytes::from_static(b"v")));
    let mut b = BatchBuilder::new(100).delete_horizon_ms(4_000);
    b.append_with_offset(100, &r).unwrap();
    b.append_with_offset(150, &r).unwrap();
    assert!(b.append_with_offset(150, &r).is_err(), "offsets must increase");
    let batch = b.build().unwrap();
    assert!(batch.header().attributes.has_delete_horizon());
    assert_eq!(batch.header().base_timestamp_ms, 4_000);
    assert_eq!(batch.header().last_offset_delta, 50);
    let recs = decode_all(&batch);
    assert_eq!(recs[1].offset, 150);
    assert_eq!(recs[0].timestamp_delta_ms, 1_000);
    assert_eq!(recs[0].timestamp_ms, 5_000);
}

#[test]
fn builder_rejects_bad_input() {
    let mut b = BatchBuilder::new(0);
    assert!(b.append(&NewRecord::new(-5, None, None)).is_err());
    let mut b = BatchBuilder::new(0);
    let r = NewRecord::new(0, None, None);
    assert!(b.append_with_offset(-1, &r).is_err());
    assert!(b.append_with_offset(i64::from(i32::MAX) + 1, &r).is_err());
    b.append_with_offset(i64::from(i32::MAX), &r).unwrap();
}

#[test]
fn attributes_bits() {
    let a = Attributes::default()
        .with_compression(Compression::Zstd)
        .with_timestamp_type(TimestampType::LogAppendTime)
        .with_transactional(true)
        .with_control(true)
        .with_delete_horizon(true);
    assert_eq!(a.bits(), 0b111_1100);
    assert_eq!(a.compression().unwrap(), Compression::Zstd);
    let a = a.with_compression(Compression::Gzip).with_control(false);
    assert_eq!(a.bits(), 0b101_1001);
    assert_eq!(
        Attributes::from_bits(6).compression(),
        Err(RecordsError::UnknownCompression(6))
    );
}

#[test]
fn header_encode_decode() {
    let batch = build(&sample_records(4), 99, Compression::Gzip);
    let h = *batch.header();
    let encoded = h.encode();
    assert_eq!(&encoded[..], &batch.as_bytes()[..BATCH_HEADER_BYTES]);
    assert_eq!(BatchHeader::decode(&encoded).unwrap(), h);
    assert_eq!(
        BatchHeader::decode(&encoded[..60]),
        Err(RecordsError::Truncated {
            needed: 61,
            available: 60
        })
    );
}

#[test]
fn control_batches() {
    for (ty, commit) in [(ControlRecordType::Commit, true), (ControlRecordType::Abort, false)] {
        let batch = records::end_txn_marker_batch(500, 42, 3, ty, EndTxnMarker::new(17), 1_700_000_000_000).unwrap();
        batch.verify_crc().unwrap();
        let h = batch.header();
        assert!(h.attributes.is_control());
        assert!(h.attributes.is_transactional());
        assert_eq!(h.producer_id, 42);
        assert_eq!(h.producer_epoch, 3);
        assert_eq!(h.base_sequence, NO_SEQUENCE);
        let recs = decode_all(&batch);
        assert_eq!(recs.len(), 1);
        let key = recs[0].control_key().unwrap();
        assert_eq!(key.version, 0);
        assert_eq!(key.record_type, ty);
        let (t, marker) = recs[0].end_txn_marker().unwrap();
        assert_eq!(t == ControlRecordType::Commit, commit);
        assert_eq!(
            marker,
            EndTxnMarker {
                version: 0,
                coordinator_epoch: 17
            }
        );
        // Byte layout: key = version 0, type; value = version 0, epoch.
        assert_eq!(recs[0].key.as_deref(), Some(&[0, 0, 0, if commit { 1 } else { 0 }][..]));
        assert_eq!(recs[0].value.as_deref(), Some(&[0, 0, 0, 0, 0, 17][..]));
    }
    assert!(records::end_txn_marker_batch(0, 1, 1, ControlRecordType::LeaderChange, EndTxnMarker::new(0), 0).is_err());
}

#[test]
fn control_key_decoding() {
    // Newer key versions may append fields and still parse.
    let k = ControlRecordKey::decode(&[0, 1, 0, 1, 9, 9]).unwrap();
    assert_eq!(k.version, 1);
    assert_eq!(k.record_type, ControlRecordType::Commit);
    assert_eq!(
        ControlRecordKey::decode(&[0, 0, 0, 42]).unwrap().record_type,
        ControlRecordType::Unknown(42)
    );
    assert!(ControlRecordKey::decode(&[0, 0, 0]).is_err());
    assert!(ControlRecordKey::decode(&[0xff, 0xff, 0, 0]).is_err());
    assert_eq!(ControlRecordKey::new(ControlRecordType::Abort).encode(), [0, 0, 0, 0]);
    for id in -1..8 {
        assert_eq!(ControlRecordType::from_id(id).id(), id);
    }
    assert_eq!(
        EndTxnMarker::decode(&[0, 0, 0, 0, 0, 5, 1]).unwrap().coordinator_epoch,
        5
    );
    assert!(EndTxnMarker::decode(&[0, 0, 0, 0, 5]).is_err());
    assert!(EndTxnMarker::decode(&[0x80, 0, 0, 0, 0, 5]).is_err());
}

#[test]
fn crc_verification_and_mismatch() {
    let batch = build(&sample_records(10), 0, Compression::Snappy);
    batch.verify_crc().unwrap();
    records::verify_crc(batch.as_bytes()).unwrap();
    assert_eq!(records::compute_crc(batch.as_bytes()).unwrap(), batch.header().crc);

    // Flip one bit in every byte covered by the CRC: always detected.
    let bytes = batch.as_bytes().to_vec();
    for i in 21..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        let parsed = RecordBatch::parse(Bytes::from(bad)).unwrap();
        match parsed.verify_crc() {
            Err(RecordsError::CrcMismatch { stored, computed }) => {
                assert_ne!(stored, computed);
            }
            other => panic!("byte {i}: expected CRC mismatch, got {other:?}"),
        }
    }
    // The CRC field itself.
    let mut bad = bytes.clone();
    bad[18] ^= 1;
    assert!(matches!(
        records::verify_crc(&bad),
        Err(RecordsError::CrcMismatch { .. })
    ));
}

#[test]
fn patching_offset_and_epoch_keeps_crc_valid() {
    let batch = build(&sample_records(10), 0, Compression::Gzip);
    let mut bytes = batch.as_bytes().to_vec();
    records::set_base_offset(&mut bytes, 1 << 40).unwrap();
    records::set_partition_leader_epoch(&mut bytes, 12).unwrap();
    let patched = RecordBatch::parse(Bytes::from(bytes)).unwrap();
    patched.verify_crc().unwrap();
    assert_eq!(patched.header().base_offset, 1 << 40);
    assert_eq!(patched.header().partition_leader_epoch, 12);
    let recs = decode_all(&patched);
    assert_eq!(recs[3].offset, (1 << 40) + 3);

    // Changing something inside the CRC needs update_crc.
    let mut bytes = batch.as_bytes().to_vec();
    bytes[35 + 7] ^= 1; // maxTimestamp
    assert!(records::verify_crc(&bytes).is_err());
    records::update_crc(&mut bytes).unwrap();
    records::verify_crc(&bytes).unwrap();

    // Patching refuses things that are not v2 batches.
    assert!(records::set_base_offset(&mut [0u8; 20], 1).is_err());
    let mut legacy = batch.as_bytes().to_vec();
    legacy[16] = 1;
    assert_eq!(
        records::set_base_offset(&mut legacy, 1),
        Err(RecordsError::InvalidMagic(1))
    );
}

#[test]
fn iterating_several_batches_and_a_truncated_tail() {
    let a = build(&sample_records(5), 0, Compression::None);
    let b = build(&sample_records(6), 5, Compression::Zstd);
    let c = build(&sample_records(7), 11, Compression::Snappy);
    let mut blob = Vec::new();
    for x in [&a, &b, &c] {
        blob.extend_from_slice(x.as_bytes());
    }
    let blob = Bytes::from(blob);
    let got: Vec<_> = batches(blob.clone()).collect::<Result<_, _>>().unwrap();
    assert_eq!(got, vec![a.clone(), b.clone(), c.clone()]);
    // Zero copy: each batch points into the blob.
    let range = blob.as_ptr_range();
    assert!(got.iter().all(|g| range.contains(&g.as_bytes().as_ptr())));
    let offsets: Vec<i64> = got
        .iter()
        .flat_map(|g| decode_all(g).into_iter().map(|r| r.offset))
        .collect();
    assert_eq!(offsets, (0..18).collect::<Vec<_>>());

    // Cut the last batch short, as a Fetch response may.
    let cut = blob.len() - 10;
    let mut it = batches(blob.slice(..cut));
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert!(err.is_truncated(), "{err:?}");
    assert_eq!(
        err,
        RecordsError::Truncated {
            needed: c.size_bytes(),
            available: c.size_bytes() - 10
        }
    );
    assert!(it.next().is_none());

    // Fewer than 12 bytes of a next batch.
    let mut it = batches(blob.slice(..a.size_bytes() + 5));
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().unwrap_err().is_truncated());
    assert_eq!(batches(Bytes::new()).count(), 0);
}

#[test]
fn legacy_and_unknown_magic_are_named() {
    // A magic v1 message: offset, size 26 (< v2 minimum), crc, magic 1, ...
    let mut legacy = vec![0u8; 12 + 26];
    legacy[8..12].copy_from_slice(&26i32.to_be_bytes());
    legacy[16] = 1;
    let err = batches(Bytes::from(legacy)).next().unwrap().unwrap_err();
    assert_eq!(err, RecordsError::InvalidMagic(1));
    assert!(err.to_string().contains("legacy"));

    // A long magic 0 message.
    let mut legacy = vec![0u8; 12 + 100];
    legacy[8..12].copy_from_slice(&100i32.to_be_bytes());
    let err = batches(Bytes::from(legacy)).next().unwrap().unwrap_err();
    assert_eq!(err, RecordsError::InvalidMagic(0));

    let mut bytes = build(&sample_records(1), 0, Compression::None).as_bytes().to_vec();
    bytes[16] = 3;
    assert_eq!(
        batches(Bytes::from(bytes)).next().unwrap().unwrap_err(),
        RecordsError::InvalidMagic(3)
    );

    // A length below the v2 minimum with no magic in reach.
    let mut short = vec![0u8; 12 + 4];
    short[8..12].copy_from_slice(&4i32.to_be_bytes());
    assert!(matches!(
        batches(Bytes::from(short)).next().unwrap().unwrap_err(),
        RecordsError::InvalidBatchLength { batch_length: 4, .. }
    ));
    let mut negative = vec![0u8; 61];
    negative[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    assert!(matches!(
        batches(Bytes::from(negative)).next().unwrap().unwrap_err(),
        RecordsError::InvalidBatchLength { batch_length: -1, .. }
    ));
}

fn with_payload(template: &BatchHeader, codec: Compression, payload: &[u8]) -> RecordBatch {
    // Re-wrap an arbitrary payload under `template`'s header with another
    // codec, fixing up the length and CRC.
    let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
    bytes.extend_from_slice(payload);
    let header = BatchHeader {
        batch_length_bytes: (bytes.len() - 12) as i32,
        attributes: template.attributes.with_compression(codec),
        ..*template
    };
    bytes[..BATCH_HEADER_BYTES].copy_from_slice(&header.encode());
    records::update_crc(&mut bytes).unwrap();
    RecordBatch::parse(Bytes::from(bytes)).unwrap()
}

#[test]
fn snappy_decodes_xerial_and_raw() {
    let input = sample_records(600);
    let plain = build(&input, 0, Compression::None);
    let raw_records = plain.records_payload();
    assert!(raw_records.len() > 3 * 32 * 1024, "want several xerial chunks");

    // What we write is xerial: magic, version 1, compatible version 1.
    let snappy = build(&input, 0, Compression::Snappy);
    let payload = snappy.records_payload();
    assert_eq!(&payload[..8], b"\x82SNAPPY\x00");
    assert_eq!(&payload[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);

    // Hand-built xerial with uneven chunks, as a different writer might.
    let mut xerial = b"\x82SNAPPY\x00".to_vec();
    xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    let mut enc = snap::raw::Encoder::new();
    for chunk in raw_records.chunks(10_000) {
        let c = enc.compress_vec(chunk).unwrap();
        xerial.extend_from_slice(&(c.len() as i32).to_be_bytes());
        xerial.extend_from_slice(&c);
    }
    let batch = with_payload(plain.header(), Compression::Snappy, &xerial);
    assert_same(&decode_all(&batch), &input, 0);

    // Raw snappy, as librdkafka writes by default.
    let raw = snap::raw::Encoder::new().compress_vec(&raw_records).unwrap();
    let batch = with_payload(plain.header(), Compression::Snappy, &raw);
    assert_same(&decode_all(&batch), &input, 0);

    // Both forms through the codec API directly.
    for form in [
        payload,
        Bytes::from(snap::raw::Encoder::new().compress_vec(b"hello").unwrap()),
    ] {
        assert!(Compression::Snappy.decompress(&form, MAX_BYTES).is_ok());
    }
}

#[test]
fn codec_decompress_respects_cap_exactly() {
    let data = vec![7u8; 100_000];
    for codec in Compression::ALL.into_iter().skip(1) {
        let mut out = Vec::new();
        codec.compress(&data, &mut out).unwrap();
        let out = Bytes::from(out);
        assert_eq!(codec.decompress(&out, 100_000).unwrap(), data, "{codec}");
        assert_eq!(
            codec.decompress(&out, 99_999),
            Err(RecordsError::DecompressedTooLarge { max_bytes: 99_999 }),
            "{codec}"
        );
    }
}

#[test]
fn batch_records_respects_cap() {
    let input = sample_records(200);
    for codec in Compression::ALL.into_iter().skip(1) {
        let batch = build(&input, 0, codec);
        let needed = build(&input, 0, Compression::None).records_payload().len();
        assert!(batch.records(needed).is_ok(), "{codec}");
        assert_eq!(
            batch.records(needed - 1).unwrap_err(),
            RecordsError::DecompressedTooLarge { max_bytes: needed - 1 },
            "{codec}"
        );
    }
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from))
}

fn arb_record() -> impl Strategy<Value = NewRecord> {
    (
        prop_oneof![Just(-1i64), 0i64..4_000_000_000_000],
        arb_bytes(64),
        arb_bytes(512),
        prop::collection::vec((prop::collection::vec(any::<u8>(), 0..16), arb_bytes(32)), 0..4),
    )
        .prop_map(|(timestamp_ms, key, value, headers)| NewRecord {
            timestamp_ms,
            key,
            value,
            headers: headers.into_iter().map(|(k, v)| Header::new(k, v)).collect(),
        })
}

fn arb_codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn prop_round_trip(
        records in prop::collection::vec(arb_record(), 0..40),
        codec in arb_codec(),
        base_offset in 0i64..(1i64 << 50),
        producer in (any::<i64>(), any::<i16>(), any::<i32>()),
        transactional in any::<bool>(),
    ) {
        let mut b = BatchBuilder::new(base_offset)
            .compression(codec)
            .producer(producer.0, producer.1, producer.2)
            .transactional(transactional);
        for r in &records {
            b.append(r).unwrap();
        }
        let batch = b.build().unwrap();
        prop_assert!(batch.verify_crc().is_ok());
        let mut it = batches(batch.as_bytes().clone());
        let again = it.next().unwrap().unwrap();
        prop_assert!(it.next().is_none());
        prop_assert_eq!(&again, &batch);
        let h = again.header();
        prop_assert_eq!(h.producer_id, producer.0);
        prop_assert_eq!(h.producer_epoch, producer.1);
        prop_assert_eq!(h.base_sequence, producer.2);
        prop_assert_eq!(h.attributes.is_transactional(), transactional);
        let decoded: Vec<Record> = again.records(MAX_BYTES).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (d, r)) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(d.offset, base_offset + i as i64);
            prop_assert_eq!(d.timestamp_ms, r.timestamp_ms);
            prop_assert_eq!(&d.key, &r.key);
            prop_assert_eq!(&d.value, &r.value);
            prop_assert_eq!(&d.headers, &r.headers);
        }
    }

    #[test]
    fn prop_codec_round_trip(data in prop::collection::vec(any::<u8>(), 0..20_000), codec in arb_codec()) {
        let mut out = Vec::new();
        codec.compress(&data, &mut out).unwrap();
        let back = codec.decompress(&Bytes::from(out), data.len()).unwrap();
        prop_assert_eq!(&back[..], &data[..]);
    }
}

/// Builds the fuzzer's seed corpus (valid batches for every codec, control batches, multi-batch
/// blobs) and checks every seed reads back as valid batches. The seeds go to
/// `$SLUICE_FUZZ_SEEDS_DIR` when set (`scripts/fuzz-smoke.sh` sets it to
/// `fuzz/corpus/record_batch`), otherwise to a scratch directory.
#[test]
fn write_fuzz_seeds() {
    let dir = std::env::var("SLUICE_FUZZ_SEEDS_DIR").unwrap_or_else(|_| {
        std::env::temp_dir()
            .join(format!("sluice-fuzz-seeds-{}", std::process::id()))
            .display()
            .to_string()
    });
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for codec in Compression::ALL {
        for n in [1, 3, 20] {
            let batch = build(&sample_records(n), 0, codec);
            seeds.push((format!("{codec}-{n}"), batch.as_bytes().to_vec()));
        }
        let two = [
            build(&sample_records(2), 0, codec).as_bytes().to_vec(),
            build(&sample_records(2), 2, codec).as_bytes().to_vec(),
        ]
        .concat();
        seeds.push((format!("{codec}-two-batches"), two));
    }
    for ty in [ControlRecordType::Abort, ControlRecordType::Commit] {
        let b = records::end_txn_marker_batch(0, 1, 0, ty, EndTxnMarker::new(3), 0).unwrap();
        seeds.push((format!("control-{ty:?}"), b.as_bytes().to_vec()));
    }
    seeds.push((
        "empty-batch".into(),
        BatchBuilder::new(0).build().unwrap().as_bytes().to_vec(),
    ));
    for (name, bytes) in &seeds {
        let path = format!("{dir}/seed-{name}");
        std::fs::write(&path, bytes).unwrap();
        let read_back = bytes::Bytes::from(std::fs::read(&path).unwrap());
        let mut count = 0;
        for batch in records::batches(read_back) {
            let batch = batch.unwrap_or_else(|e| panic!("seed {name}: {e}"));
            batch.verify_crc().unwrap_or_else(|e| panic!("seed {name}: {e}"));
            count += 1;
        }
        assert!(count >= 1, "seed {name} holds no batch");
    }
}

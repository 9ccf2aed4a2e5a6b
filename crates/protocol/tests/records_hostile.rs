//! Hostile and corrupt input: the decoder must return errors, never panic,
//! and classify truncation separately from corruption.

use bytes::Bytes;
use proptest::prelude::*;
use sluice_protocol::records::{
    self, Attributes, BATCH_HEADER_BYTES, BatchBuilder, BatchHeader, Compression, NewRecord, RecordBatch, RecordsError,
    batches,
};

const CAP_BYTES: usize = 1 << 20;

/// Runs everything a consumer or broker would on `blob`; returns how many
/// records decoded. Panics only if the decoder does.
fn exercise(blob: Bytes) -> usize {
    let mut decoded = 0;
    for batch in batches(blob) {
        let Ok(batch) = batch else { break };
        let _ = batch.verify_crc();
        let _ = batch.header().last_offset();
        let _ = batch.header().last_sequence();
        let _ = batch.header().attributes.compression();
        let Ok(iter) = batch.records(CAP_BYTES) else {
            continue;
        };
        for rec in iter {
            let Ok(rec) = rec else { break };
            let _ = rec.control_key();
            let _ = rec.end_txn_marker();
            decoded += 1;
        }
    }
    decoded
}

fn small_batch(codec: Compression, base_offset: i64) -> RecordBatch {
    let mut b = BatchBuilder::new(base_offset).compression(codec).producer(9, 1, 0);
    for i in 0..12 {
        let r = NewRecord::new(
            1_000 + i,
            (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
            Some(Bytes::from(format!("value-{i}-").repeat(4))),
        )
        .with_header("h", Some(Bytes::from_static(b"x")));
        b.append(&r).unwrap();
    }
    b.build().unwrap()
}

/// An uncompressed batch around raw record bytes, with a correct CRC.
fn raw_batch(records_count: i32, base_offset: i64, payload: &[u8]) -> RecordBatch {
    with_header(
        BatchHeader {
            base_offset,
            batch_length_bytes: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: Attributes::default(),
            last_offset_delta: 0,
            base_timestamp_ms: 0,
            max_timestamp_ms: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count,
        },
        payload,
    )
}

fn with_header(mut header: BatchHeader, payload: &[u8]) -> RecordBatch {
    header.batch_length_bytes = (BATCH_HEADER_BYTES - 12 + payload.len()) as i32;
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(payload);
    records::update_crc(&mut bytes).unwrap();
    RecordBatch::parse(Bytes::from(bytes)).unwrap()
}

fn first_record_error(batch: &RecordBatch) -> RecordsError {
    let mut it = batch.records(CAP_BYTES).unwrap();
    loop {
        match it.next() {
            Some(Ok(_)) => continue,
            Some(Err(e)) => return e,
            None => panic!("expected an error"),
        }
    }
}

#[test]
fn truncated_blob_at_every_offset_is_reported_as_truncation() {
    for codec in Compression::ALL {
        let a = small_batch(codec, 0);
        let b = small_batch(codec, 12);
        let mut blob = a.as_bytes().to_vec();
        blob.extend_from_slice(b.as_bytes());
        let blob = Bytes::from(blob);
        for cut in 0..blob.len() {
            let items: Vec<_> = batches(blob.slice(..cut)).collect();
            let whole = if cut >= a.size_bytes() { 1 } else { 0 };
            if cut == 0 || cut == a.size_bytes() {
                assert_eq!(items.len(), whole, "{codec} cut {cut}");
            } else {
                assert_eq!(items.len(), whole + 1, "{codec} cut {cut}");
                let err = items.last().unwrap().as_ref().unwrap_err();
                assert!(err.is_truncated(), "{codec} cut {cut}: {err:?}");
            }
            assert!(items.iter().take(whole).all(|i| i.is_ok()));
            exercise(blob.slice(..cut));
        }
    }
}

#[test]
fn records_section_cut_at_every_offset_is_an_error_not_a_panic() {
    // The framing says the batch is complete (length and CRC fixed up), but
    // the records section is short: corruption, reported as an error.
    for codec in Compression::ALL {
        let batch = small_batch(codec, 0);
        let payload = batch.records_payload();
        for cut in 0..payload.len() {
            let short = with_header(*batch.header(), &payload[..cut]);
            short.verify_crc().unwrap();
            let result: Result<Vec<_>, _> = short
                .records(CAP_BYTES)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>());
            assert!(result.is_err(), "{codec} cut {cut} decoded");
        }
    }
}

#[test]
fn single_bit_flips_never_panic() {
    for codec in Compression::ALL {
        let batch = small_batch(codec, 0);
        let bytes = batch.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                exercise(Bytes::from(bad.clone()));
                // Again with the CRC "fixed", so the payload decoders see it.
                if records::update_crc(&mut bad).is_ok() {
                    exercise(Bytes::from(bad));
                }
            }
        }
    }
}

#[test]
fn huge_header_count_is_rejected_without_allocating() {
    // length, attributes, ts delta, offset delta, key -1, value -1,
    // header count i32::MAX.
    let mut body = vec![0u8, 0, 0, 1, 1];
    body.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]); // zigzag(i32::MAX)
    let mut payload = vec![(body.len() as u8) << 1];
    payload.extend_from_slice(&body);
    let err = first_record_error(&raw_batch(1, 0, &payload));
    assert!(
        matches!(
            err,
            RecordsError::InvalidLength {
                field: "header count",
                length: 2147483647,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn record_level_corruption_is_classified() {
    // A valid single record: len, attr 0, ts 0, off 0, key -1, value "a", 0 headers.
    let body = [0u8, 0, 0, 1, 2, b'a', 0];
    let mut good = vec![(body.len() as u8) << 1];
    good.extend_from_slice(&body);
    assert_eq!(raw_batch(1, 0, &good).records(CAP_BYTES).unwrap().count(), 1);

    // Over-long record length varint.
    let err = first_record_error(&raw_batch(1, 0, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]));
    assert!(matches!(err, RecordsError::InvalidVarint { .. }), "{err:?}");

    // Record length beyond the data.
    let mut long = good.clone();
    long[0] = 40 << 1;
    let err = first_record_error(&raw_batch(1, 0, &long));
    assert!(
        matches!(
            err,
            RecordsError::InvalidLength {
                field: "record length",
                ..
            }
        ),
        "{err:?}"
    );

    // Negative record length.
    let err = first_record_error(&raw_batch(1, 0, &[0x01]));
    assert!(matches!(err, RecordsError::InvalidLength { length: -1, .. }), "{err:?}");

    // Declared length larger than the fields use.
    let mut padded = vec![((body.len() + 1) as u8) << 1];
    padded.extend_from_slice(&body);
    padded.push(0);
    let err = first_record_error(&raw_batch(1, 0, &padded));
    assert_eq!(err, RecordsError::RecordSizeMismatch { declared: 8, used: 7 });

    // Value length beyond the record body.
    let bad_value = [0x0e, 0, 0, 0, 1, 0x10, b'a', 0];
    let err = first_record_error(&raw_batch(1, 0, &bad_value));
    assert!(
        matches!(
            err,
            RecordsError::InvalidLength {
                field: "record value",
                ..
            }
        ),
        "{err:?}"
    );

    // Key length below -1.
    let bad_key = [0x0e, 0, 0, 0, 3, 2, b'a', 0];
    let err = first_record_error(&raw_batch(1, 0, &bad_key));
    assert!(
        matches!(
            err,
            RecordsError::InvalidLength {
                field: "record key",
                length: -2,
                ..
            }
        ),
        "{err:?}"
    );

    // Null header key.
    let null_hkey = [0u8, 0, 0, 1, 1, 2, 1, 1];
    let mut p = vec![(null_hkey.len() as u8) << 1];
    p.extend_from_slice(&null_hkey);
    let err = first_record_error(&raw_batch(1, 0, &p));
    assert!(
        matches!(
            err,
            RecordsError::InvalidLength {
                field: "header key",
                ..
            }
        ),
        "{err:?}"
    );

    // Count says 3, data has 2.
    let two = [good.clone(), good.clone()].concat();
    let err = first_record_error(&raw_batch(3, 0, &two));
    assert_eq!(err, RecordsError::RecordCountMismatch { declared: 3, found: 2 });

    // Count says 1, data has 2.
    let err = first_record_error(&raw_batch(1, 0, &two));
    assert_eq!(
        err,
        RecordsError::TrailingBytes {
            declared: 1,
            trailing_bytes: good.len()
        }
    );

    // Negative count.
    assert_eq!(
        raw_batch(-1, 0, &good).records(CAP_BYTES).unwrap_err(),
        RecordsError::InvalidRecordCount(-1)
    );

    // Offset overflow.
    let mut off = good.clone();
    off[3] = 2; // offset delta 1
    let err = first_record_error(&raw_batch(1, i64::MAX, &off));
    assert!(
        matches!(
            err,
            RecordsError::Overflow {
                field: "record offset",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unknown_codec_and_garbage_payloads_are_errors() {
    let batch = small_batch(Compression::None, 0);
    let payload = batch.records_payload();
    for id in 1..8u8 {
        let header = BatchHeader {
            attributes: Attributes::from_bits(i16::from(id)),
            ..*batch.header()
        };
        let b = with_header(header, &payload);
        let err = b.records(CAP_BYTES).unwrap_err();
        if id <= 4 {
            assert!(matches!(err, RecordsError::Decompression { .. }), "codec {id}: {err:?}");
        } else {
            assert_eq!(err, RecordsError::UnknownCompression(id));
        }
    }
}

fn arb_header() -> impl Strategy<Value = BatchHeader> {
    (
        any::<i64>(),
        0i16..128,
        any::<i32>(),
        any::<i64>(),
        any::<i64>(),
        prop_oneof![Just(0i32), Just(1), Just(12), -2i32..100, any::<i32>()],
    )
        .prop_map(
            |(base_offset, attrs, last_offset_delta, base_ts, max_ts, count)| BatchHeader {
                base_offset,
                batch_length_bytes: 0,
                partition_leader_epoch: -1,
                magic: 2,
                crc: 0,
                attributes: Attributes::from_bits(attrs),
                last_offset_delta,
                base_timestamp_ms: base_ts,
                max_timestamp_ms: max_ts,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: last_offset_delta,
                records_count: count,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(Bytes::from(data));
    }

    #[test]
    fn random_payload_under_valid_header_never_panics(
        header in arb_header(),
        payload in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        exercise(with_header(header, &payload).into_bytes());
    }

    #[test]
    fn mutated_valid_batches_never_panic(
        codec in prop::sample::select(Compression::ALL.to_vec()),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        fix_crc in any::<bool>(),
    ) {
        let mut bytes = small_batch(codec, 0).as_bytes().to_vec();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if fix_crc {
            let _ = records::update_crc(&mut bytes);
        }
        exercise(Bytes::from(bytes));
    }

    #[test]
    fn random_compressed_payloads_never_panic(
        codec in prop::sample::select(Compression::ALL.to_vec()),
        data in prop::collection::vec(any::<u8>(), 0..512),
        cap in 0usize..4096,
    ) {
        let _ = codec.decompress(&Bytes::from(data), cap);
    }
}

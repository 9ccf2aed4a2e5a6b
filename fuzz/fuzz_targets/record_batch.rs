//! Feeds arbitrary bytes to the record batch decoder as a Produce/Fetch
//! `records` blob: frames every batch, verifies its CRC, decompresses with a
//! 1 MiB cap and decodes every record. Any panic, abort or out-of-memory is
//! a bug; errors are expected.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_protocol::records::{self, RecordsError};

const CAP_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let blob = Bytes::copy_from_slice(data);
    for batch in records::batches(blob) {
        let batch = match batch {
            Ok(batch) => batch,
            // A partial last batch is legal in a Fetch response; anything
            // else ends iteration too.
            Err(_) => break,
        };
        // Fuzzed CRCs almost never match; decode anyway so the payload
        // decoders get exercised.
        let _ = batch.verify_crc();
        let header = batch.header();
        let _ = header.last_offset();
        let _ = header.last_sequence();
        let iter = match batch.records(CAP_BYTES) {
            Ok(iter) => iter,
            Err(RecordsError::DecompressedTooLarge { max_bytes }) => {
                assert_eq!(max_bytes, CAP_BYTES);
                continue;
            }
            Err(_) => continue,
        };
        let mut decoded = 0usize;
        for record in iter {
            let Ok(record) = record else { break };
            decoded += 1;
            if header.attributes.is_control() {
                let _ = record.end_txn_marker();
            }
        }
        // Never more records than the batch declared.
        assert!(decoded <= usize::try_from(header.records_count).unwrap_or(0));
    }
});

//! Recovery: torn tails are truncated, corruption elsewhere is reported.

mod common;

use std::path::Path;

use common::{batch, opts, parse, small_config};
use sluice_storage::{LogConfig, PartitionLog, StorageError};

fn log_path(dir: &Path, base: i64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Writes `n` small batches (2 records each) and returns the byte ends of
/// each batch in the single segment.
fn small_log(dir: &Path, n: usize) -> Vec<u64> {
    let mut log = PartitionLog::open(dir, LogConfig::default()).unwrap();
    let mut ends = Vec::new();
    for i in 0..n {
        log.append(batch(2, i as i64, 7 + i), opts(0)).unwrap();
        ends.push(log.size_bytes());
    }
    // Flushed, then a crash (no clean-shutdown marker).
    log.flush().unwrap();
    ends
}

#[test]
fn truncated_tail_at_every_byte_keeps_the_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let ends = small_log(dir.path(), 3);
    let full = std::fs::read(log_path(dir.path(), 0)).unwrap();
    assert_eq!(full.len() as u64, *ends.last().unwrap());
    for cut in 0..=full.len() {
        std::fs::write(log_path(dir.path(), 0), &full[..cut]).unwrap();
        // A crash before the recovery point was checkpointed.
        let _ = std::fs::remove_file(dir.path().join("recovery-point"));
        let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut as u64).count();
        assert_eq!(log.log_end_offset(), 2 * whole as i64, "cut at {cut}");
        let kept = ends.get(whole.wrapping_sub(1)).copied().unwrap_or(0);
        assert_eq!(std::fs::metadata(log_path(dir.path(), 0)).unwrap().len(), kept);
        if whole > 0 {
            assert_eq!(parse(log.read(0, 1 << 20).unwrap().records).len(), whole);
        }
    }
}

#[test]
fn losing_data_below_the_recovery_point_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let ends = small_log(dir.path(), 3);
    let full = std::fs::read(log_path(dir.path(), 0)).unwrap();
    std::fs::write(log_path(dir.path(), 0), &full[..ends[1] as usize + 5]).unwrap();
    let err = PartitionLog::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(
        matches!(err, StorageError::Corrupt { position, .. } if position == ends[1]),
        "{err}"
    );
}

#[test]
fn corrupted_last_batch_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let ends = small_log(dir.path(), 4);
    let mut bytes = std::fs::read(log_path(dir.path(), 0)).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(log_path(dir.path(), 0), &bytes).unwrap();
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.size_bytes(), ends[2]);
    // Appending continues where the valid data ends.
    assert_eq!(log.append(batch(1, 0, 1), opts(0)).unwrap().base_offset, 6);
}

#[test]
fn corrupted_batch_before_valid_ones_in_the_active_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ends = small_log(dir.path(), 4);
    let mut bytes = std::fs::read(log_path(dir.path(), 0)).unwrap();
    bytes[ends[1] as usize - 2] ^= 0x01;
    std::fs::write(log_path(dir.path(), 0), &bytes).unwrap();
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let err = PartitionLog::open(dir.path(), LogConfig::default()).unwrap_err();
    match err {
        StorageError::Corrupt { position, segment, .. } => {
            assert_eq!(position, ends[0]);
            assert_eq!(segment, log_path(dir.path(), 0));
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    // Nothing was truncated.
    assert_eq!(std::fs::read(log_path(dir.path(), 0)).unwrap(), bytes);
}

#[test]
fn corruption_in_a_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config()).unwrap();
    for i in 0..100 {
        log.append(batch(2, i, 50), opts(0)).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3);
    log.flush().unwrap();
    drop(log);
    // Damage the tail of the second segment (not the last one).
    let path = log_path(dir.path(), bases[1]);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let err = PartitionLog::open(dir.path(), small_config()).unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt { segment, .. } if *segment == path),
        "{err}"
    );
    // Also when the sealed segment was cut short.
    std::fs::write(&path, &bytes[..n - 10]).unwrap();
    let err = PartitionLog::open(dir.path(), small_config()).unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt { segment, .. } if *segment == path),
        "{err}"
    );
}

#[test]
fn torn_index_and_leftover_files_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config()).unwrap();
    for i in 0..60 {
        log.append(batch(2, i * 10, 50), opts(0)).unwrap();
    }
    let bases = log.segment_base_offsets();
    let end = log.log_end_offset();
    log.close().unwrap();
    // Half an index entry in a trusted segment; an orphan index file.
    let index = dir.path().join(format!("{:020}.index", bases[0]));
    let mut b = std::fs::read(&index).unwrap();
    b.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&index, b).unwrap();
    std::fs::write(dir.path().join(format!("{:020}.index", 999_999)), [0u8; 8]).unwrap();
    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert!(!dir.path().join(format!("{:020}.index", 999_999)).exists());
    for o in 0..end {
        let got = parse(log.read(o, 1).unwrap().records);
        assert!(got[0].header().base_offset <= o && o <= got[0].header().last_offset().unwrap());
    }
    assert_eq!(log.offset_for_timestamp(305).unwrap(), Some((62, 310)));
}

#[test]
fn destroyed_length_field_before_valid_batches_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ends = small_log(dir.path(), 4);
    let mut bytes = std::fs::read(log_path(dir.path(), 0)).unwrap();
    // The length field of the second batch becomes garbage.
    let at = ends[0] as usize + 8;
    bytes[at..at + 4].copy_from_slice(&0x7fff_0000i32.to_be_bytes());
    std::fs::write(log_path(dir.path(), 0), &bytes).unwrap();
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let err = PartitionLog::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(
        matches!(err, StorageError::Corrupt { position, .. } if position == ends[0]),
        "{err}"
    );
}

#[test]
fn zero_filled_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let ends = small_log(dir.path(), 2);
    let mut bytes = std::fs::read(log_path(dir.path(), 0)).unwrap();
    bytes.extend_from_slice(&[0u8; 10_000]);
    std::fs::write(log_path(dir.path(), 0), &bytes).unwrap();
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.size_bytes(), ends[1]);
}

#[test]
fn clean_shutdown_skips_recovery_and_a_crash_after_open_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.recovered_segments(), 0);
    for i in 0..80 {
        log.append(batch(2, i * 10, 50), opts(0)).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments > 2);
    log.close().unwrap();
    assert!(dir.path().join("clean-shutdown").exists());

    let mut log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.recovered_segments(), 0);
    assert!(!dir.path().join("clean-shutdown").exists());
    assert_eq!(log.log_end_offset(), 160);
    for o in (0..160).step_by(7) {
        let got = parse(log.read(o, 1).unwrap().records);
        assert!(got[0].header().base_offset <= o && o <= got[0].header().last_offset().unwrap());
    }
    assert_eq!(log.offset_for_timestamp(785).unwrap(), Some((158, 790)));
    assert_eq!(log.max_timestamp().unwrap(), Some((159, 791)));
    // The reopened active segment keeps taking appends.
    assert_eq!(log.append(batch(1, 5000, 5), opts(0)).unwrap().base_offset, 160);
    drop(log); // a crash: no marker

    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.recovered_segments(), 1);
    assert_eq!(log.log_end_offset(), 161);
    assert_eq!(log.offset_for_timestamp(4000).unwrap(), Some((160, 5000)));
    log.close().unwrap();

    // A marker that no longer matches the active segment (bytes appended
    // after the clean shutdown) is ignored: recovery truncates them.
    let active = *PartitionLog::open(dir.path(), small_config())
        .unwrap()
        .segment_base_offsets()
        .last()
        .unwrap();
    PartitionLog::open(dir.path(), small_config()).unwrap().close().unwrap();
    let path = log_path(dir.path(), active);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[7u8; 30]);
    std::fs::write(&path, &bytes).unwrap();
    let log = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert!(log.recovered_segments() >= 1);
    assert_eq!(log.log_end_offset(), 161);
}

/// Deterministic pseudo-random damage to the active segment's tail: after
/// reopening, the log is either a valid prefix of what was written (torn
/// tail) or reports corruption; it never serves damaged bytes.
#[test]
fn random_tail_damage_never_serves_bad_data() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let ends = small_log(dir.path(), 6);
        let path = log_path(dir.path(), 0);
        let mut bytes = std::fs::read(&path).unwrap();
        // Damage somewhere in the last two batches: flip, cut or both.
        let from = ends[3] as usize;
        let at = from + rand((bytes.len() - from) as u64) as usize;
        match round % 3 {
            0 => bytes[at] ^= 1 << rand(8),
            1 => bytes.truncate(at),
            _ => {
                bytes[at] ^= 0x80;
                let cut = at + rand((bytes.len() - at) as u64) as usize;
                bytes.truncate(cut.max(at + 1));
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
        match PartitionLog::open(dir.path(), LogConfig::default()) {
            Ok(log) => {
                let end = log.log_end_offset();
                assert!(end >= 6 && end % 2 == 0, "round {round}: end {end}");
                let whole = (end / 2) as usize;
                assert_eq!(log.size_bytes(), ends[whole - 1], "round {round}");
                assert_eq!(parse(log.read(0, 1 << 20).unwrap().records).len(), whole);
            }
            Err(StorageError::Corrupt { position, .. }) => {
                assert!(position >= ends[2], "round {round}: {position}");
            }
            Err(e) => panic!("round {round}: {e}"),
        }
    }
}

#[test]
fn damaged_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    small_log(dir.path(), 3);
    std::fs::write(dir.path().join("recovery-point"), "garbage").unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.recovered_segments(), 1);
    assert_eq!(log.log_end_offset(), 6);
    drop(log);
    std::fs::write(dir.path().join("log-start-offset"), "x").unwrap();
    let err = PartitionLog::open(dir.path(), LogConfig::default()).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}

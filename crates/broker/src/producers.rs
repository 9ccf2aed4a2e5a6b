//! Idempotent producer state of one partition: for each producer id, its current epoch and the
//! last five batches it wrote, as Kafka keeps them.
//!
//! Every batch with a producer id is checked before it is appended, under the partition's write
//! lock, so the check and the append are one step:
//! - an epoch older than the producer's current one is fenced: INVALID_PRODUCER_EPOCH;
//! - a batch whose sequence range equals one of the last five batches is a retry of a write that
//!   already happened: it is not appended again, and the original offsets are returned;
//! - otherwise its first sequence must follow the last one written (wrapping at `i32::MAX`), or be
//!   0 for a new epoch or a producer this partition has not seen: anything else is
//!   OUT_OF_ORDER_SEQUENCE_NUMBER.
//!
//! The state is rebuilt on open from the batch headers in the log (producer id, epoch, sequences
//! and offsets are all in the header), so it survives restarts without a file of its own.

use sluice_protocol::ErrorCode;
use sluice_protocol::records::{BatchHeader, NO_PRODUCER_ID};
use std::collections::{HashMap, VecDeque};

/// How many recent batches per producer are kept for duplicate detection, as in Kafka (clients
/// keep at most five requests in flight with idempotence on).
pub const BATCHES_KEPT: usize = 5;

/// One batch a producer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// First sequence in the batch.
    pub first_sequence: i32,
    /// Last sequence in the batch.
    pub last_sequence: i32,
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
}

/// What this partition knows of one producer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The producer's current epoch here.
    pub epoch: i16,
    /// Its last batches, oldest first, at most [`BATCHES_KEPT`].
    pub batches: VecDeque<BatchMeta>,
    /// Max timestamp of its last batch: the entry expires `producer.id.expiration.ms` after it,
    /// as Kafka's `ProducerStateEntry.lastTimestamp`.
    pub last_timestamp_ms: i64,
}

/// The verdict on a batch about to be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not an idempotent batch, or in sequence: append it.
    Append,
    /// Already written: answer with these offsets, append nothing.
    Duplicate(BatchMeta),
    /// Refused with this error.
    Reject(ErrorCode),
}

/// Producer state of one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerState {
    /// Entries by producer id.
    producers: HashMap<i64, ProducerEntry>,
}

/// The sequence after `seq`, wrapping as Kafka's sequences do.
fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

/// A batch's last sequence: the first plus its last offset delta, wrapping.
pub fn last_sequence(header: &BatchHeader) -> i32 {
    let last = i64::from(header.base_sequence) + i64::from(header.last_offset_delta);
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

impl ProducerState {
    /// Checks a batch before it is appended.
    pub fn check(&self, header: &BatchHeader) -> Check {
        if header.producer_id == NO_PRODUCER_ID {
            return Check::Append;
        }
        let first = header.base_sequence;
        let last = last_sequence(header);
        let Some(entry) = self.producers.get(&header.producer_id) else {
            // A producer this partition has not seen starts at 0.
            return if first == 0 {
                Check::Append
            } else {
                Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
            };
        };
        if header.producer_epoch < entry.epoch {
            return Check::Reject(ErrorCode::InvalidProducerEpoch);
        }
        if header.producer_epoch > entry.epoch {
            return if first == 0 {
                Check::Append
            } else {
                Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == first && b.last_sequence == last)
        {
            return Check::Duplicate(*dup);
        }
        match entry.batches.back() {
            Some(prev) if first == next_sequence(prev.last_sequence) => Check::Append,
            None if first == 0 => Check::Append,
            _ => Check::Reject(ErrorCode::OutOfOrderSequenceNumber),
        }
    }

    /// Records a batch that was appended at `base_offset`.
    pub fn record(&mut self, header: &BatchHeader, base_offset: i64) {
        if header.producer_id == NO_PRODUCER_ID {
            return;
        }
        let entry = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = header.producer_epoch;
        }
        entry.last_timestamp_ms = header.max_timestamp_ms;
        entry.batches.push_back(BatchMeta {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            base_offset,
            last_offset: base_offset + i64::from(header.last_offset_delta),
        });
        while entry.batches.len() > BATCHES_KEPT {
            entry.batches.pop_front();
        }
    }

    /// Rebuilds the state from the batch headers of a log, in offset order.
    pub fn rebuild<E>(headers: impl Iterator<Item = Result<BatchHeader, E>>) -> Result<ProducerState, E> {
        let mut state = ProducerState::default();
        for header in headers {
            let header = header?;
            state.record(&header, header.base_offset);
        }
        Ok(state)
    }

    /// Drops producers whose last batch is `expiration_ms` or more older than `now_ms`
    /// (Kafka's `removeExpiredProducers`; transactions, which would keep an entry alive, come
    /// with the transaction coordinator). Returns how many were dropped. A dropped producer
    /// that writes again is new here and must start at sequence 0.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp_ms) < expiration_ms);
        before - self.producers.len()
    }

    /// Every producer with state here, by ascending id (DescribeProducers).
    pub fn entries(&self) -> Vec<(i64, &ProducerEntry)> {
        let mut all: Vec<(i64, &ProducerEntry)> = self.producers.iter().map(|(id, e)| (*id, e)).collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }

    /// The entry of one producer, for tests and introspection.
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, first_seq: i32, records: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: first_seq,
            last_offset_delta: records - 1,
            records_count: records,
            batch_length_bytes: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: Default::default(),
            base_timestamp_ms: 0,
            max_timestamp_ms: 0,
        }
    }

    #[test]
    fn in_sequence_duplicates_gaps_and_fencing() {
        let mut s = ProducerState::default();
        assert_eq!(
            s.check(&batch(7, 0, 3, 1, 0)),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber),
            "new producer must start at 0"
        );
        let b0 = batch(7, 0, 0, 5, 0);
        assert_eq!(s.check(&b0), Check::Append);
        s.record(&b0, 100);
        let b1 = batch(7, 0, 5, 5, 0);
        assert_eq!(s.check(&b1), Check::Append);
        s.record(&b1, 105);
        // A retry of either batch is a duplicate with its original offsets.
        assert_eq!(
            s.check(&b0),
            Check::Duplicate(BatchMeta {
                first_sequence: 0,
                last_sequence: 4,
                base_offset: 100,
                last_offset: 104
            })
        );
        assert!(matches!(
            s.check(&b1),
            Check::Duplicate(BatchMeta { base_offset: 105, .. })
        ));
        // A gap is out of order.
        assert_eq!(
            s.check(&batch(7, 0, 11, 1, 0)),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
        // An older epoch is fenced; a newer one starts over at 0.
        assert_eq!(
            s.check(&batch(7, -1, 10, 1, 0)),
            Check::Reject(ErrorCode::InvalidProducerEpoch)
        );
        assert_eq!(
            s.check(&batch(7, 1, 10, 1, 0)),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
        let e1 = batch(7, 1, 0, 1, 0);
        assert_eq!(s.check(&e1), Check::Append);
        s.record(&e1, 110);
        assert_eq!(
            s.check(&b1),
            Check::Reject(ErrorCode::InvalidProducerEpoch),
            "old epoch fenced after bump"
        );
        // Batches without a producer id are never checked.
        assert_eq!(s.check(&batch(NO_PRODUCER_ID, -1, -1, 3, 0)), Check::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerState::default();
        for i in 0..7 {
            let b = batch(1, 0, i, 1, 0);
            assert_eq!(s.check(&b), Check::Append);
            s.record(&b, i64::from(i));
        }
        assert_eq!(s.entry(1).unwrap().batches.len(), BATCHES_KEPT);
        assert!(matches!(s.check(&batch(1, 0, 6, 1, 0)), Check::Duplicate(_)));
        assert!(matches!(s.check(&batch(1, 0, 2, 1, 0)), Check::Duplicate(_)));
        // Older than the window: neither a known duplicate nor in sequence.
        assert_eq!(
            s.check(&batch(1, 0, 1, 1, 0)),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn idle_producers_expire() {
        let mut s = ProducerState::default();
        let mut old = batch(1, 0, 0, 1, 0);
        old.max_timestamp_ms = 1_000;
        s.record(&old, 0);
        let mut recent = batch(2, 0, 0, 1, 1);
        recent.max_timestamp_ms = 50_000;
        s.record(&recent, 1);
        assert_eq!(s.remove_expired(60_999, 60_000), 0, "not yet");
        assert_eq!(s.remove_expired(61_000, 60_000), 1);
        assert!(s.entry(1).is_none() && s.entry(2).is_some());
        // Forgotten: its next batch is judged as a new producer's.
        assert_eq!(
            s.check(&batch(1, 0, 1, 1, 2)),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut s = ProducerState::default();
        // A batch ending exactly at i32::MAX: the next one starts at 0.
        s.record(&batch(2, 0, i32::MAX - 1, 2, 0), 0);
        assert_eq!(s.check(&batch(2, 0, 0, 1, 2)), Check::Append);
        assert_eq!(
            s.check(&batch(2, 0, 1, 1, 2)),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
        // A batch spanning the wrap counts its last sequence on from 0.
        assert_eq!(last_sequence(&batch(3, 0, i32::MAX, 3, 0)), 1);
    }

    #[test]
    fn state_rebuilds_from_headers() {
        let headers = vec![
            batch(1, 0, 0, 2, 0),
            batch(2, 0, 0, 1, 2),
            batch(1, 0, 2, 2, 3),
            batch(NO_PRODUCER_ID, -1, -1, 1, 5),
        ];
        let s = ProducerState::rebuild(headers.into_iter().map(Ok::<_, ()>)).unwrap();
        assert_eq!(s.check(&batch(1, 0, 4, 1, 0)), Check::Append);
        assert!(matches!(
            s.check(&batch(1, 0, 2, 2, 0)),
            Check::Duplicate(BatchMeta {
                base_offset: 3,
                last_offset: 4,
                ..
            })
        ));
        assert_eq!(s.check(&batch(2, 0, 1, 1, 0)), Check::Append);
    }
}

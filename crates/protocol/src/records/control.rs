//! Control records: the single record of a control batch.
//!
//! The key is `version: i16, type: i16`; for transaction markers (ABORT,
//! COMMIT) the value is an `EndTxnMarker`: `version: i16,
//! coordinatorEpoch: i32`. Newer versions may append fields, so decoding
//! reads the known prefix and ignores the rest, as Kafka does.

use bytes::Bytes;

use super::error::RecordsError;
use super::record::Record;
use super::wire::{i16_at, i32_at};

/// Version of the control record key this module writes.
pub const CONTROL_KEY_VERSION: i16 = 0;
/// Version of the end-transaction marker value this module writes.
pub const END_TXN_MARKER_VERSION: i16 = 0;

/// The `type` of a control record key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Transaction aborted (0).
    Abort,
    /// Transaction committed (1).
    Commit,
    /// KRaft: leader change (2).
    LeaderChange,
    /// KRaft: snapshot header (3).
    SnapshotHeader,
    /// KRaft: snapshot footer (4).
    SnapshotFooter,
    /// KRaft: kraft.version change (5).
    KraftVersion,
    /// KRaft: voter set change (6).
    KraftVoters,
    /// A type this code does not know; consumers should skip it.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type for wire id `id`.
    pub fn from_id(id: i16) -> ControlRecordType {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KraftVersion,
            6 => ControlRecordType::KraftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// The wire id.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KraftVersion => 5,
            ControlRecordType::KraftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// True for ABORT and COMMIT, whose value is an [`EndTxnMarker`].
    pub fn is_transaction_marker(self) -> bool {
        matches!(self, ControlRecordType::Abort | ControlRecordType::Commit)
    }
}

/// The key of a control record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlRecordKey {
    /// Key schema version; higher versions are read as version 0, since new
    /// versions may only append fields.
    pub version: i16,
    /// What kind of control record this is.
    pub record_type: ControlRecordType,
}

impl ControlRecordKey {
    /// A version 0 key of the given type.
    pub fn new(record_type: ControlRecordType) -> ControlRecordKey {
        ControlRecordKey {
            version: CONTROL_KEY_VERSION,
            record_type,
        }
    }

    /// Decodes a key; rejects negative versions and keys under 4 bytes.
    pub fn decode(key: &[u8]) -> Result<ControlRecordKey, RecordsError> {
        let version = i16_at(key, 0).ok_or(RecordsError::InvalidControlRecord("key shorter than 4 bytes"))?;
        if version < 0 {
            return Err(RecordsError::InvalidControlRecord("negative key version"));
        }
        let id = i16_at(key, 2).ok_or(RecordsError::InvalidControlRecord("key shorter than 4 bytes"))?;
        Ok(ControlRecordKey {
            version,
            record_type: ControlRecordType::from_id(id),
        })
    }

    /// Encodes the key (4 bytes).
    pub fn encode(&self) -> [u8; 4] {
        let [v0, v1] = self.version.to_be_bytes();
        let [t0, t1] = self.record_type.id().to_be_bytes();
        [v0, v1, t0, t1]
    }
}

/// The value of an ABORT or COMMIT control record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// Value schema version; higher versions are read as version 0.
    pub version: i16,
    /// Epoch of the transaction coordinator that wrote the marker; lets the
    /// broker fence markers from a stale coordinator.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// A version 0 marker.
    pub fn new(coordinator_epoch: i32) -> EndTxnMarker {
        EndTxnMarker {
            version: END_TXN_MARKER_VERSION,
            coordinator_epoch,
        }
    }

    /// Decodes a marker value; rejects negative versions and values under 6
    /// bytes.
    pub fn decode(value: &[u8]) -> Result<EndTxnMarker, RecordsError> {
        let version = i16_at(value, 0).ok_or(RecordsError::InvalidControlRecord(
            "end transaction marker shorter than 6 bytes",
        ))?;
        if version < 0 {
            return Err(RecordsError::InvalidControlRecord(
                "negative end transaction marker version",
            ));
        }
        let coordinator_epoch = i32_at(value, 2).ok_or(RecordsError::InvalidControlRecord(
            "end transaction marker shorter than 6 bytes",
        ))?;
        Ok(EndTxnMarker {
            version,
            coordinator_epoch,
        })
    }

    /// Encodes the marker (6 bytes).
    pub fn encode(&self) -> [u8; 6] {
        let [v0, v1] = self.version.to_be_bytes();
        let [e0, e1, e2, e3] = self.coordinator_epoch.to_be_bytes();
        [v0, v1, e0, e1, e2, e3]
    }
}

impl Record {
    /// Decodes this record's key as a control record key. Only meaningful
    /// for records of a control batch.
    pub fn control_key(&self) -> Result<ControlRecordKey, RecordsError> {
        let key = self
            .key
            .as_ref()
            .ok_or(RecordsError::InvalidControlRecord("control record has a null key"))?;
        ControlRecordKey::decode(key)
    }

    /// Decodes this record as a transaction marker: its type (ABORT or
    /// COMMIT) and value.
    pub fn end_txn_marker(&self) -> Result<(ControlRecordType, EndTxnMarker), RecordsError> {
        let key = self.control_key()?;
        if !key.record_type.is_transaction_marker() {
            return Err(RecordsError::InvalidControlRecord(
                "control record is not a transaction marker",
            ));
        }
        let value = self.value.as_ref().ok_or(RecordsError::InvalidControlRecord(
            "transaction marker has a null value",
        ))?;
        Ok((key.record_type, EndTxnMarker::decode(value)?))
    }
}

/// Key and value bytes of a transaction marker record.
pub(crate) fn end_txn_marker_record(record_type: ControlRecordType, marker: EndTxnMarker) -> (Bytes, Bytes) {
    let key = ControlRecordKey::new(record_type).encode();
    (Bytes::copy_from_slice(&key), Bytes::copy_from_slice(&marker.encode()))
}

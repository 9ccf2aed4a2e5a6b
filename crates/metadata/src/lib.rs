//! Cluster metadata: an ordered log of records applied to an in-memory image.
//!
//! Every change to topics, partitions, configs, brokers and producer-id blocks is a
//! [`MetadataRecord`]. The [`MetadataStore`] appends records to the [`log`] (fsynced before the
//! change is acknowledged) and applies them, in offset order, to the [`MetadataImage`] that the
//! broker reads. Replaying the log from the start rebuilds the same image.
//!
//! Today the quorum is this one node: a commit is durable once it is in the local log. The
//! clustering work replaces [`MetadataStore::commit`]'s local append with a Raft proposal; the
//! records, the image and the apply rule stay as they are, which is why the log carries an epoch.
//!
//! # Invariants
//! - The image at offset `n` is exactly the result of applying entries `0..=n` in order.
//! - A batch of records commits whole or not at all: it is checked against a copy of the image
//!   before anything is written.
//! - Nothing is applied before it is durable.

pub mod image;
pub mod log;
pub mod record;

pub use image::{ApplyError, BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use log::{Entry, LogError, MetadataLog};
pub use record::{
    AclEntry, ConfigResource, MetadataRecord, QuotaEntity, QuotaValue, RecordError, ScramCredentialEntry,
};

use std::path::Path;

/// Why a commit or start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("metadata log entry {offset} does not apply: {source}")]
    Replay { offset: i64, source: ApplyError },
    #[error(transparent)]
    Rejected(#[from] ApplyError),
}

/// The metadata log and the image it produces, for a quorum of one.
pub struct MetadataStore {
    /// The durable log.
    log: MetadataLog,
    /// The image after every committed record.
    image: MetadataImage,
    /// The epoch written into new entries (0 until there is a leader election).
    epoch: i32,
}

impl MetadataStore {
    /// Opens the log in `dir` (file `metadata.log`) and replays it into the image.
    pub fn open(dir: &Path) -> Result<MetadataStore, MetadataError> {
        std::fs::create_dir_all(dir).map_err(|source| LogError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let (log, entries) = MetadataLog::open(&dir.join("metadata.log"))?;
        let mut image = MetadataImage::empty();
        let mut epoch = 0;
        for entry in entries {
            image
                .apply(entry.offset, &entry.record)
                .map_err(|source| MetadataError::Replay {
                    offset: entry.offset,
                    source,
                })?;
            epoch = epoch.max(entry.epoch);
        }
        Ok(MetadataStore { log, image, epoch })
    }

    /// The current image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The epoch of the quorum's current leader (this node), as DescribeQuorum reports it.
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Commits `records` as one batch: checked against the image, made durable, then applied.
    /// Returns the offset of the last record.
    pub fn commit(&mut self, records: &[MetadataRecord]) -> Result<i64, MetadataError> {
        let first = self.log.next_offset();
        let mut next = self.image.clone();
        for (i, record) in records.iter().enumerate() {
            next.apply(first + i as i64, record)?;
        }
        self.log.append(self.epoch, records)?;
        self.image = next;
        Ok(self.image.offset)
    }
}

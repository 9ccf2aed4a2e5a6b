//! Group commit: many producers waiting for acks=all share one fdatasync.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::error::{Result, StorageError};

/// A cloneable handle that makes appended data durable, shared by every
/// producer of one partition. Get it with
/// [`PartitionLog::sync_handle`](crate::PartitionLog::sync_handle).
///
/// It holds the active segment's file (not the log), so fsyncs run without
/// the broker's lock on the [`PartitionLog`](crate::PartitionLog): appends
/// and reads continue while a flush is in flight.
///
/// # Group commit
///
/// [`wait_durable`](SyncHandle::wait_durable) returns once every offset
/// below `end_offset` is on stable storage. If no flush is running, the
/// caller becomes the flusher: it snapshots "everything written so far"
/// and runs one `fdatasync` on tokio's blocking pool. Callers arriving
/// while a flush runs wait for it; if it did not cover them, the first of
/// them to wake starts the next flush, covering all of them at once. So N
/// concurrent producers cost about two fsyncs, not N.
///
/// # Failure
///
/// A failed fsync is sticky: the kernel may already have dropped the dirty
/// pages, so a retry could succeed without the data being on disk. Every
/// later call returns [`StorageError::Failed`]; reopening the log runs
/// recovery.
#[derive(Clone, Debug)]
pub struct SyncHandle {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    status: watch::Sender<Status>,
    fsyncs: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// The active segment's `.log`; earlier segments were fsynced when they
    /// were rolled.
    file: Arc<File>,
    path: PathBuf,
    /// Log end offset after the last completed write: everything below it
    /// is in the page cache, so an fsync started now covers it.
    written_offset: i64,
    /// A group-commit flush is in flight.
    flushing: bool,
}

#[derive(Clone, Debug)]
struct Status {
    durable_offset: i64,
    failed: Option<String>,
}

impl SyncHandle {
    pub(crate) fn new(file: Arc<File>, path: PathBuf, durable_offset: i64) -> SyncHandle {
        let (status, _) = watch::channel(Status {
            durable_offset,
            failed: None,
        });
        SyncHandle {
            inner: Arc::new(Shared {
                state: Mutex::new(State {
                    file,
                    path,
                    written_offset: durable_offset,
                    flushing: false,
                }),
                status,
                fsyncs: AtomicU64::new(0),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that everything below `offset` has been written.
    pub(crate) fn set_written(&self, offset: i64) {
        let mut st = self.state();
        st.written_offset = st.written_offset.max(offset);
    }

    /// Switches to a new active segment after the old one was sealed
    /// (fsynced), which made everything below `base_offset` durable.
    pub(crate) fn set_active(&self, file: Arc<File>, path: PathBuf, base_offset: i64) {
        {
            let mut st = self.state();
            st.file = file;
            st.path = path;
            st.written_offset = st.written_offset.max(base_offset);
        }
        self.mark_durable(base_offset);
    }

    /// Advances the durable offset after the caller fsynced the data.
    pub(crate) fn mark_durable(&self, offset: i64) {
        self.inner.status.send_if_modified(|s| {
            let advanced = offset > s.durable_offset;
            s.durable_offset = s.durable_offset.max(offset);
            advanced
        });
    }

    /// Marks the handle failed (see the type docs).
    pub(crate) fn fail(&self, reason: String) {
        self.inner.status.send_modify(|s| {
            s.failed.get_or_insert(reason);
        });
    }

    /// Every offset below this is on stable storage.
    pub fn durable_offset(&self) -> i64 {
        self.inner.status.borrow().durable_offset
    }

    /// The reason the handle failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.inner.status.borrow().failed.clone()
    }

    /// fdatasync calls made through this handle so far (for tests and
    /// metrics).
    pub fn fsync_count(&self) -> u64 {
        self.inner.fsyncs.load(Ordering::Relaxed)
    }

    /// One flush on the calling thread: fdatasync the active segment and
    /// advance the durable offset to what was written before it started.
    fn round(&self) -> Result<i64> {
        if let Some(reason) = self.failure() {
            return Err(StorageError::Failed(reason));
        }
        let (file, path, written) = {
            let st = self.state();
            (st.file.clone(), st.path.clone(), st.written_offset)
        };
        self.inner.fsyncs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = file.sync_data() {
            let err = StorageError::io(path, e);
            self.fail(err.to_string());
            return Err(err);
        }
        self.mark_durable(written);
        Ok(self.durable_offset())
    }

    /// Blocking flush of everything written so far, on this thread. Returns
    /// the new durable offset. Used by `flush.messages`/`flush.ms` and
    /// [`PartitionLog::flush`](crate::PartitionLog::flush); from async code
    /// prefer [`wait_durable`](SyncHandle::wait_durable).
    pub fn sync_blocking(&self) -> Result<i64> {
        self.round()
    }

    /// Waits until every offset below `end_offset` (i.e. up to
    /// `AppendInfo::last_offset`, passed as `last_offset + 1`) is durable,
    /// sharing fsyncs with concurrent callers (group commit, see the type
    /// docs). `end_offset` is clamped to what has been written, so asking
    /// for the future does not loop. Needs a tokio runtime (the fsync runs
    /// on the blocking pool). Cancel-safe: dropping the future never
    /// leaves a flush half-registered.
    pub async fn wait_durable(&self, end_offset: i64) -> Result<i64> {
        let end_offset = end_offset.min(self.state().written_offset);
        let mut rx = self.inner.status.subscribe();
        loop {
            {
                let s = rx.borrow_and_update();
                if let Some(reason) = &s.failed {
                    return Err(StorageError::Failed(reason.clone()));
                }
                if s.durable_offset >= end_offset {
                    return Ok(s.durable_offset);
                }
            }
            let lead = {
                let mut st = self.state();
                !std::mem::replace(&mut st.flushing, true)
            };
            if lead {
                let this = self.clone();
                // The blocking task clears `flushing` and wakes waiters
                // itself, so cancelling this future cannot wedge the group.
                let task = tokio::task::spawn_blocking(move || {
                    let result = this.round();
                    this.state().flushing = false;
                    this.inner.status.send_modify(|_| {});
                    result
                });
                match task.await {
                    Ok(result) => {
                        result?;
                    }
                    Err(e) => return Err(StorageError::Failed(format!("flush task failed: {e}"))),
                }
            } else if rx.changed().await.is_err() {
                return Err(StorageError::Failed("sync handle closed".into()));
            }
        }
    }
}

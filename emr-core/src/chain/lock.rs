//! One writer per chain database: an exclusive `flock` on the database file.
//!
//! `flock` locks are separate from the POSIX record locks SQLite takes on
//! the same file, so the two never interfere, and the kernel drops ours when
//! the process dies: a killed writer never leaves a chain locked.
//!
//! POSIX record locks have one trap: closing *any* descriptor of a file
//! drops all of the process's record locks on it, SQLite's included. So a
//! second writer in this process must not open the file just to find it
//! locked; a process-wide set of locked files answers that without a
//! descriptor. (A chain opened read-only in this process can still lose
//! its SQLite read lock for an instant when a writer handle of the same file
//! closes, or when a writer is refused because another process holds the
//! lock; SQLite's WAL read marks in the `-shm` file, which are what protect
//! a WAL reader's snapshot, are not affected.)

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use super::error::ChainError;

/// Files this process holds the write lock of, by device and inode.
fn held() -> &'static Mutex<HashSet<(u64, u64)>> {
    static HELD: OnceLock<Mutex<HashSet<(u64, u64)>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// The write lock of one chain database, released on drop.
#[derive(Debug)]
pub(crate) struct WriterLock {
    // Held only to keep the lock: closing it releases the flock.
    _file: File,
    key: (u64, u64),
}

impl WriterLock {
    /// Takes the lock on `path`, creating the file (empty: SQLite treats an
    /// empty file as a new database) when it does not exist.
    pub(crate) fn acquire(path: &Path) -> Result<WriterLock, ChainError> {
        let locked = || ChainError::Locked { path: path.display().to_string() };
        let mut set = held().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Ok(meta) = std::fs::metadata(path) {
            if set.contains(&(meta.dev(), meta.ino())) {
                return Err(locked());
            }
        }
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        // The set stays locked since the look above, so no handle of ours
        // can have taken this inode in between.
        let meta = file.metadata()?;
        let key = (meta.dev(), meta.ino());
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(locked()),
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        set.insert(key);
        Ok(WriterLock { _file: file, key })
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        held().lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&self.key);
    }
}

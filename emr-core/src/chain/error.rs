//! Why a chain operation failed.

use crate::block::BlockError;
use crate::entry::EntryError;
use crate::error::ErrorKind;
use crate::hash::Hash256;
use crate::record::RecordError;

/// Why a chain operation failed; each variant maps to one [`ErrorKind`]
/// (a block's own failure keeps its block kind).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A parameter outside its range (window, block time or clamp of 0).
    #[error("invalid_argument: {0}")]
    InvalidParams(&'static str),
    /// The chain was created with other parameters than those given.
    #[error("invalid_argument: the chain was created with other parameters")]
    ParamsMismatch,
    /// The chain was created with other authorities (SPEC 8.1: fixed for the
    /// chain's life) than those given. Kind `invalid_argument`: the caller's
    /// argument is wrong, the chain is fine.
    #[error("invalid_argument: the chain was created with other authorities ({stored} stored, {given} given)")]
    AuthoritiesMismatch {
        /// How many authorities the chain holds.
        stored: usize,
        /// How many were given.
        given: usize,
    },
    /// A chain file of an older format opened read-only: it is upgraded on
    /// the first open for writing.
    #[error("invalid_argument: the chain file is format {found}; open it for writing once to upgrade it to format {current}")]
    OldFormat {
        /// The file's format.
        found: i64,
        /// This version's.
        current: i64,
    },
    /// A chain file of an older format that cannot be upgraded; the text
    /// says why and what to do.
    #[error("invalid_argument: this chain file cannot be upgraded to SPEC v1.2: {0}")]
    NotUpgradable(&'static str),
    /// The chain was closed ([`super::SharedChain::close`]).
    #[error("invalid_argument: the chain is closed")]
    Closed,
    /// A write on a chain opened with [`super::Chain::open_readonly`].
    #[error("invalid_argument: the chain is open read-only")]
    ReadOnly,
    /// `previous` is the id of no known block.
    #[error("unknown_parent: no known block has id {previous}")]
    UnknownParent {
        /// The block's `previous`.
        previous: Hash256,
    },
    /// The height is not the parent's height + 1 (0 for a genesis block).
    #[error("wrong_height: expected height {expected}, block has {found}")]
    WrongHeight {
        /// The parent's height + 1.
        expected: u64,
        /// The block's height.
        found: u64,
    },
    /// The timestamp is before the parent's.
    #[error("timestamp_too_early: block time {timestamp} is before its parent's {parent}")]
    TimestampTooEarly {
        /// The parent's timestamp.
        parent: u64,
        /// The block's timestamp.
        timestamp: u64,
    },
    /// The timestamp is more than the chain's `max_future` seconds after the
    /// caller's current time. Not marked invalid: the block may be offered
    /// again once its time has come.
    #[error("timestamp_too_late: block time {timestamp} is after {limit}")]
    TimestampTooLate {
        /// The caller's time + `max_future`.
        limit: u64,
        /// The block's timestamp.
        timestamp: u64,
    },
    /// A block failed section 3's checks. `height` and `block_id` name the
    /// block that failed, which for a block refused because an ancestor of
    /// its branch failed is that ancestor.
    #[error("block {block_id} at height {height}: {error}")]
    Block {
        /// The failed block's height.
        height: u64,
        /// The failed block's id.
        block_id: Hash256,
        /// Its error.
        #[source]
        error: BlockError,
    },
    /// A record offered to the pool ([`super::Chain::submit`]) failed
    /// verification against the doctor's state; it keeps the record's kind
    /// (`invalid_nonce` for a nonce the chain has already used).
    #[error("{0}")]
    Record(RecordError),
    /// An entry offered to the pool ([`super::Chain::submit_entry`]) failed
    /// checks 1-4 against the active chain and the entries pending before it.
    #[error("{0}")]
    Entry(EntryError),
    /// Nothing to act on (undoing an empty chain).
    #[error("not_found: {0}")]
    NotFound(&'static str),
    /// The caller's cancel handle stopped the operation.
    #[error("cancelled")]
    Cancelled,
    /// Another process (or another handle in this one) has the chain open
    /// for writing.
    #[error("locked: chain is open for writing by another process: {path}")]
    Locked {
        /// The database file.
        path: String,
    },
    /// Stored data is damaged: a block that does not hash to its id or does
    /// not decode, an index that disagrees with the blocks, SQLite's own
    /// corruption reports.
    #[error("corrupt: {table}{}: {detail}", at_height(*.height))]
    Corrupt {
        /// The table the damage was found in.
        table: &'static str,
        /// The height concerned, when there is one.
        height: Option<u64>,
        /// What was found.
        detail: String,
    },
    /// The operating system or SQLite failed (disk full, permissions, ...).
    #[error("io: {0}")]
    Io(String),
}

fn at_height(height: Option<u64>) -> String {
    height.map(|h| format!(" at height {h}")).unwrap_or_default()
}

impl ChainError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            ChainError::InvalidParams(_)
            | ChainError::ParamsMismatch
            | ChainError::AuthoritiesMismatch { .. }
            | ChainError::OldFormat { .. }
            | ChainError::NotUpgradable(_)
            | ChainError::ReadOnly
            | ChainError::Closed => ErrorKind::InvalidArgument,
            ChainError::UnknownParent { .. } => ErrorKind::UnknownParent,
            ChainError::WrongHeight { .. } => ErrorKind::WrongHeight,
            ChainError::TimestampTooEarly { .. } => ErrorKind::TimestampTooEarly,
            ChainError::TimestampTooLate { .. } => ErrorKind::TimestampTooLate,
            ChainError::Block { error, .. } => error.kind(),
            ChainError::Record(error) => error.kind(),
            ChainError::Entry(error) => error.kind(),
            ChainError::NotFound(_) => ErrorKind::NotFound,
            ChainError::Cancelled => ErrorKind::Cancelled,
            ChainError::Locked { .. } => ErrorKind::Locked,
            ChainError::Corrupt { .. } => ErrorKind::Corrupt,
            ChainError::Io(_) => ErrorKind::Io,
        }
    }

    pub(crate) fn corrupt(table: &'static str, height: Option<u64>, detail: impl Into<String>) -> ChainError {
        ChainError::Corrupt { table, height, detail: detail.into() }
    }

    /// Names the chain file `path` (`None`: in memory) in an `io` error
    /// from an operation on it: SQLite's disk errors ("unable to open
    /// database file", "disk I/O error") name no file, and an operator must
    /// know which disk is full or failing. An `io` error that already starts
    /// with the path is left as it is.
    pub(crate) fn in_file(self, path: Option<&std::path::Path>) -> ChainError {
        match (self, path) {
            (ChainError::Io(message), Some(path)) if !message.starts_with(&format!("{}", path.display())) => {
                ChainError::Io(format!("{}: {message}", path.display()))
            }
            (other, _) => other,
        }
    }

    /// Whether this is `corrupt` as SQLite reports a read the disk failed:
    /// SQLite turns a read that failed with `EIO` (`SQLITE_IOERR_CORRUPTFS`)
    /// into `SQLITE_CORRUPT` inside statements, indistinguishable from a
    /// malformed page, so any `corrupt` other than a page checksum failure
    /// may be the disk's (see `Store::unreadable`).
    pub(crate) fn may_be_disk_failure(&self) -> bool {
        matches!(self, ChainError::Corrupt { detail, .. } if !detail.starts_with(CHECKSUM_MISMATCH))
    }
}

/// How a page checksum failure's detail starts.
const CHECKSUM_MISMATCH: &str = "a page checksum does not match";

impl ChainError {
    /// Says, in a page checksum failure met on the database file at `path`,
    /// what the file's pages suggest (`pagecheck::diagnose`) and how to
    /// recover; other errors pass unchanged.
    pub(crate) fn explained(self, path: Option<&std::path::Path>) -> ChainError {
        use super::pagecheck::{diagnose, Damage};
        let (ChainError::Corrupt { table, height, detail }, Some(path)) = (&self, path) else { return self };
        if !detail.starts_with(CHECKSUM_MISMATCH) {
            return self;
        }
        const RESTORE: &str = "restore from a backup made with `emr chain backup` (docs/OPERATIONS.md, \"Backups\")";
        let why = match diagnose(path) {
            Some(Damage::ForeignWriter) => format!(
                "{CHECKSUM_MISMATCH}: the file was written by another program (sqlite3?), which does not keep the \
                 chain's page checksums; open the chain only with emr or this library, and {RESTORE}"
            ),
            Some(Damage::PageOne) => format!(
                "{CHECKSUM_MISMATCH} on page 1, the file's header: the file is damaged, or was written by another \
                 program (sqlite3?), which does not keep the chain's page checksums; {RESTORE}"
            ),
            Some(Damage::Pages) | None => format!("{detail}; {RESTORE}"),
        };
        ChainError::Corrupt { table, height: *height, detail: why }
    }
}

/// The table named by errors that SQLite reported without one; call sites
/// that know the table (and height) put theirs in with [`ChainError::at`].
const UNPLACED: &str = "sqlite";

impl ChainError {
    /// Names the table and height of a storage-damage error that SQLite
    /// reported from below (a page checksum failure, a malformed page),
    /// which carries neither, or the height of one that names this table
    /// but no height; other errors pass unchanged.
    pub(crate) fn at(self, table: &'static str, height: Option<u64>) -> ChainError {
        match self {
            ChainError::Corrupt { table: UNPLACED, height: None, detail } => ChainError::Corrupt { table, height, detail },
            // Named by a lower layer that did not know the height.
            ChainError::Corrupt { table: named, height: None, detail } if named == table => {
                ChainError::Corrupt { table, height, detail }
            }
            other => other,
        }
    }
}

impl From<rusqlite::Error> for ChainError {
    fn from(e: rusqlite::Error) -> ChainError {
        if super::pagecheck::is_checksum_failure(&e) {
            ChainError::corrupt(UNPLACED, None, format!("{CHECKSUM_MISMATCH}: the file is damaged ({e})"))
        } else if super::pagecheck::is_storage_damage(&e) {
            ChainError::corrupt(UNPLACED, None, e.to_string())
        } else {
            ChainError::Io(storage_failure(&e).unwrap_or_else(|| e.to_string()))
        }
    }
}

/// What the operating system refused, in words an operator acts on, for
/// SQLite's disk errors: "disk full" for `SQLITE_FULL` (a write met
/// `ENOSPC`), and which operation failed for `SQLITE_IOERR_*` (SQLite says
/// only "disk I/O error"). `None` for other errors.
fn storage_failure(e: &rusqlite::Error) -> Option<String> {
    use rusqlite::ffi;
    let code = e.sqlite_error()?;
    if code.code == rusqlite::ErrorCode::DiskFull {
        return Some(format!("disk full: SQLite could not write ({e})"));
    }
    if code.code != rusqlite::ErrorCode::SystemIoFailure {
        return None;
    }
    let doing = match code.extended_code {
        // CORRUPTFS: a read that failed with EIO (SQLite turns it into
        // "corrupt" inside statements, not everywhere).
        ffi::SQLITE_IOERR_READ | ffi::SQLITE_IOERR_CORRUPTFS => "reading",
        ffi::SQLITE_IOERR_SHORT_READ => "reading (the file ended early)",
        ffi::SQLITE_IOERR_WRITE => "writing",
        ffi::SQLITE_IOERR_FSYNC | ffi::SQLITE_IOERR_DIR_FSYNC => "syncing (fsync)",
        ffi::SQLITE_IOERR_TRUNCATE => "truncating",
        ffi::SQLITE_IOERR_FSTAT => "reading the file's size",
        // SQLite grows the -shm file by writing to it: ENOSPC lands here.
        ffi::SQLITE_IOERR_SHMSIZE | ffi::SQLITE_IOERR_SHMMAP | ffi::SQLITE_IOERR_SHMOPEN => {
            "growing the WAL index (-shm; is the disk full?)"
        }
        ffi::SQLITE_IOERR_DELETE => "deleting",
        ffi::SQLITE_IOERR_LOCK | ffi::SQLITE_IOERR_UNLOCK | ffi::SQLITE_IOERR_RDLOCK => "locking",
        _ => "",
    };
    Some(match doing {
        "" => format!("disk I/O error ({e}, SQLite code {})", code.extended_code),
        doing => format!("disk I/O error {doing} ({e})"),
    })
}

impl From<std::io::Error> for ChainError {
    fn from(e: std::io::Error) -> ChainError {
        ChainError::Io(e.to_string())
    }
}

/// Why [`super::Chain::add_blocks`] stopped: the error of block `index`,
/// with the outcomes of the blocks before it, which are kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block {index} of the batch: {error}")]
pub struct AddBlocksError {
    /// Position in the batch of the block that failed.
    pub index: usize,
    /// The outcomes of blocks `0..index`, all stored.
    pub added: Vec<super::AddOutcome>,
    /// Its error.
    #[source]
    pub error: ChainError,
}

impl AddBlocksError {
    /// The kind of [`AddBlocksError::error`].
    pub const fn kind(&self) -> ErrorKind {
        self.error.kind()
    }
}

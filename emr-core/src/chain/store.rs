//! Every SQL statement of the chain, and nothing else: the schema in
//! `docs/FORMAT.md` is this file.
//!
//! Integers that are `u64` in the protocol are stored in SQLite's signed
//! 64-bit INTEGER by reinterpreting the bits; heights never get near 2^63,
//! and the other such columns are never compared in SQL.

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::address::{self, Role as AddressRole};
use crate::block::{BlockError, UserState};
use crate::entry::{Entry, EntryError, INVALID_ENTRY_REASONS};
use crate::hash::{Hash160, Hash256};
use crate::pow::Difficulty;
use crate::record::{Record, RecordError};

use super::error::ChainError;
use super::pagecheck;
use super::params::{authorities_from_bytes, authorities_to_bytes, ChainParams};
use super::registry::{AnyGrant, GrantState, RecordFacts, RegistrySource, RxState};
use super::work::Work;

/// The schema version this code reads and writes. Format 2 added the
/// registry (the `grants` table and the `authorities` key of `meta`, SPEC
/// 8.1); format 3 (SPEC v1.2) added `max_future` and the salt to the
/// stored parameters, which name the chain; format 4 added the readable
/// tables and views for SQL users (`record_text`, [`READABLE_SCHEMA`]);
/// format 5 (SPEC 10) the prescriptions' dispenses and cancellations
/// ([`RX_SCHEMA`]; dispenser grants share the `grants` table). Older files
/// are upgraded on their first writable open (see [`Store::init`]).
pub(crate) const FORMAT_VERSION: i64 = 5;

const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE blocks (
    id            BLOB PRIMARY KEY,
    parent        BLOB NOT NULL,
    height        INTEGER NOT NULL,
    timestamp     INTEGER NOT NULL,
    difficulty    BLOB NOT NULL,
    work          BLOB NOT NULL,
    bytes         BLOB NOT NULL,
    failed_id     BLOB,
    failed_height INTEGER,
    failed_index  INTEGER,
    failed_kind   TEXT
);
CREATE INDEX blocks_parent ON blocks(parent);
CREATE TABLE active (
    height INTEGER PRIMARY KEY,
    id     BLOB NOT NULL,
    undo   BLOB NOT NULL
);
CREATE TABLE states (
    hash    BLOB PRIMARY KEY,
    balance INTEGER NOT NULL,
    nonce   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE records (
    height  INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    txid    BLOB NOT NULL,
    patient BLOB NOT NULL,
    doctor  BLOB NOT NULL,
    PRIMARY KEY (height, idx)
) WITHOUT ROWID;
CREATE INDEX records_patient ON records(patient, height, idx);
CREATE INDEX records_doctor ON records(doctor, height, idx);
CREATE INDEX records_txid ON records(txid);
";

/// The registry (SPEC 8.1): one row per grant of the active chain, with its
/// revocation's `effective` once revoked. `u64` times are stored as their
/// bits (see the module documentation) and compared in Rust, never in SQL.
/// Also the whole upgrade from format 1: a format 1 chain had no entries, so
/// its registry is empty and it is an open chain.
const REGISTRY_SCHEMA: &str = "
CREATE TABLE grants (
    id        BLOB PRIMARY KEY,
    doctor    BLOB NOT NULL,
    height    INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    bytes     BLOB NOT NULL,
    revoked_effective INTEGER
) WITHOUT ROWID;
CREATE INDEX grants_doctor ON grants(doctor, height, idx);
";

/// The dispense or cancellation of each prescription of the active chain
/// (SPEC 10): at most one per prescription `(doctor, nonce)`, the record
/// of that identity in the active chain. `actor` is `H160` of the pharmacy
/// or the canceller, `kind` the entry type's name (`dispense`, `cancel`),
/// `bytes` the entry's encoding. A disconnected block's rows go by height.
/// Also the whole upgrade from format 4, whose blocks cannot hold these
/// entries (its code did not decode them).
const RX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS prescription_entries (
    doctor BLOB NOT NULL,
    nonce  INTEGER NOT NULL,
    height INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    actor  BLOB NOT NULL,
    id     BLOB NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doctor, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS prescription_entries_actor ON prescription_entries(actor, height, idx);
CREATE INDEX IF NOT EXISTS prescription_entries_height ON prescription_entries(height);
";

/// Dispenses and cancellations the chain dropped because another entry
/// took their prescription (SPEC 9.3), until dismissed: the entry, the
/// entry that took its place (both encoded) and that entry's block.
/// Created on every writable open when missing, as `conflicts` is.
const ENTRY_CONFLICTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entry_conflicts (
    seq         INTEGER PRIMARY KEY,
    id          BLOB NOT NULL UNIQUE,
    bytes       BLOB NOT NULL,
    replaced_by BLOB NOT NULL,
    block_id    BLOB NOT NULL,
    height      INTEGER NOT NULL
);
";

/// Entries waiting for a block, beside the pool of records; created when
/// missing like `pool`. `seq` is the arrival order.
const POOL_ENTRIES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pool_entries (
    seq   INTEGER PRIMARY KEY,
    id    BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
";

/// Records the chain dropped because another record took their doctor's
/// nonce (SPEC 9.3), until dismissed: the record, what it is (its doctor,
/// nonce and signed content), and the record and block that took its
/// place. Created on every writable open when missing, as the pool is.
const CONFLICTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS conflicts (
    seq         INTEGER PRIMARY KEY,
    txid        BLOB NOT NULL,
    doctor      BLOB NOT NULL,
    nonce       INTEGER NOT NULL,
    content     BLOB NOT NULL,
    bytes       BLOB NOT NULL,
    replaced_by BLOB NOT NULL,
    block_id    BLOB NOT NULL,
    height      INTEGER NOT NULL,
    UNIQUE (doctor, nonce, content)
);
";

/// What a SQL user reads (docs/SQL.md): the record index's rows as text,
/// written by the core beside `records` in the same transaction (SQLite
/// cannot compute a Bech32m address nor decode a block), and views over it.
/// `nonce` is the protocol's `u64` as a signed INTEGER, like every such
/// column. `IF NOT EXISTS`: the upgrade from format 3 also runs on files
/// that tests turned back into an older format.
const READABLE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS record_text (
    height       INTEGER NOT NULL,
    idx          INTEGER NOT NULL,
    doctor       TEXT NOT NULL,
    patient      TEXT NOT NULL,
    nonce        INTEGER NOT NULL,
    prescription TEXT NOT NULL,
    PRIMARY KEY (height, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_text_patient ON record_text(patient, height, idx);
CREATE INDEX IF NOT EXISTS record_text_doctor ON record_text(doctor, height, idx);
CREATE VIEW IF NOT EXISTS prescriptions AS
SELECT t.height AS height,
       t.idx AS idx,
       b.timestamp AS block_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', b.timestamp, 'unixepoch') AS block_date,
       lower(hex(r.txid)) AS txid,
       t.doctor AS doctor,
       t.patient AS patient,
       t.nonce AS nonce,
       t.prescription AS prescription,
       t.prescription LIKE 'sealed1:%' AS sealed,
       lower(hex(a.id)) AS block_id
FROM record_text t
JOIN records r ON r.height = t.height AND r.idx = t.idx
JOIN active a ON a.height = t.height
JOIN blocks b ON b.id = a.id;
CREATE VIEW IF NOT EXISTS chain_blocks AS
SELECT a.height AS height,
       lower(hex(a.id)) AS block_id,
       lower(hex(b.parent)) AS parent,
       b.timestamp AS block_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', b.timestamp, 'unixepoch') AS block_date,
       (SELECT count(*) FROM records r WHERE r.height = a.height) AS records
FROM active a
JOIN blocks b ON b.id = a.id;
";

/// The schema's tables, for naming where damage is.
const TABLES: [&str; 12] = [
    "meta",
    "blocks",
    "active",
    "states",
    "records",
    "record_text",
    "pool",
    "grants",
    "pool_entries",
    "conflicts",
    "prescription_entries",
    "entry_conflicts",
];

/// The pool of records waiting for a block (`pool.rs`). Created on every
/// writable open when missing, so a chain made before the pool existed
/// gains it without a new format version; `seq` is the arrival order.
const POOL_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pool (
    seq    INTEGER PRIMARY KEY,
    doctor BLOB NOT NULL,
    nonce  INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    UNIQUE (doctor, nonce)
);
";

/// Where a chain's database lives.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Location<'a> {
    /// A database file.
    File(&'a std::path::Path),
    /// SQLite's private in-memory database.
    Memory,
}

/// The first entry or record of a branch that failed, remembered on it and
/// on every block after it so that they are refused with this error when
/// offered again. `error` is a [`BlockError::Record`] or [`BlockError::Entry`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) block_id: Hash256,
    pub(crate) height: u64,
    pub(crate) error: BlockError,
}

impl Failure {
    /// `None` for a block error that is not an entry's or a record's (those
    /// are refused before the block is stored).
    pub(crate) fn new(block_id: Hash256, height: u64, error: BlockError) -> Option<Failure> {
        matches!(error, BlockError::Record { .. } | BlockError::Entry { .. })
            .then_some(Failure { block_id, height, error })
    }

    /// `failed_index` and `failed_kind`: a record's kind as it always was
    /// (`invalid_nonce`), an entry's prefixed (`entry:duplicate_grant`,
    /// `entry:invalid_entry:<reason>`).
    fn columns(&self) -> (usize, String) {
        match self.error {
            BlockError::Record { index, error } => (index, error.kind().as_str().to_owned()),
            BlockError::Entry { index, error: EntryError::InvalidEntry(reason) } => {
                (index, format!("entry:invalid_entry:{reason}"))
            }
            BlockError::Entry { index, error } => (index, format!("entry:{}", error.kind())),
            // Not constructed (see `new`).
            other => (0, other.kind().as_str().to_owned()),
        }
    }

    fn from_columns(index: usize, kind: &str) -> Option<BlockError> {
        match kind.strip_prefix("entry:") {
            None => record_error_named(kind).map(|error| BlockError::Record { index, error }),
            Some(kind) => entry_error_named(kind).map(|error| BlockError::Entry { index, error }),
        }
    }
}

/// A stored block's header facts, without its records.
#[derive(Copy, Clone, Debug)]
pub(crate) struct BlockRow {
    pub(crate) id: Hash256,
    pub(crate) parent: Hash256,
    pub(crate) height: u64,
    pub(crate) timestamp: u64,
    pub(crate) difficulty: Difficulty,
    /// Total difficulty of the branch ending here.
    pub(crate) work: Work,
    pub(crate) failure: Option<Failure>,
}

/// One record's place in the active chain.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordPlace {
    pub(crate) height: u64,
    pub(crate) index: usize,
}

/// An active block as stored: its row, encoding and undo data.
#[derive(Clone, Debug)]
pub(crate) struct StoredBlock {
    pub(crate) height: u64,
    pub(crate) id: Hash256,
    pub(crate) bytes: Vec<u8>,
    pub(crate) undo: Vec<u8>,
    pub(crate) row: BlockRow,
}

/// The columns [`RawRow`] reads, in its order.
const ROW_COLUMNS: &str = "blocks.id, blocks.parent, blocks.height, blocks.timestamp, blocks.difficulty, blocks.work,
     blocks.failed_id, blocks.failed_height, blocks.failed_index, blocks.failed_kind";

/// A `blocks` row as SQLite returns it, before its values are checked.
struct RawRow {
    id: Vec<u8>,
    parent: Vec<u8>,
    height: i64,
    timestamp: i64,
    difficulty: Vec<u8>,
    work: Vec<u8>,
    failed: (Option<Vec<u8>>, Option<i64>, Option<i64>, Option<String>),
}

impl RawRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        RawRow::read_at(r, 0)
    }

    /// Reads [`ROW_COLUMNS`] starting at column `at`.
    fn read_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            id: r.get(at)?,
            parent: r.get(at + 1)?,
            height: r.get(at + 2)?,
            timestamp: r.get(at + 3)?,
            difficulty: r.get(at + 4)?,
            work: r.get(at + 5)?,
            failed: (r.get(at + 6)?, r.get(at + 7)?, r.get(at + 8)?, r.get(at + 9)?),
        })
    }

    fn parse(self) -> Result<BlockRow, ChainError> {
        let height = uint(self.height);
        let damaged = |what: &str| ChainError::corrupt("blocks", Some(height), format!("{what} of a block row"));
        let difficulty = <[u8; 16]>::try_from(self.difficulty.as_slice())
            .ok()
            .and_then(|b| Difficulty::new(u128::from_be_bytes(b)))
            .ok_or_else(|| damaged("difficulty"))?;
        let work = <[u8; 32]>::try_from(self.work.as_slice()).map(Work::from_be_bytes).map_err(|_| damaged("work"))?;
        let failure = match self.failed {
            (None, None, None, None) => None,
            (Some(f_id), Some(f_height), Some(f_index), Some(f_kind)) => Some(Failure {
                block_id: Hash256::from_slice(&f_id).ok_or_else(|| damaged("failed_id"))?,
                height: uint(f_height),
                error: Failure::from_columns(usize::try_from(f_index).map_err(|_| damaged("failed_index"))?, &f_kind)
                    .ok_or_else(|| damaged("failed_kind"))?,
            }),
            _ => return Err(damaged("failure columns")),
        };
        Ok(BlockRow {
            id: Hash256::from_slice(&self.id).ok_or_else(|| damaged("id"))?,
            parent: Hash256::from_slice(&self.parent).ok_or_else(|| damaged("parent"))?,
            height,
            timestamp: uint(self.timestamp),
            difficulty,
            work,
            failure,
        })
    }
}

fn int(v: u64) -> i64 {
    v as i64
}

fn uint(v: i64) -> u64 {
    v as u64
}

const RECORD_ERRORS: [RecordError; 8] = [
    RecordError::HashLength,
    RecordError::PublicKeyMismatch,
    RecordError::InvalidPrescription,
    RecordError::InvalidNonce,
    RecordError::InvalidTxid,
    RecordError::InvalidPublicKey,
    RecordError::InvalidSignature,
    RecordError::UnauthorizedDoctor,
];

fn record_error_named(name: &str) -> Option<RecordError> {
    RECORD_ERRORS.into_iter().find(|e| e.kind().as_str() == name)
}

const ENTRY_ERRORS: [EntryError; 15] = [
    EntryError::InvalidEntrySignature,
    EntryError::WrongChain,
    EntryError::UnknownAuthority,
    EntryError::DuplicateGrant,
    EntryError::UnknownGrant,
    EntryError::AlreadyRevoked,
    EntryError::RevocationNotYetEffective,
    EntryError::UnauthorizedDispenser,
    EntryError::UnauthorizedCanceller,
    EntryError::UnknownPrescription,
    EntryError::WrongPatient,
    EntryError::PrescriberRevoked,
    EntryError::PublicTextOnSealed,
    EntryError::AlreadyDispensed,
    EntryError::PrescriptionCancelled,
];

fn entry_error_named(name: &str) -> Option<EntryError> {
    if let Some(reason) = name.strip_prefix("invalid_entry:") {
        return INVALID_ENTRY_REASONS.into_iter().find(|r| *r == reason).map(EntryError::InvalidEntry);
    }
    ENTRY_ERRORS.into_iter().find(|e| e.kind().as_str() == name)
}

/// Runs a store operation, naming its table (and height) in a storage
/// damage error that SQLite reported without them.
fn placed<T>(table: &'static str, height: Option<u64>, f: impl FnOnce() -> Result<T, ChainError>) -> Result<T, ChainError> {
    f().map_err(|e| e.at(table, height))
}

fn hash256(table: &'static str, bytes: Vec<u8>) -> Result<Hash256, ChainError> {
    Hash256::from_slice(&bytes).ok_or_else(|| ChainError::corrupt(table, None, "a 32-byte id has another length"))
}

/// The chain's SQLite connection.
pub(crate) struct Store {
    conn: Connection,
    /// The database file (`None` in memory), for
    /// [`Store::open_reader_beside`].
    file: Option<std::path::PathBuf>,
}

impl Store {
    /// Opens the database at `location`: a file through the page-checksum
    /// VFS (`pagecheck`), which gives a new database its 8 reserved bytes per
    /// page before anything else is written, so the schema and every later
    /// page carry a checksum; the in-memory database through SQLite's own.
    pub(crate) fn open(location: Location<'_>, read_only: bool) -> Result<Store, ChainError> {
        let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        flags |= if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
        let conn = match location {
            Location::File(path) => pagecheck::open(path, flags)?,
            Location::Memory => Connection::open_with_flags(":memory:", flags)?,
        };
        let file = match location {
            Location::File(path) => Some(path.to_path_buf()),
            Location::Memory => None,
        };
        // A reader may meet a checkpoint in progress; wait rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        if !read_only {
            // WAL: readers run beside the writer, and a torn last write is a
            // WAL frame whose checksum fails, which SQLite drops on open.
            // FULL: the WAL is synced at every commit, so a block is durable
            // when add returns. (An in-memory database answers "memory".)
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            // Each added block runs in a savepoint, whose sub-journal (the
            // pages it changed, for a rollback to it) SQLite keeps in a
            // temporary file by default: 15% of add_blocks' CPU time went to
            // writing it. In memory it is a copy; it only ever holds pages
            // of the open transaction, which a crash discards anyway.
            conn.pragma_update(None, "temp_store", "MEMORY")?;
        }
        Ok(Store { conn, file })
    }

    /// The database file, `None` in memory.
    pub(crate) fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Stops this connection's running statement (from another thread).
    pub(crate) fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn.get_interrupt_handle()
    }

    /// A second, read-only connection to the same database file, through
    /// the same VFS; `None` for an in-memory database, which no other
    /// connection can see.
    pub(crate) fn open_reader_beside(&self) -> Result<Option<Store>, ChainError> {
        match &self.file {
            Some(path) => Store::open(Location::File(path), true).map(Some),
            None => Ok(None),
        }
    }

    /// Copies the database, as one committed state, into a new file at
    /// `dest` (see [`super::Chain::backup`]). SQLite's online backup API
    /// reads every page through this connection (so through the checksum
    /// check) in one read transaction, which a writer in another process
    /// does not disturb in WAL mode. The copy is written through the same
    /// VFS, which stamps every page it writes (SQLite changes page 1's
    /// header in a copy, which a plain copy would leave with a stale
    /// checksum), to a temporary name beside `dest`; it is then read back
    /// whole through the check, synced, and linked into place, so `dest`
    /// is either absent or a complete, checked copy.
    pub(crate) fn backup_to(&self, dest: &std::path::Path) -> Result<(), ChainError> {
        if dest.exists() {
            return Err(ChainError::Io(format!("{}: already exists (a backup never overwrites a file)", dest.display())));
        }
        let name = dest.file_name().ok_or_else(|| ChainError::Io(format!("{}: not a file name", dest.display())))?;
        let dir = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let partial = dir.join(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
        let result = self.backup_into(&partial).and_then(|()| {
            // The copy holds what the chain does: it gets the chain file's
            // permissions, not the process's default.
            if let Some(source) = &self.file {
                std::fs::set_permissions(&partial, std::fs::metadata(source)?.permissions())?;
            }
            std::fs::File::open(&partial)?.sync_all()?;
            // A hard link, unlike a rename, never replaces a file that
            // appeared at `dest` since the check above.
            std::fs::hard_link(&partial, dest).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    ChainError::Io(format!("{}: already exists (a backup never overwrites a file)", dest.display()))
                }
                _ => ChainError::from(e),
            })?;
            std::fs::remove_file(&partial)?;
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(())
        });
        if result.is_err() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
            }
        }
        result.map_err(|e| match e {
            ChainError::Io(detail) => ChainError::Io(format!("backup to {}: {detail}", dest.display())),
            other => other,
        })
    }

    fn backup_into(&self, partial: &std::path::Path) -> Result<(), ChainError> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        {
            let mut copy = pagecheck::open(partial, flags)?;
            copy.pragma_update(None, "synchronous", "FULL")?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy)?;
            // All pages in one step: one read transaction, one state.
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => {}
                other => return Err(ChainError::Io(format!("the copy did not complete ({other:?})"))),
            }
        }
        // Read back: every page through the checksum check, and SQLite's
        // own structure check; the close checkpoints and removes the WAL.
        let copy = pagecheck::open(partial, flags)?;
        let problems: Vec<String> =
            copy.prepare("PRAGMA quick_check")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        if problems != ["ok"] {
            return Err(ChainError::corrupt("sqlite", None, format!("the copy fails its check: {}", problems.join("; "))));
        }
        if self.page_checksums()? && !pagecheck::checksums_enabled(&copy)? {
            return Err(ChainError::Io("the copy has no page checksums".into()));
        }
        copy.close().map_err(|(_, e)| e)?;
        Ok(())
    }

    /// Whether page checksums are being checked on this database.
    pub(crate) fn page_checksums(&self) -> Result<bool, ChainError> {
        Ok(pagecheck::checksums_enabled(&self.conn)?)
    }

    /// Creates the schema on an empty database, or reads the stored
    /// parameters; `given` must then match them ([`ChainParams::matches`]).
    /// Also says whether an older format was upgraded, so that the caller
    /// re-checks the chain under the current rules.
    pub(crate) fn init(&self, given: Option<ChainParams>) -> Result<(ChainParams, bool), ChainError> {
        self.begin()?;
        let result = self
            .init_in_transaction(given)
            .and_then(|params| {
                self.conn.execute_batch(POOL_SCHEMA)?;
                self.conn.execute_batch(POOL_ENTRIES_SCHEMA)?;
                self.conn.execute_batch(CONFLICTS_SCHEMA)?;
                self.conn.execute_batch(ENTRY_CONFLICTS_SCHEMA)?;
                Ok(params)
            })
            .map_err(|e| e.at("schema", None));
        match result {
            Ok(_) => self.commit()?,
            Err(_) => self.rollback(),
        }
        result
    }

    fn init_in_transaction(&self, given: Option<ChainParams>) -> Result<(ChainParams, bool), ChainError> {
        let has_meta: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
            [],
            |row| row.get(0),
        )?;
        if has_meta {
            let mut upgraded = false;
            if self.format()? == Some(1) {
                self.conn.execute_batch(REGISTRY_SCHEMA)?;
                self.conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('authorities', ?1)",
                    [authorities_to_bytes(&[])],
                )?;
                self.conn.execute("UPDATE meta SET value = 2 WHERE key = 'format'", [])?;
                upgraded = true;
            }
            if self.format()? == Some(2) {
                self.upgrade_format_2(given.as_ref().and_then(|g| g.salt))?;
                upgraded = true;
            }
            if self.format()? == Some(3) {
                self.upgrade_format_3()?;
            }
            if self.format()? == Some(4) {
                self.conn.execute_batch(RX_SCHEMA)?;
                self.conn.execute("UPDATE meta SET value = 5 WHERE key = 'format'", [])?;
            }
            let stored = self.read_params()?;
            return match given {
                Some(given) if given.authorities != stored.authorities => Err(ChainError::AuthoritiesMismatch {
                    stored: stored.authorities.len(),
                    given: given.authorities.len(),
                }),
                Some(given) if !given.matches(&stored) => Err(ChainError::ParamsMismatch),
                _ => Ok((stored, upgraded)),
            };
        }
        let tables: i64 = self.conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
        if tables != 0 {
            return Err(ChainError::corrupt("meta", None, "the database holds tables but no chain"));
        }
        let params = given.unwrap_or_default().salted()?;
        self.conn.execute_batch(SCHEMA)?;
        self.conn.execute_batch(REGISTRY_SCHEMA)?;
        self.conn.execute_batch(READABLE_SCHEMA)?;
        self.conn.execute_batch(RX_SCHEMA)?;
        self.conn.execute("INSERT INTO meta (key, value) VALUES ('format', ?1)", [FORMAT_VERSION])?;
        self.conn.execute("INSERT INTO meta (key, value) VALUES ('params', ?1)", [&params.to_bytes()[..]])?;
        self.conn
            .execute("INSERT INTO meta (key, value) VALUES ('authorities', ?1)", [authorities_to_bytes(&params.authorities)])?;
        Ok((params, false))
    }

    /// Format 2 → 3 (SPEC v1.2): the parameters gain `max_future` (the
    /// default) and a salt (`salt`, else random), which give the chain its
    /// id. Entries made before v1.2 name no chain and are no longer valid,
    /// so a file holding any (in a block, or pending) is refused, saying so.
    fn upgrade_format_2(&self, salt: Option<[u8; super::params::SALT_LEN]>) -> Result<(), ChainError> {
        // A block's encoding is version 2 exactly when it carries entries.
        let in_blocks: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE substr(bytes, 2, 1) = x'02')",
            [],
            |row| row.get(0),
        )?;
        // A file older than the entries' pool has none pending (and naming
        // the missing table in SQL would fail to prepare).
        let pending = self.has_pool_entries()?
            && self.conn.query_row("SELECT EXISTS (SELECT 1 FROM pool_entries)", [], |row| row.get::<_, bool>(0))?;
        let entries = in_blocks || pending;
        if entries {
            return Err(ChainError::NotUpgradable(
                "it holds grants or revocations made before SPEC v1.2, which name no chain and are no longer \
                 valid; export its records and start a new chain with entries signed for that chain's id",
            ));
        }
        let bytes: Vec<u8> = self.conn.query_row("SELECT value FROM meta WHERE key = 'params'", [], |row| row.get(0))?;
        let params = ChainParams::from_format_2_bytes(&bytes)
            .ok_or_else(|| ChainError::corrupt("meta", None, "parameters do not decode"))?;
        let params = ChainParams { salt, ..params }.salted()?;
        self.conn.execute("UPDATE meta SET value = ?1 WHERE key = 'params'", [&params.to_bytes()[..]])?;
        self.conn.execute("UPDATE meta SET value = 3 WHERE key = 'format'", [])?;
        Ok(())
    }

    /// Format 3 → 4: the readable tables and views, filled from the active
    /// chain's blocks (decoded and re-hashed as every read does). Nothing
    /// of the protocol changes, so the chain is not re-checked for it.
    fn upgrade_format_3(&self) -> Result<(), ChainError> {
        self.conn.execute_batch(READABLE_SCHEMA)?;
        self.conn.execute("DELETE FROM record_text", [])?;
        let mut start = 0;
        loop {
            let page = self.active_blocks(start, 64)?;
            let Some(last) = page.last() else { break };
            start = last.height.saturating_add(1);
            for stored in &page {
                let block = super::pipeline::decode_block(stored.height, &stored.id, &stored.bytes)?;
                for (index, record) in block.records.iter().enumerate() {
                    self.insert_record_text(RecordPlace { height: stored.height, index }, record)?;
                }
            }
        }
        self.conn.execute("UPDATE meta SET value = 4 WHERE key = 'format'", [])?;
        Ok(())
    }

    fn format(&self) -> Result<Option<i64>, ChainError> {
        placed("meta", None, || {
            Ok(self.conn.query_row("SELECT value FROM meta WHERE key = 'format'", [], |row| row.get(0)).optional()?)
        })
    }

    /// The parameters and authorities stored at creation; checks the schema
    /// version.
    pub(crate) fn read_params(&self) -> Result<ChainParams, ChainError> {
        placed("meta", None, || {
            match self.format()? {
                Some(FORMAT_VERSION) => {}
                Some(found @ (1..=4)) => return Err(ChainError::OldFormat { found, current: FORMAT_VERSION }),
                format => return Err(ChainError::corrupt("meta", None, format!("unknown format version {format:?}"))),
            }
            let bytes: Vec<u8> = self.conn.query_row("SELECT value FROM meta WHERE key = 'params'", [], |row| row.get(0))?;
            let mut params = ChainParams::from_bytes(&bytes)
                .ok_or_else(|| ChainError::corrupt("meta", None, "parameters do not decode"))?;
            let bytes: Vec<u8> =
                self.conn.query_row("SELECT value FROM meta WHERE key = 'authorities'", [], |row| row.get(0))?;
            params.authorities = authorities_from_bytes(&bytes)
                .ok_or_else(|| ChainError::corrupt("meta", None, "authorities do not decode"))?;
            Ok(params)
        })
    }

    /// `BEGIN IMMEDIATE`: the write lock is taken now, so a transaction
    /// never fails half-way for want of it.
    pub(crate) fn begin(&self) -> Result<(), ChainError> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    /// A read transaction, so that a query's statements see one commit.
    pub(crate) fn begin_read(&self) -> Result<(), ChainError> {
        Ok(self.conn.execute_batch("BEGIN DEFERRED")?)
    }

    pub(crate) fn commit(&self) -> Result<(), ChainError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    /// Rolls back; a failure here leaves SQLite rolling back on its own
    /// (the transaction is abandoned), so there is nothing to report.
    pub(crate) fn rollback(&self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    pub(crate) fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    pub(crate) fn savepoint(&self, name: &str) -> Result<(), ChainError> {
        Ok(self.conn.execute_batch(&format!("SAVEPOINT {name}"))?)
    }

    pub(crate) fn release(&self, name: &str) -> Result<(), ChainError> {
        Ok(self.conn.execute_batch(&format!("RELEASE {name}"))?)
    }

    /// Undoes everything since the savepoint and ends it.
    pub(crate) fn rollback_to(&self, name: &str) -> Result<(), ChainError> {
        Ok(self.conn.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"))?)
    }

    pub(crate) fn block_row(&self, id: &Hash256) -> Result<Option<BlockRow>, ChainError> {
        placed("blocks", None, || {
            let mut stmt = self.conn.prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM blocks WHERE id = ?1"))?;
            let raw = stmt.query_row([id.as_bytes()], RawRow::read).optional()?;
            raw.map(RawRow::parse).transpose()
        })
    }

    pub(crate) fn insert_block(&self, row: &BlockRow, bytes: &[u8]) -> Result<(), ChainError> {
        placed("blocks", Some(row.height), || {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO blocks (id, parent, height, timestamp, difficulty, work, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            stmt.execute(params![
                row.id.as_bytes(),
                row.parent.as_bytes(),
                int(row.height),
                int(row.timestamp),
                &row.difficulty.get().to_be_bytes()[..],
                &row.work.to_be_bytes()[..],
                bytes,
            ])?;
            Ok(())
        })
    }

    pub(crate) fn block_bytes(&self, id: &Hash256) -> Result<Option<Vec<u8>>, ChainError> {
        placed("blocks", None, || {
            let mut stmt = self.conn.prepare_cached("SELECT bytes FROM blocks WHERE id = ?1")?;
            Ok(stmt.query_row([id.as_bytes()], |r| r.get(0)).optional()?)
        })
    }

    /// Marks the failed block and every stored block after it invalid.
    pub(crate) fn mark_invalid(&self, failure: &Failure) -> Result<(), ChainError> {
        placed("blocks", None, || {
            let mut stmt = self.conn.prepare_cached(
                "WITH RECURSIVE bad(id) AS (
                     SELECT ?1 UNION SELECT blocks.id FROM blocks JOIN bad ON blocks.parent = bad.id
                 )
                 UPDATE blocks SET failed_id = ?1, failed_height = ?2, failed_index = ?3, failed_kind = ?4
                 WHERE id IN bad",
            )?;
            let (index, kind) = failure.columns();
            stmt.execute(params![
                failure.block_id.as_bytes(),
                int(failure.height),
                i64::try_from(index).unwrap_or(i64::MAX),
                kind,
            ])?;
            Ok(())
        })
    }

    /// Deletes a block and every stored block after it.
    pub(crate) fn delete_subtree(&self, id: &Hash256) -> Result<(), ChainError> {
        placed("blocks", None, || {
            self.conn.execute(
                "WITH RECURSIVE doomed(id) AS (
                     SELECT ?1 UNION SELECT blocks.id FROM blocks JOIN doomed ON blocks.parent = doomed.id
                 )
                 DELETE FROM blocks WHERE id IN doomed",
                [id.as_bytes()],
            )?;
            Ok(())
        })
    }

    /// The active chain's last block: height and id.
    pub(crate) fn tip(&self) -> Result<Option<(u64, Hash256)>, ChainError> {
        placed("active", None, || {
            let mut stmt = self.conn.prepare_cached("SELECT height, id FROM active ORDER BY height DESC LIMIT 1")?;
            let row = stmt.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))).optional()?;
            row.map(|(h, id)| Ok((uint(h), hash256("active", id)?))).transpose()
        })
    }

    pub(crate) fn active_id(&self, height: u64) -> Result<Option<Hash256>, ChainError> {
        placed("active", Some(height), || {
            let mut stmt = self.conn.prepare_cached("SELECT id FROM active WHERE height = ?1")?;
            let id = stmt.query_row([int(height)], |r| r.get::<_, Vec<u8>>(0)).optional()?;
            id.map(|id| hash256("active", id)).transpose()
        })
    }

    /// Up to `limit` active ids from `start` on, in height order.
    pub(crate) fn active_ids_from(&self, start: u64, limit: u64) -> Result<Vec<Hash256>, ChainError> {
        placed("active", None, || {
            let mut stmt =
                self.conn.prepare_cached("SELECT id FROM active WHERE height >= ?1 ORDER BY height LIMIT ?2")?;
            // Heights are stored as i64: a start past that holds nothing, and
            // a limit that would wrap to SQLite's "no limit" is capped.
            let (Ok(start), Ok(limit)) = (i64::try_from(start), i64::try_from(limit.min(i64::MAX as u64))) else {
                return Ok(Vec::new());
            };
            let rows = stmt.query_map(params![start, limit], |r| r.get::<_, Vec<u8>>(0))?;
            rows.map(|id| hash256("active", id?)).collect()
        })
    }

    /// Up to `limit` active blocks from `start` on, in height order.
    pub(crate) fn active_blocks(&self, start: u64, limit: u64) -> Result<Vec<StoredBlock>, ChainError> {
        placed("active", None, || {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT active.height, active.id, active.undo, blocks.bytes, {ROW_COLUMNS}
                 FROM active LEFT JOIN blocks ON blocks.id = active.id
                 WHERE active.height >= ?1 ORDER BY active.height LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![int(start), int(limit)], |r| {
                let raw = if r.get_ref(4)?.as_bytes_or_null()?.is_some() { Some(RawRow::read_at(r, 4)?) } else { None };
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, Option<Vec<u8>>>(3)?, raw))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (height, id, undo, bytes, raw) = row?;
                let height = uint(height);
                let missing = || ChainError::corrupt("active", Some(height), "no stored block for the id");
                let row = raw.ok_or_else(missing)?.parse()?;
                let bytes = bytes.ok_or_else(missing)?;
                out.push(StoredBlock { height, id: hash256("active", id)?, bytes, undo, row });
            }
            Ok(out)
        })
    }

    pub(crate) fn push_active(&self, height: u64, id: &Hash256, undo: &[u8]) -> Result<(), ChainError> {
        placed("active", Some(height), || {
            let mut stmt = self.conn.prepare_cached("INSERT INTO active (height, id, undo) VALUES (?1, ?2, ?3)")?;
            stmt.execute(params![int(height), id.as_bytes(), undo])?;
            Ok(())
        })
    }

    /// Removes the active block at `height` with its records' index rows
    /// and returns its undo data.
    pub(crate) fn pop_active(&self, height: u64) -> Result<Vec<u8>, ChainError> {
        placed("active", Some(height), || {
            let mut stmt = self.conn.prepare_cached("DELETE FROM active WHERE height = ?1 RETURNING undo")?;
            let undo = stmt
                .query_row([int(height)], |r| r.get(0))
                .optional()?
                .ok_or_else(|| ChainError::corrupt("active", Some(height), "the tip vanished"))?;
            self.conn.prepare_cached("DELETE FROM records WHERE height = ?1")?.execute([int(height)])?;
            self.conn.prepare_cached("DELETE FROM record_text WHERE height = ?1")?.execute([int(height)])?;
            Ok(undo)
        })
    }

    pub(crate) fn state(&self, hash: &Hash160) -> Result<Option<UserState>, ChainError> {
        placed("states", None, || {
            let mut stmt = self.conn.prepare_cached("SELECT balance, nonce FROM states WHERE hash = ?1")?;
            let row = stmt.query_row([hash.as_bytes()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).optional()?;
            Ok(row.map(|(balance, nonce)| UserState { balance: uint(balance), nonce: uint(nonce) }))
        })
    }

    /// Sets a state, or removes it for `None` (a user the chain never touched).
    pub(crate) fn put_state(&self, hash: &Hash160, state: Option<UserState>) -> Result<(), ChainError> {
        placed("states", None, || {
            match state {
                Some(s) => self
                    .conn
                    .prepare_cached("INSERT OR REPLACE INTO states (hash, balance, nonce) VALUES (?1, ?2, ?3)")?
                    .execute(params![hash.as_bytes(), int(s.balance), int(s.nonce)])?,
                None => self.conn.prepare_cached("DELETE FROM states WHERE hash = ?1")?.execute([hash.as_bytes()])?,
            };
            Ok(())
        })
    }

    pub(crate) fn all_states(&self) -> Result<Vec<(Hash160, UserState)>, ChainError> {
        placed("states", None, || {
            let mut stmt = self.conn.prepare_cached("SELECT hash, balance, nonce FROM states")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (hash, balance, nonce) = row?;
                let hash = Hash160::from_slice(&hash)
                    .ok_or_else(|| ChainError::corrupt("states", None, "a 20-byte hash has another length"))?;
                out.push((hash, UserState { balance: uint(balance), nonce: uint(nonce) }));
            }
            Ok(out)
        })
    }

    /// Indexes a record of a connected block: its `records` row, and its
    /// readable `record_text` row for SQL users.
    pub(crate) fn index_record(&self, place: RecordPlace, record: &Record) -> Result<(), ChainError> {
        placed("records", Some(place.height), || {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO records (height, idx, txid, patient, doctor) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let index = i64::try_from(place.index).unwrap_or(i64::MAX);
            stmt.execute(params![
                int(place.height),
                index,
                record.txid.as_bytes(),
                record.patient_hash.as_bytes(),
                record.dr_hash.as_bytes()
            ])?;
            Ok(())
        })?;
        self.insert_record_text(place, record)
    }

    fn insert_record_text(&self, place: RecordPlace, record: &Record) -> Result<(), ChainError> {
        placed("record_text", Some(place.height), || {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO record_text (height, idx, doctor, patient, nonce, prescription)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let text = ReadableRecord::of(record);
            let index = i64::try_from(place.index).unwrap_or(i64::MAX);
            stmt.execute(params![int(place.height), index, text.doctor, text.patient, int(record.nonce), record.prescription])?;
            Ok(())
        })
    }

    /// Feeds every `record_text` row, in chain order, to `each` as
    /// `(height, index, doctor, patient, nonce, prescription)`; for `check`.
    pub(crate) fn each_record_text(
        &self,
        mut each: impl FnMut(i64, i64, &str, &str, i64, &str),
    ) -> Result<(), ChainError> {
        placed("record_text", None, || {
            let mut stmt = self.conn.prepare(
                "SELECT height, idx, doctor, patient, nonce, prescription FROM record_text ORDER BY height, idx",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let text = |i| r.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
                each(r.get(0)?, r.get(1)?, text(2)?, text(3)?, r.get(4)?, text(5)?);
            }
            Ok(())
        })
    }

    /// Places of a patient's records, or a doctor's, in chain order.
    pub(crate) fn record_places(&self, role: Role, hash: &Hash160) -> Result<Vec<RecordPlace>, ChainError> {
        placed("records", None, || {
            let sql = match role {
                Role::Patient => "SELECT height, idx FROM records WHERE patient = ?1 ORDER BY height, idx",
                Role::Doctor => "SELECT height, idx FROM records WHERE doctor = ?1 ORDER BY height, idx",
            };
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt.query_map([hash.as_bytes()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
            rows.map(|row| {
                let (height, index) = row?;
                let index = usize::try_from(index)
                    .map_err(|_| ChainError::corrupt("records", Some(uint(height)), "negative record index"))?;
                Ok(RecordPlace { height: uint(height), index })
            })
            .collect()
        })
    }

    /// The earliest place of a record with this txid.
    pub(crate) fn record_place_by_txid(&self, txid: &Hash256) -> Result<Option<RecordPlace>, ChainError> {
        placed("records", None, || {
            let mut stmt =
                self.conn.prepare_cached("SELECT height, idx FROM records WHERE txid = ?1 ORDER BY height, idx LIMIT 1")?;
            let row = stmt.query_row([txid.as_bytes()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).optional()?;
            row.map(|(height, index)| {
                let index = usize::try_from(index)
                    .map_err(|_| ChainError::corrupt("records", Some(uint(height)), "negative record index"))?;
                Ok(RecordPlace { height: uint(height), index })
            })
            .transpose()
        })
    }

    /// The txids from `low` to `high` (inclusive) in the active chain's
    /// index, in order, at most `limit`.
    pub(crate) fn record_txids_between(&self, low: &[u8; 32], high: &[u8; 32], limit: usize) -> Result<Vec<Hash256>, ChainError> {
        placed("records", None, || {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT DISTINCT txid FROM records WHERE txid BETWEEN ?1 AND ?2 ORDER BY txid LIMIT ?3")?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![&low[..], &high[..], limit], |r| r.get::<_, Vec<u8>>(0))?;
            rows.map(|bytes| hash256("records", bytes?)).collect()
        })
    }

    /// Feeds every index row, in chain order, to `each` as
    /// `(height, index, txid, patient, doctor)` bytes; for `check`.
    pub(crate) fn each_record(&self, mut each: impl FnMut(i64, i64, &[u8], &[u8], &[u8])) -> Result<(), ChainError> {
        placed("records", None, || {
            let mut stmt = self.conn.prepare("SELECT height, idx, txid, patient, doctor FROM records ORDER BY height, idx")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let blob = |i| r.get_ref(i).and_then(|v| v.as_blob().map_err(Into::into));
                each(r.get(0)?, r.get(1)?, blob(2)?, blob(3)?, blob(4)?);
            }
            Ok(())
        })
    }

    /// Calls `each` with every stored block that is not in the active chain
    /// (side branches and invalid blocks), row and encoding, lowest first.
    ///
    /// `active` is looked up by its key, the height: matching on `id` alone
    /// (which has no index there) scanned the whole table once per block,
    /// 3.5 s at 10,000 blocks and quadratic beyond. A block whose row names
    /// another height than its active entry is then listed here too, and
    /// fails the side-block checks, which is what it deserves.
    pub(crate) fn each_side_block(
        &self,
        mut each: impl FnMut(BlockRow, &[u8]) -> Result<(), ChainError>,
    ) -> Result<(), ChainError> {
        placed("blocks", None, || {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT {ROW_COLUMNS}, blocks.bytes FROM blocks
                 WHERE NOT EXISTS (SELECT 1 FROM active WHERE active.height = blocks.height AND active.id = blocks.id)
                 ORDER BY blocks.height"
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let row = RawRow::read(r)?.parse()?;
                let bytes = r.get_ref(10)?.as_blob().map_err(rusqlite::Error::from)?;
                each(row, bytes)?;
            }
            Ok(())
        })
    }

    /// SQLite's own consistency check of every page, and of every index
    /// against its table (which `quick_check` would skip: a damaged index
    /// entry would answer queries wrongly while every block is intact).
    ///
    /// When a page fails its checksum (which stops SQLite's check), each
    /// table is checked alone, with its indexes, to name the damaged one.
    pub(crate) fn integrity_check(&self) -> Result<(), ChainError> {
        let check = |pragma: &str| -> Result<(), ChainError> {
            let mut stmt = self.conn.prepare(pragma)?;
            let problems: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            if problems != ["ok"] {
                return Err(ChainError::corrupt("sqlite", None, problems.join("; ")));
            }
            Ok(())
        };
        let whole = check("PRAGMA integrity_check");
        if whole.is_ok() {
            return whole;
        }
        for table in TABLES {
            check(&format!("PRAGMA integrity_check({table})")).map_err(|e| e.at(table, None))?;
        }
        whole
    }
}

/// The pool's statements (see `pool.rs`).
impl Store {
    /// Whether the database has the pool table (a read-only handle on a
    /// chain written before the pool existed has none: its pool is empty).
    pub(crate) fn has_pool(&self) -> Result<bool, ChainError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pool')")?;
        Ok(stmt.query_row([], |r| r.get(0))?)
    }

    /// Adds a pending record; `false` (nothing changed) when one with the
    /// same `(doctor, nonce)` is already there.
    pub(crate) fn pool_insert(&self, doctor: &Hash160, nonce: u64, bytes: &[u8]) -> Result<bool, ChainError> {
        let mut stmt =
            self.conn.prepare_cached("INSERT OR IGNORE INTO pool (doctor, nonce, bytes) VALUES (?1, ?2, ?3)")?;
        Ok(stmt.execute(params![doctor.as_bytes(), int(nonce), bytes])? == 1)
    }

    /// Removes the pending record `(doctor, nonce)`, if any.
    pub(crate) fn pool_remove(&self, doctor: &Hash160, nonce: u64) -> Result<(), ChainError> {
        let mut stmt = self.conn.prepare_cached("DELETE FROM pool WHERE doctor = ?1 AND nonce = ?2")?;
        stmt.execute(params![doctor.as_bytes(), int(nonce)])?;
        Ok(())
    }

    /// The pending record `(doctor, nonce)`'s encoding, if any.
    pub(crate) fn pool_get(&self, doctor: &Hash160, nonce: u64) -> Result<Option<Vec<u8>>, ChainError> {
        let mut stmt = self.conn.prepare_cached("SELECT bytes FROM pool WHERE doctor = ?1 AND nonce = ?2")?;
        Ok(stmt.query_row(params![doctor.as_bytes(), int(nonce)], |r| r.get(0)).optional()?)
    }

    /// The nonces of a doctor's pending records, in no order.
    pub(crate) fn pool_nonces(&self, doctor: &Hash160) -> Result<Vec<u64>, ChainError> {
        let mut stmt = self.conn.prepare_cached("SELECT nonce FROM pool WHERE doctor = ?1")?;
        let rows = stmt.query_map([doctor.as_bytes()], |r| r.get::<_, i64>(0))?;
        rows.map(|n| Ok(uint(n?))).collect()
    }

    /// Every pending record's encoding, in arrival order.
    pub(crate) fn pool_all(&self) -> Result<Vec<Vec<u8>>, ChainError> {
        let mut stmt = self.conn.prepare_cached("SELECT bytes FROM pool ORDER BY seq")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|b| Ok(b?)).collect()
    }
}

/// A conflict as stored: the dropped record's encoding and what replaced it.
pub(crate) struct StoredConflict {
    pub(crate) bytes: Vec<u8>,
    pub(crate) replaced_by: Hash256,
    pub(crate) block_id: Hash256,
    pub(crate) height: u64,
}

/// The conflicts' statements (SPEC 9.3, `pool.rs`).
impl Store {
    fn has_conflicts(&self) -> Result<bool, ChainError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'conflicts')")?;
        Ok(stmt.query_row([], |r| r.get(0))?)
    }

    /// Keeps a dropped record (once per doctor, nonce and content).
    pub(crate) fn conflict_insert(
        &self,
        record: &crate::record::Record,
        replaced_by: &Hash256,
        block_id: &Hash256,
        height: u64,
    ) -> Result<(), ChainError> {
        placed("conflicts", Some(height), || {
            let mut stmt = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO conflicts (txid, doctor, nonce, content, bytes, replaced_by, block_id, height)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            stmt.execute(params![
                record.txid.as_bytes(),
                record.dr_hash.as_bytes(),
                int(record.nonce),
                record.signature_hash().as_bytes(),
                record.to_bytes(),
                replaced_by.as_bytes(),
                block_id.as_bytes(),
                int(height),
            ])?;
            Ok(())
        })
    }

    /// Forgets the conflict of this doctor, nonce and content: the record
    /// is in the active chain again.
    pub(crate) fn conflict_resolved(&self, doctor: &Hash160, nonce: u64, content: &Hash256) -> Result<(), ChainError> {
        placed("conflicts", None, || {
            let mut stmt =
                self.conn.prepare_cached("DELETE FROM conflicts WHERE doctor = ?1 AND nonce = ?2 AND content = ?3")?;
            stmt.execute(params![doctor.as_bytes(), int(nonce), content.as_bytes()])?;
            Ok(())
        })
    }

    /// Dismisses the conflicts of the record with this txid; whether any was.
    pub(crate) fn conflict_dismiss(&self, txid: &Hash256) -> Result<bool, ChainError> {
        placed("conflicts", None, || {
            let mut stmt = self.conn.prepare_cached("DELETE FROM conflicts WHERE txid = ?1")?;
            Ok(stmt.execute([txid.as_bytes()])? > 0)
        })
    }

    /// Every conflict, oldest first (empty on a read-only handle of a chain
    /// written before conflicts were kept).
    pub(crate) fn conflicts_all(&self) -> Result<Vec<StoredConflict>, ChainError> {
        placed("conflicts", None, || {
            if !self.has_conflicts()? {
                return Ok(Vec::new());
            }
            let mut stmt =
                self.conn.prepare_cached("SELECT bytes, replaced_by, block_id, height FROM conflicts ORDER BY seq")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, i64>(3)?))
            })?;
            rows.map(|row| {
                let (bytes, replaced_by, block_id, height) = row?;
                Ok(StoredConflict {
                    bytes,
                    replaced_by: hash256("conflicts", replaced_by)?,
                    block_id: hash256("conflicts", block_id)?,
                    height: uint(height),
                })
            })
            .collect()
        })
    }
}

/// The registry's statements (see `registry.rs`).
impl Store {
    /// Adds a grant connected at `height`, or replaces it with its new
    /// state (revoked).
    pub(crate) fn put_grant(&self, grant: &GrantState) -> Result<(), ChainError> {
        placed("grants", Some(grant.height), || {
            let mut stmt = self.conn.prepare_cached(
                "INSERT OR REPLACE INTO grants (id, doctor, height, idx, bytes, revoked_effective)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            stmt.execute(params![
                grant.id.as_bytes(),
                grant.holder.as_bytes(),
                int(grant.height),
                i64::try_from(grant.index).unwrap_or(i64::MAX),
                grant.grant.to_entry().to_bytes(),
                grant.revoked_effective.map(int),
            ])?;
            Ok(())
        })
    }

    /// Removes a grant (its block left the active chain).
    pub(crate) fn forget_grant(&self, id: &Hash256) -> Result<(), ChainError> {
        placed("grants", None, || {
            self.conn.prepare_cached("DELETE FROM grants WHERE id = ?1")?.execute([id.as_bytes()])?;
            Ok(())
        })
    }

    /// Clears a grant's revocation (the revoking block left the active chain).
    pub(crate) fn unrevoke_grant(&self, id: &Hash256) -> Result<(), ChainError> {
        placed("grants", None, || {
            let changed = self
                .conn
                .prepare_cached("UPDATE grants SET revoked_effective = NULL WHERE id = ?1")?
                .execute([id.as_bytes()])?;
            if changed != 1 {
                return Err(ChainError::corrupt("grants", None, format!("a revoked grant {id} is missing")));
            }
            Ok(())
        })
    }

    fn grants_where(&self, filter: &str, key: &[u8]) -> Result<Vec<GrantState>, ChainError> {
        placed("grants", None, || {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT id, height, idx, bytes, revoked_effective FROM grants {filter} ORDER BY height, idx"
            ))?;
            let read = |r: &rusqlite::Row<'_>| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?, r.get::<_, Option<i64>>(4)?))
            };
            let rows = if filter.is_empty() { stmt.query_map([], read)? } else { stmt.query_map([key], read)? };
            let mut out = Vec::new();
            for row in rows {
                let (id, height, index, bytes, revoked) = row?;
                let height = uint(height);
                let damaged = |what: &str| ChainError::corrupt("grants", Some(height), format!("{what} of a grant row"));
                let grant = match Entry::from_bytes(&bytes) {
                    Ok(Entry::Grant(grant)) => AnyGrant::Doctor(grant),
                    Ok(Entry::DispenserGrant(grant)) => AnyGrant::Dispenser(grant),
                    _ => return Err(damaged("bytes")),
                };
                let index = usize::try_from(index).map_err(|_| damaged("idx"))?;
                let state = GrantState::new(grant, height, index, revoked.map(uint));
                if Hash256::from_slice(&id) != Some(state.id) {
                    return Err(damaged("id"));
                }
                out.push(state);
            }
            Ok(out)
        })
    }

    /// Every grant of the active chain, in chain order; for `check`.
    pub(crate) fn all_grants(&self) -> Result<Vec<GrantState>, ChainError> {
        self.grants_where("", &[])
    }
}

impl RegistrySource for Store {
    fn grant(&self, id: &Hash256) -> Result<Option<GrantState>, ChainError> {
        Ok(self.grants_where("WHERE id = ?1", id.as_bytes())?.pop())
    }

    fn grants_of(&self, hash: &Hash160) -> Result<Vec<GrantState>, ChainError> {
        self.grants_where("WHERE doctor = ?1", hash.as_bytes())
    }

    fn record_facts(&self, dr_hash: &Hash160, nonce: u64) -> Result<Option<RecordFacts>, ChainError> {
        let Some(place) = self.record_place_by_nonce(dr_hash, nonce)? else { return Ok(None) };
        let (record, block) = self.record_at(place)?;
        if record.dr_hash != *dr_hash || record.nonce != nonce {
            return Err(ChainError::corrupt("records", Some(place.height), "a doctor's records are not its nonces in order"));
        }
        Ok(Some(RecordFacts::of(&record, block.timestamp)))
    }

    fn rx(&self, dr_hash: &Hash160, nonce: u64) -> Result<Option<RxState>, ChainError> {
        let Ok(nonce) = i64::try_from(nonce) else { return Ok(None) };
        Ok(self.rx_where("WHERE doctor = ?1 AND nonce = ?2", params![dr_hash.as_bytes(), nonce])?.pop())
    }
}

/// The prescriptions' statements (SPEC 10, see `registry.rs`).
impl Store {
    /// The place of the record `(doctor, nonce)` in the active chain. A
    /// doctor's records there carry the nonces 1, 2, 3, ... in chain order
    /// (the nonce rule), so nonce `n` is the doctor's `n`-th record.
    pub(crate) fn record_place_by_nonce(&self, doctor: &Hash160, nonce: u64) -> Result<Option<RecordPlace>, ChainError> {
        let Some(offset) = nonce.checked_sub(1).and_then(|n| i64::try_from(n).ok()) else { return Ok(None) };
        placed("records", None, || {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT height, idx FROM records WHERE doctor = ?1 ORDER BY height, idx LIMIT 1 OFFSET ?2")?;
            let row = stmt.query_row(params![doctor.as_bytes(), offset], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).optional()?;
            row.map(|(height, index)| {
                let index = usize::try_from(index)
                    .map_err(|_| ChainError::corrupt("records", Some(uint(height)), "negative record index"))?;
                Ok(RecordPlace { height: uint(height), index })
            })
            .transpose()
        })
    }

    /// The record at an indexed place, and its block.
    pub(crate) fn record_at(&self, place: RecordPlace) -> Result<(Record, crate::block::Block), ChainError> {
        let height = place.height;
        let id = self
            .active_id(height)?
            .ok_or_else(|| ChainError::corrupt("records", Some(height), "a record indexed at no active block"))?;
        let bytes = self
            .block_bytes(&id)
            .map_err(|e| e.at("blocks", Some(height)))?
            .ok_or_else(|| ChainError::corrupt("blocks", Some(height), format!("block {id} is missing")))?;
        let block = super::pipeline::decode_block(height, &id, &bytes)?;
        let record = block
            .records
            .get(place.index)
            .cloned()
            .ok_or_else(|| ChainError::corrupt("records", Some(height), "a record index past the block's records"))?;
        Ok((record, block))
    }

    /// Keeps a connected block's dispense or cancellation.
    pub(crate) fn put_rx(&self, rx: &RxState) -> Result<(), ChainError> {
        placed("prescription_entries", Some(rx.height), || {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO prescription_entries (doctor, nonce, height, idx, kind, actor, id, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            stmt.execute(params![
                rx.prescription.dr_hash.as_bytes(),
                int(rx.prescription.nonce),
                int(rx.height),
                i64::try_from(rx.index).unwrap_or(i64::MAX),
                rx.entry.entry_type().as_str(),
                rx.actor().as_bytes(),
                rx.entry.entry_id().as_bytes(),
                rx.entry.to_bytes(),
            ])?;
            Ok(())
        })
    }

    /// Forgets the dispenses and cancellations of the block at `height`
    /// (it left the active chain).
    pub(crate) fn forget_rx_at(&self, height: u64) -> Result<(), ChainError> {
        placed("prescription_entries", Some(height), || {
            self.conn.prepare_cached("DELETE FROM prescription_entries WHERE height = ?1")?.execute([int(height)])?;
            Ok(())
        })
    }

    fn rx_where(&self, filter: &str, key: impl rusqlite::Params) -> Result<Vec<RxState>, ChainError> {
        placed("prescription_entries", None, || {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT doctor, nonce, height, idx, kind, actor, id, bytes FROM prescription_entries {filter}
                 ORDER BY height, idx"
            ))?;
            let mut rows = stmt.query(key)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let height = uint(r.get(2)?);
                let damaged =
                    |what: &str| ChainError::corrupt("prescription_entries", Some(height), format!("{what} of a row"));
                let entry = Entry::from_bytes(r.get_ref(7)?.as_blob().map_err(rusqlite::Error::from)?)
                    .map_err(|_| damaged("bytes"))?;
                let prescription = entry.prescription().ok_or_else(|| damaged("bytes"))?;
                let rx = RxState {
                    prescription,
                    height,
                    index: usize::try_from(r.get::<_, i64>(3)?).map_err(|_| damaged("idx"))?,
                    entry,
                };
                let agrees = r.get::<_, Vec<u8>>(0)? == prescription.dr_hash.as_bytes()
                    && uint(r.get(1)?) == prescription.nonce
                    && r.get::<_, String>(4)? == rx.entry.entry_type().as_str()
                    && r.get::<_, Vec<u8>>(5)? == rx.actor().as_bytes()
                    && r.get::<_, Vec<u8>>(6)? == rx.entry.entry_id().as_bytes();
                if !agrees {
                    return Err(damaged("columns"));
                }
                out.push(rx);
            }
            Ok(out)
        })
    }

    /// Every dispense and cancellation of the active chain, in chain
    /// order; for `check`.
    pub(crate) fn all_rx(&self) -> Result<Vec<RxState>, ChainError> {
        self.rx_where("", [])
    }

    /// The dispenses (or cancellations) by the pharmacy (or canceller)
    /// `actor`, in chain order.
    pub(crate) fn rx_by_actor(&self, actor: &Hash160, kind: crate::entry::EntryType) -> Result<Vec<RxState>, ChainError> {
        self.rx_where("WHERE actor = ?1 AND kind = ?2", params![actor.as_bytes(), kind.as_str()])
    }
}

/// A dropped dispense or cancellation as stored.
pub(crate) struct StoredEntryConflict {
    pub(crate) bytes: Vec<u8>,
    pub(crate) replaced_by: Vec<u8>,
    pub(crate) block_id: Hash256,
    pub(crate) height: u64,
}

/// The entry conflicts' statements (SPEC 9.3, `pool.rs`).
impl Store {
    /// Keeps a dropped entry (once per id).
    pub(crate) fn entry_conflict_insert(
        &self,
        entry: &Entry,
        replaced_by: &Entry,
        block_id: &Hash256,
        height: u64,
    ) -> Result<(), ChainError> {
        placed("entry_conflicts", Some(height), || {
            let mut stmt = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO entry_conflicts (id, bytes, replaced_by, block_id, height)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            stmt.execute(params![
                entry.entry_id().as_bytes(),
                entry.to_bytes(),
                replaced_by.to_bytes(),
                block_id.as_bytes(),
                int(height),
            ])?;
            Ok(())
        })
    }

    /// Dismisses the conflict of the entry with this id (or forgets it: the
    /// entry is in the active chain again); whether there was one.
    pub(crate) fn entry_conflict_remove(&self, id: &Hash256) -> Result<bool, ChainError> {
        placed("entry_conflicts", None, || {
            if !self.has_table("entry_conflicts")? {
                return Ok(false);
            }
            let mut stmt = self.conn.prepare_cached("DELETE FROM entry_conflicts WHERE id = ?1")?;
            Ok(stmt.execute([id.as_bytes()])? > 0)
        })
    }

    /// Every entry conflict, oldest first (empty on a read-only handle of a
    /// chain whose writer never ran this version).
    pub(crate) fn entry_conflicts_all(&self) -> Result<Vec<StoredEntryConflict>, ChainError> {
        placed("entry_conflicts", None, || {
            if !self.has_table("entry_conflicts")? {
                return Ok(Vec::new());
            }
            let mut stmt =
                self.conn.prepare_cached("SELECT bytes, replaced_by, block_id, height FROM entry_conflicts ORDER BY seq")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, i64>(3)?))
            })?;
            rows.map(|row| {
                let (bytes, replaced_by, block_id, height) = row?;
                Ok(StoredEntryConflict {
                    bytes,
                    replaced_by,
                    block_id: hash256("entry_conflicts", block_id)?,
                    height: uint(height),
                })
            })
            .collect()
        })
    }

    fn has_table(&self, name: &str) -> Result<bool, ChainError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)")?;
        Ok(stmt.query_row([name], |r| r.get(0))?)
    }
}

/// The pending entries' statements (see `pool.rs`).
impl Store {
    /// Whether the database has the pending entries table (a read-only
    /// handle on a chain whose writer never ran this version has none).
    pub(crate) fn has_pool_entries(&self) -> Result<bool, ChainError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pool_entries')")?;
        Ok(stmt.query_row([], |r| r.get(0))?)
    }

    /// Adds a pending entry; `false` (nothing changed) when it is already there.
    pub(crate) fn pool_entry_insert(&self, id: &Hash256, bytes: &[u8]) -> Result<bool, ChainError> {
        let mut stmt = self.conn.prepare_cached("INSERT OR IGNORE INTO pool_entries (id, bytes) VALUES (?1, ?2)")?;
        Ok(stmt.execute(params![id.as_bytes(), bytes])? == 1)
    }

    /// Removes a pending entry, if there.
    pub(crate) fn pool_entry_remove(&self, id: &Hash256) -> Result<(), ChainError> {
        self.conn.prepare_cached("DELETE FROM pool_entries WHERE id = ?1")?.execute([id.as_bytes()])?;
        Ok(())
    }

    /// Every pending entry's encoding, in arrival order.
    pub(crate) fn pool_entries_all(&self) -> Result<Vec<Vec<u8>>, ChainError> {
        let mut stmt = self.conn.prepare_cached("SELECT bytes FROM pool_entries ORDER BY seq")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|b| Ok(b?)).collect()
    }
}

/// A record's text columns in `record_text`, as the core writes them and
/// `check` expects them.
pub(crate) struct ReadableRecord {
    pub(crate) doctor: String,
    pub(crate) patient: String,
}

impl ReadableRecord {
    pub(crate) fn of(record: &Record) -> ReadableRecord {
        ReadableRecord {
            doctor: address::encode(AddressRole::Doctor, &record.dr_hash),
            patient: address::encode(AddressRole::Patient, &record.patient_hash),
        }
    }
}

/// Which hash of a record an index query looks up.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Role {
    Patient,
    Doctor,
}

//! The chain of SPEC section 5: a tree of blocks, the heaviest branch as the
//! active chain, the user states it leaves, and queries over it, stored in
//! one SQLite database.
//!
//! SQLite is the only copy of the chain: nothing is replayed or cached on
//! open, and every change (an added block, a reorganisation, an undo) is one
//! transaction, so a failed reorganisation is a rollback and leaves the
//! chain exactly as it was. The SQL is in `store`; the schema is documented
//! in `docs/FORMAT.md`.

mod check;
#[cfg(test)]
mod crash;
mod difficulty;
mod error;
mod lock;
mod pagecheck;
mod params;
mod pipeline;
mod pool;
mod registry;
mod rx;
mod serving;
mod shared;
mod store;
mod tree;
mod undo;
mod walk;
mod work;

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::block::{Block, UserState};
use crate::hash::{Hash160, Hash256};
use crate::mining::CancelHandle;
use crate::parallel::Parallelism;
use crate::pow::Difficulty;
use crate::record::Record;

pub use check::{BadBlock, CheckReport};
pub use error::{AddBlocksError, ChainError};
pub use params::{ChainParams, DEFAULT_MAX_FUTURE, MAX_AUTHORITIES, SALT_LEN};
pub use pool::{Conflict, PendingRecords, SubmitOutcome};
pub use registry::{RegisteredDispenserGrant, RegisteredGrant};
pub use rx::{CancellationEntry, DispenseEntry, EntryConflict, PrescriptionState, PrescriptionStatus};
pub use shared::{ChainGuard, MineNextOutcome, SharedChain};
pub use walk::{precheck_block, Walk};
pub use work::{ParseWorkError, Work};

/// The chain file in a chain directory: `DIR/chain.db`.
pub const CHAIN_FILE: &str = "chain.db";

/// The chain file `path` names: itself, or [`CHAIN_FILE`] in it when it is
/// a directory.
fn chain_file(path: &Path) -> std::borrow::Cow<'_, Path> {
    if path.is_dir() {
        path.join(CHAIN_FILE).into()
    } else {
        path.into()
    }
}

/// [`Chain::named`] for a store not yet in a chain (while opening).
fn named_by(store: &Store, e: ChainError) -> ChainError {
    store.or_disk(e).in_file(store.file())
}

/// The first hex digits of a txid, as a person copies them (as git takes a
/// commit's first digits): the txids from `low` to `high` start with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxidPrefix {
    low: [u8; 32],
    high: [u8; 32],
}

impl TxidPrefix {
    /// The fewest digits a prefix has (git's rule): fewer name too many
    /// records to be worth a look-up.
    pub const MIN_DIGITS: usize = 4;

    /// `None` unless `text` is [`TxidPrefix::MIN_DIGITS`] to 64 hex digits
    /// (either case).
    pub fn parse(text: &str) -> Option<TxidPrefix> {
        if !(Self::MIN_DIGITS..=64).contains(&text.len()) {
            return None;
        }
        let (mut low, mut high) = ([0u8; 32], [0xffu8; 32]);
        for (i, c) in text.chars().enumerate() {
            let digit = c.to_digit(16)? as u8;
            let byte = i / 2;
            if i % 2 == 0 {
                low[byte] = digit << 4;
                high[byte] = (digit << 4) | 0x0f;
            } else {
                low[byte] |= digit;
                high[byte] = low[byte];
            }
        }
        Some(TxidPrefix { low, high })
    }
}

use lock::WriterLock;
use store::{Location, Role, Store};

/// What adding a block did.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddOutcome {
    /// The block extends the active chain and is its new tip.
    Extended,
    /// The block is stored on a branch no heavier than the active chain; its
    /// records are checked if that branch ever becomes the active one.
    SideBranch,
    /// The block's branch became strictly heavier: it is now the active
    /// chain, with this block as its tip.
    Reorganized,
    /// The block was already stored; nothing changed.
    AlreadyKnown,
    /// The block is on a branch that, at the end of the call that added
    /// it, was neither heavier than the active chain nor a competitor near
    /// its tip (SPEC 5, v1.2): nothing of it was stored. Not an error and
    /// not marked invalid; the branch may be offered again, whole, in one
    /// call.
    Stale,
}

impl AddOutcome {
    /// The outcome's name as SPEC 9.1 spells it (`"extended"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            AddOutcome::Extended => "extended",
            AddOutcome::SideBranch => "side_branch",
            AddOutcome::Reorganized => "reorganized",
            AddOutcome::AlreadyKnown => "already_known",
            AddOutcome::Stale => "stale",
        }
    }
}

/// A block's place in the active chain.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Its height.
    pub height: u64,
    /// Its id.
    pub block_id: Hash256,
}

/// A record of the active chain with where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordEntry {
    /// Height of its block.
    pub height: u64,
    /// Id of its block.
    pub block_id: Hash256,
    /// Its block's timestamp (Unix seconds).
    pub timestamp: u64,
    /// The record.
    pub record: Record,
}

/// Progress of a long chain operation, reported to [`BatchOptions::progress`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BatchProgress {
    /// Blocks done so far.
    pub done: u64,
    /// Blocks in all.
    pub total: u64,
}

/// How to run [`Chain::add_blocks`] and [`Chain::check`].
#[derive(Clone, Copy, Default)]
pub struct BatchOptions<'a> {
    /// Called about every 100 ms and once at the end, never concurrently
    /// with itself (from a worker thread for `check`).
    pub progress: Option<&'a (dyn Fn(BatchProgress) + Sync)>,
    /// Stops the operation between two blocks when cancelled.
    pub cancel: Option<&'a CancelHandle>,
    /// Threads for the record signature checks.
    pub parallelism: Parallelism,
}

impl core::fmt::Debug for BatchOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BatchOptions")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .field("parallelism", &self.parallelism)
            .finish()
    }
}

impl BatchOptions<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(CancelHandle::is_cancelled)
    }
}

/// Calls a progress callback at a modest rate.
struct Reporter<'a> {
    callback: Option<&'a (dyn Fn(BatchProgress) + Sync)>,
    total: u64,
    last: Instant,
}

impl<'a> Reporter<'a> {
    const INTERVAL: Duration = Duration::from_millis(100);

    fn new(callback: Option<&'a (dyn Fn(BatchProgress) + Sync)>, total: u64) -> Self {
        Reporter { callback, total, last: Instant::now() }
    }

    fn tick(&mut self, done: u64) {
        if let Some(callback) = self.callback {
            if done == self.total || self.last.elapsed() >= Self::INTERVAL {
                self.last = Instant::now();
                callback(BatchProgress { done, total: self.total });
            }
        }
    }
}

/// A chain: its block tree, active chain and user states, in one SQLite
/// database (a file, or SQLite's in-memory database).
///
/// `Send` but not `Sync`: one handle is used by one thread at a time. Any
/// number of read-only handles ([`Chain::open_readonly`]) may run beside
/// the one writer, in this process or others, and see every committed block.
pub struct Chain {
    // Declared before the lock so the connection closes first.
    store: Store,
    params: ChainParams,
    read_only: bool,
    _writer: Option<WriterLock>,
}

impl core::fmt::Debug for Chain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chain").field("params", &self.params).field("read_only", &self.read_only).finish_non_exhaustive()
    }
}

impl Chain {
    /// Opens the chain stored at `path` for writing, creating it when the
    /// file does not exist or is empty. `params`: `None` uses the stored
    /// parameters (or the defaults for a new chain); `Some` must equal the
    /// stored ones (`invalid_argument` otherwise).
    ///
    /// `locked` when another process or handle has the chain open for
    /// writing.
    ///
    /// # Example
    /// ```
    /// use emr_core::chain::{AddOutcome, Chain, ChainParams};
    /// use emr_core::mining::{mine_block, BlockTemplate, MineOutcome, SearchOptions};
    /// use emr_core::{Curve, Difficulty, Hash160, Hash256, Record, SigningKey};
    ///
    /// let dir = std::env::temp_dir().join(format!("emr-doc-chain-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("chain.db");
    /// let params = ChainParams { initial_difficulty: Difficulty::new(1_000).unwrap(), ..ChainParams::default() };
    /// let doctor = SigningKey::generate(Curve::P256)?;
    /// let patient = Hash160::from_bytes([7; 20]);
    /// {
    ///     let mut chain = Chain::open(&path, Some(params))?; // created here
    ///     let template = BlockTemplate {
    ///         previous: Hash256::from_bytes([0; 32]), // a genesis block
    ///         height: chain.len()?,
    ///         miner: Hash160::from_bytes([9; 20]),
    ///         records: vec![Record::sign(&doctor, patient.as_bytes(), "Metformin 500mg", 1)?],
    ///         entries: vec![],
    ///         timestamp: 1_700_000_000,
    ///         difficulty: chain.next_difficulty()?,
    ///     };
    ///     let MineOutcome::Found(block) = mine_block(&template, &SearchOptions::default())?.outcome else { unreachable!() };
    ///     assert!(matches!(chain.add_block(&block, None)?, AddOutcome::Extended)); // durable on return
    /// }
    /// let chain = Chain::open(&path, None)?; // reopened with its stored parameters
    /// assert_eq!(chain.len()?, 1);
    /// assert_eq!(chain.user_state(&doctor.public_key_hash())?.nonce, 1);
    /// assert_eq!(chain.patient_history(&patient)?[0].record.prescription, "Metformin 500mg");
    /// # drop(chain);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A directory stands for the chain file in it, [`CHAIN_FILE`] (as the
    /// command line keeps a chain: `emr chain init DIR`). A failure to open
    /// the file names it.
    pub fn open(path: impl AsRef<Path>, params: Option<ChainParams>) -> Result<Chain, ChainError> {
        let path = chain_file(path.as_ref());
        Chain::open_at(Location::File(&path), params, false).map_err(|e| e.in_file(Some(&path)))
    }

    /// Opens an existing chain for reading only; it may run beside a writer
    /// and sees each block once its add has returned. Writes fail with
    /// `invalid_argument`.
    /// A directory stands for its [`CHAIN_FILE`], as for [`Chain::open`].
    pub fn open_readonly(path: impl AsRef<Path>) -> Result<Chain, ChainError> {
        let path = chain_file(path.as_ref());
        Chain::open_at(Location::File(&path), None, true).map_err(|e| e.in_file(Some(&path)))
    }

    /// A chain in SQLite's in-memory database, through the same code as a
    /// file; it is gone when dropped.
    pub fn in_memory(params: ChainParams) -> Result<Chain, ChainError> {
        Chain::open_at(Location::Memory, Some(params), false)
    }

    /// Every open goes through here. A file is opened through the
    /// page-checksum VFS (see `Store::open`).
    fn open_at(location: Location<'_>, params: Option<ChainParams>, read_only: bool) -> Result<Chain, ChainError> {
        let path = match location {
            Location::File(path) => Some(path),
            Location::Memory => None,
        };
        Chain::open_checked(location, params, read_only).map_err(|e| e.explained(path))
    }

    fn open_checked(location: Location<'_>, params: Option<ChainParams>, read_only: bool) -> Result<Chain, ChainError> {
        if let Some(params) = &params {
            params.validate()?;
        }
        let writer = match location {
            Location::File(path) if !read_only => Some(WriterLock::acquire(path)?),
            _ => None,
        };
        // Damage met before any table is read is in page 1: the schema.
        let store = Store::open(location, read_only).map_err(|e| e.at("schema", None))?;
        let read = if read_only { store.read_params().map(|p| (p, false)) } else { store.init(params) };
        let (params, upgraded) = read.map_err(|e| named_by(&store, e))?;
        let chain = Chain { store, params, read_only, _writer: writer };
        if upgraded {
            // SPEC v1.2: a chain written before it is re-checked under its
            // rules once, on the open that upgraded it.
            let report = chain.check(&BatchOptions::default())?;
            if let Some(bad) = report.first_bad {
                return Err(ChainError::corrupt(
                    "blocks",
                    Some(bad.height),
                    format!("the chain upgraded to SPEC v1.2 fails its check: {}", bad.error),
                ));
            }
        }
        // A cheap look at the tip, so that a damaged newest block is
        // reported at open; `check` looks at everything.
        chain.read(|c| match c.store.tip()? {
            Some((height, id)) => c.load_block(&id, height).map(drop),
            None => Ok(()),
        })?;
        Ok(chain)
    }

    /// Writes a copy of the chain, as of one committed state, to the new file
    /// `dest`: the file a restore puts back in the chain's place (docs/OPERATIONS.md,
    /// "Backups"). Consistent while a writer adds blocks beside it, in this
    /// process or another (call it on a read-only handle then); every page is
    /// read through its checksum check and written with a fresh one, and the
    /// copy is read back whole before it appears at `dest` (written under a
    /// temporary name beside it and hard-linked into place, so `dest` is absent or complete).
    /// The copy holds everything the chain's file does: blocks, indexes,
    /// the pool and the conflicts.
    ///
    /// `io` when `dest` exists or cannot be written; `corrupt` when a page
    /// of the chain fails its checksum on the way.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<(), ChainError> {
        self.store.backup_to(dest.as_ref()).map_err(|e| e.explained(self.store.file()))
    }

    /// The chain's parameters (with the salt it was created with).
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The chain's id (SPEC 5): the hash of its parameters, which every
    /// entry made for this chain names.
    pub fn chain_id(&self) -> Hash256 {
        // A chain's parameters always carry a salt (`Store::init`).
        self.params.chain_id().unwrap_or(Hash256::from_bytes([0; 32]))
    }

    /// Whether every page read from the database file is checked against
    /// its page checksum (docs/FORMAT.md, "Page checksums"): true for a file
    /// created by this version, false for an in-memory chain and for a file
    /// created without the page reserve, which opens and works unchecked.
    pub fn page_checksums(&self) -> Result<bool, ChainError> {
        self.store.page_checksums()
    }

    /// Runs `f` in one read transaction, so that its statements see one
    /// commit even while a writer commits beside it.
    fn read<T>(&self, f: impl FnOnce(&Chain) -> Result<T, ChainError>) -> Result<T, ChainError> {
        if self.store.in_transaction() {
            return f(self);
        }
        self.store.begin_read().map_err(|e| self.named(e))?;
        let result = f(self);
        self.store.rollback();
        result.map_err(|e| self.named(e))
    }

    /// Names the chain's file in an `io` error (see [`ChainError::in_file`]),
    /// and makes a `corrupt` error that was a read the disk failed an `io`
    /// error (see [`ChainError::may_be_disk_failure`]).
    fn named(&self, e: ChainError) -> ChainError {
        named_by(&self.store, e)
    }

    fn writable(&self) -> Result<(), ChainError> {
        if self.read_only {
            return Err(ChainError::ReadOnly);
        }
        Ok(())
    }

    /// Reads a stored block and checks it is the one its id names.
    fn load_block(&self, id: &Hash256, height: u64) -> Result<Block, ChainError> {
        let bytes = self
            .store
            .block_bytes(id)
            .map_err(|e| e.at("blocks", Some(height)))?
            .ok_or_else(|| ChainError::corrupt("blocks", Some(height), format!("block {id} is missing")))?;
        pipeline::decode_block(height, id, &bytes)
    }

    /// Blocks in the active chain.
    pub fn len(&self) -> Result<u64, ChainError> {
        Ok(self.store.tip().map_err(|e| self.named(e))?.map_or(0, |(height, _)| height.saturating_add(1)))
    }

    /// Whether the active chain has no block.
    pub fn is_empty(&self) -> Result<bool, ChainError> {
        Ok(self.store.tip().map_err(|e| self.named(e))?.is_none())
    }

    /// The active chain's last block.
    pub fn tip(&self) -> Result<Option<BlockRef>, ChainError> {
        Ok(self.store.tip().map_err(|e| self.named(e))?.map(|(height, block_id)| BlockRef { height, block_id }))
    }

    /// The active block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, ChainError> {
        self.read(|c| match c.store.active_id(height)? {
            Some(id) => c.load_block(&id, height).map(Some),
            None => Ok(None),
        })
    }

    /// The active blocks at heights `start .. stop`, in order, read a few at
    /// a time. Each item is checked against its id; damage ends the
    /// iteration with a `corrupt` error.
    pub fn blocks(&self, start: u64, stop: u64) -> Blocks<'_> {
        Blocks { chain: self, next: start, stop, buffer: VecDeque::new(), done: start >= stop }
    }

    /// The sum of the active chain's difficulties.
    pub fn total_difficulty(&self) -> Result<Work, ChainError> {
        self.read(|c| match c.store.tip()? {
            Some((height, id)) => Ok(c.row(&id, height)?.work),
            None => Ok(Work::ZERO),
        })
    }

    /// The difficulty the next block on the tip must carry.
    pub fn next_difficulty(&self) -> Result<Difficulty, ChainError> {
        self.read(|c| {
            let tip = match c.store.tip()? {
                Some((height, id)) => Some(c.row(&id, height)?),
                None => None,
            };
            c.difficulty_after(tip.as_ref())
        })
    }

    /// A user's state after the active chain (`UserState { 0, 0 }` for a
    /// hash it never touched).
    pub fn user_state(&self, hash: &Hash160) -> Result<UserState, ChainError> {
        Ok(self.store.state(hash).map_err(|e| self.named(e))?.unwrap_or_default())
    }

    /// Every record for `patient_hash` in the active chain, in chain order.
    pub fn patient_history(&self, patient_hash: &Hash160) -> Result<Vec<RecordEntry>, ChainError> {
        self.read(|c| c.entries(c.store.record_places(Role::Patient, patient_hash)?))
    }

    /// Every record by the doctor `dr_hash` in the active chain, in chain order.
    pub fn doctor_records(&self, dr_hash: &Hash160) -> Result<Vec<RecordEntry>, ChainError> {
        self.read(|c| c.entries(c.store.record_places(Role::Doctor, dr_hash)?))
    }

    /// The record with this txid in the active chain.
    pub fn find_record(&self, txid: &Hash256) -> Result<Option<RecordEntry>, ChainError> {
        self.read(|c| Ok(c.entries(c.store.record_place_by_txid(txid)?.into_iter().collect())?.pop()))
    }

    /// The txids in the active chain that start with `prefix`, in txid
    /// order, at most `limit` of them: a caller asking for 2 learns whether
    /// the prefix names one record.
    pub fn txids_with_prefix(&self, prefix: &TxidPrefix, limit: usize) -> Result<Vec<Hash256>, ChainError> {
        self.store.record_txids_between(&prefix.low, &prefix.high, limit).map_err(|e| self.named(e))
    }

    fn entries(&self, places: Vec<store::RecordPlace>) -> Result<Vec<RecordEntry>, ChainError> {
        let mut out = Vec::with_capacity(places.len());
        let mut block: Option<Block> = None;
        for place in places {
            if block.as_ref().is_none_or(|b| b.height != place.height) {
                let id = self.store.active_id(place.height)?.ok_or_else(|| {
                    ChainError::corrupt("records", Some(place.height), "a record indexed at no active block")
                })?;
                block = Some(self.load_block(&id, place.height)?);
            }
            let Some(b) = &block else { continue };
            let record = b.records.get(place.index).cloned().ok_or_else(|| {
                ChainError::corrupt("records", Some(place.height), "a record index past the block's records")
            })?;
            out.push(RecordEntry { height: place.height, block_id: b.block_id, timestamp: b.timestamp, record });
        }
        Ok(out)
    }
}

/// Iterator over active blocks, from [`Chain::blocks`].
#[derive(Debug)]
pub struct Blocks<'a> {
    chain: &'a Chain,
    next: u64,
    stop: u64,
    buffer: VecDeque<Block>,
    done: bool,
}

impl Iterator for Blocks<'_> {
    type Item = Result<Block, ChainError>;

    fn next(&mut self) -> Option<Self::Item> {
        const PAGE: u64 = 64;
        if self.buffer.is_empty() && !self.done {
            let limit = PAGE.min(self.stop.saturating_sub(self.next));
            let page = self.chain.read(|c| {
                c.store.active_blocks(self.next, limit)?.iter().map(|s| pipeline::decode_block(s.height, &s.id, &s.bytes)).collect()
            });
            match page {
                Ok(page) => {
                    let page: Vec<Block> = page;
                    match page.last() {
                        Some(last) => self.next = last.height.saturating_add(1),
                        None => self.done = true,
                    }
                    self.done |= self.next >= self.stop || (page.len() as u64) < limit;
                    self.buffer.extend(page);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::{Chain, ChainError, ChainParams, TxidPrefix, CHAIN_FILE};
    use crate::pow::Difficulty;
    use crate::{Curve, SigningKey};

    #[test]
    fn a_directory_stands_for_its_chain_file_and_a_failure_names_the_file() {
        let dir = std::env::temp_dir().join(format!("emr-core-chain-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let params = ChainParams { initial_difficulty: Difficulty::new(1).unwrap(), ..ChainParams::default() };
        let id = Chain::open(&dir, Some(params)).unwrap().chain_id();
        assert!(dir.join(CHAIN_FILE).is_file());
        assert_eq!(Chain::open_readonly(&dir).unwrap().chain_id(), id);
        assert_eq!(Chain::open(dir.join(CHAIN_FILE), None).unwrap().chain_id(), id);
        let missing = dir.join("no").join("chain.db");
        for error in [Chain::open(&missing, None).err(), Chain::open_readonly(&missing).err()] {
            match error {
                Some(ChainError::Io(message)) => assert!(message.starts_with(&format!("{}: ", missing.display())), "{message}"),
                other => panic!("{other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        let key = SigningKey::generate(Curve::P256).unwrap();
        assert_eq!(key.public_key().key_hash(), key.public_key_hash());
    }

    #[test]
    fn a_prefix_bounds_the_txids_that_start_with_it() {
        let p = TxidPrefix::parse("aBc1f").unwrap();
        assert_eq!(p.low[..3], [0xab, 0xc1, 0xf0]);
        assert_eq!(p.high[..3], [0xab, 0xc1, 0xff]);
        assert!(p.low[3..].iter().all(|&b| b == 0) && p.high[3..].iter().all(|&b| b == 0xff));
        let whole = "00".repeat(31) + "7e";
        let p = TxidPrefix::parse(&whole).unwrap();
        assert_eq!((p.low, p.high), (p.low, p.low));
        for bad in ["", "abc", "abcg", "ab c", "éabc", &"a".repeat(65)] {
            assert_eq!(TxidPrefix::parse(bad), None, "{bad:?}");
        }
    }
}

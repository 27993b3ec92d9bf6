//! A chain directory: `DIR/chain.db` (the core's `Chain`) and the pool of
//! records submitted but not yet mined.
//!
//! STUB, to be swapped for the core's record pool (`Chain::submit`,
//! `pending`, `template`, `mine_next`, on another branch) when it lands.
//! Until then the pool is kept here, in files: `DIR/pending/<dr_hash>-<nonce>.rec`,
//! one canonical record encoding each, deduplicated by `(dr_hash, nonce)`
//! (a record's identity, SPEC section 2), and templates are built from the
//! chain's public API (`tip`, `len`, `next_difficulty`, `user_state`). Only
//! this module knows how the pool is stored; the commands call `submit`,
//! `pending`, `template` and `mine_next` with the core pool's signatures
//! and outcomes, so swapping it changes nothing the user sees.
//!
//! A record stays in the pool directory after it is mined; it counts as
//! pending while its nonce is above its doctor's nonce on the active chain.
//! So a record whose block is dropped by a reorganisation (or `undo`) is
//! pending again, and one mined elsewhere and imported stops being pending.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use emr_core::chain::{AddOutcome, Chain, ChainParams};
use emr_core::mining::{mine_block, BlockTemplate, MineOutcome, SearchOptions, SearchStats};
use emr_core::{Block, Hash160, Hash256, Record, MAX_RECORDS};

use crate::error::{file_error, CliError};

/// What submitting a record did (the core pool's `SubmitOutcome`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Pending, and its doctor's earlier records are all on the chain or
    /// pending: the next block can take it.
    Ready,
    /// Pending, but a record of its doctor with a lower nonce is missing:
    /// held until that one arrives.
    Held,
    /// A record with the same `(dr_hash, nonce)` is already pending.
    AlreadyPending,
}

impl SubmitOutcome {
    pub fn name(self) -> &'static str {
        match self {
            SubmitOutcome::Ready => "ready",
            SubmitOutcome::Held => "held",
            SubmitOutcome::AlreadyPending => "already_pending",
        }
    }
}

/// How one `mine_next` ended.
pub enum Mined {
    /// A block was found and added to the chain.
    Added {
        block: Block,
        outcome: AddOutcome,
        stats: SearchStats,
    },
    /// The search stopped without a block (cancelled, timed out, range exhausted).
    Stopped { outcome: MineOutcome },
}

pub const CHAIN_FILE: &str = "chain.db";
const POOL_DIR: &str = "pending";

/// The current Unix time in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An open chain directory.
pub struct Node {
    dir: PathBuf,
    chain: Chain,
}

impl Node {
    /// Creates a chain in `dir` (made if missing); refuses a directory that
    /// already holds one.
    pub fn init(dir: &Path, params: ChainParams) -> Result<Node, CliError> {
        fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let db = dir.join(CHAIN_FILE);
        if db.exists() {
            return Err(CliError::invalid_argument(format!(
                "{} already holds a chain",
                dir.display()
            )));
        }
        let chain = Chain::open(&db, Some(params))?;
        fs::create_dir_all(dir.join(POOL_DIR)).map_err(|e| file_error(dir, e))?;
        Ok(Node {
            dir: dir.to_owned(),
            chain,
        })
    }

    /// Opens the chain in `dir`: for writing (one writer at a time,
    /// `locked` otherwise) or for reading (beside a writer).
    pub fn open(dir: &Path, write: bool) -> Result<Node, CliError> {
        let db = dir.join(CHAIN_FILE);
        if !db.is_file() {
            return Err(CliError::not_found(format!(
                "no chain in {} (create one with `emr chain init {}`)",
                dir.display(),
                dir.display()
            )));
        }
        let chain = if write {
            Chain::open(&db, None)?
        } else {
            Chain::open_readonly(&db)?
        };
        Ok(Node {
            dir: dir.to_owned(),
            chain,
        })
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    pub fn chain_mut(&mut self) -> &mut Chain {
        &mut self.chain
    }

    fn pool_dir(&self) -> PathBuf {
        self.dir.join(POOL_DIR)
    }

    fn pool_path(&self, dr_hash: &Hash160, nonce: u64) -> PathBuf {
        self.pool_dir().join(format!("{dr_hash}-{nonce:020}.rec"))
    }

    /// Adds a record to the pool. The record must verify as its doctor's
    /// `nonce`-th record, and that nonce must not be used on the chain yet
    /// (`invalid_nonce`).
    pub fn submit(&mut self, record: &Record) -> Result<SubmitOutcome, CliError> {
        if record.nonce == 0 {
            return Err(emr_core::RecordError::InvalidNonce.into());
        }
        record.verify(record.nonce - 1)?;
        let last = self.chain.user_state(&record.dr_hash)?.nonce;
        if record.nonce <= last {
            return Err(CliError::new(
                "invalid_nonce",
                format!(
                    "the doctor's nonce {} is already used on the chain (its last is {last})",
                    record.nonce
                ),
            ));
        }
        let path = self.pool_path(&record.dr_hash, record.nonce);
        if path.exists() {
            return Ok(SubmitOutcome::AlreadyPending);
        }
        let dir = self.pool_dir();
        fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
        crate::write_file_atomic(&path, &record.to_bytes(), false)?;
        // Ready when every nonce between the chain's and this one is pooled
        // too (read from the file names: no record is decoded here).
        let pooled = self.pooled_nonces(&record.dr_hash)?;
        let gap = (last + 1..record.nonce).find(|n| !pooled.contains(n));
        Ok(if gap.is_none() {
            SubmitOutcome::Ready
        } else {
            SubmitOutcome::Held
        })
    }

    /// The nonces of `dr_hash`'s records in the pool directory, from the
    /// file names.
    fn pooled_nonces(&self, dr_hash: &Hash160) -> Result<BTreeSet<u64>, CliError> {
        let dir = self.pool_dir();
        let prefix = format!("{dr_hash}-");
        let mut nonces = BTreeSet::new();
        for entry in fs::read_dir(&dir).map_err(|e| file_error(&dir, e))? {
            let name = entry.map_err(|e| file_error(&dir, e))?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".rec"))
            {
                if let Ok(n) = n.parse() {
                    nonces.insert(n);
                }
            }
        }
        Ok(nonces)
    }

    /// Pending records (nonce above the doctor's on the chain), by doctor
    /// and then nonce. Files that do not decode or verify are skipped.
    pub fn pending(&self) -> Result<Vec<Record>, CliError> {
        Ok(self.pending_by_doctor()?.into_values().flatten().collect())
    }

    fn pending_by_doctor(&self) -> Result<BTreeMap<Hash160, Vec<Record>>, CliError> {
        let dir = self.pool_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(file_error(&dir, e)),
        };
        let mut last_nonce: BTreeMap<Hash160, u64> = BTreeMap::new();
        let mut out: BTreeMap<Hash160, Vec<Record>> = BTreeMap::new();
        for entry in entries {
            let path = entry.map_err(|e| file_error(&dir, e))?.path();
            if path.extension().is_none_or(|x| x != "rec") {
                continue;
            }
            let Ok(bytes) = fs::read(&path) else { continue };
            let Ok(record) = Record::from_bytes(&bytes) else {
                continue;
            };
            if record.nonce == 0 || record.verify(record.nonce - 1).is_err() {
                continue;
            }
            let last = match last_nonce.get(&record.dr_hash) {
                Some(n) => *n,
                None => {
                    let n = self.chain.user_state(&record.dr_hash)?.nonce;
                    last_nonce.insert(record.dr_hash, n);
                    n
                }
            };
            if record.nonce > last {
                out.entry(record.dr_hash).or_default().push(record);
            }
        }
        for records in out.values_mut() {
            records.sort_by_key(|r| r.nonce);
        }
        Ok(out)
    }

    /// The next block's template: each doctor's pending records that follow
    /// its chain nonce without a gap, in nonce order, doctors by hash, up to
    /// 25 records; the timestamp is at least the tip's.
    pub fn template(&self, miner: &Hash160, timestamp: u64) -> Result<BlockTemplate, CliError> {
        let mut records = Vec::new();
        for (dr_hash, pending) in self.pending_by_doctor()? {
            let last = self.chain.user_state(&dr_hash)?.nonce;
            let n = contiguous(last, &pending) as usize;
            for record in pending.into_iter().take(n) {
                if records.len() < MAX_RECORDS {
                    records.push(record);
                }
            }
        }
        let tip = self.chain.tip()?;
        let (previous, height, parent_time) = match tip {
            Some(tip) => {
                let block = self
                    .chain
                    .block_at(tip.height)?
                    .ok_or_else(|| CliError::new("corrupt", "the tip block is missing"))?;
                (tip.block_id, tip.height + 1, block.timestamp)
            }
            None => (Hash256::from_bytes([0; 32]), 0, 0),
        };
        Ok(BlockTemplate {
            previous,
            height,
            miner: *miner,
            records,
            timestamp: timestamp.max(parent_time),
            difficulty: self.chain.next_difficulty()?,
        })
    }

    /// Mines the template for `miner` and adds the block (checked against
    /// the wall clock `now`).
    pub fn mine_next(
        &mut self,
        miner: &Hash160,
        timestamp: u64,
        options: &SearchOptions,
        now: u64,
    ) -> Result<Mined, CliError> {
        let template = self.template(miner, timestamp)?;
        let result = mine_block(&template, options)?;
        match result.outcome {
            MineOutcome::Found(block) => {
                let outcome = self.chain.add_block(&block, Some(now))?;
                Ok(Mined::Added {
                    block,
                    outcome,
                    stats: result.stats,
                })
            }
            outcome => Ok(Mined::Stopped { outcome }),
        }
    }
}

/// How many of `pending` (one doctor's, sorted by nonce) follow `last`
/// without a gap.
fn contiguous(last: u64, pending: &[Record]) -> u64 {
    let mut next = last + 1;
    for record in pending {
        if record.nonce != next {
            break;
        }
        next += 1;
    }
    next - last - 1
}

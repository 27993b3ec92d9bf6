//! A chain directory: `DIR/chain.db`, the core's `Chain`, whose database
//! also holds the pool of records submitted but not yet mined (the core's
//! `submit`, `pending`, `template`). Records of a block undone or dropped by
//! a reorganisation return to the pool; records sealed in an imported block
//! leave it.
//!
//! `mine_next` here mines the core's template and adds the block through
//! the one handle this process holds: another writer cannot open the chain
//! meanwhile (`locked`), so nothing can race it, and the search statistics
//! stay available for the progress display.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub use emr_core::chain::SubmitOutcome;
use emr_core::chain::{AddOutcome, Chain, ChainParams, CHAIN_FILE};
use emr_core::mining::{mine_block, BlockTemplate, MineOutcome, SearchOptions, SearchStats};
use emr_core::{Block, Entry, Hash160, Record};

use crate::error::{file_error, CliError};

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

/// The current Unix time in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An open chain directory.
pub struct Node {
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
        Ok(Node { chain })
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
        Ok(Node { chain })
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    pub fn chain_mut(&mut self) -> &mut Chain {
        &mut self.chain
    }

    /// Adds a record to the chain's pool of pending records (stored in the
    /// chain's database). The record must verify as its doctor's
    /// `nonce`-th record, and that nonce must not be used on the chain yet
    /// (`invalid_nonce`).
    pub fn submit(&mut self, record: &Record) -> Result<SubmitOutcome, CliError> {
        Ok(self.chain.submit(record)?)
    }

    /// Adds a grant or revocation to the chain's pool, for the next blocks
    /// (checked as a block would check it after the pending entries).
    pub fn submit_entry(&mut self, entry: &Entry) -> Result<SubmitOutcome, CliError> {
        Ok(self.chain.submit_entry(entry)?)
    }

    /// Pending records: those the next blocks can take in template order,
    /// then the held ones.
    pub fn pending(&self) -> Result<Vec<Record>, CliError> {
        Ok(self.chain.pending()?)
    }

    /// The next block's template (the core pool's: up to 25 records, each
    /// doctor's in nonce order without gaps; the timestamp at least the tip's).
    pub fn template(&self, miner: &Hash160, timestamp: u64) -> Result<BlockTemplate, CliError> {
        Ok(self.chain.template(miner, timestamp)?)
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

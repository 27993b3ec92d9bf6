//! `Chain::check` in two halves, for callers that spread the first over
//! many machines (the Python package's `cryptoemr.distributed`):
//!
//! - [`precheck_block`]: the stateless half of one encoded block (decoding,
//!   its id, and every record check but the nonce's: the signatures), which
//!   may run anywhere and in any order;
//! - [`Walk`]: the in-order half (linkage, the expected difficulty, section
//!   3's checks 1-6 and the nonces, the user states), fed the blocks in
//!   chain order with what `precheck_block` said of each.
//!
//! Both run exactly the code `check` runs (the `pipeline` stages and the
//! replay's linkage rule), so the first failure a walk reports, and its
//! height, are the ones `check` would report for a chain whose active
//! blocks are these. What `check` also compares against the store (its
//! derived tables, undo data and SQLite's integrity check) is not here: a
//! walk has no store.
//!
//! [`Chain::active_ids`] is what ties a walk to a store when other
//! machines read the blocks: a caller holds each block they hand back to
//! the id the store names at its height.

use std::collections::VecDeque;

use crate::block::{Block, UserStates};
use crate::hash::Hash256;
use crate::parallel::Parallelism;

use super::check::{block_registry, check_linkage};
use super::registry::MemoryRegistry;
use super::difficulty::{expected_difficulty, Sample};
use super::pipeline::{self, RecordCheck};
use super::{Chain, ChainError, ChainParams};

/// The stateless half of checking the block stored at `height` as
/// `encoded` (its canonical encoding): it must decode, hash to its own
/// `block_id` and carry `height` (`corrupt` otherwise, as `check` reports
/// a damaged stored block). Returns how many of its leading records pass
/// every record check but the nonce's, signatures included, checked on
/// `parallelism` threads; [`Walk::apply`] takes that number.
pub fn precheck_block(height: u64, encoded: &[u8], parallelism: Parallelism) -> Result<usize, ChainError> {
    let block = decode(height, encoded)?;
    let passed = pipeline::records_passing_all_but_nonce(&[block], parallelism);
    Ok(passed.first().copied().unwrap_or(0))
}

fn decode(height: u64, encoded: &[u8]) -> Result<Block, ChainError> {
    // The id the block names itself; damage that makes it undecodable is
    // reported by `decode_block` as it is for a stored block.
    let id = Block::from_bytes(encoded).map(|b| b.block_id).unwrap_or(Hash256::from_bytes([0; 32]));
    pipeline::decode_block(height, &id, encoded)
}

impl Chain {
    /// The ids of the active blocks, genesis first, read in one
    /// transaction (no block is read). A caller whose blocks were read by
    /// machines it does not trust compares each block's own id with these.
    pub fn active_ids(&self) -> Result<Vec<Hash256>, ChainError> {
        self.read(|c| {
            (0..c.len()?)
                .map(|height| {
                    c.store
                        .active_id(height)?
                        .ok_or_else(|| ChainError::corrupt("active", Some(height), "no active block at this height"))
                })
                .collect()
        })
    }
}

/// The in-order half of `Chain::check`: apply blocks from genesis, in
/// order, each after [`precheck_block`] passed it.
#[derive(Clone, Debug)]
pub struct Walk {
    params: ChainParams,
    window: VecDeque<Sample>,
    states: UserStates,
    registry: MemoryRegistry,
    chain_id: Hash256,
    parent: Option<(Hash256, u64)>,
    blocks: u64,
}

impl Walk {
    /// A walk from an empty chain with these parameters.
    /// The parameters must carry the chain's salt (its entries name the
    /// chain's id): `invalid_argument` otherwise.
    pub fn new(params: ChainParams) -> Result<Walk, ChainError> {
        params.validate()?;
        let chain_id = params.chain_id().ok_or(ChainError::InvalidParams(super::params::MISSING_SALT))?;
        Ok(Walk {
            chain_id,
            params,
            window: VecDeque::new(),
            states: UserStates::new(),
            registry: MemoryRegistry::default(),
            parent: None,
            blocks: 0,
        })
    }

    /// Blocks applied so far: the height the next block must have.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The user states after the blocks applied.
    pub fn states(&self) -> &UserStates {
        &self.states
    }

    /// Applies the next block, `encoded`, whose first `passed` records
    /// passed [`precheck_block`]. An error is the block's, as `check`
    /// reports it at height [`Walk::blocks`]; the walk is then unchanged
    /// and should not be fed further.
    pub fn apply(&mut self, encoded: &[u8], passed: usize) -> Result<(), ChainError> {
        let height = self.blocks;
        let block = decode(height, encoded)?;
        let window_len = usize::try_from(self.params.window.saturating_add(1)).unwrap_or(usize::MAX);
        let samples: Vec<Sample> = self.window.iter().copied().collect();
        let difficulty = expected_difficulty(&self.params, height, &samples);
        check_linkage(&block, height, self.parent)?;
        let mut registry = block_registry(&self.registry, self.chain_id, &self.params, &block, height)?;
        let changes = pipeline::verify_block(
            &block,
            difficulty,
            &self.states,
            self.params.block_reward,
            RecordCheck::NonceOnlyFor(passed),
            &mut registry,
        )
        .map_err(|error| ChainError::Block { height, block_id: block.block_id, error })?;
        self.states.extend(changes);
        self.registry.apply(&block, &registry.changes());
        self.window.push_back(Sample { difficulty: block.difficulty, timestamp: block.timestamp });
        if self.window.len() > window_len {
            self.window.pop_front();
        }
        self.parent = Some((block.block_id, block.timestamp));
        self.blocks += 1;
        Ok(())
    }
}

//! The validation pipeline of `add_blocks` and `check`: blocks stream
//! through threads joined by bounded channels,
//!
//! ```text
//! stored bytes ─▶ decode ─▶ record signatures (all cores) ─▶ in order: linkage, difficulty, states
//! ```
//!
//! The signature stage checks each record as if its nonce were right (its
//! previous nonce taken as `nonce - 1`), which is every check but the
//! nonce's, and passes on how many leading records of the block passed. The
//! in-order stage then needs only the nonce comparison for those; from the
//! first one that did not pass, it verifies for real. So the first failure it
//! reports is exactly the one a sequential loop would.

use std::borrow::Borrow;
use std::thread::Scope;

use crossbeam_channel::{bounded, Receiver};

use crate::block::{Block, BlockError, UserStates};
use crate::hash::Hash256;
use crate::parallel::Parallelism;
use crate::pow::Difficulty;
use crate::record::{verify_records, BatchError, Record, RecordError};

use super::error::ChainError;
use super::store::{BlockRow, StoredBlock};

/// Blocks in flight between two stages: enough to keep every stage busy,
/// few enough that a batch's memory does not grow with its length.
const DEPTH: usize = 32;

/// How much of a block's record checking is still to do.
#[derive(Copy, Clone, Debug)]
pub(crate) enum RecordCheck {
    /// Every check of every record, on this many threads.
    All(Parallelism),
    /// The first `n` records passed every check but the nonce's.
    NonceOnlyFor(usize),
}

/// How many leading records of `block` pass every check but the nonce's.
pub(crate) fn records_passing_all_but_nonce(block: &Block, parallelism: Parallelism) -> usize {
    let fields: Vec<_> = block.records.iter().map(Record::fields).collect();
    // A nonce of 0 can never be valid; u64::MAX has no successor, so the
    // record fails here and is verified for real later.
    let assumed: Vec<u64> = block.records.iter().map(|r| r.nonce.checked_sub(1).unwrap_or(u64::MAX)).collect();
    match verify_records(&fields, &assumed, parallelism) {
        Ok(()) => fields.len(),
        Err(BatchError::Record { index, .. }) => index,
        Err(BatchError::LengthMismatch { .. }) => 0,
    }
}

/// Section 3 for `block` against `states`, with `check` saying what the
/// signature stage already did.
pub(crate) fn verify_block(
    block: &Block,
    difficulty: Difficulty,
    states: &UserStates,
    reward: u64,
    check: RecordCheck,
) -> Result<UserStates, BlockError> {
    let fields = block.fields();
    match check {
        RecordCheck::All(parallelism) => fields.verify_and_get_changes_with(difficulty, states, reward, parallelism),
        RecordCheck::NonceOnlyFor(passed) => fields.verify_and_get_changes_by(difficulty, states, reward, |previous| {
            fields.records.iter().zip(previous).enumerate().find_map(|(i, (record, &previous))| {
                let result = if i < passed {
                    // Checks 1-3 passed and do not depend on the nonce, so
                    // the nonce check is the first that can fail.
                    if previous.checked_add(1) == Some(record.nonce) {
                        Ok(())
                    } else {
                        Err(RecordError::InvalidNonce)
                    }
                } else {
                    record.verify(previous)
                };
                result.err().map(|error| (i, error))
            })
        }),
    }
}

/// Decodes a stored block and checks it is the block its row names.
pub(crate) fn decode_block(height: u64, id: &Hash256, bytes: &[u8]) -> Result<Block, ChainError> {
    let block = Block::from_bytes(bytes)
        .map_err(|e| ChainError::corrupt("blocks", Some(height), format!("block {id} does not decode: {e}")))?;
    if block.block_id != *id || block.calculate_block_id() != *id {
        return Err(ChainError::corrupt("blocks", Some(height), format!("block {id} does not hash to its id")));
    }
    if block.height != height {
        return Err(ChainError::corrupt("blocks", Some(height), format!("block {id} has height {}", block.height)));
    }
    Ok(block)
}

/// An active block decoded, with what the store keeps beside it.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) block: Block,
    pub(crate) row: BlockRow,
    pub(crate) undo: Vec<u8>,
}

impl Borrow<Block> for Decoded {
    fn borrow(&self) -> &Block {
        &self.block
    }
}

/// A block from the signature stage, with how many of its leading records
/// passed every check but the nonce's.
pub(crate) type Prechecked<B> = Result<(B, usize), ChainError>;

/// The decode stage: stored blocks in, blocks (or damage) out, in order.
pub(crate) fn spawn_decoder<'scope>(
    scope: &'scope Scope<'scope, '_>,
    stored: Receiver<StoredBlock>,
) -> Receiver<Result<Decoded, ChainError>> {
    let (tx, rx) = bounded(DEPTH);
    scope.spawn(move || {
        for item in stored {
            let decoded = decode_block(item.height, &item.id, &item.bytes)
                .map(|block| Decoded { block, row: item.row, undo: item.undo });
            if tx.send(decoded).is_err() {
                break;
            }
        }
    });
    rx
}

/// The signature stage: each block with how many of its leading records
/// passed every check but the nonce's, in order. Errors pass through.
pub(crate) fn spawn_prechecker<'scope, B, I>(
    scope: &'scope Scope<'scope, '_>,
    blocks: I,
    parallelism: Parallelism,
) -> Receiver<Prechecked<B>>
where
    B: Borrow<Block> + Send + 'scope,
    I: IntoIterator<Item = Result<B, ChainError>> + Send + 'scope,
{
    let (tx, rx) = bounded(DEPTH);
    scope.spawn(move || {
        for item in blocks {
            let item = item.map(|block| {
                let passed = records_passing_all_but_nonce(block.borrow(), parallelism);
                (block, passed)
            });
            if tx.send(item).is_err() {
                break;
            }
        }
    });
    rx
}

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
//!
//! The signature stage takes blocks a window at a time (up to
//! [`WINDOW_RECORDS`] records or [`WINDOW_BLOCKS`] blocks) and checks the
//! window's records as one flat batch on the kept pool, so blocks with few
//! records still use every core and the pool is woken once per window, not
//! once per block. The batch reports its lowest failing record; the blocks
//! before it passed in full, its block passed up to it, and the blocks after
//! it are checked again as a batch of their own (a block of a side branch
//! may fail here and the blocks after it still be added).

use std::borrow::Borrow;
use std::thread::Scope;

use crossbeam_channel::{bounded, Receiver};

use crate::block::{Block, BlockError, BlockFields, ContentChecks, UserStates};
use crate::entry::EntryError;
use crate::hash::Hash256;
use crate::parallel::Parallelism;
use crate::pow::Difficulty;
use crate::record::{KeyCache, Record, RecordError};

use super::error::ChainError;
use super::registry::BlockRegistry;
use super::store::{BlockRow, StoredBlock};

/// Blocks in flight between two stages: enough to keep every stage busy,
/// few enough that a batch's memory does not grow with its length.
const DEPTH: usize = 64;

/// The signature stage checks at most this many records together...
const WINDOW_RECORDS: usize = 256;

/// ...from at most this many blocks: half of [`DEPTH`], so that the in-order
/// stage still has a window's worth queued while the next one is checked.
const WINDOW_BLOCKS: usize = DEPTH / 2;

/// How much of a block's record checking is still to do.
#[derive(Copy, Clone, Debug)]
pub(crate) enum RecordCheck {
    /// Every check of every record, on this many threads.
    All(Parallelism),
    /// The first `n` records passed every check but the nonce's.
    NonceOnlyFor(usize),
}

/// For each block of `window`, how many of its leading records pass every
/// check but the nonce's; the records of all the blocks are checked as one
/// batch on up to `parallelism` threads.
pub(crate) fn records_passing_all_but_nonce<B: Borrow<Block>>(window: &[B], parallelism: Parallelism) -> Vec<usize> {
    let mut passed = vec![0; window.len()];
    let mut start = 0;
    while start < window.len() {
        // Where each block's records begin in the flat batch.
        let mut offsets = Vec::with_capacity(window.len() - start);
        let mut fields = Vec::new();
        for block in &window[start..] {
            offsets.push(fields.len());
            fields.extend(block.borrow().records.iter().map(Record::fields));
        }
        // A nonce of 0 can never be valid; u64::MAX has no successor, so the
        // record fails here and is verified for real later.
        // Each doctor's key is parsed once per window.
        let keys = KeyCache::new(&fields);
        let previous = |i: usize| fields[i].nonce.checked_sub(1).unwrap_or(u64::MAX);
        match keys.first_failure(&fields, parallelism, previous) {
            None => {
                for (slot, block) in passed[start..].iter_mut().zip(&window[start..]) {
                    *slot = block.borrow().records.len();
                }
                break;
            }
            Some((flat, _)) => {
                // The last block starting at or before `flat` holds it (empty
                // blocks share their offset with the block after them).
                let failed = offsets.partition_point(|&offset| offset <= flat) - 1;
                for (slot, block) in passed[start..start + failed].iter_mut().zip(&window[start..]) {
                    *slot = block.borrow().records.len();
                }
                passed[start + failed] = flat - offsets[failed];
                start += failed + 1;
            }
        }
    }
    passed
}

/// Section 3 (with 8.1's entries) for `block` against `states` and
/// `registry`, with `check` saying what the signature stage already did.
pub(crate) fn verify_block(
    block: &Block,
    difficulty: Difficulty,
    states: &UserStates,
    reward: u64,
    check: RecordCheck,
    registry: &mut BlockRegistry,
) -> Result<UserStates, BlockError> {
    let fields = block.fields();
    fields.verify_and_get_changes_by(difficulty, states, reward, &mut ChainChecks { fields: &fields, check, registry })
}

/// A block's entry and record checks in a chain: each entry's checks 1-2
/// then the registry's 3-6, in order; each record's own checks (what the
/// signature stage left of them), then `unauthorized_doctor`.
struct ChainChecks<'b, 'a, 'r> {
    fields: &'b BlockFields<'a>,
    check: RecordCheck,
    registry: &'r mut BlockRegistry,
}

impl ContentChecks for ChainChecks<'_, '_, '_> {
    fn first_entry_failure(&mut self) -> Option<(usize, EntryError)> {
        self.fields.entries.iter().enumerate().find_map(|(i, entry)| {
            entry.verify().and_then(|()| self.registry.apply(i, entry)).err().map(|error| (i, error))
        })
    }

    fn first_record_failure(&mut self, previous_nonces: &[u64]) -> Option<(usize, RecordError)> {
        let records = &self.fields.records;
        let own = match self.check {
            RecordCheck::All(parallelism) => {
                KeyCache::new(records).first_failure(records, parallelism, |i| previous_nonces[i])
            }
            RecordCheck::NonceOnlyFor(passed) => {
                records.iter().zip(previous_nonces).enumerate().find_map(|(i, (record, &previous))| {
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
            }
        };
        // Records before `own`'s index passed their own checks, so the first
        // unauthorized one among them fails first.
        let checked = own.map_or(records.len(), |(i, _)| i);
        let unauthorized = records[..checked].iter().position(|r| !self.registry.authorizes(r.dr_hash));
        match unauthorized {
            Some(i) => Some((i, RecordError::UnauthorizedDoctor)),
            None => own,
        }
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
    // The block id covers the records' txids, not their fields: a stored
    // record must also hash to its txid, or a query would hand out a record
    // that is not the one the block sealed.
    if let Some(index) = block.records.iter().position(|r| r.calculate_txid() != r.txid) {
        return Err(ChainError::corrupt(
            "blocks",
            Some(height),
            format!("block {id}: record {index} does not hash to its txid"),
        ));
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
/// passed every check but the nonce's, in order, checked a window of blocks
/// at a time. Errors pass through, after the blocks before them.
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
        let mut blocks = blocks.into_iter();
        let mut window: Vec<B> = Vec::with_capacity(WINDOW_BLOCKS);
        loop {
            let mut records = 0;
            let mut error = None;
            let mut ended = false;
            while window.len() < WINDOW_BLOCKS && records < WINDOW_RECORDS {
                match blocks.next() {
                    Some(Ok(block)) => {
                        records += block.borrow().records.len();
                        window.push(block);
                    }
                    Some(Err(e)) => {
                        error = Some(e);
                        break;
                    }
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            let passed = records_passing_all_but_nonce(&window, parallelism);
            for (block, passed) in window.drain(..).zip(passed) {
                if tx.send(Ok((block, passed))).is_err() {
                    return;
                }
            }
            if let Some(e) = error {
                if tx.send(Err(e)).is_err() {
                    return;
                }
            }
            if ended {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash160;
    use crate::keys::{Curve, SigningKey};

    fn block(records: Vec<Record>) -> Block {
        Block {
            previous: Hash256::from_bytes([0; 32]),
            height: 0,
            miner: Hash160::from_bytes([1; 20]),
            records,
            entries: Vec::new(),
            timestamp: 0,
            difficulty: Difficulty::MIN,
            block_id: Hash256::from_bytes([0; 32]),
            nonce: 0,
        }
    }

    /// Failures in several blocks of one window, empty blocks among them:
    /// each block gets the count of its records before its first failure.
    #[test]
    fn a_window_reports_each_block_up_to_its_first_failure() {
        let key = SigningKey::generate(Curve::Secp256k1).unwrap();
        let mut nonce = 0;
        let mut records = |n: usize, bad: &[usize]| -> Vec<Record> {
            (0..n)
                .map(|i| {
                    nonce += 1;
                    let mut r = Record::sign(&key, &[3; 20], "dose", nonce).unwrap();
                    if bad.contains(&i) {
                        r.signature[8] ^= 1;
                        r.txid = r.calculate_txid();
                    }
                    r
                })
                .collect()
        };
        let window = vec![
            block(records(3, &[])),
            block(vec![]),
            block(records(2, &[1])),
            block(vec![]),
            block(records(4, &[0, 2])),
            block(records(2, &[])),
            block(vec![]),
        ];
        for parallelism in [Parallelism::SINGLE, Parallelism::ALL_CORES] {
            assert_eq!(records_passing_all_but_nonce(&window, parallelism), vec![3, 0, 1, 0, 0, 2, 0]);
        }
        assert_eq!(records_passing_all_but_nonce::<Block>(&[], Parallelism::ALL_CORES), Vec::<usize>::new());
    }
}

//! Mining a block: from the header fields and records to a [`Block`] whose
//! id and nonce agree.

use crate::block::{header_prefix, Block, MAX_RECORDS};
use crate::entry::{Entry, MAX_ENTRIES};
use crate::hash::{Hash160, Hash256};
use crate::pow::Difficulty;
use crate::record::Record;

use super::{search, MiningError, SearchOptions, SearchOutcome, SearchStats};

/// Everything a block has except its proof of work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockTemplate {
    /// Id of the parent block; all zero for height 0.
    pub previous: Hash256,
    /// Height in the chain.
    pub height: u64,
    /// Who is rewarded.
    pub miner: Hash160,
    /// At most [`MAX_RECORDS`] records, in order.
    pub records: Vec<Record>,
    /// At most [`MAX_ENTRIES`] registry entries, in order; the block id
    /// covers their ids after the records' txids.
    pub entries: Vec<Entry>,
    /// Unix seconds.
    pub timestamp: u64,
    /// The difficulty to meet.
    pub difficulty: Difficulty,
}

/// How [`mine_block`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MineOutcome {
    /// A block whose proof of work holds.
    Found(Block),
    /// Every nonce of the range was tried.
    Exhausted,
    /// The cancel handle was triggered.
    Cancelled,
    /// The time limit passed.
    TimedOut,
}

/// The outcome of [`mine_block`] with its measurements.
#[derive(Clone, Debug)]
pub struct MineResult {
    /// How the search ended.
    pub outcome: MineOutcome,
    /// Hashes, time, rate, threads and engine.
    pub stats: SearchStats,
}

/// Searches for a nonce that makes `template` a valid block (SPEC section 4).
///
/// The records and entries are not verified here: a block of bad records is
/// mined like any other and rejected by [`Block::verify_and_get_changes`].
/// Verify records and entries before spending work on them.
///
/// # Errors
/// [`MiningError::InvalidArgument`] for more than [`MAX_RECORDS`] records or
/// [`MAX_ENTRIES`] entries, since such a block can never be valid, and for
/// the options [`search`] refuses.
///
/// # Example
/// ```
/// use emr_core::mining::{mine_block, BlockTemplate, MineOutcome, SearchOptions};
/// use emr_core::{Curve, Difficulty, Hash160, Hash256, Record, SigningKey, UserStates, DEFAULT_BLOCK_REWARD};
///
/// let doctor = SigningKey::generate(Curve::Secp256k1)?;
/// let template = BlockTemplate {
///     previous: Hash256::from_bytes([0; 32]),
///     height: 0,
///     miner: Hash160::from_bytes([9; 20]),
///     records: vec![Record::sign(&doctor, &[7; 20], "Ibuprofen 400mg", 1)?],
///     timestamp: 1_700_000_000,
///     difficulty: Difficulty::new(50_000).unwrap(),
///     entries: vec![],
/// };
/// // Every core by default; a time limit and a cancel handle are options too.
/// let result = mine_block(&template, &SearchOptions::default())?;
/// let MineOutcome::Found(block) = result.outcome else { panic!("a 64-bit nonce range is not exhausted at this difficulty") };
/// assert!(template.difficulty.is_met_by(&block.block_id));
/// block.verify_and_get_changes(template.difficulty, &UserStates::new(), DEFAULT_BLOCK_REWARD)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn mine_block(template: &BlockTemplate, options: &SearchOptions) -> Result<MineResult, MiningError> {
    if template.records.len() > MAX_RECORDS {
        return Err(MiningError::InvalidArgument("a block holds at most 25 records"));
    }
    if template.entries.len() > MAX_ENTRIES {
        return Err(MiningError::InvalidArgument("a block holds at most 25 entries"));
    }
    let prefix = header_prefix(
        template.previous.as_bytes(),
        template.miner.as_bytes(),
        template.records.iter().map(|r| r.txid.as_bytes().as_slice()),
        template.entries.iter().map(Entry::entry_id),
        template.timestamp,
        template.difficulty.get(),
    );
    let (outcome, stats) = search(&prefix, template.difficulty, options)?;
    let outcome = match outcome {
        SearchOutcome::Found { nonce, block_id } => MineOutcome::Found(Block {
            previous: template.previous,
            height: template.height,
            miner: template.miner,
            records: template.records.clone(),
            entries: template.entries.clone(),
            timestamp: template.timestamp,
            difficulty: template.difficulty,
            block_id,
            nonce,
        }),
        SearchOutcome::Exhausted => MineOutcome::Exhausted,
        SearchOutcome::Cancelled => MineOutcome::Cancelled,
        SearchOutcome::TimedOut => MineOutcome::TimedOut,
    };
    Ok(MineResult { outcome, stats })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{UserStates, DEFAULT_BLOCK_REWARD};
    use crate::keys::{Curve, SigningKey};

    fn template(records: Vec<Record>, difficulty: u128) -> BlockTemplate {
        BlockTemplate {
            previous: Hash256::from_bytes([3; 32]),
            height: 7,
            miner: Hash160::from_bytes([4; 20]),
            records,
            entries: Vec::new(),
            timestamp: 1_700_000_123,
            difficulty: Difficulty::new(difficulty).unwrap(),
        }
    }

    #[test]
    fn mined_blocks_verify() {
        let key = SigningKey::generate(Curve::Secp256k1).unwrap();
        for count in [0usize, 1, 2, 25] {
            let records = (1..=count as u64).map(|n| Record::sign(&key, &[1; 20], "x", n).unwrap()).collect();
            let t = template(records, 5_000);
            for threads in [1, 2] {
                let options = SearchOptions { threads: Some(threads), ..SearchOptions::default() };
                let MineOutcome::Found(block) = mine_block(&t, &options).unwrap().outcome else {
                    panic!("difficulty 5000 is found long before 2^64 nonces")
                };
                assert_eq!(block.block_id, block.calculate_block_id());
                let changes =
                    block.verify_and_get_changes(t.difficulty, &UserStates::new(), DEFAULT_BLOCK_REWARD).unwrap();
                assert_eq!(changes[&t.miner].balance, DEFAULT_BLOCK_REWARD);
            }
        }
    }

    #[test]
    fn one_thread_finds_the_lowest_nonce_and_ranges_end() {
        let t = template(vec![], 300);
        let one = SearchOptions { threads: Some(1), ..SearchOptions::default() };
        let MineOutcome::Found(block) = mine_block(&t, &one).unwrap().outcome else { panic!("found") };
        let mut brute = Block { nonce: 0, ..block.clone() };
        while !t.difficulty.is_met_by(&brute.calculate_block_id()) {
            brute.nonce += 1;
        }
        assert_eq!(block.nonce, brute.nonce);
        let short = SearchOptions { nonce_count: Some(block.nonce), ..one };
        assert_eq!(mine_block(&t, &short).unwrap().outcome, MineOutcome::Exhausted);
    }

    #[test]
    fn refuses_more_than_25_records() {
        let key = SigningKey::generate(Curve::P256).unwrap();
        let records = (1..=26).map(|n| Record::sign(&key, &[1; 20], "x", n).unwrap()).collect();
        assert!(matches!(
            mine_block(&template(records, 1), &SearchOptions::default()),
            Err(MiningError::InvalidArgument(_))
        ));
    }
}

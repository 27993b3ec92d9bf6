//! Blocks of records and registry entries, their id and proof of work, and
//! the per-user state they change: `verify_and_get_changes` of SPEC section 3
//! with the entries of section 8.1.

use core::fmt;
use std::collections::HashMap;

use crate::address::{Address, Role};
use crate::codec::{DecodeError, Reader};
use crate::entry::{Entry, EntryError, EntryFields, MAX_ENTRIES, MIN_ENCODED_ENTRY_LEN};
use crate::error::ErrorKind;
use crate::hash::{sha256, Hash160, Hash256};
use crate::parallel::{first_failure, Parallelism};
use crate::pow::Difficulty;
use crate::record::{KeyCache, Record, RecordError, RecordFields, MIN_ENCODED_RECORD_LEN};

/// The most records a block may hold.
pub const MAX_RECORDS: usize = 25;

/// The miner's reward when the caller sets no other.
pub const DEFAULT_BLOCK_REWARD: u64 = 10_000;

/// One user's state: a miner's reward balance, a doctor's record counter.
/// A hash absent from a state map has the default, `UserState { 0, 0 }`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct UserState {
    /// Reward balance; saturates at `u64::MAX`.
    pub balance: u64,
    /// The nonce of the user's latest record (0 before the first).
    pub nonce: u64,
}

/// User states by 20-byte hash.
pub type UserStates = HashMap<Hash160, UserState>;

/// Why a block does not verify, one variant per kind, in check order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The block's difficulty is not the expected one.
    #[error("difficulty_mismatch: block difficulty is not the expected difficulty")]
    DifficultyMismatch,
    /// `block_id` is not 32 bytes or not the hash of the header.
    #[error("invalid_block_id: block_id does not match the block")]
    InvalidBlockId,
    /// More than 25 records.
    #[error("too_many_records: a block holds at most 25 records")]
    TooManyRecords,
    /// More than 25 entries.
    #[error("too_many_entries: a block holds at most 25 entries")]
    TooManyEntries,
    /// `miner` is not 20 bytes.
    #[error("invalid_miner: miner must be 20 bytes")]
    InvalidMiner,
    /// `previous` is not 32 bytes.
    #[error("invalid_previous: previous must be 32 bytes")]
    InvalidPrevious,
    /// The block id is above the difficulty's target.
    #[error("insufficient_work: block_id does not meet the difficulty's target")]
    InsufficientWork,
    /// An entry failed (the first failing one): its index in the block and
    /// its error. Entries are checked before records.
    #[error("entry {index}: {error}")]
    Entry {
        /// Position of the entry in the block.
        index: usize,
        /// The entry's error.
        #[source]
        error: EntryError,
    },
    /// A record failed: its index in the block and its error.
    #[error("record {index}: {error}")]
    Record {
        /// Position of the record in the block.
        index: usize,
        /// The record's error.
        #[source]
        error: RecordError,
    },
}

impl BlockError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            BlockError::DifficultyMismatch => ErrorKind::DifficultyMismatch,
            BlockError::InvalidBlockId => ErrorKind::InvalidBlockId,
            BlockError::TooManyRecords => ErrorKind::TooManyRecords,
            BlockError::TooManyEntries => ErrorKind::TooManyEntries,
            BlockError::Entry { .. } => ErrorKind::Entry,
            BlockError::InvalidMiner => ErrorKind::InvalidMiner,
            BlockError::InvalidPrevious => ErrorKind::InvalidPrevious,
            BlockError::InsufficientWork => ErrorKind::InsufficientWork,
            BlockError::Record { .. } => ErrorKind::Record,
        }
    }
}

/// `previous ‖ miner ‖ txid_1 ‖ … ‖ txid_n ‖ entry_id_1 ‖ … ‖ entry_id_m ‖
/// LE64(timestamp) ‖ LE128(difficulty)`: the block id's preimage up to the
/// nonce, over the bytes as given. With no entries it is exactly SPEC
/// section 3's preimage.
pub fn header_prefix<'t>(
    previous: &[u8],
    miner: &[u8],
    txids: impl IntoIterator<Item = &'t [u8]>,
    entry_ids: impl IntoIterator<Item = Hash256>,
    timestamp: u64,
    difficulty: u128,
) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(previous.len() + miner.len() + 32 * MAX_RECORDS + 24);
    prefix.extend_from_slice(previous);
    prefix.extend_from_slice(miner);
    for txid in txids {
        prefix.extend_from_slice(txid);
    }
    for entry_id in entry_ids {
        prefix.extend_from_slice(entry_id.as_bytes());
    }
    prefix.extend_from_slice(&timestamp.to_le_bytes());
    prefix.extend_from_slice(&difficulty.to_le_bytes());
    prefix
}

/// `SHA-256(prefix ‖ LE64(nonce))`.
pub fn block_id_from_prefix(prefix: &[u8], nonce: u64) -> Hash256 {
    sha256(&[prefix, &nonce.to_le_bytes()])
}

/// A block's fields exactly as a caller holds them, unchecked; verification
/// is defined over this view (see [`RecordFields`]).
#[derive(Clone, Debug)]
pub struct BlockFields<'a> {
    /// Should be 32 bytes; all zero for height 0.
    pub previous: &'a [u8],
    /// Height in the chain.
    pub height: u64,
    /// Should be 20 bytes: who is rewarded.
    pub miner: &'a [u8],
    /// At most 25, in order.
    pub records: Vec<RecordFields<'a>>,
    /// At most 25 grants and revocations, in order.
    pub entries: Vec<EntryFields<'a>>,
    /// Unix seconds.
    pub timestamp: u64,
    /// The difficulty the block claims.
    pub difficulty: u128,
    /// Should be 32 bytes: the hash of the header.
    pub block_id: &'a [u8],
    /// The proof-of-work nonce.
    pub nonce: u64,
}

impl<'a> BlockFields<'a> {
    /// The block id the fields call for.
    pub fn calculate_block_id(&self) -> Hash256 {
        let prefix = header_prefix(
            self.previous,
            self.miner,
            self.records.iter().map(|r| r.txid),
            self.entries.iter().map(EntryFields::entry_id),
            self.timestamp,
            self.difficulty,
        );
        block_id_from_prefix(&prefix, self.nonce)
    }

    /// Verifies the block in SPEC order, with record signatures checked on
    /// every core, and returns the states it changes.
    pub fn verify_and_get_changes(
        &self,
        difficulty: Difficulty,
        previous_user_states: &UserStates,
        block_reward: u64,
    ) -> Result<UserStates, BlockError> {
        self.verify_and_get_changes_with(
            difficulty,
            previous_user_states,
            block_reward,
            Parallelism::ALL_CORES,
        )
    }

    /// [`Self::verify_and_get_changes`] with a chosen number of threads.
    pub fn verify_and_get_changes_with(
        &self,
        difficulty: Difficulty,
        previous_user_states: &UserStates,
        block_reward: u64,
        parallelism: Parallelism,
    ) -> Result<UserStates, BlockError> {
        self.verify_and_get_changes_by(
            difficulty,
            previous_user_states,
            block_reward,
            &mut Stateless { block: self, parallelism },
        )
    }

    /// The checks before a block's entries and records: SPEC section 3's
    /// 1-6 with `too_many_entries` after `too_many_records`. A chain stores
    /// side-branch blocks after these alone; their entries and records are
    /// checked when the branch is connected.
    pub fn verify_header(&self, difficulty: Difficulty) -> Result<(), BlockError> {
        if self.difficulty != difficulty.get() {
            return Err(BlockError::DifficultyMismatch);
        }
        let block_id = Hash256::from_slice(self.block_id).ok_or(BlockError::InvalidBlockId)?;
        if block_id != self.calculate_block_id() {
            return Err(BlockError::InvalidBlockId);
        }
        if self.records.len() > MAX_RECORDS {
            return Err(BlockError::TooManyRecords);
        }
        if self.entries.len() > MAX_ENTRIES {
            return Err(BlockError::TooManyEntries);
        }
        if self.miner.len() != Hash160::LEN {
            return Err(BlockError::InvalidMiner);
        }
        if self.previous.len() != Hash256::LEN {
            return Err(BlockError::InvalidPrevious);
        }
        if !difficulty.is_met_by(&block_id) {
            return Err(BlockError::InsufficientWork);
        }
        Ok(())
    }

    /// The whole of section 3 (with 8.1's entries), the entry and record
    /// checks left to `checks`. The chain passes checks that consult its
    /// registry and reuse signatures it verified earlier; the order and the
    /// nonce sequencing stay here, once.
    pub(crate) fn verify_and_get_changes_by(
        &self,
        difficulty: Difficulty,
        previous_user_states: &UserStates,
        block_reward: u64,
        checks: &mut dyn ContentChecks,
    ) -> Result<UserStates, BlockError> {
        self.verify_header(difficulty)?;
        let miner = Hash160::from_slice(self.miner).ok_or(BlockError::InvalidMiner)?;
        if let Some((index, error)) = checks.first_entry_failure() {
            return Err(BlockError::Entry { index, error });
        }

        // Each record's previous nonce, as if every record before it applied.
        // The lowest failing index is then exactly the sequential answer,
        // while the signature checks run side by side.
        let mut changes = UserStates::new();
        let mut previous_nonces = Vec::with_capacity(self.records.len());
        for record in &self.records {
            match Hash160::from_slice(record.dr_hash) {
                Some(doctor) => {
                    let state = changes.entry(doctor).or_insert_with(|| {
                        previous_user_states
                            .get(&doctor)
                            .copied()
                            .unwrap_or_default()
                    });
                    previous_nonces.push(state.nonce);
                    state.nonce = record.nonce;
                }
                // Fails `hash_length` before the nonce is looked at.
                None => previous_nonces.push(0),
            }
        }
        if let Some((index, error)) = checks.first_record_failure(&previous_nonces) {
            return Err(BlockError::Record { index, error });
        }

        let miner_state = changes.entry(miner).or_insert_with(|| {
            previous_user_states
                .get(&miner)
                .copied()
                .unwrap_or_default()
        });
        miner_state.balance = miner_state.balance.saturating_add(block_reward);
        Ok(changes)
    }
}

/// The entry and record checks of a block's verification, after its
/// header's: the block alone runs the stateless ones, a chain adds its
/// registry's.
pub(crate) trait ContentChecks {
    /// The lowest-indexed failing entry, entries checked in order.
    fn first_entry_failure(&mut self) -> Option<(usize, EntryError)>;
    /// Given each record's previous nonce (as if every record before it
    /// applied), the lowest failing index. Runs only when every entry passed.
    fn first_record_failure(&mut self, previous_nonces: &[u64]) -> Option<(usize, RecordError)>;
}

/// A block's own checks: the entries' checks 1-2 and the records' own.
struct Stateless<'b, 'a> {
    block: &'b BlockFields<'a>,
    parallelism: Parallelism,
}

impl ContentChecks for Stateless<'_, '_> {
    fn first_entry_failure(&mut self) -> Option<(usize, EntryError)> {
        let entries = &self.block.entries;
        first_failure(entries.len(), self.parallelism, |i| entries[i].verify())
    }

    fn first_record_failure(&mut self, previous_nonces: &[u64]) -> Option<(usize, RecordError)> {
        let records = &self.block.records;
        KeyCache::new(records).first_failure(records, self.parallelism, |i| previous_nonces[i])
    }
}

/// A block with its fixed-size fields typed. Fields are public and may be
/// changed; verification always checks the block as it now stands.
///
/// # Example
/// ```
/// use emr_core::{Block, BlockError, Curve, Difficulty, Hash160, Hash256, Record, SigningKey, UserStates, DEFAULT_BLOCK_REWARD};
///
/// let doctor = SigningKey::generate(Curve::Secp256k1)?;
/// let record = Record::sign(&doctor, &[7; 20], "Ibuprofen 400mg", 1)?;
/// // Difficulty 1 is met by any id, so no mining is needed here (see
/// // emr_core::mining::mine_block for real difficulties).
/// let mut block = Block {
///     previous: Hash256::from_bytes([0; 32]),
///     height: 0,
///     miner: Hash160::from_bytes([9; 20]),
///     records: vec![record],
///     entries: vec![], // grants and revocations (SPEC 8.1); none here
///     timestamp: 1_700_000_000,
///     difficulty: Difficulty::new(1).unwrap(),
///     block_id: Hash256::from_bytes([0; 32]),
///     nonce: 0,
/// };
/// block.block_id = block.calculate_block_id();
///
/// // Verifying gives the user states the block changes.
/// let changes = block.verify_and_get_changes(block.difficulty, &UserStates::new(), DEFAULT_BLOCK_REWARD)?;
/// assert_eq!(changes[&doctor.public_key_hash()].nonce, 1);
/// assert_eq!(changes[&block.miner].balance, DEFAULT_BLOCK_REWARD);
///
/// // Any change to a header field breaks the id.
/// let mut edited = block.clone();
/// edited.timestamp += 1;
/// assert!(matches!(edited.verify_and_get_changes(edited.difficulty, &UserStates::new(), DEFAULT_BLOCK_REWARD),
///                  Err(BlockError::InvalidBlockId)));
/// assert_eq!(Block::from_bytes(&block.to_bytes())?, block);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Block {
    /// Id of the parent block; all zero for height 0.
    pub previous: Hash256,
    /// Height in the chain.
    pub height: u64,
    /// Who is rewarded.
    pub miner: Hash160,
    /// The records, in order.
    pub records: Vec<Record>,
    /// The registry entries (grants, revocations), in order; empty in most
    /// blocks and in every block of an open chain.
    pub entries: Vec<Entry>,
    /// Unix seconds.
    pub timestamp: u64,
    /// The difficulty the block claims.
    pub difficulty: Difficulty,
    /// The hash of the header.
    pub block_id: Hash256,
    /// The proof-of-work nonce.
    pub nonce: u64,
}

const BLOCK_TAG: u8 = b'B';
/// Version 1 encodes a block without entries, byte for byte as before
/// entries existed; version 2 appends them and is used only when there are.
const BLOCK_VERSION: u8 = 1;
const BLOCK_VERSION_WITH_ENTRIES: u8 = 2;

impl Block {
    /// Builds a block from loose fields, checking only what the typed fields
    /// cannot hold, with the kinds verification would report.
    pub fn from_fields(fields: &BlockFields<'_>) -> Result<Block, BlockError> {
        let difficulty =
            Difficulty::new(fields.difficulty).ok_or(BlockError::DifficultyMismatch)?;
        let block_id = Hash256::from_slice(fields.block_id).ok_or(BlockError::InvalidBlockId)?;
        let miner = Hash160::from_slice(fields.miner).ok_or(BlockError::InvalidMiner)?;
        let previous = Hash256::from_slice(fields.previous).ok_or(BlockError::InvalidPrevious)?;
        let records = fields
            .records
            .iter()
            .enumerate()
            .map(|(index, r)| {
                Record::from_fields(r).map_err(|error| BlockError::Record { index, error })
            })
            .collect::<Result<_, _>>()?;
        let entries = fields
            .entries
            .iter()
            .enumerate()
            .map(|(index, e)| Entry::from_fields(e).map_err(|error| BlockError::Entry { index, error }))
            .collect::<Result<_, _>>()?;
        Ok(Block {
            previous,
            height: fields.height,
            miner,
            records,
            entries,
            timestamp: fields.timestamp,
            difficulty,
            block_id,
            nonce: fields.nonce,
        })
    }

    /// The block as the unchecked view verification runs on.
    pub fn fields(&self) -> BlockFields<'_> {
        BlockFields {
            previous: self.previous.as_bytes(),
            height: self.height,
            miner: self.miner.as_bytes(),
            records: self.records.iter().map(Record::fields).collect(),
            entries: self.entries.iter().map(Entry::fields).collect(),
            timestamp: self.timestamp,
            difficulty: self.difficulty.get(),
            block_id: self.block_id.as_bytes(),
            nonce: self.nonce,
        }
    }

    /// The id the header calls for (which verification compares with `block_id`).
    pub fn calculate_block_id(&self) -> Hash256 {
        self.fields().calculate_block_id()
    }

    /// See [`BlockFields::verify_and_get_changes`].
    pub fn verify_and_get_changes(
        &self,
        difficulty: Difficulty,
        previous_user_states: &UserStates,
        block_reward: u64,
    ) -> Result<UserStates, BlockError> {
        self.fields()
            .verify_and_get_changes(difficulty, previous_user_states, block_reward)
    }

    /// The canonical encoding (`docs/FORMAT.md`): version 1 for a block
    /// without entries (unchanged since before entries), version 2 with them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.records.len() * 300 + self.entries.len() * 360);
        let version = if self.entries.is_empty() { BLOCK_VERSION } else { BLOCK_VERSION_WITH_ENTRIES };
        out.extend_from_slice(&[BLOCK_TAG, version]);
        out.extend_from_slice(self.previous.as_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(self.miner.as_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.extend_from_slice(&self.difficulty.get().to_le_bytes());
        out.extend_from_slice(&self.nonce.to_le_bytes());
        out.extend_from_slice(self.block_id.as_bytes());
        out.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        for record in &self.records {
            record.encode_into(&mut out);
        }
        if !self.entries.is_empty() {
            out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
            for entry in &self.entries {
                entry.encode_into(&mut out);
            }
        }
        out
    }

    /// Decodes the canonical encoding; rejects truncation, trailing bytes,
    /// counts the input cannot hold and a version 2 block with no entries
    /// (its canonical form is version 1). Decoding does not verify.
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, DecodeError> {
        let mut reader = Reader::new(bytes);
        let tag = reader.u8()?;
        if tag != BLOCK_TAG {
            return Err(DecodeError::WrongTag(tag));
        }
        let version = reader.u8()?;
        if version != BLOCK_VERSION && version != BLOCK_VERSION_WITH_ENTRIES {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let previous = Hash256::from_bytes(reader.array()?);
        let height = reader.u64()?;
        let miner = Hash160::from_bytes(reader.array()?);
        let timestamp = reader.u64()?;
        let difficulty =
            Difficulty::new(reader.u128()?).ok_or(DecodeError::OutOfRange("difficulty"))?;
        let nonce = reader.u64()?;
        let block_id = Hash256::from_bytes(reader.array()?);
        let count = reader.u64()?;
        if count > (reader.remaining() / MIN_ENCODED_RECORD_LEN) as u64 {
            return Err(DecodeError::LengthTooLarge(count));
        }
        let records = (0..count)
            .map(|_| Record::decode_from(&mut reader))
            .collect::<Result<_, _>>()?;
        let entries = if version == BLOCK_VERSION_WITH_ENTRIES {
            let count = reader.u64()?;
            if count == 0 {
                return Err(DecodeError::OutOfRange("entry count (a block without entries is version 1)"));
            }
            if count > (reader.remaining() / MIN_ENCODED_ENTRY_LEN) as u64 {
                return Err(DecodeError::LengthTooLarge(count));
            }
            (0..count).map(|_| Entry::decode_from(&mut reader)).collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        reader.finish()?;
        Ok(Block {
            previous,
            height,
            miner,
            records,
            entries,
            timestamp,
            difficulty,
            block_id,
            nonce,
        })
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("height", &self.height)
            .field("block_id", &self.block_id)
            .field("previous", &self.previous)
            .field("miner", &Address::new(Role::Miner, self.miner))
            .field("records", &self.records.len())
            .field("entries", &self.entries.len())
            .field("timestamp", &self.timestamp)
            .field("difficulty", &self.difficulty)
            .field("nonce", &self.nonce)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Curve, SigningKey};

    fn mined(records: Vec<Record>, difficulty: u128, miner: Hash160) -> Block {
        let difficulty = Difficulty::new(difficulty).unwrap();
        let mut block = Block {
            previous: Hash256::from_bytes([0; 32]),
            height: 0,
            miner,
            records,
            entries: Vec::new(),
            timestamp: 1_700_000_000,
            difficulty,
            block_id: Hash256::from_bytes([0; 32]),
            nonce: 0,
        };
        loop {
            block.block_id = block.calculate_block_id();
            if difficulty.is_met_by(&block.block_id) {
                return block;
            }
            block.nonce += 1;
        }
    }

    #[test]
    fn consecutive_records_of_one_doctor_and_reward() {
        let key = SigningKey::generate(Curve::Secp256k1).unwrap();
        let doctor = key.public_key_hash();
        let records: Vec<_> = (4..=6)
            .map(|n| Record::sign(&key, &[3; 20], "x", n).unwrap())
            .collect();
        let miner = Hash160::from_bytes([9; 20]);
        let block = mined(records, 50, miner);
        let mut states = UserStates::new();
        states.insert(
            doctor,
            UserState {
                balance: 5,
                nonce: 3,
            },
        );
        states.insert(
            miner,
            UserState {
                balance: u64::MAX - 1,
                nonce: 0,
            },
        );
        let before = states.clone();
        let changes = block
            .verify_and_get_changes(block.difficulty, &states, DEFAULT_BLOCK_REWARD)
            .unwrap();
        assert_eq!(states, before, "input map untouched");
        assert_eq!(changes.len(), 2);
        assert_eq!(
            changes[&doctor],
            UserState {
                balance: 5,
                nonce: 6
            }
        );
        assert_eq!(
            changes[&miner],
            UserState {
                balance: u64::MAX,
                nonce: 0
            },
            "balance saturates"
        );
        assert_eq!(Block::from_bytes(&block.to_bytes()), Ok(block.clone()));
        assert_eq!(Block::from_fields(&block.fields()), Ok(block));
    }

    #[test]
    fn mutated_block_is_rejected() {
        let key = SigningKey::generate(Curve::P256).unwrap();
        let records = vec![
            Record::sign(&key, &[3; 20], "x", 1).unwrap(),
            Record::sign(&key, &[3; 20], "y", 2).unwrap(),
        ];
        let block = mined(records, 20, Hash160::from_bytes([1; 20]));
        let states = UserStates::new();
        let mut changed = block.clone();
        changed.timestamp += 1;
        assert_eq!(
            changed.verify_and_get_changes(block.difficulty, &states, 1),
            Err(BlockError::InvalidBlockId)
        );
        let wrong = Difficulty::new(21).unwrap();
        assert_eq!(
            block.verify_and_get_changes(wrong, &states, 1),
            Err(BlockError::DifficultyMismatch)
        );
        let mut changed = block.clone();
        changed.records[1].prescription.push('!');
        changed.records[1].txid = changed.records[1].calculate_txid();
        let changed = mined(changed.records, 20, changed.miner);
        assert_eq!(
            changed.verify_and_get_changes(changed.difficulty, &states, 1),
            Err(BlockError::Record {
                index: 1,
                error: RecordError::InvalidSignature
            })
        );
    }

    #[test]
    fn decode_rejects_counts_the_input_cannot_hold() {
        let block = mined(vec![], 1, Hash160::from_bytes([1; 20]));
        let mut bytes = block.to_bytes();
        let count_at = bytes.len() - 8;
        bytes[count_at..].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            Block::from_bytes(&bytes),
            Err(DecodeError::LengthTooLarge(u64::MAX))
        );
    }
}

//! `Chain::check`: re-validate the whole stored active chain from genesis.
//!
//! The calling thread reads stored blocks (it owns the connection); a
//! decoder, the signature stage and an in-memory replay run on threads of
//! their own (see `pipeline`). The replay repeats every rule of sections 3
//! and 5 on the blocks as stored, then the store's states, total difficulty
//! and record index are compared with what the replay produced.

use std::collections::{HashMap, VecDeque};

use crossbeam_channel::{bounded, Receiver};

use crate::block::{Block, UserStates};
use crate::entry::Entry;
use crate::hash::Hash256;
use crate::mining::CancelHandle;

use super::difficulty::{expected_difficulty, Sample};
use super::pipeline::{self, Decoded, Prechecked, RecordCheck};
use super::registry::{BlockRegistry, MemoryRegistry};
use super::params::MISSING_SALT;
use super::store::ReadableRecord;
use super::undo;
use super::work::Work;
use super::{BatchOptions, Chain, ChainError, ChainParams, Reporter};

/// The first block `check` found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBlock {
    /// Its height in the active chain.
    pub height: u64,
    /// What is wrong: the block's error as adding it would report it, or
    /// `corrupt` when its stored bytes are damaged.
    pub error: ChainError,
}

/// What [`Chain::check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Blocks checked and found good.
    pub blocks_ok: u64,
    /// The first bad block, if any; blocks after it are not checked.
    pub first_bad: Option<BadBlock>,
}

/// What the replay of good blocks left.
struct Replayed {
    blocks: u64,
    states: UserStates,
    work: Work,
    /// SHA-256 of the record index the blocks call for (see `index_entry`).
    records: ring::digest::Context,
    /// SHA-256 of the readable record rows they call for (see `text_entry`).
    texts: ring::digest::Context,
    /// The registry the blocks call for (SPEC 8.1).
    registry: MemoryRegistry,
    first_bad: Option<BadBlock>,
}

/// The registry `block` (at `height`) is checked against in a replay.
pub(super) fn block_registry(
    registry: &MemoryRegistry,
    chain_id: Hash256,
    params: &ChainParams,
    block: &Block,
    height: u64,
) -> Result<BlockRegistry, ChainError> {
    let entries: Vec<_> = block.entries.iter().map(Entry::fields).collect();
    let doctors = block.records.iter().map(|r| r.dr_hash);
    BlockRegistry::load(registry, chain_id, &params.authorities, height, block.timestamp, &entries, doctors)
}

/// One record index row as `check` hashes it, from the blocks and from the
/// `records` table alike.
fn index_entry(digest: &mut ring::digest::Context, height: i64, index: i64, txid: &[u8], patient: &[u8], doctor: &[u8]) {
    for part in [&height.to_le_bytes()[..], &index.to_le_bytes(), txid, patient, doctor] {
        digest.update(part);
    }
}

/// One `record_text` row as `check` hashes it, from the blocks and from the
/// table alike; each text with its length, so that no two rows hash alike.
fn text_entry(
    digest: &mut ring::digest::Context,
    height: i64,
    index: i64,
    doctor: &str,
    patient: &str,
    nonce: i64,
    prescription: &str,
) {
    digest.update(&height.to_le_bytes());
    digest.update(&index.to_le_bytes());
    for text in [doctor, patient, prescription] {
        digest.update(&(text.len() as u64).to_le_bytes());
        digest.update(text.as_bytes());
    }
    digest.update(&nonce.to_le_bytes());
}

impl Chain {
    /// Re-validates every stored active block in order, every signature
    /// included, from an empty state, as if each were added anew (without a
    /// clock), and reports the first bad one. When all are good, the stored
    /// states, total difficulty and record index must equal the replay's;
    /// a mismatch is a `corrupt` error, as is damage SQLite's own `integrity_check`
    /// finds or a side-branch block that does not hash to its id or
    /// disagrees with its row. `cancelled` when the handle is.
    pub fn check(&self, options: &BatchOptions<'_>) -> Result<CheckReport, ChainError> {
        self.check_all(options).map_err(|e| e.explained(self.store.file()))
    }

    fn check_all(&self, options: &BatchOptions<'_>) -> Result<CheckReport, ChainError> {
        // SQLite's integrity_check is single-threaded and was 15% of a
        // check's time at 50,000 records; on a second connection it runs
        // beside the replay instead of before it. (That connection may see
        // a later commit than this one when a writer works beside a reader;
        // any committed state of an undamaged file passes it.) If no second
        // connection can be opened, it runs here first, as before.
        let beside = self.store.open_reader_beside().ok().flatten();
        self.read(|c| match beside {
            None => {
                c.store.integrity_check()?;
                c.check_snapshot(options)
            }
            Some(other) => std::thread::scope(|scope| {
                let interrupt = other.interrupt_handle();
                let integrity = scope.spawn(move || {
                    other.begin_read()?;
                    let result = other.integrity_check();
                    other.rollback();
                    result
                });
                let report = c.check_snapshot(options);
                if matches!(report, Err(ChainError::Cancelled)) {
                    interrupt.interrupt();
                    let _ = integrity.join();
                    return report;
                }
                let integrity = integrity
                    .join()
                    .unwrap_or_else(|_| Err(ChainError::Io("the check's integrity_check thread panicked".into())));
                // Damage SQLite finds is reported first, as when it ran first.
                integrity?;
                report
            }),
        })
    }

    fn check_snapshot(&self, options: &BatchOptions<'_>) -> Result<CheckReport, ChainError> {
        const PAGE: u64 = 64;
        let total = self.len()?;
        let params = &self.params;
        let (replayed, read_error) = std::thread::scope(|scope| {
            let (stored_tx, stored_rx) = bounded(PAGE as usize);
            let decoded = pipeline::spawn_decoder(scope, stored_rx);
            let prechecked = pipeline::spawn_prechecker(scope, decoded, options.parallelism);
            let progress = options.progress;
            let cancel = options.cancel;
            let replay = scope.spawn(move || replay(params, prechecked, Reporter::new(progress, total), cancel));

            let mut read_error = None;
            let mut next = 0;
            'pages: while next < total {
                if options.cancelled() {
                    break;
                }
                let page = match self.store.active_blocks(next, PAGE) {
                    Ok(page) if !page.is_empty() => page,
                    Ok(_) => break,
                    Err(e) => {
                        read_error = Some(e);
                        break;
                    }
                };
                for stored in page {
                    next = stored.height.saturating_add(1);
                    if stored_tx.send(stored).is_err() {
                        break 'pages;
                    }
                }
            }
            drop(stored_tx);
            let replayed = replay.join().unwrap_or_else(|_| Err(ChainError::Io("the check's replay thread panicked".into())));
            (replayed, read_error)
        });
        let replayed = replayed?;
        if replayed.first_bad.is_some() {
            return Ok(CheckReport { blocks_ok: replayed.blocks, first_bad: replayed.first_bad });
        }
        if let Some(e) = read_error {
            return Err(e);
        }
        if options.cancelled() {
            return Err(ChainError::Cancelled);
        }
        self.compare_with_store(&replayed)?;
        Ok(CheckReport { blocks_ok: replayed.blocks, first_bad: None })
    }

    /// The store's derived tables against the replay of its blocks.
    fn compare_with_store(&self, replayed: &Replayed) -> Result<(), ChainError> {
        let tip = self.store.tip()?;
        if replayed.blocks != tip.map_or(0, |(height, _)| height.saturating_add(1)) {
            return Err(ChainError::corrupt("active", None, "the active heights have a gap"));
        }
        let stored: HashMap<_, _> = self.store.all_states()?.into_iter().collect();
        if stored != replayed.states {
            return Err(ChainError::corrupt("states", None, "the user states differ from a replay of the blocks"));
        }
        let grants: HashMap<_, _> = self.store.all_grants()?.into_iter().map(|g| (g.id, g)).collect();
        if grants != replayed.registry.grants {
            return Err(ChainError::corrupt("grants", None, "the registry differs from a replay of the blocks"));
        }
        let rx: HashMap<_, _> =
            self.store.all_rx()?.into_iter().map(|rx| ((rx.prescription.dr_hash, rx.prescription.nonce), rx)).collect();
        if rx != replayed.registry.rx {
            return Err(ChainError::corrupt(
                "prescription_entries",
                None,
                "the dispenses and cancellations differ from a replay of the blocks",
            ));
        }
        self.check_side_blocks()?;
        let mut index = ring::digest::Context::new(&ring::digest::SHA256);
        self.store.each_record(|height, i, txid, patient, doctor| index_entry(&mut index, height, i, txid, patient, doctor))?;
        if index.finish().as_ref() != replayed.records.clone().finish().as_ref() {
            return Err(ChainError::corrupt("records", None, "the record index differs from the blocks"));
        }
        let mut texts = ring::digest::Context::new(&ring::digest::SHA256);
        self.store.each_record_text(|height, i, doctor, patient, nonce, prescription| {
            text_entry(&mut texts, height, i, doctor, patient, nonce, prescription)
        })?;
        if texts.finish().as_ref() != replayed.texts.clone().finish().as_ref() {
            return Err(ChainError::corrupt("record_text", None, "the readable records differ from the blocks"));
        }
        Ok(())
    }
}

impl Chain {
    /// Blocks off the active chain: each must hash to its id, and its row
    /// must agree with it and with its parent's row, since fork choice
    /// reads those rows.
    fn check_side_blocks(&self) -> Result<(), ChainError> {
        self.store.each_side_block(|row, bytes| {
            let block = pipeline::decode_block(row.height, &row.id, bytes)?;
            let parent_work = if row.parent == Hash256::from_bytes([0; 32]) {
                Work::ZERO
            } else {
                self.row(&row.parent, row.height.saturating_sub(1))?.work
            };
            let agrees = row.parent == block.previous
                && row.timestamp == block.timestamp
                && row.difficulty == block.difficulty
                && row.work == parent_work.plus(block.difficulty.get());
            if !agrees {
                return Err(ChainError::corrupt("blocks", Some(row.height), "a side block's row disagrees with it"));
            }
            Ok(())
        })
    }
}

/// The in-order stage: linkage, difficulty and states of each block as
/// `add_block` would check them on the chain before it.
fn replay(
    params: &ChainParams,
    blocks: Receiver<Prechecked<Decoded>>,
    mut reporter: Reporter<'_>,
    cancel: Option<&CancelHandle>,
) -> Result<Replayed, ChainError> {
    let window_len = usize::try_from(params.window.saturating_add(1)).unwrap_or(usize::MAX);
    let mut window: VecDeque<Sample> = VecDeque::new();
    let mut out = Replayed {
        blocks: 0,
        states: UserStates::new(),
        work: Work::ZERO,
        records: ring::digest::Context::new(&ring::digest::SHA256),
        texts: ring::digest::Context::new(&ring::digest::SHA256),
        registry: MemoryRegistry::default(),
        first_bad: None,
    };
    let mut parent: Option<(Hash256, u64)> = None;
    let chain_id = params.chain_id().ok_or(ChainError::InvalidParams(MISSING_SALT))?;
    for item in blocks {
        if cancel.is_some_and(CancelHandle::is_cancelled) {
            return Err(ChainError::Cancelled);
        }
        let height = out.blocks;
        let samples: Vec<Sample> = window.iter().copied().collect();
        let difficulty = expected_difficulty(params, height, &samples);
        // Every error here is the block's: damage the decoder found, or a
        // rule it breaks.
        let verdict = item.and_then(|(stored, passed)| {
            let block = &stored.block;
            check_linkage(block, height, parent)?;
            let check = RecordCheck::NonceOnlyFor(passed);
            let mut registry = block_registry(&out.registry, chain_id, params, block, height)?;
            let changes =
                pipeline::verify_block(block, difficulty, &out.states, params.block_reward, check, &mut registry)
                    .map_err(|error| ChainError::Block { height, block_id: block.block_id, error })?;
            check_stored_beside(&stored, out.work, &out.states, &changes)?;
            Ok((stored.block, changes, registry.changes()))
        });
        let (block, changes, granted) = match verdict {
            Ok(good) => good,
            Err(error) => {
                out.first_bad = Some(BadBlock { height, error });
                break;
            }
        };
        out.states.extend(changes);
        out.registry.apply(&block, &granted);
        out.work = out.work.plus(block.difficulty.get());
        for (i, r) in block.records.iter().enumerate() {
            let i = i64::try_from(i).unwrap_or(i64::MAX);
            index_entry(&mut out.records, height as i64, i, r.txid.as_bytes(), r.patient_hash.as_bytes(), r.dr_hash.as_bytes());
            let text = ReadableRecord::of(r);
            text_entry(&mut out.texts, height as i64, i, &text.doctor, &text.patient, r.nonce as i64, &r.prescription);
        }
        window.push_back(Sample { difficulty: block.difficulty, timestamp: block.timestamp });
        if window.len() > window_len {
            window.pop_front();
        }
        parent = Some((block.block_id, block.timestamp));
        out.blocks += 1;
        reporter.tick(out.blocks);
    }
    Ok(out)
}

/// The block's row and undo data against the block and the replay: what
/// `add_block` would have written for it.
fn check_stored_beside(stored: &Decoded, work_before: Work, states: &UserStates, changes: &UserStates) -> Result<(), ChainError> {
    let (block, row) = (&stored.block, &stored.row);
    let height = Some(block.height);
    let row_agrees = row.parent == block.previous
        && row.height == block.height
        && row.timestamp == block.timestamp
        && row.difficulty == block.difficulty
        && row.work == work_before.plus(block.difficulty.get())
        && row.failure.is_none();
    if !row_agrees {
        return Err(ChainError::corrupt("blocks", height, "the block's row disagrees with the block"));
    }
    if stored.undo != undo::encode(changes.keys().map(|hash| (hash, states.get(hash).copied()))) {
        return Err(ChainError::corrupt("active", height, "the undo data disagrees with the states before the block"));
    }
    Ok(())
}

/// `add_block`'s linkage checks for the block at `height` of a chain whose
/// block below is `parent` (id and timestamp).
pub(super) fn check_linkage(block: &Block, height: u64, parent: Option<(Hash256, u64)>) -> Result<(), ChainError> {
    let expected_previous = parent.map_or(Hash256::from_bytes([0; 32]), |(id, _)| id);
    if block.previous != expected_previous {
        return Err(ChainError::UnknownParent { previous: block.previous });
    }
    if block.height != height {
        return Err(ChainError::WrongHeight { expected: height, found: block.height });
    }
    match parent {
        Some((_, parent_time)) if block.timestamp < parent_time => {
            Err(ChainError::TimestampTooEarly { parent: parent_time, timestamp: block.timestamp })
        }
        _ => Ok(()),
    }
}

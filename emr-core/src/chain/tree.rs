//! Adding blocks to the tree, choosing the heaviest branch, connecting and
//! disconnecting blocks, undo.
//!
//! Every write runs inside one SQLite transaction opened by the public
//! method. Connecting a branch runs inside a savepoint: when one of its
//! blocks fails, the savepoint is rolled back (the active chain, states and
//! indexes are exactly as before) and only the invalid marks are kept.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::block::{Block, BlockError, UserStates};
use crate::error::ErrorKind;
use crate::hash::Hash256;
use crate::record::RecordError;
use crate::parallel::Parallelism;
use crate::pow::Difficulty;

use super::difficulty::{expected_difficulty, Sample};
use super::pipeline::{self, RecordCheck};
use super::registry::BlockRegistry;
use super::undo::RegistryUndo;
use super::store::{BlockRow, Failure, RecordPlace};
use super::work::Work;
use super::{undo, AddBlocksError, AddOutcome, BatchOptions, Chain, ChainError, Reporter};

const ZERO_ID: Hash256 = Hash256::from_bytes([0; 32]);

/// The error a block of a failed branch is refused with, now and later.
fn failure_error(failure: &Failure) -> ChainError {
    ChainError::Block { height: failure.height, block_id: failure.block_id, error: failure.error }
}

/// Errors that mean the storage, not the block, failed: the transaction is
/// abandoned rather than committed.
fn is_storage_error(e: &ChainError) -> bool {
    matches!(e.kind(), ErrorKind::Io | ErrorKind::Corrupt)
}

impl Chain {
    /// Adds a block (SPEC section 5). `now`: the caller's current Unix time,
    /// to refuse blocks more than the chain's `max_future` seconds ahead of
    /// it (`timestamp_too_late`, not remembered: the block may be offered
    /// again later); `None` skips that check (replaying history).
    ///
    /// Checks, in order: `unknown_parent`, `wrong_height`,
    /// `timestamp_too_early`, `timestamp_too_late`, then section 3's checks
    /// 1-6 with the difficulty expected at the block's place in its own
    /// branch. A block that joins the active chain is then checked in full.
    /// A block of a side branch is `Stale` (nothing stored) unless its
    /// branch forks at most `window` blocks below the tip and reaches at
    /// most `window` blocks past the fork; otherwise its records' and
    /// entries' stateless checks run before it is stored (SPEC 5, v1.2). A
    /// block at height 0 with an all-zero `previous` is a genesis; a second
    /// genesis starts a competing branch. The block is durable when this
    /// returns `Ok`.
    ///
    /// A block whose records fail, or which completes a heavier branch in
    /// which some block's records fail, is refused with that block's error
    /// (`ChainError::Block` names it); the failed block and all blocks after
    /// it are remembered as invalid and refused with the same error when
    /// offered again. The active chain is then exactly as before.
    pub fn add_block(&mut self, block: &Block, now: Option<u64>) -> Result<AddOutcome, ChainError> {
        self.writable()?;
        self.store.begin()?;
        // Alone in its call, a side block is judged stale or not at once.
        let result = self.add_in_transaction(block, now, RecordCheck::All(Parallelism::ALL_CORES), true);
        self.finish(result)
    }

    /// Commits after a verdict (marks of invalid blocks included); rolls
    /// back after a storage failure.
    pub(super) fn finish<T>(&self, result: Result<T, ChainError>) -> Result<T, ChainError> {
        match &result {
            Err(e) if is_storage_error(e) => self.store.rollback(),
            _ => {
                if let Err(e) = self.store.commit() {
                    self.store.rollback();
                    return Err(e);
                }
            }
        }
        result
    }

    /// Adds `blocks` in order, as a loop of [`Chain::add_block`] would, in
    /// one transaction: record signatures are checked on all cores ahead of
    /// the in-order stage (see `pipeline`).
    ///
    /// Stops at the first block that fails (or at cancellation) and reports
    /// it with its index; the blocks before it are kept and durable, and so
    /// are the invalid marks that block's failure left.
    ///
    /// Side branches are judged where the call ends (SPEC 5): a long
    /// heavier branch delivered in one call reorganizes however far it
    /// forks, and the call's blocks of a branch that is then neither heavier
    /// nor near the tip are `Stale`, none of them stored.
    pub fn add_blocks(
        &mut self,
        blocks: &[Block],
        now: Option<u64>,
        options: &BatchOptions<'_>,
    ) -> Result<Vec<AddOutcome>, AddBlocksError> {
        self.add_stream(blocks.iter().map(Ok), blocks.len() as u64, now, options)
    }

    /// [`Chain::add_blocks`] over blocks as they arrive (the pages of a
    /// peer's branch, read one after the other): one call and one
    /// transaction however long the stream, with a bounded number of blocks
    /// in memory at once. The call is judged where the stream ends (SPEC
    /// 5), so a heavier branch of any length reorganizes. An `Err` item
    /// ends the stream: it is reported as the failure at its index, and the
    /// blocks before it are kept. `expected`: how many blocks the stream
    /// should bring, for progress only.
    pub fn add_blocks_streamed<I>(
        &mut self,
        blocks: I,
        expected: u64,
        now: Option<u64>,
        options: &BatchOptions<'_>,
    ) -> Result<Vec<AddOutcome>, AddBlocksError>
    where
        I: IntoIterator<Item = Result<Block, ChainError>>,
        I::IntoIter: Send,
    {
        self.add_stream(blocks, expected, now, options)
    }

    fn add_stream<B, I>(
        &mut self,
        blocks: I,
        expected: u64,
        now: Option<u64>,
        options: &BatchOptions<'_>,
    ) -> Result<Vec<AddOutcome>, AddBlocksError>
    where
        B: std::borrow::Borrow<Block> + Send,
        I: IntoIterator<Item = Result<B, ChainError>>,
        I::IntoIter: Send,
    {
        let fail = |index, added, error| AddBlocksError { index, added, error };
        if let Err(e) = self.writable().and_then(|()| self.store.begin()) {
            return Err(fail(0, Vec::new(), e));
        }
        let mut outcomes = Vec::new();
        let mut side = Vec::new();
        let mut reporter = Reporter::new(options.progress, expected);
        let blocks = blocks.into_iter();
        let failed = std::thread::scope(|scope| {
            let prechecked = pipeline::spawn_prechecker(scope, blocks, options.parallelism);
            for (index, received) in prechecked.iter().enumerate() {
                if options.cancelled() {
                    return Some((index, ChainError::Cancelled));
                }
                let (block, passed) = match received {
                    Ok(item) => item,
                    Err(e) => return Some((index, e)),
                };
                let block: &Block = block.borrow();
                let result = self.store.savepoint("block").and_then(|()| {
                    let result = self.add_in_transaction(block, now, RecordCheck::NonceOnlyFor(passed), false);
                    match &result {
                        Err(e) if is_storage_error(e) => self.store.rollback_to("block")?,
                        _ => self.store.release("block")?,
                    }
                    result
                });
                match result {
                    Ok(outcome) => {
                        if outcome == AddOutcome::SideBranch {
                            side.push((index, block.block_id, block.height));
                        }
                        outcomes.push(outcome);
                    }
                    Err(e) => return Some((index, e)),
                }
                reporter.tick(outcomes.len() as u64);
            }
            None
        });
        let judged = self.drop_stale(&mut outcomes, &side);
        if let Err(e) = judged.and_then(|()| self.finish(Ok(()))) {
            // Nothing of the batch was kept.
            return Err(fail(failed.map_or(0, |(index, _)| index), Vec::new(), e));
        }
        match failed {
            Some((index, error)) => Err(fail(index, outcomes, error)),
            None => Ok(outcomes),
        }
    }

    /// Takes the tip block off the active chain and out of the store (with
    /// any side-branch blocks built on it), restoring the states before it,
    /// and returns it. `not_found` on an empty chain.
    ///
    /// The block is forgotten, so adding it again verifies and connects it
    /// anew. No other branch is switched to, even a heavier one: undo
    /// steps back along the active chain only.
    pub fn undo_last_block(&mut self) -> Result<Block, ChainError> {
        self.writable()?;
        self.store.begin()?;
        let result = (|| {
            let (height, id) = self.store.tip()?.ok_or(ChainError::NotFound("the chain has no block to undo"))?;
            let block = self.load_block(&id, height)?;
            self.disconnect(height)?;
            self.store.delete_subtree(&id)?;
            Ok(block)
        })();
        match result {
            Ok(block) => self.store.commit().map(|()| block).inspect_err(|_| self.store.rollback()),
            Err(e) => {
                self.store.rollback();
                Err(e)
            }
        }
    }

    /// The height of the active block a branch forks from, given the
    /// branch's block `parent` (`None`: a genesis, forking below height 0,
    /// as -1). `forks` caches the answer by block id, so the blocks of one
    /// call, parents first, each take one step.
    fn fork_height(&self, parent: Option<&BlockRow>, forks: &mut HashMap<Hash256, i128>) -> Result<i128, ChainError> {
        let mut walked = Vec::new();
        let mut current = parent.copied();
        let fork = loop {
            let Some(row) = current else { break -1 };
            if let Some(&fork) = forks.get(&row.id) {
                break fork;
            }
            if self.store.active_id(row.height)? == Some(row.id) {
                break i128::from(row.height);
            }
            walked.push(row.id);
            current = if row.parent == ZERO_ID { None } else { Some(self.parent_row(&row)?) };
        };
        for id in walked {
            forks.insert(id, fork);
        }
        Ok(fork)
    }

    /// Whether a side branch whose new blocks end at `end_height`, on
    /// `parent`, may be stored without being heavier (SPEC 5): it forks at
    /// most `window` blocks below the tip and reaches at most `window`
    /// blocks past the fork.
    fn near_tip(&self, parent: Option<&BlockRow>, end_height: u64, forks: &mut HashMap<Hash256, i128>) -> Result<bool, ChainError> {
        let fork = self.fork_height(parent, forks)?;
        self.competes(fork, end_height)
    }

    /// SPEC 5's test for a lighter branch that forks at height `fork` and
    /// ends at `end_height`: within `window` blocks of the tip and of its fork.
    fn competes(&self, fork: i128, end_height: u64) -> Result<bool, ChainError> {
        let tip = self.store.tip()?.map_or(-1, |(height, _)| i128::from(height));
        let window = i128::from(self.params.window);
        Ok(tip - fork <= window && i128::from(end_height) - fork <= window)
    }

    /// The end of an add call: each branch that the call's side blocks
    /// (`side`: index in the call, id, height) are on and that is neither
    /// active now nor [`Self::near_tip`] at its highest new block is
    /// deleted, its blocks reported [`AddOutcome::Stale`].
    fn drop_stale(&self, outcomes: &mut [AddOutcome], side: &[(usize, Hash256, u64)]) -> Result<(), ChainError> {
        let mut forks = HashMap::new();
        // Per fork: the highest new block, and the new blocks on it.
        let mut branches: HashMap<i128, (u64, Vec<(usize, Hash256)>)> = HashMap::new();
        for &(index, id, height) in side {
            if outcomes[index] != AddOutcome::SideBranch || self.store.active_id(height)? == Some(id) {
                continue;
            }
            let row = self.row(&id, height)?;
            let parent = if row.parent == ZERO_ID { None } else { Some(self.parent_row(&row)?) };
            let fork = self.fork_height(parent.as_ref(), &mut forks)?;
            forks.insert(id, fork);
            let branch = branches.entry(fork).or_insert((height, Vec::new()));
            branch.0 = branch.0.max(height);
            branch.1.push((index, id));
        }
        for (fork, (end, blocks)) in branches {
            if self.competes(fork, end)? {
                continue;
            }
            for (index, id) in blocks {
                // Its descendants are the call's own, on the same branch.
                self.store.delete_subtree(&id)?;
                outcomes[index] = AddOutcome::Stale;
            }
        }
        Ok(())
    }

    /// A stored block's row, which must exist.
    pub(super) fn row(&self, id: &Hash256, height: u64) -> Result<BlockRow, ChainError> {
        self.store
            .block_row(id)
            .map_err(|e| e.at("blocks", Some(height)))?
            .ok_or_else(|| ChainError::corrupt("blocks", Some(height), format!("block {id} is missing")))
    }

    /// The row of `child`'s parent, which must exist one height below it
    /// (so that a walk down damaged rows cannot go round in circles).
    fn parent_row(&self, child: &BlockRow) -> Result<BlockRow, ChainError> {
        let below = child.height.checked_sub(1);
        let parent = self.row(&child.parent, below.unwrap_or(0))?;
        if Some(parent.height) != below {
            return Err(ChainError::corrupt("blocks", Some(child.height), "a block's parent is not one height below it"));
        }
        Ok(parent)
    }

    /// The difficulty a block on `parent` (`None`: a genesis) must carry.
    pub(super) fn difficulty_after(&self, parent: Option<&BlockRow>) -> Result<Difficulty, ChainError> {
        let Some(parent) = parent else {
            return Ok(expected_difficulty(&self.params, 0, &[]));
        };
        let height = parent.height.saturating_add(1);
        if height <= self.params.window {
            return Ok(self.params.initial_difficulty);
        }
        // height > W, so the branch has W+1 blocks before this one.
        let needed = self.params.window.saturating_add(1);
        let mut samples = Vec::with_capacity(usize::try_from(needed).unwrap_or(usize::MAX).min(4096));
        let mut current = *parent;
        loop {
            samples.push(Sample { difficulty: current.difficulty, timestamp: current.timestamp });
            if samples.len() as u64 >= needed {
                break;
            }
            current = self.parent_row(&current)?;
        }
        samples.reverse();
        Ok(expected_difficulty(&self.params, height, &samples))
    }

    /// One block of an add call. `alone`: the call adds only this block, so
    /// a side block's staleness is known now and decided before any
    /// signature is checked.
    fn add_in_transaction(
        &self,
        block: &Block,
        now: Option<u64>,
        check: RecordCheck,
        alone: bool,
    ) -> Result<AddOutcome, ChainError> {
        let id = block.block_id;
        if let Some(known) = self.store.block_row(&id)? {
            // Only when the offered block really is the stored one; a block
            // claiming a known id without hashing to it goes on to fail below.
            if block.calculate_block_id() == id {
                return match known.failure {
                    Some(failure) => Err(failure_error(&failure)),
                    None => Ok(AddOutcome::AlreadyKnown),
                };
            }
        }

        let parent = if block.previous == ZERO_ID {
            None
        } else {
            let parent =
                self.store.block_row(&block.previous)?.ok_or(ChainError::UnknownParent { previous: block.previous })?;
            if let Some(failure) = &parent.failure {
                return Err(failure_error(failure));
            }
            Some(parent)
        };
        let expected = match &parent {
            Some(p) => p.height.checked_add(1),
            None => Some(0),
        };
        if expected != Some(block.height) {
            return Err(ChainError::WrongHeight { expected: expected.unwrap_or(u64::MAX), found: block.height });
        }
        if let Some(p) = &parent {
            if block.timestamp < p.timestamp {
                return Err(ChainError::TimestampTooEarly { parent: p.timestamp, timestamp: block.timestamp });
            }
        }
        if let Some(now) = now {
            let limit = now.saturating_add(self.params.max_future);
            if block.timestamp > limit {
                return Err(ChainError::TimestampTooLate { limit, timestamp: block.timestamp });
            }
        }
        let difficulty = self.difficulty_after(parent.as_ref())?;
        let block_error = |error| ChainError::Block { height: block.height, block_id: id, error };
        block.fields().verify_header(difficulty).map_err(block_error)?;

        let row = BlockRow {
            id,
            parent: block.previous,
            height: block.height,
            timestamp: block.timestamp,
            difficulty,
            work: parent.map_or(Work::ZERO, |p| p.work).plus(difficulty.get()),
            failure: None,
        };
        let tip = match self.store.tip()? {
            Some((height, tip_id)) => Some(self.row(&tip_id, height)?),
            None => None,
        };
        let extends_tip = match (&tip, &parent) {
            (None, None) => true,
            (Some(tip), Some(parent)) => tip.id == parent.id,
            _ => false,
        };
        if !extends_tip && row.work <= tip.map_or(Work::ZERO, |t| t.work) {
            // Ties keep the branch seen first.
            if alone && !self.near_tip(parent.as_ref(), row.height, &mut HashMap::new())? {
                return Ok(AddOutcome::Stale);
            }
            side_block_stateless_checks(block, check).map_err(block_error)?;
            self.store.insert_block(&row, &block.to_bytes())?;
            return Ok(AddOutcome::SideBranch);
        }
        self.store.insert_block(&row, &block.to_bytes())?;

        self.store.savepoint("branch")?;
        match self.switch_to(&row, block, check, tip.map(|t| t.height)) {
            Ok(()) => {
                self.store.release("branch")?;
                Ok(if extends_tip { AddOutcome::Extended } else { AddOutcome::Reorganized })
            }
            Err(e) => {
                self.store.rollback_to("branch")?;
                if let ChainError::Block { height, block_id, error } = &e {
                    if let Some(failure) = Failure::new(*block_id, *height, *error) {
                        self.store.mark_invalid(&failure)?;
                        return Err(failure_error(&failure));
                    }
                }
                Err(e)
            }
        }
    }

    /// Makes the branch ending at `new` (the block `block`, just stored) the
    /// active chain: disconnects active blocks above the fork, connects the
    /// branch's blocks in order. Leaves writes half done on error; the
    /// caller rolls back.
    fn switch_to(&self, new: &BlockRow, block: &Block, check: RecordCheck, tip: Option<u64>) -> Result<(), ChainError> {
        let mut branch = vec![*new];
        let mut fork: Option<u64> = None;
        let mut current = *new;
        while current.parent != ZERO_ID {
            let parent = self.parent_row(&current)?;
            if self.store.active_id(parent.height)? == Some(parent.id) {
                fork = Some(parent.height);
                break;
            }
            branch.push(parent);
            current = parent;
        }
        if let Some(tip) = tip {
            let keep_below = fork.map_or(0, |f| f.saturating_add(1));
            for height in (keep_below..=tip).rev() {
                self.disconnect(height)?;
            }
        }
        for row in branch.iter().rev() {
            if row.id == new.id {
                self.connect(block, row, check)?;
            } else {
                let stored = self.load_block(&row.id, row.height)?;
                self.connect(&stored, row, RecordCheck::All(Parallelism::ALL_CORES))?;
            }
        }
        Ok(())
    }

    /// Applies `block` (stored as `row`) on top of the active chain.
    fn connect(&self, block: &Block, row: &BlockRow, check: RecordCheck) -> Result<(), ChainError> {
        let mut before = UserStates::new();
        let touched = block.records.iter().map(|r| r.dr_hash).chain([block.miner]);
        for hash in touched {
            if let Entry::Vacant(slot) = before.entry(hash) {
                if let Some(state) = self.store.state(&hash)? {
                    slot.insert(state);
                }
            }
        }
        let entries: Vec<_> = block.entries.iter().map(crate::entry::Entry::fields).collect();
        let doctors = block.records.iter().map(|r| r.dr_hash);
        let mut registry =
            BlockRegistry::load(
            &self.store,
            self.chain_id(),
            &self.params.authorities,
            row.height,
            block.timestamp,
            &entries,
            doctors,
        )?;
        let changes =
            pipeline::verify_block(block, row.difficulty, &before, self.params.block_reward, check, &mut registry)
                .map_err(|error| ChainError::Block { height: row.height, block_id: row.id, error })?;
        let registry_changes = registry.changes();
        for grant in &registry_changes.grants {
            self.store.put_grant(grant)?;
        }
        for rx in &registry_changes.rx {
            self.store.put_rx(rx)?;
        }
        let undo = undo::encode(changes.keys().map(|hash| (hash, before.get(hash).copied())));
        for (hash, state) in &changes {
            self.store.put_state(hash, Some(*state))?;
        }
        self.store.push_active(row.height, &row.id, &undo)?;
        for (index, record) in block.records.iter().enumerate() {
            let place = RecordPlace { height: row.height, index };
            self.store.index_record(place, record)?;
        }
        self.pool_seal(block)?;
        Ok(())
    }

    /// Takes the active block at `height` (the tip) off, restoring states.
    fn disconnect(&self, height: u64) -> Result<(), ChainError> {
        // Its records and entries go back to the pool.
        let id = self
            .store
            .active_id(height)?
            .ok_or_else(|| ChainError::corrupt("active", Some(height), "the tip vanished"))?;
        let block = self.load_block(&id, height)?;
        self.pool_return(&block)?;
        for step in undo::registry_undo(&block.entries) {
            match step {
                RegistryUndo::Forget(id) => self.store.forget_grant(&id)?,
                RegistryUndo::Unrevoke(id) => self.store.unrevoke_grant(&id)?,
            }
        }
        self.store.forget_rx_at(height)?;
        let bytes = self.store.pop_active(height)?;
        let previous = undo::decode(&bytes)
            .ok_or_else(|| ChainError::corrupt("active", Some(height), "undo data does not decode"))?;
        for (hash, state) in previous {
            self.store.put_state(&hash, state)?;
        }
        Ok(())
    }
}

/// What a side block must pass before it is stored (SPEC 5, v1.2): every
/// record check that needs no state (section 2's checks 1-3 and 5-7, the
/// text's size among them) and every entry's checks 1-2, so that a side
/// branch costs its sender work and not the receiver's disk. `check` says
/// how many leading records the signature stage already passed.
fn side_block_stateless_checks(block: &Block, check: RecordCheck) -> Result<(), BlockError> {
    let passed = match check {
        RecordCheck::NonceOnlyFor(passed) => passed,
        RecordCheck::All(parallelism) => pipeline::records_passing_all_but_nonce(std::slice::from_ref(block), parallelism)[0],
    };
    for (index, record) in block.records.iter().enumerate().skip(passed) {
        // As if its nonce were right: a nonce of 0 (which no previous nonce
        // admits) is the only failure left to the state, and found there.
        match record.verify(record.nonce.wrapping_sub(1)) {
            Ok(()) | Err(RecordError::InvalidNonce) => {}
            Err(error) => return Err(BlockError::Record { index, error }),
        }
    }
    for (index, entry) in block.entries.iter().enumerate() {
        entry.verify().map_err(|error| BlockError::Entry { index, error })?;
    }
    Ok(())
}

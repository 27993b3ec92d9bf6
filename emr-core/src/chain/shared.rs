//! [`SharedChain`]: one chain used from several threads, and
//! [`SharedChain::mine_next`], which mines the pool's next block while other
//! threads keep adding blocks.
//!
//! The core [`Chain`] takes `&mut self` to add a block, so a search that
//! held it for its whole length would keep every other block out. Here the
//! chain sits behind a mutex with a *tip generation*: every call through
//! [`SharedChain::lock`] that used the chain mutably compares the tip
//! before and after, and when it moved, the generation goes up and every
//! search running on the old tip is cancelled. `mine_next` takes the
//! template under the lock, releases it, mines, and on a changed tip starts
//! over on the new one.

use std::ops::{Deref, DerefMut};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::block::Block;
use crate::hash::Hash160;
use crate::mining::{mine_block, BlockTemplate, CancelHandle, MineOutcome, MineResult, MiningError, Progress, SearchOptions};

use super::{AddOutcome, BlockRef, Chain, ChainError};

/// How [`SharedChain::mine_next`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MineNextOutcome {
    /// A block was mined and added (normally [`AddOutcome::Extended`]).
    Added(Block, AddOutcome),
    /// Every nonce of the options' range was tried on the current tip.
    Exhausted,
    /// The options' time limit (for the whole call, restarts included)
    /// passed.
    TimedOut,
    /// The options' cancel handle was triggered.
    Cancelled,
}

struct State {
    chain: Option<Chain>,
    /// The tip as of the last mutable use through the lock.
    tip: Option<BlockRef>,
    generation: u64,
    /// Searches to stop when the tip moves, by registration number.
    watchers: Vec<(u64, CancelHandle)>,
    next_watcher: u64,
}

impl State {
    fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        for (_, handle) in self.watchers.drain(..) {
            handle.cancel();
        }
    }
}

/// A [`Chain`] shared between threads: clones are handles to the same
/// chain. Calls take a mutex for their length; [`SharedChain::mine_next`]
/// holds it only to take the template and to add the block it found.
#[derive(Clone)]
pub struct SharedChain {
    state: Arc<Mutex<State>>,
}

impl core::fmt::Debug for SharedChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedChain").finish_non_exhaustive()
    }
}

/// Exclusive use of a [`SharedChain`]'s chain, from [`SharedChain::lock`].
/// Dereferences to the [`Chain`]; when it was used mutably and the tip
/// moved, dropping it bumps the tip generation (stopping searches on the
/// old tip).
pub struct ChainGuard<'a> {
    guard: MutexGuard<'a, State>,
    mutated: bool,
}

impl ChainGuard<'_> {
    /// The tip generation: it changes whenever a call through the shared
    /// chain moved the tip.
    pub fn generation(&self) -> u64 {
        self.guard.generation
    }
}

impl Deref for ChainGuard<'_> {
    type Target = Chain;
    fn deref(&self) -> &Chain {
        match &self.guard.chain {
            Some(chain) => chain,
            None => unreachable!("a guard is only made for an open chain"),
        }
    }
}

impl DerefMut for ChainGuard<'_> {
    fn deref_mut(&mut self) -> &mut Chain {
        self.mutated = true;
        match &mut self.guard.chain {
            Some(chain) => chain,
            None => unreachable!("a guard is only made for an open chain"),
        }
    }
}

impl Drop for ChainGuard<'_> {
    fn drop(&mut self) {
        if !self.mutated {
            return;
        }
        // A tip that cannot be read counts as moved: stopping a search for
        // nothing costs a restart, mining on a stale tip costs the block.
        match self.guard.chain.as_ref().and_then(|c| c.tip().ok()) {
            Some(tip) if tip == self.guard.tip => {}
            Some(tip) => {
                self.guard.tip = tip;
                self.guard.bump();
            }
            None => self.guard.bump(),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn mining_error(error: MiningError) -> ChainError {
    match error {
        MiningError::InvalidArgument(message) => ChainError::InvalidParams(message),
        MiningError::EngineUnavailable(_) => {
            ChainError::InvalidParams("the forced hash engine is not available on this CPU")
        }
        MiningError::ThreadSpawn(e) => ChainError::Io(format!("could not start a mining thread: {e}")),
    }
}

enum Event {
    Progress(Progress),
    Done(Result<MineResult, MiningError>),
}

impl SharedChain {
    /// Shares `chain`.
    pub fn new(chain: Chain) -> SharedChain {
        let tip = chain.tip().ok().flatten();
        SharedChain {
            state: Arc::new(Mutex::new(State {
                chain: Some(chain),
                tip,
                generation: 0,
                watchers: Vec::new(),
                next_watcher: 0,
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic in an earlier call poisons the mutex; the chain itself is
        // transactional, so it stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exclusive use of the chain until the guard is dropped (waits for
    /// other threads' calls). `invalid_argument` ([`ChainError::Closed`])
    /// once [`SharedChain::close`] was called.
    pub fn lock(&self) -> Result<ChainGuard<'_>, ChainError> {
        let guard = self.state();
        if guard.chain.is_none() {
            return Err(ChainError::Closed);
        }
        Ok(ChainGuard { guard, mutated: false })
    }

    /// Runs `f` on the chain under the lock (see [`SharedChain::lock`]).
    pub fn with<T>(&self, f: impl FnOnce(&mut Chain) -> Result<T, ChainError>) -> Result<T, ChainError> {
        let mut guard = self.lock()?;
        f(&mut guard)
    }

    /// Adds a block ([`Chain::add_block`]); a search of
    /// [`SharedChain::mine_next`] on the old tip stops and starts over.
    pub fn add_block(&self, block: &Block, now: Option<u64>) -> Result<AddOutcome, ChainError> {
        self.with(|chain| chain.add_block(block, now))
    }

    /// The tip generation: it changes whenever a call through this shared
    /// chain moved the tip.
    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Closes the chain: takes it out (dropping the returned chain closes
    /// the database) and stops running searches; later calls fail with
    /// [`ChainError::Closed`]. `None` when already closed.
    pub fn close(&self) -> Option<Chain> {
        let mut state = self.state();
        state.bump();
        state.chain.take()
    }

    /// Mines the pool's next block and adds it: takes
    /// [`Chain::template`] for `miner` at `timestamp` (`None`: the current
    /// wall clock, read again at every start), mines it with
    /// [`mine_block`] and `options` (threads, range, engine, cancel handle,
    /// time limit and progress as there) without holding the chain, and adds
    /// the block found (with the wall clock as `now`).
    ///
    /// When the tip moves meanwhile (another thread added a block through
    /// this shared chain: one at the same height, a reorganisation, an
    /// undo), the search stops within a few milliseconds and starts over on
    /// the new tip, with the pool as it now is; a block found for the old
    /// tip is dropped. The time limit covers the whole call; progress
    /// reports hashes and time since the call started, on the calling
    /// thread.
    ///
    /// # Errors
    /// `timestamp_too_late` when the template's timestamp is more than
    /// the chain's `max_future` seconds ahead of the wall clock (before mining);
    /// `invalid_argument` for options [`mine_block`] refuses, a read-only or
    /// closed chain; `io` when a thread cannot start; the chain's errors.
    pub fn mine_next(
        &self,
        miner: &Hash160,
        timestamp: Option<u64>,
        options: &SearchOptions,
    ) -> Result<MineNextOutcome, ChainError> {
        let started = Instant::now();
        let user_cancel = options.cancel.as_ref();
        let cancelled = || user_cancel.is_some_and(CancelHandle::is_cancelled);
        let mut hashes_before = 0u64;
        loop {
            if cancelled() {
                return Ok(MineNextOutcome::Cancelled);
            }
            let remaining = match options.time_limit {
                Some(limit) => match limit.checked_sub(started.elapsed()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(MineNextOutcome::TimedOut),
                },
                None => None,
            };
            let stop = CancelHandle::new();
            let (template, generation, watcher) = {
                let mut guard = self.lock()?;
                if guard.read_only {
                    return Err(ChainError::ReadOnly);
                }
                let now = unix_now();
                let template = guard.template(miner, timestamp.unwrap_or(now))?;
                let limit = now.saturating_add(guard.params().max_future);
                if template.timestamp > limit {
                    return Err(ChainError::TimestampTooLate { limit, timestamp: template.timestamp });
                }
                let state = &mut *guard.guard;
                let id = state.next_watcher;
                state.next_watcher = id.wrapping_add(1);
                state.watchers.push((id, stop.clone()));
                (template, state.generation, id)
            };
            let round = SearchOptions {
                threads: options.threads,
                nonce_start: options.nonce_start,
                nonce_count: options.nonce_count,
                cancel: Some(stop.clone()),
                time_limit: remaining,
                progress: None,
                engine: options.engine,
            };
            let result = self.run_round(&template, round, options, &stop, started, hashes_before);
            self.state().watchers.retain(|(id, _)| *id != watcher);
            let result = result.map_err(mining_error)?;
            hashes_before = hashes_before.saturating_add(result.stats.hashes);
            match result.outcome {
                MineOutcome::Found(block) => {
                    let mut guard = self.lock()?;
                    if guard.generation() != generation {
                        continue;
                    }
                    let added = guard.add_block(&block, Some(unix_now()))?;
                    return Ok(MineNextOutcome::Added(block, added));
                }
                MineOutcome::Cancelled => {
                    if cancelled() {
                        return Ok(MineNextOutcome::Cancelled);
                    }
                    // The tip moved (or the chain was closed: the next lock
                    // says so).
                }
                MineOutcome::TimedOut => return Ok(MineNextOutcome::TimedOut),
                MineOutcome::Exhausted => return Ok(MineNextOutcome::Exhausted),
            }
        }
    }

    /// One search on a helper thread; this thread forwards progress (as
    /// totals since `started`) and the caller's cancel handle to it.
    fn run_round(
        &self,
        template: &BlockTemplate,
        mut round: SearchOptions,
        options: &SearchOptions,
        stop: &CancelHandle,
        started: Instant,
        hashes_before: u64,
    ) -> Result<MineResult, MiningError> {
        const TICK: Duration = Duration::from_millis(5);
        let (sender, receiver) = mpsc::channel::<Event>();
        if options.progress.is_some() {
            let sender = sender.clone();
            round.progress = Some(Box::new(move |p| {
                let _ = sender.send(Event::Progress(p));
            }));
        }
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("emr-mine-next".to_owned())
                .spawn_scoped(scope, move || {
                    let result = mine_block(template, &round);
                    let _ = sender.send(Event::Done(result));
                })
                .map_err(MiningError::ThreadSpawn)?;
            let ended = loop {
                match receiver.recv_timeout(TICK) {
                    Ok(Event::Done(result)) => break Some(result),
                    Ok(Event::Progress(p)) => {
                        if let Some(report) = &options.progress {
                            let hashes = hashes_before.saturating_add(p.hashes);
                            let elapsed = started.elapsed();
                            let secs = elapsed.as_secs_f64();
                            let rate = if secs > 0.0 { hashes as f64 / secs } else { 0.0 };
                            report(Progress { hashes, elapsed, hashes_per_second: rate });
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break None,
                }
                if options.cancel.as_ref().is_some_and(CancelHandle::is_cancelled) {
                    stop.cancel();
                }
            };
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
            match ended {
                Some(result) => result,
                None => unreachable!("the helper thread either sends its result or panics"),
            }
        })
    }
}

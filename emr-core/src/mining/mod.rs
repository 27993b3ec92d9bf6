//! Proof-of-work search (SPEC section 4): find a nonce such that
//! `SHA-256(prefix ‖ LE64(nonce))`, read as a big-endian 256-bit integer,
//! is at most the difficulty's target.
//!
//! [`search`] hashes the constant prefix once (a SHA-256 midstate) and then
//! compresses only the tail (the last one or two 64-byte blocks, which hold
//! the nonce and the padding) per nonce, in a loop that does not allocate.
//! Rounds and message-schedule words that do not depend on the nonce are
//! precomputed. Several [`HashEngine`]s implement that loop; all give
//! identical results; the one that measures fastest on this CPU for the
//! prefix's layout (a calibration of a few milliseconds, once per process,
//! see [`calibrate`]) is used unless [`SearchOptions::engine`] forces one.
//!
//! Worker threads take disjoint, contiguous nonce sub-ranges (no shared
//! counter); the first to find a valid nonce tells the others to stop.
//!
//! A block header prefix is `76 + 32 n` bytes (n txids), so the nonce and
//! the padding always share the last block: one compression per nonce, of
//! which the first 3 (even `n`) or 11 (odd `n`) rounds are precomputed.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hash::Hash256;
use crate::pow::Difficulty;

pub mod calibrate;
mod lanes;
mod plan;
mod template;
#[cfg(target_arch = "x86_64")]
mod shani;
#[cfg(test)]
mod tests;

pub use template::{mine_block, BlockTemplate, MineOutcome, MineResult};

use plan::{AnyOneBlock, AnyTwoBlocks, At12, At12Low, At44, At44Low, Layout, LayoutKind, Plan};

/// An implementation of the per-nonce hashing loop.
///
/// All engines compute the same function and find the same nonces; they
/// differ only in speed and in the CPU features they need.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum HashEngine {
    /// Portable Rust, one nonce at a time. Always available.
    Scalar,
    /// AVX2: 8 nonces at once, one per 32-bit lane (x86_64 with AVX2).
    Avx2,
    /// The x86 SHA extensions, several nonces interleaved (x86_64 with SHA,
    /// SSSE3 and SSE4.1).
    ShaNi,
    /// AVX-512F: 16 nonces at once (x86_64 with AVX-512F). It shares all of
    /// its SHA-256 logic with [`HashEngine::Avx2`]; only the vector primitives
    /// differ.
    Avx512,
}

/// The length of a block header prefix with 25 txids (`76 + 32 * 25`).
const LARGEST_HEADER: usize = 76 + 32 * crate::block::MAX_RECORDS;

/// Number of nonces the SHA-NI engine keeps in flight. On Zen 3, 2 measured
/// best: 3 and 4 were slower (register pressure) for no gain in SHA-unit
/// throughput.
const SHANI_STREAMS: usize = 2;

impl HashEngine {
    /// Every engine, available or not, in declaration order.
    pub fn all() -> &'static [HashEngine] {
        &[
            HashEngine::Scalar,
            HashEngine::Avx2,
            HashEngine::ShaNi,
            HashEngine::Avx512,
        ]
    }

    /// Whether this CPU can run the engine (detected at run time).
    pub fn is_available(self) -> bool {
        match self {
            HashEngine::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            HashEngine::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            HashEngine::ShaNi => {
                std::is_x86_feature_detected!("sha")
                    && std::is_x86_feature_detected!("sse2")
                    && std::is_x86_feature_detected!("ssse3")
                    && std::is_x86_feature_detected!("sse4.1")
            }
            #[cfg(target_arch = "x86_64")]
            HashEngine::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The engines this CPU can run, fastest first for a block header
    /// with 25 txids (the largest block): the order measured by the
    /// process's calibration (see [`calibrate`]), or the fixed preference
    /// order where calibration cannot run. Even-txid headers and other
    /// prefix lengths have their own: [`HashEngine::ranked_for`].
    pub fn available() -> Vec<HashEngine> {
        Self::ranked_for(LARGEST_HEADER)
    }

    /// The engines this CPU can run, fastest first for a prefix of
    /// `prefix_len` bytes (measured once per process and layout class).
    pub fn ranked_for(prefix_len: usize) -> Vec<HashEngine> {
        calibrate::ranking(prefix_len)
            .engines
            .iter()
            .map(|r| r.engine)
            .collect()
    }

    /// The fastest engine this CPU can run for a block header with 25 txids
    /// (the first of [`HashEngine::available`]).
    pub fn best() -> HashEngine {
        Self::best_for(LARGEST_HEADER)
    }

    /// The fastest engine this CPU can run for a prefix of `prefix_len`
    /// bytes: the default of a [`search`] of such a prefix.
    pub fn best_for(prefix_len: usize) -> HashEngine {
        calibrate::ranking(prefix_len).best()
    }

    /// The engines this CPU can run, in the fixed preference order.
    fn available_unranked() -> Vec<HashEngine> {
        calibrate::PREFERENCE
            .into_iter()
            .filter(|e| e.is_available())
            .collect()
    }

    /// The engine's short name, as shown by `Display`.
    pub fn name(self) -> &'static str {
        match self {
            HashEngine::Scalar => "scalar",
            HashEngine::Avx2 => "avx2",
            HashEngine::ShaNi => "sha-ni",
            HashEngine::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for HashEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flag that stops a running [`search`] from another thread.
///
/// Clones share the flag. Once cancelled it stays cancelled: a search
/// started with a cancelled handle returns [`SearchOutcome::Cancelled`]
/// without hashing.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// A handle that is not cancelled.
    pub fn new() -> CancelHandle {
        CancelHandle::default()
    }

    /// Asks every search using this handle (or a clone) to stop. Workers
    /// notice within a few milliseconds.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A snapshot passed to [`SearchOptions::progress`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Progress {
    /// Nonces hashed so far, all threads together.
    pub hashes: u64,
    /// Time since the search started.
    pub elapsed: Duration,
    /// `hashes / elapsed`.
    pub hashes_per_second: f64,
}

/// How to run a [`search`].
///
/// The nonce range is `nonce_start ..= last`, where `last` is
/// `nonce_start + nonce_count - 1` clipped at `u64::MAX`, or `u64::MAX` when
/// `nonce_count` is `None`. So `None` covers every nonce from `nonce_start`
/// up to and including `u64::MAX` (2^64 nonces from 0), and `Some(0)` is an
/// empty range.
pub struct SearchOptions {
    /// Worker threads; `None`: [`std::thread::available_parallelism`].
    /// Must be 1..=[`MAX_THREADS`]. Fewer are started when the range has
    /// fewer nonces than threads.
    pub threads: Option<usize>,
    /// The first nonce tried.
    pub nonce_start: u64,
    /// How many nonces to try (see the type's docs); `None`: up to and
    /// including `u64::MAX`.
    pub nonce_count: Option<u64>,
    /// Stops the search when cancelled.
    pub cancel: Option<CancelHandle>,
    /// Stops the search once this much time has passed since it started.
    pub time_limit: Option<Duration>,
    /// Called about every 250 ms while the search runs, always from the
    /// thread that called [`search`] (never concurrently with itself).
    pub progress: Option<Box<dyn Fn(Progress) + Send + Sync>>,
    /// The engine to use; `None`: [`HashEngine::best_for`] the prefix's
    /// length (measured on first use, see [`calibrate`]). Forcing one the
    /// CPU cannot run is an error.
    pub engine: Option<HashEngine>,
}

impl Default for SearchOptions {
    /// All threads, every nonce from 0 through `u64::MAX`, no cancel handle,
    /// no time limit, no progress callback, the best engine.
    fn default() -> SearchOptions {
        SearchOptions {
            threads: None,
            nonce_start: 0,
            nonce_count: None,
            cancel: None,
            time_limit: None,
            progress: None,
            engine: None,
        }
    }
}

impl fmt::Debug for SearchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchOptions")
            .field("threads", &self.threads)
            .field("nonce_start", &self.nonce_start)
            .field("nonce_count", &self.nonce_count)
            .field("cancel", &self.cancel)
            .field("time_limit", &self.time_limit)
            .field("progress", &self.progress.as_ref().map(|_| "Fn(Progress)"))
            .field("engine", &self.engine)
            .finish()
    }
}

/// The most worker threads a search accepts.
pub const MAX_THREADS: usize = 1024;

/// How a [`search`] ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SearchOutcome {
    /// A nonce whose block id meets the target. With one thread it is the
    /// lowest such nonce in the range; with several, any one (see
    /// [`search`]).
    Found {
        /// The nonce.
        nonce: u64,
        /// `SHA-256(prefix ‖ LE64(nonce))`.
        block_id: Hash256,
    },
    /// Every nonce of the range was tried and none meets the target.
    Exhausted,
    /// The cancel handle was triggered before a nonce was found.
    Cancelled,
    /// The time limit passed before a nonce was found.
    TimedOut,
}

/// Measurements of a finished [`search`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SearchStats {
    /// Nonces hashed, all threads together.
    pub hashes: u64,
    /// Wall-clock time of the whole search.
    pub elapsed: Duration,
    /// `hashes / elapsed` (0 when nothing was timed).
    pub hashes_per_second: f64,
    /// Worker threads started (0 when the range was empty).
    pub threads: usize,
    /// The engine that was used.
    pub engine: HashEngine,
}

/// Why a [`search`] could not run.
#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    /// An option is out of range (the message says which).
    #[error("invalid search option: {0}")]
    InvalidArgument(&'static str),
    /// The forced engine cannot run on this CPU.
    #[error("hash engine {0} is not available on this CPU")]
    EngineUnavailable(HashEngine),
    /// The operating system refused to start a worker thread.
    #[error("could not start a mining thread: {0}")]
    ThreadSpawn(#[source] std::io::Error),
}

/// Searches `options`' nonce range for a nonce such that
/// `SHA-256(prefix ‖ LE64(nonce))`, as a big-endian integer, is at most
/// `difficulty.target()`.
///
/// `prefix` may have any length (a block header prefix is
/// `previous ‖ miner ‖ txids ‖ LE64(timestamp) ‖ LE128(difficulty)`).
///
/// With one thread the nonces are tried in increasing order and the result
/// is the lowest valid nonce at or after `nonce_start`. With several, each
/// thread scans its own contiguous part of the range in increasing order and
/// the first thread to find a valid nonce stops the others; if several found
/// one before stopping, the lowest of those is returned. The outcome is then
/// a valid nonce but not necessarily the lowest in the range.
///
/// Cancellation and the time limit are checked by every worker every few
/// milliseconds. A valid nonce found is returned even if a stop was
/// requested meanwhile. [`SearchOutcome::Exhausted`] means every nonce of
/// the range was tried.
///
/// # Example
/// ```
/// use emr_core::mining::{search, SearchOptions, SearchOutcome};
/// use emr_core::Difficulty;
///
/// let prefix = [7u8; 76]; // a header prefix without txids
/// let difficulty = Difficulty::new(1000).unwrap();
/// let options = SearchOptions { threads: Some(1), ..SearchOptions::default() };
/// let (outcome, stats) = search(&prefix, difficulty, &options)?;
/// let SearchOutcome::Found { nonce, block_id } = outcome else { unreachable!() };
/// assert!(difficulty.is_met_by(&block_id));
/// assert!(stats.hashes > nonce);
/// # Ok::<(), emr_core::mining::MiningError>(())
/// ```
///
/// # Errors
/// [`MiningError::InvalidArgument`] if `threads` is `Some(0)` or above
/// [`MAX_THREADS`]; [`MiningError::EngineUnavailable`] if the forced engine
/// cannot run here; [`MiningError::ThreadSpawn`] if a thread cannot start.
pub fn search(
    prefix: &[u8],
    difficulty: Difficulty,
    options: &SearchOptions,
) -> Result<(SearchOutcome, SearchStats), MiningError> {
    let started = Instant::now();
    let engine = options
        .engine
        .unwrap_or_else(|| HashEngine::best_for(prefix.len()));
    let checked = Checked::new(engine).ok_or(MiningError::EngineUnavailable(engine))?;
    let threads = match options.threads {
        Some(0) => return Err(MiningError::InvalidArgument("threads must be at least 1")),
        Some(n) if n > MAX_THREADS => {
            return Err(MiningError::InvalidArgument(
                "threads must be at most MAX_THREADS",
            ))
        }
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS),
    };

    let first = options.nonce_start;
    let available = u128::from(u64::MAX - first) + 1;
    let count = options
        .nonce_count
        .map_or(available, |c| u128::from(c).min(available));
    let stats = |hashes: u64, threads: usize| {
        let elapsed = started.elapsed();
        SearchStats {
            hashes,
            elapsed,
            hashes_per_second: rate(hashes, elapsed),
            threads,
            engine,
        }
    };
    if count == 0 {
        return Ok((SearchOutcome::Exhausted, stats(0, 0)));
    }

    let plan = Plan::new(prefix, difficulty.target());
    // `count >= 1`, and `workers <= count`, so no part is empty.
    let workers = (threads as u128).min(count) as usize;
    let ranges: Vec<(u64, u64)> = (0..workers)
        .scan(first, |next, i| {
            let size = count / workers as u128 + u128::from((i as u128) < count % workers as u128);
            let lo = *next;
            let hi = (u128::from(lo) + size - 1) as u64;
            *next = hi.wrapping_add(1);
            Some((lo, hi))
        })
        .collect();

    let shared = Shared {
        stop: AtomicU8::new(RUNNING),
        cancel: options.cancel.as_ref(),
        deadline: options.time_limit.and_then(|d| started.checked_add(d)),
        done: (0..workers).map(|_| PaddedCounter::default()).collect(),
        finished: AtomicUsize::new(0),
        monitor: std::thread::current(),
    };
    let ctx = WorkerCtx {
        engine: checked,
        plan: &plan,
        prefix,
        shared: &shared,
    };

    let mut spawn_error = None;
    let results: Vec<WorkerEnd> = std::thread::scope(|scope| {
        // If the progress callback panics, stop the workers so that the
        // scope can join them and the panic can propagate.
        let _stop_on_panic = StopOnPanic(&shared);
        let mut handles = Vec::with_capacity(workers);
        for (i, &(lo, hi)) in ranges.iter().enumerate() {
            let ctx = &ctx;
            let spawned = std::thread::Builder::new()
                .name(format!("emr-miner-{i}"))
                .spawn_scoped(scope, move || {
                    let _guard = FinishGuard(ctx.shared);
                    work(ctx, i, lo, hi)
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    shared.request_stop(ABORTED);
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        monitor(&shared, handles.len(), started, options.progress.as_deref());
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    if let Some(e) = spawn_error {
        return Err(MiningError::ThreadSpawn(e));
    }

    let hashes = results
        .iter()
        .fold(0u64, |sum, r| sum.saturating_add(r.hashes));
    let found = results
        .iter()
        .filter_map(|r| r.found)
        .min_by_key(|(nonce, _)| *nonce);
    let outcome = if let Some((nonce, block_id)) = found {
        SearchOutcome::Found { nonce, block_id }
    } else if results.iter().all(|r| r.exhausted) {
        SearchOutcome::Exhausted
    } else if shared.stop.load(Ordering::Relaxed) == TIMED_OUT {
        SearchOutcome::TimedOut
    } else {
        SearchOutcome::Cancelled
    };
    Ok((outcome, stats(hashes, workers)))
}

fn rate(hashes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        hashes as f64 / secs
    } else {
        0.0
    }
}

/// Interval between progress reports.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Waits on the calling thread until every worker has finished, reporting
/// progress meanwhile.
fn monitor(
    shared: &Shared<'_>,
    workers: usize,
    started: Instant,
    progress: Option<&(dyn Fn(Progress) + Send + Sync)>,
) {
    let mut next_report = started + PROGRESS_INTERVAL;
    while shared.finished.load(Ordering::Acquire) < workers {
        match progress {
            None => std::thread::park(),
            Some(report) => {
                let now = Instant::now();
                if now >= next_report {
                    let hashes = shared
                        .done
                        .iter()
                        .map(|c| c.0.load(Ordering::Relaxed))
                        .sum();
                    let elapsed = now - started;
                    report(Progress {
                        hashes,
                        elapsed,
                        hashes_per_second: rate(hashes, elapsed),
                    });
                    next_report = Instant::now() + PROGRESS_INTERVAL;
                }
                std::thread::park_timeout(next_report.saturating_duration_since(Instant::now()));
            }
        }
    }
}

const RUNNING: u8 = 0;
const FOUND: u8 = 1;
const CANCELLED: u8 = 2;
const TIMED_OUT: u8 = 3;
const ABORTED: u8 = 4;

/// A per-worker counter on its own cache lines (no false sharing).
#[derive(Default)]
#[repr(align(128))]
struct PaddedCounter(AtomicU64);

/// State shared by the workers of one search.
struct Shared<'a> {
    /// `RUNNING`, or the first reason to stop.
    stop: AtomicU8,
    cancel: Option<&'a CancelHandle>,
    deadline: Option<Instant>,
    /// Hashes done by each worker (written by that worker only).
    done: Vec<PaddedCounter>,
    finished: AtomicUsize,
    monitor: std::thread::Thread,
}

impl Shared<'_> {
    fn request_stop(&self, reason: u8) {
        let _ = self
            .stop
            .compare_exchange(RUNNING, reason, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Counts a worker as finished and wakes the monitor, even if it panics
/// (then also stopping the other workers).
struct FinishGuard<'a, 'b>(&'a Shared<'b>);

impl Drop for FinishGuard<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.request_stop(ABORTED);
        }
        self.0.finished.fetch_add(1, Ordering::Release);
        self.0.monitor.unpark();
    }
}

/// Stops the workers if the monitoring thread panics.
struct StopOnPanic<'a, 'b>(&'a Shared<'b>);

impl Drop for StopOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.request_stop(ABORTED);
        }
    }
}

struct WorkerCtx<'a> {
    engine: Checked,
    plan: &'a Plan,
    prefix: &'a [u8],
    shared: &'a Shared<'a>,
}

/// What a worker did.
struct WorkerEnd {
    hashes: u64,
    found: Option<(u64, Hash256)>,
    /// It tried every nonce of its range.
    exhausted: bool,
}

/// Chunk sizing: workers check the stop conditions between chunks, aiming
/// at a chunk every 0.5-4 ms whatever the engine and build profile.
const CHUNK_MIN_TIME: Duration = Duration::from_micros(500);
const CHUNK_MAX_TIME: Duration = Duration::from_millis(4);
const CHUNK_MAX: u64 = 1 << 20;

/// Scans `lo..=hi` in increasing order.
fn work(ctx: &WorkerCtx<'_>, index: usize, lo: u64, hi: u64) -> WorkerEnd {
    let shared = ctx.shared;
    let lanes = ctx.engine.lanes() as u64;
    let mut chunk = lanes;
    let mut next = lo;
    let mut hashes = 0u64;
    let mut folded = None;
    let end = |hashes, found, exhausted| WorkerEnd {
        hashes,
        found,
        exhausted,
    };
    loop {
        if shared.stop.load(Ordering::Relaxed) != RUNNING {
            return end(hashes, None, false);
        }
        if shared.cancel.is_some_and(CancelHandle::is_cancelled) {
            shared.request_stop(CANCELLED);
            return end(hashes, None, false);
        }
        let chunk_start = Instant::now();
        if shared.deadline.is_some_and(|d| chunk_start >= d) {
            shared.request_stop(TIMED_OUT);
            return end(hashes, None, false);
        }

        // `next <= hi`; `left` is the number of nonces left, minus one.
        let left = hi - next;
        let batches = chunk.min(left.saturating_add(1)).div_ceil(lanes);
        match ctx.engine.scan(ctx.plan, &mut folded, next, batches as usize) {
            Some((base, mask)) => {
                // Lanes past `hi` (only in the range's last batch) are not
                // part of the range: ignore and do not count them.
                let in_range = (hi - base).min(lanes - 1) + 1;
                hashes = hashes.saturating_add((base - next) + in_range);
                let mut mask = u64::from(mask) & ((1u64 << in_range) - 1);
                while mask != 0 {
                    let lane = u64::from(mask.trailing_zeros());
                    mask &= mask - 1;
                    let nonce = base + lane;
                    let id = crate::block::block_id_from_prefix(ctx.prefix, nonce);
                    if ctx.plan.meets(id.as_bytes()) {
                        shared.request_stop(FOUND);
                        shared.done[index].0.store(hashes, Ordering::Relaxed);
                        return end(hashes, Some((nonce, id)), false);
                    }
                }
                match base.checked_add(lanes) {
                    Some(n) if n <= hi => next = n,
                    _ => return end(hashes, None, true),
                }
            }
            None => {
                let scanned = batches * lanes;
                hashes = hashes.saturating_add(scanned.min(left.saturating_add(1)));
                match next.checked_add(scanned) {
                    Some(n) if n <= hi => next = n,
                    _ => return end(hashes, None, true),
                }
            }
        }
        shared.done[index].0.store(hashes, Ordering::Relaxed);

        let took = chunk_start.elapsed();
        if took < CHUNK_MIN_TIME && chunk < CHUNK_MAX {
            chunk *= 2;
        } else if took > CHUNK_MAX_TIME && chunk > lanes {
            chunk /= 2;
        }
    }
}

/// An engine whose availability on this CPU was checked: the only way to
/// reach the kernels, whose target features the check guarantees.
#[derive(Copy, Clone, Debug)]
struct Checked(HashEngine);

impl Checked {
    fn new(engine: HashEngine) -> Option<Checked> {
        engine.is_available().then_some(Checked(engine))
    }

    /// Nonces per batch.
    fn lanes(self) -> usize {
        match self.0 {
            HashEngine::Scalar => 1,
            HashEngine::Avx2 => 8,
            HashEngine::ShaNi => SHANI_STREAMS,
            HashEngine::Avx512 => 16,
        }
    }

    /// Hashes `batches` batches of `lanes()` nonces from `base` (wrapping);
    /// returns the first batch with a candidate and the candidates' lanes.
    ///
    /// A block header's nonce fills two whole message words, its low and
    /// high 32-bit halves. Batches that lie within one high word run the
    /// [`At12Low`] / [`At44Low`] kernels on a plan with that high word
    /// folded in (kept in `folded`, made again when the high word changes,
    /// so every 2^32 nonces), which vary the low word alone: fewer schedule
    /// words depend on the nonce. A batch across a high-word boundary runs
    /// the two-word kernel. The nonces and their order are the same either way.
    fn scan(self, p: &Plan, folded: &mut Option<(u32, Plan)>, mut base: u64, mut batches: usize) -> Option<(u64, u32)> {
        if !matches!(p.kind, LayoutKind::At12 | LayoutKind::At44) {
            return self.scan_whole(p, base, batches);
        }
        let lanes = self.lanes() as u64;
        while batches > 0 {
            let high = (base >> 32) as u32;
            // Whole batches from `base` before the low word wraps.
            let room = ((1u64 << 32) - (base & 0xffff_ffff)) / lanes;
            let n = if room == 0 {
                if let Some(hit) = self.scan_whole(p, base, 1) {
                    return Some(hit);
                }
                1
            } else {
                let n = room.min(batches as u64) as usize;
                let plan = match folded {
                    Some((h, plan)) if *h == high => plan,
                    _ => &folded.insert((high, p.with_high_word(high))).1,
                };
                let hit = match p.kind {
                    LayoutKind::At12 => self.scan_in::<At12Low>(plan, base, n),
                    _ => self.scan_in::<At44Low>(plan, base, n),
                };
                if hit.is_some() {
                    return hit;
                }
                n
            };
            base = base.wrapping_add(n as u64 * lanes);
            batches -= n;
        }
        None
    }

    /// [`Checked::scan`] with the two-word kernels only.
    fn scan_whole(self, p: &Plan, base: u64, batches: usize) -> Option<(u64, u32)> {
        match p.kind {
            LayoutKind::At12 => self.scan_in::<At12>(p, base, batches),
            LayoutKind::At44 => self.scan_in::<At44>(p, base, batches),
            LayoutKind::AnyOneBlock => self.scan_in::<AnyOneBlock>(p, base, batches),
            LayoutKind::AnyTwoBlocks => self.scan_in::<AnyTwoBlocks>(p, base, batches),
        }
    }

    fn scan_in<L: Layout>(self, p: &Plan, base: u64, batches: usize) -> Option<(u64, u32)> {
        match self.0 {
            HashEngine::Scalar => scan_scalar::<L>(p, base, batches),
            // SAFETY: `Checked` exists only for engines whose CPU features
            // `is_available` detected; each function below needs exactly
            // the features its engine's detection checks.
            #[cfg(target_arch = "x86_64")]
            HashEngine::Avx2 => unsafe { x86::scan_avx2::<L>(p, base, batches) },
            #[cfg(target_arch = "x86_64")]
            HashEngine::ShaNi => unsafe { shani::scan::<L, SHANI_STREAMS>(p, base, batches) },
            #[cfg(target_arch = "x86_64")]
            HashEngine::Avx512 => unsafe { x86::scan_avx512::<L>(p, base, batches) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only the scalar engine is available off x86_64"),
        }
    }

    /// Full final states (the id's words) of one batch from `base`.
    #[cfg(test)]
    fn hash_batch(self, p: &Plan, base: u64) -> Vec<[u8; 32]> {
        match p.kind {
            LayoutKind::At12 => self.hash_in::<At12>(p, base),
            LayoutKind::At44 => self.hash_in::<At44>(p, base),
            LayoutKind::AnyOneBlock => self.hash_in::<AnyOneBlock>(p, base),
            LayoutKind::AnyTwoBlocks => self.hash_in::<AnyTwoBlocks>(p, base),
        }
    }

    /// [`Checked::hash_batch`] through the folded kernels, on the plan
    /// [`Plan::with_high_word`] made for the batch's high word; for a header
    /// layout and a batch within one high word.
    #[cfg(test)]
    fn hash_batch_folded(self, p: &Plan, base: u64) -> Vec<[u8; 32]> {
        let folded = p.with_high_word((base >> 32) as u32);
        match p.kind {
            LayoutKind::At12 => self.hash_in::<At12Low>(&folded, base),
            LayoutKind::At44 => self.hash_in::<At44Low>(&folded, base),
            other => panic!("no folded kernel for {other:?}"),
        }
    }

    #[cfg(test)]
    fn hash_in<L: Layout>(self, p: &Plan, base: u64) -> Vec<[u8; 32]> {
        let mut out = [[0u32; 8]; 16];
        match self.0 {
            HashEngine::Scalar => lanes::hash_batch::<u32, L>(p, base, &mut out),
            // SAFETY: as in `scan_in`.
            #[cfg(target_arch = "x86_64")]
            HashEngine::Avx2 => unsafe { x86::hash_avx2::<L>(p, base, &mut out) },
            #[cfg(target_arch = "x86_64")]
            HashEngine::ShaNi => unsafe { shani::hash::<L, SHANI_STREAMS>(p, base, &mut out) },
            #[cfg(target_arch = "x86_64")]
            HashEngine::Avx512 => unsafe { x86::hash_avx512::<L>(p, base, &mut out) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only the scalar engine is available off x86_64"),
        }
        out[..self.lanes()]
            .iter()
            .map(plan::words_to_bytes)
            .collect()
    }
}

#[inline(never)]
fn scan_scalar<L: Layout>(p: &Plan, base: u64, batches: usize) -> Option<(u64, u32)> {
    lanes::scan::<u32, L>(p, base, batches)
}

/// The SIMD instantiations of the lane kernel, compiled with their features.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::lanes::{self, V16, V8};
    use super::plan::{Layout, Plan};

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn scan_avx2<L: Layout>(
        p: &Plan,
        base: u64,
        batches: usize,
    ) -> Option<(u64, u32)> {
        lanes::scan::<V8, L>(p, base, batches)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scan_avx512<L: Layout>(
        p: &Plan,
        base: u64,
        batches: usize,
    ) -> Option<(u64, u32)> {
        lanes::scan::<V16, L>(p, base, batches)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(test)]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hash_avx2<L: Layout>(p: &Plan, base: u64, out: &mut [[u32; 8]; 16]) {
        lanes::hash_batch::<V8, L>(p, base, out)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(test)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn hash_avx512<L: Layout>(p: &Plan, base: u64, out: &mut [[u32; 8]; 16]) {
        lanes::hash_batch::<V16, L>(p, base, out)
    }
}

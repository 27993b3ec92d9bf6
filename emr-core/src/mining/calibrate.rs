//! Engine choice by measurement.
//!
//! Which engine is fastest depends on the CPU (AMD Zen 3's SHA unit beats
//! its 256-bit vectors; Zen 4, Zen 5 and Intel's AVX-512 parts go the other
//! way, by 16% to 2x) and on the layout of the tail, which sets how many
//! rounds each engine can skip. So the default engine is the one that
//! measures fastest here, for the prefix's layout class: the first search
//! (or [`HashEngine::best`]) of a process times every available engine on
//! that class for a few milliseconds and caches the ranking for the life of
//! the process.
//!
//! The measurement is built to survive a shared machine: every engine runs
//! several short timed runs (about 150 µs each, sized by a warm-up run),
//! the engines take turns (round-robin, starting with a different engine
//! each round, so that a slow stretch or a clock ramp-up hits all of them
//! alike), and each engine keeps its best run, since interference only
//! ever slows a run down.
//!
//! The fixed order AVX-512, SHA-NI, AVX2, scalar is used instead where nothing can be
//! measured: when only one engine is available (nothing to choose), or when
//! the clock does not advance over a warm-up run of the largest size tried
//! (a timer too coarse to rank anything).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::plan::{LayoutKind, Plan};
use super::{Checked, HashEngine};

/// The order used where calibration cannot run: the measurements of issue
/// 13 on AMD Zen 4 and an AVX-512 Xeon, and of this module on AMD Zen 5,
/// all put AVX-512 first; on Zen 3 (no AVX-512) SHA-NI beat AVX2.
pub(super) const PREFERENCE: [HashEngine; 4] = [
    HashEngine::Avx512,
    HashEngine::ShaNi,
    HashEngine::Avx2,
    HashEngine::Scalar,
];

/// One engine's measured rate.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct EngineRate {
    /// The engine.
    pub engine: HashEngine,
    /// Nonces per second on one thread, the best of the calibration's runs
    /// (0 when the ranking is the fixed [`Ranking::calibrated`]`== false`
    /// order).
    pub hashes_per_second: f64,
}

/// The available engines for one kind of prefix, fastest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Every engine this CPU can run, fastest first.
    pub engines: Vec<EngineRate>,
    /// Whether the order was measured (`false`: the fixed preference order,
    /// see the module docs for when).
    pub calibrated: bool,
    /// What the calibration cost, all runs and the precomputation included.
    pub took: Duration,
}

impl Ranking {
    /// The fastest engine.
    pub fn best(&self) -> HashEngine {
        self.engines
            .first()
            .map_or(HashEngine::Scalar, |r| r.engine)
    }
}

/// Length of each timed run.
const RUN: Duration = Duration::from_micros(150);
/// Timed runs per engine; each engine keeps its best.
const ROUNDS: usize = 5;

/// One ranking per layout class, measured on first use.
static RANKINGS: [OnceLock<Ranking>; 4] = [const { OnceLock::new() }; 4];

fn class(kind: LayoutKind) -> usize {
    match kind {
        LayoutKind::At12 => 0,
        LayoutKind::At44 => 1,
        LayoutKind::AnyOneBlock => 2,
        LayoutKind::AnyTwoBlocks => 3,
    }
}

/// A prefix of `len` bytes (the content does not change the speed of any
/// engine: only its length picks the kernel).
fn sample_prefix(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

/// The ranking for prefixes of `prefix_len` bytes, measured on first use
/// (once per process and layout class: even-txid headers, odd-txid
/// headers, and the two general layouts of other lengths).
pub fn ranking(prefix_len: usize) -> &'static Ranking {
    let kind = LayoutKind::of_len(prefix_len);
    RANKINGS[class(kind)].get_or_init(|| measure(prefix_len, RUN, ROUNDS))
}

/// Measures every available engine on a prefix of `prefix_len` bytes, the
/// way the cached calibration does but with runs of `run` and `rounds`
/// rounds (benchmarks use longer ones). Never cached.
pub fn measure(prefix_len: usize, run: Duration, rounds: usize) -> Ranking {
    let started = Instant::now();
    let available = HashEngine::available_unranked();
    if available.len() < 2 {
        return fixed(available, started);
    }
    // A target no id meets, unless its first word is zero (then the run
    // ends early and counts only the nonces it hashed).
    let plan = Plan::new(&sample_prefix(prefix_len), [0; 32]);
    let mut runs = Vec::with_capacity(available.len());
    for &engine in &available {
        let Some(checked) = Checked::new(engine) else {
            continue;
        };
        match batches_for(checked, &plan, run) {
            Some(batches) => runs.push((checked, batches, 0.0f64)),
            None => return fixed(available, started),
        }
    }
    let mut base = 0u64;
    for round in 0..rounds.max(1) {
        let count = runs.len();
        for i in 0..count {
            let (engine, batches, best) = &mut runs[(round + i) % count];
            let (nonces, took) = timed(*engine, &plan, base, *batches);
            base = base.wrapping_add(nonces);
            let secs = took.as_secs_f64();
            if secs > 0.0 {
                *best = best.max(nonces as f64 / secs);
            }
        }
    }
    let mut engines: Vec<EngineRate> = runs
        .iter()
        .map(|&(engine, _, rate)| EngineRate {
            engine: engine.0,
            hashes_per_second: rate,
        })
        .collect();
    // Stable: equal rates keep the preference order of `available_unranked`.
    engines.sort_by(|a, b| b.hashes_per_second.total_cmp(&a.hashes_per_second));
    Ranking {
        engines,
        calibrated: true,
        took: started.elapsed(),
    }
}

/// The fixed preference order.
fn fixed(available: Vec<HashEngine>, started: Instant) -> Ranking {
    Ranking {
        engines: available
            .into_iter()
            .map(|engine| EngineRate {
                engine,
                hashes_per_second: 0.0,
            })
            .collect(),
        calibrated: false,
        took: started.elapsed(),
    }
}

/// Hashes `batches` batches from `base`; the nonces hashed and the time.
fn timed(engine: Checked, plan: &Plan, base: u64, batches: usize) -> (u64, Duration) {
    let lanes = engine.lanes() as u64;
    let start = Instant::now();
    // The kernels a search runs (the folded ones for headers); making the
    // folded plan is a microsecond beside a run of milliseconds.
    let found = engine.scan(plan, &mut None, base, batches);
    let took = start.elapsed();
    let nonces = match found {
        Some((at, _)) => at.wrapping_sub(base) + lanes,
        None => batches as u64 * lanes,
    };
    (nonces, took)
}

/// Batches per timed run: a warm-up doubling from one batch until a run
/// takes an eighth of `run`, then scaled. `None` if the clock never moved.
fn batches_for(engine: Checked, plan: &Plan, run: Duration) -> Option<usize> {
    const MAX_BATCHES: usize = 1 << 20;
    let mut batches = 1usize;
    loop {
        let (_, took) = timed(engine, plan, 0, batches);
        if took >= run / 8 {
            let scaled = run.as_secs_f64() / took.as_secs_f64() * batches as f64;
            return Some((scaled.ceil() as usize).clamp(1, MAX_BATCHES));
        }
        if batches >= MAX_BATCHES {
            return (!took.is_zero()).then_some(MAX_BATCHES);
        }
        batches *= 2;
    }
}

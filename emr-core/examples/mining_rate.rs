//! Measures the proof-of-work hash rate of every hash engine this CPU runs.
//!
//! `cargo run --release -p emr-core --example mining_rate [seconds]`
//!
//! For a 25-txid header (the largest block) and a 24-txid one, at a
//! difficulty where nothing is found, each engine runs with one thread and
//! with all threads, three times for `seconds` (default 0.6) each; the best
//! of the three is shown, which filters out interference from other
//! processes on a shared machine. The baseline is this
//! process's own SHA-256 compression rate through ring (OpenSSL's assembly,
//! which uses SHA-NI where available) on 16 KiB inputs: one nonce costs one
//! compression, so `x ring` compares a search with plain hashing of one
//! stream on one core.
//!
//! With `CPU=1` in the environment it prints, instead, each engine's rate
//! per second of CPU time this process used (one thread, 2^26 nonces, best
//! of five): on a machine shared with other work, wall-clock rates follow
//! the load, while CPU time counts only the time the search ran.

use std::time::{Duration, Instant};

use emr_core::mining::{search, HashEngine, SearchOptions, SearchOutcome};
use emr_core::Difficulty;

/// A header prefix with `n` txids: previous ‖ miner ‖ txids ‖ LE64(ts) ‖ LE128(d).
fn header(n: usize, difficulty: u128) -> Vec<u8> {
    let mut h: Vec<u8> = (0..32 + 20 + 32 * n)
        .map(|i| (i * 131 % 251) as u8)
        .collect();
    h.extend_from_slice(&1_700_000_000u64.to_le_bytes());
    h.extend_from_slice(&difficulty.to_le_bytes());
    h
}

/// SHA-256 compressions per second of one thread hashing 16 KiB buffers.
fn ring_compressions_per_second(seconds: f64) -> f64 {
    let buf = vec![0x5au8; 16 * 1024];
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut sink = 0u8;
    while started.elapsed().as_secs_f64() < seconds {
        for _ in 0..64 {
            sink ^= ring::digest::digest(&ring::digest::SHA256, &buf).as_ref()[0];
        }
        bytes += 64 * buf.len() as u64;
    }
    std::hint::black_box(sink);
    bytes as f64 / 64.0 / started.elapsed().as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.6);
    let all_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let difficulty = Difficulty::new(u128::MAX).unwrap();

    let baseline = (0..3)
        .map(|_| ring_compressions_per_second(seconds))
        .fold(0.0, f64::max);
    println!(
        "ring SHA-256, 1 thread: {:.2} M compressions/s",
        baseline / 1e6
    );
    for txids in [0usize, 1] {
        let r = emr_core::mining::calibrate::ranking(76 + 32 * txids);
        println!(
            "calibration ({} txids): took {:.2} ms, calibrated {}: {}",
            if txids == 0 { "even" } else { "odd" },
            r.took.as_secs_f64() * 1e3,
            r.calibrated,
            r.engines.iter().map(|e| format!("{} {:.1}", e.engine, e.hashes_per_second / 1e6)).collect::<Vec<_>>().join(", ")
        );
    }
    if std::env::var_os("CPU").is_some() {
        cpu_rates();
        return;
    }
    if std::env::var_os("MEASURE").is_some() {
        for txids in 0..=25usize {
            let r = emr_core::mining::calibrate::measure(76 + 32 * txids, Duration::from_millis(2), 15);
            println!(
                "{txids:>2} txids: {}",
                r.engines.iter().map(|e| format!("{} {:.1}", e.engine, e.hashes_per_second / 1e6)).collect::<Vec<_>>().join(", ")
            );
        }
        return;
    }
    println!();
    println!(
        "{:<8} {:>6} {:>8} {:>12} {:>9} {:>10}",
        "engine", "txids", "threads", "MH/s", "x ring", "x 1 thread"
    );

    for engine in HashEngine::available() {
        for txids in [25, 24] {
            let prefix = header(txids, difficulty.get());
            let mut single = 0.0;
            for threads in [1, all_threads] {
                if threads == all_threads && threads == 1 && single > 0.0 {
                    continue;
                }
                let options = SearchOptions {
                    threads: Some(threads),
                    time_limit: Some(Duration::from_secs_f64(seconds)),
                    engine: Some(engine),
                    ..SearchOptions::default()
                };
                let rate = (0..3)
                    .map(|_| {
                        let (outcome, stats) =
                            search(&prefix, difficulty, &options).expect("valid options");
                        assert_eq!(
                            outcome,
                            SearchOutcome::TimedOut,
                            "nothing meets this difficulty"
                        );
                        stats.hashes_per_second
                    })
                    .fold(0.0, f64::max);
                if threads == 1 {
                    single = rate;
                }
                println!(
                    "{:<8} {:>6} {:>8} {:>12.2} {:>9.2} {:>10.2}",
                    engine.to_string(),
                    txids,
                    threads,
                    rate / 1e6,
                    rate / baseline,
                    rate / single
                );
            }
        }
    }
}

/// CPU time this process has used (user + system).
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Each engine's hashes per CPU second, one thread (see the module docs).
fn cpu_rates() {
    const NONCES: u64 = 1 << 26;
    let difficulty = Difficulty::new(u128::MAX).unwrap();
    println!("{:<8} {:>6} {:>16}", "engine", "txids", "MH per CPU-s");
    for engine in HashEngine::available() {
        for txids in [25, 24] {
            let prefix = header(txids, difficulty.get());
            let options = SearchOptions {
                threads: Some(1),
                nonce_count: Some(NONCES),
                engine: Some(engine),
                ..SearchOptions::default()
            };
            let best = (0..5)
                .map(|_| {
                    let before = cpu_time();
                    let (outcome, _) = search(&prefix, difficulty, &options).expect("valid options");
                    assert_eq!(outcome, SearchOutcome::Exhausted, "nothing meets this difficulty");
                    NONCES as f64 / (cpu_time() - before).as_secs_f64()
                })
                .fold(0.0, f64::max);
            println!("{:<8} {:>6} {:>16.2}", engine.to_string(), txids, best / 1e6);
        }
    }
}

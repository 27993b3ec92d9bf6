//! Tests of every engine this CPU can run, against ring's SHA-256.

use super::*;
use crate::hash::sha256;
use std::sync::Mutex;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A header prefix with `n` txids: previous ‖ miner ‖ txids ‖ LE64(ts) ‖ LE128(d).
fn header(rng: &mut Rng, n: usize, difficulty: u128) -> Vec<u8> {
    let mut h = rng.bytes(32 + 20 + 32 * n);
    h.extend_from_slice(&rng.next().to_le_bytes());
    h.extend_from_slice(&difficulty.to_le_bytes());
    assert_eq!(h.len(), 76 + 32 * n);
    h
}

fn difficulty(d: u128) -> Difficulty {
    Difficulty::new(d).unwrap()
}

fn id_of(prefix: &[u8], nonce: u64) -> Hash256 {
    sha256(&[prefix, &nonce.to_le_bytes()])
}

/// The lowest valid nonce in `start..=last`, by brute force with ring.
fn brute_force(prefix: &[u8], d: Difficulty, start: u64, last: u64) -> Option<u64> {
    (start..=last).find(|&n| d.is_met_by(&id_of(prefix, n)))
}

fn engines() -> Vec<HashEngine> {
    let engines = HashEngine::available();
    assert!(engines.contains(&HashEngine::Scalar));
    engines
}

fn one_thread(engine: HashEngine, start: u64, count: Option<u64>) -> SearchOptions {
    SearchOptions {
        threads: Some(1),
        nonce_start: start,
        nonce_count: count,
        engine: Some(engine),
        ..SearchOptions::default()
    }
}

fn run(prefix: &[u8], d: Difficulty, options: &SearchOptions) -> (SearchOutcome, SearchStats) {
    search(prefix, d, options).expect("valid options")
}

fn assert_valid(prefix: &[u8], d: Difficulty, outcome: &SearchOutcome) {
    match *outcome {
        SearchOutcome::Found { nonce, block_id } => {
            assert_eq!(block_id, id_of(prefix, nonce), "block id of nonce {nonce}");
            assert!(d.is_met_by(&block_id), "nonce {nonce} does not meet {d}");
        }
        other => panic!("expected a nonce, got {other:?}"),
    }
}

#[test]
fn header_layouts_are_the_specialised_ones() {
    let mut rng = Rng(0);
    for n in 0..=25usize {
        let prefix = header(&mut rng, n, 1);
        let r = prefix.len() % 64;
        // The nonce, the 0x80 byte and the 8-byte length fit in one block.
        assert!(r + 8 + 1 + 8 <= 64, "n = {n}");
        assert_eq!(r, if n % 2 == 0 { 12 } else { 44 });
        let plan = Plan::new(&prefix, [0xff; 32]);
        let expected = if n % 2 == 0 {
            LayoutKind::At12
        } else {
            LayoutKind::At44
        };
        assert_eq!(plan.kind, expected, "n = {n}");
    }
}

#[test]
fn reference_hash_matches_ring_for_every_prefix_length() {
    let mut rng = Rng(1);
    for len in 0..=300 {
        let prefix = rng.bytes(len);
        let plan = Plan::new(&prefix, [0xff; 32]);
        for nonce in [0, 1, 0xffff_ffff, 0x1_0000_0000, rng.next(), u64::MAX] {
            assert_eq!(
                plan.hash_reference(nonce),
                id_of(&prefix, nonce).to_bytes(),
                "len {len} nonce {nonce}"
            );
        }
    }
}

/// Batch bases exercising lane boundaries, 2^32 carries and the top of the
/// range (including batches that wrap past `u64::MAX`).
fn interesting_bases(rng: &mut Rng, lanes: u64) -> Vec<u64> {
    let mut bases = vec![
        0,
        1,
        lanes,
        0x1_0000_0000 - lanes / 2 - 1,
        0x1_0000_0000 - 1,
        0x1_0000_0000,
        0x7_0000_0000 - 3,
        0xffff_ffff_0000_0000 - 2,
        u64::MAX - lanes + 1,
        u64::MAX - 1,
        u64::MAX,
        rng.next(),
    ];
    bases.push(rng.next() | 0xffff_fff8);
    bases
}

fn check_engine_batches(engine: Checked, prefix: &[u8], rng: &mut Rng) {
    let plan = Plan::new(prefix, [0xff; 32]);
    let lanes = engine.lanes() as u64;
    for base in interesting_bases(rng, lanes) {
        let ids = engine.hash_batch(&plan, base);
        assert_eq!(ids.len() as u64, lanes);
        for (i, id) in ids.iter().enumerate() {
            let nonce = base.wrapping_add(i as u64);
            assert_eq!(
                *id,
                id_of(prefix, nonce).to_bytes(),
                "engine {} prefix len {} nonce {nonce:#x}",
                engine.0,
                prefix.len()
            );
        }
        // The folded kernels (a header layout, a batch within one high word).
        let within = (base & 0xffff_ffff) + lanes <= 1 << 32;
        if matches!(plan.kind, LayoutKind::At12 | LayoutKind::At44) && within {
            let ids = engine.hash_batch_folded(&plan, base);
            for (i, id) in ids.iter().enumerate() {
                let nonce = base + i as u64;
                assert_eq!(*id, id_of(prefix, nonce).to_bytes(), "folded, engine {} nonce {nonce:#x}", engine.0);
            }
        }
    }
}

/// Searches across a boundary of the nonce's high word: the folded plan
/// is made again for the new high word, and the batch across the boundary
/// runs the two-word kernel. The lowest valid nonce is found on either side
/// of each boundary (found by ring), whatever the batch alignment.
#[test]
fn searches_cross_high_word_boundaries() {
    let mut rng = Rng(11);
    let mut after = 0;
    for engine in engines() {
        for n in [0usize, 1, 24, 25] {
            for boundary in [1u64 << 32, 7 << 32, u64::MAX - 0xffff_ffff] {
                for back in [1u64, 5, 16, 37, 300] {
                    let prefix = header(&mut rng, n, 40);
                    let d = difficulty(40);
                    let start = boundary - back;
                    let expected = brute_force(&prefix, d, start, u64::MAX).unwrap();
                    after += usize::from(expected >= boundary);
                    let (outcome, stats) = run(&prefix, d, &one_thread(engine, start, None));
                    assert_eq!(
                        outcome,
                        SearchOutcome::Found { nonce: expected, block_id: id_of(&prefix, expected) },
                        "engine {engine} n {n} start {start:#x}"
                    );
                    assert!(stats.hashes > expected - start);
                }
            }
        }
    }
    // Most starts lie a few nonces below the boundary: many answers are past it.
    assert!(after >= 10, "only {after} answers past a boundary");
}

#[test]
fn engines_match_ring_on_headers() {
    let mut rng = Rng(2);
    for engine in engines() {
        let engine = Checked::new(engine).unwrap();
        for n in 0..=25 {
            let d = u128::from(rng.next());
            let prefix = header(&mut rng, n, d);
            check_engine_batches(engine, &prefix, &mut rng);
        }
    }
}

#[test]
fn engines_match_ring_on_any_prefix_length() {
    let mut rng = Rng(3);
    for engine in engines() {
        let engine = Checked::new(engine).unwrap();
        for len in (0..=140).chain([1000, 4096, 4097]) {
            let prefix = rng.bytes(len);
            check_engine_batches(engine, &prefix, &mut rng);
        }
    }
}

#[test]
fn one_thread_finds_the_lowest_nonce() {
    let mut rng = Rng(4);
    for engine in engines() {
        for (i, d) in [1u128, 2, 3, 1000, 5000].into_iter().enumerate() {
            for n in [0, 1, 2, 25] {
                let prefix = header(&mut rng, n, d);
                let d = difficulty(d);
                let start = [0, 5, 0xffff_ffff - 700, rng.next() >> 1][(i + n) % 4];
                let expected = brute_force(&prefix, d, start, u64::MAX).unwrap();
                let (outcome, stats) = run(&prefix, d, &one_thread(engine, start, None));
                assert_eq!(
                    outcome,
                    SearchOutcome::Found {
                        nonce: expected,
                        block_id: id_of(&prefix, expected)
                    },
                    "engine {engine} d {d} n {n} start {start}"
                );
                assert_eq!(stats.engine, engine);
                assert_eq!(stats.threads, 1);
                assert!(stats.hashes > expected - start, "hashes counted");
            }
        }
    }
}

#[test]
fn windows_report_exactly_the_nonces_inside() {
    // Every sub-range of a small window, with counts that do not divide the
    // lane counts: the result is the lowest valid nonce inside, or Exhausted.
    let mut rng = Rng(5);
    let d = difficulty(40);
    for (prefix, base) in [
        (header(&mut rng, 3, 40), 0u64),
        (header(&mut rng, 4, 40), 0xffff_ffe0),
        (rng.bytes(77), 1 << 40),
    ] {
        let valid: Vec<u64> = (base..base + 160)
            .filter(|&n| d.is_met_by(&id_of(&prefix, n)))
            .collect();
        assert!(!valid.is_empty());
        for engine in engines() {
            for start_off in [0u64, 1, 3, 7, 8, 15, 17] {
                for count in [1u64, 2, 5, 7, 9, 15, 16, 17, 31, 33, 61, 100] {
                    let start = base + start_off;
                    let expected = valid
                        .iter()
                        .copied()
                        .find(|&n| n >= start && n < start + count);
                    let (outcome, stats) = run(&prefix, d, &one_thread(engine, start, Some(count)));
                    match expected {
                        Some(nonce) => assert_eq!(
                            outcome,
                            SearchOutcome::Found {
                                nonce,
                                block_id: id_of(&prefix, nonce)
                            },
                            "engine {engine} start {start} count {count}"
                        ),
                        None => {
                            assert_eq!(
                                outcome,
                                SearchOutcome::Exhausted,
                                "engine {engine} start {start} count {count}"
                            );
                            assert_eq!(stats.hashes, count);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn exhausted_range_counts_every_nonce() {
    let mut rng = Rng(6);
    let prefix = header(&mut rng, 25, u128::MAX);
    let d = difficulty(u128::MAX);
    for engine in engines() {
        for threads in [1, 2, 3] {
            let options = SearchOptions {
                threads: Some(threads),
                nonce_start: 1_000,
                nonce_count: Some(1_237),
                engine: Some(engine),
                ..SearchOptions::default()
            };
            let (outcome, stats) = run(&prefix, d, &options);
            assert_eq!(outcome, SearchOutcome::Exhausted);
            assert_eq!(stats.hashes, 1_237);
            assert_eq!(stats.threads, threads);
        }
    }
}

#[test]
fn empty_range_is_exhausted_at_once() {
    let (outcome, stats) = run(
        b"abc",
        Difficulty::MIN,
        &SearchOptions {
            nonce_count: Some(0),
            ..SearchOptions::default()
        },
    );
    assert_eq!(outcome, SearchOutcome::Exhausted);
    assert_eq!(stats.hashes, 0);
    assert_eq!(stats.threads, 0);
}

#[test]
fn top_of_the_nonce_range() {
    let mut rng = Rng(7);
    for engine in engines() {
        // Difficulty 1: the single nonce u64::MAX is found.
        let prefix = header(&mut rng, 2, 1);
        let (outcome, stats) = run(
            &prefix,
            Difficulty::MIN,
            &one_thread(engine, u64::MAX, None),
        );
        assert_eq!(
            outcome,
            SearchOutcome::Found {
                nonce: u64::MAX,
                block_id: id_of(&prefix, u64::MAX)
            }
        );
        assert_eq!(stats.hashes, 1);

        // The count is clipped at u64::MAX.
        let d = difficulty(u128::MAX);
        for threads in [1, 2, 4] {
            let options = SearchOptions {
                threads: Some(threads),
                ..one_thread(engine, u64::MAX - 5, Some(1_000))
            };
            let (outcome, stats) = run(&prefix, d, &options);
            assert_eq!(outcome, SearchOutcome::Exhausted);
            assert_eq!(stats.hashes, 6);
        }

        // The lowest valid nonce just below the top, where the last batch wraps.
        let d = difficulty(3);
        for n in [1, 6] {
            let prefix = header(&mut rng, n, 3);
            let start = u64::MAX - 20;
            let expected = brute_force(&prefix, d, start, u64::MAX);
            let (outcome, _) = run(&prefix, d, &one_thread(engine, start, None));
            match expected {
                Some(nonce) => assert_eq!(
                    outcome,
                    SearchOutcome::Found {
                        nonce,
                        block_id: id_of(&prefix, nonce)
                    }
                ),
                None => assert_eq!(outcome, SearchOutcome::Exhausted),
            }
        }
        // Only nonces above every valid one: the wrapped lanes (0, 1, ...)
        // must not be reported.
        let prefix = header(&mut rng, 5, 2);
        let d = difficulty(2);
        let last_valid = (0..64)
            .map(|k| u64::MAX - k)
            .find(|&n| d.is_met_by(&id_of(&prefix, n)))
            .unwrap();
        if last_valid < u64::MAX {
            let (outcome, stats) = run(&prefix, d, &one_thread(engine, last_valid + 1, None));
            assert_eq!(outcome, SearchOutcome::Exhausted, "engine {engine}");
            assert_eq!(stats.hashes, u64::MAX - last_valid);
        }
    }
}

#[test]
fn cancel_from_another_thread_stops_promptly() {
    let mut rng = Rng(8);
    let prefix = header(&mut rng, 25, u128::MAX);
    for engine in engines() {
        let cancel = CancelHandle::new();
        let options = SearchOptions {
            cancel: Some(cancel.clone()),
            engine: Some(engine),
            ..SearchOptions::default()
        };
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            cancel.cancel();
            Instant::now()
        });
        let (outcome, stats) = run(&prefix, difficulty(u128::MAX), &options);
        let returned = Instant::now();
        let cancelled_at = canceller.join().unwrap();
        assert_eq!(outcome, SearchOutcome::Cancelled);
        assert!(stats.hashes > 0);
        assert!(
            returned.duration_since(cancelled_at) < Duration::from_secs(2),
            "took {:?}",
            returned - cancelled_at
        );
    }
}

#[test]
fn already_cancelled_search_does_no_work() {
    let cancel = CancelHandle::new();
    cancel.cancel();
    assert!(cancel.is_cancelled());
    let options = SearchOptions {
        cancel: Some(cancel),
        ..SearchOptions::default()
    };
    let (outcome, stats) = run(b"prefix", Difficulty::MIN, &options);
    assert_eq!(outcome, SearchOutcome::Cancelled);
    assert_eq!(stats.hashes, 0);
}

#[test]
fn time_limit_times_out() {
    let mut rng = Rng(9);
    let prefix = header(&mut rng, 4, u128::MAX);
    let options = SearchOptions {
        time_limit: Some(Duration::from_millis(200)),
        ..SearchOptions::default()
    };
    let (outcome, stats) = run(&prefix, difficulty(u128::MAX), &options);
    assert_eq!(outcome, SearchOutcome::TimedOut);
    assert!(stats.elapsed >= Duration::from_millis(200));
    assert!(
        stats.elapsed < Duration::from_secs(3),
        "took {:?}",
        stats.elapsed
    );
    assert!(stats.hashes > 0);
    assert!(stats.hashes_per_second > 0.0);
}

#[test]
fn progress_is_reported() {
    let mut rng = Rng(10);
    let prefix = header(&mut rng, 7, u128::MAX);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = SearchOptions {
        time_limit: Some(Duration::from_millis(700)),
        progress: Some(Box::new(move |p: Progress| sink.lock().unwrap().push(p))),
        ..SearchOptions::default()
    };
    let (outcome, stats) = run(&prefix, difficulty(u128::MAX), &options);
    assert_eq!(outcome, SearchOutcome::TimedOut);
    let seen = seen.lock().unwrap();
    assert!((1..=4).contains(&seen.len()), "{} reports", seen.len());
    for pair in seen.windows(2) {
        assert!(pair[0].hashes <= pair[1].hashes && pair[0].elapsed < pair[1].elapsed);
    }
    assert!(seen.last().unwrap().hashes <= stats.hashes);
    assert!(seen[0].elapsed >= PROGRESS_INTERVAL);
}

#[test]
fn many_multithreaded_runs_give_valid_nonces() {
    let mut rng = Rng(11);
    let all = engines();
    for i in 0..200usize {
        let d = [1u128, 7, 64, 300][i % 4];
        let prefix = header(&mut rng, i % 26, d);
        let d = difficulty(d);
        let engine = all[i % all.len()];
        let options = SearchOptions {
            threads: Some(2 + i % 3),
            nonce_start: if i % 5 == 0 {
                u64::MAX - 1_000
            } else {
                rng.next()
            },
            engine: Some(engine),
            ..SearchOptions::default()
        };
        let (outcome, stats) = run(&prefix, d, &options);
        if options.nonce_start == u64::MAX - 1_000 && outcome == SearchOutcome::Exhausted {
            assert!(brute_force(&prefix, d, options.nonce_start, u64::MAX).is_none());
            continue;
        }
        assert_valid(&prefix, d, &outcome);
        if let SearchOutcome::Found { nonce, .. } = outcome {
            assert!(nonce >= options.nonce_start);
        }
        assert_eq!(stats.engine, engine);
    }
}

#[test]
fn any_prefix_is_accepted() {
    let mut rng = Rng(12);
    for len in [0usize, 1, 47, 48, 55, 56, 57, 63, 64, 65, 1 << 20] {
        let prefix = rng.bytes(len);
        let (outcome, _) = run(
            &prefix,
            Difficulty::MIN,
            &SearchOptions {
                threads: Some(1),
                nonce_start: 42,
                ..SearchOptions::default()
            },
        );
        assert_eq!(
            outcome,
            SearchOutcome::Found {
                nonce: 42,
                block_id: id_of(&prefix, 42)
            }
        );
        let d = difficulty(100);
        let (outcome, _) = run(&prefix, d, &SearchOptions::default());
        assert_valid(&prefix, d, &outcome);
    }
}

#[test]
fn invalid_options_are_errors() {
    let zero = SearchOptions {
        threads: Some(0),
        ..SearchOptions::default()
    };
    assert!(matches!(
        search(b"", Difficulty::MIN, &zero),
        Err(MiningError::InvalidArgument(_))
    ));
    let many = SearchOptions {
        threads: Some(MAX_THREADS + 1),
        ..SearchOptions::default()
    };
    assert!(matches!(
        search(b"", Difficulty::MIN, &many),
        Err(MiningError::InvalidArgument(_))
    ));
    for engine in HashEngine::all()
        .iter()
        .copied()
        .filter(|e| !e.is_available())
    {
        let forced = SearchOptions {
            engine: Some(engine),
            ..SearchOptions::default()
        };
        assert!(
            matches!(search(b"", Difficulty::MIN, &forced), Err(MiningError::EngineUnavailable(e)) if e == engine)
        );
    }
}

#[test]
fn engine_names_and_availability() {
    let names: Vec<String> = HashEngine::all().iter().map(ToString::to_string).collect();
    assert_eq!(names, ["scalar", "avx2", "sha-ni", "avx512"]);
    let mut unranked = HashEngine::available_unranked();
    assert!(unranked.iter().all(|e| e.is_available()));
    assert_eq!(
        unranked.len(),
        HashEngine::all().iter().filter(|e| e.is_available()).count()
    );
    unranked.sort_by_key(|e| e.name());
    for prefix_len in [0, 76, 108, 876, 844, 40, 60, 1000] {
        let mut ranked = HashEngine::ranked_for(prefix_len);
        assert_eq!(ranked[0], HashEngine::best_for(prefix_len));
        ranked.sort_by_key(|e| e.name());
        assert_eq!(ranked, unranked, "every available engine once, len {prefix_len}");
    }
    assert_eq!(HashEngine::available(), HashEngine::ranked_for(876));
    assert_eq!(HashEngine::best(), HashEngine::available()[0]);
}

#[test]
fn calibration_ranks_by_measured_rate_and_is_cached() {
    for prefix_len in [76, 108, 30, 120] {
        let ranking = calibrate::ranking(prefix_len);
        assert!(std::ptr::eq(ranking, calibrate::ranking(prefix_len)), "cached");
        if ranking.calibrated {
            assert!(ranking.engines.iter().all(|r| r.hashes_per_second > 0.0));
            assert!(ranking
                .engines
                .windows(2)
                .all(|w| w[0].hashes_per_second >= w[1].hashes_per_second));
        } else {
            assert!(HashEngine::available_unranked().len() < 2);
        }
        // Same layout class, same cached ranking.
        assert!(std::ptr::eq(ranking, calibrate::ranking(prefix_len + 64)));
    }
    assert!(std::ptr::eq(calibrate::ranking(76), calibrate::ranking(876 - 32)));
    assert!(std::ptr::eq(calibrate::ranking(108), calibrate::ranking(876)));
}

#[test]
fn default_engine_is_the_calibrated_one_for_the_prefix_length() {
    for n in [0usize, 1, 24, 25] {
        let prefix = header(&mut Rng(9), n, 1);
        let options = SearchOptions {
            threads: Some(1),
            nonce_count: Some(64),
            ..SearchOptions::default()
        };
        let (_, stats) = run(&prefix, difficulty(u128::MAX), &options);
        assert_eq!(stats.engine, HashEngine::best_for(prefix.len()), "n = {n}");
    }
}

#[test]
fn panicking_progress_callback_propagates_without_hanging() {
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| {
        let options = SearchOptions {
            progress: Some(Box::new(|_: Progress| panic!("callback failed"))),
            ..SearchOptions::default()
        };
        search(b"prefix", difficulty(u128::MAX), &options)
    });
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}

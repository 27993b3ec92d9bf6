//! Throughput of the core, one JSON object per line, for `benches/bench.py`
//! to put beside the Python baseline. Run: `cargo bench -p emr-core --bench throughput`.
//! Optional argument: a comma-separated list of sections (sign, verify, block,
//! mine; and seal, not in the default list, for SPEC 8.2's sealed records).

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use emr_core::block::{BlockFields, UserStates};
use emr_core::mining::{search, HashEngine, SearchOptions, SearchOutcome};
use emr_core::{verify_records, Curve, Difficulty, Parallelism, Record, RecordFields, SealOptions, SigningKey};

/// Each rate is the best of `WINDOWS` windows of `WINDOW`: a shared machine
/// only ever slows a window down, so the best is the steadiest estimate.
/// The baseline gets the same treatment in `benches/bench.py`.
const WINDOW: Duration = Duration::from_millis(400);
const WINDOWS: usize = 5;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

fn threads(n: usize) -> Parallelism {
    Parallelism::threads(n).expect("a thread count within the cap")
}

/// Items per second of `round`, the best of `WINDOWS` windows.
fn rate(items_per_round: usize, mut round: impl FnMut()) -> f64 {
    round(); // warm-up
    (0..WINDOWS)
        .map(|_| {
            let start = Instant::now();
            let mut rounds = 0u64;
            while start.elapsed() < WINDOW {
                round();
                rounds += 1;
            }
            (rounds * items_per_round as u64) as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn sample_records(curve: Curve, count: u64) -> (SigningKey, Vec<Record>) {
    let key = SigningKey::generate(curve).expect("key generation");
    let records = (1..=count)
        .map(|nonce| {
            Record::sign(&key, &[7; 20], &format!("Medication {nonce}: 10mg"), nonce)
                .expect("signing")
        })
        .collect();
    (key, records)
}

fn emit(what: &str, curve: Option<Curve>, threads: usize, per_second: f64, unit: &str) {
    let curve = curve.map_or("null".to_string(), |c| format!("\"{}\"", c.name()));
    println!("{{\"what\":\"{what}\",\"curve\":{curve},\"threads\":{threads},\"per_second\":{per_second:.1},\"unit\":\"{unit}\"}}");
}

fn bench_sign(curve: Curve) {
    let (key, _) = sample_records(curve, 1);
    let mut nonce = 0;
    let one = rate(64, || {
        for _ in 0..64 {
            nonce += 1;
            Record::sign(&key, &[7; 20], "Medication: 10mg", nonce).expect("signing");
        }
    });
    emit("sign", Some(curve), 1, one, "records/s");
    let n = cores();
    let all = rate(64 * n, || {
        std::thread::scope(|s| {
            for t in 0..n {
                let key = &key;
                s.spawn(move || {
                    for i in 0..64 {
                        Record::sign(key, &[7; 20], "Medication: 10mg", (t * 64 + i + 1) as u64)
                            .expect("signing");
                    }
                });
            }
        });
    });
    emit("sign", Some(curve), n, all, "records/s");
}

fn bench_verify(curve: Curve) {
    let (_, records) = sample_records(curve, 512);
    let views: Vec<RecordFields<'_>> = records.iter().map(Record::fields).collect();
    let nonces: Vec<u64> = (0..records.len() as u64).collect();
    for n in [1, cores()] {
        let per_second = rate(views.len(), || {
            verify_records(&views, &nonces, threads(n)).expect("valid batch")
        });
        emit("verify", Some(curve), n, per_second, "records/s");
    }
}

fn bench_block(curve: Curve) {
    let (_, records) = sample_records(curve, 25);
    let difficulty = Difficulty::MIN;
    let fields = BlockFields {
        previous: &[0; 32],
        height: 0,
        miner: &[1; 20],
        records: records.iter().map(Record::fields).collect(),
        entries: Vec::new(),
        timestamp: 1_700_000_000,
        difficulty: difficulty.get(),
        block_id: &[0; 32],
        nonce: 0,
    };
    let id = fields.calculate_block_id();
    let fields = BlockFields {
        block_id: id.as_bytes(),
        ..fields
    };
    let states = UserStates::new();
    for n in [1, cores()] {
        let per_second = rate(1, || {
            fields
                .verify_and_get_changes_with(difficulty, &states, 10_000, threads(n))
                .expect("valid block");
        });
        emit("block25", Some(curve), n, per_second, "blocks/s");
    }
}

fn bench_mine() {
    // A 25-record header at the highest difficulty: nothing is found, so
    // every run hashes for exactly its time limit.
    let prefix = emr_core::block::header_prefix(
        &[0; 32],
        &[1; 20],
        [[9u8; 32].as_slice(); 25],
        [],
        1_700_000_000,
        u128::MAX,
    );
    let difficulty = Difficulty::new(u128::MAX).expect("non-zero");
    for &engine in HashEngine::available().iter() {
        for n in [1, cores()] {
            let best = (0..WINDOWS)
                .map(|_| {
                    let options = SearchOptions {
                        threads: Some(n),
                        engine: Some(engine),
                        time_limit: Some(WINDOW),
                        ..SearchOptions::default()
                    };
                    let (outcome, stats) =
                        search(&prefix, difficulty, &options).expect("search runs");
                    assert!(
                        !matches!(outcome, SearchOutcome::Found { .. }),
                        "nothing meets difficulty 2^128-1 here"
                    );
                    stats.hashes_per_second
                })
                .fold(0.0, f64::max);
            println!(
                "{{\"what\":\"mine\",\"engine\":\"{engine}\",\"threads\":{n},\"per_second\":{best:.1},\"unit\":\"hashes/s\"}}"
            );
        }
    }
}

/// Sealing (to the patient and the doctor), opening, and verifying a sealed
/// record, one thread: what sealing adds to a record's cost.
fn bench_seal(curve: Curve) {
    let doctor = SigningKey::generate(curve).expect("key generation");
    let patient = SigningKey::generate(curve).expect("key generation");
    let patient_hash = patient.public_key_hash();
    let recipients = [*patient.public_key()];
    let sign = |nonce| {
        Record::sign_sealed(&doctor, patient_hash.as_bytes(), "Medication: 10mg", nonce, &recipients, SealOptions::default())
            .expect("sealing")
    };
    let mut nonce = 0;
    let per_second = rate(16, || {
        for _ in 0..16 {
            nonce += 1;
            sign(nonce);
        }
    });
    emit("seal_sign", Some(curve), 1, per_second, "records/s");
    let records: Vec<Record> = (1..=64).map(sign).collect();
    let per_second = rate(records.len(), || {
        for record in &records {
            record.open(&patient).expect("opens");
        }
    });
    emit("seal_open", Some(curve), 1, per_second, "records/s");
    let views: Vec<RecordFields<'_>> = records.iter().map(Record::fields).collect();
    let nonces: Vec<u64> = (0..records.len() as u64).collect();
    let per_second = rate(views.len(), || verify_records(&views, &nonces, threads(1)).expect("valid batch"));
    emit("seal_verify", Some(curve), 1, per_second, "records/s");
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument picks sections.
    let sections = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "sign,verify,block,mine".into());
    for section in sections.split(',') {
        match section {
            "sign" => [Curve::Secp256k1, Curve::P256]
                .into_iter()
                .for_each(bench_sign),
            "verify" => [Curve::Secp256k1, Curve::P256]
                .into_iter()
                .for_each(bench_verify),
            "block" => [Curve::Secp256k1, Curve::P256]
                .into_iter()
                .for_each(bench_block),
            "mine" => bench_mine(),
            "seal" => [Curve::Secp256k1, Curve::P256].into_iter().for_each(bench_seal),
            other => eprintln!("unknown section {other}"),
        }
    }
}

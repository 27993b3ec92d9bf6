//! Throughput of the core, one JSON object per line, for `benches/bench.py`
//! to put beside the Python baseline. Run: `cargo bench -p emr-core --bench throughput`.
//! Optional argument: a comma-separated list of sections (sign, verify, bare,
//! block, mine; and seal, not in the default list, for SPEC 8.2's sealed records).

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

/// This thread's CPU time: unlike the wall clock, it does not count the
/// time other processes of a shared machine hold the core.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best one-thread rates of two workloads measured in many short
/// alternating windows (`PAIR_WINDOWS` of `PAIR_WINDOW` of this thread's
/// CPU time each), so that a busy stretch of a shared machine hits both
/// alike: a ratio of two one-core costs, robust to the machine's load.
fn rate_pair(items_per_round: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    const PAIR_WINDOW: Duration = Duration::from_millis(40);
    const PAIR_WINDOWS: usize = 25;
    a();
    b();
    let window = |round: &mut dyn FnMut()| {
        let start = thread_cpu_time();
        let mut rounds = 0u64;
        while thread_cpu_time() - start < PAIR_WINDOW {
            round();
            rounds += 1;
        }
        (rounds * items_per_round as u64) as f64 / (thread_cpu_time() - start).as_secs_f64()
    };
    let (mut best_a, mut best_b) = (0.0f64, 0.0f64);
    for _ in 0..PAIR_WINDOWS {
        best_a = best_a.max(window(&mut a));
        best_b = best_b.max(window(&mut b));
    }
    (best_a, best_b)
}

/// One-core record verification beside the bare signature check of the
/// same records' signatures by the library behind the curve: libsecp256k1's
/// `verify_ecdsa` on a parsed key, signature and digest (what a caller of
/// libsecp256k1 holding everything parsed pays), or ring's
/// `UnparsedPublicKey::verify` of the DER signature over the preimage (ring
/// parses the point and hashes on every call; there is no other way in).
fn bench_verify_bare(curve: Curve) {
    let (key, records) = sample_records(curve, 64);
    let views: Vec<RecordFields<'_>> = records.iter().map(Record::fields).collect();
    let nonces: Vec<u64> = (0..records.len() as u64).collect();
    // Rounds of a 64-record slice keep many rounds in each short window.
    let ours = || verify_records(&views[..64], &nonces[..64], threads(1)).expect("valid batch");
    let point = key.public_key().uncompressed_point();
    let (ours, bare) = match curve {
        Curve::Secp256k1 => {
            let pk = secp256k1::PublicKey::from_slice(&point).expect("valid point");
            let parsed: Vec<(secp256k1::Message, secp256k1::ecdsa::Signature)> = records
                .iter()
                .map(|r| {
                    let mut sig =
                        secp256k1::ecdsa::Signature::from_der(&r.signature).expect("strict DER");
                    sig.normalize_s();
                    (
                        secp256k1::Message::from_digest(r.signature_hash().to_bytes()),
                        sig,
                    )
                })
                .collect();
            rate_pair(64, ours, || {
                for (message, sig) in &parsed[..64] {
                    secp256k1::SECP256K1
                        .verify_ecdsa(message, sig, &pk)
                        .expect("valid");
                }
            })
        }
        Curve::P256 => {
            let preimages: Vec<Vec<u8>> = records
                .iter()
                .map(|r| {
                    [
                        r.patient_hash.as_bytes().as_slice(),
                        r.prescription.as_bytes(),
                        &r.nonce.to_le_bytes(),
                    ]
                    .concat()
                })
                .collect();
            let pk = ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                point,
            );
            rate_pair(64, ours, || {
                for (preimage, r) in preimages.iter().zip(&records).take(64) {
                    pk.verify(preimage, &r.signature).expect("valid");
                }
            })
        }
    };
    emit("verify_ours", Some(curve), 1, ours, "records/s");
    emit("verify_bare", Some(curve), 1, bare, "records/s");
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

/// SHA-256 compressions per second of ring (OpenSSL's assembly, SHA-NI
/// where the CPU has it) hashing 16 KiB buffers on one thread: one nonce
/// costs one compression, so this is the one-core reference for mining.
fn ring_compressions_per_second() -> f64 {
    let buf = vec![0x5au8; 16 * 1024];
    rate(buf.len() / 64, || {
        std::hint::black_box(ring::digest::digest(
            &ring::digest::SHA256,
            std::hint::black_box(&buf),
        ));
    })
}

fn bench_mine() {
    println!(
        "{{\"what\":\"ring_sha256\",\"curve\":null,\"threads\":1,\"per_second\":{:.1},\"unit\":\"compressions/s\"}}",
        ring_compressions_per_second()
    );
    // The process's own calibration (the default engine's choice) for the
    // header below, with what it cost.
    let ranking = emr_core::mining::calibrate::ranking(76 + 32 * 25);
    let rates: Vec<String> = ranking
        .engines
        .iter()
        .map(|r| format!("[\"{}\",{:.1}]", r.engine, r.hashes_per_second))
        .collect();
    println!(
        "{{\"what\":\"calibration\",\"engine\":\"{}\",\"calibrated\":{},\"took_ms\":{:.3},\"rates\":[{}]}}",
        ranking.best(),
        ranking.calibrated,
        ranking.took.as_secs_f64() * 1e3,
        rates.join(",")
    );
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
        .unwrap_or_else(|| "sign,verify,bare,block,mine".into());
    for section in sections.split(',') {
        match section {
            "sign" => [Curve::Secp256k1, Curve::P256]
                .into_iter()
                .for_each(bench_sign),
            "verify" => [Curve::Secp256k1, Curve::P256]
                .into_iter()
                .for_each(bench_verify),
            "bare" => [Curve::Secp256k1, Curve::P256]
                .into_iter()
                .for_each(bench_verify_bare),
            "block" => [Curve::Secp256k1, Curve::P256]
                .into_iter()
                .for_each(bench_block),
            "mine" => bench_mine(),
            "seal" => [Curve::Secp256k1, Curve::P256].into_iter().for_each(bench_seal),
            other => eprintln!("unknown section {other}"),
        }
    }
}

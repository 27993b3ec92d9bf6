//! The chain's benchmark (`make bench` runs it through `benches/bench.py`):
//! full `check` of a stored chain, `add_blocks` throughput, durable
//! `add_block` latency, reopen time and `patient_history` latency.
//!
//! ```sh
//! cargo run --release -p emr-core --example chain_bench            # JSON lines + a table on stderr
//! cargo run --release -p emr-core --example chain_bench -- check   # some sections only
//! ```
//!
//! Sections: `check`, `check1` (one record per block), `add`, `latency`,
//! `reopen`. The chains it reads are
//! built once into `target/bench-chains/` (or `$EMR_BENCH_CHAINS`) and
//! reused while their file exists; delete the directory to rebuild them.
//! Blocks carry difficulty 1 (nothing to mine) and are 12 s apart, which
//! keeps the retarget at 1, so building 100,000 blocks costs only their
//! signatures and SQLite.
//!
//! Every rate is the best of a few runs: the machine is shared, and noise
//! only ever slows a run down.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use emr_core::chain::{BatchOptions, Chain, ChainParams};
use emr_core::{verify_records, Block, Curve, Difficulty, Hash160, Hash256, Parallelism, Record, SigningKey};

const T0: u64 = 1_700_000_000;
/// Records per block of the `check` and `add` chain (the protocol's maximum).
const RECORDS: usize = 25;
/// Blocks of the `check` chain: 2,000 x 25 = 50,000 records.
const CHECK_BLOCKS: usize = 2_000;
/// Doctors signing the records, round robin.
const DOCTORS: usize = 16;
/// Patients of the reopen chains, round robin: 100 records each at 100,000 blocks.
const PATIENTS: usize = 1_000;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

fn params() -> ChainParams {
    ChainParams { initial_difficulty: Difficulty::MIN, ..ChainParams::default() }
}

fn chains_dir() -> PathBuf {
    let dir = std::env::var_os("EMR_BENCH_CHAINS").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("bench-chains")
    });
    std::fs::create_dir_all(&dir).expect("create the bench-chains directory");
    dir
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn patient(i: usize) -> Hash160 {
    emr_core::hash::sha1(&[b"patient", &(i as u64).to_le_bytes()])
}

/// `blocks` blocks of `per_block` secp256k1 records each, signed on every
/// core: record `n` (counting from 0) is by doctor `n % DOCTORS` for
/// patient `n % PATIENTS`.
fn make_blocks(blocks: usize, per_block: usize) -> Vec<Block> {
    let doctors: Vec<SigningKey> =
        (0..DOCTORS).map(|_| SigningKey::generate(Curve::Secp256k1).expect("key generation")).collect();
    let total = blocks * per_block;
    let lanes = cores();
    let mut records: Vec<Option<Record>> = vec![None; total];
    std::thread::scope(|s| {
        for (lane, chunk) in records.chunks_mut(total.div_ceil(lanes).max(1)).enumerate() {
            let doctors = &doctors;
            let start = lane * total.div_ceil(lanes).max(1);
            s.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let n = start + k;
                    let nonce = (n / DOCTORS) as u64 + 1;
                    let text = format!("Medication {n}: 10mg daily");
                    let key = &doctors[n % DOCTORS];
                    *slot = Some(Record::sign(key, patient(n % PATIENTS).as_bytes(), &text, nonce).expect("signing"));
                }
            });
        }
    });
    let mut records = records.into_iter().map(|r| r.expect("signed"));
    let mut out: Vec<Block> = Vec::with_capacity(blocks);
    for height in 0..blocks as u64 {
        let previous = out.last().map_or(Hash256::from_bytes([0; 32]), |b| b.block_id);
        let mut block = Block {
            previous,
            height,
            miner: Hash160::from_bytes([0xaa; 20]),
            records: records.by_ref().take(per_block).collect(),
            entries: Vec::new(),
            timestamp: T0 + 12 * height,
            difficulty: Difficulty::MIN,
            block_id: Hash256::from_bytes([0; 32]),
            nonce: 0,
        };
        block.block_id = block.calculate_block_id();
        out.push(block);
    }
    out
}

/// The stored chain `name` of `blocks` x `per_block`, built if missing.
fn stored_chain(name: &str, blocks: usize, per_block: usize) -> PathBuf {
    let path = chains_dir().join(format!("{name}.db"));
    let complete = path.exists()
        && Chain::open_readonly(&path).ok().and_then(|c| c.len().ok()) == Some(blocks as u64);
    if !complete {
        remove_db(&path);
        eprintln!("building {} ({blocks} blocks x {per_block} records)...", path.display());
        let started = Instant::now();
        let all = make_blocks(blocks, per_block);
        let signed = started.elapsed();
        let mut chain = Chain::open(&path, Some(params())).expect("create the chain");
        for batch in all.chunks(5_000) {
            chain.add_blocks(batch, None, &BatchOptions::default()).expect("valid blocks");
        }
        eprintln!("  signed in {signed:.2?}, stored in {:.2?}", started.elapsed() - signed);
    }
    path
}

fn load_blocks(path: &Path, n: usize) -> Vec<Block> {
    let chain = Chain::open_readonly(path).expect("open");
    chain.blocks(0, n as u64).collect::<Result<_, _>>().expect("stored blocks")
}

fn emit(what: &str, value: f64, unit: &str, extra: &str) {
    println!("{{\"what\":\"{what}\",\"threads\":{},\"value\":{value:.3},\"unit\":\"{unit}\"{extra}}}", cores());
}

/// CPU time this process has used (user + system): on a machine shared
/// with other work, CPU time per item is steadier than wall time.
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

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..runs {
        let started = Instant::now();
        let cpu = cpu_time();
        let out = f();
        let took = started.elapsed();
        if std::env::var_os("EMR_BENCH_VERBOSE").is_some() {
            eprintln!("  run: {took:.2?} wall, {:.2?} cpu", cpu_time() - cpu);
        }
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, out));
        }
    }
    best.expect("at least one run")
}

fn bench_check() {
    let path = stored_chain(&format!("check-{CHECK_BLOCKS}x{RECORDS}"), CHECK_BLOCKS, RECORDS);
    let chain = Chain::open(&path, None).expect("open");
    let records = (CHECK_BLOCKS * RECORDS) as f64;
    let (took, report) = best_of(5, || chain.check(&BatchOptions::default()).expect("check runs"));
    assert_eq!(report.first_bad, None);
    assert_eq!(report.blocks_ok, CHECK_BLOCKS as u64);
    eprintln!("check: {CHECK_BLOCKS} blocks x {RECORDS} records in {took:.2?} (best of 5)");
    emit("check", records / took.as_secs_f64(), "records/s", &format!(",\"blocks\":{CHECK_BLOCKS},\"records_per_block\":{RECORDS}"));
}

/// `check` of the 10,000-block chain of one record per block: how well the
/// signature stage fills the cores when blocks are small.
fn bench_check_small_blocks() {
    let blocks = 10_000;
    let path = stored_chain(&format!("reopen-{blocks}x1"), blocks, 1);
    let chain = Chain::open(&path, None).expect("open");
    let (took, report) = best_of(5, || chain.check(&BatchOptions::default()).expect("check runs"));
    assert_eq!(report.first_bad, None);
    eprintln!("check: {blocks} blocks x 1 record in {took:.2?} (best of 5)");
    emit("check", blocks as f64 / took.as_secs_f64(), "records/s", &format!(",\"blocks\":{blocks},\"records_per_block\":1"));
}

/// Scaling with threads: `check` of the 2,000 x 25 chain (signature checks
/// shared out across blocks by the pipeline's windows) beside one flat
/// `verify_records` batch of the same records, each on 1 thread and on
/// every core, runs interleaved (best of 3 each). A chain check that scales
/// like the flat batch shares its signature checks across blocks well.
fn bench_scaling() {
    let path = stored_chain(&format!("check-{CHECK_BLOCKS}x{RECORDS}"), CHECK_BLOCKS, RECORDS);
    let chain = Chain::open(&path, None).expect("open");
    let blocks = load_blocks(&path, CHECK_BLOCKS);
    let records: Vec<&Record> = blocks.iter().flat_map(|b| &b.records).collect();
    let fields: Vec<_> = records.iter().map(|r| r.fields()).collect();
    let previous: Vec<u64> = records.iter().map(|r| r.nonce - 1).collect();
    let count = records.len() as f64;
    let mut best = [[0.0f64; 2]; 2]; // [check, flat][1 thread, all cores]
    for _ in 0..3 {
        for (t, threads) in [1, cores()].into_iter().enumerate() {
            let parallelism = Parallelism::threads(threads).expect("within the cap");
            let started = Instant::now();
            let report = chain.check(&BatchOptions { parallelism, ..BatchOptions::default() }).expect("check runs");
            assert_eq!(report.first_bad, None);
            best[0][t] = best[0][t].max(count / started.elapsed().as_secs_f64());
            let started = Instant::now();
            verify_records(&fields, &previous, parallelism).expect("valid records");
            best[1][t] = best[1][t].max(count / started.elapsed().as_secs_f64());
        }
    }
    for (k, kind) in ["check", "flat"].into_iter().enumerate() {
        eprintln!(
            "scaling, {kind}: {:.0} rec/s on 1 thread, {:.0} on {}: {:.2}x",
            best[k][0],
            best[k][1],
            cores(),
            best[k][1] / best[k][0]
        );
        for (t, threads) in [1, cores()].into_iter().enumerate() {
            println!(
                "{{\"what\":\"scaling\",\"kind\":\"{kind}\",\"threads\":{threads},\"value\":{:.1},\"unit\":\"records/s\"}}",
                best[k][t]
            );
        }
    }
}

fn bench_add() {
    let source = stored_chain(&format!("check-{CHECK_BLOCKS}x{RECORDS}"), CHECK_BLOCKS, RECORDS);
    let n = 1_000;
    let blocks = load_blocks(&source, n);
    let path = chains_dir().join("scratch-add.db");
    let took = (0..3)
        .map(|_| {
            remove_db(&path);
            let mut chain = Chain::open(&path, Some(params())).expect("create");
            let started = Instant::now();
            let cpu = cpu_time();
            for batch in blocks.chunks(500) {
                chain.add_blocks(batch, None, &BatchOptions::default()).expect("valid blocks");
            }
            let took = started.elapsed();
            if std::env::var_os("EMR_BENCH_VERBOSE").is_some() {
                eprintln!("  run: {took:.2?} wall, {:.2?} cpu", cpu_time() - cpu);
            }
            took
        })
        .min()
        .expect("three runs");
    remove_db(&path);
    let records = (n * RECORDS) as f64;
    eprintln!("add_blocks: {n} blocks x {RECORDS} records in {took:.2?} (file chain, batches of 500, best of 3)");
    emit("add_blocks", records / took.as_secs_f64(), "records/s", &format!(",\"blocks\":{n},\"records_per_block\":{RECORDS}"));
}

/// Durable `add_block` one at a time on a file chain (WAL, synchronous=FULL).
fn bench_latency() {
    let source = stored_chain(&format!("check-{CHECK_BLOCKS}x{RECORDS}"), CHECK_BLOCKS, RECORDS);
    let blocks = load_blocks(&source, 200);
    let path = chains_dir().join("scratch-latency.db");
    for (label, records) in [("add_block_25", RECORDS), ("add_block_0", 0)] {
        remove_db(&path);
        let mut chain = Chain::open(&path, Some(params())).expect("create");
        let mut times = Vec::with_capacity(blocks.len());
        let mut previous: Option<Block> = None;
        for source_block in &blocks {
            let block = if records == RECORDS {
                source_block.clone()
            } else {
                let mut b = Block { records: Vec::new(), ..source_block.clone() };
                b.previous = previous.as_ref().map_or(Hash256::from_bytes([0; 32]), |p| p.block_id);
                b.block_id = b.calculate_block_id();
                b
            };
            let started = Instant::now();
            chain.add_block(&block, None).expect("valid block");
            times.push(started.elapsed());
            previous = Some(block);
        }
        drop(chain);
        times.sort();
        let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
        eprintln!("{label}: median {:.3} ms, p90 {:.3} ms, p99 {:.3} ms over {} adds", q(0.5), q(0.9), q(0.99), times.len());
        emit(label, q(0.5), "ms", &format!(",\"p90\":{:.3},\"p99\":{:.3},\"records_per_block\":{records}", q(0.9), q(0.99)));
    }
    remove_db(&path);
}

fn bench_reopen() {
    for blocks in [10_000usize, 100_000] {
        let path = stored_chain(&format!("reopen-{blocks}x1"), blocks, 1);
        let (took, ()) = best_of(5, || {
            let chain = Chain::open(&path, None).expect("open");
            let tip = chain.tip().expect("tip").expect("a tip");
            assert_eq!(tip.height, blocks as u64 - 1);
            chain.next_difficulty().expect("next difficulty");
        });
        eprintln!("reopen {blocks} blocks (open, tip, next difficulty): {took:.2?} (best of 5, warm cache)");
        emit("reopen", took.as_secs_f64() * 1e3, "ms", &format!(",\"blocks\":{blocks}"));
        if blocks == 100_000 {
            let chain = Chain::open(&path, None).expect("open");
            let mut times = Vec::new();
            let mut found = 0;
            // Once untimed, so that every query runs on a warm page cache.
            for p in (0..PATIENTS).step_by(PATIENTS / 50) {
                chain.patient_history(&patient(p)).expect("history");
            }
            for p in (0..PATIENTS).step_by(PATIENTS / 50) {
                let started = Instant::now();
                found = chain.patient_history(&patient(p)).expect("history").len();
                times.push(started.elapsed());
            }
            times.sort();
            let median = times[times.len() / 2].as_secs_f64() * 1e3;
            eprintln!("patient_history on {blocks} blocks: median {median:.3} ms for {found} records (50 patients, warm cache)");
            emit("patient_history", median, "ms", &format!(",\"blocks\":{blocks},\"records\":{found}"));
        }
    }
}

fn main() {
    let sections = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "check,check1,scaling,add,latency,reopen".into());
    for section in sections.split(',') {
        match section {
            "check" => bench_check(),
            "check1" => bench_check_small_blocks(),
            "scaling" => bench_scaling(),
            "add" => bench_add(),
            "latency" => bench_latency(),
            "reopen" => bench_reopen(),
            other => eprintln!("unknown section {other}"),
        }
    }
}

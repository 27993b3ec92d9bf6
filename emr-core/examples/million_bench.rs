//! A chain of a million records (`make bench-million`, docs/BENCHMARKS.md):
//! file size per record, time to build, reopen time, `patient_history` and
//! `find_record` latency, full `check` time and rate, and the peak memory of
//! each, at a small size and at a million, so that what grows with the
//! chain shows.
//!
//! ```sh
//! cargo run --release -p emr-core --example million_bench                  # 40,000 and 1,000,000 records
//! cargo run --release -p emr-core --example million_bench -- 40000 200000  # other sizes (multiples of 25)
//! ```
//!
//! Each phase runs in a process of its own (this program, run again with
//! `--phase`), so that the peak resident memory each child reports
//! (`getrusage`, `ru_maxrss`) is that phase's alone. The chains are written
//! to `target/bench-chains/million-*.db` (or `$EMR_BENCH_CHAINS`) and
//! rebuilt on every run, since their build is one of the figures.
//!
//! Blocks are full (25 secp256k1 records), carry the minimum difficulty
//! (nothing to mine) and are 12 s apart, which keeps the retarget at the
//! minimum. Patients are as many as records / 40, round robin, so that each
//! history holds 40 records in 40 different blocks spread over the whole
//! chain, at every size: the history figures compare like with like.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use emr_core::chain::{BatchOptions, Chain, ChainParams};
use emr_core::{Block, Curve, Difficulty, Hash160, Hash256, Record, SigningKey};

const T0: u64 = 1_700_000_000;
const RECORDS: usize = 25;
const DOCTORS: usize = 16;
/// Records per patient (see the module documentation).
const PER_PATIENT: usize = 40;
/// Blocks signed and added per batch while building: the generator's
/// memory stays small beside the chain's.
const BUILD_BATCH: usize = 1_000;
/// Queries timed per kind.
const QUERIES: usize = 1_000;

fn chains_dir() -> PathBuf {
    let dir = std::env::var_os("EMR_BENCH_CHAINS").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("bench-chains")
    });
    std::fs::create_dir_all(&dir).expect("create the bench-chains directory");
    dir
}

fn chain_path(records: usize) -> PathBuf {
    chains_dir().join(format!("million-{records}.db"))
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn patient(i: usize) -> Hash160 {
    emr_core::hash::sha1(&[b"patient", &(i as u64).to_le_bytes()])
}

/// This process's peak resident memory, MiB.
fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    // Linux reports ru_maxrss in KiB.
    usage.ru_maxrss as f64 / 1024.0
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

/// CPU time of the calling thread: a query's own cost, which the load of
/// a shared machine does not inflate the way it does wall time.
fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime only writes the struct it is given.
    let ts = unsafe {
        let mut ts = std::mem::zeroed::<libc::timespec>();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts
    };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A small deterministic generator for the query samples.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Median and 99th percentile, in ms.
fn quantiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    (q(0.5), q(0.99))
}

/// Signs records `first..first + blocks * RECORDS` on every core and makes
/// them into blocks on `previous` at `height`.
fn make_blocks(doctors: &[SigningKey], patients: usize, first: usize, blocks: usize, mut previous: Hash256, height: u64) -> Vec<Block> {
    let total = blocks * RECORDS;
    let lanes = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut records: Vec<Option<Record>> = vec![None; total];
    let per_lane = total.div_ceil(lanes).max(1);
    std::thread::scope(|s| {
        for (lane, chunk) in records.chunks_mut(per_lane).enumerate() {
            s.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let n = first + lane * per_lane + k;
                    let nonce = (n / DOCTORS) as u64 + 1;
                    let text = format!("Medication {n}: 10mg daily");
                    let key = &doctors[n % DOCTORS];
                    *slot = Some(Record::sign(key, patient(n % patients).as_bytes(), &text, nonce).expect("signing"));
                }
            });
        }
    });
    let mut records = records.into_iter().map(|r| r.expect("signed"));
    let mut out = Vec::with_capacity(blocks);
    for h in height..height + blocks as u64 {
        let mut block = Block {
            previous,
            height: h,
            miner: Hash160::from_bytes([0xaa; 20]),
            records: records.by_ref().take(RECORDS).collect(),
            entries: Vec::new(),
            timestamp: T0 + 12 * h,
            difficulty: Difficulty::MIN,
            block_id: Hash256::from_bytes([0; 32]),
            nonce: 0,
        };
        block.block_id = block.calculate_block_id();
        previous = block.block_id;
        out.push(block);
    }
    out
}

fn phase_build(records: usize) -> String {
    let path = chain_path(records);
    remove_db(&path);
    let blocks = records / RECORDS;
    let patients = (records / PER_PATIENT).max(1);
    // Fixed keys would do as well; fresh ones cost nothing here.
    let doctors: Vec<SigningKey> =
        (0..DOCTORS).map(|_| SigningKey::generate(Curve::Secp256k1).expect("key generation")).collect();
    let params = ChainParams { initial_difficulty: Difficulty::MIN, ..ChainParams::default() };
    let mut chain = Chain::open(&path, Some(params)).expect("create the chain");
    let started = Instant::now();
    let mut signing = Duration::ZERO;
    let mut previous = Hash256::from_bytes([0; 32]);
    let mut height = 0;
    while height < blocks {
        let n = BUILD_BATCH.min(blocks - height);
        let signed = Instant::now();
        let batch = make_blocks(&doctors, patients, height * RECORDS, n, previous, height as u64);
        signing += signed.elapsed();
        chain.add_blocks(&batch, None, &BatchOptions::default()).expect("valid blocks");
        previous = batch.last().expect("a block").block_id;
        height += n;
    }
    drop(chain);
    let took = started.elapsed();
    let size = std::fs::metadata(&path).expect("the chain file").len();
    format!(
        "{{\"phase\":\"build\",\"records\":{records},\"seconds\":{:.2},\"signing_seconds\":{:.2},\"add_seconds\":{:.2},\
         \"bytes\":{size},\"bytes_per_record\":{:.1},\"peak_mib\":{:.1}}}",
        took.as_secs_f64(),
        signing.as_secs_f64(),
        (took - signing).as_secs_f64(),
        size as f64 / records as f64,
        peak_rss_mib()
    )
}

/// Opens the chain as an application does (writable: lock, schema, tip
/// block) and asks for its tip and next difficulty; the first open of the
/// process, then the median of 20 more.
fn phase_reopen(records: usize) -> String {
    let path = chain_path(records);
    let blocks = (records / RECORDS) as u64;
    let open = || {
        let started = Instant::now();
        let chain = Chain::open(&path, None).expect("open");
        let tip = chain.tip().expect("tip").expect("a tip");
        assert_eq!(tip.height, blocks - 1);
        chain.next_difficulty().expect("next difficulty");
        let took = started.elapsed();
        drop(chain);
        took
    };
    let first = open();
    let (median, p99) = quantiles((0..20).map(|_| open()).collect());
    let started = Instant::now();
    let chain = Chain::open_readonly(&path).expect("open read-only");
    chain.tip().expect("tip").expect("a tip");
    let readonly = started.elapsed();
    format!(
        "{{\"phase\":\"reopen\",\"records\":{records},\"first_ms\":{:.3},\"median_ms\":{median:.3},\"p99_ms\":{p99:.3},\
         \"readonly_ms\":{:.3},\"peak_mib\":{:.1}}}",
        first.as_secs_f64() * 1e3,
        readonly.as_secs_f64() * 1e3,
        peak_rss_mib()
    )
}

/// `patient_history` of random patients and `find_record` of random txids,
/// on one handle: a first pass over patients the process has not touched,
/// then the timed pass over others.
fn phase_query(records: usize) -> String {
    let path = chain_path(records);
    let blocks = records / RECORDS;
    let patients = (records / PER_PATIENT).max(1);
    let chain = Chain::open_readonly(&path).expect("open");
    let mut rng = Lcg(records as u64);
    let mut history = Vec::with_capacity(QUERIES);
    let mut history_cpu = Vec::with_capacity(QUERIES);
    let mut found = 0;
    for _ in 0..QUERIES {
        let p = patient(rng.below(patients));
        let cpu = thread_cpu();
        let started = Instant::now();
        found += chain.patient_history(&p).expect("history").len();
        history.push(started.elapsed());
        history_cpu.push(thread_cpu() - cpu);
    }
    assert_eq!(found, QUERIES * PER_PATIENT.min(records));
    // The txids to look for, from random blocks, gathered before any is timed.
    let txids: Vec<Hash256> = (0..QUERIES)
        .map(|_| {
            let height = rng.below(blocks) as u64;
            let block = chain.blocks(height, height + 1).next().expect("a block").expect("readable");
            block.records[rng.below(RECORDS)].txid
        })
        .collect();
    let mut find = Vec::with_capacity(QUERIES);
    let mut find_cpu = Vec::with_capacity(QUERIES);
    for txid in &txids {
        let cpu = thread_cpu();
        let started = Instant::now();
        let entry = chain.find_record(txid).expect("find").expect("found");
        find.push(started.elapsed());
        find_cpu.push(thread_cpu() - cpu);
        assert_eq!(entry.record.txid, *txid);
    }
    let (h50, h99) = quantiles(history);
    let (f50, f99) = quantiles(find);
    let (hc50, hc99) = quantiles(history_cpu);
    let (fc50, fc99) = quantiles(find_cpu);
    format!(
        "{{\"phase\":\"query\",\"records\":{records},\"history_records\":{PER_PATIENT},\"history_median_ms\":{h50:.3},\
         \"history_p99_ms\":{h99:.3},\"find_median_ms\":{f50:.3},\"find_p99_ms\":{f99:.3},\"history_cpu_median_ms\":{hc50:.3},\"history_cpu_p99_ms\":{hc99:.3},\
         \"find_cpu_median_ms\":{fc50:.3},\"find_cpu_p99_ms\":{fc99:.3},\"peak_mib\":{:.1}}}",
        peak_rss_mib()
    )
}

fn phase_check(records: usize) -> String {
    let path = chain_path(records);
    let chain = Chain::open(&path, None).expect("open");
    let cpu = cpu_time();
    let started = Instant::now();
    let report = chain.check(&BatchOptions::default()).expect("check runs");
    let took = started.elapsed();
    let cpu = cpu_time() - cpu;
    assert_eq!(report.first_bad, None);
    assert_eq!(report.blocks_ok, (records / RECORDS) as u64);
    format!(
        "{{\"phase\":\"check\",\"records\":{records},\"seconds\":{:.2},\"cpu_seconds\":{:.2},\"records_per_s\":{:.0},\"peak_mib\":{:.1}}}",
        took.as_secs_f64(),
        cpu.as_secs_f64(),
        records as f64 / took.as_secs_f64(),
        peak_rss_mib()
    )
}

/// Runs `phase` on `records` in a child process and returns its JSON line.
fn child(phase: &str, records: usize) -> serde_json::Value {
    let out = Command::new(std::env::current_exe().expect("this program"))
        .args(["--phase", phase, &records.to_string()])
        .output()
        .expect("run the phase");
    assert!(out.status.success(), "phase {phase} failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).expect("utf-8");
    println!("{}", line.trim());
    serde_json::from_str(line.trim()).expect("a JSON line")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--phase") {
        let records: usize = args[2].parse().expect("a record count");
        let line = match args[1].as_str() {
            "build" => phase_build(records),
            "reopen" => phase_reopen(records),
            "query" => phase_query(records),
            "check" => phase_check(records),
            other => panic!("unknown phase {other}"),
        };
        println!("{line}");
        return;
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![40_000, 1_000_000]
    } else {
        args.iter().map(|a| a.parse().expect("a record count")).collect()
    };
    for &records in &sizes {
        assert!(records >= RECORDS * 2 && records % RECORDS == 0, "{records}: a multiple of {RECORDS}, at least 50");
    }
    let mut rows = Vec::new();
    for &records in &sizes {
        eprintln!("{records} records: building...");
        let build = child("build", records);
        eprintln!("{records} records: reopen, queries, check...");
        let reopen = child("reopen", records);
        let query = child("query", records);
        let check = child("check", records);
        rows.push((records, build, reopen, query, check));
    }
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    eprintln!();
    eprintln!("| figure | {} |", sizes.iter().map(|s| format!("{s} records")).collect::<Vec<_>>().join(" | "));
    eprintln!("| --- |{}", " --- |".repeat(sizes.len()));
    let row = |label: &str, cell: &dyn Fn(&serde_json::Value, &serde_json::Value, &serde_json::Value, &serde_json::Value) -> String| {
        let cells: Vec<String> = rows.iter().map(|(_, b, r, q, c)| cell(b, r, q, c)).collect();
        eprintln!("| {label} | {} |", cells.join(" | "));
    };
    row("file size per record", &|b, _, _, _| format!("{:.0} B ({:.1} MiB)", f(b, "bytes_per_record"), f(b, "bytes") / 1048576.0));
    row("build (sign + add_blocks)", &|b, _, _, _| {
        format!("{:.1} s (signing {:.1} s, add {:.1} s)", f(b, "seconds"), f(b, "signing_seconds"), f(b, "add_seconds"))
    });
    row("build, peak memory", &|b, _, _, _| format!("{:.0} MiB", f(b, "peak_mib")));
    row("reopen (open, tip, next difficulty): first, median, p99", &|_, r, _, _| {
        format!("{:.2} ms, {:.2} ms, {:.2} ms", f(r, "first_ms"), f(r, "median_ms"), f(r, "p99_ms"))
    });
    row("reopen, peak memory", &|_, r, _, _| format!("{:.0} MiB", f(r, "peak_mib")));
    row("`patient_history` (40 records): median, p99", &|_, _, q, _| {
        format!("{:.3} ms, {:.3} ms", f(q, "history_median_ms"), f(q, "history_p99_ms"))
    });
    row("`patient_history`, CPU time: median, p99", &|_, _, q, _| {
        format!("{:.3} ms, {:.3} ms", f(q, "history_cpu_median_ms"), f(q, "history_cpu_p99_ms"))
    });
    row("`find_record`: median, p99", &|_, _, q, _| format!("{:.3} ms, {:.3} ms", f(q, "find_median_ms"), f(q, "find_p99_ms")));
    row("`find_record`, CPU time: median, p99", &|_, _, q, _| {
        format!("{:.3} ms, {:.3} ms", f(q, "find_cpu_median_ms"), f(q, "find_cpu_p99_ms"))
    });
    row("queries, peak memory", &|_, _, q, _| format!("{:.0} MiB", f(q, "peak_mib")));
    row("full `check`", &|_, _, _, c| {
        format!("{:.1} s ({:.1} k rec/s, {:.1} s CPU)", f(c, "seconds"), f(c, "records_per_s") / 1e3, f(c, "cpu_seconds"))
    });
    row("`check`, peak memory", &|_, _, _, c| format!("{:.0} MiB", f(c, "peak_mib")));
}

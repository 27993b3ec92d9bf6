//! The node's benchmark (`make bench-node`, part of `make bench`): a new
//! site syncing 10,000 blocks of 25 records from a peer over loopback TLS
//! (`emr node join`) against adding the same blocks from a file (`emr
//! chain import`), each process's peak memory, and the latency of a block
//! from the node that mined it to two others (median, 99th percentile).
//!
//! ```sh
//! cargo build --release -p emr-cli
//! cargo run --release -p emr-node --example node_bench
//! ```
//!
//! The 10,000-block chain and its export are built once into
//! `target/bench-chains/` (`$EMR_BENCH_CHAINS`) and reused; the runs' own
//! directories are made anew under `target/bench-node/`. Prints JSON lines
//! on stdout and a table on stderr; `-- propagation` runs that part alone.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emr_core::chain::{BatchOptions, Chain, ChainParams};
use emr_core::{blockfile, Block, Curve, Difficulty, Hash160, Hash256, Record, SigningKey};
use emr_node::client::Client;
use emr_node::pki;

const BLOCKS: usize = 10_000;
const RECORDS: usize = 25;
const DOCTORS: usize = 16;
const T0: u64 = 1_700_000_000;
const ROUNDS: usize = 40;

fn params() -> ChainParams {
    ChainParams { initial_difficulty: Difficulty::MIN, salt: Some([0x42; 16]), ..ChainParams::default() }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn emr() -> PathBuf {
    std::env::var_os("EMR_BIN").map(PathBuf::from).unwrap_or_else(|| root().join("target/release/emr"))
}

fn chains_dir() -> PathBuf {
    let dir = std::env::var_os("EMR_BENCH_CHAINS").map(PathBuf::from).unwrap_or_else(|| root().join("target/bench-chains"));
    std::fs::create_dir_all(&dir).expect("bench-chains directory");
    dir
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `BLOCKS` blocks of `RECORDS` records, signed on every core, 12 s apart.
fn make_blocks() -> Vec<Block> {
    let doctors: Vec<SigningKey> = (0..DOCTORS).map(|_| SigningKey::generate(Curve::Secp256k1).unwrap()).collect();
    let total = BLOCKS * RECORDS;
    let lane = total.div_ceil(cores());
    let mut records: Vec<Option<Record>> = vec![None; total];
    std::thread::scope(|s| {
        for (i, chunk) in records.chunks_mut(lane).enumerate() {
            let doctors = &doctors;
            s.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let n = i * lane + k;
                    let patient = emr_core::hash::sha1(&[b"patient", &(n as u64 % 1000).to_le_bytes()]);
                    let text = format!("Medication {n}: 10mg daily");
                    *slot = Some(Record::sign(&doctors[n % DOCTORS], patient.as_bytes(), &text, (n / DOCTORS) as u64 + 1).unwrap());
                }
            });
        }
    });
    let mut records = records.into_iter().map(Option::unwrap);
    let mut out: Vec<Block> = Vec::with_capacity(BLOCKS);
    for height in 0..BLOCKS as u64 {
        let mut block = Block {
            previous: out.last().map_or(Hash256::from_bytes([0; 32]), |b| b.block_id),
            height,
            miner: Hash160::from_bytes([0xaa; 20]),
            records: records.by_ref().take(RECORDS).collect(),
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

/// The source chain directory and its export, built if missing.
fn source() -> (PathBuf, PathBuf) {
    let dir = chains_dir().join("node-10k");
    let file = chains_dir().join("node-10k.emr");
    let complete = Chain::open_readonly(dir.join("chain.db")).ok().and_then(|c| c.len().ok()) == Some(BLOCKS as u64)
        && file.exists();
    if !complete {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!("building {} ({BLOCKS} blocks x {RECORDS} records)...", dir.display());
        let blocks = make_blocks();
        let mut chain = Chain::open(dir.join("chain.db"), Some(params())).unwrap();
        for batch in blocks.chunks(2_000) {
            chain.add_blocks(batch, None, &BatchOptions::default()).unwrap();
        }
        std::fs::write(&file, blockfile::encode_blocks(&blocks)).unwrap();
    }
    (dir, file)
}

/// Runs `emr ARGS` to its end: wall time and the process's peak resident
/// memory (ru_maxrss, KiB). The child is reaped by `wait4`, which clippy
/// does not see, because `wait4` is what reports its peak memory.
#[allow(clippy::zombie_processes)]
fn timed(args: &[&str]) -> (Duration, u64) {
    let started = Instant::now();
    let child = Command::new(emr()).args(args).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("run emr");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on the pid of our own unreaped child, with pointers to
    // two live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "emr {args:?} failed");
    (started.elapsed(), usage.ru_maxrss as u64)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, args: &[String]) -> (Served, Client) {
    let local = free_port();
    let child = Command::new(emr())
        .args(["node", "serve", &dir.display().to_string(), "--local", &format!("127.0.0.1:{local}"), "--log", "warn"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("emr node serve");
    let client = Client::new(&format!("http://127.0.0.1:{local}"), None).unwrap();
    let start = Instant::now();
    while client.info().is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Served(child), client)
}

struct Tls {
    dir: PathBuf,
}

impl Tls {
    fn new(dir: &Path) -> Tls {
        let ca = pki::new_authority("Bench CA", 30).unwrap();
        let authority = pki::Authority::from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap();
        std::fs::write(dir.join("ca.crt"), &ca.cert_pem).unwrap();
        for site in ["a", "b", "c"] {
            let node = authority.issue(&["127.0.0.1".to_string()], 30).unwrap();
            std::fs::write(dir.join(format!("{site}.crt")), &node.cert_pem).unwrap();
            std::fs::write(dir.join(format!("{site}.key")), node.key_pem.as_bytes()).unwrap();
        }
        Tls { dir: dir.to_owned() }
    }

    fn args(&self, site: &str) -> Vec<String> {
        let f = |n: String| self.dir.join(n).display().to_string();
        vec!["--ca".into(), f("ca.crt".into()), "--cert".into(), f(format!("{site}.crt")), "--key".into(), f(format!("{site}.key"))]
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn emit(what: &str, value: f64, unit: &str) {
    println!("{{\"what\":\"{what}\",\"value\":{value:.3},\"unit\":\"{unit}\"}}");
}

fn main() {
    let sections: Vec<String> = std::env::args().skip(1).collect();
    let work = root().join("target/bench-node");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let tls = Tls::new(&work);
    if sections.iter().any(|s| s == "propagation") {
        let (median, p99, samples) = propagation(&work, &tls);
        eprintln!("block propagation, 3 nodes over TLS: median {median:.1} ms, 99th percentile {p99:.1} ms ({samples} samples)");
        return;
    }
    let (source_dir, file) = source();
    let chain_id = params().chain_id().unwrap().to_string();
    let salt = hex::encode([0x42u8; 16]);

    // From a file: `emr chain import`, one process.
    let imported = work.join("imported");
    let init = ["chain", "init", &imported.display().to_string(), "--initial-difficulty", "1", "--salt", &salt];
    assert!(Command::new(emr()).args(init).stdout(Stdio::null()).status().unwrap().success());
    let (import_time, import_rss) = timed(&["-q", "chain", "import", &imported.display().to_string(), &file.display().to_string()]);

    // From a peer over loopback TLS: `emr node join`, the node's sync.
    let port = free_port();
    let mut args = vec!["--listen".to_string(), format!("127.0.0.1:{port}")];
    args.extend(tls.args("a"));
    let (_source, _) = serve(&source_dir, &args);
    let joined = work.join("joined");
    let mut join: Vec<String> = ["-q", "node", "join", &joined.display().to_string(), "--peer", &format!("https://127.0.0.1:{port}"), "--chain-id", &chain_id]
        .iter()
        .map(|s| s.to_string())
        .collect();
    join.extend(tls.args("b"));
    let join: Vec<&str> = join.iter().map(String::as_str).collect();
    let (sync_time, sync_rss) = timed(&join);
    let synced = Chain::open_readonly(joined.join("chain.db")).unwrap().len().unwrap();
    assert_eq!(synced, BLOCKS as u64, "the sync did not bring every block");
    drop(_source);

    let per_s = |d: Duration| BLOCKS as f64 / d.as_secs_f64();
    emit("import_blocks_per_s", per_s(import_time), "blocks/s");
    emit("import_peak_rss", import_rss as f64 / 1024.0, "MiB");
    emit("sync_blocks_per_s", per_s(sync_time), "blocks/s");
    emit("sync_peak_rss", sync_rss as f64 / 1024.0, "MiB");
    emit("sync_over_import", import_time.as_secs_f64() / sync_time.as_secs_f64(), "x");

    let (median, p99, samples) = propagation(&work, &tls);
    eprintln!("\nnode benchmark ({} cores; {BLOCKS} blocks x {RECORDS} records)", cores());
    eprintln!("  import from a file (emr chain import)   {:>8.0} blocks/s  peak {:>4} MiB", per_s(import_time), import_rss / 1024);
    eprintln!("  sync from a peer, TLS (emr node join)   {:>8.0} blocks/s  peak {:>4} MiB  ({:.2}x import)", per_s(sync_time), sync_rss / 1024, import_time.as_secs_f64() / sync_time.as_secs_f64());
    eprintln!("  block propagation, 3 nodes over TLS     median {median:.1} ms, 99th percentile {p99:.1} ms ({samples} samples)");
}

/// Three nodes over TLS, B mining: milliseconds from B's new tip to A's
/// and C's having it, as (median, 99th percentile, samples).
fn propagation(work: &Path, tls: &Tls) -> (f64, f64, usize) {
    // Propagation: three nodes over TLS, B mines; from B's new tip to A's and C's.
    std::fs::create_dir_all(work.join("a")).unwrap();
    let mut seed = Chain::open(work.join("a").join("chain.db"), Some(ChainParams { salt: Some([0x43; 16]), max_adjust: 1, ..params() })).unwrap();
    let genesis_template = seed.template(&Hash160::from_bytes([1; 20]), T0).unwrap();
    let mut genesis = Block {
        previous: genesis_template.previous,
        height: 0,
        miner: genesis_template.miner,
        records: Vec::new(),
        entries: Vec::new(),
        timestamp: now(),
        difficulty: genesis_template.difficulty,
        block_id: Hash256::from_bytes([0; 32]),
        nonce: 0,
    };
    genesis.block_id = genesis.calculate_block_id();
    seed.add_block(&genesis, None).unwrap();
    drop(seed);
    for site in ["b", "c"] {
        std::fs::create_dir_all(work.join(site)).unwrap();
        std::fs::copy(work.join("a/chain.db"), work.join(site).join("chain.db")).unwrap();
    }
    let ports = [free_port(), free_port(), free_port()];
    let miner = emr_core::address::encode(emr_core::Role::Miner, &Hash160::from_bytes([2; 20]));
    let mut nodes = Vec::new();
    for (i, site) in ["a", "b", "c"].iter().enumerate() {
        let mut args = vec!["--listen".to_string(), format!("127.0.0.1:{}", ports[i])];
        args.extend(tls.args(site));
        for (j, p) in ports.iter().enumerate() {
            if j != i {
                args.extend(["--peer".to_string(), format!("https://127.0.0.1:{p}")]);
            }
        }
        if *site == "b" {
            args.extend(["--mine".to_string(), "--miner".into(), miner.clone(), "--threads".into(), "1".into()]);
        }
        nodes.push(serve(&work.join(site), &args));
    }
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        let before = nodes[1].1.info().unwrap().tip;
        let record = Record::sign(&doctor, &[3; 20], &format!("round {round}"), round as u64 + 1).unwrap();
        let answer = nodes[1].1.submit(record.to_bytes()).unwrap();
        assert_eq!(answer.answer.name(), "ready", "{answer:?}");
        let start = Instant::now();
        // No retarget (max_adjust 1): blocks come faster than the block time.
    let tip = loop {
            let tip = nodes[1].1.info().unwrap().tip;
            if tip != before {
                break tip;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "B did not mine");
            std::thread::sleep(Duration::from_millis(1));
        };
        let mined = Instant::now();
        let mut pending = vec![0usize, 2];
        while !pending.is_empty() {
            pending.retain(|&i| {
                if nodes[i].1.info().unwrap().tip == tip {
                    latencies.push(mined.elapsed().as_secs_f64() * 1000.0);
                    false
                } else {
                    true
                }
            });
            assert!(mined.elapsed() < Duration::from_secs(30), "the block did not propagate");
        }
    }
    latencies.sort_by(f64::total_cmp);
    let (median, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    emit("propagation_median", median, "ms");
    emit("propagation_p99", p99, "ms");
    (median, p99, latencies.len())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}


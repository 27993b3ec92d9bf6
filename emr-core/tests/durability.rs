//! The chain's storage promises, tested the hard way (docs/DURABILITY.md):
//! writers killed with SIGKILL at random moments, single bytes flipped in
//! closed databases and in the WAL of a killed writer, a second writer and a
//! reader in other processes.
//!
//! Each campaign has a quick default form and a long form behind `#[ignore]`
//! (`make durability` runs the long forms in release mode). Child processes
//! are this test binary run again on one test, with an environment variable
//! saying which role to play.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emr_core::chain::{BatchOptions, Chain, ChainParams};
use emr_core::{AddOutcome, Block, Curve, Hash160, Hash256, Record, SigningKey};

use common::*;

/// Fixed-seed generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A child process that is killed when dropped, so that a failing test
/// leaves no child running.
struct ChildGuard(Child);

impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs this test binary again on test `test`, with `vars` set, stdout piped.
fn spawn_child(test: &str, vars: &[(&str, String)]) -> ChildGuard {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).stdout(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    ChildGuard(command.spawn().unwrap())
}

/// Reads a child's stdout lines on a thread, each with when it arrived.
fn collect_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line `wanted` from a child (the test harness prints its own
/// lines first).
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == wanted => return,
            Ok(_) => {}
            Err(e) => panic!("the child never said {wanted:?}: {e}"),
        }
    }
}

fn say(out: &mut impl Write, line: std::fmt::Arguments<'_>) {
    out.write_fmt(line).unwrap();
    out.write_all(b"\n").unwrap();
    out.flush().unwrap();
}

// ---------------------------------------------------------------------------
// Kill -9 campaign.

/// What a writer child does next.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// One `add_block` on the tip.
    Extend,
    /// One `add_blocks` of 2..8 blocks on the tip.
    Batch,
    /// One side block of a heavier branch, by `add_block` (tip unchanged).
    Side,
    /// The block that makes that branch the heavier: a reorganisation.
    Reorg,
    /// A whole heavier branch by one `add_blocks`: a reorganisation in a batch.
    BatchReorg,
    /// `undo_last_block`.
    Undo,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Extend => "extend",
            Op::Batch => "batch",
            Op::Side => "side",
            Op::Reorg => "reorg",
            Op::BatchReorg => "batch-reorg",
            Op::Undo => "undo",
        }
    }

    fn parse(name: &str) -> Op {
        [Op::Extend, Op::Batch, Op::Side, Op::Reorg, Op::BatchReorg, Op::Undo]
            .into_iter()
            .find(|op| op.name() == name)
            .unwrap()
    }
}

fn tip_text(tip: Option<&Block>) -> String {
    tip.map_or("- -".into(), |b| format!("{} {}", b.height, b.block_id))
}

/// The writer child: opens the chain and changes it without pause until
/// killed. Before each operation it prints `try <op> <low> <tip after>`
/// (`low`: the lowest height the operation changes); after it returns,
/// `set <height> <id>` for each block then active from `low` up, and `ack`.
fn kill_writer(path: &str, seed: u64) {
    let mut out = std::io::stdout();
    let mut chain = Chain::open(path, None).unwrap();
    let mut rng = Rng(seed);
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let dr = doctor.public_key_hash();
    let mut tip: Option<Block> = chain.tip().unwrap().map(|t| chain.block_at(t.height).unwrap().unwrap());
    // On a line of its own: the harness's "test ... " has no newline.
    say(&mut out, format_args!("\nready"));
    say(&mut out, format_args!("doctor {dr}"));
    let mut miner = 10u8;
    loop {
        let len = tip.as_ref().map_or(0, |b| b.height + 1);
        let roll = rng.below(100);
        let op = match roll {
            _ if len < 4 => Op::Extend,
            0..=29 => Op::Extend,
            30..=54 => Op::Batch,
            55..=74 => Op::Reorg,
            75..=87 => Op::BatchReorg,
            _ if len > 8 => Op::Undo,
            _ => Op::Extend,
        };
        // Records from one doctor, the nonce following the active chain's.
        let mut nonce = chain.user_state(&dr).unwrap().nonce;
        let mut signed = |n: u64| {
            (0..n)
                .map(|_| {
                    nonce += 1;
                    Record::sign(&doctor, &[(nonce % 5) as u8; 20], "kill -9", nonce).unwrap()
                })
                .collect::<Vec<_>>()
        };
        match op {
            Op::Extend | Op::Batch => {
                let n = if op == Op::Extend { 1 } else { 2 + rng.below(7) };
                let mut blocks: Vec<Block> = Vec::new();
                for _ in 0..n {
                    let records = signed(rng.below(3));
                    let mut block = block_on(blocks.last().or(tip.as_ref()), 1, records);
                    // A few seconds late, at random: never the same block as
                    // one stored before (after an undo or a reorganisation)
                    // on the same parent. Late blocks keep difficulty 1.
                    block.timestamp += 1 + rng.below(1000);
                    block.block_id = block.calculate_block_id();
                    blocks.push(block);
                }
                let last = blocks.last().unwrap();
                say(&mut out, format_args!("try {} {} {}", op.name(), blocks[0].height, tip_text(Some(last))));
                if op == Op::Extend {
                    assert_eq!(chain.add_block(&blocks[0], None), Ok(AddOutcome::Extended));
                } else {
                    let outcomes = chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap();
                    assert_eq!(outcomes, vec![AddOutcome::Extended; blocks.len()]);
                }
                for b in &blocks {
                    say(&mut out, format_args!("set {} {}", b.height, b.block_id));
                }
                tip = blocks.pop();
            }
            Op::Reorg | Op::BatchReorg => {
                // A branch from `depth` blocks below the tip, one block longer.
                let height = len - 1;
                let depth = 1 + rng.below(3.min(height));
                let fork = chain.block_at(height - depth).unwrap().unwrap();
                miner = miner.wrapping_add(1).max(10);
                let side_doctor = SigningKey::generate(Curve::P256).unwrap();
                let mut branch: Vec<Block> = Vec::new();
                for i in 0..=depth {
                    let records = if i == 0 { vec![Record::sign(&side_doctor, &[9; 20], "side", 1).unwrap()] } else { vec![] };
                    branch.push(block_on(branch.last().or(Some(&fork)), miner, records));
                }
                let last = branch.last().unwrap().clone();
                if op == Op::Reorg {
                    for b in &branch[..branch.len() - 1] {
                        say(&mut out, format_args!("try side {} {}", height + 1, tip_text(tip.as_ref())));
                        assert_eq!(chain.add_block(b, None), Ok(AddOutcome::SideBranch));
                        say(&mut out, format_args!("ack"));
                    }
                    say(&mut out, format_args!("try reorg {} {}", fork.height + 1, tip_text(Some(&last))));
                    assert_eq!(chain.add_block(&last, None), Ok(AddOutcome::Reorganized));
                } else {
                    say(&mut out, format_args!("try batch-reorg {} {}", fork.height + 1, tip_text(Some(&last))));
                    let outcomes = chain.add_blocks(&branch, None, &BatchOptions::default()).unwrap();
                    assert_eq!(outcomes.last(), Some(&AddOutcome::Reorganized));
                }
                for b in &branch {
                    say(&mut out, format_args!("set {} {}", b.height, b.block_id));
                }
                tip = Some(last);
            }
            Op::Undo => {
                let height = len - 1;
                let below = chain.block_at(height - 1).unwrap().unwrap();
                say(&mut out, format_args!("try undo {height} {}", tip_text(Some(&below))));
                let undone = chain.undo_last_block().unwrap();
                assert_eq!(Some(undone.block_id), tip.as_ref().map(|b| b.block_id));
                tip = Some(below);
            }
            Op::Side => unreachable!(),
        }
        say(&mut out, format_args!("ack"));
    }
}

/// The parent's model of the active chain, built from acknowledged
/// operations only.
#[derive(Default)]
struct Model {
    active: Vec<String>,
    acked_tip: String,
}

/// An operation announced by `try`, not (yet) acknowledged.
struct Pending {
    op: Op,
    low: usize,
    tip: String,
    sets: Vec<(usize, String)>,
}

#[derive(Default, Debug)]
struct KillTally {
    rounds: u64,
    /// Kills with this operation in flight: (landed whole, not at all).
    in_flight: BTreeMap<&'static str, (u64, u64)>,
    /// Kills between operations (after an ack, before the next try).
    between: u64,
    acknowledged_ops: u64,
    final_height: u64,
}

/// Rounds on one database before the campaign starts a fresh one, so that
/// a long campaign's `check` after every round stays quick.
const ROUNDS_PER_DATABASE: u64 = 25;

/// `rounds` kill rounds, on a fresh database every [`ROUNDS_PER_DATABASE`].
fn kill_campaign(rounds: u64, seed: u64) -> KillTally {
    let mut total = KillTally::default();
    let mut done = 0;
    while done < rounds {
        let n = ROUNDS_PER_DATABASE.min(rounds - done);
        let part = kill_rounds(n, seed.wrapping_add(done.wrapping_mul(1_000_003)));
        total.rounds += part.rounds;
        total.between += part.between;
        total.acknowledged_ops += part.acknowledged_ops;
        total.final_height = total.final_height.max(part.final_height);
        for (op, (landed, lost)) in part.in_flight {
            let entry = total.in_flight.entry(op).or_default();
            entry.0 += landed;
            entry.1 += lost;
        }
        done += n;
    }
    total
}

fn kill_rounds(rounds: u64, seed: u64) -> KillTally {
    const TEST: &str = "kill_9_loses_no_acknowledged_block";
    let db = TempDb::new("kill");
    {
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        chain.add_block(&block_on(None, 1, vec![]), None).unwrap();
    }
    let mut model = Model { active: vec![], acked_tip: String::new() };
    {
        let chain = Chain::open_readonly(&db.0).unwrap();
        let g = chain.block_at(0).unwrap().unwrap();
        model.active.push(g.block_id.to_string());
        model.acked_tip = format!("0 {}", g.block_id);
    }
    let mut rng = Rng(seed ^ 0x6b69_6c6c);
    let mut tally = KillTally::default();
    for round in 0..rounds {
        let mut child = spawn_child(TEST, &[("EMR_KILL_WRITER", db.0.display().to_string()), ("EMR_KILL_SEED", (seed + round).to_string())]);
        let lines = collect_lines(&mut child);
        wait_for(&lines, "ready");
        // Kill at a random moment 5-200 ms into the writing.
        std::thread::sleep(Duration::from_millis(5 + rng.below(196)));
        if let Ok(Some(status)) = child.try_wait() {
            let rest: Vec<String> = lines.try_iter().collect();
            panic!("round {round}: the writer ended by itself ({status}): {:?}", rest.last());
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // Apply what was acknowledged; keep what was in flight.
        let mut pending: Option<Pending> = None;
        for line in lines.iter() {
            let words: Vec<&str> = line.split(' ').collect();
            match words[0] {
                "try" => {
                    let tip = format!("{} {}", words[3], words[4]);
                    pending = Some(Pending { op: Op::parse(words[1]), low: words[2].parse().unwrap(), tip, sets: vec![] });
                }
                "set" => pending.as_mut().unwrap().sets.push((words[1].parse().unwrap(), words[2].to_string())),
                "ack" => {
                    let p = pending.take().unwrap();
                    if p.op != Op::Side {
                        model.active.truncate(p.low);
                        for (height, id) in p.sets {
                            assert_eq!(height, model.active.len());
                            model.active.push(id);
                        }
                    }
                    model.acked_tip = p.tip;
                    tally.acknowledged_ops += 1;
                }
                _ => {}
            }
        }

        // Reopen for writing, as after a crash.
        let mut chain = Chain::open(&db.0, None).unwrap_or_else(|e| panic!("round {round}: reopen: {e}"));
        let tip = tip_text(chain.tip().unwrap().map(|t| chain.block_at(t.height).unwrap().unwrap()).as_ref());
        let len = chain.len().unwrap() as usize;
        match &pending {
            None => {
                tally.between += 1;
                assert_eq!(tip, model.acked_tip, "round {round}: killed between operations");
            }
            Some(p) => {
                let landed = if tip == p.tip && tip != model.acked_tip {
                    true
                } else {
                    assert_eq!(tip, model.acked_tip, "round {round}: {:?} in flight: neither before nor after", p.op);
                    false
                };
                // A side block leaves the tip as it was whether it landed or not.
                let name = if p.op == Op::Side { "side block (tip unchanged either way)" } else { p.op.name() };
                let entry = tally.in_flight.entry(name).or_default();
                if landed {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
                if landed {
                    // The in-flight operation committed whole: adopt it.
                    model.active.truncate(p.low);
                    for height in p.low..len {
                        model.active.push(chain.block_at(height as u64).unwrap().unwrap().block_id.to_string());
                    }
                    model.acked_tip = p.tip.clone();
                }
            }
        }
        // Every acknowledged block of the active chain is there, in place.
        assert_eq!(len, model.active.len(), "round {round}");
        for (height, id) in model.active.iter().enumerate() {
            let block = chain.block_at(height as u64).unwrap().unwrap();
            assert_eq!(&block.block_id.to_string(), id, "round {round}: height {height}");
        }
        let report = chain.check(&BatchOptions::default()).unwrap();
        assert_eq!((report.first_bad, report.blocks_ok), (None, len as u64), "round {round}");
        // And it takes the next block.
        let top = chain.block_at(len as u64 - 1).unwrap().unwrap();
        // (Later by the round number, so that it is a new block even on a
        // tip an earlier round has built on.)
        let mut next = block_on(Some(&top), 2, vec![]);
        next.timestamp += round;
        next.block_id = next.calculate_block_id();
        assert_eq!(chain.add_block(&next, None), Ok(AddOutcome::Extended), "round {round}");
        model.active.push(next.block_id.to_string());
        model.acked_tip = tip_text(Some(&next));
        tally.final_height = next.height;
        tally.rounds += 1;
    }
    tally
}

fn print_kill_tally(tally: &KillTally, elapsed: Duration) {
    println!(
        "kill -9: {} rounds in {:.1} s, {} operations acknowledged, highest chain {}",
        tally.rounds,
        elapsed.as_secs_f64(),
        tally.acknowledged_ops,
        tally.final_height
    );
    println!("kill -9: killed between operations: {}", tally.between);
    for (op, (landed, lost)) in &tally.in_flight {
        println!("kill -9: killed during {op}: {landed} committed whole, {lost} not at all");
    }
}

/// Writers killed with SIGKILL at random moments, `EMR_KILL_ROUNDS` times
/// (default 60): every acknowledged block is on the active chain after
/// reopening, an operation in flight committed whole or not at all,
/// `check` passes and the chain takes the next block.
#[test]
fn kill_9_loses_no_acknowledged_block() {
    if let Ok(path) = std::env::var("EMR_KILL_WRITER") {
        kill_writer(&path, env_number("EMR_KILL_SEED", 1));
        return;
    }
    let started = Instant::now();
    let tally = kill_campaign(env_number("EMR_KILL_ROUNDS", 60), env_number("EMR_KILL_SEED", 0x5eed));
    print_kill_tally(&tally, started.elapsed());
    let killed_in_flight: u64 = tally.in_flight.values().map(|(a, b)| a + b).sum();
    assert!(killed_in_flight > 0, "no kill landed during an operation");
}

/// The long form: `EMR_KILL_ROUNDS` (default 200) rounds.
#[test]
#[ignore = "long: 200 kill rounds; make durability"]
fn kill_9_long() {
    let started = Instant::now();
    let rounds = env_number("EMR_KILL_ROUNDS", 200);
    // The children run the quick test's name, whose child role is the writer.
    let tally = kill_campaign(rounds, env_number("EMR_KILL_SEED", 0x5eed_1009));
    print_kill_tally(&tally, started.elapsed());
    for op in ["extend", "batch", "reorg", "batch-reorg", "undo"] {
        assert!(tally.in_flight.get(op).is_some_and(|(a, b)| a + b > 0), "no kill during {op}: {tally:?}");
    }
}

// ---------------------------------------------------------------------------
// Byte-flip campaigns.

/// The questions asked of a chain, the keys they are asked about, and the
/// undamaged answers.
struct Probe {
    users: Vec<Hash160>,
    patients: Vec<Hash160>,
    doctors: Vec<Hash160>,
    txids: Vec<Hash256>,
    /// Heights asked by `block_at`: every active one and one past the tip.
    heights: u64,
}

/// Every answer, labelled; stops at the first error with the query's label.
fn answers(chain: &Chain, probe: &Probe) -> Result<Vec<String>, (String, emr_core::chain::ChainError)> {
    let mut out = Vec::new();
    macro_rules! ask {
        ($label:expr, $query:expr) => {
            match $query {
                Ok(answer) => out.push(format!("{}: {:?}", $label, answer)),
                Err(e) => return Err(($label.to_string(), e)),
            }
        };
    }
    ask!("tip", chain.tip());
    ask!("len", chain.len());
    ask!("total_difficulty", chain.total_difficulty());
    ask!("next_difficulty", chain.next_difficulty());
    for u in &probe.users {
        ask!("user_state", chain.user_state(u));
    }
    for p in &probe.patients {
        ask!("patient_history", chain.patient_history(p));
    }
    for d in &probe.doctors {
        ask!("doctor_records", chain.doctor_records(d));
    }
    for t in &probe.txids {
        ask!("find_record", chain.find_record(t));
    }
    for h in 0..=probe.heights {
        ask!("block_at", chain.block_at(h).map(|b| b.map(|b| b.to_bytes())));
    }
    Ok(out)
}

/// How one damaged copy fared.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    /// Open failed: the error's kind and table.
    RefusedAtOpen(String),
    /// A query failed (its label, the error's kind and table).
    ReportedByQuery(String),
    /// `check` failed, or named a bad block.
    ReportedByCheck(String),
    /// Every answer equal to the undamaged run's and `check` clean.
    Unchanged,
    /// (WAL only) a clean, earlier acknowledged state: committed frames lost.
    EarlierState(u64),
    /// Anything else: a wrong answer.
    Wrong(String),
}

fn describe(e: &emr_core::chain::ChainError) -> String {
    match e {
        emr_core::chain::ChainError::Corrupt { table, detail, .. } => {
            let why = if detail.contains("page checksum") {
                "page checksum"
            } else if detail.contains("not a database") {
                "not a database"
            } else if detail.contains("malformed") {
                "sqlite: malformed"
            } else {
                "content"
            };
            format!("corrupt {table} ({why})")
        }
        other => format!("{} ({other})", other.kind()),
    }
}

/// Opens `path` as a writer would after a crash, asks everything, checks.
fn fate(path: &std::path::Path, probe: &Probe, expected: &[String]) -> (Fate, Option<String>) {
    let chain = match Chain::open(path, None) {
        Ok(chain) => chain,
        Err(e) => return (Fate::RefusedAtOpen(describe(&e)), None),
    };
    let got = match answers(&chain, probe) {
        Ok(got) => got,
        Err((label, e)) => return (Fate::ReportedByQuery(format!("{label}: {}", describe(&e))), None),
    };
    match chain.check(&BatchOptions::default()) {
        Err(e) => (Fate::ReportedByCheck(describe(&e)), None),
        Ok(r) if r.first_bad.is_some() => {
            let bad = r.first_bad.unwrap();
            (Fate::ReportedByCheck(format!("bad block: {}", describe(&bad.error))), None)
        }
        Ok(_) if got == expected => (Fate::Unchanged, None),
        Ok(_) => {
            let tip = chain.tip().unwrap().map(|t| t.block_id.to_string());
            let diff = got.iter().zip(expected).find(|(a, b)| a != b).map(|(a, b)| format!("{a} instead of {b}"));
            (Fate::Wrong(diff.unwrap_or_else(|| "a different number of answers".into())), tip)
        }
    }
}

/// Counts per fate, and per detail within each.
#[derive(Default)]
struct FlipTally {
    classes: BTreeMap<&'static str, u64>,
    details: BTreeMap<String, u64>,
    wrong: Vec<String>,
}

impl FlipTally {
    fn add(&mut self, fate: &Fate, at: String) {
        let (class, detail) = match fate {
            Fate::RefusedAtOpen(d) => ("refused at open", d.clone()),
            Fate::ReportedByQuery(d) => ("reported by a query", d.clone()),
            Fate::ReportedByCheck(d) => ("reported by check", d.clone()),
            Fate::Unchanged => ("unchanged", String::new()),
            Fate::EarlierState(lost) => ("earlier acknowledged state", format!("{lost} acknowledged operations lost")),
            Fate::Wrong(d) => {
                self.wrong.push(format!("{at}: {d}"));
                ("WRONG ANSWER", d.clone())
            }
        };
        *self.classes.entry(class).or_default() += 1;
        if !detail.is_empty() {
            *self.details.entry(format!("{class}: {detail}")).or_default() += 1;
        }
    }

    fn print(&self, title: &str, elapsed: Duration) {
        let total: u64 = self.classes.values().sum();
        println!("{title}: {total} flips in {:.1} s", elapsed.as_secs_f64());
        for (class, n) in &self.classes {
            println!("{title}:   {class}: {n}");
        }
        for (detail, n) in &self.details {
            println!("{title}:     {detail}: {n}");
        }
    }
}

/// A closed chain database of about 60 active blocks with records from
/// three doctors, side branches (one of which took over in a
/// reorganisation), and an undo; with its probe and undamaged answers.
fn flip_fixture(db: &TempDb) -> (Probe, Vec<String>) {
    let doctors = [
        SigningKey::generate(Curve::Secp256k1).unwrap(),
        SigningKey::generate(Curve::P256).unwrap(),
        SigningKey::generate(Curve::Secp256k1).unwrap(),
    ];
    let mut nonces = [0u64; 3];
    let mut txids = Vec::new();
    let mut record = |d: usize, patient: u8| {
        nonces[d] += 1;
        let r = Record::sign(&doctors[d], &[patient; 20], "Amoxicillin 500mg, 3x daily", nonces[d]).unwrap();
        txids.push(r.txid);
        r
    };
    // A window wide enough that side branches forking 40 blocks below the
    // tip are still competitors (SPEC 5) and are stored.
    let mut chain = Chain::open(&db.0, Some(ChainParams { window: 100, ..params() })).unwrap();
    let mut main: Vec<Block> = Vec::new();
    for i in 0..50u64 {
        let records = (0..(i % 3)).map(|k| record(((i + k) % 2) as usize, (i % 7) as u8)).collect();
        main.push(block_on(main.last(), 1, records));
    }
    chain.add_blocks(&main, None, &BatchOptions::default()).unwrap();
    // Short side branches that stay side branches.
    for at in [10usize, 30] {
        let a = block_on(Some(&main[at]), 3, vec![]);
        let b = block_on(Some(&a), 3, vec![]);
        assert_eq!(chain.add_block(&a, None), Ok(AddOutcome::SideBranch));
        assert_eq!(chain.add_block(&b, None), Ok(AddOutcome::SideBranch));
    }
    // A heavier branch from height 40, with the third doctor's records.
    let mut branch: Vec<Block> = Vec::new();
    for i in 0..13u8 {
        let records = if i % 2 == 0 { vec![record(2, i % 7)] } else { vec![] };
        branch.push(block_on(branch.last().or(Some(&main[40])), 4, records));
    }
    let outcomes = chain.add_blocks(&branch, None, &BatchOptions::default()).unwrap();
    assert!(outcomes.contains(&AddOutcome::Reorganized), "{outcomes:?}");
    // Two more, then undo one.
    let mut top = branch.last().unwrap().clone();
    for _ in 0..2 {
        top = block_on(Some(&top), 5, vec![record(2, 6)]);
        chain.add_block(&top, None).unwrap();
    }
    chain.undo_last_block().unwrap();
    let len = chain.len().unwrap();
    assert_eq!(len, 55);
    txids.push(Hash256::from_bytes([0xab; 32]));
    let probe = Probe {
        users: doctors.iter().map(|d| d.public_key_hash()).chain((1..=5).map(|m| Hash160::from_bytes([m; 20]))).collect(),
        patients: (0..8).map(|p| Hash160::from_bytes([p; 20])).collect(),
        doctors: doctors.iter().map(|d| d.public_key_hash()).collect(),
        txids,
        heights: len,
    };
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
    let expected = answers(&chain, &probe).unwrap();
    drop(chain);
    assert!(!db.with("-wal").exists(), "a clean close leaves no WAL");
    (probe, expected)
}

fn page_size(file: &[u8]) -> usize {
    match u16::from_be_bytes([file[16], file[17]]) {
        1 => 65536,
        n => usize::from(n),
    }
}

fn db_flip_campaign(flips: u64, seed: u64) {
    let started = Instant::now();
    let original = TempDb::new("flip-original");
    let (probe, expected) = flip_fixture(&original);
    let bytes = std::fs::read(&original.0).unwrap();
    let page = page_size(&bytes);
    let pages = bytes.len() / page;
    assert_eq!(bytes[20], 8, "8 reserved bytes per page");
    let mut rng = Rng(seed);
    let mut tally = FlipTally::default();
    let copy = TempDb::new("flip-copy");
    for i in 0..flips {
        // Page i % pages, a random byte of it, a random non-zero change.
        let at = (i as usize % pages) * page + rng.below(page as u64) as usize;
        let xor = 1 + rng.below(255) as u8;
        let mut damaged = bytes.clone();
        damaged[at] ^= xor;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(copy.with(suffix));
        }
        std::fs::write(&copy.0, &damaged).unwrap();
        let (fate, _) = fate(&copy.0, &probe, &expected);
        tally.add(&fate, format!("page {} offset {} xor {xor:#04x}", at / page + 1, at % page));
    }
    tally.print(&format!("db flips ({pages} pages of {page} bytes)"), started.elapsed());
    assert!(tally.wrong.is_empty(), "wrong answers: {:#?}", tally.wrong);
}

/// `EMR_FLIPS` (default 300) single-byte flips over every page of a closed
/// chain database: each is refused at open, reported by a query or by
/// `check`, or changes no answer at all.
#[test]
fn byte_flips_in_the_database_are_reported_or_harmless() {
    db_flip_campaign(env_number("EMR_FLIPS", 300), env_number("EMR_FLIP_SEED", 0xf11b));
}

/// The long form: `EMR_FLIPS` (default 5000) flips.
#[test]
#[ignore = "long: thousands of flips; make durability"]
fn byte_flips_in_the_database_long() {
    db_flip_campaign(env_number("EMR_FLIPS", 5000), env_number("EMR_FLIP_SEED", 0xf11b_1009));
}

/// Where in a WAL file a byte is.
fn wal_region(at: usize, page: usize) -> &'static str {
    if at < 32 {
        "WAL header"
    } else if (at - 32) % (24 + page) < 24 {
        "frame header"
    } else {
        "page image"
    }
}

fn wal_flip_campaign(flips: u64, seed: u64) {
    const TEST: &str = "kill_9_loses_no_acknowledged_block";
    let started = Instant::now();
    let db = TempDb::new("wal");
    {
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        chain.add_block(&block_on(None, 1, vec![]), None).unwrap();
    }
    // A writer killed mid-write: its WAL holds the frames since the last
    // checkpoint, maybe a torn last one.
    let mut child = spawn_child(TEST, &[("EMR_KILL_WRITER", db.0.display().to_string()), ("EMR_KILL_SEED", seed.to_string())]);
    let lines = collect_lines(&mut child);
    wait_for(&lines, "ready");
    std::thread::sleep(Duration::from_millis(150 + seed % 100));
    child.kill().unwrap();
    child.wait().unwrap();
    let genesis = {
        let chain = Chain::open_readonly(&db.0);
        chain.ok().and_then(|c| c.block_at(0).ok().flatten()).map(|b| b.block_id.to_string())
    };
    let mut history: Vec<String> = genesis.into_iter().collect();
    let mut pending: Option<String> = None;
    let mut doctor = None;
    for line in lines.iter() {
        let words: Vec<&str> = line.split(' ').collect();
        match words[0] {
            "doctor" => doctor = Some(words[1].to_string()),
            "try" => pending = Some(words[4].to_string()),
            "ack" => history.push(pending.take().unwrap()),
            _ => {}
        }
    }
    let wal = std::fs::read(db.with("-wal")).expect("the killed writer left a WAL");
    let main = std::fs::read(&db.0).unwrap();
    assert!(wal.len() > 32, "an empty WAL");
    let page = page_size(&main);

    // The undamaged copy: the last acknowledged state, or the one in flight.
    let copy = TempDb::new("wal-copy");
    let restore = |wal: &[u8]| {
        let _ = std::fs::remove_file(copy.with("-shm"));
        std::fs::write(&copy.0, &main).unwrap();
        std::fs::write(copy.with("-wal"), wal).unwrap();
    };
    restore(&wal);
    let (probe, expected) = {
        let chain = Chain::open(&copy.0, None).unwrap();
        let tip = chain.tip().unwrap().unwrap().block_id.to_string();
        assert!(Some(&tip) == history.last() || Some(&tip) == pending.as_ref(), "undamaged WAL: tip {tip}");
        let mut users: Vec<Hash160> = (1..=255).map(|m| Hash160::from_bytes([m; 20])).collect();
        let doctors: Vec<Hash160> = doctor.iter().filter_map(|d| hex_hash160(d)).collect();
        users.extend(&doctors);
        let probe = Probe {
            users,
            patients: (0..5).map(|p| Hash160::from_bytes([p; 20])).collect(),
            doctors,
            txids: vec![Hash256::from_bytes([0xab; 32])],
            heights: chain.len().unwrap(),
        };
        assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
        let expected = answers(&chain, &probe).unwrap();
        (probe, expected)
    };
    let frames = (wal.len() - 32) / (24 + page);
    let mut rng = Rng(seed);
    let mut tally = FlipTally::default();
    let mut regions: BTreeMap<String, u64> = BTreeMap::new();
    let mut max_lost = 0;
    for _ in 0..flips {
        let at = rng.below(wal.len() as u64) as usize;
        let xor = 1 + rng.below(255) as u8;
        let mut damaged = wal.clone();
        damaged[at] ^= xor;
        restore(&damaged);
        let (mut fate, tip) = fate(&copy.0, &probe, &expected);
        if let (Fate::Wrong(_), Some(tip)) = (&fate, &tip) {
            // A clean chain at an earlier acknowledged tip: frames lost.
            if let Some(i) = history.iter().rposition(|t| t == tip) {
                let lost = (history.len() - 1 - i) as u64;
                max_lost = max_lost.max(lost);
                fate = Fate::EarlierState(lost);
            }
        }
        let class = match &fate {
            Fate::RefusedAtOpen(_) | Fate::ReportedByQuery(_) | Fate::ReportedByCheck(_) => "reported",
            Fate::Unchanged => "unchanged",
            Fate::EarlierState(_) => "earlier state",
            Fate::Wrong(_) => "WRONG",
        };
        *regions.entry(format!("{} -> {class}", wal_region(at, page))).or_default() += 1;
        if let Fate::EarlierState(lost) = fate {
            let bucket = match lost {
                0 => "0 (the unacknowledged operation in flight)",
                1 => "1",
                2..=5 => "2-5",
                6..=20 => "6-20",
                _ => "over 20",
            };
            *regions.entry(format!("acknowledged operations lost: {bucket}")).or_default() += 1;
            tally.add(&Fate::EarlierState(0), String::new());
        } else {
            tally.add(&fate, format!("WAL offset {at} ({}) xor {xor:#04x}", wal_region(at, page)));
        }
    }
    tally.details.retain(|d, _| !d.starts_with("earlier"));
    tally.print(&format!("WAL flips ({frames} frames, {} acknowledged operations)", history.len() - 1), started.elapsed());
    for (region, n) in &regions {
        println!("WAL flips:   {region}: {n}");
    }
    println!("WAL flips: the most acknowledged operations lost by one flip: {max_lost}");
    assert!(tally.wrong.is_empty(), "wrong answers: {:#?}", tally.wrong);
}

fn hex_hash160(text: &str) -> Option<Hash160> {
    let bytes: Vec<u8> =
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect::<Option<_>>()?;
    Hash160::from_slice(&bytes)
}

/// `EMR_WAL_FLIPS` (default 150) single-byte flips in the WAL a killed
/// writer left: each is reported, changes nothing, or (a damaged committed
/// frame, which SQLite's recovery drops with every frame after it) leaves
/// a clean earlier acknowledged state; never any other answer.
#[test]
fn byte_flips_in_the_wal_of_a_killed_writer() {
    wal_flip_campaign(env_number("EMR_WAL_FLIPS", 150), env_number("EMR_FLIP_SEED", 0x3a1));
}

/// The long form: `EMR_WAL_FLIPS` (default 2000) flips.
#[test]
#[ignore = "long: thousands of WAL flips; make durability"]
fn byte_flips_in_the_wal_long() {
    wal_flip_campaign(env_number("EMR_WAL_FLIPS", 2000), env_number("EMR_FLIP_SEED", 0x3a1_1009));
}

// ---------------------------------------------------------------------------
// A reader process beside the writer.

/// The reader child: loops `len`, `tip` and `block_at(tip)` on a read-only
/// handle until `<db>.stop` exists, printing each tip and block it sees
/// (when it changes) and, at the end, how many loops it made.
fn reader(path: &str) {
    let mut out = std::io::stdout();
    let stop = PathBuf::from(format!("{path}.stop"));
    let chain = Chain::open_readonly(path).unwrap();
    say(&mut out, format_args!("\nready"));
    let (mut loops, mut last_tip, mut last_block) = (0u64, String::new(), String::new());
    // A time limit too, in case the parent died without saying stop.
    let started = Instant::now();
    while !stop.exists() && started.elapsed() < Duration::from_secs(120) {
        loops += 1;
        let len = chain.len().unwrap();
        let Some(tip) = chain.tip().unwrap() else { continue };
        assert!(tip.height + 1 >= len.min(tip.height + 1));
        let tip_text = format!("{} {}", tip.height, tip.block_id);
        if tip_text != last_tip {
            say(&mut out, format_args!("tip {tip_text}"));
            last_tip = tip_text;
        }
        // A separate read: the writer may have moved on, so the block at
        // that height may be another, or gone. Whatever is returned must
        // be a whole block that hashes to its id, at that height.
        if let Some(block) = chain.block_at(tip.height).unwrap() {
            assert_eq!(block.calculate_block_id(), block.block_id);
            assert_eq!(block.height, tip.height);
            let text = format!("{} {}", block.height, block.block_id);
            if text != last_block {
                say(&mut out, format_args!("block {text}"));
                last_block = text;
            }
        }
    }
    say(&mut out, format_args!("loops {loops}"));
}

/// A reader in another process sees only committed, whole blocks: every
/// tip it sees is one the writer acknowledged as a tip (never a block in
/// the middle of a batch, never a half-done reorganisation), and every
/// block it reads hashes to its id and was acknowledged by the writer.
#[test]
fn a_reader_process_sees_only_acknowledged_blocks() {
    if let Ok(path) = std::env::var("EMR_READER") {
        reader(&path);
        return;
    }
    let db = TempDb::new("reader");
    let mut writer = Chain::open(&db.0, Some(params())).unwrap();
    let genesis = block_on(None, 1, vec![]);
    writer.add_block(&genesis, None).unwrap();
    let mut tips = std::collections::HashSet::from([format!("0 {}", genesis.block_id)]);
    let mut blocks = std::collections::HashSet::from([format!("0 {}", genesis.block_id)]);
    let mut child = spawn_child("a_reader_process_sees_only_acknowledged_blocks", &[("EMR_READER", db.0.display().to_string())]);
    let lines = collect_lines(&mut child);
    wait_for(&lines, "ready");

    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let mut tip = genesis;
    let mut rng = Rng(7);
    let started = Instant::now();
    let rounds = env_number("EMR_READER_ROUNDS", 400);
    for round in 0..rounds {
        let batch: Vec<Block> = if round % 10 == 9 && tip.height > 3 {
            // A heavier branch from two below the tip, in one batch.
            let fork = writer.block_at(tip.height - 2).unwrap().unwrap();
            let mut branch: Vec<Block> = Vec::new();
            for _ in 0..4 {
                let mut b = block_on(branch.last().or(Some(&fork)), 3, vec![]);
                b.timestamp += round;
                b.block_id = b.calculate_block_id();
                branch.push(b);
            }
            branch
        } else {
            let n = if round % 3 == 0 { 5 } else { 1 };
            let mut out: Vec<Block> = Vec::new();
            let mut nonce = writer.user_state(&doctor.public_key_hash()).unwrap().nonce;
            for _ in 0..n {
                nonce += 1;
                let record = Record::sign(&doctor, &[rng.below(4) as u8; 20], "beside a reader", nonce).unwrap();
                out.push(block_on(out.last().or(Some(&tip)), 1, vec![record]));
            }
            out
        };
        if batch.len() == 1 {
            writer.add_block(&batch[0], None).unwrap();
        } else {
            writer.add_blocks(&batch, None, &BatchOptions::default()).unwrap();
        }
        tip = batch.last().unwrap().clone();
        // Acknowledged: the batch's blocks, and its last as the tip.
        for b in &batch {
            blocks.insert(format!("{} {}", b.height, b.block_id));
        }
        tips.insert(format!("{} {}", tip.height, tip.block_id));
    }
    let writing = started.elapsed();
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(format!("{}.stop", db.0.display()), b"").unwrap();
    let status = child.wait().unwrap();
    let _ = std::fs::remove_file(format!("{}.stop", db.0.display()));
    assert!(status.success(), "the reader failed: {status}");
    let (mut seen_tips, mut seen_blocks, mut loops) = (0, 0, 0);
    for line in lines.iter() {
        if let Some(t) = line.strip_prefix("tip ") {
            assert!(tips.contains(t), "the reader saw tip {t}, which the writer never acknowledged as a tip");
            seen_tips += 1;
        } else if let Some(b) = line.strip_prefix("block ") {
            assert!(blocks.contains(b), "the reader read block {b}, which the writer never acknowledged");
            seen_blocks += 1;
        } else if let Some(n) = line.strip_prefix("loops ") {
            loops = n.parse().unwrap();
        }
    }
    println!(
        "reader beside writer: {rounds} writes ({} tips) in {:.1} s; the reader made {loops} loops, saw {seen_tips} tips and {seen_blocks} blocks, all acknowledged",
        tips.len(),
        writing.as_secs_f64()
    );
    assert!(seen_tips > 1 && loops > 10, "the reader saw too little to mean anything");
}

//! The power-loss campaigns (docs/DURABILITY.md): a workload run once under
//! the recorder, then many crash points, each reopened through the real VFS.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Disk, Event, Fates, Recording, Rng};
use crate::chain::{AddOutcome, BatchOptions, Chain, ChainParams, SALT_LEN};
use crate::entry::{Entry, Grant, Revocation};
use crate::hash::{Hash160, Hash256};
use crate::pow::Difficulty;
use crate::{Block, Curve, Record, SigningKey};

const T0: u64 = 1_700_000_000;

/// A directory in memory when the machine has `/dev/shm` (a crash point
/// costs a few fsyncs, which a virtual disk makes milliseconds each), in
/// the temporary directory otherwise, or in `EMR_CRASH_DIR`; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str, seed: u64) -> Scratch {
        let shm = Path::new("/dev/shm");
        let base = match std::env::var_os("EMR_CRASH_DIR") {
            Some(dir) => PathBuf::from(dir),
            None if shm.is_dir() => shm.to_path_buf(),
            None => std::env::temp_dir(),
        };
        let dir = base.join(format!("emr-crash-{tag}-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Who acts in the workload: one authority; a doctor granted in the genesis
/// block who writes blocks directly; two doctors granted through the pool
/// who submit records to it (one of them revoked, at random, later).
struct Cast {
    params: ChainParams,
    authority: SigningKey,
    direct: SigningKey,
    pooled: [SigningKey; 2],
    patients: [Hash160; 3],
}

impl Cast {
    fn new() -> Cast {
        let authority = SigningKey::generate(Curve::Secp256k1).unwrap();
        let params = ChainParams {
            initial_difficulty: Difficulty::MIN,
            window: 3,
            salt: Some([7; SALT_LEN]),
            authorities: vec![*authority.public_key()],
            ..ChainParams::default()
        };
        let doctor = || SigningKey::generate(Curve::Secp256k1).unwrap();
        Cast {
            params,
            authority,
            direct: doctor(),
            pooled: [doctor(), doctor()],
            patients: [Hash160::from_bytes([1; 20]), Hash160::from_bytes([2; 20]), Hash160::from_bytes([3; 20])],
        }
    }

    fn chain_id(&self) -> Hash256 {
        self.params.chain_id().unwrap()
    }

    fn grant(&self, doctor: &SigningKey, licence: &str) -> Entry {
        Grant::sign(&self.authority, self.chain_id(), doctor.public_key_der(), licence, 0, u64::MAX).unwrap().into()
    }

    /// Every answer the workload can change, as text: compared whole after
    /// a crash with the state an acknowledged operation left.
    fn state(&self, chain: &Chain) -> String {
        let mut s = String::new();
        let len = chain.len().unwrap();
        let _ = write!(s, "len {len} ids {:?} work {:?} next {:?}", chain.active_ids_from(0, len).unwrap(),
            chain.total_difficulty().unwrap(), chain.next_difficulty().unwrap());
        let doctors = [&self.direct, &self.pooled[0], &self.pooled[1]];
        for d in doctors {
            let h = d.public_key_hash();
            let _ = write!(s, "\nuser {:?} grants {:?}", chain.user_state(&h).unwrap(), chain.grants(&h).unwrap());
            let records: Vec<_> = chain.doctor_records(&h).unwrap().into_iter().map(|e| (e.height, e.record.txid)).collect();
            let _ = write!(s, " records {records:?}");
        }
        for m in 1..=4u8 {
            let _ = write!(s, "\nminer {:?}", chain.user_state(&Hash160::from_bytes([m; 20])).unwrap());
        }
        for p in &self.patients {
            let history: Vec<_> = chain.patient_history(p).unwrap().into_iter().map(|e| (e.height, e.record.txid)).collect();
            let _ = write!(s, "\nhistory {history:?}");
        }
        let pending: Vec<_> = chain.pending().unwrap().into_iter().map(|r| r.txid).collect();
        let entries: Vec<_> = chain.pending_entries().unwrap().iter().map(Entry::entry_id).collect();
        let conflicts: Vec<_> = chain.conflicts().unwrap().into_iter().map(|c| (c.record.txid, c.replaced_by)).collect();
        let _ = write!(s, "\npool {pending:?} entries {entries:?} conflicts {conflicts:?}");
        s
    }
}

/// A block on `parent` (genesis for `None`), at least 12 s later: the
/// difficulty stays at its minimum, which every id meets.
fn block_on(parent: Option<&Block>, miner: u8, records: Vec<Record>, entries: Vec<Entry>, late: u64) -> Block {
    let (previous, height, timestamp) = match parent {
        Some(p) => (p.block_id, p.height + 1, p.timestamp + 12 + late),
        None => (Hash256::from_bytes([0; 32]), 0, T0),
    };
    let mut block = Block {
        previous,
        height,
        miner: Hash160::from_bytes([miner; 20]),
        records,
        entries,
        timestamp,
        difficulty: Difficulty::MIN,
        block_id: Hash256::from_bytes([0; 32]),
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

fn tip_block(chain: &Chain) -> Option<Block> {
    chain.tip().unwrap().map(|t| chain.block_at(t.height).unwrap().unwrap())
}

/// What the workload did: its log, and after each operation its kind and
/// the state it left.
struct Run {
    cast: Cast,
    log: Vec<Event>,
    kinds: Vec<&'static str>,
    states: Vec<String>,
}

/// The workload: `ops` operations on a new chain in `dir`, recorded;
/// `reopen_percent` of them close the chain (a checkpoint, the WAL
/// deleted) and open it again.
fn record_run(dir: &Path, seed: u64, ops: usize, reopen_percent: u64) -> Run {
    let cast = Cast::new();
    let mut rng = Rng(seed);
    let recording = Recording::start(dir);
    let path = dir.join("chain.db");
    let mut kinds: Vec<&'static str> = Vec::new();
    let mut states = Vec::new();
    let mut chain: Option<Chain>;
    let mut side_doctors = 0u64;
    // Runs one operation between its marks and notes the state it left.
    macro_rules! op {
        ($kind:expr, $body:expr) => {{
            recording.mark(Event::Begin(kinds.len()));
            let result = $body;
            recording.mark(Event::Ack(kinds.len()));
            kinds.push($kind);
            states.push(cast.state(chain.as_ref().unwrap()));
            result
        }};
    }
    op!("create", chain = Some(Chain::open(&path, Some(cast.params.clone())).unwrap()));
    let genesis = block_on(None, 1, vec![], vec![cast.grant(&cast.direct, "direct")], 0);
    op!("extend", assert_eq!(chain.as_mut().unwrap().add_block(&genesis, None), Ok(AddOutcome::Extended)));
    let entries = vec![cast.grant(&cast.pooled[0], "pool 0"), cast.grant(&cast.pooled[1], "pool 1")];
    for entry in &entries {
        op!("submit-entry", chain.as_mut().unwrap().submit_entry_at(entry, T0).unwrap());
    }
    while kinds.len() < ops {
        let c = chain.as_mut().unwrap();
        let tip = tip_block(c).unwrap();
        let len = tip.height + 1;
        let now = tip.timestamp + 1;
        let roll = if rng.below(100) < reopen_percent { 100 } else { rng.below(96) };
        match roll {
            0..=17 => {
                let nonce = c.user_state(&cast.direct.public_key_hash()).unwrap().nonce;
                let records = (1..=rng.below(3))
                    .map(|i| Record::sign(&cast.direct, cast.patients[(i % 3) as usize].as_bytes(), "direct", nonce + i).unwrap())
                    .collect();
                let block = block_on(Some(&tip), 1, records, vec![], rng.below(30));
                op!("extend", assert_eq!(c.add_block(&block, None), Ok(AddOutcome::Extended)));
            }
            18..=29 => {
                let mut nonce = c.user_state(&cast.direct.public_key_hash()).unwrap().nonce;
                let mut blocks: Vec<Block> = Vec::new();
                for _ in 0..2 + rng.below(5) {
                    let records = (0..rng.below(3))
                        .map(|_| {
                            nonce += 1;
                            Record::sign(&cast.direct, cast.patients[(nonce % 3) as usize].as_bytes(), "batch", nonce).unwrap()
                        })
                        .collect();
                    let parent = blocks.last().unwrap_or(&tip).clone();
                    blocks.push(block_on(Some(&parent), 2, records, vec![], rng.below(30)));
                }
                let outcomes = op!("batch", c.add_blocks(&blocks, None, &BatchOptions::default()).unwrap());
                assert!(outcomes.iter().all(|o| *o == AddOutcome::Extended), "{outcomes:?}");
            }
            30..=47 if len >= 3 => {
                // A heavier branch from 1-3 blocks below the tip (never below
                // height 1: the direct doctor's grant stays), whose first
                // block grants a new doctor and carries their record.
                let depth = 1 + rng.below(3.min(len - 2));
                let fork = c.block_at(len - 1 - depth).unwrap().unwrap();
                side_doctors += 1;
                let side = SigningKey::generate(Curve::Secp256k1).unwrap();
                let first = block_on(
                    Some(&fork),
                    3,
                    vec![Record::sign(&side, cast.patients[2].as_bytes(), "side", 1).unwrap()],
                    vec![cast.grant(&side, &format!("side {side_doctors}"))],
                    rng.below(30),
                );
                let mut branch = vec![first];
                while (branch.len() as u64) < depth + 1 {
                    let parent = branch.last().unwrap().clone();
                    branch.push(block_on(Some(&parent), 3, vec![], vec![], rng.below(30)));
                }
                if rng.below(2) == 0 {
                    let (last, sides) = branch.split_last().unwrap();
                    for b in sides {
                        op!("side", assert_eq!(chain.as_mut().unwrap().add_block(b, None), Ok(AddOutcome::SideBranch)));
                    }
                    op!("reorg", assert_eq!(chain.as_mut().unwrap().add_block(last, None), Ok(AddOutcome::Reorganized)));
                } else {
                    let outcomes = op!("batch-reorg", c.add_blocks(&branch, None, &BatchOptions::default()).unwrap());
                    assert_eq!(outcomes.last(), Some(&AddOutcome::Reorganized));
                }
            }
            48..=55 if len >= 3 => {
                op!("undo", assert_eq!(c.undo_last_block().unwrap().block_id, tip.block_id));
            }
            56..=72 => {
                // A pooled doctor's next record (refused, and so no change,
                // once that doctor is revoked).
                let doctor = &cast.pooled[rng.below(2) as usize];
                let h = doctor.public_key_hash();
                let pending = c.pending().unwrap().iter().filter(|r| r.dr_hash == h).count() as u64;
                let nonce = c.user_state(&h).unwrap().nonce + pending + 1;
                let record = Record::sign(doctor, cast.patients[rng.below(3) as usize].as_bytes(), "pooled", nonce).unwrap();
                let _ = op!("submit", c.submit_at(&record, now));
            }
            73..=76 => {
                let doctor = &cast.pooled[rng.below(2) as usize];
                let grant = c.grants(&doctor.public_key_hash()).unwrap().into_iter().find(|g| g.revoked_effective.is_none());
                let entry: Entry = match grant {
                    Some(g) => Revocation::sign(&cast.authority, cast.chain_id(), g.grant.grant_id(), now).unwrap().into(),
                    None => cast.grant(doctor, &format!("again {}", kinds.len())),
                };
                let _ = op!("submit-entry", c.submit_entry_at(&entry, now));
            }
            77..=91 => {
                let t = c.template(&Hash160::from_bytes([4; 20]), tip.timestamp + 12 + rng.below(30)).unwrap();
                let mut block = block_on(Some(&tip), 4, t.records, t.entries, 0);
                block.timestamp = t.timestamp;
                block.block_id = block.calculate_block_id();
                op!("mine-pool", assert_eq!(c.add_block(&block, None), Ok(AddOutcome::Extended)));
            }
            92..=95 => {
                let conflicts = c.conflicts().unwrap();
                if let Some(first) = conflicts.first() {
                    op!("dismiss", assert!(c.dismiss_conflict(&first.record.txid).unwrap()));
                }
            }
            100 => {
                // Close (a checkpoint, and the WAL deleted) and open again.
                op!("reopen", {
                    drop(chain.take());
                    chain = Some(Chain::open(&path, None).unwrap());
                });
            }
            _ => {}
        }
    }
    drop(chain);
    Run { cast, log: recording.finish(), kinds, states }
}

/// What a crash point found.
#[derive(Default, Debug)]
struct Tally {
    points: u64,
    /// Where the power was cut: just before a sync of this file, a
    /// directory sync, or after the last event.
    cut_before: BTreeMap<String, u64>,
    /// Crash points with each operation in flight: (landed whole, not at all).
    in_flight: BTreeMap<&'static str, (u64, u64)>,
    between: u64,
    /// The chain file was missing after the crash (created, never synced).
    no_chain_file: u64,
    /// A WAL was there to recover.
    with_wal: u64,
    fates: Fates,
    acknowledged_ops: u64,
    reopens: u64,
    events: u64,
    barriers: u64,
    wal_frames_written: u64,
    /// WAL headers written (a new WAL, or one restarted after a checkpoint).
    wal_headers_written: u64,
    /// Syncs of the database file (checkpoints, and the rollback-journal
    /// transactions that create it).
    db_syncs: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.points += other.points;
        for (k, v) in other.cut_before {
            *self.cut_before.entry(k).or_default() += v;
        }
        for (k, (a, b)) in other.in_flight {
            let e = self.in_flight.entry(k).or_default();
            e.0 += a;
            e.1 += b;
        }
        self.between += other.between;
        self.no_chain_file += other.no_chain_file;
        self.with_wal += other.with_wal;
        let (f, o) = (&mut self.fates, other.fates);
        f.writes_kept += o.writes_kept;
        f.writes_dropped += o.writes_dropped;
        f.writes_torn += o.writes_torn;
        for i in 0..3 {
            f.sectors[i] += o.sectors[i];
        }
        f.truncates_kept += o.truncates_kept;
        f.truncates_dropped += o.truncates_dropped;
        f.dir_changes_kept += o.dir_changes_kept;
        f.dir_changes_lost += o.dir_changes_lost;
        self.acknowledged_ops += other.acknowledged_ops;
        self.reopens += other.reopens;
        self.events += other.events;
        self.barriers += other.barriers;
        self.wal_frames_written += other.wal_frames_written;
        self.wal_headers_written += other.wal_headers_written;
        self.db_syncs += other.db_syncs;
    }
}

/// Writes `files` into `dir` (emptied first), as a restart would find them.
fn materialize(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
}

/// Reopens the crashed chain in `dir` through the real VFS and requires:
/// it opens; its state is the one the last acknowledged operation left, or
/// the one the operation in flight would have left; `check` is clean; it
/// takes the next block. Returns whether the operation in flight landed.
fn verify(dir: &Path, run: &Run, acked: usize, in_flight: Option<usize>) -> Result<bool, String> {
    let mut chain = Chain::open(dir.join("chain.db"), Some(run.cast.params.clone())).map_err(|e| format!("reopen: {e}"))?;
    let state = run.cast.state(&chain);
    let before = &run.states[acked.saturating_sub(1)];
    let landed = match in_flight {
        Some(n) if state == run.states[n] && state != *before => true,
        _ if state == *before => false,
        _ => {
            return Err(format!(
                "{acked} operations acknowledged, in flight {:?}; the chain answers\n{state}\ninstead of\n{before}",
                in_flight.map(|n| run.kinds[n])
            ))
        }
    };
    let report = chain.check(&BatchOptions::default()).map_err(|e| format!("check: {e}"))?;
    if let Some(bad) = report.first_bad {
        return Err(format!("check: {bad:?}"));
    }
    let next = block_on(tip_block(&chain).as_ref(), 1, vec![], vec![], 7);
    match chain.add_block(&next, None) {
        Ok(AddOutcome::Extended) => Ok(landed),
        other => Err(format!("the next block: {other:?}")),
    }
}

/// Records one run of `ops` operations, then cuts the power at `points`
/// random barriers (with random fates), reopening after each.
fn campaign(seed: u64, ops: usize, reopen_percent: u64, points: u64) -> Tally {
    let recorded = Scratch::new("run", seed);
    let run = record_run(&recorded.0, seed, ops, reopen_percent);
    drop(recorded);
    let restart = Scratch::new("restart", seed);
    let mut rng = Rng(seed ^ 0x5eed);
    // Just before each sync (its writes pending), and just after (the
    // operation that synced not yet returned), and after the last event.
    let barriers: Vec<usize> = run
        .log
        .iter()
        .enumerate()
        .filter(|(_, e)| e.is_barrier())
        .flat_map(|(i, _)| [i, i + 1])
        .chain([run.log.len()])
        .collect();
    let mut cuts: Vec<usize> = (0..points).map(|_| barriers[rng.below(barriers.len() as u64) as usize]).collect();
    cuts.sort_unstable();
    let mut tally = Tally {
        acknowledged_ops: run.kinds.len() as u64,
        reopens: run.kinds.iter().filter(|k| **k == "reopen").count() as u64,
        events: run.log.len() as u64,
        barriers: barriers.len() as u64,
        wal_frames_written: run
            .log
            .iter()
            .filter(|e| matches!(e, Event::Write { name, data, .. } if name.ends_with("-wal") && data.len() == 24))
            .count() as u64,
        wal_headers_written: run
            .log
            .iter()
            .filter(|e| matches!(e, Event::Write { name, offset: 0, .. } if name.ends_with("-wal")))
            .count() as u64,
        db_syncs: run.log.iter().filter(|e| matches!(e, Event::Sync { name } if name == "chain.db")).count() as u64,
        ..Tally::default()
    };
    let mut disk = Disk::new(&run.log);
    let (mut applied, mut acked, mut in_flight) = (0usize, 0usize, None);
    for cut in cuts {
        while applied < cut {
            match run.log[applied] {
                Event::Begin(n) => in_flight = Some(n),
                Event::Ack(n) => {
                    assert_eq!(in_flight, Some(n));
                    (acked, in_flight) = (acked + 1, None);
                }
                _ => {}
            }
            disk.apply(applied);
            applied += 1;
        }
        let place = match (run.log.get(cut), cut.checked_sub(1).map(|i| &run.log[i])) {
            (Some(Event::Sync { name }), _) => format!("before sync {}", short(name)),
            (Some(Event::DirSync), _) => "before directory sync".into(),
            (_, Some(Event::Sync { name })) => format!("after sync {}", short(name)),
            (_, Some(Event::DirSync)) => "after directory sync".into(),
            _ => "the end".into(),
        };
        *tally.cut_before.entry(place).or_default() += 1;
        let files = disk.crash(&mut rng, &mut tally.fates);
        let chain_file = files.contains_key("chain.db");
        // A missing file reopens as a new, empty chain: the state a created
        // chain had, so the comparison below cannot see it.
        assert!(chain_file || acked == 0, "seed {seed}, cut before event {cut}: the chain file is gone after its creation returned");
        tally.no_chain_file += u64::from(!chain_file);
        tally.with_wal += u64::from(files.get("chain.db-wal").is_some_and(|w| !w.is_empty()));
        materialize(&restart.0, &files);
        match verify(&restart.0, &run, acked, in_flight) {
            Ok(landed) => match in_flight {
                Some(n) => {
                    let e = tally.in_flight.entry(run.kinds[n]).or_default();
                    if landed {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
                None => tally.between += 1,
            },
            Err(e) => panic!("seed {seed}, cut before event {cut} of {}: {e}", run.log.len()),
        }
        tally.points += 1;
    }
    tally
}

fn short(name: &str) -> &str {
    match name.trim_start_matches("chain.db").trim_start_matches('-') {
        "" => "db",
        other => other,
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn report(what: &str, tally: &Tally, elapsed: std::time::Duration) {
    eprintln!("{what}: {} crash points in {:.1} s", tally.points, elapsed.as_secs_f64());
    eprintln!("{tally:#?}");
}

/// The short form in `make test`: two runs (two tests, which the harness
/// runs side by side) of 1,000 crash points each.
fn short_campaign(seed: u64) {
    let start = std::time::Instant::now();
    let points = env_number("EMR_CRASH_POINTS", 1_000);
    let tally = campaign(env_number("EMR_CRASH_SEED", seed), 80, 8, points);
    report("power loss", &tally, start.elapsed());
    assert_eq!(tally.points, points);
    // The campaign reached every kind of operation and both verdicts.
    assert!(tally.in_flight.values().map(|v| v.0).sum::<u64>() > 0 && tally.in_flight.values().map(|v| v.1).sum::<u64>() > 0);
    assert!(tally.fates.writes_torn > 0 && tally.fates.dir_changes_lost > 0 && tally.no_chain_file > 0);
}

#[test]
fn power_loss_loses_no_acknowledged_operation() {
    short_campaign(1);
}

#[test]
fn power_loss_loses_no_acknowledged_operation_2() {
    short_campaign(2);
}

/// `make crash`: at least 100,000 crash points over 25 recorded runs of 150
/// operations (each long enough to pass SQLite's automatic checkpoint at
/// 1,000 WAL frames), two runs at a time.
#[test]
#[ignore]
fn power_loss_long() {
    let start = std::time::Instant::now();
    let points = env_number("EMR_CRASH_POINTS", 100_000);
    let runs = env_number("EMR_CRASH_RUNS", 25);
    let ops = env_number("EMR_CRASH_OPS", 150) as usize;
    // Another campaign's runs (seeds) when split over processes.
    let first = env_number("EMR_CRASH_FIRST_RUN", 0);
    let next = std::sync::atomic::AtomicU64::new(first);
    let total = std::sync::Mutex::new(Tally::default());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let run = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if run >= first + runs {
                    break;
                }
                let tally = campaign(1000 + run, ops, 1, points.div_ceil(runs));
                // Each run's figures as it ends, so that a stopped campaign
                // still tells what it found.
                eprintln!("run {run}: {tally:?}");
                total.lock().unwrap().add(tally);
            });
        }
    });
    let total = total.into_inner().unwrap();
    report("power loss (long)", &total, start.elapsed());
    assert!(total.points >= points);
}

/// The database's own creation: the writer lock creates the empty file
/// without syncing its directory; SQLite's first sync of the new WAL syncs
/// it (`unixSync`'s one-time directory sync). So when `open` returns, a power
/// cut can no longer take the new chain file away.
#[test]
fn a_new_chain_file_is_durable_in_its_directory_when_open_returns() {
    let dir = Scratch::new("create", 0);
    let recording = Recording::start(&dir.0);
    let chain = Chain::open(dir.0.join("chain.db"), Some(Cast::new().params)).unwrap();
    let log = recording.finish();
    drop(chain);
    let mut disk = Disk::new(&log);
    let mut synced_before = None;
    for (i, event) in log.iter().enumerate() {
        disk.apply(i);
        if matches!(event, Event::DirSync) && synced_before.is_none() {
            synced_before = Some(disk.durable_names.contains_key("chain.db"));
        }
    }
    assert_eq!(synced_before, Some(true), "the first directory sync comes after the file's creation");
    assert!(disk.durable_names.contains_key("chain.db") && disk.dir_unsynced.iter().all(|(n, _)| n != "chain.db"));
    // And the journal SQLite deleted after the first transactions is gone
    // for good: no hot journal can come back and roll them back.
    assert!(!disk.durable_names.contains_key("chain.db-journal"));
}

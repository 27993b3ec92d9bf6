//! Full and failing disks (docs/DURABILITY.md, "Full and failing disks"):
//! the chain's files fail at random points through the `faultfs` shim
//! (ENOSPC and EIO on writes and syncs, EIO and short reads on reads).
//! Every failed call is `io` naming the chain's file ("disk full" for
//! ENOSPC), nothing acknowledged is lost, the handle and a reopened chain
//! agree with what was acknowledged and pass `check`, and the same call
//! succeeds on the same handle once the disk works again.
//!
//! The shim is LD_PRELOAD'ed, so the campaign runs in a child process:
//! this test binary again, with `EMR_FAULT_ROLE` set. The seed is printed;
//! `EMR_FAULT_SEED` replays a run, `EMR_FAULT_ROUNDS` sets its length.

mod common;
#[path = "../../faultfs/faultfs.rs"]
mod faultfs;

use std::collections::BTreeMap;
use std::process::Command;

use emr_core::chain::{BatchOptions, Chain, ChainError, SubmitOutcome};
use emr_core::error::ErrorKind;
use emr_core::{AddOutcome, Block, Curve, Hash160, Record, SigningKey};

use common::*;
use faultfs::{Faults, Rng, MODES};

const ROLE: &str = "EMR_FAULT_ROLE";

#[test]
fn full_and_failing_disks_lose_nothing_and_say_why() {
    if std::env::var(ROLE).is_ok() {
        return campaign();
    }
    run_child("full_and_failing_disks_lose_nothing_and_say_why", 150);
}

/// The long form (`make durability`): `EMR_FAULT_ROUNDS`, 3000 by default.
#[test]
#[ignore]
fn full_and_failing_disks_long() {
    if std::env::var(ROLE).is_ok() {
        return campaign();
    }
    run_child("full_and_failing_disks_long", 3000);
}

fn run_child(test: &str, rounds: u64) {
    let dir = std::env::temp_dir().join(format!("emr-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let faults = Faults::new(&dir);
    let rounds = std::env::var("EMR_FAULT_ROUNDS").unwrap_or_else(|_| rounds.to_string());
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1", "--include-ignored"])
        .envs(faults.env())
        .env(ROLE, "child")
        .env("EMR_FAULT_ROUNDS", rounds)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&output.stdout);
    println!("{text}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the campaign failed (its output is above)");
    assert!(text.contains("campaign done"), "the child ran no campaign");
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Extend,
    Batch,
    Undo,
    Submit,
    History,
    Check,
    Reopen,
}

const OPS: [Op; 7] = [Op::Extend, Op::Batch, Op::Undo, Op::Submit, Op::History, Op::Check, Op::Reopen];

/// What was acknowledged: the active chain, and the submitted records.
struct Model {
    active: Vec<Block>,
    pending: u64,
}

struct World {
    dir: std::path::PathBuf,
    chain: Option<Chain>,
    writer: SigningKey,
    submitter: SigningKey,
    model: Model,
}

const PATIENT: [u8; 20] = [7; 20];

impl World {
    fn chain(&mut self) -> &mut Chain {
        self.chain.as_mut().unwrap()
    }

    /// Records in the active chain (all by `writer`, for `PATIENT`).
    fn records(&self) -> u64 {
        self.model.active.iter().map(|b| b.records.len() as u64).sum()
    }

    fn next_block(&self, parent: Option<&Block>, nonce: u64, records: usize) -> Block {
        let records = (0..records as u64).map(|i| Record::sign(&self.writer, &PATIENT, "Metformin 500mg", nonce + i + 1).unwrap()).collect();
        block_on(parent, 3, records)
    }

    fn blocks(&self, rng: &mut Rng, n: usize) -> Vec<Block> {
        let mut out: Vec<Block> = Vec::new();
        let mut nonce = self.records();
        for _ in 0..n {
            let parent = out.last().or(self.model.active.last()).cloned();
            let block = self.next_block(parent.as_ref(), nonce, 1 + rng.below(3) as usize);
            nonce += block.records.len() as u64;
            out.push(block);
        }
        out
    }

    /// The handle says what the model does.
    fn agrees(&mut self, when: &str) {
        let tip = self.model.active.last().map(|b| b.block_id);
        let len = self.model.active.len() as u64;
        let pending = self.model.pending;
        let records = self.records();
        let submitter = self.submitter.public_key_hash();
        let writer = self.writer.public_key_hash();
        let chain = self.chain();
        assert_eq!(chain.tip().unwrap().map(|t| t.block_id), tip, "{when}: tip");
        assert_eq!(chain.len().unwrap(), len, "{when}: len");
        // (An undone block's records go back to the pool too: only the
        // submitted ones are counted.)
        let submitted = chain.pending().unwrap().iter().filter(|r| r.dr_hash == submitter).count() as u64;
        assert_eq!(submitted, pending, "{when}: pending");
        // The writer's nonce counts its records in the active chain (the
        // history itself is read by the History op and on reopening).
        assert_eq!(chain.user_state(&writer).unwrap().nonce, records, "{when}: the writer's nonce");
    }

    /// Reopened from the file: every acknowledged block at its height, the
    /// pool as acknowledged, `check` clean.
    fn reopened(&mut self, when: &str) {
        self.chain = None;
        self.chain = Some(Chain::open(&self.dir, None).unwrap_or_else(|e| panic!("{when}: reopen: {e}")));
        let report = self.chain().check(&BatchOptions::default()).unwrap_or_else(|e| panic!("{when}: check: {e}"));
        assert!(report.first_bad.is_none(), "{when}: check: {report:?}");
        for block in self.model.active.clone() {
            let stored = self.chain().block_at(block.height).unwrap();
            assert_eq!(stored.map(|b| b.block_id), Some(block.block_id), "{when}: block at {}", block.height);
        }
        let records = self.records();
        let history = self.chain().patient_history(&Hash160::from_bytes(PATIENT)).unwrap();
        assert_eq!(history.len() as u64, records, "{when}: history");
        self.agrees(when);
    }
}

/// An error of a call in flight on a failing disk: `io`, naming the file.
fn failed_as_io(error: &ChainError, file: &std::path::Path, mode: &str, when: &str) {
    assert_eq!(error.kind(), ErrorKind::Io, "{when}: {error}");
    let text = error.to_string();
    assert!(text.contains(&file.display().to_string()), "{when}: the error does not name {}: {text}", file.display());
    if mode == "enospc" {
        assert!(text.contains("disk full") || text.contains("disk I/O error"), "{when}: {text}");
    }
}

fn campaign() {
    let mut faults = Faults::from_env();
    let seed = faultfs::seed();
    let rounds: u64 = std::env::var("EMR_FAULT_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(150);
    println!("fault campaign: seed {seed} (EMR_FAULT_SEED={seed} replays it), {rounds} rounds");
    let mut rng = Rng(seed);
    // (op, mode) -> [succeeded with no fault met, succeeded through faults, failed as io]
    let mut outcomes: BTreeMap<(Op, &str), [u64; 3]> = BTreeMap::new();
    let mut messages: BTreeMap<String, u64> = BTreeMap::new();
    let mut blocks = 0;
    // A fresh chain every CHAIN_ROUNDS rounds (in a new directory under the
    // failing one), so that a long campaign's rounds stay as cheap as the
    // first ones.
    const CHAIN_ROUNDS: u64 = 150;
    for start in (0..rounds).step_by(CHAIN_ROUNDS as usize) {
        let dir = faults.dir.join(format!("chain-{start}"));
        std::fs::create_dir(&dir).unwrap();
        let mut world = World {
            chain: Some(Chain::open(&dir, Some(params())).unwrap()),
            dir,
            writer: SigningKey::generate(Curve::P256).unwrap(),
            submitter: SigningKey::generate(Curve::P256).unwrap(),
            model: Model { active: Vec::new(), pending: 0 },
        };
        let genesis = world.next_block(None, 0, 1);
        assert_eq!(world.chain().add_block(&genesis, None).unwrap(), AddOutcome::Extended);
        world.model.active.push(genesis);
        let end = (start + CHAIN_ROUNDS).min(rounds);
        chain_rounds(&mut world, &mut faults, &mut rng, start..end, &mut outcomes, &mut messages);
        world.reopened("the end");
        blocks += world.model.active.len();
    }
    println!("outcomes (op, mode: no fault met / through faults / failed as io):");
    for ((op, mode), [clean, through, failed]) in &outcomes {
        println!("  {op:?} {mode}: {clean} / {through} / {failed}");
    }
    println!("errors by message:");
    for (message, n) in &messages {
        println!("  {n:5}  {message}");
    }
    println!("faults injected: {}; blocks acknowledged and kept: {blocks}", faults.injected());
    println!("campaign done");
}

fn chain_rounds(
    world: &mut World,
    faults: &mut Faults,
    rng: &mut Rng,
    rounds: std::ops::Range<u64>,
    outcomes: &mut BTreeMap<(Op, &'static str), [u64; 3]>,
    messages: &mut BTreeMap<String, u64>,
) {
    let file = world.dir.join("chain.db");
    for round in rounds {
        let op = OPS[rng.below(OPS.len() as u64) as usize];
        let mode = MODES[rng.below(MODES.len() as u64) as usize];
        let after = match mode {
            "eio-sync" | "enospc-sync" => rng.below(4),
            "eio-read" | "short-read" => rng.below(96 * 1024),
            _ => rng.below(48 * 1024),
        };
        // A sector that fails to read stays failed until the disk is
        // fixed (SQLite reports a read error that does not recur as
        // corruption: see ChainError::in_file).
        let count = if mode == "eio-read" { 0 } else { rng.below(3) };
        let when = format!("round {round} ({op:?} under {mode} after {after}, count {count})");
        let before = faults.injected();
        faults.arm(mode, after, count);
        let result = attempt(world, rng, op);
        faults.off();
        let met = faults.injected() > before;
        let slot = outcomes.entry((op, mode)).or_default();
        match result {
            Ok(()) => slot[usize::from(met)] += 1,
            Err(error) => {
                assert!(met, "{when}: failed with no fault injected: {error}");
                assert_ne!(mode, "short-read", "{when}: a short read must be read on, not fail: {error}");
                failed_as_io(&error, &file, mode, &when);
                let text = error.to_string();
                // The message without the path and SQLite's own words, with
                // the SQLite code when the message says no more.
                let rest = text.split_once(&format!("{}: ", file.display())).map_or(text.as_str(), |(_, rest)| rest);
                let mut gist = rest.split(" (").next().unwrap_or("").to_owned();
                if let Some((_, code)) = rest.split_once("SQLite code ") {
                    gist = format!("{gist} (SQLite code {}", code.trim_end_matches(')')) + ")";
                }
                *messages.entry(gist).or_default() += 1;
                slot[2] += 1;
                if world.chain.is_none() {
                    // A failed open: the disk works again, the chain opens.
                    world.chain = Some(Chain::open(&world.dir, None).unwrap_or_else(|e| panic!("{when}: reopen: {e}")));
                }
                world.agrees(&format!("{when}, after the failure"));
                // The same call on the same handle, the disk working again.
                attempt(world, rng, op).unwrap_or_else(|e| panic!("{when}: the retry failed: {e}"));
            }
        }
        world.agrees(&when);
        if round % 25 == 24 {
            world.reopened(&when);
        }
    }
}

/// One operation; the model follows what was acknowledged.
fn attempt(world: &mut World, rng: &mut Rng, op: Op) -> Result<(), ChainError> {
    match op {
        Op::Extend => {
            let block = world.blocks(rng, 1).remove(0);
            let outcome = world.chain().add_block(&block, None)?;
            assert_eq!(outcome, AddOutcome::Extended);
            world.model.active.push(block);
        }
        Op::Batch => {
            let n = 2 + rng.below(5) as usize;
            let blocks = world.blocks(rng, n);
            match world.chain().add_blocks(&blocks, None, &BatchOptions::default()) {
                Ok(outcomes) => {
                    assert!(outcomes.iter().all(|o| *o == AddOutcome::Extended), "{outcomes:?}");
                    world.model.active.extend(blocks);
                }
                Err(e) => {
                    // The blocks before the failed one are kept, as the call says.
                    assert!(e.added.iter().all(|o| *o == AddOutcome::Extended), "{:?}", e.added);
                    world.model.active.extend(blocks.into_iter().take(e.added.len()));
                    return Err(e.error);
                }
            }
        }
        Op::Undo => {
            if world.model.active.len() > 1 {
                let undone = world.chain().undo_last_block()?;
                assert_eq!(Some(undone.block_id), world.model.active.last().map(|b| b.block_id));
                world.model.active.pop();
            }
        }
        Op::Submit => {
            let nonce = world.model.pending + 1;
            let record = Record::sign(&world.submitter, &[8; 20], "Amoxicillin 500mg", nonce).unwrap();
            assert_eq!(world.chain().submit(&record)?, SubmitOutcome::Ready);
            world.model.pending = nonce;
        }
        Op::History => {
            let want = world.records();
            let got = world.chain().patient_history(&Hash160::from_bytes(PATIENT))?;
            assert_eq!(got.len() as u64, want, "a history read on a failing disk answered wrongly");
        }
        Op::Check => {
            let report = world.chain().check(&BatchOptions::default())?;
            assert!(report.first_bad.is_none(), "{report:?}");
        }
        Op::Reopen => {
            world.chain = None;
            world.chain = Some(Chain::open(&world.dir, None)?);
        }
    }
    Ok(())
}

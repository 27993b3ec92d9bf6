//! The pool: submit (ordering, gaps, duplicates, refusals),
//! templates, sealing and returning with blocks, restarts; `mine_next`,
//! its outcomes and its race with an incoming block.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use emr_core::chain::{Chain, ChainError, ChainParams, MineNextOutcome, SharedChain, SubmitOutcome};
use emr_core::mining::{mine_block, BlockTemplate, CancelHandle, MineOutcome, SearchOptions};
use emr_core::{
    calculate_txid, AddOutcome, Block, Curve, Difficulty, ErrorKind, Hash160, Hash256, Record, SigningKey,
};

use common::*;

const MINER: Hash160 = Hash160::from_bytes([9; 20]);

fn key() -> SigningKey {
    SigningKey::generate(Curve::Secp256k1).unwrap()
}

fn rec(key: &SigningKey, nonce: u64) -> Record {
    Record::sign(key, &[7; 20], &format!("rx {nonce}"), nonce).unwrap()
}

/// The block of a template at difficulty 1 (every id meets it).
fn block_of(t: &BlockTemplate) -> Block {
    assert_eq!(t.difficulty, Difficulty::MIN);
    let mut b = Block {
        previous: t.previous,
        height: t.height,
        miner: t.miner,
        records: t.records.clone(),
        entries: Vec::new(),
        timestamp: t.timestamp,
        difficulty: t.difficulty,
        block_id: ZERO,
        nonce: 0,
    };
    b.block_id = b.calculate_block_id();
    b
}

fn kind<T: std::fmt::Debug>(r: Result<T, ChainError>) -> ErrorKind {
    r.unwrap_err().kind()
}

fn nonces_of(records: &[Record], doctor: &SigningKey) -> Vec<u64> {
    let hash = doctor.public_key_hash();
    records.iter().filter(|r| r.dr_hash == hash).map(|r| r.nonce).collect()
}

#[test]
fn template_orders_each_doctors_nonces_and_interleaves_by_arrival() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let (a, b) = (key(), key());
    // Arrival: b1, a2 (held), a1, b2, a3.
    assert_eq!(chain.submit(&rec(&b, 1)).unwrap(), SubmitOutcome::Ready);
    assert_eq!(chain.submit(&rec(&a, 2)).unwrap(), SubmitOutcome::Held);
    assert_eq!(chain.submit(&rec(&a, 1)).unwrap(), SubmitOutcome::Ready);
    assert_eq!(chain.submit(&rec(&b, 2)).unwrap(), SubmitOutcome::Ready);
    assert_eq!(chain.submit(&rec(&a, 3)).unwrap(), SubmitOutcome::Ready);
    let t = chain.template(&MINER, T0).unwrap();
    assert_eq!((t.previous, t.height, t.timestamp, t.difficulty), (ZERO, 0, T0, Difficulty::MIN));
    // b1 first (arrived first), then a's run (a2 arrived before b2), ...
    let order: Vec<(bool, u64)> = t.records.iter().map(|r| (r.dr_hash == b.public_key_hash(), r.nonce)).collect();
    assert_eq!(order, vec![(true, 1), (false, 1), (false, 2), (true, 2), (false, 3)]);
    assert_eq!(chain.pending().unwrap(), t.records);
    assert_eq!(chain.add_block(&block_of(&t), None).unwrap(), AddOutcome::Extended);
    assert!(chain.pending().unwrap().is_empty());
    assert_eq!(chain.user_state(&a.public_key_hash()).unwrap().nonce, 3);

    // The next template: the tip's id and height, the later timestamp.
    let t2 = chain.template(&MINER, T0 - 100).unwrap();
    assert_eq!((t2.previous, t2.height, t2.timestamp), (block_of(&t).block_id, 1, T0));
    assert_eq!(chain.template(&MINER, T0 + 5).unwrap().timestamp, T0 + 5);
    assert!(t2.records.is_empty());
}

#[test]
fn gaps_are_held_until_filled_and_templates_stop_at_25() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let a = key();
    assert_eq!(chain.submit(&rec(&a, 3)).unwrap(), SubmitOutcome::Held);
    assert_eq!(chain.submit(&rec(&a, 2)).unwrap(), SubmitOutcome::Held);
    let split = chain.pending_split().unwrap();
    assert!(split.ready.is_empty());
    assert_eq!(nonces_of(&split.held, &a), vec![3, 2]); // arrival order
    assert!(chain.template(&MINER, T0).unwrap().records.is_empty());
    assert_eq!(chain.submit(&rec(&a, 1)).unwrap(), SubmitOutcome::Ready);
    assert_eq!(nonces_of(&chain.pending_split().unwrap().ready, &a), vec![1, 2, 3]);
    for n in 4..=30 {
        assert_eq!(chain.submit(&rec(&a, n)).unwrap(), SubmitOutcome::Ready);
    }
    assert_eq!(chain.submit(&rec(&a, 40)).unwrap(), SubmitOutcome::Held);
    let t = chain.template(&MINER, T0).unwrap();
    assert_eq!(nonces_of(&t.records, &a), (1..=25).collect::<Vec<_>>());
    chain.add_block(&block_of(&t), None).unwrap();
    let split = chain.pending_split().unwrap();
    assert_eq!(nonces_of(&split.ready, &a), (26..=30).collect::<Vec<_>>());
    assert_eq!(nonces_of(&split.held, &a), vec![40]);
    assert_eq!(chain.pending().unwrap().len(), 6);
}

#[test]
fn duplicates_and_refusals() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let a = key();
    let first = rec(&a, 1);
    assert_eq!(chain.submit(&first).unwrap(), SubmitOutcome::Ready);
    assert_eq!(chain.submit(&first).unwrap(), SubmitOutcome::AlreadyPending);
    // Same identity, other content and txid: a conflict (the doctor signed
    // two records with one nonce), named; the first stays, the second is
    // not added.
    let other = Record::sign(&a, &[8; 20], "another", 1).unwrap();
    assert_ne!(other.txid, first.txid);
    assert_eq!(chain.submit(&other).unwrap(), SubmitOutcome::ConflictsWithPending { pending_txid: first.txid });
    assert_eq!(chain.pending().unwrap(), vec![first.clone()]);
    // The same content under the signature's other form, (r, n - s): the
    // same record, already pending.
    let mut flipped = first.clone();
    flipped.signature = common::flip_s(&first.signature, &a);
    flipped.txid = flipped.calculate_txid();
    assert_ne!(flipped.txid, first.txid);
    assert_eq!(flipped.verify(0), Ok(()));
    assert_eq!(chain.submit(&flipped).unwrap(), SubmitOutcome::AlreadyPending);
    assert_eq!(chain.pending().unwrap(), vec![first.clone()]);

    // Full verification, signature included, for a pending nonce too.
    let mut forged = rec(&a, 2);
    forged.prescription = "changed".into();
    forged.txid = calculate_txid(
        forged.dr_hash.as_bytes(),
        forged.patient_hash.as_bytes(),
        &forged.dr_public_key,
        &forged.prescription,
        forged.nonce,
        &forged.signature,
    );
    assert_eq!(kind(chain.submit(&forged)), ErrorKind::InvalidSignature);
    let mut bad_txid = rec(&a, 2);
    bad_txid.txid = ZERO;
    assert_eq!(kind(chain.submit(&bad_txid)), ErrorKind::InvalidTxid);
    let mut forged_held = forged.clone();
    forged_held.nonce = 9;
    assert_eq!(kind(chain.submit(&forged_held)), ErrorKind::InvalidTxid);

    // Nonces the chain has used: invalid_nonce, unless an earlier check fails.
    let t = chain.template(&MINER, T0).unwrap();
    chain.add_block(&block_of(&t), None).unwrap();
    let err = chain.submit(&first).unwrap_err();
    assert!(matches!(err, ChainError::Record(emr_core::RecordError::InvalidNonce)), "{err:?}");
    assert_eq!(kind(chain.submit(&other)), ErrorKind::InvalidNonce);
    let mut mismatch = other.clone();
    mismatch.dr_hash = Hash160::from_bytes([1; 20]);
    assert_eq!(kind(chain.submit(&mismatch)), ErrorKind::PublicKeyMismatch);
    assert!(chain.pending().unwrap().is_empty());
    // Nothing was kept of the refused ones.
    assert_eq!(chain.submit(&rec(&a, 2)).unwrap(), SubmitOutcome::Ready);
}

#[test]
fn a_restart_keeps_every_submitted_record() {
    let db = TempDb::new("pool-test");
    let (a, b) = (key(), key());
    let submitted = vec![rec(&a, 1), rec(&b, 2), rec(&a, 2), rec(&b, 1)];
    {
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        for r in &submitted {
            chain.submit(r).unwrap();
        }
    }
    let mut chain = Chain::open(&db.0, None).unwrap();
    let pending = chain.pending().unwrap();
    assert_eq!(pending.len(), 4);
    for r in &submitted {
        assert!(pending.contains(r));
    }
    assert_eq!(chain.pending_split().unwrap().held.len(), 0);
    // Read-only handles see the pool too, and cannot submit.
    {
        let reader = Chain::open_readonly(&db.0).unwrap();
        assert_eq!(reader.pending().unwrap(), pending);
    }
    let t = chain.template(&MINER, T0).unwrap();
    chain.add_block(&block_of(&t), None).unwrap();
    drop(chain);
    let mut chain = Chain::open(&db.0, None).unwrap();
    assert!(chain.pending().unwrap().is_empty());
    assert_eq!(chain.submit(&rec(&a, 4)).unwrap(), SubmitOutcome::Held);
    drop(chain);
    let reader = Chain::open_readonly(&db.0).unwrap();
    assert_eq!(kind(Chain::open_readonly(&db.0).unwrap().submit(&rec(&a, 3))), ErrorKind::InvalidArgument);
    assert_eq!(nonces_of(&reader.pending_split().unwrap().held, &a), vec![4]);
}

#[test]
fn reorganisations_and_undo_return_records() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let a = key();
    for n in 1..=3 {
        chain.submit(&rec(&a, n)).unwrap();
    }
    let g = block_on(None, 1, vec![]);
    chain.add_block(&g, None).unwrap();
    let t = chain.template(&MINER, T0 + 12).unwrap();
    assert_eq!(t.records.len(), 3);
    let b1 = block_of(&t);
    chain.add_block(&b1, None).unwrap();
    assert!(chain.pending().unwrap().is_empty());
    // a4 is pending while b1 (a1..a3) is active.
    chain.submit(&rec(&a, 4)).unwrap();

    // A heavier branch without a's records: a1..a3 come back, before a4.
    let c1 = block_on(Some(&g), 2, vec![]);
    let c2 = block_on(Some(&c1), 2, vec![]);
    assert_eq!(chain.add_block(&c1, None).unwrap(), AddOutcome::SideBranch);
    assert_eq!(chain.add_block(&c2, None).unwrap(), AddOutcome::Reorganized);
    let split = chain.pending_split().unwrap();
    assert_eq!(nonces_of(&split.ready, &a), vec![1, 2, 3, 4]);
    assert!(split.held.is_empty());

    // Back to b1's branch, heavier again: a1..a3 are sealed again, a4 stays.
    let b2 = block_on(Some(&b1), 1, vec![]);
    let b3 = block_on(Some(&b2), 1, vec![]);
    chain.add_block(&b2, None).unwrap();
    assert_eq!(chain.add_block(&b3, None).unwrap(), AddOutcome::Reorganized);
    assert_eq!(nonces_of(&chain.pending().unwrap(), &a), vec![4]);

    // A branch whose block reuses a nonce fails; the pool is as before.
    let mut bad = rec(&a, 1);
    bad.prescription = "dup".into();
    let bad = Record::sign(&a, bad.patient_hash.as_bytes(), &bad.prescription, 1).unwrap();
    let d1 = block_on(Some(&c2), 3, vec![]);
    let d2 = block_on(Some(&d1), 3, vec![bad.clone(), bad]);
    chain.add_block(&d1, None).unwrap();
    assert_eq!(kind(chain.add_block(&d2, None)), ErrorKind::Record);
    assert_eq!(nonces_of(&chain.pending().unwrap(), &a), vec![4]);

    // Undo: the undone block's records come back.
    chain.undo_last_block().unwrap(); // b3
    chain.undo_last_block().unwrap(); // b2
    assert_eq!(nonces_of(&chain.pending().unwrap(), &a), vec![4]);
    chain.undo_last_block().unwrap(); // b1
    assert_eq!(nonces_of(&chain.pending().unwrap(), &a), vec![1, 2, 3, 4]);
    assert_eq!(chain.template(&MINER, T0).unwrap().records.len(), 4);
}

fn shared(initial: Difficulty) -> SharedChain {
    SharedChain::new(Chain::in_memory(ChainParams { initial_difficulty: initial, window: 100, ..params() }).unwrap())
}

fn one_thread() -> SearchOptions {
    SearchOptions { threads: Some(1), ..SearchOptions::default() }
}

#[test]
fn mine_next_mines_the_pool_and_adds_the_block() {
    let chain = shared(Difficulty::new(50).unwrap());
    let a = key();
    for n in 1..=3 {
        chain.with(|c| c.submit(&rec(&a, n))).unwrap();
    }
    let MineNextOutcome::Added(block, outcome) = chain.mine_next(&MINER, Some(T0), &one_thread()).unwrap() else {
        panic!("difficulty 50 is found")
    };
    assert_eq!(outcome, AddOutcome::Extended);
    assert_eq!((block.height, block.timestamp, block.records.len()), (0, T0, 3));
    let MineNextOutcome::Added(next, _) = chain.mine_next(&MINER, None, &one_thread()).unwrap() else { panic!() };
    assert_eq!((next.height, next.previous), (1, block.block_id));
    assert!(next.timestamp > T0); // the wall clock
    chain.with(|c| {
        assert!(c.pending()?.is_empty());
        assert_eq!(c.len()?, 2);
        assert_eq!(c.user_state(&MINER)?.balance, 20_000);
        Ok(())
    })
    .unwrap();
}

#[test]
fn mine_next_outcomes_and_errors() {
    // 2^100: never found.
    let chain = shared(Difficulty::new(1 << 100).unwrap());
    let empty = SearchOptions { nonce_count: Some(0), ..one_thread() };
    assert_eq!(chain.mine_next(&MINER, Some(T0), &empty).unwrap(), MineNextOutcome::Exhausted);
    let timed = SearchOptions { time_limit: Some(Duration::from_millis(100)), ..one_thread() };
    assert_eq!(chain.mine_next(&MINER, Some(T0), &timed).unwrap(), MineNextOutcome::TimedOut);

    let cancel = CancelHandle::new();
    let reports = Arc::new(AtomicU64::new(0));
    let counted = reports.clone();
    let options = SearchOptions {
        cancel: Some(cancel.clone()),
        progress: Some(Box::new(move |p| {
            assert!(p.hashes > 0);
            counted.fetch_add(1, Ordering::Relaxed);
        })),
        ..one_thread()
    };
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(600));
            cancel.cancel();
        });
        chain.mine_next(&MINER, Some(T0), &options).unwrap()
    });
    assert_eq!(outcome, MineNextOutcome::Cancelled);
    assert!(reports.load(Ordering::Relaxed) >= 1);
    // Already cancelled: at once.
    assert_eq!(chain.mine_next(&MINER, Some(T0), &options).unwrap(), MineNextOutcome::Cancelled);

    let bad_threads = SearchOptions { threads: Some(0), ..SearchOptions::default() };
    assert_eq!(kind(chain.mine_next(&MINER, Some(T0), &bad_threads)), ErrorKind::InvalidArgument);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(kind(chain.mine_next(&MINER, Some(now + 10_000), &one_thread())), ErrorKind::TimestampTooLate);
    // Closed: invalid_argument, and nothing else runs.
    assert!(chain.close().is_some());
    assert_eq!(kind(chain.mine_next(&MINER, Some(T0), &one_thread())), ErrorKind::InvalidArgument);
    assert!(chain.close().is_none());
}

/// A block with these header fields, mined on all cores.
fn mined(previous: Hash256, height: u64, miner: u8, timestamp: u64, difficulty: u128) -> Block {
    let t = BlockTemplate {
        previous,
        height,
        miner: Hash160::from_bytes([miner; 20]),
        records: vec![],
        entries: Vec::new(),
        timestamp,
        difficulty: Difficulty::new(difficulty).unwrap(),
    };
    let MineOutcome::Found(block) = mine_block(&t, &SearchOptions::default()).unwrap().outcome else { panic!("found") };
    block
}

#[test]
fn mine_next_starts_over_when_a_block_arrives_at_the_same_height() {
    // Window 1, block time and clamp 2^35: the difficulty at height h is
    // 2^35 * d(h-1) / (t(h-1) - t(h-2)). On g (t = 0) and b1 (t = 1) height
    // 2 needs 2^35 (not found in this test's lifetime); on the rival branch
    // g, c1 (t = 2^29), height 2 needs 64 and height 3, after c2 at
    // t = 2^29 + 2^30, needs 2048. So mine_next cannot win the race: it
    // mines height 2 until c2 arrives at that height, then starts over.
    let params = ChainParams {
        initial_difficulty: Difficulty::MIN,
        window: 1,
        block_time: 1 << 35,
        max_adjust: 1 << 35,
        ..ChainParams::default()
    };
    let chain = SharedChain::new(Chain::in_memory(params).unwrap());
    let a = key();
    let g = block_on(None, 1, vec![]);
    let g = Block { timestamp: 0, ..g };
    let g = Block { block_id: g.calculate_block_id(), ..g };
    let b1 = mined(g.block_id, 1, 1, 1, 1);
    let c1 = mined(g.block_id, 1, 2, 1 << 29, 1);
    let c2 = mined(c1.block_id, 2, 2, (1 << 29) + (1 << 30), 64);
    for block in [&g, &b1] {
        chain.add_block(block, None).unwrap();
    }
    assert_eq!(chain.with(|c| c.next_difficulty()).unwrap().get(), 1 << 35);
    chain.with(|c| c.submit(&rec(&a, 1)).map(drop)).unwrap();
    let generation = chain.generation();

    let (mined_next, outcomes) = std::thread::scope(|s| {
        let miner = s.spawn(|| chain.mine_next(&MINER, Some(2), &one_thread()).unwrap());
        std::thread::sleep(Duration::from_millis(100));
        let side = chain.add_block(&c1, None).unwrap();
        // A side-branch block leaves the tip, and the search, alone.
        assert_eq!(chain.generation(), generation);
        let reorg = chain.add_block(&c2, None).unwrap();
        (miner.join().unwrap(), (side, reorg))
    });
    assert_eq!(outcomes, (AddOutcome::SideBranch, AddOutcome::Reorganized));
    let MineNextOutcome::Added(block, outcome) = mined_next else { panic!("{mined_next:?}") };
    assert_eq!(outcome, AddOutcome::Extended);
    assert_eq!((block.height, block.previous, block.timestamp), (3, c2.block_id, c2.timestamp));
    assert_eq!(block.difficulty.get(), 2048);
    assert_eq!(block.records, vec![rec(&a, 1)]);
    let (tip, pending) = chain.with(|c| Ok((c.tip()?.unwrap(), c.pending()?))).unwrap();
    assert_eq!(tip.block_id, block.block_id);
    assert!(pending.is_empty());
    assert!(chain.generation() >= generation + 2); // c2, then mine_next's own block
}

#[test]
fn a_chain_made_before_the_pool_gains_it() {
    let db = TempDb::new("pool-test");
    let a = key();
    drop(Chain::open(&db.0, Some(params())).unwrap());
    // What a chain file written before the pool existed looks like (edited
    // through the checksum VFS: a plain SQLite write is damage).
    checksummed_sql(&db.0).execute_batch("DROP TABLE pool").unwrap();
    assert!(Chain::open_readonly(&db.0).unwrap().pending().unwrap().is_empty());
    let mut chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(chain.submit(&rec(&a, 1)).unwrap(), SubmitOutcome::Ready);
    drop(chain);
    assert_eq!(Chain::open_readonly(&db.0).unwrap().pending().unwrap().len(), 1);
}

/// SPEC 9.3, the two-site story: a doctor signs at site C and, before the
/// sites sync, at site D with the same nonce; C takes D's heavier branch.
/// C's prescription is not lost silently: it is a conflict naming the
/// record and block that took its place, until dismissed.
#[test]
fn a_record_dropped_by_a_reorganisation_is_kept_as_a_conflict() {
    let doctor = key();
    let params = ChainParams { salt: Some([3; 16]), ..params() };
    let mut c = Chain::in_memory(params.clone()).unwrap();
    let mut d = Chain::in_memory(params).unwrap();
    let genesis = block_on(None, 1, vec![]);
    c.add_block(&genesis, None).unwrap();
    d.add_block(&genesis, None).unwrap();

    let at_c = Record::sign(&doctor, &[1; 20], "Insulin glargine 10 units", 1).unwrap();
    let at_d = Record::sign(&doctor, &[1; 20], "Metformin 500mg", 1).unwrap();
    let c1 = block_on(Some(&genesis), 2, vec![at_c.clone()]);
    c.add_block(&c1, None).unwrap();
    let d1 = block_on(Some(&genesis), 3, vec![at_d.clone()]);
    let d2 = block_on(Some(&d1), 3, vec![]);
    d.add_blocks(&[d1.clone(), d2.clone()], None, &Default::default()).unwrap();

    let outcomes = c.add_blocks(&[d1.clone(), d2], None, &Default::default()).unwrap();
    assert_eq!(outcomes, vec![AddOutcome::SideBranch, AddOutcome::Reorganized]);
    let conflicts = c.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].record, at_c);
    assert_eq!((conflicts[0].replaced_by, conflicts[0].block_id, conflicts[0].height), (at_d.txid, d1.block_id, 1));
    assert!(c.pending().unwrap().is_empty(), "it cannot be mined: its nonce is taken");
    assert_eq!(c.submit(&at_c).unwrap_err().kind(), ErrorKind::InvalidNonce);
    assert_eq!(c.check(&Default::default()).unwrap().first_bad, None);

    // The old branch made heavier again: C's record is back in the chain
    // (its conflict is over) and D's is now the dropped one.
    let c2 = block_on(Some(&c1), 2, vec![]);
    let c3 = block_on(Some(&c2), 2, vec![]);
    assert_eq!(c.add_blocks(&[c2, c3], None, &Default::default()).unwrap().last(), Some(&AddOutcome::Reorganized));
    let conflicts = c.conflicts().unwrap();
    assert_eq!(conflicts.iter().map(|x| &x.record).collect::<Vec<_>>(), vec![&at_d]);
    assert_eq!((conflicts[0].replaced_by, conflicts[0].block_id), (at_c.txid, c1.block_id));

    // Dismissed: listed no more; a second dismissal finds nothing.
    assert_eq!(c.dismiss_conflict(&at_d.txid), Ok(true));
    assert_eq!(c.dismiss_conflict(&at_d.txid), Ok(false));
    assert!(c.conflicts().unwrap().is_empty());
}

/// A pending record whose `(doctor, nonce)` a block from elsewhere takes
/// with other content is a conflict too; the same content (even under the
/// other signature form) simply leaves the pool.
#[test]
fn a_pending_record_overtaken_by_a_block_is_a_conflict() {
    let doctor = key();
    let mut chain = Chain::in_memory(params()).unwrap();
    let genesis = block_on(None, 1, vec![]);
    chain.add_block(&genesis, None).unwrap();
    let pending = Record::sign(&doctor, &[1; 20], "Amoxicillin 500mg", 1).unwrap();
    let same = Record::sign(&doctor, &[1; 20], "Salbutamol inhaler", 2).unwrap();
    chain.submit(&pending).unwrap();
    chain.submit(&same).unwrap();
    let mut flipped = same.clone();
    flipped.signature = common::flip_s(&same.signature, &doctor);
    flipped.txid = flipped.calculate_txid();
    let elsewhere = Record::sign(&doctor, &[1; 20], "Codeine 30mg", 1).unwrap();
    let block = block_on(Some(&genesis), 2, vec![elsewhere.clone(), flipped]);
    assert_eq!(chain.add_block(&block, None), Ok(AddOutcome::Extended));
    let conflicts = chain.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!((&conflicts[0].record, conflicts[0].replaced_by), (&pending, elsewhere.txid));
    assert!(chain.pending().unwrap().is_empty());
    // A reopened file keeps them.
    let db = TempDb::new("pool-conflicts");
    {
        let mut file = Chain::open(&db.0, Some(params())).unwrap();
        file.add_block(&genesis, None).unwrap();
        file.submit(&pending).unwrap();
        file.add_block(&block_on(Some(&genesis), 2, vec![elsewhere.clone()]), None).unwrap();
    }
    assert_eq!(Chain::open_readonly(&db.0).unwrap().conflicts().unwrap().len(), 1);
}

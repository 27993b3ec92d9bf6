//! The chain of SPEC section 5: linkage, fork choice, invalid branches,
//! undo, storage (reopen, one writer, readers beside it), batches, check.

mod common;

use common::*;
use emr_core::chain::{BatchOptions, Chain, ChainError, ChainParams, Work};
use emr_core::mining::CancelHandle;
use emr_core::{AddOutcome, Block, BlockError, Curve, Difficulty, ErrorKind, Hash160, Hash256, Record, RecordError, SigningKey, UserState};

fn rehash(mut block: Block) -> Block {
    block.block_id = block.calculate_block_id();
    block
}

/// `n` blocks after `parent`, each by `miner`, without records.
fn run(parent: Option<&Block>, n: usize, miner: u8) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for _ in 0..n {
        let next = block_on(out.last().or(parent), miner, vec![]);
        out.push(next);
    }
    out
}

fn kind<T: std::fmt::Debug>(r: Result<T, ChainError>) -> ErrorKind {
    r.unwrap_err().kind()
}

#[test]
fn linkage_errors_in_order() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let g = block_on(None, 1, vec![]);

    let mut orphan = block_on(Some(&g), 1, vec![]);
    orphan.previous = Hash256::from_bytes([7; 32]);
    assert_eq!(kind(chain.add_block(&rehash(orphan), None)), ErrorKind::UnknownParent);

    let mut high_genesis = g.clone();
    high_genesis.height = 1;
    assert_eq!(kind(chain.add_block(&rehash(high_genesis), None)), ErrorKind::WrongHeight);

    assert_eq!(chain.add_block(&g, None), Ok(AddOutcome::Extended));
    assert_eq!(chain.add_block(&g, None), Ok(AddOutcome::AlreadyKnown));

    let mut skip = block_on(Some(&g), 1, vec![]);
    skip.height = 2;
    assert_eq!(kind(chain.add_block(&rehash(skip), None)), ErrorKind::WrongHeight);

    let mut early = block_on(Some(&g), 1, vec![]);
    early.timestamp = T0 - 1;
    assert_eq!(kind(chain.add_block(&rehash(early), None)), ErrorKind::TimestampTooEarly);

    let late = block_on(Some(&g), 1, vec![]);
    assert_eq!(kind(chain.add_block(&late, Some(late.timestamp - 61))), ErrorKind::TimestampTooLate);

    let mut hard = block_on(Some(&g), 1, vec![]);
    hard.difficulty = Difficulty::new(2).unwrap();
    assert_eq!(kind(chain.add_block(&rehash(hard), None)), ErrorKind::DifficultyMismatch);

    let mut forged = block_on(Some(&g), 1, vec![]);
    forged.nonce = 1;
    assert_eq!(kind(chain.add_block(&forged, None)), ErrorKind::InvalidBlockId);

    // Exactly max_future (60 s by default) ahead is allowed, and the block
    // refused for being too late was not remembered.
    assert_eq!(chain.add_block(&late, Some(late.timestamp - 60)), Ok(AddOutcome::Extended));
    assert_eq!(chain.len(), Ok(2));
}

#[test]
fn records_states_and_queries() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let (p1, p2) = ([1u8; 20], [2u8; 20]);
    let r1 = Record::sign(&doctor, &p1, "Amoxicillin 500mg", 1).unwrap();
    let r2 = Record::sign(&doctor, &p2, "Ibuprofen 200mg", 2).unwrap();
    let r3 = Record::sign(&doctor, &p1, "Follow-up", 3).unwrap();
    let g = block_on(None, 9, vec![r1.clone()]);
    let b1 = block_on(Some(&g), 9, vec![r2.clone(), r3.clone()]);
    assert_eq!(chain.add_block(&g, None), Ok(AddOutcome::Extended));
    assert_eq!(chain.add_block(&b1, None), Ok(AddOutcome::Extended));

    let dr = doctor.public_key_hash();
    assert_eq!(chain.user_state(&dr), Ok(UserState { balance: 0, nonce: 3 }));
    assert_eq!(chain.user_state(&Hash160::from_bytes([9; 20])), Ok(UserState { balance: 20_000, nonce: 0 }));
    assert_eq!(chain.user_state(&Hash160::from_bytes([5; 20])), Ok(UserState::default()));

    let history = chain.patient_history(&Hash160::from_bytes(p1)).unwrap();
    let seen: Vec<_> = history.iter().map(|e| (e.height, e.block_id, e.record.nonce)).collect();
    assert_eq!(seen, vec![(0, g.block_id, 1), (1, b1.block_id, 3)]);
    assert_eq!(chain.doctor_records(&dr).unwrap().iter().map(|e| e.record.clone()).collect::<Vec<_>>(), vec![
        r1.clone(),
        r2.clone(),
        r3
    ]);
    let found = chain.find_record(&r2.txid).unwrap().unwrap();
    assert_eq!((found.height, found.block_id, found.record), (1, b1.block_id, r2));
    assert_eq!(chain.find_record(&Hash256::from_bytes([3; 32])), Ok(None));

    assert_eq!(chain.tip().unwrap().map(|t| (t.height, t.block_id)), Some((1, b1.block_id)));
    assert_eq!(chain.block_at(0), Ok(Some(g.clone())));
    assert_eq!(chain.block_at(2), Ok(None));
    let all: Vec<Block> = chain.blocks(0, 10).collect::<Result<_, _>>().unwrap();
    assert_eq!(all, vec![g, b1]);
    assert_eq!(chain.total_difficulty(), Ok(Work::from(2)));
    assert_eq!(chain.next_difficulty(), Ok(Difficulty::MIN));

    // A doctor's record out of sequence: refused, nothing changes, and
    // refused again with the same error.
    let tip = chain.block_at(1).unwrap().unwrap();
    let bad = block_on(Some(&tip), 9, vec![Record::sign(&doctor, &p1, "x", 5).unwrap()]);
    let err = chain.add_block(&bad, None).unwrap_err();
    assert_eq!(
        err,
        ChainError::Block {
            height: 2,
            block_id: bad.block_id,
            error: BlockError::Record { index: 0, error: RecordError::InvalidNonce }
        }
    );
    assert_eq!(chain.add_block(&bad, None), Err(err.clone()));
    let child = block_on(Some(&bad), 9, vec![]);
    assert_eq!(chain.add_block(&child, None), Err(err));
    assert_eq!(chain.len(), Ok(2));
    assert_eq!(chain.user_state(&dr), Ok(UserState { balance: 0, nonce: 3 }));
}

#[test]
fn retarget_is_enforced() {
    // W = 3: blocks 6 s apart double the work rate, so block 4 must carry 2.
    let mut chain = Chain::in_memory(params()).unwrap();
    let mut blocks = vec![block_on(None, 1, vec![])];
    for _ in 0..3 {
        let mut b = block_on(blocks.last(), 1, vec![]);
        b.timestamp -= 6;
        blocks.push(rehash(b));
    }
    for b in &blocks {
        assert_eq!(chain.add_block(b, None), Ok(AddOutcome::Extended));
    }
    // S = 3, B = 12, T = 18 s: floor(36 / 18) = 2.
    assert_eq!(chain.next_difficulty(), Ok(Difficulty::new(2).unwrap()));
    let one = block_on(blocks.last(), 1, vec![]);
    assert_eq!(kind(chain.add_block(&one, None)), ErrorKind::DifficultyMismatch);
    let mut two = one.clone();
    two.difficulty = Difficulty::new(2).unwrap();
    let two = loop {
        let candidate = rehash(two.clone());
        if two.difficulty.is_met_by(&candidate.block_id) {
            break candidate;
        }
        two.nonce += 1;
    };
    assert_eq!(chain.add_block(&two, None), Ok(AddOutcome::Extended));
    assert_eq!(chain.total_difficulty(), Ok(Work::from(6)));
}

#[test]
fn fork_choice_ties_keep_the_first_seen() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let g = block_on(None, 1, vec![]);
    let a1 = block_on(Some(&g), 1, vec![]);
    let b1 = block_on(Some(&g), 2, vec![]);
    let b2 = block_on(Some(&b1), 2, vec![]);
    let a2 = block_on(Some(&a1), 1, vec![]);
    let a3 = block_on(Some(&a2), 1, vec![]);
    let (m1, m2) = (Hash160::from_bytes([1; 20]), Hash160::from_bytes([2; 20]));

    assert_eq!(chain.add_block(&g, None), Ok(AddOutcome::Extended));
    assert_eq!(chain.add_block(&a1, None), Ok(AddOutcome::Extended));
    assert_eq!(chain.add_block(&b1, None), Ok(AddOutcome::SideBranch));
    assert_eq!(chain.tip().unwrap().unwrap().block_id, a1.block_id);
    assert_eq!(chain.add_block(&b2, None), Ok(AddOutcome::Reorganized));
    assert_eq!(chain.tip().unwrap().unwrap().block_id, b2.block_id);
    assert_eq!(chain.user_state(&m1).unwrap().balance, 10_000);
    assert_eq!(chain.user_state(&m2).unwrap().balance, 20_000);
    assert_eq!(chain.add_block(&a2, None), Ok(AddOutcome::SideBranch));
    assert_eq!(chain.tip().unwrap().unwrap().block_id, b2.block_id);
    assert_eq!(chain.add_block(&a3, None), Ok(AddOutcome::Reorganized));
    assert_eq!(chain.user_state(&m1).unwrap().balance, 40_000);
    assert_eq!(chain.user_state(&m2), Ok(UserState::default()), "a user the active chain never touched");
    assert_eq!(chain.block_at(1), Ok(Some(a1)));
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);

    // A second genesis is a competing branch from nothing: alone, four
    // blocks below a tip at height 3 with a window of 3, it is stale; sent
    // whole in one call, it is judged where it ends, heavier.
    let h = run(None, 5, 3);
    assert_eq!(chain.add_block(&h[0], None), Ok(AddOutcome::Stale));
    let outcomes = chain.add_blocks(&h, None, &BatchOptions::default()).unwrap();
    assert_eq!(outcomes, [vec![AddOutcome::SideBranch; 4], vec![AddOutcome::Reorganized]].concat());
    assert_eq!(chain.block_at(0), Ok(Some(h[0].clone())));
    assert_eq!(chain.user_state(&m1), Ok(UserState::default()));
    assert_eq!(chain.user_state(&Hash160::from_bytes([3; 20])).unwrap().balance, 50_000);
}

#[test]
fn heavier_branch_with_a_bad_block_changes_nothing() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let doctor = SigningKey::generate(Curve::P256).unwrap();
    let dr = doctor.public_key_hash();
    let patient = [4u8; 20];
    let good = Record::sign(&doctor, &patient, "rx 1", 1).unwrap();
    let g = block_on(None, 1, vec![]);
    let a1 = block_on(Some(&g), 1, vec![good]);
    let a2 = block_on(Some(&a1), 1, vec![]);
    for b in [&g, &a1, &a2] {
        assert_eq!(chain.add_block(b, None), Ok(AddOutcome::Extended));
    }

    // Branch b: b1 fine, b2 carries a record with a skipped nonce, b3 b4 fine.
    let b1 = block_on(Some(&g), 2, vec![]);
    let b2 = block_on(Some(&b1), 2, vec![Record::sign(&doctor, &patient, "skip", 2).unwrap()]);
    let b3 = block_on(Some(&b2), 2, vec![]);
    let b4 = block_on(Some(&b3), 2, vec![]);
    assert_eq!(chain.add_block(&b1, None), Ok(AddOutcome::SideBranch));
    assert_eq!(chain.add_block(&b2, None), Ok(AddOutcome::SideBranch));

    let before = (
        chain.tip().unwrap(),
        chain.user_state(&dr).unwrap(),
        chain.user_state(&Hash160::from_bytes([1; 20])).unwrap(),
        chain.patient_history(&Hash160::from_bytes(patient)).unwrap(),
        chain.total_difficulty().unwrap(),
    );
    let expected = ChainError::Block {
        height: 2,
        block_id: b2.block_id,
        error: BlockError::Record { index: 0, error: RecordError::InvalidNonce },
    };
    assert_eq!(chain.add_block(&b3, None), Err(expected.clone()));
    let after = (
        chain.tip().unwrap(),
        chain.user_state(&dr).unwrap(),
        chain.user_state(&Hash160::from_bytes([1; 20])).unwrap(),
        chain.patient_history(&Hash160::from_bytes(patient)).unwrap(),
        chain.total_difficulty().unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(chain.user_state(&Hash160::from_bytes([2; 20])), Ok(UserState::default()));

    // The failed block and everything after it stay refused; b1 is fine.
    assert_eq!(chain.add_block(&b2, None), Err(expected.clone()));
    assert_eq!(chain.add_block(&b3, None), Err(expected.clone()));
    assert_eq!(chain.add_block(&b4, None), Err(expected));
    assert_eq!(chain.add_block(&b1, None), Ok(AddOutcome::AlreadyKnown));
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().blocks_ok, 3);
}

#[test]
fn undo_down_to_empty_and_back() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let r1 = Record::sign(&doctor, &[1; 20], "a", 1).unwrap();
    let g = block_on(None, 1, vec![r1.clone()]);
    let rest = run(Some(&g), 4, 1);
    chain.add_block(&g, None).unwrap();
    for b in &rest {
        chain.add_block(b, None).unwrap();
    }
    // A side block on the tip's parent survives undoing the tip.
    let side = block_on(Some(&rest[2]), 7, vec![]);
    assert_eq!(chain.add_block(&side, None), Ok(AddOutcome::SideBranch));
    for expected in rest.iter().rev() {
        assert_eq!(chain.undo_last_block().as_ref(), Ok(expected));
    }
    assert_eq!(chain.user_state(&Hash160::from_bytes([1; 20])).unwrap().balance, 10_000);
    assert_eq!(chain.undo_last_block(), Ok(g.clone()));
    assert_eq!(chain.len(), Ok(0));
    assert_eq!(chain.tip(), Ok(None));
    assert_eq!(chain.total_difficulty(), Ok(Work::ZERO));
    assert_eq!(chain.user_state(&doctor.public_key_hash()), Ok(UserState::default()));
    assert_eq!(chain.user_state(&Hash160::from_bytes([1; 20])), Ok(UserState::default()));
    assert_eq!(chain.find_record(&r1.txid), Ok(None));
    assert_eq!(kind(chain.undo_last_block()), ErrorKind::NotFound);
    // Undone blocks are forgotten: adding them again connects them.
    assert_eq!(chain.add_block(&g, None), Ok(AddOutcome::Extended));
    assert_eq!(chain.add_block(&rest[0], None), Ok(AddOutcome::Extended));
    assert_eq!(chain.user_state(&doctor.public_key_hash()).unwrap().nonce, 1);
}

#[test]
fn reopen_gives_the_same_chain() {
    let db = TempDb::new("chain-test");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let r = Record::sign(&doctor, &[6; 20], "kept", 1).unwrap();
    let g = block_on(None, 1, vec![r.clone()]);
    let rest = run(Some(&g), 20, 2);
    let snapshot = |c: &Chain| {
        (
            c.tip().unwrap(),
            c.len().unwrap(),
            c.user_state(&doctor.public_key_hash()).unwrap(),
            c.user_state(&Hash160::from_bytes([2; 20])).unwrap(),
            c.find_record(&r.txid).unwrap(),
            c.total_difficulty().unwrap(),
            c.next_difficulty().unwrap(),
        )
    };
    let before = {
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        chain.add_block(&g, None).unwrap();
        chain.add_blocks(&rest, None, &BatchOptions::default()).unwrap();
        snapshot(&chain)
    };
    let chain = Chain::open(&db.0, None).unwrap();
    let salt = chain.params().salt;
    assert!(salt.is_some(), "a created chain has its salt");
    assert_eq!(chain.params(), &ChainParams { salt, ..params() });
    assert_eq!(snapshot(&chain), before);
    assert_eq!(before.1, 21);
    drop(chain);
    let other = ChainParams { window: 4, ..params() };
    assert_eq!(kind(Chain::open(&db.0, Some(other))), ErrorKind::InvalidArgument);
    assert_eq!(kind(Chain::open(&db.0, Some(ChainParams { window: 0, ..params() }))), ErrorKind::InvalidArgument);
    let chain = Chain::open(&db.0, Some(params())).unwrap();
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().blocks_ok, 21);
}

#[test]
fn one_writer_and_readers_beside_it() {
    let db = TempDb::new("chain-test");
    let mut writer = Chain::open(&db.0, Some(params())).unwrap();
    let second = Chain::open(&db.0, None).unwrap_err();
    assert_eq!(second.kind(), ErrorKind::Locked);
    assert!(second.to_string().contains("chain is open for writing by another process"), "{second}");

    let mut reader = Chain::open_readonly(&db.0).unwrap();
    assert_eq!(reader.len(), Ok(0));
    let blocks = run(None, 3, 1);
    writer.add_block(&blocks[0], None).unwrap();
    assert_eq!(reader.len(), Ok(1));
    writer.add_blocks(&blocks[1..], None, &BatchOptions::default()).unwrap();
    assert_eq!(reader.tip().unwrap().unwrap().block_id, blocks[2].block_id);
    assert_eq!(reader.block_at(2), Ok(Some(blocks[2].clone())));
    assert_eq!(kind(reader.add_block(&blocks[0], None)), ErrorKind::InvalidArgument);
    assert_eq!(kind(reader.undo_last_block()), ErrorKind::InvalidArgument);

    drop(writer);
    let writer = Chain::open(&db.0, None).unwrap();
    assert_eq!(writer.len(), Ok(3));
}

#[test]
fn second_writer_in_another_process_is_refused() {
    // The child re-runs this test binary on the helper test below.
    if let Ok(path) = std::env::var("EMR_CHAIN_LOCK_PROBE") {
        match Chain::open(&path, None) {
            Ok(_) => println!("probe: opened"),
            Err(e) => println!("probe: {:?}: {e}", e.kind()),
        }
        return;
    }
    let db = TempDb::new("chain-test");
    let mut writer = Chain::open(&db.0, Some(params())).unwrap();
    let probe = || {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args(["--exact", "second_writer_in_another_process_is_refused", "--nocapture"])
            .env("EMR_CHAIN_LOCK_PROBE", &db.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stdout = probe();
    assert!(stdout.contains("probe: Locked: locked: chain is open for writing by another process"), "{stdout}");
    // Still refused while the writer is writing, and the writer's work is
    // untouched by the attempt.
    let blocks = run(None, 40, 1);
    std::thread::scope(|s| {
        let adding = s.spawn(|| {
            for b in &blocks {
                writer.add_block(b, None).unwrap();
            }
        });
        for _ in 0..3 {
            assert!(probe().contains("probe: Locked"));
        }
        adding.join().unwrap();
    });
    assert_eq!(writer.check(&BatchOptions::default()).unwrap().blocks_ok, 40);
    drop(writer);
    assert!(probe().contains("probe: opened"), "the lock goes with the writer");
}

#[test]
fn add_blocks_batch_keeps_blocks_before_a_failure() {
    let mut chain = Chain::in_memory(params()).unwrap();
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let mut blocks: Vec<Block> = Vec::new();
    let mut nonce = 0;
    for i in 0..30u8 {
        let records = (0..(i % 4))
            .map(|_| {
                nonce += 1;
                Record::sign(&doctor, &[i; 20], "batch", nonce).unwrap()
            })
            .collect();
        blocks.push(block_on(blocks.last(), 1, records));
    }
    let progress = std::sync::Mutex::new(Vec::new());
    let record = |p: emr_core::chain::BatchProgress| progress.lock().unwrap().push(p.done);
    let options = BatchOptions { progress: Some(&record), ..BatchOptions::default() };
    let outcomes = chain.add_blocks(&blocks[..20], None, &options).unwrap();
    assert_eq!(outcomes, vec![AddOutcome::Extended; 20]);
    assert_eq!(progress.lock().unwrap().last(), Some(&20));
    assert_eq!(chain.user_state(&doctor.public_key_hash()).unwrap().nonce, (0..20).map(|i| i % 4).sum::<u64>());

    // Block 25 gets a bad signature: 20..25 kept, the error is block 25's.
    let mut tail = blocks[20..].to_vec();
    let mut broken = tail[5].clone();
    broken.records[0].signature[10] ^= 1;
    broken.records[0].txid = broken.records[0].calculate_txid();
    tail[5] = rehash(broken);
    let err = chain.add_blocks(&tail, None, &BatchOptions::default()).unwrap_err();
    assert_eq!(err.index, 5);
    assert_eq!(err.added, vec![AddOutcome::Extended; 5]);
    assert!(matches!(
        err.error,
        ChainError::Block { height: 25, error: BlockError::Record { index: 0, error: RecordError::InvalidSignature }, .. }
    ));
    assert_eq!(chain.len(), Ok(25));

    // Already-known blocks in a batch; a cancelled batch adds nothing.
    assert_eq!(chain.add_blocks(&blocks[23..25], None, &BatchOptions::default()), Ok(vec![AddOutcome::AlreadyKnown; 2]));
    let cancel = CancelHandle::new();
    cancel.cancel();
    let options = BatchOptions { cancel: Some(&cancel), ..BatchOptions::default() };
    let err = chain.add_blocks(&blocks[25..], None, &options).unwrap_err();
    assert_eq!((err.index, err.kind()), (0, ErrorKind::Cancelled));
    assert_eq!(chain.len(), Ok(25));
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().blocks_ok, 25);
}

#[test]
fn damage_is_reported_with_its_height() {
    let db = TempDb::new("chain-test");
    let blocks = run(None, 6, 1);
    {
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap();
    }
    {
        let conn = checksummed_sql(&db.0);
        let mut bytes: Vec<u8> =
            conn.query_row("SELECT bytes FROM blocks WHERE height = 3", [], |r| r.get(0)).unwrap();
        bytes[70] ^= 0x40; // the difficulty: still decodes, no longer hashes to the id
        conn.execute("UPDATE blocks SET bytes = ?1 WHERE height = 3", [bytes]).unwrap();
    }
    let chain = Chain::open(&db.0, None).unwrap();
    let report = chain.check(&BatchOptions::default()).unwrap();
    assert_eq!(report.blocks_ok, 3);
    let bad = report.first_bad.unwrap();
    assert_eq!((bad.height, bad.error.kind()), (3, ErrorKind::Corrupt));
    assert_eq!(kind(chain.block_at(3)), ErrorKind::Corrupt);
    assert_eq!(chain.block_at(2), Ok(Some(blocks[2].clone())));
}

#[test]
fn damage_to_derived_tables_is_reported_by_check() {
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let mut blocks: Vec<Block> = Vec::new();
    for n in 1..=5u64 {
        let record = Record::sign(&doctor, &[n as u8; 20], "dose", n).unwrap();
        blocks.push(block_on(blocks.last(), 1, vec![record]));
    }
    // Near the tip (window 3), so that it is stored.
    let side = block_on(Some(&blocks[1]), 2, vec![]);
    let cases: [(&str, ErrorKind, Option<u64>); 7] = [
        ("UPDATE blocks SET work = zeroblob(32) WHERE id NOT IN (SELECT id FROM active)", ErrorKind::Corrupt, None),
        ("UPDATE blocks SET bytes = substr(bytes, 2) WHERE id NOT IN (SELECT id FROM active)", ErrorKind::Corrupt, None),
        ("UPDATE states SET nonce = nonce + 1 WHERE nonce > 0", ErrorKind::Corrupt, None),
        ("UPDATE active SET undo = x'' WHERE height = 2", ErrorKind::Corrupt, Some(2)),
        ("UPDATE records SET patient = zeroblob(20) WHERE height = 4", ErrorKind::Corrupt, None),
        ("UPDATE blocks SET timestamp = timestamp + 1 WHERE height = 1", ErrorKind::Corrupt, Some(1)),
        ("DELETE FROM records WHERE height = 0", ErrorKind::Corrupt, None),
    ];
    for (sql, expected, at) in cases {
        let db = TempDb::new("chain-test");
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap();
        assert_eq!(chain.add_block(&side, None), Ok(AddOutcome::SideBranch));
        assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
        drop(chain);
        checksummed_sql(&db.0).execute(sql, []).unwrap();
        let chain = Chain::open(&db.0, None).unwrap();
        match (chain.check(&BatchOptions::default()), at) {
            (Ok(report), Some(height)) => {
                let bad = report.first_bad.expect(sql);
                assert_eq!((bad.height, bad.error.kind()), (height, expected), "{sql}");
            }
            (Err(e), None) => assert_eq!(e.kind(), expected, "{sql}"),
            (other, _) => panic!("{sql}: {other:?}"),
        }
    }
}

#[test]
fn chain_is_send() {
    fn send<T: Send>() {}
    send::<Chain>();
    send::<ChainError>();
}

/// `cargo test -p emr-core --test chain -- --ignored --nocapture`: builds a
/// 100,000-block chain, then times reopening it and a few queries.
#[test]
#[ignore = "builds a 100,000-block database; run by hand"]
fn reopen_of_100k_blocks_is_fast() {
    let db = TempDb::new("chain-test");
    let params = ChainParams { window: 10, ..params() };
    let blocks = run(None, 100_000, 1);
    let started = std::time::Instant::now();
    {
        let mut chain = Chain::open(&db.0, Some(params)).unwrap();
        for batch in blocks.chunks(10_000) {
            chain.add_blocks(batch, None, &BatchOptions::default()).unwrap();
        }
    }
    println!("added 100,000 blocks in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let chain = Chain::open(&db.0, None).unwrap();
    let tip = chain.tip().unwrap().unwrap();
    let state = chain.user_state(&Hash160::from_bytes([1; 20])).unwrap();
    let next = chain.next_difficulty().unwrap();
    let opened = started.elapsed();
    println!("reopened and queried in {opened:?}");
    assert_eq!((tip.height, state.balance, next), (99_999, 1_000_000_000, Difficulty::MIN));
    assert!(opened < std::time::Duration::from_millis(500), "{opened:?}");
    let started = std::time::Instant::now();
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().blocks_ok, 100_000);
    println!("checked in {:?}", started.elapsed());
}

#[test]
fn invalid_marks_and_side_branches_survive_reopen() {
    let db = TempDb::new("chain-test");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let g = block_on(None, 1, vec![]);
    let a1 = block_on(Some(&g), 1, vec![]);
    let b1 = block_on(Some(&g), 2, vec![Record::sign(&doctor, &[1; 20], "skip", 2).unwrap()]);
    let b2 = block_on(Some(&b1), 2, vec![]);
    let c1 = block_on(Some(&g), 3, vec![]);
    let refused = {
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        for b in [&g, &a1] {
            assert_eq!(chain.add_block(b, None), Ok(AddOutcome::Extended));
        }
        assert_eq!(chain.add_block(&b1, None), Ok(AddOutcome::SideBranch));
        assert_eq!(chain.add_block(&c1, None), Ok(AddOutcome::SideBranch));
        chain.add_block(&b2, None).unwrap_err()
    };
    assert_eq!(refused.kind(), ErrorKind::Record);
    let mut chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(chain.add_block(&b2, None), Err(refused.clone()));
    assert_eq!(chain.add_block(&b1, None), Err(refused));
    assert_eq!(chain.add_block(&c1, None), Ok(AddOutcome::AlreadyKnown));
    // c1 is still stored: one block on it makes its branch the heavier.
    let c2 = block_on(Some(&c1), 3, vec![]);
    assert_eq!(chain.add_block(&c2, None), Ok(AddOutcome::Reorganized));
    assert_eq!(chain.block_at(1), Ok(Some(c1)));
}

/// A chain file edited by a plain SQLite (which does not maintain page
/// checksums): the edited pages fail their checksums, and the damage is
/// reported with the table and height of the read that met it.
#[test]
fn plain_sql_writes_are_reported_as_damage() {
    let db = TempDb::new("chain-test");
    let blocks = run(None, 6, 1);
    {
        let mut chain = Chain::open(&db.0, Some(params())).unwrap();
        chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap();
        assert_eq!(chain.page_checksums(), Ok(true));
    }
    assert_eq!(Chain::in_memory(params()).unwrap().page_checksums(), Ok(false));
    rusqlite::Connection::open(&db.0).unwrap().execute("UPDATE blocks SET timestamp = timestamp + 1 WHERE height = 4", []).unwrap();
    let damage = match Chain::open(&db.0, None) {
        Err(e) => e,
        Ok(chain) => chain.check(&BatchOptions::default()).unwrap_err(),
    };
    match &damage {
        ChainError::Corrupt { table, detail, .. } => {
            assert!(detail.contains("page checksum"), "{damage}");
            assert_ne!(*table, "sqlite", "the damage names the table read: {damage}");
        }
        other => panic!("{other:?}"),
    }
}

/// A record whose signature no longer verifies, txid redone so that the
/// signature is the first check to fail.
fn break_signature(record: &mut Record) {
    let last = record.signature.len() - 1;
    record.signature[last] ^= 1;
    record.txid = record.calculate_txid();
}

/// Blocks linked in order, one per list of records.
fn linked(records: &[Vec<Record>]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for r in records {
        let next = block_on(out.last(), 1, r.clone());
        out.push(next);
    }
    out
}

/// `blocks` lists of `per_block` records by `doctor`, nonces 1, 2, ...
fn signed(doctor: &SigningKey, blocks: usize, per_block: usize) -> Vec<Vec<Record>> {
    let mut nonce = 0;
    (0..blocks)
        .map(|h| {
            (0..per_block)
                .map(|_| {
                    nonce += 1;
                    Record::sign(doctor, &[h as u8; 20], "dose", nonce).unwrap()
                })
                .collect()
        })
        .collect()
}

/// The signature stage checks the records of many blocks as one batch; the
/// error reported must still be the one a loop of `add_block` would give.
#[test]
fn add_blocks_reports_the_first_of_two_failures_in_one_batch() {
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let good = signed(&doctor, 10, 3);
    let record_error = |e: &ChainError| match e {
        ChainError::Block { height, error: BlockError::Record { index, error }, .. } => Some((*height, *index, *error)),
        _ => None,
    };

    // Bad signatures in blocks 4 (record 2) and 6 (record 0).
    let mut records = good.clone();
    break_signature(&mut records[4][2]);
    break_signature(&mut records[6][0]);
    let blocks = linked(&records);
    let mut chain = Chain::in_memory(params()).unwrap();
    let err = chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap_err();
    assert_eq!((err.index, err.added.len()), (4, 4));
    assert_eq!(record_error(&err.error), Some((4, 2, RecordError::InvalidSignature)));
    let mut sequential = Chain::in_memory(params()).unwrap();
    let first = blocks.iter().find_map(|b| sequential.add_block(b, None).err()).unwrap();
    assert_eq!(first, err.error);

    // Block 4 also has its first two records swapped: the nonce check of
    // record 0 comes before the bad signature of record 2.
    records[4].swap(0, 1);
    let blocks = linked(&records);
    let mut chain = Chain::in_memory(params()).unwrap();
    let err = chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap_err();
    assert_eq!(err.index, 4);
    assert_eq!(record_error(&err.error), Some((4, 0, RecordError::InvalidNonce)));

    // A side-branch block whose record's nonce is ahead of its doctor's is
    // stored (nonces are checked when its branch is connected); the batch
    // goes on and stops at the bad block of the active chain after it. The
    // side block then forks too far below the tip (window 3): stale.
    let mut records = good.clone();
    break_signature(&mut records[7][1]);
    let main = linked(&records);
    let side = block_on(Some(&main[0]), 2, vec![Record::sign(&doctor, &[9; 20], "side", 40).unwrap()]);
    let mut batch = vec![main[0].clone(), main[1].clone(), side.clone()];
    batch.extend(main[2..].iter().cloned());
    let mut chain = Chain::in_memory(params()).unwrap();
    let err = chain.add_blocks(&batch, None, &BatchOptions::default()).unwrap_err();
    assert_eq!(err.index, 8);
    let mut expected = vec![AddOutcome::Extended; 8];
    expected[2] = AddOutcome::Stale;
    assert_eq!(err.added, expected);
    assert_eq!(record_error(&err.error), Some((7, 1, RecordError::InvalidSignature)));
    assert_eq!(chain.len(), Ok(7));
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);

    // A side-branch block with a bad signature is refused before it is
    // stored (SPEC v1.2: side blocks pass every stateless check); the
    // batch stops there and keeps the blocks before it.
    let mut broken = side;
    break_signature(&mut broken.records[0]);
    let broken = rehash(broken);
    let batch = vec![main[0].clone(), main[1].clone(), broken];
    let mut chain = Chain::in_memory(params()).unwrap();
    let err = chain.add_blocks(&batch, None, &BatchOptions::default()).unwrap_err();
    assert_eq!((err.index, err.added.clone()), (2, vec![AddOutcome::Extended; 2]));
    assert_eq!(record_error(&err.error), Some((1, 0, RecordError::InvalidSignature)), "the side block, at height 1");
}

/// `check` of a stored chain whose blocks 3 and 5 (one window of the
/// signature stage) carry bad signatures reports block 3.
#[test]
fn check_reports_the_first_of_two_bad_blocks_in_one_batch() {
    let db = TempDb::new("chain-test");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let records = signed(&doctor, 8, 3);
    let good = linked(&records);
    Chain::open(&db.0, Some(params())).unwrap().add_blocks(&good, None, &BatchOptions::default()).unwrap();

    let mut bad_records = records.clone();
    break_signature(&mut bad_records[3][1]);
    break_signature(&mut bad_records[5][0]);
    let bad = linked(&bad_records);
    // Store the bad blocks in place of the good ones, ids and links redone,
    // so that only their signatures are wrong.
    let conn = checksummed_sql(&db.0);
    for (g, b) in good.iter().zip(&bad) {
        let (old, new) = (g.block_id.as_bytes().to_vec(), b.block_id.as_bytes().to_vec());
        conn.execute(
            "UPDATE blocks SET id = ?1, parent = ?2, bytes = ?3 WHERE id = ?4",
            rusqlite::params![new, b.previous.as_bytes().to_vec(), b.to_bytes(), old],
        )
        .unwrap();
        conn.execute("UPDATE active SET id = ?1 WHERE id = ?2", rusqlite::params![new, old]).unwrap();
    }
    drop(conn);

    let chain = Chain::open(&db.0, None).unwrap();
    for parallelism in [emr_core::Parallelism::SINGLE, emr_core::Parallelism::ALL_CORES] {
        let report = chain.check(&BatchOptions { parallelism, ..BatchOptions::default() }).unwrap();
        assert_eq!(report.blocks_ok, 3);
        let bad = report.first_bad.unwrap();
        assert_eq!(bad.height, 3);
        assert!(
            matches!(bad.error, ChainError::Block { height: 3, error: BlockError::Record { index: 1, error: RecordError::InvalidSignature }, .. }),
            "{:?}",
            bad.error
        );
    }
}

/// `check` of a file chain runs SQLite's integrity_check on a second
/// connection beside the replay: a cancelled check still says `cancelled`,
/// and damage to an index (which only integrity_check sees) is still found.
#[test]
fn check_on_a_file_cancels_and_finds_index_damage() {
    let db = TempDb::new("chain-test");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let blocks = linked(&signed(&doctor, 20, 2));
    let mut chain = Chain::open(&db.0, Some(params())).unwrap();
    chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap();
    assert_eq!(chain.check(&BatchOptions::default()).unwrap(), emr_core::chain::CheckReport { blocks_ok: 20, first_bad: None });
    let cancel = CancelHandle::new();
    cancel.cancel();
    let options = BatchOptions { cancel: Some(&cancel), ..BatchOptions::default() };
    assert_eq!(kind(chain.check(&options)), ErrorKind::Cancelled);
    drop(chain);

    // Declare the patient index over another column, keeping its pages:
    // its entries no longer match the table, which is itself intact.
    let conn = checksummed_sql(&db.0);
    conn.execute_batch("PRAGMA writable_schema = ON;").unwrap();
    conn.execute(
        "UPDATE sqlite_master SET sql = 'CREATE INDEX records_patient ON records(doctor, height, idx)' WHERE name = 'records_patient'",
        [],
    )
    .unwrap();
    drop(conn);
    let chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(kind(chain.check(&BatchOptions::default())), ErrorKind::Corrupt);
    let reader = Chain::open_readonly(&db.0).unwrap();
    assert_eq!(kind(reader.check(&BatchOptions::default())), ErrorKind::Corrupt);
}

/// The block id covers the records' txids, not their fields: a stored block
/// whose record text was changed (with valid page checksums, as by a
/// careless tool using the checksum VFS) still hashes to its id, so reads
/// re-hash every record too. Queries report the damage instead of handing
/// out a record the block never sealed.
#[test]
fn a_stored_record_that_no_longer_hashes_to_its_txid_is_damage() {
    let db = TempDb::new("chain-test");
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let blocks = linked(&signed(&doctor, 4, 2));
    Chain::open(&db.0, Some(params())).unwrap().add_blocks(&blocks, None, &BatchOptions::default()).unwrap();

    let mut edited = blocks[2].clone();
    edited.records[1].prescription = "dosX".into();
    let conn = checksummed_sql(&db.0);
    conn.execute(
        "UPDATE blocks SET bytes = ?1 WHERE id = ?2",
        rusqlite::params![edited.to_bytes(), blocks[2].block_id.as_bytes().to_vec()],
    )
    .unwrap();
    drop(conn);

    let chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(chain.block_at(1).unwrap().as_ref(), Some(&blocks[1]));
    for damage in [chain.block_at(2).map(|_| ()), chain.patient_history(&Hash160::from_bytes([2; 20])).map(|_| ())] {
        match damage {
            Err(ChainError::Corrupt { table: "blocks", height: Some(2), detail }) => {
                assert!(detail.contains("record 1 does not hash to its txid"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
    let report = chain.check(&BatchOptions::default()).unwrap();
    assert_eq!(report.blocks_ok, 2);
    let bad = report.first_bad.unwrap();
    assert_eq!((bad.height, bad.error.kind()), (2, ErrorKind::Corrupt));
}

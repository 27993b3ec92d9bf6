//! The second outside review's reproductions (SPEC v1.2), each replayed
//! exactly as reported and expected to be refused at every door: the pool,
//! a block added alone, a batch, and `check`.

mod common;

use common::{block_on, flip_s, T0, ZERO};
use emr_core::chain::{AddOutcome, BatchOptions, Chain, ChainError, ChainParams};
use emr_core::mining::BlockTemplate;
use emr_core::{
    Block, BlockError, Curve, Entry, EntryError, ErrorKind, Grant, Hash160, Record, Revocation,
    SigningKey, SubmitOutcome,
};

const MINER: Hash160 = Hash160::from_bytes([9; 20]);
const PATIENT: [u8; 20] = [5; 20];

fn params_with(authority: &SigningKey) -> ChainParams {
    ChainParams { authorities: vec![*authority.public_key()], ..common::params() }
}

/// The template as a block (difficulty 1 accepts every id).
fn mine(template: &BlockTemplate) -> Block {
    let mut block = Block {
        previous: template.previous,
        height: template.height,
        miner: template.miner,
        records: template.records.clone(),
        entries: template.entries.clone(),
        timestamp: template.timestamp,
        difficulty: template.difficulty,
        block_id: ZERO,
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

/// A block on the tip at `timestamp` carrying exactly these entries and records.
fn block_with(chain: &Chain, timestamp: u64, entries: Vec<Entry>, records: Vec<Record>) -> Block {
    let mut template = chain.template(&MINER, timestamp).unwrap();
    template.entries = entries;
    template.records = records;
    mine(&template)
}

fn entry_error(result: Result<AddOutcome, ChainError>) -> (usize, EntryError) {
    match result {
        Err(ChainError::Block { error: BlockError::Entry { index, error }, .. }) => (index, error),
        other => panic!("expected an entry error, got {other:?}"),
    }
}

fn record_error(result: Result<AddOutcome, ChainError>) -> (usize, emr_core::RecordError) {
    match result {
        Err(ChainError::Block { error: BlockError::Record { index, error }, .. }) => (index, error),
        other => panic!("expected a record error, got {other:?}"),
    }
}

/// Finding 1: after a revocation, `(r, n - s)` of the revoked grant was a new,
/// unrevoked grant, and the doctor wrote again. Replayed on both curves of
/// the authority: flip, submit, mine, add, batch; then an authority's second
/// signature of the same content.
#[test]
fn a_revoked_grant_flipped_or_signed_again_never_readmits_its_doctor() {
    for curve in [Curve::P256, Curve::Secp256k1] {
        let authority = SigningKey::generate(curve).unwrap();
        let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
        let mut chain = Chain::in_memory(params_with(&authority)).unwrap();
        let id = chain.chain_id();
        let grant = Grant::sign(&authority, id, doctor.public_key_der(), "GMC 1", 0, u64::MAX).unwrap();
        assert_eq!(chain.submit_entry_at(&grant.clone().into(), T0), Ok(SubmitOutcome::Ready));
        let first = Record::sign(&doctor, &PATIENT, "Metformin", 1).unwrap();
        assert_eq!(chain.submit_at(&first, T0), Ok(SubmitOutcome::Ready));
        assert_eq!(chain.add_block(&mine(&chain.template(&MINER, T0).unwrap()), None), Ok(AddOutcome::Extended));
        let revocation = Revocation::sign(&authority, id, grant.grant_id(), T0 + 12).unwrap();
        assert_eq!(chain.submit_entry_at(&revocation.into(), T0 + 12), Ok(SubmitOutcome::Ready));
        assert_eq!(chain.add_block(&mine(&chain.template(&MINER, T0 + 12).unwrap()), None), Ok(AddOutcome::Extended));
        let second = Record::sign(&doctor, &PATIENT, "Oxycodone 80mg", 2).unwrap();
        assert_eq!(chain.submit_at(&second, T0 + 24).unwrap_err().kind(), ErrorKind::UnauthorizedDoctor);

        // The flip: no key needed, and a valid ECDSA signature...
        let mut flipped = grant.clone();
        flipped.signature = flip_s(&grant.signature, &authority);
        assert_ne!(flipped.grant_id(), grant.grant_id());
        // ...refused at the pool, in a block alone, in a batch.
        assert_eq!(
            chain.submit_entry_at(&flipped.clone().into(), T0 + 24),
            Err(ChainError::Entry(EntryError::InvalidEntrySignature))
        );
        let attack = block_with(&chain, T0 + 24, vec![flipped.clone().into()], vec![second.clone()]);
        assert_eq!(entry_error(chain.add_block(&attack, None)), (0, EntryError::InvalidEntrySignature));
        let batch = chain.add_blocks(std::slice::from_ref(&attack), None, &BatchOptions::default()).unwrap_err();
        assert!(matches!(batch.error, ChainError::Block { error: BlockError::Entry { index: 0, .. }, .. }));

        // An authority's second signature of the revoked grant's content
        // (P-256 signatures are randomized; a secp256k1 one is made as a
        // flip of itself would be refused above, so it is the same grant).
        let again = Grant::sign(&authority, id, doctor.public_key_der(), "GMC 1", 0, u64::MAX).unwrap();
        if again.grant_id() != grant.grant_id() {
            assert_eq!(
                chain.submit_entry_at(&again.clone().into(), T0 + 24),
                Err(ChainError::Entry(EntryError::DuplicateGrant))
            );
        }
        let replay = block_with(&chain, T0 + 24, vec![again.into()], vec![second.clone()]);
        assert_eq!(entry_error(chain.add_block(&replay, None)), (0, EntryError::DuplicateGrant));

        // The record alone stays refused, and the chain is sound.
        let alone = block_with(&chain, T0 + 24, vec![], vec![second]);
        assert_eq!(record_error(chain.add_block(&alone, None)), (0, emr_core::RecordError::UnauthorizedDoctor));
        assert_eq!(chain.grants(&doctor.public_key_hash()).unwrap().len(), 1);
        assert_eq!(chain.patient_history(&Hash160::from_bytes(PATIENT)).unwrap().len(), 1);
        assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
    }
}

/// Entries name their chain: a grant made on a test chain is refused on the
/// real one, which differs only by its salt.
#[test]
fn a_grant_made_for_another_chain_is_wrong_chain() {
    let authority = SigningKey::generate(Curve::P256).unwrap();
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let test = Chain::in_memory(params_with(&authority)).unwrap();
    let mut real = Chain::in_memory(params_with(&authority)).unwrap();
    assert_ne!(test.chain_id(), real.chain_id(), "random salts");
    let grant = Grant::sign(&authority, test.chain_id(), doctor.public_key_der(), "GMC 1", 0, u64::MAX).unwrap();
    assert_eq!(real.submit_entry_at(&grant.clone().into(), T0), Err(ChainError::Entry(EntryError::WrongChain)));
    let block = block_with(&real, T0, vec![grant.into()], vec![]);
    assert_eq!(entry_error(real.add_block(&block, None)), (0, EntryError::WrongChain));
    // Given the same salt, the same parameters name the same chain.
    let salt = real.params().salt;
    let twin = Chain::in_memory(ChainParams { salt, ..params_with(&authority) }).unwrap();
    assert_eq!(twin.chain_id(), real.chain_id());
}

/// Finding 2: a revocation is carried only once its block's time has
/// reached it, so that backdated blocks cannot keep a revoked doctor
/// writing; the pool holds it until then.
#[test]
fn a_revocation_is_carried_only_once_in_force_and_binds_every_later_block() {
    let authority = SigningKey::generate(Curve::P256).unwrap();
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let mut chain = Chain::in_memory(params_with(&authority)).unwrap();
    let id = chain.chain_id();
    let grant = Grant::sign(&authority, id, doctor.public_key_der(), "GMC 1", 0, u64::MAX).unwrap();
    chain.submit_entry_at(&grant.clone().into(), T0).unwrap();
    chain.add_block(&mine(&chain.template(&MINER, T0).unwrap()), None).unwrap();

    let revocation = Revocation::sign(&authority, id, grant.grant_id(), T0 + 100).unwrap();
    assert_eq!(chain.submit_entry_at(&revocation.clone().into(), T0 + 10), Ok(SubmitOutcome::Held));
    assert_eq!(chain.pending_entries().unwrap(), vec![Entry::from(revocation.clone())]);
    assert!(chain.template(&MINER, T0 + 99).unwrap().entries.is_empty(), "held until its time");
    let early = block_with(&chain, T0 + 50, vec![revocation.clone().into()], vec![]);
    assert_eq!(entry_error(chain.add_block(&early, None)), (0, EntryError::RevocationNotYetEffective));
    // In the block at its time, with a record of the doctor after it: the
    // revocation is in force for that record already.
    let record = Record::sign(&doctor, &PATIENT, "Warfarin", 1).unwrap();
    let same_block = block_with(&chain, T0 + 100, vec![revocation.clone().into()], vec![record.clone()]);
    assert_eq!(record_error(chain.add_block(&same_block, None)).1, emr_core::RecordError::UnauthorizedDoctor);
    let template = chain.template(&MINER, T0 + 100).unwrap();
    assert_eq!(template.entries, vec![Entry::from(revocation)]);
    assert_eq!(chain.add_block(&mine(&template), None), Ok(AddOutcome::Extended));
    // Later miners cannot stamp the chain back: the next block is no
    // earlier than T0 + 100, where the doctor is revoked.
    let backdated = block_with(&chain, T0 + 100, vec![], vec![record]);
    assert_eq!(record_error(chain.add_block(&backdated, None)).1, emr_core::RecordError::UnauthorizedDoctor);
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
}

/// Finding 2, second hole: a block's time may be at most `max_future`
/// (60 s by default) ahead of the caller's clock, and a block refused only
/// for that is not remembered: offered again once its time has come, it is
/// added.
#[test]
fn max_future_is_a_parameter_and_a_block_too_late_may_come_back() {
    assert_eq!(ChainParams::default().max_future, 60);
    let mut chain = Chain::in_memory(common::params()).unwrap();
    let genesis = block_on(None, 1, vec![]);
    chain.add_block(&genesis, None).unwrap();
    let next = block_on(Some(&genesis), 1, vec![]);
    let now = next.timestamp - 61;
    assert_eq!(
        chain.add_block(&next, Some(now)),
        Err(ChainError::TimestampTooLate { limit: now + 60, timestamp: next.timestamp })
    );
    assert_eq!(chain.add_block(&next, Some(next.timestamp - 60)), Ok(AddOutcome::Extended));
    // The old limit, as a chain's own choice.
    let mut lenient = Chain::in_memory(ChainParams { max_future: 7200, ..common::params() }).unwrap();
    lenient.add_block(&genesis, None).unwrap();
    assert_eq!(lenient.add_block(&next, Some(next.timestamp - 7200)), Ok(AddOutcome::Extended));
}

/// Database file and WAL, in bytes.
fn disk_size(db: &common::TempDb) -> u64 {
    ["", "-wal"].iter().map(|s| std::fs::metadata(db.with(s)).map_or(0, |m| m.len())).sum()
}

/// `n` blocks on `parent` (a genesis for `None`) by `miner`.
fn branch(parent: Option<&Block>, miner: u8, n: usize) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::with_capacity(n);
    for _ in 0..n {
        let block = block_on(out.last().or(parent), miner, vec![]);
        out.push(block);
    }
    out
}

/// A record whose prescription is 400 KiB: it fails check 3, which needs no
/// state, whatever its signature.
fn huge_record(doctor: &SigningKey, nonce: u64) -> Record {
    let mut record = Record::sign(doctor, &PATIENT, "x", nonce).unwrap();
    record.prescription = "x".repeat(400 * 1024);
    record.txid = record.calculate_txid();
    record
}

/// Finding 3: side branches forking from genesis cost one initial
/// difficulty a block and were stored unchecked: 40 blocks grew the file by
/// 392 MiB. Now: stale (nothing stored) unless near the tip, and never
/// stored with a record that fails a stateless check.
#[test]
fn side_branches_cost_their_sender_work_not_the_receivers_disk() {
    let db = common::TempDb::new("review-side");
    let mut chain = Chain::open(&db.0, Some(common::params())).unwrap();
    let active = branch(None, 1, 30);
    chain.add_blocks(&active, None, &BatchOptions::default()).unwrap();
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let before = disk_size(&db);

    for i in 0..40u8 {
        let mut genesis = block_on(None, 100 + i, vec![huge_record(&doctor, 1)]);
        genesis.block_id = genesis.calculate_block_id();
        // Alone, far from the tip: stale, before any record is looked at.
        assert_eq!(chain.add_block(&genesis, None), Ok(AddOutcome::Stale));
        // In a batch it is judged at the end, but its records are checked
        // before anything of it is stored.
        let err = chain.add_blocks(&[genesis], None, &BatchOptions::default()).unwrap_err();
        assert!(
            matches!(err.error, ChainError::Block { error: BlockError::Record { index: 0, .. }, .. }),
            "{:?}",
            err.error
        );
        assert_eq!(err.error.kind(), ErrorKind::Record);
    }
    // Light valid branches far below the tip: stale, block by block and as
    // a batch (the whole batch, all of it unstored).
    for i in 0..40u8 {
        let light = branch(None, 150 + i, 3);
        let outcomes = chain.add_blocks(&light, None, &BatchOptions::default()).unwrap();
        assert_eq!(outcomes, vec![AddOutcome::Stale; 3]);
        assert_eq!(chain.add_block(&light[0], None), Ok(AddOutcome::Stale));
    }
    drop(chain);
    let grown = disk_size(&db).saturating_sub(before);
    assert!(grown < 1024 * 1024, "the file grew by {grown} bytes");
    let sql = common::checksummed_sql(&db.0);
    let stored: i64 = sql.query_row("SELECT count(*) FROM blocks", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 30, "only the active chain is stored");
    drop(sql);

    // A competitor near the tip is still stored, checked.
    let mut chain = Chain::open(&db.0, None).unwrap();
    let rival = block_on(Some(&active[28]), 7, vec![]);
    assert_eq!(chain.add_block(&rival, None), Ok(AddOutcome::SideBranch));
    assert_eq!(chain.add_block(&rival, None), Ok(AddOutcome::AlreadyKnown));
    let bad_rival = block_on(Some(&active[28]), 8, vec![huge_record(&doctor, 1)]);
    let err = chain.add_block(&bad_rival, None).unwrap_err();
    assert!(matches!(err, ChainError::Block { error: BlockError::Record { index: 0, .. }, .. }), "{err:?}");
    assert_eq!(
        match err {
            ChainError::Block { error: BlockError::Record { error, .. }, .. } => error.kind(),
            _ => unreachable!(),
        },
        ErrorKind::InvalidPrescription
    );
}

/// A long partition heals: a 300-block active chain is replaced by a
/// 400-block branch from genesis when the branch comes in one streamed
/// call; block by block, its blocks beyond the window are stale.
#[test]
fn a_long_partition_heals_in_one_call() {
    let params = ChainParams { window: 10, ..common::params() };
    let mut chain = Chain::in_memory(params.clone()).unwrap();
    let genesis = block_on(None, 1, vec![]);
    let ours = branch(Some(&genesis), 2, 299);
    let theirs = branch(Some(&genesis), 3, 399);
    chain.add_block(&genesis, None).unwrap();
    chain.add_blocks(&ours, None, &BatchOptions::default()).unwrap();

    // Block by block, as a peer that pages without streaming would: the
    // branch reaches past the window from a fork far below the tip.
    let mut one_by_one = Chain::in_memory(params).unwrap();
    one_by_one.add_block(&genesis, None).unwrap();
    one_by_one.add_blocks(&ours, None, &BatchOptions::default()).unwrap();
    assert_eq!(one_by_one.add_block(&theirs[0], None), Ok(AddOutcome::Stale));

    // Streamed as a sync reads it: page after page, one call.
    let pages = theirs.chunks(100).flat_map(|page| page.iter().cloned().map(Ok));
    let outcomes = chain.add_blocks_streamed(pages, 399, None, &BatchOptions::default()).unwrap();
    assert_eq!(outcomes.len(), 399);
    assert!(outcomes[..298].iter().all(|o| *o == AddOutcome::SideBranch), "lighter until it passes ours");
    assert_eq!(outcomes[299], AddOutcome::Reorganized);
    assert!(outcomes[300..].iter().all(|o| *o == AddOutcome::Extended));
    assert_eq!(chain.tip().unwrap().unwrap().block_id, theirs.last().unwrap().block_id);
    assert_eq!(chain.len().unwrap(), 400);
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
}

/// A chain file written before v1.2 (format 2): an open chain is upgraded on
/// its first writable open (salt, `max_future`, re-checked); one holding
/// entries, which named no chain, is refused saying why; read-only, either
/// is refused until upgraded.
#[test]
fn format_2_files_are_upgraded_or_refused_with_the_reason() {
    let db = common::TempDb::new("review-format2");
    {
        let mut chain = Chain::open(&db.0, Some(common::params())).unwrap();
        chain.add_blocks(&branch(None, 1, 3), None, &BatchOptions::default()).unwrap();
    }
    let make_format_2 = |db: &common::TempDb| {
        let sql = common::checksummed_sql(&db.0);
        common::write_format_2_params(&sql);
        sql.execute("UPDATE meta SET value = 2 WHERE key = 'format'", []).unwrap();
    };
    make_format_2(&db);
    let err = Chain::open_readonly(&db.0).unwrap_err();
    assert!(matches!(err, ChainError::OldFormat { found: 2, current: 5 }), "{err}");
    let chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(chain.len().unwrap(), 3);
    assert_eq!(chain.params().max_future, 60);
    assert!(chain.params().salt.is_some());
    let id = chain.chain_id();
    drop(chain);
    assert_eq!(Chain::open_readonly(&db.0).unwrap().chain_id(), id, "the salt is stored");

    let with_entries = common::TempDb::new("review-format2-entries");
    let authority = SigningKey::generate(Curve::P256).unwrap();
    {
        let mut chain = Chain::open(&with_entries.0, Some(params_with(&authority))).unwrap();
        let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
        let grant = Grant::sign(&authority, chain.chain_id(), doctor.public_key_der(), "GMC 1", 0, u64::MAX).unwrap();
        chain.submit_entry_at(&grant.into(), T0).unwrap();
        chain.add_block(&mine(&chain.template(&MINER, T0).unwrap()), None).unwrap();
    }
    make_format_2(&with_entries);
    let err = Chain::open(&with_entries.0, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let text = err.to_string();
    assert!(text.contains("cannot be upgraded") && text.contains("name no chain"), "{text}");
    // Refused, not changed: still format 2.
    let err = Chain::open_readonly(&with_entries.0).unwrap_err();
    assert!(matches!(err, ChainError::OldFormat { found: 2, .. }), "{err}");
}

/// A stream that breaks off (a peer that stops answering) ends the call
/// at the break: the blocks before it are kept, judged where the stream
/// ended, and the failure is reported at its index.
#[test]
fn a_stream_that_breaks_off_keeps_what_came_before() {
    let mut chain = Chain::in_memory(common::params()).unwrap();
    let blocks = branch(None, 1, 5);
    let stream = blocks[..3].iter().cloned().map(Ok).chain([Err(ChainError::Io("the peer went away".into()))]);
    let err = chain.add_blocks_streamed(stream, 5, None, &BatchOptions::default()).unwrap_err();
    assert_eq!((err.index, err.added.len()), (3, 3));
    assert_eq!(err.error.kind(), ErrorKind::Io);
    assert_eq!(chain.len().unwrap(), 3);
    let rest = blocks[3..].iter().cloned().map(Ok);
    assert_eq!(
        chain.add_blocks_streamed(rest, 2, None, &BatchOptions::default()).unwrap(),
        vec![AddOutcome::Extended; 2]
    );
}

//! `chain::precheck_block` and `chain::Walk`, `Chain::check` in two halves:
//! apart, they reach the same verdict and the same first failure.

mod common;

use common::*;
use emr_core::chain::{precheck_block, Chain, ChainError, Walk};
use emr_core::{Block, BlockError, Curve, Hash160, Hash256, Parallelism, Record, RecordError, SigningKey, UserState};

/// Twelve blocks of two records each by one doctor.
fn blocks(doctor: &SigningKey) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for h in 0..12u64 {
        let records = (1..=2).map(|i| Record::sign(doctor, &[1; 20], &format!("dose {h}"), h * 2 + i).unwrap()).collect();
        let next = block_on(out.last(), 9, records);
        out.push(next);
    }
    out
}

/// Both halves over the encodings: blocks applied, or the first failure and its height.
fn walk(encoded: &[Vec<u8>]) -> Result<Walk, (u64, ChainError)> {
    // A walk needs the chain's salt: its entries name the chain's id.
    assert_eq!(Walk::new(params()).unwrap_err().kind(), emr_core::ErrorKind::InvalidArgument);
    let mut walk = Walk::new(emr_core::chain::ChainParams { salt: Some([1; 16]), ..params() }).unwrap();
    for (height, bytes) in encoded.iter().enumerate() {
        let height = height as u64;
        let passed = precheck_block(height, bytes, Parallelism::SINGLE).map_err(|e| (height, e))?;
        walk.apply(bytes, passed).map_err(|e| (height, e))?;
    }
    Ok(walk)
}

#[test]
fn a_good_chain_walks_to_the_chain_s_states() {
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let blocks = blocks(&doctor);
    let mut chain = Chain::in_memory(params()).unwrap();
    for b in &blocks {
        chain.add_block(b, None).unwrap();
    }
    let report = chain.check(&Default::default()).unwrap();
    let walked = walk(&blocks.iter().map(Block::to_bytes).collect::<Vec<_>>()).unwrap();
    assert_eq!(walked.blocks(), report.blocks_ok);
    let dr = doctor.public_key_hash();
    assert_eq!(walked.states()[&dr], UserState { balance: 0, nonce: 24 });
    assert_eq!(walked.states()[&Hash160::from_bytes([9; 20])], chain.user_state(&Hash160::from_bytes([9; 20])).unwrap());
}

#[test]
fn the_first_failure_is_the_sequential_one() {
    let doctor = SigningKey::generate(Curve::P256).unwrap();
    let good = blocks(&doctor);
    let encode = |blocks: &[Block]| blocks.iter().map(Block::to_bytes).collect::<Vec<_>>();
    // Rebuilds the blocks after `at` on the changed one.
    let relink = |mut blocks: Vec<Block>, at: usize| {
        for h in at..blocks.len() {
            if h > at {
                blocks[h].previous = blocks[h - 1].block_id;
            }
            blocks[h].block_id = blocks[h].calculate_block_id();
        }
        blocks
    };

    // A replayed nonce: every check but the nonce's passes on the workers.
    let mut replay = good.clone();
    replay[5].records[1] = replay[5].records[0].clone();
    let replay = relink(replay, 5);
    assert_eq!(precheck_block(5, &replay[5].to_bytes(), Parallelism::SINGLE), Ok(2));
    let (height, error) = walk(&encode(&replay)).unwrap_err();
    assert_eq!(height, 5);
    assert!(matches!(error, ChainError::Block { height: 5, error: BlockError::Record { index: 1, error: RecordError::InvalidNonce }, .. }));

    // A signature that does not verify (with a txid that matches it).
    let mut forged = good.clone();
    let other = SigningKey::generate(Curve::P256).unwrap();
    let record = &mut forged[11].records[0];
    record.signature = Record::sign(&other, &[1; 20], "x", 1).unwrap().signature;
    record.txid = record.calculate_txid();
    let forged = relink(forged, 11);
    assert_eq!(precheck_block(11, &forged[11].to_bytes(), Parallelism::SINGLE), Ok(0));
    let (height, error) = walk(&encode(&forged)).unwrap_err();
    assert_eq!(height, 11);
    assert!(matches!(error, ChainError::Block { error: BlockError::Record { index: 0, error: RecordError::InvalidSignature }, .. }));

    // Damage: a block that does not hash to its id is corrupt at its height.
    let mut damaged = encode(&good);
    damaged[0][10] ^= 1;
    assert_eq!(walk(&damaged).unwrap_err().0, 0);
    assert_eq!(walk(&damaged).unwrap_err().1.kind(), emr_core::ErrorKind::Corrupt);

    // Linkage: a block on another parent.
    let mut orphan = good.clone();
    orphan[3].previous = Hash256::from_bytes([7; 32]);
    let orphan = relink(orphan, 3);
    let (height, error) = walk(&encode(&orphan)).unwrap_err();
    assert_eq!(height, 3);
    assert!(matches!(error, ChainError::UnknownParent { .. }));
}

#[test]
fn active_ids_are_the_active_blocks_ids() {
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let blocks = blocks(&doctor);
    let mut chain = Chain::in_memory(params()).unwrap();
    assert_eq!(chain.active_ids().unwrap(), Vec::<Hash256>::new());
    for b in &blocks {
        chain.add_block(b, None).unwrap();
    }
    assert_eq!(chain.active_ids().unwrap(), blocks.iter().map(|b| b.block_id).collect::<Vec<_>>());
}

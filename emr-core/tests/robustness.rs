//! No input makes the core panic: random and mutated bytes into every decoder,
//! key importer and verifier.

use emr_core::{Block, BlockFields, Curve, Difficulty, Record, RecordFields, SigningKey, UserStates};
use proptest::prelude::*;

fn sample_record(curve: Curve) -> Record {
    let key = SigningKey::generate(curve).unwrap();
    Record::sign(&key, &[5; 20], "Ibuprofen 200mg", 1).unwrap()
}

fn sample_block() -> Block {
    let record = sample_record(Curve::Secp256k1);
    let difficulty = Difficulty::new(1).unwrap();
    let mut block = Block {
        previous: emr_core::Hash256::from_bytes([0; 32]),
        height: 0,
        miner: emr_core::Hash160::from_bytes([1; 20]),
        records: vec![record],
        entries: Vec::new(),
        timestamp: 1_700_000_000,
        difficulty,
        block_id: emr_core::Hash256::from_bytes([0; 32]),
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

/// Applies byte edits (position, xor mask), truncations and insertions.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>, insert: Option<(usize, u8)>) -> Vec<u8> {
    for &(at, mask) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] ^= mask;
        }
    }
    if let Some((at, b)) = insert {
        let i = at % (bytes.len() + 1);
        bytes.insert(i, b);
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Record::from_bytes(&bytes);
        let _ = Block::from_bytes(&bytes);
        let _ = SigningKey::from_der(&bytes);
        let _ = SigningKey::from_pem(&bytes);
        let _ = emr_core::PublicKey::from_spki_der(&bytes);
        let fields = RecordFields {
            dr_hash: &bytes[..bytes.len().min(20)],
            patient_hash: &bytes[..bytes.len().min(20)],
            dr_public_key: &bytes,
            prescription: Some("x"),
            nonce: 1,
            signature: &bytes,
            txid: &bytes[..bytes.len().min(32)],
        };
        prop_assert!(fields.verify(0).is_err());
    }

    #[test]
    fn mutated_encodings_never_panic(
        edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4),
        cut in proptest::option::of(any::<usize>()),
        insert in proptest::option::of((any::<usize>(), any::<u8>())),
    ) {
        thread_local! {
            static SAMPLES: (Vec<u8>, Vec<u8>, Vec<u8>, String) = {
                let key = SigningKey::generate(Curve::P256).unwrap();
                (
                    sample_record(Curve::P256).to_bytes(),
                    sample_block().to_bytes(),
                    key.to_pkcs8_der().to_vec(),
                    key.to_pkcs8_pem().to_string(),
                )
            };
        }
        SAMPLES.with(|(record, block, der, pem)| {
            let unchanged = edits.is_empty() && cut.is_none() && insert.is_none();
            if let Ok(r) = Record::from_bytes(&mutate(record.clone(), &edits, cut, insert)) {
                let verdict = r.verify(0);
                if unchanged { assert!(verdict.is_ok()); }
            }
            if let Ok(b) = Block::from_bytes(&mutate(block.clone(), &edits, cut, insert)) {
                let _ = b.verify_and_get_changes(b.difficulty, &UserStates::new(), 10);
            }
            let _ = SigningKey::from_der(&mutate(der.clone(), &edits, cut, insert));
            let _ = SigningKey::from_pem(&mutate(pem.clone().into_bytes(), &edits, cut, insert));
        });
    }

    #[test]
    fn mutated_record_fields_fail_verification(
        field in 0usize..6,
        at in any::<usize>(),
        mask in 1u8..,
    ) {
        thread_local! {
            static RECORD: Record = sample_record(Curve::Secp256k1);
        }
        RECORD.with(|record| {
            let mut bytes: [Vec<u8>; 6] = [
                record.dr_hash.as_bytes().to_vec(),
                record.patient_hash.as_bytes().to_vec(),
                record.dr_public_key.clone(),
                record.prescription.clone().into_bytes(),
                record.signature.clone(),
                record.txid.as_bytes().to_vec(),
            ];
            let target = &mut bytes[field];
            let i = at % target.len();
            target[i] ^= mask;
            let prescription = core::str::from_utf8(&bytes[3]).ok();
            let fields = RecordFields {
                dr_hash: &bytes[0],
                patient_hash: &bytes[1],
                dr_public_key: &bytes[2],
                prescription,
                nonce: record.nonce,
                signature: &bytes[4],
                txid: &bytes[5],
            };
            assert!(fields.verify(0).is_err(), "a one-byte change must be detected");
        });
    }
}

#[test]
fn block_fields_with_any_lengths_never_panic() {
    let block = sample_block();
    for len in [0usize, 1, 19, 21, 31, 33, 64] {
        let junk = vec![0xabu8; len];
        let mut fields: BlockFields<'_> = block.fields();
        fields.previous = &junk;
        fields.miner = &junk;
        fields.block_id = &junk;
        assert!(fields.verify_and_get_changes(Difficulty::MIN, &UserStates::new(), 1).is_err());
    }
}

/// A block with a grant and a revocation, and a sealed record.
fn sample_block_with_entries() -> Block {
    let authority = SigningKey::generate(Curve::P256).unwrap();
    let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
    let chain_id = emr_core::Hash256::from_bytes([7; 32]);
    let grant = emr_core::Grant::sign(&authority, chain_id, doctor.public_key_der(), "GMC 1", 0, u64::MAX).unwrap();
    let revocation = emr_core::Revocation::sign(&authority, chain_id, grant.grant_id(), 5).unwrap();
    let patient = SigningKey::generate(Curve::P256).unwrap();
    let sealed = Record::sign_sealed(
        &doctor,
        patient.public_key_hash().as_bytes(),
        "Ibuprofen 200mg",
        1,
        &[*patient.public_key()],
        emr_core::SealOptions::default(),
    )
    .unwrap();
    let mut block = sample_block();
    block.records = vec![sealed];
    block.entries = vec![grant.into(), revocation.into()];
    block.block_id = block.calculate_block_id();
    block
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn entries_and_sealed_texts_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 0..4),
        cut in proptest::option::of(any::<usize>()),
        insert in proptest::option::of((any::<usize>(), any::<u8>())),
    ) {
        let _ = emr_core::Entry::from_bytes(&bytes);
        let block = sample_block_with_entries();
        let mutated = mutate(block.to_bytes(), &edits, cut, insert);
        if let Ok(decoded) = Block::from_bytes(&mutated) {
            let _ = decoded.verify_and_get_changes(decoded.difficulty, &UserStates::new(), 1);
            for entry in &decoded.entries {
                let _ = entry.verify();
                let _ = entry.entry_id();
            }
        }
        // Random text after the prefix, and the block's envelope mutated.
        let key = SigningKey::generate(Curve::Secp256k1).unwrap();
        let text = format!("sealed1:{}", String::from_utf8_lossy(&bytes));
        let mut fields = block.records[0].fields();
        fields.prescription = Some(&text);
        let _ = fields.verify(0);
        let _ = fields.open(&key);
        let envelope = mutate(block.records[0].prescription.as_bytes().to_vec(), &edits, cut, insert);
        let envelope = String::from_utf8_lossy(&envelope).into_owned();
        fields.prescription = Some(&envelope);
        let _ = fields.verify(0);
        let _ = fields.open(&key);
    }
}

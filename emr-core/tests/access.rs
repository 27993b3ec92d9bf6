//! SPEC section 8 through the Rust surface: every vector of
//! `registry.json` and `sealed.json`, entries, sealed records, and the
//! registry as chain state.

mod common;

use common::{block_error_name, expected_error, hex_field, load, text, uint, RawBlock, RawEntry, RawRecord};
use emr_core::{Block, Difficulty, Entry, ErrorKind, Hash160, SigningKey, UserStates};
use serde_json::Value;

#[test]
fn every_entry_vector_with_its_id_and_exactly_its_kind() {
    let file = load("registry.json");
    let entries = file["entries"].as_array().unwrap();
    assert!(entries.len() >= 8);
    for case in entries {
        let name = case["name"].as_str().unwrap();
        let raw = RawEntry::from_json(&case["entry"]);
        let fields = raw.fields();
        assert_eq!(hex::encode(fields.entry_id().as_bytes()), text(case, "entry_id"), "{name}");
        match case["stateless"].get("error") {
            None => {
                assert_eq!(case["stateless"], "valid", "{name}");
                assert_eq!(fields.verify(), Ok(()), "{name}");
                let entry = Entry::from_fields(&fields).unwrap();
                assert_eq!(entry.verify(), Ok(()), "{name}");
                assert_eq!(hex::encode(entry.entry_id().as_bytes()), text(case, "entry_id"), "{name}");
                assert_eq!(Entry::from_bytes(&entry.to_bytes()).as_ref(), Ok(&entry), "{name}");
            }
            Some(kind) => {
                let error = fields.verify().expect_err(name);
                assert_eq!(error.kind().as_str(), kind.as_str().unwrap(), "{name}");
                // The typed entry, where it can hold the fields, fails alike.
                if let Ok(entry) = Entry::from_fields(&fields) {
                    assert_eq!(entry.verify(), Err(error), "{name}");
                } else {
                    assert_eq!(error.kind(), ErrorKind::InvalidEntry, "{name}");
                }
            }
        }
    }
}

#[test]
fn entries_signed_here_verify_with_the_vectors_keys() {
    let file = load("registry.json");
    let authority = SigningKey::from_der(&hex_field(&file["authorities"][0], "private_key_pkcs8")).unwrap();
    assert_eq!(authority.public_key_der(), &hex_field(&file["authorities"][0], "spki")[..]);
    let doctor = hex_field(&file["doctors"][0], "spki");
    let chain_id = emr_core::Hash256::from_slice(&hex_field(&file["params"], "chain_id")).unwrap();
    let grant =
        emr_core::Grant::sign(&authority, chain_id, &doctor, "GMC 7012345, Dr Ada Lovelace", 0, u64::MAX).unwrap();
    assert_eq!(grant.verify(), Ok(()));
    // Entries are made low-S (SPEC 8.1, v1.2), on P-256 too where the
    // signer's own output is high-S half the time.
    for _ in 0..32 {
        let again = emr_core::Grant::sign(&authority, chain_id, &doctor, "x", 0, 1).unwrap();
        assert_eq!(again.verify(), Ok(()));
    }
    assert_eq!(grant.dr_hash().as_bytes()[..], hex_field(&file["doctors"][0], "dr_hash")[..]);
    let revocation = emr_core::Revocation::sign(&authority, chain_id, grant.grant_id(), 1_700_000_100).unwrap();
    assert_eq!(revocation.verify(), Ok(()));
}

/// Every scenario block's id is the new preimage (entry ids after the
/// txids), its encoding round-trips, and the block's own verification runs
/// the stateless entry checks: the blocks the vectors fail for a stateless
/// reason fail here with that reason, the others pass (their remaining
/// failures need the chain).
#[test]
fn scenario_blocks_ids_encoding_and_stateless_checks() {
    let file = load("registry.json");
    let scenario: Vec<&Value> =
        file["scenario"].as_array().unwrap().iter().chain(file["open_chain_scenario"].as_array().unwrap()).collect();
    assert!(scenario.len() >= 20);
    for case in scenario {
        let name = case["name"].as_str().unwrap();
        let raw = RawBlock::from_json(&case["block"]);
        let fields = raw.fields();
        assert_eq!(fields.calculate_block_id().as_bytes()[..], raw.block_id[..], "{name}");
        let block = Block::from_fields(&fields).unwrap();
        assert_eq!(block.calculate_block_id(), block.block_id, "{name}");
        let bytes = block.to_bytes();
        assert_eq!(bytes[1], if block.entries.is_empty() { 1 } else { 2 }, "{name}: version byte");
        assert_eq!(Block::from_bytes(&bytes).as_ref(), Ok(&block), "{name}");

        // Doctors' nonces as the chain would have them: each record valid
        // against nonce - 1, so only the entry checks can fail here.
        let states: UserStates = raw
            .records
            .iter()
            .map(|r| {
                let state = emr_core::UserState { balance: 0, nonce: r.nonce - 1 };
                (Hash160::from_slice(&r.dr_hash).unwrap(), state)
            })
            .collect();
        let result = fields.verify_and_get_changes(Difficulty::MIN, &states, 10_000);
        match expected_error(case).as_deref() {
            Some(
                e @ ("too_many_entries"
                | "entry:1:invalid_entry_signature"
                | "entry:0:invalid_entry_signature"),
            ) => {
                assert_eq!(block_error_name(&result.unwrap_err()), e, "{name}");
            }
            _ => assert!(result.is_ok(), "{name}: {result:?}"),
        }
    }
}

/// A block without entries encodes exactly as before entries existed:
/// version 1, the header, the records, nothing after them.
#[test]
fn blocks_without_entries_encode_as_before() {
    let file = load("registry.json");
    let case = &file["open_chain_scenario"][0];
    let block = Block::from_fields(&RawBlock::from_json(&case["block"]).fields()).unwrap();
    assert!(block.entries.is_empty());
    let mut expected = vec![b'B', 1];
    expected.extend_from_slice(block.previous.as_bytes());
    expected.extend_from_slice(&block.height.to_le_bytes());
    expected.extend_from_slice(block.miner.as_bytes());
    expected.extend_from_slice(&block.timestamp.to_le_bytes());
    expected.extend_from_slice(&block.difficulty.get().to_le_bytes());
    expected.extend_from_slice(&block.nonce.to_le_bytes());
    expected.extend_from_slice(block.block_id.as_bytes());
    expected.extend_from_slice(&(block.records.len() as u64).to_le_bytes());
    for record in &block.records {
        expected.extend_from_slice(&record.to_bytes());
    }
    assert_eq!(block.to_bytes(), expected);

    // Version 2 with zero entries is not canonical (its form is version 1).
    let mut v2 = expected.clone();
    v2[1] = 2;
    v2.extend_from_slice(&0u64.to_le_bytes());
    assert!(Block::from_bytes(&v2).is_err());
    // An entry count the input cannot hold is refused before allocating.
    let mut v2 = expected;
    v2[1] = 2;
    v2.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(Block::from_bytes(&v2).is_err());
}

#[test]
fn block_with_entries_round_trips_and_truncation_is_refused() {
    let file = load("registry.json");
    let case = &file["scenario"][4]; // a grant and two records
    let block = Block::from_fields(&RawBlock::from_json(&case["block"]).fields()).unwrap();
    assert!(!block.entries.is_empty() && !block.records.is_empty());
    let bytes = block.to_bytes();
    for cut in 0..bytes.len() {
        assert!(Block::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Block::from_bytes(&longer).is_err());
}

// ---------------------------------------------------------------- sealed

struct SealedFile {
    file: Value,
}

impl SealedFile {
    fn load() -> SealedFile {
        SealedFile { file: load("sealed.json") }
    }

    fn key(&self, name: &str) -> SigningKey {
        let r = self.recipient(name);
        let key = SigningKey::from_der(&hex_field(r, "private_key_pkcs8")).unwrap();
        assert_eq!(key.public_key_der(), &hex_field(r, "spki")[..], "{name}");
        key
    }

    fn recipient(&self, name: &str) -> &Value {
        self.file["recipients"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()
    }

    fn cases(&self) -> &Vec<Value> {
        self.file["records"].as_array().unwrap()
    }
}

#[test]
fn every_sealed_vector_verifies_or_fails_with_its_kind_and_opens_as_listed() {
    let sealed = SealedFile::load();
    assert!(sealed.cases().len() >= 22);
    for case in sealed.cases() {
        let name = case["name"].as_str().unwrap();
        let raw = RawRecord::from_json(&case["record"]);
        let previous = uint(case, "previous_nonce");
        let fields = raw.fields();
        assert!(fields.is_sealed() || raw.prescription.len() > 200 || name == "prefix_only", "{name}");
        match expected_error(case) {
            Some(kind) => {
                assert_eq!(fields.verify(previous).unwrap_err().kind().as_str(), kind, "{name}");
                // A record that fails check 3 does not open either.
                let key = sealed.key("patient_k1");
                assert_eq!(fields.open(&key).unwrap_err().kind(), ErrorKind::InvalidPrescription, "{name}");
            }
            None => {
                assert_eq!(fields.verify(previous), Ok(()), "{name}");
                let record = emr_core::Record::from_fields(&fields).unwrap();
                assert_eq!(record.verify(previous), Ok(()), "{name}");
                assert!(record.is_sealed(), "{name}");
                let readers = record.sealed_recipients().unwrap();
                assert!(readers.contains(&record.patient_hash), "{name}");
            }
        }
        for open in case["opens"].as_array().unwrap() {
            let who = open["recipient"].as_str().unwrap();
            let got = fields.open(&sealed.key(who));
            match open.get("plaintext") {
                Some(text) => assert_eq!(got.as_deref(), Ok(text.as_str().unwrap()), "{name} by {who}"),
                None => assert_eq!(got.unwrap_err().kind().as_str(), open["error"].as_str().unwrap(), "{name} by {who}"),
            }
        }
    }
}

#[test]
fn sealed_records_made_here_open_with_the_vectors_keys() {
    let sealed = SealedFile::load();
    let doctor = sealed.key("doctor_k1");
    let patient = sealed.key("patient_p256");
    let pharmacy = sealed.key("pharmacy");
    let stranger = sealed.key("stranger");
    let patient_hash = patient.public_key_hash();
    let text = "Amoxicillin 500mg, 3x daily — é";
    let record = emr_core::Record::sign_sealed(
        &doctor,
        patient_hash.as_bytes(),
        text,
        1,
        &[*patient.public_key(), *pharmacy.public_key()],
        emr_core::SealOptions::default(),
    )
    .unwrap();
    assert_eq!(record.verify(0), Ok(()));
    assert_eq!(
        record.sealed_recipients().unwrap(),
        vec![patient_hash, pharmacy.public_key_hash(), doctor.public_key_hash()]
    );
    for reader in [&doctor, &patient, &pharmacy] {
        assert_eq!(record.open(reader).as_deref(), Ok(text));
    }
    assert_eq!(record.open(&stranger), Err(emr_core::SealError::NotRecipient));
    // The same inputs seal differently every time: fresh K and ephemeral keys.
    let again = emr_core::Record::sign_sealed(
        &doctor,
        patient_hash.as_bytes(),
        text,
        1,
        &[*patient.public_key(), *pharmacy.public_key()],
        emr_core::SealOptions::default(),
    )
    .unwrap();
    assert_ne!(again.prescription, record.prescription);
    // Without the doctor.
    let private = emr_core::Record::sign_sealed(
        &doctor,
        patient_hash.as_bytes(),
        text,
        2,
        &[*patient.public_key()],
        emr_core::SealOptions { include_self: false },
    )
    .unwrap();
    assert_eq!(private.open(&doctor), Err(emr_core::SealError::NotRecipient));
    assert_eq!(private.open(&patient).as_deref(), Ok(text));
    // A plain record is not sealed.
    let plain = emr_core::Record::sign(&doctor, patient_hash.as_bytes(), "x", 3).unwrap();
    assert!(!plain.is_sealed());
    assert_eq!(plain.open(&patient), Err(emr_core::SealError::NotSealed));
}

#[test]
fn sealing_refuses_records_that_could_never_verify() {
    let sealed = SealedFile::load();
    let doctor = sealed.key("doctor_p256");
    let patient = sealed.key("patient_k1");
    let others: Vec<_> = ["nurse", "pharmacy", "stranger"].iter().map(|n| *sealed.key(n).public_key()).collect();
    let ph = patient.public_key_hash();
    let sign = |hash: &[u8], text: &str, nonce: u64, recipients: &[emr_core::PublicKey], include_self: bool| {
        emr_core::Record::sign_sealed(&doctor, hash, text, nonce, recipients, emr_core::SealOptions { include_self })
            .unwrap_err()
            .kind()
    };
    let with_patient = [*patient.public_key()];
    assert_eq!(sign(&[0; 19], "x", 1, &with_patient, true), ErrorKind::HashLength);
    assert_eq!(sign(ph.as_bytes(), &"x".repeat(201), 1, &with_patient, true), ErrorKind::InvalidPrescription);
    assert_eq!(sign(ph.as_bytes(), "x", 0, &with_patient, true), ErrorKind::InvalidNonce);
    assert_eq!(sign(ph.as_bytes(), "x", 1, &others, true), ErrorKind::InvalidPrescription, "patient missing");
    assert_eq!(sign(ph.as_bytes(), "x", 1, &[], false), ErrorKind::InvalidPrescription, "nobody");
    let five = [&with_patient[..], &others[..]].concat();
    assert_eq!(sign(ph.as_bytes(), "x", 1, &five, true), ErrorKind::InvalidPrescription, "five with the doctor");
    // Four with the doctor is the most; listing a key twice seals to it once.
    let four = emr_core::Record::sign_sealed(
        &doctor,
        ph.as_bytes(),
        &"y".repeat(200),
        1,
        &[five[0], five[1], five[2], five[0]],
        emr_core::SealOptions::default(),
    )
    .unwrap();
    assert_eq!(four.verify(0), Ok(()));
    assert_eq!(four.sealed_recipients().unwrap().len(), 4);
    assert_eq!(four.open(&patient).unwrap(), "y".repeat(200));
    // A hand-made sealed text that is not well-formed cannot be signed.
    assert_eq!(
        emr_core::Record::sign(&doctor, ph.as_bytes(), "sealed1:AQE", 1).unwrap_err().kind(),
        ErrorKind::InvalidPrescription
    );
}

/// Every byte of every envelope, changed: the record never opens to
/// another text. It is malformed, not for this key, or does not decrypt;
/// or, when another recipient's slot was changed, it opens to the same text.
#[test]
fn tampering_with_any_envelope_byte_never_opens_to_another_text() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sealed = SealedFile::load();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift: reproducible, no dependency.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut tried = 0;
    for case in sealed.cases().iter().filter(|c| {
        c["expected"] == "valid" && c["opens"].as_array().unwrap().iter().any(|o| o.get("plaintext").is_some())
    }) {
        let raw = RawRecord::from_json(&case["record"]);
        let envelope = b64.decode(&raw.prescription["sealed1:".len()..]).unwrap();
        let readers: Vec<(SigningKey, String)> = case["opens"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| Some((sealed.key(o["recipient"].as_str()?), o.get("plaintext")?.as_str()?.to_owned())))
            .collect();
        let ciphertext_start = 2 + usize::from(envelope[1]) * 102;
        for i in 0..envelope.len() {
            let mut changed = envelope.clone();
            let flip = (next() % 255 + 1) as u8;
            changed[i] ^= flip;
            let text = format!("sealed1:{}", b64.encode(&changed));
            let mut fields = raw.fields();
            fields.prescription = Some(&text);
            for (key, plaintext) in &readers {
                match fields.open(key) {
                    // Another recipient's slot changed: this reader's is intact.
                    Ok(opened) => {
                        assert_eq!(&opened, plaintext, "byte {i} ^ {flip:#x}");
                        assert!(i < ciphertext_start, "byte {i} of the ciphertext changed and it still opened");
                    }
                    Err(e) => assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::InvalidPrescription | ErrorKind::NotRecipient | ErrorKind::DecryptFailed
                        ),
                        "{e}"
                    ),
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 2000, "{tried}");
}

// ---------------------------------------------------------------- chain

use emr_core::chain::{BatchOptions, Chain, ChainError, ChainParams, RegisteredGrant, Walk};
use emr_core::{AddOutcome, Grant, PublicKey, Record, Revocation, SubmitOutcome};

/// registry.json with its keys parsed.
struct Registry {
    file: Value,
}

impl Registry {
    fn load() -> Registry {
        Registry { file: load("registry.json") }
    }

    /// The vectors' parameters with `authorities`: the salt of the chain
    /// with authorities, or of the open chain when there are none.
    fn params(&self, authorities: Vec<PublicKey>) -> ChainParams {
        let p = &self.file[if authorities.is_empty() { "open_chain_params" } else { "params" }];
        ChainParams {
            initial_difficulty: Difficulty::new(u128::from(uint(p, "initial_difficulty"))).unwrap(),
            window: uint(p, "window"),
            block_time: uint(p, "block_time"),
            max_adjust: uint(p, "max_adjust"),
            block_reward: uint(p, "block_reward"),
            max_future: uint(p, "max_future"),
            salt: Some(hex_field(p, "salt").try_into().unwrap()),
            authorities,
        }
    }

    fn chain_id(&self) -> emr_core::Hash256 {
        emr_core::Hash256::from_slice(&hex_field(&self.file["params"], "chain_id")).unwrap()
    }

    fn authorities(&self) -> Vec<PublicKey> {
        self.file["authorities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| PublicKey::from_spki_der(&hex_field(a, "spki")).unwrap())
            .collect()
    }

    fn authority_key(&self, i: usize) -> SigningKey {
        SigningKey::from_der(&hex_field(&self.file["authorities"][i], "private_key_pkcs8")).unwrap()
    }

    fn doctor_key(&self, name: &str) -> SigningKey {
        let d = self.file["doctors"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap();
        SigningKey::from_der(&hex_field(d, "private_key_pkcs8")).unwrap()
    }

    fn doctors(&self) -> Vec<(String, Hash160)> {
        self.file["doctors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (text(d, "name"), Hash160::from_slice(&hex_field(d, "dr_hash")).unwrap()))
            .collect()
    }

    fn block(case: &Value) -> Block {
        Block::from_fields(&RawBlock::from_json(&case["block"]).fields()).unwrap()
    }
}

fn chain_error_name(e: &ChainError) -> String {
    match e {
        ChainError::Block { error, .. } => block_error_name(error),
        other => other.kind().as_str().to_owned(),
    }
}

fn tip_time(chain: &Chain) -> u64 {
    let tip = chain.tip().unwrap().unwrap();
    chain.block_at(tip.height).unwrap().unwrap().timestamp
}

/// Every doctor's grants, as the chain answers them.
fn registry_view(chain: &Chain, doctors: &[(String, Hash160)]) -> Vec<Vec<RegisteredGrant>> {
    doctors.iter().map(|(_, d)| chain.grants(d).unwrap()).collect()
}

/// Runs a scenario list on `chain`, checking each outcome and the
/// authorizations after it; returns the blocks that extended the chain and
/// the registry after each.
fn run_scenario(
    registry: &Registry,
    chain: &mut Chain,
    cases: &[Value],
) -> (Vec<Block>, Vec<Vec<Vec<RegisteredGrant>>>) {
    let doctors = registry.doctors();
    let mut extended = Vec::new();
    let mut views = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let block = Registry::block(case);
        let before = registry_view(chain, &doctors);
        let result = chain.add_block(&block, None);
        match expected_error(case) {
            None => {
                assert_eq!(result, Ok(AddOutcome::Extended), "{name}");
                extended.push(block);
                views.push(registry_view(chain, &doctors));
            }
            Some(expected) => {
                assert_eq!(chain_error_name(&result.unwrap_err()), expected, "{name}");
                assert_eq!(registry_view(chain, &doctors), before, "{name}: a refused block changes nothing");
            }
        }
        let next = tip_time(chain) + registry.params(vec![]).block_time;
        for (doctor, hash) in &doctors {
            let expected = case["authorized_at_next_block"][doctor].as_bool().unwrap();
            assert_eq!(chain.is_authorized(hash, next).unwrap(), expected, "{name}: {doctor} at {next}");
        }
    }
    (extended, views)
}

fn scenario_cases(registry: &Registry, key: &str) -> Vec<Value> {
    registry.file[key].as_array().unwrap().clone()
}

#[test]
fn every_scenario_block_with_its_outcome_and_the_authorizations_after_it() {
    let registry = Registry::load();
    let cases = scenario_cases(&registry, "scenario");
    assert!(cases.len() >= 18);
    let mut chain = Chain::in_memory(registry.params(registry.authorities())).unwrap();
    assert_eq!(chain.authorities(), &registry.authorities()[..]);
    assert_eq!(chain.chain_id(), registry.chain_id(), "SPEC 5's chain id of the vectors' parameters");
    let (extended, _) = run_scenario(&registry, &mut chain, &cases);
    assert_eq!(chain.len().unwrap(), extended.len() as u64);
    let report = chain.check(&BatchOptions::default()).unwrap();
    assert_eq!((report.blocks_ok, report.first_bad), (extended.len() as u64, None));

    // The batch path (signatures ahead, in-order stage after) and a Walk
    // agree with block-by-block adding.
    let mut batch = Chain::in_memory(registry.params(registry.authorities())).unwrap();
    batch.add_blocks(&extended, None, &BatchOptions::default()).unwrap();
    let doctors = registry.doctors();
    assert_eq!(registry_view(&batch, &doctors), registry_view(&chain, &doctors));
    let mut walk = Walk::new(registry.params(registry.authorities())).unwrap();
    for block in &extended {
        let bytes = block.to_bytes();
        let passed = emr_core::chain::precheck_block(walk.blocks(), &bytes, emr_core::Parallelism::SINGLE).unwrap();
        walk.apply(&bytes, passed).unwrap();
    }
    // Each refused block is refused by the batch path with the same error.
    for case in &cases {
        if let Some(expected) = expected_error(case) {
            let block = Registry::block(case);
            if block.height > 0 && block.height <= batch.len().unwrap() {
                let mut fork = Chain::in_memory(registry.params(registry.authorities())).unwrap();
                fork.add_blocks(&extended[..block.height as usize], None, &BatchOptions::default()).unwrap();
                let err = fork.add_blocks(&[block], None, &BatchOptions::default()).unwrap_err();
                assert_eq!(chain_error_name(&err.error), expected, "{}", case["name"]);
            }
        }
    }
}

#[test]
fn open_chain_scenario() {
    let registry = Registry::load();
    let cases = scenario_cases(&registry, "open_chain_scenario");
    let mut chain = Chain::in_memory(registry.params(vec![])).unwrap();
    assert!(chain.authorities().is_empty());
    assert_eq!(hex::encode(chain.chain_id().as_bytes()), text(&registry.file["open_chain_params"], "chain_id"));
    run_scenario(&registry, &mut chain, &cases);
    // The scenario's authority-chain blocks carry entries made for that
    // chain: refused here as another chain's.
    let first = Registry::block(&registry.file["scenario"][0]);
    let mut other = Chain::in_memory(registry.params(vec![])).unwrap();
    let err = other.add_block(&first, None).unwrap_err();
    assert_eq!(chain_error_name(&err), "entry:0:wrong_chain");
}

/// A block on `parent`, 12 s later, difficulty 1 (the vectors' parameters).
fn next_block(parent: &Block, miner: u8, records: Vec<Record>, entries: Vec<Entry>) -> Block {
    let mut block = Block {
        previous: parent.block_id,
        height: parent.height + 1,
        miner: Hash160::from_bytes([miner; 20]),
        records,
        entries,
        timestamp: parent.timestamp + 12,
        difficulty: Difficulty::MIN,
        block_id: common::ZERO,
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

#[test]
fn undo_walks_the_registry_back_through_grants_and_revocations() {
    let registry = Registry::load();
    let doctors = registry.doctors();
    let mut chain = Chain::in_memory(registry.params(registry.authorities())).unwrap();
    let (extended, views) = run_scenario(&registry, &mut chain, &scenario_cases(&registry, "scenario"));
    assert!(views.iter().any(|v| v.iter().flatten().any(|g| g.revoked_effective.is_some())));
    for i in (0..extended.len()).rev() {
        assert_eq!(registry_view(&chain, &doctors), views[i], "after block {i}");
        assert_eq!(chain.undo_last_block().unwrap(), extended[i]);
        assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
    }
    assert!(registry_view(&chain, &doctors).iter().all(Vec::is_empty));
    // And forward again: the same registry.
    for (i, block) in extended.iter().enumerate() {
        assert_eq!(chain.add_block(block, None), Ok(AddOutcome::Extended));
        assert_eq!(registry_view(&chain, &doctors), views[i]);
    }
}

#[test]
fn reorganisation_moves_the_registry_and_a_failed_one_leaves_it_untouched() {
    let registry = Registry::load();
    let doctors = registry.doctors();
    let auth = registry.authority_key(1);
    let db = common::TempDb::new("access-reorg");
    let mut chain = Chain::open(&db.0, Some(registry.params(registry.authorities()))).unwrap();
    let (extended, views) = run_scenario(&registry, &mut chain, &scenario_cases(&registry, "scenario"));
    let active = registry_view(&chain, &doctors);

    // From block 0 (the grant of D1), a branch that revokes D1 at once and
    // grants D3, heavier than the active chain, whose last block is bad.
    let d1_grant = match &extended[0].entries[0] {
        Entry::Grant(g) => g.clone(),
        other => panic!("{other:?}"),
    };
    let d3 = registry.doctor_key("D3");
    let d3_grant = Grant::sign(&auth, chain.chain_id(), d3.public_key_der(), "D3 elsewhere", 0, u64::MAX).unwrap();
    let revoke = Revocation::sign(&auth, chain.chain_id(), d1_grant.grant_id(), 0).unwrap();
    let mut branch = vec![next_block(&extended[0], 9, vec![], vec![revoke.into(), d3_grant.clone().into()])];
    while branch.len() < extended.len() - 1 {
        let parent = branch.last().unwrap().clone();
        branch.push(next_block(&parent, 9, vec![], vec![]));
    }
    // The heavier tip carries D1's grant again: duplicate_grant.
    let bad = next_block(branch.last().unwrap(), 9, vec![], vec![d1_grant.clone().into()]);
    for block in &branch {
        assert_eq!(chain.add_block(block, None), Ok(AddOutcome::SideBranch));
    }
    let err = chain.add_block(&bad, None).unwrap_err();
    assert_eq!(chain_error_name(&err), "entry:0:duplicate_grant");
    assert_eq!(registry_view(&chain, &doctors), active, "a failed reorganisation leaves the registry as it was");
    assert_eq!(chain.tip().unwrap().unwrap().block_id, extended.last().unwrap().block_id);
    // Refused again the same way, after a reopen too.
    drop(chain);
    let mut chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(chain_error_name(&chain.add_block(&bad, None).unwrap_err()), "entry:0:duplicate_grant");

    // A good heavier tip: the registry is the branch's.
    let good = next_block(branch.last().unwrap(), 9, vec![], vec![]);
    assert_eq!(chain.add_block(&good, None), Ok(AddOutcome::Reorganized));
    let d1 = &doctors[0].1;
    let d3_hash = d3.public_key_hash();
    assert_eq!(chain.grants(d1).unwrap(), vec![RegisteredGrant { grant: d1_grant, height: 0, revoked_effective: Some(0) }]);
    assert_eq!(chain.grants(&d3_hash).unwrap(), vec![RegisteredGrant { grant: d3_grant, height: 1, revoked_effective: None }]);
    assert!(chain.grants(&doctors[1].1).unwrap().is_empty(), "D2's grant was on the old branch");
    assert!(!chain.is_authorized(d1, 0).unwrap());
    assert!(chain.is_authorized(&d3_hash, 5).unwrap());
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);

    // And back: the old branch, made heavier, brings its registry back.
    let mut old = extended.clone();
    while old.len() <= branch.len() + 2 {
        let parent = old.last().unwrap().clone();
        old.push(next_block(&parent, 7, vec![], vec![]));
    }
    let outcomes: Vec<_> = old[extended.len()..].iter().map(|b| chain.add_block(b, None).unwrap()).collect();
    assert_eq!(outcomes.last(), Some(&AddOutcome::Reorganized));
    assert_eq!(registry_view(&chain, &doctors), views.last().unwrap().clone());
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
}

#[test]
fn reopen_with_other_authorities_is_refused() {
    let registry = Registry::load();
    let both = registry.authorities();
    let db = common::TempDb::new("access-authorities");
    drop(Chain::open(&db.0, Some(registry.params(both.clone()))).unwrap());
    for other in [vec![both[0]], vec![both[1], both[0]], vec![]] {
        let err = Chain::open(&db.0, Some(registry.params(other))).unwrap_err();
        assert!(matches!(err, ChainError::AuthoritiesMismatch { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
    assert_eq!(Chain::open(&db.0, None).unwrap().authorities(), &both[..]);
    assert_eq!(Chain::open(&db.0, Some(registry.params(both.clone()))).unwrap().authorities(), &both[..]);
    assert_eq!(Chain::open_readonly(&db.0).unwrap().authorities(), &both[..]);
    // An open chain cannot gain authorities either.
    let open = common::TempDb::new("access-open");
    drop(Chain::open(&open.0, Some(registry.params(vec![]))).unwrap());
    assert!(matches!(Chain::open(&open.0, Some(registry.params(both.clone()))), Err(ChainError::AuthoritiesMismatch { .. })));
    // Listing an authority twice is refused at creation.
    assert_eq!(
        Chain::in_memory(registry.params(vec![both[0], both[0]])).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn check_finds_a_damaged_registry() {
    let registry = Registry::load();
    let db = common::TempDb::new("access-check");
    {
        let mut chain = Chain::open(&db.0, Some(registry.params(registry.authorities()))).unwrap();
        run_scenario(&registry, &mut chain, &scenario_cases(&registry, "scenario"));
    }
    common::checksummed_sql(&db.0).execute("UPDATE grants SET revoked_effective = NULL", []).unwrap();
    let chain = Chain::open(&db.0, None).unwrap();
    let err = chain.check(&BatchOptions::default()).unwrap_err();
    assert!(matches!(err, ChainError::Corrupt { table: "grants", .. }), "{err}");
}

/// A chain file of format 1 (before the registry) opens for writing as an
/// open chain, upgraded; read-only it is refused with a clear error.
#[test]
fn format_1_files_are_upgraded_on_a_writable_open() {
    let registry = Registry::load();
    let db = common::TempDb::new("access-format1");
    let open_block = Registry::block(&registry.file["open_chain_scenario"][0]);
    {
        let mut chain = Chain::open(&db.0, Some(registry.params(vec![]))).unwrap();
        chain.add_block(&open_block, None).unwrap();
    }
    let sql = common::checksummed_sql(&db.0);
    sql.execute_batch(
        "DROP TABLE grants; DROP TABLE pool_entries; DROP TABLE pool; DROP TABLE conflicts;
         DELETE FROM meta WHERE key = 'authorities'; UPDATE meta SET value = 1 WHERE key = 'format';",
    )
    .unwrap();
    common::write_format_2_params(&sql);
    drop(sql);
    let err = Chain::open_readonly(&db.0).unwrap_err();
    assert!(matches!(err, ChainError::OldFormat { found: 1, current: 5 }), "{err}");
    let chain = Chain::open(&db.0, None).unwrap();
    assert!(chain.authorities().is_empty());
    assert_eq!(chain.len().unwrap(), 1);
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
    drop(chain);
    assert_eq!(Chain::open_readonly(&db.0).unwrap().len().unwrap(), 1);
}

fn mine(template: &emr_core::mining::BlockTemplate) -> Block {
    // Difficulty 1 accepts every id.
    let mut block = Block {
        previous: template.previous,
        height: template.height,
        miner: template.miner,
        records: template.records.clone(),
        entries: template.entries.clone(),
        timestamp: template.timestamp,
        difficulty: template.difficulty,
        block_id: common::ZERO,
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

#[test]
fn the_pool_takes_entries_and_refuses_unauthorized_doctors() {
    let registry = Registry::load();
    let auth = registry.authority_key(0);
    let d1 = registry.doctor_key("D1");
    let d2 = registry.doctor_key("D2");
    let patient = [5u8; 20];
    let miner = Hash160::from_bytes([3; 20]);
    let t0 = 1_700_000_000;
    let mut chain = Chain::in_memory(registry.params(registry.authorities())).unwrap();

    let r1 = Record::sign(&d1, &patient, "x", 1).unwrap();
    let unauthorized = chain.submit_at(&r1, t0).unwrap_err();
    assert_eq!(unauthorized.kind(), ErrorKind::UnauthorizedDoctor);
    // A record's own checks come first.
    let mut broken = r1.clone();
    broken.signature[8] ^= 1;
    assert_eq!(chain.submit_at(&broken, t0).unwrap_err().kind(), ErrorKind::InvalidTxid);

    // D1 granted until t0 + 100, pending: the record is now accepted.
    let id = chain.chain_id();
    let grant = Grant::sign(&auth, id, d1.public_key_der(), "D1", 0, t0 + 100).unwrap();
    assert_eq!(chain.submit_entry(&grant.clone().into()), Ok(SubmitOutcome::Ready));
    assert_eq!(chain.submit_entry(&grant.clone().into()), Ok(SubmitOutcome::AlreadyPending));
    assert_eq!(chain.submit_at(&r1, t0), Ok(SubmitOutcome::Ready));
    // ... but not after the window.
    let r2 = Record::sign(&d1, &patient, "y", 2).unwrap();
    assert_eq!(chain.submit_at(&r2, t0 + 101).unwrap_err().kind(), ErrorKind::UnauthorizedDoctor);
    assert_eq!(chain.submit_at(&r2, t0 + 50), Ok(SubmitOutcome::Ready));

    // Entry checks 1-4 against the chain and the pending entries.
    let outsider = SigningKey::from_der(&hex_field(&registry.file["outsider"], "private_key_pkcs8")).unwrap();
    let foreign = Grant::sign(&outsider, id, d2.public_key_der(), "D2", 0, u64::MAX).unwrap();
    assert_eq!(chain.submit_entry(&foreign.into()).unwrap_err().kind(), ErrorKind::UnknownAuthority);
    let mut tampered = Grant::sign(&auth, id, d2.public_key_der(), "D2", 0, u64::MAX).unwrap();
    tampered.licence.push('!');
    assert_eq!(chain.submit_entry(&tampered.into()).unwrap_err().kind(), ErrorKind::InvalidEntrySignature);
    let unknown = Revocation::sign(&auth, id, common::ZERO, 0).unwrap();
    assert_eq!(chain.submit_entry(&unknown.into()).unwrap_err().kind(), ErrorKind::UnknownGrant);

    // The template: the entry first, then the records it authorizes.
    let template = chain.template(&miner, t0 + 12).unwrap();
    assert_eq!(template.entries, vec![Entry::from(grant.clone())]);
    assert_eq!(template.records, vec![r1.clone(), r2.clone()]);
    let block = mine(&template);
    assert_eq!(chain.add_block(&block, None), Ok(AddOutcome::Extended));
    assert!(chain.pending_entries().unwrap().is_empty());
    assert!(chain.pending().unwrap().is_empty());
    assert!(chain.is_authorized(&d1.public_key_hash(), t0 + 100).unwrap());
    assert_eq!(chain.submit_entry(&grant.clone().into()).unwrap_err().kind(), ErrorKind::DuplicateGrant);

    // A revocation pending: accepted once, then already_revoked for another.
    let revoke = Revocation::sign(&auth, id, grant.grant_id(), t0 + 30).unwrap();
    assert_eq!(chain.submit_entry_at(&revoke.clone().into(), t0 + 30), Ok(SubmitOutcome::Ready));
    let again = Revocation::sign(&registry.authority_key(1), id, grant.grant_id(), t0 + 40).unwrap();
    assert_eq!(chain.submit_entry_at(&again.into(), t0 + 40).unwrap_err().kind(), ErrorKind::AlreadyRevoked);
    // A record D1 may write now, but not in a template at t0 + 40: left out.
    let r3 = Record::sign(&d1, &patient, "z", 3).unwrap();
    assert_eq!(chain.submit_at(&r3, t0 + 20), Ok(SubmitOutcome::Ready), "before the revocation's effect");
    let r4 = Record::sign(&d1, &patient, "w", 4).unwrap();
    assert_eq!(chain.submit_at(&r4, t0 + 30).unwrap_err().kind(), ErrorKind::UnauthorizedDoctor, "the pending revocation counts");
    let block = mine(&chain.template(&miner, t0 + 40).unwrap());
    assert_eq!(block.entries, vec![Entry::from(revoke)]);
    assert!(block.records.is_empty(), "r3's doctor is revoked at the template's time");
    assert_eq!(chain.pending().unwrap(), vec![r3]);
    assert_eq!(chain.add_block(&block, None), Ok(AddOutcome::Extended));

    // Undo puts the block's entries back in the pool.
    chain.undo_last_block().unwrap();
    assert_eq!(chain.pending_entries().unwrap().len(), 1);
    assert!(chain.is_authorized(&d1.public_key_hash(), t0 + 40).unwrap());

    // An open chain takes no entries: not this chain's, nor its own.
    let mut open = Chain::in_memory(registry.params(vec![])).unwrap();
    assert_eq!(open.submit_entry(&grant.into()).unwrap_err().kind(), ErrorKind::WrongChain);
    let own = Grant::sign(&auth, open.chain_id(), d1.public_key_der(), "D1", 0, u64::MAX).unwrap();
    assert_eq!(open.submit_entry(&own.into()).unwrap_err().kind(), ErrorKind::UnknownAuthority);
    assert_eq!(open.submit_at(&r1, t0), Ok(SubmitOutcome::Ready));
}

#[test]
fn sealed_records_go_through_a_chain_with_authorities() {
    let registry = Registry::load();
    let sealed = SealedFile::load();
    let auth = registry.authority_key(0);
    let doctor = sealed.key("doctor_p256");
    let patient = sealed.key("patient_k1");
    let mut chain = Chain::in_memory(registry.params(registry.authorities())).unwrap();
    let grant = Grant::sign(&auth, chain.chain_id(), doctor.public_key_der(), "sealing doctor", 0, u64::MAX).unwrap();
    chain.submit_entry(&grant.into()).unwrap();
    let record = Record::sign_sealed(
        &doctor,
        patient.public_key_hash().as_bytes(),
        "Warfarin 5mg",
        1,
        &[*patient.public_key()],
        emr_core::SealOptions::default(),
    )
    .unwrap();
    chain.submit_at(&record, 1_700_000_000).unwrap();
    let block = mine(&chain.template(&Hash160::from_bytes([1; 20]), 1_700_000_000).unwrap());
    assert_eq!(chain.add_block(&block, None), Ok(AddOutcome::Extended));
    let history = chain.patient_history(&patient.public_key_hash()).unwrap();
    assert_eq!(history[0].record.open(&patient).as_deref(), Ok("Warfarin 5mg"));
    assert_eq!(history[0].record.open(&sealed.key("stranger")), Err(emr_core::SealError::NotRecipient));
}

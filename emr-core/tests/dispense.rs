//! SPEC section 10 through the Rust surface: every vector of
//! `dispense.json`, the pharmacy entries' signing and encodings.

mod common;

use std::collections::BTreeMap;

use common::{
    block_error_name, chain_error_name, checksummed_sql, expected_error, hex_field, load, text, uint, RawBlock, RawEntry,
    RawRecord, TempDb,
};
use emr_core::chain::{
    AddOutcome, BatchOptions, Chain, ChainError, ChainParams, PrescriptionState, SubmitOutcome, Walk,
};
use emr_core::{
    Block, Cancellation, DecodeError, Difficulty, Dispense, DispenserGrant, Entry, EntryError, EntryType, ErrorKind,
    Grant, Hash160, Hash256, PrescriptionRef, PublicKey, Record, SigningKey, UserState, UserStates,
};
use serde_json::Value;

/// dispense.json with its keys parsed.
struct Vectors {
    file: Value,
}

impl Vectors {
    fn load() -> Vectors {
        Vectors { file: load("dispense.json") }
    }

    fn chain_id(&self) -> Hash256 {
        Hash256::from_slice(&hex_field(&self.file["params"], "chain_id")).unwrap()
    }

    /// The parameters of the scenario's chain (with its authority) or of
    /// the open chain.
    fn params(&self, open: bool) -> ChainParams {
        let p = &self.file[if open { "open_chain_params" } else { "params" }];
        ChainParams {
            initial_difficulty: Difficulty::new(u128::from(uint(p, "initial_difficulty"))).unwrap(),
            window: uint(p, "window"),
            block_time: uint(p, "block_time"),
            max_adjust: uint(p, "max_adjust"),
            block_reward: uint(p, "block_reward"),
            max_future: uint(p, "max_future"),
            salt: Some(hex_field(p, "salt").try_into().unwrap()),
            authorities: if open {
                vec![]
            } else {
                vec![PublicKey::from_spki_der(&hex_field(&self.file["authority"], "spki")).unwrap()]
            },
        }
    }

    fn cases(&self, key: &str) -> Vec<Value> {
        self.file[key].as_array().unwrap().clone()
    }

    /// `D1` -> its key hash.
    fn hash(&self, name: &str) -> Hash160 {
        Hash160::from_slice(&hex_field(self.key_json(name), "key_hash")).unwrap()
    }

    fn key_json(&self, name: &str) -> &Value {
        if name == "authority" {
            return &self.file["authority"];
        }
        self.file["keys"].as_array().unwrap().iter().find(|k| k["name"] == name).unwrap_or_else(|| panic!("key {name}"))
    }

    fn key(&self, name: &str) -> SigningKey {
        let v = self.key_json(name);
        let key = SigningKey::from_der(&hex_field(v, "private_key_pkcs8")).unwrap();
        assert_eq!(key.public_key_der(), &hex_field(v, "spki")[..], "{name}");
        assert_eq!(key.public_key_hash().as_bytes()[..], hex_field(v, "key_hash")[..], "{name}");
        key
    }

    /// The scenario's record `D1:1` and the like, from the block that carries it.
    fn record(&self, name: &str) -> Record {
        let (doctor, nonce) = name.split_once(':').unwrap();
        let dr_hash = hex_field(self.key_json(doctor), "key_hash");
        let nonce: u64 = nonce.parse().unwrap();
        for case in self.file["scenario"].as_array().unwrap() {
            for r in case["block"]["records"].as_array().unwrap() {
                if hex_field(r, "dr_hash") == dr_hash && uint(r, "nonce") == nonce {
                    return Record::from_fields(&RawRecord::from_json(r).fields()).unwrap();
                }
            }
        }
        panic!("no record {name}")
    }
}

#[test]
fn every_entry_vector_with_its_id_and_exactly_its_kind() {
    let file = load("dispense.json");
    let entries = file["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 14);
    let mut types = std::collections::HashSet::new();
    for case in entries {
        let name = case["name"].as_str().unwrap();
        let raw = RawEntry::from_json(&case["entry"]);
        let fields = raw.fields();
        types.insert(fields.entry_type());
        assert_eq!(fields.entry_type().as_str(), case["entry"]["type"].as_str().unwrap(), "{name}");
        assert_eq!(hex::encode(fields.entry_id().as_bytes()), text(case, "entry_id"), "{name}");
        match case["stateless"].get("error") {
            None => {
                assert_eq!(case["stateless"], "valid", "{name}");
                assert_eq!(fields.verify(), Ok(()), "{name}");
                let entry = Entry::from_fields(&fields).unwrap();
                assert_eq!(entry.verify(), Ok(()), "{name}");
                assert_eq!(hex::encode(entry.entry_id().as_bytes()), text(case, "entry_id"), "{name}");
                let bytes = entry.to_bytes();
                assert_eq!(bytes[0], entry.entry_type().tag(), "{name}");
                assert_eq!(Entry::from_bytes(&bytes).as_ref(), Ok(&entry), "{name}");
                assert_eq!(Entry::from_fields(&entry.fields()).as_ref(), Ok(&entry), "{name}");
            }
            Some(kind) => {
                let error = fields.verify().expect_err(name);
                assert_eq!(error.kind().as_str(), kind.as_str().unwrap(), "{name}");
                // The typed entry, where it can hold the fields, fails alike
                // (and keeps its id through its encoding).
                match Entry::from_fields(&fields) {
                    Ok(entry) => {
                        assert_eq!(entry.verify(), Err(error), "{name}");
                        let again = Entry::from_bytes(&entry.to_bytes()).unwrap();
                        assert_eq!(hex::encode(again.entry_id().as_bytes()), text(case, "entry_id"), "{name}");
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::InvalidEntry, "{name}");
                        assert_eq!(error.kind(), ErrorKind::InvalidEntry, "{name}");
                    }
                }
            }
        }
    }
    assert_eq!(types.len(), 3, "the three types of SPEC 10");
}

#[test]
fn entries_signed_here_verify_and_name_the_vectors_prescription() {
    let v = Vectors::load();
    let chain = v.chain_id();
    let (authority, pharmacy, patient, doctor) = (v.key("authority"), v.key("P1"), v.key("PA"), v.key("D1"));
    let record = v.record("D1:1");

    let grant = DispenserGrant::sign(&authority, chain, pharmacy.public_key_der(), "GPhC 1", 0, u64::MAX).unwrap();
    assert_eq!(grant.verify(), Ok(()));
    assert_eq!(grant.pharmacy_hash(), pharmacy.public_key_hash());

    // The vector's valid dispense names this prescription: the same content.
    let valid = &load("dispense.json")["entries"][1];
    assert_eq!(valid["name"], "dispense_valid");
    assert_eq!(hex_field(&valid["entry"], "record_hash")[..], record.signature_hash().as_bytes()[..]);
    let dispense = Dispense::sign(&pharmacy, &patient, chain, &record, "21 capsules, batch 4471").unwrap();
    assert_eq!(dispense.verify(), Ok(()));
    assert_eq!(dispense.prescription(), PrescriptionRef::of(&record));
    assert_eq!(dispense.patient_hash(), record.patient_hash);
    // Same content as the vector's: the same preimage, so the vector's own
    // signatures verify over this dispense too.
    let mut theirs = dispense.clone();
    theirs.signature = hex_field(&valid["entry"], "signature");
    theirs.patient_signature = hex_field(&valid["entry"], "patient_signature");
    assert_eq!(theirs.verify(), Ok(()));
    assert_eq!(hex::encode(theirs.dispense_id().as_bytes()), text(valid, "entry_id"));

    let cancellation = Cancellation::sign(&doctor, chain, &record, "dose changed").unwrap();
    assert_eq!(cancellation.verify(), Ok(()));
    assert_eq!(cancellation.canceller_hash(), record.dr_hash);
    // Entries are made low-S, on P-256 too.
    for _ in 0..16 {
        assert_eq!(Dispense::sign(&pharmacy, &patient, chain, &record, "").unwrap().verify(), Ok(()));
        assert_eq!(Cancellation::sign(&authority, chain, &record, "").unwrap().verify(), Ok(()));
    }
}

/// The patient signs on their own device: the pharmacy makes the unsigned
/// dispense, the patient signs its digest elsewhere (here: the same digest
/// through a second, independently built dispense), and each signature is
/// checked as it is attached.
#[test]
fn two_step_dispense_for_a_patient_signing_on_their_own_device() {
    let v = Vectors::load();
    let chain = v.chain_id();
    let (pharmacy, patient, other) = (v.key("P1"), v.key("PA"), v.key("PB"));
    let record = v.record("D1:1");

    let mut at_counter =
        Dispense::unsigned(chain, &record, pharmacy.public_key_der(), patient.public_key_der(), "21 capsules").unwrap();
    assert!(at_counter.signature.is_empty() && at_counter.patient_signature.is_empty());
    assert_eq!(at_counter.verify(), Err(EntryError::InvalidEntrySignature));
    assert_eq!(at_counter.digest(), emr_core::hash::sha256(&[&at_counter.preimage()]));

    // The patient's phone rebuilds the dispense from what it was shown and
    // signs it: a complete dispense made there has the same digest.
    let on_phone = Dispense::sign(&pharmacy, &patient, chain, &record, "21 capsules").unwrap();
    assert_eq!(on_phone.digest(), at_counter.digest());

    // A signature that is not the patient's (the pharmacy's) is refused,
    // and nothing changes.
    assert_eq!(at_counter.attach_patient_signature(&on_phone.signature), Err(EntryError::InvalidEntrySignature));
    assert!(at_counter.patient_signature.is_empty());
    assert_eq!(at_counter.attach_patient_signature(&[0x30, 0x00]), Err(EntryError::InvalidEntrySignature));
    at_counter.attach_patient_signature(&on_phone.patient_signature).unwrap();
    // Signing with a key that is not the named one is refused.
    assert_eq!(at_counter.sign_pharmacy(&other).unwrap_err().kind(), ErrorKind::InvalidEntrySignature);
    assert_eq!(at_counter.sign_patient(&pharmacy).unwrap_err().kind(), ErrorKind::InvalidEntrySignature);
    at_counter.sign_pharmacy(&pharmacy).unwrap();
    assert_eq!(at_counter.verify(), Ok(()));

    // A phone running this library is handed the unsigned dispense's
    // encoding instead: it decodes, is signed there, and the signature
    // attached at the counter makes the same dispense.
    let mut unsigned =
        Dispense::unsigned(chain, &record, pharmacy.public_key_der(), patient.public_key_der(), "21 capsules").unwrap();
    let Ok(Entry::Dispense(mut on_phone)) = Entry::from_bytes(&Entry::from(unsigned.clone()).to_bytes()) else {
        panic!("an unsigned dispense decodes")
    };
    on_phone.sign_patient(&patient).unwrap();
    unsigned.attach_patient_signature(&on_phone.patient_signature).unwrap();
    unsigned.sign_pharmacy(&pharmacy).unwrap();
    assert_eq!(unsigned.verify(), Ok(()));
    assert_eq!(Entry::from_bytes(&Entry::from(at_counter.clone()).to_bytes()), Ok(Entry::Dispense(at_counter)));
}

#[test]
fn signing_refuses_what_could_never_be_carried() {
    let v = Vectors::load();
    let chain = v.chain_id();
    let (authority, pharmacy, patient, other) = (v.key("authority"), v.key("P1"), v.key("PA"), v.key("PB"));
    let (plain, sealed) = (v.record("D1:1"), v.record("D1:4"));
    assert!(sealed.is_sealed() && !plain.is_sealed());
    let kind = |e: emr_core::EntrySignError| e.kind();

    let p = pharmacy.public_key_der();
    assert_eq!(kind(DispenserGrant::sign(&authority, chain, &p[1..], "x", 0, 1).unwrap_err()), ErrorKind::InvalidEntry);
    assert_eq!(kind(DispenserGrant::sign(&authority, chain, p, &"x".repeat(101), 0, 1).unwrap_err()), ErrorKind::InvalidEntry);
    assert_eq!(kind(DispenserGrant::sign(&authority, chain, p, "x", 2, 1).unwrap_err()), ErrorKind::InvalidEntry);

    assert_eq!(kind(Dispense::sign(&pharmacy, &patient, chain, &plain, &"n".repeat(101)).unwrap_err()), ErrorKind::InvalidEntry);
    assert!(Dispense::sign(&pharmacy, &patient, chain, &plain, &"n".repeat(100)).is_ok());
    assert_eq!(kind(Dispense::sign(&pharmacy, &other, chain, &plain, "").unwrap_err()), ErrorKind::WrongPatient);
    assert_eq!(kind(Dispense::sign(&pharmacy, &patient, chain, &sealed, "7 tablets").unwrap_err()), ErrorKind::PublicTextOnSealed);
    assert!(Dispense::sign(&pharmacy, &patient, chain, &sealed, "").is_ok());
    assert_eq!(
        Dispense::unsigned(chain, &plain, &p[..40], patient.public_key_der(), "").unwrap_err().kind(),
        ErrorKind::InvalidEntry
    );

    assert_eq!(kind(Cancellation::sign(&authority, chain, &plain, &"r".repeat(101)).unwrap_err()), ErrorKind::InvalidEntry);
    assert_eq!(kind(Cancellation::sign(&authority, chain, &sealed, "wrong dose").unwrap_err()), ErrorKind::PublicTextOnSealed);
    assert!(Cancellation::sign(&authority, chain, &sealed, "").is_ok());
}

/// Every field is signed: changing any of them after signing breaks a
/// signature (`invalid_entry_signature`), and the id changes with it.
#[test]
fn every_field_is_covered_by_the_signatures() {
    let v = Vectors::load();
    let chain = v.chain_id();
    let (pharmacy, patient) = (v.key("P1"), v.key("PA"));
    let record = v.record("D1:1");
    let dispense = Dispense::sign(&pharmacy, &patient, chain, &record, "21").unwrap();
    let changes: [fn(&mut Dispense); 6] = [
        |d| d.chain_id = Hash256::from_bytes([1; 32]),
        |d| d.dr_hash = Hash160::from_bytes([1; 20]),
        |d| d.nonce += 1,
        |d| d.record_hash = Hash256::from_bytes([2; 32]),
        |d| d.note.push('0'),
        |d| std::mem::swap(&mut d.signature, &mut d.patient_signature),
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut changed = dispense.clone();
        change(&mut changed);
        assert_eq!(changed.verify(), Err(EntryError::InvalidEntrySignature), "change {i}");
        assert_ne!(changed.dispense_id(), dispense.dispense_id(), "change {i}");
    }
    let cancellation = Cancellation::sign(&v.key("D1"), chain, &record, "x").unwrap();
    let mut changed = cancellation.clone();
    changed.reason = "y".into();
    assert_eq!(changed.verify(), Err(EntryError::InvalidEntrySignature));
    let mut changed = cancellation;
    changed.canceller = v.key("D2").public_key_der().to_vec();
    assert_eq!(changed.verify(), Err(EntryError::InvalidEntrySignature));
}

#[test]
fn encodings_refuse_truncation_trailing_bytes_tags_and_versions() {
    let v = Vectors::load();
    let chain = v.chain_id();
    let record = v.record("D1:1");
    let entries: Vec<Entry> = vec![
        DispenserGrant::sign(&v.key("authority"), chain, v.key("P1").public_key_der(), "GPhC", 0, 9).unwrap().into(),
        Dispense::sign(&v.key("P1"), &v.key("PA"), chain, &record, "n").unwrap().into(),
        Cancellation::sign(&v.key("D1"), chain, &record, "r").unwrap().into(),
    ];
    for (entry, (tag, entry_type)) in
        entries.iter().zip([(b'P', EntryType::DispenserGrant), (b'D', EntryType::Dispense), (b'C', EntryType::Cancellation)])
    {
        assert_eq!(entry.entry_type(), entry_type);
        assert_eq!(EntryType::from_name(entry_type.as_str()), Some(entry_type));
        let bytes = entry.to_bytes();
        assert_eq!((bytes[0], bytes[1]), (tag, 2));
        assert_eq!(Entry::from_bytes(&bytes).as_ref(), Ok(entry));
        for cut in 0..bytes.len() {
            assert!(Entry::from_bytes(&bytes[..cut]).is_err(), "{entry_type} cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Entry::from_bytes(&longer), Err(DecodeError::TrailingBytes(1)));
        for version in [1, 3] {
            let mut other = bytes.clone();
            other[1] = version;
            assert_eq!(Entry::from_bytes(&other), Err(DecodeError::UnsupportedVersion(version)));
        }
        // A length prefix past the input is refused, not allocated.
        let last = match entry {
            Entry::Dispense(d) => d.patient_signature.len(),
            other => other.signature().len(),
        };
        let mut huge = bytes.clone();
        let at = bytes.len() - last - 8;
        huge[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(Entry::from_bytes(&huge), Err(DecodeError::LengthTooLarge(_))), "{entry_type}");
    }
    // A note that is not UTF-8 is refused by the decoder.
    let Entry::Dispense(d) = &entries[1] else { unreachable!() };
    let mut bytes = entries[1].to_bytes();
    let note_at = bytes.len() - 8 - d.patient_signature.len() - 8 - d.signature.len() - d.note.len();
    bytes[note_at] = 0xff;
    assert_eq!(Entry::from_bytes(&bytes), Err(DecodeError::InvalidUtf8));
    assert_eq!(Entry::from_bytes(b"X\x02"), Err(DecodeError::WrongTag(b'X')));
}

#[test]
fn new_kinds_are_spelled_as_the_spec_names_them() {
    for name in [
        "wrong_chain",
        "unauthorized_dispenser",
        "unauthorized_canceller",
        "unknown_prescription",
        "wrong_patient",
        "prescriber_revoked",
        "public_text_on_sealed",
        "already_dispensed",
        "prescription_cancelled",
    ] {
        let kind = ErrorKind::from_name(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(kind.as_str(), name);
    }
    assert_eq!(EntryError::AlreadyDispensed.kind(), ErrorKind::AlreadyDispensed);
    assert!(EntryError::PrescriberRevoked.to_string().starts_with("prescriber_revoked: "));
}

/// Every scenario block's id covers its entries' ids (the new types'
/// included), its encoding round-trips, and its own verification passes
/// (every failure of the scenario needs the chain).
#[test]
fn scenario_blocks_ids_encoding_and_stateless_checks() {
    let file = load("dispense.json");
    let scenario: Vec<&Value> =
        file["scenario"].as_array().unwrap().iter().chain(file["open_chain_scenario"].as_array().unwrap()).collect();
    assert_eq!(scenario.len(), 35);
    for case in scenario {
        let name = case["name"].as_str().unwrap();
        let raw = RawBlock::from_json(&case["block"]);
        let fields = raw.fields();
        assert_eq!(fields.calculate_block_id().as_bytes()[..], raw.block_id[..], "{name}");
        let block = Block::from_fields(&fields).unwrap();
        let bytes = block.to_bytes();
        assert_eq!(Block::from_bytes(&bytes).as_ref(), Ok(&block), "{name}");
        // Each doctor's nonce before its first record of the block.
        let mut states = UserStates::new();
        for r in raw.records.iter().rev() {
            states.insert(Hash160::from_slice(&r.dr_hash).unwrap(), UserState { balance: 0, nonce: r.nonce - 1 });
        }
        let result = fields.verify_and_get_changes(Difficulty::MIN, &states, 10_000);
        assert!(result.is_ok(), "{name}: {:?} (expected {:?})", result.map_err(|e| block_error_name(&e)), expected_error(case));
    }
}

// ------------------------------------------------------------------ chain

fn block_of(case: &Value) -> Block {
    Block::from_fields(&RawBlock::from_json(&case["block"]).fields()).unwrap()
}

/// `{"D1:1": "dispensed", ...}` as the chain answers it, for the names the
/// case lists; and every listed record exists, and no other.
fn states(v: &Vectors, chain: &Chain, case: &Value) -> BTreeMap<String, String> {
    let listed = case["prescriptions_after"].as_object().unwrap();
    let mut out = BTreeMap::new();
    let mut per_doctor: BTreeMap<String, u64> = BTreeMap::new();
    for name in listed.keys() {
        let (doctor, nonce) = name.split_once(':').unwrap();
        let nonce: u64 = nonce.parse().unwrap();
        let state = chain.prescription_state(&v.hash(doctor), nonce).unwrap();
        out.insert(name.clone(), state.as_str().to_owned());
        let top = per_doctor.entry(doctor.to_owned()).or_default();
        *top = (*top).max(nonce);
    }
    for (doctor, top) in per_doctor {
        let hash = v.hash(&doctor);
        assert_eq!(chain.user_state(&hash).unwrap().nonce, top, "{doctor}'s records are the listed ones");
        assert_eq!(chain.prescription_state(&hash, top + 1).unwrap_err().kind(), ErrorKind::NotFound);
    }
    out
}

fn expected_states(case: &Value) -> BTreeMap<String, String> {
    case["prescriptions_after"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// Runs scenario cases on `chain`: each block's outcome, and every
/// prescription's state after it. Returns the blocks that extended the
/// chain, each with the states after it.
fn run_scenario(v: &Vectors, chain: &mut Chain, cases: &[Value]) -> Vec<(Block, BTreeMap<String, String>)> {
    let mut extended = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let block = block_of(case);
        let result = chain.add_block(&block, None);
        match expected_error(case) {
            None => {
                assert_eq!(case["expected"], "extended", "{name}");
                assert_eq!(result, Ok(AddOutcome::Extended), "{name}");
            }
            Some(expected) => assert_eq!(chain_error_name(&result.unwrap_err()), expected, "{name}"),
        }
        let after = states(v, chain, case);
        assert_eq!(after, expected_states(case), "{name}");
        if expected_error(case).is_none() {
            extended.push((block, after));
        }
    }
    extended
}

#[test]
fn every_scenario_block_with_its_outcome_and_every_prescription_state_after_it() {
    let v = Vectors::load();
    let cases = v.cases("scenario");
    assert_eq!(cases.len(), 32);
    let db = TempDb::new("dispense-scenario");
    let mut chain = Chain::open(&db.0, Some(v.params(false))).unwrap();
    assert_eq!(chain.chain_id(), v.chain_id(), "SPEC 5's chain id of the vectors' parameters");
    let extended = run_scenario(&v, &mut chain, &cases);
    assert_eq!(chain.len().unwrap(), extended.len() as u64);
    let report = chain.check(&BatchOptions::default()).unwrap();
    assert_eq!((report.blocks_ok, report.first_bad), (extended.len() as u64, None));
    // A refused block is remembered as invalid and refused again with its
    // error (read back from the stored failure), the tip unchanged.
    let tip = chain.tip().unwrap();
    for case in cases.iter().filter(|c| expected_error(c).is_some()) {
        let again = chain.add_block(&block_of(case), None).unwrap_err();
        assert_eq!(Some(chain_error_name(&again)), expected_error(case), "{}", case["name"]);
    }
    assert_eq!(chain.tip().unwrap(), tip);
    let last = cases.last().unwrap();
    drop(chain);
    // Reopened: the same states, read from the file, and refused blocks
    // still refused with their errors.
    let mut reopened = Chain::open(&db.0, None).unwrap();
    for case in cases.iter().filter(|c| expected_error(c).is_some()) {
        let again = reopened.add_block(&block_of(case), None).unwrap_err();
        assert_eq!(Some(chain_error_name(&again)), expected_error(case), "{}", case["name"]);
    }
    drop(reopened);
    let chain = Chain::open_readonly(&db.0).unwrap();
    assert_eq!(states(&v, &chain, last), expected_states(last));

    // The batch path (signatures ahead, in-order stage after) and a Walk
    // agree with block-by-block adding.
    let blocks: Vec<Block> = extended.iter().map(|(b, _)| b.clone()).collect();
    let mut batch = Chain::in_memory(v.params(false)).unwrap();
    batch.add_blocks(&blocks, None, &BatchOptions::default()).unwrap();
    assert_eq!(states(&v, &batch, last), expected_states(last));
    let mut walk = Walk::new(v.params(false)).unwrap();
    for block in &blocks {
        let bytes = block.to_bytes();
        let passed = emr_core::chain::precheck_block(walk.blocks(), &bytes, emr_core::Parallelism::SINGLE).unwrap();
        walk.apply(&bytes, passed).unwrap();
    }
    // Each refused block is refused by the batch path and by a walk with
    // the same error.
    for case in &cases {
        let Some(expected) = expected_error(case) else { continue };
        let block = block_of(case);
        let mut fork = Chain::in_memory(v.params(false)).unwrap();
        fork.add_blocks(&blocks[..block.height as usize], None, &BatchOptions::default()).unwrap();
        let err = fork.add_blocks(std::slice::from_ref(&block), None, &BatchOptions::default()).unwrap_err();
        assert_eq!(chain_error_name(&err.error), expected, "{}", case["name"]);
        let mut walk = Walk::new(v.params(false)).unwrap();
        for good in &blocks[..block.height as usize] {
            walk.apply(&good.to_bytes(), 0).unwrap();
        }
        assert_eq!(chain_error_name(&walk.apply(&block.to_bytes(), 0).unwrap_err()), expected, "{}", case["name"]);
    }
}

#[test]
fn open_chain_scenario() {
    let v = Vectors::load();
    let mut chain = Chain::in_memory(v.params(true)).unwrap();
    assert_eq!(hex::encode(chain.chain_id().as_bytes()), text(&v.file["open_chain_params"], "chain_id"));
    let extended = run_scenario(&v, &mut chain, &v.cases("open_chain_scenario"));
    assert_eq!(extended.len(), 2);
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
    // The authority chain's blocks carry entries made for that chain.
    let mut other = Chain::in_memory(v.params(true)).unwrap();
    let err = other.add_block(&block_of(&v.cases("scenario")[0]), None).unwrap_err();
    assert_eq!(chain_error_name(&err), "entry:0:wrong_chain");
}

/// Who, when, which block: the richer answers behind the states.
#[test]
fn states_name_the_pharmacy_the_canceller_the_block_and_the_time() {
    let v = Vectors::load();
    let mut chain = Chain::in_memory(v.params(false)).unwrap();
    let extended = run_scenario(&v, &mut chain, &v.cases("scenario"));
    let (d1, p1, pa) = (v.hash("D1"), v.hash("P1"), v.hash("PA"));
    let granted = chain.dispenser_grants(&p1).unwrap();
    assert!(!granted.is_empty());
    let PrescriptionState::Dispensed(dispensed) = chain.prescription_state(&d1, 1).unwrap() else { panic!() };
    let block = chain.block_at(dispensed.height).unwrap().unwrap();
    assert_eq!((dispensed.block_id, dispensed.timestamp), (block.block_id, block.timestamp));
    assert!(block.entries.contains(&Entry::Dispense(dispensed.dispense.clone())));
    assert_eq!(dispensed.dispense.patient_hash(), pa);
    let pharmacy = dispensed.dispense.pharmacy_hash();
    let PrescriptionState::Cancelled(cancelled) = chain.prescription_state(&d1, 2).unwrap() else { panic!() };
    assert_eq!(cancelled.cancellation.canceller_hash(), d1, "the doctor cancels D1:2");
    let PrescriptionState::Cancelled(by_authority) = chain.prescription_state(&d1, 3).unwrap() else { panic!() };
    assert_eq!(by_authority.cancellation.canceller, hex_field(&v.file["authority"], "spki"));

    // A pharmacy's dispensings, in chain order, each in its block.
    let mut all = Vec::new();
    for (block, _) in &extended {
        for entry in &block.entries {
            if let Entry::Dispense(d) = entry {
                all.push((d.pharmacy_hash(), d.clone(), block.height));
            }
        }
    }
    let mine: Vec<_> = all.iter().filter(|(p, _, _)| *p == pharmacy).map(|(_, d, h)| (d.clone(), *h)).collect();
    let listed: Vec<_> =
        chain.pharmacy_dispensings(&pharmacy).unwrap().into_iter().map(|e| (e.dispense, e.height)).collect();
    assert_eq!(listed, mine);
    assert!(!listed.is_empty());
    assert!(chain.pharmacy_dispensings(&Hash160::from_bytes([7; 20])).unwrap().is_empty());

    // A patient's history carries each record's state.
    let history = chain.patient_prescriptions(&pa).unwrap();
    assert_eq!(history.len(), chain.patient_history(&pa).unwrap().len());
    for status in &history {
        let state = chain.prescription_state(&status.record.record.dr_hash, status.record.record.nonce).unwrap();
        assert_eq!(status.state, state);
        assert_eq!(status.record.record.patient_hash, pa);
    }
    let status = chain.prescription_status(&d1, 1).unwrap();
    assert_eq!(status.record.record.prescription, "Amoxicillin 500mg");
    assert_eq!(status.state.as_str(), "dispensed");
    assert_eq!(chain.prescription_status(&d1, 99).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(chain.prescription_state(&d1, 0).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(chain.prescription_state(&d1, u64::MAX).unwrap_err().kind(), ErrorKind::NotFound);
    // The revoked pharmacy is no longer authorized; its grant says since when.
    let revoked: Vec<_> = v.file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .filter(|n| n.starts_with('P') && *n != "PA" && *n != "PB")
        .flat_map(|n| chain.dispenser_grants(&v.hash(n)).unwrap())
        .filter(|g| g.revoked_effective.is_some())
        .collect();
    assert_eq!(revoked.len(), 1);
    let tip_time = extended.last().unwrap().0.timestamp;
    assert!(!chain.is_dispenser_authorized(&revoked[0].grant.pharmacy_hash(), tip_time).unwrap());
    // A dispenser grant is no doctor's grant, and the reverse.
    assert!(chain.grants(&revoked[0].grant.pharmacy_hash()).unwrap().is_empty());
    assert!(chain.dispenser_grants(&d1).unwrap().is_empty());
}

#[test]
fn undo_walks_dispenses_and_cancellations_back_and_forth() {
    let v = Vectors::load();
    let cases = v.cases("scenario");
    let mut chain = Chain::in_memory(v.params(false)).unwrap();
    let extended = run_scenario(&v, &mut chain, &cases);
    let last = cases.last().unwrap();
    for i in (1..extended.len()).rev() {
        let (block, after) = &extended[i];
        assert_eq!(&states(&v, &chain, &serde_json::json!({"prescriptions_after": after})), after, "after block {i}");
        assert_eq!(&chain.undo_last_block().unwrap(), block);
        assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None, "after undoing {i}");
        // The states are those after the block before; a record the undone
        // block carried is gone.
        let before = &extended[i - 1].1;
        for name in after.keys() {
            let (doctor, nonce) = name.split_once(':').unwrap();
            let state = chain.prescription_state(&v.hash(doctor), nonce.parse().unwrap());
            match before.get(name) {
                Some(expected) => assert_eq!(state.unwrap().as_str(), expected, "{name} after undoing {i}"),
                None => assert_eq!(state.unwrap_err().kind(), ErrorKind::NotFound, "{name} after undoing {i}"),
            }
        }
    }
    // Forward again: the same states.
    for (block, after) in &extended[1..] {
        assert_eq!(chain.add_block(block, None), Ok(AddOutcome::Extended));
        assert_eq!(&states(&v, &chain, &serde_json::json!({"prescriptions_after": after})), after);
    }
    assert_eq!(states(&v, &chain, last), expected_states(last));
}

// ------------------------------------------------- partitions and the pool

/// A chain of its own (vectors' keys, a fresh salt): the authority grants
/// D1 and the pharmacies P1 and P2 at genesis; D1 prescribes to PA in
/// block 1. Both sites start from these two blocks.
struct Sites {
    v: Vectors,
    params: ChainParams,
    chain_id: Hash256,
    base: Vec<Block>,
    record: Record,
}

const T0: u64 = 1_760_000_000;

fn next_block(parent: Option<&Block>, miner: u8, records: Vec<Record>, entries: Vec<Entry>) -> Block {
    let (previous, height, timestamp) = match parent {
        Some(p) => (p.block_id, p.height + 1, p.timestamp + 12),
        None => (common::ZERO, 0, T0),
    };
    let mut block = Block {
        previous,
        height,
        miner: Hash160::from_bytes([miner; 20]),
        records,
        entries,
        timestamp,
        difficulty: Difficulty::MIN,
        block_id: common::ZERO,
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

impl Sites {
    fn new() -> Sites {
        let v = Vectors::load();
        let mut params = v.params(false);
        params.salt = Some([0x5a; 16]);
        let chain_id = params.chain_id().unwrap();
        let authority = v.key("authority");
        let entries = vec![
            Grant::sign(&authority, chain_id, v.key("D1").public_key_der(), "GMC 1", 0, u64::MAX).unwrap().into(),
            DispenserGrant::sign(&authority, chain_id, v.key("P1").public_key_der(), "North", 0, u64::MAX).unwrap().into(),
            DispenserGrant::sign(&authority, chain_id, v.key("P2").public_key_der(), "South", 0, u64::MAX).unwrap().into(),
        ];
        let genesis = next_block(None, 1, vec![], entries);
        let record = Record::sign(&v.key("D1"), v.hash("PA").as_bytes(), "Oxycodone 10mg, 28 tablets", 1).unwrap();
        let prescribed = next_block(Some(&genesis), 1, vec![record.clone()], vec![]);
        Sites { v, params, chain_id, base: vec![genesis, prescribed], record }
    }

    fn chain(&self) -> Chain {
        let mut chain = Chain::in_memory(self.params.clone()).unwrap();
        for block in &self.base {
            assert_eq!(chain.add_block(block, None), Ok(AddOutcome::Extended));
        }
        chain
    }

    fn dispense(&self, pharmacy: &str, note: &str) -> Dispense {
        Dispense::sign(&self.v.key(pharmacy), &self.v.key("PA"), self.chain_id, &self.record, note).unwrap()
    }

    fn state(&self, chain: &Chain) -> PrescriptionState {
        chain.prescription_state(&self.record.dr_hash, 1).unwrap()
    }
}

/// Two sites cut off from each other, each with a pharmacy that dispenses
/// the same prescription: when they sync, the heavier branch's dispense
/// stays and the other is a listed conflict naming both pharmacies; when
/// the other branch becomes heavier again, the roles swap.
#[test]
fn partition_one_dispense_stays_the_other_is_a_conflict_naming_both_pharmacies() {
    let sites = Sites::new();
    let (north, south) = (sites.dispense("P1", "28 tablets, North"), sites.dispense("P2", "28 tablets, South"));
    let tip = sites.base.last().unwrap();
    let mut a = sites.chain();
    let mut b = sites.chain();
    // Site A: the North pharmacy's dispense goes through its pool into a block.
    assert_eq!(a.submit_entry_at(&north.clone().into(), T0 + 30), Ok(SubmitOutcome::Ready));
    let template = a.template(&Hash160::from_bytes([0xa; 20]), T0 + 24).unwrap();
    assert_eq!(template.entries, vec![Entry::Dispense(north.clone())]);
    let a2 = next_block(Some(tip), 0xa, vec![], template.entries);
    assert_eq!(a.add_block(&a2, None), Ok(AddOutcome::Extended));
    // Site B: the South pharmacy dispenses too, and B mines one block more.
    let b2 = next_block(Some(tip), 0xb, vec![], vec![south.clone().into()]);
    let b3 = next_block(Some(&b2), 0xb, vec![], vec![]);
    assert_eq!(b.add_blocks(&[b2.clone(), b3.clone()], None, &BatchOptions::default()).unwrap().len(), 2);
    assert!(matches!(sites.state(&a), PrescriptionState::Dispensed(d) if d.dispense == north));
    assert!(matches!(sites.state(&b), PrescriptionState::Dispensed(d) if d.dispense == south));

    // A syncs B's heavier branch in one call.
    let outcomes = a.add_blocks(&[b2.clone(), b3.clone()], None, &BatchOptions::default()).unwrap();
    assert_eq!(outcomes, vec![AddOutcome::SideBranch, AddOutcome::Reorganized]);
    let PrescriptionState::Dispensed(stayed) = sites.state(&a) else { panic!("dispensed") };
    assert_eq!((stayed.dispense.clone(), stayed.block_id, stayed.height), (south.clone(), b2.block_id, 2));
    let conflicts = a.entry_conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    let conflict = &conflicts[0];
    assert_eq!(conflict.entry, Entry::Dispense(north.clone()));
    assert_eq!(conflict.replaced_by, Entry::Dispense(south.clone()));
    assert_eq!((conflict.block_id, conflict.height), (b2.block_id, 2));
    let pharmacies = |e: &Entry| match e {
        Entry::Dispense(d) => d.pharmacy_hash(),
        _ => panic!("a dispense"),
    };
    assert_eq!(
        (pharmacies(&conflict.entry), pharmacies(&conflict.replaced_by)),
        (sites.v.hash("P1"), sites.v.hash("P2")),
        "the conflict names both pharmacies"
    );
    assert!(a.pending_entries().unwrap().is_empty(), "the lost dispense is not pending");
    assert!(a.pharmacy_dispensings(&sites.v.hash("P1")).unwrap().is_empty());
    assert_eq!(a.pharmacy_dispensings(&sites.v.hash("P2")).unwrap().len(), 1);
    assert_eq!(a.check(&BatchOptions::default()).unwrap().first_bad, None);
    // B, which never held North's dispense, keeps North's block as a side
    // branch and lists nothing.
    assert_eq!(b.add_block(&a2, None), Ok(AddOutcome::SideBranch));
    assert!(b.entry_conflicts().unwrap().is_empty());

    // North's branch grows heavier: it is back in the chain, its conflict
    // is over, and South's dispense is now the conflict.
    let a3 = next_block(Some(&a2), 0xa, vec![], vec![]);
    let a4 = next_block(Some(&a3), 0xa, vec![], vec![]);
    let outcomes = a.add_blocks(&[a3, a4], None, &BatchOptions::default()).unwrap();
    assert_eq!(outcomes, vec![AddOutcome::SideBranch, AddOutcome::Reorganized]);
    assert!(matches!(sites.state(&a), PrescriptionState::Dispensed(d) if d.dispense == north));
    let conflicts = a.entry_conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!((conflicts[0].entry.clone(), conflicts[0].replaced_by.clone()), (south.clone().into(), north.clone().into()));
    // Dismissed once the pharmacies settle.
    let id = south.dispense_id();
    assert!(a.dismiss_entry_conflict(&id).unwrap());
    assert!(!a.dismiss_entry_conflict(&id).unwrap());
    assert!(a.entry_conflicts().unwrap().is_empty());
}

/// A doctor's cancellation pending at one site when the other site's
/// dispense arrives: the cancellation cannot be mined any more and is
/// kept as a conflict naming the dispense.
#[test]
fn a_pending_cancellation_overtaken_by_a_dispense_is_a_conflict() {
    let sites = Sites::new();
    let mut a = sites.chain();
    let cancellation = Cancellation::sign(&sites.v.key("D1"), sites.chain_id, &sites.record, "wrong dose").unwrap();
    assert_eq!(a.submit_entry_at(&cancellation.clone().into(), T0 + 30), Ok(SubmitOutcome::Ready));
    let south = sites.dispense("P2", "");
    let b2 = next_block(sites.base.last(), 0xb, vec![], vec![south.clone().into()]);
    assert_eq!(a.add_block(&b2, None), Ok(AddOutcome::Extended));
    let conflicts = a.entry_conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!((conflicts[0].entry.clone(), conflicts[0].replaced_by.clone()), (cancellation.into(), south.into()));
    assert!(a.pending_entries().unwrap().is_empty());
}

/// The pool judges a dispense or cancellation as a block on the tip would
/// after the pending entries; templates carry them and mine into blocks
/// that add.
#[test]
fn the_pool_checks_dispenses_and_cancellations_after_the_pending_ones() {
    let sites = Sites::new();
    let mut chain = sites.chain();
    let now = T0 + 40;
    let north = sites.dispense("P1", "");
    assert_eq!(chain.submit_entry_at(&north.clone().into(), now), Ok(SubmitOutcome::Ready));
    assert_eq!(chain.submit_entry_at(&north.clone().into(), now), Ok(SubmitOutcome::AlreadyPending));
    // A second pharmacy's dispense of the same prescription, after the
    // pending one: already dispensed. A cancellation likewise.
    let err = chain.submit_entry_at(&sites.dispense("P2", "").into(), now).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyDispensed);
    let cancellation = Cancellation::sign(&sites.v.key("D1"), sites.chain_id, &sites.record, "").unwrap();
    assert_eq!(chain.submit_entry_at(&cancellation.into(), now).unwrap_err().kind(), ErrorKind::AlreadyDispensed);
    // A prescription only pending (not in a block) cannot be dispensed yet.
    let pending = Record::sign(&sites.v.key("D1"), sites.v.hash("PA").as_bytes(), "Ibuprofen 400mg", 2).unwrap();
    assert_eq!(chain.submit_at(&pending, now), Ok(SubmitOutcome::Ready));
    let early = Dispense::sign(&sites.v.key("P2"), &sites.v.key("PA"), sites.chain_id, &pending, "").unwrap();
    assert_eq!(chain.submit_entry_at(&early.clone().into(), now).unwrap_err().kind(), ErrorKind::UnknownPrescription);
    // A pharmacy without a dispenser grant, and a patient not the record's.
    let stranger = Dispense::sign(&sites.v.key("stranger"), &sites.v.key("PA"), sites.chain_id, &sites.record, "");
    assert_eq!(chain.submit_entry_at(&stranger.unwrap().into(), now).unwrap_err().kind(), ErrorKind::UnauthorizedDispenser);
    let mut wrong = Dispense::unsigned(
        sites.chain_id,
        &sites.record,
        sites.v.key("P2").public_key_der(),
        sites.v.key("PA").public_key_der(),
        "",
    )
    .unwrap();
    wrong.patient_public_key = sites.v.key("PB").public_key_der().to_vec();
    wrong.sign_pharmacy(&sites.v.key("P2")).unwrap();
    wrong.sign_patient(&sites.v.key("PB")).unwrap();
    assert_eq!(chain.submit_entry_at(&wrong.into(), now).unwrap_err().kind(), ErrorKind::WrongPatient);

    // The template carries the pending dispense and the record; mined, it adds.
    let template = chain.template(&Hash160::from_bytes([3; 20]), now).unwrap();
    assert_eq!(template.entries, vec![Entry::Dispense(north.clone())]);
    assert_eq!(template.records, vec![pending.clone()]);
    let mut block = next_block(sites.base.last(), 3, template.records, template.entries);
    block.timestamp = template.timestamp;
    block.block_id = block.calculate_block_id();
    assert_eq!(chain.add_block(&block, None), Ok(AddOutcome::Extended));
    assert!(matches!(sites.state(&chain), PrescriptionState::Dispensed(d) if d.dispense == north));
    // The record is in a block now: its dispense is accepted, then mined.
    assert_eq!(chain.submit_entry_at(&early.clone().into(), now + 12), Ok(SubmitOutcome::Ready));
    let template = chain.template(&Hash160::from_bytes([3; 20]), now + 12).unwrap();
    assert_eq!(template.entries, vec![Entry::Dispense(early)]);

    // In an open chain no pharmacy may dispense; the doctor may cancel.
    let v = &sites.v;
    let mut open = Chain::in_memory(v.params(true)).unwrap();
    let open_id = open.chain_id();
    let record = Record::sign(&v.key("D1"), v.hash("PA").as_bytes(), "Paracetamol", 1).unwrap();
    assert_eq!(open.add_block(&next_block(None, 1, vec![record.clone()], vec![]), None), Ok(AddOutcome::Extended));
    let dispense = Dispense::sign(&v.key("P1"), &v.key("PA"), open_id, &record, "").unwrap();
    assert_eq!(open.submit_entry_at(&dispense.into(), T0 + 20).unwrap_err().kind(), ErrorKind::UnauthorizedDispenser);
    let cancel = Cancellation::sign(&v.key("D1"), open_id, &record, "").unwrap();
    assert_eq!(open.submit_entry_at(&cancel.into(), T0 + 20), Ok(SubmitOutcome::Ready));
    let other = Cancellation::sign(&v.key("D2"), open_id, &record, "").unwrap();
    assert_eq!(open.submit_entry_at(&other.into(), T0 + 20).unwrap_err().kind(), ErrorKind::UnauthorizedCanceller);
}

/// A chain file of format 4 (before SPEC 10): refused read-only, as older
/// formats are; upgraded on a writable open, after which it carries
/// dispenses. And `check` finds a dispense row that disagrees with the blocks.
#[test]
fn format_4_files_are_upgraded_and_check_compares_the_dispenses() {
    let sites = Sites::new();
    let db = TempDb::new("dispense-format4");
    let mut chain = Chain::open(&db.0, Some(sites.params.clone())).unwrap();
    for block in &sites.base {
        assert_eq!(chain.add_block(block, None), Ok(AddOutcome::Extended));
    }
    drop(chain);
    checksummed_sql(&db.0)
        .execute_batch("DROP TABLE prescription_entries; UPDATE meta SET value = 4 WHERE key = 'format';")
        .unwrap();
    let err = Chain::open_readonly(&db.0).unwrap_err();
    assert!(matches!(err, ChainError::OldFormat { found: 4, current: 5 }), "{err}");
    let mut chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(chain.check(&BatchOptions::default()).unwrap().first_bad, None);
    assert_eq!(sites.state(&chain), PrescriptionState::Open);
    let b2 = next_block(sites.base.last(), 2, vec![], vec![sites.dispense("P1", "").into()]);
    assert_eq!(chain.add_block(&b2, None), Ok(AddOutcome::Extended));
    drop(chain);
    let chain = Chain::open_readonly(&db.0).unwrap();
    assert_eq!(sites.state(&chain).as_str(), "dispensed");
    drop(chain);

    // A row removed consistently (through the checksum VFS) is caught.
    checksummed_sql(&db.0).execute("DELETE FROM prescription_entries", []).unwrap();
    let chain = Chain::open(&db.0, None).unwrap();
    assert_eq!(sites.state(&chain), PrescriptionState::Open);
    let err = chain.check(&BatchOptions::default()).unwrap_err();
    assert!(matches!(err, ChainError::Corrupt { table: "prescription_entries", .. }), "{err}");
}

/// A heavier branch whose block dispenses a prescription its own branch
/// already dispensed fails whole: the chain, the prescription's state and
/// the pool are as before. A good heavier branch then takes the
/// prescription from a cancellation, which is kept as a conflict.
#[test]
fn reorganisations_across_a_cancellation_fail_whole_or_keep_a_conflict() {
    let sites = Sites::new();
    let tip = sites.base.last().unwrap();
    let mut a = sites.chain();
    let cancellation = Cancellation::sign(&sites.v.key("D1"), sites.chain_id, &sites.record, "wrong dose").unwrap();
    let a2 = next_block(Some(tip), 0xa, vec![], vec![cancellation.clone().into()]);
    assert_eq!(a.add_block(&a2, None), Ok(AddOutcome::Extended));
    let cancelled = sites.state(&a);
    assert!(matches!(&cancelled, PrescriptionState::Cancelled(c) if c.cancellation == cancellation));

    let south = sites.dispense("P2", "");
    let b2 = next_block(Some(tip), 0xb, vec![], vec![south.clone().into()]);
    let bad = next_block(Some(&b2), 0xb, vec![], vec![sites.dispense("P1", "").into()]);
    let err = a.add_blocks(&[b2.clone(), bad.clone()], None, &BatchOptions::default()).unwrap_err();
    assert_eq!(chain_error_name(&err.error), "entry:0:already_dispensed");
    assert_eq!(a.tip().unwrap().unwrap().block_id, a2.block_id);
    assert_eq!(sites.state(&a), cancelled);
    assert!(a.entry_conflicts().unwrap().is_empty() && a.pending_entries().unwrap().is_empty());
    assert_eq!(a.check(&BatchOptions::default()).unwrap().first_bad, None);

    let b3 = next_block(Some(&b2), 0xb, vec![], vec![]);
    assert_eq!(a.add_block(&b3, None), Ok(AddOutcome::Reorganized));
    assert!(matches!(sites.state(&a), PrescriptionState::Dispensed(d) if d.dispense == south));
    let conflicts = a.entry_conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!((conflicts[0].entry.clone(), conflicts[0].replaced_by.clone()), (cancellation.into(), south.into()));
    assert!(a.pending_entries().unwrap().is_empty());
    assert_eq!(a.check(&BatchOptions::default()).unwrap().first_bad, None);
}

//! SPEC section 10 through the Rust surface: every vector of
//! `dispense.json`, the pharmacy entries' signing and encodings.

mod common;

use common::{block_error_name, expected_error, hex_field, load, text, uint, RawBlock, RawEntry, RawRecord};
use emr_core::{
    Block, Cancellation, DecodeError, Difficulty, Dispense, DispenserGrant, Entry, EntryError, EntryType, ErrorKind,
    Hash160, Hash256, PrescriptionRef, Record, SigningKey, UserState, UserStates,
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

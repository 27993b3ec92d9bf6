//! SPEC section 8 through the Rust surface: every vector of
//! `registry.json` and `sealed.json`, entries, sealed records, and the
//! registry as chain state.

mod common;

use std::path::PathBuf;

use emr_core::{
    Block, BlockError, BlockFields, Difficulty, Entry, EntryFields, ErrorKind, GrantFields, Hash160,
    RecordFields, RevocationFields, SigningKey, UserStates,
};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    std::env::var_os("EMR_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors are required at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key} is a hex string"))).expect("valid hex")
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is a string")).to_owned()
}

fn uint(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is a u64"))
}

/// Owned bytes of one JSON record, so views can borrow from it.
struct RawRecord {
    dr_hash: Vec<u8>,
    patient_hash: Vec<u8>,
    dr_public_key: Vec<u8>,
    prescription: String,
    nonce: u64,
    signature: Vec<u8>,
    txid: Vec<u8>,
}

impl RawRecord {
    fn from_json(v: &Value) -> RawRecord {
        RawRecord {
            dr_hash: hex_field(v, "dr_hash"),
            patient_hash: hex_field(v, "patient_hash"),
            dr_public_key: hex_field(v, "dr_public_key"),
            prescription: text(v, "prescription"),
            nonce: uint(v, "nonce"),
            signature: hex_field(v, "signature"),
            txid: hex_field(v, "txid"),
        }
    }

    fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            dr_hash: &self.dr_hash,
            patient_hash: &self.patient_hash,
            dr_public_key: &self.dr_public_key,
            prescription: Some(&self.prescription),
            nonce: self.nonce,
            signature: &self.signature,
            txid: &self.txid,
        }
    }
}

/// Owned bytes of one JSON entry.
enum RawEntry {
    Grant { dr_public_key: Vec<u8>, licence: String, not_before: u64, not_after: u64, authority: Vec<u8>, signature: Vec<u8> },
    Revocation { grant_id: Vec<u8>, effective: u64, authority: Vec<u8>, signature: Vec<u8> },
}

impl RawEntry {
    fn from_json(v: &Value) -> RawEntry {
        match v["type"].as_str() {
            Some("grant") => RawEntry::Grant {
                dr_public_key: hex_field(v, "dr_public_key"),
                licence: text(v, "licence"),
                not_before: uint(v, "not_before"),
                not_after: uint(v, "not_after"),
                authority: hex_field(v, "authority"),
                signature: hex_field(v, "signature"),
            },
            Some("revocation") => RawEntry::Revocation {
                grant_id: hex_field(v, "grant_id"),
                effective: uint(v, "effective"),
                authority: hex_field(v, "authority"),
                signature: hex_field(v, "signature"),
            },
            other => panic!("unknown entry type {other:?}"),
        }
    }

    fn fields(&self) -> EntryFields<'_> {
        match self {
            RawEntry::Grant { dr_public_key, licence, not_before, not_after, authority, signature } => {
                EntryFields::Grant(GrantFields {
                    dr_public_key,
                    licence: Some(licence),
                    not_before: *not_before,
                    not_after: *not_after,
                    authority,
                    signature,
                })
            }
            RawEntry::Revocation { grant_id, effective, authority, signature } => {
                EntryFields::Revocation(RevocationFields { grant_id, effective: *effective, authority, signature })
            }
        }
    }
}

struct RawBlock {
    previous: Vec<u8>,
    height: u64,
    miner: Vec<u8>,
    records: Vec<RawRecord>,
    entries: Vec<RawEntry>,
    timestamp: u64,
    difficulty: u128,
    block_id: Vec<u8>,
    nonce: u64,
}

impl RawBlock {
    fn from_json(v: &Value) -> RawBlock {
        RawBlock {
            previous: hex_field(v, "previous"),
            height: uint(v, "height"),
            miner: hex_field(v, "miner"),
            records: v["records"].as_array().unwrap().iter().map(RawRecord::from_json).collect(),
            entries: v["entries"].as_array().unwrap().iter().map(RawEntry::from_json).collect(),
            timestamp: uint(v, "timestamp"),
            difficulty: u128::from(uint(v, "difficulty")),
            block_id: hex_field(v, "block_id"),
            nonce: uint(v, "nonce"),
        }
    }

    fn fields(&self) -> BlockFields<'_> {
        BlockFields {
            previous: &self.previous,
            height: self.height,
            miner: &self.miner,
            records: self.records.iter().map(RawRecord::fields).collect(),
            entries: self.entries.iter().map(RawEntry::fields).collect(),
            timestamp: self.timestamp,
            difficulty: self.difficulty,
            block_id: &self.block_id,
            nonce: self.nonce,
        }
    }
}

/// `record:0:unauthorized_doctor`, `entry:1:invalid_entry_signature`,
/// `too_many_entries`: the vectors' spelling of a block error.
fn block_error_name(error: &BlockError) -> String {
    match error {
        BlockError::Record { index, error } => format!("record:{index}:{}", error.kind()),
        BlockError::Entry { index, error } => format!("entry:{index}:{}", error.kind()),
        other => other.kind().as_str().to_owned(),
    }
}

fn expected_error(case: &Value) -> Option<String> {
    case["expected"].get("error").map(|e| e.as_str().unwrap().to_owned())
}

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
    let grant = emr_core::Grant::sign(&authority, &doctor, "GMC 7012345, Dr Ada Lovelace", 0, u64::MAX).unwrap();
    assert_eq!(grant.verify(), Ok(()));
    assert_eq!(grant.dr_hash().as_bytes()[..], hex_field(&file["doctors"][0], "dr_hash")[..]);
    let revocation = emr_core::Revocation::sign(&authority, grant.grant_id(), 1_700_000_100).unwrap();
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
            Some(e @ ("too_many_entries" | "entry:1:invalid_entry_signature")) => {
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

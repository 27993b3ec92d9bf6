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

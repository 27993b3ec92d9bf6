//! Every vector of `shared/vectors` through the Rust surface.

mod common;

use std::collections::HashMap;

use emr_core::{
    calculate_signature_hash, calculate_txid, Block, BlockError, BlockFields, Difficulty, Hash160,
    Record, SigningKey, UserState, UserStates,
};
use serde_json::Value;

use common::{hex_field, load, RawRecord};


#[test]
fn valid_records_verify_and_keys_round_trip() {
    let file = load("records.json");
    let valid = file["valid"].as_array().unwrap();
    assert!(valid.len() >= 28);
    for case in valid {
        let name = case["name"].as_str().unwrap();
        let raw = RawRecord::from_json(&case["record"]);
        let previous = case["previous_nonce"].as_u64().unwrap();
        assert_eq!(raw.fields().verify(previous), Ok(()), "{name}");

        let record = Record::from_fields(&raw.fields()).unwrap();
        assert_eq!(record.verify(previous), Ok(()), "{name}");
        assert_eq!(
            Record::from_bytes(&record.to_bytes()).as_ref(),
            Ok(&record),
            "{name}"
        );
        assert_eq!(
            hex::encode(record.signature_hash().as_bytes()),
            case["signature_hash"].as_str().unwrap(),
            "{name}"
        );
        let txid = calculate_txid(
            &raw.dr_hash,
            &raw.patient_hash,
            &raw.dr_public_key,
            &raw.prescription,
            raw.nonce,
            &raw.signature,
        );
        assert_eq!(txid.as_bytes()[..], raw.txid[..], "{name}");
        assert_eq!(
            calculate_signature_hash(&raw.patient_hash, &raw.prescription, raw.nonce),
            record.signature_hash()
        );

        let pkcs8 = hex_field(case, "private_key_pkcs8");
        let key = SigningKey::from_der(&pkcs8).unwrap();
        assert_eq!(
            key.curve().name(),
            case["curve"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            &key.to_pkcs8_der()[..],
            &pkcs8[..],
            "{name}: export is byte-for-byte pyca's"
        );
        assert_eq!(key.public_key_der(), &raw.dr_public_key[..], "{name}");
        let resigned = Record::sign(&key, &raw.patient_hash, &raw.prescription, raw.nonce).unwrap();
        assert_eq!(resigned.verify(previous), Ok(()), "{name}");
    }
}

#[test]
fn invalid_records_fail_with_exactly_their_kind() {
    let file = load("records.json");
    let invalid = file["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 32);
    for case in invalid {
        let name = case["name"].as_str().unwrap();
        let raw = RawRecord::from_json(&case["record"]);
        let previous = case["previous_nonce"].as_u64().unwrap();
        let error = raw.fields().verify(previous).expect_err(name);
        assert_eq!(
            error.kind().as_str(),
            case["expected_error"].as_str().unwrap(),
            "{name}"
        );
    }
}

struct RawBlock {
    previous: Vec<u8>,
    height: u64,
    miner: Vec<u8>,
    records: Vec<RawRecord>,
    timestamp: u64,
    difficulty: u128,
    block_id: Vec<u8>,
    nonce: u64,
}

impl RawBlock {
    fn from_json(v: &Value) -> RawBlock {
        RawBlock {
            previous: hex_field(v, "previous"),
            height: v["height"].as_u64().unwrap(),
            miner: hex_field(v, "miner"),
            records: v["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(RawRecord::from_json)
                .collect(),
            timestamp: v["timestamp"].as_u64().unwrap(),
            difficulty: as_u128(&v["difficulty"]),
            block_id: hex_field(v, "block_id"),
            nonce: v["nonce"].as_u64().unwrap(),
        }
    }

    fn fields(&self) -> BlockFields<'_> {
        BlockFields {
            previous: &self.previous,
            height: self.height,
            miner: &self.miner,
            records: self.records.iter().map(RawRecord::fields).collect(),
            entries: Vec::new(),
            timestamp: self.timestamp,
            difficulty: self.difficulty,
            block_id: &self.block_id,
            nonce: self.nonce,
        }
    }
}

fn as_u128(v: &Value) -> u128 {
    v.as_u64()
        .map(u128::from)
        .unwrap_or_else(|| v.to_string().parse().expect("integer difficulty"))
}

fn states_from_json(v: &Value) -> UserStates {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(hash, state)| {
            let hash = Hash160::from_slice(&hex::decode(hash).unwrap()).unwrap();
            let state = UserState {
                balance: state["balance"].as_u64().unwrap(),
                nonce: state["nonce"].as_u64().unwrap(),
            };
            (hash, state)
        })
        .collect()
}

fn block_error_name(error: &BlockError) -> String {
    match error {
        BlockError::Record { index, error } => format!("record:{index}:{}", error.kind()),
        other => other.kind().as_str().to_owned(),
    }
}

#[test]
fn every_block_vector() {
    let file = load("blocks.json");
    let reward = file["block_reward"].as_u64().unwrap();
    let blocks = file["blocks"].as_array().unwrap();
    assert!(blocks.len() >= 18);
    for case in blocks {
        let name = case["name"].as_str().unwrap();
        let raw = RawBlock::from_json(&case["block"]);
        let difficulty = Difficulty::new(as_u128(&case["verify_difficulty"])).unwrap();
        let states = states_from_json(&case["previous_user_states"]);
        let before = states.clone();
        let result = raw
            .fields()
            .verify_and_get_changes(difficulty, &states, reward);
        assert_eq!(states, before, "{name}: input map untouched");
        let expected = &case["expected"];
        match expected.get("error") {
            Some(error) => {
                let got = result.expect_err(name);
                assert_eq!(block_error_name(&got), error.as_str().unwrap(), "{name}");
            }
            None => {
                let got: HashMap<_, _> = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(got, states_from_json(expected), "{name}");
                let block = Block::from_fields(&raw.fields()).unwrap();
                assert_eq!(
                    Block::from_bytes(&block.to_bytes()).as_ref(),
                    Ok(&block),
                    "{name}"
                );
                assert_eq!(
                    block
                        .verify_and_get_changes(difficulty, &states, reward)
                        .unwrap(),
                    got,
                    "{name}"
                );
            }
        }
    }
}

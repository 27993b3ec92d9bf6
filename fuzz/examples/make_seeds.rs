//! Writes the committed seed corpora (`fuzz/corpus/<target>/`) from the
//! shared vectors: `cargo run --example make_seeds` in fuzz/ (the Makefile's
//! `fuzz-seeds`). Files are named by the SHA-1 of their contents, as
//! libFuzzer names its own, so re-running adds nothing twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use emr_core::address::encode;
use emr_core::{
    Block, BlockFields, CancellationFields, DispenseFields, DispenserGrantFields, Entry, EntryFields, GrantFields, Hash160,
    Record, RecordFields, RevocationFields, Role, SigningKey,
};
use emr_fuzz::{base64url, sealed_vectors};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    std::env::var_os("EMR_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The bytes of a hex field; empty for a field the object does not have.
fn unhex(v: &Value) -> Vec<u8> {
    v.as_str().map_or_else(Vec::new, |h| hex::decode(h).unwrap())
}

struct Corpus {
    dir: PathBuf,
    seeds: BTreeSet<Vec<u8>>,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Corpus {
        Corpus { dir: root.join(target), seeds: BTreeSet::new() }
    }

    fn add(&mut self, seed: impl Into<Vec<u8>>) {
        self.seeds.insert(seed.into());
    }

    fn write(self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        for seed in &self.seeds {
            let name = emr_core::hash::sha1(&[seed]).to_string();
            std::fs::write(self.dir.join(name), seed).unwrap();
        }
        println!("{}: {} seeds", self.dir.display(), self.seeds.len());
    }
}

/// fuzz_targets/record_verify.rs's `Input` as `arbitrary` 1.x reads it (the
/// fields not named here are `None` or `false`: the base record's): a bool
/// or an `Option`'s tag is one byte (its low bit), a u64 eight bytes little
/// endian, a `Vec<u8>` each byte behind a 1 and a 0 after the last; the
/// one `String`'s length is read from the end of the input (one byte, or
/// two big-endian when the input from the string on is over 256 bytes).
#[derive(Default)]
struct VerifyInput<'a> {
    p256: bool,
    patient_hash: Option<&'a [u8]>,
    prescription: Option<Option<&'a str>>,
    nonce: Option<u64>,
    fix_txid: bool,
}

impl VerifyInput<'_> {
    fn to_bytes(&self) -> Vec<u8> {
        let mut head = vec![u8::from(self.p256), 0]; // p256, dr_hash
        match self.patient_hash {
            Some(hash) => {
                head.push(1);
                hash.iter().for_each(|&b| head.extend([1, b]));
                head.push(0);
            }
            None => head.push(0),
        }
        head.push(0); // dr_public_key
        let text = match self.prescription {
            None => {
                head.push(0);
                None
            }
            Some(None) => {
                head.extend([1, 0]);
                None
            }
            Some(Some(text)) => {
                head.extend([1, 1]);
                Some(text)
            }
        };
        let mut tail = match self.nonce {
            Some(n) => [&[1][..], &n.to_le_bytes()].concat(),
            None => vec![0],
        };
        // signature, txid, previous_nonce, fix_dr_hash, fix_txid
        tail.extend([0, 0, 0, 0, u8::from(self.fix_txid)]);
        let Some(text) = text else { return [head, tail].concat() };
        let size = if text.len() + tail.len() < 256 {
            vec![u8::try_from(text.len()).unwrap()]
        } else {
            u16::try_from(text.len()).unwrap().to_be_bytes().to_vec()
        };
        [head, text.as_bytes().to_vec(), tail, size].concat()
    }
}

fn record_from_json(r: &Value) -> Option<Record> {
    let fields = (
        unhex(&r["dr_hash"]),
        unhex(&r["patient_hash"]),
        unhex(&r["dr_public_key"]),
        r["prescription"].as_str().map(str::to_owned),
        r["nonce"].as_u64()?,
        unhex(&r["signature"]),
        unhex(&r["txid"]),
    );
    Record::from_fields(&RecordFields {
        dr_hash: &fields.0,
        patient_hash: &fields.1,
        dr_public_key: &fields.2,
        prescription: fields.3.as_deref(),
        nonce: fields.4,
        signature: &fields.5,
        txid: &fields.6,
    })
    .ok()
}

fn entry_from_json(e: &Value) -> Option<Entry> {
    let (key, authority, signature) = (unhex(&e["dr_public_key"]), unhex(&e["authority"]), unhex(&e["signature"]));
    let grant_id = unhex(&e["grant_id"]);
    let chain_id = unhex(&e["chain_id"]);
    let (pharmacy, patient, canceller) =
        (unhex(&e["pharmacy_public_key"]), unhex(&e["patient_public_key"]), unhex(&e["canceller"]));
    let (dr_hash, record_hash, patient_signature) =
        (unhex(&e["dr_hash"]), unhex(&e["record_hash"]), unhex(&e["patient_signature"]));
    let fields = match e["type"].as_str()? {
        "grant" => EntryFields::Grant(GrantFields {
            chain_id: &chain_id,
            dr_public_key: &key,
            licence: e["licence"].as_str(),
            not_before: e["not_before"].as_u64()?,
            not_after: e["not_after"].as_u64()?,
            authority: &authority,
            signature: &signature,
        }),
        "revocation" => EntryFields::Revocation(RevocationFields {
            chain_id: &chain_id,
            grant_id: &grant_id,
            effective: e["effective"].as_u64()?,
            authority: &authority,
            signature: &signature,
        }),
        "dispenser_grant" => EntryFields::DispenserGrant(DispenserGrantFields {
            chain_id: &chain_id,
            pharmacy_public_key: &pharmacy,
            licence: e["licence"].as_str(),
            not_before: e["not_before"].as_u64()?,
            not_after: e["not_after"].as_u64()?,
            authority: &authority,
            signature: &signature,
        }),
        "dispense" => EntryFields::Dispense(DispenseFields {
            chain_id: &chain_id,
            dr_hash: &dr_hash,
            nonce: e["nonce"].as_u64()?,
            record_hash: &record_hash,
            pharmacy_public_key: &pharmacy,
            patient_public_key: &patient,
            note: e["note"].as_str(),
            signature: &signature,
            patient_signature: &patient_signature,
        }),
        "cancel" => EntryFields::Cancellation(CancellationFields {
            chain_id: &chain_id,
            dr_hash: &dr_hash,
            nonce: e["nonce"].as_u64()?,
            record_hash: &record_hash,
            canceller: &canceller,
            reason: e["reason"].as_str(),
            signature: &signature,
        }),
        _ => return None,
    };
    Entry::from_fields(&fields).ok()
}

fn block_from_json(b: &Value) -> Option<Block> {
    let records: Vec<Record> = b["records"].as_array()?.iter().filter_map(record_from_json).collect();
    let entries: Vec<Entry> = b["entries"].as_array().map_or(&[][..], Vec::as_slice).iter().filter_map(entry_from_json).collect();
    let (previous, miner, block_id) = (unhex(&b["previous"]), unhex(&b["miner"]), unhex(&b["block_id"]));
    Block::from_fields(&BlockFields {
        previous: &previous,
        height: b["height"].as_u64()?,
        miner: &miner,
        records: records.iter().map(Record::fields).collect(),
        entries: entries.iter().map(Entry::fields).collect(),
        timestamp: b["timestamp"].as_u64()?,
        difficulty: u128::from(b["difficulty"].as_u64()?),
        block_id: &block_id,
        nonce: b["nonce"].as_u64()?,
    })
    .ok()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let records = load("records.json");
    let blocks = load("blocks.json");
    let all_records: Vec<&Value> = ["valid", "invalid"]
        .iter()
        .flat_map(|k| records[k].as_array().unwrap())
        .map(|case| &case["record"])
        .collect();

    let mut record_decode = Corpus::new(&root, "record_decode");
    let mut public_key = Corpus::new(&root, "public_key_spki");
    for r in &all_records {
        if let Some(record) = record_from_json(r) {
            record_decode.add(record.to_bytes());
        }
        public_key.add(unhex(&r["dr_public_key"]));
    }
    record_decode.write();

    // blocks.json's blocks, and registry.json's and dispense.json's
    // scenario blocks (with entries: encoding version 2).
    let mut block_decode = Corpus::new(&root, "block_decode");
    let registry = load("registry.json");
    let dispense = load("dispense.json");
    let scenario_blocks = [&registry, &dispense]
        .into_iter()
        .flat_map(|file| ["scenario", "open_chain_scenario"].into_iter().flat_map(move |k| file[k].as_array().unwrap()));
    for case in blocks["blocks"].as_array().unwrap().iter().chain(scenario_blocks) {
        if let Some(block) = block_from_json(&case["block"]) {
            block_decode.add(block.to_bytes());
        }
    }
    block_decode.write();

    let mut der = Corpus::new(&root, "private_key_der");
    let mut pem = Corpus::new(&root, "private_key_pem");
    let mut address = Corpus::new(&root, "address");
    for case in records["valid"].as_array().unwrap() {
        let pkcs8 = unhex(&case["private_key_pkcs8"]);
        let key = SigningKey::from_der(&pkcs8).unwrap();
        der.add(pkcs8);
        pem.add(key.to_pkcs8_pem().as_bytes());
        for role in Role::ALL {
            let text = encode(role, &key.public_key_hash());
            address.add(text.to_ascii_uppercase());
            address.add(text);
        }
    }
    address.add(encode(Role::Patient, &Hash160::from_bytes([0; 20])));
    der.write();
    pem.write();
    address.write();

    // Wycheproof: ECDH public keys (every tenth, all flags represented
    // enough), ECDSA signatures of the large (second) group on each curve.
    for (i, name) in ["ecdh_secp256k1_test.json", "ecdh_secp256r1_test.json"].iter().enumerate() {
        let file = load(&format!("wycheproof/{name}"));
        for (n, test) in file["testGroups"].as_array().unwrap().iter().flat_map(|g| g["tests"].as_array().unwrap()).enumerate() {
            if n % 10 == i || test["result"] == "invalid" {
                public_key.add(unhex(&test["public"]));
            }
        }
    }
    public_key.write();
    let mut signature = Corpus::new(&root, "signature_der");
    for (selector, name) in ["ecdsa_secp256k1_sha256_test.json", "ecdsa_secp256r1_sha256_test.json"].iter().enumerate() {
        let file = load(&format!("wycheproof/{name}"));
        let group = &file["testGroups"][1];
        for test in group["tests"].as_array().unwrap() {
            if test["msg"] == "313233343030" {
                let mut seed = vec![selector as u8];
                seed.extend(unhex(&test["sig"]));
                signature.add(seed);
            }
        }
    }
    signature.write();

    let mut verify = Corpus::new(&root, "record_verify");
    for seed in [&[0u8][..], &[1], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]] {
        verify.add(seed);
    }
    // The base record with the text "sealed1:" (an empty envelope): check 3
    // fails (SPEC 8.2) before the txid does. The target's oracle once
    // expected `invalid_txid` here (fuzz_regressions.rs).
    verify.add(VerifyInput { prescription: Some(Some("sealed1:")), ..VerifyInput::default() }.to_bytes());
    // Every sealed.json text on the base record, for its own patient: the
    // malformed ones (most under 200 bytes) fail check 3, the well-formed
    // ones (most over 200 bytes) pass it and fail the signature (fix_txid).
    for (i, case) in sealed_vectors().cases.iter().enumerate() {
        verify.add(
            VerifyInput {
                p256: i % 2 == 1,
                patient_hash: Some(&case.patient_hash),
                prescription: Some(Some(&case.prescription)),
                fix_txid: true,
                ..VerifyInput::default()
            }
            .to_bytes(),
        );
    }
    verify.write();

    // Edit lists for the chain target: none, one in the SQLite header, one
    // in each of the first pages, a truncation.
    let mut chain = Corpus::new(&root, "chain_open_mutated");
    chain.add(Vec::new());
    for offset in [18u32, 100, 4096 + 10, 2 * 4096 + 200, 3 * 4096 + 4000, 5 * 4096 + 7] {
        let o = offset.to_be_bytes();
        chain.add(vec![o[1], o[2], o[3], 0x01]);
    }
    chain.add(vec![0, 0, 0, 0, 0, 8]);
    chain.write();

    // Every entry of registry.json and dispense.json, and every entry of
    // their scenario blocks.
    let mut entry = Corpus::new(&root, "entry_decode");
    for file in [&registry, &dispense] {
        let scenario_entries = ["scenario", "open_chain_scenario"]
            .iter()
            .flat_map(|k| file[k].as_array().unwrap())
            .flat_map(|case| case["block"]["entries"].as_array().unwrap());
        for e in file["entries"].as_array().unwrap().iter().map(|case| &case["entry"]).chain(scenario_entries) {
            if let Some(e) = entry_from_json(e) {
                entry.add(e.to_bytes());
            }
        }
    }
    entry.write();

    // sealed_open's `mode ‖ case ‖ tweak ‖ payload` (fuzz_targets/sealed_open.rs):
    // each sealed.json record's text as given, its envelope's bytes, and
    // its envelope unedited.
    let mut sealed = Corpus::new(&root, "sealed_open");
    for (i, case) in sealed_vectors().cases.iter().enumerate() {
        let i = u8::try_from(i).unwrap();
        sealed.add([&[0, i, 0][..], case.prescription.as_bytes()].concat());
        if let Some(envelope) = case.prescription.strip_prefix("sealed1:").and_then(base64url::decode_lenient) {
            sealed.add([&[1, i, 0][..], &envelope].concat());
        }
        sealed.add(vec![2, i, 0]);
    }
    sealed.write();
}

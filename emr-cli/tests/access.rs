//! Who may write, who may read (SPEC section 8) through the command line:
//! a clinic's day with an authority (grant, a refused doctor, revoke), sealed
//! records opened by their readers and refused to a stranger, the shared
//! vectors' sealed records opened here, and every registry scenario block
//! imported with its outcome.

mod common;

use std::path::PathBuf;

use common::*;
use emr_core::address::{self, Role};
use emr_core::{
    Block, BlockFields, CancellationFields, DispenseFields, DispenserGrantFields, Entry, EntryFields, GrantFields,
    Hash160, Record, RecordFields, RevocationFields,
};
use serde_json::Value;

const T0: &str = "1700000000";

fn vectors(name: &str) -> Value {
    let dir = std::env::var_os("EMR_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn a_clinic_with_an_authority() {
    let dir = TempDir::new("authority");
    let d = dir.path();
    let made = json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    assert_eq!(s(&made, "curve"), "P-256");
    assert_eq!(s(&made, "public"), "auth.pub");
    // Never overwritten by accident.
    assert_eq!(
        kind(&json_in(d, &["authority", "new", "--out", "auth.pem"], 2)),
        "invalid_argument"
    );

    let dr_a = new_key(d, "a.pem", "secp256k1", "doctor");
    let dr_b = new_key(d, "b.pem", "p256", "doctor");
    new_key(d, "c.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    new_key(d, "stranger.pem", "secp256k1", "patient");
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");

    let init = json_in(
        d,
        &[
            "chain",
            "init",
            "clinic",
            "--initial-difficulty",
            "1",
            "--authority",
            "auth.pub",
        ],
        0,
    );
    assert_eq!(init["params"]["authorities"].as_array().unwrap().len(), 1);
    let chain_id = s(&init["params"], "chain_id").to_owned();
    assert_eq!(
        kind(&json_in(
            d,
            &["chain", "init", "bad", "--authority", "patient.rec"],
            4
        )),
        "not_found"
    );
    std::fs::write(dir.0.join("junk.pub"), "junk").unwrap();
    assert_eq!(
        kind(&json_in(
            d,
            &["chain", "init", "bad", "--authority", "junk.pub"],
            1
        )),
        "invalid_public_key"
    );

    // Two doctors admitted (one through the pool at once, one as a file
    // submitted later); a third refused.
    let grant_a = json_in(
        d,
        &[
            "grant",
            "--key",
            "auth.pem",
            "--doctor",
            "a.pem",
            "--licence",
            "GMC 1, Dr A",
            "--chain",
            "clinic",
        ],
        0,
    );
    assert_eq!(
        (s(&grant_a, "type"), s(&grant_a, "outcome")),
        ("grant", "ready")
    );
    assert_eq!(s(&grant_a, "doctor"), dr_a);
    let grant_b = json_in(
        d,
        &[
            "grant",
            "--key",
            "auth.pem",
            "--doctor",
            "b.pem",
            "--licence",
            "GMC 2, Dr B",
            "--out",
            "b.entry",
            "--chain-id",
            &chain_id,
        ],
        0,
    );
    assert!(
        grant_b.get("outcome").is_none(),
        "not submitted without --chain"
    );
    let submitted = json_in(d, &["chain", "submit", "clinic", "b.entry"], 0);
    assert_eq!(s(&submitted["entries"][0], "outcome"), "ready");
    // Submitting it again changes nothing; a grant signed by a doctor's key
    // is not an authority's.
    let again = json_in(d, &["chain", "submit", "clinic", "b.entry"], 0);
    assert_eq!(s(&again["entries"][0], "outcome"), "already_pending");
    let foreign = json_in(
        d,
        &[
            "grant",
            "--key",
            "c.pem",
            "--doctor",
            "c.pem",
            "--licence",
            "self",
            "--chain",
            "clinic",
        ],
        1,
    );
    assert_eq!(kind(&foreign), "unknown_authority");
    let window = json_in(
        d,
        &[
            "grant",
            "--key",
            "auth.pem",
            "--doctor",
            "c.pem",
            "--licence",
            "x",
            "--not-before",
            "5",
            "--not-after",
            "4",
            "--chain-id",
            &chain_id,
        ],
        1,
    );
    assert_eq!(kind(&window), "invalid_entry");

    // Sealed prescriptions: the patient reads, the doctor too, a stranger not.
    let t = T0.parse::<u64>().unwrap();
    let sealed = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "a.pem",
            "--patient",
            &patient,
            "--text",
            "Warfarin 5mg",
            "--nonce",
            "1",
            "--seal-to",
            "patient.pem",
            "--out",
            "a1.rec",
        ],
        0,
    );
    assert_eq!(sealed["sealed_to"], 2);
    assert!(s(&sealed, "prescription").starts_with("sealed1:"));
    json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "b.pem",
            "--patient",
            &patient,
            "--text",
            "Ibuprofen",
            "--nonce",
            "1",
            "--out",
            "b1.rec",
        ],
        0,
    );
    json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "c.pem",
            "--patient",
            &patient,
            "--text",
            "Opioids",
            "--nonce",
            "1",
            "--out",
            "c1.rec",
        ],
        0,
    );
    json_in(d, &["chain", "submit", "clinic", "a1.rec", "b1.rec"], 0);
    let refused = json_in(d, &["chain", "submit", "clinic", "c1.rec"], 1);
    assert_eq!(kind(&refused), "unauthorized_doctor");
    let mined = json_in(
        d,
        &[
            "-q",
            "chain",
            "mine",
            "clinic",
            "--miner",
            &miner,
            "--timestamp",
            &t.to_string(),
        ],
        0,
    );
    assert_eq!(mined["blocks"][0]["records"], 2, "{mined}");

    let opened = json_in(d, &["record", "open", "a1.rec", "--key", "patient.pem"], 0);
    assert_eq!(s(&opened, "prescription"), "Warfarin 5mg");
    let text = emr_in(d, &["record", "open", "a1.rec", "--key", "a.pem"]);
    assert_eq!((text.code, text.stdout.trim()), (0, "Warfarin 5mg"));
    assert_eq!(
        kind(&json_in(
            d,
            &["record", "open", "a1.rec", "--key", "stranger.pem"],
            1
        )),
        "not_recipient"
    );
    assert_eq!(
        kind(&json_in(
            d,
            &["record", "open", "b1.rec", "--key", "patient.pem"],
            2
        )),
        "invalid_argument"
    );
    // Without the doctor: only the patient reads it. Without the patient: refused.
    json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "a.pem",
            "--patient",
            &patient,
            "--text",
            "x",
            "--nonce",
            "2",
            "--seal-to",
            "patient.pem",
            "--no-seal-self",
            "--out",
            "a2.rec",
        ],
        0,
    );
    assert_eq!(
        kind(&json_in(
            d,
            &["record", "open", "a2.rec", "--key", "a.pem"],
            1
        )),
        "not_recipient"
    );
    let without_patient = json_in(
        d,
        &[
            "record",
            "sign",
            "--key",
            "a.pem",
            "--patient",
            &patient,
            "--text",
            "x",
            "--nonce",
            "2",
            "--seal-to",
            "stranger.pem",
        ],
        1,
    );
    assert_eq!(kind(&without_patient), "invalid_prescription");

    let doctor = json_in(d, &["chain", "doctor", "clinic", "--doctor", &dr_a], 0);
    assert_eq!(doctor["authorized"], true);
    assert_eq!(doctor["grants"].as_array().unwrap().len(), 1);

    // Revoke A (by its grant's id) from T0 + 100, carried by the first block
    // at that time: A's record after that is refused.
    let grant_id = s(&grant_a, "entry_id").to_owned();
    let revoked = json_in(
        d,
        &[
            "revoke",
            "--key",
            "auth.pem",
            "--grant",
            &grant_id,
            "--effective",
            &(t + 100).to_string(),
            "--chain",
            "clinic",
        ],
        0,
    );
    assert_eq!(
        (
            s(&revoked, "type"),
            s(&revoked, "grant_id"),
            s(&revoked, "outcome")
        ),
        ("revocation", grant_id.as_str(), "ready")
    );
    let mined = json_in(
        d,
        &[
            "-q",
            "chain",
            "mine",
            "clinic",
            "--miner",
            &miner,
            "--timestamp",
            &(t + 100).to_string(),
        ],
        0,
    );
    assert_eq!(mined["blocks"][0]["entries"], 1, "{mined}");
    let doctor = json_in(d, &["chain", "doctor", "clinic", "--doctor", &dr_a], 0);
    assert_eq!(doctor["authorized"], false);
    assert_eq!(doctor["grants"][0]["revoked_effective"], t + 100);
    assert_eq!(
        kind(&json_in(d, &["chain", "submit", "clinic", "a2.rec"], 1)),
        "unauthorized_doctor"
    );
    let doctor_b = json_in(d, &["chain", "doctor", "clinic", "--doctor", &dr_b], 0);
    assert_eq!(doctor_b["authorized"], true);
    // --grant takes the grant's entry file as well as its id.
    let by_file = json_in(
        d,
        &[
            "revoke",
            "--key",
            "auth.pem",
            "--grant",
            "b.entry",
            "--effective",
            "0",
            "--out",
            "rb.entry",
            "--chain-id",
            &chain_id,
        ],
        0,
    );
    assert_eq!(s(&by_file, "grant_id"), s(&grant_b, "entry_id"));
    assert_eq!(
        kind(&json_in(
            d,
            &[
                "revoke",
                "--key",
                "auth.pem",
                "--grant",
                "nope",
                "--effective",
                "0",
                "--chain-id",
                &chain_id,
            ],
            4
        )),
        "not_found"
    );

    assert_eq!(kind(&json_in(d, &["chain", "check", "clinic"], 0)), "");
}

#[test]
fn the_vectors_sealed_records_open_here() {
    let file = vectors("sealed.json");
    let dir = TempDir::new("sealed-vectors");
    let d = dir.path();
    for r in file["recipients"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        std::fs::write(
            dir.0.join(format!("{name}.der")),
            unhex(&r["private_key_pkcs8"]),
        )
        .unwrap();
    }
    let mut opened = 0;
    for case in file["records"].as_array().unwrap() {
        let r = &case["record"];
        let (dr_hash, patient_hash, key, signature, txid) = (
            unhex(&r["dr_hash"]),
            unhex(&r["patient_hash"]),
            unhex(&r["dr_public_key"]),
            unhex(&r["signature"]),
            unhex(&r["txid"]),
        );
        let fields = RecordFields {
            dr_hash: &dr_hash,
            patient_hash: &patient_hash,
            dr_public_key: &key,
            prescription: r["prescription"].as_str(),
            nonce: r["nonce"].as_u64().unwrap(),
            signature: &signature,
            txid: &txid,
        };
        let record = Record::from_fields(&fields).unwrap();
        let name = case["name"].as_str().unwrap();
        let path = format!("{name}.rec");
        std::fs::write(dir.0.join(&path), record.to_bytes()).unwrap();
        for o in case["opens"].as_array().unwrap() {
            let key = format!("{}.der", o["recipient"].as_str().unwrap());
            if let Some(text) = o["plaintext"].as_str() {
                let out = json_in(d, &["record", "open", &path, "--key", &key], 0);
                assert_eq!(s(&out, "prescription"), text, "{name}");
            } else {
                let out = json_in(d, &["record", "open", &path, "--key", &key], 1);
                assert_eq!(kind(&out), o["error"].as_str().unwrap(), "{name}");
            }
            opened += 1;
        }
        // `record verify` gives each record its kind.
        let verified = emr_in(d, &["record", "verify", &path, "--json"]);
        let expected = case["expected"].as_str().map_or(1, |_| 0);
        assert_eq!(verified.code, expected, "{name}: {verified:?}");
    }
    assert!(opened >= 20);
}

fn entry_of(e: &Value) -> Entry {
    // Each type has its own fields; one absent from this entry reads empty.
    let bytes = |k: &str| unhex_or_empty(&e[k]);
    let number = |k: &str| e[k].as_u64().unwrap();
    let (chain_id, signature) = (bytes("chain_id"), bytes("signature"));
    let fields = match e["type"].as_str().unwrap() {
        "grant" => {
            let (dr, authority) = (bytes("dr_public_key"), bytes("authority"));
            return Entry::from_fields(&EntryFields::Grant(GrantFields {
                chain_id: &chain_id,
                dr_public_key: &dr,
                licence: e["licence"].as_str(),
                not_before: number("not_before"),
                not_after: number("not_after"),
                authority: &authority,
                signature: &signature,
            }))
            .unwrap();
        }
        "revocation" => {
            let (grant_id, authority) = (bytes("grant_id"), bytes("authority"));
            return Entry::from_fields(&EntryFields::Revocation(RevocationFields {
                chain_id: &chain_id,
                grant_id: &grant_id,
                effective: number("effective"),
                authority: &authority,
                signature: &signature,
            }))
            .unwrap();
        }
        other => other,
    };
    let (pharmacy, authority) = (bytes("pharmacy_public_key"), bytes("authority"));
    let (dr_hash, record_hash) = (bytes("dr_hash"), bytes("record_hash"));
    let (patient, patient_signature, canceller) =
        (bytes("patient_public_key"), bytes("patient_signature"), bytes("canceller"));
    let entry = match fields {
        "dispenser_grant" => EntryFields::DispenserGrant(DispenserGrantFields {
            chain_id: &chain_id,
            pharmacy_public_key: &pharmacy,
            licence: e["licence"].as_str(),
            not_before: number("not_before"),
            not_after: number("not_after"),
            authority: &authority,
            signature: &signature,
        }),
        "dispense" => EntryFields::Dispense(DispenseFields {
            chain_id: &chain_id,
            dr_hash: &dr_hash,
            nonce: number("nonce"),
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
            nonce: number("nonce"),
            record_hash: &record_hash,
            canceller: &canceller,
            reason: e["reason"].as_str(),
            signature: &signature,
        }),
        other => panic!("an entry type the vectors do not use: {other}"),
    };
    Entry::from_fields(&entry).unwrap()
}

/// `unhex` of a field the entry may not have: empty bytes.
fn unhex_or_empty(v: &Value) -> Vec<u8> {
    v.as_str().map_or_else(Vec::new, |h| hex::decode(h).unwrap())
}

/// A chain made with the vectors' parameters under `key` (their salt and
/// max_future included, so that it has the vectors' chain id, the one the
/// entries in its blocks name).
fn init_vector_chain(d: &std::path::Path, file: &Value, dir: &str, key: &str, authorities: &[&str]) {
    let p = &file[key];
    let params: Vec<String> = ["initial_difficulty", "window", "block_time", "max_adjust", "block_reward", "max_future"]
        .iter()
        .flat_map(|name| [format!("--{}", name.replace('_', "-")), p[name].to_string()])
        .chain(["--salt".to_owned(), s(p, "salt").to_owned()])
        .collect();
    let mut args = vec!["chain", "init", dir];
    args.extend(params.iter().map(String::as_str));
    for authority in authorities {
        args.extend(["--authority", authority]);
    }
    let made = json_in(d, &args, 0);
    assert_eq!(made["params"]["chain_id"], p["chain_id"], "{key}");
    let status = json_in(d, &["chain", "status", dir], 0);
    assert_eq!(status["params"]["chain_id"], p["chain_id"], "{key}");
    assert_eq!(status["params"]["salt"], p["salt"], "{key}");
    assert_eq!(status["params"]["max_future"], p["max_future"], "{key}");
}

/// One scenario block of the vectors.
fn block_of(b: &Value) -> Block {
    let records: Vec<Record> = b["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let (dr_hash, patient_hash, key, signature, txid) = (
                unhex(&r["dr_hash"]),
                unhex(&r["patient_hash"]),
                unhex(&r["dr_public_key"]),
                unhex(&r["signature"]),
                unhex(&r["txid"]),
            );
            Record::from_fields(&RecordFields {
                dr_hash: &dr_hash,
                patient_hash: &patient_hash,
                dr_public_key: &key,
                prescription: r["prescription"].as_str(),
                nonce: r["nonce"].as_u64().unwrap(),
                signature: &signature,
                txid: &txid,
            })
            .unwrap()
        })
        .collect();
    let entries: Vec<Entry> = b["entries"].as_array().unwrap().iter().map(entry_of).collect();
    let (previous, miner, block_id) = (unhex(&b["previous"]), unhex(&b["miner"]), unhex(&b["block_id"]));
    Block::from_fields(&BlockFields {
        previous: &previous,
        height: b["height"].as_u64().unwrap(),
        miner: &miner,
        records: records.iter().map(Record::fields).collect(),
        entries: entries.iter().map(Entry::fields).collect(),
        timestamp: b["timestamp"].as_u64().unwrap(),
        difficulty: b["difficulty"].as_u64().unwrap().into(),
        block_id: &block_id,
        nonce: b["nonce"].as_u64().unwrap(),
    })
    .unwrap()
}

/// Imports one scenario case's block into `chain` with `emr chain import`
/// and checks its outcome, or its error kind (and, for `kind:index:inner`,
/// the message naming the failing item).
fn import_case(d: &std::path::Path, chain: &str, case: &Value) {
    let name = case["name"].as_str().unwrap();
    let path = format!("{name}.block");
    std::fs::write(d.join(&path), block_of(&case["block"]).to_bytes()).unwrap();
    match case["expected"].as_str() {
        Some(outcome) => {
            let out = json_in(d, &["-q", "chain", "import", chain, &path], 0);
            assert_eq!(out[outcome], 1, "{name}: {out}");
        }
        None => {
            let error = case["expected"]["error"].as_str().unwrap();
            let out = json_in(d, &["-q", "chain", "import", chain, &path], 1);
            let parts: Vec<&str> = error.split(':').collect();
            assert_eq!(kind(&out), parts[0], "{name}: {out}");
            if parts.len() == 3 {
                let message = out["error"]["message"].as_str().unwrap();
                assert!(message.contains(&format!("{} {}: {}", parts[0], parts[1], parts[2])), "{name}: {message}");
            }
        }
    }
}

#[test]
fn every_registry_scenario_block_imported_with_its_outcome() {
    let file = vectors("registry.json");
    let dir = TempDir::new("registry-vectors");
    let d = dir.path();
    for (i, a) in file["authorities"].as_array().unwrap().iter().enumerate() {
        std::fs::write(dir.0.join(format!("auth{i}.pub")), unhex(&a["spki"])).unwrap();
    }
    init_vector_chain(d, &file, "with", "params", &["auth0.pub", "auth1.pub"]);
    init_vector_chain(d, &file, "open", "open_chain_params", &[]);
    let mut count = 0;
    for (chain, key) in [("with", "scenario"), ("open", "open_chain_scenario")] {
        for case in file[key].as_array().unwrap() {
            import_case(d, chain, case);
            count += 1;
        }
    }
    assert_eq!(count, 24);
}

/// SPEC 10's vectors through the command line: every scenario block of
/// dispense.json imported with its outcome, and after each block every
/// prescription's state as `emr rx status` tells it; a prescription the
/// chain does not hold is `not_found` (exit 4).
#[test]
fn every_dispense_scenario_block_imported_with_its_outcome_and_states() {
    let file = vectors("dispense.json");
    let dir = TempDir::new("dispense-vectors");
    let d = dir.path();
    std::fs::write(dir.0.join("auth.pub"), unhex(&file["authority"]["spki"])).unwrap();
    init_vector_chain(d, &file, "with", "params", &["auth.pub"]);
    init_vector_chain(d, &file, "open", "open_chain_params", &[]);
    let doctors: std::collections::HashMap<&str, String> = file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let hash = Hash160::from_slice(&unhex(&k["key_hash"])).unwrap();
            (k["name"].as_str().unwrap(), address::encode(Role::Doctor, &hash))
        })
        .collect();
    let mut blocks = 0;
    let mut states = 0;
    for (chain, key) in [("with", "scenario"), ("open", "open_chain_scenario")] {
        for case in file[key].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            import_case(d, chain, case);
            blocks += 1;
            for (prescription, expected) in case["prescriptions_after"].as_object().unwrap() {
                let (doctor, nonce) = prescription.split_once(':').unwrap();
                let named = format!("{}:{nonce}", doctors[doctor]);
                let told = json_in(d, &["rx", "status", chain, &named], 0);
                assert_eq!(told["state"], *expected, "{name}, {prescription}: {told}");
                states += 1;
            }
        }
    }
    assert_eq!(blocks, 35);
    assert!(states > 150, "{states}");
    // A prescription no block holds: D2's tenth.
    let unknown = format!("{}:10", doctors["D2"]);
    assert_eq!(kind(&json_in(d, &["rx", "status", "with", &unknown], 4)), "not_found");
}

//! Pharmacies from the command line (SPEC 10): an authority admits two
//! pharmacies, one dispenses at the counter, the second is refused the same
//! prescription, a patient countersigns on their own device (and with a
//! card's signature), a prescriber cancels; `rx status`, `rx pharmacy` and
//! `chain history` tell each prescription's state.

mod common;

use std::process::{Command, Stdio};

use common::*;
use emr_core::Entry;
use serde_json::Value;

fn dispense_entry(d: &std::path::Path, file: &str) -> emr_core::Dispense {
    match Entry::from_bytes(&std::fs::read(d.join(file)).unwrap()).unwrap() {
        Entry::Dispense(dispense) => dispense,
        other => panic!("{file} holds a {}", other.entry_type()),
    }
}

/// `emr ARGS --json` with the key password in `EMR_KEY_PASSWORD`.
fn json_with_password(d: &std::path::Path, args: &[&str], code: i32) -> Value {
    let out = Command::new(EMR)
        .args(args)
        .arg("--json")
        .env("EMR_KEY_PASSWORD", "counter secret")
        .current_dir(d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, code, "emr {args:?}: {run:?}");
    run.json()
}

#[test]
fn dispensed_once_countersigned_and_cancelled() {
    let dir = TempDir::new("pharmacy");
    let d = dir.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    let doctor = new_key(d, "dr.pem", "secp256k1", "doctor");
    new_key(d, "other-dr.pem", "p256", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    new_key(d, "stranger.pem", "secp256k1", "patient");
    new_key(d, "b.pem", "secp256k1", "doctor");
    // Pharmacy A's key is encrypted: its password comes as for any command.
    json_with_password(d, &["key", "new", "--out", "a.pem"], 0);
    json_in(d, &["chain", "init", "rx", "--initial-difficulty", "1", "--authority", "auth.pub"], 0);

    json_in(d, &["grant", "--key", "auth.pem", "--doctor", "dr.pem", "--licence", "GMC 1", "--chain", "rx", "--out", "g.entry"], 0);
    let granted = json_with_password(
        d,
        &["pharmacy", "grant", "--key", "auth.pem", "--pharmacy", "a.pem", "--licence", "GPhC 1, Pharmacy A", "--chain", "rx"],
        0,
    );
    assert_eq!((s(&granted, "type"), s(&granted, "outcome")), ("dispenser_grant", "ready"), "{granted}");
    assert!(s(&granted, "file").starts_with("pharmacy-grant-"), "{granted}");
    let pharmacy_a = s(&granted, "pharmacy").to_owned();
    let chain_id = s(&status(d, "rx")["params"], "chain_id").to_owned();
    let b = json_in(
        d,
        &["pharmacy", "grant", "--key", "auth.pem", "--pharmacy", "b.pem", "--licence", "GPhC 2", "--chain-id", &chain_id, "--out", "b.entry"],
        0,
    );
    assert!(b.get("outcome").is_none(), "not submitted without --chain: {b}");
    json_in(d, &["chain", "submit", "rx", "b.entry"], 0);
    // A doctor's key signs no dispenser grant the chain takes.
    json_in(d, &["pharmacy", "grant", "--key", "dr.pem", "--pharmacy", "b.pem", "--licence", "x", "--chain-id", &chain_id, "--out", "bad.entry"], 0);
    assert_eq!(kind(&json_in(d, &["chain", "submit", "rx", "bad.entry"], 1)), "unknown_authority");

    for (nonce, text) in [(1, "Amoxicillin 500mg"), (2, "Morphine 10mg"), (3, "Aspirin 75mg"), (4, "Codeine 30mg")] {
        sign(d, "dr.pem", &patient, text, nonce, &format!("{nonce}.rec"));
    }
    json_in(d, &["chain", "submit", "rx", "1.rec", "2.rec", "3.rec", "4.rec"], 0);
    let t = now() - 600;
    mine(d, "rx", MINER, 1, t);

    let p = |n: u64| format!("{doctor}:{n}");
    let open = json_in(d, &["rx", "status", "rx", &p(1)], 0);
    assert_eq!(s(&open, "state"), "open");
    assert_eq!(open["seen"], Value::Null, "no node runs: {open}");
    assert_eq!(open["record"]["prescription"], "Amoxicillin 500mg");

    // At the counter: pharmacy A dispenses, the patient signs there.
    let first = json_with_password(
        d,
        &["dispense", "--chain", "rx", "--key", "a.pem", "--patient-key", "patient.pem", "--prescription", &p(1), "--note", "21 caps, batch 7"],
        0,
    );
    assert_eq!((s(&first, "outcome"), s(&first, "pharmacy")), ("ready", pharmacy_a.as_str()), "{first}");
    // Pharmacy B is refused the same prescription while A's is pending, and
    // once it is in a block.
    let pending = json_in(d, &["dispense", "--chain", "rx", "--key", "b.pem", "--patient-key", "patient.pem", "--prescription", &p(1)], 1);
    assert_eq!(kind(&pending), "already_dispensed");
    mine(d, "rx", MINER, 1, t + 60);
    let again = json_in(d, &["dispense", "--chain", "rx", "--key", "b.pem", "--patient-key", "patient.pem", "--prescription", &p(1)], 1);
    assert_eq!(kind(&again), "already_dispensed");
    let dispensed = json_in(d, &["rx", "status", "rx", &p(1)], 0);
    assert_eq!(s(&dispensed, "state"), "dispensed");
    assert_eq!(s(&dispensed, "pharmacy"), pharmacy_a);
    assert_eq!(s(&dispensed, "note"), "21 caps, batch 7");
    assert_eq!(dispensed["height"], 1);
    assert_eq!(dispensed["timestamp"], t + 60);
    let text = emr_in(d, &["rx", "status", "rx", &p(1)]);
    assert!(text.stdout.contains(&format!("dispensed by pharmacy {pharmacy_a} at height 1")), "{text:?}");

    // A patient who signs on their own phone: the pharmacy prepares, the
    // patient countersigns (only as the patient named), the pharmacy submits.
    let prepared = json_in(
        d,
        &["dispense", "--prepare", "--chain", "rx", "--key", "b.pem", "--patient", "patient.pem", "--prescription", &p(2), "--out", "d2.entry"],
        0,
    );
    assert_eq!((prepared["pharmacy_signed"].as_bool(), prepared["patient_signed"].as_bool()), (Some(true), Some(false)));
    std::fs::copy(d.join("d2.entry"), d.join("d2-card.entry")).unwrap();
    assert_eq!(kind(&json_in(d, &["dispense", "--submit", "d2.entry", "--chain", "rx"], 1)), "invalid_entry_signature");
    assert_eq!(kind(&json_in(d, &["dispense", "--countersign", "d2.entry", "--patient-key", "stranger.pem"], 1)), "wrong_patient");
    assert_eq!(kind(&json_in(d, &["dispense", "--countersign", "1.rec", "--patient-key", "patient.pem"], 1)), "decode");
    assert_eq!(kind(&json_in(d, &["dispense", "--countersign", "b.entry", "--patient-key", "patient.pem"], 2)), "invalid_argument");
    let signed = json_in(d, &["dispense", "--countersign", "d2.entry", "--patient-key", "patient.pem"], 0);
    assert_eq!((s(&signed, "digest"), signed["patient_signed"].as_bool()), (s(&prepared, "digest"), Some(true)));
    let countersigned = dispense_entry(d, "d2.entry");
    countersigned.verify().unwrap();
    // A card that signs the digest: its signature is attached at submit.
    // The same signature, so the same dispensing; submitting both forms
    // once each is one pending dispensing.
    let card = hex::encode(&countersigned.patient_signature);
    let mut wrong = countersigned.patient_signature.clone();
    let last = wrong.len() - 1;
    wrong[last] ^= 1;
    let refused = json_in(d, &["dispense", "--submit", "d2-card.entry", "--chain", "rx", "--patient-signature", &hex::encode(wrong)], 1);
    assert_eq!(kind(&refused), "invalid_entry_signature");
    let by_card = json_in(d, &["dispense", "--submit", "d2-card.entry", "--chain", "rx", "--patient-signature", &card], 0);
    assert_eq!(s(&by_card, "outcome"), "ready");
    let by_phone = json_in(d, &["dispense", "--submit", "d2.entry", "--chain", "rx"], 0);
    assert_eq!(s(&by_phone, "outcome"), "already_pending");
    assert_eq!(s(&by_phone, "entry_id"), s(&by_card, "entry_id"));

    // Cancellation: only the prescriber or an authority.
    assert_eq!(kind(&json_in(d, &["cancel", "--chain", "rx", "--key", "other-dr.pem", "--prescription", &p(3)], 1)), "unauthorized_canceller");
    let cancelled = json_in(d, &["cancel", "--chain", "rx", "--key", "dr.pem", "--prescription", &p(3), "--reason", "wrong patient"], 0);
    assert_eq!(s(&cancelled, "outcome"), "ready");
    let by_authority = json_in(d, &["cancel", "--chain", "rx", "--key", "auth.pem", "--prescription", &p(4), "--out", "c4.entry"], 0);
    assert_eq!(s(&by_authority, "outcome"), "ready");
    assert!(d.join("c4.entry").is_file());
    // What is dispensed cannot be cancelled.
    assert_eq!(kind(&json_in(d, &["cancel", "--chain", "rx", "--key", "dr.pem", "--prescription", &p(1)], 1)), "already_dispensed");
    mine(d, "rx", MINER, 1, t + 120);
    let state = json_in(d, &["rx", "status", "rx", &p(3)], 0);
    assert_eq!((s(&state, "state"), s(&state, "by"), s(&state, "reason")), ("cancelled", "its prescriber", "wrong patient"));
    assert_eq!(s(&json_in(d, &["rx", "status", "rx", &p(4)], 0), "by"), "an authority");
    assert_eq!(
        kind(&json_in(d, &["dispense", "--chain", "rx", "--key", "b.pem", "--patient-key", "patient.pem", "--prescription", &p(3)], 1)),
        "prescription_cancelled"
    );

    // The patient's history carries each record's state.
    let history = json_in(d, &["chain", "history", "rx", "--patient", &patient], 0);
    let states: Vec<&str> = history["records"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["dispensed", "dispensed", "cancelled", "cancelled"]);
    let text = emr_in(d, &["chain", "history", "rx", "--patient", &patient]).stdout;
    assert!(text.contains("[dispensed by pharmacy"), "{text}");
    assert!(text.contains("[cancelled by its prescriber"), "{text}");

    // The FHIR export: a MedicationDispense per dispensing, the requests'
    // statuses following, and a consumer still verifies it all.
    let fhir = json_in(d, &["chain", "history", "rx", "--patient", &patient, "--format", "fhir"], 0);
    let resources: Vec<&Value> = fhir["bundle"]["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let of = |kind: &str| resources.iter().filter(|r| r["resourceType"] == kind).copied().collect::<Vec<_>>();
    let statuses: Vec<&str> = of("MedicationRequest").iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["completed", "completed", "cancelled", "cancelled"]);
    assert_eq!(of("MedicationDispense").len(), 2);
    assert_eq!(of("Organization").len(), 2);
    let report = emr_core::fhir::verify_bundle(&fhir["bundle"]).unwrap();
    assert_eq!((report.records.len(), report.dispensings.len()), (4, 2));

    // A pharmacy's dispensings, by key hash or key file.
    let list = json_with_password(d, &["rx", "pharmacy", "rx", "a.pem"], 0);
    assert_eq!(list["dispensings"].as_array().unwrap().len(), 1);
    assert_eq!(list["dispensings"][0]["nonce"], 1);
    let b_hash = dispense_entry(d, "d2.entry").pharmacy_hash().to_string();
    let list = json_in(d, &["rx", "pharmacy", "rx", &b_hash], 0);
    assert_eq!(list["dispensings"][0]["nonce"], 2);

    // Bad prescriptions and missing flags.
    assert_eq!(kind(&json_in(d, &["rx", "status", "rx", &doctor], 2)), "invalid_argument");
    assert_eq!(kind(&json_in(d, &["rx", "status", "rx", &format!("{doctor}:x")], 2)), "invalid_argument");
    assert_eq!(kind(&json_in(d, &["rx", "status", "rx", &p(9)], 4)), "not_found");
    assert_eq!(kind(&json_in(d, &["rx", "status", "rx", &format!("{patient}:1")], 3)), "wrong_role");
    assert_eq!(kind(&json_in(d, &["dispense", "--chain", "rx", "--key", "b.pem", "--prescription", &p(2)], 2)), "usage");
    assert_eq!(kind(&json_in(d, &["dispense", "--prepare", "--chain", "rx", "--key", "b.pem", "--patient", "patient.pem", "--prescription", &p(2)], 2)), "usage");
    let wrong_patient = json_in(d, &["dispense", "--chain", "rx", "--key", "b.pem", "--patient-key", "stranger.pem", "--prescription", &p(2)], 1);
    assert_eq!(kind(&wrong_patient), "wrong_patient");
    json_in(d, &["chain", "check", "rx"], 0);
}

#[test]
fn an_imported_heavier_branch_keeps_its_dispensing_and_lists_the_other() {
    let dir = TempDir::new("pharmacy-import");
    let d = dir.path();
    json_in(d, &["authority", "new", "--out", "auth.pem"], 0);
    let doctor = new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    new_key(d, "north.pem", "secp256k1", "doctor");
    new_key(d, "south.pem", "p256", "doctor");
    json_in(d, &["chain", "init", "a", "--initial-difficulty", "1", "--authority", "auth.pub"], 0);
    json_in(d, &["grant", "--key", "auth.pem", "--doctor", "dr.pem", "--licence", "GMC 1", "--chain", "a", "--out", "g.entry"], 0);
    let mut pharmacy = Vec::new();
    for key in ["north.pem", "south.pem"] {
        let granted = json_in(d, &["pharmacy", "grant", "--key", "auth.pem", "--pharmacy", key, "--licence", key, "--chain", "a"], 0);
        pharmacy.push(s(&granted, "pharmacy").to_owned());
    }
    sign(d, "dr.pem", &patient, "Oxycodone 5mg", 1, "1.rec");
    json_in(d, &["chain", "submit", "a", "1.rec"], 0);
    let t = now() - 600;
    mine(d, "a", MINER, 1, t);
    common::nodes::copy_chain(&d.join("a"), &d.join("b"));
    // Each copy's pharmacy dispenses; b's branch grows heavier.
    let rx = format!("{doctor}:1");
    let dispense = |chain: &str, key: &str| {
        let args = ["dispense", "--chain", chain, "--key", key, "--patient-key", "patient.pem", "--prescription", &rx];
        s(&json_in(d, &args, 0), "entry_id").to_owned()
    };
    let north = dispense("a", "north.pem");
    mine(d, "a", MINER, 1, t + 60);
    let south = dispense("b", "south.pem");
    mine(d, "b", MINER, 2, t + 60);
    json_in(d, &["chain", "export", "b", "b.emr", "--from", "1"], 0);

    let imported = json_in(d, &["-q", "chain", "import", "a", "b.emr"], 0);
    assert_eq!((imported["reorganized"].as_u64(), imported["conflicts"].as_u64()), (Some(1), Some(1)), "{imported}");
    let text = emr_in(d, &["-q", "chain", "import", "a", "b.emr"]).stdout;
    assert!(!text.contains("dropped"), "nothing new the second time: {text}");
    let state = json_in(d, &["rx", "status", "a", &rx], 0);
    assert_eq!((s(&state, "pharmacy"), s(&state, "entry_id")), (pharmacy[1].as_str(), south.as_str()));
    let listed = json_in(d, &["chain", "conflicts", "a"], 0);
    let conflict = &listed["conflicts"][0];
    assert_eq!((s(conflict, "kind"), s(conflict, "id"), s(conflict, "replaced_by")), ("dispense", north.as_str(), south.as_str()));
    assert_eq!((s(conflict, "pharmacy"), s(conflict, "replaced_by_pharmacy")), (pharmacy[0].as_str(), pharmacy[1].as_str()));
    assert_eq!((s(conflict, "doctor"), conflict["nonce"].as_u64()), (doctor.as_str(), Some(1)));
    // North's dispensing cannot come back: the prescription is South's.
    let args = ["dispense", "--chain", "a", "--key", "north.pem", "--patient-key", "patient.pem", "--prescription", &rx];
    assert_eq!(kind(&json_in(d, &args, 1)), "already_dispensed");
    json_in(d, &["chain", "conflicts", "a", "--dismiss", &north], 0);
    assert_eq!(json_in(d, &["chain", "conflicts", "a"], 0)["conflicts"].as_array().unwrap().len(), 0);
    assert_eq!(kind(&json_in(d, &["chain", "conflicts", "a", "--dismiss", &north], 4)), "not_found");
    json_in(d, &["chain", "check", "a"], 0);
}

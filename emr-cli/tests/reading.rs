//! Reading what the chain holds: sealed prescriptions opened with a
//! reader's key in `chain history`, `chain doctor` and `chain find`;
//! `chain find --out` writes the record; `chain find` takes a txid's first
//! digits when no other txid starts with them.

mod common;

use std::collections::HashMap;

use common::*;
use emr_core::{Hash160, Record, SigningKey};
use serde_json::Value;

/// A chain `hosp` holding, for one patient, a plain record, one sealed to
/// the patient (and the doctor) and one sealed to the patient and a
/// pharmacy (and the doctor); their txids in that order.
fn clinic(name: &str) -> (TempDir, String, [String; 3]) {
    let dir = TempDir::new(name);
    let d = dir.path();
    new_key(d, "dr.pem", "secp256k1", "doctor");
    let patient = new_key(d, "patient.pem", "p256", "patient");
    new_key(d, "pharmacy.pem", "p256", "doctor");
    new_key(d, "other.pem", "secp256k1", "doctor");
    json_in(d, &["chain", "init", "hosp", "--initial-difficulty", "1"], 0);
    let plain = sign_next(d, "dr.pem", &patient, "Metformin 500mg", "hosp", "r1.rec");
    json_in(d, &["chain", "submit", "hosp", "r1.rec"], 0);
    let sealed = |text: &str, out: &str, readers: &[&str]| {
        let mut args = vec!["record", "sign", "--key", "dr.pem", "--patient", &patient, "--text", text];
        args.extend(["--chain", "hosp", "--out", out, "--seal-to"]);
        args.extend(readers);
        let signed = json_in(d, &args, 0);
        json_in(d, &["chain", "submit", "hosp", out], 0);
        s(&signed, "txid").to_owned()
    };
    let to_patient = sealed("Sertraline 50mg", "r2.rec", &["patient.pem"]);
    let to_pharmacy = sealed("Warfarin 5mg", "r3.rec", &["patient.pem", "pharmacy.pem"]);
    mine(d, "hosp", MINER, 1, 1_700_000_000);
    let txids = [s(&plain, "txid").to_owned(), to_patient, to_pharmacy];
    (dir, patient, txids)
}

fn records(value: &Value) -> &Vec<Value> {
    value["records"].as_array().expect("records")
}

#[test]
fn history_opens_what_the_key_may_read() {
    let (dir, patient, _) = clinic("reading-history");
    let d = dir.path();
    let history = |key: Option<&str>| {
        let mut args = vec!["chain", "history", "hosp", "--patient", &patient];
        args.extend(key.map(|k| ["--key", k]).iter().flatten());
        let run = emr_in(d, &args);
        assert_eq!(run.code, 0, "{run:?}");
        args.push("--json");
        (run.stdout, json_in(d, &args[..args.len() - 1], 0))
    };

    // No key: a note of whom each sealed text is for, never the envelope.
    let (text, json) = history(None);
    assert!(!text.contains("sealed1:"), "{text}");
    assert!(text.contains("  Metformin 500mg  "), "{text}");
    assert!(text.contains("[sealed to 2 readers: --key opens it]"), "{text}");
    assert!(text.contains("[sealed to 3 readers: --key opens it]"), "{text}");
    let r = records(&json);
    assert_eq!(r.iter().map(|r| r["sealed"].as_bool()).collect::<Vec<_>>(), [Some(false), Some(true), Some(true)]);
    assert!(s(&r[1], "prescription").starts_with("sealed1:"), "JSON keeps the stored text");
    assert!(r.iter().all(|r| r.get("opened").is_none()), "{json}");

    // The patient reads both; the pharmacy only what was sealed to it.
    let (text, json) = history(Some("patient.pem"));
    assert!(text.contains("  Sertraline 50mg [opened]  ") && text.contains("  Warfarin 5mg [opened]  "), "{text}");
    let r = records(&json);
    assert_eq!((s(&r[1], "opened"), s(&r[2], "opened")), ("Sertraline 50mg", "Warfarin 5mg"));
    assert!(r[0].get("opened").is_none(), "a plain record has nothing to open");
    let (text, json) = history(Some("pharmacy.pem"));
    assert!(text.contains("[sealed to 2 readers, not to this key]"), "{text}");
    assert!(text.contains("  Warfarin 5mg [opened]  "), "{text}");
    let r = records(&json);
    assert_eq!((r[1]["opened"].clone(), s(&r[2], "opened")), (Value::Null, "Warfarin 5mg"));
    let (text, _) = history(Some("other.pem"));
    assert_eq!(text.matches("not to this key").count(), 2, "{text}");

    // The doctor sealed them to itself too.
    let doctor = s(&json_in(d, &["key", "show", "dr.pem"], 0), "address").to_owned();
    let by = json_in(d, &["chain", "doctor", "hosp", "--doctor", &doctor, "--key", "dr.pem"], 0);
    assert_eq!((s(&records(&by)[1], "opened"), s(&records(&by)[2], "opened")), ("Sertraline 50mg", "Warfarin 5mg"));

    // A key that cannot be read: refused before anything is shown.
    let e = json_in(d, &["chain", "history", "hosp", "--patient", &patient, "--key", "missing.pem"], 4);
    assert_eq!(kind(&e), "not_found");
    let e = json_in(d, &["chain", "history", "hosp", "--patient", &patient, "--key", "r1.rec"], 1);
    assert_eq!(kind(&e), "invalid_key");
}

#[test]
fn find_writes_the_record_and_opens_it() {
    let (dir, _, txids) = clinic("reading-find");
    let d = dir.path();
    let found = json_in(d, &["chain", "find", "hosp", &txids[2], "--out", "copy.rec", "--key", "pharmacy.pem"], 0);
    assert_eq!(s(&found, "file"), "copy.rec");
    assert_eq!(s(&found["record"], "opened"), "Warfarin 5mg");
    assert_eq!(std::fs::read(d.join("copy.rec")).unwrap(), std::fs::read(d.join("r3.rec")).unwrap());
    let verified = json_in(d, &["record", "verify", "copy.rec", "--chain", "hosp"], 0);
    assert_eq!(records(&verified)[0]["height"], 0);

    // The rules of every file the command line writes.
    let e = json_in(d, &["chain", "find", "hosp", &txids[0], "--out", "copy.rec"], 2);
    assert_eq!(kind(&e), "invalid_argument");
    assert_eq!(std::fs::read(d.join("copy.rec")).unwrap(), std::fs::read(d.join("r3.rec")).unwrap());
    json_in(d, &["chain", "find", "hosp", &txids[0], "--out", "copy.rec", "--force"], 0);
    assert_eq!(std::fs::read(d.join("copy.rec")).unwrap(), std::fs::read(d.join("r1.rec")).unwrap());
    let e = json_in(d, &["chain", "find", "hosp", &"ab".repeat(32), "--out", "none.rec"], 4);
    assert_eq!(kind(&e), "not_found");
    assert!(!d.join("none.rec").exists());

    let run = emr_in(d, &["chain", "find", "hosp", &txids[1]]);
    assert!(run.stdout.contains("prescription [sealed to 2 readers: --key opens it]"), "{run:?}");
    let run = emr_in(d, &["chain", "find", "hosp", &txids[1], "--key", "patient.pem", "--out", "r2-copy.rec"]);
    assert!(run.stdout.contains("prescription Sertraline 50mg [opened]\nwrote r2-copy.rec"), "{run:?}");
}

/// The first `n` hex digits of a txid.
fn head(txid: &str, n: usize) -> &str {
    &txid[..n]
}

#[test]
fn find_takes_a_unique_prefix() {
    let (dir, _, txids) = clinic("reading-prefix");
    let d = dir.path();
    let find = |text: &str, code: i32| json_in(d, &["chain", "find", "hosp", text], code);
    let shortest = (4..64).find(|&n| txids.iter().filter(|t| t.starts_with(head(&txids[1], n))).count() == 1).unwrap();
    let found = find(head(&txids[1], shortest), 0);
    assert_eq!(s(&found["record"], "txid"), txids[1]);
    assert_eq!(s(&find(&txids[1].to_uppercase()[..shortest.max(10)], 0)["record"], "txid"), txids[1]);
    for bad in ["abc", "zzzz", "", &"a".repeat(65)] {
        let e = find(bad, 2);
        assert_eq!(kind(&e), "invalid_argument");
        assert!(s(&e["error"], "message").contains("its first 4 or more"), "{e}");
    }
    let unused = (0..=0xffffu32)
        .map(|n| format!("{n:04x}"))
        .find(|p| txids.iter().all(|t| !t.starts_with(p.as_str())))
        .unwrap();
    assert_eq!(kind(&find(&unused, 4)), "not_found");

    // Two records whose txids share their first 4 digits: the doctor's
    // next two (nonces 4 and 5), with texts searched for until they do.
    let key = SigningKey::from_pem_or_der(&std::fs::read(d.join("dr.pem")).unwrap()).unwrap();
    let patient = Hash160::from_slice(&[7; 20]).unwrap();
    let sign = |text: &str, nonce| Record::sign(&key, patient.as_bytes(), text, nonce).unwrap();
    let mut fours = HashMap::new();
    let (a, b) = (0..)
        .find_map(|i| {
            let a = sign(&format!("Paracetamol 500mg, note {i}"), 4);
            fours.insert(head(&a.txid.to_string(), 4).to_owned(), a);
            let b = sign(&format!("Ibuprofen 200mg, note {i}"), 5);
            fours.get(head(&b.txid.to_string(), 4)).map(|a| (a.clone(), b))
        })
        .unwrap();
    std::fs::write(d.join("a.rec"), a.to_bytes()).unwrap();
    std::fs::write(d.join("b.rec"), b.to_bytes()).unwrap();
    json_in(d, &["chain", "submit", "hosp", "a.rec", "b.rec"], 0);
    mine(d, "hosp", MINER, 1, 1_700_000_012);
    let (a, b) = (a.txid.to_string(), b.txid.to_string());
    let e = find(head(&a, 4), 2);
    assert_eq!(kind(&e), "invalid_argument");
    let message = s(&e["error"], "message");
    assert!(message.contains("is ambiguous") && message.contains(&a) && message.contains(&b), "{message}");
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    assert_eq!(s(&find(head(&a, common + 1), 0)["record"], "txid"), a);
    assert_eq!(s(&find(head(&b, common + 1), 0)["record"], "txid"), b);
}

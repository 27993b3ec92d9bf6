//! `emr chain history --format fhir`: the patient's history as an HL7 FHIR
//! R4 Bundle that verifies from its own fields, sealed prescriptions opened
//! only with a reader's key.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn history_as_fhir_is_a_bundle_a_consumer_verifies_alone() {
    let t = TempDir::new("fhir");
    let d = t.path();
    json_in(d, &["chain", "init", "c", "--initial-difficulty", "1"], 0);
    let miner = new_key(d, "miner.pem", "secp256k1", "miner");
    new_key(d, "dr.pem", "p256", "doctor");
    let patient = new_key(d, "alice.pem", "p256", "patient");
    sign(d, "dr.pem", &patient, "Amoxicillin <500mg> & \"water\"", 1, "r1.rec");
    let sealed = ["record", "sign", "--key", "dr.pem", "--patient", &patient, "--text", "Sertraline 50mg", "--nonce", "2", "--seal-to", "alice.pem", "--out", "r2.rec"];
    json_in(d, &sealed, 0);
    json_in(d, &["chain", "submit", "c", "r1.rec", "r2.rec"], 0);
    mine(d, "c", &miner, 1, now());

    let run = emr_in(d, &["chain", "history", "c", "--patient", &patient, "--format", "fhir"]);
    assert_eq!(run.code, 0, "{run:?}");
    let bundle: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(bundle["type"], "collection");
    let report = emr_core::fhir::verify_bundle(&bundle).unwrap();
    assert_eq!(report.records.len(), 2);
    let texts: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "MedicationRequest")
        .map(|e| e["resource"]["medicationCodeableConcept"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Amoxicillin <500mg> & \"water\"", emr_core::fhir::SEALED_TEXT]);

    let opened = json_in(d, &["chain", "history", "c", "--patient", &patient, "--format", "fhir", "--key", "alice.pem"], 0);
    let bundle = &opened["bundle"];
    assert!(bundle.to_string().contains("Sertraline 50mg"));
    assert!(emr_core::fhir::verify_bundle(bundle).is_ok());

    let refused = emr_in(d, &["chain", "history", "c", "--patient", &patient, "--format", "xml"]);
    assert_eq!(refused.code, 2, "{refused:?}");
}

//! FHIR R4 bundles of a patient's history: what they hold, that a
//! consumer holding only the bundle verifies every prescription, and that
//! an edit anywhere that matters is caught and located.

use emr_core::chain::{Chain, ChainParams};
use emr_core::fhir::{self, FhirError};
use emr_core::{Block, Cancellation, Curve, Difficulty, Dispense, DispenserGrant, Grant, Hash160, Hash256, Record, SealOptions, SigningKey};
use serde_json::Value;

const MINER: Hash160 = Hash160::from_bytes([7; 20]);

fn mine(chain: &mut Chain, t: u64) {
    let template = chain.template(&MINER, t).unwrap();
    let mut block = Block {
        previous: template.previous,
        height: template.height,
        miner: template.miner,
        records: template.records,
        entries: template.entries,
        timestamp: template.timestamp,
        difficulty: template.difficulty,
        block_id: Hash256::from_bytes([0; 32]),
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    chain.add_block(&block, None).unwrap();
}

struct Scene {
    chain: Chain,
    grey: SigningKey,
    patient_key: SigningKey,
    patient: Hash160,
}

/// Two doctors, three records for one patient (the third sealed to the
/// patient), one record for someone else.
fn scene() -> Scene {
    scene_with(None)
}

/// [`scene`], in a chain of `authority` (which admits both doctors, and
/// `pharmacy` with the licence "GPhC 1") when one is given.
fn scene_with(authority: Option<(&SigningKey, &SigningKey)>) -> Scene {
    let params = ChainParams {
        initial_difficulty: Difficulty::MIN,
        max_adjust: 1,
        salt: Some([3; 16]),
        authorities: authority.map(|(a, _)| vec![*a.public_key()]).unwrap_or_default(),
        ..ChainParams::default()
    };
    let mut chain = Chain::in_memory(params).unwrap();
    let house = SigningKey::generate(Curve::Secp256k1).unwrap();
    let grey = SigningKey::generate(Curve::P256).unwrap();
    let patient_key = SigningKey::generate(Curve::P256).unwrap();
    let patient = patient_key.public_key_hash();
    if let Some((authority, pharmacy)) = authority {
        let id = chain.chain_id();
        for doctor in [&house, &grey] {
            chain.submit_entry(&Grant::sign(authority, id, doctor.public_key_der(), "GMC", 0, u64::MAX).unwrap().into()).unwrap();
        }
        let grant = DispenserGrant::sign(authority, id, pharmacy.public_key_der(), "GPhC 1", 0, u64::MAX).unwrap();
        chain.submit_entry(&grant.into()).unwrap();
    }
    chain.submit(&Record::sign(&house, patient.as_bytes(), "Amoxicillin 500mg, 3x daily", 1).unwrap()).unwrap();
    chain.submit(&Record::sign(&grey, patient.as_bytes(), "Ibuprofen 400mg <as needed> & \"rest\"", 1).unwrap()).unwrap();
    chain.submit(&Record::sign(&house, &[5; 20], "someone else's", 2).unwrap()).unwrap();
    mine(&mut chain, 1_767_225_600);
    let sealed = Record::sign_sealed(&house, patient.as_bytes(), "Sertraline 50mg", 3, &[*patient_key.public_key()], SealOptions::default()).unwrap();
    chain.submit(&sealed).unwrap();
    mine(&mut chain, 1_767_225_660);
    Scene { chain, grey, patient_key, patient }
}

fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).filter(|r| r["resourceType"] == kind).collect()
}

#[test]
fn a_patients_bundle_holds_the_patient_the_doctors_and_each_prescription_with_its_signature() {
    let s = scene();
    let bundle = fhir::patient_bundle(&s.chain, &s.patient, &[]).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    assert_eq!(bundle["timestamp"], "2026-01-01T00:01:00Z");
    assert_eq!(resources(&bundle, "Patient").len(), 1);
    assert_eq!(resources(&bundle, "Practitioner").len(), 2);
    let requests = resources(&bundle, "MedicationRequest");
    assert_eq!(requests.len(), 3);
    assert_eq!(resources(&bundle, "Provenance").len(), 3);
    let patient = resources(&bundle, "Patient")[0];
    assert_eq!(patient["identifier"][0]["value"], emr_core::address::encode(emr_core::Role::Patient, &s.patient));
    let first = requests[0];
    assert_eq!(first["intent"], "order");
    assert_eq!(first["status"], "active");
    assert_eq!(first["medicationCodeableConcept"]["text"], "Amoxicillin 500mg, 3x daily");
    assert_eq!(first["authoredOn"], "2026-01-01T00:00:00Z");
    // Texts are data: kept exactly, markup characters included.
    assert_eq!(requests[1]["medicationCodeableConcept"]["text"], "Ibuprofen 400mg <as needed> & \"rest\"");
    // Sealed, no key: marked as sealed, its envelope not shown as a medication.
    let sealed = requests[2];
    assert_eq!(sealed["medicationCodeableConcept"]["text"], fhir::SEALED_TEXT);
    assert_eq!(sealed["status"], "unknown");
    assert_eq!(sealed["meta"]["security"][0]["code"], "R");
    // Every reference is an entry's fullUrl.
    let urls: Vec<&str> = bundle["entry"].as_array().unwrap().iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();
    for r in &requests {
        assert!(urls.contains(&r["subject"]["reference"].as_str().unwrap()));
        assert!(urls.contains(&r["requester"]["reference"].as_str().unwrap()));
    }
    assert!(urls.iter().all(|u| u.starts_with("urn:uuid:") && u.len() == 45));
    // The same history, the same bundle.
    assert_eq!(fhir::patient_bundle(&s.chain, &s.patient, &[]).unwrap(), bundle);

    // With the patient's key, the sealed prescription is shown opened.
    let opened = fhir::patient_bundle(&s.chain, &s.patient, &[&s.patient_key]).unwrap();
    let sealed = resources(&opened, "MedicationRequest")[2];
    assert_eq!(sealed["medicationCodeableConcept"]["text"], "Sertraline 50mg");
    assert_eq!(sealed["status"], "active");
    assert_eq!(fhir::verify_bundle(&opened).unwrap().records.len(), 3);
}

#[test]
fn a_consumer_with_only_the_bundle_verifies_every_prescription() {
    let s = scene();
    let bundle = fhir::patient_bundle(&s.chain, &s.patient, &[]).unwrap();
    let report = fhir::verify_bundle(&bundle).unwrap();
    let history: Vec<Hash256> = s.chain.patient_history(&s.patient).unwrap().iter().map(|e| e.record.txid).collect();
    assert_eq!(report.records, history);
}

#[test]
fn licences_of_the_doctors_grants_are_their_qualifications() {
    let s = scene();
    let entries = s.chain.patient_prescriptions(&s.patient).unwrap();
    let licence = |_: &Hash160| Ok(vec!["GMC 7012345".to_string()]);
    let none = |_: &Hash160| Ok(Vec::new());
    let bundle = fhir::bundle(&s.patient, &entries, &licence, &none, &[]).unwrap();
    for p in resources(&bundle, "Practitioner") {
        assert_eq!(p["qualification"][0]["code"]["text"], "GMC 7012345");
    }
}

/// Applies `edit` to a fresh bundle and expects `verify_bundle` to name
/// entry `at`.
fn edited(edit: impl FnOnce(&mut Value), at: usize, why: &str) {
    let s = scene();
    let mut bundle = fhir::patient_bundle(&s.chain, &s.patient, &[]).unwrap();
    edit(&mut bundle);
    match fhir::verify_bundle(&bundle) {
        Err(FhirError::Invalid { entry, reason }) => {
            assert_eq!(entry, at, "{reason}");
            assert!(reason.contains(why), "{reason}");
        }
        other => panic!("an edited bundle gave {other:?}"),
    }
}

#[test]
fn an_edit_anywhere_that_matters_fails_naming_the_entry() {
    // Entries: 0 Patient, 1-2 Practitioners, then MedicationRequest and
    // Provenance pairs: 3-4, 5-6, 7-8.
    edited(|b| b["entry"][3]["resource"]["medicationCodeableConcept"]["text"] = "Amoxicillin 5000mg, 3x daily".into(), 3, "invalid_txid");
    edited(|b| b["entry"][5]["resource"]["identifier"][1]["value"] = b["entry"][5]["resource"]["identifier"][1]["value"].as_str().unwrap().replace("#1", "#2").into(), 5, "");
    edited(|b| b["entry"][3]["resource"]["identifier"][0]["value"] = "00".repeat(32).into(), 3, "invalid_txid");
    edited(|b| {
        let other = b["entry"][6]["resource"]["signature"][0]["data"].clone();
        b["entry"][4]["resource"]["signature"][0]["data"] = other;
    }, 3, "invalid");
    edited(|b| b["entry"][0]["resource"]["identifier"][0]["value"] = emr_core::address::encode(emr_core::Role::Patient, &Hash160::from_bytes([1; 20])).into(), 3, "invalid_txid");
    edited(|b| {
        let other = b["entry"][2]["resource"]["extension"].clone();
        b["entry"][1]["resource"]["extension"] = other;
    }, 3, "public_key_mismatch");
    edited(|b| b["entry"][3]["resource"]["requester"]["reference"] = b["entry"][2]["fullUrl"].clone(), 3, "");
    edited(|b| { b["entry"].as_array_mut().unwrap().remove(4); }, 3, "no Provenance");
    edited(|b| b["entry"][7]["resource"]["extension"][0]["valueString"] = "sealed1:AAAA".into(), 7, "");
    edited(|b| b["type"] = "transaction".into(), 0, "collection");
}

#[test]
fn times_are_utc_date_times_and_out_of_range_ones_are_refused() {
    assert_eq!(fhir::date_time(0).as_deref(), Some("1970-01-01T00:00:00Z"));
    assert_eq!(fhir::date_time(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
    assert_eq!(fhir::date_time(1_767_225_599).as_deref(), Some("2025-12-31T23:59:59Z"));
    assert_eq!(fhir::date_time(253_402_300_799).as_deref(), Some("9999-12-31T23:59:59Z"));
    assert_eq!(fhir::date_time(253_402_300_800), None);
    assert_eq!(fhir::date_time(u64::MAX), None);
}

/// The scene, then a pharmacy dispenses the first prescription (with a
/// note) and the second doctor cancels theirs (with a reason).
fn dispensed_scene() -> (Scene, SigningKey) {
    let authority = SigningKey::generate(Curve::P256).unwrap();
    let pharmacy = SigningKey::generate(Curve::Secp256k1).unwrap();
    let mut s = scene_with(Some((&authority, &pharmacy)));
    let history = s.chain.patient_history(&s.patient).unwrap();
    let chain_id = s.chain.chain_id();
    let dispense = Dispense::sign(&pharmacy, &s.patient_key, chain_id, &history[0].record, "21 capsules").unwrap();
    s.chain.submit_entry(&dispense.into()).unwrap();
    let cancellation = Cancellation::sign(&s.grey, chain_id, &history[1].record, "wrong dose").unwrap();
    s.chain.submit_entry(&cancellation.into()).unwrap();
    mine(&mut s.chain, 1_767_225_720);
    (s, pharmacy)
}

#[test]
fn a_dispensing_is_a_medication_dispense_and_the_request_status_follows() {
    let (s, pharmacy) = dispensed_scene();
    let bundle = fhir::patient_bundle(&s.chain, &s.patient, &[]).unwrap();
    let requests = resources(&bundle, "MedicationRequest");
    let statuses: Vec<&str> = requests.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["completed", "cancelled", "unknown"]);
    assert_eq!(requests[1]["statusReason"]["text"], "wrong dose");
    let dispenses = resources(&bundle, "MedicationDispense");
    assert_eq!(dispenses.len(), 1);
    let d = dispenses[0];
    assert_eq!(d["status"], "completed");
    assert_eq!(d["whenHandedOver"], "2026-01-01T00:02:00Z");
    assert_eq!(d["note"][0]["text"], "21 capsules");
    assert_eq!(d["medicationCodeableConcept"]["text"], "Amoxicillin 500mg, 3x daily");
    let entries = bundle["entry"].as_array().unwrap();
    let url_of = |kind: &str| entries.iter().find(|e| e["resource"]["resourceType"] == kind).unwrap()["fullUrl"].clone();
    assert_eq!(d["authorizingPrescription"][0]["reference"], url_of("MedicationRequest"));
    assert_eq!(d["performer"][0]["actor"]["reference"], url_of("Organization"));
    let organization = resources(&bundle, "Organization")[0];
    assert_eq!(organization["identifier"][0]["value"], pharmacy.public_key_hash().to_string());
    assert_eq!(organization["identifier"][0]["system"], fhir::PHARMACY_SYSTEM);
    assert_eq!(organization["name"], "GPhC 1", "the dispenser grant's licence");
    let report = fhir::verify_bundle(&bundle).unwrap();
    assert_eq!(report.records.len(), 3);
    assert_eq!(report.dispensings, [Hash256::from_slice(&hex::decode(d["id"].as_str().unwrap()).unwrap()).unwrap()]);

    // A bundle that marks the dispensed prescription active, drops its
    // dispensing or points it elsewhere fails, naming the entry.
    let at = |kind: &str| entries.iter().position(|e| e["resource"]["resourceType"] == kind).unwrap();
    let (dispense_at, request_at) = (at("MedicationDispense"), at("MedicationRequest"));
    let fails = |edit: &dyn Fn(&mut Value), entry: usize, why: &str| {
        let mut b = bundle.clone();
        edit(&mut b);
        match fhir::verify_bundle(&b) {
            Err(FhirError::Invalid { entry: e, reason }) => assert!(e == entry && reason.contains(why), "{e}: {reason}"),
            other => panic!("{other:?}"),
        }
    };
    fails(&|b| b["entry"][request_at]["resource"]["status"] = "active".into(), dispense_at, "not marked completed");
    fails(&|b| { b["entry"].as_array_mut().unwrap().remove(dispense_at); }, request_at, "no MedicationDispense");
    fails(&|b| b["entry"][dispense_at]["resource"]["authorizingPrescription"][0]["reference"] = "urn:uuid:nowhere".into(), dispense_at, "not a MedicationRequest");
    fails(&|b| b["entry"][dispense_at]["resource"]["performer"][0]["actor"]["reference"] = b["entry"][1]["fullUrl"].clone(), dispense_at, "not a pharmacy");
    fails(&|b| b["entry"][dispense_at]["resource"]["subject"]["reference"] = "urn:uuid:someone".into(), dispense_at, "patient");
}

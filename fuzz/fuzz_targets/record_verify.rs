//! Record verification over arbitrary fields (what a Python caller who
//! reassigned attributes, or a C caller's buffers, can hand in): no panic;
//! the error is the first failing check in SPEC section 2's order; and no
//! record verifies unless it carries a real signature of the key's owner
//! (the base records' signed content, unchanged).
//!
//! Each field is either the base record's or the fuzzer's; `fix_txid` and
//! `fix_dr_hash` recompute those from the other fields so that inputs reach
//! the key and signature checks.
//!
//! Check 3 is SPEC 8.2's (`emr_fuzz::sealed_spec`, shared with
//! `sealed_open`): a text starting with `sealed1:` is judged by its
//! envelope, so `"sealed1:"` alone is `invalid_prescription`, and a
//! well-formed sealed text over 200 bytes passes. The committed seeds
//! include both (`examples/make_seeds.rs`).
#![no_main]

use emr_core::hash::sha1;
use emr_core::{calculate_signature_hash, calculate_txid, PublicKey, RecordError, RecordFields};
use emr_fuzz::{base_records, sealed_spec};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    p256: bool,
    dr_hash: Option<Vec<u8>>,
    patient_hash: Option<Vec<u8>>,
    dr_public_key: Option<Vec<u8>>,
    prescription: Option<Option<String>>,
    nonce: Option<u64>,
    signature: Option<Vec<u8>>,
    txid: Option<Vec<u8>>,
    previous_nonce: Option<u64>,
    fix_dr_hash: bool,
    fix_txid: bool,
}

/// SPEC section 2's checks, written out again from the text.
fn expected(f: &RecordFields<'_>, previous_nonce: u64) -> Result<(), RecordError> {
    if f.dr_hash.len() != 20 || f.patient_hash.len() != 20 {
        return Err(RecordError::HashLength);
    }
    if sha1(&[f.dr_public_key]).as_bytes() != f.dr_hash {
        return Err(RecordError::PublicKeyMismatch);
    }
    // Check 3 with SPEC 8.2's sealed rules: a `sealed1:` text is judged by
    // its envelope (up to 1,024 bytes), not by the 200-byte limit, and fails
    // here, before the nonce and txid, when malformed or not the patient's.
    let prescription = match f.prescription {
        Some(p) if sealed_spec::check3(Some(p), f.patient_hash) => p,
        _ => return Err(RecordError::InvalidPrescription),
    };
    if previous_nonce.checked_add(1) != Some(f.nonce) {
        return Err(RecordError::InvalidNonce);
    }
    let txid = calculate_txid(f.dr_hash, f.patient_hash, f.dr_public_key, prescription, f.nonce, f.signature);
    if txid.as_bytes() != f.txid {
        return Err(RecordError::InvalidTxid);
    }
    let key = PublicKey::from_spki_der(f.dr_public_key).map_err(|_| RecordError::InvalidPublicKey)?;
    let mut preimage = f.patient_hash.to_vec();
    preimage.extend_from_slice(prescription.as_bytes());
    preimage.extend_from_slice(&f.nonce.to_le_bytes());
    key.verify(&preimage, f.signature).map_err(|_| RecordError::InvalidSignature)
}

fuzz_target!(|input: Input| {
    let base = &base_records()[usize::from(input.p256)];
    let dr_public_key = input.dr_public_key.unwrap_or_else(|| base.dr_public_key.clone());
    let dr_hash = match (input.fix_dr_hash, input.dr_hash) {
        (true, _) => sha1(&[&dr_public_key]).as_bytes().to_vec(),
        (false, Some(h)) => h,
        (false, None) => base.dr_hash.as_bytes().to_vec(),
    };
    let patient_hash = input.patient_hash.unwrap_or_else(|| base.patient_hash.as_bytes().to_vec());
    let prescription = input.prescription.unwrap_or_else(|| Some(base.prescription.clone()));
    let nonce = input.nonce.unwrap_or(base.nonce);
    let signature = input.signature.unwrap_or_else(|| base.signature.clone());
    let txid = match (input.fix_txid, input.txid) {
        (true, _) => calculate_txid(
            &dr_hash,
            &patient_hash,
            &dr_public_key,
            prescription.as_deref().unwrap_or(""),
            nonce,
            &signature,
        )
        .as_bytes()
        .to_vec(),
        (false, Some(t)) => t,
        (false, None) => base.txid.as_bytes().to_vec(),
    };
    let previous_nonce = input.previous_nonce.unwrap_or(0);
    let fields = RecordFields {
        dr_hash: &dr_hash,
        patient_hash: &patient_hash,
        dr_public_key: &dr_public_key,
        prescription: prescription.as_deref(),
        nonce,
        signature: &signature,
        txid: &txid,
    };
    let verdict = fields.verify(previous_nonce);
    assert_eq!(verdict, expected(&fields, previous_nonce), "{fields:?}");
    if verdict.is_ok() {
        // Unforgeable: only the owner's signed content verifies.
        assert_eq!(dr_public_key, base.dr_public_key);
        let signed = calculate_signature_hash(&patient_hash, prescription.as_deref().unwrap(), nonce);
        assert_eq!(signed, base.signature_hash());
    }
});

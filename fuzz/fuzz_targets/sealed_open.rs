//! Sealed prescriptions (SPEC 8.2): no panic on any text in check 3,
//! verification, `sealed_recipients` or `open` with each of the vectors'
//! recipient keys; every verdict is the one SPEC 8.2's text calls for
//! (re-derived in `emr_fuzz::sealed_spec`, with an independent base64url
//! decoder); and nothing opens to a text that was not sealed under the
//! record's doctor, patient and nonce: a changed envelope fails or opens to
//! the original plaintext.
//!
//! The input is `mode ‖ case ‖ tweak ‖ payload`. `case` picks a record of
//! `sealed.json` whose doctor, patient, nonce, signature and txid the
//! fields take; `tweak` then changes some of them (bit 0: the patient
//! becomes recipient `tweak >> 4`; bit 1: nonce + 1; bit 2: the doctor
//! becomes that recipient; bit 3: a 19-byte patient hash). `mode % 3`
//! makes the text: 0, the payload itself (not UTF-8: "not text"); 1,
//! `sealed1:` ‖ base64url(payload); 2, the case's own envelope changed by
//! the payload, read as edits of 3 bytes (a 16-bit offset modulo the
//! envelope's length + 1, where the length itself appends, and a byte XORed
//! there, or appended), at most 32, and a cut of the last byte's value from
//! the end when the payload's length is not a multiple of 3.
#![no_main]

use emr_core::{RecordError, RecordFields, SealError};
use emr_fuzz::sealed_spec::{check3 as spec_check3, recipients as spec_recipients, PREFIX};
use emr_fuzz::{base64url, sealed_vectors, SealedCase};
use libfuzzer_sys::fuzz_target;

const MAX_EDITS: usize = 32;

/// The case's envelope with the payload's edits.
fn edited_envelope(case: &SealedCase, payload: &[u8]) -> String {
    let encoded = case.prescription.strip_prefix(PREFIX).unwrap_or(&case.prescription);
    let mut envelope = base64url::decode_lenient(encoded).unwrap_or_default();
    for edit in payload.chunks_exact(3).take(MAX_EDITS) {
        let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % (envelope.len() + 1);
        match envelope.get_mut(at) {
            Some(byte) => *byte ^= edit[2],
            None => envelope.push(edit[2]),
        }
    }
    if payload.len() % 3 != 0 {
        let cut = usize::from(payload[payload.len() - 1]).min(envelope.len());
        envelope.truncate(envelope.len() - cut);
    }
    format!("{PREFIX}{}", base64url::encode(&envelope))
}

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, case, tweak], payload)) = data.split_first_chunk::<3>() else { return };
    let vectors = sealed_vectors();
    let case = &vectors.cases[usize::from(case) % vectors.cases.len()];
    let other = &vectors.recipients[usize::from(tweak >> 4) % vectors.recipients.len()];
    let mut patient_hash = case.patient_hash.clone();
    let mut nonce = case.nonce;
    let (mut dr_hash, mut dr_public_key) = (case.dr_hash.clone(), case.dr_public_key.clone());
    if tweak & 1 != 0 {
        patient_hash = other.public_key_hash().as_bytes().to_vec();
    }
    if tweak & 2 != 0 {
        nonce = nonce.wrapping_add(1);
    }
    if tweak & 4 != 0 {
        dr_hash = other.public_key_hash().as_bytes().to_vec();
        dr_public_key = other.public_key_der().to_vec();
    }
    if tweak & 8 != 0 {
        patient_hash.truncate(19);
    }
    let text: Option<String> = match mode % 3 {
        0 => core::str::from_utf8(payload).ok().map(str::to_owned),
        1 => Some(format!("{PREFIX}{}", base64url::encode(payload))),
        _ => Some(edited_envelope(case, payload)),
    };
    let fields = RecordFields {
        dr_hash: &dr_hash,
        patient_hash: &patient_hash,
        dr_public_key: &dr_public_key,
        prescription: text.as_deref(),
        nonce,
        signature: &case.signature,
        txid: &case.txid,
    };
    let sealed = text.as_deref().is_some_and(|t| t.starts_with(PREFIX));
    assert_eq!(fields.is_sealed(), sealed);

    // Check 3, reached: the hashes are 20 bytes and dr_hash is the key's.
    let check3 = spec_check3(text.as_deref(), &patient_hash);
    let verdict = fields.verify(case.previous_nonce);
    if patient_hash.len() == 20 {
        assert_eq!(verdict == Err(RecordError::InvalidPrescription), !check3, "check 3 on {text:?}");
    }
    if verdict.is_ok() {
        // The doctor signed exactly this text for exactly these fields.
        assert_eq!(text.as_deref(), Some(case.prescription.as_str()));
        assert_eq!((&dr_hash, &patient_hash, nonce), (&case.dr_hash, &case.patient_hash, case.nonce));
    }

    let recipients = if sealed { text.as_deref().and_then(spec_recipients) } else { None };
    let expected_recipients = match (sealed, &recipients) {
        (false, _) => Err(SealError::NotSealed),
        (true, None) => Err(SealError::Malformed),
        (true, Some(r)) => Ok(r.clone()),
    };
    let got_recipients = fields.sealed_recipients().map(|r| r.iter().map(|h| *h.as_bytes()).collect::<Vec<_>>());
    assert_eq!(got_recipients, expected_recipients);

    // Texts sealed (per the vectors) under exactly these doctor, patient, nonce.
    let sealed_here: Vec<&str> = vectors
        .cases
        .iter()
        .filter(|c| (&c.dr_hash, &c.patient_hash, c.nonce) == (&dr_hash, &patient_hash, nonce))
        .map(|c| c.plaintext.as_str())
        .collect();
    let untouched = mode % 3 == 2 && payload.is_empty() && tweak & 15 == 0;
    for (who, key) in vectors.recipients.iter().enumerate() {
        let opened = fields.open(key);
        let own = *key.public_key_hash().as_bytes();
        match &opened {
            Err(SealError::NotSealed) => assert!(!sealed),
            Err(SealError::Malformed) => assert!(sealed && !check3),
            Err(SealError::NotRecipient) => assert!(check3 && !recipients.as_ref().unwrap().contains(&own)),
            Err(SealError::DecryptFailed) => assert!(check3 && recipients.as_ref().unwrap().contains(&own)),
            Ok(plaintext) => {
                assert!(check3 && recipients.as_ref().unwrap().contains(&own));
                assert!(plaintext.len() <= 200);
                assert!(sealed_here.contains(&plaintext.as_str()), "{} opened to a text never sealed: {plaintext:?}", case.name);
            }
        }
        if untouched {
            // The unchanged vector opens exactly as the vectors say.
            if let Some((_, want)) = case.opens.iter().find(|(w, _)| *w == who) {
                let got = opened.as_ref().map(String::clone).map_err(|e| e.kind().as_str().to_owned());
                assert_eq!(&got, want, "{}", case.name);
            }
        }
    }
});

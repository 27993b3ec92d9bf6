//! ECDSA signatures (strict DER): no panic, and the verdict of
//! `PublicKey::verify` (the record path) is the reference implementation's:
//! libsecp256k1's strict DER parser with high-S normalized, and ring's
//! ASN.1 ECDSA P-256 verifier. The first byte picks the curve; the key and
//! message are Wycheproof's, so its signatures (the seeds) verify.
#![no_main]

use emr_fuzz::{wycheproof_keys, WYCHEPROOF_MSG};
use libfuzzer_sys::fuzz_target;

fn reference_secp256k1(key: &emr_core::PublicKey, sig: &[u8]) -> bool {
    let Ok(mut signature) = secp256k1::ecdsa::Signature::from_der(sig) else { return false };
    signature.normalize_s();
    let point = secp256k1::PublicKey::from_slice(&key.uncompressed_point()).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, WYCHEPROOF_MSG);
    let message = secp256k1::Message::from_digest(digest.as_ref().try_into().unwrap());
    secp256k1::SECP256K1.verify_ecdsa(&message, &signature, &point).is_ok()
}

fn reference_p256(key: &emr_core::PublicKey, sig: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key.uncompressed_point())
        .verify(WYCHEPROOF_MSG, sig)
        .is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, sig)) = data.split_first() else { return };
    let [k1, p256] = wycheproof_keys();
    let (key, reference) = if selector & 1 == 0 {
        (k1, reference_secp256k1(k1, sig))
    } else {
        (p256, reference_p256(p256, sig))
    };
    let ours = key.verify(WYCHEPROOF_MSG, sig).is_ok();
    assert_eq!(ours, reference, "verdict differs from the reference on {}", key.curve());
});

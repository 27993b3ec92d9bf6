//! Public keys (DER SubjectPublicKeyInfo): no panic; an accepted key is the
//! one canonical encoding of its point (re-encodes to the same bytes), as
//! SPEC section 2 requires (one key, one encoding, one dr_hash).
#![no_main]

use emr_core::PublicKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_spki_der(data) {
        assert_eq!(key.to_spki_der(), data, "a second encoding of a key was accepted");
        assert_eq!(data.len(), if key.curve() == emr_core::Curve::Secp256k1 { 88 } else { 91 });
    }
});

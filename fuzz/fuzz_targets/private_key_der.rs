//! Private keys from DER (PKCS#8 and SEC1): no panic; an accepted key
//! exports to PKCS#8 that imports back to the same key.
#![no_main]

use emr_core::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = SigningKey::from_der(data) {
        let again = SigningKey::from_der(&key.to_pkcs8_der()).expect("our own PKCS#8 re-imports");
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert_eq!(again.to_pkcs8_der(), key.to_pkcs8_der());
    }
});

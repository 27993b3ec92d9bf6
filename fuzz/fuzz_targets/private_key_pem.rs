//! Private keys from PEM (and the PEM-or-DER entry the bindings use): no
//! panic; an accepted key exports to PEM that imports back to the same key.
#![no_main]

use emr_core::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pem = SigningKey::from_pem(data);
    let either = SigningKey::from_pem_or_der(data);
    if let Ok(key) = pem {
        let either = either.expect("PEM accepted by from_pem is accepted by from_pem_or_der");
        assert_eq!(either.public_key_der(), key.public_key_der());
        let again = SigningKey::from_pem(key.to_pkcs8_pem().as_bytes()).expect("our own PEM re-imports");
        assert_eq!(again.to_pkcs8_der(), key.to_pkcs8_der());
    }
});

//! Encrypted private keys (PKCS#8 PBES2): round trips, wrong and missing
//! passwords, what is refused, and the cost limits a key file cannot pass.
//! Interoperability with pyca/cryptography and `openssl pkey` is tested
//! in python-tests/test_encrypted_keys.py.

use emr_core::{Curve, ErrorKind, KeyError, SigningKey};
use pkcs8::der::Encode as _;
use pkcs8::pkcs5::pbes2;

const PASSWORD: &[u8] = b"correct horse battery staple";

#[test]
fn round_trips_on_both_curves() {
    for curve in [Curve::Secp256k1, Curve::P256] {
        let key = SigningKey::generate(curve).unwrap();
        let pem = key.to_pkcs8_pem_encrypted(PASSWORD).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{}", &pem[..40]);
        let back = SigningKey::from_pem_with_password(pem.as_bytes(), PASSWORD).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
        assert_eq!(*back.to_pkcs8_der(), *key.to_pkcs8_der());
        // DER too, through the same call.
        let der = key.to_pkcs8_der_encrypted(PASSWORD).unwrap();
        let back = SigningKey::from_pem_or_der_with_password(&der, PASSWORD).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
        // Fresh salt and IV every time.
        assert_ne!(*key.to_pkcs8_pem_encrypted(PASSWORD).unwrap(), *pem);
        // The plain key's bytes do not appear in the encrypted form.
        assert!(!der.windows(32).any(|w| key.to_pkcs8_der().windows(32).any(|k| k == w)));
    }
}

#[test]
fn wrong_missing_and_needless_passwords() {
    let key = SigningKey::generate(Curve::P256).unwrap();
    let pem = key.to_pkcs8_pem_encrypted(PASSWORD).unwrap();
    let wrong = SigningKey::from_pem_with_password(pem.as_bytes(), b"Correct horse battery staple").unwrap_err();
    assert_eq!(wrong, KeyError::WrongPassword);
    assert_eq!(wrong.kind(), ErrorKind::WrongPassword);
    assert_eq!(wrong.kind().as_str(), "wrong_password");
    let missing = SigningKey::from_pem(pem.as_bytes()).unwrap_err();
    assert_eq!(missing, KeyError::Encrypted);
    assert!(missing.to_string().contains("give its password"), "{missing}");
    assert_eq!(SigningKey::from_pem_or_der(pem.as_bytes()).unwrap_err(), KeyError::Encrypted);
    let plain = key.to_pkcs8_pem();
    assert_eq!(SigningKey::from_pem_with_password(plain.as_bytes(), PASSWORD).unwrap_err(), KeyError::NotEncrypted);
    assert_eq!(
        SigningKey::from_pem_or_der_with_password(&key.to_pkcs8_der(), PASSWORD).unwrap_err(),
        KeyError::NotEncrypted
    );
    let empty = key.to_pkcs8_pem_encrypted(b"").unwrap_err();
    assert_eq!(empty, KeyError::EmptyPassword);
    assert_eq!(empty.kind(), ErrorKind::InvalidArgument);
    // A password is never in a message.
    assert!(!wrong.to_string().contains("horse"));
}

#[test]
fn damage_and_foreign_schemes_are_refused() {
    let key = SigningKey::generate(Curve::Secp256k1).unwrap();
    let der = key.to_pkcs8_der_encrypted(PASSWORD).unwrap();
    // Single-byte changes across the whole encoding (every 9th byte and the
    // last 40: IV and ciphertext; each try costs a key derivation): refused
    // with an invalid_key or wrong_password error, or the same key.
    for at in (0..der.len()).step_by(9).chain(der.len() - 40..der.len()) {
        let mut bad = der.clone();
        bad[at] ^= 0x01;
        // PBES2 has no integrity check: a change in the IV changes only the
        // first plaintext block, the DER header, which may still parse; the
        // key that comes out is then the same key.
        match SigningKey::from_pem_or_der_with_password(&bad, PASSWORD) {
            Ok(other) => assert_eq!(other.public_key_der(), key.public_key_der(), "byte {at}"),
            Err(e) => assert!(matches!(e.kind(), ErrorKind::InvalidKey | ErrorKind::WrongPassword), "byte {at}: {e}"),
        }
    }
    // Legacy OpenSSL PEM encryption: named.
    let legacy = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
    let err = SigningKey::from_pem_with_password(legacy.as_bytes(), PASSWORD).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedEncryption(_)), "{err}");
    assert!(SigningKey::from_pem_with_password(b"garbage", PASSWORD).is_err());
    assert!(SigningKey::from_pem_or_der_with_password(&[0x30, 0x03, 0x02, 0x01], PASSWORD).is_err());
}

/// A file asking for more key-derivation work than the limits is refused
/// before any of it is done.
#[test]
fn key_derivation_costs_are_bounded() {
    let (salt, iv) = ([7u8; 16], [9u8; 16]);
    let mut params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, &salt, &iv).unwrap();
    if let pbes2::Kdf::Pbkdf2(p) = &mut params.kdf {
        p.iteration_count = 50_000_000;
    }
    let data = [0u8; 64];
    let info = pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
        encrypted_data: &data,
    };
    let der = info.to_der().unwrap();
    let err = SigningKey::from_pem_or_der_with_password(&der, PASSWORD).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedEncryption(_)), "{err}");
    assert!(err.to_string().contains("10,000,000"), "{err}");

    let scrypt = pkcs8::pkcs5::scrypt::Params::new(22, 8, 1, 32).unwrap();
    let params = pbes2::Parameters::scrypt_aes256cbc(scrypt, &salt, &iv).unwrap();
    let info = pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
        encrypted_data: &data,
    };
    let err = SigningKey::from_pem_or_der_with_password(&info.to_der().unwrap(), PASSWORD).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedEncryption(_)), "{err}");

    // Within the limits, scrypt keys (as some stores write them) are read.
    let key = SigningKey::generate(Curve::P256).unwrap();
    let scrypt = pkcs8::pkcs5::scrypt::Params::new(10, 8, 1, 32).unwrap();
    let params = pbes2::Parameters::scrypt_aes256cbc(scrypt, &salt, &iv).unwrap();
    let pkcs8_der = key.to_pkcs8_der();
    let info = pkcs8::PrivateKeyInfo::try_from(&pkcs8_der[..]).unwrap();
    let encrypted = info.encrypt_with_params(params, PASSWORD).unwrap();
    let back = SigningKey::from_pem_or_der_with_password(encrypted.as_bytes(), PASSWORD).unwrap();
    assert_eq!(back.public_key_der(), key.public_key_der());
}

//! Encrypted private keys: PKCS#8 `EncryptedPrivateKeyInfo` with PBES2
//! (RFC 8018), what `openssl pkey -aes256`, pyca/cryptography's
//! `BestAvailableEncryption` and key stores write as `ENCRYPTED PRIVATE
//! KEY`. Written: PBKDF2-HMAC-SHA256 (600,000 iterations, 16-byte random
//! salt) and AES-256-CBC (random IV). Read: PBES2 with PBKDF2 (HMAC-SHA-1,
//! -SHA-224, -SHA-256, -SHA-384, -SHA-512) or scrypt, and AES-128/192/256-CBC,
//! within cost limits, so that a key file cannot make a reader spin or
//! allocate without bound. Every buffer holding a plaintext key or a derived
//! key is zeroized when dropped.

use pkcs8::der::{Decode as _, Encode as _};
use pkcs8::pkcs5::pbes2::{self, Kdf};
use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::EncryptedPrivateKeyInfo;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::KeyError;

/// PBKDF2 iterations when writing (OWASP's 2023 figure for HMAC-SHA256).
const PBKDF2_ITERATIONS: u32 = 600_000;
/// The most PBKDF2 iterations a file may ask of a reader: RFC 8018's
/// "especially critical keys" figure, a few seconds.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// The most memory scrypt may take when reading (128 · r · N bytes), and
/// its largest parallelization: OpenSSL's own default memory cap is 32 MiB,
/// pyca's scrypt defaults are far below.
const MAX_SCRYPT_BYTES: u64 = 256 << 20;
const MAX_SCRYPT_PARALLELISM: u16 = 16;

/// Decrypts an `EncryptedPrivateKeyInfo` (DER) with `password`, giving the
/// PKCS#8 `PrivateKeyInfo` DER inside.
pub(super) fn decrypt(der: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let info = EncryptedPrivateKeyInfo::from_der(der).map_err(|_| KeyError::Malformed)?;
    let params = match &info.encryption_algorithm {
        EncryptionScheme::Pbes2(params) => params,
        _ => return Err(KeyError::UnsupportedEncryption("PBES1 (DES or RC2 with MD5 or SHA-1); re-encrypt with PBES2")),
    };
    check_cost(params)?;
    let mut buffer = Zeroizing::new(info.encrypted_data.to_vec());
    match params.decrypt_in_place(password, &mut buffer) {
        Ok(plain) => Ok(Zeroizing::new(plain.to_vec())),
        // pkcs5 0.7 reports a bad CBC padding, a wrong password's usual
        // sign, as `EncryptFailed`.
        Err(pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed) => Err(KeyError::WrongPassword),
        Err(_) => Err(KeyError::UnsupportedEncryption("a PBES2 cipher or key derivation this library does not read")),
    }
}

fn check_cost(params: &pbes2::Parameters<'_>) -> Result<(), KeyError> {
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(KeyError::UnsupportedEncryption("PBKDF2 with more than 10,000,000 iterations"))
        }
        Kdf::Scrypt(p) => {
            let bytes = 128u64.saturating_mul(u64::from(p.block_size)).saturating_mul(p.cost_parameter);
            if bytes > MAX_SCRYPT_BYTES || p.parallelization > MAX_SCRYPT_PARALLELISM {
                Err(KeyError::UnsupportedEncryption("scrypt needing more than 256 MiB or a parallelization over 16"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Encrypts PKCS#8 `PrivateKeyInfo` DER under `password`, giving
/// `EncryptedPrivateKeyInfo` DER.
pub(super) fn encrypt(pkcs8: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    if password.is_empty() {
        return Err(KeyError::EmptyPassword);
    }
    let rng = SystemRandom::new();
    let (mut salt, mut iv) = ([0u8; 16], [0u8; 16]);
    rng.fill(&mut salt).map_err(|_| KeyError::Rng)?;
    rng.fill(&mut iv).map_err(|_| KeyError::Rng)?;
    let params =
        pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv).map_err(|_| KeyError::Malformed)?;
    // CBC with PKCS#7 padding: up to one block more than the plaintext.
    let mut buffer = Zeroizing::new(vec![0u8; pkcs8.len() + 16]);
    buffer[..pkcs8.len()].copy_from_slice(pkcs8);
    let ciphertext = params.encrypt_in_place(password, &mut buffer, pkcs8.len()).map_err(|_| KeyError::Malformed)?;
    let info = EncryptedPrivateKeyInfo { encryption_algorithm: EncryptionScheme::Pbes2(params), encrypted_data: ciphertext };
    info.to_der().map_err(|_| KeyError::Malformed)
}

//! Doctors' keys: generation, PKCS#8 / SEC1 import and export, public keys,
//! and the ECDSA operations of SPEC section 2.
//!
//! secp256k1 goes through libsecp256k1 (the `secp256k1` crate); P-256 through
//! ring, with `p256` only to validate and decompress points, which ring
//! cannot do on its own.

use core::fmt;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature as ring_sig;
use zeroize::{Zeroize, Zeroizing};

mod encrypted;

use crate::address::{Address, Role};
use crate::der;
use crate::error::ErrorKind;
use crate::hash::{sha1, sha256, Hash160, Hash256};

/// An elliptic curve this library signs and verifies on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// secp256k1 (OID 1.3.132.0.10).
    Secp256k1,
    /// NIST P-256 / secp256r1 (OID 1.2.840.10045.3.1.7).
    P256,
}

impl Curve {
    /// The curve's name as the APIs spell it: `"secp256k1"` or `"P-256"`.
    pub const fn name(self) -> &'static str {
        match self {
            Curve::Secp256k1 => "secp256k1",
            Curve::P256 => "P-256",
        }
    }

    /// Parses a curve name. Accepts the names pyca/cryptography and OpenSSL
    /// use too (`secp256r1`, `prime256v1`), case-insensitively.
    pub fn from_name(name: &str) -> Result<Curve, KeyError> {
        match name.to_ascii_lowercase().as_str() {
            "secp256k1" => Ok(Curve::Secp256k1),
            "p-256" | "p256" | "secp256r1" | "prime256v1" => Ok(Curve::P256),
            _ => Err(KeyError::UnsupportedCurve),
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a private key was refused. Every variant is of kind `invalid_key`,
/// except [`KeyError::WrongPassword`] (`wrong_password`) and
/// [`KeyError::EmptyPassword`] (`invalid_argument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not PKCS#8 or SEC1 DER, or not PEM with one of those labels.
    #[error("invalid key: not a PKCS#8 or SEC1 EC private key")]
    Malformed,
    /// An encrypted key (`ENCRYPTED PRIVATE KEY`) read without a password:
    /// [`SigningKey::from_pem_with_password`] reads it.
    #[error("invalid key: the key is encrypted: give its password")]
    Encrypted,
    /// The password does not decrypt the key (or the encrypted key is damaged).
    #[error("wrong_password: the password does not decrypt the key (or the key file is damaged)")]
    WrongPassword,
    /// A password was given for a key that is not encrypted.
    #[error("invalid key: a password was given but the key is not encrypted")]
    NotEncrypted,
    /// An encryption this library does not read; the text says which.
    #[error("invalid key: unsupported key encryption: {0}")]
    UnsupportedEncryption(&'static str),
    /// Encrypting a key under an empty password.
    #[error("invalid_argument: the password is empty")]
    EmptyPassword,
    /// A curve other than secp256k1 and P-256.
    #[error("invalid key: unsupported curve (secp256k1 and P-256 are supported)")]
    UnsupportedCurve,
    /// The scalar is zero or not below the curve order.
    #[error("invalid key: private scalar out of range")]
    ScalarOutOfRange,
    /// The file's public key does not belong to its private key.
    #[error("invalid key: stored public key does not match the private key")]
    PublicKeyMismatch,
    /// The file's public key is not an uncompressed point on the key's curve,
    /// the only public key form the protocol accepts (SPEC section 2).
    #[error("invalid key: stored public key is not an uncompressed point on the key's curve")]
    PublicKeyEncoding,
    /// The system random number generator failed.
    #[error("invalid key: the system random number generator failed")]
    Rng,
}

impl KeyError {
    /// [`ErrorKind::InvalidKey`], [`ErrorKind::WrongPassword`] or
    /// (an empty password) [`ErrorKind::InvalidArgument`].
    pub const fn kind(&self) -> ErrorKind {
        match self {
            KeyError::WrongPassword => ErrorKind::WrongPassword,
            KeyError::EmptyPassword => ErrorKind::InvalidArgument,
            _ => ErrorKind::InvalidKey,
        }
    }
}

/// A doctor's private signing key. The scalar is zeroized on drop and never
/// printed: `Debug` shows the curve and public key hash only.
///
/// ring keeps its own copy of a P-256 scalar inside `EcdsaKeyPair`, which it
/// does not zeroize; that copy lives exactly as long as this key.
///
/// # Example
/// ```
/// use emr_core::{Curve, SigningKey};
///
/// let key = SigningKey::generate(Curve::Secp256k1)?;
/// let address = key.address(); // what people see: emrd1...
/// assert!(address.to_string().starts_with("emrd1"));
///
/// // Keys are stored as PKCS#8 (PEM or DER), as pyca/cryptography and OpenSSL do.
/// let again = SigningKey::from_pem(key.to_pkcs8_pem().as_bytes())?;
/// assert_eq!(again.public_key_hash(), key.public_key_hash());
/// # Ok::<(), emr_core::KeyError>(())
/// ```
pub struct SigningKey {
    curve: Curve,
    scalar: Zeroizing<[u8; 32]>,
    public_key: PublicKey,
    public_key_der: Vec<u8>,
    p256: Option<ring_sig::EcdsaKeyPair>,
}

fn random_scalar_bytes(rng: &SystemRandom) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rng.fill(&mut bytes[..]).map_err(|_| KeyError::Rng)?;
    Ok(bytes)
}

impl SigningKey {
    /// Generates a fresh key from the operating system's random source.
    pub fn generate(curve: Curve) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        // A uniformly random 256-bit string is a valid scalar with
        // overwhelming probability (about 1 - 2^-32 for P-256, 1 - 2^-128
        // for secp256k1); retry the rare miss. Sixteen misses in a row mean
        // the random source is broken, not unlucky, so give up then.
        for _ in 0..16 {
            let scalar = random_scalar_bytes(&rng)?;
            match SigningKey::from_scalar(curve, scalar, &[]) {
                Err(KeyError::ScalarOutOfRange) => continue,
                other => return other,
            }
        }
        Err(KeyError::Rng)
    }

    fn from_scalar(
        curve: Curve,
        scalar: Zeroizing<[u8; 32]>,
        stored_public: &[&[u8]],
    ) -> Result<SigningKey, KeyError> {
        let public_key = match curve {
            Curve::Secp256k1 => {
                let mut secret = secp256k1::SecretKey::from_slice(&scalar[..])
                    .map_err(|_| KeyError::ScalarOutOfRange)?;
                let public = secp256k1::PublicKey::from_secret_key_global(&secret);
                secret.non_secure_erase();
                PublicKey {
                    curve,
                    point: PublicPoint::Secp256k1(public),
                }
            }
            Curve::P256 => {
                let secret = p256::SecretKey::from_slice(&scalar[..])
                    .map_err(|_| KeyError::ScalarOutOfRange)?;
                let encoded = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                    &secret.public_key(),
                    false,
                );
                let mut point = [0u8; 65];
                point.copy_from_slice(encoded.as_bytes());
                PublicKey {
                    curve,
                    point: PublicPoint::P256(point),
                }
            }
        };
        let uncompressed = public_key.uncompressed_point();
        for stored in stored_public {
            let stored = PublicKey::from_uncompressed_point(curve, stored)
                .map_err(|_| KeyError::PublicKeyEncoding)?;
            if stored.uncompressed_point() != uncompressed {
                return Err(KeyError::PublicKeyMismatch);
            }
        }
        let p256 = match curve {
            Curve::Secp256k1 => None,
            Curve::P256 => Some(
                ring_sig::EcdsaKeyPair::from_private_key_and_public_key(
                    &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &scalar[..],
                    &uncompressed,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyError::ScalarOutOfRange)?,
            ),
        };
        let public_key_der = der::encode_spki(curve, &uncompressed);
        Ok(SigningKey {
            curve,
            scalar,
            public_key,
            public_key_der,
            p256,
        })
    }

    fn from_parsed(parsed: der::EcPrivateKey) -> Result<SigningKey, KeyError> {
        let stored: Vec<&[u8]> = [
            parsed.public_point.as_deref(),
            parsed.outer_public_point.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        SigningKey::from_scalar(parsed.curve, parsed.scalar, &stored)
    }

    /// Imports PKCS#8 DER (pyca's default) or SEC1 `ECPrivateKey` DER.
    pub fn from_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        match der::parse_pkcs8(der) {
            Ok(parsed) => SigningKey::from_parsed(parsed),
            Err(_) => {
                SigningKey::from_parsed(der::parse_sec1(der).map_err(|_| classify_malformed(der))?)
            }
        }
    }

    /// Imports PEM: `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` (SEC1).
    /// Input over 64 KiB is `Malformed` unread (an EC key's PEM is about
    /// 250 bytes): decoding makes copies, and their size is not the caller's
    /// to choose.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        if pem.len() > MAX_PEM_BYTES {
            return Err(KeyError::Malformed);
        }
        let text = core::str::from_utf8(pem).map_err(|_| KeyError::Malformed)?;
        let (label, der) = pem_decode(text)?;
        match label.as_str() {
            "PRIVATE KEY" => SigningKey::from_parsed(
                der::parse_pkcs8(&der).map_err(|_| classify_malformed(&der))?,
            ),
            "EC PRIVATE KEY" => {
                SigningKey::from_parsed(der::parse_sec1(&der).map_err(|_| KeyError::Malformed)?)
            }
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
            _ => Err(KeyError::Malformed),
        }
    }

    /// Imports an encrypted key: PEM `ENCRYPTED PRIVATE KEY` or its DER
    /// (PKCS#8 `EncryptedPrivateKeyInfo`, PBES2), decrypted with `password`
    /// (`keys/encrypted.rs` says which schemes and costs are read).
    /// `WrongPassword` when it does not decrypt; `NotEncrypted` for a key
    /// that is not encrypted, so that a password is never silently ignored.
    pub fn from_pem_or_der_with_password(bytes: &[u8], password: &[u8]) -> Result<SigningKey, KeyError> {
        if bytes.len() > MAX_PEM_BYTES {
            return Err(KeyError::Malformed);
        }
        let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let text = core::str::from_utf8(bytes).map_err(|_| KeyError::Malformed)?;
            let (label, der) = pem_decode(text).map_err(|e| match e {
                KeyError::Encrypted => KeyError::UnsupportedEncryption(
                    "OpenSSL's legacy PEM encryption (Proc-Type); convert it with `openssl pkey`",
                ),
                other => other,
            })?;
            match label.as_str() {
                "ENCRYPTED PRIVATE KEY" => der,
                "PRIVATE KEY" | "EC PRIVATE KEY" => return Err(KeyError::NotEncrypted),
                _ => return Err(KeyError::Malformed),
            }
        } else {
            if SigningKey::from_der(bytes).is_ok() {
                return Err(KeyError::NotEncrypted);
            }
            Zeroizing::new(bytes.to_vec())
        };
        let pkcs8 = encrypted::decrypt(&der, password)?;
        // A wrong password passes CBC's padding check about once in 256
        // times and then yields garbage: that is a wrong password too.
        let parsed = der::parse_pkcs8(&pkcs8).map_err(|_| match classify_malformed(&pkcs8) {
            KeyError::Malformed => KeyError::WrongPassword,
            other => other,
        })?;
        SigningKey::from_parsed(parsed)
    }

    /// [`Self::from_pem_or_der_with_password`] for PEM text.
    pub fn from_pem_with_password(pem: &[u8], password: &[u8]) -> Result<SigningKey, KeyError> {
        if !pem.trim_ascii_start().starts_with(b"-----BEGIN") {
            return Err(KeyError::Malformed);
        }
        SigningKey::from_pem_or_der_with_password(pem, password)
    }

    /// Encrypted PKCS#8 PEM (`-----BEGIN ENCRYPTED PRIVATE KEY-----`): PBES2
    /// with PBKDF2-HMAC-SHA256 (600,000 iterations, random salt) and
    /// AES-256-CBC (random IV), which OpenSSL and pyca/cryptography read.
    /// `EmptyPassword` for an empty password.
    pub fn to_pkcs8_pem_encrypted(&self, password: &[u8]) -> Result<Zeroizing<String>, KeyError> {
        Ok(pem_encode("ENCRYPTED PRIVATE KEY", &self.to_pkcs8_der_encrypted(password)?))
    }

    /// The DER of [`Self::to_pkcs8_pem_encrypted`] (`EncryptedPrivateKeyInfo`).
    pub fn to_pkcs8_der_encrypted(&self, password: &[u8]) -> Result<Vec<u8>, KeyError> {
        encrypted::encrypt(&self.to_pkcs8_der(), password)
    }

    /// Imports PEM or DER, whichever `bytes` is.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<SigningKey, KeyError> {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            SigningKey::from_pem(bytes)
        } else {
            SigningKey::from_der(bytes)
        }
    }

    /// PKCS#8 DER, byte for byte what pyca/cryptography writes for the same key.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        der::encode_pkcs8(
            self.curve,
            &self.scalar,
            &self.public_key.uncompressed_point(),
        )
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as pyca/cryptography writes it.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        pem_encode("PRIVATE KEY", &self.to_pkcs8_der())
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The public key as uncompressed DER SubjectPublicKeyInfo (the record's `dr_public_key`).
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// `H160(public_key_der)`, the record's `dr_hash`.
    pub fn public_key_hash(&self) -> Hash160 {
        sha1(&[&self.public_key_der])
    }

    /// The doctor's address: [`Self::public_key_hash`] in the doctor role.
    pub fn address(&self) -> Address {
        Address::new(Role::Doctor, self.public_key_hash())
    }

    /// The private scalar, for the key agreement of [`crate::seal`].
    pub(crate) fn scalar(&self) -> &[u8; 32] {
        &self.scalar
    }

    /// Signs `SHA-256(preimage)` and returns a strict-DER, low-S signature.
    /// `digest` must be `SHA-256(preimage)`; both are passed because ring
    /// hashes the message itself while libsecp256k1 takes the digest.
    pub(crate) fn sign_prehashed(
        &self,
        preimage: &[u8],
        digest: &Hash256,
    ) -> Result<Vec<u8>, KeyError> {
        let mut compact = [0u8; 64];
        match &self.p256 {
            None => {
                let mut secret = secp256k1::SecretKey::from_slice(&self.scalar[..])
                    .map_err(|_| KeyError::ScalarOutOfRange)?;
                let message = secp256k1::Message::from_digest(digest.to_bytes());
                // RFC 6979 deterministic nonces; libsecp256k1 always emits low-S.
                let signature = secp256k1::SECP256K1.sign_ecdsa(&message, &secret);
                secret.non_secure_erase();
                compact = signature.serialize_compact();
            }
            Some(pair) => {
                let signature = pair
                    .sign(&SystemRandom::new(), preimage)
                    .map_err(|_| KeyError::Rng)?;
                compact.copy_from_slice(signature.as_ref());
                normalize_low_s_p256(&mut compact);
            }
        }
        Ok(der::encode_ecdsa_signature(&compact))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("curve", &self.curve)
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

fn classify_malformed(der: &[u8]) -> KeyError {
    // PKCS#8 EncryptedPrivateKeyInfo starts SEQUENCE { SEQUENCE { OID ... } }
    // where a PrivateKeyInfo starts SEQUENCE { INTEGER ... }.
    match der {
        [0x30, 0x82, _, _, 0x30, ..] | [0x30, 0x81, _, 0x30, ..] => KeyError::Encrypted,
        _ => KeyError::Malformed,
    }
}

/// The P-256 group order n, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// floor(n / 2) for P-256, big-endian.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// floor(n / 2) for secp256k1, big-endian.
const SECP256K1_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// The secp256k1 group order n, big-endian.
const SECP256K1_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// Replaces s by n - s when s > n/2; (r, n - s) is the same signature's
/// other valid form, and low-S is the one this library emits.
fn normalize_low_s_p256(compact: &mut [u8; 64]) {
    normalize_low_s(compact, &P256_ORDER, &P256_HALF_ORDER);
}

fn normalize_low_s(compact: &mut [u8; 64], order: &[u8; 32], half_order: &[u8; 32]) {
    let s = &mut compact[32..];
    if *s <= half_order[..] {
        return;
    }
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let diff = i16::from(order[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(diff < 0);
        s[i] = diff.rem_euclid(256) as u8;
    }
}

/// The longest PEM [`SigningKey::from_pem`] reads.
const MAX_PEM_BYTES: usize = 64 * 1024;

// Whitespace around and inside PEM is ASCII whitespace only (the set
// `from_pem_or_der` skips too): with Unicode's wider set (`str::trim`), a
// vertical tab before `-----BEGIN` made `from_pem` accept what
// `from_pem_or_der` read as DER and refused (found by fuzz/private_key_pem).
fn pem_decode(text: &str) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    let text = text.trim_ascii();
    let first_line_end = text.find('\n').ok_or(KeyError::Malformed)?;
    let label = text[..first_line_end]
        .trim_ascii_end()
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or(KeyError::Malformed)?;
    let end_marker = format!("-----END {label}-----");
    let body = text[first_line_end..]
        .trim_ascii_end()
        .strip_suffix(end_marker.as_str())
        .ok_or(KeyError::Malformed)?;
    if body.contains("Proc-Type:") {
        return Err(KeyError::Encrypted);
    }
    let mut compact = Zeroizing::new(String::with_capacity(body.len()));
    compact.extend(body.chars().filter(|c| !c.is_ascii_whitespace()));
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| KeyError::Malformed)?;
    Ok((label.to_owned(), Zeroizing::new(der)))
}

fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let mut encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(
        encoded.len() + encoded.len() / 64 + 64,
    ));
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in encoded.as_bytes().chunks(64) {
        // base64 output is ASCII, so any chunk boundary is a char boundary.
        out.push_str(core::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    encoded.zeroize();
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PublicPoint {
    Secp256k1(secp256k1::PublicKey),
    /// Validated, uncompressed SEC1 point.
    P256([u8; 65]),
}

/// A validated EC public key on a supported curve.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    curve: Curve,
    point: PublicPoint,
}

/// The public key is not a DER SPKI of a point on a supported curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid public key")]
pub struct InvalidPublicKey;

/// The signature is not strict DER or does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid signature")]
pub struct InvalidSignature;

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo whose point is uncompressed
    /// (`0x04 ‖ X ‖ Y`): exactly the 88 (secp256k1) or 91 (P-256) bytes that
    /// pyca/cryptography and this library write, and nothing else.
    ///
    /// `dr_hash` is the SHA-1 of these exact bytes and the signature does not
    /// cover the key, so every other accepted encoding of the same point
    /// (compressed, hybrid `0x06`/`0x07`, p256's `0x05 ‖ X`) would be a second
    /// identity with its own nonce counter, under which anyone could replay
    /// the doctor's records (SPEC section 2).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, InvalidPublicKey> {
        let (curve, point) = der::parse_spki(der).map_err(|_| InvalidPublicKey)?;
        PublicKey::from_uncompressed_point(curve, point)
    }

    /// SPKI DER, or the PEM `-----BEGIN PUBLIC KEY-----` that `emr key
    /// public` and `openssl pkey -pubout` write, under the rules of
    /// [`Self::from_spki_der`].
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<PublicKey, InvalidPublicKey> {
        if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            return PublicKey::from_spki_der(bytes);
        }
        if bytes.len() > MAX_PEM_BYTES {
            return Err(InvalidPublicKey);
        }
        let text = core::str::from_utf8(bytes).map_err(|_| InvalidPublicKey)?;
        match pem_decode(text) {
            Ok((label, der)) if label == "PUBLIC KEY" => PublicKey::from_spki_der(&der),
            _ => Err(InvalidPublicKey),
        }
    }

    /// The SPKI as PEM (`-----BEGIN PUBLIC KEY-----`), as OpenSSL and
    /// pyca/cryptography write it.
    pub fn to_spki_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.to_spki_der()).to_string()
    }

    /// The one parsing rule for every point this library reads: the libraries
    /// behind it accept more forms than the protocol allows, so the form is
    /// checked here, before they see it.
    fn from_uncompressed_point(curve: Curve, point: &[u8]) -> Result<PublicKey, InvalidPublicKey> {
        if point.len() != 65 || point[0] != 0x04 {
            return Err(InvalidPublicKey);
        }
        let point = match curve {
            Curve::Secp256k1 => PublicPoint::Secp256k1(
                secp256k1::PublicKey::from_slice(point).map_err(|_| InvalidPublicKey)?,
            ),
            Curve::P256 => {
                let key = p256::PublicKey::from_sec1_bytes(point).map_err(|_| InvalidPublicKey)?;
                let encoded =
                    p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false);
                let mut uncompressed = [0u8; 65];
                uncompressed.copy_from_slice(encoded.as_bytes());
                PublicPoint::P256(uncompressed)
            }
        };
        Ok(PublicKey { curve, point })
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The uncompressed SEC1 point (65 bytes).
    pub fn uncompressed_point(&self) -> [u8; 65] {
        match &self.point {
            PublicPoint::Secp256k1(key) => key.serialize_uncompressed(),
            PublicPoint::P256(point) => *point,
        }
    }

    /// Uncompressed DER SubjectPublicKeyInfo (88 bytes for secp256k1, 91 for P-256).
    pub fn to_spki_der(&self) -> Vec<u8> {
        der::encode_spki(self.curve, &self.uncompressed_point())
    }

    /// `H160` of [`Self::to_spki_der`]: the hash a record, an address or an
    /// entry names this key by (what [`SigningKey::public_key_hash`] gives
    /// for its key).
    pub fn key_hash(&self) -> Hash160 {
        sha1(&[&self.to_spki_der()])
    }

    /// Verifies a strict-DER ECDSA signature over `SHA-256(message)`, by the
    /// very path a record's signature takes (the record's `signature_hash` is
    /// the SHA-256 of its preimage). High-S signatures are accepted (SPEC
    /// section 2). This is what the Wycheproof vectors and the signature
    /// fuzzer run; records are verified through [`crate::Record::verify`].
    pub fn verify(&self, message: &[u8], signature_der: &[u8]) -> Result<(), InvalidSignature> {
        self.verify_prehashed(message, &crate::hash::sha256(&[message]), signature_der)
    }

    /// Verifies a strict-DER ECDSA signature over `digest = SHA-256(preimage)`.
    /// High-S signatures are accepted.
    pub(crate) fn verify_prehashed(
        &self,
        preimage: &[u8],
        digest: &Hash256,
        signature_der: &[u8],
    ) -> Result<(), InvalidSignature> {
        self.verify_signed(Signed::Preimage(preimage, digest), signature_der)
    }

    /// [`Self::verify_prehashed`] for signatures whose identity matters
    /// (SPEC 8.1, v1.2: registry entries): a high-S signature is refused,
    /// since `(r, n - s)` would give the same content a second id.
    pub(crate) fn verify_prehashed_low_s(
        &self,
        preimage: &[u8],
        digest: &Hash256,
        signature_der: &[u8],
    ) -> Result<(), InvalidSignature> {
        let compact = der::parse_ecdsa_signature(signature_der).map_err(|_| InvalidSignature)?;
        let half_order = match self.curve() {
            Curve::Secp256k1 => &SECP256K1_HALF_ORDER,
            Curve::P256 => &P256_HALF_ORDER,
        };
        if compact[32..] > half_order[..] {
            return Err(InvalidSignature);
        }
        self.verify_prehashed(preimage, digest, signature_der)
    }

    /// The low-S form of a strict-DER signature on this key's curve: itself
    /// when `s <= n/2`, else `(r, n - s)`, which verifies wherever the
    /// original does. `None` when the bytes are not strict DER. How a
    /// signature made elsewhere (a patient's card, OpenSSL, which emits
    /// high-S half the time) becomes one an entry may carry.
    pub(crate) fn low_s_form(&self, signature_der: &[u8]) -> Option<Vec<u8>> {
        let mut compact = der::parse_ecdsa_signature(signature_der).ok()?;
        match self.curve() {
            Curve::Secp256k1 => normalize_low_s(&mut compact, &SECP256K1_ORDER, &SECP256K1_HALF_ORDER),
            Curve::P256 => normalize_low_s(&mut compact, &P256_ORDER, &P256_HALF_ORDER),
        }
        Some(der::encode_ecdsa_signature(&compact))
    }

    /// Verifies a strict-DER ECDSA signature over the SHA-256 of
    /// `patient_hash ‖ prescription ‖ LE64(nonce)` (a record's signed
    /// message, SPEC section 2), hashing only where the curve's library
    /// does not. High-S signatures are accepted.
    pub(crate) fn verify_signature(
        &self,
        patient_hash: &[u8],
        prescription: &[u8],
        nonce: u64,
        signature_der: &[u8],
    ) -> Result<(), InvalidSignature> {
        self.verify_signed(Signed::Parts(patient_hash, prescription, nonce), signature_der)
    }

    fn verify_signed(&self, signed: Signed<'_>, signature_der: &[u8]) -> Result<(), InvalidSignature> {
        let compact = der::parse_ecdsa_signature(signature_der).map_err(|_| InvalidSignature)?;
        match &self.point {
            PublicPoint::Secp256k1(key) => {
                let mut signature = secp256k1::ecdsa::Signature::from_compact(&compact)
                    .map_err(|_| InvalidSignature)?;
                // libsecp256k1 verifies low-S only; the protocol accepts both forms.
                signature.normalize_s();
                let digest = match signed {
                    Signed::Preimage(_, digest) => *digest,
                    Signed::Parts(patient_hash, prescription, nonce) => {
                        sha256(&[patient_hash, prescription, &nonce.to_le_bytes()])
                    }
                };
                let message = secp256k1::Message::from_digest(digest.to_bytes());
                secp256k1::SECP256K1
                    .verify_ecdsa(&message, &signature, key)
                    .map_err(|_| InvalidSignature)
            }
            PublicPoint::P256(point) => {
                // ring hashes the message itself, in one piece: a record's
                // is assembled on the stack (it fits) rather than allocated.
                let mut buf = [0u8; 256];
                let heap;
                let message = match signed {
                    Signed::Preimage(preimage, _) => preimage,
                    Signed::Parts(patient_hash, prescription, nonce) => {
                        let nonce = nonce.to_le_bytes();
                        let len = patient_hash.len() + prescription.len() + nonce.len();
                        if len <= buf.len() {
                            let (a, rest) = buf.split_at_mut(patient_hash.len());
                            a.copy_from_slice(patient_hash);
                            let (b, rest) = rest.split_at_mut(prescription.len());
                            b.copy_from_slice(prescription);
                            rest[..nonce.len()].copy_from_slice(&nonce);
                            &buf[..len]
                        } else {
                            heap = [patient_hash, prescription, &nonce].concat();
                            &heap[..]
                        }
                    }
                };
                ring_sig::UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, &compact)
                    .map_err(|_| InvalidSignature)
            }
        }
    }
}

/// What a signature covers, as the caller has it.
enum Signed<'m> {
    /// The whole message and its SHA-256.
    Preimage(&'m [u8], &'m Hash256),
    /// A record's message in its parts (patient hash, prescription, nonce).
    Parts(&'m [u8], &'m [u8], u64),
}

impl core::hash::Hash for PublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.curve.hash(state);
        self.uncompressed_point().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, {})",
            self.curve,
            hex::encode(self.uncompressed_point())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pkcs8() {
        for curve in [Curve::Secp256k1, Curve::P256] {
            let key = SigningKey::generate(curve).unwrap();
            let der = key.to_pkcs8_der();
            let back = SigningKey::from_der(&der).unwrap();
            assert_eq!(back.public_key_der(), key.public_key_der());
            let pem = key.to_pkcs8_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = SigningKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(back.public_key_hash(), key.public_key_hash());
            assert_eq!(back.to_pkcs8_der(), der);
        }
    }

    #[test]
    fn debug_never_shows_the_scalar() {
        let key = SigningKey::generate(Curve::P256).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(&key.scalar[..])));
        assert!(shown.contains("P256"));
    }

    #[test]
    fn low_s_normalization() {
        let mut compact = [0u8; 64];
        compact[32..].copy_from_slice(&P256_ORDER);
        compact[63] -= 1; // s = n - 1, high
        normalize_low_s_p256(&mut compact);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(compact[32..], one);
    }

    /// One DER TLV, for building the malformed and v2 keys below.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            n @ 0..=0x7f => out.push(n as u8),
            n @ 0x80..=0xff => out.extend_from_slice(&[0x81, n as u8]),
            n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    /// `key`'s PKCS#8 rebuilt with `version` and `trailer` after the private key.
    fn pkcs8_with(key: &SigningKey, version: u8, trailer: &[u8]) -> Vec<u8> {
        let v1 = key.to_pkcs8_der();
        let body = &v1[v1.len() - usize::from(v1[2])..]; // pyca's: 30 81 LEN body
        assert_eq!(&body[..3], &[0x02, 0x01, 0x00]);
        let mut new_body = vec![0x02, 0x01, version];
        new_body.extend_from_slice(&body[3..]);
        new_body.extend_from_slice(trailer);
        tlv(0x30, &new_body)
    }

    fn v2_public_key(point: &[u8]) -> Vec<u8> {
        let mut bits = vec![0];
        bits.extend_from_slice(point);
        tlv(0x81, &bits)
    }

    #[test]
    fn only_the_uncompressed_spki_is_a_public_key() {
        for curve in [Curve::Secp256k1, Curve::P256] {
            let key = SigningKey::generate(curve).unwrap();
            let point = key.public_key().uncompressed_point();
            let spki = key.public_key_der();
            assert_eq!(PublicKey::from_spki_der(spki).unwrap(), *key.public_key());
            let (x, y) = (&point[1..33], &point[33..]);
            let parity = 2 + (y[31] & 1);
            let compressed = [&[parity][..], x].concat();
            let hybrid = [&[4 + parity][..], x, y].concat();
            let compact = [&[0x05][..], x].concat();
            let bare_x = x.to_vec();
            for other in [compressed, hybrid, compact, bare_x] {
                let other_spki = der::encode_spki(curve, &other);
                assert_eq!(
                    PublicKey::from_spki_der(&other_spki),
                    Err(InvalidPublicKey),
                    "{curve} {}",
                    hex::encode(&other)
                );
            }
        }
    }

    #[test]
    fn pkcs8_v2_public_key_must_be_the_key_s_own() {
        for curve in [Curve::Secp256k1, Curve::P256] {
            let key = SigningKey::generate(curve).unwrap();
            let own = key.public_key().uncompressed_point();
            let other = SigningKey::generate(curve)
                .unwrap()
                .public_key()
                .uncompressed_point();
            let attributes = tlv(0xa0, &tlv(0x30, &[]));

            let v2 = pkcs8_with(&key, 1, &v2_public_key(&own));
            assert_eq!(
                SigningKey::from_der(&v2).unwrap().public_key_der(),
                key.public_key_der()
            );
            let v2_with_attributes =
                pkcs8_with(&key, 1, &[attributes.clone(), v2_public_key(&own)].concat());
            assert!(SigningKey::from_der(&v2_with_attributes).is_ok());
            assert!(SigningKey::from_der(&pkcs8_with(&key, 1, &[])).is_ok());

            let cases = [
                (
                    "v2 with another key's public key",
                    pkcs8_with(&key, 1, &v2_public_key(&other)),
                    KeyError::PublicKeyMismatch,
                ),
                (
                    "v2 with a compressed public key",
                    pkcs8_with(&key, 1, &v2_public_key(&own[..33])),
                    KeyError::PublicKeyEncoding,
                ),
                (
                    "v1 carrying a v2 public key",
                    pkcs8_with(&key, 0, &v2_public_key(&own)),
                    KeyError::Malformed,
                ),
                (
                    "v2 public key repeated",
                    pkcs8_with(
                        &key,
                        1,
                        &[v2_public_key(&own), v2_public_key(&own)].concat(),
                    ),
                    KeyError::Malformed,
                ),
                (
                    "v2 public key before the attributes",
                    pkcs8_with(&key, 1, &[v2_public_key(&own), attributes.clone()].concat()),
                    KeyError::Malformed,
                ),
                (
                    "attributes repeated",
                    pkcs8_with(&key, 0, &[attributes.clone(), attributes.clone()].concat()),
                    KeyError::Malformed,
                ),
                ("version 2", pkcs8_with(&key, 2, &[]), KeyError::Malformed),
            ];
            for (name, der, expected) in cases {
                assert_eq!(
                    SigningKey::from_der(&der).unwrap_err(),
                    expected,
                    "{curve}: {name}"
                );
            }
        }
    }

    #[test]
    fn sec1_public_key_must_be_uncompressed() {
        for curve in [Curve::Secp256k1, Curve::P256] {
            let key = SigningKey::generate(curve).unwrap();
            let point = key.public_key().uncompressed_point();
            let compressed = [&[2 + (point[64] & 1)][..], &point[1..33]].concat();
            let sec1_with = |public: &[u8]| {
                let body = [
                    tlv(0x02, &[1]),
                    tlv(0x04, &key.scalar[..]),
                    tlv(0xa0, &tlv(0x06, der::curve_oid(curve))),
                    tlv(0xa1, &tlv(0x03, &[&[0u8][..], public].concat())),
                ]
                .concat();
                tlv(0x30, &body)
            };
            assert_eq!(
                SigningKey::from_der(&sec1_with(&point))
                    .unwrap()
                    .public_key(),
                key.public_key()
            );
            assert_eq!(
                SigningKey::from_der(&sec1_with(&compressed)).unwrap_err(),
                KeyError::PublicKeyEncoding,
                "{curve}"
            );
        }
    }

    #[test]
    fn rejects_garbage_keys() {
        assert_eq!(SigningKey::from_der(b"").unwrap_err(), KeyError::Malformed);
        assert_eq!(
            SigningKey::from_pem(b"-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n")
                .unwrap_err(),
            KeyError::Malformed
        );
        assert_eq!(
            SigningKey::from_pem(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
                .unwrap_err(),
            KeyError::Encrypted
        );
        assert_eq!(Curve::from_name("P-384"), Err(KeyError::UnsupportedCurve));
    }
}

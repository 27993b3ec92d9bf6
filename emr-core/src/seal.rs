//! Sealed prescriptions (SPEC section 8.2): a record whose prescription is
//! `"sealed1:" ‖ base64url(envelope)`, readable only by its recipients.
//!
//! A fresh random content key `K` encrypts the text (AES-256-GCM, the aad
//! binding it to the record's doctor, patient and nonce); for each recipient
//! a fresh ephemeral key `e` agrees a secret with the recipient's key (ECDH,
//! x-coordinate), HKDF-SHA256 turns it into a key-encryption key, and that
//! wraps `K`. The sealed text is an ordinary prescription to every other
//! rule: the doctor signs it and every verifier checks it as before.
//!
//! Secret material (`K`, each KEK, each ECDH output, each ephemeral scalar)
//! lives in zeroizing buffers. ring keeps its own copies of the HKDF and AES
//! key schedules inside its key objects, which it does not zeroize; they
//! live only for the call.
//!
//! The API is on [`Record`](crate::Record): [`Record::sign_sealed`](crate::Record::sign_sealed),
//! [`Record::open`](crate::Record::open), [`Record::is_sealed`](crate::Record::is_sealed)
//! and the same on [`RecordFields`](crate::RecordFields).

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, hkdf};
use zeroize::{Zeroize, Zeroizing};

use crate::error::ErrorKind;
use crate::hash::{sha1, Hash160};
use crate::keys::{Curve, KeyError, PublicKey, SigningKey};

/// What starts a sealed prescription.
pub const SEALED_PREFIX: &str = "sealed1:";

/// The most recipients a sealed record may have.
pub const MAX_RECIPIENTS: usize = 4;

/// The longest sealed prescription text, prefix included, in bytes.
pub const MAX_SEALED_TEXT_BYTES: usize = 1024;

const ENVELOPE_VERSION: u8 = 1;
const KEY_HASH_LEN: usize = 20;
const POINT_LEN: usize = 33;
const WRAPPED_LEN: usize = 32 + 16;
const SLOT_LEN: usize = KEY_HASH_LEN + 1 + POINT_LEN + WRAPPED_LEN;
const TAG_LEN: usize = 16;
/// A ciphertext is the text plus a 16-byte tag: 16..=216 bounds the text
/// to 200 bytes, as an unsealed prescription.
const MAX_CIPHERTEXT_LEN: usize = crate::record::MAX_PRESCRIPTION_BYTES + TAG_LEN;
const KEK_INFO: &[u8] = b"cryptoemr/seal-kek/v1";
const TEXT_AAD: &[u8] = b"cryptoemr/sealed/v1";
const ZERO_NONCE: [u8; 12] = [0; 12];

const BASE64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How [`Record::sign_sealed`](crate::Record::sign_sealed) chooses the recipients.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SealOptions {
    /// Add the signing doctor's own key to the recipients (default `true`),
    /// so the doctor can read what they wrote.
    pub include_self: bool,
}

impl Default for SealOptions {
    fn default() -> SealOptions {
        SealOptions { include_self: true }
    }
}

/// Why a sealed record does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SealError {
    /// The prescription is not sealed (it does not start with `sealed1:`):
    /// it is plain text, readable as it is.
    #[error("invalid_argument: the prescription is not sealed")]
    NotSealed,
    /// The sealed text is not well-formed, or the patient is not among its
    /// recipients: the record fails `invalid_prescription`.
    #[error("invalid_prescription: the sealed prescription is malformed")]
    Malformed,
    /// The key is not one of the record's recipients.
    #[error("not_recipient: the key is not a recipient of this record")]
    NotRecipient,
    /// The key is a recipient, but the wrapped key or the text does not
    /// decrypt (tampered, or moved to another record), or the text is not UTF-8.
    #[error("decrypt_failed: the sealed prescription does not decrypt under this key")]
    DecryptFailed,
}

impl SealError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            SealError::NotSealed => ErrorKind::InvalidArgument,
            SealError::Malformed => ErrorKind::InvalidPrescription,
            SealError::NotRecipient => ErrorKind::NotRecipient,
            SealError::DecryptFailed => ErrorKind::DecryptFailed,
        }
    }
}

/// One recipient of an envelope.
struct Slot {
    key_hash: Hash160,
    curve: Curve,
    /// The ephemeral public key E, SEC1 compressed, checked on `curve`.
    ephemeral: [u8; POINT_LEN],
    wrapped: [u8; WRAPPED_LEN],
}

/// A well-formed envelope (every rule of check 3 but the patient's).
struct Envelope {
    slots: Vec<Slot>,
    ciphertext: Vec<u8>,
}

fn curve_byte(curve: Curve) -> u8 {
    match curve {
        Curve::Secp256k1 => 1,
        Curve::P256 => 2,
    }
}

/// Whether `point` is a SEC1 compressed point on `curve`.
fn is_compressed_point(curve: Curve, point: &[u8]) -> bool {
    if point.len() != POINT_LEN || (point[0] != 0x02 && point[0] != 0x03) {
        return false;
    }
    match curve {
        Curve::Secp256k1 => secp256k1::PublicKey::from_slice(point).is_ok(),
        Curve::P256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
    }
}

impl Envelope {
    /// Parses a `sealed1:` text; `None` for any rule of check 3 broken
    /// (the patient's aside).
    fn parse(text: &str) -> Option<Envelope> {
        if text.len() > MAX_SEALED_TEXT_BYTES {
            return None;
        }
        let encoded = text.strip_prefix(SEALED_PREFIX)?;
        // The engine refuses padding and non-zero trailing bits, so exactly
        // one text encodes each envelope.
        let bytes = BASE64URL.decode(encoded).ok()?;
        let (&[version, count], rest) = bytes.split_first_chunk::<2>()?;
        let count = usize::from(count);
        if version != ENVELOPE_VERSION || !(1..=MAX_RECIPIENTS).contains(&count) || rest.len() < count * SLOT_LEN {
            return None;
        }
        let (slots, ciphertext) = rest.split_at(count * SLOT_LEN);
        if !(TAG_LEN..=MAX_CIPHERTEXT_LEN).contains(&ciphertext.len()) {
            return None;
        }
        let slots = slots
            .chunks_exact(SLOT_LEN)
            .map(|slot| {
                let (key_hash, rest) = slot.split_at(KEY_HASH_LEN);
                let curve = match rest[0] {
                    1 => Curve::Secp256k1,
                    2 => Curve::P256,
                    _ => return None,
                };
                let (ephemeral, wrapped) = rest[1..].split_at(POINT_LEN);
                if !is_compressed_point(curve, ephemeral) {
                    return None;
                }
                Some(Slot {
                    key_hash: Hash160::from_slice(key_hash)?,
                    curve,
                    ephemeral: ephemeral.try_into().ok()?,
                    wrapped: wrapped.try_into().ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Envelope { slots, ciphertext: ciphertext.to_vec() })
    }

    fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(2 + self.slots.len() * SLOT_LEN + self.ciphertext.len());
        // At most MAX_RECIPIENTS slots, checked by the caller.
        bytes.extend_from_slice(&[ENVELOPE_VERSION, self.slots.len() as u8]);
        for slot in &self.slots {
            bytes.extend_from_slice(slot.key_hash.as_bytes());
            bytes.push(curve_byte(slot.curve));
            bytes.extend_from_slice(&slot.ephemeral);
            bytes.extend_from_slice(&slot.wrapped);
        }
        bytes.extend_from_slice(&self.ciphertext);
        format!("{SEALED_PREFIX}{}", BASE64URL.encode(bytes))
    }
}

/// Check 3 of SPEC section 2 as section 8.2 amends it, for a text that is
/// text: a plain prescription of at most 200 bytes, or a well-formed sealed
/// one with the patient among its recipients.
pub(crate) fn prescription_is_valid(text: &str, patient_hash: &[u8]) -> bool {
    if text.starts_with(SEALED_PREFIX) {
        Envelope::parse(text).is_some_and(|e| e.slots.iter().any(|s| s.key_hash.as_bytes()[..] == *patient_hash))
    } else {
        text.len() <= crate::record::MAX_PRESCRIPTION_BYTES
    }
}

/// The x-coordinate of `scalar · point` on `curve`; `None` when the point
/// or scalar is not valid there.
fn shared_x(curve: Curve, scalar: &[u8; 32], point: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let mut x = Zeroizing::new([0u8; 32]);
    match curve {
        Curve::Secp256k1 => {
            let point = secp256k1::PublicKey::from_slice(point).ok()?;
            let mut secret = secp256k1::SecretKey::from_slice(scalar).ok()?;
            let shared = Zeroizing::new(secp256k1::ecdh::shared_secret_point(&point, &secret));
            secret.non_secure_erase();
            x.copy_from_slice(&shared[..32]);
        }
        Curve::P256 => {
            let point = p256::PublicKey::from_sec1_bytes(point).ok()?;
            let secret = p256::SecretKey::from_slice(scalar).ok()?;
            let mut nonzero = secret.to_nonzero_scalar();
            let shared = p256::ecdh::diffie_hellman(&nonzero, point.as_affine());
            nonzero.zeroize();
            x.copy_from_slice(shared.raw_secret_bytes());
        }
    }
    Some(x)
}

/// The SEC1 compressed public point of `scalar` on `curve`.
fn public_point(curve: Curve, scalar: &[u8; 32]) -> Option<[u8; POINT_LEN]> {
    match curve {
        Curve::Secp256k1 => {
            let mut secret = secp256k1::SecretKey::from_slice(scalar).ok()?;
            let point = secp256k1::PublicKey::from_secret_key_global(&secret).serialize();
            secret.non_secure_erase();
            Some(point)
        }
        Curve::P256 => {
            let secret = p256::SecretKey::from_slice(scalar).ok()?;
            let encoded = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), true);
            encoded.as_bytes().try_into().ok()
        }
    }
}

/// `HKDF-SHA256(salt = none, ikm = x, info = "cryptoemr/seal-kek/v1" ‖ key_hash ‖ E)`, 32 bytes.
fn kek(x: &[u8; 32], key_hash: &Hash160, ephemeral: &[u8; POINT_LEN]) -> Option<Zeroizing<[u8; 32]>> {
    // An empty salt is HMAC-keyed exactly as HashLen zero bytes, RFC 5869's "not provided".
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(x);
    let info = [KEK_INFO, key_hash.as_bytes(), ephemeral];
    let okm = prk.expand(&info, hkdf::HKDF_SHA256).ok()?;
    let mut out = Zeroizing::new([0u8; 32]);
    okm.fill(&mut out[..]).ok()?;
    Some(out)
}

fn gcm_key(key: &[u8; 32]) -> Option<aead::LessSafeKey> {
    Some(aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, key).ok()?))
}

/// AES-256-GCM with the zero nonce: every key here encrypts exactly once.
fn gcm_seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
    let mut buffer = Zeroizing::new(plaintext.to_vec());
    gcm_key(key)?
        .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(ZERO_NONCE), aead::Aad::from(aad), &mut *buffer)
        .ok()?;
    Some(core::mem::take(&mut *buffer))
}

fn gcm_open(key: &[u8; 32], aad: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let len = gcm_key(key)?
        .open_in_place(aead::Nonce::assume_unique_for_key(ZERO_NONCE), aead::Aad::from(aad), &mut buffer[..])
        .ok()?
        .len();
    buffer.truncate(len);
    Some(buffer)
}

/// `"cryptoemr/sealed/v1" ‖ dr_hash ‖ patient_hash ‖ LE64(nonce)`.
fn text_aad(dr_hash: &[u8], patient_hash: &[u8], nonce: u64) -> Vec<u8> {
    [TEXT_AAD, dr_hash, patient_hash, &nonce.to_le_bytes()].concat()
}

/// A recipient's key as it goes into an envelope.
pub(crate) struct Recipient {
    key_hash: Hash160,
    curve: Curve,
    point: [u8; 65],
}

impl Recipient {
    pub(crate) fn new(key: &PublicKey) -> Recipient {
        Recipient { key_hash: sha1(&[&key.to_spki_der()]), curve: key.curve(), point: key.uncompressed_point() }
    }

    pub(crate) fn key_hash(&self) -> Hash160 {
        self.key_hash
    }
}

/// Seals `plaintext` to `recipients` with the given content key and one
/// ephemeral scalar per recipient. The caller checks the counts and the
/// text's length; `None` for a scalar that is not valid on its curve.
fn seal_with(
    plaintext: &str,
    aad: &[u8],
    recipients: &[Recipient],
    content_key: &[u8; 32],
    ephemeral_scalars: &[Zeroizing<[u8; 32]>],
) -> Option<String> {
    let mut slots = Vec::with_capacity(recipients.len());
    for (recipient, scalar) in recipients.iter().zip(ephemeral_scalars) {
        let ephemeral = public_point(recipient.curve, scalar)?;
        let x = shared_x(recipient.curve, scalar, &recipient.point)?;
        let kek = kek(&x, &recipient.key_hash, &ephemeral)?;
        let slot_aad = [recipient.key_hash.as_bytes().as_slice(), &ephemeral].concat();
        let wrapped = gcm_seal(&kek, &slot_aad, content_key)?;
        slots.push(Slot {
            key_hash: recipient.key_hash,
            curve: recipient.curve,
            ephemeral,
            wrapped: wrapped.try_into().ok()?,
        });
    }
    let ciphertext = gcm_seal(content_key, aad, plaintext.as_bytes())?;
    Some(Envelope { slots, ciphertext }.encode())
}

/// A random scalar valid on `curve`.
fn random_scalar(rng: &SystemRandom, curve: Curve) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    // As in key generation: a miss is rare, sixteen in a row a broken source.
    for _ in 0..16 {
        let mut scalar = Zeroizing::new([0u8; 32]);
        rng.fill(&mut scalar[..]).map_err(|_| KeyError::Rng)?;
        let valid = match curve {
            Curve::Secp256k1 => secp256k1::SecretKey::from_slice(&scalar[..]).map(|mut s| s.non_secure_erase()).is_ok(),
            // p256's SecretKey zeroizes itself on drop.
            Curve::P256 => p256::SecretKey::from_slice(&scalar[..]).is_ok(),
        };
        if valid {
            return Ok(scalar);
        }
    }
    Err(KeyError::Rng)
}

/// Seals `plaintext` for a record of `dr_hash`, `patient_hash` and `nonce`
/// to `recipients` (1 to 4, counted and checked by the caller), with a fresh
/// content key and a fresh ephemeral key per recipient.
pub(crate) fn seal(
    plaintext: &str,
    dr_hash: &Hash160,
    patient_hash: &Hash160,
    nonce: u64,
    recipients: &[Recipient],
) -> Result<String, KeyError> {
    let rng = SystemRandom::new();
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill(&mut content_key[..]).map_err(|_| KeyError::Rng)?;
    let scalars = recipients.iter().map(|r| random_scalar(&rng, r.curve)).collect::<Result<Vec<_>, _>>()?;
    let aad = text_aad(dr_hash.as_bytes(), patient_hash.as_bytes(), nonce);
    // Every input is valid by construction (validated public keys, scalars
    // checked on their curve), so a failure here is the primitives'.
    seal_with(plaintext, &aad, recipients, &content_key, &scalars).ok_or(KeyError::Rng)
}

/// Opens a record's sealed prescription with `key`; the fields are taken as
/// given (see [`crate::RecordFields::open`]).
pub(crate) fn open(
    prescription: Option<&str>,
    dr_hash: &[u8],
    patient_hash: &[u8],
    nonce: u64,
    key: &SigningKey,
) -> Result<String, SealError> {
    let text = prescription.filter(|t| t.starts_with(SEALED_PREFIX)).ok_or(SealError::NotSealed)?;
    if !prescription_is_valid(text, patient_hash) {
        return Err(SealError::Malformed);
    }
    let envelope = Envelope::parse(text).ok_or(SealError::Malformed)?;
    let own_hash = key.public_key_hash();
    let slot = envelope.slots.iter().find(|s| s.key_hash == own_hash).ok_or(SealError::NotRecipient)?;
    if slot.curve != key.curve() {
        return Err(SealError::DecryptFailed);
    }
    let x = shared_x(slot.curve, key.scalar(), &slot.ephemeral).ok_or(SealError::DecryptFailed)?;
    let kek = kek(&x, &slot.key_hash, &slot.ephemeral).ok_or(SealError::DecryptFailed)?;
    let slot_aad = [slot.key_hash.as_bytes().as_slice(), &slot.ephemeral].concat();
    let unwrapped = gcm_open(&kek, &slot_aad, &slot.wrapped).ok_or(SealError::DecryptFailed)?;
    if unwrapped.len() != 32 {
        return Err(SealError::DecryptFailed);
    }
    let mut content_key = Zeroizing::new([0u8; 32]);
    content_key.copy_from_slice(&unwrapped);
    let plaintext = gcm_open(&content_key, &text_aad(dr_hash, patient_hash, nonce), &envelope.ciphertext)
        .ok_or(SealError::DecryptFailed)?;
    core::str::from_utf8(&plaintext).map(str::to_owned).map_err(|_| SealError::DecryptFailed)
}

/// The key hashes of a sealed text's recipients, in envelope order.
pub(crate) fn recipients(prescription: Option<&str>) -> Result<Vec<Hash160>, SealError> {
    let text = prescription.filter(|t| t.starts_with(SEALED_PREFIX)).ok_or(SealError::NotSealed)?;
    let envelope = Envelope::parse(text).ok_or(SealError::Malformed)?;
    Ok(envelope.slots.iter().map(|s| s.key_hash).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/sealed.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn bytes32(hex_text: &Value) -> [u8; 32] {
        hex::decode(hex_text.as_str().unwrap()).unwrap().try_into().unwrap()
    }

    /// Given the vectors' content key and ephemeral scalars, sealing here
    /// makes their envelopes byte for byte: the construction (ECDH x, HKDF
    /// info, both aads, the encoding) is SPEC 8.2's, not merely self-consistent.
    #[test]
    fn construction_matches_the_vectors_byte_for_byte() {
        let file = vectors();
        let keys: std::collections::HashMap<&str, PublicKey> = file["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let spki = hex::decode(r["spki"].as_str().unwrap()).unwrap();
                (r["name"].as_str().unwrap(), PublicKey::from_spki_der(&spki).unwrap())
            })
            .collect();
        let mut compared = 0;
        for case in file["records"].as_array().unwrap() {
            let untampered = case["expected"] == "valid"
                && case["opens"].as_array().unwrap().iter().all(|o| o.get("error") != Some(&"decrypt_failed".into()));
            if !untampered {
                continue;
            }
            let c = &case["construction"];
            let record = &case["record"];
            let recipients: Vec<Recipient> =
                c["recipients"].as_array().unwrap().iter().map(|n| Recipient::new(&keys[n.as_str().unwrap()])).collect();
            let scalars: Vec<_> = c["ephemeral_scalars"].as_array().unwrap().iter().map(|s| Zeroizing::new(bytes32(s))).collect();
            let aad = text_aad(
                &hex::decode(record["dr_hash"].as_str().unwrap()).unwrap(),
                &hex::decode(record["patient_hash"].as_str().unwrap()).unwrap(),
                record["nonce"].as_u64().unwrap(),
            );
            let sealed = seal_with(c["plaintext"].as_str().unwrap(), &aad, &recipients, &bytes32(&c["content_key"]), &scalars);
            assert_eq!(sealed.as_deref(), record["prescription"].as_str(), "{}", case["name"]);
            compared += 1;
        }
        assert!(compared >= 4);
    }

    #[test]
    fn envelope_rules() {
        assert!(Envelope::parse("sealed1:").is_none());
        assert!(Envelope::parse("sealed1:AQ").is_none());
        assert!(prescription_is_valid(&"x".repeat(200), &[0; 20]));
        assert!(!prescription_is_valid(&"x".repeat(201), &[0; 20]));
    }
}

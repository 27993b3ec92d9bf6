//! Signed medical records (the original design's `EMR`): signing,
//! verification in the order of SPEC section 2, the txid and signature hash,
//! and the canonical encoding.

use core::fmt;

use crate::address::{Address, Role};
use crate::codec::{put_length_prefixed, DecodeError, Reader};
use crate::error::ErrorKind;
use crate::hash::{sha1, sha256, Hash160, Hash256};
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::keys::{InvalidPublicKey, KeyError, PublicKey, SigningKey};
use crate::parallel::{first_failure, Parallelism};
use crate::seal::{self, Recipient, SealError, SealOptions, MAX_RECIPIENTS};

/// The longest prescription, in UTF-8 bytes.
pub const MAX_PRESCRIPTION_BYTES: usize = 200;

/// Why a record does not verify, one variant per kind, in check order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RecordError {
    /// `dr_hash` or `patient_hash` is not 20 bytes.
    #[error("hash_length: dr_hash and patient_hash must be 20 bytes")]
    HashLength,
    /// `H160(dr_public_key) != dr_hash`.
    #[error("public_key_mismatch: dr_hash is not the SHA-1 of dr_public_key")]
    PublicKeyMismatch,
    /// Not text; or more than 200 UTF-8 bytes; or a `sealed1:` text that is
    /// malformed or does not have the patient among its recipients (SPEC 8.2).
    #[error("invalid_prescription: prescription must be text of at most 200 UTF-8 bytes, or a well-formed sealed text with the patient among its recipients")]
    InvalidPrescription,
    /// `nonce != previous nonce + 1`.
    #[error("invalid_nonce: nonce must be the doctor's previous nonce + 1")]
    InvalidNonce,
    /// The txid is not 32 bytes or not the hash of the fields.
    #[error("invalid_txid: txid does not match the record")]
    InvalidTxid,
    /// Not a DER SPKI of an EC point on secp256k1 or P-256.
    #[error("invalid_public_key: dr_public_key is not an EC key on a supported curve")]
    InvalidPublicKey,
    /// Not strict DER, or the ECDSA check fails.
    #[error("invalid_signature: signature does not verify")]
    InvalidSignature,
    /// In a chain with authorities, the doctor holds no active grant at the
    /// block's timestamp (SPEC 8.1). Not one of the record's own checks: a
    /// chain reports it after them.
    #[error("unauthorized_doctor: the doctor holds no active grant at the block's time")]
    UnauthorizedDoctor,
}

impl RecordError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            RecordError::HashLength => ErrorKind::HashLength,
            RecordError::PublicKeyMismatch => ErrorKind::PublicKeyMismatch,
            RecordError::InvalidPrescription => ErrorKind::InvalidPrescription,
            RecordError::InvalidNonce => ErrorKind::InvalidNonce,
            RecordError::InvalidTxid => ErrorKind::InvalidTxid,
            RecordError::InvalidPublicKey => ErrorKind::InvalidPublicKey,
            RecordError::InvalidSignature => ErrorKind::InvalidSignature,
            RecordError::UnauthorizedDoctor => ErrorKind::UnauthorizedDoctor,
        }
    }
}

/// Why a record could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The inputs would make a record that can never verify.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The key could not sign.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl SignError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            SignError::Record(e) => e.kind(),
            SignError::Key(e) => e.kind(),
        }
    }
}

/// `patient_hash ‖ UTF8(prescription) ‖ LE64(nonce)`: what the doctor signs.
fn signature_preimage(patient_hash: &[u8], prescription: &[u8], nonce: u64) -> Vec<u8> {
    let mut preimage = Vec::with_capacity(patient_hash.len() + prescription.len() + 8);
    preimage.extend_from_slice(patient_hash);
    preimage.extend_from_slice(prescription);
    preimage.extend_from_slice(&nonce.to_le_bytes());
    preimage
}

/// `SHA-256(patient_hash ‖ UTF8(prescription) ‖ LE64(nonce))`, over the
/// bytes as given (no length checks, like the original helper).
pub fn calculate_signature_hash(patient_hash: &[u8], prescription: &str, nonce: u64) -> Hash256 {
    sha256(&[patient_hash, prescription.as_bytes(), &nonce.to_le_bytes()])
}

/// `SHA-256(dr_hash ‖ patient_hash ‖ dr_public_key ‖ UTF8(prescription) ‖ LE64(nonce) ‖ signature)`,
/// over the bytes as given.
pub fn calculate_txid(
    dr_hash: &[u8],
    patient_hash: &[u8],
    dr_public_key: &[u8],
    prescription: &str,
    nonce: u64,
    signature: &[u8],
) -> Hash256 {
    sha256(&[
        dr_hash,
        patient_hash,
        dr_public_key,
        prescription.as_bytes(),
        &nonce.to_le_bytes(),
        signature,
    ])
}

/// A record's fields exactly as a caller holds them, unchecked.
///
/// Verification is defined over this view so that every surface (a Python
/// object whose attributes were reassigned, a C caller's buffers) runs the
/// one rule set in the one order.
#[derive(Clone, Copy, Debug)]
pub struct RecordFields<'a> {
    /// Should be 20 bytes: `H160(dr_public_key)`.
    pub dr_hash: &'a [u8],
    /// Should be 20 bytes.
    pub patient_hash: &'a [u8],
    /// Should be a DER SubjectPublicKeyInfo.
    pub dr_public_key: &'a [u8],
    /// `None` when the caller's value is not text at all.
    pub prescription: Option<&'a str>,
    /// The doctor's record counter.
    pub nonce: u64,
    /// Should be a strict-DER ECDSA signature.
    pub signature: &'a [u8],
    /// Should be 32 bytes.
    pub txid: &'a [u8],
}

impl<'a> RecordFields<'a> {
    /// Runs the checks of SPEC section 2 in order and returns the first failure.
    pub fn verify(&self, previous_nonce: u64) -> Result<(), RecordError> {
        self.verify_with(previous_nonce, None)
    }

    /// [`Self::verify`], with the doctor's key taken from `doctor` when a
    /// batch already has it (it must be `DoctorKey::new(self.dr_public_key)`).
    pub(crate) fn verify_with(&self, previous_nonce: u64, doctor: Option<&DoctorKey>) -> Result<(), RecordError> {
        if self.dr_hash.len() != Hash160::LEN || self.patient_hash.len() != Hash160::LEN {
            return Err(RecordError::HashLength);
        }
        let key_hash = match doctor {
            Some(doctor) => doctor.hash,
            None => sha1(&[self.dr_public_key]),
        };
        if key_hash.as_bytes() != self.dr_hash {
            return Err(RecordError::PublicKeyMismatch);
        }
        let prescription = match self.prescription {
            Some(text) if seal::prescription_is_valid(text, self.patient_hash) => text,
            _ => return Err(RecordError::InvalidPrescription),
        };
        if previous_nonce.checked_add(1) != Some(self.nonce) {
            return Err(RecordError::InvalidNonce);
        }
        let txid = calculate_txid(
            self.dr_hash,
            self.patient_hash,
            self.dr_public_key,
            prescription,
            self.nonce,
            self.signature,
        );
        if txid.as_bytes()[..] != *self.txid {
            return Err(RecordError::InvalidTxid);
        }
        let parsed;
        let key = match doctor {
            Some(doctor) => doctor.key.as_ref(),
            None => {
                parsed = PublicKey::from_spki_der(self.dr_public_key);
                parsed.as_ref()
            }
        }
        .map_err(|_| RecordError::InvalidPublicKey)?;
        key.verify_signature(self.patient_hash, prescription.as_bytes(), self.nonce, self.signature)
            .map_err(|_| RecordError::InvalidSignature)
    }

    /// Whether the prescription is sealed (starts with `sealed1:`); says
    /// nothing of whether it is well-formed.
    pub fn is_sealed(&self) -> bool {
        self.prescription.is_some_and(|t| t.starts_with(seal::SEALED_PREFIX))
    }

    /// Opens the sealed prescription with a recipient's private key
    /// (SPEC 8.2), over the fields as given: the text is bound to
    /// `dr_hash`, `patient_hash` and `nonce`, so changing any of them makes
    /// it `decrypt_failed`. Opening does not verify the record's signature.
    ///
    /// # Errors
    /// [`SealError::NotSealed`] for a plain prescription;
    /// [`SealError::Malformed`] for a sealed text that fails
    /// `invalid_prescription`; [`SealError::NotRecipient`] when the key is
    /// not a recipient; [`SealError::DecryptFailed`] when it is but the key
    /// or text does not decrypt, or the text is not UTF-8.
    pub fn open(&self, key: &SigningKey) -> Result<String, SealError> {
        seal::open(self.prescription, self.dr_hash, self.patient_hash, self.nonce, key)
    }

    /// The key hashes (`H160` of each recipient's SPKI) a sealed prescription
    /// is readable by, in envelope order. Public to anyone: who may read is
    /// not secret, only what.
    ///
    /// # Errors
    /// [`SealError::NotSealed`] or [`SealError::Malformed`].
    pub fn sealed_recipients(&self) -> Result<Vec<Hash160>, SealError> {
        seal::recipients(self.prescription)
    }
}

/// What a record's checks need from its doctor's key bytes: their SHA-1
/// and the parsed, validated key.
pub(crate) struct DoctorKey {
    hash: Hash160,
    key: Result<PublicKey, InvalidPublicKey>,
}

impl DoctorKey {
    fn new(spki: &[u8]) -> DoctorKey {
        DoctorKey {
            hash: sha1(&[spki]),
            key: PublicKey::from_spki_der(spki),
        }
    }
}

/// Doctors' keys of a batch of records, each distinct key (by its exact
/// SPKI bytes) hashed and parsed once, by the first record that needs it,
/// on whichever thread checks that record: most records of a block come
/// from a few doctors, and parsing (point validation) and SHA-1 are the
/// part of a record's check that does not depend on the record.
pub(crate) struct KeyCache<'a> {
    /// For each record, its slot.
    slot_of: Vec<usize>,
    /// The distinct keys, in order of first appearance.
    slots: Vec<(&'a [u8], OnceLock<DoctorKey>)>,
}

impl<'a> KeyCache<'a> {
    /// Slots for the keys of `records`, none parsed yet.
    pub(crate) fn new(records: &[RecordFields<'a>]) -> KeyCache<'a> {
        let mut index: HashMap<&'a [u8], usize> = HashMap::new();
        let mut slots = Vec::new();
        let slot_of = records
            .iter()
            .map(|r| {
                *index.entry(r.dr_public_key).or_insert_with(|| {
                    slots.push((r.dr_public_key, OnceLock::new()));
                    slots.len() - 1
                })
            })
            .collect();
        KeyCache { slot_of, slots }
    }

    /// Record `i`'s doctor key, parsed on first use.
    pub(crate) fn get(&self, i: usize) -> &DoctorKey {
        let (spki, slot) = &self.slots[self.slot_of[i]];
        slot.get_or_init(|| DoctorKey::new(spki))
    }

    /// Checks every record of `records` (the ones the cache was made for)
    /// against `previous_nonce(i)` on up to `parallelism` threads; the
    /// lowest failing index and its error.
    pub(crate) fn first_failure(
        &self,
        records: &[RecordFields<'_>],
        parallelism: Parallelism,
        previous_nonce: impl Fn(usize) -> u64 + Sync,
    ) -> Option<(usize, RecordError)> {
        debug_assert_eq!(records.len(), self.slot_of.len());
        first_failure(records.len(), parallelism, |i| {
            records[i].verify_with(previous_nonce(i), Some(self.get(i)))
        })
    }
}

/// A record with its fixed-size fields typed. Fields are public and may be
/// changed; [`Record::verify`] always checks the record as it now stands.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// `H160(dr_public_key)`.
    pub dr_hash: Hash160,
    /// The patient's public key hash (opaque to the library).
    pub patient_hash: Hash160,
    /// DER SubjectPublicKeyInfo of the doctor's EC public key.
    pub dr_public_key: Vec<u8>,
    /// The prescription text.
    pub prescription: String,
    /// The doctor's record counter: previous + 1.
    pub nonce: u64,
    /// DER ECDSA signature over the signature hash.
    pub signature: Vec<u8>,
    /// Hash of all the fields above.
    pub txid: Hash256,
}

const RECORD_TAG: u8 = b'R';
const RECORD_VERSION: u8 = 1;
/// The encoding's size with empty variable-length fields.
pub(crate) const MIN_ENCODED_RECORD_LEN: usize = 2 + 20 + 20 + 8 + 8 + 8 + 8 + 32;

impl Record {
    /// Signs a new record: fills every field from these four inputs.
    ///
    /// Refuses inputs that could never verify: a `patient_hash` that is not
    /// 20 bytes (`hash_length`), a prescription that fails check 3
    /// (`invalid_prescription`: over 200 bytes, or a `sealed1:` text that is
    /// malformed or not sealed to the patient) and nonce 0 (`invalid_nonce`:
    /// a doctor's first record has nonce 1). To seal a prescription, use
    /// [`Record::sign_sealed`].
    ///
    /// # Example
    /// ```
    /// use emr_core::{Curve, Hash160, Record, RecordError, SigningKey};
    ///
    /// let doctor = SigningKey::generate(Curve::P256)?;
    /// let patient = Hash160::from_bytes([7; 20]);
    /// let record = Record::sign(&doctor, patient.as_bytes(), "Amoxicillin 500mg, 3x daily", 1)?;
    /// record.verify(0)?; // the doctor's previous nonce: 0 before the first record
    /// assert_eq!(record.verify(1), Err(RecordError::InvalidNonce)); // a replay
    ///
    /// let mut forged = record.clone();
    /// forged.prescription = "Amoxicillin 5000mg, 3x daily".into();
    /// assert_eq!(forged.verify(0), Err(RecordError::InvalidTxid));
    ///
    /// // The canonical encoding (docs/FORMAT.md) gives the same record back.
    /// assert_eq!(Record::from_bytes(&record.to_bytes())?, record);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign(
        key: &SigningKey,
        patient_hash: &[u8],
        prescription: &str,
        nonce: u64,
    ) -> Result<Record, SignError> {
        let patient_hash = Hash160::from_slice(patient_hash).ok_or(RecordError::HashLength)?;
        if !seal::prescription_is_valid(prescription, patient_hash.as_bytes()) {
            return Err(RecordError::InvalidPrescription.into());
        }
        if nonce == 0 {
            return Err(RecordError::InvalidNonce.into());
        }
        let preimage = signature_preimage(patient_hash.as_bytes(), prescription.as_bytes(), nonce);
        let signature = key.sign_prehashed(&preimage, &sha256(&[&preimage]))?;
        let dr_hash = key.public_key_hash();
        let dr_public_key = key.public_key_der().to_vec();
        let txid = calculate_txid(
            dr_hash.as_bytes(),
            patient_hash.as_bytes(),
            &dr_public_key,
            prescription,
            nonce,
            &signature,
        );
        Ok(Record {
            dr_hash,
            patient_hash,
            dr_public_key,
            prescription: prescription.to_owned(),
            nonce,
            signature,
            txid,
        })
    }

    /// Seals `prescription` to `recipients` (SPEC 8.2) and signs the record
    /// whose text is the sealed one: only the recipients can read it, and it
    /// verifies everywhere as any record.
    ///
    /// `recipients` are the readers' public keys; the patient's must be among
    /// them (its key hash, `H160` of its SPKI, is `patient_hash`). With
    /// [`SealOptions::include_self`] (the default) the signing doctor's own
    /// key is added, last, unless already listed. A key listed twice is
    /// sealed to once. A fresh content key and a fresh ephemeral key per
    /// recipient are drawn for every call.
    ///
    /// # Errors
    /// `hash_length` for a `patient_hash` not of 20 bytes;
    /// `invalid_prescription` for a plaintext over 200 bytes, for no or more
    /// than 4 recipients (after adding the doctor), or when the patient is
    /// not among them (every case a record that could never verify);
    /// `invalid_nonce` for nonce 0; `invalid_key` if the random source fails.
    pub fn sign_sealed(
        key: &SigningKey,
        patient_hash: &[u8],
        prescription: &str,
        nonce: u64,
        recipients: &[PublicKey],
        options: SealOptions,
    ) -> Result<Record, SignError> {
        let patient = Hash160::from_slice(patient_hash).ok_or(RecordError::HashLength)?;
        if prescription.len() > MAX_PRESCRIPTION_BYTES {
            return Err(RecordError::InvalidPrescription.into());
        }
        if nonce == 0 {
            return Err(RecordError::InvalidNonce.into());
        }
        let mut readers: Vec<Recipient> = Vec::with_capacity(recipients.len() + 1);
        let own = options.include_self.then(|| key.public_key());
        for public_key in recipients.iter().chain(own) {
            let reader = Recipient::new(public_key);
            if readers.iter().all(|r| r.key_hash() != reader.key_hash()) {
                readers.push(reader);
            }
        }
        if !(1..=MAX_RECIPIENTS).contains(&readers.len()) || readers.iter().all(|r| r.key_hash() != patient) {
            return Err(RecordError::InvalidPrescription.into());
        }
        let sealed = seal::seal(prescription, &key.public_key_hash(), &patient, nonce, &readers)?;
        Record::sign(key, patient.as_bytes(), &sealed, nonce)
    }

    /// Builds a record from loose fields, checking only what the typed
    /// fields cannot hold: hash lengths (`hash_length`), text
    /// (`invalid_prescription`) and the txid's length (`invalid_txid`).
    pub fn from_fields(fields: &RecordFields<'_>) -> Result<Record, RecordError> {
        let dr_hash = Hash160::from_slice(fields.dr_hash).ok_or(RecordError::HashLength)?;
        let patient_hash =
            Hash160::from_slice(fields.patient_hash).ok_or(RecordError::HashLength)?;
        let prescription = fields
            .prescription
            .ok_or(RecordError::InvalidPrescription)?;
        let txid = Hash256::from_slice(fields.txid).ok_or(RecordError::InvalidTxid)?;
        Ok(Record {
            dr_hash,
            patient_hash,
            dr_public_key: fields.dr_public_key.to_vec(),
            prescription: prescription.to_owned(),
            nonce: fields.nonce,
            signature: fields.signature.to_vec(),
            txid,
        })
    }

    /// The record as the unchecked view verification runs on.
    pub fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            dr_hash: self.dr_hash.as_bytes(),
            patient_hash: self.patient_hash.as_bytes(),
            dr_public_key: &self.dr_public_key,
            prescription: Some(&self.prescription),
            nonce: self.nonce,
            signature: &self.signature,
            txid: self.txid.as_bytes(),
        }
    }

    /// Verifies the record against the doctor's previous nonce (SPEC section 2).
    pub fn verify(&self, previous_nonce: u64) -> Result<(), RecordError> {
        self.fields().verify(previous_nonce)
    }

    /// See [`RecordFields::is_sealed`].
    pub fn is_sealed(&self) -> bool {
        self.fields().is_sealed()
    }

    /// See [`RecordFields::open`].
    pub fn open(&self, key: &SigningKey) -> Result<String, SealError> {
        self.fields().open(key)
    }

    /// See [`RecordFields::sealed_recipients`].
    pub fn sealed_recipients(&self) -> Result<Vec<Hash160>, SealError> {
        self.fields().sealed_recipients()
    }

    /// The txid the fields call for (which `verify` compares with `txid`).
    pub fn calculate_txid(&self) -> Hash256 {
        calculate_txid(
            self.dr_hash.as_bytes(),
            self.patient_hash.as_bytes(),
            &self.dr_public_key,
            &self.prescription,
            self.nonce,
            &self.signature,
        )
    }

    /// The digest the doctor signs.
    pub fn signature_hash(&self) -> Hash256 {
        calculate_signature_hash(self.patient_hash.as_bytes(), &self.prescription, self.nonce)
    }

    /// The canonical encoding (`docs/FORMAT.md`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            MIN_ENCODED_RECORD_LEN
                + self.dr_public_key.len()
                + self.prescription.len()
                + self.signature.len(),
        );
        self.encode_into(&mut out);
        out
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[RECORD_TAG, RECORD_VERSION]);
        out.extend_from_slice(self.dr_hash.as_bytes());
        out.extend_from_slice(self.patient_hash.as_bytes());
        put_length_prefixed(out, &self.dr_public_key);
        put_length_prefixed(out, self.prescription.as_bytes());
        out.extend_from_slice(&self.nonce.to_le_bytes());
        put_length_prefixed(out, &self.signature);
        out.extend_from_slice(self.txid.as_bytes());
    }

    /// Decodes the canonical encoding; rejects truncation and trailing bytes.
    /// Decoding does not verify: call [`Record::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut reader = Reader::new(bytes);
        let record = Record::decode_from(&mut reader)?;
        reader.finish()?;
        Ok(record)
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<Record, DecodeError> {
        reader.header(RECORD_TAG, RECORD_VERSION)?;
        let dr_hash = Hash160::from_bytes(reader.array()?);
        let patient_hash = Hash160::from_bytes(reader.array()?);
        let dr_public_key = reader.length_prefixed()?.to_vec();
        let prescription = core::str::from_utf8(reader.length_prefixed()?)
            .map_err(|_| DecodeError::InvalidUtf8)?;
        let nonce = reader.u64()?;
        let signature = reader.length_prefixed()?.to_vec();
        let txid = Hash256::from_bytes(reader.array()?);
        Ok(Record {
            dr_hash,
            patient_hash,
            dr_public_key,
            prescription: prescription.to_owned(),
            nonce,
            signature,
            txid,
        })
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("dr_hash", &Address::new(Role::Doctor, self.dr_hash))
            .field("patient_hash", &Address::new(Role::Patient, self.patient_hash))
            .field("prescription", &self.prescription)
            .field("nonce", &self.nonce)
            .field("txid", &self.txid)
            .finish_non_exhaustive()
    }
}

/// Why a batch of records failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// `records` and `previous_nonces` differ in length.
    #[error("invalid_argument: {records} records but {previous_nonces} previous nonces")]
    LengthMismatch {
        /// Number of records.
        records: usize,
        /// Number of previous nonces.
        previous_nonces: usize,
    },
    /// The first record, in input order, that failed.
    #[error("record {index}: {error}")]
    Record {
        /// Its position in the batch.
        index: usize,
        /// Its error.
        error: RecordError,
    },
}

impl BatchError {
    /// The error's kind (the record's own kind for a failed record).
    pub const fn kind(&self) -> ErrorKind {
        match self {
            BatchError::LengthMismatch { .. } => ErrorKind::InvalidArgument,
            BatchError::Record { error, .. } => error.kind(),
        }
    }
}

/// Verifies `records[i]` against `previous_nonces[i]` for every `i`, spread
/// over threads, and reports the lowest failing index, as a loop would.
pub fn verify_records(
    records: &[RecordFields<'_>],
    previous_nonces: &[u64],
    parallelism: Parallelism,
) -> Result<(), BatchError> {
    if records.len() != previous_nonces.len() {
        return Err(BatchError::LengthMismatch {
            records: records.len(),
            previous_nonces: previous_nonces.len(),
        });
    }
    match KeyCache::new(records).first_failure(records, parallelism, |i| previous_nonces[i]) {
        None => Ok(()),
        Some((index, error)) => Err(BatchError::Record { index, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Curve;

    #[test]
    fn signed_records_verify_and_round_trip() {
        for curve in [Curve::Secp256k1, Curve::P256] {
            let key = SigningKey::generate(curve).unwrap();
            let record = Record::sign(&key, &[7; 20], "Amoxicillin 500mg", 1).unwrap();
            assert_eq!(record.verify(0), Ok(()));
            assert_eq!(record.verify(1), Err(RecordError::InvalidNonce));
            assert_eq!(Record::from_bytes(&record.to_bytes()), Ok(record.clone()));
            assert_eq!(Record::from_fields(&record.fields()), Ok(record));
        }
    }

    #[test]
    fn signing_refuses_records_that_cannot_verify() {
        let key = SigningKey::generate(Curve::Secp256k1).unwrap();
        assert_eq!(
            Record::sign(&key, &[0; 19], "x", 1).unwrap_err().kind(),
            ErrorKind::HashLength
        );
        assert_eq!(
            Record::sign(&key, &[0; 20], &"x".repeat(201), 1)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidPrescription
        );
        assert_eq!(
            Record::sign(&key, &[0; 20], "x", 0).unwrap_err().kind(),
            ErrorKind::InvalidNonce
        );
    }

    #[test]
    fn non_text_prescription_is_reported_in_order() {
        let key = SigningKey::generate(Curve::P256).unwrap();
        let record = Record::sign(&key, &[7; 20], "x", 1).unwrap();
        let mut fields = record.fields();
        fields.prescription = None;
        assert_eq!(fields.verify(0), Err(RecordError::InvalidPrescription));
        fields.patient_hash = &[1; 21];
        assert_eq!(fields.verify(0), Err(RecordError::HashLength));
    }

    #[test]
    fn batch_reports_lowest_index() {
        let key = SigningKey::generate(Curve::Secp256k1).unwrap();
        let mut records: Vec<Record> = (1..=6)
            .map(|n| Record::sign(&key, &[1; 20], "x", n).unwrap())
            .collect();
        let nonces: Vec<u64> = (0..6).collect();
        let views: Vec<_> = records.iter().map(Record::fields).collect();
        assert_eq!(
            verify_records(&views, &nonces, Parallelism::ALL_CORES),
            Ok(())
        );
        records[4].signature[10] ^= 1;
        records[2].prescription.push('!');
        let views: Vec<_> = records.iter().map(Record::fields).collect();
        assert_eq!(
            verify_records(&views, &nonces, Parallelism::ALL_CORES),
            Err(BatchError::Record {
                index: 2,
                error: RecordError::InvalidTxid
            })
        );
        assert!(matches!(
            verify_records(&views, &nonces[1..], Parallelism::SINGLE),
            Err(BatchError::LengthMismatch { .. })
        ));
    }

    /// A batch with keys shared by many records (parsed once) reports,
    /// for every record, exactly what checking it alone reports, whatever
    /// the thread count: damage to one record's key bytes, hash or
    /// signature must not leak into the others sharing its doctor.
    #[test]
    fn shared_keys_give_each_record_its_own_verdict() {
        let keys = [
            SigningKey::generate(Curve::Secp256k1).unwrap(),
            SigningKey::generate(Curve::P256).unwrap(),
            SigningKey::generate(Curve::Secp256k1).unwrap(),
        ];
        let records: Vec<Record> = (0..24u64)
            .map(|n| Record::sign(&keys[(n % 3) as usize], &[1; 20], "dose", n / 3 + 1).unwrap())
            .collect();
        let nonces: Vec<u64> = (0..24u64).map(|n| n / 3).collect();
        // A point off the curve whose SHA-1 is the record's dr_hash and whose
        // txid is right: only the key check fails.
        let mut off_curve = records[7].clone();
        let last = off_curve.dr_public_key.len() - 1;
        off_curve.dr_public_key[last] ^= 1;
        off_curve.dr_hash = sha1(&[&off_curve.dr_public_key]);
        off_curve.txid = off_curve.calculate_txid();
        let mut bad_signature = records[10].clone();
        bad_signature.signature[8] ^= 1;
        bad_signature.txid = bad_signature.calculate_txid();
        let mut other_hash = records[13].clone();
        other_hash.dr_hash = Hash160::from_bytes([9; 20]);
        for (index, damaged, error) in [
            (7, off_curve, RecordError::InvalidPublicKey),
            (10, bad_signature, RecordError::InvalidSignature),
            (13, other_hash, RecordError::PublicKeyMismatch),
        ] {
            let mut batch = records.clone();
            batch[index] = damaged;
            assert_eq!(batch[index].verify(nonces[index]), Err(error));
            let views: Vec<_> = batch.iter().map(Record::fields).collect();
            for threads in [1, 2, 4] {
                let p = Parallelism::threads(threads).unwrap();
                assert_eq!(verify_records(&views, &nonces, p), Err(BatchError::Record { index, error }));
                // Every other record still verifies on its own cached key.
                let rest: Vec<_> = views.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, v)| *v).collect();
                let rest_nonces: Vec<u64> =
                    nonces.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, n)| *n).collect();
                assert_eq!(verify_records(&rest, &rest_nonces, p), Ok(()));
                let cache = KeyCache::new(&views);
                for (i, view) in views.iter().enumerate() {
                    assert_eq!(view.verify_with(nonces[i], Some(cache.get(i))), view.verify(nonces[i]), "record {i}");
                }
            }
        }
        let views: Vec<_> = records.iter().map(Record::fields).collect();
        let cache = KeyCache::new(&views);
        assert_eq!(cache.slots.len(), 3, "one slot per distinct key");
    }

    #[test]
    fn decode_rejects_trailing_and_truncated() {
        let key = SigningKey::generate(Curve::Secp256k1).unwrap();
        let bytes = Record::sign(&key, &[7; 20], "x", 1).unwrap().to_bytes();
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Record::from_bytes(&longer),
            Err(DecodeError::TrailingBytes(1))
        );
        for cut in 0..bytes.len() {
            assert!(Record::from_bytes(&bytes[..cut]).is_err());
        }
    }
}

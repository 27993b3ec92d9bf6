//! The entries of SPEC section 10: an authority's [`DispenserGrant`]
//! admitting a pharmacy, a pharmacy's [`Dispense`] of a prescription
//! countersigned by its patient, and a [`Cancellation`] by the prescriber
//! or an authority.
//!
//! As for section 8.1's entries, this module holds what needs no chain:
//! signing, ids, the stateless checks (`invalid_entry`,
//! `invalid_entry_signature`) and the typed values; the chain's checks live
//! in [`crate::chain`].
//!
//! A dispense carries two signatures over one digest. A pharmacy holding
//! both keys (a test, a kiosk) signs in one call ([`Dispense::sign`]).
//! Otherwise the pharmacy makes [`Dispense::unsigned`] and the patient
//! signs on their own device: a card that signs digests is given
//! [`Dispense::digest`]; a phone running this library is given the unsigned
//! dispense's encoding (it decodes, with empty signatures), shows what it
//! says and calls [`Dispense::sign_patient`]. Either way the signature
//! comes back to the pharmacy, whose [`Dispense::attach_patient_signature`]
//! checks and attaches it.

use crate::hash::{sha1, sha256, Hash160, Hash256};
use crate::keys::{PublicKey, SigningKey};
use crate::record::Record;

use super::{
    check_chain_id, grant_preimage, parse_key, put_le16_prefixed, verify_signature, EntryError, EntrySignError,
    BAD_AUTHORITY, BAD_LICENCE, BAD_WINDOW, MAX_LICENCE_BYTES,
};

/// The longest dispense note or cancellation reason, in UTF-8 bytes.
pub const MAX_NOTE_BYTES: usize = 100;

pub(super) const DISPENSER_GRANT_DOMAIN: &[u8] = b"cryptoemr/dispenser-grant/v1";
const DISPENSE_DOMAIN: &[u8] = b"cryptoemr/dispense/v1";
const CANCEL_DOMAIN: &[u8] = b"cryptoemr/cancel/v1";

pub(super) const BAD_PHARMACY_KEY: &str = "pharmacy_public_key is not an EC key on a supported curve";
pub(super) const BAD_PATIENT_KEY: &str = "patient_public_key is not an EC key on a supported curve";
pub(super) const BAD_CANCELLER: &str = "canceller is not an EC key on a supported curve";
pub(super) const BAD_NOTE: &str = "note must be text of at most 100 UTF-8 bytes";
pub(super) const BAD_REASON: &str = "reason must be text of at most 100 UTF-8 bytes";
pub(super) const BAD_DR_HASH: &str = "dr_hash must be 20 bytes";
pub(super) const BAD_RECORD_HASH: &str = "record_hash must be 32 bytes";

/// A prescription as SPEC 10 names it: its record's identity `(dr_hash,
/// nonce)` and its content, `record_hash` (the record's `signature_hash`).
/// The identity alone could name different records on two branches after
/// a partition; the content cannot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrescriptionRef {
    /// The prescriber: `H160` of the doctor's key.
    pub dr_hash: Hash160,
    /// The doctor's record counter of the record.
    pub nonce: u64,
    /// The record's `signature_hash`.
    pub record_hash: Hash256,
}

impl PrescriptionRef {
    /// The prescription `record` is.
    pub fn of(record: &Record) -> PrescriptionRef {
        PrescriptionRef { dr_hash: record.dr_hash, nonce: record.nonce, record_hash: record.signature_hash() }
    }
}

/// `dispense_preimage` or `cancel_preimage` of SPEC 10 up to the keys: the
/// domain and the prescription, over the bytes as given.
fn prescription_preimage(domain: &[u8], chain_id: &[u8], dr_hash: &[u8], nonce: u64, record_hash: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + chain_id.len() + dr_hash.len() + record_hash.len() + 8 + 2 * 93 + 102);
    out.extend_from_slice(domain);
    out.extend_from_slice(chain_id);
    out.extend_from_slice(dr_hash);
    out.extend_from_slice(&nonce.to_le_bytes());
    out.extend_from_slice(record_hash);
    out
}

/// A note or reason: text of at most [`MAX_NOTE_BYTES`], else `invalid_entry` for `reason`.
fn check_text(text: Option<&str>, reason: &'static str) -> Result<(), EntryError> {
    match text {
        Some(text) if text.len() <= MAX_NOTE_BYTES => Ok(()),
        _ => Err(EntryError::InvalidEntry(reason)),
    }
}

fn check_prescription(dr_hash: &[u8], record_hash: &[u8]) -> Result<(), EntryError> {
    if dr_hash.len() != Hash160::LEN {
        return Err(EntryError::InvalidEntry(BAD_DR_HASH));
    }
    if record_hash.len() != Hash256::LEN {
        return Err(EntryError::InvalidEntry(BAD_RECORD_HASH));
    }
    Ok(())
}

/// A dispenser grant's fields exactly as a caller holds them, unchecked.
#[derive(Clone, Copy, Debug)]
pub struct DispenserGrantFields<'a> {
    /// Should be the 32-byte id of the chain the grant is made for.
    pub chain_id: &'a [u8],
    /// Should be the pharmacy's uncompressed SPKI DER.
    pub pharmacy_public_key: &'a [u8],
    /// `None` when the caller's value is not text at all.
    pub licence: Option<&'a str>,
    /// First second the grant authorizes.
    pub not_before: u64,
    /// Last second the grant authorizes.
    pub not_after: u64,
    /// Should be the granting authority's uncompressed SPKI DER.
    pub authority: &'a [u8],
    /// Should be a strict-DER, low-S ECDSA signature by `authority`.
    pub signature: &'a [u8],
}

impl DispenserGrantFields<'_> {
    pub(super) fn preimage(&self) -> Vec<u8> {
        let licence = self.licence.unwrap_or_default().as_bytes();
        grant_preimage(
            DISPENSER_GRANT_DOMAIN,
            self.chain_id,
            self.pharmacy_public_key,
            licence,
            self.not_before,
            self.not_after,
            self.authority,
        )
    }

    pub(super) fn verify(&self) -> Result<(), EntryError> {
        check_chain_id(self.chain_id)?;
        parse_key(self.pharmacy_public_key, BAD_PHARMACY_KEY)?;
        match self.licence {
            Some(text) if text.len() <= MAX_LICENCE_BYTES => {}
            _ => return Err(EntryError::InvalidEntry(BAD_LICENCE)),
        }
        if self.not_before > self.not_after {
            return Err(EntryError::InvalidEntry(BAD_WINDOW));
        }
        let authority = parse_key(self.authority, BAD_AUTHORITY)?;
        verify_signature(&authority, &self.preimage(), self.signature)
    }
}

/// A dispense's fields exactly as a caller holds them, unchecked.
#[derive(Clone, Copy, Debug)]
pub struct DispenseFields<'a> {
    /// Should be the 32-byte id of the chain the dispense is made for.
    pub chain_id: &'a [u8],
    /// Should be 20 bytes: the prescriber's `dr_hash`.
    pub dr_hash: &'a [u8],
    /// The prescription's record nonce.
    pub nonce: u64,
    /// Should be 32 bytes: the prescription's `signature_hash`.
    pub record_hash: &'a [u8],
    /// Should be the pharmacy's uncompressed SPKI DER.
    pub pharmacy_public_key: &'a [u8],
    /// Should be the patient's uncompressed SPKI DER.
    pub patient_public_key: &'a [u8],
    /// `None` when the caller's value is not text at all.
    pub note: Option<&'a str>,
    /// Should be a strict-DER, low-S ECDSA signature by the pharmacy.
    pub signature: &'a [u8],
    /// Should be a strict-DER, low-S ECDSA signature by the patient.
    pub patient_signature: &'a [u8],
}

impl DispenseFields<'_> {
    pub(super) fn preimage(&self) -> Vec<u8> {
        let mut out = prescription_preimage(DISPENSE_DOMAIN, self.chain_id, self.dr_hash, self.nonce, self.record_hash);
        put_le16_prefixed(&mut out, self.pharmacy_public_key);
        put_le16_prefixed(&mut out, self.patient_public_key);
        put_le16_prefixed(&mut out, self.note.unwrap_or_default().as_bytes());
        out
    }

    /// Checks 1 (every field's shape) without the signatures.
    fn check_shape(&self) -> Result<(PublicKey, PublicKey), EntryError> {
        check_chain_id(self.chain_id)?;
        check_prescription(self.dr_hash, self.record_hash)?;
        let pharmacy = parse_key(self.pharmacy_public_key, BAD_PHARMACY_KEY)?;
        let patient = parse_key(self.patient_public_key, BAD_PATIENT_KEY)?;
        check_text(self.note, BAD_NOTE)?;
        Ok((pharmacy, patient))
    }

    pub(super) fn verify(&self) -> Result<(), EntryError> {
        let (pharmacy, patient) = self.check_shape()?;
        let preimage = self.preimage();
        verify_signature(&pharmacy, &preimage, self.signature)?;
        verify_signature(&patient, &preimage, self.patient_signature)
    }
}

/// A cancellation's fields exactly as a caller holds them, unchecked.
#[derive(Clone, Copy, Debug)]
pub struct CancellationFields<'a> {
    /// Should be the 32-byte id of the chain the cancellation is made for.
    pub chain_id: &'a [u8],
    /// Should be 20 bytes: the prescriber's `dr_hash`.
    pub dr_hash: &'a [u8],
    /// The prescription's record nonce.
    pub nonce: u64,
    /// Should be 32 bytes: the prescription's `signature_hash`.
    pub record_hash: &'a [u8],
    /// Should be the canceller's uncompressed SPKI DER: the prescriber's or
    /// an authority's.
    pub canceller: &'a [u8],
    /// `None` when the caller's value is not text at all.
    pub reason: Option<&'a str>,
    /// Should be a strict-DER, low-S ECDSA signature by `canceller`.
    pub signature: &'a [u8],
}

impl CancellationFields<'_> {
    pub(super) fn preimage(&self) -> Vec<u8> {
        let mut out = prescription_preimage(CANCEL_DOMAIN, self.chain_id, self.dr_hash, self.nonce, self.record_hash);
        put_le16_prefixed(&mut out, self.canceller);
        put_le16_prefixed(&mut out, self.reason.unwrap_or_default().as_bytes());
        out
    }

    pub(super) fn verify(&self) -> Result<(), EntryError> {
        check_chain_id(self.chain_id)?;
        check_prescription(self.dr_hash, self.record_hash)?;
        let canceller = parse_key(self.canceller, BAD_CANCELLER)?;
        check_text(self.reason, BAD_REASON)?;
        verify_signature(&canceller, &self.preimage(), self.signature)
    }
}

/// An authority's grant admitting a pharmacy to dispense between
/// `not_before` and `not_after` (inclusive). It never authorizes records,
/// and a doctor's [`super::Grant`] never authorizes dispensing. Revoked by
/// an ordinary [`super::Revocation`] naming its id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DispenserGrant {
    /// The chain the grant is made for.
    pub chain_id: Hash256,
    /// The pharmacy's uncompressed SPKI DER.
    pub pharmacy_public_key: Vec<u8>,
    /// Registration number, name, address: at most 100 UTF-8 bytes.
    pub licence: String,
    /// First second the grant authorizes.
    pub not_before: u64,
    /// Last second the grant authorizes.
    pub not_after: u64,
    /// The granting authority's uncompressed SPKI DER.
    pub authority: Vec<u8>,
    /// Strict-DER, low-S ECDSA by `authority` over `SHA-256(preimage)`.
    pub signature: Vec<u8>,
}

impl DispenserGrant {
    /// Signs a dispenser grant, for the chain `chain_id`, admitting the
    /// pharmacy whose key is `pharmacy_public_key` (SPKI DER) from
    /// `not_before` to `not_after`, both inclusive (`0` and `u64::MAX` for
    /// "always").
    ///
    /// Refuses, as `invalid_entry`, a grant that could never verify: a
    /// pharmacy key that is not an uncompressed SPKI on a supported curve, a
    /// licence over 100 bytes, `not_before > not_after`. The signature is low-S.
    pub fn sign(
        authority: &SigningKey,
        chain_id: Hash256,
        pharmacy_public_key: &[u8],
        licence: &str,
        not_before: u64,
        not_after: u64,
    ) -> Result<DispenserGrant, EntrySignError> {
        let mut grant = DispenserGrant {
            chain_id,
            pharmacy_public_key: pharmacy_public_key.to_vec(),
            licence: licence.to_owned(),
            not_before,
            not_after,
            authority: authority.public_key_der().to_vec(),
            signature: Vec::new(),
        };
        parse_key(pharmacy_public_key, BAD_PHARMACY_KEY)?;
        if licence.len() > MAX_LICENCE_BYTES {
            return Err(EntryError::InvalidEntry(BAD_LICENCE).into());
        }
        if not_before > not_after {
            return Err(EntryError::InvalidEntry(BAD_WINDOW).into());
        }
        let preimage = grant.fields().preimage();
        grant.signature = authority.sign_prehashed(&preimage, &sha256(&[&preimage]))?;
        Ok(grant)
    }

    /// The unchecked view verification runs on.
    pub fn fields(&self) -> DispenserGrantFields<'_> {
        DispenserGrantFields {
            chain_id: self.chain_id.as_bytes(),
            pharmacy_public_key: &self.pharmacy_public_key,
            licence: Some(&self.licence),
            not_before: self.not_before,
            not_after: self.not_after,
            authority: &self.authority,
            signature: &self.signature,
        }
    }

    /// The grant's id, `SHA-256(preimage ‖ signature)`: what a revocation names.
    pub fn grant_id(&self) -> Hash256 {
        super::EntryFields::DispenserGrant(self.fields()).entry_id()
    }

    /// `H160(pharmacy_public_key)`: the pharmacy's identity.
    pub fn pharmacy_hash(&self) -> Hash160 {
        sha1(&[&self.pharmacy_public_key])
    }

    /// Whether `other` has the same content (the same preimage), whatever
    /// the signature.
    pub fn same_content(&self, other: &DispenserGrant) -> bool {
        self.chain_id == other.chain_id
            && self.pharmacy_public_key == other.pharmacy_public_key
            && self.licence == other.licence
            && self.not_before == other.not_before
            && self.not_after == other.not_after
            && self.authority == other.authority
    }

    /// Whether the grant's window covers `t` (revocations aside).
    pub fn covers(&self, t: u64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// The stateless checks: `invalid_entry`, then `invalid_entry_signature`.
    pub fn verify(&self) -> Result<(), EntryError> {
        self.fields().verify()
    }
}

/// A pharmacy's record that it handed over a prescription, countersigned by
/// the patient at the counter. Both sign the same digest,
/// [`Dispense::digest`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Dispense {
    /// The chain the dispense is made for.
    pub chain_id: Hash256,
    /// The prescriber.
    pub dr_hash: Hash160,
    /// The prescription's record nonce.
    pub nonce: u64,
    /// The prescription's `signature_hash`.
    pub record_hash: Hash256,
    /// The pharmacy's uncompressed SPKI DER.
    pub pharmacy_public_key: Vec<u8>,
    /// The patient's uncompressed SPKI DER; `H160` of it must be the
    /// record's `patient_hash`.
    pub patient_public_key: Vec<u8>,
    /// Quantity, batch: at most 100 UTF-8 bytes, public (empty for a sealed
    /// prescription).
    pub note: String,
    /// The pharmacy's strict-DER, low-S signature of the digest (empty
    /// until signed).
    pub signature: Vec<u8>,
    /// The patient's strict-DER, low-S signature of the digest (empty
    /// until signed).
    pub patient_signature: Vec<u8>,
}

impl Dispense {
    /// A dispense of `record` by the pharmacy whose key is
    /// `pharmacy_public_key`, for the patient whose key is
    /// `patient_public_key`, with no signature yet: the first step for a
    /// patient who signs on their own device. Show them [`Dispense::digest`],
    /// then attach both signatures ([`Dispense::sign_pharmacy`] or
    /// [`Dispense::attach_signature`], and
    /// [`Dispense::attach_patient_signature`]).
    ///
    /// Refuses what could never be carried: a key that is not an
    /// uncompressed SPKI on a supported curve or a note over 100 bytes
    /// (`invalid_entry`); a patient key that is not the record's patient's
    /// (`wrong_patient`); a note on a sealed prescription
    /// (`public_text_on_sealed`).
    pub fn unsigned(
        chain_id: Hash256,
        record: &Record,
        pharmacy_public_key: &[u8],
        patient_public_key: &[u8],
        note: &str,
    ) -> Result<Dispense, EntryError> {
        let prescription = PrescriptionRef::of(record);
        let dispense = Dispense {
            chain_id,
            dr_hash: prescription.dr_hash,
            nonce: prescription.nonce,
            record_hash: prescription.record_hash,
            pharmacy_public_key: pharmacy_public_key.to_vec(),
            patient_public_key: patient_public_key.to_vec(),
            note: note.to_owned(),
            signature: Vec::new(),
            patient_signature: Vec::new(),
        };
        dispense.fields().check_shape()?;
        if dispense.patient_hash() != record.patient_hash {
            return Err(EntryError::WrongPatient);
        }
        if record.is_sealed() && !note.is_empty() {
            return Err(EntryError::PublicTextOnSealed);
        }
        Ok(dispense)
    }

    /// Both steps at once, for a caller holding both keys: the pharmacy's
    /// and the patient's signatures of a dispense of `record` (see
    /// [`Dispense::unsigned`] for what is refused). Both signatures are low-S.
    pub fn sign(
        pharmacy: &SigningKey,
        patient: &SigningKey,
        chain_id: Hash256,
        record: &Record,
        note: &str,
    ) -> Result<Dispense, EntrySignError> {
        let mut dispense =
            Dispense::unsigned(chain_id, record, pharmacy.public_key_der(), patient.public_key_der(), note)?;
        dispense.sign_pharmacy(pharmacy)?;
        dispense.sign_patient(patient)?;
        Ok(dispense)
    }

    /// The preimage both parties sign the SHA-256 of (SPEC 10).
    pub fn preimage(&self) -> Vec<u8> {
        self.fields().preimage()
    }

    /// `SHA-256(preimage)`: the 32 bytes the pharmacy's and the patient's
    /// keys sign, as an already-hashed message (ECDSA over the digest;
    /// equivalently ECDSA-with-SHA-256 over [`Dispense::preimage`]).
    pub fn digest(&self) -> Hash256 {
        sha256(&[&self.preimage()])
    }

    /// Signs as the pharmacy; `invalid_entry_signature` when `key` is not
    /// the one `pharmacy_public_key` names (its signature could not verify).
    pub fn sign_pharmacy(&mut self, key: &SigningKey) -> Result<(), EntrySignError> {
        self.signature = self.sign_as(key, &self.pharmacy_public_key)?;
        Ok(())
    }

    /// Signs as the patient; `invalid_entry_signature` when `key` is not
    /// the one `patient_public_key` names.
    pub fn sign_patient(&mut self, key: &SigningKey) -> Result<(), EntrySignError> {
        self.patient_signature = self.sign_as(key, &self.patient_public_key)?;
        Ok(())
    }

    fn sign_as(&self, key: &SigningKey, expected: &[u8]) -> Result<Vec<u8>, EntrySignError> {
        if key.public_key_der() != expected {
            return Err(EntryError::InvalidEntrySignature.into());
        }
        let preimage = self.preimage();
        Ok(key.sign_prehashed(&preimage, &sha256(&[&preimage]))?)
    }

    /// Attaches a pharmacy signature made elsewhere (an HSM, say): a
    /// strict-DER ECDSA signature of [`Dispense::digest`] under
    /// `pharmacy_public_key`. A high-S signature is stored in its low-S
    /// form (the same signature for the key; entries carry only that form).
    /// `invalid_entry_signature` when it is not strict DER or does not
    /// verify; `invalid_entry` when the key is malformed. Nothing changes
    /// on error.
    pub fn attach_signature(&mut self, signature: &[u8]) -> Result<(), EntryError> {
        self.signature = self.checked_signature(&self.pharmacy_public_key, BAD_PHARMACY_KEY, signature)?;
        Ok(())
    }

    /// Attaches the patient's signature from their card or phone, as
    /// [`Dispense::attach_signature`] does the pharmacy's.
    pub fn attach_patient_signature(&mut self, signature: &[u8]) -> Result<(), EntryError> {
        self.patient_signature = self.checked_signature(&self.patient_public_key, BAD_PATIENT_KEY, signature)?;
        Ok(())
    }

    fn checked_signature(&self, key: &[u8], bad_key: &'static str, signature: &[u8]) -> Result<Vec<u8>, EntryError> {
        let key = parse_key(key, bad_key)?;
        let low = key.low_s_form(signature).ok_or(EntryError::InvalidEntrySignature)?;
        verify_signature(&key, &self.preimage(), &low)?;
        Ok(low)
    }

    /// The unchecked view verification runs on.
    pub fn fields(&self) -> DispenseFields<'_> {
        DispenseFields {
            chain_id: self.chain_id.as_bytes(),
            dr_hash: self.dr_hash.as_bytes(),
            nonce: self.nonce,
            record_hash: self.record_hash.as_bytes(),
            pharmacy_public_key: &self.pharmacy_public_key,
            patient_public_key: &self.patient_public_key,
            note: Some(&self.note),
            signature: &self.signature,
            patient_signature: &self.patient_signature,
        }
    }

    /// The dispense's id, `SHA-256(preimage ‖ signature ‖ patient_signature)`.
    pub fn dispense_id(&self) -> Hash256 {
        super::EntryFields::Dispense(self.fields()).entry_id()
    }

    /// The prescription it dispenses.
    pub fn prescription(&self) -> PrescriptionRef {
        PrescriptionRef { dr_hash: self.dr_hash, nonce: self.nonce, record_hash: self.record_hash }
    }

    /// `H160(pharmacy_public_key)`: the pharmacy's identity.
    pub fn pharmacy_hash(&self) -> Hash160 {
        sha1(&[&self.pharmacy_public_key])
    }

    /// `H160(patient_public_key)`: what the record's `patient_hash` must be.
    pub fn patient_hash(&self) -> Hash160 {
        sha1(&[&self.patient_public_key])
    }

    /// The stateless checks: `invalid_entry`, then `invalid_entry_signature`
    /// (the pharmacy's signature, then the patient's).
    pub fn verify(&self) -> Result<(), EntryError> {
        self.fields().verify()
    }
}

/// The withdrawal of a prescription not yet dispensed, by its prescriber
/// (while authorized) or by an authority of the chain.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cancellation {
    /// The chain the cancellation is made for.
    pub chain_id: Hash256,
    /// The prescriber.
    pub dr_hash: Hash160,
    /// The prescription's record nonce.
    pub nonce: u64,
    /// The prescription's `signature_hash`.
    pub record_hash: Hash256,
    /// The canceller's uncompressed SPKI DER.
    pub canceller: Vec<u8>,
    /// Why: at most 100 UTF-8 bytes, public (empty for a sealed prescription).
    pub reason: String,
    /// Strict-DER, low-S ECDSA by `canceller` over `SHA-256(preimage)`.
    pub signature: Vec<u8>,
}

impl Cancellation {
    /// Signs, with `key` (the prescriber's or an authority's), the
    /// cancellation of `record` for the chain `chain_id`.
    ///
    /// Refuses a reason over 100 bytes (`invalid_entry`) and a reason on a
    /// sealed prescription (`public_text_on_sealed`). Whether `key` may
    /// cancel is the chain's to say. The signature is low-S.
    pub fn sign(key: &SigningKey, chain_id: Hash256, record: &Record, reason: &str) -> Result<Cancellation, EntrySignError> {
        let prescription = PrescriptionRef::of(record);
        let mut cancellation = Cancellation {
            chain_id,
            dr_hash: prescription.dr_hash,
            nonce: prescription.nonce,
            record_hash: prescription.record_hash,
            canceller: key.public_key_der().to_vec(),
            reason: reason.to_owned(),
            signature: Vec::new(),
        };
        check_text(Some(reason), BAD_REASON)?;
        if record.is_sealed() && !reason.is_empty() {
            return Err(EntryError::PublicTextOnSealed.into());
        }
        let preimage = cancellation.fields().preimage();
        cancellation.signature = key.sign_prehashed(&preimage, &sha256(&[&preimage]))?;
        Ok(cancellation)
    }

    /// The unchecked view verification runs on.
    pub fn fields(&self) -> CancellationFields<'_> {
        CancellationFields {
            chain_id: self.chain_id.as_bytes(),
            dr_hash: self.dr_hash.as_bytes(),
            nonce: self.nonce,
            record_hash: self.record_hash.as_bytes(),
            canceller: &self.canceller,
            reason: Some(&self.reason),
            signature: &self.signature,
        }
    }

    /// The cancellation's id, `SHA-256(preimage ‖ signature)`.
    pub fn cancellation_id(&self) -> Hash256 {
        super::EntryFields::Cancellation(self.fields()).entry_id()
    }

    /// The prescription it cancels.
    pub fn prescription(&self) -> PrescriptionRef {
        PrescriptionRef { dr_hash: self.dr_hash, nonce: self.nonce, record_hash: self.record_hash }
    }

    /// `H160(canceller)`: equal to `dr_hash` when the prescriber cancels.
    pub fn canceller_hash(&self) -> Hash160 {
        sha1(&[&self.canceller])
    }

    /// The stateless checks: `invalid_entry`, then `invalid_entry_signature`.
    pub fn verify(&self) -> Result<(), EntryError> {
        self.fields().verify()
    }
}

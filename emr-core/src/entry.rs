//! Entries carried in blocks: SPEC section 8.1's registry, an authority's
//! [`Grant`] admitting a doctor and its [`Revocation`] withdrawing one (or a
//! dispenser grant); and section 10's pharmacy entries ([`pharmacy`]): a
//! [`DispenserGrant`], a [`Dispense`], a [`Cancellation`].
//!
//! This module holds what needs no chain: signing, the entry ids, the
//! stateless checks 1-2 (`invalid_entry`, `invalid_entry_signature`) and the
//! canonical encoding. Checks 3-6 (the chain's id, authorities and
//! registry, the block's time) live in [`crate::chain`]; their kinds are
//! variants of the same [`EntryError`] so that a block's failing entry has
//! one error type.
//!
//! Every entry names its chain (`chain_id`, SPEC 5, v1.2), and its
//! signature must be low-S: an entry's identity is its id, which covers
//! the signature, so `(r, n - s)` would otherwise make a second entry of
//! the same content (a revoked grant, unrevoked) without any key.

use core::fmt;

use crate::codec::{put_length_prefixed, DecodeError, Reader};
use crate::error::ErrorKind;
use crate::hash::{sha1, sha256, Hash160, Hash256};
use crate::keys::{KeyError, PublicKey, SigningKey};

pub mod pharmacy;

pub use pharmacy::{
    Cancellation, CancellationFields, Dispense, DispenseFields, DispenserGrant, DispenserGrantFields, PrescriptionRef,
    MAX_NOTE_BYTES,
};
use pharmacy::{BAD_CANCELLER, BAD_DR_HASH, BAD_NOTE, BAD_PATIENT_KEY, BAD_PHARMACY_KEY, BAD_REASON, BAD_RECORD_HASH};

/// The longest licence text, in UTF-8 bytes.
pub const MAX_LICENCE_BYTES: usize = 100;

/// The most entries a block may hold.
pub const MAX_ENTRIES: usize = 25;

const GRANT_DOMAIN: &[u8] = b"cryptoemr/grant/v2";

const BAD_DOCTOR_KEY: &str = "dr_public_key is not an EC key on a supported curve";
const BAD_LICENCE: &str = "licence must be text of at most 100 UTF-8 bytes";
const BAD_WINDOW: &str = "not_before is after not_after";
const BAD_AUTHORITY: &str = "authority is not an EC key on a supported curve";
const BAD_GRANT_ID: &str = "grant_id must be 32 bytes";
const BAD_CHAIN_ID: &str = "chain_id must be 32 bytes";

/// Every text [`EntryError::InvalidEntry`] carries, so that a stored
/// failure can be read back as the error it was.
pub(crate) const INVALID_ENTRY_REASONS: [&str; 13] = [
    BAD_DOCTOR_KEY,
    BAD_LICENCE,
    BAD_WINDOW,
    BAD_AUTHORITY,
    BAD_GRANT_ID,
    BAD_CHAIN_ID,
    BAD_PHARMACY_KEY,
    BAD_PATIENT_KEY,
    BAD_CANCELLER,
    BAD_NOTE,
    BAD_REASON,
    BAD_DR_HASH,
    BAD_RECORD_HASH,
];
const REVOKE_DOMAIN: &[u8] = b"cryptoemr/revoke/v2";

/// Why an entry is refused, one variant per kind, in check order.
///
/// The first two need nothing but the entry ([`EntryFields::verify`]); the
/// others are decided by a chain against its id, authorities and registry
/// and the time of the block that carries the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EntryError {
    /// A key that is not a valid SPKI on a supported curve, a licence, note
    /// or reason that is not text or over 100 bytes, `not_before >
    /// not_after`, a `grant_id`, `record_hash` or `chain_id` that is not 32
    /// bytes, a `dr_hash` that is not 20. The text says which.
    #[error("invalid_entry: {0}")]
    InvalidEntry(&'static str),
    /// The signature is not strict DER, is high-S, or does not verify under
    /// `authority`.
    #[error("invalid_entry_signature: signature is not a strict-DER, low-S signature by the entry's authority")]
    InvalidEntrySignature,
    /// `chain_id` is not the id of the chain the entry is offered to (an
    /// entry made for a test chain, say).
    #[error("wrong_chain: the entry was made for another chain")]
    WrongChain,
    /// `authority` is not one of the chain's authorities (every entry of an
    /// open chain fails here).
    #[error("unknown_authority: the entry's authority is not an authority of this chain")]
    UnknownAuthority,
    /// A grant whose content (its preimage, whatever its signature) is
    /// already in the active chain.
    #[error("duplicate_grant: a grant with this content is already in the chain")]
    DuplicateGrant,
    /// A revocation of a grant (a doctor's or a dispenser's) the active
    /// chain does not hold.
    #[error("unknown_grant: no grant with this id in the chain")]
    UnknownGrant,
    /// A revocation of a grant that is already revoked.
    #[error("already_revoked: the grant is already revoked")]
    AlreadyRevoked,
    /// A revocation whose `effective` time is later than the timestamp of
    /// the block carrying it: it may be carried once the chain's time has
    /// reached it.
    #[error("revocation_not_yet_effective: the revocation takes effect after this block's time")]
    RevocationNotYetEffective,
    /// A dispense whose pharmacy holds no dispenser grant active at the
    /// block's timestamp (every dispense of an open chain).
    #[error("unauthorized_dispenser: the pharmacy holds no dispenser grant active at the block's time")]
    UnauthorizedDispenser,
    /// A cancellation by a key that is neither an authority of the chain
    /// nor the prescriber's, authorized at the block's timestamp.
    #[error("unauthorized_canceller: only the prescriber (while authorized) or an authority may cancel")]
    UnauthorizedCanceller,
    /// No record with this `(dr_hash, nonce)` in an earlier block of the
    /// active chain, or its `signature_hash` is not `record_hash`.
    #[error("unknown_prescription: no such prescription in an earlier block of the chain")]
    UnknownPrescription,
    /// A dispense whose patient key is not the record's patient's.
    #[error("wrong_patient: the patient's key is not the prescription's patient")]
    WrongPatient,
    /// A dispense of a prescription whose doctor was no longer authorized
    /// at the time of the record's own block (a backdated revocation).
    #[error("prescriber_revoked: the prescriber was not authorized when the prescription was written")]
    PrescriberRevoked,
    /// A note or reason on a sealed prescription (they are public; its
    /// text is not).
    #[error("public_text_on_sealed: a sealed prescription's dispense or cancellation carries public text")]
    PublicTextOnSealed,
    /// The prescription is already dispensed in the active chain (earlier
    /// in the same block included).
    #[error("already_dispensed: the prescription is already dispensed")]
    AlreadyDispensed,
    /// The prescription is cancelled in the active chain.
    #[error("prescription_cancelled: the prescription is cancelled")]
    PrescriptionCancelled,
}

impl EntryError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            EntryError::InvalidEntry(_) => ErrorKind::InvalidEntry,
            EntryError::InvalidEntrySignature => ErrorKind::InvalidEntrySignature,
            EntryError::WrongChain => ErrorKind::WrongChain,
            EntryError::UnknownAuthority => ErrorKind::UnknownAuthority,
            EntryError::DuplicateGrant => ErrorKind::DuplicateGrant,
            EntryError::UnknownGrant => ErrorKind::UnknownGrant,
            EntryError::AlreadyRevoked => ErrorKind::AlreadyRevoked,
            EntryError::RevocationNotYetEffective => ErrorKind::RevocationNotYetEffective,
            EntryError::UnauthorizedDispenser => ErrorKind::UnauthorizedDispenser,
            EntryError::UnauthorizedCanceller => ErrorKind::UnauthorizedCanceller,
            EntryError::UnknownPrescription => ErrorKind::UnknownPrescription,
            EntryError::WrongPatient => ErrorKind::WrongPatient,
            EntryError::PrescriberRevoked => ErrorKind::PrescriberRevoked,
            EntryError::PublicTextOnSealed => ErrorKind::PublicTextOnSealed,
            EntryError::AlreadyDispensed => ErrorKind::AlreadyDispensed,
            EntryError::PrescriptionCancelled => ErrorKind::PrescriptionCancelled,
        }
    }
}

/// Why an entry could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntrySignError {
    /// The inputs would make an entry that can never verify (`invalid_entry`).
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The authority's key could not sign.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl EntrySignError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            EntrySignError::Entry(e) => e.kind(),
            EntrySignError::Key(e) => e.kind(),
        }
    }
}

/// `LE16(len) ‖ bytes`. A field longer than 65535 bytes is never valid (keys
/// are 88 or 91 bytes, licences at most 100); its length saturates so that
/// an id can still be computed, without a panic, for any input.
fn put_le16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// `grant_preimage` of SPEC 8.1 (or, with its domain, a dispenser grant's
/// of section 10), over the bytes as given.
fn grant_preimage(
    domain: &[u8],
    chain_id: &[u8],
    dr_public_key: &[u8],
    licence: &[u8],
    not_before: u64,
    not_after: u64,
    authority: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        domain.len() + chain_id.len() + dr_public_key.len() + licence.len() + authority.len() + 22,
    );
    out.extend_from_slice(domain);
    out.extend_from_slice(chain_id);
    put_le16_prefixed(&mut out, dr_public_key);
    put_le16_prefixed(&mut out, licence);
    out.extend_from_slice(&not_before.to_le_bytes());
    out.extend_from_slice(&not_after.to_le_bytes());
    put_le16_prefixed(&mut out, authority);
    out
}

/// `revocation_preimage` of SPEC 8.1, over the bytes as given.
fn revocation_preimage(chain_id: &[u8], grant_id: &[u8], effective: u64, authority: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(REVOKE_DOMAIN.len() + chain_id.len() + grant_id.len() + authority.len() + 10);
    out.extend_from_slice(REVOKE_DOMAIN);
    out.extend_from_slice(chain_id);
    out.extend_from_slice(grant_id);
    out.extend_from_slice(&effective.to_le_bytes());
    put_le16_prefixed(&mut out, authority);
    out
}

fn parse_key(der: &[u8], what: &'static str) -> Result<PublicKey, EntryError> {
    PublicKey::from_spki_der(der).map_err(|_| EntryError::InvalidEntry(what))
}

fn verify_signature(authority: &PublicKey, preimage: &[u8], signature: &[u8]) -> Result<(), EntryError> {
    authority
        .verify_prehashed_low_s(preimage, &sha256(&[preimage]), signature)
        .map_err(|_| EntryError::InvalidEntrySignature)
}

fn check_chain_id(chain_id: &[u8]) -> Result<(), EntryError> {
    if chain_id.len() != Hash256::LEN {
        return Err(EntryError::InvalidEntry(BAD_CHAIN_ID));
    }
    Ok(())
}

/// A grant's fields exactly as a caller holds them, unchecked (see
/// [`crate::RecordFields`]).
#[derive(Clone, Copy, Debug)]
pub struct GrantFields<'a> {
    /// Should be the 32-byte id of the chain the grant is made for.
    pub chain_id: &'a [u8],
    /// Should be the doctor's uncompressed SPKI DER.
    pub dr_public_key: &'a [u8],
    /// `None` when the caller's value is not text at all.
    pub licence: Option<&'a str>,
    /// First second the grant authorizes.
    pub not_before: u64,
    /// Last second the grant authorizes.
    pub not_after: u64,
    /// Should be the granting authority's uncompressed SPKI DER.
    pub authority: &'a [u8],
    /// Should be a strict-DER ECDSA signature by `authority`.
    pub signature: &'a [u8],
}

impl GrantFields<'_> {
    fn preimage(&self) -> Vec<u8> {
        let licence = self.licence.unwrap_or_default().as_bytes();
        grant_preimage(GRANT_DOMAIN, self.chain_id, self.dr_public_key, licence, self.not_before, self.not_after, self.authority)
    }

    fn verify(&self) -> Result<(), EntryError> {
        check_chain_id(self.chain_id)?;
        parse_key(self.dr_public_key, BAD_DOCTOR_KEY)?;
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

/// A revocation's fields exactly as a caller holds them, unchecked.
#[derive(Clone, Copy, Debug)]
pub struct RevocationFields<'a> {
    /// Should be the 32-byte id of the chain the revocation is made for.
    pub chain_id: &'a [u8],
    /// Should be 32 bytes: the id of the grant withdrawn.
    pub grant_id: &'a [u8],
    /// From this second on, the grant no longer authorizes.
    pub effective: u64,
    /// Should be an authority's uncompressed SPKI DER.
    pub authority: &'a [u8],
    /// Should be a strict-DER ECDSA signature by `authority`.
    pub signature: &'a [u8],
}

impl RevocationFields<'_> {
    fn preimage(&self) -> Vec<u8> {
        revocation_preimage(self.chain_id, self.grant_id, self.effective, self.authority)
    }

    fn verify(&self) -> Result<(), EntryError> {
        check_chain_id(self.chain_id)?;
        if self.grant_id.len() != Hash256::LEN {
            return Err(EntryError::InvalidEntry(BAD_GRANT_ID));
        }
        let authority = parse_key(self.authority, BAD_AUTHORITY)?;
        verify_signature(&authority, &self.preimage(), self.signature)
    }
}

/// Which of the five entry types an entry is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// An authority admits a doctor (SPEC 8.1).
    Grant,
    /// An authority withdraws a grant, a doctor's or a dispenser's (8.1).
    Revocation,
    /// An authority admits a pharmacy (SPEC 10).
    DispenserGrant,
    /// A pharmacy hands a prescription over, countersigned by the patient (10).
    Dispense,
    /// The prescriber or an authority withdraws a prescription (10).
    Cancellation,
}

impl EntryType {
    /// Every type, in the order of the SPEC.
    pub const ALL: [EntryType; 5] =
        [EntryType::Grant, EntryType::Revocation, EntryType::DispenserGrant, EntryType::Dispense, EntryType::Cancellation];

    /// The type's name as the test vectors spell it: `"grant"`,
    /// `"revocation"`, `"dispenser_grant"`, `"dispense"`, `"cancel"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryType::Grant => "grant",
            EntryType::Revocation => "revocation",
            EntryType::DispenserGrant => "dispenser_grant",
            EntryType::Dispense => "dispense",
            EntryType::Cancellation => "cancel",
        }
    }

    /// The type a name spells ([`EntryType::as_str`]'s inverse).
    pub fn from_name(name: &str) -> Option<EntryType> {
        EntryType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The leading byte of the type's canonical encoding (docs/FORMAT.md).
    pub const fn tag(self) -> u8 {
        match self {
            EntryType::Grant => GRANT_TAG,
            EntryType::Revocation => REVOCATION_TAG,
            EntryType::DispenserGrant => DISPENSER_GRANT_TAG,
            EntryType::Dispense => DISPENSE_TAG,
            EntryType::Cancellation => CANCELLATION_TAG,
        }
    }
}

impl core::fmt::Display for EntryType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry's fields as a caller holds them, unchecked: verification and the
/// entry id are defined over this view, so every surface runs one rule set.
#[derive(Clone, Copy, Debug)]
pub enum EntryFields<'a> {
    /// A grant.
    Grant(GrantFields<'a>),
    /// A revocation.
    Revocation(RevocationFields<'a>),
    /// A dispenser grant.
    DispenserGrant(DispenserGrantFields<'a>),
    /// A dispense.
    Dispense(DispenseFields<'a>),
    /// A cancellation.
    Cancellation(CancellationFields<'a>),
}

impl EntryFields<'_> {
    /// The stateless checks in order: `invalid_entry` (every field's shape),
    /// then `invalid_entry_signature` (each signature: strict DER, low-S,
    /// verifying under its key; a dispense's pharmacy signature before its
    /// patient's); the first failure is the error.
    pub fn verify(&self) -> Result<(), EntryError> {
        match self {
            EntryFields::Grant(g) => g.verify(),
            EntryFields::Revocation(r) => r.verify(),
            EntryFields::DispenserGrant(g) => g.verify(),
            EntryFields::Dispense(d) => d.verify(),
            EntryFields::Cancellation(c) => c.verify(),
        }
    }

    /// The entry's id over the fields as given: `SHA-256(preimage ‖
    /// signature)`, for a dispense `SHA-256(preimage ‖ signature ‖
    /// patient_signature)`. A text field that is not text hashes as empty
    /// (such an entry never verifies).
    pub fn entry_id(&self) -> Hash256 {
        match self {
            EntryFields::Grant(g) => sha256(&[&g.preimage(), g.signature]),
            EntryFields::Revocation(r) => sha256(&[&r.preimage(), r.signature]),
            EntryFields::DispenserGrant(g) => sha256(&[&g.preimage(), g.signature]),
            EntryFields::Dispense(d) => sha256(&[&d.preimage(), d.signature, d.patient_signature]),
            EntryFields::Cancellation(c) => sha256(&[&c.preimage(), c.signature]),
        }
    }

    /// The signing authority's key bytes, as given: a grant's, a
    /// revocation's or a dispenser grant's; `None` for a dispense or a
    /// cancellation, which no authority needs to sign.
    pub fn authority(&self) -> Option<&[u8]> {
        match self {
            EntryFields::Grant(g) => Some(g.authority),
            EntryFields::Revocation(r) => Some(r.authority),
            EntryFields::DispenserGrant(g) => Some(g.authority),
            EntryFields::Dispense(_) | EntryFields::Cancellation(_) => None,
        }
    }

    /// The key bytes of the (first) signer, as given: the authority, the
    /// pharmacy of a dispense, the canceller.
    pub fn signer(&self) -> &[u8] {
        match self {
            EntryFields::Grant(g) => g.authority,
            EntryFields::Revocation(r) => r.authority,
            EntryFields::DispenserGrant(g) => g.authority,
            EntryFields::Dispense(d) => d.pharmacy_public_key,
            EntryFields::Cancellation(c) => c.canceller,
        }
    }

    /// The chain id the entry names, as given.
    pub fn chain_id(&self) -> &[u8] {
        match self {
            EntryFields::Grant(g) => g.chain_id,
            EntryFields::Revocation(r) => r.chain_id,
            EntryFields::DispenserGrant(g) => g.chain_id,
            EntryFields::Dispense(d) => d.chain_id,
            EntryFields::Cancellation(c) => c.chain_id,
        }
    }

    /// Which type of entry the fields are.
    pub fn entry_type(&self) -> EntryType {
        match self {
            EntryFields::Grant(_) => EntryType::Grant,
            EntryFields::Revocation(_) => EntryType::Revocation,
            EntryFields::DispenserGrant(_) => EntryType::DispenserGrant,
            EntryFields::Dispense(_) => EntryType::Dispense,
            EntryFields::Cancellation(_) => EntryType::Cancellation,
        }
    }
}

/// An authority's grant admitting a doctor to write records between
/// `not_before` and `not_after` (inclusive). Fields are public and may be
/// changed; [`Grant::verify`] always checks the grant as it now stands.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    /// The chain the grant is made for (SPEC 5: its parameters' hash).
    pub chain_id: Hash256,
    /// The doctor's uncompressed SPKI DER; `H160` of it is the doctor's `dr_hash`.
    pub dr_public_key: Vec<u8>,
    /// Registration number, name: at most 100 UTF-8 bytes.
    pub licence: String,
    /// First second the grant authorizes.
    pub not_before: u64,
    /// Last second the grant authorizes.
    pub not_after: u64,
    /// The granting authority's uncompressed SPKI DER.
    pub authority: Vec<u8>,
    /// Strict-DER ECDSA by `authority` over `SHA-256(grant_preimage)`.
    pub signature: Vec<u8>,
}

impl Grant {
    /// Signs a grant, for the chain `chain_id`, admitting the doctor whose
    /// key is `dr_public_key` (SPKI DER) from `not_before` to `not_after`,
    /// both inclusive (`0` and `u64::MAX` for "always").
    ///
    /// Refuses, as `invalid_entry`, a grant that could never verify: a
    /// doctor key that is not an uncompressed SPKI on a supported curve, a
    /// licence over 100 bytes, `not_before > not_after`. The signature is low-S.
    pub fn sign(
        authority: &SigningKey,
        chain_id: Hash256,
        dr_public_key: &[u8],
        licence: &str,
        not_before: u64,
        not_after: u64,
    ) -> Result<Grant, EntrySignError> {
        let mut grant = Grant {
            chain_id,
            dr_public_key: dr_public_key.to_vec(),
            licence: licence.to_owned(),
            not_before,
            not_after,
            authority: authority.public_key_der().to_vec(),
            signature: Vec::new(),
        };
        let fields = grant.fields();
        parse_key(fields.dr_public_key, BAD_DOCTOR_KEY)?;
        if licence.len() > MAX_LICENCE_BYTES {
            return Err(EntryError::InvalidEntry(BAD_LICENCE).into());
        }
        if not_before > not_after {
            return Err(EntryError::InvalidEntry(BAD_WINDOW).into());
        }
        let preimage = fields.preimage();
        grant.signature = authority.sign_prehashed(&preimage, &sha256(&[&preimage]))?;
        Ok(grant)
    }

    /// The unchecked view verification runs on.
    pub fn fields(&self) -> GrantFields<'_> {
        GrantFields {
            chain_id: self.chain_id.as_bytes(),
            dr_public_key: &self.dr_public_key,
            licence: Some(&self.licence),
            not_before: self.not_before,
            not_after: self.not_after,
            authority: &self.authority,
            signature: &self.signature,
        }
    }

    /// The grant's id, `SHA-256(grant_preimage ‖ signature)`.
    pub fn grant_id(&self) -> Hash256 {
        EntryFields::Grant(self.fields()).entry_id()
    }

    /// `H160(dr_public_key)`: the `dr_hash` of the doctor it admits.
    pub fn dr_hash(&self) -> Hash160 {
        sha1(&[&self.dr_public_key])
    }

    /// Whether `other` has the same content (the same preimage): the same
    /// chain, doctor, licence, window and authority, whatever the signature.
    pub fn same_content(&self, other: &Grant) -> bool {
        self.chain_id == other.chain_id
            && self.dr_public_key == other.dr_public_key
            && self.licence == other.licence
            && self.not_before == other.not_before
            && self.not_after == other.not_after
            && self.authority == other.authority
    }

    /// Whether the grant's window covers `t` (revocations aside).
    pub fn covers(&self, t: u64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// The stateless checks 1-2 of SPEC 8.1.
    pub fn verify(&self) -> Result<(), EntryError> {
        self.fields().verify()
    }
}

/// An authority's revocation of a grant, from `effective` on. Fields are
/// public and may be changed; [`Revocation::verify`] checks them as they stand.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Revocation {
    /// The chain the revocation is made for.
    pub chain_id: Hash256,
    /// The id of the grant withdrawn.
    pub grant_id: Hash256,
    /// From this second on, the grant no longer authorizes.
    pub effective: u64,
    /// The revoking authority's uncompressed SPKI DER (any authority of the chain).
    pub authority: Vec<u8>,
    /// Strict-DER ECDSA by `authority` over `SHA-256(revocation_preimage)`.
    pub signature: Vec<u8>,
}

impl Revocation {
    /// Signs a revocation, for the chain `chain_id`, of `grant_id` taking
    /// effect at `effective`. The signature is low-S. A chain carries it
    /// only in a block whose timestamp has reached `effective`.
    pub fn sign(
        authority: &SigningKey,
        chain_id: Hash256,
        grant_id: Hash256,
        effective: u64,
    ) -> Result<Revocation, EntrySignError> {
        let mut revocation = Revocation {
            chain_id,
            grant_id,
            effective,
            authority: authority.public_key_der().to_vec(),
            signature: Vec::new(),
        };
        let preimage = revocation.fields().preimage();
        revocation.signature = authority.sign_prehashed(&preimage, &sha256(&[&preimage]))?;
        Ok(revocation)
    }

    /// The unchecked view verification runs on.
    pub fn fields(&self) -> RevocationFields<'_> {
        RevocationFields {
            chain_id: self.chain_id.as_bytes(),
            grant_id: self.grant_id.as_bytes(),
            effective: self.effective,
            authority: &self.authority,
            signature: &self.signature,
        }
    }

    /// The revocation's id, `SHA-256(revocation_preimage ‖ signature)`.
    pub fn revocation_id(&self) -> Hash256 {
        EntryFields::Revocation(self.fields()).entry_id()
    }

    /// The stateless checks 1-2 of SPEC 8.1.
    pub fn verify(&self) -> Result<(), EntryError> {
        self.fields().verify()
    }
}

/// A block's entry: one of the five types.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    /// Admits a doctor.
    Grant(Grant),
    /// Withdraws a grant (a doctor's or a dispenser's).
    Revocation(Revocation),
    /// Admits a pharmacy.
    DispenserGrant(DispenserGrant),
    /// Records that a pharmacy handed a prescription over.
    Dispense(Dispense),
    /// Withdraws a prescription.
    Cancellation(Cancellation),
}

impl From<Grant> for Entry {
    fn from(grant: Grant) -> Entry {
        Entry::Grant(grant)
    }
}

impl From<Revocation> for Entry {
    fn from(revocation: Revocation) -> Entry {
        Entry::Revocation(revocation)
    }
}

impl From<DispenserGrant> for Entry {
    fn from(grant: DispenserGrant) -> Entry {
        Entry::DispenserGrant(grant)
    }
}

impl From<Dispense> for Entry {
    fn from(dispense: Dispense) -> Entry {
        Entry::Dispense(dispense)
    }
}

impl From<Cancellation> for Entry {
    fn from(cancellation: Cancellation) -> Entry {
        Entry::Cancellation(cancellation)
    }
}

const GRANT_TAG: u8 = b'G';
const REVOCATION_TAG: u8 = b'V';
const DISPENSER_GRANT_TAG: u8 = b'P';
const DISPENSE_TAG: u8 = b'D';
const CANCELLATION_TAG: u8 = b'C';
/// Version 2 (SPEC v1.2) adds `chain_id`; version 1 entries named no chain
/// and are refused. The three types of SPEC 10 (v1.2) exist in version 2 only.
const ENTRY_VERSION: u8 = 2;
/// The smallest of the encodings with empty variable-length fields (a
/// grant's or dispenser grant's: tag, version, chain id, four length
/// prefixes, two times).
pub(crate) const MIN_ENCODED_ENTRY_LEN: usize = 2 + 32 + 8 + 8 + 8 + 8 + 8 + 8;

fn owned_text(text: Option<&str>, reason: &'static str) -> Result<String, EntryError> {
    text.map(str::to_owned).ok_or(EntryError::InvalidEntry(reason))
}

fn hash160(bytes: &[u8]) -> Result<Hash160, EntryError> {
    Hash160::from_slice(bytes).ok_or(EntryError::InvalidEntry(BAD_DR_HASH))
}

fn record_hash(bytes: &[u8]) -> Result<Hash256, EntryError> {
    Hash256::from_slice(bytes).ok_or(EntryError::InvalidEntry(BAD_RECORD_HASH))
}

impl Entry {
    /// Builds an entry from loose fields, checking only what the typed fields
    /// cannot hold: a text that is not text, a `grant_id`, `record_hash` or
    /// `chain_id` that is not 32 bytes, a `dr_hash` that is not 20 (all
    /// `invalid_entry`).
    pub fn from_fields(fields: &EntryFields<'_>) -> Result<Entry, EntryError> {
        let chain_id = Hash256::from_slice(fields.chain_id()).ok_or(EntryError::InvalidEntry(BAD_CHAIN_ID))?;
        Ok(match fields {
            EntryFields::Grant(g) => Entry::Grant(Grant {
                chain_id,
                dr_public_key: g.dr_public_key.to_vec(),
                licence: owned_text(g.licence, BAD_LICENCE)?,
                not_before: g.not_before,
                not_after: g.not_after,
                authority: g.authority.to_vec(),
                signature: g.signature.to_vec(),
            }),
            EntryFields::Revocation(r) => Entry::Revocation(Revocation {
                chain_id,
                grant_id: Hash256::from_slice(r.grant_id).ok_or(EntryError::InvalidEntry(BAD_GRANT_ID))?,
                effective: r.effective,
                authority: r.authority.to_vec(),
                signature: r.signature.to_vec(),
            }),
            EntryFields::DispenserGrant(g) => Entry::DispenserGrant(DispenserGrant {
                chain_id,
                pharmacy_public_key: g.pharmacy_public_key.to_vec(),
                licence: owned_text(g.licence, BAD_LICENCE)?,
                not_before: g.not_before,
                not_after: g.not_after,
                authority: g.authority.to_vec(),
                signature: g.signature.to_vec(),
            }),
            EntryFields::Dispense(d) => Entry::Dispense(Dispense {
                chain_id,
                dr_hash: hash160(d.dr_hash)?,
                nonce: d.nonce,
                record_hash: record_hash(d.record_hash)?,
                pharmacy_public_key: d.pharmacy_public_key.to_vec(),
                patient_public_key: d.patient_public_key.to_vec(),
                note: owned_text(d.note, BAD_NOTE)?,
                signature: d.signature.to_vec(),
                patient_signature: d.patient_signature.to_vec(),
            }),
            EntryFields::Cancellation(c) => Entry::Cancellation(Cancellation {
                chain_id,
                dr_hash: hash160(c.dr_hash)?,
                nonce: c.nonce,
                record_hash: record_hash(c.record_hash)?,
                canceller: c.canceller.to_vec(),
                reason: owned_text(c.reason, BAD_REASON)?,
                signature: c.signature.to_vec(),
            }),
        })
    }

    /// The unchecked view verification runs on.
    pub fn fields(&self) -> EntryFields<'_> {
        match self {
            Entry::Grant(g) => EntryFields::Grant(g.fields()),
            Entry::Revocation(r) => EntryFields::Revocation(r.fields()),
            Entry::DispenserGrant(g) => EntryFields::DispenserGrant(g.fields()),
            Entry::Dispense(d) => EntryFields::Dispense(d.fields()),
            Entry::Cancellation(c) => EntryFields::Cancellation(c.fields()),
        }
    }

    /// Which type of entry this is.
    pub fn entry_type(&self) -> EntryType {
        self.fields().entry_type()
    }

    /// The entry's id (see [`EntryFields::entry_id`]); a block's id covers it.
    pub fn entry_id(&self) -> Hash256 {
        self.fields().entry_id()
    }

    /// The stateless checks (see [`EntryFields::verify`]).
    pub fn verify(&self) -> Result<(), EntryError> {
        self.fields().verify()
    }

    /// The signing authority's key bytes; `None` for a dispense or a
    /// cancellation (see [`EntryFields::authority`]).
    pub fn authority(&self) -> Option<&[u8]> {
        match self {
            Entry::Grant(g) => Some(&g.authority),
            Entry::Revocation(r) => Some(&r.authority),
            Entry::DispenserGrant(g) => Some(&g.authority),
            Entry::Dispense(_) | Entry::Cancellation(_) => None,
        }
    }

    /// The (first) signer's key bytes: the authority, a dispense's
    /// pharmacy, the canceller.
    pub fn signer(&self) -> &[u8] {
        match self {
            Entry::Grant(g) => &g.authority,
            Entry::Revocation(r) => &r.authority,
            Entry::DispenserGrant(g) => &g.authority,
            Entry::Dispense(d) => &d.pharmacy_public_key,
            Entry::Cancellation(c) => &c.canceller,
        }
    }

    /// The (first) signature: the signer's (a dispense also carries the
    /// patient's, [`Dispense::patient_signature`]).
    pub fn signature(&self) -> &[u8] {
        match self {
            Entry::Grant(g) => &g.signature,
            Entry::Revocation(r) => &r.signature,
            Entry::DispenserGrant(g) => &g.signature,
            Entry::Dispense(d) => &d.signature,
            Entry::Cancellation(c) => &c.signature,
        }
    }

    /// The chain the entry is made for.
    pub fn chain_id(&self) -> Hash256 {
        match self {
            Entry::Grant(g) => g.chain_id,
            Entry::Revocation(r) => r.chain_id,
            Entry::DispenserGrant(g) => g.chain_id,
            Entry::Dispense(d) => d.chain_id,
            Entry::Cancellation(c) => c.chain_id,
        }
    }

    /// The prescription a dispense or cancellation names.
    pub fn prescription(&self) -> Option<PrescriptionRef> {
        match self {
            Entry::Dispense(d) => Some(d.prescription()),
            Entry::Cancellation(c) => Some(c.prescription()),
            Entry::Grant(_) | Entry::Revocation(_) | Entry::DispenserGrant(_) => None,
        }
    }

    /// The canonical encoding (`docs/FORMAT.md`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 2 * 91 + 100 + 2 * 72);
        self.encode_into(&mut out);
        out
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.entry_type().tag(), ENTRY_VERSION]);
        out.extend_from_slice(self.chain_id().as_bytes());
        match self {
            Entry::Grant(g) => {
                put_length_prefixed(out, &g.dr_public_key);
                put_length_prefixed(out, g.licence.as_bytes());
                out.extend_from_slice(&g.not_before.to_le_bytes());
                out.extend_from_slice(&g.not_after.to_le_bytes());
                put_length_prefixed(out, &g.authority);
                put_length_prefixed(out, &g.signature);
            }
            Entry::Revocation(r) => {
                out.extend_from_slice(r.grant_id.as_bytes());
                out.extend_from_slice(&r.effective.to_le_bytes());
                put_length_prefixed(out, &r.authority);
                put_length_prefixed(out, &r.signature);
            }
            Entry::DispenserGrant(g) => {
                put_length_prefixed(out, &g.pharmacy_public_key);
                put_length_prefixed(out, g.licence.as_bytes());
                out.extend_from_slice(&g.not_before.to_le_bytes());
                out.extend_from_slice(&g.not_after.to_le_bytes());
                put_length_prefixed(out, &g.authority);
                put_length_prefixed(out, &g.signature);
            }
            Entry::Dispense(d) => {
                out.extend_from_slice(d.dr_hash.as_bytes());
                out.extend_from_slice(&d.nonce.to_le_bytes());
                out.extend_from_slice(d.record_hash.as_bytes());
                put_length_prefixed(out, &d.pharmacy_public_key);
                put_length_prefixed(out, &d.patient_public_key);
                put_length_prefixed(out, d.note.as_bytes());
                put_length_prefixed(out, &d.signature);
                put_length_prefixed(out, &d.patient_signature);
            }
            Entry::Cancellation(c) => {
                out.extend_from_slice(c.dr_hash.as_bytes());
                out.extend_from_slice(&c.nonce.to_le_bytes());
                out.extend_from_slice(c.record_hash.as_bytes());
                put_length_prefixed(out, &c.canceller);
                put_length_prefixed(out, c.reason.as_bytes());
                put_length_prefixed(out, &c.signature);
            }
        }
    }

    /// Decodes the canonical encoding; rejects an unknown tag or version,
    /// truncation, over-long lengths, a text that is not UTF-8 and
    /// trailing bytes. Decoding does not verify: call [`Entry::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let mut reader = Reader::new(bytes);
        let entry = Entry::decode_from(&mut reader)?;
        reader.finish()?;
        Ok(entry)
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<Entry, DecodeError> {
        let tag = reader.u8()?;
        let version = reader.u8()?;
        let entry_type = EntryType::ALL.into_iter().find(|t| t.tag() == tag).ok_or(DecodeError::WrongTag(tag))?;
        if version != ENTRY_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let chain_id = Hash256::from_bytes(reader.array()?);
        let text = |bytes: &[u8]| core::str::from_utf8(bytes).map(str::to_owned).map_err(|_| DecodeError::InvalidUtf8);
        Ok(match entry_type {
            EntryType::Grant => Entry::Grant(Grant {
                chain_id,
                dr_public_key: reader.length_prefixed()?.to_vec(),
                licence: text(reader.length_prefixed()?)?,
                not_before: reader.u64()?,
                not_after: reader.u64()?,
                authority: reader.length_prefixed()?.to_vec(),
                signature: reader.length_prefixed()?.to_vec(),
            }),
            EntryType::Revocation => Entry::Revocation(Revocation {
                chain_id,
                grant_id: Hash256::from_bytes(reader.array()?),
                effective: reader.u64()?,
                authority: reader.length_prefixed()?.to_vec(),
                signature: reader.length_prefixed()?.to_vec(),
            }),
            EntryType::DispenserGrant => Entry::DispenserGrant(DispenserGrant {
                chain_id,
                pharmacy_public_key: reader.length_prefixed()?.to_vec(),
                licence: text(reader.length_prefixed()?)?,
                not_before: reader.u64()?,
                not_after: reader.u64()?,
                authority: reader.length_prefixed()?.to_vec(),
                signature: reader.length_prefixed()?.to_vec(),
            }),
            EntryType::Dispense => Entry::Dispense(Dispense {
                chain_id,
                dr_hash: Hash160::from_bytes(reader.array()?),
                nonce: reader.u64()?,
                record_hash: Hash256::from_bytes(reader.array()?),
                pharmacy_public_key: reader.length_prefixed()?.to_vec(),
                patient_public_key: reader.length_prefixed()?.to_vec(),
                note: text(reader.length_prefixed()?)?,
                signature: reader.length_prefixed()?.to_vec(),
                patient_signature: reader.length_prefixed()?.to_vec(),
            }),
            EntryType::Cancellation => Entry::Cancellation(Cancellation {
                chain_id,
                dr_hash: Hash160::from_bytes(reader.array()?),
                nonce: reader.u64()?,
                record_hash: Hash256::from_bytes(reader.array()?),
                canceller: reader.length_prefixed()?.to_vec(),
                reason: text(reader.length_prefixed()?)?,
                signature: reader.length_prefixed()?.to_vec(),
            }),
        })
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("dr_hash", &crate::address::Address::new(crate::address::Role::Doctor, self.dr_hash()))
            .field("licence", &self.licence)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("authority", &sha1(&[&self.authority]))
            .field("grant_id", &self.grant_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("grant_id", &self.grant_id)
            .field("effective", &self.effective)
            .field("authority", &sha1(&[&self.authority]))
            .field("revocation_id", &self.revocation_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DispenserGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispenserGrant")
            .field("pharmacy", &self.pharmacy_hash())
            .field("licence", &self.licence)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("authority", &sha1(&[&self.authority]))
            .field("grant_id", &self.grant_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Dispense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispense")
            .field("dr_hash", &crate::address::Address::new(crate::address::Role::Doctor, self.dr_hash))
            .field("nonce", &self.nonce)
            .field("record_hash", &self.record_hash)
            .field("pharmacy", &self.pharmacy_hash())
            .field("patient", &crate::address::Address::new(crate::address::Role::Patient, self.patient_hash()))
            .field("note", &self.note)
            .field("dispense_id", &self.dispense_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("dr_hash", &crate::address::Address::new(crate::address::Role::Doctor, self.dr_hash))
            .field("nonce", &self.nonce)
            .field("record_hash", &self.record_hash)
            .field("canceller", &self.canceller_hash())
            .field("reason", &self.reason)
            .field("cancellation_id", &self.cancellation_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Grant(g) => g.fmt(f),
            Entry::Revocation(r) => r.fmt(f),
            Entry::DispenserGrant(g) => g.fmt(f),
            Entry::Dispense(d) => d.fmt(f),
            Entry::Cancellation(c) => c.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Curve;

    const CHAIN: Hash256 = Hash256::from_bytes([0xc4; 32]);

    fn keys() -> (SigningKey, SigningKey) {
        (SigningKey::generate(Curve::P256).unwrap(), SigningKey::generate(Curve::Secp256k1).unwrap())
    }

    /// `(r, n - s)` of a strict-DER signature over the curve of order `n`.
    fn flip_s(signature: &[u8], order: &[u8; 32]) -> Vec<u8> {
        let compact = crate::der::parse_ecdsa_signature(signature).unwrap();
        let mut flipped = compact;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let diff = i16::from(order[i]) - i16::from(compact[32 + i]) - borrow;
            borrow = i16::from(diff < 0);
            flipped[32 + i] = diff.rem_euclid(256) as u8;
        }
        crate::der::encode_ecdsa_signature(&flipped)
    }

    const P256_ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
        0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    ];
    const SECP256K1_ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc,
        0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    ];

    #[test]
    fn signed_entries_verify_and_round_trip() {
        let (authority, doctor) = keys();
        let grant = Grant::sign(&authority, CHAIN, doctor.public_key_der(), "GMC 1", 5, 9).unwrap();
        assert_eq!(grant.verify(), Ok(()));
        assert_eq!(grant.dr_hash(), doctor.public_key_hash());
        let revocation = Revocation::sign(&authority, CHAIN, grant.grant_id(), 7).unwrap();
        assert_eq!(revocation.verify(), Ok(()));
        for entry in [Entry::from(grant), Entry::from(revocation)] {
            assert_eq!(entry.chain_id(), CHAIN);
            let bytes = entry.to_bytes();
            assert_eq!(Entry::from_bytes(&bytes), Ok(entry.clone()));
            assert_eq!(Entry::from_fields(&entry.fields()), Ok(entry.clone()));
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(Entry::from_bytes(&longer), Err(DecodeError::TrailingBytes(1)));
            for cut in 0..bytes.len() {
                assert!(Entry::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    /// The attack of the second review: anyone holding a grant could turn
    /// its `(r, s)` into `(r, n - s)`, a new id for the same content.
    #[test]
    fn high_s_entry_signatures_are_refused_on_both_curves() {
        for (curve, order) in [(Curve::P256, &P256_ORDER), (Curve::Secp256k1, &SECP256K1_ORDER)] {
            let authority = SigningKey::generate(curve).unwrap();
            let doctor = SigningKey::generate(Curve::Secp256k1).unwrap();
            let grant = Grant::sign(&authority, CHAIN, doctor.public_key_der(), "x", 0, u64::MAX).unwrap();
            let mut flipped = grant.clone();
            flipped.signature = flip_s(&grant.signature, order);
            assert_ne!(flipped.grant_id(), grant.grant_id());
            // The flipped signature is a valid ECDSA signature (records accept it)...
            let preimage = grant.fields().preimage();
            assert!(authority.public_key().verify(&preimage, &flipped.signature).is_ok());
            // ...and an entry refuses it.
            assert_eq!(flipped.verify(), Err(EntryError::InvalidEntrySignature));
            let revocation = Revocation::sign(&authority, CHAIN, grant.grant_id(), 0).unwrap();
            let mut flipped = revocation.clone();
            flipped.signature = flip_s(&revocation.signature, order);
            assert_eq!(flipped.verify(), Err(EntryError::InvalidEntrySignature));
        }
    }

    /// A patient's card (or OpenSSL) may hand back a high-S signature: it is
    /// attached in its low-S form, the one an entry may carry.
    #[test]
    fn attached_signatures_are_stored_low_s_on_both_curves() {
        for (curve, order) in [(Curve::P256, &P256_ORDER), (Curve::Secp256k1, &SECP256K1_ORDER)] {
            let (doctor, pharmacy, patient) = (
                SigningKey::generate(Curve::Secp256k1).unwrap(),
                SigningKey::generate(Curve::P256).unwrap(),
                SigningKey::generate(curve).unwrap(),
            );
            let record = crate::Record::sign(&doctor, patient.public_key_hash().as_bytes(), "Amoxicillin", 1).unwrap();
            let mut dispense =
                Dispense::unsigned(CHAIN, &record, pharmacy.public_key_der(), patient.public_key_der(), "").unwrap();
            dispense.sign_pharmacy(&pharmacy).unwrap();
            let preimage = dispense.preimage();
            let low = patient.sign_prehashed(&preimage, &dispense.digest()).unwrap();
            let high = flip_s(&low, order);
            assert_ne!(high, low);
            // Both forms are valid ECDSA; the entry takes only the low one...
            let mut carried = dispense.clone();
            carried.patient_signature = high.clone();
            assert_eq!(carried.verify(), Err(EntryError::InvalidEntrySignature));
            // ...which attaching the high one stores.
            dispense.attach_patient_signature(&high).unwrap();
            assert_eq!(dispense.patient_signature, low);
            assert_eq!(dispense.verify(), Ok(()));
            // The pharmacy's own, attached again, is unchanged.
            let own = dispense.signature.clone();
            dispense.attach_signature(&own).unwrap();
            assert_eq!(dispense.signature, own);
            // A signature by another key is refused.
            assert_eq!(dispense.attach_signature(&low), Err(EntryError::InvalidEntrySignature));
        }
    }

    #[test]
    fn signing_refuses_entries_that_cannot_verify() {
        let (authority, doctor) = keys();
        let der = doctor.public_key_der();
        let kind = |r: Result<Grant, EntrySignError>| r.unwrap_err().kind();
        assert_eq!(kind(Grant::sign(&authority, CHAIN, &der[1..], "x", 0, 1)), ErrorKind::InvalidEntry);
        assert_eq!(kind(Grant::sign(&authority, CHAIN, der, &"x".repeat(101), 0, 1)), ErrorKind::InvalidEntry);
        assert_eq!(kind(Grant::sign(&authority, CHAIN, der, "x", 2, 1)), ErrorKind::InvalidEntry);
        assert!(Grant::sign(&authority, CHAIN, der, &"x".repeat(100), 1, 1).is_ok());
    }

    #[test]
    fn checks_run_in_order() {
        let (authority, doctor) = keys();
        let grant = Grant::sign(&authority, CHAIN, doctor.public_key_der(), "x", 0, 1).unwrap();
        let mut fields = grant.fields();
        fields.signature = &[0x30, 0x00];
        assert_eq!(EntryFields::Grant(fields).verify(), Err(EntryError::InvalidEntrySignature));
        fields.licence = None;
        assert_eq!(EntryFields::Grant(fields).verify().unwrap_err().kind(), ErrorKind::InvalidEntry);
        fields.chain_id = &[0; 31];
        assert_eq!(EntryFields::Grant(fields).verify(), Err(EntryError::InvalidEntry(BAD_CHAIN_ID)));
        assert_eq!(Entry::from_fields(&EntryFields::Grant(fields)), Err(EntryError::InvalidEntry(BAD_CHAIN_ID)));
        let mut changed = grant.clone();
        changed.not_after = 2;
        assert_eq!(changed.verify(), Err(EntryError::InvalidEntrySignature));
        changed.authority = doctor.public_key_der().to_vec();
        assert_eq!(changed.verify(), Err(EntryError::InvalidEntrySignature));
        // The chain id is signed: moving a grant to another chain breaks it.
        let mut moved = grant.clone();
        moved.chain_id = Hash256::from_bytes([1; 32]);
        assert_eq!(moved.verify(), Err(EntryError::InvalidEntrySignature));
    }

    #[test]
    fn same_content_ignores_only_the_signature() {
        let (authority, doctor) = keys();
        let a = Grant::sign(&authority, CHAIN, doctor.public_key_der(), "x", 0, 1).unwrap();
        // P-256 signatures are randomized: a second signature of the same content.
        let b = Grant::sign(&authority, CHAIN, doctor.public_key_der(), "x", 0, 1).unwrap();
        assert_ne!(a.grant_id(), b.grant_id());
        assert!(a.same_content(&b));
        let c = Grant::sign(&authority, CHAIN, doctor.public_key_der(), "x", 0, 2).unwrap();
        assert!(!a.same_content(&c));
    }

    #[test]
    fn decode_rejects_unknown_tags_and_versions() {
        let (authority, _) = keys();
        let bytes =
            Entry::from(Revocation::sign(&authority, CHAIN, Hash256::from_bytes([1; 32]), 0).unwrap()).to_bytes();
        let mut other = bytes.clone();
        other[0] = b'R';
        assert_eq!(Entry::from_bytes(&other), Err(DecodeError::WrongTag(b'R')));
        // Version 1 (before SPEC v1.2) named no chain.
        for version in [1, 3] {
            let mut other = bytes.clone();
            other[1] = version;
            assert_eq!(Entry::from_bytes(&other), Err(DecodeError::UnsupportedVersion(version)));
        }
    }
}

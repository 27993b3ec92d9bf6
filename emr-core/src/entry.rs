//! Registry entries of SPEC section 8.1: an authority's [`Grant`] admitting a
//! doctor and its [`Revocation`] withdrawing one, carried in blocks.
//!
//! This module holds what needs no chain: signing, the entry ids, the
//! stateless checks 1-2 (`invalid_entry`, `invalid_entry_signature`) and the
//! canonical encoding. Checks 3-4 (the chain's authorities and registry)
//! live in [`crate::chain`]; their kinds are variants of the same
//! [`EntryError`] so that a block's failing entry has one error type.

use core::fmt;

use crate::codec::{put_length_prefixed, DecodeError, Reader};
use crate::error::ErrorKind;
use crate::hash::{sha1, sha256, Hash160, Hash256};
use crate::keys::{KeyError, PublicKey, SigningKey};

/// The longest licence text, in UTF-8 bytes.
pub const MAX_LICENCE_BYTES: usize = 100;

/// The most entries a block may hold.
pub const MAX_ENTRIES: usize = 25;

const GRANT_DOMAIN: &[u8] = b"cryptoemr/grant/v1";

const BAD_DOCTOR_KEY: &str = "dr_public_key is not an EC key on a supported curve";
const BAD_LICENCE: &str = "licence must be text of at most 100 UTF-8 bytes";
const BAD_WINDOW: &str = "not_before is after not_after";
const BAD_AUTHORITY: &str = "authority is not an EC key on a supported curve";
const BAD_GRANT_ID: &str = "grant_id must be 32 bytes";

/// Every text [`EntryError::InvalidEntry`] carries, so that a stored
/// failure can be read back as the error it was.
pub(crate) const INVALID_ENTRY_REASONS: [&str; 5] = [BAD_DOCTOR_KEY, BAD_LICENCE, BAD_WINDOW, BAD_AUTHORITY, BAD_GRANT_ID];
const REVOKE_DOMAIN: &[u8] = b"cryptoemr/revoke/v1";

/// Why an entry is refused, one variant per kind, in check order.
///
/// The first two need nothing but the entry ([`EntryFields::verify`]); the
/// last four are decided by a chain against its authorities and registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EntryError {
    /// A key that is not a valid SPKI on a supported curve, a licence that is
    /// not text or over 100 bytes, `not_before > not_after`, or a `grant_id`
    /// that is not 32 bytes. The text says which.
    #[error("invalid_entry: {0}")]
    InvalidEntry(&'static str),
    /// The signature is not strict DER or does not verify under `authority`.
    #[error("invalid_entry_signature: signature does not verify under the entry's authority")]
    InvalidEntrySignature,
    /// `authority` is not one of the chain's authorities (every entry of an
    /// open chain fails here).
    #[error("unknown_authority: the entry's authority is not an authority of this chain")]
    UnknownAuthority,
    /// A grant whose id is already in the active chain.
    #[error("duplicate_grant: this grant is already in the chain")]
    DuplicateGrant,
    /// A revocation of a grant the active chain does not hold.
    #[error("unknown_grant: no grant with this id in the chain")]
    UnknownGrant,
    /// A revocation of a grant that is already revoked.
    #[error("already_revoked: the grant is already revoked")]
    AlreadyRevoked,
}

impl EntryError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            EntryError::InvalidEntry(_) => ErrorKind::InvalidEntry,
            EntryError::InvalidEntrySignature => ErrorKind::InvalidEntrySignature,
            EntryError::UnknownAuthority => ErrorKind::UnknownAuthority,
            EntryError::DuplicateGrant => ErrorKind::DuplicateGrant,
            EntryError::UnknownGrant => ErrorKind::UnknownGrant,
            EntryError::AlreadyRevoked => ErrorKind::AlreadyRevoked,
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

/// `grant_preimage` of SPEC 8.1, over the bytes as given.
fn grant_preimage(dr_public_key: &[u8], licence: &[u8], not_before: u64, not_after: u64, authority: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(GRANT_DOMAIN.len() + dr_public_key.len() + licence.len() + authority.len() + 22);
    out.extend_from_slice(GRANT_DOMAIN);
    put_le16_prefixed(&mut out, dr_public_key);
    put_le16_prefixed(&mut out, licence);
    out.extend_from_slice(&not_before.to_le_bytes());
    out.extend_from_slice(&not_after.to_le_bytes());
    put_le16_prefixed(&mut out, authority);
    out
}

/// `revocation_preimage` of SPEC 8.1, over the bytes as given.
fn revocation_preimage(grant_id: &[u8], effective: u64, authority: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(REVOKE_DOMAIN.len() + grant_id.len() + authority.len() + 10);
    out.extend_from_slice(REVOKE_DOMAIN);
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
        .verify_prehashed(preimage, &sha256(&[preimage]), signature)
        .map_err(|_| EntryError::InvalidEntrySignature)
}

/// A grant's fields exactly as a caller holds them, unchecked (see
/// [`crate::RecordFields`]).
#[derive(Clone, Copy, Debug)]
pub struct GrantFields<'a> {
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
        grant_preimage(self.dr_public_key, licence, self.not_before, self.not_after, self.authority)
    }

    fn verify(&self) -> Result<(), EntryError> {
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
        revocation_preimage(self.grant_id, self.effective, self.authority)
    }

    fn verify(&self) -> Result<(), EntryError> {
        if self.grant_id.len() != Hash256::LEN {
            return Err(EntryError::InvalidEntry(BAD_GRANT_ID));
        }
        let authority = parse_key(self.authority, BAD_AUTHORITY)?;
        verify_signature(&authority, &self.preimage(), self.signature)
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
}

impl EntryFields<'_> {
    /// The stateless checks 1-2 of SPEC 8.1 in order (`invalid_entry`, then
    /// `invalid_entry_signature`); the first failure is the error.
    pub fn verify(&self) -> Result<(), EntryError> {
        match self {
            EntryFields::Grant(g) => g.verify(),
            EntryFields::Revocation(r) => r.verify(),
        }
    }

    /// `SHA-256(preimage ‖ signature)` over the fields as given: the
    /// `grant_id` or `revocation_id`. A licence that is not text hashes as
    /// empty (such an entry never verifies).
    pub fn entry_id(&self) -> Hash256 {
        let (preimage, signature) = match self {
            EntryFields::Grant(g) => (g.preimage(), g.signature),
            EntryFields::Revocation(r) => (r.preimage(), r.signature),
        };
        sha256(&[&preimage, signature])
    }

    /// The authority's key bytes, as given.
    pub fn authority(&self) -> &[u8] {
        match self {
            EntryFields::Grant(g) => g.authority,
            EntryFields::Revocation(r) => r.authority,
        }
    }
}

/// An authority's grant admitting a doctor to write records between
/// `not_before` and `not_after` (inclusive). Fields are public and may be
/// changed; [`Grant::verify`] always checks the grant as it now stands.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Grant {
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
    /// Signs a grant admitting the doctor whose key is `dr_public_key` (SPKI
    /// DER) from `not_before` to `not_after`, both inclusive (`0` and
    /// `u64::MAX` for "always").
    ///
    /// Refuses, as `invalid_entry`, a grant that could never verify: a
    /// doctor key that is not an uncompressed SPKI on a supported curve, a
    /// licence over 100 bytes, `not_before > not_after`. The signature is low-S.
    pub fn sign(
        authority: &SigningKey,
        dr_public_key: &[u8],
        licence: &str,
        not_before: u64,
        not_after: u64,
    ) -> Result<Grant, EntrySignError> {
        let mut grant = Grant {
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
    /// Signs a revocation of `grant_id` taking effect at `effective`. The
    /// signature is low-S.
    pub fn sign(authority: &SigningKey, grant_id: Hash256, effective: u64) -> Result<Revocation, EntrySignError> {
        let mut revocation = Revocation {
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

/// A block's entry: a grant or a revocation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    /// Admits a doctor.
    Grant(Grant),
    /// Withdraws a grant.
    Revocation(Revocation),
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

const GRANT_TAG: u8 = b'G';
const REVOCATION_TAG: u8 = b'V';
const ENTRY_VERSION: u8 = 1;
/// The smaller of the two encodings with empty variable-length fields (a
/// grant's: tag, version, four length prefixes, two times).
pub(crate) const MIN_ENCODED_ENTRY_LEN: usize = 2 + 8 + 8 + 8 + 8 + 8 + 8;

impl Entry {
    /// Builds an entry from loose fields, checking only what the typed fields
    /// cannot hold: a licence that is not text and a `grant_id` that is not
    /// 32 bytes (both `invalid_entry`).
    pub fn from_fields(fields: &EntryFields<'_>) -> Result<Entry, EntryError> {
        Ok(match fields {
            EntryFields::Grant(g) => Entry::Grant(Grant {
                dr_public_key: g.dr_public_key.to_vec(),
                licence: g
                    .licence
                    .ok_or(EntryError::InvalidEntry(BAD_LICENCE))?
                    .to_owned(),
                not_before: g.not_before,
                not_after: g.not_after,
                authority: g.authority.to_vec(),
                signature: g.signature.to_vec(),
            }),
            EntryFields::Revocation(r) => Entry::Revocation(Revocation {
                grant_id: Hash256::from_slice(r.grant_id).ok_or(EntryError::InvalidEntry(BAD_GRANT_ID))?,
                effective: r.effective,
                authority: r.authority.to_vec(),
                signature: r.signature.to_vec(),
            }),
        })
    }

    /// The unchecked view verification runs on.
    pub fn fields(&self) -> EntryFields<'_> {
        match self {
            Entry::Grant(g) => EntryFields::Grant(g.fields()),
            Entry::Revocation(r) => EntryFields::Revocation(r.fields()),
        }
    }

    /// The entry's id: the grant's `grant_id` or the revocation's
    /// `revocation_id`; a block's id covers it.
    pub fn entry_id(&self) -> Hash256 {
        self.fields().entry_id()
    }

    /// The stateless checks 1-2 of SPEC 8.1.
    pub fn verify(&self) -> Result<(), EntryError> {
        self.fields().verify()
    }

    /// The signing authority's key bytes.
    pub fn authority(&self) -> &[u8] {
        match self {
            Entry::Grant(g) => &g.authority,
            Entry::Revocation(r) => &r.authority,
        }
    }

    /// The canonical encoding (`docs/FORMAT.md`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 2 * 91 + 100 + 72);
        self.encode_into(&mut out);
        out
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Entry::Grant(g) => {
                out.extend_from_slice(&[GRANT_TAG, ENTRY_VERSION]);
                put_length_prefixed(out, &g.dr_public_key);
                put_length_prefixed(out, g.licence.as_bytes());
                out.extend_from_slice(&g.not_before.to_le_bytes());
                out.extend_from_slice(&g.not_after.to_le_bytes());
                put_length_prefixed(out, &g.authority);
                put_length_prefixed(out, &g.signature);
            }
            Entry::Revocation(r) => {
                out.extend_from_slice(&[REVOCATION_TAG, ENTRY_VERSION]);
                out.extend_from_slice(r.grant_id.as_bytes());
                out.extend_from_slice(&r.effective.to_le_bytes());
                put_length_prefixed(out, &r.authority);
                put_length_prefixed(out, &r.signature);
            }
        }
    }

    /// Decodes the canonical encoding; rejects an unknown tag or version,
    /// truncation, over-long lengths, a licence that is not UTF-8 and
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
        if tag != GRANT_TAG && tag != REVOCATION_TAG {
            return Err(DecodeError::WrongTag(tag));
        }
        if version != ENTRY_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        if tag == GRANT_TAG {
            let dr_public_key = reader.length_prefixed()?.to_vec();
            let licence = core::str::from_utf8(reader.length_prefixed()?).map_err(|_| DecodeError::InvalidUtf8)?;
            let not_before = reader.u64()?;
            let not_after = reader.u64()?;
            let authority = reader.length_prefixed()?.to_vec();
            let signature = reader.length_prefixed()?.to_vec();
            Ok(Entry::Grant(Grant {
                dr_public_key,
                licence: licence.to_owned(),
                not_before,
                not_after,
                authority,
                signature,
            }))
        } else {
            let grant_id = Hash256::from_bytes(reader.array()?);
            let effective = reader.u64()?;
            let authority = reader.length_prefixed()?.to_vec();
            let signature = reader.length_prefixed()?.to_vec();
            Ok(Entry::Revocation(Revocation { grant_id, effective, authority, signature }))
        }
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

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Grant(g) => g.fmt(f),
            Entry::Revocation(r) => r.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Curve;

    fn keys() -> (SigningKey, SigningKey) {
        (SigningKey::generate(Curve::P256).unwrap(), SigningKey::generate(Curve::Secp256k1).unwrap())
    }

    #[test]
    fn signed_entries_verify_and_round_trip() {
        let (authority, doctor) = keys();
        let grant = Grant::sign(&authority, doctor.public_key_der(), "GMC 1", 5, 9).unwrap();
        assert_eq!(grant.verify(), Ok(()));
        assert_eq!(grant.dr_hash(), doctor.public_key_hash());
        let revocation = Revocation::sign(&authority, grant.grant_id(), 7).unwrap();
        assert_eq!(revocation.verify(), Ok(()));
        for entry in [Entry::from(grant), Entry::from(revocation)] {
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

    #[test]
    fn signing_refuses_entries_that_cannot_verify() {
        let (authority, doctor) = keys();
        let der = doctor.public_key_der();
        let kind = |r: Result<Grant, EntrySignError>| r.unwrap_err().kind();
        assert_eq!(kind(Grant::sign(&authority, &der[1..], "x", 0, 1)), ErrorKind::InvalidEntry);
        assert_eq!(kind(Grant::sign(&authority, der, &"x".repeat(101), 0, 1)), ErrorKind::InvalidEntry);
        assert_eq!(kind(Grant::sign(&authority, der, "x", 2, 1)), ErrorKind::InvalidEntry);
        assert!(Grant::sign(&authority, der, &"x".repeat(100), 1, 1).is_ok());
    }

    #[test]
    fn checks_run_in_order() {
        let (authority, doctor) = keys();
        let grant = Grant::sign(&authority, doctor.public_key_der(), "x", 0, 1).unwrap();
        let mut fields = grant.fields();
        fields.signature = &[0x30, 0x00];
        assert_eq!(EntryFields::Grant(fields).verify(), Err(EntryError::InvalidEntrySignature));
        fields.licence = None;
        assert_eq!(EntryFields::Grant(fields).verify().unwrap_err().kind(), ErrorKind::InvalidEntry);
        let mut changed = grant.clone();
        changed.not_after = 2;
        assert_eq!(changed.verify(), Err(EntryError::InvalidEntrySignature));
        changed.authority = doctor.public_key_der().to_vec();
        assert_eq!(changed.verify(), Err(EntryError::InvalidEntrySignature));
    }

    #[test]
    fn decode_rejects_unknown_tags_and_versions() {
        let (authority, _) = keys();
        let bytes = Entry::from(Revocation::sign(&authority, Hash256::from_bytes([1; 32]), 0).unwrap()).to_bytes();
        let mut other = bytes.clone();
        other[0] = b'R';
        assert_eq!(Entry::from_bytes(&other), Err(DecodeError::WrongTag(b'R')));
        let mut other = bytes.clone();
        other[1] = 2;
        assert_eq!(Entry::from_bytes(&other), Err(DecodeError::UnsupportedVersion(2)));
    }
}

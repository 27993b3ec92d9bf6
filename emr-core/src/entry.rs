//! Registry entries of SPEC section 8.1: an authority's [`Grant`] admitting a
//! doctor and its [`Revocation`] withdrawing one, carried in blocks.
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
pub(crate) const INVALID_ENTRY_REASONS: [&str; 6] =
    [BAD_DOCTOR_KEY, BAD_LICENCE, BAD_WINDOW, BAD_AUTHORITY, BAD_GRANT_ID, BAD_CHAIN_ID];
const REVOKE_DOMAIN: &[u8] = b"cryptoemr/revoke/v2";

/// Why an entry is refused, one variant per kind, in check order.
///
/// The first two need nothing but the entry ([`EntryFields::verify`]); the
/// others are decided by a chain against its id, authorities and registry
/// and the time of the block that carries the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EntryError {
    /// A key that is not a valid SPKI on a supported curve, a licence that is
    /// not text or over 100 bytes, `not_before > not_after`, or a `grant_id`
    /// or `chain_id` that is not 32 bytes. The text says which.
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
    /// A revocation of a grant the active chain does not hold.
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
fn grant_preimage(
    chain_id: &[u8],
    dr_public_key: &[u8],
    licence: &[u8],
    not_before: u64,
    not_after: u64,
    authority: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        GRANT_DOMAIN.len() + chain_id.len() + dr_public_key.len() + licence.len() + authority.len() + 22,
    );
    out.extend_from_slice(GRANT_DOMAIN);
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
        grant_preimage(self.chain_id, self.dr_public_key, licence, self.not_before, self.not_after, self.authority)
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

    /// The chain id the entry names, as given.
    pub fn chain_id(&self) -> &[u8] {
        match self {
            EntryFields::Grant(g) => g.chain_id,
            EntryFields::Revocation(r) => r.chain_id,
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
/// Version 2 (SPEC v1.2) adds `chain_id`; version 1 entries named no chain
/// and are refused.
const ENTRY_VERSION: u8 = 2;
/// The smaller of the two encodings with empty variable-length fields (a
/// grant's: tag, version, chain id, four length prefixes, two times).
pub(crate) const MIN_ENCODED_ENTRY_LEN: usize = 2 + 32 + 8 + 8 + 8 + 8 + 8 + 8;

impl Entry {
    /// Builds an entry from loose fields, checking only what the typed fields
    /// cannot hold: a licence that is not text and a `grant_id` or
    /// `chain_id` that is not 32 bytes (all `invalid_entry`).
    pub fn from_fields(fields: &EntryFields<'_>) -> Result<Entry, EntryError> {
        let chain_id = Hash256::from_slice(fields.chain_id()).ok_or(EntryError::InvalidEntry(BAD_CHAIN_ID))?;
        Ok(match fields {
            EntryFields::Grant(g) => Entry::Grant(Grant {
                chain_id,
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
                chain_id,
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

    /// The chain the entry is made for.
    pub fn chain_id(&self) -> Hash256 {
        match self {
            Entry::Grant(g) => g.chain_id,
            Entry::Revocation(r) => r.chain_id,
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
                out.extend_from_slice(g.chain_id.as_bytes());
                put_length_prefixed(out, &g.dr_public_key);
                put_length_prefixed(out, g.licence.as_bytes());
                out.extend_from_slice(&g.not_before.to_le_bytes());
                out.extend_from_slice(&g.not_after.to_le_bytes());
                put_length_prefixed(out, &g.authority);
                put_length_prefixed(out, &g.signature);
            }
            Entry::Revocation(r) => {
                out.extend_from_slice(&[REVOCATION_TAG, ENTRY_VERSION]);
                out.extend_from_slice(r.chain_id.as_bytes());
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
        let chain_id = Hash256::from_bytes(reader.array()?);
        if tag == GRANT_TAG {
            let dr_public_key = reader.length_prefixed()?.to_vec();
            let licence = core::str::from_utf8(reader.length_prefixed()?).map_err(|_| DecodeError::InvalidUtf8)?;
            let not_before = reader.u64()?;
            let not_after = reader.u64()?;
            let authority = reader.length_prefixed()?.to_vec();
            let signature = reader.length_prefixed()?.to_vec();
            Ok(Entry::Grant(Grant {
                chain_id,
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
            Ok(Entry::Revocation(Revocation { chain_id, grant_id, effective, authority, signature }))
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

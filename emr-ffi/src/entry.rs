//! Entries (SPEC sections 8.1 and 10), `emr_entry`: an authority's grants
//! and revocations, its dispenser grants, pharmacies' dispenses and
//! cancellations. One handle type for the five; the getters of one type's
//! fields go through one generic path (`EntryKind`, `get_bytes`, ...).
//!
//! Since SPEC v1.2 every entry names the chain it is made for (`chain_id`,
//! the chain's emr_chain_id) and its signature must be low-S; the signing
//! and building functions take the chain id (ABI 1, docs/ABI.md).

use core::ffi::c_char;

use emr_core::entry::{CancellationFields, DispenseFields, DispenserGrantFields, GrantFields, RevocationFields};
use emr_core::{Cancellation, Dispense, DispenserGrant, Entry, EntryFields, Grant, Hash256, Revocation};

use crate::key::emr_key;
use crate::ptr::{self, Out, OutBuf, OutHandle};
use crate::record::emr_record;
use crate::status::{emr_status, Error};

/// An entry: an authority's grant admitting a doctor, its revocation of a
/// grant, its dispenser grant admitting a pharmacy, a pharmacy's dispense
/// of a prescription, or a cancellation of one (emr_entry_get_type).
/// Opaque; immutable once made, so one entry may be read and verified by
/// several threads at once.
pub struct emr_entry {
    pub(crate) inner: Entry,
}

/// What an entry is: one of the `EMR_ENTRY_*` values.
pub type emr_entry_type = u32;

/// A grant: admits the doctor whose key it names, from not_before to
/// not_after (both inclusive).
pub const EMR_ENTRY_GRANT: emr_entry_type = 1;
/// A revocation: from its effective time on, the grant it names no longer
/// authorizes.
pub const EMR_ENTRY_REVOCATION: emr_entry_type = 2;

/// A dispenser grant (SPEC 10): admits the pharmacy whose key it names to
/// dispense, from not_before to not_after (both inclusive).
pub const EMR_ENTRY_DISPENSER_GRANT: emr_entry_type = 3;
/// A dispense (SPEC 10): a pharmacy handed a prescription over,
/// countersigned by the patient.
pub const EMR_ENTRY_DISPENSE: emr_entry_type = 4;
/// A cancellation (SPEC 10): the prescriber or an authority withdrew a
/// prescription.
pub const EMR_ENTRY_CANCELLATION: emr_entry_type = 5;

/// The most entries a block may hold.
pub const EMR_MAX_ENTRIES: usize = 25;
/// The longest licence text of a grant, in UTF-8 bytes.
pub const EMR_MAX_LICENCE_BYTES: usize = 100;
/// The longest note of a dispense or reason of a cancellation, in UTF-8 bytes.
pub const EMR_MAX_NOTE_BYTES: usize = 100;

/// Text bytes (a licence, note, reason) as the core's view: `None` when
/// they are not UTF-8 (which verification reports as `invalid_entry`).
fn text_view(bytes: &[u8]) -> Option<&str> {
    core::str::from_utf8(bytes).ok()
}

/// Borrows the handles of a C array of entries (a block's entries).
pub(crate) unsafe fn entry_handles<'a>(
    entries: *const *const emr_entry,
    count: usize,
    name: &str,
) -> Result<Vec<&'a Entry>, Error> {
    // SAFETY: the caller's documented contract: `count` pointers, each a
    // live entry or NULL (checked).
    unsafe { ptr::slice(entries, count, name) }?
        .iter()
        .enumerate()
        .map(|(i, &entry)| unsafe { ptr::handle(entry, format_args!("{name}[{i}]")) }.map(|e| &e.inner))
        .collect()
}

/// One entry type of the core as the getters see it: what a getter of
/// that type's fields asks of the handle (`Entry` itself for the fields
/// every entry has).
trait EntryKind {
    /// The type's name in messages.
    const NAME: &'static str;
    fn of(entry: &Entry) -> Option<&Self>;
}

impl EntryKind for Entry {
    const NAME: &'static str = "entry";
    fn of(entry: &Entry) -> Option<&Entry> {
        Some(entry)
    }
}

impl EntryKind for Grant {
    const NAME: &'static str = "grant";
    fn of(entry: &Entry) -> Option<&Grant> {
        match entry {
            Entry::Grant(g) => Some(g),
            _ => None,
        }
    }
}

impl EntryKind for Revocation {
    const NAME: &'static str = "revocation";
    fn of(entry: &Entry) -> Option<&Revocation> {
        match entry {
            Entry::Revocation(r) => Some(r),
            _ => None,
        }
    }
}

impl EntryKind for DispenserGrant {
    const NAME: &'static str = "dispenser grant";
    fn of(entry: &Entry) -> Option<&DispenserGrant> {
        match entry {
            Entry::DispenserGrant(g) => Some(g),
            _ => None,
        }
    }
}

impl EntryKind for Dispense {
    const NAME: &'static str = "dispense";
    fn of(entry: &Entry) -> Option<&Dispense> {
        match entry {
            Entry::Dispense(d) => Some(d),
            _ => None,
        }
    }
}

impl EntryKind for Cancellation {
    const NAME: &'static str = "cancellation";
    fn of(entry: &Entry) -> Option<&Cancellation> {
        match entry {
            Entry::Cancellation(c) => Some(c),
            _ => None,
        }
    }
}

/// The entry's type: its `EMR_ENTRY_*` value and its name in messages.
fn type_of(entry: &Entry) -> (emr_entry_type, &'static str) {
    match entry {
        Entry::Grant(_) => (EMR_ENTRY_GRANT, Grant::NAME),
        Entry::Revocation(_) => (EMR_ENTRY_REVOCATION, Revocation::NAME),
        Entry::DispenserGrant(_) => (EMR_ENTRY_DISPENSER_GRANT, DispenserGrant::NAME),
        Entry::Dispense(_) => (EMR_ENTRY_DISPENSE, Dispense::NAME),
        Entry::Cancellation(_) => (EMR_ENTRY_CANCELLATION, Cancellation::NAME),
    }
}

/// The entry as a `T`; EMR_INVALID_ARGUMENT if it is of another type
/// (checked after every NULL argument).
fn typed<T: EntryKind>(entry: &Entry) -> Result<&T, Error> {
    T::of(entry)
        .ok_or_else(|| Error::invalid_argument(format!("the entry is a {}, not a {}", type_of(entry).1, T::NAME)))
}

/// A getter of a variable-size field: the caller's buffer and in/out length.
///
/// # Safety
/// The getters' documented contracts of `entry` and (`buf`, `len`).
unsafe fn get_bytes<T: EntryKind>(
    entry: *const emr_entry,
    buf: *mut u8,
    len: *mut usize,
    field: impl FnOnce(&T) -> Result<&[u8], Error>,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let entry = unsafe { ptr::handle(entry, "entry") }?;
    let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
    out.write(field(typed::<T>(&entry.inner)?)?)
}

/// A getter of a fixed-size field (an id or a hash) into `N` bytes at `out`.
///
/// # Safety
/// The getters' documented contracts of `entry` and `out` (N writable bytes).
unsafe fn get_array<T: EntryKind, const N: usize>(
    entry: *const emr_entry,
    out: *mut u8,
    name: &str,
    field: impl FnOnce(&T) -> [u8; N],
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let entry = unsafe { ptr::handle(entry, "entry") }?;
    let out = unsafe { ptr::out_array::<N>(out, name) }?;
    out.write(field(typed::<T>(&entry.inner)?));
    Ok(())
}

/// A getter of one value (a time, a nonce) into `*out`.
///
/// # Safety
/// The getters' documented contracts of `entry` and `out`.
unsafe fn get_value<T: EntryKind, V>(
    entry: *const emr_entry,
    out: *mut V,
    name: &str,
    field: impl FnOnce(&T) -> V,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let entry = unsafe { ptr::handle(entry, "entry") }?;
    let out = unsafe { Out::new(out, name) }?;
    out.write(field(typed::<T>(&entry.inner)?));
    Ok(())
}

/// The body of every `emr_*_sign`: the new entry goes to `out`, signed by
/// `key` for the chain `chain_id32`; `sign` reads the type's own arguments
/// (after these, so NULL checks run in argument order) and signs.
///
/// # Safety
/// The signing functions' documented contracts of `key`, `chain_id32` and
/// `out`, and of whatever `sign` reads.
unsafe fn signed<E: Into<Entry>>(
    out: *mut *mut emr_entry,
    key: *const emr_key,
    key_name: &str,
    chain_id32: *const u8,
    sign: impl FnOnce(&emr_core::SigningKey, Hash256) -> Result<E, Error>,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let out = unsafe { OutHandle::new(out, "out") }?;
    let key = unsafe { ptr::handle(key, key_name) }?;
    let chain_id = Hash256::from_bytes(*unsafe { ptr::array::<32>(chain_id32, "chain_id32") }?);
    out.set(emr_entry { inner: sign(&key.inner, chain_id)?.into() });
    Ok(())
}

/// The body of every `emr_*_new`: an entry built from loose fields (checked
/// only for what a typed entry cannot hold, as `Entry::from_fields` says).
///
/// # Safety
/// The building functions' documented contracts of `out` and of whatever
/// `fields` reads.
unsafe fn built<'a>(
    out: *mut *mut emr_entry,
    fields: impl FnOnce() -> Result<EntryFields<'a>, Error>,
) -> Result<(), Error> {
    // SAFETY: forwarded contract of `out`.
    let out = unsafe { OutHandle::new(out, "out") }?;
    out.set(emr_entry { inner: Entry::from_fields(&fields()?)? });
    Ok(())
}

/// Signs a grant (SPEC 8.1): the authority admits the doctor whose public key
/// is dr_public_key to write records, in the chain whose id is chain_id32,
/// from not_before to not_after, both inclusive (0 and UINT64_MAX for
/// "always"). The signature is low-S. Another chain refuses the grant
/// (EMR_WRONG_CHAIN), so a grant made for a test chain is no grant on the
/// real one.
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if dr_public_key is not an
///          uncompressed SPKI on secp256k1 or P-256, the licence is not
///          UTF-8 or is over 100 bytes, or not_before > not_after (a grant
///          that could never verify); EMR_INVALID_KEY if the key could not
///          sign; EMR_NULL_ARGUMENT if authority, chain_id32 or out is NULL,
///          or a data pointer is NULL with a non-zero length.
/// Args:    authority:         the authority's private key.
/// In:      chain_id32:        the id of the chain the grant is for
///                             (emr_chain_id of that chain), 32 bytes.
///          dr_public_key:     the doctor's public key, SPKI DER.
///          dr_public_key_len: its length.
///          licence:           UTF-8 text (registration number, name), not
///                             NUL-terminated.
///          licence_len:       its length in bytes (at most 100).
///          not_before:        first second the grant authorizes.
///          not_after:         last second the grant authorizes.
/// Out:     out:               a new entry, freed by the caller with
///                             emr_entry_free; NULL on failure.
/// Thread-safety: safe to call from any thread, concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_grant_sign(
    authority: *const emr_key,
    chain_id32: *const u8,
    dr_public_key: *const u8,
    dr_public_key_len: usize,
    licence: *const c_char,
    licence_len: usize,
    not_before: u64,
    not_after: u64,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out`, `authority`, `chain_id32`
        // and the pairs.
        unsafe {
            signed(out, authority, "authority", chain_id32, |key, chain_id| {
                let dr_public_key = ptr::slice(dr_public_key, dr_public_key_len, "dr_public_key")?;
                let licence = ptr::slice(licence.cast::<u8>(), licence_len, "licence")?;
                let licence = utf8(licence, "licence")?;
                Ok(Grant::sign(key, chain_id, dr_public_key, licence, not_before, not_after)?)
            })
        }
    })
}

/// Signs a revocation (SPEC 8.1): from effective on, the grant whose id is
/// grant_id32 no longer authorizes, in the chain whose id is chain_id32.
/// Any authority of the chain may revoke any grant of the chain. The
/// signature is low-S.
///
/// A chain carries a revocation only in a block whose timestamp has
/// reached effective (EMR_REVOCATION_NOT_YET_EFFECTIVE before); the pool
/// holds an early one (EMR_SUBMIT_HELD) until a template's time reaches
/// it. It may be backdated: records already in the chain stay.
///
/// Returns: EMR_OK; EMR_INVALID_KEY if the key could not sign;
///          EMR_NULL_ARGUMENT if authority, chain_id32, grant_id32 or out
///          is NULL.
/// Args:    authority:  the authority's private key.
/// In:      chain_id32: the id of the chain the revocation is for
///                      (emr_chain_id), 32 bytes.
///          grant_id32: the grant's id (emr_entry_id of the grant), 32 bytes.
///          effective:  Unix seconds from which the grant no longer
///                      authorizes.
/// Out:     out:        a new entry, freed by the caller with
///                      emr_entry_free; NULL on failure.
/// Thread-safety: safe to call from any thread, concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_revocation_sign(
    authority: *const emr_key,
    chain_id32: *const u8,
    grant_id32: *const u8,
    effective: u64,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out`, `authority`, `chain_id32`
        // and `grant_id32`.
        unsafe {
            signed(out, authority, "authority", chain_id32, |key, chain_id| {
                let grant_id = Hash256::from_bytes(*ptr::array::<32>(grant_id32, "grant_id32")?);
                Ok(Revocation::sign(key, chain_id, grant_id, effective)?)
            })
        }
    })
}

/// Builds a grant from loose fields. Checks only what an entry cannot hold
/// (no key, window or signature check: call emr_entry_verify).
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if the licence is not UTF-8 or
///          chain_id_len is not 32; EMR_NULL_ARGUMENT if out is NULL, or a
///          data pointer is NULL with a non-zero length.
/// In:      chain_id, chain_id_len: the id of the chain the grant is for,
///               32 bytes.
///          dr_public_key, dr_public_key_len: the doctor's SPKI DER.
///          licence, licence_len: the licence text, not NUL-terminated.
///          not_before, not_after: the window, Unix seconds.
///          authority, authority_len: the authority's SPKI DER.
///          signature, signature_len: the authority's DER ECDSA signature.
/// Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
///               on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_grant_new(
    chain_id: *const u8,
    chain_id_len: usize,
    dr_public_key: *const u8,
    dr_public_key_len: usize,
    licence: *const c_char,
    licence_len: usize,
    not_before: u64,
    not_after: u64,
    authority: *const u8,
    authority_len: usize,
    signature: *const u8,
    signature_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and every pair.
        unsafe {
            built(out, || {
                Ok(EntryFields::Grant(GrantFields {
                    chain_id: ptr::slice(chain_id, chain_id_len, "chain_id")?,
                    dr_public_key: ptr::slice(dr_public_key, dr_public_key_len, "dr_public_key")?,
                    licence: text_view(ptr::slice(licence.cast::<u8>(), licence_len, "licence")?),
                    not_before,
                    not_after,
                    authority: ptr::slice(authority, authority_len, "authority")?,
                    signature: ptr::slice(signature, signature_len, "signature")?,
                }))
            })
        }
    })
}

/// Builds a revocation from loose fields. Checks only what an entry cannot
/// hold (no key or signature check: call emr_entry_verify).
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if chain_id_len or grant_id_len is
///          not 32; EMR_NULL_ARGUMENT if out is NULL, or a data pointer is
///          NULL with a non-zero length.
/// In:      chain_id, chain_id_len: the id of the chain the revocation is
///               for, 32 bytes.
///          grant_id, grant_id_len: the revoked grant's id, 32 bytes.
///          effective: Unix seconds.
///          authority, authority_len: the authority's SPKI DER.
///          signature, signature_len: the authority's DER ECDSA signature.
/// Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
///               on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_revocation_new(
    chain_id: *const u8,
    chain_id_len: usize,
    grant_id: *const u8,
    grant_id_len: usize,
    effective: u64,
    authority: *const u8,
    authority_len: usize,
    signature: *const u8,
    signature_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and every pair.
        unsafe {
            built(out, || {
                Ok(EntryFields::Revocation(RevocationFields {
                    chain_id: ptr::slice(chain_id, chain_id_len, "chain_id")?,
                    grant_id: ptr::slice(grant_id, grant_id_len, "grant_id")?,
                    effective,
                    authority: ptr::slice(authority, authority_len, "authority")?,
                    signature: ptr::slice(signature, signature_len, "signature")?,
                }))
            })
        }
    })
}

/// Verifies an entry on its own: the stateless checks 1-2 of SPEC 8.1 (and
/// of SPEC 10), in order. Whether it names the chain (EMR_WRONG_CHAIN), whether its
/// authority belongs to the chain and whether the chain's registry and the
/// block's time accept it are decided when a block carrying it is added.
///
/// Returns: EMR_OK if the entry is valid on its own; EMR_INVALID_ENTRY (a
///          key not an uncompressed SPKI on a supported curve, a licence,
///          note or reason over 100 bytes, not_before > not_after, a
///          dr_hash that is not 20 bytes); then EMR_INVALID_ENTRY_SIGNATURE
///          (not strict DER, high-S, or it does not verify under the
///          entry's signer over its content, chain id included; a
///          dispense's pharmacy signature, then its patient's);
///          EMR_NULL_ARGUMENT if entry is NULL.
/// Args:    entry: the entry.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_verify(entry: *const emr_entry) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `entry`.
        let entry = unsafe { ptr::handle(entry, "entry") }?;
        Ok(entry.inner.verify()?)
    })
}

/// The entry's id: a grant's grant_id or a revocation's revocation_id,
/// SHA-256(preimage || signature). A block's id covers it, and a
/// revocation names a grant by it.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or out32 is NULL.
/// Args:    entry: the entry.
/// Out:     out32: receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_id(entry: *const emr_entry, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `out32`.
        unsafe { get_array::<Entry, 32>(entry, out32, "out32", |e| e.entry_id().to_bytes()) }
    })
}

/// The id of the chain the entry is made for (SPEC 5, v1.2): a chain
/// carries the entry only when this is its own emr_chain_id, and refuses it
/// with EMR_WRONG_CHAIN otherwise.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or out32 is NULL.
/// Args:    entry: the entry.
/// Out:     out32: receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_chain_id(entry: *const emr_entry, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `out32`.
        unsafe { get_array::<Entry, 32>(entry, out32, "out32", |e| e.chain_id().to_bytes()) }
    })
}

/// Which of the five types the entry is.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or type_out is NULL.
/// Args:    entry:    the entry.
/// Out:     type_out: EMR_ENTRY_GRANT, EMR_ENTRY_REVOCATION,
///                    EMR_ENTRY_DISPENSER_GRANT, EMR_ENTRY_DISPENSE or
///                    EMR_ENTRY_CANCELLATION.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_get_type(entry: *const emr_entry, type_out: *mut emr_entry_type) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `type_out`.
        unsafe { get_value::<Entry, _>(entry, type_out, "type_out", |e| type_of(e).0) }
    })
}

/// The entry's authority: the SPKI DER of the key that signed a grant, a
/// revocation or a dispenser grant.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT for a dispense or a cancellation,
///          which no authority signs (emr_dispense_pharmacy_public_key,
///          emr_cancellation_canceller); EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    entry: the entry.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_authority(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe {
            get_bytes::<Entry>(entry, buf, len, |e| {
                e.authority().ok_or_else(|| {
                    Error::invalid_argument(format!("the entry is a {}, which has no authority", type_of(e).1))
                })
            })
        }
    })
}

/// The entry's signature (DER ECDSA-Sig-Value): by its authority, by the
/// pharmacy of a dispense (the patient's is emr_dispense_patient_signature),
/// by the canceller of a cancellation.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    entry: the entry.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_signature(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Entry>(entry, buf, len, |e| Ok(e.signature())) }
    })
}

/// A grant's dr_public_key: the admitted doctor's SPKI DER.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a revocation;
///          EMR_BUFFER_TOO_SMALL if *len is less than the size needed
///          (written to *len); EMR_NULL_ARGUMENT if entry or len is NULL, or
///          buf is NULL while *len > 0.
/// Args:    entry: a grant.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_grant_dr_public_key(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Grant>(entry, buf, len, |g| Ok(&g.dr_public_key)) }
    })
}

/// A grant's licence text as UTF-8 bytes, NOT NUL-terminated.
///
/// Returns: as emr_grant_dr_public_key.
/// Args:    entry: a grant.
/// Out:     buf:   receives the text (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_grant_licence(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Grant>(entry, buf, len, |g| Ok(g.licence.as_bytes())) }
    })
}

/// A grant's doctor hash, SHA-1 of its dr_public_key: the dr_hash of the
/// records it authorizes.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a revocation;
///          EMR_NULL_ARGUMENT if entry or out20 is NULL.
/// Args:    entry: a grant.
/// Out:     out20: receives 20 bytes.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_grant_dr_hash(entry: *const emr_entry, out20: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `out20`.
        unsafe { get_array::<Grant, 20>(entry, out20, "out20", |g| g.dr_hash().to_bytes()) }
    })
}

/// A grant's validity window, both ends inclusive.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a revocation;
///          EMR_NULL_ARGUMENT if entry is NULL.
/// Args:    entry:      a grant.
/// Out:     not_before: the first second it authorizes; may be NULL if not
///                      wanted.
///          not_after:  the last second it authorizes; may be NULL if not
///                      wanted.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_grant_window(
    entry: *const emr_entry,
    not_before: *mut u64,
    not_after: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let g = typed::<Grant>(&unsafe { ptr::handle(entry, "entry") }?.inner)?;
        if let Some(out) = unsafe { Out::optional(not_before) } {
            out.write(g.not_before);
        }
        if let Some(out) = unsafe { Out::optional(not_after) } {
            out.write(g.not_after);
        }
        Ok(())
    })
}

/// A revocation's grant id: the id of the grant it withdraws.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a grant;
///          EMR_NULL_ARGUMENT if entry or out32 is NULL.
/// Args:    entry: a revocation.
/// Out:     out32: receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_revocation_grant_id(entry: *const emr_entry, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `out32`.
        unsafe { get_array::<Revocation, 32>(entry, out32, "out32", |r| r.grant_id.to_bytes()) }
    })
}

/// A revocation's effective time: from this second on, the grant no longer
/// authorizes.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is a grant;
///          EMR_NULL_ARGUMENT if entry or effective is NULL.
/// Args:    entry:     a revocation.
/// Out:     effective: Unix seconds.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_revocation_effective(entry: *const emr_entry, effective: *mut u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `effective`.
        unsafe { get_value::<Revocation, _>(entry, effective, "effective", |r| r.effective) }
    })
}

/// A text argument (licence, note, reason) as UTF-8; EMR_INVALID_ENTRY
/// when it is not.
fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, Error> {
    core::str::from_utf8(bytes)
        .map_err(|_| Error::new(crate::status::EMR_INVALID_ENTRY, format!("invalid_entry: {what} is not UTF-8 text")))
}

/// Signs a dispenser grant (SPEC 10): the authority admits the pharmacy
/// whose public key is pharmacy_public_key to dispense, in the chain whose
/// id is chain_id32, from not_before to not_after, both inclusive (0 and
/// UINT64_MAX for "always"). A revocation (emr_revocation_sign) naming its
/// id withdraws it. It never authorizes records, and a doctor's grant never
/// authorizes dispensing. The signature is low-S.
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if pharmacy_public_key is not an
///          uncompressed SPKI on secp256k1 or P-256, the licence is not
///          UTF-8 or is over 100 bytes, or not_before > not_after;
///          EMR_INVALID_KEY if the key could not sign; EMR_NULL_ARGUMENT if
///          authority, chain_id32 or out is NULL, or a data pointer is NULL
///          with a non-zero length.
/// Args:    authority:               the authority's private key.
/// In:      chain_id32:              the id of the chain the grant is for
///                                   (emr_chain_id), 32 bytes.
///          pharmacy_public_key:     the pharmacy's public key, SPKI DER.
///          pharmacy_public_key_len: its length.
///          licence:                 UTF-8 text, not NUL-terminated.
///          licence_len:             its length in bytes (at most 100).
///          not_before:              first second the grant authorizes.
///          not_after:               last second the grant authorizes.
/// Out:     out:                     a new entry, freed by the caller with
///                                   emr_entry_free; NULL on failure.
/// Thread-safety: safe to call from any thread, concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_dispenser_grant_sign(
    authority: *const emr_key,
    chain_id32: *const u8,
    pharmacy_public_key: *const u8,
    pharmacy_public_key_len: usize,
    licence: *const c_char,
    licence_len: usize,
    not_before: u64,
    not_after: u64,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out`, `authority`, `chain_id32`
        // and the pairs.
        unsafe {
            signed(out, authority, "authority", chain_id32, |key, chain_id| {
                let pharmacy = ptr::slice(pharmacy_public_key, pharmacy_public_key_len, "pharmacy_public_key")?;
                let licence = utf8(ptr::slice(licence.cast::<u8>(), licence_len, "licence")?, "licence")?;
                Ok(DispenserGrant::sign(key, chain_id, pharmacy, licence, not_before, not_after)?)
            })
        }
    })
}

/// Signs, with both keys at hand, the dispensing (SPEC 10) of the
/// prescription record by the pharmacy's key to the patient's key, for the
/// chain chain_id32. The note (quantity, batch) is public. The chain
/// carries at most one dispensing per prescription. When the patient signs
/// on their own card or phone, use emr_dispense_prepare instead. Both
/// signatures are low-S.
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if the note is not UTF-8 or is over
///          100 bytes; EMR_WRONG_PATIENT if the patient's key is not the
///          record's patient's; EMR_PUBLIC_TEXT_ON_SEALED for a note on a
///          sealed prescription; EMR_INVALID_KEY if a key could not sign;
///          EMR_NULL_ARGUMENT if pharmacy, patient, chain_id32, record or
///          out is NULL, or note is NULL with a non-zero note_len.
/// Args:    pharmacy:   the pharmacy's private key.
///          patient:    the patient's private key.
/// In:      chain_id32: the id of the chain (emr_chain_id), 32 bytes.
///          record:     the prescription, as the chain holds it.
///          note:       UTF-8 text, not NUL-terminated (NULL allowed when
///                      note_len is 0).
///          note_len:   its length in bytes (at most 100).
/// Out:     out:        a new entry, freed by the caller with
///                      emr_entry_free; NULL on failure.
/// Thread-safety: safe to call from any thread, concurrently on the same keys.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_sign(
    pharmacy: *const emr_key,
    patient: *const emr_key,
    chain_id32: *const u8,
    record: *const emr_record,
    note: *const c_char,
    note_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        unsafe {
            signed(out, pharmacy, "pharmacy", chain_id32, |pharmacy, chain_id| {
                let patient = ptr::handle(patient, "patient")?;
                let record = ptr::handle(record, "record")?;
                let note = utf8(ptr::slice(note.cast::<u8>(), note_len, "note")?, "note")?;
                Ok(Dispense::sign(pharmacy, &patient.inner, chain_id, &record.inner, note)?)
            })
        }
    })
}

/// The first step of a dispensing the patient signs on their own card or
/// phone: the dispensing of record by the pharmacy whose public key is
/// pharmacy_public_key to the patient whose public key is
/// patient_public_key, with no signature yet. Give the patient's device
/// its digest (emr_dispense_digest); attach each signature made of it with
/// emr_dispense_add_signature (the pharmacy's) and
/// emr_dispense_add_patient_signature (the patient's).
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if a key is not an uncompressed SPKI
///          on a supported curve, or the note is not UTF-8 or is over 100
///          bytes; EMR_WRONG_PATIENT, EMR_PUBLIC_TEXT_ON_SEALED as for
///          emr_dispense_sign; EMR_NULL_ARGUMENT if chain_id32, record or
///          out is NULL, or a data pointer is NULL with a non-zero length.
/// In:      chain_id32: the id of the chain (emr_chain_id), 32 bytes.
///          record:     the prescription, as the chain holds it.
///          pharmacy_public_key, pharmacy_public_key_len: the pharmacy's
///                      SPKI DER.
///          patient_public_key, patient_public_key_len: the patient's SPKI
///                      DER.
///          note, note_len: UTF-8 text, not NUL-terminated.
/// Out:     out:        a new entry, freed by the caller with
///                      emr_entry_free; NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_prepare(
    chain_id32: *const u8,
    record: *const emr_record,
    pharmacy_public_key: *const u8,
    pharmacy_public_key_len: usize,
    patient_public_key: *const u8,
    patient_public_key_len: usize,
    note: *const c_char,
    note_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain_id = Hash256::from_bytes(*unsafe { ptr::array::<32>(chain_id32, "chain_id32") }?);
        let record = unsafe { ptr::handle(record, "record") }?;
        let pharmacy = unsafe { ptr::slice(pharmacy_public_key, pharmacy_public_key_len, "pharmacy_public_key") }?;
        let patient = unsafe { ptr::slice(patient_public_key, patient_public_key_len, "patient_public_key") }?;
        let note = utf8(unsafe { ptr::slice(note.cast::<u8>(), note_len, "note") }?, "note")?;
        out.set(emr_entry { inner: Dispense::unsigned(chain_id, &record.inner, pharmacy, patient, note)?.into() });
        Ok(())
    })
}

/// The body of the two emr_dispense_add_*signature functions: a copy of
/// the dispense with one more signature attached.
///
/// # Safety
/// Their documented contracts of `dispense`, (`signature`, `len`) and `out`.
unsafe fn with_signature(
    dispense: *const emr_entry,
    signature: *const u8,
    signature_len: usize,
    out: *mut *mut emr_entry,
    attach: fn(&mut Dispense, &[u8]) -> Result<(), emr_core::EntryError>,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let out = unsafe { OutHandle::new(out, "out") }?;
    let entry = unsafe { ptr::handle(dispense, "dispense") }?;
    let signature = unsafe { ptr::slice(signature, signature_len, "signature") }?;
    let mut copy = typed::<Dispense>(&entry.inner)?.clone();
    attach(&mut copy, signature)?;
    out.set(emr_entry { inner: copy.into() });
    Ok(())
}

/// A copy of a dispense with the pharmacy's signature of its digest
/// (emr_dispense_digest) attached, made elsewhere (an HSM, say): strict
/// DER; a high-S signature is stored in its low-S form, the same signature
/// for the key. The dispense given is not changed (entries are immutable).
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY_SIGNATURE if the signature is not
///          strict DER or does not verify under the pharmacy's key;
///          EMR_INVALID_ENTRY if that key is malformed;
///          EMR_INVALID_ARGUMENT if the entry is not a dispense;
///          EMR_NULL_ARGUMENT if dispense or out is NULL, or signature is
///          NULL with a non-zero signature_len.
/// Args:    dispense:      a dispense (emr_dispense_prepare).
/// In:      signature:     DER ECDSA-Sig-Value of the digest.
///          signature_len: its length.
/// Out:     out:           a new entry, freed by the caller with
///                         emr_entry_free; NULL on failure.
/// Thread-safety: safe to call concurrently on the same dispense.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_add_signature(
    dispense: *const emr_entry,
    signature: *const u8,
    signature_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        unsafe { with_signature(dispense, signature, signature_len, out, Dispense::attach_signature) }
    })
}

/// A copy of a dispense with the patient's signature of its digest
/// attached, made on their card or phone; as emr_dispense_add_signature,
/// checked under the patient's key.
///
/// Returns: as emr_dispense_add_signature.
/// Args:    dispense:      a dispense.
/// In:      signature:     DER ECDSA-Sig-Value of the digest.
///          signature_len: its length.
/// Out:     out:           a new entry, freed by the caller with
///                         emr_entry_free; NULL on failure.
/// Thread-safety: safe to call concurrently on the same dispense.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_add_patient_signature(
    dispense: *const emr_entry,
    signature: *const u8,
    signature_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        unsafe { with_signature(dispense, signature, signature_len, out, Dispense::attach_patient_signature) }
    })
}

/// Signs, with key (the prescriber's, or an authority's of the chain), the
/// cancellation (SPEC 10) of the prescription record for the chain
/// chain_id32. The reason is public. Whether the key may cancel is the
/// chain's to say (EMR_UNAUTHORIZED_CANCELLER). The signature is low-S.
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if the reason is not UTF-8 or is over
///          100 bytes; EMR_PUBLIC_TEXT_ON_SEALED for a reason on a sealed
///          prescription; EMR_INVALID_KEY if the key could not sign;
///          EMR_NULL_ARGUMENT if key, chain_id32, record or out is NULL, or
///          reason is NULL with a non-zero reason_len.
/// Args:    key:        the canceller's private key.
/// In:      chain_id32: the id of the chain (emr_chain_id), 32 bytes.
///          record:     the prescription, as the chain holds it.
///          reason:     UTF-8 text, not NUL-terminated (NULL allowed when
///                      reason_len is 0).
///          reason_len: its length in bytes (at most 100).
/// Out:     out:        a new entry, freed by the caller with
///                      emr_entry_free; NULL on failure.
/// Thread-safety: safe to call from any thread, concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_cancellation_sign(
    key: *const emr_key,
    chain_id32: *const u8,
    record: *const emr_record,
    reason: *const c_char,
    reason_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        unsafe {
            signed(out, key, "key", chain_id32, |key, chain_id| {
                let record = ptr::handle(record, "record")?;
                let reason = utf8(ptr::slice(reason.cast::<u8>(), reason_len, "reason")?, "reason")?;
                Ok(Cancellation::sign(key, chain_id, &record.inner, reason)?)
            })
        }
    })
}

/// Builds a dispenser grant from loose fields, as emr_grant_new builds a
/// grant (no key, window or signature check: call emr_entry_verify).
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if the licence is not UTF-8 or
///          chain_id_len is not 32; EMR_NULL_ARGUMENT if out is NULL, or a
///          data pointer is NULL with a non-zero length.
/// In:      chain_id, chain_id_len: the chain's id, 32 bytes.
///          pharmacy_public_key, pharmacy_public_key_len: the pharmacy's
///               SPKI DER.
///          licence, licence_len: the licence text, not NUL-terminated.
///          not_before, not_after: the window, Unix seconds.
///          authority, authority_len: the authority's SPKI DER.
///          signature, signature_len: the authority's DER ECDSA signature.
/// Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
///               on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_dispenser_grant_new(
    chain_id: *const u8,
    chain_id_len: usize,
    pharmacy_public_key: *const u8,
    pharmacy_public_key_len: usize,
    licence: *const c_char,
    licence_len: usize,
    not_before: u64,
    not_after: u64,
    authority: *const u8,
    authority_len: usize,
    signature: *const u8,
    signature_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and every pair.
        unsafe {
            built(out, || {
                Ok(EntryFields::DispenserGrant(DispenserGrantFields {
                    chain_id: ptr::slice(chain_id, chain_id_len, "chain_id")?,
                    pharmacy_public_key: ptr::slice(
                        pharmacy_public_key,
                        pharmacy_public_key_len,
                        "pharmacy_public_key",
                    )?,
                    licence: text_view(ptr::slice(licence.cast::<u8>(), licence_len, "licence")?),
                    not_before,
                    not_after,
                    authority: ptr::slice(authority, authority_len, "authority")?,
                    signature: ptr::slice(signature, signature_len, "signature")?,
                }))
            })
        }
    })
}

/// The fields of a dispense or cancellation that name its prescription
/// (SPEC 10), as emr_dispense_new and emr_cancellation_new take them: a
/// caller's struct, read only during the call.
#[repr(C)]
pub struct emr_prescription_ref {
    /// Should be 20 bytes: the prescriber's dr_hash.
    pub dr_hash: *const u8,
    /// Length of dr_hash in bytes.
    pub dr_hash_len: usize,
    /// The record's nonce.
    pub nonce: u64,
    /// Should be 32 bytes: the record's signature hash
    /// (emr_record_signature_hash).
    pub record_hash: *const u8,
    /// Length of record_hash in bytes.
    pub record_hash_len: usize,
}

/// Reads a caller's emr_prescription_ref.
///
/// # Safety
/// `prescription` is NULL or a valid struct whose pairs follow the (pointer,
/// length) contract.
unsafe fn prescription_fields<'a>(
    prescription: *const emr_prescription_ref,
) -> Result<(&'a [u8], u64, &'a [u8]), Error> {
    // SAFETY: forwarded contracts.
    let p = unsafe { ptr::handle(prescription, "prescription") }?;
    let dr_hash = unsafe { ptr::slice(p.dr_hash, p.dr_hash_len, "prescription->dr_hash") }?;
    let record_hash = unsafe { ptr::slice(p.record_hash, p.record_hash_len, "prescription->record_hash") }?;
    Ok((dr_hash, p.nonce, record_hash))
}

/// Builds a dispense from loose fields. Checks only what an entry cannot
/// hold (no key or signature check: call emr_entry_verify).
///
/// Returns: EMR_OK; EMR_INVALID_ENTRY if the note is not UTF-8, chain_id_len
///          or the record hash's length is not 32 or the dr_hash's not 20;
///          EMR_NULL_ARGUMENT if prescription or out is NULL, or a data
///          pointer is NULL with a non-zero length.
/// In:      chain_id, chain_id_len: the chain's id, 32 bytes.
///          prescription: the prescription the dispense names.
///          pharmacy_public_key, pharmacy_public_key_len: SPKI DER.
///          patient_public_key, patient_public_key_len: SPKI DER.
///          note, note_len: the note, not NUL-terminated.
///          signature, signature_len: the pharmacy's DER ECDSA signature.
///          patient_signature, patient_signature_len: the patient's.
/// Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
///               on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_new(
    chain_id: *const u8,
    chain_id_len: usize,
    prescription: *const emr_prescription_ref,
    pharmacy_public_key: *const u8,
    pharmacy_public_key_len: usize,
    patient_public_key: *const u8,
    patient_public_key_len: usize,
    note: *const c_char,
    note_len: usize,
    signature: *const u8,
    signature_len: usize,
    patient_signature: *const u8,
    patient_signature_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out`, `prescription` and every pair.
        unsafe {
            built(out, || {
                let (dr_hash, nonce, record_hash) = prescription_fields(prescription)?;
                Ok(EntryFields::Dispense(DispenseFields {
                    chain_id: ptr::slice(chain_id, chain_id_len, "chain_id")?,
                    dr_hash,
                    nonce,
                    record_hash,
                    pharmacy_public_key: ptr::slice(
                        pharmacy_public_key,
                        pharmacy_public_key_len,
                        "pharmacy_public_key",
                    )?,
                    patient_public_key: ptr::slice(patient_public_key, patient_public_key_len, "patient_public_key")?,
                    note: text_view(ptr::slice(note.cast::<u8>(), note_len, "note")?),
                    signature: ptr::slice(signature, signature_len, "signature")?,
                    patient_signature: ptr::slice(patient_signature, patient_signature_len, "patient_signature")?,
                }))
            })
        }
    })
}

/// Builds a cancellation from loose fields. Checks only what an entry
/// cannot hold (no key or signature check: call emr_entry_verify).
///
/// Returns: as emr_dispense_new (the reason for the note).
/// In:      chain_id, chain_id_len: the chain's id, 32 bytes.
///          prescription: the prescription the cancellation names.
///          canceller, canceller_len: the canceller's SPKI DER.
///          reason, reason_len: the reason, not NUL-terminated.
///          signature, signature_len: the canceller's DER ECDSA signature.
/// Out:     out: a new entry, freed by the caller with emr_entry_free; NULL
///               on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_cancellation_new(
    chain_id: *const u8,
    chain_id_len: usize,
    prescription: *const emr_prescription_ref,
    canceller: *const u8,
    canceller_len: usize,
    reason: *const c_char,
    reason_len: usize,
    signature: *const u8,
    signature_len: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out`, `prescription` and every pair.
        unsafe {
            built(out, || {
                let (dr_hash, nonce, record_hash) = prescription_fields(prescription)?;
                Ok(EntryFields::Cancellation(CancellationFields {
                    chain_id: ptr::slice(chain_id, chain_id_len, "chain_id")?,
                    dr_hash,
                    nonce,
                    record_hash,
                    canceller: ptr::slice(canceller, canceller_len, "canceller")?,
                    reason: text_view(ptr::slice(reason.cast::<u8>(), reason_len, "reason")?),
                    signature: ptr::slice(signature, signature_len, "signature")?,
                }))
            })
        }
    })
}

/// A dispenser grant's pharmacy_public_key: the admitted pharmacy's SPKI DER.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispenser
///          grant; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    entry: a dispenser grant.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispenser_grant_pharmacy_public_key(
    entry: *const emr_entry,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<DispenserGrant>(entry, buf, len, |g| Ok(&g.pharmacy_public_key)) }
    })
}

/// A dispenser grant's licence text as UTF-8 bytes, NOT NUL-terminated.
///
/// Returns: as emr_dispenser_grant_pharmacy_public_key.
/// Args:    entry: a dispenser grant.
/// Out:     buf:   receives the text (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispenser_grant_licence(
    entry: *const emr_entry,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<DispenserGrant>(entry, buf, len, |g| Ok(g.licence.as_bytes())) }
    })
}

/// A dispenser grant's validity window, both ends inclusive.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispenser
///          grant; EMR_NULL_ARGUMENT if entry is NULL.
/// Args:    entry:      a dispenser grant.
/// Out:     not_before: the first second it authorizes; may be NULL if not
///                      wanted.
///          not_after:  the last second it authorizes; may be NULL if not
///                      wanted.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispenser_grant_window(
    entry: *const emr_entry,
    not_before: *mut u64,
    not_after: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let g = typed::<DispenserGrant>(&unsafe { ptr::handle(entry, "entry") }?.inner)?;
        if let Some(out) = unsafe { Out::optional(not_before) } {
            out.write(g.not_before);
        }
        if let Some(out) = unsafe { Out::optional(not_after) } {
            out.write(g.not_after);
        }
        Ok(())
    })
}

/// The prescription a dispense or cancellation names: its record's identity
/// (dr_hash, nonce) and content (the record's signature hash).
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is neither a dispense
///          nor a cancellation; EMR_NULL_ARGUMENT if entry is NULL.
/// Args:    entry:         a dispense or a cancellation.
/// Out:     dr_hash20:     receives the prescriber's 20-byte hash; may be
///                         NULL if not wanted.
///          nonce:         the record's nonce; may be NULL if not wanted.
///          record_hash32: receives the record's 32-byte signature hash;
///                         may be NULL if not wanted.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_prescription(
    entry: *const emr_entry,
    dr_hash20: *mut u8,
    nonce: *mut u64,
    record_hash32: *mut u8,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let entry = &unsafe { ptr::handle(entry, "entry") }?.inner;
        let prescription = entry.prescription().ok_or_else(|| {
            Error::invalid_argument(format!("the entry is a {}, which names no prescription", type_of(entry).1))
        })?;
        if let Some(out) = unsafe { Out::optional(dr_hash20.cast::<[u8; 20]>()) } {
            out.write(prescription.dr_hash.to_bytes());
        }
        if let Some(out) = unsafe { Out::optional(nonce) } {
            out.write(prescription.nonce);
        }
        if let Some(out) = unsafe { Out::optional(record_hash32.cast::<[u8; 32]>()) } {
            out.write(prescription.record_hash.to_bytes());
        }
        Ok(())
    })
}

/// A dispense's pharmacy_public_key: the dispensing pharmacy's SPKI DER.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispense;
///          EMR_BUFFER_TOO_SMALL if *len is less than the size needed
///          (written to *len); EMR_NULL_ARGUMENT if entry or len is NULL, or
///          buf is NULL while *len > 0.
/// Args:    entry: a dispense.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_pharmacy_public_key(
    entry: *const emr_entry,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Dispense>(entry, buf, len, |d| Ok(&d.pharmacy_public_key)) }
    })
}

/// A dispense's patient_public_key: the patient's SPKI DER (its SHA-1 is
/// the record's patient_hash).
///
/// Returns: as emr_dispense_pharmacy_public_key.
/// Args:    entry: a dispense.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_patient_public_key(
    entry: *const emr_entry,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Dispense>(entry, buf, len, |d| Ok(&d.patient_public_key)) }
    })
}

/// A dispense's note (quantity, batch) as UTF-8 bytes, NOT NUL-terminated.
///
/// Returns: as emr_dispense_pharmacy_public_key.
/// Args:    entry: a dispense.
/// Out:     buf:   receives the text (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_note(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Dispense>(entry, buf, len, |d| Ok(d.note.as_bytes())) }
    })
}

/// A dispense's patient signature (empty until attached); its pharmacy's
/// is emr_entry_signature.
///
/// Returns: as emr_dispense_pharmacy_public_key.
/// Args:    entry: a dispense.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_patient_signature(
    entry: *const emr_entry,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Dispense>(entry, buf, len, |d| Ok(&d.patient_signature)) }
    })
}

/// The 32 bytes the pharmacy and the patient sign: SHA-256 of the
/// dispense's preimage (SPEC 10). A card or phone signs it as an
/// already-hashed message (ECDSA over the digest).
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a dispense;
///          EMR_NULL_ARGUMENT if entry or out32 is NULL.
/// Args:    entry: a dispense.
/// Out:     out32: receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_dispense_digest(entry: *const emr_entry, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `out32`.
        unsafe { get_array::<Dispense, 32>(entry, out32, "out32", |d| d.digest().to_bytes()) }
    })
}

/// A cancellation's canceller: the SPKI DER of the key that signed it (the
/// prescriber's or an authority's).
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the entry is not a
///          cancellation; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    entry: a cancellation.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_cancellation_canceller(
    entry: *const emr_entry,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Cancellation>(entry, buf, len, |c| Ok(&c.canceller)) }
    })
}

/// A cancellation's reason as UTF-8 bytes, NOT NUL-terminated.
///
/// Returns: as emr_cancellation_canceller.
/// Args:    entry: a cancellation.
/// Out:     buf:   receives the text (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_cancellation_reason(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe { get_bytes::<Cancellation>(entry, buf, len, |c| Ok(c.reason.as_bytes())) }
    })
}

/// Decodes an entry from its canonical encoding (docs/FORMAT.md). Decoding
/// does not verify.
///
/// Returns: EMR_OK; EMR_DECODE if the bytes are not exactly one canonical
///          entry (unknown tag or version, among them version 1: entries
///          made before SPEC v1.2 name no chain; truncated, trailing
///          bytes, a length past the end, a licence that is not UTF-8);
///          EMR_NULL_ARGUMENT if out is NULL, or bytes is NULL while len > 0.
/// In:      bytes: the encoding (NULL allowed when len is 0).
///          len:   its length.
/// Out:     out:   a new entry, freed by the caller with emr_entry_free;
///                 NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_parse(bytes: *const u8, len: usize, out: *mut *mut emr_entry) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and (`bytes`, `len`).
        let out = unsafe { OutHandle::new(out, "out") }?;
        let bytes = unsafe { ptr::slice(bytes, len, "bytes") }?;
        out.set(emr_entry { inner: Entry::from_bytes(bytes)? });
        Ok(())
    })
}

/// Encodes an entry canonically (docs/FORMAT.md); emr_entry_parse gives it
/// back.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if entry or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    entry: the entry.
/// Out:     buf:   receives the encoding (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_serialize(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        let entry = unsafe { ptr::handle(entry, "entry") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(&entry.inner.to_bytes())
    })
}

/// Copies an entry.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or out is NULL.
/// Args:    entry: the entry.
/// Out:     out:   a new, independent entry, freed by the caller with
///                 emr_entry_free; NULL on failure.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_clone(entry: *const emr_entry, out: *mut *mut emr_entry) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and `entry`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let entry = unsafe { ptr::handle(entry, "entry") }?;
        out.set(emr_entry { inner: entry.inner.clone() });
        Ok(())
    })
}

/// Frees an entry. NULL is a no-op.
///
/// Args:    entry: an entry from this library, or NULL. Not usable afterwards.
/// Thread-safety: no other thread may use the entry during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_free(entry: *mut emr_entry) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live entry or NULL, freed once.
        unsafe { ptr::free(entry) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_core() {
        assert_eq!(EMR_MAX_ENTRIES, emr_core::MAX_ENTRIES);
        assert_eq!(EMR_MAX_LICENCE_BYTES, emr_core::entry::MAX_LICENCE_BYTES);
        assert_eq!(EMR_MAX_NOTE_BYTES, emr_core::entry::MAX_NOTE_BYTES);
    }
}

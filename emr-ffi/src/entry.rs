//! Registry entries (SPEC section 8.1): an authority's grants and
//! revocations, `emr_entry`.
//!
//! Since SPEC v1.2 every entry names the chain it is made for (`chain_id`,
//! the chain's emr_chain_id) and its signature must be low-S; the signing
//! and building functions take the chain id (ABI 1, docs/ABI.md).

use core::ffi::c_char;

use emr_core::entry::{GrantFields, RevocationFields};
use emr_core::{Entry, EntryFields, Grant, Hash256, Revocation};

use crate::key::emr_key;
use crate::ptr::{self, Out, OutBuf, OutHandle};
use crate::status::{Error, emr_status};

/// A registry entry: an authority's grant admitting a doctor, or its
/// revocation of a grant. Opaque; immutable once made, so one entry may be
/// read and verified by several threads at once.
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

/// The most entries a block may hold.
pub const EMR_MAX_ENTRIES: usize = 25;
/// The longest licence text of a grant, in UTF-8 bytes.
pub const EMR_MAX_LICENCE_BYTES: usize = 100;

/// Licence bytes as the core's view: `None` when they are not UTF-8.
fn licence_text(bytes: &[u8]) -> Option<&str> {
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

/// The entry's type: its `EMR_ENTRY_*` value and its name in messages.
fn type_of(entry: &Entry) -> (emr_entry_type, &'static str) {
    match entry {
        Entry::Grant(_) => (EMR_ENTRY_GRANT, Grant::NAME),
        Entry::Revocation(_) => (EMR_ENTRY_REVOCATION, Revocation::NAME),
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
    field: impl FnOnce(&T) -> &[u8],
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let entry = unsafe { ptr::handle(entry, "entry") }?;
    let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
    out.write(field(typed::<T>(&entry.inner)?))
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
                let licence = licence_text(licence).ok_or_else(not_text)?;
                Ok(Grant::sign(key, chain_id, dr_public_key, licence, not_before, not_after)?)
            })
        }
    })
}

fn not_text() -> Error {
    Error::new(crate::status::EMR_INVALID_ENTRY, "invalid_entry: licence is not UTF-8 text")
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
                    licence: licence_text(ptr::slice(licence.cast::<u8>(), licence_len, "licence")?),
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

/// Verifies an entry on its own: the stateless checks 1-2 of SPEC 8.1, in
/// order. Whether it names the chain (EMR_WRONG_CHAIN), whether its
/// authority belongs to the chain and whether the chain's registry and the
/// block's time accept it are decided when a block carrying it is added.
///
/// Returns: EMR_OK if the entry is valid on its own; EMR_INVALID_ENTRY (a
///          key not an uncompressed SPKI on a supported curve, a licence
///          over 100 bytes, not_before > not_after); then
///          EMR_INVALID_ENTRY_SIGNATURE (not strict DER, high-S, or it does
///          not verify under the entry's authority over its content, chain
///          id included); EMR_NULL_ARGUMENT if entry is NULL.
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

/// Whether the entry is a grant or a revocation.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if entry or type_out is NULL.
/// Args:    entry:    the entry.
/// Out:     type_out: EMR_ENTRY_GRANT or EMR_ENTRY_REVOCATION.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_get_type(entry: *const emr_entry, type_out: *mut emr_entry_type) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and `type_out`.
        unsafe { get_value::<Entry, _>(entry, type_out, "type_out", |e| type_of(e).0) }
    })
}

/// The entry's authority: the SPKI DER of the key that signed it.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
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
        unsafe { get_bytes::<Entry>(entry, buf, len, Entry::authority) }
    })
}

/// The entry's signature (DER ECDSA-Sig-Value by its authority).
///
/// Returns: as emr_entry_authority.
/// Args:    entry: the entry.
/// Out:     buf:   receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same entry.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_signature(entry: *const emr_entry, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `entry` and (`buf`, `len`).
        unsafe {
            get_bytes::<Entry>(entry, buf, len, |e| match e {
                Entry::Grant(g) => &g.signature,
                Entry::Revocation(r) => &r.signature,
            })
        }
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
        unsafe { get_bytes::<Grant>(entry, buf, len, |g| &g.dr_public_key) }
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
        unsafe { get_bytes::<Grant>(entry, buf, len, |g| g.licence.as_bytes()) }
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
    }
}

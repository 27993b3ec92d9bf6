//! Signed medical records: `emr_record`, `emr_record_fields`, and the hash
//! helpers of SPEC section 2.

use core::ffi::c_char;

use emr_core::hash::sha1;
use emr_core::record::{calculate_signature_hash, calculate_txid, verify_records, BatchError, Record, RecordFields};
use emr_core::{ErrorKind, Parallelism, PublicKey, SealOptions};
use zeroize::Zeroizing;

use crate::key::emr_key;
use crate::ptr::{self, Out, OutBuf, OutHandle};
use crate::status::{emr_status, Error};

/// The longest prescription a valid record carries, in bytes: a sealed
/// text ("sealed1:...", SPEC 8.2), whose plain text is at most
/// EMR_MAX_PLAIN_PRESCRIPTION_BYTES. A sealed text of t plain bytes to n
/// recipients is 8 + ceil(4 (2 + 102 n + t + 16) / 3) bytes (docs/FORMAT.md):
/// 32 bytes sealed to 3 recipients, the patient, one reader and the doctor,
/// make 483; the rule's limit is this constant. A buffer of this size holds
/// the prescription of every record that verifies, and so of every record
/// of a chain, a pool or a template (emr_record_prescription). A record
/// decoded from bytes and not verified may carry a longer one (it fails
/// verification with EMR_INVALID_PRESCRIPTION): EMR_BUFFER_TOO_SMALL then
/// gives its size.
pub const EMR_MAX_PRESCRIPTION_BYTES: usize = 1024;
const _: () = assert!(EMR_MAX_PRESCRIPTION_BYTES == emr_core::seal::MAX_SEALED_TEXT_BYTES);

/// The longest plain (unsealed) prescription, in bytes: what
/// emr_record_sign and emr_record_sign_sealed accept as plain text, and the
/// longest text emr_record_open writes.
pub const EMR_MAX_PLAIN_PRESCRIPTION_BYTES: usize = 200;
const _: () = assert!(EMR_MAX_PLAIN_PRESCRIPTION_BYTES == emr_core::record::MAX_PRESCRIPTION_BYTES);

/// A record (the original design's EMR): its fixed-size fields typed, the
/// others as given. Opaque; immutable once made, so one record may be read
/// and verified by several threads at once.
pub struct emr_record {
    pub(crate) inner: Record,
}

/// A record's seven fields exactly as the caller holds them, unchecked:
/// each byte field is a (pointer, length) pair, where the pointer may be
/// NULL when the length is 0. Used to verify loose bytes in the
/// specification's order (emr_record_fields_verify), to build a record
/// (emr_record_new) and to view one (emr_record_get_fields).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct emr_record_fields {
    /// Should be 20 bytes: SHA-1 of dr_public_key.
    pub dr_hash: *const u8,
    /// Length of dr_hash in bytes.
    pub dr_hash_len: usize,
    /// Should be 20 bytes: the patient's public key hash.
    pub patient_hash: *const u8,
    /// Length of patient_hash in bytes.
    pub patient_hash_len: usize,
    /// Should be a DER SubjectPublicKeyInfo of an EC key on secp256k1 or P-256.
    pub dr_public_key: *const u8,
    /// Length of dr_public_key in bytes.
    pub dr_public_key_len: usize,
    /// UTF-8 text, not NUL-terminated (a NUL byte counted in
    /// prescription_len is part of the text): a valid record's is a plain
    /// text of at most EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200) or a sealed
    /// one ("sealed1:...") of at most EMR_MAX_PRESCRIPTION_BYTES (1024).
    /// Bytes that are not UTF-8 are "not text": EMR_INVALID_PRESCRIPTION.
    pub prescription: *const c_char,
    /// Length of prescription in bytes.
    pub prescription_len: usize,
    /// The doctor's record counter: previous nonce + 1.
    pub nonce: u64,
    /// Should be a strict-DER ECDSA signature over the signature hash.
    pub signature: *const u8,
    /// Length of signature in bytes.
    pub signature_len: usize,
    /// Should be 32 bytes: the SHA-256 of the fields above.
    pub txid: *const u8,
    /// Length of txid in bytes.
    pub txid_len: usize,
}

/// The core's view of the caller's fields. A NULL pointer with a non-zero
/// length is `EMR_NULL_ARGUMENT`; prescription bytes that are not UTF-8 are
/// "not text" (`None`), which verification reports as `invalid_prescription`.
pub(crate) unsafe fn record_fields<'a>(
    f: &'a emr_record_fields,
    name: impl core::fmt::Display,
) -> Result<RecordFields<'a>, Error> {
    let bytes = |data: *const u8, len: usize, field: &str| {
        // SAFETY: the documented contract of emr_record_fields: each
        // non-NULL pointer points to its length of readable bytes.
        unsafe { ptr::slice(data, len, format_args!("{name}->{field}")) }
    };
    Ok(RecordFields {
        dr_hash: bytes(f.dr_hash, f.dr_hash_len, "dr_hash")?,
        patient_hash: bytes(f.patient_hash, f.patient_hash_len, "patient_hash")?,
        dr_public_key: bytes(f.dr_public_key, f.dr_public_key_len, "dr_public_key")?,
        prescription: core::str::from_utf8(bytes(f.prescription.cast(), f.prescription_len, "prescription")?).ok(),
        nonce: f.nonce,
        signature: bytes(f.signature, f.signature_len, "signature")?,
        txid: bytes(f.txid, f.txid_len, "txid")?,
    })
}

/// Prescription bytes as text; not UTF-8 is `invalid_prescription`.
pub(crate) fn prescription_text(bytes: &[u8]) -> Result<&str, Error> {
    core::str::from_utf8(bytes).map_err(|_| not_text())
}

fn not_text() -> Error {
    Error::kind(ErrorKind::InvalidPrescription, "invalid_prescription: prescription is not UTF-8 text")
}

fn record_view(record: &Record) -> emr_record_fields {
    emr_record_fields {
        dr_hash: record.dr_hash.as_bytes().as_ptr(),
        dr_hash_len: record.dr_hash.as_bytes().len(),
        patient_hash: record.patient_hash.as_bytes().as_ptr(),
        patient_hash_len: record.patient_hash.as_bytes().len(),
        dr_public_key: record.dr_public_key.as_ptr(),
        dr_public_key_len: record.dr_public_key.len(),
        prescription: record.prescription.as_ptr().cast(),
        prescription_len: record.prescription.len(),
        nonce: record.nonce,
        signature: record.signature.as_ptr(),
        signature_len: record.signature.len(),
        txid: record.txid.as_bytes().as_ptr(),
        txid_len: record.txid.as_bytes().len(),
    }
}

/// Signs a new record (create_signed_record): fills every field from the key
/// and these inputs.
///
/// Returns: EMR_OK; EMR_HASH_LENGTH if patient_hash_len is not 20;
///          EMR_INVALID_PRESCRIPTION if the prescription is not UTF-8, is
///          plain text over EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200) or is a
///          sealed text ("sealed1:...") that is malformed, over
///          EMR_MAX_PRESCRIPTION_BYTES (1024) or not sealed to the patient;
///          EMR_INVALID_NONCE if nonce is 0 (a doctor's first
///          record has nonce 1); EMR_INVALID_KEY if the key could not sign;
///          EMR_NULL_ARGUMENT if key or out is NULL, or a data pointer is
///          NULL with a non-zero length.
/// Args:    key:              the doctor's private key.
/// In:      patient_hash:     the patient's 20-byte public key hash.
///          patient_hash_len: its length (must be 20).
///          prescription:     UTF-8 text, not NUL-terminated.
///          prescription_len: its length in bytes (at most
///                            EMR_MAX_PLAIN_PRESCRIPTION_BYTES, 200, for
///                            plain text; to seal, use
///                            emr_record_sign_sealed).
///          nonce:            the doctor's previous nonce + 1.
/// Out:     out:              a new record, freed by the caller with
///                            emr_record_free; NULL on failure.
/// Thread-safety: safe to call from any thread, concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_record_sign(
    key: *const emr_key,
    patient_hash: *const u8,
    patient_hash_len: usize,
    prescription: *const c_char,
    prescription_len: usize,
    nonce: u64,
    out: *mut *mut emr_record,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out`, `key` and the two pairs.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let key = unsafe { ptr::handle(key, "key") }?;
        let patient_hash = unsafe { ptr::slice(patient_hash, patient_hash_len, "patient_hash") }?;
        let prescription = unsafe { ptr::slice(prescription.cast::<u8>(), prescription_len, "prescription") }?;
        let inner = Record::sign(&key.inner, patient_hash, prescription_text(prescription)?, nonce)?;
        out.set(emr_record { inner });
        Ok(())
    })
}

/// The most recipients a sealed prescription may have (the doctor included).
pub const EMR_MAX_RECIPIENTS: usize = 4;
const _: () = assert!(EMR_MAX_RECIPIENTS == emr_core::seal::MAX_RECIPIENTS);

/// Seals a prescription to its readers (SPEC 8.2) and signs the record whose
/// text is the sealed one ("sealed1:..."): only the recipients can read it
/// (emr_record_open), and it verifies everywhere as any record. A fresh
/// content key and a fresh ephemeral key per recipient are drawn for every
/// call; they are wiped when the call returns.
///
/// The patient's public key must be among the recipients: its SHA-1 is the
/// record's patient_hash. With include_self the signing doctor's own key is
/// added (last) unless already listed, so the doctor can read what they
/// wrote. A key listed twice is sealed to once. What stays public: the
/// doctor, the patient hash, the nonce, the recipients' key hashes, and the
/// text's exact length.
///
/// Returns: EMR_OK; EMR_HASH_LENGTH if patient_hash_len is not 20;
///          EMR_INVALID_PUBLIC_KEY if a recipient is not an uncompressed
///          SPKI on secp256k1 or P-256; EMR_INVALID_PRESCRIPTION if the text
///          is not UTF-8 or is over EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200),
///          if there are no or more than
///          EMR_MAX_RECIPIENTS recipients (the doctor included), or if the
///          patient is not among them; EMR_INVALID_NONCE if nonce is 0;
///          EMR_INVALID_KEY if the key could not sign or the random source
///          failed; EMR_NULL_ARGUMENT if key or out is NULL, recipients or
///          recipient_lens is NULL while recipient_count > 0, an element of
///          recipients is NULL with a non-zero length, or a data pointer is
///          NULL with a non-zero length.
/// Args:    key:              the doctor's private key.
/// In:      patient_hash:     the patient's 20-byte public key hash.
///          patient_hash_len: its length (must be 20).
///          prescription:     the plain text, UTF-8, not NUL-terminated.
///          prescription_len: its length in bytes (at most
///                            EMR_MAX_PLAIN_PRESCRIPTION_BYTES, 200). The
///                            sealed text the record carries is longer, at
///                            most EMR_MAX_PRESCRIPTION_BYTES (1024).
///          nonce:            the doctor's previous nonce + 1.
///          recipients:       recipient_count public keys, each SPKI DER
///                            (as emr_key_public_key_der writes them).
///          recipient_lens:   the length of each key.
///          recipient_count:  how many (0 is valid with include_self only
///                            if the doctor is the patient).
///          include_self:     add the doctor's own key (normally true).
/// Out:     out:              a new record, freed by the caller with
///                            emr_record_free; NULL on failure.
/// Thread-safety: safe to call from any thread, concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_record_sign_sealed(
    key: *const emr_key,
    patient_hash: *const u8,
    patient_hash_len: usize,
    prescription: *const c_char,
    prescription_len: usize,
    nonce: u64,
    recipients: *const *const u8,
    recipient_lens: *const usize,
    recipient_count: usize,
    include_self: bool,
    out: *mut *mut emr_record,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of `out`, `key`, the pairs and
        // the recipient arrays.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let key = unsafe { ptr::handle(key, "key") }?;
        let patient_hash = unsafe { ptr::slice(patient_hash, patient_hash_len, "patient_hash") }?;
        let prescription = unsafe { ptr::slice(prescription.cast::<u8>(), prescription_len, "prescription") }?;
        let keys = unsafe { ptr::slice(recipients, recipient_count, "recipients") }?;
        let lens = unsafe { ptr::slice(recipient_lens, recipient_count, "recipient_lens") }?;
        let readers = keys
            .iter()
            .zip(lens)
            .enumerate()
            .map(|(i, (&der, &len))| {
                let der = unsafe { ptr::slice(der, len, format_args!("recipients[{i}]")) }?;
                PublicKey::from_spki_der(der).map_err(|_| {
                    Error::kind(
                        ErrorKind::InvalidPublicKey,
                        format_args!(
                            "invalid_public_key: recipients[{i}] is not an EC public key on a supported curve"
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let inner = Record::sign_sealed(
            &key.inner,
            patient_hash,
            prescription_text(prescription)?,
            nonce,
            &readers,
            SealOptions { include_self },
        )?;
        out.set(emr_record { inner });
        Ok(())
    })
}

/// Opens a sealed record's prescription with a recipient's private key
/// (SPEC 8.2), writing the plain text, UTF-8, NOT NUL-terminated. Opening
/// does not verify the record's signature (emr_record_verify does): the
/// text is bound to the record's dr_hash, patient_hash and nonce, so an
/// envelope moved to another record does not open.
///
/// Each call decrypts anew; ask for the size first with *len == 0 or pass
/// a buffer of EMR_MAX_PLAIN_PRESCRIPTION_BYTES (200, the longest plain
/// text: the envelope allows no more). The library's own copy of the text
/// is not kept.
///
/// Returns: EMR_OK; EMR_NOT_RECIPIENT if the key is not one of the record's
///          recipients; EMR_DECRYPT_FAILED if it is but the text does not
///          decrypt under it (tampered, moved to another record) or is not
///          UTF-8; EMR_INVALID_PRESCRIPTION if the sealed text is malformed;
///          EMR_INVALID_ARGUMENT if the prescription is not sealed (it is
///          plain text: read it with emr_record_prescription);
///          EMR_BUFFER_TOO_SMALL if *len is less than the size needed
///          (written to *len); EMR_NULL_ARGUMENT if record, key or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    record: the sealed record.
///          key:    a recipient's private key (the patient's, the doctor's,
///                  a pharmacy's...).
/// Out:     buf:    receives the text (NULL allowed when *len is 0).
/// In/Out:  len:    in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same record and key.
#[no_mangle]
pub unsafe extern "C" fn emr_record_open(
    record: *const emr_record,
    key: *const emr_key,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record`, `key` and (`buf`, `len`).
        let record = unsafe { ptr::handle(record, "record") }?;
        let key = unsafe { ptr::handle(key, "key") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        let text = Zeroizing::new(record.inner.open(&key.inner)?);
        out.write(text.as_bytes())
    })
}

/// Whether the record's prescription is sealed (starts with "sealed1:").
/// Says nothing of whether it is well-formed: emr_record_verify does.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or sealed is NULL.
/// Args:    record: the record.
/// Out:     sealed: true for a sealed prescription, false for plain text.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_is_sealed(record: *const emr_record, sealed: *mut bool) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `sealed`.
        let record = unsafe { ptr::handle(record, "record") }?;
        let out = unsafe { Out::new(sealed, "sealed") }?;
        out.write(record.inner.is_sealed());
        Ok(())
    })
}

/// Builds a record from loose fields. Checks only what a record cannot hold
/// (no signature or nonce check: call emr_record_verify).
///
/// Returns: EMR_OK; EMR_HASH_LENGTH if dr_hash or patient_hash is not 20
///          bytes; EMR_INVALID_PRESCRIPTION if the prescription is not
///          UTF-8; EMR_INVALID_TXID if txid is not 32 bytes;
///          EMR_NULL_ARGUMENT if fields or out is NULL, or a field pointer
///          is NULL with a non-zero length.
/// In:      fields: the fields; the bytes are copied.
/// Out:     out:    a new record, freed by the caller with emr_record_free;
///                  NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_record_new(fields: *const emr_record_fields, out: *mut *mut emr_record) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and `fields`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let fields = unsafe { ptr::handle(fields, "fields") }?;
        let view = unsafe { record_fields(fields, "fields") }?;
        out.set(emr_record { inner: Record::from_fields(&view)? });
        Ok(())
    })
}

/// Views a record's fields: the pointers point into the record, valid while
/// the record lives (and only for reading). Copy the struct and change a
/// pointer to check altered fields with emr_record_fields_verify.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out is NULL.
/// Args:    record: the record.
/// Out:     out:    the fields, borrowing from the record.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_get_fields(record: *const emr_record, out: *mut emr_record_fields) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `out`.
        let record = unsafe { ptr::handle(record, "record") }?;
        let out = unsafe { Out::new(out, "out") }?;
        out.write(record_view(&record.inner));
        Ok(())
    })
}

/// Verifies a record against its doctor's previous nonce. The checks run in
/// the specification's order and the first failure is returned.
///
/// Returns: EMR_OK if the record is valid; otherwise the first failing
///          check's status, in this order: EMR_HASH_LENGTH,
///          EMR_PUBLIC_KEY_MISMATCH, EMR_INVALID_PRESCRIPTION,
///          EMR_INVALID_NONCE (nonce != previous_nonce + 1; nothing follows
///          UINT64_MAX), EMR_INVALID_TXID, EMR_INVALID_PUBLIC_KEY,
///          EMR_INVALID_SIGNATURE; EMR_NULL_ARGUMENT if record is NULL.
/// Args:    record:         the record.
/// In:      previous_nonce: the doctor's nonce before this record (0 before
///                          the first).
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_verify(record: *const emr_record, previous_nonce: u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `record`.
        let record = unsafe { ptr::handle(record, "record") }?;
        Ok(record.inner.verify(previous_nonce)?)
    })
}

/// Verifies loose fields exactly as given, with the checks of
/// emr_record_verify in the same order (a field of the wrong length is
/// reported by the check it fails, never earlier).
///
/// Returns: as emr_record_verify; prescription bytes that are not UTF-8 are
///          EMR_INVALID_PRESCRIPTION ("not text"); EMR_NULL_ARGUMENT if
///          fields is NULL or a field pointer is NULL with a non-zero length.
/// In:      fields:         the fields.
///          previous_nonce: the doctor's nonce before this record.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_record_fields_verify(fields: *const emr_record_fields, previous_nonce: u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `fields`.
        let fields = unsafe { ptr::handle(fields, "fields") }?;
        let view = unsafe { record_fields(fields, "fields") }?;
        Ok(view.verify(previous_nonce)?)
    })
}

/// The most threads emr_verify_records accepts (its threads argument).
pub const EMR_MAX_VERIFY_THREADS: usize = 1024;
const _: () = assert!(EMR_MAX_VERIFY_THREADS == emr_core::parallel::MAX_THREADS);

/// Verifies records[i] against previous_nonces[i] for every i, spread over
/// threads, and reports the failure with the lowest index, as a sequential
/// loop would.
///
/// Returns: EMR_OK if every record verifies; otherwise the failing record's
///          own status (EMR_INVALID_NONCE, EMR_INVALID_SIGNATURE, ...) with
///          its index in *failed_index; EMR_INVALID_ARGUMENT if threads is
///          above EMR_MAX_VERIFY_THREADS; EMR_NULL_ARGUMENT if records or
///          previous_nonces is NULL while count > 0, or an element of
///          records is NULL.
/// In:      records:         count record pointers.
///          previous_nonces: count nonces, one per record.
///          count:           the number of records (0 is valid).
///          threads:         at most this many threads; 0 = one per
///                           available core, 1 = only the calling thread.
///                           Never more threads than records or cores are
///                           used, and no call starts threads of its own:
///                           the library keeps one pool per process (rebuilt
///                           in a child after fork()).
/// Out:     failed_index:    the lowest failing index, written only when a
///                           record fails; may be NULL if not wanted.
/// Thread-safety: safe to call from any thread; the records may be used
///          concurrently by other readers.
#[no_mangle]
pub unsafe extern "C" fn emr_verify_records(
    records: *const *const emr_record,
    previous_nonces: *const u64,
    count: usize,
    threads: usize,
    failed_index: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of the arrays and `failed_index`.
        let failed_index = unsafe { Out::optional(failed_index) };
        let handles = unsafe { ptr::slice(records, count, "records") }?;
        let previous_nonces = unsafe { ptr::slice(previous_nonces, count, "previous_nonces") }?;
        let views = handles
            .iter()
            .enumerate()
            .map(|(i, &record)| {
                // SAFETY: every element is a live record or NULL (checked).
                unsafe { ptr::handle(record, format_args!("records[{i}]")) }.map(|r| r.inner.fields())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let parallelism = match threads {
            0 => Parallelism::ALL_CORES,
            n => Parallelism::threads(n)?,
        };
        verify_records(&views, previous_nonces, parallelism).map_err(|error| {
            if let (BatchError::Record { index, .. }, Some(out)) = (&error, failed_index) {
                out.write(*index);
            }
            Error::from(error)
        })
    })
}

/// Decodes a record from its canonical encoding (docs/FORMAT.md). Decoding
/// does not verify.
///
/// Returns: EMR_OK; EMR_DECODE if the bytes are not exactly one canonical
///          record (wrong tag or version, truncated, trailing bytes, a
///          length past the end, a prescription that is not UTF-8);
///          EMR_NULL_ARGUMENT if out is NULL, or bytes is NULL while len > 0.
/// In:      bytes: the encoding (NULL allowed when len is 0).
///          len:   its length.
/// Out:     out:   a new record, freed by the caller with emr_record_free;
///                 NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_record_parse(bytes: *const u8, len: usize, out: *mut *mut emr_record) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and (`bytes`, `len`).
        let out = unsafe { OutHandle::new(out, "out") }?;
        let bytes = unsafe { ptr::slice(bytes, len, "bytes") }?;
        out.set(emr_record { inner: Record::from_bytes(bytes)? });
        Ok(())
    })
}

/// Encodes a record canonically (docs/FORMAT.md); emr_record_parse gives it
/// back.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    record: the record.
/// Out:     buf:    receives the encoding (NULL allowed when *len is 0).
/// In/Out:  len:    in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_serialize(record: *const emr_record, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and (`buf`, `len`).
        let record = unsafe { ptr::handle(record, "record") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(&record.inner.to_bytes())
    })
}

/// Writes a fixed-size value of a record to the caller's array.
unsafe fn fixed<const N: usize>(
    record: *const emr_record,
    out: *mut u8,
    out_name: impl core::fmt::Display,
    value: impl FnOnce(&Record) -> [u8; N],
) -> Result<(), Error> {
    // SAFETY: forwarded contracts of `record` and `out`.
    let record = unsafe { ptr::handle(record, "record") }?;
    let out = unsafe { ptr::out_array::<N>(out, out_name) }?;
    out.write(value(&record.inner));
    Ok(())
}

/// Writes a variable-size field of a record to the caller's buffer.
unsafe fn variable(
    record: *const emr_record,
    buf: *mut u8,
    len: *mut usize,
    value: impl FnOnce(&Record) -> &[u8],
) -> Result<(), Error> {
    // SAFETY: forwarded contracts of `record` and (`buf`, `len`).
    let record = unsafe { ptr::handle(record, "record") }?;
    let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
    out.write(value(&record.inner))
}

/// The record's dr_hash field (the doctor's public key hash).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out20 is NULL.
/// Args:    record: the record.
/// Out:     out20:  receives 20 bytes.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_dr_hash(record: *const emr_record, out20: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `out20`.
        unsafe { fixed(record, out20, "out20", |r| r.dr_hash.to_bytes()) }
    })
}

/// The record's patient_hash field.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out20 is NULL.
/// Args:    record: the record.
/// Out:     out20:  receives 20 bytes.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_patient_hash(record: *const emr_record, out20: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `out20`.
        unsafe { fixed(record, out20, "out20", |r| r.patient_hash.to_bytes()) }
    })
}

/// The record's dr_public_key field (DER SubjectPublicKeyInfo).
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    record: the record.
/// Out:     buf:    receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:    in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_dr_public_key(
    record: *const emr_record,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and (`buf`, `len`).
        unsafe { variable(record, buf, len, |r| &r.dr_public_key) }
    })
}

/// The record's prescription as UTF-8 bytes, NOT NUL-terminated: for a
/// sealed record, the sealed text itself ("sealed1:...", read the plain text
/// with emr_record_open).
///
/// Its size: at most EMR_MAX_PRESCRIPTION_BYTES (1024, a sealed text; a
/// plain one is at most EMR_MAX_PLAIN_PRESCRIPTION_BYTES, 200) for every
/// record that verifies, so a buffer of EMR_MAX_PRESCRIPTION_BYTES always
/// suffices for records of a chain, a pool or a template; a record decoded
/// from bytes and not verified may carry more (EMR_BUFFER_TOO_SMALL gives
/// the size).
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    record: the record.
/// Out:     buf:    receives the text (NULL allowed when *len is 0).
/// In/Out:  len:    in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_prescription(
    record: *const emr_record,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and (`buf`, `len`).
        unsafe { variable(record, buf, len, |r| r.prescription.as_bytes()) }
    })
}

/// The record's signature field (DER ECDSA-Sig-Value).
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if record or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    record: the record.
/// Out:     buf:    receives the bytes (NULL allowed when *len is 0).
/// In/Out:  len:    in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_signature(record: *const emr_record, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and (`buf`, `len`).
        unsafe { variable(record, buf, len, |r| &r.signature) }
    })
}

/// The record's txid field, as stored (emr_record_calculate_txid gives the
/// value the other fields call for).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out32 is NULL.
/// Args:    record: the record.
/// Out:     out32:  receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_txid(record: *const emr_record, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `out32`.
        unsafe { fixed(record, out32, "out32", |r| r.txid.to_bytes()) }
    })
}

/// The txid the record's other fields call for: SHA-256(dr_hash ||
/// patient_hash || dr_public_key || prescription || LE64(nonce) ||
/// signature).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out32 is NULL.
/// Args:    record: the record.
/// Out:     out32:  receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_calculate_txid(record: *const emr_record, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `out32`.
        unsafe { fixed(record, out32, "out32", |r| r.calculate_txid().to_bytes()) }
    })
}

/// The digest the doctor signs: SHA-256(patient_hash || prescription ||
/// LE64(nonce)).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out32 is NULL.
/// Args:    record: the record.
/// Out:     out32:  receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_signature_hash(record: *const emr_record, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `out32`.
        unsafe { fixed(record, out32, "out32", |r| r.signature_hash().to_bytes()) }
    })
}

/// The record's nonce field.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or nonce is NULL.
/// Args:    record: the record.
/// Out:     nonce:  the nonce.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_nonce(record: *const emr_record, nonce: *mut u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `record` and `nonce`.
        let record = unsafe { ptr::handle(record, "record") }?;
        let out = unsafe { Out::new(nonce, "nonce") }?;
        out.write(record.inner.nonce);
        Ok(())
    })
}

/// Copies a record.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if record or out is NULL.
/// Args:    record: the record.
/// Out:     out:    a new, independent record, freed by the caller with
///                  emr_record_free; NULL on failure.
/// Thread-safety: safe to call concurrently on the same record.
#[no_mangle]
pub unsafe extern "C" fn emr_record_clone(record: *const emr_record, out: *mut *mut emr_record) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and `record`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let record = unsafe { ptr::handle(record, "record") }?;
        out.set(emr_record { inner: record.inner.clone() });
        Ok(())
    })
}

/// Frees a record. NULL is a no-op.
///
/// Args:    record: a record from this library, or NULL. Not usable
///                  afterwards (nor are views from emr_record_get_fields).
/// Thread-safety: no other thread may use the record during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_record_free(record: *mut emr_record) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live record or NULL, freed once.
        unsafe { ptr::free(record) }
    })
}

/// The txid loose fields call for: SHA-256(dr_hash || patient_hash ||
/// dr_public_key || prescription || LE64(nonce) || signature), over the
/// bytes as given (no length checks); fields->txid is ignored.
///
/// Returns: EMR_OK; EMR_INVALID_PRESCRIPTION if the prescription is not
///          UTF-8; EMR_NULL_ARGUMENT if fields or out32 is NULL, or a field
///          pointer is NULL with a non-zero length.
/// In:      fields: the fields.
/// Out:     out32:  receives 32 bytes.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_calculate_txid(fields: *const emr_record_fields, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `fields` and `out32`.
        let out = unsafe { ptr::out_array::<32>(out32, "out32") }?;
        let fields = unsafe { ptr::handle(fields, "fields") }?;
        let f = unsafe { record_fields(fields, "fields") }?;
        let prescription = f.prescription.ok_or_else(not_text)?;
        out.write(
            calculate_txid(f.dr_hash, f.patient_hash, f.dr_public_key, prescription, f.nonce, f.signature).to_bytes(),
        );
        Ok(())
    })
}

/// The digest a doctor signs: SHA-256(patient_hash || prescription ||
/// LE64(nonce)), over the bytes as given (no length checks).
///
/// Returns: EMR_OK; EMR_INVALID_PRESCRIPTION if the prescription is not
///          UTF-8; EMR_NULL_ARGUMENT if out32 is NULL, or a data pointer is
///          NULL with a non-zero length.
/// In:      patient_hash:     the patient hash (normally 20 bytes).
///          patient_hash_len: its length.
///          prescription:     UTF-8 text, not NUL-terminated.
///          prescription_len: its length in bytes.
///          nonce:            the record nonce.
/// Out:     out32:            receives 32 bytes.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_calculate_signature_hash(
    patient_hash: *const u8,
    patient_hash_len: usize,
    prescription: *const c_char,
    prescription_len: usize,
    nonce: u64,
    out32: *mut u8,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out32` and the two pairs.
        let out = unsafe { ptr::out_array::<32>(out32, "out32") }?;
        let patient_hash = unsafe { ptr::slice(patient_hash, patient_hash_len, "patient_hash") }?;
        let prescription = unsafe { ptr::slice(prescription.cast::<u8>(), prescription_len, "prescription") }?;
        out.write(calculate_signature_hash(patient_hash, prescription_text(prescription)?, nonce).to_bytes());
        Ok(())
    })
}

/// SHA-1 (the protocol's H160): a dr_hash is emr_sha1 of a dr_public_key.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if out20 is NULL, or data is NULL
///          while len > 0.
/// In:      data:  the bytes (NULL allowed when len is 0).
///          len:   their length.
/// Out:     out20: receives 20 bytes.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_sha1(data: *const u8, len: usize, out20: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out20` and (`data`, `len`).
        let out = unsafe { ptr::out_array::<20>(out20, "out20") }?;
        let data = unsafe { ptr::slice(data, len, "data") }?;
        out.write(sha1(&[data]).to_bytes());
        Ok(())
    })
}

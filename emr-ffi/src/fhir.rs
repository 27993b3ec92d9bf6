//! A patient's history as an HL7 FHIR R4 Bundle, as JSON text
//! (`docs/FHIR.md`): the core's `emr_core::fhir`, through the caller's
//! buffer.

use emr_core::fhir::{self, FhirError};
use emr_core::{Hash160, SigningKey};

use crate::chain::emr_chain;
use crate::key::emr_key;
use crate::ptr::{self, OutBuf};
use crate::status::{emr_status, Error};

/// A patient's history in the active chain as an HL7 FHIR R4 Bundle of
/// type collection (docs/FHIR.md), as UTF-8 JSON text followed by a NUL.
/// Sealed prescriptions that one of keys may read are shown opened; the
/// others are marked as sealed. The same history gives the same text.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len: the text and its NUL); EMR_CORRUPT,
///          EMR_IO for storage failures; EMR_NULL_ARGUMENT if chain,
///          patient20 or len is NULL, keys is NULL while keys_len > 0, an
///          element of keys is NULL, or buf is NULL while *len > 0.
/// Args:    chain:     the chain.
/// In:      patient20: the patient's 20-byte hash.
///          keys:      readers' private keys to open sealed prescriptions
///                     with (NULL allowed when keys_len is 0).
///          keys_len:  how many.
/// Out:     buf:       receives the JSON text and a NUL.
/// In/Out:  len:       in: the capacity of buf; out: the bytes written or
///                     needed, the NUL included.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_patient_fhir(
    chain: *const emr_chain,
    patient20: *const u8,
    keys: *const *const emr_key,
    keys_len: usize,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of `chain`, `patient20`,
        // (`keys`, `keys_len`), each key, and (`buf`, `len`).
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let patient = Hash160::from_bytes(*unsafe { ptr::array::<20>(patient20, "patient20") }?);
        let handles = unsafe { ptr::slice(keys, keys_len, "keys") }?;
        let keys = handles
            .iter()
            .enumerate()
            .map(|(i, &k)| unsafe { ptr::handle(k, format_args!("keys[{i}]")) }.map(|k| &k.inner))
            .collect::<Result<Vec<&SigningKey>, Error>>()?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        let bundle = fhir::patient_bundle(&*chain.lock()?, &patient, &keys).map_err(|e| match e {
            FhirError::Chain(e) => Error::from(e),
            other => Error::invalid_argument(other),
        })?;
        let mut text = bundle.to_string().into_bytes();
        text.push(0);
        out.write(&text)
    })
}

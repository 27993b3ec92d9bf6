//! Addresses (SPEC section 6): a 20-byte hash as checksummed text with a
//! role prefix, `emrd1...` (doctor), `emrp1...` (patient), `emrm1...` (miner).
//!
//! The C interface takes hashes as 20 bytes everywhere; an address a person
//! typed becomes those bytes through `emr_address_decode` with the role the
//! caller expects, which is where a wrong role, a typo and its place are
//! reported. One decoder instead of an `_address` twin of every function
//! that takes a hash keeps the interface small (docs/DECISIONS.md).

use core::ffi::c_char;

use emr_core::address::{self, AddressError, Role};
use emr_core::Hash160;

use crate::ptr::{self, Out, OutBuf};
use crate::status::{emr_status, Error};

/// Whose hash an address names: one of the `EMR_ROLE_*` values.
pub type emr_role = u32;

/// A doctor (prefix `emrd`): a record's dr_hash, SHA-1 of the doctor's public key.
pub const EMR_ROLE_DOCTOR: emr_role = 1;
/// A patient (prefix `emrp`): a record's patient_hash.
pub const EMR_ROLE_PATIENT: emr_role = 2;
/// A miner (prefix `emrm`): a block's miner.
pub const EMR_ROLE_MINER: emr_role = 3;

/// The length of every address in bytes: 4 prefix characters, the separator
/// `1`, 32 data characters and 6 checksum characters. Text is not
/// NUL-terminated: a buffer of EMR_ADDRESS_LEN + 1 leaves room to add one.
pub const EMR_ADDRESS_LEN: usize = 43;
/// The most positions emr_address_decode reports: a typo in one or two
/// characters is located, more are only detected.
pub const EMR_ADDRESS_MAX_POSITIONS: usize = 2;
const _: () = assert!(EMR_ADDRESS_LEN == address::ADDRESS_LEN);
const _: () = assert!(EMR_ADDRESS_MAX_POSITIONS == address::MAX_POSITIONS);

fn role_from_c(role: emr_role) -> Result<Role, Error> {
    match role {
        EMR_ROLE_DOCTOR => Ok(Role::Doctor),
        EMR_ROLE_PATIENT => Ok(Role::Patient),
        EMR_ROLE_MINER => Ok(Role::Miner),
        other => Err(Error::invalid_argument(format_args!("unknown role {other}"))),
    }
}

/// Writes the address of a hash: lower case, EMR_ADDRESS_LEN bytes, not
/// NUL-terminated.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT for an unknown role;
///          EMR_BUFFER_TOO_SMALL if *len is less than EMR_ADDRESS_LEN (written
///          to *len); EMR_NULL_ARGUMENT if hash20 or len is NULL, or buf is
///          NULL while *len > 0.
/// In:      role:   EMR_ROLE_DOCTOR, EMR_ROLE_PATIENT or EMR_ROLE_MINER.
///          hash20: the 20-byte hash.
/// Out:     buf:    receives the address (NULL allowed when *len is 0).
/// In/Out:  len:    in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_address_encode(
    role: emr_role,
    hash20: *const u8,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `hash20` and (`buf`, `len`).
        let hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(hash20, "hash20") }?);
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(address::encode(role_from_c(role)?, &hash).as_bytes())
    })
}

/// Decodes an address of the expected role into its 20-byte hash. Upper
/// case (all of it) is accepted. Nothing is ever corrected: a located typo
/// is reported for the person to fix.
///
/// Returns: EMR_OK; else the first failure, in this order:
///          EMR_INVALID_LENGTH (empty or over 90 bytes);
///          EMR_INVALID_CHARACTER (a byte that cannot stand at its place,
///          its index in *positions); EMR_MIXED_CASE; EMR_WRONG_ROLE (no role
///          prefix); EMR_INVALID_LENGTH (not a 20-byte hash: a character left
///          out or typed twice); EMR_INVALID_CHECKSUM (a typo: the indexes of
///          one or two wrong characters in *positions when they can be
///          located); EMR_WRONG_ROLE (a valid address of another role).
///          EMR_INVALID_ARGUMENT for an unknown role; EMR_NULL_ARGUMENT if
///          out20 is NULL, or text is NULL while len > 0.
///          emr_last_error_message() names the roles and positions.
/// In:      text:        the address as typed, not NUL-terminated (NULL
///                       allowed when len is 0).
///          len:         its length in bytes.
///          role:        the role the caller expects.
/// Out:     out20:       receives the hash; written only on EMR_OK.
///          positions:   an array of EMR_ADDRESS_MAX_POSITIONS indexes into
///                       text (0-based, ascending) of the characters to fix;
///                       may be NULL if not wanted.
///          n_positions: how many of positions were written: 0 on success
///                       and when nothing can be located; may be NULL.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_address_decode(
    text: *const c_char,
    len: usize,
    role: emr_role,
    out20: *mut u8,
    positions: *mut usize,
    n_positions: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let out = unsafe { ptr::out_array::<20>(out20, "out20") }?;
        let text = unsafe { ptr::slice(text.cast::<u8>(), len, "text") }?;
        let n_positions = unsafe { Out::optional(n_positions) };
        let role = role_from_c(role)?;
        let result = address::decode_bytes(text, role);
        let located = result.as_ref().err().map(AddressError::positions).unwrap_or_default();
        if !positions.is_null() {
            for (i, &position) in located.iter().take(EMR_ADDRESS_MAX_POSITIONS).enumerate() {
                // SAFETY: documented contract: `positions` has room for
                // EMR_ADDRESS_MAX_POSITIONS elements; `i` is below that.
                unsafe { Out::new(positions.add(i), "positions") }?.write(position);
            }
        }
        if let Some(n) = n_positions {
            n.write(located.len().min(EMR_ADDRESS_MAX_POSITIONS));
        }
        out.write(result?.to_bytes());
        Ok(())
    })
}

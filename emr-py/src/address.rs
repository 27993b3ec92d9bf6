//! `encode_address` / `decode_address`, and the one conversion every
//! function that takes a hash uses to take an address of the right role too.

use emr_core::address::{self, Address, Role};
use emr_core::Hash160;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::convert;
use crate::errors;
use crate::keys;

/// `"doctor"`, `"patient"` or `"miner"`; `InvalidArgumentError` for another
/// string, `TypeError` for another type.
fn role(value: &Bound<'_, PyAny>) -> PyResult<Role> {
    let name = convert::text(value, "role")?;
    Role::from_name(&name).ok_or_else(|| {
        errors::invalid_argument(
            value.py(),
            format!("role must be 'doctor', 'patient' or 'miner', not {name:?}"),
        )
    })
}

/// A hash argument: a `str` is an address, decoded in `role` (an
/// `AddressError` when it is not one of that role); anything else goes
/// through `convert::bytes_like`, so its length is judged where the hash
/// is used, as before.
pub fn hash_or_address(value: &Bound<'_, PyAny>, role: Role, what: &str) -> PyResult<Vec<u8>> {
    match value.cast::<PyString>() {
        Ok(text) => {
            let text = text.to_cow()?;
            address::decode(&text, role)
                .map(|hash| hash.as_bytes().to_vec())
                .map_err(|e| errors::address(value.py(), &e))
        }
        Err(_) => convert::bytes_like(value, what),
    }
}

/// A key of a user-state mapping: 20 bytes, or the address of a doctor or
/// a miner (the users that have state).
pub fn state_owner(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match value.cast::<PyString>() {
        Ok(text) => address::decode_state_owner(&text.to_cow()?)
            .map(|owner| owner.hash.as_bytes().to_vec())
            .map_err(|e| errors::address(value.py(), &e)),
        Err(_) => convert::bytes_like(value, "a previous_user_states key"),
    }
}

/// The address of a field's value when it is 20 bytes, else `None` (a
/// `repr` then shows the value itself).
pub fn shown(value: &Bound<'_, PyAny>, role: Role) -> Option<String> {
    let bytes = value.cast::<PyBytes>().ok()?;
    Hash160::from_slice(bytes.as_bytes()).map(|hash| Address::new(role, hash).to_string())
}

/// The address of a 20-byte hash: ``role`` is ``"doctor"`` (prefix
/// ``emrd``), ``"patient"`` (``emrp``) or ``"miner"`` (``emrm``); the result
/// is 43 lower-case characters of Bech32m (BIP-350), whose checksum catches
/// any typo of up to four characters and points at one or two.
///
/// ``hash20`` may also be a key object (a :class:`SigningKey`, or a
/// pyca/cryptography EC private or public key): the address of its public
/// key's hash.
///
/// Raises ``InvalidLengthError`` (an ``AddressError``) unless ``hash20`` is
/// 20 bytes or a key, ``InvalidArgumentError`` for another role, ``TypeError`` for
/// values of the wrong type.
#[pyfunction]
pub fn encode_address(role: &Bound<'_, PyAny>, hash20: &Bound<'_, PyAny>) -> PyResult<String> {
    let role = self::role(role)?;
    if is_key_object(hash20)? {
        let key = keys::public_key(hash20, "key")?;
        return Ok(address::encode(role, &key.key_hash()));
    }
    let bytes = convert::bytes_like(hash20, "hash20")?;
    let hash = Hash160::from_slice(&bytes).ok_or_else(|| {
        errors::of_kind(
            hash20.py(),
            emr_core::ErrorKind::InvalidLength,
            format!("invalid_length: an address holds a 20-byte hash, not {} bytes", bytes.len()),
        )
    })?;
    Ok(address::encode(role, &hash))
}

/// A key, not bytes: a `SigningKey`, or a pyca/cryptography key (which has
/// `public_bytes` or `private_bytes`).
fn is_key_object(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(value.cast::<keys::PySigningKey>().is_ok() || value.hasattr("public_bytes")? || value.hasattr("private_bytes")?)
}

/// The 20-byte hash an address of ``role`` names. Upper case (all of it)
/// is accepted; nothing is ever corrected.
///
/// Raises, in this order of checks: ``InvalidLengthError`` (empty, over 90
/// characters), ``InvalidCharacterError`` (``.positions`` holds its index),
/// ``MixedCaseError``, ``WrongRoleError`` (no role prefix),
/// ``InvalidLengthError`` (not a 20-byte hash: a character left out or
/// typed twice), ``InvalidChecksumError`` (a typo; ``.positions`` holds the
/// indexes of one or two wrong characters when they can be located, else
/// ``()``), ``WrongRoleError`` (another role's valid address). All are
/// ``AddressError``. ``InvalidArgumentError`` for an unknown role,
/// ``TypeError`` unless ``text`` is a ``str``.
#[pyfunction]
pub fn decode_address<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
    role: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let role = self::role(role)?;
    let text = match text.cast::<PyString>() {
        Ok(text) => text.to_cow()?.into_owned(),
        Err(_) => {
            return Err(PyTypeError::new_err(format!(
                "text must be str, not {}",
                convert::type_name(text)
            )))
        }
    };
    let hash = address::decode(&text, role).map_err(|e| errors::address(py, &e))?;
    Ok(PyBytes::new(py, hash.as_bytes()))
}

//! Python values -> the core's unchecked field views, and back.
//!
//! Extraction copies what the core needs into owned Rust values while the
//! GIL is held, so that verification can then run with the GIL released.
//! Only *types* are checked here (a byte field must be bytes-like, a nonce an
//! int in range); lengths, text limits and every other rule are the core's.

use emr_core::{Difficulty, Parallelism, RecordFields};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyInt, PyMemoryView, PyString, PyTuple};

use crate::errors;

/// The bytes of a `bytes`, `bytearray` or `memoryview`; `TypeError` otherwise
/// (an int or a list of ints is deliberately not "bytes-like" here).
pub fn bytes_like(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        Ok(bytes.as_bytes().to_vec())
    } else if let Ok(array) = value.cast::<PyByteArray>() {
        Ok(array.to_vec())
    } else if value.is_instance_of::<PyMemoryView>() {
        let copy = value.py().get_type::<PyBytes>().call1((value,))?;
        Ok(copy.cast::<PyBytes>()?.as_bytes().to_vec())
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be bytes, bytearray or memoryview, not {}",
            type_name(value)
        )))
    }
}

/// Bytes-like or `str` (PEM text).
pub fn bytes_or_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    match value.cast::<PyString>() {
        Ok(text) => Ok(text.to_cow()?.as_bytes().to_vec()),
        Err(_) => bytes_like(value, what),
    }
}

/// The field as the core's `Option<&str>`: `None` unless the value is a
/// `str` that is valid Unicode text (a `str` with lone surrogates has no
/// UTF-8 form, so it is "not text" too).
pub fn optional_text(value: &Bound<'_, PyAny>) -> Option<String> {
    let text = value.cast::<PyString>().ok()?;
    text.to_cow().ok().map(|t| t.into_owned())
}

/// A `str` argument; `TypeError` otherwise, `UnicodeEncodeError` for lone surrogates.
pub fn text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(text) => Ok(text.to_cow()?.into_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            type_name(value)
        ))),
    }
}

/// An unsigned 64-bit integer: `TypeError` for a non-int, `OverflowError`
/// outside 0 ..= 2^64-1.
pub fn uint64(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    require_int(value, what)?;
    value
        .extract::<u64>()
        .map_err(|_| PyOverflowError::new_err(format!("{what} must be in 0 ..= 2**64 - 1")))
}

/// An unsigned 128-bit integer: `TypeError` for a non-int, `OverflowError`
/// outside 0 ..= 2^128-1.
pub fn uint128(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u128> {
    require_int(value, what)?;
    value
        .extract::<u128>()
        .map_err(|_| PyOverflowError::new_err(format!("{what} must be in 0 ..= 2**128 - 1")))
}

fn require_int(value: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if value.is_instance_of::<PyInt>() {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be int, not {}",
            type_name(value)
        )))
    }
}

/// A difficulty argument: `TypeError` for a non-int, `InvalidArgumentError`
/// (a `ValueError`) when the core's `Difficulty::new` refuses it or it does
/// not fit the core's `u128`.
pub fn difficulty(value: &Bound<'_, PyAny>) -> PyResult<Difficulty> {
    let py = value.py();
    let raw = uint128(value, "difficulty").map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) {
            e
        } else {
            errors::invalid_argument(py, "difficulty must be in 1 ..= 2**128 - 1")
        }
    })?;
    Difficulty::new(raw)
        .ok_or_else(|| errors::invalid_argument(py, "difficulty must be in 1 ..= 2**128 - 1"))
}

/// `threads=None` -> all cores; `threads=n >= 1` -> exactly n.
pub fn parallelism(py: Python<'_>, threads: Option<&Bound<'_, PyAny>>) -> PyResult<Parallelism> {
    let Some(threads) = threads.filter(|t| !t.is_none()) else {
        return Ok(Parallelism::ALL_CORES);
    };
    require_int(threads, "threads")?;
    match threads.extract::<usize>().ok().map(Parallelism::threads) {
        Some(Ok(parallelism)) => Ok(parallelism),
        _ => Err(errors::invalid_argument(
            py,
            "threads must be None or an int in 1..=1024",
        )),
    }
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// A pyclass field's value (`None` once the garbage collector cleared it).
pub fn field_value<'py>(py: Python<'py>, field: &Option<Py<PyAny>>) -> Bound<'py, PyAny> {
    match field {
        Some(v) => v.bind(py).clone(),
        None => py.None().into_bound(py),
    }
}

/// `__eq__` of two objects of one class, given their field values: the
/// fields compared as tuples. The caller takes the values (and drops its
/// borrows) first, so no borrow is held while the fields' `__eq__` runs.
pub fn fields_eq<'py, I>(py: Python<'py>, mine: I, theirs: I) -> PyResult<Py<PyAny>>
where
    I: IntoIterator<Item = Bound<'py, PyAny>>,
    I::IntoIter: ExactSizeIterator,
{
    let mine = PyTuple::new(py, mine)?;
    let theirs = PyTuple::new(py, theirs)?;
    Ok(mine
        .eq(theirs)?
        .into_pyobject(py)?
        .to_owned()
        .into_any()
        .unbind())
}

/// `__reduce__` of an object its class rebuilds from `args`: `(type(obj), args)`.
pub fn reduce<'py, T, U>(
    obj: &Bound<'py, PyAny>,
    args: impl IntoIterator<Item = T, IntoIter = U>,
) -> PyResult<Bound<'py, PyTuple>>
where
    T: IntoPyObject<'py>,
    U: ExactSizeIterator<Item = T>,
{
    let py = obj.py();
    let args = PyTuple::new(py, args)?;
    PyTuple::new(py, [obj.get_type().into_any(), args.into_any()])
}

/// A record's fields, owned, as extracted from a Python `EMR`.
pub struct OwnedRecord {
    pub dr_hash: Vec<u8>,
    pub patient_hash: Vec<u8>,
    pub dr_public_key: Vec<u8>,
    pub prescription: Option<String>,
    pub nonce: u64,
    pub signature: Vec<u8>,
    pub txid: Vec<u8>,
}

impl OwnedRecord {
    /// The core's unchecked view of these fields.
    pub fn view(&self) -> RecordFields<'_> {
        RecordFields {
            dr_hash: &self.dr_hash,
            patient_hash: &self.patient_hash,
            dr_public_key: &self.dr_public_key,
            prescription: self.prescription.as_deref(),
            nonce: self.nonce,
            signature: &self.signature,
            txid: &self.txid,
        }
    }
}

/// `00e1b458...` for bytes (the whole value when short), `repr(value)` otherwise.
pub fn short_repr(value: &Bound<'_, PyAny>) -> String {
    const SHOWN: usize = 8;
    match value.cast::<PyBytes>() {
        Ok(bytes) => {
            let bytes = bytes.as_bytes();
            if bytes.len() <= SHOWN {
                hex(bytes)
            } else {
                format!("{}...", hex(&bytes[..SHOWN / 2]))
            }
        }
        Err(_) => value
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "<?>".to_owned()),
    }
}

/// `<88 bytes>` for bytes, `repr(value)` otherwise.
pub fn length_repr(value: &Bound<'_, PyAny>) -> String {
    match value.cast::<PyBytes>() {
        Ok(bytes) => format!("<{} bytes>", bytes.as_bytes().len()),
        Err(_) => value
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "<?>".to_owned()),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

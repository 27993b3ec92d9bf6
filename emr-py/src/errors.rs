//! Core errors -> Python exceptions.
//!
//! The exception classes live in `cryptoemr/errors.py` (plain Python, so that
//! `InvalidArgumentError` can subclass both `EMRError` and `ValueError`); each
//! has a `kind` class attribute with the SPEC section 7 spelling, and
//! `errors.BY_KIND` maps that spelling to the class. This module only looks
//! the class up by `ErrorKind::as_str()` and instantiates it with the core's
//! message: no rule is decided here.

use emr_core::chain::ChainError;
use emr_core::mining::MiningError;
use emr_core::{
    AddressError, BatchError, BlockError, DecodeError, EntryError, EntrySignError, ErrorKind, KeyError, RecordError, SealError,
    SignError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple, PyType};

static BY_KIND: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn by_kind(py: Python<'_>) -> PyResult<&Bound<'_, PyDict>> {
    BY_KIND
        .get_or_try_init(py, || -> PyResult<Py<PyDict>> {
            let table = py.import("cryptoemr.errors")?.getattr("BY_KIND")?;
            Ok(table.cast_into::<PyDict>()?.unbind())
        })
        .map(|table| table.bind(py))
}

/// The exception class for a kind (`EMRError` for a kind the package does not
/// know yet, which cannot happen while `errors.py` covers `ErrorKind`).
fn class_for<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyType>> {
    let table = by_kind(py)?;
    let class = match table.get_item(kind)? {
        Some(class) => class,
        None => py.import("cryptoemr.errors")?.getattr("EMRError")?,
    };
    Ok(class.cast_into::<PyType>()?)
}

/// A new exception instance of `kind`'s class with `message`.
fn instance<'py>(py: Python<'py>, kind: ErrorKind, message: String) -> PyResult<Bound<'py, PyAny>> {
    class_for(py, kind.as_str())?.call1((message,))
}

/// Turns "building the exception failed" into that failure, so a broken
/// install still raises something meaningful.
fn raise(built: PyResult<Bound<'_, PyAny>>) -> PyErr {
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(error) => error,
    }
}

/// An exception of `kind` with `message`.
pub fn of_kind(py: Python<'_>, kind: ErrorKind, message: impl Into<String>) -> PyErr {
    raise(instance(py, kind, message.into()))
}

/// `InvalidArgumentError` (an `EMRError` and a `ValueError`).
pub fn invalid_argument(py: Python<'_>, message: impl Into<String>) -> PyErr {
    of_kind(py, ErrorKind::InvalidArgument, message)
}

/// The record error's own class (`HashLengthError`, ...).
pub fn record(py: Python<'_>, error: RecordError) -> PyErr {
    of_kind(py, error.kind(), error.to_string())
}

/// The record error's class with `.index` set: the failing position in a batch.
pub fn record_at(py: Python<'_>, error: RecordError, index: usize) -> PyErr {
    raise(instance(py, error.kind(), format!("record {index}: {error}")).and_then(|e| {
        e.setattr("index", index)?;
        Ok(e)
    }))
}

/// A block error; `record` becomes `BlockRecordError` and `entry`
/// `BlockEntryError`, each with `.index` and the failing item's exception
/// as `__cause__`.
pub fn block(py: Python<'_>, error: BlockError) -> PyErr {
    let (index, cause_kind, cause_text) = match &error {
        BlockError::Record { index, error } => (*index, error.kind(), error.to_string()),
        BlockError::Entry { index, error } => (*index, error.kind(), error.to_string()),
        other => return of_kind(py, other.kind(), other.to_string()),
    };
    let built = (|| {
        let cause = instance(py, cause_kind, cause_text)?;
        let exception = instance(py, error.kind(), error.to_string())?;
        exception.setattr("index", index)?;
        exception.setattr("__cause__", cause)?;
        Ok(exception)
    })();
    raise(built)
}

/// The entry error's own class (`InvalidEntryError`, `UnknownAuthorityError`, ...).
pub fn entry(py: Python<'_>, error: EntryError) -> PyErr {
    of_kind(py, error.kind(), error.to_string())
}

/// A failure to sign an entry: the entry kind it would fail with, or `InvalidKeyError`.
pub fn entry_sign(py: Python<'_>, error: &EntrySignError) -> PyErr {
    match error {
        EntrySignError::Entry(e) => entry(py, *e),
        EntrySignError::Key(e) => key(py, e),
    }
}

/// A sealed record that does not open: `NotRecipientError`,
/// `DecryptFailedError`, `InvalidPrescriptionError` for a malformed sealed
/// text, `InvalidArgumentError` for a text that is not sealed.
pub fn seal(py: Python<'_>, error: SealError) -> PyErr {
    of_kind(py, error.kind(), error.to_string())
}

/// A batch error: the failing record's class with `.index`, or
/// `InvalidArgumentError` for mismatched lengths.
pub fn batch(py: Python<'_>, error: BatchError) -> PyErr {
    match error {
        BatchError::Record { index, error } => record_at(py, error, index),
        other => of_kind(py, other.kind(), other.to_string()),
    }
}

/// `InvalidKeyError`.
pub fn key(py: Python<'_>, error: &KeyError) -> PyErr {
    of_kind(py, error.kind(), error.to_string())
}

/// `DecodeError`.
pub fn decode(py: Python<'_>, error: DecodeError) -> PyErr {
    of_kind(py, error.kind(), error.to_string())
}

/// An address error's class (`InvalidChecksumError`, `WrongRoleError`, ...)
/// with `.positions`: the indexes into the text the error points at.
pub fn address(py: Python<'_>, error: &AddressError) -> PyErr {
    raise(instance(py, error.kind(), error.to_string()).and_then(|e| {
        e.setattr("positions", PyTuple::new(py, error.positions())?)?;
        Ok(e)
    }))
}

/// A signing failure: the record kind it would fail with, or `InvalidKeyError`.
pub fn sign(py: Python<'_>, error: &SignError) -> PyErr {
    match error {
        SignError::Record(e) => record(py, *e),
        SignError::Key(e) => key(py, e),
    }
}

/// A chain failure: its kind's class; a block's own failure is raised as
/// [`block`] would, with `.height` and `.block_id` naming the block that
/// failed (an ancestor of the offered block when its branch failed there).
pub fn chain(py: Python<'_>, error: ChainError) -> PyErr {
    match error {
        ChainError::Block { height, block_id, error } => {
            let exception = block(py, error);
            let value = exception.value(py);
            let annotated = value
                .setattr("height", height)
                .and_then(|()| value.setattr("block_id", PyBytes::new(py, block_id.as_bytes())));
            match annotated {
                Ok(()) => exception,
                Err(e) => e,
            }
        }
        other => of_kind(py, other.kind(), other.to_string()),
    }
}

/// A failure opening the chain file `path`: as [`chain`], with an
/// `OSError`'s `filename` set to the path (an `IoError` is an `OSError`),
/// and its `errno` and `strerror` as the operating system gives them for
/// that path (the core's error is text; the OS is asked again, here,
/// only to name the number a Python caller tests).
pub fn chain_file(py: Python<'_>, error: ChainError, path: Option<&std::path::Path>) -> PyErr {
    let exception = chain(py, error);
    if let Some(path) = path {
        let value = exception.value(py);
        if value.is_instance_of::<pyo3::exceptions::PyOSError>() {
            let os = std::fs::metadata(path).and_then(|_| std::fs::File::open(path).map(drop)).err();
            let annotated = value.setattr("filename", path.as_os_str()).and_then(|()| match os.as_ref() {
                Some(e) => match e.raw_os_error() {
                    Some(code) => value
                        .setattr("errno", code)
                        .and_then(|()| value.setattr("strerror", e.to_string())),
                    None => Ok(()),
                },
                None => Ok(()),
            });
            if let Err(e) = annotated {
                return e;
            }
        }
    }
    exception
}

/// A failure of an operation on the open chain whose file is `path`: as
/// [`chain`], with an `IoError`'s `filename` set to it (a full or failing
/// disk). Unlike [`chain_file`], the operating system is not asked again:
/// opening and closing a file this process has open through SQLite would
/// drop SQLite's locks on it (emr-core's `chain/lock.rs`).
pub fn chain_at(py: Python<'_>, error: ChainError, path: Option<&std::path::Path>) -> PyErr {
    let exception = chain(py, error);
    if let Some(path) = path {
        let value = exception.value(py);
        if value.is_instance_of::<pyo3::exceptions::PyOSError>() {
            if let Err(e) = value.setattr("filename", path.as_os_str()) {
                return e;
            }
        }
    }
    exception
}

/// A mining failure: `InvalidArgumentError` for what the core refuses (more
/// than 25 records, too many threads, an engine this CPU cannot run), the
/// operating system's `OSError` when a thread cannot start.
pub fn mining(py: Python<'_>, error: MiningError) -> PyErr {
    match error {
        MiningError::InvalidArgument(message) => invalid_argument(py, message),
        unavailable @ MiningError::EngineUnavailable(_) => invalid_argument(py, unavailable.to_string()),
        MiningError::ThreadSpawn(io) => PyErr::from(io),
    }
}

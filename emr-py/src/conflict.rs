//! `Conflict`: a record the chain dropped for another (SPEC 9.3), as
//! `Chain.conflicts()` lists it.
//!
//! Unlike `EMR` and `Block`, whose fields hold whatever Python values they
//! are given, a `Conflict` is a value the chain reports: it holds the core's
//! typed fields, is immutable and hashable, and builds a new `EMR` each time
//! `.record` is read (so changing that `EMR` cannot change the conflict).

use emr_core::hash::Hash256;
use emr_core::Record;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::convert;
use crate::errors;
use crate::record::Emr;

/// A record the chain dropped for another (SPEC 9.3, "no record lost
/// silently"): a block carrying another record of its doctor with its nonce
/// but other content joined the active chain (typically the doctor signed
/// at two sites before they synced), so this one can neither stay pending
/// nor be mined. Listed by :meth:`Chain.conflicts` until
/// :meth:`Chain.dismiss_conflict`; the doctor re-signs it with a new nonce.
///
/// ``record`` is the dropped :class:`EMR` (a new object at each read),
/// ``replaced_by`` the txid of the record that took its place (32 bytes),
/// ``block_id`` the block that carries that record (32 bytes) and
/// ``height`` that block's height when it did.
///
/// Conflicts are immutable; they compare equal when all four fields do,
/// hash, pickle and copy. The constructor (which pickling uses) takes the
/// four fields: ``record`` an :class:`EMR` whose fields have the shape of a
/// record (its ``RecordError`` subclass otherwise; it is not verified),
/// ``replaced_by`` and ``block_id`` 32 bytes-like (``InvalidArgumentError``
/// otherwise), ``height`` an int in 0..2**64-1.
#[pyclass(module = "cryptoemr", name = "Conflict", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub struct PyConflict {
    record: Record,
    replaced_by: Hash256,
    block_id: Hash256,
    height: u64,
}

impl From<emr_core::chain::Conflict> for PyConflict {
    fn from(c: emr_core::chain::Conflict) -> Self {
        PyConflict { record: c.record, replaced_by: c.replaced_by, block_id: c.block_id, height: c.height }
    }
}

/// `1a2b3c4d...`: a 32-byte hash as `repr`s show it.
fn short(hash: &Hash256) -> String {
    format!("{}...", convert::hex(&hash.as_bytes()[..4]))
}

#[pymethods]
impl PyConflict {
    #[new]
    fn new(
        record: &Bound<'_, PyAny>,
        replaced_by: &Bound<'_, PyAny>,
        block_id: &Bound<'_, PyAny>,
        height: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let py = record.py();
        let emr = record
            .cast::<Emr>()
            .map_err(|_| PyTypeError::new_err(format!("record must be an EMR, not {}", convert::type_name(record))))?;
        let owned = Emr::extract(emr)?;
        let record = Record::from_fields(&owned.view()).map_err(|e| errors::record(py, e))?;
        Ok(PyConflict {
            record,
            replaced_by: crate::chain::hash256(replaced_by, "replaced_by")?,
            block_id: crate::chain::hash256(block_id, "block_id")?,
            height: convert::uint64(height, "height")?,
        })
    }

    /// The dropped record, as a new :class:`EMR`.
    #[getter]
    fn record(&self, py: Python<'_>) -> PyResult<Emr> {
        Emr::from_record(py, &self.record)
    }

    /// The txid of the record that took its place (32 bytes).
    #[getter]
    fn replaced_by<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.replaced_by.as_bytes())
    }

    /// The id of the block that carries that record (32 bytes).
    #[getter]
    fn block_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.block_id.as_bytes())
    }

    /// That block's height.
    #[getter]
    fn height(&self) -> u64 {
        self.height
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let args = [
            Bound::new(py, Emr::from_record(py, &me.record)?)?.into_any(),
            PyBytes::new(py, me.replaced_by.as_bytes()).into_any(),
            PyBytes::new(py, me.block_id.as_bytes()).into_any(),
            me.height.into_pyobject(py)?.into_any(),
        ];
        convert::reduce(slf.as_any(), args)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let record = Bound::new(py, Emr::from_record(py, &self.record)?)?.repr()?;
        Ok(format!(
            "Conflict(record={record}, replaced_by={}, block_id={}, height={})",
            short(&self.replaced_by),
            short(&self.block_id),
            self.height,
        ))
    }
}

//! What the chain says of prescriptions (SPEC 10): `PrescriptionStatus`
//! (state, who, when, which block) and `EntryConflict` (a dispensing or
//! cancellation dropped for another, SPEC 9.3), and the conversions the
//! `Chain` query methods share. The rules and the queries are the core's.

use emr_core::chain::{EntryConflict, PrescriptionState, PrescriptionStatus};
use emr_core::hash::{sha1, Hash160};
use emr_core::Entry;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::convert;
use crate::entry::entry_object;
use crate::errors;
use crate::record::Emr;

/// A prescription of the active chain and what became of it, as
/// :meth:`Chain.prescription` and :meth:`Chain.patient_prescriptions` give
/// it. A snapshot: later blocks do not change it.
///
/// ``state`` is ``"open"``, ``"dispensed"`` or ``"cancelled"``; ``record``
/// the prescription (an :class:`EMR`) with ``record_height``,
/// ``record_block_id`` and ``record_timestamp`` of its block. For a
/// dispensed or cancelled one, ``entry`` is the :class:`Dispense` or
/// :class:`Cancellation`, ``by`` the SHA-1 of the pharmacy's or the
/// canceller's key (20 bytes; who), ``timestamp`` its block's time (when)
/// and ``height``, ``block_id`` its block (which block); each is ``None``
/// while the prescription is open. A cancellation's ``reason`` is
/// ``entry.reason``.
#[pyclass(module = "cryptoemr", name = "PrescriptionStatus", frozen, get_all)]
pub struct PyPrescriptionStatus {
    state: &'static str,
    record: Py<Emr>,
    record_height: u64,
    record_block_id: Py<PyBytes>,
    record_timestamp: u64,
    entry: Option<Py<PyAny>>,
    by: Option<Py<PyBytes>>,
    height: Option<u64>,
    block_id: Option<Py<PyBytes>>,
    timestamp: Option<u64>,
}

impl PyPrescriptionStatus {
    pub fn new(py: Python<'_>, status: &PrescriptionStatus) -> PyResult<PyPrescriptionStatus> {
        let record = &status.record;
        let (entry, by, height, block_id, timestamp) = match &status.state {
            PrescriptionState::Open => (None, None, None, None, None),
            PrescriptionState::Dispensed(d) => (
                Some(entry_object(py, &Entry::Dispense(d.dispense.clone()))?.unbind()),
                Some(d.dispense.pharmacy_hash()),
                Some(d.height),
                Some(d.block_id),
                Some(d.timestamp),
            ),
            PrescriptionState::Cancelled(c) => (
                Some(entry_object(py, &Entry::Cancellation(c.cancellation.clone()))?.unbind()),
                Some(c.cancellation.canceller_hash()),
                Some(c.height),
                Some(c.block_id),
                Some(c.timestamp),
            ),
        };
        Ok(PyPrescriptionStatus {
            state: status.state.as_str(),
            record: Py::new(py, Emr::from_record(py, &record.record)?)?,
            record_height: record.height,
            record_block_id: PyBytes::new(py, record.block_id.as_bytes()).unbind(),
            record_timestamp: record.timestamp,
            entry,
            by: by.map(|h: Hash160| PyBytes::new(py, h.as_bytes()).unbind()),
            height,
            block_id: block_id.map(|id| PyBytes::new(py, id.as_bytes()).unbind()),
            timestamp,
        })
    }
}

#[pymethods]
impl PyPrescriptionStatus {
    fn __repr__(&self, py: Python<'_>) -> String {
        let place = match (self.height, &self.by) {
            (Some(height), Some(by)) => format!(", by={}, height={height}", convert::hex(by.bind(py).as_bytes())),
            _ => String::new(),
        };
        format!("PrescriptionStatus(state={:?}, record_height={}{place})", self.state, self.record_height)
    }
}

/// A dispensing or cancellation the chain dropped for another (SPEC 9.3):
/// another entry took its prescription in the active chain, so it can
/// neither stay pending nor be mined. Typically two pharmacies dispensed
/// one prescription at two sites that had not synced: ``entry`` is the
/// :class:`Dispense` that fell out, ``replaced_by`` the one that stayed,
/// each naming its pharmacy (``pharmacies`` gives both, the dropped one
/// first). ``block_id`` and ``height`` are the block that carried
/// ``replaced_by`` when it did. Listed by :meth:`Chain.entry_conflicts`
/// until :meth:`Chain.dismiss_entry_conflict`; the pharmacies settle.
/// Immutable; ``entry`` and ``replaced_by`` are new objects at each read.
#[pyclass(module = "cryptoemr", name = "EntryConflict", frozen)]
pub struct PyEntryConflict {
    conflict: EntryConflict,
}

impl From<EntryConflict> for PyEntryConflict {
    fn from(conflict: EntryConflict) -> Self {
        PyEntryConflict { conflict }
    }
}

/// The SHA-1 of the key that signed a dispensing or cancellation: its
/// pharmacy, or its canceller.
fn signer_hash(entry: &Entry) -> Hash160 {
    sha1(&[entry.signer()])
}

#[pymethods]
impl PyEntryConflict {
    /// The dropped :class:`Dispense` (or :class:`Cancellation`).
    #[getter]
    fn entry<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        entry_object(py, &self.conflict.entry)
    }

    /// The entry that took its prescription.
    #[getter]
    fn replaced_by<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        entry_object(py, &self.conflict.replaced_by)
    }

    /// The id of the block that carried ``replaced_by`` (32 bytes).
    #[getter]
    fn block_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.conflict.block_id.as_bytes())
    }

    /// That block's height.
    #[getter]
    fn height(&self) -> u64 {
        self.conflict.height
    }

    /// ``(dropped, kept)``: the SHA-1 (20 bytes) of the key that signed
    /// each entry, for two dispensings their two pharmacies.
    #[getter]
    fn pharmacies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let dropped = signer_hash(&self.conflict.entry);
        let kept = signer_hash(&self.conflict.replaced_by);
        PyTuple::new(py, [PyBytes::new(py, dropped.as_bytes()), PyBytes::new(py, kept.as_bytes())])
    }

    fn __repr__(&self) -> String {
        format!(
            "EntryConflict(entry={}, replaced_by={}, pharmacies=({}, {}), height={})",
            convert::hex(&self.conflict.entry.entry_id().as_bytes()[..4]),
            convert::hex(&self.conflict.replaced_by.entry_id().as_bytes()[..4]),
            convert::hex(signer_hash(&self.conflict.entry).as_bytes()),
            convert::hex(signer_hash(&self.conflict.replaced_by).as_bytes()),
            self.conflict.height,
        )
    }
}

/// A pharmacy argument: its 20-byte hash (SHA-1 of its key), or its public
/// key (SPKI DER bytes, a :class:`SigningKey`, a pyca/cryptography key).
pub fn pharmacy_hash(value: &Bound<'_, PyAny>) -> PyResult<Hash160> {
    let bytes = crate::keys::public_key_der(value, "pharmacy")?;
    if let Some(hash) = Hash160::from_slice(&bytes) {
        return Ok(hash);
    }
    if bytes.len() < 32 {
        return Err(errors::invalid_argument(
            value.py(),
            format!("pharmacy must be a 20-byte hash or a public key, got {} bytes", bytes.len()),
        ));
    }
    Ok(sha1(&[&bytes]))
}

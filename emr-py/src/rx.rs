//! What the chain says of prescriptions (SPEC 10): `PrescriptionStatus`
//! (state, who, when, which block) and `EntryConflict` (a dispensing or
//! cancellation dropped for another, SPEC 9.3), and the conversions the
//! `Chain` query methods share. The rules and the queries are the core's.

use emr_core::chain::{EntryConflict, PrescriptionState, PrescriptionStatus};
use emr_core::hash::{sha1, Hash160, Hash256};
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
/// ``entry.reason``. Immutable; statuses compare equal when they say the
/// same; ``record`` and ``entry`` are new objects at each read.
#[pyclass(module = "cryptoemr", name = "PrescriptionStatus", frozen, eq)]
#[derive(PartialEq)]
pub struct PyPrescriptionStatus {
    status: PrescriptionStatus,
}

impl From<PrescriptionStatus> for PyPrescriptionStatus {
    fn from(status: PrescriptionStatus) -> Self {
        PyPrescriptionStatus { status }
    }
}

/// Where the deciding entry sits: `(entry, by, height, block_id, timestamp)`.
fn decided(state: &PrescriptionState) -> Option<(Entry, Hash160, u64, Hash256, u64)> {
    match state {
        PrescriptionState::Open => None,
        PrescriptionState::Dispensed(d) => {
            Some((d.dispense.clone().into(), d.dispense.pharmacy_hash(), d.height, d.block_id, d.timestamp))
        }
        PrescriptionState::Cancelled(c) => {
            Some((c.cancellation.clone().into(), c.cancellation.canceller_hash(), c.height, c.block_id, c.timestamp))
        }
    }
}

#[pymethods]
impl PyPrescriptionStatus {
    /// ``"open"``, ``"dispensed"`` or ``"cancelled"``.
    #[getter]
    fn state(&self) -> &'static str {
        self.status.state.as_str()
    }

    /// The prescription, a new :class:`EMR` at each read.
    #[getter]
    fn record(&self, py: Python<'_>) -> PyResult<Emr> {
        Emr::from_record(py, &self.status.record.record)
    }

    /// The height of the prescription's block.
    #[getter]
    fn record_height(&self) -> u64 {
        self.status.record.height
    }

    /// The id of the prescription's block (32 bytes).
    #[getter]
    fn record_block_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.status.record.block_id.as_bytes())
    }

    /// The prescription's block's timestamp.
    #[getter]
    fn record_timestamp(&self) -> u64 {
        self.status.record.timestamp
    }

    /// The :class:`Dispense` or :class:`Cancellation` that decided it (a
    /// new object at each read); ``None`` while open.
    #[getter]
    fn entry<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        decided(&self.status.state).map(|(entry, ..)| entry_object(py, &entry)).transpose()
    }

    /// Who: SHA-1 of the pharmacy's or the canceller's key (20 bytes);
    /// ``None`` while open.
    #[getter]
    fn by<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        decided(&self.status.state).map(|(_, by, ..)| PyBytes::new(py, by.as_bytes()))
    }

    /// Which block: the deciding entry's block height; ``None`` while open.
    #[getter]
    fn height(&self) -> Option<u64> {
        decided(&self.status.state).map(|(_, _, height, ..)| height)
    }

    /// That block's id (32 bytes); ``None`` while open.
    #[getter]
    fn block_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        decided(&self.status.state).map(|(_, _, _, id, _)| PyBytes::new(py, id.as_bytes()))
    }

    /// When: that block's timestamp; ``None`` while open.
    #[getter]
    fn timestamp(&self) -> Option<u64> {
        decided(&self.status.state).map(|(.., t)| t)
    }

    fn __repr__(&self) -> String {
        let place = match decided(&self.status.state) {
            Some((_, by, height, ..)) => format!(", by={}, height={height}", convert::hex(by.as_bytes())),
            None => String::new(),
        };
        format!("PrescriptionStatus(state={:?}, record_height={}{place})", self.state(), self.status.record.height)
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
/// Immutable, compared by value; ``entry`` and ``replaced_by`` are new
/// objects at each read.
#[pyclass(module = "cryptoemr", name = "EntryConflict", frozen, eq)]
#[derive(PartialEq)]
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

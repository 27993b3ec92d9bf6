//! `DispenserGrant`, `Dispense` and `Cancellation` (SPEC section 10's
//! entries), their signing functions and the patient's two-step path: the
//! field lists, each class's own properties and `repr`. The methods every
//! entry class has come from [`entry_class!`](super).

use emr_core::entry::{CancellationFields, DispenseFields, DispenserGrantFields};
use emr_core::hash::sha1;
use emr_core::{Entry, EntryFields, ErrorKind, Record};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::registry::key_hash_repr;
use super::{chain_id_argument, CoreField};
use crate::convert::{self, field_value};
use crate::errors;
use crate::keys::{self, AnyKey};
use crate::record::Emr;

/// SHA-1 of a key field (20 bytes): the identity of a pharmacy, patient or
/// canceller.
fn key_hash<'py>(py: Python<'py>, field: &Option<Py<PyAny>>, what: &str) -> PyResult<Bound<'py, PyBytes>> {
    let key = convert::bytes_like(&field_value(py, field), what)?;
    Ok(PyBytes::new(py, sha1(&[&key]).as_bytes()))
}

entry_class! {
    /// An authority's grant admitting a pharmacy to dispense (SPEC 10).
    ///
    /// ``chain_id`` is the 32-byte id of the chain it is made for,
    /// ``pharmacy_public_key`` and ``authority`` SPKI DER bytes, ``licence`` a
    /// ``str`` of at most 100 UTF-8 bytes (registration number, name),
    /// ``not_before`` and ``not_after`` the first and last second (Unix
    /// time, inclusive) it authorizes, ``signature`` the authority's
    /// strict-DER ECDSA signature. Make one with
    /// :func:`create_dispenser_grant`; an ordinary :class:`Revocation` naming
    /// its id withdraws it. It never authorizes records, and a doctor's
    /// :class:`Grant` never authorizes dispensing.
    ///
    /// Fields hold whatever values they were given, as for :class:`Grant`;
    /// :meth:`verify` raises ``InvalidEntryError`` (a ``chain_id`` that is
    /// not 32 bytes, a key not on a supported curve, a licence that is not
    /// text or too long, ``not_before > not_after``), then
    /// ``InvalidEntrySignatureError``.
    class PyDispenserGrant = "DispenserGrant" {
        variant: DispenserGrant,
        core: emr_core::DispenserGrant,
        view: DispenserGrantFields,
        owned: OwnedDispenserGrant,
    }
    fields {
        chain_id: Bytes,
        pharmacy_public_key: Bytes,
        licence: Text,
        not_before: U64,
        not_after: U64,
        authority: Bytes,
        signature: Bytes,
    }
    entry_id: "The grant's id (32 bytes): ``SHA-256(preimage || signature)``
over the fields as they stand. A :class:`Revocation` names it.";

    /// Alias of :attr:`entry_id`, the name a :class:`Revocation` uses.
    #[getter]
    fn grant_id<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        PyDispenserGrant::entry_id(slf)
    }

    /// SHA-1 of ``pharmacy_public_key`` (20 bytes): the pharmacy's
    /// identity, as :meth:`Chain.dispensings` and
    /// :meth:`Chain.dispenser_grants` take it.
    #[getter]
    fn pharmacy_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        key_hash(py, &self.pharmacy_public_key, "pharmacy_public_key")
    }
}

impl PyDispenserGrant {
    fn describe(&self, py: Python<'_>) -> String {
        format!(
            "DispenserGrant(chain_id={}, pharmacy={}, licence={}, not_before={}, not_after={}, authority={}, signature={})",
            convert::short_repr(&field_value(py, &self.chain_id)),
            key_hash_repr(&field_value(py, &self.pharmacy_public_key)),
            convert::short_repr(&field_value(py, &self.licence)),
            convert::short_repr(&field_value(py, &self.not_before)),
            convert::short_repr(&field_value(py, &self.not_after)),
            key_hash_repr(&field_value(py, &self.authority)),
            convert::length_repr(&field_value(py, &self.signature)),
        )
    }
}

entry_class! {
    /// A pharmacy's dispensing of a prescription, countersigned by the
    /// patient (SPEC 10): the chain holds at most one per prescription.
    ///
    /// The prescription is named by its record's identity, ``dr_hash`` (20
    /// bytes) and ``nonce``, and its content, ``record_hash`` (the record's
    /// ``signature_hash``, 32 bytes). ``pharmacy_public_key`` and
    /// ``patient_public_key`` are SPKI DER bytes (the patient's SHA-1 must be
    /// the record's ``Patient_hash``), ``note`` a public ``str`` of at most
    /// 100 UTF-8 bytes (quantity, batch; empty for a sealed prescription),
    /// ``signature`` the pharmacy's and ``patient_signature`` the patient's
    /// strict-DER, low-S ECDSA signatures of the same :attr:`digest`.
    ///
    /// Make one with :func:`create_dispense` when both keys are at hand;
    /// when the patient signs on their own card or phone,
    /// :func:`prepare_dispense` makes it unsigned, the pharmacy signs
    /// (:meth:`sign_pharmacy`, or :meth:`add_signature` for a signature made
    /// elsewhere), the patient's device signs :attr:`digest` (a phone with
    /// this library: :meth:`sign_patient` on the decoded dispense), and
    /// :meth:`add_patient_signature` attaches what it returns.
    ///
    /// Fields hold whatever values they were given, as for :class:`Grant`;
    /// :meth:`verify` raises ``InvalidEntryError`` (a hash or id of the
    /// wrong length, a key not on a supported curve, a note that is not
    /// text or too long), then ``InvalidEntrySignatureError`` (the
    /// pharmacy's signature, then the patient's).
    class PyDispense = "Dispense" {
        variant: Dispense,
        core: emr_core::Dispense,
        view: DispenseFields,
        owned: OwnedDispense,
    }
    fields {
        chain_id: Bytes,
        dr_hash: Bytes,
        nonce: U64,
        record_hash: Bytes,
        pharmacy_public_key: Bytes,
        patient_public_key: Bytes,
        note: Text,
        signature: Bytes,
        patient_signature: Bytes,
    }
    entry_id: "The dispensing's id (32 bytes): ``SHA-256(preimage ||
signature || patient_signature)`` over the fields as they stand.";

    /// The 32 bytes both the pharmacy and the patient sign:
    /// ``SHA-256(preimage)`` over the fields as they stand (signatures
    /// aside). A device signs it as an already-hashed message (ECDSA over
    /// the digest, as ``Prehashed(SHA256())`` in pyca/cryptography).
    /// ``InvalidEntryError`` for a field the preimage cannot hold.
    #[getter]
    fn digest<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let dispense = PyDispense::core(slf)?;
        Ok(PyBytes::new(slf.py(), dispense.digest().as_bytes()))
    }

    /// Attaches the pharmacy's signature of :attr:`digest` (strict DER;
    /// a high-S signature is stored in its low-S form, the same signature
    /// for the key). ``InvalidEntrySignatureError`` when it does not verify
    /// under ``pharmacy_public_key``, ``InvalidEntryError`` for a malformed
    /// field; nothing changes then.
    fn add_signature(slf: &Bound<'_, Self>, signature: &Bound<'_, PyAny>) -> PyResult<()> {
        PyDispense::attach(slf, signature, false)
    }

    /// Attaches the patient's signature of :attr:`digest`, made on their
    /// card or phone, as :meth:`add_signature` does the pharmacy's; checked
    /// under ``patient_public_key``.
    fn add_patient_signature(slf: &Bound<'_, Self>, signature: &Bound<'_, PyAny>) -> PyResult<()> {
        PyDispense::attach(slf, signature, true)
    }

    /// Signs :attr:`digest` as the pharmacy with ``key`` (a
    /// :class:`SigningKey`, PKCS#8/SEC1 DER or PEM, a pyca/cryptography EC
    /// private key) and attaches the signature (low-S).
    /// ``InvalidEntrySignatureError`` when ``key`` is not the one
    /// ``pharmacy_public_key`` names; nothing changes then.
    fn sign_pharmacy(slf: &Bound<'_, Self>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        PyDispense::sign_as(slf, key, false)
    }

    /// Signs :attr:`digest` as the patient, on a phone running this
    /// library (it got the dispense's :meth:`to_bytes` from the pharmacy and
    /// shows what it says first), as :meth:`sign_pharmacy` does the
    /// pharmacy's; the signature goes back to the pharmacy for
    /// :meth:`add_patient_signature`.
    fn sign_patient(slf: &Bound<'_, Self>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        PyDispense::sign_as(slf, key, true)
    }

    /// SHA-1 of ``pharmacy_public_key`` (20 bytes): the pharmacy's identity.
    #[getter]
    fn pharmacy_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        key_hash(py, &self.pharmacy_public_key, "pharmacy_public_key")
    }

    /// SHA-1 of ``patient_public_key`` (20 bytes): what the record's
    /// ``Patient_hash`` must be.
    #[getter]
    fn patient_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        key_hash(py, &self.patient_public_key, "patient_public_key")
    }
}

impl PyDispense {
    /// The typed core dispense of the fields as they stand.
    fn core(slf: &Bound<'_, Self>) -> PyResult<emr_core::Dispense> {
        let py = slf.py();
        let owned = PyDispense::owned(slf)?;
        match Entry::from_fields(&EntryFields::Dispense(owned.view())).map_err(|e| errors::entry(py, e))? {
            Entry::Dispense(dispense) => Ok(dispense),
            other => Err(errors::of_kind(
                py,
                ErrorKind::InvalidArgument,
                format!("internal: a Dispense's fields made a {}", super::class_name(&other)),
            )),
        }
    }

    fn attach(slf: &Bound<'_, Self>, signature: &Bound<'_, PyAny>, patient: bool) -> PyResult<()> {
        let py = slf.py();
        let signature = convert::bytes_like(signature, "signature")?;
        let mut dispense = PyDispense::core(slf)?;
        let attached = py.detach(|| {
            if patient {
                dispense.attach_patient_signature(&signature).map(|()| dispense.patient_signature)
            } else {
                dispense.attach_signature(&signature).map(|()| dispense.signature)
            }
        });
        let stored = attached.map_err(|e| errors::entry(py, e))?;
        PyDispense::store(slf, stored, patient)
    }

    fn sign_as(slf: &Bound<'_, Self>, key: &Bound<'_, PyAny>, patient: bool) -> PyResult<()> {
        let py = slf.py();
        let key = AnyKey::from_python(key, "key")?;
        let mut dispense = PyDispense::core(slf)?;
        let signed = py.detach(|| {
            if patient {
                dispense.sign_patient(key.get()).map(|()| dispense.patient_signature)
            } else {
                dispense.sign_pharmacy(key.get()).map(|()| dispense.signature)
            }
        });
        let stored = signed.map_err(|e| errors::entry_sign(py, &e))?;
        PyDispense::store(slf, stored, patient)
    }

    /// Sets the pharmacy's or the patient's signature field.
    fn store(slf: &Bound<'_, Self>, signature: Vec<u8>, patient: bool) -> PyResult<()> {
        let stored = signature.to_python(slf.py())?;
        let mut this = slf.borrow_mut();
        if patient {
            this.patient_signature = stored;
        } else {
            this.signature = stored;
        }
        Ok(())
    }

    fn describe(&self, py: Python<'_>) -> String {
        format!(
            "Dispense(chain_id={}, prescriber={}, nonce={}, record_hash={}, pharmacy={}, patient={}, note={}, signature={}, patient_signature={})",
            convert::short_repr(&field_value(py, &self.chain_id)),
            convert::short_repr(&field_value(py, &self.dr_hash)),
            convert::short_repr(&field_value(py, &self.nonce)),
            convert::short_repr(&field_value(py, &self.record_hash)),
            key_hash_repr(&field_value(py, &self.pharmacy_public_key)),
            key_hash_repr(&field_value(py, &self.patient_public_key)),
            convert::short_repr(&field_value(py, &self.note)),
            convert::length_repr(&field_value(py, &self.signature)),
            convert::length_repr(&field_value(py, &self.patient_signature)),
        )
    }
}

entry_class! {
    /// The withdrawal of a prescription not yet dispensed (SPEC 10), by its
    /// prescriber (while authorized) or by an authority of the chain.
    ///
    /// The prescription is named as in a :class:`Dispense` (``dr_hash``,
    /// ``nonce``, ``record_hash``); ``canceller`` is the SPKI DER of the key
    /// that signs, ``reason`` a public ``str`` of at most 100 UTF-8 bytes
    /// (empty for a sealed prescription), ``signature`` the canceller's
    /// strict-DER ECDSA signature. Make one with :func:`create_cancellation`.
    ///
    /// Fields hold whatever values they were given, as for :class:`Grant`;
    /// :meth:`verify` raises ``InvalidEntryError``, then
    /// ``InvalidEntrySignatureError``. Whether the canceller may cancel is
    /// the chain's to say (``UnauthorizedCancellerError``).
    class PyCancellation = "Cancellation" {
        variant: Cancellation,
        core: emr_core::Cancellation,
        view: CancellationFields,
        owned: OwnedCancellation,
    }
    fields {
        chain_id: Bytes,
        dr_hash: Bytes,
        nonce: U64,
        record_hash: Bytes,
        canceller: Bytes,
        reason: Text,
        signature: Bytes,
    }
    entry_id: "The cancellation's id (32 bytes): ``SHA-256(preimage ||
signature)`` over the fields as they stand.";

    /// SHA-1 of ``canceller`` (20 bytes): ``dr_hash`` when the prescriber
    /// cancels.
    #[getter]
    fn canceller_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        key_hash(py, &self.canceller, "canceller")
    }
}

impl PyCancellation {
    fn describe(&self, py: Python<'_>) -> String {
        format!(
            "Cancellation(chain_id={}, prescriber={}, nonce={}, record_hash={}, canceller={}, reason={}, signature={})",
            convert::short_repr(&field_value(py, &self.chain_id)),
            convert::short_repr(&field_value(py, &self.dr_hash)),
            convert::short_repr(&field_value(py, &self.nonce)),
            convert::short_repr(&field_value(py, &self.record_hash)),
            key_hash_repr(&field_value(py, &self.canceller)),
            convert::short_repr(&field_value(py, &self.reason)),
            convert::length_repr(&field_value(py, &self.signature)),
        )
    }
}

/// A public text argument that defaults to empty (`None` is the default).
fn optional_text(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<String> {
    value.map(|v| convert::text(v, what)).transpose().map(Option::unwrap_or_default)
}

/// The prescription argument of the signing functions: an :class:`EMR`
/// with a record's shape (its ``RecordError`` subclass otherwise; it is
/// not verified: the chain checks that it is the record it holds).
fn record_argument(record: &Bound<'_, PyAny>) -> PyResult<Record> {
    let emr = record
        .cast::<Emr>()
        .map_err(|_| PyTypeError::new_err(format!("record must be an EMR, not {}", convert::type_name(record))))?;
    let owned = Emr::extract(emr)?;
    Record::from_fields(&owned.view()).map_err(|e| errors::record(record.py(), e))
}

/// Signs a dispenser grant, for the chain ``chain_id``, admitting the
/// pharmacy whose public key is ``pharmacy_public_key`` from
/// ``not_before`` to ``not_after`` (Unix seconds, both inclusive; the
/// defaults mean "always"). Arguments as for :func:`create_grant`, the
/// pharmacy's key in place of the doctor's. ``InvalidEntryError`` for a
/// grant that could never verify. The signature is low-S.
#[pyfunction]
#[pyo3(
    signature = (authority_key, pharmacy_public_key, licence, not_before = 0, not_after = u64::MAX, *, chain_id),
    text_signature = "(authority_key, pharmacy_public_key, licence, not_before=0, not_after=18446744073709551615, *, chain_id)"
)]
pub fn create_dispenser_grant(
    py: Python<'_>,
    authority_key: &Bound<'_, PyAny>,
    pharmacy_public_key: &Bound<'_, PyAny>,
    licence: &Bound<'_, PyAny>,
    not_before: u64,
    not_after: u64,
    chain_id: &Bound<'_, PyAny>,
) -> PyResult<PyDispenserGrant> {
    let key = AnyKey::from_python(authority_key, "authority_key")?;
    let pharmacy = keys::public_key_der(pharmacy_public_key, "pharmacy_public_key")?;
    let licence = convert::text(licence, "licence")?;
    let chain_id = chain_id_argument(chain_id)?;
    let grant = py
        .detach(|| emr_core::DispenserGrant::sign(key.get(), chain_id, &pharmacy, &licence, not_before, not_after))
        .map_err(|e| errors::entry_sign(py, &e))?;
    PyDispenserGrant::from_core(py, &grant)
}

/// Signs, with both keys at hand, the dispensing of the prescription
/// ``record`` (an :class:`EMR`, as the chain holds it) by the pharmacy
/// ``pharmacy_key`` to the patient ``patient_key`` (keys as
/// :func:`create_signed_record` takes them), for the chain ``chain_id``
/// (32 bytes, or the :class:`Chain`). ``note`` (quantity, batch) is public
/// text of at most 100 UTF-8 bytes.
///
/// Refuses what could never be carried: ``InvalidEntryError`` (a note too
/// long), ``WrongPatientError`` (the patient's key is not the record's
/// patient's), ``PublicTextOnSealedError`` (a note on a sealed
/// prescription). Both signatures are low-S. When the patient signs on
/// their own device, use :func:`prepare_dispense`.
#[pyfunction]
#[pyo3(
    signature = (pharmacy_key, patient_key, record, note = None, *, chain_id),
    text_signature = "(pharmacy_key, patient_key, record, note='', *, chain_id)"
)]
pub fn create_dispense(
    py: Python<'_>,
    pharmacy_key: &Bound<'_, PyAny>,
    patient_key: &Bound<'_, PyAny>,
    record: &Bound<'_, PyAny>,
    note: Option<&Bound<'_, PyAny>>,
    chain_id: &Bound<'_, PyAny>,
) -> PyResult<PyDispense> {
    let pharmacy = AnyKey::from_python(pharmacy_key, "pharmacy_key")?;
    let patient = AnyKey::from_python(patient_key, "patient_key")?;
    let record = record_argument(record)?;
    let note = optional_text(note, "note")?;
    let chain_id = chain_id_argument(chain_id)?;
    let dispense = py
        .detach(|| emr_core::Dispense::sign(pharmacy.get(), patient.get(), chain_id, &record, &note))
        .map_err(|e| errors::entry_sign(py, &e))?;
    PyDispense::from_core(py, &dispense)
}

/// The first step of a dispensing the patient signs on their own card or
/// phone: the :class:`Dispense` of ``record`` by the pharmacy whose public
/// key is ``pharmacy_public_key`` to the patient whose public key is
/// ``patient_public_key`` (SPKI DER bytes, a :class:`SigningKey` or a
/// pyca/cryptography EC key), with no signature yet. Show the patient's
/// device its :attr:`Dispense.digest`; attach what it signs with
/// :meth:`Dispense.add_patient_signature`, and the pharmacy's with
/// :meth:`Dispense.add_signature`. Refuses what :func:`create_dispense`
/// refuses.
#[pyfunction]
#[pyo3(
    signature = (pharmacy_public_key, patient_public_key, record, note = None, *, chain_id),
    text_signature = "(pharmacy_public_key, patient_public_key, record, note='', *, chain_id)"
)]
pub fn prepare_dispense(
    py: Python<'_>,
    pharmacy_public_key: &Bound<'_, PyAny>,
    patient_public_key: &Bound<'_, PyAny>,
    record: &Bound<'_, PyAny>,
    note: Option<&Bound<'_, PyAny>>,
    chain_id: &Bound<'_, PyAny>,
) -> PyResult<PyDispense> {
    let pharmacy = keys::public_key_der(pharmacy_public_key, "pharmacy_public_key")?;
    let patient = keys::public_key_der(patient_public_key, "patient_public_key")?;
    let record = record_argument(record)?;
    let note = optional_text(note, "note")?;
    let chain_id = chain_id_argument(chain_id)?;
    let dispense = emr_core::Dispense::unsigned(chain_id, &record, &pharmacy, &patient, &note)
        .map_err(|e| errors::entry(py, e))?;
    PyDispense::from_core(py, &dispense)
}

/// Signs, with ``key`` (the prescriber's, or an authority's of the chain),
/// the cancellation of the prescription ``record`` (an :class:`EMR`) for
/// the chain ``chain_id``. ``reason`` is public text of at most 100 UTF-8
/// bytes: ``InvalidEntryError`` when longer, ``PublicTextOnSealedError``
/// on a sealed prescription. Whether ``key`` may cancel is the chain's to
/// say (``UnauthorizedCancellerError``). The signature is low-S.
#[pyfunction]
#[pyo3(signature = (key, record, reason = None, *, chain_id), text_signature = "(key, record, reason='', *, chain_id)")]
pub fn create_cancellation(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    record: &Bound<'_, PyAny>,
    reason: Option<&Bound<'_, PyAny>>,
    chain_id: &Bound<'_, PyAny>,
) -> PyResult<PyCancellation> {
    let key = AnyKey::from_python(key, "key")?;
    let record = record_argument(record)?;
    let reason = optional_text(reason, "reason")?;
    let chain_id = chain_id_argument(chain_id)?;
    let cancellation = py
        .detach(|| emr_core::Cancellation::sign(key.get(), chain_id, &record, &reason))
        .map_err(|e| errors::entry_sign(py, &e))?;
    PyCancellation::from_core(py, &cancellation)
}

//! `EMR` (the original design's record class) and the record functions.

use emr_core::address::Role;
use emr_core::hash::sha1;
use emr_core::{PublicKey, Record, RecordFields, SealOptions};
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyIterator, PyList, PyMemoryView, PyString, PyTuple};
use pyo3::PyTraverseError;

use crate::address;
use crate::convert::{self, field_value, OwnedRecord};
use crate::errors;
use crate::keys::{self, AnyKey, PySigningKey};

/// A signed prescription record (the original design's ``EMR``).
///
/// The fields hold whatever Python values they were given or later assigned
/// (``emr.Dr_hash = b"x" * 19`` is allowed); :meth:`verify` reports what is
/// wrong, in the order of the specification, with the matching exception:
/// a 19-byte ``Dr_hash`` is a :class:`HashLengthError`, a prescription that
/// is not a ``str`` (or has more than 200 UTF-8 bytes) an
/// :class:`InvalidPrescriptionError`, and so on. A value of the wrong *type*
/// for a byte field (not ``bytes``/``bytearray``/``memoryview``) raises
/// ``TypeError``, and a nonce that is not an int in 0..2**64-1 raises
/// ``TypeError``/``OverflowError``, before any check runs.
///
/// Fields are readable and assignable under the original names
/// (``Dr_hash``, ``Patient_hash``, ``Dr_public_key``, ``prescription``,
/// ``nonce``, ``signature``, ``txid``) and as ``dr_hash``, ``patient_hash``,
/// ``dr_public_key``.
///
/// EMR objects compare equal when all seven fields do; they are mutable and
/// so unhashable; they pickle (field by field) and copy.
#[pyclass(module = "cryptoemr", name = "EMR", subclass)]
pub struct Emr {
    #[pyo3(get, set, name = "Dr_hash")]
    dr_hash: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "Patient_hash")]
    patient_hash: Option<Py<PyAny>>,
    #[pyo3(get, set, name = "Dr_public_key")]
    dr_public_key: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    prescription: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    nonce: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    signature: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    txid: Option<Py<PyAny>>,
}

impl Emr {
    /// A new `EMR` holding a core record's fields as `bytes`, `str` and `int`.
    pub fn from_record(py: Python<'_>, record: &Record) -> PyResult<Emr> {
        let bytes = |b: &[u8]| Some(PyBytes::new(py, b).into_any().unbind());
        Ok(Emr {
            dr_hash: bytes(record.dr_hash.as_bytes()),
            patient_hash: bytes(record.patient_hash.as_bytes()),
            dr_public_key: bytes(&record.dr_public_key),
            prescription: Some(record.prescription.as_str().into_pyobject(py)?.into_any().unbind()),
            nonce: Some(record.nonce.into_pyobject(py)?.into_any().unbind()),
            signature: bytes(&record.signature),
            txid: bytes(record.txid.as_bytes()),
        })
    }

    /// The seven field values in constructor order.
    fn values<'py>(&self, py: Python<'py>) -> [Bound<'py, PyAny>; 7] {
        [
            field_value(py, &self.dr_hash),
            field_value(py, &self.patient_hash),
            field_value(py, &self.dr_public_key),
            field_value(py, &self.prescription),
            field_value(py, &self.nonce),
            field_value(py, &self.signature),
            field_value(py, &self.txid),
        ]
    }

    /// Copies the fields into owned Rust values (see `convert`): the only
    /// failures are `TypeError`/`OverflowError` for values of the wrong type.
    /// The object is borrowed only to take its field values, so that no
    /// borrow is held while Python code runs or the GIL is released (another
    /// thread may assign a field meanwhile).
    pub fn extract(slf: &Bound<'_, Emr>) -> PyResult<OwnedRecord> {
        let [dr_hash, patient_hash, dr_public_key, prescription, nonce, signature, txid] =
            slf.borrow().values(slf.py());
        Ok(OwnedRecord {
            dr_hash: convert::bytes_like(&dr_hash, "Dr_hash")?,
            patient_hash: convert::bytes_like(&patient_hash, "Patient_hash")?,
            dr_public_key: convert::bytes_like(&dr_public_key, "Dr_public_key")?,
            prescription: convert::optional_text(&prescription),
            nonce: convert::uint64(&nonce, "nonce")?,
            signature: convert::bytes_like(&signature, "signature")?,
            txid: convert::bytes_like(&txid, "txid")?,
        })
    }
}

/// Extracts an `EMR` from any object, `TypeError` for anything else.
fn extract_emr(item: &Bound<'_, PyAny>, what: &str) -> PyResult<OwnedRecord> {
    match item.cast::<Emr>() {
        Ok(emr) => Emr::extract(emr),
        Err(_) => Err(PyTypeError::new_err(format!("{what} must be an EMR, not {}", convert::type_name(item)))),
    }
}

/// Extracts every item as an `EMR`, `TypeError` naming `records[i]` for anything else.
fn extract_emrs(items: Bound<'_, PyIterator>) -> PyResult<Vec<OwnedRecord>> {
    items.enumerate().map(|(i, item)| extract_emr(&item?, &format!("records[{i}]"))).collect()
}

/// A block's `records` (of `Block` and `mine_block`): `TypeError` unless an iterable of `EMR`.
pub fn extract_block_records(records: &Bound<'_, PyAny>) -> PyResult<Vec<OwnedRecord>> {
    let items = records.try_iter().map_err(|_| PyTypeError::new_err("records must be an iterable of EMR"))?;
    extract_emrs(items)
}

#[pymethods]
impl Emr {
    #[new]
    #[allow(non_snake_case)]
    #[pyo3(signature = (Dr_hash, Patient_hash, Dr_public_key, prescription, nonce, signature, txid))]
    fn new(
        Dr_hash: Py<PyAny>,
        Patient_hash: Py<PyAny>,
        Dr_public_key: Py<PyAny>,
        prescription: Py<PyAny>,
        nonce: Py<PyAny>,
        signature: Py<PyAny>,
        txid: Py<PyAny>,
    ) -> Emr {
        Emr {
            dr_hash: Some(Dr_hash),
            patient_hash: Some(Patient_hash),
            dr_public_key: Some(Dr_public_key),
            prescription: Some(prescription),
            nonce: Some(nonce),
            signature: Some(signature),
            txid: Some(txid),
        }
    }

    /// Alias of ``Dr_hash``.
    #[getter(dr_hash)]
    fn get_dr_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        field_value(py, &self.dr_hash)
    }

    #[setter(dr_hash)]
    fn set_dr_hash(&mut self, value: Py<PyAny>) {
        self.dr_hash = Some(value);
    }

    /// Alias of ``Patient_hash``.
    #[getter(patient_hash)]
    fn get_patient_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        field_value(py, &self.patient_hash)
    }

    #[setter(patient_hash)]
    fn set_patient_hash(&mut self, value: Py<PyAny>) {
        self.patient_hash = Some(value);
    }

    /// Alias of ``Dr_public_key``.
    #[getter(dr_public_key)]
    fn get_dr_public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        field_value(py, &self.dr_public_key)
    }

    #[setter(dr_public_key)]
    fn set_dr_public_key(&mut self, value: Py<PyAny>) {
        self.dr_public_key = Some(value);
    }

    /// Verifies the record against the doctor's previous nonce.
    ///
    /// Checks, in order, raising the first failure: ``HashLengthError``,
    /// ``PublicKeyMismatchError``, ``InvalidPrescriptionError``,
    /// ``InvalidNonceError``, ``InvalidTxidError``, ``InvalidPublicKeyError``,
    /// ``InvalidSignatureError`` (all ``RecordError``). Returns ``None``.
    /// The signature check runs with the GIL released.
    #[allow(non_snake_case)]
    #[pyo3(signature = (Dr_previous_nonce))]
    fn verify(slf: &Bound<'_, Self>, Dr_previous_nonce: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let previous_nonce = convert::uint64(Dr_previous_nonce, "Dr_previous_nonce")?;
        let owned = Emr::extract(slf)?;
        py.detach(|| owned.view().verify(previous_nonce)).map_err(|e| errors::record(py, e))
    }

    /// Whether the prescription is sealed (a ``str`` starting with
    /// ``"sealed1:"``, SPEC section 8.2): readable only with :meth:`open`.
    /// Says nothing of whether it is well-formed (:meth:`verify` does).
    #[getter]
    fn is_sealed(&self, py: Python<'_>) -> bool {
        convert::optional_text(&field_value(py, &self.prescription))
            .is_some_and(|text| text.starts_with(emr_core::seal::SEALED_PREFIX))
    }

    /// Opens a sealed prescription with a recipient's private key (taken as
    /// :func:`create_signed_record` takes a key) and returns the text.
    ///
    /// Raises ``NotRecipientError`` when the key is not one of the record's
    /// recipients, ``DecryptFailedError`` when it is but the text does not
    /// decrypt (the envelope was tampered with or copied from another
    /// record: the text is bound to ``Dr_hash``, ``Patient_hash`` and
    /// ``nonce``), ``InvalidPrescriptionError`` for a malformed sealed text,
    /// ``InvalidArgumentError`` (a ``ValueError``) for a prescription that is
    /// not sealed. Opening does not verify the signature: call :meth:`verify`.
    fn open(slf: &Bound<'_, Self>, private_key: &Bound<'_, PyAny>) -> PyResult<String> {
        let py = slf.py();
        let key = AnyKey::from_python(private_key, "private_key")?;
        let owned = Emr::extract(slf)?;
        py.detach(|| owned.view().open(key.get())).map_err(|e| errors::seal(py, e))
    }

    /// The key hashes (SHA-1 of each reader's SPKI, 20 bytes each) a sealed
    /// prescription is readable by, in envelope order: public to anyone
    /// (who may read is not secret, only what). ``InvalidPrescriptionError``
    /// for a malformed sealed text, ``InvalidArgumentError`` for a
    /// prescription that is not sealed.
    fn sealed_recipients<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let owned = Emr::extract(slf)?;
        let hashes = owned.view().sealed_recipients().map_err(|e| errors::seal(py, e))?;
        PyList::new(py, hashes.iter().map(|h| PyBytes::new(py, h.as_bytes())))
    }

    /// The txid the other six fields call for (what ``verify`` compares ``txid`` with).
    fn calculate_txid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let [dr_hash, patient_hash, dr_public_key, prescription, nonce, signature, _] = self.values(py);
        calculate_txid(py, &dr_hash, &patient_hash, &dr_public_key, &prescription, &nonce, &signature)
    }

    /// The 32-byte digest the doctor signs:
    /// ``SHA-256(patient_hash || UTF8(prescription) || LE64(nonce))``.
    fn calculate_signature_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let [_, patient_hash, _, prescription, nonce, _, _] = self.values(py);
        calculate_signature_hash(py, &patient_hash, &prescription, &nonce)
    }

    /// The canonical binary encoding (``docs/FORMAT.md``).
    ///
    /// Raises the record error a field's shape calls for when the record
    /// cannot be encoded (``HashLengthError`` for a 19-byte hash, ...).
    fn to_bytes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let py = slf.py();
        let owned = Emr::extract(slf)?;
        let record = Record::from_fields(&owned.view()).map_err(|e| errors::record(py, e))?;
        Ok(PyBytes::new(py, &record.to_bytes()))
    }

    /// Decodes :meth:`to_bytes` output; ``DecodeError`` for anything else.
    /// Decoding does not verify.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Emr> {
        let bytes = convert::bytes_like(data, "data")?;
        let record = Record::from_bytes(&bytes).map_err(|e| errors::decode(py, e))?;
        Emr::from_record(py, &record)
    }

    fn __eq__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other) = other.cast::<Emr>() else {
            return Ok(py.NotImplemented());
        };
        let mine = slf.borrow().values(py);
        let theirs = other.borrow().values(py);
        convert::fields_eq(py, mine, theirs)
    }

    /// Mutable, hence unhashable.
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let fields = slf.borrow().values(slf.py());
        convert::reduce(slf.as_any(), fields)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let [dr_hash, patient_hash, dr_public_key, prescription, nonce, signature, txid] = self.values(py);
        // Long prescriptions are cut to their first 40 characters.
        let prescription = match prescription.cast::<PyString>() {
            Ok(text) if text.to_string_lossy().chars().count() > 40 => {
                let shown: String = text.to_string_lossy().chars().take(40).collect();
                format!("{}...", convert::short_repr(PyString::new(py, &shown).as_any()))
            }
            _ => convert::short_repr(&prescription),
        };
        format!(
            "EMR(dr_hash={}, patient_hash={}, dr_public_key={}, prescription={}, nonce={}, signature={}, txid={})",
            address::shown(&dr_hash, Role::Doctor).unwrap_or_else(|| convert::short_repr(&dr_hash)),
            address::shown(&patient_hash, Role::Patient).unwrap_or_else(|| convert::short_repr(&patient_hash)),
            convert::length_repr(&dr_public_key),
            prescription,
            convert::short_repr(&nonce),
            convert::length_repr(&signature),
            convert::short_repr(&txid),
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for field in [
            &self.dr_hash,
            &self.patient_hash,
            &self.dr_public_key,
            &self.prescription,
            &self.nonce,
            &self.signature,
            &self.txid,
        ] {
            visit.call(field)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.dr_hash = None;
        self.patient_hash = None;
        self.dr_public_key = None;
        self.prescription = None;
        self.nonce = None;
        self.signature = None;
        self.txid = None;
    }
}

/// SHA-1 of ``data`` (the protocol's H160): 20 bytes.
#[pyfunction]
pub fn calculate_sha1_hash<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let data = convert::bytes_like(data, "data")?;
    Ok(PyBytes::new(py, sha1(&[&data]).as_bytes()))
}

/// ``SHA-256(Dr_hash || Patient_hash || Dr_public_key || UTF8(prescription) || LE64(nonce) || signature)``,
/// over the values as given (no length checks): 32 bytes.
#[pyfunction]
#[allow(non_snake_case)]
#[pyo3(signature = (Dr_hash, Patient_hash, Dr_public_key, prescription, nonce, signature))]
pub fn calculate_txid<'py>(
    py: Python<'py>,
    Dr_hash: &Bound<'py, PyAny>,
    Patient_hash: &Bound<'py, PyAny>,
    Dr_public_key: &Bound<'py, PyAny>,
    prescription: &Bound<'py, PyAny>,
    nonce: &Bound<'py, PyAny>,
    signature: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let txid = emr_core::calculate_txid(
        &convert::bytes_like(Dr_hash, "Dr_hash")?,
        &convert::bytes_like(Patient_hash, "Patient_hash")?,
        &convert::bytes_like(Dr_public_key, "Dr_public_key")?,
        &convert::text(prescription, "prescription")?,
        convert::uint64(nonce, "nonce")?,
        &convert::bytes_like(signature, "signature")?,
    );
    Ok(PyBytes::new(py, txid.as_bytes()))
}

/// ``SHA-256(patient_hash || UTF8(prescription) || LE64(nonce))``, the digest
/// the doctor signs, over the values as given: 32 bytes.
#[pyfunction]
pub fn calculate_signature_hash<'py>(
    py: Python<'py>,
    patient_hash: &Bound<'py, PyAny>,
    prescription: &Bound<'py, PyAny>,
    nonce: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let digest = emr_core::calculate_signature_hash(
        &convert::bytes_like(patient_hash, "patient_hash")?,
        &convert::text(prescription, "prescription")?,
        convert::uint64(nonce, "nonce")?,
    );
    Ok(PyBytes::new(py, digest.as_bytes()))
}

/// Signs a new record with the doctor's private key.
///
/// ``Dr_private_key`` is a :class:`SigningKey`, PKCS#8 or SEC1 private key
/// bytes (DER or PEM; ``str`` PEM too), or a pyca/cryptography EC private key
/// object. ``patient_hash`` is 20 bytes or the patient's address (``emrp1...``,
/// a ``str``: a typo or another role's address raises its ``AddressError``).
/// Refuses inputs that could never verify: a ``patient_hash`` that is
/// not 20 bytes (``HashLengthError``), a prescription over 200 UTF-8 bytes
/// (``InvalidPrescriptionError``), nonce 0 (``InvalidNonceError``: a
/// doctor's first record has nonce 1). Signatures are low-S.
///
/// **Sealing** (SPEC section 8.2): with ``seal_to``, an iterable of the
/// readers' public keys (SPKI DER bytes, :class:`SigningKey` objects or
/// pyca/cryptography EC keys; ``InvalidKeyError`` for one that is not an
/// uncompressed SPKI on secp256k1 or P-256), the prescription is encrypted
/// so that only they can read it (:meth:`EMR.open`), and the record's
/// ``prescription`` is the sealed text (``"sealed1:..."``), which the doctor
/// signs and every verifier checks as any prescription. The patient's key
/// must be among them (its SHA-1 is ``patient_hash``); the doctor's own key
/// is added unless ``seal_to_self=False``; a key listed twice is sealed to
/// once. With no patient key, or more than 4 readers in all,
/// ``InvalidPrescriptionError``. Who wrote to whom and when, and the text's
/// length, stay public; read access once given cannot be withdrawn.
#[pyfunction]
#[allow(non_snake_case)]
#[pyo3(signature = (Dr_private_key, patient_hash, prescription, nonce, *, seal_to = None, seal_to_self = true))]
#[allow(clippy::too_many_arguments)]
pub fn create_signed_record(
    py: Python<'_>,
    Dr_private_key: &Bound<'_, PyAny>,
    patient_hash: &Bound<'_, PyAny>,
    prescription: &Bound<'_, PyAny>,
    nonce: &Bound<'_, PyAny>,
    seal_to: Option<&Bound<'_, PyAny>>,
    seal_to_self: bool,
) -> PyResult<Emr> {
    let key = AnyKey::from_python(Dr_private_key, "Dr_private_key")?;
    let patient_hash = address::hash_or_address(patient_hash, Role::Patient, "patient_hash")?;
    let prescription = convert::text(prescription, "prescription")?;
    let nonce = convert::uint64(nonce, "nonce")?;
    let recipients = match seal_to.filter(|s| !s.is_none()) {
        Some(seal_to) => Some(recipient_keys(seal_to)?),
        None => None,
    };
    let record = py
        .detach(|| match &recipients {
            Some(recipients) => Record::sign_sealed(
                key.get(),
                &patient_hash,
                &prescription,
                nonce,
                recipients,
                SealOptions { include_self: seal_to_self },
            ),
            None => emr_core::create_signed_record(key.get(), &patient_hash, &prescription, nonce),
        })
        .map_err(|e| errors::sign(py, &e))?;
    Emr::from_record(py, &record)
}

/// `seal_to`'s keys: `TypeError` unless an iterable (a single key given
/// bare, bytes included, is refused rather than read as a sequence of ints).
fn recipient_keys(seal_to: &Bound<'_, PyAny>) -> PyResult<Vec<PublicKey>> {
    let single = seal_to.is_instance_of::<PyBytes>()
        || seal_to.is_instance_of::<PyByteArray>()
        || seal_to.is_instance_of::<PyMemoryView>()
        || seal_to.is_instance_of::<PyString>()
        || seal_to.cast::<PySigningKey>().is_ok();
    let items = if single { None } else { seal_to.try_iter().ok() };
    let Some(items) = items else {
        return Err(PyTypeError::new_err(format!(
            "seal_to must be an iterable of public keys (a list, even of one), not {}",
            convert::type_name(seal_to)
        )));
    };
    items.enumerate().map(|(i, item)| keys::public_key(&item?, &format!("seal_to[{i}]"))).collect()
}

/// Verifies ``records[i]`` against ``previous_nonces[i]`` for every ``i``,
/// on at most ``threads`` threads (1..=1024, default: every core) with the
/// GIL released. No call starts threads: the library keeps one worker per
/// core for the process (rebuilt in a child after ``fork()``), and a call
/// never uses more workers than records or cores.
///
/// Raises the failure with the lowest index, exactly as a loop calling
/// ``records[i].verify(previous_nonces[i])`` would, as its record exception
/// with ``.index`` set. Different lengths, or ``threads`` outside
/// 1..=1024, raise ``InvalidArgumentError``.
#[pyfunction]
#[pyo3(signature = (records, previous_nonces, *, threads = None))]
pub fn verify_records(
    py: Python<'_>,
    records: &Bound<'_, PyAny>,
    previous_nonces: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let parallelism = convert::parallelism(py, threads)?;
    let owned = extract_emrs(records.try_iter()?)?;
    let nonces = previous_nonces
        .try_iter()?
        .enumerate()
        .map(|(i, item)| convert::uint64(&item?, &format!("previous_nonces[{i}]")))
        .collect::<PyResult<Vec<u64>>>()?;
    let views: Vec<RecordFields<'_>> = owned.iter().map(OwnedRecord::view).collect();
    py.detach(|| emr_core::verify_records(&views, &nonces, parallelism)).map_err(|e| errors::batch(py, e))
}

/// A list of new `EMR` objects for core records.
pub fn emr_list<'py>(py: Python<'py>, records: &[Record]) -> PyResult<Bound<'py, PyList>> {
    let items = records.iter().map(|r| Bound::new(py, Emr::from_record(py, r)?)).collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

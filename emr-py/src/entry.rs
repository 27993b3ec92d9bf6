//! `Grant` and `Revocation` (SPEC section 8.1's registry entries),
//! `create_grant` and `create_revocation`.
//!
//! As `EMR`, the classes hold whatever Python values they are given and the
//! core judges them: `verify` and `entry_id` run over the core's unchecked
//! `EntryFields` view of the values as they stand.

use emr_core::address::{Address, Role};
use emr_core::hash::sha1;
use emr_core::{Entry, EntryFields, ErrorKind, GrantFields, Hash256, RevocationFields};
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use pyo3::PyTraverseError;

use crate::chain::PyChain;
use crate::convert::{self, field_value};
use crate::errors;
use crate::keys::{self, AnyKey};

/// An entry's fields, owned, as extracted from a Python `Grant` or `Revocation`.
pub enum OwnedEntry {
    Grant {
        chain_id: Vec<u8>,
        dr_public_key: Vec<u8>,
        licence: Option<String>,
        not_before: u64,
        not_after: u64,
        authority: Vec<u8>,
        signature: Vec<u8>,
    },
    Revocation {
        chain_id: Vec<u8>,
        grant_id: Vec<u8>,
        effective: u64,
        authority: Vec<u8>,
        signature: Vec<u8>,
    },
}

impl OwnedEntry {
    /// The core's unchecked view of these fields.
    pub fn view(&self) -> EntryFields<'_> {
        match self {
            OwnedEntry::Grant { chain_id, dr_public_key, licence, not_before, not_after, authority, signature } => {
                EntryFields::Grant(GrantFields {
                    chain_id,
                    dr_public_key,
                    licence: licence.as_deref(),
                    not_before: *not_before,
                    not_after: *not_after,
                    authority,
                    signature,
                })
            }
            OwnedEntry::Revocation { chain_id, grant_id, effective, authority, signature } => {
                EntryFields::Revocation(RevocationFields {
                    chain_id,
                    grant_id,
                    effective: *effective,
                    authority,
                    signature,
                })
            }
        }
    }

    /// The typed core entry, refused as `Entry::from_fields` refuses it
    /// (`InvalidEntryError` for a licence that is not text or a `grant_id`
    /// or `chain_id` that is not 32 bytes).
    fn to_core(&self, py: Python<'_>) -> PyResult<Entry> {
        Entry::from_fields(&self.view()).map_err(|e| errors::entry(py, e))
    }
}

fn py_bytes(py: Python<'_>, bytes: &[u8]) -> Option<Py<PyAny>> {
    Some(PyBytes::new(py, bytes).into_any().unbind())
}

fn py_int(py: Python<'_>, n: u64) -> PyResult<Option<Py<PyAny>>> {
    Ok(Some(n.into_pyobject(py)?.into_any().unbind()))
}

/// An authority's grant admitting a doctor to write records (SPEC 8.1).
///
/// ``chain_id`` is the 32-byte id of the chain the grant is made for
/// (:attr:`Chain.chain_id`: no other chain accepts it),
/// ``dr_public_key`` and ``authority`` are SPKI DER bytes, ``licence`` a
/// ``str`` of at most 100 UTF-8 bytes (registration number, name),
/// ``not_before`` and ``not_after`` the first and last second (Unix time,
/// inclusive) the grant authorizes, ``signature`` the authority's strict-DER
/// ECDSA signature. Make one with :func:`create_grant`.
///
/// As :class:`EMR`, the fields hold whatever values they were given or later
/// assigned, and :meth:`verify` reports what is wrong: ``InvalidEntryError``
/// (a ``chain_id`` that is not 32 bytes, a key not on a supported curve, a
/// licence that is not text or too long, ``not_before > not_after``), then
/// ``InvalidEntrySignatureError`` (high-S included). A byte field that is
/// not bytes-like, or a time that is not an int in 0..2**64-1, raises
/// ``TypeError``/``OverflowError`` first. Whether a chain accepts it (its
/// id, its authority, duplicates) is the chain's to say.
///
/// Grants compare equal when all fields do; they are mutable and so
/// unhashable; they pickle and copy.
#[pyclass(module = "cryptoemr", name = "Grant", subclass)]
pub struct PyGrant {
    #[pyo3(get, set)]
    chain_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    dr_public_key: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    licence: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    not_before: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    not_after: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    authority: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    signature: Option<Py<PyAny>>,
}

impl PyGrant {
    fn values<'py>(&self, py: Python<'py>) -> [Bound<'py, PyAny>; 7] {
        [
            field_value(py, &self.chain_id),
            field_value(py, &self.dr_public_key),
            field_value(py, &self.licence),
            field_value(py, &self.not_before),
            field_value(py, &self.not_after),
            field_value(py, &self.authority),
            field_value(py, &self.signature),
        ]
    }

    /// Borrows the object only to take its field values.
    fn extract(slf: &Bound<'_, PyGrant>) -> PyResult<OwnedEntry> {
        let [chain_id, dr_public_key, licence, not_before, not_after, authority, signature] =
            slf.borrow().values(slf.py());
        Ok(OwnedEntry::Grant {
            chain_id: convert::bytes_like(&chain_id, "chain_id")?,
            dr_public_key: convert::bytes_like(&dr_public_key, "dr_public_key")?,
            licence: convert::optional_text(&licence),
            not_before: convert::uint64(&not_before, "not_before")?,
            not_after: convert::uint64(&not_after, "not_after")?,
            authority: convert::bytes_like(&authority, "authority")?,
            signature: convert::bytes_like(&signature, "signature")?,
        })
    }

    fn from_core(py: Python<'_>, grant: &emr_core::Grant) -> PyResult<PyGrant> {
        Ok(PyGrant {
            chain_id: py_bytes(py, grant.chain_id.as_bytes()),
            dr_public_key: py_bytes(py, &grant.dr_public_key),
            licence: Some(grant.licence.as_str().into_pyobject(py)?.into_any().unbind()),
            not_before: py_int(py, grant.not_before)?,
            not_after: py_int(py, grant.not_after)?,
            authority: py_bytes(py, &grant.authority),
            signature: py_bytes(py, &grant.signature),
        })
    }
}

#[pymethods]
impl PyGrant {
    #[new]
    #[pyo3(signature = (chain_id, dr_public_key, licence, not_before, not_after, authority, signature))]
    fn new(
        chain_id: Py<PyAny>,
        dr_public_key: Py<PyAny>,
        licence: Py<PyAny>,
        not_before: Py<PyAny>,
        not_after: Py<PyAny>,
        authority: Py<PyAny>,
        signature: Py<PyAny>,
    ) -> PyGrant {
        PyGrant {
            chain_id: Some(chain_id),
            dr_public_key: Some(dr_public_key),
            licence: Some(licence),
            not_before: Some(not_before),
            not_after: Some(not_after),
            authority: Some(authority),
            signature: Some(signature),
        }
    }

    /// The grant's id (``grant_id``, 32 bytes):
    /// ``SHA-256(grant_preimage || signature)`` over the fields as they
    /// stand. A block's id covers it; a :class:`Revocation` names it.
    #[getter]
    fn entry_id<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let owned = PyGrant::extract(slf)?;
        Ok(PyBytes::new(slf.py(), owned.view().entry_id().as_bytes()))
    }

    /// Alias of :attr:`entry_id`, the name a :class:`Revocation` uses.
    #[getter]
    fn grant_id<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        PyGrant::entry_id(slf)
    }

    /// SHA-1 of ``dr_public_key`` (20 bytes): the ``Dr_hash`` of the doctor
    /// it admits, as :meth:`Chain.grants` and :meth:`Chain.is_authorized` take it.
    #[getter]
    fn dr_hash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let key = convert::bytes_like(&field_value(py, &self.dr_public_key), "dr_public_key")?;
        Ok(PyBytes::new(py, sha1(&[&key]).as_bytes()))
    }

    /// The checks a grant passes without a chain (SPEC 8.1 checks 1-2), in
    /// order: ``InvalidEntryError``, then ``InvalidEntrySignatureError``.
    /// Returns ``None``. Runs with the GIL released.
    fn verify(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let owned = PyGrant::extract(slf)?;
        py.detach(|| owned.view().verify()).map_err(|e| errors::entry(py, e))
    }

    /// The canonical binary encoding (``docs/FORMAT.md``); ``InvalidEntryError``
    /// for a licence that is not a ``str`` or a ``chain_id`` that is not 32 bytes.
    fn to_bytes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let py = slf.py();
        let entry = PyGrant::extract(slf)?.to_core(py)?;
        Ok(PyBytes::new(py, &entry.to_bytes()))
    }

    /// Decodes :meth:`to_bytes` output; ``DecodeError`` for anything else (a
    /// revocation's encoding included). Decoding does not verify.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyGrant> {
        match decode(py, data)? {
            Entry::Grant(grant) => PyGrant::from_core(py, &grant),
            _ => Err(errors::of_kind(py, ErrorKind::Decode, "decode: not a grant")),
        }
    }

    fn __eq__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other) = other.cast::<PyGrant>() else {
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
        let [chain_id, dr_public_key, licence, not_before, not_after, authority, signature] = self.values(py);
        let doctor = match dr_public_key.cast::<PyBytes>() {
            Ok(key) => Address::new(Role::Doctor, sha1(&[key.as_bytes()])).to_string(),
            Err(_) => convert::short_repr(&dr_public_key),
        };
        let authority = match authority.cast::<PyBytes>() {
            Ok(key) => convert::hex(sha1(&[key.as_bytes()]).as_bytes()),
            Err(_) => convert::short_repr(&authority),
        };
        format!(
            "Grant(chain_id={}, doctor={doctor}, licence={}, not_before={}, not_after={}, authority={authority}, signature={})",
            convert::short_repr(&chain_id),
            convert::short_repr(&licence),
            convert::short_repr(&not_before),
            convert::short_repr(&not_after),
            convert::length_repr(&signature),
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for field in [
            &self.chain_id,
            &self.dr_public_key,
            &self.licence,
            &self.not_before,
            &self.not_after,
            &self.authority,
            &self.signature,
        ] {
            visit.call(field)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.chain_id = None;
        self.dr_public_key = None;
        self.licence = None;
        self.not_before = None;
        self.not_after = None;
        self.authority = None;
        self.signature = None;
    }
}

/// An authority's revocation of a grant (SPEC 8.1): from ``effective``
/// (Unix seconds) on, the grant whose id is ``grant_id`` (32 bytes) no
/// longer authorizes. ``chain_id`` is the 32-byte id of the chain it is
/// made for, as a :class:`Grant`'s. ``authority`` is the SPKI DER of any
/// authority of the chain (not necessarily the grant's), ``signature`` its
/// strict-DER ECDSA signature. Make one with :func:`create_revocation`. A
/// chain carries it only in a block whose timestamp has reached
/// ``effective``.
///
/// Fields hold whatever values they were given, as for :class:`Grant`;
/// :meth:`verify` raises ``InvalidEntryError`` (a ``chain_id`` or
/// ``grant_id`` that is not 32 bytes, an authority key not on a supported
/// curve), then ``InvalidEntrySignatureError`` (high-S included).
#[pyclass(module = "cryptoemr", name = "Revocation", subclass)]
pub struct PyRevocation {
    #[pyo3(get, set)]
    chain_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    grant_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    effective: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    authority: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    signature: Option<Py<PyAny>>,
}

impl PyRevocation {
    fn values<'py>(&self, py: Python<'py>) -> [Bound<'py, PyAny>; 5] {
        [
            field_value(py, &self.chain_id),
            field_value(py, &self.grant_id),
            field_value(py, &self.effective),
            field_value(py, &self.authority),
            field_value(py, &self.signature),
        ]
    }

    fn extract(slf: &Bound<'_, PyRevocation>) -> PyResult<OwnedEntry> {
        let [chain_id, grant_id, effective, authority, signature] = slf.borrow().values(slf.py());
        Ok(OwnedEntry::Revocation {
            chain_id: convert::bytes_like(&chain_id, "chain_id")?,
            grant_id: convert::bytes_like(&grant_id, "grant_id")?,
            effective: convert::uint64(&effective, "effective")?,
            authority: convert::bytes_like(&authority, "authority")?,
            signature: convert::bytes_like(&signature, "signature")?,
        })
    }

    fn from_core(py: Python<'_>, revocation: &emr_core::Revocation) -> PyResult<PyRevocation> {
        Ok(PyRevocation {
            chain_id: py_bytes(py, revocation.chain_id.as_bytes()),
            grant_id: py_bytes(py, revocation.grant_id.as_bytes()),
            effective: py_int(py, revocation.effective)?,
            authority: py_bytes(py, &revocation.authority),
            signature: py_bytes(py, &revocation.signature),
        })
    }
}

#[pymethods]
impl PyRevocation {
    #[new]
    #[pyo3(signature = (chain_id, grant_id, effective, authority, signature))]
    fn new(
        chain_id: Py<PyAny>,
        grant_id: Py<PyAny>,
        effective: Py<PyAny>,
        authority: Py<PyAny>,
        signature: Py<PyAny>,
    ) -> PyRevocation {
        PyRevocation {
            chain_id: Some(chain_id),
            grant_id: Some(grant_id),
            effective: Some(effective),
            authority: Some(authority),
            signature: Some(signature),
        }
    }

    /// The revocation's id (``revocation_id``, 32 bytes):
    /// ``SHA-256(revocation_preimage || signature)`` over the fields as they
    /// stand. A block's id covers it.
    #[getter]
    fn entry_id<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let owned = PyRevocation::extract(slf)?;
        Ok(PyBytes::new(slf.py(), owned.view().entry_id().as_bytes()))
    }

    /// The checks a revocation passes without a chain (SPEC 8.1 checks 1-2),
    /// in order: ``InvalidEntryError``, then ``InvalidEntrySignatureError``.
    /// Returns ``None``. Runs with the GIL released.
    fn verify(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let owned = PyRevocation::extract(slf)?;
        py.detach(|| owned.view().verify()).map_err(|e| errors::entry(py, e))
    }

    /// The canonical binary encoding (``docs/FORMAT.md``); ``InvalidEntryError``
    /// for a ``chain_id`` or ``grant_id`` that is not 32 bytes.
    fn to_bytes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let py = slf.py();
        let entry = PyRevocation::extract(slf)?.to_core(py)?;
        Ok(PyBytes::new(py, &entry.to_bytes()))
    }

    /// Decodes :meth:`to_bytes` output; ``DecodeError`` for anything else (a
    /// grant's encoding included). Decoding does not verify.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyRevocation> {
        match decode(py, data)? {
            Entry::Revocation(revocation) => PyRevocation::from_core(py, &revocation),
            _ => Err(errors::of_kind(py, ErrorKind::Decode, "decode: not a revocation")),
        }
    }

    fn __eq__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other) = other.cast::<PyRevocation>() else {
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
        let [chain_id, grant_id, effective, authority, signature] = self.values(py);
        let authority = match authority.cast::<PyBytes>() {
            Ok(key) => convert::hex(sha1(&[key.as_bytes()]).as_bytes()),
            Err(_) => convert::short_repr(&authority),
        };
        format!(
            "Revocation(chain_id={}, grant_id={}, effective={}, authority={authority}, signature={})",
            convert::short_repr(&chain_id),
            convert::short_repr(&grant_id),
            convert::short_repr(&effective),
            convert::length_repr(&signature),
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for field in [&self.chain_id, &self.grant_id, &self.effective, &self.authority, &self.signature] {
            visit.call(field)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.chain_id = None;
        self.grant_id = None;
        self.effective = None;
        self.authority = None;
        self.signature = None;
    }
}

fn decode(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Entry> {
    let bytes = convert::bytes_like(data, "data")?;
    Entry::from_bytes(&bytes).map_err(|e| errors::decode(py, e))
}

/// Extracts a `Grant` or `Revocation`, `TypeError` for anything else.
pub fn extract_entry(item: &Bound<'_, PyAny>, what: &str) -> PyResult<OwnedEntry> {
    if let Ok(grant) = item.cast::<PyGrant>() {
        PyGrant::extract(grant)
    } else if let Ok(revocation) = item.cast::<PyRevocation>() {
        PyRevocation::extract(revocation)
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be a Grant or a Revocation, not {}",
            convert::type_name(item)
        )))
    }
}

/// A block's `entries` (of `Block` and `mine_block`): `TypeError` unless an
/// iterable of `Grant` and `Revocation`.
pub fn extract_block_entries(entries: &Bound<'_, PyAny>) -> PyResult<Vec<OwnedEntry>> {
    let items = entries
        .try_iter()
        .map_err(|_| PyTypeError::new_err("entries must be an iterable of Grant and Revocation"))?;
    items.enumerate().map(|(i, item)| extract_entry(&item?, &format!("entries[{i}]"))).collect()
}

/// The typed core entry of a `Grant` or `Revocation` object.
pub fn to_core(item: &Bound<'_, PyAny>, what: &str) -> PyResult<Entry> {
    extract_entry(item, what)?.to_core(item.py())
}

/// A new `Grant` or `Revocation` object for a core entry.
pub fn entry_object<'py>(py: Python<'py>, entry: &Entry) -> PyResult<Bound<'py, PyAny>> {
    Ok(match entry {
        Entry::Grant(grant) => Bound::new(py, PyGrant::from_core(py, grant)?)?.into_any(),
        Entry::Revocation(revocation) => Bound::new(py, PyRevocation::from_core(py, revocation)?)?.into_any(),
        Entry::DispenserGrant(_) | Entry::Dispense(_) | Entry::Cancellation(_) => {
            return Err(errors::of_kind(
                py,
                ErrorKind::InvalidArgument,
                "a pharmacy entry (SPEC 10), which this module does not yet type",
            ))
        }
    })
}

/// A list of new `Grant` and `Revocation` objects for core entries.
pub fn entry_list<'py>(py: Python<'py>, entries: &[Entry]) -> PyResult<Bound<'py, PyList>> {
    let items = entries.iter().map(|e| entry_object(py, e)).collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// A new `Grant` object for a core grant.
pub fn grant_object<'py>(py: Python<'py>, grant: &emr_core::Grant) -> PyResult<Bound<'py, PyGrant>> {
    Bound::new(py, PyGrant::from_core(py, grant)?)
}

/// A 32-byte id argument of the signing functions: a chain id or a grant
/// id that is not 32 bytes could never verify, so it is `InvalidEntryError`
/// as the core's `Entry::from_fields` would say.
fn entry_hash(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Hash256> {
    let bytes = convert::bytes_like(value, what)?;
    Hash256::from_slice(&bytes).ok_or_else(|| {
        errors::of_kind(
            value.py(),
            ErrorKind::InvalidEntry,
            format!("invalid_entry: {what} must be 32 bytes, not {}", bytes.len()),
        )
    })
}

/// The `chain_id` argument: 32 bytes, or a `Chain` (its id).
fn chain_id_argument(value: &Bound<'_, PyAny>) -> PyResult<Hash256> {
    match value.cast::<PyChain>() {
        Ok(chain) => chain.get().chain_id_of(value.py()),
        Err(_) => entry_hash(value, "chain_id"),
    }
}

/// Signs a grant, for the chain ``chain_id``, admitting the doctor whose
/// public key is ``dr_public_key`` from ``not_before`` to ``not_after``
/// (Unix seconds, both inclusive; the defaults mean "always").
///
/// ``authority_key`` is taken as :func:`create_signed_record` takes a key (a
/// :class:`SigningKey`, PKCS#8/SEC1 DER or PEM, a pyca/cryptography EC
/// private key). ``dr_public_key`` is the doctor's SPKI DER bytes, a
/// :class:`SigningKey` or a pyca/cryptography EC key (its public key is
/// used). ``licence`` is a ``str`` of at most 100 UTF-8 bytes.
/// ``chain_id`` (keyword-only, required) is the chain's 32-byte id or the
/// :class:`Chain` itself: a grant names its chain, and no other chain
/// accepts it (``WrongChainError``). Refuses, with ``InvalidEntryError``, a
/// grant that could never verify (a ``chain_id`` that is not 32 bytes, a
/// doctor key not on a supported curve, a licence too long, ``not_before >
/// not_after``). The signature is low-S.
#[pyfunction]
#[pyo3(
    signature = (authority_key, dr_public_key, licence, not_before = 0, not_after = u64::MAX, *, chain_id),
    text_signature = "(authority_key, dr_public_key, licence, not_before=0, not_after=18446744073709551615, *, chain_id)"
)]
pub fn create_grant(
    py: Python<'_>,
    authority_key: &Bound<'_, PyAny>,
    dr_public_key: &Bound<'_, PyAny>,
    licence: &Bound<'_, PyAny>,
    not_before: u64,
    not_after: u64,
    chain_id: &Bound<'_, PyAny>,
) -> PyResult<PyGrant> {
    let key = AnyKey::from_python(authority_key, "authority_key")?;
    let dr_public_key = keys::public_key_der(dr_public_key, "dr_public_key")?;
    let licence = convert::text(licence, "licence")?;
    let chain_id = chain_id_argument(chain_id)?;
    let grant = py
        .detach(|| emr_core::Grant::sign(key.get(), chain_id, &dr_public_key, &licence, not_before, not_after))
        .map_err(|e| errors::entry_sign(py, &e))?;
    PyGrant::from_core(py, &grant)
}

/// Signs a revocation, for the chain ``chain_id``, of the grant
/// ``grant_id`` (its 32-byte id, or the :class:`Grant` itself), taking
/// effect at ``effective`` (Unix seconds: from then on the grant no longer
/// authorizes). ``authority_key`` and ``chain_id`` as for
/// :func:`create_grant`; any authority of the chain may revoke any of its
/// grants. ``InvalidEntryError`` for a ``chain_id`` or ``grant_id`` that is
/// not 32 bytes. The signature is low-S. A chain carries the revocation
/// only in a block whose timestamp has reached ``effective``: until then
/// the pool holds it (:meth:`ChainPool.submit_entry` returns ``"held"``).
#[pyfunction]
#[pyo3(signature = (authority_key, grant_id, effective, *, chain_id))]
pub fn create_revocation(
    py: Python<'_>,
    authority_key: &Bound<'_, PyAny>,
    grant_id: &Bound<'_, PyAny>,
    effective: &Bound<'_, PyAny>,
    chain_id: &Bound<'_, PyAny>,
) -> PyResult<PyRevocation> {
    let key = AnyKey::from_python(authority_key, "authority_key")?;
    let grant_id = match grant_id.cast::<PyGrant>() {
        Ok(grant) => PyGrant::extract(grant)?.view().entry_id(),
        Err(_) => entry_hash(grant_id, "grant_id")?,
    };
    let effective = convert::uint64(effective, "effective")?;
    let chain_id = chain_id_argument(chain_id)?;
    let revocation = py
        .detach(|| emr_core::Revocation::sign(key.get(), chain_id, grant_id, effective))
        .map_err(|e| errors::entry_sign(py, &e))?;
    PyRevocation::from_core(py, &revocation)
}

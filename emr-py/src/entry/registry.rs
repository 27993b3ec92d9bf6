//! `Grant` and `Revocation` (SPEC section 8.1's registry entries),
//! `create_grant` and `create_revocation`: their field lists, their own
//! properties and `repr`, their signing. The methods every entry class has
//! come from [`entry_class!`](super).

use emr_core::address::{Address, Role};
use emr_core::entry::{GrantFields, RevocationFields};
use emr_core::hash::sha1;
use emr_core::{Entry, EntryFields, ErrorKind};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{chain_id_argument, entry_hash};
use crate::convert::{self, field_value};
use crate::errors;
use crate::keys::{self, AnyKey};

/// `emrd1...` for a doctor's key given as bytes, else its `repr`.
fn doctor_repr(key: &Bound<'_, PyAny>) -> String {
    match key.cast::<PyBytes>() {
        Ok(key) => Address::new(Role::Doctor, sha1(&[key.as_bytes()])).to_string(),
        Err(_) => convert::short_repr(key),
    }
}

/// The hex SHA-1 of a key given as bytes (the name of an authority or a
/// pharmacy), else its `repr`.
pub(super) fn key_hash_repr(key: &Bound<'_, PyAny>) -> String {
    match key.cast::<PyBytes>() {
        Ok(key) => convert::hex(sha1(&[key.as_bytes()]).as_bytes()),
        Err(_) => convert::short_repr(key),
    }
}

entry_class! {
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
    class PyGrant = "Grant" {
        variant: Grant,
        core: emr_core::Grant,
        view: GrantFields,
        owned: OwnedGrant,
    }
    fields {
        chain_id: Bytes,
        dr_public_key: Bytes,
        licence: Text,
        not_before: U64,
        not_after: U64,
        authority: Bytes,
        signature: Bytes,
    }
    entry_id: "The grant's id (``grant_id``, 32 bytes):
``SHA-256(grant_preimage || signature)`` over the fields as they
stand. A block's id covers it; a :class:`Revocation` names it.";

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
}

impl PyGrant {
    fn describe(&self, py: Python<'_>) -> String {
        format!(
            "Grant(chain_id={}, doctor={}, licence={}, not_before={}, not_after={}, authority={}, signature={})",
            convert::short_repr(&field_value(py, &self.chain_id)),
            doctor_repr(&field_value(py, &self.dr_public_key)),
            convert::short_repr(&field_value(py, &self.licence)),
            convert::short_repr(&field_value(py, &self.not_before)),
            convert::short_repr(&field_value(py, &self.not_after)),
            key_hash_repr(&field_value(py, &self.authority)),
            convert::length_repr(&field_value(py, &self.signature)),
        )
    }
}

entry_class! {
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
    class PyRevocation = "Revocation" {
        variant: Revocation,
        core: emr_core::Revocation,
        view: RevocationFields,
        owned: OwnedRevocation,
    }
    fields {
        chain_id: Bytes,
        grant_id: Bytes,
        effective: U64,
        authority: Bytes,
        signature: Bytes,
    }
    entry_id: "The revocation's id (``revocation_id``, 32 bytes):
``SHA-256(revocation_preimage || signature)`` over the fields as they
stand. A block's id covers it.";
}

impl PyRevocation {
    fn describe(&self, py: Python<'_>) -> String {
        format!(
            "Revocation(chain_id={}, grant_id={}, effective={}, authority={}, signature={})",
            convert::short_repr(&field_value(py, &self.chain_id)),
            convert::short_repr(&field_value(py, &self.grant_id)),
            convert::short_repr(&field_value(py, &self.effective)),
            key_hash_repr(&field_value(py, &self.authority)),
            convert::length_repr(&field_value(py, &self.signature)),
        )
    }
}

/// A new `Grant` object for a core grant.
pub fn grant_object<'py>(py: Python<'py>, grant: &emr_core::Grant) -> PyResult<Bound<'py, PyGrant>> {
    Bound::new(py, PyGrant::from_core(py, grant)?)
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
        Ok(grant) => EntryFields::Grant(PyGrant::owned(grant)?.view()).entry_id(),
        Err(_) => match grant_id.cast::<super::pharmacy::PyDispenserGrant>() {
            Ok(grant) => EntryFields::DispenserGrant(super::pharmacy::PyDispenserGrant::owned(grant)?.view()).entry_id(),
            Err(_) => entry_hash(grant_id, "grant_id")?,
        },
    };
    let effective = convert::uint64(effective, "effective")?;
    let chain_id = chain_id_argument(chain_id)?;
    let revocation = py
        .detach(|| emr_core::Revocation::sign(key.get(), chain_id, grant_id, effective))
        .map_err(|e| errors::entry_sign(py, &e))?;
    PyRevocation::from_core(py, &revocation)
}

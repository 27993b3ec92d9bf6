//! `SigningKey` and the conversion of every accepted private-key form.

use emr_core::{Curve, ErrorKind, PublicKey, SigningKey};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};
use zeroize::Zeroizing;

use crate::convert;
use crate::errors;

/// A doctor's EC private key (secp256k1 or P-256).
///
/// The secret never appears in ``repr`` (which shows the curve and the
/// doctor's address) and is zeroized when the object is freed. Keys are immutable,
/// compare equal and hash alike when their public keys are equal.
///
/// Pickling is refused with ``TypeError``: a pickle would silently write the
/// secret wherever pickles go (caches, queues, logs). Export it explicitly
/// with :meth:`to_der` / :meth:`to_pem` and import it with :meth:`from_der` /
/// :meth:`from_pem`. ``copy.copy`` and ``copy.deepcopy`` return the same
/// (immutable) object.
#[pyclass(module = "cryptoemr", name = "SigningKey", frozen)]
pub struct PySigningKey {
    inner: SigningKey,
}

/// A key borrowed from a `SigningKey` object or imported for one call.
pub enum AnyKey {
    Object(Py<PySigningKey>),
    Imported(Box<SigningKey>),
}

impl AnyKey {
    /// Accepts a `SigningKey`, PKCS#8/SEC1 DER or PEM (bytes-like or `str`),
    /// or a pyca/cryptography private key object (exported with its
    /// `private_bytes(DER, PKCS8, NoEncryption())`, then imported here).
    ///
    /// `what` names the argument in a `TypeError`.
    pub fn from_python(value: &Bound<'_, PyAny>, what: &str) -> PyResult<AnyKey> {
        let py = value.py();
        if let Ok(key) = value.cast::<PySigningKey>() {
            return Ok(AnyKey::Object(key.clone().unbind()));
        }
        let is_bytes = value.is_instance_of::<PyBytes>()
            || value.is_instance_of::<PyByteArray>()
            || value.is_instance_of::<PyMemoryView>()
            || value.is_instance_of::<PyString>();
        if is_bytes {
            let bytes = Zeroizing::new(convert::bytes_or_text(value, what)?);
            return SigningKey::from_pem_or_der(&bytes)
                .map(|k| AnyKey::Imported(Box::new(k)))
                .map_err(|e| errors::key(py, &e));
        }
        if value.hasattr("private_bytes")? {
            let serialization = py.import("cryptography.hazmat.primitives.serialization")?;
            let der = value.call_method1(
                "private_bytes",
                (
                    serialization.getattr("Encoding")?.getattr("DER")?,
                    serialization.getattr("PrivateFormat")?.getattr("PKCS8")?,
                    serialization.getattr("NoEncryption")?.call0()?,
                ),
            )?;
            let der = Zeroizing::new(convert::bytes_like(&der, "private_bytes()")?);
            return SigningKey::from_der(&der).map(|k| AnyKey::Imported(Box::new(k))).map_err(|e| errors::key(py, &e));
        }
        Err(PyTypeError::new_err(format!(
            "{what} must be a SigningKey, PKCS#8/SEC1 DER or PEM bytes, or a \
             cryptography EC private key, not {}",
            convert::type_name(value)
        )))
    }

    pub fn get(&self) -> &SigningKey {
        match self {
            AnyKey::Object(key) => &key.get().inner,
            AnyKey::Imported(key) => key,
        }
    }
}

/// A public key's SPKI DER bytes, from a `SigningKey` (its public key),
/// bytes-like SPKI DER (as given: the core judges it), or a
/// pyca/cryptography EC public key (or private key, for its public key)
/// exported with `public_bytes(DER, SubjectPublicKeyInfo)`, which writes the
/// uncompressed point the protocol requires.
pub fn public_key_der(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    let py = value.py();
    if let Ok(key) = value.cast::<PySigningKey>() {
        return Ok(key.get().inner.public_key_der().to_vec());
    }
    if value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyByteArray>() || value.is_instance_of::<PyMemoryView>() {
        return convert::bytes_like(value, what);
    }
    let public = if value.hasattr("public_bytes")? {
        value.clone()
    } else if value.hasattr("private_bytes")? && value.hasattr("public_key")? {
        value.call_method0("public_key")?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be SPKI DER bytes, a SigningKey or a cryptography EC key, not {}",
            convert::type_name(value)
        )));
    };
    let serialization = py.import("cryptography.hazmat.primitives.serialization")?;
    let der = public.call_method1(
        "public_bytes",
        (
            serialization.getattr("Encoding")?.getattr("DER")?,
            serialization.getattr("PublicFormat")?.getattr("SubjectPublicKeyInfo")?,
        ),
    )?;
    convert::bytes_like(&der, "public_bytes()")
}

/// A public key for the core, taken as [`public_key_der`] takes it;
/// `InvalidKeyError` unless it is an uncompressed SPKI on a supported curve.
pub fn public_key(value: &Bound<'_, PyAny>, what: &str) -> PyResult<PublicKey> {
    let der = public_key_der(value, what)?;
    PublicKey::from_spki_der(&der).map_err(|_| {
        errors::of_kind(
            value.py(),
            ErrorKind::InvalidKey,
            format!("invalid key: {what} is not an uncompressed SPKI of a secp256k1 or P-256 key"),
        )
    })
}

#[pymethods]
impl PySigningKey {
    /// A fresh key from the operating system's random source.
    ///
    /// ``curve`` is ``"secp256k1"`` (default) or ``"P-256"`` (also spelled
    /// ``"secp256r1"`` / ``"prime256v1"``); another curve raises
    /// ``InvalidKeyError``.
    #[staticmethod]
    #[pyo3(signature = (curve = "secp256k1"))]
    fn generate(py: Python<'_>, curve: &str) -> PyResult<PySigningKey> {
        let curve = Curve::from_name(curve).map_err(|e| errors::key(py, &e))?;
        let inner = SigningKey::generate(curve).map_err(|e| errors::key(py, &e))?;
        Ok(PySigningKey { inner })
    }

    /// Imports PEM: ``PRIVATE KEY`` (PKCS#8) or ``EC PRIVATE KEY`` (SEC1);
    /// with ``password`` (bytes, or text as UTF-8), ``ENCRYPTED PRIVATE
    /// KEY`` (PKCS#8 PBES2), as pyca/cryptography's
    /// ``load_pem_private_key(data, password)``. ``WrongPasswordError`` when
    /// the password does not decrypt it; ``InvalidKeyError`` for an
    /// encrypted key without a password, a password for a key that is not
    /// encrypted, and anything that is not such a key.
    #[staticmethod]
    #[pyo3(signature = (data, password = None))]
    fn from_pem(py: Python<'_>, data: &Bound<'_, PyAny>, password: Option<&Bound<'_, PyAny>>) -> PyResult<PySigningKey> {
        let bytes = Zeroizing::new(convert::bytes_or_text(data, "data")?);
        let inner = match password {
            None => py.detach(|| SigningKey::from_pem(&bytes)),
            Some(password) => {
                let password = Zeroizing::new(convert::bytes_or_text(password, "password")?);
                py.detach(|| SigningKey::from_pem_with_password(&bytes, &password))
            }
        };
        Ok(PySigningKey { inner: inner.map_err(|e| errors::key(py, &e))? })
    }

    /// Imports DER: PKCS#8 ``PrivateKeyInfo`` or SEC1 ``ECPrivateKey``,
    /// unencrypted. ``InvalidKeyError`` otherwise.
    #[staticmethod]
    fn from_der(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PySigningKey> {
        let bytes = Zeroizing::new(convert::bytes_like(data, "data")?);
        let inner = SigningKey::from_der(&bytes).map_err(|e| errors::key(py, &e))?;
        Ok(PySigningKey { inner })
    }

    /// PKCS#8 PEM: unencrypted, byte for byte what pyca/cryptography
    /// writes; with ``password`` (bytes, or text as UTF-8; not empty),
    /// ``ENCRYPTED PRIVATE KEY``: PBES2 with PBKDF2-HMAC-SHA256 (600,000
    /// iterations) and AES-256-CBC, which pyca/cryptography and ``openssl
    /// pkey`` read. ``InvalidArgumentError`` for an empty password.
    #[pyo3(signature = (password = None))]
    fn to_pem<'py>(&self, py: Python<'py>, password: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
        match password {
            None => Ok(PyBytes::new(py, self.inner.to_pkcs8_pem().as_bytes())),
            Some(password) => {
                let password = Zeroizing::new(convert::bytes_or_text(password, "password")?);
                let pem = py.detach(|| self.inner.to_pkcs8_pem_encrypted(&password)).map_err(|e| errors::key(py, &e))?;
                Ok(PyBytes::new(py, pem.as_bytes()))
            }
        }
    }

    /// Unencrypted PKCS#8 DER, byte for byte what pyca/cryptography writes.
    fn to_der<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_pkcs8_der())
    }

    /// The public key as uncompressed DER SubjectPublicKeyInfo (a record's ``Dr_public_key``).
    #[getter]
    fn public_key_der<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public_key_der())
    }

    /// SHA-1 of :attr:`public_key_der` (a record's ``Dr_hash``), 20 bytes.
    #[getter]
    fn public_key_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public_key_hash().as_bytes())
    }

    /// The doctor's address (``emrd1...``): :attr:`public_key_hash` as
    /// checksummed text, to print, read out and type.
    #[getter]
    fn address(&self) -> String {
        self.inner.address().to_string()
    }

    /// ``"secp256k1"`` or ``"P-256"``.
    #[getter]
    fn curve(&self) -> &'static str {
        self.inner.curve().name()
    }

    fn __repr__(&self) -> String {
        format!("SigningKey(curve='{}', address='{}')", self.inner.curve().name(), self.inner.address())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = other.py();
        match other.cast::<PySigningKey>() {
            Ok(other) => {
                let equal = self.inner.public_key_der() == other.get().inner.public_key_der();
                Ok(equal.into_pyobject(py)?.to_owned().into_any().unbind())
            }
            Err(_) => Ok(py.NotImplemented()),
        }
    }

    fn __hash__(&self) -> u64 {
        let hash = self.inner.public_key_hash();
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }

    /// Refused: see the class docstring.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "SigningKey objects are not picklable, so that the secret is never written implicitly; \
             use key.to_der() / SigningKey.from_der() (or the PEM forms) to store it deliberately",
        ))
    }

    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __deepcopy__(slf: Py<Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
        slf
    }
}

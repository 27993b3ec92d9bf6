//! The native half of `cryptoemr.fhir`: a patient's history as an HL7 FHIR
//! R4 Bundle, and its verification from the bundle alone. The bundle is
//! the core's (`emr_core::fhir`); it crosses as JSON text, which
//! `cryptoemr/fhir.py` turns into a dict and back.

use emr_core::address::Role;
use emr_core::fhir::{self, FhirError};
use emr_core::SigningKey;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::address;
use crate::chain::{hash160, PyChain};
use crate::errors;
use crate::keys::AnyKey;

fn fhir_error(py: Python<'_>, error: FhirError) -> PyErr {
    match error {
        FhirError::Chain(e) => errors::chain(py, e),
        FhirError::Invalid { entry, reason } => {
            let built = (|| -> PyResult<Bound<'_, PyAny>> {
                let exception =
                    py.import("cryptoemr.fhir")?.getattr("BundleError")?.call1((format!("entry {entry}: {reason}"),))?;
                exception.setattr("entry", entry)?;
                Ok(exception)
            })();
            match built {
                Ok(exception) => PyErr::from_value(exception),
                Err(e) => e,
            }
        }
    }
}

/// The patient's bundle as JSON text.
#[pyfunction]
pub fn _patient_bundle(
    py: Python<'_>,
    chain: &Bound<'_, PyChain>,
    patient: &Bound<'_, PyAny>,
    keys: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let bytes = address::hash_or_address(patient, Role::Patient, "patient")?;
    let patient = hash160(patient, bytes, "patient")?;
    let mut owned = Vec::new();
    for key in keys.try_iter()? {
        owned.push(AnyKey::from_python(&key?, "keys")?);
    }
    let keys: Vec<&SigningKey> = owned.iter().map(AnyKey::get).collect();
    let bundle = chain
        .get()
        .shared()
        .with(|c| Ok(fhir::patient_bundle(c, &patient, &keys)))
        .map_err(|e| errors::chain(py, e))?
        .map_err(|e| fhir_error(py, e))?;
    Ok(bundle.to_string())
}

/// The txids a bundle's prescriptions verify as, from its JSON text.
#[pyfunction]
pub fn _verify_bundle<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyList>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| errors::invalid_argument(py, format!("not JSON: {e}")))?;
    let report = py.detach(|| fhir::verify_bundle(&value)).map_err(|e| fhir_error(py, e))?;
    PyList::new(py, report.records.iter().map(|t| PyBytes::new(py, t.as_bytes())))
}

//! `cryptoemr._native`: the Python surface of `emr-core`.
//!
//! Every rule lives in `emr-core`; this crate only converts Python values to
//! the core's field views (`convert`), calls the core, and turns core errors
//! into the exception classes of `cryptoemr/errors.py` (`errors`). The
//! public package is `python/cryptoemr/`, which re-exports everything here.
//!
//! Adding a function: write it in its own module (as `mining` holds `mine_block`)
//! as a `#[pyfunction]`, add it to `_native` below, re-export it from
//! `python/cryptoemr/__init__.py` and declare it in `_native.pyi`.

use pyo3::prelude::*;

mod address;
mod block;
mod chain;
mod conflict;
mod convert;
mod entry;
mod errors;
mod keys;
mod mining;
mod fhir;
mod node;
mod record;
mod rx;
mod wait;
mod walk;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<record::Emr>()?;
    m.add_class::<keys::PySigningKey>()?;
    m.add_class::<block::PyUserState>()?;
    m.add_class::<block::PyBlock>()?;
    entry::add_classes(m)?;
    m.add_class::<chain::PyChain>()?;
    m.add_class::<chain::ChainBlocks>()?;
    m.add_class::<chain::ChainPool>()?;
    m.add_class::<conflict::PyConflict>()?;
    m.add_class::<rx::PyPrescriptionStatus>()?;
    m.add_class::<rx::PyEntryConflict>()?;
    m.add_function(wrap_pyfunction!(record::create_signed_record, m)?)?;
    m.add_function(wrap_pyfunction!(record::calculate_sha1_hash, m)?)?;
    m.add_function(wrap_pyfunction!(record::calculate_txid, m)?)?;
    m.add_function(wrap_pyfunction!(record::calculate_signature_hash, m)?)?;
    m.add_function(wrap_pyfunction!(record::verify_records, m)?)?;
    m.add_function(wrap_pyfunction!(entry::create_grant, m)?)?;
    m.add_function(wrap_pyfunction!(entry::create_revocation, m)?)?;
    m.add_function(wrap_pyfunction!(entry::create_dispenser_grant, m)?)?;
    m.add_function(wrap_pyfunction!(entry::create_dispense, m)?)?;
    m.add_function(wrap_pyfunction!(entry::prepare_dispense, m)?)?;
    m.add_function(wrap_pyfunction!(entry::create_cancellation, m)?)?;
    m.add_function(wrap_pyfunction!(mining::mine_block, m)?)?;
    m.add_function(wrap_pyfunction!(mining::mining_engines, m)?)?;
    m.add_function(wrap_pyfunction!(address::encode_address, m)?)?;
    m.add_function(wrap_pyfunction!(walk::precheck_block, m)?)?;
    m.add_function(wrap_pyfunction!(walk::precheck_stored, m)?)?;
    m.add_function(wrap_pyfunction!(walk::block_summary, m)?)?;
    m.add_function(wrap_pyfunction!(walk::active_ids, m)?)?;
    m.add_class::<walk::PyChainWalk>()?;
    m.add_function(wrap_pyfunction!(address::decode_address, m)?)?;
    m.add_class::<node::PyNodeClient>()?;
    m.add_class::<node::PyNodeServer>()?;
    m.add_function(wrap_pyfunction!(node::_sync, m)?)?;
    m.add_function(wrap_pyfunction!(fhir::_patient_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(fhir::_verify_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(node::_serve, m)?)?;
    m.add_function(wrap_pyfunction!(node::_new_authority, m)?)?;
    m.add_function(wrap_pyfunction!(node::_issue_certificate, m)?)?;
    m.add("MAX_RECORDS", emr_core::MAX_RECORDS)?;
    m.add("DEFAULT_BLOCK_REWARD", emr_core::DEFAULT_BLOCK_REWARD)?;
    m.add("MAX_PRESCRIPTION_BYTES", emr_core::record::MAX_PRESCRIPTION_BYTES)?;
    m.add("MAX_ENTRIES", emr_core::MAX_ENTRIES)?;
    m.add("MAX_LICENCE_BYTES", emr_core::entry::MAX_LICENCE_BYTES)?;
    m.add("MAX_NOTE_BYTES", emr_core::entry::MAX_NOTE_BYTES)?;
    m.add("MAX_RECIPIENTS", emr_core::seal::MAX_RECIPIENTS)?;
    m.add("__version__", emr_core::VERSION)?;
    Ok(())
}

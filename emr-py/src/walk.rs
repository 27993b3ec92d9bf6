//! `_precheck_block` and `_ChainWalk`: the two halves of `Chain.check` that
//! `cryptoemr.distributed.check_chain` runs apart (the core's
//! `chain::precheck_block` and `chain::Walk`), and `_active_ids` and
//! `_block_summary`, with which it checks what the workers hand back.
//! Translation only.

use std::sync::Mutex;

use emr_core::chain::{self, Walk};
use pyo3::prelude::*;

use crate::convert;
use crate::errors;

/// The stateless half of checking the block at ``height`` from its
/// canonical encoding ``data``: decoding, its id, and every record check but
/// the nonce's (signatures included), on ``threads`` threads (default every
/// core), with the GIL released. Returns how many leading records passed;
/// raises ``CorruptError`` (with ``.height``) for bytes that are not a block
/// hashing to its own id at that height.
#[pyfunction]
#[pyo3(name = "_precheck_block", signature = (height, data, *, threads = None))]
pub fn precheck_block(py: Python<'_>, height: u64, data: &Bound<'_, PyAny>, threads: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let data = convert::bytes_like(data, "data")?;
    let parallelism = convert::parallelism(py, threads)?;
    py.detach(|| chain::precheck_block(height, &data, parallelism)).map_err(|e| with_height(py, e, height))
}

/// ``(block_id, records)`` for a block's canonical encoding ``data``,
/// re-derived: the id its header hashes to, and how many records it holds.
/// The id stands for every byte: ``CorruptError`` when the block carries
/// another id or a record does not hash to its txid, ``DecodeError`` for
/// bytes that are not a block. Nothing else is verified.
#[pyfunction]
#[pyo3(name = "_block_summary")]
pub fn block_summary<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, pyo3::types::PyBytes>, usize)> {
    let data = convert::bytes_like(data, "data")?;
    let block = emr_core::Block::from_bytes(&data).map_err(|e| errors::decode(py, e))?;
    let id = block.calculate_block_id();
    let corrupt = |detail: String| errors::of_kind(py, emr_core::ErrorKind::Corrupt, detail);
    if id != block.block_id {
        return Err(corrupt(format!("block {} hashes to {id}", block.block_id)));
    }
    if let Some(index) = block.records.iter().position(|r| r.calculate_txid() != r.txid) {
        return Err(corrupt(format!("block {id}: record {index} does not hash to its txid")));
    }
    Ok((pyo3::types::PyBytes::new(py, id.as_bytes()), block.records.len()))
}

/// The ids of the active blocks of the chain file at ``path`` (opened
/// read-only), genesis first, from one read transaction.
#[pyfunction]
#[pyo3(name = "_active_ids")]
pub fn active_ids<'py>(py: Python<'py>, path: std::path::PathBuf) -> PyResult<Vec<Bound<'py, pyo3::types::PyBytes>>> {
    let ids = py
        .detach(|| emr_core::chain::Chain::open_readonly(&path)?.active_ids())
        .map_err(|e| errors::chain(py, e))?;
    Ok(ids.iter().map(|id| pyo3::types::PyBytes::new(py, id.as_bytes())).collect())
}

fn with_height(py: Python<'_>, error: chain::ChainError, height: u64) -> PyErr {
    let error = errors::chain(py, error);
    match error.value(py).setattr("height", height) {
        Ok(()) => error,
        Err(e) => e,
    }
}

/// The in-order half of ``Chain.check``: blocks from genesis, each as its
/// canonical encoding with the count ``_precheck_block`` returned for it.
/// Parameters as for :class:`Chain` (defaults: the specification's), but
/// ``salt`` is required: the walk checks entries against the chain's id
/// (``InvalidArgumentError`` without it). :attr:`Chain.params` has them all.
#[pyclass(module = "cryptoemr", name = "_ChainWalk", frozen)]
pub struct PyChainWalk {
    inner: Mutex<Walk>,
}

#[pymethods]
impl PyChainWalk {
    #[new]
    #[pyo3(signature = (*, initial_difficulty = None, window = None, block_time = None, max_adjust = None, block_reward = None, authorities = None, max_future = None, salt = None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        initial_difficulty: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        block_time: Option<&Bound<'_, PyAny>>,
        max_adjust: Option<&Bound<'_, PyAny>>,
        block_reward: Option<&Bound<'_, PyAny>>,
        authorities: Option<&Bound<'_, PyAny>>,
        max_future: Option<&Bound<'_, PyAny>>,
        salt: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyChainWalk> {
        let params = crate::chain::params_from_keywords(
            initial_difficulty,
            window,
            block_time,
            max_adjust,
            block_reward,
            authorities,
            max_future,
            salt,
        )?;
        let walk = Walk::new(params).map_err(|e| errors::chain(py, e))?;
        Ok(PyChainWalk { inner: Mutex::new(walk) })
    }

    /// Blocks applied so far (the height the next one must have).
    #[getter]
    fn blocks(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).blocks()
    }

    /// Applies the next block; raises its error as ``Chain.check`` does,
    /// with ``.height``. Releases the GIL.
    fn apply(&self, py: Python<'_>, data: &Bound<'_, PyAny>, passed: usize) -> PyResult<()> {
        let data = convert::bytes_like(data, "data")?;
        let (result, height) = py.detach(|| {
            let mut walk = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let height = walk.blocks();
            (walk.apply(&data, passed), height)
        });
        result.map_err(|e| with_height(py, e, height))
    }
}

/// What one run of stored blocks gave: each block's encoding and passed
/// count, then the failure that ended the run early, if any.
type StoredRun = (Vec<(Vec<u8>, usize)>, Option<(u64, chain::ChainError)>);

/// [`precheck_block`] for the active blocks at heights ``start`` up to
/// ``stop`` of the chain file at ``path`` (opened read-only), in one call
/// with the GIL released. Returns ``(items, error)``: ``(encoding, passed)``
/// for each block up to the first one that cannot be read or fails (the
/// chain's end stops it too), and that block's error (``.height`` set) or
/// ``None``. An error opening the chain is raised.
#[pyfunction]
#[pyo3(name = "_precheck_stored", signature = (path, start, stop, *, threads = None))]
pub fn precheck_stored<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    start: u64,
    stop: u64,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, pyo3::types::PyList>, Option<Bound<'py, PyAny>>)> {
    let parallelism = convert::parallelism(py, threads)?;
    let run = py.detach(|| -> Result<StoredRun, chain::ChainError> {
        let chain = emr_core::chain::Chain::open_readonly(&path)?;
        let mut items = Vec::new();
        for height in start..stop {
            let block = match chain.block_at(height) {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(e) => return Ok((items, Some((height, e)))),
            };
            let bytes = block.to_bytes();
            match chain::precheck_block(height, &bytes, parallelism) {
                Ok(passed) => items.push((bytes, passed)),
                Err(e) => return Ok((items, Some((height, e)))),
            }
        }
        Ok((items, None))
    });
    let (items, failure) = run.map_err(|e| errors::chain(py, e))?;
    let list = pyo3::types::PyList::empty(py);
    for (bytes, passed) in items {
        list.append((pyo3::types::PyBytes::new(py, &bytes), passed))?;
    }
    let error = failure.map(|(height, e)| with_height(py, e, height).into_value(py).into_bound(py).into_any());
    Ok((list, error))
}

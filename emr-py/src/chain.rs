//! `Chain`: the core's chain (SPEC section 5) with its SQLite storage.
//!
//! The core `Chain` is `Send` but not `Sync`, so the Python object keeps it
//! behind a mutex and every call takes that mutex with the GIL released: two
//! Python threads using one chain wait for each other instead of failing
//! with a borrow error, and neither holds the GIL while SQLite syncs.
//!
//! Long calls (`add_blocks`, `check`, `mine_next`) run on a helper thread
//! through `wait::run`, as `mine_block` does: the calling thread waits with
//! the GIL released, runs signal handlers and the user's progress callback,
//! and on Ctrl-C (or an exception from the callback) cancels the core's work
//! through its `CancelHandle`. The core stops between two blocks and keeps
//! only whole blocks, so an interrupted call leaves nothing half-written.


use emr_core::chain::{
    AddOutcome, BatchOptions, BatchProgress, Chain, ChainError, ChainParams, MineNextOutcome, RecordEntry, SharedChain,
    SubmitOutcome, SALT_LEN,
};
use emr_core::address::Role;
use emr_core::hash::{Hash160, Hash256};
use emr_core::mining::{self, CancelHandle, SearchOptions};
use emr_core::{Difficulty, ErrorKind};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::address;
use crate::block::{PyBlock, PyUserState};
use crate::conflict::PyConflict;
use crate::convert;
use crate::errors;
use crate::record::Emr;
use crate::wait;
use crate::{mining as py_mining};

/// A 20-byte hash from `bytes` as given (already decoded by the caller).
pub(crate) fn hash160(value: &Bound<'_, PyAny>, bytes: Vec<u8>, what: &str) -> PyResult<Hash160> {
    Hash160::from_slice(&bytes)
        .ok_or_else(|| errors::invalid_argument(value.py(), format!("{what} must be 20 bytes, got {}", bytes.len())))
}

/// A 32-byte hash from a bytes-like value: `InvalidArgumentError` (a
/// `ValueError`) for another length, `TypeError` for another type.
pub(crate) fn hash256(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Hash256> {
    let bytes = convert::bytes_like(value, what)?;
    Hash256::from_slice(&bytes)
        .ok_or_else(|| errors::invalid_argument(value.py(), format!("{what} must be 32 bytes, got {}", bytes.len())))
}

fn optional_uint64(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<u64>> {
    match value.filter(|v| !v.is_none()) {
        Some(v) => Ok(Some(convert::uint64(v, what)?)),
        None => Ok(None),
    }
}

/// `(height, block_id, EMR)`, the shape of every history entry.
fn entry_tuple<'py>(py: Python<'py>, entry: &RecordEntry) -> PyResult<Bound<'py, PyTuple>> {
    let record = Bound::new(py, Emr::from_record(py, &entry.record)?)?;
    PyTuple::new(
        py,
        [
            entry.height.into_pyobject(py)?.into_any(),
            pyo3::types::PyBytes::new(py, entry.block_id.as_bytes()).into_any(),
            record.into_any(),
        ],
    )
}

/// The `authorities` argument: `TypeError` unless an iterable of public keys
/// (a bare key, bytes included, is refused rather than read as a sequence).
pub(crate) fn authority_keys(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<emr_core::PublicKey>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    let bare = value.is_instance_of::<pyo3::types::PyBytes>()
        || value.is_instance_of::<pyo3::types::PyByteArray>()
        || value.is_instance_of::<pyo3::types::PyMemoryView>()
        || value.is_instance_of::<pyo3::types::PyString>()
        || value.cast::<crate::keys::PySigningKey>().is_ok();
    let items = if bare { None } else { value.try_iter().ok() };
    let Some(items) = items else {
        return Err(PyTypeError::new_err(format!(
            "authorities must be an iterable of public keys (a list, even of one), not {}",
            convert::type_name(value)
        )));
    };
    items.enumerate().map(|(i, item)| crate::keys::public_key(&item?, &format!("authorities[{i}]"))).collect()
}

/// A list of SPKI DER `bytes`.
fn spki_list<'py>(py: Python<'py>, keys: &[emr_core::PublicKey]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, keys.iter().map(|k| pyo3::types::PyBytes::new(py, &k.to_spki_der())))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A pool outcome as Python sees it: its SPEC 9.1 name as a `str`, except
/// `conflicts_with_pending`, a `PendingConflict` (a `str` of that name that
/// also names the pending record's txid, which the caller needs and could
/// not otherwise get without a racy second look at the pool).
fn submit_outcome(py: Python<'_>, outcome: SubmitOutcome) -> PyResult<Bound<'_, PyAny>> {
    match outcome {
        SubmitOutcome::ConflictsWithPending { pending_txid } => py
            .import("cryptoemr._outcomes")?
            .getattr("PendingConflict")?
            .call1((pyo3::types::PyBytes::new(py, pending_txid.as_bytes()),)),
        other => Ok(pyo3::types::PyString::new(py, other.as_str()).into_any()),
    }
}

/// The salt keyword: 16 bytes, or `None` (a random salt for a new chain,
/// any stored one for an existing chain).
fn salt(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<[u8; SALT_LEN]>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let bytes = convert::bytes_like(value, "salt")?;
    let salt = <[u8; SALT_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        errors::invalid_argument(value.py(), format!("salt must be {SALT_LEN} bytes, got {}", bytes.len()))
    })?;
    Ok(Some(salt))
}

/// The chain parameters given as keywords of `Chain` (and `_ChainWalk`),
/// the defaults filling those not given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn params_from_keywords(
    initial_difficulty: Option<&Bound<'_, PyAny>>,
    window: Option<&Bound<'_, PyAny>>,
    block_time: Option<&Bound<'_, PyAny>>,
    max_adjust: Option<&Bound<'_, PyAny>>,
    block_reward: Option<&Bound<'_, PyAny>>,
    authorities: Option<&Bound<'_, PyAny>>,
    max_future: Option<&Bound<'_, PyAny>>,
    salt_value: Option<&Bound<'_, PyAny>>,
) -> PyResult<ChainParams> {
    let defaults = ChainParams::default();
    let initial_difficulty = match initial_difficulty.filter(|v| !v.is_none()) {
        Some(d) => convert::difficulty(d)?,
        None => defaults.initial_difficulty,
    };
    Ok(ChainParams {
        initial_difficulty,
        window: optional_uint64(window, "window")?.unwrap_or(defaults.window),
        block_time: optional_uint64(block_time, "block_time")?.unwrap_or(defaults.block_time),
        max_adjust: optional_uint64(max_adjust, "max_adjust")?.unwrap_or(defaults.max_adjust),
        block_reward: optional_uint64(block_reward, "block_reward")?.unwrap_or(defaults.block_reward),
        authorities: authority_keys(authorities)?,
        max_future: optional_uint64(max_future, "max_future")?.unwrap_or(defaults.max_future),
        salt: salt(salt_value)?,
    })
}

/// A tamper-evident chain of blocks (SPEC section 5): the block tree, the
/// active (heaviest) chain and its user states, in one SQLite file, or in
/// memory when ``path`` is ``None``.
///
/// ``Chain(path)`` opens the chain stored at ``path`` for writing, creating it
/// if the file does not exist. ``path`` is the chain's file, or a directory
/// holding it as ``chain.db`` (the command line's chain directory, ``emr
/// chain init DIR``). When the file cannot be opened, the ``IoError`` (an
/// ``OSError``) names it in ``filename``. To reopen a chain, pass no parameters: its
/// stored ones are used. Parameters passed for an existing chain must equal
/// the stored ones (the defaults fill those not passed), or
/// ``InvalidArgumentError`` is raised. A second writer on the same file gets
/// ``LockedError``; readers use :meth:`open_readonly`.
///
/// ``authorities`` (SPEC section 8.1) is an iterable of public keys (SPKI
/// DER bytes, :class:`SigningKey` objects or pyca/cryptography EC keys;
/// ``InvalidKeyError`` for one that is not an uncompressed SPKI on
/// secp256k1 or P-256, ``InvalidArgumentError`` for one listed twice) whose
/// :class:`Grant` and :class:`Revocation` entries, carried in blocks, decide
/// which doctors may write: a record whose doctor holds no grant active at
/// its block's timestamp fails with ``UnauthorizedDoctorError``. Empty (the
/// default) is an open chain: anyone may write, and every entry fails with
/// ``UnknownAuthorityError``. The list is fixed for the chain's life and
/// stored with it; reopening with another list (order included) raises
/// ``InvalidArgumentError``, and reopening without one uses the stored list.
///
/// ``max_future`` (default 60) is how many seconds ahead of the caller's
/// clock a block's timestamp may be (``TimestampTooLateError`` beyond).
/// ``salt`` (16 bytes) makes the chain's id (:attr:`chain_id`, which every
/// grant and revocation names) unique among chains of equal settings:
/// ``None`` (the default) is a random salt for a new chain and whatever
/// salt is stored when reopening. Passing a chain's :attr:`params` creates
/// a chain with its id (a replica), or reopens it.
///
/// Every accepted block is durable (on disk, synced) before ``add_block``
/// returns. Use as a context manager or call :meth:`close`.
#[pyclass(module = "cryptoemr", name = "Chain", frozen)]
pub struct PyChain {
    /// The core's shared chain: its lock, and the tip generation that
    /// restarts `mine_next` when another thread adds a block.
    inner: SharedChain,
    /// The chain's file (`None` in memory): an `IoError` from any of its
    /// operations (a full or failing disk) carries it as `filename`.
    file: Option<std::path::PathBuf>,
}

impl PyChain {
    fn new_from(chain: Chain, path: Option<&std::path::Path>) -> PyChain {
        PyChain { inner: SharedChain::new(chain), file: path.map(chain_file) }
    }

    /// A chain failure as [`errors::chain_at`] raises it, naming this
    /// chain's file.
    fn error(&self, py: Python<'_>, error: ChainError) -> PyErr {
        errors::chain_at(py, error, self.file.as_deref())
    }

    /// The core's shared chain (for `cryptoemr.node`'s sync).
    pub(crate) fn shared(&self) -> &SharedChain {
        &self.inner
    }

    /// The chain's id (`InvalidArgumentError` once closed).
    pub(crate) fn chain_id_of(&self, py: Python<'_>) -> PyResult<Hash256> {
        self.with(py, |chain| Ok(chain.chain_id()))
    }

    /// Runs `f` on the open chain with the GIL released.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Chain) -> Result<T, ChainError> + Send) -> PyResult<T> {
        py.detach(|| self.inner.with(f)).map_err(|e| self.error(py, e))
    }

    /// Runs a long core operation on a helper thread, forwarding progress to
    /// `progress(done, total)` and cancelling it on Ctrl-C or when the
    /// callback raises; that exception is then raised.
    fn interruptible<T: Send>(
        &self,
        py: Python<'_>,
        progress: Option<Bound<'_, PyAny>>,
        work: impl FnOnce(&mut Chain, &BatchOptions<'_>) -> T + Send,
    ) -> PyResult<T> {
        let cancel = CancelHandle::new();
        let wants_progress = progress.is_some();
        let on_progress = |p: BatchProgress| match &progress {
            Some(callback) => callback.call1((p.done, p.total)).map(drop),
            None => Ok(()),
        };
        let result = wait::run(py, "emr-chain", &cancel, on_progress, |reporter| {
            let report = |p: BatchProgress| reporter.report(p);
            let options = BatchOptions {
                progress: if wants_progress { Some(&report) } else { None },
                cancel: Some(&cancel),
                ..BatchOptions::default()
            };
            self.inner.with(|chain| Ok(work(chain, &options)))
        })?;
        result.map_err(|e| self.error(py, e))
    }
}

/// The chain file a path names, as the core takes it: the path, or its
/// `chain.db` when it is a directory.
fn chain_file(path: &std::path::Path) -> std::path::PathBuf {
    if path.is_dir() {
        path.join(emr_core::chain::CHAIN_FILE)
    } else {
        path.to_path_buf()
    }
}

#[pymethods]
impl PyChain {
    #[new]
    #[pyo3(
        signature = (path = None, *, initial_difficulty = None, window = None, block_time = None, max_adjust = None, block_reward = None, authorities = None, max_future = None, salt = None),
        text_signature = "(path=None, *, initial_difficulty=None, window=None, block_time=None, max_adjust=None, block_reward=None, authorities=(), max_future=None, salt=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        path: Option<std::path::PathBuf>,
        initial_difficulty: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        block_time: Option<&Bound<'_, PyAny>>,
        max_adjust: Option<&Bound<'_, PyAny>>,
        block_reward: Option<&Bound<'_, PyAny>>,
        authorities: Option<&Bound<'_, PyAny>>,
        max_future: Option<&Bound<'_, PyAny>>,
        salt: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyChain> {
        let given = [initial_difficulty, window, block_time, max_adjust, block_reward, authorities, max_future, salt];
        let params = if given.iter().all(|v| v.is_none_or(|v| v.is_none())) {
            None
        } else {
            Some(params_from_keywords(
                initial_difficulty,
                window,
                block_time,
                max_adjust,
                block_reward,
                authorities,
                max_future,
                salt,
            )?)
        };
        let opened = py.detach(|| match &path {
            Some(path) => Chain::open(path, params),
            None => Chain::in_memory(params.unwrap_or_default()),
        });
        opened
            .map(|c| PyChain::new_from(c, path.as_deref()))
            .map_err(|e| errors::chain_file(py, e, path.as_deref().map(chain_file).as_deref()))
    }

    /// Opens the chain at ``path`` (its file, or its directory as for
    /// ``Chain(path)``) for reading only, beside its writer if it has one (in
    /// this process or another); it sees every block whose ``add_block`` has
    /// returned. Writes raise ``InvalidArgumentError``.
    #[staticmethod]
    fn open_readonly(py: Python<'_>, path: std::path::PathBuf) -> PyResult<PyChain> {
        py.detach(|| Chain::open_readonly(&path))
            .map(|c| PyChain::new_from(c, Some(&path)))
            .map_err(|e| errors::chain_file(py, e, Some(&chain_file(&path))))
    }

    /// Adds one block; returns ``"extended"``, ``"side_branch"``,
    /// ``"reorganized"``, ``"already_known"`` or ``"stale"``: the block's
    /// side branch is neither heavier than the active chain nor near its
    /// tip (forking at most ``window`` blocks below the tip and reaching at
    /// most ``window`` blocks past the fork), so nothing is stored; no
    /// error, and a long branch must come whole, in one :meth:`add_blocks`
    /// call. ``now`` (Unix seconds), when given, refuses
    /// a block more than the chain's ``max_future`` seconds ahead of it
    /// (``TimestampTooLateError``; the block is not remembered as invalid
    /// and may be added once its time has come). Raises a ``ChainError`` for
    /// a linkage failure, or the block's own ``BlockError``
    /// (``BlockRecordError`` for a record), with ``.height`` set to the
    /// height of the block that failed.
    #[pyo3(signature = (block, now = None))]
    fn add_block(&self, py: Python<'_>, block: &Bound<'_, PyBlock>, now: Option<&Bound<'_, PyAny>>) -> PyResult<&'static str> {
        let block = PyBlock::to_core(block)?;
        let now = optional_uint64(now, "now")?;
        self.with(py, move |chain| chain.add_block(&block, now)).map(AddOutcome::as_str)
    }

    /// Adds many blocks in order in one transaction, record signatures on
    /// every core, and returns their outcomes, as :meth:`add_block` names
    /// them; a side branch's blocks are judged by where the branch stands at
    /// the end of the call (``"stale"`` each, none stored, when it is then
    /// neither heavier nor near the tip). ``progress(done, total)`` is
    /// called about every 100 ms on this thread. On the first failing block
    /// it raises that block's error (as :meth:`add_block` would) with
    /// ``.batch_index`` (its position in ``blocks``) and ``.added`` (the
    /// outcomes of the blocks before it, which are kept). Ctrl-C stops between
    /// two blocks, keeping those before.
    #[pyo3(signature = (blocks, progress = None, *, now = None))]
    fn add_blocks<'py>(
        &self,
        py: Python<'py>,
        blocks: &Bound<'py, PyAny>,
        progress: Option<&Bound<'py, PyAny>>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut core_blocks = Vec::new();
        for item in blocks.try_iter()? {
            let item = item?;
            let block = item.cast::<PyBlock>().map_err(|_| {
                PyTypeError::new_err(format!("blocks must hold Block objects, not {}", convert::type_name(&item)))
            })?;
            core_blocks.push(PyBlock::to_core(block)?);
        }
        let now = optional_uint64(now, "now")?;
        let progress = wait::progress_callback(progress)?;
        let result = self.interruptible(py, progress, |chain, options| chain.add_blocks(&core_blocks, now, options))?;
        match result {
            Ok(outcomes) => PyList::new(py, outcomes.into_iter().map(AddOutcome::as_str)),
            Err(failure) => {
                let error = self.error(py, failure.error);
                let value = error.value(py);
                value.setattr("batch_index", failure.index)?;
                value.setattr("added", PyList::new(py, failure.added.into_iter().map(AddOutcome::as_str))?)?;
                Err(error)
            }
        }
    }

    /// Number of blocks in the active chain (the tip's height + 1).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let len = self.with(py, |chain| chain.len())?;
        usize::try_from(len).map_err(|_| errors::invalid_argument(py, "chain longer than this platform's sizes"))
    }

    /// The tip block, or ``None`` for an empty chain.
    #[getter]
    fn tip(&self, py: Python<'_>) -> PyResult<Option<PyBlock>> {
        let tip = self.with(py, |chain| match chain.tip()? {
            Some(tip) => chain.block_at(tip.height),
            None => Ok(None),
        })?;
        tip.map(|block| PyBlock::from_core(py, &block)).transpose()
    }

    /// The active chain's block at ``height`` (negative counts from the tip,
    /// as for a list); ``IndexError`` outside the chain.
    fn __getitem__(&self, py: Python<'_>, height: i128) -> PyResult<PyBlock> {
        let block = self.with(py, move |chain| {
            let len = i128::from(chain.len()?);
            let height = if height < 0 { height + len } else { height };
            match u64::try_from(height) {
                Ok(h) if i128::from(h) < len => chain.block_at(h),
                _ => Ok(None),
            }
        })?;
        match block {
            Some(block) => PyBlock::from_core(py, &block),
            None => Err(PyIndexError::new_err("chain index out of range")),
        }
    }

    /// The active chain's blocks from height ``start`` up to, not including,
    /// ``stop`` (default: the tip), read one at a time as the iterator goes.
    #[pyo3(signature = (start = 0, stop = None))]
    fn blocks(slf: Bound<'_, Self>, start: u64, stop: Option<u64>) -> ChainBlocks {
        ChainBlocks { chain: slf.unbind(), next: start, stop }
    }

    /// The sum of the active chain's block difficulties (an int; it can
    /// exceed 2**128).
    #[getter]
    fn total_difficulty<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let work = self.with(py, |chain| chain.total_difficulty())?;
        let int = py.get_type::<pyo3::types::PyInt>();
        int.call_method1("from_bytes", (pyo3::types::PyBytes::new(py, &work.to_be_bytes()), "big"))
    }

    /// The difficulty the next block on the tip must have.
    fn next_difficulty(&self, py: Python<'_>) -> PyResult<u128> {
        self.with(py, |chain| chain.next_difficulty()).map(Difficulty::get)
    }

    /// The chain's parameters, as keyword arguments of :class:`Chain`:
    /// ``initial_difficulty``, ``window``, ``block_time``, ``max_adjust``,
    /// ``block_reward``, ``authorities`` (a list of SPKI DER bytes),
    /// ``max_future`` and ``salt`` (16 bytes).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let params = self.with(py, |chain| Ok(chain.params().clone()))?;
        let dict = pyo3::types::PyDict::new(py);
        dict.set_item("initial_difficulty", params.initial_difficulty.get())?;
        dict.set_item("window", params.window)?;
        dict.set_item("block_time", params.block_time)?;
        dict.set_item("max_adjust", params.max_adjust)?;
        dict.set_item("block_reward", params.block_reward)?;
        dict.set_item("authorities", spki_list(py, &params.authorities)?)?;
        dict.set_item("max_future", params.max_future)?;
        // A chain's own parameters always carry its salt.
        dict.set_item("salt", params.salt.map(|salt| pyo3::types::PyBytes::new(py, &salt)))?;
        Ok(dict)
    }

    /// The chain's id (32 bytes, SPEC 5): the hash of its parameters, salt
    /// included. Every :class:`Grant` and :class:`Revocation` names the
    /// chain it is made for (``create_grant(..., chain_id=chain)``); any
    /// other chain refuses it with ``WrongChainError``.
    #[getter]
    fn chain_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let id = self.chain_id_of(py)?;
        Ok(pyo3::types::PyBytes::new(py, id.as_bytes()))
    }

    /// The chain's authorities as SPKI DER bytes, in the order the chain
    /// was created with (an empty list for an open chain).
    #[getter]
    fn authorities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let authorities = self.with(py, |chain| Ok(chain.authorities().to_vec()))?;
        spki_list(py, &authorities)
    }

    /// Every grant the active chain holds for the doctor ``dr_hash`` (20
    /// bytes or an ``emrd1…`` address), in chain order, as ``(Grant,
    /// height, revoked_effective)`` tuples: the block height that carries
    /// it, and the ``effective`` time of its revocation in the active chain
    /// or ``None``. Follows undo and reorganisation.
    fn grants<'py>(&self, py: Python<'py>, dr_hash: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let bytes = address::hash_or_address(dr_hash, Role::Doctor, "dr_hash")?;
        let hash = hash160(dr_hash, bytes, "dr_hash")?;
        let grants = self.with(py, move |chain| chain.grants(&hash))?;
        let items = grants
            .iter()
            .map(|g| {
                let grant = crate::entry::grant_object(py, &g.grant)?.into_any();
                let height = g.height.into_pyobject(py)?.into_any();
                let revoked = g.revoked_effective.into_pyobject(py)?.into_any();
                PyTuple::new(py, [grant, height, revoked])
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Whether the active chain authorizes the doctor ``dr_hash`` (20 bytes
    /// or an ``emrd1…`` address) to write at ``timestamp`` (Unix seconds): a
    /// grant with ``not_before <= timestamp <= not_after`` not revoked with
    /// ``effective <= timestamp``. This is what a block at that timestamp on
    /// the tip asks of its records' doctors. Always ``False`` in an open
    /// chain, which has no grants (and lets every doctor write).
    fn is_authorized(&self, py: Python<'_>, dr_hash: &Bound<'_, PyAny>, timestamp: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = address::hash_or_address(dr_hash, Role::Doctor, "dr_hash")?;
        let hash = hash160(dr_hash, bytes, "dr_hash")?;
        let t = convert::uint64(timestamp, "timestamp")?;
        self.with(py, move |chain| chain.is_authorized(&hash, t))
    }

    /// Every dispenser grant the active chain holds for the pharmacy
    /// ``pharmacy`` (its 20-byte hash, SHA-1 of its key, or its public
    /// key), in chain order, as ``(DispenserGrant, height,
    /// revoked_effective)`` tuples, as :meth:`grants` gives a doctor's.
    fn dispenser_grants<'py>(&self, py: Python<'py>, pharmacy: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let hash = crate::rx::pharmacy_hash(pharmacy)?;
        let grants = self.with(py, move |chain| chain.dispenser_grants(&hash))?;
        let items = grants
            .iter()
            .map(|g| {
                let grant = crate::entry::entry_object(py, &g.grant.clone().into())?;
                let height = g.height.into_pyobject(py)?.into_any();
                let revoked = g.revoked_effective.into_pyobject(py)?.into_any();
                PyTuple::new(py, [grant, height, revoked])
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Whether the active chain lets the pharmacy ``pharmacy`` (hash or
    /// public key) dispense at ``timestamp``: a dispenser grant covering it,
    /// not revoked by then. Always ``False`` in an open chain.
    fn is_dispenser_authorized(
        &self,
        py: Python<'_>,
        pharmacy: &Bound<'_, PyAny>,
        timestamp: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let hash = crate::rx::pharmacy_hash(pharmacy)?;
        let t = convert::uint64(timestamp, "timestamp")?;
        self.with(py, move |chain| chain.is_dispenser_authorized(&hash, t))
    }

    /// What became of the prescription ``(dr_hash, nonce)`` (the doctor's 20
    /// bytes or ``emrd1…`` address, the record's nonce) in the active
    /// chain: ``"open"``, ``"dispensed"`` or ``"cancelled"``.
    /// ``NotFoundError`` when the active chain holds no such record.
    fn prescription_state(
        &self,
        py: Python<'_>,
        dr_hash: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
    ) -> PyResult<&'static str> {
        let bytes = address::hash_or_address(dr_hash, Role::Doctor, "dr_hash")?;
        let hash = hash160(dr_hash, bytes, "dr_hash")?;
        let nonce = convert::uint64(nonce, "nonce")?;
        self.with(py, move |chain| chain.prescription_state(&hash, nonce)).map(|s| s.as_str())
    }

    /// The prescription ``(dr_hash, nonce)`` as a
    /// :class:`PrescriptionStatus`: its record and block, its state, and
    /// for a dispensed or cancelled one who (``by``), when (``timestamp``)
    /// and which block (``height``, ``block_id``). ``NotFoundError`` as for
    /// :meth:`prescription_state`.
    fn prescription(
        &self,
        py: Python<'_>,
        dr_hash: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
    ) -> PyResult<crate::rx::PyPrescriptionStatus> {
        let bytes = address::hash_or_address(dr_hash, Role::Doctor, "dr_hash")?;
        let hash = hash160(dr_hash, bytes, "dr_hash")?;
        let nonce = convert::uint64(nonce, "nonce")?;
        self.with(py, move |chain| chain.prescription_status(&hash, nonce)).map(crate::rx::PyPrescriptionStatus::from)
    }

    /// Every record for ``patient_hash`` (20 bytes or an ``emrp1…``
    /// address) in the active chain, in chain order (as
    /// :meth:`patient_history`), each as a :class:`PrescriptionStatus`
    /// carrying its state.
    fn patient_prescriptions<'py>(
        &self,
        py: Python<'py>,
        patient_hash: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let bytes = address::hash_or_address(patient_hash, Role::Patient, "patient_hash")?;
        let hash = hash160(patient_hash, bytes, "patient_hash")?;
        let all = self.with(py, move |chain| chain.patient_prescriptions(&hash))?;
        PyList::new(py, all.into_iter().map(crate::rx::PyPrescriptionStatus::from))
    }

    /// Every dispensing by the pharmacy ``pharmacy`` (its 20-byte hash or
    /// its public key) in the active chain, in chain order, as ``(height,
    /// block_id, timestamp, Dispense)`` tuples.
    fn dispensings<'py>(&self, py: Python<'py>, pharmacy: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let hash = crate::rx::pharmacy_hash(pharmacy)?;
        let all = self.with(py, move |chain| chain.pharmacy_dispensings(&hash))?;
        let items = all
            .into_iter()
            .map(|d| {
                PyTuple::new(
                    py,
                    [
                        d.height.into_pyobject(py)?.into_any(),
                        pyo3::types::PyBytes::new(py, d.block_id.as_bytes()).into_any(),
                        d.timestamp.into_pyobject(py)?.into_any(),
                        crate::entry::entry_object(py, &d.dispense.into())?,
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The state of ``hash`` (20 bytes, or a doctor's or miner's address)
    /// after the tip: ``UserState(0, 0)`` for a hash the chain has never seen.
    fn user_state(&self, py: Python<'_>, hash: &Bound<'_, PyAny>) -> PyResult<PyUserState> {
        let hash = hash160(hash, address::state_owner(hash)?, "hash")?;
        self.with(py, move |chain| chain.user_state(&hash)).map(PyUserState::from)
    }

    /// Every record for ``patient_hash`` (20 bytes or an ``emrp1…`` address)
    /// in the active chain, in chain order, as ``(height, block_id, EMR)``
    /// tuples.
    fn patient_history<'py>(&self, py: Python<'py>, patient_hash: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let bytes = address::hash_or_address(patient_hash, Role::Patient, "patient_hash")?;
        let hash = hash160(patient_hash, bytes, "patient_hash")?;
        let entries = self.with(py, move |chain| chain.patient_history(&hash))?;
        PyList::new(py, entries.iter().map(|e| entry_tuple(py, e)).collect::<PyResult<Vec<_>>>()?)
    }

    /// Every record of the doctor ``dr_hash`` (20 bytes or an ``emrd1…``
    /// address) in the active chain, in chain order, as ``(height, block_id,
    /// EMR)`` tuples.
    fn doctor_records<'py>(&self, py: Python<'py>, dr_hash: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let bytes = address::hash_or_address(dr_hash, Role::Doctor, "dr_hash")?;
        let hash = hash160(dr_hash, bytes, "dr_hash")?;
        let entries = self.with(py, move |chain| chain.doctor_records(&hash))?;
        PyList::new(py, entries.iter().map(|e| entry_tuple(py, e)).collect::<PyResult<Vec<_>>>()?)
    }

    /// The record with ``txid`` in the active chain as ``(height, block_id,
    /// EMR)``, or ``None``.
    fn find_record<'py>(&self, py: Python<'py>, txid: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let txid = hash256(txid, "txid")?;
        let entry = self.with(py, move |chain| chain.find_record(&txid))?;
        entry.map(|e| entry_tuple(py, &e)).transpose()
    }

    /// Removes the tip block and returns it (``NotFoundError`` when empty);
    /// the states are as before it was added.
    fn undo_last_block(&self, py: Python<'_>) -> PyResult<PyBlock> {
        let block = self.with(py, |chain| chain.undo_last_block())?;
        PyBlock::from_core(py, &block)
    }

    /// Re-validates everything stored, every signature in order, from an
    /// empty state, and compares the stored states and indexes with the
    /// result. Returns the number of blocks checked when all is well; raises
    /// the first bad block's error with ``.height`` set, or ``CorruptError``
    /// for damaged storage. ``progress(done, total)`` as for
    /// :meth:`add_blocks`; Ctrl-C stops it.
    #[pyo3(signature = (progress = None))]
    fn check(&self, py: Python<'_>, progress: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let progress = wait::progress_callback(progress)?;
        let report = self.interruptible(py, progress, |chain, options| chain.check(options))?;
        let report = report.map_err(|e| self.error(py, e))?;
        match report.first_bad {
            None => Ok(report.blocks_ok),
            Some(bad) => {
                let error = errors::chain(py, bad.error);
                error.value(py).setattr("height", bad.height)?;
                Err(error)
            }
        }
    }

    /// Writes a copy of the chain, as of one committed state, to the new
    /// file ``path`` (``str`` or ``os.PathLike``): every page checked on
    /// the way and stamped with its checksum, the copy read back before it
    /// appears. Works on a read-only chain beside a writer in another
    /// process. Restore by copying the file back in the chain file's place
    /// and opening it. Raises ``IoError`` when ``path`` exists or cannot be
    /// written, ``CorruptError`` when the chain is damaged.
    fn backup(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        self.with(py, move |chain| chain.backup(&path))
    }

    /// The pool of records waiting for a block (see :class:`ChainPool`),
    /// stored in the chain's database.
    #[getter]
    fn pool(slf: Bound<'_, Self>) -> ChainPool {
        ChainPool { chain: slf.unbind() }
    }

    /// Every record the chain dropped for another (SPEC 9.3, "no record
    /// lost silently"), oldest first, as :class:`Conflict` objects: a block
    /// joined the active chain (mined elsewhere, or after a reorganisation
    /// that returned this record to the pool) carrying another record of
    /// the same doctor and nonce with other content, so this one can never
    /// be mined. Each stays listed until :meth:`dismiss_conflict`, or until
    /// a reorganisation brings the record itself into the active chain.
    fn conflicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let conflicts = self.with(py, |chain| chain.conflicts())?;
        PyList::new(py, conflicts.into_iter().map(PyConflict::from))
    }

    /// Stops listing the conflict of the dropped record whose txid is
    /// ``txid`` (32 bytes; ``InvalidArgumentError`` otherwise), the doctor
    /// having re-signed it, say: ``True``, or ``False`` when no conflict
    /// has that txid. Durable when it returns; ``InvalidArgumentError`` on
    /// a read-only chain.
    fn dismiss_conflict(&self, py: Python<'_>, txid: &Bound<'_, PyAny>) -> PyResult<bool> {
        let txid = hash256(txid, "txid")?;
        self.with(py, move |chain| chain.dismiss_conflict(&txid))
    }

    /// Every dispensing and cancellation the chain dropped for another
    /// (SPEC 9.3), oldest first, as :class:`EntryConflict` objects: two
    /// pharmacies dispensed one prescription at sites that had not synced,
    /// and the other's dispensing is in the active chain now (or a
    /// dispensing overtook a cancellation). Each stays listed until
    /// :meth:`dismiss_entry_conflict`, or until the entry itself is in the
    /// active chain again.
    fn entry_conflicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let conflicts = self.with(py, |chain| chain.entry_conflicts())?;
        PyList::new(py, conflicts.into_iter().map(crate::rx::PyEntryConflict::from))
    }

    /// Stops listing the conflict of the dropped entry whose id is
    /// ``entry_id`` (32 bytes): ``True``, or ``False`` when there is none.
    /// Durable when it returns; ``InvalidArgumentError`` on a read-only chain.
    fn dismiss_entry_conflict(&self, py: Python<'_>, entry_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = hash256(entry_id, "entry_id")?;
        self.with(py, move |chain| chain.dismiss_entry_conflict(&id))
    }

    /// The next block to mine, as a :class:`Block` whose ``block_id`` is 32
    /// zero bytes and ``nonce`` 0 (pass its fields to :func:`mine_block`):
    /// ``previous`` the tip's id (zeros for an empty chain), ``height`` the
    /// chain's length, ``difficulty`` :meth:`next_difficulty`, ``timestamp``
    /// the later of ``timestamp`` (default: the current time) and the tip's,
    /// the pool's pending entries that still apply (at most 25, in arrival
    /// order), and up to 25 ready records of the pool, each doctor's nonces
    /// in order, leaving out those of doctors the block would not authorize.
    /// ``miner``: 20 bytes or an ``emrm1…`` address.
    #[pyo3(signature = (miner, timestamp = None))]
    fn template(
        &self,
        py: Python<'_>,
        miner: &Bound<'_, PyAny>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyBlock> {
        let bytes = address::hash_or_address(miner, Role::Miner, "miner")?;
        let miner = hash160(miner, bytes, "miner")?;
        let timestamp = optional_uint64(timestamp, "timestamp")?.unwrap_or_else(unix_now);
        let t = self.with(py, move |chain| chain.template(&miner, timestamp))?;
        let block = emr_core::Block {
            previous: t.previous,
            height: t.height,
            miner: t.miner,
            records: t.records,
            entries: t.entries,
            timestamp: t.timestamp,
            difficulty: t.difficulty,
            block_id: Hash256::from_bytes([0; 32]),
            nonce: 0,
        };
        PyBlock::from_core(py, &block)
    }

    /// Mines the pool's next block (:meth:`template`) and adds it; returns
    /// the added :class:`Block`, or ``None`` when ``timeout`` seconds (for
    /// the whole call) pass first.
    ///
    /// When another thread adds a block meanwhile (one at the same height,
    /// a reorganisation, an undo), the search stops and starts over on the
    /// new tip. ``timestamp`` defaults to the current time (read again at
    /// each start; one more than the chain's ``max_future`` seconds ahead
    /// of it is ``TimestampTooLateError`` before mining); ``threads``,
    /// ``timeout``, ``progress(hashes, hashes_per_second)`` (totals since
    /// the call started, on this thread) and ``engine`` are as for
    /// :func:`mine_block`. The GIL is released;
    /// Ctrl-C stops every mining thread and raises ``KeyboardInterrupt``.
    /// ``miner``: 20 bytes or an ``emrm1…`` address.
    #[pyo3(signature = (miner, *, timestamp = None, threads = None, timeout = None, progress = None, engine = None))]
    #[allow(clippy::too_many_arguments)]
    fn mine_next(
        &self,
        py: Python<'_>,
        miner: &Bound<'_, PyAny>,
        timestamp: Option<&Bound<'_, PyAny>>,
        threads: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        progress: Option<&Bound<'_, PyAny>>,
        engine: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<PyBlock>> {
        let bytes = address::hash_or_address(miner, Role::Miner, "miner")?;
        let miner = hash160(miner, bytes, "miner")?;
        let timestamp = optional_uint64(timestamp, "timestamp")?;
        let threads = convert::parallelism(py, threads)?.limit().map(std::num::NonZeroUsize::get);
        let time_limit = py_mining::time_limit(py, timeout)?;
        let progress = wait::progress_callback(progress)?;
        let engine = py_mining::hash_engine(py, engine)?;

        let cancel = CancelHandle::new();
        let wants_progress = progress.is_some();
        let on_progress = |p: mining::Progress| match &progress {
            Some(callback) => callback.call1((p.hashes, p.hashes_per_second)).map(drop),
            None => Ok(()),
        };
        let result = wait::run(py, "emr-mine-next", &cancel, on_progress, |reporter| {
            let options = SearchOptions {
                threads,
                cancel: Some(cancel.clone()),
                time_limit,
                progress: wants_progress.then(|| {
                    Box::new(move |p| reporter.report(p)) as Box<dyn Fn(mining::Progress) + Send + Sync>
                }),
                engine,
                ..SearchOptions::default()
            };
            self.inner.mine_next(&miner, timestamp, &options)
        })?;
        match result.map_err(|e| self.error(py, e))? {
            MineNextOutcome::Added(block, _) => PyBlock::from_core(py, &block).map(Some),
            MineNextOutcome::Exhausted | MineNextOutcome::TimedOut => Ok(None),
            MineNextOutcome::Cancelled => Err(errors::of_kind(py, ErrorKind::Cancelled, "mining was cancelled")),
        }
    }

    /// Closes the database; later calls raise ``InvalidArgumentError``.
    /// Closing twice is allowed.
    fn close(&self, py: Python<'_>) {
        py.detach(|| drop(self.inner.close()));
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.with(py, |chain| Ok((chain.len()?, chain.params().initial_difficulty.get(), chain.authorities().len()))) {
            Ok((len, initial, 0)) => format!("<cryptoemr.Chain: {len} blocks, initial_difficulty={initial}>"),
            Ok((len, initial, authorities)) => {
                format!("<cryptoemr.Chain: {len} blocks, initial_difficulty={initial}, {authorities} authorities>")
            }
            Err(_) => "<cryptoemr.Chain: closed>".to_owned(),
        }
    }
}

/// The iterator of :meth:`Chain.blocks`.
#[pyclass(module = "cryptoemr", name = "ChainBlocks")]
pub struct ChainBlocks {
    chain: Py<PyChain>,
    next: u64,
    stop: Option<u64>,
}

#[pymethods]
impl ChainBlocks {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<PyBlock>> {
        if self.stop.is_some_and(|stop| self.next >= stop) {
            return Ok(None);
        }
        let height = self.next;
        let block = self.chain.get().with(py, move |chain| chain.block_at(height))?;
        match block {
            Some(block) => {
                self.next += 1;
                PyBlock::from_core(py, &block).map(Some)
            }
            None => Ok(None),
        }
    }
}

/// ``Chain.pool``: the records waiting for a block, kept in the chain's
/// database (a restart loses none). A record's identity is its
/// ``(Dr_hash, nonce)``: the pool holds one record per identity.
#[pyclass(module = "cryptoemr", name = "ChainPool", frozen)]
pub struct ChainPool {
    chain: Py<PyChain>,
}

#[pymethods]
impl ChainPool {
    /// Offers ``record`` (an :class:`EMR`) to the pool, fully verified
    /// (signature included) against its doctor's nonce after the tip.
    /// Returns ``"ready"`` (it can go in the next block), ``"held"`` (an
    /// earlier nonce of its doctor is missing; it becomes ready when that one
    /// arrives), ``"already_pending"`` (the same record is pending, its
    /// signature perhaps in its other form: nothing changes) or a
    /// :class:`PendingConflict`, a ``str`` equal to
    /// ``"conflicts_with_pending"`` whose ``pending_txid`` names the other
    /// record with the same ``(Dr_hash, nonce)`` that is pending (the doctor
    /// signed two records with one nonce; the first one stays, this one is
    /// not added). Raises the record's ``RecordError`` subclass otherwise:
    /// ``InvalidNonceError`` for a nonce the chain has already used.
    ///
    /// In a chain with authorities, a record that passes its own checks is
    /// refused with ``UnauthorizedDoctorError`` unless its doctor is
    /// authorized at ``now`` (Unix seconds; default the current time; never
    /// earlier than the tip's timestamp) by the active chain and the pending
    /// entries. That is a filter: blocks are checked at their own timestamp.
    #[pyo3(signature = (record, *, now = None))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let emr = record
            .cast::<Emr>()
            .map_err(|_| PyTypeError::new_err(format!("record must be an EMR, not {}", convert::type_name(record))))?;
        let owned = Emr::extract(emr)?;
        let record = emr_core::Record::from_fields(&owned.view()).map_err(|e| errors::record(py, e))?;
        let now = optional_uint64(now, "now")?.unwrap_or_else(unix_now);
        let outcome = self.chain.get().with(py, move |chain| chain.submit_at(&record, now))?;
        submit_outcome(py, outcome)
    }

    /// Offers a :class:`Grant` or :class:`Revocation` to the pool for the
    /// next blocks, checked as a block on the tip at ``now`` (Unix seconds;
    /// default the current time; never earlier than the tip's timestamp)
    /// would check it after the pending entries (so a revocation may name a
    /// grant still pending). Returns ``"ready"``; ``"held"`` for a
    /// revocation whose ``effective`` time is later than that (pooled: it
    /// goes in the first template whose timestamp reaches it); or
    /// ``"already_pending"`` (nothing changes) when an entry with its id is
    /// pending. Raises its ``EntryError`` subclass otherwise
    /// (``WrongChainError`` for an entry made for another chain,
    /// ``UnknownAuthorityError`` for every entry of an open chain).
    #[pyo3(signature = (entry, *, now = None))]
    fn submit_entry<'py>(
        &self,
        py: Python<'py>,
        entry: &Bound<'py, PyAny>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let entry = crate::entry::to_core(entry, "entry")?;
        let now = optional_uint64(now, "now")?.unwrap_or_else(unix_now);
        let outcome = self.chain.get().with(py, move |chain| chain.submit_entry_at(&entry, now))?;
        submit_outcome(py, outcome)
    }

    /// The pending entries as :class:`Grant` and :class:`Revocation`
    /// objects, in arrival order (the order :meth:`Chain.template` takes
    /// them in). One that no longer applies, or a revocation not yet in
    /// force at a template's time, stays listed; templates skip it.
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let entries = self.chain.get().with(py, |chain| chain.pending_entries())?;
        crate::entry::entry_list(py, &entries)
    }

    /// Every pending record as :class:`EMR` objects: the ready ones in the
    /// order :meth:`Chain.template` takes them, then the held ones in
    /// arrival order.
    fn pending<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let records = self.chain.get().with(py, |chain| chain.pending())?;
        crate::record::emr_list(py, &records)
    }

    /// The pending records that can go in the next block, in template order.
    fn ready<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let split = self.chain.get().with(py, |chain| chain.pending_split())?;
        crate::record::emr_list(py, &split.ready)
    }

    /// The pending records waiting for an earlier nonce, in arrival order.
    fn held<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let split = self.chain.get().with(py, |chain| chain.pending_split())?;
        crate::record::emr_list(py, &split.held)
    }

    /// The number of pending records (entries not counted: see :meth:`entries`).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.chain.get().with(py, |chain| chain.pending())?.len())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.chain.get().with(py, |chain| Ok((chain.pending_split()?, chain.pending_entries()?.len()))) {
            Ok((split, 0)) => format!("<cryptoemr.ChainPool: {} ready, {} held>", split.ready.len(), split.held.len()),
            Ok((split, entries)) => format!(
                "<cryptoemr.ChainPool: {} ready, {} held, {entries} entries>",
                split.ready.len(),
                split.held.len()
            ),
            Err(_) => "<cryptoemr.ChainPool: closed>".to_owned(),
        }
    }
}

//! `UserState` and `Block`.

use emr_core::address::Role;
use emr_core::hash::Hash160;
use emr_core::{BlockFields, UserStates, DEFAULT_BLOCK_REWARD};
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::PyTraverseError;

use crate::address;
use crate::convert::{self, field_value, OwnedRecord};
use crate::entry::{entry_list, extract_block_entries, OwnedEntry};
use crate::errors;
use crate::record::{emr_list, extract_block_records};

/// One user's state: a miner's reward ``balance`` and a doctor's record
/// counter ``nonce`` (both ints in 0..2**64-1; assigning a value outside
/// that range raises ``OverflowError``). A hash absent from a state dict
/// has ``UserState(0, 0)``.
#[pyclass(module = "cryptoemr", name = "UserState", eq, get_all, set_all, subclass)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PyUserState {
    /// Reward balance; saturates at 2**64-1.
    balance: u64,
    /// The nonce of the user's latest record (0 before the first).
    nonce: u64,
}

impl From<emr_core::UserState> for PyUserState {
    fn from(state: emr_core::UserState) -> Self {
        PyUserState { balance: state.balance, nonce: state.nonce }
    }
}

#[pymethods]
impl PyUserState {
    #[new]
    #[pyo3(signature = (balance = 0, nonce = 0))]
    fn new(balance: u64, nonce: u64) -> Self {
        PyUserState { balance, nonce }
    }

    /// Mutable, hence unhashable.
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    fn __repr__(&self) -> String {
        format!("UserState(balance={}, nonce={})", self.balance, self.nonce)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let state = *slf.borrow();
        convert::reduce(slf.as_any(), [state.balance, state.nonce])
    }
}

/// A block of records with its proof of work (the original design's ``Block``),
/// and, in a chain with authorities, the registry ``entries`` (at most 25
/// :class:`Grant` and :class:`Revocation` objects, SPEC section 8.1) it
/// carries; a block without entries is exactly the original one.
///
/// Like :class:`EMR`, the fields hold whatever Python values they were given
/// or later assigned, including the ``records`` and ``entries`` lists
/// themselves (so ``block.records[0].prescription = "x"`` is seen by the next check):
/// :meth:`verify_and_get_changes` reports what is wrong, in order, with the
/// matching ``BlockError``. ``previous``, ``miner`` and ``block_id`` must be
/// bytes-like, except that a ``str`` given or assigned as ``miner`` is
/// decoded at once as a miner's address (``emrm1...``; an ``AddressError``
/// if it has a typo or another role) and kept as its 20 bytes; ``height``, ``timestamp`` and ``nonce`` ints in 0..2**64-1;
/// ``difficulty`` an int in 0..2**128-1; ``records`` an iterable of ``EMR``;
/// ``entries`` an iterable of ``Grant`` and ``Revocation``;
/// other types raise ``TypeError``/``OverflowError`` before any check.
///
/// Blocks compare equal when all fields do; they are mutable and so
/// unhashable; they pickle (field by field) and copy.
#[pyclass(module = "cryptoemr", name = "Block", subclass)]
pub struct PyBlock {
    #[pyo3(get, set)]
    previous: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    height: Option<Py<PyAny>>,
    #[pyo3(get)]
    miner: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    records: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    timestamp: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    difficulty: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    block_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    nonce: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    entries: Option<Py<PyAny>>,
}

// The signature above spells the default out so that it shows in
// `help()` and `__text_signature__`; it is the core's default.
const _: () = assert!(DEFAULT_BLOCK_REWARD == 10000);

/// A block's fields, owned, as extracted from a Python `Block`.
struct OwnedBlock {
    previous: Vec<u8>,
    height: u64,
    miner: Vec<u8>,
    records: Vec<OwnedRecord>,
    timestamp: u64,
    difficulty: u128,
    block_id: Vec<u8>,
    nonce: u64,
    entries: Vec<OwnedEntry>,
}

impl OwnedBlock {
    fn view(&self) -> BlockFields<'_> {
        BlockFields {
            previous: &self.previous,
            height: self.height,
            miner: &self.miner,
            records: self.records.iter().map(OwnedRecord::view).collect(),
            entries: self.entries.iter().map(OwnedEntry::view).collect(),
            timestamp: self.timestamp,
            difficulty: self.difficulty,
            block_id: &self.block_id,
            nonce: self.nonce,
        }
    }
}

/// A `miner` field's value: a `str` is decoded as a miner's address into
/// its 20 bytes, so the field reads back as bytes; anything else is kept as
/// given, for `verify_and_get_changes` to judge.
fn miner_field(value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if value.is_instance_of::<PyString>() {
        let hash = address::hash_or_address(value, Role::Miner, "miner")?;
        Ok(PyBytes::new(value.py(), &hash).into_any().unbind())
    } else {
        Ok(value.clone().unbind())
    }
}

/// `dict[bytes | str, UserState]` (any mapping) -> the core's state map; a
/// `str` key is a doctor's or a miner's address.
fn user_states(py: Python<'_>, states: &Bound<'_, PyAny>) -> PyResult<UserStates> {
    let mut out = UserStates::new();
    let items = match states.cast::<PyDict>() {
        Ok(dict) => dict.items().into_any(),
        Err(_) => states.call_method0("items").map_err(|_| {
            PyTypeError::new_err(format!(
                "previous_user_states must be a dict of bytes to UserState, not {}",
                convert::type_name(states)
            ))
        })?,
    };
    for item in items.try_iter()? {
        let (key, state): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let hash = address::state_owner(&key)?;
        let hash = Hash160::from_slice(&hash).ok_or_else(|| {
            errors::invalid_argument(
                py,
                format!("previous_user_states keys must be 20-byte hashes, got {} bytes", hash.len()),
            )
        })?;
        let state = match state.cast::<PyUserState>() {
            Ok(state) => *state.borrow(),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "previous_user_states values must be UserState, not {}",
                    convert::type_name(&state)
                )))
            }
        };
        out.insert(hash, emr_core::UserState { balance: state.balance, nonce: state.nonce });
    }
    Ok(out)
}

impl PyBlock {
    /// The nine field values in constructor order (`entries` last).
    fn values<'py>(&self, py: Python<'py>) -> [Bound<'py, PyAny>; 9] {
        [
            field_value(py, &self.previous),
            field_value(py, &self.height),
            field_value(py, &self.miner),
            field_value(py, &self.records),
            field_value(py, &self.timestamp),
            field_value(py, &self.difficulty),
            field_value(py, &self.block_id),
            field_value(py, &self.nonce),
            field_value(py, &self.entries),
        ]
    }

    /// Copies the fields into owned Rust values; borrows the object only to
    /// take its field values (iterating `records` may run Python code).
    fn extract(slf: &Bound<'_, PyBlock>) -> PyResult<OwnedBlock> {
        let [previous, height, miner, records, timestamp, difficulty, block_id, nonce, entries] =
            slf.borrow().values(slf.py());
        let records = extract_block_records(&records)?;
        let entries = extract_block_entries(&entries)?;
        Ok(OwnedBlock {
            previous: convert::bytes_like(&previous, "previous")?,
            height: convert::uint64(&height, "height")?,
            miner: convert::bytes_like(&miner, "miner")?,
            records,
            timestamp: convert::uint64(&timestamp, "timestamp")?,
            difficulty: convert::uint128(&difficulty, "difficulty")?,
            block_id: convert::bytes_like(&block_id, "block_id")?,
            nonce: convert::uint64(&nonce, "nonce")?,
            entries,
        })
    }

    /// A new `Block` holding a core block's fields as `bytes`, `int` and a list of `EMR`.
    /// The typed core block, refused as `Block::from_fields` refuses it.
    pub fn to_core(slf: &Bound<'_, PyBlock>) -> PyResult<emr_core::Block> {
        let owned = PyBlock::extract(slf)?;
        emr_core::Block::from_fields(&owned.view()).map_err(|e| errors::block(slf.py(), e))
    }

    pub fn from_core(py: Python<'_>, block: &emr_core::Block) -> PyResult<PyBlock> {
        let bytes = |b: &[u8]| Some(PyBytes::new(py, b).into_any().unbind());
        let int = |n: u64| -> PyResult<Option<Py<PyAny>>> { Ok(Some(n.into_pyobject(py)?.into_any().unbind())) };
        Ok(PyBlock {
            previous: bytes(block.previous.as_bytes()),
            height: int(block.height)?,
            miner: bytes(block.miner.as_bytes()),
            records: Some(emr_list(py, &block.records)?.into_any().unbind()),
            timestamp: int(block.timestamp)?,
            difficulty: Some(block.difficulty.get().into_pyobject(py)?.into_any().unbind()),
            block_id: bytes(block.block_id.as_bytes()),
            nonce: int(block.nonce)?,
            entries: Some(entry_list(py, &block.entries)?.into_any().unbind()),
        })
    }
}

#[pymethods]
impl PyBlock {
    /// ``entries`` defaults to a new empty list (the text signature says
    /// ``()``, as the specification spells it).
    #[new]
    #[pyo3(
        signature = (previous, height, miner, records, timestamp, difficulty, block_id, nonce, entries = None),
        text_signature = "(previous, height, miner, records, timestamp, difficulty, block_id, nonce, entries=())"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        previous: Py<PyAny>,
        height: Py<PyAny>,
        miner: Py<PyAny>,
        records: Py<PyAny>,
        timestamp: Py<PyAny>,
        difficulty: Py<PyAny>,
        block_id: Py<PyAny>,
        nonce: Py<PyAny>,
        entries: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let entries = match entries {
            Some(entries) => entries,
            None => PyList::empty(py).into_any().unbind(),
        };
        Ok(PyBlock {
            previous: Some(previous),
            height: Some(height),
            miner: Some(miner_field(miner.bind(py))?),
            records: Some(records),
            timestamp: Some(timestamp),
            difficulty: Some(difficulty),
            block_id: Some(block_id),
            nonce: Some(nonce),
            entries: Some(entries),
        })
    }

    /// Assigning a ``str`` decodes it as a miner's address (an
    /// ``AddressError`` if it is not one); any other value is kept as given.
    #[setter]
    fn set_miner(&mut self, value: Bound<'_, PyAny>) -> PyResult<()> {
        self.miner = Some(miner_field(&value)?);
        Ok(())
    }

    /// Verifies the block and returns the user states it changes.
    ///
    /// ``difficulty`` is the difficulty the block must have (an int in
    /// 1..2**128-1, else ``InvalidArgumentError``); ``previous_user_states``
    /// a ``dict`` of 20-byte hashes, or doctors' and miners' addresses, to
    /// :class:`UserState` (not modified; a patient's address there is a
    /// ``WrongRoleError``).
    /// Checks, in order: ``DifficultyMismatchError``, ``InvalidBlockIdError``,
    /// ``TooManyRecordsError``, ``TooManyEntriesError``, ``InvalidMinerError``,
    /// ``InvalidPreviousError``, ``InsufficientWorkError``, then each entry's
    /// own checks (``BlockEntryError`` with ``.index`` and the entry's
    /// ``InvalidEntryError`` or ``InvalidEntrySignatureError`` as
    /// ``__cause__``; whether the entries' authorities and grants fit a chain
    /// is the chain's to check), then each record against its doctor's nonce
    /// so far (``BlockRecordError`` with ``.index`` and the record's error as
    /// ``__cause__``). Returns a new ``dict[bytes, UserState]`` of every doctor
    /// with records here (nonce advanced) and the miner (balance +
    /// ``block_reward``, saturating). Runs with the GIL released, record
    /// signatures on at most ``threads`` threads (1..=1024, default: every
    /// core; as ``verify_records``, no thread is started per call).
    #[pyo3(signature = (difficulty, previous_user_states, *, block_reward = 10000, threads = None))]
    fn verify_and_get_changes<'py>(
        slf: &Bound<'py, Self>,
        difficulty: &Bound<'py, PyAny>,
        previous_user_states: &Bound<'py, PyAny>,
        block_reward: u64,
        threads: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let difficulty = convert::difficulty(difficulty)?;
        let parallelism = convert::parallelism(py, threads)?;
        let states = user_states(py, previous_user_states)?;
        let owned = PyBlock::extract(slf)?;
        let fields = owned.view();
        let changes = py
            .detach(|| fields.verify_and_get_changes_with(difficulty, &states, block_reward, parallelism))
            .map_err(|e| errors::block(py, e))?;
        let mut changes: Vec<_> = changes.into_iter().collect();
        changes.sort_by_key(|(hash, _)| *hash);
        let out = PyDict::new(py);
        for (hash, state) in changes {
            out.set_item(PyBytes::new(py, hash.as_bytes()), PyUserState::from(state))?;
        }
        Ok(out)
    }

    /// The block id the header calls for:
    /// ``SHA-256(previous || miner || txids || entry_ids || LE64(timestamp) || LE128(difficulty) || LE64(nonce))``
    /// (with no entries, exactly the original preimage).
    fn calculate_block_id<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let owned = PyBlock::extract(slf)?;
        Ok(PyBytes::new(slf.py(), owned.view().calculate_block_id().as_bytes()))
    }

    /// The canonical binary encoding (``docs/FORMAT.md``).
    ///
    /// Raises the block error a field's shape calls for when the block cannot
    /// be encoded (``InvalidMinerError`` for a 19-byte miner, ...).
    fn to_bytes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
        let py = slf.py();
        let owned = PyBlock::extract(slf)?;
        let block = emr_core::Block::from_fields(&owned.view()).map_err(|e| errors::block(py, e))?;
        Ok(PyBytes::new(py, &block.to_bytes()))
    }

    /// Decodes :meth:`to_bytes` output; ``DecodeError`` for anything else.
    /// Decoding does not verify.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyBlock> {
        let bytes = convert::bytes_like(data, "data")?;
        let block = emr_core::Block::from_bytes(&bytes).map_err(|e| errors::decode(py, e))?;
        PyBlock::from_core(py, &block)
    }

    fn __eq__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other) = other.cast::<PyBlock>() else {
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
        let [previous, height, miner, records, timestamp, difficulty, block_id, nonce, entries] = self.values(py);
        let records = match records.len() {
            Ok(1) => "[1 record]".to_owned(),
            Ok(n) => format!("[{n} records]"),
            Err(_) => convert::short_repr(&records),
        };
        // Most blocks have no entries: they are shown only when there are.
        let entries = match entries.len() {
            Ok(0) => String::new(),
            Ok(1) => ", entries=[1 entry]".to_owned(),
            Ok(n) => format!(", entries=[{n} entries]"),
            Err(_) => format!(", entries={}", convert::short_repr(&entries)),
        };
        format!(
            "Block(height={}, block_id={}, previous={}, miner={}, records={}{entries}, timestamp={}, difficulty={}, nonce={})",
            convert::short_repr(&height),
            convert::short_repr(&block_id),
            convert::short_repr(&previous),
            address::shown(&miner, Role::Miner).unwrap_or_else(|| convert::short_repr(&miner)),
            records,
            convert::short_repr(&timestamp),
            convert::short_repr(&difficulty),
            convert::short_repr(&nonce),
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for field in [
            &self.previous,
            &self.height,
            &self.miner,
            &self.records,
            &self.timestamp,
            &self.difficulty,
            &self.block_id,
            &self.nonce,
            &self.entries,
        ] {
            visit.call(field)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.previous = None;
        self.height = None;
        self.miner = None;
        self.records = None;
        self.timestamp = None;
        self.difficulty = None;
        self.block_id = None;
        self.nonce = None;
        self.entries = None;
    }
}

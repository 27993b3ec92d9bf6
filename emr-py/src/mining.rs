//! `mine_block` and `mining_engines`: the core's proof-of-work search
//! (SPEC section 4), run with the GIL released and interruptible by Ctrl-C.
//!
//! The core's `mine_block` blocks its calling thread until the search ends
//! and calls its progress callback from that thread only every 250 ms, which
//! is too slow a heartbeat to notice Ctrl-C "promptly". So the search runs on
//! a helper thread (which starts the core's workers) through `wait::run`,
//! which waits with the GIL released, runs signal handlers and the user's
//! progress callback on the calling thread, and cancels the search through
//! the core's `CancelHandle` when either raises.

use std::num::NonZeroUsize;
use std::time::Duration;

use emr_core::mining::{
    self, BlockTemplate, CancelHandle, HashEngine, MineOutcome,
    SearchOptions,
};
use emr_core::address::Role;
use emr_core::{BlockFields, ErrorKind};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::address;
use crate::block::PyBlock;
use crate::convert::{self, OwnedRecord};
use crate::entry::{extract_block_entries, OwnedEntry};
use crate::errors;
use crate::record::extract_block_records;
use crate::wait;

/// `engine=None` -> the core's default; a name -> that engine (the core
/// refuses one this CPU cannot run).
pub(crate) fn hash_engine(py: Python<'_>, name: Option<&Bound<'_, PyAny>>) -> PyResult<Option<HashEngine>> {
    let Some(name) = name.filter(|n| !n.is_none()) else {
        return Ok(None);
    };
    let name = convert::text(name, "engine")?;
    match HashEngine::all().iter().find(|e| e.name() == name) {
        Some(engine) => Ok(Some(*engine)),
        None => {
            let known: Vec<&str> = HashEngine::all().iter().map(|e| e.name()).collect();
            Err(errors::invalid_argument(
                py,
                format!("unknown engine {name:?}; engines are {}", known.join(", ")),
            ))
        }
    }
}

/// `timeout=None` (or infinite) -> no limit; seconds >= 0 -> that limit.
pub(crate) fn time_limit(py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(timeout) = timeout.filter(|t| !t.is_none()) else {
        return Ok(None);
    };
    let seconds: f64 = timeout.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "timeout must be None or a number of seconds, not {}",
            convert::type_name(timeout)
        ))
    })?;
    if seconds.is_nan() || seconds < 0.0 {
        return Err(errors::invalid_argument(
            py,
            "timeout must be None or a number of seconds >= 0",
        ));
    }
    // Too long to represent (including infinity) is as good as no limit.
    Ok(Duration::try_from_secs_f64(seconds).ok())
}

/// The template, checked exactly as `Block::from_fields` checks a block's
/// fields (`InvalidMinerError`, `InvalidPreviousError`, `BlockRecordError`,
/// `BlockEntryError`),
/// with a placeholder id and nonce that the search replaces.
#[allow(clippy::too_many_arguments)]
fn template(
    py: Python<'_>,
    previous: Vec<u8>,
    height: u64,
    miner: Vec<u8>,
    records: &[OwnedRecord],
    entries: &[OwnedEntry],
    timestamp: u64,
    difficulty: emr_core::Difficulty,
) -> PyResult<BlockTemplate> {
    let fields = BlockFields {
        previous: &previous,
        height,
        miner: &miner,
        records: records.iter().map(OwnedRecord::view).collect(),
        entries: entries.iter().map(OwnedEntry::view).collect(),
        timestamp,
        difficulty: difficulty.get(),
        block_id: &[0; 32],
        nonce: 0,
    };
    let block = emr_core::Block::from_fields(&fields).map_err(|e| errors::block(py, e))?;
    Ok(BlockTemplate {
        previous: block.previous,
        height: block.height,
        miner: block.miner,
        records: block.records,
        entries: block.entries,
        timestamp: block.timestamp,
        difficulty: block.difficulty,
    })
}

/// Mines a block: searches for a nonce whose block id meets ``difficulty``.
///
/// ``previous`` (32 bytes) and ``miner`` (20 bytes) are bytes-like, and
/// ``miner`` may be the miner's address (``emrm1...``, a ``str``);
/// ``height`` and ``timestamp`` ints in 0..2**64-1; ``records`` an iterable
/// of at most 25 :class:`EMR` (copied when the call starts, and **not
/// verified**: a block of bad records is mined like any other and rejected by
/// :meth:`Block.verify_and_get_changes`, so verify them first);
/// ``difficulty`` an int in 1..2**128-1; ``entries`` an iterable of at most
/// 25 :class:`Grant` and :class:`Revocation` objects (copied, not verified,
/// as the records) for a chain with authorities.
///
/// Returns a new :class:`Block` whose ``block_id`` and ``nonce`` agree and
/// meet ``difficulty`` (fields as ``bytes``/``int``, ``records`` a new list of
/// new :class:`EMR` objects equal to the given ones), or ``None`` when the
/// nonce range is exhausted or ``timeout`` seconds pass first.
///
/// Nonces ``nonce_start``, ``nonce_start + 1``, ... are tried, ``nonce_count``
/// of them (default: up to and including 2**64-1), on ``threads`` threads
/// (default: every core) that split the range. With ``threads=1`` the result
/// is the lowest valid nonce at or after ``nonce_start``; with more, a valid
/// one. ``progress``, if given, is called about every 250 ms, on the calling
/// thread, as ``progress(hashes, hashes_per_second)`` (an int and a float, all
/// threads together); if it raises, mining stops and the exception
/// propagates. ``engine`` forces one of :func:`mining_engines` (default: the
/// fastest).
///
/// The GIL is released while mining. Ctrl-C (any exception a signal handler
/// raises) stops every mining thread within about 25 ms and is raised
/// (``KeyboardInterrupt``); signals are only seen when called from the main
/// thread, as in Python itself.
///
/// Raises an ``AddressError`` for a ``miner`` address with a typo or of
/// another role, ``InvalidPreviousError``/``InvalidMinerError`` for a
/// wrong-length hash, ``BlockRecordError`` (``.index``, the record's error as
/// ``__cause__``) for a record whose fields cannot form a record (such as a
/// 19-byte ``Dr_hash``), ``BlockEntryError`` likewise for an entry whose
/// fields cannot form one (a ``grant_id`` that is not 32 bytes),
/// ``InvalidArgumentError`` for more than 25 records or entries,
/// a difficulty outside 1..2**128-1, ``threads`` below 1 or above 1024, a
/// negative ``timeout``, or an unknown or unavailable ``engine``;
/// ``TypeError``/``OverflowError`` for values of the wrong type or range.
#[pyfunction]
#[pyo3(signature = (
    previous, height, miner, records, timestamp, difficulty, entries = None, *,
    threads = None, nonce_start = 0, nonce_count = None, timeout = None, progress = None, engine = None
), text_signature = "(previous, height, miner, records, timestamp, difficulty, entries=(), *, \
    threads=None, nonce_start=0, nonce_count=None, timeout=None, progress=None, engine=None)")]
#[allow(clippy::too_many_arguments)]
pub fn mine_block(
    py: Python<'_>,
    previous: &Bound<'_, PyAny>,
    height: &Bound<'_, PyAny>,
    miner: &Bound<'_, PyAny>,
    records: &Bound<'_, PyAny>,
    timestamp: &Bound<'_, PyAny>,
    difficulty: &Bound<'_, PyAny>,
    entries: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
    nonce_start: u64,
    nonce_count: Option<&Bound<'_, PyAny>>,
    timeout: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
    engine: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<PyBlock>> {
    // Types and ranges first, as the other functions do.
    let previous = convert::bytes_like(previous, "previous")?;
    let height = convert::uint64(height, "height")?;
    let miner = address::hash_or_address(miner, Role::Miner, "miner")?;
    let records = extract_block_records(records)?;
    let entries = match entries {
        Some(entries) => extract_block_entries(entries)?,
        None => Vec::new(),
    };
    let timestamp = convert::uint64(timestamp, "timestamp")?;
    let difficulty = convert::difficulty(difficulty)?;
    let threads = convert::parallelism(py, threads)?
        .limit()
        .map(NonZeroUsize::get);
    let nonce_count = match nonce_count.filter(|c| !c.is_none()) {
        Some(count) => Some(convert::uint64(count, "nonce_count")?),
        None => None,
    };
    let time_limit = time_limit(py, timeout)?;
    let callback = wait::progress_callback(progress)?;
    let engine = hash_engine(py, engine)?;
    let template = template(py, previous, height, miner, &records, &entries, timestamp, difficulty)?;

    let cancel = CancelHandle::new();
    let wants_progress = callback.is_some();
    let on_progress = |p: mining::Progress| match &callback {
        Some(callback) => callback.call1((p.hashes, p.hashes_per_second)).map(drop),
        None => Ok(()),
    };
    // The core joins its workers before `mine_block` returns, so every
    // mining thread has ended when this does.
    let result = wait::run(py, "emr-mine-block", &cancel, on_progress, |reporter| {
        let options = SearchOptions {
            threads,
            nonce_start,
            nonce_count,
            cancel: Some(cancel.clone()),
            time_limit,
            progress: wants_progress.then(|| {
                Box::new(move |p| reporter.report(p)) as Box<dyn Fn(mining::Progress) + Send + Sync>
            }),
            engine,
        };
        mining::mine_block(&template, &options)
    })?;
    match result.map_err(|e| errors::mining(py, e))?.outcome {
        MineOutcome::Found(block) => Ok(Some(PyBlock::from_core(py, &block)?)),
        MineOutcome::Exhausted | MineOutcome::TimedOut => Ok(None),
        // Only this function cancels, and then `failure` is set.
        MineOutcome::Cancelled => Err(errors::of_kind(
            py,
            ErrorKind::Cancelled,
            "mining was cancelled",
        )),
    }
}

/// The names of the hash engines this CPU can run, fastest first as
/// measured on this CPU for a 25-record block (a calibration of a few
/// milliseconds, once per process; the first is the default); any of them
/// can be passed to :func:`mine_block` as ``engine``. All engines find the
/// same nonces.
#[pyfunction]
pub fn mining_engines(py: Python<'_>) -> Vec<&'static str> {
    // The first call measures for a few milliseconds: without the GIL.
    py.detach(|| HashEngine::available().into_iter().map(HashEngine::name).collect())
}

//! Proof-of-work mining (SPEC section 4): `emr_mine_block`, its options
//! (`emr_mine_options`), cancel handles (`emr_cancel`) and hash engines.
//!
//! The search is the core's `emr_core::mining::mine_block`; this module
//! translates the options, the outcome and the statistics. Statuses report
//! only why a search could not run; how a search that ran ended (found,
//! exhausted, cancelled, timed out) is its outcome, returned with `EMR_OK`.

use core::ffi::{c_char, c_void, CStr};
use std::time::Duration;

use emr_core::mining::{
    mine_block, BlockTemplate, CancelHandle, HashEngine, MineOutcome, MiningError, Progress, SearchOptions, SearchStats,
};
use emr_core::{Difficulty, Hash160, Hash256};

use crate::block::{emr_block, emr_difficulty};
use crate::entry::{emr_entry, entry_handles};
use crate::ptr::{self, Out, OutHandle};
use crate::record::emr_record;
use crate::status::{emr_status, Error, EMR_IO};

/// A hash engine, one of the EMR_ENGINE_* values: an implementation of the
/// per-nonce hashing loop. Every engine finds the same nonces; they differ
/// only in speed and in the CPU features they need.
pub type emr_engine = u32;

/// The fastest engine this CPU can run for the block being mined, as
/// measured on this CPU (a calibration of a few milliseconds, once per
/// process and header layout; see emr_mining_engines). Always available.
pub const EMR_ENGINE_BEST: emr_engine = 0;
/// Portable code, one nonce at a time. Always available.
pub const EMR_ENGINE_SCALAR: emr_engine = 1;
/// AVX2, 8 nonces at once (x86_64 with AVX2).
pub const EMR_ENGINE_AVX2: emr_engine = 2;
/// The x86 SHA extensions (x86_64 with SHA, SSSE3 and SSE4.1).
pub const EMR_ENGINE_SHA_NI: emr_engine = 3;
/// AVX-512F, 16 nonces at once (x86_64 with AVX-512F).
pub const EMR_ENGINE_AVX512: emr_engine = 4;

/// How a search that ran ended: one of the EMR_MINE_* values.
pub type emr_mine_outcome = u32;

/// A nonce was found: the block is returned.
pub const EMR_MINE_FOUND: emr_mine_outcome = 1;
/// Every nonce of the range was tried and none meets the target.
pub const EMR_MINE_EXHAUSTED: emr_mine_outcome = 2;
/// The cancel handle was triggered before a nonce was found.
pub const EMR_MINE_CANCELLED: emr_mine_outcome = 3;
/// The time limit passed before a nonce was found.
pub const EMR_MINE_TIMED_OUT: emr_mine_outcome = 4;

/// The most worker threads a search accepts (emr_mine_options.threads).
pub const EMR_MAX_MINING_THREADS: usize = 1024;

/// The layout of emr_mine_options that this header declares (1, the only
/// version so far). Pass it to emr_mine_options_default; a later header
/// that adds fields raises it.
///
/// A library accepts every version from 1 up to its own constant, reading
/// only the fields of the version the caller passes (docs/ABI.md): a
/// program built with an earlier header keeps working with a later library.
/// A version the library does not know (0, or a later header's with an
/// older library) is EMR_INVALID_ARGUMENT.
pub const EMR_MINE_OPTIONS_VERSION: u32 = 1;

/// A progress callback: the hashes done so far (all threads together), the
/// hash rate so far, and the seconds since the search started, with the
/// options' user_data. It is called about every 250 ms while a search runs,
/// on the thread that called emr_mine_block (never concurrently with
/// itself), and only after at least 250 ms have passed. It must return
/// normally (no longjmp, no C++ exception); it may call into the library,
/// for example emr_cancel_trigger to stop the search.
pub type emr_mine_progress_fn =
    Option<unsafe extern "C" fn(hashes: u64, hashes_per_second: f64, elapsed_seconds: f64, user_data: *mut c_void)>;

/// A flag that stops a running emr_mine_block from another thread. Opaque.
///
/// Once triggered it stays triggered (there is no reset: make a new handle
/// for the next search); a search started with a triggered handle ends at
/// once with EMR_MINE_CANCELLED. Any number of searches may share a handle.
pub struct emr_cancel {
    pub(crate) inner: CancelHandle,
}

/// How to run emr_mine_block. Initialize it with emr_mine_options_default
/// (which sets version and every default), then set the fields you need:
///
/// ```c
/// emr_mine_options opts;
/// emr_mine_options_default(&opts, EMR_MINE_OPTIONS_VERSION);
/// opts.threads = 1;
/// ```
///
/// Every default is zero, false or NULL. The nonce range is nonce_start up
/// to and including UINT64_MAX, or nonce_count nonces from nonce_start
/// (clipped at UINT64_MAX) when has_nonce_count is true, so that
/// has_nonce_count with nonce_count 0 is an empty range (EMR_MINE_EXHAUSTED
/// at once).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct emr_mine_options {
    /// EMR_MINE_OPTIONS_VERSION of the header the caller was compiled with,
    /// set by emr_mine_options_default.
    pub version: u32,
    /// The engine: EMR_ENGINE_BEST (default) or an EMR_ENGINE_* value that
    /// emr_mining_engine_available reports as available.
    pub engine: emr_engine,
    /// Worker threads, 1 ..= EMR_MAX_MINING_THREADS; 0 (default): one per
    /// available core. With one thread the result is the lowest valid nonce
    /// at or after nonce_start; with several, a valid nonce that need not be
    /// the lowest. Fewer are started when the range has fewer nonces.
    pub threads: usize,
    /// The first nonce tried (default 0).
    pub nonce_start: u64,
    /// false (default): try every nonce up to and including UINT64_MAX;
    /// true: try nonce_count nonces.
    pub has_nonce_count: bool,
    /// How many nonces to try when has_nonce_count is true (0 is an empty
    /// range); ignored otherwise.
    pub nonce_count: u64,
    /// Stop after this many milliseconds (EMR_MINE_TIMED_OUT); 0 (default):
    /// no time limit.
    pub time_limit_ms: u64,
    /// A cancel handle (EMR_MINE_CANCELLED when triggered); NULL (default):
    /// none. It must stay valid until emr_mine_block returns.
    pub cancel: *const emr_cancel,
    /// Called with progress about every 250 ms; NULL (default): none.
    pub progress: emr_mine_progress_fn,
    /// Passed unchanged to progress; never dereferenced by the library.
    pub user_data: *mut c_void,
}

/// Measurements of a search that ran (emr_mine_block's stats_out). Its
/// layout is fixed: later measurements will come in a new struct, never by
/// growing this one.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct emr_mine_stats {
    /// Nonces hashed, all threads together.
    pub hashes: u64,
    /// Wall-clock seconds of the whole search.
    pub seconds: f64,
    /// hashes / seconds (0 when nothing was timed).
    pub hashes_per_second: f64,
    /// Worker threads started (0 when the range was empty).
    pub threads: usize,
    /// The engine that ran (never EMR_ENGINE_BEST).
    pub engine: emr_engine,
}

/// Every engine: its number, the core's engine, and its name.
fn engines() -> &'static [(emr_engine, HashEngine, &'static CStr)] {
    static ENGINES: &[(emr_engine, HashEngine, &CStr)] = &[
        (EMR_ENGINE_SCALAR, HashEngine::Scalar, c"scalar"),
        (EMR_ENGINE_AVX2, HashEngine::Avx2, c"avx2"),
        (EMR_ENGINE_SHA_NI, HashEngine::ShaNi, c"sha-ni"),
        (EMR_ENGINE_AVX512, HashEngine::Avx512, c"avx512"),
    ];
    ENGINES
}

/// The core's engine for a number: `None` for EMR_ENGINE_BEST.
fn engine_from_c(engine: emr_engine) -> Result<Option<HashEngine>, Error> {
    if engine == EMR_ENGINE_BEST {
        return Ok(None);
    }
    engines()
        .iter()
        .find(|(number, _, _)| *number == engine)
        .map(|(_, core, _)| Some(*core))
        .ok_or_else(|| Error::invalid_argument(format_args!("unknown engine {engine}")))
}

fn engine_to_c(engine: HashEngine) -> emr_engine {
    match engine {
        HashEngine::Scalar => EMR_ENGINE_SCALAR,
        HashEngine::Avx2 => EMR_ENGINE_AVX2,
        HashEngine::ShaNi => EMR_ENGINE_SHA_NI,
        HashEngine::Avx512 => EMR_ENGINE_AVX512,
    }
}

fn mining_error(error: MiningError) -> Error {
    match error {
        MiningError::InvalidArgument(message) => Error::invalid_argument(message),
        unavailable @ MiningError::EngineUnavailable(_) => Error::invalid_argument(unavailable),
        spawn @ MiningError::ThreadSpawn(_) => Error::new(EMR_IO, format!("io: {spawn}")),
    }
}

fn stats_to_c(stats: &SearchStats) -> emr_mine_stats {
    emr_mine_stats {
        hashes: stats.hashes,
        seconds: stats.elapsed.as_secs_f64(),
        hashes_per_second: stats.hashes_per_second,
        threads: stats.threads,
        engine: engine_to_c(stats.engine),
    }
}

/// The caller's progress callback with its user data.
#[derive(Copy, Clone)]
struct CProgress {
    callback: unsafe extern "C" fn(u64, f64, f64, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the core calls the progress callback only on the thread that
// called its search (documented on `SearchOptions::progress`), which is the
// C caller's own thread, as the header promises; the bounds are only what
// the core's `Box<dyn Fn + Send + Sync>` asks of the type.
unsafe impl Send for CProgress {}
// SAFETY: as for Send; the callback is never called concurrently.
unsafe impl Sync for CProgress {}

impl CProgress {
    fn report(&self, progress: Progress) {
        // SAFETY: the documented contract of emr_mine_options.progress: a
        // function taking these arguments that returns normally; user_data
        // is passed through unchanged.
        unsafe {
            (self.callback)(progress.hashes, progress.hashes_per_second, progress.elapsed.as_secs_f64(), self.user_data)
        }
    }
}

/// The core's options for the caller's (NULL: the defaults).
pub(crate) unsafe fn search_options(options: *const emr_mine_options) -> Result<SearchOptions, Error> {
    if options.is_null() {
        return Ok(SearchOptions::default());
    }
    if !options.is_aligned() {
        return Err(Error::invalid_argument("`options` is not aligned"));
    }
    // The version first: it says how much of the struct the caller has.
    // SAFETY: non-NULL and aligned; by contract `options` points to an
    // emr_mine_options of some version, all of which start with `version`.
    let version = unsafe { core::ptr::addr_of!((*options).version).read() };
    if !(1..=EMR_MINE_OPTIONS_VERSION).contains(&version) {
        return Err(Error::invalid_argument(format_args!(
            "options->version is {version}, not one of 1 ..= {EMR_MINE_OPTIONS_VERSION}: initialize the options with \
             emr_mine_options_default(&options, EMR_MINE_OPTIONS_VERSION)"
        )));
    }
    // SAFETY: a version-1 struct, which is this type, readable for the call.
    let o = unsafe { ptr::handle(options, "options") }?;
    let cancel = if o.cancel.is_null() {
        None
    } else {
        // SAFETY: documented contract: a live cancel handle.
        Some(unsafe { ptr::handle(o.cancel, "options->cancel") }?.inner.clone())
    };
    let progress = o.progress.map(|callback| {
        let c = CProgress { callback, user_data: o.user_data };
        Box::new(move |p: Progress| c.report(p)) as Box<dyn Fn(Progress) + Send + Sync>
    });
    Ok(SearchOptions {
        threads: (o.threads != 0).then_some(o.threads),
        nonce_start: o.nonce_start,
        nonce_count: o.has_nonce_count.then_some(o.nonce_count),
        cancel,
        time_limit: (o.time_limit_ms != 0).then(|| Duration::from_millis(o.time_limit_ms)),
        progress,
        engine: engine_from_c(o.engine)?,
    })
}

/// Whether this CPU can run an engine (detected at run time).
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if engine is not an EMR_ENGINE_*
///          value; EMR_NULL_ARGUMENT if available is NULL.
/// In:      engine:    an EMR_ENGINE_* value (EMR_ENGINE_BEST and
///                     EMR_ENGINE_SCALAR are always available).
/// Out:     available: whether emr_mine_block may use it.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_mining_engine_available(engine: emr_engine, available: *mut bool) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `available`.
        let out = unsafe { Out::new(available, "available") }?;
        out.write(engine_from_c(engine)?.is_none_or(HashEngine::is_available));
        Ok(())
    })
}

/// The engine EMR_ENGINE_BEST stands for on this CPU.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if engine is NULL.
/// Out:     engine: an EMR_ENGINE_* value other than EMR_ENGINE_BEST.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_mining_engine_best(engine: *mut emr_engine) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `engine`.
        let out = unsafe { Out::new(engine, "engine") }?;
        out.write(engine_to_c(HashEngine::best()));
        Ok(())
    })
}

/// The engines this CPU can run, fastest first as measured on this CPU for
/// a 25-record block (the first is what EMR_ENGINE_BEST stands for). The
/// first call of the process measures every engine for a few milliseconds;
/// later calls return the cached order.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if count is NULL; EMR_INVALID_ARGUMENT
///          if engines is misaligned or capacity is absurdly large.
/// Out:     engines:  the first min(*count, capacity) engines, fastest first
///                    (may be NULL when capacity is 0).
///          count:    how many engines this CPU can run (at most 8).
/// In:      capacity: the number of elements engines has room for.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_mining_engines(engines: *mut emr_engine, capacity: usize, count: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `count`, `engines` and `capacity`.
        let count = unsafe { Out::new(count, "count") }?;
        let engines_out = unsafe { ptr::OutSlice::optional(engines, capacity, "engines") }?;
        let ranked = HashEngine::available();
        if let Some(out) = engines_out {
            for (i, engine) in ranked.iter().enumerate() {
                out.write(i, engine_to_c(*engine));
            }
        }
        count.write(ranked.len());
        Ok(())
    })
}

/// An engine's short name: "best", "scalar", "avx2", "sha-ni", "avx512".
///
/// Returns: a NUL-terminated string in static storage (never NULL, never
///          freed); "unknown" for a number that is not an engine.
/// In:      engine: any value.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn emr_mining_engine_name(engine: emr_engine) -> *const c_char {
    ffi_boundary!(default: c"unknown".as_ptr(); {
        if engine == EMR_ENGINE_BEST {
            return c"best".as_ptr();
        }
        engines().iter().find(|(number, _, _)| *number == engine).map_or(c"unknown", |(_, _, name)| *name).as_ptr()
    })
}

/// An outcome's name: "found", "exhausted", "cancelled", "timed_out".
///
/// Returns: a NUL-terminated string in static storage (never NULL, never
///          freed); "unknown" for a number that is not an outcome.
/// In:      outcome: any value.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn emr_mine_outcome_name(outcome: emr_mine_outcome) -> *const c_char {
    ffi_boundary!(default: c"unknown".as_ptr(); {
        match outcome {
            EMR_MINE_FOUND => c"found",
            EMR_MINE_EXHAUSTED => c"exhausted",
            EMR_MINE_CANCELLED => c"cancelled",
            EMR_MINE_TIMED_OUT => c"timed_out",
            _ => c"unknown",
        }
        .as_ptr()
    })
}

/// Makes a cancel handle that is not triggered.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if out is NULL.
/// Out:     out: a new handle, freed by the caller with emr_cancel_free;
///               NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_cancel_new(out: *mut *mut emr_cancel) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        out.set(emr_cancel { inner: CancelHandle::new() });
        Ok(())
    })
}

/// Triggers a cancel handle: every emr_mine_block using it stops within a
/// few milliseconds with EMR_MINE_CANCELLED (a nonce already found is still
/// returned). Triggering twice is harmless.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if cancel is NULL.
/// Args:    cancel: the handle.
/// Thread-safety: safe to call from any thread at any time, concurrently
///          with searches using the handle and with other triggers. With a
///          valid handle it only does an atomic store (no allocation, no
///          lock), so it may be called from a signal handler (Ctrl-C).
#[no_mangle]
pub unsafe extern "C" fn emr_cancel_trigger(cancel: *const emr_cancel) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `cancel`.
        unsafe { ptr::handle(cancel, "cancel") }?.inner.cancel();
        Ok(())
    })
}

/// Whether a cancel handle was triggered.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if cancel or triggered is NULL.
/// Args:    cancel:    the handle.
/// Out:     triggered: whether emr_cancel_trigger was called on it.
/// Thread-safety: safe to call from any thread at any time.
#[no_mangle]
pub unsafe extern "C" fn emr_cancel_is_triggered(cancel: *const emr_cancel, triggered: *mut bool) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `cancel` and `triggered`.
        let cancel = unsafe { ptr::handle(cancel, "cancel") }?;
        let out = unsafe { Out::new(triggered, "triggered") }?;
        out.write(cancel.inner.is_cancelled());
        Ok(())
    })
}

/// Frees a cancel handle. NULL is a no-op.
///
/// Args:    cancel: a handle from this library, or NULL. Not usable
///                  afterwards.
/// Thread-safety: no other thread may use the handle during or after the
///          call, and no emr_mine_block using it may still be running.
#[no_mangle]
pub unsafe extern "C" fn emr_cancel_free(cancel: *mut emr_cancel) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live handle or NULL, freed once.
        unsafe { ptr::free(cancel) }
    })
}

/// Fills options with the defaults: every nonce from 0, all cores, the best
/// engine, no time limit, no cancel handle, no progress callback.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
///          knows (0, or above its own; nothing is written);
///          EMR_NULL_ARGUMENT if options is NULL.
/// In:      version: EMR_MINE_OPTIONS_VERSION of the caller's header (any
///                   version from 1 up to the library's own is accepted).
/// Out:     options: the defaults, with options->version = version.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_mine_options_default(options: *mut emr_mine_options, version: u32) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `options`.
        let out = unsafe { Out::new(options, "options") }?;
        if !(1..=EMR_MINE_OPTIONS_VERSION).contains(&version) {
            return Err(Error::invalid_argument(format_args!(
                "unknown emr_mine_options version {version} (this library knows 1 ..= {EMR_MINE_OPTIONS_VERSION})"
            )));
        }
        out.write(emr_mine_options {
            version,
            engine: EMR_ENGINE_BEST,
            threads: 0,
            nonce_start: 0,
            has_nonce_count: false,
            nonce_count: 0,
            time_limit_ms: 0,
            cancel: core::ptr::null(),
            progress: None,
            user_data: core::ptr::null_mut(),
        });
        Ok(())
    })
}

/// Mines a block (SPEC section 4): searches the nonce range for a nonce
/// whose block id, SHA-256(previous || miner || txids || LE64(timestamp) ||
/// LE128(difficulty) || LE64(nonce)), meets the difficulty's target, hashing
/// the constant header prefix once and splitting the range between threads.
///
/// The status says whether the search could run; how it ended is
/// *outcome_out, and only EMR_MINE_FOUND comes with a block:
///   EMR_OK, EMR_MINE_FOUND:     *block_out is a new block whose block id
///                               and nonce agree and meet difficulty;
///   EMR_OK, EMR_MINE_EXHAUSTED: every nonce of the range was tried;
///   EMR_OK, EMR_MINE_CANCELLED: options->cancel was triggered;
///   EMR_OK, EMR_MINE_TIMED_OUT: options->time_limit_ms passed;
/// *block_out is NULL for all but EMR_MINE_FOUND.
///
/// The records are not verified: a block of bad records is mined like any
/// other and refused by emr_block_verify_and_get_changes. Verify records
/// (emr_verify_records) before spending work on them.
///
/// Returns: EMR_OK when the search ran, whatever its outcome;
///          EMR_INVALID_ARGUMENT if difficulty is 0, record_count is over
///          25 (EMR_MAX_RECORDS: such a block can never be valid, so the
///          search is refused, as the core refuses it), options->version is
///          not one this library knows (every version from 1 up to its own
///          EMR_MINE_OPTIONS_VERSION is accepted, so a program built with
///          an earlier header keeps working), options->threads is over
///          EMR_MAX_MINING_THREADS, or options->engine is unknown or not
///          available on this CPU (the message says which);
///          EMR_IO if the operating system refused to start a thread;
///          EMR_NULL_ARGUMENT if previous32, miner20, outcome_out or
///          block_out is NULL, records is NULL while record_count > 0, or an
///          element of records is NULL.
/// In:      previous32:   the parent's block id, 32 bytes (all zero at
///                        height 0).
///          height:       height in the chain.
///          miner20:      who is rewarded, 20 bytes.
///          records, record_count: the records in order, at most 25 (NULL
///                        allowed when record_count is 0); copied.
///          timestamp:    Unix seconds.
///          difficulty:   the difficulty to meet, 1 ..= 2^128-1.
///          options:      how to search (see emr_mine_options); NULL: the
///                        defaults (all cores, every nonce from 0, no limit,
///                        no cancel, no progress, the best engine).
/// Out:     outcome_out:  how the search ended, written when EMR_OK is
///                        returned.
///          block_out:    the mined block with EMR_MINE_FOUND, freed by the
///                        caller with emr_block_free; NULL otherwise and on
///                        failure.
///          stats_out:    hashes, time, rate, threads and engine, written
///                        when EMR_OK is returned; may be NULL if not wanted.
/// Thread-safety: safe to call from any thread, several searches at once;
///          the records may be read by other threads meanwhile. The call
///          blocks until the search ends; it starts up to options->threads
///          worker threads and joins them all before it returns. The
///          progress callback runs on the calling thread. Besides the time
///          limit, only emr_cancel_trigger (from any thread, a signal
///          handler, or the callback) stops a search early.
#[no_mangle]
pub unsafe extern "C" fn emr_mine_block(
    previous32: *const u8,
    height: u64,
    miner20: *const u8,
    records: *const *const emr_record,
    record_count: usize,
    timestamp: u64,
    difficulty: emr_difficulty,
    options: *const emr_mine_options,
    outcome_out: *mut emr_mine_outcome,
    block_out: *mut *mut emr_block,
    stats_out: *mut emr_mine_stats,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: the documented contracts, forwarded.
        unsafe {
            mine(
                previous32,
                height,
                miner20,
                records,
                record_count,
                core::ptr::null(),
                0,
                timestamp,
                difficulty,
                options,
                outcome_out,
                block_out,
                stats_out,
            )
        }
    })
}

/// Mines a block carrying registry entries (SPEC 8.1): as emr_mine_block,
/// which it extends; the block id covers the entries' ids after the
/// records' txids. Neither records nor entries are verified.
///
/// Returns: as emr_mine_block; EMR_INVALID_ARGUMENT also if entry_count is
///          over 25 (EMR_MAX_ENTRIES); EMR_NULL_ARGUMENT also if entries is
///          NULL while entry_count > 0, or an element of entries is NULL.
/// In:      previous32 ... record_count: as for emr_mine_block.
///          entries, entry_count: the grants and revocations in order, at
///                        most 25 (NULL allowed when entry_count is 0); copied.
///          timestamp, difficulty, options: as for emr_mine_block.
/// Out:     outcome_out, block_out, stats_out: as for emr_mine_block.
/// Thread-safety: as emr_mine_block; the entries may be read by other
///          threads meanwhile.
#[no_mangle]
pub unsafe extern "C" fn emr_mine_block_with_entries(
    previous32: *const u8,
    height: u64,
    miner20: *const u8,
    records: *const *const emr_record,
    record_count: usize,
    entries: *const *const emr_entry,
    entry_count: usize,
    timestamp: u64,
    difficulty: emr_difficulty,
    options: *const emr_mine_options,
    outcome_out: *mut emr_mine_outcome,
    block_out: *mut *mut emr_block,
    stats_out: *mut emr_mine_stats,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: the documented contracts, forwarded.
        unsafe {
            mine(
                previous32,
                height,
                miner20,
                records,
                record_count,
                entries,
                entry_count,
                timestamp,
                difficulty,
                options,
                outcome_out,
                block_out,
                stats_out,
            )
        }
    })
}

/// The body of emr_mine_block and emr_mine_block_with_entries.
#[allow(clippy::too_many_arguments)]
unsafe fn mine(
    previous32: *const u8,
    height: u64,
    miner20: *const u8,
    records: *const *const emr_record,
    record_count: usize,
    entries: *const *const emr_entry,
    entry_count: usize,
    timestamp: u64,
    difficulty: emr_difficulty,
    options: *const emr_mine_options,
    outcome_out: *mut emr_mine_outcome,
    block_out: *mut *mut emr_block,
    stats_out: *mut emr_mine_stats,
) -> Result<(), Error> {
    // SAFETY (all): the documented contracts of every argument.
    let block_out = unsafe { OutHandle::new(block_out, "block_out") }?;
    let outcome_out = unsafe { Out::new(outcome_out, "outcome_out") }?;
    let stats_out = unsafe { Out::optional(stats_out) };
    let previous = unsafe { ptr::array::<32>(previous32, "previous32") }?;
    let miner = unsafe { ptr::array::<20>(miner20, "miner20") }?;
    let records = unsafe { ptr::slice(records, record_count, "records") }?
        .iter()
        .enumerate()
        .map(|(i, &record)| unsafe { ptr::handle(record, format_args!("records[{i}]")) }.map(|r| r.inner.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let entries = unsafe { entry_handles(entries, entry_count, "entries") }?.into_iter().cloned().collect();
    let difficulty = Difficulty::new(difficulty.get())
        .ok_or_else(|| Error::invalid_argument("difficulty must be in 1 ..= 2^128-1, not 0"))?;
    let options = unsafe { search_options(options) }?;
    let template = BlockTemplate {
        previous: Hash256::from_bytes(*previous),
        height,
        miner: Hash160::from_bytes(*miner),
        records,
        entries,
        timestamp,
        difficulty,
    };
    let result = mine_block(&template, &options).map_err(mining_error)?;
    outcome_out.write(match result.outcome {
        MineOutcome::Found(block) => {
            block_out.set(emr_block { inner: block });
            EMR_MINE_FOUND
        }
        MineOutcome::Exhausted => EMR_MINE_EXHAUSTED,
        MineOutcome::Cancelled => EMR_MINE_CANCELLED,
        MineOutcome::TimedOut => EMR_MINE_TIMED_OUT,
    });
    if let Some(out) = stats_out {
        out.write(stats_to_c(&result.stats));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_core() {
        assert_eq!(EMR_MAX_MINING_THREADS, emr_core::mining::MAX_THREADS);
        assert_eq!(engines().len(), HashEngine::all().len());
        for &engine in HashEngine::all() {
            let number = engine_to_c(engine);
            assert_eq!(engine_from_c(number).unwrap(), Some(engine));
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(emr_mining_engine_name(number)) };
            assert_eq!(name.to_str().unwrap(), engine.name());
        }
        assert_eq!(engine_from_c(EMR_ENGINE_BEST).unwrap(), None);
        assert!(engine_from_c(5).is_err());
    }

    #[test]
    fn defaults_match_the_core() {
        let mut options = core::mem::MaybeUninit::<emr_mine_options>::uninit();
        // SAFETY: a writable struct.
        assert_eq!(unsafe { emr_mine_options_default(options.as_mut_ptr(), EMR_MINE_OPTIONS_VERSION) }, 0);
        // SAFETY: initialized by the call above.
        let options = unsafe { options.assume_init() };
        // SAFETY: a valid struct.
        let ours = unsafe { search_options(&options) }.unwrap();
        let core = SearchOptions::default();
        assert_eq!(format!("{ours:?}"), format!("{core:?}"));
    }
}

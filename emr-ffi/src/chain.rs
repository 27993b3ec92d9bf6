//! The chain of SPEC section 5: `emr_chain` (a block tree, its heaviest
//! branch and the user states that branch leaves, in one SQLite file or in
//! memory), its options, adding blocks one at a time or in batches, queries,
//! history iterators (`emr_history`), undo and check.
//!
//! Every rule is the core's `emr_core::chain::Chain`; this module translates
//! arguments, outcomes and errors. The core's `Chain` is `Send` but not
//! `Sync`, so a handle keeps it behind a mutex: calls on one handle run one
//! at a time, from any threads. A progress callback that calls back into the
//! chain it reports on is refused (`EMR_INVALID_ARGUMENT`) instead of waiting
//! for itself forever.

use core::cell::Cell;
use core::ffi::{c_char, c_void};
use std::path::PathBuf;

use emr_core::block::BlockError;
use emr_core::chain::{
    AddOutcome, BatchOptions, BatchProgress, Chain, ChainError, ChainGuard, ChainParams, DispenseEntry,
    PrescriptionState, RecordEntry, RegisteredGrant, SharedChain, DEFAULT_MAX_FUTURE, SALT_LEN,
};
use emr_core::mining::CancelHandle;
use emr_core::{Block, Difficulty, Hash160, Hash256, Parallelism, PublicKey};

use crate::block::{emr_block, emr_difficulty};
use crate::entry::emr_entry;
use crate::mining::emr_cancel;
use crate::ptr::{self, Out, OutHandle, OutSlice};
use crate::record::emr_record;
use crate::status::{emr_status, set_last_error, status_of, Error, EMR_NOT_FOUND, EMR_OK};

/// The layout of emr_chain_options that this header declares. Pass it to
/// emr_chain_options_default; a later header that adds fields raises it.
/// Version 2 added the authorities (SPEC 8.1); version 3 added max_future
/// and the salt (SPEC 5, v1.2). This library accepts 1, 2 and 3, giving
/// what an earlier version lacks its documented default.
///
/// A library accepts every version from 1 up to its own constant, reading
/// only the fields of the version the caller passes (docs/ABI.md): a
/// program built with an earlier header keeps working with a later library.
/// A version the library does not know (0, or a later header's with an
/// older library) is EMR_INVALID_ARGUMENT.
pub const EMR_CHAIN_OPTIONS_VERSION: u32 = 3;

/// The layout of emr_batch_options that this header declares (1, the only
/// version so far). Pass it to emr_batch_options_default; a later header
/// that adds fields raises it.
///
/// A library accepts every version from 1 up to its own constant, reading
/// only the fields of the version the caller passes (docs/ABI.md): a
/// program built with an earlier header keeps working with a later library.
/// A version the library does not know (0, or a later header's with an
/// older library) is EMR_INVALID_ARGUMENT.
pub const EMR_BATCH_OPTIONS_VERSION: u32 = 1;

/// The default of emr_chain_options.max_future (SPEC 5, v1.2): how far ahead
/// of the caller's clock (the `now` argument) a block's timestamp may be, in
/// seconds; later is EMR_TIMESTAMP_TOO_LATE. (ABI 0's EMR_MAX_FUTURE_SECONDS,
/// 7200, is gone: the limit is now a parameter of each chain.)
pub const EMR_DEFAULT_MAX_FUTURE_SECONDS: u64 = 60;

/// Bytes of a chain's salt (emr_chain_options.salt).
pub const EMR_SALT_LEN: usize = 16;

/// A chain (SPEC section 5): a tree of blocks, its heaviest branch as the
/// active chain, and the user states and record index of that branch, kept
/// in one SQLite database file (or in memory). Opaque.
///
/// A handle opened for writing holds the file's write lock until it is
/// freed; any number of read-only handles (emr_chain_open_readonly), in this
/// process or others, may run beside it and see every block whose add has
/// returned. Calls on one handle run one at a time: a call made while
/// another thread's call on the same handle runs waits for it.
pub struct emr_chain {
    pub(crate) inner: SharedChain,
    authorities: AuthorityKeys,
    /// The chain's id, fixed for its life (its parameters' hash).
    chain_id: [u8; 32],
}

thread_local! {
    /// The address of the chain whose progress callback this thread is
    /// running (0: none), to refuse a call back into that chain.
    static CALLBACK_OF: Cell<usize> = const { Cell::new(0) };
}

impl emr_chain {
    fn new(chain: Chain) -> emr_chain {
        let authorities = AuthorityKeys::new(chain.authorities());
        let chain_id = chain.chain_id().to_bytes();
        emr_chain { inner: SharedChain::new(chain), authorities, chain_id }
    }

    pub(crate) fn address(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// Exclusive use of the chain for one call.
    pub(crate) fn lock(&self) -> Result<ChainGuard<'_>, Error> {
        if CALLBACK_OF.try_with(Cell::get).unwrap_or(0) == self.address() {
            return Err(Error::invalid_argument(
                "the chain was called from the progress callback of a call on the same chain, which would wait \
                 for itself: call it after that call returns, or use another handle",
            ));
        }
        // A panic inside an earlier call (reported as EMR_PANIC) poisons the
        // mutex; the core's SharedChain ignores that (the chain itself is
        // transactional, so it stays usable).
        Ok(self.inner.lock()?)
    }
}

/// A snapshot of records of the active chain with their places: a patient's
/// history (emr_chain_patient_history) or a doctor's records
/// (emr_chain_doctor_records), in chain order, with a cursor for
/// emr_history_next. Opaque.
///
/// It is a copy: later changes to the chain do not change it, and it may
/// outlive the chain it came from.
pub struct emr_history {
    entries: Vec<RecordEntry>,
    next: usize,
}

/// What adding a block did: one of the EMR_ADD_* values.
pub type emr_add_outcome = u32;

/// Not added: in a batch, the block that failed and every block after it
/// (and every block when the batch was refused as a whole).
pub const EMR_ADD_NONE: emr_add_outcome = 0;
/// The block extends the active chain and is its new tip.
pub const EMR_ADD_EXTENDED: emr_add_outcome = 1;
/// The block is stored on a branch no heavier than the active chain (a tie
/// keeps the branch seen first); its records are checked if that branch
/// ever becomes the active one.
pub const EMR_ADD_SIDE_BRANCH: emr_add_outcome = 2;
/// The block's branch became strictly heavier than the active chain: it is
/// now the active chain, with this block as its tip.
pub const EMR_ADD_REORGANIZED: emr_add_outcome = 3;
/// The block was already stored; nothing changed.
pub const EMR_ADD_ALREADY_KNOWN: emr_add_outcome = 4;
/// Not stored, and not an error (SPEC 5, v1.2): the block is on a side
/// branch that, at the end of the call that offered it, was neither
/// heavier than the active chain nor a competitor near its tip (one that
/// forks at most window blocks below the tip and reaches at most window
/// blocks past its fork). Nothing of that branch was stored and nothing is
/// remembered as invalid: a long heavier branch is offered whole, in one
/// emr_chain_add_blocks call, which judges it where the call ends.
pub const EMR_ADD_STALE: emr_add_outcome = 5;

pub(crate) fn outcome_to_c(outcome: AddOutcome) -> emr_add_outcome {
    match outcome {
        AddOutcome::Extended => EMR_ADD_EXTENDED,
        AddOutcome::SideBranch => EMR_ADD_SIDE_BRANCH,
        AddOutcome::Reorganized => EMR_ADD_REORGANIZED,
        AddOutcome::AlreadyKnown => EMR_ADD_ALREADY_KNOWN,
        AddOutcome::Stale => EMR_ADD_STALE,
    }
}

/// The parameters of a chain (SPEC section 5) and how to open it. Initialize
/// it with emr_chain_options_default (which sets version and the
/// specification's defaults), then set the fields you need:
///
/// ```c
/// emr_chain_options opts;
/// emr_chain_options_default(&opts, EMR_CHAIN_OPTIONS_VERSION);
/// opts.initial_difficulty.lo = 1;
/// ```
///
/// The parameters are stored with a chain when it is created and fixed for
/// its life: opening an existing chain with other parameters is
/// EMR_INVALID_ARGUMENT, unless use_stored_params is true. They name the
/// chain: its id (emr_chain_id, SPEC 5) is their hash, salt included, and
/// every grant and revocation made for it carries that id.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct emr_chain_options {
    /// EMR_CHAIN_OPTIONS_VERSION of the header the caller was compiled
    /// with, set by emr_chain_options_default.
    pub version: u32,
    /// false (default): the parameters below are the chain's; an existing
    /// chain must have been created with exactly these. true: ignore the
    /// parameters below and use the stored ones (the defaults for a new
    /// chain), as NULL options do.
    pub use_stored_params: bool,
    /// The difficulty of blocks 0 ..= window; 1 ..= 2^128-1 (default 1000).
    pub initial_difficulty: emr_difficulty,
    /// Retarget window W, in blocks; at least 1 (default 10).
    pub window: u64,
    /// Target block time B, in seconds; at least 1 (default 12).
    pub block_time: u64,
    /// Adjustment clamp C: one retarget moves the difficulty by at most a
    /// factor of C either way; at least 1 (default 4).
    pub max_adjust: u64,
    /// What a miner's balance grows by per block (default 10000,
    /// EMR_DEFAULT_BLOCK_REWARD).
    pub block_reward: u64,
    /// Version 2. The chain's authorities (SPEC 8.1): authority_count public
    /// keys, each SPKI DER (secp256k1 or P-256), whose grants decide which
    /// doctors may write. Fixed for the chain's life: an existing chain must
    /// have been created with exactly these, in this order (a caller of
    /// version 1 gives none). NULL allowed when authority_count is 0, the
    /// default: an open chain, where anyone may write and every entry fails
    /// EMR_UNKNOWN_AUTHORITY. The keys are copied.
    pub authorities: *const *const u8,
    /// Version 2. The length of each key of authorities.
    pub authority_lens: *const usize,
    /// Version 2. The number of authorities (0: an open chain).
    pub authority_count: usize,
    /// Version 3. How far ahead of the caller's clock a block's timestamp
    /// may be, in seconds (default EMR_DEFAULT_MAX_FUTURE_SECONDS, 60):
    /// later is EMR_TIMESTAMP_TOO_LATE (emr_chain_add_block's now,
    /// emr_chain_mine_next). A caller of an earlier version gets the
    /// default.
    pub max_future: u64,
    /// Version 3. false (default): a new chain gets a random salt, and an
    /// existing chain is opened whatever its salt. true: salt is the
    /// chain's: a new chain is created with it, and an existing chain must
    /// have it (EMR_INVALID_ARGUMENT otherwise). A caller of an earlier
    /// version gives none. emr_chain_get_options sets it to true with the
    /// chain's salt.
    pub has_salt: bool,
    /// Version 3. With has_salt: the chain's 16-byte salt, which makes its
    /// id unique among chains of equal settings (a test chain and the real
    /// one); ignored otherwise (default all zero).
    pub salt: [u8; EMR_SALT_LEN],
}

/// The layout of emr_chain_options version 1, a prefix of every later
/// version: what a caller built with that header has.
#[repr(C)]
#[derive(Copy, Clone)]
struct ChainOptionsV1 {
    version: u32,
    use_stored_params: bool,
    initial_difficulty: emr_difficulty,
    window: u64,
    block_time: u64,
    max_adjust: u64,
    block_reward: u64,
}

/// The layout of emr_chain_options version 2, a prefix of every later
/// version: version 1 and the authorities.
#[repr(C)]
#[derive(Copy, Clone)]
struct ChainOptionsV2 {
    version: u32,
    use_stored_params: bool,
    initial_difficulty: emr_difficulty,
    window: u64,
    block_time: u64,
    max_adjust: u64,
    block_reward: u64,
    authorities: *const *const u8,
    authority_lens: *const usize,
    authority_count: usize,
}

// Each version's struct is a prefix of the next: the same offsets, and the
// new fields start at or after the old struct's end.
const _: () = {
    use core::mem::{offset_of, size_of};
    type V3 = emr_chain_options;
    assert!(offset_of!(ChainOptionsV1, block_reward) == offset_of!(V3, block_reward));
    assert!(offset_of!(ChainOptionsV1, initial_difficulty) == offset_of!(V3, initial_difficulty));
    assert!(size_of::<ChainOptionsV1>() <= offset_of!(V3, authorities));
    assert!(offset_of!(ChainOptionsV2, block_reward) == offset_of!(V3, block_reward));
    assert!(offset_of!(ChainOptionsV2, authorities) == offset_of!(V3, authorities));
    assert!(offset_of!(ChainOptionsV2, authority_count) == offset_of!(V3, authority_count));
    assert!(size_of::<ChainOptionsV2>() <= offset_of!(V3, max_future));
};

/// How to run emr_chain_add_blocks and emr_chain_check. Initialize it with
/// emr_batch_options_default, then set the fields you need. Every default
/// is zero or NULL.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct emr_batch_options {
    /// EMR_BATCH_OPTIONS_VERSION of the header the caller was compiled
    /// with, set by emr_batch_options_default.
    pub version: u32,
    /// Threads for the record signature checks, 1 ..=
    /// EMR_MAX_VERIFY_THREADS; 0 (default): one per available core. No call
    /// starts threads of its own for them: the library's one verification
    /// pool runs them.
    pub threads: usize,
    /// A cancel handle: when triggered, the work stops between two blocks
    /// with EMR_CANCELLED (blocks already added stay added); NULL (default):
    /// none. It must stay valid until the call returns.
    pub cancel: *const emr_cancel,
    /// Called with progress about every 100 ms and once at the end; NULL
    /// (default): none. See emr_chain_progress_fn.
    pub progress: emr_chain_progress_fn,
    /// Passed unchanged to progress; never dereferenced by the library.
    pub user_data: *mut c_void,
}

/// A progress callback of emr_chain_add_blocks and emr_chain_check: blocks
/// done so far and blocks in all, with the options' user_data.
///
/// It is called about every 100 ms and once when the last block is done,
/// never concurrently with itself: on the calling thread for
/// emr_chain_add_blocks, on a library thread for emr_chain_check. It must
/// return normally (no longjmp, no C++ exception). It may call into the
/// library, for example emr_cancel_trigger to stop the work, but not on the
/// chain being worked on (that call returns EMR_INVALID_ARGUMENT).
pub type emr_chain_progress_fn = Option<unsafe extern "C" fn(done: u64, total: u64, user_data: *mut c_void)>;

/// Why a block was refused, for the statuses that belong to a block: the
/// chain kinds (EMR_WRONG_HEIGHT, EMR_UNKNOWN_PARENT,
/// EMR_TIMESTAMP_TOO_EARLY, EMR_TIMESTAMP_TOO_LATE) and the block kinds of
/// verification (EMR_DIFFICULTY_MISMATCH ... EMR_ENTRY), and, from
/// emr_chain_check, EMR_CORRUPT for a stored block that is damaged. Its
/// layout is fixed: later details will come in a new struct, never by
/// growing this one.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct emr_block_failure {
    /// The block's status.
    pub status: emr_status,
    /// The failed block's height. When a heavier branch is refused because
    /// one of its blocks fails, this is that block, which may be an ancestor
    /// of the block offered.
    pub height: u64,
    /// Whether block_id holds the failed block's id (false when only its
    /// height is known, as for damage found by emr_chain_check).
    pub has_block_id: bool,
    /// The failed block's id when has_block_id is true; zero otherwise.
    pub block_id: [u8; 32],
    /// With EMR_RECORD: the index of the first failing record in the block.
    /// With EMR_ENTRY: the index of the first failing entry (the layout is
    /// fixed, so entries share the field). 0 otherwise.
    pub record_index: usize,
    /// With EMR_RECORD: that record's own status (EMR_INVALID_NONCE,
    /// EMR_INVALID_SIGNATURE, EMR_UNAUTHORIZED_DOCTOR, ...). With EMR_ENTRY:
    /// that entry's own status (EMR_INVALID_ENTRY ... EMR_ALREADY_REVOKED,
    /// EMR_WRONG_CHAIN, EMR_REVOCATION_NOT_YET_EFFECTIVE).
    /// EMR_OK otherwise.
    pub record_status: emr_status,
}

/// What emr_chain_check found. Its layout is fixed, as emr_block_failure's.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct emr_check_report {
    /// Active blocks checked and found good, from height 0.
    pub blocks_ok: u64,
    /// Whether a bad block was found; the blocks after it are not checked.
    pub found_bad: bool,
    /// The first bad block when found_bad is true (its height is
    /// blocks_ok); all zero otherwise.
    pub bad: emr_block_failure,
}

const NO_FAILURE: emr_block_failure = emr_block_failure {
    status: EMR_OK,
    height: 0,
    has_block_id: false,
    block_id: [0; 32],
    record_index: 0,
    record_status: EMR_OK,
};

/// The failure of a block, for the errors that belong to one. `offered`:
/// the block the caller offered, named by the linkage errors.
fn failure_of(error: &ChainError, offered: Option<&Block>) -> Option<emr_block_failure> {
    let failure = |status, height, id: Option<Hash256>| emr_block_failure {
        status,
        height,
        has_block_id: id.is_some(),
        block_id: id.map_or([0; 32], |id| id.to_bytes()),
        ..NO_FAILURE
    };
    match error {
        ChainError::Block { height, block_id, error } => {
            let mut out = failure(status_of(error.kind()), *height, Some(*block_id));
            match error {
                BlockError::Record { index, error } => {
                    out.record_index = *index;
                    out.record_status = status_of(error.kind());
                }
                BlockError::Entry { index, error } => {
                    out.record_index = *index;
                    out.record_status = status_of(error.kind());
                }
                _ => {}
            }
            Some(out)
        }
        ChainError::UnknownParent { .. }
        | ChainError::WrongHeight { .. }
        | ChainError::TimestampTooEarly { .. }
        | ChainError::TimestampTooLate { .. } => {
            offered.map(|block| failure(status_of(error.kind()), block.height, Some(block.block_id)))
        }
        _ => None,
    }
}

/// The caller's progress callback with its user data and the chain it
/// reports on.
#[derive(Copy, Clone)]
struct CProgress {
    callback: unsafe extern "C" fn(u64, u64, *mut c_void),
    user_data: *mut c_void,
    chain: usize,
}

// SAFETY: the core calls a batch's progress callback never concurrently
// with itself (documented on `BatchOptions::progress`), from the calling
// thread or one library thread, as the header promises the caller; the
// bounds are only what the core's `dyn Fn + Sync` asks of the type.
unsafe impl Send for CProgress {}
// SAFETY: as for Send.
unsafe impl Sync for CProgress {}

impl CProgress {
    fn report(&self, progress: BatchProgress) {
        let outer = CALLBACK_OF.try_with(|slot| slot.replace(self.chain)).unwrap_or(0);
        // SAFETY: the documented contract of emr_batch_options.progress: a
        // function taking these arguments that returns normally; user_data
        // is passed through unchanged.
        unsafe { (self.callback)(progress.done, progress.total, self.user_data) };
        let _ = CALLBACK_OF.try_with(|slot| slot.set(outer));
    }
}

/// The caller's batch options, owned, for one call.
pub(crate) struct Batch {
    parallelism: Parallelism,
    cancel: Option<CancelHandle>,
    progress: Option<CProgress>,
}

impl Batch {
    /// Reads the caller's options (NULL: the defaults).
    pub(crate) unsafe fn read(options: *const emr_batch_options, chain: &emr_chain) -> Result<Batch, Error> {
        let mut batch = Batch { parallelism: Parallelism::ALL_CORES, cancel: None, progress: None };
        if options.is_null() {
            return Ok(batch);
        }
        if !options.is_aligned() {
            return Err(Error::invalid_argument("`options` is not aligned"));
        }
        // The version first: it says how much of the struct the caller has.
        // SAFETY: non-NULL and aligned; by contract `options` points to an
        // emr_batch_options of some version, all of which start with
        // `version`.
        let version = unsafe { core::ptr::addr_of!((*options).version).read() };
        if !(1..=EMR_BATCH_OPTIONS_VERSION).contains(&version) {
            return Err(Error::invalid_argument(format_args!(
                "options->version is {version}, not one of 1 ..= {EMR_BATCH_OPTIONS_VERSION}: initialize the options with \
                 emr_batch_options_default(&options, EMR_BATCH_OPTIONS_VERSION)"
            )));
        }
        // SAFETY: a version-1 struct, which is this type, readable for the call.
        let o = unsafe { ptr::handle(options, "options") }?;
        if o.threads != 0 {
            batch.parallelism = Parallelism::threads(o.threads)?;
        }
        // SAFETY: documented contract: a live cancel handle or NULL.
        batch.cancel = unsafe { ptr::optional(o.cancel, "options->cancel") }?.map(|c| c.inner.clone());
        batch.progress =
            o.progress.map(|callback| CProgress { callback, user_data: o.user_data, chain: chain.address() });
        Ok(batch)
    }

    /// Runs `f` with these options' progress callback and cancel handle
    /// (emr_chain_sync; the threads are the verification pool's).
    pub(crate) fn run_with_progress<R>(
        &self,
        f: impl FnOnce(Option<&(dyn Fn(BatchProgress) + Sync)>, Option<&CancelHandle>) -> R,
    ) -> R {
        let progress = self.progress.map(|c| move |p: BatchProgress| c.report(p));
        f(progress.as_ref().map(|p| p as &(dyn Fn(BatchProgress) + Sync)), self.cancel.as_ref())
    }

    /// Runs `f` with the core's view of these options.
    fn run<R>(&self, f: impl FnOnce(&BatchOptions<'_>) -> R) -> R {
        let progress = self.progress.map(|c| move |p: BatchProgress| c.report(p));
        let options = BatchOptions {
            progress: progress.as_ref().map(|p| p as &(dyn Fn(BatchProgress) + Sync)),
            cancel: self.cancel.as_ref(),
            parallelism: self.parallelism,
        };
        f(&options)
    }
}

/// The core's parameters for the caller's options: `None` to use the
/// stored ones.
unsafe fn read_params(options: *const emr_chain_options) -> Result<Option<ChainParams>, Error> {
    if options.is_null() {
        return Ok(None);
    }
    if !options.is_aligned() {
        return Err(Error::invalid_argument("`options` is not aligned"));
    }
    // SAFETY: non-NULL and aligned; every version starts with `version`.
    let version = unsafe { core::ptr::addr_of!((*options).version).read() };
    check_options_version(version)?;
    // SAFETY: every version starts with version 1's layout, readable for
    // the call by the documented contract.
    let o = unsafe { ptr::handle(options.cast::<ChainOptionsV1>(), "options") }?;
    if o.use_stored_params {
        return Ok(None);
    }
    let authorities = if version >= 2 {
        // SAFETY: a struct of version 2 or later, whose prefix is version
        // 2's layout, readable for the call.
        let o = unsafe { ptr::handle(options.cast::<ChainOptionsV2>(), "options") }?;
        let keys = unsafe { ptr::slice(o.authorities, o.authority_count, "options->authorities") }?;
        let lens = unsafe { ptr::slice(o.authority_lens, o.authority_count, "options->authority_lens") }?;
        keys.iter()
            .zip(lens)
            .enumerate()
            .map(|(i, (&der, &len))| {
                // SAFETY: documented contract: each key points to its length.
                let der = unsafe { ptr::slice(der, len, format_args!("options->authorities[{i}]")) }?;
                PublicKey::from_spki_der(der).map_err(|_| {
                    Error::invalid_argument(format_args!(
                        "options->authorities[{i}] is not an EC public key (SPKI DER) on a supported curve"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let (max_future, salt) = if version >= 3 {
        // SAFETY: a version-3 struct, which is this type, readable for the call.
        let o = unsafe { ptr::handle(options, "options") }?;
        (o.max_future, o.has_salt.then_some(o.salt))
    } else {
        (DEFAULT_MAX_FUTURE, None)
    };
    let initial_difficulty = Difficulty::new(o.initial_difficulty.get())
        .ok_or_else(|| Error::invalid_argument("options->initial_difficulty must be in 1 ..= 2^128-1, not 0"))?;
    Ok(Some(ChainParams {
        initial_difficulty,
        window: o.window,
        block_time: o.block_time,
        max_adjust: o.max_adjust,
        block_reward: o.block_reward,
        authorities,
        max_future,
        salt,
    }))
}

/// The chain's options as a struct of this header's version; its
/// authorities point into `keys`.
fn options_of(params: &ChainParams, version: u32, keys: &AuthorityKeys) -> emr_chain_options {
    emr_chain_options {
        version,
        use_stored_params: false,
        initial_difficulty: emr_difficulty::from_u128(params.initial_difficulty.get()),
        window: params.window,
        block_time: params.block_time,
        max_adjust: params.max_adjust,
        block_reward: params.block_reward,
        authorities: if keys.ptrs.is_empty() { core::ptr::null() } else { keys.ptrs.as_ptr() },
        authority_lens: if keys.lens.is_empty() { core::ptr::null() } else { keys.lens.as_ptr() },
        authority_count: keys.ptrs.len(),
        max_future: params.max_future,
        has_salt: params.salt.is_some(),
        salt: params.salt.unwrap_or([0; SALT_LEN]),
    }
}

fn check_options_version(version: u32) -> Result<(), Error> {
    if !(1..=EMR_CHAIN_OPTIONS_VERSION).contains(&version) {
        return Err(Error::invalid_argument(format_args!(
            "unknown emr_chain_options version {version} (this library knows 1 ..= {EMR_CHAIN_OPTIONS_VERSION}): \
             initialize the options with emr_chain_options_default(&options, EMR_CHAIN_OPTIONS_VERSION)"
        )));
    }
    Ok(())
}

/// Writes `options` to a caller's struct of `version`: only the fields that
/// version has.
unsafe fn write_options(out: *mut emr_chain_options, options: emr_chain_options) -> Result<(), Error> {
    if options.version >= 3 {
        // SAFETY: forwarded contract: a writable struct of this version.
        unsafe { Out::new(out, "options") }?.write(options);
    } else if options.version == 2 {
        let v2 = ChainOptionsV2 {
            version: options.version,
            use_stored_params: options.use_stored_params,
            initial_difficulty: options.initial_difficulty,
            window: options.window,
            block_time: options.block_time,
            max_adjust: options.max_adjust,
            block_reward: options.block_reward,
            authorities: options.authorities,
            authority_lens: options.authority_lens,
            authority_count: options.authority_count,
        };
        // SAFETY: forwarded contract: a writable version-2 struct, which is
        // the prefix this type describes.
        unsafe { Out::new(out.cast::<ChainOptionsV2>(), "options") }?.write(v2);
    } else {
        let v1 = ChainOptionsV1 {
            version: options.version,
            use_stored_params: options.use_stored_params,
            initial_difficulty: options.initial_difficulty,
            window: options.window,
            block_time: options.block_time,
            max_adjust: options.max_adjust,
            block_reward: options.block_reward,
        };
        // SAFETY: forwarded contract: a writable version-1 struct, which is
        // the prefix this type describes.
        unsafe { Out::new(out.cast::<ChainOptionsV1>(), "options") }?.write(v1);
    }
    Ok(())
}

/// A chain's authorities as SPKI DER, with the pointer and length arrays
/// emr_chain_get_options hands out. Fixed for the chain's life, so made
/// once when the chain is opened.
pub(crate) struct AuthorityKeys {
    ders: Vec<Vec<u8>>,
    ptrs: Vec<*const u8>,
    lens: Vec<usize>,
}

// SAFETY: the pointers point into `ders`, heap buffers owned by the same
// value and never changed or moved after construction; sharing or sending
// the value shares or sends read-only access to them.
unsafe impl Send for AuthorityKeys {}
// SAFETY: as for Send.
unsafe impl Sync for AuthorityKeys {}

impl AuthorityKeys {
    fn new(authorities: &[PublicKey]) -> AuthorityKeys {
        let ders: Vec<Vec<u8>> = authorities.iter().map(PublicKey::to_spki_der).collect();
        let ptrs = ders.iter().map(|d| d.as_ptr()).collect();
        let lens = ders.iter().map(Vec::len).collect();
        AuthorityKeys { ders, ptrs, lens }
    }
}

/// A file path from C: NUL-terminated bytes, not empty.
unsafe fn path_of(path: *const c_char) -> Result<PathBuf, Error> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: documented contract: a NUL-terminated string.
    let bytes = unsafe { ptr::c_str(path, "path") }?.to_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid_argument("`path` is empty"));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

/// The caller's clock: NULL for none.
unsafe fn now_of(now: *const u64) -> Result<Option<u64>, Error> {
    // SAFETY: documented contract: a readable uint64_t or NULL.
    Ok(unsafe { ptr::optional(now, "now") }?.copied())
}

/// Fills options with the specification's parameters (initial difficulty
/// 1000, window 10, block time 12 s, clamp 4, reward 10000, no
/// authorities, max_future 60 s, no salt: a random one for a new chain)
/// and use_stored_params false. Only the fields of the given version are
/// written.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
///          knows (0, or above its own; nothing is written);
///          EMR_NULL_ARGUMENT if options is NULL.
/// In:      version: EMR_CHAIN_OPTIONS_VERSION of the caller's header (any
///                   version from 1 up to the library's own is accepted:
///                   only that version's fields are written).
/// Out:     options: the defaults, with options->version = version.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_options_default(options: *mut emr_chain_options, version: u32) -> emr_status {
    ffi_boundary!({
        if options.is_null() {
            return Err(Error::null("options"));
        }
        check_options_version(version)?;
        let defaults = options_of(&ChainParams::default(), version, &AuthorityKeys::new(&[]));
        // SAFETY: documented contract of `options`: a struct of `version`.
        unsafe { write_options(options, defaults) }
    })
}

/// Fills options with the defaults: all cores, no cancel handle, no
/// progress callback.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
///          knows (0, or above its own; nothing is written);
///          EMR_NULL_ARGUMENT if options is NULL.
/// In:      version: EMR_BATCH_OPTIONS_VERSION of the caller's header (any
///                   version from 1 up to the library's own is accepted).
/// Out:     options: the defaults, with options->version = version.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_batch_options_default(options: *mut emr_batch_options, version: u32) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `options`.
        let out = unsafe { Out::new(options, "options") }?;
        if !(1..=EMR_BATCH_OPTIONS_VERSION).contains(&version) {
            return Err(Error::invalid_argument(format_args!(
                "unknown emr_batch_options version {version} (this library knows 1 ..= {EMR_BATCH_OPTIONS_VERSION})"
            )));
        }
        out.write(emr_batch_options {
            version,
            threads: 0,
            cancel: core::ptr::null(),
            progress: None,
            user_data: core::ptr::null_mut(),
        });
        Ok(())
    })
}

/// Opens a chain for writing: the database file at path, created when it
/// does not exist or is empty, or a chain in memory when path is NULL (gone
/// when freed). Nothing is replayed on open; the newest block is read and
/// checked against its id, so damage there is reported at once
/// (emr_chain_check looks at everything).
///
/// The handle holds the file's write lock until emr_chain_free: a second
/// writer, in this process or another, gets EMR_LOCKED, and a writer that
/// dies releases the lock. Every block is durable when its add returns.
///
/// A new chain stores its parameters with its salt (options->salt when
/// options->has_salt, else a random one); its id (emr_chain_id) is their
/// hash. A chain file written before SPEC v1.2 (format 2) is upgraded on
/// its first writable open, with the salt given or a random one, and
/// re-checked under v1.2's rules; a file holding grants or revocations
/// made before v1.2 (which name no chain) cannot be upgraded and is
/// refused, the message saying why.
///
/// Returns: EMR_OK; EMR_LOCKED if another handle has the file open for
///          writing (the message names the file); EMR_INVALID_ARGUMENT if
///          path is "", options->version is not one this library knows
///          (0, or above its own EMR_CHAIN_OPTIONS_VERSION: every version
///          from 1 up is accepted, an earlier one with the defaults for
///          the fields it lacks), a parameter is out of range
///          (initial_difficulty 0, window, block_time or max_adjust 0, an
///          authority that is not an EC SPKI or is listed twice), the chain
///          exists and was created with other parameters (another salt
///          included, when options->has_salt), or it cannot be upgraded to
///          SPEC v1.2;
///          EMR_CORRUPT if the file is not a chain database or its stored
///          data is damaged (or an upgraded chain fails its re-check);
///          EMR_IO if the operating system or SQLite fails (no such
///          directory, permissions, ...); EMR_NULL_ARGUMENT if out is NULL.
/// In:      path:    a NUL-terminated file path (bytes, not necessarily
///                   UTF-8), or a directory, meaning its file chain.db (as
///                   the command line keeps a chain); NULL for a chain in
///                   memory.
///          options: the chain's parameters (see emr_chain_options); NULL:
///                   the stored parameters, or the defaults for a new chain.
/// Out:     out:     a new chain, freed (and closed) by the caller with
///                   emr_chain_free; NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_open(
    path: *const c_char,
    options: *const emr_chain_options,
    out: *mut *mut emr_chain,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let params = unsafe { read_params(options) }?;
        let chain = if path.is_null() {
            Chain::in_memory(params.unwrap_or_default())?
        } else {
            Chain::open(unsafe { path_of(path) }?, params)?
        };
        out.set(emr_chain::new(chain));
        Ok(())
    })
}

/// Opens an existing chain for reading only, with its stored parameters. It
/// may run beside a writer (in this process or another) and sees each block
/// once the writer's add has returned. Adding and undoing return
/// EMR_INVALID_ARGUMENT.
///
/// Returns: EMR_OK; EMR_CORRUPT if the file is not a chain database or is
///          damaged; EMR_IO if it cannot be opened (does not exist, ...);
///          EMR_INVALID_ARGUMENT if path is ""; EMR_NULL_ARGUMENT if path or
///          out is NULL.
/// In:      path: a NUL-terminated file path.
/// Out:     out:  a new chain, freed by the caller with emr_chain_free; NULL
///                on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_open_readonly(path: *const c_char, out: *mut *mut emr_chain) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `path` and `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = Chain::open_readonly(unsafe { path_of(path) }?)?;
        out.set(emr_chain::new(chain));
        Ok(())
    })
}

/// Closes and frees a chain, releasing its write lock. Every block added is
/// already durable, so there is nothing to flush. NULL is a no-op.
///
/// Args:    chain: a chain from this library, or NULL. Not usable afterwards
///                 (histories taken from it stay valid).
/// Thread-safety: no other thread may use the chain during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_free(chain: *mut emr_chain) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live chain or NULL, freed once.
        unsafe { ptr::free(chain) }
    })
}

/// The chain's parameters, as emr_chain_options with use_stored_params
/// false and (version 3) has_salt true with the chain's salt: passing them
/// to emr_chain_open makes or opens a chain with the same parameters, and
/// so the same id.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if version is not one this library
///          knows (0, or above its own; nothing is written);
///          EMR_NULL_ARGUMENT if chain or options is NULL.
/// Args:    chain:   the chain.
/// In:      version: EMR_CHAIN_OPTIONS_VERSION of the caller's header (any
///                   version from 1 up to the library's own is accepted:
///                   only that version's fields are written).
/// Out:     options: the parameters, with options->version = version. Its
///                   authorities and authority_lens point into the chain:
///                   valid, for reading only, until emr_chain_free.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_get_options(
    chain: *const emr_chain,
    options: *mut emr_chain_options,
    version: u32,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `options`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        if options.is_null() {
            return Err(Error::null("options"));
        }
        check_options_version(version)?;
        let params = options_of(chain.lock()?.params(), version, &chain.authorities);
        // SAFETY: documented contract of `options`: a struct of `version`.
        unsafe { write_options(options, params) }?;
        Ok(())
    })
}

/// The chain's id (SPEC 5, v1.2): SHA-256 over "cryptoemr/chain/v1" and
/// its parameters (initial difficulty, window, block time, clamp, reward,
/// max_future, the authorities in order, the salt). Every grant and
/// revocation made for this chain carries it (emr_grant_sign's
/// chain_id32); an entry with another id is EMR_WRONG_CHAIN here. A site
/// joining a consortium checks the parameters it is handed against the id
/// it was given out of band.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if chain or out32 is NULL.
/// Args:    chain: the chain.
/// Out:     out32: receives the 32-byte id.
/// Thread-safety: safe to call from any thread, at any time (the id is
///          fixed for the chain's life).
#[no_mangle]
pub unsafe extern "C" fn emr_chain_id(chain: *const emr_chain, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `out32`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let out = unsafe { ptr::out_array::<32>(out32, "out32") }?;
        out.write(chain.chain_id);
        Ok(())
    })
}

/// An outcome's name: "none", "extended", "side_branch", "reorganized",
/// "already_known", "stale".
///
/// Returns: a NUL-terminated string in static storage (never NULL, never
///          freed); "unknown" for a number that is not an outcome.
/// In:      outcome: any value.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn emr_add_outcome_name(outcome: emr_add_outcome) -> *const c_char {
    ffi_boundary!(default: c"unknown".as_ptr(); {
        match outcome {
            EMR_ADD_NONE => c"none",
            EMR_ADD_EXTENDED => c"extended",
            EMR_ADD_SIDE_BRANCH => c"side_branch",
            EMR_ADD_REORGANIZED => c"reorganized",
            EMR_ADD_ALREADY_KNOWN => c"already_known",
            EMR_ADD_STALE => c"stale",
            _ => c"unknown",
        }
        .as_ptr()
    })
}

/// Adds a block (SPEC section 5), durably before returning.
///
/// Checks, in order: EMR_UNKNOWN_PARENT (previous is the id of no stored
/// block; all zero at height 0 starts a branch from genesis),
/// EMR_WRONG_HEIGHT, EMR_TIMESTAMP_TOO_EARLY, EMR_TIMESTAMP_TOO_LATE (only
/// when now is given; such a block is not remembered, so it may be offered
/// again once its time has come), then verification (SPEC section 3:
/// checks 1-6) with the difficulty expected at the block's place in its
/// own branch. A block that joins the active chain is then checked in
/// full: its entries against the chain (EMR_ENTRY with EMR_WRONG_CHAIN,
/// EMR_UNKNOWN_AUTHORITY, ..., EMR_REVOCATION_NOT_YET_EFFECTIVE) and its
/// records. A block of a side branch is EMR_ADD_STALE (not stored) unless
/// its branch forks at most window blocks below the tip and reaches at most
/// window blocks past the fork; otherwise its records and entries pass
/// every check that needs no state before it is stored, and the rest when
/// the branch becomes active. A branch that becomes strictly heavier than
/// the active chain becomes the active chain atomically; if one of its
/// blocks fails, that block and its descendants are remembered as invalid
/// (refused with the same status when offered again), and the active
/// chain, states and queries are exactly as before.
///
/// The pool (emr_chain_submit, emr_chain_pending) follows the active chain
/// in the same transaction: the records and entries of a block that joins
/// it leave the pool, and those of every block that leaves it in a
/// reorganization (EMR_ADD_REORGANIZED) come back to the pool, to be mined
/// again, unless the new active chain carries them too. A record that
/// cannot come back because a block of the new active chain carries
/// another record of its doctor with its nonce (other content) is not lost:
/// it is kept as a conflict (emr_chain_conflicts, SPEC 9.3), as a pending
/// record overtaken in the same way is.
///
/// Returns: EMR_OK with *outcome (EMR_ADD_STALE included: not an error);
///          EMR_UNKNOWN_PARENT, EMR_WRONG_HEIGHT, EMR_TIMESTAMP_TOO_EARLY,
///          EMR_TIMESTAMP_TOO_LATE; a verification status
///          (EMR_DIFFICULTY_MISMATCH, EMR_INVALID_BLOCK_ID,
///          EMR_TOO_MANY_RECORDS, EMR_INSUFFICIENT_WORK, EMR_ENTRY,
///          EMR_RECORD, ...) of the block or of the block of its branch that
///          failed, named in *failure; EMR_INVALID_ARGUMENT if the chain is
///          read-only; EMR_CORRUPT, EMR_IO if storage fails (nothing is
///          changed); EMR_NULL_ARGUMENT if chain or block is NULL.
/// Args:    chain:   the chain, changed.
/// In:      block:   the block; copied.
///          now:     the caller's current Unix time, to refuse a block more
///                   than the chain's max_future seconds (default
///                   EMR_DEFAULT_MAX_FUTURE_SECONDS) ahead of it; NULL
///                   skips that check (replaying history).
/// Out:     outcome: what adding did (an EMR_ADD_* other than
///                   EMR_ADD_NONE), written on EMR_OK; may be NULL if not
///                   wanted.
///          failure: which block failed and why, written when the status
///                   belongs to a block (see emr_block_failure); may be NULL
///                   if not wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time. The block may be read by other threads meanwhile.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_add_block(
    chain: *mut emr_chain,
    block: *const emr_block,
    now: *const u64,
    outcome: *mut emr_add_outcome,
    failure: *mut emr_block_failure,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let block = &unsafe { ptr::handle(block, "block") }?.inner;
        let now = unsafe { now_of(now) }?;
        let outcome = unsafe { Out::optional(outcome) };
        let failure = unsafe { Out::optional(failure) };
        match chain.lock()?.add_block(block, now) {
            Ok(added) => {
                if let Some(out) = outcome {
                    out.write(outcome_to_c(added));
                }
                Ok(())
            }
            Err(error) => {
                if let (Some(out), Some(f)) = (failure, failure_of(&error, Some(block))) {
                    out.write(f);
                }
                Err(error.into())
            }
        }
    })
}

/// Adds blocks in order, as a loop of emr_chain_add_block would, but faster:
/// record signatures are checked on several threads ahead of the in-order
/// checks, and the batch is one transaction. Stops at the first block that
/// fails (or at cancellation); the blocks before it are kept and durable.
///
/// Side branches are judged where the call ends (SPEC 5, v1.2): a long
/// branch that is heavier than the active chain once all its blocks are in
/// reorganizes however far below the tip it forks, so deliver it in one
/// call (a node streams it page by page into one call); the call's blocks
/// of a branch that is then neither heavier nor near the tip are
/// EMR_ADD_STALE, none of them stored.
///
/// The pool follows the active chain as for emr_chain_add_block: records
/// and entries of blocks that join it leave the pool; those of blocks that
/// leave it in a reorganization come back to the pool, unless the new
/// active chain carries them too, and a record that cannot come back
/// because another record took its doctor's nonce is kept as a conflict
/// (emr_chain_conflicts).
///
/// Returns: EMR_OK when every block was added; otherwise the status of the
///          block at *failed_index, as emr_chain_add_block reports it (with
///          *failure), or EMR_CANCELLED when options->cancel was triggered
///          (*failed_index is the first block not added);
///          EMR_CORRUPT, EMR_IO if storage fails (outcomes then say which
///          blocks, if any, were kept); EMR_INVALID_ARGUMENT also if the
///          chain is read-only, options->version is not one this library
///          knows (every version from 1 up to its own
///          EMR_BATCH_OPTIONS_VERSION is accepted) or options->threads is over
///          EMR_MAX_VERIFY_THREADS;
///          EMR_NULL_ARGUMENT if chain is NULL, blocks is NULL while
///          count > 0, or an element of blocks is NULL.
/// Args:    chain:    the chain, changed.
/// In:      blocks, count: the blocks in order (NULL allowed when count is
///                    0); copied.
///          now:      as for emr_chain_add_block; NULL skips the check.
///          options:  threads, cancel handle and progress callback (see
///                    emr_batch_options); NULL: the defaults.
/// Out:     outcomes: count elements, or NULL if not wanted. Written
///                    whatever the status, unless outcomes itself is refused
///                    (misaligned): element i is block i's outcome, or
///                    EMR_ADD_NONE when block i was not added (the failed
///                    block, the blocks after it, every block when the call
///                    failed before adding any, or after a storage failure
///                    that kept nothing).
///          failed_index: the index of the block that failed or at which
///                    the batch was cancelled, written when the batch ran
///                    and stopped early; may be NULL if not wanted.
///          failure:  which block failed and why, as for
///                    emr_chain_add_block (the failed block of a heavier
///                    branch may be an ancestor of blocks[*failed_index]);
///                    may be NULL if not wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time. The progress callback runs on the calling thread;
///          emr_cancel_trigger may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_add_blocks(
    chain: *mut emr_chain,
    blocks: *const *const emr_block,
    count: usize,
    now: *const u64,
    options: *const emr_batch_options,
    outcomes: *mut emr_add_outcome,
    failed_index: *mut usize,
    failure: *mut emr_block_failure,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let outcomes = unsafe { OutSlice::optional(outcomes, count, "outcomes") }?;
        if let Some(outcomes) = &outcomes {
            for i in 0..outcomes.len() {
                outcomes.write(i, EMR_ADD_NONE);
            }
        }
        let failed_index = unsafe { Out::optional(failed_index) };
        let failure = unsafe { Out::optional(failure) };
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let blocks = unsafe { ptr::slice(blocks, count, "blocks") }?
            .iter()
            .enumerate()
            .map(|(i, &block)| unsafe { ptr::handle(block, format_args!("blocks[{i}]")) }.map(|b| b.inner.clone()))
            .collect::<Result<Vec<Block>, _>>()?;
        let now = unsafe { now_of(now) }?;
        let batch = unsafe { Batch::read(options, chain) }?;
        let mut guard = chain.lock()?;
        let result = batch.run(|options| guard.add_blocks(&blocks, now, options));
        let (added, stopped) = match result {
            Ok(added) => (added, None),
            Err(e) => (e.added.clone(), Some(e)),
        };
        if let Some(outcomes) = &outcomes {
            for (i, outcome) in added.into_iter().enumerate() {
                outcomes.write(i, outcome_to_c(outcome));
            }
        }
        let Some(stopped) = stopped else { return Ok(()) };
        if let Some(out) = failed_index {
            out.write(stopped.index);
        }
        if let (Some(out), Some(f)) = (failure, failure_of(&stopped.error, blocks.get(stopped.index))) {
            out.write(f);
        }
        Err(Error::kind(stopped.kind(), &stopped))
    })
}

/// Takes the tip block off the active chain and out of the store (with any
/// side-branch blocks built on it), restoring the user states before it.
/// The block is forgotten: adding it again verifies and connects it anew.
/// No other branch is switched to, even a heavier one.
///
/// The block's records and entries come back to the pool (emr_chain_pending,
/// emr_chain_pending_entry, emr_chain_template), none lost, to be mined
/// again. A returned record that a block joining the active chain later
/// overtakes (another record of its doctor with its nonce, other content)
/// is kept as a conflict (emr_chain_conflicts, SPEC 9.3), not dropped
/// silently.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if the chain has no block;
///          EMR_INVALID_ARGUMENT if the chain is read-only; EMR_CORRUPT,
///          EMR_IO if storage fails (nothing is changed); EMR_NULL_ARGUMENT
///          if chain is NULL.
/// Args:    chain:   the chain, changed.
/// Out:     removed: the block taken off, freed by the caller with
///                   emr_block_free; NULL on failure. May be NULL if not
///                   wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_undo_last_block(chain: *mut emr_chain, removed: *mut *mut emr_block) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `removed`.
        let removed = unsafe { OutHandle::optional(removed, "removed") }?;
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let block = chain.lock()?.undo_last_block()?;
        if let Some(out) = removed {
            out.set(emr_block { inner: block });
        }
        Ok(())
    })
}

/// Writes a copy of the chain, as of one committed state, to the new file
/// path: the file to copy back in the chain file's place to restore it
/// (docs/OPERATIONS.md, "Backups"). Every page is read through its checksum
/// check and written with a fresh one, and the copy is read back whole
/// before it appears at path (it is written under a temporary name beside
/// it, then linked into place, never over a file): path is either absent
/// or a complete copy. Works on a read-only chain while a writer adds
/// blocks, in this process or another.
///
/// Returns: EMR_OK; EMR_IO if path exists (a backup never overwrites) or
///          cannot be written; EMR_CORRUPT if a page of the chain is
///          damaged (nothing is left at path); EMR_INVALID_ARGUMENT if path
///          is ""; EMR_NULL_ARGUMENT if chain or path is NULL.
/// Args:    chain: the chain, unchanged.
/// In:      path:  a NUL-terminated file path that does not exist yet.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_backup(chain: *const emr_chain, path: *const c_char) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `path`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let path = unsafe { path_of(path) }?;
        chain.lock()?.backup(path)?;
        Ok(())
    })
}

/// The number of blocks in the active chain (the tip's height + 1; 0 when
/// empty).
///
/// Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
///          if chain or len is NULL.
/// Args:    chain: the chain.
/// Out:     len:   the number of blocks.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_len(chain: *const emr_chain, len: *mut u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `len`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let out = unsafe { Out::new(len, "len") }?;
        out.write(chain.lock()?.len()?);
        Ok(())
    })
}

/// The active chain's last block. An empty chain has no tip: EMR_OK with
/// *out set to NULL (an empty chain is a normal state, not a failure).
///
/// Returns: EMR_OK (*out NULL for an empty chain); EMR_CORRUPT if the stored
///          block is damaged; EMR_IO if storage fails; EMR_NULL_ARGUMENT if
///          chain or out is NULL.
/// Args:    chain: the chain.
/// Out:     out:   a new block (a copy), freed by the caller with
///                 emr_block_free; NULL for an empty chain and on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_tip(chain: *const emr_chain, out: *mut *mut emr_block) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let chain = chain.lock()?;
        // The tip and the block are two reads; a writer beside a read-only
        // handle may commit between them, so read until they agree.
        let mut block = None;
        for _ in 0..16 {
            let Some(tip) = chain.tip()? else {
                block = None;
                break;
            };
            block = chain.block_at(tip.height)?;
            if block.as_ref().is_some_and(|b| b.block_id == tip.block_id) {
                break;
            }
        }
        if let Some(block) = block {
            out.set(emr_block { inner: block });
        }
        Ok(())
    })
}

/// The active block at a height.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if height is past the tip (the chain has
///          height or fewer blocks); EMR_CORRUPT if the stored block is
///          damaged; EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain or
///          out is NULL.
/// Args:    chain:  the chain.
/// In:      height: 0 ..= the tip's height.
/// Out:     out:    a new block (a copy), freed by the caller with
///                  emr_block_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_block_at(
    chain: *const emr_chain,
    height: u64,
    out: *mut *mut emr_block,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let block = chain.lock()?.block_at(height)?;
        let block =
            block.ok_or_else(|| Error::new(EMR_NOT_FOUND, format!("not_found: no active block at height {height}")))?;
        out.set(emr_block { inner: block });
        Ok(())
    })
}

/// The active chain's total difficulty: the sum of its blocks'
/// difficulties, exact, as a 256-bit unsigned big-endian integer (it can
/// exceed 128 bits). Branches are compared by it. All zero for an empty
/// chain.
///
/// Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
///          if chain or out32 is NULL.
/// Args:    chain: the chain.
/// Out:     out32: receives 32 bytes, most significant first.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_total_difficulty(chain: *const emr_chain, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `out32`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let out = unsafe { ptr::out_array::<32>(out32, "out32") }?;
        out.write(chain.lock()?.total_difficulty()?.to_be_bytes());
        Ok(())
    })
}

/// The difficulty the next block on the tip must carry (SPEC section 5's
/// retarget rule; the initial difficulty for the first window + 1 blocks).
///
/// Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
///          if chain or difficulty is NULL.
/// Args:    chain:      the chain.
/// Out:     difficulty: the difficulty (never 0).
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_next_difficulty(
    chain: *const emr_chain,
    difficulty: *mut emr_difficulty,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `difficulty`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let out = unsafe { Out::new(difficulty, "difficulty") }?;
        out.write(emr_difficulty::from_u128(chain.lock()?.next_difficulty()?.get()));
        Ok(())
    })
}

/// A user's state after the active chain: a doctor's, patient's or miner's
/// balance and record nonce. A hash the chain never touched has balance 0
/// and nonce 0 (not EMR_NOT_FOUND).
///
/// Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
///          if chain, hash20, balance or nonce is NULL.
/// Args:    chain:   the chain.
/// In:      hash20:  the user's 20-byte hash.
/// Out:     balance: the balance.
///          nonce:   the nonce of the user's last record as a doctor.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_user_state(
    chain: *const emr_chain,
    hash20: *const u8,
    balance: *mut u64,
    nonce: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(hash20, "hash20") }?);
        let balance = unsafe { Out::new(balance, "balance") }?;
        let nonce = unsafe { Out::new(nonce, "nonce") }?;
        let state = chain.lock()?.user_state(&hash)?;
        balance.write(state.balance);
        nonce.write(state.nonce);
        Ok(())
    })
}

/// The record with a txid in the active chain, with its place.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if no active block holds a record with
///          this txid (side branches are not searched); EMR_CORRUPT,
///          EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain, txid32 or
///          record is NULL.
/// Args:    chain:      the chain.
/// In:      txid32:     the record's 32-byte txid.
/// Out:     height:     its block's height; may be NULL if not wanted.
///          block_id32: receives its block's 32-byte id; may be NULL if not
///                      wanted.
///          record:     a new record, freed by the caller with
///                      emr_record_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_find_record(
    chain: *const emr_chain,
    txid32: *const u8,
    height: *mut u64,
    block_id32: *mut u8,
    record: *mut *mut emr_record,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let record = unsafe { OutHandle::new(record, "record") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let txid = Hash256::from_bytes(*unsafe { ptr::array::<32>(txid32, "txid32") }?);
        let height = unsafe { Out::optional(height) };
        let block_id = unsafe { Out::optional(block_id32.cast::<[u8; 32]>()) };
        let entry = chain.lock()?.find_record(&txid)?;
        let entry =
            entry.ok_or_else(|| Error::new(EMR_NOT_FOUND, format!("not_found: no active record has txid {txid}")))?;
        write_entry(entry, height, block_id, Some(record));
        Ok(())
    })
}

fn write_entry(
    entry: RecordEntry,
    height: Option<Out<u64>>,
    block_id: Option<Out<[u8; 32]>>,
    record: Option<OutHandle<emr_record>>,
) {
    if let Some(out) = height {
        out.write(entry.height);
    }
    if let Some(out) = block_id {
        out.write(entry.block_id.to_bytes());
    }
    if let Some(out) = record {
        out.set(emr_record { inner: entry.record });
    }
}

/// Which records a history holds.
#[derive(Copy, Clone)]
enum Role {
    Patient,
    Doctor,
}

unsafe fn history(
    chain: *const emr_chain,
    hash20: *const u8,
    out: *mut *mut emr_history,
    role: Role,
) -> Result<(), Error> {
    // SAFETY: documented contracts of every argument.
    let out = unsafe { OutHandle::new(out, "out") }?;
    let chain = unsafe { ptr::handle(chain, "chain") }?;
    let hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(hash20, "hash20") }?);
    let chain = chain.lock()?;
    let entries = match role {
        Role::Patient => chain.patient_history(&hash)?,
        Role::Doctor => chain.doctor_records(&hash)?,
    };
    out.set(emr_history { entries, next: 0 });
    Ok(())
}

/// Every record for a patient in the active chain, in chain order, with
/// each record's block height and id: a snapshot to walk with
/// emr_history_next (or emr_history_get). A patient with no record gets an
/// empty history, not EMR_NOT_FOUND.
///
/// Returns: EMR_OK; EMR_CORRUPT if a stored block is damaged; EMR_IO if
///          storage fails; EMR_NULL_ARGUMENT if chain, patient20 or out is
///          NULL.
/// Args:    chain:     the chain.
/// In:      patient20: the patient's 20-byte hash.
/// Out:     out:       a new history, freed by the caller with
///                     emr_history_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_patient_history(
    chain: *const emr_chain,
    patient20: *const u8,
    out: *mut *mut emr_history,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: forwarded documented contracts.
        unsafe { history(chain, patient20, out, Role::Patient) }
    })
}

/// Every record by a doctor in the active chain, in chain order (so in
/// nonce order), with each record's block height and id: a snapshot to walk
/// with emr_history_next (or emr_history_get). Empty for a doctor with no
/// record.
///
/// Returns: as emr_chain_patient_history; EMR_NULL_ARGUMENT if chain, dr20
///          or out is NULL.
/// Args:    chain: the chain.
/// In:      dr20:  the doctor's 20-byte hash (SHA-1 of the public key).
/// Out:     out:   a new history, freed by the caller with
///                 emr_history_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_doctor_records(
    chain: *const emr_chain,
    dr20: *const u8,
    out: *mut *mut emr_history,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: forwarded documented contracts.
        unsafe { history(chain, dr20, out, Role::Doctor) }
    })
}

/// The number of records in a history (however far emr_history_next has
/// gone).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if history or len is NULL.
/// Args:    history: the history.
/// Out:     len:     the number of records.
/// Thread-safety: safe to call concurrently with other readers of the
///          history (not with emr_history_next on it).
#[no_mangle]
pub unsafe extern "C" fn emr_history_len(history: *const emr_history, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `history` and `len`.
        let history = unsafe { ptr::handle(history, "history") }?;
        let out = unsafe { Out::new(len, "len") }?;
        out.write(history.entries.len());
        Ok(())
    })
}

/// The next record of a history and its place, advancing the cursor (the
/// first call gives the first record). After the last record it returns
/// EMR_NOT_FOUND, and keeps doing so:
///
/// ```c
/// uint64_t height; uint8_t block_id[32]; emr_record *rec;
/// while ((s = emr_history_next(it, &height, block_id, &rec)) == EMR_OK) {
///     ...; emr_record_free(rec);
/// }
/// if (s != EMR_NOT_FOUND) ...an error...
/// ```
///
/// Returns: EMR_OK with the next record; EMR_NOT_FOUND at the end (nothing
///          written but *record = NULL); EMR_NULL_ARGUMENT if history is
///          NULL.
/// Args:    history:    the history, whose cursor advances.
/// Out:     height:     the record's block height; may be NULL if not
///                      wanted.
///          block_id32: receives the block's 32-byte id; may be NULL if not
///                      wanted.
///          record:     a new record, freed by the caller with
///                      emr_record_free, NULL at the end and on failure;
///                      may be NULL if not wanted.
/// Thread-safety: no other thread may use the history during the call.
#[no_mangle]
pub unsafe extern "C" fn emr_history_next(
    history: *mut emr_history,
    height: *mut u64,
    block_id32: *mut u8,
    record: *mut *mut emr_record,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let record = unsafe { OutHandle::optional(record, "record") }?;
        let history = unsafe { ptr::handle_mut(history, "history") }?;
        let height = unsafe { Out::optional(height) };
        let block_id = unsafe { Out::optional(block_id32.cast::<[u8; 32]>()) };
        let entry = history.entries.get(history.next).cloned().ok_or_else(|| {
            Error::new(EMR_NOT_FOUND, format!("not_found: the end of the history ({} records)", history.entries.len()))
        })?;
        history.next += 1;
        write_entry(entry, height, block_id, record);
        Ok(())
    })
}

/// The record at a position of a history and its place, without moving the
/// cursor of emr_history_next.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the number of records (an
///          index past the end, see "Indexes" at the top of this header;
///          *record is set to NULL, nothing else is written);
///          EMR_NULL_ARGUMENT if history is NULL.
/// Args:    history:    the history.
/// In:      index:      0 ..= len - 1 (chain order).
/// Out:     height, block_id32, record: as for emr_history_next; each may be
///                      NULL if not wanted.
/// Thread-safety: safe to call concurrently with other readers of the
///          history (not with emr_history_next on it).
#[no_mangle]
pub unsafe extern "C" fn emr_history_get(
    history: *const emr_history,
    index: usize,
    height: *mut u64,
    block_id32: *mut u8,
    record: *mut *mut emr_record,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let record = unsafe { OutHandle::optional(record, "record") }?;
        let history = unsafe { ptr::handle(history, "history") }?;
        let height = unsafe { Out::optional(height) };
        let block_id = unsafe { Out::optional(block_id32.cast::<[u8; 32]>()) };
        let entry = ptr::element(&history.entries, index, "records")?.clone();
        write_entry(entry, height, block_id, record);
        Ok(())
    })
}

/// Frees a history. NULL is a no-op.
///
/// Args:    history: a history from this library, or NULL. Not usable
///                   afterwards.
/// Thread-safety: no other thread may use the history during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_history_free(history: *mut emr_history) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live history or NULL, freed once.
        unsafe { ptr::free(history) }
    })
}

/// Re-validates every stored active block in order from an empty state, as
/// if each were added anew without a clock (every signature included), and
/// reports the first bad one; when all are good, the stored user states,
/// total difficulty and record index must equal what the blocks give, and
/// side-branch blocks must hash to their ids. Reads only: a read-only handle
/// may check a chain a writer is extending (it checks one snapshot).
///
/// The status says whether the check reached a verdict; the verdict is the
/// report:
///   EMR_OK, !report->found_bad: every block is good;
///   EMR_OK, report->found_bad: report->bad names the first bad block (a
///     verification or chain status, or EMR_CORRUPT for damaged bytes), and
///     emr_last_error_message() describes it.
///
/// Returns: EMR_OK when the check reached a verdict, good or bad;
///          EMR_CORRUPT if the blocks are good but the stored states, index
///          or side blocks disagree with them, or SQLite finds damage;
///          EMR_CANCELLED if options->cancel was triggered; EMR_IO if
///          storage fails; EMR_INVALID_ARGUMENT if options->version is not
///          one this library knows (every version from 1 up to its own
///          EMR_BATCH_OPTIONS_VERSION is accepted) or options->threads is over
///          EMR_MAX_VERIFY_THREADS; EMR_NULL_ARGUMENT if chain or report is
///          NULL.
/// Args:    chain:   the chain.
/// In:      options: threads, cancel handle and progress callback (see
///                   emr_batch_options; the callback runs on a library
///                   thread); NULL: the defaults.
/// Out:     report:  the verdict, written on EMR_OK.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time. The call starts a few threads of its own (reading,
///          decoding, replaying) and joins them before it returns.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_check(
    chain: *const emr_chain,
    options: *const emr_batch_options,
    report: *mut emr_check_report,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let report = unsafe { Out::new(report, "report") }?;
        let batch = unsafe { Batch::read(options, chain) }?;
        let guard = chain.lock()?;
        let found = batch.run(|options| guard.check(options))?;
        let bad = found.first_bad.map(|bad| {
            set_last_error(&format!("bad block at height {}: {}", bad.height, bad.error));
            failure_of(&bad.error, None).map_or_else(
                || emr_block_failure { status: status_of(bad.error.kind()), height: bad.height, ..NO_FAILURE },
                |f| emr_block_failure { height: bad.height, ..f },
            )
        });
        report.write(emr_check_report {
            blocks_ok: found.blocks_ok,
            found_bad: bad.is_some(),
            bad: bad.unwrap_or(NO_FAILURE),
        });
        Ok(())
    })
}

/// The number of the chain's authorities (0 for an open chain).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if chain or count is NULL.
/// Args:    chain: the chain.
/// Out:     count: the number of authorities.
/// Thread-safety: safe to call from any thread, at any time (the
///          authorities are fixed for the chain's life).
#[no_mangle]
pub unsafe extern "C" fn emr_chain_authority_count(chain: *const emr_chain, count: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `count`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let out = unsafe { Out::new(count, "count") }?;
        out.write(chain.authorities.ders.len());
        Ok(())
    })
}

/// One of the chain's authorities, as uncompressed SPKI DER (the bytes an
/// entry's authority must equal).
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the authority count (an
///          index past the end, see "Indexes" at the top of this header;
///          *len is not written); EMR_BUFFER_TOO_SMALL if *len is less than
///          the size needed (written to *len); EMR_NULL_ARGUMENT if chain or
///          len is NULL, or buf is NULL while *len > 0.
/// Args:    chain: the chain.
/// In:      index: 0 ..= authority count - 1, in the order the chain was
///                 created with.
/// Out:     buf:   receives the DER bytes (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call from any thread, at any time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_authority(
    chain: *const emr_chain,
    index: usize,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and (`buf`, `len`).
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let out = unsafe { crate::ptr::OutBuf::new(buf, len, "buf", "len") }?;
        let der = ptr::element(&chain.authorities.ders, index, "authorities")?;
        out.write(der)
    })
}

/// A snapshot of a doctor's grants in the active chain (emr_chain_grants),
/// in chain order, each with its block's height and its revocation, if
/// any. Opaque and immutable: several threads may read one at once. Later
/// changes to the chain do not change it, and it may outlive the chain.
pub struct emr_grants {
    grants: Vec<RegisteredGrant>,
}

/// Every grant the active chain holds for a doctor, in chain order, with
/// the height of the block that carries it and its revocation's effective
/// time if the active chain revokes it. A grant a reorganisation or undo
/// removed is gone from later snapshots.
///
/// Returns: EMR_OK (an empty snapshot for a doctor without grants, and for
///          every doctor of an open chain); EMR_CORRUPT, EMR_IO if storage
///          fails; EMR_NULL_ARGUMENT if chain, dr_hash20 or out is NULL.
/// Args:    chain:     the chain.
/// In:      dr_hash20: the doctor's hash (SHA-1 of its public key), 20 bytes.
/// Out:     out:       a new snapshot, freed by the caller with
///                     emr_grants_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_grants(
    chain: *const emr_chain,
    dr_hash20: *const u8,
    out: *mut *mut emr_grants,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let dr_hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(dr_hash20, "dr_hash20") }?);
        let grants = chain.lock()?.grants(&dr_hash)?;
        out.set(emr_grants { grants });
        Ok(())
    })
}

/// The number of grants in a snapshot.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if grants or len is NULL.
/// Args:    grants: the snapshot.
/// Out:     len:    the number of grants.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_grants_len(grants: *const emr_grants, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `grants` and `len`.
        let grants = unsafe { ptr::handle(grants, "grants") }?;
        let out = unsafe { Out::new(len, "len") }?;
        out.write(grants.grants.len());
        Ok(())
    })
}

/// One grant of a snapshot, with where it was granted and whether it was
/// revoked.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
///          index past the end, see "Indexes" at the top of this header;
///          *grant is set to NULL, nothing else is written);
///          EMR_NULL_ARGUMENT if grants is NULL.
/// Args:    grants:    the snapshot.
/// In:      index:     0 ..= length - 1, in chain order.
/// Out:     grant:     a new entry (the grant), freed by the caller with
///                     emr_entry_free; NULL on failure; may be NULL if not
///                     wanted.
///          height:    the height of the block that carries it; may be NULL
///                     if not wanted.
///          revoked:   whether the active chain revokes it; may be NULL if
///                     not wanted.
///          effective: the revocation's effective time when revoked is
///                     true, 0 otherwise; may be NULL if not wanted.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_grants_get(
    grants: *const emr_grants,
    index: usize,
    grant: *mut *mut emr_entry,
    height: *mut u64,
    revoked: *mut bool,
    effective: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let grant = unsafe { OutHandle::optional(grant, "grant") }?;
        let grants = unsafe { ptr::handle(grants, "grants") }?;
        let found = ptr::element(&grants.grants, index, "grants")?;
        if let Some(out) = grant {
            out.set(emr_entry { inner: found.grant.clone().into() });
        }
        if let Some(out) = unsafe { Out::optional(height) } {
            out.write(found.height);
        }
        if let Some(out) = unsafe { Out::optional(revoked) } {
            out.write(found.revoked_effective.is_some());
        }
        if let Some(out) = unsafe { Out::optional(effective) } {
            out.write(found.revoked_effective.unwrap_or(0));
        }
        Ok(())
    })
}

/// Frees a grants snapshot. NULL is a no-op.
///
/// Args:    grants: a snapshot from this library, or NULL. Not usable
///                  afterwards (entries taken from it stay valid).
/// Thread-safety: no other thread may use the snapshot during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_grants_free(grants: *mut emr_grants) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live snapshot or NULL, freed once.
        unsafe { ptr::free(grants) }
    })
}

/// Whether the active chain authorizes a doctor to write at a time: it
/// holds a grant for the doctor with not_before <= timestamp <= not_after
/// that is not revoked with effective <= timestamp. What a block at that
/// timestamp on the tip asks of its records' doctors. Always false in an
/// open chain (which has no grants, and where every doctor may write).
///
/// Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails;
///          EMR_NULL_ARGUMENT if chain, dr_hash20 or authorized is NULL.
/// Args:    chain:      the chain.
/// In:      dr_hash20:  the doctor's hash, 20 bytes.
///          timestamp:  Unix seconds.
/// Out:     authorized: the answer.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_is_authorized(
    chain: *const emr_chain,
    dr_hash20: *const u8,
    timestamp: u64,
    authorized: *mut bool,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let dr_hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(dr_hash20, "dr_hash20") }?);
        let out = unsafe { Out::new(authorized, "authorized") }?;
        out.write(chain.lock()?.is_authorized(&dr_hash, timestamp)?);
        Ok(())
    })
}

/// What became of a prescription (SPEC 10): one of the `EMR_RX_*` values.
pub type emr_prescription_state = u32;

/// Neither dispensed nor cancelled.
pub const EMR_RX_OPEN: emr_prescription_state = 1;
/// Dispensed: a dispense of it is in the active chain.
pub const EMR_RX_DISPENSED: emr_prescription_state = 2;
/// Cancelled: a cancellation of it is in the active chain.
pub const EMR_RX_CANCELLED: emr_prescription_state = 3;

/// What became of the prescription (dr_hash, nonce) in the active chain:
/// open, dispensed (by which pharmacy, when, in which block) or cancelled
/// (by whom, why). The "who" and "why" are the entry's fields
/// (emr_dispense_pharmacy_public_key, emr_cancellation_canceller,
/// emr_cancellation_reason).
///
/// Returns: EMR_OK; EMR_NOT_FOUND if the active chain holds no record of
///          that doctor with that nonce (nothing is written but *entry =
///          NULL); EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT
///          if chain, dr_hash20 or state is NULL.
/// Args:    chain:      the chain.
/// In:      dr_hash20:  the prescriber's 20-byte hash.
///          nonce:      the record's nonce.
/// Out:     state:      EMR_RX_OPEN, EMR_RX_DISPENSED or EMR_RX_CANCELLED.
///          entry:      a new entry, the dispense or the cancellation (NULL
///                      when open), freed by the caller with
///                      emr_entry_free; may be NULL if not wanted.
///          height:     the height of that entry's block (0 when open); may
///                      be NULL if not wanted.
///          block_id32: receives that block's 32-byte id (zeros when open);
///                      may be NULL if not wanted.
///          timestamp:  that block's timestamp, when it was dispensed or
///                      cancelled (0 when open); may be NULL if not wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_prescription_state(
    chain: *const emr_chain,
    dr_hash20: *const u8,
    nonce: u64,
    state: *mut emr_prescription_state,
    entry: *mut *mut emr_entry,
    height: *mut u64,
    block_id32: *mut u8,
    timestamp: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let entry = unsafe { OutHandle::optional(entry, "entry") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let dr_hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(dr_hash20, "dr_hash20") }?);
        let state = unsafe { Out::new(state, "state") }?;
        let found = chain.lock()?.prescription_state(&dr_hash, nonce)?;
        let (code, place) = match found {
            PrescriptionState::Open => (EMR_RX_OPEN, None),
            PrescriptionState::Dispensed(d) => {
                (EMR_RX_DISPENSED, Some((d.dispense.into(), d.height, d.block_id, d.timestamp)))
            }
            PrescriptionState::Cancelled(c) => {
                (EMR_RX_CANCELLED, Some((c.cancellation.into(), c.height, c.block_id, c.timestamp)))
            }
        };
        state.write(code);
        let (found_entry, h, id, t) = match place {
            Some((e, h, id, t)) => (Some(e), h, id.to_bytes(), t),
            None => (None, 0, [0; 32], 0),
        };
        if let (Some(out), Some(inner)) = (entry, found_entry) {
            out.set(emr_entry { inner });
        }
        if let Some(out) = unsafe { Out::optional(height) } {
            out.write(h);
        }
        if let Some(out) = unsafe { Out::optional(block_id32.cast::<[u8; 32]>()) } {
            out.write(id);
        }
        if let Some(out) = unsafe { Out::optional(timestamp) } {
            out.write(t);
        }
        Ok(())
    })
}

/// Whether the active chain lets a pharmacy dispense at a time: it holds a
/// dispenser grant for the pharmacy with not_before <= timestamp <=
/// not_after not revoked with effective <= timestamp. Always false in an
/// open chain.
///
/// Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails;
///          EMR_NULL_ARGUMENT if chain, pharmacy_hash20 or authorized is NULL.
/// Args:    chain:           the chain.
/// In:      pharmacy_hash20: SHA-1 of the pharmacy's public key (SPKI DER).
///          timestamp:       Unix seconds.
/// Out:     authorized:      the answer.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_is_dispenser_authorized(
    chain: *const emr_chain,
    pharmacy_hash20: *const u8,
    timestamp: u64,
    authorized: *mut bool,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let pharmacy = Hash160::from_bytes(*unsafe { ptr::array::<20>(pharmacy_hash20, "pharmacy_hash20") }?);
        let out = unsafe { Out::new(authorized, "authorized") }?;
        out.write(chain.lock()?.is_dispenser_authorized(&pharmacy, timestamp)?);
        Ok(())
    })
}

/// A snapshot of a pharmacy's dispenses in the active chain
/// (emr_chain_dispensings), in chain order, each with its block. Opaque and
/// immutable: several threads may read one at once; it may outlive the
/// chain.
pub struct emr_dispensings {
    dispensings: Vec<DispenseEntry>,
}

/// Every dispense by a pharmacy in the active chain, in chain order. A
/// dispense a reorganisation or undo removed is gone from later snapshots.
///
/// Returns: EMR_OK (an empty snapshot for a pharmacy that dispensed
///          nothing); EMR_CORRUPT, EMR_IO if storage fails;
///          EMR_NULL_ARGUMENT if chain, pharmacy_hash20 or out is NULL.
/// Args:    chain:           the chain.
/// In:      pharmacy_hash20: SHA-1 of the pharmacy's public key.
/// Out:     out:             a new snapshot, freed by the caller with
///                           emr_dispensings_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_dispensings(
    chain: *const emr_chain,
    pharmacy_hash20: *const u8,
    out: *mut *mut emr_dispensings,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let pharmacy = Hash160::from_bytes(*unsafe { ptr::array::<20>(pharmacy_hash20, "pharmacy_hash20") }?);
        let dispensings = chain.lock()?.pharmacy_dispensings(&pharmacy)?;
        out.set(emr_dispensings { dispensings });
        Ok(())
    })
}

/// The number of dispenses in a snapshot.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if dispensings or len is NULL.
/// Args:    dispensings: the snapshot.
/// Out:     len:         the number of dispenses.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_dispensings_len(dispensings: *const emr_dispensings, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `dispensings` and `len`.
        let dispensings = unsafe { ptr::handle(dispensings, "dispensings") }?;
        let out = unsafe { Out::new(len, "len") }?;
        out.write(dispensings.dispensings.len());
        Ok(())
    })
}

/// One dispense of a snapshot, with its block.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
///          index past the end, see "Indexes" at the top of this header;
///          *dispense is set to NULL, nothing else is written);
///          EMR_NULL_ARGUMENT if dispensings is NULL.
/// Args:    dispensings: the snapshot.
/// In:      index:       0 ..= length - 1, in chain order.
/// Out:     dispense:    a new entry (the dispense), freed by the caller
///                       with emr_entry_free; NULL on failure; may be NULL
///                       if not wanted.
///          height:      its block's height; may be NULL if not wanted.
///          block_id32:  receives its block's 32-byte id; may be NULL if
///                       not wanted.
///          timestamp:   its block's timestamp; may be NULL if not wanted.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_dispensings_get(
    dispensings: *const emr_dispensings,
    index: usize,
    dispense: *mut *mut emr_entry,
    height: *mut u64,
    block_id32: *mut u8,
    timestamp: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let dispense = unsafe { OutHandle::optional(dispense, "dispense") }?;
        let dispensings = unsafe { ptr::handle(dispensings, "dispensings") }?;
        let found = ptr::element(&dispensings.dispensings, index, "dispensings")?;
        if let Some(out) = dispense {
            out.set(emr_entry { inner: found.dispense.clone().into() });
        }
        if let Some(out) = unsafe { Out::optional(height) } {
            out.write(found.height);
        }
        if let Some(out) = unsafe { Out::optional(block_id32.cast::<[u8; 32]>()) } {
            out.write(found.block_id.to_bytes());
        }
        if let Some(out) = unsafe { Out::optional(timestamp) } {
            out.write(found.timestamp);
        }
        Ok(())
    })
}

/// Frees a dispensings snapshot. NULL is a no-op.
///
/// Args:    dispensings: a snapshot from this library, or NULL. Not usable
///                       afterwards (entries taken from it stay valid).
/// Thread-safety: no other thread may use the snapshot during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_dispensings_free(dispensings: *mut emr_dispensings) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live snapshot or NULL, freed once.
        unsafe { ptr::free(dispensings) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_core() {
        let mut options = core::mem::MaybeUninit::<emr_chain_options>::uninit();
        // SAFETY: a writable struct.
        assert_eq!(unsafe { emr_chain_options_default(options.as_mut_ptr(), EMR_CHAIN_OPTIONS_VERSION) }, EMR_OK);
        // SAFETY: initialized by the call above.
        let options = unsafe { options.assume_init() };
        // SAFETY: a valid struct.
        assert_eq!(unsafe { read_params(&options) }.unwrap(), Some(ChainParams::default()));
        assert_eq!(EMR_DEFAULT_MAX_FUTURE_SECONDS, DEFAULT_MAX_FUTURE);
        assert_eq!(EMR_SALT_LEN, SALT_LEN);
    }

    #[test]
    fn version_3_fields_are_read_and_earlier_versions_get_the_defaults() {
        let mut options = core::mem::MaybeUninit::<emr_chain_options>::uninit();
        // SAFETY: a writable struct.
        assert_eq!(unsafe { emr_chain_options_default(options.as_mut_ptr(), EMR_CHAIN_OPTIONS_VERSION) }, EMR_OK);
        // SAFETY: initialized by the call above.
        let mut options = unsafe { options.assume_init() };
        options.max_future = 5;
        options.has_salt = true;
        options.salt = [7; EMR_SALT_LEN];
        // SAFETY: a valid struct.
        let params = unsafe { read_params(&options) }.unwrap().unwrap();
        assert_eq!((params.max_future, params.salt), (5, Some([7; SALT_LEN])));
        let keys = AuthorityKeys::new(&[]);
        assert_eq!(options_of(&params, EMR_CHAIN_OPTIONS_VERSION, &keys), options);
        // The salt is ignored without has_salt.
        options.has_salt = false;
        // SAFETY: a valid struct.
        assert_eq!(unsafe { read_params(&options) }.unwrap().unwrap().salt, None);
        // A version-2 caller has neither field: whatever follows its struct
        // is not read.
        options.version = 2;
        options.has_salt = true;
        // SAFETY: a valid struct (larger than version 2's).
        let params = unsafe { read_params(&options) }.unwrap().unwrap();
        assert_eq!((params.max_future, params.salt), (DEFAULT_MAX_FUTURE, None));
    }

    #[test]
    fn outcomes_have_distinct_names_as_the_core_spells_them() {
        let mut names = std::collections::HashSet::new();
        for outcome in [
            AddOutcome::Extended,
            AddOutcome::SideBranch,
            AddOutcome::Reorganized,
            AddOutcome::AlreadyKnown,
            AddOutcome::Stale,
        ] {
            let code = outcome_to_c(outcome);
            assert_ne!(code, EMR_ADD_NONE);
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { core::ffi::CStr::from_ptr(emr_add_outcome_name(code)) };
            assert!(names.insert(name.to_str().unwrap().to_owned()));
            assert_eq!(name.to_str().unwrap(), outcome.as_str());
        }
    }
}

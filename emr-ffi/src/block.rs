//! Blocks of records, their id and proof of work, and the user states they
//! change (SPEC section 3): `emr_block`, `emr_block_fields`.

use emr_core::block::{Block, BlockError, BlockFields};
use emr_core::{Difficulty, UserStates};

use crate::entry::{emr_entry, entry_handles};
use crate::ptr::{self, Out, OutBuf, OutHandle};
use crate::record::{emr_record, emr_record_fields, record_fields};
use crate::states::emr_user_states;
use crate::status::{emr_status, status_of, Error};

/// The reward a miner's balance grows by when the caller sets no other.
pub const EMR_DEFAULT_BLOCK_REWARD: u64 = 10_000;
/// The most records a block may hold.
pub const EMR_MAX_RECORDS: usize = 25;

/// A block: header fields, up to 25 records, block id and proof-of-work
/// nonce. Opaque; immutable once made, so one block may be read and
/// verified by several threads at once.
pub struct emr_block {
    pub(crate) inner: Block,
}

/// A 128-bit unsigned difficulty, without a compiler-specific 128-bit type:
/// the value is hi * 2^64 + lo. Valid difficulties are 1 ..= 2^128-1 (any
/// value but zero); most fit in lo alone: (emr_difficulty){ .lo = 1000 }.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct emr_difficulty {
    /// The low 64 bits.
    pub lo: u64,
    /// The high 64 bits.
    pub hi: u64,
}

impl emr_difficulty {
    pub(crate) fn get(self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }

    pub(crate) fn from_u128(value: u128) -> emr_difficulty {
        emr_difficulty { lo: value as u64, hi: (value >> 64) as u64 }
    }
}

/// A block's fields exactly as the caller holds them, unchecked, to verify
/// loose bytes in the specification's order (emr_block_fields_verify). Each
/// byte field is a (pointer, length) pair whose pointer may be NULL when the
/// length is 0.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct emr_block_fields {
    /// Should be 32 bytes: the parent's block id (all zero at height 0).
    pub previous: *const u8,
    /// Length of previous in bytes.
    pub previous_len: usize,
    /// Height in the chain.
    pub height: u64,
    /// Should be 20 bytes: who is rewarded.
    pub miner: *const u8,
    /// Length of miner in bytes.
    pub miner_len: usize,
    /// The records, in order (at most 25 for a valid block).
    pub records: *const emr_record_fields,
    /// Number of elements of records.
    pub record_count: usize,
    /// Unix seconds.
    pub timestamp: u64,
    /// The difficulty the block claims.
    pub difficulty: emr_difficulty,
    /// Should be 32 bytes: SHA-256 of the header.
    pub block_id: *const u8,
    /// Length of block_id in bytes.
    pub block_id_len: usize,
    /// The proof-of-work nonce.
    pub nonce: u64,
}

/// The core's view of the caller's block fields.
unsafe fn block_fields(f: &emr_block_fields) -> Result<BlockFields<'_>, Error> {
    // SAFETY (all): the documented contract of emr_block_fields: each
    // non-NULL pointer points to its length of readable elements.
    let records = unsafe { ptr::slice(f.records, f.record_count, "fields->records") }?
        .iter()
        .enumerate()
        .map(|(i, record)| unsafe { record_fields(record, format_args!("fields->records[{i}]")) })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BlockFields {
        previous: unsafe { ptr::slice(f.previous, f.previous_len, "fields->previous") }?,
        height: f.height,
        miner: unsafe { ptr::slice(f.miner, f.miner_len, "fields->miner") }?,
        records,
        entries: Vec::new(),
        timestamp: f.timestamp,
        difficulty: f.difficulty.get(),
        block_id: unsafe { ptr::slice(f.block_id, f.block_id_len, "fields->block_id") }?,
        nonce: f.nonce,
    })
}

/// Runs `BlockFields::verify_and_get_changes` and translates the outcome.
unsafe fn verify(
    fields: &BlockFields<'_>,
    difficulty: emr_difficulty,
    previous: *const emr_user_states,
    block_reward: u64,
    changes_out: OutHandle<emr_user_states>,
    failed_index: *mut usize,
    failed_status: *mut emr_status,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts (optional outputs; `previous` a live map or NULL).
    let failed_index = unsafe { Out::optional(failed_index) };
    let failed_status = unsafe { Out::optional(failed_status) };
    let empty = UserStates::new();
    let previous = if previous.is_null() { &empty } else { unsafe { ptr::handle(previous, "previous") }?.map() };
    let difficulty = Difficulty::new(difficulty.get())
        .ok_or_else(|| Error::invalid_argument("difficulty must be in 1 ..= 2^128-1, not 0"))?;
    match fields.verify_and_get_changes(difficulty, previous, block_reward) {
        Ok(changes) => {
            changes_out.set(emr_user_states::from_map(changes));
            Ok(())
        }
        Err(error) => {
            let failed = match &error {
                BlockError::Record { index, error } => Some((*index, status_of(error.kind()))),
                BlockError::Entry { index, error } => Some((*index, status_of(error.kind()))),
                _ => None,
            };
            if let Some((index, status)) = failed {
                if let Some(out) = failed_index {
                    out.write(index);
                }
                if let Some(out) = failed_status {
                    out.write(status);
                }
            }
            Err(error.into())
        }
    }
}

/// Builds a block from its fields; the records are copied. Checks only what
/// a block cannot hold, with the status verification would report (no
/// proof-of-work, id or record check: call emr_block_verify_and_get_changes).
///
/// Returns: EMR_OK; EMR_DIFFICULTY_MISMATCH if difficulty is 0;
///          EMR_INVALID_BLOCK_ID if block_id_len is not 32; EMR_INVALID_MINER
///          if miner_len is not 20; EMR_INVALID_PREVIOUS if previous_len is
///          not 32; EMR_NULL_ARGUMENT if out is NULL, a data pointer is NULL
///          with a non-zero length, or an element of records is NULL.
/// In:      previous, previous_len: the parent's block id, 32 bytes.
///          height:       height in the chain.
///          miner, miner_len: who is rewarded, 20 bytes.
///          records, record_count: the records in order (NULL allowed when
///                        record_count is 0; more than 25 are accepted here
///                        and refused by verification).
///          timestamp:    Unix seconds.
///          difficulty:   the block's difficulty.
///          block_id, block_id_len: the block id, 32 bytes.
///          nonce:        the proof-of-work nonce.
/// Out:     out:          a new block, freed by the caller with
///                        emr_block_free; NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_block_new(
    previous: *const u8,
    previous_len: usize,
    height: u64,
    miner: *const u8,
    miner_len: usize,
    records: *const *const emr_record,
    record_count: usize,
    timestamp: u64,
    difficulty: emr_difficulty,
    block_id: *const u8,
    block_id_len: usize,
    nonce: u64,
    out: *mut *mut emr_block,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: the documented contracts, forwarded.
        unsafe {
            build(
                previous,
                previous_len,
                height,
                miner,
                miner_len,
                records,
                record_count,
                core::ptr::null(),
                0,
                timestamp,
                difficulty,
                block_id,
                block_id_len,
                nonce,
                out,
            )
        }
    })
}

/// Builds a block with registry entries (SPEC 8.1) from its fields; the
/// records and entries are copied. As emr_block_new, which it extends: a
/// block's id covers its entries' ids after its records' txids, and a block
/// without entries is exactly the block emr_block_new makes.
///
/// Returns: as emr_block_new; EMR_NULL_ARGUMENT also if entries is NULL
///          while entry_count > 0, or an element of entries is NULL.
/// In:      previous ... records, record_count: as for emr_block_new.
///          entries, entry_count: the grants and revocations in order (NULL
///                        allowed when entry_count is 0; more than 25 are
///                        accepted here and refused by verification).
///          timestamp ... nonce: as for emr_block_new.
/// Out:     out:          a new block, freed by the caller with
///                        emr_block_free; NULL on failure.
/// Thread-safety: safe to call from any thread; the records and entries may
///          be read by other threads meanwhile.
#[no_mangle]
pub unsafe extern "C" fn emr_block_new_with_entries(
    previous: *const u8,
    previous_len: usize,
    height: u64,
    miner: *const u8,
    miner_len: usize,
    records: *const *const emr_record,
    record_count: usize,
    entries: *const *const emr_entry,
    entry_count: usize,
    timestamp: u64,
    difficulty: emr_difficulty,
    block_id: *const u8,
    block_id_len: usize,
    nonce: u64,
    out: *mut *mut emr_block,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: the documented contracts, forwarded.
        unsafe {
            build(
                previous,
                previous_len,
                height,
                miner,
                miner_len,
                records,
                record_count,
                entries,
                entry_count,
                timestamp,
                difficulty,
                block_id,
                block_id_len,
                nonce,
                out,
            )
        }
    })
}

/// The body of emr_block_new and emr_block_new_with_entries.
#[allow(clippy::too_many_arguments)]
unsafe fn build(
    previous: *const u8,
    previous_len: usize,
    height: u64,
    miner: *const u8,
    miner_len: usize,
    records: *const *const emr_record,
    record_count: usize,
    entries: *const *const emr_entry,
    entry_count: usize,
    timestamp: u64,
    difficulty: emr_difficulty,
    block_id: *const u8,
    block_id_len: usize,
    nonce: u64,
    out: *mut *mut emr_block,
) -> Result<(), Error> {
    // SAFETY: documented contracts of `out`, every (pointer, length) pair
    // and every element of `records` and `entries`.
    let out = unsafe { OutHandle::new(out, "out") }?;
    let records = unsafe { ptr::slice(records, record_count, "records") }?
        .iter()
        .enumerate()
        .map(|(i, &record)| unsafe { ptr::handle(record, format_args!("records[{i}]")) }.map(|r| r.inner.fields()))
        .collect::<Result<Vec<_>, _>>()?;
    let entries = unsafe { entry_handles(entries, entry_count, "entries") }?;
    let fields = BlockFields {
        previous: unsafe { ptr::slice(previous, previous_len, "previous") }?,
        height,
        miner: unsafe { ptr::slice(miner, miner_len, "miner") }?,
        records,
        entries: entries.iter().map(|e| e.fields()).collect(),
        timestamp,
        difficulty: difficulty.get(),
        block_id: unsafe { ptr::slice(block_id, block_id_len, "block_id") }?,
        nonce,
    };
    out.set(emr_block { inner: Block::from_fields(&fields)? });
    Ok(())
}

/// Verifies a block (SPEC sections 3 and 8.1) and returns the user states it
/// changes. Checks, in order: the difficulty, the block id, the number of
/// records, the number of entries, the miner, previous, the proof of work,
/// then every entry on its own (signature included, low-S; whether it
/// names the chain, whether its authority and the registry accept it and
/// whether the block's time has reached a revocation are a chain's
/// questions), then every record (on
/// all cores), each against its doctor's nonce after the records before it.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if difficulty is 0; the block's
///          failure: EMR_DIFFICULTY_MISMATCH, EMR_INVALID_BLOCK_ID,
///          EMR_TOO_MANY_RECORDS, EMR_TOO_MANY_ENTRIES, EMR_INVALID_MINER,
///          EMR_INVALID_PREVIOUS, EMR_INSUFFICIENT_WORK; EMR_ENTRY when an
///          entry fails, with the lowest failing entry index in
///          *failed_index and that entry's own status (EMR_INVALID_ENTRY,
///          EMR_INVALID_ENTRY_SIGNATURE) in *failed_status; or EMR_RECORD
///          when a record fails, with the lowest failing record index in
///          *failed_index and that record's own status (EMR_INVALID_NONCE,
///          ...) in *failed_status; EMR_NULL_ARGUMENT if block or
///          changes_out is NULL.
/// Args:    block:        the block.
/// In:      difficulty:   the difficulty expected at the block's place.
///          previous:     the user states before the block (not changed);
///                        NULL is the empty map.
///          block_reward: what the miner's balance grows by
///                        (EMR_DEFAULT_BLOCK_REWARD normally); balances
///                        saturate at UINT64_MAX.
/// Out:     changes_out:  a new map of the changed states only (each doctor
///                        with records in the block, and the miner), freed
///                        by the caller with emr_user_states_free; NULL on
///                        failure.
///          failed_index: the failing record's index with EMR_RECORD, the
///                        failing entry's with EMR_ENTRY; written only then;
///                        may be NULL if not wanted.
///          failed_status: that record's or entry's own status, written
///                        only with EMR_RECORD or EMR_ENTRY; may be NULL if
///                        not wanted.
/// Thread-safety: safe to call concurrently with other readers of the block
///          and of previous.
#[no_mangle]
pub unsafe extern "C" fn emr_block_verify_and_get_changes(
    block: *const emr_block,
    difficulty: emr_difficulty,
    previous: *const emr_user_states,
    block_reward: u64,
    changes_out: *mut *mut emr_user_states,
    failed_index: *mut usize,
    failed_status: *mut emr_status,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let changes_out = unsafe { OutHandle::new(changes_out, "changes_out") }?;
        let block = unsafe { ptr::handle(block, "block") }?;
        let fields = block.inner.fields();
        unsafe { verify(&fields, difficulty, previous, block_reward, changes_out, failed_index, failed_status) }
    })
}

/// Verifies loose block fields exactly as given, with the checks of
/// emr_block_verify_and_get_changes in the same order (a field of the wrong
/// length is reported by the check it fails, never earlier). Records are
/// checked as emr_record_fields_verify does. emr_block_fields has no
/// entries (its layout is fixed): a block with entries is built with
/// emr_block_new_with_entries and verified as an emr_block.
///
/// Returns: as emr_block_verify_and_get_changes; EMR_NULL_ARGUMENT also if
///          fields is NULL or a pointer inside it is NULL with a non-zero
///          length.
/// In:      fields:       the block's fields.
///          difficulty, previous, block_reward: as for
///                        emr_block_verify_and_get_changes.
/// Out:     changes_out, failed_index, failed_status: as for
///                        emr_block_verify_and_get_changes.
/// Thread-safety: safe to call concurrently with other readers of previous.
#[no_mangle]
pub unsafe extern "C" fn emr_block_fields_verify(
    fields: *const emr_block_fields,
    difficulty: emr_difficulty,
    previous: *const emr_user_states,
    block_reward: u64,
    changes_out: *mut *mut emr_user_states,
    failed_index: *mut usize,
    failed_status: *mut emr_status,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let changes_out = unsafe { OutHandle::new(changes_out, "changes_out") }?;
        let fields = unsafe { ptr::handle(fields, "fields") }?;
        let fields = unsafe { block_fields(fields) }?;
        unsafe { verify(&fields, difficulty, previous, block_reward, changes_out, failed_index, failed_status) }
    })
}

/// The block id the block's header calls for: SHA-256(previous || miner ||
/// txid_1 || ... || txid_n || entry_id_1 || ... || entry_id_m ||
/// LE64(timestamp) || LE128(difficulty) || LE64(nonce)).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out32 is NULL.
/// Args:    block: the block.
/// Out:     out32: receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_calculate_id(block: *const emr_block, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and `out32`.
        let block = unsafe { ptr::handle(block, "block") }?;
        let out = unsafe { ptr::out_array::<32>(out32, "out32") }?;
        out.write(block.inner.calculate_block_id().to_bytes());
        Ok(())
    })
}

/// The block id loose fields call for, over the bytes as given (no length
/// checks; the records' txids as given); fields->block_id is ignored.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if fields or out32 is NULL, or a
///          pointer inside fields is NULL with a non-zero length.
/// In:      fields: the block's fields.
/// Out:     out32:  receives 32 bytes.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_block_fields_calculate_id(fields: *const emr_block_fields, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `fields` and `out32`.
        let out = unsafe { ptr::out_array::<32>(out32, "out32") }?;
        let fields = unsafe { ptr::handle(fields, "fields") }?;
        let fields = unsafe { block_fields(fields) }?;
        out.write(fields.calculate_block_id().to_bytes());
        Ok(())
    })
}

/// Decodes a block from its canonical encoding (docs/FORMAT.md). Decoding
/// does not verify.
///
/// Returns: EMR_OK; EMR_DECODE if the bytes are not exactly one canonical
///          block (wrong tag or version, truncated, trailing bytes, a count
///          or length past the end, difficulty 0, a record that does not
///          decode); EMR_NULL_ARGUMENT if out is NULL, or bytes is NULL while
///          len > 0.
/// In:      bytes: the encoding (NULL allowed when len is 0).
///          len:   its length.
/// Out:     out:   a new block, freed by the caller with emr_block_free;
///                 NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_block_parse(bytes: *const u8, len: usize, out: *mut *mut emr_block) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and (`bytes`, `len`).
        let out = unsafe { OutHandle::new(out, "out") }?;
        let bytes = unsafe { ptr::slice(bytes, len, "bytes") }?;
        out.set(emr_block { inner: Block::from_bytes(bytes)? });
        Ok(())
    })
}

/// Encodes a block canonically (docs/FORMAT.md); emr_block_parse gives it
/// back.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if block or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    block: the block.
/// Out:     buf:   receives the encoding (NULL allowed when *len is 0).
/// In/Out:  len:   in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_serialize(block: *const emr_block, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and (`buf`, `len`).
        let block = unsafe { ptr::handle(block, "block") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(&block.inner.to_bytes())
    })
}

/// Writes one value of a block through a checked out-pointer.
unsafe fn get<T>(
    block: *const emr_block,
    out: *mut T,
    out_name: impl core::fmt::Display,
    value: impl FnOnce(&Block) -> T,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts of `block` and `out`.
    let block = unsafe { ptr::handle(block, "block") }?;
    let out = unsafe { Out::new(out, out_name) }?;
    out.write(value(&block.inner));
    Ok(())
}

/// The block's previous field (the parent's block id).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out32 is NULL.
/// Args:    block: the block.
/// Out:     out32: receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_previous(block: *const emr_block, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts; [u8; 32] has alignment 1.
        unsafe { get(block, out32.cast::<[u8; 32]>(), "out32", |b| b.previous.to_bytes()) }
    })
}

/// The block's height field.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or height is NULL.
/// Args:    block:  the block.
/// Out:     height: the height.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_height(block: *const emr_block, height: *mut u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and `height`.
        unsafe { get(block, height, "height", |b| b.height) }
    })
}

/// The block's miner field.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out20 is NULL.
/// Args:    block: the block.
/// Out:     out20: receives 20 bytes.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_miner(block: *const emr_block, out20: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts; [u8; 20] has alignment 1.
        unsafe { get(block, out20.cast::<[u8; 20]>(), "out20", |b| b.miner.to_bytes()) }
    })
}

/// The number of records in the block.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or count is NULL.
/// Args:    block: the block.
/// Out:     count: the number of records.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_record_count(block: *const emr_block, count: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and `count`.
        unsafe { get(block, count, "count", |b| b.records.len()) }
    })
}

/// A copy of one of the block's records.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the record count (an index
///          past the end, see "Indexes" at the top of this header);
///          EMR_NULL_ARGUMENT if block or out is NULL.
/// Args:    block: the block.
/// In:      index: 0 ..= record count - 1.
/// Out:     out:   a new record, independent of the block, freed by the
///                 caller with emr_record_free; NULL on failure.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_record(
    block: *const emr_block,
    index: usize,
    out: *mut *mut emr_record,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and `block`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let block = unsafe { ptr::handle(block, "block") }?;
        let record = ptr::element(&block.inner.records, index, "records")?;
        out.set(emr_record { inner: record.clone() });
        Ok(())
    })
}

/// The number of registry entries (grants, revocations) in the block.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or count is NULL.
/// Args:    block: the block.
/// Out:     count: the number of entries (0 for most blocks).
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_entry_count(block: *const emr_block, count: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and `count`.
        unsafe { get(block, count, "count", |b| b.entries.len()) }
    })
}

/// A copy of one of the block's entries.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the entry count (an index
///          past the end, see "Indexes" at the top of this header);
///          EMR_NULL_ARGUMENT if block or out is NULL.
/// Args:    block: the block.
/// In:      index: 0 ..= entry count - 1.
/// Out:     out:   a new entry, independent of the block, freed by the
///                 caller with emr_entry_free; NULL on failure.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_entry(
    block: *const emr_block,
    index: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and `block`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let block = unsafe { ptr::handle(block, "block") }?;
        let entry = ptr::element(&block.inner.entries, index, "entries")?;
        out.set(emr_entry { inner: entry.clone() });
        Ok(())
    })
}

/// The block's timestamp field (Unix seconds).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or timestamp is NULL.
/// Args:    block:     the block.
/// Out:     timestamp: the timestamp.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_timestamp(block: *const emr_block, timestamp: *mut u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and `timestamp`.
        unsafe { get(block, timestamp, "timestamp", |b| b.timestamp) }
    })
}

/// The block's difficulty field.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or difficulty is NULL.
/// Args:    block:      the block.
/// Out:     difficulty: the difficulty (never 0).
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_difficulty(block: *const emr_block, difficulty: *mut emr_difficulty) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and `difficulty`.
        unsafe { get(block, difficulty, "difficulty", |b| emr_difficulty::from_u128(b.difficulty.get())) }
    })
}

/// The block's block_id field, as stored (emr_block_calculate_id gives the
/// value the header calls for).
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or out32 is NULL.
/// Args:    block: the block.
/// Out:     out32: receives 32 bytes.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_id(block: *const emr_block, out32: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts; [u8; 32] has alignment 1.
        unsafe { get(block, out32.cast::<[u8; 32]>(), "out32", |b| b.block_id.to_bytes()) }
    })
}

/// The block's proof-of-work nonce.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if block or nonce is NULL.
/// Args:    block: the block.
/// Out:     nonce: the nonce.
/// Thread-safety: safe to call concurrently on the same block.
#[no_mangle]
pub unsafe extern "C" fn emr_block_nonce(block: *const emr_block, nonce: *mut u64) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `block` and `nonce`.
        unsafe { get(block, nonce, "nonce", |b| b.nonce) }
    })
}

/// Frees a block. NULL is a no-op.
///
/// Args:    block: a block from this library, or NULL. Not usable afterwards.
/// Thread-safety: no other thread may use the block during or after the call.
#[no_mangle]
pub unsafe extern "C" fn emr_block_free(block: *mut emr_block) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live block or NULL, freed once.
        unsafe { ptr::free(block) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_core() {
        assert_eq!(EMR_DEFAULT_BLOCK_REWARD, emr_core::DEFAULT_BLOCK_REWARD);
        assert_eq!(EMR_MAX_RECORDS, emr_core::MAX_RECORDS);
    }

    #[test]
    fn difficulty_halves() {
        let d = emr_difficulty::from_u128(u128::MAX - 5);
        assert_eq!(d.get(), u128::MAX - 5);
        assert_eq!(emr_difficulty { lo: 1000, hi: 0 }.get(), 1000);
        assert_eq!(emr_difficulty { lo: 0, hi: 1 }.get(), 1 << 64);
    }
}

//! The pool of records waiting for a block: `emr_chain_submit`
//! (and `emr_chain_submit_at`, with the caller's clock and the pending
//! record a conflict names), `emr_chain_submit_entry` (and
//! `emr_chain_submit_entry_at`), `emr_chain_pending` (an `emr_pending`
//! snapshot), `emr_chain_conflicts` (an `emr_conflicts` snapshot of the
//! records dropped for others, SPEC 9.3) and `emr_chain_dismiss_conflict`,
//! their entries' counterpart `emr_chain_entry_conflicts` and
//! `emr_chain_dismiss_entry_conflict` (dispenses and cancellations, SPEC 10),
//! `emr_chain_template` and `emr_chain_mine_next`.
//!
//! Every rule is the core's (`Chain::submit`, `Chain::pending_split`,
//! `Chain::conflicts`, `Chain::dismiss_conflict`, `Chain::template`,
//! `SharedChain::mine_next`); this module translates.
//! `emr_chain_mine_next` holds the chain only to take the template and to
//! add the block it found, so other threads may add blocks to the same
//! handle meanwhile, and a block that moves the tip makes it start over.

use core::ffi::c_char;
use std::time::{SystemTime, UNIX_EPOCH};

use emr_core::chain::{Conflict, EntryConflict, MineNextOutcome, SubmitOutcome};
use emr_core::{Block, Hash160, Hash256, Record};

use crate::block::emr_block;
use crate::chain::{emr_add_outcome, emr_chain, outcome_to_c};
use crate::entry::emr_entry;
use crate::mining::{
    emr_mine_options, emr_mine_outcome, search_options, EMR_MINE_CANCELLED, EMR_MINE_EXHAUSTED, EMR_MINE_FOUND,
    EMR_MINE_TIMED_OUT,
};
use crate::ptr::{self, Out, OutHandle};
use crate::record::emr_record;
use crate::status::emr_status;

/// What emr_chain_submit or emr_chain_submit_entry did with a record or
/// entry: one of the EMR_SUBMIT_* values. Values may be added; a caller
/// treats one it does not know as "not added".
pub type emr_submit_outcome = u32;

/// Added to the pool, and it can go in the next block: its nonce follows
/// the doctor's nonce after the tip and the doctor's ready pending records
/// (an entry: it applies now).
pub const EMR_SUBMIT_READY: emr_submit_outcome = 1;
/// Added to the pool and held: a record whose doctor's earlier nonce is
/// missing (it becomes ready when that record arrives), or a revocation
/// whose effective time the next block would not yet reach (templates take
/// it once their timestamp reaches it).
pub const EMR_SUBMIT_HELD: emr_submit_outcome = 2;
/// The same record is already pending: the same (dr_hash, nonce) and the
/// same content (patient and text), its signature possibly the other form
/// (r, n - s) and so its txid another; or an entry with the same id.
/// Nothing changed.
pub const EMR_SUBMIT_ALREADY_PENDING: emr_submit_outcome = 3;
/// Not added: another record with the same (dr_hash, nonce) but other
/// content (patient or text) is pending, so the doctor signed two records
/// with one nonce. The pool keeps the first; emr_chain_submit_at names it
/// (its txid). Nothing changed.
pub const EMR_SUBMIT_CONFLICTS_WITH_PENDING: emr_submit_outcome = 4;

/// A snapshot of a chain's pending records (emr_chain_pending): first the
/// ready ones, in the order emr_chain_template takes them, then the held
/// ones, in arrival order. Opaque. Later changes to the chain do not change
/// it, and it may outlive the chain it came from.
pub struct emr_pending {
    records: Vec<Record>,
    ready: usize,
}

/// A snapshot of the records a chain dropped for others (SPEC 9.3,
/// emr_chain_conflicts), oldest first, each with the record and block that
/// took its place. Opaque and immutable: several threads may read one at
/// once. Later changes to the chain (a dismissal, a new conflict) do not
/// change it, and it may outlive the chain it came from.
pub struct emr_conflicts {
    conflicts: Vec<Conflict>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A submit outcome's name: "ready", "held", "already_pending",
/// "conflicts_with_pending".
///
/// Returns: a NUL-terminated string in static storage (never NULL, never
///          freed); "unknown" for a number that is not an outcome.
/// In:      outcome: any value.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn emr_submit_outcome_name(outcome: emr_submit_outcome) -> *const c_char {
    ffi_boundary!(default: c"unknown".as_ptr(); {
        match outcome {
            EMR_SUBMIT_READY => c"ready",
            EMR_SUBMIT_HELD => c"held",
            EMR_SUBMIT_ALREADY_PENDING => c"already_pending",
            EMR_SUBMIT_CONFLICTS_WITH_PENDING => c"conflicts_with_pending",
            _ => c"unknown",
        }
        .as_ptr()
    })
}

/// Offers a record to the chain's pool of records waiting for a block; the
/// pool is stored in the chain's database, durably when this returns.
///
/// The record is verified in SPEC order (signature included) against its
/// doctor's nonce after the tip: a nonce the chain has already used fails
/// with the first failing check (EMR_INVALID_NONCE when the others pass).
/// A later nonce is pooled: EMR_SUBMIT_READY when it follows the doctor's
/// nonce after the tip and the doctor's ready records, EMR_SUBMIT_HELD when
/// an earlier nonce is missing, EMR_SUBMIT_ALREADY_PENDING (nothing
/// changes) when the same record is pending, and
/// EMR_SUBMIT_CONFLICTS_WITH_PENDING (nothing changes) when another record
/// with the same (dr_hash, nonce) is (emr_chain_submit_at names it). In a
/// chain with authorities, a record that passes its own checks is then
/// refused unless its doctor is authorized at the later of the current time
/// and the tip's timestamp, by the chain's grants and the pending entries.
///
/// Returns: EMR_OK with *outcome; the record's status (EMR_INVALID_NONCE,
///          EMR_INVALID_TXID, EMR_INVALID_SIGNATURE, ...) when it fails
///          verification; EMR_UNAUTHORIZED_DOCTOR as above;
///          EMR_INVALID_ARGUMENT if the chain is read-only;
///          EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT if
///          chain or record is NULL.
/// Args:    chain:   the chain, changed.
/// In:      record:  the record; copied.
/// Out:     outcome: an EMR_SUBMIT_* value, written on EMR_OK; may be NULL
///                   if not wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time (emr_chain_mine_next on another thread does not hold
///          the chain while it mines).
#[no_mangle]
pub unsafe extern "C" fn emr_chain_submit(
    chain: *mut emr_chain,
    record: *const emr_record,
    outcome: *mut emr_submit_outcome,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let record = &unsafe { ptr::handle(record, "record") }?.inner;
        let outcome = unsafe { Out::optional(outcome) };
        let submitted = chain.lock()?.submit(record)?;
        if let Some(out) = outcome {
            out.write(submit_outcome_to_c(&submitted));
        }
        Ok(())
    })
}

/// emr_chain_submit with the caller's clock, and the pending record that a
/// conflict names.
///
/// The record is checked and pooled as emr_chain_submit does it; in a chain
/// with authorities its doctor must be authorized at the later of *now and
/// the tip's timestamp (the next block can be no earlier than the tip).
///
/// Returns: as emr_chain_submit.
/// Args:    chain:          the chain, changed.
/// In:      record:         the record; copied.
///          now:            the caller's Unix time; NULL: the current time.
/// Out:     outcome:        an EMR_SUBMIT_* value, written on EMR_OK; may be
///                          NULL if not wanted.
///          pending_txid32: with EMR_SUBMIT_CONFLICTS_WITH_PENDING, receives
///                          the 32-byte txid of the pending record that
///                          holds the doctor's nonce (the pool keeps it);
///                          not written otherwise. May be NULL if not
///                          wanted.
/// Thread-safety: as emr_chain_submit.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_submit_at(
    chain: *mut emr_chain,
    record: *const emr_record,
    now: *const u64,
    outcome: *mut emr_submit_outcome,
    pending_txid32: *mut u8,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let record = &unsafe { ptr::handle(record, "record") }?.inner;
        let now = unsafe { ptr::optional(now, "now") }?.copied().unwrap_or_else(unix_now);
        let outcome = unsafe { Out::optional(outcome) };
        let pending_txid = unsafe { Out::optional(pending_txid32.cast::<[u8; 32]>()) };
        let submitted = chain.lock()?.submit_at(record, now)?;
        if let (SubmitOutcome::ConflictsWithPending { pending_txid: txid }, Some(out)) = (&submitted, pending_txid) {
            out.write(txid.to_bytes());
        }
        if let Some(out) = outcome {
            out.write(submit_outcome_to_c(&submitted));
        }
        Ok(())
    })
}

/// Offers a grant or revocation to the chain's pool, for the next blocks
/// (emr_chain_template and emr_chain_mine_next take the pending entries that
/// still apply, in arrival order); durable when this returns.
///
/// The entry is checked as a block on the tip at the later of the current
/// time and the tip's timestamp would check it after the pending entries
/// (SPEC 8.1 checks 1-6, in order): a revocation may name a grant that is
/// itself still pending. A revocation that passes every check but whose
/// effective time is later than that is held: templates take it once their
/// timestamp reaches effective (a block carrying it earlier is refused with
/// EMR_REVOCATION_NOT_YET_EFFECTIVE).
///
/// Returns: EMR_OK with *outcome EMR_SUBMIT_READY (added),
///          EMR_SUBMIT_HELD (a revocation added, waiting for its effective
///          time) or EMR_SUBMIT_ALREADY_PENDING (an entry with its id is
///          pending; nothing changed); the entry's status when it fails:
///          EMR_INVALID_ENTRY, EMR_INVALID_ENTRY_SIGNATURE (high-S
///          included), EMR_WRONG_CHAIN (made for another chain),
///          EMR_UNKNOWN_AUTHORITY (every entry of an open chain),
///          EMR_DUPLICATE_GRANT (a grant of the same content, whatever its
///          signature), EMR_UNKNOWN_GRANT, EMR_ALREADY_REVOKED;
///          EMR_INVALID_ARGUMENT if the chain is read-only; EMR_CORRUPT,
///          EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain or entry is
///          NULL.
/// Args:    chain:   the chain, changed.
/// In:      entry:   the entry; copied.
/// Out:     outcome: an EMR_SUBMIT_* value, written on EMR_OK; may be NULL
///                   if not wanted.
/// Thread-safety: as emr_chain_submit.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_submit_entry(
    chain: *mut emr_chain,
    entry: *const emr_entry,
    outcome: *mut emr_submit_outcome,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let entry = &unsafe { ptr::handle(entry, "entry") }?.inner;
        let outcome = unsafe { Out::optional(outcome) };
        let submitted = chain.lock()?.submit_entry(entry)?;
        if let Some(out) = outcome {
            out.write(submit_outcome_to_c(&submitted));
        }
        Ok(())
    })
}

/// emr_chain_submit_entry with the caller's clock: the entry is checked as a
/// block on the tip at the later of *now and the tip's timestamp would
/// check it, so a revocation whose effective time is later than that is
/// EMR_SUBMIT_HELD.
///
/// Returns: as emr_chain_submit_entry.
/// Args:    chain:   the chain, changed.
/// In:      entry:   the entry; copied.
///          now:     the caller's Unix time; NULL: the current time.
/// Out:     outcome: an EMR_SUBMIT_* value, written on EMR_OK; may be NULL
///                   if not wanted.
/// Thread-safety: as emr_chain_submit.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_submit_entry_at(
    chain: *mut emr_chain,
    entry: *const emr_entry,
    now: *const u64,
    outcome: *mut emr_submit_outcome,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let entry = &unsafe { ptr::handle(entry, "entry") }?.inner;
        let now = unsafe { ptr::optional(now, "now") }?.copied().unwrap_or_else(unix_now);
        let outcome = unsafe { Out::optional(outcome) };
        let submitted = chain.lock()?.submit_entry_at(entry, now)?;
        if let Some(out) = outcome {
            out.write(submit_outcome_to_c(&submitted));
        }
        Ok(())
    })
}

/// The number of entries waiting in the chain's pool.
///
/// Returns: EMR_OK; EMR_CORRUPT if a pooled entry is damaged; EMR_IO if
///          storage fails; EMR_NULL_ARGUMENT if chain or count is NULL.
/// Args:    chain: the chain.
/// Out:     count: the number of pending entries.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_pending_entry_count(chain: *const emr_chain, count: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `count`.
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let out = unsafe { Out::new(count, "count") }?;
        out.write(chain.lock()?.pending_entries()?.len());
        Ok(())
    })
}

/// One entry waiting in the chain's pool, in arrival order. An entry that
/// no longer applies (its grant was revoked by a block meanwhile, ...)
/// stays listed; templates skip it.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the number of pending
///          entries (an index past the end, see "Indexes" at the top of
///          this header; *out is set to NULL); EMR_CORRUPT, EMR_IO if
///          storage fails; EMR_NULL_ARGUMENT if chain or out is NULL.
/// Args:    chain: the chain.
/// In:      index: 0 ..= pending entry count - 1.
/// Out:     out:   a new entry, freed by the caller with emr_entry_free;
///                 NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_pending_entry(
    chain: *const emr_chain,
    index: usize,
    out: *mut *mut emr_entry,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let mut entries = chain.lock()?.pending_entries()?;
        ptr::element(&entries, index, "pending entries")?;
        out.set(emr_entry { inner: entries.swap_remove(index) });
        Ok(())
    })
}

fn submit_outcome_to_c(outcome: &SubmitOutcome) -> emr_submit_outcome {
    match outcome {
        SubmitOutcome::Ready => EMR_SUBMIT_READY,
        SubmitOutcome::Held => EMR_SUBMIT_HELD,
        SubmitOutcome::AlreadyPending => EMR_SUBMIT_ALREADY_PENDING,
        SubmitOutcome::ConflictsWithPending { .. } => EMR_SUBMIT_CONFLICTS_WITH_PENDING,
    }
}

/// Every pending record of the chain's pool, as a snapshot: the ready ones
/// first, in template order, then the held ones, in arrival order.
///
/// Returns: EMR_OK; EMR_CORRUPT if a pooled record is damaged; EMR_IO if
///          storage fails; EMR_NULL_ARGUMENT if chain or out is NULL.
/// Args:    chain: the chain.
/// Out:     out:   a new snapshot, freed by the caller with
///                 emr_pending_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_pending(chain: *const emr_chain, out: *mut *mut emr_pending) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let split = chain.lock()?.pending_split()?;
        let ready = split.ready.len();
        let mut records = split.ready;
        records.extend(split.held);
        out.set(emr_pending { records, ready });
        Ok(())
    })
}

/// How many records a pending snapshot holds, and how many of them (the
/// first ones) are ready.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if pending is NULL.
/// Args:    pending: the snapshot.
/// Out:     len:     all its records; may be NULL if not wanted.
///          ready:   its ready records (indexes 0 .. ready-1; the held ones
///                   follow); may be NULL if not wanted.
/// Thread-safety: safe to call from any thread concurrently with other
///          readers of the snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_pending_len(
    pending: *const emr_pending,
    len: *mut usize,
    ready: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let pending = unsafe { ptr::handle(pending, "pending") }?;
        if let Some(out) = unsafe { Out::optional(len) } {
            out.write(pending.records.len());
        }
        if let Some(out) = unsafe { Out::optional(ready) } {
            out.write(pending.ready);
        }
        Ok(())
    })
}

/// A copy of the record at `index` of a pending snapshot.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= its length (an index past the
///          end, see "Indexes" at the top of this header; *out is set to
///          NULL); EMR_NULL_ARGUMENT if pending or out is NULL.
/// Args:    pending: the snapshot.
/// In:      index:   0 .. len-1.
/// Out:     out:     a new record, freed by the caller with
///                   emr_record_free; NULL on failure.
/// Thread-safety: safe to call from any thread concurrently with other
///          readers of the snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_pending_get(
    pending: *const emr_pending,
    index: usize,
    out: *mut *mut emr_record,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let pending = unsafe { ptr::handle(pending, "pending") }?;
        let record = ptr::element(&pending.records, index, "records")?;
        out.set(emr_record { inner: record.clone() });
        Ok(())
    })
}

/// Frees a pending snapshot. NULL is a no-op.
///
/// Args:    pending: a snapshot from this library, or NULL. Not usable
///                   afterwards (records taken from it stay valid).
/// Thread-safety: no other thread may use the snapshot during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_pending_free(pending: *mut emr_pending) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live snapshot or NULL, freed once.
        unsafe { ptr::free(pending) }
    })
}

/// Every record the chain dropped for another (SPEC 9.3, "no record lost
/// silently"), as a snapshot, oldest first. A record is dropped when a
/// block joins the active chain carrying another record of its doctor with
/// its nonce but other content (patient or text): the record was pending,
/// or a reorganisation took its block off the active chain and returned it
/// to the pool. Typically the doctor signed at two sites before they
/// synced; the doctor re-signs it with a new nonce. Such a record can be
/// neither pending nor mined (its nonce is taken: submitting it again is
/// EMR_INVALID_NONCE), so the chain keeps it here, with the record and
/// block that took its place, until emr_chain_dismiss_conflict or until a
/// block carrying it joins the active chain again (a reorganisation back).
/// The conflicts are stored in the chain's database.
///
/// Returns: EMR_OK (an empty snapshot when there is no conflict);
///          EMR_CORRUPT if a stored conflict is damaged; EMR_IO if storage
///          fails; EMR_NULL_ARGUMENT if chain or out is NULL.
/// Args:    chain: the chain; a read-only one too.
/// Out:     out:   a new snapshot, freed by the caller with
///                 emr_conflicts_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_conflicts(chain: *const emr_chain, out: *mut *mut emr_conflicts) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let conflicts = chain.lock()?.conflicts()?;
        out.set(emr_conflicts { conflicts });
        Ok(())
    })
}

/// The number of conflicts in a snapshot.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if conflicts or len is NULL.
/// Args:    conflicts: the snapshot.
/// Out:     len:       the number of conflicts.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_conflicts_len(conflicts: *const emr_conflicts, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `conflicts` and `len`.
        let conflicts = unsafe { ptr::handle(conflicts, "conflicts") }?;
        let out = unsafe { Out::new(len, "len") }?;
        out.write(conflicts.conflicts.len());
        Ok(())
    })
}

/// One conflict of a snapshot: the dropped record, the record that took
/// its place (same doctor, same nonce, other content) and the active block
/// that carries that one.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
///          index past the end, see "Indexes" at the top of this header;
///          *record is set to NULL, nothing else is written);
///          EMR_NULL_ARGUMENT if conflicts is NULL.
/// Args:    conflicts:     the snapshot.
/// In:      index:         0 ..= length - 1, oldest first.
/// Out:     record:        the dropped record, a new record freed by the
///                         caller with emr_record_free; NULL on failure;
///                         may be NULL if not wanted.
///          replaced_by32: receives the 32-byte txid of the record that
///                         took its place; may be NULL if not wanted.
///          block_id32:    receives the 32-byte id of the block that
///                         carries that record; may be NULL if not wanted.
///          height:        that block's height; may be NULL if not wanted.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_conflicts_get(
    conflicts: *const emr_conflicts,
    index: usize,
    record: *mut *mut emr_record,
    replaced_by32: *mut u8,
    block_id32: *mut u8,
    height: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let record = unsafe { OutHandle::optional(record, "record") }?;
        let conflicts = unsafe { ptr::handle(conflicts, "conflicts") }?;
        let found = ptr::element(&conflicts.conflicts, index, "conflicts")?;
        if let Some(out) = record {
            out.set(emr_record { inner: found.record.clone() });
        }
        if let Some(out) = unsafe { Out::optional(replaced_by32.cast::<[u8; 32]>()) } {
            out.write(found.replaced_by.to_bytes());
        }
        if let Some(out) = unsafe { Out::optional(block_id32.cast::<[u8; 32]>()) } {
            out.write(found.block_id.to_bytes());
        }
        if let Some(out) = unsafe { Out::optional(height) } {
            out.write(found.height);
        }
        Ok(())
    })
}

/// Frees a conflicts snapshot. NULL is a no-op.
///
/// Args:    conflicts: a snapshot from this library, or NULL. Not usable
///                     afterwards (records taken from it stay valid).
/// Thread-safety: no other thread may use the snapshot during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_conflicts_free(conflicts: *mut emr_conflicts) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live snapshot or NULL, freed once.
        unsafe { ptr::free(conflicts) }
    })
}

/// Stops listing the conflict of the dropped record with this txid (the
/// doctor has re-signed the prescription with a new nonce, say); durable
/// when this returns. A txid that names no conflict changes nothing and is
/// not an error: *dismissed is false.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the chain is read-only;
///          EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain
///          or txid32 is NULL.
/// Args:    chain:     the chain, changed.
/// In:      txid32:    the dropped record's 32-byte txid (emr_record_txid
///                     of the record emr_conflicts_get gives).
/// Out:     dismissed: whether a conflict was listed and is no longer,
///                     written on EMR_OK; may be NULL if not wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_dismiss_conflict(
    chain: *mut emr_chain,
    txid32: *const u8,
    dismissed: *mut bool,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let txid = Hash256::from_bytes(*unsafe { ptr::array::<32>(txid32, "txid32") }?);
        let dismissed = unsafe { Out::optional(dismissed) };
        let was = chain.lock()?.dismiss_conflict(&txid)?;
        if let Some(out) = dismissed {
            out.write(was);
        }
        Ok(())
    })
}

/// A snapshot of the dispenses and cancellations a chain dropped for
/// another (emr_chain_entry_conflicts), oldest first. Opaque and immutable:
/// several threads may read one at once; it may outlive the chain.
pub struct emr_entry_conflicts {
    conflicts: Vec<EntryConflict>,
}

/// Every dispense and cancellation the chain dropped for another (SPEC
/// 9.3, SPEC 10), as a snapshot, oldest first. Typically two pharmacies
/// dispensed one prescription at two sites that had not synced: when the
/// heavier branch joined, the other pharmacy's dispense took the
/// prescription, so this one can be neither pending nor mined; the chain
/// keeps it with the entry that took its place (naming both pharmacies)
/// and that entry's block, until emr_chain_dismiss_entry_conflict or until
/// the entry itself is in the active chain again. A cancellation a dispense
/// overtook is kept the same way. Stored in the chain's database.
///
/// Returns: EMR_OK (an empty snapshot when there is no conflict);
///          EMR_CORRUPT if a stored conflict is damaged; EMR_IO if storage
///          fails; EMR_NULL_ARGUMENT if chain or out is NULL.
/// Args:    chain: the chain; a read-only one too.
/// Out:     out:   a new snapshot, freed by the caller with
///                 emr_entry_conflicts_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_entry_conflicts(
    chain: *const emr_chain,
    out: *mut *mut emr_entry_conflicts,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `chain` and `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let conflicts = chain.lock()?.entry_conflicts()?;
        out.set(emr_entry_conflicts { conflicts });
        Ok(())
    })
}

/// The number of conflicts in an entry conflicts snapshot.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if conflicts or len is NULL.
/// Args:    conflicts: the snapshot.
/// Out:     len:       the number of conflicts.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_conflicts_len(conflicts: *const emr_entry_conflicts, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `conflicts` and `len`.
        let conflicts = unsafe { ptr::handle(conflicts, "conflicts") }?;
        let out = unsafe { Out::new(len, "len") }?;
        out.write(conflicts.conflicts.len());
        Ok(())
    })
}

/// One conflict of an entry conflicts snapshot: the dropped entry, the
/// entry that took its prescription (for two dispenses, the two pharmacies:
/// emr_dispense_pharmacy_public_key of each) and the block that carried
/// that one.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the snapshot's length (an
///          index past the end, see "Indexes" at the top of this header;
///          *entry and *replaced_by are set to NULL, nothing else is
///          written); EMR_NULL_ARGUMENT if conflicts is NULL.
/// Args:    conflicts:   the snapshot.
/// In:      index:       0 ..= length - 1, oldest first.
/// Out:     entry:       the dropped dispense or cancellation, a new entry
///                       freed by the caller with emr_entry_free; NULL on
///                       failure; may be NULL if not wanted.
///          replaced_by: the entry that took its prescription, likewise.
///          block_id32:  receives the 32-byte id of the block that carried
///                       replaced_by; may be NULL if not wanted.
///          height:      that block's height; may be NULL if not wanted.
/// Thread-safety: safe to call concurrently on the same snapshot.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_conflicts_get(
    conflicts: *const emr_entry_conflicts,
    index: usize,
    entry: *mut *mut emr_entry,
    replaced_by: *mut *mut emr_entry,
    block_id32: *mut u8,
    height: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let entry = unsafe { OutHandle::optional(entry, "entry") }?;
        let replaced_by = unsafe { OutHandle::optional(replaced_by, "replaced_by") }?;
        let conflicts = unsafe { ptr::handle(conflicts, "conflicts") }?;
        let found = ptr::element(&conflicts.conflicts, index, "conflicts")?;
        if let Some(out) = entry {
            out.set(emr_entry { inner: found.entry.clone() });
        }
        if let Some(out) = replaced_by {
            out.set(emr_entry { inner: found.replaced_by.clone() });
        }
        if let Some(out) = unsafe { Out::optional(block_id32.cast::<[u8; 32]>()) } {
            out.write(found.block_id.to_bytes());
        }
        if let Some(out) = unsafe { Out::optional(height) } {
            out.write(found.height);
        }
        Ok(())
    })
}

/// Frees an entry conflicts snapshot. NULL is a no-op.
///
/// Args:    conflicts: a snapshot from this library, or NULL. Not usable
///                     afterwards (entries taken from it stay valid).
/// Thread-safety: no other thread may use the snapshot during or after the
///          call.
#[no_mangle]
pub unsafe extern "C" fn emr_entry_conflicts_free(conflicts: *mut emr_entry_conflicts) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live snapshot or NULL, freed once.
        unsafe { ptr::free(conflicts) }
    })
}

/// Stops listing the conflict of the dropped entry with this id (the
/// pharmacies have settled, say); durable when this returns. An id that
/// names no conflict changes nothing and is not an error: *dismissed is
/// false.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if the chain is read-only;
///          EMR_CORRUPT, EMR_IO if storage fails; EMR_NULL_ARGUMENT if chain
///          or entry_id32 is NULL.
/// Args:    chain:      the chain, changed.
/// In:      entry_id32: the dropped entry's 32-byte id (emr_entry_id).
/// Out:     dismissed:  whether a conflict was listed and is no longer,
///                      written on EMR_OK; may be NULL if not wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_dismiss_entry_conflict(
    chain: *mut emr_chain,
    entry_id32: *const u8,
    dismissed: *mut bool,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let id = Hash256::from_bytes(*unsafe { ptr::array::<32>(entry_id32, "entry_id32") }?);
        let dismissed = unsafe { Out::optional(dismissed) };
        let was = chain.lock()?.dismiss_entry_conflict(&id)?;
        if let Some(out) = dismissed {
            out.write(was);
        }
        Ok(())
    })
}

/// The next block to mine on the chain: previous is the tip's id (all zero
/// for an empty chain), height the chain's length, difficulty the next
/// difficulty, timestamp the later of *timestamp (NULL: the current time)
/// and the tip's, the records up to 25 ready records of the pool, each
/// doctor's nonces consecutive (in a chain with authorities, only records
/// the block would authorize), and the entries up to 25 pending entries
/// that still apply at its timestamp (a held revocation once the timestamp
/// reaches its effective time), in arrival order (emr_block_entry_count and
/// emr_block_entry read them; emr_mine_block_with_entries mines them). It
/// is returned as a block whose block id is
/// all zero and nonce 0: pass its fields to emr_mine_block, or use
/// emr_chain_mine_next.
///
/// Returns: EMR_OK; EMR_CORRUPT, EMR_IO if storage fails;
///          EMR_NULL_ARGUMENT if chain, miner20 or out is NULL.
/// Args:    chain:     the chain.
/// In:      miner20:   who is rewarded, 20 bytes.
///          timestamp: Unix seconds; NULL: the current time.
/// Out:     out:       a new block, freed by the caller with
///                     emr_block_free; NULL on failure.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_template(
    chain: *const emr_chain,
    miner20: *const u8,
    timestamp: *const u64,
    out: *mut *mut emr_block,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let chain = unsafe { ptr::handle(chain, "chain") }?;
        let miner = Hash160::from_bytes(*unsafe { ptr::array::<20>(miner20, "miner20") }?);
        let timestamp = match unsafe { ptr::optional(timestamp, "timestamp") }? {
            Some(t) => *t,
            None => unix_now(),
        };
        let t = chain.lock()?.template(&miner, timestamp)?;
        out.set(emr_block {
            inner: Block {
                previous: t.previous,
                height: t.height,
                miner: t.miner,
                records: t.records,
                entries: t.entries,
                timestamp: t.timestamp,
                difficulty: t.difficulty,
                block_id: Hash256::from_bytes([0; 32]),
                nonce: 0,
            },
        });
        Ok(())
    })
}

/// Mines the chain's next block (emr_chain_template) and adds it, in one
/// call: the search runs as emr_mine_block runs it, with every option of
/// options, without holding the chain. When the tip moves meanwhile (another
/// thread added a block to this handle: one at the same height, a
/// reorganisation, an undo), the search stops within a few milliseconds and
/// starts over on the new tip with the pool as it then is.
///
/// The status says whether the call could run; how it ended is
/// *outcome_out:
///   EMR_OK, EMR_MINE_FOUND:     *block_out is the block mined and added
///                               (*added_out says how, normally
///                               EMR_ADD_EXTENDED);
///   EMR_OK, EMR_MINE_EXHAUSTED: every nonce of the range was tried on the
///                               current tip;
///   EMR_OK, EMR_MINE_CANCELLED: options->cancel was triggered;
///   EMR_OK, EMR_MINE_TIMED_OUT: options->time_limit_ms (for the whole
///                               call, restarts included) passed.
/// The progress callback gets hashes and seconds since the call started.
/// The block is added as emr_chain_add_block adds it, the pool following the
/// active chain the same way (its records and entries leave the pool; those
/// of blocks leaving the active chain come back, or become conflicts,
/// emr_chain_conflicts, when another record took their doctor's nonce).
///
/// Returns: EMR_OK when the call ran, whatever its outcome;
///          EMR_TIMESTAMP_TOO_LATE if the template's timestamp is more than
///          the chain's max_future seconds (default
///          EMR_DEFAULT_MAX_FUTURE_SECONDS) ahead of the current time
///          (nothing is mined); EMR_INVALID_ARGUMENT if the chain is read-only or for the
///          options emr_mine_block refuses; EMR_IO if a thread cannot start
///          or storage fails; EMR_CORRUPT; EMR_NULL_ARGUMENT if chain,
///          miner20, outcome_out or block_out is NULL.
/// Args:    chain:       the chain, changed.
/// In:      miner20:     who is rewarded, 20 bytes.
///          timestamp:   the block's Unix time; NULL: the current time, read
///                       again at every start.
///          options:     how to search (see emr_mine_options); NULL: the
///                       defaults.
/// Out:     outcome_out: how the call ended (an EMR_MINE_* value), written
///                       on EMR_OK.
///          block_out:   the added block with EMR_MINE_FOUND, freed by the
///                       caller with emr_block_free; NULL otherwise.
///          added_out:   with EMR_MINE_FOUND, what adding did; may be NULL
///                       if not wanted.
/// Thread-safety: safe to call from any thread; other calls on the same
///          chain may run meanwhile from other threads (they wait only while
///          this call takes the template or adds its block). The progress
///          callback runs on the calling thread and may call into the
///          library, this chain included. The chain must not be freed until
///          the call returns.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_mine_next(
    chain: *mut emr_chain,
    miner20: *const u8,
    timestamp: *const u64,
    options: *const emr_mine_options,
    outcome_out: *mut emr_mine_outcome,
    block_out: *mut *mut emr_block,
    added_out: *mut emr_add_outcome,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let block_out = unsafe { OutHandle::new(block_out, "block_out") }?;
        let outcome_out = unsafe { Out::new(outcome_out, "outcome_out") }?;
        let added_out = unsafe { Out::optional(added_out) };
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let miner = Hash160::from_bytes(*unsafe { ptr::array::<20>(miner20, "miner20") }?);
        let timestamp = unsafe { ptr::optional(timestamp, "timestamp") }?.copied();
        let options = unsafe { search_options(options) }?;
        let outcome = chain.inner.mine_next(&miner, timestamp, &options)?;
        outcome_out.write(match outcome {
            MineNextOutcome::Added(block, added) => {
                if let Some(out) = added_out {
                    out.write(outcome_to_c(added));
                }
                block_out.set(emr_block { inner: block });
                EMR_MINE_FOUND
            }
            MineNextOutcome::Exhausted => EMR_MINE_EXHAUSTED,
            MineNextOutcome::Cancelled => EMR_MINE_CANCELLED,
            MineNextOutcome::TimedOut => EMR_MINE_TIMED_OUT,
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_outcomes_are_named_as_the_core_spells_them() {
        let outcomes = [
            SubmitOutcome::Ready,
            SubmitOutcome::Held,
            SubmitOutcome::AlreadyPending,
            SubmitOutcome::ConflictsWithPending { pending_txid: Hash256::from_bytes([1; 32]) },
        ];
        let mut codes = std::collections::HashSet::new();
        for outcome in outcomes {
            let code = submit_outcome_to_c(&outcome);
            assert!(codes.insert(code));
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { core::ffi::CStr::from_ptr(emr_submit_outcome_name(code)) };
            assert_eq!(name.to_str().unwrap(), outcome.as_str());
        }
        // SAFETY: as above.
        assert_eq!(unsafe { core::ffi::CStr::from_ptr(emr_submit_outcome_name(0)) }, c"unknown");
    }
}

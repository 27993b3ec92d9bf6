//! The pool: records and registry entries waiting for a block.
//!
//! A record's identity is `(dr_hash, nonce)` (SPEC section 2): the pool
//! holds at most one record per identity, the first one submitted. Whether a
//! pending record is *ready* (it can go in the next block) or *held* (a
//! nonce of its doctor before it is missing) is not stored: it follows from
//! the doctor's nonce after the tip and the pool's other records of that
//! doctor, so a block, a reorganisation or an undo never has to reclassify
//! anything.
//!
//! Invariant: every pooled record's nonce is above its doctor's nonce after
//! the tip. Connecting a block removes its records' identities from the
//! pool (those are exactly the pooled nonces the block uses up, since a
//! block's nonces of one doctor are consecutive from the doctor's previous
//! nonce); disconnecting one (a reorganisation, an undo) puts its records
//! back. Both run inside the transaction of the add or undo, so the pool is
//! never out of step with the chain, a failed reorganisation rolls it back
//! with everything else, and a restart finds every submitted record.
//!
//! Entries (grants, revocations, and SPEC 10's dispenser grants, dispenses
//! and cancellations) wait beside the records, in arrival order, one per
//! entry id. A pending dispense or cancellation whose prescription a
//! block's other entry takes is kept as a conflict (see
//! [`Chain::entry_conflicts`]). In a chain with authorities a record is refused when
//! its doctor is not authorized (see [`Chain::submit_at`]); the template
//! puts the pending entries that still apply first and leaves out the
//! records of doctors its block would not authorize, so a mined template
//! always adds.

use std::collections::{BTreeMap, HashMap};

use crate::block::{Block, MAX_RECORDS};
use crate::entry::{Entry, EntryError, MAX_ENTRIES};
use crate::hash::{Hash160, Hash256};
use crate::mining::BlockTemplate;
use crate::record::{Record, RecordError};

use super::registry::BlockRegistry;
use super::{Chain, ChainError};

/// What [`Chain::submit`] did with a record.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SubmitOutcome {
    /// Added, and it can go in the next block: its nonce follows the
    /// doctor's nonce after the tip and the doctor's ready pending records.
    Ready,
    /// Added, and held: a record whose doctor's nonce between the tip's
    /// and this one is missing (it becomes ready when the gap is filled),
    /// or a revocation whose `effective` time the next block's would not
    /// yet reach (it goes in the first template whose time does).
    Held,
    /// The same record (the same `(dr_hash, nonce)` and content; its
    /// signature may be the other form, `(r, n - s)`: SPEC section 2) or an
    /// entry with the same id is already pending; nothing changed.
    AlreadyPending,
    /// Another record with the same `(dr_hash, nonce)` but other content
    /// (patient or text) is pending: the doctor signed two records with one
    /// nonce. The pool keeps the first, named here; this one is not added.
    ConflictsWithPending {
        /// The txid of the pending record.
        pending_txid: Hash256,
    },
}

impl SubmitOutcome {
    /// The outcome's name as SPEC 9.1 spells it (`"ready"`, ...).
    pub const fn as_str(&self) -> &'static str {
        match self {
            SubmitOutcome::Ready => "ready",
            SubmitOutcome::Held => "held",
            SubmitOutcome::AlreadyPending => "already_pending",
            SubmitOutcome::ConflictsWithPending { .. } => "conflicts_with_pending",
        }
    }
}

/// A record the chain dropped (SPEC 9.3): another record of its doctor
/// with its nonce but other content took its place in the active chain,
/// so it can neither stay pending nor be mined. Typically the doctor
/// signed at two sites before they synced; the doctor re-signs it with a
/// new nonce. Listed by [`Chain::conflicts`] until dismissed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The dropped record.
    pub record: Record,
    /// The txid of the record that took its place.
    pub replaced_by: Hash256,
    /// The block that carried that record when it took the place. A later
    /// reorganisation or undo may take that block out of the active chain;
    /// the conflict stays listed until dismissed (the dropped record's
    /// nonce may then be free again: resubmitting it says).
    pub block_id: Hash256,
    /// That block's height.
    pub height: u64,
}

/// The current Unix time, in seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The pool's records, split.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingRecords {
    /// Records that can be mined now, in template order: each doctor's in
    /// nonce order, doctors interleaved by arrival.
    pub ready: Vec<Record>,
    /// Records waiting for a missing nonce of their doctor, in arrival order.
    pub held: Vec<Record>,
}

impl Chain {
    /// Offers a record to the pool.
    ///
    /// The record is verified in SPEC order against its doctor's nonce after
    /// the tip: a nonce the chain has already used fails with the first
    /// failing check (`invalid_nonce` when the others pass), as
    /// [`Record::verify`] would report it. A nonce above that is verified
    /// with every other check (signature included) and then pooled: `Ready`
    /// when it directly follows the tip's nonce and the doctor's ready
    /// records, `Held` when a nonce before it is missing, `AlreadyPending`
    /// (nothing changes) when the same record is already pending, and
    /// `ConflictsWithPending` (nothing changes) when another record of the
    /// same `(dr_hash, nonce)` is. The record is durable when this returns.
    ///
    /// In a chain with authorities, a record that passes its own checks is
    /// then refused with `unauthorized_doctor` unless its doctor is
    /// authorized at the current time (see [`Chain::submit_at`]).
    ///
    /// # Errors
    /// [`ChainError::Record`] with the record's kind; `invalid_argument` on
    /// a read-only chain; `io`/`corrupt` for storage failures.
    pub fn submit(&mut self, record: &Record) -> Result<SubmitOutcome, ChainError> {
        self.submit_at(record, unix_now())
    }

    /// [`Chain::submit`] with the caller's clock: the doctor must be
    /// authorized at `max(now, the tip's timestamp)` (the next block can be
    /// no earlier than the tip) by the registry after the active chain and
    /// the pending entries. The pool's check is a filter, not the rule: a
    /// pending record whose doctor is no longer authorized when the block is
    /// made is left out of [`Chain::template`], and blocks are checked at
    /// their own timestamp.
    pub fn submit_at(&mut self, record: &Record, now: u64) -> Result<SubmitOutcome, ChainError> {
        self.writable()?;
        self.store.begin()?;
        let result = self.submit_in_transaction(record, now);
        match &result {
            Ok(SubmitOutcome::Ready | SubmitOutcome::Held) => {
                if let Err(e) = self.store.commit() {
                    self.store.rollback();
                    return Err(e);
                }
            }
            _ => self.store.rollback(),
        }
        result
    }

    fn submit_in_transaction(&self, record: &Record, now: u64) -> Result<SubmitOutcome, ChainError> {
        let doctor = record.dr_hash;
        let chain_nonce = self.store.state(&doctor)?.unwrap_or_default().nonce;
        if record.nonce <= chain_nonce {
            // Checked against the chain's nonce, so the nonce check fails
            // unless an earlier one does.
            return Err(ChainError::Record(record.verify(chain_nonce).err().unwrap_or(RecordError::InvalidNonce)));
        }
        // nonce > chain_nonce >= 0: the nonce check passes with nonce - 1,
        // so this runs every other check, signature included.
        record.verify(record.nonce - 1).map_err(ChainError::Record)?;
        if !self.params.authorities.is_empty() {
            let (registry, _) = self.next_registry(now.max(self.tip_time()?), [doctor], &[])?;
            if !registry.authorizes(doctor.as_bytes()) {
                return Err(ChainError::Record(RecordError::UnauthorizedDoctor));
            }
        }
        if let Some(bytes) = self.store.pool_get(&doctor, record.nonce)? {
            let pending = decode_pending(&bytes)?;
            // The content is what the doctor signed; the signature's two
            // forms (and so two txids) are one record.
            return Ok(if pending.signature_hash() == record.signature_hash() {
                SubmitOutcome::AlreadyPending
            } else {
                SubmitOutcome::ConflictsWithPending { pending_txid: pending.txid }
            });
        }
        let mut nonces = self.store.pool_nonces(&doctor)?;
        nonces.sort_unstable();
        let ready_top = ready_prefix_end(chain_nonce, &nonces);
        self.store.pool_insert(&doctor, record.nonce, &record.to_bytes())?;
        Ok(if record.nonce == ready_top.saturating_add(1) { SubmitOutcome::Ready } else { SubmitOutcome::Held })
    }

    /// Offers an entry (of any type) to the pool, for the next blocks.
    ///
    /// The entry is checked as a block on the tip at the later of the
    /// current time and the tip's would check it after the pending entries
    /// (SPEC 8.1 checks 1-6 and SPEC 10's, in order): a revocation may name
    /// a grant that is itself still pending; a dispense of a prescription
    /// with a dispense pending is `already_dispensed`; a dispense of a
    /// record not yet in a block is `unknown_prescription`. `Ready` when added; `Held` when added but
    /// not yet in force (a revocation whose `effective` time is later: it
    /// waits for a template whose time reaches it); `AlreadyPending`
    /// (nothing changes) when an entry with its id is already pending.
    /// Durable when this returns.
    ///
    /// # Errors
    /// [`ChainError::Entry`] with the entry's kind (`wrong_chain` for an
    /// entry made for another chain, `unknown_authority` for every grant or
    /// revocation of an open chain, `unauthorized_dispenser` for its
    /// dispenses); `invalid_argument` on a read-only chain;
    /// `io`/`corrupt` for storage failures.
    pub fn submit_entry(&mut self, entry: &Entry) -> Result<SubmitOutcome, ChainError> {
        self.submit_entry_at(entry, unix_now())
    }

    /// [`Chain::submit_entry`] with the caller's clock.
    pub fn submit_entry_at(&mut self, entry: &Entry, now: u64) -> Result<SubmitOutcome, ChainError> {
        self.writable()?;
        self.store.begin()?;
        let result = self.submit_entry_in_transaction(entry, now);
        match &result {
            Ok(SubmitOutcome::Ready | SubmitOutcome::Held) => {
                if let Err(e) = self.store.commit() {
                    self.store.rollback();
                    return Err(e);
                }
            }
            _ => self.store.rollback(),
        }
        result
    }

    fn submit_entry_in_transaction(&self, entry: &Entry, now: u64) -> Result<SubmitOutcome, ChainError> {
        entry.verify().map_err(ChainError::Entry)?;
        let id = entry.entry_id();
        if self.pending_entries()?.iter().any(|e| e.entry_id() == id) {
            return Ok(SubmitOutcome::AlreadyPending);
        }
        let (mut registry, pending) = self.next_registry(now.max(self.tip_time()?), [], std::slice::from_ref(entry))?;
        let outcome = match registry.apply(pending.len(), &entry.fields()) {
            Ok(()) => SubmitOutcome::Ready,
            // Every other check passed: the revocation waits for its time.
            Err(EntryError::RevocationNotYetEffective) => SubmitOutcome::Held,
            Err(e) => return Err(ChainError::Entry(e)),
        };
        self.store.pool_entry_insert(&id, &entry.to_bytes())?;
        Ok(outcome)
    }

    /// The tip's timestamp (0 for an empty chain): no next block is earlier.
    fn tip_time(&self) -> Result<u64, ChainError> {
        Ok(match self.store.tip()? {
            Some((height, id)) => self.row(&id, height)?.timestamp,
            None => 0,
        })
    }

    /// The pending entries, in arrival order (the order a template takes
    /// them in). An entry that no longer applies (its grant was revoked by
    /// a block meanwhile, ...) stays listed; templates skip it.
    pub fn pending_entries(&self) -> Result<Vec<Entry>, ChainError> {
        self.read(|c| {
            if !c.store.has_pool_entries()? {
                return Ok(Vec::new());
            }
            c.store
                .pool_entries_all()?
                .iter()
                .map(|bytes| {
                    Entry::from_bytes(bytes).map_err(|e| {
                        ChainError::corrupt("pool_entries", None, format!("a pending entry does not decode: {e}"))
                    })
                })
                .collect()
        })
    }

    /// The registry a block on the tip at time `t` would see after the
    /// pending entries that still apply (at most [`MAX_ENTRIES`]), with the
    /// grants of `doctors` and of `extra`'s entries loaded; and those entries.
    fn next_registry(
        &self,
        t: u64,
        doctors: impl IntoIterator<Item = Hash160>,
        extra: &[Entry],
    ) -> Result<(BlockRegistry, Vec<Entry>), ChainError> {
        let height = self.store.tip()?.map_or(0, |(h, _)| h.saturating_add(1));
        let pending = self.pending_entries()?;
        let fields: Vec<_> = pending.iter().chain(extra).map(Entry::fields).collect();
        let mut registry = BlockRegistry::load(&self.store, self.chain_id(), &self.params.authorities, height, t, &fields, doctors)?;
        let mut applied = Vec::new();
        for entry in pending {
            if applied.len() == MAX_ENTRIES {
                break;
            }
            // Failed checks change nothing, so an entry that no longer
            // applies, or a revocation not yet in force at `t`, is skipped.
            if entry.verify().and_then(|()| registry.apply(applied.len(), &entry.fields())).is_ok() {
                applied.push(entry);
            }
        }
        Ok((registry, applied))
    }

    /// Every pending record: the ready ones in template order, then the
    /// held ones in arrival order.
    pub fn pending(&self) -> Result<Vec<Record>, ChainError> {
        let split = self.pending_split()?;
        let mut all = split.ready;
        all.extend(split.held);
        Ok(all)
    }

    /// The pending records, ready and held apart (see [`PendingRecords`]).
    pub fn pending_split(&self) -> Result<PendingRecords, ChainError> {
        self.read(|c| {
            if !c.store.has_pool()? {
                return Ok(PendingRecords::default());
            }
            let mut records = Vec::new();
            for bytes in c.store.pool_all()? {
                records.push(decode_pending(&bytes)?);
            }
            let mut chain_nonces = HashMap::new();
            for record in &records {
                if let std::collections::hash_map::Entry::Vacant(slot) = chain_nonces.entry(record.dr_hash) {
                    slot.insert(c.store.state(&record.dr_hash)?.unwrap_or_default().nonce);
                }
            }
            Ok(split(records, &chain_nonces))
        })
    }

    /// The next block's header fields, entries and records, ready to mine
    /// ([`crate::mining::mine_block`]): `previous` the tip's id (all zero
    /// for an empty chain), `height` the chain's length, `difficulty`
    /// [`Chain::next_difficulty`], `timestamp` the later of `timestamp` and
    /// the tip's (a block may not be earlier than its parent), the pending
    /// entries that still apply, in arrival order (at most
    /// [`MAX_ENTRIES`]), and the first [`MAX_RECORDS`] ready records in
    /// template order (each doctor's nonces consecutive from its nonce after
    /// the tip) whose doctors that block authorizes, so that the mined
    /// block adds as `Extended`.
    pub fn template(&self, miner: &Hash160, timestamp: u64) -> Result<BlockTemplate, ChainError> {
        self.read(|c| {
            let tip = match c.store.tip()? {
                Some((height, id)) => Some(c.row(&id, height)?),
                None => None,
            };
            let difficulty = c.difficulty_after(tip.as_ref())?;
            let timestamp = tip.map_or(timestamp, |t| t.timestamp.max(timestamp));
            let mut records = c.pending_split()?.ready;
            let doctors: Vec<Hash160> = records.iter().map(|r| r.dr_hash).collect();
            let (registry, entries) = c.next_registry(timestamp, doctors, &[])?;
            // Authorization is per doctor, so dropping a doctor's records
            // drops all of them and the others' nonces stay consecutive.
            records.retain(|r| registry.authorizes(r.dr_hash.as_bytes()));
            records.truncate(MAX_RECORDS);
            Ok(BlockTemplate {
                previous: tip.map_or(Hash256::from_bytes([0; 32]), |t| t.id),
                height: tip.map_or(0, |t| t.height.saturating_add(1)),
                miner: *miner,
                records,
                entries,
                timestamp,
                difficulty,
            })
        })
    }

    /// Every record the chain dropped for another (SPEC 9.3), oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, ChainError> {
        self.read(|c| {
            c.store
                .conflicts_all()?
                .into_iter()
                .map(|stored| {
                    let record = Record::from_bytes(&stored.bytes).map_err(|e| {
                        ChainError::corrupt("conflicts", Some(stored.height), format!("a dropped record does not decode: {e}"))
                    })?;
                    Ok(Conflict { record, replaced_by: stored.replaced_by, block_id: stored.block_id, height: stored.height })
                })
                .collect()
        })
    }

    /// Stops listing the conflict of the record with this txid (the doctor
    /// has re-signed it, say); `false` when there is none. Durable when this
    /// returns.
    pub fn dismiss_conflict(&mut self, txid: &Hash256) -> Result<bool, ChainError> {
        self.writable()?;
        self.store.begin()?;
        let result = self.store.conflict_dismiss(txid);
        self.finish(result)
    }

    /// A block joined the active chain: its records and entries leave the
    /// pool. A pending record that held one of its records' `(doctor,
    /// nonce)` with other content cannot be mined any more: it is kept as a
    /// conflict (SPEC 9.3), not dropped without a trace. A conflict whose
    /// record the block carries is over.
    pub(super) fn pool_seal(&self, block: &Block) -> Result<(), ChainError> {
        for record in &block.records {
            let content = record.signature_hash();
            if let Some(bytes) = self.store.pool_get(&record.dr_hash, record.nonce)? {
                let pending = decode_pending(&bytes)?;
                if pending.signature_hash() != content {
                    self.store.conflict_insert(&pending, &record.txid, &block.block_id, block.height)?;
                }
            }
            self.store.pool_remove(&record.dr_hash, record.nonce)?;
            self.store.conflict_resolved(&record.dr_hash, record.nonce, &content)?;
        }
        self.seal_prescriptions(block)?;
        for entry in &block.entries {
            let id = entry.entry_id();
            self.store.pool_entry_remove(&id)?;
            self.store.entry_conflict_remove(&id)?;
        }
        Ok(())
    }

    /// A block's dispenses and cancellations took their prescriptions: a
    /// pending dispense or cancellation of one of them (the same record)
    /// can no longer be mined. A dispense that lost, or a cancellation
    /// that a dispense overtook, is kept as a conflict naming the winner
    /// (SPEC 9.3); a second cancellation of a cancelled prescription has
    /// nothing to settle and just leaves the pool.
    fn seal_prescriptions(&self, block: &Block) -> Result<(), ChainError> {
        if block.entries.iter().all(|e| e.prescription().is_none()) {
            return Ok(());
        }
        let pending = self.pending_entries()?;
        for won in &block.entries {
            let Some(prescription) = won.prescription() else { continue };
            let won_id = won.entry_id();
            for lost in pending.iter().filter(|p| p.prescription() == Some(prescription)) {
                let lost_id = lost.entry_id();
                if lost_id == won_id {
                    continue;
                }
                if matches!(lost, Entry::Dispense(_)) || matches!(won, Entry::Dispense(_)) {
                    self.store.entry_conflict_insert(lost, won, &block.block_id, block.height)?;
                }
                self.store.pool_entry_remove(&lost_id)?;
            }
        }
        Ok(())
    }

    /// A block left the active chain: its records and entries come back to
    /// the pool (a pending record of the same identity, if any, stays).
    pub(super) fn pool_return(&self, block: &Block) -> Result<(), ChainError> {
        for record in &block.records {
            self.store.pool_insert(&record.dr_hash, record.nonce, &record.to_bytes())?;
        }
        for entry in &block.entries {
            self.store.pool_entry_insert(&entry.entry_id(), &entry.to_bytes())?;
        }
        Ok(())
    }
}

/// A pending record read back from the pool table: damage if it does not decode.
fn decode_pending(bytes: &[u8]) -> Result<Record, ChainError> {
    Record::from_bytes(bytes)
        .map_err(|e| ChainError::corrupt("pool", None, format!("a pending record does not decode: {e}")))
}

/// The last nonce of the run `chain_nonce + 1, chain_nonce + 2, ...` found
/// in `sorted` (`chain_nonce` itself when the run is empty).
fn ready_prefix_end(chain_nonce: u64, sorted: &[u64]) -> u64 {
    let mut top = chain_nonce;
    for &n in sorted {
        if n <= top {
            continue;
        }
        if Some(n) != top.checked_add(1) {
            break;
        }
        top = n;
    }
    top
}

/// Splits records (in arrival order) into ready ones, in template order,
/// and held ones.
///
/// Template order: repeatedly take, among the doctors with ready records
/// left, the next record (lowest nonce) of the doctor whose next record
/// arrived first. Any prefix of that order is a valid block's records.
fn split(records: Vec<Record>, chain_nonces: &HashMap<Hash160, u64>) -> PendingRecords {
    // Per doctor: nonce -> (arrival, record).
    let mut by_doctor: HashMap<Hash160, BTreeMap<u64, (usize, Record)>> = HashMap::new();
    for (arrival, record) in records.into_iter().enumerate() {
        by_doctor.entry(record.dr_hash).or_default().insert(record.nonce, (arrival, record));
    }
    let mut queues: Vec<std::collections::VecDeque<(usize, Record)>> = Vec::new();
    let mut held: Vec<(usize, Record)> = Vec::new();
    for (doctor, mut pending) in by_doctor {
        let mut next = chain_nonces.get(&doctor).copied().unwrap_or(0).checked_add(1);
        let mut queue = std::collections::VecDeque::new();
        while let Some(n) = next {
            match pending.remove(&n) {
                Some(entry) => queue.push_back(entry),
                None => break,
            }
            next = n.checked_add(1);
        }
        // Anything at or below the chain's nonce cannot be pending (see the
        // module's invariant); it is listed as held rather than dropped.
        held.extend(pending.into_values());
        if !queue.is_empty() {
            queues.push(queue);
        }
    }
    let mut ready = Vec::new();
    loop {
        let first = queues.iter().enumerate().filter_map(|(i, q)| q.front().map(|(arrival, _)| (*arrival, i))).min();
        let Some((_, i)) = first else { break };
        if let Some((_, record)) = queues[i].pop_front() {
            ready.push(record);
        }
    }
    held.sort_by_key(|(arrival, _)| *arrival);
    PendingRecords { ready, held: held.into_iter().map(|(_, r)| r).collect() }
}

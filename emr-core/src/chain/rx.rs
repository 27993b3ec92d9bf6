//! Queries on prescriptions (SPEC 10): what became of each (open,
//! dispensed, cancelled), a pharmacy's dispenses, a patient's
//! prescriptions with their states, and the dispenses and cancellations a
//! reorganisation dropped (SPEC 9.3).

use crate::entry::{Cancellation, Dispense, Entry, EntryType};
use crate::hash::{Hash160, Hash256};

use super::registry::RxState;
use super::store::Role;
use super::{Chain, ChainError, RecordEntry};

/// A dispense of the active chain with where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispenseEntry {
    /// The dispense: its pharmacy (`pharmacy_public_key`, `pharmacy_hash()`),
    /// patient and note.
    pub dispense: Dispense,
    /// Height of its block.
    pub height: u64,
    /// Id of its block.
    pub block_id: Hash256,
    /// Its block's timestamp (Unix seconds): when it was dispensed, as the
    /// chain tells time.
    pub timestamp: u64,
}

/// A cancellation of the active chain with where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancellationEntry {
    /// The cancellation: who (`canceller`, `canceller_hash()`) and why (`reason`).
    pub cancellation: Cancellation,
    /// Height of its block.
    pub height: u64,
    /// Id of its block.
    pub block_id: Hash256,
    /// Its block's timestamp (Unix seconds).
    pub timestamp: u64,
}

/// What became of a prescription in the active chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrescriptionState {
    /// Neither dispensed nor cancelled.
    Open,
    /// Dispensed, by the dispense named.
    Dispensed(DispenseEntry),
    /// Cancelled, by the cancellation named.
    Cancelled(CancellationEntry),
}

impl PrescriptionState {
    /// `"open"`, `"dispensed"` or `"cancelled"`, as the vectors and the
    /// bindings spell the state.
    pub const fn as_str(&self) -> &'static str {
        match self {
            PrescriptionState::Open => "open",
            PrescriptionState::Dispensed(_) => "dispensed",
            PrescriptionState::Cancelled(_) => "cancelled",
        }
    }
}

/// A prescription of the active chain: its record (with its place) and
/// its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrescriptionStatus {
    /// The record and where it sits.
    pub record: RecordEntry,
    /// What became of it.
    pub state: PrescriptionState,
}

/// A dispense or cancellation the chain dropped (SPEC 9.3): another entry
/// took its prescription in the active chain, so it can neither stay
/// pending nor be mined. Typically two pharmacies dispensed one
/// prescription at two sites that had not synced: `entry` is the one that
/// fell out, `replaced_by` the one that stayed, each naming its pharmacy.
/// Listed by [`Chain::entry_conflicts`] until dismissed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryConflict {
    /// The dropped dispense or cancellation.
    pub entry: Entry,
    /// The dispense (or cancellation) that took its prescription.
    pub replaced_by: Entry,
    /// The block that carried `replaced_by` when it did. A later
    /// reorganisation may take that block out of the active chain; the
    /// conflict stays listed until dismissed, or until `entry` itself is
    /// in the active chain again.
    pub block_id: Hash256,
    /// That block's height.
    pub height: u64,
}

impl Chain {
    /// What became of the prescription `(dr_hash, nonce)`: open, dispensed
    /// (by which pharmacy, in which block, when) or cancelled (by whom,
    /// why). `not_found` when the active chain holds no record of that
    /// doctor with that nonce.
    pub fn prescription_state(&self, dr_hash: &Hash160, nonce: u64) -> Result<PrescriptionState, ChainError> {
        self.read(|c| {
            if c.store.record_place_by_nonce(dr_hash, nonce)?.is_none() {
                return Err(ChainError::NotFound("no such prescription in the active chain"));
            }
            c.state_of(dr_hash, nonce)
        })
    }

    /// The prescription `(dr_hash, nonce)`: its record, where it sits and
    /// its state. `not_found` as for [`Chain::prescription_state`].
    pub fn prescription_status(&self, dr_hash: &Hash160, nonce: u64) -> Result<PrescriptionStatus, ChainError> {
        self.read(|c| {
            let place = c
                .store
                .record_place_by_nonce(dr_hash, nonce)?
                .ok_or(ChainError::NotFound("no such prescription in the active chain"))?;
            let (record, block) = c.store.record_at(place)?;
            let record = RecordEntry { height: place.height, block_id: block.block_id, timestamp: block.timestamp, record };
            Ok(PrescriptionStatus { record, state: c.state_of(dr_hash, nonce)? })
        })
    }

    /// Every record for `patient_hash` in the active chain, in chain order
    /// (as [`Chain::patient_history`]), each with its state.
    pub fn patient_prescriptions(&self, patient_hash: &Hash160) -> Result<Vec<PrescriptionStatus>, ChainError> {
        self.read(|c| {
            c.entries(c.store.record_places(Role::Patient, patient_hash)?)?
                .into_iter()
                .map(|record| {
                    let state = c.state_of(&record.record.dr_hash, record.record.nonce)?;
                    Ok(PrescriptionStatus { record, state })
                })
                .collect()
        })
    }

    /// Every dispense by the pharmacy `pharmacy_hash` (`H160` of its key)
    /// in the active chain, in chain order.
    pub fn pharmacy_dispensings(&self, pharmacy_hash: &Hash160) -> Result<Vec<DispenseEntry>, ChainError> {
        self.read(|c| {
            c.store
                .rx_by_actor(pharmacy_hash, EntryType::Dispense)?
                .into_iter()
                .map(|rx| match c.placed(rx)? {
                    PrescriptionState::Dispensed(entry) => Ok(entry),
                    _ => Err(ChainError::corrupt("prescription_entries", None, "a dispense row holds another entry")),
                })
                .collect()
        })
    }

    /// Every dispense and cancellation the chain dropped for another
    /// (SPEC 9.3), oldest first.
    pub fn entry_conflicts(&self) -> Result<Vec<EntryConflict>, ChainError> {
        self.read(|c| {
            c.store
                .entry_conflicts_all()?
                .into_iter()
                .map(|stored| {
                    let decode = |bytes: &[u8]| {
                        Entry::from_bytes(bytes).map_err(|e| {
                            ChainError::corrupt("entry_conflicts", Some(stored.height), format!("an entry does not decode: {e}"))
                        })
                    };
                    Ok(EntryConflict {
                        entry: decode(&stored.bytes)?,
                        replaced_by: decode(&stored.replaced_by)?,
                        block_id: stored.block_id,
                        height: stored.height,
                    })
                })
                .collect()
        })
    }

    /// Stops listing the conflict of the entry with this id (the
    /// pharmacies have settled, say); `false` when there is none. Durable
    /// when this returns.
    pub fn dismiss_entry_conflict(&mut self, entry_id: &Hash256) -> Result<bool, ChainError> {
        self.writable()?;
        self.store.begin()?;
        let result = self.store.entry_conflict_remove(entry_id);
        self.finish(result)
    }

    /// The state of a prescription known to be in the active chain.
    fn state_of(&self, dr_hash: &Hash160, nonce: u64) -> Result<PrescriptionState, ChainError> {
        use super::registry::RegistrySource;
        match self.store.rx(dr_hash, nonce)? {
            Some(rx) => self.placed(rx),
            None => Ok(PrescriptionState::Open),
        }
    }

    /// A stored dispense or cancellation with its block's id and time.
    fn placed(&self, rx: RxState) -> Result<PrescriptionState, ChainError> {
        let block_id = self.store.active_id(rx.height)?.ok_or_else(|| {
            ChainError::corrupt("prescription_entries", Some(rx.height), "an entry of no active block")
        })?;
        let timestamp = self.row(&block_id, rx.height)?.timestamp;
        let height = rx.height;
        match rx.entry {
            Entry::Dispense(dispense) => {
                Ok(PrescriptionState::Dispensed(DispenseEntry { dispense, height, block_id, timestamp }))
            }
            Entry::Cancellation(cancellation) => {
                Ok(PrescriptionState::Cancelled(CancellationEntry { cancellation, height, block_id, timestamp }))
            }
            _ => Err(ChainError::corrupt("prescription_entries", Some(height), "a row holds another type of entry")),
        }
    }
}

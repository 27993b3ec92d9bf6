//! The registry of SPEC sections 8.1 and 10 as chain state: which grants
//! (doctors' and dispensers') the active chain holds, which are revoked,
//! whether a doctor may write or a pharmacy dispense at a time, and what
//! became of each prescription (dispensed, cancelled).
//!
//! A block's entries are checked against the registry as the active chain
//! leaves it plus the block's entries before them, and its records against
//! the registry after all its entries. [`BlockRegistry`] loads the part of
//! the registry a block can touch (the grants its entries name, the grants
//! of its records' doctors, of its dispenses' pharmacies and of the
//! prescribers its dispenses and cancellations name, and those
//! prescriptions) from a [`RegistrySource`] (the store, or the in-memory
//! replay of `check` and `Walk`), then checks without I/O; its
//! [`BlockRegistry::changes`] are what the caller writes once the whole
//! block passed.

use std::collections::{HashMap, HashSet};

use crate::block::Block;
use crate::entry::{Cancellation, Dispense, DispenserGrant, Entry, EntryError, EntryFields, Grant, PrescriptionRef};
use crate::hash::{sha1, Hash160, Hash256};
use crate::keys::PublicKey;

use super::{Chain, ChainError};

impl Chain {
    /// The chain's authorities (empty for an open chain), as created.
    pub fn authorities(&self) -> &[PublicKey] {
        &self.params.authorities
    }

    /// Every grant the active chain holds for the doctor `dr_hash`, in chain
    /// order, each with the height of its block and its revocation's
    /// `effective` time if the active chain revokes it.
    pub fn grants(&self, dr_hash: &Hash160) -> Result<Vec<RegisteredGrant>, ChainError> {
        self.read(|c| {
            Ok(c.store
                .grants_of(dr_hash)?
                .into_iter()
                .filter_map(|g| match g.grant {
                    AnyGrant::Doctor(grant) => {
                        Some(RegisteredGrant { grant, height: g.height, revoked_effective: g.revoked_effective })
                    }
                    AnyGrant::Dispenser(_) => None,
                })
                .collect())
        })
    }

    /// Whether the active chain holds a grant that authorizes `dr_hash` at
    /// time `t` (`not_before <= t <= not_after`, not revoked with
    /// `effective <= t`): what a block at timestamp `t` on the tip asks of
    /// its records' doctors. Always `false` in an open chain, which has no
    /// grants (and where every doctor may write).
    pub fn is_authorized(&self, dr_hash: &Hash160, t: u64) -> Result<bool, ChainError> {
        Ok(self.grants(dr_hash)?.iter().any(|g| g.authorizes_at(t)))
    }

    /// Every dispenser grant (SPEC 10) the active chain holds for the
    /// pharmacy `pharmacy_hash` (`H160` of its key), in chain order, with
    /// its height and its revocation's `effective` time, if revoked.
    pub fn dispenser_grants(&self, pharmacy_hash: &Hash160) -> Result<Vec<RegisteredDispenserGrant>, ChainError> {
        self.read(|c| {
            Ok(c.store
                .grants_of(pharmacy_hash)?
                .into_iter()
                .filter_map(|g| match g.grant {
                    AnyGrant::Dispenser(grant) => {
                        Some(RegisteredDispenserGrant { grant, height: g.height, revoked_effective: g.revoked_effective })
                    }
                    AnyGrant::Doctor(_) => None,
                })
                .collect())
        })
    }

    /// Whether the pharmacy `pharmacy_hash` holds a dispenser grant active
    /// at `t`: what a block at timestamp `t` on the tip asks of its
    /// dispenses. Always `false` in an open chain.
    pub fn is_dispenser_authorized(&self, pharmacy_hash: &Hash160, t: u64) -> Result<bool, ChainError> {
        Ok(self.dispenser_grants(pharmacy_hash)?.iter().any(|g| g.authorizes_at(t)))
    }
}

/// A grant of the active chain, with where it was granted and whether it
/// was revoked. What [`super::Chain::grants`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegisteredGrant {
    /// The grant.
    pub grant: Grant,
    /// Height of the block that carries it.
    pub height: u64,
    /// The `effective` time of its revocation, if the active chain revokes it.
    pub revoked_effective: Option<u64>,
}

impl RegisteredGrant {
    /// Whether this grant authorizes its doctor at `t`: `not_before <= t <=
    /// not_after`, and not revoked with `effective <= t`.
    pub fn authorizes_at(&self, t: u64) -> bool {
        self.grant.covers(t) && self.revoked_effective.is_none_or(|effective| effective > t)
    }
}

/// A dispenser grant of the active chain, with where it was granted and
/// whether it was revoked. What [`super::Chain::dispenser_grants`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegisteredDispenserGrant {
    /// The grant.
    pub grant: DispenserGrant,
    /// Height of the block that carries it.
    pub height: u64,
    /// The `effective` time of its revocation, if the active chain revokes it.
    pub revoked_effective: Option<u64>,
}

impl RegisteredDispenserGrant {
    /// Whether this grant authorizes its pharmacy at `t`: `not_before <= t
    /// <= not_after`, and not revoked with `effective <= t`.
    pub fn authorizes_at(&self, t: u64) -> bool {
        self.grant.covers(t) && self.revoked_effective.is_none_or(|effective| effective > t)
    }
}

/// Either kind of grant; both live in one table and one id space, so that
/// one revocation kind withdraws either (SPEC 10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AnyGrant {
    Doctor(Grant),
    Dispenser(DispenserGrant),
}

impl AnyGrant {
    fn covers(&self, t: u64) -> bool {
        match self {
            AnyGrant::Doctor(g) => g.covers(t),
            AnyGrant::Dispenser(g) => g.covers(t),
        }
    }

    pub(crate) fn to_entry(&self) -> Entry {
        match self {
            AnyGrant::Doctor(g) => Entry::Grant(g.clone()),
            AnyGrant::Dispenser(g) => Entry::DispenserGrant(g.clone()),
        }
    }
}

/// A grant as the chain keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GrantState {
    pub(crate) id: Hash256,
    /// `H160` of the admitted key: the doctor's `dr_hash` or the pharmacy's.
    pub(crate) holder: Hash160,
    /// Height of the block that carries it.
    pub(crate) height: u64,
    /// Index of the entry in its block, for ordering.
    pub(crate) index: usize,
    pub(crate) revoked_effective: Option<u64>,
    pub(crate) grant: AnyGrant,
}

impl GrantState {
    pub(crate) fn new(grant: AnyGrant, height: u64, index: usize, revoked_effective: Option<u64>) -> GrantState {
        let (id, holder) = match &grant {
            AnyGrant::Doctor(g) => (g.grant_id(), g.dr_hash()),
            AnyGrant::Dispenser(g) => (g.grant_id(), g.pharmacy_hash()),
        };
        GrantState { id, holder, height, index, revoked_effective, grant }
    }

    fn authorizes_at(&self, t: u64) -> bool {
        self.grant.covers(t) && self.revoked_effective.is_none_or(|effective| effective > t)
    }

    fn is_doctors(&self) -> bool {
        matches!(self.grant, AnyGrant::Doctor(_))
    }
}

/// A dispense or cancellation of the active chain (SPEC 10), as the chain
/// keeps it: at most one per prescription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RxState {
    pub(crate) prescription: PrescriptionRef,
    /// Height of the block that carries it.
    pub(crate) height: u64,
    /// Index of the entry in its block.
    pub(crate) index: usize,
    /// An [`Entry::Dispense`] or [`Entry::Cancellation`].
    pub(crate) entry: Entry,
}

impl RxState {
    /// `H160` of the pharmacy of a dispense or of the canceller.
    pub(crate) fn actor(&self) -> Hash160 {
        sha1(&[self.entry.signer()])
    }
}

/// What a chain knows of a prescription's record in the active chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordFacts {
    pub(crate) record_hash: Hash256,
    pub(crate) patient_hash: Hash160,
    pub(crate) sealed: bool,
    /// The timestamp of the record's block.
    pub(crate) timestamp: u64,
}

impl RecordFacts {
    pub(crate) fn of(record: &crate::Record, timestamp: u64) -> RecordFacts {
        RecordFacts {
            record_hash: record.signature_hash(),
            patient_hash: record.patient_hash,
            sealed: record.is_sealed(),
            timestamp,
        }
    }
}

/// Where the registry of the active chain is read from.
pub(crate) trait RegistrySource {
    /// The grant with this id (either kind), if the active chain holds it.
    fn grant(&self, id: &Hash256) -> Result<Option<GrantState>, ChainError>;
    /// Every grant (either kind) whose holder is `hash` in the active chain,
    /// in chain order.
    fn grants_of(&self, hash: &Hash160) -> Result<Vec<GrantState>, ChainError>;
    /// The record `(dr_hash, nonce)` of the active chain, if any.
    fn record_facts(&self, dr_hash: &Hash160, nonce: u64) -> Result<Option<RecordFacts>, ChainError>;
    /// The dispense or cancellation of the prescription `(dr_hash, nonce)`
    /// in the active chain, if any.
    fn rx(&self, dr_hash: &Hash160, nonce: u64) -> Result<Option<RxState>, ChainError>;
}

/// The registry kept in memory, by `check`'s replay and by [`super::Walk`]:
/// with every record's facts, since any may be dispensed later.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryRegistry {
    pub(crate) grants: HashMap<Hash256, GrantState>,
    pub(crate) records: HashMap<(Hash160, u64), RecordFacts>,
    pub(crate) rx: HashMap<(Hash160, u64), RxState>,
}

impl RegistrySource for MemoryRegistry {
    fn grant(&self, id: &Hash256) -> Result<Option<GrantState>, ChainError> {
        Ok(self.grants.get(id).cloned())
    }

    fn grants_of(&self, hash: &Hash160) -> Result<Vec<GrantState>, ChainError> {
        let mut out: Vec<_> = self.grants.values().filter(|g| g.holder == *hash).cloned().collect();
        out.sort_by_key(|g| (g.height, g.index));
        Ok(out)
    }

    fn record_facts(&self, dr_hash: &Hash160, nonce: u64) -> Result<Option<RecordFacts>, ChainError> {
        Ok(self.records.get(&(*dr_hash, nonce)).cloned())
    }

    fn rx(&self, dr_hash: &Hash160, nonce: u64) -> Result<Option<RxState>, ChainError> {
        Ok(self.rx.get(&(*dr_hash, nonce)).cloned())
    }
}

impl MemoryRegistry {
    /// Applies a connected block: its registry changes and its records.
    pub(crate) fn apply(&mut self, block: &Block, changes: &RegistryChanges) {
        for change in &changes.grants {
            self.grants.insert(change.id, change.clone());
        }
        for rx in &changes.rx {
            self.rx.insert((rx.prescription.dr_hash, rx.prescription.nonce), rx.clone());
        }
        for record in &block.records {
            self.records.insert((record.dr_hash, record.nonce), RecordFacts::of(record, block.timestamp));
        }
    }
}

/// The chain's authorities as the entries name them: uncompressed SPKI DER
/// (the only form a valid entry's `authority` can have).
pub(crate) fn authority_keys(authorities: &[PublicKey]) -> Vec<Vec<u8>> {
    authorities.iter().map(PublicKey::to_spki_der).collect()
}

/// What a connected block changed in the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RegistryChanges {
    /// The grants it added or revoked, as they now stand.
    pub(crate) grants: Vec<GrantState>,
    /// Its dispenses and cancellations.
    pub(crate) rx: Vec<RxState>,
}

/// A prescription as one block sees it: its record's facts and what
/// happened to it so far (the block's earlier entries included).
#[derive(Clone, Debug)]
struct PrescriptionView {
    record: RecordFacts,
    rx: Option<RxState>,
}

/// The registry as one block sees it (see the module documentation).
pub(crate) struct BlockRegistry {
    chain_id: Hash256,
    authorities: Vec<Vec<u8>>,
    height: u64,
    timestamp: u64,
    /// Loaded grants and the block's own, by id.
    grants: HashMap<Hash256, GrantState>,
    /// Ids of the grants this block added or revoked, in entry order.
    changed: Vec<Hash256>,
    /// Loaded prescriptions, by identity.
    prescriptions: HashMap<(Hash160, u64), PrescriptionView>,
    /// This block's dispenses and cancellations, in entry order.
    rx: Vec<RxState>,
}

impl BlockRegistry {
    /// Loads what `block`'s entries and records can touch: the grants its
    /// revocations name; every grant of the doctors its grants admit and
    /// its records are by, of the pharmacies its dispenser grants admit and
    /// its dispenses are by, of the prescribers its dispenses and
    /// cancellations name; and those prescriptions. In an open chain (no
    /// authorities) no grant is loaded: every grant and revocation for this
    /// chain fails `unknown_authority`, every dispense
    /// `unauthorized_dispenser`, and every doctor may write.
    pub(crate) fn load(
        source: &dyn RegistrySource,
        chain_id: Hash256,
        authorities: &[PublicKey],
        height: u64,
        timestamp: u64,
        entries: &[EntryFields<'_>],
        doctors: impl IntoIterator<Item = Hash160>,
    ) -> Result<BlockRegistry, ChainError> {
        let mut registry = BlockRegistry {
            chain_id,
            authorities: authority_keys(authorities),
            height,
            timestamp,
            grants: HashMap::new(),
            changed: Vec::new(),
            prescriptions: HashMap::new(),
            rx: Vec::new(),
        };
        let mut holders = Vec::new();
        for entry in entries {
            let prescription = match entry {
                EntryFields::Grant(g) => {
                    holders.push(sha1(&[g.dr_public_key]));
                    None
                }
                EntryFields::DispenserGrant(g) => {
                    holders.push(sha1(&[g.pharmacy_public_key]));
                    None
                }
                EntryFields::Revocation(r) => {
                    if let Some(id) = Hash256::from_slice(r.grant_id) {
                        if let Some(grant) = source.grant(&id)? {
                            registry.grants.insert(id, grant);
                        }
                    }
                    None
                }
                EntryFields::Dispense(d) => {
                    holders.push(sha1(&[d.pharmacy_public_key]));
                    Some((d.dr_hash, d.nonce))
                }
                EntryFields::Cancellation(c) => Some((c.dr_hash, c.nonce)),
            };
            if let Some((dr_hash, nonce)) = prescription {
                let Some(dr_hash) = Hash160::from_slice(dr_hash) else { continue };
                holders.push(dr_hash);
                if let std::collections::hash_map::Entry::Vacant(slot) = registry.prescriptions.entry((dr_hash, nonce)) {
                    if let Some(record) = source.record_facts(&dr_hash, nonce)? {
                        slot.insert(PrescriptionView { record, rx: source.rx(&dr_hash, nonce)? });
                    }
                }
            }
        }
        if registry.authorities.is_empty() {
            return Ok(registry);
        }
        let mut seen = HashSet::new();
        for holder in holders.into_iter().chain(doctors) {
            if seen.insert(holder) {
                for grant in source.grants_of(&holder)? {
                    registry.grants.insert(grant.id, grant);
                }
            }
        }
        Ok(registry)
    }

    /// The chain's checks of SPEC 8.1 (3-6) and 10 for entry `index`
    /// (which passed the stateless checks), in order; applies it for the
    /// entries after it.
    pub(crate) fn apply(&mut self, index: usize, entry: &EntryFields<'_>) -> Result<(), EntryError> {
        if *entry.chain_id() != self.chain_id.as_bytes()[..] {
            return Err(EntryError::WrongChain);
        }
        if let Some(authority) = entry.authority() {
            if !self.is_authority(authority) {
                return Err(EntryError::UnknownAuthority);
            }
        }
        // The stateless checks passed, so the typed entry can hold the fields.
        match Entry::from_fields(entry)? {
            Entry::Grant(grant) => self.add_grant(AnyGrant::Doctor(grant), index),
            Entry::DispenserGrant(grant) => self.add_grant(AnyGrant::Dispenser(grant), index),
            Entry::Revocation(revocation) => {
                let grant = self.grants.get_mut(&revocation.grant_id).ok_or(EntryError::UnknownGrant)?;
                if grant.revoked_effective.is_some() {
                    return Err(EntryError::AlreadyRevoked);
                }
                // Carried only once the chain's time has reached it, so that
                // it binds every later record whatever later miners stamp.
                if revocation.effective > self.timestamp {
                    return Err(EntryError::RevocationNotYetEffective);
                }
                grant.revoked_effective = Some(revocation.effective);
                self.changed.push(revocation.grant_id);
                Ok(())
            }
            Entry::Dispense(dispense) => {
                if !self.holds_active(&dispense.pharmacy_hash(), false, self.timestamp) {
                    return Err(EntryError::UnauthorizedDispenser);
                }
                self.check_dispense(&dispense)?;
                self.record_rx(index, Entry::Dispense(dispense));
                Ok(())
            }
            Entry::Cancellation(cancellation) => {
                self.check_canceller(&cancellation)?;
                self.check_prescription(&cancellation.prescription(), &cancellation.reason)?;
                self.record_rx(index, Entry::Cancellation(cancellation));
                Ok(())
            }
        }
    }

    fn is_authority(&self, key: &[u8]) -> bool {
        self.authorities.iter().any(|a| a[..] == *key)
    }

    fn add_grant(&mut self, grant: AnyGrant, index: usize) -> Result<(), EntryError> {
        // By content, not id: a second signature of a revoked grant (found
        // in an old block, say) is no way back in.
        let duplicate = self.grants.values().any(|g| match (&g.grant, &grant) {
            (AnyGrant::Doctor(a), AnyGrant::Doctor(b)) => a.same_content(b),
            (AnyGrant::Dispenser(a), AnyGrant::Dispenser(b)) => a.same_content(b),
            _ => false,
        });
        if duplicate {
            return Err(EntryError::DuplicateGrant);
        }
        let state = GrantState::new(grant, self.height, index, None);
        self.changed.push(state.id);
        self.grants.insert(state.id, state);
        Ok(())
    }

    /// Whether `holder` holds a grant of the kind (a doctor's or a
    /// dispenser's) active at `t`, with the block's entries so far applied.
    fn holds_active(&self, holder: &Hash160, doctors: bool, t: u64) -> bool {
        self.grants.values().any(|g| g.holder == *holder && g.is_doctors() == doctors && g.authorizes_at(t))
    }

    /// `unauthorized_canceller` unless the canceller is an authority, or
    /// the prescriber authorized at the block's time (any time in an open
    /// chain).
    fn check_canceller(&self, cancellation: &Cancellation) -> Result<(), EntryError> {
        if self.is_authority(&cancellation.canceller) {
            return Ok(());
        }
        let prescriber = cancellation.canceller_hash() == cancellation.dr_hash;
        if prescriber && (self.authorities.is_empty() || self.holds_active(&cancellation.dr_hash, true, self.timestamp)) {
            return Ok(());
        }
        Err(EntryError::UnauthorizedCanceller)
    }

    fn check_dispense(&self, dispense: &Dispense) -> Result<(), EntryError> {
        let prescription = dispense.prescription();
        let view = self.prescription(&prescription)?;
        if dispense.patient_hash() != view.record.patient_hash {
            return Err(EntryError::WrongPatient);
        }
        // A revocation backdated over a stolen key's prescriptions stops
        // their dispensing.
        if !self.authorities.is_empty() && !self.holds_active(&prescription.dr_hash, true, view.record.timestamp) {
            return Err(EntryError::PrescriberRevoked);
        }
        self.check_prescription(&prescription, &dispense.note)
    }

    fn prescription(&self, prescription: &PrescriptionRef) -> Result<&PrescriptionView, EntryError> {
        self.prescriptions
            .get(&(prescription.dr_hash, prescription.nonce))
            .filter(|view| view.record.record_hash == prescription.record_hash)
            .ok_or(EntryError::UnknownPrescription)
    }

    /// The checks every dispense and cancellation ends with, from
    /// `unknown_prescription` on (a dispense's own checks in between).
    fn check_prescription(&self, prescription: &PrescriptionRef, text: &str) -> Result<(), EntryError> {
        let view = self.prescription(prescription)?;
        if view.record.sealed && !text.is_empty() {
            return Err(EntryError::PublicTextOnSealed);
        }
        match view.rx.as_ref().map(|rx| &rx.entry) {
            Some(Entry::Dispense(_)) => Err(EntryError::AlreadyDispensed),
            Some(_) => Err(EntryError::PrescriptionCancelled),
            None => Ok(()),
        }
    }

    fn record_rx(&mut self, index: usize, entry: Entry) {
        let Some(prescription) = entry.prescription() else { return };
        let state = RxState { prescription, height: self.height, index, entry };
        if let Some(view) = self.prescriptions.get_mut(&(prescription.dr_hash, prescription.nonce)) {
            view.rx = Some(state.clone());
        }
        self.rx.push(state);
    }

    /// Whether a record by `dr_hash` may be in this block: always in an open
    /// chain; otherwise when the doctor holds a grant that authorizes at the
    /// block's timestamp, with the block's entries applied. A dispenser
    /// grant never authorizes records.
    pub(crate) fn authorizes(&self, dr_hash: &[u8]) -> bool {
        self.authorities.is_empty()
            || Hash160::from_slice(dr_hash).is_some_and(|doctor| self.holds_active(&doctor, true, self.timestamp))
    }

    /// What this block changed: the grants it added or revoked, as they now
    /// stand, and its dispenses and cancellations.
    pub(crate) fn changes(&self) -> RegistryChanges {
        let mut grants: Vec<GrantState> = Vec::with_capacity(self.changed.len());
        for id in &self.changed {
            if grants.iter().all(|g| g.id != *id) {
                if let Some(g) = self.grants.get(id) {
                    grants.push(g.clone());
                }
            }
        }
        RegistryChanges { grants, rx: self.rx.clone() }
    }
}

//! The registry of SPEC section 8.1 as chain state: which grants the active
//! chain holds, which are revoked, and whether a doctor may write at a time.
//!
//! A block's entries are checked against the registry as the active chain
//! leaves it plus the block's entries before them, and its records against
//! the registry after all its entries. [`BlockRegistry`] loads the part of
//! the registry a block can touch (the grants its entries name, the grants
//! of its records' doctors) from a [`RegistrySource`] (the store, or the
//! in-memory replay of `check` and `Walk`), then checks without I/O; its
//! [`BlockRegistry::changes`] are what the caller writes once the whole
//! block passed.

use std::collections::HashMap;

use crate::entry::{Entry, EntryError, EntryFields, Grant};
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
        self.read(|c| Ok(c.store.grants_of(dr_hash)?.into_iter().map(|g| g.registered).collect()))
    }

    /// Whether the active chain holds a grant that authorizes `dr_hash` at
    /// time `t` (`not_before <= t <= not_after`, not revoked with
    /// `effective <= t`): what a block at timestamp `t` on the tip asks of
    /// its records' doctors. Always `false` in an open chain, which has no
    /// grants (and where every doctor may write).
    pub fn is_authorized(&self, dr_hash: &Hash160, t: u64) -> Result<bool, ChainError> {
        Ok(self.grants(dr_hash)?.iter().any(|g| g.authorizes_at(t)))
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

/// A grant as the chain keeps it: the public view and its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GrantState {
    pub(crate) id: Hash256,
    pub(crate) doctor: Hash160,
    /// Index of the entry in its block, for ordering.
    pub(crate) index: usize,
    pub(crate) registered: RegisteredGrant,
}

impl GrantState {
    fn new(grant: Grant, height: u64, index: usize) -> GrantState {
        GrantState {
            id: grant.grant_id(),
            doctor: grant.dr_hash(),
            index,
            registered: RegisteredGrant { grant, height, revoked_effective: None },
        }
    }
}

/// Where the registry of the active chain is read from.
pub(crate) trait RegistrySource {
    /// The grant with this id, if the active chain holds it.
    fn grant(&self, id: &Hash256) -> Result<Option<GrantState>, ChainError>;
    /// Every grant of the doctor `dr_hash` in the active chain, in chain order.
    fn grants_of(&self, dr_hash: &Hash160) -> Result<Vec<GrantState>, ChainError>;
}

/// The registry kept in memory, by `check`'s replay and by [`super::Walk`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryRegistry {
    pub(crate) grants: HashMap<Hash256, GrantState>,
}

impl RegistrySource for MemoryRegistry {
    fn grant(&self, id: &Hash256) -> Result<Option<GrantState>, ChainError> {
        Ok(self.grants.get(id).cloned())
    }

    fn grants_of(&self, dr_hash: &Hash160) -> Result<Vec<GrantState>, ChainError> {
        let mut out: Vec<_> = self.grants.values().filter(|g| g.doctor == *dr_hash).cloned().collect();
        out.sort_by_key(|g| (g.registered.height, g.index));
        Ok(out)
    }
}

impl MemoryRegistry {
    /// Applies a connected block's changes.
    pub(crate) fn apply(&mut self, changes: &[GrantState]) {
        for change in changes {
            self.grants.insert(change.id, change.clone());
        }
    }
}

/// The chain's authorities as the entries name them: uncompressed SPKI DER
/// (the only form a valid entry's `authority` can have).
pub(crate) fn authority_keys(authorities: &[PublicKey]) -> Vec<Vec<u8>> {
    authorities.iter().map(PublicKey::to_spki_der).collect()
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
}

impl BlockRegistry {
    /// Loads what `block`'s entries and records can touch: the grants its
    /// revocations name, and every grant of the doctors its grants admit
    /// (for `duplicate_grant`) and its records are by. In an open chain (no
    /// authorities) nothing is loaded: every entry for this chain fails
    /// `unknown_authority` and every doctor may write.
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
        };
        if registry.authorities.is_empty() {
            return Ok(registry);
        }
        let mut granted = Vec::new();
        for entry in entries {
            match entry {
                EntryFields::Grant(g) => granted.push(sha1(&[g.dr_public_key])),
                // The chain's rules for SPEC 10's entries come with their
                // checks (`apply`).
                EntryFields::DispenserGrant(_) | EntryFields::Dispense(_) | EntryFields::Cancellation(_) => {}
                EntryFields::Revocation(r) => {
                    if let Some(id) = Hash256::from_slice(r.grant_id) {
                        if let Some(grant) = source.grant(&id)? {
                            registry.grants.insert(id, grant);
                        }
                    }
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for doctor in granted.into_iter().chain(doctors) {
            if seen.insert(doctor) {
                for grant in source.grants_of(&doctor)? {
                    registry.grants.insert(grant.id, grant);
                }
            }
        }
        Ok(registry)
    }

    /// Checks 3-6 of SPEC 8.1 for entry `index` (which passed checks 1-2),
    /// and applies it for the entries after it.
    pub(crate) fn apply(&mut self, index: usize, entry: &EntryFields<'_>) -> Result<(), EntryError> {
        if *entry.chain_id() != self.chain_id.as_bytes()[..] {
            return Err(EntryError::WrongChain);
        }
        match entry {
            EntryFields::Dispense(_) => return Err(EntryError::UnauthorizedDispenser),
            EntryFields::Cancellation(_) => return Err(EntryError::UnauthorizedCanceller),
            _ => {}
        }
        if !self.authorities.iter().any(|a| Some(&a[..]) == entry.authority()) {
            return Err(EntryError::UnknownAuthority);
        }
        // Checks 1-2 passed, so the typed entry can hold the fields.
        let entry = Entry::from_fields(entry)?;
        match entry {
            Entry::Grant(grant) => {
                // By content, not id: a second signature of a revoked grant
                // (found in an old block, say) is no way back in.
                if self.grants.values().any(|g| g.registered.grant.same_content(&grant)) {
                    return Err(EntryError::DuplicateGrant);
                }
                let state = GrantState::new(grant, self.height, index);
                self.changed.push(state.id);
                self.grants.insert(state.id, state);
            }
            Entry::Revocation(revocation) => {
                let grant = self.grants.get_mut(&revocation.grant_id).ok_or(EntryError::UnknownGrant)?;
                if grant.registered.revoked_effective.is_some() {
                    return Err(EntryError::AlreadyRevoked);
                }
                // Carried only once the chain's time has reached it, so that
                // it binds every later record whatever later miners stamp.
                if revocation.effective > self.timestamp {
                    return Err(EntryError::RevocationNotYetEffective);
                }
                grant.registered.revoked_effective = Some(revocation.effective);
                self.changed.push(revocation.grant_id);
            }
            Entry::DispenserGrant(_) | Entry::Dispense(_) | Entry::Cancellation(_) => return Err(EntryError::UnknownAuthority),
        }
        Ok(())
    }

    /// Whether a record by `dr_hash` may be in this block: always in an open
    /// chain; otherwise when the doctor holds a grant that authorizes at the
    /// block's timestamp, with the block's entries applied.
    pub(crate) fn authorizes(&self, dr_hash: &[u8]) -> bool {
        self.authorities.is_empty()
            || self.grants.values().any(|g| {
                g.doctor.as_bytes()[..] == *dr_hash && g.registered.authorizes_at(self.timestamp)
            })
    }

    /// The grants this block added or revoked, as they now stand.
    pub(crate) fn changes(&self) -> Vec<GrantState> {
        let mut out: Vec<GrantState> = Vec::with_capacity(self.changed.len());
        for id in &self.changed {
            if out.iter().all(|g| g.id != *id) {
                if let Some(g) = self.grants.get(id) {
                    out.push(g.clone());
                }
            }
        }
        out
    }
}

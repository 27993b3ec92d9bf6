//! Undo data: the states a connected block changed, as they were before it,
//! so that disconnecting it needs no replay; and the registry's undo, which
//! needs no stored data (see [`registry_undo`]).
//!
//! Encoding: entries of 37 bytes, sorted by hash: `hash (20) ‖ present (1:
//! 0 or 1) ‖ LE64(balance) ‖ LE64(nonce)`. "Not present" restores a user the
//! chain had never touched, so the `states` table is exactly as before.

use crate::block::UserState;
use crate::entry::Entry;
use crate::hash::{Hash160, Hash256};

const ENTRY_LEN: usize = 20 + 1 + 8 + 8;

/// Encodes `(hash, state before)` pairs.
pub(crate) fn encode<'a>(previous: impl IntoIterator<Item = (&'a Hash160, Option<UserState>)>) -> Vec<u8> {
    let mut entries: Vec<_> = previous.into_iter().collect();
    entries.sort_by_key(|(hash, _)| **hash);
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN);
    for (hash, state) in entries {
        out.extend_from_slice(hash.as_bytes());
        out.push(u8::from(state.is_some()));
        let state = state.unwrap_or_default();
        out.extend_from_slice(&state.balance.to_le_bytes());
        out.extend_from_slice(&state.nonce.to_le_bytes());
    }
    out
}

/// The inverse of [`encode`]; `None` when the bytes are not such entries.
pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<(Hash160, Option<UserState>)>> {
    if !bytes.len().is_multiple_of(ENTRY_LEN) {
        return None;
    }
    bytes
        .chunks_exact(ENTRY_LEN)
        .map(|entry| {
            let hash = Hash160::from_slice(&entry[..20])?;
            let word = |at: usize| entry[at..at + 8].try_into().ok().map(u64::from_le_bytes);
            let state = UserState { balance: word(21)?, nonce: word(29)? };
            match entry[20] {
                0 if state == UserState::default() => Some((hash, None)),
                1 => Some((hash, Some(state))),
                _ => None,
            }
        })
        .collect()
}

/// One step of undoing a block's entries in the registry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegistryUndo {
    /// The block granted this: forget the grant.
    Forget(Hash256),
    /// The block revoked this grant: it is no longer revoked.
    Unrevoke(Hash256),
}

/// The steps that undo a connected block's entries, last entry first.
///
/// Exact without stored data because a connected block's entries all passed
/// checks 3-6: each grant was new (`duplicate_grant`) and each revocation
/// revoked a grant that was not revoked (`already_revoked`), so forgetting
/// the one and clearing the other restores the registry as it was.
///
/// Dispenses and cancellations are not the registry's: their rows are
/// forgotten with their block's height.
pub(crate) fn registry_undo(entries: &[Entry]) -> impl Iterator<Item = RegistryUndo> + '_ {
    entries.iter().rev().filter_map(|entry| match entry {
        Entry::Grant(grant) => Some(RegistryUndo::Forget(grant.grant_id())),
        Entry::DispenserGrant(grant) => Some(RegistryUndo::Forget(grant.grant_id())),
        Entry::Revocation(revocation) => Some(RegistryUndo::Unrevoke(revocation.grant_id)),
        Entry::Dispense(_) | Entry::Cancellation(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let (a, b) = (Hash160::from_bytes([2; 20]), Hash160::from_bytes([1; 20]));
        let bytes = encode([(&a, Some(UserState { balance: 5, nonce: u64::MAX })), (&b, None)]);
        assert_eq!(decode(&bytes), Some(vec![(b, None), (a, Some(UserState { balance: 5, nonce: u64::MAX }))]));
        assert_eq!(decode(&bytes[1..]), None);
        let mut bad = bytes.clone();
        bad[20] = 2;
        assert_eq!(decode(&bad), None);
        assert_eq!(decode(&[]), Some(vec![]));
    }
}

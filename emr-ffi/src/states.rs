//! User states by 20-byte hash: `emr_user_states`.

use emr_core::{Hash160, UserState, UserStates};

use crate::ptr::{self, Out, OutHandle};
use crate::status::{emr_status, Error};

/// A map from 20-byte hash (doctor, patient or miner) to its state: a
/// balance and a record nonce. A hash absent from the map has balance 0 and
/// nonce 0. Entries are visited in ascending byte order of their hash.
/// Opaque.
pub struct emr_user_states {
    map: UserStates,
    /// The keys of `map`, sorted: the iteration order.
    order: Vec<Hash160>,
}

impl emr_user_states {
    pub(crate) fn from_map(map: UserStates) -> emr_user_states {
        let mut order: Vec<Hash160> = map.keys().copied().collect();
        order.sort_unstable();
        emr_user_states { map, order }
    }

    pub(crate) fn map(&self) -> &UserStates {
        &self.map
    }

    fn set(&mut self, hash: Hash160, state: UserState) {
        if self.map.insert(hash, state).is_none() {
            if let Err(position) = self.order.binary_search(&hash) {
                self.order.insert(position, hash);
            }
        }
    }
}

/// Makes an empty map.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if out is NULL.
/// Out:     out: a new map, freed by the caller with emr_user_states_free;
///               NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_user_states_new(out: *mut *mut emr_user_states) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        out.set(emr_user_states::from_map(UserStates::new()));
        Ok(())
    })
}

/// Sets the state of one hash, adding it if absent.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if states or hash20 is NULL.
/// Args:    states:  the map, changed.
/// In:      hash20:  the 20-byte hash.
///          balance: its balance.
///          nonce:   its nonce.
/// Thread-safety: no other thread may use the map during the call.
#[no_mangle]
pub unsafe extern "C" fn emr_user_states_set(
    states: *mut emr_user_states,
    hash20: *const u8,
    balance: u64,
    nonce: u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `states` and `hash20`.
        let states = unsafe { ptr::handle_mut(states, "states") }?;
        let hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(hash20, "hash20") }?);
        states.set(hash, UserState { balance, nonce });
        Ok(())
    })
}

/// Copies every entry of `changes` into `states`, replacing the states of
/// hashes present in both: how a block's changes are applied.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if states or changes is NULL.
/// Args:    states:  the map, changed.
/// In:      changes: the entries to apply (may be the result of
///                   emr_block_verify_and_get_changes). Must not be states.
/// Thread-safety: no other thread may use states during the call; changes
///          may be read concurrently.
#[no_mangle]
pub unsafe extern "C" fn emr_user_states_update(
    states: *mut emr_user_states,
    changes: *const emr_user_states,
) -> emr_status {
    ffi_boundary!({
        if states.is_null() {
            return Err(Error::null("states"));
        }
        if changes.is_null() {
            return Err(Error::null("changes"));
        }
        // Checked before any reference exists: `&mut` and `&` to one map
        // would alias.
        if core::ptr::eq(states.cast_const(), changes) {
            return Err(Error::invalid_argument("`changes` is `states`"));
        }
        // SAFETY: documented contracts; the two handles are distinct objects.
        let states = unsafe { ptr::handle_mut(states, "states") }?;
        let changes = unsafe { ptr::handle(changes, "changes") }?;
        for hash in &changes.order {
            states.set(*hash, changes.map[hash]);
        }
        Ok(())
    })
}

/// The state of one hash; an absent hash has balance 0 and nonce 0.
///
/// Returns: EMR_OK (present or not); EMR_NULL_ARGUMENT if states, hash20,
///          balance or nonce is NULL.
/// Args:    states:  the map.
/// In:      hash20:  the 20-byte hash.
/// Out:     balance: its balance.
///          nonce:   its nonce.
///          present: whether the hash is in the map; may be NULL if not
///                   wanted.
/// Thread-safety: safe to call concurrently with other readers of the map.
#[no_mangle]
pub unsafe extern "C" fn emr_user_states_get(
    states: *const emr_user_states,
    hash20: *const u8,
    balance: *mut u64,
    nonce: *mut u64,
    present: *mut bool,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let states = unsafe { ptr::handle(states, "states") }?;
        let hash = Hash160::from_bytes(*unsafe { ptr::array::<20>(hash20, "hash20") }?);
        let balance = unsafe { Out::new(balance, "balance") }?;
        let nonce = unsafe { Out::new(nonce, "nonce") }?;
        let present = unsafe { Out::optional(present) };
        let state = states.map.get(&hash);
        balance.write(state.map_or(0, |s| s.balance));
        nonce.write(state.map_or(0, |s| s.nonce));
        if let Some(present) = present {
            present.write(state.is_some());
        }
        Ok(())
    })
}

/// The number of entries.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if states or len is NULL.
/// Args:    states: the map.
/// Out:     len:    the number of entries.
/// Thread-safety: safe to call concurrently with other readers of the map.
#[no_mangle]
pub unsafe extern "C" fn emr_user_states_len(states: *const emr_user_states, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `states` and `len`.
        let states = unsafe { ptr::handle(states, "states") }?;
        let out = unsafe { Out::new(len, "len") }?;
        out.write(states.order.len());
        Ok(())
    })
}

/// The entry at a position, in ascending byte order of the hashes: index 0
/// is the smallest hash. Positions are stable until the map is changed.
///
/// Returns: EMR_OK; EMR_NOT_FOUND if index >= the number of entries (an
///          index past the end, see "Indexes" at the top of this header;
///          nothing is written); EMR_NULL_ARGUMENT if any pointer is NULL.
/// Args:    states:   the map.
/// In:      index:    0 ..= len - 1.
/// Out:     hash_out20: receives the 20-byte hash.
///          balance:  its balance.
///          nonce:    its nonce.
/// Thread-safety: safe to call concurrently with other readers of the map.
#[no_mangle]
pub unsafe extern "C" fn emr_user_states_entry_at(
    states: *const emr_user_states,
    index: usize,
    hash_out20: *mut u8,
    balance: *mut u64,
    nonce: *mut u64,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of every argument.
        let states = unsafe { ptr::handle(states, "states") }?;
        let hash_out = unsafe { ptr::out_array::<20>(hash_out20, "hash_out20") }?;
        let balance = unsafe { Out::new(balance, "balance") }?;
        let nonce = unsafe { Out::new(nonce, "nonce") }?;
        let hash = ptr::element(&states.order, index, "entries")?;
        let state = states.map[hash];
        hash_out.write(hash.to_bytes());
        balance.write(state.balance);
        nonce.write(state.nonce);
        Ok(())
    })
}

/// Frees a map. NULL is a no-op.
///
/// Args:    states: a map from this library, or NULL. Not usable afterwards.
/// Thread-safety: no other thread may use the map during or after the call.
#[no_mangle]
pub unsafe extern "C" fn emr_user_states_free(states: *mut emr_user_states) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live map or NULL, freed once.
        unsafe { ptr::free(states) }
    })
}

//! Addresses (`emrd1…`, `emrp1…`, `emrm1…`): no panic on any bytes, in any
//! role; an accepted address is the hash's one address up to letter case,
//! and the text and bytes entries agree.
#![no_main]

use emr_core::address::{decode, decode_bytes, decode_state_owner, encode};
use emr_core::Role;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = core::str::from_utf8(data).ok();
    for role in Role::ALL {
        let from_bytes = decode_bytes(data, role);
        if let Some(text) = text {
            assert_eq!(decode(text, role), from_bytes);
        }
        if let Ok(hash) = from_bytes {
            let canonical = encode(role, &hash);
            assert!(canonical.as_bytes().eq_ignore_ascii_case(data), "{canonical} accepted as {data:?}");
        }
    }
    if let Some(text) = text {
        if let Ok(address) = decode_state_owner(text) {
            assert!(matches!(address.role, Role::Doctor | Role::Miner));
            assert_eq!(decode(text, address.role), Ok(address.hash));
        }
    }
});

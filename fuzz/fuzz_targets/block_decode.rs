//! Block decoding: no panic on any bytes; every accepted input is the
//! canonical encoding of what it decodes to, and the decoded block's
//! verification does not panic.
#![no_main]

use emr_core::{Block, UserStates};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::from_bytes(data) {
        let encoded = block.to_bytes();
        assert_eq!(encoded, data, "decode → encode changed the bytes");
        assert_eq!(Block::from_bytes(&encoded).as_ref(), Ok(&block));
        let _ = block.verify_and_get_changes(block.difficulty, &UserStates::new(), emr_core::DEFAULT_BLOCK_REWARD);
    }
});

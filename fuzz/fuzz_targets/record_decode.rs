//! Record decoding: no panic on any bytes; every accepted input is the
//! canonical encoding of what it decodes to (decode → encode is the
//! identity on bytes, so decode → encode → decode is too).
#![no_main]

use emr_core::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::from_bytes(data) {
        let encoded = record.to_bytes();
        assert_eq!(encoded, data, "decode → encode changed the bytes");
        assert_eq!(Record::from_bytes(&encoded).as_ref(), Ok(&record));
        // Verification of whatever was decoded must not panic either.
        let _ = record.verify(record.nonce.wrapping_sub(1));
    }
});

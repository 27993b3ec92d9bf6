//! Opening a chain database whose bytes were changed: no panic, no hang,
//! and every answer is the undamaged file's or an error, never another
//! answer. The input is a list of edits (4 bytes each: a 24-bit offset into
//! the file, taken modulo its length, and a byte XORed there), optionally
//! followed by a truncation when the input's length is 2 mod 4 (to a
//! multiple of 512 bytes; to nothing is a file never written, which opens
//! as a new chain by design).
#![no_main]

use emr_core::chain::Chain;
use emr_fuzz::{chain_answers, chain_fixture, remove_db, scratch_dir};
use libfuzzer_sys::fuzz_target;

/// At most this many edits: more only slows each run down.
const MAX_EDITS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let fixture = chain_fixture();
    let mut bytes = fixture.bytes.clone();
    let mut changed = false;
    for edit in data.chunks_exact(4).take(MAX_EDITS) {
        let at = (usize::from(edit[0]) << 16 | usize::from(edit[1]) << 8 | usize::from(edit[2])) % bytes.len();
        changed |= edit[3] != 0;
        bytes[at] ^= edit[3];
    }
    if data.len() % 4 == 2 {
        let tail = &data[data.len() - 2..];
        let cut = (usize::from(tail[0]) << 8 | usize::from(tail[1])) * 512 % (bytes.len() + 1);
        changed |= cut != bytes.len();
        bytes.truncate(cut);
    }
    let path = scratch_dir().join("mutated.db");
    remove_db(&path);
    std::fs::write(&path, &bytes).unwrap();
    if bytes.is_empty() {
        // An empty file is a chain never written: `Chain::open` documents
        // that it creates a new one there, so "the undamaged answer" is an
        // empty chain's.
        let chain = Chain::open(&path, None).expect("an empty file opens as a new chain");
        assert_eq!(chain.len().ok(), Some(0));
        drop(chain);
        remove_db(&path);
        return;
    }
    match Chain::open(&path, None) {
        Err(_) => {}
        Ok(chain) => match chain_answers(&chain) {
            Err(_) => {}
            Ok(answers) => {
                if let Some((got, want)) = answers.iter().zip(&fixture.expected).find(|(a, b)| a != b) {
                    panic!("a changed file gave another answer (changed: {changed}):\n got  {got}\n want {want}");
                }
                assert_eq!(answers.len(), fixture.expected.len());
            }
        },
    }
    remove_db(&path);
});

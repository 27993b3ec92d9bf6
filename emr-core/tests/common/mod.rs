//! Helpers shared by the chain's integration tests (each test binary uses
//! some of them).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use emr_core::chain::{Chain, ChainParams};
use emr_core::{Block, Difficulty, Hash160, Hash256, Record, RecordFields};
use serde_json::Value;

pub const T0: u64 = 1_700_000_000;
pub const ZERO: Hash256 = Hash256::from_bytes([0; 32]);

/// Difficulty 1 accepts every id, and blocks 12 s apart keep it at 1.
pub fn params() -> ChainParams {
    ChainParams { initial_difficulty: Difficulty::MIN, window: 3, ..ChainParams::default() }
}

/// A block on `parent` (a genesis for `None`) 12 s later, with id set.
pub fn block_on(parent: Option<&Block>, miner: u8, records: Vec<Record>) -> Block {
    let (previous, height, timestamp) = match parent {
        Some(p) => (p.block_id, p.height + 1, p.timestamp + 12),
        None => (ZERO, 0, T0),
    };
    let mut block = Block {
        previous,
        height,
        miner: Hash160::from_bytes([miner; 20]),
        records,
        entries: Vec::new(),
        timestamp,
        difficulty: Difficulty::MIN,
        block_id: ZERO,
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

/// A database path in the temporary directory, removed (with its `-wal`,
/// `-shm` and any rollback `-journal`) on drop.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new(tag: &str) -> TempDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!("emr-{tag}-{}-{}.db", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        TempDb(std::env::temp_dir().join(name))
    }

    /// The path of a file beside the database (`-wal`, `-shm`, ...).
    pub fn with(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.0.display()))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(self.with(suffix));
        }
    }
}

/// A plain SQL connection to a chain database through the page-checksum
/// VFS ("emr-cksum", registered once a chain file has been opened in this
/// process): its writes carry valid page checksums, so the tests that edit
/// tables with it reach the chain's own consistency checks. (A write by a
/// plain SQLite is refused as damage.)
pub fn checksummed_sql(path: &std::path::Path) -> rusqlite::Connection {
    drop(Chain::open_readonly(path).unwrap());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE;
    rusqlite::Connection::open_with_flags_and_vfs(path, flags, "emr-cksum").unwrap()
}

// --- the shared JSON vectors ---------------------------------------------

pub fn vectors_dir() -> PathBuf {
    std::env::var_os("EMR_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
}

pub fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors are required at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

pub fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key} is a hex string"))).expect("valid hex")
}

pub fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is a string")).to_owned()
}

pub fn uint(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is a u64"))
}

/// Owned bytes of one JSON record, so views can borrow from it.
pub struct RawRecord {
    pub dr_hash: Vec<u8>,
    pub patient_hash: Vec<u8>,
    pub dr_public_key: Vec<u8>,
    pub prescription: String,
    pub nonce: u64,
    pub signature: Vec<u8>,
    pub txid: Vec<u8>,
}

impl RawRecord {
    pub fn from_json(v: &Value) -> RawRecord {
        RawRecord {
            dr_hash: hex_field(v, "dr_hash"),
            patient_hash: hex_field(v, "patient_hash"),
            dr_public_key: hex_field(v, "dr_public_key"),
            prescription: text(v, "prescription"),
            nonce: uint(v, "nonce"),
            signature: hex_field(v, "signature"),
            txid: hex_field(v, "txid"),
        }
    }

    pub fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            dr_hash: &self.dr_hash,
            patient_hash: &self.patient_hash,
            dr_public_key: &self.dr_public_key,
            prescription: Some(&self.prescription),
            nonce: self.nonce,
            signature: &self.signature,
            txid: &self.txid,
        }
    }
}

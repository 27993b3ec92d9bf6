//! Helpers shared by the chain's integration tests (each test binary uses
//! some of them).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use emr_core::chain::{Chain, ChainError, ChainParams};
use emr_core::{
    Block, BlockError, BlockFields, CancellationFields, Difficulty, DispenseFields, DispenserGrantFields, EntryFields,
    GrantFields, Hash160, Hash256, Record, RecordFields, RevocationFields,
};
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

/// `(r, n - s)`: the other valid form of a strict-DER ECDSA signature by
/// `key`, which anyone can make without the key (SPEC section 2).
pub fn flip_s(signature: &[u8], key: &emr_core::SigningKey) -> Vec<u8> {
    const P256: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
        0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    ];
    const SECP256K1: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc,
        0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    ];
    let order = match key.curve() {
        emr_core::Curve::P256 => &P256,
        emr_core::Curve::Secp256k1 => &SECP256K1,
    };
    // SEQUENCE { INTEGER r, INTEGER s }, short lengths (a signature is < 128 bytes).
    let r_len = usize::from(signature[3]);
    let r = &signature[4..4 + r_len];
    let s = &signature[6 + r_len..];
    let mut padded = [0u8; 32];
    let s = &s[s.len().saturating_sub(32)..];
    padded[32 - s.len()..].copy_from_slice(s);
    let mut flipped = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let diff = i16::from(order[i]) - i16::from(padded[i]) - borrow;
        borrow = i16::from(diff < 0);
        flipped[i] = diff.rem_euclid(256) as u8;
    }
    let integer = |bytes: &[u8]| {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
        let mut out = if bytes[start] & 0x80 != 0 { vec![0] } else { vec![] };
        out.extend_from_slice(&bytes[start..]);
        out
    };
    let (r, s) = (integer(r), integer(&flipped));
    let mut out = vec![0x30, (4 + r.len() + s.len()) as u8, 0x02, r.len() as u8];
    out.extend_from_slice(&r);
    out.extend_from_slice(&[0x02, s.len() as u8]);
    out.extend_from_slice(&s);
    out
}

/// Rewrites a chain database's stored parameters as format 2 (before SPEC
/// v1.2) wrote them: the first five values and their SHA-256, without
/// `max_future` and the salt.
pub fn write_format_2_params(sql: &rusqlite::Connection) {
    let bytes: Vec<u8> = sql.query_row("SELECT value FROM meta WHERE key = 'params'", [], |r| r.get(0)).unwrap();
    let mut old = bytes[..48].to_vec();
    let digest = emr_core::hash::sha256(&[&old]);
    old.extend_from_slice(digest.as_bytes());
    sql.execute("UPDATE meta SET value = ?1 WHERE key = 'params'", [old]).unwrap();
}

/// Owned bytes of one JSON entry (the vectors' `type`: `grant`,
/// `revocation`, `dispenser_grant`, `dispense`, `cancel`), so that views
/// can borrow from it: fields of any length, as the vectors give them.
pub enum RawEntry {
    Grant {
        chain_id: Vec<u8>,
        dr_public_key: Vec<u8>,
        licence: String,
        not_before: u64,
        not_after: u64,
        authority: Vec<u8>,
        signature: Vec<u8>,
    },
    Revocation { chain_id: Vec<u8>, grant_id: Vec<u8>, effective: u64, authority: Vec<u8>, signature: Vec<u8> },
    DispenserGrant {
        chain_id: Vec<u8>,
        pharmacy_public_key: Vec<u8>,
        licence: String,
        not_before: u64,
        not_after: u64,
        authority: Vec<u8>,
        signature: Vec<u8>,
    },
    Dispense {
        chain_id: Vec<u8>,
        dr_hash: Vec<u8>,
        nonce: u64,
        record_hash: Vec<u8>,
        pharmacy_public_key: Vec<u8>,
        patient_public_key: Vec<u8>,
        note: String,
        signature: Vec<u8>,
        patient_signature: Vec<u8>,
    },
    Cancel {
        chain_id: Vec<u8>,
        dr_hash: Vec<u8>,
        nonce: u64,
        record_hash: Vec<u8>,
        canceller: Vec<u8>,
        reason: String,
        signature: Vec<u8>,
    },
}

impl RawEntry {
    pub fn from_json(v: &Value) -> RawEntry {
        match v["type"].as_str() {
            Some("grant") => RawEntry::Grant {
                chain_id: hex_field(v, "chain_id"),
                dr_public_key: hex_field(v, "dr_public_key"),
                licence: text(v, "licence"),
                not_before: uint(v, "not_before"),
                not_after: uint(v, "not_after"),
                authority: hex_field(v, "authority"),
                signature: hex_field(v, "signature"),
            },
            Some("revocation") => RawEntry::Revocation {
                chain_id: hex_field(v, "chain_id"),
                grant_id: hex_field(v, "grant_id"),
                effective: uint(v, "effective"),
                authority: hex_field(v, "authority"),
                signature: hex_field(v, "signature"),
            },
            Some("dispenser_grant") => RawEntry::DispenserGrant {
                chain_id: hex_field(v, "chain_id"),
                pharmacy_public_key: hex_field(v, "pharmacy_public_key"),
                licence: text(v, "licence"),
                not_before: uint(v, "not_before"),
                not_after: uint(v, "not_after"),
                authority: hex_field(v, "authority"),
                signature: hex_field(v, "signature"),
            },
            Some("dispense") => RawEntry::Dispense {
                chain_id: hex_field(v, "chain_id"),
                dr_hash: hex_field(v, "dr_hash"),
                nonce: uint(v, "nonce"),
                record_hash: hex_field(v, "record_hash"),
                pharmacy_public_key: hex_field(v, "pharmacy_public_key"),
                patient_public_key: hex_field(v, "patient_public_key"),
                note: text(v, "note"),
                signature: hex_field(v, "signature"),
                patient_signature: hex_field(v, "patient_signature"),
            },
            Some("cancel") => RawEntry::Cancel {
                chain_id: hex_field(v, "chain_id"),
                dr_hash: hex_field(v, "dr_hash"),
                nonce: uint(v, "nonce"),
                record_hash: hex_field(v, "record_hash"),
                canceller: hex_field(v, "canceller"),
                reason: text(v, "reason"),
                signature: hex_field(v, "signature"),
            },
            other => panic!("unknown entry type {other:?}"),
        }
    }

    pub fn fields(&self) -> EntryFields<'_> {
        match self {
            RawEntry::Grant { chain_id, dr_public_key, licence, not_before, not_after, authority, signature } => {
                EntryFields::Grant(GrantFields {
                    chain_id,
                    dr_public_key,
                    licence: Some(licence),
                    not_before: *not_before,
                    not_after: *not_after,
                    authority,
                    signature,
                })
            }
            RawEntry::Revocation { chain_id, grant_id, effective, authority, signature } => {
                EntryFields::Revocation(RevocationFields {
                    chain_id,
                    grant_id,
                    effective: *effective,
                    authority,
                    signature,
                })
            }
            RawEntry::DispenserGrant {
                chain_id,
                pharmacy_public_key,
                licence,
                not_before,
                not_after,
                authority,
                signature,
            } => EntryFields::DispenserGrant(DispenserGrantFields {
                chain_id,
                pharmacy_public_key,
                licence: Some(licence),
                not_before: *not_before,
                not_after: *not_after,
                authority,
                signature,
            }),
            RawEntry::Dispense {
                chain_id,
                dr_hash,
                nonce,
                record_hash,
                pharmacy_public_key,
                patient_public_key,
                note,
                signature,
                patient_signature,
            } => EntryFields::Dispense(DispenseFields {
                chain_id,
                dr_hash,
                nonce: *nonce,
                record_hash,
                pharmacy_public_key,
                patient_public_key,
                note: Some(note),
                signature,
                patient_signature,
            }),
            RawEntry::Cancel { chain_id, dr_hash, nonce, record_hash, canceller, reason, signature } => {
                EntryFields::Cancellation(CancellationFields {
                    chain_id,
                    dr_hash,
                    nonce: *nonce,
                    record_hash,
                    canceller,
                    reason: Some(reason),
                    signature,
                })
            }
        }
    }
}

/// Owned bytes of one JSON block.
pub struct RawBlock {
    pub previous: Vec<u8>,
    pub height: u64,
    pub miner: Vec<u8>,
    pub records: Vec<RawRecord>,
    pub entries: Vec<RawEntry>,
    pub timestamp: u64,
    pub difficulty: u128,
    pub block_id: Vec<u8>,
    pub nonce: u64,
}

impl RawBlock {
    pub fn from_json(v: &Value) -> RawBlock {
        RawBlock {
            previous: hex_field(v, "previous"),
            height: uint(v, "height"),
            miner: hex_field(v, "miner"),
            records: v["records"].as_array().unwrap().iter().map(RawRecord::from_json).collect(),
            entries: v["entries"].as_array().unwrap().iter().map(RawEntry::from_json).collect(),
            timestamp: uint(v, "timestamp"),
            difficulty: u128::from(uint(v, "difficulty")),
            block_id: hex_field(v, "block_id"),
            nonce: uint(v, "nonce"),
        }
    }

    pub fn fields(&self) -> BlockFields<'_> {
        BlockFields {
            previous: &self.previous,
            height: self.height,
            miner: &self.miner,
            records: self.records.iter().map(RawRecord::fields).collect(),
            entries: self.entries.iter().map(RawEntry::fields).collect(),
            timestamp: self.timestamp,
            difficulty: self.difficulty,
            block_id: &self.block_id,
            nonce: self.nonce,
        }
    }
}

/// `record:0:unauthorized_doctor`, `entry:1:invalid_entry_signature`,
/// `too_many_entries`: the vectors' spelling of a block error.
pub fn block_error_name(error: &BlockError) -> String {
    match error {
        BlockError::Record { index, error } => format!("record:{index}:{}", error.kind()),
        BlockError::Entry { index, error } => format!("entry:{index}:{}", error.kind()),
        other => other.kind().as_str().to_owned(),
    }
}

/// The vectors' spelling of a chain's refusal of a block: its block
/// error's, else the chain error's kind (`timestamp_too_early`, ...).
pub fn chain_error_name(error: &ChainError) -> String {
    match error {
        ChainError::Block { error, .. } => block_error_name(error),
        other => other.kind().as_str().to_owned(),
    }
}

pub fn expected_error(case: &Value) -> Option<String> {
    case["expected"].get("error").map(|e| e.as_str().unwrap().to_owned())
}

//! Fixtures shared by the fuzz targets (one file per target in
//! `fuzz_targets/`; adding one is a file there, a `[[bin]]` in Cargo.toml and
//! a seed directory in `corpus/`).
//!
//! Every fixture is deterministic: keys are fixed, secp256k1 signatures are
//! RFC 6979, so an input saved by one run means the same thing in the next.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use emr_core::chain::{BatchOptions, Chain, ChainParams};
use emr_core::{Block, Difficulty, Hash160, Hash256, PublicKey, Record, SigningKey};

/// A secp256k1 doctor key (the shared vectors' `secp256k1-key0`).
pub const SECP256K1_PKCS8: &str = "308184020100301006072a8648ce3d020106052b8104000a046d306b0201010420306164a0e23f8824e88df33040a8891cdc482bf07ccdfb6e6453ca3707891c2fa14403420004f5a481292eb398a7b25bd1fd6b290ccbc436f7790a3ccdf35770333568b59a5fcdde4d34f6c5517f3776774d60302e7d6c06267fbe260fa2df5a5bfd9b3c31de";
/// A P-256 doctor key (the shared vectors' `P-256-key0`).
pub const P256_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420bb7e8c7496c6c5de28eb058a562f42cd94fdac8129f5c1b0a83aa772cf8afacfa14403420004916928d5f6bccba0e59e9cb6d2d622ed44ba1a7a938e4bcebb340bfe41f647ea0b8fd1d00a49dca184d1c254073c55427db20aff18b428fd35e699c9a074fd88";

/// The two doctor keys, secp256k1 first.
pub fn keys() -> &'static [SigningKey; 2] {
    static KEYS: OnceLock<[SigningKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [SECP256K1_PKCS8, P256_PKCS8].map(|k| SigningKey::from_der(&hex::decode(k).unwrap()).unwrap())
    })
}

/// One valid record per key, signed over a fixed patient and prescription
/// with nonce 1 (previous nonce 0).
pub fn base_records() -> &'static [Record; 2] {
    static RECORDS: OnceLock<[Record; 2]> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let [k1, p256] = keys();
        [k1, p256].map(|key| Record::sign(key, &[7; 20], "Amoxicillin 500mg, 3x daily", 1).unwrap())
    })
}

/// The Wycheproof message most ECDSA cases sign ("123400").
pub const WYCHEPROOF_MSG: &[u8] = b"123400";

/// The key of Wycheproof's large ECDSA group (the second) on each curve
/// (secp256k1, P-256); most of its cases sign [`WYCHEPROOF_MSG`].
pub fn wycheproof_keys() -> &'static [PublicKey; 2] {
    static KEYS: OnceLock<[PublicKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            "3056301006072a8648ce3d020106052b8104000a03420004b838ff44e5bc177bf21189d0766082fc9d843226887fc9760371100b7ee20a6ff0c9d75bfba7b31a6bca1974496eeb56de357071955d83c4b1badaa0b21832e9",
            "3059301306072a8648ce3d020106082a8648ce3d030107034200042927b10512bae3eddcfe467828128bad2903269919f7086069c8c4df6c732838c7787964eaac00e5921fb1498a60f4606766b3d9685001558d1a974e7341513e",
        ]
        .map(|der| PublicKey::from_spki_der(&hex::decode(der).unwrap()).unwrap())
    })
}

/// Every question the chain target asks of a copy of the fixture.
pub fn chain_answers(chain: &Chain) -> Result<Vec<String>, String> {
    let fixture = chain_fixture();
    answers(chain, fixture.blocks, &fixture.txids)
}

/// Every question asked of a chain of `blocks` blocks holding `txids`, with
/// its answer, rendered as text; `Err` at the first query that reports an
/// error.
fn answers(chain: &Chain, blocks: u64, txids: &[Hash256]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    macro_rules! ask {
        ($label:expr, $query:expr) => {
            match $query {
                Ok(answer) => out.push(format!("{}: {:?}", $label, answer)),
                Err(e) => return Err(format!("{}: {e}", $label)),
            }
        };
    }
    ask!("tip", chain.tip());
    ask!("len", chain.len());
    ask!("total_difficulty", chain.total_difficulty());
    ask!("next_difficulty", chain.next_difficulty());
    let doctors: Vec<Hash160> = keys().iter().map(SigningKey::public_key_hash).collect();
    for user in doctors.iter().copied().chain([Hash160::from_bytes([1; 20]), Hash160::from_bytes([2; 20])]) {
        ask!("user_state", chain.user_state(&user));
    }
    for patient in 0..4u8 {
        ask!("patient_history", chain.patient_history(&Hash160::from_bytes([patient; 20])));
    }
    for doctor in &doctors {
        ask!("doctor_records", chain.doctor_records(doctor));
    }
    for txid in txids.iter().chain([&Hash256::from_bytes([0xab; 32])]) {
        ask!("find_record", chain.find_record(txid));
    }
    for height in 0..=blocks + 1 {
        ask!("block_at", chain.block_at(height).map(|b| b.map(|b| b.to_bytes())));
    }
    ask!("check", chain.check(&BatchOptions::default()).map(|r| r.first_bad));
    Ok(out)
}

/// A small closed chain database and its undamaged answers.
pub struct ChainFixture {
    /// The database file's bytes.
    pub bytes: Vec<u8>,
    /// Its active length.
    pub blocks: u64,
    /// The txids of its records.
    pub txids: Vec<Hash256>,
    /// [`chain_answers`] on the undamaged file.
    pub expected: Vec<String>,
}

/// A per-process scratch directory (in /dev/shm when there is one: the
/// chain target writes a file per execution).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("emr-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Removes a database file and the files SQLite keeps beside it.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Twelve blocks with records from both doctors (secp256k1 only, so that the
/// file's bytes are the same in every run), one side branch, closed cleanly.
pub fn chain_fixture() -> &'static ChainFixture {
    static FIXTURE: OnceLock<ChainFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = scratch_dir().join("fixture.db");
        remove_db(&path);
        let params = ChainParams { initial_difficulty: Difficulty::MIN, window: 3, ..ChainParams::default() };
        let key = &keys()[0];
        let mut chain = Chain::open(&path, Some(params)).unwrap();
        let mut blocks: Vec<Block> = Vec::new();
        let mut txids = Vec::new();
        let mut nonce = 0;
        for i in 0..12u64 {
            let records: Vec<Record> = (0..i % 3)
                .map(|_| {
                    nonce += 1;
                    let r = Record::sign(key, &[(i % 4) as u8; 20], "Ibuprofen 200mg", nonce).unwrap();
                    txids.push(r.txid);
                    r
                })
                .collect();
            blocks.push(block_on(blocks.last(), 1, records));
        }
        chain.add_blocks(&blocks, None, &BatchOptions::default()).unwrap();
        let side = block_on(Some(&blocks[8]), 2, vec![]);
        chain.add_block(&side, None).unwrap();
        let expected = answers(&chain, 12, &txids).unwrap();
        drop(chain);
        let bytes = std::fs::read(&path).unwrap();
        remove_db(&path);
        ChainFixture { bytes, blocks: 12, txids, expected }
    })
}

/// A block on `parent` (a genesis for `None`) 12 s later, difficulty 1.
pub fn block_on(parent: Option<&Block>, miner: u8, records: Vec<Record>) -> Block {
    let (previous, height, timestamp) = match parent {
        Some(p) => (p.block_id, p.height + 1, p.timestamp + 12),
        None => (Hash256::from_bytes([0; 32]), 0, 1_700_000_000),
    };
    let mut block = Block {
        previous,
        height,
        miner: Hash160::from_bytes([miner; 20]),
        records,
        entries: Vec::new(),
        timestamp,
        difficulty: Difficulty::MIN,
        block_id: Hash256::from_bytes([0; 32]),
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

/// RFC 4648 base64url without padding, written out here (not emr-core's
/// engine) so that the sealed target checks the library's decoder against
/// an independent one.
pub mod base64url {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// The unpadded encoding of `bytes`.
    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    }

    /// Decodes unpadded text, leniently (trailing bits ignored): `None` for
    /// a character outside the alphabet or a length of 1 mod 4. A text is
    /// canonical when `encode(decode(text)) == text`.
    pub fn decode_lenient(text: &str) -> Option<Vec<u8>> {
        let values = text
            .bytes()
            .map(|c| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32))
            .collect::<Option<Vec<u32>>>()?;
        if values.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(values.len() * 3 / 4);
        for chunk in values.chunks(4) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &v)| n | v << (18 - 6 * i));
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        Some(out)
    }
}

/// Check 3 of SPEC section 2 as section 8.2 amends it, written out again
/// from the text (with [`base64url`], not emr-core's engine): the oracle of
/// `record_verify` (where check 3 sits in the check order) and of
/// `sealed_open` (the envelope rules in depth). emr-core's own rule is
/// crate-private; its public effects are `RecordFields::verify` and
/// `RecordFields::sealed_recipients`, which these are compared with.
pub mod sealed_spec {
    use super::base64url;

    /// What a sealed prescription's text starts with.
    pub const PREFIX: &str = "sealed1:";
    /// A recipient slot: key hash, curve byte, compressed point, wrapped key.
    pub const SLOT_LEN: usize = 20 + 1 + 33 + 48;

    /// The recipients' key hashes of a well-formed `sealed1:` text (every
    /// rule of check 3 but the patient's), or `None`: over 1,024 bytes, not
    /// canonical base64url, version not 1, n outside 1..4, a curve byte not
    /// 1 or 2, E not a compressed point on that curve, a ciphertext outside
    /// 16..216 bytes.
    pub fn recipients(text: &str) -> Option<Vec<[u8; 20]>> {
        if text.len() > 1024 {
            return None;
        }
        let encoded = text.strip_prefix(PREFIX)?;
        let envelope = base64url::decode_lenient(encoded)?;
        if base64url::encode(&envelope) != encoded {
            return None; // not canonical
        }
        let (&[version, n], rest) = envelope.split_first_chunk::<2>()?;
        let n = usize::from(n);
        if version != 1 || !(1..=4).contains(&n) || rest.len() < n * SLOT_LEN {
            return None;
        }
        let (slots, ciphertext) = rest.split_at(n * SLOT_LEN);
        if !(16..=216).contains(&ciphertext.len()) {
            return None;
        }
        slots
            .chunks(SLOT_LEN)
            .map(|slot| {
                let point = &slot[21..54];
                let on_curve = matches!(point[0], 2 | 3)
                    && match slot[20] {
                        1 => secp256k1::PublicKey::from_slice(point).is_ok(),
                        2 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
                        _ => false,
                    };
                on_curve.then(|| slot[..20].try_into().unwrap())
            })
            .collect()
    }

    /// Whether check 3 passes: `None` (not text) fails; a text starting
    /// with `sealed1:` passes when well-formed ([`recipients`]) with the
    /// patient among its recipients, whatever its length up to 1,024
    /// bytes; any other text when it is at most 200 UTF-8 bytes.
    pub fn check3(text: Option<&str>, patient_hash: &[u8]) -> bool {
        match text {
            None => false,
            Some(t) if t.starts_with(PREFIX) => recipients(t).is_some_and(|r| r.iter().any(|h| h[..] == *patient_hash)),
            Some(t) => t.len() <= 200,
        }
    }
}

/// One record of `sealed.json`, with what the vectors say it opens to.
pub struct SealedCase {
    /// The vector's name.
    pub name: String,
    /// The record's `dr_hash` (the fields below are the record's too).
    pub dr_hash: Vec<u8>,
    /// 20 bytes.
    pub patient_hash: Vec<u8>,
    /// The signing doctor's SPKI.
    pub dr_public_key: Vec<u8>,
    /// The sealed (or broken) text.
    pub prescription: String,
    /// The record's nonce.
    pub nonce: u64,
    /// The record's signature.
    pub signature: Vec<u8>,
    /// The record's txid.
    pub txid: Vec<u8>,
    /// The nonce the record verifies against.
    pub previous_nonce: u64,
    /// The text the record was sealed from (`construction.plaintext`).
    pub plaintext: String,
    /// Whether the vectors call the record valid.
    pub valid: bool,
    /// For each recipient of `sealed_vectors().recipients` the vectors
    /// name: the opening's text, or its error kind.
    pub opens: Vec<(usize, Result<String, String>)>,
}

/// `sealed.json` (built into the targets, so that a saved input keeps its
/// meaning): its recipients' keys and its records.
pub struct SealedVectors {
    /// Every recipient key of the vectors, in file order.
    pub recipients: Vec<SigningKey>,
    /// Every record of the vectors, in file order.
    pub cases: Vec<SealedCase>,
}

/// The parsed `sealed.json`.
pub fn sealed_vectors() -> &'static SealedVectors {
    static VECTORS: OnceLock<SealedVectors> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let file: serde_json::Value =
            serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/sealed.json")))
                .unwrap();
        let unhex = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
        let names: Vec<&str> = file["recipients"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        let recipients = file["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| SigningKey::from_der(&unhex(&r["private_key_pkcs8"])).unwrap())
            .collect();
        let cases = file["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|case| {
                let r = &case["record"];
                SealedCase {
                    name: case["name"].as_str().unwrap().to_owned(),
                    dr_hash: unhex(&r["dr_hash"]),
                    patient_hash: unhex(&r["patient_hash"]),
                    dr_public_key: unhex(&r["dr_public_key"]),
                    prescription: r["prescription"].as_str().unwrap().to_owned(),
                    nonce: r["nonce"].as_u64().unwrap(),
                    signature: unhex(&r["signature"]),
                    txid: unhex(&r["txid"]),
                    previous_nonce: case["previous_nonce"].as_u64().unwrap(),
                    plaintext: case["construction"]["plaintext"].as_str().unwrap().to_owned(),
                    valid: case["expected"] == "valid",
                    opens: case["opens"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| {
                            let who = names.iter().position(|n| o["recipient"] == *n).unwrap();
                            let result = match o.get("plaintext") {
                                Some(p) => Ok(p.as_str().unwrap().to_owned()),
                                None => Err(o["error"].as_str().unwrap().to_owned()),
                            };
                            (who, result)
                        })
                        .collect(),
                }
            })
            .collect();
        SealedVectors { recipients, cases }
    })
}

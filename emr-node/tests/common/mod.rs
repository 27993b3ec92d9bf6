//! Chains, keys and certificates for the node's tests: chains of
//! difficulty 1 without retargeting (`max_adjust` 1), so a block is mined
//! at once and a chain's work is its length.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use emr_core::chain::{Chain, ChainParams};
use emr_core::{Block, Difficulty, Hash160, Hash256, Record, SigningKey};
use emr_node::pki::{self, Authority, Credentials, Issued};

pub const MINER: Hash160 = Hash160::from_bytes([7; 20]);
pub const PATIENT: Hash160 = Hash160::from_bytes([9; 20]);

pub fn params(salt: u8) -> ChainParams {
    ChainParams {
        initial_difficulty: Difficulty::MIN,
        max_adjust: 1,
        salt: Some([salt; 16]),
        ..ChainParams::default()
    }
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The tip's next block with every ready record, its id meeting
/// difficulty 1 as any id does.
pub fn next_block(chain: &Chain, miner: &Hash160) -> Block {
    let template = chain.template(miner, now()).unwrap();
    let mut block = Block {
        previous: template.previous,
        height: template.height,
        miner: template.miner,
        records: template.records,
        entries: template.entries,
        timestamp: template.timestamp,
        difficulty: template.difficulty,
        block_id: Hash256::from_bytes([0; 32]),
        nonce: 0,
    };
    block.block_id = block.calculate_block_id();
    block
}

/// Adds `n` blocks to `chain`, each with the records then pending.
pub fn grow(chain: &mut Chain, n: usize, miner: &Hash160) -> Vec<Block> {
    (0..n)
        .map(|_| {
            let block = next_block(chain, miner);
            chain.add_block(&block, None).unwrap();
            block
        })
        .collect()
}

/// A chain file in `dir` with `blocks` blocks.
pub fn chain_file(dir: &Path, salt: u8, blocks: usize) -> PathBuf {
    let path = dir.join("chain.db");
    let mut chain = Chain::open(&path, Some(params(salt))).unwrap();
    grow(&mut chain, blocks, &MINER);
    path
}

pub fn doctor() -> SigningKey {
    SigningKey::generate(emr_core::Curve::Secp256k1).unwrap()
}

pub fn record(key: &SigningKey, nonce: u64, text: &str) -> Record {
    Record::sign(key, PATIENT.as_bytes(), text, nonce).unwrap()
}

/// Polls `f` every 20 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

pub struct Consortium {
    pub ca: Issued,
    authority: Authority,
}

impl Consortium {
    pub fn new(name: &str) -> Consortium {
        let ca = pki::new_authority(name, pki::DEFAULT_CA_DAYS).unwrap();
        let authority = Authority::from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap();
        Consortium { ca, authority }
    }

    /// A node certificate for 127.0.0.1.
    pub fn node(&self) -> Issued {
        self.authority.issue(&["127.0.0.1".to_string()], pki::DEFAULT_NODE_DAYS).unwrap()
    }

    pub fn credentials(&self, node: &Issued) -> Credentials {
        Credentials::from_pem(self.ca.cert_pem.as_bytes(), node.cert_pem.as_bytes(), node.key_pem.as_bytes()).unwrap()
    }
}

//! A chain directory: `DIR/chain.db`, the core's `Chain`, whose database
//! also holds the pool of records submitted but not yet mined (the core's
//! `submit`, `pending`, `template`). Records of a block undone or dropped by
//! a reorganisation return to the pool; records sealed in an imported block
//! leave it.
//!
//! `mine_next` here mines the core's template and adds the block through
//! the one handle this process holds: another writer cannot open the chain
//! meanwhile (`locked`), so nothing can race it, and the search statistics
//! stay available for the progress display.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub use emr_core::chain::SubmitOutcome;
pub use emr_core::chain::CHAIN_FILE;
use emr_core::chain::{AddOutcome, Chain, ChainParams};
use emr_core::mining::{mine_block, BlockTemplate, MineOutcome, SearchOptions, SearchStats};
use emr_core::{Block, Entry, Hash160, Record};

use crate::error::{file_error, CliError};

/// How one `mine_next` ended.
pub enum Mined {
    /// A block was found and added to the chain.
    Added {
        block: Block,
        outcome: AddOutcome,
        stats: SearchStats,
    },
    /// The search stopped without a block (cancelled, timed out, range exhausted).
    Stopped { outcome: MineOutcome },
}

/// The current Unix time in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Creates `dir` and its missing parents, syncing the parent of each one
/// it creates: a new directory's entry lives in its parent, and until that
/// is synced a power cut may take the directory, and the chain created in
/// it, away after `init` returned. (The chain file's own entry in `dir` is
/// synced by SQLite, at the first sync of the chain's new WAL.)
fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    let parent_of = |d: &Path| match d.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let mut missing = Vec::new();
    let mut at = dir.to_path_buf();
    while fs::symlink_metadata(&at).is_err() && at.parent().is_some() {
        let parent = parent_of(&at);
        missing.push(at);
        at = parent;
    }
    for d in missing.iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => fs::File::open(parent_of(d))?.sync_all()?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    if fs::metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"))
    }
}

/// An open chain directory.
pub struct Node {
    chain: Chain,
}

impl Node {
    /// Creates a chain in `dir` (made if missing); refuses a directory that
    /// already holds one.
    pub fn init(dir: &Path, params: ChainParams) -> Result<Node, CliError> {
        create_dir_durably(dir).map_err(|e| file_error(dir, e))?;
        let db = dir.join(CHAIN_FILE);
        if db.exists() {
            return Err(CliError::invalid_argument(format!(
                "{} already holds a chain",
                dir.display()
            )));
        }
        let chain = Chain::open(&db, Some(params))?;
        Ok(Node { chain })
    }

    /// Opens the chain in `dir`: for writing (one writer at a time,
    /// `locked` otherwise) or for reading (beside a writer).
    pub fn open(dir: &Path, write: bool) -> Result<Node, CliError> {
        let db = dir.join(CHAIN_FILE);
        if !db.is_file() {
            return Err(CliError::not_found(format!(
                "no chain in {} (create one with `emr chain init {}`)",
                dir.display(),
                dir.display()
            )));
        }
        let chain = if write {
            Chain::open(&db, None)?
        } else {
            Chain::open_readonly(&db)?
        };
        Ok(Node { chain })
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    pub fn chain_mut(&mut self) -> &mut Chain {
        &mut self.chain
    }

    /// Adds a record to the chain's pool of pending records (stored in the
    /// chain's database). The record must verify as its doctor's
    /// `nonce`-th record, and that nonce must not be used on the chain yet
    /// (`invalid_nonce`).
    pub fn submit(&mut self, record: &Record) -> Result<SubmitOutcome, CliError> {
        Ok(self.chain.submit(record)?)
    }

    /// Adds a grant or revocation to the chain's pool, for the next blocks
    /// (checked as a block would check it after the pending entries).
    pub fn submit_entry(&mut self, entry: &Entry) -> Result<SubmitOutcome, CliError> {
        Ok(self.chain.submit_entry(entry)?)
    }

    /// Pending records: those the next blocks can take in template order,
    /// then the held ones.
    pub fn pending(&self) -> Result<Vec<Record>, CliError> {
        Ok(self.chain.pending()?)
    }

    /// The next block's template (the core pool's: up to 25 records, each
    /// doctor's in nonce order without gaps; the timestamp at least the tip's).
    pub fn template(&self, miner: &Hash160, timestamp: u64) -> Result<BlockTemplate, CliError> {
        Ok(self.chain.template(miner, timestamp)?)
    }

    /// Mines the template for `miner` and adds the block (checked against
    /// the wall clock `now`).
    pub fn mine_next(
        &mut self,
        miner: &Hash160,
        timestamp: u64,
        options: &SearchOptions,
        now: u64,
    ) -> Result<Mined, CliError> {
        let template = self.template(miner, timestamp)?;
        let result = mine_block(&template, options)?;
        match result.outcome {
            MineOutcome::Found(block) => {
                let outcome = self.chain.add_block(&block, Some(now))?;
                Ok(Mined::Added {
                    block,
                    outcome,
                    stats: result.stats,
                })
            }
            outcome => Ok(Mined::Stopped { outcome }),
        }
    }
}

/// Where a write command's records and entries go: the chain itself, or,
/// while a node holds the chain's lock, that node (through its plain
/// loopback listener), so that writing works beside a running node.
pub enum Writer {
    Chain(Box<Node>),
    Through { client: emr_node::client::Client, url: String },
}

/// The URL a running node on `dir`'s chain left for the site's programs,
/// if one runs there and has a plain loopback listener.
pub fn running_node_url(dir: &Path) -> Option<String> {
    let marker = emr_node::node::marker_path(&dir.join(CHAIN_FILE));
    let text = fs::read_to_string(marker).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("url")?.as_str().map(str::to_owned)
}

fn through_error(url: &str, e: emr_node::client::ClientError) -> CliError {
    CliError::io(format!("the node at {url}: {e}"))
}

impl Writer {
    /// Opens `dir`'s chain for writing, or reaches the node that holds it.
    pub fn open(dir: &Path) -> Result<Writer, CliError> {
        match Node::open(dir, true) {
            Ok(node) => Ok(Writer::Chain(Box::new(node))),
            Err(e) if e.kind == "locked" => match running_node_url(dir) {
                Some(url) => {
                    let client = emr_node::client::Client::new(&url, None).map_err(|e| through_error(&url, e))?;
                    Ok(Writer::Through { client, url })
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// What a node answered, as the chain would have.
    fn outcome(url: &str, answer: emr_node::client::SubmitAnswer) -> Result<SubmitOutcome, CliError> {
        use emr_node::api::Answer;
        match answer.answer {
            Answer::Outcome(name) => match name.as_str() {
                "ready" => Ok(SubmitOutcome::Ready),
                "held" => Ok(SubmitOutcome::Held),
                "already_pending" => Ok(SubmitOutcome::AlreadyPending),
                "conflicts_with_pending" => match answer.pending_txid {
                    Some(pending_txid) => Ok(SubmitOutcome::ConflictsWithPending { pending_txid }),
                    None => Err(CliError::io(format!("the node at {url} named no pending txid"))),
                },
                other => Err(CliError::io(format!("the node at {url} answered an unknown outcome {other:?}"))),
            },
            Answer::Refused { kind, message } => {
                let kind = emr_core::ErrorKind::from_name(&kind).map_or("io", emr_core::ErrorKind::as_str);
                Err(CliError::new(kind, message))
            }
        }
    }

    /// [`Node::submit`], or the node's `POST /v1/submit`.
    pub fn submit(&mut self, record: &Record) -> Result<SubmitOutcome, CliError> {
        match self {
            Writer::Chain(node) => node.submit(record),
            Writer::Through { client, url } => {
                let answer = client.submit(record.to_bytes()).map_err(|e| through_error(url, e))?;
                Writer::outcome(url, answer)
            }
        }
    }

    /// [`Node::submit_entry`], or the node's `POST /v1/submit`.
    pub fn submit_entry(&mut self, entry: &Entry) -> Result<SubmitOutcome, CliError> {
        match self {
            Writer::Chain(node) => node.submit_entry(entry),
            Writer::Through { client, url } => {
                let answer = client.submit(entry.to_bytes()).map_err(|e| through_error(url, e))?;
                Writer::outcome(url, answer)
            }
        }
    }

    /// Dismisses a conflict, of a record (its txid) or of a dispensing or
    /// cancellation (its id); `false` when there is none.
    pub fn dismiss_conflict(&mut self, txid: &emr_core::Hash256) -> Result<bool, CliError> {
        match self {
            Writer::Chain(node) => {
                let chain = node.chain_mut();
                Ok(chain.dismiss_conflict(txid)? || chain.dismiss_entry_conflict(txid)?)
            }
            Writer::Through { client, url } => {
                let value = client
                    .json("POST", "/v1/conflicts/dismiss", Some(txid.to_string().into_bytes()))
                    .map_err(|e| through_error(url, e))?;
                Ok(value.get("dismissed").and_then(serde_json::Value::as_bool).unwrap_or(false))
            }
        }
    }
}

/// `locked`, saying which node holds the chain, for the commands that
/// need the chain itself (mine, undo, import).
pub fn open_exclusive(dir: &Path, what: &str) -> Result<Node, CliError> {
    Node::open(dir, true).map_err(|e| match (e.kind, running_node_url(dir)) {
        ("locked", Some(url)) => CliError::new(
            "locked",
            format!("a node ({url}) holds {}: {what} needs the chain itself; stop the node first", dir.display()),
        ),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use super::create_dir_durably;

    #[test]
    fn init_creates_missing_directories_and_refuses_a_file_in_the_way() {
        let base = std::env::temp_dir().join(format!("emr-cli-mkdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let deep = base.join("a").join("b").join("c");
        create_dir_durably(&deep).unwrap();
        assert!(deep.is_dir());
        // Already there: nothing to do.
        create_dir_durably(&deep).unwrap();
        let file = base.join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(create_dir_durably(&file).is_err());
        assert!(create_dir_durably(&file.join("below")).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}

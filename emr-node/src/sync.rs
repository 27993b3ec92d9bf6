//! Bringing a chain in step with a peer (SPEC 9.2): when the peer's work
//! is greater, find the last common block, fetch everything after it page
//! by page, and stream it all into **one** add call, which the core judges
//! where it ends (SPEC 5), so that a partition of any length heals.
//!
//! [`sync_once`] is the one-shot form for a program that holds a chain
//! itself; the node runs [`sync_from`] for each of its peers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Mutex;

use emr_core::chain::{AddOutcome, BatchOptions, BatchProgress, Chain, ChainError, Work};
use emr_core::error::ErrorKind;
use emr_core::mining::CancelHandle;
use emr_core::{Block, Hash256};

use crate::api::{self, Info};
use crate::client::{Client, ClientError};

/// How a program reaches the chain it syncs: reads and the one add call.
pub trait ChainAccess {
    /// Runs `f` on the chain for reading.
    fn read<T>(&self, f: impl FnOnce(&Chain) -> Result<T, ChainError>) -> Result<T, ChainError>;
    /// Runs `f` on the chain for writing.
    fn write<T>(&self, f: impl FnOnce(&mut Chain) -> T) -> Result<T, ChainError>;
    /// Hears how a write ended (`None`: it stored blocks); a node keeps
    /// track of its disk with it.
    fn wrote(&self, _error: Option<&ChainError>) {}
}

/// A chain the caller lends for the sync's length.
pub struct Exclusive<'a>(RefCell<&'a mut Chain>);

impl<'a> Exclusive<'a> {
    /// Lends `chain`.
    pub fn new(chain: &'a mut Chain) -> Exclusive<'a> {
        Exclusive(RefCell::new(chain))
    }
}

impl ChainAccess for Exclusive<'_> {
    fn read<T>(&self, f: impl FnOnce(&Chain) -> Result<T, ChainError>) -> Result<T, ChainError> {
        f(&self.0.borrow())
    }
    fn write<T>(&self, f: impl FnOnce(&mut Chain) -> T) -> Result<T, ChainError> {
        Ok(f(&mut self.0.borrow_mut()))
    }
}

/// How to run a sync.
#[derive(Clone, Copy, Default)]
pub struct SyncOptions<'a> {
    /// Blocks received and added so far, of those the peer announced.
    pub progress: Option<&'a (dyn Fn(BatchProgress) + Sync)>,
    /// Stops the sync between blocks; what was added stays.
    pub cancel: Option<&'a CancelHandle>,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The last block both chains held, when the peer was heavier.
    pub fork_height: Option<u64>,
    /// Blocks received from the peer.
    pub received: u64,
    /// Their outcomes, counted.
    pub extended: u64,
    /// Stored on a side branch.
    pub side_branch: u64,
    /// Blocks whose add moved the active chain to another branch.
    pub reorganized: u64,
    /// Already held.
    pub already_known: u64,
    /// Judged stale at the call's end.
    pub stale: u64,
    /// Records and entries newly kept as conflicts (SPEC 9.3).
    pub new_conflicts: u64,
    /// The chain's length and work afterwards.
    pub height: u64,
    /// Total difficulty afterwards, decimal.
    pub work: String,
    /// The work the peer advertised.
    pub peer_work: String,
}

impl SyncReport {
    /// Blocks that were new to this chain.
    pub fn added(&self) -> u64 {
        self.extended + self.side_branch + self.reorganized
    }
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer could not be asked (away, busy, refusing): retried later.
    #[error("peer: {0}")]
    Peer(ClientError),
    /// The peer keeps another chain (SPEC 9.2, incompatible): never synced.
    #[error("incompatible peer: {0}")]
    Incompatible(String),
    /// The peer broke the protocol or served what fails the rules: a node
    /// suspends it (SPEC 9.2).
    #[error("misbehaving peer: {0}")]
    Misbehaved(String),
    /// A block could not be added for a reason that is nobody's fault yet
    /// (its parent is unknown: the peer reorganized meanwhile; it is ahead
    /// of this clock): retried later.
    #[error("not added now: {0}")]
    NotNow(String),
    /// The local chain failed (storage, lock).
    #[error("{0}")]
    Chain(ChainError),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl SyncError {
    fn from_client(e: ClientError) -> SyncError {
        if e.is_misbehaviour() {
            SyncError::Misbehaved(e.to_string())
        } else {
            SyncError::Peer(e)
        }
    }
}

impl From<ChainError> for SyncError {
    fn from(e: ChainError) -> SyncError {
        SyncError::Chain(e)
    }
}

/// What this chain is, to compare with a peer's `info`.
struct Ours {
    chain_id: Hash256,
    genesis: Option<Hash256>,
    len: u64,
    work: Work,
}

fn ours(chain: &impl ChainAccess) -> Result<Ours, ChainError> {
    chain.read(|c| {
        Ok(Ours {
            chain_id: c.chain_id(),
            genesis: c.active_ids_from(0, 1)?.first().copied(),
            len: c.len()?,
            work: c.total_difficulty()?,
        })
    })
}

/// Whether `info` describes this chain (SPEC 9.2): same chain id, and the
/// same genesis when both have one. `Err` says how it differs.
pub fn compatible(chain_id: &Hash256, genesis: Option<&Hash256>, info: &Info) -> Result<(), String> {
    if info.chain_id != chain_id.to_string() {
        return Err(format!("its chain id is {}, this chain's is {chain_id}", info.chain_id));
    }
    if let (Some(ours), Some(theirs)) = (genesis, &info.genesis) {
        if *theirs != ours.to_string() {
            return Err(format!("its genesis is {theirs}, this chain's is {ours}"));
        }
    }
    Ok(())
}

/// Syncs `chain` from the node `client` reaches, when that node's chain is
/// heavier; see the module's description. The peer's `info` is read first.
pub fn sync_once(chain: &mut Chain, client: &Client, options: &SyncOptions<'_>) -> Result<SyncReport, SyncError> {
    let info = client.info().map_err(SyncError::from_client)?;
    sync_from(&Exclusive::new(chain), client, &info, options)
}

/// [`sync_once`] with the peer's `info` already read, through `chain`.
pub fn sync_from(
    chain: &impl ChainAccess,
    client: &Client,
    info: &Info,
    options: &SyncOptions<'_>,
) -> Result<SyncReport, SyncError> {
    let before = ours(chain)?;
    compatible(&before.chain_id, before.genesis.as_ref(), info).map_err(SyncError::Incompatible)?;
    let peer_work: Work = info
        .work
        .parse()
        .map_err(|_| SyncError::Misbehaved(format!("its work {:?} is not a number", info.work)))?;
    let mut report = SyncReport { height: before.len, work: before.work.to_string(), peer_work: info.work.clone(), ..SyncReport::default() };
    if peer_work <= before.work {
        return Ok(report);
    }
    let fork = find_fork(chain, client, before.len, info.height, options)?;
    report.fork_height = fork;
    let from = fork.map_or(0, |h| h + 1);
    tracing::info!(
        peer = %client.endpoint(),
        fork = ?fork,
        blocks = info.height.saturating_sub(from),
        "syncing from a heavier peer"
    );
    let conflicts_before = chain.read(|c| Ok(c.conflicts()?.len() + c.entry_conflicts()?.len()))? as u64;
    let failure = Mutex::new(None);
    let short = std::sync::atomic::AtomicBool::new(false);
    let pages = Pages {
        client,
        next: from,
        end: info.height,
        buffer: VecDeque::new(),
        failure: &failure,
        short: &short,
        cancel: options.cancel,
    };
    let batch = BatchOptions { progress: options.progress, cancel: options.cancel, ..BatchOptions::default() };
    let expected = info.height.saturating_sub(from);
    let result = chain.write(|c| c.add_blocks_streamed(pages, expected, None, &batch))?;
    let outcomes = match result {
        Ok(outcomes) => {
            chain.wrote(None);
            outcomes
        }
        Err(e) => {
            chain.wrote(Some(&e.error));
            count(&mut report, &e.added);
            if let Some(peer_error) = failure.lock().ok().and_then(|mut f| f.take()) {
                return Err(SyncError::from_client(peer_error));
            }
            let height = from + e.index as u64;
            return Err(match e.error.kind() {
                ErrorKind::Cancelled => SyncError::Cancelled,
                ErrorKind::UnknownParent | ErrorKind::TimestampTooLate => {
                    SyncError::NotNow(format!("block at height {height}: {}", e.error))
                }
                ErrorKind::Io | ErrorKind::Corrupt | ErrorKind::Locked | ErrorKind::InvalidArgument => {
                    SyncError::Chain(e.error)
                }
                _ => SyncError::Misbehaved(format!("it served a block at height {height} that fails: {}", e.error)),
            });
        }
    };
    count(&mut report, &outcomes);
    if options.cancel.is_some_and(CancelHandle::is_cancelled) {
        return Err(SyncError::Cancelled);
    }
    let after = ours(chain)?;
    report.height = after.len;
    report.work = after.work.to_string();
    report.new_conflicts =
        (chain.read(|c| Ok(c.conflicts()?.len() + c.entry_conflicts()?.len()))? as u64).saturating_sub(conflicts_before);
    if after.work < peer_work && short.load(std::sync::atomic::Ordering::SeqCst) {
        // It served fewer blocks than it announced: it may have
        // reorganized meanwhile. Asked again at the next poll.
        return Err(SyncError::NotNow(format!(
            "it announced {} blocks but its pages ended at height {}",
            info.height, report.height
        )));
    }
    if after.work < peer_work {
        return Err(SyncError::Misbehaved(format!(
            "it advertised work {peer_work} but the {} blocks it served leave this chain at {}",
            report.received, after.work
        )));
    }
    Ok(report)
}

fn count(report: &mut SyncReport, outcomes: &[AddOutcome]) {
    for outcome in outcomes {
        report.received += 1;
        match outcome {
            AddOutcome::Extended => report.extended += 1,
            AddOutcome::SideBranch => report.side_branch += 1,
            AddOutcome::Reorganized => report.reorganized += 1,
            AddOutcome::AlreadyKnown => report.already_known += 1,
            AddOutcome::Stale => report.stale += 1,
        }
    }
}

/// The height of the last block both chains hold: probe from the lower
/// tip downwards with a doubling step, then bisect between the highest
/// common and the lowest differing height probed.
fn find_fork(
    chain: &impl ChainAccess,
    client: &Client,
    our_len: u64,
    peer_len: u64,
    options: &SyncOptions<'_>,
) -> Result<Option<u64>, SyncError> {
    let top = our_len.min(peer_len);
    if top == 0 {
        return Ok(None);
    }
    let same = |height: u64| -> Result<bool, SyncError> {
        if options.cancel.is_some_and(CancelHandle::is_cancelled) {
            return Err(SyncError::Cancelled);
        }
        let theirs = client.ids(height, 1).map_err(SyncError::from_client)?;
        let Some(theirs) = theirs.first() else {
            return Err(SyncError::Misbehaved(format!(
                "it advertised {peer_len} blocks but has no id at height {height}"
            )));
        };
        let mine = chain.read(|c| c.active_ids_from(height, 1))?;
        Ok(mine.first() == Some(theirs))
    };
    let mut height = top - 1;
    let mut step = 1u64;
    let mut differs = None;
    let common = loop {
        if same(height)? {
            break Some(height);
        }
        differs = Some(height);
        if height == 0 {
            break None;
        }
        height = height.saturating_sub(step);
        step = step.saturating_mul(2);
    };
    let (Some(mut low), Some(mut high)) = (common, differs) else {
        return Ok(common);
    };
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if same(mid)? {
            low = mid;
        } else {
            high = mid;
        }
    }
    Ok(Some(low))
}

/// The peer's active blocks from `next` to `end`, one page in memory at a
/// time. A failed fetch ends the stream with an error item and leaves the
/// reason in `failure`.
struct Pages<'a> {
    client: &'a Client,
    next: u64,
    end: u64,
    buffer: VecDeque<Block>,
    failure: &'a Mutex<Option<ClientError>>,
    /// Set when a page came back empty before `end`.
    short: &'a std::sync::atomic::AtomicBool,
    cancel: Option<&'a CancelHandle>,
}

impl Iterator for Pages<'_> {
    type Item = Result<Block, ChainError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(block) = self.buffer.pop_front() {
            return Some(Ok(block));
        }
        if self.next >= self.end || self.cancel.is_some_and(CancelHandle::is_cancelled) {
            return None;
        }
        let count = (self.end - self.next).min(api::MAX_PAGE_BLOCKS);
        match self.client.blocks(self.next, count) {
            Ok(page) => {
                if page.is_empty() {
                    self.short.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                self.next += page.len() as u64;
                self.buffer.extend(page);
                // An empty page: the peer has no more (it may have
                // reorganized); what it delivered is judged as it is.
                self.buffer.pop_front().map(Ok)
            }
            Err(e) => {
                let item = ChainError::Io(format!("fetching blocks from {}: {e}", self.client.endpoint()));
                if let Ok(mut slot) = self.failure.lock() {
                    *slot = Some(e);
                }
                self.end = self.next;
                Some(Err(item))
            }
        }
    }
}

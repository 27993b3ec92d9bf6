//! The node (SPEC 9): holds its chain's write lock, serves the API on its
//! listeners, keeps the chain in step with each configured peer (one
//! thread per peer polls its `info` and syncs from it when it is heavier),
//! pushes new blocks and forwards accepted records to its peers (one
//! thread per peer, so a slow peer delays no other), and mines when told
//! to and something is pending.
//!
//! Reads (the API's GETs, the sync's comparisons) go through a read-only
//! connection beside the writer, so a long add or a search never makes
//! them wait; writes go through one [`SharedChain`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use emr_core::chain::{Chain, ChainError, MineNextOutcome, SharedChain};
use emr_core::mining::{CancelHandle, SearchOptions};
use emr_core::{Hash160, Hash256};
use serde_json::{json, Value};
use tracing::{debug, error, info, warn};

use crate::api::Info;
use crate::client::{Client, ClientError, Endpoint};
use crate::pki::Credentials;
use crate::sync::{self, ChainAccess, SyncError, SyncOptions};

/// How long a misbehaving peer is suspended (SPEC 9.2).
pub const SUSPENSION: Duration = Duration::from_secs(600);
/// The default interval between two polls of a peer's `info`.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);
/// The default request rate per client (SPEC 9.4).
pub const DEFAULT_RATE: u32 = 50;
/// Concurrent connections per client (SPEC 9.4).
pub const MAX_CLIENT_CONNECTIONS: usize = 64;
/// The longest wait before a peer that did not answer is asked again.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How many recent active ids the node remembers to tell what is new.
const ANNOUNCE_WINDOW: u64 = 500;

/// One address the node listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// Where.
    pub addr: SocketAddr,
    /// HTTPS with mutual TLS; plain HTTP is for a loopback address only.
    pub tls: bool,
}

/// What a node is told at start.
pub struct NodeConfig {
    /// The chain's database file (made by `emr chain init` or `emr node
    /// join`).
    pub chain: PathBuf,
    /// Where to listen.
    pub listen: Vec<Listen>,
    /// The node's key and certificate and the consortium's authority:
    /// needed for a TLS listener and for `https://` peers.
    pub credentials: Option<Credentials>,
    /// The peers' URLs.
    pub peers: Vec<String>,
    /// Mine for this miner whenever something is pending.
    pub miner: Option<Hash160>,
    /// Mining threads (`None`: one per core).
    pub threads: Option<usize>,
    /// Interval between two polls of a peer.
    pub poll: Duration,
    /// Requests per second a client may make (TLS clients; the site's own
    /// programs on a plain loopback listener are not limited).
    pub rate: u32,
}

impl NodeConfig {
    /// A node on `chain` listening on `listen`, every other setting at its
    /// default.
    pub fn new(chain: impl Into<PathBuf>, listen: Vec<Listen>) -> NodeConfig {
        NodeConfig {
            chain: chain.into(),
            listen,
            credentials: None,
            peers: Vec::new(),
            miner: None,
            threads: None,
            poll: DEFAULT_POLL,
            rate: DEFAULT_RATE,
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A setting that cannot work.
    #[error("{0}")]
    InvalidArgument(String),
    /// The chain could not be opened (locked by another writer, ...).
    #[error("{0}")]
    Chain(#[from] ChainError),
    /// A listener or thread could not start.
    #[error("{0}")]
    Io(String),
}

/// A peer's standing, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerStatus {
    /// Not asked yet.
    Unknown,
    /// Answered at the last poll.
    Up,
    /// Did not answer; asked again after a backoff.
    Down(String),
    /// Broke the protocol: neither synced from nor answered until then.
    Suspended {
        /// When the suspension ends.
        until: Instant,
        /// What it did.
        reason: String,
    },
    /// Keeps another chain: never synced.
    Incompatible(String),
}

impl PeerStatus {
    fn name(&self) -> &'static str {
        match self {
            PeerStatus::Unknown => "unknown",
            PeerStatus::Up => "up",
            PeerStatus::Down(_) => "down",
            PeerStatus::Suspended { .. } => "suspended",
            PeerStatus::Incompatible(_) => "incompatible",
        }
    }
}

pub(crate) struct PeerState {
    pub(crate) status: PeerStatus,
    info: Option<Info>,
    failures: u32,
    retry_at: Option<Instant>,
    last_answer: Option<Instant>,
    /// Its server certificate's SHA-256: the same key its requests to this
    /// node come with.
    fingerprint: Option<String>,
}

pub(crate) struct Peer {
    pub(crate) url: String,
    client: Client,
    pub(crate) state: Mutex<PeerState>,
    kick: Sender<()>,
    outbox: Sender<Job>,
}

/// What a peer is sent.
enum Job {
    Submit(Vec<u8>),
    Blocks(Vec<u8>),
}

/// One client's use of the node, for SPEC 9.4's limits.
#[derive(Default)]
pub(crate) struct ClientUse {
    connections: usize,
    tokens: f64,
    refilled: Option<Instant>,
}

/// The state the server, the peers' threads and the miner share.
pub(crate) struct Shared {
    pub(crate) chain: SharedChain,
    reader: Mutex<Chain>,
    pub(crate) peers: Vec<Arc<Peer>>,
    /// Suspended clients by certificate SHA-256: the reason and the end.
    suspended: Mutex<HashMap<String, (Instant, String)>>,
    clients: Mutex<HashMap<String, ClientUse>>,
    rate: u32,
    pub(crate) closing: AtomicBool,
    pub(crate) cancel: CancelHandle,
    pub(crate) metrics: crate::metrics::Metrics,
    wake_miner: Sender<()>,
    announced: Mutex<BTreeMap<u64, Hash256>>,
    pub(crate) miner: Option<Hash160>,
    started: Instant,
    storage: Mutex<Storage>,
}

/// Whether the chain's disk takes writes, as the last write found
/// (docs/OPERATIONS.md, "A full or failing disk").
#[derive(Default)]
struct Storage {
    /// The last write's `io` error and when, until a write succeeds.
    failing: Option<(String, Instant)>,
    /// `io` errors of writes since the node started.
    errors: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ChainAccess for Shared {
    fn read<T>(&self, f: impl FnOnce(&Chain) -> Result<T, ChainError>) -> Result<T, ChainError> {
        Shared::read(self, f)
    }
    fn write<T>(&self, f: impl FnOnce(&mut Chain) -> T) -> Result<T, ChainError> {
        let mut guard = self.chain.lock()?;
        Ok(f(&mut guard))
    }
    fn wrote(&self, error: Option<&ChainError>) {
        Shared::wrote(self, error);
    }
}

/// A client's identity for the limits and suspensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClientId {
    /// A TLS client: its certificate's SHA-256, hex.
    Certified(String),
    /// A program on this machine, on a plain loopback listener.
    Local,
}

impl Shared {
    /// Runs `f` on the read-only connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Chain) -> Result<T, ChainError>) -> Result<T, ChainError> {
        f(&lock(&self.reader))
    }

    /// Notes how a write to the chain ended: `None` when it stored
    /// something, else its error. An `io` error means the disk refuses
    /// writes (full, failing) until a write succeeds again; the node keeps
    /// serving reads and says so in its status and metrics. Other errors
    /// are about what was written, not the disk.
    pub(crate) fn wrote(&self, error: Option<&ChainError>) {
        let mut storage = lock(&self.storage);
        match error {
            None => {
                if let Some((why, _)) = storage.failing.take() {
                    info!(after = %why, "the chain's disk takes writes again");
                }
            }
            Some(e) if e.kind() == emr_core::error::ErrorKind::Io => {
                if storage.failing.is_none() {
                    error!(error = %e, "the chain's disk refuses writes; reads are still served");
                }
                storage.failing = Some((e.to_string(), Instant::now()));
                storage.errors = storage.errors.saturating_add(1);
            }
            Some(_) => {}
        }
    }

    /// The storage part of the status: whether the disk takes writes, the
    /// last write's error while it does not, how many writes failed.
    pub(crate) fn storage(&self) -> (bool, Option<(String, u64)>, u64) {
        let storage = lock(&self.storage);
        let failing = storage.failing.as_ref().map(|(why, when)| (why.clone(), when.elapsed().as_secs()));
        (failing.is_none(), failing, storage.errors)
    }

    /// Why `client` is suspended, if it is.
    pub(crate) fn suspension(&self, client: &ClientId) -> Option<String> {
        let ClientId::Certified(key) = client else { return None };
        let mut suspended = lock(&self.suspended);
        match suspended.get(key) {
            Some((until, reason)) if *until > Instant::now() => Some(reason.clone()),
            Some(_) => {
                suspended.remove(key);
                None
            }
            None => None,
        }
    }

    /// Suspends a client that broke the protocol (SPEC 9.2), and the
    /// configured peer with the same certificate.
    pub(crate) fn suspend_client(&self, client: &ClientId, reason: String) {
        let ClientId::Certified(key) = client else { return };
        warn!(client = %key, %reason, "client suspended for 10 minutes");
        let until = Instant::now() + SUSPENSION;
        lock(&self.suspended).insert(key.clone(), (until, reason.clone()));
        for peer in &self.peers {
            let mut state = lock(&peer.state);
            if state.fingerprint.as_deref() == Some(key.as_str()) {
                state.status = PeerStatus::Suspended { until, reason: reason.clone() };
            }
        }
    }

    fn suspend_peer(&self, peer: &Peer, reason: String) {
        warn!(peer = %peer.url, %reason, "peer suspended for 10 minutes");
        self.metrics.suspensions.inc();
        let until = Instant::now() + SUSPENSION;
        let mut state = lock(&peer.state);
        state.status = PeerStatus::Suspended { until, reason: reason.clone() };
        if let Some(key) = &state.fingerprint {
            lock(&self.suspended).insert(key.clone(), (until, reason));
        }
    }

    /// Takes one connection slot for `client`; `false` when it already
    /// holds as many as it may.
    pub(crate) fn connect(&self, client: &ClientId) -> bool {
        let ClientId::Certified(key) = client else { return true };
        let mut clients = lock(&self.clients);
        let entry = clients.entry(key.clone()).or_default();
        if entry.connections >= MAX_CLIENT_CONNECTIONS {
            return false;
        }
        entry.connections += 1;
        true
    }

    /// Gives back a slot taken by [`Shared::connect`].
    pub(crate) fn disconnect(&self, client: &ClientId) {
        let ClientId::Certified(key) = client else { return };
        let mut clients = lock(&self.clients);
        if let Some(entry) = clients.get_mut(key) {
            entry.connections = entry.connections.saturating_sub(1);
            if entry.connections == 0 && entry.tokens >= f64::from(self.rate) {
                clients.remove(key);
            }
        }
    }

    /// Whether `client` may make one more request now: a token bucket of
    /// `rate` tokens refilled at `rate` per second.
    pub(crate) fn allow(&self, client: &ClientId) -> bool {
        let ClientId::Certified(key) = client else { return true };
        let rate = f64::from(self.rate.max(1));
        let now = Instant::now();
        let mut clients = lock(&self.clients);
        let entry = clients.entry(key.clone()).or_default();
        let elapsed = entry.refilled.map_or(rate, |t| now.duration_since(t).as_secs_f64() * rate);
        entry.tokens = (entry.tokens + elapsed).min(rate);
        entry.refilled = Some(now);
        if entry.tokens < 1.0 {
            return false;
        }
        entry.tokens -= 1.0;
        true
    }

    /// After a record or entry entered the pool: to every peer once, and
    /// to the miner.
    pub(crate) fn accepted(&self, encoded: &[u8]) {
        let _ = self.wake_miner.try_send(());
        for peer in &self.peers {
            send(peer, Job::Submit(encoded.to_vec()));
        }
    }

    /// Remembers the ids of the active chain's last `ANNOUNCE_WINDOW`
    /// blocks, and returns the lowest height whose id was not remembered
    /// there before (what is new since the last call).
    fn remember_active(&self, c: &Chain) -> Result<Option<u64>, ChainError> {
        let len = c.len()?;
        let from = len.saturating_sub(ANNOUNCE_WINDOW);
        let ids = c.active_ids_from(from, ANNOUNCE_WINDOW)?;
        let mut announced = lock(&self.announced);
        let first_new = ids
            .iter()
            .enumerate()
            .find(|(i, id)| announced.get(&(from + *i as u64)) != Some(*id))
            .map(|(i, _)| from + i as u64);
        announced.retain(|h, _| *h >= from && *h < len);
        for (i, id) in ids.iter().enumerate() {
            announced.insert(from + i as u64, *id);
        }
        Ok(first_new)
    }

    /// After the active chain may have changed: pushes the blocks newly in
    /// it (after a reorganization, the new branch) to every peer as one
    /// block file.
    pub(crate) fn announce(&self) {
        let result = self.read(|c| {
            match self.remember_active(c)? {
                Some(start) => {
                    let encodings = c.active_encodings(start, crate::api::MAX_POST_BLOCKS, crate::api::MAX_PAGE_BYTES)?;
                    Ok(Some((start, encodings)))
                }
                None => Ok(None),
            }
        });
        match result {
            Ok(Some((start, encodings))) if !encodings.is_empty() => {
                debug!(from = start, blocks = encodings.len(), "pushing new blocks to peers");
                let file = emr_core::blockfile::encode(encodings.iter().map(Vec::as_slice));
                for peer in &self.peers {
                    send(peer, Job::Blocks(file.clone()));
                }
            }
            Ok(_) => {}
            Err(e) => error!(error = %e, "reading the chain to announce new blocks"),
        }
    }

    /// Asks every peer for its `info` now (a block whose parent is
    /// unknown arrived: someone is ahead).
    pub(crate) fn kick_peers(&self) {
        for peer in &self.peers {
            let _ = peer.kick.try_send(());
        }
    }

    /// Whether the peer is asked at all: not while suspended or
    /// incompatible. A peer that is down is still sent what is new (from
    /// its own thread, so that costs no one else), which also tells first
    /// that it is back.
    fn usable(peer: &Peer) -> bool {
        !matches!(lock(&peer.state).status, PeerStatus::Suspended { .. } | PeerStatus::Incompatible(_))
    }

    /// The node's report (`GET /v1/status`, `emr node status`).
    pub(crate) fn status(&self) -> Result<Value, ChainError> {
        let (height, tip, work, pending, entries, conflicts) = self.read(|c| {
            Ok((
                c.len()?,
                c.tip()?.map(|t| t.block_id.to_string()),
                c.total_difficulty()?,
                c.pending()?.len(),
                c.pending_entries()?.len(),
                c.conflicts()?.len() + c.entry_conflicts()?.len(),
            ))
        })?;
        let now = Instant::now();
        let peers: Vec<Value> = self
            .peers
            .iter()
            .map(|peer| {
                let state = lock(&peer.state);
                let reason = match &state.status {
                    PeerStatus::Down(r) | PeerStatus::Incompatible(r) => Some(r.clone()),
                    PeerStatus::Suspended { reason, .. } => Some(reason.clone()),
                    _ => None,
                };
                let suspended_for = match &state.status {
                    PeerStatus::Suspended { until, .. } => Some(until.saturating_duration_since(now).as_secs()),
                    _ => None,
                };
                let (peer_height, peer_work) =
                    state.info.as_ref().map_or((None, None), |i| (Some(i.height), Some(i.work.clone())));
                json!({
                    "url": peer.url,
                    "state": state.status.name(),
                    "reason": reason,
                    "suspended_for_s": suspended_for,
                    "height": peer_height,
                    "work": peer_work,
                    "lag": peer_height.map(|h| h.saturating_sub(height)),
                    "last_answer_s_ago": state.last_answer.map(|t| now.duration_since(t).as_secs()),
                })
            })
            .collect();
        let suspended_clients: Vec<Value> = lock(&self.suspended)
            .iter()
            .filter(|(_, (until, _))| *until > now)
            .map(|(key, (until, reason))| {
                json!({ "certificate_sha256": key, "reason": reason, "suspended_for_s": until.saturating_duration_since(now).as_secs() })
            })
            .collect();
        let lag = self
            .peers
            .iter()
            .filter_map(|p| lock(&p.state).info.as_ref().map(|i| i.height.saturating_sub(height)))
            .max()
            .unwrap_or(0);
        let (writable, failing, storage_errors) = self.storage();
        Ok(json!({
            "version": emr_core::VERSION,
            "height": height,
            "tip": tip,
            "work": work.to_string(),
            "pending": pending,
            "pending_entries": entries,
            "conflicts": conflicts,
            "sync_lag": lag,
            "mining": self.miner.map(|m| emr_core::address::encode(emr_core::Role::Miner, &m)),
            "uptime_s": self.started.elapsed().as_secs(),
            "peers": peers,
            "suspended_clients": suspended_clients,
            "storage": {
                "writable": writable,
                "error": failing.as_ref().map(|(why, _)| why),
                "error_s_ago": failing.as_ref().map(|(_, ago)| ago),
                "write_errors": storage_errors,
            },
        }))
    }

    /// How sure a block (or the block holding a record) is: its depth and
    /// how many of the peers' active chains hold it (SPEC 9.2).
    pub(crate) fn seen(&self, hash: &Hash256) -> Result<Option<Value>, ChainError> {
        let found = self.read(|c| {
            let len = c.len()?;
            if let Some(height) = c.active_height(hash)? {
                return Ok(Some(("block", *hash, height, len)));
            }
            Ok(c.find_record(hash)?.map(|r| ("record", r.block_id, r.height, len)))
        })?;
        let Some((kind, block, height, len)) = found else { return Ok(None) };
        let mut holding = 0u64;
        let mut asked = 0u64;
        for peer in &self.peers {
            if lock(&peer.state).status != PeerStatus::Up {
                continue;
            }
            asked += 1;
            if peer.client.ids(height, 1).is_ok_and(|ids| ids.first() == Some(&block)) {
                holding += 1;
            }
        }
        let peers = self.peers.len() as u64;
        Ok(Some(json!({
            "kind": kind,
            "block": block.to_string(),
            "height": height,
            "depth": len.saturating_sub(height),
            "peers_holding": holding,
            "peers_asked": asked,
            "peers": peers,
            "seen_by": format!("seen by {} of {} sites", holding + 1, peers + 1),
        })))
    }
}

fn send(peer: &Peer, job: Job) {
    if !Shared::usable(peer) {
        return;
    }
    if let Err(TrySendError::Full(_)) = peer.outbox.try_send(job) {
        // The peer is slow; its own polls bring it what it missed.
        debug!(peer = %peer.url, "outbox full: a push is dropped");
    }
}

/// A running node. Dropping it stops it.
pub struct NodeHandle {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    threads: Vec<JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    addresses: Vec<SocketAddr>,
    marker: PathBuf,
}

/// The file beside the chain that says a node holds it and where its
/// plain loopback listener is, for the command line to write through it.
pub fn marker_path(chain: &Path) -> PathBuf {
    let name = chain.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    chain.with_file_name(format!("{name}-node.json"))
}

/// Starts a node; see [`NodeConfig`].
pub fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    if config.listen.is_empty() {
        return Err(NodeError::InvalidArgument("a node needs at least one address to listen on".into()));
    }
    for listen in &config.listen {
        if !listen.tls && !listen.addr.ip().is_loopback() {
            return Err(NodeError::InvalidArgument(format!(
                "{}: plain HTTP is only for a loopback address; give the node a certificate for HTTPS",
                listen.addr
            )));
        }
        if listen.tls && config.credentials.is_none() {
            return Err(NodeError::InvalidArgument(format!(
                "{}: HTTPS needs the consortium's authority, the node's certificate and its key",
                listen.addr
            )));
        }
    }
    let client_tls = match &config.credentials {
        Some(c) => Some(Arc::new(c.client_config().map_err(|e| NodeError::InvalidArgument(e.to_string()))?)),
        None => None,
    };
    let server_tls = match &config.credentials {
        Some(c) => Some(Arc::new(c.server_config().map_err(|e| NodeError::InvalidArgument(e.to_string()))?)),
        None => None,
    };
    let chain = Chain::open(&config.chain, None)?;
    let reader = Chain::open_readonly(&config.chain)?;
    let (wake_miner, miner_wakes) = bounded(1);
    let mut peers = Vec::new();
    let mut peer_channels = Vec::new();
    for url in &config.peers {
        let endpoint = Endpoint::parse(url).map_err(|e| NodeError::InvalidArgument(e.to_string()))?;
        let client = Client::new(&endpoint.to_string(), client_tls.clone())
            .map_err(|e| NodeError::InvalidArgument(format!("peer {url}: {e}")))?;
        let (kick, kicks) = bounded(1);
        let (outbox, jobs) = bounded(256);
        let state = PeerState {
            status: PeerStatus::Unknown,
            info: None,
            failures: 0,
            retry_at: None,
            last_answer: None,
            fingerprint: None,
        };
        peers.push(Arc::new(Peer { url: endpoint.to_string(), client, state: Mutex::new(state), kick, outbox }));
        peer_channels.push((kicks, jobs));
    }
    let shared = Arc::new(Shared {
        chain: SharedChain::new(chain),
        reader: Mutex::new(reader),
        peers,
        suspended: Mutex::new(HashMap::new()),
        clients: Mutex::new(HashMap::new()),
        rate: config.rate.max(1),
        closing: AtomicBool::new(false),
        cancel: CancelHandle::new(),
        metrics: crate::metrics::Metrics::new(),
        wake_miner,
        announced: Mutex::new(BTreeMap::new()),
        miner: config.miner,
        started: Instant::now(),
        storage: Mutex::new(Storage::default()),
    });
    // What the chain holds at start is not news.
    shared.read(|c| shared.remember_active(c))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .enable_all()
        .thread_name("emr-node")
        .build()
        .map_err(|e| NodeError::Io(format!("cannot start the node's runtime: {e}")))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut addresses = Vec::new();
    let mut local_url = None;
    for listen in &config.listen {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen.addr))
            .map_err(|e| NodeError::Io(format!("cannot listen on {}: {e}", listen.addr)))?;
        let addr = listener.local_addr().map_err(|e| NodeError::Io(e.to_string()))?;
        let acceptor = if listen.tls { server_tls.clone().map(tokio_rustls::TlsAcceptor::from) } else { None };
        if !listen.tls && local_url.is_none() {
            local_url = Some(if addr.is_ipv6() { format!("http://[{}]:{}", addr.ip(), addr.port()) } else { format!("http://{addr}") });
        }
        info!(%addr, tls = listen.tls, "listening");
        runtime.spawn(crate::server::serve(listener, acceptor, shared.clone(), stopped.clone()));
        addresses.push(addr);
    }
    let mut threads = Vec::new();
    for (peer, (kicks, jobs)) in shared.peers.iter().zip(peer_channels) {
        let (s, p) = (shared.clone(), peer.clone());
        threads.push(spawn("emr-peer", move || poll_loop(&s, &p, &kicks, config.poll))?);
        let (s, p) = (shared.clone(), peer.clone());
        threads.push(spawn("emr-push", move || push_loop(&s, &p, &jobs))?);
    }
    if let Some(miner) = config.miner {
        let s = shared.clone();
        let threads_n = config.threads;
        threads.push(spawn("emr-miner", move || mine_loop(&s, &miner, threads_n, &miner_wakes))?);
    }
    let marker = marker_path(&config.chain);
    let description = json!({ "pid": std::process::id(), "url": local_url, "listen": addresses.iter().map(ToString::to_string).collect::<Vec<_>>() });
    if let Err(e) = write_marker(&marker, &description) {
        warn!(file = %marker.display(), error = %e, "cannot write the node's marker file: the command line cannot write through this node");
    }
    info!(chain = %config.chain.display(), peers = shared.peers.len(), mining = config.miner.is_some(), "node started");
    Ok(NodeHandle { shared, runtime: Some(runtime), threads, stop, addresses, marker })
}

fn write_marker(path: &Path, value: &Value) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, value.to_string().as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, NodeError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| NodeError::Io(format!("cannot start a thread: {e}")))
}

impl NodeHandle {
    /// The addresses the node listens on, in the configuration's order
    /// (port 0 resolved).
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The node's report, as `GET /v1/status` answers it.
    pub fn status(&self) -> Result<Value, ChainError> {
        self.shared.status()
    }

    /// "Seen by k of n sites" for a block id or a record's txid; `None`
    /// when the active chain holds neither.
    pub fn seen(&self, hash: &Hash256) -> Result<Option<Value>, ChainError> {
        self.shared.seen(hash)
    }

    /// Blocks until `stop` is cancelled (the caller's Ctrl-C handler) or
    /// the process gets SIGTERM, then stops the node.
    pub fn run_until(mut self, stop: &CancelHandle) -> Result<(), NodeError> {
        let waited = match &self.runtime {
            Some(runtime) => runtime.block_on(async {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tokio::select! {
                        _ = term.recv() => return Ok(()),
                        _ = tick.tick() => if stop.is_cancelled() { return Ok(()) },
                    }
                }
            }),
            None => Ok(()),
        };
        info!("stopping");
        self.stop_now();
        waited.map_err(|e: std::io::Error| NodeError::Io(format!("waiting for a signal: {e}")))
    }

    /// Stops the node: new requests are answered 503, searches and syncs
    /// end, the threads are joined and the chain closed.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.cancel.cancel();
        let _ = self.stop.send(true);
        for peer in &self.shared.peers {
            let _ = peer.kick.try_send(());
        }
        let _ = self.shared.wake_miner.try_send(());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        runtime.shutdown_timeout(Duration::from_secs(5));
        let _ = std::fs::remove_file(&self.marker);
        self.shared.chain.close();
        info!("node stopped");
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn poll_loop(shared: &Shared, peer: &Peer, kicks: &Receiver<()>, interval: Duration) {
    loop {
        if shared.closing.load(Ordering::SeqCst) {
            return;
        }
        poll(shared, peer);
        let _ = kicks.recv_timeout(interval);
    }
}

fn poll(shared: &Shared, peer: &Peer) {
    let now = Instant::now();
    {
        let mut state = lock(&peer.state);
        match &state.status {
            PeerStatus::Suspended { until, .. } if *until > now => return,
            PeerStatus::Suspended { .. } => state.status = PeerStatus::Unknown,
            PeerStatus::Incompatible(_) => return,
            _ => {}
        }
        if state.retry_at.is_some_and(|t| t > now) {
            return;
        }
    }
    let info = match peer.client.info() {
        Ok(info) => info,
        Err(e) => return peer_failed(shared, peer, e),
    };
    {
        let mut state = lock(&peer.state);
        state.fingerprint = peer.client.server_cert();
        state.failures = 0;
        state.retry_at = None;
        state.last_answer = Some(Instant::now());
        state.info = Some(info.clone());
        if state.status != PeerStatus::Up {
            info!(peer = %peer.url, height = info.height, "peer up");
        }
        state.status = PeerStatus::Up;
    }
    if let Some(key) = peer.client.server_cert() {
        if let Some(reason) = shared.suspension(&ClientId::Certified(key)) {
            shared.suspend_peer(peer, reason);
            return;
        }
    }
    let options = SyncOptions { progress: None, cancel: Some(&shared.cancel) };
    let started = Instant::now();
    match sync::sync_from(shared, &peer.client, &info, &options) {
        Ok(report) if report.received > 0 => {
            shared.metrics.synced_blocks.inc_by(report.received);
            info!(
                peer = %peer.url,
                received = report.received,
                extended = report.extended,
                reorganized = report.reorganized,
                side_branch = report.side_branch,
                conflicts = report.new_conflicts,
                height = report.height,
                seconds = started.elapsed().as_secs_f64(),
                "synced"
            );
            if report.new_conflicts > 0 {
                warn!(count = report.new_conflicts, "records or entries dropped by a reorganization are kept as conflicts (emr node conflicts)");
            }
            shared.announce();
        }
        Ok(_) => {}
        Err(SyncError::Misbehaved(reason)) => shared.suspend_peer(peer, reason),
        Err(SyncError::Incompatible(reason)) => {
            warn!(peer = %peer.url, %reason, "incompatible peer: never synced");
            lock(&peer.state).status = PeerStatus::Incompatible(reason);
        }
        Err(SyncError::Peer(e)) => peer_failed(shared, peer, e),
        Err(SyncError::NotNow(reason)) => info!(peer = %peer.url, %reason, "sync stopped; retried at the next poll"),
        Err(SyncError::Cancelled) => {}
        Err(SyncError::Chain(e)) => error!(peer = %peer.url, error = %e, "sync failed on this node's chain"),
    }
}

fn peer_failed(shared: &Shared, peer: &Peer, e: ClientError) {
    if e.is_misbehaviour() {
        return shared.suspend_peer(peer, e.to_string());
    }
    let mut state = lock(&peer.state);
    state.failures = state.failures.saturating_add(1);
    let backoff = Duration::from_secs(1u64 << state.failures.min(6)).min(MAX_BACKOFF);
    state.retry_at = Some(Instant::now() + backoff);
    if !matches!(state.status, PeerStatus::Down(_)) {
        warn!(peer = %peer.url, error = %e, "peer does not answer; retrying with backoff");
    }
    state.status = PeerStatus::Down(e.to_string());
}

fn push_loop(shared: &Shared, peer: &Peer, jobs: &Receiver<Job>) {
    while !shared.closing.load(Ordering::SeqCst) {
        let Ok(job) = jobs.recv_timeout(Duration::from_millis(200)) else { continue };
        if !Shared::usable(peer) {
            continue;
        }
        let result = match job {
            Job::Submit(bytes) => peer.client.submit(bytes).map(|a| debug!(peer = %peer.url, outcome = a.answer.name(), "forwarded")),
            Job::Blocks(file) => peer.client.post_blocks(file).map(|answers| {
                debug!(peer = %peer.url, blocks = answers.len(), last = answers.last().map(|a| a.name().to_owned()), "pushed blocks")
            }),
        };
        match result {
            Ok(()) => {
                let mut state = lock(&peer.state);
                if state.retry_at.is_some() {
                    // It answers again: poll it now rather than after its backoff.
                    state.retry_at = None;
                    state.failures = 0;
                    let _ = peer.kick.try_send(());
                }
            }
            Err(e) => debug!(peer = %peer.url, error = %e, "push failed; the peer's polls catch up"),
        }
    }
}

fn mine_loop(shared: &Shared, miner: &Hash160, threads: Option<usize>, wakes: &Receiver<()>) {
    while !shared.closing.load(Ordering::SeqCst) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let work = shared.read(|c| c.template(miner, now));
        let (height, records, entries) = match work {
            Ok(t) => (t.height, t.records.len(), t.entries.len()),
            Err(e) => {
                error!(error = %e, "cannot make a block template");
                let _ = wakes.recv_timeout(Duration::from_secs(1));
                continue;
            }
        };
        if records == 0 && entries == 0 {
            let _ = wakes.recv_timeout(Duration::from_millis(500));
            continue;
        }
        info!(height, records, entries, "mining");
        let started = Instant::now();
        let options = SearchOptions { threads, cancel: Some(shared.cancel.clone()), ..SearchOptions::default() };
        match shared.chain.mine_next(miner, None, &options) {
            Ok(MineNextOutcome::Added(block, outcome)) => {
                shared.wrote(None);
                shared.metrics.mined_blocks.inc();
                info!(
                    height = block.height,
                    id = %block.block_id,
                    records = block.records.len(),
                    outcome = outcome.as_str(),
                    seconds = started.elapsed().as_secs_f64(),
                    "mined"
                );
                shared.announce();
            }
            Ok(MineNextOutcome::Cancelled) => return,
            Ok(other) => debug!(?other, "search ended without a block"),
            Err(e) => {
                shared.wrote(Some(&e));
                error!(error = %e, "mining failed");
                let _ = wakes.recv_timeout(Duration::from_secs(1));
            }
        }
    }
}

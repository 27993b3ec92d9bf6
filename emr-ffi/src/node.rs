//! Nodes (SPEC section 9) from C: the consortium's TLS credentials
//! (`emr_tls`) and a one-shot sync of a chain held by the caller from a
//! node's URL (`emr_chain_sync`, with its `emr_sync_report`).
//!
//! The client, its URL and TLS rules and the sync itself are the Rust crate
//! `emr-node`'s; this module translates arguments, the report and the
//! errors (the peer's kinds get statuses of their own, EMR_PEER_*).

use core::ffi::c_char;
use std::sync::Arc;

use emr_core::chain::Work;
use emr_node::client::{Client, ClientError};
use emr_node::pki::{Credentials, PkiError};
use emr_node::sync::{self, SyncError, SyncOptions, SyncReport};

use crate::chain::{emr_batch_options, emr_chain, Batch};
use crate::ptr::{self, Out, OutHandle};
use crate::status::{
    emr_status, Error, EMR_CANCELLED, EMR_INVALID_ARGUMENT, EMR_INVALID_KEY, EMR_PEER_INCOMPATIBLE, EMR_PEER_MISBEHAVED,
    EMR_PEER_REFUSED, EMR_PEER_UNREACHABLE, EMR_SYNC_INCOMPLETE,
};

/// A program's TLS identity in a consortium (SPEC 9.4): the consortium
/// authority's certificate, and the program's own certificate and key
/// (from `emr node ca new` and `emr node cert new`). Opaque; immutable
/// once made, so any number of threads may use it at once.
pub struct emr_tls {
    config: Arc<emr_node::client::ClientConfig>,
}

/// What emr_chain_sync did. Its layout is fixed: later details will come
/// in a new struct, never by growing this one.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct emr_sync_report {
    /// Blocks received from the peer and offered to the chain.
    pub received: u64,
    /// Of those: blocks that extended the active chain.
    pub extended: u64,
    /// Blocks stored on a side branch.
    pub side_branch: u64,
    /// Blocks whose add moved the active chain to another branch.
    pub reorganized: u64,
    /// Blocks the chain already held.
    pub already_known: u64,
    /// Blocks judged stale at the end of the add (not stored).
    pub stale: u64,
    /// Records and entries newly kept as conflicts (SPEC 9.3,
    /// emr_chain_conflicts).
    pub new_conflicts: u64,
    /// The active chain's length afterwards.
    pub height: u64,
    /// Its total difficulty afterwards, 256-bit big-endian (as
    /// emr_chain_total_difficulty).
    pub work: [u8; 32],
    /// The total difficulty the peer advertised, 256-bit big-endian.
    pub peer_work: [u8; 32],
    /// Whether fork_height holds the height of the last block both chains
    /// held (false when the peer was not heavier, or nothing was common).
    pub has_fork: bool,
    /// That height when has_fork is true; 0 otherwise.
    pub fork_height: u64,
}

fn work_bytes(decimal: &str) -> [u8; 32] {
    decimal.parse::<Work>().map_or([0; 32], Work::to_be_bytes)
}

impl From<&SyncReport> for emr_sync_report {
    fn from(r: &SyncReport) -> emr_sync_report {
        emr_sync_report {
            received: r.received,
            extended: r.extended,
            side_branch: r.side_branch,
            reorganized: r.reorganized,
            already_known: r.already_known,
            stale: r.stale,
            new_conflicts: r.new_conflicts,
            height: r.height,
            work: work_bytes(&r.work),
            peer_work: work_bytes(&r.peer_work),
            has_fork: r.fork_height.is_some(),
            fork_height: r.fork_height.unwrap_or(0),
        }
    }
}

fn pki_error(error: PkiError) -> Error {
    let status = if matches!(error, PkiError::InvalidKey(_)) { EMR_INVALID_KEY } else { EMR_INVALID_ARGUMENT };
    Error::new(status, error.to_string())
}

fn client_error(error: ClientError) -> Error {
    let status = match &error {
        ClientError::InvalidUrl(_) => EMR_INVALID_ARGUMENT,
        ClientError::Unreachable(_) | ClientError::Timeout(_) => EMR_PEER_UNREACHABLE,
        ClientError::Status { .. } => EMR_PEER_REFUSED,
        ClientError::TooLarge(_) | ClientError::Malformed(_) => EMR_PEER_MISBEHAVED,
    };
    Error::new(status, error.to_string())
}

fn sync_error(error: SyncError) -> Error {
    match error {
        SyncError::Peer(e) => client_error(e),
        SyncError::Incompatible(m) => Error::new(EMR_PEER_INCOMPATIBLE, format!("incompatible peer: {m}")),
        SyncError::Misbehaved(m) => Error::new(EMR_PEER_MISBEHAVED, format!("misbehaving peer: {m}")),
        SyncError::NotNow(m) => Error::new(EMR_SYNC_INCOMPLETE, format!("sync incomplete: {m}")),
        SyncError::Chain(e) => e.into(),
        SyncError::Cancelled => Error::new(EMR_CANCELLED, "cancelled: the sync was cancelled; what it added is kept"),
    }
}

/// Makes TLS credentials from three PEM texts: the consortium authority's
/// certificate, the program's certificate (signed by that authority) and
/// its private key. Connections made with them speak TLS 1.3 only, trust
/// only that authority (not the system's roots) and present the
/// certificate.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT if a certificate does not parse
///          as PEM, or the program's certificate was not issued by the
///          authority for a node (emr_last_error_message() says which);
///          EMR_INVALID_KEY if the key does not parse or is not the
///          certificate's; EMR_NULL_ARGUMENT if out is NULL or a pointer is
///          NULL with a non-zero length.
/// In:      ca_pem, ca_len:     the authority's certificate (PEM bytes).
///          cert_pem, cert_len: the program's certificate (PEM bytes).
///          key_pem, key_len:   its private key (PEM bytes); copied.
/// Out:     out: the credentials, freed with emr_tls_free; NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_tls_new(
    ca_pem: *const u8,
    ca_len: usize,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
    out: *mut *mut emr_tls,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let ca = unsafe { ptr::slice(ca_pem, ca_len, "ca_pem") }?;
        let cert = unsafe { ptr::slice(cert_pem, cert_len, "cert_pem") }?;
        let key = unsafe { ptr::slice(key_pem, key_len, "key_pem") }?;
        let credentials = Credentials::from_pem(ca, cert, key).map_err(pki_error)?;
        let config = credentials.client_config().map_err(pki_error)?;
        out.set(emr_tls { config: Arc::new(config) });
        Ok(())
    })
}

/// Frees credentials made by emr_tls_new. NULL is allowed.
///
/// Args:    tls: the credentials; not used afterwards.
/// Thread-safety: needs exclusive use of tls.
#[no_mangle]
pub unsafe extern "C" fn emr_tls_free(tls: *mut emr_tls) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: NULL or a live handle.
        unsafe { ptr::free(tls) }
    })
}

/// Brings the chain in step with the node at url, once (SPEC 9.2): reads
/// its /v1/info; when its chain is another one (another chain id or
/// genesis) fails with EMR_PEER_INCOMPATIBLE; when its work is greater
/// than this chain's, finds the last common block, fetches every block
/// after it page by page and adds them all in one add call (as
/// emr_chain_add_blocks: a reorganization happens exactly as there, and a
/// record that cannot return to the pool is kept as a conflict,
/// emr_chain_conflicts). A node no heavier gives EMR_OK with
/// report->received == 0.
///
/// Every connection is bounded in time (connect 5 s, a whole request 30 s)
/// and in what it reads. Plain http:// is allowed to a loopback address
/// (127.0.0.1, ::1, localhost) only; https:// needs tls.
///
/// Returns: EMR_OK; EMR_PEER_UNREACHABLE if the node could not be asked
///          (no connection, a failed TLS handshake, no answer in time);
///          EMR_PEER_REFUSED if it answered an HTTP error status (403 this
///          client is suspended, 429 too many requests, 503 shutting
///          down); EMR_PEER_MISBEHAVED if it broke the protocol (an answer
///          over its limit or malformed, a block that fails the chain's
///          checks, less work delivered than advertised);
///          EMR_PEER_INCOMPATIBLE (above); EMR_SYNC_INCOMPLETE if the sync
///          stopped for a reason that is nobody's fault yet (the node's
///          chain moved meanwhile, a block ahead of this clock: sync again
///          later); EMR_CANCELLED if options->cancel was triggered; the
///          chain's own statuses (EMR_LOCKED, EMR_CORRUPT, EMR_IO; and
///          EMR_INVALID_ARGUMENT if it is read-only). Blocks added before a
///          failure stay added (each passed every check).
///          EMR_INVALID_ARGUMENT also for a URL that is not
///          http(s)://HOST:PORT, plain http:// to another machine, https://
///          without tls, or options as for emr_chain_add_blocks;
///          EMR_NULL_ARGUMENT if chain or url is NULL.
/// Args:    chain:   the chain, changed; held for the whole call.
/// In:      url:     the node's URL, NUL-terminated, e.g.
///                   "https://node-a.example:8443" or "http://127.0.0.1:8080".
///          tls:     the credentials for https://, or NULL (plain http://).
///          options: the cancel handle and the progress callback (blocks
///                   added so far of those the node announced), as for
///                   emr_chain_add_blocks; options->threads is checked but
///                   the checks run on the library's verification pool on
///                   every core. NULL: the defaults.
/// Out:     report:  what the sync did, written on EMR_OK; may be NULL if
///                   not wanted.
/// Thread-safety: safe to call from any thread; calls on one chain run one
///          at a time (this one holds it while it waits for the network).
///          The progress callback runs on the calling thread;
///          emr_cancel_trigger may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_chain_sync(
    chain: *mut emr_chain,
    url: *const c_char,
    tls: *const emr_tls,
    options: *const emr_batch_options,
    report: *mut emr_sync_report,
) -> emr_status {
    ffi_boundary!({
        // SAFETY (all): documented contracts of every argument.
        let report = unsafe { Out::optional(report) };
        let chain = unsafe { ptr::handle(chain.cast_const(), "chain") }?;
        let url = unsafe { ptr::c_str(url, "url") }?
            .to_str()
            .map_err(|_| Error::invalid_argument("`url` is not UTF-8"))?;
        let tls = unsafe { ptr::optional(tls, "tls") }?.map(|t| t.config.clone());
        let batch = unsafe { Batch::read(options, chain) }?;
        let client = Client::new(url, tls).map_err(client_error)?;
        let mut guard = chain.lock()?;
        let result = batch.run_with_progress(|progress, cancel| {
            sync::sync_once(&mut guard, &client, &SyncOptions { progress, cancel })
        });
        drop(guard);
        let done = result.map_err(sync_error)?;
        if let Some(out) = report {
            out.write(emr_sync_report::from(&done));
        }
        Ok(())
    })
}

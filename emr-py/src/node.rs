//! The native half of `cryptoemr.node` (SPEC section 9): a client of a
//! node, a one-shot sync of a chain held in this process, a node served
//! from background threads of this process, and the consortium's
//! certificates.
//!
//! Every rule is `emr-node`'s (the client's URL and TLS rules, the sync of
//! SPEC 9.2, the node itself) or `emr-core`'s; this module converts
//! arguments, releases the GIL while the network or the node works, and
//! turns `emr-node`'s errors into the exception classes of
//! `cryptoemr/errors.py` (`NodeError` and its subclasses). The Python
//! module `cryptoemr/node.py` turns the JSON answers into Python values.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use emr_core::address::Role;
use emr_core::chain::BatchProgress;
use emr_core::mining::CancelHandle;
use emr_core::{ErrorKind, Hash160, Hash256};
use emr_node::client::{Client, ClientConfig, ClientError};
use emr_node::node::{Listen, NodeConfig, NodeError, NodeHandle};
use emr_node::pki::{self, Credentials, PkiError};
use emr_node::sync::{self, SyncError, SyncOptions, SyncReport};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::chain::PyChain;
use crate::convert;
use crate::errors;
use crate::wait;

/// An instance of the node exception class `name` (`cryptoemr.errors`)
/// with `message`, and `.status` when the peer answered an HTTP status.
fn node_exception(py: Python<'_>, name: &str, message: String, status: Option<u16>) -> PyErr {
    let built = (|| -> PyResult<Bound<'_, PyAny>> {
        let exception = py.import("cryptoemr.errors")?.getattr(name)?.call1((message,))?;
        exception.setattr("status", status)?;
        Ok(exception)
    })();
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(error) => error,
    }
}

/// A client's failure: `InvalidArgumentError` for a URL it may not use,
/// `PeerUnreachableError` (no connection, handshake, timeout),
/// `PeerRefusedError` (an HTTP error status, `.status`),
/// `MisbehavingPeerError` (an answer over its limit or malformed).
pub(crate) fn client_error(py: Python<'_>, error: ClientError) -> PyErr {
    let message = error.to_string();
    match error {
        ClientError::InvalidUrl(_) => errors::invalid_argument(py, message),
        ClientError::Unreachable(_) | ClientError::Timeout(_) => {
            node_exception(py, "PeerUnreachableError", message, None)
        }
        ClientError::Status { status, .. } => node_exception(py, "PeerRefusedError", message, Some(status)),
        ClientError::TooLarge(_) | ClientError::Malformed(_) => {
            node_exception(py, "MisbehavingPeerError", message, None)
        }
    }
}

/// A sync's failure: the client's classes, `IncompatiblePeerError`,
/// `MisbehavingPeerError`, `SyncIncompleteError`, the chain's own class,
/// `CancelledError`.
fn sync_error(py: Python<'_>, error: SyncError) -> PyErr {
    match error {
        SyncError::Peer(e) => client_error(py, e),
        SyncError::Incompatible(m) => node_exception(py, "IncompatiblePeerError", m, None),
        SyncError::Misbehaved(m) => node_exception(py, "MisbehavingPeerError", m, None),
        SyncError::NotNow(m) => node_exception(py, "SyncIncompleteError", m, None),
        SyncError::Chain(e) => errors::chain(py, e),
        SyncError::Cancelled => errors::of_kind(py, ErrorKind::Cancelled, "the sync was cancelled"),
    }
}

/// Certificates and keys that do not do: `InvalidKeyError` for the key,
/// `InvalidArgumentError` for the rest.
fn pki_error(py: Python<'_>, error: PkiError) -> PyErr {
    match error {
        PkiError::InvalidKey(_) => errors::of_kind(py, ErrorKind::InvalidKey, error.to_string()),
        other => errors::invalid_argument(py, other.to_string()),
    }
}

fn node_error(py: Python<'_>, error: NodeError) -> PyErr {
    match error {
        NodeError::InvalidArgument(m) => errors::invalid_argument(py, m),
        NodeError::Chain(e) => errors::chain(py, e),
        NodeError::Io(m) => errors::of_kind(py, ErrorKind::Io, m),
    }
}

/// An argument that is neither absent nor `None`.
fn given<'py>(value: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
    value.filter(|v| !v.is_none()).cloned()
}

/// PEM bytes (bytes-like, or `str`) of `ca`, `cert` and `key`: all three or
/// none (`InvalidArgumentError` otherwise).
fn credentials(
    py: Python<'_>,
    ca: Option<&Bound<'_, PyAny>>,
    cert: Option<&Bound<'_, PyAny>>,
    key: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Credentials>> {
    match (given(ca), given(cert), given(key)) {
        (None, None, None) => Ok(None),
        (Some(ca), Some(cert), Some(key)) => {
            let ca = convert::bytes_or_text(&ca, "ca")?;
            let cert = convert::bytes_or_text(&cert, "cert")?;
            let key = zeroize::Zeroizing::new(convert::bytes_or_text(&key, "key")?);
            Credentials::from_pem(&ca, &cert, &key).map(Some).map_err(|e| pki_error(py, e))
        }
        _ => Err(errors::invalid_argument(
            py,
            "ca, cert and key go together: the consortium authority's certificate, this program's certificate and its key (PEM)",
        )),
    }
}

fn client_config(py: Python<'_>, credentials: Option<&Credentials>) -> PyResult<Option<Arc<ClientConfig>>> {
    credentials
        .map(|c| c.client_config().map(Arc::new).map_err(|e| pki_error(py, e)))
        .transpose()
}

/// A client of one node: `_NodeClient(url, ca, cert, key)`; see
/// `cryptoemr.node.Client`.
#[pyclass(module = "cryptoemr._native", name = "_NodeClient", frozen)]
pub struct PyNodeClient {
    client: Client,
}

#[pymethods]
impl PyNodeClient {
    #[new]
    #[pyo3(signature = (url, ca = None, cert = None, key = None))]
    fn new(
        py: Python<'_>,
        url: &Bound<'_, PyAny>,
        ca: Option<&Bound<'_, PyAny>>,
        cert: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyNodeClient> {
        let url = convert::text(url, "url")?;
        let credentials = credentials(py, ca, cert, key)?;
        let tls = client_config(py, credentials.as_ref())?;
        let client = py.detach(|| Client::new(&url, tls)).map_err(|e| client_error(py, e))?;
        Ok(PyNodeClient { client })
    }

    /// The node's URL, as the client reads it.
    #[getter]
    fn url(&self) -> String {
        self.client.endpoint().to_string()
    }

    /// `GET /v1/info`, checked for its shape, as JSON text.
    fn info(&self, py: Python<'_>) -> PyResult<String> {
        let info = py.detach(|| self.client.info()).map_err(|e| client_error(py, e))?;
        serde_json::to_string(&info).map_err(|e| errors::invalid_argument(py, e.to_string()))
    }

    /// A JSON answer of `GET path`, as JSON text; `None` for 404.
    fn get_json(&self, py: Python<'_>, path: &str) -> PyResult<Option<String>> {
        match py.detach(|| self.client.json("GET", path, None)) {
            Ok(value) => Ok(Some(value.to_string())),
            Err(ClientError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(client_error(py, e)),
        }
    }

    /// `POST /v1/submit` with one encoding: `(outcome, pending_txid)` or
    /// `(kind, message)` of a refusal, as `("ok" | "refused", name,
    /// detail)`: `detail` is the pending txid (bytes) of
    /// `conflicts_with_pending`, a refusal's message, or `None`.
    fn submit<'py>(&self, py: Python<'py>, encoded: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let bytes = convert::bytes_like(encoded, "encoded")?;
        let answer = py.detach(|| self.client.submit(bytes)).map_err(|e| client_error(py, e))?;
        let (status, name, detail): (&str, String, Bound<'py, PyAny>) = match answer.answer {
            emr_node::api::Answer::Outcome(name) => {
                let detail = match answer.pending_txid {
                    Some(txid) => PyBytes::new(py, txid.as_bytes()).into_any(),
                    None => py.None().into_bound(py),
                };
                ("ok", name, detail)
            }
            emr_node::api::Answer::Refused { kind, message } => {
                ("refused", kind, message.into_pyobject(py)?.into_any())
            }
        };
        PyTuple::new(py, [status.into_pyobject(py)?.into_any(), name.into_pyobject(py)?.into_any(), detail])
    }

    fn __repr__(&self) -> String {
        format!("<cryptoemr.node.Client {}>", self.client.endpoint())
    }
}

fn report_dict<'py>(py: Python<'py>, report: &SyncReport) -> PyResult<Bound<'py, PyDict>> {
    let int = |text: &str| -> PyResult<Bound<'py, PyAny>> { py.get_type::<pyo3::types::PyInt>().call1((text,)) };
    let dict = PyDict::new(py);
    dict.set_item("received", report.received)?;
    dict.set_item("extended", report.extended)?;
    dict.set_item("side_branch", report.side_branch)?;
    dict.set_item("reorganized", report.reorganized)?;
    dict.set_item("already_known", report.already_known)?;
    dict.set_item("stale", report.stale)?;
    dict.set_item("new_conflicts", report.new_conflicts)?;
    dict.set_item("height", report.height)?;
    dict.set_item("work", int(&report.work)?)?;
    dict.set_item("peer_work", int(&report.peer_work)?)?;
    dict.set_item("fork_height", report.fork_height)?;
    Ok(dict)
}

/// `_sync(chain, client, progress)`: a one-shot sync (SPEC 9.2) of
/// `chain` from the node `client` reaches, as a dict of the report's
/// fields; see `cryptoemr.node.sync`.
#[pyfunction]
#[pyo3(signature = (chain, client, progress = None))]
pub fn _sync<'py>(
    py: Python<'py>,
    chain: &Bound<'py, PyChain>,
    client: &Bound<'py, PyNodeClient>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let progress = wait::progress_callback(progress)?;
    let wants_progress = progress.is_some();
    let chain = chain.get();
    let client = &client.get().client;
    let cancel = CancelHandle::new();
    let on_progress = |p: BatchProgress| match &progress {
        Some(callback) => callback.call1((p.done, p.total)).map(drop),
        None => Ok(()),
    };
    let result = wait::run(py, "emr-sync", &cancel, on_progress, |reporter| {
        let report = |p: BatchProgress| reporter.report(p);
        let options = SyncOptions {
            progress: if wants_progress { Some(&report) } else { None },
            cancel: Some(&cancel),
        };
        chain.shared().with(|c| Ok(sync::sync_once(c, client, &options)))
    })?;
    let report = result.map_err(|e| errors::chain(py, e))?.map_err(|e| sync_error(py, e))?;
    report_dict(py, &report)
}

/// `HOST:PORT` as one socket address (the first a name resolves to).
fn socket_address(py: Python<'_>, text: &str) -> PyResult<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let resolved = py.detach(|| text.to_socket_addrs().map(|mut a| a.next()));
    match resolved {
        Ok(Some(addr)) => Ok(addr),
        _ => Err(errors::invalid_argument(py, format!("listen: {text:?} is not HOST:PORT"))),
    }
}

/// A list of `str` from a `str` (one) or an iterable of them.
fn texts(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(Vec::new()) };
    if value.is_instance_of::<pyo3::types::PyString>() {
        return Ok(vec![convert::text(value, what)?]);
    }
    let items = value.try_iter().map_err(|_| {
        PyTypeError::new_err(format!("{what} must be a str or an iterable of str, not {}", convert::type_name(value)))
    })?;
    items.enumerate().map(|(i, item)| convert::text(&item?, &format!("{what}[{i}]"))).collect()
}

/// A node running in background threads of this process:
/// `_serve(...)` starts it; see `cryptoemr.node.serve`.
#[pyclass(module = "cryptoemr._native", name = "_NodeServer", frozen)]
pub struct PyNodeServer {
    handle: Mutex<Option<NodeHandle>>,
    addresses: Vec<SocketAddr>,
    /// Whether each listener speaks TLS, in the order of `addresses`.
    tls: Vec<bool>,
}

impl PyNodeServer {
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&NodeHandle) -> T + Send) -> PyResult<T> {
        py.detach(|| {
            let guard = self.handle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.as_ref().map(f)
        })
        .ok_or_else(|| errors::invalid_argument(py, "the node was stopped"))
    }
}

/// `_serve(path, listen, local, peers, ca, cert, key, miner, threads,
/// poll)`: starts a node on the chain file `path`.
#[pyfunction]
#[pyo3(signature = (path, listen, local = None, peers = None, ca = None, cert = None, key = None, miner = None, threads = None, poll = 2.0))]
#[allow(clippy::too_many_arguments)]
pub fn _serve(
    py: Python<'_>,
    path: std::path::PathBuf,
    listen: &Bound<'_, PyAny>,
    local: Option<&Bound<'_, PyAny>>,
    peers: Option<&Bound<'_, PyAny>>,
    ca: Option<&Bound<'_, PyAny>>,
    cert: Option<&Bound<'_, PyAny>>,
    key: Option<&Bound<'_, PyAny>>,
    miner: Option<&Bound<'_, PyAny>>,
    threads: Option<&Bound<'_, PyAny>>,
    poll: f64,
) -> PyResult<PyNodeServer> {
    let credentials = credentials(py, ca, cert, key)?;
    let tls = credentials.is_some();
    let mut listeners = Vec::new();
    for text in texts(Some(listen), "listen")? {
        listeners.push(Listen { addr: socket_address(py, &text)?, tls });
    }
    for text in texts(local, "local")? {
        listeners.push(Listen { addr: socket_address(py, &text)?, tls: false });
    }
    let mut config = NodeConfig::new(path, listeners.clone());
    config.credentials = credentials;
    config.peers = texts(peers, "peers")?;
    if let Some(miner) = miner.filter(|m| !m.is_none()) {
        let bytes = crate::address::hash_or_address(miner, Role::Miner, "miner")?;
        config.miner = Some(Hash160::from_slice(&bytes).ok_or_else(|| {
            errors::invalid_argument(py, format!("miner must be 20 bytes, got {}", bytes.len()))
        })?);
    }
    config.threads = convert::parallelism(py, threads)?.limit().map(std::num::NonZeroUsize::get);
    if !(poll.is_finite() && poll > 0.0 && poll <= 86_400.0) {
        return Err(errors::invalid_argument(py, format!("poll must be seconds in (0, 86400], not {poll}")));
    }
    config.poll = Duration::from_secs_f64(poll);
    let handle = py.detach(|| emr_node::node::start(config)).map_err(|e| node_error(py, e))?;
    let addresses = handle.addresses().to_vec();
    Ok(PyNodeServer { handle: Mutex::new(Some(handle)), addresses, tls: listeners.iter().map(|l| l.tls).collect() })
}

#[pymethods]
impl PyNodeServer {
    /// `[(host, port, tls), ...]`, in the order of the listeners.
    #[getter]
    fn addresses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .addresses
            .iter()
            .zip(&self.tls)
            .map(|(a, tls)| (a.ip().to_string(), a.port(), *tls).into_pyobject(py))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// `GET /v1/status`'s report, as JSON text.
    fn status(&self, py: Python<'_>) -> PyResult<String> {
        let status = self.with(py, |h| h.status())?;
        status.map(|v| v.to_string()).map_err(|e| errors::chain(py, e))
    }

    /// "Seen by k of n sites" for a 32-byte block id or txid, as JSON
    /// text; `None` when the active chain holds neither.
    fn seen(&self, py: Python<'_>, hash: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        let hash: Hash256 = crate::chain::hash256(hash, "hash")?;
        let seen = self.with(py, move |h| h.seen(&hash))?;
        seen.map(|v| v.map(|v| v.to_string())).map_err(|e| errors::chain(py, e))
    }

    /// Whether the node runs.
    #[getter]
    fn running(&self) -> bool {
        self.handle.lock().map(|h| h.is_some()).unwrap_or(false)
    }

    /// Stops the node (requests answered 503, syncs and searches stopped,
    /// threads joined, the chain closed); again: nothing.
    fn shutdown(&self, py: Python<'_>) {
        py.detach(|| {
            let handle = self.handle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(handle) = handle {
                handle.shutdown();
            }
        });
    }
}

/// `_new_authority(name, days)`: a consortium authority, `(cert_pem,
/// key_pem)`, as `emr node ca new` makes it.
#[pyfunction]
#[pyo3(signature = (name, days = pki::DEFAULT_CA_DAYS))]
pub fn _new_authority<'py>(py: Python<'py>, name: &str, days: u32) -> PyResult<Bound<'py, PyTuple>> {
    let issued = pki::new_authority(name, days).map_err(|e| pki_error(py, e))?;
    PyTuple::new(py, [PyBytes::new(py, issued.cert_pem.as_bytes()), PyBytes::new(py, issued.key_pem.as_bytes())])
}

/// `_issue_certificate(ca_cert, ca_key, names, days)`: a node's or a
/// program's certificate, `(cert_pem, key_pem)`, as `emr node cert new`
/// makes it.
#[pyfunction]
#[pyo3(signature = (ca_cert, ca_key, names, days = pki::DEFAULT_NODE_DAYS))]
pub fn _issue_certificate<'py>(
    py: Python<'py>,
    ca_cert: &Bound<'py, PyAny>,
    ca_key: &Bound<'py, PyAny>,
    names: &Bound<'py, PyAny>,
    days: u32,
) -> PyResult<Bound<'py, PyTuple>> {
    let cert = convert::bytes_or_text(ca_cert, "ca_cert")?;
    let key = zeroize::Zeroizing::new(convert::bytes_or_text(ca_key, "ca_key")?);
    let names = texts(Some(names), "names")?;
    let authority = pki::Authority::from_pem(&cert, &key).map_err(|e| pki_error(py, e))?;
    let issued = authority.issue(&names, days).map_err(|e| pki_error(py, e))?;
    PyTuple::new(py, [PyBytes::new(py, issued.cert_pem.as_bytes()), PyBytes::new(py, issued.key_pem.as_bytes())])
}

//! A client of one node's API (SPEC 9.1), blocking: each call runs on the
//! client's own single-threaded runtime, so that programs without one (the
//! command line, Python, C, the node's own sync threads) can use it.
//!
//! Every call is one connection (TLS 1.3 with the consortium's settings,
//! or plain HTTP to a loopback address only), bounded in time (connect 5 s,
//! the whole request 30 s) and in what it reads (each answer's limit is
//! checked before and while its body arrives).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use emr_core::{Block, Hash256};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use pki_types::ServerName;
pub use rustls::ClientConfig;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::api::{self, Answer, Info};

/// SPEC 9.2's timeouts.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole request, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call to a node did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The URL is not one this client may use.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// No connection, a failed handshake, a connection dropped.
    #[error("{0}")]
    Unreachable(String),
    /// The node did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The node answered with an error status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The answer's text (cut short).
        body: String,
    },
    /// The answer was longer than its limit.
    #[error("the answer is longer than {0} bytes")]
    TooLarge(u64),
    /// The answer is not what the endpoint answers.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl ClientError {
    /// Whether the error shows the peer broke the protocol (SPEC 9.2:
    /// suspended), rather than being away or busy (retried later).
    pub fn is_misbehaviour(&self) -> bool {
        matches!(self, ClientError::TooLarge(_) | ClientError::Malformed(_))
    }
}

/// Where a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Whether it speaks TLS.
    pub https: bool,
    /// The host name or address, without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Endpoint {
    /// Reads `http://HOST:PORT` or `https://HOST:PORT` (a trailing `/` is
    /// allowed, nothing else after the port). Plain HTTP only to a
    /// loopback address (SPEC 9.4).
    pub fn parse(url: &str) -> Result<Endpoint, ClientError> {
        let bad = |why: &str| ClientError::InvalidUrl(format!("{url:?}: {why}"));
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("it must start with http:// or https://"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("an IPv6 address needs its closing ]"))?;
            (host, after.strip_prefix(':').ok_or_else(|| bad("a port is required"))?)
        } else {
            rest.rsplit_once(':').ok_or_else(|| bad("a port is required"))?
        };
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("no host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("the port must be a number 1 to 65535"))?;
        if port == 0 {
            return Err(bad("the port must be a number 1 to 65535"));
        }
        let endpoint = Endpoint { https, host: host.to_owned(), port };
        if !https && !endpoint.is_loopback() {
            return Err(bad("plain HTTP is only for a loopback address (127.0.0.1, ::1, localhost); use https://"));
        }
        Ok(endpoint)
    }

    /// Whether the host is this machine.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn addresses(&self) -> Result<Vec<SocketAddr>, ClientError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| ClientError::Unreachable(format!("{}: {e}", self.host)))?
            .collect();
        if !self.https && !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(ClientError::InvalidUrl(format!("{} is not a loopback address", self.host)));
        }
        Ok(addrs)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// What `POST /v1/submit` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitAnswer {
    /// The outcome or the refusal.
    pub answer: Answer,
    /// For `conflicts_with_pending`: the pending record's txid.
    pub pending_txid: Option<Hash256>,
}

/// A client of one node.
pub struct Client {
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
    runtime: tokio::runtime::Runtime,
    /// SHA-256 of the certificate the server showed last, hex.
    server_cert: Mutex<Option<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

fn cut(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    text.chars().take(300).collect()
}

impl Client {
    /// A client of the node at `url`; an `https://` URL needs `tls` (the
    /// consortium's client settings, `pki::Credentials::client_config`).
    pub fn new(url: &str, tls: Option<Arc<ClientConfig>>) -> Result<Client, ClientError> {
        let endpoint = Endpoint::parse(url)?;
        let tls = match (endpoint.https, tls) {
            (true, Some(config)) => Some(TlsConnector::from(config)),
            (true, None) => {
                return Err(ClientError::InvalidUrl(format!(
                    "{url}: https needs the consortium's authority, a certificate and its key"
                )))
            }
            (false, _) => None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Unreachable(format!("cannot start the client's runtime: {e}")))?;
        Ok(Client { endpoint, tls, runtime, server_cert: Mutex::new(None) })
    }

    /// Where this client connects.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The SHA-256 (hex) of the certificate the server presented at the
    /// last TLS connection: who it is, to suspend it by.
    pub fn server_cert(&self) -> Option<String> {
        self.server_cert.lock().map(|g| g.clone()).unwrap_or(None)
    }

    /// One request: `method path`, with `body` (octet-stream) if any; the
    /// answer's status and body, read up to `limit` bytes.
    pub fn request(&self, method: &str, path: &str, body: Option<Vec<u8>>, limit: u64) -> Result<(u16, Vec<u8>), ClientError> {
        self.runtime.block_on(async {
            match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body, limit)).await {
                Ok(result) => result,
                Err(_) => Err(ClientError::Timeout(REQUEST_TIMEOUT)),
            }
        })
    }

    async fn connect(&self) -> Result<TcpStream, ClientError> {
        let mut last = None;
        for addr in self.endpoint.addresses()? {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = Some(ClientError::Unreachable(format!("{}: {e}", self.endpoint))),
                Err(_) => last = Some(ClientError::Timeout(CONNECT_TIMEOUT)),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Unreachable(format!("{}: no address", self.endpoint.host))))
    }

    async fn exchange(&self, method: &str, path: &str, body: Option<Vec<u8>>, limit: u64) -> Result<(u16, Vec<u8>), ClientError> {
        let stream = self.connect().await?;
        let host = self.endpoint.to_string();
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, host.trim_start_matches("https://").trim_start_matches("http://"));
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/octet-stream");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
        let unreachable = |e: hyper::Error| ClientError::Unreachable(format!("{}: {e}", self.endpoint));
        let response = match &self.tls {
            Some(connector) => {
                let name = ServerName::try_from(self.endpoint.host.clone())
                    .map_err(|e| ClientError::InvalidUrl(format!("{}: {e}", self.endpoint.host)))?;
                let tls = connector
                    .connect(name, stream)
                    .await
                    .map_err(|e| ClientError::Unreachable(format!("{}: TLS: {e}", self.endpoint)))?;
                let seen = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| {
                    hex::encode(ring::digest::digest(&ring::digest::SHA256, c.as_ref()))
                });
                if let Ok(mut slot) = self.server_cert.lock() {
                    *slot = seen;
                }
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(unreachable)?;
                tokio::spawn(connection);
                sender.send_request(request).await.map_err(unreachable)?
            }
            None => {
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(unreachable)?;
                tokio::spawn(connection);
                sender.send_request(request).await.map_err(unreachable)?
            }
        };
        let status = response.status().as_u16();
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ClientError::TooLarge(limit));
        }
        let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
        let body = Limited::new(response.into_body(), limit_usize).collect().await.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                ClientError::TooLarge(limit)
            } else {
                ClientError::Unreachable(format!("{}: {e}", self.endpoint))
            }
        })?;
        Ok((status, body.to_bytes().to_vec()))
    }

    fn ok(&self, method: &str, path: &str, body: Option<Vec<u8>>, limit: u64) -> Result<Vec<u8>, ClientError> {
        let (status, bytes) = self.request(method, path, body, limit)?;
        if status != 200 {
            return Err(ClientError::Status { status, body: cut(&bytes) });
        }
        Ok(bytes)
    }

    /// A JSON answer of `GET path` (or `POST` with `body`).
    pub fn json(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Value, ClientError> {
        let bytes = self.ok(method, path, body, api::MAX_JSON_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Malformed(format!("{path}: not JSON ({e})")))
    }

    /// `GET /v1/info`.
    pub fn info(&self) -> Result<Info, ClientError> {
        let value = self.json("GET", "/v1/info", None)?;
        serde_json::from_value(value).map_err(|e| ClientError::Malformed(format!("/v1/info: {e}")))
    }

    /// `GET /v1/ids`: active ids from `from`, at most `count` (1 to 2000).
    /// An answer longer than asked, or not whole ids, is malformed.
    pub fn ids(&self, from: u64, count: u64) -> Result<Vec<Hash256>, ClientError> {
        let count = count.clamp(1, api::MAX_IDS);
        let bytes = self.ok("GET", &format!("/v1/ids?from={from}&count={count}"), None, count * 32)?;
        if bytes.len() % 32 != 0 {
            return Err(ClientError::Malformed(format!("/v1/ids: {} bytes is not a list of ids", bytes.len())));
        }
        Ok(bytes.chunks_exact(32).filter_map(Hash256::from_slice).collect())
    }

    /// `GET /v1/blocks`: a page of active blocks from `from` (at most
    /// `count`, 1 to 500). A page longer than asked is malformed.
    pub fn blocks(&self, from: u64, count: u64) -> Result<Vec<Block>, ClientError> {
        let count = count.clamp(1, api::MAX_PAGE_BLOCKS);
        let path = format!("/v1/blocks?from={from}&count={count}");
        let bytes = self.ok("GET", &path, None, api::MAX_PAGE_ANSWER_BYTES)?;
        emr_core::blockfile::decode(bytes.as_slice(), count).map_err(|e| ClientError::Malformed(format!("{path}: {e}")))
    }

    /// `GET /v1/block/<id>`: `None` when the node does not hold it.
    pub fn block(&self, id: &Hash256) -> Result<Option<Block>, ClientError> {
        let path = format!("/v1/block/{id}");
        let (status, bytes) = self.request("GET", &path, None, emr_core::blockfile::MAX_BLOCK_BYTES)?;
        match status {
            200 => Block::from_bytes(&bytes).map(Some).map_err(|e| ClientError::Malformed(format!("{path}: {e}"))),
            404 => Ok(None),
            status => Err(ClientError::Status { status, body: cut(&bytes) }),
        }
    }

    /// `POST /v1/blocks` with a block file: one answer per block, up to
    /// and including the first refusal.
    pub fn post_blocks(&self, file: Vec<u8>) -> Result<Vec<Answer>, ClientError> {
        let value = self.json("POST", "/v1/blocks", Some(file))?;
        let outcomes = value.get("outcomes").and_then(Value::as_array).ok_or_else(|| {
            ClientError::Malformed("/v1/blocks: no outcomes".into())
        })?;
        outcomes
            .iter()
            .map(|v| Answer::from_json(v).ok_or_else(|| ClientError::Malformed(format!("/v1/blocks: outcome {v}"))))
            .collect()
    }

    /// `POST /v1/submit` with one record's or entry's encoding.
    pub fn submit(&self, encoded: Vec<u8>) -> Result<SubmitAnswer, ClientError> {
        let value = self.json("POST", "/v1/submit", Some(encoded))?;
        let answer = value
            .get("outcome")
            .and_then(Answer::from_json)
            .ok_or_else(|| ClientError::Malformed(format!("/v1/submit: {value}")))?;
        let pending_txid = value.get("pending_txid").and_then(Value::as_str).and_then(api::parse_hash);
        Ok(SubmitAnswer { answer, pending_txid })
    }
}

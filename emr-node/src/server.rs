//! The node's HTTP/1.1 server (SPEC 9.1, 9.4): hyper over tokio, TLS 1.3
//! with client certificates (rustls) or plain HTTP on loopback.
//!
//! Before any endpoint runs: the handshake (a client without a certificate
//! the consortium signed never gets this far), the client's suspension
//! (403), its connection count and request rate (429), the node closing
//! (503). A body is refused by its declared length before it is read
//! (413) and read within its limit and 30 s; chain work runs on blocking
//! threads, never on the ones serving connections.
//!
//! A handler returns `Result<Answer, Answer>`: `Err` is the refusal that
//! ends it early. Both sides are the same response type, so boxing the
//! error (clippy's `result_large_err`) would only add an allocation.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use emr_core::chain::{AddOutcome, BatchOptions, ChainError, SubmitOutcome};
use emr_core::error::ErrorKind;
use emr_core::{Entry, Hash160, Record, Role};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::api;
use crate::node::{ClientId, Shared};

/// Connections open at once, all clients together.
const MAX_CONNECTIONS: usize = 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pages of blocks built at once (each up to 8 MiB): bounds the memory
/// that many readers of `/v1/blocks` can make the node hold.
static PAGES: Semaphore = Semaphore::const_new(4);

type Answer = Response<Full<Bytes>>;

pub(crate) async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!("too many connections: one refused");
            continue;
        };
        let (shared, tls) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return debug!(error = %e, "TLS handshake refused"),
                        Err(_) => return debug!("TLS handshake timed out"),
                    };
                    let Some(cert) = stream.get_ref().1.peer_certificates().and_then(|c| c.first()) else {
                        return;
                    };
                    let key = hex::encode(ring::digest::digest(&ring::digest::SHA256, cert.as_ref()));
                    connection(TokioIo::new(stream), ClientId::Certified(key), shared).await;
                }
                None => connection(TokioIo::new(stream), ClientId::Local, shared).await,
            }
        });
    }
}

async fn connection<I>(io: I, client: ClientId, shared: Arc<Shared>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let admitted = shared.connect(&client);
    let client = Arc::new(client);
    let service = {
        let (shared, client) = (shared.clone(), client.clone());
        service_fn(move |request| handle(shared.clone(), client.clone(), admitted, request))
    };
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 << 10)
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        debug!(error = %e, "connection ended");
    }
    if admitted {
        shared.disconnect(&client);
    }
}

fn json_answer(status: StatusCode, value: &Value) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(value.to_string())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    answer
}

fn bytes_answer(bytes: Vec<u8>) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(bytes)));
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/octet-stream"));
    answer
}

fn refuse(status: StatusCode, kind: &str, message: impl Into<String>) -> Answer {
    json_answer(status, &json!({ "error": kind, "message": message.into() }))
}

fn chain_failure(e: &ChainError) -> Answer {
    json_answer(StatusCode::INTERNAL_SERVER_ERROR, &api::error_json(e))
}

/// The endpoint's name for the metrics: the path without its variable part.
fn endpoint_name(method: &Method, path: &str) -> String {
    let fixed = ["/v1/info", "/v1/ids", "/v1/blocks", "/v1/submit", "/v1/pending", "/v1/conflicts", "/v1/conflicts/dismiss", "/v1/status", "/metrics"];
    let name = if fixed.contains(&path) || matches!(path, "/" | "/patient" | "/doctor") {
        path.to_owned()
    } else if path.starts_with("/v1/patients/") && path.ends_with("/fhir") {
        "/v1/patients/:address/fhir".to_owned()
    } else if let Some(prefix) = ["/v1/block/", "/v1/seen/", "/v1/history/", "/block/", "/record/"].iter().find(|p| path.starts_with(**p)) {
        format!("{prefix}:id")
    } else {
        "other".to_owned()
    };
    format!("{method} {name}")
}

async fn handle(shared: Arc<Shared>, client: Arc<ClientId>, admitted: bool, request: http::Request<Incoming>) -> Result<Answer, Infallible> {
    let endpoint = endpoint_name(request.method(), request.uri().path());
    let answer = route(&shared, &client, admitted, request).await;
    shared.metrics.answered(&endpoint, answer.status().as_u16());
    Ok(answer)
}

async fn route(shared: &Arc<Shared>, client: &Arc<ClientId>, admitted: bool, request: http::Request<Incoming>) -> Answer {
    use std::sync::atomic::Ordering;
    if shared.closing.load(Ordering::SeqCst) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "closing", "the node is shutting down");
    }
    if let Some(reason) = shared.suspension(client) {
        return refuse(StatusCode::FORBIDDEN, "suspended", format!("this client is suspended: {reason}"));
    }
    if !admitted {
        return refuse(StatusCode::TOO_MANY_REQUESTS, "too_many_connections", format!("at most {} connections per client", crate::node::MAX_CLIENT_CONNECTIONS));
    }
    if !shared.allow(client) {
        return refuse(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests: slow down");
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let local = **client == ClientId::Local;
    match (&method, path.as_str()) {
        (&Method::GET, "/v1/info") => blocking(shared, info).await,
        (&Method::GET, "/v1/ids") => match range(&query, api::MAX_IDS) {
            Ok((from, count)) => blocking(shared, move |s| {
                let ids = s.read(|c| c.active_ids_from(from, count)).map_err(|e| chain_failure(&e))?;
                Ok(bytes_answer(ids.iter().flat_map(|id| id.to_bytes()).collect()))
            })
            .await,
            Err(answer) => answer,
        },
        (&Method::GET, "/v1/blocks") => match range(&query, api::MAX_PAGE_BLOCKS) {
            Ok((from, count)) => {
                let Ok(_page) = PAGES.acquire().await else {
                    return refuse(StatusCode::SERVICE_UNAVAILABLE, "closing", "the node is shutting down");
                };
                blocking(shared, move |s| {
                    let encodings = s.read(|c| c.active_encodings(from, count, api::MAX_PAGE_BYTES)).map_err(|e| chain_failure(&e))?;
                    Ok(bytes_answer(emr_core::blockfile::encode(encodings.iter().map(Vec::as_slice))))
                })
                .await
            }
            Err(answer) => answer,
        },
        (&Method::GET, p) if p.starts_with("/v1/block/") => {
            let Some(id) = api::parse_hash(&p["/v1/block/".len()..]) else {
                return refuse(StatusCode::BAD_REQUEST, "invalid_argument", "a block id is 64 hex digits");
            };
            blocking(shared, move |s| match s.read(|c| c.block_encoding(&id)).map_err(|e| chain_failure(&e))? {
                Some(bytes) => Ok(bytes_answer(bytes)),
                None => Err(refuse(StatusCode::NOT_FOUND, "not_found", format!("no block {id}"))),
            })
            .await
        }
        (&Method::POST, "/v1/blocks") => match read_body(request, api::MAX_POST_BYTES).await {
            Ok(body) => post_blocks(shared, client, body).await,
            Err(answer) => answer,
        },
        (&Method::POST, "/v1/submit") => match read_body(request, api::MAX_SUBMIT_BYTES).await {
            Ok(body) => submit(shared, client, body).await,
            Err(answer) => answer,
        },
        (&Method::GET, "/v1/pending") => blocking(shared, pending).await,
        (&Method::GET, "/v1/conflicts") => blocking(shared, conflicts).await,
        (&Method::POST, "/v1/conflicts/dismiss") if local => match read_body(request, 1024).await {
            Ok(body) => dismiss(shared, body).await,
            Err(answer) => answer,
        },
        (&Method::POST, "/v1/conflicts/dismiss") => {
            refuse(StatusCode::FORBIDDEN, "invalid_argument", "conflicts are dismissed by the site's own programs, on the node's loopback listener")
        }
        (&Method::GET, "/v1/status") => blocking(shared, |s| s.status().map(|v| json_answer(StatusCode::OK, &v)).map_err(|e| chain_failure(&e))).await,
        (&Method::GET, p) if p.starts_with("/v1/seen/") => {
            let Some(hash) = api::parse_hash(&p["/v1/seen/".len()..]) else {
                return refuse(StatusCode::BAD_REQUEST, "invalid_argument", "a block id or txid is 64 hex digits");
            };
            blocking(shared, move |s| match s.seen(&hash).map_err(|e| chain_failure(&e))? {
                Some(v) => Ok(json_answer(StatusCode::OK, &v)),
                None => Err(refuse(StatusCode::NOT_FOUND, "not_found", format!("the active chain holds no block or record {hash}"))),
            })
            .await
        }
        (&Method::GET, p) if p.starts_with("/v1/patients/") && p.ends_with("/fhir") => {
            let who = p["/v1/patients/".len()..p.len() - "/fhir".len()].to_owned();
            blocking(shared, move |s| fhir(s, &who)).await
        }
        (&Method::GET, p) if p.starts_with("/v1/history/") => {
            let who = p["/v1/history/".len()..].to_owned();
            blocking(shared, move |s| history(s, &who)).await
        }
        (&Method::GET, "/metrics") => blocking(shared, |s| {
            let text = crate::metrics::render(s).map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, "io", e))?;
            let mut answer = Response::new(Full::new(Bytes::from(text)));
            answer.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            );
            Ok(answer)
        })
        .await,
        (&Method::GET, p) if is_page(p) => blocking(shared, move |s| page(s, &path, &query)).await,
        _ => refuse(StatusCode::NOT_FOUND, "not_found", format!("no endpoint {method} {path}")),
    }
}

fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/patient" | "/doctor") || path.starts_with("/block/") || path.starts_with("/record/")
}

/// A page for people (`pages`), with a policy that forbids every script
/// and every file from elsewhere.
fn page(shared: &Shared, path: &str, query: &str) -> Result<Answer, Answer> {
    let html = match crate::pages::render(shared, path, query) {
        Some(Ok(html)) => html,
        Some(Err(e)) => return Err(chain_failure(&e)),
        None => return Err(refuse(StatusCode::NOT_FOUND, "not_found", format!("no page {path}"))),
    };
    let mut answer = Response::new(Full::new(Bytes::from(html.body)));
    *answer.status_mut() = StatusCode::from_u16(html.status).unwrap_or(StatusCode::OK);
    let headers = answer.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"),
    );
    headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
    Ok(answer)
}

/// Runs chain work on a blocking thread.
async fn blocking(shared: &Arc<Shared>, f: impl FnOnce(&Shared) -> Result<Answer, Answer> + Send + 'static) -> Answer {
    let shared = shared.clone();
    match tokio::task::spawn_blocking(move || f(&shared)).await {
        Ok(Ok(answer) | Err(answer)) => answer,
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "io", format!("the request's task failed: {e}")),
    }
}

/// `from=H&count=N` with `1 <= N <= max`.
fn range(query: &str, max: u64) -> Result<(u64, u64), Answer> {
    let mut from = None;
    let mut count = None;
    let mut malformed = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = value.parse::<u64>().ok();
        match key {
            "from" => from = number,
            "count" => count = number,
            _ => continue,
        }
        malformed |= number.is_none();
    }
    match (from, count) {
        (Some(from), Some(count)) if !malformed && (1..=max).contains(&count) => Ok((from, count)),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("give from=HEIGHT&count=N with N from 1 to {max}"),
        )),
    }
}

async fn read_body(request: http::Request<Incoming>, limit: u64) -> Result<Bytes, Answer> {
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "invalid_argument", format!("the body is over {limit} bytes")));
    }
    let limited = Limited::new(request.into_body(), usize::try_from(limit).unwrap_or(usize::MAX));
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "invalid_argument", format!("the body is over {limit} bytes")))
        }
        Ok(Err(e)) => Err(refuse(StatusCode::BAD_REQUEST, "decode", format!("the body could not be read: {e}"))),
        Err(_) => Err(refuse(StatusCode::REQUEST_TIMEOUT, "invalid_argument", "the body did not arrive within 30 s")),
    }
}

fn info(shared: &Shared) -> Result<Answer, Answer> {
    let info = shared
        .read(|c| {
            Ok(api::Info {
                version: emr_core::VERSION.to_owned(),
                chain_id: c.chain_id().to_string(),
                genesis: c.active_ids_from(0, 1)?.first().map(ToString::to_string),
                params: api::Params::from_chain(c.params()),
                height: c.len()?,
                tip: c.tip()?.map(|t| t.block_id.to_string()),
                work: c.total_difficulty()?.to_string(),
                pending: (c.pending()?.len() + c.pending_entries()?.len()) as u64,
            })
        })
        .map_err(|e| chain_failure(&e))?;
    Ok(json_answer(StatusCode::OK, &serde_json::to_value(info).unwrap_or(Value::Null)))
}

/// Whether a refused block shows the sender broke the rules (SPEC 9.2):
/// all refusals but an unknown parent (the sender is ahead of this node)
/// and a time ahead of this clock.
fn blames_sender(e: &ChainError) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::UnknownParent | ErrorKind::TimestampTooLate | ErrorKind::Io | ErrorKind::Corrupt | ErrorKind::Locked | ErrorKind::Cancelled
    )
}

async fn post_blocks(shared: &Arc<Shared>, client: &Arc<ClientId>, body: Bytes) -> Answer {
    let blocks = match emr_core::blockfile::decode(&body[..], api::MAX_POST_BLOCKS) {
        Ok(blocks) => blocks,
        Err(e) => {
            shared.suspend_client(client, format!("it sent a malformed block file: {e}"));
            return refuse(StatusCode::BAD_REQUEST, "decode", e.to_string());
        }
    };
    drop(body);
    let client = client.clone();
    blocking(shared, move |s| {
        let result = {
            let mut chain = s.chain.lock().map_err(|e| chain_failure(&e))?;
            chain.add_blocks(&blocks, None, &BatchOptions::default())
        };
        let (outcomes, failure) = match result {
            Ok(outcomes) => (outcomes, None),
            Err(e) => (e.added, Some(e.error)),
        };
        let mut list: Vec<Value> = outcomes.iter().map(api::add_outcome_json).collect();
        if outcomes.iter().any(|o| matches!(o, AddOutcome::Extended | AddOutcome::Reorganized)) {
            s.announce();
        }
        if let Some(error) = failure {
            list.push(api::error_json(&error));
            if error.kind() == ErrorKind::UnknownParent {
                s.kick_peers();
            } else if blames_sender(&error) {
                s.suspend_client(&client, format!("it sent a block that fails: {error}"));
            }
        }
        Ok(json_answer(StatusCode::OK, &json!({ "outcomes": list })))
    })
    .await
}

async fn submit(shared: &Arc<Shared>, client: &Arc<ClientId>, body: Bytes) -> Answer {
    enum Item {
        Record(Record),
        Entry(Entry),
    }
    let item = match body.first() {
        Some(b'R') => Record::from_bytes(&body).map(Item::Record),
        _ => Entry::from_bytes(&body).map(Item::Entry),
    };
    let item = match item {
        Ok(item) => item,
        Err(e) => {
            shared.suspend_client(client, format!("it submitted bytes that are not a record or an entry: {e}"));
            return refuse(StatusCode::BAD_REQUEST, "decode", e.to_string());
        }
    };
    blocking(shared, move |s| {
        let result = {
            let mut chain = s.chain.lock().map_err(|e| chain_failure(&e))?;
            match &item {
                Item::Record(record) => chain.submit(record),
                Item::Entry(entry) => chain.submit_entry(entry),
            }
        };
        if let Err(e) = &result {
            if matches!(e.kind(), ErrorKind::Io | ErrorKind::Corrupt | ErrorKind::Locked) {
                return Err(chain_failure(e));
            }
        }
        if matches!(result, Ok(SubmitOutcome::Ready | SubmitOutcome::Held)) {
            s.accepted(&body);
        }
        Ok(json_answer(StatusCode::OK, &api::submit_json(&result)))
    })
    .await
}

fn address(role: Role, hash: &Hash160) -> String {
    emr_core::address::encode(role, hash)
}

fn pending(shared: &Shared) -> Result<Answer, Answer> {
    let (split, entries) = shared.read(|c| Ok((c.pending_split()?, c.pending_entries()?))).map_err(|e| chain_failure(&e))?;
    let record = |r: &Record, ready: bool| {
        json!({ "kind": "record", "txid": r.txid.to_string(), "doctor": address(Role::Doctor, &r.dr_hash), "nonce": r.nonce, "ready": ready })
    };
    let mut list: Vec<Value> = split.ready.iter().map(|r| record(r, true)).collect();
    list.extend(split.held.iter().map(|r| record(r, false)));
    list.extend(entries.iter().map(|e| {
        json!({ "kind": e.entry_type().as_str(), "id": e.entry_id().to_string() })
    }));
    Ok(json_answer(StatusCode::OK, &Value::Array(list)))
}

fn conflicts(shared: &Shared) -> Result<Answer, Answer> {
    let conflicts = shared.read(|c| c.conflicts()).map_err(|e| chain_failure(&e))?;
    let list: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "txid": c.record.txid.to_string(),
                "doctor": address(Role::Doctor, &c.record.dr_hash),
                "patient": address(Role::Patient, &c.record.patient_hash),
                "nonce": c.record.nonce,
                "replaced_by": c.replaced_by.to_string(),
                "block": c.block_id.to_string(),
                "height": c.height,
                "record": hex::encode(c.record.to_bytes()),
            })
        })
        .collect();
    Ok(json_answer(StatusCode::OK, &Value::Array(list)))
}

async fn dismiss(shared: &Arc<Shared>, body: Bytes) -> Answer {
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let Some(txid) = api::parse_hash(&text) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_argument", "the body is a conflict's txid, 64 hex digits");
    };
    blocking(shared, move |s| {
        let mut chain = s.chain.lock().map_err(|e| chain_failure(&e))?;
        let dismissed = chain.dismiss_conflict(&txid).map_err(|e| chain_failure(&e))?;
        Ok(json_answer(StatusCode::OK, &json!({ "dismissed": dismissed })))
    })
    .await
}

fn fhir(shared: &Shared, who: &str) -> Result<Answer, Answer> {
    let patient = emr_core::address::decode(who, Role::Patient)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.kind().as_str(), format!("{who:?}: {e}")))?;
    let bundle = shared
        .read(|c| emr_core::fhir::patient_bundle(c, &patient, &[]).map_err(|e| match e {
            emr_core::fhir::FhirError::Chain(e) => e,
            other => ChainError::Io(other.to_string()),
        }))
        .map_err(|e| chain_failure(&e))?;
    let mut answer = json_answer(StatusCode::OK, &bundle);
    answer.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/fhir+json"));
    Ok(answer)
}

fn history(shared: &Shared, who: &str) -> Result<Answer, Answer> {
    let patient = emr_core::address::decode(who, Role::Patient)
        .ok()
        .or_else(|| hex::decode(who).ok().and_then(|b| Hash160::from_slice(&b)))
        .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "invalid_argument", "give a patient's address (emrp1...) or 40 hex digits"))?;
    let entries = shared.read(|c| c.patient_history(&patient)).map_err(|e| chain_failure(&e))?;
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "txid": e.record.txid.to_string(),
                "height": e.height,
                "block": e.block_id.to_string(),
                "timestamp": e.timestamp,
                "doctor": address(Role::Doctor, &e.record.dr_hash),
                "patient": address(Role::Patient, &e.record.patient_hash),
                "nonce": e.record.nonce,
                "prescription": e.record.prescription,
                "record": hex::encode(e.record.to_bytes()),
            })
        })
        .collect();
    Ok(json_answer(StatusCode::OK, &Value::Array(list)))
}

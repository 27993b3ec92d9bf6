//! `emr node status`, `peers`, `conflicts`: what an operator checks first,
//! asked of the running node (its loopback listener, found beside the
//! chain, or `--url` with the site's certificate).

use std::path::Path;

use serde_json::{json, Value};

use super::run::TlsFiles;
use crate::error::CliError;
use crate::node::running_node_url;
use crate::output::Output;

fn ask(dir: &Path, url: Option<&str>, tls: &TlsFiles, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Value, CliError> {
    let url = match url {
        Some(url) => url.to_owned(),
        None => running_node_url(dir).ok_or_else(|| {
            CliError::not_found(format!(
                "no node with a loopback listener runs on {} (start one with `emr node serve {} --local 127.0.0.1:PORT`, or give --url)",
                dir.display(),
                dir.display()
            ))
        })?,
    };
    let client = emr_node::client::Client::new(&url, tls.client_config()?).map_err(|e| CliError::invalid_argument(e.to_string()))?;
    client.json(method, path, body).map_err(|e| match e {
        emr_node::client::ClientError::Status { status: 404, body } => CliError::not_found(body),
        e => CliError::io(format!("{url}: {e}")),
    })
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

fn peer_lines(status: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for peer in status.get("peers").and_then(Value::as_array).into_iter().flatten() {
        let mut line = format!("  {} {}", text(peer, "url"), text(peer, "state"));
        if let Some(h) = peer.get("height").and_then(Value::as_u64) {
            line.push_str(&format!(", height {h}, {} behind it", text(peer, "lag")));
        }
        if let Some(s) = peer.get("suspended_for_s").and_then(Value::as_u64) {
            line.push_str(&format!(", suspended for {s} s more"));
        }
        if let Some(reason) = peer.get("reason").and_then(Value::as_str) {
            line.push_str(&format!("\n    why: {reason}"));
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push("  (no peers configured)".to_owned());
    }
    for client in status.get("suspended_clients").and_then(Value::as_array).into_iter().flatten() {
        lines.push(format!(
            "  suspended client {}: {} ({} s more)",
            text(client, "certificate_sha256"),
            text(client, "reason"),
            text(client, "suspended_for_s")
        ));
    }
    lines
}

/// Whether the node's disk takes writes, and why not (docs/OPERATIONS.md,
/// "A full or failing disk").
fn storage_line(status: &Value) -> String {
    let storage = status.get("storage").cloned().unwrap_or(Value::Null);
    match storage.get("writable").and_then(Value::as_bool) {
        Some(false) => format!(
            "storage: WRITES REFUSED (reads still served) for {} s: {}",
            text(&storage, "error_s_ago"),
            text(&storage, "error")
        ),
        Some(true) => format!("storage: writable ({} writes failed since start)", text(&storage, "write_errors")),
        None => "storage: -".to_owned(),
    }
}

pub fn status(dir: &Path, url: Option<&str>, tls: &TlsFiles, seen: Option<&str>) -> Result<Output, CliError> {
    if let Some(hash) = seen {
        let value = ask(dir, url, tls, "GET", &format!("/v1/seen/{hash}"), None)?;
        let line = format!(
            "{} {} at height {}, depth {}: {}",
            text(&value, "kind"),
            hash,
            text(&value, "height"),
            text(&value, "depth"),
            text(&value, "seen_by")
        );
        return Ok(Output::new(line, value));
    }
    let status = ask(dir, url, tls, "GET", "/v1/status", None)?;
    let mut lines = vec![
        format!("height {}, tip {}, work {}", text(&status, "height"), text(&status, "tip"), text(&status, "work")),
        format!(
            "pending: {} records, {} entries; conflicts: {}; sync lag: {} blocks",
            text(&status, "pending"),
            text(&status, "pending_entries"),
            text(&status, "conflicts"),
            text(&status, "sync_lag")
        ),
        format!("mining: {}", text(&status, "mining")),
        storage_line(&status),
        "peers:".to_owned(),
    ];
    lines.extend(peer_lines(&status));
    Ok(Output::new(lines.join("\n"), status))
}

pub fn peers(dir: &Path, url: Option<&str>, tls: &TlsFiles) -> Result<Output, CliError> {
    let status = ask(dir, url, tls, "GET", "/v1/status", None)?;
    let peers = status.get("peers").cloned().unwrap_or(Value::Null);
    Ok(Output::new(peer_lines(&status).join("\n"), json!({"peers": peers, "suspended_clients": status.get("suspended_clients")})))
}

pub fn conflicts(dir: &Path, url: Option<&str>, tls: &TlsFiles) -> Result<Output, CliError> {
    let list = ask(dir, url, tls, "GET", "/v1/conflicts", None)?;
    let items = list.as_array().cloned().unwrap_or_default();
    // Records (kind "record", or none from an older node) and the
    // dispensings and cancellations of SPEC 10.
    let (records, entries): (Vec<&Value>, Vec<&Value>) =
        items.iter().partition(|c| c.get("kind").and_then(Value::as_str).is_none_or(|k| k == "record"));
    let mut lines = Vec::new();
    match records.len() {
        0 if entries.is_empty() => lines.push("no conflicts".to_owned()),
        0 => {}
        1 => lines.push("1 record dropped for another (its doctor must re-sign it with a new nonce):".to_owned()),
        n => lines.push(format!("{n} records dropped for others (their doctors must re-sign them with new nonces):")),
    }
    for c in records {
        lines.push(format!(
            "  {} nonce {} txid {}\n    replaced by txid {} in block {} at height {}",
            text(c, "doctor"),
            text(c, "nonce"),
            text(c, "txid"),
            text(c, "replaced_by"),
            text(c, "block"),
            text(c, "height")
        ));
    }
    if !entries.is_empty() {
        lines.push(format!(
            "{} dropped for another that took the prescription (the pharmacies settle):",
            crate::output::count(entries.len(), "dispensing or cancellation", "dispensings or cancellations")
        ));
    }
    for c in entries {
        lines.push(format!("  {}\n    {}", entry_conflict_line(c, ""), entry_conflict_line(c, "replaced_by_")));
    }
    Ok(Output::new(lines.join("\n"), json!({"conflicts": items})))
}

/// One side of an entry conflict: the dropped entry (`prefix` "") or the
/// one that stayed (`"replaced_by_"`), with its pharmacy or canceller.
fn entry_conflict_line(c: &Value, prefix: &str) -> String {
    let (kind, id) = if prefix.is_empty() {
        (text(c, "kind"), text(c, "id"))
    } else {
        (text(c, "replaced_by_kind"), text(c, "replaced_by"))
    };
    let who = match c.get(format!("{prefix}pharmacy")) {
        Some(p) => format!("by pharmacy {}", p.as_str().unwrap_or("-")),
        None => format!("by {}", text(c, &format!("{prefix}canceller"))),
    };
    if prefix.is_empty() {
        format!("{kind} {id} of {}:{} {who}: dropped", text(c, "doctor"), text(c, "nonce"))
    } else {
        format!("kept: {kind} {id} {who}, in block {} at height {}", text(c, "block"), text(c, "height"))
    }
}

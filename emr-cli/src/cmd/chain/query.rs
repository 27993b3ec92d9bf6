//! Reading what a chain holds: `chain history`, `chain doctor`, `chain
//! find`, `chain conflicts` and `chain check`.

use std::path::{Path, PathBuf};

use emr_core::address::Role;
use emr_core::chain::{BatchOptions, RecordEntry, TxidPrefix};
use emr_core::{Hash256, Record, SigningKey};
use serde_json::{json, Value};

use crate::cancel::{cancellable, CANCEL};
use crate::cmd::{addr, entry_json, parse_address, record_json};
use crate::error::CliError;
use crate::infile::read_key;
use crate::node::{self, Node};
use crate::outfile::{Access, OutFile};
use crate::output::{count, Output};
use crate::progress::{BatchBar, Mode};
use crate::times;

/// A record's prescription as a person reads it: the text of a plain one;
/// a sealed one opened with the reader's key (`--key`) when that key is
/// among its readers, else a note of whom it is sealed to rather than the
/// envelope's few hundred characters (JSON keeps those).
struct Reading {
    text: String,
    /// The JSON's `sealed` and, with a key, `opened` (null: not this key's).
    json: Vec<(&'static str, Value)>,
}

fn reading(record: &Record, key: Option<&SigningKey>) -> Reading {
    if !record.is_sealed() {
        return Reading {
            text: record.prescription.clone(),
            json: vec![("sealed", json!(false))],
        };
    }
    let readers = count(record.sealed_recipients().map_or(0, |r| r.len()), "reader", "readers");
    let Some(key) = key else {
        return Reading {
            text: format!("[sealed to {readers}: --key opens it]"),
            json: vec![("sealed", json!(true))],
        };
    };
    match record.open(key) {
        Ok(text) => Reading {
            text: format!("{text} [opened]"),
            json: vec![("sealed", json!(true)), ("opened", json!(text))],
        },
        Err(e) => {
            let why = match e.kind() {
                emr_core::ErrorKind::NotRecipient => "not to this key".to_owned(),
                kind => format!("this key cannot open it: {}", kind.as_str()),
            };
            Reading {
                text: format!("[sealed to {readers}, {why}]"),
                json: vec![("sealed", json!(true)), ("opened", Value::Null)],
            }
        }
    }
}

/// A record on the chain as JSON, with what `reading` adds.
fn entry_value(entry: &RecordEntry, key: Option<&SigningKey>) -> Value {
    let mut value = entry_json(entry);
    for (name, v) in reading(&entry.record, key).json {
        value[name] = v;
    }
    value
}

fn entry_line(entry: &RecordEntry, key: Option<&SigningKey>) -> String {
    format!(
        "height {:>4}  {}  nonce {:>3}  {}  {}  txid {}",
        entry.height,
        times::show(entry.timestamp),
        entry.record.nonce,
        addr(Role::Doctor, &entry.record.dr_hash),
        reading(&entry.record, key).text,
        entry.record.txid
    )
}

pub fn chain_history(dir: &Path, patient: &str, key: Option<&Path>) -> Result<Output, CliError> {
    let patient = parse_address(patient, Role::Patient)?;
    let key = key.map(read_key).transpose()?;
    let key = key.as_ref();
    let node = Node::open(dir, false)?;
    let entries = node.chain().patient_prescriptions(&patient)?;
    let mut text = format!(
        "{} for {}",
        count(entries.len(), "record", "records"),
        addr(Role::Patient, &patient)
    );
    let mut values = Vec::with_capacity(entries.len());
    for e in &entries {
        // Each record's state (SPEC 10): open, dispensed or cancelled.
        let (state, words) = crate::cmd::rx::state_json(&e.state);
        text.push('\n');
        text.push_str(&entry_line(&e.record, key));
        text.push_str(&format!("  [{words}]"));
        let mut value = entry_value(&e.record, key);
        value["state"] = state["state"].clone();
        value["rx"] = state;
        values.push(value);
    }
    Ok(Output::new(
        text,
        json!({
            "patient": addr(Role::Patient, &patient),
            "records": values,
        }),
    ))
}

/// `chain history --format fhir`: the patient's history as an HL7 FHIR R4
/// Bundle (the core's `fhir`), printed as it is; with `--json`, under
/// `bundle`.
pub fn chain_history_fhir(dir: &Path, patient: &str, key: Option<&Path>) -> Result<Output, CliError> {
    let patient = parse_address(patient, Role::Patient)?;
    let key = key.map(read_key).transpose()?;
    let node = Node::open(dir, false)?;
    let keys: Vec<&emr_core::SigningKey> = key.iter().collect();
    let bundle = emr_core::fhir::patient_bundle(node.chain(), &patient, &keys).map_err(|e| match e {
        emr_core::fhir::FhirError::Chain(e) => CliError::from(e),
        other => CliError::invalid_argument(other.to_string()),
    })?;
    let text = serde_json::to_string_pretty(&bundle).map_err(|e| CliError::io(e.to_string()))?;
    Ok(Output::new(text, json!({ "patient": addr(Role::Patient, &patient), "bundle": bundle })))
}

pub fn chain_doctor(dir: &Path, doctor: &str, key: Option<&Path>) -> Result<Output, CliError> {
    let doctor = parse_address(doctor, Role::Doctor)?;
    let key = key.map(read_key).transpose()?;
    let key = key.as_ref();
    let node = Node::open(dir, false)?;
    let entries = node.chain().doctor_records(&doctor)?;
    let nonce = node.chain().user_state(&doctor)?.nonce;
    let mut text = format!(
        "{} by {} (record counter {nonce})",
        count(entries.len(), "record", "records"),
        addr(Role::Doctor, &doctor)
    );
    let chain = node.chain();
    let grants = chain.grants(&doctor)?;
    let authorized = if chain.authorities().is_empty() {
        None
    } else {
        let now = node::now();
        let authorized = chain.is_authorized(&doctor, now)?;
        text.push_str(&format!(
            "\n{} now; {}",
            if authorized {
                "authorized"
            } else {
                "not authorized"
            },
            count(grants.len(), "grant", "grants")
        ));
        for g in &grants {
            text.push_str(&format!(
                "\ngrant {} at height {}: {} from {} to {}{}",
                g.grant.grant_id(),
                g.height,
                g.grant.licence,
                times::show(g.grant.not_before),
                times::show_end(g.grant.not_after),
                g.revoked_effective
                    .map_or(String::new(), |t| format!(", revoked from {}", times::show(t)))
            ));
        }
        Some(authorized)
    };
    for e in &entries {
        text.push('\n');
        text.push_str(&entry_line(e, key));
    }
    Ok(Output::new(
        text,
        json!({
            "doctor": addr(Role::Doctor, &doctor),
            "nonce": nonce,
            "records": entries.iter().map(|e| entry_value(e, key)).collect::<Vec<_>>(),
            "authorized": authorized,
            "grants": grants.iter().map(|g| json!({
                "grant_id": g.grant.grant_id().to_string(),
                "height": g.height,
                "licence": g.grant.licence,
                "not_before": g.grant.not_before,
                "not_before_iso": times::iso_json(g.grant.not_before),
                "not_after": g.grant.not_after,
                "not_after_iso": times::iso_json(g.grant.not_after),
                "revoked_effective": g.revoked_effective,
                "revoked_effective_iso": g.revoked_effective.map_or(Value::Null, times::iso_json),
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// The one txid on the chain that starts with `text` (4 to 64 hex digits,
/// as git takes a commit's first digits).
fn resolve_txid(node: &Node, text: &str) -> Result<Hash256, CliError> {
    let prefix = TxidPrefix::parse(text).ok_or_else(|| {
        CliError::invalid_argument(format!(
            "'{text}' is not a txid: give its 64 hex digits or its first {} or more",
            TxidPrefix::MIN_DIGITS
        ))
    })?;
    // Enough to list a few of an ambiguous prefix's txids.
    const SHOWN: usize = 5;
    let found = node.chain().txids_with_prefix(&prefix, SHOWN + 1)?;
    match found.as_slice() {
        [] => Err(CliError::not_found(format!("no record on the chain has a txid starting with {text}"))),
        [txid] => Ok(*txid),
        many => {
            let listed: Vec<String> = many.iter().take(SHOWN).map(|t| t.to_string()).collect();
            Err(CliError::invalid_argument(format!(
                "txid prefix {text} is ambiguous: {}{} start with it; give more digits",
                listed.join(", "),
                if many.len() > SHOWN { " and more" } else { "" }
            )))
        }
    }
}

pub fn chain_find(
    dir: &Path,
    txid: &str,
    out: Option<PathBuf>,
    force: bool,
    key: Option<&Path>,
) -> Result<Output, CliError> {
    let out = out.map(|path| OutFile::new(path, Access::Public, force)).transpose()?;
    let key = key.map(read_key).transpose()?;
    let key = key.as_ref();
    let node = Node::open(dir, false)?;
    let txid = resolve_txid(&node, txid)?;
    let entry = node
        .chain()
        .find_record(&txid)?
        .ok_or_else(|| CliError::not_found(format!("no record with txid {txid} on the chain")))?;
    let mut text = format!(
        "txid         {}\nblock        {} at height {}, {}\ndoctor       {} (record {})\npatient      {}\nprescription {}",
        entry.record.txid,
        entry.block_id,
        entry.height,
        times::show(entry.timestamp),
        addr(Role::Doctor, &entry.record.dr_hash),
        entry.record.nonce,
        addr(Role::Patient, &entry.record.patient_hash),
        reading(&entry.record, key).text
    );
    let mut value = json!({"record": entry_value(&entry, key)});
    if let Some(out) = out {
        out.write(&entry.record.to_bytes(), None)?;
        let file = out.path();
        text.push_str(&format!("\nwrote {}", file.display()));
        value["file"] = json!(file.display().to_string());
    }
    Ok(Output::new(text, value))
}

pub fn chain_conflicts(dir: &Path, dismiss: Option<&str>) -> Result<Output, CliError> {
    if let Some(text) = dismiss {
        let txid = hex::decode(text)
            .ok()
            .and_then(|b| emr_core::Hash256::from_slice(&b))
            .ok_or_else(|| CliError::invalid_argument(format!("--dismiss takes a txid (64 hex digits), not {text:?}")))?;
        let mut node = crate::node::Writer::open(dir)?;
        if !node.dismiss_conflict(&txid)? {
            return Err(CliError::not_found(format!("no conflict of record or entry {txid} in {}", dir.display())));
        }
        return Ok(Output::new(format!("dismissed the conflict of {txid}"), json!({"dismissed": txid.to_string()})));
    }
    let node = Node::open(dir, false)?;
    let conflicts = node.chain().conflicts()?;
    let entries = node.chain().entry_conflicts()?;
    let mut lines = Vec::new();
    match conflicts.len() {
        0 if entries.is_empty() => lines.push("no conflicts".to_owned()),
        0 => {}
        1 => lines.push("1 record dropped for another (its doctor must re-sign it with a new nonce):".to_owned()),
        n => lines.push(format!("{n} records dropped for others (their doctors must re-sign them with new nonces):")),
    }
    let mut values = Vec::new();
    for c in &conflicts {
        lines.push(format!(
            "  {} nonce {} txid {}: {:?}\n    replaced by txid {} in block {} at height {}",
            addr(Role::Doctor, &c.record.dr_hash),
            c.record.nonce,
            c.record.txid,
            c.record.prescription,
            c.replaced_by,
            c.block_id,
            c.height
        ));
        let mut value = record_json(&c.record);
        value["kind"] = json!("record");
        value["replaced_by"] = json!(c.replaced_by.to_string());
        value["block_id"] = json!(c.block_id.to_string());
        value["height"] = json!(c.height);
        values.push(value);
    }
    if !entries.is_empty() {
        lines.push(format!(
            "{} dropped for another that took the prescription (the pharmacies settle):",
            count(entries.len(), "dispensing or cancellation", "dispensings or cancellations")
        ));
    }
    for c in &entries {
        let value = emr_node::api::entry_conflict_json(c);
        let who = |prefix: &str| match value.get(format!("{prefix}pharmacy")).and_then(Value::as_str) {
            Some(p) => format!("pharmacy {p}"),
            None => value.get(format!("{prefix}canceller")).and_then(Value::as_str).map_or_else(String::new, |c| format!("canceller {c}")),
        };
        lines.push(format!(
            "  {} {} of {}:{} by {}\n    replaced by {} {} by {} in block {} at height {}",
            c.entry.entry_type(),
            c.entry.entry_id(),
            value["doctor"].as_str().unwrap_or("-"),
            value["nonce"],
            who(""),
            c.replaced_by.entry_type(),
            c.replaced_by.entry_id(),
            who("replaced_by_"),
            c.block_id,
            c.height
        ));
        values.push(value);
    }
    Ok(Output::new(lines.join("\n"), json!({"conflicts": values})))
}

pub fn chain_check(dir: &Path, mode: Mode) -> Result<Output, CliError> {
    let node = Node::open(dir, false)?;
    let chain = node.chain();
    // Records per block, for the records-per-second figure.
    let counts: Vec<u64> = if mode == Mode::Off {
        Vec::new()
    } else {
        chain
            .blocks(0, chain.len()?)
            .map(|b| b.map(|b| b.records.len() as u64))
            .collect::<Result<_, _>>()?
    };
    let bar = BatchBar::new(mode, "checking", counts);
    let update = |p| bar.update(p);
    let report = cancellable(|| {
        let options = BatchOptions {
            progress: Some(&update),
            cancel: Some(&CANCEL),
            ..BatchOptions::default()
        };
        chain.check(&options)
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            bar.finish(0);
            return Err(e.into());
        }
    };
    bar.finish(report.blocks_ok);
    if let Some(bad) = report.first_bad {
        return Err(CliError::from(bad.error).context(format!(
            "block at height {} is bad ({} before it {} good)",
            bad.height,
            count(report.blocks_ok, "block", "blocks"),
            if report.blocks_ok == 1 { "is" } else { "are" }
        )));
    }
    Ok(Output::new(
        format!(
            "checked {}: every block, signature and stored state agrees",
            count(report.blocks_ok, "block", "blocks")
        ),
        json!({"blocks_ok": report.blocks_ok}),
    ))
}


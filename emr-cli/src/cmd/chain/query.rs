//! Reading what a chain holds: `chain history`, `chain doctor`, `chain
//! find`, `chain conflicts` and `chain check`.

use std::path::Path;

use emr_core::address::Role;
use emr_core::chain::{BatchOptions, RecordEntry};
use serde_json::{json, Value};

use crate::cancel::{cancellable, CANCEL};
use crate::cmd::{addr, entry_json, parse_address, parse_txid, record_json};
use crate::error::CliError;
use crate::node::{self, Node};
use crate::output::Output;
use crate::progress::{BatchBar, Mode};
use crate::times;

fn entry_line(entry: &RecordEntry) -> String {
    format!(
        "height {:>4}  {}  nonce {:>3}  {}  {}  txid {}",
        entry.height,
        times::show(entry.timestamp),
        entry.record.nonce,
        addr(Role::Doctor, &entry.record.dr_hash),
        entry.record.prescription,
        entry.record.txid
    )
}

pub fn chain_history(dir: &Path, patient: &str) -> Result<Output, CliError> {
    let patient = parse_address(patient, Role::Patient)?;
    let node = Node::open(dir, false)?;
    let entries = node.chain().patient_history(&patient)?;
    let mut text = format!(
        "{} records for {}",
        entries.len(),
        addr(Role::Patient, &patient)
    );
    for e in &entries {
        text.push('\n');
        text.push_str(&entry_line(e));
    }
    Ok(Output::new(
        text,
        json!({"patient": addr(Role::Patient, &patient), "records": entries.iter().map(entry_json).collect::<Vec<_>>()}),
    ))
}

pub fn chain_doctor(dir: &Path, doctor: &str) -> Result<Output, CliError> {
    let doctor = parse_address(doctor, Role::Doctor)?;
    let node = Node::open(dir, false)?;
    let entries = node.chain().doctor_records(&doctor)?;
    let nonce = node.chain().user_state(&doctor)?.nonce;
    let mut text = format!(
        "{} records by {} (record counter {nonce})",
        entries.len(),
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
            "\n{} now; {} grants",
            if authorized {
                "authorized"
            } else {
                "not authorized"
            },
            grants.len()
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
        text.push_str(&entry_line(e));
    }
    Ok(Output::new(
        text,
        json!({
            "doctor": addr(Role::Doctor, &doctor),
            "nonce": nonce,
            "records": entries.iter().map(entry_json).collect::<Vec<_>>(),
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

pub fn chain_find(dir: &Path, txid: &str) -> Result<Output, CliError> {
    let txid = parse_txid(txid)?;
    let node = Node::open(dir, false)?;
    let entry = node
        .chain()
        .find_record(&txid)?
        .ok_or_else(|| CliError::not_found(format!("no record with txid {txid} on the chain")))?;
    Ok(Output::new(
        format!(
            "txid         {}\nblock        {} at height {}, {}\ndoctor       {} (record {})\npatient      {}\nprescription {}",
            entry.record.txid,
            entry.block_id,
            entry.height,
            times::show(entry.timestamp),
            addr(Role::Doctor, &entry.record.dr_hash),
            entry.record.nonce,
            addr(Role::Patient, &entry.record.patient_hash),
            entry.record.prescription
        ),
        json!({"record": entry_json(&entry)}),
    ))
}

pub fn chain_conflicts(dir: &Path, dismiss: Option<&str>) -> Result<Output, CliError> {
    if let Some(text) = dismiss {
        let txid = hex::decode(text)
            .ok()
            .and_then(|b| emr_core::Hash256::from_slice(&b))
            .ok_or_else(|| CliError::invalid_argument(format!("--dismiss takes a txid (64 hex digits), not {text:?}")))?;
        let mut node = Node::open(dir, true)?;
        if !node.chain_mut().dismiss_conflict(&txid)? {
            return Err(CliError::not_found(format!("no conflict of record {txid} in {}", dir.display())));
        }
        return Ok(Output::new(format!("dismissed the conflict of record {txid}"), json!({"dismissed": txid.to_string()})));
    }
    let node = Node::open(dir, false)?;
    let conflicts = node.chain().conflicts()?;
    let mut lines = vec![match conflicts.len() {
        0 => "no conflicts".to_owned(),
        1 => "1 record dropped for another (its doctor must re-sign it with a new nonce):".to_owned(),
        n => format!("{n} records dropped for others (their doctors must re-sign them with new nonces):"),
    }];
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
        value["replaced_by"] = json!(c.replaced_by.to_string());
        value["block_id"] = json!(c.block_id.to_string());
        value["height"] = json!(c.height);
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
            "block at height {} is bad ({} blocks before it are good)",
            bad.height, report.blocks_ok
        )));
    }
    Ok(Output::new(
        format!(
            "checked {} blocks: every block, signature and stored state agrees",
            report.blocks_ok
        ),
        json!({"blocks_ok": report.blocks_ok}),
    ))
}


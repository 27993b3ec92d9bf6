//! Writing to a chain's pool and onto its tip: `chain submit`, `chain
//! mine`, `chain undo`.

use std::path::{Path, PathBuf};

use emr_core::address::Role;
use emr_core::chain::AddOutcome;
use emr_core::mining::{HashEngine, MineOutcome, SearchOptions};
use emr_core::{Address, Entry, Record};
use serde_json::json;

use super::EngineArg;
use crate::cancel::{cancellable, CANCEL};
use crate::cmd::{addr, parse_address, record_json};
use crate::error::CliError;
use crate::infile::{not_pem, read_file, read_record, MAX_SMALL_FILE_BYTES};
use crate::node::{self, Mined, SubmitOutcome};
use crate::output::{count, Output, Ui};
use crate::progress::{self, MineProgress};
use crate::times;

fn entry_kind(entry: &Entry) -> &'static str {
    entry.entry_type().as_str()
}

pub fn chain_submit(dir: &Path, files: &[PathBuf]) -> Result<Output, CliError> {
    let mut node = node::Writer::open(dir)?;
    let mut results = Vec::new();
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    for path in files {
        let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::Decode.as_str())?;
        not_pem(path, &bytes, "a record or entry file")?;
        if Record::from_bytes(&bytes).is_err() {
            if let Ok(entry) = Entry::from_bytes(&bytes) {
                let outcome = node
                    .submit_entry(&entry)
                    .map_err(|e| e.context(path.display()))?;
                lines.push(format!(
                    "{}: {} ({})",
                    path.display(),
                    outcome.as_str(),
                    entry_kind(&entry)
                ));
                entries.push(json!({
                    "file": path.display().to_string(),
                    "entry_id": entry.entry_id().to_string(),
                    "type": entry_kind(&entry),
                    "outcome": outcome.as_str(),
                }));
                continue;
            }
        }
        let record = read_record(path)?;
        let outcome = node
            .submit(&record)
            .map_err(|e| e.context(path.display()))?;
        if let SubmitOutcome::ConflictsWithPending { pending_txid } = outcome {
            // Two records of one doctor with one nonce: the doctor must
            // re-sign one with a new nonce; keeping either silently would
            // lose the other.
            return Err(CliError::new(
                "conflicts_with_pending",
                format!(
                    "{}: another record of {} with nonce {} is pending (txid {pending_txid}); this one was not added",
                    path.display(),
                    addr(Role::Doctor, &record.dr_hash),
                    record.nonce
                ),
            ));
        }
        lines.push(format!(
            "{}: {} (nonce {} of {})",
            path.display(),
            outcome.as_str(),
            record.nonce,
            addr(Role::Doctor, &record.dr_hash)
        ));
        let mut value = record_json(&record);
        value["file"] = json!(path.display().to_string());
        value["outcome"] = json!(outcome.as_str());
        results.push(value);
    }
    Ok(Output::new(
        lines.join("\n"),
        json!({"records": results, "entries": entries}),
    ))
}

pub fn chain_mine(
    dir: &Path,
    miner: &str,
    blocks: u64,
    threads: Option<usize>,
    engine: Option<EngineArg>,
    timestamp: Option<u64>,
    ui: Ui,
) -> Result<Output, CliError> {
    let miner = parse_address(miner, Role::Miner)?;
    let engine = engine.map(|e| match e {
        EngineArg::Scalar => HashEngine::Scalar,
        EngineArg::Avx2 => HashEngine::Avx2,
        EngineArg::ShaNi => HashEngine::ShaNi,
        EngineArg::Avx512 => HashEngine::Avx512,
    });
    let mut node = node::open_exclusive(dir, "mining (a node mines with --mine)")?;
    let block_time = node.chain().params().block_time;
    let bar = MineProgress::new(ui.progress, blocks);
    let mut mined = Vec::new();
    let mut engine_used = None;
    let result = cancellable(|| -> Result<(), CliError> {
        for i in 0..blocks {
            if CANCEL.is_cancelled() {
                return Err(CliError::cancelled("interrupted"));
            }
            let height = node.chain().len()?;
            bar.block_started(i, height, node.chain().next_difficulty()?.get());
            let options = SearchOptions {
                threads,
                engine,
                cancel: Some(CANCEL.clone()),
                progress: bar.callback(),
                ..SearchOptions::default()
            };
            let time = match timestamp {
                Some(t) => t.saturating_add(i.saturating_mul(block_time)),
                None => node::now(),
            };
            match node.mine_next(&miner, time, &options, node::now())? {
                Mined::Added {
                    block,
                    outcome,
                    stats,
                } => {
                    engine_used = Some(stats.engine);
                    bar.block_done(&stats);
                    let line = format!(
                        "block {} {} at {} ({}, difficulty {}, {} hashes in {})",
                        block.height,
                        block.block_id,
                        times::show(block.timestamp),
                        count(block.records.len(), "record", "records"),
                        block.difficulty,
                        stats.hashes,
                        progress::duration(stats.elapsed.as_secs_f64())
                    );
                    // Each block's line as it is mined, once: a long run
                    // shows its blocks as they come.
                    if !ui.json {
                        bar.result_line(&line);
                    }
                    mined.push(json!({
                        "height": block.height,
                        "block_id": block.block_id.to_string(),
                        "records": block.records.len(),
                        "entries": block.entries.len(),
                        "timestamp": block.timestamp,
                        "timestamp_iso": times::iso_json(block.timestamp),
                        "difficulty": block.difficulty.get().to_string(),
                        "nonce": block.nonce,
                        "outcome": AddOutcome::as_str(outcome),
                        "hashes": stats.hashes,
                        "seconds": stats.elapsed.as_secs_f64(),
                        "hash_rate": stats.hashes_per_second,
                    }));
                }
                Mined::Stopped {
                    outcome: MineOutcome::Cancelled,
                    ..
                } => return Err(CliError::cancelled("interrupted")),
                Mined::Stopped { outcome, .. } => {
                    return Err(CliError::new(
                        "cancelled",
                        format!("the search ended without a block ({outcome:?})"),
                    ))
                }
            }
        }
        Ok(())
    });
    bar.finish();
    if let Err(e) = result {
        let done = mined.len();
        return Err(e.context(format!(
            "after mining {done} of {} (those are kept)",
            count(blocks, "block", "blocks")
        )));
    }
    let tip = node.chain().tip()?;
    Ok(Output::new(
        "",
        json!({
            "blocks": mined,
            "miner": addr(Role::Miner, &miner),
            "engine": engine_used.map(|e| e.name()),
            "height": tip.map(|t| t.height),
            "tip": tip.map(|t| t.block_id.to_string()),
        }),
    ))
}

pub fn chain_undo(dir: &Path) -> Result<Output, CliError> {
    let mut node = node::open_exclusive(dir, "undo")?;
    let block = node.chain_mut().undo_last_block()?;
    // The core returns an undone block's records to the pool itself.
    let returned = block.records.len();
    let miner = Address::new(Role::Miner, block.miner).to_string();
    Ok(Output::new(
        format!(
            "took block {} {} off the chain; {returned} of its {} pending again",
            block.height,
            block.block_id,
            match block.records.len() {
                1 => "1 record is".to_owned(),
                n => format!("{n} records are"),
            }
        ),
        json!({
            "height": block.height,
            "block_id": block.block_id.to_string(),
            "miner": miner,
            "records": block.records.len(),
            "returned_to_pool": returned,
        }),
    ))
}


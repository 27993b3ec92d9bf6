//! Blocks carried between chain directories as files: `chain export`,
//! `chain import`; the whole database copied: `chain backup`.

use std::fs;
use std::path::{Path, PathBuf};

use emr_core::chain::{AddOutcome, BatchOptions, Chain};
use serde_json::json;

use crate::cancel::{cancellable, CANCEL};
use crate::container;
use crate::error::{file_error, CliError};
use crate::node::{self, Node};
use crate::outfile::{Access, OutFile};
use crate::output::Output;
use crate::progress::{BatchBar, Mode};

pub fn chain_export(dir: &Path, file: PathBuf, from: u64, force: bool) -> Result<Output, CliError> {
    let out = OutFile::new(file, Access::Public, force)?;
    let node = Node::open(dir, false)?;
    let len = node.chain().len()?;
    let blocks: Vec<_> = node.chain().blocks(from, len).collect::<Result<_, _>>()?;
    out.write(&container::encode(&blocks), None)?;
    let file = out.path();
    Ok(Output::new(
        format!(
            "wrote {} blocks (heights {from}..{len}) to {}",
            blocks.len(),
            file.display()
        ),
        json!({"file": file.display().to_string(), "blocks": blocks.len(), "from": from, "height": len.checked_sub(1)}),
    ))
}

pub fn chain_import(dir: &Path, file: &Path, mode: Mode) -> Result<Output, CliError> {
    let reader = std::io::BufReader::new(fs::File::open(file).map_err(|e| file_error(file, e))?);
    let blocks = container::read(reader).map_err(|e| e.context(file.display()))?;
    let mut node = Node::open(dir, true)?;
    let conflicts_before = node.chain().conflicts()?.len();
    let bar = BatchBar::new(
        mode,
        "importing",
        blocks.iter().map(|b| b.records.len() as u64),
    );
    let update = |p| bar.update(p);
    let result = cancellable(|| {
        let options = BatchOptions {
            progress: Some(&update),
            cancel: Some(&CANCEL),
            ..BatchOptions::default()
        };
        node.chain_mut()
            .add_blocks(&blocks, Some(node::now()), &options)
    });
    let outcomes = match result {
        Ok(outcomes) => outcomes,
        Err(e) => {
            bar.finish(e.index as u64);
            let kept = e.index;
            return Err(CliError::from(e).context(format!(
                "{} ({kept} blocks before it were added)",
                file.display()
            )));
        }
    };
    bar.finish(blocks.len() as u64);
    let count = |o: AddOutcome| outcomes.iter().filter(|x| **x == o).count();
    let tip = node.chain().tip()?;
    // Records this import dropped for others (SPEC 9.3): said, never silent.
    let new_conflicts = node.chain().conflicts()?.len().saturating_sub(conflicts_before);
    let conflicts_note = match new_conflicts {
        0 => String::new(),
        n => format!("\n{n} record(s) dropped for others with their nonces: see `emr chain conflicts {}`", dir.display()),
    };
    Ok(Output::new(
        format!(
            "imported {} blocks: {} extended, {} reorganized, {} side branch, {} already known, {} stale\ntip: {}{conflicts_note}",
            blocks.len(),
            count(AddOutcome::Extended),
            count(AddOutcome::Reorganized),
            count(AddOutcome::SideBranch),
            count(AddOutcome::AlreadyKnown),
            count(AddOutcome::Stale),
            tip.map_or("none".to_owned(), |t| format!("height {}, block {}", t.height, t.block_id)),
        ),
        json!({
            "file": file.display().to_string(),
            "blocks": blocks.len(),
            "extended": count(AddOutcome::Extended),
            "reorganized": count(AddOutcome::Reorganized),
            "side_branch": count(AddOutcome::SideBranch),
            "stale": count(AddOutcome::Stale),
            "already_known": count(AddOutcome::AlreadyKnown),
            "conflicts": new_conflicts,
            "height": tip.map(|t| t.height),
            "tip": tip.map(|t| t.block_id.to_string()),
        }),
    ))
}


/// The core's backup from a read-only handle, so it runs beside a writer or
/// a node; the copy is then opened, as a restore would, to report its tip.
pub fn chain_backup(dir: &Path, dest: &Path) -> Result<Output, CliError> {
    let node = Node::open(dir, false)?;
    node.chain().backup(dest)?;
    drop(node);
    let copy = Chain::open_readonly(dest)?;
    let tip = copy.tip()?;
    let bytes = fs::metadata(dest).map_err(|e| file_error(dest, e))?.len();
    Ok(Output::new(
        format!(
            "backed up {} to {} ({bytes} bytes; tip: {})\nrestore: stop the chain's writer, copy {} to {}, run `emr chain check {}`",
            dir.display(),
            dest.display(),
            tip.map_or("none".to_owned(), |t| format!("height {}, block {}", t.height, t.block_id)),
            dest.display(),
            dir.join(node::CHAIN_FILE).display(),
            dir.display(),
        ),
        json!({
            "file": dest.display().to_string(),
            "bytes": bytes,
            "height": tip.map(|t| t.height),
            "tip": tip.map(|t| t.block_id.to_string()),
        }),
    ))
}

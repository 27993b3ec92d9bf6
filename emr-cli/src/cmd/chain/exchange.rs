//! Blocks carried between chain directories as files: `chain export`,
//! `chain import`; the whole database copied: `chain backup`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use emr_core::chain::{AddOutcome, BatchOptions, Chain};
use serde_json::json;

use crate::cancel::{cancellable, CANCEL};
use crate::container;
use crate::error::{file_error, CliError};
use crate::node::{self, Node};
use crate::outfile::{Access, OutFile};
use crate::output::{count, Output, Ui};
use crate::progress::{BatchBar, Mode};

/// `emr chain export DIR FILE`; FILE `-` is stdout.
pub fn chain_export(dir: &Path, file: PathBuf, from: u64, force: bool, ui: Ui) -> Result<Output, CliError> {
    let to_stdout = file.as_os_str() == "-";
    if to_stdout && ui.json {
        return Err(CliError::usage(
            "FILE - writes the blocks to stdout, where --json writes its object: give a file name with --json",
        ));
    }
    let out = if to_stdout {
        None
    } else {
        Some(OutFile::new(file, Access::Public, force)?)
    };
    let node = Node::open(dir, false)?;
    let len = node.chain().len()?;
    // Past the tip there is nothing to write: an empty file would look
    // like a chain that has not reached that height yet.
    if from > 0 && from >= len {
        return Err(CliError::invalid_argument(match len {
            0 => format!("--from {from}: the chain in {} has no blocks yet", dir.display()),
            _ => format!(
                "--from {from} is past the tip of the chain in {} (heights 0 to {})",
                dir.display(),
                len - 1
            ),
        }));
    }
    let blocks: Vec<_> = node.chain().blocks(from, len).collect::<Result<_, _>>()?;
    let bytes = container::encode(&blocks);
    let heights = match blocks.len() {
        0 => "the chain is empty".to_owned(),
        1 => format!("height {from}"),
        _ => format!("heights {from} to {}", len - 1),
    };
    let written = count(blocks.len(), "block", "blocks");
    let json = json!({"blocks": blocks.len(), "from": from, "height": len.checked_sub(1)});
    let Some(out) = out else {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&bytes)
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::io(format!("writing the blocks to stdout: {e}")))?;
        // stdout holds the blocks: the summary goes beside them, to stderr
        // (written, not printed: a closed stderr must not panic).
        let _ = writeln!(std::io::stderr(), "wrote {written} ({heights}) to stdout");
        return Ok(Output::new("", json));
    };
    out.write(&bytes, None)?;
    let file = out.path();
    let mut json = json;
    json["file"] = json!(file.display().to_string());
    Ok(Output::new(
        format!("wrote {written} ({heights}) to {}", file.display()),
        json,
    ))
}

pub fn chain_import(dir: &Path, file: &Path, mode: Mode) -> Result<Output, CliError> {
    let reader = std::io::BufReader::new(fs::File::open(file).map_err(|e| file_error(file, e))?);
    let blocks = container::read(reader).map_err(|e| e.context(file.display()))?;
    let mut node = crate::node::open_exclusive(dir, "import")?;
    let conflicts_before = (node.chain().conflicts()?.len(), node.chain().entry_conflicts()?.len());
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
                "{} ({} before it added)",
                file.display(),
                count(kept, "block", "blocks")
            )));
        }
    };
    bar.finish(blocks.len() as u64);
    let of = |o: AddOutcome| outcomes.iter().filter(|x| **x == o).count();
    let tip = node.chain().tip()?;
    // Records this import dropped for others (SPEC 9.3): said, never silent.
    let new_records = node.chain().conflicts()?.len().saturating_sub(conflicts_before.0);
    // And dispensings or cancellations whose prescription another took.
    let new_entries = node.chain().entry_conflicts()?.len().saturating_sub(conflicts_before.1);
    let new_conflicts = new_records + new_entries;
    let mut conflicts_note = String::new();
    if new_records > 0 {
        conflicts_note.push_str(&format!(
            "\n{} dropped for others with their nonces: see `emr chain conflicts {}`",
            count(new_records, "record", "records"),
            dir.display()
        ));
    }
    if new_entries > 0 {
        conflicts_note.push_str(&format!(
            "\n{} dropped for others of the same prescription: see `emr chain conflicts {}`",
            count(new_entries, "dispensing or cancellation", "dispensings or cancellations"),
            dir.display()
        ));
    }
    Ok(Output::new(
        format!(
            "imported {}: {} extended, {} reorganized, {} side branch, {} already known, {} stale\ntip: {}{conflicts_note}",
            count(blocks.len(), "block", "blocks"),
            of(AddOutcome::Extended),
            of(AddOutcome::Reorganized),
            of(AddOutcome::SideBranch),
            of(AddOutcome::AlreadyKnown),
            of(AddOutcome::Stale),
            tip.map_or("none".to_owned(), |t| format!("height {}, block {}", t.height, t.block_id)),
        ),
        json!({
            "file": file.display().to_string(),
            "blocks": blocks.len(),
            "extended": of(AddOutcome::Extended),
            "reorganized": of(AddOutcome::Reorganized),
            "side_branch": of(AddOutcome::SideBranch),
            "stale": of(AddOutcome::Stale),
            "already_known": of(AddOutcome::AlreadyKnown),
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

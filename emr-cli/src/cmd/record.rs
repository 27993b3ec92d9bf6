//! `emr record`: sign a prescription (plain or sealed to its readers), open
//! a sealed one, verify record files.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use emr_core::address::Role;
use emr_core::chain::RecordEntry;
use emr_core::{PublicKey, Record, SealOptions};
use serde_json::{json, Map, Value};

use super::{addr, parse_address, record_json};
use crate::error::CliError;
use crate::infile::{read_key, read_public_key, read_record};
use crate::node::Node;
use crate::outfile::NamedLater;
use crate::output::Output;

#[derive(Subcommand)]
pub enum RecordCommand {
    /// Sign a prescription for a patient and write the record file.
    Sign {
        /// The doctor's private key file.
        #[arg(long)]
        key: PathBuf,
        /// The patient's address (emrp1...).
        #[arg(long)]
        patient: String,
        /// The prescription (at most 200 bytes of UTF-8).
        #[arg(long)]
        text: String,
        /// Take the nonce from this chain directory: the one after the
        /// doctor's last record on the chain or pending there.
        #[arg(long, conflicts_with = "nonce")]
        chain: Option<PathBuf>,
        /// The doctor's record counter (1 for a first record).
        #[arg(long)]
        nonce: Option<u64>,
        /// The record file to write (default: record-<nonce>-<txid>.rec).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing record file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
        /// Seal the prescription to these readers (public key or key files;
        /// the patient's must be among them): only they can read it.
        #[arg(long, num_args = 1..)]
        seal_to: Vec<PathBuf>,
        /// Do not add the doctor's own key to the readers of a sealed record.
        #[arg(long, requires = "seal_to")]
        no_seal_self: bool,
    },
    /// Read a sealed record's prescription with a recipient's key.
    Open {
        /// The record file.
        file: PathBuf,
        /// A recipient's private key file (the patient's, the doctor's, ...).
        #[arg(long)]
        key: PathBuf,
    },
    /// Verify record files: every check, the nonce sequence too with --chain.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check each record against this chain: in it, or its doctor's next.
        #[arg(long)]
        chain: Option<PathBuf>,
    },
}

impl RecordCommand {
    pub fn name(&self) -> &'static str {
        match self {
            RecordCommand::Sign { .. } => "record sign",
            RecordCommand::Open { .. } => "record open",
            RecordCommand::Verify { .. } => "record verify",
        }
    }

    pub fn run(self) -> Result<Output, CliError> {
        match self {
            RecordCommand::Sign {
                key,
                patient,
                text,
                chain,
                nonce,
                out,
                force,
                seal_to,
                no_seal_self,
            } => record_sign(
                &key,
                &patient,
                &text,
                chain.as_deref(),
                nonce,
                NamedLater::new(out, force)?,
                Seal {
                    to: &seal_to,
                    include_self: !no_seal_self,
                },
            ),
            RecordCommand::Open { file, key } => record_open(&file, &key),
            RecordCommand::Verify { files, chain } => record_verify(&files, chain.as_deref()),
        }
    }
}

/// The readers of a sealed record (`--seal-to`; none: a plain record).
struct Seal<'a> {
    to: &'a [PathBuf],
    include_self: bool,
}

fn record_sign(
    key_path: &Path,
    patient: &str,
    text: &str,
    chain: Option<&Path>,
    nonce: Option<u64>,
    out: NamedLater,
    seal: Seal<'_>,
) -> Result<Output, CliError> {
    let patient = parse_address(patient, Role::Patient)?;
    let key = read_key(key_path)?;
    let dr_hash = key.public_key_hash();
    let nonce =
        match (nonce, chain) {
            (Some(n), _) => n,
            (None, Some(dir)) => {
                let node = Node::open(dir, false)?;
                let on_chain = node.chain().user_state(&dr_hash)?.nonce;
                let pending = node
                    .pending()?
                    .iter()
                    .filter(|r| r.dr_hash == dr_hash)
                    .map(|r| r.nonce)
                    .max()
                    .unwrap_or(0);
                on_chain.max(pending) + 1
            }
            (None, None) => return Err(CliError::usage(
                "give --chain DIR (the nonce follows the doctor's last record there) or --nonce N",
            )),
        };
    let record = if seal.to.is_empty() {
        Record::sign(&key, patient.as_bytes(), text, nonce)?
    } else {
        let readers = seal.to.iter().map(|p| read_public_key(p)).collect::<Result<Vec<PublicKey>, _>>()?;
        Record::sign_sealed(
            &key,
            patient.as_bytes(),
            text,
            nonce,
            &readers,
            SealOptions {
                include_self: seal.include_self,
            },
        )?
    };
    let out = out.or_default(|| {
        PathBuf::from(format!(
            "record-{nonce}-{}.rec",
            &record.txid.to_string()[..12]
        ))
    })?;
    out.write(&record.to_bytes(), None)?;
    let out = out.path();
    let mut value = record_json(&record);
    value["file"] = json!(out.display().to_string());
    let sealed = if record.is_sealed() {
        let readers = record.sealed_recipients().map(|r| r.len()).unwrap_or(0);
        value["sealed_to"] = json!(readers);
        format!(", sealed to {readers} readers")
    } else {
        String::new()
    };
    Ok(Output::new(
        format!(
            "signed record {} (nonce {nonce}) for {}{sealed}\nwrote {}",
            record.txid,
            addr(Role::Patient, &patient),
            out.display()
        ),
        value,
    ))
}

/// `emr record open`: a sealed record's text, with a recipient's key.
fn record_open(file: &Path, key: &Path) -> Result<Output, CliError> {
    let record = read_record(file)?;
    let key = read_key(key)?;
    if !record.is_sealed() {
        return Err(CliError::invalid_argument(format!(
            "{}: the prescription is not sealed (emr record verify shows it)",
            file.display()
        )));
    }
    let text = record
        .open(&key)
        .map_err(|e| CliError::from_kind(e.kind(), e.to_string()).context(file.display()))?;
    let mut value = record_json(&record);
    value["prescription"] = json!(text);
    Ok(Output::new(text, value))
}

fn record_verify(files: &[PathBuf], chain: Option<&Path>) -> Result<Output, CliError> {
    let node = chain.map(|dir| Node::open(dir, false)).transpose()?;
    let mut results = Vec::new();
    let mut lines = Vec::new();
    let mut first_error: Option<CliError> = None;
    for path in files {
        let checked = (|| -> Result<(Record, Option<RecordEntry>), CliError> {
            let record = read_record(path)?;
            let mut place = None;
            match &node {
                Some(node) => {
                    if let Some(entry) = node.chain().find_record(&record.txid)? {
                        place = Some(entry);
                    } else {
                        let last = node.chain().user_state(&record.dr_hash)?.nonce;
                        record.verify(last)?;
                    }
                }
                None if record.nonce == 0 => return Err(emr_core::RecordError::InvalidNonce.into()),
                None => record.verify(record.nonce - 1)?,
            }
            Ok((record, place))
        })();
        match checked {
            Ok((record, place)) => {
                let mut value = record_json(&record);
                value["file"] = json!(path.display().to_string());
                value["valid"] = json!(true);
                let status = match &place {
                    Some(e) => {
                        value["height"] = json!(e.height);
                        value["block_id"] = json!(e.block_id.to_string());
                        format!("valid, on the chain at height {}", e.height)
                    }
                    None if node.is_some() => "valid, the doctor's next record".to_owned(),
                    None => format!(
                        "valid as the doctor's record {} (nonce order not checked without --chain)",
                        record.nonce
                    ),
                };
                lines.push(format!(
                    "{}: {status}: {}",
                    path.display(),
                    record.prescription
                ));
                results.push(value);
            }
            Err(e) => {
                lines.push(format!(
                    "{}: INVALID: {}: {}",
                    path.display(),
                    e.kind,
                    e.message
                ));
                results.push(json!({"file": path.display().to_string(), "valid": false, "error": {"kind": e.kind, "message": e.message}}));
                first_error.get_or_insert(e.context(path.display()));
            }
        }
    }
    match first_error {
        None => Ok(Output::new(lines.join("\n"), json!({"records": results}))),
        Some(mut e) => {
            e.partial = Some(Box::new((
                lines.join("\n"),
                Map::from_iter([("records".to_owned(), Value::Array(results))]),
            )));
            Err(e)
        }
    }
}

//! Pharmacies (SPEC section 10): `emr pharmacy grant` (an authority admits
//! a pharmacy), `emr dispense` (a pharmacy hands over a prescription, the
//! patient countersigns; in one step, or in three when the patient signs on
//! their own device), `emr cancel` (the prescriber or an authority
//! withdraws a prescription) and `emr rx status` / `emr rx pharmacy` (what
//! became of a prescription; what a pharmacy dispensed).
//!
//! Dispensings and cancellations name a prescription of the chain, so these
//! commands read the chain (beside a running node too) and offer what they
//! sign to its pool through [`Writer`], which reaches the node that holds
//! the chain when one runs.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use emr_core::address::Role;
use emr_core::chain::{PrescriptionState, PrescriptionStatus};
use emr_core::{Cancellation, Dispense, DispenserGrant, Entry, Hash160, Hash256};
use serde_json::{json, Value};

use super::authority::{entry_chain_id, finish_entry};
use super::{addr, parse_address, parse_hash160};
use crate::error::CliError;
use crate::infile::{read_entry, read_key, read_public_key};
use crate::node::{running_node_url, Node, Writer};
use crate::outfile::{Access, NamedLater, OutFile};
use crate::output::{count, Output};
use crate::times;

#[derive(Subcommand)]
pub enum PharmacyCommand {
    /// An authority admits a pharmacy to dispense: sign a dispenser grant
    /// (an entry file), and offer it to a chain's pool with --chain.
    Grant(PharmacyGrantArgs),
}

impl PharmacyCommand {
    pub fn name(&self) -> &'static str {
        match self {
            PharmacyCommand::Grant(_) => "pharmacy grant",
        }
    }

    pub fn run(self) -> Result<Output, CliError> {
        match self {
            PharmacyCommand::Grant(args) => pharmacy_grant(args),
        }
    }
}

#[derive(Args)]
pub struct PharmacyGrantArgs {
    /// The authority's private key file.
    #[arg(long)]
    key: PathBuf,
    /// The pharmacy's public key (SPKI DER or PEM) or key file.
    #[arg(long)]
    pharmacy: PathBuf,
    /// Registration number and name (at most 100 bytes of UTF-8).
    #[arg(long)]
    licence: String,
    /// The first second the grant authorizes (a time: Unix seconds or
    /// ISO 8601, as 2026-01-01 or 2026-01-01T08:00:00Z).
    #[arg(long, value_name = "TIME", allow_negative_numbers = true, default_value = "0", value_parser = times::parse)]
    not_before: u64,
    /// The last second the grant authorizes (a time, as --not-before), or never.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true, default_value = "never", value_parser = times::parse_end)]
    not_after: u64,
    /// The entry file to write (default: pharmacy-grant-<id>.entry).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing entry file (a regular file only, never a link or device).
    #[arg(long)]
    force: bool,
    /// Also add the grant to this chain directory's pool (the grant is
    /// made for that chain).
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The id of the chain the grant is made for (64 hex digits); needed
    /// without --chain.
    #[arg(long)]
    chain_id: Option<String>,
}

/// `emr pharmacy grant`: an authority admits a pharmacy.
fn pharmacy_grant(args: PharmacyGrantArgs) -> Result<Output, CliError> {
    let out = NamedLater::new(args.out, args.force)?;
    let chain = args.chain.as_deref();
    let chain_id = entry_chain_id(args.chain_id.as_deref(), chain)?;
    let authority = read_key(&args.key)?;
    let pharmacy = read_public_key(&args.pharmacy)?;
    let grant = DispenserGrant::sign(
        &authority,
        chain_id,
        &pharmacy.to_spki_der(),
        &args.licence,
        args.not_before,
        args.not_after,
    )
    .map_err(|e| CliError::from_kind(e.kind(), e.to_string()))?;
    finish_entry(grant.into(), out, chain, "pharmacy-grant")
}

// The options of `emr dispense` (its help is the variant's doc in main.rs).
#[derive(Args)]
pub struct DispenseArgs {
    /// The chain directory whose prescription is dispensed; the dispensing
    /// goes to its pool (or to the node that runs on it).
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The pharmacy's private key file.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The patient's private key file: the patient countersigns here, at
    /// the counter (one step), or with --countersign on their own device.
    #[arg(long)]
    patient_key: Option<PathBuf>,
    /// With --prepare: the patient's public key (or key file), whose
    /// owner countersigns later.
    #[arg(long, requires = "prepare")]
    patient: Option<PathBuf>,
    /// The prescription: its doctor's address and nonce, as
    /// emrd1...:NONCE (`emr chain history` lists them).
    #[arg(long, value_name = "DOCTOR_ADDRESS:NONCE")]
    prescription: Option<String>,
    /// Quantity, batch (at most 100 bytes of UTF-8; public, so empty for a
    /// sealed prescription).
    #[arg(long, default_value = "", conflicts_with_all = ["countersign", "submit"])]
    note: String,
    /// Step 1 of 3: the pharmacy signs and writes the dispensing, without
    /// the patient's signature, to --out, and prints the digest the patient
    /// signs.
    #[arg(long, conflicts_with_all = ["countersign", "submit", "patient_key"])]
    prepare: bool,
    /// Step 2 of 3, on the patient's device: check and countersign this
    /// prepared dispensing with --patient-key (written back in place, or to
    /// --out). Needs no chain.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["submit", "chain", "key", "patient", "prescription"])]
    countersign: Option<PathBuf>,
    /// Step 3 of 3: offer this countersigned dispensing to --chain.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "patient", "patient_key", "prescription"])]
    submit: Option<PathBuf>,
    /// With --submit: the patient's signature of the digest (strict DER, in
    /// hex), made by a card that signs digests, attached before submitting.
    #[arg(long, value_name = "HEX", requires = "submit")]
    patient_signature: Option<String>,
    /// The dispensing's entry file to write (needed by --prepare; else a
    /// copy of what is submitted).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing file given as --out.
    #[arg(long)]
    force: bool,
}

// The options of `emr cancel` (its help is the variant's doc in main.rs).
#[derive(Args)]
pub struct CancelArgs {
    /// The chain directory whose prescription is cancelled; the
    /// cancellation goes to its pool (or to the node that runs on it).
    #[arg(long)]
    chain: PathBuf,
    /// The canceller's private key file: the prescribing doctor's, or an
    /// authority's of the chain.
    #[arg(long)]
    key: PathBuf,
    /// The prescription, as emrd1...:NONCE.
    #[arg(long, value_name = "DOCTOR_ADDRESS:NONCE")]
    prescription: String,
    /// Why (at most 100 bytes of UTF-8; public, so empty for a sealed
    /// prescription).
    #[arg(long, default_value = "")]
    reason: String,
    /// A copy of the cancellation's entry file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing file given as --out.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
pub enum RxCommand {
    /// What became of a prescription: open, dispensed (by which pharmacy,
    /// when, in which block) or cancelled (by whom, why); with "seen by k
    /// of n sites" when a node runs on DIR.
    Status {
        #[arg(help = "The chain's directory")]
        dir: PathBuf,
        /// The prescription, as emrd1...:NONCE.
        #[arg(value_name = "DOCTOR_ADDRESS:NONCE")]
        prescription: String,
    },
    /// A pharmacy's dispensings in the active chain, oldest first.
    Pharmacy {
        #[arg(help = "The chain's directory")]
        dir: PathBuf,
        /// The pharmacy: its key hash (40 hex digits), public key or key file.
        pharmacy: String,
    },
}

impl RxCommand {
    pub fn name(&self) -> &'static str {
        match self {
            RxCommand::Status { .. } => "rx status",
            RxCommand::Pharmacy { .. } => "rx pharmacy",
        }
    }

    pub fn run(self) -> Result<Output, CliError> {
        match self {
            RxCommand::Status { dir, prescription } => rx_status(&dir, &prescription),
            RxCommand::Pharmacy { dir, pharmacy } => rx_pharmacy(&dir, &pharmacy),
        }
    }
}

/// `emrd1...:NONCE`: a prescription's doctor and nonce.
fn parse_prescription(text: &str) -> Result<(Hash160, u64), CliError> {
    let (doctor, nonce) = text.rsplit_once(':').ok_or_else(|| {
        CliError::invalid_argument(format!(
            "a prescription is its doctor's address and nonce, as emrd1...:3, not {text:?}"
        ))
    })?;
    let nonce = nonce
        .parse::<u64>()
        .map_err(|_| CliError::invalid_argument(format!("{text:?}: the nonce after ':' is not a whole number")))?;
    Ok((parse_address(doctor, Role::Doctor)?, nonce))
}

/// The prescription's record and state in the chain of `dir`.
fn prescription(dir: &Path, text: &str) -> Result<(Hash256, PrescriptionStatus), CliError> {
    let (doctor, nonce) = parse_prescription(text)?;
    let node = Node::open(dir, false)?;
    let status = node.chain().prescription_status(&doctor, nonce).map_err(|e| {
        let error = CliError::from(e);
        if error.kind == "not_found" {
            CliError::not_found(format!("no prescription {text} in the active chain of {}", dir.display()))
        } else {
            error
        }
    })?;
    Ok((node.chain().chain_id(), status))
}

fn sign_error(e: impl Into<emr_core::EntrySignError>) -> CliError {
    let e = e.into();
    CliError::from_kind(e.kind(), e.to_string())
}

fn entry_error(e: &emr_core::EntryError) -> CliError {
    CliError::from_kind(e.kind(), e.to_string())
}

/// The `--out` copy of an entry, if asked for.
fn write_copy(out: Option<PathBuf>, force: bool, entry: &Entry) -> Result<Option<PathBuf>, CliError> {
    let Some(path) = out else { return Ok(None) };
    let file = OutFile::new(path, Access::Public, force)?;
    file.write(&entry.to_bytes(), None)?;
    Ok(Some(file.path().to_owned()))
}

/// What a dispensing says, for the people who sign it and read it.
fn dispense_json(d: &Dispense) -> Value {
    json!({
        "type": "dispense",
        "entry_id": d.dispense_id().to_string(),
        "doctor": addr(Role::Doctor, &d.dr_hash),
        "nonce": d.nonce,
        "record_hash": d.record_hash.to_string(),
        "pharmacy": d.pharmacy_hash().to_string(),
        "patient": addr(Role::Patient, &d.patient_hash()),
        "note": d.note,
        "digest": d.digest().to_string(),
        "pharmacy_signed": !d.signature.is_empty(),
        "patient_signed": !d.patient_signature.is_empty(),
    })
}

fn dispense_summary(d: &Dispense) -> String {
    format!(
        "prescription {}:{} (record {}) by pharmacy {} for {}{}",
        addr(Role::Doctor, &d.dr_hash),
        d.nonce,
        d.record_hash,
        d.pharmacy_hash(),
        addr(Role::Patient, &d.patient_hash()),
        if d.note.is_empty() { String::new() } else { format!(", note {:?}", d.note) }
    )
}

/// Offers a signed entry to the chain in `dir` (or the node on it).
fn submit(dir: &Path, entry: &Entry, value: &mut Value, text: &mut String) -> Result<(), CliError> {
    let mut writer = Writer::open(dir)?;
    let outcome = writer.submit_entry(entry)?;
    value["outcome"] = json!(outcome.as_str());
    text.push_str(&format!("\n{}: {} in {}", entry.entry_type(), outcome.as_str(), dir.display()));
    Ok(())
}

fn required<'a, T>(value: &'a Option<T>, flag: &str, mode: &str) -> Result<&'a T, CliError> {
    value.as_ref().ok_or_else(|| CliError::usage(format!("{mode} needs {flag}")))
}

/// `emr dispense`, in whichever of its four forms the flags name.
pub fn dispense(args: DispenseArgs) -> Result<Output, CliError> {
    if let Some(file) = &args.countersign {
        return countersign(file, &args);
    }
    if let Some(file) = &args.submit {
        return submit_prepared(file, &args);
    }
    let mode = if args.prepare { "dispense --prepare" } else { "dispense" };
    let chain = required(&args.chain, "--chain DIR", mode)?;
    let key = required(&args.key, "--key PHARMACY_KEY", mode)?;
    let text = required(&args.prescription, "--prescription DOCTOR_ADDRESS:NONCE", mode)?;
    let (chain_id, status) = prescription(chain, text)?;
    let pharmacy = read_key(key)?;
    let record = &status.record.record;
    if args.prepare {
        let out = required(&args.out, "--out FILE (the prepared dispensing the patient countersigns)", mode)?;
        let patient = read_public_key(required(&args.patient, "--patient PUBLIC_KEY", mode)?)?;
        let out = OutFile::new(out.clone(), Access::Public, args.force)?;
        let mut dispense =
            Dispense::unsigned(chain_id, record, pharmacy.public_key_der(), &patient.to_spki_der(), &args.note)
                .map_err(|e| entry_error(&e))?;
        dispense.sign_pharmacy(&pharmacy).map_err(sign_error)?;
        let entry = Entry::Dispense(dispense.clone());
        out.write(&entry.to_bytes(), None)?;
        let mut value = dispense_json(&dispense);
        value["file"] = json!(out.path().display().to_string());
        let text = format!(
            "prepared the dispensing of {}\nwrote {}: the patient countersigns it (`emr dispense --countersign {} --patient-key KEY`), \
             or signs the digest {} on a card (`emr dispense --submit FILE --patient-signature HEX`)",
            dispense_summary(&dispense),
            out.path().display(),
            out.path().display(),
            dispense.digest()
        );
        return Ok(Output::new(text, value));
    }
    let patient = read_key(required(&args.patient_key, "--patient-key FILE (or --prepare for a patient who signs elsewhere)", mode)?)?;
    let dispense = Dispense::sign(&pharmacy, &patient, chain_id, record, &args.note).map_err(sign_error)?;
    finish_dispense(chain, dispense, args.out, args.force)
}

/// Step 2: the patient's device shows what it signs, checks that the
/// pharmacy signed that, and adds the patient's signature.
fn countersign(file: &Path, args: &DispenseArgs) -> Result<Output, CliError> {
    let key = read_key(required(&args.patient_key, "--patient-key FILE", "dispense --countersign")?)?;
    let Entry::Dispense(mut dispense) = read_entry(file)? else {
        return Err(CliError::invalid_argument(format!("{}: not a dispensing (`emr dispense --prepare` makes one)", file.display())));
    };
    let target = args.out.clone().unwrap_or_else(|| file.to_owned());
    // In place is the point of the step; another --out keeps its own rule.
    let force = args.force || args.out.is_none();
    let out = OutFile::new(target, Access::Public, force)?;
    if dispense.patient_hash() != key.public_key_hash() {
        return Err(CliError::from_kind(
            emr_core::ErrorKind::WrongPatient,
            format!("{}: this dispensing is for {}, not for this key", file.display(), addr(Role::Patient, &dispense.patient_hash())),
        ));
    }
    // A dispensing the pharmacy did not sign could be anyone's: the patient
    // signs only what a pharmacy stands behind.
    let signature = dispense.signature.clone();
    dispense.attach_signature(&signature).map_err(|e| entry_error(&e).context(format!("{}: the pharmacy's signature", file.display())))?;
    dispense.sign_patient(&key).map_err(sign_error)?;
    let entry = Entry::Dispense(dispense.clone());
    out.write(&entry.to_bytes(), None)?;
    let mut value = dispense_json(&dispense);
    value["file"] = json!(out.path().display().to_string());
    Ok(Output::new(
        format!("countersigned the dispensing of {}\nwrote {}", dispense_summary(&dispense), out.path().display()),
        value,
    ))
}

/// Step 3: the pharmacy offers the countersigned dispensing.
fn submit_prepared(file: &Path, args: &DispenseArgs) -> Result<Output, CliError> {
    let chain = required(&args.chain, "--chain DIR", "dispense --submit")?;
    let Entry::Dispense(mut dispense) = read_entry(file)? else {
        return Err(CliError::invalid_argument(format!("{}: not a dispensing (`emr dispense --prepare` makes one)", file.display())));
    };
    if let Some(hex_text) = &args.patient_signature {
        let signature = hex::decode(hex_text.trim())
            .map_err(|_| CliError::invalid_argument("--patient-signature is a DER signature in hex"))?;
        dispense.attach_patient_signature(&signature).map_err(|e| entry_error(&e).context("--patient-signature"))?;
    }
    if dispense.patient_signature.is_empty() {
        return Err(CliError::from_kind(
            emr_core::ErrorKind::InvalidEntrySignature,
            format!(
                "{}: the patient has not countersigned (`emr dispense --countersign`, or --patient-signature HEX)",
                file.display()
            ),
        ));
    }
    dispense.verify().map_err(|e| entry_error(&e).context(file.display()))?;
    finish_dispense(chain, dispense, args.out.clone(), args.force)
}

fn finish_dispense(chain: &Path, dispense: Dispense, out: Option<PathBuf>, force: bool) -> Result<Output, CliError> {
    let mut value = dispense_json(&dispense);
    let mut text = format!("signed the dispensing {} of {}", dispense.dispense_id(), dispense_summary(&dispense));
    let entry = Entry::Dispense(dispense);
    if let Some(path) = write_copy(out, force, &entry)? {
        value["file"] = json!(path.display().to_string());
        text.push_str(&format!("\nwrote {}", path.display()));
    }
    submit(chain, &entry, &mut value, &mut text)?;
    Ok(Output::new(text, value))
}

/// `emr cancel`: the prescriber or an authority withdraws a prescription.
pub fn cancel(args: CancelArgs) -> Result<Output, CliError> {
    let (chain_id, status) = prescription(&args.chain, &args.prescription)?;
    let key = read_key(&args.key)?;
    let cancellation = Cancellation::sign(&key, chain_id, &status.record.record, &args.reason).map_err(sign_error)?;
    let entry = Entry::Cancellation(cancellation.clone());
    let mut value = json!({
        "type": "cancellation",
        "entry_id": cancellation.cancellation_id().to_string(),
        "doctor": addr(Role::Doctor, &cancellation.dr_hash),
        "nonce": cancellation.nonce,
        "record_hash": cancellation.record_hash.to_string(),
        "canceller": cancellation.canceller_hash().to_string(),
        "reason": cancellation.reason,
    });
    let mut text = format!(
        "signed the cancellation {} of prescription {}{}",
        cancellation.cancellation_id(),
        args.prescription,
        if cancellation.reason.is_empty() { String::new() } else { format!(" ({:?})", cancellation.reason) }
    );
    if let Some(path) = write_copy(args.out, args.force, &entry)? {
        value["file"] = json!(path.display().to_string());
        text.push_str(&format!("\nwrote {}", path.display()));
    }
    submit(&args.chain, &entry, &mut value, &mut text)?;
    Ok(Output::new(text, value))
}

/// A prescription's state as JSON (`state` and, when it is not open, who,
/// when and which block) and as words.
pub fn state_json(state: &PrescriptionState) -> (Value, String) {
    match state {
        PrescriptionState::Open => (json!({"state": "open"}), "open".to_owned()),
        PrescriptionState::Dispensed(d) => (
            json!({
                "state": "dispensed",
                "pharmacy": d.dispense.pharmacy_hash().to_string(),
                "note": d.dispense.note,
                "entry_id": d.dispense.dispense_id().to_string(),
                "height": d.height,
                "block_id": d.block_id.to_string(),
                "timestamp": d.timestamp,
                "timestamp_iso": times::iso_json(d.timestamp),
            }),
            format!("dispensed by pharmacy {} at height {} ({})", d.dispense.pharmacy_hash(), d.height, times::show(d.timestamp)),
        ),
        PrescriptionState::Cancelled(c) => {
            let by = if c.cancellation.canceller_hash() == c.cancellation.dr_hash { "its prescriber" } else { "an authority" };
            (
                json!({
                    "state": "cancelled",
                    "canceller": c.cancellation.canceller_hash().to_string(),
                    "by": by,
                    "reason": c.cancellation.reason,
                    "entry_id": c.cancellation.cancellation_id().to_string(),
                    "height": c.height,
                    "block_id": c.block_id.to_string(),
                    "timestamp": c.timestamp,
                    "timestamp_iso": times::iso_json(c.timestamp),
                }),
                format!(
                    "cancelled by {by} ({}) at height {} ({}){}",
                    c.cancellation.canceller_hash(),
                    c.height,
                    times::show(c.timestamp),
                    if c.cancellation.reason.is_empty() { String::new() } else { format!(": {:?}", c.cancellation.reason) }
                ),
            )
        }
    }
}

/// How many sites hold `block`, asked of the node running on `dir` (SPEC
/// 9.2); `None` when no node runs there.
fn seen(dir: &Path, block: &Hash256) -> Option<Result<Value, CliError>> {
    let url = running_node_url(dir)?;
    let answer = emr_node::client::Client::new(&url, None)
        .and_then(|client| client.json("GET", &format!("/v1/seen/{block}"), None))
        .map_err(|e| CliError::io(format!("the node at {url}: {e}")));
    Some(answer)
}

/// `emr rx status`.
fn rx_status(dir: &Path, text: &str) -> Result<Output, CliError> {
    let (_, status) = prescription(dir, text)?;
    let record = &status.record;
    let (mut value, state) = state_json(&status.state);
    value["prescription"] = json!(text);
    value["record"] = super::entry_json(record);
    let mut lines = vec![
        format!("prescription {text}: {state}"),
        format!(
            "record {} for {} at height {} ({})",
            record.record.txid,
            addr(Role::Patient, &record.record.patient_hash),
            record.height,
            times::show(record.timestamp)
        ),
    ];
    // How sure the state is: the block that made it so (the record's own
    // while the prescription is open).
    let block = match &status.state {
        PrescriptionState::Open => record.block_id,
        PrescriptionState::Dispensed(d) => d.block_id,
        PrescriptionState::Cancelled(c) => c.block_id,
    };
    match seen(dir, &block) {
        None => value["seen"] = Value::Null,
        Some(Ok(seen)) => {
            lines.push(format!(
                "block {block}: depth {}, {}",
                seen.get("depth").and_then(Value::as_u64).unwrap_or(0),
                seen.get("seen_by").and_then(Value::as_str).unwrap_or("-")
            ));
            value["seen"] = seen;
        }
        Some(Err(e)) => {
            lines.push(format!("the node could not say how many sites hold block {block}: {}", e.message));
            value["seen"] = json!({"error": e.kind, "message": e.message});
        }
    }
    Ok(Output::new(lines.join("\n"), value))
}

/// `emr rx pharmacy`: a pharmacy's dispensings.
fn rx_pharmacy(dir: &Path, pharmacy: &str) -> Result<Output, CliError> {
    let hash = match parse_hash160(pharmacy) {
        Ok(hash) => hash,
        Err(_) => emr_core::hash::sha1(&[&read_public_key(Path::new(pharmacy))?.to_spki_der()]),
    };
    let node = Node::open(dir, false)?;
    let list = node.chain().pharmacy_dispensings(&hash)?;
    let mut lines = vec![format!("{} by pharmacy {hash}", count(list.len(), "dispensing", "dispensings"))];
    let mut values = Vec::new();
    for d in &list {
        lines.push(format!(
            "height {:>4}  {}  {}:{}  for {}{}",
            d.height,
            times::show(d.timestamp),
            addr(Role::Doctor, &d.dispense.dr_hash),
            d.dispense.nonce,
            addr(Role::Patient, &d.dispense.patient_hash()),
            if d.dispense.note.is_empty() { String::new() } else { format!("  {:?}", d.dispense.note) }
        ));
        let mut value = dispense_json(&d.dispense);
        value["height"] = json!(d.height);
        value["block_id"] = json!(d.block_id.to_string());
        value["timestamp"] = json!(d.timestamp);
        values.push(value);
    }
    Ok(Output::new(lines.join("\n"), json!({"pharmacy": hash.to_string(), "dispensings": values})))
}

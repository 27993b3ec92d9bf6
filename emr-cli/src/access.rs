//! Who may write, who may read (SPEC section 8): authority keys, grants and
//! revocations as entry files, sealing a record to its readers and opening it.

use std::path::{Path, PathBuf};

use emr_core::address::Role;
use emr_core::{Curve, Entry, Grant, Hash256, PublicKey, Revocation, SigningKey};
use serde_json::{json, Value};

use crate::error::CliError;
use crate::node::Node;
use crate::outfile::{Access, NamedLater, OutFile};
use crate::times;
use crate::{addr, read_file, read_key, read_record, Output, MAX_SMALL_FILE_BYTES};

/// A public key from a file: SPKI DER (what `emr authority new` writes as
/// the `.pub` file), or a private key file (PKCS#8 or SEC1, PEM or DER),
/// whose public key is taken: a patient's or pharmacy's key file works
/// where only their public key is needed.
pub fn read_public_key(path: &Path) -> Result<PublicKey, CliError> {
    let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::InvalidPublicKey.as_str())?;
    if let Ok(key) = PublicKey::from_spki_der(&bytes) {
        return Ok(key);
    }
    match SigningKey::from_pem_or_der(&bytes) {
        Ok(key) => Ok(*key.public_key()),
        Err(_) => Err(CliError::new(
            "invalid_public_key",
            format!(
                "{}: neither a public key (SPKI DER) nor a private key file on secp256k1 or P-256",
                path.display()
            ),
        )),
    }
}

pub fn read_entry(path: &Path) -> Result<Entry, CliError> {
    let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::Decode.as_str())?;
    Entry::from_bytes(&bytes).map_err(|e| CliError::from(e).context(path.display()))
}

/// `emr authority new`: an authority's private key (PKCS#8 PEM, mode 0600)
/// and its public key (SPKI DER), the file `emr chain init --authority` takes.
pub fn authority_new(
    curve: Curve,
    out: &Path,
    public: Option<PathBuf>,
    force: bool,
) -> Result<Output, CliError> {
    let public = public.unwrap_or_else(|| out.with_extension("pub"));
    let out = OutFile::new(out.to_owned(), Access::Private, force)?;
    let public = OutFile::new(public, Access::Public, force)?;
    if out.same_file(&public) {
        return Err(CliError::invalid_argument(format!(
            "--out {} and --public {} are the same file: the public key would replace the private key \
             (the public key's default is OUT with extension .pub; give --public another file)",
            out.path().display(),
            public.path().display()
        )));
    }
    let key = SigningKey::generate(curve)?;
    let written = out.write(key.to_pkcs8_pem().as_bytes(), None)?;
    // Two names that looked different may still be one file (on a
    // case-insensitive file system, or linked meanwhile): the key stays.
    public.write(key.public_key_der(), Some(written))?;
    let (out, public) = (out.path(), public.path());
    let key_hash = key.public_key_hash().to_string();
    Ok(Output::new(
        format!(
            "wrote {} ({} authority key, mode 0600) and its public key {}\nkey hash {key_hash}",
            out.display(),
            curve.name(),
            public.display()
        ),
        json!({
            "file": out.display().to_string(),
            "public": public.display().to_string(),
            "curve": curve.name(),
            "key_hash": key_hash,
        }),
    ))
}

fn entry_json(entry: &Entry) -> Value {
    let authority = emr_core::hash::sha1(&[entry.authority()]).to_string();
    match entry {
        Entry::Grant(g) => json!({
            "type": "grant",
            "entry_id": entry.entry_id().to_string(),
            "doctor": addr(Role::Doctor, &g.dr_hash()),
            "licence": g.licence,
            "not_before": g.not_before,
            "not_before_iso": times::iso_json(g.not_before),
            "not_after": g.not_after,
            "not_after_iso": times::iso_json(g.not_after),
            "authority": authority,
        }),
        Entry::Revocation(r) => json!({
            "type": "revocation",
            "entry_id": entry.entry_id().to_string(),
            "grant_id": r.grant_id.to_string(),
            "effective": r.effective,
            "effective_iso": times::iso_json(r.effective),
            "authority": authority,
        }),
    }
}

/// Writes an entry file and, with `chain`, offers it to that chain's pool.
fn finish_entry(
    entry: Entry,
    out: NamedLater,
    chain: Option<&Path>,
    what: &str,
) -> Result<Output, CliError> {
    let id = entry.entry_id().to_string();
    let out = out.or_default(|| PathBuf::from(format!("{what}-{}.entry", &id[..12])))?;
    out.write(&entry.to_bytes(), None)?;
    let out = out.path();
    let mut value = entry_json(&entry);
    value["file"] = json!(out.display().to_string());
    let mut text = match &entry {
        Entry::Grant(g) => format!(
            "signed grant {id} admitting {} ({}) from {} to {}",
            addr(Role::Doctor, &g.dr_hash()),
            g.licence,
            times::show(g.not_before),
            times::show_end(g.not_after)
        ),
        Entry::Revocation(r) => format!(
            "signed revocation {id} of grant {} from {}",
            r.grant_id,
            times::show(r.effective)
        ),
    };
    text.push_str(&format!("\nwrote {}", out.display()));
    if let Some(dir) = chain {
        let mut node = Node::open(dir, true)?;
        let outcome = node.submit_entry(&entry)?;
        value["outcome"] = json!(outcome.as_str());
        text.push_str(&format!(
            "\n{}: {} in {}",
            out.display(),
            outcome.as_str(),
            dir.display()
        ));
    }
    Ok(Output::new(text, value))
}

/// The chain an entry is made for (SPEC 5, v1.2): `--chain-id`, or the
/// chain in `--chain DIR`; both given must agree.
fn entry_chain_id(chain_id: Option<&str>, chain: Option<&Path>) -> Result<Hash256, CliError> {
    let given = chain_id
        .map(|text| {
            hex::decode(text).ok().and_then(|b| Hash256::from_slice(&b)).ok_or_else(|| {
                CliError::invalid_argument(format!("--chain-id must be 64 hex digits (`emr chain status DIR` shows it), not {text:?}"))
            })
        })
        .transpose()?;
    let held = chain.map(|dir| Node::open(dir, false).map(|node| node.chain().chain_id())).transpose()?;
    match (given, held) {
        (Some(given), Some(held)) if given != held => Err(CliError::new(
            "wrong_chain",
            format!("--chain-id {given} is not the id of the chain in {} ({held})", chain.map_or(String::new(), |d| d.display().to_string())),
        )),
        (Some(id), _) | (None, Some(id)) => Ok(id),
        // A missing flag, as `record sign` without --chain or --nonce.
        (None, None) => Err(CliError::usage(
            "an entry names the chain it is made for: give --chain DIR or --chain-id HEX (`emr chain status DIR` shows it)",
        )),
    }
}

/// `emr grant`: an authority admits a doctor.
#[allow(clippy::too_many_arguments)]
pub fn grant(
    key: &Path,
    doctor: &Path,
    licence: &str,
    not_before: u64,
    not_after: u64,
    out: NamedLater,
    chain: Option<&Path>,
    chain_id: Option<&str>,
) -> Result<Output, CliError> {
    let chain_id = entry_chain_id(chain_id, chain)?;
    let authority = read_key(key)?;
    let doctor = read_public_key(doctor)?;
    let grant = Grant::sign(
        &authority,
        chain_id,
        &doctor.to_spki_der(),
        licence,
        not_before,
        not_after,
    )
    .map_err(|e| CliError::from_kind(e.kind(), e.to_string()))?;
    finish_entry(grant.into(), out, chain, "grant")
}

/// `emr revoke`: an authority withdraws a grant, named by its id or its file.
pub fn revoke(
    key: &Path,
    grant: &str,
    effective: u64,
    out: NamedLater,
    chain: Option<&Path>,
    chain_id: Option<&str>,
) -> Result<Output, CliError> {
    let chain_id = entry_chain_id(chain_id, chain)?;
    let authority = read_key(key)?;
    let grant_id = match hex::decode(grant)
        .ok()
        .and_then(|b| Hash256::from_slice(&b))
    {
        Some(id) => id,
        None => match read_entry(Path::new(grant))? {
            Entry::Grant(g) => g.grant_id(),
            Entry::Revocation(_) => {
                return Err(CliError::invalid_argument(format!(
                    "{grant} is a revocation, not a grant"
                )))
            }
        },
    };
    let revocation = Revocation::sign(&authority, chain_id, grant_id, effective)
        .map_err(|e| CliError::from_kind(e.kind(), e.to_string()))?;
    finish_entry(revocation.into(), out, chain, "revoke")
}

/// The readers of `emr record sign --seal-to`.
pub fn seal_recipients(paths: &[PathBuf]) -> Result<Vec<PublicKey>, CliError> {
    paths.iter().map(|p| read_public_key(p)).collect()
}

/// `emr record open`: a sealed record's text, with a recipient's key.
pub fn record_open(file: &Path, key: &Path) -> Result<Output, CliError> {
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
    Ok(Output::new(
        text.clone(),
        json!({
            "txid": record.txid.to_string(),
            "doctor": addr(Role::Doctor, &record.dr_hash),
            "patient": addr(Role::Patient, &record.patient_hash),
            "nonce": record.nonce,
            "prescription": text,
        }),
    ))
}

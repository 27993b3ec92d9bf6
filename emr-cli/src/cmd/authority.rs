//! Who may write (SPEC section 8.1): `emr authority new` makes an
//! authority's keys; `emr grant` and `emr revoke` sign the entries that
//! admit a doctor and withdraw the admission, as files, offered to a
//! chain's pool with `--chain`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use emr_core::address::Role;
use emr_core::{Curve, Entry, Grant, Hash256, Revocation, SigningKey};
use serde_json::{json, Value};

use super::{addr, CurveArg};
use crate::error::CliError;
use crate::infile::{read_entry, read_key, read_public_key};
use crate::node::Node;
use crate::outfile::{Access, NamedLater, OutFile};
use crate::output::Output;
use crate::times;

#[derive(Subcommand)]
pub enum AuthorityCommand {
    /// Generate an authority key (PKCS#8 PEM, mode 0600) and its public key
    /// (SPKI DER), the file `emr chain init --authority` takes.
    New {
        /// The key's elliptic curve.
        #[arg(long, value_enum, default_value = "p256")]
        curve: CurveArg,
        /// The private key file to write.
        #[arg(long)]
        out: PathBuf,
        /// The public key file to write (default: OUT with extension .pub).
        #[arg(long)]
        public: Option<PathBuf>,
        /// Replace existing files (regular files only, never a link or device).
        #[arg(long)]
        force: bool,
    },
}

impl AuthorityCommand {
    pub fn name(&self) -> &'static str {
        match self {
            AuthorityCommand::New { .. } => "authority new",
        }
    }

    pub fn run(self) -> Result<Output, CliError> {
        match self {
            AuthorityCommand::New {
                curve,
                out,
                public,
                force,
            } => authority_new(curve.curve(), &out, public, force),
        }
    }
}

// The options of `emr grant` (its help is the variant's doc in main.rs).
#[derive(Args)]
pub struct GrantArgs {
    /// The authority's private key file.
    #[arg(long)]
    key: PathBuf,
    /// The doctor's public key (SPKI DER) or key file.
    #[arg(long)]
    doctor: PathBuf,
    /// Registration number and name (at most 100 bytes of UTF-8).
    #[arg(long)]
    licence: String,
    /// The first second the grant authorizes (a time: Unix seconds or
    /// ISO 8601, as 2026-01-01 or 2026-01-01T08:00:00Z).
    // Negative numbers (on every time flag) reach times::parse, which
    // says "before 1970", rather than clap, which would take them for a flag.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true, default_value = "0", value_parser = times::parse)]
    not_before: u64,
    /// The last second the grant authorizes (a time, as --not-before),
    /// or never.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true, default_value = "never", value_parser = times::parse_end)]
    not_after: u64,
    /// The entry file to write (default: grant-<id>.entry).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing entry file (a regular file only, never a link or device).
    #[arg(long)]
    force: bool,
    /// Also add the grant to this chain directory's pool (the grant is
    /// made for that chain).
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The id of the chain the grant is made for (64 hex digits; `emr
    /// chain status` shows it); needed without --chain.
    #[arg(long)]
    chain_id: Option<String>,
}

// The options of `emr revoke` (its help is the variant's doc in main.rs).
#[derive(Args)]
pub struct RevokeArgs {
    /// The authority's private key file (any authority of the chain).
    #[arg(long)]
    key: PathBuf,
    /// The grant: its id (64 hex digits) or its entry file.
    #[arg(long)]
    grant: String,
    /// From this second on the grant no longer authorizes (a time: Unix
    /// seconds or ISO 8601, as 2026-01-01 or 2026-01-01T08:00:00Z).
    #[arg(long, value_name = "TIME", allow_negative_numbers = true, value_parser = times::parse)]
    effective: u64,
    /// The entry file to write (default: revoke-<id>.entry).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing entry file (a regular file only, never a link or device).
    #[arg(long)]
    force: bool,
    /// Also add the revocation to this chain directory's pool (it is
    /// made for that chain).
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The id of the chain the revocation is made for (64 hex digits);
    /// needed without --chain.
    #[arg(long)]
    chain_id: Option<String>,
}

/// `emr authority new`: an authority's private key (PKCS#8 PEM, mode 0600)
/// and its public key (SPKI DER), the file `emr chain init --authority` takes.
fn authority_new(
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
    let authority = emr_core::hash::sha1(&[entry.signer()]).to_string();
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
        other => json!({
            "type": other.entry_type().as_str(),
            "entry_id": entry.entry_id().to_string(),
            "signer": authority,
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
        other => format!("signed {} {id}", other.entry_type()),
    };
    text.push_str(&format!("\nwrote {}", out.display()));
    if let Some(dir) = chain {
        let mut node = crate::node::Writer::open(dir)?;
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
pub fn grant(args: GrantArgs) -> Result<Output, CliError> {
    let out = NamedLater::new(args.out, args.force)?;
    let chain = args.chain.as_deref();
    let chain_id = entry_chain_id(args.chain_id.as_deref(), chain)?;
    let authority = read_key(&args.key)?;
    let doctor = read_public_key(&args.doctor)?;
    let grant = Grant::sign(
        &authority,
        chain_id,
        &doctor.to_spki_der(),
        &args.licence,
        args.not_before,
        args.not_after,
    )
    .map_err(|e| CliError::from_kind(e.kind(), e.to_string()))?;
    finish_entry(grant.into(), out, chain, "grant")
}

/// `emr revoke`: an authority withdraws a grant, named by its id or its file.
pub fn revoke(args: RevokeArgs) -> Result<Output, CliError> {
    let out = NamedLater::new(args.out, args.force)?;
    let chain = args.chain.as_deref();
    let chain_id = entry_chain_id(args.chain_id.as_deref(), chain)?;
    let authority = read_key(&args.key)?;
    let grant = args.grant.as_str();
    let grant_id = match hex::decode(grant)
        .ok()
        .and_then(|b| Hash256::from_slice(&b))
    {
        Some(id) => id,
        None => match read_entry(Path::new(grant))? {
            Entry::Grant(g) => g.grant_id(),
            // SPEC 10: a dispenser grant is revoked like a doctor's.
            Entry::DispenserGrant(g) => g.grant_id(),
            other => {
                return Err(CliError::invalid_argument(format!(
                    "{grant} is a {}, not a grant",
                    other.entry_type()
                )))
            }
        },
    };
    let revocation = Revocation::sign(&authority, chain_id, grant_id, args.effective)
        .map_err(|e| CliError::from_kind(e.kind(), e.to_string()))?;
    finish_entry(revocation.into(), out, chain, "revoke")
}

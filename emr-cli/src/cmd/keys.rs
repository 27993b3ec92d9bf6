//! `emr key`: make a private key (encrypted unless told not to), show its
//! curve and address, write its public key.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use emr_core::address::Role;
use emr_core::SigningKey;
use serde_json::json;

use super::{addr, CurveArg, RoleArg};
use crate::error::CliError;
use crate::infile::{read_key, read_public_key};
use crate::outfile::{Access, OutFile};
use crate::output::Output;
use crate::password;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Generate a private key and write it as encrypted PKCS#8 PEM (mode
    /// 0600), under a password from --password-file, EMR_KEY_PASSWORD or a
    /// prompt on the terminal.
    New {
        /// The key's elliptic curve.
        #[arg(long, value_enum, default_value = "secp256k1")]
        curve: CurveArg,
        /// The key file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing key file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
        /// Whose address to print: a doctor's key signs records; a patient
        /// or a miner is known by its public key hash.
        #[arg(long, value_enum, default_value = "doctor")]
        role: RoleArg,
        /// Write the key unencrypted (plain PKCS#8 PEM).
        #[arg(long)]
        no_encrypt: bool,
    },
    /// Write a key's public key (SPKI PEM, `-----BEGIN PUBLIC KEY-----`) to
    /// a file, to hand to others: an authority's `grant --doctor`, a
    /// sealing doctor's `--seal-to`.
    Public {
        /// A private key file (PEM or DER, encrypted or not), or a public key.
        key: PathBuf,
        /// The public key file to write (mode 0644).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file (a regular file only, never a link or device).
        #[arg(long)]
        force: bool,
        /// Whose address to print.
        #[arg(long, value_enum, default_value = "doctor")]
        role: RoleArg,
    },
    /// Show a key file's curve and address (never the private key).
    Show {
        /// A PEM or DER private key (PKCS#8 or SEC1).
        key: PathBuf,
        /// Whose address to show: a doctor signs with the key, a patient or
        /// a miner is known by its public key hash.
        #[arg(long, value_enum, default_value = "doctor")]
        role: RoleArg,
        /// Print only the address (for scripts: `ALICE=$(emr key show alice.pem --role patient --address)`).
        #[arg(long)]
        address: bool,
    },
}

impl KeyCommand {
    pub fn name(&self) -> &'static str {
        match self {
            KeyCommand::New { .. } => "key new",
            KeyCommand::Show { .. } => "key show",
            KeyCommand::Public { .. } => "key public",
        }
    }

    pub fn run(self) -> Result<Output, CliError> {
        match self {
            KeyCommand::New {
                curve,
                out,
                force,
                role,
                no_encrypt,
            } => key_new(curve, &out, force, role.role(), !no_encrypt),
            KeyCommand::Show { key, role, address } => key_show(&key, role.role(), address),
            KeyCommand::Public { key, out, force, role } => key_public(&key, out, force, role.role()),
        }
    }
}

fn key_new(curve: CurveArg, out: &Path, force: bool, role: Role, encrypt: bool) -> Result<Output, CliError> {
    let curve = curve.curve();
    let out = OutFile::new(out.to_owned(), Access::Private, force)?;
    let key = SigningKey::generate(curve)?;
    if encrypt {
        let password = password::for_new_key(out.path())?;
        out.write(key.to_pkcs8_pem_encrypted(&password)?.as_bytes(), None)?;
    } else {
        out.write(key.to_pkcs8_pem().as_bytes(), None)?;
    }
    let out = out.path();
    let address = addr(role, &key.public_key_hash());
    let form = if encrypt { "encrypted" } else { "unencrypted" };
    Ok(Output::new(
        format!(
            "wrote {} ({} key, {form}, mode 0600)\n{} address {address}",
            out.display(),
            curve.name(),
            role.name()
        ),
        json!({
            "file": out.display().to_string(),
            "curve": curve.name(),
            "role": role.name(),
            "address": address,
            "encrypted": encrypt,
        }),
    ))
}

fn key_public(path: &Path, out: PathBuf, force: bool, role: Role) -> Result<Output, CliError> {
    let out = OutFile::new(out, Access::Public, force)?;
    let key = read_public_key(path)?;
    out.write(key.to_spki_pem().as_bytes(), None)?;
    let out = out.path();
    let address = addr(role, &emr_core::hash::sha1(&[&key.to_spki_der()]));
    Ok(Output::new(
        format!("wrote {} (public key, {})\n{} address {address}", out.display(), key.curve().name(), role.name()),
        json!({
            "file": out.display().to_string(),
            "curve": key.curve().name(),
            "role": role.name(),
            "address": address,
            "public_key": hex::encode(key.to_spki_der()),
        }),
    ))
}

fn key_show(path: &Path, role: Role, only_address: bool) -> Result<Output, CliError> {
    let key = read_key(path)?;
    let hash = key.public_key_hash();
    let address = addr(role, &hash);
    let text = if only_address {
        address.clone()
    } else {
        format!(
            "curve    {}\nrole     {}\naddress  {address}",
            key.curve().name(),
            role.name()
        )
    };
    Ok(Output::new(
        text,
        json!({
            "file": path.display().to_string(),
            "curve": key.curve().name(),
            "role": role.name(),
            "address": address,
            "public_key_hash": hash.to_string(),
            "public_key": hex::encode(key.public_key_der()),
        }),
    ))
}

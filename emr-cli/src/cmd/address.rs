//! `emr address`: a 20-byte hash as checksummed text in a role, and back.

use clap::Subcommand;
use emr_core::address::Role;
use serde_json::json;

use super::{addr, parse_address, parse_hash160, RoleArg};
use crate::error::CliError;
use crate::output::Output;

#[derive(Subcommand)]
pub enum AddressCommand {
    /// The address of a 20-byte hash (40 hex digits) in a role.
    Encode {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// 40 hex digits.
        hash: String,
    },
    /// The hash an address holds; a typo is pointed at with a caret.
    Decode {
        address: String,
        /// The role expected (default: the one the prefix names).
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
}

impl AddressCommand {
    pub fn name(&self) -> &'static str {
        match self {
            AddressCommand::Encode { .. } => "address encode",
            AddressCommand::Decode { .. } => "address decode",
        }
    }

    pub fn run(self) -> Result<Output, CliError> {
        match self {
            AddressCommand::Encode { role, hash } => address_encode(role.role(), &hash),
            AddressCommand::Decode { address, role } => {
                address_decode(&address, role.map(RoleArg::role))
            }
        }
    }
}

fn address_encode(role: Role, hash: &str) -> Result<Output, CliError> {
    let hash = parse_hash160(hash)?;
    let address = addr(role, &hash);
    Ok(Output::new(
        address.clone(),
        json!({"role": role.name(), "hash": hash.to_string(), "address": address}),
    ))
}

fn address_decode(text: &str, role: Option<Role>) -> Result<Output, CliError> {
    let role = role.unwrap_or_else(|| {
        let lower = text.to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| lower.starts_with(&format!("{}1", r.prefix())))
            .unwrap_or(Role::Doctor)
    });
    let hash = parse_address(text, role)?;
    Ok(Output::new(
        format!("{} {hash}", role.name()),
        json!({"role": role.name(), "hash": hash.to_string(), "address": addr(role, &hash)}),
    ))
}

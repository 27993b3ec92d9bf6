//! The commands, one module per group: keys, addresses, records, the chain,
//! authorities (with `grant` and `revoke`) and nodes. What several groups
//! share lives here: the arguments that name a curve or a role, reading a
//! typed address or hash, and the JSON and text a record is shown as.

pub mod address;
pub mod authority;
pub mod chain;
pub mod keys;
pub mod node;
pub mod record;
pub mod rx;

use clap::ValueEnum;
use emr_core::address::{self as addresses, Role};
use emr_core::chain::RecordEntry;
use emr_core::{Curve, Hash160, Record};
use serde_json::{json, Value};

use crate::error::CliError;
use crate::times;

#[derive(Copy, Clone, ValueEnum)]
pub enum CurveArg {
    Secp256k1,
    P256,
}

impl CurveArg {
    pub fn curve(self) -> Curve {
        match self {
            CurveArg::Secp256k1 => Curve::Secp256k1,
            CurveArg::P256 => Curve::P256,
        }
    }
}

#[derive(Copy, Clone, ValueEnum)]
pub enum RoleArg {
    Doctor,
    Patient,
    Miner,
}

impl RoleArg {
    pub fn role(self) -> Role {
        match self {
            RoleArg::Doctor => Role::Doctor,
            RoleArg::Patient => Role::Patient,
            RoleArg::Miner => Role::Miner,
        }
    }
}

/// Decodes an address a person typed, in the role expected there.
pub fn parse_address(text: &str, role: Role) -> Result<Hash160, CliError> {
    addresses::decode(text, role).map_err(|e| {
        let error = CliError::address(text, &e);
        // A hash where its address belongs: say how to get the address
        // rather than only where the "typo" is.
        if parse_hash160(text).is_ok() {
            let message = format!(
                "'{text}' is a hash (40 hex digits), not an address: `emr address encode --role {} {text}` gives its address",
                role.name()
            );
            CliError {
                message,
                detail: None,
                ..error
            }
        } else {
            error
        }
    })
}

pub fn parse_hash160(text: &str) -> Result<Hash160, CliError> {
    hex::decode(text)
        .ok()
        .and_then(|b| Hash160::from_slice(&b))
        .ok_or_else(|| CliError::invalid_argument(format!("'{text}' is not 40 hex digits")))
}

pub fn addr(role: Role, hash: &Hash160) -> String {
    addresses::encode(role, hash)
}

pub fn record_json(record: &Record) -> Value {
    json!({
        "txid": record.txid.to_string(),
        "doctor": addr(Role::Doctor, &record.dr_hash),
        "patient": addr(Role::Patient, &record.patient_hash),
        "nonce": record.nonce,
        "prescription": record.prescription,
    })
}

/// A record on the chain: its fields, its block and the block's time.
pub fn entry_json(entry: &RecordEntry) -> Value {
    let mut value = record_json(&entry.record);
    value["height"] = json!(entry.height);
    value["block_id"] = json!(entry.block_id.to_string());
    value["timestamp"] = json!(entry.timestamp);
    value["timestamp_iso"] = times::iso_json(entry.timestamp);
    value
}

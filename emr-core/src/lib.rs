//! cryptoemr core: tamper-evident electronic medical records.
//!
//! Doctors sign prescription [`record`]s; records are grouped into
//! proof-of-work blocks. Every rule of the protocol lives in this crate, once;
//! the Python and C bindings only translate types and errors.
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod chain;
mod codec;
mod der;
mod parallel;

pub mod block;
pub mod error;
pub mod hash;
pub mod keys;
pub mod mining;
pub mod pow;
pub mod record;

pub use block::{Block, BlockError, BlockFields, UserState, UserStates, DEFAULT_BLOCK_REWARD, MAX_RECORDS};
pub use codec::DecodeError;
pub use error::ErrorKind;
pub use hash::{Hash160, Hash256};
pub use keys::{Curve, KeyError, PublicKey, SigningKey};
pub use parallel::Parallelism;
pub use pow::Difficulty;
pub use record::{calculate_signature_hash, calculate_txid, verify_records, BatchError, Record, RecordError, RecordFields, SignError};

/// Signs a record (the original design's name for [`Record::sign`]).
pub fn create_signed_record(
    private_key: &SigningKey,
    patient_hash: &[u8],
    prescription: &str,
    nonce: u64,
) -> Result<Record, SignError> {
    Record::sign(private_key, patient_hash, prescription, nonce)
}

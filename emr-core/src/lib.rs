//! cryptoemr core: tamper-evident electronic medical records.
//!
//! Doctors sign prescription [`record`]s, in clear or [`seal`]ed to their
//! readers; authorities admit doctors with registry [`entry`]s; records and
//! entries are grouped into proof-of-work blocks; a [`chain`] keeps the heaviest branch of blocks,
//! its user states and record indexes durably in SQLite. A hash a person
//! handles is written as an [`address`] (`emrd1…`, `emrp1…`, `emrm1…`) that
//! catches typos and roles mixed up. Every rule of the protocol lives in
//! this crate, once; the Python and C bindings only translate types and
//! errors.
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

mod codec;
mod der;

pub mod address;
pub mod block;
pub mod blockfile;
pub mod chain;
pub mod entry;
pub mod error;
pub mod fhir;
pub mod hash;
pub mod keys;
pub mod mining;
pub mod parallel;
pub mod pow;
pub mod record;
pub mod seal;

pub use address::{Address, AddressError, Role};
pub use block::{Block, BlockError, BlockFields, UserState, UserStates, DEFAULT_BLOCK_REWARD, MAX_RECORDS};
pub use chain::{
    AddBlocksError, AddOutcome, BatchOptions, Chain, ChainError, ChainParams, MineNextOutcome, SharedChain, SubmitOutcome,
    Work,
};
pub use codec::DecodeError;
pub use entry::{
    Cancellation, CancellationFields, Dispense, DispenseFields, DispenserGrant, DispenserGrantFields, Entry, EntryError,
    EntryFields, EntrySignError, EntryType, Grant, GrantFields, PrescriptionRef, Revocation, RevocationFields, MAX_ENTRIES,
};
pub use error::ErrorKind;
pub use hash::{Hash160, Hash256};
pub use keys::{Curve, KeyError, PublicKey, SigningKey};
pub use parallel::{InvalidThreadCount, Parallelism};
pub use pow::Difficulty;
pub use seal::{SealError, SealOptions};
pub use record::{
    calculate_signature_hash, calculate_txid, verify_records, BatchError, Record, RecordError,
    RecordFields, SignError,
};

// The crate's README (its crates.io page) is compiled and run with the
// documentation examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

/// The version of this crate, `MAJOR.MINOR.PATCH`: the one version of
/// cryptoemr, which the Python package (`cryptoemr.__version__`), the C
/// library (`emr_version()`) and the `emr` command line report too.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Signs a record (the original design's name for [`Record::sign`]).
pub fn create_signed_record(
    private_key: &SigningKey,
    patient_hash: &[u8],
    prescription: &str,
    nonce: u64,
) -> Result<Record, SignError> {
    Record::sign(private_key, patient_hash, prescription, nonce)
}

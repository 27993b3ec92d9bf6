//! cryptoemr core: tamper-evident electronic medical records.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod hash;
pub mod mining;
pub mod pow;

pub use hash::{Hash160, Hash256};
pub use pow::Difficulty;

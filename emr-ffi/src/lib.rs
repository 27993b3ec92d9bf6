//! The C ABI of cryptoemr (`libemr`, header `include/emr.h`).
//!
//! This crate only translates: C pointers and lengths into the core's slices
//! and typed values, the core's errors into stable status codes. Every
//! protocol rule lives in `emr-core`.
//!
//! Structure, so that every area slots in the same way:
//!
//! - [`status`]: the status codes, the thread-local last error message and
//!   the one panic boundary, [`ffi_boundary!`], that wraps the body of every
//!   `extern "C"` function;
//! - `ptr`: the only place raw pointers become references;
//! - one module per area: [`address`], [`key`], [`record`], [`entry`], [`block`],
//!   [`states`], [`mining`], [`chain`], [`pool`], [`node`] (SPEC 9: TLS
//!   credentials and a one-shot sync from a node).
//!
//! The exported functions are `unsafe extern "C"`: their safety contract is
//! the C header's documentation (valid pointers to the stated number of
//! bytes, handles from this library that are not used after being freed).
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

/// Runs the body of an `extern "C"` function behind the panic boundary.
///
/// `ffi_boundary!({ ... })`: the body evaluates to `Result<(), status::Error>`
/// (so it may use `?`); the function returns `EMR_OK`, the error's status (with
/// its message stored as the thread's last error) or `EMR_PANIC` if the body
/// panicked.
///
/// `ffi_boundary!(default: value; { ... })`: for the few functions that do not
/// return a status (`*_free`, static strings); a panic returns `value`.
macro_rules! ffi_boundary {
    ($body:block) => {
        $crate::status::run(move || -> ::core::result::Result<(), $crate::status::Error> { $body })
    };
    (default: $default:expr; $body:block) => {
        $crate::status::run_or($default, move || $body)
    };
}

// The header lists items in this order (one group per line, so that
// rustfmt keeps it): statuses, addresses, keys, records, entries, user states,
// blocks, mining, chains, the pool, nodes, FHIR.
pub mod status;

pub mod address;

pub mod key;

pub mod record;

pub mod entry;

pub mod states;

pub mod block;

pub mod mining;

pub mod chain;

pub mod pool;

pub mod node;

pub mod fhir;

mod ptr;

pub use status::*;

/// The library version, `MAJOR.MINOR.PATCH`, as a static NUL-terminated string.
///
/// cryptoemr has one version for every surface: this is also what
/// `pkg-config --modversion emr`, the Rust crate and the Python package
/// report. Binary compatibility is the soname's business (libemr.so.1), not
/// this string's: see docs/ABI.md.
///
/// Returns: a pointer to static storage; never NULL.
/// Args:    none.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub extern "C" fn emr_version() -> *const core::ffi::c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

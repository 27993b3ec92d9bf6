//! Gives `libemr.so` its soname, `libemr.so.<ABI>`.
//!
//! The ABI number is not the crate's version: it goes up only with a change
//! that breaks programs linked against an earlier `libemr.so` (docs/ABI.md).
//! `make install` installs the library as `libemr.so.<version>` with the
//! links `libemr.so.<ABI>` (what the loader looks for) and `libemr.so` (what
//! `-lemr` finds).

/// Bumped with every incompatible change of the C ABI (docs/ABI.md).
const ABI: u32 = 1;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // ELF platforms only: macOS names a library by its install name instead.
    if matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos" | "solaris") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libemr.so.{ABI}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

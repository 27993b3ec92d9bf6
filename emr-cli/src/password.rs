//! Passwords of encrypted key files (`docs/CLI.md`, "Keys and passwords"):
//! from `--password-file FILE` (its first line), else the environment
//! variable `EMR_KEY_PASSWORD`, else a prompt on the terminal without echo.
//! Nothing prompts when stdin is not a terminal, so a script never hangs:
//! it gets an error that says how to give the password. Passwords are
//! never printed and are zeroized when dropped.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use emr_core::ErrorKind;
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::infile::read_file_into;

/// The environment variable holding the password.
pub const ENV: &str = "EMR_KEY_PASSWORD";

/// `--password-file`, set once by `main`.
static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// A password file is one line; more than this is not one.
const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

pub fn set_file(path: Option<PathBuf>) {
    let _ = FILE.set(path);
}

/// The password that decrypts the key file `key`.
pub fn for_reading(key: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if let Some(password) = given()? {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        return prompt(&format!("password for {}: ", key.display()));
    }
    Err(CliError::new(
        ErrorKind::InvalidKey.as_str(),
        format!(
            "{}: the key is encrypted: give its password with --password-file FILE or {ENV}, or run on a terminal",
            key.display()
        ),
    ))
}

/// The password to encrypt the new key file `key` under (asked twice on
/// a terminal).
pub fn for_new_key(key: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if let Some(password) = given()? {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "`key new` encrypts the key: give a password with --password-file FILE or {ENV}, \
             or write it unencrypted with --no-encrypt"
        )));
    }
    let first = prompt(&format!("password for the new key {}: ", key.display()))?;
    let again = prompt("the same password again: ")?;
    if first != again {
        return Err(CliError::invalid_argument("the two passwords differ; nothing was written"));
    }
    Ok(first)
}

/// The password from `--password-file` or the environment, if given.
fn given() -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
    if let Some(Some(path)) = FILE.get() {
        let mut bytes = Zeroizing::new(Vec::new());
        read_file_into(path, MAX_PASSWORD_FILE_BYTES, ErrorKind::InvalidArgument.as_str(), &mut bytes)?;
        // The first line, as `openssl -passin file:` takes it.
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return nonempty(Zeroizing::new(line.to_vec()), &format!("{}: the password file's first line", path.display()))
            .map(Some);
    }
    match std::env::var_os(ENV) {
        Some(value) => {
            use std::os::unix::ffi::OsStrExt as _;
            nonempty(Zeroizing::new(value.as_bytes().to_vec()), ENV).map(Some)
        }
        None => Ok(None),
    }
}

fn nonempty(password: Zeroizing<Vec<u8>>, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if password.is_empty() {
        return Err(CliError::invalid_argument(format!("{what} is empty")));
    }
    Ok(password)
}

/// Reads a password from the terminal without echo.
fn prompt(text: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let password = rpassword::prompt_password(text).map_err(|e| CliError::io(format!("reading the password: {e}")))?;
    nonempty(Zeroizing::new(password.into_bytes()), "the password")
}
